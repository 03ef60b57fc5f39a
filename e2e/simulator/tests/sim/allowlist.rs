//! Allowlist REST API (docs/simulator.md#allowlist).

use crate::common::{cfg, json, start};
use applink_sim::Product;
use reqwest::Method;
use serde_json::json;

const BASE: &str = "/rest/whitelist/latest";

#[tokio::test]
async fn crud_and_validation() {
    let env = start(vec![cfg("jira", Product::Jira)]).await;
    let (code, v) = json(env.admin(Method::GET, "jira", BASE).send().await.unwrap()).await;
    assert_eq!(code, 200);
    assert_eq!(v, json!({"rules": [], "page": 0, "totalPages": 0}));

    let rule = json!({"expression": "https://cloud.atlassian.net", "type": "whitelist.domain.name", "allowInbound": true, "allowAnonymousUser": false});
    let (code, r) = json(
        env.admin(Method::POST, "jira", BASE)
            .json(&rule)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 200, "{r}");
    assert_eq!(r["type"], "whitelist.domain.name");
    assert_eq!(r["allowInbound"], true);
    // The bean of WhitelistBeanServiceImpl, field for field.
    let mut fields: Vec<&str> = r.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "allowAnonymousUser",
            "allowDelete",
            "allowEdit",
            "allowInbound",
            "expression",
            "iconUrl",
            "id",
            "type"
        ]
    );
    assert_eq!(
        (r["allowEdit"].clone(), r["allowDelete"].clone()),
        (json!(true), json!(true))
    );
    let id = r["id"].as_u64().unwrap();
    // Domain rules match scheme://authority ignoring case.
    let (_, v) = json(
        env.req(
            Method::GET,
            "jira",
            &format!(
                "{BASE}/check?url={}",
                urlencode("HTTPS://Cloud.Atlassian.NET/wiki")
            ),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(v["outboundWithAuth"], true, "{v}");
    assert_eq!(v["inbound"], true, "{v}");

    let (code, v) = json(
        env.admin(Method::POST, "jira", BASE)
            .json(&json!({"expression": "", "type": "whitelist.exact.url"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 400);
    assert!(v["errors"]["expression"].is_string(), "{v}");
    let (code, v) = json(
        env.admin(Method::POST, "jira", BASE)
            .json(&json!({"expression": "(", "type": "whitelist.regular.expression"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 400);
    assert!(v["errors"]["expression"].is_string());
    let (code, v) = json(
        env.admin(Method::POST, "jira", BASE)
            .json(&json!({"expression": "x", "type": "whitelist.bogus"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 400);
    assert!(v["message"].is_string());

    // Partial update keeps other fields.
    let (code, r) = json(
        env.admin(Method::PUT, "jira", &format!("{BASE}/{id}"))
            .json(&json!({"allowAnonymousUser": true}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(r["expression"], "https://cloud.atlassian.net");
    assert_eq!(r["allowAnonymousUser"], true);

    let (_, v) = json(env.admin(Method::GET, "jira", BASE).send().await.unwrap()).await;
    assert_eq!(
        (v["page"].clone(), v["rules"].as_array().unwrap().len()),
        (json!(1), 1)
    );
    let r = env
        .admin(Method::DELETE, "jira", &format!("{BASE}/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Deleting an unknown id is a 200 too; updating one is a 400 with a message.
    let r = env
        .admin(Method::DELETE, "jira", &format!("{BASE}/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (code, v) = json(
        env.admin(Method::PUT, "jira", &format!("{BASE}/{id}"))
            .json(&json!({"allowInbound": false}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 400);
    assert!(v["message"].is_string(), "{v}");
    // Admin only.
    let r = env.req(Method::GET, "jira", BASE).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = env
        .req(Method::GET, "jira", BASE)
        .basic_auth("user", Some("user"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn check_settings_enable_and_application_link_rules() {
    let env = start(vec![cfg("jira", Product::Jira)]).await;
    let check = |u: &str| format!("{BASE}/check?url={}", urlencode(u));
    let (_, v) = json(
        env.req(Method::GET, "jira", &check("https://other.test/x"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        v,
        json!({"outbound": false, "outboundWithAuth": false, "inbound": false})
    );

    // An application link is implicitly allowed (authenticated only, never inbound).
    let id = uuid::Uuid::new_v4();
    let body = json!({"id": id, "name": "Wiki", "typeId": "confluence", "rpcUrl": "http://wiki.test:8090"});
    env.admin(Method::PUT, "jira", "/rest/applinks/3.0/applicationlink")
        .json(&body)
        .send()
        .await
        .unwrap();
    let (_, v) = json(
        env.req(
            Method::GET,
            "jira",
            &check("http://wiki.test:8090/rest/api"),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        v,
        json!({"outbound": false, "outboundWithAuth": true, "inbound": false})
    );
    let (_, list) = json(env.admin(Method::GET, "jira", BASE).send().await.unwrap()).await;
    // Listed as "<link name> (<displayUrl>)", neither editable nor deletable.
    assert_eq!(list["rules"][0]["type"], "whitelist.application.link");
    assert_eq!(
        list["rules"][0]["expression"],
        "Wiki (http://wiki.test:8090)"
    );
    assert_eq!(list["rules"][0]["allowEdit"], false);
    assert_eq!(list["rules"][0]["allowDelete"], false);
    let rule_id = list["rules"][0]["id"].as_u64().unwrap();
    let r = env
        .admin(Method::DELETE, "jira", &format!("{BASE}/{rule_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, list) = json(env.admin(Method::GET, "jira", BASE).send().await.unwrap()).await;
    assert_eq!(
        list["rules"][0]["expression"],
        "Wiki (http://wiki.test:8090)"
    );

    let (code, v) = json(
        env.admin(Method::PUT, "jira", &format!("{BASE}/settings"))
            .json(&json!({"applicationLinkRestrictiveness": "ALLOW_ANONYMOUS"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (code, v["applicationLinkRestrictiveness"].clone()),
        (200, json!("ALLOW_ANONYMOUS"))
    );
    let (_, v) = json(
        env.req(Method::GET, "jira", &check("http://wiki.test:8090/"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(v["outbound"], true);
    let (code, _) = json(
        env.admin(Method::PUT, "jira", &format!("{BASE}/settings"))
            .json(&json!({"applicationLinkRestrictiveness": "MAYBE"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 400);

    // Wildcard rule with inbound.
    env.admin(Method::POST, "jira", BASE).json(&json!({"expression": "https://*.atlassian.net/*", "type": "whitelist.wildcard.expression", "allowInbound": true, "allowAnonymousUser": true})).send().await.unwrap();
    let (_, v) = json(
        env.req(
            Method::GET,
            "jira",
            &check("https://acme.atlassian.net/wiki"),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        v,
        json!({"outbound": true, "outboundWithAuth": true, "inbound": true})
    );

    // disable: body-less POST needs the XSRF header.
    let r = env
        .req(Method::POST, "jira", &format!("{BASE}/disable"))
        .basic_auth("admin", Some("admin"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = env
        .admin(Method::POST, "jira", &format!("{BASE}/disable"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().is_empty(), "no body");
    let (_, v) = json(
        env.req(Method::GET, "jira", &check("https://anything.test"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(v["outbound"], true);
    env.admin(Method::POST, "jira", &format!("{BASE}/enable"))
        .send()
        .await
        .unwrap();
    let (_, v) = json(
        env.req(Method::GET, "jira", &check("https://anything.test"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(v["outbound"], false);
}

fn urlencode(s: &str) -> String {
    applink_sim::wire::oauth1::encode(s)
}

#[tokio::test]
async fn base_path_is_configurable_or_absent() {
    let mut moved = cfg("moved", Product::Jira);
    moved.allowlist_base = Some("rest/allowlist/2.0".into());
    let mut absent = cfg("absent", Product::Jira);
    absent.allowlist_base = Some("none".into());
    let env = start(vec![cfg("jira", Product::Jira), moved, absent]).await;
    for (app, path, want) in [
        ("jira", "/rest/whitelist/latest", 200),
        ("jira", "/rest/whitelist/1.0", 200),
        ("moved", "/rest/allowlist/2.0", 200),
        ("moved", "/rest/whitelist/latest", 404),
        ("moved", "/rest/whitelist/1.0", 404),
        ("absent", "/rest/whitelist/latest", 404),
        ("absent", "/rest/whitelist/1.0", 404),
    ] {
        let r = env.admin(Method::GET, app, path).send().await.unwrap();
        assert_eq!(r.status(), want, "{app} {path}");
    }
    // Still WebSudo-guarded where it moved to.
    let mut with_pat = cfg("pat", Product::Jira);
    with_pat.allowlist_base = Some("rest/allowlist/2.0".into());
    with_pat.users[0].tokens = vec!["t".into()];
    let env = start(vec![with_pat]).await;
    let r = env
        .req(Method::GET, "pat", "/rest/allowlist/2.0")
        .bearer_auth("t")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = env
        .req(
            Method::GET,
            "pat",
            "/rest/allowlist/2.0/check?url=http%3A%2F%2Fx",
        )
        .bearer_auth("t")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
