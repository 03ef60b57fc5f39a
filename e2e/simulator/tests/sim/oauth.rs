//! OAuth 1.0a on the wire: signed requests, the exact 401 shapes, consumer endpoints, 3LO dance.

use crate::common;

use crate::common::{cfg, json, start, text};
use applink_sim::Product;
use applink_sim::peer::{PeerAuth, PeerRequest};
use applink_sim::wire::oauth1::SignFaults;
use reqwest::Method;
use serde_json::json;

fn challenge(r: &reqwest::Response) -> String {
    r.headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn consumer_info_is_xml_with_spki_public_key() {
    let env = start(vec![cfg("jira", Product::Jira)]).await;
    let r = env
        .req(Method::GET, "jira", "/plugins/servlet/oauth/consumer-info")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/xml;charset=UTF-8");
    let (code, xml) = text(r).await;
    assert_eq!(code, 200);
    let app = env.app("jira");
    assert!(
        xml.contains(&format!(
            "<consumer><key>{}</key><name>jira</name><publicKey>{}</publicKey>",
            app.ident.consumer_key, app.ident.public_key_b64
        )),
        "{xml}"
    );
    let parsed = applink_sim::wire::keys::parse_public_key(&app.ident.public_key_b64).unwrap();
    assert_eq!(parsed, app.signer.key.to_public_key());
}

/// wiki registers jira as an incoming consumer with the given 2LO flags.
async fn register_consumer(env: &common::Env, two_lo: bool, impersonation: bool) {
    let body = json!({"id": env.id("jira"), "name": "jira", "typeId": "jira", "rpcUrl": env.app("jira").base_url});
    let r = env
        .admin(Method::PUT, "wiki", "/rest/applinks/3.0/applicationlink")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let c = json!({"twoLOAllowed": two_lo, "twoLOImpersonationAllowed": impersonation});
    let path = format!(
        "/rest/applinks-oauth/1.0/applicationlink/{}/authentication/consumer?autoConfigure=true",
        env.id("jira")
    );
    let r = env
        .admin(Method::PUT, "wiki", &path)
        .json(&c)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}

#[tokio::test]
async fn two_lo_signed_requests_are_verified() {
    let env = start(vec![
        cfg("jira", Product::Jira),
        cfg("wiki", Product::Confluence),
    ])
    .await;
    register_consumer(&env, true, false).await;
    let jira = env.app("jira");
    let manifest = env.url("wiki", "/rest/applinks/latest/manifest");
    let r = jira
        .call(
            PeerRequest::get(&manifest)
                .accept("application/json")
                .auth(PeerAuth::TwoLo),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());

    // Signed as jira but with a tampered signature: 401 + challenge + form body.
    let header = jira.signer.authorize(
        "GET",
        &url::Url::parse(&manifest).unwrap(),
        Some(""),
        SignFaults {
            tamper: true,
            clock_skew_secs: 0,
        },
    );
    let r = env
        .http
        .get(&manifest)
        .header("Authorization", header)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let c = challenge(&r);
    assert!(c.starts_with("OAuth realm=\""), "{c}");
    assert!(c.contains("oauth_problem=\"signature_invalid\""), "{c}");
    assert_eq!(r.text().await.unwrap(), "oauth_problem=signature_invalid");

    // Replaying a valid header: nonce_used.
    let header = jira.signer.authorize(
        "GET",
        &url::Url::parse(&manifest).unwrap(),
        Some(""),
        SignFaults::default(),
    );
    let r = env
        .http
        .get(&manifest)
        .header("Authorization", header.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = env
        .http
        .get(&manifest)
        .header("Authorization", header)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(challenge(&r).contains("oauth_problem=\"nonce_used\""));

    // Old timestamp.
    let header = jira.signer.authorize(
        "GET",
        &url::Url::parse(&manifest).unwrap(),
        Some(""),
        SignFaults {
            tamper: false,
            clock_skew_secs: -400,
        },
    );
    let r = env
        .http
        .get(&manifest)
        .header("Authorization", header)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(challenge(&r).contains("oauth_problem=\"timestamp_refused\""));

    // A signature over another URL (signed for /manifest, sent to /capabilities).
    let header = jira.signer.authorize(
        "GET",
        &url::Url::parse(&manifest).unwrap(),
        Some(""),
        SignFaults::default(),
    );
    let r = env
        .http
        .get(env.url("wiki", "/rest/applinks/latest/capabilities"))
        .header("Authorization", header)
        .send()
        .await
        .unwrap();
    assert!(challenge(&r).contains("signature_invalid"));
}

#[tokio::test]
async fn unknown_consumer_and_wrong_method() {
    let env = start(vec![
        cfg("jira", Product::Jira),
        cfg("wiki", Product::Confluence),
    ])
    .await;
    let jira = env.app("jira");
    // wiki does not know jira's consumer key.
    let r = jira
        .call(
            PeerRequest::get(env.url("wiki", "/rest/applinks/latest/manifest"))
                .auth(PeerAuth::TwoLo),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 401);
    let c = r.headers["www-authenticate"].to_str().unwrap();
    assert!(c.contains("oauth_problem=\"consumer_key_unknown\""), "{c}");
    let hmac = "OAuth oauth_consumer_key=\"k\", oauth_token=\"\", oauth_signature_method=\"HMAC-SHA1\", oauth_signature=\"x\", oauth_timestamp=\"1\", oauth_nonce=\"n\"";
    let r = env
        .req(Method::GET, "wiki", "/rest/applinks/1.0/manifest")
        .header("Authorization", hmac)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(challenge(&r).contains("signature_method_rejected"));
}

#[tokio::test]
async fn two_lo_not_allowed_is_401_with_challenge_and_empty_body() {
    let env = start(vec![
        cfg("jira", Product::Jira),
        cfg("wiki", Product::Confluence),
    ])
    .await;
    register_consumer(&env, false, false).await;
    let jira = env.app("jira");
    let r = jira
        .call(
            PeerRequest::get(env.url("wiki", "/rest/applinks/latest/manifest"))
                .auth(PeerAuth::TwoLo),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 401);
    let c = r.headers["www-authenticate"].to_str().unwrap();
    assert!(c.starts_with("OAuth realm="), "{c}");
    assert!(!c.contains("oauth_problem"), "{c}");
    assert!(r.body.is_empty());
    // Impersonation without twoLOImpersonationAllowed: same shape.
    let r = jira
        .call(
            PeerRequest::get(env.url("wiki", "/rest/applinks/latest/manifest"))
                .auth(PeerAuth::TwoLoI("admin".into())),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 401);
    assert!(r.body.is_empty());
}

#[tokio::test]
async fn impersonation_runs_as_the_named_user() {
    let env = start(vec![
        cfg("jira", Product::Jira),
        cfg("wiki", Product::Confluence),
    ])
    .await;
    register_consumer(&env, true, true).await;
    let jira = env.app("jira");
    let info = env.url("wiki", "/rest/applinks/1.0/authenticationinfo");
    let r = jira
        .call(PeerRequest::get(&info).auth(PeerAuth::TwoLoI("admin".into())))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let r = jira
        .call(PeerRequest::get(&info).auth(PeerAuth::TwoLoI("user".into())))
        .await
        .unwrap();
    assert_eq!(r.status, 401, "a plain user is not an admin");
    let r = jira
        .call(PeerRequest::get(&info).auth(PeerAuth::TwoLo))
        .await
        .unwrap();
    assert_eq!(r.status, 401, "2LO without an executing user is anonymous");
    let r = jira
        .call(PeerRequest::get(&info).auth(PeerAuth::TwoLoI("ghost".into())))
        .await
        .unwrap();
    assert_eq!(r.status, 401);
    assert!(
        r.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("permission_unknown")
    );
}

#[tokio::test]
async fn applinks_oauth_consumer_endpoints() {
    let env = start(vec![
        cfg("jira", Product::Jira),
        cfg("wiki", Product::Confluence),
    ])
    .await;
    let body = json!({"id": env.id("jira"), "name": "jira", "typeId": "jira", "rpcUrl": env.app("jira").base_url});
    env.admin(Method::PUT, "wiki", "/rest/applinks/3.0/applicationlink")
        .json(&body)
        .send()
        .await
        .unwrap();
    let base = format!(
        "/rest/applinks-oauth/1.0/applicationlink/{}/authentication",
        env.id("jira")
    );
    let (code, _) = json(
        env.admin(Method::GET, "wiki", &format!("{base}/consumer"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 404);
    // Missing fields for an Atlassian type.
    let (code, v) = json(
        env.admin(Method::PUT, "wiki", &format!("{base}/consumer"))
            .json(&json!({"key": "k"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 400);
    assert_eq!(v["fields"], json!(["name", "publicKey"]));
    let jira = env.app("jira");
    let c = json!({"key": jira.ident.consumer_key, "name": "jira", "publicKey": jira.ident.public_key_b64,
                   "twoLOAllowed": true, "executingTwoLOUser": "admin"});
    let r = env
        .admin(Method::PUT, "wiki", &format!("{base}/consumer"))
        .json(&c)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let (code, v) = json(
        env.admin(Method::GET, "wiki", &format!("{base}/consumer"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(v["consumers"][0]["key"], jira.ident.consumer_key);
    assert_eq!(v["consumers"][0]["twoLOAllowed"], true);
    let (code, v) = json(env.admin(Method::GET, "wiki", &base).send().await.unwrap()).await;
    assert_eq!(code, 200);
    assert_eq!(v["consumers"].as_array().unwrap().len(), 1);
    // 2LO now runs as the executing user (an admin).
    let r = jira
        .call(
            PeerRequest::get(env.url("wiki", "/rest/applinks/1.0/authenticationinfo"))
                .auth(PeerAuth::TwoLo),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    // The status API reflects it.
    let (_, v) = json(
        env.req(
            Method::GET,
            "wiki",
            &format!("/rest/applinks/3.0/status/{}/oauth", env.id("jira")),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(
        v["incoming"],
        json!({"enabled": true, "twoLoEnabled": true, "twoLoImpersonationEnabled": false})
    );
    // v2 outgoing providers.
    let p = format!(
        "/rest/applinks/2.0/applicationlink/{}/authentication/provider",
        env.id("jira")
    );
    let r = env.admin(Method::PUT, "wiki", &p).json(&json!({"provider": "com.atlassian.applinks.api.auth.types.OAuthAuthenticationProvider", "config": {"consumerKey.outbound": "x"}})).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let (code, _) = json(
        env.admin(Method::PUT, "wiki", &p)
            .json(&json!({"provider": "nope"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 400);
    let (_, v) = json(env.admin(Method::GET, "wiki", &p).send().await.unwrap()).await;
    assert_eq!(v[0]["config"]["consumerKey.outbound"], "x");
    // There is no REST DELETE of a consumer (deleting the link removes it).
    let r = env
        .admin(Method::DELETE, "wiki", &format!("{base}/consumer"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let r = env
        .admin(Method::GET, "wiki", &format!("{base}/consumer"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the consumer is still there");
    let r = env
        .admin(
            Method::DELETE,
            "wiki",
            &format!("/rest/applinks-oauth/1.0/consumer-token/{}", env.id("jira")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    // applinks-oauth also serves the v1 link resource.
    let (code, v) = json(
        env.admin(
            Method::GET,
            "wiki",
            &format!(
                "/rest/applinks-oauth/1.0/applicationlink/{}",
                env.id("jira")
            ),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!((code, v["typeId"].clone()), (200, json!("jira")));
}

#[tokio::test]
async fn status_oauth_put_fetches_consumer_info_and_checks_roles() {
    let mut wiki = cfg("wiki", Product::Confluence);
    wiki.users.push(applink_sim::UserConfig {
        username: "adm".into(),
        password: "adm".into(),
        role: applink_sim::Role::Admin,
        tokens: vec!["adm-token".into()],
    });
    let env = start(vec![cfg("jira", Product::Jira), wiki]).await;
    let body = json!({"id": env.id("jira"), "name": "jira", "typeId": "jira", "rpcUrl": env.app("jira").base_url});
    env.admin(Method::PUT, "wiki", "/rest/applinks/3.0/applicationlink")
        .json(&body)
        .send()
        .await
        .unwrap();
    let path = format!("/rest/applinks/3.0/status/{}/oauth", env.id("jira"));
    let imp = json!({"enabled": true, "twoLoEnabled": true, "twoLoImpersonationEnabled": true});
    let r = env
        .req(Method::PUT, "wiki", &path)
        .basic_auth("adm", Some("adm"))
        .json(&json!({"incoming": imp, "outgoing": imp}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "impersonation needs sysadmin");
    let r = env
        .req(Method::PUT, "wiki", &path)
        .header("X-Atlassian-Token", "no-check")
        .json(&json!({"incoming": imp, "outgoing": imp}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = env
        .admin(Method::PUT, "wiki", &path)
        .json(&json!({"incoming": imp, "outgoing": imp}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    {
        let wiki = env.app("wiki");
        let st = wiki.state.lock().unwrap();
        let link = st.link(&env.app("jira").ident.id).unwrap();
        assert_eq!(
            link.incoming_key.as_deref(),
            Some(env.app("jira").ident.consumer_key.as_str())
        );
        assert!(st.consumer_of(link).is_some());
    }
    let (code, v) = json(env.req(Method::GET, "wiki", &path).send().await.unwrap()).await;
    assert_eq!(code, 200, "anonymous");
    assert_eq!(v, json!({"incoming": imp, "outgoing": imp}));
    // Unknown id → 404; peer unreachable when a consumer is needed → 409.
    let (code, _) = json(
        env.req(
            Method::GET,
            "wiki",
            &format!("/rest/applinks/3.0/status/{}/oauth", uuid::Uuid::new_v4()),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(code, 404);
    let off = json!({"enabled": false});
    env.admin(Method::PUT, "wiki", &path)
        .json(&json!({"incoming": off, "outgoing": off}))
        .send()
        .await
        .unwrap();
    env.control(Method::POST, "jira", "/stop")
        .send()
        .await
        .unwrap();
    let (code, v) = json(
        env.admin(Method::PUT, "wiki", &path)
            .json(&json!({"incoming": imp, "outgoing": imp}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 409, "{v}");
    assert_eq!(v["status"], 409);
}

#[tokio::test]
async fn three_legged_dance() {
    let env = start(vec![
        cfg("jira", Product::Jira),
        cfg("wiki", Product::Confluence),
    ])
    .await;
    register_consumer(&env, false, false).await;
    let jira = env.app("jira");
    let base = env.url("wiki", "/plugins/servlet/oauth");
    // Bad callback.
    let url = url::Url::parse(&format!(
        "{base}/request-token?oauth_callback=ftp%3A%2F%2Fx"
    ))
    .unwrap();
    let h = jira
        .signer
        .authorize("POST", &url, None, SignFaults::default());
    let r = env
        .http
        .post(url.as_str())
        .header("Authorization", h)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(challenge(&r).contains("oauth_parameters_rejected=\"oauth_callback\""));

    let url = url::Url::parse(&format!("{base}/request-token?oauth_callback=oob")).unwrap();
    let h = jira
        .signer
        .authorize("POST", &url, None, SignFaults::default());
    let (code, body) = text(
        env.http
            .post(url.as_str())
            .header("Authorization", h)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let pairs = applink_sim::wire::oauth1::form_pairs(&body);
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(get("oauth_callback_confirmed"), "true");
    let request_token = get("oauth_token");

    // Access token before authorisation is refused.
    let url = url::Url::parse(&format!("{base}/access-token?oauth_verifier=x")).unwrap();
    let h = jira
        .signer
        .authorize("POST", &url, Some(&request_token), SignFaults::default());
    let r = env
        .http
        .post(url.as_str())
        .header("Authorization", h)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let r = env
        .req(
            Method::GET,
            "wiki",
            &format!("/plugins/servlet/oauth/authorize?oauth_token={request_token}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302, "the user must log in");
    let login = r.headers()["location"].to_str().unwrap();
    assert!(login.contains("/login.action?os_destination="), "{login}");
    // The form needs the XSRF token of the page: without it the approval is refused.
    let r = env
        .req(Method::POST, "wiki", "/plugins/servlet/oauth/authorize")
        .basic_auth("admin", Some("admin"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("oauth_token={request_token}&approve=Allow"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let (code, html) = text(
        env.oauth1_decide("wiki", ("admin", "admin"), &request_token, "approve")
            .await,
    )
    .await;
    assert_eq!(code, 200, "oob: the verifier is shown");
    let verifier = html
        .split("<code id=\"oauth_verifier\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_string();

    let url = url::Url::parse(&format!("{base}/access-token?oauth_verifier={verifier}")).unwrap();
    let h = jira
        .signer
        .authorize("POST", &url, Some(&request_token), SignFaults::default());
    let (code, body) = text(
        env.http
            .post(url.as_str())
            .header("Authorization", h)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let pairs = applink_sim::wire::oauth1::form_pairs(&body);
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    let access = get("oauth_token");
    assert!(get("oauth_expires_in").parse::<u64>().unwrap() > 0);
    assert!(!get("oauth_session_handle").is_empty());
    assert!(!get("oauth_authorization_expires_in").is_empty());

    // A 3LO request runs as the approving user.
    let info = url::Url::parse(&env.url("wiki", "/rest/applinks/1.0/authenticationinfo")).unwrap();
    let h = jira
        .signer
        .authorize("GET", &info, Some(&access), SignFaults::default());
    let r = env
        .http
        .get(info.as_str())
        .header("Authorization", h)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let h = jira
        .signer
        .authorize("GET", &info, Some("bogus"), SignFaults::default());
    let r = env
        .http
        .get(info.as_str())
        .header("Authorization", h)
        .send()
        .await
        .unwrap();
    assert!(challenge(&r).contains("token_rejected"));
}

#[tokio::test]
async fn authorize_redirects_to_callback() {
    let env = start(vec![
        cfg("jira", Product::Jira),
        cfg("wiki", Product::Confluence),
    ])
    .await;
    register_consumer(&env, false, false).await;
    let jira = env.app("jira");
    let url = url::Url::parse(&env.url(
        "wiki",
        "/plugins/servlet/oauth/request-token?oauth_callback=https%3A%2F%2Fjira.test%2Fcb",
    ))
    .unwrap();
    let h = jira
        .signer
        .authorize("POST", &url, None, SignFaults::default());
    let (_, body) = text(
        env.http
            .post(url.as_str())
            .header("Authorization", h)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let token = applink_sim::wire::oauth1::form_pairs(&body)[0].1.clone();
    let r = env
        .oauth1_decide("wiki", ("user", "user"), &token, "approve")
        .await;
    assert_eq!(r.status(), 302);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        loc.starts_with("https://jira.test/cb?oauth_token="),
        "{loc}"
    );
    let verifier = url::Url::parse(&loc)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "oauth_verifier")
        .map(|(_, v)| v.to_string())
        .unwrap();
    assert_eq!(verifier.len(), 6, "six letters and digits");
    assert!(verifier.chars().all(|c| c.is_ascii_alphanumeric()));
}
