//! OAuth 1.0a consumers (incoming, per key) and the tokens of the three-legged dance.

use serde::{Deserialize, Serialize};

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
