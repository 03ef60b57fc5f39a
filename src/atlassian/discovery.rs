//! Discovery: the anonymous manifest and the administrator probe `authenticationinfo`
//! (docs/protocol.md, Manifest and Administrator check).

use serde::{Deserialize, Deserializer, Serialize};

use super::client::{AtlassianClient, Call, Reply};
use super::envelope::{one_or_many, xml_leaf_texts};
use super::error::ApiError;
use super::limits::{self, MAX_ID_BYTES, MAX_NAME_BYTES, MAX_URL_BYTES};

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
    #[serde(default, deserialize_with = "lenient")]
    pub build_number: Option<i64>,
    #[serde(default)]
    pub applinks_version: Option<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub inbound_authentication_types: Vec<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub outbound_authentication_types: Vec<String>,
    #[serde(default, deserialize_with = "lenient")]
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
        manifest.checked(&reply.url)
    }

    /// Every field within its cap: they go into status and into the peers' links.
    fn checked(self, url: &str) -> Result<Self, ApiError> {
        let check = |field: &str, value: &str, limit| limits::check(url, field, value, limit);
        check("manifest id", &self.id, MAX_ID_BYTES)?;
        check("manifest name", &self.name, MAX_NAME_BYTES)?;
        check("manifest typeId", &self.type_id, MAX_ID_BYTES)?;
        for (field, value, limit) in [
            ("manifest version", &self.version, MAX_ID_BYTES),
            (
                "manifest applinksVersion",
                &self.applinks_version,
                MAX_ID_BYTES,
            ),
            ("manifest url", &self.url, MAX_URL_BYTES),
            ("manifest iconUrl", &self.icon_url, MAX_URL_BYTES),
            ("manifest iconUri", &self.icon_uri, MAX_URL_BYTES),
        ] {
            if let Some(v) = value {
                check(field, v, limit)?;
            }
        }
        for (field, list) in [
            (
                "manifest inboundAuthenticationTypes",
                &self.inbound_authentication_types,
            ),
            (
                "manifest outboundAuthenticationTypes",
                &self.outbound_authentication_types,
            ),
        ] {
            limits::check_list(url, field, list, MAX_ID_BYTES)?;
        }
        Ok(self)
    }
}

/// A value some products send as a JSON string ("42", "true"); unparsable text reads as absent.
fn lenient<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + std::str::FromStr,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ValueOrStr<T> {
        Value(T),
        Str(String),
    }
    Ok(match Option::<ValueOrStr<T>>::deserialize(d)? {
        Some(ValueOrStr::Value(v)) => Some(v),
        Some(ValueOrStr::Str(s)) => s.trim().parse().ok(),
        None => None,
    })
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
        let manifest = Manifest::from_reply(&reply)?;
        self.learn_application_type(&manifest.type_id);
        Ok((manifest, reply.date))
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

/// A real manifest, for other modules' tests.
#[cfg(test)]
pub(crate) const MANIFEST_JSON_FOR_TESTS: &str = tests::MANIFEST_JSON;

#[cfg(test)]
mod tests {
    use crate::atlassian::Credentials;
    use crate::atlassian::test_support::*;
    use serde_json::json;
    use wiremock::matchers::{header, method, path};
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
        assert_eq!(m.applinks_version.as_deref(), Some("9.1.4"));
        assert_eq!(m.inbound_authentication_types.len(), 3);
        assert_eq!(m.outbound_authentication_types.len(), 1);
        assert_eq!(m.public_signup, Some(false));
        // Anonymous even though the client has credentials.
        let received = &server.received_requests().await.unwrap()[0];
        assert!(!received.headers.contains_key("authorization"));
    }

    #[tokio::test]
    async fn manifest_fields_over_their_caps_are_refused_by_name() {
        let long_id = "6".repeat(257);
        let long_name = "n".repeat(1025);
        let long_url = format!("https://jira.example.test/{}", "a".repeat(2048));
        let many: Vec<String> = (0..300).map(|i| format!("t{i}")).collect();
        let cases = [
            ("manifest id", json!({"id": long_id, "typeId": "jira"})),
            (
                "manifest name",
                json!({"id": "x", "name": long_name, "typeId": "jira"}),
            ),
            (
                "manifest url",
                json!({"id": "x", "typeId": "jira", "url": long_url}),
            ),
            (
                "manifest inboundAuthenticationTypes (entries)",
                json!({"id": "x", "typeId": "jira", "inboundAuthenticationTypes": many}),
            ),
        ];
        for (field, body) in cases {
            let server = server().await;
            Mock::given(method("GET"))
                .and(path("/rest/applinks/1.0/manifest"))
                .respond_with(json_response(200, &body.to_string()))
                .mount(&server)
                .await;
            let err = client_with(&server, Credentials::Anonymous)
                .manifest()
                .await
                .unwrap_err();
            assert_eq!(err.reason(), "RemoteValueTooLong", "{field}: {err}");
            assert!(err.to_string().contains(field), "{field}: {err}");
        }
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
}
