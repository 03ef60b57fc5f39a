//! Fault: the API server goes away and comes back while the operator runs. This test starts its
//! own control plane (restarting the shared one would disturb the other tests), so it also checks
//! that the operator's watches recover: a link applied after the restart is reconciled, and the
//! operator process neither exits nor crash-loops.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::e2e::{self, Operator, Sim};
use kube::config::{KubeConfigOptions, Kubeconfig};

struct ControlPlane {
    run: tempfile::TempDir,
}

impl ControlPlane {
    fn script(&self, action: &str) {
        let status = Command::new(common::repo_path("e2e/control-plane.sh"))
            .arg(action)
            .env("APPLINK_E2E_RUN", self.run.path())
            .status()
            .expect("control-plane.sh runs");
        assert!(status.success(), "control-plane.sh {action} failed");
    }

    fn kubeconfig(&self) -> PathBuf {
        self.run.path().join("kubeconfig")
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.script("down");
    }
}

/// A control plane of its own, up, with a client and a test namespace.
async fn own_control_plane(
    prefix: &str,
    except_crds: &[&str],
) -> (ControlPlane, kube::Client, common::TestNamespace) {
    // Fails loudly without the harness, like the other integration tests.
    let _ = common::client().await;
    let cp = ControlPlane {
        run: tempfile::tempdir().unwrap(),
    };
    cp.script("up");
    let kc = Kubeconfig::read_from(cp.kubeconfig()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    let client = kube::Client::try_from(config).unwrap();
    common::install_crds_except(&client, except_crds).await;
    let ns = common::namespace_in(&client, Some(cp.kubeconfig()), prefix).await;
    (cp, client, ns)
}

/// `helm upgrade` never updates CRDs: an operator upgraded before its CRDs finds no
/// ExternalApplication CRD. It says how to install it and keeps managing instances and links
/// (instance passes do not wait for a cache that will never fill).
#[tokio::test]
async fn operator_upgraded_before_its_crds_keeps_managing_links() {
    let (cp, client, ns) =
        own_control_plane("old-crds", &["externalapplications.applinks.io"]).await;
    let sim = Sim::start(&e2e::apps(&[
        ("jira", "jira"),
        ("confluence", "confluence"),
    ]));
    let kubeconfig = cp.kubeconfig().display().to_string();
    let mut op = Operator::start(&ns, &[("KUBECONFIG", kubeconfig.as_str())]);
    for doc in [
        e2e::instance_yaml("jira", sim.app("jira"), "jira", true),
        e2e::instance_yaml("confluence", sim.app("confluence"), "confluence", true),
        e2e::link_yaml("l", "jira", "confluence", "OAuth"),
    ] {
        for part in doc.split("\n---\n") {
            let v: serde_json::Value = serde_yaml::from_str(part).unwrap();
            common::apply(&client, &ns, &v).await.unwrap();
        }
    }
    e2e::wait_link_ready(&client, &ns, "l", "True").await;
    let logs = op.logs();
    assert!(
        logs.contains("ExternalApplications are not reconciled"),
        "{logs}"
    );
    assert!(
        !logs.contains("CacheNotSynced"),
        "no pass waited for it: {logs}"
    );
    assert!(!op.wait_exit(std::time::Duration::from_millis(100)));
    op.stop();
}

#[tokio::test]
async fn operator_recovers_from_an_apiserver_restart() {
    let (cp, client, ns) = own_control_plane("restart", &[]).await;

    let sim = Sim::start(&e2e::apps(&[
        ("jira", "jira"),
        ("confluence", "confluence"),
        ("bamboo", "bamboo"),
    ]));
    let kubeconfig = cp.kubeconfig().display().to_string();
    let mut op = Operator::start(&ns, &[("KUBECONFIG", kubeconfig.as_str())]);
    let apply = |yaml: String| {
        let client = client.clone();
        let ns = ns.clone();
        async move {
            for doc in yaml.split("\n---\n") {
                let v: serde_json::Value = serde_yaml::from_str(doc).unwrap();
                common::apply(&client, &ns, &v).await.unwrap();
            }
        }
    };
    for (name, t) in [
        ("jira", "jira"),
        ("confluence", "confluence"),
        ("bamboo", "bamboo"),
    ] {
        apply(e2e::instance_yaml(name, sim.app(name), t, true)).await;
    }
    apply(e2e::link_yaml("before", "jira", "confluence", "OAuth")).await;
    e2e::wait_link_ready(&client, &ns, "before", "True").await;

    cp.script("restart-apiserver");

    apply(e2e::link_yaml("after", "jira", "bamboo", "OAuth")).await;
    e2e::wait_link_ready(&client, &ns, "after", "True").await;
    for (a, b) in [("jira", "bamboo"), ("bamboo", "jira")] {
        assert_eq!(sim.link_status(a, b).await["working"], true, "{a} -> {b}");
    }
    assert!(
        !op.wait_exit(std::time::Duration::from_millis(100)),
        "the operator is still running:\n{}",
        op.logs()
    );
    assert!(!op.logs().contains("panicked"), "{}", op.logs());
    op.stop();
}
