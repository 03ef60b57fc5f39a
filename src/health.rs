//! A small HTTP endpoint for probes and metrics: `/healthz` (the process runs), `/readyz` (both
//! caches have synced, and no controller has left a change unread for [`STALL_AFTER`]) and
//! `/metrics` (Prometheus text: reconciles and failures per kind, and the stall signals).
//! Hand-rolled on a TcpListener: three fixed GET routes do not need an HTTP framework.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tracing::{info, warn};

/// A change a controller has not read for this long means it stopped reading: `/readyz` fails
/// and a warning is logged. Reading never waits for a worker (a busy controller still takes
/// changes into its queue), so load alone does not get here.
pub const STALL_AFTER: Duration = Duration::from_secs(120);

/// Reports (unread changes, age of the oldest) of one trigger queue.
type QueueProbe = Box<dyn Fn() -> (usize, Option<Duration>) + Send + Sync>;

/// Counters shared by the controllers and the endpoint.
#[derive(Default)]
pub struct Metrics {
    ready: AtomicBool,
    counters: Mutex<BTreeMap<(&'static str, &'static str, String), u64>>,
    queues: Mutex<Vec<(&'static str, QueueProbe)>>,
    /// Reconciles running now: kind and start, by a running number.
    running: Mutex<HashMap<u64, (&'static str, Instant)>>,
    next_run: AtomicU64,
    /// Objects changed (by their own watch) and not picked up by a reconcile since: when the
    /// change was seen, by kind and `namespace/name`. An entry goes when a reconcile of the
    /// object starts or the object goes.
    waiting: Mutex<HashMap<(&'static str, String), Instant>>,
}

/// Marks one reconcile running until dropped.
pub struct Running {
    metrics: Arc<Metrics>,
    id: u64,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(mut r) = self.metrics.running.lock() {
            r.remove(&self.id);
        }
    }
}

impl Metrics {
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::SeqCst);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// Counts one reconcile of `kind` ending in `result` (`ok` or a condition reason).
    pub fn reconciled(&self, kind: &'static str, result: &str) {
        *self
            .counters
            .lock()
            .expect("metrics lock")
            .entry(("applink_reconciles_total", kind, result.to_string()))
            .or_default() += 1;
    }

    /// Counts one pass of `kind` put off because `why` (a busy application or namespace).
    pub fn deferred(&self, kind: &'static str, why: &'static str) {
        *self
            .counters
            .lock()
            .expect("metrics lock")
            .entry(("applink_deferred_total", kind, why.to_string()))
            .or_default() += 1;
    }

    /// Registers a trigger queue (changes of one watch waiting for one controller to read them).
    pub fn watch_queue(
        &self,
        name: &'static str,
        probe: impl Fn() -> (usize, Option<Duration>) + Send + Sync + 'static,
    ) {
        self.queues
            .lock()
            .expect("metrics lock")
            .push((name, Box::new(probe)));
    }

    /// Counts a reconcile of `kind` as running until the guard is dropped. (The object's
    /// change is picked up once the pass has its share of the workers: [`Metrics::picked_up`].)
    pub fn running(self: &Arc<Self>, kind: &'static str) -> Running {
        let id = self.next_run.fetch_add(1, Ordering::Relaxed);
        self.running
            .lock()
            .expect("metrics lock")
            .insert(id, (kind, Instant::now()));
        Running {
            metrics: self.clone(),
            id,
        }
    }

    /// An object of `kind` changed and waits for a reconcile (only the first change counts).
    pub fn changed(&self, kind: &'static str, object: String) {
        self.waiting
            .lock()
            .expect("metrics lock")
            .entry((kind, object))
            .or_insert_with(Instant::now);
    }

    /// The object was picked up by a reconcile, or is gone.
    pub fn picked_up(&self, kind: &'static str, object: &str) {
        self.waiting
            .lock()
            .expect("metrics lock")
            .remove(&(kind, object.to_string()));
    }

    /// Keeps the waiting entries of `kind` that `keep` accepts (after a relisting: objects
    /// that went while the watch was down send no deletion).
    pub fn retain_waiting(&self, kind: &'static str, keep: impl Fn(&str) -> bool) {
        self.waiting
            .lock()
            .expect("metrics lock")
            .retain(|(k, o), _| *k != kind || keep(o));
    }

    /// Why the operator counts as stalled: a trigger queue not read for [`STALL_AFTER`].
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

    pub fn render(&self) -> String {
        let mut out = String::new();
        let counters = self.counters.lock().expect("metrics lock");
        for (metric, help, label) in [
            (
                "applink_reconciles_total",
                "Reconciles by kind and result (ok, or the failure reason).",
                "result",
            ),
            (
                "applink_deferred_total",
                "Passes put off because their application or namespace already had its share of workers (retried soon, not a failure).",
                "why",
            ),
        ] {
            out.push_str(&format!(
                "# HELP {metric} {help}\n# TYPE {metric} counter\n"
            ));
            for ((name, kind, result), n) in counters.iter().filter(|((n, ..), _)| *n == metric) {
                out.push_str(&format!(
                    "{name}{{kind=\"{kind}\",{label}=\"{}\"}} {n}\n",
                    result.replace(['"', '\\', '\n'], "_")
                ));
            }
        }
        drop(counters);
        out.push_str(&format!("# HELP applink_ready Whether the caches have synced.\n# TYPE applink_ready gauge\napplink_ready {}\n", u8::from(self.is_ready())));
        out.push_str("# HELP applink_trigger_queue_length Changes of a watch not yet read by a controller.\n# TYPE applink_trigger_queue_length gauge\n");
        let queues: Vec<_> = self
            .queues
            .lock()
            .expect("metrics lock")
            .iter()
            .map(|(name, probe)| (*name, probe()))
            .collect();
        for (name, (len, _)) in &queues {
            out.push_str(&format!(
                "applink_trigger_queue_length{{queue=\"{name}\"}} {len}\n"
            ));
        }
        out.push_str("# HELP applink_trigger_queue_oldest_seconds Age of the oldest change a controller has not read (grows only when a controller stopped reading).\n# TYPE applink_trigger_queue_oldest_seconds gauge\n");
        for (name, (_, oldest)) in &queues {
            out.push_str(&format!(
                "applink_trigger_queue_oldest_seconds{{queue=\"{name}\"}} {:.3}\n",
                oldest.unwrap_or_default().as_secs_f64()
            ));
        }
        let mut by_kind: BTreeMap<&str, (u64, Duration, u64, Duration)> = BTreeMap::new();
        for (kind, started) in self.running.lock().expect("metrics lock").values() {
            let e = by_kind.entry(kind).or_default();
            e.0 += 1;
            e.1 = e.1.max(started.elapsed());
        }
        for ((kind, _), since) in self.waiting.lock().expect("metrics lock").iter() {
            let e = by_kind.entry(kind).or_default();
            e.2 += 1;
            e.3 = e.3.max(since.elapsed());
        }
        for (metric, help, pick) in [
            ("applink_reconciles_in_flight", "Reconciles running now.", 0),
            (
                "applink_reconcile_oldest_in_flight_seconds",
                "How long the longest running reconcile has run.",
                1,
            ),
            (
                "applink_objects_waiting",
                "Objects changed and not yet picked up by a reconcile.",
                2,
            ),
            (
                "applink_oldest_waiting_seconds",
                "How long the longest waiting changed object has waited for a reconcile (all workers busy, or stalled).",
                3,
            ),
        ] {
            out.push_str(&format!("# HELP {metric} {help}\n# TYPE {metric} gauge\n"));
            for (kind, (n, age, w, wage)) in &by_kind {
                let v = match pick {
                    0 => n.to_string(),
                    1 => format!("{:.3}", age.as_secs_f64()),
                    2 => w.to_string(),
                    _ => format!("{:.3}", wage.as_secs_f64()),
                };
                out.push_str(&format!("{metric}{{kind=\"{kind}\"}} {v}\n"));
            }
        }
        out
    }
}

/// Serves until the process ends.
pub async fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    info!(%addr, "serving /healthz, /readyz and /metrics");
    loop {
        let (mut stream, _) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                warn!(error = %e, "health endpoint accept failed");
                continue;
            }
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            let n = match tokio::time::timeout(
                std::time::Duration::from_secs(5),
                stream.read(&mut buf),
            )
            .await
            {
                Ok(Ok(n)) => n,
                _ => return,
            };
            let request = String::from_utf8_lossy(&buf[..n]);
            // Scrapers and probes may add a query string (`/metrics?format=…`); it selects nothing.
            let target = request.split_whitespace().nth(1).unwrap_or("/");
            let path = target.split_once('?').map_or(target, |(p, _)| p);
            let (status, body) = match path {
                "/healthz" => ("200 OK", "ok\n".to_string()),
                "/readyz" if !metrics.is_ready() => {
                    ("503 Service Unavailable", "caches not synced\n".to_string())
                }
                "/readyz" => match metrics.stalled() {
                    Some(why) => ("503 Service Unavailable", format!("{why}\n")),
                    None => ("200 OK", "ok\n".to_string()),
                },
                "/metrics" => ("200 OK", metrics.render()),
                _ => ("404 Not Found", "not found\n".to_string()),
            };
            let response = format!(
                "HTTP/1.1 {status}\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn routes() {
        let metrics = Arc::new(Metrics::default());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        tokio::spawn(serve(addr, metrics.clone()));
        let get = |path: &'static str| async move {
            for _ in 0..50 {
                if let Ok(mut s) = tokio::net::TcpStream::connect(addr).await {
                    s.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes())
                        .await
                        .unwrap();
                    let mut out = String::new();
                    s.read_to_string(&mut out).await.unwrap();
                    return out;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            panic!("endpoint did not start");
        };
        assert!(get("/healthz").await.starts_with("HTTP/1.1 200"));
        assert!(get("/readyz").await.starts_with("HTTP/1.1 503"));
        metrics.set_ready();
        metrics.reconciled("ApplicationLink", "ok");
        metrics.reconciled("ApplicationLink", "ok");
        assert!(get("/readyz").await.starts_with("HTTP/1.1 200"));
        let m = get("/metrics").await;
        assert!(
            m.contains("applink_reconciles_total{kind=\"ApplicationLink\",result=\"ok\"} 2"),
            "{m}"
        );
        assert!(get("/nope").await.starts_with("HTTP/1.1 404"));
        assert!(get("/metrics?x=1").await.starts_with("HTTP/1.1 200"));
        assert!(get("/healthz?verbose").await.starts_with("HTTP/1.1 200"));
        assert!(get("/nope?metrics").await.starts_with("HTTP/1.1 404"));
    }

    #[test]
    fn a_queue_left_unread_fails_readiness_and_shows_in_metrics() {
        let metrics = Arc::new(Metrics::default());
        metrics.set_ready();
        let age = Arc::new(Mutex::new(None));
        let probe = age.clone();
        metrics.watch_queue("ApplicationInstance", move || {
            let a = *probe.lock().unwrap();
            (usize::from(a.is_some()), a)
        });
        assert_eq!(metrics.stalled(), None, "empty queue");
        *age.lock().unwrap() = Some(STALL_AFTER - Duration::from_secs(1));
        assert_eq!(metrics.stalled(), None, "not yet");
        *age.lock().unwrap() = Some(STALL_AFTER);
        let why = metrics.stalled().expect("stalled");
        assert!(why.contains("ApplicationInstance"), "{why}");
        let m = metrics.render();
        assert!(
            m.contains(
                "applink_trigger_queue_oldest_seconds{queue=\"ApplicationInstance\"} 120.000"
            ),
            "{m}"
        );
        assert!(m.contains("applink_trigger_queue_length{queue=\"ApplicationInstance\"} 1"));
    }

    #[test]
    fn running_and_waiting_objects_are_counted_until_picked_up_or_done() {
        let metrics = Arc::new(Metrics::default());
        metrics.changed("ApplicationLink", "a/l1".into());
        metrics.changed("ApplicationLink", "a/l2".into());
        let m = metrics.render();
        assert!(
            m.contains("applink_objects_waiting{kind=\"ApplicationLink\"} 2"),
            "{m}"
        );
        let run = metrics.running("ApplicationLink");
        metrics.picked_up("ApplicationLink", "a/l1");
        let m = metrics.render();
        assert!(
            m.contains("applink_objects_waiting{kind=\"ApplicationLink\"} 1"),
            "{m}"
        );
        assert!(
            m.contains("applink_reconciles_in_flight{kind=\"ApplicationLink\"} 1"),
            "{m}"
        );
        drop(run);
        metrics.retain_waiting("ApplicationLink", |o| o != "a/l2");
        let m = metrics.render();
        assert!(
            !m.contains("applink_reconciles_in_flight{kind=\"ApplicationLink\"} 1"),
            "{m}"
        );
        assert!(
            !m.contains("applink_objects_waiting{kind=\"ApplicationLink\"} 1"),
            "{m}"
        );
        metrics.deferred("ApplicationLink", "busy application");
        assert!(metrics.render().contains(
            "applink_deferred_total{kind=\"ApplicationLink\",why=\"busy application\"} 1"
        ));
    }
}
