//! Reconciles `ApplicationInstance`: reads the manifest, verifies type and identity, checks that
//! the credentials are an administrator's, and records all of it in status.

use std::sync::Arc;

use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};
use tracing::{info, warn};

use super::Context;
use crate::atlassian::{Credentials, Manifest};
use crate::conditions::{self, Cond, READY, RECONCILING, STALLED};
use crate::crd::{ApplicationInstance, ApplicationInstanceStatus};
use crate::errors::Error;

pub const REACHABLE: &str = "Reachable";
pub const CREDENTIALS_VALID: &str = "CredentialsValid";
/// Set while a deletion waits for the links that use the instance.
pub const DELETION_BLOCKED: &str = "DeletionBlocked";

/// Whether the instance may be used by links, and as what.
pub fn usable(i: &ApplicationInstance) -> Result<&ApplicationInstanceStatus, String> {
    let Some(s) = i.status.as_ref() else {
        return Err("not checked yet".into());
    };
    // Deletion bumps the generation but changes nothing to check: the last status still holds.
    if s.observed_generation != i.metadata.generation && i.metadata.deletion_timestamp.is_none() {
        return Err("its latest change is not checked yet".into());
    }
    if !conditions::is_true(&s.conditions, READY) {
        let why = conditions::find(&s.conditions, READY)
            .map(|c| c.message.clone())
            .unwrap_or_default();
        return Err(why);
    }
    if s.application_id.is_none() || s.url.as_deref() != Some(i.spec.url.as_str()) {
        return Err("its identity at spec.url is not verified yet".into());
    }
    Ok(s)
}

/// Keeps an instance while links use it: deleting a link needs the instance's URL and
/// credentials, and `kubectl delete -f` or a namespace deletion removes both at once.
pub const IN_USE: &str = "applinks.io/in-use";

/// What of an instance its links depend on, as a hash for the watch predicate.
pub fn link_relevant(i: &ApplicationInstance) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    i.metadata.generation.hash(&mut h);
    i.metadata.deletion_timestamp.is_some().hash(&mut h);
    if let Some(s) = &i.status {
        (
            &s.observed_generation,
            &s.url,
            &s.application_id,
            &s.type_id,
            &s.application_name,
        )
            .hash(&mut h);
        (
            s.administered,
            s.cloud,
            conditions::is_true(&s.conditions, READY),
        )
            .hash(&mut h);
    }
    Some(h.finish())
}

pub async fn reconcile(obj: Arc<ApplicationInstance>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = obj.namespace().unwrap_or_default();
    let api: Api<ApplicationInstance> = Api::namespaced(ctx.client.clone(), &ns);
    let has_finalizer = super::finalizer::has(&*obj, IN_USE);
    if obj.metadata.deletion_timestamp.is_some() {
        if !has_finalizer {
            return Ok(Action::await_change());
        }
        let users = super::link::links_of_instance(&ctx.links, &obj);
        if users.is_empty() {
            super::finalizer::remove(&api, &*obj, IN_USE).await?;
            return Ok(Action::await_change());
        }
        // Links still use it; they are being deleted or will be. Say so in status (a condition
        // of its own: Ready stays as it was, links still need this instance to delete their
        // ends), and look again from the local cache.
        let mut names: Vec<String> = users.iter().map(|r| r.name.clone()).collect();
        names.sort();
        let old = obj.status.clone().unwrap_or_default();
        let mut status = old.clone();
        status.conditions.retain(|c| c.type_ != DELETION_BLOCKED);
        status.conditions.extend(conditions::merge(
            &old.conditions,
            vec![Cond::new(
                DELETION_BLOCKED,
                true,
                "InUse",
                format!(
                    "deletion waits until no ApplicationLink uses this instance; used by {}. The instance is kept so that their link ends can still be deleted in the applications: delete those ApplicationLinks (deletionPolicy: Orphan leaves the ends in place) and this instance goes",
                    names.join(", ")
                ),
            )],
            obj.metadata.generation,
            &conditions::now(),
        ));
        super::write_status(&api, &obj.name_any(), &old, &status).await?;
        return Ok(Action::requeue(std::time::Duration::from_secs(2)));
    }
    if !has_finalizer {
        super::finalizer::add(&api, &*obj, IN_USE).await?;
    }
    let key = format!("instance/{ns}/{}", obj.name_any());
    let old = obj.status.clone().unwrap_or_default();
    let mut status = ApplicationInstanceStatus {
        observed_generation: obj.metadata.generation,
        ..old.clone()
    };
    let mut facts = Vec::new();
    let outcome = check(&obj, &ctx, &ns, &mut status, &mut facts).await;
    let mut conds = Vec::new();
    let requeue = match &outcome {
        Ok(()) => {
            ctx.metrics.reconciled("ApplicationInstance", "ok");
            ctx.backoff.succeeded(&key);
            let administered = status.administered == Some(true);
            let msg = if administered {
                format!(
                    "{} {} at {} is reachable and administered",
                    status.type_id.as_deref().unwrap_or("application"),
                    status.application_id.as_deref().unwrap_or(""),
                    obj.spec.url
                )
            } else {
                format!(
                    "reachable at {}; no credentials, so links to it are one-way",
                    obj.spec.url
                )
            };
            conds.push(Cond::new(
                READY,
                true,
                if administered {
                    "Administered"
                } else {
                    "NotAdministered"
                },
                msg,
            ));
            obj.spec
                .check_interval
                .as_deref()
                .and_then(|d| humantime::parse_duration(d).ok())
                .unwrap_or(ctx.settings.instance_check_interval)
        }
        Err(e) => {
            ctx.metrics.reconciled("ApplicationInstance", e.reason());
            let delay = ctx.backoff.failed(&key, e.retry_after());
            conds.push(Cond::new(READY, false, e.reason(), e.to_string()));
            if e.is_stalled() {
                conds.push(Cond::new(STALLED, true, e.reason(), e.to_string()));
            } else {
                conds.push(Cond::new(
                    RECONCILING,
                    true,
                    e.reason(),
                    "retrying with backoff".to_string(),
                ));
            }
            if ctx.backoff.failures(&key) == 1 {
                ctx.event(
                    &*obj,
                    EventType::Warning,
                    e.reason(),
                    &e.to_string(),
                    "Check",
                )
                .await;
            }
            warn!(instance = %key, reason = e.reason(), error = %e, "instance check failed");
            delay
        }
    };
    conds.append(&mut facts);
    status.conditions = conditions::merge(
        &old.conditions,
        conds,
        obj.metadata.generation,
        &conditions::now(),
    );
    if super::write_status(&api, &obj.name_any(), &old, &status).await?
        && outcome.is_ok()
        && old.application_id != status.application_id
    {
        info!(instance = %key, id = ?status.application_id, "identity recorded");
    }
    Ok(Action::requeue(requeue))
}

/// Runs the checks, filling `status` with facts. Errors say why the instance is not Ready.
async fn check(
    obj: &ApplicationInstance,
    ctx: &Context,
    ns: &str,
    status: &mut ApplicationInstanceStatus,
    facts: &mut Vec<Cond>,
) -> Result<(), Error> {
    let url = obj.spec.url.as_str();
    let mut set = |type_: &'static str, ok: bool, reason: &str, msg: String| {
        facts.push(Cond::new(type_, ok, reason, msg));
    };

    let credentials = match &obj.spec.credentials_secret_ref {
        Some(r) => Some(
            crate::secrets::credentials(&ctx.client, ns, r)
                .await
                .inspect_err(|e| {
                    set(CREDENTIALS_VALID, false, e.reason(), e.to_string());
                })?,
        ),
        None => None,
    };
    let ca = crate::secrets::ca_bundle(&ctx.client, ns, obj.spec.tls.as_ref()).await?;
    let anonymous = ctx
        .clients
        .get(url, &Credentials::Anonymous, ca.as_deref())
        .map_err(|e| Error::remote("client", e))?;
    let manifest: Manifest = match anonymous.manifest().await {
        Ok(m) => m,
        Err(e) => {
            set(REACHABLE, false, e.reason(), e.to_string());
            return Err(Error::remote(format!("reading the manifest of {url}"), e));
        }
    };
    set(
        REACHABLE,
        true,
        "ManifestRead",
        format!("manifest read from {url}"),
    );

    // Identity: once known, an application id never changes; another id at the URL is another
    // application and is refused without touching anything.
    if let Some(known) = &status.application_id
        && known != &manifest.id
    {
        return Err(Error::IdentityMismatch {
            url: url.to_string(),
            known: known.clone(),
            found: manifest.id,
        });
    }
    if let Some(t) = obj.spec.app_type
        && !t.matches_type_id(&manifest.type_id)
    {
        return Err(Error::WrongType {
            url: url.to_string(),
            expected: t.type_id().to_string(),
            actual: manifest.type_id,
        });
    }
    status.url = Some(url.to_string());
    status.application_id = Some(manifest.id.clone());
    status.type_id = Some(manifest.type_id.clone());
    status.application_name = Some(manifest.name.clone());
    status.version = manifest.version.clone();
    status.applinks_version = manifest.applinks_version.clone();
    status.cloud = Some(
        obj.spec
            .cloud
            .unwrap_or_else(|| obj.spec.url.is_atlassian_cloud()),
    );

    match credentials {
        None => {
            status.administered = Some(false);
            Ok(())
        }
        Some(creds) => {
            let admin = ctx
                .clients
                .get(url, &creds, ca.as_deref())
                .map_err(|e| Error::remote("client", e))?;
            match admin.verify_admin().await {
                Ok(()) => {
                    status.administered = Some(true);
                    set(
                        CREDENTIALS_VALID,
                        true,
                        "AdminCredentials",
                        format!("{} is an administrator", creds.describe()),
                    );
                    Ok(())
                }
                Err(e) => {
                    status.administered = Some(false);
                    set(CREDENTIALS_VALID, false, e.reason(), e.to_string());
                    Err(Error::remote(
                        format!("checking the administrator credentials for {url}"),
                        e,
                    ))
                }
            }
        }
    }
}

pub fn error_policy(_obj: Arc<ApplicationInstance>, err: &Error, _ctx: Arc<Context>) -> Action {
    // Only Kubernetes API errors reach here; remote failures are handled in reconcile.
    warn!(error = %err, "instance reconcile error");
    super::kube_error_requeue(err)
}
