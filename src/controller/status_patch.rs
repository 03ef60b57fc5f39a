//! Writing status so that it is exactly what the operator computed. A merge patch of the new
//! status alone cannot remove a field (absent means "unchanged"), so the patch is the RFC 7386
//! difference from the status last read: fields that went away are set to `null`.

use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Map, Value};

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
