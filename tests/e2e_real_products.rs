//! End-to-end scenarios on realistic product profiles (the simulator's version lines): what a
//! new user meets on first contact with a real Jira, Confluence or Bitbucket. Each asserts on the
//! resource status and on the applications' own state and request logs.

mod common;

use common::e2e::{self, Operator, Sim, env};
use serde_json::{Value, json};

/// An ApplicationInstance whose Secret holds a personal access token.
fn token_instance_yaml(name: &str, url: &str, type_: &str, token: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}-token, annotations: {{applinks.io/allowed-urls: '{url}'}}}}\nstringData: {{token: {token}}}\n---\napiVersion: applinks.io/v1alpha1\nkind: ApplicationInstance\nmetadata: {{name: {name}}}\nspec:\n  url: {url}\n  type: {type_}\n  credentialsSecretRef: {{name: {name}-token}}\n"
    )
}

fn writes(entries: &[Value]) -> Vec<&Value> {
    entries
        .iter()
        .filter(|e| {
            matches!(
                e["method"].as_str(),
                Some("PUT" | "POST" | "DELETE" | "PATCH")
            )
        })
        .collect()
}

const PAT_USERS: &str =
    "  users:\n  - {username: admin, password: admin, role: sysadmin, tokens: [jira-pat-1]}\n";

/// Jira 11 turns Basic off; with secure administrator sessions off for automation, a personal
/// access token does everything, and no Basic request is ever made.
#[tokio::test]
async fn pat_only_jira_11_works() {
    let env = env("jira11").await;
    let sim = Sim::start(&format!(
        "control_port: 0\napps:\n- name: jira\n  product: jira\n  version: 11.0.1\n  secure_admin_sessions: false\n  key_bits: 1024\n{PAT_USERS}- name: confluence\n  product: confluence\n  key_bits: 1024\n"
    ));
    let _op = Operator::start(&env.ns, &[]);
    e2e::apply(
        &env.ns,
        &token_instance_yaml("jira", &sim.app("jira").base_url, "jira", "jira-pat-1"),
    );
    e2e::apply(
        &env.ns,
        &e2e::instance_yaml("confluence", sim.app("confluence"), "confluence", true),
    );
    e2e::apply(&env.ns, &e2e::link_yaml("l", "jira", "confluence", "OAuth"));
    let link = e2e::wait_link_reason(&env.client, &env.ns, "l", "Working").await;
    assert_eq!(link.status.unwrap().health.as_deref(), Some("Working"));
    let jira = sim.log_entries("jira").await;
    assert!(
        !jira
            .iter()
            .any(|e| e["auth"] == "basic" || e["auth"] == "basic_disabled"),
        "no Basic request to a Jira 11"
    );
    assert!(jira.iter().any(|e| e["auth"] == "bearer"));
}

/// Jira 10.3 with secure administrator sessions on (its default) and only a token: the
/// instance says exactly what to change, and no end of any link is made anywhere.
#[tokio::test]
async fn pat_with_secure_admin_sessions_is_refused_before_anything_is_created() {
    let env = env("websudo").await;
    let sim = Sim::start(&format!(
        "control_port: 0\napps:\n- name: jira\n  product: jira\n  version: 10.3.8\n  key_bits: 1024\n{PAT_USERS}- name: confluence\n  product: confluence\n  key_bits: 1024\n"
    ));
    let _op = Operator::start(&env.ns, &[]);
    e2e::apply(
        &env.ns,
        &token_instance_yaml("jira", &sim.app("jira").base_url, "jira", "jira-pat-1"),
    );
    e2e::apply(
        &env.ns,
        &e2e::instance_yaml("confluence", sim.app("confluence"), "confluence", true),
    );
    // Confluence first, so that a half-made link would be visible there.
    e2e::apply(&env.ns, &e2e::link_yaml("l", "confluence", "jira", "OAuth"));
    let (_, (_, _, msg)) =
        e2e::wait_instance(&env.client, &env.ns, "jira", "CredentialsValid", |c| {
            c.0 == "False" && c.1 == "SecureAdminSessionRequired"
        })
        .await;
    assert!(
        msg.contains("secure administrator sessions") && msg.contains("username and password"),
        "both ways out: {msg}"
    );
    e2e::wait_link_reason(&env.client, &env.ns, "l", "InstanceNotReady").await;
    assert!(sim.links("jira").await.is_empty());
    assert!(
        sim.links("confluence").await.is_empty(),
        "nothing half-created"
    );
}

/// Basic authentication blocked (Jira 11's default) with a username and password in the Secret:
/// one refused request, a reason that says to use a token, and no more requests.
#[tokio::test]
async fn basic_auth_disabled_says_use_a_token() {
    let env = env("nobasic").await;
    let sim = Sim::start(
        "control_port: 0\napps:\n- name: jira\n  product: jira\n  version: 11.0.1\n  key_bits: 1024\n",
    );
    let _op = Operator::start(&env.ns, &[]);
    e2e::apply(
        &env.ns,
        &e2e::instance_yaml("jira", sim.app("jira"), "jira", true),
    );
    let (_, (_, _, msg)) =
        e2e::wait_instance(&env.client, &env.ns, "jira", "CredentialsValid", |c| {
            c.1 == "BasicAuthDisabled"
        })
        .await;
    assert!(msg.contains("personal access token"), "{msg}");
    // Re-checked every 3s, yet the refused Basic request is not sent again.
    e2e::wait_instance(&env.client, &env.ns, "jira", "Ready", |c| {
        c.2.contains("until the Secret changes")
    })
    .await;
    let refused = sim
        .log_entries("jira")
        .await
        .iter()
        .filter(|e| e["auth"] == "basic_disabled")
        .count();
    assert_eq!(refused, 1);
}

/// A relocation onto a URL that a stale link in the peer already uses: the application refuses
/// the update, and the condition names the link in the way.
#[tokio::test]
async fn relocation_onto_a_url_a_stale_link_uses_names_that_link() {
    let env = env("stalelink").await;
    let sim = Sim::start(
        "control_port: 0\napps:\n- {name: jira, product: jira, key_bits: 1024}\n- {name: confluence, product: confluence, key_bits: 1024}\n- {name: confluence-copy, product: confluence, seed: confluence, display_name: confluence, key_bits: 1024}\n",
    );
    sim.control("confluence-copy", reqwest::Method::POST, "stop", None)
        .await;
    let _op = Operator::start(&env.ns, &[]);
    e2e::apply_oauth_link(
        &env.ns,
        &sim,
        ("jira", "jira"),
        ("confluence", "confluence"),
    );
    e2e::wait_link_ready(&env.client, &env.ns, "l", "True").await;
    // Somebody once linked Jira to the new address by hand (another id: a generic link).
    let new_url = sim.app("confluence-copy").base_url.clone();
    let stale = sim
        .control(
            "jira",
            reqwest::Method::POST,
            "links",
            Some(json!({"typeId": "generic", "name": "old wiki", "rpcUrl": new_url})),
        )
        .await;
    let stale_id = stale["id"].as_str().unwrap().to_string();
    // The application moves there.
    sim.control("confluence", reqwest::Method::POST, "stop", None)
        .await;
    sim.control("confluence-copy", reqwest::Method::POST, "start", None)
        .await;
    let y = e2e::moved_instance_yaml(
        "confluence",
        sim.app("confluence-copy"),
        "confluence",
        true,
        sim.app("confluence"),
    );
    e2e::apply(&env.ns, &y);
    let link = e2e::wait_link_reason(&env.client, &env.ns, "l", "LinkFieldInUse").await;
    let (_, _, msg) = e2e::condition(&link.status.unwrap().conditions, "Ready").unwrap();
    assert!(msg.contains("old wiki") && msg.contains(&stale_id), "{msg}");
    // Jira's end is unchanged.
    let jira = sim.links("jira").await;
    let end = &jira[&sim.app("confluence").id];
    assert_ne!(
        end["rpcUrl"].as_str().unwrap().trim_end_matches('/'),
        new_url.trim_end_matches('/')
    );
}

/// Two links in one application to the same peer share its consumer: deleting the other one
/// removes the consumer, and the operator restores incoming OAuth on its own link.
#[tokio::test]
async fn a_shared_consumer_removed_with_another_link_is_restored() {
    let env = env("consumer").await;
    let sim = Sim::start(
        "control_port: 0\napps:\n- {name: jira, product: jira, key_bits: 1024}\n- {name: confluence, product: confluence, key_bits: 1024}\n- {name: jira-staging, product: jira, seed: jira, display_name: jira, key_bits: 1024}\n",
    );
    let _op = Operator::start(&env.ns, &[]);
    e2e::apply_oauth_link(
        &env.ns,
        &sim,
        ("jira", "jira"),
        ("confluence", "confluence"),
    );
    e2e::wait_link_reason(&env.client, &env.ns, "l", "Working").await;
    // A hand-made link in Confluence to a copy of Jira (same consumer key), with incoming OAuth.
    let copy = sim
        .control(
            "confluence",
            reqwest::Method::POST,
            "links",
            Some(json!({
                "id": "00000000-0000-3000-8000-000000000001", "typeId": "jira", "name": "jira staging",
                "rpcUrl": sim.app("jira-staging").base_url, "incoming": "default"
            })),
        )
        .await;
    let copy_id = copy["id"].as_str().unwrap().to_string();
    // Deleted by somebody, with its consumer: Jira's consumer goes too.
    sim.control(
        "confluence",
        reqwest::Method::DELETE,
        &format!("links/{copy_id}"),
        None,
    )
    .await;
    let conf = sim.links("confluence").await;
    assert_eq!(
        conf[&sim.app("jira").id]["oauth"]["incoming"]["enabled"],
        Value::Bool(false),
        "the shared consumer is gone: {conf:?}"
    );
    // Noticed at the next resync (3s) and restored.
    e2e::wait_for("incoming OAuth restored on Confluence's end", || async {
        let conf = sim.links("confluence").await;
        let incoming = &conf[&sim.app("jira").id]["oauth"]["incoming"];
        if incoming["enabled"] == Value::Bool(true) {
            Ok(())
        } else {
            Err(incoming.to_string())
        }
    })
    .await;
    e2e::wait_link_reason(&env.client, &env.ns, "l", "Working").await;
}

/// A first link on fresh applications, from a freshly started operator, on the default
/// (realistic) profiles: the classic by-id GET answers 500 there, and must not be asked.
#[tokio::test]
async fn first_link_on_fresh_applications_from_a_fresh_operator() {
    let env = env("first").await;
    let sim = Sim::start(&e2e::apps(&[("jira", "jira"), ("bitbucket", "bitbucket")]));
    let _op = Operator::start(&env.ns, &[]);
    e2e::apply_oauth_link(&env.ns, &sim, ("jira", "jira"), ("bitbucket", "bitbucket"));
    e2e::wait_link_reason(&env.client, &env.ns, "l", "Working").await;
    for app in ["jira", "bitbucket"] {
        let entries = sim.log_entries(app).await;
        assert!(
            !entries.iter().any(|e| e["status"] == 500),
            "{app} answered 500: the classic by-id GET was used"
        );
        let links = sim.links(app).await;
        assert_eq!(links.len(), 1, "{app}: exactly one end");
        assert!(writes(&entries).len() <= 4, "{app}: a handful of writes");
    }
}

/// Bitbucket Cloud runs no application links: a link to it is one-way, made only in the server.
#[tokio::test]
async fn a_link_to_bitbucket_cloud_is_one_way() {
    let env = env("bbcloud").await;
    let pki = e2e::Pki::new();
    let tls = pki.sim_tls_yaml();
    let sim = Sim::start(&format!(
        "control_port: 0\napps:\n- name: jira\n  product: jira\n  key_bits: 1024\n{tls}- name: bitbucket-cloud\n  product: bitbucket-cloud\n  key_bits: 1024\n{tls}"
    ));
    let _op = Operator::start(&env.ns, &[]);
    pki.apply_ca_secret(&env.ns, "sim-ca");
    let mut jira = e2e::instance_yaml("jira", sim.app("jira"), "jira", true);
    jira.push_str("  tls: {caSecretRef: {name: sim-ca}}\n");
    e2e::apply(&env.ns, &jira);
    let mut bb = e2e::instance_yaml("bitbucket", sim.app("bitbucket-cloud"), "bitbucket", false);
    bb.push_str("  tls: {caSecretRef: {name: sim-ca}}\n  cloud: true\n");
    e2e::apply(&env.ns, &bb);
    e2e::apply(&env.ns, &e2e::link_yaml("l", "jira", "bitbucket", "OAuth"));
    let link = e2e::wait_link_reason(&env.client, &env.ns, "l", "OneWayLink").await;
    let st = link.status.unwrap();
    assert_eq!(st.mode, Some(applink_operator::crd::LinkMode::OneWay));
    let (_, _, msg) = e2e::condition(&st.conditions, "Ready").unwrap();
    assert!(
        msg.contains("Bitbucket Cloud has no application links"),
        "{msg}"
    );
    let links = sim.links("jira").await;
    assert_eq!(links.len(), 1, "{links:?}");
    assert!(
        writes(&sim.log_entries("bitbucket-cloud").await).is_empty(),
        "nothing written to Bitbucket Cloud"
    );
}

/// A corrupted link (an id registered without its properties, left by a failed delete) blocks
/// the create: the condition names it and how it goes; once removed, the link is made.
#[tokio::test]
async fn a_corrupted_link_is_named_and_the_link_made_once_it_is_gone() {
    let env = env("corrupt").await;
    let sim = Sim::start(&e2e::apps(&[
        ("jira", "jira"),
        ("confluence", "confluence"),
    ]));
    let conf_id = sim.app("confluence").id.clone();
    sim.control(
        "jira",
        reqwest::Method::POST,
        &format!("links/{conf_id}/corrupt"),
        None,
    )
    .await;
    let _op = Operator::start(&env.ns, &[]);
    e2e::apply_oauth_link(
        &env.ns,
        &sim,
        ("jira", "jira"),
        ("confluence", "confluence"),
    );
    let link = e2e::wait_link_reason(&env.client, &env.ns, "l", "CorruptedLink").await;
    let conds = link.status.unwrap().conditions;
    let (_, _, msg) = e2e::condition(&conds, "Ready").unwrap();
    assert!(msg.contains(&conf_id) && msg.contains("database"), "{msg}");
    assert_eq!(
        e2e::condition(&conds, "Stalled").map(|c| c.0),
        Some("True".into())
    );
    // An administrator cleans the leftover up in the database.
    sim.control(
        "jira",
        reqwest::Method::DELETE,
        &format!("links/{conf_id}"),
        None,
    )
    .await;
    e2e::wait_link_reason(&env.client, &env.ns, "l", "Working").await;
}

/// The two causes of OAuth failures a client can see before a link breaks: a base URL the
/// application does not know itself by, and a clock far off. Warnings, not failures.
#[tokio::test]
async fn base_url_and_clock_warnings() {
    let env = env("warnings").await;
    let sim = Sim::start(&e2e::apps(&[("jira", "jira")]));
    sim.control(
        "jira",
        reqwest::Method::PATCH,
        "faults",
        Some(json!({"clock_skew_secs": 400, "configured_base_url": "https://jira.example.test"})),
    )
    .await;
    let _op = Operator::start(&env.ns, &[]);
    e2e::apply(
        &env.ns,
        &e2e::instance_yaml("jira", sim.app("jira"), "jira", true),
    );
    let (inst, (_, _, msg)) =
        e2e::wait_instance(&env.client, &env.ns, "jira", "BaseUrlMatches", |c| {
            c.0 == "False" && c.1 == "BaseUrlMismatch"
        })
        .await;
    assert!(
        msg.contains("https://jira.example.test") && msg.contains("signature_invalid"),
        "{msg}"
    );
    let conds = inst.status.unwrap().conditions;
    let (clock, reason, msg) = e2e::condition(&conds, "ClockInSync").unwrap();
    assert_eq!(
        (clock.as_str(), reason.as_str()),
        ("False", "ClockSkew"),
        "{msg}"
    );
    assert_eq!(
        e2e::condition(&conds, "Ready").map(|c| c.0),
        Some("True".into()),
        "warnings do not make the instance unusable"
    );
}

/// A link the applications report as broken says what to do about it (the fix the products'
/// knowledge base gives), not only the error type: here a peer whose OAuth signatures fail.
#[tokio::test]
async fn a_link_reported_broken_says_what_to_do() {
    let env = env("advice").await;
    let sim = Sim::start(&e2e::apps(&[
        ("jira", "jira"),
        ("confluence", "confluence"),
    ]));
    let _op = Operator::start(&env.ns, &[]);
    e2e::linked_pair(
        &env.client,
        &env.ns,
        &sim,
        ("jira", "jira"),
        ("confluence", "confluence"),
    )
    .await;
    sim.control(
        "jira",
        reqwest::Method::PATCH,
        "faults",
        Some(json!({"tamper_signatures": true})),
    )
    .await;
    let link = e2e::wait_link_reason(&env.client, &env.ns, "l", "OAuthSignatureInvalid").await;
    let conds = link.status.unwrap().conditions;
    let (_, _, msg) = e2e::condition(&conds, "Ready").unwrap();
    assert!(
        msg.contains("reports the link as not working") && msg.contains("BaseUrlMatches on both"),
        "{msg}"
    );
}

const LTS_USERS: &str =
    "  users:\n  - {username: admin, password: admin, role: sysadmin, tokens: [admin-pat]}\n";

/// Jira 11.3 LTS on its defaults (Basic blocked, secure administrator sessions on) with a
/// username and password, linked to Confluence 10.2 LTS with a token (Confluence exempts
/// tokens from secure administrator sessions): the Jira instance names the least invasive
/// change, the test makes exactly that call and touches the Secret, and the link is made.
#[tokio::test]
async fn jira_11_3_lts_the_named_change_is_all_it_takes() {
    let env = env("jira113").await;
    let sim = Sim::start(&format!(
        "control_port: 0\napps:\n- name: jira\n  product: jira\n  version: 11.3.2\n  key_bits: 1024\n{LTS_USERS}- name: confluence\n  product: confluence\n  version: 10.2.1\n  key_bits: 1024\n{LTS_USERS}"
    ));
    let _op = Operator::start(&env.ns, &[]);
    e2e::apply(
        &env.ns,
        &e2e::instance_yaml("jira", sim.app("jira"), "jira", true),
    );
    e2e::apply(
        &env.ns,
        &token_instance_yaml(
            "confluence",
            &sim.app("confluence").base_url,
            "confluence",
            "admin-pat",
        ),
    );
    e2e::apply(&env.ns, &e2e::link_yaml("l", "jira", "confluence", "OAuth"));
    let (_, (_, _, msg)) =
        e2e::wait_instance(&env.client, &env.ns, "jira", "CredentialsValid", |c| {
            c.1 == "BasicAuthDisabled"
        })
        .await;
    let config_url = format!(
        "{}/rest/basicauth/1.0/config",
        sim.app("jira").base_url.trim_end_matches('/')
    );
    let named = format!(r#"PUT {config_url} and the body {{"allowed-users": ["admin"]}}"#);
    assert!(msg.contains(&named), "{msg}");
    // A system administrator does exactly that, with their token (Basic is blocked).
    let http = reqwest::Client::new();
    let current: Value = http
        .get(&config_url)
        .bearer_auth("admin-pat")
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(current["block-requests"], true, "{current}");
    assert_eq!(current["allowed-users"], json!([]), "{current}");
    let r = http
        .put(&config_url)
        .bearer_auth("admin-pat")
        .json(&json!({"allowed-users": ["admin"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    // ...and changes the Secret, so the operator sends the credentials once more.
    e2e::kubectl(
        &env.ns,
        &[
            "annotate",
            "secret",
            "jira-admin",
            "applinks.io/retry=1",
            "--overwrite",
        ],
        None,
    )
    .unwrap();
    let link = e2e::wait_link_reason(&env.client, &env.ns, "l", "Working").await;
    assert_eq!(link.status.unwrap().health.as_deref(), Some("Working"));
    // Jira's end went through secure administrator sessions by Basic, Confluence's by token.
    let jira = sim.log_entries("jira").await;
    let confluence = sim.log_entries("confluence").await;
    assert!(jira.iter().any(|e| e["auth"] == "basic"));
    assert!(confluence.iter().any(|e| e["auth"] == "bearer"));
    for (app, log) in [("jira", &jira), ("confluence", &confluence)] {
        assert!(
            !log.iter().any(|e| e["auth"] == "websudo"),
            "{app}: no secure administrator session refusal"
        );
    }
    assert!(
        sim.links("jira")
            .await
            .contains_key(&sim.app("confluence").id)
    );
    assert!(
        sim.links("confluence")
            .await
            .contains_key(&sim.app("jira").id)
    );
}

/// Bitbucket 10 with Bamboo 11 and Bamboo 12 on their defaults: Basic works, no secure
/// administrator sessions, nothing to change.
#[tokio::test]
async fn bitbucket_10_with_bamboo_11_and_12_work_on_their_defaults() {
    let env = env("bb10bam").await;
    let sim = Sim::start(
        "control_port: 0\napps:\n- {name: bitbucket, product: bitbucket, version: 10.1.1, key_bits: 1024}\n- {name: bamboo11, product: bamboo, version: 11.0.3, key_bits: 1024}\n- {name: bamboo12, product: bamboo, version: 12.0.1, key_bits: 1024}\n",
    );
    let _op = Operator::start(&env.ns, &[]);
    for (n, t) in [
        ("bitbucket", "bitbucket"),
        ("bamboo11", "bamboo"),
        ("bamboo12", "bamboo"),
    ] {
        e2e::apply(&env.ns, &e2e::instance_yaml(n, sim.app(n), t, true));
    }
    e2e::apply(
        &env.ns,
        &e2e::link_yaml("a", "bamboo11", "bitbucket", "OAuth"),
    );
    e2e::apply(
        &env.ns,
        &e2e::link_yaml("b", "bitbucket", "bamboo12", "OAuth"),
    );
    for l in ["a", "b"] {
        let link = e2e::wait_link_reason(&env.client, &env.ns, l, "Working").await;
        assert_eq!(link.status.unwrap().health.as_deref(), Some("Working"));
    }
    let (_, m) = sim.get("bamboo12", "/rest/applinks/1.0/manifest").await;
    assert!(
        m["applinksVersion"].as_str().unwrap().starts_with("11.2."),
        "{m}"
    );
}

/// `authentication: OAuth2` (an "Atlassian product via OAuth 2.0" link) is accepted by the
/// CRD and explained by the operator, which changes nothing in either application: its REST
/// API is not confirmed (docs/products.md).
#[tokio::test]
async fn an_oauth2_product_link_is_explained_not_guessed() {
    let env = env("oauth2link").await;
    let sim = Sim::start(
        "control_port: 0\napps:\n- name: jira\n  product: jira\n  version: 11.3.2\n  basic_auth: true\n  key_bits: 1024\n- name: confluence\n  product: confluence\n  version: 10.2.1\n  basic_auth: true\n  key_bits: 1024\n",
    );
    let _op = Operator::start(&env.ns, &[]);
    e2e::apply(
        &env.ns,
        &e2e::instance_yaml("jira", sim.app("jira"), "jira", true),
    );
    e2e::apply(
        &env.ns,
        &e2e::instance_yaml("confluence", sim.app("confluence"), "confluence", true),
    );
    e2e::apply(
        &env.ns,
        &e2e::link_yaml("l", "jira", "confluence", "OAuth2"),
    );
    let link = e2e::wait_link_reason(&env.client, &env.ns, "l", "OAuth2LinkNotSupportedYet").await;
    let conds = link.status.unwrap().conditions;
    let (_, _, msg) = e2e::condition(&conds, "Ready").unwrap();
    assert!(
        msg.contains("not supported yet") && msg.contains("authentication: OAuth"),
        "{msg}"
    );
    let (stalled, reason, _) = e2e::condition(&conds, "Stalled").unwrap();
    assert_eq!(
        (stalled.as_str(), reason.as_str()),
        ("True", "OAuth2LinkNotSupportedYet")
    );
    for app in ["jira", "confluence"] {
        assert!(sim.links(app).await.is_empty(), "{app}: nothing made");
        assert!(
            writes(&sim.log_entries(app).await).is_empty(),
            "{app}: nothing written"
        );
    }
    // Deleting it is not held up (nothing was made).
    e2e::delete(&env.ns, "applicationlink", "l");
    let api: kube::Api<applink_operator::crd::ApplicationLink> =
        kube::Api::namespaced(env.client.clone(), &env.ns);
    e2e::wait_for("the OAuth2 link to be deleted", || async {
        match api.get_opt("l").await {
            Ok(None) => Ok(()),
            other => Err(format!("{:?}", other.map(|o| o.is_some()))),
        }
    })
    .await;
    // The same link with OAuth 1.0a is made.
    e2e::apply(&env.ns, &e2e::link_yaml("l", "jira", "confluence", "OAuth"));
    e2e::wait_link_reason(&env.client, &env.ns, "l", "Working").await;
}
