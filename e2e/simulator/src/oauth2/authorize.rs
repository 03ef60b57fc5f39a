//! OAuth 2.0 authorization: `GET /rest/oauth2/latest/authorize` and the consent page, as the
//! decompiled oauth2-provider-plugin 3.1.5 does them (`AuthorizationResource`,
//! `AuthorizationRestService`, `AuthorizationValidator`, `AuthorizationConsentServlet`,
//! `DefaultOAuth2XsrfTokenGenerator`):
//!
//! 1. the tool sends the user's browser to `/authorize`; without a consent page `Referer` the
//!    answer is a 303 to `/plugins/servlet/oauth2/consent?…` (a known client asking for a
//!    scope beyond its own is sent back to `redirect_uri` with `error=invalid_scope` first);
//! 2. the consent page needs a logged-in user (here Basic credentials or a session) and an
//!    HTTPS base URL; it binds an `atl_token` to the user's HTTP session;
//! 3. "Allow" submits the form back to `/authorize` with that session, the `atl_token` and the
//!    consent page as `Referer`: the answer is a 303 to `redirect_uri?code=…&state=…`.
//!
//! `POST /_sim/oauth2/consent` stands in for the browser (steps 2 and 3 for a named user).

use crate::wire::html::{html_escape, with_params};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::reply::unknown_error;
use crate::app::App;
use crate::gate::access::login_redirect;
use crate::gate::auth::Caller;
use crate::store::{Authorization, Client};
use crate::wire::oauth2::{LATEST, now_ms, random_hex, valid_pkce_code};
use crate::wire::oauth2_scopes::Scope;
use crate::wire::respond::LogReason;
use crate::wire::respond::json_response;

pub const CONSENT_PATH: &str = "/plugins/servlet/oauth2/consent";
pub const ERROR_PATH: &str = "/plugins/servlet/oauth2/error";

/// The query of `/authorize` and of the consent page; the first value of a name wins.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Params {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub state: Option<String>,
    pub response_type: Option<String>,
    pub scope: Option<String>,
    pub code_challenge_method: Option<String>,
    pub code_challenge: Option<String>,
    /// The consent form's XSRF token.
    pub atl_token: Option<String>,
}

fn nonblank(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|v| !v.trim().is_empty())
}

impl Params {
    fn parse(query: Option<&str>) -> Params {
        let mut p = Params::default();
        for (k, v) in crate::wire::oauth1::form_pairs(query.unwrap_or("")) {
            let slot = match k.as_str() {
                "client_id" => &mut p.client_id,
                "redirect_uri" => &mut p.redirect_uri,
                "state" => &mut p.state,
                "response_type" => &mut p.response_type,
                "scope" => &mut p.scope,
                "code_challenge_method" => &mut p.code_challenge_method,
                "code_challenge" => &mut p.code_challenge,
                "atl_token" => &mut p.atl_token,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(v);
            }
        }
        p
    }

    /// The authorization request's parameters in the order the product writes them.
    fn pairs(&self) -> Vec<(&'static str, &str)> {
        let mut out = vec![];
        for (k, v) in [
            ("client_id", &self.client_id),
            ("redirect_uri", &self.redirect_uri),
            ("response_type", &self.response_type),
            ("scope", &self.scope),
        ] {
            out.push((k, v.as_deref().unwrap_or("")));
        }
        for (k, v) in [
            ("state", &self.state),
            ("code_challenge_method", &self.code_challenge_method),
            ("code_challenge", &self.code_challenge),
        ] {
            if let Some(v) = nonblank(v) {
                out.push((k, v));
            }
        }
        out
    }
}

/// The canonical base URL (what the product believes it is, e.g. behind a proxy).
fn canonical_base(app: &App) -> String {
    app.faults
        .lock()
        .expect("faults")
        .configured_base_url
        .clone()
        .unwrap_or_else(|| app.base_url.clone())
        .trim_end_matches('/')
        .to_string()
}

/// 303 See Other with the no-store headers of `AuthorizationResource`.
fn see_other(location: &str, reason: Option<String>) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(location) {
        h.insert(header::LOCATION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    if let Some(reason) = reason {
        r.extensions_mut().insert(LogReason(reason));
    }
    r
}

/// Problems the product shows on its own error page (never sent to an unchecked redirect).
fn error_page_redirect(app: &App, name: &str, description: &str) -> Response {
    let target = with_params(
        &format!("{}{ERROR_PATH}", canonical_base(app)),
        &[("errorName", name), ("errorDescription", description)],
    );
    see_other(&target, Some(format!("{name}: {description}")))
}

/// Problems sent back to the client at `redirect_uri` (RFC 6749 §4.1.2.1).
fn redirect_error(p: &Params, error: &str, description: &str) -> Response {
    let Some(redirect) = nonblank(&p.redirect_uri) else {
        // UriBuilder.fromUri(null) throws: the product answers 500.
        return unknown_error();
    };
    let mut params = vec![("error", error), ("error_description", description)];
    if let Some(s) = nonblank(&p.state) {
        params.push(("state", s));
    }
    see_other(
        &with_params(redirect, &params),
        Some(format!("{error}: {description}")),
    )
}

fn client_by_id(app: &App, client_id: Option<&str>) -> Option<Client> {
    let id = client_id?;
    app.state
        .lock()
        .expect("state")
        .persisted
        .oauth2
        .by_client_id(id)
        .cloned()
}

/// `AuthorizationValidator.isScopeValid`: known names, within the client's scope.
fn scope_within(app: &App, client: &Client, scope: &str) -> bool {
    let Some(vocab) = app.oauth2_vocabulary() else {
        return false;
    };
    match (
        Scope::parse(vocab, scope),
        Scope::parse(vocab, &client.scope),
    ) {
        (Ok(s), Ok(c)) => s.within(&c),
        _ => false,
    }
}

fn invalid_param(param: &str) -> String {
    format!(
        "Invalid or missing parameter '{param}' (oauth2.authorization.validation.error.message)"
    )
}

/// Step 1 for a known client: a scope it may not ask for goes back to `redirect_uri` (which
/// the product does not check first).
fn scope_precheck(app: &App, p: &Params) -> Option<Response> {
    let client = client_by_id(app, p.client_id.as_deref())?;
    let scope = p.scope.clone().unwrap_or_default();
    if scope_within(app, &client, &scope) {
        return None;
    }
    Some(redirect_error(
        p,
        "invalid_scope",
        &format!(
            "The scope '{scope}' is not within the client's scope '{}' (oauth2.request.scope.valid.for.client.validation.error.message)",
            client.scope
        ),
    ))
}

/// `GET /rest/oauth2/{latest,1.0}/authorize` (anonymous allowed).
pub async fn authorize(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let p = Params::parse(query.as_deref());
    if let Some(r) = scope_precheck(&app, &p) {
        return r;
    }
    let consent_uri = format!("{}{CONSENT_PATH}", canonical_base(&app));
    let from_consent = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|r| r.starts_with(&consent_uri));
    if !from_consent {
        for (k, v) in [
            ("client_id", &p.client_id),
            ("redirect_uri", &p.redirect_uri),
            ("response_type", &p.response_type),
            ("scope", &p.scope),
        ] {
            if v.as_deref().unwrap_or("").is_empty() {
                return error_page_redirect(&app, "invalid_request", &invalid_param(k));
            }
        }
        return see_other(&with_params(&consent_uri, &p.pairs()), None);
    }
    // The consent form came back: its XSRF token must be the one bound to this session.
    let session = crate::gate::access::session_id_of(&headers)
        .filter(|id| app.access.lock().expect("access").sessions.contains_key(id));
    let Some(session) = session else {
        return error_page_redirect(
            &app,
            "invalid_request",
            "There is no HTTP session for the consent (oauth2.xsrf.invalid.session)",
        );
    };
    let expected = app
        .state
        .lock()
        .expect("state")
        .persisted
        .oauth2
        .consent_xsrf
        .remove(&session);
    if expected.is_none() || expected != p.atl_token {
        return error_page_redirect(
            &app,
            "invalid_request",
            "The consent form's XSRF token does not match (oauth2.xsrf.failure)",
        );
    }
    start_flow(&app, caller.user.map(|u| u.username).as_deref(), p)
}

/// `validateAndStartAuthorizationFlow` after the XSRF check: the client and its exact
/// redirect, PKCE, the response type, the scope; then the code.
fn start_flow(app: &App, username: Option<&str>, mut p: Params) -> Response {
    let Some(client) = client_by_id(app, nonblank(&p.client_id)) else {
        return error_page_redirect(app, "invalid_request", &invalid_param("client_id"));
    };
    let redirect = nonblank(&p.redirect_uri).unwrap_or("").to_string();
    if !client.redirects.contains(&redirect) {
        return error_page_redirect(app, "invalid_request", &invalid_param("redirect_uri"));
    }
    if nonblank(&p.code_challenge).is_some() && nonblank(&p.code_challenge_method).is_none() {
        p.code_challenge_method = Some("plain".into());
    }
    let method = match nonblank(&p.code_challenge_method) {
        None => None,
        Some(m) => match m.to_ascii_uppercase().as_str() {
            "PLAIN" => Some("plain".to_string()),
            "S256" => Some("S256".to_string()),
            _ => {
                return error_page_redirect(
                    app,
                    "invalid_request",
                    "Unsupported code_challenge_method (oauth2.authorization.pkce.code.challenge.method.invalid)",
                );
            }
        },
    };
    if method.is_some() {
        match p.code_challenge.as_deref() {
            None => {
                return error_page_redirect(
                    app,
                    "invalid_request",
                    "code_challenge is missing (oauth2.authorization.pkce.code.challenge.missing)",
                );
            }
            Some(c) if !valid_pkce_code(c) => {
                return error_page_redirect(
                    app,
                    "invalid_request",
                    "code_challenge is not valid (oauth2.authorization.pkce.code.challenge.invalid)",
                );
            }
            Some(_) => {}
        }
    }
    match nonblank(&p.response_type) {
        None => {
            return redirect_error(
                &p,
                "invalid_request",
                "response_type is empty (oauth2.authorization.response.type.is.empty.error.message)",
            );
        }
        Some("code") => {}
        Some(_) => {
            return redirect_error(
                &p,
                "unsupported_response_type",
                "Only response_type=code is supported (oauth2.authorization.unsupported.response.type.error.message)",
            );
        }
    }
    let Some(vocab) = app.oauth2_vocabulary() else {
        return unknown_error();
    };
    let scope = match nonblank(&p.scope) {
        None => client.scope.clone(),
        Some(s) => match Scope::parse(vocab, s) {
            Ok(s) => s.name(),
            Err(_) => {
                return redirect_error(
                    &p,
                    "invalid_scope",
                    &format!("Invalid scope '{s}' (oauth2.request.scope.not.valid.error.message)"),
                );
            }
        },
    };
    if !scope_within(app, &client, &scope) {
        return redirect_error(
            &p,
            "invalid_request",
            &format!(
                "The scope '{scope}' is not within the client's scope '{}' (oauth2.request.scope.valid.for.client.validation.error.message)",
                client.scope
            ),
        );
    }
    let Some(username) = username else {
        // startAuthorizationFlow dereferences the remote user.
        return unknown_error();
    };
    let code = random_hex(16);
    app.state
        .lock()
        .expect("state")
        .persisted
        .oauth2
        .codes
        .insert(
            code.clone(),
            Authorization {
                client_id: client.client_id.clone(),
                redirect_uri: redirect.clone(),
                username: username.to_string(),
                scope,
                challenge_method: method,
                challenge: p
                    .code_challenge
                    .clone()
                    .filter(|_| p.code_challenge_method.is_some()),
                created_ms: now_ms(),
            },
        );
    let mut params = vec![("code", code.as_str())];
    if let Some(s) = nonblank(&p.state) {
        params.push(("state", s));
    }
    see_other(&with_params(&redirect, &params), None)
}

/// commons-validator's `UrlValidator(ALLOW_LOCAL_URLS)`: http, https or ftp with a host. Its
/// domain check wants a registered top-level domain; the special-use names `.test`,
/// `.example` and `.invalid` are not (the exact list is inferred).
fn url_validator_accepts(uri: Option<&str>) -> bool {
    let Some(u) = uri.and_then(|u| url::Url::parse(u).ok()) else {
        return false;
    };
    if !matches!(u.scheme(), "http" | "https" | "ftp") {
        return false;
    }
    match u.host() {
        Some(url::Host::Domain(d)) => {
            let tld = d.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
            !matches!(tld.as_str(), "test" | "example" | "invalid")
        }
        Some(_) => true,
        None => false,
    }
}

/// `AuthorizationServlet.isSecureRequest`: unless the HTTPS requirement is skipped, the base
/// URL must be https and the request must have come over HTTPS (or say so in
/// `X-Forwarded-Proto` / `Forwarded`).
fn secure_request(app: &App, headers: &HeaderMap) -> bool {
    if app.settings().oauth2.skip_base_url_https {
        return true;
    }
    let forwarded_https = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                let v = v.to_ascii_lowercase();
                v.starts_with("https") || v.contains("proto=https")
            })
    };
    canonical_base(app).starts_with("https://")
        && (app.scheme == "https"
            || forwarded_https(header::HeaderName::from_static("x-forwarded-proto"))
            || forwarded_https(header::FORWARDED))
}

fn text(status: StatusCode, body: String, reason: &str) -> Response {
    let mut r = (
        status,
        [(header::CONTENT_TYPE, "text/html;charset=UTF-8")],
        body,
    )
        .into_response();
    r.extensions_mut().insert(LogReason(reason.to_string()));
    r
}

fn no_https(_app: &App) -> Response {
    let msg = "OAuth 2.0 needs an HTTPS base URL and an HTTPS request (oauth2.rest.error.no.https.warning.message)";
    text(StatusCode::BAD_REQUEST, msg.to_string(), msg)
}

/// Not logged in: the product's login page, coming back here afterwards.
fn to_login(app: &App, path: &str, query: Option<&str>) -> Response {
    let dest = match query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    login_redirect(
        &format!("{}{}", canonical_base(app), app.profile.login_path),
        &dest,
    )
}

/// The user's HTTP session: the one the request's cookie names if it is this user's, else a
/// new one (returned with its `Set-Cookie`).
fn session_for(app: &App, headers: &HeaderMap, username: &str) -> (String, Option<HeaderValue>) {
    let mut acc = app.access.lock().expect("access");
    if let Some(id) = crate::gate::access::session_id_of(headers)
        && acc
            .sessions
            .get(&id)
            .is_some_and(|s| s.username == username)
    {
        return (id, None);
    }
    let id = crate::wire::keys::random_token();
    acc.sessions.insert(
        id.clone(),
        crate::store::Session {
            username: username.to_string(),
            attributes: Default::default(),
        },
    );
    let cookie = HeaderValue::from_str(&format!(
        "{}={id}; Path=/; HttpOnly",
        crate::store::SESSION_COOKIE
    ))
    .ok();
    (id, cookie)
}

/// `GET /plugins/servlet/oauth2/consent`: the page the user approves, logged in.
pub async fn consent_page(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let p = Params::parse(query.as_deref());
    if !url_validator_accepts(p.redirect_uri.as_deref()) {
        let msg =
            "Invalid URL parameter 'redirect_uri' (oauth2.servlet.error.invalid.url.parameter)";
        return text(StatusCode::PRECONDITION_FAILED, msg.into(), msg);
    }
    if !secure_request(&app, &headers) {
        return no_https(&app);
    }
    let Some(user) = caller.user.clone() else {
        return to_login(&app, CONSENT_PATH, query.as_deref());
    };
    let Some(client) = client_by_id(&app, p.client_id.as_deref()) else {
        let msg = "The client does not exist (oauth2.rest.error.client.does.not.exist)";
        return text(StatusCode::BAD_REQUEST, msg.into(), msg);
    };
    let (session, cookie) = session_for(&app, &headers, &user.username);
    let token = app
        .state
        .lock()
        .expect("state")
        .persisted
        .oauth2
        .consent_xsrf
        .entry(session)
        .or_insert_with(crate::wire::keys::random_token)
        .clone();
    let base = canonical_base(&app);
    let mut hidden: Vec<(&str, &str)> = vec![
        ("client_id", p.client_id.as_deref().unwrap_or("")),
        ("redirect_uri", p.redirect_uri.as_deref().unwrap_or("")),
        ("response_type", p.response_type.as_deref().unwrap_or("")),
        ("scope", p.scope.as_deref().unwrap_or("")),
        ("state", p.state.as_deref().unwrap_or("")),
    ];
    for (k, v) in [
        ("code_challenge_method", &p.code_challenge_method),
        ("code_challenge", &p.code_challenge),
    ] {
        if let Some(v) = nonblank(v) {
            hidden.push((k, v));
        }
    }
    hidden.push(("atl_token", &token));
    let inputs: String = hidden
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{k}\" value=\"{}\">\n",
                html_escape(v)
            )
        })
        .collect();
    let mut deny = vec![
        ("error", "access_denied"),
        ("error_description", "The user denied access"),
    ];
    if let Some(s) = nonblank(&p.state) {
        deny.push(("state", s));
    }
    let deny_href = with_params(p.redirect_uri.as_deref().unwrap_or(""), &deny);
    let product = app.cfg.product.display_name();
    let html = format!(
        "<!DOCTYPE html>\n<html><head><title>Allow {client} access to {product}?</title></head><body>\n\
         <h1>{client} wants to access your {product} account</h1>\n\
         <p id=\"user\">Logged in as {user}</p>\n<p id=\"scope\">Scope: {scope}</p>\n\
         <form id=\"oauth2-consent\" method=\"GET\" action=\"{action}\">\n{inputs}\
         <button type=\"submit\" id=\"approve\">Allow</button>\n</form>\n\
         <a id=\"deny\" href=\"{deny}\">Deny</a>\n</body></html>\n",
        client = html_escape(&client.name),
        user = html_escape(&user.username),
        scope = html_escape(p.scope.as_deref().unwrap_or("")),
        action = html_escape(&format!("{base}{LATEST}/authorize")),
        deny = html_escape(&deny_href),
    );
    let mut r = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html;charset=UTF-8")],
        html,
    )
        .into_response();
    if let Some(c) = cookie {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    r
}

/// `GET /plugins/servlet/oauth2/error?errorName&errorDescription` (logged in, HTTPS).
pub async fn error_page(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if !secure_request(&app, &headers) {
        return no_https(&app);
    }
    if caller.user.is_none() {
        return to_login(&app, ERROR_PATH, query.as_deref());
    }
    let pairs = crate::wire::oauth1::form_pairs(query.as_deref().unwrap_or(""));
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    let html = format!(
        "<!DOCTYPE html>\n<html><body><h1 id=\"error\">{}</h1><p id=\"description\">{}</p></body></html>\n",
        html_escape(get("errorName")),
        html_escape(get("errorDescription"))
    );
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html;charset=UTF-8")],
        html,
    )
        .into_response()
}

fn default_true() -> bool {
    true
}

/// `POST /_sim/oauth2/consent`: a user's browser going through the consent page and pressing
/// "Allow" (or "Deny" with `"approve": false`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ControlConsent {
    username: String,
    client_id: String,
    redirect_uri: String,
    /// Required, as on the consent page (a blank scope is `invalid_scope`).
    scope: String,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    response_type: Option<String>,
    #[serde(default)]
    code_challenge: Option<String>,
    #[serde(default)]
    code_challenge_method: Option<String>,
    #[serde(default = "default_true")]
    approve: bool,
}

/// → 200 `{"status": 303, "location": "<redirect_uri?code=…&state=…>"}` (or the error
/// redirect or error page the browser would have been sent to).
pub async fn control_consent(State(app): State<Arc<App>>, body: Bytes) -> Response {
    let c: ControlConsent = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => return json_response(StatusCode::BAD_REQUEST, &json!({"error": e.to_string()})),
    };
    if app.user(&c.username).is_none() {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": format!("unknown user {}", c.username)}),
        );
    }
    if app.oauth2_vocabulary().is_none() {
        return json_response(
            StatusCode::NOT_FOUND,
            &json!({"error": "this product line has no OAuth 2.0 provider"}),
        );
    }
    let p = Params {
        client_id: Some(c.client_id),
        redirect_uri: Some(c.redirect_uri),
        state: c.state,
        response_type: Some(c.response_type.unwrap_or_else(|| "code".into())),
        scope: Some(c.scope),
        code_challenge_method: c.code_challenge_method,
        code_challenge: c.code_challenge,
        atl_token: None,
    };
    let r = if let Some(r) = scope_precheck(&app, &p) {
        r
    } else if c.approve {
        start_flow(&app, Some(&c.username), p)
    } else {
        deny(&app, &p)
    };
    let location = r
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    json_response(
        StatusCode::OK,
        &json!({"status": r.status().as_u16(), "location": location}),
    )
}

/// "Deny" on the consent page: back to the client with `error=access_denied` (only to a
/// redirect the client registered).
fn deny(app: &App, p: &Params) -> Response {
    let Some(client) = client_by_id(app, nonblank(&p.client_id)) else {
        return error_page_redirect(app, "invalid_request", &invalid_param("client_id"));
    };
    let redirect = nonblank(&p.redirect_uri).unwrap_or("");
    if !client.redirects.iter().any(|r| r == redirect) {
        return error_page_redirect(app, "invalid_request", &invalid_param("redirect_uri"));
    }
    redirect_error(p, "access_denied", "The user denied access")
}
