//! Reconciles `ApplicationInstance` and the shared `ClusterApplicationInstance` (one pipeline:
//! the cluster kind is seen as an instance whose Secrets live in the operator's namespace):
//! reads the manifest, verifies type and identity, checks that the credentials are an
//! administrator's, and records all of it in status.
//!
//! The pipeline, one step per line in [`reconcile`]:
//! 1. finalizer (client): kept while links use the instance;
//! 2. access (client: Kubernetes): credentials and CA bundle from Secrets/ConfigMaps;
//! 3. observe (client: the application): manifest, clock, admin check, old URL, duplicates,
//!    and the inventory of every link it holds (read only, bounded: see `inventory`);
//! 4. status (no client): the whole status, the verdict and the instance's own conditions;
//! 5. report (no client, but events): conditions, metric, backoff, requeue, one event rule;
//! 6. write (client: Kubernetes): the status, only when it changed.

mod inventory;
mod observe;
mod secret_hold;
mod status;

use std::sync::Arc;

use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};

use super::lookups::Lookups;
use super::relations::{self, IN_USE_FINALIZER};
use super::{Context, finalizer, outcome, status_patch, steering, tail};
use crate::conditions;
use crate::crd::{ApplicationInstance, ApplicationInstanceStatus, ClusterApplicationInstance};
use crate::errors::Error;
use crate::reasons;

/// While links still use an instance being deleted, look again from the local cache this often.
const IN_USE_RECHECK: std::time::Duration = std::time::Duration::from_secs(2);

/// The condition type 0.1.0 wrote for a held deletion (now `Terminating`),
/// dropped when the condition is written again.
const LEGACY_DELETION_BLOCKED: &str = "DeletionBlocked";

/// An instance of either scope, as one pass handles it.
struct Subject<'a, K> {
    /// The object itself (finalizers, events, status writes).
    obj: &'a K,
    api: Api<K>,
    kind: &'static str,
    /// The object as an ApplicationInstance in the namespace its Secrets live in.
    view: &'a ApplicationInstance,
    /// Who uses it (links and ExternalApplications), for the in-use finalizer.
    users: Vec<String>,
}

pub async fn reconcile(obj: Arc<ApplicationInstance>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = obj.namespace().unwrap_or_default();
    // Which links and external applications use this instance is read from their caches: not
    // before they are filled.
    ctx.links_synced.wait("ApplicationLink").await?;
    ctx.externals_synced.wait("ExternalApplication").await?;
    let mut users: Vec<String> = relations::links_of_instance(&ctx.links, &obj)
        .into_iter()
        .map(|r| r.name)
        .collect();
    users.extend(
        relations::externals_of_instance(&ctx.externals, &obj)
            .into_iter()
            .map(|r| format!("ExternalApplication {}", r.name)),
    );
    let subject = Subject {
        obj: &*obj,
        api: Api::namespaced(ctx.client.clone(), &ns),
        kind: "ApplicationInstance",
        view: &obj,
        users,
    };
    pass(subject, &ctx).await
}

/// A shared ClusterApplicationInstance: the same pass, its Secrets in the operator's namespace,
/// used by links and ExternalApplications of any namespace.
pub async fn reconcile_cluster(
    obj: Arc<ClusterApplicationInstance>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    ctx.links_synced.wait("ApplicationLink").await?;
    ctx.externals_synced.wait("ExternalApplication").await?;
    let name = obj.name_any();
    let mut users: Vec<String> = relations::links_of_cluster_instance(&ctx.links, &name)
        .into_iter()
        .map(|r| format!("{}/{}", r.namespace.unwrap_or_default(), r.name))
        .collect();
    users.extend(
        relations::externals_of_cluster_instance(&ctx.externals, &name)
            .into_iter()
            .map(|r| {
                let ns = r.namespace.unwrap_or_default();
                format!("ExternalApplication {ns}/{}", r.name)
            }),
    );
    let view = relations::cluster_view(&obj, &ctx.settings.cluster_resource_namespace);
    let subject = Subject {
        obj: &*obj,
        api: Api::all(ctx.client.clone()),
        kind: "ClusterApplicationInstance",
        view: &view,
        users,
    };
    pass(subject, &ctx).await
}

async fn pass<K>(subject: Subject<'_, K>, ctx: &Context) -> Result<Action, Error>
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let Subject {
        obj,
        api,
        kind,
        view,
        users,
    } = subject;
    let key = observe::key(kind, obj);
    if let Some(action) = guard_finalizer(obj, view, ctx, &api, users).await? {
        ctx.not_ready.forget_object(obj);
        return Ok(action);
    }
    let old = view.status.clone().unwrap_or_default();
    // Paused: no remote call. (A deletion never needs one: the guard above handled it.)
    if steering::is_paused(obj.meta()) {
        let set = |s: &mut ApplicationInstanceStatus, c| s.conditions = c;
        return steering::hold(ctx, &api, obj, &old, &old.conditions, set).await;
    }
    // A resync request runs the whole check now, with the backoff started afresh.
    let requested = steering::requested(old.last_handled_reconcile_at.as_deref(), obj.meta());
    if requested {
        ctx.backoff.succeeded(&key);
    } else if let Some(action) = status_patch::retry_unwritten(ctx, &api, obj, &key, &old).await {
        return Ok(action);
    }
    let running = ctx.metrics.running(kind);
    let ns = view.namespace().unwrap_or_default();
    // Never wait for a busy application holding a worker (the old URL is asked too).
    let mut urls = vec![view.spec.url.as_str().to_string()];
    urls.extend(view.status.as_ref().and_then(|s| s.url.clone()));
    let _share = match ctx.take_share(kind, obj, &urls) {
        Ok(ticket) => ticket,
        Err(later) => return Ok(later),
    };
    let cloud = view.spec.is_cloud();
    // Holding the Secret is a safeguard for later deletions, never a reason to fail the check:
    // a Secret the operator may not read or patch is reported by the access step below.
    let held_secret = match secret_hold::hold(view, ctx, &ns).await {
        Ok(held) => held,
        Err(e) => {
            tracing::debug!(instance = %key, error = %e, "credentials Secret not held");
            view.status.as_ref().and_then(|s| s.held_secret.clone())
        }
    };

    let lookups = ctx.lookups();
    let observed = match observe::resolve_access(view, &lookups, &ns).await {
        Ok(access) => {
            let namespaced = kind == "ApplicationInstance";
            observe::observe(view, &lookups, &access, cloud, namespaced, requested).await
        }
        Err(e) => Err(e),
    };
    let (mut new, verdict, facts) = status::instance_status(view, observed);
    new.held_secret = held_secret;
    let resync = view
        .spec
        .check_interval
        .as_deref()
        .and_then(|d| humantime::parse_duration(d).ok())
        .unwrap_or(ctx.settings.instance_check_interval);
    let report = outcome::Subject {
        obj,
        kind,
        key: &key,
        resync,
        action: "Check",
        running: &running,
    };
    let tail = tail::Tail {
        subject: report,
        api: &api,
        old: &old,
        new,
        verdict,
        facts,
        due: None,
    };
    let (new, written, action) = tail::finish(ctx, tail).await?;
    if written && old.application_id != new.application_id {
        tracing::info!(instance = %key, id = ?new.application_id, "identity recorded");
    }
    Ok(action)
}

/// The status a check would record now, read only: access → observe → status, as [`pass`]
/// does, without writing anything. `view` as in [`Subject`]; `namespaced`: false for a shared
/// application. For the `plan` command (an instance new or changed in the manifests).
pub async fn preview(
    view: &ApplicationInstance,
    lookups: &Lookups<'_>,
    namespaced: bool,
) -> ApplicationInstanceStatus {
    let ns = view.namespace().unwrap_or_default();
    let observed = match observe::resolve_access(view, lookups, &ns).await {
        Ok(access) => {
            observe::observe(
                view,
                lookups,
                &access,
                view.spec.is_cloud(),
                namespaced,
                false,
            )
            .await
        }
        Err(e) => Err(e),
    };
    let (mut new, verdict, facts) = status::instance_status(view, observed);
    let mut conds = verdict.conditions();
    conds.extend(facts);
    new.conditions = conditions::merge(&[], conds, view.metadata.generation, &conditions::now());
    new
}

/// Adds the in-use finalizer, or, when the instance is being deleted, removes it once nothing
/// uses the instance. `Some(action)` ends the pass.
async fn guard_finalizer<K>(
    obj: &K,
    view: &ApplicationInstance,
    ctx: &Context,
    api: &Api<K>,
    mut names: Vec<String>,
) -> Result<Option<Action>, Error>
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let has = finalizer::has(obj, IN_USE_FINALIZER);
    if obj.meta().deletion_timestamp.is_none() {
        if !has {
            crate::failpoint::hit("before-instance-finalizer-add");
            finalizer::add(api, obj, IN_USE_FINALIZER).await?;
            crate::failpoint::hit("after-instance-finalizer-add");
        }
        return Ok(None);
    }
    if !has {
        return Ok(Some(Action::await_change()));
    }
    if names.is_empty() {
        // The Secret first: a crash in between finds the instance still here and releases
        // again (a no-op) before its own finalizer goes.
        let held = view.status.as_ref().and_then(|s| s.held_secret.as_deref());
        if let Some(secret) = held {
            let ns = view.namespace().unwrap_or_default();
            secret_hold::release(view, ctx, &ns, secret).await?;
        }
        crate::failpoint::hit("before-instance-finalizer-removal");
        finalizer::remove(api, obj, IN_USE_FINALIZER).await?;
        crate::failpoint::hit("after-instance-finalizer-removal");
        return Ok(Some(Action::await_change()));
    }
    // Links still use it; they are being deleted or will be. Say so in a condition of its own:
    // Ready stays as it was, since the links still need this instance to delete their ends.
    names.sort();
    let old = view.status.clone().unwrap_or_default();
    let mut new = old.clone();
    new.conditions
        .retain(|c| c.type_ != reasons::TERMINATING && c.type_ != LEGACY_DELETION_BLOCKED);
    new.conditions.extend(conditions::merge(
        &old.conditions,
        vec![conditions::Cond::new(
            reasons::TERMINATING,
            true,
            reasons::IN_USE,
            format!(
                "deletion waits until no ApplicationLink or ExternalApplication uses this instance; used by {}. The instance is kept so that their link ends and clients can still be deleted in the applications: delete those ApplicationLinks and ExternalApplications (deletionPolicy: Orphan leaves them in place) and this instance goes",
                names.join(", ")
            ),
        )],
        view.metadata.generation,
        &conditions::now(),
    ));
    status_patch::write(api, &obj.name_any(), &old, &new).await?;
    Ok(Some(Action::requeue(IN_USE_RECHECK)))
}

pub fn error_policy<K>(_obj: Arc<K>, err: &Error, _ctx: Arc<Context>) -> Action {
    // Only Kubernetes API errors reach here; remote failures are handled in reconcile.
    tracing::warn!(error = %err, "instance reconcile error");
    super::kube_error_requeue(err)
}
