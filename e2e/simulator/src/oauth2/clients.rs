//! Client REST for system administrators (`ClientResource`, `ClientRestService`,
//! `RestClientValidator`) and the authorization server metadata.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::reply::{client_json, errors, message, not_found, unauthorized, unknown_error};
use crate::app::App;
use crate::config::Role;
use crate::gate::auth::Caller;
use crate::store::Client;
use crate::wire::oauth2::{LATEST, random_hex};
use crate::wire::oauth2_scopes::{Scope, scope_error_text};
use crate::wire::respond::LogReason;
use crate::wire::respond::json_response;

/// `SysadminOnlyResourceFilter`: anyone else, anonymous or a plain admin, gets 401.
fn require_sysadmin(caller: &Caller) -> Result<String, Box<Response>> {
    match &caller.user {
        Some(u) if u.role >= Role::Sysadmin => Ok(u.username.clone()),
        _ => Err(Box::new(unauthorized())),
    }
}

/// The body of POST and PUT `/client` (`RestClientEntity`); unknown fields are refused.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ClientBody {
    /// Accepted and ignored, as the product ignores them (ids and secrets are generated).
    #[serde(default)]
    #[allow(dead_code)]
    id: Option<String>,
    /// Only the create's name uniqueness check reads it (it excludes that client id).
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    client_secret: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    redirects: Option<Vec<String>>,
    #[serde(default)]
    #[allow(dead_code)]
    user_key: Option<String>,
    #[serde(default)]
    scope: Option<String>,
}

/// `@Consumes(application/json)`, then Jackson.
fn parse_body(headers: &HeaderMap, body: &[u8]) -> Result<ClientBody, Box<Response>> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    if !ct.to_ascii_lowercase().starts_with("application/json") {
        let mut r = StatusCode::UNSUPPORTED_MEDIA_TYPE.into_response();
        r.extensions_mut().insert(LogReason(format!(
            "Content-Type {ct} is not application/json"
        )));
        return Err(Box::new(r));
    }
    serde_json::from_slice::<ClientBody>(body).map_err(|e| {
        Box::new(message(
            400,
            &format!("The request body could not be read: {e} (oauth2.rest.error.invalid.body)"),
        ))
    })
}

/// What the validator leaves of a client: the fields it checked, or its errors.
struct Valid {
    name: String,
    redirects: Vec<String>,
    scope: String,
}

/// A Java `URI.create` would accept it: RFC 3986 characters (and non-ASCII), `%XX` escapes.
fn java_uri_parses(uri: &str) -> bool {
    let b = uri.as_bytes();
    let mut i = 0;
    let mut hashes = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'%' => {
                if !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                    && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
                {
                    return false;
                }
                i += 2;
            }
            b'#' => hashes += 1,
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => {}
            b'-' | b'.' | b'_' | b'~' | b':' | b'/' | b'?' | b'[' | b']' | b'@' | b'!' | b'$'
            | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=' => {}
            0x80.. => {}
            _ => return false,
        }
        i += 1;
    }
    hashes <= 1 && !uri.starts_with(':')
}

fn has_scheme(uri: &str) -> bool {
    match uri.split_once(':') {
        Some((s, _)) => {
            let mut chars = s.chars();
            chars.next().is_some_and(|c| c.is_ascii_alphabetic())
                && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        }
        None => false,
    }
}

/// `RestClientValidator.isUriValid`: the problems of one redirect URI, as message texts.
fn redirect_problems(uri: &str, s: &crate::config::OAuth2Settings) -> Vec<&'static str> {
    let mut out = vec![];
    if uri.chars().count() > 450 {
        out.push(
            "the redirect URI is longer than 450 characters (oauth2.rest.error.settings.redirect.field.too.long)",
        );
    }
    if !java_uri_parses(uri) {
        out.push("the redirect URI is not a valid URI (oauth2.rest.error.settings.redirect.field.invalid.uri)");
        return out;
    }
    if uri.contains('#') {
        out.push("the redirect URI must not have a fragment (oauth2.rest.error.settings.redirect.field.fragment.present)");
    }
    if !has_scheme(uri) {
        out.push("the redirect URI must be absolute (oauth2.rest.error.settings.redirect.field.not.absolute)");
        return out;
    }
    let scheme = uri.split(':').next().unwrap_or("");
    let localhost = url::Url::parse(uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        .is_some_and(|h| h == "localhost");
    let scheme_ok = s.skip_redirect_https
        || !scheme.eq_ignore_ascii_case("http")
        || (!s.disallow_localhost_redirect && localhost);
    if !scheme_ok {
        out.push("the redirect URI must use https unless its host is localhost (oauth2.rest.error.settings.redirect.field.invalid.scheme)");
    }
    out
}

/// `RestClientValidator.validate`: name, redirects and scope, with every error at once. `Err`
/// carries the answer: 400 with the field errors, or the 500 a missing name causes (its
/// uniqueness check trims a null name).
fn validate(
    app: &App,
    exclude_client_id: Option<&str>,
    name: Option<&str>,
    redirects: &[String],
    scope: &str,
) -> Result<Valid, Box<Response>> {
    let Some(vocab) = app.oauth2_vocabulary() else {
        return Err(Box::new(unknown_error()));
    };
    let Some(name) = name else {
        return Err(Box::new(unknown_error()));
    };
    let settings = app.settings().oauth2;
    let mut fields: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    if name.trim().is_empty() {
        fields
            .entry("name")
            .or_default()
            .push("name is required (oauth2.rest.error.settings.field.required)".into());
    }
    if name.chars().count() > 255 {
        fields.entry("name").or_default().push(
            "name must not be longer than 255 characters (oauth2.rest.error.settings.field.too.long)"
                .into(),
        );
    }
    let taken = {
        let st = app.state.lock().expect("state");
        st.persisted
            .oauth2
            .clients
            .values()
            .any(|c| c.name == name.trim() && Some(c.client_id.as_str()) != exclude_client_id)
    };
    if taken {
        fields.entry("name").or_default().push(
            "A client with this name already exists (oauth2.rest.error.settings.name.field.unique.warning.message)"
                .into(),
        );
    }
    let mut sorted: Vec<String> = redirects
        .iter()
        .filter(|r| !r.trim().is_empty())
        .cloned()
        .collect();
    sorted.sort();
    sorted.dedup();
    let mut problems: Vec<&str> = vec![];
    for r in &sorted {
        for p in redirect_problems(r, &settings) {
            if !problems.contains(&p) {
                problems.push(p);
            }
        }
    }
    if !problems.is_empty() {
        fields.entry("redirects").or_default().push(format!(
            "Invalid redirect URI: {} (oauth2.rest.error.settings.redirect.field.invalid)",
            problems.join(", ")
        ));
    }
    if sorted.is_empty() {
        fields
            .entry("redirects")
            .or_default()
            .push("redirects is required (oauth2.rest.error.settings.field.required)".into());
    }
    let scope = match Scope::parse(vocab, scope) {
        Ok(s) => s.name(),
        Err(_) => {
            fields
                .entry("scope")
                .or_default()
                .push(scope_error_text(scope));
            scope.to_string()
        }
    };
    if !fields.is_empty() {
        return Err(Box::new(errors(400, vec![], fields)));
    }
    Ok(Valid {
        name: name.to_string(),
        redirects: sorted,
        scope,
    })
}

fn trimmed(s: &Option<String>) -> Option<String> {
    s.as_ref().map(|v| v.trim().to_string())
}

fn trimmed_redirects(r: &Option<Vec<String>>) -> Vec<String> {
    r.iter().flatten().map(|v| v.trim().to_string()).collect()
}

fn show_secret_in_reads(app: &App) -> bool {
    !app.settings().oauth2.secret_shown_once
}

pub(super) async fn list_clients(State(app): State<Arc<App>>, caller: Caller) -> Response {
    if let Err(r) = require_sysadmin(&caller) {
        return *r;
    }
    let show = show_secret_in_reads(&app);
    let st = app.state.lock().expect("state");
    let mut list: Vec<&Client> = st.persisted.oauth2.clients.values().collect();
    list.sort_by(|a, b| a.client_id.cmp(&b.client_id));
    let v: Vec<Value> = list.iter().map(|c| client_json(c, show)).collect();
    json_response(StatusCode::OK, &json!(v))
}

pub(super) async fn create_client(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let username = match require_sysadmin(&caller) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    let b = match parse_body(&headers, &body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let name = trimmed(&b.name);
    let client_id_in_body = trimmed(&b.client_id);
    let valid = match validate(
        &app,
        client_id_in_body.as_deref(),
        name.as_deref(),
        &trimmed_redirects(&b.redirects),
        &trimmed(&b.scope).unwrap_or_default(),
    ) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let client = Client {
        id: uuid::Uuid::new_v4().to_string(),
        client_id: random_hex(16),
        client_secret: random_hex(32),
        name: valid.name,
        redirects: valid.redirects,
        scope: valid.scope,
        user_key: app.user_key(&username),
    };
    let v = client_json(&client, true);
    app.state
        .lock()
        .expect("state")
        .persisted
        .oauth2
        .clients
        .insert(client.id.clone(), client);
    json_response(StatusCode::OK, &v)
}

pub(super) async fn get_client(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = require_sysadmin(&caller) {
        return *r;
    }
    let show = show_secret_in_reads(&app);
    let st = app.state.lock().expect("state");
    match st.persisted.oauth2.clients.get(&id) {
        Some(c) => json_response(StatusCode::OK, &client_json(c, show)),
        None => not_found(),
    }
}

/// `PUT /client/{id}`: a blank name, an empty redirect list or a blank scope keep the stored
/// value; the result is validated as a whole. Existing tokens keep the scope they were issued
/// with.
pub(super) async fn update_client(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = require_sysadmin(&caller) {
        return *r;
    }
    let b = match parse_body(&headers, &body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let Some(old) = app
        .state
        .lock()
        .expect("state")
        .persisted
        .oauth2
        .clients
        .get(&id)
        .cloned()
    else {
        return not_found();
    };
    let name = trimmed(&b.name)
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| old.name.clone());
    let redirects = match trimmed_redirects(&b.redirects) {
        r if r.is_empty() => old.redirects.clone(),
        r => r,
    };
    let scope = trimmed(&b.scope)
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| old.scope.clone());
    let valid = match validate(&app, Some(&old.client_id), Some(&name), &redirects, &scope) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let mut st = app.state.lock().expect("state");
    if let Some(c) = st.persisted.oauth2.clients.get_mut(&id) {
        c.name = valid.name;
        c.redirects = valid.redirects;
        c.scope = valid.scope;
    }
    StatusCode::NO_CONTENT.into_response()
}

/// `DELETE /client/{id}` → 200 with the deleted client; its tokens go with it.
pub(super) async fn delete_client(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = require_sysadmin(&caller) {
        return *r;
    }
    let show = show_secret_in_reads(&app);
    let mut st = app.state.lock().expect("state");
    let Some(c) = st.persisted.oauth2.clients.remove(&id) else {
        return not_found();
    };
    st.persisted.oauth2.remove_tokens_of(&c.client_id);
    json_response(StatusCode::OK, &client_json(&c, show))
}

/// `PUT /client/reset/{clientId}` (the client id, not the UUID) → 200 with the client and its
/// new secret. Tokens already issued stay valid: only the token endpoint checks the secret.
pub(super) async fn reset_secret(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(client_id): Path<String>,
) -> Response {
    if let Err(r) = require_sysadmin(&caller) {
        return *r;
    }
    let mut st = app.state.lock().expect("state");
    let Some(c) = st
        .persisted
        .oauth2
        .clients
        .values_mut()
        .find(|c| c.client_id == client_id)
    else {
        return not_found();
    };
    c.client_secret = random_hex(32);
    json_response(StatusCode::OK, &client_json(c, true))
}

/// `GET /.well-known/oauth-authorization-server`, anonymous.
pub(super) async fn well_known(State(app): State<Arc<App>>) -> Response {
    let Some(vocab) = app.oauth2_vocabulary() else {
        return unknown_error();
    };
    let base = &app.base_url;
    let scopes: Vec<&str> = vocab.iter().map(|d| d.name).collect();
    json_response(
        StatusCode::OK,
        &json!({
            "issuer": base,
            "authorization_endpoint": format!("{base}{LATEST}/authorize"),
            "token_endpoint": format!("{base}{LATEST}/token"),
            "revocation_endpoint": format!("{base}{LATEST}/revoke"),
            "scopes_supported": scopes,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code"],
            "token_endpoint_auth_methods_supported": ["client_secret_post"],
            "revocation_endpoint_auth_methods_supported": ["client_secret_post"],
        }),
    )
}

// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_rules() {
        let s = crate::config::OAuth2Settings::default();
        assert!(redirect_problems("https://tool.test/cb", &s).is_empty());
        assert!(redirect_problems("http://localhost:8080/cb", &s).is_empty());
        assert!(redirect_problems("com.example.app:/cb", &s).is_empty());
        assert_eq!(redirect_problems("http://127.0.0.1/cb", &s).len(), 1);
        assert_eq!(redirect_problems("https://tool.test/cb#x", &s).len(), 1);
        assert_eq!(redirect_problems("/cb", &s).len(), 1);
        assert_eq!(redirect_problems("https://tool.test/a b", &s).len(), 1);
        assert_eq!(redirect_problems("https://tool.test/%zz", &s).len(), 1);
        let long = format!("https://tool.test/{}", "a".repeat(440));
        assert_eq!(redirect_problems(&long, &s).len(), 1);
        let skip = crate::config::OAuth2Settings {
            skip_redirect_https: true,
            ..Default::default()
        };
        assert!(redirect_problems("http://127.0.0.1/cb", &skip).is_empty());
        let strict = crate::config::OAuth2Settings {
            disallow_localhost_redirect: true,
            ..Default::default()
        };
        assert_eq!(redirect_problems("http://localhost/cb", &strict).len(), 1);
    }
}
