//! The status API (docs/simulator.md#status-api): `status/{id}` computed by calling the peer for real, and
//! `status/{id}/oauth` GET/PUT.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Serialize;
use serde_json::{Value, json};

use crate::app::App;
use crate::applinks::links::parse_id;
use crate::gate::auth::Caller;
use crate::peer::{ManifestError, NetError, PeerAuth, PeerRequest, join};
use crate::product::is_atlassian_type;
use crate::store::{Consumer, Link};
use crate::wire::keys::url_uuid;
use crate::wire::model::{Level, ManifestIn, OAuthCfg, OAuthPair};
use crate::wire::respond::{ApiError, ApiResult, json_response};

/// Error types of `ApplinkErrorType` (docs/simulator.md#status-api).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrType {
    Unknown,
    NoOutgoingAuth,
    RemoteVersionIncompatible,
    GenericLink,
    NonAtlassian,
    SystemLink,
    ConnectionRefused,
    UnknownHost,
    SslUntrusted,
    SslHostnameUnmatched,
    SslUnmatched,
    OauthProblem,
    OauthTimestampRefused,
    OauthSignatureInvalid,
    UnexpectedResponse,
    UnexpectedResponseStatus,
    LocalAuthTokenRequired,
    InsufficientRemotePermission,
    NoRemoteApplink,
    AuthLevelMismatch,
    AuthLevelUnsupported,
    Disabled,
}

impl ErrType {
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    pub fn category(self) -> &'static str {
        use ErrType::*;
        match self {
            Unknown => "UNKNOWN",
            NoOutgoingAuth | RemoteVersionIncompatible => "INCOMPATIBLE",
            GenericLink | NonAtlassian => "NON_ATLASSIAN",
            SystemLink => "SYSTEM",
            ConnectionRefused
            | UnknownHost
            | SslUntrusted
            | SslHostnameUnmatched
            | SslUnmatched
            | OauthProblem
            | OauthTimestampRefused
            | OauthSignatureInvalid
            | UnexpectedResponse
            | UnexpectedResponseStatus => "NETWORK_ERROR",
            LocalAuthTokenRequired | InsufficientRemotePermission => "ACCESS_ERROR",
            NoRemoteApplink | AuthLevelMismatch => "CONFIG_ERROR",
            AuthLevelUnsupported => "DEPRECATED",
            Disabled => "DISABLED",
        }
    }
}

impl From<NetError> for ErrType {
    fn from(n: NetError) -> Self {
        match n {
            NetError::ConnectionRefused => ErrType::ConnectionRefused,
            NetError::UnknownHost => ErrType::UnknownHost,
            NetError::SslUntrusted => ErrType::SslUntrusted,
            NetError::SslHostnameUnmatched => ErrType::SslHostnameUnmatched,
            NetError::SslUnmatched => ErrType::SslUnmatched,
            NetError::Unknown => ErrType::Unknown,
        }
    }
}

#[derive(Clone, Debug)]
pub struct StatusError {
    pub kind: ErrType,
    pub details: Option<String>,
    pub authorisation_uri: Option<String>,
}

impl StatusError {
    pub fn new(kind: ErrType) -> Self {
        StatusError {
            kind,
            details: None,
            authorisation_uri: None,
        }
    }

    pub fn with(kind: ErrType, details: impl Into<String>) -> Self {
        StatusError {
            kind,
            details: Some(details.into()),
            authorisation_uri: None,
        }
    }

    fn json(&self) -> Value {
        let mut v = json!({"category": self.kind.category(), "type": self.kind.name()});
        if let Some(d) = &self.details {
            v["details"] = json!(d);
        }
        if let Some(u) = &self.authorisation_uri {
            v["authorisationUri"] = json!(u);
        }
        v
    }
}

/// `\d+(\.\d+)?(\.\d+)?.*` → (major, minor, bugfix, suffix).
pub fn parse_version(v: &str) -> Option<(u64, u64, u64, String)> {
    let mut nums = [0u64; 3];
    let mut rest = v;
    for (i, n) in nums.iter_mut().enumerate() {
        if i > 0 {
            match rest.strip_prefix('.') {
                Some(r) if r.starts_with(|c: char| c.is_ascii_digit()) => rest = r,
                _ => break,
            }
        }
        let end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if end == 0 {
            return None;
        }
        *n = rest[..end].parse().ok()?;
        rest = &rest[end..];
    }
    Some((nums[0], nums[1], nums[2], rest.to_string()))
}

fn at_least(v: &(u64, u64, u64, String), min: (u64, u64, u64)) -> bool {
    (v.0, v.1, v.2) >= min
}

pub struct RemoteCaps {
    pub manifest: ManifestIn,
    pub capabilities: Vec<String>,
}

pub fn manifest_error(e: ManifestError) -> StatusError {
    match e {
        ManifestError::Net(n) => StatusError::with(n.kind.into(), n.details),
        ManifestError::Redirected(l) => StatusError::with(
            ErrType::UnexpectedResponseStatus,
            format!("manifest got redirected to {l}"),
        ),
        ManifestError::Status(s, body) => StatusError::with(
            ErrType::UnexpectedResponseStatus,
            format!(
                "status={s},body={}",
                body.chars().take(200).collect::<String>()
            ),
        ),
        ManifestError::Parse(p) => StatusError::with(ErrType::UnexpectedResponse, p),
    }
}

/// The manifest step of the status check (docs/simulator.md#status-api):, version checks and (applinks ≥ 5.0.5) the capabilities list.
pub async fn remote_capabilities(app: &App, rpc: &str) -> Result<RemoteCaps, StatusError> {
    let manifest = app.fetch_manifest(rpc).await.map_err(manifest_error)?;
    let app_v = manifest.version.as_deref().and_then(parse_version);
    let al_v = manifest.applinks_version.as_deref().and_then(parse_version);
    let Some(al_v) = al_v else {
        if app_v.is_none() {
            return Err(StatusError::with(
                ErrType::UnexpectedResponse,
                format!(
                    "applicationVersion={},applinksVersion={}",
                    manifest.version.as_deref().unwrap_or("null"),
                    manifest.applinks_version.as_deref().unwrap_or("null")
                ),
            ));
        }
        return Err(StatusError::with(
            ErrType::RemoteVersionIncompatible,
            "applinksVersion=null",
        ));
    };
    if !at_least(&al_v, (4, 0, 13)) {
        return Err(StatusError::with(
            ErrType::RemoteVersionIncompatible,
            format!(
                "applinksVersion={}",
                manifest.applinks_version.as_deref().unwrap_or("")
            ),
        ));
    }
    let mut capabilities = vec![];
    if at_least(&al_v, (5, 0, 5)) {
        let resp = app
            .call(
                PeerRequest::get(join(rpc, "/rest/applinks/latest/capabilities"))
                    .accept("application/json"),
            )
            .await
            .map_err(|e| StatusError::with(e.kind.into(), e.details))?;
        if resp.status == StatusCode::OK {
            capabilities = serde_json::from_slice(&resp.body).map_err(|e| {
                StatusError::with(ErrType::UnexpectedResponse, format!("capabilities: {e}"))
            })?;
        }
    }
    Ok(RemoteCaps {
        manifest,
        capabilities,
    })
}

/// Step 4 with STATUS_API: anonymous `status/{ourId}/oauth`, then under UUIDv3(our URL).
async fn remote_oauth_anonymous(app: &App, rpc: &str) -> Result<OAuthPair, StatusError> {
    for id in [app.ident.id, url_uuid(&app.base_url)] {
        let url = join(rpc, &format!("/rest/applinks/3.0/status/{id}/oauth"));
        let resp = app
            .call(PeerRequest::get(url).accept("application/json").no_check())
            .await
            .map_err(|e| StatusError::with(e.kind.into(), e.details))?;
        match resp.status.as_u16() {
            200 => {
                return serde_json::from_slice(&resp.body)
                    .map_err(|e| StatusError::with(ErrType::UnexpectedResponse, e.to_string()));
            }
            404 => continue,
            s => {
                return Err(StatusError::with(
                    ErrType::UnexpectedResponseStatus,
                    format!("status={s},body={}", resp.text()),
                ));
            }
        }
    }
    Err(StatusError::new(ErrType::NoRemoteApplink))
}

/// Step 4 without STATUS_API (applinks 5.x): authenticated read of the remote's auth config.
async fn remote_oauth_authenticated(
    app: &App,
    link: &Link,
    user: &str,
) -> Result<OAuthPair, StatusError> {
    match link.outgoing_level() {
        Level::Disabled => return Err(StatusError::new(ErrType::NoOutgoingAuth)),
        Level::ThreeLoOnly | Level::Default => {
            // 3LO needs the current user's access token, which the simulator never holds.
            let mut e = StatusError::new(ErrType::LocalAuthTokenRequired);
            e.authorisation_uri = Some(app.url(&format!(
                "/plugins/servlet/applinks/oauth/login-dance/authorize?applicationLinkID={}",
                link.id
            )));
            return Err(e);
        }
        Level::Impersonation => {}
    }
    let url = join(
        &link.rpc_url,
        &format!(
            "/rest/applinks-oauth/latest/applicationlink/{}/authentication",
            app.ident.id
        ),
    );
    let resp = app
        .call(
            PeerRequest::get(url)
                .accept("application/json")
                .auth(PeerAuth::TwoLoI(user.into())),
        )
        .await
        .map_err(|e| StatusError::with(e.kind.into(), e.details))?;
    match resp.status.as_u16() {
        200 => {}
        401 | 403 => return Err(StatusError::new(ErrType::InsufficientRemotePermission)),
        404 => return Err(StatusError::new(ErrType::NoRemoteApplink)),
        s => {
            return Err(StatusError::with(
                ErrType::UnexpectedResponseStatus,
                format!("status={s}"),
            ));
        }
    }
    let v: Value = serde_json::from_slice(&resp.body)
        .map_err(|e| StatusError::with(ErrType::UnexpectedResponse, e.to_string()))?;
    let incoming = v["consumers"]
        .as_array()
        .and_then(|cs| cs.first())
        .map(|c| {
            if c["twoLOImpersonationAllowed"].as_bool() == Some(true) {
                Level::Impersonation
            } else if c["twoLOAllowed"].as_bool() == Some(true) {
                Level::Default
            } else {
                Level::ThreeLoOnly
            }
        })
        .unwrap_or(Level::Disabled);
    let provs: Vec<&str> = v["configuredAuthProviders"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p["provider"].as_str()).collect())
        .unwrap_or_default();
    let mut tmp = crate::applinks::links::new_link(link.id, "jira", "", "", "");
    for p in provs {
        tmp.outgoing.insert(p.into(), Default::default());
    }
    Ok(OAuthPair {
        incoming: incoming.cfg(),
        outgoing: tmp.outgoing_level().cfg(),
    })
}

/// Step 6: the 2LO-signed manifest probe.
async fn two_lo_probe(app: &App, rpc: &str) -> Result<(), StatusError> {
    let resp = app
        .call(
            PeerRequest::get(join(rpc, "/rest/applinks/latest/manifest"))
                .accept("application/json")
                .auth(PeerAuth::TwoLo),
        )
        .await
        .map_err(|e| StatusError::with(e.kind.into(), e.details))?;
    match resp.status.as_u16() {
        200 => Ok(()),
        401 => {
            let challenge = resp
                .headers
                .get(reqwest::header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            if !challenge.starts_with("OAuth") {
                return Err(StatusError::with(
                    ErrType::InsufficientRemotePermission,
                    "status=401",
                ));
            }
            let problem = challenge
                .split(',')
                .filter_map(|p| p.trim().split_once('='))
                .find(|(k, _)| k.trim() == "oauth_problem")
                .map(|(_, v)| crate::wire::oauth1::decode(v.trim().trim_matches('"')));
            match problem.as_deref() {
                None if resp.body.is_empty() => {
                    Err(StatusError::new(ErrType::AuthLevelUnsupported))
                }
                None => Err(StatusError::with(ErrType::OauthProblem, resp.text())),
                Some("timestamp_refused") => Err(StatusError::with(
                    ErrType::OauthTimestampRefused,
                    "timestamp_refused",
                )),
                Some("signature_invalid") => Err(StatusError::with(
                    ErrType::OauthSignatureInvalid,
                    "signature_invalid",
                )),
                Some(p) => Err(StatusError::with(ErrType::OauthProblem, p.to_string())),
            }
        }
        403 => Err(StatusError::with(
            ErrType::InsufficientRemotePermission,
            "status=403",
        )),
        s => Err(StatusError::with(
            ErrType::UnexpectedResponseStatus,
            format!(
                "status={s},body={}",
                resp.text().chars().take(200).collect::<String>()
            ),
        )),
    }
}

/// Computes the status of a link (docs/simulator.md#status-api). Returns remote OAuth config when it was read.
pub async fn compute(
    app: &App,
    link: &Link,
    user: &str,
) -> (Option<OAuthPair>, Result<(), StatusError>) {
    if link.system {
        return (None, Err(StatusError::new(ErrType::SystemLink)));
    }
    if link.type_id == "generic" {
        return (None, Err(StatusError::new(ErrType::GenericLink)));
    }
    if !is_atlassian_type(&link.type_id) {
        return (None, Err(StatusError::new(ErrType::NonAtlassian)));
    }
    let caps = match remote_capabilities(app, &link.rpc_url).await {
        Ok(c) => c,
        Err(e) => return (None, Err(e)),
    };
    let has_status_api = caps.capabilities.iter().any(|c| c == "STATUS_API");
    let remote = if has_status_api {
        remote_oauth_anonymous(app, &link.rpc_url).await
    } else {
        remote_oauth_authenticated(app, link, user).await
    };
    let remote = match remote {
        Ok(r) => r,
        Err(e) => return (None, Err(e)),
    };
    let (li, lo) = app.state.lock().expect("state").oauth_pair(link);
    let three_lo_only = |c: OAuthCfg| Level::from_cfg(c) == Level::ThreeLoOnly;
    if [li, lo, remote.incoming, remote.outgoing]
        .into_iter()
        .any(three_lo_only)
    {
        return (
            Some(remote),
            Err(StatusError::new(ErrType::AuthLevelUnsupported)),
        );
    }
    let norm = |c: OAuthCfg| Level::from_cfg(c);
    if norm(li) != norm(remote.outgoing) || norm(lo) != norm(remote.incoming) {
        return (
            Some(remote),
            Err(StatusError::new(ErrType::AuthLevelMismatch)),
        );
    }
    if [li, lo, remote.incoming, remote.outgoing]
        .into_iter()
        .all(|c| norm(c) == Level::Disabled)
    {
        return (Some(remote), Err(StatusError::new(ErrType::Disabled)));
    }
    if has_status_api
        && link.outgoing_level() >= Level::Default
        && let Err(e) = two_lo_probe(app, &link.rpc_url).await
    {
        return (Some(remote), Err(e));
    }
    (Some(remote), Ok(()))
}

/// `GET 3.0/status/{id}`.
pub async fn get_status(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    let user = caller.require_admin_v3()?.username.clone();
    let link = parse_id(&id)
        .and_then(|u| app.state.lock().expect("state").link(&u).cloned())
        .ok_or_else(|| ApiError::v3(404, format!("No application link with id {id}")))?;
    let (remote, result) = compute(&app, &link, &user).await;
    let (li, lo) = app.state.lock().expect("state").oauth_pair(&link);
    let mut body = json!({
        "link": {"id": link.id.to_string(), "name": link.name, "displayUrl": link.display_url,
                 "rpcUrl": link.rpc_url, "type": link.type_id},
        "working": result.is_ok(),
        "localAuthentication": {"incoming": li, "outgoing": lo},
    });
    if let Some(r) = remote {
        body["remoteAuthentication"] = json!(r);
    }
    if let Err(e) = result {
        body["error"] = e.json();
    }
    Ok(json_response(StatusCode::OK, &body))
}

/// `GET 3.0/status/{id}/oauth`: anonymous.
pub async fn get_oauth(State(app): State<Arc<App>>, Path(id): Path<String>) -> ApiResult {
    let st = app.state.lock().expect("state");
    let link = parse_id(&id)
        .and_then(|u| st.link(&u))
        .ok_or_else(|| ApiError::v3(404, format!("No application link with id {id}")))?;
    let (incoming, outgoing) = st.oauth_pair(link);
    Ok(json_response(
        StatusCode::OK,
        &json!(OAuthPair { incoming, outgoing }),
    ))
}

/// Stores the peer's consumer for a link, fetching its consumer-info (docs/simulator.md#oauth-configuration).
pub async fn fetch_consumer(app: &App, rpc: &str, level: Level) -> Result<Consumer, String> {
    let info = app.fetch_consumer_info(rpc).await?;
    let public_key = info.public_key.clone().unwrap_or_default();
    crate::wire::keys::parse_public_key(&public_key)?;
    Ok(Consumer {
        key: info.key.unwrap_or_default(),
        name: info.name.unwrap_or_default(),
        description: info.description,
        callback: info.callback,
        public_key: Some(public_key),
        two_lo_allowed: level >= Level::Default,
        executing_two_lo_user: None,
        two_lo_impersonation_allowed: level == Level::Impersonation,
    })
}

/// Applies an OAuth configuration to a local link. A consumer already stored for the link is
/// reused; only a link without one fetches the peer's consumer-info (docs/simulator.md#consumer-store).
pub async fn apply_oauth(app: &App, id: uuid::Uuid, pair: OAuthPair) -> Result<(), ApiError> {
    let inc = Level::from_cfg(pair.incoming);
    let out = Level::from_cfg(pair.outgoing);
    let (rpc, has_consumer) = {
        let st = app.state.lock().expect("state");
        let l = st
            .link(&id)
            .ok_or_else(|| ApiError::v3(404, format!("No application link with id {id}")))?;
        (l.rpc_url.clone(), st.consumer_of(l).is_some())
    };
    let consumer = if inc != Level::Disabled && !has_consumer {
        Some(fetch_consumer(app, &rpc, inc).await.map_err(|e| {
            ApiError::v3(
                409,
                format!("Consumer information of {rpc} unavailable: {e}"),
            )
        })?)
    } else {
        None
    };
    let mut st = app.state.lock().expect("state");
    let l = st
        .persisted
        .links
        .get_mut(&id)
        .ok_or_else(|| ApiError::v3(404, format!("No application link with id {id}")))?;
    l.set_outgoing_level(out);
    if let Some(c) = consumer {
        st.add_consumer(&id, c);
    }
    st.set_incoming_level(&id, inc);
    Ok(())
}

/// `PUT 3.0/status/{id}/oauth`: admin; sysadmin when impersonation is enabled on either side.
pub async fn put_oauth(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    caller.require_admin_v3()?;
    // The resource documents a 500 for a body it cannot read (docs/simulator.md#oauth-configuration).
    let pair: OAuthPair = serde_json::from_slice(&body)
        .map_err(|e| ApiError::v3(500, format!("Unable to read the OAuth configuration: {e}")))?;
    let impersonation = [pair.incoming, pair.outgoing]
        .iter()
        .any(|c| Level::from_cfg(*c) == Level::Impersonation);
    if impersonation && app.is_cloud() {
        return Err(ApiError::v3(
            400,
            "2-legged OAuth with impersonation is not supported by this application",
        ));
    }
    if impersonation && !caller.is_sysadmin() {
        return Err(ApiError::v3(
            403,
            "System administrator permission required for impersonation",
        ));
    }
    let uid = parse_id(&id)
        .ok_or_else(|| ApiError::v3(404, format!("No application link with id {id}")))?;
    apply_oauth(&app, uid, pair).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(parse_version("9.1.4"), Some((9, 1, 4, String::new())));
        assert_eq!(parse_version("5.0"), Some((5, 0, 0, String::new())));
        assert_eq!(
            parse_version("1001.0.0-SNAPSHOT"),
            Some((1001, 0, 0, "-SNAPSHOT".into()))
        );
        assert_eq!(parse_version("x1"), None);
        assert!(!at_least(&parse_version("4.0.12").unwrap(), (4, 0, 13)));
        assert!(at_least(&parse_version("5.0.5").unwrap(), (5, 0, 5)));
    }

    #[test]
    fn categories() {
        assert_eq!(ErrType::ConnectionRefused.name(), "CONNECTION_REFUSED");
        assert_eq!(ErrType::AuthLevelMismatch.category(), "CONFIG_ERROR");
        assert_eq!(
            ErrType::OauthSignatureInvalid.name(),
            "OAUTH_SIGNATURE_INVALID"
        );
    }
}
