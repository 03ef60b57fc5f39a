//! Application-link CRUD: v1 (`1.0/applicationlink`), v2 (`2.0`/`3.0`/`latest`) and V3
//! (`3.0/applinks`) (docs/simulator.md#link-resources).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::{Method, StatusCode, request::Parts};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

pub(super) use super::rules::is_absolute_http;
use super::rules::{self, Change, Line, Refusal};
use crate::app::App;
use crate::gate::auth::Caller;
use crate::peer::{PeerAuth, PeerRequest};
use crate::product::KNOWN_TYPE_IDS;
use crate::store::{Link, Lookup};
use crate::wire::keys::url_uuid;
use crate::wire::model::{Href, LinkEntityIn, StatusEnv, parse_xml_or_json};
use crate::wire::respond::{ApiError, ApiResult, Fmt, negotiated, status_env};
use crate::wire::xml::El;

/// The REST version segment of the request path (`1.0`, `2.0`, `3.0`, `latest`).
#[derive(Clone, Debug)]
pub struct ApiVersion(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ApiVersion {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // Nested routers see a stripped path; the version is in the original one.
        let uri = parts
            .extensions
            .get::<axum::extract::OriginalUri>()
            .map(|o| o.0.clone())
            .unwrap_or_else(|| parts.uri.clone());
        let v = uri.path().split('/').nth(3).unwrap_or("1.0").to_string();
        Ok(ApiVersion(v))
    }
}

pub fn parse_id(s: &str) -> Option<Uuid> {
    Uuid::parse_str(s).ok()
}

pub fn self_href(app: &App, ver: &str, id: &Uuid) -> String {
    app.url(&format!("/rest/applinks/{ver}/applicationlink/{id}"))
}

pub fn icon(app: &App, type_id: &str) -> String {
    app.url(&format!("/images/16{type_id}.png"))
}

/// Classic `applicationLink` entity (docs/simulator.md#link-resources).
pub fn link_json(app: &App, ver: &str, l: &Link) -> Value {
    let mut v = json!({
        "link": [{"href": self_href(app, ver, &l.id), "rel": "self"}],
        "id": l.id.to_string(), "typeId": l.type_id, "name": l.name,
        "displayUrl": l.display_url,
        "iconUrl": icon(app, &l.type_id), "iconUri": icon(app, &l.type_id),
        "isPrimary": l.primary, "isSystem": l.system,
    });
    if !l.system {
        v["rpcUrl"] = json!(l.rpc_url);
    }
    v
}

pub fn link_xml(app: &App, ver: &str, l: &Link, root: &str) -> El {
    El::new(root)
        .child(
            Href {
                href: self_href(app, ver, &l.id),
                rel: "self".into(),
            }
            .xml(),
        )
        .leaf("id", l.id)
        .leaf("typeId", &l.type_id)
        .leaf("name", &l.name)
        .leaf("displayUrl", &l.display_url)
        .leaf("iconUrl", icon(app, &l.type_id))
        .leaf("iconUri", icon(app, &l.type_id))
        .opt_leaf("rpcUrl", (!l.system).then_some(&l.rpc_url))
        .leaf("isPrimary", l.primary)
        .leaf("isSystem", l.system)
}

fn link_response(app: &App, fmt: Fmt, ver: &str, l: &Link) -> Response {
    negotiated(
        fmt,
        StatusCode::OK,
        link_json(app, ver, l),
        link_xml(app, ver, l, "applicationLink"),
    )
}

fn list_response(app: &App, fmt: Fmt, ver: &str, links: &[Link]) -> Response {
    let j = json!({"applicationLinks": links.iter().map(|l| link_json(app, ver, l)).collect::<Vec<_>>()});
    let x = El::new("applicationLinks").children(
        links
            .iter()
            .map(|l| link_xml(app, ver, l, "applicationLinks")),
    );
    negotiated(fmt, StatusCode::OK, j, x)
}

fn parse_body(fmt: Fmt, body: &Bytes) -> Result<LinkEntityIn, ApiError> {
    parse_xml_or_json(body)
        .map_err(|e| ApiError::list(fmt, 400, format!("Invalid applicationLink entity: {e}")))
}

/// The `Status` of a create (201, `resources-created`) or an update (200, `resources-updated`).
fn status_of(app: &App, fmt: Fmt, ver: &str, id: &Uuid, created: bool) -> Response {
    let mut env = StatusEnv::new(if created { 201 } else { 200 });
    let href = Href {
        href: self_href(app, ver, id),
        rel: "self".into(),
    };
    if created {
        env.created.push(href);
    } else {
        env.updated.push(href);
    }
    status_env(fmt, env)
}

/// A link by id as the classic resources find it: 400 for an id without its properties, 404
/// for an unknown or malformed one.
fn find_classic(app: &App, fmt: Fmt, id: &str) -> Result<Link, ApiError> {
    let uid = parse_id(id).ok_or_else(|| not_found(fmt, id))?;
    match app.state.lock().expect("state").lookup(&uid) {
        Lookup::Found(l) => Ok(*l),
        Lookup::Corrupted => Err(type_not_installed(fmt)),
        Lookup::Missing => Err(not_found(fmt, id)),
    }
}

pub fn not_found(fmt: Fmt, id: &str) -> ApiError {
    ApiError::status(fmt, 404, format!("No application link with id {id}"))
}

/// What the classic resources answer for an id registered without its properties: the
/// `TypeNotInstalledException` mapper's 400 (docs/simulator.md#type-ids).
pub fn type_not_installed(fmt: Fmt) -> ApiError {
    ApiError::list(
        fmt,
        400,
        "The application type unknown is not installed (applinks.type.not.installed)",
    )
}

/// The classic by-id GET of an id the application does not hold: the resource renders a null
/// link and fails with a NullPointerException (docs/simulator.md#link-resources).
fn null_link_error(fmt: Fmt) -> ApiError {
    ApiError::status(
        fmt,
        500,
        "java.lang.NullPointerException: Cannot invoke \"com.atlassian.applinks.api.ApplicationLink.getId()\" because \"applicationLink\" is null",
    )
}

/// The classic lines' update (v1 PUT of a known id, v2 POST): name, displayUrl, primary; the
/// rules are `rules.rs`'s.
fn apply_update(
    app: &App,
    fmt: Fmt,
    caller: &Caller,
    id: &Uuid,
    e: &LinkEntityIn,
) -> Result<(), ApiError> {
    let mut st = app.state.lock().expect("state");
    let link = st
        .link(id)
        .cloned()
        .ok_or_else(|| not_found(fmt, &id.to_string()))?;
    let change = Change {
        name: e.name.clone(),
        rpc_url: e.rpc_url.clone(),
        display_url: e.display_url.clone(),
        primary: e.is_primary,
    };
    rules::check(&st, &link, &change, Line::Classic, caller.is_sysadmin()).map_err(|r| match r {
        Refusal::SystemLink => ApiError::status(
            fmt,
            403,
            "Only system administrators may edit system links",
        ),
        Refusal::RpcUrlFixed => ApiError::list_field(
            fmt,
            400,
            "The RPC URL of an application link cannot be updated (applinks.error.cannot.update.rpcurl)",
            "rpcUrl",
        ),
        _ => ApiError::list_field(
            fmt,
            400,
            format!(
                "An application link named '{}' already exists",
                change.name.as_deref().unwrap_or_default()
            ),
            "name",
        ),
    })?;
    // The RPC URL is fixed on these lines: the check above allows only the same one.
    rules::apply(
        &mut st,
        id,
        Change {
            rpc_url: None,
            ..change
        },
    );
    Ok(())
}

/// The RPC URL of a classic create body, which must be absolute.
pub(super) fn required_rpc_url(fmt: Fmt, e: &LinkEntityIn) -> Result<String, ApiError> {
    e.rpc_url
        .clone()
        .filter(|u| is_absolute_http(u))
        .ok_or_else(|| ApiError::list_field(fmt, 400, "rpcUrl must be an absolute URL", "rpcUrl"))
}

fn parse_entity_id(fmt: Fmt, s: &str) -> Result<Uuid, ApiError> {
    parse_id(s).ok_or_else(|| ApiError::list(fmt, 400, format!("Invalid application id {s}")))
}

/// Creates a link from a classic body (display URL defaults to the RPC URL) and answers 201.
fn create_from_entity(
    app: &App,
    fmt: Fmt,
    ver: &str,
    e: &LinkEntityIn,
    new: (Uuid, &str, &str, &str),
) -> ApiResult {
    let (id, type_id, name, rpc) = new;
    let display = e.display_url.clone().unwrap_or_else(|| rpc.to_string());
    let mut link = new_link(id, type_id, name, rpc, &display);
    link.primary = e.is_primary.unwrap_or(false);
    create_link(app, fmt, link)?;
    Ok(status_of(app, fmt, ver, &id, true))
}

/// Validates and inserts a new link. Only a taken id is refused; a taken name is replaced by
/// "Name - 2", "Name - 3", … (docs/simulator.md#link-names). Returns the stored name.
pub fn create_link(app: &App, fmt: Fmt, mut link: Link) -> Result<String, ApiError> {
    if !KNOWN_TYPE_IDS.contains(&link.type_id.as_str()) {
        return Err(ApiError::list_field(
            fmt,
            400,
            format!("No type with id {} installed", link.type_id),
            "typeId",
        ));
    }
    let mut st = app.state.lock().expect("state");
    match st.lookup(&link.id) {
        Lookup::Corrupted => return Err(type_not_installed(fmt)),
        Lookup::Found(_) => {
            return Err(ApiError::list(
                fmt,
                400,
                format!(
                    "An application link with id {} already exists (applinks.error.duplicate.url)",
                    link.id
                ),
            ));
        }
        Lookup::Missing => {}
    }
    link.name = st.suitable_name(&link.name);
    let name = link.name.clone();
    let primary = link.primary;
    let (t, id) = (link.type_id.clone(), link.id);
    st.insert_link(link);
    if primary {
        st.set_primary_flag(&t, id);
    }
    Ok(name)
}

pub fn new_link(id: Uuid, type_id: &str, name: &str, rpc_url: &str, display_url: &str) -> Link {
    Link {
        id,
        type_id: type_id.into(),
        name: name.into(),
        display_url: display_url.into(),
        rpc_url: rpc_url.trim_end_matches('/').into(),
        primary: false,
        system: false,
        incoming_key: None,
        incoming: None,
        outgoing: BTreeMap::new(),
        outgoing_hmac: None,
        allowlist_rule_id: 0,
    }
}

pub async fn list(
    State(app): State<Arc<App>>,
    fmt: Fmt,
    caller: Caller,
    ver: ApiVersion,
) -> ApiResult {
    caller.require_admin(fmt)?;
    Ok(list_response(&app, fmt, &ver.0, &app.links_where(|_| true)))
}

pub async fn get_one(
    State(app): State<Arc<App>>,
    fmt: Fmt,
    caller: Caller,
    ver: ApiVersion,
    Path(id): Path<String>,
) -> ApiResult {
    caller.require_admin(fmt)?;
    let found = parse_id(&id).map(|u| app.state.lock().expect("state").lookup(&u));
    match found {
        Some(Lookup::Found(link)) => Ok(link_response(&app, fmt, &ver.0, &link)),
        Some(Lookup::Corrupted) => Err(type_not_installed(fmt)),
        _ => Err(null_link_error(fmt)),
    }
}

pub async fn list_type(
    State(app): State<Arc<App>>,
    fmt: Fmt,
    caller: Caller,
    ver: ApiVersion,
    Path(t): Path<String>,
) -> ApiResult {
    caller.require_admin(fmt)?;
    if !KNOWN_TYPE_IDS.contains(&t.as_str()) {
        return Err(ApiError::list(
            fmt,
            400,
            format!("No type with id {t} installed"),
        ));
    }
    let links = app.links_where(|l| l.type_id == t);
    Ok(list_response(&app, fmt, &ver.0, &links))
}

pub async fn get_primary(
    State(app): State<Arc<App>>,
    fmt: Fmt,
    caller: Caller,
    ver: ApiVersion,
    Path(t): Path<String>,
) -> ApiResult {
    caller.require_admin(fmt)?;
    match app.links_where(|l| l.type_id == t && l.primary).pop() {
        Some(l) => Ok(link_response(&app, fmt, &ver.0, &l)),
        None => Err(ApiError::status(
            fmt,
            404,
            format!("No primary link of type {t}"),
        )),
    }
}

pub async fn make_primary(
    State(app): State<Arc<App>>,
    fmt: Fmt,
    caller: Caller,
    ver: ApiVersion,
    Path(id): Path<String>,
) -> ApiResult {
    caller.require_admin(fmt)?;
    let link = find_classic(&app, fmt, &id)?;
    app.state
        .lock()
        .expect("state")
        .set_primary_flag(&link.type_id, link.id);
    Ok(status_of(&app, fmt, &ver.0, &link.id, false))
}

/// v1 `PUT applicationlink/{id}`: create-or-update, after fetching the manifest at rpcUrl.
pub async fn v1_put(
    State(app): State<Arc<App>>,
    fmt: Fmt,
    caller: Caller,
    ver: ApiVersion,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    caller.require_admin(fmt)?;
    let e = parse_body(fmt, &body)?;
    let rpc = required_rpc_url(fmt, &e)?;
    let path_id = parse_entity_id(fmt, &id)?;
    let manifest = app.fetch_manifest(&rpc).await.map_err(|err| {
        ApiError::list(
            fmt,
            400,
            format!("The application at {rpc} is not reachable: {err}"),
        )
    })?;
    let exists = match app.state.lock().expect("state").lookup(&path_id) {
        Lookup::Corrupted => return Err(type_not_installed(fmt)),
        Lookup::Found(_) => true,
        Lookup::Missing => false,
    };
    if exists {
        apply_update(&app, fmt, &caller, &path_id, &e)?;
        return Ok(status_of(&app, fmt, &ver.0, &path_id, false));
    }
    let new_id = match e.id.as_deref() {
        Some(s) => parse_entity_id(fmt, s)?,
        None => path_id,
    };
    let type_id = e
        .type_id
        .clone()
        .or(manifest.type_id.clone())
        .unwrap_or_else(|| "generic".into());
    let name = e
        .name
        .clone()
        .or(manifest.name.clone())
        .unwrap_or_else(|| rpc.clone());
    create_from_entity(&app, fmt, &ver.0, &e, (new_id, &type_id, &name, &rpc))
}

/// v2 `PUT applicationlink`: create without contacting the remote (docs/simulator.md#link-resources).
pub async fn v2_create(
    State(app): State<Arc<App>>,
    fmt: Fmt,
    caller: Caller,
    ver: ApiVersion,
    body: Bytes,
) -> ApiResult {
    caller.require_admin(fmt)?;
    let e = parse_body(fmt, &body)?;
    let rpc = required_rpc_url(fmt, &e)?;
    let type_id = e
        .type_id
        .clone()
        .ok_or_else(|| ApiError::list_field(fmt, 400, "typeId is required", "typeId"))?;
    let name = e
        .name
        .clone()
        .ok_or_else(|| ApiError::list_field(fmt, 400, "name is required", "name"))?;
    let id = match e.id.as_deref().filter(|s| !s.is_empty()) {
        Some(s) if type_id != "generic" => parse_entity_id(fmt, s)?,
        _ => url_uuid(&rpc),
    };
    create_from_entity(&app, fmt, &ver.0, &e, (id, &type_id, &name, &rpc))
}

/// v2 `POST applicationlink/{id}`: update without a manifest check.
pub async fn v2_update(
    State(app): State<Arc<App>>,
    fmt: Fmt,
    caller: Caller,
    ver: ApiVersion,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    caller.require_admin(fmt)?;
    let e = parse_body(fmt, &body)?;
    let uid = parse_id(&id)
        .ok_or_else(|| ApiError::list(fmt, 400, format!("No application link with id {id}")))?;
    if app.state.lock().expect("state").link(&uid).is_none() {
        return Err(ApiError::list(
            fmt,
            400,
            format!("No application link with id {id}"),
        ));
    }
    apply_update(&app, fmt, &caller, &uid, &e)?;
    Ok(status_of(&app, fmt, &ver.0, &uid, false))
}

#[derive(Deserialize)]
pub struct DeleteQuery {
    #[serde(default)]
    reciprocate: Option<String>,
}

/// `DELETE applicationlink/{id}[?reciprocate=true]` (docs/simulator.md#link-resources).
pub async fn delete(
    State(app): State<Arc<App>>,
    fmt: Fmt,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<DeleteQuery>,
) -> ApiResult {
    let user = caller.require_admin(fmt)?.clone();
    let link = find_classic(&app, fmt, &id)?;
    let uid = link.id;
    if link.system && !caller.is_sysadmin() {
        return Err(ApiError::status(
            fmt,
            403,
            "Only system administrators may delete system links",
        ));
    }
    if q.reciprocate.as_deref() == Some("true") {
        reciprocal_delete(&app, fmt, &link, &user.username).await?;
    }
    app.state.lock().expect("state").remove_link(&uid);
    Ok(status_env(
        fmt,
        StatusEnv::message(200, format!("Deleted application with id '{uid}'")),
    ))
}

/// Deletes our link on the remote through the link's own outgoing authentication (not Basic).
async fn reciprocal_delete(
    app: &App,
    fmt: Fmt,
    link: &Link,
    username: &str,
) -> Result<(), ApiError> {
    let auth = match link.outgoing_level() {
        crate::wire::model::Level::Impersonation => PeerAuth::TwoLoI(username.to_string()),
        crate::wire::model::Level::Default => PeerAuth::TwoLo,
        crate::wire::model::Level::ThreeLoOnly => {
            return Err(ApiError::status(
                fmt,
                401,
                "Credentials are required to delete the link on the remote application",
            ));
        }
        crate::wire::model::Level::Disabled => PeerAuth::None,
    };
    let url = format!(
        "{}/rest/applinks/1.0/applicationlink/{}?reciprocate=false",
        link.rpc_url.trim_end_matches('/'),
        app.ident.id
    );
    let resp = app
        .call(PeerRequest::new(Method::DELETE, url).auth(auth).no_check())
        .await
        .map_err(|e| ApiError::status(fmt, 500, format!("applinks.remote.delete.failed: {e}")))?;
    match resp.status.as_u16() {
        200 => Ok(()),
        401 => Err(ApiError::status(
            fmt,
            401,
            "Credentials are required to delete the link on the remote application",
        )),
        s => Err(ApiError::status(
            fmt,
            500,
            format!("applinks.remote.delete.failed: remote answered {s}"),
        )),
    }
}
