//! Per-application state: links, consumers, tokens, faults and the request log.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::{AppConfig, UserConfig};
use crate::model::{Level, OAuthCfg};
use crate::oauth::NonceStore;
use crate::product::providers;

/// A consumer registered for incoming OAuth on a link (the peer's identity).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Consumer {
    pub key: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub callback: Option<String>,
    /// Base64 SPKI of an RSA consumer; absent for shared-secret consumers.
    #[serde(default)]
    pub public_key: Option<String>,
    pub two_lo_allowed: bool,
    #[serde(default)]
    pub executing_two_lo_user: Option<String>,
    pub two_lo_impersonation_allowed: bool,
}

/// An outgoing shared-secret (HMAC) consumer registered for a generic link; never sent anywhere
/// by the simulator, kept for inspection only (secret not logged nor exposed).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct OutgoingHmacConsumer {
    pub key: String,
    pub name: String,
    #[serde(skip_serializing)]
    #[serde(default)]
    pub shared_secret: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Link {
    pub id: Uuid,
    pub type_id: String,
    pub name: String,
    pub display_url: String,
    pub rpc_url: String,
    pub primary: bool,
    pub system: bool,
    /// Key of the incoming consumer (`oauth.incoming.consumerkey`); the consumer itself lives in
    /// the application-wide store, shared by every link recording the same key (§1.4).
    #[serde(default)]
    pub incoming_key: Option<String>,
    /// State files written before the consumer store held the consumer here; moved on load.
    #[serde(default, skip_serializing)]
    pub incoming: Option<Consumer>,
    /// Registered outgoing provider classes with their config.
    #[serde(default)]
    pub outgoing: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(default)]
    pub outgoing_hmac: Option<OutgoingHmacConsumer>,
    /// Id of the implicit allowlist rule of this link.
    #[serde(default)]
    pub allowlist_rule_id: u64,
}

impl Link {
    pub fn outgoing_level(&self) -> Level {
        let has = |p: &str| self.outgoing.contains_key(p);
        if !has(providers::OAUTH) && !has(providers::TWO_LO) && !has(providers::TWO_LO_I) {
            Level::Disabled
        } else if has(providers::TWO_LO_I) {
            Level::Impersonation
        } else if has(providers::TWO_LO) {
            Level::Default
        } else {
            Level::ThreeLoOnly
        }
    }

    /// Replaces the OAuth outgoing providers by those of `level`, keeping other providers.
    pub fn set_outgoing_level(&mut self, level: Level) {
        for p in [providers::OAUTH, providers::TWO_LO, providers::TWO_LO_I] {
            self.outgoing.remove(p);
        }
        if level >= Level::ThreeLoOnly {
            self.outgoing
                .insert(providers::OAUTH.into(), BTreeMap::new());
        }
        if level >= Level::Default {
            self.outgoing
                .insert(providers::TWO_LO.into(), BTreeMap::new());
        }
        if level >= Level::Impersonation {
            self.outgoing
                .insert(providers::TWO_LO_I.into(), BTreeMap::new());
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AllowRule {
    pub id: u64,
    pub expression: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub allow_inbound: bool,
    pub authentication_required: bool,
    #[serde(default)]
    pub icon_url: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Allowlist {
    pub enabled: bool,
    pub rules: Vec<AllowRule>,
    pub restrictiveness: String,
}

impl Default for Allowlist {
    fn default() -> Self {
        Allowlist {
            enabled: true,
            rules: vec![],
            restrictiveness: "ALLOW_AUTHENTICATED".into(),
        }
    }
}

/// Persisted part of an application's state.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Persisted {
    pub links: BTreeMap<Uuid, Link>,
    /// Ids registered without their properties ("corrupted" links, §1.6): lists skip them.
    #[serde(default)]
    pub corrupted: BTreeSet<Uuid>,
    /// Incoming OAuth consumers by key, one store per application (§1.4).
    #[serde(default)]
    pub consumers: BTreeMap<String, Consumer>,
    pub allowlist: Allowlist,
    pub next_id: u64,
    /// OAuth 2.0 provider: clients and (hashed) tokens.
    #[serde(default)]
    pub oauth2: crate::oauth2_provider::OAuth2Store,
    /// What the small product REST surface stores (preferences, watches, builds).
    #[serde(default)]
    pub rest_data: crate::product_api::RestData,
}

#[derive(Clone, Debug)]
pub struct RequestToken {
    pub consumer_key: String,
    pub callback: String,
    pub verifier: Option<String>,
    pub user: Option<String>,
    /// The user pressed "Deny" on the authorize page.
    pub denied: bool,
}

#[derive(Clone, Debug)]
pub struct AccessToken {
    pub consumer_key: String,
    pub user: String,
}

#[derive(Debug, Default)]
pub struct AppState {
    /// What survives a restart (with --state-dir).
    pub persisted: Persisted,
    pub request_tokens: HashMap<String, RequestToken>,
    pub access_tokens: HashMap<String, AccessToken>,
    pub nonces: NonceStore,
    /// XSRF tokens handed out by the OAuth 1.0a authorize page (token → username).
    pub xsrf_tokens: HashMap<String, String>,
}

impl AppState {
    pub fn next_id(&mut self) -> u64 {
        self.persisted.next_id += 1;
        self.persisted.next_id
    }

    pub fn link(&self, id: &Uuid) -> Option<&Link> {
        self.persisted.links.get(id)
    }

    /// The consumer a link records, if the store still holds it.
    pub fn consumer_of(&self, link: &Link) -> Option<&Consumer> {
        link.incoming_key
            .as_deref()
            .and_then(|k| self.persisted.consumers.get(k))
    }

    pub fn incoming_level(&self, link: &Link) -> Level {
        match self.consumer_of(link) {
            None => Level::Disabled,
            Some(c) if c.two_lo_impersonation_allowed => Level::Impersonation,
            Some(c) if c.two_lo_allowed => Level::Default,
            Some(_) => Level::ThreeLoOnly,
        }
    }

    pub fn oauth_pair(&self, link: &Link) -> (OAuthCfg, OAuthCfg) {
        (self.incoming_level(link).cfg(), link.outgoing_level().cfg())
    }

    /// Stores a consumer (replacing one with the same key) and records its key on the link.
    pub fn add_consumer(&mut self, id: &Uuid, consumer: Consumer) {
        let key = consumer.key.clone();
        self.persisted.consumers.insert(key.clone(), consumer);
        if let Some(l) = self.persisted.links.get_mut(id) {
            l.incoming_key = Some(key);
        }
    }

    /// Removes the link's consumer and its tokens from the store: every link recording the same
    /// key loses its incoming OAuth too (§1.4).
    pub fn remove_consumer(&mut self, id: &Uuid) {
        let Some(key) = self
            .persisted
            .links
            .get_mut(id)
            .and_then(|l| l.incoming_key.take())
        else {
            return;
        };
        self.persisted.consumers.remove(&key);
        self.access_tokens.retain(|_, t| t.consumer_key != key);
        self.request_tokens.retain(|_, t| t.consumer_key != key);
    }

    /// Sets the 2LO flags of the link's consumer, or removes it for `Disabled`.
    pub fn set_incoming_level(&mut self, id: &Uuid, level: Level) {
        if level == Level::Disabled {
            self.remove_consumer(id);
            return;
        }
        let key = self
            .persisted
            .links
            .get(id)
            .and_then(|l| l.incoming_key.clone());
        if let Some(c) = key.and_then(|k| self.persisted.consumers.get_mut(&k)) {
            c.two_lo_allowed = level >= Level::Default;
            c.two_lo_impersonation_allowed = level == Level::Impersonation;
        }
    }

    /// Moves consumers of an old state file into the store.
    pub fn migrate_legacy_consumers(&mut self) {
        for l in self.persisted.links.values_mut() {
            if let Some(c) = l.incoming.take() {
                l.incoming_key = Some(c.key.clone());
                self.persisted.consumers.entry(c.key.clone()).or_insert(c);
            }
        }
    }

    /// Where an id stands: a readable link, an id without properties, or nothing.
    pub fn lookup(&self, id: &Uuid) -> Lookup {
        if let Some(l) = self.persisted.links.get(id) {
            Lookup::Found(Box::new(l.clone()))
        } else if self.persisted.corrupted.contains(id) {
            Lookup::Corrupted
        } else {
            Lookup::Missing
        }
    }

    /// Adds a link, making it primary when it is the first of its type (§1.5).
    pub fn insert_link(&mut self, mut link: Link) {
        if !self
            .persisted
            .links
            .values()
            .any(|l| l.type_id == link.type_id)
        {
            link.primary = true;
        }
        if link.allowlist_rule_id == 0 {
            link.allowlist_rule_id = self.next_id();
        }
        if link.primary {
            self.set_primary_flag(&link.type_id, link.id);
        }
        self.persisted.links.insert(link.id, link);
    }

    /// A free name for a new link: the name itself, else "Name - 2", "Name - 3", … (§1.2). Like
    /// applinks, an existing " - n" suffix is kept (its regex strip is a literal replace).
    pub fn suitable_name(&self, name: &str) -> String {
        let used = |n: &str| self.persisted.links.values().any(|l| l.name == n);
        if !used(name) {
            return name.to_string();
        }
        (2..)
            .map(|i| format!("{name} - {i}"))
            .find(|n| !used(n))
            .expect("some suffix is free")
    }

    pub fn set_primary_flag(&mut self, type_id: &str, id: Uuid) {
        for l in self.persisted.links.values_mut() {
            if l.type_id == type_id {
                l.primary = l.id == id;
            }
        }
    }

    /// Removes a link with its consumer; another link of the type becomes primary (§1.5).
    pub fn remove_link(&mut self, id: &Uuid) -> Option<Link> {
        self.remove_consumer(id);
        let removed = self.persisted.links.remove(id)?;
        if removed.primary
            && let Some(next) = self
                .persisted
                .links
                .values_mut()
                .find(|l| l.type_id == removed.type_id)
        {
            next.primary = true;
        }
        Some(removed)
    }
}

pub enum Lookup {
    Found(Box<Link>),
    Corrupted,
    Missing,
}

/// Injected faults (control API).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case", default)]
pub struct Faults {
    /// Added to every Atlassian request.
    pub latency_ms: u64,
    /// The next N Atlassian requests fail with `fail_status`.
    pub fail_next: u32,
    /// Status of `fail_next` failures (default 503).
    pub fail_status: Option<u16>,
    /// The next N Atlassian requests get 429 with `Retry-After: retry_after_secs`.
    pub throttle_next: u32,
    pub retry_after_secs: u64,
    /// Every Basic / al_username credential is refused.
    pub reject_credentials: bool,
    /// The manifest reports this id instead of the real one.
    pub manifest_id: Option<Uuid>,
    /// The manifest answers 302 to this URL.
    pub manifest_redirect: Option<String>,
    /// Outgoing OAuth signatures are corrupted.
    pub tamper_signatures: bool,
    /// This app's clock is off by this many seconds: its outgoing OAuth timestamps and the
    /// `Date` header of its answers are shifted.
    pub clock_skew_secs: i64,
    /// The base URL the application believes it has (behind an unconfigured proxy): reported as
    /// the manifest's `url` and used to verify incoming OAuth signatures.
    pub configured_base_url: Option<String>,
    /// Hostile and broken answers by path (`faults.rs`): login pages, truncated or non-JSON
    /// bodies, huge and dripping bodies, connections closed mid-body, cross-origin redirects.
    pub responses: Vec<crate::faults::ResponseFault>,
}

#[derive(Clone, Debug, Serialize)]
pub struct LogEntry {
    pub seq: u64,
    pub method: String,
    pub path: String,
    /// Route template, e.g. `/rest/applinks/1.0/applicationlink/{id}`.
    pub route: Option<String>,
    pub status: u16,
    pub auth: String,
    /// Why the request was refused, when a resource says (e.g. `invalid_grant: …`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub micros: u64,
    /// When the request arrived (microseconds since the Unix epoch, the simulator's clock):
    /// with `micros`, the interval the request was being handled.
    pub started_unix_micros: u64,
    /// The client's `User-Agent` (at most 200 bytes), e.g. to tell operator replicas apart.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

/// Response extension: the refusal reason recorded in the request log. Never a secret.
#[derive(Clone, Debug)]
pub struct LogReason(pub String);

#[derive(Debug, Default)]
pub struct RequestLog {
    pub seq: u64,
    pub entries: std::collections::VecDeque<LogEntry>,
    /// `"METHOD route"` → count.
    pub counts: BTreeMap<String, u64>,
}

impl RequestLog {
    pub const MAX: usize = 10_000;

    pub fn push(&mut self, mut e: LogEntry) {
        self.seq += 1;
        e.seq = self.seq;
        let key = format!("{} {}", e.method, e.route.as_deref().unwrap_or(&e.path));
        *self.counts.entry(key).or_default() += 1;
        if self.entries.len() >= Self::MAX {
            self.entries.pop_front();
        }
        self.entries.push_back(e);
    }
}

/// Static identity of an app, fixed at start.
#[derive(Clone, Debug)]
pub struct Identity {
    pub id: Uuid,
    pub display_name: String,
    pub consumer_key: String,
    pub public_key_b64: String,
    pub version: String,
    pub applinks_version: String,
    pub capabilities: Vec<String>,
}

pub fn find_user<'a>(cfg: &'a AppConfig, username: &str) -> Option<&'a UserConfig> {
    cfg.users.iter().find(|u| u.username == username)
}

pub fn state_file(dir: &std::path::Path, name: &str) -> PathBuf {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(format!("{safe}.json"))
}

/// Outgoing provider classes of a link, for listings.
pub fn provider_set(link: &Link) -> BTreeSet<String> {
    link.outgoing.keys().cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_state_files_move_consumers_into_the_store() {
        let json = r#"{"links": {"6b49910b-0000-3000-8000-000000000001": {
            "id": "6b49910b-0000-3000-8000-000000000001", "typeId": "jira", "name": "J",
            "displayUrl": "http://j", "rpcUrl": "http://j", "primary": true, "system": false,
            "incoming": {"key": "J:1", "name": "J", "two_lo_allowed": true,
                         "two_lo_impersonation_allowed": false}}},
            "allowlist": {"enabled": true, "rules": [], "restrictiveness": "ALLOW_AUTHENTICATED"},
            "nextId": 1}"#;
        let mut st = AppState {
            persisted: serde_json::from_str(json).unwrap(),
            ..Default::default()
        };
        st.migrate_legacy_consumers();
        let l = st.persisted.links.values().next().unwrap().clone();
        assert_eq!(l.incoming_key.as_deref(), Some("J:1"));
        assert_eq!(st.incoming_level(&l), Level::Default);
        let out = serde_json::to_value(&st.persisted).unwrap();
        assert!(
            out["links"]
                .as_object()
                .unwrap()
                .values()
                .all(|l| l.get("incoming").is_none())
        );
        assert_eq!(out["consumers"]["J:1"]["key"], "J:1");
    }
}
