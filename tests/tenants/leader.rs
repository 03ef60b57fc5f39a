//! Finding 8, two active leaders: a leader cut off from the kube-apiserver (but not from the
//! applications) must stop writing to the applications before a standby may take over.
//!
//! Two cluster-wide replicas with `--leader-election` and a short lease share one simulated
//! Jira–Confluence pair whose link ends keep vanishing behind the operator's back, so that the
//! leader keeps creating them. Replica A reaches the kube-apiserver through a TCP proxy in this
//! test; the proxy then drops everything (no reset, no answer: a partition). A must step down at
//! its renew deadline, cancelling what it has in flight; B takes over once it has seen the Lease
//! unchanged for the lease duration. The applications' request logs (the User-Agent names the
//! replica) must show every write of A ended before the first write of B began; then the
//! partition heals and A, restarted as Kubernetes would, stands by.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

use crate::common::e2e::{self, Operator, SHARD_LABEL, Sim};

const LEASE_DURATION: &str = "8s";
const RENEW_DEADLINE: &str = "4s";
const RETRY_PERIOD: &str = "1s";

/// A TCP proxy to the kube-apiserver that can be cut, as a partition cuts a route: while cut,
/// nothing passes either way, nothing is reset, and new connections are accepted but not
/// forwarded. What was sent meanwhile arrives once the cut heals (as TCP retransmits it), so a
/// request stuck in the partition may still complete afterwards.
struct Partition {
    addr: SocketAddr,
    cut: Arc<AtomicBool>,
    accept: tokio::task::JoinHandle<()>,
}

impl Partition {
    async fn start(upstream: String) -> Partition {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let flag = cut.clone();
        let accept = tokio::spawn(async move {
            while let Ok((down, _)) = listener.accept().await {
                let (cut, upstream) = (flag.clone(), upstream.clone());
                tokio::spawn(async move {
                    healed(&cut).await;
                    let Ok(up) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let (down_r, down_w) = down.into_split();
                    let (up_r, up_w) = up.into_split();
                    tokio::join!(pipe(down_r, up_w, cut.clone()), pipe(up_r, down_w, cut));
                });
            }
        });
        Partition { addr, cut, accept }
    }

    fn set_cut(&self, cut: bool) {
        self.cut.store(cut, Ordering::SeqCst);
    }
}

impl Drop for Partition {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn healed(cut: &AtomicBool) {
    while cut.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn pipe(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, cut: Arc<AtomicBool>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        healed(&cut).await;
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// The test's kubeconfig with its server moved to the proxy; and the server's host:port.
fn kubeconfig_via(proxy: Option<SocketAddr>, dir: &Path) -> (PathBuf, String) {
    let original = std::env::var("KUBECONFIG").expect("KUBECONFIG is set");
    let text = std::fs::read_to_string(&original).unwrap();
    let server = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: "))
        .expect("the kubeconfig names a server")
        .trim()
        .to_string();
    let upstream = server
        .strip_prefix("https://")
        .expect("an https server")
        .trim_end_matches('/')
        .to_string();
    let path = dir.join("kubeconfig-via-proxy");
    if let Some(addr) = proxy {
        // The serving certificate names 127.0.0.1, whatever the port.
        let moved = text.replace(&server, &format!("https://{addr}"));
        std::fs::write(&path, moved).unwrap();
    }
    (path, upstream)
}

fn instance(name: &str, product: &str, url: &str, shard: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}-admin\n  annotations: {{applinks.io/allowed-urls: \"{url}\"}}\nstringData: {{username: admin, password: admin}}\n---\napiVersion: applinks.io/v1alpha1\nkind: ApplicationInstance\nmetadata:\n  name: {name}\n  labels: {{{SHARD_LABEL}: {shard}}}\nspec:\n  url: {url}\n  type: {product}\n  credentialsSecretRef: {{name: {name}-admin}}\n"
    )
}

fn link(shard: &str) -> String {
    format!(
        "apiVersion: applinks.io/v1alpha1\nkind: ApplicationLink\nmetadata:\n  name: l\n  labels: {{{SHARD_LABEL}: {shard}}}\nspec:\n  source: {{instanceRef: {{name: jira}}}}\n  target: {{instanceRef: {{name: confluence}}}}\n  authentication: OAuth\n"
    )
}

/// One write an application received from an operator replica: [start, end] in microseconds
/// of the simulator's clock (one process serves both applications: one clock).
struct Write {
    replica: &'static str,
    app: &'static str,
    what: String,
    start: u64,
    end: u64,
}

impl std::fmt::Display for Write {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} on {} during [{}, {}] µs",
            self.replica, self.what, self.app, self.start, self.end
        )
    }
}

fn unix_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

const APPS: [&str; 2] = ["jira", "confluence"];
const REPLICAS: [&str; 2] = ["replica-a", "replica-b"];

async fn writes(sim: &Sim) -> Vec<Write> {
    let mut out = Vec::new();
    for app in APPS {
        for e in sim.log_entries(app).await {
            let method = e["method"].as_str().unwrap_or_default();
            if matches!(method, "GET" | "HEAD" | "OPTIONS") {
                continue;
            }
            let agent = e["user_agent"].as_str().unwrap_or_default();
            let Some(replica) = REPLICAS
                .into_iter()
                .find(|r| agent.ends_with(&format!("({r})")))
            else {
                continue;
            };
            let start = e["started_unix_micros"].as_u64().expect("a start time");
            out.push(Write {
                replica,
                app,
                what: format!("{method} {}", e["path"].as_str().unwrap_or_default()),
                start,
                end: start + e["micros"].as_u64().unwrap_or(0),
            });
        }
    }
    out.sort_by_key(|w| w.start);
    out
}

fn count(writes: &[Write], replica: &str) -> usize {
    writes.iter().filter(|w| w.replica == replica).count()
}

/// Removes both link ends every 1.5 s (the operator repairs them at its 3 s resync) until `done`.
async fn churn_until<F, Fut>(sim: &Sim, what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let deadline = Instant::now() + e2e::WAIT;
    let mut last = String::new();
    loop {
        for app in APPS {
            sim.remove_links(app).await;
        }
        let next = Instant::now() + Duration::from_millis(1500);
        while Instant::now() < next {
            match done().await {
                Ok(()) => return,
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; last seen: {last}"
        );
    }
}

async fn set_latency(sim: &Sim, ms: u64) {
    for app in APPS {
        let faults = serde_json::json!({ "latency_ms": ms });
        sim.control(app, reqwest::Method::PATCH, "faults", Some(faults))
            .await;
    }
}

fn sim_config() -> String {
    APPS.iter()
        .fold(e2e::SimConfig::default(), |c, app| c.app(app, app))
        .yaml()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_leader_stops_writing_before_the_standby_starts() {
    let env = e2e::env("leader-partition").await;
    let shard = env.ns.to_string();
    let sim = Sim::start(&sim_config());
    let dir = tempfile::tempdir().unwrap();
    let (_, upstream) = kubeconfig_via(None, dir.path());
    let proxy = Partition::start(upstream).await;
    let (via_proxy, _) = kubeconfig_via(Some(proxy.addr), dir.path());
    let via_proxy = via_proxy.to_str().unwrap().to_string();
    let args = [
        "--leader-election",
        "--leader-election-namespace",
        env.ns.as_str(),
        "--leader-election-lease-duration",
        LEASE_DURATION,
        "--leader-election-renew-deadline",
        RENEW_DEADLINE,
        "--leader-election-retry-period",
        RETRY_PERIOD,
    ];
    let a_env = [
        ("POD_NAME", "replica-a"),
        ("KUBECONFIG", via_proxy.as_str()),
    ];
    let mut a = Operator::start_cluster_wide(&shard, &a_env, &args);
    e2e::wait_leader(&env.client, &env.ns, "replica-a").await;
    let b = Operator::start_cluster_wide(&shard, &[("POD_NAME", "replica-b")], &args);
    e2e::wait_for("replica-b to stand by", || async {
        match b.logs().contains("standing by") {
            true => Ok(()),
            false => Err(b.logs()),
        }
    })
    .await;

    for (app, url) in APPS.map(|n| (n, sim.app(n).base_url.clone())) {
        e2e::apply(&env.ns, &instance(app, app, &url, &shard));
    }
    for app in APPS {
        e2e::wait_instance(&env.client, &env.ns, app, "Ready", |c| c.0 == "True").await;
    }
    // Requests now take a second, so that creating the link (several writes to each
    // application) is still in flight when A is cut off from the kube-apiserver: what A sent
    // after the cut, it sent without knowing whether it still leads.
    set_latency(&sim, 1000).await;
    e2e::apply(&env.ns, &link(&shard));
    e2e::wait_for("replica-a's first write", || async {
        match count(&writes(&sim).await, "replica-a") {
            0 => Err("none yet".to_string()),
            _ => Ok(()),
        }
    })
    .await;
    proxy.set_cut(true);
    let cut_at = Instant::now();
    let cut_unix = unix_micros();
    // B takes over and repairs, on its own; meanwhile A should have exited.
    let mut a_exited: Option<Duration> = None;
    churn_until(&sim, "replica-b to lead and repair", || {
        if a_exited.is_none() && !a.is_running() {
            a_exited = Some(cut_at.elapsed());
        }
        async {
            let holder = e2e::lease_holder(&env.client, &env.ns).await;
            let n = count(&writes(&sim).await, "replica-b");
            if holder == "replica-b" && n >= 3 {
                Ok(())
            } else {
                Err(format!("holder {holder:?}, {n} writes by replica-b"))
            }
        }
    })
    .await;
    let took_over = cut_at.elapsed();

    // The partition heals. A, had it not stopped, could now write again; stopped, it comes back
    // (as Kubernetes restarts its container) and must stand by.
    proxy.set_cut(false);
    let a_stopped = !a.is_running();
    let a_logs = a.logs();
    let restarted = a_stopped.then(|| Operator::start_cluster_wide(&shard, &a_env, &args));
    let seen = count(&writes(&sim).await, "replica-b");
    churn_until(
        &sim,
        "replica-b to keep repairing after the partition healed",
        || async {
            let n = count(&writes(&sim).await, "replica-b");
            let standing_by = restarted
                .as_ref()
                .is_none_or(|a2| a2.logs().contains("standing by"));
            if n >= seen + 2 && standing_by {
                Ok(())
            } else {
                Err(format!(
                    "{n} writes by replica-b; restarted replica-a standing by: {standing_by}"
                ))
            }
        },
    )
    .await;

    set_latency(&sim, 0).await;

    // No write of one replica overlaps one of the other, and A never wrote after B began.
    let all = writes(&sim).await;
    let of = |r: &'static str| all.iter().filter(move |w| w.replica == r);
    for x in of("replica-a") {
        for y in of("replica-b") {
            assert!(
                x.end < y.start || y.end < x.start,
                "overlapping writes: {x} and {y}"
            );
        }
    }
    let last_a = of("replica-a").max_by_key(|w| w.end).unwrap();
    let first_b = of("replica-b").next().unwrap();
    assert!(
        last_a.end < first_b.start,
        "replica-a wrote after replica-b began: {last_a} vs {first_b}"
    );
    // And A stopped by itself, saying why.
    let stepped_down = a_exited.expect("replica-a exited once it could not renew the lease");
    assert!(
        a_logs.contains("leadership lost"),
        "replica-a says why it stopped: {a_logs}"
    );
    let after_cut = of("replica-a").filter(|w| w.end > cut_unix).count();
    let at = |t: u64| (t as i64 - cut_unix as i64) / 1000;
    eprintln!(
        "leader partition: {} writes by replica-a ({after_cut} ended after the cut, the last at {:+} ms), {} by replica-b (the first at {:+} ms); replica-a exited {:.1} s after the cut, replica-b had repaired {:.1} s after it; {} ms between replica-a's last write and replica-b's first",
        of("replica-a").count(),
        at(last_a.end),
        of("replica-b").count(),
        at(first_b.start),
        stepped_down.as_secs_f64(),
        took_over.as_secs_f64(),
        (first_b.start - last_a.end) / 1000,
    );
    // After the churn stops, B completes the link.
    e2e::wait_link_ready(&env.client, &env.ns, "l", "True").await;
}

/// A Lease renewed "in the future" (its holder's clock runs ahead) is held, not expired: a
/// replica stands by until it has seen the Lease unchanged for the Lease's duration on its own
/// clock, then takes it over (the holder is gone: nothing renews it).
#[tokio::test]
async fn a_lease_renewed_in_the_future_is_held_until_seen_unchanged() {
    use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
    let env = e2e::env("leader-skew").await;
    let shard = env.ns.to_string();
    let year_2096 = k8s_openapi::jiff::Timestamp::from_second(4_000_000_000).unwrap();
    let lease = Lease {
        metadata: kube::api::ObjectMeta {
            name: Some("applink-operator".into()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some("ghost".into()),
            lease_duration_seconds: Some(3),
            acquire_time: Some(MicroTime(year_2096)),
            renew_time: Some(MicroTime(year_2096)),
            ..Default::default()
        }),
    };
    kube::Api::<Lease>::namespaced(env.client.clone(), &env.ns)
        .create(&Default::default(), &lease)
        .await
        .unwrap();
    let args = [
        "--leader-election",
        "--leader-election-namespace",
        env.ns.as_str(),
        "--leader-election-lease-duration",
        LEASE_DURATION,
        "--leader-election-renew-deadline",
        RENEW_DEADLINE,
        "--leader-election-retry-period",
        RETRY_PERIOD,
    ];
    let op = Operator::start_cluster_wide(&shard, &[("POD_NAME", "replica-c")], &args);
    e2e::wait_for("replica-c to stand by", || async {
        match op.logs().contains("standing by") {
            true => Ok(()),
            false => Err(op.logs()),
        }
    })
    .await;
    e2e::wait_leader(&env.client, &env.ns, "replica-c").await;
    // The Lease is written before the line saying so: wait for the line too.
    let logs = e2e::wait_for("replica-c to log its leadership", || async {
        let logs = op.logs();
        if logs.contains("became the leader") {
            Ok(logs)
        } else {
            Err(logs)
        }
    })
    .await;
    let (stood_by, led) = (logs.find("standing by"), logs.find("became the leader"));
    assert!(stood_by < led, "stood by before leading: {logs}");
}
