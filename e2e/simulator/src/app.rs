//! A simulated application: identity, configuration, state and outgoing client. It holds no
//! router and no socket (those are the server's, `server/listen.rs`), and imports no handler.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::config::{AppConfig, Role, UserConfig};
use crate::product::{Product, providers};
use crate::profile::{Profile, Settings};
use crate::store::{
    AccessState, AppState, Faults, Identity, Link, Persisted, RequestLog, SwapCert, state_file,
};
use crate::wire::model::Manifest;
use crate::wire::oauth1::Signer;
use crate::wire::oauth2::sha256_hex;
use crate::wire::oauth2_scopes::{ScopeDef, vocabulary};

pub struct App {
    pub cfg: AppConfig,
    /// The product line's defaults with the config's overrides applied.
    pub profile: Profile,
    /// The runtime-changeable part of the profile (`PATCH /_sim/settings`).
    pub settings: Mutex<Settings>,
    pub access: Mutex<AccessState>,
    pub ident: Identity,
    pub scheme: &'static str,
    pub port: u16,
    pub base_url: String,
    pub signer: Signer,
    pub client: reqwest::Client,
    pub state: Mutex<AppState>,
    pub faults: Mutex<Faults>,
    pub log: Mutex<RequestLog>,
    pub state_dir: Option<PathBuf>,
    /// The certificate the app serves over HTTPS, swappable at run time (`PUT /_sim/tls`).
    pub tls_cert: Option<Arc<SwapCert>>,
}

impl App {
    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    pub fn type_id(&self) -> &'static str {
        self.cfg.product.type_id()
    }

    pub fn is_cloud(&self) -> bool {
        self.cfg.product.is_cloud()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// The local manifest (docs/simulator.md#manifest); `outbound` repeats `inbound`, as real servers do.
    pub fn manifest(&self) -> Manifest {
        let mut inbound: Vec<String> = vec![providers::OAUTH.into(), providers::TWO_LO.into()];
        if !self.is_cloud() {
            inbound.push(providers::TWO_LO_I.into());
            inbound.push(providers::BASIC.into());
            inbound.push(providers::TRUSTED.into());
        }
        inbound.push(providers::CORS.into());
        inbound.push(providers::PLACEHOLDER.into());
        let (id, url) = {
            let f = self.faults.lock().expect("faults");
            (
                f.manifest_id.unwrap_or(self.ident.id),
                f.configured_base_url
                    .clone()
                    .unwrap_or_else(|| self.base_url.clone()),
            )
        };
        let icon = self.url(&format!("/images/16{}.png", self.type_id()));
        Manifest {
            id: id.to_string(),
            name: self.ident.display_name.clone(),
            type_id: self.type_id().into(),
            version: self.ident.version.clone(),
            build_number: self.profile.build_number,
            applinks_version: self.ident.applinks_version.clone(),
            outbound: inbound.clone(),
            inbound,
            public_signup: false,
            url,
            icon_url: icon.clone(),
            icon_uri: icon,
        }
    }

    pub fn has_capability(&self, name: &str) -> bool {
        self.ident.capabilities.iter().any(|c| c == name)
    }

    pub fn check_password(&self, username: &str, password: &str) -> Option<UserConfig> {
        if self.faults.lock().expect("faults").reject_credentials {
            return None;
        }
        self.cfg
            .users
            .iter()
            .find(|u| u.username == username && u.password == password)
            .cloned()
    }

    pub fn check_token(&self, token: &str) -> Option<UserConfig> {
        if self.faults.lock().expect("faults").reject_credentials {
            return None;
        }
        self.cfg
            .users
            .iter()
            .find(|u| u.tokens.iter().any(|t| t == token))
            .cloned()
    }

    pub fn user(&self, username: &str) -> Option<UserConfig> {
        self.cfg
            .users
            .iter()
            .find(|u| u.username == username)
            .cloned()
    }

    /// The OAuth 2.0 scope vocabulary when this product and version has the provider.
    pub fn oauth2_vocabulary(&self) -> Option<&'static [ScopeDef]> {
        vocabulary(self.cfg.product, &self.ident.version)
    }

    /// A stable user key per product, so that a tool cannot mistake it for the username:
    /// `JIRAUSER1xxxx` in Jira, 32 hex digits in Confluence, a number in Bitbucket.
    pub fn user_key(&self, username: &str) -> String {
        let index = self
            .cfg
            .users
            .iter()
            .position(|u| u.username == username)
            .unwrap_or(0);
        match self.cfg.product {
            Product::Jira => format!("JIRAUSER{}", 10_000 + index),
            Product::Confluence => sha256_hex(&format!("confluence-user:{username}"))[..32].into(),
            Product::Bitbucket => (index + 1).to_string(),
            _ => username.to_string(),
        }
    }

    /// The stored links `keep` selects (copies: the state lock is not held).
    pub fn links_where(&self, keep: impl Fn(&Link) -> bool) -> Vec<Link> {
        let st = self.state.lock().expect("state");
        st.persisted
            .links
            .values()
            .filter(|l| keep(l))
            .cloned()
            .collect()
    }

    pub fn settings(&self) -> Settings {
        self.settings.lock().expect("settings").clone()
    }

    /// The login page a CAPTCHA challenge points to.
    pub fn login_url(&self) -> String {
        self.url(self.profile.login_path)
    }

    /// Writes the persisted state when a state dir is configured. Errors are logged, not fatal:
    /// the simulator keeps serving from memory.
    pub fn persist(&self) {
        let Some(dir) = &self.state_dir else { return };
        let snapshot = self.state.lock().expect("state").persisted.clone();
        let path = state_file(dir, self.name());
        let tmp = path.with_extension("json.tmp");
        let res = serde_json::to_vec_pretty(&snapshot)
            .map_err(std::io::Error::other)
            .and_then(|b| std::fs::write(&tmp, b))
            .and_then(|_| std::fs::rename(&tmp, &path));
        if let Err(e) = res {
            tracing::warn!(app = self.name(), error = %e, "could not persist state");
        }
    }

    pub fn load_persisted(dir: &std::path::Path, name: &str) -> Option<Persisted> {
        let bytes = std::fs::read(state_file(dir, name)).ok()?;
        match serde_json::from_slice::<Persisted>(&bytes) {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::warn!(app = name, error = %e, "ignoring unreadable state file");
                None
            }
        }
    }
}

pub fn is_admin(u: &UserConfig) -> bool {
    u.role >= Role::Admin
}

pub fn is_sysadmin(u: &UserConfig) -> bool {
    u.role >= Role::Sysadmin
}
