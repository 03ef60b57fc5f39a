//! Control API for the OAuth 2.0 provider (`/_sim/oauth2…`): its state, consent without a
//! browser, ageing codes and tokens.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::app::App;
use crate::oauth2::reply::client_json;
use crate::wire::respond::json_response;

pub fn control_routes() -> Router<Arc<App>> {
    Router::new()
        .route("/oauth2", get(control_state))
        .route(
            "/oauth2/consent",
            post(crate::oauth2::authorize::control_consent),
        )
        .route("/oauth2/age", post(control_age))
}

/// Clients (with their secrets: this is the test's view) and token counts per client.
async fn control_state(State(app): State<Arc<App>>) -> Response {
    let st = app.state.lock().expect("state");
    let s = &st.persisted.oauth2;
    let per_client = |client_id: &str| {
        json!({
            "accessTokens": s.access_tokens.values().filter(|t| t.client_id == client_id).count(),
            "refreshTokens": s.refresh_tokens.values().filter(|t| t.client_id == client_id).count(),
            "codes": s.codes.values().filter(|t| t.client_id == client_id).count(),
        })
    };
    let clients: Vec<Value> = s
        .clients
        .values()
        .map(|c| {
            let mut v = client_json(c, true);
            v["tokens"] = per_client(&c.client_id);
            v
        })
        .collect();
    json_response(
        StatusCode::OK,
        &json!({
            "available": app.oauth2_vocabulary().is_some(),
            "scopes": app.oauth2_vocabulary().map(|v| v.iter().map(|d| d.name).collect::<Vec<_>>()),
            "clients": clients,
            "accessTokens": s.access_tokens.len(),
            "refreshTokens": s.refresh_tokens.len(),
            "codes": s.codes.len(),
        }),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Age {
    seconds: u64,
}

/// `{"seconds": n}`: every code and token becomes n seconds older.
async fn control_age(State(app): State<Arc<App>>, body: Bytes) -> Response {
    match serde_json::from_slice::<Age>(&body) {
        Ok(a) => {
            app.state
                .lock()
                .expect("state")
                .persisted
                .oauth2
                .age(a.seconds);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => json_response(StatusCode::BAD_REQUEST, &json!({"error": e.to_string()})),
    }
}
