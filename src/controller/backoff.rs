//! Per-object exponential backoff: each failing object waits longer between attempts (up to a
//! cap), independently of the others, so one broken application never causes a retry storm.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

pub struct Backoff {
    base: Duration,
    max: Duration,
    failures: Mutex<HashMap<String, u32>>,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Records a failure of `key` and returns how long to wait; honours a server-requested delay.
    pub fn failed(&self, key: &str, retry_after: Option<Duration>) -> Duration {
        let mut f = self.failures.lock().expect("backoff lock");
        let n = f.entry(key.to_string()).or_insert(0);
        *n = n.saturating_add(1);
        let exp = crate::atlassian::exponential(self.base, self.max, *n);
        // Up to 10% jitter, derived from the key and count, so objects failing together spread out.
        let jitter_ms = (exp.as_millis() as u64 / 10).max(1);
        let seed = key
            .bytes()
            .fold(*n as u64, |a, b| a.wrapping_mul(31).wrapping_add(b as u64));
        let delay = exp + Duration::from_millis(seed % jitter_ms);
        retry_after.map_or(delay, |r| delay.max(r))
    }

    pub fn succeeded(&self, key: &str) {
        self.failures.lock().expect("backoff lock").remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_to_a_cap_and_resets() {
        let b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let d: Vec<u64> = (0..9).map(|_| b.failed("a", None).as_secs()).collect();
        assert_eq!(d, vec![1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(
            b.failed("other", None).as_secs(),
            1,
            "objects back off independently"
        );
        assert!(b.failed("a", Some(Duration::from_secs(600))) >= Duration::from_secs(600));
        b.succeeded("a");
        assert_eq!(b.failed("a", None).as_secs(), 1);
    }
}
