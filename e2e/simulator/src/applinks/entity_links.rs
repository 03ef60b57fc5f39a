//! Entity links (`entitylink/…`) and the local entities (`entities`), classic resources of every
//! applinks version (docs/simulator.md#entity-links).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::app::App;
use crate::gate::auth::Caller;
use crate::product::Product;
use crate::store::{EntityLink, Lookup};
use crate::wire::model::{StatusEnv, parse_xml_or_json};
use crate::wire::respond::{ApiError, ApiResult, Fmt, negotiated, status_env};
use crate::wire::xml::El;

/// Entity types an Atlassian server has installed (`*EntityTypeImpl`): a remote type outside
/// this list is refused like an unknown application type.
const ENTITY_TYPES: &[&str] = &[
    "jira.project",
    "confluence.space",
    "stash.project",
    "bitbucket.project",
    "bamboo.project",
    "fecru.project",
    "fecru.repository",
    "generic.entity",
    "refapp.charlie",
];

/// The entity types this product hosts (its projects, spaces, repositories).
fn local_types(product: Product) -> &'static [&'static str] {
    match product {
        Product::Jira | Product::JiraCloud => &["jira.project"],
        Product::Confluence | Product::ConfluenceCloud => &["confluence.space"],
        Product::Bitbucket | Product::BitbucketCloud => &["stash.project"],
        Product::Bamboo => &["bamboo.project"],
        Product::Fisheye | Product::Crucible => &["fecru.project", "fecru.repository"],
        Product::Generic => &[],
    }
}

pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/entities", get(local_entities))
        .route(
            "/entitylink/localEntitiesWithLinksTo/{id}",
            get(linked_to_application),
        )
        .route("/entitylink/list/{type}/{key}", get(list))
        .route("/entitylink/primaryLinks/{type}/{key}", get(primary_links))
        .route(
            "/entitylink/primary/{type}/{key}",
            get(get_primary).post(make_primary),
        )
        .route(
            "/entitylink/{type}/{key}",
            axum::routing::put(create).delete(delete),
        )
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct Remote {
    #[serde(default)]
    type_id: Option<String>,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    application_id: Option<String>,
    #[serde(default)]
    reciprocate: Option<String>,
}

/// Body of a create (`EntityLinkEntity`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct EntityIn {
    application_id: String,
    type_id: String,
    key: String,
    #[serde(default)]
    name: Option<String>,
}

fn entity_json(e: &EntityLink) -> Value {
    json!({
        "applicationId": e.application_id.to_string(), "typeId": e.type_id, "key": e.key,
        "name": e.name, "isPrimary": e.primary,
    })
}

fn entity_xml(e: &EntityLink, root: &str) -> El {
    El::new(root)
        .leaf("applicationId", e.application_id)
        .leaf("typeId", &e.type_id)
        .leaf("key", &e.key)
        .leaf("name", &e.name)
        .leaf("isPrimary", e.primary)
}

fn entity_list(fmt: Fmt, list: &[EntityLink]) -> axum::response::Response {
    let j = json!({"entity": list.iter().map(entity_json).collect::<Vec<_>>()});
    let x = El::new("entities").children(list.iter().map(|e| entity_xml(e, "entity")));
    negotiated(fmt, StatusCode::OK, j, x)
}

/// `ReferenceEntityList`: local entities as attributes of `entity` elements.
fn references(fmt: Fmt, refs: &[(String, String)]) -> Response {
    let j = json!({"entity": refs.iter().map(|(t, k)| json!({"key": k, "name": k, "typeId": t})).collect::<Vec<_>>()});
    let x = El::new("entities").children(refs.iter().map(|(t, k)| {
        El::new("entity")
            .attr("key", k)
            .attr("name", k)
            .attr("typeId", t)
    }));
    negotiated(fmt, StatusCode::OK, j, x)
}

fn type_not_installed(fmt: Fmt, type_id: &str) -> ApiError {
    ApiError::list(fmt, 400, format!("No type with id {type_id} installed"))
}

/// The local entity type, and the permission to manage its entity links: administrators only
/// here (the products also let project and space administrators, who are not simulated).
fn local(app: &App, fmt: Fmt, caller: &Caller, type_id: &str, key: &str) -> Result<(), ApiError> {
    if !ENTITY_TYPES.contains(&type_id) {
        return Err(type_not_installed(fmt, type_id));
    }
    let admin = caller.require_admin(fmt).is_ok();
    if !admin || !local_types(app.cfg.product).contains(&type_id) {
        return Err(ApiError::status(
            fmt,
            401,
            format!(
                "You are not authorized to create a link for entity  with key '{key}' and type '{type_id}'"
            ),
        ));
    }
    Ok(())
}

fn remote_type(fmt: Fmt, t: Option<&str>) -> Result<Option<String>, ApiError> {
    match t {
        Some(t) if !ENTITY_TYPES.contains(&t) => Err(type_not_installed(fmt, t)),
        t => Ok(t.map(str::to_string)),
    }
}

/// The three query parameters naming one remote entity over one link.
fn named(fmt: Fmt, q: &Remote) -> Result<(String, String, Uuid), ApiError> {
    let missing = |p: &str| ApiError::list(fmt, 400, format!("Parameter '{p}' is mandatory"));
    let t = remote_type(fmt, q.type_id.as_deref())?.ok_or_else(|| missing("typeId"))?;
    let k = q.key.clone().ok_or_else(|| missing("key"))?;
    let a = q
        .application_id
        .as_deref()
        .ok_or_else(|| missing("applicationId"))?;
    let a = Uuid::parse_str(a).map_err(|_| missing("applicationId"))?;
    Ok((t, k, a))
}

fn not_found(fmt: Fmt, local: (&str, &str), remote: (&str, &str), app_id: &Uuid) -> ApiError {
    ApiError::status(
        fmt,
        404,
        format!(
            "Couldn't find link to {}:{} ({app_id}) from local entity {}:{}",
            remote.0, remote.1, local.0, local.1
        ),
    )
}

/// `GET entities`: the local entities (anonymous). The simulator's entities are those that
/// carry an entity link.
async fn local_entities(State(app): State<Arc<App>>, fmt: Fmt) -> Response {
    let st = app.state.lock().expect("state");
    let mut refs: Vec<(String, String)> = st
        .persisted
        .entity_links
        .0
        .iter()
        .map(|e| (e.local_type.clone(), e.local_key.clone()))
        .collect();
    refs.sort();
    refs.dedup();
    references(fmt, &refs)
}

/// `GET entitylink/localEntitiesWithLinksTo/{applinkId}`: the local entities with an entity
/// link over that application link.
async fn linked_to_application(
    State(app): State<Arc<App>>,
    fmt: Fmt,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    caller.require_user(fmt)?;
    let id = Uuid::parse_str(&id)
        .map_err(|_| ApiError::list(fmt, 400, format!("Invalid application id {id}")))?;
    let refs = app
        .state
        .lock()
        .expect("state")
        .persisted
        .entity_links
        .local_entities_linked_to(&id);
    Ok(references(fmt, &refs))
}

/// `GET entitylink/list/{type}/{key}[?typeId=]`.
async fn list(
    State(app): State<Arc<App>>,
    fmt: Fmt,
    caller: Caller,
    Path((t, k)): Path<(String, String)>,
    Query(q): Query<Remote>,
) -> ApiResult {
    local(&app, fmt, &caller, &t, &k)?;
    let remote = remote_type(fmt, q.type_id.as_deref())?;
    let mut out = app
        .state
        .lock()
        .expect("state")
        .persisted
        .entity_links
        .of_entity(&t, &k);
    out.retain(|e| remote.as_deref().is_none_or(|r| e.type_id == r));
    Ok(entity_list(fmt, &out))
}

/// `GET entitylink/primaryLinks/{type}/{key}`: the entity links by remote type, primary first.
async fn primary_links(
    State(app): State<Arc<App>>,
    fmt: Fmt,
    caller: Caller,
    Path((t, k)): Path<(String, String)>,
) -> ApiResult {
    local(&app, fmt, &caller, &t, &k)?;
    let all = app
        .state
        .lock()
        .expect("state")
        .persisted
        .entity_links
        .of_entity(&t, &k);
    let mut map = serde_json::Map::new();
    for e in &all {
        let slot = map
            .entry(format!("applinks.{}", e.type_id))
            .or_insert_with(|| json!([]));
        slot.as_array_mut().expect("array").push(entity_json(e));
    }
    // JSON only: a map of lists has no XML form in the product either.
    Ok(crate::wire::respond::json_response(
        StatusCode::OK,
        &Value::Object(map),
    ))
}

/// `GET entitylink/primary/{type}/{key}[?typeId=]`.
async fn get_primary(
    State(app): State<Arc<App>>,
    fmt: Fmt,
    caller: Caller,
    Path((t, k)): Path<(String, String)>,
    Query(q): Query<Remote>,
) -> ApiResult {
    local(&app, fmt, &caller, &t, &k)?;
    let remote = remote_type(fmt, q.type_id.as_deref())?;
    let primaries: Vec<EntityLink> = app
        .state
        .lock()
        .expect("state")
        .persisted
        .entity_links
        .of_entity(&t, &k)
        .into_iter()
        .filter(|e| e.primary)
        .collect();
    match remote {
        None => Ok(entity_list(fmt, &primaries)),
        Some(r) => match primaries.iter().find(|e| e.type_id == r) {
            Some(e) => Ok(negotiated(
                fmt,
                StatusCode::OK,
                entity_json(e),
                entity_xml(e, "entityLink"),
            )),
            None => Err(ApiError::status(
                fmt,
                404,
                format!("No primary link of type {r} for local {t} {k} found."),
            )),
        },
    }
}

/// `POST entitylink/primary/{type}/{key}?typeId&key&applicationId`.
async fn make_primary(
    State(app): State<Arc<App>>,
    fmt: Fmt,
    caller: Caller,
    Path((t, k)): Path<(String, String)>,
    Query(q): Query<Remote>,
) -> ApiResult {
    local(&app, fmt, &caller, &t, &k)?;
    let (rt, rk, a) = named(fmt, &q)?;
    let mut st = app.state.lock().expect("state");
    let links = &mut st.persisted.entity_links;
    let target = links
        .find((&t, &k), &rt, &rk, &a)
        .cloned()
        .ok_or_else(|| not_found(fmt, (&t, &k), (&rt, &rk), &a))?;
    let e = links.make_primary(&target).expect("found above");
    Ok(negotiated(
        fmt,
        StatusCode::OK,
        entity_json(&e),
        entity_xml(&e, "entityLink"),
    ))
}

/// `PUT entitylink/{type}/{key}`: creates (or renames) an entity link over an existing
/// application link; 201 with the entity.
async fn create(
    State(app): State<Arc<App>>,
    fmt: Fmt,
    caller: Caller,
    Path((t, k)): Path<(String, String)>,
    Query(q): Query<Remote>,
    body: Bytes,
) -> ApiResult {
    let e: EntityIn = parse_xml_or_json(&body)
        .map_err(|err| ApiError::list(fmt, 400, format!("Invalid entityLink entity: {err}")))?;
    let app_id = Uuid::parse_str(&e.application_id).map_err(|_| {
        ApiError::status(
            fmt,
            404,
            format!("No application found for id {}", e.application_id),
        )
    })?;
    let mut st = app.state.lock().expect("state");
    match st.lookup(&app_id) {
        Lookup::Found(_) => {}
        Lookup::Corrupted => {
            return Err(ApiError::list(
                fmt,
                400,
                format!("Failed to load application {app_id} as the type is not installed"),
            ));
        }
        Lookup::Missing => {
            return Err(ApiError::status(
                fmt,
                404,
                format!("No application found for id {app_id}"),
            ));
        }
    }
    if !ENTITY_TYPES.contains(&t.as_str()) {
        return Err(type_not_installed(fmt, &t));
    }
    remote_type(fmt, Some(&e.type_id))?;
    local(&app, fmt, &caller, &t, &k)?;
    if q.reciprocate.as_deref() == Some("true") {
        return Err(ApiError::list(
            fmt,
            400,
            "reciprocate=true is not simulated: create each side's entity link on its own application",
        ));
    }
    let stored = st.persisted.entity_links.put(EntityLink {
        local_type: t,
        local_key: k,
        application_id: app_id,
        type_id: e.type_id,
        name: e.name.unwrap_or_else(|| e.key.clone()),
        key: e.key,
        primary: false,
    });
    Ok(negotiated(
        fmt,
        StatusCode::CREATED,
        entity_json(&stored),
        entity_xml(&stored, "entityLink"),
    ))
}

/// `DELETE entitylink/{type}/{key}?typeId&key&applicationId`: 200 `Status`, 404 when absent.
async fn delete(
    State(app): State<Arc<App>>,
    fmt: Fmt,
    caller: Caller,
    Path((t, k)): Path<(String, String)>,
    Query(q): Query<Remote>,
) -> ApiResult {
    let (rt, rk, a) = named(fmt, &q)?;
    local(&app, fmt, &caller, &t, &k)?;
    if q.reciprocate.as_deref() == Some("true") {
        return Err(ApiError::list(
            fmt,
            400,
            "reciprocate=true is not simulated: delete each side's entity link on its own application",
        ));
    }
    let mut st = app.state.lock().expect("state");
    let links = &mut st.persisted.entity_links;
    let target = links
        .find((&t, &k), &rt, &rk, &a)
        .cloned()
        .ok_or_else(|| not_found(fmt, (&t, &k), (&rt, &rk), &a))?;
    links.remove(&target);
    Ok(status_env(fmt, StatusEnv::new(200)))
}
