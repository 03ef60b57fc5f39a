//! applink-operator: manages Atlassian Application Links declaratively.
pub mod atlassian;
pub mod clients;
pub mod conditions;
pub mod controller;
pub mod crd;
pub mod crdgen;
pub mod errors;
pub mod failpoint;
pub mod health;
pub mod leader;
pub mod planner;
pub mod preflight;
pub mod reasons;
pub mod secrets;
pub mod telemetry;
