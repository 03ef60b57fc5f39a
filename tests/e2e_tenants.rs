//! The operator as a shared, cluster-wide service (the chart's default: no `--namespace`), read
//! as an attacker would: a hostile tenant with rights in one namespace only, and a hostile
//! application. Each scenario starts its own cluster-wide operator (its objects carry a shard
//! label of their own, see `Operator::start_cluster_wide`), at least two tenant namespaces, and
//! checks the harm on the applications' side (what reached the recording listener, what was
//! written, memory), not only the conditions.
//!
//! One module per finding of the shared-service review, under tests/tenants/.

mod common;
#[path = "tenants/mod.rs"]
mod tenants;
