//! Retry policy: bounded attempts, exponential backoff with jitter, and `Retry-After`.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, SystemTime};

/// How the client retries idempotent requests after transient failures
/// (connect errors, broken connections, timeouts, 429, 500/502/503/504).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts including the first; 1 disables retries.
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubles each time.
    pub initial_backoff: Duration,
    /// Upper bound of the computed backoff.
    pub max_backoff: Duration,
    /// A `Retry-After` longer than this is not waited for inside the client: the error is
    /// returned (with the delay) so the controller can requeue instead of blocking a worker.
    pub max_retry_after: Duration,
    /// Attempts when each one let the whole request timeout pass (at most `max_attempts`).
    pub max_timeout_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(30),
            max_timeout_attempts: 2,
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    #[cfg(test)]
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Backoff before attempt `attempt + 1` (`attempt` counts from 1): exponential, capped,
    /// with "equal jitter" (half fixed, half random) so many reconcilers do not retry in step.
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let base = exponential(self.initial_backoff, self.max_backoff, attempt);
        let half = base / 2;
        half + jitter(half)
    }

    /// How long to wait before retrying given the server's `Retry-After`, or `None` when the
    /// request must not be retried inside the client (delay too long).
    pub(crate) fn delay_for(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        match retry_after {
            Some(d) if d > self.max_retry_after => None,
            Some(d) => Some(d),
            None => Some(self.backoff(attempt)),
        }
    }
}

/// Uniform-ish random duration in `[0, max]`; std's randomly keyed hasher is enough here.
/// `initial` doubled for each failure after the first (`failures` counts from 1), capped at
/// `max`: the one exponential backoff of the operator (requests here, reconciles in
/// `controller/backoff.rs`; each adds its own jitter).
pub fn exponential(initial: Duration, max: Duration, failures: u32) -> Duration {
    initial
        .saturating_mul(1u32 << failures.saturating_sub(1).min(20))
        .min(max)
}

fn jitter(max: Duration) -> Duration {
    let nanos = max.as_nanos() as u64;
    if nanos == 0 {
        return Duration::ZERO;
    }
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(nanos);
    Duration::from_nanos(hasher.finish() % (nanos + 1))
}

/// Parses `Retry-After`: delta-seconds or an HTTP-date (RFC 9110 §10.2.3).
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(800),
            max_retry_after: Duration::from_secs(1),
            max_timeout_attempts: 2,
        };
        for _ in 0..50 {
            let b1 = p.backoff(1);
            assert!(b1 >= Duration::from_millis(50) && b1 <= Duration::from_millis(100));
            let b3 = p.backoff(3);
            assert!(b3 >= Duration::from_millis(200) && b3 <= Duration::from_millis(400));
            let b9 = p.backoff(9);
            assert!(b9 >= Duration::from_millis(400) && b9 <= Duration::from_millis(800));
        }
        assert_eq!(
            p.delay_for(1, Some(Duration::from_millis(700))),
            Some(Duration::from_millis(700))
        );
        assert_eq!(p.delay_for(1, Some(Duration::from_secs(2))), None);
    }

    #[test]
    fn retry_after_seconds_and_http_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        // 1445412480 = Wed, 21 Oct 2015 07:28:00 GMT
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
