//! Reconciles `ApplicationLink`: resolve both applications, observe both ends, plan, act, report.

use std::sync::Arc;
use std::time::Duration;

use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, ResourceExt};
use serde_json::json;
use tracing::{info, warn};

use super::Context;
use super::instance::usable;
use crate::atlassian::{
    AllowlistRuleType, AtlassianClient, Credentials, LinkOAuthConfig, NewAllowlistRule, OAuthLevel,
};
use crate::conditions::{self, Cond, READY, RECONCILING, STALLED};
use crate::crd::{
    ApplicationInstance, ApplicationLink, ApplicationLinkStatus, ApplicationType, AuthLevel,
    Authentication, DeletionPolicy, EndAuth, EndHealth, EndStatus, LinkMode,
};
use crate::errors::Error;
use crate::planner::{
    self, Action as Step, DesiredEnd, End, EndInput, Input, ObservedEnd, Peer, Plan,
};

pub const FINALIZER: &str = "applinks.io/cleanup";
/// Ownership claims, written before a create (see planner): the link id owned in each app.
pub const CLAIM_SOURCE: &str = "applinks.io/source-link-id";
pub const CLAIM_TARGET: &str = "applinks.io/target-link-id";

fn claim_key(end: End) -> &'static str {
    match end {
        End::Source => CLAIM_SOURCE,
        End::Target => CLAIM_TARGET,
    }
}

/// One application of the link, resolved.
struct App {
    /// How users name it: the instance name, or the inline URL.
    label: String,
    id: String,
    name: String,
    type_id: String,
    url: String,
    display_url: String,
    cloud: bool,
    /// Admin client when the operator administers this application.
    admin: Option<AtlassianClient>,
}

impl App {
    fn as_peer(&self) -> Peer {
        Peer {
            id: self.id.clone(),
            name: self.name.clone(),
            type_id: self.type_id.clone(),
            rpc_url: self.url.clone(),
            display_url: self.display_url.clone(),
        }
    }
}

struct Resolved {
    source: App,
    target: App,
}

impl Resolved {
    fn two_way(&self) -> bool {
        self.target.admin.is_some()
    }

    fn app(&self, end: End) -> &App {
        match end {
            End::Source => &self.source,
            End::Target => &self.target,
        }
    }

    /// The client of the application an end lives in.
    fn client(&self, end: End) -> &AtlassianClient {
        self.app(end)
            .admin
            .as_ref()
            .expect("only administered ends are planned")
    }
}

pub async fn reconcile(obj: Arc<ApplicationLink>, ctx: Arc<Context>) -> Result<Action, Error> {
    let ns = obj.namespace().unwrap_or_default();
    let name = obj.name_any();
    let key = format!("link/{ns}/{name}");
    let api: Api<ApplicationLink> = Api::namespaced(ctx.client.clone(), &ns);
    let deleting = obj.metadata.deletion_timestamp.is_some();
    let has_finalizer = super::finalizer::has(&*obj, FINALIZER);

    if deleting && !has_finalizer {
        return Ok(Action::await_change());
    }
    if deleting && obj.spec.deletion_policy == DeletionPolicy::Orphan {
        // The way out of a blocked deletion: no remote call at all.
        remove_finalizer(&api, &obj).await?;
        ctx.event(
            &*obj,
            EventType::Normal,
            "Orphaned",
            "deletionPolicy Orphan: both link ends were left in the applications",
            "Delete",
        )
        .await;
        return Ok(Action::await_change());
    }
    if !deleting && !has_finalizer {
        super::finalizer::add(&api, &*obj, FINALIZER).await?;
        return Ok(Action::requeue(Duration::ZERO));
    }

    let old = obj.status.clone().unwrap_or_default();
    let mut status = ApplicationLinkStatus {
        observed_generation: obj.metadata.generation,
        ..old.clone()
    };
    let result = pass(&obj, &ctx, &api, &mut status, deleting).await;
    let (conds, requeue) = match result {
        Ok(Outcome::Done) => return Ok(Action::await_change()),
        Ok(Outcome::Applied(n)) => {
            ctx.metrics.reconciled("ApplicationLink", "applied");
            ctx.backoff.succeeded(&key);
            let msg = format!("applied {n} change(s); verifying");
            (
                vec![
                    Cond::new(READY, false, "Applying", msg.clone()),
                    Cond::new(RECONCILING, true, "Applying", msg),
                ],
                Duration::from_millis(300),
            )
        }
        Ok(Outcome::Observed(ready)) => {
            ctx.metrics.reconciled(
                "ApplicationLink",
                if ready.status { "ok" } else { "not_ready" },
            );
            ctx.backoff.succeeded(&key);
            let mut conds = vec![ready.clone()];
            let resync = ctx.settings.link_resync_interval;
            let requeue = if ready.status {
                resync
            } else {
                // Waiting for the applications' own health to turn: check again soon, with backoff.
                conds.push(Cond::new(
                    RECONCILING,
                    true,
                    ready.reason.clone(),
                    ready.message.clone(),
                ));
                ctx.backoff.failed(&key, None).min(resync)
            };
            (conds, requeue)
        }
        Err(e) => {
            ctx.metrics.reconciled("ApplicationLink", e.reason());
            let delay = ctx.backoff.failed(&key, e.retry_after());
            let (reason, message) = if deleting {
                (
                    "DeletionBlocked".to_string(),
                    format!(
                        "{e}. The finalizer stays until both ends are deleted and verified gone; to leave the ends in the applications and let this resource go, set spec.deletionPolicy: Orphan"
                    ),
                )
            } else {
                (e.reason().to_string(), e.to_string())
            };
            let mut conds = vec![Cond::new(READY, false, reason.clone(), message.clone())];
            if e.is_stalled() && !deleting {
                conds.push(Cond::new(STALLED, true, reason.clone(), message.clone()));
            } else {
                conds.push(Cond::new(
                    RECONCILING,
                    true,
                    reason.clone(),
                    format!("retrying with backoff: {message}"),
                ));
            }
            let last_reason = conditions::find(&old.conditions, READY).map(|c| c.reason.as_str());
            if last_reason != Some(reason.as_str()) {
                ctx.event(
                    &*obj,
                    EventType::Warning,
                    &reason,
                    &message,
                    if deleting { "Delete" } else { "Reconcile" },
                )
                .await;
            }
            warn!(link = %key, reason = %reason, error = %e, "link reconcile failed");
            (conds, delay)
        }
    };
    status.conditions = conditions::merge(
        &old.conditions,
        conds,
        obj.metadata.generation,
        &conditions::now(),
    );
    if status != old {
        let patch = json!({ "status": status });
        api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
    }
    Ok(Action::requeue(requeue))
}

enum Outcome {
    /// Finalizer removed: the object is going away.
    Done,
    /// Changes were made; observe again before reporting.
    Applied(usize),
    /// Nothing to change; the Ready condition from the applications' health.
    Observed(Cond),
}

async fn pass(
    obj: &ApplicationLink,
    ctx: &Context,
    api: &Api<ApplicationLink>,
    status: &mut ApplicationLinkStatus,
    deleting: bool,
) -> Result<Outcome, Error> {
    let ns = obj.namespace().unwrap_or_default();
    let resolved = resolve(obj, ctx, &ns).await?;
    check_rules(obj, &resolved)?;
    let input = observe(obj, &resolved, deleting).await?;
    status.mode = Some(if resolved.two_way() {
        LinkMode::TwoWay
    } else {
        LinkMode::OneWay
    });
    let steps = match planner::plan(&input) {
        Plan::Blocked(planner::Blocker::NotOwned { end, link_id }) => {
            return Err(Error::NotOwned {
                application: resolved.app(end).label.clone(),
                link_id,
            });
        }
        Plan::Blocked(planner::Blocker::IdentityChanged {
            end,
            claimed,
            found,
        }) => {
            return Err(Error::TargetIdentityChanged {
                end: end.as_str(),
                claimed,
                found,
            });
        }
        Plan::Act(steps) => steps,
    };
    if steps.is_empty() {
        return Ok(Outcome::Observed(
            report(obj, &resolved, &input, status).await,
        ));
    }
    let n = steps.len();
    for step in steps {
        if execute(obj, ctx, api, &resolved, &step).await? {
            return Ok(Outcome::Done);
        }
    }
    Ok(Outcome::Applied(n))
}

/// Finds both applications. The source must be administered; the target is administered when
/// its instance has valid credentials (two-way), else only the source end is managed (one-way).
async fn resolve(obj: &ApplicationLink, ctx: &Context, ns: &str) -> Result<Resolved, Error> {
    let source = instance_app(ctx, ns, &obj.spec.source.instance_ref.name).await?;
    if source.admin.is_none() {
        return Err(Error::SourceNotAdministered {
            name: obj.spec.source.instance_ref.name.clone(),
        });
    }
    let target = match (&obj.spec.target.instance_ref, &obj.spec.target.url) {
        (Some(r), _) => instance_app(ctx, ns, &r.name).await?,
        (None, Some(url)) => {
            inline_app(
                ctx,
                url.as_str(),
                obj.spec.target.app_type,
                obj.spec.target.cloud,
            )
            .await?
        }
        (None, None) => unreachable!("refused by the CRD's CEL rules"),
    };
    Ok(Resolved { source, target })
}

async fn instance_app(ctx: &Context, ns: &str, name: &str) -> Result<App, Error> {
    let instance = ctx
        .instances
        .get(&ObjectRef::<ApplicationInstance>::new(name).within(ns))
        .ok_or_else(|| Error::InstanceNotFound {
            name: name.to_string(),
        })?;
    let s = usable(&instance).map_err(|why| Error::InstanceNotReady {
        name: name.to_string(),
        why,
    })?;
    let type_id = s.type_id.clone().unwrap_or_else(|| "generic".into());
    let url = instance.spec.url.normalized().to_string();
    // A generic application has no Application Links plugin: it never holds a link end.
    let admin = if s.administered == Some(true) && type_id != "generic" {
        Some(admin_client(ctx, ns, name, &instance).await?)
    } else {
        None
    };
    Ok(App {
        label: format!("ApplicationInstance {name}"),
        id: link_id(
            &type_id,
            s.application_id.as_deref().unwrap_or_default(),
            &url,
        ),
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
        cloud: s.cloud.unwrap_or(false),
        admin,
    })
}

/// The admin client of an instance. When its Secret is gone (deleted together with the links,
/// as `kubectl delete -f` or a namespace deletion does), the last client this process built is
/// used, so the link ends can still be deleted.
async fn admin_client(
    ctx: &Context,
    ns: &str,
    name: &str,
    instance: &ApplicationInstance,
) -> Result<AtlassianClient, Error> {
    let r = instance
        .spec
        .credentials_secret_ref
        .as_ref()
        .expect("administered implies credentials");
    let key = format!("{ns}/{name}");
    let creds = match crate::secrets::credentials(&ctx.client, ns, r).await {
        Ok(c) => c,
        Err(e @ (Error::SecretNotFound { .. } | Error::SecretIncomplete { .. })) => {
            return ctx.clients.last_admin(&key).ok_or(e);
        }
        Err(e) => return Err(e),
    };
    let ca = crate::secrets::ca_bundle(&ctx.client, ns, instance.spec.tls.as_ref()).await?;
    let client = ctx
        .clients
        .get(instance.spec.url.as_str(), &creds, ca.as_deref())
        .map_err(|e| Error::remote("client", e))?;
    ctx.clients.remember_admin(&key, &client);
    Ok(client)
}

/// An application nobody here administers: read its manifest anonymously; an application
/// without one (no applinks plugin) is a generic application, whose link id Atlassian derives
/// from the URL.
async fn inline_app(
    ctx: &Context,
    url: &str,
    declared: Option<ApplicationType>,
    cloud: Option<bool>,
) -> Result<App, Error> {
    let base = crate::crd::BaseUrl::from(url);
    let client = ctx
        .clients
        .get(url, &Credentials::Anonymous, None)
        .map_err(|e| Error::remote("client", e))?;
    let normalized = base.normalized().to_string();
    let (id, name, type_id) = match client.manifest().await {
        Ok(m) => (link_id(&m.type_id, &m.id, &normalized), m.name, m.type_id),
        Err(e) if e.is_not_found() || declared == Some(ApplicationType::Generic) => {
            (generic_id(&normalized), base.host(), "generic".to_string())
        }
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
        cloud: cloud.unwrap_or_else(|| base.is_atlassian_cloud()),
        admin: None,
    })
}

/// The id a link to this application gets: its manifest id, except for generic applications,
/// whose links Atlassian always keys by the URL (see [`generic_id`]).
fn link_id(type_id: &str, manifest_id: &str, url: &str) -> String {
    if type_id == "generic" {
        generic_id(url)
    } else {
        manifest_id.to_string()
    }
}

/// Atlassian's id of a link without a manifest: `UUID.nameUUIDFromBytes(url)` (MD5, version 3).
pub fn generic_id(url: &str) -> String {
    use md5::{Digest, Md5};
    let digest: [u8; 16] = Md5::digest(url.as_bytes()).into();
    uuid::Builder::from_md5_bytes(digest)
        .into_uuid()
        .to_string()
}

/// Rules that depend on the resolved applications (the CRD refuses what the manifest shows).
fn check_rules(obj: &ApplicationLink, r: &Resolved) -> Result<(), Error> {
    let (s, t) = (&r.source, &r.target);
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

fn oauth_for(auth: Authentication) -> LinkOAuthConfig {
    LinkOAuthConfig::symmetric(match auth {
        Authentication::OAuth => OAuthLevel::OAuth,
        Authentication::OAuthImpersonation => OAuthLevel::OAuthImpersonation,
        Authentication::None => OAuthLevel::Disabled,
    })
}

/// Origin (scheme://host[:port]) of a URL: the domain an allowlist rule names.
fn origin(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_else(|_| url.to_string())
}

async fn observe(obj: &ApplicationLink, r: &Resolved, deleting: bool) -> Result<Input, Error> {
    let two_way = r.two_way();
    let oauth = two_way.then(|| oauth_for(obj.spec.authentication));
    let desired_source = DesiredEnd {
        peer: r.target.as_peer(),
        primary: obj.spec.source.primary,
        oauth,
        allowlist: (r.target.cloud && !r.source.cloud).then(|| origin(&r.target.url)),
    };
    let source = EndInput {
        observed: observe_end(obj, r, End::Source, &desired_source, two_way).await?,
        desired: desired_source,
    };
    let target = if two_way {
        let desired = DesiredEnd {
            peer: r.source.as_peer(),
            primary: obj.spec.target.primary,
            oauth: oauth.map(LinkOAuthConfig::mirrored),
            allowlist: (r.source.cloud && !r.target.cloud).then(|| origin(&r.source.url)),
        };
        Some(EndInput {
            observed: observe_end(obj, r, End::Target, &desired, true).await?,
            desired,
        })
    } else {
        None
    };
    Ok(Input {
        deleting,
        deletion_policy: obj.spec.deletion_policy,
        adoption_policy: obj.spec.adoption_policy,
        source,
        target,
    })
}

async fn observe_end(
    obj: &ApplicationLink,
    r: &Resolved,
    end: End,
    desired: &DesiredEnd,
    with_oauth: bool,
) -> Result<ObservedEnd, Error> {
    let app = r.app(end);
    let client = r.client(end);
    let ctx_msg = |what: &str| format!("{what} in {}", app.label);
    let link = client
        .get_link(&desired.peer.id)
        .await
        .map_err(|e| Error::remote(ctx_msg("reading the link"), e))?;
    let oauth = match (&link, with_oauth) {
        (Some(_), true) => client
            .get_oauth_config(&desired.peer.id)
            .await
            .map_err(|e| Error::remote(ctx_msg("reading the link's OAuth configuration"), e))?,
        _ => None,
    };
    let allowlisted = match &desired.allowlist {
        Some(url) => Some(
            client
                .list_allowlist_rules()
                .await
                .map_err(|e| Error::remote(ctx_msg("reading the allowlist"), e))?
                .iter()
                .any(|rule| {
                    rule.rule_type == AllowlistRuleType::DomainName
                        && rule.expression == *url
                        && rule.allow_inbound
                }),
        ),
        None => None,
    };
    Ok(ObservedEnd {
        link,
        oauth,
        claimed: obj.annotations().get(claim_key(end)).cloned(),
        allowlisted,
    })
}

/// Executes one step. Returns true when the finalizer was removed.
async fn execute(
    obj: &ApplicationLink,
    ctx: &Context,
    api: &Api<ApplicationLink>,
    r: &Resolved,
    step: &Step,
) -> Result<bool, Error> {
    let name = obj.name_any();
    let label = |end: End| r.app(end).label.clone();
    match step {
        Step::Claim { end, link_id } => {
            let patch = json!({"metadata": {"annotations": {claim_key(*end): link_id}}});
            api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
        }
        Step::Release { end } => {
            let patch = json!({"metadata": {"annotations": {claim_key(*end): null}}});
            api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
        }
        Step::Create { end, link } => {
            r.client(*end).create_link(link).await.map_err(|e| {
                Error::remote(
                    format!("creating the {} end in {}", end.as_str(), label(*end)),
                    e,
                )
            })?;
            crate::failpoint::hit("after-create");
            let note = format!(
                "created the {} end in {} (link to {} {})",
                end.as_str(),
                label(*end),
                link.type_id,
                link.rpc_url
            );
            info!(link = %name, "{note}");
            ctx.event(obj, EventType::Normal, "Created", &note, "Create")
                .await;
        }
        Step::Update {
            end,
            link_id,
            update,
        } => {
            r.client(*end)
                .update_link(link_id, update)
                .await
                .map_err(|e| {
                    Error::remote(
                        format!("relocating the {} end in {}", end.as_str(), label(*end)),
                        e,
                    )
                })?;
            let note = format!(
                "relocated the {} end in {} to {}",
                end.as_str(),
                label(*end),
                update.rpc_url
            );
            info!(link = %name, "{note}");
            ctx.event(obj, EventType::Normal, "Relocated", &note, "Relocate")
                .await;
        }
        Step::SetPrimary { end, link_id } => {
            r.client(*end).set_primary(link_id).await.map_err(|e| {
                Error::remote(
                    format!("making the {} end primary in {}", end.as_str(), label(*end)),
                    e,
                )
            })?;
        }
        Step::ConfigureOAuth {
            end,
            link_id,
            config,
        } => {
            r.client(*end)
                .set_oauth_config(link_id, config)
                .await
                .map_err(|e| {
                    Error::remote(
                        format!(
                            "configuring OAuth on the {} end in {}",
                            end.as_str(),
                            label(*end)
                        ),
                        e,
                    )
                })?;
            let note = format!(
                "configured authentication {:?} on the {} end in {}",
                obj.spec.authentication,
                end.as_str(),
                label(*end)
            );
            info!(link = %name, "{note}");
            ctx.event(
                obj,
                EventType::Normal,
                "AuthenticationConfigured",
                &note,
                "Authenticate",
            )
            .await;
        }
        Step::EnsureAllowlist { end, url } => {
            r.client(*end)
                .ensure_allowlist_rule(&NewAllowlistRule::inbound(
                    AllowlistRuleType::DomainName,
                    url.clone(),
                ))
                .await
                .map_err(|e| {
                    Error::remote(
                        format!("adding {url} to the allowlist of {}", label(*end)),
                        e,
                    )
                })?;
            ctx.event(
                obj,
                EventType::Normal,
                "Allowlisted",
                &format!("allowed incoming requests from {url} in {}", label(*end)),
                "Allowlist",
            )
            .await;
        }
        Step::Delete { end, link_id } => {
            r.client(*end).delete_link(link_id).await.map_err(|e| {
                Error::remote(
                    format!("deleting the {} end in {}", end.as_str(), label(*end)),
                    e,
                )
            })?;
            let note = format!("deleted the {} end in {}", end.as_str(), label(*end));
            info!(link = %name, "{note}");
            ctx.event(obj, EventType::Normal, "Deleted", &note, "Delete")
                .await;
        }
        Step::RemoveFinalizer => {
            remove_finalizer(api, obj).await?;
            return Ok(true);
        }
    }
    Ok(false)
}

async fn remove_finalizer(api: &Api<ApplicationLink>, obj: &ApplicationLink) -> Result<(), Error> {
    super::finalizer::remove(api, obj, FINALIZER).await
}

fn level(c: crate::atlassian::OAuthConfig) -> AuthLevel {
    AuthLevel {
        enabled: c.enabled,
        two_lo: c.two_lo_enabled,
        two_lo_impersonation: c.two_lo_impersonation_enabled,
    }
}

/// Reads the applications' own health and fills the status; returns the Ready condition.
async fn report(
    obj: &ApplicationLink,
    r: &Resolved,
    input: &Input,
    status: &mut ApplicationLinkStatus,
) -> Cond {
    let mut first_error: Option<(String, String)> = None;
    let mut ends = vec![(End::Source, &input.source)];
    if let Some(t) = &input.target {
        ends.push((End::Target, t));
    }
    status.source = None;
    status.target = None;
    for (end, e) in ends {
        let link = e.observed.link.as_ref();
        let health = if r.two_way() {
            match r.client(end).link_status(&e.desired.peer.id).await {
                Ok(Some(s)) => Some(EndHealth {
                    working: s.working,
                    error_category: s.error.as_ref().map(|x| x.category.as_str().to_string()),
                    error_type: s.error.as_ref().map(|x| x.error_type.as_str().to_string()),
                    details: s.error.as_ref().and_then(|x| x.details.clone()),
                }),
                Ok(None) => Some(EndHealth {
                    working: false,
                    error_type: Some("NO_LINK".into()),
                    ..Default::default()
                }),
                Err(err) => Some(EndHealth {
                    working: false,
                    error_category: Some("OPERATOR".into()),
                    error_type: Some(err.reason().to_string()),
                    details: Some(err.to_string()),
                }),
            }
        } else {
            None
        };
        // With authentication None, both sides being off is what was asked for: the
        // applications report DISABLED, which is the healthy state of such a link.
        let expected_disabled = obj.spec.authentication == Authentication::None
            && health.as_ref().and_then(|h| h.error_type.as_deref()) == Some("DISABLED");
        if let Some(h) = &health
            && !h.working
            && !expected_disabled
            && first_error.is_none()
        {
            let t = h.error_type.clone().unwrap_or_else(|| "UNKNOWN".into());
            first_error = Some((
                t.clone(),
                format!(
                    "{} reports the link as not working: {}{}",
                    r.app(end).label,
                    t,
                    h.details
                        .as_ref()
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default()
                ),
            ));
        }
        let s = EndStatus {
            link_id: link.map(|l| l.id.clone()),
            url: link.and_then(|l| l.rpc_url.clone()),
            display_url: link.and_then(|l| l.display_url.clone()),
            primary: link.map(|l| l.primary),
            owned: Some(e.observed.claimed.is_some()),
            auth: e.observed.oauth.map(|o| EndAuth {
                incoming: level(o.incoming),
                outgoing: level(o.outgoing),
            }),
            health,
        };
        match end {
            End::Source => status.source = Some(s),
            End::Target => status.target = Some(s),
        }
    }
    if !r.two_way() {
        status.health = Some("OneWay".into());
        let target = obj
            .spec
            .target
            .instance_ref
            .as_ref()
            .map(|t| format!("ApplicationInstance {}", t.name));
        let completes = match target {
            Some(t) => format!(
                "add credentialsSecretRef with an administrator of {} to {t}",
                r.target.url
            ),
            None => format!(
                "declare an ApplicationInstance with administrator credentials for {} and reference it in spec.target.instanceRef",
                r.target.url
            ),
        };
        return Cond::new(
            READY,
            true,
            "OneWayLink",
            format!(
                "only the outgoing link in {} exists, without authentication, because the operator does not administer {}. To complete it (link back and {:?} on both ends), {completes}",
                r.source.label, r.target.label, obj.spec.authentication
            ),
        );
    }
    match first_error {
        None if obj.spec.authentication == Authentication::None => {
            status.health = Some("Unauthenticated".into());
            Cond::new(
                READY,
                true,
                "LinkedWithoutAuthentication",
                "both ends exist without authentication, as spec.authentication: None asks; the applications report the link as DISABLED (no OAuth)",
            )
        }
        None => {
            status.health = Some("Working".into());
            Cond::new(
                READY,
                true,
                "Working",
                format!(
                    "both ends exist, authentication {:?} is configured on both, and both applications report the link as working",
                    obj.spec.authentication
                ),
            )
        }
        Some((t, msg)) => {
            status.health = Some(t.clone());
            Cond::new(READY, false, pascal(&t), msg)
        }
    }
}

/// AUTH_LEVEL_MISMATCH -> AuthLevelMismatch, for condition reasons.
fn pascal(s: &str) -> String {
    s.split(['_', '-'])
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + &c.as_str().to_ascii_lowercase())
                .unwrap_or_default()
        })
        .collect()
}

pub fn error_policy(_obj: Arc<ApplicationLink>, err: &Error, _ctx: Arc<Context>) -> Action {
    // Only Kubernetes API errors reach here; remote failures are handled in reconcile.
    warn!(error = %err, "link reconcile error");
    Action::requeue(Duration::from_secs(5))
}

/// The links in the instance's namespace that name it as source or target.
pub fn links_of_instance(
    links: &Store<ApplicationLink>,
    instance: &ApplicationInstance,
) -> Vec<ObjectRef<ApplicationLink>> {
    let ns = instance.namespace();
    let name = instance.name_any();
    links
        .state()
        .iter()
        .filter(|l| l.namespace() == ns)
        .filter(|l| {
            l.spec.source.instance_ref.name == name
                || l.spec
                    .target
                    .instance_ref
                    .as_ref()
                    .is_some_and(|t| t.name == name)
        })
        .map(|l| ObjectRef::from_obj(l.as_ref()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_id_matches_java_name_uuid_from_bytes() {
        // UUID.nameUUIDFromBytes("http://example.com".getBytes()) in Java.
        let id = generic_id("http://example.com");
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "3", "version 3");
        assert_eq!(generic_id("http://example.com"), id, "deterministic");
    }

    #[test]
    fn pascal_case_reasons() {
        assert_eq!(pascal("AUTH_LEVEL_MISMATCH"), "AuthLevelMismatch");
        assert_eq!(pascal("CONNECTION_REFUSED"), "ConnectionRefused");
    }
}
#[cfg(test)]
mod generic_id_vector {
    #[test]
    fn same_id_as_the_simulator_computed_for_a_generic_link() {
        assert_eq!(
            super::generic_id("http://127.0.0.1:18100"),
            "afceaba0-7033-381b-b435-9d0b0812eace"
        );
    }
}
