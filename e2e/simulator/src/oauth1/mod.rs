//! OAuth 1.0a service provider: request and access tokens, the user's authorize step.

mod authorize;
mod servlets;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::app::App;

/// The service provider's servlets (docs/simulator.md#oauth-10a-endpoints).
pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route(
            "/plugins/servlet/oauth/consumer-info",
            get(servlets::consumer_info),
        )
        .route(
            "/plugins/servlet/oauth/request-token",
            post(servlets::request_token).get(servlets::request_token),
        )
        .route(
            "/plugins/servlet/oauth/authorize",
            get(authorize::authorize_get).post(authorize::authorize_post),
        )
        .route(
            "/plugins/servlet/oauth/access-token",
            post(servlets::access_token).get(servlets::access_token),
        )
}
