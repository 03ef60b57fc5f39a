//! The attack scenarios, one module per finding, and what they share: a world of tenant
//! namespaces served by one cluster-wide operator.

mod bounds;
mod claims;
mod cli;
mod credentials;
mod estate;
mod fairness;
mod leader;
mod shards;
mod shared;
mod stall;

use crate::common::e2e::{self, Operator, SHARD_LABEL, Sim};
use crate::common::{self, TestNamespace};
use kube::Client;

pub use crate::common::e2e::apps;

/// Adds the shard label to every applinks.io object of `yaml` (the operator of the scenario
/// selects its objects by it).
pub fn sharded(yaml: &str, shard: &str) -> String {
    let mut out = String::new();
    for doc in yaml.split("\n---\n") {
        if !out.is_empty() {
            out.push_str("\n---\n");
        }
        if doc.contains("apiVersion: applinks.io/") {
            out.push_str(&doc.replacen(
                "metadata: {",
                &format!("metadata: {{labels: {{{SHARD_LABEL}: {shard}}}, "),
                1,
            ));
        } else {
            out.push_str(doc);
        }
    }
    out
}

/// One scenario's cluster: a client, an operator watching every namespace (the chart's
/// default) for this scenario's shard, the operator's own namespace (where shared
/// applications' Secrets live) and tenant namespaces.
pub struct World {
    pub client: Client,
    pub shard: String,
    pub ops: TestNamespace,
    pub tenants: Vec<TestNamespace>,
    pub op: Operator,
}

impl World {
    pub async fn new(prefix: &str, tenants: usize) -> World {
        let client = common::client().await;
        common::install_crds(&client).await;
        let ops = common::namespace(&client, &format!("{prefix}-ops")).await;
        let mut list = Vec::new();
        for i in 0..tenants {
            list.push(common::namespace(&client, &format!("{prefix}-t{i}")).await);
        }
        let shard = ops.name().to_string();
        let op = Operator::start_cluster_wide(
            &shard,
            &[],
            &["--cluster-resource-namespace", ops.name()],
        );
        World {
            client,
            shard,
            ops,
            tenants: list,
            op,
        }
    }

    pub fn tenant(&self, i: usize) -> &str {
        self.tenants[i].name()
    }

    /// `kubectl apply` in `ns`, every applinks.io object labelled with this world's shard.
    pub fn apply(&self, ns: &str, yaml: &str) {
        e2e::apply(ns, &sharded(yaml, &self.shard));
    }
}

/// Requests to `app` that carried credentials (anything but anonymous).
pub async fn credentialed(sim: &Sim, app: &str) -> usize {
    sim.log_entries(app)
        .await
        .iter()
        .filter(|e| e["auth"].as_str().unwrap_or("anonymous") != "anonymous")
        .count()
}
