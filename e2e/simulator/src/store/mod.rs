//! What an application holds (the bottom layer: no handler, no I/O but the state file): links,
//! OAuth consumers and tokens, OAuth 2.0 clients and tokens, the allowlist, access bookkeeping,
//! injected faults, the request log.

mod allowlist;
mod cert;
mod consumers;
mod entity_links;
mod faults;
mod links;
mod log;
mod oauth2;
mod product_data;
mod sessions;

pub use allowlist::{AllowRule, Allowlist};
pub use cert::SwapCert;
pub use consumers::{AccessToken, Consumer, OutgoingHmacConsumer, RequestToken};
pub use entity_links::{EntityLink, EntityLinks};
pub use faults::{FaultKind, Faults, ResponseFault, validate_faults};
pub use links::{Link, Lookup, provider_set};
pub use log::{LogEntry, RequestLog};
pub use oauth2::{AccessRecord, Authorization, Client, OAuth2Store, RefreshRecord};
pub use product_data::{BitbucketProfile, RestData};
pub use sessions::{
    AccessState, PATS_SESSION_ATTRIBUTE, RateOutcome, SESSION_COOKIE, Session,
    WEBSUDO_SESSION_ATTRIBUTE,
};

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::wire::model::{Level, OAuthCfg};
use crate::wire::oauth1::NonceStore;

/// Persisted part of an application's state.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Persisted {
    pub links: BTreeMap<Uuid, Link>,
    /// Ids registered without their properties ("corrupted" links,
    /// docs/simulator.md#link-resources): lists skip them.
    #[serde(default)]
    pub corrupted: BTreeSet<Uuid>,
    /// Incoming OAuth consumers by key, one store per application
    /// (docs/simulator.md#consumer-store).
    #[serde(default)]
    pub consumers: BTreeMap<String, Consumer>,
    pub allowlist: Allowlist,
    pub next_id: u64,
    /// OAuth 2.0 provider: clients and (hashed) tokens.
    #[serde(default)]
    pub oauth2: OAuth2Store,
    /// What the small product REST surface stores (preferences, watches, builds).
    #[serde(default)]
    pub rest_data: RestData,
    /// Entity links (docs/simulator.md#entity-links).
    #[serde(default)]
    pub entity_links: EntityLinks,
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
    /// key loses its incoming OAuth too (docs/simulator.md#consumer-store).
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

    /// Adds a link, making it primary when it is the first of its type (docs/simulator.md#primary-links).
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

    /// A free name for a new link: the name itself, else "Name - 2", "Name - 3", … (docs/simulator.md#link-names). Like
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

    /// Removes a link with its consumer and its entity links (docs/simulator.md#entity-links);
    /// another link of the type becomes primary (docs/simulator.md#primary-links).
    pub fn remove_link(&mut self, id: &Uuid) -> Option<Link> {
        self.persisted.entity_links.remove_for_application_link(id);
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
