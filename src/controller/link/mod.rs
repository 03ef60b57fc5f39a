//! Reconciles `ApplicationLink`: resolve both applications, observe both ends, plan, act, report.

mod act;
mod observe;
mod report;
mod resolve;

use std::sync::Arc;
use std::time::Duration;

use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, ResourceExt};
use tracing::warn;

use super::Context;
use act::{execute, remove_finalizer};
use observe::observe;
use report::report;
use resolve::{check_rules, resolve};

use crate::conditions::{self, Cond, READY, RECONCILING, STALLED};
use crate::crd::{
    ApplicationInstance, ApplicationLink, ApplicationLinkStatus, DeletionPolicy, LinkMode,
};
use crate::errors::Error;
use crate::planner::{self, End, Plan};

pub const FINALIZER: &str = "applinks.io/cleanup";
/// Ownership claims, written before a create (see planner): the link id owned in each app.
pub const CLAIM_SOURCE: &str = "applinks.io/source-link-id";
pub const CLAIM_TARGET: &str = "applinks.io/target-link-id";

pub(super) fn claim_key(end: End) -> &'static str {
    match end {
        End::Source => CLAIM_SOURCE,
        End::Target => CLAIM_TARGET,
    }
}

pub async fn reconcile(obj: Arc<ApplicationLink>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = obj.namespace().unwrap_or_default();
    let name = obj.name_any();
    let key = format!("link/{ns}/{name}");
    let api: Api<ApplicationLink> = Api::namespaced(ctx.client.clone(), &ns);
    let deleting = obj.metadata.deletion_timestamp.is_some();
    tracing::debug!(link = %key, deleting, generation = ?obj.metadata.generation, resource_version = ?obj.resource_version(), "reconcile");
    let has_finalizer = super::finalizer::has(&*obj, FINALIZER);

    if deleting && !has_finalizer {
        return Ok(Action::await_change());
    }
    if deleting && obj.spec.deletion_policy == DeletionPolicy::Orphan {
        // The way out of a blocked deletion: no remote call at all.
        remove_finalizer(&api, &obj).await?;
        ctx.event(
            &*obj,
            EventType::Normal,
            "Orphaned",
            "deletionPolicy Orphan: both link ends were left in the applications",
            "Delete",
        )
        .await;
        return Ok(Action::await_change());
    }
    if !deleting && !has_finalizer {
        // Added, then the same pass goes on: requeueing here would read the object back from
        // a cache that may not have seen the finalizer yet, and add it again.
        super::finalizer::add(&api, &*obj, FINALIZER).await?;
    }

    let old = obj.status.clone().unwrap_or_default();
    let mut status = ApplicationLinkStatus {
        observed_generation: obj.metadata.generation,
        ..old.clone()
    };
    let result = pass(&obj, &ctx, &api, &mut status, deleting).await;
    let (conds, requeue) = match result {
        Ok(Outcome::Done) => return Ok(Action::await_change()),
        Ok(Outcome::Applied(n)) => {
            ctx.metrics.reconciled("ApplicationLink", "applied");
            ctx.backoff.succeeded(&key);
            let msg = format!("applied {n} change(s); verifying");
            (
                vec![
                    Cond::new(READY, false, "Applying", msg.clone()),
                    Cond::new(RECONCILING, true, "Applying", msg),
                ],
                Duration::from_millis(300),
            )
        }
        Ok(Outcome::Observed(ready)) => {
            ctx.metrics.reconciled(
                "ApplicationLink",
                if ready.status { "ok" } else { "not_ready" },
            );
            ctx.backoff.succeeded(&key);
            let mut conds = vec![ready.clone()];
            let resync = ctx.settings.link_resync_interval;
            let requeue = if ready.status {
                resync
            } else {
                // Waiting for the applications' own health to turn: check again soon, with backoff.
                conds.push(Cond::new(
                    RECONCILING,
                    true,
                    ready.reason.clone(),
                    ready.message.clone(),
                ));
                ctx.backoff.failed(&key, None).min(resync)
            };
            (conds, requeue)
        }
        Err(e) => {
            ctx.metrics.reconciled("ApplicationLink", e.reason());
            let delay = ctx.backoff.failed(&key, e.retry_after());
            let (reason, message) = if deleting {
                (
                    "DeletionBlocked".to_string(),
                    format!(
                        "{e}. The finalizer stays until both ends are deleted and verified gone; to leave the ends in the applications and let this resource go, set spec.deletionPolicy: Orphan"
                    ),
                )
            } else {
                (e.reason().to_string(), e.to_string())
            };
            let mut conds = vec![Cond::new(READY, false, reason.clone(), message.clone())];
            if e.is_stalled() && !deleting {
                conds.push(Cond::new(STALLED, true, reason.clone(), message.clone()));
            } else {
                conds.push(Cond::new(
                    RECONCILING,
                    true,
                    reason.clone(),
                    format!("retrying with backoff: {message}"),
                ));
            }
            let last_reason = conditions::find(&old.conditions, READY).map(|c| c.reason.as_str());
            if last_reason != Some(reason.as_str()) {
                ctx.event(
                    &*obj,
                    EventType::Warning,
                    &reason,
                    &message,
                    if deleting { "Delete" } else { "Reconcile" },
                )
                .await;
            }
            warn!(link = %key, reason = %reason, error = %e, "link reconcile failed");
            (conds, delay)
        }
    };
    status.conditions = conditions::merge(
        &old.conditions,
        conds,
        obj.metadata.generation,
        &conditions::now(),
    );
    super::write_status(&api, &name, &old, &status).await?;
    Ok(Action::requeue(requeue))
}

enum Outcome {
    /// Finalizer removed: the object is going away.
    Done,
    /// Changes were made; observe again before reporting.
    Applied(usize),
    /// Nothing to change; the Ready condition from the applications' health.
    Observed(Cond),
}

async fn pass(
    obj: &ApplicationLink,
    ctx: &Context,
    api: &Api<ApplicationLink>,
    status: &mut ApplicationLinkStatus,
    deleting: bool,
) -> Result<Outcome, Error> {
    let ns = obj.namespace().unwrap_or_default();
    let resolved = resolve(obj, ctx, &ns).await?;
    check_rules(obj, &resolved)?;
    let input = observe(obj, &resolved, deleting).await?;
    status.mode = Some(if resolved.two_way() {
        LinkMode::TwoWay
    } else {
        LinkMode::OneWay
    });
    let steps = match planner::plan(&input) {
        Plan::Blocked(planner::Blocker::NotOwned { end, link_id }) => {
            return Err(Error::NotOwned {
                application: resolved.app(end).label.clone(),
                link_id,
            });
        }
        Plan::Blocked(planner::Blocker::IdentityChanged {
            end,
            claimed,
            found,
        }) => {
            return Err(Error::TargetIdentityChanged {
                end: end.as_str(),
                claimed,
                found,
            });
        }
        Plan::Act(steps) => steps,
    };
    if steps.is_empty() {
        return Ok(Outcome::Observed(
            report(obj, &resolved, &input, status).await,
        ));
    }
    let n = steps.len();
    for step in steps {
        if execute(obj, ctx, api, &resolved, &step).await? {
            return Ok(Outcome::Done);
        }
    }
    Ok(Outcome::Applied(n))
}

pub fn error_policy(_obj: Arc<ApplicationLink>, err: &Error, _ctx: Arc<Context>) -> Action {
    // Only Kubernetes API errors reach here; remote failures are handled in reconcile.
    warn!(error = %err, "link reconcile error");
    super::kube_error_requeue(err)
}

/// The links in the instance's namespace that name it as source or target.
pub fn links_of_instance(
    links: &Store<ApplicationLink>,
    instance: &ApplicationInstance,
) -> Vec<ObjectRef<ApplicationLink>> {
    let ns = instance.namespace();
    let name = instance.name_any();
    links
        .state()
        .iter()
        .filter(|l| l.namespace() == ns)
        .filter(|l| {
            l.spec.source.instance_ref.name == name
                || l.spec
                    .target
                    .instance_ref
                    .as_ref()
                    .is_some_and(|t| t.name == name)
        })
        .map(|l| ObjectRef::from_obj(l.as_ref()))
        .collect()
}
