//! Adding and removing one finalizer, guarded by resourceVersion so a concurrent change of the
//! list is never overwritten (the patch fails with 409 and the reconcile retries).

use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::errors::Error;

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
