//! V3 `3.0/applinks` resource: JSON only, admin checked in the service (§1.4.4).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::app::App;
use crate::auth::Caller;
use crate::links::{icon, is_absolute_http, parse_id};
use crate::product::is_atlassian_type;
use crate::respond::{ApiError, ApiResult, json_response};
use crate::state::{Link, Lookup};

#[derive(Deserialize, Default)]
pub struct V3Query {
    #[serde(default)]
    property: Vec<String>,
    #[serde(default)]
    data: Vec<String>,
}

fn v3_query(raw: Option<&str>) -> V3Query {
    let mut q = V3Query::default();
    for (k, v) in crate::oauth::form_pairs(raw.unwrap_or("")) {
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
    let links: Vec<Link> = app
        .state
        .lock()
        .expect("state")
        .persisted
        .links
        .values()
        .cloned()
        .collect();
    let list: Vec<Value> = links.iter().map(|l| v3_json(&app, l, Some(&q))).collect();
    Ok(json_response(StatusCode::OK, &json!(list)))
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

/// A V3 validation error: the human summary with the applinks error key, and the field.
fn invalid(field: &str, summary: String, key: &str) -> ApiError {
    ApiError::V3Field(400, format!("{summary} ({key})"), field.to_string())
}

fn same_url(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
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

/// V3 `PUT applinks/{id}`: updates including rpcUrl, with no reachability check (§1.4.4).
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
    if l.system {
        return Err(ApiError::v3(
            400,
            "System application links cannot be updated (applinks.service.error.validation.applink.system)",
        ));
    }
    for (field, u) in [("rpcUrl", &b.rpc_url), ("displayUrl", &b.display_url)] {
        if let Some(u) = u
            && !is_absolute_http(u)
        {
            return Err(invalid(
                field,
                format!("{u} is not an absolute URL"),
                "applinks.service.error.validation.applink.url.absolute",
            ));
        }
    }
    let mut st = app.state.lock().expect("state");
    for other in st.persisted.links.values().filter(|o| o.id != l.id) {
        if b.name.as_deref() == Some(other.name.as_str()) {
            return Err(invalid(
                "name",
                format!(
                    "Another application link already has the name '{}'",
                    other.name
                ),
                "applinks.service.error.validation.applink.duplicate.name",
            ));
        }
        if b.rpc_url
            .as_deref()
            .is_some_and(|u| same_url(u, &other.rpc_url))
        {
            return Err(invalid(
                "rpcUrl",
                format!(
                    "Another application link ('{}') already uses this RPC URL",
                    other.name
                ),
                "applinks.service.error.validation.applink.duplicate.rpcUrl",
            ));
        }
        if b.display_url
            .as_deref()
            .is_some_and(|u| same_url(u, &other.display_url))
        {
            return Err(invalid(
                "displayUrl",
                format!(
                    "Another application link ('{}') already uses this display URL",
                    other.name
                ),
                "applinks.service.error.validation.applink.duplicate.displayUrl",
            ));
        }
    }
    let link = st.persisted.links.get_mut(&l.id).expect("found above");
    if let Some(n) = b.name {
        link.name = n;
    }
    if let Some(r) = b.rpc_url {
        link.rpc_url = r.trim_end_matches('/').to_string();
    }
    if let Some(d) = b.display_url {
        link.display_url = d;
    }
    if b.primary == Some(true) {
        let t = link.type_id.clone();
        st.set_primary_flag(&t, l.id);
    }
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
