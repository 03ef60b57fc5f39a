//! v2 `applicationlink/{id}/authentication/provider`: outgoing authentication providers
//! (docs/simulator.md#oauth-configuration).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::app::App;
use crate::applinks::links::{not_found, parse_id};
use crate::gate::auth::Caller;
use crate::product::providers;
use crate::store::Link;
use crate::wire::model::{Href, StatusEnv, parse_xml_or_json};
use crate::wire::respond::{ApiError, ApiResult, Fmt, negotiated, status_env};
use crate::wire::xml::El;

fn provider_entry(app: &App, link: &Link, class: &str, config: &BTreeMap<String, String>) -> Value {
    json!({
        "module": format!("applinks-{}", class.rsplit('.').next().unwrap_or(class)),
        "provider": class,
        "config": config,
        "link": [{"href": app.url(&format!("/rest/applinks/2.0/applicationlink/{}/authentication/provider", link.id)), "rel": "self"}],
    })
}

pub async fn providers_get(
    State(app): State<Arc<App>>,
    fmt: Fmt,
    caller: Caller,
    Path(params): Path<Vec<(String, String)>>,
) -> ApiResult {
    caller.require_admin(fmt)?;
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let id = get("id").unwrap_or_default();
    let filter = get("provider");
    let link = parse_id(&id)
        .and_then(|u| app.state.lock().expect("state").link(&u).cloned())
        .ok_or_else(|| not_found(fmt, &id))?;
    let list: Vec<Value> = link
        .outgoing
        .iter()
        .filter(|(c, _)| filter.as_ref().is_none_or(|f| f == *c))
        .map(|(c, cfg)| provider_entry(&app, &link, c, cfg))
        .collect();
    let x = El::new("authenticationProviders").children(list.iter().map(|p| {
        El::new("authenticationProvider")
            .leaf("module", p["module"].as_str().unwrap_or(""))
            .leaf("provider", p["provider"].as_str().unwrap_or(""))
    }));
    Ok(negotiated(fmt, StatusCode::OK, json!(list), x))
}

#[derive(Deserialize)]
pub struct ProviderBody {
    provider: Option<String>,
    #[serde(default)]
    config: BTreeMap<String, String>,
}

pub async fn providers_put(
    State(app): State<Arc<App>>,
    fmt: Fmt,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    caller.require_admin(fmt)?;
    let b: ProviderBody = parse_xml_or_json(&body)
        .map_err(|e| ApiError::list(fmt, 400, format!("Invalid body: {e}")))?;
    let class = b
        .provider
        .ok_or_else(|| ApiError::list_field(fmt, 400, "provider is required", "provider"))?;
    if !providers::ALL.contains(&class.as_str()) {
        return Err(ApiError::list_field(
            fmt,
            400,
            format!("Unknown authentication provider {class}"),
            "provider",
        ));
    }
    if class == providers::TWO_LO_I && (!caller.is_sysadmin() || app.is_cloud()) {
        return Err(ApiError::list(
            fmt,
            400,
            "2-legged OAuth with impersonation requires a system administrator",
        ));
    }
    let uid = parse_id(&id).ok_or_else(|| not_found(fmt, &id))?;
    let mut st = app.state.lock().expect("state");
    let link = st
        .persisted
        .links
        .get_mut(&uid)
        .ok_or_else(|| not_found(fmt, &id))?;
    link.outgoing.insert(class, b.config);
    drop(st);
    let mut env = StatusEnv::new(201);
    env.created.push(Href {
        href: app.url(&format!(
            "/rest/applinks/2.0/applicationlink/{uid}/authentication/provider"
        )),
        rel: "self".into(),
    });
    Ok(status_env(fmt, env))
}
