//! Sharding as the chart installs it (`sharding.shards`): one Deployment per shard, each with its
//! own watch selector and Lease. Two shards run here (the operator binary with each rendered
//! Deployment's shard arguments) over two tenants: each reconciles only its own objects, never
//! calls the other shard's applications, and a link naming an instance of the other shard is
//! refused the same way every time (`InstanceNotFound`, naming the shard rule).

use super::sharded;
use crate::common::e2e::{self, Operator, Sim};
use crate::common::{self, process};
use serde_json::Value;

/// The chart's Deployments rendered for `shards` in `ns`, by name.
fn rendered_deployments(ns: &str, shards: &[&str]) -> Vec<Value> {
    let set = format!("sharding.shards={{{}}}", shards.join(","));
    let chart = common::repo_path("charts/applink-operator");
    let out = process::run(
        &process::bin("helm"),
        &[
            "template",
            "r",
            chart.to_str().unwrap(),
            "--namespace",
            ns,
            "--kube-version",
            "1.35.0",
            "--skip-tests",
            "--set",
            &set,
            "--set",
            "leaderElection.enabled=true",
        ],
        &[],
    );
    assert!(out.ok, "helm template: {}", out.stderr);
    out.stdout
        .split("\n---")
        .filter_map(|d| serde_yaml::from_str::<Value>(d).ok())
        .filter(|d| d["kind"] == "Deployment")
        .collect()
}

/// What makes a Deployment a shard: its watch selector and its Lease (the rest of its arguments
/// are the intervals every test operator sets shorter).
fn shard_args(d: &Value) -> Vec<String> {
    d["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .filter(|a| a.starts_with("--watch-label-selector") || a.starts_with("--leader-election"))
        .map(str::to_string)
        .collect()
}

/// User agents of the requests `app` received (the operator's carry its pod name).
async fn agents(sim: &Sim, app: &str) -> Vec<String> {
    sim.log_entries(app)
        .await
        .iter()
        .filter_map(|e| e["user_agent"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn two_shards_reconcile_only_their_own_objects_and_applications() {
    let client = common::client().await;
    common::install_crds(&client).await;
    let ops = common::namespace(&client, "shards-ops").await;
    let t0 = common::namespace(&client, "shards-t0").await;
    let t1 = common::namespace(&client, "shards-t1").await;
    let (ka, kb) = (format!("{}-a", ops.name()), format!("{}-b", ops.name()));

    let deployments = rendered_deployments(ops.name(), &[&ka, &kb]);
    let by_name = |n: &str| {
        deployments
            .iter()
            .find(|d| d["metadata"]["name"] == n)
            .unwrap_or_else(|| panic!("no Deployment {n}"))
    };
    // Objects without a shard key stay with the main Deployment.
    assert!(
        shard_args(by_name("r-applink-operator"))
            .contains(&"--watch-label-selector=!sharding.applinks.io/key".to_string())
    );
    let (args_a, args_b) = (
        shard_args(by_name(&format!("r-applink-operator-shard-{ka}"))),
        shard_args(by_name(&format!("r-applink-operator-shard-{kb}"))),
    );
    let start = |args: &[String], pod: &str| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Operator::start_with_args(&args, &[("POD_NAME", pod)])
    };
    let _a = start(&args_a, "shard-a-pod");
    let _b = start(&args_b, "shard-b-pod");

    let sim = Sim::start(&e2e::apps(&[
        ("jira-a", "jira"),
        ("confluence-a", "confluence"),
        ("jira-b", "jira"),
        ("bitbucket-b", "bitbucket"),
    ]));
    let apply = |ns: &str, shard: &str, yaml: &str| e2e::apply(ns, &sharded(yaml, shard));
    for (n, t) in [("jira-a", "jira"), ("confluence-a", "confluence")] {
        apply(t0.name(), &ka, &e2e::instance_yaml(n, sim.app(n), t, true));
    }
    apply(
        t0.name(),
        &ka,
        &e2e::link_yaml("l", "jira-a", "confluence-a", "OAuth"),
    );
    for (n, t) in [("jira-b", "jira"), ("bitbucket-b", "bitbucket")] {
        apply(t1.name(), &kb, &e2e::instance_yaml(n, sim.app(n), t, true));
    }
    apply(
        t1.name(),
        &kb,
        &e2e::link_yaml("l", "jira-b", "bitbucket-b", "OAuth"),
    );
    // A link of shard A naming an instance of shard B, in one namespace.
    apply(
        t0.name(),
        &kb,
        &e2e::instance_yaml("jira-b", sim.app("jira-b"), "jira", true),
    );
    apply(
        t0.name(),
        &ka,
        &e2e::link_yaml("cross", "confluence-a", "jira-b", "OAuth"),
    );

    e2e::wait_link_ready(&client, t0.name(), "l", "True").await;
    e2e::wait_link_ready(&client, t1.name(), "l", "True").await;
    let cross = e2e::wait_link_reason(&client, t0.name(), "cross", "InstanceNotFound").await;
    let conds = cross
        .status
        .as_ref()
        .map(|s| s.conditions.clone())
        .unwrap_or_default();
    let ready = e2e::condition(&conds, "Ready").expect("Ready");
    assert!(
        ready.2.contains(&format!("sharding.applinks.io/key={ka}"))
            && ready
                .2
                .contains("links and their instances must be in one shard"),
        "the message names the shard rule: {ready:?}"
    );
    // Shard B took the instance of its own shard in t0 (and so only shard B calls jira-b).
    e2e::wait_instance(&client, t0.name(), "jira-b", "Ready", |c| c.0 == "True").await;

    // Each shard holds its own Lease.
    for (key, pod) in [(&ka, "shard-a-pod"), (&kb, "shard-b-pod")] {
        let lease = format!("r-applink-operator-shard-{key}");
        e2e::wait_for(&format!("{pod} holds {lease}"), || async {
            let h = e2e::lease_holder_of(&client, ops.name(), &lease).await;
            if h.contains(pod) {
                Ok(())
            } else {
                Err(format!("holder {h:?}"))
            }
        })
        .await;
    }

    // No application heard from the other shard; each heard from its own.
    for (app, own, other) in [
        ("jira-a", "shard-a-pod", "shard-b-pod"),
        ("confluence-a", "shard-a-pod", "shard-b-pod"),
        ("jira-b", "shard-b-pod", "shard-a-pod"),
        ("bitbucket-b", "shard-b-pod", "shard-a-pod"),
    ] {
        let seen = agents(&sim, app).await;
        assert!(
            seen.iter().any(|a| a.contains(own)),
            "{app} never heard from {own}: {seen:?}"
        );
        assert!(
            !seen.iter().any(|a| a.contains(other)),
            "{app} heard from {other}, another shard's operator"
        );
    }
}
