//! End-to-end scenarios of the seed workflows: `kubectl apply` / `kubectl delete` against the real
//! control plane, the operator as a process, simulated applications. Each asserts on the resource
//! status and on the applications' own state (their status API).

mod common;

use common::e2e::{self, Env, Operator, Sim, env};
use serde_json::Value;

use e2e::apps;

/// Both applications report the link between them as working, from their own status API.
async fn assert_working_both_ways(sim: &Sim, a: &str, b: &str) {
    for (x, y) in [(a, b), (b, a)] {
        let s = sim.link_status(x, y).await;
        assert_eq!(
            s["working"],
            Value::Bool(true),
            "{x}'s status API for its link to {y}: {s}"
        );
    }
}

async fn two_way(prefix: &str, source: (&str, &str, &str), target: (&str, &str, &str), auth: &str) {
    let env = env(prefix).await;
    let sim = Sim::start(&apps(&[(source.0, source.1), (target.0, target.1)]));
    let health = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let _op = Operator::start_with(&env.ns, &[], &["--health-addr", &health.to_string()]);
    e2e::apply(
        &env.ns,
        &e2e::instance_yaml(source.0, sim.app(source.0), source.2, true),
    );
    e2e::apply(
        &env.ns,
        &e2e::instance_yaml(target.0, sim.app(target.0), target.2, true),
    );
    e2e::apply(&env.ns, &e2e::link_yaml("l", source.0, target.0, auth));
    let link = e2e::wait_link_ready(&env.client, &env.ns, "l", "True").await;
    let st = link.status.unwrap();
    assert_eq!(st.health.as_deref(), Some("Working"));
    let (s, t) = (st.source.unwrap(), st.target.unwrap());
    assert_eq!(s.link_id.as_deref(), Some(sim.app(target.0).id.as_str()));
    assert_eq!(t.link_id.as_deref(), Some(sim.app(source.0).id.as_str()));
    let impersonation = auth == "OAuthImpersonation";
    for end in [&s, &t] {
        let a = end.auth.as_ref().expect("auth read back");
        assert!(a.incoming.enabled && a.incoming.two_lo && a.outgoing.two_lo);
        assert_eq!(a.incoming.two_lo_impersonation, impersonation);
        assert_eq!(a.outgoing.two_lo_impersonation, impersonation);
        assert!(end.health.as_ref().unwrap().working);
    }
    assert_working_both_ways(&sim, source.0, target.0).await;
    // Exactly one link each way.
    assert_eq!(sim.links(source.0).await.len(), 1);
    assert_eq!(sim.links(target.0).await.len(), 1);
    // The probe and metrics endpoint agrees.
    let get = |path: &'static str| async move {
        reqwest::get(format!("http://{health}{path}"))
            .await
            .unwrap()
    };
    assert_eq!(get("/readyz").await.status(), 200);
    let metrics = get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("applink_reconciles_total{kind=\"ApplicationLink\",result=\"ok\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("applink_ready 1"), "{metrics}");
    assert!(metrics.contains("applink_caches_synced 1"), "{metrics}");
    // The link's own state, named; what it connects; the calls by application type.
    let ns = &env.ns;
    let type_of = |product: &str| {
        if product == "fisheye" || product == "crucible" {
            "fecru".to_string()
        } else {
            product.to_string()
        }
    };
    for want in [
        format!(
            r#"applink_applicationlink_condition{{namespace="{ns}",name="l",condition="Ready",status="True"}} 1"#
        ),
        format!(
            r#"applink_applicationlink_ready_reason{{namespace="{ns}",name="l",reason="Working"}} 1"#
        ),
        format!(
            r#"applink_applicationlink_health{{namespace="{ns}",name="l",health="Working",category="none"}} 1"#
        ),
        format!(
            r#"applink_info{{namespace="{ns}",name="l",source_type="{}",target_type="{}",auth="{auth}",mode="TwoWay"}} 1"#,
            type_of(source.1),
            type_of(target.1)
        ),
        format!(
            r#"applink_remote_requests_total{{application_type="{}",operation="create_link",status_class="2xx"}}"#,
            type_of(source.1)
        ),
    ] {
        assert!(metrics.contains(&want), "{want} in\n{metrics}");
    }
    assert!(
        !metrics.contains(&sim.app(source.0).base_url),
        "no URL in a label"
    );
    // A deleted link leaves no series.
    e2e::delete(ns, "applicationlink", "l");
    e2e::wait_link_gone(&env.client, ns, "l").await;
    e2e::wait_for("the deleted link's series to go", || async {
        let m = get("/metrics").await.text().await.unwrap();
        if m.contains(r#"name="l""#) {
            Err(m)
        } else {
            Ok(())
        }
    })
    .await;
}

#[tokio::test]
async fn jira_confluence_two_way_oauth() {
    two_way(
        "jira-conf",
        ("jira", "jira", "jira"),
        ("confluence", "confluence", "confluence"),
        "OAuth",
    )
    .await;
}

#[tokio::test]
async fn jira_bitbucket_two_way_impersonation() {
    two_way(
        "jira-bb",
        ("jira", "jira", "jira"),
        ("bitbucket", "bitbucket", "bitbucket"),
        "OAuthImpersonation",
    )
    .await;
}

#[tokio::test]
async fn bamboo_jira_two_way() {
    two_way(
        "bamboo-jira",
        ("bamboo", "bamboo", "bamboo"),
        ("jira", "jira", "jira"),
        "OAuth",
    )
    .await;
}

#[tokio::test]
async fn fisheye_jira_two_way() {
    two_way(
        "fisheye-jira",
        ("fisheye", "fisheye", "fisheye"),
        ("jira", "jira", "jira"),
        "OAuth",
    )
    .await;
}

#[tokio::test]
async fn crucible_jira_two_way() {
    two_way(
        "crucible-jira",
        ("crucible", "crucible", "crucible"),
        ("jira", "jira", "jira"),
        "OAuthImpersonation",
    )
    .await;
}

#[tokio::test]
async fn jira_cloud_to_bitbucket_server() {
    let env = env("cloud").await;
    let pki = e2e::Pki::new();
    let tls = pki.sim_tls_yaml();
    let config = format!(
        "control_port: 0\napps:\n- name: jira-cloud\n  product: jira-cloud\n  key_bits: 1024\n{tls}- name: bitbucket\n  product: bitbucket\n  key_bits: 1024\n{tls}"
    );
    let sim = Sim::start(&config);
    let _op = Operator::start(&env.ns, &[]);
    pki.apply_ca_secret(&env.ns, "sim-ca");
    for (name, type_, cloud) in [
        ("jira-cloud", "jira", true),
        ("bitbucket", "bitbucket", false),
    ] {
        let mut y = e2e::instance_yaml(name, sim.app(name), type_, true);
        y.push_str("  tls: {caSecretRef: {name: sim-ca}}\n");
        if cloud {
            y.push_str("  cloud: true\n");
        }
        e2e::apply(&env.ns, &y);
    }
    // Impersonation with a cloud site is refused by the controller (the CRD cannot know).
    e2e::apply(
        &env.ns,
        &e2e::link_yaml("imp", "jira-cloud", "bitbucket", "OAuthImpersonation"),
    );
    let refused =
        e2e::wait_link_reason(&env.client, &env.ns, "imp", "ImpersonationNotAllowed").await;
    let conds = refused.status.unwrap().conditions;
    assert_eq!(
        e2e::condition(&conds, "Stalled").map(|c| c.0),
        Some("True".into())
    );
    assert!(
        sim.links("bitbucket").await.is_empty(),
        "nothing created for a refused link"
    );
    e2e::delete(&env.ns, "applink", "imp");

    e2e::apply(
        &env.ns,
        &e2e::link_yaml("l", "jira-cloud", "bitbucket", "OAuth"),
    );
    // The server end is made and authenticated; the cloud end is the site admin's to make.
    let link = e2e::wait_link_reason(&env.client, &env.ns, "l", "AwaitingCloudAdmin").await;
    let st = link.status.unwrap();
    assert_eq!(st.mode, Some(applink_operator::crd::LinkMode::Cloud));
    let (_, _, msg) = e2e::condition(&st.conditions, "Ready").unwrap();
    let cloud_url = sim.app("jira-cloud").base_url.clone();
    let server_url = sim.app("bitbucket").base_url.clone();
    assert!(
        msg.contains(&format!(
            "{cloud_url}/plugins/servlet/applinks/listApplicationLinks"
        )) && msg.contains(&server_url),
        "says what the cloud admin must do: {msg}"
    );
    assert!(st.source.is_none(), "no end in the cloud site: {st:?}");
    let bb_links = sim.links("bitbucket").await;
    let end = &bb_links[&sim.app("jira-cloud").id];
    assert_eq!(
        end["oauth"]["incoming"]["twoLoEnabled"],
        Value::Bool(true),
        "{end}"
    );
    assert_eq!(
        end["oauth"]["incoming"]["twoLoImpersonationEnabled"],
        Value::Bool(false),
        "{end}"
    );
    // The server end allows the cloud site in: an inbound allowlist rule for its domain.
    let state = sim
        .control("bitbucket", reqwest::Method::GET, "state", None)
        .await;
    let rules = state["allowlist"].to_string();
    assert!(
        rules.contains(&cloud_url),
        "allowlist of bitbucket {rules} lacks {cloud_url}"
    );
    // Nothing was written to the cloud site, and no credentials were sent to it.
    for entry in &sim.log_entries("jira-cloud").await {
        let (method, auth) = (
            entry["method"].as_str().unwrap(),
            entry["auth"].as_str().unwrap_or(""),
        );
        let from_operator = !matches!(auth, "2lo" | "2loi" | "3lo");
        assert!(
            !(from_operator && matches!(method, "PUT" | "POST" | "DELETE")),
            "the operator wrote to the cloud site: {entry}"
        );
        assert_ne!(
            auth, "basic",
            "credentials were sent to the cloud site: {entry}"
        );
    }
    assert!(sim.links("jira-cloud").await.is_empty());

    // The site's administrator makes the cloud end in the site's admin UI.
    cloud_admin_links_back(&sim, "jira-cloud", "bitbucket").await;
    let link = e2e::wait_link_reason(&env.client, &env.ns, "l", "Working").await;
    assert_eq!(link.status.unwrap().health.as_deref(), Some("Working"));
    // The server's own status API says the link works (the cloud site's REST is not ours).
    let st = sim.link_status("bitbucket", "jira-cloud").await;
    assert_eq!(st["working"], Value::Bool(true), "{st}");
}

/// What a cloud site's administrator does in the site's admin UI: the link back to the server,
/// with OAuth (no impersonation). The simulator's control API stands in for that UI (the cloud
/// site refuses its admin REST to API-token callers, as the operator knows).
async fn cloud_admin_links_back(sim: &Sim, cloud: &str, server: &str) {
    let peer = sim.app(server);
    sim.control(
        cloud,
        reqwest::Method::POST,
        "links",
        Some(serde_json::json!({
            "id": peer.id, "typeId": "stash", "name": server,
            "rpcUrl": peer.base_url, "primary": true,
            "incoming": "default", "outgoing": "default"
        })),
    )
    .await;
}

#[tokio::test]
async fn one_way_then_completed_with_credentials() {
    let env = env("oneway").await;
    let sim = Sim::start(&apps(&[("confluence", "confluence"), ("bamboo", "bamboo")]));
    let _op = Operator::start(&env.ns, &[]);
    e2e::apply(
        &env.ns,
        &e2e::instance_yaml("confluence", sim.app("confluence"), "confluence", true),
    );
    e2e::apply(
        &env.ns,
        &e2e::instance_yaml("bamboo", sim.app("bamboo"), "bamboo", false),
    );
    e2e::apply(
        &env.ns,
        &e2e::link_yaml("l", "confluence", "bamboo", "OAuth"),
    );
    let link = e2e::wait_link_reason(&env.client, &env.ns, "l", "OneWayLink").await;
    let st = link.status.unwrap();
    assert_eq!(st.mode, Some(applink_operator::crd::LinkMode::OneWay));
    assert_eq!(st.health.as_deref(), Some("OneWayLink"));
    let (_, _, msg) = e2e::condition(&st.conditions, "Ready").unwrap();
    assert!(
        msg.contains("add credentialsSecretRef"),
        "says what completes it: {msg}"
    );
    assert!(st.target.is_none());
    let conf_links = sim.links("confluence").await;
    assert_eq!(conf_links.len(), 1);
    let oauth = &conf_links[&sim.app("bamboo").id]["oauth"];
    assert_eq!(
        oauth["outgoing"]["enabled"],
        Value::Bool(false),
        "one-way: no authentication: {oauth}"
    );
    assert!(
        sim.links("bamboo").await.is_empty(),
        "nothing in the application it does not administer"
    );
    let creates = sim
        .count_of("confluence", "PUT /rest/applinks/2.0/applicationlink")
        .await;
    assert_eq!(creates, 1);

    // Credentials appear: the link-back and authentication are completed, the source end kept.
    e2e::apply(
        &env.ns,
        &e2e::instance_yaml("bamboo", sim.app("bamboo"), "bamboo", true),
    );
    let link = e2e::wait_link_reason(&env.client, &env.ns, "l", "Working").await;
    assert_eq!(
        link.status.unwrap().mode,
        Some(applink_operator::crd::LinkMode::TwoWay)
    );
    assert_working_both_ways(&sim, "confluence", "bamboo").await;
    assert_eq!(
        sim.count_of("confluence", "PUT /rest/applinks/2.0/applicationlink")
            .await,
        1,
        "source end not recreated"
    );
    assert_eq!(
        sim.count_of("confluence", "DELETE /rest/applinks/3.0/applinks/{id}")
            .await,
        0
    );
}

#[tokio::test]
async fn one_confluence_linked_from_two_jiras_and_a_bitbucket() {
    let env = env("many").await;
    let sim = Sim::start(&apps(&[
        ("confluence", "confluence"),
        ("jira-a", "jira"),
        ("jira-b", "jira"),
        ("bitbucket", "bitbucket"),
    ]));
    let _op = Operator::start(&env.ns, &[]);
    for (n, t) in [
        ("confluence", "confluence"),
        ("jira-a", "jira"),
        ("jira-b", "jira"),
        ("bitbucket", "bitbucket"),
    ] {
        e2e::apply(&env.ns, &e2e::instance_yaml(n, sim.app(n), t, true));
    }
    for src in ["jira-a", "jira-b", "bitbucket"] {
        e2e::apply(
            &env.ns,
            &e2e::link_yaml(&format!("{src}-conf"), src, "confluence", "OAuth"),
        );
    }
    for src in ["jira-a", "jira-b", "bitbucket"] {
        e2e::wait_link_ready(&env.client, &env.ns, &format!("{src}-conf"), "True").await;
        assert_working_both_ways(&sim, src, "confluence").await;
    }
    let conf = sim.links("confluence").await;
    assert_eq!(conf.len(), 3, "one Confluence holds three links: {conf:?}");
}

/// A working Jira<->Confluence link, for the scenarios that start from one.
async fn linked(prefix: &str, extra_apps: &[(&str, &str)]) -> (Env, Sim, Operator) {
    let env = env(prefix).await;
    let mut list = vec![("jira", "jira"), ("confluence", "confluence")];
    list.extend_from_slice(extra_apps);
    let sim = Sim::start(&apps(&list));
    let op = Operator::start(&env.ns, &[]);
    e2e::linked_pair(
        &env.client,
        &env.ns,
        &sim,
        ("jira", "jira"),
        ("confluence", "confluence"),
    )
    .await;
    (env, sim, op)
}

/// A working Jira<->Confluence link, plus a second copy of the same Confluence (same seed, so
/// the same application id and keys) at another address, stopped or running.
async fn linked_with_a_copy(prefix: &str, copy_running: bool) -> (Env, Sim, Operator) {
    let env = env(prefix).await;
    let mut config = apps(&[("jira", "jira"), ("confluence", "confluence")]);
    config.push_str(
        "- name: confluence-copy\n  product: confluence\n  seed: confluence\n  display_name: confluence\n  key_bits: 1024\n",
    );
    let sim = Sim::start(&config);
    if !copy_running {
        sim.control("confluence-copy", reqwest::Method::POST, "stop", None)
            .await;
    }
    assert_eq!(sim.app("confluence-copy").id, sim.app("confluence").id);
    let op = Operator::start(&env.ns, &[]);
    e2e::apply_oauth_link(
        &env.ns,
        &sim,
        ("jira", "jira"),
        ("confluence", "confluence"),
    );
    e2e::wait_link_ready(&env.client, &env.ns, "l", "True").await;
    (env, sim, op)
}

/// Points the confluence instance at the copy's address, confirming the move (the old address
/// only refuses connections once stopped, which proves nothing by itself).
fn move_confluence_to_the_copy(env: &Env, sim: &Sim) {
    let y = e2e::moved_instance_yaml(
        "confluence",
        sim.app("confluence-copy"),
        "confluence",
        true,
        sim.app("confluence"),
    );
    e2e::apply(&env.ns, &y);
}

#[tokio::test]
async fn relocate_when_an_application_moves() {
    let (env, sim, _op) = linked_with_a_copy("relocate", false).await;
    // The application moves: the old address stops answering, the new one serves its id.
    sim.control("confluence", reqwest::Method::POST, "stop", None)
        .await;
    sim.control("confluence-copy", reqwest::Method::POST, "start", None)
        .await;
    move_confluence_to_the_copy(&env, &sim);
    let new_url = sim.app("confluence-copy").base_url.clone();
    let conf_id = sim.app("confluence").id.clone();
    e2e::wait_for("jira's link to point at the new URL", || async {
        let links = sim.links("jira").await;
        let rpc = links[&conf_id]["rpcUrl"]
            .as_str()
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_string();
        if rpc == new_url { Ok(()) } else { Err(rpc) }
    })
    .await;
    let link = e2e::wait_link_reason(&env.client, &env.ns, "l", "Working").await;
    assert_eq!(
        link.status
            .unwrap()
            .source
            .unwrap()
            .url
            .map(|u| u.trim_end_matches('/').to_string()),
        Some(new_url)
    );
    assert_working_both_ways(&sim, "jira", "confluence-copy").await;
}

#[tokio::test]
async fn a_clone_at_a_new_url_is_refused_while_the_old_url_still_serves() {
    let (env, sim, _op) = linked_with_a_copy("clone", true).await;
    let before = sim.links("jira").await;
    move_confluence_to_the_copy(&env, &sim);
    let (inst, _) = e2e::wait_instance(&env.client, &env.ns, "confluence", "Ready", |c| {
        c.1 == "OldUrlStillServesApplication"
    })
    .await;
    let st = inst.status.unwrap();
    let (status, _, msg) = e2e::condition(&st.conditions, "Stalled").unwrap();
    assert_eq!(status, "True");
    assert!(msg.contains("clone"), "{msg}");
    assert_eq!(
        st.url.as_deref().map(|u| u.trim_end_matches('/')),
        Some(sim.app("confluence").base_url.trim_end_matches('/')),
        "the identity stays at the old URL"
    );
    // Nothing touched: Jira's end still points at the original, the clone got nothing.
    assert_eq!(sim.links("jira").await, before);
    assert!(sim.links("confluence-copy").await.is_empty());
}

#[tokio::test]
async fn relocate_to_a_different_application_is_refused() {
    let (env, sim, _op) = linked("relocate-other", &[("other", "confluence")]).await;
    let old_url = sim.app("confluence").base_url.clone();
    let y = e2e::instance_yaml("confluence", sim.app("confluence"), "confluence", true)
        .replace(&old_url, &sim.app("other").base_url);
    e2e::apply(&env.ns, &y);
    let (inst, _) = e2e::wait_instance(&env.client, &env.ns, "confluence", "Ready", |c| {
        c.1 == "IdentityMismatch"
    })
    .await;
    let st = inst.status.unwrap();
    assert_eq!(
        st.application_id.as_deref(),
        Some(sim.app("confluence").id.as_str()),
        "identity kept"
    );
    assert_eq!(
        e2e::condition(&st.conditions, "Stalled").map(|c| c.0),
        Some("True".into())
    );
    // Nothing touched: jira's link still points at the old URL, and no link went to the other app.
    let links = sim.links("jira").await;
    assert_eq!(
        links[&sim.app("confluence").id]["rpcUrl"]
            .as_str()
            .unwrap()
            .trim_end_matches('/'),
        old_url
    );
    assert!(sim.links("other").await.is_empty());
    assert_eq!(
        sim.count_of("jira", "PUT /rest/applinks/3.0/applinks/{id}")
            .await,
        0
    );
}

#[tokio::test]
async fn delete_removes_both_ends() {
    let (env, sim, _op) = linked("delete", &[]).await;
    e2e::delete(&env.ns, "applink", "l");
    e2e::wait_link_gone(&env.client, &env.ns, "l").await;
    assert!(sim.links("jira").await.is_empty(), "source end deleted");
    assert!(
        sim.links("confluence").await.is_empty(),
        "target end deleted"
    );
}

#[tokio::test]
async fn delete_with_target_down_holds_until_orphan() {
    let (env, sim, _op) = linked("delete-down", &[]).await;
    sim.control("confluence", reqwest::Method::POST, "stop", None)
        .await;
    e2e::delete(&env.ns, "applink", "l");
    let blocked = e2e::wait_link_reason(&env.client, &env.ns, "l", "DeletionBlocked").await;
    let (_, _, msg) = e2e::condition(&blocked.status.unwrap().conditions, "Ready").unwrap();
    assert!(
        msg.contains("deletionPolicy: Orphan"),
        "says how to get out: {msg}"
    );
    assert!(
        blocked
            .metadata
            .finalizers
            .unwrap_or_default()
            .contains(&"applinks.io/cleanup".to_string())
    );
    let events = e2e::kubectl(
        &env.ns,
        &[
            "get",
            "events",
            "--field-selector",
            "reason=DeletionBlocked",
            "-o",
            "name",
        ],
        None,
    )
    .unwrap();
    assert!(!events.trim().is_empty(), "a Warning event says why");
    // The way out.
    e2e::kubectl(
        &env.ns,
        &[
            "patch",
            "applink",
            "l",
            "--type=merge",
            "-p",
            r#"{"spec":{"deletionPolicy":"Orphan"}}"#,
        ],
        None,
    )
    .unwrap();
    e2e::wait_link_gone(&env.client, &env.ns, "l").await;
    sim.control("confluence", reqwest::Method::POST, "start", None)
        .await;
    assert_eq!(
        sim.links("confluence").await.len(),
        1,
        "Orphan left the target end in place"
    );
}

#[tokio::test]
async fn drift_is_repaired_at_resync() {
    let (env, sim, _op) = linked("drift", &[]).await;
    let conf_id = sim.app("confluence").id.clone();
    let jira_id = sim.app("jira").id.clone();
    // 1. An end deleted through the application's own API.
    let code = sim
        .send(
            "jira",
            reqwest::Method::DELETE,
            &format!("rest/applinks/3.0/applinks/{conf_id}"),
            None,
        )
        .await;
    assert!(code < 300, "delete in jira: {code}");
    e2e::wait_for("the deleted end to be recreated", || async {
        if sim.links("jira").await.contains_key(&conf_id) {
            Ok(())
        } else {
            Err("missing".into())
        }
    })
    .await;
    e2e::wait_link_reason(&env.client, &env.ns, "l", "Working").await;
    // 2. Re-authenticated behind the operator's back.
    let off = serde_json::json!({"incoming": {"enabled": false, "twoLoEnabled": false, "twoLoImpersonationEnabled": false}, "outgoing": {"enabled": false, "twoLoEnabled": false, "twoLoImpersonationEnabled": false}});
    let code = sim
        .send(
            "confluence",
            reqwest::Method::PUT,
            &format!("rest/applinks/3.0/status/{jira_id}/oauth"),
            Some(off),
        )
        .await;
    assert!(code < 300, "disable OAuth in confluence: {code}");
    e2e::wait_for("OAuth to be restored", || async {
        let s = sim.link_status("confluence", "jira").await;
        if s["working"] == Value::Bool(true) {
            Ok(())
        } else {
            Err(s.to_string())
        }
    })
    .await;
    // 3. Relocated behind the operator's back.
    let moved = serde_json::json!({"id": conf_id, "name": "moved", "rpcUrl": "http://127.0.0.1:9/nowhere", "displayUrl": "http://127.0.0.1:9/nowhere", "type": "confluence", "primary": true});
    let code = sim
        .send(
            "jira",
            reqwest::Method::PUT,
            &format!("rest/applinks/3.0/applinks/{conf_id}"),
            Some(moved),
        )
        .await;
    assert!(code < 300, "relocate in jira: {code}");
    let want = sim.app("confluence").base_url.clone();
    e2e::wait_for("the relocated end to be moved back", || async {
        let rpc = sim.links("jira").await[&conf_id]["rpcUrl"]
            .as_str()
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_string();
        if rpc == want { Ok(()) } else { Err(rpc) }
    })
    .await;
    e2e::wait_link_reason(&env.client, &env.ns, "l", "Working").await;
    assert_working_both_ways(&sim, "jira", "confluence").await;
    assert_eq!(sim.links("jira").await.len(), 1);
}

#[tokio::test]
async fn operator_killed_mid_create_makes_no_duplicate() {
    let env = env("crash").await;
    let sim = Sim::start(&apps(&[("jira", "jira"), ("confluence", "confluence")]));
    let mut op = Operator::start(&env.ns, &[("APPLINK_FAILPOINT", "after-create")]);
    e2e::apply_oauth_link(
        &env.ns,
        &sim,
        ("jira", "jira"),
        ("confluence", "confluence"),
    );
    assert!(
        op.wait_exit(e2e::WAIT),
        "the failpoint killed the operator after its first create"
    );
    assert!(op.logs().contains("failpoint after-create"));
    let l = e2e::link(&env.client, &env.ns, "l").await;
    assert!(
        l.status.as_ref().and_then(|s| s.source.as_ref()).is_none(),
        "died before writing status"
    );
    assert_eq!(
        sim.links("jira").await.len(),
        1,
        "the first end was created"
    );
    // A new operator process finds the end it made and completes the link without a second create.
    let _op2 = Operator::start(&env.ns, &[]);
    e2e::wait_link_ready(&env.client, &env.ns, "l", "True").await;
    assert_eq!(sim.links("jira").await.len(), 1);
    assert_eq!(sim.links("confluence").await.len(), 1);
    assert_eq!(
        sim.count_of("jira", "PUT /rest/applinks/2.0/applicationlink")
            .await,
        1,
        "no second create"
    );
    assert_working_both_ways(&sim, "jira", "confluence").await;
}

#[tokio::test]
async fn wrong_credentials_give_a_clear_condition_and_no_storm() {
    let env = env("badcreds").await;
    let sim = Sim::start(&apps(&[("jira", "jira")]));
    let _op = Operator::start(&env.ns, &[]);
    let y = e2e::instance_yaml("jira", sim.app("jira"), "jira", true)
        .replace("password: admin", "password: wrong");
    e2e::apply(&env.ns, &y);
    let (_, (_, _, inst)) =
        e2e::wait_instance(&env.client, &env.ns, "jira", "CredentialsValid", |c| {
            c.0 == "False" && c.1 == "CredentialsRejected"
        })
        .await;
    assert!(
        inst.contains("administrator"),
        "says what to change: {inst}"
    );
    // Measure the request rate over a fixed window: backoff keeps it to a handful.
    let before = sim.request_count("jira").await;
    tokio::time::sleep(std::time::Duration::from_secs(10)).await;
    let during = sim.request_count("jira").await - before;
    assert!(
        during <= 12,
        "{during} requests in 10s while the credentials are wrong"
    );
    let events = e2e::kubectl(
        &env.ns,
        &[
            "get",
            "events",
            "--field-selector",
            "reason=CredentialsRejected",
            "-o",
            "name",
        ],
        None,
    )
    .unwrap();
    assert_eq!(
        events.trim().lines().count(),
        1,
        "one event, not one per retry: {events}"
    );
    // The wrong password reached the application once: no CAPTCHA lock-out from the operator.
    assert_eq!(rejected_logins(&sim, "jira").await, 1);
    // Fixed in the Secret: sent again, accepted, Ready.
    e2e::apply(
        &env.ns,
        &e2e::instance_yaml("jira", sim.app("jira"), "jira", true),
    );
    e2e::wait_instance(&env.client, &env.ns, "jira", "CredentialsValid", |c| {
        c.0 == "True"
    })
    .await;
    assert_eq!(rejected_logins(&sim, "jira").await, 1);
}

/// Requests the application refused for their credentials, from its request log.
async fn rejected_logins(sim: &Sim, app: &str) -> usize {
    sim.log_entries(app)
        .await
        .iter()
        .filter(|e| e["auth"] == "rejected")
        .count()
}

/// Regression: status is exactly what the operator computed. A two-way link whose target loses
/// its credentials becomes one-way, and the target end it no longer manages leaves the status.
#[tokio::test]
async fn status_drops_what_the_operator_no_longer_sees() {
    let (env, sim, _op) = linked("stale", &[]).await;
    let before = e2e::link(&env.client, &env.ns, "l").await.status.unwrap();
    assert!(before.target.is_some());
    e2e::apply(
        &env.ns,
        &e2e::instance_yaml("confluence", sim.app("confluence"), "confluence", false),
    );
    let link = e2e::wait_link_reason(&env.client, &env.ns, "l", "OneWayLink").await;
    let st = link.status.unwrap();
    assert_eq!(st.mode, Some(applink_operator::crd::LinkMode::OneWay));
    assert!(
        st.target.is_none(),
        "stale target end in status: {:?}",
        st.target
    );
    assert!(
        st.source
            .as_ref()
            .is_some_and(|s| s.health.is_none() && s.auth.is_none()),
        "a one-way end reports no health or auth: {:?}",
        st.source
    );
}

/// Regression: an instance being deleted whose credentials reference was removed reached an
/// `expect` in the resolver and took the operator down. Now the link is still deleted (with the
/// last client the operator built) and the operator stays up.
#[tokio::test]
async fn an_instance_deleted_without_its_credentials_does_not_crash_the_operator() {
    let (env, sim, mut op) = linked("nopanic", &[]).await;
    e2e::delete(&env.ns, "appinstance", "confluence");
    e2e::kubectl(
        &env.ns,
        &[
            "patch",
            "appinstance",
            "confluence",
            "--type=json",
            "-p",
            r#"[{"op":"remove","path":"/spec/credentialsSecretRef"}]"#,
        ],
        None,
    )
    .unwrap();
    e2e::delete(&env.ns, "applink", "l");
    e2e::wait_link_gone(&env.client, &env.ns, "l").await;
    assert!(
        sim.links("confluence").await.is_empty(),
        "the target end is deleted"
    );
    assert!(
        sim.links("jira").await.is_empty(),
        "the source end is deleted"
    );
    assert!(op.is_running(), "operator crashed: {}", op.logs());
    assert!(!op.logs().contains("panicked"), "{}", op.logs());
}

#[tokio::test]
async fn deleting_everything_at_once_still_deletes_both_ends() {
    // A namespace deletion removes links, instances and Secrets together: the instances are kept
    // (in-use finalizer) until their links are gone, and the ends are deleted with the last
    // known credentials.
    let (env, sim, _op) = linked("delete-ns", &[]).await;
    let ns_api: kube::Api<k8s_openapi::api::core::v1::Namespace> =
        kube::Api::all(env.client.clone());
    e2e::kubectl(
        &env.ns,
        &[
            "delete",
            "secrets,applicationinstances,applinks",
            "--all",
            "--wait=false",
        ],
        None,
    )
    .unwrap();
    e2e::wait_for("both ends to be deleted", || async {
        let (a, b) = (
            sim.links("jira").await.len(),
            sim.links("confluence").await.len(),
        );
        if a + b == 0 {
            Ok(())
        } else {
            Err(format!("jira {a}, confluence {b}"))
        }
    })
    .await;
    common::delete_namespace(&env.client, &env.ns).await;
    e2e::wait_for("the namespace to be gone", || async {
        match ns_api.get_opt(&env.ns).await.unwrap() {
            None => Ok(()),
            Some(n) => Err(format!("{:?}", n.status)),
        }
    })
    .await;
}

#[tokio::test]
async fn wrong_type_and_untrusted_certificate_are_clear_conditions() {
    let env = env("wrongtype").await;
    let pki = e2e::Pki::new();
    let config = format!(
        "control_port: 0\napps:\n- name: bamboo\n  product: bamboo\n  key_bits: 1024\n- name: secure\n  product: jira\n  key_bits: 1024\n  tls: {{cert: {}, key: {}}}\n",
        pki.path("server.crt"),
        pki.path("server.key")
    );
    let sim = Sim::start(&config);
    let _op = Operator::start(&env.ns, &[]);
    // Declared Jira, but Bamboo answers.
    e2e::apply(
        &env.ns,
        &e2e::instance_yaml("bamboo", sim.app("bamboo"), "jira", true),
    );
    // HTTPS with a certificate from a CA nobody told the operator about: verification stays on.
    e2e::apply(
        &env.ns,
        &e2e::instance_yaml("secure", sim.app("secure"), "jira", true),
    );
    for (name, reason, stalled) in [("bamboo", "WrongType", true), ("secure", "TlsError", true)] {
        let (i, (status, _, msg)) =
            e2e::wait_instance(&env.client, &env.ns, name, "Ready", |c| c.1 == reason).await;
        assert_eq!(status, "False");
        let conds = i.status.unwrap().conditions;
        assert_eq!(
            e2e::condition(&conds, "Stalled").is_some(),
            stalled,
            "{name}: {conds:?}"
        );
        assert!(!msg.is_empty());
    }
    // Trusting the CA fixes it without touching anything else.
    pki.apply_ca_secret(&env.ns, "sim-ca");
    let mut y = e2e::instance_yaml("secure", sim.app("secure"), "jira", true);
    y.push_str("  tls: {caSecretRef: {name: sim-ca}}\n");
    e2e::apply(&env.ns, &y);
    e2e::wait_instance(&env.client, &env.ns, "secure", "Ready", |c| c.0 == "True").await;
}

#[tokio::test]
async fn steady_state_traffic_is_small() {
    // Counts, not timings: after the link is Ready, one resync pass costs a fixed, small number of
    // requests per application (read the link, its OAuth levels and its health) and writes nothing.
    let (env, sim, _op) = linked("steady", &[]).await;
    let before_status = e2e::link(&env.client, &env.ns, "l")
        .await
        .metadata
        .resource_version;
    sim.control("jira", reqwest::Method::DELETE, "log", None)
        .await;
    // Wait for at least two resync passes (3s each) to be logged in Jira.
    let per_pass = e2e::wait_for("two resync passes", || async {
        let n = sim
            .count_of("jira", "GET /rest/applinks/3.0/status/{id}")
            .await;
        if n >= 2 {
            Ok(n)
        } else {
            Err(format!("{n} status reads"))
        }
    })
    .await;
    let total = sim.request_count("jira").await;
    // Per pass in Jira: GET link and GET status (whose reply carries the OAuth levels), plus
    // the instance re-check (manifest and authenticationinfo every 3s); the status call also
    // makes Confluence call Jira back (manifest, capabilities, OAuth levels, 2LO probe).
    assert!(
        total <= per_pass * 10,
        "{total} requests for {per_pass} passes"
    );
    assert_eq!(
        sim.count_of("jira", "PUT /rest/applinks/2.0/applicationlink")
            .await,
        0,
        "no writes in steady state"
    );
    assert_eq!(
        sim.count_of("jira", "PUT /rest/applinks/3.0/status/{id}/oauth")
            .await,
        0
    );
    let after_status = e2e::link(&env.client, &env.ns, "l")
        .await
        .metadata
        .resource_version;
    assert_eq!(
        before_status, after_status,
        "status is not rewritten when nothing changed"
    );
}

#[tokio::test]
async fn transient_faults_are_retried_until_ready() {
    let env = env("faults").await;
    let sim = Sim::start(&apps(&[("jira", "jira"), ("confluence", "confluence")]));
    let _op = Operator::start(&env.ns, &[]);
    // Confluence throttles, then fails with 503, then is slow: the link still converges.
    let faults = serde_json::json!({"throttle_next": 3, "retry_after_secs": 1, "fail_next": 3, "fail_status": 503, "latency_ms": 200});
    sim.control("confluence", reqwest::Method::PUT, "faults", Some(faults))
        .await;
    e2e::linked_pair(
        &env.client,
        &env.ns,
        &sim,
        ("jira", "jira"),
        ("confluence", "confluence"),
    )
    .await;
    assert_working_both_ways(&sim, "jira", "confluence").await;
    assert_eq!(
        sim.links("confluence").await.len(),
        1,
        "retries made no duplicate"
    );
    assert_eq!(sim.links("jira").await.len(), 1);
}

#[tokio::test]
async fn two_way_without_authentication() {
    let env = env("noauth").await;
    let sim = Sim::start(&apps(&[("jira", "jira"), ("bamboo", "bamboo")]));
    let _op = Operator::start(&env.ns, &[]);
    e2e::apply(
        &env.ns,
        &e2e::instance_yaml("jira", sim.app("jira"), "jira", true),
    );
    e2e::apply(
        &env.ns,
        &e2e::instance_yaml("bamboo", sim.app("bamboo"), "bamboo", true),
    );
    e2e::apply(&env.ns, &e2e::link_yaml("l", "jira", "bamboo", "None"));
    let link =
        e2e::wait_link_reason(&env.client, &env.ns, "l", "LinkedWithoutAuthentication").await;
    let st = link.status.unwrap();
    assert_eq!(st.mode, Some(applink_operator::crd::LinkMode::TwoWay));
    for end in [st.source.unwrap(), st.target.unwrap()] {
        let a = end.auth.unwrap();
        assert!(
            !a.incoming.enabled && !a.outgoing.enabled,
            "no OAuth on either end"
        );
        assert_eq!(end.health.unwrap().error_type.as_deref(), Some("DISABLED"));
    }
    for (x, y) in [("jira", "bamboo"), ("bamboo", "jira")] {
        let s = sim.link_status(x, y).await;
        assert_eq!(s["error"]["type"], "DISABLED", "{x}: {s}");
    }
}

#[tokio::test]
async fn existing_links_are_left_alone_unless_adopted() {
    let env = env("adopt").await;
    let sim = Sim::start(&apps(&[("jira", "jira"), ("confluence", "confluence")]));
    // Somebody linked Jira to Confluence by hand before the operator came.
    let conf = sim.app("confluence").clone();
    let manual = serde_json::json!({"id": conf.id, "name": "hand-made", "typeId": "confluence", "rpcUrl": conf.base_url, "displayUrl": conf.base_url, "isPrimary": false});
    let code = sim
        .send(
            "jira",
            reqwest::Method::PUT,
            "rest/applinks/2.0/applicationlink",
            Some(manual),
        )
        .await;
    assert!(code < 300, "manual link: {code}");
    let _op = Operator::start(&env.ns, &[]);
    e2e::apply_oauth_link(
        &env.ns,
        &sim,
        ("jira", "jira"),
        ("confluence", "confluence"),
    );
    let link = e2e::wait_link_reason(&env.client, &env.ns, "l", "LinkNotOwned").await;
    let conds = link.status.unwrap().conditions;
    let (_, _, msg) = e2e::condition(&conds, "Ready").unwrap();
    assert!(msg.contains("adoptionPolicy: Adopt"), "{msg}");
    assert_eq!(
        e2e::condition(&conds, "Stalled").map(|c| c.0),
        Some("True".into())
    );
    assert!(
        sim.links("confluence").await.is_empty(),
        "nothing done on either side"
    );
    assert_eq!(
        sim.count_of("jira", "PUT /rest/applinks/3.0/status/{id}/oauth")
            .await,
        0
    );
    // Deleting an ApplicationLink that never owned the end leaves the hand-made link.
    e2e::delete(&env.ns, "applink", "l");
    e2e::wait_link_gone(&env.client, &env.ns, "l").await;
    assert_eq!(
        sim.links("jira").await[&conf.id]["name"],
        "hand-made",
        "never deleted what it did not own"
    );
    // With adoption it takes the link over and completes it.
    let adopt = e2e::link_yaml("l", "jira", "confluence", "OAuth") + "  adoptionPolicy: Adopt\n";
    e2e::apply(&env.ns, &adopt);
    e2e::wait_link_reason(&env.client, &env.ns, "l", "Working").await;
    assert_working_both_ways(&sim, "jira", "confluence").await;
    assert_eq!(sim.links("jira").await.len(), 1);
}

/// Two operator replicas with leader election: `replica-a` leads, `replica-b` stands by.
async fn two_replicas(env: &Env) -> (Operator, Operator) {
    let args = [
        "--leader-election",
        "--leader-election-namespace",
        env.ns.as_str(),
    ];
    let a = Operator::start_with(&env.ns, &[("POD_NAME", "replica-a")], &args);
    e2e::wait_leader(&env.client, &env.ns, "replica-a").await;
    let b = Operator::start_with(&env.ns, &[("POD_NAME", "replica-b")], &args);
    e2e::wait_for("replica-b to stand by", || async {
        if b.logs().contains("standing by") {
            Ok(())
        } else {
            Err(b.logs())
        }
    })
    .await;
    (a, b)
}

#[tokio::test]
async fn leader_election_keeps_one_active_replica() {
    let env = env("leader").await;
    let sim = Sim::start(&apps(&[("jira", "jira"), ("confluence", "confluence")]));
    let (mut a, b) = two_replicas(&env).await;
    e2e::linked_pair(
        &env.client,
        &env.ns,
        &sim,
        ("jira", "jira"),
        ("confluence", "confluence"),
    )
    .await;
    assert!(
        !b.logs().contains("Created"),
        "the standby reconciled nothing"
    );
    // The leader shuts down gracefully and releases the lease: the standby takes over at once.
    a.terminate();
    assert!(a.wait_exit(e2e::WAIT));
    e2e::wait_leader(&env.client, &env.ns, "replica-b").await;
    // And it reconciles: delete both ends through the new leader.
    e2e::delete(&env.ns, "applink", "l");
    e2e::wait_for("both ends deleted by replica-b", || async {
        let n = sim.links("jira").await.len() + sim.links("confluence").await.len();
        if n == 0 {
            Ok(())
        } else {
            Err(format!("{n} ends left"))
        }
    })
    .await;
}

#[tokio::test]
async fn inline_url_replaced_by_an_instance_ref_completes_the_link() {
    let env = env("inline").await;
    let sim = Sim::start(&apps(&[("jira", "jira"), ("confluence", "confluence")]));
    let _op = Operator::start(&env.ns, &[]);
    e2e::apply(
        &env.ns,
        &e2e::instance_yaml("jira", sim.app("jira"), "jira", true),
    );
    let inline = format!(
        "apiVersion: applinks.io/v1alpha1\nkind: ApplicationLink\nmetadata: {{name: l}}\nspec:\n  source: {{instanceRef: {{name: jira}}}}\n  target: {{url: {}, type: confluence}}\n  authentication: OAuth\n",
        sim.app("confluence").base_url
    );
    e2e::apply(&env.ns, &inline);
    e2e::wait_link_reason(&env.client, &env.ns, "l", "OneWayLink").await;
    assert_eq!(sim.links("jira").await.len(), 1);
    assert!(sim.links("confluence").await.is_empty());
    // Somebody here gets to administer Confluence: same application, now an instance.
    e2e::apply(
        &env.ns,
        &e2e::instance_yaml("confluence", sim.app("confluence"), "confluence", true),
    );
    e2e::apply(&env.ns, &e2e::link_yaml("l", "jira", "confluence", "OAuth"));
    e2e::wait_link_reason(&env.client, &env.ns, "l", "Working").await;
    assert_working_both_ways(&sim, "jira", "confluence").await;
    assert_eq!(
        sim.count_of("jira", "PUT /rest/applinks/2.0/applicationlink")
            .await,
        1,
        "the source end was kept"
    );
}

#[tokio::test]
async fn inline_url_change_relocates_or_is_refused() {
    let env = env("inline-move").await;
    let sim = Sim::start(&apps(&[
        ("jira", "jira"),
        ("confluence", "confluence"),
        ("other", "confluence"),
    ]));
    let _op = Operator::start(&env.ns, &[]);
    e2e::apply(
        &env.ns,
        &e2e::instance_yaml("jira", sim.app("jira"), "jira", true),
    );
    let link = |url: &str| {
        format!(
            "apiVersion: applinks.io/v1alpha1\nkind: ApplicationLink\nmetadata: {{name: l}}\nspec:\n  source: {{instanceRef: {{name: jira}}}}\n  target: {{url: {url}}}\n"
        )
    };
    let old = sim.app("confluence").base_url.clone();
    e2e::apply(&env.ns, &link(&old));
    e2e::wait_link_reason(&env.client, &env.ns, "l", "OneWayLink").await;
    let id = sim.app("confluence").id.clone();
    // Same application at a new address: the source end follows it.
    let moved = old.replace("127.0.0.1", "localhost");
    e2e::apply(&env.ns, &link(&moved));
    e2e::wait_for("the source end to be relocated", || async {
        let rpc = sim.links("jira").await[&id]["rpcUrl"]
            .as_str()
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_string();
        if rpc == moved { Ok(()) } else { Err(rpc) }
    })
    .await;
    // Another application at the new address: refused, nothing touched.
    e2e::apply(&env.ns, &link(&sim.app("other").base_url));
    let l = e2e::wait_link_reason(&env.client, &env.ns, "l", "TargetIdentityChanged").await;
    assert_eq!(
        e2e::condition(&l.status.unwrap().conditions, "Stalled").map(|c| c.0),
        Some("True".into())
    );
    let links = sim.links("jira").await;
    assert_eq!(
        links.len(),
        1,
        "no link to the other application: {links:?}"
    );
    assert_eq!(
        links[&id]["rpcUrl"].as_str().unwrap().trim_end_matches('/'),
        moved
    );
}

#[tokio::test]
async fn a_dead_leader_is_replaced_when_its_lease_expires() {
    let env = env("leader-dead").await;
    let sim = Sim::start(&apps(&[("jira", "jira"), ("confluence", "confluence")]));
    let (mut a, b) = two_replicas(&env).await;
    // SIGKILL: no release. The standby waits for the lease to expire (15s), then leads.
    a.stop();
    e2e::linked_pair(
        &env.client,
        &env.ns,
        &sim,
        ("jira", "jira"),
        ("confluence", "confluence"),
    )
    .await;
    assert_eq!(e2e::lease_holder(&env.client, &env.ns).await, "replica-b");
    assert!(b.logs().contains("became the leader"));
}
