//! Reading and writing the credentials Secret (client: Kubernetes). The operator writes only a
//! Secret it owns (an ownerReference to the ExternalApplication): one that exists without it is
//! someone else's and is never touched. Values are never logged.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Resource, ResourceExt};

use super::plan::SecretState;
use super::template::{self, DATA_DIGEST, INPUTS_DIGEST, Rendered};
use crate::crd::ExternalApplication;
use crate::errors::Error;

const FIELD_MANAGER: &str = "applink-operator";

/// The Secret of that name, as found.
pub(super) enum Stored {
    Absent,
    /// Exists and is owned by someone else (no ownerReference to this resource).
    Foreign,
    Ours {
        labels: BTreeMap<String, String>,
        annotations: BTreeMap<String, String>,
        data: BTreeMap<String, String>,
    },
}

pub(super) async fn read(api: &Api<Secret>, name: &str, owner_uid: &str) -> Result<Stored, Error> {
    let Some(secret) = api.get_opt(name).await? else {
        return Ok(Stored::Absent);
    };
    let ours = secret
        .owner_references()
        .iter()
        .any(|r| r.uid == owner_uid && r.kind == "ExternalApplication");
    if !ours {
        return Ok(Stored::Foreign);
    }
    let data = secret
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), String::from_utf8_lossy(&v.0).into_owned()))
        .collect();
    Ok(Stored::Ours {
        labels: secret.labels().clone(),
        annotations: secret.annotations().clone(),
        data,
    })
}

/// Whether the stored Secret is what the operator would write. `expected` is the rendering with
/// the secret when the application still shows it; without it, the digests written with the
/// Secret tell whether it was edited or rendered from other inputs.
pub(super) fn state(
    stored: &Stored,
    expected_inputs_digest: &str,
    expected: Option<&Rendered>,
    expected_labels: &BTreeMap<String, String>,
    expected_annotations: &BTreeMap<String, String>,
) -> SecretState {
    let Stored::Ours {
        labels,
        annotations,
        data,
    } = stored
    else {
        return SecretState::Absent;
    };
    let subset = |want: &BTreeMap<String, String>, have: &BTreeMap<String, String>| {
        want.iter().all(|(k, v)| have.get(k) == Some(v))
    };
    let digests_hold = annotations.get(INPUTS_DIGEST).map(String::as_str)
        == Some(expected_inputs_digest)
        && annotations.get(DATA_DIGEST) == Some(&template::data_digest(data));
    let data_matches = expected.is_none_or(|r| &r.data == data);
    if digests_hold
        && data_matches
        && subset(expected_labels, labels)
        && subset(expected_annotations, annotations)
    {
        SecretState::Current
    } else {
        SecretState::Stale
    }
}

/// Writes the Secret: created when absent (a name someone takes meanwhile makes the create
/// fail rather than overwrite theirs), server-side applied when ours, so fields other managers
/// own are left alone; keys dropped from the template are removed.
pub(super) async fn write(
    api: &Api<Secret>,
    obj: &ExternalApplication,
    name: &str,
    stored: &Stored,
    rendered: &Rendered,
) -> Result<(), Error> {
    let mut owner = obj
        .controller_owner_ref(&())
        .ok_or_else(|| Error::InvalidSpec("the resource has no uid yet".into()))?;
    // A foreground deletion of the resource waits for its Secret.
    owner.block_owner_deletion = Some(true);
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(rendered.labels.clone()),
            annotations: Some(rendered.annotations.clone()),
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        type_: Some("Opaque".into()),
        data: Some(
            rendered
                .data
                .iter()
                .map(|(k, v)| (k.clone(), ByteString(v.clone().into_bytes())))
                .collect(),
        ),
        ..Default::default()
    };
    if let Stored::Ours { data, .. } = stored {
        let mut applied = secret;
        applied.metadata.managed_fields = None;
        let value = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": applied.metadata,
            "type": applied.type_,
            "data": applied.data,
        });
        api.patch(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&value),
        )
        .await?;
        // Keys written by the first create belong to another field manager entry, so an apply
        // does not remove them: drop the ones the template no longer has explicitly.
        let dropped: serde_json::Map<String, serde_json::Value> = data
            .keys()
            .filter(|k| !rendered.data.contains_key(*k))
            .map(|k| (k.clone(), serde_json::Value::Null))
            .collect();
        if !dropped.is_empty() {
            let patch = serde_json::json!({"data": dropped});
            api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
        }
    } else {
        api.create(
            &PostParams {
                field_manager: Some(FIELD_MANAGER.into()),
                ..Default::default()
            },
            &secret,
        )
        .await?;
    }
    Ok(())
}

/// Owner reference check for tests and the resolver: the resource's uid.
pub(super) fn uid(obj: &ExternalApplication) -> String {
    obj.meta().uid.clone().unwrap_or_default()
}
