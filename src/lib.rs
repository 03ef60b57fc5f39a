//! applink-operator: manages Atlassian Application Links declaratively.
pub mod atlassian;
pub mod crd;
pub mod crdgen;
