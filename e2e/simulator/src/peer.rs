//! Calls to peer applications, with failures classified into the status error types of
//! (docs/simulator.md#status-api; network and TLS causes are read from the error's source chain).

use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap};
use reqwest::{Method, StatusCode};

use crate::app::App;
use crate::wire::model::{ConsumerInfoIn, ManifestIn, parse_xml_or_json};
use crate::wire::oauth1::SignFaults;

/// Status error types that a peer call can produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NetError {
    ConnectionRefused,
    UnknownHost,
    SslUntrusted,
    SslHostnameUnmatched,
    SslUnmatched,
    Unknown,
}

#[derive(Clone, Debug)]
pub struct PeerError {
    pub kind: NetError,
    pub details: String,
}

impl std::fmt::Display for PeerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.details)
    }
}

/// Authentication of an outgoing call.
#[derive(Clone, Debug)]
pub enum PeerAuth {
    None,
    Basic(String, String),
    /// 2LO: signed with `oauth_token=""`.
    TwoLo,
    /// 2LO with impersonation of this user (`xoauth_requestor_id`).
    TwoLoI(String),
}

#[derive(Clone, Debug)]
pub struct PeerResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
}

impl PeerResponse {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub fn classify(err: &reqwest::Error) -> PeerError {
    let mut details = err.to_string();
    // Timeouts have no type of their own in applinks; they surface as UNKNOWN.
    let mut kind = NetError::Unknown;
    let mut source: Option<&(dyn std::error::Error + 'static)> = err.source();
    while let Some(e) = source {
        details.push_str(": ");
        details.push_str(&e.to_string());
        if let Some(k) = classify_one(e) {
            kind = k;
        }
        source = e.source();
    }
    if kind == NetError::Unknown {
        let lower = details.to_ascii_lowercase();
        // TLS errors may reach us only as text, depending on how the connector wraps them.
        if lower.contains("invalid peer certificate") {
            kind = if lower.contains("notvalidforname") || lower.contains("not valid for name") {
                NetError::SslHostnameUnmatched
            } else if lower.contains("unknownissuer")
                || lower.contains("badsignature")
                || lower.contains("expired")
            {
                NetError::SslUntrusted
            } else {
                NetError::SslUnmatched
            };
        } else if lower.contains("dns error") || lower.contains("failed to lookup address") {
            kind = NetError::UnknownHost;
        } else if lower.contains("connection refused") {
            kind = NetError::ConnectionRefused;
        }
    }
    PeerError { kind, details }
}

fn classify_one(e: &(dyn std::error::Error + 'static)) -> Option<NetError> {
    if let Some(io) = e.downcast_ref::<std::io::Error>() {
        if io.kind() == std::io::ErrorKind::ConnectionRefused {
            return Some(NetError::ConnectionRefused);
        }
        // io::Error hides its payload from source(); look inside (connectors nest them).
        return io.get_ref().and_then(|inner| classify_one(inner));
    }
    if let Some(tls) = e.downcast_ref::<rustls::Error>() {
        use rustls::CertificateError as C;
        return Some(match tls {
            rustls::Error::InvalidCertificate(C::UnknownIssuer)
            | rustls::Error::InvalidCertificate(C::BadSignature)
            | rustls::Error::InvalidCertificate(C::Expired)
            | rustls::Error::InvalidCertificate(C::ExpiredContext { .. }) => NetError::SslUntrusted,
            rustls::Error::InvalidCertificate(C::NotValidForName)
            | rustls::Error::InvalidCertificate(C::NotValidForNameContext { .. }) => {
                NetError::SslHostnameUnmatched
            }
            _ => NetError::SslUnmatched,
        });
    }
    None
}

/// Builds the HTTP client of an app: its own trust store, no redirects, no proxy.
pub fn build_client(roots: rustls::RootCertStore, timeout: Duration) -> reqwest::Client {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(Duration::from_secs(10).min(timeout))
        .timeout(timeout)
        .pool_max_idle_per_host(32)
        .build()
        .expect("HTTP client")
}

/// One outgoing request.
pub struct PeerRequest {
    pub method: Method,
    pub url: String,
    pub auth: PeerAuth,
    pub accept: Option<&'static str>,
    pub body: Option<(String, &'static str)>,
    pub no_check: bool,
}

impl PeerRequest {
    pub fn get(url: impl Into<String>) -> Self {
        PeerRequest {
            method: Method::GET,
            url: url.into(),
            auth: PeerAuth::None,
            accept: None,
            body: None,
            no_check: false,
        }
    }

    pub fn new(method: Method, url: impl Into<String>) -> Self {
        PeerRequest {
            method,
            ..PeerRequest::get(url)
        }
    }

    pub fn auth(mut self, a: PeerAuth) -> Self {
        self.auth = a;
        self
    }

    pub fn accept(mut self, a: &'static str) -> Self {
        self.accept = Some(a);
        self
    }

    pub fn json_body(mut self, v: &serde_json::Value) -> Self {
        self.body = Some((v.to_string(), "application/json"));
        self
    }

    pub fn xml_body(mut self, doc: String) -> Self {
        self.body = Some((doc, "application/xml"));
        self
    }

    pub fn no_check(mut self) -> Self {
        self.no_check = true;
        self
    }
}

/// Joins a base URL and an absolute path without doubling slashes.
pub fn join(base: &str, path: &str) -> String {
    format!("{}{}", base.trim_end_matches('/'), path)
}

impl App {
    pub async fn call(&self, req: PeerRequest) -> Result<PeerResponse, PeerError> {
        let mut url = url::Url::parse(&req.url).map_err(|e| PeerError {
            kind: NetError::UnknownHost,
            details: format!("invalid URL {}: {e}", req.url),
        })?;
        let mut auth_header = None;
        match &req.auth {
            PeerAuth::None => {}
            PeerAuth::Basic(u, p) => {
                use base64::Engine;
                let token = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
                auth_header = Some(format!("Basic {token}"));
            }
            PeerAuth::TwoLo | PeerAuth::TwoLoI(_) => {
                if let PeerAuth::TwoLoI(user) = &req.auth {
                    url.query_pairs_mut()
                        .append_pair("xoauth_requestor_id", user);
                }
                let f = self.faults.lock().expect("faults");
                let sf = SignFaults {
                    tamper: f.tamper_signatures,
                    clock_skew_secs: f.clock_skew_secs,
                };
                drop(f);
                auth_header = Some(
                    self.signer
                        .authorize(req.method.as_str(), &url, Some(""), sf),
                );
            }
        }
        let mut rb = self.client.request(req.method.clone(), url.as_str());
        if let Some(a) = auth_header {
            rb = rb.header(AUTHORIZATION, a);
        }
        if let Some(a) = req.accept {
            rb = rb.header(ACCEPT, a);
        }
        if req.no_check {
            rb = rb.header("X-Atlassian-Token", "no-check");
        }
        if let Some((body, ct)) = req.body {
            rb = rb.header(CONTENT_TYPE, ct).body(body);
        }
        let resp = rb.send().await.map_err(|e| classify(&e))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map_err(|e| classify(&e))?;
        Ok(PeerResponse {
            status,
            headers,
            body,
        })
    }

    /// Downloads a manifest the way applinks does: no Accept, redirects not followed (docs/simulator.md#manifest).
    pub async fn fetch_manifest(&self, base: &str) -> Result<ManifestIn, ManifestError> {
        let resp = self
            .call(PeerRequest::get(join(base, "/rest/applinks/1.0/manifest")))
            .await
            .map_err(ManifestError::Net)?;
        if resp.status.is_redirection() {
            let loc = resp
                .headers
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            return Err(ManifestError::Redirected(loc));
        }
        if resp.status != StatusCode::OK {
            return Err(ManifestError::Status(resp.status.as_u16(), resp.text()));
        }
        parse_xml_or_json::<ManifestIn>(&resp.body).map_err(ManifestError::Parse)
    }

    /// Reads a peer's consumer identity (docs/simulator.md#oauth-10a-endpoints).
    pub async fn fetch_consumer_info(&self, base: &str) -> Result<ConsumerInfoIn, String> {
        let resp = self
            .call(
                PeerRequest::get(join(base, "/plugins/servlet/oauth/consumer-info"))
                    .accept("application/xml"),
            )
            .await
            .map_err(|e| e.to_string())?;
        if resp.status != StatusCode::OK {
            return Err(format!("consumer-info answered {}", resp.status));
        }
        if let Some(ct) = resp.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok())
            && !ct.starts_with("application/xml")
        {
            return Err(format!("consumer-info has content type {ct}"));
        }
        let info: ConsumerInfoIn = parse_xml_or_json(&resp.body)?;
        if info.key.is_none() || info.name.is_none() || info.public_key.is_none() {
            return Err("consumer-info lacks key, name or publicKey".into());
        }
        Ok(info)
    }
}

#[derive(Clone, Debug)]
pub enum ManifestError {
    Net(PeerError),
    Redirected(String),
    Status(u16, String),
    Parse(String),
}

impl std::fmt::Display for ManifestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ManifestError::Net(e) => write!(f, "{e}"),
            ManifestError::Redirected(l) => write!(f, "manifest got redirected to {l}"),
            ManifestError::Status(s, _) => write!(f, "manifest answered HTTP {s}"),
            ManifestError::Parse(e) => write!(f, "manifest unparsable: {e}"),
        }
    }
}
