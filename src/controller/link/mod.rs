//! Reconciles `ApplicationLink`: both ends of a link in the real applications.
//!
//! The pipeline, one step per line in [`reconcile`] and [`run`]:
//! 1. finalizer (client: Kubernetes): added first; a deletion with `Orphan` ends here;
//! 2. resolve (client: instance cache, Secrets): both applications and which ends are managed;
//! 3. rules (no client): what only the resolved applications can refuse;
//! 4. observe (client: the applications, read only): both ends and their health;
//! 5. plan (no client): the steps that make the ends what the spec asks ([`crate::planner`]);
//!    with `managementPolicy: Observe` none, only their description (the drift);
//!    a step deleting an end that carries entity links is held without the acknowledgement
//!    (client: the application, read only; [`entity_guard`]);
//! 6. act (client: the applications, Kubernetes): the steps, each idempotent;
//! 7. status (no client): the whole status and the verdict ([`status`]);
//! 8. report (events): conditions, metric, backoff, requeue ([`super::outcome`]);
//! 9. write (client: Kubernetes): the status, only when it changed.
//!
//! A pass that acted observes again before step 7 (the same reads as step 4), so a new link is
//! verified and reported in one pass.
//!
//! Contract: a pass never writes to an application before the end's ownership claim is
//! recorded in the object's status (so a crash cannot orphan or duplicate an end), never touches an end
//! it does not own or another object holds, and never writes to a cloud site.

mod act;
mod claim;
mod entity_guard;
mod observe;
mod resolve;
mod status;

use std::sync::Arc;

use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};

use super::claims::{Claimant, Held};
use super::lookups::Lookups;
use super::{Context, finalizer, outcome, relations, status_patch, steering, tail};
use crate::crd::{
    ApplicationLink, ApplicationLinkStatus, Authentication, DeletionPolicy, LinkClaims,
};
use crate::errors::Error;
use crate::planner::{self, Plan};
use crate::reasons;
use act::Acted;
use outcome::Verdict;
use status::{Pass, Shape};

pub const FINALIZER: &str = "applinks.io/cleanup";

/// How long a link waits for a new instance's first check before it looks again anyway.
const FIRST_CHECK_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

pub async fn reconcile(obj: Arc<ApplicationLink>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = obj.namespace().unwrap_or_default();
    let key = format!("link/{ns}/{}", obj.name_any());
    let running = ctx.metrics.running("ApplicationLink");
    let api: Api<ApplicationLink> = Api::namespaced(ctx.client.clone(), &ns);
    let deleting = obj.metadata.deletion_timestamp.is_some();
    tracing::debug!(link = %key, deleting, generation = ?obj.metadata.generation, "reconcile");
    // Nothing is decided on an instance cache that has not been filled yet.
    ctx.instances_synced.wait("ApplicationInstance").await?;
    if let Some(action) = guard_finalizer(&obj, &ctx, &api).await? {
        ctx.not_ready.forget_object(&*obj);
        return Ok(action);
    }
    let old = obj.status.clone().unwrap_or_default();
    // Paused: no remote call; a deletion waits too, unless it needs none (handled above).
    if steering::is_paused(&obj.metadata) {
        let set = |s: &mut ApplicationLinkStatus, c| s.conditions = c;
        return steering::hold(&ctx, &api, &*obj, &old, &old.conditions, set).await;
    }
    // A resync request runs the whole pass now, with the backoff started afresh.
    let inputs = inputs(&obj, &ctx, &ns);
    let resync = ctx.settings.link_resync_interval;
    if steering::requested(old.last_handled_reconcile_at.as_deref(), &obj.metadata) {
        ctx.backoff.succeeded(&key);
    } else if let Some(action) = status_patch::retry_unwritten(&ctx, &api, &*obj, &key, &old).await
    {
        return Ok(action);
    } else if let Some(wait) = ctx.not_ready.put_off_object(&*obj, inputs, resync) {
        tracing::debug!(link = %key, ?wait, "verified Ready on the same inputs; put off until the resync");
        return Ok(Action::requeue(wait));
    }
    // A new instance's first check wakes this link: a pass before it would only report
    // InstanceNotReady (a status write and a Warning) for a moment. The requeue is a fallback.
    let names = std::iter::once(&obj.spec.source.instance_ref).chain(&obj.spec.target.instance_ref);
    if !deleting
        && names
            .into_iter()
            .any(|r| relations::never_checked(&ctx, &ns, r))
    {
        return Ok(Action::requeue(FIRST_CHECK_WAIT));
    }
    // Never wait for a busy application holding a worker.
    let urls = resolve::application_urls(&obj, &ctx, &ns);
    let _share = match ctx.take_share("ApplicationLink", &*obj, &urls) {
        Ok(ticket) => ticket,
        Err(later) => return Ok(later),
    };

    let (new, mut verdict) = match run(&obj, &ctx, &api, &ns, deleting).await {
        Ok(None) => {
            ctx.not_ready.forget_object(&*obj);
            return Ok(Action::await_change());
        }
        Ok(Some((pass, claims, drift))) => {
            let (mut status, verdict) = status::link_status(&obj, &pass);
            status.claims = Some(claims);
            status.drift = drift;
            (status, verdict)
        }
        // A write conflict (the object changed since it was read) is retried at once by the
        // error policy with a fresh read; it says nothing about the link.
        Err(e) if e.is_conflict() => return Err(e),
        Err(e) => (status::failed_status(&obj), Verdict::from_error(&e)),
    };
    if deleting {
        verdict = verdict.deletion_held("both ends are deleted and verified gone");
    }
    let subject = outcome::Subject {
        obj: &*obj,
        kind: "ApplicationLink",
        key: &key,
        resync: ctx.settings.link_resync_interval,
        action: if deleting { "Delete" } else { "Reconcile" },
        running: &running,
    };
    let facts = drift_condition(&new).into_iter().collect();
    let settled = matches!(verdict, Verdict::Settled { .. });
    let tail = tail::Tail {
        subject,
        api: &api,
        old: &old,
        new,
        verdict,
        facts,
        due: None,
    };
    let (_, _, action) = tail::finish(&ctx, tail).await?;
    // A status kept unwritten is written by the next pass before anything is put off.
    ctx.not_ready
        .settled_object(&*obj, settled.then_some(inputs));
    Ok(action)
}

/// `Drifted` (informational) of an observed link: whether `Manage` would change anything.
fn drift_condition(status: &ApplicationLinkStatus) -> Option<crate::conditions::Cond> {
    let drift = status.drift.as_ref()?;
    Some(if drift.is_empty() {
        crate::conditions::Cond::new(
            reasons::DRIFTED,
            false,
            reasons::IN_SYNC,
            "managementPolicy: Observe; the ends are what this resource says",
        )
    } else {
        crate::conditions::Cond::new(
            reasons::DRIFTED,
            true,
            reasons::DRIFT_FOUND,
            format!(
                "managementPolicy: Observe, nothing is changed; Manage would: {}",
                drift.join("; ")
            ),
        )
    })
}

/// The pass, the claims after it, and (Observe only) the drift.
type Ran = (Pass, LinkClaims, Option<Vec<String>>);

/// What a pass depends on, as a hash: the link's spec, steering annotations and deletion, and
/// what of its instances links depend on. (The Secrets and the applications are read by the
/// pass itself, at the resync.)
fn inputs(obj: &ApplicationLink, ctx: &Context, ns: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    steering::wakes(obj).hash(&mut h);
    obj.metadata.deletion_timestamp.is_some().hash(&mut h);
    relations::instance_fingerprint(ctx, ns, &obj.spec.source.instance_ref).hash(&mut h);
    let target = obj.spec.target.instance_ref.as_ref();
    target
        .map(|r| relations::instance_fingerprint(ctx, ns, r))
        .hash(&mut h);
    h.finish()
}

/// Resolve → claims → rules → observe → plan → act. `None` when the finalizer was removed;
/// else the pass and the claims after it. With `managementPolicy: Observe` the plan is only
/// described (the drift), never acted on.
async fn run(
    obj: &ApplicationLink,
    ctx: &Context,
    api: &Api<ApplicationLink>,
    ns: &str,
    deleting: bool,
) -> Result<Option<Ran>, Error> {
    // Refused before any application is asked; a deletion still goes on (nothing was made).
    if !deleting && obj.spec.authentication == Authentication::OAuth2 {
        return Err(Error::OAuth2LinkNotSupportedYet);
    }
    let resolved = resolve::resolve(obj, &ctx.lookups(), ns).await?;
    let mut claims = claim::current(obj, api, &resolved).await?;
    resolve::check_rules(obj, &resolved)?;
    let others = super::claims::held_by_others(ctx, obj);
    let observed = observe::observe(obj, &resolved, &claims, &others, deleting).await?;
    let observe_only = obj.spec.observe_only();
    let drift = observe_only.then(|| planner::drift(&observed.input));
    let steps = if observe_only {
        Vec::new()
    } else {
        steps(planner::plan(&observed.input), &resolved)?
    };
    entity_guard::check(obj, &resolved, &steps).await?;
    let shape = Shape {
        mode: resolved.mode,
        source_label: resolved.source.label.clone(),
        target_label: resolved.target.label.clone(),
        source_url: resolved.source.url.clone(),
        target_url: resolved.target.url.clone(),
        target_is_bitbucket_cloud: resolved.target.is_bitbucket_cloud(),
    };
    if steps.is_empty() {
        return Ok(Some((Pass::Observed(shape, observed), claims, drift)));
    }
    let n = match act::act(obj, ctx, api, &resolved, &mut claims, &steps).await? {
        Acted::Finalized => return Ok(None),
        Acted::Applied(n) if deleting => {
            return Ok(Some((Pass::Applied(shape, observed, n), claims, None)));
        }
        Acted::Applied(n) => n,
    };
    // Verified in the same pass: both ends and their health are read again, so a link made
    // in one pass is reported Ready with one status write, without an `Applying` status and
    // a second pass. What did not take yet is reported `Applying` and looked at again soon.
    let others = super::claims::held_by_others(ctx, obj);
    let verified = observe::observe(obj, &resolved, &claims, &others, false).await?;
    let settled = self::steps(planner::plan(&verified.input), &resolved)?.is_empty();
    Ok(Some((
        if settled {
            Pass::Observed(shape, verified)
        } else {
            Pass::Applied(shape, verified, n)
        },
        claims,
        None,
    )))
}

/// What a pass would do now, read only: resolve → claims → rules → observe → plan, as [`run`]
/// does, but nothing is written (claims an older operator left in annotations are taken over
/// in memory only). `others`: what the other objects hold. For the `plan` command.
pub async fn preview(
    obj: &ApplicationLink,
    lookups: &Lookups<'_>,
    others: &[(Held, Claimant)],
) -> Result<Preview, Error> {
    let ns = obj.namespace().unwrap_or_default();
    let resolved = resolve::resolve(obj, lookups, &ns).await?;
    let (claims, _) = claim::read(obj, &resolved);
    resolve::check_rules(obj, &resolved)?;
    let deleting = obj.metadata.deletion_timestamp.is_some();
    let observed = observe::observe(obj, &resolved, &claims, others, deleting).await?;
    // Observe: the operator would change nothing.
    let steps = if obj.spec.observe_only() {
        Vec::new()
    } else {
        steps(planner::plan(&observed.input), &resolved)?
    };
    Ok(Preview {
        source: resolved.source.label.clone(),
        target: resolved.target.label.clone(),
        steps,
    })
}

/// A link's pending steps, with how users name its two applications.
#[derive(Debug)]
pub struct Preview {
    pub source: String,
    pub target: String,
    pub steps: Vec<planner::Step>,
}

/// The plan's steps, or the error that says why nothing may be done.
fn steps(plan: Plan, resolved: &resolve::Resolved) -> Result<Vec<planner::Step>, Error> {
    match plan {
        Plan::Act(steps) => Ok(steps),
        Plan::Blocked(planner::Blocker::NotOwned { end, link_id }) => Err(Error::NotOwned {
            application: resolved.app(end).label.clone(),
            link_id,
        }),
        Plan::Blocked(planner::Blocker::ClaimedElsewhere { end, link_id }) => {
            Err(Error::ClaimedElsewhere {
                what: format!("the {} end (link {link_id})", end.as_str()),
                application: resolved.app(end).label.clone(),
            })
        }
        Plan::Blocked(planner::Blocker::IdentityChanged {
            end,
            claimed,
            found,
        }) => Err(Error::TargetIdentityChanged {
            end: end.as_str(),
            claimed,
            found,
        }),
    }
}

/// The finalizer, or the end of a deletion that needs no remote call ([`finalizer::guard`]).
async fn guard_finalizer(
    obj: &ApplicationLink,
    ctx: &Context,
    api: &Api<ApplicationLink>,
) -> Result<Option<Action>, Error> {
    let guard = finalizer::Guard {
        finalizer: FINALIZER,
        // An observed link is never written to, its deletion included (the CRD asks for
        // Orphan too; this holds for objects admitted under an older CRD).
        orphan: obj.spec.deletion_policy == DeletionPolicy::Orphan || obj.spec.observe_only(),
        orphan_note: "deletionPolicy Orphan: both link ends were left in the applications",
        claimed: claim::any(obj),
    };
    finalizer::guard(obj, ctx, api, guard).await
}

pub fn error_policy(_obj: Arc<ApplicationLink>, err: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(error = %err, "link reconcile error");
    super::kube_error_requeue(err)
}
