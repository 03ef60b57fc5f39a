//! applink-operator: manages Atlassian Application Links declaratively.
pub mod atlassian;
