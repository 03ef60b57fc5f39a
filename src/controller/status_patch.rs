//! Writing status so that it is exactly what the operator computed. A merge patch of the new
//! status alone cannot remove a field (absent means "unchanged"), so the patch is the RFC 7386
//! difference from the status last read: fields that went away are set to `null`.
//!
//! A status the API server refuses to take (down, overloaded, a webhook failing) is kept and
//! written again alone, with exponential backoff: the pass that computed it, and its calls to
//! the applications, is not re-run every few seconds for it ([`write_or_keep`],
//! [`retry_unwritten`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use kube::Api;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use serde_json::{Map, Value};

use super::Context;
use crate::errors::Error;

/// Statuses computed by a pass whose write failed, by object key: at most one per object,
/// dropped once written, once the object changed (its next pass computes a new one) or is gone.
#[derive(Default)]
pub struct Unwritten {
    entries: Mutex<HashMap<String, Kept>>,
}

struct Kept {
    uid: Option<String>,
    generation: Option<i64>,
    status: Value,
    /// The requeue the pass had computed, used once the status is written.
    then: Duration,
}

impl Kept {
    /// Still the status of this object as it is: same object (uid), same spec (generation).
    fn holds_for(&self, uid: &Option<String>, generation: Option<i64>) -> bool {
        &self.uid == uid && self.generation == generation
    }
}

/// The backoff key of an object's status writes (apart from its pass's own backoff).
fn backoff_key(key: &str) -> String {
    format!("{key}#status")
}

/// Writes `new` (as [`write`]); when the API server refuses it (other than a write conflict,
/// which the error policy retries at once with a fresh read), keeps it and backs off: the next
/// pass only writes it ([`retry_unwritten`]). The action is `then` once written.
pub async fn write_or_keep<K, S>(
    ctx: &Context,
    api: &Api<K>,
    obj: &K,
    key: &str,
    old: &S,
    new: &S,
    then: Duration,
) -> Result<(bool, Action), Error>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    K::DynamicType: Default,
    S: serde::Serialize,
{
    let name = obj.meta().name.clone().unwrap_or_default();
    match write(api, &name, old, new).await {
        Ok(written) => {
            ctx.unwritten.forget(key);
            ctx.backoff.succeeded(&backoff_key(key));
            Ok((written, Action::requeue(then)))
        }
        Err(e) if e.is_conflict() => Err(e),
        Err(e) => {
            let delay = ctx.backoff.failed(&backoff_key(key), None);
            tracing::warn!(object = %key, error = %e, ?delay, "status not written; kept, and written again alone after the delay");
            ctx.unwritten.keep(
                key,
                Kept {
                    uid: obj.meta().uid.clone(),
                    generation: obj.meta().generation,
                    status: serde_json::to_value(new).unwrap_or_default(),
                    then,
                },
            );
            Ok((false, Action::requeue(delay)))
        }
    }
}

/// Writes a status kept by [`write_or_keep`], alone, if it still holds for `obj`. `Some` ends
/// the pass (written: the requeue its pass computed; refused again: a longer backoff); `None`
/// when nothing is kept, and the pass runs.
pub async fn retry_unwritten<K, S>(
    ctx: &Context,
    api: &Api<K>,
    obj: &K,
    key: &str,
    old: &S,
) -> Option<Action>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    K::DynamicType: Default,
    S: serde::Serialize,
{
    let meta = obj.meta();
    let kept = ctx.unwritten.take(key)?;
    if !kept.holds_for(&meta.uid, meta.generation) || meta.deletion_timestamp.is_some() {
        ctx.backoff.succeeded(&backoff_key(key));
        return None;
    }
    let name = meta.name.clone().unwrap_or_default();
    let old = serde_json::to_value(old).unwrap_or_default();
    let Some(patch) = merge_patch(&old, &kept.status) else {
        ctx.backoff.succeeded(&backoff_key(key));
        return Some(Action::requeue(kept.then));
    };
    let point = failpoint_name(&K::kind(&Default::default()));
    crate::failpoint::hit(&format!("before-{point}"));
    let result = api
        .patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(&serde_json::json!({ "status": patch })),
        )
        .await;
    match result {
        Ok(_) => {
            crate::failpoint::hit(&format!("after-{point}"));
            ctx.backoff.succeeded(&backoff_key(key));
            Some(Action::requeue(kept.then))
        }
        // Gone: nothing to write to.
        Err(kube::Error::Api(s)) if s.code == 404 => {
            ctx.backoff.succeeded(&backoff_key(key));
            Some(Action::await_change())
        }
        Err(e) => {
            let delay = ctx.backoff.failed(&backoff_key(key), None);
            tracing::warn!(object = %key, error = %e, ?delay, "kept status still not written");
            ctx.unwritten.keep(key, kept);
            Some(Action::requeue(delay))
        }
    }
}

impl Unwritten {
    fn keep(&self, key: &str, kept: Kept) {
        if let Ok(mut m) = self.entries.lock() {
            m.insert(key.to_string(), kept);
        }
    }

    fn take(&self, key: &str) -> Option<Kept> {
        self.entries.lock().ok()?.remove(key)
    }

    fn forget(&self, key: &str) {
        if let Ok(mut m) = self.entries.lock() {
            m.remove(key);
        }
    }

    /// How many statuses wait to be written (for tests and the metric).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.lock().map(|m| m.len()).unwrap_or(0)
    }
}

/// The merge patch that turns `old` into `new` (`None` when they are equal).
pub fn merge_patch(old: &Value, new: &Value) -> Option<Value> {
    if old == new {
        return None;
    }
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            let mut patch = Map::new();
            for (k, v) in n {
                match o.get(k) {
                    Some(ov) => {
                        if let Some(p) = merge_patch(ov, v) {
                            patch.insert(k.clone(), p);
                        }
                    }
                    None => {
                        patch.insert(k.clone(), v.clone());
                    }
                }
            }
            for k in o.keys() {
                if !n.contains_key(k) {
                    patch.insert(k.clone(), Value::Null);
                }
            }
            Some(Value::Object(patch))
        }
        // Arrays and scalars are replaced whole, as a merge patch does.
        _ => Some(new.clone()),
    }
}

/// Writes `status` through the status subresource when it differs from `old` (kstatus: a steady
/// object's status does not change between passes). Returns whether it wrote.
pub async fn write<K, S>(
    api: &Api<K>,
    name: &str,
    old: &S,
    status: &S,
) -> Result<bool, crate::errors::Error>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    K::DynamicType: Default,
    S: serde::Serialize,
{
    // Status structs always serialize (plain data, string keys).
    let old = serde_json::to_value(old).unwrap_or_default();
    let new = serde_json::to_value(status).unwrap_or_default();
    let Some(patch) = merge_patch(&old, &new) else {
        return Ok(false);
    };
    // One pair of points per kind (`before-link-status-write`, `after-instance-status-write`), so a
    // crash test can stop a link's write without stopping at an instance's first.
    let point = failpoint_name(&K::kind(&Default::default()));
    crate::failpoint::hit(&format!("before-{point}"));
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(&serde_json::json!({ "status": patch })),
    )
    .await?;
    crate::failpoint::hit(&format!("after-{point}"));
    Ok(true)
}

/// `ApplicationLink` -> `link-status-write`; a kind without the prefix keeps its whole name.
fn failpoint_name(kind: &str) -> String {
    let short = kind.strip_prefix("Application").unwrap_or(kind);
    format!("{}-status-write", short.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn patch_table() {
        let cases = [
            ("equal: no write", json!({"a": 1}), json!({"a": 1}), None),
            (
                "a field the operator stopped setting is removed",
                json!({"mode": "TwoWay", "target": {"linkId": "x", "health": {"working": true}}}),
                json!({"mode": "OneWay"}),
                Some(json!({"mode": "OneWay", "target": null})),
            ),
            (
                "nested: only what changed, removals as null",
                json!({"source": {"linkId": "x", "auth": {"a": 1}}}),
                json!({"source": {"linkId": "x", "primary": true}}),
                Some(json!({"source": {"auth": null, "primary": true}})),
            ),
            (
                "arrays are replaced whole",
                json!({"conditions": [{"type": "Ready"}, {"type": "Stalled"}]}),
                json!({"conditions": [{"type": "Ready"}]}),
                Some(json!({"conditions": [{"type": "Ready"}]})),
            ),
        ];
        for (why, old, new, want) in cases {
            assert_eq!(merge_patch(&old, &new), want, "{why}");
        }
    }

    #[test]
    fn failpoint_names_per_kind() {
        assert_eq!(failpoint_name("ApplicationLink"), "link-status-write");
        assert_eq!(
            failpoint_name("ApplicationInstance"),
            "instance-status-write"
        );
        assert_eq!(
            failpoint_name("ExternalApplication"),
            "externalapplication-status-write"
        );
    }

    /// Applying the patch to the old value gives exactly the new one (RFC 7386 semantics).
    #[test]
    fn patch_applied_to_old_gives_new() {
        let old = json!({"a": {"b": 1, "c": [1, 2]}, "d": "x", "e": {"f": 1}});
        let new = json!({"a": {"c": [3]}, "g": {"h": null}});
        let patch = merge_patch(&old, &new).unwrap();
        let mut applied = old.clone();
        json_patch::merge(&mut applied, &patch);
        // `null` inside new values is not representable in a merge patch; statuses skip them.
        assert_eq!(applied, json!({"a": {"c": [3]}, "g": {}}));
    }
}
