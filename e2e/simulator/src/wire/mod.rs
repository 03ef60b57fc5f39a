//! What travels on the wire, with no application state: XML, the protocol entities, content
//! negotiation and error envelopes, identity keys, OAuth 1.0a signatures.

pub(crate) mod html;
pub mod keys;
pub(crate) mod model;
pub mod oauth1;
pub mod oauth2;
pub(crate) mod oauth2_scopes;
pub(crate) mod respond;
pub(crate) mod xml;
