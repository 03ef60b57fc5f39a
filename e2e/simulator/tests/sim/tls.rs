//! HTTPS apps and the TLS error types of the status API; cloud flavours.

use crate::common;

use std::path::{Path, PathBuf};

use crate::common::{cfg, json, start};
use applink_sim::{AppConfig, Product, SimConfig, Simulator, TlsConfig};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use reqwest::Method;
use rustls_pki_types::pem::PemObject;
use serde_json::json;

struct Pki {
    dir: PathBuf,
    ca: PathBuf,
}

fn write(dir: &Path, name: &str, pem: String) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, pem).unwrap();
    p
}

/// A private CA and, per host name, a leaf certificate signed by it.
fn pki(hosts: &[&str]) -> (Pki, Vec<TlsConfig>) {
    let dir = std::env::temp_dir().join(format!("applink-sim-tls-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let ca = write(&dir, "ca.pem", ca_cert.pem());
    let issuer = Issuer::new(ca_params, ca_key);
    let mut tls = vec![];
    for (i, host) in hosts.iter().enumerate() {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec![host.to_string()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        tls.push(TlsConfig {
            cert: write(&dir, &format!("leaf{i}.pem"), cert.pem()),
            key: write(&dir, &format!("leaf{i}.key"), key.serialize_pem()),
        });
    }
    (Pki { dir, ca }, tls)
}

fn https(name: &str, product: Product, tls: TlsConfig) -> AppConfig {
    let mut c = cfg(name, product);
    c.tls = Some(tls);
    c
}

async fn link_one_way(env: &common::Env, from: &str, to: &str) {
    let body = json!({"id": env.id(to), "name": to, "typeId": env.app(to).type_id(), "rpcUrl": env.app(to).base_url});
    let r = env
        .admin(Method::PUT, from, "/rest/applinks/3.0/applicationlink")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}

#[tokio::test]
async fn https_peer_trusted_untrusted_and_wrong_host() {
    let (pki, mut tls) = pki(&["127.0.0.1", "example.invalid"]);
    let wrong = tls.pop().unwrap();
    let good = tls.pop().unwrap();
    let mut trusting = cfg("trusting", Product::Confluence);
    trusting.trust_ca = vec![pki.ca.clone()];
    let env = start(vec![
        https("secure", Product::Jira, good),
        https("wronghost", Product::Bamboo, wrong),
        trusting,
        cfg("naive", Product::Confluence),
    ])
    .await;
    assert!(env.app("secure").base_url.starts_with("https://127.0.0.1:"));

    // Trusted: a full two-way link works over HTTPS.
    env.link_two_way("trusting", "secure", false).await;
    let s = env.status("trusting", "secure").await;
    assert_eq!(s["working"], true, "{s}");

    link_one_way(&env, "naive", "secure").await;
    let s = env.status("naive", "secure").await;
    assert_eq!(s["error"]["type"], "SSL_UNTRUSTED", "{s}");
    assert_eq!(s["error"]["category"], "NETWORK_ERROR");

    link_one_way(&env, "trusting", "wronghost").await;
    let s = env.status("trusting", "wronghost").await;
    assert_eq!(s["error"]["type"], "SSL_HOSTNAME_UNMATCHED", "{s}");
    std::fs::remove_dir_all(pki.dir).ok();
}

#[tokio::test]
async fn unknown_host_is_reported() {
    let env = start(vec![cfg("jira", Product::Jira)]).await;
    let body = json!({"id": uuid::Uuid::new_v4(), "name": "ghost", "typeId": "confluence", "rpcUrl": "http://no-such-host.invalid:8090"});
    let (_, v) = json(
        env.admin(Method::PUT, "jira", "/rest/applinks/3.0/applicationlink")
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let id = v["resources-created"][0]["href"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let (_, s) = json(
        env.admin(
            Method::GET,
            "jira",
            &format!("/rest/applinks/3.0/status/{id}"),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(s["error"]["type"], "UNKNOWN_HOST", "{s}");
}

#[tokio::test]
async fn cloud_flavours_are_https_only_without_impersonation() {
    let mut plain = cfg("cloud", Product::JiraCloud);
    assert!(plain.validate().is_err(), "cloud without TLS is refused");
    let (pki, mut tls) = pki(&["127.0.0.1", "127.0.0.1"]);
    plain.tls = tls.pop();
    let bbc = https("bbc", Product::BitbucketCloud, tls.pop().unwrap());
    let mut server = cfg("server", Product::Confluence);
    server.trust_ca = vec![pki.ca.clone()];
    let mut env = start(vec![plain, server, bbc]).await;
    // The test's own client trusts the private CA too.
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::CertificateDer::pem_file_iter(&pki.ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    env.http = applink_sim::peer::build_client(roots, std::time::Duration::from_secs(10));
    let (_, m) = json(
        env.req(Method::GET, "server", "/rest/applinks/1.0/manifest.json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(
        m["inboundAuthenticationTypes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t
                .as_str()
                .unwrap()
                .ends_with("TwoLeggedOAuthWithImpersonationAuthenticationProvider"))
    );
    // A cloud site is never administered through the server REST (docs/simulator.md#cloud): 403 to Basic callers,
    // while the server end links to it and reads what the cloud serves to peers.
    let body = json!({"id": env.id("server"), "name": "server", "typeId": "confluence",
                      "rpcUrl": env.app("server").base_url});
    let r = env
        .admin(Method::PUT, "cloud", "/rest/applinks/3.0/applicationlink")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let imp = json!({"enabled": true, "twoLoEnabled": true, "twoLoImpersonationEnabled": true});
    let (code, v) = json(
        env.admin(
            Method::PUT,
            "cloud",
            &format!("/rest/applinks/3.0/status/{}/oauth", env.id("server")),
        )
        .json(&json!({"incoming": imp, "outgoing": imp}))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(code, 403, "{v}");
    let log = env.app("cloud").log.lock().unwrap().entries.clone();
    assert!(log.iter().rev().take(2).all(|e| e.auth == "cloud_refused"));
    link_one_way(&env, "server", "cloud").await;
    let s = env.status("server", "cloud").await;
    // The cloud end holds no link back: read anonymously, as peers do.
    assert_eq!(s["error"]["type"], "NO_REMOTE_APPLINK", "{s}");
    let c = env.app("cloud");
    let r = c
        .call(
            applink_sim::peer::PeerRequest::get(env.url("server", "/rest/applinks/1.0/manifest"))
                .accept("application/json"),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    // Bitbucket Cloud runs no applinks at all.
    for p in [
        "/rest/applinks/1.0/manifest",
        "/rest/applinks/3.0/applinks",
        "/plugins/servlet/oauth/consumer-info",
    ] {
        let r = env.admin(Method::GET, "bbc", p).send().await.unwrap();
        assert_eq!(r.status(), 404, "{p}");
    }
    let manifest = env.app("cloud").manifest();
    assert!(
        !manifest
            .inbound
            .iter()
            .any(|t| t.ends_with("ImpersonationAuthenticationProvider"))
    );
    assert_eq!(manifest.type_id, "jira");
    std::fs::remove_dir_all(pki.dir).ok();
}

#[tokio::test]
async fn bad_tls_files_fail_to_start() {
    let mut c = cfg("x", Product::Jira);
    c.tls = Some(TlsConfig {
        cert: "/nonexistent/cert.pem".into(),
        key: "/nonexistent/key.pem".into(),
    });
    let err = Simulator::start(
        SimConfig {
            control_port: None,
            apps: vec![c],
        },
        None,
    )
    .await
    .err()
    .expect("must fail");
    assert!(err.to_string().contains("TLS"), "{err}");
}

#[tokio::test]
async fn a_cloud_end_set_up_through_the_control_api_is_observed_working() {
    let (pki, mut tls) = pki(&["127.0.0.1"]);
    let cloud = https("cloud", Product::JiraCloud, tls.pop().unwrap());
    let mut server = cfg("server", Product::Confluence);
    server.trust_ca = vec![pki.ca.clone()];
    let env = start(vec![cloud, server]).await;
    // The cloud admin UI's part: a link back with default OAuth both ways.
    let (code, v) = json(
        env.control(Method::POST, "cloud", "/links")
            .json(
                &json!({"id": env.id("server"), "typeId": "confluence", "name": "Wiki",
                          "rpcUrl": env.app("server").base_url,
                          "incoming": "default", "outgoing": "default"}),
            )
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 201, "{v}");
    assert_eq!(v["oauth"]["incoming"]["twoLoEnabled"], true, "{v}");
    assert_eq!(v["incoming"]["key"], env.app("server").ident.consumer_key);
    // The server end through its REST, as the operator does.
    link_one_way(&env, "server", "cloud").await;
    let on = json!({"enabled": true, "twoLoEnabled": true, "twoLoImpersonationEnabled": false});
    let r = env
        .admin(
            Method::PUT,
            "server",
            &format!("/rest/applinks/3.0/status/{}/oauth", env.id("cloud")),
        )
        .json(&json!({"incoming": on, "outgoing": on}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let s = env.status("server", "cloud").await;
    assert_eq!(s["working"], true, "{s}");
    // A second link with the same id is refused; a bad body too.
    for body in [
        json!({"id": env.id("server"), "typeId": "confluence", "name": "x", "rpcUrl": "http://x.test"}),
        json!({"typeId": "confluence"}),
    ] {
        let r = env
            .control(Method::POST, "cloud", "/links")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status() == 409 || r.status() == 400, "{body}");
    }
    std::fs::remove_dir_all(pki.dir).ok();
}
