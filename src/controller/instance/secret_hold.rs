//! Keeping an instance's credentials Secret while the instance may still need it (client
//! required: Kubernetes). `kubectl delete namespace` deletes objects in no particular order:
//! without this, the Secret could go before the links whose ends need its credentials to be
//! deleted, and the namespace would never finish terminating.
//!
//! The instance puts [`SECRET_FINALIZER`] on the Secret it uses and records the name in
//! `status.heldSecret`; it takes the finalizer off when it no longer uses that Secret (deleted,
//! or pointed at another one) and no other instance of the namespace does. A Secret deleted by a
//! person while nothing is being deleted is let go at once (a delete-and-recreate rotation must
//! not hang).

use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::runtime::reflector::Store;
use kube::{Api, ResourceExt};

use super::super::{Context, finalizer};
use crate::crd::ApplicationInstance;
use crate::errors::Error;

pub const SECRET_FINALIZER: &str = "applinks.io/credentials-in-use";

/// What to do with the finalizer on one Secret (pure; table-tested).
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Hold {
    Add,
    Keep,
    Release,
    Nothing,
}

/// The decision for the Secret an instance names, from what is known of it.
pub(super) fn decide(
    has_finalizer: bool,
    secret_deleting: bool,
    instance_deleting: bool,
    namespace_deleting: bool,
) -> Hold {
    match (has_finalizer, secret_deleting) {
        // Deleted by a person while the instance lives on (not a namespace deletion): nothing
        // needs it for a deletion, so it goes.
        (true, true) if !instance_deleting && !namespace_deleting => Hold::Release,
        (true, _) => Hold::Keep,
        // A Secret being deleted cannot take a new finalizer.
        (false, true) => Hold::Nothing,
        (false, false) if instance_deleting => Hold::Nothing,
        (false, false) => Hold::Add,
    }
}

/// Whether another instance of the namespace (not being deleted, or being deleted but still
/// holding its own finalizer) names this Secret.
pub(super) fn used_by_others(
    instances: &Store<ApplicationInstance>,
    me: &ApplicationInstance,
    secret: &str,
) -> bool {
    let (ns, name) = (me.namespace(), me.name_any());
    instances.state().iter().any(|i| {
        i.namespace() == ns
            && i.name_any() != name
            && i.spec
                .credentials_secret_ref
                .as_ref()
                .is_some_and(|r| r.name == secret)
    })
}

/// Holds the Secret the instance names (adding the finalizer when missing, letting it go when
/// a person deleted it), and releases the one it held before if it now names another. Returns
/// the name to record as `status.heldSecret`. A 403 (an installation that grants no Secret
/// writes) leaves the Secret unheld: the docs say how to finish a namespace deletion then.
pub(super) async fn hold(
    obj: &ApplicationInstance,
    ctx: &Context,
    ns: &str,
) -> Result<Option<String>, Error> {
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let wanted = obj
        .spec
        .credentials_secret_ref
        .as_ref()
        .map(|r| r.name.clone());
    let held = obj.status.as_ref().and_then(|s| s.held_secret.clone());
    if let Some(old) = held.as_deref()
        && wanted.as_deref() != Some(old)
    {
        release(obj, ctx, ns, old).await?;
    }
    let Some(name) = wanted else {
        return Ok(None);
    };
    let Some(secret) = api.get_opt(&name).await? else {
        return Ok(None);
    };
    let deleting = secret.metadata.deletion_timestamp.is_some();
    let namespace_deleting = deleting && namespace_terminating(ctx, ns).await?;
    let has = finalizer::has(&secret, SECRET_FINALIZER);
    let result = match decide(has, deleting, false, namespace_deleting) {
        Hold::Add => finalizer::add(&api, &secret, SECRET_FINALIZER).await,
        Hold::Release => finalizer::remove(&api, &secret, SECRET_FINALIZER).await,
        Hold::Keep | Hold::Nothing => Ok(()),
    };
    match result {
        Ok(()) => Ok((!deleting || has).then_some(name)),
        Err(e) if forbidden(&e) => {
            tracing::debug!(secret = %name, "no patch on Secrets: the credentials Secret is not held");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Takes the finalizer off `secret` unless another instance of the namespace still names it.
pub(super) async fn release(
    obj: &ApplicationInstance,
    ctx: &Context,
    ns: &str,
    secret: &str,
) -> Result<(), Error> {
    if used_by_others(&ctx.instances, obj, secret) {
        return Ok(());
    }
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let Some(s) = api.get_opt(secret).await? else {
        return Ok(());
    };
    match finalizer::remove(&api, &s, SECRET_FINALIZER).await {
        Err(e) if forbidden(&e) => Ok(()),
        other => other,
    }
}

async fn namespace_terminating(ctx: &Context, ns: &str) -> Result<bool, Error> {
    let api: Api<Namespace> = Api::all(ctx.client.clone());
    match api.get_opt(ns).await {
        Ok(n) => Ok(n.is_none_or(|n| n.metadata.deletion_timestamp.is_some())),
        // Without the right to read namespaces, assume the worst: keep the Secret.
        Err(kube::Error::Api(s)) if s.code == 403 => Ok(true),
        Err(e) => Err(e.into()),
    }
}

fn forbidden(e: &Error) -> bool {
    matches!(e, Error::Kube(kube::Error::Api(s)) if s.code == 403)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions() {
        // (has, secret deleting, instance deleting, namespace deleting) -> decision
        let cases = [
            (
                (false, false, false, false),
                Hold::Add,
                "a Secret in use gets held",
            ),
            ((true, false, false, false), Hold::Keep, "already held"),
            (
                (true, true, false, false),
                Hold::Release,
                "a person deleted it: let it go (rotation by delete and create)",
            ),
            (
                (true, true, false, true),
                Hold::Keep,
                "the namespace is going: keep it for the links' deletions",
            ),
            (
                (true, true, true, false),
                Hold::Keep,
                "the instance is going: keep it until its links are gone",
            ),
            (
                (false, true, false, false),
                Hold::Nothing,
                "too late to hold",
            ),
            (
                (false, false, true, false),
                Hold::Nothing,
                "never held while going",
            ),
        ];
        for ((has, sd, id, nd), want, why) in cases {
            assert_eq!(decide(has, sd, id, nd), want, "{why}");
        }
    }
}
