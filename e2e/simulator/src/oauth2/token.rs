//! The token and revoke endpoints (`TokenResource`, `GrantProcessorFactory`, the
//! authorization-code and refresh-token validators and processors).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::reply::{no_store, oauth_error, unknown_error};
use crate::app::App;
use crate::store::{AccessRecord, RefreshRecord};
use crate::wire::oauth2::{jwt, jwt_id, now_ms, random_hex, s256, sha256_hex, valid_pkce_code};
use crate::wire::respond::json_response;

fn form(headers: &HeaderMap, body: &[u8]) -> HashMap<String, String> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| {
            c.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    let mut out = HashMap::new();
    if is_form {
        for (k, v) in crate::wire::oauth1::form_pairs(&String::from_utf8_lossy(body)) {
            out.entry(k).or_insert(v);
        }
    }
    out
}

fn param<'a>(f: &'a HashMap<String, String>, k: &str) -> &'a str {
    f.get(k).map(String::as_str).unwrap_or("")
}

fn missing(f: &HashMap<String, String>, required: &[&str]) -> Option<Response> {
    required
        .iter()
        .find(|k| param(f, k).trim().is_empty())
        .map(|k| {
            oauth_error(
                "invalid_request",
                &format!(
                    "Missing required parameter '{k}' (oauth2.rest.error.missing.required.parameter)"
                ),
            )
        })
}

const UNAUTHENTICATED_CLIENT: &str =
    "The client could not be authenticated (oauth2.rest.error.unauthenticated.client)";
const INVALID_REFRESH: &str =
    "The refresh token is invalid (oauth2.rest.error.invalid.refresh.token)";

/// `isClientSecretValid`: the client exists and the secret matches.
fn secret_valid(app: &App, client_id: &str, secret: &str) -> bool {
    let st = app.state.lock().expect("state");
    st.persisted
        .oauth2
        .by_client_id(client_id)
        .is_some_and(|c| !secret.is_empty() && c.client_secret == secret)
}

fn token_response(app: &App, access_id: &str, refresh_id: &str, scope: &str) -> Response {
    let expires = app.settings().oauth2.access_token_secs;
    let mut r = json_response(
        StatusCode::OK,
        &json!({
            "access_token": jwt(app.cfg.seed(), access_id), "token_type": "bearer", "expires_in": expires,
            "refresh_token": jwt(app.cfg.seed(), refresh_id), "scope": scope,
        }),
    );
    no_store(r.headers_mut());
    r
}

/// Issues an access and a refresh token and stores their hashes.
fn issue(
    app: &App,
    client_id: &str,
    username: &str,
    scope: &str,
    code: &str,
    refresh_count: u32,
) -> Response {
    let access_id = random_hex(16);
    let refresh_id = random_hex(16);
    let now = now_ms();
    let access_hash = sha256_hex(&access_id);
    {
        let mut st = app.state.lock().expect("state");
        let store = &mut st.persisted.oauth2;
        store.access_tokens.insert(
            access_hash.clone(),
            AccessRecord {
                client_id: client_id.into(),
                username: username.into(),
                scope: scope.into(),
                authorization_code: code.into(),
                created_ms: now,
            },
        );
        store.refresh_tokens.insert(
            sha256_hex(&refresh_id),
            RefreshRecord {
                client_id: client_id.into(),
                username: username.into(),
                scope: scope.into(),
                authorization_code: code.into(),
                access_hash,
                refresh_count,
                created_ms: now,
            },
        );
    }
    token_response(app, &access_id, &refresh_id, scope)
}

/// `POST /token` (form): `authorization_code` and `refresh_token` grants; `client_secret` is a
/// form field and always checked, after the grant's own checks.
pub(super) async fn token(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = form(&headers, &body);
    match param(&f, "grant_type") {
        "" => oauth_error(
            "invalid_request",
            "Missing required parameter 'grant_type' (oauth2.rest.error.missing.required.parameter)",
        ),
        "authorization_code" => code_grant(&app, &f),
        "refresh_token" => refresh_grant(&app, &f),
        _ => oauth_error(
            "unsupported_grant_type",
            "The grant type is not supported (oauth2.rest.error.unsupported.grant.type)",
        ),
    }
}

fn code_grant(app: &App, f: &HashMap<String, String>) -> Response {
    if let Some(r) = missing(f, &["grant_type", "code", "redirect_uri", "client_id"]) {
        return r;
    }
    let (code, redirect, client_id) = (
        param(f, "code"),
        param(f, "redirect_uri"),
        param(f, "client_id"),
    );
    let code_lifetime_ms = app.settings().oauth2.code_secs.saturating_mul(1000);
    let auth = {
        let mut st = app.state.lock().expect("state");
        let store = &mut st.persisted.oauth2;
        // A code used twice revokes every token it produced (RFC 6749 §4.1.2).
        if store.code_redeemed(code) {
            store.remove_tokens_of_code(code);
            return oauth_error(
                "invalid_grant",
                "The authorization code was already used; its tokens are revoked (oauth2.rest.error.multiple.create.attempts.error)",
            );
        }
        let fresh = store
            .codes
            .get(code)
            .filter(|a| now_ms() <= a.created_ms.saturating_add(code_lifetime_ms))
            .cloned();
        let registered = store
            .by_client_id(client_id)
            .is_some_and(|c| c.redirects.iter().any(|r| r == redirect));
        (fresh, registered)
    };
    let (Some(a), registered) = auth else {
        return oauth_error(
            "invalid_request",
            "The authorization code is invalid or expired (oauth2.rest.error.authorization.code.invalid)",
        );
    };
    if a.redirect_uri != redirect {
        return oauth_error(
            "invalid_grant",
            "redirect_uri does not match the authorization (oauth2.rest.error.authorization.redirect.invalid)",
        );
    }
    if !registered {
        return oauth_error("invalid_client", UNAUTHENTICATED_CLIENT);
    }
    if a.client_id != client_id {
        return oauth_error("invalid_grant", UNAUTHENTICATED_CLIENT);
    }
    if let Some(method) = &a.challenge_method {
        let verifier = f.get("code_verifier").map(String::as_str);
        let Some(verifier) = verifier else {
            return oauth_error(
                "invalid_grant",
                "code_verifier is missing (oauth2.token.pkce.code.verifier.missing)",
            );
        };
        if !valid_pkce_code(verifier) {
            return oauth_error(
                "invalid_grant",
                "code_verifier is not valid (oauth2.token.pkce.code.verifier.invalid)",
            );
        }
        let expected = a.challenge.as_deref().unwrap_or("");
        let matches = match method.as_str() {
            "S256" => s256(verifier) == expected,
            _ => verifier == expected,
        };
        if !matches {
            return oauth_error(
                "invalid_grant",
                "code_verifier does not match the code challenge (oauth2.token.pkce.code.verifier.mismatch)",
            );
        }
    }
    if !secret_valid(app, client_id, param(f, "client_secret")) {
        return oauth_error("invalid_client", UNAUTHENTICATED_CLIENT);
    }
    // completeAuthorizationFlow: the code is used up.
    let removed = app
        .state
        .lock()
        .expect("state")
        .persisted
        .oauth2
        .codes
        .remove(code);
    if removed.is_none() {
        return oauth_error(
            "invalid_request",
            "The authorization code is invalid or expired (oauth2.rest.error.authorization.code.invalid)",
        );
    }
    issue(app, client_id, &a.username, &a.scope, code, 0)
}

fn refresh_grant(app: &App, f: &HashMap<String, String>) -> Response {
    if let Some(r) = missing(f, &["grant_type", "refresh_token", "client_id"]) {
        return r;
    }
    let client_id = param(f, "client_id");
    // A value that is no JWT at all makes the product's parser throw: 500.
    let Ok(id) = jwt_id(app.cfg.seed(), param(f, "refresh_token")) else {
        return unknown_error();
    };
    let hash = sha256_hex(&id);
    let lifetime_ms = app
        .settings()
        .oauth2
        .refresh_token_secs
        .saturating_mul(1000);
    let record = app
        .state
        .lock()
        .expect("state")
        .persisted
        .oauth2
        .refresh_tokens
        .get(&hash)
        .cloned();
    let Some(record) = record.filter(|_| !id.is_empty()) else {
        return oauth_error("invalid_grant", INVALID_REFRESH);
    };
    if record.client_id != client_id {
        return oauth_error("invalid_grant", INVALID_REFRESH);
    }
    if now_ms() > record.created_ms.saturating_add(lifetime_ms) {
        return oauth_error("invalid_grant", INVALID_REFRESH);
    }
    if !secret_valid(app, client_id, param(f, "client_secret")) {
        return oauth_error("invalid_client", UNAUTHENTICATED_CLIENT);
    }
    // Rotation: the old refresh token and the access token issued with it stop working.
    {
        let mut st = app.state.lock().expect("state");
        let store = &mut st.persisted.oauth2;
        if store.refresh_tokens.remove(&hash).is_none() {
            return oauth_error("invalid_grant", INVALID_REFRESH);
        }
        store.access_tokens.remove(&record.access_hash);
    }
    issue(
        app,
        client_id,
        &record.username,
        &record.scope,
        &record.authorization_code,
        record.refresh_count + 1,
    )
}

/// `POST /revoke` (RFC 7009, `RevokeTokenService`): 200 whether or not the token was known.
pub(super) async fn revoke(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = form(&headers, &body);
    for k in ["client_id", "client_secret"] {
        if param(&f, k).trim().is_empty() {
            return oauth_error(
                "invalid_request",
                &format!(
                    "Missing required parameter '{k}' (oauth2.rest.error.missing.required.parameter)"
                ),
            );
        }
    }
    let client_id = param(&f, "client_id");
    if !secret_valid(&app, client_id, param(&f, "client_secret")) {
        return oauth_error("invalid_client", UNAUTHENTICATED_CLIENT);
    }
    let token = param(&f, "token");
    if token.trim().is_empty() {
        return oauth_error(
            "invalid_request",
            "Missing required parameter 'token' (oauth2.rest.error.missing.required.parameter)",
        );
    }
    let Ok(id) = jwt_id(app.cfg.seed(), token) else {
        return StatusCode::OK.into_response();
    };
    let hash = sha256_hex(&id);
    let mut st = app.state.lock().expect("state");
    let store = &mut st.persisted.oauth2;
    let known = store
        .refresh_tokens
        .get(&hash)
        .is_some_and(|t| t.client_id == client_id)
        || store
            .access_tokens
            .get(&hash)
            .is_some_and(|t| t.client_id == client_id);
    if !known {
        return StatusCode::OK.into_response();
    }
    let hint = param(&f, "token_type_hint");
    let (as_access, as_refresh) = match hint {
        "access_token" => (true, false),
        "refresh_token" => (false, true),
        "" => (true, true),
        _ => {
            drop(st);
            return oauth_error(
                "unsupported_token_type",
                "oauth2.rest.error.unsupported.token.type",
            );
        }
    };
    if as_access && store.access_tokens.remove(&hash).is_some() {
        store.refresh_tokens.retain(|_, r| r.access_hash != hash);
    }
    if as_refresh && let Some(r) = store.refresh_tokens.remove(&hash) {
        store.access_tokens.remove(&r.access_hash);
    }
    StatusCode::OK.into_response()
}

// ---------------------------------------------------------------------------------------------
