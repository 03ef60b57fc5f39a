//! The allowlist ("whitelist") REST API (docs/simulator.md#allowlist), at the profile's `allowlist_base`
//! (default `/rest/whitelist/latest/`, also `/rest/whitelist/1.0/`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::app::{App, is_admin};
use crate::gate::auth::Caller;
use crate::store::{AllowRule, Link};
use crate::wire::respond::{ApiError, ApiResult, json_response};

pub const TYPES: &[&str] = &[
    "whitelist.application.link",
    "whitelist.domain.name",
    "whitelist.exact.url",
    "whitelist.wildcard.expression",
    "whitelist.regular.expression",
];

const RESTRICTIVENESS: &[&str] = &["ALLOW_AUTHENTICATED", "ALLOW_ANONYMOUS", "DENY"];

fn require_admin(caller: &Caller) -> Result<(), ApiError> {
    match caller.admin_user() {
        Some(u) if is_admin(u) => Ok(()),
        Some(_) => Err(ApiError::raw(json_response(
            StatusCode::FORBIDDEN,
            &json!({"message": "Administrator permission required"}),
        ))),
        None => Err(ApiError::raw(json_response(
            StatusCode::UNAUTHORIZED,
            &json!({"message": "Authentication required"}),
        ))),
    }
}

const LINK_RULE: &str = "whitelist.application.link";

/// The bean of `WhitelistBeanServiceImpl`; rules implied by links can be neither edited nor
/// deleted.
fn rule_json(r: &AllowRule) -> Value {
    let editable = r.kind != LINK_RULE;
    json!({
        "id": r.id, "expression": r.expression, "type": r.kind, "allowInbound": r.allow_inbound,
        "allowAnonymousUser": !r.authentication_required, "iconUrl": r.icon_url,
        "allowEdit": editable, "allowDelete": editable,
    })
}

/// The implicit rule of an application link: listed as "<name> (<displayUrl>)", matches under
/// the link's rpcUrl.
fn link_rule(l: &Link, restrictiveness: &str) -> AllowRule {
    AllowRule {
        id: l.allowlist_rule_id,
        expression: format!("{} ({})", l.name, l.display_url),
        kind: "whitelist.application.link".into(),
        allow_inbound: false,
        authentication_required: restrictiveness != "ALLOW_ANONYMOUS",
        icon_url: None,
    }
}

fn all_rules(app: &App) -> Vec<AllowRule> {
    let st = app.state.lock().expect("state");
    let mut rules: Vec<AllowRule> = st
        .persisted
        .links
        .values()
        .map(|l| link_rule(l, &st.persisted.allowlist.restrictiveness))
        .collect();
    rules.extend(st.persisted.allowlist.rules.iter().cloned());
    rules.sort_by_key(|r| r.id);
    rules
}

pub async fn list(State(app): State<Arc<App>>, caller: Caller) -> ApiResult {
    require_admin(&caller)?;
    let rules: Vec<Value> = all_rules(&app).iter().map(rule_json).collect();
    let pages = if rules.is_empty() { 0 } else { 1 };
    Ok(json_response(
        StatusCode::OK,
        &json!({"rules": rules, "page": pages, "totalPages": pages}),
    ))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct RuleBody {
    expression: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    allow_inbound: Option<bool>,
    allow_anonymous_user: Option<bool>,
    icon_url: Option<String>,
}

fn validate(expression: &str, kind: &str) -> Result<(), ApiError> {
    if !TYPES.contains(&kind) || kind == "whitelist.application.link" {
        return Err(ApiError::raw(json_response(
            StatusCode::BAD_REQUEST,
            &json!({"message": format!("Invalid type {kind}")}),
        )));
    }
    let field_error = |m: String| {
        ApiError::raw(json_response(
            StatusCode::BAD_REQUEST,
            &json!({"errors": {"expression": m}}),
        ))
    };
    if expression.trim().is_empty() {
        return Err(field_error("The expression must not be empty".into()));
    }
    if kind == "whitelist.regular.expression" && regex::Regex::new(expression).is_err() {
        return Err(field_error(format!(
            "Invalid regular expression {expression}"
        )));
    }
    if matches!(kind, "whitelist.exact.url" | "whitelist.domain.name")
        && url::Url::parse(expression).is_err()
    {
        return Err(field_error(format!("Invalid URL {expression}")));
    }
    Ok(())
}

pub async fn create(State(app): State<Arc<App>>, caller: Caller, body: Bytes) -> ApiResult {
    require_admin(&caller)?;
    let b: RuleBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::raw(json_response(
            StatusCode::BAD_REQUEST,
            &json!({"message": e.to_string()}),
        ))
    })?;
    let expression = b.expression.unwrap_or_default();
    let kind = b.kind.unwrap_or_default();
    validate(&expression, &kind)?;
    let mut st = app.state.lock().expect("state");
    let rule = AllowRule {
        id: st.next_id(),
        expression,
        kind,
        allow_inbound: b.allow_inbound.unwrap_or(false),
        authentication_required: !b.allow_anonymous_user.unwrap_or(false),
        icon_url: b.icon_url,
    };
    st.persisted.allowlist.rules.push(rule.clone());
    Ok(json_response(StatusCode::OK, &rule_json(&rule)))
}

pub async fn update(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<u64>,
    body: Bytes,
) -> ApiResult {
    require_admin(&caller)?;
    let b: RuleBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::raw(json_response(
            StatusCode::BAD_REQUEST,
            &json!({"message": e.to_string()}),
        ))
    })?;
    let mut st = app.state.lock().expect("state");
    let Some(rule) = st.persisted.allowlist.rules.iter_mut().find(|r| r.id == id) else {
        return Err(ApiError::raw(json_response(
            StatusCode::BAD_REQUEST,
            &json!({"message": format!("No whitelist rule with id {id}")}),
        )));
    };
    let mut next = rule.clone();
    if let Some(e) = b.expression {
        next.expression = e;
    }
    if let Some(k) = b.kind {
        next.kind = k;
    }
    if let Some(i) = b.allow_inbound {
        next.allow_inbound = i;
    }
    if let Some(a) = b.allow_anonymous_user {
        next.authentication_required = !a;
    }
    if b.icon_url.is_some() {
        next.icon_url = b.icon_url;
    }
    validate(&next.expression, &next.kind)?;
    *rule = next.clone();
    Ok(json_response(StatusCode::OK, &rule_json(&next)))
}

/// `DELETE {id}`: 200 whether or not the rule exists; the rules implied by links are not stored,
/// so deleting one of their ids changes nothing.
pub async fn delete(State(app): State<Arc<App>>, caller: Caller, Path(id): Path<u64>) -> ApiResult {
    require_admin(&caller)?;
    app.state
        .lock()
        .expect("state")
        .persisted
        .allowlist
        .rules
        .retain(|r| r.id != id);
    Ok(StatusCode::OK.into_response())
}

async fn set_enabled(app: &App, caller: &Caller, on: bool) -> ApiResult {
    require_admin(caller)?;
    app.state.lock().expect("state").persisted.allowlist.enabled = on;
    Ok(StatusCode::OK.into_response())
}

pub async fn enable(State(app): State<Arc<App>>, caller: Caller) -> ApiResult {
    set_enabled(&app, &caller, true).await
}

pub async fn disable(State(app): State<Arc<App>>, caller: Caller) -> ApiResult {
    set_enabled(&app, &caller, false).await
}

pub async fn get_settings(State(app): State<Arc<App>>, caller: Caller) -> ApiResult {
    require_admin(&caller)?;
    let r = app
        .state
        .lock()
        .expect("state")
        .persisted
        .allowlist
        .restrictiveness
        .clone();
    Ok(json_response(
        StatusCode::OK,
        &json!({"applicationLinkRestrictiveness": r}),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    application_link_restrictiveness: Option<String>,
}

pub async fn put_settings(State(app): State<Arc<App>>, caller: Caller, body: Bytes) -> ApiResult {
    require_admin(&caller)?;
    let s: Settings = serde_json::from_slice(&body).map_err(|e| {
        ApiError::raw(json_response(
            StatusCode::BAD_REQUEST,
            &json!({"message": e.to_string()}),
        ))
    })?;
    let r = s.application_link_restrictiveness.unwrap_or_default();
    if !RESTRICTIVENESS.contains(&r.as_str()) {
        return Err(ApiError::raw(json_response(
            StatusCode::BAD_REQUEST,
            &json!({"message": format!("Invalid restrictiveness {r}")}),
        )));
    }
    app.state
        .lock()
        .expect("state")
        .persisted
        .allowlist
        .restrictiveness = r.clone();
    Ok(json_response(
        StatusCode::OK,
        &json!({"applicationLinkRestrictiveness": r}),
    ))
}

/// Whether a rule matches a URL.
pub fn matches(rule: &AllowRule, url: &str, link_rpc: Option<&str>) -> bool {
    match rule.kind.as_str() {
        "whitelist.exact.url" => url == rule.expression,
        // `DomainNameMatcher`: the expression against scheme://authority, ignoring case.
        "whitelist.domain.name" => {
            let Ok(a) = url::Url::parse(url) else {
                return false;
            };
            let mut origin = format!("{}://{}", a.scheme(), a.host_str().unwrap_or(""));
            if let Some(p) = a.port() {
                origin.push_str(&format!(":{p}"));
            }
            origin.eq_ignore_ascii_case(rule.expression.trim_end_matches('/'))
        }
        "whitelist.wildcard.expression" => {
            let pattern = format!("^{}$", regex::escape(&rule.expression).replace(r"\*", ".*"));
            regex::Regex::new(&pattern).is_ok_and(|r| r.is_match(url))
        }
        "whitelist.regular.expression" => {
            regex::Regex::new(&rule.expression).is_ok_and(|r| r.is_match(url))
        }
        LINK_RULE => link_rpc.is_some_and(|rpc| {
            let rpc = rpc.trim_end_matches('/');
            url == rpc || url.starts_with(&format!("{rpc}/"))
        }),
        _ => false,
    }
}

#[derive(Deserialize)]
pub struct CheckQuery {
    url: Option<String>,
}

/// `GET check?url=`: anonymous.
pub async fn check(State(app): State<Arc<App>>, Query(q): Query<CheckQuery>) -> ApiResult {
    let url = q.url.unwrap_or_default();
    let st = app.state.lock().expect("state");
    let al = &st.persisted.allowlist;
    if !al.enabled {
        return Ok(json_response(
            StatusCode::OK,
            &json!({"outbound": true, "outboundWithAuth": true, "inbound": true}),
        ));
    }
    let mut outbound = false;
    let mut with_auth = false;
    let mut inbound = false;
    for r in &al.rules {
        if matches(r, &url, None) {
            with_auth = true;
            outbound |= !r.authentication_required;
            inbound |= r.allow_inbound;
        }
    }
    if al.restrictiveness != "DENY" {
        for l in st.persisted.links.values() {
            let r = link_rule(l, &al.restrictiveness);
            if matches(&r, &url, Some(&l.rpc_url)) {
                with_auth = true;
                outbound |= !r.authentication_required;
            }
        }
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({"outbound": outbound, "outboundWithAuth": with_auth, "inbound": inbound}),
    ))
}
