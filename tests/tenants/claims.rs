//! Finding 5, forgeable claims: a copy of an ApplicationLink (same spec, the claim annotations
//! an older operator kept, adoption on) and an ExternalApplication with a forged
//! `applinks.io/oauth2-client-id` annotation. Neither may take over, change or delete what the
//! original holds; checked in the applications, after the attacker's object is deleted.

use kube::Api;
use kube::api::{DynamicObject, PostParams};
use serde_json::{Value, json};

use crate::common::e2e::{self, Operator, SHARD_LABEL, Sim};
use applink_operator::crd::ApplicationLink;

/// Labels every object of `yaml` (flow-style `metadata: {name: …}`) with the test's shard.
fn sharded(yaml: &str, shard: &str) -> String {
    yaml.replace(
        "metadata: {name: ",
        &format!("metadata: {{labels: {{{SHARD_LABEL}: {shard}}}, name: "),
    )
}

/// Writes (POST, PUT, DELETE) an application logged on its link resources.
async fn link_writes(sim: &Sim, app: &str) -> Vec<Value> {
    sim.log_entries(app)
        .await
        .into_iter()
        .filter(|e| matches!(e["method"].as_str(), Some("POST" | "PUT" | "DELETE")))
        .filter(|e| {
            e["path"]
                .as_str()
                .is_some_and(|p| p.contains("applicationlink") || p.contains("/status/"))
        })
        .collect()
}

fn ready_of(v: &Value) -> (String, String) {
    let c = v["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready").cloned())
        .unwrap_or_default();
    (
        c["reason"].as_str().unwrap_or_default().to_string(),
        c["message"].as_str().unwrap_or_default().to_string(),
    )
}

/// `kubectl get -o yaml`, renamed, applied: what a tenant does to duplicate an object. The
/// status is sent too; the API server drops it on create.
fn copy_of(original: &ApplicationLink, name: &str) -> ApplicationLink {
    let mut v = serde_json::to_value(original).unwrap();
    let meta = v["metadata"].as_object_mut().unwrap();
    for k in [
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "generation",
        "managedFields",
        "finalizers",
    ] {
        meta.remove(k);
    }
    meta.insert("name".into(), json!(name));
    serde_json::from_value(v).unwrap()
}

/// A copy of a Ready link, carrying the claim annotations an older operator kept and
/// `adoptionPolicy: Adopt`, never takes over the original's ends: it stops at
/// `ClaimedElsewhere` (naming nothing of the original), no application sees a write while it
/// exists, and deleting it deletes nothing. The original stays Ready with its claims.
#[tokio::test]
async fn a_copied_link_never_takes_over_or_deletes_its_originals_ends() {
    let env = e2e::env("claims-copy").await;
    let shard = env.ns.to_string();
    let sim = Sim::start(&e2e::apps(&[
        ("jira", "jira"),
        ("confluence", "confluence"),
    ]));
    let _op = Operator::start_cluster_wide(&shard, &[], &[]);
    for app in ["jira", "confluence"] {
        e2e::apply(
            &env.ns,
            &sharded(&e2e::instance_yaml(app, sim.app(app), app, true), &shard),
        );
    }
    e2e::apply(
        &env.ns,
        &sharded(
            &e2e::link_yaml("orig-link", "jira", "confluence", "OAuth"),
            &shard,
        ),
    );
    let original = e2e::wait_link_ready(&env.client, &env.ns, "orig-link", "True").await;
    let claims = original.status.clone().unwrap().claims.unwrap();
    assert_eq!(
        claims.source.as_ref().map(|c| c.link_id.as_str()),
        Some(sim.app("confluence").id.as_str())
    );
    assert!(
        original
            .metadata
            .annotations
            .as_ref()
            .is_none_or(|a| !a.keys().any(|k| k.ends_with("-link-id"))),
        "claims are no longer annotations"
    );
    let writes_before = (
        link_writes(&sim, "jira").await.len(),
        link_writes(&sim, "confluence").await.len(),
    );

    // The copy: annotations forged as an older operator wrote them, adoption on.
    let mut copy = copy_of(&original, "copy-link");
    let ann = copy.metadata.annotations.get_or_insert_default();
    ann.insert(
        "applinks.io/source-link-id".into(),
        sim.app("confluence").id.clone(),
    );
    ann.insert(
        "applinks.io/target-link-id".into(),
        sim.app("jira").id.clone(),
    );
    copy.spec.adoption_policy = applink_operator::crd::AdoptionPolicy::Adopt;
    let links: Api<ApplicationLink> = Api::namespaced(env.client.clone(), &env.ns);
    links.create(&PostParams::default(), &copy).await.unwrap();

    let stopped =
        e2e::wait_link_reason(&env.client, &env.ns, "copy-link", "ClaimedElsewhere").await;
    let (_, message) = ready_of(&serde_json::to_value(&stopped).unwrap());
    assert!(message.contains("another object"), "{message}");
    assert!(
        !message.contains("orig-link") && !message.contains(env.ns.as_str()),
        "names nothing of the original: {message}"
    );
    let copy_claims = stopped.status.unwrap().claims.unwrap_or_default();
    assert_eq!(copy_claims, Default::default(), "the copy claims nothing");

    links
        .delete("copy-link", &Default::default())
        .await
        .unwrap();
    e2e::wait_link_gone(&env.client, &env.ns, "copy-link").await;

    // On the applications' side: both ends there, no write at all since the copy appeared.
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
    assert_eq!(
        (
            link_writes(&sim, "jira").await.len(),
            link_writes(&sim, "confluence").await.len()
        ),
        writes_before,
        "no application saw a link write while the copy existed: {:?}",
        link_writes(&sim, "jira").await
    );
    let after = e2e::wait_link_ready(&env.client, &env.ns, "orig-link", "True").await;
    assert_eq!(after.status.unwrap().claims.unwrap(), claims);
}

fn ext_api(client: &kube::Client, ns: &str) -> Api<DynamicObject> {
    let ar = kube::api::ApiResource {
        group: "applinks.io".into(),
        version: "v1alpha1".into(),
        api_version: "applinks.io/v1alpha1".into(),
        kind: "ExternalApplication".into(),
        plural: "externalapplications".into(),
    };
    Api::namespaced_with(client.clone(), ns, &ar)
}

/// The ExternalApplication once its Ready reason is `reason`.
async fn wait_ext_reason(client: &kube::Client, ns: &str, name: &str, reason: &str) -> Value {
    let api = ext_api(client, ns);
    e2e::wait_for(&format!("{name} Ready reason {reason}"), || async {
        let o = api.get(name).await.map_err(|e| e.to_string())?;
        let v = serde_json::to_value(&o).unwrap();
        if ready_of(&v).0 == reason {
            Ok(v)
        } else {
            Err(format!("{:?}", ready_of(&v)))
        }
    })
    .await
}

async fn wait_ext_gone(client: &kube::Client, ns: &str, name: &str) {
    let api = ext_api(client, ns);
    e2e::wait_for(&format!("{name} gone"), || async {
        match api.get_opt(name).await {
            Ok(None) => Ok(()),
            other => Err(format!("{:?}", other.map(|o| o.is_some()))),
        }
    })
    .await
}

fn external_yaml(name: &str, display: &str, redirect: &str, annotations: &str) -> String {
    format!(
        "apiVersion: applinks.io/v1alpha1\nkind: ExternalApplication\nmetadata: {{name: {name}{annotations}}}\nspec:\n  instanceRef: {{name: bitbucket}}\n  displayName: {display}\n  oauth2:\n    redirectUris: [\"{redirect}\"]\n    scope: REPO_WRITE\n"
    )
}

/// The application's clients (the simulator's view, secrets included).
async fn clients(sim: &Sim) -> Vec<Value> {
    sim.control("bitbucket", reqwest::Method::GET, "oauth2", None)
        .await["clients"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn secret_value(client: &kube::Client, ns: &str, name: &str) -> String {
    let api: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), ns);
    let s = api.get(name).await.unwrap();
    String::from_utf8(s.data.unwrap()["clientSecret"].0.clone()).unwrap()
}

/// An ExternalApplication with a forged `applinks.io/oauth2-client-id` (and client name)
/// annotation naming another resource's client gets a client of its own, and with the victim's
/// display name it stops at `ClaimedElsewhere`; either way the victim's client keeps its
/// redirects and its secret (the one in the victim's Secret), before and after the attackers
/// are deleted.
#[tokio::test]
async fn a_forged_client_id_annotation_does_not_touch_another_resources_client() {
    let env = e2e::env("claims-forged").await;
    let shard = env.ns.to_string();
    let sim = Sim::start(&e2e::apps(&[("bitbucket", "bitbucket")]));
    let _op = Operator::start_cluster_wide(&shard, &[], &[]);
    e2e::apply(
        &env.ns,
        &sharded(
            &e2e::instance_yaml("bitbucket", sim.app("bitbucket"), "bitbucket", true),
            &shard,
        ),
    );
    let victim_redirect = "https://che.example.test/api/oauth/callback";
    e2e::apply(
        &env.ns,
        &sharded(
            &external_yaml("che", "Eclipse Che", victim_redirect, ""),
            &shard,
        ),
    );
    let che = wait_ext_reason(&env.client, &env.ns, "che", "CredentialsDelivered").await;
    let victim_id = che["status"]["application"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let victim_secret = secret_value(&env.client, &env.ns, "che-oauth").await;
    let victim = |cs: &[Value]| {
        cs.iter()
            .find(|c| c["id"] == victim_id.as_str())
            .cloned()
            .unwrap_or_default()
    };
    let before = victim(&clients(&sim).await);
    assert_eq!(before["clientSecret"], victim_secret.as_str());

    let forged = format!(
        ", annotations: {{applinks.io/oauth2-client-id: \"{victim_id}\", applinks.io/oauth2-client-name: Eclipse Che}}"
    );
    // Another name: a client of its own, the victim's untouched.
    e2e::apply(
        &env.ns,
        &sharded(
            &external_yaml("evil", "Evil Tool", "https://evil.example.test/cb", &forged),
            &shard,
        ),
    );
    let evil = wait_ext_reason(&env.client, &env.ns, "evil", "CredentialsDelivered").await;
    assert_ne!(evil["status"]["application"]["id"], victim_id.as_str());
    // The victim's name: refused outright.
    e2e::apply(
        &env.ns,
        &sharded(
            &external_yaml(
                "evil-same-name",
                "Eclipse Che",
                "https://evil.example.test/cb",
                &forged,
            ),
            &shard,
        ),
    );
    let refused = wait_ext_reason(&env.client, &env.ns, "evil-same-name", "ClaimedElsewhere").await;
    let (_, message) = ready_of(&refused);
    assert!(
        !message.contains("che-oauth") && !message.contains("\"che\""),
        "{message}"
    );
    assert_eq!(victim(&clients(&sim).await), before, "victim untouched");

    for name in ["evil", "evil-same-name"] {
        ext_api(&env.client, &env.ns)
            .delete(name, &Default::default())
            .await
            .unwrap();
        wait_ext_gone(&env.client, &env.ns, name).await;
    }
    let after = clients(&sim).await;
    assert_eq!(victim(&after), before, "victim's client kept, unchanged");
    assert_eq!(victim(&after)["redirects"], json!([victim_redirect]));
    assert!(
        !after.iter().any(|c| c["name"] == "Evil Tool"),
        "the attacker's own client went with it"
    );
    assert_eq!(
        secret_value(&env.client, &env.ns, "che-oauth").await,
        victim_secret
    );
    let che = wait_ext_reason(&env.client, &env.ns, "che", "CredentialsDelivered").await;
    assert_eq!(che["status"]["application"]["id"], victim_id.as_str());
}

/// OAuth 1.0a: a copy of an ExternalApplication (same tool URL, the older operator's
/// `applinks.io/oauth1-link-id` annotation forged) stops at `ClaimedElsewhere` and its deletion
/// leaves the original's generic link and consumer. And the original deletes only what the
/// application shows as its own: once the link's consumer is someone else's key, deleting the
/// original leaves the link, with a `LinkNotOwned` Warning event.
#[tokio::test]
async fn oauth1_deletion_deletes_only_the_generic_link_the_application_shows_as_its_own() {
    let env = e2e::env("claims-oauth1").await;
    let shard = env.ns.to_string();
    let sim = Sim::start(&e2e::apps(&[("jira", "jira")]));
    let _op = Operator::start_cluster_wide(&shard, &[], &[]);
    e2e::apply(
        &env.ns,
        &sharded(
            &e2e::instance_yaml("jira", sim.app("jira"), "jira", true),
            &shard,
        ),
    );
    let tool = |name: &str, annotations: &str| {
        format!(
            "apiVersion: applinks.io/v1alpha1\nkind: ExternalApplication\nmetadata: {{name: {name}{annotations}}}\nspec:\n  instanceRef: {{name: jira}}\n  oauth1:\n    url: https://tool.example.test\n    consumerKey: build-tool\n  secret:\n    data:\n      private.key: \"{{{{ privateKey }}}}\"\n"
        )
    };
    e2e::apply(&env.ns, &sharded(&tool("tool", ""), &shard));
    let v = wait_ext_reason(&env.client, &env.ns, "tool", "CredentialsDelivered").await;
    let link_id = v["status"]["application"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let consumer_of = |links: &std::collections::HashMap<String, Value>| {
        links.get(&link_id).map(|l| l["incoming"]["key"].clone())
    };
    assert_eq!(
        consumer_of(&sim.links("jira").await),
        Some(json!("build-tool"))
    );

    let forged = format!(", annotations: {{applinks.io/oauth1-link-id: \"{link_id}\"}}");
    e2e::apply(&env.ns, &sharded(&tool("tool-copy", &forged), &shard));
    wait_ext_reason(&env.client, &env.ns, "tool-copy", "ClaimedElsewhere").await;
    ext_api(&env.client, &env.ns)
        .delete("tool-copy", &Default::default())
        .await
        .unwrap();
    wait_ext_gone(&env.client, &env.ns, "tool-copy").await;
    assert_eq!(
        consumer_of(&sim.links("jira").await),
        Some(json!("build-tool")),
        "the copy's deletion left the original's link and consumer"
    );

    // Someone gives the link another consumer: it is no longer what this resource made.
    let public = sim.links("jira").await[&link_id]["incoming"]["public_key"].clone();
    let code = sim
        .send(
            "jira",
            reqwest::Method::PUT,
            &format!("rest/applinks-oauth/1.0/applicationlink/{link_id}/authentication/consumer"),
            Some(json!({"key": "intruder", "name": "Intruder", "publicKey": public, "outgoing": false})),
        )
        .await;
    assert!(code < 300, "consumer replaced: {code}");
    ext_api(&env.client, &env.ns)
        .delete("tool", &Default::default())
        .await
        .unwrap();
    wait_ext_gone(&env.client, &env.ns, "tool").await;
    assert_eq!(
        consumer_of(&sim.links("jira").await),
        Some(json!("intruder")),
        "a link whose consumer is not this resource's is left"
    );
    let events = e2e::kubectl(&env.ns, &["get", "events", "-o", "json"], None).unwrap();
    assert!(events.contains("LinkNotOwned"), "a Warning event says so");
}
