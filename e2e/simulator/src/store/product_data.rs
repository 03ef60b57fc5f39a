//! What the small product REST surface stores: preferences, watches, profiles, builds.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BitbucketProfile {
    pub display_name: String,
    pub email: String,
}

/// What these resources store, per user.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestData {
    /// Jira: username → preference key → value.
    #[serde(default)]
    pub preferences: BTreeMap<String, BTreeMap<String, String>>,
    /// Confluence: username → watched space keys.
    #[serde(default)]
    pub watches: BTreeMap<String, BTreeSet<String>>,
    /// Bitbucket: username → changed account details.
    #[serde(default)]
    pub profiles: BTreeMap<String, BitbucketProfile>,
    /// Bamboo: plan key → last build number.
    #[serde(default)]
    pub builds: BTreeMap<String, u64>,
}
