//! Running the control plane's tools (helm, kubectl) and other programs as a test does: each call
//! bounded in time, its output captured; and polling without an async runtime.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Any helm or kubectl call that takes longer fails the test.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// A program of the control plane's bin directory ($APPLINK_E2E_BIN).
pub fn bin(name: &str) -> PathBuf {
    let dir = std::env::var_os("APPLINK_E2E_BIN").unwrap_or_else(|| {
        panic!(
            "APPLINK_E2E_BIN is not set: run the integration tests through e2e/test.sh (it starts the local control plane and provides helm and kubectl)"
        )
    });
    PathBuf::from(dir).join(name)
}

pub fn admin_kubeconfig() -> PathBuf {
    std::env::var_os("KUBECONFIG").map(PathBuf::from).unwrap_or_else(|| {
        panic!(
            "KUBECONFIG is not set: run the integration tests through e2e/test.sh, which starts the local control plane"
        )
    })
}

pub struct Out {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs a program to completion within CALL_TIMEOUT (killed and failed after it).
pub fn run(program: &Path, args: &[&str], env: &[(&str, &Path)]) -> Out {
    let dir = tempfile::tempdir().unwrap();
    let (out_path, err_path) = (dir.path().join("out"), dir.path().join("err"));
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("{} could not start: {e}", program.display()));
    let deadline = Instant::now() + CALL_TIMEOUT;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{} {} did not finish within {CALL_TIMEOUT:?}",
                program.display(),
                args.join(" ")
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Out {
        ok: status.success(),
        stdout: std::fs::read_to_string(&out_path).unwrap(),
        stderr: std::fs::read_to_string(&err_path).unwrap(),
    }
}

/// Polls `ready` every 200 ms until it returns true; panics with `what` after `within`.
pub fn poll(what: &str, within: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !ready() {
        assert!(Instant::now() < deadline, "{what} within {within:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
