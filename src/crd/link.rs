//! `ApplicationLink`: one link between two applications, both ends.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Condition;
use super::common::{ApplicationType, LocalObjectRef, SecretRef};
use super::url::{BaseUrl, CLOUD_HOST_RE};

/// A link between two applications. The operator creates both ends when it administers both
/// applications (a two-way link with authentication), or only the outgoing end of the source
/// when it administers only the source (a one-way link without authentication).
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "applinks.io",
    version = "v1alpha1",
    kind = "ApplicationLink",
    doc = "One Application Link between two applications; the operator manages both ends, their authentication, relocation and deletion.",
    namespaced,
    status = "ApplicationLinkStatus",
    shortname = "applink",
    category = "applinks",
    printcolumn = r#"{"name":"Source","type":"string","jsonPath":".spec.source.instanceRef.name"}"#,
    printcolumn = r#"{"name":"Target","type":"string","jsonPath":".spec.target.instanceRef.name"}"#,
    printcolumn = r#"{"name":"Target URL","type":"string","jsonPath":".spec.target.url","priority":1}"#,
    printcolumn = r#"{"name":"Auth","type":"string","jsonPath":".spec.authentication"}"#,
    printcolumn = r#"{"name":"Mode","type":"string","jsonPath":".status.mode","priority":1}"#,
    printcolumn = r#"{"name":"Health","type":"string","jsonPath":".status.health"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = kube::core::Rule::new(
    "!has(self.target.instanceRef) || self.target.instanceRef.name != self.source.instanceRef.name"
).message("source and target are the same ApplicationInstance: an application cannot be linked to itself; point target at another instance"))]
#[x_kube(validation = kube::core::Rule::new(format!(
    "self.authentication != 'OAuthImpersonation' || ((!has(self.target.url) || !self.target.url.matches('{CLOUD_HOST_RE}')) && (!has(self.target.cloud) || !self.target.cloud))"
)).message("OAuthImpersonation is not available with Atlassian Cloud (Jira Cloud does not allow 2-legged OAuth with impersonation): use authentication: OAuth"))]
#[x_kube(validation = kube::core::Rule::new(
    "self.authentication != 'OAuthImpersonation' || !has(self.target.type) || self.target.type != 'generic'"
).message("OAuthImpersonation is only for Atlassian applications that share a user base; a generic application cannot impersonate users: use authentication: OAuth or None"))]
#[x_kube(validation = kube::core::Rule::new(
    "self.authentication != 'OAuthImpersonation' || !has(self.target.url)"
).message("OAuthImpersonation needs both ends administered, but an inline target.url gives a one-way link without authentication: reference an ApplicationInstance with credentials in target.instanceRef"))]
#[x_kube(validation = kube::core::Rule::new(
    "!has(self.managementPolicy) || self.managementPolicy != 'Observe' || (has(self.deletionPolicy) && self.deletionPolicy == 'Orphan')"
).message("managementPolicy: Observe never writes to the applications, so deleting this resource cannot delete the link ends: set deletionPolicy: Orphan"))]
#[serde(rename_all = "camelCase")]
pub struct ApplicationLinkSpec {
    /// The application the link starts from. The operator must administer it (its
    /// ApplicationInstance has credentials).
    pub source: LinkSource,

    /// The application the link points at: an ApplicationInstance (two-way when it has
    /// credentials), or an inline URL of an application nobody here administers (one-way).
    pub target: LinkTarget,

    /// Authentication configured on both ends, mirrored (one end's incoming is the other's
    /// outgoing). `OAuth`: 3-legged and 2-legged OAuth without impersonation, for applications
    /// that do not share users. `OAuthImpersonation`: 2-legged OAuth with impersonation, only
    /// between Atlassian server applications that share a user base. `None`: no authentication.
    /// `OAuth2`: an "Atlassian product via OAuth 2.0" link (Jira 11.2+, Confluence 10.1+,
    /// Bitbucket 10.1+, Bamboo 12+); accepted but not supported yet: the link reports
    /// `OAuth2LinkNotSupportedYet` and nothing is changed in either application.
    #[serde(default)]
    pub authentication: Authentication,

    /// What happens to the link ends in the applications when this resource is deleted:
    /// `Delete` removes both ends and verifies that they are gone; `Orphan` leaves them.
    /// Switch to `Orphan` to release a deletion that waits for an unreachable application.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// What to do when a link to the peer already exists in an application and this operator
    /// did not create it. `Never` (default): leave it untouched and report a Conflict.
    /// `Adopt`: take it over, change it to match this resource, and treat it as owned from now on
    /// (it is deleted with the resource unless deletionPolicy is Orphan).
    #[serde(default)]
    pub adoption_policy: AdoptionPolicy,

    /// `Manage` (default): make the ends what this resource says. `Observe`: read both ends and
    /// report their health and how they differ from this resource (condition `Drifted`), never
    /// write to either application; the safe first step before adopting a link made by hand.
    /// Needs `deletionPolicy: Orphan` (deleting an observed link leaves its ends).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub management_policy: Option<ManagementPolicy>,
}

impl ApplicationLinkSpec {
    /// Whether the operator may only read the ends.
    pub fn observe_only(&self) -> bool {
        self.management_policy == Some(ManagementPolicy::Observe)
    }
}

/// Whether the operator writes to the applications for this link. `Manage` (default): make
/// the ends what the resource says. `Observe`: read both ends, report their health and how they
/// differ (condition `Drifted`, `status.drift`), never write to either application; needs
/// `deletionPolicy: Orphan`.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ManagementPolicy {
    /// Create, change and delete the ends.
    #[default]
    Manage,
    /// Read and report only.
    Observe,
}

/// The source end.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LinkSource {
    /// The ApplicationInstance (same namespace) the link starts from. Immutable: changing it
    /// would orphan the link end in the old source application.
    #[x_kube(validation = kube::core::Rule::new("self == oldSelf").message(
        "source.instanceRef is immutable: changing it would orphan the link in the old source application; create a new ApplicationLink and delete this one"
    ))]
    pub instance_ref: LocalObjectRef,

    /// Make this link the primary link to the target's application type in the source.
    #[serde(default)]
    pub primary: bool,
}

/// The target end: exactly one of `instanceRef` or `url`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(validation = kube::core::Rule::new("has(self.instanceRef) != has(self.url)").message(
    "set exactly one of target.instanceRef (an ApplicationInstance in this namespace) or target.url (an application nobody here administers)"
))]
#[x_kube(validation = kube::core::Rule::new("!has(self.url) || !has(self.credentialsSecretRef)").message(
    "an inline target.url cannot carry credentials: declare an ApplicationInstance with credentialsSecretRef for the target and reference it in target.instanceRef"
))]
#[x_kube(validation = kube::core::Rule::new("has(self.url) || !has(self.credentialsSecretRef)").message(
    "target.credentialsSecretRef is not used: credentials belong on the target's ApplicationInstance"
))]
#[x_kube(validation = kube::core::Rule::new("has(self.url) || (!has(self.type) && !has(self.cloud))").message(
    "target.type and target.cloud describe an inline target.url: with target.instanceRef, declare them on the ApplicationInstance"
))]
#[x_kube(validation = kube::core::Rule::new("!has(self.url) || !self.primary").message(
    "target.primary needs an administered target: an inline target.url is never changed by the operator"
))]
#[x_kube(validation = kube::core::Rule::new(
    "!has(oldSelf.instanceRef) || (has(self.instanceRef) && self.instanceRef == oldSelf.instanceRef)"
).message(
    "target.instanceRef is immutable: changing it would orphan the link in the old target application; create a new ApplicationLink and delete this one (a target.url may be replaced by a target.instanceRef to complete a one-way link)"
))]
#[serde(rename_all = "camelCase")]
pub struct LinkTarget {
    /// The ApplicationInstance (same namespace) the link points at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_ref: Option<LocalObjectRef>,

    /// Base URL of an application that no ApplicationInstance here describes. The link is
    /// one-way (outgoing from the source, no authentication). Changing it relocates the source
    /// end, once the application at the new URL proves to be the same one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<BaseUrl>,

    /// Expected product of an inline target.url; verified against its manifest.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub app_type: Option<ApplicationType>,

    /// Whether an inline target.url is an Atlassian Cloud site on a custom domain
    /// (`*.atlassian.net` and `bitbucket.org` are recognised without it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud: Option<bool>,

    /// Not allowed; present so that the API server can explain where credentials belong:
    /// on the target's ApplicationInstance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret_ref: Option<SecretRef>,

    /// Make the link back the primary link to the source's application type in the target.
    #[serde(default)]
    pub primary: bool,
}

/// Authentication of a link.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Authentication {
    /// 3-legged and 2-legged OAuth, no impersonation.
    #[default]
    OAuth,
    /// 2-legged OAuth with impersonation (shared user base, Atlassian server applications).
    OAuthImpersonation,
    /// No authentication.
    None,
    /// OAuth 2.0 between Atlassian products: its REST API is not confirmed, so the operator
    /// reports `OAuth2LinkNotSupportedYet` instead of guessing (docs/products.md).
    OAuth2,
}

/// What deleting the resource does to the link ends.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeletionPolicy {
    /// Delete both ends and verify they are gone.
    #[default]
    Delete,
    /// Leave both ends in the applications.
    Orphan,
}

/// Whether pre-existing links not created by this operator may be taken over.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AdoptionPolicy {
    /// Never touch a link this operator did not create.
    #[default]
    Never,
    /// Take over an existing link to the peer.
    Adopt,
}

/// Whether the link has both ends or only the outgoing end of the source.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkMode {
    TwoWay,
    OneWay,
    /// One end is an Atlassian Cloud site: the operator manages the server end only, and the
    /// site's administrator makes the cloud end in its admin UI (status says how).
    Cloud,
}

/// What the operator observed of the link. Written only by the operator.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationLinkStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// TwoWay when the operator administers both ends, OneWay when only the source, Cloud when
    /// it manages the server end of a link with a cloud site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<LinkMode>,
    /// The link's health in the operator's reason vocabulary: Working, OneWayLink,
    /// LinkedWithoutAuthentication, AwaitingCloudAdmin, or what the first failing end's
    /// status API reports (AuthLevelMismatch, ConnectionRefused, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    /// The end in the source application (its link points at the target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<EndStatus>,
    /// The end in the target application (its link points back at the source).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<EndStatus>,
    /// The ends this resource owns, recorded before each is created or adopted. Absent only in
    /// a status written by an older operator (claims in annotations): those are then taken over
    /// once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<super::LinkClaims>,
    /// The last `applinks.io/reconcile-requested-at` (or Flux's `reconcile.fluxcd.io/requestedAt`)
    /// value a pass handled: the object was verified against the applications after it was set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
    /// With `managementPolicy: Observe`: what `Manage` would change in the applications, one
    /// line per step (empty when the ends are what this resource says).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<Vec<String>>,
    /// Ready, and Reconciling, Stalled or Paused where they apply (kstatus); Drifted with
    /// `managementPolicy: Observe`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// One end of a link, as read back from its application.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EndStatus {
    /// Id of the link in this application: the peer application's manifest id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_id: Option<String>,
    /// The peer URL this end points at (rpcUrl).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The peer display URL this end shows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_url: Option<String>,
    /// Whether this end is the primary link to the peer's type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<bool>,
    /// Whether this operator created (or adopted) this end and may change or delete it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owned: Option<bool>,
    /// Authentication levels read back from this end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<EndAuth>,
    /// Health as this application's status API reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<EndHealth>,
}

/// Authentication levels of one end, incoming (peer calls us) and outgoing (we call the peer).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct EndAuth {
    /// Requests from the peer.
    pub incoming: AuthLevel,
    /// Requests to the peer.
    pub outgoing: AuthLevel,
}

/// OAuth levels of one direction.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AuthLevel {
    /// OAuth (3-legged) is enabled.
    pub enabled: bool,
    /// 2-legged OAuth is enabled.
    pub two_lo: bool,
    /// 2-legged OAuth with impersonation is enabled.
    pub two_lo_impersonation: bool,
}

/// Health of one end from the application's status API.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct EndHealth {
    /// The application reports the link as working.
    pub working: bool,
    /// Error category when not working (e.g. NETWORK_ERROR, ACCESS_ERROR, CONFIG_ERROR).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_category: Option<String>,
    /// Error type when not working (e.g. CONNECTION_REFUSED, AUTH_LEVEL_MISMATCH).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    /// Details the application gave, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
}
