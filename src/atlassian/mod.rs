//! Typed client for the Atlassian Application Links REST API. The protocol facts it relies on,
//! and their sources, are in `docs/protocol.md`; the sections named below are its headings.
//!
//! One [`AtlassianClient`] per application, always acting with that application's own
//! credentials. Endpoints used, relative to the application's base URL:
//!
//! | Method | Endpoint | Why |
//! |---|---|---|
//! | [`manifest`](AtlassianClient::manifest), [`manifest_and_clock`](AtlassianClient::manifest_and_clock) | `GET rest/applinks/1.0/manifest` (anonymous, redirects not followed) | identity: id, type, versions, base URL, the application's clock (Manifest) |
//! | [`verify_admin`](AtlassianClient::verify_admin) | `GET rest/applinks/1.0/authenticationinfo`; with a token also `GET rest/applinks/1.0/applicationlink` | 2xx iff the credentials are admin; a token refused by secure administrator sessions is found before anything is created (Administrator check) |
//! | [`list_links`](AtlassianClient::list_links) | `GET rest/applinks/3.0/applinks` (fallback: the classic list `GET rest/applinks/1.0/applicationlink`) | observe this end's links (Links) |
//! | [`get_link`](AtlassianClient::get_link) | `GET rest/applinks/3.0/applinks/{id}`; before V3 has answered once, a 404 is confirmed with the list — never with the classic by-id GET, which answers 500 for an unknown id | observe one link (Links) |
//! | [`create_link`](AtlassianClient::create_link) | `PUT rest/applinks/2.0/applicationlink` | create this end, id = peer's manifest id, no call to the peer; a refused id that no list shows is a corrupted link (Links) |
//! | [`update_link`](AtlassianClient::update_link) | `PUT rest/applinks/3.0/applinks/{id}` | name/URLs/primary, the update that may change `rpcUrl`; a refusal names the other link using the name or URL (Links) |
//! | [`set_primary`](AtlassianClient::set_primary) | `POST rest/applinks/1.0/applicationlink/primary/{id}` | primary link of its type (Links) |
//! | [`delete_link`](AtlassianClient::delete_link) | `DELETE rest/applinks/3.0/applinks/{id}` (fallback `DELETE 1.0/applicationlink/{id}?reciprocate=false`) | local-only delete (Links) |
//! | [`get_oauth_config`](AtlassianClient::get_oauth_config), [`set_oauth_config`](AtlassianClient::set_oauth_config) | `GET`/`PUT rest/applinks/3.0/status/{id}/oauth` | OAuth levels of this end; mirrored on the peer (OAuth configuration) |
//! | [`oauth2_metadata`](AtlassianClient::oauth2_metadata) | `GET rest/oauth2/latest/.well-known/oauth-authorization-server` (anonymous) | scopes and endpoints of the OAuth 2.0 provider (OAuth 2.0 provider) |
//! | [`list_oauth2_clients`](AtlassianClient::list_oauth2_clients), [`get_oauth2_client`](AtlassianClient::get_oauth2_client), [`create_oauth2_client`](AtlassianClient::create_oauth2_client), [`update_oauth2_client`](AtlassianClient::update_oauth2_client), [`delete_oauth2_client`](AtlassianClient::delete_oauth2_client), [`reset_oauth2_client_secret`](AtlassianClient::reset_oauth2_client_secret) | `GET`/`POST rest/oauth2/latest/client`, `GET`/`PUT`/`DELETE …/client/{id}`, `PUT …/client/reset/{clientId}` (system administrator; 401 otherwise) | incoming OAuth 2.0 clients of ExternalApplications (OAuth 2.0 provider) |
//! | [`put_incoming_consumer`](AtlassianClient::put_incoming_consumer) | `PUT rest/applinks-oauth/1.0/applicationlink/{id}/authentication/consumer` (admin; 201) | the incoming OAuth 1.0a consumer of an ExternalApplication's generic link; no REST delete, the link's deletion removes it (Incoming consumers) |
//! | [`link_status`](AtlassianClient::link_status) | `GET rest/applinks/3.0/status/{id}` | health: working, error category/type (Status API) |
//! | [`linked_entities`](AtlassianClient::linked_entities) | `GET rest/applinks/1.0/entitylink/localEntitiesWithLinksTo/{id}` | the local entities whose entity links go over a link: deleting the link deletes them (Entity links) |
//! | [`list_allowlist_rules`](AtlassianClient::list_allowlist_rules), [`create_allowlist_rule`](AtlassianClient::create_allowlist_rule), [`update_allowlist_rule`](AtlassianClient::update_allowlist_rule), [`ensure_allowlist_rule`](AtlassianClient::ensure_allowlist_rule) | `GET`/`POST {base}`, `PUT {base}/{id}`, base probed: `rest/whitelist/latest`, then `rest/whitelist/1.0` | inbound rule for a cloud peer's domain (Allowlist) |
//!
//! Section names in parentheses are headings of `docs/protocol.md`.
//!
//! **Why not `applicationlinkForm/createAppLink`:** it creates the link-back by sending the
//! *remote* administrator's password from one application to the other. The operator never
//! hands one application's credentials to another host, so it creates each end through that
//! end's own API (v2 `PUT applicationlink` with the peer's manifest id) and configures OAuth on
//! each end with mirrored levels (`PUT status/{id}/oauth`) (docs/protocol.md, Links). For the
//! same reason it never deletes with `reciprocate=true` (that goes through the link's own
//! OAuth): each end is deleted locally.
//!
//! Every request carries `Accept: application/json` and `X-Atlassian-Token: no-check` (XSRF
//! filter; docs/protocol.md, Requests), a User-Agent that names no browser and no `Origin` or
//! `Referer` (a browser-looking POST from a foreign origin is refused even with the token;
//! docs/simulator.md#xsrf), and Basic or Bearer auth, never a login session (Basic
//! always passes secure administrator sessions; docs/protocol.md, Authentication and admin
//! sessions). Credentials never leave the base URL's origin: cross-origin redirects are not
//! followed.

mod allowlist;
mod calls;
mod client;
mod consumer;
mod credentials;
mod discovery;
mod entity_links;
mod envelope;
mod error;
mod limits;
mod link;
mod oauth;
mod oauth2_provider;
mod redact;
mod retry;
mod status;
mod tls;

#[cfg(test)]
mod hostile_tests;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod transport_tests;

pub use allowlist::{AllowlistRuleType, NewAllowlistRule};
pub use calls::{CallMetrics, application_type_label};
pub use client::{AtlassianClient, ClientConfig, CredentialHold};
pub use consumer::IncomingConsumer;
pub use credentials::Credentials;
pub use credentials::Secret;
pub use discovery::Manifest;
pub use entity_links::LinkedEntities;
pub use error::ApiError;
pub use link::{LinkUpdate, NewLink, RemoteLink, generic_link_id};
pub use oauth::{LinkOAuthConfig, OAuthConfig, OAuthLevel};
pub use oauth2_provider::{OAuth2ClientEntity, OAuth2ClientSpec, ProviderMetadata};
#[cfg(test)]
pub use retry::RetryPolicy;
pub use retry::exponential;
#[cfg(test)]
pub use status::{ErrorCategory, StatusError};
pub use status::{LinkStatus, StatusErrorType};
