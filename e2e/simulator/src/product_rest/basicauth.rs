//! `/rest/basicauth/1.0/config`: how a Data Center admin blocks Basic authentication
//! (docs/simulator.md#basic-authentication-blocked): GET the four fields, PUT merges the fields
//! given (204), allowed paths stored normalised.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::app::App;
use crate::gate::auth::Caller;
use crate::wire::respond::{ApiError, ApiResult, Fmt, json_response};

fn config_json(app: &App) -> Value {
    let s = app.settings();
    json!({
        "block-requests": !s.basic_auth,
        "allowed-users": s.basic_auth_allowed_users,
        "allowed-paths": s.basic_auth_allowed_paths,
        "show-warning-message": true,
    })
}

pub async fn get_config(State(app): State<Arc<App>>, caller: Caller) -> ApiResult {
    caller.require_sysadmin(Fmt::Json)?;
    Ok(json_response(StatusCode::OK, &config_json(&app)))
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct ConfigBody {
    #[allow(dead_code)]
    show_warning_message: Option<bool>,
    block_requests: Option<bool>,
    allowed_users: Option<Vec<String>>,
    allowed_paths: Option<Vec<String>>,
}

/// Merges the given fields into the runtime settings.
pub async fn put_config(State(app): State<Arc<App>>, caller: Caller, body: Bytes) -> ApiResult {
    caller.require_sysadmin(Fmt::Json)?;
    let b: ConfigBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::raw(json_response(
            StatusCode::BAD_REQUEST,
            &json!({"message": e.to_string()}),
        ))
    })?;
    {
        let mut s = app.settings.lock().expect("settings");
        if let Some(block) = b.block_requests {
            s.basic_auth = !block;
        }
        if let Some(u) = b.allowed_users {
            s.basic_auth_allowed_users = u.into_iter().filter(|u| !u.is_empty()).collect();
        }
        if let Some(p) = b.allowed_paths {
            s.basic_auth_allowed_paths = p
                .iter()
                .filter(|p| !p.is_empty())
                .map(|p| crate::gate::basic_blocked::normalize_pattern(p))
                .collect();
        }
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
