//! The inventory in an instance's status: every application link the application holds,
//! managed by an ApplicationLink or not (docs/estate.md).

use serde::{Deserialize, Serialize};

use super::link::{EndAuth, EndHealth};

/// What the application holds, read at the instance's check interval.
#[derive(kube::KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Inventory {
    /// How many application links the application holds (all of them, listed or not).
    pub link_count: u32,
    /// How many of them no ApplicationLink manages (all of them, listed or not).
    pub unmanaged_count: u32,
    /// Set when the application holds more links than are listed (the bound is in
    /// docs/estate.md): `links` then holds the first ones by name, the counts stay whole.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    /// The links, sorted by name then id, at most the bound.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<InventoryLink>,
    /// Why the last read failed, when it did (the lists above are from the read before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When it was last read (or tried). It is read again at the instance's check, at most once
    /// a minute, and 5 minutes after a failed read; a resync request reads it at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_at: Option<String>,
}

/// One application link as the application reports it.
#[derive(kube::KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InventoryLink {
    /// The link's id: the linked application's id.
    pub id: String,
    /// The linked application's type (jira, confluence, stash, ...).
    #[serde(rename = "type")]
    pub type_id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpc_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_url: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub primary: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub system: bool,
    /// Authentication of this end (`local`) and, when this application could read it, of the
    /// peer's end (`remote`), as this application's status API reports them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_auth: Option<EndAuth>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_auth: Option<EndAuth>,
    /// Working, or the error category and type this application's status API reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<EndHealth>,
    /// How many local entities (projects, spaces, ...) have entity links over this link: they
    /// are deleted with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_links: Option<u32>,
    /// `namespace/name` of the ApplicationLink that manages this end, or `unmanaged`.
    pub managed_by: String,
}
