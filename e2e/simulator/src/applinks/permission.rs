//! `permission/*` and the small UI helpers `applicationlinkForm/details`,
//! `listApplicationlinkstates/id/{id}`, `applicationlinkInfo/id/{id}` (docs/simulator.md#ui-resources).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use super::remote_admin;
use crate::app::{App, is_admin};
use crate::applinks::links::{ApiVersion, link_json, link_xml, parse_id};
use crate::gate::auth::Caller;
use crate::peer::{PeerAuth, PeerRequest, join};
use crate::store::Link;
use crate::wire::model::{Level, StatusEnv, parse_xml_or_json};
use crate::wire::respond::{ApiError, ApiResult, Fmt, negotiated, status_env};
use crate::wire::xml::El;

fn code_response(fmt: Fmt, code: &str, url: Option<String>) -> ApiResult {
    let mut j = json!({"code": code});
    let mut x = El::new("permissionCode").leaf("code", code);
    if let Some(u) = url {
        j["url"] = json!(u);
        x = x.leaf("url", u);
    }
    Ok(negotiated(fmt, StatusCode::OK, j, x))
}

fn find(app: &App, id: &str) -> Option<Link> {
    parse_id(id).and_then(|u| app.state.lock().expect("state").link(&u).cloned())
}

/// `GET permission/{kind}/{id}`: may the caller do this (locally, or on the remote)?
pub async fn permission(
    State(app): State<Arc<App>>,
    fmt: Fmt,
    caller: Caller,
    Path((kind, id)): Path<(String, String)>,
) -> ApiResult {
    let Some(link) = find(&app, &id) else {
        return code_response(fmt, "MISSING", None);
    };
    let local_ok = caller.user.as_ref().is_some_and(is_admin);
    match kind.as_str() {
        "delete-application" | "create-entity" => code_response(
            fmt,
            if local_ok { "ALLOWED" } else { "NO_PERMISSION" },
            None,
        ),
        "reciprocate-application-delete" | "reciprocate-entity-create" => {
            let auth = match link.outgoing_level() {
                Level::Disabled => return code_response(fmt, "NO_AUTHENTICATION", None),
                Level::ThreeLoOnly => {
                    let url = app.url(&format!(
                        "/plugins/servlet/applinks/oauth/login-dance/authorize?applicationLinkID={}",
                        link.id
                    ));
                    return code_response(fmt, "CREDENTIALS_REQUIRED", Some(url));
                }
                Level::Default => PeerAuth::TwoLo,
                Level::Impersonation => match &caller.user {
                    Some(u) => PeerAuth::TwoLoI(u.username.clone()),
                    None => PeerAuth::TwoLo,
                },
            };
            let remote_kind = if kind == "reciprocate-application-delete" {
                "delete-application"
            } else {
                "create-entity"
            };
            let url = join(
                &link.rpc_url,
                &format!(
                    "/rest/applinks/1.0/permission/{remote_kind}/{}",
                    app.ident.id
                ),
            );
            match app
                .call(PeerRequest::get(url).accept("application/json").auth(auth))
                .await
            {
                Err(_) => code_response(fmt, "NO_CONNECTION", None),
                Ok(r) if r.status == 401 => code_response(fmt, "AUTHENTICATION_FAILED", None),
                Ok(r) => {
                    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
                    code_response(fmt, v["code"].as_str().unwrap_or("NO_CONNECTION"), None)
                }
            }
        }
        _ => Err(ApiError::status(
            fmt,
            404,
            format!("Unknown permission {kind}"),
        )),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Details {
    username: Option<String>,
    password: Option<String>,
    remote_url: Option<String>,
    rpc_url: Option<String>,
}

/// `POST applicationlinkForm/details`: are these remote admin credentials, and can the remote
/// reach us at `rpcUrl` (asked through the remote's `authenticationinfo/id/{ourId}?url=`)?
pub async fn details(
    State(app): State<Arc<App>>,
    fmt: Fmt,
    caller: Caller,
    body: Bytes,
) -> ApiResult {
    caller.require_admin(fmt)?;
    let d: Details = parse_xml_or_json(&body)
        .map_err(|e| ApiError::list(fmt, 400, format!("Invalid request: {e}")))?;
    let remote = d
        .remote_url
        .ok_or_else(|| ApiError::list_field(fmt, 400, "remoteUrl is required", "remoteUrl"))?;
    let auth = PeerAuth::Basic(
        d.username.unwrap_or_default(),
        d.password.unwrap_or_default(),
    );
    remote_admin::require(&app, fmt, &remote, &auth).await?;
    let ours = d.rpc_url.unwrap_or_else(|| app.base_url.clone());
    let url = join(
        &remote,
        &format!(
            "/rest/applinks/1.0/authenticationinfo/id/{}?url={}",
            app.ident.id,
            crate::wire::oauth1::encode(&ours)
        ),
    );
    let r = app
        .call(PeerRequest::get(url).auth(auth))
        .await
        .map_err(|e| remote_admin::unreachable(fmt, e))?;
    if !r.status.is_success() {
        return Err(ApiError::list_field(
            fmt,
            400,
            format!("The remote application cannot reach this application at {ours}"),
            "rpcUrl",
        ));
    }
    Ok(status_env(fmt, StatusEnv::new(200)))
}

/// `GET listApplicationlinkstates/id/{id}`: legacy state, OK or OFFLINE.
pub async fn state(
    State(app): State<Arc<App>>,
    fmt: Fmt,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    caller.require_admin(fmt)?;
    let link = find(&app, &id)
        .ok_or_else(|| ApiError::status(fmt, 404, format!("No application link with id {id}")))?;
    let state = match app.fetch_manifest(&link.rpc_url).await {
        Ok(_) => "OK",
        Err(_) => "OFFLINE",
    };
    let j = json!({"id": link.id.to_string(), "appLinkState": state});
    let x = El::new("applicationLinkState")
        .leaf("id", link.id)
        .leaf("appLinkState", state);
    Ok(negotiated(fmt, StatusCode::OK, j, x))
}

/// `GET applicationlinkInfo/id/{id}`: configured auth types of a link (no entity links here).
pub async fn info(
    State(app): State<Arc<App>>,
    fmt: Fmt,
    caller: Caller,
    ver: ApiVersion,
    Path(id): Path<String>,
) -> ApiResult {
    caller.require_admin(fmt)?;
    let link = find(&app, &id)
        .ok_or_else(|| ApiError::status(fmt, 404, format!("No application link with id {id}")))?;
    let auth: Vec<&String> = link.outgoing.keys().collect();
    let j = json!({"application": link_json(&app, &ver.0, &link), "configuredAuthProviders": auth,
                   "hasEntityLinks": false, "numLocalEntities": 0, "numRemoteEntities": 0});
    let x = El::new("applicationLinkInfo")
        .child(link_xml(&app, &ver.0, &link, "application"))
        .children(
            auth.iter()
                .map(|a| El::new("configuredAuthProviders").text(a)),
        );
    Ok(negotiated(fmt, StatusCode::OK, j, x))
}
