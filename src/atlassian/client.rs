//! The HTTP core shared by every endpoint: one place for auth headers, `X-Atlassian-Token`,
//! `Accept`, timeouts, body caps, retries, redirects and the per-instance concurrency limit.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::header::{ACCEPT, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;
use url::Url;

use super::calls::{self, CallMetrics};
use super::credentials::Credentials;
use super::envelope::error_message;
use super::error::{AllowBasic, ApiError};
use super::limits::{MAX_URL_BYTES, cap};
use super::redact::redact;
use super::retry::{RetryPolicy, parse_retry_after};
use super::tls;

/// Error bodies are only read for their message; no need to buffer more than this.
const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;
/// Same-origin redirects followed before giving up.
const MAX_REDIRECTS: usize = 5;

/// Everything needed to talk to one application.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Base URL of the application, including any context path (`https://host/jira`).
    pub base_url: Url,
    pub credentials: Credentials,
    /// Extra trusted root CAs (PEM), e.g. the instance's private CA.
    pub ca_bundle_pem: Option<String>,
    /// Trust the system roots in addition to `ca_bundle_pem` (default true).
    pub use_system_roots: bool,
    /// Total time for one attempt, from connecting until the body is read.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Largest successful response body accepted.
    pub max_body_bytes: usize,
    /// Requests in flight to this application at once.
    pub max_concurrent_requests: usize,
    pub retry: RetryPolicy,
    /// Whether the application refused these credentials, shared with other clients built for
    /// the same credentials (a fresh one when `None`).
    pub hold: Option<Arc<CredentialHold>>,
    /// Where the calls are counted (the operator's registry; a private one when not given).
    pub calls: CallMetrics,
    /// Sends reads (GET) only and refuses every other call before it leaves: the `plan`
    /// command's clients, which must never change an application.
    pub read_only: bool,
}

/// The application refused these credentials themselves (wrong password, Basic disabled,
/// CAPTCHA): they are never sent again by any client sharing this hold. Outlives the clients,
/// so a client rebuilt for the same credentials does not try them once more.
#[derive(Debug, Default)]
pub struct CredentialHold(std::sync::Mutex<Option<(&'static str, String)>>);

impl CredentialHold {
    fn get(&self) -> Option<(&'static str, String)> {
        self.0.lock().map(|h| h.clone()).unwrap_or(None)
    }

    fn set(&self, error: &ApiError) {
        if let Ok(mut held) = self.0.lock()
            && held.is_none()
        {
            *held = Some((error.reason(), error.to_string()));
        }
    }
}

impl ClientConfig {
    pub fn new(base_url: Url) -> Self {
        Self {
            base_url,
            credentials: Credentials::Anonymous,
            ca_bundle_pem: None,
            use_system_roots: true,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_body_bytes: 4 * 1024 * 1024,
            max_concurrent_requests: 4,
            retry: RetryPolicy::default(),
            hold: None,
            calls: CallMetrics::default(),
            read_only: false,
        }
    }

    /// A client that only reads (see [`ClientConfig::read_only`]).
    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    pub fn with_call_metrics(mut self, calls: CallMetrics) -> Self {
        self.calls = calls;
        self
    }

    pub fn with_hold(mut self, hold: Arc<CredentialHold>) -> Self {
        self.hold = Some(hold);
        self
    }

    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = credentials;
        self
    }

    pub fn with_ca_bundle(mut self, pem: impl Into<String>) -> Self {
        self.ca_bundle_pem = Some(pem.into());
        self
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    #[cfg(test)]
    pub fn with_max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    pub fn with_max_concurrent_requests(mut self, n: usize) -> Self {
        self.max_concurrent_requests = n;
        self
    }

    #[cfg(test)]
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }
}

/// Typed client for one application's Application Links REST API. Cheap to clone; clones share
/// the connection pool and the concurrency limit.
#[derive(Clone)]
pub struct AtlassianClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// Same settings, but never follows a redirect (the manifest: peers never do either).
    http_no_redirects: reqwest::Client,
    base: Url,
    credentials: Credentials,
    /// The credentials as they go on the wire, removed from anything the application sends
    /// back into a message ([`redact`]).
    wire_forms: Arc<WireForms>,
    limiter: Semaphore,
    timeout: Duration,
    max_body_bytes: usize,
    retry: RetryPolicy,
    /// Set once the V3 `applinks` resource has answered: from then on its 404 for an id means
    /// "no such link", and the classic resource need not be asked as well.
    v3_applinks: std::sync::atomic::AtomicBool,
    /// Set when the application refused these credentials themselves: they are never sent
    /// again from this client, nor from another sharing the hold. A changed Secret builds a
    /// client with a new hold (see `clients.rs`), which tries once more.
    held: Arc<CredentialHold>,
    /// The allowlist base path that answered, once probed.
    allowlist_base: std::sync::OnceLock<&'static str>,
    calls: CallMetrics,
    read_only: bool,
    /// The application type label, from the first manifest read.
    application_type: std::sync::OnceLock<&'static str>,
}

impl std::fmt::Debug for AtlassianClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AtlassianClient")
            .field("base_url", &self.inner.base.as_str())
            .field("credentials", &self.inner.credentials)
            .finish()
    }
}

impl AtlassianClient {
    pub fn new(config: ClientConfig) -> Result<Self, ApiError> {
        let base = normalize_base(config.base_url)?;
        let tls = tls::client_config(config.ca_bundle_pem.as_deref(), config.use_system_roots)?;
        let origin = base.origin();
        // Credentials are attached to every request, so a redirect to another origin would
        // leak them: follow same-origin redirects only, hand back the 3xx otherwise.
        let redirect = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else if attempt.url().origin() == origin {
                attempt.follow()
            } else {
                attempt.stop()
            }
        });
        // A personal access token opens an HTTP session on newer REST lines, and a Bearer
        // request inside it passes secure administrator sessions (WebSudo); Basic always
        // passes, and needs no session. The two HTTP clients share the one jar.
        let jar = matches!(config.credentials, Credentials::Bearer { .. })
            .then(|| Arc::new(reqwest::cookie::Jar::default()));
        let builder = |redirect| {
            let builder = match &jar {
                Some(jar) => reqwest::Client::builder().cookie_provider(jar.clone()),
                None => reqwest::Client::builder(),
            };
            builder
                .tls_backend_preconfigured(tls.clone())
                .redirect(redirect)
                .timeout(config.timeout)
                .connect_timeout(config.connect_timeout)
                .user_agent(user_agent())
                .build()
                .map_err(|e| ApiError::InvalidConfig {
                    detail: format!("HTTP client setup failed: {e}"),
                })
        };
        let http = builder(redirect)?;
        let http_no_redirects = builder(reqwest::redirect::Policy::none())?;

        Ok(Self {
            inner: Arc::new(Inner {
                http,
                http_no_redirects,
                base,
                wire_forms: Arc::new(WireForms(config.credentials.wire_forms())),
                credentials: config.credentials,
                limiter: Semaphore::new(config.max_concurrent_requests.max(1)),
                read_only: config.read_only,
                timeout: config.timeout,
                max_body_bytes: config.max_body_bytes,
                retry: config.retry,
                v3_applinks: std::sync::atomic::AtomicBool::new(false),
                held: config.hold.unwrap_or_default(),
                allowlist_base: std::sync::OnceLock::new(),
                calls: config.calls,
                application_type: std::sync::OnceLock::new(),
            }),
        })
    }

    pub(super) fn v3_applinks_known(&self) -> bool {
        self.inner
            .v3_applinks
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(super) fn set_v3_applinks_known(&self) {
        self.inner
            .v3_applinks
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    pub(super) fn allowlist_base_known(&self) -> Option<&'static str> {
        self.inner.allowlist_base.get().copied()
    }

    pub(super) fn set_allowlist_base(&self, base: &'static str) {
        let _ = self.inner.allowlist_base.set(base);
    }

    /// Learns the application type (for the metrics' label) from a manifest's `typeId`, read
    /// by this client or another one for the same application (the manifest is anonymous).
    pub(crate) fn learn_application_type(&self, type_id: &str) {
        let _ = self
            .inner
            .application_type
            .set(calls::application_type_label(type_id));
    }

    fn application_type(&self) -> &'static str {
        self.inner
            .application_type
            .get()
            .copied()
            .unwrap_or("unknown")
    }

    /// Base URL (always ending in `/`).
    pub fn base_url(&self) -> &Url {
        &self.inner.base
    }

    /// Whether the credentials are a personal access token.
    pub fn uses_token(&self) -> bool {
        matches!(self.inner.credentials, Credentials::Bearer { .. })
    }

    fn endpoint(&self, segments: &[String], query: &[(String, String)]) -> Url {
        let mut url = self.inner.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            // Each segment is percent-encoded, so an id cannot change the path structure.
            path.pop_if_empty().extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// Sends a call with retries and maps non-2xx answers to [`ApiError`].
    pub(crate) async fn execute(&self, call: Call) -> Result<Reply, ApiError> {
        let url = self.endpoint(&call.segments, &call.query);
        let shown = display_url(&url);
        if self.inner.read_only && call.method != Method::GET {
            return Err(ApiError::InvalidConfig {
                detail: format!(
                    "this client only reads: {} {shown} was not sent",
                    call.method
                ),
            });
        }
        if let Some(action) = call.needs_credentials
            && self.inner.credentials.is_anonymous()
        {
            return Err(ApiError::CredentialsMissing { url: shown, action });
        }
        let credentialed = !call.anonymous && !self.inner.credentials.is_anonymous();
        let (app, operation) = (
            self.application_type(),
            calls::operation(&call.method, &call.segments, call.fixed),
        );
        if credentialed && let Some((reason, message)) = self.held() {
            self.inner.calls.held_back(app, operation);
            return Err(ApiError::CredentialsHeld { reason, message });
        }
        let max_attempts = if call.idempotent {
            self.inner.retry.max_attempts.max(1)
        } else {
            1
        };
        let mut attempt = 1;
        loop {
            let (outcome, status, took) = {
                // The permit is held for one attempt only, not across backoff sleeps.
                let _permit = self
                    .inner
                    .limiter
                    .acquire()
                    .await
                    .expect("client semaphore is never closed");
                let started = std::time::Instant::now();
                let mut status = None;
                let outcome = self.attempt(&call, &url, &shown, &mut status).await;
                (outcome, status, started.elapsed())
            };
            let class = calls::status_class(status, outcome.as_ref().err().map(|f| &f.error));
            self.inner.calls.attempted(app, operation, class, took);
            let failure = match outcome {
                Ok(reply) => {
                    tracing::debug!(method = %call.method, url = %shown, status = reply.status.as_u16(), attempt, "applinks request");
                    return Ok(reply);
                }
                Err(failure) => failure,
            };
            if credentialed && failure.error.rejects_credentials() {
                // One rejected login is all an application sees from us: more could lock the
                // account behind a CAPTCHA for everybody.
                self.hold(&failure.error);
                return Err(failure.error);
            }
            if !failure.retryable || attempt >= max_attempts {
                return Err(failure.error);
            }
            // An application that let a whole timeout pass is slow or cut off: one more try
            // covers a lost connection, more would hold the worker for minutes.
            if failure.timed_out && attempt >= self.inner.retry.max_timeout_attempts.max(1) {
                return Err(failure.error);
            }
            let Some(delay) = self.inner.retry.delay_for(attempt, failure.retry_after) else {
                return Err(failure.error);
            };
            self.inner.calls.retried(app, operation);
            if failure.retry_after.is_some() {
                self.inner.calls.waited(app, delay);
            }
            tracing::debug!(method = %call.method, url = %shown, attempt, ?delay, reason = failure.error.reason(), "retrying applinks request");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// A header's text for a message: capped, without the credentials.
    fn remote_text(&self, text: &str, max: usize) -> String {
        cap(&redact(text, &self.inner.wire_forms.as_strs()), max)
    }

    fn held(&self) -> Option<(&'static str, String)> {
        self.inner.held.get()
    }

    fn hold(&self, error: &ApiError) {
        self.inner.held.set(error);
    }

    /// Whether this client holds its credentials back after a rejection.
    #[cfg(test)]
    pub fn credentials_held(&self) -> bool {
        self.held().is_some()
    }

    /// One attempt; `status` gets the answer's status code once it came.
    async fn attempt(
        &self,
        call: &Call,
        url: &Url,
        shown: &str,
        seen_status: &mut Option<u16>,
    ) -> Result<Reply, Failure> {
        let http = if call.follow_redirects {
            &self.inner.http
        } else {
            &self.inner.http_no_redirects
        };
        let mut req = http
            .request(call.method.clone(), url.clone())
            .header(ACCEPT, "application/json")
            // Needed by body-less POSTs (XSRF filter); harmless everywhere else.
            .header("X-Atlassian-Token", "no-check");
        if !call.anonymous {
            req = match &self.inner.credentials {
                Credentials::Anonymous => req,
                Credentials::Basic { username, password } => {
                    req.basic_auth(username, Some(password.expose()))
                }
                Credentials::Bearer { token } => req.bearer_auth(token.expose()),
            };
        }
        if let Some(body) = &call.body {
            req = req
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        } else if call.method == Method::POST {
            // As the admin UI does: Jersey resources declare @Consumes even without a body.
            req = req.header(CONTENT_TYPE, "application/json");
        }
        let credentialed = !call.anonymous && !self.inner.credentials.is_anonymous();
        let mut resp = req
            .send()
            .await
            .map_err(|e| self.transport_failure(&e, shown))?;
        let status = resp.status();
        *seen_status = Some(status.as_u16());
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header(CONTENT_TYPE.as_str());
        let retry_after =
            header(RETRY_AFTER.as_str()).and_then(|v| parse_retry_after(&v, SystemTime::now()));
        let date =
            header(reqwest::header::DATE.as_str()).and_then(|d| httpdate::parse_http_date(&d).ok());
        let denied = header(DENIED_REASON);
        let seraph = header(SERAPH_LOGIN_REASON);
        if status.is_redirection() {
            let location = header(LOCATION.as_str())
                .map(|l| self.remote_text(&l, MAX_URL_BYTES))
                .unwrap_or_else(|| "no Location header".to_owned());
            let url = shown.to_owned();
            return Err(Failure::fatal(if call.follow_redirects {
                ApiError::Redirected { url, location }
            } else {
                ApiError::ManifestRedirected { url, location }
            }));
        }
        let denied = denied.map(|d| self.remote_text(&d, MAX_URL_BYTES));
        if credentialed
            && let Some(error) = login_refusal(denied.as_deref(), seraph.as_deref(), status, shown)
        {
            return Err(Failure::fatal(error));
        }
        let limit = if status.is_success() {
            self.inner.max_body_bytes
        } else {
            self.inner.max_body_bytes.min(MAX_ERROR_BODY_BYTES)
        };
        let declared = resp.content_length();
        let (body, truncated) = read_capped(&mut resp, limit)
            .await
            .map_err(|(e, read)| self.body_failure(&e, shown, read, declared))?;
        if status.is_success() {
            if truncated {
                return Err(Failure::fatal(ApiError::ResponseTooLarge {
                    url: shown.to_owned(),
                    limit,
                }));
            }
            if let Some(error) =
                html_instead_of_rest(content_type.as_deref(), &body, resp.headers(), shown)
            {
                // A page, not the resource: asking again gets the same page.
                return Err(Failure::fatal(error));
            }
            return Ok(Reply {
                status,
                content_type,
                body,
                url: shown.to_owned(),
                date,
                wire_forms: self.inner.wire_forms.clone(),
            });
        }
        Err(self.status_failure(call, status, &body, retry_after, shown))
    }

    /// Where a system administrator allows Basic for some users while it is blocked
    /// (docs/products.md).
    fn basic_auth_config_url(&self) -> String {
        self.inner
            .base
            .join("rest/basicauth/1.0/config")
            .map(|u| u.to_string())
            .unwrap_or_default()
    }

    fn status_failure(
        &self,
        call: &Call,
        status: StatusCode,
        body: &[u8],
        retry_after: Option<Duration>,
        shown: &str,
    ) -> Failure {
        let url = shown.to_owned();
        // A server may echo the request (its Authorization header among it) in the body.
        let message = error_message(body).map(|m| redact(&m, &self.inner.wire_forms.as_strs()));
        let error = match status.as_u16() {
            400 => ApiError::BadRequest { url, message },
            401 if self.inner.credentials.is_anonymous() => ApiError::CredentialsMissing {
                url,
                action: "this request",
            },
            // The OAuth 2.0 provider answers 401 (not 403) to an administrator who is not a
            // system administrator: a refusal of what they may do, not of who they are.
            401 if let Some(action) = call.sysadmin_only => {
                ApiError::NotSystemAdministrator { url, action }
            }
            401 if message.as_deref().is_some_and(is_websudo_refusal) => {
                ApiError::SecureAdminSessionRequired {
                    url,
                    config_url: self.basic_auth_config_url().into(),
                }
            }
            401 => ApiError::Unauthorized { url, message },
            403 if message.as_deref().is_some_and(is_basic_disabled) => {
                ApiError::BasicAuthDisabled {
                    url,
                    message,
                    allow: Box::new(AllowBasic {
                        username: match &self.inner.credentials {
                            Credentials::Basic { username, .. } => username.clone(),
                            _ => String::new(),
                        },
                        config_url: self.basic_auth_config_url(),
                    }),
                }
            }
            403 => ApiError::Forbidden { url, message },
            404 => ApiError::NotFound { url, message },
            409 => ApiError::Conflict { url, message },
            429 => {
                return Failure {
                    retry_after,
                    ..Failure::retry(ApiError::RateLimited { url, retry_after })
                };
            }
            // A 500 from a write is the product failing on this request (a malformed body, a
            // bug): sending it again gives the same answer, so it is reported, not retried.
            500 if call.method != Method::GET => ApiError::Server {
                url,
                status: 500,
                message,
            },
            code @ (500 | 502 | 503 | 504) => {
                return Failure {
                    // Retry-After is only meaningful with 503 (and 429).
                    retry_after: if code == 503 { retry_after } else { None },
                    ..Failure::retry(ApiError::Server {
                        url,
                        status: code,
                        message,
                    })
                };
            }
            code if status.is_server_error() => ApiError::Server {
                url,
                status: code,
                message,
            },
            code => ApiError::UnexpectedStatus {
                url,
                status: code,
                message,
            },
        };
        Failure::fatal(error)
    }

    fn transport_failure(&self, err: &reqwest::Error, shown: &str) -> Failure {
        let url = shown.to_owned();
        if let Some(problem) = tls::find_tls_error(err) {
            // Certificate problems do not fix themselves: no retry.
            let host = self.inner.base.host_str().unwrap_or_default().to_owned();
            return Failure::fatal(match problem {
                tls::TlsProblem::Expired { not_after } => {
                    ApiError::TlsCertificateExpired { url, not_after }
                }
                tls::TlsProblem::WrongHost { presented } => ApiError::TlsHostnameMismatch {
                    url,
                    host: host
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_owned(),
                    presented,
                },
                tls::TlsProblem::Other(detail) => ApiError::Tls { url, detail },
            });
        }
        if err.is_timeout() {
            return Failure::timeout(ApiError::Timeout {
                url,
                timeout: self.inner.timeout,
                progress: None,
            });
        }
        let detail = root_cause(err);
        if is_dns_error(err) {
            // The answer of the resolver comes back at once and is cached by it: asking again
            // within the second changes nothing. The controller re-checks with backoff.
            return Failure::fatal(ApiError::UnknownHost {
                url,
                host: self.inner.base.host_str().unwrap_or_default().to_owned(),
                detail,
            });
        }
        if err.is_redirect() {
            return Failure::fatal(ApiError::Redirected {
                url,
                location: detail,
            });
        }
        if err.is_connect() {
            return Failure::retry(ApiError::Unreachable { url, detail });
        }
        Failure::retry(ApiError::Transport { url, detail })
    }

    /// A failure while the body was being read: the headers came, the rest did not.
    fn body_failure(
        &self,
        err: &reqwest::Error,
        shown: &str,
        read: usize,
        declared: Option<u64>,
    ) -> Failure {
        let of = declared.map(|n| format!(" of {n}")).unwrap_or_default();
        if err.is_timeout() {
            return Failure::timeout(ApiError::Timeout {
                url: shown.to_owned(),
                timeout: self.inner.timeout,
                progress: Some(format!(
                    "the answer began, but only {read}{of} bytes of its body came in that time: the application or a proxy in front of it sends it too slowly"
                )),
            });
        }
        Failure::retry(ApiError::Transport {
            url: shown.to_owned(),
            detail: format!(
                "the connection was closed while the answer was being read, after {read}{of} bytes of its body ({}); a proxy or load balancer cut it, or the application stopped",
                root_cause(err)
            ),
        })
    }
}

/// A 2xx HTML page where a REST answer was expected: a login page (a proxy or single sign-on
/// in front of the application, or Seraph serving an anonymous page), or some other page.
/// `applink-operator/<version>`, with the pod's name when it has one: an application's access
/// log then tells which replica sent a request (e.g. around a leader hand-over).
fn user_agent() -> String {
    user_agent_of(std::env::var("POD_NAME").ok().as_deref())
}

/// Substrings by which atlassian-rest's XSRF filter takes a request for a browser's (its
/// user-agent parser's browser families). A browser-looking POST without a same-origin
/// `Origin` or `Referer` is refused even with `X-Atlassian-Token` (docs/simulator.md#xsrf),
/// so the operator's User-Agent must contain none of them.
const BROWSER_MARKERS: [&str; 16] = [
    "google/",
    "Googlebot/",
    "msnbot",
    "webcrawler/",
    "MSIE",
    "Trident/",
    "Edge/",
    "Firefox",
    "Chrome/",
    "Safari/",
    "Opera/",
    "Gecko/",
    "Lotus-Notes/",
    "Netscape/",
    "Konqueror/",
    "KHTML",
];

fn looks_like_a_browser(user_agent: &str) -> bool {
    BROWSER_MARKERS.iter().any(|m| user_agent.contains(m))
}

fn user_agent_of(pod: Option<&str>) -> String {
    let base = concat!("applink-operator/", env!("CARGO_PKG_VERSION"));
    // A pod name is a DNS label; anything else (or one that would make the products take the
    // operator for a browser) is left out rather than sent as a header.
    match pod {
        Some(p)
            if !p.is_empty()
                && p.len() <= 253
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
                && !looks_like_a_browser(p) =>
        {
            format!("{base} ({p})")
        }
        _ => base.to_string(),
    }
}

fn html_instead_of_rest(
    content_type: Option<&str>,
    body: &[u8],
    headers: &reqwest::header::HeaderMap,
    shown: &str,
) -> Option<ApiError> {
    let start = body.trim_ascii_start();
    let starts_html = start.len() >= 5
        && (start[..5].eq_ignore_ascii_case(b"<html")
            || start.len() >= 9 && start[..9].eq_ignore_ascii_case(b"<!doctype"));
    let html_type = content_type.is_some_and(|ct| ct.to_ascii_lowercase().contains("html"));
    if !(starts_html || html_type && !body.is_empty()) {
        return None;
    }
    let anonymous = headers
        .get("x-ausername")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|u| u.eq_ignore_ascii_case("anonymous"));
    let text = String::from_utf8_lossy(&body[..body.len().min(64 * 1024)]).to_ascii_lowercase();
    let login_form = text.contains("type=\"password\"")
        || text.contains("type='password'")
        || text.contains("log in")
        || text.contains("login");
    let ct = content_type.unwrap_or("no Content-Type");
    if anonymous || login_form {
        let mut detail = format!("200, {ct}");
        if anonymous {
            detail.push_str(", X-AUSERNAME: anonymous: served as an anonymous user");
        }
        return Some(ApiError::LoginPageServed {
            url: shown.to_owned(),
            detail,
        });
    }
    Some(ApiError::MalformedResponse {
        url: shown.to_owned(),
        detail: format!(
            "expected JSON but got an HTML page ({ct}); is spec.url the application's base URL, and not a portal, a proxy's page or another context path?"
        ),
    })
}

/// Whether the resolver could not find the host (hyper's connector names the step "dns error").
fn is_dns_error(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(e) = current {
        if e.to_string() == "dns error" {
            return true;
        }
        current = e.source();
    }
    false
}

/// Header with which Seraph says why it refused a login (`CAPTCHA_CHALLENGE; login-url=…`).
const DENIED_REASON: &str = "x-authentication-denied-reason";
/// Header with which Seraph says how the login went (`OK`, `AUTHENTICATED_FAILED`,
/// `AUTHENTICATION_DENIED`).
const SERAPH_LOGIN_REASON: &str = "x-seraph-loginreason";

/// A refused login, whatever the status code: a CAPTCHA lock-out is a 403 on some versions and
/// a 200 served as anonymous on others, and a failed login may also come back as anonymous 200.
fn login_refusal(
    denied: Option<&str>,
    seraph: Option<&str>,
    status: StatusCode,
    shown: &str,
) -> Option<ApiError> {
    let url = shown.to_owned();
    if let Some(d) = denied
        && d.to_ascii_uppercase().contains("CAPTCHA")
    {
        let login_url = d
            .split(';')
            .find_map(|part| part.trim().strip_prefix("login-url="))
            .map(str::to_owned)
            .unwrap_or_else(|| "the application's login page".to_owned());
        return Some(ApiError::LoginCaptchaRequired { url, login_url });
    }
    let seraph = seraph?.to_ascii_uppercase();
    if seraph.contains("AUTHENTICATION_DENIED") {
        return Some(ApiError::LoginCaptchaRequired {
            url,
            login_url: "the application's login page".to_owned(),
        });
    }
    if seraph.contains("AUTHENTICATED_FAILED") && status.is_success() {
        return Some(ApiError::Unauthorized {
            url,
            message: Some("the login failed and the request was served anonymously".to_owned()),
        });
    }
    None
}

fn is_websudo_refusal(message: &str) -> bool {
    message.to_ascii_lowercase().contains("websudo")
}

fn is_basic_disabled(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("basic auth") && m.contains("disabled")
}

/// The innermost error message (e.g. "Connection refused (os error 111)").
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut last = err.to_string();
    let mut current = err.source();
    while let Some(e) = current {
        last = e.to_string();
        current = e.source();
    }
    last
}

/// The URL without query string, for messages and logs.
fn display_url(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.to_string()
}

fn normalize_base(mut url: Url) -> Result<Url, ApiError> {
    let invalid = |detail: String| ApiError::InvalidConfig { detail };
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(format!(
            "base URL {url} must use http or https, not {:?}",
            url.scheme()
        )));
    }
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err(invalid(format!("base URL {url} has no host")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // Never echo the URL here: it contains the secret.
        return Err(invalid(
            "base URL must not contain credentials; configure them separately".to_owned(),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(format!(
            "base URL {url} must not have a query or fragment"
        )));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// Reads at most `limit` bytes; the flag says whether the body was longer. An error comes with
/// the number of bytes read before it.
async fn read_capped(
    resp: &mut reqwest::Response,
    limit: usize,
) -> Result<(Vec<u8>, bool), (reqwest::Error, usize)> {
    if resp.content_length().is_some_and(|len| len > limit as u64) {
        return Ok((Vec::new(), true));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| (e, body.len()))? {
        if body.len() + chunk.len() > limit {
            let room = limit - body.len();
            body.extend_from_slice(&chunk[..room]);
            return Ok((body, true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, false))
}

struct Failure {
    error: ApiError,
    retryable: bool,
    retry_after: Option<Duration>,
    /// The whole request timeout went by: retried fewer times (`max_timeout_attempts`).
    timed_out: bool,
}

impl Failure {
    fn fatal(error: ApiError) -> Self {
        Self {
            error,
            retryable: false,
            retry_after: None,
            timed_out: false,
        }
    }

    fn retry(error: ApiError) -> Self {
        Self {
            error,
            retryable: true,
            retry_after: None,
            timed_out: false,
        }
    }

    fn timeout(error: ApiError) -> Self {
        Self {
            timed_out: true,
            ..Self::retry(error)
        }
    }
}

/// One REST call, described as data.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    method: Method,
    segments: Vec<String>,
    query: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    /// Sent without credentials even when the client has some.
    anonymous: bool,
    /// Only idempotent calls are retried.
    idempotent: bool,
    /// `Some(action)` when the call is pointless without credentials.
    needs_credentials: Option<&'static str>,
    /// Same-origin redirects are followed unless this is false.
    follow_redirects: bool,
    /// `Some(action)` when only a system administrator may call it (a 401 then means "not a
    /// system administrator", and the credentials are not held back).
    sysadmin_only: Option<&'static str>,
    /// How many of `segments` are the fixed path (the rest are variable: ids), for the
    /// operation label.
    fixed: usize,
}

impl Call {
    fn new(method: Method, path: &str, idempotent: bool) -> Self {
        let segments: Vec<String> = path.split('/').map(str::to_owned).collect();
        Self {
            method,
            fixed: segments.len(),
            segments,
            query: Vec::new(),
            body: None,
            anonymous: false,
            idempotent,
            needs_credentials: None,
            follow_redirects: true,
            sysadmin_only: None,
        }
    }

    /// `path` is a fixed, `/`-separated path relative to the base URL; variable parts are
    /// appended with [`Call::segment`] so they get percent-encoded.
    pub(crate) fn get(path: &str) -> Self {
        Self::new(Method::GET, path, true)
    }

    pub(crate) fn put(path: &str) -> Self {
        Self::new(Method::PUT, path, true)
    }

    pub(crate) fn delete(path: &str) -> Self {
        Self::new(Method::DELETE, path, true)
    }

    /// POST, not retried unless marked [`Call::idempotent`].
    pub(crate) fn post(path: &str) -> Self {
        Self::new(Method::POST, path, false)
    }

    pub(crate) fn segment(mut self, segment: impl Into<String>) -> Self {
        self.segments.push(segment.into());
        self
    }

    pub(crate) fn query(mut self, key: &str, value: impl Into<String>) -> Self {
        self.query.push((key.to_owned(), value.into()));
        self
    }

    pub(crate) fn json<T: Serialize>(mut self, body: &T) -> Self {
        self.body = Some(serde_json::to_vec(body).expect("request bodies serialize"));
        self
    }

    pub(crate) fn anonymous(mut self) -> Self {
        self.anonymous = true;
        self
    }

    pub(crate) fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = idempotent;
        self
    }

    /// Hands any redirect back as an error instead of following it.
    pub(crate) fn no_redirects(mut self) -> Self {
        self.follow_redirects = false;
        self
    }

    pub(crate) fn admin(mut self, action: &'static str) -> Self {
        self.needs_credentials = Some(action);
        self
    }

    pub(crate) fn sysadmin(mut self, action: &'static str) -> Self {
        self.needs_credentials = Some(action);
        self.sysadmin_only = Some(action);
        self
    }
}

/// The wire forms of a client's credentials; `Debug` shows only how many there are.
#[derive(Default)]
pub(crate) struct WireForms(Vec<String>);

impl WireForms {
    fn as_strs(&self) -> Vec<&str> {
        self.0.iter().map(String::as_str).collect()
    }
}

impl std::fmt::Debug for WireForms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<{} redacted>", self.0.len())
    }
}

/// A successful (2xx) response.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) content_type: Option<String>,
    pub(crate) body: Vec<u8>,
    pub(crate) url: String,
    /// The application's clock, from the `Date` header.
    pub(crate) date: Option<SystemTime>,
    /// For parser errors, which may quote the body.
    pub(crate) wire_forms: Arc<WireForms>,
}

impl Reply {
    pub(crate) fn is_xml(&self) -> bool {
        self.content_type
            .as_deref()
            .is_some_and(|ct| ct.contains("xml"))
            || self.body.trim_ascii_start().starts_with(b"<?xml")
    }

    pub(crate) fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        if self
            .content_type
            .as_deref()
            .is_some_and(|ct| ct.contains("html"))
        {
            return Err(self.malformed(
                "expected JSON but got an HTML page; is the URL the application's base URL and not a login or proxy page?",
            ));
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            let why = redact(&self.why_not_json(&e), &self.wire_forms.as_strs());
            self.malformed(why)
        })
    }

    /// What the body is instead of the JSON that was asked for (`Accept: application/json`),
    /// described without quoting it (it may hold anything).
    fn why_not_json(&self, e: &serde_json::Error) -> String {
        let ct = self.content_type.as_deref().unwrap_or("no Content-Type");
        let len = self.body.len();
        if let Err(u) = std::str::from_utf8(&self.body) {
            return format!(
                "the body ({len} bytes, {ct}) is not valid UTF-8 (an invalid byte at offset {}); JSON must be UTF-8: the application or a proxy re-encodes its answers (check its character encoding settings)",
                u.valid_up_to()
            );
        }
        if self.is_xml() {
            return format!(
                "expected JSON (asked with Accept: application/json) but got XML ({ct}); a proxy in front of the application drops the Accept header, or the resource has no JSON rendering on this version"
            );
        }
        let start = self.body.trim_ascii_start();
        if start.is_empty() {
            return format!("expected JSON but the body is empty ({ct})");
        }
        let json_start = matches!(start[0], b'{' | b'[');
        if e.is_eof() && json_start {
            return format!(
                "the JSON body ends mid-document after {len} bytes ({ct}): the answer was cut short by the application or a proxy; it is asked again on the next check"
            );
        }
        if !json_start && ct.contains("json") {
            return format!(
                "the body ({len} bytes) claims to be JSON ({ct}) but is not: it looks like plain text, such as a proxy's error message ({e})"
            );
        }
        format!("invalid JSON ({len} bytes, {ct}): {e}")
    }

    pub(crate) fn malformed(&self, detail: impl Into<String>) -> ApiError {
        ApiError::MalformedResponse {
            url: self.url.clone(),
            detail: detail.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agent_names_the_pod_when_it_is_a_plain_name() {
        let base = concat!("applink-operator/", env!("CARGO_PKG_VERSION"));
        let table = [
            (None, base.to_string()),
            (Some(""), base.to_string()),
            (
                Some("applink-operator-7d9f-x2"),
                format!("{base} (applink-operator-7d9f-x2)"),
            ),
            (Some("bad\r\nX-Injected: 1"), base.to_string()),
            (Some("a b"), base.to_string()),
            (Some("msnbot-0"), base.to_string()),
            (Some("KHTML-1"), base.to_string()),
        ];
        for (pod, want) in table {
            let ua = user_agent_of(pod);
            assert!(!looks_like_a_browser(&ua), "{ua}");
            assert_eq!(ua, want, "{pod:?}");
        }
    }

    #[test]
    fn base_url_is_normalized_and_validated() {
        let ok = normalize_base(Url::parse("https://host.example.test/jira").unwrap()).unwrap();
        assert_eq!(ok.as_str(), "https://host.example.test/jira/");
        for bad in [
            "ftp://host/",
            "https://user:secret@host/",
            "https://host/?a=b",
        ] {
            let err = normalize_base(Url::parse(bad).unwrap()).unwrap_err();
            assert_eq!(err.reason(), "InvalidClientConfig");
            assert!(!err.to_string().contains("secret"), "{err}");
        }
    }

    #[test]
    fn endpoint_encodes_variable_segments() {
        let client = AtlassianClient::new(ClientConfig::new(
            Url::parse("https://host.example.test/ctx").unwrap(),
        ))
        .unwrap();
        let call = Call::get("rest/applinks/3.0/applinks").segment("../x?y");
        let url = client.endpoint(&call.segments, &call.query);
        assert_eq!(
            url.as_str(),
            "https://host.example.test/ctx/rest/applinks/3.0/applinks/..%2Fx%3Fy"
        );
    }
}
