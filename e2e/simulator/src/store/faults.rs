//! Injected faults: the switches the control API sets and the hostile-answer rules
//! (`control/faults.rs` serves them).

use axum::http::Method;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Injected faults (control API).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case", default)]
pub struct Faults {
    /// Added to every Atlassian request.
    pub latency_ms: u64,
    /// The next N Atlassian requests fail with `fail_status`.
    pub fail_next: u32,
    /// Status of `fail_next` failures (default 503).
    pub fail_status: Option<u16>,
    /// The next N Atlassian requests get 429 with `Retry-After: retry_after_secs`.
    pub throttle_next: u32,
    pub retry_after_secs: u64,
    /// Every Basic / al_username credential is refused.
    pub reject_credentials: bool,
    /// The manifest reports this id instead of the real one.
    pub manifest_id: Option<Uuid>,
    /// The manifest answers 302 to this URL.
    pub manifest_redirect: Option<String>,
    /// Outgoing OAuth signatures are corrupted.
    pub tamper_signatures: bool,
    /// This app's clock is off by this many seconds: its outgoing OAuth timestamps and the
    /// `Date` header of its answers are shifted.
    pub clock_skew_secs: i64,
    /// The base URL the application believes it has (behind an unconfigured proxy): reported as
    /// the manifest's `url` and used to verify incoming OAuth signatures.
    pub configured_base_url: Option<String>,
    /// Hostile and broken answers by path (`faults.rs`): login pages, truncated or non-JSON
    /// bodies, huge and dripping bodies, connections closed mid-body, cross-origin redirects.
    pub responses: Vec<ResponseFault>,
}

/// What a matching request gets instead of (or made from) the real answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// 200 `text/html` login page with the headers of an anonymous Seraph page, as a proxy or
    /// single sign-on in front of the application serves it to REST calls.
    HtmlLogin,
    /// The real answer cut in half, sent as a complete message (its `Content-Length` is the
    /// cut length): JSON that ends mid-document.
    TruncatedJson,
    /// The real answer with another `Content-Type` (default `text/plain`).
    WrongContentType,
    /// A proxy's plain-text error text served 200 with `Content-Type: application/json`.
    NotJson,
    /// XML although JSON was asked: the real answer rendered as XML where the resource has an
    /// XML rendering, else an XML document of the classic `Status` shape.
    Xml,
    /// The real answer with bytes that are not UTF-8 inside its first string value.
    InvalidUtf8,
    /// 200 `application/json` with `bytes` (default 100 MiB) streamed in 64 KiB chunks; never
    /// held in memory. `Content-Length` only with `declare_length`.
    Huge,
    /// The real answer's headers at once, then its body one byte every `interval_ms` (1000).
    Drip,
    /// The real answer's headers (with its `Content-Length`) and half its body, then the
    /// connection is closed.
    Reset,
    /// 302 to `location` + the request's path and query (another origin).
    Redirect,
    /// The real JSON answer with its top-level string members named in `fields` (default:
    /// those holding a URL) padded to `bytes` each (default 1 MiB): a hostile application's
    /// multi-megabyte URLs.
    LongStrings,
    /// `status` (default 400) with `{"message": …}` quoting every request header as sent, and
    /// the `Authorization` header again in a `Location` (with 3xx): a debugging proxy or a
    /// hostile server echoing the request.
    Echo,
}

/// One rule of an app's fault set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseFault {
    pub kind: FaultKind,
    /// Prefix of the request path (before any `.json` suffix is removed); default every path.
    #[serde(default = "root")]
    pub path: String,
    /// Only this method (any case); default every method.
    #[serde(default)]
    pub method: Option<String>,
    /// Matches this many more requests, then no more; absent: always.
    #[serde(default)]
    pub times: Option<u32>,
    /// `redirect`: the other origin (`http://127.0.0.1:PORT`), the request's path appended.
    #[serde(default)]
    pub location: Option<String>,
    /// `huge`: body size (default 100 MiB).
    #[serde(default)]
    pub bytes: Option<u64>,
    /// `huge`: send `Content-Length` (default: chunked, so the size is only known by reading).
    #[serde(default)]
    pub declare_length: bool,
    /// `drip`: pause between bytes (default 1000 ms).
    #[serde(default)]
    pub interval_ms: Option<u64>,
    /// `wrong-content-type`: the type to claim (default `text/plain`).
    #[serde(default)]
    pub content_type: Option<String>,
    /// `long-strings`: the top-level members to pad (default: every string starting with http).
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    /// `echo`: the status code (default 400).
    #[serde(default)]
    pub status: Option<u16>,
    /// Requests this rule has answered (read-only; reset with the fault set).
    #[serde(default)]
    pub served: u64,
}

fn root() -> String {
    "/".into()
}

/// Checks the rules a control request sets: each kind's required fields.
pub fn validate_faults(rules: &[ResponseFault]) -> Result<(), String> {
    for r in rules {
        if !r.path.starts_with('/') {
            return Err(format!("fault path {:?} must start with /", r.path));
        }
        if r.kind == FaultKind::Redirect {
            let loc = r.location.as_deref().unwrap_or("");
            if url::Url::parse(loc)
                .map(|u| u.host().is_none())
                .unwrap_or(true)
            {
                return Err("a redirect fault needs location: an absolute URL".into());
            }
        }
        if let Some(m) = &r.method
            && Method::from_bytes(m.to_ascii_uppercase().as_bytes()).is_err()
        {
            return Err(format!("fault method {m:?} is not an HTTP method"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_need_an_absolute_location() {
        let rule = |loc: Option<&str>| ResponseFault {
            kind: FaultKind::Redirect,
            path: "/".into(),
            method: None,
            times: None,
            location: loc.map(str::to_owned),
            bytes: None,
            declare_length: false,
            interval_ms: None,
            content_type: None,
            fields: None,
            status: None,
            served: 0,
        };
        assert!(validate_faults(&[rule(None)]).is_err());
        assert!(validate_faults(&[rule(Some("/relative"))]).is_err());
        assert!(validate_faults(&[rule(Some("http://127.0.0.1:1"))]).is_ok());
    }
}
