//! Two simulated applications linking and checking each other for real.

use crate::common;

use crate::common::{cfg, json, start};
use applink_sim::Product;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn create_app_link_two_way_both_report_working() {
    let env = start(vec![
        cfg("jira", Product::Jira),
        cfg("wiki", Product::Confluence),
    ])
    .await;
    let v = env.link_two_way("jira", "wiki", false).await;
    assert_eq!(v["applicationLink"]["id"], env.id("wiki"));
    assert_eq!(v["applicationLink"]["typeId"], "confluence");

    for (a, b) in [("jira", "wiki"), ("wiki", "jira")] {
        let s = env.status(a, b).await;
        assert_eq!(s["working"], true, "{a} -> {b}: {s}");
        assert!(s.get("error").is_none());
        let level =
            json!({"enabled": true, "twoLoEnabled": true, "twoLoImpersonationEnabled": false});
        assert_eq!(s["localAuthentication"]["incoming"], level);
        assert_eq!(s["localAuthentication"]["outgoing"], level);
        assert_eq!(s["remoteAuthentication"]["incoming"], level);
        assert_eq!(s["link"]["type"], env.app(b).type_id());
    }
    // The link-back was created on the remote under the caller's own id.
    let (code, l) = json(
        env.admin(
            Method::GET,
            "wiki",
            &format!("/rest/applinks/1.0/applicationlink/{}", env.id("jira")),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(l["rpcUrl"], env.app("jira").base_url);
    // The probe was 2LO-signed and verified on the remote.
    let log = env
        .control(Method::GET, "wiki", "/log")
        .send()
        .await
        .unwrap();
    let (_, log) = json(log).await;
    let signed = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["auth"] == "2lo" && e["status"] == 200)
        .count();
    assert!(signed >= 1, "{log}");
}

#[tokio::test]
async fn impersonation_link_and_reciprocal_delete() {
    let env = start(vec![
        cfg("bb", Product::Bitbucket),
        cfg("jira", Product::Jira),
    ])
    .await;
    env.link_two_way("bb", "jira", true).await;
    let s = env.status("bb", "jira").await;
    assert_eq!(s["working"], true, "{s}");
    assert_eq!(
        s["localAuthentication"]["outgoing"]["twoLoImpersonationEnabled"],
        true
    );

    // Reciprocal delete travels over 2LOi as the calling admin and removes both ends.
    let path = format!(
        "/rest/applinks/1.0/applicationlink/{}?reciprocate=true",
        env.id("jira")
    );
    let (code, v) = json(env.admin(Method::DELETE, "bb", &path).send().await.unwrap()).await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["status-code"], 200);
    assert_eq!(
        v["message"],
        format!("Deleted application with id '{}'", env.id("jira"))
    );
    for (app, peer) in [("bb", "jira"), ("jira", "bb")] {
        let r = env
            .admin(
                Method::GET,
                app,
                &format!("/rest/applinks/3.0/applinks/{}", env.id(peer)),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{app} still has its link");
    }
}

#[tokio::test]
async fn reciprocal_delete_without_impersonation_is_refused_and_keeps_link() {
    let env = start(vec![cfg("a", Product::Jira), cfg("b", Product::Confluence)]).await;
    env.link_two_way("a", "b", false).await;
    // Plain 2LO runs as no user on the remote, which is not an admin there: 401.
    let path = format!(
        "/rest/applinks/1.0/applicationlink/{}?reciprocate=true",
        env.id("b")
    );
    let (code, v) = json(env.admin(Method::DELETE, "a", &path).send().await.unwrap()).await;
    assert_eq!(code, 401, "{v}");
    let r = env
        .admin(
            Method::GET,
            "a",
            &format!("/rest/applinks/1.0/applicationlink/{}", env.id("b")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn mismatched_levels_give_auth_level_mismatch() {
    let env = start(vec![
        cfg("jira", Product::Jira),
        cfg("wiki", Product::Confluence),
    ])
    .await;
    env.link_two_way("jira", "wiki", false).await;
    // Behind jira's back, wiki stops accepting/sending OAuth on its end.
    let off = json!({"enabled": false, "twoLoEnabled": false, "twoLoImpersonationEnabled": false});
    let r = env
        .admin(
            Method::PUT,
            "wiki",
            &format!("/rest/applinks/3.0/status/{}/oauth", env.id("jira")),
        )
        .json(&json!({"incoming": off, "outgoing": off}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let s = env.status("jira", "wiki").await;
    assert_eq!(s["working"], false);
    assert_eq!(s["error"]["type"], "AUTH_LEVEL_MISMATCH", "{s}");
    assert_eq!(s["error"]["category"], "CONFIG_ERROR");
    assert_eq!(s["remoteAuthentication"]["incoming"], off);
    // And from wiki's side both ends are now... still mismatched (jira kept OAuth).
    let s = env.status("wiki", "jira").await;
    assert_eq!(s["error"]["type"], "AUTH_LEVEL_MISMATCH", "{s}");
}

#[tokio::test]
async fn stopped_peer_gives_connection_refused_and_recovers() {
    let env = start(vec![
        cfg("jira", Product::Jira),
        cfg("wiki", Product::Confluence),
    ])
    .await;
    env.link_two_way("jira", "wiki", false).await;
    let r = env
        .control(Method::POST, "wiki", "/stop")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let s = env.status("jira", "wiki").await;
    assert_eq!(s["working"], false);
    assert_eq!(s["error"]["type"], "CONNECTION_REFUSED", "{s}");
    assert_eq!(s["error"]["category"], "NETWORK_ERROR");
    assert!(s.get("remoteAuthentication").is_none());

    let r = env
        .control(Method::POST, "wiki", "/start")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let s = env.status("jira", "wiki").await;
    assert_eq!(s["working"], true, "{s}");
}

#[tokio::test]
async fn tampered_signature_gives_oauth_signature_invalid() {
    let env = start(vec![
        cfg("jira", Product::Jira),
        cfg("wiki", Product::Confluence),
    ])
    .await;
    env.link_two_way("jira", "wiki", false).await;
    let r = env
        .control(Method::PATCH, "jira", "/faults")
        .json(&json!({"tamper_signatures": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let s = env.status("jira", "wiki").await;
    assert_eq!(s["error"]["type"], "OAUTH_SIGNATURE_INVALID", "{s}");
    assert_eq!(s["error"]["category"], "NETWORK_ERROR");
}

#[tokio::test]
async fn skewed_clock_gives_oauth_timestamp_refused() {
    let env = start(vec![
        cfg("jira", Product::Jira),
        cfg("wiki", Product::Confluence),
    ])
    .await;
    env.link_two_way("jira", "wiki", false).await;
    env.control(Method::PATCH, "jira", "/faults")
        .json(&json!({"clock_skew_secs": 600}))
        .send()
        .await
        .unwrap();
    let s = env.status("jira", "wiki").await;
    assert_eq!(s["error"]["type"], "OAUTH_TIMESTAMP_REFUSED", "{s}");
}

#[tokio::test]
async fn remote_link_deleted_behind_back_gives_no_remote_applink() {
    let env = start(vec![
        cfg("jira", Product::Jira),
        cfg("wiki", Product::Confluence),
    ])
    .await;
    env.link_two_way("jira", "wiki", false).await;
    let r = env
        .admin(
            Method::DELETE,
            "wiki",
            &format!("/rest/applinks/3.0/applinks/{}", env.id("jira")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let s = env.status("jira", "wiki").await;
    assert_eq!(s["error"]["type"], "NO_REMOTE_APPLINK", "{s}");
    assert_eq!(s["error"]["category"], "CONFIG_ERROR");
}

#[tokio::test]
async fn links_without_auth_are_disabled_and_generic_links_are_not_checked() {
    let env = start(vec![
        cfg("jira", Product::Jira),
        cfg("wiki", Product::Confluence),
        cfg("gen", Product::Generic),
    ])
    .await;
    // Both ends created programmatically, no OAuth (v2 create with the peer's manifest id).
    for (a, b) in [("jira", "wiki"), ("wiki", "jira")] {
        let body = json!({"id": env.id(b), "name": b, "typeId": env.app(b).type_id(),
                          "rpcUrl": env.app(b).base_url, "displayUrl": env.app(b).base_url});
        let r = env
            .admin(Method::PUT, a, "/rest/applinks/3.0/applicationlink")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    let s = env.status("jira", "wiki").await;
    assert_eq!(s["error"]["type"], "DISABLED", "{s}");
    assert_eq!(s["error"]["category"], "DISABLED");

    let body = json!({"name": "gen", "typeId": "generic", "rpcUrl": env.app("gen").base_url});
    let (code, v) = json(
        env.admin(Method::PUT, "jira", "/rest/applinks/2.0/applicationlink")
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 201, "{v}");
    let href = v["resources-created"][0]["href"]
        .as_str()
        .unwrap()
        .to_string();
    let gen_id = href.rsplit('/').next().unwrap().to_string();
    // Generic links are identified by UUIDv3 of their URL.
    assert_eq!(
        gen_id,
        applink_sim::wire::keys::url_uuid(&env.app("gen").base_url).to_string()
    );
    let r = env
        .admin(
            Method::GET,
            "jira",
            &format!("/rest/applinks/3.0/status/{gen_id}"),
        )
        .send()
        .await
        .unwrap();
    let (_, s) = json(r).await;
    assert_eq!(s["error"]["type"], "GENERIC_LINK", "{s}");
    assert_eq!(s["error"]["category"], "NON_ATLASSIAN");
}

#[tokio::test]
async fn old_remote_is_incompatible_and_redirected_manifest_is_unexpected() {
    let mut old = cfg("old", Product::Jira);
    old.applinks_version = Some("4.0.2".into());
    let env = start(vec![
        cfg("wiki", Product::Confluence),
        old,
        cfg("moved", Product::Jira),
    ])
    .await;
    for peer in ["old", "moved"] {
        let body = json!({"id": env.id(peer), "name": peer, "typeId": "jira", "rpcUrl": env.app(peer).base_url});
        let r = env
            .admin(Method::PUT, "wiki", "/rest/applinks/3.0/applicationlink")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    let s = env.status("wiki", "old").await;
    assert_eq!(s["error"]["type"], "REMOTE_VERSION_INCOMPATIBLE", "{s}");
    assert_eq!(s["error"]["category"], "INCOMPATIBLE");

    env.control(Method::PATCH, "moved", "/faults")
        .json(&json!({"manifest_redirect": "http://127.0.0.1:1/rest/applinks/1.0/manifest"}))
        .send()
        .await
        .unwrap();
    let s = env.status("wiki", "moved").await;
    assert_eq!(s["error"]["type"], "UNEXPECTED_RESPONSE_STATUS", "{s}");
}

#[tokio::test]
async fn remote_without_status_api_and_without_outgoing_auth() {
    let mut legacy = cfg("legacy", Product::Jira);
    legacy.capabilities = Some(vec![]);
    let env = start(vec![cfg("wiki", Product::Confluence), legacy]).await;
    let body = json!({"id": env.id("legacy"), "name": "legacy", "typeId": "jira", "rpcUrl": env.app("legacy").base_url});
    env.admin(Method::PUT, "wiki", "/rest/applinks/3.0/applicationlink")
        .json(&body)
        .send()
        .await
        .unwrap();
    let s = env.status("wiki", "legacy").await;
    assert_eq!(s["error"]["type"], "NO_OUTGOING_AUTH", "{s}");
}

#[tokio::test]
async fn remote_without_status_api_read_over_impersonation() {
    let mut legacy = cfg("legacy", Product::Jira);
    legacy.capabilities = Some(vec![]);
    let env = start(vec![cfg("wiki", Product::Confluence), legacy]).await;
    // createAppLink falls back to the consumer/provider endpoints when STATUS_API is absent.
    env.link_two_way("wiki", "legacy", true).await;
    let s = env.status("wiki", "legacy").await;
    assert_eq!(s["working"], true, "{s}");
    assert_eq!(
        s["remoteAuthentication"]["outgoing"]["twoLoImpersonationEnabled"],
        true
    );
}

#[tokio::test]
async fn relocation_to_dead_url_gives_409_then_nowarning_forces_it() {
    let env = start(vec![
        cfg("jira", Product::Jira),
        cfg("wiki", Product::Confluence),
        cfg("wiki2", Product::Confluence),
    ])
    .await;
    env.link_two_way("jira", "wiki", false).await;
    let dead = "http://127.0.0.1:1";
    let path = format!(
        "/rest/applinks/1.0/relocateApplicationlink/{}?newUrl={dead}",
        env.id("wiki")
    );
    let (code, v) = json(env.admin(Method::POST, "jira", &path).send().await.unwrap()).await;
    assert_eq!(code, 409, "{v}");
    assert_eq!(v["status"], 409);
    assert!(v["message"].is_array());

    // Relocation to a live app of the same type moves rpcUrl and displayUrl.
    let path = format!(
        "/rest/applinks/1.0/relocateApplicationlink/{}?newUrl={}",
        env.id("wiki"),
        env.app("wiki2").base_url
    );
    let r = env.admin(Method::POST, "jira", &path).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let (_, l) = json(
        env.admin(
            Method::GET,
            "jira",
            &format!("/rest/applinks/1.0/applicationlink/{}", env.id("wiki")),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(l["rpcUrl"], env.app("wiki2").base_url);

    let path = format!(
        "/rest/applinks/1.0/relocateApplicationlink/{}?newUrl={dead}&nowarning=true",
        env.id("wiki")
    );
    let r = env.admin(Method::POST, "jira", &path).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let (_, l) = json(
        env.admin(
            Method::GET,
            "jira",
            &format!("/rest/applinks/1.0/applicationlink/{}", env.id("wiki")),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(l["rpcUrl"], dead);
    assert_eq!(l["displayUrl"], dead);
}

#[tokio::test]
async fn relocation_to_another_type_is_400_and_needs_sysadmin_and_xsrf() {
    let mut c = cfg("jira", Product::Jira);
    c.users.push(applink_sim::UserConfig {
        username: "adm".into(),
        password: "adm".into(),
        role: applink_sim::Role::Admin,
        tokens: vec!["adm-token".into()],
    });
    let env = start(vec![
        c,
        cfg("wiki", Product::Confluence),
        cfg("bamboo", Product::Bamboo),
    ])
    .await;
    env.link_two_way("jira", "wiki", false).await;
    let path = format!(
        "/rest/applinks/1.0/relocateApplicationlink/{}?newUrl={}",
        env.id("wiki"),
        env.app("bamboo").base_url
    );
    let (code, v) = json(env.admin(Method::POST, "jira", &path).send().await.unwrap()).await;
    assert_eq!(code, 400, "{v}");

    let r = env
        .req(Method::POST, "jira", &path)
        .basic_auth("adm", Some("adm"))
        .header("X-Atlassian-Token", "no-check")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Body-less POST without the XSRF header.
    let r = env
        .req(Method::POST, "jira", &path)
        .basic_auth("admin", Some("admin"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let (_, body) = common::text(r).await;
    assert!(body.contains("XSRF check failed"), "{body}");
    let path = format!(
        "/rest/applinks/1.0/relocateApplicationlink/{}?newUrl=http://x",
        uuid::Uuid::nil()
    );
    let r = env.admin(Method::POST, "jira", &path).send().await.unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn create_app_link_with_wrong_remote_credentials_is_400_authorization() {
    let env = start(vec![
        cfg("jira", Product::Jira),
        cfg("wiki", Product::Confluence),
    ])
    .await;
    let body = json!({
        "applicationLink": {"typeId": "confluence", "name": "w", "rpcUrl": env.app("wiki").base_url},
        "username": "admin", "password": "wrong", "createTwoWayLink": true,
        "configFormValues": {"trustEachOther": true, "shareUserbase": false},
    });
    let (code, v) = json(
        env.admin(
            Method::POST,
            "jira",
            "/rest/applinks/1.0/applicationlinkForm/createAppLink",
        )
        .json(&body)
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(code, 400, "{v}");
    assert_eq!(v["fields"], json!(["authorization"]));
    // Nothing was created on either side.
    let (_, l) = json(
        env.admin(Method::GET, "jira", "/rest/applinks/1.0/applicationlink")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(l["applicationLinks"], json!([]));
}

#[tokio::test]
async fn one_way_link_without_auth() {
    let env = start(vec![
        cfg("jira", Product::Jira),
        cfg("fe", Product::Fisheye),
    ])
    .await;
    let body = json!({
        "applicationLink": {"typeId": "fecru", "name": "fe", "rpcUrl": env.app("fe").base_url},
        "createTwoWayLink": false,
    });
    let (code, v) = json(
        env.admin(
            Method::POST,
            "jira",
            "/rest/applinks/latest/applicationlinkForm/createAppLink",
        )
        .json(&body)
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["applicationLink"]["id"], env.id("fe"));
    let s = env.status("jira", "fe").await;
    // The remote has no link back.
    assert_eq!(s["error"]["type"], "NO_REMOTE_APPLINK", "{s}");
}

#[tokio::test]
async fn three_lo_only_gives_auth_level_unsupported() {
    let env = start(vec![
        cfg("jira", Product::Jira),
        cfg("wiki", Product::Confluence),
    ])
    .await;
    env.link_two_way("jira", "wiki", false).await;
    let three_lo =
        json!({"enabled": true, "twoLoEnabled": false, "twoLoImpersonationEnabled": false});
    let r = env
        .admin(
            Method::PUT,
            "wiki",
            &format!("/rest/applinks/3.0/status/{}/oauth", env.id("jira")),
        )
        .json(&json!({"incoming": three_lo, "outgoing": three_lo}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let s = env.status("jira", "wiki").await;
    assert_eq!(s["error"]["type"], "AUTH_LEVEL_UNSUPPORTED", "{s}");
    assert_eq!(s["error"]["category"], "DEPRECATED");
}

#[tokio::test]
async fn status_endpoint_auth_and_unknown_id() {
    let env = start(vec![cfg("jira", Product::Jira)]).await;
    let path = format!("/rest/applinks/3.0/status/{}", uuid::Uuid::new_v4());
    let (code, v) = json(env.admin(Method::GET, "jira", &path).send().await.unwrap()).await;
    assert_eq!(code, 404);
    assert_eq!(v["status"], 404);
    let (code, _) = json(env.req(Method::GET, "jira", &path).send().await.unwrap()).await;
    assert_eq!(code, 401);
    let (code, _) = json(
        env.req(Method::GET, "jira", &path)
            .basic_auth("user", Some("user"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 403);
}

#[tokio::test]
async fn faulty_peer_gives_unexpected_response_status() {
    let env = start(vec![
        cfg("jira", Product::Jira),
        cfg("wiki", Product::Confluence),
    ])
    .await;
    env.link_two_way("jira", "wiki", false).await;
    env.control(Method::PATCH, "wiki", "/faults")
        .json(&json!({"fail_next": 1}))
        .send()
        .await
        .unwrap();
    let s = env.status("jira", "wiki").await;
    assert_eq!(s["error"]["type"], "UNEXPECTED_RESPONSE_STATUS", "{s}");
    assert!(s["error"]["details"].as_str().unwrap().contains("503"));
    // The fault is spent: the next status is healthy again.
    assert_eq!(env.status("jira", "wiki").await["working"], true);
}

#[tokio::test]
async fn programmatic_two_sided_link_with_mirrored_oauth() {
    let env = start(vec![
        cfg("bamboo", Product::Bamboo),
        cfg("bb", Product::Bitbucket),
    ])
    .await;
    let level = json!({"enabled": true, "twoLoEnabled": true, "twoLoImpersonationEnabled": false});
    for (a, b) in [("bamboo", "bb"), ("bb", "bamboo")] {
        let body = json!({"id": env.id(b), "name": b, "typeId": env.app(b).type_id(), "rpcUrl": env.app(b).base_url});
        let r = env
            .admin(Method::PUT, a, "/rest/applinks/2.0/applicationlink")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    for (a, b) in [("bamboo", "bb"), ("bb", "bamboo")] {
        let path = format!("/rest/applinks/3.0/status/{}/oauth", env.id(b));
        let r = env
            .admin(Method::PUT, a, &path)
            .json(&json!({"incoming": level, "outgoing": level}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    }
    for (a, b) in [("bamboo", "bb"), ("bb", "bamboo")] {
        let s = env.status(a, b).await;
        assert_eq!(s["working"], true, "{a} -> {b}: {s}");
    }
}

#[tokio::test]
async fn one_application_linked_from_many() {
    let env = start(vec![
        cfg("wiki", Product::Confluence),
        cfg("jira1", Product::Jira),
        cfg("jira2", Product::Jira),
        cfg("bb", Product::Bitbucket),
    ])
    .await;
    for a in ["jira1", "jira2", "bb"] {
        env.link_two_way(a, "wiki", false).await;
    }
    for a in ["jira1", "jira2", "bb"] {
        assert_eq!(env.status(a, "wiki").await["working"], true, "{a} -> wiki");
        assert_eq!(env.status("wiki", a).await["working"], true, "wiki -> {a}");
    }
    // Only the first Jira link is primary on wiki.
    let (_, p) = json(
        env.admin(
            Method::GET,
            "wiki",
            "/rest/applinks/1.0/applicationlink/primary/jira",
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(p["id"], env.id("jira1"));
}
