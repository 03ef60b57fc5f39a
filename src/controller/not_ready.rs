//! Since when each object has not been Ready (in this spec generation, since its last pass that
//! made changes), for the Stalled
//! decision ([`super::outcome::lasting`]). Kept in memory by uid: after a restart the count
//! starts again, but an object already marked Stalled stays so (the decision reads its
//! condition). An entry goes when the object is Ready, when its finalizer is removed, and when
//! the watch reports it deleted.
//!
//! Also, for Ready objects, when they were last verified and on which inputs: a wake that
//! changes none of them is put off until the resync.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct NotReady {
    since: Mutex<HashMap<String, (Option<i64>, Instant)>>,
    /// When each Ready object was last verified, and a hash of what that pass depended on.
    settled: Mutex<HashMap<String, (u64, Instant)>>,
}

/// How long a wake may be put off: the time left until the resync when the object was verified
/// Ready less than `within` ago on the same inputs (pure; table-tested). A wake that changes
/// nothing a pass reads (an instance's Ready event that arrives while the link's own pass
/// runs) then costs no request.
fn put_off(
    last: Option<&(u64, Instant)>,
    inputs: u64,
    now: Instant,
    within: Duration,
) -> Option<Duration> {
    let (seen, at) = last?;
    let elapsed = now.saturating_duration_since(*at);
    (*seen == inputs && elapsed < within).then(|| within - elapsed)
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
        if let Ok(mut m) = self.settled.lock() {
            m.remove(key);
        }
    }

    /// Records the end of a pass: `Some(inputs)` when it verified the object Ready on those
    /// inputs, `None` otherwise.
    pub fn settled_object<K: kube::Resource>(&self, obj: &K, inputs: Option<u64>) {
        if let Ok(mut m) = self.settled.lock() {
            match inputs {
                Some(h) => m.insert(uid(obj), (h, Instant::now())),
                None => m.remove(&uid(obj)),
            };
        }
    }

    /// How long a pass of `obj` on `inputs` may be put off ([`put_off`]), within its resync.
    pub fn put_off_object<K: kube::Resource>(
        &self,
        obj: &K,
        inputs: u64,
        resync: Duration,
    ) -> Option<Duration> {
        let m = self.settled.lock().ok()?;
        put_off(m.get(&uid(obj)), inputs, Instant::now(), resync)
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
    fn a_wake_on_the_same_inputs_is_put_off_until_the_resync() {
        let t0 = Instant::now();
        let resync = Duration::from_secs(600);
        let at = |s| t0 + Duration::from_secs(s);
        let cases = [
            ("never verified", None, 1, at(1), None),
            (
                "same inputs, just verified",
                Some((1, t0)),
                1,
                at(1),
                Some(599),
            ),
            ("other inputs", Some((1, t0)), 2, at(1), None),
            ("resync due", Some((1, t0)), 1, at(600), None),
            ("past the resync", Some((1, t0)), 1, at(700), None),
        ];
        for (name, last, inputs, now, want) in cases {
            assert_eq!(
                put_off(last.as_ref(), inputs, now, resync),
                want.map(Duration::from_secs),
                "{name}"
            );
        }
    }

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
