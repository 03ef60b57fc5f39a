//! `/rest/applinks-oauth/…` consumer endpoints (docs/simulator.md#oauth-configuration).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::app::App;
use crate::applinks::links::{link_json, parse_id};
use crate::gate::auth::Caller;
use crate::product::is_atlassian_type;
use crate::store::{Consumer, Link, OutgoingHmacConsumer};
use crate::wire::model::{Level, parse_xml_or_json};
use crate::wire::respond::{ApiError, ApiResult, Fmt, negotiated};
use crate::wire::xml::El;

fn consumer_json(c: &Consumer) -> Value {
    json!({
        "key": c.key, "name": c.name, "description": c.description, "signatureMethod": "RSA_SHA1",
        "publicKey": c.public_key, "callback": c.callback, "twoLOAllowed": c.two_lo_allowed,
        "executingTwoLOUser": c.executing_two_lo_user,
        "twoLOImpersonationAllowed": c.two_lo_impersonation_allowed, "outgoing": false,
    })
}

fn consumer_xml(c: &Consumer) -> El {
    El::new("consumer")
        .leaf("key", &c.key)
        .leaf("name", &c.name)
        .opt_leaf("publicKey", c.public_key.as_ref())
        .leaf("signatureMethod", "RSA_SHA1")
        .leaf("twoLOAllowed", c.two_lo_allowed)
        .opt_leaf("executingTwoLOUser", c.executing_two_lo_user.as_ref())
        .leaf("twoLOImpersonationAllowed", c.two_lo_impersonation_allowed)
        .leaf("outgoing", false)
}

fn find(app: &App, fmt: Fmt, id: &str) -> Result<Link, ApiError> {
    find_with_consumer(app, fmt, id).map(|(l, _)| l)
}

/// The link and the consumer of the store its key names.
fn find_with_consumer(app: &App, fmt: Fmt, id: &str) -> Result<(Link, Option<Consumer>), ApiError> {
    let st = app.state.lock().expect("state");
    parse_id(id)
        .and_then(|u| st.link(&u))
        .map(|l| (l.clone(), st.consumer_of(l).cloned()))
        .ok_or_else(|| ApiError::status(fmt, 404, format!("No application link with id {id}")))
}

/// `GET …/applicationlink/{id}/authentication`.
pub async fn authentication(
    State(app): State<Arc<App>>,
    fmt: Fmt,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    caller.require_admin(fmt)?;
    let (l, incoming) = find_with_consumer(&app, fmt, &id)?;
    let consumers: Vec<Value> = incoming.iter().map(consumer_json).collect();
    let providers: Vec<Value> = l
        .outgoing
        .iter()
        .map(|(p, cfg)| json!({"module": p.rsplit('.').next(), "provider": p, "config": cfg}))
        .collect();
    let j = json!({"link": link_json(&app, "1.0", &l), "consumers": consumers, "configuredAuthProviders": providers});
    let x = El::new("applicationLinkAuthentication")
        .children(incoming.iter().map(consumer_xml))
        .children(
            l.outgoing
                .keys()
                .map(|p| El::new("configuredAuthProviders").leaf("provider", p)),
        );
    Ok(negotiated(fmt, StatusCode::OK, j, x))
}

pub async fn get_consumer(
    State(app): State<Arc<App>>,
    fmt: Fmt,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    caller.require_admin(fmt)?;
    let (_, incoming) = find_with_consumer(&app, fmt, &id)?;
    let Some(c) = &incoming else {
        return Err(ApiError::status(
            fmt,
            404,
            "No consumer configured for this link",
        ));
    };
    let j = json!({"consumers": [consumer_json(c)]});
    let x = El::new("consumers").child(consumer_xml(c));
    Ok(negotiated(fmt, StatusCode::OK, j, x))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ConsumerBody {
    key: Option<String>,
    name: Option<String>,
    description: Option<String>,
    public_key: Option<String>,
    shared_secret: Option<String>,
    callback: Option<String>,
    #[serde(default, rename = "twoLOAllowed")]
    two_lo_allowed: bool,
    #[serde(rename = "executingTwoLOUser")]
    executing_two_lo_user: Option<String>,
    #[serde(default, rename = "twoLOImpersonationAllowed")]
    two_lo_impersonation_allowed: bool,
    #[serde(default)]
    outgoing: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AutoConfigure {
    #[serde(default)]
    auto_configure: Option<String>,
}

/// `PUT …/applicationlink/{id}/authentication/consumer[?autoConfigure=true]` → 201.
pub async fn put_consumer(
    State(app): State<Arc<App>>,
    fmt: Fmt,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<AutoConfigure>,
    body: Bytes,
) -> ApiResult {
    caller.require_admin(fmt)?;
    let l = find(&app, fmt, &id)?;
    let b: ConsumerBody = parse_xml_or_json(&body)
        .map_err(|e| ApiError::list(fmt, 400, format!("Invalid consumer: {e}")))?;
    if q.auto_configure.as_deref() != Some("true") && !b.outgoing && l.type_id == "generic" {
        return put_generic_incoming(&app, fmt, &l, b);
    }
    if b.two_lo_impersonation_allowed && (!caller.is_sysadmin() || app.is_cloud()) {
        return Err(ApiError::list(
            fmt,
            400,
            "2-legged OAuth with impersonation requires a system administrator",
        ));
    }
    if let Some(u) = &b.executing_two_lo_user
        && !u.is_empty()
        && app.user(u).is_none()
    {
        return Err(ApiError::list_field(
            fmt,
            400,
            format!("Unknown user {u}"),
            "executingTwoLOUser",
        ));
    }
    let level = if b.two_lo_impersonation_allowed {
        Level::Impersonation
    } else if b.two_lo_allowed {
        Level::Default
    } else {
        Level::ThreeLoOnly
    };
    let consumer = if q.auto_configure.as_deref() == Some("true") {
        crate::applinks::status::fetch_consumer(&app, &l.rpc_url, level)
            .await
            .map_err(|e| {
                ApiError::list(fmt, 400, format!("Consumer information unavailable: {e}"))
            })?
    } else if b.outgoing && !is_atlassian_type(&l.type_id) {
        let secret = b.shared_secret.clone().ok_or_else(|| {
            ApiError::list_field(fmt, 400, "sharedSecret is required", "sharedSecret")
        })?;
        let key = b
            .key
            .clone()
            .ok_or_else(|| ApiError::list_field(fmt, 400, "key is required", "key"))?;
        let mut st = app.state.lock().expect("state");
        if let Some(link) = st.persisted.links.get_mut(&l.id) {
            link.outgoing_hmac = Some(OutgoingHmacConsumer {
                key,
                name: b.name.clone().unwrap_or_default(),
                shared_secret: secret,
            });
        }
        return Ok(StatusCode::CREATED.into_response());
    } else {
        required(
            fmt,
            &[
                ("key", &b.key),
                ("name", &b.name),
                ("publicKey", &b.public_key),
            ],
        )?;
        let pk = b.public_key.clone().unwrap_or_default();
        crate::wire::keys::parse_public_key(&pk)
            .map_err(|e| ApiError::list_field(fmt, 400, e, "publicKey"))?;
        Consumer {
            key: b.key.clone().unwrap_or_default(),
            name: b.name.clone().unwrap_or_default(),
            description: b.description.clone(),
            callback: b.callback.clone(),
            public_key: Some(pk),
            two_lo_allowed: false,
            executing_two_lo_user: None,
            two_lo_impersonation_allowed: false,
        }
    };
    let mut consumer = consumer;
    consumer.two_lo_allowed = level >= Level::Default;
    consumer.two_lo_impersonation_allowed = level == Level::Impersonation;
    consumer.executing_two_lo_user = b.executing_two_lo_user.filter(|u| !u.is_empty());
    app.state
        .lock()
        .expect("state")
        .add_consumer(&l.id, consumer);
    Ok(StatusCode::CREATED.into_response())
}

/// 400 naming every field of `fields` that is absent or empty.
fn required(fmt: Fmt, fields: &[(&str, &Option<String>)]) -> Result<(), ApiError> {
    let missing: Vec<&str> = fields
        .iter()
        .filter(|(_, v)| v.as_deref().is_none_or(str::is_empty))
        .map(|(n, _)| *n)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(ApiError::List(
        fmt,
        400,
        missing.iter().map(|m| format!("{m} is required")).collect(),
        missing.iter().map(|m| m.to_string()).collect(),
    ))
}

/// An incoming consumer on a generic link (`OAuthApplicationLinkResource.putConsumer`,
/// `validate3rdPartyConsumer`, `createBasicConsumer`): key and public key are required (400);
/// the name is not checked, so a missing one fails in the consumer's builder (500); the 2LO
/// flags of the body are not copied, so the consumer is 3LO only.
fn put_generic_incoming(app: &App, fmt: Fmt, l: &Link, b: ConsumerBody) -> ApiResult {
    required(fmt, &[("key", &b.key), ("publicKey", &b.public_key)])?;
    let pk = b.public_key.clone().unwrap_or_default();
    if crate::wire::keys::parse_public_key(&pk).is_err() {
        return Err(ApiError::list_field(
            fmt,
            400,
            format!("Invalid public key for the consumer of link {}", l.id),
            "publicKey",
        ));
    }
    let Some(name) = b.name.clone() else {
        return Err(ApiError::status(
            fmt,
            500,
            "java.lang.NullPointerException: name",
        ));
    };
    let consumer = Consumer {
        key: b.key.clone().unwrap_or_default(),
        name,
        description: b.description.clone(),
        callback: b.callback.clone(),
        public_key: Some(pk),
        two_lo_allowed: false,
        executing_two_lo_user: None,
        two_lo_impersonation_allowed: false,
    };
    app.state
        .lock()
        .expect("state")
        .add_consumer(&l.id, consumer);
    Ok(StatusCode::CREATED.into_response())
}

/// `DELETE consumer-token/{id}`: the simulator holds no per-user outgoing tokens, so this only
/// checks that the link exists.
pub async fn delete_consumer_token(
    State(app): State<Arc<App>>,
    fmt: Fmt,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    caller.require_user(fmt)?;
    find(&app, fmt, &id)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
