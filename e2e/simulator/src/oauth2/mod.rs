//! The OAuth 2.0 provider ("External application → incoming" links) of Jira 8.22+, Confluence
//! 7.17+, Bitbucket 7.20+ and Bamboo 9.1+ (docs/simulator.md#oauth-20-provider, read against the
//! decompiled oauth2-provider-plugin and oauth2-scopes-plugin 3.1.5): client CRUD for system
//! administrators, the authorization server metadata, the token and revoke endpoints, the
//! bearer tokens the REST API accepts and their scopes. `/authorize` and the consent page are in
//! `authorize.rs`. Inferred details are listed in e2e/README.md.

pub(crate) mod authorize;
mod clients;
pub(crate) mod reply;
mod token;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post, put};

use crate::app::App;
use crate::wire::oauth2::BASES;

pub fn routes() -> Router<Arc<App>> {
    let mut r = Router::new();
    for base in BASES {
        r = r
            .route(
                &format!("{base}/client"),
                get(clients::list_clients).post(clients::create_client),
            )
            .route(
                &format!("{base}/client/{{id}}"),
                get(clients::get_client)
                    .put(clients::update_client)
                    .delete(clients::delete_client),
            )
            .route(
                &format!("{base}/client/reset/{{client_id}}"),
                put(clients::reset_secret),
            )
            .route(
                &format!("{base}/.well-known/oauth-authorization-server"),
                get(clients::well_known),
            )
            .route(&format!("{base}/token"), post(token::token))
            .route(&format!("{base}/revoke"), post(token::revoke))
            .route(
                &format!("{base}/authorize"),
                get(crate::oauth2::authorize::authorize),
            );
    }
    r.route(
        crate::oauth2::authorize::CONSENT_PATH,
        get(crate::oauth2::authorize::consent_page),
    )
    .route(
        crate::oauth2::authorize::ERROR_PATH,
        get(crate::oauth2::authorize::error_page),
    )
}
