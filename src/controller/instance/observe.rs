//! Observing one application (client required): its manifest and clock, whether the
//! credentials are an administrator's, and — when spec.url changed — whether the old URL still
//! serves the same application. Never writes anything anywhere.

use std::time::SystemTime;

use kube::ResourceExt;

use super::super::lookups::Lookups;
use super::super::relations;
use super::inventory;
use crate::atlassian::{ApiError, AtlassianClient, Credentials, Manifest};
use crate::crd::{ApplicationInstance, ApplicationType, same_url};
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
    lookups: &Lookups<'_>,
    ns: &str,
) -> Result<Access, Error> {
    let (credentials, secret_version) = match &obj.spec.credentials_secret_ref {
        Some(r) => {
            obj.spec
                .credentials_transport_ok()
                .map_err(Error::HttpsRequired)?;
            let url = obj.spec.url.as_str();
            let (c, v) = lookups.kube.credentials(ns, r, url).await?;
            (Some(c), v)
        }
        None => (None, None),
    };
    let ca = lookups.kube.ca_bundle(ns, obj.spec.tls.as_ref()).await?;
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
    /// When spec.url moved away from the URL the identity was recorded at: what the old URL
    /// says (a clone, a proven move, or nothing yet).
    pub(super) relocation: Option<Relocation>,
    /// Other instances that recorded the same application id: `(namespace/name, url)`.
    pub(super) same_application: Vec<(String, String)>,
    /// Every link the application holds, read when the credentials proved administrator's
    /// (and not in the minutes after a failed read).
    pub(super) inventory: Option<ObservedInventory>,
}

/// The inventory as read, and who manages which link (from the claims in the caches).
#[derive(Debug)]
pub(super) struct ObservedInventory {
    pub(super) read: Result<inventory::Observed, ApiError>,
    pub(super) managers: std::collections::BTreeMap<String, String>,
}

/// `namespaced`: false for a shared application, whose duplicates are not looked for among
/// the namespaces' instances. `inventory_requested`: read the inventory now (a resync request),
/// whenever it was last read.
pub(super) async fn observe(
    obj: &ApplicationInstance,
    lookups: &Lookups<'_>,
    access: &Access,
    cloud: bool,
    namespaced: bool,
    inventory_requested: bool,
) -> Result<Observation, Error> {
    let url = obj.spec.url.as_str();
    let uid = obj.metadata.uid.as_deref();
    let anonymous = client(lookups, url, &Credentials::Anonymous, None, access, None)?;
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
    // Identity first: the credentials go only to an application that shows the id this
    // instance is pinned to (spec.applicationId, else the id first verified).
    let pinned = pinned_id(obj);
    let identity_ok = pinned.is_none_or(|p| p == manifest.id);
    let relocation = match old.and_then(|s| s.url.as_deref()) {
        Some(old_url) if identity_ok && pinned.is_some() && !same_url(old_url, url) => {
            Some(relocation(lookups, obj, old_url, &manifest.id, access).await?)
        }
        _ => None,
    };
    let send_credentials = identity_ok && relocation.as_ref().is_none_or(Relocation::is_move);
    let (admin, inventory) = match (&access.credentials, cloud) {
        (Some(creds), false) if send_credentials => {
            let admin = client(lookups, url, creds, access.ca.as_deref(), access, uid)?;
            admin.learn_application_type(&manifest.type_id);
            admin.learn_applinks_version(manifest.applinks_version.as_deref());
            let secret = obj
                .spec
                .credentials_secret_ref
                .as_ref()
                .map(|r| format!(" (Secret {})", r.name))
                .unwrap_or_default();
            let result = admin.verify_admin().await;
            // The inventory needs the administrator's rights: read only once they are proven.
            let old_inventory = obj.status.as_ref().and_then(|s| s.inventory.as_ref());
            let due = inventory::due(
                old_inventory,
                k8s_openapi::jiff::Timestamp::now(),
                inventory_requested,
            );
            let inventory = match result {
                Ok(()) if due => Some(ObservedInventory {
                    read: inventory::read(&admin).await,
                    managers: inventory::managers(
                        lookups,
                        &manifest.id,
                        namespaced.then(|| obj.namespace()).flatten().as_deref(),
                    ),
                }),
                _ => None,
            };
            let check = AdminCheck {
                who: format!("{}{secret}", creds.describe()),
                result,
            };
            (Some(check), inventory)
        }
        _ => (None, None),
    };
    Ok(Observation {
        inventory,
        same_application: if namespaced {
            relations::same_application(lookups.instances, obj, &manifest.id)
        } else {
            Vec::new()
        },
        manifest,
        app_clock,
        our_clock,
        admin,
        relocation,
    })
}

/// The application id this instance is pinned to: from Git (`spec.applicationId`), else the
/// one recorded at first verified contact.
pub(super) fn pinned_id(obj: &ApplicationInstance) -> Option<&str> {
    obj.spec.application_id.as_deref().or(obj
        .status
        .as_ref()
        .and_then(|s| s.application_id.as_deref()))
}

/// Annotation by which a person confirms that the application left the old URL for good (its
/// value: the old URL), when the old URL only fails and so proves nothing.
pub const CONFIRM_MOVE_FROM: &str = "applinks.io/confirm-move-from";

/// What the old URL says when spec.url changed and the new URL shows the pinned id.
#[derive(Debug, PartialEq)]
pub(super) enum Relocation {
    /// The old URL still serves the same id: a clone (a staging copy keeps its Server ID), not a
    /// move.
    StillServes,
    /// Proven moved: why (another application or none answers there, the name is gone, it
    /// redirects to the new URL, or a person confirmed it).
    Moved(String),
    /// The old URL fails in a way that proves nothing (down, timing out, refusing): an outage
    /// during a URL edit must not relocate every peer.
    Unconfirmed { old_url: String, detail: String },
}

impl Relocation {
    fn is_move(&self) -> bool {
        matches!(self, Relocation::Moved(_))
    }
}

/// Decides whether the application really left `old_url` (anonymous reads only).
async fn relocation(
    lookups: &Lookups<'_>,
    obj: &ApplicationInstance,
    old_url: &str,
    id: &str,
    access: &Access,
) -> Result<Relocation, Error> {
    let old_client = client(
        lookups,
        old_url,
        &Credentials::Anonymous,
        None,
        access,
        None,
    )?;
    let judged = judge_old_url(
        old_url,
        obj.spec.url.as_str(),
        id,
        old_client.manifest().await,
    );
    // A person's confirmation settles an old URL that only fails, never one that still serves
    // the application (a clone stays a clone).
    let confirmed = obj
        .annotations()
        .get(CONFIRM_MOVE_FROM)
        .is_some_and(|v| same_url(v, old_url));
    Ok(match judged {
        Relocation::Unconfirmed { .. } if confirmed => {
            Relocation::Moved(format!("confirmed by the annotation {CONFIRM_MOVE_FROM}"))
        }
        other => other,
    })
}

/// What proves a move, from the old URL's answer to a manifest read (pure; table-tested).
pub(super) fn judge_old_url(
    old_url: &str,
    new_url: &str,
    id: &str,
    answer: Result<Manifest, ApiError>,
) -> Relocation {
    match answer {
        Ok(m) if m.id == id => Relocation::StillServes,
        Ok(m) => Relocation::Moved(format!(
            "{old_url} now serves another application ({})",
            m.id
        )),
        Err(ApiError::UnknownHost { .. }) => {
            Relocation::Moved(format!("the host name of {old_url} no longer resolves"))
        }
        Err(
            ApiError::ManifestRedirected { location, .. } | ApiError::Redirected { location, .. },
        ) if location
            .to_ascii_lowercase()
            .starts_with(&new_url.trim_end_matches('/').to_ascii_lowercase()) =>
        {
            Relocation::Moved(format!("{old_url} redirects to {new_url}"))
        }
        Err(e) if e.is_not_found() => Relocation::Moved(format!(
            "{old_url} serves no application links manifest any more"
        )),
        Err(e) => Relocation::Unconfirmed {
            old_url: old_url.to_string(),
            detail: e.to_string(),
        },
    }
}

fn is_bitbucket(obj: &ApplicationInstance) -> bool {
    obj.spec.app_type == Some(ApplicationType::Bitbucket)
        || obj.spec.url.host().eq_ignore_ascii_case("bitbucket.org")
}

/// What the operator knows of a Bitbucket Cloud site without a manifest.
fn bitbucket_cloud_manifest(obj: &ApplicationInstance) -> Manifest {
    let url = obj.spec.url.normalized().to_string();
    Manifest {
        id: crate::atlassian::generic_link_id(&url),
        name: obj.spec.url.host(),
        type_id: "stash".into(),
        url: Some(url),
        ..Default::default()
    }
}

fn client(
    lookups: &Lookups<'_>,
    url: &str,
    creds: &Credentials,
    ca: Option<&str>,
    access: &Access,
    owner: Option<&str>,
) -> Result<AtlassianClient, Error> {
    let ca = ca.or(access.ca.as_deref());
    lookups
        .clients
        .get(url, creds, ca, access.secret_version.as_deref(), owner)
        .map_err(|e| Error::remote("client", e))
}

/// Names the instance for the backoff and logs: `instance/<namespace>/<name>`, or
/// `clusterinstance/<name>` for a shared one.
pub(super) fn key<K: kube::Resource>(kind: &str, obj: &K) -> String {
    match obj.meta().namespace.as_deref() {
        Some(ns) => format!(
            "instance/{ns}/{}",
            obj.meta().name.as_deref().unwrap_or_default()
        ),
        None => format!(
            "{}/{}",
            kind.to_ascii_lowercase(),
            obj.meta().name.as_deref().unwrap_or_default()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "22222222-2222-2222-2222-222222222222";
    const OLD: &str = "https://jira.example.test";
    const NEW: &str = "https://jira-new.example.test";

    fn manifest(id: &str) -> Manifest {
        Manifest {
            id: id.into(),
            ..Default::default()
        }
    }

    /// The boundary of "moved": only answers that show the application left the old URL.
    #[test]
    fn what_proves_a_move() {
        let url = OLD.to_string();
        let cases: Vec<(&str, Result<Manifest, ApiError>, &str)> = vec![
            ("same id still served: a clone", Ok(manifest(ID)), "still"),
            ("another application there", Ok(manifest("other")), "moved"),
            (
                "host name gone",
                Err(ApiError::UnknownHost {
                    url: url.clone(),
                    host: "jira.example.test".into(),
                    detail: "no such host".into(),
                }),
                "moved",
            ),
            (
                "redirect to the new URL",
                Err(ApiError::ManifestRedirected {
                    url: url.clone(),
                    location: format!("{NEW}/rest/applinks/1.0/manifest"),
                }),
                "moved",
            ),
            (
                "redirect elsewhere proves nothing",
                Err(ApiError::ManifestRedirected {
                    url: url.clone(),
                    location: "https://login.example.test/sso".into(),
                }),
                "unconfirmed",
            ),
            (
                "no manifest any more (404)",
                Err(ApiError::NotFound {
                    url: url.clone(),
                    message: None,
                }),
                "moved",
            ),
            (
                "timeout: an outage, not a move",
                Err(ApiError::Timeout {
                    url: url.clone(),
                    timeout: std::time::Duration::from_secs(15),
                    progress: None,
                }),
                "unconfirmed",
            ),
            (
                "connection refused: a restart, not a move",
                Err(ApiError::Unreachable {
                    url: url.clone(),
                    detail: "connection refused".into(),
                }),
                "unconfirmed",
            ),
            (
                "server error",
                Err(ApiError::Server {
                    url: url.clone(),
                    status: 503,
                    message: None,
                }),
                "unconfirmed",
            ),
        ];
        for (name, answer, want) in cases {
            let got = match judge_old_url(OLD, NEW, ID, answer) {
                Relocation::StillServes => "still",
                Relocation::Moved(_) => "moved",
                Relocation::Unconfirmed { .. } => "unconfirmed",
            };
            assert_eq!(got, want, "{name}");
        }
    }
}
