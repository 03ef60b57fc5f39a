//! What stands between an authenticated caller and a resource (docs/simulator.md#websudo and the
//! sections around it): Basic
//! authentication blocked, the CAPTCHA lock-out, per-user rate limiting, secure administrator
//! sessions (WebSudo), HTTP sessions, and the cloud flavours' refusals.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::profile::{RestLine, Settings};
use crate::store::{
    PATS_SESSION_ATTRIBUTE, RateOutcome, SESSION_COOKIE, Session, WEBSUDO_SESSION_ATTRIBUTE,
};
use crate::wire::model::StatusEnv;
use crate::wire::respond::{Fmt, json_response, status_env};

impl RateOutcome {
    /// The headers Jira DC documents on rate-limited REST responses (`retry-after` is 0 while
    /// tokens remain).
    pub fn apply(&self, h: &mut HeaderMap) {
        let mut set = |k: &'static str, v: String| {
            if let Ok(v) = HeaderValue::from_str(&v) {
                h.insert(k, v);
            }
        };
        set("X-RateLimit-Limit", self.limit.to_string());
        set("X-RateLimit-Remaining", self.remaining.to_string());
        set(
            "X-RateLimit-Interval-Seconds",
            self.interval_secs.to_string(),
        );
        set("X-RateLimit-FillRate", self.fill_rate.to_string());
        set("Retry-After", self.retry_after.to_string());
    }
}

/// The headers of a Basic login refused for a CAPTCHA but served as anonymous.
pub fn mark_login_denied(h: &mut HeaderMap, login_url: &str) {
    if let Ok(v) = HeaderValue::from_str(&format!("CAPTCHA_CHALLENGE; login-url={login_url}")) {
        h.insert("X-Authentication-Denied-Reason", v);
    }
    h.insert(
        "X-Seraph-LoginReason",
        HeaderValue::from_static("AUTHENTICATION_DENIED"),
    );
}

/// 403 of a Basic request for a user locked out until a CAPTCHA is answered in a browser.
pub fn captcha_challenge(fmt: Fmt, login_url: &str) -> Response {
    let mut r = status_env(
        fmt,
        StatusEnv::message(
            403,
            "CAPTCHA_CHALLENGE: log in through the browser and answer the CAPTCHA",
        ),
    );
    mark_login_denied(r.headers_mut(), login_url);
    r
}

pub fn websudo_refusal(fmt: Fmt) -> Response {
    status_env(
        fmt,
        StatusEnv::message(401, "This resource requires WebSudo."),
    )
}

/// The session id of a `Cookie: JSESSIONID=…` header.
pub fn session_id(req: &Request<Body>) -> Option<String> {
    session_id_of(req.headers())
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie_of(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

pub fn session_id_of(headers: &HeaderMap) -> Option<String> {
    cookie_of(headers, SESSION_COOKIE)
}

/// The REST version segment's routes `/rest/applinks/{v}/…`, with the version stripped.
fn applinks_route(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/rest/applinks/")?;
    let (_, tail) = rest.split_once('/')?;
    Some(tail)
}

/// Resources annotated `@WebSudoRequired` (docs/simulator.md#websudo): the classic v1/v2
/// `applicationlink` resource except its DELETE, and every allowlist method except `check`.
pub fn websudo_guarded(method: &Method, path: &str, allowlist_paths: &[String]) -> bool {
    for base in allowlist_paths {
        if let Some(tail) = path.strip_prefix(base.as_str())
            && (tail.is_empty() || tail.starts_with('/'))
        {
            return tail.trim_matches('/') != "check";
        }
    }
    let tail = applinks_route(path).or_else(|| {
        path.strip_prefix("/rest/applinks-oauth/")
            .and_then(|r| r.split_once('/'))
            .map(|(_, t)| t)
    });
    let Some(tail) = tail else { return false };
    let segs: Vec<&str> = tail.trim_end_matches('/').split('/').collect();
    match segs.as_slice() {
        ["applicationlink"] => true,
        ["applicationlink", "primary" | "type", _] => true,
        ["applicationlink", _] => *method != Method::DELETE,
        // The UI package (`core.rest.ui`) is annotated as a whole.
        [
            "authenticationinfo"
            | "applicationlinkForm"
            | "listApplicationlinks"
            | "listApplicationlinkstates"
            | "applicationlinkInfo"
            | "relocateApplicationlink"
            | "upgrade",
            ..,
        ] => path.starts_with("/rest/applinks/"),
        _ => false,
    }
}

/// Whether a caller passes WebSudo on a guarded resource (`SalWebSudoResourceContext`):
/// Basic always; a Bearer request whose session carries `is.pats.enabled` on newer REST lines;
/// access tokens on Confluence; a session that passed the WebSudo prompt.
pub fn websudo_passes(
    settings: &Settings,
    authorization: Option<&str>,
    session: Option<&Session>,
    oauth_signed: bool,
) -> bool {
    // OAuth requests (1.0a or 2.0 access tokens) are exempt.
    if !settings.secure_admin_sessions || oauth_signed {
        return true;
    }
    let auth = authorization.unwrap_or("");
    if auth.starts_with("Basic ") {
        return true;
    }
    if auth.starts_with("Bearer ") {
        if settings.websudo_exempts_tokens {
            return true;
        }
        if settings.rest_line == RestLine::Modern
            && session.is_some_and(|s| s.attributes.contains(PATS_SESSION_ATTRIBUTE))
        {
            return true;
        }
    }
    session.is_some_and(|s| s.attributes.contains(WEBSUDO_SESSION_ATTRIBUTE))
}

/// Resources a cloud site serves to anyone: what peers call (manifest, capabilities, the
/// anonymous OAuth status) and the OAuth servlets.
fn cloud_open(method: &Method, path: &str) -> bool {
    if path.starts_with("/plugins/servlet/oauth/") {
        return true;
    }
    let Some(tail) = applinks_route(path) else {
        return false;
    };
    let segs: Vec<&str> = tail.trim_end_matches('/').split('/').collect();
    match segs.as_slice() {
        ["manifest"] | ["capabilities", ..] => true,
        ["status", _, "oauth"] => *method == Method::GET,
        _ => false,
    }
}

/// Jira and Confluence Cloud refuse the server admin REST to API-token (Basic) and Bearer
/// callers (docs/simulator.md#cloud; the status code is inferred).
pub fn cloud_refuses(method: &Method, path: &str) -> bool {
    let admin = path.starts_with("/rest/applinks")
        || path.starts_with("/rest/whitelist")
        || path.starts_with("/rest/oauth2");
    admin && !cloud_open(method, path)
}

pub fn cloud_refusal() -> Response {
    json_response(
        StatusCode::FORBIDDEN,
        &json!({"message": "Application links of a cloud site are administered in its admin UI, \
                            not through this REST resource with an API token"}),
    )
}

/// Bitbucket Cloud runs no applinks at all.
pub fn absent_on_bitbucket_cloud(path: &str) -> bool {
    path.starts_with("/rest/applinks")
        || path.starts_with("/rest/whitelist")
        || path.starts_with("/plugins/servlet/oauth/")
}

pub fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "Not Found").into_response()
}

/// `Set-Cookie` of the session a Bearer login creates; the PAT filter invalidates it when the
/// request ends (`atlassian.pats.invalidate.session.enabled`, default true), so it is never
/// stored here and a client that sends it back has no session.
pub fn dead_session_cookie() -> HeaderValue {
    let id = crate::wire::keys::random_token();
    HeaderValue::from_str(&format!("{SESSION_COOKIE}={id}; Path=/; HttpOnly"))
        .unwrap_or_else(|_| HeaderValue::from_static("JSESSIONID=x; Path=/"))
}

/// Not logged in: 302 to the product's login page, which sends the user back to `dest`.
pub fn login_redirect(login_url: &str, dest: &str) -> Response {
    let target = crate::wire::html::with_params(login_url, &[("os_destination", dest)]);
    let mut r = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(&target) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.extensions_mut().insert(crate::wire::respond::LogReason(
        "not logged in: sent to the login page".into(),
    ));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websudo_guards_exactly_the_listed_resources() {
        let al = vec![
            "/rest/whitelist/latest".to_string(),
            "/rest/whitelist/1.0".to_string(),
        ];
        let g = |m: Method, p: &str| websudo_guarded(&m, p, &al);
        assert!(g(Method::PUT, "/rest/applinks/2.0/applicationlink"));
        assert!(g(Method::GET, "/rest/applinks/1.0/applicationlink"));
        assert!(g(Method::GET, "/rest/applinks/1.0/applicationlink/x"));
        assert!(g(
            Method::POST,
            "/rest/applinks/1.0/applicationlink/primary/x"
        ));
        assert!(!g(Method::DELETE, "/rest/applinks/1.0/applicationlink/x"));
        assert!(!g(Method::PUT, "/rest/applinks/3.0/applinks/x"));
        assert!(!g(Method::PUT, "/rest/applinks/3.0/status/x/oauth"));
        assert!(g(Method::GET, "/rest/applinks/1.0/authenticationinfo"));
        assert!(g(Method::GET, "/rest/applinks/3.0/listApplicationlinks"));
        assert!(g(
            Method::POST,
            "/rest/applinks/1.0/applicationlinkForm/createAppLink"
        ));
        assert!(!g(Method::GET, "/rest/applinks/1.0/permission/x/y"));
        assert!(g(Method::GET, "/rest/whitelist/latest"));
        assert!(g(Method::POST, "/rest/whitelist/1.0/enable"));
        assert!(!g(Method::GET, "/rest/whitelist/latest/check"));
        assert!(!g(Method::GET, "/rest/applinks/1.0/manifest"));
    }

    #[test]
    fn websudo_bypasses() {
        let mut s = Settings {
            basic_auth: true,
            basic_auth_allowed_users: vec![],
            basic_auth_allowed_paths: vec![],
            secure_admin_sessions: true,
            websudo_exempts_tokens: false,
            captcha_after_failures: 3,
            captcha_mode: Default::default(),
            rate_limit: None,
            rest_line: RestLine::Modern,
            missing_content_type_415: false,
            oauth2: Default::default(),
        };
        let pats = Session {
            username: "u".into(),
            attributes: [PATS_SESSION_ATTRIBUTE.to_string()].into(),
        };
        assert!(websudo_passes(&s, Some("Basic eDp5"), None, false));
        assert!(!websudo_passes(&s, Some("Bearer t"), None, false));
        assert!(websudo_passes(&s, Some("Bearer t"), Some(&pats), false));
        assert!(!websudo_passes(&s, None, None, false));
        assert!(
            websudo_passes(&s, None, None, true),
            "OAuth requests are exempt"
        );
        s.rest_line = RestLine::Legacy;
        assert!(!websudo_passes(&s, Some("Bearer t"), Some(&pats), false));
        s.websudo_exempts_tokens = true;
        assert!(websudo_passes(&s, Some("Bearer t"), None, false));
        s.secure_admin_sessions = false;
        assert!(websudo_passes(&s, None, None, false));
    }
}
