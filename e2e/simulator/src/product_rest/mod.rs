//! The products' own REST: a slice of each product's API, the allowlist, Basic-auth blocking.

mod allowlist;
mod api;
mod basicauth;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post, put};

use crate::app::App;
use crate::product::Product;

/// The product's own REST: its API slice, the allowlist where the profile serves it, and the
/// Basic-auth switch of Data Center products.
pub fn routes(app: &App) -> Router<Arc<App>> {
    let mut r = api::routes(app.cfg.product);
    // The allowlist's module path is not confirmed (docs/simulator.md#allowlist): served where
    // the profile says.
    for base in app.profile.allowlist_paths() {
        r = r
            .nest(&base, allowlist_routes())
            .route(&base, get(allowlist::list).post(allowlist::create))
            .route(
                &format!("{base}/"),
                get(allowlist::list).post(allowlist::create),
            );
    }
    if !app.is_cloud() && app.cfg.product != Product::Generic {
        r = r.route(
            "/rest/basicauth/1.0/config",
            get(basicauth::get_config).put(basicauth::put_config),
        );
    }
    r
}

fn allowlist_routes() -> Router<Arc<App>> {
    Router::new()
        .route("/{id}", put(allowlist::update).delete(allowlist::delete))
        .route("/enable", post(allowlist::enable))
        .route("/disable", post(allowlist::disable))
        .route("/check", get(allowlist::check))
        .route(
            "/settings",
            get(allowlist::get_settings).put(allowlist::put_settings),
        )
}
