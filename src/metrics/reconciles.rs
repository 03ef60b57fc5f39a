//! Counters and histograms of the reconciles: results, passes put off, durations, and the time
//! from an object's creation to its first Ready.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

type Labels2 = [(&'static str, String); 2];
type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Reconcile durations: a pass is a few requests (tens of ms) up to a slow application's
/// timeouts (tens of seconds).
fn duration_histogram() -> Histogram {
    Histogram::new([
        0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
    ])
}

/// Creation to first Ready: seconds (an instance check) to an hour (an application that came
/// up late, a cloud administrator finishing the other end).
fn time_to_ready_histogram() -> Histogram {
    Histogram::new([
        1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
    ])
}

/// `applink_reconcile_duration_seconds{kind,result}`; `result` is coarse (ok, applied,
/// not_ready, error, other) so the histogram stays small whatever the failure reasons.
#[derive(Clone)]
pub struct Durations(HistogramFamily<Labels2>);

impl Durations {
    pub(crate) fn observe(&self, kind: &'static str, result: &'static str, took: Duration) {
        self.0
            .get_or_create(&[("kind", kind.to_string()), ("result", result.to_string())])
            .observe(took.as_secs_f64());
    }
}

pub struct Reconciles {
    results: Family<Labels2, Counter>,
    deferred: Family<Labels2, Counter>,
    pub(crate) durations: Durations,
    time_to_ready: HistogramFamily<[(&'static str, String); 1]>,
    /// Objects (kind, `namespace/name`) whose first Ready this process has counted or found
    /// already Ready: a later recovery is not a first Ready. An entry goes with its object.
    ready_seen: Arc<Mutex<HashSet<(&'static str, String)>>>,
}

impl Default for Reconciles {
    fn default() -> Self {
        Self {
            results: Family::default(),
            deferred: Family::default(),
            durations: Durations(Family::new_with_constructor(duration_histogram)),
            time_to_ready: Family::new_with_constructor(time_to_ready_histogram),
            ready_seen: Arc::default(),
        }
    }
}

impl Reconciles {
    pub(crate) fn register(&self, registry: &mut Registry) {
        registry.register(
            "applink_reconciles",
            "Reconciles by kind and result (ok, applied, not_ready, or the failure reason)",
            self.results.clone(),
        );
        registry.register(
            "applink_deferred",
            "Passes put off because their application or namespace already had its share of workers (retried soon, not a failure)",
            self.deferred.clone(),
        );
        registry.register(
            "applink_reconcile_duration_seconds",
            "Duration of reconcile passes by kind and result (ok, applied, not_ready, error, other: ended without a verdict)",
            self.durations.0.clone(),
        );
        registry.register(
            "applink_time_to_ready_seconds",
            "Time from an object's creation to its first Ready=True, by kind",
            self.time_to_ready.clone(),
        );
    }

    pub fn reconciled(&self, kind: &'static str, result: &str) {
        self.results
            .get_or_create(&[("kind", kind.to_string()), ("result", result.to_string())])
            .inc();
    }

    pub fn deferred(&self, kind: &'static str, why: &'static str) {
        self.deferred
            .get_or_create(&[("kind", kind.to_string()), ("why", why.to_string())])
            .inc();
    }

    /// A pass ended; `was_ready`/`is_ready` are Ready before and after it, `age` the object's
    /// age. Counts the first Ready of each object once (see `ready_seen`).
    pub fn ready_transition(
        &self,
        kind: &'static str,
        object: &str,
        was_ready: bool,
        is_ready: bool,
        age: Option<Duration>,
    ) {
        if !was_ready && !is_ready {
            return;
        }
        let first = self
            .ready_seen
            .lock()
            .expect("metrics lock")
            .insert((kind, object.to_string()));
        if first
            && !was_ready
            && let Some(age) = age
        {
            self.time_to_ready
                .get_or_create(&[("kind", kind.to_string())])
                .observe(age.as_secs_f64());
        }
    }

    /// The object went: its first Ready may be counted again if it comes back.
    pub fn forget(&self, kind: &'static str, object: &str) {
        self.ready_seen
            .lock()
            .expect("metrics lock")
            .remove(&(kind, object.to_string()));
    }

    pub fn retain(&self, kind: &'static str, keep: impl Fn(&str) -> bool) {
        self.ready_seen
            .lock()
            .expect("metrics lock")
            .retain(|(k, o)| *k != kind || keep(o));
    }

    #[cfg(test)]
    pub(crate) fn time_to_ready_count(&self, kind: &'static str) -> u64 {
        let mut registry = Registry::default();
        self.register(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &registry).unwrap();
        let prefix = format!("applink_time_to_ready_seconds_count{{kind=\"{kind}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .map_or(0, |n| n.parse().unwrap())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_ready_is_counted_once_per_object() {
        let r = Reconciles::default();
        let age = Some(Duration::from_secs(42));
        type Step = (&'static str, bool, bool, u64);
        let steps: [Step; 6] = [
            ("not ready yet", false, false, 0),
            ("first Ready", false, true, 1),
            ("stays Ready", true, true, 1),
            ("fails", true, false, 1),
            ("recovers: not a first Ready", false, true, 1),
            (
                "another object already Ready when first seen",
                true,
                true,
                1,
            ),
        ];
        for (i, (why, was, is, want)) in steps.into_iter().enumerate() {
            let object = if i == 5 { "ns/b" } else { "ns/a" };
            r.ready_transition("ApplicationLink", object, was, is, age);
            assert_eq!(r.time_to_ready_count("ApplicationLink"), want, "{why}");
        }
        r.ready_transition("ApplicationLink", "ns/b", false, true, age);
        assert_eq!(
            r.time_to_ready_count("ApplicationLink"),
            1,
            "b was found Ready"
        );
        r.forget("ApplicationLink", "ns/a");
        r.ready_transition("ApplicationLink", "ns/a", false, true, age);
        assert_eq!(
            r.time_to_ready_count("ApplicationLink"),
            2,
            "a new object of that name"
        );
    }
}
