//! Reading and writing the credentials Secret (client: Kubernetes). The operator writes only a
//! Secret it owns (an ownerReference to the ExternalApplication): one that exists without it is
//! someone else's and is never touched. Values are never logged.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Resource, ResourceExt};

use super::plan::SecretState;
use super::template::{self, DATA_DIGEST, Rendered};
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

/// Whether the stored Secret is what the operator would write: `expected`'s labels and
/// annotations (the inputs digest among them) are there, and the data digest written with the
/// Secret still matches its data. With `data_known` (the secret values were known when
/// `expected` was rendered) the data must equal it too; without, the digests tell whether the
/// Secret was edited or rendered from other inputs.
pub(super) fn state(stored: &Stored, expected: &Rendered, data_known: bool) -> SecretState {
    let Stored::Ours {
        labels,
        annotations,
        data,
    } = stored
    else {
        return SecretState::Absent;
    };
    let labels_hold = expected
        .labels
        .iter()
        .all(|(k, v)| labels.get(k) == Some(v));
    // The data digest is compared with the stored data, not with `expected`'s (which differs
    // whenever the secret values were not known).
    let annotations_hold = expected
        .annotations
        .iter()
        .filter(|(k, _)| k.as_str() != DATA_DIGEST)
        .all(|(k, v)| annotations.get(k) == Some(v));
    let data_digest_holds = annotations.get(DATA_DIGEST) == Some(&template::data_digest(data));
    let data_holds = !data_known || &expected.data == data;
    if labels_hold && annotations_hold && data_digest_holds && data_holds {
        SecretState::Current
    } else {
        SecretState::Stale
    }
}

/// What the dry run's refusal means: nothing was issued.
pub(super) const NOT_ISSUED: &str = "so it issued no client secret: a secret nobody can store is lost, and every retry would issue another";
/// What a refused write after an issue means (OAuth 2.0).
pub(super) const KEPT: &str = "the client secret just issued is kept in the operator's memory (for up to an hour) and written as soon as the Secret can be; no other secret is issued meanwhile";
/// What a refused write means for an OAuth 1.0a consumer (its key is set after the write).
pub(super) const NOT_SET: &str = "the application still trusts the previous key: the consumer is set only after the Secret holds the new one";

/// Writes the Secret: created when absent (a name someone takes meanwhile makes the create
/// fail rather than overwrite theirs), server-side applied when ours, so fields other managers
/// own are left alone; keys dropped from the template are removed. A refusal (RBAC, admission,
/// validation) is [`Error::SecretNotWritable`] with `consequence`.
pub(super) async fn write(
    api: &Api<Secret>,
    obj: &ExternalApplication,
    name: &str,
    stored: &Stored,
    rendered: &Rendered,
    consequence: &'static str,
) -> Result<(), Error> {
    send(api, obj, name, stored, rendered, false)
        .await
        .map_err(|e| refused(e, name, consequence))
}

/// The same write as a server-side dry run (admission, RBAC, quotas and validation all run,
/// nothing is stored): asked before a new client secret is issued, so that the application
/// never hands out a secret the operator cannot keep (a retry would otherwise issue another).
/// A refusal is [`Error::SecretNotWritable`], saying what refused it.
pub(super) async fn check_writable(
    api: &Api<Secret>,
    obj: &ExternalApplication,
    name: &str,
    stored: &Stored,
    rendered: &Rendered,
) -> Result<(), Error> {
    send(api, obj, name, stored, rendered, true)
        .await
        .map_err(|e| refused(e, name, NOT_ISSUED))
}

/// A refusal by the API server (not an outage, which stays a retried Kubernetes error).
fn refused(e: Error, name: &str, consequence: &'static str) -> Error {
    match e {
        Error::Kube(kube::Error::Api(s)) if matches!(s.code, 400 | 403 | 404 | 422) => {
            Error::SecretNotWritable {
                name: name.to_string(),
                detail: crate::conditions::truncate(&s.message, 512),
                consequence,
            }
        }
        other => other,
    }
}

async fn send(
    api: &Api<Secret>,
    obj: &ExternalApplication,
    name: &str,
    stored: &Stored,
    rendered: &Rendered,
    dry_run: bool,
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
        let mut params = PatchParams::apply(FIELD_MANAGER).force();
        params.dry_run = dry_run;
        api.patch(name, &params, &Patch::Apply(&secret)).await?;
        if dry_run {
            return Ok(());
        }
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
                dry_run,
            },
            &secret,
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::SecretTemplate;

    fn expected(secret: &str) -> Rendered {
        let inputs = template::Inputs::default().with("clientId", "c1");
        template::render(
            &SecretTemplate::default(),
            &template::OAUTH2,
            "tool",
            &inputs,
            &[("clientSecret", secret.to_string())].into(),
        )
        .unwrap()
    }

    fn stored(r: &Rendered) -> Stored {
        Stored::Ours {
            labels: r.labels.clone(),
            annotations: r.annotations.clone(),
            data: r.data.clone(),
        }
    }

    #[test]
    fn state_table() {
        let written = expected("s1");
        let edit = |f: &dyn Fn(&mut Rendered)| {
            let mut r = written.clone();
            f(&mut r);
            stored(&r)
        };
        let cases: Vec<(&str, Stored, Rendered, bool, SecretState)> = vec![
            (
                "absent",
                Stored::Absent,
                written.clone(),
                true,
                SecretState::Absent,
            ),
            (
                "as written",
                stored(&written),
                written.clone(),
                true,
                SecretState::Current,
            ),
            (
                "as written, secret unknown: the digests decide",
                stored(&written),
                expected(""),
                false,
                SecretState::Current,
            ),
            (
                "data edited, secret unknown",
                edit(&|r| {
                    r.data.insert("clientSecret".into(), "typed by hand".into());
                }),
                expected(""),
                false,
                SecretState::Stale,
            ),
            (
                "the secret rotated behind the operator's back",
                stored(&written),
                expected("s2"),
                true,
                SecretState::Stale,
            ),
            (
                "a label removed",
                edit(&|r| {
                    r.labels.clear();
                }),
                written.clone(),
                true,
                SecretState::Stale,
            ),
            (
                "rendered from other inputs",
                edit(&|r| {
                    r.annotations
                        .insert(template::INPUTS_DIGEST.into(), "old".into());
                }),
                written.clone(),
                true,
                SecretState::Stale,
            ),
        ];
        for (name, stored, expected, known, want) in cases {
            assert_eq!(state(&stored, &expected, known), want, "{name}");
        }
    }
}
