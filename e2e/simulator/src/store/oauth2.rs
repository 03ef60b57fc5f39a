//! The OAuth 2.0 provider's store: clients, authorization codes, access and refresh tokens.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

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

    pub fn code_redeemed(&self, code: &str) -> bool {
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
