//! OAuth 2.0 bearer tokens on the REST API (`AccessTokenFilter`,
//! `DefaultAccessTokenAuthenticationHandler`, `ReadWriteScopeFilter`).

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::app::App;
use crate::config::{Role, UserConfig};
use crate::gate::auth::Caller;
use crate::product::Product;
use crate::wire::oauth2::BASES;
use crate::wire::oauth2::{jwt_id, now_ms, sha256_hex};
use crate::wire::oauth2_scopes::Scope;
use crate::wire::respond::LogReason;

/// What an OAuth 2.0 bearer request carries besides its user.
#[derive(Clone, Debug)]
pub struct Grant {
    pub scope: Scope,
}

pub enum Bearer {
    /// Not an OAuth 2.0 token here (no provider, or not a JWT): maybe a personal access token.
    NotOAuth2,
    /// The authenticated user, capped by the token's scope, and the grant.
    Valid(Box<UserConfig>, Grant),
    /// Looked like a token but does not authenticate; the reason goes to the request log. The
    /// product's filter lets such a request go on unauthenticated, where the PAT filter refuses
    /// the unknown bearer token.
    Invalid(&'static str),
}

/// The highest role a scope lets a token act with: the scope caps the user's permissions.
fn role_cap(product: Product, scope: &Scope) -> Role {
    match product {
        Product::Jira | Product::Confluence if scope.has("SYSTEM_ADMIN") => Role::Sysadmin,
        Product::Jira | Product::Confluence if scope.has("ADMIN") => Role::Admin,
        Product::Bitbucket if scope.has("SYSTEM_ADMIN") => Role::Sysadmin,
        Product::Bitbucket if scope.has("ADMIN_WRITE") => Role::Admin,
        Product::Bamboo if scope.has("USER") => Role::Sysadmin,
        _ => Role::User,
    }
}

pub fn authenticate(app: &App, token: &str) -> Bearer {
    let Some(vocab) = app.oauth2_vocabulary() else {
        return Bearer::NotOAuth2;
    };
    let Ok(id) = jwt_id(app.cfg.seed(), token) else {
        return Bearer::NotOAuth2;
    };
    if id.is_empty() {
        return Bearer::Invalid("oauth2 access token signature invalid");
    }
    let record = {
        let st = app.state.lock().expect("state");
        st.persisted
            .oauth2
            .access_tokens
            .get(&sha256_hex(&id))
            .cloned()
    };
    let Some(record) = record else {
        return Bearer::Invalid("oauth2 access token unknown or revoked");
    };
    let lifetime_ms = app.settings().oauth2.access_token_secs.saturating_mul(1000);
    if now_ms() > record.created_ms.saturating_add(lifetime_ms) {
        return Bearer::Invalid("oauth2 access token expired");
    }
    let Some(mut user) = app.user(&record.username) else {
        return Bearer::Invalid("oauth2 access token of an unknown user");
    };
    let Ok(scope) = Scope::parse(vocab, &record.scope) else {
        return Bearer::Invalid("oauth2 access token with an unknown scope");
    };
    user.role = user.role.min(role_cap(app.cfg.product, &scope));
    Bearer::Valid(Box::new(user), Grant { scope })
}

/// `ReadWriteScopeFilter` (Jira and Confluence): a token whose scope is only READ may GET only.
pub fn scope_refusal(app: &App, caller: &Caller, method: &Method) -> Option<Response> {
    let grant = caller.oauth2.as_ref()?;
    let basic = matches!(app.cfg.product, Product::Jira | Product::Confluence);
    let read_only = grant.scope.implied() == BTreeSet::from(["READ"]);
    if !basic || !read_only || *method == Method::GET {
        return None;
    }
    let msg = format!("Request does not have write scope. Cannot complete {method} request.");
    let mut r = (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/html;charset=UTF-8")],
        format!("<html><body><h1>HTTP Status 403</h1><p>{msg}</p></body></html>"),
    )
        .into_response();
    r.extensions_mut()
        .insert(LogReason(format!("oauth2 scope READ: {msg}")));
    Some(r)
}

/// Paths the token endpoint's `@XsrfProtectionExcluded` exempts from the XSRF check.
pub fn xsrf_excluded(path: &str) -> bool {
    BASES.iter().any(|b| {
        path.strip_prefix(b)
            .is_some_and(|t| matches!(t, "/token" | "/revoke") || t.starts_with("/revoke/"))
    })
}

// ---------------------------------------------------------------------------------------------
