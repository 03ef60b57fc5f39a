//! Adding and removing one finalizer, guarded by resourceVersion so a concurrent change of the
//! list is never overwritten (the patch fails with 409 and the reconcile retries).

use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::errors::Error;
use crate::reasons;

/// What a kind's deletion guard needs to know.
pub struct Guard<'a> {
    pub finalizer: &'static str,
    /// `deletionPolicy: Orphan`: the deletion ends here, with no remote call.
    pub orphan: bool,
    /// Event note of an orphaned deletion.
    pub orphan_note: &'a str,
    /// Whether the object holds a claim (written before anything is created remotely): without
    /// one, nothing was made.
    pub claimed: bool,
}

/// Adds the finalizer, or ends a deletion that needs no remote call. `Some(action)` ends the
/// pass. Adding it does not requeue: the pass goes on, since a requeue would read the object
/// back from a cache that may not have seen the finalizer yet, and add it again.
pub async fn guard<K>(
    obj: &K,
    ctx: &super::Context,
    api: &Api<K>,
    g: Guard<'_>,
) -> Result<Option<kube::runtime::controller::Action>, Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    use kube::runtime::controller::Action;
    let has = has(obj, g.finalizer);
    if obj.meta().deletion_timestamp.is_none() {
        if !has {
            crate::failpoint::hit("before-finalizer-add");
            add(api, obj, g.finalizer).await?;
            crate::failpoint::hit("after-finalizer-add");
        }
        return Ok(None);
    }
    if !has {
        return Ok(Some(Action::await_change()));
    }
    if !g.orphan && g.claimed {
        return Ok(None);
    }
    // Orphan is the way out of a blocked deletion; without a claim nothing was ever made, so
    // nothing needs deleting (and no application needs to be reachable).
    crate::failpoint::hit("before-finalizer-removal");
    remove(api, obj, g.finalizer).await?;
    crate::failpoint::hit("after-finalizer-removal");
    if g.orphan {
        ctx.event(
            obj,
            kube::runtime::events::EventType::Normal,
            reasons::ORPHANED,
            g.orphan_note,
            "Delete",
        )
        .await;
    }
    Ok(Some(Action::await_change()))
}

pub fn has<K: Resource>(obj: &K, name: &str) -> bool {
    obj.finalizers().iter().any(|f| f == name)
}

pub async fn add<K>(api: &Api<K>, obj: &K, name: &str) -> Result<(), Error>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let mut finalizers = obj.finalizers().to_vec();
    finalizers.push(name.to_string());
    patch(api, obj, finalizers).await
}

/// Removes `name`; an object already gone counts as done. A JSON patch that tests the entry
/// before removing it, rather than a resourceVersion guard: the reconcile may have changed the
/// object (annotations) since it was read, and that must not make the removal fail.
pub async fn remove<K>(api: &Api<K>, obj: &K, name: &str) -> Result<(), Error>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let Some(i) = obj.finalizers().iter().position(|f| f == name) else {
        return Ok(());
    };
    let path = format!("/metadata/finalizers/{i}");
    let ops: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": path, "value": name},
        {"op": "remove", "path": path},
    ]))
    .expect("a valid JSON patch");
    match api
        .patch(
            &obj.name_any(),
            &PatchParams::default(),
            &Patch::<()>::Json(ops),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

async fn patch<K>(api: &Api<K>, obj: &K, finalizers: Vec<String>) -> Result<(), Error>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let body =
        json!({"metadata": {"finalizers": finalizers, "resourceVersion": obj.resource_version()}});
    api.patch(
        &obj.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&body),
    )
    .await?;
    Ok(())
}
