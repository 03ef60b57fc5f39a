//! The user's step of the OAuth 1.0a three-legged dance: `/plugins/servlet/oauth/authorize`,
//! as the decompiled atlassian-oauth-service-provider-plugin 5.0.10 does it
//! (`AuthorizeServlet`, `GetAuthorizationPage`, `PostAuthorization`): GET shows the logged-in
//! user a page naming the consumer, with an XSRF token; POST with that token and `approve`
//! (or `deny`) sends the browser back to the callback with `oauth_token` and `oauth_verifier`
//! (six letters and digits, or `denied`), or shows the verifier when the callback is `oob`.
//! Request and access tokens are in `servlets.rs`; signed REST calls in `auth.rs`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rand::Rng;

use crate::app::App;
use crate::gate::access::login_redirect;
use crate::gate::auth::Caller;
use crate::store::RequestToken;
use crate::wire::html::{html_escape, with_params};
use crate::wire::oauth1::{Problem, form_pairs};
use crate::wire::respond::LogReason;

/// The cookie that carries the XSRF token a form must echo as `atl_token` [I: Jira's name].
pub const XSRF_COOKIE: &str = "atlassian.xsrf.token";
const PATH: &str = "/plugins/servlet/oauth/authorize";

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html;charset=UTF-8")],
        body,
    )
        .into_response()
}

fn to_login(app: &App, query: &str) -> Response {
    let dest = if query.is_empty() {
        PATH.to_string()
    } else {
        format!("{PATH}?{query}")
    };
    login_redirect(&app.url(app.profile.login_path), &dest)
}

/// `TokenLoader.getTokenForAuthorization`: the request token named by `oauth_token`.
fn load_token(app: &App, token: &str) -> Result<RequestToken, Box<Response>> {
    app.state
        .lock()
        .expect("state")
        .request_tokens
        .get(token)
        .cloned()
        .ok_or_else(|| Box::new(Problem::TokenRejected.response(&app.base_url)))
}

fn first<'a>(pairs: &'a [(String, String)], k: &str) -> Option<&'a str> {
    pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

/// The approval page, with a fresh XSRF token in a cookie and in the form.
fn page(app: &App, username: &str, token: &str, rt: &RequestToken) -> Response {
    let xsrf = crate::wire::keys::random_token();
    let consumer = {
        let mut st = app.state.lock().expect("state");
        st.xsrf_tokens.insert(xsrf.clone(), username.to_string());
        st.persisted.consumers.get(&rt.consumer_key).cloned()
    };
    let (name, description) = consumer
        .map(|c| (c.name, c.description.unwrap_or_default()))
        .unwrap_or_else(|| (rt.consumer_key.clone(), String::new()));
    let body = format!(
        "<!DOCTYPE html>\n<html><head><title>Allow {name}?</title></head><body>\n\
         <h1>{name} wants to access your account</h1>\n<p id=\"description\">{description}</p>\n\
         <p id=\"user\">Logged in as {user}</p>\n\
         <form id=\"oauth-authorize\" method=\"POST\" action=\"{action}\">\n\
         <input type=\"hidden\" name=\"oauth_token\" value=\"{token}\">\n\
         <input type=\"hidden\" name=\"atl_token\" value=\"{xsrf}\">\n\
         <input type=\"submit\" name=\"approve\" value=\"Allow\">\n\
         <input type=\"submit\" name=\"deny\" value=\"Deny\">\n</form>\n</body></html>\n",
        name = html_escape(&name),
        description = html_escape(&description),
        user = html_escape(username),
        action = html_escape(&app.url(PATH)),
        token = html_escape(token),
    );
    let mut r = html(StatusCode::OK, body);
    if let Ok(v) = HeaderValue::from_str(&format!("{XSRF_COOKIE}={xsrf}; Path=/")) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

/// `GET …/authorize?oauth_token=…`: unknown token → 401 `token_rejected`; anonymous → the
/// login page; otherwise the page to approve or deny.
pub async fn authorize_get(
    State(app): State<Arc<App>>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    let pairs = form_pairs(&query);
    let token = first(&pairs, "oauth_token").unwrap_or("").to_string();
    let rt = match load_token(&app, &token) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let Some(user) = caller.user else {
        return to_login(&app, &query);
    };
    page(&app, &user.username, &token, &rt)
}

/// `POST …/authorize` (form): the XSRF token first, then the request token and the login,
/// then `approve` or `deny` (neither shows the page again).
pub async fn authorize_post(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let query = query.unwrap_or_default();
    let mut pairs = form_pairs(&query);
    pairs.extend(form_pairs(&String::from_utf8_lossy(&body)));
    let form_token = first(&pairs, "atl_token").unwrap_or("");
    let cookie = crate::gate::access::cookie_of(&headers, XSRF_COOKIE);
    let issued = app
        .state
        .lock()
        .expect("state")
        .xsrf_tokens
        .contains_key(form_token);
    if form_token.is_empty() || cookie.as_deref() != Some(form_token) || !issued {
        let mut r = html(
            StatusCode::FORBIDDEN,
            "<html><body><p>Xsrf token validation failed</p></body></html>".into(),
        );
        r.extensions_mut().insert(LogReason(
            "authorize form without a matching XSRF token".into(),
        ));
        return r;
    }
    let token = first(&pairs, "oauth_token").unwrap_or("").to_string();
    let rt = match load_token(&app, &token) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let Some(user) = caller.user else {
        return to_login(&app, &query);
    };
    let approve = first(&pairs, "approve").is_some();
    if !approve && first(&pairs, "deny").is_none() {
        return page(&app, &user.username, &token, &rt);
    }
    let verifier: String = if approve {
        let mut rng = rand::thread_rng();
        (0..6)
            .map(|_| rng.sample(rand::distributions::Alphanumeric) as char)
            .collect()
    } else {
        "denied".into()
    };
    let consumer_callback = {
        let mut st = app.state.lock().expect("state");
        st.xsrf_tokens.remove(form_token);
        if let Some(t) = st.request_tokens.get_mut(&token) {
            t.user = Some(user.username.clone());
            t.denied = !approve;
            t.verifier = approve.then(|| verifier.clone());
        }
        st.persisted
            .consumers
            .get(&rt.consumer_key)
            .and_then(|c| c.callback.clone())
    };
    // 1.0a: the callback of the request token, else the consumer's; none → a page.
    let callback = Some(rt.callback.clone())
        .filter(|c| c != "oob")
        .or(consumer_callback.filter(|c| !c.is_empty()));
    let Some(callback) = callback else {
        let body = if approve {
            format!(
                "<html><body><p>Verification code: <code id=\"oauth_verifier\">{}</code></p></body></html>",
                html_escape(&verifier)
            )
        } else {
            "<html><body><p id=\"denied\">You denied access.</p></body></html>".into()
        };
        return html(StatusCode::OK, body);
    };
    let target = with_params(
        &callback,
        &[("oauth_token", &token), ("oauth_verifier", &verifier)],
    );
    let mut r = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(&target) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    if !approve {
        r.extensions_mut()
            .insert(LogReason("the user denied the request token".into()));
    }
    r
}
