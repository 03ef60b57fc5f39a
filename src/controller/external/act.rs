//! Executing the plan (clients: the application, Kubernetes), in order, and the deletion. Every
//! step that changes something has failpoints `before-<step>` and `after-<step>`.

use k8s_openapi::api::core::v1::Secret;
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};

use super::super::claims::{Claimant, Held};
use super::super::{Context, finalizer};
use super::observe::{self, App, Observed, Rules};
use super::plan::{Rotate, Steps};
use super::{FINALIZER, claim, secret, template};
use crate::atlassian::{OAuth2ClientEntity, OAuth2ClientSpec, Secret as SecretValue};
use crate::crd::{ClientClaim, ExternalApplication, ExternalClaims, OAuth2Client};
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

/// Where a pass acts: the clients and the application.
pub(super) struct Here<'a> {
    pub(super) ctx: &'a Context,
    pub(super) api: &'a Api<ExternalApplication>,
    pub(super) ns: &'a str,
    pub(super) app: &'a App,
    /// What the other objects in the caches hold.
    pub(super) others: &'a [(Held, Claimant)],
}

pub(super) async fn act(
    obj: &ExternalApplication,
    oauth2: &OAuth2Client,
    here: &Here<'_>,
    rules: &Rules,
    observed: &Observed,
    steps: &Steps,
    claims: &mut ExternalClaims,
) -> Result<Acted, Error> {
    let Here {
        ctx, api, ns, app, ..
    } = *here;
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
        claims.oauth2 = Some(ClientClaim {
            application_id: app.application_id.clone(),
            name: spec.name.clone(),
            id: None,
        });
        step("claim", || claim::write(api, &name, claims)).await?;
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
        claims.oauth2 = Some(ClientClaim {
            application_id: app.application_id.clone(),
            name: spec.name.clone(),
            id: Some(current.id.clone()),
        });
        step("record-id", || claim::write(api, &name, claims)).await?;
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
        // A new displayName renamed the client: the name claim follows it.
        if let Some(c) = claims.oauth2.as_mut()
            && c.name != spec.name
        {
            c.name = spec.name.clone();
            claim::write(api, &name, claims).await?;
        }
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
    claims: &ExternalClaims,
    others: &[(Held, Claimant)],
) -> Result<(), Error> {
    let failed = |what: &str| {
        let what = format!("{what} in {}", app.label);
        move |e| Error::remote(what, e)
    };
    let claimed = claim::oauth2(claims, app);
    // What an older object holds too is left to it (this one is a copy, or lost a race).
    let held_elsewhere = |thing: Held| claim::check(obj, others, thing, true, app).is_err();
    let id = match claimed {
        None => None,
        Some(c)
            if held_elsewhere(Held::ClientName {
                application_id: c.application_id.clone(),
                name: c.name.clone(),
            }) =>
        {
            None
        }
        Some(ClientClaim { id: Some(id), .. }) => Some(id.clone()),
        // Claimed but never recorded: created just before a crash, or never.
        Some(c) => app
            .client
            .list_oauth2_clients()
            .await
            .map_err(failed("listing the OAuth 2.0 clients"))?
            .into_iter()
            .find(|found| found.name == c.name)
            .map(|found| found.id),
    };
    let id = id.filter(|id| {
        !held_elsewhere(Held::Client {
            application_id: app.application_id.clone(),
            id: id.clone(),
        })
    });
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
            return Err(Error::StillThereAfterDeletion {
                what: format!("OAuth 2.0 client {id}"),
                application: app.label.clone(),
            });
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
