//! Reconciles `ApplicationInstance`: reads the manifest, verifies type and identity, checks that
//! the credentials are an administrator's, and records all of it in status.
//!
//! The pipeline, one step per line in [`reconcile`]:
//! 1. finalizer (client): kept while links use the instance;
//! 2. access (client: Kubernetes): credentials and CA bundle from Secrets/ConfigMaps;
//! 3. observe (client: the application): manifest, clock, admin check, old URL, duplicates;
//! 4. status (no client): the whole status, the verdict and the instance's own conditions;
//! 5. report (no client, but events): conditions, metric, backoff, requeue, one event rule;
//! 6. write (client: Kubernetes): the status, only when it changed.

mod observe;
mod status;

use std::sync::Arc;

use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};

use super::relations::{self, IN_USE_FINALIZER};
use super::{Context, finalizer, outcome, status_patch};
use crate::conditions;
use crate::crd::ApplicationInstance;
use crate::errors::Error;
use crate::reasons;

/// While links still use an instance being deleted, look again from the local cache this often.
const IN_USE_RECHECK: std::time::Duration = std::time::Duration::from_secs(2);

pub async fn reconcile(obj: Arc<ApplicationInstance>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = obj.namespace().unwrap_or_default();
    let api: Api<ApplicationInstance> = Api::namespaced(ctx.client.clone(), &ns);
    // Which links and external applications use this instance is read from their caches: not
    // before they are filled.
    ctx.links_synced.wait("ApplicationLink").await?;
    ctx.externals_synced.wait("ExternalApplication").await?;
    if let Some(action) = guard_finalizer(&obj, &ctx, &api).await? {
        return Ok(action);
    }
    let key = observe::key(&obj);
    let old = obj.status.clone().unwrap_or_default();
    if let Some(action) = status_patch::retry_unwritten(&ctx, &api, &*obj, &key, &old).await {
        return Ok(action);
    }
    let cloud = obj.spec.is_cloud();

    let observed = match observe::resolve_access(&obj, &ctx, &ns).await {
        Ok(access) => observe::observe(&obj, &ctx, &access, cloud).await,
        Err(e) => Err(e),
    };
    let (mut new, verdict, facts) = status::instance_status(&obj, observed);
    let resync = obj
        .spec
        .check_interval
        .as_deref()
        .and_then(|d| humantime::parse_duration(d).ok())
        .unwrap_or(ctx.settings.instance_check_interval);
    let subject = outcome::Subject {
        obj: &*obj,
        kind: "ApplicationInstance",
        key: &key,
        resync,
        action: "Check",
    };
    let delay = outcome::record(&ctx, subject, &old.conditions, &verdict).await;
    let mut conds = verdict.conditions();
    conds.extend(facts);
    new.conditions = conditions::merge(
        &old.conditions,
        conds,
        obj.metadata.generation,
        &conditions::now(),
    );
    let (written, action) =
        status_patch::write_or_keep(&ctx, &api, &*obj, &key, &old, &new, delay).await?;
    if written && old.application_id != new.application_id {
        tracing::info!(instance = %key, id = ?new.application_id, "identity recorded");
    }
    Ok(action)
}

/// Adds the in-use finalizer, or, when the instance is being deleted, removes it once no link
/// uses the instance. `Some(action)` ends the pass.
async fn guard_finalizer(
    obj: &ApplicationInstance,
    ctx: &Context,
    api: &Api<ApplicationInstance>,
) -> Result<Option<Action>, Error> {
    let has = finalizer::has(obj, IN_USE_FINALIZER);
    if obj.metadata.deletion_timestamp.is_none() {
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
    let mut names: Vec<String> = relations::links_of_instance(&ctx.links, obj)
        .into_iter()
        .map(|r| r.name)
        .collect();
    names.extend(
        super::external::of_instance(&ctx.externals, obj)
            .into_iter()
            .map(|r| format!("ExternalApplication {}", r.name)),
    );
    if names.is_empty() {
        crate::failpoint::hit("before-instance-finalizer-removal");
        finalizer::remove(api, obj, IN_USE_FINALIZER).await?;
        crate::failpoint::hit("after-instance-finalizer-removal");
        return Ok(Some(Action::await_change()));
    }
    // Links still use it; they are being deleted or will be. Say so in a condition of its own:
    // Ready stays as it was, since the links still need this instance to delete their ends.
    names.sort();
    let old = obj.status.clone().unwrap_or_default();
    let mut new = old.clone();
    new.conditions
        .retain(|c| c.type_ != reasons::DELETION_BLOCKED);
    new.conditions.extend(conditions::merge(
        &old.conditions,
        vec![conditions::Cond::new(
            reasons::DELETION_BLOCKED,
            true,
            reasons::IN_USE,
            format!(
                "deletion waits until no ApplicationLink or ExternalApplication uses this instance; used by {}. The instance is kept so that their link ends and clients can still be deleted in the applications: delete those ApplicationLinks and ExternalApplications (deletionPolicy: Orphan leaves them in place) and this instance goes",
                names.join(", ")
            ),
        )],
        obj.metadata.generation,
        &conditions::now(),
    ));
    status_patch::write(api, &obj.name_any(), &old, &new).await?;
    Ok(Some(Action::requeue(IN_USE_RECHECK)))
}

pub fn error_policy(_obj: Arc<ApplicationInstance>, err: &Error, _ctx: Arc<Context>) -> Action {
    // Only Kubernetes API errors reach here; remote failures are handled in reconcile.
    tracing::warn!(error = %err, "instance reconcile error");
    super::kube_error_requeue(err)
}
