//! Resolving both applications of a link (client required: the instance cache and Secrets),
//! and the rules that depend on them (no client).

use super::super::Context;
use super::super::lookups::Lookups;
use super::super::relations;
use crate::atlassian::generic_link_id;
use crate::atlassian::{AtlassianClient, Credentials};
use crate::crd::{ApplicationLink, ApplicationType, Authentication, LocalObjectRef};
use crate::errors::Error;
use crate::planner::{End, Peer};

/// One application of the link, resolved.
pub(super) struct App {
    /// How users name it: the instance name, or the inline URL.
    pub(super) label: String,
    pub(super) id: String,
    pub(super) name: String,
    pub(super) type_id: String,
    pub(super) url: String,
    pub(super) display_url: String,
    pub(super) cloud: bool,
    /// Admin client when the operator administers this application (never a cloud site).
    pub(super) admin: Option<AtlassianClient>,
    /// The environment its instance declares (`spec.environment`); none for an inline URL.
    pub(super) environment: Option<String>,
}

impl App {
    pub(super) fn as_peer(&self) -> Peer {
        Peer {
            id: self.id.clone(),
            name: self.name.clone(),
            // Without applinks, a link to Bitbucket Cloud is a generic link (keyed by the URL).
            type_id: if self.is_bitbucket_cloud() {
                "generic".into()
            } else {
                self.type_id.clone()
            },
            rpc_url: self.url.clone(),
            display_url: self.display_url.clone(),
        }
    }

    /// Bitbucket Cloud runs no application links at all.
    pub(super) fn is_bitbucket_cloud(&self) -> bool {
        self.cloud && self.type_id == "stash"
    }
}

/// Which ends the operator manages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    /// Both ends, with authentication.
    TwoWay,
    /// The source end only, without authentication (the target is not administered, or is
    /// Bitbucket Cloud).
    OneWay,
    /// The server end only, authenticated; the cloud site's administrator makes the other end
    /// in the site's admin UI (a cloud site is never written to through the server REST).
    Cloud { cloud_end: End },
}

pub(super) struct Resolved {
    pub(super) source: App,
    pub(super) target: App,
    pub(super) mode: Mode,
}

impl Resolved {
    pub(super) fn app(&self, end: End) -> &App {
        match end {
            End::Source => &self.source,
            End::Target => &self.target,
        }
    }

    /// Whether the operator manages the end in this application.
    pub(super) fn manages(&self, end: End) -> bool {
        match self.mode {
            Mode::TwoWay => true,
            Mode::OneWay => end == End::Source,
            Mode::Cloud { cloud_end } => end != cloud_end,
        }
    }

    /// The client of the application an end lives in.
    pub(super) fn client(&self, end: End) -> Result<&AtlassianClient, Error> {
        let app = self.app(end);
        app.admin
            .as_ref()
            .filter(|_| self.manages(end))
            .ok_or_else(|| {
                Error::InvalidSpec(format!(
                    "the {} end in {} is not administered by the operator",
                    end.as_str(),
                    app.label
                ))
            })
    }
}

/// The URLs of the applications a pass may call, from the instance cache (no call): what
/// the pass takes its share of the workers for. An instance not found adds nothing (the pass
/// then fails without a remote call).
pub(super) fn application_urls(obj: &ApplicationLink, ctx: &Context, ns: &str) -> Vec<String> {
    let instance_url = |r: &LocalObjectRef| relations::instance_url(ctx, ns, r);
    let mut urls: Vec<String> = instance_url(&obj.spec.source.instance_ref)
        .into_iter()
        .collect();
    match (&obj.spec.target.instance_ref, &obj.spec.target.url) {
        (Some(r), _) => urls.extend(instance_url(r)),
        (None, Some(url)) => urls.push(url.as_str().to_string()),
        (None, None) => {}
    }
    urls
}

/// Finds both applications and decides which ends the operator manages.
pub(super) async fn resolve(
    obj: &ApplicationLink,
    lookups: &Lookups<'_>,
    ns: &str,
) -> Result<Resolved, Error> {
    let source_name = &obj.spec.source.instance_ref.name;
    let source = instance_app(lookups, ns, &obj.spec.source.instance_ref).await?;
    let target = match (&obj.spec.target.instance_ref, &obj.spec.target.url) {
        (Some(r), _) => instance_app(lookups, ns, r).await?,
        (None, Some(url)) => {
            inline_app(
                lookups,
                url.as_str(),
                obj.spec.target.app_type,
                obj.spec.target.cloud,
            )
            .await?
        }
        (None, None) => {
            return Err(Error::InvalidSpec(
                "spec.target needs instanceRef or url (the CRD installed in this cluster is older than the operator: upgrade it)".into(),
            ));
        }
    };
    let target_name = obj
        .spec
        .target
        .instance_ref
        .as_ref()
        .map(|r| r.name.clone());
    let mode = match (source.cloud, target.cloud) {
        (true, true) => {
            return Err(Error::InvalidSpec(
                "both applications are Atlassian Cloud sites: a link between two cloud sites is made in their admin UIs, the operator cannot administer either".into(),
            ));
        }
        (true, false) => {
            if source.is_bitbucket_cloud() {
                return Err(Error::InvalidSpec(
                    "the source is Bitbucket Cloud, which has no application links: make it the target of a link from the server application (one-way)".into(),
                ));
            }
            if target.admin.is_none() {
                return Err(Error::SourceNotAdministered {
                    name: target_name.unwrap_or_else(|| target.label.clone()),
                });
            }
            Mode::Cloud {
                cloud_end: End::Source,
            }
        }
        (false, cloud_target) => {
            if source.admin.is_none() {
                return Err(Error::SourceNotAdministered {
                    name: source_name.clone(),
                });
            }
            if cloud_target && !target.is_bitbucket_cloud() {
                Mode::Cloud {
                    cloud_end: End::Target,
                }
            } else if target.admin.is_some() && !cloud_target {
                Mode::TwoWay
            } else {
                Mode::OneWay
            }
        }
    };
    Ok(Resolved {
        source,
        target,
        mode,
    })
}

async fn instance_app(lookups: &Lookups<'_>, ns: &str, r: &LocalObjectRef) -> Result<App, Error> {
    let name = &r.name;
    let named = relations::named_instance(lookups, ns, r).await?;
    let instance = named.instance.clone();
    let s = relations::verified_status(&instance).map_err(|why| Error::InstanceNotReady {
        name: name.to_string(),
        why,
    })?;
    let application_id = s.application_id.clone().unwrap_or_default();
    // Two instances of one application: nothing is written for either (the instance
    // controller says the same on both, but this one may not have been re-checked yet).
    if let Some((other, other_url)) = (!named.cluster)
        .then(|| relations::same_application(lookups.instances, &instance, &application_id))
        .into_iter()
        .flatten()
        .next()
    {
        return Err(Error::DuplicateApplicationId {
            id: application_id,
            other,
            other_url,
        });
    }
    let type_id = s.type_id.clone().unwrap_or_else(|| "generic".into());
    let url = instance.spec.url.normalized().to_string();
    let cloud = s.cloud.unwrap_or(false);
    // A generic application has no Application Links plugin: it never holds a link end.
    let admin = if s.administered == Some(true) && type_id != "generic" && !cloud {
        Some(relations::admin_client(lookups, &named, name).await?)
    } else {
        None
    };
    Ok(App {
        label: named.label.clone(),
        id: link_id(&type_id, &application_id, &url),
        name: s
            .application_name
            .clone()
            .unwrap_or_else(|| name.to_string()),
        type_id,
        url,
        display_url: instance
            .spec
            .display_url
            .as_ref()
            .unwrap_or(&instance.spec.url)
            .normalized()
            .to_string(),
        cloud,
        admin,
        environment: instance.spec.environment.clone(),
    })
}

/// An application nobody here administers: read its manifest anonymously; an application
/// without one (no applinks plugin) is a generic application, whose link id Atlassian derives
/// from the URL.
async fn inline_app(
    lookups: &Lookups<'_>,
    url: &str,
    declared: Option<ApplicationType>,
    cloud: Option<bool>,
) -> Result<App, Error> {
    let base = crate::crd::BaseUrl::from(url);
    let client = lookups
        .clients
        .get(url, &Credentials::Anonymous, None, None, None)
        .map_err(|e| Error::remote("client", e))?;
    let normalized = base.normalized().to_string();
    let cloud = cloud.unwrap_or_else(|| base.is_atlassian_cloud());
    let (id, name, type_id) = match client.manifest().await {
        Ok(m) => (link_id(&m.type_id, &m.id, &normalized), m.name, m.type_id),
        Err(e) if e.is_not_found() || declared == Some(ApplicationType::Generic) => (
            generic_link_id(&normalized),
            base.host(),
            "generic".to_string(),
        ),
        Err(e) => return Err(Error::remote(format!("reading the manifest of {url}"), e)),
    };
    if let Some(t) = declared
        && !t.matches_type_id(&type_id)
    {
        return Err(Error::WrongType {
            url: url.to_string(),
            expected: t.type_id().to_string(),
            actual: type_id,
        });
    }
    Ok(App {
        label: url.to_string(),
        id,
        name,
        type_id,
        url: normalized.clone(),
        display_url: normalized,
        cloud,
        admin: None,
        environment: None,
    })
}

/// The id a link to this application gets: its manifest id, except for generic applications,
/// whose links Atlassian always keys by the URL (see [`generic_link_id`]).
fn link_id(type_id: &str, manifest_id: &str, url: &str) -> String {
    if type_id == "generic" {
        generic_link_id(url)
    } else {
        manifest_id.to_string()
    }
}

/// Rules that depend on the resolved applications (the CRD refuses what the manifest shows).
pub(super) fn check_rules(obj: &ApplicationLink, r: &Resolved) -> Result<(), Error> {
    let (s, t) = (&r.source, &r.target);
    if let (Some(se), Some(te)) = (&s.environment, &t.environment)
        && !se.eq_ignore_ascii_case(te)
    {
        return Err(Error::EnvironmentMismatch(format!(
            "{} is in environment {se:?} and {} in {te:?}: a link across environments would let a copy (a staging clone restored from production keeps production's Server ID and keys) reach the other side, so nothing is created, relocated or authenticated. Link applications of one environment, or correct spec.environment",
            s.label, t.label
        )));
    }
    if obj.spec.authentication == Authentication::OAuthImpersonation {
        if s.cloud || t.cloud {
            let cloud = if s.cloud { &s.label } else { &t.label };
            return Err(Error::ImpersonationNotAllowed(format!(
                "{cloud} is an Atlassian Cloud site, and Jira Cloud does not allow 2-legged OAuth with impersonation: set spec.authentication: OAuth"
            )));
        }
        if s.type_id == "generic" || t.type_id == "generic" {
            return Err(Error::ImpersonationNotAllowed(
                "OAuth with impersonation is only for Atlassian applications that share a user base, and one end is a generic application: set spec.authentication: OAuth or None".into(),
            ));
        }
    }
    if s.cloud || t.cloud {
        for app in [s, t] {
            if !app.url.to_ascii_lowercase().starts_with("https://") {
                return Err(Error::HttpsRequired(format!(
                    "a link with an Atlassian Cloud site needs HTTPS on both ends, but {} is at {}: serve it over HTTPS with a certificate that is not self-signed and change its URL",
                    app.label, app.url
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(label: &str, environment: Option<&str>) -> App {
        App {
            label: label.into(),
            id: format!("{label}-id"),
            name: label.into(),
            type_id: "jira".into(),
            url: format!("https://{label}.example.com"),
            display_url: format!("https://{label}.example.com"),
            cloud: false,
            admin: None,
            environment: environment.map(str::to_string),
        }
    }

    #[test]
    fn links_never_cross_environments() {
        let link: ApplicationLink = serde_yaml::from_str(
            "apiVersion: applinks.io/v1alpha1\nkind: ApplicationLink\nmetadata: {name: l, namespace: t}\nspec:\n  source: {instanceRef: {name: a}}\n  target: {instanceRef: {name: b}}\n  authentication: OAuth\n",
        )
        .unwrap();
        let cases = [
            (
                Some("staging"),
                Some("production"),
                Some("EnvironmentMismatch"),
            ),
            (
                Some("production"),
                Some("staging"),
                Some("EnvironmentMismatch"),
            ),
            (Some("production"), Some("Production"), None),
            (Some("staging"), None, None),
            (None, None, None),
        ];
        for (s, t, want) in cases {
            let r = Resolved {
                source: app("a", s),
                target: app("b", t),
                mode: Mode::TwoWay,
            };
            let got = check_rules(&link, &r).err();
            assert_eq!(got.as_ref().map(Error::reason), want, "{s:?} → {t:?}");
            if let Some(e) = got {
                assert!(e.to_string().contains("correct spec.environment"), "{e}");
            }
        }
    }
}
