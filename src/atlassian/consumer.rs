//! The incoming OAuth 1.0a consumer of a link (`rest/applinks-oauth/1.0`): how a tool that signs
//! its requests with its own RSA key is trusted through a generic link (docs/protocol.md,
//! Incoming consumers). There is no REST delete: deleting the link removes its consumer.

use serde::{Deserialize, Serialize};

use super::client::{AtlassianClient, Call};
use super::error::ApiError;

/// Body of `PUT …/applicationlink/{id}/authentication/consumer`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct IncomingConsumer {
    pub key: String,
    /// Always sent: the resource fails with 500 without it.
    pub name: String,
    pub description: String,
    /// The tool's RSA public key, PEM.
    pub public_key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback: Option<String>,
    /// Ignored on generic links; sent false so nothing is implied.
    #[serde(rename = "twoLOAllowed")]
    pub two_lo_allowed: bool,
    #[serde(rename = "twoLOImpersonationAllowed")]
    pub two_lo_impersonation_allowed: bool,
    /// Incoming: the tool calls the application.
    pub outgoing: bool,
}

/// Body of `GET …/applicationlink/{id}/authentication/consumer`: only the key is read.
#[derive(Debug, Deserialize)]
struct Consumers {
    #[serde(default)]
    consumers: Vec<ConsumerKey>,
}

#[derive(Debug, Deserialize)]
struct ConsumerKey {
    key: String,
}

impl AtlassianClient {
    /// The key of the link's incoming consumer; `None` when it has none (404).
    pub async fn incoming_consumer_key(&self, link_id: &str) -> Result<Option<String>, ApiError> {
        match self
            .execute(
                Call::get("rest/applinks-oauth/1.0/applicationlink")
                    .segment(link_id)
                    .segment("authentication")
                    .segment("consumer")
                    .admin("reading the incoming OAuth consumer of a link"),
            )
            .await
        {
            Ok(reply) => Ok(reply
                .json::<Consumers>()?
                .consumers
                .into_iter()
                .next()
                .map(|c| c.key)),
            Err(ApiError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sets the link's incoming consumer (201), replacing any consumer it had.
    pub async fn put_incoming_consumer(
        &self,
        link_id: &str,
        consumer: &IncomingConsumer,
    ) -> Result<(), ApiError> {
        self.execute(
            Call::put("rest/applinks-oauth/1.0/applicationlink")
                .segment(link_id)
                .segment("authentication")
                .segment("consumer")
                .json(consumer)
                .admin("setting the incoming OAuth consumer of a link"),
        )
        .await
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atlassian::test_support::*;
    use wiremock::matchers::{body_partial_json, method, path};
    use wiremock::{Mock, ResponseTemplate};

    #[tokio::test]
    async fn sends_the_name_and_no_two_legged_flags() {
        let server = server().await;
        let client = admin_client(&server);
        Mock::given(method("PUT"))
            .and(path(
                "/rest/applinks-oauth/1.0/applicationlink/abc/authentication/consumer",
            ))
            .and(body_partial_json(serde_json::json!({
                "key": "che", "name": "Eclipse Che", "outgoing": false,
                "twoLOAllowed": false, "twoLOImpersonationAllowed": false
            })))
            .respond_with(ResponseTemplate::new(201))
            .expect(1)
            .mount(&server)
            .await;
        client
            .put_incoming_consumer(
                "abc",
                &IncomingConsumer {
                    key: "che".into(),
                    name: "Eclipse Che".into(),
                    description: "managed by applink-operator".into(),
                    public_key: "-----BEGIN PUBLIC KEY-----\n…".into(),
                    callback: None,
                    two_lo_allowed: false,
                    two_lo_impersonation_allowed: false,
                    outgoing: false,
                },
            )
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn reads_the_consumer_key_or_none() {
        let server = server().await;
        let client = admin_client(&server);
        let at = "/rest/applinks-oauth/1.0/applicationlink/abc/authentication/consumer";
        Mock::given(method("GET"))
            .and(path(at))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "consumers": [{"key": "che", "name": "Eclipse Che", "publicKey": "…"}]
            })))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(at.replace("abc", "none")))
            .respond_with(ResponseTemplate::new(404))
            .mount(&server)
            .await;
        assert_eq!(
            client
                .incoming_consumer_key("abc")
                .await
                .unwrap()
                .as_deref(),
            Some("che")
        );
        assert_eq!(client.incoming_consumer_key("none").await.unwrap(), None);
    }
}
