//! Executing the plan (clients: the application, Kubernetes), in order, and the deletion. Every
//! step that changes something has failpoints `before-<step>` and `after-<step>`.

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};
use serde_json::json;

use super::super::{Context, finalizer};
use super::observe::{self, App, Observed, Rules};
use super::plan::{Rotate, Steps};
use super::{CLAIM_ID, CLAIM_NAME, FINALIZER, secret, template};
use crate::atlassian::{OAuth2ClientEntity, OAuth2ClientSpec, Secret as SecretValue};
use crate::crd::{ExternalApplication, OAuth2Client};
use crate::errors::Error;
use crate::failpoint;
use crate::reasons;

/// What acting did, for the status.
pub(super) struct Acted {
    /// The client after the steps (without its secret).
    pub(super) client: OAuth2ClientEntity,
    /// A new secret was issued (created or rotated).
    pub(super) issued: bool,
    /// Changes made, for the message.
    pub(super) changes: Vec<&'static str>,
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn act(
    obj: &ExternalApplication,
    oauth2: &OAuth2Client,
    ctx: &Context,
    api: &Api<ExternalApplication>,
    ns: &str,
    app: &App,
    rules: &Rules,
    observed: &Observed,
    steps: &Steps,
) -> Result<Acted, Error> {
    let name = obj.name_any();
    let uid = obj.uid().unwrap_or_default();
    let failed = |what: &str| {
        let what = format!("{what} in {}", app.label);
        move |e| Error::remote(what, e)
    };
    let spec = OAuth2ClientSpec {
        name: observed.desired.name.clone(),
        redirects: observed.desired.redirects.clone(),
        scope: observed.desired.scope.clone(),
    };
    let mut client = observed.client.clone();
    let mut secret: Option<SecretValue> = client.as_ref().and_then(|c| c.client_secret.clone());
    let mut issued = false;
    let mut changes = Vec::new();
    if steps.claim {
        step("claim", || async {
            let patch = json!({"metadata": {"annotations": {CLAIM_NAME: spec.name}}});
            api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
            Ok(())
        })
        .await?;
    }
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    if steps.create || steps.rotate.is_some() {
        writable(obj, oauth2, app, rules, observed, client.as_ref(), &secrets).await?;
    }
    if steps.create {
        let created = step("create", || async {
            app.client
                .create_oauth2_client(&spec)
                .await
                .map_err(failed("creating the OAuth 2.0 client"))
        })
        .await?;
        let (reason, note) = if steps.recreate {
            (
                reasons::CLIENT_RECREATED,
                format!(
                    "the OAuth 2.0 client was deleted in {} behind the operator's back; created it again as {} and wrote the new credentials",
                    app.label, created.client_id
                ),
            )
        } else {
            (
                reasons::CREATED,
                format!(
                    "created OAuth 2.0 client {} in {}",
                    created.client_id, app.label
                ),
            )
        };
        ctx.event(obj, EventType::Normal, reason, &note, "Reconcile")
            .await;
        secret = created.client_secret.clone();
        if let Some(s) = &secret {
            ctx.issued.keep(&uid, &created.id, s, false);
        }
        client = Some(created);
        issued = true;
        changes.push("created the client");
    }
    let Some(mut current) = client else {
        return Err(Error::InvalidSpec("no client after the plan ran".into()));
    };
    if steps.record_id {
        step("record-id", || async {
            let patch =
                json!({"metadata": {"annotations": {CLAIM_ID: current.id, CLAIM_NAME: spec.name}}});
            api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
            Ok(())
        })
        .await?;
    }
    if steps.update {
        step("update", || async {
            app.client
                .update_oauth2_client(&current.id, &spec)
                .await
                .map_err(failed("changing the OAuth 2.0 client"))
        })
        .await?;
        current.name = spec.name.clone();
        current.redirects = spec.redirects.clone();
        current.scope = spec.scope.clone();
        ctx.event(
            obj,
            EventType::Normal,
            reasons::CLIENT_UPDATED,
            &format!(
                "set the redirect URLs and scope of OAuth 2.0 client {} in {} to the spec's",
                current.client_id, app.label
            ),
            "Reconcile",
        )
        .await;
        changes.push("updated the client");
    }
    if let Some(why) = steps.rotate {
        let reset = step("rotate", || async {
            app.client
                .reset_oauth2_client_secret(&current.client_id)
                .await
                .map_err(failed("issuing a new client secret"))
        })
        .await?;
        secret = match reset {
            Some(s) => Some(s),
            None => app
                .client
                .get_oauth2_client(&current.id)
                .await
                .map_err(failed("reading the new client secret"))?
                .and_then(|c| c.client_secret),
        };
        if let Some(s) = &secret {
            ctx.issued.keep(&uid, &current.id, s, true);
        }
        let why = match why {
            Rotate::Requested => "as the applinks.io/rotate annotation asked",
            Rotate::Due => "as spec.rotation.every asked",
            Rotate::SecretLost => {
                "because the Secret had to be written again and the application shows a secret only once"
            }
        };
        ctx.event(
            obj,
            EventType::Normal,
            reasons::SECRET_ROTATED,
            &format!(
                "issued a new secret for OAuth 2.0 client {} {why}; the old one no longer works",
                current.client_id
            ),
            "Reconcile",
        )
        .await;
        issued = true;
        changes.push("issued a new secret");
    }
    if steps.write_secret {
        let Some(value) = secret.as_ref() else {
            return Err(Error::remote(
                format!("reading the client secret in {}", app.label),
                crate::atlassian::ApiError::MalformedResponse {
                    url: app.base_url.clone(),
                    detail: "the OAuth 2.0 provider returned no client secret".into(),
                },
            ));
        };
        let inputs = observe::inputs(obj, oauth2, app, rules, &current);
        let rendered = observe::render(
            obj,
            &template::OAUTH2,
            &inputs,
            &[("clientSecret", value.expose().to_string())].into(),
        )?;
        step("secret-write", || async {
            secret::write(
                &secrets,
                obj,
                &observed.secret_name,
                &observed.stored,
                &rendered,
                secret::KEPT,
            )
            .await
        })
        .await?;
        ctx.event(
            obj,
            EventType::Normal,
            reasons::SECRET_WRITTEN,
            &format!(
                "wrote the credentials of OAuth 2.0 client {} to Secret {}",
                current.client_id, observed.secret_name
            ),
            "Reconcile",
        )
        .await;
        changes.push("wrote the Secret");
    }
    // Everything is stored: nothing is pending for a later pass.
    ctx.issued.forget(&uid);
    current.client_secret = None;
    Ok(Acted {
        client: current,
        issued,
        changes,
    })
}

/// Whether the Secret can be written, asked of the API server (a dry run) before a new client
/// secret is issued. The rendering is the one the write would make, with stand-ins for what the
/// application has not issued yet.
async fn writable(
    obj: &ExternalApplication,
    oauth2: &OAuth2Client,
    app: &App,
    rules: &Rules,
    observed: &Observed,
    client: Option<&OAuth2ClientEntity>,
    secrets: &Api<Secret>,
) -> Result<(), Error> {
    let stand_in = OAuth2ClientEntity {
        id: String::new(),
        client_id: "not-issued-yet".into(),
        client_secret: None,
        name: observed.desired.name.clone(),
        redirects: Vec::new(),
        scope: String::new(),
    };
    let inputs = observe::inputs(obj, oauth2, app, rules, client.unwrap_or(&stand_in));
    let rendered = observe::render(
        obj,
        &template::OAUTH2,
        &inputs,
        &[("clientSecret", "not-issued-yet".to_string())].into(),
    )?;
    secret::check_writable(
        secrets,
        obj,
        &observed.secret_name,
        &observed.stored,
        &rendered,
    )
    .await
}

/// Runs one changing step between its failpoints.
pub(super) async fn step<T, F, Fut>(name: &str, f: F) -> Result<T, Error>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    failpoint::hit(&format!("before-{name}"));
    let out = f().await?;
    failpoint::hit(&format!("after-{name}"));
    Ok(out)
}

/// Deletes the client this resource owns and verifies it is gone, then lets the resource go.
/// The Secret is garbage-collected with the resource (ownerReference).
pub(super) async fn delete(
    obj: &ExternalApplication,
    ctx: &Context,
    api: &Api<ExternalApplication>,
    app: &App,
) -> Result<(), Error> {
    let failed = |what: &str| {
        let what = format!("{what} in {}", app.label);
        move |e| Error::remote(what, e)
    };
    let annotations = obj.annotations();
    let id = match annotations.get(CLAIM_ID) {
        Some(id) => Some(id.clone()),
        // Claimed but never recorded: created just before a crash, or never.
        None => app
            .client
            .list_oauth2_clients()
            .await
            .map_err(failed("listing the OAuth 2.0 clients"))?
            .into_iter()
            .find(|c| annotations.get(CLAIM_NAME) == Some(&c.name))
            .map(|c| c.id),
    };
    if let Some(id) = id {
        let existed = step("delete", || async {
            app.client
                .delete_oauth2_client(&id)
                .await
                .map_err(failed("deleting the OAuth 2.0 client"))
        })
        .await?;
        if app
            .client
            .get_oauth2_client(&id)
            .await
            .map_err(failed("checking the deleted OAuth 2.0 client"))?
            .is_some()
        {
            return Err(Error::remote(
                format!("deleting the OAuth 2.0 client in {}", app.label),
                crate::atlassian::ApiError::Conflict {
                    url: app.base_url.clone(),
                    message: Some(format!("client {id} is still there after its deletion")),
                },
            ));
        }
        if existed {
            ctx.event(
                obj,
                EventType::Normal,
                reasons::DELETED,
                &format!(
                    "deleted the OAuth 2.0 client in {} (and every token issued to it)",
                    app.label
                ),
                "Delete",
            )
            .await;
        }
    }
    step("finalizer-removal", || async {
        finalizer::remove(api, obj, FINALIZER).await
    })
    .await
}
