//! Executing the planned steps, each idempotent.

use kube::api::{Patch, PatchParams};
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};
use serde_json::json;
use tracing::info;

use super::super::Context;
use super::resolve::Resolved;
use super::{FINALIZER, claim_key};
use crate::atlassian::{AllowlistRuleType, NewAllowlistRule};
use crate::crd::ApplicationLink;
use crate::errors::Error;
use crate::planner::{Action as Step, End};

/// Executes one step. Returns true when the finalizer was removed.
pub(super) async fn execute(
    obj: &ApplicationLink,
    ctx: &Context,
    api: &Api<ApplicationLink>,
    r: &Resolved,
    step: &Step,
) -> Result<bool, Error> {
    let name = obj.name_any();
    let label = |end: End| r.app(end).label.clone();
    match step {
        Step::Claim { end, link_id } => {
            let patch = json!({"metadata": {"annotations": {claim_key(*end): link_id}}});
            api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
        }
        Step::Create { end, link } => {
            r.client(*end).create_link(link).await.map_err(|e| {
                Error::remote(
                    format!("creating the {} end in {}", end.as_str(), label(*end)),
                    e,
                )
            })?;
            crate::failpoint::hit("after-create");
            let note = format!(
                "created the {} end in {} (link to {} {})",
                end.as_str(),
                label(*end),
                link.type_id,
                link.rpc_url
            );
            info!(link = %name, "{note}");
            ctx.event(obj, EventType::Normal, "Created", &note, "Create")
                .await;
        }
        Step::Update {
            end,
            link_id,
            update,
        } => {
            r.client(*end)
                .update_link(link_id, update)
                .await
                .map_err(|e| {
                    Error::remote(
                        format!("relocating the {} end in {}", end.as_str(), label(*end)),
                        e,
                    )
                })?;
            let note = format!(
                "relocated the {} end in {} to {}",
                end.as_str(),
                label(*end),
                update.rpc_url
            );
            info!(link = %name, "{note}");
            ctx.event(obj, EventType::Normal, "Relocated", &note, "Relocate")
                .await;
        }
        Step::SetPrimary { end, link_id } => {
            r.client(*end).set_primary(link_id).await.map_err(|e| {
                Error::remote(
                    format!("making the {} end primary in {}", end.as_str(), label(*end)),
                    e,
                )
            })?;
        }
        Step::ConfigureOAuth {
            end,
            link_id,
            config,
        } => {
            r.client(*end)
                .set_oauth_config(link_id, config)
                .await
                .map_err(|e| {
                    Error::remote(
                        format!(
                            "configuring OAuth on the {} end in {}",
                            end.as_str(),
                            label(*end)
                        ),
                        e,
                    )
                })?;
            let note = format!(
                "configured authentication {:?} on the {} end in {}",
                obj.spec.authentication,
                end.as_str(),
                label(*end)
            );
            info!(link = %name, "{note}");
            ctx.event(
                obj,
                EventType::Normal,
                "AuthenticationConfigured",
                &note,
                "Authenticate",
            )
            .await;
        }
        Step::EnsureAllowlist { end, url } => {
            r.client(*end)
                .ensure_allowlist_rule(&NewAllowlistRule::inbound(
                    AllowlistRuleType::DomainName,
                    url.clone(),
                ))
                .await
                .map_err(|e| {
                    Error::remote(
                        format!("adding {url} to the allowlist of {}", label(*end)),
                        e,
                    )
                })?;
            ctx.event(
                obj,
                EventType::Normal,
                "Allowlisted",
                &format!("allowed incoming requests from {url} in {}", label(*end)),
                "Allowlist",
            )
            .await;
        }
        Step::Delete { end, link_id } => {
            r.client(*end).delete_link(link_id).await.map_err(|e| {
                Error::remote(
                    format!("deleting the {} end in {}", end.as_str(), label(*end)),
                    e,
                )
            })?;
            let note = format!("deleted the {} end in {}", end.as_str(), label(*end));
            info!(link = %name, "{note}");
            ctx.event(obj, EventType::Normal, "Deleted", &note, "Delete")
                .await;
        }
        Step::RemoveFinalizer => {
            remove_finalizer(api, obj).await?;
            return Ok(true);
        }
    }
    Ok(false)
}

pub(super) async fn remove_finalizer(
    api: &Api<ApplicationLink>,
    obj: &ApplicationLink,
) -> Result<(), Error> {
    super::super::finalizer::remove(api, obj, FINALIZER).await
}
