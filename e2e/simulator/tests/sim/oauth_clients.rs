//! Real client libraries complete the flows against the simulator: `e2e/oauth-clients/setup.sh`
//! builds (or reuses) the venv, then authlib's OAuth 2.0 client does the authorization-code
//! flow with PKCE S256 and a refresh, and authlib's OAuth 1 client the three-legged RSA-SHA1
//! dance, each from only what an operator would write into a Secret.
//!
//! Ignored by default: a cold venv needs PyPI. Run with
//! `cargo test --test oauth_clients -- --ignored --nocapture`.

use std::path::PathBuf;
use std::process::Stdio;

use crate::common::{Env, cfg, json, start};
use applink_sim::Product;
use applink_sim::config::OAuth2Settings;
use applink_sim::wire::keys;
use reqwest::Method;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use serde_json::{Value, json};

const REDIRECT: &str = "http://localhost:8765/callback";

fn clients_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../oauth-clients")
}

/// setup.sh's last stdout line: the venv's python.
async fn venv_python() -> String {
    let started = std::time::Instant::now();
    let out = tokio::process::Command::new("bash")
        .arg(clients_dir().join("setup.sh"))
        .stderr(Stdio::inherit())
        .output()
        .await
        .expect("run setup.sh");
    assert!(out.status.success(), "setup.sh failed");
    eprintln!("setup.sh took {} ms", started.elapsed().as_millis());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .expect("setup.sh prints the python path")
        .to_string()
}

/// Runs a flow script with its inputs in the environment (secrets never on the command line);
/// returns its exit success and JSON result.
async fn run_script(python: &str, script: &str, env: &[(&str, String)]) -> (bool, Value) {
    let mut cmd = tokio::process::Command::new(python);
    cmd.arg(clients_dir().join(script))
        .stderr(Stdio::inherit())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        // Keep the source tree free of __pycache__.
        .env("PYTHONDONTWRITEBYTECODE", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let started = std::time::Instant::now();
    let out = cmd.output().await.expect("run the script");
    let stdout = String::from_utf8(out.stdout).unwrap();
    eprintln!(
        "{script} took {} ms: {stdout}",
        started.elapsed().as_millis()
    );
    let v: Value = serde_json::from_str(stdout.lines().last().unwrap_or("null")).unwrap();
    (out.status.success(), v)
}

fn jira() -> applink_sim::AppConfig {
    let mut c = cfg("jira", Product::Jira);
    c.oauth2 = Some(OAuth2Settings {
        skip_base_url_https: true,
        ..Default::default()
    });
    c
}

/// What the operator writes into the Secret: a client created through `/client`.
async fn oauth2_secret(env: &Env, scope: &str) -> Value {
    let (code, c) = json(
        env.admin(Method::POST, "jira", "/rest/oauth2/latest/client")
            .json(&json!({"name": "Che", "redirects": [REDIRECT], "scope": scope}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 200, "{c}");
    c
}

#[tokio::test]
#[ignore = "needs PyPI for a cold venv (e2e/oauth-clients/setup.sh)"]
async fn authlib_completes_the_oauth2_flow_and_the_oauth1_dance() {
    let python = venv_python().await;
    let env = start(vec![jira()]).await;
    let base = env.app("jira").base_url.clone();
    let control = format!(
        "{}/_sim/apps/jira",
        env.sim.control_url().expect("control port")
    );

    let c = oauth2_secret(&env, "WRITE").await;
    for consent in ["basic", "control"] {
        let (ok, v) = run_script(
            &python,
            "oauth2_flow.py",
            &[
                ("OAUTH2_CLIENT_ID", c["clientId"].as_str().unwrap().into()),
                (
                    "OAUTH2_CLIENT_SECRET",
                    c["clientSecret"].as_str().unwrap().into(),
                ),
                (
                    "OAUTH2_AUTHORIZE_URL",
                    format!("{base}/rest/oauth2/latest/authorize"),
                ),
                (
                    "OAUTH2_TOKEN_URL",
                    format!("{base}/rest/oauth2/latest/token"),
                ),
                ("OAUTH2_USERNAME", "user".into()),
                ("OAUTH2_PASSWORD", "user".into()),
                ("OAUTH2_REDIRECT_URI", REDIRECT.into()),
                ("OAUTH2_SCOPE", "READ".into()),
                ("OAUTH2_REST_PATH", "/rest/api/2/myself".into()),
                ("OAUTH2_CONSENT", consent.into()),
                ("OAUTH2_CONTROL_URL", control.clone()),
            ],
        )
        .await;
        assert!(ok, "{consent}: {v}");
        assert_eq!(v["ok"], true);
        assert_eq!(v["rest_status"], 200);
        assert_eq!(v["rest_user"], "user", "as the consenting user");
        assert_eq!(v["state_matched"], true);
        assert_eq!(v["token"]["token_type"], "bearer");
        assert_eq!(v["token"]["scope"], "READ");
        assert_eq!(v["refresh"]["rotated"], true);
        assert_eq!(v["rest_status_after_refresh"], 200);
        assert_eq!(v["old_refresh_token_error"], "invalid_grant");
        assert_eq!(v["old_access_token_status"], 401);
        let out = v.to_string();
        assert!(!out.contains(c["clientSecret"].as_str().unwrap()));
    }
    // A wrong secret fails with a clear message and a non-zero exit.
    let (ok, v) = run_script(
        &python,
        "oauth2_flow.py",
        &[
            ("OAUTH2_CLIENT_ID", c["clientId"].as_str().unwrap().into()),
            ("OAUTH2_CLIENT_SECRET", "0".repeat(64)),
            (
                "OAUTH2_AUTHORIZE_URL",
                format!("{base}/rest/oauth2/latest/authorize"),
            ),
            (
                "OAUTH2_TOKEN_URL",
                format!("{base}/rest/oauth2/latest/token"),
            ),
            ("OAUTH2_USERNAME", "user".into()),
            ("OAUTH2_PASSWORD", "user".into()),
            ("OAUTH2_REDIRECT_URI", REDIRECT.into()),
            ("OAUTH2_SCOPE", "READ".into()),
            ("OAUTH2_REST_PATH", "/rest/api/2/myself".into()),
        ],
    )
    .await;
    assert!(!ok);
    assert!(
        v["error"].as_str().unwrap().contains("invalid_client"),
        "{v}"
    );

    // OAuth 1.0a: a generic link with the tool's consumer, then the dance.
    let key = keys::private_key("oauth-clients-tool", 2048);
    let dir = std::env::temp_dir().join(format!("oauth1-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key_file = dir.join("private.key");
    std::fs::write(
        &key_file,
        key.to_pkcs8_pem(LineEnding::LF).unwrap().as_bytes(),
    )
    .unwrap();
    let (code, _) = json(
        env.admin(Method::PUT, "jira", "/rest/applinks/2.0/applicationlink")
            .json(&json!({"name": "Che", "typeId": "generic", "rpcUrl": "https://che.example.com"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 201);
    let id = applink_sim::wire::keys::url_uuid("https://che.example.com");
    let public = key
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let r = env
        .admin(
            Method::PUT,
            "jira",
            &format!("/rest/applinks-oauth/1.0/applicationlink/{id}/authentication/consumer"),
        )
        .json(&json!({"key": "che-consumer", "name": "Che", "publicKey": public}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let (ok, v) = run_script(
        &python,
        "oauth1_flow.py",
        &[
            ("OAUTH1_CONSUMER_KEY", "che-consumer".into()),
            (
                "OAUTH1_PRIVATE_KEY_FILE",
                key_file.to_string_lossy().into_owned(),
            ),
            ("OAUTH1_BASE_URL", base.clone()),
            ("OAUTH1_USERNAME", "user".into()),
            ("OAUTH1_PASSWORD", "user".into()),
            ("OAUTH1_REST_PATH", "/rest/api/2/myself".into()),
        ],
    )
    .await;
    std::fs::remove_dir_all(&dir).ok();
    assert!(ok, "{v}");
    assert_eq!(v["rest_status"], 200);
    assert_eq!(v["rest_user"], "user");
    assert_eq!(v["callback_confirmed"], true);
    assert_eq!(v["verifier_length"], 6);
    let (_, log) = json(
        env.control(Method::GET, "jira", "/log")
            .send()
            .await
            .unwrap(),
    )
    .await;
    let entries = log["entries"].as_array().unwrap();
    assert!(entries.iter().any(|e| e["auth"] == "oauth2"));
    assert!(entries.iter().any(|e| e["auth"] == "3lo"));
}
