//! Helpers for the client's wiremock tests.

use std::time::Duration;

use url::Url;
use wiremock::{MockServer, ResponseTemplate};

use super::{AtlassianClient, ClientConfig, Credentials, RetryPolicy};

pub(crate) async fn server() -> MockServer {
    MockServer::start().await
}

/// Retries with millisecond backoff so retry tests stay fast.
pub(crate) fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        max_retry_after: Duration::from_secs(2),
        max_timeout_attempts: 2,
    }
}

pub(crate) fn config_for(server: &MockServer, credentials: Credentials) -> ClientConfig {
    ClientConfig::new(Url::parse(&server.uri()).unwrap())
        .with_credentials(credentials)
        .with_timeout(Duration::from_secs(5))
        .with_retry(fast_retry())
}

pub(crate) fn client_with(server: &MockServer, credentials: Credentials) -> AtlassianClient {
    AtlassianClient::new(config_for(server, credentials)).unwrap()
}

pub(crate) fn admin_client(server: &MockServer) -> AtlassianClient {
    client_with(server, Credentials::basic("admin", "pw"))
}

pub(crate) fn json_response(status: u16, body: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body.as_bytes().to_vec(), "application/json")
}
