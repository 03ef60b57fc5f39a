//! Bad input that only the operator can see (what a Secret holds, objects that change or go
//! under running links), and a check that no credential ever leaves the operator: every log
//! line, event and status of a representative run is searched for the Secrets' values.

mod common;

use std::collections::HashMap;

use common::e2e::{self, Env, Operator, Sim, env};
use serde_json::Value;

/// A distinctive random value, so that a leak cannot be a coincidence.
fn random(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// One simulated user: (username, password, personal access tokens).
type User<'a> = (&'a str, &'a str, &'a [&'a str]);

/// Simulator config; every app also has the harness's own `admin`/`admin` sysadmin (the
/// assertions read the applications with it) and `extra` sysadmins.
fn sim_config(apps: &[(&str, &str)], extra: &[User]) -> String {
    let mut users = String::from(
        "users:
- {username: admin, password: admin, role: sysadmin}
",
    );
    for (user, password, tokens) in extra {
        users.push_str(&format!(
            "- {{username: {user}, password: {password:?}, role: sysadmin, tokens: {tokens:?}}}
"
        ));
    }
    apps.iter()
        .fold(e2e::SimConfig::default(), |c, (name, product)| {
            c.app(name, product).with(&users)
        })
        .yaml()
}

/// A credentials Secret that allows its credentials to go to `allowed` (a URL).
fn secret_yaml(name: &str, allowed: &str, string_data: &[(&str, &str)]) -> String {
    let data: Vec<String> = string_data
        .iter()
        .map(|(k, v)| format!("{k:?}: {v:?}"))
        .collect();
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}, annotations: {{{}: '{allowed}'}}}}\nstringData: {{{}}}\n",
        e2e::ALLOWED_URLS,
        data.join(", ")
    )
}

fn instance_yaml(name: &str, url: &str, type_: &str, extra_spec: &str) -> String {
    format!(
        "apiVersion: applinks.io/v1alpha1\nkind: ApplicationInstance\nmetadata: {{name: {name}}}\nspec:\n  url: {url}\n  type: {type_}\n{extra_spec}"
    )
}

/// The simulator's request log of one app: (seq, auth) of each request.
async fn request_log(sim: &Sim, app: &str) -> Vec<(u64, String)> {
    sim.log_entries(app)
        .await
        .iter()
        .map(|e| {
            (
                e["seq"].as_u64().unwrap(),
                e["auth"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

async fn stalled(env: &Env, name: &str, reason: &str) -> String {
    let (i, (_, _, msg)) = e2e::wait_instance(&env.client, &env.ns, name, "Stalled", |c| {
        c.0 == "True" && c.1 == reason
    })
    .await;
    let ready = e2e::condition(&i.status.unwrap().conditions, "Ready").unwrap();
    assert_eq!((ready.0.as_str(), ready.1.as_str()), ("False", reason));
    msg
}

/// Secrets the API server cannot judge (it does not know what a credentials Secret must hold):
/// each one stalls its instance with a message naming the Secret, the key and what to put there.
#[tokio::test]
async fn unusable_secrets_stall_the_instance_with_the_key_to_fix() {
    let env = env("bad-secrets").await;
    let sim = Sim::start(&sim_config(&[("jira", "jira")], &[]));
    let _op = Operator::start(&env.ns, &[]);
    let url = sim.app("jira").base_url.clone();
    let creds = |secret: &str| format!("  credentialsSecretRef: {{name: {secret}}}\n");
    let good = [("username", "admin"), ("password", "admin")];
    // (instance, Secret (None: not created), extra spec, reason, message parts)
    let missing = format!(
        "Secret \"missing-secret\" not found in namespace \"{}\": create it",
        env.ns
    );
    type Case<'a> = (&'a str, Option<String>, String, &'a str, Vec<&'a str>);
    let cases: Vec<Case> = vec![
        (
            "no-password",
            Some(secret_yaml("no-password", &url, &[("username", "admin")])),
            creds("no-password"),
            "SecretIncomplete",
            vec![
                "Secret \"no-password\" has a user name (\"username\") but no password",
                "add the administrator's password under key \"password\"",
            ],
        ),
        (
            "empty-password",
            Some(secret_yaml(
                "empty-password",
                &url,
                &[("username", "admin"), ("password", "")],
            )),
            creds("empty-password"),
            "SecretIncomplete",
            vec!["key \"password\" of Secret \"empty-password\" is empty: put the administrator's password there"],
        ),
        (
            "custom-key-missing",
            Some(secret_yaml("custom-key-missing", &url, &good)),
            "  credentialsSecretRef: {name: custom-key-missing, usernameKey: login}\n".into(),
            "SecretIncomplete",
            vec![
                "has a password (\"password\") but no user name: add the administrator's user name under key \"login\"",
                "spec.credentialsSecretRef.usernameKey",
            ],
        ),
        (
            "wrong-keys",
            Some(secret_yaml("wrong-keys", &url, &[("user", "admin"), ("pass", "admin")])),
            creds("wrong-keys"),
            "SecretIncomplete",
            vec!["has none of the keys \"username\", \"password\" and \"token\" (it has \"pass\", \"user\")"],
        ),
        (
            "empty-token",
            Some(secret_yaml("empty-token", &url, &[("token", "")])),
            creds("empty-token"),
            "SecretIncomplete",
            vec!["key \"token\" of Secret \"empty-token\" is empty: put the administrator's personal access token there"],
        ),
        (
            "missing-secret",
            None,
            creds("missing-secret"),
            "SecretNotFound",
            vec![missing.as_str()],
        ),
        (
            "ca-key-missing",
            Some(format!(
                "{}---\n{}",
                secret_yaml("ca-key-missing-admin", &url, &good),
                secret_yaml("ca-key-missing", &url, &[("tls.crt", "x")])
            )),
            "  credentialsSecretRef: {name: ca-key-missing-admin}\n  tls: {caSecretRef: {name: ca-key-missing}}\n".into(),
            "CaBundleNotFound",
            vec!["Secret \"ca-key-missing\" has no key \"ca.crt\" (it has \"tls.crt\")"],
        ),
        (
            "ca-not-pem",
            Some("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ca-not-pem}\ndata: {ca.crt: not a certificate}\n".into()),
            "  tls: {caConfigMapRef: {name: ca-not-pem}}\n".into(),
            "CaBundleInvalid",
            vec!["key \"ca.crt\" of ConfigMap \"ca-not-pem\" holds no PEM certificate"],
        ),
    ];
    for (name, secret, spec, _, _) in &cases {
        if let Some(s) = secret {
            e2e::apply(&env.ns, s);
        }
        e2e::apply(&env.ns, &instance_yaml(name, &url, "jira", spec));
    }
    for (name, _, _, reason, parts) in &cases {
        let msg = stalled(&env, name, reason).await;
        for p in parts {
            assert!(msg.contains(p), "{name}: {msg:?} lacks {p:?}");
        }
    }
    // None of them got as far as asking the application with credentials.
    let auths = request_log(&sim, "jira").await;
    assert!(
        auths.iter().all(|(_, a)| a == "anonymous"),
        "only anonymous manifest reads: {auths:?}"
    );
}

/// A Secret rotated under a running link: the link stays Ready, and the operator switches to
/// the new credentials (here from a password to a personal access token, which the
/// application's request log tells apart).
#[tokio::test]
async fn a_rotated_secret_keeps_the_link_ready_and_is_used() {
    // Rotated on Confluence: its access tokens pass secure administrator sessions (a token on a
    // Jira with them on is refused for creates: see e2e_real_products.rs).
    let env = env("rotate").await;
    let (password, token) = (random("pw"), random("pat"));
    let sim = Sim::start(&sim_config(
        &[("jira", "jira"), ("confluence", "confluence")],
        &[("ops", &password, &[token.as_str()])],
    ));
    let _op = Operator::start(&env.ns, &[]);
    for (name, product) in [("jira", "jira"), ("confluence", "confluence")] {
        e2e::apply(
            &env.ns,
            &secret_yaml(
                &format!("{name}-admin"),
                &sim.app(name).base_url,
                &[("username", "ops"), ("password", &password)],
            ),
        );
        e2e::apply(
            &env.ns,
            &instance_yaml(
                name,
                &sim.app(name).base_url,
                product,
                &format!("  credentialsSecretRef: {{name: {name}-admin}}\n"),
            ),
        );
    }
    e2e::apply(&env.ns, &e2e::link_yaml("l", "jira", "confluence", "OAuth"));
    e2e::wait_link_ready(&env.client, &env.ns, "l", "True").await;
    let before = request_log(&sim, "confluence").await;
    assert!(before.iter().any(|(_, a)| a == "basic"));
    assert!(!before.iter().any(|(_, a)| a == "bearer"));

    e2e::kubectl(
        &env.ns,
        &["replace", "-f", "-"],
        Some(&secret_yaml(
            "confluence-admin",
            &sim.app("confluence").base_url,
            &[("token", &token)],
        )),
    )
    .unwrap();
    // Until the operator has used the token in a few passes, the link must stay Ready.
    let not_ready = std::cell::RefCell::new(Vec::new());
    // Requests already under way when the Secret changed may still carry the password, so the
    // evidence is a run of token requests after the last password request: if the operator
    // kept sending the password, that run would keep restarting and the wait would fail.
    let (last_basic, after) = e2e::wait_for("only the new token in use", || async {
        let l = e2e::link(&env.client, &env.ns, "l").await;
        let ready = e2e::condition(&l.status.unwrap().conditions, "Ready");
        if ready.as_ref().is_none_or(|c| c.0 != "True") {
            not_ready.borrow_mut().push(format!("{ready:?}"));
        }
        let log = request_log(&sim, "confluence").await;
        let last_basic = log
            .iter()
            .filter(|(_, a)| a == "basic")
            .map(|(seq, _)| *seq)
            .max()
            .unwrap_or(0);
        let after = log
            .iter()
            .filter(|(seq, a)| *seq > last_basic && a == "bearer")
            .count();
        // Several passes' worth: instance checks and link passes.
        if after >= 8 {
            Ok((last_basic, after))
        } else {
            Err(format!(
                "{after} token requests after the last password request (#{last_basic})"
            ))
        }
    })
    .await;
    let not_ready = not_ready.into_inner();
    assert!(
        not_ready.is_empty(),
        "the link left Ready during rotation: {not_ready:?}"
    );
    let log = request_log(&sim, "confluence").await;
    let basic_after = log
        .iter()
        .filter(|(seq, a)| *seq > last_basic && a == "basic")
        .count();
    assert_eq!(
        basic_after, 0,
        "the password was sent again after {after} token requests"
    );
    let l = e2e::wait_link_ready(&env.client, &env.ns, "l", "True").await;
    assert_eq!(l.status.unwrap().health.as_deref(), Some("Working"));
    let (_, (_, _, msg)) = e2e::wait_instance(
        &env.client,
        &env.ns,
        "confluence",
        "CredentialsValid",
        |c| c.0 == "True",
    )
    .await;
    assert!(msg.contains("personal access token"), "{msg}");
}

/// A Secret deleted under a running link: a clear condition on the instance (and the link), and
/// nothing is deleted in the applications; restoring the Secret brings everything back.
#[tokio::test]
async fn a_deleted_secret_gives_a_clear_condition_and_deletes_nothing() {
    let env = env("secret-gone").await;
    let sim = Sim::start(&sim_config(
        &[("jira", "jira"), ("confluence", "confluence")],
        &[],
    ));
    let _op = Operator::start(&env.ns, &[]);
    e2e::linked_pair(
        &env.client,
        &env.ns,
        &sim,
        ("jira", "jira"),
        ("confluence", "confluence"),
    )
    .await;

    e2e::delete(&env.ns, "secret", "jira-admin");
    let msg = stalled(&env, "jira", "SecretNotFound").await;
    assert!(
        msg.contains("Secret \"jira-admin\" not found") && msg.contains("create it"),
        "{msg}"
    );
    let l = e2e::wait_link_ready_where(&env.client, &env.ns, "l", "not Ready", |_, c| {
        c.0 == "False"
    })
    .await;
    let ready = e2e::condition(&l.status.unwrap().conditions, "Ready").unwrap();
    assert!(
        ready.2.contains("jira") && ready.2.contains("Secret \"jira-admin\" not found"),
        "the link says which instance and why: {ready:?}"
    );
    // Let the operator make several more passes (its request count rises), then look: both
    // ends are still there.
    let seen = sim.request_count("confluence").await;
    e2e::wait_for("more operator passes", || async {
        let n = sim.request_count("confluence").await;
        if n >= seen + 6 {
            Ok(())
        } else {
            Err(format!("{} requests", n - seen))
        }
    })
    .await;
    assert_eq!(sim.links("jira").await.len(), 1, "source end kept");
    assert_eq!(sim.links("confluence").await.len(), 1, "target end kept");

    e2e::apply(
        &env.ns,
        &e2e::instance_yaml("jira", sim.app("jira"), "jira", true),
    );
    e2e::wait_link_ready(&env.client, &env.ns, "l", "True").await;
    assert_eq!(sim.links("jira").await.len(), 1);
}

/// Deleting an instance that links use: its in-use finalizer keeps it (so the links can still
/// delete their ends), a Terminating condition (reason InUse) names the links, the link stays Ready; once
/// the link is deleted, both ends go and then the instance.
#[tokio::test]
async fn deleting_an_instance_in_use_waits_for_its_links() {
    let env = env("inst-in-use").await;
    let sim = Sim::start(&sim_config(
        &[("jira", "jira"), ("confluence", "confluence")],
        &[],
    ));
    let _op = Operator::start(&env.ns, &[]);
    e2e::linked_pair(
        &env.client,
        &env.ns,
        &sim,
        ("jira", "jira"),
        ("confluence", "confluence"),
    )
    .await;

    e2e::delete(&env.ns, "applicationinstance", "confluence");
    let (i, (_, reason, msg)) =
        e2e::wait_instance(&env.client, &env.ns, "confluence", "Terminating", |c| {
            c.0 == "True"
        })
        .await;
    assert_eq!(reason, "InUse");
    assert!(
        msg.contains("used by l.") && msg.contains("delete those ApplicationLinks"),
        "{msg}"
    );
    assert!(i.metadata.deletion_timestamp.is_some());
    assert!(
        i.metadata
            .finalizers
            .unwrap_or_default()
            .contains(&"applinks.io/in-use".to_string())
    );
    let l = e2e::wait_link_ready(&env.client, &env.ns, "l", "True").await;
    assert_eq!(l.status.unwrap().health.as_deref(), Some("Working"));
    assert_eq!(sim.links("confluence").await.len(), 1);

    e2e::delete(&env.ns, "applink", "l");
    e2e::wait_link_gone(&env.client, &env.ns, "l").await;
    assert!(sim.links("jira").await.is_empty(), "source end deleted");
    assert!(
        sim.links("confluence").await.is_empty(),
        "target end deleted"
    );
    let api = kube::Api::<applink_operator::crd::ApplicationInstance>::namespaced(
        env.client.clone(),
        &env.ns,
    );
    e2e::wait_for("the instance to be gone", || async {
        match api.get_opt("confluence").await.unwrap() {
            None => Ok(()),
            Some(i) => Err(format!("{:?}", i.metadata.finalizers)),
        }
    })
    .await;
}

/// The credential values of the leak test and the forms they could leak in.
struct Credentials {
    values: Vec<String>,
    forms: Vec<(String, String)>,
}

impl Credentials {
    fn new(values: &[&str], users: &[&str]) -> Credentials {
        let mut forms = Vec::new();
        for v in values {
            forms.push((v.to_string(), format!("{v} (as is)")));
            // A part of it (a truncated or wrapped value).
            let part = &v[v.len() - 16..];
            forms.push((part.to_string(), format!("{v} (its last 16 characters)")));
            forms.push((
                base64(v.as_bytes()),
                format!("{v} (base64, as in a Secret's data)"),
            ));
            for u in users {
                forms.push((
                    base64(format!("{u}:{v}").as_bytes()),
                    format!("{v} (in a Basic header for {u})"),
                ));
            }
        }
        Credentials {
            values: values.iter().map(|v| v.to_string()).collect(),
            forms,
        }
    }

    /// Every leak in `text`, described.
    fn leaks(&self, text: &str) -> Vec<String> {
        self.forms
            .iter()
            .filter(|(form, _)| text.contains(form.as_str()))
            .map(|(_, what)| what.clone())
            .collect()
    }
}

fn base64(bytes: &[u8]) -> String {
    let v = serde_json::to_value(k8s_openapi::ByteString(bytes.to_vec())).unwrap();
    v.as_str().unwrap().to_string()
}

/// One representative run (instances with a password, a token, a wrong password and extra
/// secret keys; a two-way OAuth link created, configured and deleted), with the operator at
/// debug level in `format`; every log line, event and status must be free of credentials.
async fn no_credential_leaks(prefix: &str, format: &str) {
    let env = env(prefix).await;
    let jira_pw = random("jira-pw");
    let conf_token = random("conf-pat");
    let wrong_pw = random("wrong-pw");
    let bitbucket_pw = random("bb-pw");
    let oauth_secret = random("oauth-secret");
    let private_key = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----",
        random("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC")
    );
    let private_key_body = private_key.lines().nth(1).unwrap().to_string();
    let secrets = Credentials::new(
        &[
            &jira_pw,
            &conf_token,
            &wrong_pw,
            &bitbucket_pw,
            &oauth_secret,
            &private_key_body,
        ],
        &["ops", "admin"],
    );
    // The scanner finds what it looks for.
    assert_eq!(
        secrets.leaks(&format!(
            "x {} y",
            base64(format!("ops:{jira_pw}").as_bytes())
        )),
        vec![format!("{jira_pw} (in a Basic header for ops)")]
    );
    let sim = Sim::start(&sim_config(
        &[
            ("jira", "jira"),
            ("confluence", "confluence"),
            ("bitbucket", "bitbucket"),
        ],
        &[
            ("ops", &jira_pw, &[]),
            ("pat-user", &random("unused"), &[conf_token.as_str()]),
            ("bbops", &bitbucket_pw, &[]),
        ],
    ));
    // Debug for every crate (kube, hyper, rustls, the operator); APPLINK_E2E_LEAK_LEVEL=trace
    // for an even louder run by hand.
    let level = std::env::var("APPLINK_E2E_LEAK_LEVEL").unwrap_or_else(|_| "debug".into());
    let mut op = Operator::start_with(
        &env.ns,
        &[("RUST_LOG", level.as_str())],
        &["--log-format", format],
    );
    let mut evidence: Vec<(String, String)> = Vec::new();
    let snapshot = |what: &str| {
        let out = e2e::kubectl(
            &env.ns,
            &[
                "get",
                "applicationinstances,applicationlinks,events",
                "-o",
                "json",
            ],
            None,
        )
        .unwrap();
        (what.to_string(), out)
    };

    // Jira: password, plus keys a careless Secret might also hold.
    e2e::apply(
        &env.ns,
        &secret_yaml(
            "jira-admin",
            &sim.app("jira").base_url,
            &[
                ("username", "ops"),
                ("password", &jira_pw),
                ("oauth-consumer-secret", &oauth_secret),
                ("private-key", &private_key),
            ],
        ),
    );
    // Confluence: a personal access token. Bitbucket: a wrong password.
    e2e::apply(
        &env.ns,
        &secret_yaml(
            "confluence-admin",
            &sim.app("confluence").base_url,
            &[("token", &conf_token)],
        ),
    );
    e2e::apply(
        &env.ns,
        &secret_yaml(
            "bitbucket-admin",
            &sim.app("bitbucket").base_url,
            &[("username", "bbops"), ("password", &wrong_pw)],
        ),
    );
    for (name, product) in [
        ("jira", "jira"),
        ("confluence", "confluence"),
        ("bitbucket", "bitbucket"),
    ] {
        e2e::apply(
            &env.ns,
            &instance_yaml(
                name,
                &sim.app(name).base_url,
                product,
                &format!("  credentialsSecretRef: {{name: {name}-admin}}\n"),
            ),
        );
    }
    e2e::apply(
        &env.ns,
        &e2e::link_yaml("jc", "jira", "confluence", "OAuth"),
    );
    e2e::apply(
        &env.ns,
        &e2e::link_yaml("jb", "jira", "bitbucket", "OAuthImpersonation"),
    );
    let link = e2e::wait_link_ready(&env.client, &env.ns, "jc", "True").await;
    let st = link.status.unwrap();
    assert!(
        st.source.unwrap().auth.unwrap().outgoing.two_lo,
        "OAuth configured"
    );
    e2e::wait_instance(&env.client, &env.ns, "bitbucket", "CredentialsValid", |c| {
        c.0 == "False" && c.1 == "CredentialsRejected"
    })
    .await;
    e2e::wait_link_ready_where(&env.client, &env.ns, "jb", "not Ready", |_, c| {
        c.0 == "False" && c.2.contains("bitbucket")
    })
    .await;
    evidence.push(snapshot("status and events after create"));

    e2e::delete(&env.ns, "applink", "jc");
    // jb cannot verify its target (the credentials are wrong), so its deletion is held; the
    // condition says how to let it go, which is what a user does.
    e2e::kubectl(
        &env.ns,
        &[
            "patch",
            "applink",
            "jb",
            "--type=merge",
            "-p",
            r#"{"spec":{"deletionPolicy":"Orphan"}}"#,
        ],
        None,
    )
    .unwrap();
    e2e::delete(&env.ns, "applink", "jb");
    e2e::wait_link_gone(&env.client, &env.ns, "jc").await;
    e2e::wait_link_gone(&env.client, &env.ns, "jb").await;
    assert!(sim.links("confluence").await.is_empty());
    evidence.push(snapshot("status and events after deletion"));
    op.terminate();
    assert!(
        op.wait_exit(std::time::Duration::from_secs(20)),
        "the operator stops on SIGTERM"
    );
    let logs = op.logs();
    let lines = logs.lines().count();
    // The run was logged at debug level, in the format asked for.
    let debug_marker = if format == "json" {
        "\"level\":\"DEBUG\""
    } else {
        " DEBUG "
    };
    assert!(
        logs.contains("/secrets/jira-admin"),
        "the log shows the Secret reads"
    );
    assert!(
        logs.contains(debug_marker),
        "no debug lines in {lines} lines of log"
    );
    if format == "json" {
        let not_json: Vec<_> = logs
            .lines()
            .filter(|l| serde_json::from_str::<Value>(l).is_err())
            .take(3)
            .collect();
        assert!(not_json.is_empty(), "lines that are not JSON: {not_json:?}");
    }
    evidence.push(("operator stdout and stderr".into(), logs));

    // APPLINK_E2E_KEEP=<dir> keeps what was searched, for a look by hand.
    if let Some(dir) = std::env::var_os("APPLINK_E2E_KEEP") {
        let dir = std::path::Path::new(&dir).join(prefix);
        std::fs::create_dir_all(&dir).unwrap();
        for (i, (_, text)) in evidence.iter().enumerate() {
            std::fs::write(dir.join(format!("{i}.txt")), text).unwrap();
        }
    }
    let mut found: HashMap<String, Vec<String>> = HashMap::new();
    for (what, text) in &evidence {
        let leaks = secrets.leaks(text);
        if !leaks.is_empty() {
            found.insert(what.clone(), leaks);
        }
    }
    assert!(
        found.is_empty(),
        "credentials leaked (secrets leaked = {}): {found:?}",
        found.values().map(Vec::len).sum::<usize>()
    );
    eprintln!(
        "{format}: {lines} log lines, {} status/event snapshots, {} credential values in {} forms: secrets leaked = 0",
        evidence.len() - 1,
        secrets.values.len(),
        secrets.forms.len()
    );
}

#[tokio::test]
async fn no_credential_in_text_logs_events_or_status_at_debug_level() {
    no_credential_leaks("leak-text", "text").await;
}

#[tokio::test]
async fn no_credential_in_json_logs_events_or_status_at_debug_level() {
    no_credential_leaks("leak-json", "json").await;
}

/// A staging instance and a production one (`spec.environment`): a link between them is refused
/// before anything is written in either application, and says why.
#[tokio::test]
async fn a_link_across_environments_is_refused_before_any_write() {
    let env = env("environments").await;
    let sim = Sim::start(&e2e::apps(&[
        ("jira", "jira"),
        ("confluence", "confluence"),
    ]));
    let _op = Operator::start(&env.ns, &[]);
    for (n, t, environment) in [
        ("jira", "jira", "staging"),
        ("confluence", "confluence", "production"),
    ] {
        let y = e2e::instance_yaml(n, sim.app(n), t, true)
            .replace("spec:\n", &format!("spec:\n  environment: {environment}\n"));
        e2e::apply(&env.ns, &y);
    }
    e2e::apply(&env.ns, &e2e::link_yaml("l", "jira", "confluence", "OAuth"));
    let l = e2e::wait_link_reason(&env.client, &env.ns, "l", "EnvironmentMismatch").await;
    let conds = l.status.unwrap().conditions;
    let (_, _, msg) = e2e::condition(&conds, "Ready").unwrap();
    assert!(
        msg.contains("\"staging\"") && msg.contains("\"production\""),
        "{msg}"
    );
    assert_eq!(
        e2e::condition(&conds, "Stalled").map(|c| c.0),
        Some("True".into())
    );
    for app in ["jira", "confluence"] {
        assert!(sim.links(app).await.is_empty(), "{app} got a link");
        let writes = sim
            .log_entries(app)
            .await
            .iter()
            .filter(|e| e["method"] != "GET")
            .count();
        assert_eq!(writes, 0, "{app} got a write");
    }
}
