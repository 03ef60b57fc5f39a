//! Configuration of the simulated applications (YAML; JSON is valid YAML too).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::product::Product;

/// Which generation of atlassian-rest the product bundles. It decides which callers bypass
/// WebSudo (docs/simulator.md#websudo); the XSRF rule is the same on every line
/// (docs/simulator.md#xsrf).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RestLine {
    /// Platform 6 and older: only Basic bypasses WebSudo.
    Legacy,
    /// Platform 7 and newer: a Bearer request with a session carrying `is.pats.enabled` also
    /// bypasses WebSudo.
    Modern,
}

/// How a Basic request of a user locked out by the CAPTCHA is answered (docs/simulator.md#captcha).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaptchaMode {
    /// 403 with `X-Authentication-Denied-Reason: CAPTCHA_CHALLENGE; login-url=…`.
    #[default]
    Forbidden,
    /// Served as anonymous (often 200) with `X-Seraph-LoginReason: AUTHENTICATION_DENIED`, as
    /// some versions do.
    Anonymous,
}

/// Token bucket per user (Jira DC ≥ 8.6, Confluence, Bitbucket).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimit {
    pub enabled: bool,
    /// Tokens added every interval ("Requests allowed").
    pub fill_rate: u32,
    pub interval_secs: u64,
    /// Bucket size ("Max requests").
    pub max: u32,
    /// Users that are never limited.
    pub exempt: Vec<String>,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            enabled: true,
            fill_rate: 10,
            interval_secs: 1,
            max: 100,
            exempt: vec![],
        }
    }
}

/// The OAuth 2.0 provider's knobs (oauth2-provider-plugin 3.1.5 system properties, plus the
/// unconfirmed "secret shown only once" of newer lines). The same object is the config block
/// `oauth2:` and the setting `oauth2` (`PATCH /_sim/settings` merges its fields).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OAuth2Settings {
    /// List and get omit `clientSecret`; only create and reset show it [?].
    pub secret_shown_once: bool,
    /// `atlassian.oauth2.provider.skip.base.url.https.requirement`: the consent and error pages
    /// also work on an http base URL (the product answers 400 there otherwise).
    pub skip_base_url_https: bool,
    /// `atlassian.oauth2.provider.skip.redirect.url.https.requirement`: http redirects allowed
    /// for any host, not only localhost.
    pub skip_redirect_https: bool,
    /// `atlassian.oauth2.provider.disallow.localhost.redirect`: http://localhost refused too.
    pub disallow_localhost_redirect: bool,
    /// `atlassian.oauth2.provider.access.token.expiration.seconds`.
    pub access_token_secs: u64,
    /// `atlassian.oauth2.provider.refresh.token.expiration.seconds`.
    pub refresh_token_secs: u64,
    /// `atlassian.oauth2.provider.max.client.delay.seconds`: authorization code lifetime.
    pub code_secs: u64,
}

impl Default for OAuth2Settings {
    fn default() -> Self {
        OAuth2Settings {
            secret_shown_once: false,
            skip_base_url_https: false,
            skip_redirect_https: false,
            disallow_localhost_redirect: false,
            access_token_secs: 3_600,
            refresh_token_secs: 90 * 86_400,
            code_secs: 60,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimConfig {
    /// Optional separate control port (0 = random); the control API is also on every app.
    #[serde(default)]
    pub control_port: Option<u16>,
    pub apps: Vec<AppConfig>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Admin,
    Sysadmin,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub username: String,
    pub password: String,
    pub role: Role,
    /// Personal access tokens accepted as `Authorization: Bearer <token>`.
    #[serde(default)]
    pub tokens: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain served by this app.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    /// Unique name; also the default seed of the application id and RSA key.
    pub name: String,
    pub product: Product,
    /// Loopback port; 0 picks a free one.
    #[serde(default)]
    pub port: u16,
    /// Host name used in the base URL (the socket always binds 127.0.0.1).
    #[serde(default = "default_host")]
    pub host: String,
    /// Seed of the application id, consumer key and RSA key (defaults to `name`).
    #[serde(default)]
    pub seed: Option<String>,
    /// Explicit application id (UUID), overriding the seed.
    #[serde(default)]
    pub id: Option<uuid::Uuid>,
    /// Display name in the manifest (defaults to `name`).
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub applinks_version: Option<String>,
    /// Capabilities served at `capabilities`; default `["STATUS_API","MIGRATION_API"]`.
    #[serde(default)]
    pub capabilities: Option<Vec<String>>,
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// Extra CA certificates (PEM) this app trusts when calling peers over HTTPS.
    #[serde(default)]
    pub trust_ca: Vec<PathBuf>,
    #[serde(default = "default_users")]
    pub users: Vec<UserConfig>,
    /// RSA modulus size of the app's OAuth key.
    #[serde(default = "default_key_bits")]
    pub key_bits: usize,
    /// Timeout of calls to peers, in milliseconds.
    #[serde(default = "default_peer_timeout_ms")]
    pub peer_timeout_ms: u64,
    /// Profile overrides (default: the product line's, see `profile.rs`).
    #[serde(default)]
    pub basic_auth: Option<bool>,
    #[serde(default)]
    pub secure_admin_sessions: Option<bool>,
    /// Failed Basic logins of a user before every Basic request of that user needs a CAPTCHA.
    #[serde(default)]
    pub captcha_after_failures: Option<u32>,
    #[serde(default)]
    pub captcha_mode: Option<CaptchaMode>,
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
    #[serde(default)]
    pub rest_line: Option<RestLine>,
    /// Base path of the allowlist REST, e.g. `rest/whitelist/latest` (the default, which also
    /// answers at `rest/whitelist/1.0`); `none` = not served.
    #[serde(default)]
    pub allowlist_base: Option<String>,
    /// OAuth 2.0 provider settings (default: the product's defaults, see `OAuth2Settings`).
    #[serde(default)]
    pub oauth2: Option<OAuth2Settings>,
}

fn default_host() -> String {
    "127.0.0.1".into()
}

fn default_key_bits() -> usize {
    2048
}

fn default_peer_timeout_ms() -> u64 {
    10_000
}

pub fn default_users() -> Vec<UserConfig> {
    vec![
        UserConfig {
            username: "admin".into(),
            password: "admin".into(),
            role: Role::Sysadmin,
            tokens: vec![],
        },
        UserConfig {
            username: "user".into(),
            password: "user".into(),
            role: Role::User,
            tokens: vec![],
        },
    ]
}

impl AppConfig {
    /// A minimal config with the default users, for tests and the library API.
    pub fn new(name: &str, product: Product) -> Self {
        AppConfig {
            name: name.into(),
            product,
            port: 0,
            host: default_host(),
            seed: None,
            id: None,
            display_name: None,
            version: None,
            applinks_version: None,
            capabilities: None,
            tls: None,
            trust_ca: vec![],
            users: default_users(),
            key_bits: default_key_bits(),
            peer_timeout_ms: default_peer_timeout_ms(),
            basic_auth: None,
            secure_admin_sessions: None,
            captcha_after_failures: None,
            captcha_mode: None,
            rate_limit: None,
            rest_line: None,
            allowlist_base: None,
            oauth2: None,
        }
    }

    pub fn seed(&self) -> &str {
        self.seed.as_deref().unwrap_or(&self.name)
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.name.is_empty() {
            return Err("app name must not be empty".into());
        }
        if self.product.is_cloud() && self.tls.is_none() {
            return Err(format!(
                "app {}: cloud products are HTTPS only; set tls.cert and tls.key",
                self.name
            ));
        }
        if self.key_bits < 512 {
            return Err(format!("app {}: key_bits must be >= 512", self.name));
        }
        Ok(())
    }
}

impl SimConfig {
    /// Parses YAML (JSON is accepted as a subset of YAML).
    pub fn from_yaml(text: &str) -> Result<Self, String> {
        let cfg: SimConfig = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn validate(&self) -> Result<(), String> {
        let mut names = std::collections::HashSet::new();
        for app in &self.apps {
            app.validate()?;
            if !names.insert(app.name.as_str()) {
                return Err(format!("duplicate app name {}", app.name));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Profile;

    #[test]
    fn old_minimal_configs_still_parse_with_basic_admin() {
        let c =
            SimConfig::from_yaml("apps:\n- {name: jira, product: jira, key_bits: 1024}\n").unwrap();
        let app = &c.apps[0];
        assert_eq!(app.users[0].username, "admin");
        assert_eq!(app.users[0].role, Role::Sysadmin);
        assert!(Profile::of(app).settings.basic_auth);
    }

    #[test]
    fn profile_overrides_parse() {
        let yaml = "apps:\n- name: j\n  product: jira\n  version: 11.0.0\n  basic_auth: true\n  \
                    secure_admin_sessions: false\n  captcha_after_failures: 5\n  rest_line: legacy\n  \
                    allowlist_base: rest/whitelist/1.0\n  \
                    rate_limit: {fill_rate: 2, interval_secs: 60, max: 20, exempt: [ci]}\n";
        let c = SimConfig::from_yaml(yaml).unwrap();
        let p = Profile::of(&c.apps[0]);
        assert!(p.settings.basic_auth, "override beats Jira 11's default");
        assert!(!p.settings.secure_admin_sessions);
        assert_eq!(p.settings.captcha_after_failures, 5);
        assert_eq!(p.settings.rest_line, RestLine::Legacy);
        let rl = p.settings.rate_limit.clone().unwrap();
        assert_eq!((rl.fill_rate, rl.interval_secs, rl.max), (2, 60, 20));
        assert_eq!(rl.exempt, vec!["ci"]);
        assert_eq!(p.allowlist_paths(), vec!["/rest/whitelist/1.0"]);
        assert!(
            SimConfig::from_yaml("apps:\n- {name: j, product: jira, rest_line: new}\n").is_err()
        );
    }
}
