//! Finding 6, both halves, as tenant B would try them against tenant A:
//! - starvation: B's applications answer every request slowly and B has many links to them;
//!   A's link must still get a worker and become Ready (the time it took is printed);
//! - lock-out: A's administrator password is wrong and was refused once; B makes the operator
//!   build more clients than its cache holds; A's password must not reach A's application again
//!   (a second refused login brings the CAPTCHA closer for A's real administrator).

use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use serde_json::{Value, json};

use applink_operator::crd::{ApplicationInstance, ApplicationLink};

use crate::common;
use crate::common::e2e::{self, Operator, SHARD_LABEL, Sim, SimApp, condition, wait_instance};

fn sim_config(apps: &[(&str, &str)]) -> String {
    apps.iter()
        .fold(e2e::SimConfig::default(), |c, (name, product)| {
            c.app(name, product).with(
                "users:
- {username: admin, password: admin, role: sysadmin}",
            )
        })
        .yaml()
}

fn labels(shard: &str) -> Value {
    json!({ SHARD_LABEL: shard })
}

/// A credentials Secret for `app`, opted in for its URL (`applinks.io/allowed-urls`).
fn secret(name: &str, app: &SimApp, password: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "annotations": {"applinks.io/allowed-urls": app.base_url},
        },
        "stringData": {"username": "admin", "password": password},
    })
}

fn instance(name: &str, app: &SimApp, type_: &str, secret: Option<&str>, shard: &str) -> Value {
    let mut spec = json!({"url": app.base_url, "type": type_});
    if let Some(s) = secret {
        spec["credentialsSecretRef"] = json!({"name": s});
    }
    json!({
        "apiVersion": "applinks.io/v1alpha1",
        "kind": "ApplicationInstance",
        "metadata": {"name": name, "labels": labels(shard)},
        "spec": spec,
    })
}

fn link(name: &str, source: &str, target: Value, shard: &str) -> Value {
    json!({
        "apiVersion": "applinks.io/v1alpha1",
        "kind": "ApplicationLink",
        "metadata": {"name": name, "labels": labels(shard)},
        "spec": {"source": {"instanceRef": {"name": source}}, "target": target, "authentication": "OAuth"},
    })
}

async fn apply_all(client: &kube::Client, ns: &str, docs: Vec<Value>) {
    futures::stream::iter(docs)
        .map(|doc| async move {
            common::apply(client, ns, &doc)
                .await
                .unwrap_or_else(|e| panic!("apply {}: {e}", doc["metadata"]["name"]))
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The operator's /metrics.
async fn metrics(port: u16) -> String {
    match reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Sum of the samples of `metric` whose labels contain each of `labels`.
fn sample(text: &str, metric: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{metric}{{")))
        .filter(|l| labels.iter().all(|want| l.contains(want)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>()
        + 0.0 // an empty sum is -0
}

/// Polls `f` until it returns Some, for up to `limit` (the churn below takes minutes).
async fn poll<T, F, Fut>(what: &str, limit: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + limit;
    loop {
        let last = match f().await {
            Ok(v) => return v,
            Err(e) => e,
        };
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; last seen: {last}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn wait_ready(client: &kube::Client, ns: &str, name: &str) {
    wait_instance(client, ns, name, "Ready", |c| c.0 == "True").await;
}

/// Basic logins A's application refused (wrong password, or the CAPTCHA it leads to).
async fn refused_logins(sim: &Sim, app: &str) -> usize {
    sim.log_entries(app)
        .await
        .iter()
        .filter(|e| matches!(e["auth"].as_str(), Some("rejected" | "captcha")))
        .count()
}

#[tokio::test]
async fn a_tenant_whose_applications_tarpit_does_not_starve_another() {
    let shard = format!("fairness-starve-{}", std::process::id());
    let client = common::client().await;
    common::install_crds(&client).await;
    let ns_a = common::namespace(&client, "fair-a").await;
    let ns_b = common::namespace(&client, "fair-b").await;
    let sim = Sim::start(&sim_config(&[
        ("ajira", "jira"),
        ("aconf", "confluence"),
        ("bjira", "jira"),
        ("bconf", "confluence"),
    ]));
    let port = free_port();
    let _op = Operator::start_cluster_wide(
        &shard,
        &[],
        &["--health-addr", &format!("127.0.0.1:{port}")],
    );

    // B's applications are fine while B's instances are verified, then answer every request
    // 4 s late (the operator's request timeout is 5 s: slow, not failing), and B asks for many
    // links between them.
    let mut b = Vec::new();
    for (n, t) in [("bjira", "jira"), ("bconf", "confluence")] {
        b.push(secret(&format!("{n}-admin"), sim.app(n), "admin"));
        b.push(instance(
            n,
            sim.app(n),
            t,
            Some(&format!("{n}-admin")),
            &shard,
        ));
    }
    apply_all(&client, &ns_b, b).await;
    wait_ready(&client, &ns_b, "bjira").await;
    wait_ready(&client, &ns_b, "bconf").await;
    for n in ["bjira", "bconf"] {
        sim.control(
            n,
            reqwest::Method::PATCH,
            "faults",
            Some(json!({"latency_ms": 4000})),
        )
        .await;
    }
    let b_links = (0..24)
        .map(|i| {
            link(
                &format!("b{i}"),
                "bjira",
                json!({"instanceRef": {"name": "bconf"}}),
                &shard,
            )
        })
        .collect();
    apply_all(&client, &ns_b, b_links).await;
    // B's passes are at work on the slow applications (requests keep arriving there).
    let before = sim.request_count("bjira").await;
    poll(
        "B's link passes at work",
        Duration::from_secs(120),
        || async {
            let now = sim.request_count("bjira").await;
            if now >= before + 8 {
                Ok(())
            } else {
                Err(format!("{} requests since the tarpit began", now - before))
            }
        },
    )
    .await;

    // A's applications are fast; A's link must not wait for B's.
    let mut a = Vec::new();
    for (n, t) in [("ajira", "jira"), ("aconf", "confluence")] {
        a.push(secret(&format!("{n}-admin"), sim.app(n), "admin"));
        a.push(instance(
            n,
            sim.app(n),
            t,
            Some(&format!("{n}-admin")),
            &shard,
        ));
    }
    apply_all(&client, &ns_a, a).await;
    wait_ready(&client, &ns_a, "ajira").await;
    wait_ready(&client, &ns_a, "aconf").await;
    let started = Instant::now();
    apply_all(
        &client,
        &ns_a,
        vec![link(
            "a",
            "ajira",
            json!({"instanceRef": {"name": "aconf"}}),
            &shard,
        )],
    )
    .await;
    crate::common::e2e::wait_link_ready(&client, &ns_a, "a", "True").await;
    let took = started.elapsed();
    let m = metrics(port).await;
    let b_running = sample(
        &m,
        "applink_reconciles_in_flight",
        &["kind=\"ApplicationLink\""],
    );
    let deferred = sample(&m, "applink_deferred_total", &["kind=\"ApplicationLink\""]);
    println!(
        "FIGURE tenant A's link Ready after {:.1}s while tenant B's 24 links to 2 tarpitting applications ran ({b_running} link passes in flight at the end; put off so far: {deferred})",
        took.as_secs_f64(),
    );
    // Measured under the attack, not after it: B's passes were still running, and the ones
    // beyond B's shares were put off rather than holding workers.
    assert!(b_running > 0.0, "tenant B's passes were still running");
    assert!(deferred > 0.0, "B's passes beyond its shares were put off");
}

#[tokio::test]
async fn a_refused_password_is_not_resent_when_another_tenant_churns_the_client_cache() {
    let shard = format!("fairness-lockout-{}", std::process::id());
    let client = common::client().await;
    common::install_crds(&client).await;
    let ns_a = common::namespace(&client, "lock-a").await;
    let ns_b = common::namespace(&client, "lock-b").await;
    let sim = Sim::start(&sim_config(&[("ajira", "jira"), ("bjira", "jira")]));
    let port = free_port();
    let _op = Operator::start_cluster_wide(
        &shard,
        &[],
        &["--health-addr", &format!("127.0.0.1:{port}")],
    );

    // A's Secret holds a wrong password: refused once, and held back from then on.
    apply_all(
        &client,
        &ns_a,
        vec![
            secret("ajira-admin", sim.app("ajira"), "wrong"),
            instance(
                "ajira",
                sim.app("ajira"),
                "jira",
                Some("ajira-admin"),
                &shard,
            ),
        ],
    )
    .await;
    wait_instance(&client, &ns_a, "ajira", "Ready", |c| {
        c.1 == "CredentialsRejected"
    })
    .await;
    assert_eq!(refused_logins(&sim, "ajira").await, 1);

    // B: an instance nobody administers and 1,100 links whose targets are 1,100 distinct URLs:
    // each pass builds a client of its own (no manifest there: the pass ends at once, the
    // source is not administered).
    let churn = 1100;
    apply_all(
        &client,
        &ns_b,
        vec![instance("bjira", sim.app("bjira"), "jira", None, &shard)],
    )
    .await;
    // Ready first, or the links would fail before building their target's client.
    wait_ready(&client, &ns_b, "bjira").await;
    let churn_links = (0..churn)
        .map(|i| {
            link(
                &format!("c{i}"),
                "bjira",
                // Context paths B's application does not serve: a quick 404 for each manifest.
                json!({"url": format!("{}/t{i}", sim.app("bjira").base_url)}),
                &shard,
            )
        })
        .collect();
    apply_all(&client, &ns_b, churn_links).await;
    let links: Api<ApplicationLink> = Api::namespaced(client.clone(), &ns_b);
    poll(
        "every churn link to have had a pass",
        Duration::from_secs(600),
        || async {
            let list = links
                .list(&ListParams::default())
                .await
                .map_err(|e| e.to_string())?;
            let passed = list
                .items
                .iter()
                .filter(|l| {
                    l.status
                        .as_ref()
                        .is_some_and(|s| condition(&s.conditions, "Ready").is_some())
                })
                .count();
            if passed >= churn {
                Ok(())
            } else {
                Err(format!("{passed} of {churn}"))
            }
        },
    )
    .await;

    // A's instance checked again after the churn (a spec change forces the pass now).
    let instances: Api<ApplicationInstance> = Api::namespaced(client.clone(), &ns_a);
    let recheck = |interval: &'static str| {
        let instances = instances.clone();
        async move {
            let patched = instances
                .patch(
                    "ajira",
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": {"checkInterval": interval}})),
                )
                .await
                .unwrap();
            let generation = patched.metadata.generation;
            poll("A's instance re-checked", Duration::from_secs(90), || {
                let instances = instances.clone();
                async move {
                    let i = instances.get("ajira").await.map_err(|e| e.to_string())?;
                    let ready = i
                        .status
                        .as_ref()
                        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready").cloned());
                    match ready {
                        Some(c) if c.observed_generation == generation => Ok(c),
                        other => Err(format!("{other:?}")),
                    }
                }
            })
            .await
        }
    };
    let after_churn = recheck("10s").await;
    assert_eq!(after_churn.reason, "CredentialsRejected");
    assert!(
        after_churn.message.contains("until the Secret changes"),
        "{}",
        after_churn.message
    );
    assert_eq!(
        refused_logins(&sim, "ajira").await,
        1,
        "A's refused password was sent again after tenant B churned {churn} clients"
    );
    let m = metrics(port).await;
    println!(
        "FIGURE refused logins at A's application after tenant B's {churn}-client churn: {} (link passes: {})",
        refused_logins(&sim, "ajira").await,
        sample(
            &m,
            "applink_reconciles_total",
            &["kind=\"ApplicationLink\""]
        )
    );

    // The control: a changed Secret is tried once more, so the count above could have moved.
    apply_all(
        &client,
        &ns_a,
        vec![secret("ajira-admin", sim.app("ajira"), "still-wrong")],
    )
    .await;
    recheck("11s").await;
    assert_eq!(refused_logins(&sim, "ajira").await, 2);
}
