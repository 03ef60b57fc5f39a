//! ExternalApplication end to end: the real kube-apiserver, the operator binary and the
//! simulator's OAuth 2.0 provider and OAuth 1.0a consumers. Each scenario asserts on the
//! resource, on the Secret the tool reads, and on the application's own state and log.

mod common;

use std::collections::BTreeMap;

use common::e2e::{self, Operator, Sim, env};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

const EXT: &str = "externalapplication";

fn ext(client: &kube::Client, ns: &str) -> Api<kube::api::DynamicObject> {
    let ar = kube::api::ApiResource {
        group: "applinks.io".into(),
        version: "v1alpha1".into(),
        api_version: "applinks.io/v1alpha1".into(),
        kind: "ExternalApplication".into(),
        plural: "externalapplications".into(),
    };
    Api::namespaced_with(client.clone(), ns, &ar)
}

/// The resource's status, once `pred` holds for it.
async fn wait_ext<F>(client: &kube::Client, ns: &str, name: &str, what: &str, pred: F) -> Value
where
    F: Fn(&Value) -> bool,
{
    let api = ext(client, ns);
    e2e::wait_for(what, || {
        let api = api.clone();
        let pred = &pred;
        async move {
            let obj = api
                .get_opt(name)
                .await
                .map_err(|e| e.to_string())?
                .ok_or("not found")?;
            let v = serde_json::to_value(&obj).map_err(|e| e.to_string())?;
            if pred(&v) {
                Ok(v)
            } else {
                Err(format!("status {}", v["status"]))
            }
        }
    })
    .await
}

/// Waits until the resource is gone (its finalizer released).
async fn wait_ext_gone(client: &kube::Client, ns: &str, name: &str) {
    let api = ext(client, ns);
    e2e::wait_for(&format!("{name} gone"), || async {
        match api.get_opt(name).await {
            Ok(None) => Ok(()),
            other => Err(format!(
                "{:?}",
                other.map(|o| o.map(|o| o.data["status"].clone()))
            )),
        }
    })
    .await;
}

/// The resource's status once its credentials are delivered.
async fn wait_delivered(client: &kube::Client, ns: &str, name: &str) -> Value {
    wait_ext(
        client,
        ns,
        name,
        &format!("{name} delivered"),
        reason_is("CredentialsDelivered"),
    )
    .await
}

/// A test namespace, one simulated application named after its product (`extra`: more lines of
/// its config), its instance with the administrator's credentials, and an operator.
async fn one_app(prefix: &str, product: &str, extra: &str) -> (e2e::Env, Sim, Operator) {
    let env = env(prefix).await;
    let sim = Sim::start(&format!(
        "control_port: 0\napps:\n- name: {product}\n  product: {product}\n  key_bits: 1024\n{extra}"
    ));
    let op = Operator::start(&env.ns, &[]);
    e2e::apply(
        &env.ns,
        &e2e::instance_yaml(product, sim.app(product), product, true),
    );
    (env, sim, op)
}

fn ready(v: &Value) -> Option<(&str, &str, &str)> {
    let c = v["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")?;
    Some((
        c["status"].as_str()?,
        c["reason"].as_str()?,
        c["message"].as_str().unwrap_or_default(),
    ))
}

fn reason_is(reason: &'static str) -> impl Fn(&Value) -> bool {
    move |v| ready(v).is_some_and(|(_, r, _)| r == reason)
}

async fn secret_data(
    client: &kube::Client,
    ns: &str,
    name: &str,
) -> Option<BTreeMap<String, String>> {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    let s = api.get_opt(name).await.ok().flatten()?;
    Some(
        s.data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8(v.0).unwrap()))
            .collect(),
    )
}

/// The simulated application's clients, secrets included (the test's view).
async fn clients(sim: &Sim, app: &str) -> Vec<Value> {
    sim.control(app, reqwest::Method::GET, "oauth2", None).await["clients"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn writes_to(entries: &[Value], prefix: &str) -> usize {
    entries
        .iter()
        .filter(|e| {
            matches!(e["method"].as_str(), Some("POST" | "PUT" | "DELETE"))
                && e["path"].as_str().is_some_and(|p| p.starts_with(prefix))
        })
        .count()
}

const CHE: &str = r#"apiVersion: applinks.io/v1alpha1
kind: ExternalApplication
metadata: {name: che}
spec:
  instanceRef: {name: bitbucket}
  displayName: Eclipse Che
  oauth2:
    redirectUris: ["https://che.example.test/api/oauth/callback"]
    scope: REPO_WRITE
  secret:
    name: bitbucket-oauth-config
    labels:
      app.kubernetes.io/part-of: che.eclipse.org
      app.kubernetes.io/component: oauth-scm-configuration
    annotations:
      che.eclipse.org/oauth-scm-server: bitbucket
      che.eclipse.org/scm-server-endpoint: "{{ baseUrl }}"
    data:
      id: "{{ clientId }}"
      secret: "{{ clientSecret }}"
"#;

/// The whole life of an OAuth 2.0 client: created with the Secret Che reads; deleted behind the
/// operator's back and made again; rotated on demand; deleted with the resource.
#[tokio::test]
async fn oauth2_client_is_created_repaired_rotated_and_deleted() {
    let (env, sim, op) = one_app("ext-oauth2", "bitbucket", "").await;
    e2e::apply(&env.ns, CHE);
    let v = wait_delivered(&env.client, &env.ns, "che").await;
    let client_id = v["status"]["clientId"].as_str().unwrap().to_string();
    let data = secret_data(&env.client, &env.ns, "bitbucket-oauth-config")
        .await
        .unwrap();
    assert_eq!(data.keys().collect::<Vec<_>>(), ["id", "secret"]);
    assert_eq!(data["id"], client_id);
    let in_app = clients(&sim, "bitbucket").await;
    assert_eq!(in_app.len(), 1, "{in_app:?}");
    assert_eq!(in_app[0]["clientId"], client_id.as_str());
    assert_eq!(in_app[0]["clientSecret"], data["secret"].as_str());
    assert_eq!(in_app[0]["name"], "Eclipse Che");
    assert_eq!(in_app[0]["scope"], "REPO_WRITE");
    // The Secret is shaped for Che and owned by the resource; the secret is nowhere else.
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), &env.ns);
    let s = secrets.get("bitbucket-oauth-config").await.unwrap();
    let labels = s.metadata.labels.clone().unwrap();
    assert_eq!(
        labels["app.kubernetes.io/component"],
        "oauth-scm-configuration"
    );
    let ann = s.metadata.annotations.clone().unwrap();
    assert_eq!(
        ann["che.eclipse.org/scm-server-endpoint"],
        sim.app("bitbucket").base_url.trim_end_matches('/')
    );
    assert_eq!(
        s.metadata.owner_references.unwrap()[0].kind,
        "ExternalApplication"
    );
    let mut issued = vec![data["secret"].clone()];

    // Deleted in the application behind the operator's back: made again at the next resync,
    // and the Secret follows.
    let old_id = in_app[0]["id"].as_str().unwrap().to_string();
    let code = sim
        .send(
            "bitbucket",
            reqwest::Method::DELETE,
            &format!("rest/oauth2/latest/client/{old_id}"),
            None,
        )
        .await;
    assert_eq!(code, 200);
    let v = wait_ext(&env.client, &env.ns, "che", "che recreated", |v| {
        v["status"]["clientId"]
            .as_str()
            .is_some_and(|c| c != client_id)
            && reason_is("CredentialsDelivered")(v)
    })
    .await;
    let new_client_id = v["status"]["clientId"].as_str().unwrap().to_string();
    let data = e2e::wait_for("Secret follows the new client", || async {
        let d = secret_data(&env.client, &env.ns, "bitbucket-oauth-config")
            .await
            .ok_or("no Secret")?;
        if d["id"] == new_client_id {
            Ok(d)
        } else {
            Err(format!("id {}", d["id"]))
        }
    })
    .await;
    issued.push(data["secret"].clone());
    let in_app = clients(&sim, "bitbucket").await;
    assert_eq!(in_app.len(), 1, "one client, never two: {in_app:?}");
    assert_eq!(in_app[0]["clientSecret"], data["secret"].as_str());

    // Rotation on demand: a new secret in the application and in the Secret.
    let api = ext(&env.client, &env.ns);
    let old_secret = data["secret"].clone();
    api.patch(
        "che",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {"applinks.io/rotate": "1"}}})),
    )
    .await
    .unwrap();
    wait_ext(&env.client, &env.ns, "che", "rotation handled", |v| {
        v["status"]["rotationRequest"] == "1" && reason_is("CredentialsDelivered")(v)
    })
    .await;
    let data = secret_data(&env.client, &env.ns, "bitbucket-oauth-config")
        .await
        .unwrap();
    assert_ne!(data["secret"], old_secret);
    issued.push(data["secret"].clone());
    let in_app = clients(&sim, "bitbucket").await;
    assert_eq!(in_app[0]["clientSecret"], data["secret"].as_str());
    assert_eq!(
        in_app[0]["clientId"],
        new_client_id.as_str(),
        "rotation keeps the client id"
    );

    // Settled: passes at the resync read, never write.
    let before = writes_to(&sim.log_entries("bitbucket").await, "/rest/oauth2");
    tokio::time::sleep(std::time::Duration::from_secs(8)).await;
    let after = writes_to(&sim.log_entries("bitbucket").await, "/rest/oauth2");
    assert_eq!(before, after, "no write while nothing changes");

    // No issued secret in the operator's debug log, the resource or its events.
    let seen = format!(
        "{}\n{}",
        op.logs(),
        e2e::kubectl(
            &env.ns,
            &["get", "externalapplications,events", "-o", "json"],
            None
        )
        .unwrap()
    );
    for secret in &issued {
        assert!(!seen.contains(secret.as_str()), "a client secret leaked");
    }

    // Deleted with the resource: the client goes (verified), then the Secret (ownerReference).
    e2e::delete(&env.ns, EXT, "che");
    wait_ext_gone(&env.client, &env.ns, "che").await;
    assert!(clients(&sim, "bitbucket").await.is_empty());
    e2e::wait_for("Secret collected", || async {
        match secret_data(&env.client, &env.ns, "bitbucket-oauth-config").await {
            None => Ok(()),
            Some(_) => Err("still there".to_string()),
        }
    })
    .await;
}

/// What users get wrong, each a clear condition and nothing half-made in the application.
#[tokio::test]
async fn oauth2_bad_input_is_reported_and_nothing_is_created() {
    let env = env("ext-bad").await;
    let sim = Sim::start(
        "control_port: 0\napps:\n- name: bitbucket\n  product: bitbucket\n  key_bits: 1024\n- name: jira\n  product: jira\n  key_bits: 1024\n  users:\n  - {username: admin, password: admin, role: admin}\n- name: old\n  product: bitbucket\n  version: 7.17.0\n  key_bits: 1024\n",
    );
    let _op = Operator::start(&env.ns, &[]);
    for (name, type_) in [
        ("bitbucket", "bitbucket"),
        ("jira", "jira"),
        ("old", "bitbucket"),
    ] {
        e2e::apply(
            &env.ns,
            &e2e::instance_yaml(name, sim.app(name), type_, true),
        );
    }
    // Someone else's client has the name; someone else's Secret has the Secret's name.
    let code = sim
        .send(
            "bitbucket",
            reqwest::Method::POST,
            "rest/oauth2/latest/client",
            Some(json!({"name": "taken", "redirects": ["https://x.example.test/cb"], "scope": "REPO_READ"})),
        )
        .await;
    assert_eq!(code, 200);
    e2e::apply(
        &env.ns,
        "apiVersion: v1\nkind: Secret\nmetadata: {name: theirs}\nstringData: {keep: me}\n",
    );
    let one = |name: &str, instance: &str, extra: &str, scope: &str| {
        format!(
            "apiVersion: applinks.io/v1alpha1\nkind: ExternalApplication\nmetadata: {{name: {name}}}\nspec:\n  instanceRef: {{name: {instance}}}\n  oauth2:\n    redirectUris: [\"https://tool.example.test/cb\"]\n    scope: {scope}\n{extra}"
        )
    };
    e2e::apply(&env.ns, &one("scope", "bitbucket", "", "WRITE"));
    e2e::apply(&env.ns, &one("taken", "bitbucket", "", "REPO_READ"));
    e2e::apply(
        &env.ns,
        &one(
            "secret",
            "bitbucket",
            "  secret: {name: theirs}\n",
            "REPO_READ",
        ),
    );
    e2e::apply(&env.ns, &one("admin", "jira", "", "READ"));
    e2e::apply(&env.ns, &one("old", "old", "", "REPO_READ"));
    e2e::apply(
        &env.ns,
        &one(
            "tmpl",
            "bitbucket",
            "  secret:\n    data: {x: \"{{ clientID }}\"}\n",
            "REPO_READ",
        ),
    );
    for (name, reason, says) in [
        ("scope", "ScopeNotOffered", "REPO_WRITE"),
        ("taken", "ClientNameTaken", "spec.displayName"),
        ("secret", "SecretNotOwned", "will not overwrite"),
        ("admin", "NotSystemAdministrator", "System Administrator"),
        ("old", "OAuth2NotSupported", "7.20"),
        ("tmpl", "InvalidSecretTemplate", "clientID"),
    ] {
        let v = wait_ext(&env.client, &env.ns, name, name, reason_is(reason)).await;
        let (status, _, message) = ready(&v).unwrap();
        assert_eq!(status, "False", "{name}");
        assert!(message.contains(says), "{name}: {message}");
        let stalled = v["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["type"] == "Stalled" && c["status"] == "True");
        assert!(stalled, "{name}: a person must act");
    }
    let in_app = clients(&sim, "bitbucket").await;
    assert_eq!(in_app.len(), 1, "only the pre-existing client: {in_app:?}");
    assert_eq!(in_app[0]["name"], "taken");
    assert!(clients(&sim, "jira").await.is_empty());
    let theirs = secret_data(&env.client, &env.ns, "theirs").await.unwrap();
    assert_eq!(
        theirs,
        BTreeMap::from([("keep".to_string(), "me".to_string())])
    );
    // The plain admin's 401 from the provider is about permission: the instance keeps its
    // credentials and stays Ready.
    let jira = e2e::instance(&env.client, &env.ns, "jira").await;
    let jira_ready = jira
        .status
        .unwrap()
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(jira_ready.status, "True", "{}", jira_ready.message);
    // Fixing the scope makes it Ready without anything else.
    e2e::apply(&env.ns, &one("scope", "bitbucket", "", "REPO_WRITE"));
    wait_ext(
        &env.client,
        &env.ns,
        "scope",
        "scope fixed",
        reason_is("CredentialsDelivered"),
    )
    .await;
}

/// OAuth 1.0a: a generic link to the tool and its consumer, the key pair generated by the
/// operator (the private key only in the Secret), rotated on demand, deleted with the resource.
#[tokio::test]
async fn oauth1_consumer_with_a_generated_key_pair() {
    use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
    let (env, sim, op) = one_app("ext-oauth1", "jira", "").await;
    e2e::apply(
        &env.ns,
        "apiVersion: applinks.io/v1alpha1\nkind: ExternalApplication\nmetadata: {name: tool}\nspec:\n  instanceRef: {name: jira}\n  displayName: Build tool\n  oauth1:\n    url: https://tool.example.test\n    consumerKey: build-tool\n  secret:\n    data:\n      consumer.key: \"{{ consumerKey }}\"\n      private.key: \"{{ privateKey }}\"\n",
    );
    let v = wait_delivered(&env.client, &env.ns, "tool").await;
    assert_eq!(v["status"]["clientId"], "build-tool");
    let data = secret_data(&env.client, &env.ns, "tool-oauth")
        .await
        .unwrap();
    assert_eq!(data["consumer.key"], "build-tool");
    let private =
        rsa::RsaPrivateKey::from_pkcs8_pem(&data["private.key"]).expect("a PKCS#8 private key");
    let public = private
        .to_public_key()
        .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
        .unwrap();
    let link_id = v["status"]["application"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let links = sim.links("jira").await;
    let link = &links[&link_id];
    assert_eq!(link["typeId"], "generic", "{link}");
    let key_body =
        |pem: &str| -> String { pem.lines().filter(|l| !l.starts_with("-----")).collect() };
    assert_eq!(
        link["incoming"]["key"], "build-tool",
        "the consumer is on the link: {link}"
    );
    assert_eq!(
        key_body(link["incoming"]["public_key"].as_str().unwrap()),
        key_body(&public),
        "the consumer trusts the Secret's key: {link}"
    );
    let seen = format!(
        "{}\n{}",
        op.logs(),
        e2e::kubectl(
            &env.ns,
            &["get", "externalapplications,events", "-o", "json"],
            None
        )
        .unwrap()
    );
    assert!(!seen.contains("PRIVATE KEY"), "the private key leaked");

    // Rotation: a new key pair in the Secret and on the consumer.
    let api = ext(&env.client, &env.ns);
    api.patch(
        "tool",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {"applinks.io/rotate": "r1"}}})),
    )
    .await
    .unwrap();
    wait_ext(&env.client, &env.ns, "tool", "rotated", |v| {
        v["status"]["rotationRequest"] == "r1" && reason_is("CredentialsDelivered")(v)
    })
    .await;
    let rotated = secret_data(&env.client, &env.ns, "tool-oauth")
        .await
        .unwrap();
    assert_ne!(rotated["private.key"], data["private.key"]);
    let links = sim.links("jira").await;
    assert_ne!(
        key_body(links[&link_id]["incoming"]["public_key"].as_str().unwrap()),
        key_body(&public),
        "the old key is no longer trusted"
    );

    e2e::delete(&env.ns, EXT, "tool");
    wait_ext_gone(&env.client, &env.ns, "tool").await;
    assert!(
        !sim.links("jira").await.contains_key(&link_id),
        "the link and its consumer are gone"
    );
}

/// A provider that shows a secret only once (create and reset): the operator keeps it from the
/// create, and when the Secret is lost it issues a new one rather than leave the tool without.
#[tokio::test]
async fn oauth2_secret_shown_only_once_is_kept_and_reissued_when_the_secret_is_lost() {
    let (env, sim, _op) = one_app(
        "ext-once",
        "bitbucket",
        "  oauth2: {secret_shown_once: true}\n",
    )
    .await;
    e2e::apply(&env.ns, CHE);
    wait_delivered(&env.client, &env.ns, "che").await;
    let (code, listed) = sim.get("bitbucket", "rest/oauth2/latest/client").await;
    assert_eq!(code, 200);
    assert!(
        listed[0].get("clientSecret").is_none(),
        "the provider hides it: {listed}"
    );
    let first = secret_data(&env.client, &env.ns, "bitbucket-oauth-config")
        .await
        .unwrap();
    assert_eq!(
        clients(&sim, "bitbucket").await[0]["clientSecret"],
        first["secret"].as_str()
    );
    // Settled passes do not rotate a secret they cannot read back.
    tokio::time::sleep(std::time::Duration::from_secs(7)).await;
    let same = secret_data(&env.client, &env.ns, "bitbucket-oauth-config")
        .await
        .unwrap();
    assert_eq!(same, first, "kept, not reissued");

    e2e::delete(&env.ns, "secret", "bitbucket-oauth-config");
    let again = e2e::wait_for("Secret written again", || async {
        match secret_data(&env.client, &env.ns, "bitbucket-oauth-config").await {
            Some(d) if d["secret"] != first["secret"] => Ok(d),
            other => Err(format!(
                "{:?}",
                other.map(|d| d.keys().cloned().collect::<Vec<_>>())
            )),
        }
    })
    .await;
    assert_eq!(again["id"], first["id"], "the same client");
    assert_eq!(
        clients(&sim, "bitbucket").await[0]["clientSecret"],
        again["secret"].as_str()
    );
}

/// An application that is down: retried with backoff (Reconciling, not Stalled), and Ready by
/// itself once it is back.
#[tokio::test]
async fn oauth2_with_the_application_down_waits_and_recovers() {
    let (env, sim, _op) = one_app("ext-down", "bitbucket", "").await;
    e2e::wait_instance(&env.client, &env.ns, "bitbucket", "Ready", |(s, _, _)| {
        s == "True"
    })
    .await;
    sim.control("bitbucket", reqwest::Method::POST, "stop", None)
        .await;
    e2e::apply(&env.ns, CHE);
    let v = wait_ext(&env.client, &env.ns, "che", "che waits", |v| {
        ready(v).is_some_and(|(s, r, _)| {
            s == "False" && ["Unreachable", "InstanceNotReady", "TransportError"].contains(&r)
        })
    })
    .await;
    let conditions = v["status"]["conditions"].as_array().unwrap();
    assert!(
        conditions
            .iter()
            .any(|c| c["type"] == "Reconciling" && c["status"] == "True"),
        "retried, not stalled: {conditions:?}"
    );
    assert!(
        !conditions
            .iter()
            .any(|c| c["type"] == "Stalled" && c["status"] == "True")
    );
    assert!(clients(&sim, "bitbucket").await.is_empty());
    sim.control("bitbucket", reqwest::Method::POST, "start", None)
        .await;
    wait_ext(
        &env.client,
        &env.ns,
        "che",
        "che recovered",
        reason_is("CredentialsDelivered"),
    )
    .await;
    assert_eq!(clients(&sim, "bitbucket").await.len(), 1);
}

/// The Python of e2e/oauth-clients (authlib, pinned), built or reused by its setup script.
fn oauth_python() -> String {
    let out = std::process::Command::new(common::repo_path("e2e/oauth-clients/setup.sh"))
        .output()
        .expect("e2e/oauth-clients/setup.sh runs");
    assert!(
        out.status.success(),
        "setup.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Runs one of the client scripts with these environment variables; (exit ok, stdout, stderr).
fn run_client(py: &str, script: &str, env: &[(&str, &str)]) -> (bool, Value, String) {
    let out = std::process::Command::new(py)
        .arg(common::repo_path(&format!("e2e/oauth-clients/{script}")))
        .envs(env.iter().copied())
        .output()
        .expect("the client script runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    (
        out.status.success(),
        serde_json::from_str(&stdout).unwrap_or(Value::Null),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// authlib's OAuth 1.0a dance as the user `user`, signing with the private key in `key_pem`.
fn oauth1_flow(
    py: &str,
    consumer_key: &str,
    key_pem: &str,
    base_url: &str,
) -> (bool, Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("private.key");
    std::fs::write(&key_file, key_pem).unwrap();
    run_client(
        py,
        "oauth1_flow.py",
        &[
            ("OAUTH1_CONSUMER_KEY", consumer_key),
            ("OAUTH1_PRIVATE_KEY_FILE", key_file.to_str().unwrap()),
            ("OAUTH1_BASE_URL", base_url),
            ("OAUTH1_USERNAME", "user"),
            ("OAUTH1_PASSWORD", "user"),
            ("OAUTH1_REST_PATH", "/rest/api/2/myself"),
        ],
    )
}

/// A tool that nobody on this project wrote (authlib's OAuth 2.0 client) completes the
/// authorization-code flow with PKCE using only what the Secret holds, calls the REST API,
/// refreshes; after a rotation the old secret fails and the new one works; after the resource
/// is deleted its token fails.
#[tokio::test]
async fn a_real_oauth2_client_works_with_only_the_secret() {
    let py = oauth_python();
    let (env, sim, _op) = one_app(
        "ext-authlib",
        "jira",
        "  oauth2: {skip_base_url_https: true}\n",
    )
    .await;
    e2e::apply(
        &env.ns,
        "apiVersion: applinks.io/v1alpha1\nkind: ExternalApplication\nmetadata: {name: tool}\nspec:\n  instanceRef: {name: jira}\n  displayName: Build tool\n  oauth2:\n    redirectUris: [\"http://localhost:8765/callback\"]\n    scope: WRITE\n",
    );
    wait_delivered(&env.client, &env.ns, "tool").await;
    let data = secret_data(&env.client, &env.ns, "tool-oauth")
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    let flow = |d: &BTreeMap<String, String>| {
        run_client(
            &py,
            "oauth2_flow.py",
            &[
                ("OAUTH2_CLIENT_ID", d["clientId"].as_str()),
                ("OAUTH2_CLIENT_SECRET", d["clientSecret"].as_str()),
                ("OAUTH2_AUTHORIZE_URL", d["authorizeUrl"].as_str()),
                ("OAUTH2_TOKEN_URL", d["tokenUrl"].as_str()),
                ("OAUTH2_USERNAME", "user"),
                ("OAUTH2_PASSWORD", "user"),
                ("OAUTH2_REDIRECT_URI", "http://localhost:8765/callback"),
                ("OAUTH2_SCOPE", "READ"),
                ("OAUTH2_REST_PATH", "/rest/api/2/myself"),
                ("OAUTH2_TOKEN_FILE", token_file.to_str().unwrap()),
            ],
        )
    };
    let (ok, result, stderr) = flow(&data);
    assert!(ok, "authlib's flow failed: {stderr}");
    assert_eq!(result["rest_status"], 200, "{result}");
    assert_eq!(result["rest_user"], "user", "{result}");
    assert_eq!(result["refresh"]["rotated"], true, "{result}");
    assert_eq!(result["rest_status_after_refresh"], 200, "{result}");

    // Rotation: the old secret is refused at the token endpoint, the Secret's new one works.
    ext(&env.client, &env.ns)
        .patch(
            "tool",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"applinks.io/rotate": "now"}}})),
        )
        .await
        .unwrap();
    wait_ext(&env.client, &env.ns, "tool", "rotated", |v| {
        v["status"]["rotationRequest"] == "now" && reason_is("CredentialsDelivered")(v)
    })
    .await;
    let rotated = secret_data(&env.client, &env.ns, "tool-oauth")
        .await
        .unwrap();
    assert_ne!(rotated["clientSecret"], data["clientSecret"]);
    let (ok, _, stderr) = flow(&data);
    assert!(!ok, "the old secret still works");
    assert!(stderr.contains("invalid_client"), "{stderr}");
    let (ok, result, stderr) = flow(&rotated);
    assert!(ok, "the rotated secret fails: {stderr}");
    assert_eq!(result["rest_status"], 200);

    // Deleting the resource deletes the client, and with it the tool's tokens.
    let token = std::fs::read_to_string(&token_file).unwrap();
    let myself = format!("{}/rest/api/2/myself", sim.app("jira").base_url);
    let status = reqwest::Client::new()
        .get(&myself)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200, "the token works before the deletion");
    e2e::delete(&env.ns, EXT, "tool");
    wait_ext_gone(&env.client, &env.ns, "tool").await;
    let status = reqwest::Client::new()
        .get(&myself)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401, "the token dies with the client");
}

/// A real OAuth 1.0a client (authlib, RSA-SHA1) signs with the private key the operator put in
/// the Secret, completes the three-legged dance and calls the REST API.
#[tokio::test]
async fn a_real_oauth1_client_works_with_only_the_secret() {
    let py = oauth_python();
    let (env, sim, _op) = one_app("ext-oauth1-authlib", "jira", "").await;
    e2e::apply(
        &env.ns,
        "apiVersion: applinks.io/v1alpha1\nkind: ExternalApplication\nmetadata: {name: tool}\nspec:\n  instanceRef: {name: jira}\n  oauth1:\n    url: https://tool.example.test\n    consumerKey: build-tool\n  secret:\n    data:\n      consumer.key: \"{{ consumerKey }}\"\n      private.key: \"{{ privateKey }}\"\n",
    );
    wait_delivered(&env.client, &env.ns, "tool").await;
    let data = secret_data(&env.client, &env.ns, "tool-oauth")
        .await
        .unwrap();
    let (ok, result, stderr) = oauth1_flow(
        &py,
        &data["consumer.key"],
        &data["private.key"],
        &sim.app("jira").base_url,
    );
    assert!(ok, "authlib's OAuth 1.0a dance failed: {stderr}");
    assert_eq!(result["rest_status"], 200, "{result}");
    assert_eq!(
        result["rest_user"], "user",
        "signed as the approving user: {result}"
    );
    assert_eq!(result["signature_method"], "RSA-SHA1", "{result}");
}

/// The tool keeps its own key pair: the operator trusts the public key from the tool's Secret,
/// writes no key at all, and a real client signs with the tool's private key. `Orphan` leaves
/// the link and its consumer in the application.
#[tokio::test]
async fn oauth1_with_the_tools_own_key_and_orphan_deletion() {
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    let py = oauth_python();
    let (env, sim, _op) = one_app("ext-toolkey", "jira", "").await;
    let private = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
    let public = private
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let pem = private.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
    let indented: String = public.lines().map(|l| format!("    {l}\n")).collect();
    e2e::apply(
        &env.ns,
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: tool-public-key}}\nstringData:\n  publicKey: |\n{indented}"
        ),
    );
    e2e::apply(
        &env.ns,
        "apiVersion: applinks.io/v1alpha1\nkind: ExternalApplication\nmetadata: {name: tool}\nspec:\n  instanceRef: {name: jira}\n  oauth1:\n    url: https://tool.example.test\n    consumerKey: own-key-tool\n    publicKeySecretRef: {name: tool-public-key, key: publicKey}\n  secret:\n    data:\n      consumer.key: \"{{ consumerKey }}\"\n  deletionPolicy: Orphan\n",
    );
    let v = wait_delivered(&env.client, &env.ns, "tool").await;
    let data = secret_data(&env.client, &env.ns, "tool-oauth")
        .await
        .unwrap();
    assert_eq!(
        data,
        BTreeMap::from([("consumer.key".to_string(), "own-key-tool".to_string())])
    );
    let (ok, result, stderr) = oauth1_flow(&py, "own-key-tool", &pem, &sim.app("jira").base_url);
    assert!(ok, "the tool's own key is not trusted: {stderr}");
    assert_eq!(result["rest_status"], 200, "{result}");

    let link_id = v["status"]["application"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    e2e::delete(&env.ns, EXT, "tool");
    wait_ext_gone(&env.client, &env.ns, "tool").await;
    assert!(
        sim.links("jira").await.contains_key(&link_id),
        "deletionPolicy Orphan leaves the link and its consumer"
    );
}
