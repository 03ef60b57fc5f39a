//! Fair shares of a controller's workers: a pass never holds a worker while it waits for a busy
//! application or namespace. Before its first remote call a pass takes a share of each
//! application it will call and of its namespace; when one has all its shares in use the pass
//! is put off (requeued in a moment, no failure recorded, no status written) and the worker is
//! free at once. So a tenant whose applications tarpit holds at most its namespace's share of
//! the workers, and one slow application at most its own, whatever the number of its links.
//!
//! The counts live in one map that holds only what is in use: an entry goes when its last share
//! is given back.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A put-off pass comes back after this, doubling while it keeps being put off up to
/// [`DEFER_MAX`], plus up to [`DEFER_JITTER`] (spread, so put-off passes do not come back all
/// at once). Doubling keeps a thousand objects waiting for one slow application from costing
/// a thousand passes a second.
pub(crate) const DEFER: Duration = Duration::from_secs(1);
const DEFER_MAX: Duration = Duration::from_secs(16);
const DEFER_JITTER: Duration = Duration::from_millis(1000);

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Scope {
    Application(String),
    Namespace(String),
}

/// What a put-off pass waited for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Busy {
    Application,
    Namespace,
}

impl Busy {
    pub(crate) fn as_str(&self) -> &'static str {
        match self {
            Busy::Application => "busy application",
            Busy::Namespace => "busy namespace",
        }
    }
}

pub(crate) struct Shares {
    per_application: usize,
    /// `None`: one namespace is watched, it may use every worker.
    per_namespace: Option<usize>,
    in_use: Mutex<HashMap<(&'static str, Scope), usize>>,
    /// Objects put off lately: how often in a row, and when last.
    put_off: Mutex<HashMap<String, (u32, Instant)>>,
}

/// Shares taken by one pass, given back when dropped.
pub(crate) struct Ticket<'a> {
    shares: &'a Shares,
    taken: Vec<(&'static str, Scope)>,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        let mut in_use = self.shares.in_use.lock().expect("shares lock");
        for key in self.taken.drain(..) {
            if let Some(n) = in_use.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    in_use.remove(&key);
                }
            }
        }
    }
}

impl Shares {
    /// Shares for `concurrency` workers per kind (0: unlimited workers, so no shares), with
    /// `max_requests` requests per application at once, watching all namespaces or one.
    ///
    /// One application may hold half the workers, no more than it can answer requests at once
    /// (more would wait for its request limit anyway); one namespace, when several are
    /// watched, all but a quarter, which is left for the others.
    pub(crate) fn new(concurrency: u16, max_requests: usize, all_namespaces: bool) -> Self {
        let workers = usize::from(concurrency);
        let unlimited = workers == 0;
        Self {
            per_application: if unlimited {
                usize::MAX
            } else {
                (workers / 2).min(max_requests).max(1)
            },
            per_namespace: (all_namespaces && !unlimited).then(|| (workers - workers / 4).max(1)),
            in_use: Mutex::new(HashMap::new()),
            put_off: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one share of `namespace` and of each application for a pass of `kind`, all or
    /// none. Applications are counted by origin (scheme, host, port): spelling one URL several
    /// ways, or several context paths on one server, does not multiply its share.
    pub(crate) fn try_take<'a>(
        &'a self,
        kind: &'static str,
        namespace: &str,
        applications: &[String],
    ) -> Result<Ticket<'a>, Busy> {
        let mut in_use = self.in_use.lock().expect("shares lock");
        let mut wanted: Vec<((&'static str, Scope), usize, Busy)> = Vec::new();
        if let Some(limit) = self.per_namespace {
            wanted.push((
                (kind, Scope::Namespace(namespace.to_string())),
                limit,
                Busy::Namespace,
            ));
        }
        for app in applications {
            let key = (kind, Scope::Application(origin(app)));
            if !wanted.iter().any(|(k, ..)| *k == key) {
                wanted.push((key, self.per_application, Busy::Application));
            }
        }
        for (key, limit, busy) in &wanted {
            if in_use.get(key).copied().unwrap_or(0) >= *limit {
                return Err(*busy);
            }
        }
        let mut taken = Vec::with_capacity(wanted.len());
        for (key, ..) in wanted {
            *in_use.entry(key.clone()).or_default() += 1;
            taken.push(key);
        }
        Ok(Ticket {
            shares: self,
            taken,
        })
    }

    /// Records that `object` was put off; when it should come back.
    pub(crate) fn put_off(&self, object: &str) -> Duration {
        let mut put_off = self.put_off.lock().expect("shares lock");
        let now = Instant::now();
        // An object still waiting comes back within DEFER_MAX (+ jitter): older entries are of
        // objects that got their share or went, so the map holds only objects waiting now.
        let stale = 2 * (DEFER_MAX + DEFER_JITTER);
        if put_off.len() >= 64 && put_off.len().is_power_of_two() {
            put_off.retain(|_, (_, at)| now.duration_since(*at) < stale);
        }
        let entry = put_off.entry(object.to_string()).or_insert((0, now));
        if now.duration_since(entry.1) >= stale {
            entry.0 = 0;
        }
        let times = entry.0;
        *entry = (times.saturating_add(1), now);
        let delay = DEFER.saturating_mul(1 << times.min(4)).min(DEFER_MAX);
        delay + jitter()
    }

    /// `object` got its share: the next put-off starts from [`DEFER`] again.
    pub(crate) fn got_share(&self, object: &str) {
        self.put_off.lock().expect("shares lock").remove(object);
    }

    #[cfg(test)]
    fn entries(&self) -> usize {
        self.in_use.lock().expect("shares lock").len()
    }
}

fn origin(url: &str) -> String {
    url::Url::parse(url).map_or_else(
        |_| url.to_ascii_lowercase(),
        |u| u.origin().ascii_serialization(),
    )
}

fn jitter() -> Duration {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    DEFER_JITTER.mul_f64(f64::from(nanos % 1000) / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apps(urls: &[&str]) -> Vec<String> {
        urls.iter().map(|u| u.to_string()).collect()
    }

    #[test]
    fn shares_follow_the_workers_and_the_request_limit() {
        let table = [
            // (workers, requests per app, all namespaces) -> (per app, per namespace)
            ((8, 4, true), (4, Some(6))),
            ((8, 2, true), (2, Some(6))),
            ((8, 4, false), (4, None)),
            ((2, 4, true), (1, Some(2))),
            ((1, 4, true), (1, Some(1))),
            ((0, 4, true), (usize::MAX, None)),
        ];
        for ((workers, requests, all), (app, ns)) in table {
            let s = Shares::new(workers, requests, all);
            assert_eq!(
                (s.per_application, s.per_namespace),
                (app, ns),
                "{workers} workers"
            );
        }
    }

    #[test]
    fn a_busy_application_puts_off_its_passes_and_not_the_others() {
        let s = Shares::new(8, 4, true);
        let slow = apps(&["https://slow.example.com/"]);
        let held: Vec<_> = (0..4)
            .map(|_| s.try_take("ApplicationLink", "b", &slow).expect("a share"))
            .collect();
        assert_eq!(
            s.try_take("ApplicationLink", "b", &slow).err(),
            Some(Busy::Application)
        );
        assert!(
            s.try_take("ApplicationInstance", "b", &slow).is_ok(),
            "each kind has its own workers"
        );
        assert!(
            s.try_take(
                "ApplicationLink",
                "a",
                &apps(&["https://fast.example.com/"])
            )
            .is_ok()
        );
        drop(held);
        assert!(s.try_take("ApplicationLink", "b", &slow).is_ok());
        assert_eq!(s.entries(), 0, "the map holds only what is in use");
    }

    #[test]
    fn a_busy_namespace_leaves_a_quarter_of_the_workers_to_the_others() {
        let s = Shares::new(8, 4, true);
        let held: Vec<_> = (0..6)
            .map(|i| {
                s.try_take("ApplicationLink", "b", &apps(&[&format!("https://b{i}/")]))
                    .expect("a share")
            })
            .collect();
        assert_eq!(
            s.try_take("ApplicationLink", "b", &apps(&["https://b9/"]))
                .err(),
            Some(Busy::Namespace)
        );
        assert!(
            s.try_take("ApplicationLink", "a", &apps(&["https://a/"]))
                .is_ok()
        );
        drop(held);
    }

    #[test]
    fn one_server_is_one_application_however_spelled() {
        let s = Shares::new(2, 4, false);
        let _t = s
            .try_take(
                "ApplicationLink",
                "a",
                &apps(&["https://Slow.example.com/jira"]),
            )
            .unwrap();
        for other in [
            "https://slow.example.com:443/",
            "https://slow.example.com/confluence",
        ] {
            assert_eq!(
                s.try_take("ApplicationLink", "a", &apps(&[other])).err(),
                Some(Busy::Application),
                "{other}"
            );
        }
    }

    #[test]
    fn all_or_none_and_one_application_counted_once() {
        let s = Shares::new(2, 4, false);
        let t = s
            .try_take("ApplicationLink", "a", &apps(&["https://x/", "https://x/"]))
            .expect("same application twice is one share");
        assert_eq!(
            s.try_take("ApplicationLink", "a", &apps(&["https://y/", "https://x/"]))
                .err(),
            Some(Busy::Application)
        );
        assert!(
            s.try_take("ApplicationLink", "a", &apps(&["https://y/"]))
                .is_ok(),
            "the refused pass took nothing"
        );
        drop(t);
    }

    #[test]
    fn put_off_passes_come_back_later_each_time_until_they_get_a_share() {
        let s = Shares::new(8, 4, true);
        // The whole seconds are the delay, the rest is jitter (under a second).
        let base = |d: Duration| {
            let whole = Duration::from_secs(d.as_secs());
            assert!(d - whole < DEFER_JITTER, "{d:?}");
            whole
        };
        let seen: Vec<_> = (0..7).map(|_| base(s.put_off("link/b/x"))).collect();
        let secs: Vec<u64> = seen.iter().map(Duration::as_secs).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 16, 16]);
        assert_eq!(base(s.put_off("link/b/y")).as_secs(), 1, "per object");
        s.got_share("link/b/x");
        assert_eq!(base(s.put_off("link/b/x")).as_secs(), 1, "starts over");
    }
}
