//! The `applink-sim` binary: config file, ready document, state dir, clean exit on SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const CONFIG: &str = r#"
control_port: 0
apps:
  - name: jira
    product: jira
    key_bits: 1024
    users:
      - {username: admin, password: secret, role: sysadmin}
      - {username: bob, password: bob, role: user}
  - name: wiki
    product: confluence
    display_name: Company Wiki
    key_bits: 1024
  - name: bitbucket
    product: bitbucket
    seed: bb-seed
    key_bits: 1024
"#;

/// Starts the binary and reads the ready document from the first stdout line.
fn spawn(dir: &Path) -> (Child, Value) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_applink-sim"))
        .arg("--config")
        .arg(dir.join("apps.yaml"))
        .arg("--state-dir")
        .arg(dir.join("state"))
        .arg("--ready-file")
        .arg(dir.join("ready.json"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn applink-sim");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let ready: Value = serde_json::from_str(&line).expect("ready JSON line");
    (child, ready)
}

fn terminate(mut child: Child) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "applink-sim did not exit on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn app<'a>(ready: &'a Value, name: &str) -> &'a Value {
    ready["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_starts_apps_writes_ready_file_persists_state_and_exits_on_sigterm() {
    let dir = std::env::temp_dir().join(format!("applink-sim-cli-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("apps.yaml"), CONFIG).unwrap();

    let (child, ready) = spawn(&dir);
    let file: Value =
        serde_json::from_slice(&std::fs::read(dir.join("ready.json")).unwrap()).unwrap();
    assert_eq!(file, ready);
    assert_eq!(ready["apps"].as_array().unwrap().len(), 3);
    let jira = app(&ready, "jira").clone();
    let wiki = app(&ready, "wiki").clone();
    assert_eq!(app(&ready, "bitbucket")["typeId"], "stash");
    assert_eq!(wiki["displayName"], "Company Wiki");
    assert!(
        wiki["version"].as_str().unwrap().starts_with("9.2."),
        "{wiki}"
    );
    let http =
        applink_sim::peer::build_client(rustls::RootCertStore::empty(), Duration::from_secs(10));

    let m: Value = http
        .get(format!(
            "{}/rest/applinks/1.0/manifest.json",
            wiki["baseUrl"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(m["id"], wiki["id"]);
    assert_eq!(m["name"], "Company Wiki");

    // Configured users: the default admin is replaced.
    let jira_url = jira["baseUrl"].as_str().unwrap().to_string();
    let r = http
        .get(format!("{jira_url}/rest/applinks/1.0/authenticationinfo"))
        .basic_auth("admin", Some("secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .get(format!("{jira_url}/rest/applinks/1.0/authenticationinfo"))
        .basic_auth("admin", Some("admin"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Create a link, then restart with the same state dir: id and link survive.
    let body = serde_json::json!({"id": wiki["id"], "name": "wiki", "typeId": "confluence", "rpcUrl": wiki["baseUrl"]});
    let r = http
        .put(format!("{jira_url}/rest/applinks/3.0/applicationlink"))
        .basic_auth("admin", Some("secret"))
        .header("X-Atlassian-Token", "no-check")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // The control port serves the same document.
    let apps: Value = http
        .get(format!(
            "{}/_sim/apps",
            ready["controlUrl"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(apps.as_array().unwrap().len(), 3);

    let status = terminate(child);
    assert!(status.success(), "exit status {status}");
    assert!(
        !dir.join("ready.json").exists(),
        "ready file removed on exit"
    );

    let (child, ready2) = spawn(&dir);
    assert_eq!(app(&ready2, "jira")["id"], jira["id"]);
    let jira_url = app(&ready2, "jira")["baseUrl"]
        .as_str()
        .unwrap()
        .to_string();
    let links: Value = http
        .get(format!("{jira_url}/rest/applinks/3.0/applinks"))
        .basic_auth("admin", Some("secret"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(links[0]["id"], wiki["id"]);
    assert!(terminate(child).success());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_config_exits_with_an_error() {
    let dir = std::env::temp_dir().join(format!("applink-sim-cli-bad-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("apps.yaml"),
        "apps:\n  - name: x\n    product: nope\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_applink-sim"))
        .arg("--config")
        .arg(dir.join("apps.yaml"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown variant"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(&dir).ok();
}
