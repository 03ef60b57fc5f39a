//! Ownership claims: what an object made (or adopted) in an application, recorded by the
//! operator before the remote create. They live in status, which only the operator writes
//! (tenants have no rights on `/status`, and the API server drops status on create), so a copy
//! of an object never carries its original's claims.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// One link in one application.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct LinkClaim {
    /// Manifest id of the application the link lives in.
    pub application_id: String,
    /// Id of the link in that application.
    pub link_id: String,
}

/// The link ends an ApplicationLink owns.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct LinkClaims {
    /// The end in the source application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<LinkClaim>,
    /// The end in the target application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<LinkClaim>,
}

/// The incoming OAuth 2.0 client an ExternalApplication owns.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ClientClaim {
    /// Manifest id of the application the client lives in.
    pub application_id: String,
    /// The client's name, recorded before it is created (found by it after a crash).
    pub name: String,
    /// The client's id in the application, recorded once it exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// What an ExternalApplication owns: an OAuth 2.0 client, or the generic link of an OAuth 1.0a
/// consumer.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ExternalClaims {
    /// The incoming OAuth 2.0 client (spec.oauth2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<ClientClaim>,
    /// The generic link to the tool that carries its OAuth 1.0a consumer (spec.oauth1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth1: Option<LinkClaim>,
}
