//! `ApplicationInstance`: one running application (Jira, Confluence, ...).

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::Condition;
use super::common::{ApplicationType, SecretKeyRef, SecretRef, add_refused_property};
use super::url::BaseUrl;

/// CEL regex of a loopback `http://` URL (localhost, 127.0.0.0/8, [::1], [::ffff:127.x.y.z]):
/// traffic that never leaves the machine needs no opt-in for plain HTTP.
pub(crate) const LOOPBACK_RE: &str = r"^[hH][tT][tT][pP]://(localhost|127\\.[0-9]+\\.[0-9]+\\.[0-9]+|\\[::1\\]|\\[::ffff:127\\.[0-9]+\\.[0-9]+\\.[0-9]+\\])(:[0-9]+)?(/.*)?$";

/// One running Atlassian (or generic) application that links can point at. With credentials
/// the operator administers it and can create and authenticate link ends in it; without, it
/// can only be the target of one-way links.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "applinks.io",
    version = "v1alpha1",
    kind = "ApplicationInstance",
    doc = "One running application (Jira, Confluence, Bitbucket, Bamboo, Fisheye/Crucible, a cloud site or a generic application) that links can point at.",
    namespaced,
    status = "ApplicationInstanceStatus",
    shortname = "appinstance",
    shortname = "appinst",
    category = "applinks",
    printcolumn = r#"{"name":"URL","type":"string","jsonPath":".spec.url"}"#,
    printcolumn = r#"{"name":"Type","type":"string","jsonPath":".status.typeId"}"#,
    printcolumn = r#"{"name":"Version","type":"string","jsonPath":".status.version"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Application ID","type":"string","jsonPath":".status.applicationId","priority":1}"#,
    printcolumn = r#"{"name":"Unmanaged Links","type":"integer","jsonPath":".status.inventory.unmanagedCount","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = kube::core::Rule::new(
    "!has(self.cloud) || !self.cloud || self.url.matches('^[hH][tT][tT][pP][sS]://')"
).message("an Atlassian Cloud site is only reachable over HTTPS: change url to https://"))]
#[x_kube(validation = kube::core::Rule::new(format!(
    "!self.url.matches('{}') || (self.url.matches('^[hH][tT][tT][pP][sS]://') && (!has(self.cloud) || self.cloud))",
    super::url::CLOUD_HOST_RE
)).message("url is an Atlassian Cloud site (*.atlassian.net, bitbucket.org): use https:// and do not set cloud: false"))]
#[x_kube(validation = kube::core::Rule::new(
    "!has(self.cloud) || !self.cloud || !has(self.type) || self.type in ['jira', 'confluence', 'bitbucket']"
).message("only Jira, Confluence and Bitbucket have an Atlassian Cloud edition: remove cloud: true or change type"))]
#[x_kube(validation = kube::core::Rule::new(format!(
    "!has(self.credentialsSecretRef) || self.url.matches('^[hH][tT][tT][pP][sS]://') || self.url.matches('{LOOPBACK_RE}') || (has(self.allowPlainHttp) && self.allowPlainHttp)"
)).message("the administrator's credentials would go over plain HTTP: use an https:// url, or, for an application reachable only over HTTP on a network you trust, set allowPlainHttp: true (loopback addresses need neither)"))]
#[serde(rename_all = "camelCase")]
#[schemars(transform = refuse_inline_credentials)]
pub struct ApplicationInstanceSpec {
    /// Base URL of the application as the operator and its peers reach it (the applinks
    /// "application URL" / rpcUrl), e.g. `https://jira.example.com` or
    /// `https://example.com/confluence`. Changing it relocates every link that points at this
    /// application, once the application answering at the new URL proves to be the same one
    /// (same manifest id).
    pub url: BaseUrl,

    /// The application's id (its manifest id, the Server ID Atlassian derives it from), pinned
    /// from Git: credentials are sent only to an application at `url` that shows this id.
    /// Without it, the id first verified is recorded in status and pinned from then on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub application_id: Option<String>,

    /// Allows administrator credentials (and the client secrets the application issues) to go
    /// over plain `http://` to a host that is not a loopback address. Off by default: anyone on
    /// the path could read them. Only for an application on a network you trust.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_plain_http: Option<bool>,

    /// URL users see in their browser, when it differs from `url` (e.g. behind a proxy).
    /// Defaults to `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_url: Option<BaseUrl>,

    /// Expected product. Verified against the manifest's typeId (Bitbucket is `stash`, Fisheye
    /// and Crucible are both `fecru`); a mismatch stops the instance with a WrongType condition.
    /// `generic` is an application without the Application Links plugin: links to it are
    /// one-way and use no impersonation.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub app_type: Option<ApplicationType>,

    /// Whether this is an Atlassian Cloud site. Derived from the URL for `*.atlassian.net`
    /// and `bitbucket.org`; set it for cloud sites on a custom domain. Cloud sites need HTTPS
    /// and never get 2-legged OAuth with impersonation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud: Option<bool>,

    /// Secret with the credentials of an administrator of this application (`username` and
    /// `password`, or `token` for a personal access token). Without it the operator cannot
    /// create link ends here, and links to this instance are one-way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret_ref: Option<SecretRef>,

    /// TLS settings for calls to this application. Certificates are always verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,

    /// The environment this application belongs to, as free text (`production`, `staging`, …).
    /// A link between two instances that name different environments is refused before anything
    /// is written (`EnvironmentMismatch`): a staging copy restored from production must never be
    /// linked, relocated or authenticated toward production.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub environment: Option<String>,

    /// How often the operator re-reads the manifest and re-checks the credentials, as a
    /// duration such as `30s`, `5m` or `1h` (at least 10s). Defaults to the operator's
    /// `--instance-check-interval`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new(
        "self.matches('^([0-9]{1,5}(s|m|h))+$') && duration(self) >= duration('10s')"
    ).message("checkInterval must be a duration of at least 10s, such as 30s, 5m or 1h"))]
    #[schemars(length(max = 32))]
    pub check_interval: Option<String>,
}

impl ApplicationInstanceSpec {
    /// Whether credentials may go to `url` over this transport: HTTPS, a loopback address, or
    /// plain HTTP opted into (`allowPlainHttp`). The CRD's rule refuses the rest at admission;
    /// this holds for objects admitted under an older CRD too. The error says what to change.
    pub fn credentials_transport_ok(&self) -> Result<(), String> {
        let url = self.url.as_str();
        let lower = url.to_ascii_lowercase();
        let host = self.url.host();
        let loopback = host == "localhost"
            || match host.parse::<std::net::IpAddr>() {
                Ok(std::net::IpAddr::V6(v6)) => {
                    v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
                }
                Ok(ip) => ip.is_loopback(),
                Err(_) => false,
            };
        if lower.starts_with("https://") || loopback || self.allow_plain_http == Some(true) {
            return Ok(());
        }
        Err(format!(
            "the administrator's credentials would go over plain HTTP to {url}, where anyone on the path can read them: use an https:// url, or, for an application reachable only over HTTP on a network you trust, set spec.allowPlainHttp: true"
        ))
    }

    /// Whether this is an Atlassian Cloud site: as declared, else recognised from the URL.
    pub fn is_cloud(&self) -> bool {
        self.cloud.unwrap_or_else(|| self.url.is_atlassian_cloud())
    }
}

/// Credentials typed into the spec are refused with a message that says where they belong (and
/// are never stored: a refused object is not written).
fn refuse_inline_credentials(schema: &mut schemars::Schema) {
    for field in ["username", "password", "token"] {
        add_refused_property(
            schema,
            field,
            serde_json::json!({
                "type": "string",
                "description": "Not allowed: credentials go in a Secret named by credentialsSecretRef.",
            }),
            &format!(
                "spec.{field} is not a field: credentials never go in the ApplicationInstance; put them in a Secret (keys username and password, or token) and name it in spec.credentialsSecretRef"
            ),
        );
    }
}

fn refuse_skip_verify(schema: &mut schemars::Schema) {
    add_refused_property(
        schema,
        "insecureSkipTLSVerify",
        serde_json::json!({
            "type": "boolean",
            "description": "Not allowed: certificates are always verified.",
        }),
        "certificates are always verified: remove insecureSkipTLSVerify and add the application's CA certificate with tls.caSecretRef or tls.caConfigMapRef",
    );
}

/// TLS settings for calls to an application.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[x_kube(validation = kube::core::Rule::new("!(has(self.caSecretRef) && has(self.caConfigMapRef))")
    .message("set one of tls.caSecretRef or tls.caConfigMapRef, not both"))]
#[serde(rename_all = "camelCase")]
#[schemars(transform = refuse_skip_verify)]
pub struct TlsConfig {
    /// Secret key holding PEM CA certificates to trust in addition to the system roots
    /// (key defaults to `ca.crt`). For applications with a private or self-signed CA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret_ref: Option<SecretKeyRef>,
    /// ConfigMap key holding PEM CA certificates to trust in addition to the system roots
    /// (key defaults to `ca.crt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_config_map_ref: Option<SecretKeyRef>,
}

/// What the operator observed of the application. Written only by the operator.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationInstanceStatus {
    /// The metadata.generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The URL the identity below was read from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The application's id from its manifest: the id its peers' links to it carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_id: Option<String>,
    /// The manifest's typeId (jira, confluence, stash, bamboo, fecru, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_id: Option<String>,
    /// The application's name from its manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_name: Option<String>,
    /// The product version from the manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The Application Links plugin version from the manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applinks_version: Option<String>,
    /// Whether the application is treated as an Atlassian Cloud site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud: Option<bool>,
    /// Whether the operator can administer links here (valid admin credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub administered: Option<bool>,
    /// The credentials Secret this instance holds (finalizer `applinks.io/credentials-in-use`)
    /// so that it outlives the links that need it to delete their ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_secret: Option<String>,
    /// The last `applinks.io/reconcile-requested-at` (or Flux's `reconcile.fluxcd.io/requestedAt`)
    /// value a pass handled: the object was verified against the applications after it was set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
    /// Every application link the application holds, managed or not (read with
    /// administrator credentials only; docs/estate.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<super::Inventory>,
    /// Ready, Reachable, CredentialsValid, Reconciling, Stalled, Paused, UnmanagedLinks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_transport() {
        let spec = |url: &str, allow: Option<bool>| ApplicationInstanceSpec {
            url: BaseUrl::from(url),
            application_id: None,
            allow_plain_http: allow,
            display_url: None,
            app_type: None,
            cloud: None,
            credentials_secret_ref: None,
            tls: None,
            check_interval: None,
            environment: None,
        };
        let cases = [
            ("https://jira.example.com", None, true),
            ("http://127.0.0.1:8080", None, true),
            ("http://localhost/jira", None, true),
            ("http://[::1]:8080", None, true),
            ("http://[::ffff:127.0.0.1]:1", None, true),
            ("http://jira.example.com", None, false),
            ("http://10.0.0.5:8080", Some(false), false),
            ("http://jira.internal", Some(true), true),
            ("http://127.evil.example.com", None, false),
        ];
        for (url, allow, ok) in cases {
            assert_eq!(
                spec(url, allow).credentials_transport_ok().is_ok(),
                ok,
                "{url}"
            );
        }
    }
}
