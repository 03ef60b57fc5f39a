//! applink-operator: manages Atlassian Application Links declaratively.
//!
//! Public: what the binary and the integration tests use. Everything else is private to the
//! crate, so the compiler reports code nothing uses.
pub mod cli;
pub mod controller;
pub mod crd;
pub mod crdgen;
pub mod health;
pub mod leader;
pub mod metrics;
pub mod preflight;
pub mod reference;
pub mod telemetry;

mod atlassian;
mod clients;
mod conditions;
mod errors;
mod failpoint;
mod planner;
mod reasons;
mod secrets;
