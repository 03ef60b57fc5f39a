//! Throughput of the simulator on loopback: `cargo run --release --example bench -- [N] [C] [KEY_BITS]`.
//! Starts two linked apps in-process, then issues N manifest requests and N/10 status requests
//! (each status call makes four calls to the peer, one of them 2LO-signed) with C in flight.
//! The client runs in the same process, so the figures are a lower bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use applink_sim::{AppConfig, Product, SimConfig, Simulator};

async fn run(client: &reqwest::Client, url: &str, auth: bool, n: usize, c: usize) -> (f64, usize) {
    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = vec![];
    for _ in 0..c {
        let (client, url, next, errors) = (
            client.clone(),
            url.to_string(),
            next.clone(),
            errors.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < n {
                let mut rb = client.get(&url).header("Accept", "application/json");
                if auth {
                    rb = rb.basic_auth("admin", Some("admin"));
                }
                match rb.send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("bench task");
    }
    (
        n as f64 / start.elapsed().as_secs_f64(),
        errors.load(Ordering::Relaxed),
    )
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n = args.first().copied().unwrap_or(20_000);
    let c = args.get(1).copied().unwrap_or(32);
    let bits = args.get(2).copied().unwrap_or(2048);
    let app = |name: &str, product| {
        let mut a = AppConfig::new(name, product);
        a.key_bits = bits;
        a
    };
    let sim = Simulator::start(
        SimConfig {
            control_port: None,
            apps: vec![app("jira", Product::Jira), app("wiki", Product::Confluence)],
        },
        None,
    )
    .await
    .expect("start");
    let client =
        applink_sim::peer::build_client(rustls::RootCertStore::empty(), Duration::from_secs(30));
    let (jira, wiki) = (sim.app("jira").unwrap(), sim.app("wiki").unwrap());
    let body = serde_json::json!({
        "applicationLink": {"typeId": "confluence", "name": "wiki", "rpcUrl": wiki.base_url},
        "username": "admin", "password": "admin", "createTwoWayLink": true,
        "configFormValues": {"trustEachOther": true, "shareUserbase": false},
    });
    let r = client
        .post(jira.url("/rest/applinks/1.0/applicationlinkForm/createAppLink"))
        .basic_auth("admin", Some("admin"))
        .json(&body)
        .send()
        .await
        .expect("createAppLink");
    assert!(r.status().is_success());

    let manifest = jira.url("/rest/applinks/1.0/manifest");
    run(&client, &manifest, false, 1_000, c).await; // warm-up
    let (rps, err) = run(&client, &manifest, false, n, c).await;
    println!("manifest: {n} requests, concurrency {c}: {rps:.0} req/s ({err} errors)");
    let status = jira.url(&format!("/rest/applinks/3.0/status/{}", wiki.ident.id));
    let ns = (n / 10).max(100);
    let (rps, err) = run(&client, &status, true, ns, c).await;
    println!(
        "status:   {ns} requests, concurrency {c}: {rps:.0} req/s ({err} errors; each = 4 peer calls)"
    );
    sim.shutdown().await;
}
