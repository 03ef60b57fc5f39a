//! The OAuth 2.0 provider ("External application → incoming" links) of Jira 8.22+, Confluence
//! 7.17+, Bitbucket 7.20+ and Bamboo 9.1+ (reference `real-products.md` §5, read against the
//! decompiled oauth2-provider-plugin and oauth2-scopes-plugin 3.1.5): client CRUD for system
//! administrators, the authorization server metadata, the token and revoke endpoints, the
//! bearer tokens the REST API accepts and their scopes. `/authorize` and the consent page are in
//! `oauth2_authorize.rs`. Inferred details are listed in e2e/README.md.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::app::App;
use crate::auth::Caller;
use crate::config::{Role, UserConfig};
use crate::product::Product;
use crate::respond::json_response;
use crate::state::LogReason;

/// Where the provider's REST module answers (`latest` is what the metadata advertises).
pub const BASES: [&str; 2] = ["/rest/oauth2/latest", "/rest/oauth2/1.0"];
pub const LATEST: &str = "/rest/oauth2/latest";

// ---------------------------------------------------------------------------------------------
// Scopes (oauth2-scopes-plugin: BasicScope, BitbucketScope, BambooScope, DefaultScopeResolver).

/// A scope and every scope it implies, itself included.
#[derive(Debug, PartialEq, Eq)]
pub struct ScopeDef {
    pub name: &'static str,
    pub implies: &'static [&'static str],
}

const fn def(name: &'static str, implies: &'static [&'static str]) -> ScopeDef {
    ScopeDef { name, implies }
}

/// Jira and Confluence.
const BASIC: &[ScopeDef] = &[
    def("READ", &["READ"]),
    def("WRITE", &["WRITE", "READ"]),
    def("ADMIN", &["ADMIN", "WRITE", "READ"]),
    def("SYSTEM_ADMIN", &["SYSTEM_ADMIN", "ADMIN", "WRITE", "READ"]),
];

/// Bitbucket: not a chain (REPO_READ does not imply ACCOUNT_WRITE; ADMIN_WRITE implies both).
const BITBUCKET: &[ScopeDef] = &[
    def("PUBLIC_REPOS", &["PUBLIC_REPOS"]),
    def("ACCOUNT_WRITE", &["ACCOUNT_WRITE", "PUBLIC_REPOS"]),
    def("REPO_READ", &["REPO_READ", "PUBLIC_REPOS"]),
    def("REPO_WRITE", &["REPO_WRITE", "REPO_READ", "PUBLIC_REPOS"]),
    def(
        "REPO_ADMIN",
        &["REPO_ADMIN", "REPO_WRITE", "REPO_READ", "PUBLIC_REPOS"],
    ),
    def(
        "PROJECT_ADMIN",
        &[
            "PROJECT_ADMIN",
            "REPO_ADMIN",
            "REPO_WRITE",
            "REPO_READ",
            "PUBLIC_REPOS",
        ],
    ),
    def(
        "ADMIN_WRITE",
        &[
            "ADMIN_WRITE",
            "PROJECT_ADMIN",
            "REPO_ADMIN",
            "REPO_WRITE",
            "REPO_READ",
            "ACCOUNT_WRITE",
            "PUBLIC_REPOS",
        ],
    ),
    def(
        "SYSTEM_ADMIN",
        &[
            "SYSTEM_ADMIN",
            "ADMIN_WRITE",
            "PROJECT_ADMIN",
            "REPO_ADMIN",
            "REPO_WRITE",
            "REPO_READ",
            "ACCOUNT_WRITE",
            "PUBLIC_REPOS",
        ],
    ),
];

const BAMBOO: &[ScopeDef] = &[
    def("READ", &["READ"]),
    def("TRIGGER", &["TRIGGER", "READ"]),
    def("USER", &["USER", "TRIGGER", "READ"]),
];

/// Newer Bamboo documentation adds WRITE; where it sits in the hierarchy is inferred.
const BAMBOO_WITH_WRITE: &[ScopeDef] = &[
    def("READ", &["READ"]),
    def("TRIGGER", &["TRIGGER", "READ"]),
    def("WRITE", &["WRITE", "TRIGGER", "READ"]),
    def("USER", &["USER", "WRITE", "TRIGGER", "READ"]),
];

/// `major.minor` of a version string ("8.22.0" → (8, 22)).
fn major_minor(v: &str) -> (u64, u64) {
    let mut it = v
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u64>().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

/// The scope vocabulary of a product line, or `None` where the provider does not exist
/// (before Jira 8.22, Confluence 7.17, Bitbucket 7.20, Bamboo 9.1; Fisheye/Crucible, generic
/// applications and the cloud flavours).
pub fn vocabulary(product: Product, version: &str) -> Option<&'static [ScopeDef]> {
    let v = major_minor(version);
    match product {
        Product::Jira if v >= (8, 22) => Some(BASIC),
        Product::Confluence if v >= (7, 17) => Some(BASIC),
        Product::Bitbucket if v >= (7, 20) => Some(BITBUCKET),
        Product::Bamboo if v >= (11, 0) => Some(BAMBOO_WITH_WRITE),
        Product::Bamboo if v >= (9, 1) => Some(BAMBOO),
        _ => None,
    }
}

pub fn app_vocabulary(app: &App) -> Option<&'static [ScopeDef]> {
    vocabulary(app.cfg.product, &app.ident.version)
}

#[derive(Debug, PartialEq, Eq)]
pub enum ScopeError {
    Blank,
    Unknown(Vec<String>),
}

/// A parsed scope: one name or several (a composite scope).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    names: BTreeSet<&'static str>,
    vocab: &'static [ScopeDef],
}

impl Scope {
    /// `DefaultScopeResolver.getScope`: names separated by single spaces, all known.
    pub fn parse(vocab: &'static [ScopeDef], s: &str) -> Result<Scope, ScopeError> {
        if s.trim().is_empty() {
            return Err(ScopeError::Blank);
        }
        let mut names = BTreeSet::new();
        let mut unknown = vec![];
        for part in s.split(' ') {
            match vocab.iter().find(|d| d.name == part) {
                Some(d) => {
                    names.insert(d.name);
                }
                None => unknown.push(part.to_string()),
            }
        }
        if unknown.is_empty() {
            Ok(Scope { names, vocab })
        } else {
            Err(ScopeError::Unknown(unknown))
        }
    }

    /// A composite scope's name is its names sorted and joined by spaces.
    pub fn name(&self) -> String {
        self.names.iter().copied().collect::<Vec<_>>().join(" ")
    }

    /// The scope and everything it implies.
    pub fn implied(&self) -> BTreeSet<&'static str> {
        self.names
            .iter()
            .filter_map(|n| self.vocab.iter().find(|d| d.name == *n))
            .flat_map(|d| d.implies.iter().copied())
            .collect()
    }

    pub fn has(&self, name: &str) -> bool {
        self.implied().contains(name)
    }

    /// `hasScopePermission(token, config)`: what this scope implies is within `config`'s.
    pub fn within(&self, config: &Scope) -> bool {
        self.implied().is_subset(&config.implied())
    }
}

fn scope_error_text(scope: &str) -> String {
    format!("Invalid scope '{scope}' (oauth2.request.scope.not.valid.error.message)")
}

// ---------------------------------------------------------------------------------------------
// Stored state.

/// A client as `ClientEntity` stores it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Client {
    pub id: String,
    pub client_id: String,
    pub client_secret: String,
    pub name: String,
    /// Sorted and without duplicates, as the validator leaves them.
    pub redirects: Vec<String>,
    /// The normalised scope name (`READ WRITE` for a composite).
    pub scope: String,
    pub user_key: String,
}

/// An authorization code waiting to be exchanged.
#[derive(Clone, Debug)]
pub struct Authorization {
    pub client_id: String,
    pub redirect_uri: String,
    pub username: String,
    pub scope: String,
    /// `plain` or `S256`; `None` = no PKCE.
    pub challenge_method: Option<String>,
    pub challenge: Option<String>,
    pub created_ms: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AccessRecord {
    pub client_id: String,
    pub username: String,
    pub scope: String,
    pub authorization_code: String,
    pub created_ms: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RefreshRecord {
    pub client_id: String,
    pub username: String,
    pub scope: String,
    pub authorization_code: String,
    /// Hash of the access token issued with this refresh token.
    pub access_hash: String,
    pub refresh_count: u32,
    pub created_ms: u64,
}

/// The provider's store. Tokens are kept by the SHA-256 of their id, as the product does, so
/// a state file holds no usable token.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuth2Store {
    /// By `id` (the UUID, not the client id).
    pub clients: BTreeMap<String, Client>,
    #[serde(default)]
    pub access_tokens: BTreeMap<String, AccessRecord>,
    #[serde(default)]
    pub refresh_tokens: BTreeMap<String, RefreshRecord>,
    #[serde(skip)]
    pub codes: HashMap<String, Authorization>,
    /// XSRF token of the consent page per HTTP session id (`atlassian.oauth2.xsrf.token`).
    #[serde(skip)]
    pub consent_xsrf: HashMap<String, String>,
}

impl OAuth2Store {
    pub fn by_client_id(&self, client_id: &str) -> Option<&Client> {
        self.clients.values().find(|c| c.client_id == client_id)
    }

    /// `removeByClientId`: every access and refresh token of the client.
    pub fn remove_tokens_of(&mut self, client_id: &str) {
        self.access_tokens.retain(|_, t| t.client_id != client_id);
        self.refresh_tokens.retain(|_, t| t.client_id != client_id);
    }

    /// `removeTokensByAuthorizationCode`: a replayed code revokes what it produced.
    pub fn remove_tokens_of_code(&mut self, code: &str) {
        let gone: Vec<String> = self
            .refresh_tokens
            .iter()
            .filter(|(_, r)| r.authorization_code == code)
            .map(|(k, _)| k.clone())
            .collect();
        for k in gone {
            if let Some(r) = self.refresh_tokens.remove(&k) {
                self.access_tokens.remove(&r.access_hash);
            }
        }
    }

    fn code_redeemed(&self, code: &str) -> bool {
        self.refresh_tokens
            .values()
            .any(|r| r.authorization_code == code)
    }

    /// Ages every code and token by `secs` (control API), so expiry can be tested without
    /// waiting.
    pub fn age(&mut self, secs: u64) {
        let ms = secs.saturating_mul(1000);
        for a in self.codes.values_mut() {
            a.created_ms = a.created_ms.saturating_sub(ms);
        }
        for t in self.access_tokens.values_mut() {
            t.created_ms = t.created_ms.saturating_sub(ms);
        }
        for t in self.refresh_tokens.values_mut() {
            t.created_ms = t.created_ms.saturating_sub(ms);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Identifiers, hashes, JWTs.

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `ClientCredentialsGenerator`: an AES key of `bytes` random bytes, hex encoded (16 → 32 hex
/// characters for client ids, codes and token ids; 32 → 64 for secrets).
pub fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut b);
    hex(&b)
}

pub fn sha256_hex(s: &str) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, s.as_bytes()).as_ref())
}

/// `DefaultPkceService`: S256 is the unpadded base64url SHA-256 of the verifier.
pub fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ))
}

/// Code challenges and verifiers: 43 to 128 unreserved characters.
pub fn valid_pkce_code(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'~' | b'-' | b'.' | b'_'))
}

/// The key of the app's HS256 token signatures. Derived from the seed so that persisted tokens
/// stay valid across restarts, like the product's stored JWT secret.
fn jwt_key(app: &App) -> ring::hmac::Key {
    let d = ring::digest::digest(
        &ring::digest::SHA256,
        format!("oauth2-jwt:{}", app.cfg.seed()).as_bytes(),
    );
    ring::hmac::Key::new(ring::hmac::HMAC_SHA256, d.as_ref())
}

/// `JwtService.createToken`: an HS256 JWT whose only claim is the token id.
pub fn jwt(app: &App, id: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256"}"#);
    let payload = URL_SAFE_NO_PAD.encode(json!({ "id": id }).to_string());
    let signing_input = format!("{header}.{payload}");
    let sig = ring::hmac::sign(&jwt_key(app), signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
}

/// A value that is no JWT at all.
#[derive(Debug)]
pub struct NotAJwt;

/// `JwtService.extractTokenId`: `Err` when the value is no JWT at all (the product throws),
/// `Ok("")` when its signature does not verify, else the id.
pub fn jwt_id(app: &App, token: &str) -> Result<String, NotAJwt> {
    let parts: Vec<&str> = token.split('.').collect();
    let [h, p, s] = parts.as_slice() else {
        return Err(NotAJwt);
    };
    let header: Value = URL_SAFE_NO_PAD
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(NotAJwt)?;
    let payload: Value = URL_SAFE_NO_PAD
        .decode(p)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(NotAJwt)?;
    let sig = URL_SAFE_NO_PAD.decode(s).map_err(|_| NotAJwt)?;
    if header["alg"] != "HS256" {
        return Ok(String::new());
    }
    let signing_input = format!("{h}.{p}");
    if ring::hmac::verify(&jwt_key(app), signing_input.as_bytes(), &sig).is_err() {
        return Ok(String::new());
    }
    Ok(payload["id"].as_str().unwrap_or("").to_string())
}

/// A stable user key per product, so that a tool cannot mistake it for the username:
/// `JIRAUSER1xxxx` in Jira, 32 hex digits in Confluence, a number in Bitbucket.
pub fn user_key(app: &App, username: &str) -> String {
    let index = app
        .cfg
        .users
        .iter()
        .position(|u| u.username == username)
        .unwrap_or(0);
    match app.cfg.product {
        Product::Jira => format!("JIRAUSER{}", 10_000 + index),
        Product::Confluence => sha256_hex(&format!("confluence-user:{username}"))[..32].into(),
        Product::Bitbucket => (index + 1).to_string(),
        _ => username.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Bearer tokens on the REST API (AccessTokenFilter, DefaultAccessTokenAuthenticationHandler).

/// What an OAuth 2.0 bearer request carries besides its user.
#[derive(Clone, Debug)]
pub struct Grant {
    pub client_id: String,
    pub scope: Scope,
}

pub enum Bearer {
    /// Not an OAuth 2.0 token here (no provider, or not a JWT): maybe a personal access token.
    NotOAuth2,
    /// The authenticated user, capped by the token's scope, and the grant.
    Valid(Box<UserConfig>, Grant),
    /// Looked like a token but does not authenticate; the reason goes to the request log. The
    /// product's filter lets such a request go on unauthenticated, where the PAT filter refuses
    /// the unknown bearer token.
    Invalid(&'static str),
}

/// The highest role a scope lets a token act with: the scope caps the user's permissions.
fn role_cap(product: Product, scope: &Scope) -> Role {
    match product {
        Product::Jira | Product::Confluence if scope.has("SYSTEM_ADMIN") => Role::Sysadmin,
        Product::Jira | Product::Confluence if scope.has("ADMIN") => Role::Admin,
        Product::Bitbucket if scope.has("SYSTEM_ADMIN") => Role::Sysadmin,
        Product::Bitbucket if scope.has("ADMIN_WRITE") => Role::Admin,
        Product::Bamboo if scope.has("USER") => Role::Sysadmin,
        _ => Role::User,
    }
}

pub fn authenticate(app: &App, token: &str) -> Bearer {
    let Some(vocab) = app_vocabulary(app) else {
        return Bearer::NotOAuth2;
    };
    let Ok(id) = jwt_id(app, token) else {
        return Bearer::NotOAuth2;
    };
    if id.is_empty() {
        return Bearer::Invalid("oauth2 access token signature invalid");
    }
    let record = {
        let st = app.state.lock().expect("state");
        st.persisted
            .oauth2
            .access_tokens
            .get(&sha256_hex(&id))
            .cloned()
    };
    let Some(record) = record else {
        return Bearer::Invalid("oauth2 access token unknown or revoked");
    };
    let lifetime_ms = app.settings().oauth2.access_token_secs.saturating_mul(1000);
    if now_ms() > record.created_ms.saturating_add(lifetime_ms) {
        return Bearer::Invalid("oauth2 access token expired");
    }
    let Some(mut user) = app.user(&record.username) else {
        return Bearer::Invalid("oauth2 access token of an unknown user");
    };
    let Ok(scope) = Scope::parse(vocab, &record.scope) else {
        return Bearer::Invalid("oauth2 access token with an unknown scope");
    };
    user.role = user.role.min(role_cap(app.cfg.product, &scope));
    Bearer::Valid(
        Box::new(user),
        Grant {
            client_id: record.client_id,
            scope,
        },
    )
}

/// `ReadWriteScopeFilter` (Jira and Confluence): a token whose scope is only READ may GET only.
pub fn scope_refusal(app: &App, caller: &Caller, method: &Method) -> Option<Response> {
    let grant = caller.oauth2.as_ref()?;
    let basic = matches!(app.cfg.product, Product::Jira | Product::Confluence);
    let read_only = grant.scope.implied() == BTreeSet::from(["READ"]);
    if !basic || !read_only || *method == Method::GET {
        return None;
    }
    let msg = format!("Request does not have write scope. Cannot complete {method} request.");
    let mut r = (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/html;charset=UTF-8")],
        format!("<html><body><h1>HTTP Status 403</h1><p>{msg}</p></body></html>"),
    )
        .into_response();
    r.extensions_mut()
        .insert(LogReason(format!("oauth2 scope READ: {msg}")));
    Some(r)
}

/// Paths the token endpoint's `@XsrfProtectionExcluded` exempts from the XSRF check.
pub fn xsrf_excluded(path: &str) -> bool {
    BASES.iter().any(|b| {
        path.strip_prefix(b)
            .is_some_and(|t| matches!(t, "/token" | "/revoke") || t.starts_with("/revoke/"))
    })
}

// ---------------------------------------------------------------------------------------------
// Responses.

/// `RestErrorCollection` with Cache-Control no-store/no-cache (AbstractExceptionMapper).
fn errors(status: u16, errs: Vec<String>, fields: BTreeMap<&str, Vec<String>>) -> Response {
    let reason = errs
        .iter()
        .cloned()
        .chain(fields.iter().map(|(k, v)| format!("{k}: {}", v.join("; "))))
        .collect::<Vec<_>>()
        .join("; ");
    let mut r = json_response(
        crate::respond::sc(status),
        &json!({"errors": errs, "fieldErrors": fields}),
    );
    no_store(r.headers_mut());
    r.extensions_mut().insert(LogReason(reason));
    r
}

fn message(status: u16, msg: &str) -> Response {
    errors(status, vec![msg.to_string()], BTreeMap::new())
}

fn unauthorized() -> Response {
    message(
        401,
        "You are not authorised to perform this operation. (oauth2.rest.error.unauthorized)",
    )
}

fn not_found() -> Response {
    message(
        404,
        "The client does not exist. (oauth2.rest.error.client.does.not.exist)",
    )
}

pub fn unknown_error() -> Response {
    message(
        500,
        "An unknown error occurred. (oauth2.rest.error.unknown)",
    )
}

fn no_store(h: &mut HeaderMap) {
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// RFC 6749 §5.2 error (`RestError`): 401 for `invalid_client`, else 400.
fn oauth_error(error: &str, description: &str) -> Response {
    let status = if error == "invalid_client" {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::BAD_REQUEST
    };
    let mut r = json_response(
        status,
        &json!({"error": error, "error_description": description}),
    );
    no_store(r.headers_mut());
    r.extensions_mut()
        .insert(LogReason(format!("{error}: {description}")));
    r
}

fn client_json(c: &Client, show_secret: bool) -> Value {
    let mut v = json!({
        "id": c.id, "clientId": c.client_id, "name": c.name, "redirects": c.redirects,
        "userKey": c.user_key, "scope": c.scope,
    });
    if show_secret {
        v["clientSecret"] = json!(c.client_secret);
    }
    v
}

// ---------------------------------------------------------------------------------------------
// Client REST (ClientResource, ClientRestService, RestClientValidator).

pub fn routes() -> Router<Arc<App>> {
    let mut r = Router::new();
    for base in BASES {
        r = r
            .route(
                &format!("{base}/client"),
                get(list_clients).post(create_client),
            )
            .route(
                &format!("{base}/client/{{id}}"),
                get(get_client).put(update_client).delete(delete_client),
            )
            .route(
                &format!("{base}/client/reset/{{client_id}}"),
                put(reset_secret),
            )
            .route(
                &format!("{base}/.well-known/oauth-authorization-server"),
                get(well_known),
            )
            .route(&format!("{base}/token"), post(token))
            .route(&format!("{base}/revoke"), post(revoke))
            .route(
                &format!("{base}/authorize"),
                get(crate::oauth2_authorize::authorize),
            );
    }
    r.route(
        crate::oauth2_authorize::CONSENT_PATH,
        get(crate::oauth2_authorize::consent_page),
    )
    .route(
        crate::oauth2_authorize::ERROR_PATH,
        get(crate::oauth2_authorize::error_page),
    )
}

/// `SysadminOnlyResourceFilter`: anyone else, anonymous or a plain admin, gets 401.
fn require_sysadmin(caller: &Caller) -> Result<String, Box<Response>> {
    match &caller.user {
        Some(u) if u.role >= Role::Sysadmin => Ok(u.username.clone()),
        _ => Err(Box::new(unauthorized())),
    }
}

/// The body of POST and PUT `/client` (`RestClientEntity`); unknown fields are refused.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ClientBody {
    /// Accepted and ignored, as the product ignores them (ids and secrets are generated).
    #[serde(default)]
    #[allow(dead_code)]
    id: Option<String>,
    /// Only the create's name uniqueness check reads it (it excludes that client id).
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    client_secret: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    redirects: Option<Vec<String>>,
    #[serde(default)]
    #[allow(dead_code)]
    user_key: Option<String>,
    #[serde(default)]
    scope: Option<String>,
}

/// `@Consumes(application/json)`, then Jackson.
fn parse_body(headers: &HeaderMap, body: &[u8]) -> Result<ClientBody, Box<Response>> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    if !ct.to_ascii_lowercase().starts_with("application/json") {
        let mut r = StatusCode::UNSUPPORTED_MEDIA_TYPE.into_response();
        r.extensions_mut().insert(LogReason(format!(
            "Content-Type {ct} is not application/json"
        )));
        return Err(Box::new(r));
    }
    serde_json::from_slice::<ClientBody>(body).map_err(|e| {
        Box::new(message(
            400,
            &format!("The request body could not be read: {e} (oauth2.rest.error.invalid.body)"),
        ))
    })
}

/// What the validator leaves of a client: the fields it checked, or its errors.
struct Valid {
    name: String,
    redirects: Vec<String>,
    scope: String,
}

/// A Java `URI.create` would accept it: RFC 3986 characters (and non-ASCII), `%XX` escapes.
fn java_uri_parses(uri: &str) -> bool {
    let b = uri.as_bytes();
    let mut i = 0;
    let mut hashes = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'%' => {
                if !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                    && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
                {
                    return false;
                }
                i += 2;
            }
            b'#' => hashes += 1,
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => {}
            b'-' | b'.' | b'_' | b'~' | b':' | b'/' | b'?' | b'[' | b']' | b'@' | b'!' | b'$'
            | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=' => {}
            0x80.. => {}
            _ => return false,
        }
        i += 1;
    }
    hashes <= 1 && !uri.starts_with(':')
}

fn has_scheme(uri: &str) -> bool {
    match uri.split_once(':') {
        Some((s, _)) => {
            let mut chars = s.chars();
            chars.next().is_some_and(|c| c.is_ascii_alphabetic())
                && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        }
        None => false,
    }
}

/// `RestClientValidator.isUriValid`: the problems of one redirect URI, as message texts.
fn redirect_problems(uri: &str, s: &crate::config::OAuth2Settings) -> Vec<&'static str> {
    let mut out = vec![];
    if uri.chars().count() > 450 {
        out.push(
            "the redirect URI is longer than 450 characters (oauth2.rest.error.settings.redirect.field.too.long)",
        );
    }
    if !java_uri_parses(uri) {
        out.push("the redirect URI is not a valid URI (oauth2.rest.error.settings.redirect.field.invalid.uri)");
        return out;
    }
    if uri.contains('#') {
        out.push("the redirect URI must not have a fragment (oauth2.rest.error.settings.redirect.field.fragment.present)");
    }
    if !has_scheme(uri) {
        out.push("the redirect URI must be absolute (oauth2.rest.error.settings.redirect.field.not.absolute)");
        return out;
    }
    let scheme = uri.split(':').next().unwrap_or("");
    let localhost = url::Url::parse(uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        .is_some_and(|h| h == "localhost");
    let scheme_ok = s.skip_redirect_https
        || !scheme.eq_ignore_ascii_case("http")
        || (!s.disallow_localhost_redirect && localhost);
    if !scheme_ok {
        out.push("the redirect URI must use https unless its host is localhost (oauth2.rest.error.settings.redirect.field.invalid.scheme)");
    }
    out
}

/// `RestClientValidator.validate`: name, redirects and scope, with every error at once. `Err`
/// carries the answer: 400 with the field errors, or the 500 a missing name causes (its
/// uniqueness check trims a null name).
fn validate(
    app: &App,
    exclude_client_id: Option<&str>,
    name: Option<&str>,
    redirects: &[String],
    scope: &str,
) -> Result<Valid, Box<Response>> {
    let Some(vocab) = app_vocabulary(app) else {
        return Err(Box::new(unknown_error()));
    };
    let Some(name) = name else {
        return Err(Box::new(unknown_error()));
    };
    let settings = app.settings().oauth2;
    let mut fields: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    if name.trim().is_empty() {
        fields
            .entry("name")
            .or_default()
            .push("name is required (oauth2.rest.error.settings.field.required)".into());
    }
    if name.chars().count() > 255 {
        fields.entry("name").or_default().push(
            "name must not be longer than 255 characters (oauth2.rest.error.settings.field.too.long)"
                .into(),
        );
    }
    let taken = {
        let st = app.state.lock().expect("state");
        st.persisted
            .oauth2
            .clients
            .values()
            .any(|c| c.name == name.trim() && Some(c.client_id.as_str()) != exclude_client_id)
    };
    if taken {
        fields.entry("name").or_default().push(
            "A client with this name already exists (oauth2.rest.error.settings.name.field.unique.warning.message)"
                .into(),
        );
    }
    let mut sorted: Vec<String> = redirects
        .iter()
        .filter(|r| !r.trim().is_empty())
        .cloned()
        .collect();
    sorted.sort();
    sorted.dedup();
    let mut problems: Vec<&str> = vec![];
    for r in &sorted {
        for p in redirect_problems(r, &settings) {
            if !problems.contains(&p) {
                problems.push(p);
            }
        }
    }
    if !problems.is_empty() {
        fields.entry("redirects").or_default().push(format!(
            "Invalid redirect URI: {} (oauth2.rest.error.settings.redirect.field.invalid)",
            problems.join(", ")
        ));
    }
    if sorted.is_empty() {
        fields
            .entry("redirects")
            .or_default()
            .push("redirects is required (oauth2.rest.error.settings.field.required)".into());
    }
    let scope = match Scope::parse(vocab, scope) {
        Ok(s) => s.name(),
        Err(_) => {
            fields
                .entry("scope")
                .or_default()
                .push(scope_error_text(scope));
            scope.to_string()
        }
    };
    if !fields.is_empty() {
        return Err(Box::new(errors(400, vec![], fields)));
    }
    Ok(Valid {
        name: name.to_string(),
        redirects: sorted,
        scope,
    })
}

fn trimmed(s: &Option<String>) -> Option<String> {
    s.as_ref().map(|v| v.trim().to_string())
}

fn trimmed_redirects(r: &Option<Vec<String>>) -> Vec<String> {
    r.iter().flatten().map(|v| v.trim().to_string()).collect()
}

fn show_secret_in_reads(app: &App) -> bool {
    !app.settings().oauth2.secret_shown_once
}

async fn list_clients(State(app): State<Arc<App>>, caller: Caller) -> Response {
    if let Err(r) = require_sysadmin(&caller) {
        return *r;
    }
    let show = show_secret_in_reads(&app);
    let st = app.state.lock().expect("state");
    let mut list: Vec<&Client> = st.persisted.oauth2.clients.values().collect();
    list.sort_by(|a, b| a.client_id.cmp(&b.client_id));
    let v: Vec<Value> = list.iter().map(|c| client_json(c, show)).collect();
    json_response(StatusCode::OK, &json!(v))
}

async fn create_client(
    State(app): State<Arc<App>>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let username = match require_sysadmin(&caller) {
        Ok(u) => u,
        Err(r) => return *r,
    };
    let b = match parse_body(&headers, &body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let name = trimmed(&b.name);
    let client_id_in_body = trimmed(&b.client_id);
    let valid = match validate(
        &app,
        client_id_in_body.as_deref(),
        name.as_deref(),
        &trimmed_redirects(&b.redirects),
        &trimmed(&b.scope).unwrap_or_default(),
    ) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let client = Client {
        id: uuid::Uuid::new_v4().to_string(),
        client_id: random_hex(16),
        client_secret: random_hex(32),
        name: valid.name,
        redirects: valid.redirects,
        scope: valid.scope,
        user_key: user_key(&app, &username),
    };
    let v = client_json(&client, true);
    app.state
        .lock()
        .expect("state")
        .persisted
        .oauth2
        .clients
        .insert(client.id.clone(), client);
    json_response(StatusCode::OK, &v)
}

async fn get_client(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = require_sysadmin(&caller) {
        return *r;
    }
    let show = show_secret_in_reads(&app);
    let st = app.state.lock().expect("state");
    match st.persisted.oauth2.clients.get(&id) {
        Some(c) => json_response(StatusCode::OK, &client_json(c, show)),
        None => not_found(),
    }
}

/// `PUT /client/{id}`: a blank name, an empty redirect list or a blank scope keep the stored
/// value; the result is validated as a whole. Existing tokens keep the scope they were issued
/// with.
async fn update_client(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = require_sysadmin(&caller) {
        return *r;
    }
    let b = match parse_body(&headers, &body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let Some(old) = app
        .state
        .lock()
        .expect("state")
        .persisted
        .oauth2
        .clients
        .get(&id)
        .cloned()
    else {
        return not_found();
    };
    let name = trimmed(&b.name)
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| old.name.clone());
    let redirects = match trimmed_redirects(&b.redirects) {
        r if r.is_empty() => old.redirects.clone(),
        r => r,
    };
    let scope = trimmed(&b.scope)
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| old.scope.clone());
    let valid = match validate(&app, Some(&old.client_id), Some(&name), &redirects, &scope) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let mut st = app.state.lock().expect("state");
    if let Some(c) = st.persisted.oauth2.clients.get_mut(&id) {
        c.name = valid.name;
        c.redirects = valid.redirects;
        c.scope = valid.scope;
    }
    StatusCode::NO_CONTENT.into_response()
}

/// `DELETE /client/{id}` → 200 with the deleted client; its tokens go with it.
async fn delete_client(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = require_sysadmin(&caller) {
        return *r;
    }
    let show = show_secret_in_reads(&app);
    let mut st = app.state.lock().expect("state");
    let Some(c) = st.persisted.oauth2.clients.remove(&id) else {
        return not_found();
    };
    st.persisted.oauth2.remove_tokens_of(&c.client_id);
    json_response(StatusCode::OK, &client_json(&c, show))
}

/// `PUT /client/reset/{clientId}` (the client id, not the UUID) → 200 with the client and its
/// new secret. Tokens already issued stay valid: only the token endpoint checks the secret.
async fn reset_secret(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(client_id): Path<String>,
) -> Response {
    if let Err(r) = require_sysadmin(&caller) {
        return *r;
    }
    let mut st = app.state.lock().expect("state");
    let Some(c) = st
        .persisted
        .oauth2
        .clients
        .values_mut()
        .find(|c| c.client_id == client_id)
    else {
        return not_found();
    };
    c.client_secret = random_hex(32);
    json_response(StatusCode::OK, &client_json(c, true))
}

/// `GET /.well-known/oauth-authorization-server`, anonymous.
async fn well_known(State(app): State<Arc<App>>) -> Response {
    let Some(vocab) = app_vocabulary(&app) else {
        return unknown_error();
    };
    let base = &app.base_url;
    let scopes: Vec<&str> = vocab.iter().map(|d| d.name).collect();
    json_response(
        StatusCode::OK,
        &json!({
            "issuer": base,
            "authorization_endpoint": format!("{base}{LATEST}/authorize"),
            "token_endpoint": format!("{base}{LATEST}/token"),
            "revocation_endpoint": format!("{base}{LATEST}/revoke"),
            "scopes_supported": scopes,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code"],
            "token_endpoint_auth_methods_supported": ["client_secret_post"],
            "revocation_endpoint_auth_methods_supported": ["client_secret_post"],
        }),
    )
}

// ---------------------------------------------------------------------------------------------
// Token endpoint (TokenResource, GrantProcessorFactory, the two grant validators/processors).

/// `@FormParam`s: only a form body counts; the first value of a repeated name wins.
fn form(headers: &HeaderMap, body: &[u8]) -> HashMap<String, String> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| {
            c.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    let mut out = HashMap::new();
    if is_form {
        for (k, v) in crate::oauth::form_pairs(&String::from_utf8_lossy(body)) {
            out.entry(k).or_insert(v);
        }
    }
    out
}

fn param<'a>(f: &'a HashMap<String, String>, k: &str) -> &'a str {
    f.get(k).map(String::as_str).unwrap_or("")
}

fn missing(f: &HashMap<String, String>, required: &[&str]) -> Option<Response> {
    required
        .iter()
        .find(|k| param(f, k).trim().is_empty())
        .map(|k| {
            oauth_error(
                "invalid_request",
                &format!(
                    "Missing required parameter '{k}' (oauth2.rest.error.missing.required.parameter)"
                ),
            )
        })
}

const UNAUTHENTICATED_CLIENT: &str =
    "The client could not be authenticated (oauth2.rest.error.unauthenticated.client)";
const INVALID_REFRESH: &str =
    "The refresh token is invalid (oauth2.rest.error.invalid.refresh.token)";

/// `isClientSecretValid`: the client exists and the secret matches.
fn secret_valid(app: &App, client_id: &str, secret: &str) -> bool {
    let st = app.state.lock().expect("state");
    st.persisted
        .oauth2
        .by_client_id(client_id)
        .is_some_and(|c| !secret.is_empty() && c.client_secret == secret)
}

fn token_response(app: &App, access_id: &str, refresh_id: &str, scope: &str) -> Response {
    let expires = app.settings().oauth2.access_token_secs;
    let mut r = json_response(
        StatusCode::OK,
        &json!({
            "access_token": jwt(app, access_id), "token_type": "bearer", "expires_in": expires,
            "refresh_token": jwt(app, refresh_id), "scope": scope,
        }),
    );
    no_store(r.headers_mut());
    r
}

/// Issues an access and a refresh token and stores their hashes.
fn issue(
    app: &App,
    client_id: &str,
    username: &str,
    scope: &str,
    code: &str,
    refresh_count: u32,
) -> Response {
    let access_id = random_hex(16);
    let refresh_id = random_hex(16);
    let now = now_ms();
    let access_hash = sha256_hex(&access_id);
    {
        let mut st = app.state.lock().expect("state");
        let store = &mut st.persisted.oauth2;
        store.access_tokens.insert(
            access_hash.clone(),
            AccessRecord {
                client_id: client_id.into(),
                username: username.into(),
                scope: scope.into(),
                authorization_code: code.into(),
                created_ms: now,
            },
        );
        store.refresh_tokens.insert(
            sha256_hex(&refresh_id),
            RefreshRecord {
                client_id: client_id.into(),
                username: username.into(),
                scope: scope.into(),
                authorization_code: code.into(),
                access_hash,
                refresh_count,
                created_ms: now,
            },
        );
    }
    token_response(app, &access_id, &refresh_id, scope)
}

/// `POST /token` (form): `authorization_code` and `refresh_token` grants; `client_secret` is a
/// form field and always checked, after the grant's own checks.
async fn token(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let f = form(&headers, &body);
    match param(&f, "grant_type") {
        "" => oauth_error(
            "invalid_request",
            "Missing required parameter 'grant_type' (oauth2.rest.error.missing.required.parameter)",
        ),
        "authorization_code" => code_grant(&app, &f),
        "refresh_token" => refresh_grant(&app, &f),
        _ => oauth_error(
            "unsupported_grant_type",
            "The grant type is not supported (oauth2.rest.error.unsupported.grant.type)",
        ),
    }
}

fn code_grant(app: &App, f: &HashMap<String, String>) -> Response {
    if let Some(r) = missing(f, &["grant_type", "code", "redirect_uri", "client_id"]) {
        return r;
    }
    let (code, redirect, client_id) = (
        param(f, "code"),
        param(f, "redirect_uri"),
        param(f, "client_id"),
    );
    let code_lifetime_ms = app.settings().oauth2.code_secs.saturating_mul(1000);
    let auth = {
        let mut st = app.state.lock().expect("state");
        let store = &mut st.persisted.oauth2;
        // A code used twice revokes every token it produced (RFC 6749 §4.1.2).
        if store.code_redeemed(code) {
            store.remove_tokens_of_code(code);
            return oauth_error(
                "invalid_grant",
                "The authorization code was already used; its tokens are revoked (oauth2.rest.error.multiple.create.attempts.error)",
            );
        }
        let fresh = store
            .codes
            .get(code)
            .filter(|a| now_ms() <= a.created_ms.saturating_add(code_lifetime_ms))
            .cloned();
        let registered = store
            .by_client_id(client_id)
            .is_some_and(|c| c.redirects.iter().any(|r| r == redirect));
        (fresh, registered)
    };
    let (Some(a), registered) = auth else {
        return oauth_error(
            "invalid_request",
            "The authorization code is invalid or expired (oauth2.rest.error.authorization.code.invalid)",
        );
    };
    if a.redirect_uri != redirect {
        return oauth_error(
            "invalid_grant",
            "redirect_uri does not match the authorization (oauth2.rest.error.authorization.redirect.invalid)",
        );
    }
    if !registered {
        return oauth_error("invalid_client", UNAUTHENTICATED_CLIENT);
    }
    if a.client_id != client_id {
        return oauth_error("invalid_grant", UNAUTHENTICATED_CLIENT);
    }
    if let Some(method) = &a.challenge_method {
        let verifier = f.get("code_verifier").map(String::as_str);
        let Some(verifier) = verifier else {
            return oauth_error(
                "invalid_grant",
                "code_verifier is missing (oauth2.token.pkce.code.verifier.missing)",
            );
        };
        if !valid_pkce_code(verifier) {
            return oauth_error(
                "invalid_grant",
                "code_verifier is not valid (oauth2.token.pkce.code.verifier.invalid)",
            );
        }
        let expected = a.challenge.as_deref().unwrap_or("");
        let matches = match method.as_str() {
            "S256" => s256(verifier) == expected,
            _ => verifier == expected,
        };
        if !matches {
            return oauth_error(
                "invalid_grant",
                "code_verifier does not match the code challenge (oauth2.token.pkce.code.verifier.mismatch)",
            );
        }
    }
    if !secret_valid(app, client_id, param(f, "client_secret")) {
        return oauth_error("invalid_client", UNAUTHENTICATED_CLIENT);
    }
    // completeAuthorizationFlow: the code is used up.
    let removed = app
        .state
        .lock()
        .expect("state")
        .persisted
        .oauth2
        .codes
        .remove(code);
    if removed.is_none() {
        return oauth_error(
            "invalid_request",
            "The authorization code is invalid or expired (oauth2.rest.error.authorization.code.invalid)",
        );
    }
    issue(app, client_id, &a.username, &a.scope, code, 0)
}

fn refresh_grant(app: &App, f: &HashMap<String, String>) -> Response {
    if let Some(r) = missing(f, &["grant_type", "refresh_token", "client_id"]) {
        return r;
    }
    let client_id = param(f, "client_id");
    // A value that is no JWT at all makes the product's parser throw: 500.
    let Ok(id) = jwt_id(app, param(f, "refresh_token")) else {
        return unknown_error();
    };
    let hash = sha256_hex(&id);
    let lifetime_ms = app
        .settings()
        .oauth2
        .refresh_token_secs
        .saturating_mul(1000);
    let record = app
        .state
        .lock()
        .expect("state")
        .persisted
        .oauth2
        .refresh_tokens
        .get(&hash)
        .cloned();
    let Some(record) = record.filter(|_| !id.is_empty()) else {
        return oauth_error("invalid_grant", INVALID_REFRESH);
    };
    if record.client_id != client_id {
        return oauth_error("invalid_grant", INVALID_REFRESH);
    }
    if now_ms() > record.created_ms.saturating_add(lifetime_ms) {
        return oauth_error("invalid_grant", INVALID_REFRESH);
    }
    if !secret_valid(app, client_id, param(f, "client_secret")) {
        return oauth_error("invalid_client", UNAUTHENTICATED_CLIENT);
    }
    // Rotation: the old refresh token and the access token issued with it stop working.
    {
        let mut st = app.state.lock().expect("state");
        let store = &mut st.persisted.oauth2;
        if store.refresh_tokens.remove(&hash).is_none() {
            return oauth_error("invalid_grant", INVALID_REFRESH);
        }
        store.access_tokens.remove(&record.access_hash);
    }
    issue(
        app,
        client_id,
        &record.username,
        &record.scope,
        &record.authorization_code,
        record.refresh_count + 1,
    )
}

/// `POST /revoke` (RFC 7009, `RevokeTokenService`): 200 whether or not the token was known.
async fn revoke(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let f = form(&headers, &body);
    for k in ["client_id", "client_secret"] {
        if param(&f, k).trim().is_empty() {
            return oauth_error(
                "invalid_request",
                &format!(
                    "Missing required parameter '{k}' (oauth2.rest.error.missing.required.parameter)"
                ),
            );
        }
    }
    let client_id = param(&f, "client_id");
    if !secret_valid(&app, client_id, param(&f, "client_secret")) {
        return oauth_error("invalid_client", UNAUTHENTICATED_CLIENT);
    }
    let token = param(&f, "token");
    if token.trim().is_empty() {
        return oauth_error(
            "invalid_request",
            "Missing required parameter 'token' (oauth2.rest.error.missing.required.parameter)",
        );
    }
    let Ok(id) = jwt_id(&app, token) else {
        return StatusCode::OK.into_response();
    };
    let hash = sha256_hex(&id);
    let mut st = app.state.lock().expect("state");
    let store = &mut st.persisted.oauth2;
    let known = store
        .refresh_tokens
        .get(&hash)
        .is_some_and(|t| t.client_id == client_id)
        || store
            .access_tokens
            .get(&hash)
            .is_some_and(|t| t.client_id == client_id);
    if !known {
        return StatusCode::OK.into_response();
    }
    let hint = param(&f, "token_type_hint");
    let (as_access, as_refresh) = match hint {
        "access_token" => (true, false),
        "refresh_token" => (false, true),
        "" => (true, true),
        _ => {
            drop(st);
            return oauth_error(
                "unsupported_token_type",
                "oauth2.rest.error.unsupported.token.type",
            );
        }
    };
    if as_access && store.access_tokens.remove(&hash).is_some() {
        store.refresh_tokens.retain(|_, r| r.access_hash != hash);
    }
    if as_refresh && let Some(r) = store.refresh_tokens.remove(&hash) {
        store.access_tokens.remove(&r.access_hash);
    }
    StatusCode::OK.into_response()
}

// ---------------------------------------------------------------------------------------------
// Control API (`/_sim/oauth2…`).

pub fn control_routes() -> Router<Arc<App>> {
    Router::new()
        .route("/oauth2", get(control_state))
        .route(
            "/oauth2/consent",
            post(crate::oauth2_authorize::control_consent),
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
            "available": app_vocabulary(&app).is_some(),
            "scopes": app_vocabulary(&app).map(|v| v.iter().map(|d| d.name).collect::<Vec<_>>()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_gate_the_provider() {
        assert!(vocabulary(Product::Jira, "8.21.9").is_none());
        assert!(vocabulary(Product::Jira, "8.22.0").is_some());
        assert!(vocabulary(Product::Jira, "10.3.8").is_some());
        assert!(vocabulary(Product::Confluence, "7.16.5").is_none());
        assert!(vocabulary(Product::Confluence, "7.17.0").is_some());
        assert!(vocabulary(Product::Bitbucket, "7.19.2").is_none());
        assert!(vocabulary(Product::Bitbucket, "7.20.0").is_some());
        assert!(vocabulary(Product::Bamboo, "9.0.4").is_none());
        assert_eq!(
            vocabulary(Product::Bamboo, "10.2.3").map(<[_]>::len),
            Some(3)
        );
        assert_eq!(
            vocabulary(Product::Bamboo, "11.0.0").map(<[_]>::len),
            Some(4)
        );
        assert!(vocabulary(Product::Fisheye, "4.8.15").is_none());
        assert!(vocabulary(Product::Generic, "9.0.0").is_none());
        assert!(vocabulary(Product::JiraCloud, "1001.0.0-SNAPSHOT").is_none());
    }

    #[test]
    fn scopes_parse_normalise_and_imply() {
        let w = Scope::parse(BASIC, "WRITE").unwrap();
        assert!(Scope::parse(BASIC, "READ").unwrap().within(&w));
        assert!(!Scope::parse(BASIC, "ADMIN").unwrap().within(&w));
        assert_eq!(
            Scope::parse(BASIC, "WRITE READ").unwrap().name(),
            "READ WRITE"
        );
        assert_eq!(Scope::parse(BASIC, ""), Err(ScopeError::Blank));
        assert_eq!(
            Scope::parse(BASIC, "READ  WRITE"),
            Err(ScopeError::Unknown(vec![String::new()]))
        );
        assert_eq!(
            Scope::parse(BASIC, "read"),
            Err(ScopeError::Unknown(vec!["read".into()]))
        );
        let repo_read = Scope::parse(BITBUCKET, "REPO_READ").unwrap();
        assert!(
            !Scope::parse(BITBUCKET, "ACCOUNT_WRITE")
                .unwrap()
                .within(&repo_read)
        );
        let admin_write = Scope::parse(BITBUCKET, "ADMIN_WRITE").unwrap();
        assert!(
            Scope::parse(BITBUCKET, "ACCOUNT_WRITE REPO_ADMIN")
                .unwrap()
                .within(&admin_write)
        );
        assert!(
            !Scope::parse(BITBUCKET, "SYSTEM_ADMIN")
                .unwrap()
                .within(&admin_write)
        );
    }

    #[test]
    fn pkce_s256_matches_an_independent_implementation() {
        // Computed with Python's hashlib and base64.urlsafe_b64encode, padding stripped.
        assert_eq!(
            s256("M25iVXpKU3puUjFaYWg3T1NDTDQtcW1ROUY5YXlwalNoc0hhakxifmZHag"),
            "qjrzSW9gMiUgpUvqgEPE4_-8swvyCtfOVvg55o5S_es"
        );
        assert!(valid_pkce_code(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWjOEjXk"
        ));
        assert!(!valid_pkce_code("short"));
        assert!(!valid_pkce_code(&"a+".repeat(30)));
    }

    #[test]
    fn redirect_rules() {
        let s = crate::config::OAuth2Settings::default();
        assert!(redirect_problems("https://tool.test/cb", &s).is_empty());
        assert!(redirect_problems("http://localhost:8080/cb", &s).is_empty());
        assert!(redirect_problems("com.example.app:/cb", &s).is_empty());
        assert_eq!(redirect_problems("http://127.0.0.1/cb", &s).len(), 1);
        assert_eq!(redirect_problems("https://tool.test/cb#x", &s).len(), 1);
        assert_eq!(redirect_problems("/cb", &s).len(), 1);
        assert_eq!(redirect_problems("https://tool.test/a b", &s).len(), 1);
        assert_eq!(redirect_problems("https://tool.test/%zz", &s).len(), 1);
        let long = format!("https://tool.test/{}", "a".repeat(440));
        assert_eq!(redirect_problems(&long, &s).len(), 1);
        let skip = crate::config::OAuth2Settings {
            skip_redirect_https: true,
            ..Default::default()
        };
        assert!(redirect_problems("http://127.0.0.1/cb", &skip).is_empty());
        let strict = crate::config::OAuth2Settings {
            disallow_localhost_redirect: true,
            ..Default::default()
        };
        assert_eq!(redirect_problems("http://localhost/cb", &strict).len(), 1);
    }
}
