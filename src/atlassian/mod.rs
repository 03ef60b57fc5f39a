//! Typed client for the Atlassian Application Links REST API.
