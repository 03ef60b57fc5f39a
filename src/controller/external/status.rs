//! The status of an ExternalApplication and the verdict of a pass (no client): pure,
//! table-tested. The status never holds the client secret.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use crate::controller::outcome::Verdict;
use crate::crd::{ClientView, ExternalApplication, ExternalApplicationStatus, ExternalClaims};
use crate::reasons;

/// What a pass that got as far as acting found and did, in either mode.
pub(super) struct Pass {
    pub(super) app_label: String,
    /// Client id (OAuth 2.0) or consumer key (OAuth 1.0a).
    pub(super) client_id: String,
    pub(super) view: ClientView,
    pub(super) secret_name: String,
    /// A new secret or key was issued.
    pub(super) issued: bool,
    /// A rotation was done in this pass.
    pub(super) rotated: bool,
    /// The `applinks.io/rotate` value seen.
    pub(super) rotate_request: Option<String>,
    /// Changes made, for the message.
    pub(super) changes: Vec<&'static str>,
    /// What Ready says when nothing changed.
    pub(super) settled: String,
    /// The claims after the pass.
    pub(super) claims: ExternalClaims,
}

/// The shortest rotation period accepted; shorter values are raised to it.
const MIN_ROTATION: Duration = Duration::from_secs(3600);

/// How long until the scheduled rotation is due (zero: due now); `None` without a schedule or
/// before the first secret is issued.
pub(super) fn rotation_due(
    obj: &ExternalApplication,
    status: &ExternalApplicationStatus,
    now: Timestamp,
) -> Option<Duration> {
    let every = humantime::parse_duration(&obj.spec.rotation.as_ref()?.every)
        .ok()?
        .max(MIN_ROTATION);
    let issued: Timestamp = status.secret_issued_at.as_deref()?.parse().ok()?;
    let age = now.duration_since(issued);
    let age = Duration::try_from(age).unwrap_or_default();
    Some(every.saturating_sub(age))
}

/// The status after a pass, its verdict, and when a scheduled rotation is due.
pub(super) fn of(
    obj: &ExternalApplication,
    pass: &Pass,
    now: Timestamp,
) -> (ExternalApplicationStatus, Verdict, Option<Duration>) {
    let old = obj.status.clone().unwrap_or_default();
    let secret_issued_at = if pass.issued || old.secret_issued_at.is_none() {
        Some(now.to_string())
    } else {
        old.secret_issued_at.clone()
    };
    // A rotation request present at the first pass is taken as handled: the secret was just
    // issued anyway.
    let rotation_request = if pass.rotated || old.rotation_request.is_none() {
        pass.rotate_request.clone()
    } else {
        old.rotation_request.clone()
    };
    let status = ExternalApplicationStatus {
        observed_generation: obj.metadata.generation,
        client_id: Some(pass.client_id.clone()),
        secret_name: Some(pass.secret_name.clone()),
        application: Some(pass.view.clone()),
        secret_issued_at,
        rotation_request,
        claims: Some(pass.claims.clone()),
        // Set by the pass (it echoes the resync request it handled).
        last_handled_reconcile_at: None,
        conditions: Vec::new(),
    };
    let verdict = if pass.changes.is_empty() {
        Verdict::Settled {
            reason: reasons::CREDENTIALS_DELIVERED,
            message: format!("{}; in {}", pass.settled, pass.app_label),
        }
    } else {
        Verdict::Applied {
            reason: reasons::APPLYING,
            message: format!("{}; checking again", pass.changes.join(", ")),
        }
    };
    let due = rotation_due(obj, &status, now);
    (status, verdict, due)
}

/// The status kept after a failed pass: what was known stays (client id, Secret name), the
/// conditions say what failed.
pub(super) fn failed(obj: &ExternalApplication) -> ExternalApplicationStatus {
    let mut status = obj.status.clone().unwrap_or_default();
    status.observed_generation = obj.metadata.generation;
    // A first status says "no claims" outright, so annotations are never taken for an older
    // operator's claims later; an older operator's status keeps waiting for the migration.
    if obj.status.is_none() {
        status.claims = Some(ExternalClaims::default());
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{ExternalApplicationSpec, OAuth2Client, Rotation};

    fn obj(every: Option<&str>, issued: Option<&str>) -> ExternalApplication {
        let mut o = ExternalApplication::new(
            "che",
            ExternalApplicationSpec {
                instance_ref: crate::crd::LocalObjectRef {
                    name: "bitbucket".into(),
                    kind: None,
                },
                display_name: None,
                oauth2: Some(OAuth2Client {
                    redirect_uris: vec!["https://che.example.test/cb".into()],
                    scope: "REPO_WRITE".into(),
                }),
                oauth1: None,
                secret: Default::default(),
                rotation: every.map(|e| Rotation { every: e.into() }),
                deletion_policy: Default::default(),
            },
        );
        o.status = Some(ExternalApplicationStatus {
            secret_issued_at: issued.map(str::to_string),
            ..Default::default()
        });
        o
    }

    #[test]
    fn rotation_schedule() {
        let now: Timestamp = "2026-12-01T12:00:00Z".parse().unwrap();
        let table: &[(Option<&str>, Option<&str>, Option<Duration>)] = &[
            (None, Some("2026-11-01T12:00:00Z"), None),
            (Some("720h"), None, None),
            (
                Some("720h"),
                Some("2026-11-30T12:00:00Z"),
                Some(Duration::from_secs(696 * 3600)),
            ),
            (
                Some("720h"),
                Some("2026-10-01T12:00:00Z"),
                Some(Duration::ZERO),
            ),
            // Below the minimum: an hour.
            (
                Some("1s"),
                Some("2026-12-01T11:30:00Z"),
                Some(Duration::from_secs(1800)),
            ),
        ];
        for (every, issued, expected) in table {
            let o = obj(*every, *issued);
            assert_eq!(
                rotation_due(&o, o.status.as_ref().unwrap(), now),
                *expected,
                "{every:?} {issued:?}"
            );
        }
    }
}
