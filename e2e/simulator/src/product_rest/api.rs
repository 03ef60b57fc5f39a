//! A small slice of each product's own REST API, the calls a tool makes with the credentials an
//! incoming link gives it: one read and one write per product, so that a READ token's refusal
//! and a WRITE token's success can be seen (`oauth2_provider.rs` caps roles and refuses writes
//! of READ tokens; the Bitbucket and Bamboo writes check their own scope here).
//!
//! - Jira: `GET /rest/api/{2,latest}/myself`; `GET|PUT|DELETE /rest/api/{2,latest}/mypreferences?key=`
//! - Confluence: `GET /rest/api/user/current`; `GET|POST|DELETE /rest/api/user/watch/space/{key}`
//! - Bitbucket: `GET /rest/api/{1.0,latest}/users/{slug}`, `GET …/application-properties`;
//!   `PUT /rest/api/{1.0,latest}/users` (the caller's own details; scope ACCOUNT_WRITE)
//! - Bamboo: `GET /rest/api/latest/currentUser`; `POST /rest/api/latest/queue/{planKey}` (TRIGGER)

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::app::{App, is_admin};
use crate::config::UserConfig;
use crate::gate::auth::Caller;
use crate::product::Product;
use crate::store::BitbucketProfile;
use crate::wire::respond::LogReason;
use crate::wire::respond::json_response;

pub fn routes(product: Product) -> Router<Arc<App>> {
    let mut r = Router::new();
    match product {
        Product::Jira => {
            for v in ["2", "latest"] {
                r = r
                    .route(&format!("/rest/api/{v}/myself"), get(jira_myself))
                    .route(
                        &format!("/rest/api/{v}/mypreferences"),
                        get(jira_pref_get)
                            .put(jira_pref_put)
                            .delete(jira_pref_delete),
                    );
            }
        }
        Product::Confluence => {
            r = r
                .route("/rest/api/user/current", get(confluence_current))
                .route(
                    "/rest/api/user/watch/space/{key}",
                    get(confluence_watch_get)
                        .post(confluence_watch_add)
                        .delete(confluence_watch_remove),
                );
        }
        Product::Bitbucket => {
            for v in ["1.0", "latest"] {
                r = r
                    .route(
                        &format!("/rest/api/{v}/users/{{slug}}"),
                        get(bitbucket_user),
                    )
                    .route(
                        &format!("/rest/api/{v}/users"),
                        axum::routing::put(bitbucket_update_user),
                    )
                    .route(
                        &format!("/rest/api/{v}/application-properties"),
                        get(bitbucket_properties),
                    );
            }
        }
        Product::Bamboo => {
            r = r
                .route("/rest/api/latest/currentUser", get(bamboo_current))
                .route("/rest/api/latest/queue/{plan}", post(bamboo_queue));
        }
        _ => {}
    }
    r
}

fn with_reason(mut r: Response, reason: &str) -> Response {
    r.extensions_mut().insert(LogReason(reason.to_string()));
    r
}

fn email(username: &str) -> String {
    format!("{username}@example.com")
}

// --- Jira ------------------------------------------------------------------------------------

fn jira_error(status: StatusCode, msg: &str) -> Response {
    with_reason(
        json_response(status, &json!({"errorMessages": [msg], "errors": {}})),
        msg,
    )
}

fn jira_user(caller: &Caller) -> Result<UserConfig, Box<Response>> {
    caller.user.clone().ok_or_else(|| {
        Box::new(jira_error(
            StatusCode::UNAUTHORIZED,
            "You are not authenticated. Authentication required to perform this operation.",
        ))
    })
}

async fn jira_myself(State(app): State<Arc<App>>, caller: Caller) -> Response {
    let u = match jira_user(&caller) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    json_response(
        StatusCode::OK,
        &json!({
            "self": app.url(&format!("/rest/api/2/user?username={}", u.username)),
            "key": app.user_key(&u.username), "name": u.username,
            "emailAddress": email(&u.username), "displayName": u.username, "active": true,
            "timeZone": "UTC", "locale": "en_US",
            "groups": {"size": 1, "items": []}, "applicationRoles": {"size": 1, "items": []},
            "expand": "groups,applicationRoles",
        }),
    )
}

#[derive(Deserialize)]
struct PrefKey {
    key: Option<String>,
}

async fn jira_pref_get(
    State(app): State<Arc<App>>,
    caller: Caller,
    Query(q): Query<PrefKey>,
) -> Response {
    let u = match jira_user(&caller) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    let key = q.key.unwrap_or_default();
    let st = app.state.lock().expect("state");
    match st
        .persisted
        .rest_data
        .preferences
        .get(&u.username)
        .and_then(|m| m.get(&key))
    {
        Some(v) => json_response(StatusCode::OK, &json!(v)),
        None => jira_error(
            StatusCode::NOT_FOUND,
            &format!("Preference with key {key} not found"),
        ),
    }
}

/// The body is the value: a JSON string, or the raw text.
async fn jira_pref_put(
    State(app): State<Arc<App>>,
    caller: Caller,
    Query(q): Query<PrefKey>,
    body: Bytes,
) -> Response {
    let u = match jira_user(&caller) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    let Some(key) = q.key.filter(|k| !k.is_empty()) else {
        return jira_error(StatusCode::BAD_REQUEST, "key is required");
    };
    let text = String::from_utf8_lossy(&body).to_string();
    let value = match serde_json::from_str::<Value>(&text) {
        Ok(Value::String(s)) => s,
        _ => text,
    };
    app.state
        .lock()
        .expect("state")
        .persisted
        .rest_data
        .preferences
        .entry(u.username)
        .or_default()
        .insert(key, value);
    StatusCode::NO_CONTENT.into_response()
}

async fn jira_pref_delete(
    State(app): State<Arc<App>>,
    caller: Caller,
    Query(q): Query<PrefKey>,
) -> Response {
    let u = match jira_user(&caller) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    let key = q.key.unwrap_or_default();
    let mut st = app.state.lock().expect("state");
    let removed = st
        .persisted
        .rest_data
        .preferences
        .get_mut(&u.username)
        .and_then(|m| m.remove(&key));
    match removed {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => jira_error(
            StatusCode::NOT_FOUND,
            &format!("Preference with key {key} not found"),
        ),
    }
}

// --- Confluence ------------------------------------------------------------------------------

fn confluence_error(status: StatusCode, msg: &str) -> Response {
    with_reason(
        json_response(
            status,
            &json!({"statusCode": status.as_u16(), "message": msg}),
        ),
        msg,
    )
}

/// Anonymous callers get an anonymous user, not a 401.
async fn confluence_current(State(app): State<Arc<App>>, caller: Caller) -> Response {
    let picture = json!({"path": "/images/icons/profilepics/default.svg", "width": 48,
                         "height": 48, "isDefault": true});
    let v = match &caller.user {
        None => json!({"type": "anonymous", "profilePicture": picture,
                       "displayName": "Anonymous", "_links": {}}),
        Some(u) => json!({
            "type": "known", "username": u.username, "userKey": app.user_key(&u.username),
            "profilePicture": picture, "displayName": u.username,
            "_links": {"self": app.url(&format!("/rest/api/user?key={}", app.user_key(&u.username)))},
        }),
    };
    json_response(StatusCode::OK, &v)
}

fn confluence_user(caller: &Caller) -> Result<UserConfig, Box<Response>> {
    caller.user.clone().ok_or_else(|| {
        Box::new(confluence_error(
            StatusCode::UNAUTHORIZED,
            "This operation requires an authenticated user",
        ))
    })
}

async fn confluence_watch_get(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(key): Path<String>,
) -> Response {
    let u = match confluence_user(&caller) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    let st = app.state.lock().expect("state");
    let watching = st
        .persisted
        .rest_data
        .watches
        .get(&u.username)
        .is_some_and(|s| s.contains(&key));
    json_response(StatusCode::OK, &json!({"watching": watching}))
}

async fn confluence_watch_add(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(key): Path<String>,
) -> Response {
    let u = match confluence_user(&caller) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    app.state
        .lock()
        .expect("state")
        .persisted
        .rest_data
        .watches
        .entry(u.username)
        .or_default()
        .insert(key);
    StatusCode::NO_CONTENT.into_response()
}

async fn confluence_watch_remove(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(key): Path<String>,
) -> Response {
    let u = match confluence_user(&caller) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    if let Some(s) = app
        .state
        .lock()
        .expect("state")
        .persisted
        .rest_data
        .watches
        .get_mut(&u.username)
    {
        s.remove(&key);
    }
    StatusCode::NO_CONTENT.into_response()
}

// --- Bitbucket -------------------------------------------------------------------------------

fn bitbucket_error(status: StatusCode, msg: &str, exception: &str) -> Response {
    with_reason(
        json_response(
            status,
            &json!({"errors": [{"context": null, "message": msg, "exceptionName": exception}]}),
        ),
        msg,
    )
}

fn bitbucket_user_json(app: &App, u: &UserConfig) -> Value {
    let profile = app
        .state
        .lock()
        .expect("state")
        .persisted
        .rest_data
        .profiles
        .get(&u.username)
        .cloned();
    let (display, mail) = match profile {
        Some(p) => (p.display_name, p.email),
        None => (u.username.clone(), email(&u.username)),
    };
    let id: u64 = app.user_key(&u.username).parse().unwrap_or(0);
    json!({
        "name": u.username, "emailAddress": mail, "active": true, "displayName": display,
        "id": id, "slug": u.username, "type": "NORMAL",
        "links": {"self": [{"href": app.url(&format!("/users/{}", u.username))}]},
    })
}

fn bitbucket_anonymous() -> Response {
    bitbucket_error(
        StatusCode::UNAUTHORIZED,
        "Authentication failed. Please check your credentials and try again.",
        "com.atlassian.bitbucket.auth.IncorrectPasswordAuthenticationException",
    )
}

async fn bitbucket_user(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(slug): Path<String>,
) -> Response {
    if caller.user.is_none() {
        return bitbucket_anonymous();
    }
    match app.user(&slug) {
        Some(u) => json_response(StatusCode::OK, &bitbucket_user_json(&app, &u)),
        None => bitbucket_error(
            StatusCode::NOT_FOUND,
            &format!("User {slug} does not exist."),
            "com.atlassian.bitbucket.user.NoSuchUserException",
        ),
    }
}

async fn bitbucket_properties(State(app): State<Arc<App>>) -> Response {
    json_response(
        StatusCode::OK,
        &json!({"version": app.ident.version, "buildNumber": app.profile.build_number.to_string(),
                "buildDate": "1767225600000", "displayName": "Bitbucket"}),
    )
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct UserUpdate {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

/// `PUT /rest/api/1.0/users`: the caller changes their own display name or e-mail. An OAuth 2.0
/// token needs ACCOUNT_WRITE (the scope's USER_ADMIN permission).
async fn bitbucket_update_user(
    State(app): State<Arc<App>>,
    caller: Caller,
    body: Bytes,
) -> Response {
    let Some(u) = caller.user.clone() else {
        return bitbucket_anonymous();
    };
    if let Some(g) = &caller.oauth2
        && !g.scope.has("ACCOUNT_WRITE")
    {
        return bitbucket_error(
            StatusCode::FORBIDDEN,
            &format!(
                "The access token's scope ({}) does not allow changing account details",
                g.scope.name()
            ),
            "com.atlassian.bitbucket.AuthorisationException",
        );
    }
    let b: UserUpdate = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return bitbucket_error(
                StatusCode::BAD_REQUEST,
                &format!("The request body could not be read: {e}"),
                "com.atlassian.bitbucket.rest.RestErrorException",
            );
        }
    };
    if b.name.as_deref().is_some_and(|n| n != u.username) && !is_admin(&u) {
        return bitbucket_error(
            StatusCode::FORBIDDEN,
            "You are not permitted to update another user's details",
            "com.atlassian.bitbucket.AuthorisationException",
        );
    }
    let target = b.name.clone().unwrap_or_else(|| u.username.clone());
    let Some(target_user) = app.user(&target) else {
        return bitbucket_error(
            StatusCode::NOT_FOUND,
            &format!("User {target} does not exist."),
            "com.atlassian.bitbucket.user.NoSuchUserException",
        );
    };
    {
        let mut st = app.state.lock().expect("state");
        let p = st
            .persisted
            .rest_data
            .profiles
            .entry(target.clone())
            .or_insert_with(|| BitbucketProfile {
                display_name: target.clone(),
                email: email(&target),
            });
        if let Some(d) = b.display_name {
            p.display_name = d;
        }
        if let Some(e) = b.email {
            p.email = e;
        }
    }
    json_response(StatusCode::OK, &bitbucket_user_json(&app, &target_user))
}

// --- Bamboo ----------------------------------------------------------------------------------

fn bamboo_error(status: StatusCode, msg: &str) -> Response {
    with_reason(
        json_response(
            status,
            &json!({"message": msg, "status-code": status.as_u16()}),
        ),
        msg,
    )
}

async fn bamboo_current(caller: Caller) -> Response {
    match &caller.user {
        None => bamboo_error(StatusCode::UNAUTHORIZED, "You are not logged in"),
        Some(u) => json_response(
            StatusCode::OK,
            &json!({"name": u.username, "fullName": u.username, "email": email(&u.username)}),
        ),
    }
}

fn plan_key_valid(key: &str) -> bool {
    let mut parts = key.split('-');
    let ok = |p: Option<&str>| {
        p.is_some_and(|p| {
            p.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                && p.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        })
    };
    ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
}

/// `POST /rest/api/latest/queue/{planKey}`: starts a build. An OAuth 2.0 token needs TRIGGER.
async fn bamboo_queue(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(plan): Path<String>,
) -> Response {
    if caller.user.is_none() {
        return bamboo_error(StatusCode::UNAUTHORIZED, "You are not logged in");
    }
    if let Some(g) = &caller.oauth2
        && !g.scope.has("TRIGGER")
    {
        return bamboo_error(
            StatusCode::FORBIDDEN,
            &format!(
                "The access token's scope ({}) does not allow triggering builds",
                g.scope.name()
            ),
        );
    }
    if !plan_key_valid(&plan) {
        return bamboo_error(StatusCode::NOT_FOUND, &format!("Plan {plan} not found"));
    }
    let number = {
        let mut st = app.state.lock().expect("state");
        let n = st
            .persisted
            .rest_data
            .builds
            .entry(plan.clone())
            .or_insert(0);
        *n += 1;
        *n
    };
    json_response(
        StatusCode::OK,
        &json!({
            "planKey": plan, "buildNumber": number,
            "buildResultKey": format!("{plan}-{number}"), "triggerReason": "Manual build",
            "link": {"href": app.url(&format!("/rest/api/latest/result/{plan}-{number}")), "rel": "self"},
        }),
    )
}
