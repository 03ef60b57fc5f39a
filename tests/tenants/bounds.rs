//! Findings 3, 9 and 10: what a hostile application or tenant can make the operator hold,
//! render, retry or repeat. A provider advertising megabyte URLs and a template naming them
//! thousands of times (the memory bomb), a server echoing the request's Authorization header,
//! and a rotation whose Secret cannot be written. The harm is checked where it would land: the
//! operator's peak memory (VmHWM), what the applications hold (clients, resets), the
//! conditions, events and log.

use std::collections::BTreeMap;

use applink_operator::crd::{ApplicationInstance, ExternalApplication};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use serde_json::{Value, json};

use crate::common::e2e::{self, Operator, SHARD_LABEL, Sim, SimApp};

/// Peak resident memory the operator may reach under the bombs. A debug build idles at a few
/// tens of MiB; before the caps one bomb asked for tens of GiB.
const MAX_PEAK_RSS_KIB: u64 = 256 * 1024;

/// An administrator's Secret (opted in for the instance's URL, as the Secret opt-in asks) and
/// an ApplicationInstance of the shard.
fn instance(name: &str, app: &SimApp, shard: &str, password: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}-admin\n  annotations: {{applinks.io/allowed-urls: \"{url}\"}}\nstringData: {{username: admin, password: \"{password}\"}}\n---\napiVersion: applinks.io/v1alpha1\nkind: ApplicationInstance\nmetadata:\n  name: {name}\n  labels: {{{SHARD_LABEL}: {shard}}}\nspec:\n  url: {url}\n  type: jira\n  credentialsSecretRef: {{name: {name}-admin}}\n",
        url = app.base_url
    )
}

/// An OAuth 2.0 ExternalApplication of the shard, with `data` as its Secret template (the
/// default keys when empty).
fn external(name: &str, instance: &str, shard: &str, data: &BTreeMap<String, String>) -> String {
    let mut spec = json!({
        "instanceRef": {"name": instance},
        "oauth2": {"redirectUris": ["https://tool.example.test/cb"], "scope": "WRITE"},
    });
    if !data.is_empty() {
        spec["secret"] = json!({ "data": data });
    }
    json!({
        "apiVersion": "applinks.io/v1alpha1",
        "kind": "ExternalApplication",
        "metadata": {"name": name, "labels": {SHARD_LABEL: shard}},
        "spec": spec,
    })
    .to_string()
}

/// The Ready condition's (reason, message) of an ExternalApplication, if any.
async fn ready(client: &kube::Client, ns: &str, name: &str) -> Result<(String, String), String> {
    let obj = Api::<ExternalApplication>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("not found")?;
    let c = obj
        .status
        .iter()
        .flat_map(|s| s.conditions.iter())
        .find(|c| c.type_ == "Ready")
        .ok_or("no Ready condition yet")?;
    Ok((c.reason.clone(), c.message.clone()))
}

async fn wait_reason(client: &kube::Client, ns: &str, name: &str, reason: &str) -> String {
    e2e::wait_for(&format!("{ns}/{name} Ready reason {reason}"), || async {
        let (r, m) = ready(client, ns, name).await?;
        if r == reason {
            Ok(m)
        } else {
            Err(format!("{r}: {m}"))
        }
    })
    .await
}

/// The operator's peak resident memory (`VmHWM`), in KiB.
fn peak_rss_kib(op: &Operator) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", op.pid())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/<pid>/status")
}

/// Requests an app logged whose method is `method` and whose path contains `part`.
async fn requests(sim: &Sim, app: &str, method: &str, part: &str) -> usize {
    sim.log_entries(app)
        .await
        .iter()
        .filter(|e| e["method"] == method && e["path"].as_str().is_some_and(|p| p.contains(part)))
        .count()
}

async fn oauth2_clients(sim: &Sim, app: &str) -> Vec<Value> {
    sim.control(app, reqwest::Method::GET, "oauth2", None).await["clients"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn set_faults(sim: &Sim, app: &str, rules: Value) {
    sim.control(
        app,
        reqwest::Method::PUT,
        "faults",
        Some(json!({ "responses": rules })),
    )
    .await;
}

const WELL_KNOWN: &str = "/rest/oauth2/latest/.well-known";

/// Tenant A's two bombs: a provider whose endpoints are 1.8 MB each, and one whose endpoints
/// are just under the URL cap named 1,365 times in each of 32 keys (16 KiB of placeholders per
/// key: about 87 GB rendered). The operator stays up and small, refuses both with their
/// documented reasons, creates nothing in either application, and tenant B's client next door
/// is delivered all the while.
#[tokio::test]
async fn megabyte_urls_and_a_template_bomb_cost_the_operator_little() {
    let env = e2e::env("bounds-bomb-a").await;
    let ns_b = crate::common::namespace(&env.client, "bounds-bomb-b").await;
    let shard = env.ns.name().to_string();
    let sim = Sim::start(&e2e::apps(&[
        ("mb", "jira"),
        ("kb", "jira"),
        ("good", "jira"),
    ]));
    set_faults(
        &sim,
        "mb",
        json!([{"kind": "long-strings", "path": WELL_KNOWN,
                "fields": ["authorization_endpoint", "token_endpoint"], "bytes": 1_800_000}]),
    )
    .await;
    set_faults(
        &sim,
        "kb",
        json!([{"kind": "long-strings", "path": WELL_KNOWN,
                "fields": ["token_endpoint"], "bytes": 2000}]),
    )
    .await;
    let mut op = Operator::start_cluster_wide(&shard, &[], &[]);
    let bomb_value = "{{tokenUrl}}".repeat(16384 / 12);
    let bomb: BTreeMap<String, String> = (0..32)
        .map(|i| (format!("k{i:02}"), bomb_value.clone()))
        .collect();
    for app in ["mb", "kb"] {
        e2e::apply(&env.ns, &instance(app, sim.app(app), &shard, "admin"));
    }
    // Created, not applied: a client-side apply would copy the 512 KiB spec into an annotation.
    for (name, app) in [("bomb-urls", "mb"), ("bomb-template", "kb")] {
        e2e::kubectl(
            &env.ns,
            &["create", "-f", "-"],
            Some(&external(name, app, &shard, &bomb)),
        )
        .unwrap_or_else(|e| panic!("creating {name}: {}", &e[..e.len().min(500)]));
    }
    e2e::apply(&ns_b, &instance("good", sim.app("good"), &shard, "admin"));
    e2e::apply(&ns_b, &external("tool", "good", &shard, &BTreeMap::new()));

    let urls = wait_reason(&env.client, &env.ns, "bomb-urls", "RemoteValueTooLong").await;
    assert!(
        urls.contains("token_endpoint") || urls.contains("authorization_endpoint"),
        "{urls}"
    );
    let template = wait_reason(&env.client, &env.ns, "bomb-template", "SecretTooLarge").await;
    assert!(template.contains("is named 1365 times"), "{template}");
    wait_reason(&env.client, &ns_b, "tool", "CredentialsDelivered").await;
    // Several passes over both bombs (each reads the provider again), not just the first.
    let passes = e2e::wait_for("three passes over each bomb", || async {
        let mb = requests(&sim, "mb", "GET", WELL_KNOWN).await;
        let kb = requests(&sim, "kb", "GET", WELL_KNOWN).await;
        if mb >= 3 && kb >= 3 {
            Ok((mb, kb))
        } else {
            Err(format!("mb {mb}, kb {kb}"))
        }
    })
    .await;

    assert!(op.is_running(), "the operator is up:\n{}", op.logs());
    let peak = peak_rss_kib(&op);
    eprintln!("bounds: peak RSS under the bombs: {peak} KiB after {passes:?} passes");
    assert!(
        peak < MAX_PEAK_RSS_KIB,
        "peak RSS {peak} KiB under the bombs (limit {MAX_PEAK_RSS_KIB} KiB)"
    );
    for app in ["mb", "kb"] {
        assert_eq!(
            oauth2_clients(&sim, app).await,
            Vec::<Value>::new(),
            "{app}"
        );
    }
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), &env.ns);
    for name in ["bomb-urls-oauth", "bomb-template-oauth"] {
        assert!(secrets.get_opt(name).await.unwrap().is_none(), "{name}");
    }
    assert_eq!(oauth2_clients(&sim, "good").await.len(), 1);
}

/// Removes a cluster-scoped admission policy and its binding when the test ends, also when it
/// fails.
struct Policy(String);

impl Drop for Policy {
    fn drop(&mut self) {
        for kind in [
            "validatingadmissionpolicybinding",
            "validatingadmissionpolicy",
        ] {
            let _ = e2e::kubectl(
                "default",
                &["delete", kind, &self.0, "--ignore-not-found"],
                None,
            );
        }
    }
}

/// A ValidatingAdmissionPolicy that refuses every create and update of Secret `secret` in `ns`:
/// dry runs included (admission runs for them too), or only real writes (`dry_runs: false`, as
/// an outage between the dry run and the write would).
fn deny_secret_writes(ns: &str, secret: &str, dry_runs: bool) -> Policy {
    let name = format!("deny-{ns}-{secret}");
    let expression = if dry_runs {
        format!("object.metadata.name != '{secret}'")
    } else {
        format!("request.dryRun == true || object.metadata.name != '{secret}'")
    };
    let yaml = format!(
        r#"apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {{name: {name}}}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - apiGroups: [""]
      apiVersions: ["v1"]
      operations: ["CREATE", "UPDATE"]
      resources: ["secrets"]
    namespaceSelector:
      matchLabels: {{kubernetes.io/metadata.name: {ns}}}
  validations:
  - expression: "{expression}"
    message: "the test denies writes to Secret {secret}"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {{name: {name}}}
spec:
  policyName: {name}
  validationActions: [Deny]
"#
    );
    e2e::apply("default", &yaml);
    Policy(name)
}

/// A rotation asked for while the API server refuses the Secret write: the operator asks a dry
/// run first and issues no new secret (the application counts no reset, and the secret it holds
/// is still the one in the Secret) however often it retries; once writes are allowed again the
/// rotation happens exactly once.
#[tokio::test]
async fn rotation_with_the_secret_write_denied_issues_no_secret() {
    let env = e2e::env("bounds-rotate").await;
    let shard = env.ns.name().to_string();
    let sim = Sim::start(&e2e::apps(&[("jira", "jira")]));
    let _op = Operator::start_cluster_wide(&shard, &[], &[]);
    e2e::apply(&env.ns, &instance("jira", sim.app("jira"), &shard, "admin"));
    e2e::apply(&env.ns, &external("tool", "jira", &shard, &BTreeMap::new()));
    wait_reason(&env.client, &env.ns, "tool", "CredentialsDelivered").await;
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), &env.ns);
    let client_secret =
        |s: Secret| String::from_utf8(s.data.unwrap()["clientSecret"].0.clone()).unwrap();
    let before = client_secret(secrets.get("tool-oauth").await.unwrap());
    let resets = || requests(&sim, "jira", "PUT", "/client/reset/");
    assert_eq!(resets().await, 0);

    let policy = deny_secret_writes(&env.ns, "tool-oauth", true);
    e2e::wait_for("the policy in force", || async {
        match e2e::kubectl(
            &env.ns,
            &[
                "annotate",
                "secret",
                "tool-oauth",
                "probe=1",
                "--dry-run=server",
            ],
            None,
        ) {
            Err(e) if e.contains("the test denies") => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    Api::<ExternalApplication>::namespaced(env.client.clone(), &env.ns)
        .patch(
            "tool",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"applinks.io/rotate": "1"}}})),
        )
        .await
        .unwrap();
    let message = wait_reason(&env.client, &env.ns, "tool", "SecretNotWritable").await;
    assert!(message.contains("the test denies writes"), "{message}");
    // Retried with backoff, twice more at least: still no reset.
    let lists = requests(&sim, "jira", "GET", "/rest/oauth2/latest/client").await;
    e2e::wait_for("two more passes", || async {
        let now = requests(&sim, "jira", "GET", "/rest/oauth2/latest/client").await;
        if now >= lists + 2 {
            Ok(())
        } else {
            Err(format!("{now} list requests"))
        }
    })
    .await;
    assert_eq!(
        resets().await,
        0,
        "no secret issued while it cannot be stored"
    );
    let held = oauth2_clients(&sim, "jira").await;
    assert_eq!(held.len(), 1);
    assert_eq!(
        held[0]["clientSecret"],
        before.as_str(),
        "the stored secret still works"
    );

    drop(policy);
    e2e::wait_for("the rotation once writes are allowed", || async {
        let obj = Api::<ExternalApplication>::namespaced(env.client.clone(), &env.ns)
            .get("tool")
            .await
            .map_err(|e| e.to_string())?;
        let s = obj.status.unwrap_or_default();
        let (reason, _) = ready(&env.client, &env.ns, "tool").await?;
        if s.rotation_request.as_deref() == Some("1") && reason == "CredentialsDelivered" {
            Ok(())
        } else {
            Err(format!(
                "{reason}, rotationRequest {:?}",
                s.rotation_request
            ))
        }
    })
    .await;
    assert_eq!(resets().await, 1, "exactly one secret issued");
    let after = client_secret(secrets.get("tool-oauth").await.unwrap());
    assert_ne!(after, before);
    assert_eq!(
        oauth2_clients(&sim, "jira").await[0]["clientSecret"],
        after.as_str()
    );
}

/// A server echoing the request (headers in the error body, the Authorization header in a
/// redirect's Location): the echo reaches the conditions, with the credentials taken out; they
/// are in no condition, event or log line.
#[tokio::test]
async fn an_echoing_server_never_gets_the_credentials_into_status_events_or_logs() {
    let env = e2e::env("bounds-echo").await;
    let shard = env.ns.name().to_string();
    let password = "Echo-S3cret-Pass-7731";
    let users = format!("  users: [{{username: admin, password: {password}, role: sysadmin}}]\n");
    let sim = Sim::start(&format!(
        "control_port: 0\napps:\n- name: body\n  product: jira\n  key_bits: 1024\n{users}- name: location\n  product: jira\n  key_bits: 1024\n{users}"
    ));
    let check = "/rest/applinks/1.0/authenticationinfo";
    set_faults(
        &sim,
        "body",
        json!([{"kind": "echo", "path": check, "status": 400}]),
    )
    .await;
    set_faults(
        &sim,
        "location",
        json!([{"kind": "echo", "path": check, "status": 302}]),
    )
    .await;
    let op = Operator::start_cluster_wide(&shard, &[], &[]);
    for app in ["body", "location"] {
        e2e::apply(&env.ns, &instance(app, sim.app(app), &shard, password));
    }
    let instances: Api<ApplicationInstance> = Api::namespaced(env.client.clone(), &env.ns);
    for app in ["body", "location"] {
        e2e::wait_for(&format!("{app}: the echo in a condition"), || async {
            let obj = instances.get(app).await.map_err(|e| e.to_string())?;
            let messages: Vec<String> = obj
                .status
                .iter()
                .flat_map(|s| s.conditions.iter())
                .map(|c| c.message.clone())
                .collect();
            if messages.iter().any(|m| m.contains("[redacted]")) {
                Ok(())
            } else {
                Err(format!("{messages:?}"))
            }
        })
        .await;
    }
    // The echo really carried them: the applications saw the Authorization header.
    for app in ["body", "location"] {
        let faults = sim.control(app, reqwest::Method::GET, "faults", None).await;
        assert!(
            faults["responses"][0]["served"].as_u64() >= Some(1),
            "{faults}"
        );
    }

    let encoded = base64(format!("admin:{password}").as_bytes());
    assert_eq!(base64(b"admin:admin"), "YWRtaW46YWRtaW4=");
    let statuses: Vec<String> = instances
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|i| serde_json::to_string(&i.status).unwrap())
        .collect();
    let events: Vec<String> = Api::<Event>::namespaced(env.client.clone(), &env.ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|e| e.note.clone().unwrap_or_default())
        .collect();
    assert!(!events.is_empty(), "a Warning event per instance");
    let logs = op.logs();
    for (what, text) in [
        ("status", statuses.join("\n")),
        ("events", events.join("\n")),
        ("log", logs),
    ] {
        for secret in [password, encoded.as_str()] {
            assert!(!text.contains(secret), "{what} holds a credential:\n{text}");
        }
    }
}

/// Standard base64 (the Basic scheme's encoding), written out here so the test does not rely
/// on the operator's encoder.
fn base64(bytes: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            out.push(if i <= c.len() {
                A[(n >> (18 - 6 * i) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

/// A secret issued whose write is then refused (a policy that lets dry runs through and refuses
/// the real write, as an API server outage between the two would), on a provider that shows a
/// secret only once: the next passes write the kept secret instead of asking for another. The
/// application counts one reset for the rotation, and the tool gets exactly that secret once
/// writes are allowed.
#[tokio::test]
async fn a_secret_issued_but_not_stored_is_written_later_not_issued_again() {
    let env = e2e::env("bounds-kept").await;
    let shard = env.ns.name().to_string();
    let sim = Sim::start(
        "control_port: 0\napps:\n- name: jira\n  product: jira\n  key_bits: 1024\n  oauth2: {secret_shown_once: true}\n",
    );
    let _op = Operator::start_cluster_wide(&shard, &[], &[]);
    e2e::apply(&env.ns, &instance("jira", sim.app("jira"), &shard, "admin"));
    e2e::apply(&env.ns, &external("tool", "jira", &shard, &BTreeMap::new()));
    wait_reason(&env.client, &env.ns, "tool", "CredentialsDelivered").await;
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), &env.ns);
    let client_secret =
        |s: Secret| String::from_utf8(s.data.unwrap()["clientSecret"].0.clone()).unwrap();
    let before = client_secret(secrets.get("tool-oauth").await.unwrap());
    let resets = || requests(&sim, "jira", "PUT", "/client/reset/");

    let policy = deny_secret_writes(&env.ns, "tool-oauth", false);
    e2e::wait_for("the policy in force for real writes only", || async {
        // A new value each time, so that an early probe that got through changes nothing.
        let probe = format!(
            "probe={}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        let args = [
            "annotate",
            "secret",
            "tool-oauth",
            probe.as_str(),
            "--overwrite",
        ];
        let real = e2e::kubectl(&env.ns, &args, None);
        let dry = e2e::kubectl(&env.ns, &[&args[..], &["--dry-run=server"]].concat(), None);
        match (&real, &dry) {
            (Err(e), Ok(_)) if e.contains("the test denies") => Ok(()),
            _ => Err(format!("real {real:?}, dry run {dry:?}")),
        }
    })
    .await;
    Api::<ExternalApplication>::namespaced(env.client.clone(), &env.ns)
        .patch(
            "tool",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"applinks.io/rotate": "1"}}})),
        )
        .await
        .unwrap();
    let message = wait_reason(&env.client, &env.ns, "tool", "SecretNotWritable").await;
    assert!(
        message.contains("kept in the operator's memory"),
        "{message}"
    );
    let lists = requests(&sim, "jira", "GET", "/rest/oauth2/latest/client").await;
    e2e::wait_for("two more passes", || async {
        let now = requests(&sim, "jira", "GET", "/rest/oauth2/latest/client").await;
        if now >= lists + 2 {
            Ok(())
        } else {
            Err(format!("{now} list requests"))
        }
    })
    .await;
    assert_eq!(
        resets().await,
        1,
        "one secret issued for the rotation, not one per retry"
    );

    drop(policy);
    e2e::wait_for("the kept secret written", || async {
        let obj = Api::<ExternalApplication>::namespaced(env.client.clone(), &env.ns)
            .get("tool")
            .await
            .map_err(|e| e.to_string())?;
        let s = obj.status.unwrap_or_default();
        let (reason, _) = ready(&env.client, &env.ns, "tool").await?;
        if s.rotation_request.as_deref() == Some("1") && reason == "CredentialsDelivered" {
            Ok(())
        } else {
            Err(format!(
                "{reason}, rotationRequest {:?}",
                s.rotation_request
            ))
        }
    })
    .await;
    assert_eq!(resets().await, 1, "still one");
    let after = client_secret(secrets.get("tool-oauth").await.unwrap());
    assert_ne!(after, before);
    assert_eq!(
        oauth2_clients(&sim, "jira").await[0]["clientSecret"],
        after.as_str(),
        "the tool holds the secret the application issued"
    );
}
