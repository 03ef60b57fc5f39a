//! Control API: faults, request log, state, stop/start, reset.

use std::time::Instant;

use crate::common::{cfg, json, start, text};
use applink_sim::Product;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn fail_next_and_throttle_then_recover() {
    let env = start(vec![cfg("jira", Product::Jira)]).await;
    let r = env
        .control(Method::PATCH, "jira", "/faults")
        .json(&json!({"fail_next": 2, "fail_status": 502}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for _ in 0..2 {
        let r = env
            .req(Method::GET, "jira", "/rest/applinks/1.0/manifest")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 502);
    }
    let r = env
        .req(Method::GET, "jira", "/rest/applinks/1.0/manifest")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    env.control(Method::PATCH, "jira", "/faults")
        .json(&json!({"throttle_next": 1, "retry_after_secs": 7}))
        .send()
        .await
        .unwrap();
    let r = env
        .req(Method::GET, "jira", "/rest/applinks/1.0/manifest")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "7");
    let r = env
        .req(Method::GET, "jira", "/rest/applinks/1.0/manifest")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn latency_is_added() {
    let env = start(vec![cfg("jira", Product::Jira)]).await;
    env.control(Method::PATCH, "jira", "/faults")
        .json(&json!({"latency_ms": 300}))
        .send()
        .await
        .unwrap();
    let t = Instant::now();
    let r = env
        .req(Method::GET, "jira", "/rest/applinks/1.0/manifest")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(t.elapsed().as_millis() >= 300);
    // The control API itself is never slowed down or failed.
    env.control(Method::PATCH, "jira", "/faults")
        .json(&json!({"fail_next": 5}))
        .send()
        .await
        .unwrap();
    let r = env
        .req(Method::GET, "jira", "/_sim/faults")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn reject_credentials_and_manifest_faults() {
    let env = start(vec![cfg("jira", Product::Jira)]).await;
    let other = uuid::Uuid::new_v4();
    env.control(Method::PUT, "jira", "/faults")
        .json(&json!({"reject_credentials": true, "manifest_id": other}))
        .send()
        .await
        .unwrap();
    let r = env
        .admin(Method::GET, "jira", "/rest/applinks/1.0/authenticationinfo")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let (_, v) = json(
        env.req(Method::GET, "jira", "/rest/applinks/1.0/manifest.json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(v["id"], other.to_string());

    env.control(Method::PUT, "jira", "/faults")
        .json(&json!({"manifest_redirect": "https://new.test/rest/applinks/1.0/manifest"}))
        .send()
        .await
        .unwrap();
    let r = env
        .req(Method::GET, "jira", "/rest/applinks/1.0/manifest")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(
        r.headers()["location"],
        "https://new.test/rest/applinks/1.0/manifest"
    );

    let r = env
        .control(Method::DELETE, "jira", "/faults")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = env
        .admin(Method::GET, "jira", "/rest/applinks/1.0/authenticationinfo")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (code, v) = json(
        env.control(Method::PATCH, "jira", "/faults")
            .json(&json!({"no_such_fault": 1}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 400, "{v}");
}

#[tokio::test]
async fn request_log_counts_by_route_and_method() {
    let env = start(vec![cfg("jira", Product::Jira)]).await;
    for _ in 0..3 {
        env.req(Method::GET, "jira", "/rest/applinks/1.0/manifest")
            .send()
            .await
            .unwrap();
    }
    let id = uuid::Uuid::new_v4();
    env.admin(
        Method::GET,
        "jira",
        &format!("/rest/applinks/1.0/applicationlink/{id}"),
    )
    .send()
    .await
    .unwrap();
    let (code, log) = json(
        env.control(Method::GET, "jira", "/log")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(log["counts"]["GET /rest/applinks/1.0/manifest"], 3);
    assert_eq!(
        log["counts"]["GET /rest/applinks/1.0/applicationlink/{id}"],
        1
    );
    assert_eq!(log["total"], 4);
    let last = log["entries"].as_array().unwrap().last().unwrap().clone();
    // The classic by-id GET of an unknown id fails with a NullPointerException (docs/simulator.md#link-resources).
    assert_eq!(last["status"], 500);
    assert_eq!(last["auth"], "basic");
    assert_eq!(
        last["path"],
        format!("/rest/applinks/1.0/applicationlink/{id}")
    );
    env.control(Method::DELETE, "jira", "/log")
        .send()
        .await
        .unwrap();
    let (_, log) = json(
        env.control(Method::GET, "jira", "/log")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(log["total"], 0);
}

#[tokio::test]
async fn state_links_and_reset() {
    let env = start(vec![
        cfg("jira", Product::Jira),
        cfg("wiki", Product::Confluence),
    ])
    .await;
    env.link_two_way("jira", "wiki", false).await;
    let (code, s) = json(
        env.req(Method::GET, "jira", "/_sim/state")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(s["id"], env.id("jira"));
    assert_eq!(s["typeId"], "jira");
    assert_eq!(s["listening"], true);
    assert_eq!(s["links"][0]["id"], env.id("wiki"));
    let (_, links) = json(
        env.control(Method::GET, "wiki", "/links")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(links[0]["id"], env.id("jira"));
    assert_eq!(links[0]["oauth"]["incoming"]["twoLoEnabled"], true);
    assert_eq!(
        links[0]["incoming"]["key"],
        env.app("jira").ident.consumer_key
    );

    let r = env
        .control(Method::POST, "jira", "/reset")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (_, s) = json(
        env.control(Method::GET, "jira", "/state")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s["links"], json!([]));
}

#[tokio::test]
async fn stop_refuses_connections_and_start_listens_again_on_the_same_port() {
    let env = start(vec![cfg("jira", Product::Jira)]).await;
    let port = env.app("jira").port;
    let r = env
        .control(Method::POST, "jira", "/stop")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let err = env
        .req(Method::GET, "jira", "/rest/applinks/1.0/manifest")
        .send()
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err}");
    let (_, s) = json(
        env.control(Method::GET, "jira", "/state")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s["listening"], false);
    let r = env
        .control(Method::POST, "jira", "/start")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(env.app("jira").port, port);
    let r = env
        .req(Method::GET, "jira", "/rest/applinks/1.0/manifest")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn stop_on_the_apps_own_port_is_deferred() {
    let env = start(vec![cfg("jira", Product::Jira)]).await;
    let r = env
        .req(Method::POST, "jira", "/_sim/stop")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    // Wait for the deferred stop through the library API rather than by sleeping.
    for _ in 0..200 {
        if !env.sim.is_listening("jira").await {
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert!(!env.sim.is_listening("jira").await);
}

#[tokio::test]
async fn control_port_lists_apps() {
    let env = start(vec![
        cfg("jira", Product::Jira),
        cfg("wiki", Product::Confluence),
    ])
    .await;
    let base = env.sim.control_url().unwrap().to_string();
    let (code, v) = json(
        env.http
            .get(format!("{base}/_sim/apps"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 200);
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["jira", "wiki"]);
    assert_eq!(v[1]["baseUrl"], env.app("wiki").base_url);
    let (code, _) = text(
        env.http
            .get(format!("{base}/_sim/apps/nope/state"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 404);
}

#[tokio::test]
async fn links_can_be_changed_behind_the_back() {
    let env = start(vec![
        cfg("jira", Product::Jira),
        cfg("wiki", Product::Confluence),
    ])
    .await;
    env.link_two_way("jira", "wiki", false).await;
    let wiki_id = env.id("wiki");
    let (code, v) = json(
        env.control(Method::PATCH, "jira", &format!("/links/{wiki_id}"))
            .json(&json!({"system": true}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 200, "{v}");
    // A system link: status is not computed, and only sysadmins may edit it.
    let s = env.status("jira", "wiki").await;
    assert_eq!(s["error"]["type"], "SYSTEM_LINK", "{s}");
    assert_eq!(s["error"]["category"], "SYSTEM");
    let (_, l) = json(
        env.admin(
            Method::GET,
            "jira",
            &format!("/rest/applinks/1.0/applicationlink/{wiki_id}"),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(l["isSystem"], true);
    assert!(l.get("rpcUrl").is_none(), "system links hide rpcUrl: {l}");
    let (code, _) = json(
        env.admin(
            Method::PUT,
            "jira",
            &format!("/rest/applinks/3.0/applinks/{wiki_id}"),
        )
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap(),
    )
    .await;
    // V3 validation refuses system links with 400, leaving them unchanged (docs/simulator.md#link-resources).
    assert_eq!(code, 400);
    let (code, _) = json(
        env.control(Method::PATCH, "jira", &format!("/links/{wiki_id}"))
            .json(&json!({"bogus": 1}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 400);
    let r = env
        .control(Method::DELETE, "jira", &format!("/links/{wiki_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = env
        .control(Method::DELETE, "jira", &format!("/links/{wiki_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
