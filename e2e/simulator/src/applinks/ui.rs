//! UI-oriented resources: createAppLink (with link-back and OAuth auto-configuration),
//! applicationlinkForm/manifest, listApplicationlinks and relocateApplicationlink
//! (docs/simulator.md#ui-resources, docs/simulator.md#two-way-links).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;

use super::remote_admin;
use crate::app::App;
use crate::applinks::links::{
    ApiVersion, create_link, is_absolute_http, link_json, link_xml, new_link, parse_id,
    required_rpc_url,
};
use crate::gate::auth::Caller;
use crate::peer::{ManifestError, PeerAuth, PeerRequest, join};
use crate::product::{is_atlassian_type, providers};
use crate::store::provider_set;
use crate::wire::keys::url_uuid;
use crate::wire::model::{Level, LinkEntityIn, OAuthPair, parse_xml_or_json};
use crate::wire::respond::{ApiError, ApiResult, Fmt, negotiated};
use crate::wire::xml::El;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ConfigFormValues {
    #[serde(default)]
    trust_each_other: bool,
    #[serde(default)]
    share_userbase: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateRequest {
    application_link: LinkEntityIn,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default, rename = "customRpcURL")]
    custom_rpc_url: bool,
    #[serde(default)]
    rpc_url: Option<String>,
    #[serde(default)]
    create_two_way_link: bool,
    #[serde(default)]
    config_form_values: Option<ConfigFormValues>,
}

/// Our own `applicationLink` entity as sent to the remote for the link-back (XML, as Jersey does).
fn own_entity_xml(app: &App, rpc_url: &str) -> String {
    El::new("applicationLink")
        .leaf("id", app.ident.id)
        .leaf("typeId", app.type_id())
        .leaf("name", &app.ident.display_name)
        .leaf("displayUrl", &app.base_url)
        .leaf("rpcUrl", rpc_url)
        .leaf("isPrimary", false)
        .leaf("isSystem", false)
        .to_document()
}

/// `POST applicationlinkForm/createAppLink`.
pub async fn create_app_link(
    State(app): State<Arc<App>>,
    fmt: Fmt,
    caller: Caller,
    ver: ApiVersion,
    body: Bytes,
) -> ApiResult {
    caller.require_admin(fmt)?;
    let req: CreateRequest = parse_xml_or_json(&body)
        .map_err(|e| ApiError::list(fmt, 400, format!("Invalid request: {e}")))?;
    let form = req.config_form_values.unwrap_or_default();
    if form.share_userbase && !caller.is_sysadmin() {
        return Err(ApiError::status(
            fmt,
            403,
            "Sharing the user base requires a system administrator",
        ));
    }
    let e = &req.application_link;
    let rpc = required_rpc_url(fmt, e)?;
    let rpc = rpc.trim_end_matches('/').to_string();

    let admin_auth = match (&req.username, &req.password) {
        (Some(u), Some(p)) => Some(PeerAuth::Basic(u.clone(), p.clone())),
        _ => None,
    };
    if req.create_two_way_link {
        let auth = admin_auth.clone().ok_or_else(|| {
            ApiError::list_field(
                fmt,
                400,
                "Remote administrator credentials are required",
                "authorization",
            )
        })?;
        remote_admin::require(&app, fmt, &rpc, &auth).await?;
        let our_rpc = match (&req.rpc_url, req.custom_rpc_url) {
            (Some(u), true) => u.clone(),
            _ => app.base_url.clone(),
        };
        let url = join(
            &rpc,
            &format!("/rest/applinks/1.0/applicationlink/{}", app.ident.id),
        );
        let r = app
            .call(
                PeerRequest::new(Method::PUT, url)
                    .auth(auth)
                    .xml_body(own_entity_xml(&app, &our_rpc))
                    .no_check(),
            )
            .await
            .map_err(|e| remote_admin::unreachable(fmt, e))?;
        if !r.status.is_success() {
            let messages: Vec<String> = parse_remote_messages(&r.body).unwrap_or_else(|| {
                vec![format!(
                    "The remote application refused the reciprocal link ({})",
                    r.status
                )]
            });
            return Err(ApiError::List(fmt, 400, messages, vec![]));
        }
    }

    // The local end, stored under the remote's manifest id.
    let manifest = app.fetch_manifest(&rpc).await;
    let type_id = e
        .type_id
        .clone()
        .or_else(|| manifest.as_ref().ok().and_then(|m| m.type_id.clone()))
        .unwrap_or_else(|| "generic".into());
    let id = match &manifest {
        Ok(m) if type_id != "generic" => {
            m.id.as_deref()
                .and_then(parse_id)
                .ok_or_else(|| ApiError::list(fmt, 400, "The remote manifest has no valid id"))?
        }
        Err(err) if is_atlassian_type(&type_id) => {
            return Err(ApiError::list(
                fmt,
                400,
                format!("The application at {rpc} is not reachable: {err}"),
            ));
        }
        _ => url_uuid(&rpc),
    };
    let name = e
        .name
        .clone()
        .or_else(|| manifest.as_ref().ok().and_then(|m| m.name.clone()))
        .unwrap_or_else(|| rpc.clone());
    let display = e.display_url.clone().unwrap_or_else(|| rpc.clone());
    let mut link = new_link(id, &type_id, &name, &rpc, &display);
    link.primary = e.is_primary.unwrap_or(false);
    create_link(&app, fmt, link)?;

    let mut auto_ok = true;
    if req.create_two_way_link && form.trust_each_other {
        let level = if form.share_userbase {
            Level::Impersonation
        } else {
            Level::Default
        };
        let auth = admin_auth.clone().expect("checked above");
        auto_ok = auto_configure(&app, id, &rpc, level, auth).await.is_ok();
    }
    let link = app
        .state
        .lock()
        .expect("state")
        .link(&id)
        .cloned()
        .expect("created above");
    let j = json!({"applicationLink": link_json(&app, &ver.0, &link), "autoConfigurationSuccessful": auto_ok});
    let x = El::new("createApplicationLinkResponse")
        .child(link_xml(&app, &ver.0, &link, "applicationLink"))
        .leaf("autoConfigurationSuccessful", auto_ok);
    Ok(negotiated(fmt, StatusCode::OK, j, x))
}

fn parse_remote_messages(body: &[u8]) -> Option<Vec<String>> {
    #[derive(Deserialize)]
    struct E {
        #[serde(default)]
        message: Vec<String>,
    }
    let e: E = parse_xml_or_json(body).ok()?;
    (!e.message.is_empty()).then_some(e.message)
}

/// OAuth auto-configuration with the remote admin's Basic credentials (docs/simulator.md#two-way-links).
async fn auto_configure(
    app: &App,
    id: uuid::Uuid,
    rpc: &str,
    level: Level,
    auth: PeerAuth,
) -> Result<(), String> {
    let caps = crate::applinks::status::remote_capabilities(app, rpc)
        .await
        .map_err(|e| format!("{:?}", e.kind))?;
    let pair = OAuthPair {
        incoming: level.cfg(),
        outgoing: level.cfg(),
    };
    if caps.capabilities.iter().any(|c| c == "STATUS_API") {
        let url = join(
            rpc,
            &format!("/rest/applinks/3.0/status/{}/oauth", app.ident.id),
        );
        // Mirrored: the remote's incoming is our outgoing and vice versa.
        let body = json!({"incoming": pair.outgoing, "outgoing": pair.incoming});
        let r = app
            .call(
                PeerRequest::new(Method::PUT, url)
                    .auth(auth)
                    .json_body(&body)
                    .accept("application/json")
                    .no_check(),
            )
            .await
            .map_err(|e| e.to_string())?;
        if !r.status.is_success() {
            return Err(format!("remote status/oauth answered {}", r.status));
        }
    } else {
        let url = join(
            rpc,
            &format!(
                "/rest/applinks-oauth/latest/applicationlink/{}/authentication/consumer?autoConfigure=true",
                app.ident.id
            ),
        );
        let body = json!({"twoLOAllowed": level >= Level::Default, "twoLOImpersonationAllowed": level == Level::Impersonation});
        let r = app
            .call(
                PeerRequest::new(Method::PUT, url)
                    .auth(auth.clone())
                    .json_body(&body)
                    .accept("application/json")
                    .no_check(),
            )
            .await
            .map_err(|e| e.to_string())?;
        if !r.status.is_success() {
            return Err(format!("remote consumer answered {}", r.status));
        }
        let mut classes = vec![providers::OAUTH, providers::TWO_LO];
        if level == Level::Impersonation {
            classes.push(providers::TWO_LO_I);
        }
        for class in classes {
            let url = join(
                rpc,
                &format!(
                    "/rest/applinks/2.0/applicationlink/{}/authentication/provider",
                    app.ident.id
                ),
            );
            let r = app
                .call(
                    PeerRequest::new(Method::PUT, url)
                        .auth(auth.clone())
                        .json_body(&json!({"provider": class, "config": {}}))
                        .accept("application/json")
                        .no_check(),
                )
                .await
                .map_err(|e| e.to_string())?;
            if !r.status.is_success() {
                return Err(format!("remote provider answered {}", r.status));
            }
        }
    }
    crate::applinks::status::apply_oauth(app, id, pair)
        .await
        .map_err(|e| format!("{e:?}"))
}

#[derive(Deserialize)]
pub struct UrlQuery {
    url: Option<String>,
}

/// `GET applicationlinkForm/manifest?url=`: probe a remote before creating a link.
pub async fn form_manifest(
    State(app): State<Arc<App>>,
    fmt: Fmt,
    caller: Caller,
    headers: HeaderMap,
    Query(q): Query<UrlQuery>,
) -> ApiResult {
    caller.require_admin(fmt)?;
    // This GET is XSRF-checked (@RequiresXsrfCheck).
    if !crate::gate::xsrf::has_token(&headers) {
        return Err(ApiError::raw(crate::gate::xsrf::refusal()));
    }
    let url = q
        .url
        .filter(|u| is_absolute_http(u))
        .ok_or_else(|| ApiError::list_field(fmt, 400, "url must be an absolute URL", "url"))?;
    match app.fetch_manifest(&url).await {
        Ok(m) => {
            let id = m.id.clone().unwrap_or_default();
            if id == app.ident.id.to_string() {
                return Err(ApiError::list(
                    fmt,
                    409,
                    "The URL is this application's own URL",
                ));
            }
            if parse_id(&id).is_some_and(|u| app.state.lock().expect("state").link(&u).is_some()) {
                return Err(ApiError::list(
                    fmt,
                    409,
                    format!("An application link to {id} already exists"),
                ));
            }
            let j = json!({"id": m.id, "name": m.name, "typeId": m.type_id, "version": m.version,
                           "applinksVersion": m.applinks_version, "url": m.url});
            let x = El::new("manifest")
                .opt_leaf("id", m.id.as_ref())
                .opt_leaf("name", m.name.as_ref())
                .opt_leaf("typeId", m.type_id.as_ref())
                .opt_leaf("url", m.url.as_ref());
            Ok(negotiated(fmt, StatusCode::OK, j, x))
        }
        Err(ManifestError::Redirected(loc)) => {
            let corrected = loc
                .split("rest/applinks/")
                .next()
                .unwrap_or(&loc)
                .trim_end_matches('/')
                .to_string();
            let j = json!({"warning": "applinks.warning.redirected.manifest", "redirectedUrl": corrected});
            let x = El::new("responseInfo")
                .leaf("warning", "applinks.warning.redirected.manifest")
                .leaf("redirectedUrl", &corrected);
            Ok(negotiated(fmt, StatusCode::OK, j, x))
        }
        Err(err) => {
            let j = json!({"warning": "applinks.warning.no.response", "details": err.to_string()});
            let x = El::new("responseInfo").leaf("warning", "applinks.warning.no.response");
            Ok(negotiated(fmt, StatusCode::OK, j, x))
        }
    }
}

/// `GET listApplicationlinks`.
pub async fn list_with_auth(
    State(app): State<Arc<App>>,
    fmt: Fmt,
    caller: Caller,
    ver: ApiVersion,
) -> ApiResult {
    caller.require_admin(fmt)?;
    let (links, levels): (Vec<crate::store::Link>, Vec<Level>) = {
        let st = app.state.lock().expect("state");
        st.persisted
            .links
            .values()
            .map(|l| (l.clone(), st.incoming_level(l)))
            .unzip()
    };
    let entries: Vec<serde_json::Value> = links
        .iter()
        .zip(levels)
        .map(|(l, level)| {
            let inbound: Vec<&str> = match level {
                Level::Disabled => vec![],
                Level::ThreeLoOnly => vec![providers::OAUTH],
                Level::Default => vec![providers::OAUTH, providers::TWO_LO],
                Level::Impersonation => {
                    vec![providers::OAUTH, providers::TWO_LO, providers::TWO_LO_I]
                }
            };
            let outbound = provider_set(l);
            json!({
                "application": link_json(&app, &ver.0, l),
                "configuredInboundAuthenticators": inbound,
                "configuredOutboundAuthenticators": outbound,
                "hasIncomingAuthenticationProviders": !inbound.is_empty(),
                "hasOutgoingAuthenticationProviders": !outbound.is_empty(),
                "webItems": [], "webPanels": [], "isSystem": l.system,
                "entityTypeIdStrings": [format!("{}.project", l.type_id)],
            })
        })
        .collect();
    let x = El::new("list").children(links.iter().map(|l| {
        El::new("linkAndAuthProviderEntity")
            .child(link_xml(&app, &ver.0, l, "application"))
            .leaf("isSystem", l.system)
    }));
    Ok(negotiated(fmt, StatusCode::OK, json!({"list": entries}), x))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RelocateQuery {
    new_url: Option<String>,
    #[serde(default)]
    nowarning: Option<String>,
}

/// `POST relocateApplicationlink/{id}?newUrl=&nowarning=` (sysadmin, local link only).
pub async fn relocate(
    State(app): State<Arc<App>>,
    fmt: Fmt,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<RelocateQuery>,
) -> ApiResult {
    caller.require_sysadmin(fmt)?;
    let uid = parse_id(&id)
        .ok_or_else(|| ApiError::status(fmt, 404, format!("No application link with id {id}")))?;
    let link = app
        .state
        .lock()
        .expect("state")
        .link(&uid)
        .cloned()
        .ok_or_else(|| ApiError::status(fmt, 404, format!("No application link with id {id}")))?;
    let new_url = q.new_url.filter(|u| is_absolute_http(u)).ok_or_else(|| {
        ApiError::list_field(fmt, 400, "newUrl must be an absolute URL", "newUrl")
    })?;
    let new_url = new_url.trim_end_matches('/').to_string();
    let nowarning = q.nowarning.as_deref() == Some("true");
    let display = match app.fetch_manifest(&new_url).await {
        Ok(m) => {
            if m.type_id.as_deref().is_some_and(|t| t != link.type_id) {
                return Err(ApiError::list(
                    fmt,
                    400,
                    format!(
                        "The application at {new_url} is of type {}, not {}",
                        m.type_id.unwrap_or_default(),
                        link.type_id
                    ),
                ));
            }
            m.url.unwrap_or_else(|| new_url.clone())
        }
        Err(e) if !nowarning => {
            return Err(ApiError::list(
                fmt,
                409,
                format!(
                    "No response from {new_url} ({e}); resubmit with nowarning=true to relocate anyway"
                ),
            ));
        }
        Err(_) => new_url.clone(),
    };
    let mut st = app.state.lock().expect("state");
    if let Some(l) = st.persisted.links.get_mut(&uid) {
        l.rpc_url = new_url;
        l.display_url = display;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
