//! Control API for tests: inspection, fault injection, stop/start listening, reset.
//! Mounted at `/_sim` on every app and at `/_sim/apps/{name}` on the optional control port.

pub(crate) mod faults;
pub(crate) mod oauth2;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::app::App;
use crate::store::{Faults, Persisted, RequestLog};
use crate::wire::respond::json_response;

/// A boxed future, so that `Listener` can be a trait object.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// The app's listening socket as the control API may drive it. The server implements it and
/// hands it to every request (an extension), so the app holds no socket and this module
/// imports nothing above it.
pub trait Listener: Send + Sync {
    fn start(self: Arc<Self>) -> BoxFuture<std::io::Result<()>>;
    fn stop(self: Arc<Self>) -> BoxFuture<()>;
    fn is_listening(self: Arc<Self>) -> BoxFuture<bool>;
}

pub type ListenerRef = Arc<dyn Listener>;

pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/state", get(state))
        .route("/links", get(links).post(create_link))
        .route(
            "/links/{id}",
            axum::routing::patch(patch_link).delete(delete_link),
        )
        .route("/log", get(log).delete(clear_log))
        .route(
            "/faults",
            get(get_faults)
                .put(put_faults)
                .patch(patch_faults)
                .delete(clear_faults),
        )
        .route("/links/{id}/corrupt", post(corrupt_link))
        .route("/settings", get(get_settings).patch(patch_settings))
        .route("/captcha", get(get_captcha).delete(clear_captcha))
        .route("/captcha/{user}", axum::routing::delete(clear_captcha_user))
        .route("/sessions", get(list_sessions).post(create_session))
        .route("/sessions/{id}", axum::routing::delete(delete_session))
        .route("/stop", post(stop))
        .route("/start", post(start))
        .route("/reset", post(reset))
        .merge(crate::control::oauth2::control_routes())
        .route("/tls", axum::routing::put(crate::control::faults::put_tls))
}

/// What scripts need to reach an app (also the entries of the ready file).
pub fn app_info(app: &App) -> Value {
    json!({
        "name": app.name(), "product": app.cfg.product, "typeId": app.type_id(),
        "id": app.ident.id.to_string(), "baseUrl": app.base_url, "port": app.port,
        "scheme": app.scheme, "consumerKey": app.ident.consumer_key,
        "displayName": app.ident.display_name, "version": app.ident.version,
        "applinksVersion": app.ident.applinks_version,
    })
}

/// A stored link with its consumer (from the application's store) and OAuth levels.
fn link_view(st: &crate::store::AppState, l: &crate::store::Link) -> Value {
    let (incoming, outgoing) = st.oauth_pair(l);
    let mut v = json!(l);
    v["incoming"] = json!(st.consumer_of(l));
    v["oauth"] = json!({"incoming": incoming, "outgoing": outgoing});
    v
}

async fn state(State(app): State<Arc<App>>, Extension(l): Extension<ListenerRef>) -> Response {
    let mut info = app_info(&app);
    let (links, corrupted, consumers, allowlist) = {
        let st = app.state.lock().expect("state");
        (
            st.persisted
                .links
                .values()
                .map(|l| link_view(&st, l))
                .collect::<Vec<_>>(),
            json!(st.persisted.corrupted),
            json!(st.persisted.consumers.values().collect::<Vec<_>>()),
            json!(st.persisted.allowlist),
        )
    };
    info["listening"] = json!(l.is_listening().await);
    info["links"] = json!(links);
    info["corruptedLinks"] = corrupted;
    info["consumers"] = consumers;
    info["allowlist"] = allowlist;
    info["settings"] = json!(app.settings());
    info["faults"] = json!(*app.faults.lock().expect("faults"));
    info["requestCounts"] = json!(app.log.lock().expect("log").counts);
    json_response(StatusCode::OK, &info)
}

async fn links(State(app): State<Arc<App>>) -> Response {
    let st = app.state.lock().expect("state");
    let list: Vec<Value> = st
        .persisted
        .links
        .values()
        .map(|l| link_view(&st, l))
        .collect();
    json_response(StatusCode::OK, &json!(list))
}

/// Merges fields into a stored link (e.g. `{"system": true}` or a new `rpcUrl`), bypassing
/// every validation of the REST API.
async fn patch_link(
    State(app): State<Arc<App>>,
    axum::extract::Path(id): axum::extract::Path<uuid::Uuid>,
    body: Bytes,
) -> Response {
    let patch: Value = match serde_json::from_slice(&body) {
        Ok(Value::Object(m)) => Value::Object(m),
        Ok(_) => return bad("expected a JSON object"),
        Err(e) => return bad(e),
    };
    let mut st = app.state.lock().expect("state");
    let Some(link) = st.persisted.links.get(&id) else {
        return json_response(
            StatusCode::NOT_FOUND,
            &json!({"error": format!("no link {id}")}),
        );
    };
    let mut current = json!(link);
    if let (Some(c), Some(p)) = (current.as_object_mut(), patch.as_object()) {
        for (k, v) in p {
            if k == "id" || !c.contains_key(k) {
                return bad(format!("cannot patch field {k}"));
            }
            c.insert(k.clone(), v.clone());
        }
    }
    match serde_json::from_value::<crate::store::Link>(current) {
        Ok(l) => {
            st.persisted.links.insert(id, l.clone());
            drop(st);
            app.persist();
            json_response(StatusCode::OK, &json!(l))
        }
        Err(e) => bad(e),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewLink {
    #[serde(default)]
    id: Option<uuid::Uuid>,
    type_id: String,
    name: String,
    rpc_url: String,
    #[serde(default)]
    display_url: Option<String>,
    #[serde(default)]
    primary: bool,
    #[serde(default)]
    system: bool,
    #[serde(default)]
    incoming: crate::wire::model::Level,
    #[serde(default)]
    outgoing: crate::wire::model::Level,
}

/// Creates a link without the REST API, as a cloud site's admin UI would (the cloud end can be
/// observed but not written through REST, docs/simulator.md#cloud). Incoming OAuth fetches the peer's consumer-info.
async fn create_link(State(app): State<Arc<App>>, body: Bytes) -> Response {
    let n: NewLink = match serde_json::from_slice(&body) {
        Ok(n) => n,
        Err(e) => return bad(e),
    };
    let id =
        n.id.unwrap_or_else(|| crate::wire::keys::url_uuid(&n.rpc_url));
    let display = n.display_url.clone().unwrap_or_else(|| n.rpc_url.clone());
    let mut link = crate::applinks::links::new_link(id, &n.type_id, &n.name, &n.rpc_url, &display);
    link.primary = n.primary;
    link.system = n.system;
    {
        let mut st = app.state.lock().expect("state");
        if st.persisted.links.contains_key(&id) || st.persisted.corrupted.contains(&id) {
            return json_response(
                StatusCode::CONFLICT,
                &json!({"error": format!("id {id} is taken")}),
            );
        }
        link.name = st.suitable_name(&link.name);
        let primary = link.primary;
        st.insert_link(link);
        if primary {
            st.set_primary_flag(&n.type_id, id);
        }
    }
    let pair = crate::wire::model::OAuthPair {
        incoming: n.incoming.cfg(),
        outgoing: n.outgoing.cfg(),
    };
    if let Err(e) = crate::applinks::status::apply_oauth(&app, id, pair).await {
        app.state.lock().expect("state").remove_link(&id);
        return axum::response::IntoResponse::into_response(e);
    }
    app.persist();
    let st = app.state.lock().expect("state");
    let view = st.link(&id).map(|l| link_view(&st, l)).unwrap_or_default();
    json_response(StatusCode::CREATED, &view)
}

/// Deletes a stored link (with its consumer) or an id registered without properties.
async fn delete_link(
    State(app): State<Arc<App>>,
    axum::extract::Path(id): axum::extract::Path<uuid::Uuid>,
) -> Response {
    let removed = {
        let mut st = app.state.lock().expect("state");
        st.remove_link(&id).is_some() | st.persisted.corrupted.remove(&id)
    };
    app.persist();
    match removed {
        true => StatusCode::NO_CONTENT.into_response(),
        false => json_response(
            StatusCode::NOT_FOUND,
            &json!({"error": format!("no link {id}")}),
        ),
    }
}

/// Leaves `id` registered with its properties gone, as a failed delete does (docs/simulator.md#link-resources): an
/// existing link loses its properties (and consumer), an unknown id is just registered.
async fn corrupt_link(
    State(app): State<Arc<App>>,
    axum::extract::Path(id): axum::extract::Path<uuid::Uuid>,
) -> Response {
    let had_link = {
        let mut st = app.state.lock().expect("state");
        let had = st.remove_link(&id).is_some();
        st.persisted.corrupted.insert(id);
        had
    };
    app.persist();
    json_response(
        StatusCode::OK,
        &json!({"id": id, "corrupted": true, "hadLink": had_link}),
    )
}

async fn get_settings(State(app): State<Arc<App>>) -> Response {
    json_response(StatusCode::OK, &settings_json(&app))
}

fn settings_json(app: &App) -> Value {
    let mut v = json!(app.settings());
    v["allowlist_base"] = json!(app.profile.allowlist_base);
    v["version"] = json!(app.ident.version);
    v["applinks_version"] = json!(app.ident.applinks_version);
    v["end_of_life"] = json!(app.profile.end_of_life);
    v
}

/// Merges fields into the runtime settings (`basic_auth`, `secure_admin_sessions`,
/// `websudo_exempts_tokens`, `captcha_after_failures`, `rate_limit`, `rest_line`).
/// Changing the rate limit refills every bucket.
async fn patch_settings(State(app): State<Arc<App>>, body: Bytes) -> Response {
    let patch: Value = match serde_json::from_slice(&body) {
        Ok(Value::Object(m)) => Value::Object(m),
        Ok(_) => return bad("expected a JSON object"),
        Err(e) => return bad(e),
    };
    let mut settings = app.settings.lock().expect("settings");
    let mut current = json!(*settings);
    if let (Some(c), Some(p)) = (current.as_object_mut(), patch.as_object()) {
        for (k, v) in p {
            let Some(slot) = c.get_mut(k) else {
                return bad(format!("unknown or start-time-only setting {k}"));
            };
            // The `oauth2` group merges field by field, so a patch of one lifetime keeps the
            // group's other fields (`rate_limit` is replaced whole, its omitted fields defaulted).
            if let (true, Some(inner), Some(vp)) =
                (k == "oauth2", slot.as_object_mut(), v.as_object())
            {
                for (ik, iv) in vp {
                    if !inner.contains_key(ik) {
                        return bad(format!("unknown setting {k}.{ik}"));
                    }
                    inner.insert(ik.clone(), iv.clone());
                }
            } else {
                *slot = v.clone();
            }
        }
    }
    match serde_json::from_value::<crate::profile::Settings>(current) {
        Ok(mut s) => {
            s.rate_limit = s.rate_limit.filter(|r| r.enabled);
            if s.rate_limit != settings.rate_limit {
                app.access.lock().expect("access").clear_rate_limits();
            }
            *settings = s;
            drop(settings);
            json_response(StatusCode::OK, &settings_json(&app))
        }
        Err(e) => bad(e),
    }
}

async fn get_captcha(State(app): State<Arc<App>>) -> Response {
    let settings = app.settings();
    let acc = app.access.lock().expect("access");
    let locked: Vec<&String> = acc
        .failures
        .keys()
        .filter(|u| acc.captcha_required(&settings, u))
        .collect();
    json_response(
        StatusCode::OK,
        &json!({"failures": acc.failures, "locked": locked}),
    )
}

/// Stands in for a person logging in through the browser and answering the CAPTCHA.
async fn clear_captcha(State(app): State<Arc<App>>) -> Response {
    app.access.lock().expect("access").failures.clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn clear_captcha_user(
    State(app): State<Arc<App>>,
    axum::extract::Path(user): axum::extract::Path<String>,
) -> Response {
    app.access.lock().expect("access").failures.remove(&user);
    StatusCode::NO_CONTENT.into_response()
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSession {
    username: String,
    #[serde(default)]
    attributes: Vec<String>,
}

async fn list_sessions(State(app): State<Arc<App>>) -> Response {
    json_response(
        StatusCode::OK,
        &json!(app.access.lock().expect("access").sessions),
    )
}

/// Creates an HTTP session for a user, with attributes such as `is.pats.enabled` (what would
/// let a Bearer request bypass WebSudo) or `websudo` (the user passed the WebSudo prompt).
async fn create_session(State(app): State<Arc<App>>, body: Bytes) -> Response {
    let n: NewSession = match serde_json::from_slice(&body) {
        Ok(n) => n,
        Err(e) => return bad(e),
    };
    if app.user(&n.username).is_none() {
        return bad(format!("unknown user {}", n.username));
    }
    let id = crate::wire::keys::random_token();
    app.access.lock().expect("access").sessions.insert(
        id.clone(),
        crate::store::Session {
            username: n.username,
            attributes: n.attributes.into_iter().collect(),
        },
    );
    json_response(
        StatusCode::CREATED,
        &json!({"id": id, "cookie": format!("{}={id}", crate::store::SESSION_COOKIE)}),
    )
}

async fn delete_session(
    State(app): State<Arc<App>>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    match app.access.lock().expect("access").sessions.remove(&id) {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => json_response(
            StatusCode::NOT_FOUND,
            &json!({"error": format!("no session {id}")}),
        ),
    }
}

async fn log(State(app): State<Arc<App>>) -> Response {
    let log = app.log.lock().expect("log");
    json_response(
        StatusCode::OK,
        &json!({"total": log.seq, "counts": log.counts, "entries": log.entries}),
    )
}

async fn clear_log(State(app): State<Arc<App>>) -> Response {
    *app.log.lock().expect("log") = RequestLog::default();
    StatusCode::NO_CONTENT.into_response()
}

async fn get_faults(State(app): State<Arc<App>>) -> Response {
    json_response(StatusCode::OK, &json!(*app.faults.lock().expect("faults")))
}

fn bad(e: impl std::fmt::Display) -> Response {
    json_response(StatusCode::BAD_REQUEST, &json!({"error": e.to_string()}))
}

async fn put_faults(State(app): State<Arc<App>>, body: Bytes) -> Response {
    let parsed = serde_json::from_slice::<Faults>(&body).map_err(|e| e.to_string());
    match parsed.and_then(|f| crate::store::validate_faults(&f.responses).map(|()| f)) {
        Ok(f) => {
            *app.faults.lock().expect("faults") = f.clone();
            json_response(StatusCode::OK, &json!(f))
        }
        Err(e) => bad(e),
    }
}

/// Merges the given fields into the current faults.
async fn patch_faults(State(app): State<Arc<App>>, body: Bytes) -> Response {
    let patch: Value = match serde_json::from_slice(&body) {
        Ok(Value::Object(m)) => Value::Object(m),
        Ok(_) => return bad("expected a JSON object"),
        Err(e) => return bad(e),
    };
    let mut faults = app.faults.lock().expect("faults");
    let mut current = json!(*faults);
    if let (Some(c), Some(p)) = (current.as_object_mut(), patch.as_object()) {
        for (k, v) in p {
            if !c.contains_key(k) {
                return bad(format!("unknown fault {k}"));
            }
            c.insert(k.clone(), v.clone());
        }
    }
    let parsed = serde_json::from_value::<Faults>(current).map_err(|e| e.to_string());
    match parsed.and_then(|f| crate::store::validate_faults(&f.responses).map(|()| f)) {
        Ok(f) => {
            *faults = f.clone();
            json_response(StatusCode::OK, &json!(f))
        }
        Err(e) => bad(e),
    }
}

async fn clear_faults(State(app): State<Arc<App>>) -> Response {
    *app.faults.lock().expect("faults") = Faults::default();
    StatusCode::NO_CONTENT.into_response()
}

/// Stops listening. On the control port this returns once the port is closed; on the app's own
/// port the stop would cut this very answer, so it happens just after the 202 is sent.
async fn stop(Extension(l): Extension<ListenerRef>, uri: axum::extract::OriginalUri) -> Response {
    if uri.path().starts_with("/_sim/apps/") {
        l.stop().await;
        return StatusCode::NO_CONTENT.into_response();
    }
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        l.stop().await;
    });
    StatusCode::ACCEPTED.into_response()
}

async fn start(Extension(l): Extension<ListenerRef>) -> Response {
    match l.start().await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({"error": e.to_string()}),
        ),
    }
}

/// Forgets links, allowlist, tokens, faults, the request log, settings changes, CAPTCHA
/// failures, rate-limit buckets and sessions.
async fn reset(State(app): State<Arc<App>>) -> Response {
    *app.settings.lock().expect("settings") = app.profile.settings.clone();
    *app.access.lock().expect("access") = crate::store::AccessState::default();
    {
        let mut st = app.state.lock().expect("state");
        st.persisted = Persisted::default();
        st.request_tokens.clear();
        st.access_tokens.clear();
        st.xsrf_tokens.clear();
    }
    *app.faults.lock().expect("faults") = Faults::default();
    *app.log.lock().expect("log") = RequestLog::default();
    app.persist();
    StatusCode::NO_CONTENT.into_response()
}
