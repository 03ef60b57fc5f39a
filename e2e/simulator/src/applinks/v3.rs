//! V3 `3.0/applinks` resource: JSON only, admin checked in the service
//! (docs/simulator.md#link-resources).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::rules::{self, Change, Refusal};
use crate::app::App;
use crate::applinks::links::{icon, parse_id};
use crate::gate::auth::Caller;
use crate::product::is_atlassian_type;
use crate::store::{Link, Lookup};
use crate::wire::respond::{ApiError, ApiResult, json_response};

#[derive(Deserialize, Default)]
pub struct V3Query {
    #[serde(default)]
    property: Vec<String>,
    #[serde(default)]
    data: Vec<String>,
}

fn v3_query(raw: Option<&str>) -> V3Query {
    let mut q = V3Query::default();
    for (k, v) in crate::wire::oauth1::form_pairs(raw.unwrap_or("")) {
        match k.as_str() {
            "property" => q.property.push(v),
            "data" => q.data.push(v),
            _ => {}
        }
    }
    q
}

pub fn v3_json(app: &App, l: &Link, q: Option<&V3Query>) -> Value {
    let mut v = json!({
        "id": l.id.to_string(), "name": l.name, "displayUrl": l.display_url, "rpcUrl": l.rpc_url,
        "type": l.type_id, "system": l.system, "primary": l.primary,
    });
    if let Some(q) = q {
        let mut props = serde_json::Map::new();
        for p in &q.property {
            let val = match p.as_str() {
                "oauth.incoming.consumerkey" => l
                    .incoming_key
                    .as_ref()
                    .map(|k| json!(k))
                    .unwrap_or(Value::Null),
                _ => Value::Null,
            };
            props.insert(p.clone(), val);
        }
        let mut data = serde_json::Map::new();
        for d in &q.data {
            let val = match d.as_str() {
                "atlassian" => json!(is_atlassian_type(&l.type_id)),
                "configUrl" => json!(app.url(&format!("/plugins/servlet/applinks/edit/{}", l.id))),
                "editable" => json!(!l.system),
                "iconUri" => json!(icon(app, &l.type_id)),
                "webItems" => json!([]),
                _ => Value::Null,
            };
            data.insert(d.clone(), val);
        }
        v["properties"] = Value::Object(props);
        v["data"] = Value::Object(data);
    }
    v
}

pub async fn v3_list(
    State(app): State<Arc<App>>,
    caller: Caller,
    uri: axum::http::Uri,
) -> ApiResult {
    caller.require_admin_v3()?;
    let q = v3_query(uri.query());
    let links = app.links_where(|_| true);
    let mut list: Vec<Value> = links.iter().map(|l| v3_json(&app, l, Some(&q))).collect();
    list.extend(oauth2_client_entries(&app, &q));
    Ok(json_response(StatusCode::OK, &json!(list)))
}

/// The OAuth 2.0 provider's clients, which the V3 list shows as generic links (the `applinks.v4.ui`
/// feature, on by default): the client's id, its name, and the scheme and host (no port) of its
/// first redirect (docs/simulator.md#link-resources). They are not links: `applinks/{id}` does
/// not know them.
fn oauth2_client_entries(app: &App, q: &V3Query) -> Vec<Value> {
    let st = app.state.lock().expect("state");
    st.persisted
        .oauth2
        .clients
        .values()
        .map(|c| {
            let origin = c
                .redirects
                .first()
                .and_then(|r| url::Url::parse(r).ok())
                .map(|u| format!("{}://{}", u.scheme(), u.host_str().unwrap_or("")))
                .unwrap_or_default();
            let props: serde_json::Map<String, Value> = q
                .property
                .iter()
                .map(|p| (p.clone(), Value::Null))
                .collect();
            let data: serde_json::Map<String, Value> =
                q.data.iter().map(|d| (d.clone(), Value::Null)).collect();
            json!({
                "id": c.id, "name": c.name, "displayUrl": origin, "rpcUrl": origin,
                "type": "generic", "system": false, "primary": false,
                "properties": props, "data": data,
            })
        })
        .collect()
}

/// A readable link, else 404; an id without properties is a `NoSuchApplinkException` too.
pub fn v3_find(app: &App, id: &str) -> Result<Link, ApiError> {
    let found = parse_id(id).map(|u| app.state.lock().expect("state").lookup(&u));
    match found {
        Some(Lookup::Found(l)) => Ok(*l),
        Some(Lookup::Corrupted) => Err(ApiError::v3(
            404,
            format!(
                "The application link {id} has an application type that is not installed \
                 (applinks.service.error.nosuchentity.apptype)"
            ),
        )),
        _ => Err(ApiError::v3(
            404,
            format!("No application link with id {id}"),
        )),
    }
}

pub async fn v3_get(
    State(app): State<Arc<App>>,
    caller: Caller,
    uri: axum::http::Uri,
    Path(id): Path<String>,
) -> ApiResult {
    caller.require_admin_v3()?;
    let l = v3_find(&app, &id)?;
    let q = v3_query(uri.query());
    Ok(json_response(StatusCode::OK, &v3_json(&app, &l, Some(&q))))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct V3Update {
    name: Option<String>,
    rpc_url: Option<String>,
    display_url: Option<String>,
    primary: Option<bool>,
}

/// V3 `PUT applinks/{id}`: updates including rpcUrl, with no reachability check
/// (docs/simulator.md#link-resources).
pub async fn v3_put(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    caller.require_admin_v3()?;
    let b: V3Update = serde_json::from_slice(&body)
        .map_err(|e| ApiError::v3(400, format!("Invalid body: {e}")))?;
    let l = v3_find(&app, &id)?;
    let change = Change {
        name: b.name,
        rpc_url: b.rpc_url,
        display_url: b.display_url,
        primary: b.primary,
    };
    let mut st = app.state.lock().expect("state");
    let broken = rules::check_v3_all(&st, &l, &change);
    if !broken.is_empty() {
        // The products resolve each error key to its text: the keys are not in the body.
        let errors = broken
            .into_iter()
            .map(|r| match r {
                Refusal::SystemLink | Refusal::RpcUrlFixed => (
                    None,
                    "System application links cannot be updated".to_string(),
                ),
                Refusal::NotAbsolute { field, url } => (
                    Some(field.to_string()),
                    format!("{url} is not an absolute URL"),
                ),
                Refusal::NameTaken { other } => (
                    Some("name".into()),
                    format!("Another application link already has the name '{other}'"),
                ),
                Refusal::RpcUrlTaken { other } => (
                    Some("rpcUrl".into()),
                    format!("Another application link ('{other}') already uses this RPC URL"),
                ),
                Refusal::DisplayUrlTaken { other } => (
                    Some("displayUrl".into()),
                    format!("Another application link ('{other}') already uses this display URL"),
                ),
            })
            .collect();
        return Err(ApiError::V3Errors(400, errors));
    }
    rules::apply(&mut st, &l.id, change);
    let updated = st.link(&l.id).cloned().expect("exists");
    drop(st);
    Ok(json_response(
        StatusCode::OK,
        &v3_json(&app, &updated, None),
    ))
}

/// V3 `DELETE applinks/{id}`: local only, 204.
pub async fn v3_delete(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    caller.require_admin_v3()?;
    let l = v3_find(&app, &id)?;
    if l.system && !caller.is_sysadmin() {
        return Err(ApiError::v3(
            403,
            "System links can only be deleted by system administrators",
        ));
    }
    app.state.lock().expect("state").remove_link(&l.id);
    Ok(axum::response::IntoResponse::into_response(
        StatusCode::NO_CONTENT,
    ))
}
