//! applink-sim: a simulator of Atlassian applications' Application Links protocol, for the
//! applink-operator's tests, demo and benchmarks. See `e2e/README.md` ("## Simulator"); the
//! product behaviour it copies, with sources, is `docs/simulator.md`.
//!
//! Its protocol types are its own (no model code shared with the operator), so that a
//! misreading of the protocol cannot hide by being mirrored on both sides.
//!
//! # Module map
//!
//! Layers, bottom to top; a module imports only from its own layer or below.
//!
//! | layer | modules | what |
//! |---|---|---|
//! | input | `config`, `product`, `profile` | the YAML config, the products, their defaults |
//! | wire | `wire/` | XML, entities, negotiation and error envelopes, keys, OAuth 1.0a signatures, OAuth 2.0 ids, JWTs and scopes |
//! | store | `store/` | what an application holds: links, consumers and tokens, OAuth 2.0 clients and tokens, allowlist, sessions, faults, request log |
//! | app | `app`, `peer` | one application (identity, settings, store) and its calls to peers |
//! | gate | `gate/` | who is calling (Basic, session, OAuth 1.0a, bearer) and the access rules |
//! | surfaces | `applinks/`, `oauth1/`, `oauth2/`, `product_rest/` | handlers by REST surface, each with its `routes()` |
//! | control | `control/` | the test API under `/_sim`: inspection, faults, stop/start |
//! | server | `server/`, `sim` | sockets, the request pipeline, the router, starting a set of apps |
//!
//! A new product behaviour goes into the surface that serves it, with its fact and source in
//! `docs/simulator.md`; state it needs goes into `store/`.

mod app;
mod applinks;
pub mod config;
mod control;
mod gate;
mod oauth1;
mod oauth2;
pub mod peer;
mod product;
mod product_rest;
mod profile;
mod server;
mod sim;
mod store;
pub mod wire;

pub use app::App;
pub use config::{AppConfig, Role, SimConfig, TlsConfig, UserConfig};
pub use product::Product;
pub use profile::{CaptchaMode, Profile, RateLimit, RestLine, Settings};
pub use sim::{Simulator, StartError};
