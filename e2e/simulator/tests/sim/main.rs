//! The simulator's tests, in one binary: each file used to be a binary of its own, linking the
//! same dependencies thirteen times (disk and link time). One module per surface or concern.

mod common;

mod access;
mod allowlist;
mod cli;
mod control;
mod entity_links;
mod hostile;
mod oauth;
mod oauth1_generic;
mod oauth2;
mod oauth_clients;
mod peer_to_peer;
mod real_links;
mod rest_surface;
mod tls;
