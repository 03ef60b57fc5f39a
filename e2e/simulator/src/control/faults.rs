//! Hostile and broken answers, as real networks and proxies give them: an HTML login page with
//! 200, JSON cut mid-body, the wrong content type, XML where JSON was asked, invalid UTF-8, a
//! 100 MB body, a reply that drips a byte a second, a connection closed mid-body, a redirect to
//! another origin. Each is a rule in the app's fault set (`Faults::responses`, set through
//! `PUT`/`PATCH /_sim/faults`) matching a path prefix, optionally a method, a number of times or
//! always. Also here: the recording listener (a second origin that records whatever is sent to
//! it) and the server certificate that can be swapped at run time (expired, wrong host).

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Extension, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body::Frame;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::ListenerRef;
use crate::app::App;
use crate::store::{FaultKind, ResponseFault};
use crate::wire::respond::json_response;

pub const DEFAULT_HUGE_BYTES: u64 = 100 * 1024 * 1024;
const CHUNK: usize = 64 * 1024;

/// The first rule matching this request, counted as served (and used up when it has `times`).
pub fn take(app: &App, method: &Method, path: &str) -> Option<ResponseFault> {
    let mut faults = app.faults.lock().expect("faults");
    let rule = faults.responses.iter_mut().find(|r| {
        path.starts_with(&r.path)
            && r.method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method.as_str()))
            && r.times != Some(0)
    })?;
    if let Some(t) = &mut rule.times {
        *t -= 1;
    }
    rule.served += 1;
    Some(rule.clone())
}

/// Answers a request that a rule matched. `real` computes the real answer for the kinds made
/// from it.
pub async fn serve<F, Fut>(
    app: &App,
    fault: ResponseFault,
    mut req: Request<Body>,
    real: F,
) -> Response
where
    F: FnOnce(Request<Body>) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".into());
    match fault.kind {
        FaultKind::HtmlLogin => return login_page(app),
        FaultKind::NotJson => {
            return (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                "upstream connect error or disconnect/reset before headers. reset reason: overflow",
            )
                .into_response();
        }
        FaultKind::Redirect => {
            let base = fault
                .location
                .as_deref()
                .unwrap_or("")
                .trim_end_matches('/');
            let mut r = StatusCode::FOUND.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("{base}{path_and_query}")) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            return r;
        }
        FaultKind::Huge => {
            return huge(
                fault.bytes.unwrap_or(DEFAULT_HUGE_BYTES),
                fault.declare_length,
            );
        }
        FaultKind::Echo => return echo(&req, fault.status.unwrap_or(400)),
        FaultKind::Xml => {
            req.headers_mut()
                .insert(header::ACCEPT, HeaderValue::from_static("application/xml"));
        }
        _ => {}
    }
    let resp = real(req).await;
    let (mut parts, body) = resp.into_parts();
    let body = axum::body::to_bytes(body, 16 * 1024 * 1024)
        .await
        .unwrap_or_default();
    // The body changes below; hyper sets the length of a full body itself.
    parts.headers.remove(header::CONTENT_LENGTH);
    match fault.kind {
        FaultKind::TruncatedJson => {
            let cut = body.len() / 2;
            Response::from_parts(parts, Body::from(body.slice(..cut)))
        }
        FaultKind::WrongContentType => {
            let ct = fault.content_type.as_deref().unwrap_or("text/plain");
            if let Ok(v) = HeaderValue::from_str(ct) {
                parts.headers.insert(header::CONTENT_TYPE, v);
            }
            Response::from_parts(parts, Body::from(body))
        }
        FaultKind::Xml => {
            let is_xml = parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|ct| ct.contains("xml"));
            if is_xml {
                return Response::from_parts(parts, Body::from(body));
            }
            // JSON-only resources (V3) have no XML rendering: a proxy's or an old line's XML.
            parts.headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/xml;charset=UTF-8"),
            );
            let doc = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?><status><status-code>{}</status-code><message>OK</message></status>",
                parts.status.as_u16()
            );
            Response::from_parts(parts, Body::from(doc))
        }
        FaultKind::InvalidUtf8 => Response::from_parts(parts, Body::from(break_utf8(&body))),
        FaultKind::Drip => {
            let interval = Duration::from_millis(fault.interval_ms.unwrap_or(1000).max(1));
            set_length(&mut parts.headers, body.len() as u64);
            Response::from_parts(parts, drip(body, interval))
        }
        FaultKind::Reset => {
            set_length(&mut parts.headers, body.len() as u64);
            Response::from_parts(parts, cut_off(body))
        }
        FaultKind::LongStrings => {
            let bytes = fault.bytes.unwrap_or(DEFAULT_LONG_STRING_BYTES) as usize;
            let padded = pad_strings(&body, fault.fields.as_deref(), bytes);
            Response::from_parts(parts, Body::from(padded))
        }
        // Answered above.
        FaultKind::HtmlLogin
        | FaultKind::NotJson
        | FaultKind::Redirect
        | FaultKind::Huge
        | FaultKind::Echo => Response::from_parts(parts, Body::from(body)),
    }
}

pub const DEFAULT_LONG_STRING_BYTES: u64 = 1024 * 1024;

/// The JSON object `body` with the chosen top-level string members padded to `bytes` (a path
/// of `a`s, so URLs stay URLs); any other body unchanged.
fn pad_strings(body: &[u8], fields: Option<&[String]>, bytes: usize) -> Vec<u8> {
    let Ok(Value::Object(mut obj)) = serde_json::from_slice::<Value>(body) else {
        return body.to_vec();
    };
    for (k, v) in obj.iter_mut() {
        let Value::String(s) = v else { continue };
        let chosen = match fields {
            Some(f) => f.iter().any(|n| n == k),
            None => s.starts_with("http"),
        };
        if chosen && s.len() < bytes {
            let room = bytes - s.len();
            s.push('/');
            s.push_str(&"a".repeat(room.saturating_sub(1)));
        }
    }
    serde_json::to_vec(&Value::Object(obj)).unwrap_or_default()
}

/// Every request header as sent, in the body; the Authorization header in `Location` too.
fn echo(req: &Request<Body>, status: u16) -> Response {
    let headers: Vec<String> = req
        .headers()
        .iter()
        .map(|(k, v)| format!("{k}: {}", String::from_utf8_lossy(v.as_bytes())))
        .collect();
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut r = json_response(
        status,
        &json!({"message": format!("echo of {} {}: {}", req.method(), req.uri().path(), headers.join("\n"))}),
    );
    if status.is_redirection()
        && let Some(auth) = req.headers().get(header::AUTHORIZATION)
        && let Ok(v) = HeaderValue::from_str(&format!(
            "https://echo.example.test/?authorization={}",
            String::from_utf8_lossy(auth.as_bytes())
        ))
    {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

fn set_length(headers: &mut HeaderMap, len: u64) {
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
}

/// The login page of an anonymous request: 200, HTML, and the headers Seraph puts on every
/// answer (`X-AUSERNAME: anonymous`, a session, the XSRF cookie).
fn login_page(app: &App) -> Response {
    let login = app.login_url();
    let name = &app.ident.display_name;
    let page = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Log in - {name}</title></head>\n<body id=\"login\"><form id=\"login-form\" action=\"{login}\" method=\"post\">\n<label for=\"login-form-username\">Username</label><input id=\"login-form-username\" name=\"os_username\" type=\"text\">\n<label for=\"login-form-password\">Password</label><input id=\"login-form-password\" name=\"os_password\" type=\"password\">\n<input id=\"login-form-submit\" type=\"submit\" value=\"Log In\"></form></body></html>\n"
    );
    let session = crate::wire::keys::random_token();
    let mut r = (StatusCode::OK, page).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html;charset=UTF-8"),
    );
    h.insert("x-ausername", HeaderValue::from_static("anonymous"));
    h.insert("x-seraph-loginreason", HeaderValue::from_static("OUT"));
    if let Ok(v) = HeaderValue::from_str(&session[..session.len().min(8)]) {
        h.insert("x-asessionid", v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{}={session}; Path=/; HttpOnly",
        crate::store::SESSION_COOKIE
    )) {
        h.append(header::SET_COOKIE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!(
        "atlassian.xsrf.token={}|lout; Path=/",
        &session[..session.len().min(16)]
    )) {
        h.append(header::SET_COOKIE, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, no-transform"),
    );
    r
}

/// Puts 0xFF 0xFE (never valid in UTF-8) at the start of the body's first string value.
fn break_utf8(body: &[u8]) -> Vec<u8> {
    let at = body
        .windows(2)
        .position(|w| w == b":\"")
        .map(|p| p + 2)
        .or_else(|| body.iter().position(|b| *b == b'"').map(|p| p + 1));
    match at {
        Some(i) => [&body[..i], b"\xff\xfe", &body[i..]].concat(),
        None => [b"{\"name\":\"\xff\xfe\"}".as_slice()].concat(),
    }
}

/// A body fed by a task through a small channel: what is in flight is bounded by the channel,
/// and the task ends when the client goes away (the receiver is dropped).
struct ChannelBody {
    rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
    size: Option<u64>,
}

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.rx.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data)))
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match self.size {
            Some(n) => http_body::SizeHint::with_exact(n),
            None => http_body::SizeHint::default(),
        }
    }
}

fn channel_body(size: Option<u64>) -> (mpsc::Sender<Result<Bytes, std::io::Error>>, Body) {
    let (tx, rx) = mpsc::channel(4);
    (tx, Body::new(ChannelBody { rx, size }))
}

fn huge(bytes: u64, declare_length: bool) -> Response {
    let (tx, body) = channel_body(declare_length.then_some(bytes));
    tokio::spawn(async move {
        // A JSON array of strings, so that a reader sees a plausible start.
        let mut sent = 0u64;
        let head = Bytes::from_static(b"[\"");
        let filler = Bytes::from(vec![b'a'; CHUNK]);
        let mut first = true;
        while sent < bytes {
            let left = (bytes - sent) as usize;
            let chunk = if first {
                first = false;
                head.slice(..left.min(head.len()))
            } else {
                filler.slice(..left.min(CHUNK))
            };
            sent += chunk.len() as u64;
            if tx.send(Ok(chunk)).await.is_err() {
                return; // the client stopped reading
            }
        }
    });
    let mut r = Response::new(body);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn drip(body: Bytes, interval: Duration) -> Body {
    let (tx, out) = channel_body(Some(body.len() as u64));
    tokio::spawn(async move {
        for i in 0..body.len() {
            tokio::time::sleep(interval).await;
            if tx.send(Ok(body.slice(i..i + 1))).await.is_err() {
                return;
            }
        }
    });
    out
}

fn cut_off(body: Bytes) -> Body {
    let (tx, out) = channel_body(Some(body.len() as u64));
    tokio::spawn(async move {
        let half = body.len() / 2;
        if half > 0 && tx.send(Ok(body.slice(..half))).await.is_err() {
            return;
        }
        // Let the server write the first half out before the connection goes.
        tokio::time::sleep(Duration::from_millis(100)).await;
        // A body error makes the server close the connection with the message unfinished.
        let _ = tx
            .send(Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "simulated connection reset",
            )))
            .await;
    });
    out
}

// --- The recording listener -------------------------------------------------------------------

/// One request that reached the recording listener, as it was sent.
#[derive(Clone, Debug, Serialize)]
pub struct Recorded {
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Every header, in order, values as sent (lossy UTF-8).
    pub headers: Vec<(String, String)>,
    /// The body (at most 64 KiB, lossy UTF-8).
    pub body: String,
}

/// A second origin that records every request and answers plausibly, so that a client that
/// follows a redirect there goes on as if it had reached the application.
pub struct Recorder {
    pub url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    task: tokio::task::JoinHandle<()>,
}

const MAX_RECORDED: usize = 10_000;

impl Recorder {
    pub async fn start() -> std::io::Result<Recorder> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let router = Router::new().fallback(record).with_state(requests.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Recorder {
            url: format!("http://127.0.0.1:{port}"),
            requests,
            task,
        })
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().expect("recorder").clone()
    }

    pub fn clear(&self) {
        self.requests.lock().expect("recorder").clear();
    }

    pub fn json(&self) -> Value {
        json!({"url": self.url, "requests": self.requests()})
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn record(State(requests): State<Arc<Mutex<Vec<Recorded>>>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let entry = Recorded {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let path = parts.uri.path().to_owned();
    {
        let mut r = requests.lock().expect("recorder");
        if r.len() < MAX_RECORDED {
            r.push(entry);
        }
    }
    // Plausible: what the application's REST would answer to a successful call.
    if parts.method == Method::GET && path.ends_with("/manifest") {
        return json_response(
            StatusCode::OK,
            &json!({"id": "00000000-0000-3000-8000-000000000000", "name": "recorder",
                    "typeId": "generic", "version": "1.0", "applinksVersion": "9.1.4"}),
        );
    }
    json_response(
        StatusCode::OK,
        &json!({"status-code": 200, "message": "OK"}),
    )
}

// --- A server certificate that can change at run time -----------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewCert {
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
}

/// `PUT /_sim/tls {"cert": PEM file, "key": PEM file}`: serves that certificate from the next
/// connection on, and closes the open ones so that clients make a new handshake.
pub async fn put_tls(
    State(app): State<Arc<App>>,
    Extension(l): Extension<ListenerRef>,
    uri: axum::extract::OriginalUri,
    body: Bytes,
) -> Response {
    let n: NewCert = match serde_json::from_slice(&body) {
        Ok(n) => n,
        Err(e) => return bad(e),
    };
    let Some(swap) = &app.tls_cert else {
        return bad("this app does not serve HTTPS");
    };
    if let Err(e) = swap.replace(&n.cert, &n.key) {
        return bad(e);
    }
    if uri.path().starts_with("/_sim/apps/") {
        l.clone().stop().await;
        if let Err(e) = l.start().await {
            return json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                &json!({"error": e.to_string()}),
            );
        }
        return StatusCode::NO_CONTENT.into_response();
    }
    // On the app's own port the restart would cut this very answer: just after it.
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        l.clone().stop().await;
        let _ = l.start().await;
    });
    StatusCode::ACCEPTED.into_response()
}

fn bad(e: impl std::fmt::Display) -> Response {
    json_response(StatusCode::BAD_REQUEST, &json!({"error": e.to_string()}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_utf8_goes_into_the_first_string() {
        let out = break_utf8(br#"{"id":"abc","n":1}"#);
        assert!(std::str::from_utf8(&out).is_err());
        assert!(out.starts_with(b"{\"id\":\"\xff\xfeabc\""));
        assert!(std::str::from_utf8(&break_utf8(b"")).is_err());
    }

    #[test]
    fn long_strings_pad_urls_only_unless_told() {
        let body =
            br#"{"issuer":"https://a/","token_endpoint":"https://a/t","scopes":["x"],"n":"plain"}"#;
        let out: Value = serde_json::from_slice(&pad_strings(body, None, 100)).unwrap();
        assert_eq!(out["token_endpoint"].as_str().unwrap().len(), 100);
        assert!(
            out["token_endpoint"]
                .as_str()
                .unwrap()
                .starts_with("https://a/t/aaa")
        );
        assert_eq!(out["n"], "plain");
        let fields = ["n".to_string()];
        let out: Value = serde_json::from_slice(&pad_strings(body, Some(&fields), 50)).unwrap();
        assert_eq!(out["n"].as_str().unwrap().len(), 50);
        assert_eq!(out["issuer"], "https://a/");
    }
}
