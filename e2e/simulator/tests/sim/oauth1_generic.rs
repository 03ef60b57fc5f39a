//! OAuth 1.0a for a tool that is not an Atlassian product (docs/simulator.md#oauth-configuration):
//! an incoming consumer on a generic link, then the three-legged dance with the tool's own
//! RSA key and REST calls signed with the access token.

use crate::common::{Env, cfg, json, start, text};
use applink_sim::Product;
use applink_sim::wire::keys;
use applink_sim::wire::oauth1::{SignFaults, Signer, form_pairs};
use reqwest::Method;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use serde_json::{Value, json};

const KEY: &str = "tool-consumer";

fn tool_signer() -> Signer {
    Signer {
        consumer_key: KEY.into(),
        key: keys::private_key("the-tool", 1024),
    }
}

fn pem(s: &Signer) -> String {
    s.key
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap()
}

/// A generic link from Jira to the tool; returns its id.
async fn generic_link(env: &Env) -> String {
    let body = json!({"name": "Tool", "typeId": "generic", "rpcUrl": "https://tool.example.com"});
    let (code, v) = json(
        env.admin(Method::PUT, "jira", "/rest/applinks/2.0/applicationlink")
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 201, "{v}");
    let (_, links) = json(
        env.admin(Method::GET, "jira", "/rest/applinks/3.0/applinks")
            .send()
            .await
            .unwrap(),
    )
    .await;
    links[0]["id"].as_str().unwrap().to_string()
}

async fn put_consumer(env: &Env, id: &str, body: Value) -> (u16, String) {
    text(
        env.admin(
            Method::PUT,
            "jira",
            &format!("/rest/applinks-oauth/1.0/applicationlink/{id}/authentication/consumer"),
        )
        .json(&body)
        .send()
        .await
        .unwrap(),
    )
    .await
}

/// Signs and sends `method url` with the tool's key; the answer's status and body.
async fn signed(env: &Env, method: &str, url: &str, token: Option<&str>) -> (u16, String) {
    let u = url::Url::parse(url).unwrap();
    let h = tool_signer().authorize(method, &u, token, SignFaults::default());
    let m = Method::from_bytes(method.as_bytes()).unwrap();
    text(
        env.http
            .request(m, u.as_str())
            .header("Authorization", h)
            .header("Accept", "application/json")
            .send()
            .await
            .unwrap(),
    )
    .await
}

fn pair(body: &str, k: &str) -> String {
    form_pairs(body)
        .into_iter()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v)
        .unwrap_or_default()
}

#[tokio::test]
async fn generic_link_consumer_rules() {
    let env = start(vec![cfg("jira", Product::Jira)]).await;
    let id = generic_link(&env).await;
    let signer = tool_signer();
    let full = json!({"key": KEY, "name": "Tool", "publicKey": pem(&signer),
                      "callback": "https://tool.example.com/cb", "twoLOAllowed": true,
                      "executingTwoLOUser": "admin", "twoLOImpersonationAllowed": true,
                      "outgoing": false});
    let without = |k: &str| {
        let mut b = full.clone();
        b.as_object_mut().unwrap().remove(k);
        b
    };
    let (code, body) = put_consumer(&env, &id, without("key")).await;
    assert_eq!(code, 400, "{body}");
    let (code, _) = put_consumer(&env, &id, without("publicKey")).await;
    assert_eq!(code, 400);
    let mut bad_key = full.clone();
    bad_key["publicKey"] = json!("not a key");
    let (code, _) = put_consumer(&env, &id, bad_key).await;
    assert_eq!(code, 400);
    // The name is not validated on a generic link: a missing one fails later, with a 500.
    let (code, body) = put_consumer(&env, &id, without("name")).await;
    assert_eq!(code, 500, "{body}");
    // The 2LO flags of the body are ignored on a generic link: 3LO only.
    let (code, body) = put_consumer(&env, &id, full.clone()).await;
    assert_eq!(code, 201, "{body}");
    let path = format!("/rest/applinks-oauth/1.0/applicationlink/{id}/authentication/consumer");
    let (code, v) = json(env.admin(Method::GET, "jira", &path).send().await.unwrap()).await;
    assert_eq!(code, 200);
    let c = &v["consumers"][0];
    assert_eq!(c["key"], KEY);
    assert_eq!(c["twoLOAllowed"], false, "{v}");
    assert_eq!(c["twoLOImpersonationAllowed"], false);
    assert!(c["executingTwoLOUser"].is_null());
    // So a 2LO request is refused.
    let (code, _) = signed(
        &env,
        "GET",
        &env.url("jira", "/rest/api/2/myself"),
        Some(""),
    )
    .await;
    assert_eq!(code, 401);
    // A bare base64 key works as well as PEM.
    let mut bare = full.clone();
    bare["publicKey"] = json!(keys::public_key_b64(&signer.key.to_public_key()));
    let (code, _) = put_consumer(&env, &id, bare).await;
    assert_eq!(code, 201);
    // No REST DELETE; deleting the link removes the consumer.
    let r = env
        .admin(Method::DELETE, "jira", &path)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let r = env
        .admin(
            Method::DELETE,
            "jira",
            &format!("/rest/applinks/1.0/applicationlink/{id}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, state) = json(
        env.control(Method::GET, "jira", "/state")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(state["consumers"], json!([]), "{state}");
}

#[tokio::test]
async fn three_legged_dance_with_the_tools_key() {
    let env = start(vec![cfg("jira", Product::Jira)]).await;
    let id = generic_link(&env).await;
    let (code, _) = put_consumer(
        &env,
        &id,
        json!({"key": KEY, "name": "Tool", "publicKey": pem(&tool_signer())}),
    )
    .await;
    assert_eq!(code, 201);
    let servlet = env.url("jira", "/plugins/servlet/oauth");
    let callback = "https%3A%2F%2Ftool.example.com%2Fcb";

    // Approve: verifier back at the callback, access token, a signed REST call as the user.
    let (code, body) = signed(
        &env,
        "POST",
        &format!("{servlet}/request-token?oauth_callback={callback}"),
        None,
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let request_token = pair(&body, "oauth_token");
    let r = env
        .oauth1_decide("jira", ("user", "user"), &request_token, "approve")
        .await;
    assert_eq!(r.status(), 302);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(loc.starts_with("https://tool.example.com/cb?"), "{loc}");
    let verifier = url::Url::parse(&loc)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "oauth_verifier")
        .unwrap()
        .1
        .to_string();
    let (code, body) = signed(
        &env,
        "POST",
        &format!("{servlet}/access-token?oauth_verifier=wrong"),
        Some(&request_token),
    )
    .await;
    assert_eq!(code, 401, "a wrong verifier: {body}");
    let (code, body) = signed(
        &env,
        "POST",
        &format!("{servlet}/access-token?oauth_verifier={verifier}"),
        Some(&request_token),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let access = pair(&body, "oauth_token");
    let (code, body) = signed(
        &env,
        "GET",
        &env.url("jira", "/rest/api/2/myself"),
        Some(&access),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let me: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(me["name"], "user", "as the approving user");
    let (_, log) = json(
        env.control(Method::GET, "jira", "/log")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(
        log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["path"] == "/rest/api/2/myself" && e["auth"] == "3lo")
    );
    // The request token is used up.
    let (code, _) = signed(
        &env,
        "POST",
        &format!("{servlet}/access-token?oauth_verifier={verifier}"),
        Some(&request_token),
    )
    .await;
    assert_eq!(code, 401);

    // Deny: `oauth_verifier=denied` at the callback, and no access token.
    let (_, body) = signed(
        &env,
        "POST",
        &format!("{servlet}/request-token?oauth_callback={callback}"),
        None,
    )
    .await;
    let denied_token = pair(&body, "oauth_token");
    let r = env
        .oauth1_decide("jira", ("user", "user"), &denied_token, "deny")
        .await;
    assert_eq!(r.status(), 302);
    let loc = r.headers()["location"].to_str().unwrap();
    assert!(loc.contains("oauth_verifier=denied"), "{loc}");
    let (code, body) = signed(
        &env,
        "POST",
        &format!("{servlet}/access-token?oauth_verifier=denied"),
        Some(&denied_token),
    )
    .await;
    assert_eq!(code, 401);
    assert!(body.contains("oauth_problem=permission_denied"), "{body}");

    // Deleting the link takes the consumer and its tokens.
    env.admin(
        Method::DELETE,
        "jira",
        &format!("/rest/applinks/1.0/applicationlink/{id}"),
    )
    .send()
    .await
    .unwrap();
    let (code, _) = signed(
        &env,
        "GET",
        &env.url("jira", "/rest/api/2/myself"),
        Some(&access),
    )
    .await;
    assert_eq!(code, 401);
}
