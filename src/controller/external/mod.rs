//! Reconciles `ExternalApplication`: an incoming OAuth 2.0 client in one application, and the
//! Secret that hands its credentials to the tool.
//!
//! The pipeline, one step per line in [`reconcile`] and [`run`]:
//! 1. finalizer (client: Kubernetes): added first; a deletion with `Orphan` ends here;
//! 2. resolve (client: instance cache, Secrets): the application and its admin client;
//! 3. rules (client: the application's provider metadata, read only): provider present, scope
//!    offered, template renderable, the Secret's name free or ours;
//! 4. observe (client: the application, Kubernetes; read only): the client and the Secret;
//! 5. plan (no client): the steps ([`plan`]);
//! 6. act (client: the application, Kubernetes): the steps, in order;
//! 7. status (no client): the whole status and the verdict ([`status`]);
//! 8. report and write, as for links.
//!
//! Contract: the claim (the client's name) is recorded in the object's status before a create,
//! so a crash between the create and recording its id finds the client by that name instead of
//! making a second one; a client or Secret this resource does not own, or another object holds,
//! is never changed.

mod act;
mod claim;
mod consumer;
mod observe;
mod plan;
mod secret;
mod status;
mod template;

use std::sync::Arc;

use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};

use super::{Context, finalizer, outcome, status_patch, steering, tail};
use crate::crd::{ClientView, DeletionPolicy, ExternalApplication, ExternalApplicationStatus};
use crate::errors::Error;
use outcome::Verdict;

pub const FINALIZER: &str = "applinks.io/cleanup";
/// Set to a new value to issue a new client secret.
pub const ROTATE: &str = "applinks.io/rotate";

pub async fn reconcile(obj: Arc<ExternalApplication>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = obj.namespace().unwrap_or_default();
    let key = format!("external/{ns}/{}", obj.name_any());
    let running = ctx.metrics.running("ExternalApplication");
    let api: Api<ExternalApplication> = Api::namespaced(ctx.client.clone(), &ns);
    let deleting = obj.metadata.deletion_timestamp.is_some();
    tracing::debug!(external = %key, deleting, generation = ?obj.metadata.generation, "reconcile");
    // The instance it names is read from the instance cache: not before it is filled.
    ctx.instances_synced.wait("ApplicationInstance").await?;
    if let Some(action) = guard_finalizer(&obj, &ctx, &api).await? {
        ctx.not_ready.forget_object(&*obj);
        return Ok(action);
    }
    // Paused: no remote call; a deletion waits too, unless it needs none (handled above).
    if steering::is_paused(&obj.metadata) {
        let old = obj.status.clone().unwrap_or_default();
        let set = |s: &mut ExternalApplicationStatus, c| s.conditions = c;
        return steering::hold(&ctx, &api, &*obj, &old, &old.conditions, set).await;
    }
    // Never wait for a busy application holding a worker.
    let urls: Vec<String> = super::relations::instance_url(&ctx, &ns, &obj.spec.instance_ref)
        .into_iter()
        .collect();
    let _share = match ctx.take_share("ExternalApplication", &*obj, &urls) {
        Ok(ticket) => ticket,
        Err(later) => return Ok(later),
    };
    let old = obj.status.clone().unwrap_or_default();
    // A resync request runs the whole pass now, with the backoff started afresh.
    if steering::requested(old.last_handled_reconcile_at.as_deref(), &obj.metadata) {
        ctx.backoff.succeeded(&key);
    } else if let Some(action) = status_patch::retry_unwritten(&ctx, &api, &*obj, &key, &old).await
    {
        return Ok(action);
    }
    let now = k8s_openapi::jiff::Timestamp::now();
    let (new, mut verdict, due) = match run(&obj, &ctx, &api, &ns, deleting, now).await {
        Ok(None) => {
            ctx.not_ready.forget_object(&*obj);
            return Ok(Action::await_change());
        }
        Ok(Some(pass)) => status::of(&obj, &pass, now),
        Err(e) if e.is_conflict() => return Err(e),
        Err(e) => (status::failed(&obj), Verdict::from_error(&e), None),
    };
    if deleting {
        verdict =
            verdict.deletion_held("the client is deleted in the application and verified gone");
    }
    let subject = outcome::Subject {
        obj: &*obj,
        kind: "ExternalApplication",
        key: &key,
        resync: ctx.settings.link_resync_interval,
        action: if deleting { "Delete" } else { "Reconcile" },
        running: &running,
    };
    let tail = tail::Tail {
        subject,
        api: &api,
        old: &old,
        new,
        verdict,
        facts: Vec::new(),
        due,
    };
    Ok(tail::finish(&ctx, tail).await?.2)
}

/// Resolve → rules → observe → plan → act. `None` when the finalizer was removed.
async fn run(
    obj: &ExternalApplication,
    ctx: &Context,
    api: &Api<ExternalApplication>,
    ns: &str,
    deleting: bool,
    now: k8s_openapi::jiff::Timestamp,
) -> Result<Option<status::Pass>, Error> {
    let app = observe::resolve(obj, ctx, ns).await?;
    let mut claims = claim::current(obj, api, &app).await?;
    let others = super::claims::held_by_others(ctx, obj);
    let here = act::Here {
        ctx,
        api,
        ns,
        app: &app,
        others: &others,
    };
    let oauth2 = match (&obj.spec.oauth2, &obj.spec.oauth1) {
        (Some(oauth2), None) => oauth2,
        (None, Some(oauth1)) => {
            if deleting {
                consumer::delete(obj, oauth1, &here, &claims).await?;
                return Ok(None);
            }
            return consumer::pass(obj, oauth1, &here, &mut claims, now)
                .await
                .map(Some);
        }
        _ => {
            return Err(Error::InvalidSpec(
                "set exactly one of spec.oauth2 or spec.oauth1 (the CRD installed in this cluster is older than the operator: upgrade it)".into(),
            ));
        }
    };
    if deleting {
        act::delete(obj, ctx, api, &app, &claims, &others).await?;
        return Ok(None);
    }
    let rules = observe::check_rules(obj, oauth2, &app).await?;
    let observed = observe::observe(obj, oauth2, &here, &rules, &claims, now).await?;
    observe::check_claims(obj, &app, &claims, &others, &observed)?;
    let steps = match plan::plan(&observed.desired, &observed.plan_input) {
        plan::Plan::Act(steps) => steps,
        plan::Plan::NameTaken { id } => {
            return Err(Error::ClientNameTaken {
                name: observed.desired.name.clone(),
                id,
                application: app.label.clone(),
            });
        }
    };
    let acted = act::act(obj, oauth2, &here, &rules, &observed, &steps, &mut claims).await?;
    let client = acted.client;
    Ok(Some(status::Pass {
        app_label: app.label,
        settled: format!(
            "OAuth 2.0 client {} has scope {}; its credentials are in Secret {}",
            client.client_id, oauth2.scope, observed.secret_name
        ),
        client_id: client.client_id.clone(),
        view: ClientView {
            id: client.id,
            name: client.name,
            redirect_uris: client.redirects,
            scope: client.scope,
        },
        secret_name: observed.secret_name,
        // A secret kept from an earlier pass and written now counts as issued by this one.
        issued: acted.issued || observed.kept.is_some(),
        rotated: steps.rotate.is_some() || observed.kept.as_ref().is_some_and(|k| k.rotated),
        rotate_request: observed.rotate_request,
        changes: acted.changes,
        claims,
    }))
}

/// The finalizer, or the end of a deletion that needs no remote call ([`finalizer::guard`]).
async fn guard_finalizer(
    obj: &ExternalApplication,
    ctx: &Context,
    api: &Api<ExternalApplication>,
) -> Result<Option<Action>, Error> {
    let guard = finalizer::Guard {
        finalizer: FINALIZER,
        orphan: obj.spec.deletion_policy == DeletionPolicy::Orphan,
        orphan_note: if obj.spec.oauth1.is_some() {
            "deletionPolicy Orphan: the generic link and its consumer were left in the application; the Secret goes with this resource"
        } else {
            "deletionPolicy Orphan: the OAuth 2.0 client was left in the application; the Secret goes with this resource"
        },
        claimed: claim::any(obj),
    };
    finalizer::guard(obj, ctx, api, guard).await
}

pub fn error_policy(_obj: Arc<ExternalApplication>, err: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(error = %err, "external application reconcile error");
    super::kube_error_requeue(err)
}

/// What wakes a reconcile: a spec change (generation), a new `applinks.io/rotate` value or a
/// steering annotation ([`super::steering`]); not
/// the operator's own status and claim writes (that would bypass the backoff).
pub fn wakes(obj: &ExternalApplication) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    obj.metadata.generation.hash(&mut h);
    obj.annotations().get(ROTATE).hash(&mut h);
    super::steering::steering_fingerprint(&obj.metadata, &mut h);
    Some(h.finish())
}
