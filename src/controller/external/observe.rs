//! Resolving the application, the rules it can refuse, and observing the client and the Secret
//! (clients: the instance cache, the application, Kubernetes; read only).

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, ResourceExt};

use super::super::claims::{Claimant, Held};
use super::super::{Context, relations};
use super::plan::{self, Desired, Found, Observed as PlanInput, Rotate};
use super::secret::{self, Stored};
use super::template::{self, Inputs};
use super::{ROTATE, claim};
use crate::atlassian::{AtlassianClient, OAuth2ClientEntity, ProviderMetadata};
use crate::crd::ExternalApplication;
use crate::crd::{ExternalClaims, OAuth2Client};
use crate::errors::Error;

/// The application that trusts the tool.
pub(super) struct App {
    pub(super) label: String,
    /// Its manifest id: what claims on it are keyed by.
    pub(super) application_id: String,
    pub(super) base_url: String,
    pub(super) client: AtlassianClient,
}

/// Lowest version of each product with the OAuth 2.0 provider (incoming external links).
const MINIMUM: &[(&str, &str, (u64, u64))] = &[
    ("jira", "Jira", (8, 22)),
    ("confluence", "Confluence", (7, 17)),
    ("stash", "Bitbucket", (7, 20)),
    ("bamboo", "Bamboo", (9, 1)),
];

pub(super) async fn resolve(
    obj: &ExternalApplication,
    ctx: &Context,
    ns: &str,
) -> Result<App, Error> {
    let oauth2 = obj.spec.oauth2.is_some();
    let name = &obj.spec.instance_ref.name;
    let named = relations::named_instance(&ctx.lookups(), ns, &obj.spec.instance_ref).await?;
    let instance = named.instance.clone();
    let s = relations::verified_status(&instance).map_err(|why| Error::InstanceNotReady {
        name: name.clone(),
        why,
    })?;
    let type_id = s.type_id.clone().unwrap_or_else(|| "generic".into());
    if s.cloud == Some(true) {
        return Err(Error::OAuth2NotSupported(format!(
            "ApplicationInstance {name:?} is an Atlassian Cloud site: its OAuth apps are made in the Atlassian developer console, not through the server REST API"
        )));
    }
    if type_id == "generic" {
        return Err(Error::OAuth2NotSupported(format!(
            "ApplicationInstance {name:?} is a generic application without Application Links: it cannot trust a tool; reference a Jira, Confluence, Bitbucket or Bamboo instance"
        )));
    }
    if oauth2 {
        check_version(name, &type_id, s.version.as_deref())?;
    }
    if s.administered != Some(true) {
        return Err(Error::InstanceNotAdministered { name: name.clone() });
    }
    let application_id = s.application_id.clone().unwrap_or_default();
    let client = relations::admin_client(&ctx.lookups(), &named, name).await?;
    Ok(App {
        label: named.label.clone(),
        application_id,
        base_url: instance.spec.url.normalized().to_string(),
        client,
    })
}

/// The product's version has the OAuth 2.0 provider.
fn check_version(name: &str, type_id: &str, version: Option<&str>) -> Result<(), Error> {
    let Some((_, product, min)) = MINIMUM.iter().find(|(t, _, _)| *t == type_id) else {
        return Err(Error::OAuth2NotSupported(format!(
            "ApplicationInstance {name:?} is {type_id:?}, which has no OAuth 2.0 provider for external applications (Jira, Confluence, Bitbucket and Bamboo have one); use oauth1 instead"
        )));
    };
    if let Some(version) = version
        && let Some(found) = major_minor(version)
        && found < *min
    {
        return Err(Error::OAuth2NotSupported(format!(
            "ApplicationInstance {name:?} runs {product} {version}; incoming OAuth 2.0 clients need {product} {}.{} or later: upgrade it, or use oauth1",
            min.0, min.1
        )));
    }
    Ok(())
}

fn major_minor(version: &str) -> Option<(u64, u64)> {
    let mut parts = version.split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

/// What the rules established, for observe and act.
pub(super) struct Rules {
    pub(super) metadata: ProviderMetadata,
}

pub(super) async fn check_rules(
    obj: &ExternalApplication,
    spec: &OAuth2Client,
    app: &App,
) -> Result<Rules, Error> {
    template::check(&obj.spec.secret, &template::OAUTH2).map_err(Error::InvalidSecretTemplate)?;
    let metadata = app
        .client
        .oauth2_metadata()
        .await
        .map_err(|e| Error::remote(format!("reading the OAuth 2.0 provider of {}", app.label), e))?
        .ok_or_else(|| {
            let needs: Vec<String> = MINIMUM
                .iter()
                .map(|(_, product, (major, minor))| format!("{product} {major}.{minor}"))
                .collect();
            Error::OAuth2NotSupported(format!(
                "{} has no OAuth 2.0 provider (rest/oauth2/latest/.well-known/oauth-authorization-server answers 404): it needs {} or later",
                app.label,
                needs.join(", ")
            ))
        })?;
    let offered = &metadata.scopes_supported;
    if !offered.is_empty() {
        for scope in spec.scope.split_whitespace() {
            if !offered.iter().any(|o| o.eq_ignore_ascii_case(scope)) {
                return Err(Error::ScopeNotOffered {
                    scope: scope.to_string(),
                    application: app.label.clone(),
                    offered: offered.join(", "),
                });
            }
        }
    }
    Ok(Rules { metadata })
}

/// Everything observed, for the plan and the status.
pub(super) struct Observed {
    pub(super) desired: Desired,
    pub(super) plan_input: PlanInput,
    /// The client this resource owns, as the application shows it.
    pub(super) client: Option<OAuth2ClientEntity>,
    pub(super) stored: Stored,
    pub(super) secret_name: String,
    /// The value of `applinks.io/rotate`, if set.
    pub(super) rotate_request: Option<String>,
    /// A secret an earlier pass issued and could not store: written now, not issued again.
    pub(super) kept: Option<super::super::issued::Kept>,
}

pub(super) async fn observe(
    obj: &ExternalApplication,
    spec: &OAuth2Client,
    here: &super::act::Here<'_>,
    rules: &Rules,
    claims: &ExternalClaims,
    now: k8s_openapi::jiff::Timestamp,
) -> Result<Observed, Error> {
    let super::act::Here { ctx, ns, app, .. } = *here;
    let desired = Desired {
        name: obj.client_name(),
        redirects: spec.redirect_uris.clone(),
        scope: spec.scope.clone(),
    };
    let (secret_name, stored) = read_secret(obj, ctx, ns).await?;
    let clients =
        app.client.list_oauth2_clients().await.map_err(|e| {
            Error::remote(format!("listing the OAuth 2.0 clients of {}", app.label), e)
        })?;
    let claim = claim::oauth2(claims, app);
    let recorded_id = claim.and_then(|c| c.id.clone());
    let claimed_name = claim.map(|c| &c.name);
    let mut ours = match &recorded_id {
        Some(id) => clients.iter().find(|c| &c.id == id),
        // Created just before a crash, before its id was recorded: found by the claim.
        None => claimed_name.and_then(|n| clients.iter().find(|c| &c.name == n)),
    }
    .cloned();
    let uid = obj.uid().unwrap_or_default();
    let kept = ours.as_ref().and_then(|c| ctx.issued.get(&uid, &c.id));
    if let (Some(k), Some(c)) = (&kept, ours.as_mut())
        && c.client_secret.is_none()
    {
        c.client_secret = Some(k.secret.clone());
    }
    let name_taken_by = clients
        .iter()
        .find(|c| c.name == desired.name && ours.as_ref().is_none_or(|o| o.id != c.id))
        .map(|c| c.id.clone());
    let (rotate_request, rotation) = rotation(obj, now);
    // The rotation asked for already issued the kept secret; only its write is pending.
    let rotation = rotation.filter(|_| kept.is_none());
    let secret_state = match &ours {
        None => plan::SecretState::Absent,
        Some(c) => {
            let inputs = inputs(obj, spec, app, rules, c);
            let secrets: std::collections::BTreeMap<_, _> = c
                .client_secret
                .iter()
                .map(|s| ("clientSecret", s.expose().to_string()))
                .collect();
            let expected = render(obj, &template::OAUTH2, &inputs, &secrets)?;
            secret::state(&stored, &expected, c.client_secret.is_some())
        }
    };
    let plan_input = PlanInput {
        client: ours.as_ref().map(|c| Found {
            id: c.id.clone(),
            name: c.name.clone(),
            redirects: c.redirects.clone(),
            scope: c.scope.clone(),
            secret_readable: c.client_secret.is_some(),
        }),
        claimed: claimed_name.is_some(),
        recorded_id,
        name_taken_by,
        secret: secret_state,
        rotation,
    };
    Ok(Observed {
        desired,
        plan_input,
        client: ours,
        stored,
        secret_name,
        rotate_request,
        kept,
    })
}

/// Refuses a client (or, before the claim, a client name) another object holds: a copy of this
/// resource, or another namespace's resource on the same application.
pub(super) fn check_claims(
    obj: &ExternalApplication,
    app: &App,
    claims: &ExternalClaims,
    others: &[(Held, Claimant)],
    observed: &Observed,
) -> Result<(), Error> {
    let application_id = app.application_id.clone();
    let claimed = claim::oauth2(claims, app);
    let name = claimed.map_or(&observed.desired.name, |c| &c.name);
    claim::check(
        obj,
        others,
        Held::ClientName {
            application_id: application_id.clone(),
            name: name.clone(),
        },
        claimed.is_some(),
        app,
    )?;
    // A new displayName renames the client: the new name must be free too.
    if name != &observed.desired.name {
        claim::check(
            obj,
            others,
            Held::ClientName {
                application_id: application_id.clone(),
                name: observed.desired.name.clone(),
            },
            false,
            app,
        )?;
    }
    if let Some(id) = claimed.and_then(|c| c.id.clone()) {
        claim::check(obj, others, Held::Client { application_id, id }, true, app)?;
    }
    Ok(())
}

/// The placeholder values for a client.
pub(super) fn inputs(
    obj: &ExternalApplication,
    spec: &OAuth2Client,
    app: &App,
    rules: &Rules,
    client: &OAuth2ClientEntity,
) -> Inputs {
    let endpoint = |advertised: &Option<String>, path: &str| {
        advertised.clone().unwrap_or_else(|| {
            format!(
                "{}/rest/oauth2/latest/{path}",
                app.base_url.trim_end_matches('/')
            )
        })
    };
    Inputs::default()
        .with("clientId", client.client_id.clone())
        .with(
            "authorizeUrl",
            endpoint(&rules.metadata.authorization_endpoint, "authorize"),
        )
        .with(
            "tokenUrl",
            endpoint(&rules.metadata.token_endpoint, "token"),
        )
        .with("baseUrl", app.base_url.clone())
        .with("scope", spec.scope.clone())
        .with("name", obj.client_name())
}

/// The Secret's name and what is there; a Secret someone else owns stops the pass.
pub(super) async fn read_secret(
    obj: &ExternalApplication,
    ctx: &Context,
    ns: &str,
) -> Result<(String, Stored), Error> {
    let secret_name = obj.secret_name();
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let uid = obj.uid().unwrap_or_default();
    let stored = secret::read(&secrets, &secret_name, &uid).await?;
    if matches!(stored, Stored::Foreign) {
        return Err(Error::SecretNotOwned { name: secret_name });
    }
    Ok((secret_name, stored))
}

/// The Secret this resource's template renders to; secret placeholders without a value in
/// `secrets` render empty. Too large a rendering is refused ([`template::MAX_TOTAL_BYTES`]).
pub(super) fn render(
    obj: &ExternalApplication,
    vocabulary: &template::Vocabulary,
    inputs: &Inputs,
    secrets: &std::collections::BTreeMap<&'static str, String>,
) -> Result<template::Rendered, Error> {
    template::render(
        &obj.spec.secret,
        vocabulary,
        &obj.name_any(),
        inputs,
        secrets,
    )
    .map_err(Error::SecretTooLarge)
}

/// The `applinks.io/rotate` value, and whether a rotation is asked for (annotation or schedule).
pub(super) fn rotation(
    obj: &ExternalApplication,
    now: k8s_openapi::jiff::Timestamp,
) -> (Option<String>, Option<Rotate>) {
    let rotate_request = obj.annotations().get(ROTATE).cloned();
    let old = obj.status.clone().unwrap_or_default();
    let rotation = if rotate_request.is_some() && rotate_request != old.rotation_request {
        Some(Rotate::Requested)
    } else if super::status::rotation_due(obj, &old, now).is_some_and(|d| d.is_zero()) {
        Some(Rotate::Due)
    } else {
        None
    };
    (rotate_request, rotation)
}
