//! OAuth 1.0a service-provider servlets and consumer-info
//! (docs/simulator.md#oauth-10a-endpoints).

use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::app::App;
use crate::gate::auth::signed_base_uri;
use crate::store::{AccessToken, RequestToken};
use crate::wire::keys::random_token;
use crate::wire::oauth1::{self as oauth, Problem, Signed, form_pairs};
use crate::wire::xml::El;

/// Seconds an access token and its authorisation are valid (five years, like the products).
const ACCESS_TOKEN_TTL: u64 = 157_680_000;

pub async fn consumer_info(State(app): State<Arc<App>>) -> Response {
    let doc = El::new("consumer")
        .leaf("key", &app.ident.consumer_key)
        .leaf("name", &app.ident.display_name)
        .leaf("publicKey", &app.ident.public_key_b64)
        .leaf(
            "description",
            format!(
                "Atlassian {} at {}",
                app.cfg.product.display_name(),
                app.base_url
            ),
        )
        .to_document();
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml;charset=UTF-8"),
        )],
        doc,
    )
        .into_response()
}

fn form_response(body: String) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain;charset=UTF-8"),
        )],
        body,
    )
        .into_response()
}

/// Verifies a servlet request; parameters may come from the header, the query and a form body.
async fn verify_servlet(app: &App, req: Request) -> Result<Signed, Problem> {
    let base = signed_base_uri(app, &req);
    let method = req.method().as_str().to_string();
    let header_params = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(oauth::parse_authorization)
        .unwrap_or_default();
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    let mut extra = form_pairs(req.uri().query().unwrap_or(""));
    let body = to_bytes(req.into_body(), 1 << 20).await.unwrap_or_default();
    if is_form {
        extra.extend(form_pairs(&String::from_utf8_lossy(&body)));
    }
    let key = header_params
        .iter()
        .chain(extra.iter())
        .find(|(k, _)| k == "oauth_consumer_key")
        .map(|(_, v)| v.clone());
    let mut st = app.state.lock().expect("state");
    let public = key
        .as_deref()
        .and_then(|k| st.persisted.consumers.get(k))
        .and_then(|c| c.public_key.as_deref())
        .and_then(|pk| crate::wire::keys::parse_public_key(pk).ok());
    oauth::verify(
        &method,
        &base,
        &header_params,
        &extra,
        |_| public,
        &mut st.nonces,
    )
}

pub async fn request_token(State(app): State<Arc<App>>, req: Request) -> Response {
    let signed = match verify_servlet(&app, req).await {
        Ok(s) => s,
        Err(p) => return p.response(&app.base_url),
    };
    let callback = signed.get("oauth_callback").unwrap_or("").to_string();
    let valid_callback = callback == "oob"
        || url::Url::parse(&callback).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
    if !valid_callback {
        return Problem::ParameterRejected("oauth_callback").response(&app.base_url);
    }
    let token = random_token();
    let secret = random_token();
    app.state.lock().expect("state").request_tokens.insert(
        token.clone(),
        RequestToken {
            consumer_key: signed.consumer_key,
            callback,
            verifier: None,
            user: None,
            denied: false,
        },
    );
    form_response(format!(
        "oauth_token={token}&oauth_token_secret={secret}&oauth_callback_confirmed=true"
    ))
}

pub async fn access_token(State(app): State<Arc<App>>, req: Request<Body>) -> Response {
    let signed = match verify_servlet(&app, req).await {
        Ok(s) => s,
        Err(p) => return p.response(&app.base_url),
    };
    let token = signed.token.clone().unwrap_or_default();
    let mut st = app.state.lock().expect("state");
    let Some(rt) = st.request_tokens.get(&token).cloned() else {
        return Problem::TokenRejected.response(&app.base_url);
    };
    if rt.denied {
        return Problem::PermissionDenied.response(&app.base_url);
    }
    if rt.consumer_key != signed.consumer_key {
        return Problem::TokenRejected.response(&app.base_url);
    }
    let (Some(verifier), Some(user)) = (rt.verifier.clone(), rt.user.clone()) else {
        return Problem::PermissionUnknown.response(&app.base_url);
    };
    if signed.get("oauth_verifier") != Some(verifier.as_str()) {
        return Problem::TokenRejected.response(&app.base_url);
    }
    st.request_tokens.remove(&token);
    let access = random_token();
    let secret = random_token();
    st.access_tokens.insert(
        access.clone(),
        AccessToken {
            consumer_key: signed.consumer_key,
            user,
        },
    );
    let session = random_token();
    form_response(format!(
        "oauth_token={access}&oauth_token_secret={secret}&oauth_expires_in={ACCESS_TOKEN_TTL}\
         &oauth_session_handle={session}&oauth_authorization_expires_in={ACCESS_TOKEN_TTL}"
    ))
}
