//! The applinks plugin's REST surface (`/rest/applinks/…`, `/rest/applinks-oauth/…`).

mod entity_links;
pub(crate) mod links;
mod manifest;
mod oauth_config;
mod permission;
mod providers;
mod remote_admin;
mod rules;
pub(crate) mod status;
mod ui;
mod v3;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::app::App;

/// Every applinks resource, by base path and version (docs/simulator.md#base-paths).
pub fn routes() -> Router<Arc<App>> {
    let mut r: Router<Arc<App>> = Router::new()
        .nest("/rest/applinks/1.0", classic().merge(v1()))
        .nest("/rest/applinks/2.0", classic().merge(v2()))
        .nest("/rest/applinks/3.0", classic().merge(v2()).merge(v3()))
        .nest("/rest/applinks/latest", classic().merge(v2()).merge(v3()));
    for v in ["1.0", "latest"] {
        r = r.nest(&format!("/rest/applinks-oauth/{v}"), applinks_oauth());
    }
    r
}

/// The answer to a path no resource serves.
pub use manifest::fallback;

/// Resources every applinks version serves (classic `core.rest` and UI resources).
fn classic() -> Router<Arc<App>> {
    Router::new()
        .route("/manifest", get(manifest::local))
        .route("/manifest/{id}", get(manifest::remote))
        .route("/authenticationinfo", get(manifest::authentication_info))
        .route(
            "/authenticationinfo/id/{id}/url/{*url}",
            get(manifest::authentication_info_url),
        )
        .route(
            "/authenticationinfo/id/{id}",
            get(manifest::authentication_info_url),
        )
        .route(
            "/applicationlinkForm/createAppLink",
            post(ui::create_app_link),
        )
        .route("/applicationlinkForm/manifest", get(ui::form_manifest))
        .route("/applicationlinkForm/details", post(permission::details))
        .route("/listApplicationlinkstates/id/{id}", get(permission::state))
        .route("/applicationlinkInfo/id/{id}", get(permission::info))
        .route("/permission/{kind}/{id}", get(permission::permission))
        .route("/listApplicationlinks", get(ui::list_with_auth))
        .route("/relocateApplicationlink/{id}", post(ui::relocate))
        .merge(entity_links::routes())
        .route("/applicationlink/type/{type_id}", get(links::list_type))
        .route(
            "/applicationlink/primary/{x}",
            get(links::get_primary).post(links::make_primary),
        )
}

/// v1 `applicationlink` semantics (PUT {id} = create-or-update after a manifest fetch).
fn v1() -> Router<Arc<App>> {
    Router::new()
        .route("/applicationlink", get(links::list))
        .route(
            "/applicationlink/{id}",
            get(links::get_one).put(links::v1_put).delete(links::delete),
        )
}

/// v2 `applicationlink` semantics (PUT = create, POST {id} = update) plus providers.
fn v2() -> Router<Arc<App>> {
    Router::new()
        .route("/applicationlink", get(links::list).put(links::v2_create))
        .route(
            "/applicationlink/{id}",
            get(links::get_one)
                .post(links::v2_update)
                .delete(links::delete),
        )
        .route(
            "/applicationlink/{id}/authentication/provider",
            get(providers::providers_get).put(providers::providers_put),
        )
        .route(
            "/applicationlink/{id}/authentication/provider/{provider}",
            get(providers::providers_get),
        )
}

/// V3 resources (`internal.rest`): JSON only.
fn v3() -> Router<Arc<App>> {
    Router::new()
        .route("/applinks", get(v3::v3_list))
        .route(
            "/applinks/{id}",
            get(v3::v3_get).put(v3::v3_put).delete(v3::v3_delete),
        )
        .route("/status/{id}", get(status::get_status))
        .route(
            "/status/{id}/oauth",
            get(status::get_oauth).put(status::put_oauth),
        )
        .route("/capabilities", get(manifest::capabilities))
        .route(
            "/capabilities/remote/{id}",
            get(manifest::remote_capabilities),
        )
        .route("/capabilities/{name}", get(manifest::capability))
}

/// applinks-oauth extends the v1 link resource with consumer endpoints.
fn applinks_oauth() -> Router<Arc<App>> {
    v1().route(
        "/applicationlink/{id}/authentication",
        get(oauth_config::authentication),
    )
    .route(
        "/applicationlink/{id}/authentication/consumer",
        // No DELETE: the product removes a consumer only with its link
        // (docs/simulator.md#oauth-configuration).
        get(oauth_config::get_consumer).put(oauth_config::put_consumer),
    )
    .route(
        "/consumer-token/{id}",
        axum::routing::delete(oauth_config::delete_consumer_token),
    )
}
