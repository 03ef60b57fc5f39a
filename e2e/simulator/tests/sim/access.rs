//! Who may call (docs/simulator.md#websudo and around): Basic blocked, CAPTCHA lock-out, rate limiting, WebSudo,
//! XSRF per REST line, product profiles and runtime settings.

use crate::common::{Env, cfg, json, start, text};
use applink_sim::{AppConfig, Product, RateLimit, RestLine, Role, UserConfig};
use reqwest::Method;
use serde_json::{Value, json};

/// An app with a sysadmin `ci` holding the personal access token `ci-pat`.
fn with_pat(name: &str, product: Product) -> AppConfig {
    let mut c = cfg(name, product);
    c.users.push(UserConfig {
        username: "ci".into(),
        password: "ci".into(),
        role: Role::Sysadmin,
        tokens: vec!["ci-pat".into()],
    });
    c
}

fn bearer(env: &Env, method: Method, app: &str, path: &str) -> reqwest::RequestBuilder {
    env.req(method, app, path)
        .bearer_auth("ci-pat")
        .header("Accept", "application/json")
        .header("X-Atlassian-Token", "no-check")
}

async fn log_entries(env: &Env, app: &str) -> Vec<Value> {
    let (_, log) = json(env.control(Method::GET, app, "/log").send().await.unwrap()).await;
    log["entries"].as_array().unwrap().clone()
}

async fn patch_settings(env: &Env, app: &str, v: Value) -> Value {
    let (code, s) = json(
        env.control(Method::PATCH, app, "/settings")
            .json(&v)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 200, "{s}");
    s
}

const LIST: &str = "/rest/applinks/1.0/applicationlink";
const WEBSUDO_XML: &str = "<status><status-code>401</status-code><message>This resource requires WebSudo.</message></status>";

#[tokio::test]
async fn profiles_report_per_product_versions_and_defaults() {
    let mut j9 = cfg("j9", Product::Jira);
    j9.version = Some("9.12.2".into());
    let mut j11 = cfg("j11", Product::Jira);
    j11.version = Some("11.1.0".into());
    let versioned = |name: &str, product, v: &str| {
        let mut c = cfg(name, product);
        c.version = Some(v.into());
        c
    };
    let env = start(vec![
        cfg("jira", Product::Jira),
        j9,
        j11,
        cfg("wiki", Product::Confluence),
        cfg("bb", Product::Bitbucket),
        cfg("bam", Product::Bamboo),
        cfg("fe", Product::Fisheye),
        versioned("j113", Product::Jira, "11.3.2"),
        versioned("wiki10", Product::Confluence, "10.2.1"),
        versioned("bb10", Product::Bitbucket, "10.1.1"),
        versioned("bam11", Product::Bamboo, "11.0.3"),
        versioned("bam12", Product::Bamboo, "12.0.1"),
    ])
    .await;
    for (app, version, applinks, basic, websudo, line) in [
        ("jira", "10.3.", "10.1.", true, true, "modern"),
        ("j9", "9.12.2", "9.", true, true, "legacy"),
        ("j11", "11.1.0", "11.", false, true, "modern"),
        ("j113", "11.3.2", "11.2.", false, true, "modern"),
        ("wiki10", "10.2.1", "11.2.", false, true, "modern"),
        ("bb10", "10.1.1", "11.2.", true, false, "modern"),
        ("bam11", "11.0.3", "11.0.", true, false, "modern"),
        ("bam12", "12.0.1", "11.2.", true, false, "modern"),
        ("wiki", "9.2.", "9.1.4", true, true, "modern"),
        ("bb", "9.4.", "10.", true, false, "modern"),
        ("bam", "10.", "10.", true, false, "modern"),
        ("fe", "4.8.", "7.", true, false, "legacy"),
    ] {
        let (_, m) = json(
            env.req(Method::GET, app, "/rest/applinks/1.0/manifest.json")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert!(
            m["version"].as_str().unwrap().starts_with(version),
            "{app}: {m}"
        );
        assert!(
            m["applinksVersion"].as_str().unwrap().starts_with(applinks),
            "{app}: {m}"
        );
        let (_, s) = json(
            env.control(Method::GET, app, "/settings")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(s["basic_auth"], basic, "{app}: {s}");
        assert_eq!(s["secure_admin_sessions"], websudo, "{app}: {s}");
        assert_eq!(s["rest_line"], line, "{app}: {s}");
        assert_eq!(
            s["rate_limit"],
            Value::Null,
            "{app}: rate limiting is off by default"
        );
        assert_eq!(s["allowlist_base"], "rest/whitelist/latest");
        let eol = if app == "j9" {
            json!("2026-06")
        } else {
            Value::Null
        };
        assert_eq!(s["end_of_life"], eol, "{app}");
    }
    let (_, s) = json(
        env.control(Method::GET, "jira", "/settings")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s["captcha_after_failures"], 3);
    // Unknown and start-time-only settings are refused.
    for bad in [json!({"bogus": 1}), json!({"allowlist_base": "x"})] {
        let r = env
            .control(Method::PATCH, "jira", "/settings")
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
    }
}

#[tokio::test]
async fn basic_authentication_blocked_answers_403_and_tokens_still_work() {
    let mut j11 = with_pat("j11", Product::Jira);
    j11.version = Some("11.0.0".into());
    let mut j10 = with_pat("j10", Product::Jira);
    j10.basic_auth = Some(false);
    let env = start(vec![j11, j10]).await;
    for app in ["j11", "j10"] {
        let (code, v) = json(
            env.admin(Method::GET, app, "/rest/applinks/3.0/applinks")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(code, 403, "{app}");
        assert_eq!(
            v["message"],
            "Basic Authentication has been disabled on this instance."
        );
        // Refused before the password is looked at: a wrong one is not a failed login.
        let r = env
            .req(Method::GET, app, "/rest/applinks/3.0/applinks")
            .basic_auth("admin", Some("wrong"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        let r = bearer(&env, Method::GET, app, "/rest/applinks/3.0/applinks")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{app}: a PAT is then the only way");
        let auths: Vec<String> = log_entries(&env, app)
            .await
            .iter()
            .map(|e| e["auth"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(auths, ["basic_disabled", "basic_disabled", "bearer"]);
    }
    let (_, c) = json(
        env.control(Method::GET, "j11", "/captcha")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(c["failures"], json!({}));
    patch_settings(&env, "j11", json!({"basic_auth": true})).await;
    let r = env
        .admin(Method::GET, "j11", "/rest/applinks/3.0/applinks")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn captcha_locks_out_the_user_until_lifted_through_the_control_api() {
    let mut fast = cfg("fast", Product::Jira);
    fast.captcha_after_failures = Some(1);
    let mut never = cfg("never", Product::Jira);
    never.captcha_after_failures = Some(0);
    let env = start(vec![cfg("jira", Product::Jira), fast, never]).await;
    let path = "/rest/applinks/1.0/authenticationinfo";
    let login = |app: &'static str, password: &'static str| {
        env.req(Method::GET, app, path)
            .basic_auth("admin", Some(password))
            .send()
    };
    // A success resets the count.
    for p in ["bad", "bad", "admin", "bad", "bad"] {
        login("jira", p).await.unwrap();
    }
    assert_eq!(login("jira", "admin").await.unwrap().status(), 200);
    for _ in 0..3 {
        assert_eq!(login("jira", "bad").await.unwrap().status(), 401);
    }
    // The right password no longer helps.
    let r = login("jira", "admin").await.unwrap();
    assert_eq!(r.status(), 403);
    let base = env.app("jira").base_url.clone();
    assert_eq!(
        r.headers()["x-authentication-denied-reason"],
        format!("CAPTCHA_CHALLENGE; login-url={base}/login.jsp").as_str()
    );
    // Other users are not affected.
    let r = env
        .req(Method::GET, "jira", path)
        .basic_auth("user", Some("user"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "user is no admin, but authenticated");
    let auths: Vec<String> = log_entries(&env, "jira")
        .await
        .iter()
        .map(|e| e["auth"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        &auths[auths.len() - 5..],
        ["rejected", "rejected", "rejected", "captcha", "basic"]
    );
    let (_, c) = json(
        env.control(Method::GET, "jira", "/captcha")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(c["locked"], json!(["admin"]));
    assert_eq!(c["failures"]["admin"], 3);
    // A person answers the CAPTCHA in a browser.
    let r = env
        .control(Method::DELETE, "jira", "/captcha/admin")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(login("jira", "admin").await.unwrap().status(), 200);

    assert_eq!(login("fast", "bad").await.unwrap().status(), 401);
    assert_eq!(login("fast", "admin").await.unwrap().status(), 403);
    for _ in 0..5 {
        login("never", "bad").await.unwrap();
    }
    assert_eq!(login("never", "admin").await.unwrap().status(), 200);
    // Confluence names its own login page.
    let mut wiki = cfg("wiki", Product::Confluence);
    wiki.captcha_after_failures = Some(1);
    let env2 = start(vec![wiki]).await;
    env2.req(Method::GET, "wiki", path)
        .basic_auth("admin", Some("bad"))
        .send()
        .await
        .unwrap();
    let r = env2
        .req(Method::GET, "wiki", path)
        .basic_auth("admin", Some("admin"))
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["x-authentication-denied-reason"]
            .to_str()
            .unwrap()
            .ends_with("/login.action")
    );
}

#[tokio::test]
async fn rate_limit_is_a_token_bucket_per_user_with_jira_headers() {
    let mut jira = with_pat("jira", Product::Jira);
    jira.rate_limit = Some(RateLimit {
        enabled: true,
        fill_rate: 1,
        interval_secs: 3600,
        max: 2,
        exempt: vec!["ci".into()],
    });
    let env = start(vec![jira, cfg("plain", Product::Jira)]).await;
    // Jira never limits its applinks REST.
    for _ in 0..3 {
        let r = env
            .admin(Method::GET, "jira", "/rest/applinks/3.0/applinks")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers().get("x-ratelimit-limit").is_none());
    }
    let path = "/rest/whitelist/latest/check?url=http://x.test";
    for remaining in ["1", "0"] {
        let r = env.admin(Method::GET, "jira", path).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let h = r.headers();
        assert_eq!(h["x-ratelimit-limit"], "2");
        assert_eq!(h["x-ratelimit-remaining"], remaining);
        assert_eq!(h["x-ratelimit-interval-seconds"], "3600");
        assert_eq!(h["x-ratelimit-fillrate"], "1");
    }
    let r = env.admin(Method::GET, "jira", path).send().await.unwrap();
    assert_eq!(r.status(), 429);
    let (_, v) = json(env.admin(Method::GET, "jira", path).send().await.unwrap()).await;
    assert_eq!(v["message"], "Rate limit exceeded. Try again later.");
    // Without JSON in Accept, the container's error page.
    let page = env
        .req(Method::GET, "jira", path)
        .basic_auth("admin", Some("admin"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 429);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let r = env.admin(Method::GET, "jira", path).send().await.unwrap();
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((3500..=3600).contains(&retry), "{retry}");
    assert_eq!(r.headers()["x-ratelimit-remaining"], "0");
    assert_eq!(
        log_entries(&env, "jira").await.last().unwrap()["auth"],
        "rate_limited"
    );
    // Per user; exempt users and anonymous resources are not counted.
    let r = env
        .req(Method::GET, "jira", path)
        .basic_auth("user", Some("user"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-ratelimit-remaining"], "1");
    for _ in 0..3 {
        let r = bearer(&env, Method::GET, "jira", path)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers().get("x-ratelimit-limit").is_none());
    }
    // Anonymous callers share one bucket, and get no headers until refused.
    for _ in 0..2 {
        let r = env.req(Method::GET, "jira", path).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers().get("x-ratelimit-limit").is_none());
    }
    let r = env.req(Method::GET, "jira", path).send().await.unwrap();
    assert_eq!(r.status(), 429, "anonymous callers are limited too");
    // A browser's session request (two UI signs) is not limited.
    let r = env
        .req(Method::GET, "jira", path)
        .header("Referer", env.url("jira", "/secure/Dashboard.jspa"))
        .header("Cookie", "JSESSIONID=abc")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Off by default; switched at runtime (which refills the buckets).
    let r = env.admin(Method::GET, "plain", path).send().await.unwrap();
    assert!(r.headers().get("x-ratelimit-limit").is_none());
    let s = patch_settings(&env, "jira", json!({"rate_limit": null})).await;
    assert_eq!(s["rate_limit"], Value::Null);
    assert_eq!(
        env.admin(Method::GET, "jira", path)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    patch_settings(
        &env,
        "plain",
        json!({"rate_limit": {"fill_rate": 5, "interval_secs": 60, "max": 1}}),
    )
    .await;
    assert_eq!(
        env.admin(Method::GET, "plain", path)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        env.admin(Method::GET, "plain", path)
            .send()
            .await
            .unwrap()
            .status(),
        429
    );
}

#[tokio::test]
async fn websudo_guards_classic_links_and_the_allowlist_against_tokens() {
    let env = start(vec![with_pat("jira", Product::Jira)]).await;
    let id = uuid::Uuid::new_v4();
    let body =
        json!({"id": id, "name": "Wiki", "typeId": "confluence", "rpcUrl": "http://wiki.test"});
    let guarded: Vec<(Method, String)> = vec![
        (Method::GET, LIST.into()),
        (Method::PUT, "/rest/applinks/2.0/applicationlink".into()),
        (Method::GET, format!("{LIST}/{id}")),
        (Method::POST, format!("{LIST}/primary/{id}")),
        (Method::GET, "/rest/whitelist/latest".into()),
        (Method::POST, "/rest/whitelist/1.0/disable".into()),
    ];
    for (m, p) in &guarded {
        let (code, v) = json(
            bearer(&env, m.clone(), "jira", p)
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(code, 401, "{m} {p}");
        assert_eq!(
            v,
            json!({"status-code": 401, "message": "This resource requires WebSudo."}),
            "{m} {p}"
        );
    }
    // XML unless JSON is asked for.
    let (code, xml) = text(
        env.req(Method::GET, "jira", LIST)
            .bearer_auth("ci-pat")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 401);
    assert!(xml.ends_with(WEBSUDO_XML), "{xml}");
    assert!(
        log_entries(&env, "jira")
            .await
            .iter()
            .all(|e| e["auth"] == "websudo")
    );
    // Basic always bypasses; the create then works.
    let r = env
        .admin(Method::PUT, "jira", "/rest/applinks/2.0/applicationlink")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // Not guarded: V3 applinks, status, authenticationinfo, allowlist check, classic DELETE.
    for (m, p, want) in [
        (Method::GET, "/rest/applinks/3.0/applinks".to_string(), 200),
        (
            Method::GET,
            format!("/rest/applinks/3.0/applinks/{id}"),
            200,
        ),
        (
            Method::GET,
            format!("/rest/applinks/3.0/status/{id}/oauth"),
            200,
        ),
        (
            Method::GET,
            "/rest/applinks/1.0/authenticationinfo".into(),
            401,
        ),
        (
            Method::GET,
            "/rest/whitelist/latest/check?url=http%3A%2F%2Fx".into(),
            200,
        ),
        (Method::DELETE, format!("{LIST}/{id}"), 200),
    ] {
        let r = bearer(&env, m.clone(), "jira", &p).send().await.unwrap();
        assert_eq!(r.status(), want, "{m} {p}");
    }
}

#[tokio::test]
async fn bearer_bypasses_websudo_only_with_a_pats_session_on_newer_lines() {
    let mut legacy = with_pat("legacy", Product::Jira);
    legacy.rest_line = Some(RestLine::Legacy);
    let env = start(vec![with_pat("jira", Product::Jira), legacy]).await;
    // A PAT login creates a session that the filter invalidates when the request ends: sending
    // its cookie back gives no session, hence no bypass.
    let r = bearer(&env, Method::GET, "jira", LIST)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("JSESSIONID="), "{cookie}");
    let jsession = cookie.split(';').next().unwrap().to_string();
    let r = bearer(&env, Method::GET, "jira", LIST)
        .header("Cookie", &jsession)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    for (app, want) in [("jira", 200), ("legacy", 401)] {
        let (code, s) = json(
            env.control(Method::POST, app, "/sessions")
                .json(&json!({"username": "ci", "attributes": ["is.pats.enabled"]}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(code, 201, "{s}");
        let r = bearer(&env, Method::GET, app, LIST)
            .header("Cookie", s["cookie"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), want, "{app}");
    }
    // A session in which the user passed the WebSudo prompt is let through, cookie only.
    let (_, s) = json(
        env.control(Method::POST, "legacy", "/sessions")
            .json(&json!({"username": "admin", "attributes": ["websudo"]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let r = env
        .req(Method::GET, "legacy", LIST)
        .header("Cookie", s["cookie"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        log_entries(&env, "legacy").await.last().unwrap()["auth"],
        "session"
    );
    let r = env
        .control(Method::POST, "jira", "/sessions")
        .json(&json!({"username": "nobody"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn websudo_per_product_and_switchable() {
    let mut off = with_pat("off", Product::Jira);
    off.secure_admin_sessions = Some(false);
    let env = start(vec![
        with_pat("jira", Product::Jira),
        with_pat("wiki", Product::Confluence),
        with_pat("bb", Product::Bitbucket),
        off,
    ])
    .await;
    // Confluence exempts access-token requests; Bitbucket has no WebSudo.
    for (app, want) in [("jira", 401), ("wiki", 200), ("bb", 200), ("off", 200)] {
        let r = bearer(&env, Method::GET, app, LIST).send().await.unwrap();
        assert_eq!(r.status(), want, "{app}");
    }
    patch_settings(&env, "jira", json!({"secure_admin_sessions": false})).await;
    let r = bearer(&env, Method::GET, "jira", LIST)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = env
        .control(Method::POST, "jira", "/reset")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = bearer(&env, Method::GET, "jira", LIST)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "reset restores the profile's settings");
    // Anonymous callers get the WebSudo refusal before the admin check.
    let r = env
        .req(Method::GET, "jira", LIST)
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    let (code, v) = json(r).await;
    assert_eq!(
        (code, v["message"].clone()),
        (401, json!("This resource requires WebSudo."))
    );
}

#[tokio::test]
async fn xsrf_guards_form_like_posts_and_browser_posts_from_foreign_origins() {
    let mut old = cfg("old", Product::Jira);
    old.version = Some("9.12.2".into());
    let env = start(vec![cfg("jira", Product::Jira), old]).await;
    let id = uuid::Uuid::new_v4();
    let del = format!("{LIST}/{id}");
    let primary = format!("{LIST}/primary/{id}");
    let no_header = |app: &str, m: Method, p: &str| {
        env.req(m, app, p)
            .basic_auth("admin", Some("admin"))
            .header("Accept", "application/json")
    };
    for app in ["jira", "old"] {
        // A body-less POST without the header is refused, with the filter's bare text.
        let r = no_header(app, Method::POST, &primary).send().await.unwrap();
        assert_eq!(
            r.headers()["content-type"],
            "text/plain;charset=UTF-8",
            "{app}"
        );
        assert_eq!(
            text(r).await,
            (403, "XSRF check failed".to_string()),
            "{app}"
        );
        // A JSON POST, a JSON PUT, a body-less DELETE pass without it (on every line).
        let r = no_header(app, Method::POST, &primary)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{app}: a JSON POST is not XSRF-checked");
        let link = json!({"id": id, "name": format!("W {app}"), "typeId": "confluence",
            "rpcUrl": format!("http://w-{app}.test")});
        let r = no_header(app, Method::PUT, "/rest/applinks/2.0/applicationlink")
            .json(&link)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{app}");
        let r = no_header(app, Method::DELETE, &del).send().await.unwrap();
        assert_eq!(r.status(), 200, "{app}: other methods are only logged");
    }
    // A browser's POST from a foreign origin is refused even with the token; from the
    // application's own origin it passes.
    let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                  Chrome/131.0 Safari/537.36";
    let browser = |origin: &str| {
        no_header("jira", Method::POST, &primary)
            .header("User-Agent", chrome)
            .header("X-Atlassian-Token", "no-check")
            .header("Origin", origin)
            .json(&json!({}))
    };
    let r = browser("https://evil.test").send().await.unwrap();
    assert_eq!(text(r).await, (403, "XSRF check failed".to_string()));
    let own = env.url("jira", "");
    let r = browser(own.trim_end_matches('/')).send().await.unwrap();
    assert_eq!(r.status(), 404, "same origin: on to the resource");
    // The same browser's PUT from a foreign origin is only logged.
    let r = no_header("jira", Method::PUT, "/rest/applinks/2.0/applicationlink")
        .header("User-Agent", chrome)
        .header("Origin", "https://evil.test")
        .json(
            &json!({"id": uuid::Uuid::new_v4(), "name": "B", "typeId": "confluence",
            "rpcUrl": "http://b.test"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}

#[tokio::test]
async fn captcha_can_serve_the_locked_user_as_anonymous_instead() {
    let mut jira = cfg("jira", Product::Jira);
    jira.captcha_after_failures = Some(1);
    jira.captcha_mode = Some(applink_sim::CaptchaMode::Anonymous);
    let env = start(vec![jira]).await;
    let get = |p: &'static str| {
        env.req(Method::GET, "jira", "/rest/applinks/1.0/manifest")
            .basic_auth("admin", Some(p))
            .send()
    };
    assert_eq!(get("bad").await.unwrap().status(), 401);
    let r = get("admin").await.unwrap();
    assert_eq!(r.status(), 200, "an anonymous resource still answers");
    assert_eq!(r.headers()["x-seraph-loginreason"], "AUTHENTICATION_DENIED");
    let r = env
        .req(Method::GET, "jira", "/rest/applinks/1.0/authenticationinfo")
        .basic_auth("admin", Some("admin"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "served as anonymous");
    assert_eq!(
        log_entries(&env, "jira").await.last().unwrap()["auth"],
        "captcha"
    );
}

#[tokio::test]
async fn an_admin_blocks_basic_through_the_basicauth_config_with_allowlists() {
    let env = start(vec![with_pat("jira", Product::Jira)]).await;
    let cfg_path = "/rest/basicauth/1.0/config";
    let (code, v) = json(
        env.admin(Method::GET, "jira", cfg_path)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(v["block-requests"], false);
    let r = bearer(&env, Method::PUT, "jira", cfg_path)
        .json(&json!({"block-requests": true, "allowed-users": ["user"],
                      "allowed-paths": ["rest/applinks/1.0/manifest/"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204, "the PUT answers no content");
    let (_, v) = json(
        bearer(&env, Method::GET, "jira", cfg_path)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        v,
        json!({"block-requests": true, "allowed-users": ["user"],
               "allowed-paths": ["/rest/applinks/1.0/manifest"], "show-warning-message": true}),
        "paths are stored normalised"
    );
    // A PUT of one field keeps the others.
    let r = bearer(&env, Method::PUT, "jira", cfg_path)
        .json(&json!({"show-warning-message": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let info = "/rest/applinks/1.0/authenticationinfo";
    let r = env.admin(Method::GET, "jira", info).send().await.unwrap();
    assert_eq!(r.status(), 403);
    // The refusal follows Accept: XML, text, and JSON by default.
    let r = env
        .req(Method::GET, "jira", info)
        .basic_auth("admin", Some("admin"))
        .header("Accept", "application/xml")
        .send()
        .await
        .unwrap();
    let (code, body) = text(r).await;
    assert_eq!(code, 403);
    assert!(
        body.contains("<warning>") && body.contains("Basic Authentication has been disabled"),
        "{body}"
    );
    let r = env
        .req(Method::GET, "jira", info)
        .basic_auth("admin", Some("admin"))
        .header("Accept", "text/plain")
        .send()
        .await
        .unwrap();
    assert_eq!(
        text(r).await,
        (
            403,
            "Basic Authentication has been disabled on this instance.".to_string()
        )
    );
    // An allowed path matches exactly, not as a prefix.
    let r = env
        .admin(Method::GET, "jira", "/rest/applinks/1.0/manifest/x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "not a prefix");
    // Allowed user, allowed path.
    let r = env
        .req(Method::GET, "jira", info)
        .basic_auth("user", Some("user"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        401,
        "user passes the block, then fails the admin check"
    );
    let r = env
        .admin(Method::GET, "jira", "/rest/applinks/1.0/manifest")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Sysadmins only.
    let r = env
        .req(Method::GET, "jira", cfg_path)
        .basic_auth("user", Some("user"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let (_, s) = json(
        env.control(Method::GET, "jira", "/settings")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s["basic_auth"], false);
    assert_eq!(s["basic_auth_allowed_users"], json!(["user"]));
}
