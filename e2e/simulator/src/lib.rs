//! applink-sim: a simulator of Atlassian applications' Application Links protocol, for the
//! applink-operator's tests, demo and benchmarks. See `e2e/README.md` ("## Simulator").
//!
//! Its protocol types are its own (no model code shared with the operator), so that a
//! misreading of the protocol cannot hide by being mirrored on both sides.

pub mod access;
pub mod allowlist;
pub mod app;
pub mod applinks_v3;
pub mod auth;
pub mod basicauth;
pub mod config;
pub mod control;
pub mod faults;
pub mod keys;
pub mod links;
pub mod manifest;
pub mod model;
pub mod oauth;
pub mod oauth1_dance;
pub mod oauth2_authorize;
pub mod oauth2_provider;
pub mod oauth_config;
pub mod peer;
pub mod permission;
pub mod product;
pub mod product_api;
pub mod profile;
pub mod providers;
pub mod respond;
pub mod routes;
pub mod server;
pub mod servlets;
pub mod sim;
pub mod state;
pub mod status;
pub mod ui;
pub mod xml;

pub use app::App;
pub use config::{AppConfig, Role, SimConfig, TlsConfig, UserConfig};
pub use product::Product;
pub use profile::{CaptchaMode, Profile, RateLimit, RestLine, Settings};
pub use sim::{Simulator, StartError};
