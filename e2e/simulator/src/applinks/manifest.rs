//! Manifest, capabilities and authenticationinfo (docs/simulator.md#manifest,
//! docs/simulator.md#ui-resources, docs/simulator.md#status-api).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::app::App;
use crate::gate::auth::Caller;
use crate::peer::ManifestError;
use crate::wire::model::StatusEnv;
use crate::wire::respond::{ApiError, ApiResult, Fmt, json_response, negotiated, status_env};

pub async fn local(State(app): State<Arc<App>>, fmt: Fmt) -> Response {
    let m = app.manifest();
    let mut r = negotiated(fmt, StatusCode::OK, m.json(), m.xml());
    // The manifest is CORS-enabled for the admin UI.
    r.headers_mut().insert(
        axum::http::header::ACCESS_CONTROL_ALLOW_ORIGIN,
        axum::http::HeaderValue::from_static("*"),
    );
    r
}

/// `GET manifest/{applinkId}`: the remote manifest of a link, fetched live.
pub async fn remote(
    State(app): State<Arc<App>>,
    fmt: Fmt,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    caller.require_user(fmt)?;
    let rpc = crate::applinks::links::parse_id(&id)
        .and_then(|u| {
            app.state
                .lock()
                .expect("state")
                .link(&u)
                .map(|l| l.rpc_url.clone())
        })
        .ok_or_else(|| ApiError::list(fmt, 400, format!("No application link with id {id}")))?;
    match app.fetch_manifest(&rpc).await {
        Ok(m) => {
            let j = json!({
                "id": m.id, "name": m.name, "typeId": m.type_id, "version": m.version,
                "applinksVersion": m.applinks_version,
                "inboundAuthenticationTypes": m.inbound_authentication_types, "url": m.url,
            });
            let x = crate::wire::xml::El::new("manifest")
                .opt_leaf("id", m.id.as_ref())
                .opt_leaf("name", m.name.as_ref())
                .opt_leaf("typeId", m.type_id.as_ref())
                .opt_leaf("version", m.version.as_ref())
                .opt_leaf("applinksVersion", m.applinks_version.as_ref())
                .opt_leaf("url", m.url.as_ref());
            Ok(negotiated(fmt, StatusCode::OK, j, x))
        }
        Err(e) => Err(ApiError::status(
            fmt,
            404,
            format!("Remote manifest unavailable: {e}"),
        )),
    }
}

pub async fn capabilities(State(app): State<Arc<App>>) -> Response {
    json_response(StatusCode::OK, &json!(app.ident.capabilities))
}

pub async fn capability(State(app): State<Arc<App>>, Path(name): Path<String>) -> ApiResult {
    if app.has_capability(&name) {
        Ok(json_response(StatusCode::OK, &json!([name])))
    } else {
        Err(ApiError::v3(404, format!("No capability {name}")))
    }
}

fn version_json(v: Option<&str>) -> serde_json::Value {
    let Some(v) = v else {
        return serde_json::Value::Null;
    };
    let (major, minor, bugfix, suffix) =
        crate::applinks::status::parse_version(v).unwrap_or((0, 0, 0, String::new()));
    json!({"versionString": v, "major": major, "minor": minor, "bugfix": bugfix, "suffix": suffix})
}

/// `GET capabilities/remote/{applinkId}`: the remote's versions and capabilities.
pub async fn remote_capabilities(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    caller.require_admin_v3()?;
    let rpc = crate::applinks::links::parse_id(&id)
        .and_then(|u| {
            app.state
                .lock()
                .expect("state")
                .link(&u)
                .map(|l| l.rpc_url.clone())
        })
        .ok_or_else(|| ApiError::v3(404, format!("No application link with id {id}")))?;
    let remote = crate::applinks::status::remote_capabilities(&app, &rpc).await;
    let body = match remote {
        Ok(rc) => json!({
            "applicationVersion": version_json(rc.manifest.version.as_deref()),
            "applinksVersion": version_json(rc.manifest.applinks_version.as_deref()),
            "capabilities": rc.capabilities,
        }),
        Err(e) => {
            json!({"capabilities": [], "error": {"type": e.kind.name(), "details": e.details}})
        }
    };
    Ok(json_response(StatusCode::OK, &body))
}

/// `GET authenticationinfo`: 200 iff the caller passes the admin interceptor.
pub async fn authentication_info(fmt: Fmt, caller: Caller) -> ApiResult {
    caller.require_admin(fmt)?;
    Ok(status_env(fmt, StatusEnv::new(200)))
}

#[derive(Deserialize)]
pub struct UrlQuery {
    url: Option<String>,
}

/// `GET authenticationinfo/id/{applinkId}/url/{url}` or `?url=`: can you reach me at this URL?
pub async fn authentication_info_url(
    State(app): State<Arc<App>>,
    fmt: Fmt,
    Path(params): Path<Vec<(String, String)>>,
    Query(q): Query<UrlQuery>,
) -> ApiResult {
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let id = get("id").unwrap_or_default();
    let url = q
        .url
        .or_else(|| get("url"))
        .ok_or_else(|| ApiError::list(fmt, 400, "url is required"))?;
    match app.fetch_manifest(&url).await {
        Ok(m) if m.id.as_deref() == Some(id.as_str()) => Ok(status_env(fmt, StatusEnv::new(200))),
        Ok(_) => Err(ApiError::status(
            fmt,
            404,
            "The application at that URL has another id",
        )),
        Err(ManifestError::Redirected(l)) => {
            Err(ApiError::status(fmt, 404, format!("redirected to {l}")))
        }
        Err(e) => Err(ApiError::status(fmt, 404, e.to_string())),
    }
}

pub async fn fallback(fmt: Fmt) -> Response {
    status_env(fmt, StatusEnv::message(404, "Not Found")).into_response()
}
