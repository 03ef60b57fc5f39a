//! Hostile and broken applications (issue 9 §2), against the real kube-apiserver: one operator,
//! several links; each fault is applied to an application of its own, all at the same time,
//! while the other links are watched. For each fault: the specific reason and message on the
//! instance or the link, a Warning event, the time until it was reported, how many requests the
//! fault answered (no retry storm), and that it heals by itself once the fault is gone. Over the
//! whole run: the operator never restarts, its peak memory stays bounded (a 100 MB body among
//! the faults), the other links stay Ready, and the other origin a redirect points at receives
//! no credential in any form. A network partition (an iptables rule dropping one application's
//! port on loopback) is one of the faults. The figures are printed (`--nocapture`) for
//! e2e/README.md.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use common::e2e::{self, Operator, Pki, Sim, env};
use reqwest::Method;
use serde_json::{Value, json};

/// Where a fault shows: the instance's Ready condition, or the link's.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Shows {
    Instance,
    Link,
    /// Tolerated: everything stays Ready.
    Nothing,
}

struct Case {
    /// The victim application, its instance, and the link `<app>-wiki`.
    app: &'static str,
    fault: &'static str,
    shows: Shows,
    reason: &'static str,
    /// Parts of the message that make it specific.
    message: &'static [&'static str],
    /// The simulator's response rules, for the faults it serves.
    rules: Option<Value>,
    /// Longest acceptable time from the fault to its condition.
    within: Duration,
}

const MANIFEST: &str = "/rest/applinks/1.0/manifest";
const AUTH_INFO: &str = "/rest/applinks/1.0/authenticationinfo";
const V3: &str = "/rest/applinks/3.0/applinks";
/// The request timeout the test gives the operator (`--request-timeout`).
const TIMEOUT: Duration = Duration::from_secs(5);
/// What the operator may use at most, in the middle of a 100 MB answer and everything else.
const MAX_RSS_KIB: u64 = 150 * 1024;
/// Most answers a fault may give while it lasts (the window is about 25 s): the client tries a
/// broken connection 4 times and a timeout twice per call, the controller backs off from 2 s.
const MAX_FAULT_HITS: u64 = 30;

fn cases(recorder: &str) -> Vec<Case> {
    let quick = Duration::from_secs(15);
    // Two attempts of the whole timeout, the backoff between them, a pass's slack.
    let slow = TIMEOUT * 2 + Duration::from_secs(8);
    vec![
        Case {
            app: "login",
            fault: "HTML login page, 200 (proxy / Seraph serving anonymous), every REST path",
            shows: Shows::Instance,
            reason: "LoginPageServed",
            message: &["HTML login page", "X-AUSERNAME: anonymous", "/rest/"],
            rules: Some(json!([{"kind": "html-login", "path": "/rest/"}])),
            within: quick,
        },
        Case {
            app: "trunc",
            fault: "JSON truncated mid-body (link list)",
            shows: Shows::Link,
            reason: "MalformedResponse",
            message: &["ends mid-document"],
            rules: Some(json!([{"kind": "truncated-json", "path": V3}])),
            within: quick,
        },
        Case {
            app: "notjson",
            fault: "not JSON, served as application/json (manifest)",
            shows: Shows::Instance,
            reason: "MalformedResponse",
            message: &["claims to be JSON", "plain text"],
            rules: Some(json!([{"kind": "not-json", "path": MANIFEST}])),
            within: quick,
        },
        Case {
            app: "text",
            fault: "JSON served as text/plain, every REST path",
            shows: Shows::Nothing,
            reason: "Working",
            message: &[],
            rules: Some(json!([{"kind": "wrong-content-type", "path": "/rest/"}])),
            within: quick,
        },
        Case {
            app: "xml",
            fault: "XML where JSON was asked (link list)",
            shows: Shows::Link,
            reason: "MalformedResponse",
            message: &["got XML", "Accept"],
            rules: Some(json!([{"kind": "xml", "path": V3}])),
            within: quick,
        },
        Case {
            app: "utf8",
            fault: "invalid UTF-8 (manifest)",
            shows: Shows::Instance,
            reason: "MalformedResponse",
            message: &["not valid UTF-8", "offset"],
            rules: Some(json!([{"kind": "invalid-utf8", "path": MANIFEST}])),
            within: quick,
        },
        Case {
            app: "huge",
            fault: "100 MB body, chunked (link list)",
            shows: Shows::Link,
            reason: "ResponseTooLarge",
            message: &["more than 4194304 bytes"],
            rules: Some(json!([{"kind": "huge", "path": V3}])),
            within: quick,
        },
        Case {
            app: "drip",
            fault: "body drips 1 byte/s (administrator check)",
            shows: Shows::Instance,
            reason: "Timeout",
            message: &["timed out after 5s", "too slowly"],
            rules: Some(json!([{"kind": "drip", "path": AUTH_INFO}])),
            within: slow,
        },
        Case {
            app: "reset",
            fault: "connection closed mid-body (link list)",
            shows: Shows::Link,
            reason: "TransportError",
            message: &["closed while the answer was being read"],
            rules: Some(json!([{"kind": "reset", "path": V3}])),
            within: quick,
        },
        Case {
            app: "redirect",
            fault: "302 to another origin (administrator check, link REST)",
            shows: Shows::Instance,
            reason: "RedirectedToOtherOrigin",
            message: &[
                "another origin",
                "no credentials were sent there",
                "instead of",
            ],
            rules: Some(json!([
                {"kind": "redirect", "path": AUTH_INFO, "location": recorder},
                {"kind": "redirect", "path": "/rest/applinks/3.0/", "location": recorder}
            ])),
            within: quick,
        },
        Case {
            app: "expired",
            fault: "TLS certificate expired",
            shows: Shows::Instance,
            reason: "TlsCertificateExpired",
            message: &["expired", "not valid after", "renew"],
            rules: None,
            within: quick,
        },
        Case {
            app: "wronghost",
            fault: "TLS certificate for another host",
            shows: Shows::Instance,
            reason: "TlsHostnameMismatch",
            message: &[
                "not valid for the host \"127.0.0.1\"",
                "elsewhere.example.test",
            ],
            rules: None,
            within: quick,
        },
        Case {
            app: "dns",
            fault: "host name does not resolve (*.invalid)",
            shows: Shows::Instance,
            reason: "UnknownHost",
            message: &["does not resolve", ".invalid"],
            rules: None,
            within: quick,
        },
        Case {
            app: "partition",
            fault: "network partition (iptables DROP of its port on loopback)",
            shows: Shows::Instance,
            reason: "Timeout",
            message: &["timed out after 5s"],
            rules: None,
            within: slow,
        },
    ]
}

/// An iptables rule that drops every packet to a loopback port; removed when dropped.
struct Partition {
    port: u16,
}

impl Partition {
    fn args(&self, op: &str) -> Vec<String> {
        [
            op,
            "INPUT",
            "-i",
            "lo",
            "-p",
            "tcp",
            "--dport",
            &self.port.to_string(),
            "-j",
            "DROP",
            "-m",
            "comment",
            "--comment",
            "applink-e2e-hostile",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    fn cut(port: u16) -> Result<Partition, String> {
        let p = Partition { port };
        let out = Command::new("iptables")
            .args(p.args("-I"))
            .output()
            .map_err(|e| format!("iptables: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(p)
    }
}

impl Drop for Partition {
    fn drop(&mut self) {
        let _ = Command::new("iptables").args(self.args("-D")).status();
    }
}

/// The operator's peak resident memory (`VmHWM`), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn ready(
    conds: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
) -> (String, String, String) {
    e2e::condition(conds, "Ready").unwrap_or_default()
}

async fn instance_ready(env: &e2e::Env, name: &str) -> (String, String, String) {
    let i = e2e::instance(&env.client, &env.ns, name).await;
    ready(&i.status.map(|s| s.conditions).unwrap_or_default())
}

async fn link_ready(env: &e2e::Env, name: &str) -> (String, String, String) {
    let l = e2e::link(&env.client, &env.ns, name).await;
    ready(&l.status.map(|s| s.conditions).unwrap_or_default())
}

fn base64(bytes: &[u8]) -> String {
    let v = serde_json::to_value(k8s_openapi::ByteString(bytes.to_vec())).unwrap();
    v.as_str().unwrap().to_string()
}

/// Every form a secret could take in a request that reached the other origin.
fn leaks(recorded: &[Value], secrets: &[&str]) -> Vec<String> {
    let mut forms: Vec<String> = vec![];
    for s in secrets {
        forms.push(s.to_string());
        forms.push(base64(s.as_bytes()));
        forms.push(base64(format!("admin:{s}").as_bytes()));
        forms.push(s.bytes().map(|b| format!("%{b:02X}")).collect());
    }
    let mut found = vec![];
    for r in recorded {
        for h in r["headers"].as_array().into_iter().flatten() {
            let name = h[0].as_str().unwrap_or("").to_ascii_lowercase();
            if matches!(
                name.as_str(),
                "authorization" | "cookie" | "proxy-authorization"
            ) {
                found.push(format!("{} {} sent {name}", r["method"], r["path"]));
            }
        }
        let text = r.to_string();
        for f in &forms {
            if text.contains(f.as_str()) {
                found.push(format!("{} {} contains a secret", r["method"], r["path"]));
            }
        }
    }
    found
}

#[tokio::test]
async fn hostile_applications() {
    let env = env("hostile").await;
    let pki = Pki::new();
    let expired = pki.expired_cert();
    let wrong = pki.wrong_host_cert();
    let good = (pki.path("server.crt"), pki.path("server.key"));
    // A password no fault can produce by chance, so a leak of it is unmistakable.
    let password = format!("hostile-{}", std::process::id());
    let users =
        format!("  users:\n  - {{username: admin, password: {password}, role: sysadmin}}\n");
    let probe = cases("http://127.0.0.1:1");
    let mut config = format!(
        "control_port: 0\napps:\n- name: wiki\n  product: confluence\n  key_bits: 1024\n  trust_ca: [{}]\n{users}- {{name: code, product: bitbucket, key_bits: 1024}}\n- {{name: ci, product: bamboo, key_bits: 1024}}\n",
        pki.path("ca.crt")
    );
    for c in &probe {
        config.push_str(&format!(
            "- name: {}\n  product: jira\n  key_bits: 1024\n{users}",
            c.app
        ));
        if matches!(c.app, "expired" | "wronghost") {
            config.push_str(&pki.sim_tls_yaml());
        }
    }
    let sim = Sim::start(&config);
    let recorder = sim
        .recorder_url
        .clone()
        .expect("the simulator's recording listener");
    let cases = cases(&recorder);
    let mut op = Operator::start(&env.ns, &[]);
    pki.apply_ca_secret(&env.ns, "hostile-ca");
    let secret = |name: &str, url: &str| {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}-admin, annotations: {{{}: '{url}'}}}}\nstringData: {{username: admin, password: {password}}}\n---\n",
            e2e::ALLOWED_URLS
        )
    };
    let instance = |name: &str, url: &str, type_: &str, tls: bool| {
        let mut y = format!(
            "{}apiVersion: applinks.io/v1alpha1\nkind: ApplicationInstance\nmetadata: {{name: {name}}}\nspec:\n  url: {url}\n  type: {type_}\n  credentialsSecretRef: {{name: {name}-admin}}\n",
            secret(name, url)
        );
        if tls {
            y.push_str("  tls: {caSecretRef: {name: hostile-ca}}\n");
        }
        // Faults on names other than loopback (DNS) are plain HTTP by opt-in.
        if url.starts_with("http://") && !url.starts_with("http://127.") {
            y.push_str("  allowPlainHttp: true\n");
        }
        y
    };
    // code and ci keep the default admin/admin of the simulator.
    e2e::apply(
        &env.ns,
        &instance("wiki", &sim.app("wiki").base_url, "confluence", false),
    );
    for (n, t) in [("code", "bitbucket"), ("ci", "bamboo")] {
        e2e::apply(&env.ns, &e2e::instance_yaml(n, sim.app(n), t, true));
    }
    for c in &cases {
        e2e::apply(
            &env.ns,
            &instance(
                c.app,
                &sim.app(c.app).base_url,
                "jira",
                matches!(c.app, "expired" | "wronghost"),
            ),
        );
        e2e::apply(
            &env.ns,
            &e2e::link_yaml(&format!("{}-wiki", c.app), c.app, "wiki", "OAuth"),
        );
    }
    let others = ["code-wiki", "ci-code"];
    e2e::apply(
        &env.ns,
        &e2e::link_yaml("code-wiki", "code", "wiki", "OAuth"),
    );
    e2e::apply(&env.ns, &e2e::link_yaml("ci-code", "ci", "code", "OAuth"));
    let setup = Instant::now();
    for l in cases
        .iter()
        .map(|c| format!("{}-wiki", c.app))
        .chain(others.iter().map(|s| s.to_string()))
    {
        e2e::wait_link_reason(&env.client, &env.ns, &l, "Working").await;
    }
    eprintln!(
        "setup: {} links Working after {:?}",
        cases.len() + 2,
        setup.elapsed()
    );

    // --- Every fault at once, each on its own application.
    let mut partition = None;
    let mut partition_error = None;
    let mut applied = BTreeMap::new();
    for c in &cases {
        sim.control(c.app, Method::DELETE, "log", None).await;
        match c.app {
            "expired" => {
                sim.control(
                    c.app,
                    Method::PUT,
                    "tls",
                    Some(json!({"cert": expired.0, "key": expired.1})),
                )
                .await;
            }
            "wronghost" => {
                sim.control(
                    c.app,
                    Method::PUT,
                    "tls",
                    Some(json!({"cert": wrong.0, "key": wrong.1})),
                )
                .await;
            }
            "dns" => {
                let port = sim.app("dns").port;
                e2e::apply(
                    &env.ns,
                    &instance(
                        "dns",
                        &format!("http://jira.applink-hostile.invalid:{port}"),
                        "jira",
                        false,
                    ),
                );
            }
            "partition" => match Partition::cut(sim.app("partition").port) {
                Ok(p) => partition = Some(p),
                Err(e) => partition_error = Some(e),
            },
            _ => {
                let rules = c.rules.clone().unwrap();
                sim.control(
                    c.app,
                    Method::PATCH,
                    "faults",
                    Some(json!({"responses": rules})),
                )
                .await;
            }
        }
        applied.insert(c.app, Instant::now());
    }
    if let Some(e) = &partition_error {
        panic!("the partition could not be made (iptables -I INPUT -i lo … -j DROP): {e}");
    }

    // --- Until each fault is reported, while watching the other links and the operator.
    let mut seen: BTreeMap<&str, (Duration, String)> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut peak = 0;
    loop {
        assert!(op.is_running(), "the operator died: {}", op.logs());
        peak = peak.max(peak_rss_kib(op.pid()));
        for l in others {
            let (s, r, m) = link_ready(&env, l).await;
            assert!(s == "True", "{l} left Ready during the faults: {r}: {m}");
        }
        for c in &cases {
            if seen.contains_key(c.app) {
                continue;
            }
            let (status, reason, message) = match c.shows {
                Shows::Instance => instance_ready(&env, c.app).await,
                Shows::Link | Shows::Nothing => link_ready(&env, &format!("{}-wiki", c.app)).await,
            };
            if c.shows == Shows::Nothing {
                assert_eq!(
                    (status.as_str(), reason.as_str()),
                    ("True", "Working"),
                    "{}: {message}",
                    c.app
                );
                if applied[c.app].elapsed() > Duration::from_secs(10) {
                    seen.insert(c.app, (Duration::ZERO, message));
                }
                continue;
            }
            if status == "False" && reason == c.reason {
                seen.insert(c.app, (applied[c.app].elapsed(), message));
            }
        }
        if seen.len() == cases.len() {
            break;
        }
        if Instant::now() > deadline {
            let missing: Vec<_> = cases
                .iter()
                .filter(|c| !seen.contains_key(c.app))
                .map(|c| c.app)
                .collect();
            panic!("not reported within 90s: {missing:?}; seen: {seen:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A few more passes under the faults, for the request counts.
    let hold = Instant::now();
    while hold.elapsed() < Duration::from_secs(6) {
        assert!(op.is_running());
        peak = peak.max(peak_rss_kib(op.pid()));
        for l in others {
            assert_eq!(link_ready(&env, l).await.0, "True", "{l} left Ready");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // What each fault answered, and what its application saw in all.
    let mut hits = BTreeMap::new();
    for c in &cases {
        let faults = sim.control(c.app, Method::GET, "faults", None).await;
        let served: u64 = faults["responses"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| r["served"].as_u64().unwrap_or(0))
            .sum();
        let total = sim.log_entries(c.app).await.len();
        hits.insert(c.app, (served, total, applied[c.app].elapsed()));
    }
    let events = e2e::kubectl(
        &env.ns,
        &[
            "get",
            "events",
            "--field-selector",
            "type=Warning",
            "-o",
            "json",
        ],
        None,
    )
    .unwrap();
    let events: Value = serde_json::from_str(&events).unwrap();
    let warning = |kind: &str, name: &str, reason: &str| {
        events["items"].as_array().unwrap().iter().any(|e| {
            e["regarding"]["name"] == name
                && e["regarding"]["kind"] == kind
                && e["reason"] == reason
                || e["involvedObject"]["name"] == name
                    && e["involvedObject"]["kind"] == kind
                    && e["reason"] == reason
        })
    };

    // --- The fault goes; everything heals by itself.
    let cleared = Instant::now();
    for c in &cases {
        match c.app {
            "expired" | "wronghost" => {
                sim.control(
                    c.app,
                    Method::PUT,
                    "tls",
                    Some(json!({"cert": good.0, "key": good.1})),
                )
                .await;
            }
            // The one fault only a person fixes: the host name in spec.url.
            "dns" => e2e::apply(
                &env.ns,
                &instance("dns", &sim.app("dns").base_url, "jira", false),
            ),
            "partition" => drop(partition.take()),
            _ => {
                sim.control(c.app, Method::DELETE, "faults", None).await;
            }
        }
    }
    let mut healed = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while healed.len() < cases.len() {
        assert!(op.is_running(), "the operator died: {}", op.logs());
        for l in others {
            assert_eq!(
                link_ready(&env, l).await.0,
                "True",
                "{l} left Ready while healing"
            );
        }
        for c in &cases {
            if healed.contains_key(c.app) {
                continue;
            }
            let (s, r, _) = link_ready(&env, &format!("{}-wiki", c.app)).await;
            let (is, _, _) = instance_ready(&env, c.app).await;
            if s == "True" && r == "Working" && is == "True" {
                healed.insert(c.app, cleared.elapsed());
            }
        }
        if Instant::now() > deadline {
            let missing: Vec<_> = cases
                .iter()
                .filter(|c| !healed.contains_key(c.app))
                .map(|c| c.app)
                .collect();
            panic!("not healed within 120s: {missing:?}");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // --- The figures, then the assertions on them.
    eprintln!(
        "\n| fault | reason | answers by the fault (all requests to the app) | time to condition | healed after |"
    );
    eprintln!("|---|---|---|---|---|");
    for c in &cases {
        let (served, total, _) = hits[c.app];
        let answers = if c.rules.is_some() {
            format!("{served} ({total})")
        } else {
            format!("— ({total})")
        };
        eprintln!(
            "| {} | `{}` | {answers} | {:.1} s | {:.1} s |",
            c.fault,
            c.reason,
            seen[c.app].0.as_secs_f64(),
            healed[c.app].as_secs_f64()
        );
    }
    eprintln!("peak RSS (VmHWM) of the operator: {} KiB", peak);
    let mut survived = 0;
    for c in &cases {
        let (elapsed, message) = &seen[c.app];
        for part in c.message {
            assert!(
                message.contains(part),
                "{}: {part:?} not in {message}",
                c.app
            );
        }
        assert!(
            *elapsed <= c.within,
            "{}: reported after {elapsed:?}, bound {:?}",
            c.app,
            c.within
        );
        let (served, total, window) = hits[c.app];
        // A tolerated fault answers the application's ordinary traffic: only the total counts.
        assert!(
            c.shows == Shows::Nothing || served <= MAX_FAULT_HITS,
            "{}: {served} answers from the fault in {window:?}: a retry storm",
            c.app
        );
        assert!(
            total as u64 <= MAX_FAULT_HITS * 3,
            "{}: {total} requests in {window:?}",
            c.app
        );
        if c.rules.is_some() && c.shows != Shows::Nothing {
            assert!(served > 0, "{}: the fault was never met", c.app);
        }
        match c.shows {
            Shows::Instance => {
                assert!(
                    warning("ApplicationInstance", c.app, c.reason),
                    "{}: no Warning event {}",
                    c.app,
                    c.reason
                );
                let link = format!("{}-wiki", c.app);
                assert!(
                    warning("ApplicationLink", &link, "InstanceNotReady"),
                    "{link}: no Warning event"
                );
            }
            Shows::Link => {
                let link = format!("{}-wiki", c.app);
                assert!(
                    warning("ApplicationLink", &link, c.reason),
                    "{link}: no Warning event {}",
                    c.reason
                );
            }
            Shows::Nothing => {}
        }
        survived += 1;
    }
    assert!(peak > 0 && peak < MAX_RSS_KIB, "peak RSS {peak} KiB");
    // The detector itself finds a leak where there is one.
    let planted = json!([{"method": "GET", "path": "/x", "body": "",
        "headers": [["authorization", format!("Basic {}", base64(format!("admin:{password}").as_bytes()))]]}]);
    let found = leaks(planted.as_array().unwrap(), &[&password]);
    assert!(
        found.iter().any(|f| f.ends_with("sent authorization"))
            && found.iter().any(|f| f.ends_with("contains a secret")),
        "{found:?}"
    );
    let recorded = sim.recorded().await;
    let leaked = leaks(&recorded, &[&password, "admin:admin"]);
    assert!(leaked.is_empty(), "the other origin received: {leaked:?}");
    eprintln!(
        "the other origin received {} requests, {} with anything sensitive",
        recorded.len(),
        leaked.len()
    );
    let logs = op.logs();
    assert!(!logs.contains("panicked"), "a panic in the operator's log");
    assert!(op.is_running());
    eprintln!("faults survived {survived}/{}", cases.len());
}
