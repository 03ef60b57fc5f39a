//! Observing one application (client required): its manifest and clock, whether the
//! credentials are an administrator's, and — when spec.url changed — whether the old URL still
//! serves the same application. Never writes anything anywhere.

use std::time::SystemTime;

use kube::ResourceExt;

use super::super::Context;
use super::super::relations;
use crate::atlassian::{ApiError, AtlassianClient, Credentials, Manifest};
use crate::crd::{ApplicationInstance, ApplicationType};
use crate::errors::Error;

/// What the instance's Secrets gave (client required: Kubernetes API).
pub(super) struct Access {
    pub(super) credentials: Option<Credentials>,
    /// The Secret's resourceVersion: credentials rejected once are retried only after it
    /// changes.
    pub(super) secret_version: Option<String>,
    pub(super) ca: Option<String>,
}

pub(super) async fn resolve_access(
    obj: &ApplicationInstance,
    ctx: &Context,
    ns: &str,
) -> Result<Access, Error> {
    let (credentials, secret_version) = match &obj.spec.credentials_secret_ref {
        Some(r) => {
            let (c, v) = crate::secrets::credentials(&ctx.client, ns, r).await?;
            (Some(c), v)
        }
        None => (None, None),
    };
    let ca = crate::secrets::ca_bundle(&ctx.client, ns, obj.spec.tls.as_ref()).await?;
    Ok(Access {
        credentials,
        secret_version,
        ca,
    })
}

/// Who the credentials are (never the secret) and whether they are an administrator's.
#[derive(Debug)]
pub(super) struct AdminCheck {
    /// E.g. `basic auth as "admin" (Secret jira-admin)`.
    pub(super) who: String,
    pub(super) result: Result<(), ApiError>,
}

/// Everything the status function needs, as plain data.
#[derive(Debug)]
pub(super) struct Observation {
    pub(super) manifest: Manifest,
    /// The application's clock when it answered.
    pub(super) app_clock: Option<SystemTime>,
    /// The operator's clock right after the answer.
    pub(super) our_clock: SystemTime,
    /// `None` when not checked (no credentials, or a cloud site, which is never administered
    /// through the server REST).
    pub(super) admin: Option<AdminCheck>,
    /// When spec.url moved away from the URL the identity was recorded at: whether that old URL
    /// still serves the same application id (a clone, not a move).
    pub(super) old_url_still_serves: Option<bool>,
    /// Other instances that recorded the same application id: `(namespace/name, url)`.
    pub(super) same_application: Vec<(String, String)>,
}

pub(super) async fn observe(
    obj: &ApplicationInstance,
    ctx: &Context,
    access: &Access,
    cloud: bool,
) -> Result<Observation, Error> {
    let url = obj.spec.url.as_str();
    let uid = obj.metadata.uid.as_deref();
    let anonymous = client(ctx, url, &Credentials::Anonymous, None, access, None)?;
    let (manifest, app_clock) = match anonymous.manifest_and_clock().await {
        Ok(found) => found,
        // Bitbucket Cloud runs no application links at all: no manifest. It can still be the
        // target of a one-way link, which Atlassian keys by its URL, as for any application
        // without a manifest.
        Err(e) if e.is_not_found() && cloud && is_bitbucket(obj) => {
            (bitbucket_cloud_manifest(obj), None)
        }
        Err(e) => return Err(Error::remote(format!("reading the manifest of {url}"), e)),
    };
    let our_clock = SystemTime::now();

    let old = obj.status.as_ref();
    let old_url_still_serves = match (
        old.and_then(|s| s.url.as_deref()),
        old.and_then(|s| s.application_id.as_deref()),
    ) {
        (Some(old_url), Some(id)) if old_url != url && id == manifest.id => {
            let old_client = client(ctx, old_url, &Credentials::Anonymous, None, access, None)?;
            // Unreachable or another id there: the application really moved.
            Some(
                old_client
                    .manifest()
                    .await
                    .is_ok_and(|m| m.id == manifest.id),
            )
        }
        _ => None,
    };

    let admin = match (&access.credentials, cloud) {
        (Some(creds), false) => {
            let admin = client(ctx, url, creds, access.ca.as_deref(), access, uid)?;
            let secret = obj
                .spec
                .credentials_secret_ref
                .as_ref()
                .map(|r| format!(" (Secret {})", r.name))
                .unwrap_or_default();
            Some(AdminCheck {
                who: format!("{}{secret}", creds.describe()),
                result: admin.verify_admin().await,
            })
        }
        _ => None,
    };
    Ok(Observation {
        same_application: relations::same_application(&ctx.instances, obj, &manifest.id),
        manifest,
        app_clock,
        our_clock,
        admin,
        old_url_still_serves,
    })
}

fn is_bitbucket(obj: &ApplicationInstance) -> bool {
    obj.spec.app_type == Some(ApplicationType::Bitbucket)
        || obj.spec.url.host().eq_ignore_ascii_case("bitbucket.org")
}

/// What the operator knows of a Bitbucket Cloud site without a manifest.
fn bitbucket_cloud_manifest(obj: &ApplicationInstance) -> Manifest {
    let url = obj.spec.url.normalized().to_string();
    Manifest {
        id: crate::controller::link_id_of_url(&url),
        name: obj.spec.url.host(),
        type_id: "stash".into(),
        url: Some(url),
        ..Default::default()
    }
}

fn client(
    ctx: &Context,
    url: &str,
    creds: &Credentials,
    ca: Option<&str>,
    access: &Access,
    owner: Option<&str>,
) -> Result<AtlassianClient, Error> {
    let ca = ca.or(access.ca.as_deref());
    ctx.clients
        .get(url, creds, ca, access.secret_version.as_deref(), owner)
        .map_err(|e| Error::remote("client", e))
}

/// `namespace/name` of the instance, for the backoff and logs.
pub(super) fn key(obj: &ApplicationInstance) -> String {
    format!(
        "instance/{}/{}",
        obj.namespace().unwrap_or_default(),
        obj.name_any()
    )
}
