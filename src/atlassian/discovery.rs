//! Discovery: the anonymous manifest, capabilities and the administrator probe
//! `authenticationinfo` (docs/protocol.md, Manifest; Capabilities; Administrator check).

use serde::{Deserialize, Deserializer, Serialize};

use super::client::{AtlassianClient, Call, Reply};
use super::envelope::{one_or_many, xml_leaf_texts};
use super::error::ApiError;

/// Provider class names listed in a manifest's authentication types.
pub const OAUTH_PROVIDER: &str =
    "com.atlassian.applinks.api.auth.types.OAuthAuthenticationProvider";
pub const TWO_LO_PROVIDER: &str =
    "com.atlassian.applinks.api.auth.types.TwoLeggedOAuthAuthenticationProvider";
pub const TWO_LO_IMPERSONATION_PROVIDER: &str =
    "com.atlassian.applinks.api.auth.types.TwoLeggedOAuthWithImpersonationAuthenticationProvider";

/// Capability a peer must advertise for the status API (`status/{id}/oauth`).
pub const STATUS_API: &str = "STATUS_API";

/// An application's identity, as served by `GET /rest/applinks/1.0/manifest`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// The application's applink id: peers store their link to it under this id.
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// `jira`, `confluence`, `stash`, `bamboo`, `fecru`, `crowd`, `generic`, `refapp`, …
    #[serde(default)]
    pub type_id: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub build_number: Option<i64>,
    #[serde(default)]
    pub applinks_version: Option<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub inbound_authentication_types: Vec<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub outbound_authentication_types: Vec<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub public_signup: Option<bool>,
    /// The application's base (display) URL as it sees itself.
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub icon_url: Option<String>,
    #[serde(default)]
    pub icon_uri: Option<String>,
}

impl Manifest {
    /// Accepts OAuth 1.0a (3-legged) requests.
    pub fn accepts_oauth(&self) -> bool {
        self.inbound_authentication_types
            .iter()
            .any(|t| t == OAUTH_PROVIDER)
    }

    /// Accepts 2-legged OAuth.
    pub fn accepts_two_legged_oauth(&self) -> bool {
        self.inbound_authentication_types
            .iter()
            .any(|t| t == TWO_LO_PROVIDER)
    }

    /// `applinksVersion` as (major, minor, patch), missing parts as 0.
    pub fn applinks_version(&self) -> Option<(u32, u32, u32)> {
        parse_version(self.applinks_version.as_deref()?)
    }

    /// Errors with `UnexpectedType` unless the manifest's `typeId` is `expected`.
    pub fn ensure_type(&self, expected: &str, url: &str) -> Result<(), ApiError> {
        if self.type_id == expected {
            Ok(())
        } else {
            Err(ApiError::UnexpectedType {
                url: url.to_owned(),
                expected: expected.to_owned(),
                actual: self.type_id.clone(),
            })
        }
    }

    /// Builds a manifest from the XML rendering (the default of real servers).
    fn from_xml(text: &str) -> Option<Self> {
        let mut m = Manifest::default();
        for (name, value) in xml_leaf_texts(text) {
            match name.as_str() {
                "id" => m.id = value,
                "name" => m.name = value,
                "typeId" => m.type_id = value,
                "version" => m.version = Some(value),
                "buildNumber" => m.build_number = value.parse().ok(),
                "applinksVersion" => m.applinks_version = Some(value),
                "inboundAuthenticationTypes" => m.inbound_authentication_types.push(value),
                "outboundAuthenticationTypes" => m.outbound_authentication_types.push(value),
                "publicSignup" => m.public_signup = value.parse().ok(),
                "url" => m.url = Some(value),
                "iconUrl" => m.icon_url = Some(value),
                "iconUri" => m.icon_uri = Some(value),
                _ => {}
            }
        }
        (!m.id.is_empty()).then_some(m)
    }

    fn from_reply(reply: &Reply) -> Result<Self, ApiError> {
        let manifest = if reply.is_xml() {
            let text = std::str::from_utf8(&reply.body)
                .map_err(|_| reply.malformed("manifest XML is not UTF-8"))?;
            Self::from_xml(text).ok_or_else(|| reply.malformed("manifest XML has no <id>"))?
        } else {
            reply.json::<Self>()?
        };
        if manifest.id.trim().is_empty() {
            return Err(reply.malformed("manifest has an empty id"));
        }
        Ok(manifest)
    }
}

fn parse_version(v: &str) -> Option<(u32, u32, u32)> {
    let mut parts = v
        .split(|c: char| !c.is_ascii_digit())
        .take_while(|p| !p.is_empty())
        .map(|p| p.parse::<u32>().ok());
    let major = parts.next()??;
    let minor = parts.next().flatten().unwrap_or(0);
    let patch = parts.next().flatten().unwrap_or(0);
    Some((major, minor, patch))
}

fn lenient_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumOrStr {
        Num(i64),
        Str(String),
    }
    Ok(match Option::<NumOrStr>::deserialize(d)? {
        Some(NumOrStr::Num(n)) => Some(n),
        Some(NumOrStr::Str(s)) => s.trim().parse().ok(),
        None => None,
    })
}

fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum BoolOrStr {
        Bool(bool),
        Str(String),
    }
    Ok(match Option::<BoolOrStr>::deserialize(d)? {
        Some(BoolOrStr::Bool(b)) => Some(b),
        Some(BoolOrStr::Str(s)) => s.trim().parse().ok(),
        None => None,
    })
}

/// Capabilities advertised by `GET /rest/applinks/3.0/capabilities`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities(pub Vec<String>);

impl Capabilities {
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|c| c == name)
    }

    /// Whether `status/{id}/oauth` can be used on this application.
    pub fn has_status_api(&self) -> bool {
        self.has(STATUS_API)
    }
}

/// This application's OAuth consumer identity, from `GET plugins/servlet/oauth/consumer-info`
/// (XML only). Peers fetch it when OAuth is configured on a link; the operator reads it to tell
/// "peer cannot be reached for key exchange" apart from other configuration failures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsumerInfo {
    /// Consumer key, e.g. `Confluence:5413647675`.
    pub key: String,
    pub name: String,
    /// Base64 of the X.509 SubjectPublicKeyInfo (DER), no PEM armour.
    pub public_key: String,
    pub description: Option<String>,
    pub callback: Option<String>,
}

impl ConsumerInfo {
    fn from_xml(text: &str) -> Option<Self> {
        let mut info = ConsumerInfo::default();
        for (name, value) in xml_leaf_texts(text) {
            match name.as_str() {
                "key" => info.key = value,
                "name" => info.name = value,
                "publicKey" => info.public_key = value,
                "description" => info.description = Some(value),
                "callback" => info.callback = Some(value),
                _ => {}
            }
        }
        // The same three fields applinks itself requires.
        (!info.key.is_empty() && !info.name.is_empty() && !info.public_key.is_empty())
            .then_some(info)
    }
}

impl AtlassianClient {
    /// `GET /rest/applinks/1.0/manifest`, anonymously (what any peer sees). Parses JSON, or
    /// XML if the server ignores `Accept`.
    /// Redirects are not followed: the products never follow them on the manifest, so a
    /// redirecting base URL breaks every peer ([`ApiError::ManifestRedirected`]).
    pub async fn manifest(&self) -> Result<Manifest, ApiError> {
        Ok(self.manifest_and_clock().await?.0)
    }

    /// The manifest and the application's clock (its `Date` header), which OAuth needs within
    /// five minutes of the peers' clocks.
    pub async fn manifest_and_clock(
        &self,
    ) -> Result<(Manifest, Option<std::time::SystemTime>), ApiError> {
        let reply = self
            .execute(
                Call::get("rest/applinks/1.0/manifest")
                    .anonymous()
                    .no_redirects(),
            )
            .await?;
        Ok((Manifest::from_reply(&reply)?, reply.date))
    }

    /// `GET /rest/applinks/1.0/manifest/{linkId}`: the manifest of a linked application, as
    /// fetched live by this application (proves this application can reach its peer).
    pub async fn remote_manifest(&self, link_id: &str) -> Result<Manifest, ApiError> {
        let reply = self
            .execute(Call::get("rest/applinks/1.0/manifest").segment(link_id))
            .await?;
        Manifest::from_reply(&reply)
    }

    /// `GET plugins/servlet/oauth/consumer-info` (anonymous, XML; the one endpoint that
    /// never answers JSON, so `Accept` is ignored and the body parsed with quick-xml).
    pub async fn consumer_info(&self) -> Result<ConsumerInfo, ApiError> {
        let reply = self
            .execute(Call::get("plugins/servlet/oauth/consumer-info").anonymous())
            .await?;
        let text = std::str::from_utf8(&reply.body)
            .map_err(|_| reply.malformed("consumer-info is not UTF-8"))?;
        ConsumerInfo::from_xml(text)
            .ok_or_else(|| reply.malformed("consumer-info lacks key, name or publicKey"))
    }

    /// `GET /rest/applinks/3.0/capabilities` (anonymous). Applications older than applinks
    /// 5.0.5 have no such resource; their 404 reads as "no capabilities".
    pub async fn capabilities(&self) -> Result<Capabilities, ApiError> {
        match self
            .execute(Call::get("rest/applinks/3.0/capabilities").anonymous())
            .await
        {
            Ok(reply) => Ok(Capabilities(reply.json()?)),
            Err(ApiError::NotFound { .. }) => Ok(Capabilities::default()),
            Err(e) => Err(e),
        }
    }

    /// `GET /rest/applinks/1.0/authenticationinfo`: succeeds iff the configured credentials are
    /// administrator credentials (the same probe applinks uses before creating a link-back).
    ///
    /// With a personal access token it then reads the classic link list, which secure
    /// administrator sessions guard like the create: an application that would refuse the
    /// create is found out here, before any end of any link is made (nothing half-created).
    pub async fn verify_admin(&self) -> Result<(), ApiError> {
        self.execute(
            Call::get("rest/applinks/1.0/authenticationinfo")
                .admin("verifying administrator access"),
        )
        .await?;
        if !self.uses_token() {
            return Ok(());
        }
        match self
            .execute(
                Call::get("rest/applinks/1.0/applicationlink")
                    .admin("checking secure administrator sessions"),
            )
            .await
        {
            // No classic resource at all (not an applinks host): nothing it could guard.
            Ok(_) | Err(ApiError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atlassian::Credentials;
    use crate::atlassian::test_support::*;
    use wiremock::matchers::{header, header_exists, method, path};
    use wiremock::{Mock, ResponseTemplate};

    pub(crate) const MANIFEST_JSON: &str = r#"{"id":"6b49910b-9513-3e59-9af1-7d75d31d5c54","name":"Sim Jira","typeId":"jira","version":"9.12.2","buildNumber":9120002,"applinksVersion":"9.1.4","inboundAuthenticationTypes":["com.atlassian.applinks.api.auth.types.OAuthAuthenticationProvider","com.atlassian.applinks.api.auth.types.TwoLeggedOAuthAuthenticationProvider","placeholder.to.ensure.backwards.compatibility"],"outboundAuthenticationTypes":"com.atlassian.applinks.api.auth.types.OAuthAuthenticationProvider","publicSignup":false,"url":"https://jira.example.test","iconUrl":"https://jira.example.test/i.png","someFutureField":{"x":1}}"#;

    const MANIFEST_XML: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<manifest>
  <id>6b49910b-9513-3e59-9af1-7d75d31d5c54</id>
  <name>Sim &amp; Jira</name>
  <typeId>jira</typeId>
  <version>9.12.2</version>
  <buildNumber>9120002</buildNumber>
  <applinksVersion>9.1.4</applinksVersion>
  <inboundAuthenticationTypes>com.atlassian.applinks.api.auth.types.OAuthAuthenticationProvider</inboundAuthenticationTypes>
  <inboundAuthenticationTypes>com.atlassian.applinks.api.auth.types.TwoLeggedOAuthAuthenticationProvider</inboundAuthenticationTypes>
  <outboundAuthenticationTypes>com.atlassian.applinks.api.auth.types.OAuthAuthenticationProvider</outboundAuthenticationTypes>
  <publicSignup>false</publicSignup>
  <url>https://jira.example.test</url>
  <iconUrl>https://jira.example.test/i.png</iconUrl>
</manifest>"#;

    #[tokio::test]
    async fn manifest_json_is_fetched_anonymously() {
        let server = server().await;
        Mock::given(method("GET"))
            .and(path("/rest/applinks/1.0/manifest"))
            .and(header("accept", "application/json"))
            .respond_with(json_response(200, MANIFEST_JSON))
            .expect(1)
            .mount(&server)
            .await;
        let client = client_with(&server, Credentials::basic("admin", "pw"));
        let m = client.manifest().await.unwrap();
        assert_eq!(m.id, "6b49910b-9513-3e59-9af1-7d75d31d5c54");
        assert_eq!(m.type_id, "jira");
        assert_eq!(m.build_number, Some(9120002));
        assert_eq!(m.applinks_version(), Some((9, 1, 4)));
        assert_eq!(m.inbound_authentication_types.len(), 3);
        assert_eq!(m.outbound_authentication_types, vec![OAUTH_PROVIDER]);
        assert!(m.accepts_oauth() && m.accepts_two_legged_oauth());
        assert_eq!(m.public_signup, Some(false));
        // Anonymous even though the client has credentials.
        let received = &server.received_requests().await.unwrap()[0];
        assert!(!received.headers.contains_key("authorization"));
        assert!(m.ensure_type("jira", "u").is_ok());
        assert_eq!(
            m.ensure_type("confluence", "u").unwrap_err().reason(),
            "UnexpectedApplicationType"
        );
    }

    #[tokio::test]
    async fn manifest_xml_fallback() {
        let server = server().await;
        Mock::given(method("GET"))
            .and(path("/rest/applinks/1.0/manifest"))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("content-type", "application/xml")
                    .set_body_string(MANIFEST_XML),
            )
            .mount(&server)
            .await;
        let m = client_with(&server, Credentials::Anonymous)
            .manifest()
            .await
            .unwrap();
        assert_eq!(m.name, "Sim & Jira");
        assert_eq!(m.inbound_authentication_types.len(), 2);
        assert_eq!(m.build_number, Some(9120002));
        assert_eq!(m.url.as_deref(), Some("https://jira.example.test"));
    }

    #[tokio::test]
    async fn manifest_without_id_is_malformed() {
        let server = server().await;
        Mock::given(method("GET"))
            .and(path("/rest/applinks/1.0/manifest"))
            .respond_with(json_response(200, r#"{"name":"x","typeId":"jira"}"#))
            .mount(&server)
            .await;
        let err = client_with(&server, Credentials::Anonymous)
            .manifest()
            .await
            .unwrap_err();
        assert_eq!(err.reason(), "MalformedResponse");
    }

    #[tokio::test]
    async fn capabilities_and_missing_resource() {
        let server = server().await;
        Mock::given(method("GET"))
            .and(path("/rest/applinks/3.0/capabilities"))
            .respond_with(json_response(200, r#"["STATUS_API","MIGRATION_API"]"#))
            .mount(&server)
            .await;
        let caps = client_with(&server, Credentials::Anonymous)
            .capabilities()
            .await
            .unwrap();
        assert!(caps.has_status_api() && caps.has("MIGRATION_API"));

        let old = self::server().await; // applinks < 5.0.5: no resource
        let caps = client_with(&old, Credentials::Anonymous)
            .capabilities()
            .await
            .unwrap();
        assert!(!caps.has_status_api());
    }

    #[tokio::test]
    async fn verify_admin_sends_basic_auth_and_maps_401_403() {
        let server = server().await;
        Mock::given(method("GET"))
            .and(path("/rest/applinks/1.0/authenticationinfo"))
            .and(header("authorization", "Basic YWRtaW46cHc=")) // admin:pw
            .and(header("x-atlassian-token", "no-check"))
            .respond_with(json_response(200, r#"{"status-code":200}"#))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/rest/applinks/1.0/authenticationinfo"))
            .and(header("authorization", "Basic dXNlcjpwdw==")) // user:pw
            .respond_with(json_response(
                401,
                r#"{"status-code":401,"message":"applinks.error.only.admin"}"#,
            ))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/rest/applinks/1.0/authenticationinfo"))
            .and(header("authorization", "Bearer pat-1"))
            .respond_with(json_response(403, r#"{"message":"forbidden"}"#))
            .mount(&server)
            .await;

        client_with(&server, Credentials::basic("admin", "pw"))
            .verify_admin()
            .await
            .unwrap();

        let err = client_with(&server, Credentials::basic("user", "pw"))
            .verify_admin()
            .await
            .unwrap_err();
        assert_eq!(err.reason(), "CredentialsRejected");
        assert!(
            err.to_string().contains("applinks.error.only.admin"),
            "{err}"
        );
        assert!(!err.to_string().contains("pw"), "{err}");

        let err = client_with(&server, Credentials::bearer("pat-1"))
            .verify_admin()
            .await
            .unwrap_err();
        assert_eq!(err.reason(), "PermissionDenied");

        // Without credentials nothing is sent.
        let before = server.received_requests().await.unwrap().len();
        let err = client_with(&server, Credentials::Anonymous)
            .verify_admin()
            .await
            .unwrap_err();
        assert_eq!(err.reason(), "CredentialsMissing");
        assert_eq!(server.received_requests().await.unwrap().len(), before);
    }

    #[tokio::test]
    async fn remote_manifest_by_link_id() {
        let server = server().await;
        Mock::given(method("GET"))
            .and(path(
                "/rest/applinks/1.0/manifest/6b49910b-9513-3e59-9af1-7d75d31d5c54",
            ))
            .and(header_exists("authorization"))
            .respond_with(json_response(200, MANIFEST_JSON))
            .mount(&server)
            .await;
        let m = client_with(&server, Credentials::basic("admin", "pw"))
            .remote_manifest("6b49910b-9513-3e59-9af1-7d75d31d5c54")
            .await
            .unwrap();
        assert_eq!(m.name, "Sim Jira");
    }

    #[tokio::test]
    async fn consumer_info_xml() {
        let server = server().await;
        Mock::given(method("GET"))
            .and(path("/plugins/servlet/oauth/consumer-info"))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("content-type", "application/xml;charset=UTF-8")
                    .set_body_string(
                        "<consumer><key>Confluence:5413647675</key><name>Confluence</name>\
                         <publicKey>MIIBIjANBgkq</publicKey><description>Atlassian Confluence at https://wiki</description></consumer>",
                    ),
            )
            .mount(&server)
            .await;
        let info = client_with(&server, Credentials::Anonymous)
            .consumer_info()
            .await
            .unwrap();
        assert_eq!(info.key, "Confluence:5413647675");
        assert_eq!(info.public_key, "MIIBIjANBgkq");
        assert!(info.callback.is_none());

        let broken = self::server().await;
        Mock::given(method("GET"))
            .and(path("/plugins/servlet/oauth/consumer-info"))
            .respond_with(
                ResponseTemplate::new(200).set_body_string("<consumer><key>k</key></consumer>"),
            )
            .mount(&broken)
            .await;
        let err = client_with(&broken, Credentials::Anonymous)
            .consumer_info()
            .await
            .unwrap_err();
        assert_eq!(err.reason(), "MalformedResponse");
    }

    #[test]
    fn version_parsing() {
        assert_eq!(parse_version("9.1.4"), Some((9, 1, 4)));
        assert_eq!(parse_version("5.0"), Some((5, 0, 0)));
        assert_eq!(parse_version("8.0.0-m01"), Some((8, 0, 0)));
        assert_eq!(parse_version("x"), None);
    }
}
