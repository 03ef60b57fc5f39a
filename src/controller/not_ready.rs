//! Since when each object has not been Ready (in this spec generation, since its last pass that
//! made changes), for the Stalled
//! decision ([`super::outcome::lasting`]). Kept in memory by uid: after a restart the count
//! starts again, but an object already marked Stalled stays so (the decision reads its
//! condition). An entry goes when the object is Ready, when its finalizer is removed, and when
//! the watch reports it deleted.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct NotReady {
    since: Mutex<HashMap<String, (Option<i64>, Instant)>>,
}

impl NotReady {
    /// Records a pass of `key` at `generation` and returns how long it has not been Ready
    /// (zero when it is Ready now, or made changes: its entry goes).
    pub fn observe(&self, key: &str, generation: Option<i64>, ready: bool) -> Duration {
        self.observe_at(key, generation, ready, Instant::now())
    }

    fn observe_at(
        &self,
        key: &str,
        generation: Option<i64>,
        ready: bool,
        now: Instant,
    ) -> Duration {
        let Ok(mut m) = self.since.lock() else {
            return Duration::ZERO;
        };
        if ready {
            m.remove(key);
            return Duration::ZERO;
        }
        let entry = m.entry(key.to_string()).or_insert((generation, now));
        // A new spec starts the count again.
        if entry.0 != generation {
            *entry = (generation, now);
        }
        now.saturating_duration_since(entry.1)
    }

    /// [`Self::observe`] for an object, by its uid and generation.
    pub fn observe_object<K: kube::Resource>(&self, obj: &K, ready: bool) -> Duration {
        let meta = obj.meta();
        self.observe(&uid(obj), meta.generation, ready)
    }

    /// The object is gone.
    pub fn forget_object<K: kube::Resource>(&self, obj: &K) {
        self.forget(&uid(obj));
    }

    fn forget(&self, key: &str) {
        if let Ok(mut m) = self.since.lock() {
            m.remove(key);
        }
    }
}

/// The uid (objects read from the API server always have one), else the name.
fn uid<K: kube::Resource>(obj: &K) -> String {
    let meta = obj.meta();
    meta.uid.clone().unwrap_or_else(|| super::object_key(obj))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_generation_and_resets_when_ready() {
        let n = NotReady::default();
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        assert_eq!(n.observe_at("a", Some(1), false, at(0)), Duration::ZERO);
        assert_eq!(
            n.observe_at("a", Some(1), false, at(7)),
            Duration::from_secs(7)
        );
        assert_eq!(
            n.observe_at("b", Some(1), false, at(7)),
            Duration::ZERO,
            "per object"
        );
        assert_eq!(
            n.observe_at("a", Some(2), false, at(9)),
            Duration::ZERO,
            "new spec"
        );
        assert_eq!(
            n.observe_at("a", Some(2), false, at(12)),
            Duration::from_secs(3)
        );
        assert_eq!(
            n.observe_at("a", Some(2), true, at(13)),
            Duration::ZERO,
            "ready"
        );
        assert_eq!(
            n.observe_at("a", Some(2), false, at(14)),
            Duration::ZERO,
            "count restarts"
        );
        n.forget("a");
        n.forget("b");
        assert!(n.since.lock().unwrap().is_empty());
    }
}
