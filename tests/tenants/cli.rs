//! The companion CLI as a user runs it (the binary's `status`, `plan`, `resync`, `pause`, `resume`),
//! against a cluster-wide operator serving two tenants: each sees its own tree, with what is
//! wrong said in full.

use super::{World, apps, credentialed, sharded};
use crate::common::e2e::{self, SHARD_LABEL, Sim};
use std::process::Command;

/// Runs the binary as `kubectl applink` would; (exit code, stdout, stderr).
pub(super) fn cli(args: &[&str]) -> (i32, String, String) {
    let bin = crate::common::repo_path("target/debug/applink-operator");
    let out = Command::new(bin).args(args).output().expect("run the CLI");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn status_shows_each_tenant_its_own_tree_and_says_what_is_wrong() {
    let w = World::new("cli", 2).await;
    let sim = Sim::start(&apps(&[
        ("jira", "jira"),
        ("confluence", "confluence"),
        ("jira2", "jira"),
    ]));
    let (t0, t1) = (w.tenant(0).to_string(), w.tenant(1).to_string());
    for (n, t) in [("jira", "jira"), ("confluence", "confluence")] {
        w.apply(&t0, &e2e::instance_yaml(n, sim.app(n), t, true));
    }
    w.apply(&t0, &e2e::link_yaml("l", "jira", "confluence", "OAuth"));
    // Tenant 1's Secret does not allow its credentials to go anywhere.
    let unmarked = e2e::instance_yaml("jira", sim.app("jira2"), "jira", true).replace(
        &format!(
            ", annotations: {{{}: '{}'}}",
            e2e::ALLOWED_URLS,
            sim.app("jira2").base_url
        ),
        "",
    );
    w.apply(&t1, &unmarked);
    e2e::wait_link_ready(&w.client, &t0, "l", "True").await;
    e2e::wait_instance(&w.client, &t1, "jira", "Ready", |c| {
        c.0 == "False" && c.1 == "CredentialsNotAllowed"
    })
    .await;

    let (code, out, err) = cli(&["status", "-n", &t0]);
    assert_eq!(code, 0, "{err}");
    for want in [
        format!("ApplicationInstance {t0}/jira {}", sim.app("jira").base_url),
        format!("  ApplicationLink {t0}/l → ApplicationInstance {t0}/confluence  [OAuth, TwoWay"),
        format!("  ApplicationLink {t0}/l ← ApplicationInstance {t0}/jira"),
        "      this end:  link ".to_string(),
        "; working; incoming OAuth".to_string(),
    ] {
        assert!(out.contains(&want), "missing {want:?} in\n{out}");
    }
    assert!(!out.contains("NotReady"), "{out}");
    assert!(!out.contains(&t1), "tenant 0's view names tenant 1:\n{out}");

    let (code, out, _) = cli(&["status", "-n", &t1]);
    assert_eq!(code, 0);
    assert!(out.contains("NotReady: CredentialsNotAllowed"), "{out}");
    // The full message, with the command that fixes it.
    assert!(
        out.contains("    Ready=False CredentialsNotAllowed: ") && out.contains("kubectl annotate"),
        "{out}"
    );

    let (_, all, _) = cli(&["status", "-A"]);
    assert!(
        all.contains(&format!("{t0}/l")) && all.contains(&format!("{t1}/jira")),
        "{all}"
    );

    // One name narrows the tree to its object.
    let (_, one, _) = cli(&["status", "-n", &t0, "l"]);
    assert!(one.contains(&format!("ApplicationLink {t0}/l")), "{one}");
    let (code, _, err) = cli(&["status", "-n", &t0, "nothing-here"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("\"nothing-here\"") && err.contains("-A"),
        "{err}"
    );
    let (code, _, err) = cli(&["resync", "-n", &t0, "pod/x"]);
    assert_eq!(code, 1);
    assert!(err.contains("link/NAME"), "{err}");

    // Steering: resync waits for the operator's echo; pause and resume show in the tree.
    let (code, out, err) = cli(&["resync", "-n", &t0, "link/l", "jira"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("ApplicationLink l: re-verified")
            && out.contains("ApplicationInstance jira: re-verified"),
        "{out}"
    );
    let l = e2e::link(&w.client, &t0, "l").await;
    assert!(l.status.unwrap().last_handled_reconcile_at.is_some());
    let (code, out, err) = cli(&["pause", "-n", &t0, "l"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ApplicationLink l: paused"), "{out}");
    e2e::wait_for("the link to show Paused", || async {
        let (_, out, _) = cli(&["status", "-n", &t0, "l"]);
        if out.contains("Paused=True PauseRequested") {
            Ok(())
        } else {
            Err(out)
        }
    })
    .await;
    // A resync of a paused object says why it would not be handled instead of waiting.
    let (code, _, err) = cli(&["resync", "-n", &t0, "link/l", "--timeout", "60s"]);
    assert_eq!(code, 1);
    assert!(err.contains("paused") && err.contains("resume"), "{err}");
    let (code, _, err) = cli(&["resume", "-n", &t0, "link/l"]);
    assert_eq!(code, 0, "{err}");
    e2e::wait_for("the link to be resumed", || async {
        let (_, out, _) = cli(&["status", "-n", &t0, "l"]);
        if out.contains("Paused=") {
            Err(out)
        } else {
            Ok(())
        }
    })
    .await;
    let (code, out, err) = cli(&["resync", "-n", &t0, "link/l"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("re-verified"), "{out}");
}

/// [`cli`] with another kubeconfig.
fn cli_as(kubeconfig: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let bin = crate::common::repo_path("target/debug/applink-operator");
    let out = Command::new(bin)
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .output()
        .expect("run the CLI");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The test's kubeconfig, acting as `user` (Kubernetes impersonation; the test's own identity
/// may impersonate).
fn impersonating(user: &str) -> tempfile::NamedTempFile {
    let path = std::env::var("KUBECONFIG").expect("KUBECONFIG of the test cluster");
    let config = std::fs::read_to_string(path).expect("read the kubeconfig");
    assert!(config.contains("\n  user:\n"), "{config}");
    let file = tempfile::NamedTempFile::new().expect("a temporary file");
    std::fs::write(
        file.path(),
        config.replacen("\n  user:\n", &format!("\n  user:\n    as: {user}\n"), 1),
    )
    .expect("write the kubeconfig");
    file
}

/// Writes `files` (name, YAML) into a fresh directory for `plan -f`.
fn manifests(files: &[(&str, String)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for (name, yaml) in files {
        std::fs::write(dir.path().join(name), yaml).expect("write a manifest");
    }
    dir
}

/// The requests logged after `seq` at each app: `(method, "app: METHOD path")`.
async fn requests_since(sim: &Sim, apps: &[&str], seq: &[u64]) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (app, since) in apps.iter().zip(seq) {
        for e in sim.log_entries(app).await {
            if e["seq"].as_u64().expect("log entries carry seq") > *since {
                let method = e["method"].as_str().unwrap_or_default().to_string();
                found.push((method.clone(), format!("{app}: {method} {}", e["path"])));
            }
        }
    }
    found
}

/// Asserts that the requests since `seq` include reads and nothing else.
async fn only_reads_since(sim: &Sim, apps: &[&str], seq: &[u64]) {
    let requests = requests_since(sim, apps, seq).await;
    assert!(
        requests.iter().any(|(m, _)| m == "GET"),
        "no read at all: {requests:?}"
    );
    let writes: Vec<&String> = requests
        .iter()
        .filter(|(m, _)| m != "GET")
        .map(|(_, r)| r)
        .collect();
    assert!(writes.is_empty(), "plan wrote: {writes:?}");
}

async fn last_seq(sim: &Sim, apps: &[&str]) -> Vec<u64> {
    let mut out = Vec::new();
    for app in apps {
        let entries = sim.log_entries(app).await;
        out.push(
            entries
                .iter()
                .filter_map(|e| e["seq"].as_u64())
                .max()
                .unwrap_or(0),
        );
    }
    out
}

#[tokio::test]
async fn plan_shows_pending_steps_from_manifests_and_writes_nothing() {
    let w = World::new("plan", 2).await;
    let sim = Sim::start(&apps(&[
        ("jira", "jira"),
        ("confluence", "confluence"),
        ("jira2", "jira"),
        ("confluence2", "confluence"),
    ]));
    let all = ["jira", "confluence", "jira2", "confluence2"];
    let (t0, t1) = (w.tenant(0).to_string(), w.tenant(1).to_string());
    // The operator serves this test's shard: so does the plan (other tests' links hold ends in
    // applications with the same ids).
    let sel = format!("{SHARD_LABEL}={}", w.shard);
    let jira = e2e::instance_yaml("jira", sim.app("jira"), "jira", true);
    let wiki = e2e::instance_yaml("confluence", sim.app("confluence"), "confluence", true);
    w.apply(&t0, &jira);
    w.apply(&t0, &wiki);
    w.apply(&t0, &e2e::link_yaml("l", "jira", "confluence", "OAuth"));
    e2e::wait_link_ready(&w.client, &t0, "l", "True").await;

    // Tenant 0 changes the link's authentication in Git: both ends would be reconfigured.
    let changed = sharded(&e2e::link_yaml("l", "jira", "confluence", "None"), &w.shard);
    let dir = manifests(&[
        (
            "instances.yaml",
            format!(
                "{}\n---\n{}",
                sharded(&jira, &w.shard),
                sharded(&wiki, &w.shard)
            ),
        ),
        ("link.yml", changed.clone()),
    ]);
    let before = last_seq(&sim, &all).await;
    let (code, out, err) = cli(&[
        "plan",
        "-f",
        dir.path().to_str().unwrap(),
        "-n",
        &t0,
        "-l",
        &sel,
    ]);
    assert_eq!(code, 2, "{out}{err}");
    for want in [
        format!(
            "ApplicationLink {t0}/l (ApplicationInstance jira → ApplicationInstance confluence):"
        ),
        "  ~ set authentication on the source end in ApplicationInstance jira (link ".to_string(),
        "): incoming Disabled, outgoing Disabled".to_string(),
        "  ~ set authentication on the target end in ApplicationInstance confluence (link "
            .to_string(),
        "1 link(s): 1 with changes, 0 that cannot be planned, 0 up to date".to_string(),
    ] {
        assert!(out.contains(&want), "missing {want:?} in\n{out}");
    }
    assert!(!out.contains("+ create"), "{out}");
    // The plan read the links with the administrators' credentials, and changed nothing.
    only_reads_since(&sim, &all, &before).await;
    let l = e2e::link(&w.client, &t0, "l").await;
    assert_eq!(format!("{:?}", l.spec.authentication), "OAuth");

    // Applied and Ready: nothing pending.
    w.apply(&t0, &e2e::link_yaml("l", "jira", "confluence", "None"));
    e2e::wait_link_ready(&w.client, &t0, "l", "True").await;
    let (code, out, err) = cli(&[
        "plan",
        "-f",
        dir.path().to_str().unwrap(),
        "-n",
        &t0,
        "-l",
        &sel,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("ApplicationLink {t0}/l: up to date")),
        "{out}"
    );

    // A user who may read the operator's kinds but not Secrets is told which right is missing.
    let user = format!("plan-reader-{}", w.shard);
    e2e::apply(
        &t0,
        &format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {{name: plan-reader}}\nrules:\n- apiGroups: [applinks.io]\n  resources: [applicationinstances, applicationlinks, externalapplications]\n  verbs: [get, list]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: plan-reader}}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: plan-reader}}\nsubjects:\n- {{apiGroup: rbac.authorization.k8s.io, kind: User, name: {user}}}\n"
        ),
    );
    let as_user = impersonating(&user);
    let err = e2e::wait_for("the reader's Role to take effect", || async {
        let (code, out, err) = cli_as(
            as_user.path(),
            &[
                "plan",
                "-f",
                dir.path().to_str().unwrap(),
                "-n",
                &t0,
                "-l",
                &sel,
            ],
        );
        // Until the Role is seen, the first read (an ApplicationInstance) is refused instead.
        if code == 1 && err.contains("secrets") {
            Ok(err)
        } else {
            Err(format!("exit {code}: {out}{err}"))
        }
    })
    .await;
    assert!(
        err.contains(&format!("needs get on secrets (and configmaps) in {t0}"))
            && err.contains(&format!("kubectl auth can-i get secrets -n {t0}")),
        "{err}"
    );

    // Tenant 1 plans a first link between instances that exist only in its manifests (their
    // Secrets are in the cluster): the instances are checked read-only, both ends would be made.
    let secret_of = |y: &str| y.split("\n---\n").next().unwrap().to_string();
    let jira2 = e2e::instance_yaml("jira", sim.app("jira2"), "jira", true);
    let wiki2 = e2e::instance_yaml("confluence", sim.app("confluence2"), "confluence", true);
    e2e::apply(&t1, &secret_of(&jira2));
    e2e::apply(&t1, &secret_of(&wiki2));
    let dir1 = manifests(&[(
        "all.yaml",
        sharded(
            &format!(
                "{jira2}\n---\n{wiki2}\n---\n{}",
                e2e::link_yaml("l", "jira", "confluence", "OAuth")
            ),
            &w.shard,
        ),
    )]);
    let before = last_seq(&sim, &all).await;
    let (code, out, err) = cli(&[
        "plan",
        "-f",
        dir1.path().to_str().unwrap(),
        "-n",
        &t1,
        "-l",
        &sel,
    ]);
    assert_eq!(code, 2, "{out}{err}");
    for want in [
        format!(
            "  + create the source end in ApplicationInstance jira: link {} to confluence {}",
            sim.app("confluence2").id,
            sim.app("confluence2").base_url
        ),
        format!(
            "  + create the target end in ApplicationInstance confluence: link {} to jira {}",
            sim.app("jira2").id,
            sim.app("jira2").base_url
        ),
        "  ~ record the claim on the source end".to_string(),
    ] {
        assert!(out.contains(&want), "missing {want:?} in\n{out}");
    }
    assert!(!out.contains(&t0), "tenant 1's plan names tenant 0:\n{out}");
    only_reads_since(&sim, &all, &before).await;
    assert!(
        credentialed(&sim, "jira2").await > 0,
        "the plan read nothing as the administrator"
    );

    // A bad manifest is an error naming its file.
    let bad = manifests(&[(
        "broken.yaml",
        "apiVersion: applinks.io/v1alpha1\nkind: ApplicationLink\nmetadata: {name: x}\nspec: {source: 3}\n".into(),
    )]);
    let (code, _, err) = cli(&[
        "plan",
        "-f",
        bad.path().to_str().unwrap(),
        "-n",
        &t1,
        "-l",
        &sel,
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("broken.yaml, document 1 (ApplicationLink x): does not match its schema"),
        "{err}"
    );
}
