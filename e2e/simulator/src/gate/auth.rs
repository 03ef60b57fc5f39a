//! Who is calling: Basic auth, `al_username`/`al_password`, or a verified OAuth request; and the
//! admin rules of the three resource families.

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::{HeaderValue, Request, header, request::Parts};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::app::{App, is_admin, is_sysadmin};
use crate::config::UserConfig;
use crate::gate::access;
use crate::profile::CaptchaMode;
use crate::wire::model::StatusEnv;
use crate::wire::oauth1::{self as oauth, Problem};
use crate::wire::respond::{ApiError, Fmt, status_env};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    Anonymous,
    Basic,
    Bearer,
    TwoLo,
    TwoLoImpersonation,
    ThreeLo,
    /// A `JSESSIONID` cookie of a session created through the control API.
    Session,
    /// An OAuth 2.0 access token of the app's provider (`Authorization: Bearer`).
    OAuth2,
}

impl Via {
    pub fn label(self) -> &'static str {
        match self {
            Via::Anonymous => "anonymous",
            Via::Basic => "basic",
            Via::Bearer => "bearer",
            Via::TwoLo => "2lo",
            Via::TwoLoImpersonation => "2loi",
            Via::ThreeLo => "3lo",
            Via::Session => "session",
            Via::OAuth2 => "oauth2",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Caller {
    pub user: Option<UserConfig>,
    pub via: Via,
    /// Valid `al_username`/`al_password` query credentials, honoured by admin resources only.
    pub al_user: Option<UserConfig>,
    /// A Basic login refused for a CAPTCHA and served as anonymous (`captcha_mode: anonymous`).
    pub login_denied: bool,
    /// The client and scope of an OAuth 2.0 bearer request (its `user` is already capped by
    /// the scope).
    pub oauth2: Option<crate::gate::bearer::Grant>,
}

impl Caller {
    pub fn anonymous() -> Self {
        Caller {
            user: None,
            via: Via::Anonymous,
            al_user: None,
            login_denied: false,
            oauth2: None,
        }
    }

    /// The user the admin interceptor sees: the authenticated one, else the query credentials.
    pub fn admin_user(&self) -> Option<&UserConfig> {
        self.user.as_ref().or(self.al_user.as_ref())
    }

    /// Classic resources: 401 Status unless admin (AdminApplicationLinksInterceptor, docs/simulator.md#administrator-check).
    pub fn require_admin(&self, fmt: Fmt) -> Result<&UserConfig, ApiError> {
        match self.admin_user() {
            Some(u) if is_admin(u) => Ok(u),
            _ => Err(ApiError::status(
                fmt,
                401,
                "You must be an administrator to perform this operation (applinks.error.only.admin)",
            )),
        }
    }

    /// Resources open to any logged-in user: 401 for anonymous callers.
    pub fn require_user(&self, fmt: Fmt) -> Result<&UserConfig, ApiError> {
        self.user.as_ref().ok_or_else(|| {
            ApiError::status(
                fmt,
                401,
                "Client must be authenticated to access this resource.",
            )
        })
    }

    /// Classic sysadmin-only operations: 401 when not admin, 403 when admin only.
    pub fn require_sysadmin(&self, fmt: Fmt) -> Result<&UserConfig, ApiError> {
        let u = self.require_admin(fmt)?;
        if is_sysadmin(u) {
            Ok(u)
        } else {
            Err(ApiError::status(
                fmt,
                403,
                "You must be a system administrator to perform this operation",
            ))
        }
    }

    /// V3 resources: 401 when not authenticated, 403 when not admin.
    pub fn require_admin_v3(&self) -> Result<&UserConfig, ApiError> {
        match self.admin_user() {
            None => Err(ApiError::v3(401, "Authentication required")),
            Some(u) if !is_admin(u) => Err(ApiError::v3(403, "Administrator permission required")),
            Some(u) => Ok(u),
        }
    }

    pub fn is_sysadmin(&self) -> bool {
        self.admin_user().is_some_and(is_sysadmin)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Caller>()
            .cloned()
            .unwrap_or_else(Caller::anonymous))
    }
}

/// The URI the signer signed: our scheme, the Host the client used, the raw path.
/// With a configured base URL (fault `configured_base_url`), the product signs against that base,
/// as applinks does behind a proxy it was not told about (docs/simulator.md#base-url-behind-a-proxy).
pub fn signed_base_uri(app: &App, req: &Request<Body>) -> String {
    let configured = app
        .faults
        .lock()
        .expect("faults")
        .configured_base_url
        .clone();
    if let Some(base) = configured {
        return format!("{}{}", base.trim_end_matches('/'), req.uri().path());
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_else(|| format!("{}:{}", app.cfg.host, app.port))
        .to_ascii_lowercase();
    let default_port = if app.scheme == "https" { ":443" } else { ":80" };
    let host = host.strip_suffix(default_port).unwrap_or(&host);
    format!("{}://{}{}", app.scheme, host, req.uri().path())
}

fn unauthorized_basic(fmt: Fmt) -> Response {
    let mut r = status_env(
        fmt,
        StatusEnv::message(401, "Client must be authenticated to access this resource."),
    );
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"Atlassian\""),
    );
    r
}

/// A request answered before it reaches its resource, with the label of the request log.
pub struct Rejected {
    pub response: Box<Response>,
    pub label: &'static str,
}

fn rejected(response: Response, label: &'static str) -> Rejected {
    Rejected {
        response: Box::new(response),
        label,
    }
}

fn rejected_because(mut response: Response, label: &'static str, reason: &str) -> Rejected {
    response
        .extensions_mut()
        .insert(crate::wire::respond::LogReason(reason.to_string()));
    rejected(response, label)
}

/// An OAuth 2.0 caller.
fn oauth2_caller(
    caller: Caller,
    user: crate::config::UserConfig,
    grant: crate::gate::bearer::Grant,
) -> Caller {
    Caller {
        user: Some(user),
        via: Via::OAuth2,
        oauth2: Some(grant),
        ..caller
    }
}

/// The password of a Basic header, if it decodes.
fn basic_password(b64: &str) -> Option<String> {
    let decoded = STANDARD.decode(b64.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    text.split_once(':').map(|(_, p)| p.to_string())
}

/// Checks a Basic login the way Seraph does: blocked Basic (REST only) first, then the CAPTCHA
/// lock-out (even for the right password), then the password, counting failures.
fn basic_login(app: &App, req: &Request<Body>, b64: &str) -> Result<Option<UserConfig>, Rejected> {
    let fmt = Fmt::from_headers(req.headers());
    let settings = app.settings();
    let decoded = STANDARD
        .decode(b64.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default();
    let (username, password) = decoded.split_once(':').unwrap_or((&decoded, ""));
    if crate::gate::basic_blocked::blocked(&settings, username, req.uri().path()) {
        let refusal = crate::gate::basic_blocked::refusal(req.headers());
        return Err(rejected(refusal, "basic_disabled"));
    }
    let mut acc = app.access.lock().expect("access");
    if acc.captcha_required(&settings, username) {
        if settings.captcha_mode == CaptchaMode::Anonymous {
            return Ok(None);
        }
        return Err(rejected(
            access::captcha_challenge(fmt, &app.login_url()),
            "captcha",
        ));
    }
    let user = app.check_password(username, password);
    acc.record_login(username, user.is_some());
    user.map(Some).ok_or_else(|| {
        rejected_because(
            unauthorized_basic(fmt),
            "rejected",
            "wrong username or password",
        )
    })
}

/// Resolves the caller of an Atlassian request, or answers it (bad credentials, OAuth problems).
/// OAuth servlets verify their own requests, so OAuth headers are not checked for them.
pub fn resolve(app: &App, req: &Request<Body>) -> Result<Caller, Rejected> {
    let fmt = Fmt::from_headers(req.headers());
    let mut caller = Caller::anonymous();
    let query = req.uri().query().unwrap_or("");
    let pairs = oauth::form_pairs(query);
    let qget = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if let (Some(u), Some(p)) = (qget("al_username"), qget("al_password")) {
        caller.al_user = app.check_password(u, p);
    }
    let Some(auth) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        let session = access::session_id(req).and_then(|id| {
            app.access
                .lock()
                .expect("access")
                .sessions
                .get(&id)
                .cloned()
        });
        if let Some(user) = session.and_then(|s| app.user(&s.username)) {
            caller.user = Some(user);
            caller.via = Via::Session;
        }
        return Ok(caller);
    };
    if let Some(b64) = auth.strip_prefix("Basic ") {
        // The OAuth 2.0 filter also takes an access token as a Basic password
        // (`atlassian.oauth2.provider.token.via.basic.authentication`, default on).
        if let Some(password) = basic_password(b64)
            && let crate::gate::bearer::Bearer::Valid(user, grant) =
                crate::gate::bearer::authenticate(app, &password)
        {
            return Ok(oauth2_caller(caller, *user, grant));
        }
        match basic_login(app, req, b64)? {
            Some(user) => {
                caller.user = Some(user);
                caller.via = Via::Basic;
            }
            None => caller.login_denied = true,
        }
        return Ok(caller);
    }
    if auth.starts_with("OAuth") {
        if req.uri().path().starts_with("/plugins/servlet/oauth/") {
            return Ok(caller);
        }
        return resolve_oauth(app, req, auth, &pairs)
            .map(|(user, via)| Caller {
                user,
                via,
                al_user: caller.al_user,
                login_denied: false,
                oauth2: None,
            })
            .map_err(|p| rejected(p.response(&app.base_url), "rejected"));
    }
    if let Some(token) = auth.strip_prefix("Bearer ") {
        let token = token.trim();
        // The OAuth 2.0 filter runs first; a token it does not recognise goes on to the
        // personal access token filter, which refuses what it does not know either.
        let oauth2_problem = match crate::gate::bearer::authenticate(app, token) {
            crate::gate::bearer::Bearer::Valid(user, grant) => {
                return Ok(oauth2_caller(caller, *user, grant));
            }
            crate::gate::bearer::Bearer::Invalid(why) => Some(why),
            crate::gate::bearer::Bearer::NotOAuth2 => None,
        };
        return match app.check_token(token) {
            Some(u) => {
                caller.user = Some(u);
                caller.via = Via::Bearer;
                Ok(caller)
            }
            None => Err(rejected_because(
                unauthorized_basic(fmt),
                "rejected",
                oauth2_problem.unwrap_or("unknown bearer token"),
            )),
        };
    }
    Err(rejected(unauthorized_basic(fmt), "rejected"))
}

fn resolve_oauth(
    app: &App,
    req: &Request<Body>,
    auth: &str,
    query: &[(String, String)],
) -> Result<(Option<UserConfig>, Via), Problem> {
    let params = oauth::parse_authorization(auth).ok_or(Problem::ParameterAbsent)?;
    let base = signed_base_uri(app, req);
    let key_param = params
        .iter()
        .find(|(k, _)| k == "oauth_consumer_key")
        .map(|(_, v)| v.clone());
    let mut st = app.state.lock().expect("state");
    let consumer = key_param
        .as_deref()
        .and_then(|k| st.persisted.consumers.get(k))
        .cloned();
    let public = consumer
        .as_ref()
        .and_then(|c| c.public_key.as_deref())
        .and_then(|pk| crate::wire::keys::parse_public_key(pk).ok());
    let signed = oauth::verify(
        req.method().as_str(),
        &base,
        &params,
        query,
        |_| public,
        &mut st.nonces,
    )?;
    let consumer = consumer.ok_or(Problem::ConsumerKeyUnknown)?;
    match signed.token.as_deref() {
        None => Err(Problem::ParameterAbsent),
        Some("") => {
            if let Some(requestor) = signed.requestor() {
                if !consumer.two_lo_impersonation_allowed {
                    return Err(Problem::TwoLoNotAllowed);
                }
                let user = app.user(requestor).ok_or(Problem::PermissionUnknown)?;
                Ok((Some(user), Via::TwoLoImpersonation))
            } else {
                if !consumer.two_lo_allowed {
                    return Err(Problem::TwoLoNotAllowed);
                }
                let user = consumer
                    .executing_two_lo_user
                    .as_deref()
                    .and_then(|u| app.user(u));
                Ok((user, Via::TwoLo))
            }
        }
        Some(token) => {
            let at = st
                .access_tokens
                .get(token)
                .filter(|t| t.consumer_key == signed.consumer_key)
                .ok_or(Problem::TokenRejected)?;
            let user = app.user(&at.user).ok_or(Problem::PermissionUnknown)?;
            Ok((Some(user), Via::ThreeLo))
        }
    }
}
