//! The one outcome reporter of every controller: a pass's verdict becomes the standard
//! conditions (kstatus `Ready`, `Reconciling`, `Stalled`), a metric, the backoff, the requeue
//! and at most one event. One rule for events: a Warning is published when the Ready reason
//! changes to a failure, never again for the same reason, so a failing object does not flood
//! the event stream while it retries.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::runtime::events::EventType;

use super::Context;
use crate::conditions::{self, Cond};
use crate::reasons::{READY, RECONCILING, STALLED};

/// Pause before observing again after changes were made.
pub const VERIFY_AFTER_CHANGES: Duration = Duration::from_millis(300);

/// How a pass ended, in the terms the reporter needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Ready; look again after the kind's resync interval.
    Settled {
        reason: &'static str,
        message: String,
    },
    /// Changes were made: not Ready yet, observe again shortly.
    Applied {
        reason: &'static str,
        message: String,
    },
    /// Nothing to change, but the applications do not report it working yet: check again
    /// with backoff (capped at the resync interval).
    Waiting {
        reason: &'static str,
        message: String,
    },
    /// Failed; waiting may fix it (the application was down, rate limited, …).
    Retrying {
        reason: &'static str,
        message: String,
        retry_after: Option<Duration>,
    },
    /// Failed; only a person can fix it (the message says what to change). Still re-checked
    /// with backoff, because the fix may be made outside Kubernetes.
    Stalled {
        reason: &'static str,
        message: String,
    },
}

impl Verdict {
    pub fn from_error(e: &crate::errors::Error) -> Self {
        let (reason, message) = (e.reason(), e.to_string());
        if e.is_stalled() {
            Verdict::Stalled { reason, message }
        } else {
            Verdict::Retrying {
                reason,
                message,
                retry_after: e.retry_after(),
            }
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            Verdict::Settled { reason, .. }
            | Verdict::Applied { reason, .. }
            | Verdict::Waiting { reason, .. }
            | Verdict::Retrying { reason, .. }
            | Verdict::Stalled { reason, .. } => reason,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Verdict::Settled { message, .. }
            | Verdict::Applied { message, .. }
            | Verdict::Waiting { message, .. }
            | Verdict::Retrying { message, .. }
            | Verdict::Stalled { message, .. } => message,
        }
    }

    /// The coarse result for `applink_reconcile_duration_seconds`.
    pub fn result(&self) -> &'static str {
        match self {
            Verdict::Settled { .. } => "ok",
            Verdict::Applied { .. } => "applied",
            Verdict::Waiting { .. } => "not_ready",
            Verdict::Retrying { .. } | Verdict::Stalled { .. } => "error",
        }
    }

    fn failed(&self) -> bool {
        matches!(self, Verdict::Retrying { .. } | Verdict::Stalled { .. })
    }

    /// A deletion that failed keeps its finalizer: retried, as `DeletionBlocked`, the message
    /// saying what the finalizer `waits_for` and that `deletionPolicy: Orphan` lets go. Any
    /// other verdict is kept.
    pub fn deletion_held(self, waits_for: &str) -> Self {
        match self {
            Verdict::Retrying { message, .. } | Verdict::Stalled { message, .. } => {
                Verdict::Retrying {
                    reason: crate::reasons::DELETION_BLOCKED,
                    message: format!(
                        "{message}. The finalizer stays until {waits_for}; to leave what remains in the applications and let this resource go, set spec.deletionPolicy: Orphan"
                    ),
                    retry_after: None,
                }
            }
            other => other,
        }
    }

    /// The standard conditions of this verdict (pure, table-tested).
    pub fn conditions(&self) -> Vec<Cond> {
        let (reason, message) = (self.reason(), self.message().to_owned());
        match self {
            Verdict::Settled { .. } => vec![Cond::new(READY, true, reason, message)],
            Verdict::Applied { .. } | Verdict::Waiting { .. } => vec![
                Cond::new(READY, false, reason, message.clone()),
                Cond::new(RECONCILING, true, reason, message),
            ],
            Verdict::Retrying { .. } => vec![
                Cond::new(READY, false, reason, message.clone()),
                Cond::new(
                    RECONCILING,
                    true,
                    reason,
                    format!("retrying with backoff: {message}"),
                ),
            ],
            Verdict::Stalled { .. } => vec![
                Cond::new(READY, false, reason, message.clone()),
                Cond::new(STALLED, true, reason, message),
            ],
        }
    }
}

/// Whether a Warning event is due: the verdict failed with another Ready reason than before,
/// or it became Stalled (a lasting failure is announced once more, when it is marked Stalled).
pub fn warning_due(old: &[Condition], verdict: &Verdict) -> bool {
    let newly_stalled =
        matches!(verdict, Verdict::Stalled { .. }) && !conditions::is_true(old, STALLED);
    verdict.failed()
        && (newly_stalled
            || conditions::find(old, READY).map(|c| c.reason.as_str()) != Some(verdict.reason()))
}

/// Verdicts that waiting alone has not fixed for `after` become Stalled with the same reason
/// (kstatus reads Failed, Argo CD Degraded), while the checks go on with backoff: the
/// applications still reporting the link as not working, and credentials still rejected. An
/// object already Stalled for the same reason in this generation stays so (after a restart the
/// in-memory count starts again; the condition does not flip back).
pub fn lasting(
    verdict: Verdict,
    old: &[Condition],
    generation: Option<i64>,
    not_ready_for: Duration,
    after: Duration,
) -> Verdict {
    let (reason, message) = match &verdict {
        Verdict::Waiting { reason, message } => (*reason, message),
        Verdict::Retrying {
            reason, message, ..
        } if *reason == crate::reasons::CREDENTIALS_REJECTED => (*reason, message),
        _ => return verdict,
    };
    let still_stalled = conditions::find(old, STALLED).is_some_and(|c| {
        c.status == "True" && c.reason == reason && c.observed_generation == generation
    });
    if not_ready_for < after && !still_stalled {
        return verdict;
    }
    Verdict::Stalled {
        reason,
        message: format!(
            "{message}; so for more than {} (checked again with backoff; this clears once it works)",
            humantime::format_duration(after)
        ),
    }
}

/// [`lasting`] with the object's time not Ready, as counted by the context. The count starts
/// at the first pass that changed nothing and still is not Ready: a pass that made changes
/// starts it again (the applications are then asked afresh).
pub fn escalate<K: kube::Resource>(
    ctx: &Context,
    obj: &K,
    old: &[Condition],
    verdict: Verdict,
) -> Verdict {
    let ready = matches!(verdict, Verdict::Settled { .. } | Verdict::Applied { .. });
    let not_ready_for = ctx.not_ready.observe_object(obj, ready);
    let generation = obj.meta().generation;
    lasting(
        verdict,
        old,
        generation,
        not_ready_for,
        ctx.settings.stalled_after,
    )
}

/// Which object a verdict is about, for the reporter.
pub struct Subject<'a, K> {
    pub obj: &'a K,
    /// The kind, for the metric.
    pub kind: &'static str,
    /// Names the object for the backoff and logs.
    pub key: &'a str,
    /// The kind's steady-state interval.
    pub resync: Duration,
    /// The event's action (Reconcile, Delete, Check).
    pub action: &'static str,
    /// The pass, timed for the metrics.
    pub running: &'a crate::health::Running,
}

/// The resync interval shortened by up to a tenth, by an amount fixed for each object: objects
/// made or restarted together (a `kubectl apply` of hundreds, an operator restart) then come back
/// spread over the last tenth of the interval instead of in one wave at each application, and
/// every object is still re-verified within the interval.
pub(crate) fn spread(resync: Duration, key: &str) -> Duration {
    // FNV-1a: stable across runs and builds (std's hasher is seeded per process).
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let tenth = resync / 10;
    let fraction = (hash % 1_000) as u32;
    resync - tenth * fraction / 1_000
}

/// Records the verdict (metric, backoff, event) and returns the delay until the next pass.
pub async fn record<K>(
    ctx: &Context,
    subject: Subject<'_, K>,
    old: &[Condition],
    verdict: &Verdict,
) -> Duration
where
    K: kube::Resource<DynamicType = ()>,
{
    let Subject {
        obj,
        kind,
        key,
        resync,
        action,
        running,
    } = subject;
    running.ended(verdict.result());
    let age = obj.meta().creation_timestamp.as_ref().and_then(|t| {
        let now = k8s_openapi::jiff::Timestamp::now().as_second();
        u64::try_from(now - t.0.as_second())
            .ok()
            .map(Duration::from_secs)
    });
    ctx.metrics.ready_transition(
        kind,
        &super::object_key(obj),
        conditions::is_true(old, READY),
        matches!(verdict, Verdict::Settled { .. }),
        age,
    );
    let delay = match verdict {
        Verdict::Settled { .. } => {
            ctx.metrics.reconciled(kind, "ok");
            ctx.backoff.succeeded(key);
            spread(resync, key)
        }
        Verdict::Applied { .. } => {
            ctx.metrics.reconciled(kind, "applied");
            ctx.backoff.succeeded(key);
            VERIFY_AFTER_CHANGES
        }
        Verdict::Waiting { .. } => {
            ctx.metrics.reconciled(kind, "not_ready");
            ctx.backoff.failed(key, None).min(resync)
        }
        Verdict::Retrying {
            reason,
            retry_after,
            ..
        } => {
            ctx.metrics.reconciled(kind, reason);
            ctx.backoff.failed(key, *retry_after)
        }
        Verdict::Stalled { reason, .. } => {
            ctx.metrics.reconciled(kind, reason);
            ctx.backoff.failed(key, None)
        }
    };
    if warning_due(old, verdict) {
        tracing::warn!(object = %key, reason = verdict.reason(), message = verdict.message(), "reconcile failed");
        ctx.event(
            obj,
            EventType::Warning,
            verdict.reason(),
            verdict.message(),
            action,
        )
        .await;
    }
    delay
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resyncs_are_spread_over_the_last_tenth_of_the_interval() {
        let resync = Duration::from_secs(300);
        let delays: Vec<Duration> = (0..1_000)
            .map(|i| spread(resync, &format!("link/team-{}/l{i}", i % 7)))
            .collect();
        assert!(
            delays
                .iter()
                .all(|d| *d <= resync && *d >= resync - resync / 10)
        );
        // Spread, not one wave: every 3-second slot of the 30 s window gets some of 1,000 objects.
        for slot in 0..10 {
            let low = Duration::from_secs(270 + 3 * slot);
            let n = delays
                .iter()
                .filter(|d| **d >= low && **d < low + Duration::from_secs(3))
                .count();
            assert!(n > 50, "slot {slot}: {n}");
        }
        // Fixed per object, so a restart keeps the spread.
        assert_eq!(spread(resync, "link/a/b"), spread(resync, "link/a/b"));
    }

    fn cond(type_: &str, status: &str, reason: &str) -> Condition {
        Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: String::new(),
            observed_generation: None,
            last_transition_time: conditions::now(),
        }
    }

    #[test]
    fn conditions_per_verdict() {
        let m = || "m".to_string();
        type Case = (&'static str, Verdict, Vec<(&'static str, bool)>);
        let cases: Vec<Case> = vec![
            (
                "settled: Ready only",
                Verdict::Settled {
                    reason: "Working",
                    message: m(),
                },
                vec![(READY, true)],
            ),
            (
                "applied: Reconciling",
                Verdict::Applied {
                    reason: "Applying",
                    message: m(),
                },
                vec![(READY, false), (RECONCILING, true)],
            ),
            (
                "transient failure: Reconciling, not Stalled",
                Verdict::Retrying {
                    reason: "Unreachable",
                    message: m(),
                    retry_after: None,
                },
                vec![(READY, false), (RECONCILING, true)],
            ),
            (
                "a person must act: Stalled",
                Verdict::Stalled {
                    reason: "CredentialsRejected",
                    message: m(),
                },
                vec![(READY, false), (STALLED, true)],
            ),
        ];
        for (why, verdict, want) in cases {
            let got: Vec<(&str, bool)> = verdict
                .conditions()
                .iter()
                .map(|c| (c.type_, c.status))
                .collect();
            assert_eq!(got, want, "{why}");
        }
    }

    #[test]
    fn lasting_table() {
        let waiting = || Verdict::Waiting {
            reason: "AuthLevelMismatch",
            message: "m".into(),
        };
        let rejected = || Verdict::Retrying {
            reason: "CredentialsRejected",
            message: "m".into(),
            retry_after: None,
        };
        let unreachable = || Verdict::Retrying {
            reason: "Unreachable",
            message: "m".into(),
            retry_after: None,
        };
        let mut stalled_g3 = cond(STALLED, "True", "AuthLevelMismatch");
        stalled_g3.observed_generation = Some(3);
        let after = Duration::from_secs(600);
        let s = Duration::from_secs;
        type Case = (
            &'static str,
            Verdict,
            Vec<Condition>,
            Option<i64>,
            Duration,
            bool,
        );
        let cases: Vec<Case> = vec![
            (
                "link not working, not long yet",
                waiting(),
                vec![],
                Some(3),
                s(599),
                false,
            ),
            (
                "link not working for the bound",
                waiting(),
                vec![],
                Some(3),
                s(600),
                true,
            ),
            (
                "credentials rejected, long",
                rejected(),
                vec![],
                Some(3),
                s(601),
                true,
            ),
            (
                "transient failures are never Stalled by time",
                unreachable(),
                vec![],
                Some(3),
                s(9999),
                false,
            ),
            (
                "settled stays settled",
                Verdict::Settled {
                    reason: "Working",
                    message: "m".into(),
                },
                vec![],
                Some(3),
                s(9999),
                false,
            ),
            (
                "applying is progress",
                Verdict::Applied {
                    reason: "Applying",
                    message: "m".into(),
                },
                vec![],
                Some(3),
                s(9999),
                false,
            ),
            (
                "already Stalled, same reason and spec: stays (restart)",
                waiting(),
                vec![stalled_g3.clone()],
                Some(3),
                s(0),
                true,
            ),
            (
                "already Stalled, but a new spec: counted again",
                waiting(),
                vec![stalled_g3.clone()],
                Some(4),
                s(0),
                false,
            ),
            (
                "Stalled for another reason: counted again",
                rejected(),
                vec![stalled_g3],
                Some(3),
                s(0),
                false,
            ),
        ];
        for (why, verdict, old, generation, for_, stalled) in cases {
            let reason = verdict.reason();
            let got = lasting(verdict, &old, generation, for_, after);
            assert_eq!(
                matches!(got, Verdict::Stalled { .. }),
                stalled,
                "{why}: {got:?}"
            );
            assert_eq!(got.reason(), reason, "{why}: the same reason");
            if stalled {
                assert!(got.message().contains("10m"), "{why}: {}", got.message());
            }
        }
    }

    #[test]
    fn stalling_is_announced_once() {
        let stalled = Verdict::Stalled {
            reason: "AuthLevelMismatch",
            message: "m".into(),
        };
        let waiting_before = [cond(READY, "False", "AuthLevelMismatch")];
        assert!(warning_due(&waiting_before, &stalled), "newly stalled");
        let stalled_before = [
            cond(READY, "False", "AuthLevelMismatch"),
            cond(STALLED, "True", "AuthLevelMismatch"),
        ];
        assert!(!warning_due(&stalled_before, &stalled), "still stalled");
    }

    #[test]
    fn one_warning_per_failure_reason() {
        let failing = Verdict::Stalled {
            reason: "CredentialsRejected",
            message: "m".into(),
        };
        assert!(warning_due(&[], &failing), "first failure");
        assert!(
            !warning_due(
                &[
                    cond(READY, "False", "CredentialsRejected"),
                    cond(STALLED, "True", "CredentialsRejected")
                ],
                &failing
            ),
            "same reason again: no second event"
        );
        assert!(
            warning_due(&[cond(READY, "False", "Unreachable")], &failing),
            "another reason"
        );
        let ok = Verdict::Settled {
            reason: "Working",
            message: "m".into(),
        };
        assert!(!warning_due(&[], &ok), "success is never a warning");
    }
}
