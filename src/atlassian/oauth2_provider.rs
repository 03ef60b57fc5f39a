//! The application's OAuth 2.0 provider (`rest/oauth2/latest`): incoming clients for tools that
//! are not Atlassian products. Only a system administrator may manage clients; the provider
//! answers 401 to anyone else (docs/protocol.md, OAuth 2.0 provider).

use serde::{Deserialize, Serialize};

use super::client::{AtlassianClient, Call};
use super::credentials::Secret;
use super::error::ApiError;
use super::limits::{self, MAX_ID_BYTES, MAX_NAME_BYTES, MAX_URL_BYTES};

const BASE: &str = "rest/oauth2/latest";

/// What the provider advertises anonymously (`.well-known/oauth-authorization-server`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct ProviderMetadata {
    #[serde(default)]
    pub scopes_supported: Vec<String>,
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    #[serde(default)]
    pub token_endpoint: Option<String>,
}

/// A client as the provider returns it. The secret is redacted in `Debug`.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct OAuth2ClientEntity {
    pub id: String,
    pub client_id: String,
    /// Absent when the provider shows a secret only once, at creation or reset.
    #[serde(default, deserialize_with = "secret_opt")]
    pub client_secret: Option<Secret>,
    pub name: String,
    #[serde(default)]
    pub redirects: Vec<String>,
    #[serde(default)]
    pub scope: String,
}

impl std::fmt::Debug for OAuth2ClientEntity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth2ClientEntity")
            .field("id", &self.id)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("name", &self.name)
            .field("redirects", &self.redirects)
            .field("scope", &self.scope)
            .finish()
    }
}

impl ProviderMetadata {
    /// Every field within its cap ([`limits`]): the endpoints end up in the tool's Secret,
    /// rendered as often as its template names them.
    fn checked(self, url: &str) -> Result<Self, ApiError> {
        limits::check_list(
            url,
            "scopes_supported",
            &self.scopes_supported,
            MAX_ID_BYTES,
        )?;
        for (field, value) in [
            ("authorization_endpoint", &self.authorization_endpoint),
            ("token_endpoint", &self.token_endpoint),
        ] {
            if let Some(v) = value {
                limits::check(url, field, v, MAX_URL_BYTES)?;
            }
        }
        Ok(self)
    }
}

impl OAuth2ClientEntity {
    /// Every field within its cap: they go into status, the Secret and later requests.
    fn checked(self, url: &str) -> Result<Self, ApiError> {
        limits::check(url, "client id", &self.id, MAX_ID_BYTES)?;
        limits::check(url, "clientId", &self.client_id, MAX_ID_BYTES)?;
        limits::check(url, "client name", &self.name, MAX_NAME_BYTES)?;
        limits::check(url, "client scope", &self.scope, MAX_NAME_BYTES)?;
        limits::check_list(url, "client redirects", &self.redirects, MAX_URL_BYTES)?;
        if let Some(s) = &self.client_secret {
            limits::check(url, "client secret", s.expose(), MAX_ID_BYTES)?;
        }
        Ok(self)
    }
}

fn secret_opt<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
    let value: Option<String> = Option::deserialize(d)?;
    Ok(value.filter(|s| !s.is_empty()).map(Secret::from))
}

/// Body of a create or update.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OAuth2ClientSpec {
    pub name: String,
    pub redirects: Vec<String>,
    pub scope: String,
}

impl AtlassianClient {
    /// The provider's metadata, or `None` when the application has no OAuth 2.0 provider
    /// (older versions, Fisheye/Crucible).
    pub async fn oauth2_metadata(&self) -> Result<Option<ProviderMetadata>, ApiError> {
        let call = Call::get(&format!("{BASE}/.well-known/oauth-authorization-server")).anonymous();
        match self.execute(call).await {
            Ok(reply) => Ok(Some(reply.json::<ProviderMetadata>()?.checked(&reply.url)?)),
            Err(ApiError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn list_oauth2_clients(&self) -> Result<Vec<OAuth2ClientEntity>, ApiError> {
        let reply = self
            .execute(Call::get(&format!("{BASE}/client")).sysadmin("listing OAuth 2.0 clients"))
            .await?;
        reply
            .json::<Vec<OAuth2ClientEntity>>()?
            .into_iter()
            .map(|c| c.checked(&reply.url))
            .collect()
    }

    /// One client by its id (the UUID, not the client id); `None` when it does not exist.
    pub async fn get_oauth2_client(
        &self,
        id: &str,
    ) -> Result<Option<OAuth2ClientEntity>, ApiError> {
        let call = Call::get(&format!("{BASE}/client"))
            .segment(id)
            .sysadmin("reading an OAuth 2.0 client");
        match self.execute(call).await {
            Ok(reply) => Ok(Some(
                reply.json::<OAuth2ClientEntity>()?.checked(&reply.url)?,
            )),
            Err(ApiError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates a client; the provider generates its client id and secret. Not retried: a
    /// second POST would make a second client (names are unique, so it would be refused).
    pub async fn create_oauth2_client(
        &self,
        spec: &OAuth2ClientSpec,
    ) -> Result<OAuth2ClientEntity, ApiError> {
        let reply = self
            .execute(
                Call::post(&format!("{BASE}/client"))
                    .json(spec)
                    .sysadmin("creating an OAuth 2.0 client"),
            )
            .await?;
        reply.json::<OAuth2ClientEntity>()?.checked(&reply.url)
    }

    /// Changes name, redirects and scope (the provider merges; 204).
    pub async fn update_oauth2_client(
        &self,
        id: &str,
        spec: &OAuth2ClientSpec,
    ) -> Result<(), ApiError> {
        self.execute(
            Call::put(&format!("{BASE}/client"))
                .segment(id)
                .json(spec)
                .sysadmin("changing an OAuth 2.0 client"),
        )
        .await
        .map(|_| ())
    }

    /// Deletes a client and every token issued to it. `false` when it was already gone.
    pub async fn delete_oauth2_client(&self, id: &str) -> Result<bool, ApiError> {
        let call = Call::delete(&format!("{BASE}/client"))
            .segment(id)
            .sysadmin("deleting an OAuth 2.0 client");
        match self.execute(call).await {
            Ok(_) => Ok(true),
            Err(ApiError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Issues a new secret for the client (the old one stops working). Returns the new secret
    /// when the reply carries it; otherwise the caller reads the client again.
    pub async fn reset_oauth2_client_secret(
        &self,
        client_id: &str,
    ) -> Result<Option<Secret>, ApiError> {
        let reply = self
            .execute(
                Call::put(&format!("{BASE}/client/reset"))
                    .segment(client_id)
                    .idempotent(false)
                    .sysadmin("issuing a new OAuth 2.0 client secret"),
            )
            .await?;
        if reply.body.trim_ascii().is_empty() {
            return Ok(None);
        }
        // The entity, or the bare secret as a JSON string: accept both.
        if let Ok(entity) = reply.json::<OAuth2ClientEntity>() {
            return Ok(entity.checked(&reply.url)?.client_secret);
        }
        let secret = reply.json::<String>().ok().filter(|s| !s.is_empty());
        if let Some(s) = &secret {
            limits::check(&reply.url, "client secret", s, MAX_ID_BYTES)?;
        }
        Ok(secret.map(Secret::from))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atlassian::test_support::*;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, ResponseTemplate};

    fn entity() -> serde_json::Value {
        serde_json::json!({
            "id": "0b7e5f0e-3a57-4d0e-9f43-5c1a0f2b8a11",
            "clientId": "0123456789abcdef0123456789abcdef",
            "clientSecret": "f".repeat(64),
            "name": "che",
            "redirects": ["https://che.example.test/api/oauth/callback"],
            "scope": "REPO_WRITE",
            "userKey": "JIRAUSER10000"
        })
    }

    #[tokio::test]
    async fn a_plain_admin_gets_not_system_administrator_and_keeps_its_credentials() {
        let server = server().await;
        let client = admin_client(&server);
        Mock::given(method("GET"))
            .and(path("/rest/oauth2/latest/client"))
            .respond_with(ResponseTemplate::new(401))
            .mount(&server)
            .await;
        let err = client.list_oauth2_clients().await.unwrap_err();
        assert_eq!(err.reason(), "NotSystemAdministrator");
        assert!(err.to_string().contains("System Administrator"), "{err}");
        assert!(
            !client.credentials_held(),
            "a 401 here is about permission, not identity"
        );
    }

    #[tokio::test]
    async fn entities_parse_and_never_show_the_secret_in_debug() {
        let server = server().await;
        let client = admin_client(&server);
        Mock::given(method("POST"))
            .and(path("/rest/oauth2/latest/client"))
            .respond_with(ResponseTemplate::new(200).set_body_json(entity()))
            .expect(1)
            .mount(&server)
            .await;
        let created = client
            .create_oauth2_client(&OAuth2ClientSpec {
                name: "che".into(),
                redirects: vec!["https://che.example.test/api/oauth/callback".into()],
                scope: "REPO_WRITE".into(),
            })
            .await
            .unwrap();
        assert_eq!(created.client_id.len(), 32);
        assert_eq!(created.client_secret.as_ref().unwrap().expose().len(), 64);
        assert!(!format!("{created:?}").contains("ffff"), "{created:?}");
    }

    #[tokio::test]
    async fn endpoints_over_their_cap_are_refused_before_use() {
        let server = server().await;
        let client = admin_client(&server);
        let long = format!("https://p.example.test/{}", "a".repeat(3 * 1024 * 1024));
        Mock::given(method("GET"))
            .and(path(
                "/rest/oauth2/latest/.well-known/oauth-authorization-server",
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "authorization_endpoint": "https://p.example.test/authorize",
                "token_endpoint": long,
                "scopes_supported": ["READ"],
            })))
            .mount(&server)
            .await;
        let err = client.oauth2_metadata().await.unwrap_err();
        assert_eq!(err.reason(), "RemoteValueTooLong");
        assert!(err.to_string().contains("token_endpoint"), "{err}");
        assert!(err.to_string().len() < 1000, "the value is not quoted");
    }

    #[tokio::test]
    async fn a_hidden_secret_reads_as_none_and_a_missing_provider_as_none() {
        let server = server().await;
        let client = admin_client(&server);
        let mut hidden = entity();
        hidden.as_object_mut().unwrap().remove("clientSecret");
        Mock::given(method("GET"))
            .and(path("/rest/oauth2/latest/client/abc"))
            .respond_with(ResponseTemplate::new(200).set_body_json(hidden))
            .mount(&server)
            .await;
        let got = client.get_oauth2_client("abc").await.unwrap().unwrap();
        assert!(got.client_secret.is_none());
        assert!(client.get_oauth2_client("gone").await.unwrap().is_none());
        assert!(client.oauth2_metadata().await.unwrap().is_none());
    }
}
