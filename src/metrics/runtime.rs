//! What the operator is doing right now: whether its caches have synced, reconciles running,
//! objects waiting for one, and the trigger queues between the watches and the controllers.
//! Read by `/readyz` (the stall signal) and, at scrape time, by [`RuntimeCollector`].

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;

use super::gauge_family;

/// A change a controller has not read for this long means it stopped reading: `/readyz` fails
/// and a warning is logged. Reading never waits for a worker (a busy controller still takes
/// changes into its queue), so load alone does not get here.
pub const STALL_AFTER: Duration = Duration::from_secs(120);

/// Reports (unread changes, age of the oldest) of one trigger queue.
type QueueProbe = Box<dyn Fn() -> (usize, Option<Duration>) + Send + Sync>;

#[derive(Default)]
pub struct Runtime {
    /// The readiness probe's answer: caches synced, or a standby waiting for the lease.
    ready: AtomicBool,
    /// The controllers' caches hold a complete listing (false on a standby and once the
    /// controllers have stopped).
    caches_synced: AtomicBool,
    queues: Mutex<Vec<(&'static str, QueueProbe)>>,
    /// Reconciles running now: kind and start, by a running number.
    running: Mutex<HashMap<u64, (&'static str, Instant)>>,
    next_run: AtomicU64,
    /// Objects changed (by their own watch) and not picked up by a reconcile since: when the
    /// change was seen, by kind and `namespace/name`. An entry goes when a reconcile of the
    /// object starts or the object goes.
    waiting: Mutex<HashMap<(&'static str, String), Instant>>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").finish_non_exhaustive()
    }
}

/// Marks one reconcile running until dropped; the duration histogram is fed on drop.
pub struct Running {
    pub(crate) runtime: Arc<Runtime>,
    pub(crate) id: u64,
    pub(crate) kind: &'static str,
    pub(crate) started: Instant,
    /// How the pass ended (set by the outcome reporter); `other` when it ended without a
    /// verdict (put off, a write conflict, a Kubernetes API error).
    pub(crate) result: Mutex<&'static str>,
    pub(crate) durations: super::reconciles::Durations,
}

impl Running {
    /// Records how the pass ended, for `applink_reconcile_duration_seconds`.
    pub fn ended(&self, result: &'static str) {
        if let Ok(mut r) = self.result.lock() {
            *r = result;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(mut r) = self.runtime.running.lock() {
            r.remove(&self.id);
        }
        let result = self.result.lock().map(|r| *r).unwrap_or("other");
        self.durations
            .observe(self.kind, result, self.started.elapsed());
    }
}

impl Runtime {
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::SeqCst);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    pub fn set_caches_synced(&self, synced: bool) {
        self.caches_synced.store(synced, Ordering::SeqCst);
    }

    pub fn caches_synced(&self) -> bool {
        self.caches_synced.load(Ordering::SeqCst)
    }

    pub fn watch_queue(&self, name: &'static str, probe: QueueProbe) {
        self.queues
            .lock()
            .expect("metrics lock")
            .push((name, probe));
    }

    pub(crate) fn start(&self, kind: &'static str) -> (u64, Instant) {
        let id = self.next_run.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        self.running
            .lock()
            .expect("metrics lock")
            .insert(id, (kind, now));
        (id, now)
    }

    pub fn changed(&self, kind: &'static str, object: String) {
        self.waiting
            .lock()
            .expect("metrics lock")
            .entry((kind, object))
            .or_insert_with(Instant::now);
    }

    pub fn picked_up(&self, kind: &'static str, object: &str) {
        self.waiting
            .lock()
            .expect("metrics lock")
            .remove(&(kind, object.to_string()));
    }

    pub fn retain_waiting(&self, kind: &'static str, keep: impl Fn(&str) -> bool) {
        self.waiting
            .lock()
            .expect("metrics lock")
            .retain(|(k, o), _| *k != kind || keep(o));
    }

    pub fn stalled(&self) -> Option<String> {
        self.queues
            .lock()
            .expect("metrics lock")
            .iter()
            .find_map(|(name, probe)| {
                let (len, oldest) = probe();
                oldest.filter(|age| *age >= STALL_AFTER).map(|age| {
                    format!(
                        "stalled: {len} change(s) of {name} unread for {}s",
                        age.as_secs()
                    )
                })
            })
    }
}

/// Encodes the runtime state at scrape time.
#[derive(Debug)]
pub struct RuntimeCollector(pub Arc<Runtime>);

impl Collector for RuntimeCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let rt = &self.0;
        let synced = i64::from(rt.caches_synced());
        for (name, help) in [
            (
                "applink_caches_synced",
                "1 when this replica's controllers hold a complete listing of every kind they watch; 0 on a standby replica, before the first listing and after the controllers stopped.",
            ),
            (
                "applink_ready",
                "Deprecated (removed in the next release): the same value as applink_caches_synced.",
            ),
        ] {
            let gauge = ConstGauge::new(synced);
            let m = encoder.encode_descriptor(name, help, None, gauge.metric_type())?;
            gauge.encode(m)?;
        }
        let queues: Vec<_> = rt
            .queues
            .lock()
            .expect("metrics lock")
            .iter()
            .map(|(name, probe)| (*name, probe()))
            .collect();
        gauge_family(
            &mut encoder,
            "applink_trigger_queue_length",
            "Changes of a watch not yet read by a controller.",
            queues
                .iter()
                .map(|(name, (len, _))| ([("queue", *name)], *len as i64)),
        )?;
        gauge_family(
            &mut encoder,
            "applink_trigger_queue_oldest_seconds",
            "Age of the oldest change a controller has not read (grows only when a controller stopped reading).",
            queues.iter().map(|(name, (_, oldest))| {
                ([("queue", *name)], oldest.unwrap_or_default().as_secs_f64())
            }),
        )?;
        let mut by_kind: BTreeMap<&str, (u64, Duration, u64, Duration)> = BTreeMap::new();
        for (kind, started) in rt.running.lock().expect("metrics lock").values() {
            let e = by_kind.entry(kind).or_default();
            e.0 += 1;
            e.1 = e.1.max(started.elapsed());
        }
        for ((kind, _), since) in rt.waiting.lock().expect("metrics lock").iter() {
            let e = by_kind.entry(kind).or_default();
            e.2 += 1;
            e.3 = e.3.max(since.elapsed());
        }
        type Pick = fn(&(u64, Duration, u64, Duration)) -> f64;
        let picks: [(&str, &str, Pick); 4] = [
            (
                "applink_reconciles_in_flight",
                "Reconciles running now.",
                |e| e.0 as f64,
            ),
            (
                "applink_reconcile_oldest_in_flight_seconds",
                "How long the longest running reconcile has run.",
                |e| e.1.as_secs_f64(),
            ),
            (
                "applink_objects_waiting",
                "Objects changed and not yet picked up by a reconcile.",
                |e| e.2 as f64,
            ),
            (
                "applink_oldest_waiting_seconds",
                "How long the longest waiting changed object has waited for a reconcile (all workers busy, or stalled).",
                |e| e.3.as_secs_f64(),
            ),
        ];
        for (name, help, pick) in picks {
            gauge_family(
                &mut encoder,
                name,
                help,
                by_kind.iter().map(|(kind, e)| ([("kind", *kind)], pick(e))),
            )?;
        }
        Ok(())
    }
}
