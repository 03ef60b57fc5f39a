//! The provider's answers: error collections, OAuth error bodies, client views.

use std::collections::BTreeMap;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use crate::store::Client;
use crate::wire::respond::LogReason;
use crate::wire::respond::json_response;

/// `RestErrorCollection` with Cache-Control no-store/no-cache (AbstractExceptionMapper).
pub(crate) fn errors(
    status: u16,
    errs: Vec<String>,
    fields: BTreeMap<&str, Vec<String>>,
) -> Response {
    let reason = errs
        .iter()
        .cloned()
        .chain(fields.iter().map(|(k, v)| format!("{k}: {}", v.join("; "))))
        .collect::<Vec<_>>()
        .join("; ");
    let mut r = json_response(
        crate::wire::respond::sc(status),
        &json!({"errors": errs, "fieldErrors": fields}),
    );
    no_store(r.headers_mut());
    r.extensions_mut().insert(LogReason(reason));
    r
}

pub(crate) fn message(status: u16, msg: &str) -> Response {
    errors(status, vec![msg.to_string()], BTreeMap::new())
}

pub(crate) fn unauthorized() -> Response {
    message(
        401,
        "You are not authorised to perform this operation. (oauth2.rest.error.unauthorized)",
    )
}

pub(crate) fn not_found() -> Response {
    message(
        404,
        "The client does not exist. (oauth2.rest.error.client.does.not.exist)",
    )
}

pub(crate) fn unknown_error() -> Response {
    message(
        500,
        "An unknown error occurred. (oauth2.rest.error.unknown)",
    )
}

pub(crate) fn no_store(h: &mut HeaderMap) {
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// RFC 6749 §5.2 error (`RestError`): 401 for `invalid_client`, else 400.
pub(crate) fn oauth_error(error: &str, description: &str) -> Response {
    let status = if error == "invalid_client" {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::BAD_REQUEST
    };
    let mut r = json_response(
        status,
        &json!({"error": error, "error_description": description}),
    );
    no_store(r.headers_mut());
    r.extensions_mut()
        .insert(LogReason(format!("{error}: {description}")));
    r
}

pub(crate) fn client_json(c: &Client, show_secret: bool) -> Value {
    let mut v = json!({
        "id": c.id, "clientId": c.client_id, "name": c.name, "redirects": c.redirects,
        "userKey": c.user_key, "scope": c.scope,
    });
    if show_secret {
        v["clientSecret"] = json!(c.client_secret);
    }
    v
}

// ---------------------------------------------------------------------------------------------
