//! The Atlassian REST surface of one app, by base path and version (reference §1.1).

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post, put};

use crate::app::App;
use crate::{
    allowlist, applinks_v3, basicauth, control, links, manifest, oauth_config, oauth1_dance,
    oauth2_provider, permission, product_api, providers, servlets, status, ui,
};

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
        .route("/applinks", get(applinks_v3::v3_list))
        .route(
            "/applinks/{id}",
            get(applinks_v3::v3_get)
                .put(applinks_v3::v3_put)
                .delete(applinks_v3::v3_delete),
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
        // No DELETE: the product removes a consumer only with its link (§5).
        get(oauth_config::get_consumer).put(oauth_config::put_consumer),
    )
    .route(
        "/consumer-token/{id}",
        axum::routing::delete(oauth_config::delete_consumer_token),
    )
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

pub fn router(app: Arc<App>) -> Router {
    let mut r: Router<Arc<App>> = Router::new()
        .nest("/rest/applinks/1.0", classic().merge(v1()))
        .nest("/rest/applinks/2.0", classic().merge(v2()))
        .nest("/rest/applinks/3.0", classic().merge(v2()).merge(v3()))
        .nest("/rest/applinks/latest", classic().merge(v2()).merge(v3()));
    for v in ["1.0", "latest"] {
        r = r.nest(&format!("/rest/applinks-oauth/{v}"), applinks_oauth());
    }
    // The allowlist's module path is not confirmed (§3): served where the profile says.
    for base in app.profile.allowlist_paths() {
        r = r
            .nest(&base, allowlist_routes())
            .route(&base, get(allowlist::list).post(allowlist::create))
            .route(
                &format!("{base}/"),
                get(allowlist::list).post(allowlist::create),
            );
    }
    // The OAuth 2.0 provider exists only from the product line that bundles it (§5).
    if oauth2_provider::app_vocabulary(&app).is_some() {
        r = r.merge(oauth2_provider::routes());
    }
    r = r.merge(product_api::routes(app.cfg.product));
    if !app.is_cloud() && app.cfg.product != crate::Product::Generic {
        r = r.route(
            "/rest/basicauth/1.0/config",
            get(basicauth::get_config).put(basicauth::put_config),
        );
    }
    r.route(
        "/plugins/servlet/oauth/consumer-info",
        get(servlets::consumer_info),
    )
    .route(
        "/plugins/servlet/oauth/request-token",
        post(servlets::request_token).get(servlets::request_token),
    )
    .route(
        "/plugins/servlet/oauth/authorize",
        get(oauth1_dance::authorize_get).post(oauth1_dance::authorize_post),
    )
    .route(
        "/plugins/servlet/oauth/access-token",
        post(servlets::access_token).get(servlets::access_token),
    )
    .layer(axum::middleware::from_fn(crate::server::tag_route))
    .nest("/_sim", control::router())
    .fallback(manifest::fallback)
    .with_state(app)
}
