//! Entity links: created over an application link, listed, made primary, deleted, and deleted
//! with their application link (docs/simulator.md#entity-links).

use crate::common::{cfg, json, start};
use applink_sim::Product;
use reqwest::Method;
use serde_json::json;

const EL: &str = "/rest/applinks/1.0/entitylink";

#[tokio::test]
async fn entity_links_live_and_die_with_their_application_link() {
    let env = start(vec![
        cfg("jira", Product::Jira),
        cfg("conf", Product::Confluence),
    ])
    .await;
    env.link_two_way("jira", "conf", false).await;
    let conf = env.id("conf");
    let jira = env.id("jira");

    // Two Jira projects linked to Confluence spaces; the first of a remote type is primary.
    for (project, space) in [("ABC", "DOC"), ("ABC", "WIKI"), ("XYZ", "DOC")] {
        let (code, v) = json(
            env.admin(Method::PUT, "jira", &format!("{EL}/jira.project/{project}"))
                .json(&json!({"applicationId": conf, "typeId": "confluence.space", "key": space, "name": format!("{space} space")}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(code, 201, "{v}");
        assert_eq!(v["isPrimary"], space == "DOC", "{v}");
    }
    // And one the other way round.
    let (code, _) = json(
        env.admin(Method::PUT, "conf", &format!("{EL}/confluence.space/DOC"))
            .json(&json!({"applicationId": jira, "typeId": "jira.project", "key": "ABC"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 201);

    let (code, v) = json(
        env.admin(Method::GET, "jira", &format!("{EL}/list/jira.project/ABC"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 200);
    let keys: Vec<&str> = v["entity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["DOC", "WIKI"], "primary first: {v}");

    let linked = format!("{EL}/localEntitiesWithLinksTo/{conf}");
    let (code, v) = json(
        env.admin(Method::GET, "jira", &linked)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(
        v["entity"],
        json!([{"key": "ABC", "name": "ABC", "typeId": "jira.project"},
               {"key": "XYZ", "name": "XYZ", "typeId": "jira.project"}])
    );
    // Anonymous callers are refused; an unknown remote entity is a 404; a type nobody installed 400.
    let r = env.req(Method::GET, "jira", &linked).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let q = format!("{EL}/jira.project/ABC?typeId=confluence.space&key=NOPE&applicationId={conf}");
    let r = env.admin(Method::DELETE, "jira", &q).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let r = env
        .admin(Method::GET, "jira", &format!("{EL}/list/no.such/ABC"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // An entity link over a link that does not exist: 404.
    let r = env
        .admin(Method::PUT, "jira", &format!("{EL}/jira.project/ABC"))
        .json(&json!({"applicationId": "6b49910b-0000-3000-8000-000000000099", "typeId": "confluence.space", "key": "X"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // Primary moves, and one entity link is deleted.
    let q = format!(
        "{EL}/primary/jira.project/ABC?typeId=confluence.space&key=WIKI&applicationId={conf}"
    );
    let (code, v) = json(env.admin(Method::POST, "jira", &q).send().await.unwrap()).await;
    assert_eq!((code, &v["isPrimary"]), (200, &json!(true)), "{v}");
    let q = format!("{EL}/jira.project/XYZ?typeId=confluence.space&key=DOC&applicationId={conf}");
    let r = env.admin(Method::DELETE, "jira", &q).send().await.unwrap();
    assert_eq!(r.status(), 200);

    // Deleting the application link (V3, local) deletes its entity links in that application
    // only: Confluence's entity link to Jira stays until Confluence's own link goes.
    let r = env
        .admin(
            Method::DELETE,
            "jira",
            &format!("/rest/applinks/3.0/applinks/{conf}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (_, v) = json(
        env.admin(Method::GET, "jira", &linked)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(v["entity"], json!([]), "{v}");
    let (_, v) = json(
        env.admin(Method::GET, "jira", &format!("{EL}/list/jira.project/ABC"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(v["entity"], json!([]), "{v}");
    let back = format!("{EL}/localEntitiesWithLinksTo/{jira}");
    let (_, v) = json(env.admin(Method::GET, "conf", &back).send().await.unwrap()).await;
    assert_eq!(v["entity"].as_array().unwrap().len(), 1, "{v}");
}
