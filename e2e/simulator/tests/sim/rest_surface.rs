//! Manifest, capabilities, admin rules and link CRUD of one application.

use crate::common::{cfg, json, start, text};
use applink_sim::{Product, Role, UserConfig};
use reqwest::Method;
use serde_json::json;

fn with_users(name: &str, product: Product) -> applink_sim::AppConfig {
    let mut c = cfg(name, product);
    c.users.push(UserConfig {
        username: "adm".into(),
        password: "adm".into(),
        role: Role::Admin,
        tokens: vec!["adm-token".into()],
    });
    c
}

#[tokio::test]
async fn manifest_is_xml_by_default_and_json_on_request() {
    let env = start(vec![cfg("jira", Product::Jira)]).await;
    let app = env.app("jira");
    let r = env
        .req(Method::GET, "jira", "/rest/applinks/1.0/manifest")
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/xml")
    );
    let (code, xml) = text(r).await;
    assert_eq!(code, 200);
    assert!(
        xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?><manifest>"),
        "{xml}"
    );
    assert!(xml.contains(&format!("<id>{}</id>", app.ident.id)));
    assert!(xml.contains("<typeId>jira</typeId>"));
    // The default Jira line is 10.3, whose manifest reports applinks 10.1.x (docs/simulator.md#versions).
    assert!(xml.contains("<version>10.3."), "{xml}");
    assert!(xml.contains("<applinksVersion>10.1."), "{xml}");
    assert!(xml.contains("<inboundAuthenticationTypes>com.atlassian.applinks.api.auth.types.TwoLeggedOAuthAuthenticationProvider</inboundAuthenticationTypes>"));
    assert!(xml.contains("<outboundAuthenticationTypes>"));

    for (path, accept) in [
        ("/rest/applinks/1.0/manifest", Some("application/json")),
        ("/rest/applinks/1.0/manifest.json", None),
        ("/rest/applinks/latest/manifest.json", None),
        ("/rest/applinks/3.0/manifest", Some("application/json")),
    ] {
        let mut rb = env.req(Method::GET, "jira", path);
        if let Some(a) = accept {
            rb = rb.header("Accept", a);
        }
        let (code, v) = json(rb.send().await.unwrap()).await;
        assert_eq!(code, 200, "{path}");
        assert_eq!(v["id"], app.ident.id.to_string(), "{path}");
        assert_eq!(v["typeId"], "jira");
        assert_eq!(v["url"], app.base_url);
        assert!(v["buildNumber"].is_i64());
        assert!(
            v["inboundAuthenticationTypes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t == "placeholder.to.ensure.backwards.compatibility")
        );
    }
}

#[tokio::test]
async fn product_type_ids_and_cloud_manifest() {
    let env = start(vec![
        cfg("b", Product::Bitbucket),
        cfg("f", Product::Fisheye),
        cfg("c", Product::Crucible),
        cfg("bam", Product::Bamboo),
        cfg("g", Product::Generic),
    ])
    .await;
    for (name, t) in [
        ("b", "stash"),
        ("f", "fecru"),
        ("c", "fecru"),
        ("bam", "bamboo"),
        ("g", "generic"),
    ] {
        let (_, v) = json(
            env.req(Method::GET, name, "/rest/applinks/1.0/manifest.json")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(v["typeId"], t);
    }
}

#[tokio::test]
async fn application_id_is_stable_across_restarts() {
    let first = start(vec![cfg("jira", Product::Jira)]).await;
    let (id, key, pk) = {
        let a = first.app("jira");
        (
            a.ident.id,
            a.ident.consumer_key.clone(),
            a.ident.public_key_b64.clone(),
        )
    };
    first.sim.shutdown().await;
    let second = start(vec![
        cfg("jira", Product::Jira),
        cfg("other", Product::Jira),
    ])
    .await;
    let a = second.app("jira");
    assert_eq!(a.ident.id, id);
    assert_eq!(a.ident.consumer_key, key);
    assert_eq!(a.ident.public_key_b64, pk);
    assert_ne!(second.app("other").ident.id, id);
    assert!(key.starts_with("jira:"));
}

#[tokio::test]
async fn capabilities_are_anonymous_json() {
    let env = start(vec![cfg("jira", Product::Jira)]).await;
    let (code, v) = json(
        env.req(Method::GET, "jira", "/rest/applinks/latest/capabilities")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(v, json!(["STATUS_API", "MIGRATION_API"]));
    let (code, v) = json(
        env.req(
            Method::GET,
            "jira",
            "/rest/applinks/3.0/capabilities/STATUS_API",
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!((code, v), (200, json!(["STATUS_API"])));
    let (code, v) = json(
        env.req(Method::GET, "jira", "/rest/applinks/3.0/capabilities/NOPE")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 404);
    assert_eq!(v["status"], 404);
    assert!(v["errors"][0]["summary"].is_string());
}

#[tokio::test]
async fn authenticationinfo_admin_rules() {
    // Secure administrator sessions off: they would refuse `al_username` first (see below).
    let mut jira = with_users("jira", Product::Jira);
    jira.secure_admin_sessions = Some(false);
    let mut guarded = with_users("guarded", Product::Jira);
    guarded.secure_admin_sessions = Some(true);
    let env = start(vec![jira, guarded]).await;
    let path = "/rest/applinks/1.0/authenticationinfo";
    let (code, body) = text(
        env.req(Method::GET, "jira", path)
            .basic_auth("admin", Some("admin"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 200);
    assert!(
        body.contains("<status><status-code>200</status-code></status>"),
        "{body}"
    );
    let (code, _) = text(
        env.req(Method::GET, "jira", path)
            .basic_auth("adm", Some("adm"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 200, "admins pass the interceptor");
    // Non-admin and anonymous: 401 with a Status body.
    let (code, v) = json(
        env.req(Method::GET, "jira", path)
            .basic_auth("user", Some("user"))
            .header("Accept", "application/json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 401);
    assert_eq!(v["status-code"], 401);
    let (code, _) = text(env.req(Method::GET, "jira", path).send().await.unwrap()).await;
    assert_eq!(code, 401);
    // Wrong password: 401 before any resource runs.
    let (code, _) = text(
        env.req(Method::GET, "jira", path)
            .basic_auth("admin", Some("x"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 401);
    // Query-string credentials.
    let (code, _) = text(
        env.req(
            Method::GET,
            "jira",
            &format!("{path}?al_username=admin&al_password=admin"),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(code, 200);
    let (code, _) = text(
        env.req(
            Method::GET,
            "jira",
            &format!("{path}?al_username=admin&al_password=bad"),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(code, 401);
    // The UI package needs a secure administrator session, checked before the admin rule:
    // query-string credentials and tokens are refused there, Basic passes.
    for (req, want) in [
        (
            env.req(
                Method::GET,
                "guarded",
                &format!("{path}?al_username=admin&al_password=admin"),
            ),
            401,
        ),
        (
            env.req(Method::GET, "guarded", path)
                .bearer_auth("adm-token"),
            401,
        ),
        (
            env.req(Method::GET, "guarded", path)
                .basic_auth("admin", Some("admin")),
            200,
        ),
    ] {
        let (code, body) = text(req.send().await.unwrap()).await;
        assert_eq!(code, want, "{body}");
        if want == 401 {
            assert!(body.contains("requires WebSudo"), "{body}");
        }
    }
}

#[tokio::test]
async fn authenticationinfo_url_checks_the_id_at_a_url() {
    let mut jira = cfg("jira", Product::Jira);
    jira.secure_admin_sessions = Some(false);
    let env = start(vec![jira, cfg("wiki", Product::Confluence)]).await;
    let wiki = env.app("wiki");
    let ok = format!(
        "/rest/applinks/1.0/authenticationinfo/id/{}?url={}",
        wiki.ident.id, wiki.base_url
    );
    let (code, _) = text(env.req(Method::GET, "jira", &ok).send().await.unwrap()).await;
    assert_eq!(code, 200);
    let wrong = format!(
        "/rest/applinks/1.0/authenticationinfo/id/{}?url={}",
        env.id("jira"),
        wiki.base_url
    );
    let (code, _) = text(env.req(Method::GET, "jira", &wrong).send().await.unwrap()).await;
    assert_eq!(code, 404);
}

#[tokio::test]
async fn v2_create_get_list_update_delete() {
    let env = start(vec![with_users("jira", Product::Jira)]).await;
    let wiki_id = uuid::Uuid::new_v4();
    let body = json!({"id": wiki_id, "name": "Wiki", "typeId": "confluence", "rpcUrl": "http://wiki.internal:8090",
                      "displayUrl": "https://wiki.example.test"});
    let (code, v) = json(
        env.admin(Method::PUT, "jira", "/rest/applinks/3.0/applicationlink")
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 201, "{v}");
    assert_eq!(v["status-code"], 201);
    let href = env.url(
        "jira",
        &format!("/rest/applinks/3.0/applicationlink/{wiki_id}"),
    );
    assert_eq!(
        v["resources-created"],
        json!([{"href": href, "rel": "self"}])
    );

    // XML Status by default.
    let (code, xml) = text(
        env.req(Method::PUT, "jira", "/rest/applinks/2.0/applicationlink")
            .basic_auth("admin", Some("admin"))
            .header("X-Atlassian-Token", "no-check")
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 400, "duplicate id");
    assert!(xml.contains("<error status=\"400\"><message>"), "{xml}");

    let (code, l) = json(
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
    assert_eq!(code, 200);
    assert_eq!(l["id"], wiki_id.to_string());
    assert_eq!(l["typeId"], "confluence");
    assert_eq!(l["rpcUrl"], "http://wiki.internal:8090");
    assert_eq!(l["displayUrl"], "https://wiki.example.test");
    assert_eq!(l["isPrimary"], true, "first link of its type is primary");
    assert_eq!(l["isSystem"], false);
    assert_eq!(l["link"][0]["rel"], "self");

    let (_, xml) = text(
        env.req(Method::GET, "jira", "/rest/applinks/1.0/applicationlink")
            .basic_auth("admin", Some("admin"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(
        xml.contains("<applicationLinks><applicationLinks><link href="),
        "{xml}"
    );
    let (_, list) = json(
        env.admin(Method::GET, "jira", "/rest/applinks/1.0/applicationlink")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(list["applicationLinks"].as_array().unwrap().len(), 1);
    let (code, list) = json(
        env.admin(
            Method::GET,
            "jira",
            "/rest/applinks/1.0/applicationlink/type/confluence",
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        (code, list["applicationLinks"].as_array().unwrap().len()),
        (200, 1)
    );
    let (code, _) = json(
        env.admin(
            Method::GET,
            "jira",
            "/rest/applinks/1.0/applicationlink/type/nope",
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(code, 400);
    let (code, p) = json(
        env.admin(
            Method::GET,
            "jira",
            "/rest/applinks/1.0/applicationlink/primary/confluence",
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!((code, p["id"].clone()), (200, json!(wiki_id.to_string())));
    let (code, _) = json(
        env.admin(
            Method::GET,
            "jira",
            "/rest/applinks/1.0/applicationlink/primary/bamboo",
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(code, 404);

    // v2 POST update: name ok; rpcUrl change refused.
    let (code, v) = json(
        env.admin(
            Method::POST,
            "jira",
            &format!("/rest/applinks/2.0/applicationlink/{wiki_id}"),
        )
        .json(&json!({"name": "Docs"}))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["resources-updated"][0]["rel"], "self");
    let (code, v) = json(
        env.admin(
            Method::POST,
            "jira",
            &format!("/rest/applinks/2.0/applicationlink/{wiki_id}"),
        )
        .json(&json!({"rpcUrl": "http://elsewhere"}))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(code, 400);
    assert_eq!(v["fields"], json!(["rpcUrl"]));
    let (code, _) = json(
        env.admin(
            Method::POST,
            "jira",
            &format!(
                "/rest/applinks/2.0/applicationlink/{}",
                uuid::Uuid::new_v4()
            ),
        )
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(code, 400);
    // v1 PUT is not part of 2.0.
    let (code, _) = text(
        env.admin(
            Method::PUT,
            "jira",
            &format!("/rest/applinks/2.0/applicationlink/{wiki_id}"),
        )
        .json(&body)
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(code, 405);

    // Non-admin gets 401 on classic resources.
    let (code, v) = json(
        env.req(Method::GET, "jira", "/rest/applinks/1.0/applicationlink")
            .basic_auth("user", Some("user"))
            .header("Accept", "application/json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 401);
    assert_eq!(v["status-code"], 401);

    let (code, v) = json(
        env.admin(
            Method::DELETE,
            "jira",
            &format!("/rest/applinks/1.0/applicationlink/{wiki_id}"),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(
        v,
        json!({"message": format!("Deleted application with id '{wiki_id}'"), "status-code": 200})
    );
    let (code, v) = json(
        env.admin(
            Method::DELETE,
            "jira",
            &format!("/rest/applinks/1.0/applicationlink/{wiki_id}"),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(code, 404);
    assert_eq!(v["status-code"], 404);
}

#[tokio::test]
async fn v1_put_fetches_the_manifest_at_rpc_url() {
    let env = start(vec![
        cfg("jira", Product::Jira),
        cfg("wiki", Product::Confluence),
    ])
    .await;
    let wiki = env.app("wiki");
    let id = env.id("wiki");
    // XML body, as a real peer sends for the link-back.
    let xml = format!(
        "<applicationLink><id>{id}</id><typeId>confluence</typeId><name>Wiki</name><displayUrl>{0}</displayUrl><rpcUrl>{0}</rpcUrl><isPrimary>false</isPrimary></applicationLink>",
        wiki.base_url
    );
    let (code, body) = text(
        env.req(
            Method::PUT,
            "jira",
            &format!("/rest/applinks/1.0/applicationlink/{id}"),
        )
        .basic_auth("admin", Some("admin"))
        .header("X-Atlassian-Token", "no-check")
        .header("Content-Type", "application/xml")
        .body(xml.clone())
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    assert!(body.contains("<resources-created><link href="), "{body}");
    let manifest_fetches = wiki
        .log
        .lock()
        .unwrap()
        .counts
        .get("GET /rest/applinks/1.0/manifest")
        .copied();
    assert_eq!(manifest_fetches, Some(1));
    // Same PUT again = update → 200.
    let (code, body) = text(
        env.req(
            Method::PUT,
            "jira",
            &format!("/rest/applinks/1.0/applicationlink/{id}"),
        )
        .basic_auth("admin", Some("admin"))
        .header("X-Atlassian-Token", "no-check")
        .header("Content-Type", "application/xml")
        .body(xml)
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("<resources-updated>"));
    // Unreachable rpcUrl → 400 ErrorListEntity.
    let bad = json!({"id": uuid::Uuid::new_v4(), "typeId": "jira", "name": "x", "rpcUrl": "http://127.0.0.1:1"});
    let (code, v) = json(
        env.admin(
            Method::PUT,
            "jira",
            &format!(
                "/rest/applinks/1.0/applicationlink/{}",
                uuid::Uuid::new_v4()
            ),
        )
        .json(&bad)
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(code, 400);
    assert_eq!(v["status"], 400);
    assert!(v["message"][0].as_str().unwrap().contains("not reachable"));
}

#[tokio::test]
async fn v3_applinks_list_get_update_delete() {
    let env = start(vec![with_users("jira", Product::Jira)]).await;
    let id = uuid::Uuid::new_v4();
    let body =
        json!({"id": id, "name": "Wiki", "typeId": "confluence", "rpcUrl": "http://wiki:8090"});
    env.admin(Method::PUT, "jira", "/rest/applinks/3.0/applicationlink")
        .json(&body)
        .send()
        .await
        .unwrap();
    let (code, v) = json(env.admin(Method::GET, "jira", "/rest/applinks/3.0/applinks?data=atlassian&data=bogus&property=oauth.incoming.consumerkey").send().await.unwrap()).await;
    assert_eq!(code, 200);
    let l = &v[0];
    assert_eq!(l["id"], id.to_string());
    assert_eq!(l["type"], "confluence");
    assert_eq!(l["system"], false);
    assert_eq!(l["primary"], true);
    assert_eq!(l["data"], json!({"atlassian": true, "bogus": null}));
    assert_eq!(l["properties"], json!({"oauth.incoming.consumerkey": null}));

    let upd = json!({"name": "Docs", "rpcUrl": "http://docs:8090", "displayUrl": "https://docs.example.test", "primary": true});
    let (code, v) = json(
        env.admin(
            Method::PUT,
            "jira",
            &format!("/rest/applinks/3.0/applinks/{id}"),
        )
        .json(&upd)
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["rpcUrl"], "http://docs:8090");
    assert_eq!(v["name"], "Docs");
    let (code, v) = json(
        env.admin(
            Method::PUT,
            "jira",
            &format!("/rest/applinks/3.0/applinks/{id}"),
        )
        .json(&json!({"rpcUrl": "not a url"}))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(code, 400);
    assert_eq!(v["status"], 400);
    assert!(v["errors"][0]["summary"].is_string());

    // V3 auth: anonymous 401, non-admin 403.
    let (code, v) = json(
        env.req(Method::GET, "jira", "/rest/applinks/3.0/applinks")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((code, v["status"].clone()), (401, json!(401)));
    let (code, _) = json(
        env.req(Method::GET, "jira", "/rest/applinks/3.0/applinks")
            .basic_auth("user", Some("user"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 403);
    let (code, _) = json(
        env.req(
            Method::GET,
            "jira",
            &format!("/rest/applinks/3.0/applinks/{id}"),
        )
        .basic_auth("adm", Some("adm"))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(code, 200);

    let r = env
        .admin(
            Method::DELETE,
            "jira",
            &format!("/rest/applinks/3.0/applinks/{id}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (code, v) = json(
        env.admin(
            Method::GET,
            "jira",
            &format!("/rest/applinks/3.0/applinks/{id}"),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(code, 404);
    assert_eq!(v["status"], 404);
}

#[tokio::test]
async fn primary_moves_on_delete_and_can_be_set() {
    let env = start(vec![cfg("jira", Product::Jira)]).await;
    let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    for (id, n) in [(a, "A"), (b, "B")] {
        let body = json!({"id": id, "name": n, "typeId": "confluence", "rpcUrl": format!("http://{n}.test")});
        env.admin(Method::PUT, "jira", "/rest/applinks/3.0/applicationlink")
            .json(&body)
            .send()
            .await
            .unwrap();
    }
    let r = env
        .admin(
            Method::POST,
            "jira",
            &format!("/rest/applinks/1.0/applicationlink/primary/{b}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, p) = json(
        env.admin(
            Method::GET,
            "jira",
            "/rest/applinks/1.0/applicationlink/primary/confluence",
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(p["id"], b.to_string());
    env.admin(
        Method::DELETE,
        "jira",
        &format!("/rest/applinks/3.0/applinks/{b}"),
    )
    .send()
    .await
    .unwrap();
    let (_, p) = json(
        env.admin(
            Method::GET,
            "jira",
            "/rest/applinks/1.0/applicationlink/primary/confluence",
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(p["id"], a.to_string());
}

#[tokio::test]
async fn list_applicationlinks_shows_auth_providers() {
    let env = start(vec![
        cfg("jira", Product::Jira),
        cfg("wiki", Product::Confluence),
    ])
    .await;
    env.link_two_way("jira", "wiki", false).await;
    let (code, v) = json(
        env.admin(
            Method::GET,
            "jira",
            "/rest/applinks/1.0/listApplicationlinks",
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(code, 200);
    let e = &v["list"][0];
    assert_eq!(e["application"]["id"], env.id("wiki"));
    assert_eq!(e["hasIncomingAuthenticationProviders"], true);
    assert_eq!(
        e["configuredOutboundAuthenticators"],
        json!([
            "com.atlassian.applinks.api.auth.types.OAuthAuthenticationProvider",
            "com.atlassian.applinks.api.auth.types.TwoLeggedOAuthAuthenticationProvider"
        ])
    );
}

#[tokio::test]
async fn form_manifest_probe() {
    let env = start(vec![
        cfg("jira", Product::Jira),
        cfg("wiki", Product::Confluence),
    ])
    .await;
    let path = format!(
        "/rest/applinks/1.0/applicationlinkForm/manifest?url={}",
        env.app("wiki").base_url
    );
    let (code, v) = json(env.admin(Method::GET, "jira", &path).send().await.unwrap()).await;
    assert_eq!(code, 200);
    assert_eq!(v["id"], env.id("wiki"));
    // XSRF-checked GET.
    let r = env
        .req(Method::GET, "jira", &path)
        .basic_auth("admin", Some("admin"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Own URL → 409.
    let own = format!(
        "/rest/applinks/1.0/applicationlinkForm/manifest?url={}",
        env.app("jira").base_url
    );
    let (code, _) = json(env.admin(Method::GET, "jira", &own).send().await.unwrap()).await;
    assert_eq!(code, 409);
    // Redirect → warning with the corrected base URL.
    env.control(Method::PATCH, "wiki", "/faults")
        .json(&json!({"manifest_redirect": "http://moved.test/wiki/rest/applinks/1.0/manifest"}))
        .send()
        .await
        .unwrap();
    let (code, v) = json(env.admin(Method::GET, "jira", &path).send().await.unwrap()).await;
    assert_eq!(code, 200);
    assert_eq!(v["redirectedUrl"], "http://moved.test/wiki");
}

#[tokio::test]
async fn remote_manifest_of_a_link() {
    let env = start(vec![
        cfg("jira", Product::Jira),
        cfg("wiki", Product::Confluence),
    ])
    .await;
    env.link_two_way("jira", "wiki", false).await;
    let (code, v) = json(
        env.admin(
            Method::GET,
            "jira",
            &format!("/rest/applinks/1.0/manifest/{}", env.id("wiki")),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(v["typeId"], "confluence");
    let (code, _) = json(
        env.admin(
            Method::GET,
            "jira",
            &format!("/rest/applinks/1.0/manifest/{}", uuid::Uuid::new_v4()),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(code, 400);
    env.control(Method::POST, "wiki", "/stop")
        .send()
        .await
        .unwrap();
    let (code, _) = json(
        env.admin(
            Method::GET,
            "jira",
            &format!("/rest/applinks/1.0/manifest/{}", env.id("wiki")),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(code, 404);
}

#[tokio::test]
async fn remote_capabilities_of_a_link() {
    let env = start(vec![
        cfg("jira", Product::Jira),
        cfg("wiki", Product::Confluence),
    ])
    .await;
    env.link_two_way("jira", "wiki", false).await;
    let (code, v) = json(
        env.admin(
            Method::GET,
            "jira",
            &format!("/rest/applinks/3.0/capabilities/remote/{}", env.id("wiki")),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["applinksVersion"]["major"], 9);
    assert_eq!(v["applicationVersion"]["versionString"], "9.2.5");
    assert_eq!(v["capabilities"], json!(["STATUS_API", "MIGRATION_API"]));
}

#[tokio::test]
async fn unknown_paths_are_404() {
    let env = start(vec![cfg("jira", Product::Jira)]).await;
    let (code, _) = text(
        env.req(Method::GET, "jira", "/rest/applinks/1.0/nothing")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 404);
}

#[tokio::test]
async fn personal_access_tokens_authenticate_as_their_user() {
    let mut jira = with_users("jira", Product::Jira);
    jira.secure_admin_sessions = Some(false);
    let env = start(vec![jira]).await;
    let path = "/rest/applinks/1.0/authenticationinfo";
    let r = env
        .req(Method::GET, "jira", path)
        .bearer_auth("adm-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = env
        .req(Method::GET, "jira", path)
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let (_, log) = json(
        env.control(Method::GET, "jira", "/log")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(log["entries"][0]["auth"], "bearer");
    assert_eq!(log["entries"][1]["auth"], "rejected");
}

#[tokio::test]
async fn permission_details_state_and_info() {
    let env = start(vec![
        cfg("bb", Product::Bitbucket),
        cfg("jira", Product::Jira),
        cfg("wiki", Product::Confluence),
    ])
    .await;
    env.link_two_way("bb", "jira", true).await;
    env.link_two_way("wiki", "jira", false).await;
    let perm = |_app: &str, kind: &str, peer: &str| {
        format!("/rest/applinks/1.0/permission/{kind}/{}", env.id(peer))
    };
    let (_, v) = json(
        env.admin(Method::GET, "bb", &perm("bb", "delete-application", "jira"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(v["code"], "ALLOWED");
    // Impersonation: the remote says what the same admin may do there.
    let (_, v) = json(
        env.admin(
            Method::GET,
            "bb",
            &perm("bb", "reciprocate-application-delete", "jira"),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(v["code"], "ALLOWED", "{v}");
    // 2LO without an executing user: the remote runs the check anonymously.
    let (_, v) = json(
        env.admin(
            Method::GET,
            "wiki",
            &perm("wiki", "reciprocate-application-delete", "jira"),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(v["code"], "NO_PERMISSION", "{v}");
    let (_, v) = json(
        env.admin(
            Method::GET,
            "bb",
            &format!(
                "/rest/applinks/1.0/permission/delete-application/{}",
                uuid::Uuid::new_v4()
            ),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(v["code"], "MISSING");

    let (code, v) = json(
        env.admin(
            Method::GET,
            "bb",
            &format!(
                "/rest/applinks/1.0/listApplicationlinkstates/id/{}",
                env.id("jira")
            ),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!((code, v["appLinkState"].clone()), (200, json!("OK")));
    let (code, v) = json(
        env.admin(
            Method::GET,
            "bb",
            &format!(
                "/rest/applinks/1.0/applicationlinkInfo/id/{}",
                env.id("jira")
            ),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(v["configuredAuthProviders"].as_array().unwrap().len(), 3);

    let details = "/rest/applinks/1.0/applicationlinkForm/details";
    let ok = json!({"username": "admin", "password": "admin", "remoteUrl": env.app("jira").base_url, "rpcUrl": env.app("bb").base_url});
    let (code, v) = json(
        env.admin(Method::POST, "bb", details)
            .json(&ok)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 200, "{v}");
    let bad_creds =
        json!({"username": "admin", "password": "x", "remoteUrl": env.app("jira").base_url});
    let (code, v) = json(
        env.admin(Method::POST, "bb", details)
            .json(&bad_creds)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((code, v["fields"].clone()), (400, json!(["authorization"])));
    let unreachable = json!({"username": "admin", "password": "admin", "remoteUrl": env.app("jira").base_url, "rpcUrl": "http://127.0.0.1:1"});
    let (code, v) = json(
        env.admin(Method::POST, "bb", details)
            .json(&unreachable)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((code, v["fields"].clone()), (400, json!(["rpcUrl"])));
}
