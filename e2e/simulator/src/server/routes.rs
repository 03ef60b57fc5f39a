//! One app's router: each surface's routes (beside its handlers), the control API, the route
//! tag for the request log, and the fallback.

use std::sync::Arc;

use axum::Router;

use crate::app::App;
use crate::{applinks, control, oauth1, oauth2, product_rest};

pub fn router(app: Arc<App>) -> Router {
    let mut r = applinks::routes().merge(oauth1::routes());
    // The OAuth 2.0 provider exists only from the product line that bundles it
    // (docs/simulator.md#oauth-20-provider).
    if app.oauth2_vocabulary().is_some() {
        r = r.merge(oauth2::routes());
    }
    r.merge(product_rest::routes(&app))
        .layer(axum::middleware::from_fn(super::tag_route))
        .nest("/_sim", control::router())
        .fallback(applinks::fallback)
        .with_state(app)
}
