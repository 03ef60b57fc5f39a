//! What real networks and proxies return instead of the REST answer, and what the client makes
//! of it: each ends in its own reason and a message that says what to change, within the
//! timeout, with bounded memory and without a storm of retries (issue 9 §2).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use url::Url;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use super::test_support::*;
use super::{AtlassianClient, ClientConfig, Credentials};

const AUTH_INFO: &str = "/rest/applinks/1.0/authenticationinfo";
const V3_LIST: &str = "/rest/applinks/3.0/applinks";
const MANIFEST_PATH: &str = "/rest/applinks/1.0/manifest";
const MANIFEST: &str = r#"{"id":"6b49910b-9513-3e59-9af1-7d75d31d5c54","name":"Sim Jira","typeId":"jira","version":"9.12.2","applinksVersion":"9.1.4"}"#;

const LOGIN_PAGE: &str = "<!DOCTYPE html><html><head><title>Log in - Jira</title></head><body><form action=\"/login.jsp\"><input name=\"os_username\"><input name=\"os_password\" type=\"password\"></form></body></html>";

#[tokio::test]
async fn a_login_page_with_200_is_not_an_administrator_check_passed() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path(AUTH_INFO))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(LOGIN_PAGE.as_bytes().to_vec(), "text/html;charset=UTF-8")
                .insert_header("X-AUSERNAME", "anonymous")
                .insert_header("X-Seraph-LoginReason", "OUT"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = admin_client(&server);
    let err = client.verify_admin().await.unwrap_err();
    assert_eq!(err.reason(), "LoginPageServed", "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("login page") && msg.contains("anonymous") && msg.contains("/rest/"),
        "{msg}"
    );
    assert!(!err.is_transient() && !err.rejects_credentials(), "{err:?}");
}

#[tokio::test]
async fn an_html_page_that_is_not_a_login_page() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path(V3_LIST))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            b"<html><body><h1>Welcome to the intranet</h1></body></html>".to_vec(),
            "text/html",
        ))
        .mount(&server)
        .await;
    let err = admin_client(&server).list_links().await.unwrap_err();
    assert_eq!(err.reason(), "MalformedResponse");
    assert!(err.to_string().contains("HTML page"), "{err}");
}

/// Each broken body gets a message saying what it is; none is retried (`expect(1)`).
#[tokio::test]
async fn broken_bodies_are_named_and_not_retried() {
    let cases: [(&[u8], &str, &str); 5] = [
        (
            br#"[{"id":"6b49910b-9513-3e59-9af1-7d75d31d5c54","name":"Conf"#,
            "application/json",
            "ends mid-document after",
        ),
        (
            b"upstream connect error or disconnect/reset before headers",
            "application/json",
            "claims to be JSON",
        ),
        (
            b"<?xml version=\"1.0\"?><status><status-code>200</status-code></status>",
            "application/xml",
            "got XML",
        ),
        (
            b"[{\"id\":\"\xff\xfe6b49\"}]",
            "application/json",
            "not valid UTF-8 (an invalid byte at offset 8)",
        ),
        (b"", "application/json", "body is empty"),
    ];
    for (body, ct, expect) in cases {
        let server = server().await;
        Mock::given(method("GET"))
            .and(path(V3_LIST))
            .respond_with(ResponseTemplate::new(200).set_body_raw(body.to_vec(), ct))
            .expect(1)
            .mount(&server)
            .await;
        let err = admin_client(&server).list_links().await.unwrap_err();
        assert_eq!(err.reason(), "MalformedResponse", "{err}");
        assert!(err.to_string().contains(expect), "{expect}: {err}");
    }
}

#[tokio::test]
async fn json_served_as_text_plain_is_read() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path(MANIFEST_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_raw(MANIFEST, "text/plain"))
        .mount(&server)
        .await;
    let m = admin_client(&server).manifest().await.unwrap();
    assert_eq!(m.type_id, "jira");
}

/// How a raw test server answers each connection, after reading the request head.
#[derive(Clone)]
enum Answer {
    /// The head, then the body one byte every interval.
    Drip(String, Vec<u8>, Duration),
    /// The head, then the first `n` bytes of the body, then close.
    Cut(String, Vec<u8>, usize),
    /// A chunked 200 JSON body of `total` bytes, in 64 KiB chunks.
    Endless(usize),
}

struct Raw {
    url: Url,
    connections: Arc<AtomicUsize>,
    /// Body bytes written, over all connections.
    written: Arc<AtomicUsize>,
}

async fn raw_server(answer: Answer) -> Raw {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = Url::parse(&format!(
        "http://127.0.0.1:{}/",
        listener.local_addr().unwrap().port()
    ))
    .unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let written = Arc::new(AtomicUsize::new(0));
    let (c, w) = (connections.clone(), written.clone());
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            c.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(answer_one(tcp, answer.clone(), w.clone()));
        }
    });
    Raw {
        url,
        connections,
        written,
    }
}

async fn answer_one(mut tcp: TcpStream, answer: Answer, written: Arc<AtomicUsize>) {
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match tcp.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    match answer {
        Answer::Drip(head, body, interval) => {
            if tcp.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            for b in body {
                tokio::time::sleep(interval).await;
                if tcp.write_all(&[b]).await.is_err() {
                    return;
                }
                written.fetch_add(1, Ordering::SeqCst);
            }
        }
        Answer::Cut(head, body, n) => {
            let _ = tcp.write_all(head.as_bytes()).await;
            let _ = tcp.write_all(&body[..n]).await;
            written.fetch_add(n, Ordering::SeqCst);
            let _ = tcp.shutdown().await;
        }
        Answer::Endless(total) => {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
            if tcp.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let chunk = vec![b'a'; 64 * 1024];
            let mut sent = 0;
            while sent < total {
                let frame = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
                if tcp.write_all(&frame).await.is_err() {
                    return; // the client hung up
                }
                sent += chunk.len();
                written.fetch_add(chunk.len(), Ordering::SeqCst);
            }
            let _ = tcp.write_all(b"0\r\n\r\n").await;
        }
    }
}

fn head(len: usize) -> String {
    format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n")
}

fn raw_client(url: Url, timeout: Duration) -> AtlassianClient {
    AtlassianClient::new(
        ClientConfig::new(url)
            .with_credentials(Credentials::basic("admin", "pw"))
            .with_timeout(timeout)
            .with_retry(fast_retry()),
    )
    .unwrap()
}

/// A body that drips a byte at a time is cut by the total timeout (not a per-read one), and a
/// timeout is tried twice, not `max_attempts` times.
#[tokio::test]
async fn a_dripping_body_is_cut_by_the_total_timeout_and_tried_twice() {
    let body = MANIFEST.as_bytes().to_vec();
    let raw = raw_server(Answer::Drip(
        head(body.len()),
        body,
        Duration::from_millis(100),
    ))
    .await;
    let client = raw_client(raw.url.clone(), Duration::from_millis(600));
    let started = Instant::now();
    let err = client.manifest().await.unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.reason(), "Timeout", "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("too slowly") && msg.contains(&format!(" of {} bytes", MANIFEST.len())),
        "{msg}"
    );
    assert_eq!(raw.connections.load(Ordering::SeqCst), 2, "tried twice");
    assert!(took < Duration::from_secs(3), "{took:?}");
}

/// A connection closed mid-body is a transport error, retried like one.
#[tokio::test]
async fn a_connection_closed_mid_body_is_a_transport_error_and_retried() {
    let body = MANIFEST.as_bytes().to_vec();
    let raw = raw_server(Answer::Cut(head(body.len()), body, 50)).await;
    let err = raw_client(raw.url.clone(), Duration::from_secs(5))
        .manifest()
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "TransportError", "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!(
            "closed while the answer was being read, after 50 of {} bytes",
            MANIFEST.len()
        )),
        "{msg}"
    );
    assert!(err.is_transient());
    assert_eq!(
        raw.connections.load(Ordering::SeqCst),
        3,
        "fast_retry's 3 attempts"
    );
}

/// 100 MB without a length: reading stops at the cap, the rest is never sent.
#[tokio::test]
async fn a_hundred_megabytes_are_not_read() {
    let raw = raw_server(Answer::Endless(100 * 1024 * 1024)).await;
    let err = raw_client(raw.url.clone(), Duration::from_secs(20))
        .manifest()
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "ResponseTooLarge", "{err}");
    assert!(err.to_string().contains("4194304 bytes"), "{err}");
    assert_eq!(raw.connections.load(Ordering::SeqCst), 1, "not retried");
    // Give the writer a moment to notice the closed connection.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent = raw.written.load(Ordering::SeqCst);
    assert!(sent < 20 * 1024 * 1024, "{sent} bytes went out");
}

#[tokio::test]
async fn a_name_that_does_not_resolve_is_unknown_host_and_not_retried() {
    let client = AtlassianClient::new(
        ClientConfig::new(Url::parse("http://jira.applink-test.invalid:8080/").unwrap())
            .with_retry(fast_retry()),
    )
    .unwrap();
    let started = Instant::now();
    let err = client.manifest().await.unwrap_err();
    assert_eq!(err.reason(), "UnknownHost", "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("\"jira.applink-test.invalid\" of") && msg.contains("does not resolve"),
        "{msg}"
    );
    assert!(!err.is_transient());
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_cross_origin_redirect_names_both_origins() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path(AUTH_INFO))
        .respond_with(
            ResponseTemplate::new(302).insert_header("Location", "http://127.0.0.1:9/steal?x=1"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let err = admin_client(&server).verify_admin().await.unwrap_err();
    assert_eq!(err.reason(), "RedirectedToOtherOrigin");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("http://127.0.0.1:9 instead of {}", server.uri()))
            && msg.contains("no credentials were sent there"),
        "{msg}"
    );
}

// --- TLS: an expired certificate, a certificate for another host ------------------------------

const HOSTILE_CA: &str = include_str!("testdata/hostile-ca.pem");

async fn tls_server(cert: &str, key: &str) -> Url {
    let certs = CertificateDer::pem_slice_iter(cert.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
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
            // The client refuses the certificate; nothing is ever served.
            tokio::spawn(async move {
                let _ = acceptor.accept(tcp).await;
            });
        }
    });
    Url::parse(&format!("https://localhost:{port}/")).unwrap()
}

#[tokio::test]
async fn an_expired_certificate_says_so_and_when() {
    let url = tls_server(
        include_str!("testdata/expired.pem"),
        include_str!("testdata/expired.key"),
    )
    .await;
    let client = AtlassianClient::new(ClientConfig::new(url).with_ca_bundle(HOSTILE_CA)).unwrap();
    let err = client.manifest().await.unwrap_err();
    assert_eq!(err.reason(), "TlsCertificateExpired", "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("not valid after Fri, 01 Jan 2021 00:00:00 GMT") && msg.contains("renew"),
        "{msg}"
    );
    assert!(!err.is_transient());
}

#[tokio::test]
async fn a_certificate_for_another_host_names_both() {
    let url = tls_server(
        include_str!("testdata/wronghost.pem"),
        include_str!("testdata/wronghost.key"),
    )
    .await;
    let client = AtlassianClient::new(ClientConfig::new(url).with_ca_bundle(HOSTILE_CA)).unwrap();
    let err = client.manifest().await.unwrap_err();
    assert_eq!(err.reason(), "TlsHostnameMismatch", "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("not valid for the host \"localhost\"")
            && msg.contains("it names elsewhere.example.test")
            && msg.contains("subject alternative names"),
        "{msg}"
    );
}

/// Answers with the request's own headers, as a debugging proxy or a hostile server would.
struct EchoHeaders {
    status: u16,
    location: bool,
}

impl wiremock::Respond for EchoHeaders {
    fn respond(&self, req: &wiremock::Request) -> ResponseTemplate {
        let headers: Vec<String> = req
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or_default()))
            .collect();
        let body = serde_json::json!({"message": format!("you sent {}", headers.join("\n"))});
        let mut r = ResponseTemplate::new(self.status).set_body_json(body);
        if self.location {
            let auth = req
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            r = r.insert_header(
                "Location",
                format!("https://elsewhere.example.test/?h={auth}"),
            );
        }
        r
    }
}

#[tokio::test]
async fn an_echoing_server_never_gets_the_credentials_into_a_message() {
    let password = "Hunter2-Correct-Horse";
    for (status, location, creds) in [
        (400, false, Credentials::basic("admin", password)),
        (500, false, Credentials::bearer(password)),
        (302, true, Credentials::basic("admin", password)),
    ] {
        let server = server().await;
        Mock::given(method("GET"))
            .respond_with(EchoHeaders { status, location })
            .mount(&server)
            .await;
        let client = client_with(&server, creds.clone());
        let err = client.verify_admin().await.unwrap_err();
        let text = format!("{err} {err:?}");
        for form in creds.wire_forms() {
            assert!(!text.contains(&form), "{status}: {text}");
        }
        assert!(
            text.contains("[redacted]"),
            "{status}: the echo is shown, redacted: {text}"
        );
    }
}
