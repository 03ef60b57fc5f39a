//! Hostile and broken answers (`faults.rs`): each kind, the rule matching (path prefix, method,
//! times), the recording listener and the swappable certificate.

use crate::common;

use std::time::{Duration, Instant};

use crate::common::{cfg, start};
use applink_sim::{Product, TlsConfig};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use reqwest::Method;
use serde_json::{Value, json};

const MANIFEST: &str = "/rest/applinks/1.0/manifest";
const V3_LIST: &str = "/rest/applinks/3.0/applinks";

async fn set_faults(env: &common::Env, app: &str, rules: Value) -> (u16, Value) {
    let r = env
        .control(Method::PATCH, app, "/faults")
        .json(&json!({ "responses": rules }))
        .send()
        .await
        .unwrap();
    common::json(r).await
}

async fn get_json(env: &common::Env, app: &str, path: &str) -> reqwest::Response {
    env.admin(Method::GET, app, path).send().await.unwrap()
}

#[tokio::test]
async fn html_login_page_with_seraph_headers() {
    let env = start(vec![cfg("jira", Product::Jira)]).await;
    let (code, _) = set_faults(
        &env,
        "jira",
        json!([{"kind": "html-login", "path": "/rest/"}]),
    )
    .await;
    assert_eq!(code, 200);
    let r = get_json(&env, "jira", "/rest/applinks/1.0/authenticationinfo").await;
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
    assert_eq!(h["x-ausername"], "anonymous");
    assert_eq!(h["x-seraph-loginreason"], "OUT");
    let cookies: Vec<_> = h.get_all("set-cookie").iter().collect();
    assert!(
        cookies
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("JSESSIONID="))
    );
    let page = r.text().await.unwrap();
    assert!(
        page.contains("type=\"password\"") && page.contains("/login.jsp"),
        "{page}"
    );
    // Only under the prefix: the control API and other paths are untouched.
    let r = env
        .req(Method::GET, "jira", "/plugins/servlet/oauth/consumer-info")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(!r.headers().contains_key("x-ausername"));
    // The request log shows the fault.
    let log: Value = env
        .control(Method::GET, "jira", "/log")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let first = &log["entries"][0];
    assert_eq!(first["auth"], "fault");
    assert_eq!(first["status"], 200);
}

#[tokio::test]
async fn truncated_json_is_a_complete_message_with_half_the_body() {
    let env = start(vec![cfg("jira", Product::Jira)]).await;
    let full = get_json(&env, "jira", MANIFEST)
        .await
        .bytes()
        .await
        .unwrap();
    set_faults(
        &env,
        "jira",
        json!([{"kind": "truncated-json", "path": MANIFEST}]),
    )
    .await;
    let r = get_json(&env, "jira", MANIFEST).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.content_length(), Some(full.len() as u64 / 2));
    let cut = r.bytes().await.unwrap();
    assert_eq!(&cut[..], &full[..full.len() / 2]);
    let err = serde_json::from_slice::<Value>(&cut).unwrap_err();
    assert!(err.is_eof(), "{err}");
}

#[tokio::test]
async fn wrong_content_type_and_a_body_that_is_not_json() {
    let env = start(vec![cfg("jira", Product::Jira)]).await;
    set_faults(
        &env,
        "jira",
        json!([{"kind": "wrong-content-type", "path": V3_LIST, "method": "get"},
               {"kind": "not-json", "path": MANIFEST}]),
    )
    .await;
    let r = get_json(&env, "jira", V3_LIST).await;
    assert_eq!(r.headers()["content-type"], "text/plain");
    let v: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert!(v.is_array(), "the real JSON body: {v}");
    let r = get_json(&env, "jira", MANIFEST).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert!(serde_json::from_slice::<Value>(&r.bytes().await.unwrap()).is_err());
}

#[tokio::test]
async fn xml_where_json_was_asked() {
    let env = start(vec![cfg("jira", Product::Jira)]).await;
    set_faults(
        &env,
        "jira",
        json!([{"kind": "xml", "path": "/rest/applinks/"}]),
    )
    .await;
    // A classic resource: its own XML rendering, whatever Accept said.
    let (code, body) = common::text(get_json(&env, "jira", MANIFEST).await).await;
    assert_eq!(code, 200);
    assert!(
        body.starts_with("<?xml") && body.contains("<typeId>jira</typeId>"),
        "{body}"
    );
    // A JSON-only resource: an XML document all the same.
    let r = get_json(&env, "jira", V3_LIST).await;
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("xml")
    );
    let body = r.text().await.unwrap();
    assert!(
        body.starts_with("<?xml") && body.contains("<status-code>200"),
        "{body}"
    );
}

#[tokio::test]
async fn invalid_utf8_inside_a_string() {
    let env = start(vec![cfg("jira", Product::Jira)]).await;
    set_faults(
        &env,
        "jira",
        json!([{"kind": "invalid-utf8", "path": MANIFEST}]),
    )
    .await;
    let body = get_json(&env, "jira", MANIFEST)
        .await
        .bytes()
        .await
        .unwrap();
    assert!(std::str::from_utf8(&body).is_err());
    assert!(body.starts_with(b"{\""), "still JSON-shaped");
}

#[tokio::test]
async fn huge_body_is_streamed_chunked_or_with_its_length() {
    let env = start(vec![cfg("jira", Product::Jira)]).await;
    set_faults(
        &env,
        "jira",
        json!([{"kind": "huge", "path": MANIFEST, "bytes": 20_000_000, "times": 1},
               {"kind": "huge", "path": MANIFEST, "declare_length": true, "times": 1}]),
    )
    .await;
    let mut r = get_json(&env, "jira", MANIFEST).await;
    assert_eq!(
        r.content_length(),
        None,
        "chunked: the size is only known by reading"
    );
    let mut total = 0u64;
    while let Some(c) = r.chunk().await.unwrap() {
        total += c.len() as u64;
    }
    assert_eq!(total, 20_000_000);
    // The default size, declared up front; a client that stops reading ends the stream.
    let mut r = get_json(&env, "jira", MANIFEST).await;
    assert_eq!(r.content_length(), Some(100 * 1024 * 1024));
    let first = r.chunk().await.unwrap().unwrap();
    assert!(first.starts_with(b"[\""));
    drop(r);
    // Both rules are used up: the real manifest again.
    let v: Value = get_json(&env, "jira", MANIFEST).await.json().await.unwrap();
    assert_eq!(v["typeId"], "jira");
    let faults: Value = env
        .control(Method::GET, "jira", "/faults")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(faults["responses"][0]["served"], 1);
    assert_eq!(faults["responses"][0]["times"], 0);
}

#[tokio::test]
async fn drip_sends_the_headers_then_a_byte_per_interval() {
    let env = start(vec![cfg("jira", Product::Jira)]).await;
    set_faults(
        &env,
        "jira",
        json!([{"kind": "drip", "path": MANIFEST, "interval_ms": 100}]),
    )
    .await;
    let started = Instant::now();
    let mut r = get_json(&env, "jira", MANIFEST).await;
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "headers at once"
    );
    assert!(r.content_length().unwrap() > 100);
    let mut got = 0;
    while got < 5 {
        got += r.chunk().await.unwrap().unwrap().len();
    }
    let t = started.elapsed();
    assert!(t >= Duration::from_millis(450), "5 bytes took {t:?}");
}

#[tokio::test]
async fn reset_closes_the_connection_mid_body() {
    let env = start(vec![cfg("jira", Product::Jira)]).await;
    set_faults(
        &env,
        "jira",
        json!([{"kind": "reset", "path": MANIFEST, "times": 1}]),
    )
    .await;
    let mut r = get_json(&env, "jira", MANIFEST).await;
    let declared = r.content_length().unwrap();
    let mut got = 0u64;
    let err = loop {
        match r.chunk().await {
            Ok(Some(c)) => got += c.len() as u64,
            Ok(None) => panic!("the body ended normally after {got} bytes"),
            Err(e) => break e,
        }
    };
    assert!(got > 0 && got < declared, "{got} of {declared}");
    assert!(err.is_body() || err.is_decode(), "{err:?}");
    // The next request is served normally.
    assert_eq!(get_json(&env, "jira", MANIFEST).await.status(), 200);
}

#[tokio::test]
async fn redirect_to_the_recorder_which_records_everything() {
    let env = start(vec![cfg("jira", Product::Jira)]).await;
    let recorder = env
        .sim
        .recorder()
        .expect("recorder with the control port")
        .url
        .clone();
    let (code, v) = set_faults(
        &env,
        "jira",
        json!([{"kind": "redirect", "path": "/rest/"}]),
    )
    .await;
    assert_eq!(code, 400, "a redirect needs a location: {v}");
    set_faults(
        &env,
        "jira",
        json!([{"kind": "redirect", "path": "/rest/", "method": "GET", "location": recorder}]),
    )
    .await;
    let r = get_json(&env, "jira", "/rest/applinks/1.0/authenticationinfo?x=1").await;
    assert_eq!(r.status(), 302);
    assert_eq!(
        r.headers()["location"],
        format!("{recorder}/rest/applinks/1.0/authenticationinfo?x=1").as_str()
    );
    // What a careless client would do: follow it with the credentials.
    let r = env
        .http
        .get(format!(
            "{recorder}/rest/applinks/1.0/authenticationinfo?x=1"
        ))
        .basic_auth("admin", Some("admin"))
        .header("Cookie", "JSESSIONID=abc")
        .body("password=admin")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.json::<Value>().await.is_ok(), "a plausible JSON answer");
    let control = env.sim.control_url().unwrap().to_string();
    let rec: Value = env
        .http
        .get(format!("{control}/_sim/recorder"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rec["url"], recorder.as_str());
    let req = &rec["requests"][0];
    assert_eq!(req["method"], "GET");
    assert_eq!(req["path"], "/rest/applinks/1.0/authenticationinfo?x=1");
    let headers = req["headers"].as_array().unwrap();
    let has = |name: &str| headers.iter().any(|h| h[0] == name);
    assert!(has("authorization") && has("cookie"), "{headers:?}");
    assert_eq!(req["body"], "password=admin");
    // A POST is not redirected (the rule is for GET).
    let r = env
        .admin(
            Method::POST,
            "jira",
            "/rest/applinks/1.0/applicationlink/primary/x",
        )
        .send()
        .await
        .unwrap();
    assert_ne!(r.status(), 302);
    env.http
        .delete(format!("{control}/_sim/recorder"))
        .send()
        .await
        .unwrap();
    let rec: Value = env
        .http
        .get(format!("{control}/_sim/recorder"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rec["requests"], json!([]));
    assert_eq!(env.sim.ready_json()["recorderUrl"], recorder.as_str());
}

#[tokio::test]
async fn rules_count_down_and_reset_clears_them() {
    let env = start(vec![cfg("jira", Product::Jira)]).await;
    set_faults(
        &env,
        "jira",
        json!([{"kind": "not-json", "path": MANIFEST, "times": 2}]),
    )
    .await;
    for _ in 0..2 {
        let r = get_json(&env, "jira", MANIFEST).await;
        assert!(r.json::<Value>().await.is_err());
    }
    assert!(
        get_json(&env, "jira", MANIFEST)
            .await
            .json::<Value>()
            .await
            .is_ok()
    );
    set_faults(
        &env,
        "jira",
        json!([{"kind": "not-json", "path": MANIFEST}]),
    )
    .await;
    env.control(Method::DELETE, "jira", "/faults")
        .send()
        .await
        .unwrap();
    assert!(
        get_json(&env, "jira", MANIFEST)
            .await
            .json::<Value>()
            .await
            .is_ok()
    );
    let (code, _) = set_faults(&env, "jira", json!([{"kind": "bogus"}])).await;
    assert_eq!(code, 400);
    let (code, _) = set_faults(&env, "jira", json!([{"kind": "xml", "path": "rest"}])).await;
    assert_eq!(code, 400);
}

fn write(dir: &std::path::Path, name: &str, pem: String) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, pem).unwrap();
    p
}

#[tokio::test]
async fn the_certificate_can_be_swapped_for_an_expired_or_a_wrong_host_one() {
    let dir = std::env::temp_dir().join(format!("applink-sim-hostile-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let ca_pem = ca_cert.pem();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf = |name: &str, hosts: Vec<String>, expired: bool| {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(hosts).unwrap();
        if expired {
            p.not_before = rcgen::date_time_ymd(2020, 1, 1);
            p.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let cert = p.signed_by(&key, &issuer).unwrap();
        TlsConfig {
            cert: write(&dir, &format!("{name}.pem"), cert.pem()),
            key: write(&dir, &format!("{name}.key"), key.serialize_pem()),
        }
    };
    let good = leaf("good", vec!["127.0.0.1".into()], false);
    let expired = leaf("expired", vec!["127.0.0.1".into()], true);
    let wrong = leaf("wrong", vec!["elsewhere.example".into()], false);
    let mut c = cfg("jira", Product::Jira);
    c.tls = Some(good.clone());
    let env = start(vec![c]).await;
    let mut roots = rustls::RootCertStore::empty();
    use rustls_pki_types::pem::PemObject;
    roots
        .add(rustls_pki_types::CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
        .unwrap();
    let client = applink_sim::peer::build_client(roots, Duration::from_secs(10));
    let url = env.url("jira", MANIFEST);
    assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
    for (bad, expect) in [(&expired, "Expired"), (&wrong, "NotValidForName")] {
        let r = env
            .control(Method::PUT, "jira", "/tls")
            .json(&json!({"cert": bad.cert, "key": bad.key}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        // The pooled connection was closed: a new handshake, which fails.
        let err = client.get(&url).send().await.unwrap_err();
        let chain = format!("{err:?}");
        assert!(chain.contains(expect), "{chain}");
        let r = env
            .control(Method::PUT, "jira", "/tls")
            .json(&json!({"cert": good.cert, "key": good.key}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
    }
    let r = env
        .control(Method::PUT, "jira", "/tls")
        .json(&json!({"cert": dir.join("missing.pem"), "key": good.key}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let _ = std::fs::remove_dir_all(&dir);
}
