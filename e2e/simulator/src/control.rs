//! Control API for tests: inspection, fault injection, stop/start listening, reset.
//! Mounted at `/_sim` on every app and at `/_sim/apps/{name}` on the optional control port.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::app::App;
use crate::respond::json_response;
use crate::state::{Faults, Persisted, RequestLog};

pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/state", get(state))
        .route("/links", get(links))
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
        .route("/stop", post(stop))
        .route("/start", post(start))
        .route("/reset", post(reset))
}

/// What scripts need to reach an app (also the entries of the ready file).
pub fn app_info(app: &App) -> Value {
    json!({
        "name": app.name(), "product": app.cfg.product, "typeId": app.type_id(),
        "id": app.ident.id.to_string(), "baseUrl": app.base_url, "port": app.port,
        "scheme": app.scheme, "consumerKey": app.ident.consumer_key,
        "displayName": app.ident.display_name,
    })
}

async fn state(State(app): State<Arc<App>>) -> Response {
    let mut info = app_info(&app);
    let (links, allowlist) = {
        let st = app.state.lock().expect("state");
        (
            json!(st.p.links.values().collect::<Vec<_>>()),
            json!(st.p.allowlist),
        )
    };
    info["listening"] = json!(app.is_listening().await);
    info["links"] = links;
    info["allowlist"] = allowlist;
    info["faults"] = json!(*app.faults.lock().expect("faults"));
    info["requestCounts"] = json!(app.log.lock().expect("log").counts);
    json_response(StatusCode::OK, &info)
}

async fn links(State(app): State<Arc<App>>) -> Response {
    let st = app.state.lock().expect("state");
    let list: Vec<Value> =
        st.p.links
            .values()
            .map(|l| {
                let (incoming, outgoing) = l.oauth_pair();
                let mut v = json!(l);
                v["oauth"] = json!({"incoming": incoming, "outgoing": outgoing});
                v
            })
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
    let Some(link) = st.p.links.get(&id) else {
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
    match serde_json::from_value::<crate::state::Link>(current) {
        Ok(l) => {
            st.p.links.insert(id, l.clone());
            drop(st);
            app.persist();
            json_response(StatusCode::OK, &json!(l))
        }
        Err(e) => bad(e),
    }
}

async fn delete_link(
    State(app): State<Arc<App>>,
    axum::extract::Path(id): axum::extract::Path<uuid::Uuid>,
) -> Response {
    let removed = app.state.lock().expect("state").remove_link(&id);
    app.persist();
    match removed {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => json_response(
            StatusCode::NOT_FOUND,
            &json!({"error": format!("no link {id}")}),
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
    match serde_json::from_slice::<Faults>(&body) {
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
    match serde_json::from_value::<Faults>(current) {
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
async fn stop(State(app): State<Arc<App>>, uri: axum::extract::OriginalUri) -> Response {
    if uri.path().starts_with("/_sim/apps/") {
        app.stop_listening().await;
        return StatusCode::NO_CONTENT.into_response();
    }
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        app.stop_listening().await;
    });
    StatusCode::ACCEPTED.into_response()
}

async fn start(State(app): State<Arc<App>>) -> Response {
    match app.start_listening().await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({"error": e.to_string()}),
        ),
    }
}

/// Forgets links, allowlist, tokens, faults and the request log.
async fn reset(State(app): State<Arc<App>>) -> Response {
    {
        let mut st = app.state.lock().expect("state");
        st.p = Persisted::default();
        st.request_tokens.clear();
        st.access_tokens.clear();
    }
    *app.faults.lock().expect("faults") = Faults::default();
    *app.log.lock().expect("log") = RequestLog::default();
    app.persist();
    StatusCode::NO_CONTENT.into_response()
}
