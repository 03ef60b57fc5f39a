//! The link's own claims (client: Kubernetes, for the writes): read from status, migrated once
//! from an older operator's annotations, and recorded before an end is created or adopted.

use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use super::super::claims::legacy;
use super::resolve::Resolved;
use crate::crd::{ApplicationLink, LinkClaim, LinkClaims};
use crate::errors::Error;
use crate::planner::End;

/// The claims in status, and whether the status predates claims (an older operator's).
fn recorded(obj: &ApplicationLink) -> (LinkClaims, bool) {
    let status = obj.status.as_ref();
    let claims = status.and_then(|s| s.claims.clone());
    let legacy = super::super::claims::is_legacy(status.is_some(), claims.is_some());
    (claims.unwrap_or_default(), legacy)
}

/// Whether the object may own anything remote: without a claim nothing was ever made.
pub(super) fn any(obj: &ApplicationLink) -> bool {
    let (claims, legacy) = recorded(obj);
    let annotated = [legacy::SOURCE_LINK, legacy::TARGET_LINK]
        .iter()
        .any(|k| obj.annotations().contains_key(*k));
    claims.source.is_some() || claims.target.is_some() || (legacy && annotated)
}

/// What the claims say about one end.
pub(super) fn of(claims: &LinkClaims, end: End) -> Option<&LinkClaim> {
    match end {
        End::Source => claims.source.as_ref(),
        End::Target => claims.target.as_ref(),
    }
}

fn set(claims: &mut LinkClaims, end: End, claim: LinkClaim) {
    match end {
        End::Source => claims.source = Some(claim),
        End::Target => claims.target = Some(claim),
    }
}

/// The claims of this pass. An older operator's annotation claims are taken over once (the
/// application ids come from the resolved applications) and written at once, so later passes
/// never read the annotations again.
pub(super) async fn current(
    obj: &ApplicationLink,
    api: &Api<ApplicationLink>,
    r: &Resolved,
) -> Result<LinkClaims, Error> {
    let (claims, taken_over) = read(obj, r);
    if taken_over {
        write(api, &obj.name_any(), &claims).await?;
        tracing::info!(link = %obj.name_any(), ?claims, "took over the claims an older operator kept in annotations");
    }
    Ok(claims)
}

/// The claims of this pass without writing anything, and whether they were taken over from
/// an older operator's annotations (then [`current`] records them at once).
pub(super) fn read(obj: &ApplicationLink, r: &Resolved) -> (LinkClaims, bool) {
    let (mut claims, legacy) = recorded(obj);
    if !legacy {
        return (claims, false);
    }
    for (end, key) in [
        (End::Source, legacy::SOURCE_LINK),
        (End::Target, legacy::TARGET_LINK),
    ] {
        if let Some(link_id) = obj.annotations().get(key) {
            set(
                &mut claims,
                end,
                LinkClaim {
                    application_id: r.app(end).id.clone(),
                    link_id: link_id.clone(),
                },
            );
        }
    }
    (claims, true)
}

/// Records that this resource owns each `link_id` in the application of its end, in one write.
pub(super) async fn record(
    api: &Api<ApplicationLink>,
    obj: &ApplicationLink,
    r: &Resolved,
    claims: &mut LinkClaims,
    ends: &[(End, &str)],
) -> Result<(), Error> {
    for (end, link_id) in ends {
        set(
            claims,
            *end,
            LinkClaim {
                application_id: r.app(*end).id.clone(),
                link_id: link_id.to_string(),
            },
        );
    }
    write(api, &obj.name_any(), claims).await
}

/// A merge patch of `status.claims` alone: the rest of the status is written at the end of the
/// pass.
async fn write(api: &Api<ApplicationLink>, name: &str, claims: &LinkClaims) -> Result<(), Error> {
    let patch = json!({"status": {"claims": claims}});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}
