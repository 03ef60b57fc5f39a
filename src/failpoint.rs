//! Fault injection for crash-safety tests. `APPLINK_FAILPOINT=<point>` makes the process abort
//! at the first time it passes `<point>` (e.g. `after-create`), the way a killed operator would:
//! no cleanup, no status write. `<point>#<n>` aborts at the n-th time instead, so a test can kill
//! while some of several links in flight are past the point and others are not.
//! `APPLINK_FAILPOINT_TRACE=1` prints every point passed with its count (`failpoint <point> #<n>`
//! on stderr), so a test can list the points a flow passes. Both unset (always, in production)
//! nothing is counted or printed.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// Where to abort: a point and the count of passes at which to do it (1 = the first).
#[derive(Debug, PartialEq, Eq)]
struct Target {
    point: String,
    nth: u32,
}

/// Parses `APPLINK_FAILPOINT`; `None` for an empty or malformed value (a typo must not make
/// the process abort somewhere else).
fn parse(spec: &str) -> Option<Target> {
    let spec = spec.trim();
    let (point, nth) = match spec.split_once('#') {
        Some((p, n)) => (p, n.parse::<u32>().ok().filter(|n| *n >= 1)?),
        None => (spec, 1),
    };
    if point.is_empty() {
        return None;
    }
    Some(Target {
        point: point.to_string(),
        nth,
    })
}

struct Config {
    target: Option<Target>,
    trace: bool,
    hits: Mutex<HashMap<String, u32>>,
}

fn config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| Config {
        target: std::env::var("APPLINK_FAILPOINT")
            .ok()
            .and_then(|v| parse(&v)),
        trace: std::env::var_os("APPLINK_FAILPOINT_TRACE").is_some(),
        hits: Mutex::new(HashMap::new()),
    })
}

/// Counts a pass of `name`; true when the process must abort here.
fn pass(config: &Config, name: &str) -> bool {
    if config.target.is_none() && !config.trace {
        return false;
    }
    let n = {
        // A poisoned lock only means another thread panicked mid-count: keep counting.
        let mut hits = config.hits.lock().unwrap_or_else(|e| e.into_inner());
        let n = hits.entry(name.to_string()).or_insert(0);
        *n += 1;
        *n
    };
    if config.trace {
        eprintln!("failpoint {name} #{n}");
    }
    config
        .target
        .as_ref()
        .is_some_and(|t| t.point == name && t.nth == n)
}

pub fn hit(name: &str) {
    if pass(config(), name) {
        eprintln!("failpoint {name}: aborting");
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        let t = |p: &str, nth| {
            Some(Target {
                point: p.into(),
                nth,
            })
        };
        let cases = [
            ("after-create", t("after-create", 1)),
            ("after-create#3", t("after-create", 3)),
            (" before-claim#1 ", t("before-claim", 1)),
            ("after-create#0", None),
            ("after-create#x", None),
            ("after-create#", None),
            ("#2", None),
            ("", None),
        ];
        for (spec, want) in cases {
            assert_eq!(parse(spec), want, "{spec:?}");
        }
    }

    #[test]
    fn aborts_only_at_the_nth_pass_of_its_point() {
        let config = Config {
            target: parse("after-create#2"),
            trace: false,
            hits: Mutex::new(HashMap::new()),
        };
        assert!(!pass(&config, "after-create"));
        assert!(!pass(&config, "after-claim"));
        assert!(!pass(&config, "after-claim"));
        assert!(pass(&config, "after-create"));
        assert!(
            !pass(&config, "after-create"),
            "only the n-th, not later ones"
        );
    }

    #[test]
    fn counts_nothing_when_unset() {
        let config = Config {
            target: None,
            trace: false,
            hits: Mutex::new(HashMap::new()),
        };
        assert!(!pass(&config, "after-create"));
        assert!(config.hits.lock().unwrap().is_empty());
    }
}
