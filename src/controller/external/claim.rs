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
    let (mut claims, is_legacy) = recorded(obj);
    if !is_legacy {
        return Ok(claims);
    }
    let ann = obj.annotations();
    let name = obj.client_name();
    if obj.spec.oauth2.is_some() && ann.get(legacy::OAUTH2_NAME) == Some(&name) {
        let id = match ann.get(legacy::OAUTH2_ID) {
            Some(id) => app
                .client
                .list_oauth2_clients()
                .await
                .map_err(|e| {
                    Error::remote(format!("listing the OAuth 2.0 clients of {}", app.label), e)
                })?
                .into_iter()
                .find(|c| &c.id == id && c.name == name)
                .map(|c| c.id),
            None => None,
        };
        claims.oauth2 = Some(ClientClaim {
            application_id: app.application_id.clone(),
            name,
            id,
        });
    }
    if let Some(spec) = &obj.spec.oauth1 {
        let own = super::super::link_id_of_url(spec.url.normalized());
        if ann.get(legacy::OAUTH1_LINK) == Some(&own) {
            claims.oauth1 = Some(LinkClaim {
                application_id: app.application_id.clone(),
                link_id: own,
            });
        }
    }
    write(api, &obj.name_any(), &claims).await?;
    tracing::info!(external = %obj.name_any(), ?claims, "took over the claims an older operator kept in annotations");
    Ok(claims)
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
