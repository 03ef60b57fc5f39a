//! Tests of the shared HTTP behaviour: retries, Retry-After, body caps, timeouts, redirects,
//! TLS classification and the concurrency limit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use url::Url;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, ResponseTemplate};

use super::test_support::*;
use super::{AtlassianClient, ClientConfig, Credentials, RetryPolicy};

const MANIFEST: &str = r#"{"id":"6b49910b-9513-3e59-9af1-7d75d31d5c54","name":"Sim Jira","typeId":"jira","version":"9.12.2","applinksVersion":"9.1.4"}"#;
const MANIFEST_PATH: &str = "/rest/applinks/1.0/manifest";

#[tokio::test]
async fn rate_limited_then_success_honours_retry_after() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path(MANIFEST_PATH))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(MANIFEST_PATH))
        .respond_with(json_response(200, MANIFEST))
        .expect(1)
        .mount(&server)
        .await;
    let started = Instant::now();
    let m = admin_client(&server).manifest().await.unwrap();
    assert_eq!(m.type_id, "jira");
    // Backoff alone would be a few milliseconds; the server asked for a second.
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[tokio::test]
async fn long_retry_after_is_returned_not_waited_for() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path(MANIFEST_PATH))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "120"))
        .expect(1)
        .mount(&server)
        .await;
    let err = admin_client(&server).manifest().await.unwrap_err();
    assert_eq!(err.reason(), "RateLimited");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(120)));
    assert!(err.is_transient());
}

#[tokio::test]
async fn server_error_retried_then_success() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path(MANIFEST_PATH))
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(MANIFEST_PATH))
        .respond_with(json_response(200, MANIFEST))
        .expect(1)
        .mount(&server)
        .await;
    admin_client(&server).manifest().await.unwrap();
}

#[tokio::test]
async fn server_error_gives_up_after_max_attempts_with_message() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path(MANIFEST_PATH))
        .respond_with(json_response(
            503,
            r#"{"status-code":503,"message":"Jira is starting up"}"#,
        ))
        .expect(3) // fast_retry(): 3 attempts
        .mount(&server)
        .await;
    let err = admin_client(&server).manifest().await.unwrap_err();
    assert_eq!(err.reason(), "ServerError");
    assert!(err.to_string().contains("HTTP 503"), "{err}");
    assert!(err.to_string().contains("Jira is starting up"), "{err}");
}

#[tokio::test]
async fn not_found_is_not_retried() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path(MANIFEST_PATH))
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&server)
        .await;
    let err = admin_client(&server).manifest().await.unwrap_err();
    assert_eq!(err.reason(), "NotFound");
}

#[tokio::test]
async fn malformed_json_and_html_pages() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path(MANIFEST_PATH))
        .respond_with(json_response(200, r#"{"id": "#))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/rest/applinks/3.0/applinks"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(b"<html><body>Log in</body></html>".to_vec(), "text/html"),
        )
        .mount(&server)
        .await;
    let client = admin_client(&server);
    let err = client.manifest().await.unwrap_err();
    assert_eq!(err.reason(), "MalformedResponse");
    let err = client.list_links().await.unwrap_err();
    assert_eq!(err.reason(), "LoginPageServed");
    assert!(err.to_string().contains("HTML login page"), "{err}");
}

#[tokio::test]
async fn oversized_body_is_refused() {
    let server = server().await;
    let huge = format!(r#"{{"id":"x","name":"{}"}}"#, "a".repeat(4096));
    Mock::given(method("GET"))
        .and(path(MANIFEST_PATH))
        .respond_with(json_response(200, &huge))
        .mount(&server)
        .await;
    let client =
        AtlassianClient::new(config_for(&server, Credentials::Anonymous).with_max_body_bytes(1024))
            .unwrap();
    let err = client.manifest().await.unwrap_err();
    assert_eq!(err.reason(), "ResponseTooLarge");
}

#[tokio::test]
async fn slow_server_times_out() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path(MANIFEST_PATH))
        .respond_with(json_response(200, MANIFEST).set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let client = AtlassianClient::new(
        config_for(&server, Credentials::Anonymous)
            .with_timeout(Duration::from_millis(200))
            .with_retry(RetryPolicy::none()),
    )
    .unwrap();
    let started = Instant::now();
    let err = client.manifest().await.unwrap_err();
    assert_eq!(err.reason(), "Timeout");
    assert!(err.is_transient());
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[tokio::test]
async fn cross_origin_redirect_is_not_followed() {
    let server = server().await;
    let elsewhere = self::server().await;
    Mock::given(method("GET"))
        .and(path("/rest/applinks/1.0/authenticationinfo"))
        .respond_with(ResponseTemplate::new(302).insert_header(
            "Location",
            format!("{}/rest/applinks/1.0/authenticationinfo", elsewhere.uri()).as_str(),
        ))
        .mount(&server)
        .await;
    // The other origin must never see a request (and so never the credentials).
    Mock::given(wiremock::matchers::any())
        .respond_with(json_response(200, r#"{"status-code":200}"#))
        .expect(0)
        .mount(&elsewhere)
        .await;
    let err = admin_client(&server).verify_admin().await.unwrap_err();
    assert_eq!(err.reason(), "RedirectedToOtherOrigin");
    assert!(err.to_string().contains(&elsewhere.uri()), "{err}");
}

#[tokio::test]
async fn same_origin_redirect_keeps_credentials() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path("/rest/applinks/1.0/authenticationinfo"))
        .respond_with(
            ResponseTemplate::new(301)
                .insert_header("Location", "/jira/rest/applinks/1.0/authenticationinfo"),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/jira/rest/applinks/1.0/authenticationinfo"))
        .and(header("authorization", "Basic YWRtaW46cHc="))
        .respond_with(json_response(200, r#"{"status-code":200}"#))
        .expect(1)
        .mount(&server)
        .await;
    admin_client(&server).verify_admin().await.unwrap();
}

#[tokio::test]
async fn connection_refused_is_unreachable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let client = AtlassianClient::new(
        ClientConfig::new(Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap())
            .with_retry(RetryPolicy::none()),
    )
    .unwrap();
    let err = client.manifest().await.unwrap_err();
    assert_eq!(err.reason(), "Unreachable", "{err}");
    assert!(err.is_transient());
}

#[tokio::test]
async fn concurrency_limit_serializes_requests() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path(MANIFEST_PATH))
        .respond_with(json_response(200, MANIFEST).set_delay(Duration::from_millis(200)))
        .expect(3)
        .mount(&server)
        .await;
    let client = AtlassianClient::new(
        config_for(&server, Credentials::Anonymous).with_max_concurrent_requests(1),
    )
    .unwrap();
    let started = Instant::now();
    let (a, b, c) = tokio::join!(client.manifest(), client.manifest(), client.manifest());
    a.unwrap();
    b.unwrap();
    c.unwrap();
    // One at a time: at least three server delays.
    assert!(started.elapsed() >= Duration::from_millis(600));
}

#[test]
fn client_debug_does_not_leak_secrets() {
    let client = AtlassianClient::new(
        ClientConfig::new(Url::parse("https://jira.example.test").unwrap())
            .with_credentials(Credentials::basic("admin", "s3cr3t-pw")),
    )
    .unwrap();
    let shown = format!("{client:?}");
    assert!(
        shown.contains("admin") && !shown.contains("s3cr3t-pw"),
        "{shown}"
    );
}

// --- TLS -------------------------------------------------------------------------------------

const CA_PEM: &str = include_str!("testdata/ca.pem");
const SERVER_PEM: &str = include_str!("testdata/server.pem");
const SERVER_KEY: &str = include_str!("testdata/server.key");

/// A one-response-per-connection HTTPS server on loopback, certificate signed by the test CA.
async fn tls_server(response: String) -> Url {
    let certs = CertificateDer::pem_slice_iter(SERVER_PEM.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(SERVER_KEY.as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let response = response.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return; // the client rejected our certificate
                };
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    Url::parse(&format!("https://localhost:{port}/")).unwrap()
}

fn http_ok(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[tokio::test]
async fn untrusted_certificate_is_a_tls_error() {
    let url = tls_server(http_ok(MANIFEST)).await;
    let client = AtlassianClient::new(ClientConfig::new(url)).unwrap();
    let err = client.manifest().await.unwrap_err();
    assert_eq!(err.reason(), "TlsError", "{err}");
    assert!(err.to_string().contains("unknown authority"), "{err}");
    assert!(!err.is_transient());
}

#[tokio::test]
async fn ca_bundle_makes_the_certificate_trusted() {
    let url = tls_server(http_ok(MANIFEST)).await;
    let client = AtlassianClient::new(ClientConfig::new(url).with_ca_bundle(CA_PEM)).unwrap();
    let m = client.manifest().await.unwrap();
    assert_eq!(m.name, "Sim Jira");
}

#[tokio::test]
async fn chunked_body_over_the_cap_is_refused() {
    // No Content-Length: the cap must be enforced while streaming.
    let chunk = "a".repeat(1000);
    let mut response = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_owned();
    for _ in 0..5 {
        response.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    response.push_str("0\r\n\r\n");
    let url = tls_server(response).await;
    let client = AtlassianClient::new(
        ClientConfig::new(url)
            .with_ca_bundle(CA_PEM)
            .with_max_body_bytes(2500),
    )
    .unwrap();
    let err = client.manifest().await.unwrap_err();
    assert_eq!(err.reason(), "ResponseTooLarge", "{err}");
}

/// The products' real refusals, each mapped to its own reason and message.
#[tokio::test]
async fn real_refusals_have_their_own_reasons() {
    let server = server().await;
    let auth_info = "/rest/applinks/1.0/authenticationinfo";
    Mock::given(method("GET"))
        .and(path(auth_info))
        .and(header("authorization", "Bearer pat"))
        .respond_with(ResponseTemplate::new(401).set_body_raw(
            "<status><status-code>401</status-code><message>This resource requires WebSudo.</message></status>",
            "application/xml",
        ))
        .mount(&server)
        .await;
    let err = client_with(&server, Credentials::bearer("pat"))
        .verify_admin()
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "SecureAdminSessionRequired");
    assert!(
        err.to_string().contains("secure administrator sessions"),
        "{err}"
    );
    let basic_config = format!("PUT {}/rest/basicauth/1.0/config", server.uri());
    assert!(err.to_string().contains(&basic_config), "{err}");
    assert!(
        !err.rejects_credentials(),
        "WebSudo is not a rejected login"
    );

    let server = super::test_support::server().await;
    Mock::given(method("GET"))
        .and(path(auth_info))
        .respond_with(json_response(
            403,
            r#"{"message":"Basic Authentication has been disabled on this instance."}"#,
        ))
        .expect(1)
        .mount(&server)
        .await;
    let client = admin_client(&server);
    let err = client.verify_admin().await.unwrap_err();
    assert_eq!(err.reason(), "BasicAuthDisabled");
    assert!(err.to_string().contains("personal access token"), "{err}");
    let allow_user = format!(
        r#"PUT {}/rest/basicauth/1.0/config and the body {{"allowed-users": ["admin"]}}"#,
        server.uri()
    );
    assert!(err.to_string().contains(&allow_user), "{err}");
    // Not sent again: the mock expects exactly one request.
    let again = client.verify_admin().await.unwrap_err();
    assert_eq!(again.reason(), "BasicAuthDisabled");
    assert!(client.credentials_held());
}

#[tokio::test]
async fn captcha_lock_out_is_reported_with_the_login_url_and_never_retried() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path("/rest/applinks/1.0/authenticationinfo"))
        .respond_with(ResponseTemplate::new(403).insert_header(
            "X-Authentication-Denied-Reason",
            "CAPTCHA_CHALLENGE; login-url=https://jira.example.test/login.jsp",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let client = admin_client(&server);
    for _ in 0..3 {
        let err = client.verify_admin().await.unwrap_err();
        assert_eq!(err.reason(), "LoginCaptchaRequired");
        assert!(
            err.to_string()
                .contains("https://jira.example.test/login.jsp"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn a_rejected_password_is_sent_once_while_anonymous_calls_go_on() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path("/rest/applinks/1.0/authenticationinfo"))
        .respond_with(ResponseTemplate::new(401))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(MANIFEST_PATH))
        .respond_with(json_response(200, MANIFEST))
        .mount(&server)
        .await;
    let client = admin_client(&server);
    assert_eq!(
        client.verify_admin().await.unwrap_err().reason(),
        "CredentialsRejected"
    );
    let held = client.verify_admin().await.unwrap_err();
    assert_eq!(held.reason(), "CredentialsRejected");
    assert!(
        held.to_string().contains("until the Secret changes"),
        "{held}"
    );
    // The manifest is anonymous: still read.
    client.manifest().await.unwrap();
}

#[tokio::test]
async fn captcha_served_as_anonymous_200_is_a_lock_out_too() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path("/rest/applinks/3.0/applinks"))
        .respond_with(
            json_response(200, "[]").insert_header("X-Seraph-LoginReason", "AUTHENTICATION_DENIED"),
        )
        .mount(&server)
        .await;
    let err = admin_client(&server).list_links().await.unwrap_err();
    assert_eq!(err.reason(), "LoginCaptchaRequired");
}

#[tokio::test]
async fn body_less_post_sends_json_content_type() {
    let server = server().await;
    Mock::given(method("POST"))
        .and(path("/rest/applinks/1.0/applicationlink/primary/abc"))
        .and(header("content-type", "application/json"))
        .and(header("x-atlassian-token", "no-check"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    admin_client(&server).set_primary("abc").await.unwrap();
}

#[tokio::test]
async fn a_500_from_a_write_is_reported_not_retried() {
    let server = server().await;
    Mock::given(method("PUT"))
        .and(path("/rest/applinks/3.0/status/abc/oauth"))
        .respond_with(json_response(500, r#"{"message":"NullPointerException"}"#))
        .expect(1)
        .mount(&server)
        .await;
    let err = admin_client(&server)
        .set_oauth_config(
            "abc",
            &super::LinkOAuthConfig::symmetric(super::OAuthLevel::OAuth),
        )
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "ServerError");
}

#[tokio::test]
async fn manifest_redirects_are_reported_not_followed() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path(MANIFEST_PATH))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("Location", format!("{}/jira{MANIFEST_PATH}", server.uri())),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/jira{MANIFEST_PATH}")))
        .respond_with(json_response(200, MANIFEST))
        .expect(0)
        .mount(&server)
        .await;
    let err = admin_client(&server).manifest().await.unwrap_err();
    assert_eq!(err.reason(), "ManifestRedirected");
    assert!(err.to_string().contains("/jira"), "{err}");
}

#[tokio::test]
async fn the_manifest_reports_the_application_clock() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path(MANIFEST_PATH))
        .respond_with(
            json_response(200, MANIFEST).insert_header("Date", "Tue, 01 Dec 2026 10:00:00 GMT"),
        )
        .mount(&server)
        .await;
    let (_, clock) = admin_client(&server).manifest_and_clock().await.unwrap();
    assert_eq!(
        clock,
        Some(httpdate::parse_http_date("Tue, 01 Dec 2026 10:00:00 GMT").unwrap())
    );
}

#[tokio::test]
async fn a_read_only_client_reads_and_never_sends_a_write() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path(MANIFEST_PATH))
        .respond_with(json_response(200, MANIFEST))
        .expect(1)
        .mount(&server)
        .await;
    // Any other request reaching the server fails the test when the server is dropped.
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(204))
        .expect(0)
        .mount(&server)
        .await;
    let client =
        AtlassianClient::new(config_for(&server, Credentials::basic("admin", "pw")).read_only())
            .unwrap();
    assert_eq!(client.manifest().await.unwrap().type_id, "jira");
    let err = client.delete_link("6b49910b").await.unwrap_err();
    assert!(
        err.to_string().contains("this client only reads: DELETE"),
        "{err}"
    );
    let err = client.set_primary("6b49910b").await.unwrap_err();
    assert!(err.to_string().contains("only reads: POST"), "{err}");
}
