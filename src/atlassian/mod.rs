//! Typed client for the Atlassian Application Links REST API. The protocol facts it relies on,
//! and their sources, are in `docs/protocol.md`; the sections named below are its headings.
//!
//! One [`AtlassianClient`] per application, always acting with that application's own
//! credentials. Endpoints used, relative to the application's base URL:
//!
//! | Method | Endpoint | Why |
//! |---|---|---|
//! | [`manifest`](AtlassianClient::manifest) | `GET rest/applinks/1.0/manifest` (anonymous) | identity: id, type, versions (docs/protocol.md, Manifest) |
//! | [`remote_manifest`](AtlassianClient::remote_manifest) | `GET rest/applinks/1.0/manifest/{linkId}` | can this application reach its peer? |
//! | [`capabilities`](AtlassianClient::capabilities) | `GET rest/applinks/3.0/capabilities` (anonymous) | `STATUS_API` present? (docs/protocol.md, Capabilities) |
//! | [`verify_admin`](AtlassianClient::verify_admin) | `GET rest/applinks/1.0/authenticationinfo` | 2xx iff the credentials are admin (docs/protocol.md, Administrator check) |
//! | [`consumer_info`](AtlassianClient::consumer_info) | `GET plugins/servlet/oauth/consumer-info` (anonymous, XML) | the OAuth key peers fetch during `PUT status/{id}/oauth` (docs/protocol.md, Consumer info) |
//! | [`list_links`](AtlassianClient::list_links) | `GET rest/applinks/3.0/applinks` (fallback `GET rest/applinks/1.0/applicationlink`) | observe this end's links (docs/protocol.md, Links) |
//! | [`get_link`](AtlassianClient::get_link) | `GET rest/applinks/3.0/applinks/{id}` (fallback `1.0/applicationlink/{id}` on 404) | observe one link |
//! | [`create_link`](AtlassianClient::create_link) | `PUT rest/applinks/2.0/applicationlink` | create this end, id = peer's manifest id, no call to the peer (docs/protocol.md, Links) |
//! | [`update_link`](AtlassianClient::update_link), [`relocate_link`](AtlassianClient::relocate_link) | `PUT rest/applinks/3.0/applinks/{id}` | name/URLs/primary; the only update that may change `rpcUrl` without a reachability check (docs/protocol.md, Links) |
//! | [`relocate_link_checked`](AtlassianClient::relocate_link_checked) | `POST rest/applinks/1.0/relocateApplicationlink/{id}?newUrl=&nowarning=` | relocation verified by the application itself, sysadmin (docs/protocol.md, Links) |
//! | [`set_primary`](AtlassianClient::set_primary) | `POST rest/applinks/1.0/applicationlink/primary/{id}` | primary link of its type (docs/protocol.md, Links) |
//! | [`delete_link`](AtlassianClient::delete_link) | `DELETE rest/applinks/3.0/applinks/{id}` (fallback `DELETE 1.0/applicationlink/{id}?reciprocate=false`) | local-only delete (docs/protocol.md, Links) |
//! | [`get_oauth_config`](AtlassianClient::get_oauth_config), [`set_oauth_config`](AtlassianClient::set_oauth_config) | `GET`/`PUT rest/applinks/3.0/status/{id}/oauth` | OAuth levels of this end; mirrored on the peer (docs/protocol.md, OAuth configuration) |
//! | [`link_status`](AtlassianClient::link_status) | `GET rest/applinks/3.0/status/{id}` | health: working, error category/type (docs/protocol.md, Status API) |
//! | [`list_allowlist_rules`](AtlassianClient::list_allowlist_rules), [`create_allowlist_rule`](AtlassianClient::create_allowlist_rule), [`update_allowlist_rule`](AtlassianClient::update_allowlist_rule), [`delete_allowlist_rule`](AtlassianClient::delete_allowlist_rule), [`ensure_allowlist_rule`](AtlassianClient::ensure_allowlist_rule) | `GET`/`POST rest/whitelist/latest`, `PUT`/`DELETE rest/whitelist/latest/{id}` | inbound rule for a cloud peer's domain (docs/protocol.md, Allowlist; base path inferred) |
//! | [`set_allowlist_enabled`](AtlassianClient::set_allowlist_enabled), [`check_allowlist`](AtlassianClient::check_allowlist) | `POST rest/whitelist/latest/{enable,disable}`, `GET rest/whitelist/latest/check?url=` | switch / probe the allowlist |
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
//! filter; docs/protocol.md, Requests) and Basic or Bearer auth, never a login session (Basic
//! always passes secure administrator sessions; docs/protocol.md, Authentication and admin
//! sessions). Credentials never leave the base URL's origin: cross-origin redirects are not
//! followed.

mod allowlist;
mod client;
mod credentials;
mod discovery;
mod envelope;
mod error;
mod link;
mod oauth;
mod retry;
mod status;
mod tls;

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod transport_tests;

pub use allowlist::{
    AllowlistCheck, AllowlistRule, AllowlistRuleType, AllowlistRuleUpdate, NewAllowlistRule,
};
pub use client::{AtlassianClient, ClientConfig};
pub use credentials::{Credentials, Secret};
pub use discovery::{
    Capabilities, ConsumerInfo, Manifest, OAUTH_PROVIDER, STATUS_API,
    TWO_LO_IMPERSONATION_PROVIDER, TWO_LO_PROVIDER,
};
pub use envelope::{RestLink, StatusEnvelope};
pub use error::ApiError;
pub use link::{
    ApplicationLinkEntity, ApplicationLinkV3, CreatedLink, DeleteOutcome, LinkUpdate, NewLink,
    RemoteLink,
};
pub use oauth::{LinkOAuthConfig, OAuthConfig, OAuthLevel};
pub use retry::RetryPolicy;
pub use status::{ErrorCategory, LinkStatus, StatusError, StatusErrorType, StatusLink};
