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

/// Whether a Warning event is due: the verdict failed with another Ready reason than before.
pub fn warning_due(old: &[Condition], verdict: &Verdict) -> bool {
    verdict.failed()
        && conditions::find(old, READY).map(|c| c.reason.as_str()) != Some(verdict.reason())
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
            resync
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
    fn one_warning_per_failure_reason() {
        let failing = Verdict::Stalled {
            reason: "CredentialsRejected",
            message: "m".into(),
        };
        assert!(warning_due(&[], &failing), "first failure");
        assert!(
            !warning_due(&[cond(READY, "False", "CredentialsRejected")], &failing),
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
