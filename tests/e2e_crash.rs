//! Crash anywhere: the operator is killed (abort, like SIGKILL: no cleanup) at each failpoint of
//! the link pipeline — before and after the finalizer add, each ownership claim, each create,
//! OAuth change, delete, the status write and the finalizer removal — while two links are
//! created and then deleted, and restarted each time. After each kill the invariants must hold
//! on both the cluster and the applications: every link Ready (or gone after a delete), no
//! duplicate end, no end left behind, no end created twice.
//!
//! CI runs a representative sample of points; `APPLINK_E2E_CRASH_FULL=1` runs every point, and
//! `APPLINK_E2E_CRASH_ROUNDS=N` repeats the whole set N times (the figure in e2e/README.md).

mod common;

use std::time::Duration;

use common::e2e::{self, Operator, Sim};
use futures::StreamExt;

/// Every failpoint a link pass can hit (see `src/controller/link/act.rs` and `mod.rs`).
const ALL_POINTS: &[&str] = &[
    "before-finalizer-add",
    "after-finalizer-add",
    "before-claim",
    "after-claim",
    "before-create",
    "after-create",
    "before-oauth",
    "after-oauth",
    "before-link-status-write",
    "after-link-status-write",
    "before-delete",
    "after-delete",
    "before-finalizer-removal",
    "after-finalizer-removal",
];

/// The CI sample: one point of each kind of change.
const SAMPLE: &[&str] = &[
    "after-claim",
    "after-create",
    "after-oauth",
    "after-link-status-write",
    "after-delete",
    "before-finalizer-removal",
];

/// How long a phase may take to reach its failpoint.
const HIT_WITHIN: Duration = Duration::from_secs(30);

const LINKS: [(&str, &str); 2] = [("l1", "jira"), ("l2", "bitbucket")];

/// Runs the create and delete flows with the operator killed at `point`: the kills, and the
/// broken invariant if any.
async fn crash_at(point: &'static str, round: usize) -> (usize, Option<String>) {
    let mut kills = 0;
    let broken = flows(point, round, &mut kills).await.err();
    (kills, broken)
}

async fn flows(point: &'static str, round: usize, kills: &mut usize) -> Result<(), String> {
    let client = common::client().await;
    common::install_crds(&client).await;
    let ns = common::namespace(&client, &format!("crash{round}")).await;
    let sim = Sim::start(
        "control_port: 0\napps:\n- {name: jira, product: jira, key_bits: 1024}\n- {name: bitbucket, product: bitbucket, key_bits: 1024}\n- {name: confluence, product: confluence, key_bits: 1024}\n",
    );
    for (n, t) in [
        ("jira", "jira"),
        ("bitbucket", "bitbucket"),
        ("confluence", "confluence"),
    ] {
        e2e::apply(&ns, &e2e::instance_yaml(n, sim.app(n), t, true));
    }
    let failing = [("APPLINK_FAILPOINT", point)];
    let no_failpoint: [(&str, &str); 0] = [];
    let in_create =
        !matches!(point, "before-delete" | "after-delete") && !point.ends_with("finalizer-removal");
    let in_delete = !point.contains("finalizer-add")
        && !matches!(
            point,
            "before-create"
                | "after-create"
                | "before-oauth"
                | "after-oauth"
                | "before-claim"
                | "after-claim"
        );

    // Create, killed at the point, then a fresh process completes it.
    let mut op = if in_create {
        Operator::start(&ns, &failing)
    } else {
        Operator::start(&ns, &no_failpoint)
    };
    for (name, source) in LINKS {
        e2e::apply(&ns, &e2e::link_yaml(name, source, "confluence", "OAuth"));
    }
    if in_create && op.wait_exit(HIT_WITHIN) {
        *kills += 1;
    }
    drop(op);
    let op = Operator::start(&ns, &[]);
    for (name, _) in LINKS {
        e2e::wait_link_reason(&client, &ns, name, "Working").await;
    }
    for (app, ends) in [("jira", 1), ("bitbucket", 1), ("confluence", 2)] {
        let links = sim.links(app).await;
        if links.len() != ends {
            return Err(format!(
                "{point}: {app} holds {} ends, not {ends}",
                links.len()
            ));
        }
        let creates = sim
            .count_of(app, "PUT /rest/applinks/2.0/applicationlink")
            .await;
        if creates != ends as u64 {
            return Err(format!(
                "{point}: {app} saw {creates} creates for {ends} ends"
            ));
        }
    }
    for (name, _) in LINKS {
        let l = e2e::link(&client, &ns, name).await;
        let claims = l.metadata.annotations.unwrap_or_default();
        if !claims.contains_key("applinks.io/source-link-id")
            || !claims.contains_key("applinks.io/target-link-id")
        {
            return Err(format!("{point}: {name} owns an end it has no claim for"));
        }
    }
    drop(op);

    // Delete, killed at the point, then a fresh process finishes it.
    let mut op = if in_delete {
        Operator::start(&ns, &failing)
    } else {
        Operator::start(&ns, &no_failpoint)
    };
    for (name, _) in LINKS {
        e2e::delete(&ns, "applink", name);
    }
    if in_delete && op.wait_exit(HIT_WITHIN) {
        *kills += 1;
    }
    drop(op);
    let _op = Operator::start(&ns, &[]);
    for (name, _) in LINKS {
        e2e::wait_link_gone(&client, &ns, name).await;
    }
    for app in ["jira", "bitbucket", "confluence"] {
        let left = sim.links(app).await;
        if !left.is_empty() {
            return Err(format!(
                "{point}: {app} kept {} ends after the delete",
                left.len()
            ));
        }
    }
    common::delete_namespace(&client, &ns).await;
    Ok(())
}

#[tokio::test]
async fn killed_at_every_step_loses_and_duplicates_nothing() {
    let full = std::env::var("APPLINK_E2E_CRASH_FULL").is_ok();
    let rounds: usize = std::env::var("APPLINK_E2E_CRASH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1);
    let points = if full { ALL_POINTS } else { SAMPLE };
    let runs: Vec<(&'static str, usize)> = (0..rounds)
        .flat_map(|round| points.iter().map(move |p| (*p, round)))
        .collect();
    let results: Vec<(&str, (usize, Option<String>))> = futures::stream::iter(runs)
        .map(|(point, round)| async move { (point, crash_at(point, round).await) })
        .buffer_unordered(3)
        .collect()
        .await;
    let tried: usize = results.iter().map(|(_, (k, _))| k).sum();
    let survived: usize = results
        .iter()
        .filter(|(_, (_, broken))| broken.is_none())
        .map(|(_, (k, _))| k)
        .sum();
    let failures: Vec<&String> = results
        .iter()
        .filter_map(|(_, (_, b))| b.as_ref())
        .collect();
    println!(
        "kills survived {survived} / tried {tried} ({} points x {rounds} rounds)",
        points.len()
    );
    assert!(failures.is_empty(), "invariants broken: {failures:?}");
    // Every point of the sample is reached by the create or the delete flow.
    assert!(
        tried >= points.len() * rounds,
        "only {tried} kills happened"
    );
}
