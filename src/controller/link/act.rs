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
    // Every claim of the plan in one status write, before any remote write: a claim recorded
    // early is harmless (its end is made by this pass or the next), a claim recorded late is not.
    let to_claim: Vec<(End, &str)> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Claim { end, link_id } => Some((*end, link_id.as_str())),
            _ => None,
        })
        .collect();
    if !to_claim.is_empty() {
        failpoint::hit("before-claim");
        claim::record(api, obj, r, claims, &to_claim).await?;
        failpoint::hit("after-claim");
    }
    let mut notes = Notes::default();
    let result = run_steps(obj, api, r, steps, &mut notes).await;
    // One Normal event per pass, whatever the steps were (Warnings are the reporter's).
    notes.publish(ctx, obj).await;
    result
}

async fn run_steps(
    obj: &ApplicationLink,
    api: &Api<ApplicationLink>,
    r: &Resolved,
    steps: &[Step],
    notes: &mut Notes,
) -> Result<Acted, Error> {
    for step in steps.iter().filter(|s| !matches!(s, Step::Claim { .. })) {
        let name = step_name(step);
        failpoint::hit(&format!("before-{name}"));
        let done = execute(obj, api, r, step).await?;
        failpoint::hit(&format!("after-{name}"));
        match done {
            Done::Finalized => return Ok(Acted::Finalized),
            Done::Noted(note) => notes.push(note),
            Done::Recorded => {}
        }
    }
    Ok(Acted::Applied(steps.len()))
}

/// What one step did, for the pass's event.
struct Note {
    reason: &'static str,
    text: String,
    action: &'static str,
}

/// The notes of one pass: published as one event named for the first step's reason.
#[derive(Default)]
struct Notes(Vec<Note>);

impl Notes {
    fn push(&mut self, note: Note) {
        self.0.push(note);
    }

    /// The pass's one event: (reason, message, action), or `None` when nothing was done.
    fn summary(&self) -> Option<(&'static str, String, &'static str)> {
        let first = self.0.first()?;
        let text: Vec<&str> = self.0.iter().map(|n| n.text.as_str()).collect();
        Some((first.reason, text.join("; "), first.action))
    }

    async fn publish(&self, ctx: &Context, obj: &ApplicationLink) {
        if let Some((reason, message, action)) = self.summary() {
            ctx.event(obj, EventType::Normal, reason, &message, action)
                .await;
        }
    }
}

enum Done {
    Noted(Note),
    Recorded,
    Finalized,
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

/// Executes one step other than a claim.
async fn execute(
    obj: &ApplicationLink,
    api: &Api<ApplicationLink>,
    r: &Resolved,
    step: &Step,
) -> Result<Done, Error> {
    let name = obj.name_any();
    let label = |end: End| r.app(end).label.clone();
    let failed = |what: String| move |e| Error::remote(what, e);
    let note;
    match step {
        // Recorded before the steps, all at once (see [`act`]).
        Step::Claim { .. } => return Ok(Done::Recorded),
        Step::Create { end, link } => {
            r.client(*end)?
                .create_link(link)
                .await
                .map_err(failed(format!(
                    "creating the {} end in {}",
                    end.as_str(),
                    label(*end)
                )))?;
            note = (
                reasons::CREATED,
                format!(
                    "created the {} end in {} (link to {} {})",
                    end.as_str(),
                    label(*end),
                    link.type_id,
                    link.rpc_url
                ),
                "Create",
            );
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
            note = (
                reasons::RELOCATED,
                format!(
                    "relocated the {} end in {} to {}",
                    end.as_str(),
                    label(*end),
                    update.rpc_url
                ),
                "Relocate",
            );
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
            note = (
                reasons::PRIMARY_SET,
                format!(
                    "made the {} end the primary link of its type in {}",
                    end.as_str(),
                    label(*end)
                ),
                "Primary",
            );
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
            note = (
                reasons::AUTHENTICATION_CONFIGURED,
                format!(
                    "configured authentication {:?} on the {} end in {}",
                    obj.spec.authentication,
                    end.as_str(),
                    label(*end)
                ),
                "Authenticate",
            );
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
            note = (
                reasons::ALLOWLISTED,
                format!("allowed incoming requests from {url} in {}", label(*end)),
                "Allowlist",
            );
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
            note = (
                reasons::DELETED,
                format!("deleted the {} end in {}", end.as_str(), label(*end)),
                "Delete",
            );
        }
        Step::RemoveFinalizer => {
            finalizer::remove(api, obj, FINALIZER).await?;
            return Ok(Done::Finalized);
        }
    }
    let (reason, text, action) = note;
    info!(link = %name, "{text}");
    Ok(Done::Noted(Note {
        reason,
        text,
        action,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(reason: &'static str, text: &str, action: &'static str) -> Note {
        Note {
            reason,
            text: text.into(),
            action,
        }
    }

    #[test]
    fn one_event_per_pass_named_for_its_first_step() {
        let mut notes = Notes::default();
        assert_eq!(notes.summary(), None, "nothing done, no event");
        notes.push(note(reasons::CREATED, "created the source end", "Create"));
        notes.push(note(reasons::CREATED, "created the target end", "Create"));
        notes.push(note(
            reasons::AUTHENTICATION_CONFIGURED,
            "configured OAuth on the source end",
            "Authenticate",
        ));
        assert_eq!(
            notes.summary(),
            Some((
                reasons::CREATED,
                "created the source end; created the target end; configured OAuth on the source end"
                    .to_string(),
                "Create"
            ))
        );
    }
}
