//! Application links as an application stores them, and where an id stands.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::OutgoingHmacConsumer;
use super::consumers::Consumer;
use crate::product::providers;
use crate::wire::model::Level;

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
    /// the application-wide store, shared by every link recording the same key
    /// (docs/simulator.md#consumer-store).
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

pub enum Lookup {
    Found(Box<Link>),
    Corrupted,
    Missing,
}

/// Outgoing provider classes of a link, for listings.
pub fn provider_set(link: &Link) -> BTreeSet<String> {
    link.outgoing.keys().cloned().collect()
}
