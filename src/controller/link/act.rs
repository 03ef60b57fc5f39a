//! Executing the planned steps (client required), each idempotent. Every step that changes
//! something has a failpoint before and after it (`before-<step>`, `after-<step>`), for the
//! crash tests.

use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};
use tracing::info;

use super::super::{Context, finalizer};
use super::resolve::Resolved;
use super::{FINALIZER, claim};
use crate::atlassian::{AllowlistRuleType, NewAllowlistRule};
use crate::crd::{ApplicationLink, LinkClaims};
use crate::errors::Error;
use crate::failpoint;
use crate::planner::{End, Step};
use crate::reasons;

/// What acting did.
pub(super) enum Acted {
    /// This many steps were applied; observe again before reporting Ready.
    Applied(usize),
    /// The finalizer was removed: the object is going away.
    Finalized,
}

pub(super) async fn act(
    obj: &ApplicationLink,
    ctx: &Context,
    api: &Api<ApplicationLink>,
    r: &Resolved,
    claims: &mut LinkClaims,
    steps: &[Step],
) -> Result<Acted, Error> {
    for step in steps {
        let name = step_name(step);
        failpoint::hit(&format!("before-{name}"));
        let finalized = execute(obj, ctx, api, r, claims, step).await?;
        failpoint::hit(&format!("after-{name}"));
        if finalized {
            return Ok(Acted::Finalized);
        }
    }
    Ok(Acted::Applied(steps.len()))
}

fn step_name(step: &Step) -> &'static str {
    match step {
        Step::Claim { .. } => "claim",
        Step::Create { .. } => "create",
        Step::Update { .. } => "relocate",
        Step::SetPrimary { .. } => "primary",
        Step::ConfigureOAuth { .. } => "oauth",
        Step::EnsureAllowlist { .. } => "allowlist",
        Step::Delete { .. } => "delete",
        Step::RemoveFinalizer => "finalizer-removal",
    }
}

/// Executes one step. Returns true when the finalizer was removed.
async fn execute(
    obj: &ApplicationLink,
    ctx: &Context,
    api: &Api<ApplicationLink>,
    r: &Resolved,
    claims: &mut LinkClaims,
    step: &Step,
) -> Result<bool, Error> {
    let name = obj.name_any();
    let label = |end: End| r.app(end).label.clone();
    let failed = |what: String| move |e| Error::remote(what, e);
    let mut note = None;
    match step {
        Step::Claim { end, link_id } => {
            claim::record(api, obj, r, claims, *end, link_id).await?;
        }
        Step::Create { end, link } => {
            r.client(*end)?
                .create_link(link)
                .await
                .map_err(failed(format!(
                    "creating the {} end in {}",
                    end.as_str(),
                    label(*end)
                )))?;
            note = Some((
                reasons::CREATED,
                format!(
                    "created the {} end in {} (link to {} {})",
                    end.as_str(),
                    label(*end),
                    link.type_id,
                    link.rpc_url
                ),
                "Create",
            ));
        }
        Step::Update {
            end,
            link_id,
            update,
        } => {
            r.client(*end)?
                .update_link(link_id, update)
                .await
                .map_err(failed(format!(
                    "relocating the {} end in {}",
                    end.as_str(),
                    label(*end)
                )))?;
            note = Some((
                reasons::RELOCATED,
                format!(
                    "relocated the {} end in {} to {}",
                    end.as_str(),
                    label(*end),
                    update.rpc_url
                ),
                "Relocate",
            ));
        }
        Step::SetPrimary { end, link_id } => {
            r.client(*end)?
                .set_primary(link_id)
                .await
                .map_err(failed(format!(
                    "making the {} end primary in {}",
                    end.as_str(),
                    label(*end)
                )))?;
            note = Some((
                reasons::PRIMARY_SET,
                format!(
                    "made the {} end the primary link of its type in {}",
                    end.as_str(),
                    label(*end)
                ),
                "Primary",
            ));
        }
        Step::ConfigureOAuth {
            end,
            link_id,
            config,
        } => {
            r.client(*end)?
                .set_oauth_config(link_id, config)
                .await
                .map_err(failed(format!(
                    "configuring OAuth on the {} end in {}",
                    end.as_str(),
                    label(*end)
                )))?;
            note = Some((
                reasons::AUTHENTICATION_CONFIGURED,
                format!(
                    "configured authentication {:?} on the {} end in {}",
                    obj.spec.authentication,
                    end.as_str(),
                    label(*end)
                ),
                "Authenticate",
            ));
        }
        Step::EnsureAllowlist { end, url } => {
            r.client(*end)?
                .ensure_allowlist_rule(&NewAllowlistRule::inbound(
                    AllowlistRuleType::DomainName,
                    url.clone(),
                ))
                .await
                .map_err(failed(format!(
                    "adding {url} to the allowlist of {}",
                    label(*end)
                )))?;
            note = Some((
                reasons::ALLOWLISTED,
                format!("allowed incoming requests from {url} in {}", label(*end)),
                "Allowlist",
            ));
        }
        Step::Delete { end, link_id } => {
            r.client(*end)?
                .delete_link(link_id)
                .await
                .map_err(failed(format!(
                    "deleting the {} end in {}",
                    end.as_str(),
                    label(*end)
                )))?;
            note = Some((
                reasons::DELETED,
                format!("deleted the {} end in {}", end.as_str(), label(*end)),
                "Delete",
            ));
        }
        Step::RemoveFinalizer => {
            finalizer::remove(api, obj, FINALIZER).await?;
            return Ok(true);
        }
    }
    if let Some((reason, note, action)) = note {
        info!(link = %name, "{note}");
        ctx.event(obj, EventType::Normal, reason, &note, action)
            .await;
    }
    Ok(false)
}
