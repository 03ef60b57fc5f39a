//! Access bookkeeping: failed logins, rate-limit buckets, HTTP sessions.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::profile::{RateLimit, Settings};

/// The session attribute that lets a Bearer request bypass WebSudo on newer REST lines.
pub const PATS_SESSION_ATTRIBUTE: &str = "is.pats.enabled";

/// Attribute standing for a session in which the user passed the WebSudo prompt.
pub const WEBSUDO_SESSION_ATTRIBUTE: &str = "websudo";

pub const SESSION_COOKIE: &str = "JSESSIONID";

#[derive(Clone, Debug, Serialize)]
pub struct Session {
    pub username: String,
    pub attributes: BTreeSet<String>,
}

#[derive(Clone, Debug)]
struct Bucket {
    tokens: u32,
    last_fill: Instant,
}

/// Mutable access bookkeeping of an app.
#[derive(Debug, Default)]
pub struct AccessState {
    /// Failed Basic logins per username since the last success or reset.
    pub failures: HashMap<String, u32>,
    buckets: HashMap<String, Bucket>,
    pub sessions: HashMap<String, Session>,
}

impl AccessState {
    /// Whether a Basic login of this user must first answer a CAPTCHA.
    pub fn captcha_required(&self, settings: &Settings, username: &str) -> bool {
        settings.captcha_after_failures > 0
            && self.failures.get(username).copied().unwrap_or(0) >= settings.captcha_after_failures
    }

    pub fn record_login(&mut self, username: &str, ok: bool) {
        if ok {
            self.failures.remove(username);
        } else {
            *self.failures.entry(username.to_string()).or_default() += 1;
        }
    }

    pub fn clear_rate_limits(&mut self) {
        self.buckets.clear();
    }

    /// Takes a token from the user's bucket. Tokens come in batches of `fill_rate` every
    /// `interval_secs`, up to `max` (Atlassian's description of the DC rate limiter).
    pub fn take_token(&mut self, rl: &RateLimit, username: &str, now: Instant) -> RateOutcome {
        let interval = Duration::from_secs(rl.interval_secs.max(1));
        let b = self.buckets.entry(username.to_string()).or_insert(Bucket {
            tokens: rl.max,
            last_fill: now,
        });
        let elapsed = now.saturating_duration_since(b.last_fill);
        let batches = (elapsed.as_secs_f64() / interval.as_secs_f64()).floor() as u32;
        if batches > 0 {
            b.tokens = b
                .tokens
                .saturating_add(batches.saturating_mul(rl.fill_rate))
                .min(rl.max);
            b.last_fill += interval * batches;
        }
        let allowed = b.tokens > 0;
        if allowed {
            b.tokens -= 1;
        }
        let retry_after = if b.tokens > 0 {
            0
        } else {
            let next = (b.last_fill + interval).saturating_duration_since(now);
            next.as_secs() + u64::from(next.subsec_nanos() > 0)
        };
        RateOutcome {
            allowed,
            limit: rl.max,
            remaining: b.tokens,
            interval_secs: interval.as_secs(),
            fill_rate: rl.fill_rate,
            retry_after,
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct RateOutcome {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    pub interval_secs: u64,
    pub fill_rate: u32,
    pub retry_after: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rl(fill: u32, interval: u64, max: u32) -> RateLimit {
        RateLimit {
            enabled: true,
            fill_rate: fill,
            interval_secs: interval,
            max,
            exempt: vec![],
        }
    }

    #[test]
    fn token_bucket_refills_in_batches_up_to_max() {
        let mut a = AccessState::default();
        let r = rl(2, 10, 3);
        let t0 = Instant::now();
        for left in [2, 1, 0] {
            let o = a.take_token(&r, "u", t0);
            assert!(o.allowed);
            assert_eq!(o.remaining, left);
        }
        let o = a.take_token(&r, "u", t0 + Duration::from_secs(4));
        assert!(!o.allowed);
        assert_eq!(o.retry_after, 6);
        let o = a.take_token(&r, "u", t0 + Duration::from_secs(10));
        assert!(o.allowed);
        assert_eq!(o.remaining, 1);
        let o = a.take_token(&r, "u", t0 + Duration::from_secs(100));
        assert_eq!(o.remaining, 2, "capped at max");
        assert!(a.take_token(&r, "other", t0).allowed, "per user");
    }
}
