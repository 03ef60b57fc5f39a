//! applink-operator: manages Atlassian Application Links declaratively.
pub mod atlassian;
pub mod controller;
pub mod crd;
pub mod crdgen;
pub mod planner;
pub mod preflight;
pub mod telemetry;
