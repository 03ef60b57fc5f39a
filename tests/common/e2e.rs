//! End-to-end harness: simulated applications (the `applink-sim` binary), the operator binary as
//! a separate process scoped to one namespace, kubectl against the real control plane.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use applink_operator::crd::{ApplicationInstance, ApplicationLink};
use kube::{Api, Client};
use serde_json::Value;

/// How long any end-to-end wait may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(90);

fn bin_dir() -> PathBuf {
    crate::common::process::bin("")
}

pub fn kubectl(ns: &str, args: &[&str], stdin: Option<&str>) -> Result<String, String> {
    let mut cmd = Command::new(bin_dir().join("kubectl"));
    cmd.arg("-n")
        .arg(ns)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd.spawn().expect("kubectl runs");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// `kubectl apply -f -` of a manifest; panics with kubectl's message when refused.
pub fn apply(ns: &str, yaml: &str) {
    kubectl(ns, &["apply", "-f", "-"], Some(yaml))
        .unwrap_or_else(|e| panic!("kubectl apply failed: {e}\n{yaml}"));
}

pub fn delete(ns: &str, kind: &str, name: &str) {
    kubectl(ns, &["delete", kind, name, "--wait=false"], None)
        .unwrap_or_else(|e| panic!("kubectl delete failed: {e}"));
}

/// One simulated application as the simulator announced it.
#[derive(Clone, Debug)]
pub struct SimApp {
    pub name: String,
    pub id: String,
    pub base_url: String,
    pub port: u16,
}

/// A running simulator process; killed when dropped.
pub struct Sim {
    child: Child,
    /// The separate control port, which stays up while an app stops listening.
    control_url: Option<String>,
    /// The recording listener (another origin), with the control port.
    pub recorder_url: Option<String>,
    pub apps: HashMap<String, SimApp>,
    pub dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl Sim {
    /// Starts `applink-sim` with this YAML config and waits for its ready document.
    pub fn start(config: &str) -> Sim {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("apps.yaml");
        std::fs::write(&cfg, config).unwrap();
        let ready = dir.path().join("ready.json");
        let bin = crate::common::repo_path("e2e/simulator/target/release/applink-sim");
        let child = Command::new(&bin)
            .arg("--config")
            .arg(&cfg)
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .arg("--ready-file")
            .arg(&ready)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("sim.log")).unwrap())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "{} could not start ({e}); e2e/test.sh builds it",
                    bin.display()
                )
            });
        let deadline = Instant::now() + Duration::from_secs(30);
        let doc: Value = loop {
            if let Ok(text) = std::fs::read_to_string(&ready)
                && let Ok(v) = serde_json::from_str(&text)
            {
                break v;
            }
            assert!(
                Instant::now() < deadline,
                "simulator not ready within 30s: {}",
                dir.path().display()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let apps = doc["apps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                let app = SimApp {
                    name: a["name"].as_str().unwrap().to_string(),
                    id: a["id"].as_str().unwrap().to_string(),
                    base_url: a["baseUrl"]
                        .as_str()
                        .unwrap()
                        .trim_end_matches('/')
                        .to_string(),
                    port: a["port"].as_u64().unwrap() as u16,
                };
                (app.name.clone(), app)
            })
            .collect();
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .danger_accept_invalid_certs(true) // test assertions only; the operator verifies TLS
            .build()
            .unwrap();
        let control_url = doc["controlUrl"]
            .as_str()
            .map(|u| u.trim_end_matches('/').to_string());
        let recorder_url = doc["recorderUrl"].as_str().map(str::to_string);
        Sim {
            child,
            control_url,
            recorder_url,
            apps,
            dir,
            http,
        }
    }

    pub fn app(&self, name: &str) -> &SimApp {
        self.apps
            .get(name)
            .unwrap_or_else(|| panic!("no simulated app {name}"))
    }

    /// GET on an app with its admin's Basic auth, JSON.
    pub async fn get(&self, app: &str, path: &str) -> (u16, Value) {
        let url = format!(
            "{}/{}",
            self.app(app).base_url,
            path.trim_start_matches('/')
        );
        let resp = self
            .http
            .get(&url)
            .basic_auth("admin", Some("admin"))
            .header("Accept", "application/json")
            .send()
            .await
            .unwrap();
        let code = resp.status().as_u16();
        (code, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn control(
        &self,
        app: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        let path = path.trim_start_matches('/');
        let url = match &self.control_url {
            Some(c) => format!("{c}/_sim/apps/{app}/{path}"),
            None => format!("{}/_sim/{path}", self.app(app).base_url),
        };
        let mut req = self.http.request(method, &url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        assert!(
            resp.status().is_success(),
            "control {url}: {}",
            resp.status()
        );
        resp.json().await.unwrap_or(Value::Null)
    }

    /// The links stored in an app (control API), keyed by link id.
    pub async fn links(&self, app: &str) -> HashMap<String, Value> {
        let v = self.control(app, reqwest::Method::GET, "links", None).await;
        v.as_array()
            .unwrap()
            .iter()
            .map(|l| (l["id"].as_str().unwrap().to_string(), l.clone()))
            .collect()
    }

    /// The app's own status API for its link to `peer`.
    pub async fn link_status(&self, app: &str, peer: &str) -> Value {
        let (code, v) = self
            .get(
                app,
                &format!("rest/applinks/3.0/status/{}", self.app(peer).id),
            )
            .await;
        assert_eq!(code, 200, "status of {app}->{peer}: {v}");
        v
    }

    /// The app's request log entries (method, path, route, status, auth, seq, …), oldest first.
    pub async fn log_entries(&self, app: &str) -> Vec<Value> {
        let log = self.control(app, reqwest::Method::GET, "log", None).await;
        log["entries"].as_array().cloned().unwrap_or_default()
    }

    /// Count of logged requests (all endpoints) to an app.
    pub async fn request_count(&self, app: &str) -> u64 {
        let v = self.control(app, reqwest::Method::GET, "state", None).await;
        v["requestCounts"]
            .as_object()
            .map(|m| m.values().map(count).sum())
            .unwrap_or(0)
    }

    /// What the recording listener received (`requests`: method, path, headers, body).
    pub async fn recorded(&self) -> Vec<Value> {
        let c = self.control_url.as_deref().expect("a control port");
        let v: Value = self
            .http
            .get(format!("{c}/_sim/recorder"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["requests"].as_array().cloned().unwrap_or_default()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn count(v: &Value) -> u64 {
    match v {
        Value::Number(n) => n.as_u64().unwrap_or(0),
        Value::Object(m) => m.values().map(count).sum(),
        _ => 0,
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The label a cluster-wide test operator selects its objects by (Flux's sharding convention).
pub const SHARD_LABEL: &str = "sharding.applinks.io/key";

/// The operator as a separate process, watching one namespace; killed when dropped.
pub struct Operator {
    child: Child,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Operator {
    pub fn start(ns: &str, extra_env: &[(&str, &str)]) -> Operator {
        Self::start_with(ns, extra_env, &[])
    }

    pub fn start_with(ns: &str, extra_env: &[(&str, &str)], extra_args: &[&str]) -> Operator {
        Self::launch(&["--namespace", ns], extra_env, extra_args)
    }

    /// The operator as the chart installs it by default: every namespace (no `--namespace`).
    /// `shard` is a label value: the operator reconciles only objects labelled
    /// `sharding.applinks.io/key=<shard>` ([`SHARD_LABEL`]), so that tests running at once each
    /// keep their own cluster-wide operator without fighting over the others' objects.
    pub fn start_cluster_wide(
        shard: &str,
        extra_env: &[(&str, &str)],
        extra_args: &[&str],
    ) -> Operator {
        let selector = format!("{SHARD_LABEL}={shard}");
        Self::launch(
            &["--watch-label-selector", &selector],
            extra_env,
            extra_args,
        )
    }

    /// The operator with exactly these watch arguments (e.g. a chart Deployment's shard
    /// selector and Lease), plus the tests' short intervals.
    pub fn start_with_args(args: &[&str], extra_env: &[(&str, &str)]) -> Operator {
        Self::launch(&[], extra_env, args)
    }

    fn launch(scope: &[&str], extra_env: &[(&str, &str)], extra_args: &[&str]) -> Operator {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("operator.log");
        let bin = crate::common::repo_path("target/debug/applink-operator");
        let mut cmd = Command::new(&bin);
        cmd.args(scope);
        cmd.args([
            "--link-resync-interval",
            "3s",
            "--instance-check-interval",
            "3s",
            "--request-timeout",
            "5s",
        ])
        .env("RUST_LOG", "info,applink_operator=debug");
        // stdout and stderr both go to the log (one file, shared offset): a test that searches
        // the operator's output sees all of it.
        let out = std::fs::File::create(&log).unwrap();
        cmd.stdout(out.try_clone().unwrap()).stderr(out);
        cmd.args(extra_args);
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!("{} could not start ({e}); run `cargo build`", bin.display())
        });
        Operator {
            child,
            log,
            _dir: dir,
        }
    }

    /// Waits for the process to end by itself (e.g. a failpoint abort).
    pub fn wait_exit(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still up (no panic, no abort).
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM: the graceful shutdown path.
    pub fn terminate(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Polls `f` until it returns Some, or fails the test after `WAIT` with `what` and the last value.
pub async fn wait_for<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + WAIT;
    let mut last;
    loop {
        match f().await {
            Ok(v) => return v,
            Err(e) => last = e,
        }
        if Instant::now() > deadline {
            panic!("timed out waiting for {what}; last seen: {last}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub async fn link(client: &Client, ns: &str, name: &str) -> ApplicationLink {
    Api::<ApplicationLink>::namespaced(client.clone(), ns)
        .get(name)
        .await
        .unwrap()
}

pub async fn instance(client: &Client, ns: &str, name: &str) -> ApplicationInstance {
    Api::<ApplicationInstance>::namespaced(client.clone(), ns)
        .get(name)
        .await
        .unwrap()
}

pub fn condition(
    conds: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
    t: &str,
) -> Option<(String, String, String)> {
    conds
        .iter()
        .find(|c| c.type_ == t)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

/// Waits until the link's Ready condition satisfies `accept` (status, reason, message).
pub async fn wait_link_ready_where<F>(
    client: &Client,
    ns: &str,
    name: &str,
    what: &str,
    accept: F,
) -> ApplicationLink
where
    F: Fn(&ApplicationLink, &(String, String, String)) -> bool,
{
    wait_for(&format!("ApplicationLink {name} {what}"), || async {
        let l = link(client, ns, name).await;
        let conds = l
            .status
            .as_ref()
            .map(|s| s.conditions.clone())
            .unwrap_or_default();
        match condition(&conds, "Ready") {
            Some(c) if accept(&l, &c) => Ok(l),
            other => Err(format!("{other:?}")),
        }
    })
    .await
}

/// Waits until the link's Ready condition has `status` for its current generation.
pub async fn wait_link_ready(
    client: &Client,
    ns: &str,
    name: &str,
    status: &str,
) -> ApplicationLink {
    wait_link_ready_where(client, ns, name, &format!("Ready={status}"), |l, c| {
        c.0 == status && l.status.as_ref().unwrap().observed_generation == l.metadata.generation
    })
    .await
}

/// Waits until the link's Ready condition has this reason.
pub async fn wait_link_reason(
    client: &Client,
    ns: &str,
    name: &str,
    reason: &str,
) -> ApplicationLink {
    wait_link_ready_where(
        client,
        ns,
        name,
        &format!("Ready reason {reason}"),
        |_, c| c.1 == reason,
    )
    .await
}

/// The holder of the operator's leader-election Lease in `ns` ("" when none).
pub async fn lease_holder(client: &Client, ns: &str) -> String {
    lease_holder_of(client, ns, "applink-operator").await
}

/// The holder of the Lease `name` in `ns` ("" when none).
pub async fn lease_holder_of(client: &Client, ns: &str, name: &str) -> String {
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(client.clone(), ns);
    let lease = leases.get_opt(name).await.unwrap();
    lease
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
        .unwrap_or_default()
}

/// Waits until `identity` holds the leader-election Lease in `ns`.
pub async fn wait_leader(client: &Client, ns: &str, identity: &str) {
    wait_for(&format!("{identity} to lead"), || async {
        let h = lease_holder(client, ns).await;
        if h == identity {
            Ok(())
        } else {
            Err(format!("holder {h:?}"))
        }
    })
    .await
}

/// One e2e scenario's cluster side: a client, the CRDs installed, and a namespace of its own
/// (deleted when the guard drops, also when the test fails).
pub struct Env {
    pub client: Client,
    pub ns: crate::common::TestNamespace,
}

pub async fn env(prefix: &str) -> Env {
    let client = crate::common::client().await;
    crate::common::install_crds(&client).await;
    let ns = crate::common::namespace(&client, prefix).await;
    Env { client, ns }
}

/// A simulator configuration, built the one way every suite builds it: each application on its
/// product's default (realistic) profile with 1024-bit keys (fast to generate), and whatever a
/// test adds to the application it added last.
#[derive(Clone)]
pub struct SimConfig {
    yaml: String,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            yaml: "control_port: 0\napps:\n".to_string(),
        }
    }
}

impl SimConfig {
    /// Adds an application `name` of `product`.
    pub fn app(mut self, name: &str, product: &str) -> Self {
        self.yaml.push_str(&format!(
            "- name: {name}\n  product: {product}\n  key_bits: 1024\n"
        ));
        self
    }

    /// Adds fields (`key: value` lines, YAML as the simulator reads it) to the last application.
    pub fn with(mut self, fields: &str) -> Self {
        for line in fields.lines().filter(|l| !l.trim().is_empty()) {
            self.yaml.push_str(&format!("  {line}\n"));
        }
        self
    }

    /// The configuration as the simulator reads it.
    pub fn yaml(&self) -> String {
        self.yaml.clone()
    }

    pub fn start(&self) -> Sim {
        Sim::start(&self.yaml)
    }
}

/// Applications `(name, product)` on their default profiles.
pub fn apps(list: &[(&str, &str)]) -> String {
    list.iter()
        .fold(SimConfig::default(), |c, (name, product)| {
            c.app(name, product)
        })
        .yaml()
}

/// Administered instances for `source` and `target` (`(name, type)`, each named after its
/// simulated application), an OAuth link `l` between them, and its Ready=True: the setup most
/// scenarios start from.
pub async fn linked_pair(
    client: &Client,
    ns: &str,
    sim: &Sim,
    source: (&str, &str),
    target: (&str, &str),
) -> ApplicationLink {
    apply_oauth_link(ns, sim, source, target);
    wait_link_ready(client, ns, "l", "True").await
}

/// The annotation by which a credentials Secret allows its credentials to go to a URL.
pub const ALLOWED_URLS: &str = "applinks.io/allowed-urls";

/// YAML of an admin Secret and an ApplicationInstance for a simulated app.
pub fn instance_yaml(name: &str, app: &SimApp, type_: &str, credentials: bool) -> String {
    let mut y = String::new();
    if credentials {
        y.push_str(&format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}-admin, annotations: {{{ALLOWED_URLS}: '{}'}}}}\nstringData: {{username: admin, password: admin}}\n---\n",
            app.base_url
        ));
    }
    y.push_str(&format!(
        "apiVersion: applinks.io/v1alpha1\nkind: ApplicationInstance\nmetadata: {{name: {name}}}\nspec:\n  url: {}\n  type: {type_}\n",
        app.base_url
    ));
    if credentials {
        y.push_str(&format!("  credentialsSecretRef: {{name: {name}-admin}}\n"));
    }
    y
}

/// [`instance_yaml`] for an instance whose application moved to `app` from `from`, which no
/// longer answers: the move is confirmed with `applinks.io/confirm-move-from` (an old URL that
/// only fails proves no move by itself).
pub fn moved_instance_yaml(
    name: &str,
    app: &SimApp,
    type_: &str,
    credentials: bool,
    from: &SimApp,
) -> String {
    instance_yaml(name, app, type_, credentials).replace(
        &format!("kind: ApplicationInstance\nmetadata: {{name: {name}}}"),
        &format!(
            "kind: ApplicationInstance\nmetadata: {{name: {name}, annotations: {{applinks.io/confirm-move-from: '{}'}}}}",
            from.base_url
        ),
    )
}

/// Instances with the administrator's credentials for two simulated apps (`(name, type)`), and
/// an OAuth link `l` from the first to the second.
pub fn apply_oauth_link(ns: &str, sim: &Sim, source: (&str, &str), target: (&str, &str)) {
    for (n, t) in [source, target] {
        apply(ns, &instance_yaml(n, sim.app(n), t, true));
    }
    apply(ns, &link_yaml("l", source.0, target.0, "OAuth"));
}

pub fn link_yaml(name: &str, source: &str, target: &str, auth: &str) -> String {
    format!(
        "apiVersion: applinks.io/v1alpha1\nkind: ApplicationLink\nmetadata: {{name: {name}}}\nspec:\n  source: {{instanceRef: {{name: {source}}}}}\n  target: {{instanceRef: {{name: {target}}}}}\n  authentication: {auth}\n"
    )
}

impl Sim {
    /// Requests an app logged for one "METHOD route" key.
    pub async fn count_of(&self, app: &str, key: &str) -> u64 {
        let v = self.control(app, reqwest::Method::GET, "state", None).await;
        v["requestCounts"][key].as_u64().unwrap_or(0)
    }

    /// Admin request with a JSON body, for changes "behind the operator's back".
    pub async fn send(
        &self,
        app: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> u16 {
        let url = format!(
            "{}/{}",
            self.app(app).base_url,
            path.trim_start_matches('/')
        );
        let mut req = self
            .http
            .request(method, &url)
            .basic_auth("admin", Some("admin"))
            .header("Accept", "application/json")
            .header("X-Atlassian-Token", "no-check");
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.unwrap().status().as_u16()
    }
}

/// A CA and a serving certificate for 127.0.0.1/localhost, made with openssl, for HTTPS apps.
pub struct Pki {
    pub dir: tempfile::TempDir,
}

impl Pki {
    pub fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let run = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(d)
                .output()
                .expect("openssl runs");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=applink-e2e-sim-ca",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ]);
        std::fs::write(
            d.join("ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n",
        )
        .unwrap();
        run(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ]);
        run(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext",
            "-out",
            "server.crt",
        ]);
        Pki { dir }
    }

    pub fn path(&self, f: &str) -> String {
        self.dir.path().join(f).display().to_string()
    }

    /// The per-app simulator config lines that serve this certificate and trust this CA.
    pub fn sim_tls_yaml(&self) -> String {
        format!(
            "  tls: {{cert: {}, key: {}}}\n  trust_ca: [{}]\n",
            self.path("server.crt"),
            self.path("server.key"),
            self.path("ca.crt")
        )
    }

    /// A Secret `name` in `ns` holding the CA (`ca.crt`), for instances' `tls.caSecretRef`.
    pub fn apply_ca_secret(&self, ns: &str, name: &str) {
        let ca = self
            .ca_pem()
            .lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>();
        apply(
            ns,
            &format!(
                "apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}}}\nstringData:\n  ca.crt: |\n{ca}"
            ),
        );
    }

    /// A certificate for 127.0.0.1/localhost signed by this CA that expired in 2021
    /// (`expired.crt`, `expired.key`). `openssl ca` sets the dates: `x509 -days` cannot go back.
    pub fn expired_cert(&self) -> (String, String) {
        let d = self.dir.path();
        std::fs::write(
            d.join("ca.cnf"),
            "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\ndefault_md = sha256\npolicy = p\nunique_subject = no\n[p]\ncommonName = supplied\n",
        )
        .unwrap();
        std::fs::write(d.join("index.txt"), "").unwrap();
        std::fs::write(d.join("serial"), "1000\n").unwrap();
        self.openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "expired.key",
            "-out",
            "expired.csr",
        ]);
        self.openssl(&[
            "ca",
            "-batch",
            "-config",
            "ca.cnf",
            "-startdate",
            "20200101000000Z",
            "-enddate",
            "20210101000000Z",
            "-in",
            "expired.csr",
            "-out",
            "expired.crt",
            "-keyfile",
            "ca.key",
            "-cert",
            "ca.crt",
            "-extfile",
            "ext",
            "-notext",
        ]);
        (self.path("expired.crt"), self.path("expired.key"))
    }

    /// A valid certificate signed by this CA for another host only (`elsewhere.example.test`).
    pub fn wrong_host_cert(&self) -> (String, String) {
        let d = self.dir.path();
        std::fs::write(
            d.join("ext-wrong"),
            "subjectAltName=DNS:elsewhere.example.test\nbasicConstraints=CA:FALSE\n",
        )
        .unwrap();
        self.openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=elsewhere.example.test",
            "-keyout",
            "wrong.key",
            "-out",
            "wrong.csr",
        ]);
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            "wrong.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext-wrong",
            "-out",
            "wrong.crt",
        ]);
        (self.path("wrong.crt"), self.path("wrong.key"))
    }

    fn openssl(&self, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn ca_pem(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("ca.crt")).unwrap()
    }
}

/// Waits until the ApplicationLink no longer exists (its finalizer released).
pub async fn wait_link_gone(client: &Client, ns: &str, name: &str) {
    let api = Api::<ApplicationLink>::namespaced(client.clone(), ns);
    wait_for(&format!("ApplicationLink {name} to be gone"), || async {
        match api.get_opt(name).await.unwrap() {
            None => Ok(()),
            Some(l) => Err(format!("{:?}", l.status.map(|s| s.conditions))),
        }
    })
    .await
}

/// Waits until condition `type_` of an instance satisfies `accept` (status, reason, message);
/// returns the instance and that condition.
pub async fn wait_instance<F>(
    client: &Client,
    ns: &str,
    name: &str,
    type_: &str,
    accept: F,
) -> (ApplicationInstance, (String, String, String))
where
    F: Fn(&(String, String, String)) -> bool,
{
    wait_for(
        &format!("ApplicationInstance {name} condition {type_}"),
        || async {
            let i = instance(client, ns, name).await;
            let conds = i
                .status
                .as_ref()
                .map(|s| s.conditions.clone())
                .unwrap_or_default();
            match condition(&conds, type_) {
                Some(c) if accept(&c) => Ok((i, c)),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await
}

impl Sim {
    /// Removes every link an app stores, behind the operator's back (control API, not in the
    /// app's request log); a link already gone is fine. Returns how many were removed.
    pub async fn remove_links(&self, app: &str) -> usize {
        let c = self.control_url.as_deref().expect("a control port");
        let mut removed = 0;
        for id in self.links(app).await.into_keys() {
            let url = format!("{c}/_sim/apps/{app}/links/{id}");
            let resp = self.http.delete(&url).send().await.unwrap();
            let code = resp.status().as_u16();
            assert!(
                resp.status().is_success() || code == 404,
                "control DELETE {url}: {code}"
            );
            removed += usize::from(code != 404);
        }
        removed
    }
}
