//! Application-link behaviour of the real products where the first model was wrong
//! (docs/simulator.md#link-resources): classic by-id GET, renaming creates, V3 duplicate checks,
//! the shared consumer store, corrupted links, clones and manifest redirects.

use crate::common::{Env, cfg, json, start, text};
use applink_sim::Product;
use applink_sim::peer::{PeerAuth, PeerRequest};
use reqwest::Method;
use serde_json::{Value, json};

async fn create(env: &Env, app: &str, body: Value) -> (u16, Value) {
    json(
        env.admin(Method::PUT, app, "/rest/applinks/2.0/applicationlink")
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn v3_list(env: &Env, app: &str) -> Vec<Value> {
    let (code, v) = json(
        env.admin(Method::GET, app, "/rest/applinks/3.0/applinks")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 200);
    v.as_array().unwrap().clone()
}

fn link(id: uuid::Uuid, name: &str, url: &str) -> Value {
    json!({"id": id, "name": name, "typeId": "confluence", "rpcUrl": url, "displayUrl": url})
}

#[tokio::test]
async fn classic_get_of_an_unknown_id_is_a_500_and_v3_a_404() {
    let env = start(vec![cfg("jira", Product::Jira)]).await;
    let id = uuid::Uuid::new_v4();
    let (code, xml) = text(
        env.req(
            Method::GET,
            "jira",
            &format!("/rest/applinks/1.0/applicationlink/{id}"),
        )
        .basic_auth("admin", Some("admin"))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(code, 500);
    assert!(xml.contains("<status-code>500</status-code>"), "{xml}");
    assert!(xml.contains("NullPointerException"), "{xml}");
    for v in ["2.0", "latest"] {
        let r = env
            .admin(
                Method::GET,
                "jira",
                &format!("/rest/applinks/{v}/applicationlink/{id}"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 500, "{v}");
    }
    let r = env
        .admin(
            Method::GET,
            "jira",
            &format!("/rest/applinks/3.0/applinks/{id}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn create_renames_a_used_name_and_refuses_only_a_used_id() {
    let env = start(vec![cfg("jira", Product::Jira)]).await;
    let ids: Vec<uuid::Uuid> = (0..4).map(|_| uuid::Uuid::new_v4()).collect();
    for (i, id) in ids.iter().take(3).enumerate() {
        let (code, v) = create(
            &env,
            "jira",
            link(*id, "Wiki", &format!("http://w{i}.test")),
        )
        .await;
        assert_eq!(code, 201, "{v}");
    }
    // A name that already carries a suffix gets another one (applinks strips nothing).
    let (code, _) = create(&env, "jira", link(ids[3], "Wiki - 2", "http://w3.test")).await;
    assert_eq!(code, 201);
    let names: Vec<(String, bool)> = ids
        .iter()
        .map(|id| {
            let l = env
                .app("jira")
                .state
                .lock()
                .unwrap()
                .link(id)
                .cloned()
                .unwrap();
            (l.name, l.primary)
        })
        .collect();
    assert_eq!(
        names,
        [
            ("Wiki".to_string(), true),
            ("Wiki - 2".to_string(), false),
            ("Wiki - 3".to_string(), false),
            ("Wiki - 2 - 2".to_string(), false),
        ]
    );
    let (code, v) = create(&env, "jira", link(ids[0], "Other", "http://o.test")).await;
    assert_eq!(code, 400, "{v}");
    // Deleting the primary promotes another link of the type.
    let r = env
        .admin(
            Method::DELETE,
            "jira",
            &format!("/rest/applinks/1.0/applicationlink/{}", ids[0]),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let primaries: Vec<Value> = v3_list(&env, "jira")
        .await
        .into_iter()
        .filter(|l| l["primary"] == true)
        .collect();
    assert_eq!(primaries.len(), 1, "{primaries:?}");
}

#[tokio::test]
async fn v3_update_refuses_another_links_name_and_urls_and_leaves_the_link_unchanged() {
    let env = start(vec![cfg("jira", Product::Jira)]).await;
    let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    create(&env, "jira", link(a, "A", "http://a.test")).await;
    create(&env, "jira", link(b, "B", "http://b.test")).await;
    let before = env.app("jira").state.lock().unwrap().link(&b).cloned();
    let path = format!("/rest/applinks/3.0/applinks/{b}");
    for (body, field, key) in [
        (json!({"name": "A"}), "name", "already has the name 'A'"),
        (
            json!({"rpcUrl": "http://a.test/"}),
            "rpcUrl",
            "already uses this RPC URL",
        ),
        (
            json!({"displayUrl": "http://a.test"}),
            "displayUrl",
            "already uses this display URL",
        ),
        (json!({"rpcUrl": "b.test"}), "rpcUrl", "not an absolute URL"),
    ] {
        let (code, v) = json(
            env.admin(Method::PUT, "jira", &path)
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(code, 400, "{body}: {v}");
        assert_eq!(v["status"], 400);
        assert_eq!(v["errors"][0]["context"], field, "{v}");
        let summary = v["errors"][0]["summary"].as_str().unwrap();
        assert!(summary.contains(key), "{summary}");
    }
    // Every broken rule at once, each with its field; the error keys are not in the body.
    let (code, v) = json(
        env.admin(Method::PUT, "jira", &path)
            .json(&json!({"name": "A", "rpcUrl": "http://a.test", "displayUrl": "nope"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 400);
    let fields: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["context"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["displayUrl", "name", "rpcUrl"], "{v}");
    assert!(!v.to_string().contains("applinks.service.error"), "{v}");
    assert_eq!(
        env.app("jira").state.lock().unwrap().link(&b).cloned(),
        before
    );
    // Its own values are no duplicates.
    let (code, v) = json(
        env.admin(Method::PUT, "jira", &path)
            .json(&json!({"name": "B", "rpcUrl": "http://b.test", "displayUrl": "http://b2.test"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["displayUrl"], "http://b2.test");
}

#[tokio::test]
async fn malformed_status_oauth_body_is_a_500() {
    let env = start(vec![cfg("jira", Product::Jira)]).await;
    let id = uuid::Uuid::new_v4();
    create(&env, "jira", link(id, "W", "http://w.test")).await;
    let (code, v) = json(
        env.admin(
            Method::PUT,
            "jira",
            &format!("/rest/applinks/3.0/status/{id}/oauth"),
        )
        .header("Content-Type", "application/json")
        .body("{\"incoming\": ")
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(code, 500, "{v}");
}

#[tokio::test]
async fn corrupted_links_are_skipped_refused_on_create_and_removed_through_the_control_api() {
    let env = start(vec![cfg("jira", Product::Jira)]).await;
    let (keep, bad) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    create(&env, "jira", link(keep, "Keep", "http://keep.test")).await;
    create(&env, "jira", link(bad, "Bad", "http://bad.test")).await;
    let (code, v) = json(
        env.control(Method::POST, "jira", &format!("/links/{bad}/corrupt"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(v, json!({"id": bad, "corrupted": true, "hadLink": true}));
    // Lists skip it silently.
    assert_eq!(v3_list(&env, "jira").await.len(), 1);
    let (_, l) = json(
        env.admin(Method::GET, "jira", "/rest/applinks/1.0/applicationlink")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(l["applicationLinks"].as_array().unwrap().len(), 1);
    let (_, rules) = json(
        env.admin(Method::GET, "jira", "/rest/whitelist/latest")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(rules["rules"].as_array().unwrap().len(), 1);
    // A create for that id, and the classic resources, fail with applinks.type.not.installed.
    let (code, v) = create(&env, "jira", link(bad, "Again", "http://again.test")).await;
    assert_eq!(code, 400);
    assert!(v.to_string().contains("applinks.type.not.installed"), "{v}");
    for m in [Method::GET, Method::DELETE] {
        let (code, v) = json(
            env.admin(
                m.clone(),
                "jira",
                &format!("/rest/applinks/1.0/applicationlink/{bad}"),
            )
            .send()
            .await
            .unwrap(),
        )
        .await;
        assert_eq!(code, 400, "{m}");
        assert!(v.to_string().contains("applinks.type.not.installed"), "{v}");
    }
    // V3 treats it as no such link.
    let (code, v) = json(
        env.admin(
            Method::GET,
            "jira",
            &format!("/rest/applinks/3.0/applinks/{bad}"),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(code, 404);
    assert!(
        v.to_string()
            .contains("applinks.service.error.nosuchentity.apptype"),
        "{v}"
    );
    let (_, st) = json(
        env.control(Method::GET, "jira", "/state")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st["corruptedLinks"], json!([bad]));
    let r = env
        .control(Method::DELETE, "jira", &format!("/links/{bad}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (code, _) = create(&env, "jira", link(bad, "Again", "http://again.test")).await;
    assert_eq!(code, 201);
    // An unknown id can be planted too.
    let other = uuid::Uuid::new_v4();
    let (_, v) = json(
        env.control(Method::POST, "jira", &format!("/links/{other}/corrupt"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(v["hadLink"], false);
    assert_eq!(v3_list(&env, "jira").await.len(), 2);
}

/// A second link on `wiki` to the same Jira, under another id: both share Jira's consumer.
async fn two_links_to_one_peer(env: &Env) -> (String, String) {
    env.link_two_way("wiki", "jira", false).await;
    let first = env.id("jira");
    let second = uuid::Uuid::new_v4().to_string();
    let jira = env.app("jira").base_url.clone();
    let body = json!({"id": second, "name": "Jira again", "typeId": "jira", "rpcUrl": jira});
    let (code, v) = create(env, "wiki", body).await;
    assert_eq!(code, 201, "{v}");
    let on = json!({"enabled": true, "twoLoEnabled": true, "twoLoImpersonationEnabled": false});
    let r = env
        .admin(
            Method::PUT,
            "wiki",
            &format!("/rest/applinks/3.0/status/{second}/oauth"),
        )
        .json(&json!({"incoming": on, "outgoing": on}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    (first, second)
}

async fn incoming(env: &Env, app: &str, id: &str) -> Value {
    let (_, v) = json(
        env.req(
            Method::GET,
            app,
            &format!("/rest/applinks/3.0/status/{id}/oauth"),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    v["incoming"].clone()
}

/// A 2LO request from Jira to Wiki, as Jira's status check makes it.
async fn two_lo_from_jira(env: &Env) -> reqwest::StatusCode {
    env.app("jira")
        .call(
            PeerRequest::get(env.url("wiki", "/rest/applinks/latest/manifest"))
                .auth(PeerAuth::TwoLo),
        )
        .await
        .unwrap()
        .status
}

#[tokio::test]
async fn links_to_the_same_peer_share_one_consumer() {
    let env = start(vec![
        cfg("jira", Product::Jira),
        cfg("wiki", Product::Confluence),
    ])
    .await;
    let (first, second) = two_links_to_one_peer(&env).await;
    {
        let wiki = env.app("wiki");
        let st = wiki.state.lock().unwrap();
        assert_eq!(
            st.persisted.consumers.len(),
            1,
            "one store entry per consumer key"
        );
    }
    assert_eq!(two_lo_from_jira(&env).await, 200);
    // Turning incoming off on one link removes the consumer for both.
    let off = json!({"enabled": false, "twoLoEnabled": false, "twoLoImpersonationEnabled": false});
    let on = json!({"enabled": true, "twoLoEnabled": true, "twoLoImpersonationEnabled": false});
    let r = env
        .admin(
            Method::PUT,
            "wiki",
            &format!("/rest/applinks/3.0/status/{second}/oauth"),
        )
        .json(&json!({"incoming": off, "outgoing": on}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(incoming(&env, "wiki", &first).await["enabled"], false);
    assert_eq!(two_lo_from_jira(&env).await, 401);
    let s = env.status("jira", "wiki").await;
    assert_eq!(s["working"], false, "{s}");
    // The first link still names the key it recorded.
    let (_, v) = json(
        env.admin(
            Method::GET,
            "wiki",
            &format!("/rest/applinks/3.0/applinks/{first}?property=oauth.incoming.consumerkey"),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        v["properties"]["oauth.incoming.consumerkey"],
        env.app("jira").ident.consumer_key
    );
}

#[tokio::test]
async fn deleting_a_link_removes_the_shared_consumer() {
    let env = start(vec![
        cfg("jira", Product::Jira),
        cfg("wiki", Product::Confluence),
    ])
    .await;
    let (first, second) = two_links_to_one_peer(&env).await;
    let r = env
        .admin(
            Method::DELETE,
            "wiki",
            &format!("/rest/applinks/3.0/applinks/{second}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(incoming(&env, "wiki", &first).await["enabled"], false);
    assert_eq!(two_lo_from_jira(&env).await, 401);
}

#[tokio::test]
async fn a_stored_consumer_is_reused_until_incoming_is_turned_off_and_on() {
    let env = start(vec![
        cfg("jira", Product::Jira),
        cfg("wiki", Product::Confluence),
        cfg("other", Product::Jira),
    ])
    .await;
    env.link_two_way("wiki", "jira", false).await;
    let jira_id = env.id("jira");
    // The stored consumer goes stale: same key, another key pair (as after a re-keyed peer).
    {
        let wiki = env.app("wiki");
        let mut st = wiki.state.lock().unwrap();
        let key = env.app("jira").ident.consumer_key.clone();
        st.persisted.consumers.get_mut(&key).unwrap().public_key =
            Some(env.app("other").ident.public_key_b64.clone());
    }
    let path = format!("/rest/applinks/3.0/status/{jira_id}/oauth");
    let on = json!({"enabled": true, "twoLoEnabled": true, "twoLoImpersonationEnabled": false});
    let off = json!({"enabled": false, "twoLoEnabled": false, "twoLoImpersonationEnabled": false});
    let count = |env: &Env| {
        env.app("jira")
            .log
            .lock()
            .unwrap()
            .counts
            .get("GET /plugins/servlet/oauth/consumer-info")
            .copied()
            .unwrap_or(0)
    };
    let before = count(&env);
    let r = env
        .admin(Method::PUT, "wiki", &path)
        .json(&json!({"incoming": on, "outgoing": on}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(count(&env), before, "not re-fetched");
    let s = env.status("jira", "wiki").await;
    assert_eq!(s["error"]["type"], "OAUTH_SIGNATURE_INVALID", "{s}");
    for pair in [
        json!({"incoming": off, "outgoing": on}),
        json!({"incoming": on, "outgoing": on}),
    ] {
        let r = env
            .admin(Method::PUT, "wiki", &path)
            .json(&pair)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    }
    assert_eq!(count(&env), before + 1);
    let s = env.status("jira", "wiki").await;
    assert_eq!(s["working"], true, "{s}");
}

#[tokio::test]
async fn two_applications_can_share_one_id_like_a_restored_clone() {
    let id = uuid::Uuid::new_v4();
    let mut prod = cfg("prod", Product::Jira);
    prod.id = Some(id);
    let mut staging = cfg("staging", Product::Jira);
    staging.id = Some(id);
    let env = start(vec![prod, staging, cfg("wiki", Product::Confluence)]).await;
    for app in ["prod", "staging"] {
        let (_, m) = json(
            env.req(Method::GET, app, "/rest/applinks/1.0/manifest.json")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(m["id"], id.to_string());
    }
    assert_ne!(env.app("prod").base_url, env.app("staging").base_url);
    env.link_two_way("wiki", "prod", false).await;
    let s = env.status("wiki", "prod").await;
    assert_eq!(s["working"], true, "{s}");
    // The clone answers with the same id at its own URL.
    let (code, _) = json(
        env.admin(
            Method::GET,
            "wiki",
            &format!(
                "/rest/applinks/1.0/authenticationinfo/id/{id}?url={}",
                applink_sim::wire::oauth1::encode(&env.app("staging").base_url)
            ),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(code, 200);
}

#[tokio::test]
async fn manifest_redirects_are_never_followed() {
    let env = start(vec![
        cfg("jira", Product::Jira),
        cfg("wiki", Product::Confluence),
        cfg("target", Product::Confluence),
    ])
    .await;
    env.link_two_way("jira", "wiki", false).await;
    let target = env.app("target").base_url.clone();
    env.control(Method::PATCH, "wiki", "/faults")
        .json(&json!({"manifest_redirect": format!("{target}/rest/applinks/1.0/manifest")}))
        .send()
        .await
        .unwrap();
    let s = env.status("jira", "wiki").await;
    assert_eq!(s["error"]["type"], "UNEXPECTED_RESPONSE_STATUS", "{s}");
    let hits = env.app("target").log.lock().unwrap().seq;
    assert_eq!(hits, 0, "the redirect target was never asked");
}

#[tokio::test]
async fn skewed_clock_shows_in_the_date_header_and_a_wrong_base_url_breaks_signatures() {
    let env = start(vec![
        cfg("jira", Product::Jira),
        cfg("wiki", Product::Confluence),
    ])
    .await;
    env.link_two_way("jira", "wiki", false).await;
    env.control(Method::PATCH, "wiki", "/faults")
        .json(&json!({"clock_skew_secs": 86_400}))
        .send()
        .await
        .unwrap();
    let r = env
        .req(Method::GET, "wiki", "/rest/applinks/1.0/manifest")
        .send()
        .await
        .unwrap();
    let date = r.headers()["date"].to_str().unwrap().to_string();
    let jira_date = env
        .req(Method::GET, "jira", "/rest/applinks/1.0/manifest")
        .send()
        .await
        .unwrap()
        .headers()["date"]
        .to_str()
        .unwrap()
        .to_string();
    assert_ne!(
        date[..16],
        jira_date[..16],
        "a day apart: {date} / {jira_date}"
    );
    env.control(Method::DELETE, "wiki", "/faults")
        .send()
        .await
        .unwrap();
    // Behind a proxy it was not told about, Wiki believes in another base URL.
    env.control(Method::PATCH, "wiki", "/faults")
        .json(&json!({"configured_base_url": "https://wiki.example.test"}))
        .send()
        .await
        .unwrap();
    let (_, m) = json(
        env.req(Method::GET, "wiki", "/rest/applinks/1.0/manifest.json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(m["url"], "https://wiki.example.test");
    let s = env.status("jira", "wiki").await;
    assert_eq!(s["error"]["type"], "OAUTH_SIGNATURE_INVALID", "{s}");
}

#[tokio::test]
async fn a_missing_content_type_can_be_refused_with_415() {
    let env = start(vec![cfg("jira", Product::Jira)]).await;
    let post = || {
        env.admin(
            Method::POST,
            "jira",
            "/rest/applinks/1.0/applicationlink/primary/00000000-0000-0000-0000-000000000000",
        )
        .send()
    };
    assert_eq!(post().await.unwrap().status(), 404, "off by default");
    env.control(Method::PATCH, "jira", "/settings")
        .json(&json!({"missing_content_type_415": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(post().await.unwrap().status(), 415);
    let r = env
        .admin(
            Method::POST,
            "jira",
            "/rest/applinks/1.0/applicationlink/primary/00000000-0000-0000-0000-000000000000",
        )
        .header("Content-Type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
