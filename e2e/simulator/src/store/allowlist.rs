//! The allowlist ("whitelist"): its rules and switches.

use serde::{Deserialize, Serialize};

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
