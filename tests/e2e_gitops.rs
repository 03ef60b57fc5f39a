//! GitOps health and steering, read by the real engines: the live objects of a cloud link (whose
//! end in the cloud site only its administrator can make) are handed to sigs.k8s.io/cli-utils'
//! kstatus (what Flux and kpt wait with) and to the Argo CD health checks in argocd/ on gopher-lua
//! (the engine Argo CD embeds), through the link's life: waiting (InProgress / Progressing),
//! lasting failure (Failed / Degraded), paused (Suspended), working (Current / Healthy) and a
//! deletion waiting while paused. Resync requests are echoed in status.lastHandledReconcileAt.
//!
//! The operator runs cluster-wide, as the chart installs it, for this test's shard.
//! With APPLINK_CAPTURE_FIXTURES=DIR the objects seen are written there as YAML (the Argo CD
//! checks' testdata was captured so).

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use applink_operator::crd::{ApplicationInstance, ApplicationLink};
use common::e2e::{self, Operator, SHARD_LABEL, Sim};
use kube::Api;
use serde_json::Value;

/// Not Ready this long for a reason waiting does not fix: Stalled (short, for the test).
const STALLED_AFTER: &str = "6s";

/// A Go tool of e2e/tools, built (or taken from the cache) by e2e/build-tool.sh.
fn tool(name: &str) -> PathBuf {
    let out = Command::new(common::repo_path("e2e/build-tool.sh"))
        .arg(name)
        .stderr(Stdio::inherit())
        .output()
        .expect("e2e/build-tool.sh runs");
    assert!(out.status.success(), "building {name} failed");
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

fn run_with_stdin(cmd: &mut Command, input: &str) -> Value {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tool runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

struct Engines {
    kstatus: PathBuf,
    lua: PathBuf,
}

impl Engines {
    fn new() -> Engines {
        Engines {
            kstatus: tool("kstatus"),
            lua: tool("argocd-lua"),
        }
    }

    /// kstatus's (status, message) of a live object.
    fn kstatus(&self, obj: &Value) -> (String, String) {
        let v = run_with_stdin(&mut Command::new(&self.kstatus), &obj.to_string());
        (
            v["status"].as_str().unwrap().to_string(),
            v["message"].as_str().unwrap_or_default().to_string(),
        )
    }

    /// Argo CD's (status, message) of a live object, by this repository's health.lua.
    fn argo(&self, obj: &Value) -> (String, String) {
        let kind = obj["kind"].as_str().unwrap();
        let script = common::repo_path(&format!(
            "argocd/resource_customizations/applinks.io/{kind}/health.lua"
        ));
        let v = run_with_stdin(
            Command::new(&self.lua).arg("health").arg(script),
            &obj.to_string(),
        );
        (
            v["status"].as_str().unwrap().to_string(),
            v["message"].as_str().unwrap_or_default().to_string(),
        )
    }

    /// Both engines' verdicts on `obj`, asserted, and the object captured as `fixture`.
    fn expect(&self, what: &str, obj: &Value, kstatus: &str, argo: &str, fixture: &str) {
        let k = self.kstatus(obj);
        assert_eq!(k.0, kstatus, "kstatus of {what}: {k:?}\n{obj:#}");
        let a = self.argo(obj);
        assert_eq!(a.0, argo, "Argo CD health of {what}: {a:?}\n{obj:#}");
        capture(fixture, obj);
    }
}

/// Writes the object as YAML to $APPLINK_CAPTURE_FIXTURES/<name>.yaml (managedFields dropped).
fn capture(name: &str, obj: &Value) {
    let Some(dir) = std::env::var_os("APPLINK_CAPTURE_FIXTURES") else {
        return;
    };
    let mut obj = obj.clone();
    if let Some(m) = obj["metadata"].as_object_mut() {
        m.remove("managedFields");
    }
    std::fs::create_dir_all(&dir).unwrap();
    let path = PathBuf::from(dir).join(format!("{name}.yaml"));
    std::fs::write(path, serde_yaml::to_string(&obj).unwrap()).unwrap();
}

/// The shard label on every applinks.io object of `yaml`.
fn sharded(yaml: &str, shard: &str) -> String {
    yaml.split("\n---\n")
        .map(|doc| {
            if doc.contains("apiVersion: applinks.io/") {
                doc.replacen(
                    "metadata: {",
                    &format!("metadata: {{labels: {{{SHARD_LABEL}: {shard}}}, "),
                    1,
                )
            } else {
                doc.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n---\n")
}

fn annotate(ns: &str, kind: &str, name: &str, annotation: &str) {
    e2e::kubectl(
        ns,
        &["annotate", "--overwrite", kind, name, annotation],
        None,
    )
    .unwrap_or_else(|e| panic!("kubectl annotate {kind} {name} {annotation}: {e}"));
}

fn patch(ns: &str, kind: &str, name: &str, merge: &str) {
    e2e::kubectl(
        ns,
        &["patch", kind, name, "--type=merge", "-p", merge],
        None,
    )
    .unwrap_or_else(|e| panic!("kubectl patch {kind} {name}: {e}"));
}

/// How many events of `reason` the object has.
fn events(ns: &str, name: &str, reason: &str) -> usize {
    let out = e2e::kubectl(
        ns,
        &[
            "get",
            "events",
            "--field-selector",
            &format!("reason={reason},involvedObject.name={name}"),
            "-o",
            "json",
        ],
        None,
    )
    .unwrap();
    let v: Value = serde_json::from_str(&out).unwrap();
    // The recorder aggregates repeats into one event with a count (series).
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["series"]["count"]
                .as_u64()
                .or(e["count"].as_u64())
                .unwrap_or(1)
                .max(1) as usize
        })
        .sum()
}

fn conditions(obj: &Value) -> Vec<Value> {
    obj["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn cond<'a>(conds: &'a [Value], type_: &str) -> Option<&'a Value> {
    conds.iter().find(|c| c["type"] == type_)
}

/// Polls the object (as JSON) until `accept` holds.
async fn wait_obj<K, F>(api: &Api<K>, name: &str, what: &str, accept: F) -> Value
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
    K::DynamicType: Default,
    F: Fn(&Value) -> bool,
{
    e2e::wait_for(&format!("{name}: {what}"), || async {
        let v = serde_json::to_value(api.get(name).await.unwrap()).unwrap();
        if accept(&v) {
            Ok(v)
        } else {
            Err(format!("{:#}", v["status"]))
        }
    })
    .await
}

fn is(conds: &[Value], type_: &str, status: &str) -> bool {
    cond(conds, type_).is_some_and(|c| c["status"] == status)
}

#[tokio::test]
async fn cloud_link_health_stall_pause_resync_and_paused_deletion() {
    let engines = Engines::new();
    let env = e2e::env("gitops").await;
    let ns = env.ns.name().to_string();
    let shard = ns.clone();
    let pki = e2e::Pki::new();
    let tls = pki.sim_tls_yaml();
    let sim = Sim::start(&format!(
        "control_port: 0\napps:\n- name: jira-cloud\n  product: jira-cloud\n  key_bits: 1024\n{tls}- name: bitbucket\n  product: bitbucket\n  key_bits: 1024\n{tls}"
    ));
    let _op = Operator::start_cluster_wide(&shard, &[], &["--stalled-after", STALLED_AFTER]);
    pki.apply_ca_secret(&ns, "sim-ca");
    for (name, type_, cloud) in [
        ("jira-cloud", "jira", true),
        ("bitbucket", "bitbucket", false),
    ] {
        let mut y = e2e::instance_yaml(name, sim.app(name), type_, true);
        y.push_str("  tls: {caSecretRef: {name: sim-ca}}\n");
        if cloud {
            y.push_str("  cloud: true\n");
        }
        e2e::apply(&ns, &sharded(&y, &shard));
    }
    let links: Api<ApplicationLink> = Api::namespaced(env.client.clone(), &ns);
    let instances: Api<ApplicationInstance> = Api::namespaced(env.client.clone(), &ns);

    // A healthy instance: Current, Healthy.
    let bb = wait_obj(&instances, "bitbucket", "Ready", |v| {
        is(&conditions(v), "Ready", "True")
            && v["status"]["observedGeneration"] == v["metadata"]["generation"]
    })
    .await;
    engines.expect(
        "a checked instance",
        &bb,
        "Current",
        "Healthy",
        "instance-healthy",
    );

    e2e::apply(
        &ns,
        &sharded(
            &e2e::link_yaml("l", "jira-cloud", "bitbucket", "OAuth"),
            &shard,
        ),
    );
    // Waiting for the site's administrator: in progress while it has not lasted.
    let waiting = wait_obj(&links, "l", "AwaitingCloudAdmin, not yet Stalled", |v| {
        let c = conditions(v);
        is(&c, "Reconciling", "True")
            && cond(&c, "Ready").is_some_and(|r| r["reason"] == "AwaitingCloudAdmin")
    })
    .await;
    engines.expect(
        "a link waiting for the cloud admin",
        &waiting,
        "InProgress",
        "Progressing",
        "link-progressing-awaiting-cloud-admin",
    );
    // Still not working after --stalled-after: Stalled with the same reason, Failed for
    // kstatus, Degraded for Argo CD; one Warning event says so.
    let stalled = wait_obj(&links, "l", "Stalled", |v| {
        is(&conditions(v), "Stalled", "True")
    })
    .await;
    let c = conditions(&stalled);
    let s = cond(&c, "Stalled").unwrap();
    assert_eq!(s["reason"], "AwaitingCloudAdmin", "{s}");
    assert!(
        s["message"]
            .as_str()
            .unwrap()
            .contains("listApplicationLinks"),
        "still says what the site admin must do: {s}"
    );
    assert!(!is(&c, "Reconciling", "True"), "{c:?}");
    engines.expect(
        "a link not working for longer than --stalled-after",
        &stalled,
        "Failed",
        "Degraded",
        "link-degraded-stalled",
    );
    assert_eq!(events(&ns, "l", "AwaitingCloudAdmin"), 1, "one Warning");

    // Pause the link and both instances: no call to either application from then on.
    for (kind, name) in [
        ("applink", "l"),
        ("applicationinstance", "bitbucket"),
        ("applicationinstance", "jira-cloud"),
    ] {
        annotate(&ns, kind, name, "applinks.io/paused=true");
    }
    let paused = wait_obj(&links, "l", "Paused", |v| {
        is(&conditions(v), "Paused", "True")
    })
    .await;
    for name in ["bitbucket", "jira-cloud"] {
        let i = wait_obj(&instances, name, "Paused", |v| {
            is(&conditions(v), "Paused", "True")
        })
        .await;
        // Ready as last checked stays: kstatus Current; Argo CD shows the pause.
        engines.expect(
            "a paused instance",
            &i,
            "Current",
            "Suspended",
            &format!("instance-suspended-{name}"),
        );
    }
    let c = conditions(&paused);
    assert!(is(&c, "Stalled", "True"), "what was known stays: {c:?}");
    engines.expect(
        "a paused link",
        &paused,
        "Failed",
        "Suspended",
        "link-suspended",
    );
    let before = (
        sim.request_count("bitbucket").await,
        sim.request_count("jira-cloud").await,
    );
    // Spec changes and a resync request while paused: passes run, without a remote call, and
    // the change waits (kstatus: InProgress, the generation is not observed).
    patch(
        &ns,
        "applink",
        "l",
        r#"{"spec":{"deletionPolicy":"Orphan"}}"#,
    );
    patch(
        &ns,
        "applicationinstance",
        "bitbucket",
        r#"{"spec":{"checkInterval":"30s"}}"#,
    );
    annotate(
        &ns,
        "applink",
        "l",
        "applinks.io/reconcile-requested-at=2026-12-03T10:00:00Z",
    );
    let held = wait_obj(&links, "l", "a paused pass of the new spec", |v| {
        cond(&conditions(v), "Paused")
            .is_some_and(|p| p["observedGeneration"] == v["metadata"]["generation"])
    })
    .await;
    wait_obj(
        &instances,
        "bitbucket",
        "a paused pass of the new spec",
        |v| {
            cond(&conditions(v), "Paused")
                .is_some_and(|p| p["observedGeneration"] == v["metadata"]["generation"])
        },
    )
    .await;
    assert_ne!(
        held["status"]["observedGeneration"], held["metadata"]["generation"],
        "the spec change is not applied while paused"
    );
    assert!(
        held["status"]["lastHandledReconcileAt"].is_null(),
        "a resync waits for the pause to end: {}",
        held["status"]
    );
    engines.expect(
        "a paused link with a new spec",
        &held,
        "InProgress",
        "Suspended",
        "link-suspended-new-spec",
    );
    let after = (
        sim.request_count("bitbucket").await,
        sim.request_count("jira-cloud").await,
    );
    assert_eq!(before, after, "no request to the applications while paused");
    assert_eq!(events(&ns, "l", "Paused"), 1, "one event for the pause");
    patch(
        &ns,
        "applink",
        "l",
        r#"{"spec":{"deletionPolicy":"Delete"}}"#,
    );

    // The site's administrator links back while the link is paused; on resume the link is
    // verified again (the pending resync request too) and works.
    cloud_admin_links_back(&sim, "jira-cloud", "bitbucket").await;
    for (kind, name) in [
        ("applink", "l"),
        ("applicationinstance", "bitbucket"),
        ("applicationinstance", "jira-cloud"),
    ] {
        annotate(&ns, kind, name, "applinks.io/paused-");
    }
    let working = wait_obj(&links, "l", "Working", |v| {
        let c = conditions(v);
        is(&c, "Ready", "True")
            && v["status"]["observedGeneration"] == v["metadata"]["generation"]
            && cond(&c, "Paused").is_none()
            && cond(&c, "Stalled").is_none()
    })
    .await;
    assert_eq!(
        working["status"]["lastHandledReconcileAt"], "2026-12-03T10:00:00Z",
        "the resync asked while paused is handled on resume"
    );
    engines.expect(
        "a working link",
        &working,
        "Current",
        "Healthy",
        "link-healthy",
    );
    assert_eq!(events(&ns, "l", "Resumed"), 1, "one event for the resume");

    // Resync on request: verified now (calls to the application), the value echoed; Flux's
    // annotation too.
    let calls = sim.request_count("bitbucket").await;
    annotate(
        &ns,
        "applink",
        "l",
        "applinks.io/reconcile-requested-at=2026-12-03T11:00:00Z",
    );
    wait_obj(&links, "l", "the resync request handled", |v| {
        v["status"]["lastHandledReconcileAt"] == "2026-12-03T11:00:00Z"
    })
    .await;
    assert!(
        sim.request_count("bitbucket").await > calls,
        "the resync verified the link against the application"
    );
    annotate(
        &ns,
        "applink",
        "l",
        "reconcile.fluxcd.io/requestedAt=2026-12-03T12:00:00Z",
    );
    wait_obj(&links, "l", "Flux's request handled", |v| {
        v["status"]["lastHandledReconcileAt"] == "2026-12-03T12:00:00Z"
    })
    .await;
    annotate(
        &ns,
        "applicationinstance",
        "bitbucket",
        "applinks.io/reconcile-requested-at=2026-12-03T13:00:00Z",
    );
    let checked = wait_obj(&instances, "bitbucket", "the resync request handled", |v| {
        v["status"]["lastHandledReconcileAt"] == "2026-12-03T13:00:00Z"
    })
    .await;
    capture("instance-resynced", &checked);

    // An instance deleted while a link uses it waits for the link: Degraded, saying why.
    e2e::delete(&ns, "applicationinstance", "bitbucket");
    let in_use = wait_obj(&instances, "bitbucket", "Terminating", |v| {
        is(&conditions(v), "Terminating", "True")
    })
    .await;
    engines.expect(
        "an instance whose deletion waits for a link",
        &in_use,
        "Terminating",
        "Degraded",
        "instance-degraded-deletion-blocked",
    );

    // Deleting while paused: the end in the application stays, and so does the finalizer,
    // until the pause ends.
    annotate(&ns, "applink", "l", "applinks.io/paused=true");
    wait_obj(&links, "l", "Paused", |v| {
        is(&conditions(v), "Paused", "True")
    })
    .await;
    e2e::delete(&ns, "applink", "l");
    let waiting_deletion = wait_obj(&links, "l", "a paused deletion", |v| {
        !v["metadata"]["deletionTimestamp"].is_null()
            && cond(&conditions(v), "Paused").is_some_and(|p| {
                p["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("deletion waits"))
            })
    })
    .await;
    assert_eq!(
        sim.links("bitbucket").await.len(),
        1,
        "the end is kept while paused"
    );
    engines.expect(
        "a paused link being deleted",
        &waiting_deletion,
        "Terminating",
        "Suspended",
        "link-suspended-deleting",
    );
    // Resumed with Bitbucket down: the deletion is blocked (Degraded, saying why) until it is
    // back.
    sim.control("bitbucket", reqwest::Method::POST, "stop", None)
        .await;
    annotate(&ns, "applink", "l", "applinks.io/paused-");
    let blocked = wait_obj(&links, "l", "DeletionBlocked", |v| {
        cond(&conditions(v), "Ready").is_some_and(|r| r["reason"] == "DeletionBlocked")
    })
    .await;
    engines.expect(
        "a link whose deletion waits for an application that is down",
        &blocked,
        "Terminating",
        "Degraded",
        "link-degraded-deletion-blocked",
    );
    sim.control("bitbucket", reqwest::Method::POST, "start", None)
        .await;
    e2e::wait_link_gone(&env.client, &ns, "l").await;
    assert!(
        sim.links("bitbucket").await.is_empty(),
        "deleted in the application on resume"
    );
    common::delete_namespace(&env.client, &ns).await;
}

/// What a cloud site's administrator does in the site's admin UI (the simulator's control API
/// stands in for it): the link back to the server, with OAuth.
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

/// A shared application (ClusterApplicationInstance, credentials in the operator's namespace) and
/// a tenant's ExternalApplication on it: both read Current/Healthy, pause without a remote call
/// (Suspended), and handle resync requests once resumed.
#[tokio::test]
async fn shared_instance_and_external_application_pause_and_resync() {
    let engines = Engines::new();
    let env = e2e::env("gitops-shared").await;
    let ops = env.ns.name().to_string();
    let shard = ops.clone();
    let tenant = common::namespace(&env.client, "gitops-tenant").await;
    let sim =
        Sim::start("control_port: 0\napps:\n- name: jira\n  product: jira\n  key_bits: 1024\n");
    let _op = Operator::start_cluster_wide(
        &shard,
        &[],
        &[
            "--cluster-resource-namespace",
            &ops,
            "--stalled-after",
            STALLED_AFTER,
        ],
    );
    let jira = sim.app("jira").base_url.clone();
    e2e::apply(
        &ops,
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: jira-admin, annotations: {{{}: '{jira}'}}}}\nstringData: {{username: admin, password: admin}}\n",
            e2e::ALLOWED_URLS
        ),
    );
    e2e::kubectl(
        "default",
        &[
            "label",
            "namespace",
            tenant.name(),
            &format!("gitops-{shard}=yes"),
        ],
        None,
    )
    .unwrap();
    let shared = format!("jira-{shard}");
    e2e::apply(
        "default",
        &sharded(
            &format!(
                "apiVersion: applinks.io/v1alpha1\nkind: ClusterApplicationInstance\nmetadata: {{name: {shared}}}\nspec:\n  url: {jira}\n  type: jira\n  credentialsSecretRef: {{name: jira-admin}}\n  allowedNamespaces: {{matchLabels: {{gitops-{shard}: 'yes'}}}}\n"
            ),
            &shard,
        ),
    );
    e2e::apply(
        tenant.name(),
        &sharded(
            &format!(
                "apiVersion: applinks.io/v1alpha1\nkind: ExternalApplication\nmetadata: {{name: tool}}\nspec:\n  instanceRef: {{name: {shared}, kind: ClusterApplicationInstance}}\n  oauth2:\n    redirectUris: [\"https://tool.example.test/cb\"]\n    scope: READ\n  secret:\n    name: tool-oauth\n    data:\n      id: \"{{{{ clientId }}}}\"\n      secret: \"{{{{ clientSecret }}}}\"\n"
            ),
            &shard,
        ),
    );
    let cluster: Api<applink_operator::crd::ClusterApplicationInstance> =
        Api::all(env.client.clone());
    let externals: Api<applink_operator::crd::ExternalApplication> =
        Api::namespaced(env.client.clone(), tenant.name());
    let current = |v: &Value| {
        is(&conditions(v), "Ready", "True")
            && v["status"]["observedGeneration"] == v["metadata"]["generation"]
    };
    let c = wait_obj(&cluster, &shared, "Ready", current).await;
    engines.expect(
        "a shared instance",
        &c,
        "Current",
        "Healthy",
        "cluster-instance-healthy",
    );
    let x = wait_obj(&externals, "tool", "Ready", current).await;
    engines.expect(
        "a delivered client",
        &x,
        "Current",
        "Healthy",
        "external-healthy",
    );
    // A scope Jira does not offer: a person must act, Failed and Degraded at once.
    e2e::apply(
        tenant.name(),
        &sharded(
            &format!(
                "apiVersion: applinks.io/v1alpha1\nkind: ExternalApplication\nmetadata: {{name: wrong}}\nspec:\n  instanceRef: {{name: {shared}, kind: ClusterApplicationInstance}}\n  oauth2:\n    redirectUris: [\"https://tool.example.test/cb\"]\n    scope: REPO_WRITE\n"
            ),
            &shard,
        ),
    );
    let wrong = wait_obj(&externals, "wrong", "Stalled", |v| {
        is(&conditions(v), "Stalled", "True")
    })
    .await;
    engines.expect(
        "a scope the application does not offer",
        &wrong,
        "Failed",
        "Degraded",
        "external-degraded-scope-not-offered",
    );
    e2e::delete(tenant.name(), "externalapplication", "wrong");

    annotate(
        "default",
        "clusterapplicationinstance",
        &shared,
        "applinks.io/paused=true",
    );
    annotate(
        tenant.name(),
        "externalapplication",
        "tool",
        "applinks.io/paused=true",
    );
    let paused = |v: &Value| is(&conditions(v), "Paused", "True");
    wait_obj(&cluster, &shared, "Paused", paused).await;
    wait_obj(&externals, "tool", "Paused", paused).await;
    let before = sim.request_count("jira").await;
    patch(
        "default",
        "clusterapplicationinstance",
        &shared,
        r#"{"spec":{"checkInterval":"30s"}}"#,
    );
    patch(
        tenant.name(),
        "externalapplication",
        "tool",
        r#"{"spec":{"displayName":"Renamed while paused"}}"#,
    );
    let new_spec_held = |v: &Value| {
        cond(&conditions(v), "Paused")
            .is_some_and(|p| p["observedGeneration"] == v["metadata"]["generation"])
    };
    let c = wait_obj(
        &cluster,
        &shared,
        "a paused pass of the new spec",
        new_spec_held,
    )
    .await;
    let x = wait_obj(
        &externals,
        "tool",
        "a paused pass of the new spec",
        new_spec_held,
    )
    .await;
    assert_eq!(
        sim.request_count("jira").await,
        before,
        "no request to the application while paused"
    );
    engines.expect(
        "a paused shared instance",
        &c,
        "InProgress",
        "Suspended",
        "cluster-instance-suspended",
    );
    engines.expect(
        "a paused ExternalApplication",
        &x,
        "InProgress",
        "Suspended",
        "external-suspended",
    );
    assert_eq!(events(tenant.name(), "tool", "Paused"), 1);

    // Resumed with a resync request pending: the new spec is applied and the request echoed.
    annotate(
        tenant.name(),
        "externalapplication",
        "tool",
        "applinks.io/reconcile-requested-at=2026-12-03T14:00:00Z",
    );
    annotate(
        "default",
        "clusterapplicationinstance",
        &shared,
        "reconcile.fluxcd.io/requestedAt=2026-12-03T14:00:00Z",
    );
    annotate(
        "default",
        "clusterapplicationinstance",
        &shared,
        "applinks.io/paused-",
    );
    annotate(
        tenant.name(),
        "externalapplication",
        "tool",
        "applinks.io/paused-",
    );
    let handled = |v: &Value| {
        current(v)
            && cond(&conditions(v), "Paused").is_none()
            && v["status"]["lastHandledReconcileAt"] == "2026-12-03T14:00:00Z"
    };
    let c = wait_obj(&cluster, &shared, "resumed, the resync handled", handled).await;
    let x = wait_obj(&externals, "tool", "resumed, the resync handled", handled).await;
    engines.expect(
        "a resumed shared instance",
        &c,
        "Current",
        "Healthy",
        "cluster-instance-resynced",
    );
    engines.expect(
        "a resumed ExternalApplication",
        &x,
        "Current",
        "Healthy",
        "external-resynced",
    );
    assert_eq!(events(tenant.name(), "tool", "Resumed"), 1);
    let clients = sim
        .control("jira", reqwest::Method::GET, "oauth2", None)
        .await;
    assert!(
        clients["clients"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "Renamed while paused"),
        "the spec change waited for the resume and was applied: {clients}"
    );

    e2e::delete(tenant.name(), "externalapplication", "tool");
    e2e::wait_for("the ExternalApplication gone", || async {
        match externals.get_opt("tool").await.unwrap() {
            None => Ok(()),
            Some(o) => Err(format!("{:?}", o.status)),
        }
    })
    .await;
    e2e::kubectl(
        "default",
        &["delete", "clusterapplicationinstance", &shared],
        None,
    )
    .unwrap();
    common::delete_namespace(&env.client, tenant.name()).await;
    common::delete_namespace(&env.client, &ops).await;
}
