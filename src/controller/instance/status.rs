//! The instance's whole status from what was observed (no client required; table-tested).

use std::time::{Duration, SystemTime};

use kube::ResourceExt;

use super::observe::{AdminCheck, Observation, Relocation};
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
    let cloud = obj.spec.is_cloud();
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
        held_secret: None,
        // Read only with administrator credentials (below).
        inventory: None,
        // Set by the pass (it echoes the resync request it handled).
        last_handled_reconcile_at: None,
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
    // Identity: once known (or pinned in spec), an application id never changes; another id at
    // the URL is another application and is refused without recording anything of it (and no
    // credentials were sent to it: see observe).
    if let Some(known) = super::observe::pinned_id(obj)
        && known != m.id
    {
        let keep = ApplicationInstanceStatus {
            observed_generation: obj.metadata.generation,
            conditions: Vec::new(),
            ..old.clone()
        };
        return refuse(
            Error::IdentityMismatch {
                url: url.to_string(),
                known: known.to_string(),
                found: m.id.clone(),
            },
            keep,
            facts,
        );
    }
    let keep = || ApplicationInstanceStatus {
        observed_generation: obj.metadata.generation,
        conditions: Vec::new(),
        ..old.clone()
    };
    match &o.relocation {
        Some(Relocation::StillServes) => {
            return refuse(
                Error::OldUrlStillServesApplication {
                    id: m.id.clone(),
                    old_url: old.url.clone().unwrap_or_default(),
                    new_url: url.to_string(),
                },
                keep(),
                facts,
            );
        }
        Some(Relocation::Unconfirmed { old_url, detail }) => {
            return refuse(
                Error::RelocationUnconfirmed {
                    id: m.id.clone(),
                    old_url: old_url.clone(),
                    new_url: url.to_string(),
                    detail: crate::conditions::truncate(detail, 300),
                },
                keep(),
                facts,
            );
        }
        Some(Relocation::Moved(why)) => {
            tracing::info!(instance = %obj.name_any(), why = %why, "relocation proven");
        }
        None => {}
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
        Some(AdminCheck {
            who,
            result: Ok(()),
        }) => {
            status.administered = Some(true);
            match o.inventory {
                Some(inv) => {
                    let (inventory, cond) = super::inventory::build(
                        inv.read,
                        &inv.managers,
                        old.inventory.as_ref(),
                        k8s_openapi::jiff::Timestamp::now(),
                    );
                    status.inventory = Some(inventory);
                    facts.push(cond);
                }
                // Not read in this check (a recent read failed): as it was.
                None => {
                    status.inventory = old.inventory.clone();
                    facts.extend(super::inventory::kept_condition(&old.conditions));
                }
            }
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
        Some(AdminCheck {
            who,
            result: Err(e),
        }) => {
            let err = Error::remote(
                format!("checking the administrator credentials ({who}) for {url}"),
                e,
            );
            facts.push(Cond::new(
                CREDENTIALS_VALID,
                false,
                err.reason(),
                err.to_string(),
            ));
            (status, Verdict::from_error(&err), facts)
        }
    }
}

fn base_url_condition(url: &str, manifest_url: Option<&str>) -> Cond {
    match manifest_url {
        Some(m) if !crate::crd::same_url(m, url) => Cond::new(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atlassian::{ApiError, Manifest};

    const ID: &str = "6b49910b-9513-3e59-9af1-7d75d31d5c54";

    fn instance(url: &str, known: Option<(&str, &str)>) -> ApplicationInstance {
        let mut i: ApplicationInstance = serde_yaml::from_str(&format!(
            "apiVersion: applinks.io/v1alpha1\nkind: ApplicationInstance\nmetadata: {{name: jira}}\nspec: {{url: '{url}', type: jira}}\n"
        ))
        .unwrap();
        i.metadata.generation = Some(2);
        i.status = known.map(|(url, id)| ApplicationInstanceStatus {
            url: Some(url.into()),
            application_id: Some(id.into()),
            ..Default::default()
        });
        i
    }

    fn observation(id: &str, manifest_url: &str) -> Observation {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        Observation {
            manifest: Manifest {
                id: id.into(),
                name: "Jira".into(),
                type_id: "jira".into(),
                url: Some(manifest_url.into()),
                ..Default::default()
            },
            app_clock: Some(now),
            our_clock: now,
            admin: Some(AdminCheck {
                who: "basic auth as \"admin\"".into(),
                result: Ok(()),
            }),
            relocation: None,
            same_application: Vec::new(),
            inventory: None,
        }
    }

    fn fact<'a>(facts: &'a [Cond], type_: &str) -> Option<&'a Cond> {
        facts.iter().find(|c| c.type_ == type_)
    }

    #[test]
    fn table() {
        let url = "https://jira.example.test";
        let rejected = || ApiError::Unauthorized {
            url: url.into(),
            message: None,
        };
        type Case = (
            &'static str,
            ApplicationInstance,
            Result<Observation, Error>,
            &'static str,
            bool,
            Option<&'static str>,
        );
        let cases: Vec<Case> = vec![
            (
                "administered",
                instance(url, None),
                Ok(observation(ID, url)),
                ADMINISTERED,
                true,
                Some(url),
            ),
            (
                "no credentials: usable, links one-way",
                instance(url, None),
                Ok(Observation {
                    admin: None,
                    ..observation(ID, url)
                }),
                NOT_ADMINISTERED,
                true,
                Some(url),
            ),
            (
                "another application at the URL: refused, old identity kept",
                instance(url, Some((url, "11111111-1111-1111-1111-111111111111"))),
                Ok(observation(ID, url)),
                "IdentityMismatch",
                false,
                Some(url),
            ),
            (
                "a clone: the old URL still serves the id",
                instance("https://staging.example.test", Some((url, ID))),
                Ok(Observation {
                    relocation: Some(Relocation::StillServes),
                    ..observation(ID, "https://staging.example.test")
                }),
                "OldUrlStillServesApplication",
                false,
                Some(url),
            ),
            (
                "a move: the old URL does not serve it any more",
                instance("https://new.example.test", Some((url, ID))),
                Ok(Observation {
                    relocation: Some(Relocation::Moved("gone".into())),
                    ..observation(ID, "https://new.example.test")
                }),
                ADMINISTERED,
                true,
                Some("https://new.example.test"),
            ),
            (
                "an outage at the old URL proves no move: refused, retried, old URL kept",
                instance("https://new.example.test", Some((url, ID))),
                Ok(Observation {
                    relocation: Some(Relocation::Unconfirmed {
                        old_url: url.into(),
                        detail: "timed out".into(),
                    }),
                    admin: None,
                    ..observation(ID, "https://new.example.test")
                }),
                "RelocationUnconfirmed",
                false,
                Some(url),
            ),
            (
                "two instances of one application",
                instance(url, None),
                Ok(Observation {
                    same_application: vec![("ns/jira-2".into(), "https://other".into())],
                    ..observation(ID, url)
                }),
                "DuplicateApplicationId",
                false,
                Some(url),
            ),
            (
                "credentials rejected",
                instance(url, None),
                Ok(Observation {
                    admin: Some(AdminCheck {
                        who: "basic auth as \"admin\" (Secret jira-admin)".into(),
                        result: Err(rejected()),
                    }),
                    ..observation(ID, url)
                }),
                "CredentialsRejected",
                false,
                Some(url),
            ),
            (
                "unreachable: retried, nothing recorded",
                instance(url, None),
                Err(Error::remote(
                    "reading the manifest",
                    ApiError::Unreachable {
                        url: url.into(),
                        detail: "refused".into(),
                    },
                )),
                "Unreachable",
                false,
                None,
            ),
        ];
        for (why, obj, observed, reason, ready, recorded_url) in cases {
            let (status, verdict, _) = instance_status(&obj, observed);
            assert_eq!(verdict.reason(), reason, "{why}");
            assert_eq!(matches!(verdict, Verdict::Settled { .. }), ready, "{why}");
            assert_eq!(status.url.as_deref(), recorded_url, "{why}");
            assert_eq!(status.observed_generation, Some(2), "{why}");
        }
    }

    #[test]
    fn warnings_do_not_stop_the_instance() {
        let url = "https://jira.example.test";
        let mut o = observation(ID, "http://jira.internal:8080");
        o.app_clock = Some(o.our_clock + Duration::from_secs(180));
        let (_, verdict, facts) = instance_status(&instance(url, None), Ok(o));
        assert!(matches!(verdict, Verdict::Settled { .. }));
        let base = fact(&facts, BASE_URL_MATCHES).unwrap();
        assert!(!base.status && base.reason == BASE_URL_MISMATCH);
        assert!(
            base.message.contains("http://jira.internal:8080"),
            "{}",
            base.message
        );
        let clock = fact(&facts, CLOCK_IN_SYNC).unwrap();
        assert!(!clock.status && clock.reason == CLOCK_SKEW);
        assert!(clock.message.contains("180s"), "{}", clock.message);

        let (_, _, facts) = instance_status(&instance(url, None), Ok(observation(ID, url)));
        assert!(fact(&facts, BASE_URL_MATCHES).unwrap().status);
        assert!(fact(&facts, CLOCK_IN_SYNC).unwrap().status);
    }

    #[test]
    fn a_cloud_site_is_observed_not_administered() {
        let url = "https://acme.atlassian.net";
        let o = Observation {
            admin: None,
            ..observation(ID, url)
        };
        let (status, verdict, _) = instance_status(&instance(url, None), Ok(o));
        assert_eq!(verdict.reason(), CLOUD_SITE);
        assert_eq!(status.cloud, Some(true));
        assert_eq!(status.administered, Some(false));
    }
}
