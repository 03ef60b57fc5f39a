//! Findings 1, 2, 7 and 12: credentials go only where their owner said, one tenant's instance
//! neither freezes another's nor learns of it, an outage is not a move, and a namespace
//! deleted as a whole finishes.

use super::{World, apps, credentialed};
use crate::common::e2e::{self, ALLOWED_URLS, Operator, Sim};
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::DeleteParams;

fn secret(name: &str, allowed: &[&str]) -> String {
    let annotations = if allowed.is_empty() {
        String::new()
    } else {
        format!(", annotations: {{{ALLOWED_URLS}: '{}'}}", allowed.join(","))
    };
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}{annotations}}}\nstringData: {{username: admin, password: admin}}\n"
    )
}

fn instance(name: &str, url: &str, secret: &str, extra: &str) -> String {
    format!(
        "apiVersion: applinks.io/v1alpha1\nkind: ApplicationInstance\nmetadata: {{name: {name}}}\nspec:\n  url: {url}\n  type: jira\n  credentialsSecretRef: {{name: {secret}}}\n{extra}"
    )
}

async fn stalled_reason(w: &World, ns: &str, name: &str, reason: &str) -> String {
    let (_, (_, _, msg)) = e2e::wait_instance(&w.client, ns, name, "Ready", |c| {
        c.0 == "False" && c.1 == reason
    })
    .await;
    msg
}

/// A tenant who may create ApplicationInstances but not read Secrets tries to make the
/// operator send them another Secret's password: pointing an instance at a server of its own,
/// naming a Secret that is for something else, and relying on a Secret that allows a URL where
/// another application now answers. No credential reaches any of those servers.
#[tokio::test]
async fn credentials_go_only_where_the_secret_allows() {
    let w = World::new("creds", 1).await;
    let sim = Sim::start(&apps(&[
        ("jira", "jira"),
        ("evil", "jira"),
        ("other", "jira"),
    ]));
    let ns = w.tenant(0);
    let jira = sim.app("jira").base_url.clone();
    let evil = sim.app("evil").base_url.clone();
    let other = sim.app("other").base_url.clone();
    w.apply(ns, &secret("jira-admin", &[&jira]));
    w.apply(ns, &secret("db-password", &[]));
    w.apply(ns, &secret("both", &[&jira, &other]));
    // The legitimate instance, and the attacks.
    w.apply(ns, &instance("jira", &jira, "jira-admin", ""));
    w.apply(ns, &instance("stolen", &evil, "jira-admin", ""));
    w.apply(ns, &instance("unmarked", &jira, "db-password", ""));
    let pinned = format!("  applicationId: {}\n", sim.app("jira").id);
    w.apply(ns, &instance("pinned", &other, "both", &pinned));

    e2e::wait_instance(&w.client, ns, "jira", "Ready", |c| c.0 == "True").await;
    let msg = stalled_reason(&w, ns, "stolen", "CredentialsNotAllowed").await;
    assert!(
        msg.contains("kubectl annotate secret jira-admin") && msg.contains(&evil),
        "says what to add: {msg}"
    );
    let msg = stalled_reason(&w, ns, "unmarked", "CredentialsNotAllowed").await;
    assert!(msg.contains(ALLOWED_URLS), "{msg}");
    let msg = stalled_reason(&w, ns, "pinned", "IdentityMismatch").await;
    assert!(msg.contains(&sim.app("other").id), "{msg}");

    // Harm, on the applications' side: the attacker's servers saw no credentials at all (the
    // identity check reads the manifest anonymously), the real Jira did.
    assert_eq!(credentialed(&sim, "evil").await, 0, "evil got credentials");
    assert_eq!(
        credentialed(&sim, "other").await,
        0,
        "other got credentials"
    );
    assert!(credentialed(&sim, "jira").await > 0);
    eprintln!(
        "credentials attacks: 3 tried, 3 resisted; credentialed requests at hosts not meant for them: 0"
    );
}

/// Tenant B declares tenant A's Jira (public: anyone can read its manifest) without credentials.
/// A's links go on being created, repaired and deleted; B's status never names A's namespace.
#[tokio::test]
async fn another_tenants_instance_of_the_same_application_blocks_nothing() {
    let w = World::new("dup", 2).await;
    let sim = Sim::start(&apps(&[("jira", "jira"), ("confluence", "confluence")]));
    let (a, b) = (w.tenant(0).to_string(), w.tenant(1).to_string());
    for (n, t) in [("jira", "jira"), ("confluence", "confluence")] {
        w.apply(&a, &e2e::instance_yaml(n, sim.app(n), t, true));
    }
    w.apply(
        &b,
        &format!(
            "apiVersion: applinks.io/v1alpha1\nkind: ApplicationInstance\nmetadata: {{name: copycat}}\nspec:\n  url: {}\n  type: jira\n",
            sim.app("jira").base_url
        ),
    );
    let (copycat, _) =
        e2e::wait_instance(&w.client, &b, "copycat", "Ready", |c| c.0 == "True").await;
    w.apply(&a, &e2e::link_yaml("l", "jira", "confluence", "OAuth"));
    e2e::wait_link_ready(&w.client, &a, "l", "True").await;
    let text = serde_json::to_string(&copycat.status).unwrap();
    assert!(!text.contains(&a), "B's status names A's namespace: {text}");
    let jira = e2e::instance(&w.client, &a, "jira").await;
    let text = serde_json::to_string(&jira.status).unwrap();
    assert!(
        !text.contains("DuplicateApplicationId") && !text.contains(&b),
        "{text}"
    );
    // A's deletion is not held either.
    e2e::delete(&a, "applink", "l");
    e2e::wait_link_gone(&w.client, &a, "l").await;
    assert!(sim.links("jira").await.is_empty(), "Jira's end deleted");
}

/// Finding 7: the old URL of an application only refuses connections (a restart, an outage)
/// while its URL is edited to a staging clone that serves the same id: nothing is relocated and
/// the clone receives no credentials; a person's confirmation then completes the move.
#[tokio::test]
async fn an_outage_during_a_url_edit_is_not_a_move() {
    let w = World::new("move", 1).await;
    let mut config = apps(&[("jira", "jira"), ("confluence", "confluence")]);
    config.push_str(
        "- name: staging\n  product: confluence\n  seed: confluence\n  display_name: confluence\n  key_bits: 1024\n",
    );
    let sim = Sim::start(&config);
    let ns = w.tenant(0);
    for (n, t) in [("jira", "jira"), ("confluence", "confluence")] {
        w.apply(ns, &e2e::instance_yaml(n, sim.app(n), t, true));
    }
    w.apply(ns, &e2e::link_yaml("l", "jira", "confluence", "OAuth"));
    e2e::wait_link_ready(&w.client, ns, "l", "True").await;
    let conf_id = sim.app("confluence").id.clone();
    let staging = sim.app("staging").base_url.clone();
    let before = credentialed(&sim, "staging").await;

    // Production is briefly down while somebody edits the URL to the staging copy.
    sim.control("confluence", reqwest::Method::POST, "stop", None)
        .await;
    w.apply(
        ns,
        &e2e::instance_yaml("confluence", sim.app("staging"), "confluence", true),
    );
    let msg = stalled_reason(&w, ns, "confluence", "RelocationUnconfirmed").await;
    assert!(msg.contains("applinks.io/confirm-move-from"), "{msg}");
    let rpc = |links: std::collections::HashMap<String, serde_json::Value>| {
        links[&conf_id]["rpcUrl"]
            .as_str()
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_string()
    };
    assert_ne!(
        rpc(sim.links("jira").await),
        staging,
        "relocated on an outage"
    );
    assert_eq!(
        credentialed(&sim, "staging").await,
        before,
        "the staging copy received credentials before the move was proven"
    );

    // The administrator confirms that production is gone for good: the move completes.
    w.apply(
        ns,
        &e2e::moved_instance_yaml(
            "confluence",
            sim.app("staging"),
            "confluence",
            true,
            sim.app("confluence"),
        ),
    );
    e2e::wait_for("Jira's end to follow the confirmed move", || async {
        let now = rpc(sim.links("jira").await);
        if now == staging { Ok(()) } else { Err(now) }
    })
    .await;
}

/// Finding 12: `kubectl delete namespace` on a tenant with links, with an operator that has
/// just restarted (no client remembered from earlier passes). The Secret outlives the links
/// that need it, both ends are deleted, and the namespace goes.
#[tokio::test]
async fn a_namespace_deleted_as_a_whole_finishes() {
    let mut w = World::new("nsdel", 1).await;
    let sim = Sim::start(&apps(&[("jira", "jira"), ("confluence", "confluence")]));
    let ns = w.tenant(0).to_string();
    for (n, t) in [("jira", "jira"), ("confluence", "confluence")] {
        w.apply(&ns, &e2e::instance_yaml(n, sim.app(n), t, true));
    }
    w.apply(&ns, &e2e::link_yaml("l", "jira", "confluence", "OAuth"));
    e2e::wait_link_ready(&w.client, &ns, "l", "True").await;
    e2e::wait_for("the credentials Secrets held", || async {
        let out = e2e::kubectl(
            &ns,
            &[
                "get",
                "secret",
                "jira-admin",
                "-o",
                "jsonpath={.metadata.finalizers}",
            ],
            None,
        )
        .unwrap_or_default();
        if out.contains("applinks.io/credentials-in-use") {
            Ok(())
        } else {
            Err(out)
        }
    })
    .await;
    // A restart forgets every client built so far.
    w.op.stop();
    w.op = Operator::start_cluster_wide(
        &w.shard,
        &[],
        &["--cluster-resource-namespace", w.ops.name()],
    );
    let api: Api<Namespace> = Api::all(w.client.clone());
    api.delete(&ns, &DeleteParams::background()).await.unwrap();
    e2e::wait_for("the namespace to be gone", || async {
        match api.get_opt(&ns).await {
            Ok(None) => Ok(()),
            other => Err(format!("{:?}", other.map(|n| n.map(|n| n.status)))),
        }
    })
    .await;
    assert!(sim.links("jira").await.is_empty(), "Jira's end deleted");
    assert!(
        sim.links("confluence").await.is_empty(),
        "Confluence's end deleted"
    );
}
