//! The ExternalApplication's own claims (client: Kubernetes for the writes, the application for
//! the one-time migration): read from status, taken over once from an older operator's
//! annotations where the application confirms them, and recorded before a create.

use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use super::super::claims::{self, Claimant, Held, Standing, legacy};
use super::observe::App;
use crate::crd::{ClientClaim, ExternalApplication, ExternalClaims, LinkClaim};
use crate::errors::Error;

/// The claims in status, and whether the status predates claims (an older operator's).
fn recorded(obj: &ExternalApplication) -> (ExternalClaims, bool) {
    let status = obj.status.as_ref();
    let claims = status.and_then(|s| s.claims.clone());
    let legacy = claims::is_legacy(status.is_some(), claims.is_some());
    (claims.unwrap_or_default(), legacy)
}

/// Whether the object may own anything remote: without a claim nothing was ever made.
pub(super) fn any(obj: &ExternalApplication) -> bool {
    let (claims, legacy) = recorded(obj);
    let annotated = [legacy::OAUTH2_NAME, legacy::OAUTH2_ID, legacy::OAUTH1_LINK]
        .iter()
        .any(|k| obj.annotations().contains_key(*k));
    claims.oauth2.is_some() || claims.oauth1.is_some() || (legacy && annotated)
}

/// The claims of this pass. An older operator's annotations are taken over once, and only what
/// the application confirms: a client name equal to this resource's client name, a client id
/// whose client carries that name, a link id that is the generic link to this resource's URL.
/// Written at once, so later passes never read the annotations again.
pub(super) async fn current(
    obj: &ExternalApplication,
    api: &Api<ExternalApplication>,
    app: &App,
) -> Result<ExternalClaims, Error> {
    let (claims, is_legacy) = recorded(obj);
    if !is_legacy {
        return Ok(claims);
    }
    // The application's clients, only when there is a client id to confirm.
    let clients = match obj.annotations().get(legacy::OAUTH2_ID) {
        Some(_) if obj.spec.oauth2.is_some() => app
            .client
            .list_oauth2_clients()
            .await
            .map_err(|e| {
                Error::remote(format!("listing the OAuth 2.0 clients of {}", app.label), e)
            })?
            .into_iter()
            .map(|c| (c.id, c.name))
            .collect(),
        _ => Vec::new(),
    };
    let claims = take_over(obj, &app.application_id, &clients);
    write(api, &obj.name_any(), &claims).await?;
    tracing::info!(external = %obj.name_any(), ?claims, "took over the claims an older operator kept in annotations");
    Ok(claims)
}

/// What of an older operator's annotations the application confirms (`clients`: the id and
/// name of each OAuth 2.0 client it holds).
fn take_over(
    obj: &ExternalApplication,
    application_id: &str,
    clients: &[(String, String)],
) -> ExternalClaims {
    let ann = obj.annotations();
    let name = obj.client_name();
    let mut claims = ExternalClaims::default();
    if obj.spec.oauth2.is_some() && ann.get(legacy::OAUTH2_NAME) == Some(&name) {
        let id = ann
            .get(legacy::OAUTH2_ID)
            .filter(|id| clients.iter().any(|(i, n)| i == *id && *n == name))
            .cloned();
        claims.oauth2 = Some(ClientClaim {
            application_id: application_id.to_string(),
            name,
            id,
        });
    }
    if let Some(spec) = &obj.spec.oauth1 {
        let own = crate::atlassian::generic_link_id(spec.url.normalized());
        if ann.get(legacy::OAUTH1_LINK) == Some(&own) {
            claims.oauth1 = Some(LinkClaim {
                application_id: application_id.to_string(),
                link_id: own,
            });
        }
    }
    claims
}

/// Records `claims` (already changed by the caller) before the step that needs them.
pub(super) async fn write(
    api: &Api<ExternalApplication>,
    name: &str,
    claims: &ExternalClaims,
) -> Result<(), Error> {
    let patch = json!({"status": {"claims": claims}});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

/// Refuses a thing another object holds: `mine` says whether this resource holds it already
/// (then only an older holder wins).
pub(super) fn check(
    obj: &ExternalApplication,
    others: &[(Held, Claimant)],
    thing: Held,
    mine: bool,
    app: &App,
) -> Result<(), Error> {
    if claims::standing(&Claimant::of(obj), &thing, mine, others) == Standing::Free {
        return Ok(());
    }
    let what = match &thing {
        Held::Link(l) => format!("the generic link {}", l.link_id),
        Held::ClientName { name, .. } => format!("the OAuth 2.0 client name {name:?}"),
        Held::Client { id, .. } => format!("the OAuth 2.0 client {id}"),
    };
    Err(Error::ClaimedElsewhere {
        what,
        application: app.label.clone(),
    })
}

/// The OAuth 2.0 client claim in the application `app`, if any.
pub(super) fn oauth2<'a>(claims: &'a ExternalClaims, app: &App) -> Option<&'a ClientClaim> {
    claims
        .oauth2
        .as_ref()
        .filter(|c| c.application_id == app.application_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn external(oauth1_url: Option<&str>, annotations: &[(&str, &str)]) -> ExternalApplication {
        let spec = match oauth1_url {
            Some(url) => json!({"oauth1": {"url": url}}),
            None => {
                json!({"oauth2": {"redirectUris": ["https://che.example.test/cb"], "scope": "READ"}})
            }
        };
        let mut v = json!({
            "apiVersion": "applinks.io/v1alpha1",
            "kind": "ExternalApplication",
            "metadata": {"name": "che", "namespace": "apps", "annotations": {}},
            "spec": {"instanceRef": {"name": "jira"}, "displayName": "Eclipse Che"},
            "status": {"observedGeneration": 1},
        });
        json_patch::merge(&mut v["spec"], &spec);
        for (k, val) in annotations {
            v["metadata"]["annotations"][*k] = json!(val);
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn take_over_keeps_only_what_the_application_confirms() {
        let clients = vec![
            ("id-che".to_string(), "Eclipse Che".to_string()),
            ("id-victim".to_string(), "Victim".to_string()),
        ];
        let client = |id: Option<&str>| {
            Some(ClientClaim {
                application_id: "app".into(),
                name: "Eclipse Che".into(),
                id: id.map(Into::into),
            })
        };
        let tool = "https://tool.example.test";
        let own_link = crate::atlassian::generic_link_id(tool);
        let cases: Vec<(&str, ExternalApplication, ExternalClaims)> = vec![
            (
                "its own name and the id of the client carrying it",
                external(
                    None,
                    &[
                        (legacy::OAUTH2_NAME, "Eclipse Che"),
                        (legacy::OAUTH2_ID, "id-che"),
                    ],
                ),
                ExternalClaims {
                    oauth2: client(Some("id-che")),
                    oauth1: None,
                },
            ),
            (
                "a forged id of a client with another name: the name only",
                external(
                    None,
                    &[
                        (legacy::OAUTH2_NAME, "Eclipse Che"),
                        (legacy::OAUTH2_ID, "id-victim"),
                    ],
                ),
                ExternalClaims {
                    oauth2: client(None),
                    oauth1: None,
                },
            ),
            (
                "a name that is not this resource's client name: nothing",
                external(
                    None,
                    &[
                        (legacy::OAUTH2_NAME, "Victim"),
                        (legacy::OAUTH2_ID, "id-victim"),
                    ],
                ),
                ExternalClaims::default(),
            ),
            (
                "an id of no client at all: the name only",
                external(
                    None,
                    &[
                        (legacy::OAUTH2_NAME, "Eclipse Che"),
                        (legacy::OAUTH2_ID, "gone"),
                    ],
                ),
                ExternalClaims {
                    oauth2: client(None),
                    oauth1: None,
                },
            ),
            (
                "the generic link to its own URL",
                external(Some(tool), &[(legacy::OAUTH1_LINK, &own_link)]),
                ExternalClaims {
                    oauth2: None,
                    oauth1: Some(LinkClaim {
                        application_id: "app".into(),
                        link_id: own_link.clone(),
                    }),
                },
            ),
            (
                "any other link id: nothing",
                external(Some(tool), &[(legacy::OAUTH1_LINK, "some-other-link")]),
                ExternalClaims::default(),
            ),
        ];
        for (why, obj, want) in cases {
            assert_eq!(take_over(&obj, "app", &clients), want, "{why}");
        }
    }
}
