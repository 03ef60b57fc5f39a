//! The real installation: e2e/helm-e2e.sh builds the operator image without a daemon (twice: the
//! digests must match), pushes it to a loopback registry, starts a one-node cluster of its own
//! (e2e/node.sh: kubelet, kube-scheduler, containerd, runc, CNI bridge) and then
//! `helm install`s the previous commit's chart and image with two replicas and leader election,
//! creates links against the simulated applications, `helm upgrade`s to this commit (links stay
//! Ready, no write request reaches the applications, the lease passes to a new pod), checks the
//! pods (image from the registry, readiness, JSON logs, metrics), runs `helm test`, and
//! `helm uninstall`s (CRDs and links stay, the applications are untouched).
//!
//! Run by e2e/test.sh (root, with containerd, runc and the CNI plugins installed by .ci/run).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The script's own waits have deadlines; this is the outer bound.
const TIMEOUT: Duration = Duration::from_secs(30 * 60);

#[test]
fn helm_install_upgrade_test_and_uninstall_on_a_real_node() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let run = tempfile::Builder::new()
        .prefix("applink-helm-e2e.")
        .tempdir()
        .unwrap();
    let started = Instant::now();
    let mut child = Command::new(repo.join("e2e/helm-e2e.sh"))
        // Its own control plane and node, not the shared control plane of the other tests.
        .env("APPLINK_E2E_RUN", run.path())
        .env_remove("KUBECONFIG")
        .spawn()
        .expect("e2e/helm-e2e.sh starts");
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > TIMEOUT {
            // SIGTERM lets the script's EXIT trap stop the node and the control plane.
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
            panic!("e2e/helm-e2e.sh did not finish within {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(
        status.success(),
        "e2e/helm-e2e.sh failed ({status}); its output is above"
    );
    eprintln!("helm e2e passed in {:?}", started.elapsed());
}
