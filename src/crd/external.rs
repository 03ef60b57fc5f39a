//! `ExternalApplication`: a tool that is not an Atlassian product, trusted by one application
//! through an incoming OAuth 2.0 client (or an OAuth 1.0a consumer), whose credentials the
//! operator writes into a Secret shaped the way the tool reads it.

use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::Condition;
use super::common::LocalObjectRef;
use super::link::DeletionPolicy;

/// Placeholders a Secret template may use; anything else in `{{ }}` is refused by the controller.
pub const PLACEHOLDERS: &[&str] = &[
    "clientId",
    "clientSecret",
    "authorizeUrl",
    "tokenUrl",
    "baseUrl",
    "scope",
    "name",
];

/// Placeholders that expand to a credential: only allowed in the Secret's data, never in its
/// labels or annotations (which anyone who may list Secrets can read).
pub const SECRET_PLACEHOLDERS: &[&str] = &["clientSecret"];

/// Placeholders of an OAuth 1.0a consumer's Secret.
pub const OAUTH1_PLACEHOLDERS: &[&str] = &[
    "consumerKey",
    "privateKey",
    "publicKey",
    "requestTokenUrl",
    "authorizeUrl",
    "accessTokenUrl",
    "baseUrl",
    "name",
];

/// The OAuth 1.0a placeholders that expand to a credential.
pub const OAUTH1_SECRET_PLACEHOLDERS: &[&str] = &["privateKey"];

/// This application (an ApplicationInstance) trusts a non-Atlassian tool. The operator creates
/// the incoming OAuth 2.0 client in the application and writes the client id, the secret and
/// the endpoint URLs into a Secret for the tool.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "applinks.io",
    version = "v1alpha1",
    kind = "ExternalApplication",
    doc = "A tool that is not an Atlassian product (Eclipse Che, Coder, Mattermost, CI systems), trusted by one application through an incoming OAuth 2.0 client; the operator delivers its credentials as a Secret.",
    namespaced,
    status = "ExternalApplicationStatus",
    shortname = "extapp",
    category = "applinks",
    printcolumn = r#"{"name":"Instance","type":"string","jsonPath":".spec.instanceRef.name"}"#,
    printcolumn = r#"{"name":"Client ID","type":"string","jsonPath":".status.clientId"}"#,
    printcolumn = r#"{"name":"Secret","type":"string","jsonPath":".status.secretName"}"#,
    printcolumn = r#"{"name":"Scope","type":"string","jsonPath":".spec.oauth2.scope","priority":1}"#,
    printcolumn = r#"{"name":"Tool URL","type":"string","jsonPath":".spec.oauth1.url","priority":1}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = kube::core::Rule::new("has(self.oauth2) != has(self.oauth1)").message(
    "set exactly one of oauth2 (an incoming OAuth 2.0 client) or oauth1 (an incoming OAuth 1.0a consumer on a generic application link)"
))]
#[x_kube(validation = kube::core::Rule::new("has(self.oauth2) == has(oldSelf.oauth2)").message(
    "switching between oauth2 and oauth1 would leave the old client or consumer behind: create a new ExternalApplication and delete this one"
))]
#[serde(rename_all = "camelCase")]
pub struct ExternalApplicationSpec {
    /// The application (an ApplicationInstance in this namespace, with a system administrator's
    /// credentials) that trusts the tool. Immutable: changing it would leave the client behind
    /// in the old application.
    #[x_kube(validation = kube::core::Rule::new("self == oldSelf").message(
        "instanceRef is immutable: changing it would leave the client in the old application; create a new ExternalApplication and delete this one"
    ))]
    pub instance_ref: LocalObjectRef,

    /// Name of the client in the application, shown to users on its consent page ("Eclipse Che
    /// wants to access your account"). Unique in the application. Defaults to metadata.name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub display_name: Option<String>,

    /// An incoming OAuth 2.0 client (Jira 8.22+, Confluence 7.17+, Bitbucket 7.20+).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<OAuth2Client>,

    /// An incoming OAuth 1.0a consumer, for tools that still use it: a generic application link
    /// to the tool with its consumer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth1: Option<OAuth1Consumer>,

    /// The Secret the tool reads: its name, labels, annotations and keys.
    #[serde(default)]
    pub secret: SecretTemplate,

    /// Scheduled rotation of the client secret (OAuth 2.0) or of the generated key pair
    /// (OAuth 1.0a). On-demand rotation: set the annotation `applinks.io/rotate` to a new value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<Rotation>,

    /// What deleting this resource does to the client in the application: `Delete` removes it
    /// (and with it every token issued to the tool) and verifies it is gone; `Orphan` leaves it.
    /// The Secret is deleted with the resource either way.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

/// The OAuth 2.0 client as the tool needs it.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OAuth2Client {
    /// Redirect URLs the application may send the authorization code to, exactly as the tool
    /// sends them. `https`, except on localhost.
    #[schemars(
        length(min = 1, max = 20),
        inner(length(min = 1, max = 450)),
        extend("x-kubernetes-list-type" = "set")
    )]
    #[x_kube(validation = kube::core::Rule::new(
        "self.all(u, !u.contains('#') && (u.startsWith('https://') || u.matches('^http://(localhost|127[.]0[.]0[.]1|\\\\[::1\\\\])([:/].*)?$')))"
    ).message("each redirect URL must be an absolute https:// URL (http:// only for localhost), without a #fragment, at most 450 characters: the application refuses anything else"))]
    pub redirect_uris: Vec<String>,

    /// The highest permission the tool may ask for; each scope includes the ones below it.
    /// Jira and Confluence: READ, WRITE, ADMIN, SYSTEM_ADMIN. Bitbucket: PUBLIC_REPOS,
    /// ACCOUNT_WRITE, REPO_READ, REPO_WRITE, REPO_ADMIN, PROJECT_ADMIN, ADMIN_WRITE,
    /// SYSTEM_ADMIN. Bamboo: READ, TRIGGER, USER. Checked against what the application offers.
    #[x_kube(validation = kube::core::Rule::new("self.matches('^[A-Z_]+( [A-Z_]+)*$')").message(
        "scope is one or more scope names in capitals separated by single spaces, e.g. READ or REPO_WRITE"
    ))]
    #[schemars(length(min = 1, max = 255))]
    pub scope: String,
}

/// An incoming OAuth 1.0a consumer on a generic application link to the tool.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OAuth1Consumer {
    /// The tool's base URL: the generic link's application URL. Immutable (the link's id is
    /// derived from it).
    #[x_kube(validation = kube::core::Rule::new("self == oldSelf").message(
        "oauth1.url is immutable: the generic link's id is derived from it; create a new ExternalApplication and delete this one"
    ))]
    pub url: super::url::BaseUrl,

    /// The consumer key the tool signs with. Defaults to metadata.name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    #[x_kube(validation = kube::core::Rule::new("self.matches('^[-._:a-zA-Z0-9]+$')").message(
        "consumerKey is letters, digits, '-', '_', '.' and ':'"
    ))]
    pub consumer_key: Option<String>,

    /// Where the application sends the user after authorizing, when the tool does not pass a
    /// callback itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 450))]
    #[x_kube(validation = kube::core::Rule::new("self.startsWith('https://') || self.startsWith('http://')").message(
        "callbackUrl must be an absolute http(s) URL"
    ))]
    pub callback_url: Option<String>,

    /// A Secret key holding the tool's own RSA public key (PEM), when the tool keeps its private
    /// key itself. Without it, the operator generates a 2048-bit key pair and writes the private
    /// key (PKCS#8 PEM) into the Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key_secret_ref: Option<super::common::SecretKeyRef>,
}

/// How the credentials Secret looks. Values of `data` and `annotations` may use placeholders:
/// `{{ clientId }}`, `{{ clientSecret }}` (data only), `{{ authorizeUrl }}`, `{{ tokenUrl }}`,
/// `{{ baseUrl }}`, `{{ scope }}`, `{{ name }}`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = secret_template_schema)]
pub struct SecretTemplate {
    /// Name of the Secret. Defaults to `<metadata.name>-oauth`. It must not be the name of a
    /// Secret someone else already owns: the operator never overwrites one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new(
        "self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')"
    ).message("must be a Secret name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"))]
    #[schemars(length(min = 1, max = 253))]
    pub name: Option<String>,

    /// Labels of the Secret (literal values).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,

    /// Annotations of the Secret; values may use placeholders except `{{ clientSecret }}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[x_kube(validation = kube::core::Rule::new(
        "self.all(k, !self[k].matches('[{][{]\\\\s*clientSecret\\\\s*[}][}]'))"
    ).message("annotations must not contain {{ clientSecret }}: anyone who may list Secrets can read annotations; put the secret in data"))]
    pub annotations: BTreeMap<String, String>,

    /// Keys of the Secret and their values (templates). Defaults to `clientId`,
    /// `clientSecret`, `authorizeUrl` and `tokenUrl`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
}

/// Bounds the template's maps, so the API server can cost the CEL rules (and a Secret stays far
/// below its 1 MiB limit).
fn secret_template_schema(schema: &mut schemars::Schema) {
    let bounds = [("labels", 63), ("annotations", 4096), ("data", 16384)];
    if let Some(props) = schema.get_mut("properties").and_then(|p| p.as_object_mut()) {
        for (name, max_len) in bounds {
            if let Some(prop) = props.get_mut(name).and_then(|p| p.as_object_mut()) {
                prop.insert("maxProperties".into(), 32.into());
                prop.insert(
                    "additionalProperties".into(),
                    serde_json::json!({"type": "string", "maxLength": max_len}),
                );
            }
        }
    }
}

/// Scheduled rotation.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Rotation {
    /// Issue a new client secret this long after the current one (e.g. `720h`, `90d`); at
    /// least one hour.
    #[x_kube(validation = kube::core::Rule::new("self.matches('^([0-9]+(s|m|h|d))+$')").message(
        "every is a duration such as 720h or 90d (units s, m, h, d)"
    ))]
    pub every: String,
}

/// What the operator observed. Written only by the operator; never holds a secret.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExternalApplicationStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The client id the tool uses (OAuth 2.0), or its consumer key (OAuth 1.0a). Public; the
    /// secret is only in the Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Name of the Secret with the credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    /// The client as the application shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<ClientView>,
    /// When the current client secret was issued (created or rotated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_issued_at: Option<String>,
    /// The last `applinks.io/rotate` annotation value acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_request: Option<String>,
    /// The client (or generic link) this resource owns, recorded before it is created. Absent
    /// only in a status written by an older operator: its annotation claims are then taken over
    /// once, where the application confirms them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<super::ExternalClaims>,
    /// The last `applinks.io/reconcile-requested-at` (or Flux's `reconcile.fluxcd.io/requestedAt`)
    /// value a pass handled: the object was verified against the applications after it was set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
    /// Ready, and Reconciling, Stalled or Paused where they apply (kstatus).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// The application's own view of the client.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ClientView {
    /// The client's id in the application (a UUID; not the client id), or the generic link's id.
    pub id: String,
    pub name: String,
    /// Redirect URLs (OAuth 2.0), or the callback (OAuth 1.0a).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redirect_uris: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
}

impl ExternalApplication {
    /// The client's name in the application.
    pub fn client_name(&self) -> String {
        self.spec
            .display_name
            .clone()
            .unwrap_or_else(|| kube::ResourceExt::name_any(self))
    }

    /// The Secret's name.
    pub fn secret_name(&self) -> String {
        self.spec
            .secret
            .name
            .clone()
            .unwrap_or_else(|| format!("{}-oauth", kube::ResourceExt::name_any(self)))
    }

    /// The OAuth 1.0a consumer key.
    pub fn consumer_key(&self) -> Option<String> {
        let c = self.spec.oauth1.as_ref()?;
        Some(
            c.consumer_key
                .clone()
                .unwrap_or_else(|| kube::ResourceExt::name_any(self)),
        )
    }
}
