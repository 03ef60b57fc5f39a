//! The instance's whole status from what was observed (no client required; table-tested).

use std::time::{Duration, SystemTime};

use super::observe::Observation;
use crate::conditions::Cond;
use crate::controller::outcome::Verdict;
use crate::crd::{ApplicationInstance, ApplicationInstanceStatus};
use crate::errors::Error;
use crate::reasons::*;

/// OAuth refuses timestamps more than 5 minutes off; warn well before.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(120);

/// The status (without its merged conditions), the verdict and the instance's own conditions.
pub(super) fn instance_status(
    obj: &ApplicationInstance,
    observed: Result<Observation, Error>,
) -> (ApplicationInstanceStatus, Verdict, Vec<Cond>) {
    let old = obj.status.clone().unwrap_or_default();
    let url = obj.spec.url.as_str();
    let cloud = obj
        .spec
        .cloud
        .unwrap_or_else(|| obj.spec.url.is_atlassian_cloud());
    let mut facts = Vec::new();
    let o = match observed {
        Ok(o) => o,
        Err(ref e) => {
            // Nothing new was learnt: the identity stays as last verified.
            let status = ApplicationInstanceStatus {
                observed_generation: obj.metadata.generation,
                administered: match e {
                    Error::Remote { .. } => old.administered,
                    _ => Some(false),
                },
                conditions: Vec::new(),
                ..old
            };
            match e {
                Error::Remote { .. } => {
                    facts.push(Cond::new(REACHABLE, false, e.reason(), e.to_string()))
                }
                _ => facts.push(Cond::new(
                    CREDENTIALS_VALID,
                    false,
                    e.reason(),
                    e.to_string(),
                )),
            }
            return (status, Verdict::from_error(e), facts);
        }
    };
    let m = &o.manifest;
    let admin = o.admin;
    facts.push(Cond::new(
        REACHABLE,
        true,
        MANIFEST_READ,
        format!("manifest read from {url}"),
    ));
    let mut status = ApplicationInstanceStatus {
        observed_generation: obj.metadata.generation,
        url: Some(url.to_string()),
        application_id: Some(m.id.clone()),
        type_id: Some(m.type_id.clone()),
        application_name: Some(m.name.clone()),
        version: m.version.clone(),
        applinks_version: m.applinks_version.clone(),
        cloud: Some(cloud),
        administered: Some(false),
        conditions: Vec::new(),
    };
    // Warnings: they do not stop the instance from being used, but they explain the
    // signature_invalid / timestamp_refused a link would report later.
    facts.push(base_url_condition(url, m.url.as_deref()));
    if let Some(c) = clock_condition(o.app_clock, o.our_clock) {
        facts.push(c);
    }

    let refuse = |e: Error, status: ApplicationInstanceStatus, facts| {
        (status, Verdict::from_error(&e), facts)
    };
    // Identity: once known, an application id never changes; another id at the URL is another
    // application and is refused without recording anything of it.
    if let Some(known) = &old.application_id
        && known != &m.id
    {
        let keep = ApplicationInstanceStatus {
            observed_generation: obj.metadata.generation,
            conditions: Vec::new(),
            ..old.clone()
        };
        return refuse(
            Error::IdentityMismatch {
                url: url.to_string(),
                known: known.clone(),
                found: m.id.clone(),
            },
            keep,
            facts,
        );
    }
    if o.old_url_still_serves == Some(true) {
        let keep = ApplicationInstanceStatus {
            observed_generation: obj.metadata.generation,
            conditions: Vec::new(),
            ..old.clone()
        };
        return refuse(
            Error::OldUrlStillServesApplication {
                id: m.id.clone(),
                old_url: old.url.clone().unwrap_or_default(),
                new_url: url.to_string(),
            },
            keep,
            facts,
        );
    }
    if let Some(t) = obj.spec.app_type
        && !t.matches_type_id(&m.type_id)
    {
        return refuse(
            Error::WrongType {
                url: url.to_string(),
                expected: t.type_id().to_string(),
                actual: m.type_id.clone(),
            },
            status,
            facts,
        );
    }
    // The id is recorded even so, so that the other instance sees this one too.
    if let Some((other, other_url)) = o.same_application.first() {
        return refuse(
            Error::DuplicateApplicationId {
                id: m.id.clone(),
                other: other.clone(),
                other_url: other_url.clone(),
            },
            status,
            facts,
        );
    }
    match admin {
        None if cloud => {
            let msg = format!(
                "{} cloud site at {url}: observed only; link ends in a cloud site are made in its own admin UI, and the operator says what to do there",
                m.type_id
            );
            (
                status,
                Verdict::Settled {
                    reason: CLOUD_SITE,
                    message: msg,
                },
                facts,
            )
        }
        None => (
            status,
            Verdict::Settled {
                reason: NOT_ADMINISTERED,
                message: format!("reachable at {url}; no credentials, so links to it are one-way"),
            },
            facts,
        ),
        Some(Ok(who)) => {
            status.administered = Some(true);
            facts.push(Cond::new(
                CREDENTIALS_VALID,
                true,
                ADMIN_CREDENTIALS,
                format!("{who} is an administrator"),
            ));
            let msg = format!(
                "{} {} at {url} is reachable and administered",
                m.type_id, m.id
            );
            (
                status,
                Verdict::Settled {
                    reason: ADMINISTERED,
                    message: msg,
                },
                facts,
            )
        }
        Some(Err(e)) => {
            facts.push(Cond::new(
                CREDENTIALS_VALID,
                false,
                e.reason(),
                e.to_string(),
            ));
            let err = Error::remote(
                format!("checking the administrator credentials for {url}"),
                e,
            );
            (status, Verdict::from_error(&err), facts)
        }
    }
}

fn base_url_condition(url: &str, manifest_url: Option<&str>) -> Cond {
    let norm = |u: &str| u.trim_end_matches('/').to_ascii_lowercase();
    match manifest_url {
        Some(m) if norm(m) != norm(url) => Cond::new(
            BASE_URL_MATCHES,
            false,
            BASE_URL_MISMATCH,
            format!(
                "the application says its base URL is {m}, but spec.url is {url}; peers sign OAuth requests for the URL they call, so links break with signature_invalid behind a proxy. Set the application's base URL to {url}, or use {m} as spec.url"
            ),
        ),
        Some(_) => Cond::new(
            BASE_URL_MATCHES,
            true,
            BASE_URL_MATCHES,
            "the manifest's base URL is spec.url",
        ),
        None => Cond::new(
            BASE_URL_MATCHES,
            true,
            NOT_CHECKED,
            "the manifest does not state a base URL",
        ),
    }
}

fn clock_condition(app: Option<SystemTime>, ours: SystemTime) -> Option<Cond> {
    let app = app?;
    let skew = app
        .duration_since(ours)
        .or_else(|_| ours.duration_since(app))
        .unwrap_or_default();
    // The Date header has a resolution of one second.
    Some(if skew > MAX_CLOCK_SKEW {
        Cond::new(
            CLOCK_IN_SYNC,
            false,
            CLOCK_SKEW,
            format!(
                "the application's clock is {}s off the operator's; OAuth refuses requests more than 5 minutes off (timestamp_refused). Synchronise the clocks (NTP)",
                skew.as_secs()
            ),
        )
    } else {
        Cond::new(
            CLOCK_IN_SYNC,
            true,
            CLOCK_IN_SYNC,
            "the application's clock is within 2 minutes of the operator's",
        )
    })
}
