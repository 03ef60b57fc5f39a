//! The OAuth 2.0 provider (docs/simulator.md#oauth-20-provider): client CRUD and who may call it,
//! validation, version gating, the authorization-code flow through the consent page, PKCE,
//! the token endpoint's refusals, refresh rotation, bearer tokens and their scopes.

use crate::common::{Env, cfg, form_body, form_value, json, set_cookie, start, text};
use applink_sim::config::OAuth2Settings;
use applink_sim::wire::oauth2::s256;
use applink_sim::{AppConfig, Product, Role, UserConfig};
use reqwest::Method;
use serde_json::{Value, json};

const REDIRECT: &str = "http://localhost:8765/callback";
const VERIFIER: &str = "M25iVXpKU3puUjFaYWg3T1NDTDQtcW1ROUY5YXlwalNoc0hhakxifmZHag";

/// An app whose consent page works on http (the product's HTTPS requirement skipped), with a
/// plain admin `adm` and a sysadmin `ci` holding the PAT `ci-pat`.
fn app(name: &str, product: Product) -> AppConfig {
    let mut c = cfg(name, product);
    c.oauth2 = Some(OAuth2Settings {
        skip_base_url_https: true,
        ..Default::default()
    });
    c.users.push(UserConfig {
        username: "adm".into(),
        password: "adm".into(),
        role: Role::Admin,
        tokens: vec![],
    });
    c.users.push(UserConfig {
        username: "ci".into(),
        password: "ci".into(),
        role: Role::Sysadmin,
        tokens: vec!["ci-pat".into()],
    });
    c
}

fn versioned(name: &str, product: Product, version: &str) -> AppConfig {
    let mut c = app(name, product);
    c.version = Some(version.into());
    c
}

async fn create(env: &Env, app: &str, body: Value) -> (u16, Value) {
    json(
        env.admin(Method::POST, app, "/rest/oauth2/latest/client")
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// A client the tests use: name, the localhost redirect, scope.
async fn client(env: &Env, app: &str, name: &str, scope: &str) -> Value {
    let (code, c) = create(
        env,
        app,
        json!({"name": name, "redirects": [REDIRECT], "scope": scope}),
    )
    .await;
    assert_eq!(code, 200, "{c}");
    c
}

fn query_param(url: &str, k: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.to_string())
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_string()
}

fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    html.split("<input type=\"hidden\" name=\"")
        .skip(1)
        .filter_map(|chunk| {
            let name = chunk.split('"').next()?.to_string();
            let value = form_value(
                &format!("name=\"{name}\"{}", &chunk[name.len() + 1..]),
                &name,
            )?;
            Some((name, value))
        })
        .collect()
}

/// The user's browser through `/authorize`, the consent page (logged in with Basic) and
/// "Allow". Returns the final 303's Location.
async fn consent(env: &Env, app: &str, user: (&str, &str), params: &[(&str, &str)]) -> String {
    let r = env
        .req(
            Method::GET,
            app,
            &format!("/rest/oauth2/latest/authorize?{}", form_body(params)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "authorize without consent");
    let consent_url = location(&r);
    assert!(
        consent_url.starts_with(&env.url(app, "/plugins/servlet/oauth2/consent?")),
        "{consent_url}"
    );
    let r = env
        .http
        .get(&consent_url)
        .basic_auth(user.0, Some(user.1))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "consent page");
    let cookie = set_cookie(&r, "JSESSIONID").expect("a session for the consent");
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"approve\""), "{html}");
    let fields = hidden_inputs(&html);
    assert!(fields.iter().any(|(k, _)| k == "atl_token"), "{html}");
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = env
        .req(
            Method::GET,
            app,
            &format!("/rest/oauth2/latest/authorize?{}", form_body(&pairs)),
        )
        .header("Referer", &consent_url)
        .header("Cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "approval");
    location(&r)
}

fn auth_params<'a>(
    client_id: &'a str,
    scope: &'a str,
    challenge: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("scope", scope),
        ("state", "st-1"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ]
}

async fn token(env: &Env, app: &str, form: &[(&str, &str)]) -> (u16, Value) {
    json(
        env.req(Method::POST, app, "/rest/oauth2/latest/token")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form_body(form))
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// A code for `admin` (S256 challenge of `VERIFIER`).
async fn code_for(env: &Env, app: &str, c: &Value, scope: &str) -> String {
    let challenge = s256(VERIFIER);
    let loc = consent(
        env,
        app,
        ("admin", "admin"),
        &auth_params(c["clientId"].as_str().unwrap(), scope, &challenge),
    )
    .await;
    assert!(loc.starts_with(REDIRECT), "{loc}");
    assert_eq!(query_param(&loc, "state").as_deref(), Some("st-1"));
    query_param(&loc, "code").expect("code")
}

async fn exchange(env: &Env, app: &str, c: &Value, code: &str) -> (u16, Value) {
    token(
        env,
        app,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("client_id", c["clientId"].as_str().unwrap()),
            ("client_secret", c["clientSecret"].as_str().unwrap()),
            ("code_verifier", VERIFIER),
        ],
    )
    .await
}

/// Client, consent and exchange: the token response.
async fn tokens(env: &Env, app: &str, c: &Value, scope: &str) -> Value {
    let code = code_for(env, app, c, scope).await;
    let (status, t) = exchange(env, app, c, &code).await;
    assert_eq!(status, 200, "{t}");
    t
}

async fn with_bearer(
    env: &Env,
    method: Method,
    app: &str,
    path: &str,
    access: &str,
) -> reqwest::Response {
    env.req(method, app, path)
        .bearer_auth(access)
        .header("Accept", "application/json")
        .header("X-Atlassian-Token", "no-check")
        .send()
        .await
        .unwrap()
}

async fn log_entries(env: &Env, app: &str) -> Vec<Value> {
    let (_, log) = json(env.control(Method::GET, app, "/log").send().await.unwrap()).await;
    log["entries"].as_array().unwrap().clone()
}

#[tokio::test]
async fn client_crud_with_generated_credentials() {
    let env = start(vec![app("jira", Product::Jira)]).await;
    let (code, c) = create(
        &env,
        "jira",
        json!({"name": " Che ", "redirects": ["https://b.tool.io/cb", "https://a.tool.io/cb",
               "https://b.tool.io/cb", " "], "scope": "WRITE READ",
               "clientId": "mine", "clientSecret": "mine"}),
    )
    .await;
    assert_eq!(code, 200, "{c}");
    assert!(uuid::Uuid::parse_str(c["id"].as_str().unwrap()).is_ok());
    let hex = |v: &Value, n: usize| {
        let s = v.as_str().unwrap();
        s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit())
    };
    assert!(hex(&c["clientId"], 32), "{c}");
    assert!(hex(&c["clientSecret"], 64), "{c}");
    assert_eq!(c["name"], "Che", "trimmed");
    assert_eq!(
        c["redirects"],
        json!(["https://a.tool.io/cb", "https://b.tool.io/cb"]),
        "sorted, without blanks and duplicates"
    );
    assert_eq!(
        c["scope"], "READ WRITE",
        "a composite scope's names, sorted"
    );
    assert_eq!(
        c["userKey"], "JIRAUSER10000",
        "the creating admin's user key"
    );
    let id = c["id"].as_str().unwrap().to_string();

    let (code, list) = json(
        env.admin(Method::GET, "jira", "/rest/oauth2/latest/client")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(list, json!([c]), "the list includes the secret");
    let (code, one) = json(
        env.admin(
            Method::GET,
            "jira",
            &format!("/rest/oauth2/1.0/client/{id}"),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!((code, &one), (200, &c), "also under 1.0");

    // PUT merges: only the name changes.
    let r = env
        .admin(
            Method::PUT,
            "jira",
            &format!("/rest/oauth2/latest/client/{id}"),
        )
        .json(&json!({"name": "Che 2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (_, one) = json(
        env.admin(
            Method::GET,
            "jira",
            &format!("/rest/oauth2/latest/client/{id}"),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(one["name"], "Che 2");
    assert_eq!(one["redirects"], c["redirects"]);
    assert_eq!(one["scope"], c["scope"]);
    assert_eq!(one["clientSecret"], c["clientSecret"]);

    // Reset by client id: a new secret, returned.
    let client_id = c["clientId"].as_str().unwrap();
    let (code, reset) = json(
        env.admin(
            Method::PUT,
            "jira",
            &format!("/rest/oauth2/latest/client/reset/{client_id}"),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(code, 200, "{reset}");
    assert_eq!(reset["clientId"], c["clientId"]);
    assert!(hex(&reset["clientSecret"], 64));
    assert_ne!(reset["clientSecret"], c["clientSecret"]);
    let (code, _) = json(
        env.admin(Method::PUT, "jira", "/rest/oauth2/latest/client/reset/nope")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 404);

    let (code, gone) = json(
        env.admin(
            Method::DELETE,
            "jira",
            &format!("/rest/oauth2/latest/client/{id}"),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(gone["id"], c["id"]);
    let (code, v) = json(
        env.admin(
            Method::GET,
            "jira",
            &format!("/rest/oauth2/latest/client/{id}"),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(code, 404);
    assert!(
        v["errors"][0]
            .as_str()
            .unwrap()
            .contains("oauth2.rest.error.client.does.not.exist"),
        "{v}"
    );
}

#[tokio::test]
async fn only_system_administrators_and_no_websudo() {
    let env = start(vec![app("jira", Product::Jira)]).await;
    let path = "/rest/oauth2/latest/client";
    for (user, pass) in [("adm", "adm"), ("user", "user")] {
        let (code, v) = json(
            env.req(Method::GET, "jira", path)
                .basic_auth(user, Some(pass))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(code, 401, "{user}: {v}");
        assert!(
            v["errors"][0]
                .as_str()
                .unwrap()
                .contains("oauth2.rest.error.unauthorized")
        );
        assert_eq!(v["fieldErrors"], json!({}));
    }
    let (code, _) = json(env.req(Method::GET, "jira", path).send().await.unwrap()).await;
    assert_eq!(code, 401, "anonymous");
    // A sysadmin's PAT on Jira with secure administrator sessions on: not WebSudo-guarded.
    assert!(env.app("jira").settings().secure_admin_sessions);
    let r = env
        .req(Method::POST, "jira", path)
        .bearer_auth("ci-pat")
        .header("X-Atlassian-Token", "no-check")
        .json(&json!({"name": "pat", "redirects": [REDIRECT], "scope": "READ"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A form-like POST without the XSRF header is refused...
    let r = env
        .req(Method::POST, "jira", path)
        .basic_auth("admin", Some("admin"))
        .header("Content-Type", "text/plain")
        .body(json!({"name": "x", "redirects": [REDIRECT], "scope": "READ"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // ...but the token endpoint is excluded from the XSRF check.
    let (code, v) = token(&env, "jira", &[("grant_type", "authorization_code")]).await;
    assert_eq!(code, 400);
    assert_eq!(v["error"], "invalid_request");
    let entries = log_entries(&env, "jira").await;
    let refused = entries
        .iter()
        .find(|e| e["status"] == 401 && e["auth"] == "basic")
        .unwrap();
    assert!(
        refused["reason"]
            .as_str()
            .unwrap()
            .contains("oauth2.rest.error.unauthorized")
    );
}

#[tokio::test]
async fn validation_codes_and_bodies() {
    let env = start(vec![app("jira", Product::Jira), {
        let mut c = app("wiki", Product::Confluence);
        c.oauth2.as_mut().unwrap().skip_redirect_https = true;
        c
    }])
    .await;
    client(&env, "jira", "Taken", "READ").await;
    let field = |v: &Value, f: &str| v["fieldErrors"][f][0].as_str().unwrap_or("").to_string();
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"name": "Taken", "redirects": [REDIRECT], "scope": "READ"}),
            "name",
            "name.field.unique",
        ),
        (
            json!({"name": " ", "redirects": [REDIRECT], "scope": "READ"}),
            "name",
            "field.required",
        ),
        (
            json!({"name": "n".repeat(256), "redirects": [REDIRECT], "scope": "READ"}),
            "name",
            "field.too.long",
        ),
        (
            json!({"name": "a", "redirects": ["http://tool.io/cb"], "scope": "READ"}),
            "redirects",
            "invalid.scheme",
        ),
        (
            json!({"name": "a", "redirects": ["http://127.0.0.1/cb"], "scope": "READ"}),
            "redirects",
            "invalid.scheme",
        ),
        (
            json!({"name": "a", "redirects": ["https://tool.io/cb#frag"], "scope": "READ"}),
            "redirects",
            "fragment.present",
        ),
        (
            json!({"name": "a", "redirects": ["/cb"], "scope": "READ"}),
            "redirects",
            "not.absolute",
        ),
        (
            json!({"name": "a", "redirects": ["https://tool.io/a b"], "scope": "READ"}),
            "redirects",
            "invalid.uri",
        ),
        (
            json!({"name": "a", "redirects": [format!("https://tool.io/{}", "x".repeat(440))], "scope": "READ"}),
            "redirects",
            "too.long",
        ),
        (
            json!({"name": "a", "redirects": [], "scope": "READ"}),
            "redirects",
            "field.required",
        ),
        (
            json!({"name": "a", "redirects": [REDIRECT], "scope": "REPO_READ"}),
            "scope",
            "scope.not.valid",
        ),
        (
            json!({"name": "a", "redirects": [REDIRECT], "scope": ""}),
            "scope",
            "scope.not.valid",
        ),
        (
            json!({"name": "a", "redirects": [REDIRECT], "scope": "read"}),
            "scope",
            "scope.not.valid",
        ),
    ];
    for (body, f, key) in cases {
        let (code, v) = create(&env, "jira", body.clone()).await;
        assert_eq!(code, 400, "{body}: {v}");
        assert!(field(&v, f).contains(key), "{body}: {v}");
        assert_eq!(v["errors"], json!([]));
    }
    // Several problems at once, each under its field.
    let (code, v) = create(
        &env,
        "jira",
        json!({"name": "", "redirects": ["/x"], "scope": "NOPE"}),
    )
    .await;
    assert_eq!(code, 400);
    assert_eq!(v["fieldErrors"].as_object().unwrap().len(), 3, "{v}");
    // A missing name fails in the uniqueness check: 500.
    let (code, v) = create(
        &env,
        "jira",
        json!({"redirects": [REDIRECT], "scope": "READ"}),
    )
    .await;
    assert_eq!(code, 500, "{v}");
    // Unknown fields and non-JSON bodies.
    let (code, _) = create(
        &env,
        "jira",
        json!({"name": "a", "redirects": [REDIRECT], "scope": "READ", "nope": 1}),
    )
    .await;
    assert_eq!(code, 400);
    let r = env
        .admin(Method::POST, "jira", "/rest/oauth2/latest/client")
        .header("Content-Type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    // Accepted: https anywhere, http on localhost, custom schemes; with the skip setting any http.
    for r in [
        "https://tool.io/cb",
        "http://LOCALHOST:1/cb",
        "com.example.app:/cb",
    ] {
        let (code, v) = create(
            &env,
            "jira",
            json!({"name": r, "redirects": [r], "scope": "ADMIN"}),
        )
        .await;
        assert_eq!(code, 200, "{r}: {v}");
    }
    let (code, v) = create(
        &env,
        "wiki",
        json!({"name": "ip", "redirects": ["http://127.0.0.1/cb"], "scope": "READ"}),
    )
    .await;
    assert_eq!(code, 200, "{v}");
    // An update is validated as a whole, excluding the client's own name.
    let c = client(&env, "jira", "Mine", "READ").await;
    let id = c["id"].as_str().unwrap();
    for (body, status) in [
        (json!({"name": "Mine", "scope": "WRITE"}), 204),
        (json!({"name": "Taken"}), 400),
        (json!({"redirects": ["http://tool.io/cb"]}), 400),
    ] {
        let r = env
            .admin(
                Method::PUT,
                "jira",
                &format!("/rest/oauth2/latest/client/{id}"),
            )
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{body}");
    }
    let r = env
        .admin(Method::PUT, "jira", "/rest/oauth2/latest/client/nope")
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn provider_exists_only_on_lines_that_bundle_it() {
    let env = start(vec![
        versioned("j821", Product::Jira, "8.21.1"),
        versioned("j822", Product::Jira, "8.22.0"),
        versioned("c716", Product::Confluence, "7.16.5"),
        versioned("c717", Product::Confluence, "7.17.0"),
        versioned("b719", Product::Bitbucket, "7.19.0"),
        app("bb", Product::Bitbucket),
        versioned("bam90", Product::Bamboo, "9.0.3"),
        app("bam", Product::Bamboo),
        versioned("bam11", Product::Bamboo, "11.1.0"),
        app("fe", Product::Fisheye),
    ])
    .await;
    let metadata = |app: &'static str| {
        let env = &env;
        async move {
            json(
                env.req(
                    Method::GET,
                    app,
                    "/rest/oauth2/latest/.well-known/oauth-authorization-server",
                )
                .send()
                .await
                .unwrap(),
            )
            .await
        }
    };
    for absent in ["j821", "c716", "b719", "bam90", "fe"] {
        let (code, _) = metadata(absent).await;
        assert_eq!(code, 404, "{absent}");
        let r = env
            .admin(Method::GET, absent, "/rest/oauth2/latest/client")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{absent}");
    }
    let (code, m) = metadata("j822").await;
    assert_eq!(code, 200);
    let base = env.app("j822").base_url.clone();
    assert_eq!(m["issuer"], base);
    assert_eq!(
        m["authorization_endpoint"],
        format!("{base}/rest/oauth2/latest/authorize")
    );
    assert_eq!(
        m["token_endpoint"],
        format!("{base}/rest/oauth2/latest/token")
    );
    assert_eq!(
        m["scopes_supported"],
        json!(["READ", "WRITE", "ADMIN", "SYSTEM_ADMIN"])
    );
    assert_eq!(
        m["token_endpoint_auth_methods_supported"],
        json!(["client_secret_post"])
    );
    assert_eq!(m["response_types_supported"], json!(["code"]));
    let (_, m) = metadata("c717").await;
    assert_eq!(m["scopes_supported"].as_array().unwrap().len(), 4);
    let (_, m) = metadata("bb").await;
    assert_eq!(
        m["scopes_supported"],
        json!([
            "PUBLIC_REPOS",
            "ACCOUNT_WRITE",
            "REPO_READ",
            "REPO_WRITE",
            "REPO_ADMIN",
            "PROJECT_ADMIN",
            "ADMIN_WRITE",
            "SYSTEM_ADMIN"
        ])
    );
    let (_, m) = metadata("bam").await;
    assert_eq!(m["scopes_supported"], json!(["READ", "TRIGGER", "USER"]));
    let (_, m) = metadata("bam11").await;
    assert_eq!(
        m["scopes_supported"],
        json!(["READ", "TRIGGER", "WRITE", "USER"])
    );
    // Each product's vocabulary is its own.
    let (code, _) = create(
        &env,
        "bb",
        json!({"name": "a", "redirects": [REDIRECT], "scope": "READ"}),
    )
    .await;
    assert_eq!(code, 400);
    let (code, _) = create(
        &env,
        "bb",
        json!({"name": "a", "redirects": [REDIRECT], "scope": "REPO_WRITE"}),
    )
    .await;
    assert_eq!(code, 200);
}

#[tokio::test]
async fn secret_shown_only_once_setting() {
    let env = start(vec![app("jira", Product::Jira)]).await;
    let (code, s) = json(
        env.control(Method::PATCH, "jira", "/settings")
            .json(&json!({"oauth2": {"secret_shown_once": true}}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 200, "{s}");
    assert_eq!(s["oauth2"]["secret_shown_once"], true);
    assert_eq!(
        s["oauth2"]["skip_base_url_https"], true,
        "other fields kept"
    );
    let c = client(&env, "jira", "Once", "READ").await;
    assert!(c["clientSecret"].is_string(), "shown at creation");
    let id = c["id"].as_str().unwrap();
    let (_, list) = json(
        env.admin(Method::GET, "jira", "/rest/oauth2/latest/client")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(list[0].get("clientSecret").is_none(), "{list}");
    let (_, one) = json(
        env.admin(
            Method::GET,
            "jira",
            &format!("/rest/oauth2/latest/client/{id}"),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert!(one.get("clientSecret").is_none());
    assert_eq!(one["clientId"], c["clientId"]);
    let (_, reset) = json(
        env.admin(
            Method::PUT,
            "jira",
            &format!(
                "/rest/oauth2/latest/client/reset/{}",
                c["clientId"].as_str().unwrap()
            ),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert!(reset["clientSecret"].is_string(), "shown by the reset");
    let (code, _) = json(
        env.control(Method::PATCH, "jira", "/settings")
            .json(&json!({"oauth2": {"nope": 1}}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 400);
}

#[tokio::test]
async fn authorization_code_flow_with_pkce_and_bearer_calls() {
    let env = start(vec![app("jira", Product::Jira)]).await;
    let c = client(&env, "jira", "Tool", "WRITE").await;
    let t = tokens(&env, "jira", &c, "WRITE").await;
    assert_eq!(t["token_type"], "bearer");
    assert_eq!(t["expires_in"], 3600);
    assert_eq!(t["scope"], "WRITE");
    let access = t["access_token"].as_str().unwrap();
    assert_eq!(access.split('.').count(), 3, "a JWT");
    let r = with_bearer(&env, Method::GET, "jira", "/rest/api/2/myself", access).await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers().get("set-cookie").is_none(),
        "no session for OAuth 2.0"
    );
    let (_, me) = json(r).await;
    assert_eq!(me["name"], "admin", "as the consenting user");
    // WRITE writes.
    let r = env
        .req(
            Method::PUT,
            "jira",
            "/rest/api/2/mypreferences?key=tool.theme",
        )
        .bearer_auth(access)
        .header("X-Atlassian-Token", "no-check")
        .header("Content-Type", "application/json")
        .body("\"dark\"")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (code, v) = json(
        with_bearer(
            &env,
            Method::GET,
            "jira",
            "/rest/api/2/mypreferences?key=tool.theme",
            access,
        )
        .await,
    )
    .await;
    assert_eq!((code, v), (200, json!("dark")));
    // The scope caps the user: a WRITE token of a sysadmin is no administrator.
    let r = with_bearer(
        &env,
        Method::GET,
        "jira",
        "/rest/oauth2/latest/client",
        access,
    )
    .await;
    assert_eq!(r.status(), 401);
    let entries = log_entries(&env, "jira").await;
    assert!(
        entries
            .iter()
            .any(|e| e["auth"] == "oauth2" && e["path"] == "/rest/api/2/myself")
    );
    // The Basic password can carry the token too.
    let r = env
        .req(Method::GET, "jira", "/rest/api/2/myself")
        .basic_auth("x", Some(access))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The control state counts tokens per client and never needed the token values.
    let (_, s) = json(
        env.control(Method::GET, "jira", "/oauth2")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s["clients"][0]["tokens"]["accessTokens"], 1);
    assert_eq!(s["codes"], 0, "the code is used up");
}

#[tokio::test]
async fn plain_pkce_and_no_pkce_work_and_mismatches_do_not() {
    let env = start(vec![app("jira", Product::Jira)]).await;
    let c = client(&env, "jira", "Tool", "READ").await;
    let cid = c["clientId"].as_str().unwrap();
    let secret = c["clientSecret"].as_str().unwrap();
    let redeem = |code: String, verifier: Option<&'static str>| {
        let env = &env;
        async move {
            let mut f = vec![
                ("grant_type", "authorization_code".to_string()),
                ("code", code),
                ("redirect_uri", REDIRECT.to_string()),
                ("client_id", cid.to_string()),
                ("client_secret", secret.to_string()),
            ];
            if let Some(v) = verifier {
                f.push(("code_verifier", v.to_string()));
            }
            let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            token(env, "jira", &f).await
        }
    };
    let base = |challenge: Option<(&'static str, &'static str)>| {
        let mut p = vec![
            ("response_type", "code"),
            ("client_id", cid),
            ("redirect_uri", REDIRECT),
            ("scope", "READ"),
        ];
        if let Some((m, ch)) = challenge {
            p.push(("code_challenge", ch));
            if !m.is_empty() {
                p.push(("code_challenge_method", m));
            }
        }
        p
    };
    // plain, and a challenge without a method (which means plain).
    for m in ["plain", ""] {
        let loc = consent(&env, "jira", ("admin", "admin"), &base(Some((m, VERIFIER)))).await;
        let (code, v) = redeem(query_param(&loc, "code").unwrap(), Some(VERIFIER)).await;
        assert_eq!(code, 200, "{m}: {v}");
    }
    // No PKCE at all is accepted.
    let loc = consent(&env, "jira", ("admin", "admin"), &base(None)).await;
    assert!(
        query_param(&loc, "state").is_none(),
        "no state asked, none given"
    );
    let (code, _) = redeem(query_param(&loc, "code").unwrap(), None).await;
    assert_eq!(code, 200);
    // S256 with the wrong verifier, a missing one, a malformed one.
    let challenge: &'static str = Box::leak(s256(VERIFIER).into_boxed_str());
    for (verifier, key) in [
        (Some("x".repeat(43)), "verifier.mismatch"),
        (None, "verifier.missing"),
        (Some("bad!".into()), "verifier.invalid"),
    ] {
        let loc = consent(
            &env,
            "jira",
            ("admin", "admin"),
            &base(Some(("S256", challenge))),
        )
        .await;
        let code = query_param(&loc, "code").unwrap();
        let v: Option<&'static str> = verifier.map(|v| &*Box::leak(v.into_boxed_str()));
        let (status, body) = redeem(code, v).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"], "invalid_grant");
        assert!(
            body["error_description"].as_str().unwrap().contains(key),
            "{body}"
        );
    }
}

#[tokio::test]
async fn authorize_refusals() {
    let env = start(vec![
        app("jira", Product::Jira),
        cfg("plain", Product::Jira),
    ])
    .await;
    let c = client(&env, "jira", "Tool", "WRITE").await;
    let cid = c["clientId"].as_str().unwrap();
    let get = |app: &'static str, q: String| {
        let env = &env;
        async move {
            env.req(
                Method::GET,
                app,
                &format!("/rest/oauth2/latest/authorize?{q}"),
            )
            .send()
            .await
            .unwrap()
        }
    };
    // A scope above the client's goes back to the redirect with invalid_scope.
    let r = get(
        "jira",
        form_body(&[
            ("response_type", "code"),
            ("client_id", cid),
            ("redirect_uri", REDIRECT),
            ("scope", "ADMIN"),
            ("state", "s"),
        ]),
    )
    .await;
    assert_eq!(r.status(), 303);
    let loc = location(&r);
    assert!(loc.starts_with(REDIRECT), "{loc}");
    assert_eq!(query_param(&loc, "error").as_deref(), Some("invalid_scope"));
    assert_eq!(query_param(&loc, "state").as_deref(), Some("s"));
    // Missing parameters go to the product's error page.
    let r = get(
        "jira",
        form_body(&[
            ("client_id", cid),
            ("redirect_uri", REDIRECT),
            ("scope", "READ"),
        ]),
    )
    .await;
    assert_eq!(r.status(), 303);
    let loc = location(&r);
    assert!(
        loc.starts_with(&env.url("jira", "/plugins/servlet/oauth2/error?")),
        "{loc}"
    );
    assert!(
        query_param(&loc, "errorDescription")
            .unwrap()
            .contains("response_type")
    );
    // The consent page: anonymous → login; http base URL → 400 unless skipped; a redirect that
    // is no URL → 412; an unknown client → 400.
    let consent_q = form_body(&[
        ("client_id", cid),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "READ"),
    ]);
    let r = env
        .req(
            Method::GET,
            "jira",
            &format!("/plugins/servlet/oauth2/consent?{consent_q}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert!(location(&r).contains("/login.jsp?os_destination="));
    let r = env
        .req(
            Method::GET,
            "plain",
            &format!("/plugins/servlet/oauth2/consent?{consent_q}"),
        )
        .basic_auth("admin", Some("admin"))
        .send()
        .await
        .unwrap();
    let (code, body) = text(r).await;
    assert_eq!(code, 400);
    assert!(body.contains("oauth2.rest.error.no.https.warning.message"));
    let r = env
        .req(
            Method::GET,
            "plain",
            &format!("/plugins/servlet/oauth2/consent?{consent_q}"),
        )
        .basic_auth("admin", Some("admin"))
        .header("X-Forwarded-Proto", "https")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "the base URL itself is http");
    let bad = form_body(&[
        ("client_id", cid),
        ("redirect_uri", "com.example.app:/cb"),
        ("response_type", "code"),
        ("scope", "READ"),
    ]);
    let r = env
        .req(
            Method::GET,
            "jira",
            &format!("/plugins/servlet/oauth2/consent?{bad}"),
        )
        .basic_auth("admin", Some("admin"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 412);
    let unknown = form_body(&[
        ("client_id", "nope"),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "READ"),
    ]);
    let r = env
        .req(
            Method::GET,
            "jira",
            &format!("/plugins/servlet/oauth2/consent?{unknown}"),
        )
        .basic_auth("admin", Some("admin"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // The approval with a redirect the client did not register, or without the consent's
    // session or XSRF token, ends on the error page.
    let consent_url = env.url("jira", "/plugins/servlet/oauth2/consent");
    let r = env
        .req(
            Method::GET,
            "jira",
            &format!("/rest/oauth2/latest/authorize?{consent_q}&atl_token=x"),
        )
        .header("Referer", &consent_url)
        .basic_auth("admin", Some("admin"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(
        location(&r).contains("oauth2.xsrf.invalid.session"),
        "{}",
        location(&r)
    );
    let other = form_body(&[
        ("response_type", "code"),
        ("client_id", cid),
        ("redirect_uri", "http://localhost:1/other"),
        ("scope", "READ"),
    ]);
    let r = get("jira", other).await;
    let page = env
        .http
        .get(location(&r))
        .basic_auth("admin", Some("admin"))
        .send()
        .await
        .unwrap();
    let cookie = set_cookie(&page, "JSESSIONID").unwrap();
    let html = page.text().await.unwrap();
    let pairs = hidden_inputs(&html);
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = env
        .req(
            Method::GET,
            "jira",
            &format!("/rest/oauth2/latest/authorize?{}", form_body(&pairs)),
        )
        .header("Referer", &consent_url)
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    let loc = location(&r);
    assert!(
        loc.starts_with(&env.url("jira", "/plugins/servlet/oauth2/error")),
        "{loc}"
    );
    assert!(
        query_param(&loc, "errorDescription")
            .unwrap()
            .contains("redirect_uri")
    );
    // The XSRF token is used up by the first approval.
    let r = env
        .req(
            Method::GET,
            "jira",
            &format!("/rest/oauth2/latest/authorize?{}", form_body(&pairs)),
        )
        .header("Referer", &consent_url)
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert!(location(&r).contains("oauth2.xsrf.failure"));
    // The error page needs a login and shows the error.
    let (code, html) = text(
        env.http
            .get(&loc)
            .basic_auth("admin", Some("admin"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 200);
    assert!(html.contains("invalid_request"));
    // Deny: the consent page's link sends the user back with access_denied.
    let q = form_body(&[
        ("response_type", "code"),
        ("client_id", cid),
        ("redirect_uri", REDIRECT),
        ("scope", "READ"),
        ("state", "z"),
    ]);
    let r = get("jira", q).await;
    let html = env
        .http
        .get(location(&r))
        .basic_auth("user", Some("user"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let href = html
        .split("id=\"deny\" href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    assert!(href.starts_with(REDIRECT), "{href}");
    assert_eq!(
        query_param(&href, "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(query_param(&href, "state").as_deref(), Some("z"));
}

#[tokio::test]
async fn token_endpoint_refusals() {
    let env = start(vec![app("jira", Product::Jira)]).await;
    let c = client(&env, "jira", "Tool", "WRITE").await;
    let other = client(&env, "jira", "Other", "WRITE").await;
    let cid = c["clientId"].as_str().unwrap();
    let secret = c["clientSecret"].as_str().unwrap();
    let code = code_for(&env, "jira", &c, "READ").await;
    let form = |over: &[(&'static str, &'static str)]| {
        let mut f: Vec<(&str, String)> = vec![
            ("grant_type", "authorization_code".into()),
            ("code", code.clone()),
            ("redirect_uri", REDIRECT.into()),
            ("client_id", cid.into()),
            ("client_secret", secret.into()),
            ("code_verifier", VERIFIER.into()),
        ];
        for (k, v) in over {
            f.retain(|(n, _)| n != k);
            if !v.is_empty() {
                f.push((k, v.to_string()));
            }
        }
        f
    };
    let send = |f: Vec<(&'static str, String)>| {
        let env = &env;
        async move {
            let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            token(env, "jira", &f).await
        }
    };
    let leak = |s: &str| -> &'static str { Box::leak(s.to_string().into_boxed_str()) };
    let other_id = leak(other["clientId"].as_str().unwrap());
    type Case = (Vec<(&'static str, &'static str)>, u16, &'static str);
    let cases: Vec<Case> = vec![
        (vec![("grant_type", "")], 400, "invalid_request"),
        (
            vec![("grant_type", "password")],
            400,
            "unsupported_grant_type",
        ),
        (vec![("code", "")], 400, "invalid_request"),
        (vec![("redirect_uri", "")], 400, "invalid_request"),
        (vec![("code", "0123")], 400, "invalid_request"),
        (
            vec![("redirect_uri", "http://localhost:1/else")],
            400,
            "invalid_grant",
        ),
        // Another client registering the same redirect gets past the redirect check and is
        // refused as not the code's client.
        (vec![("client_id", other_id)], 400, "invalid_grant"),
        (vec![("client_secret", "")], 401, "invalid_client"),
        (vec![("client_secret", "wrong")], 401, "invalid_client"),
    ];
    for (over, status, error) in cases {
        let (code_, v) = send(form(&over)).await;
        assert_eq!(
            (code_, v["error"].as_str().unwrap_or("")),
            (status, error),
            "{over:?}: {v}"
        );
    }
    // A failed exchange did not use the code up; the right one works once.
    let (status, t) = send(form(&[])).await;
    assert_eq!(status, 200, "{t}");
    let access = t["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        with_bearer(&env, Method::GET, "jira", "/rest/api/2/myself", &access)
            .await
            .status(),
        200
    );
    // Replaying it is refused and revokes what it produced.
    let (status, v) = send(form(&[])).await;
    assert_eq!(
        (status, v["error"].clone()),
        (400, json!("invalid_grant")),
        "{v}"
    );
    let r = with_bearer(&env, Method::GET, "jira", "/rest/api/2/myself", &access).await;
    assert_eq!(r.status(), 401);
    // An expired code.
    let code2 = code_for(&env, "jira", &c, "READ").await;
    let r = env
        .control(Method::POST, "jira", "/oauth2/age")
        .json(&json!({"seconds": 61}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (status, v) = exchange(&env, "jira", &c, &code2).await;
    assert_eq!(
        (status, v["error"].clone()),
        (400, json!("invalid_request")),
        "{v}"
    );
    // The log says why, without the secret.
    let entries = log_entries(&env, "jira").await;
    let reasons: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["reason"].as_str())
        .collect();
    assert!(
        reasons.iter().any(|r| r.starts_with("invalid_client")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("already used")),
        "{reasons:?}"
    );
    assert!(!serde_json::to_string(&entries).unwrap().contains(secret));
}

#[tokio::test]
async fn refresh_rotates_and_old_tokens_stop_working() {
    let env = start(vec![app("jira", Product::Jira)]).await;
    let c = client(&env, "jira", "Tool", "WRITE").await;
    let t = tokens(&env, "jira", &c, "WRITE").await;
    let (a1, r1) = (
        t["access_token"].as_str().unwrap(),
        t["refresh_token"].as_str().unwrap(),
    );
    let refresh = |rt: &str, secret: &str| {
        let env = &env;
        let f = [
            ("grant_type", "refresh_token".to_string()),
            ("refresh_token", rt.to_string()),
            ("client_id", c["clientId"].as_str().unwrap().to_string()),
            ("client_secret", secret.to_string()),
        ];
        async move {
            let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            token(env, "jira", &f).await
        }
    };
    let secret = c["clientSecret"].as_str().unwrap();
    let (status, v) = refresh(r1, "wrong").await;
    assert_eq!((status, v["error"].clone()), (401, json!("invalid_client")));
    let (status, t2) = refresh(r1, secret).await;
    assert_eq!(status, 200, "{t2}");
    assert_eq!(t2["scope"], "WRITE");
    let (a2, r2) = (
        t2["access_token"].as_str().unwrap(),
        t2["refresh_token"].as_str().unwrap(),
    );
    assert_ne!(a2, a1);
    assert_ne!(r2, r1);
    let (status, v) = refresh(r1, secret).await;
    assert_eq!(
        (status, v["error"].clone()),
        (400, json!("invalid_grant")),
        "the old refresh token"
    );
    assert_eq!(
        with_bearer(&env, Method::GET, "jira", "/rest/api/2/myself", a1)
            .await
            .status(),
        401,
        "the old access token"
    );
    assert_eq!(
        with_bearer(&env, Method::GET, "jira", "/rest/api/2/myself", a2)
            .await
            .status(),
        200
    );
    // Not a JWT at all: the product's parser throws (500); a forged one is just invalid.
    let (status, _) = refresh("garbage", secret).await;
    assert_eq!(status, 500);
    let forged = format!("{}.{}", &r2[..r2.rfind('.').unwrap()], "AAAA");
    let (status, v) = refresh(&forged, secret).await;
    assert_eq!((status, v["error"].clone()), (400, json!("invalid_grant")));
    // Expiry: access after its lifetime, refresh after 90 days.
    let r = env
        .control(Method::POST, "jira", "/oauth2/age")
        .json(&json!({"seconds": 3601}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = with_bearer(&env, Method::GET, "jira", "/rest/api/2/myself", a2).await;
    assert_eq!(r.status(), 401);
    let (status, t3) = refresh(r2, secret).await;
    assert_eq!(
        status, 200,
        "the refresh token outlives the access token: {t3}"
    );
    env.control(Method::POST, "jira", "/oauth2/age")
        .json(&json!({"seconds": 90 * 86_400 + 1}))
        .send()
        .await
        .unwrap();
    let (status, v) = refresh(t3["refresh_token"].as_str().unwrap(), secret).await;
    assert_eq!((status, v["error"].clone()), (400, json!("invalid_grant")));
    let entries = log_entries(&env, "jira").await;
    assert!(
        entries
            .iter()
            .any(|e| e["reason"] == "oauth2 access token expired"),
        "{entries:?}"
    );
    // Lifetimes are settings: a shorter access token lifetime shows in expires_in.
    env.control(Method::PATCH, "jira", "/settings")
        .json(&json!({"oauth2": {"access_token_secs": 5}}))
        .send()
        .await
        .unwrap();
    let t = tokens(&env, "jira", &c, "READ").await;
    assert_eq!(t["expires_in"], 5);
}

#[tokio::test]
async fn read_tokens_cannot_write_and_deleted_clients_tokens_die() {
    let env = start(vec![
        app("jira", Product::Jira),
        app("wiki", Product::Confluence),
    ])
    .await;
    for (app, write_path, method) in [
        ("jira", "/rest/api/2/mypreferences?key=k", Method::PUT),
        ("wiki", "/rest/api/user/watch/space/DOC", Method::POST),
    ] {
        let c = client(&env, app, "Tool", "WRITE").await;
        let read = tokens(&env, app, &c, "READ").await;
        let write = tokens(&env, app, &c, "WRITE").await;
        let r = env
            .req(method.clone(), app, write_path)
            .bearer_auth(read["access_token"].as_str().unwrap())
            .header("X-Atlassian-Token", "no-check")
            .header("Content-Type", "application/json")
            .body("\"v\"")
            .send()
            .await
            .unwrap();
        let (code, body) = text(r).await;
        assert_eq!(code, 403, "{app}");
        assert!(
            body.contains(&format!(
                "Request does not have write scope. Cannot complete {method} request."
            )),
            "{body}"
        );
        let r = env
            .req(method.clone(), app, write_path)
            .bearer_auth(write["access_token"].as_str().unwrap())
            .header("X-Atlassian-Token", "no-check")
            .header("Content-Type", "application/json")
            .body("\"v\"")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204, "{app}");
        // Reading still works with READ.
        let read_path = if app == "jira" {
            "/rest/api/2/myself"
        } else {
            "/rest/api/user/current"
        };
        let r = with_bearer(
            &env,
            Method::GET,
            app,
            read_path,
            read["access_token"].as_str().unwrap(),
        )
        .await;
        assert_eq!(r.status(), 200);
        // A reset secret: old fails at /token, new works; issued tokens stay valid.
        let client_id = c["clientId"].as_str().unwrap();
        let (_, reset) = json(
            env.admin(
                Method::PUT,
                app,
                &format!("/rest/oauth2/latest/client/reset/{client_id}"),
            )
            .send()
            .await
            .unwrap(),
        )
        .await;
        let code = code_for(&env, app, &c, "READ").await;
        let (status, _) = exchange(&env, app, &c, &code).await;
        assert_eq!(status, 401, "old secret");
        let mut fresh = c.clone();
        fresh["clientSecret"] = reset["clientSecret"].clone();
        let (status, _) = exchange(&env, app, &fresh, &code).await;
        assert_eq!(status, 200, "new secret");
        assert_eq!(
            with_bearer(
                &env,
                Method::GET,
                app,
                read_path,
                write["access_token"].as_str().unwrap()
            )
            .await
            .status(),
            200
        );
        // Deleting the client revokes its tokens.
        let id = c["id"].as_str().unwrap();
        env.admin(
            Method::DELETE,
            app,
            &format!("/rest/oauth2/latest/client/{id}"),
        )
        .send()
        .await
        .unwrap();
        let r = with_bearer(
            &env,
            Method::GET,
            app,
            read_path,
            write["access_token"].as_str().unwrap(),
        )
        .await;
        // Even Confluence's current user, which answers anonymous callers, refuses the unknown
        // bearer token (the PAT filter's refusal, after the OAuth 2.0 filter let it pass).
        assert_eq!(r.status(), 401, "{app}");
    }
}

#[tokio::test]
async fn scopes_on_bitbucket_and_bamboo_and_role_caps() {
    let env = start(vec![
        app("bb", Product::Bitbucket),
        app("bam", Product::Bamboo),
        app("jira", Product::Jira),
    ])
    .await;
    let c = client(&env, "bb", "Tool", "ADMIN_WRITE").await;
    let read = tokens(&env, "bb", &c, "REPO_READ").await;
    let acct = tokens(&env, "bb", &c, "ACCOUNT_WRITE").await;
    let put = |tok: &str| {
        env.req(Method::PUT, "bb", "/rest/api/1.0/users")
            .bearer_auth(tok)
            .header("X-Atlassian-Token", "no-check")
            .json(&json!({"displayName": "Admin Istrator"}))
            .send()
    };
    let (code, v) = json(put(read["access_token"].as_str().unwrap()).await.unwrap()).await;
    assert_eq!(code, 403, "{v}");
    assert_eq!(
        v["errors"][0]["exceptionName"],
        "com.atlassian.bitbucket.AuthorisationException"
    );
    let (code, v) = json(put(acct["access_token"].as_str().unwrap()).await.unwrap()).await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["displayName"], "Admin Istrator");
    let (code, v) = json(
        with_bearer(
            &env,
            Method::GET,
            "bb",
            "/rest/api/1.0/users/admin",
            read["access_token"].as_str().unwrap(),
        )
        .await,
    )
    .await;
    assert_eq!(
        (code, v["displayName"].clone()),
        (200, json!("Admin Istrator"))
    );
    // The scope must be within the client's: SYSTEM_ADMIN is not within ADMIN_WRITE.
    let loc = consent_or_error(&env, "bb", &c, "SYSTEM_ADMIN").await;
    assert_eq!(query_param(&loc, "error").as_deref(), Some("invalid_scope"));

    let c = client(&env, "bam", "Tool", "USER").await;
    let read = tokens(&env, "bam", &c, "READ").await;
    let trigger = tokens(&env, "bam", &c, "TRIGGER").await;
    let queue = |tok: &str| {
        env.req(Method::POST, "bam", "/rest/api/latest/queue/PROJ-PLAN")
            .bearer_auth(tok)
            .header("X-Atlassian-Token", "no-check")
            .send()
    };
    let (code, v) = json(queue(read["access_token"].as_str().unwrap()).await.unwrap()).await;
    assert_eq!(code, 403, "{v}");
    let (code, v) = json(
        queue(trigger["access_token"].as_str().unwrap())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (code, v["buildResultKey"].clone()),
        (200, json!("PROJ-PLAN-1")),
        "{v}"
    );
    let (code, v) = json(
        with_bearer(
            &env,
            Method::GET,
            "bam",
            "/rest/api/latest/currentUser",
            read["access_token"].as_str().unwrap(),
        )
        .await,
    )
    .await;
    assert_eq!((code, v["name"].clone()), (200, json!("admin")));

    // Jira: SYSTEM_ADMIN lets a sysadmin's token administer the provider; ADMIN does not.
    let c = client(&env, "jira", "Admin tool", "SYSTEM_ADMIN").await;
    let sys = tokens(&env, "jira", &c, "SYSTEM_ADMIN").await;
    let adm = tokens(&env, "jira", &c, "ADMIN").await;
    assert_eq!(
        with_bearer(
            &env,
            Method::GET,
            "jira",
            "/rest/oauth2/latest/client",
            sys["access_token"].as_str().unwrap()
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        with_bearer(
            &env,
            Method::GET,
            "jira",
            "/rest/oauth2/latest/client",
            adm["access_token"].as_str().unwrap()
        )
        .await
        .status(),
        401
    );
    // A plain user's SYSTEM_ADMIN token is still a plain user's.
    let loc = control_consent(&env, "jira", json!({"username": "user", "client_id": c["clientId"], "redirect_uri": REDIRECT, "scope": "SYSTEM_ADMIN"})).await;
    let (status, t) = token(
        &env,
        "jira",
        &[
            ("grant_type", "authorization_code"),
            ("code", &query_param(&loc, "code").unwrap()),
            ("redirect_uri", REDIRECT),
            ("client_id", c["clientId"].as_str().unwrap()),
            ("client_secret", c["clientSecret"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{t}");
    let r = with_bearer(
        &env,
        Method::GET,
        "jira",
        "/rest/oauth2/latest/client",
        t["access_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(r.status(), 401);
}

/// The first Location of `/authorize` (a known client with a bad scope gets its error here).
async fn consent_or_error(env: &Env, app: &str, c: &Value, scope: &str) -> String {
    let q = form_body(&[
        ("response_type", "code"),
        ("client_id", c["clientId"].as_str().unwrap()),
        ("redirect_uri", REDIRECT),
        ("scope", scope),
    ]);
    let r = env
        .req(
            Method::GET,
            app,
            &format!("/rest/oauth2/latest/authorize?{q}"),
        )
        .send()
        .await
        .unwrap();
    location(&r)
}

async fn control_consent(env: &Env, app: &str, body: Value) -> String {
    let (code, v) = json(
        env.control(Method::POST, app, "/oauth2/consent")
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["status"], 303);
    v["location"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn control_consent_and_revoke() {
    let env = start(vec![app("jira", Product::Jira)]).await;
    let c = client(&env, "jira", "Tool", "WRITE").await;
    let cid = c["clientId"].as_str().unwrap();
    let loc = control_consent(&env, "jira", json!({"username": "user", "client_id": cid, "redirect_uri": REDIRECT,
        "scope": "READ", "state": "q", "code_challenge": s256(VERIFIER), "code_challenge_method": "S256"})).await;
    assert_eq!(query_param(&loc, "state").as_deref(), Some("q"));
    let code = query_param(&loc, "code").unwrap();
    let (status, t) = exchange(&env, "jira", &c, &code).await;
    assert_eq!(status, 200, "{t}");
    let (_, me) = json(
        with_bearer(
            &env,
            Method::GET,
            "jira",
            "/rest/api/2/myself",
            t["access_token"].as_str().unwrap(),
        )
        .await,
    )
    .await;
    assert_eq!(me["name"], "user");
    let loc = control_consent(&env, "jira", json!({"username": "user", "client_id": cid, "redirect_uri": REDIRECT, "scope": "READ", "approve": false, "state": "q"})).await;
    assert_eq!(query_param(&loc, "error").as_deref(), Some("access_denied"));
    assert_eq!(query_param(&loc, "state").as_deref(), Some("q"));
    let loc = control_consent(&env, "jira", json!({"username": "user", "client_id": cid, "redirect_uri": "http://localhost:9/x", "scope": "READ"})).await;
    assert!(loc.contains("/plugins/servlet/oauth2/error"), "{loc}");
    // Revoke (RFC 7009) by refresh token: both tokens go.
    let f = [
        ("token", t["refresh_token"].as_str().unwrap()),
        ("client_id", cid),
        ("client_secret", c["clientSecret"].as_str().unwrap()),
    ];
    let r = env
        .req(Method::POST, "jira", "/rest/oauth2/latest/revoke")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form_body(&f))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        with_bearer(
            &env,
            Method::GET,
            "jira",
            "/rest/api/2/myself",
            t["access_token"].as_str().unwrap()
        )
        .await
        .status(),
        401
    );
    let r = env
        .req(Method::POST, "jira", "/rest/oauth2/latest/revoke")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form_body(&[
            ("token", "x"),
            ("client_id", cid),
            ("client_secret", "bad"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn clients_and_tokens_survive_a_restart_with_a_state_dir() {
    let dir = std::env::temp_dir().join(format!("oauth2-state-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let boot = |dir: std::path::PathBuf| async move {
        let sim = applink_sim::Simulator::start(
            applink_sim::SimConfig {
                control_port: Some(0),
                apps: vec![app("jira", Product::Jira)],
            },
            Some(dir),
        )
        .await
        .unwrap();
        Env {
            sim,
            http: applink_sim::peer::build_client(
                rustls::RootCertStore::empty(),
                std::time::Duration::from_secs(30),
            ),
        }
    };
    let env = boot(dir.clone()).await;
    let c = client(&env, "jira", "Tool", "READ").await;
    let t = tokens(&env, "jira", &c, "READ").await;
    let access = t["access_token"].as_str().unwrap().to_string();
    env.sim.shutdown().await;
    let file = std::fs::read_to_string(dir.join("jira.json")).unwrap();
    assert!(!file.contains(&access), "no usable token on disk");
    use base64::Engine;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(access.split('.').nth(1).unwrap())
        .unwrap();
    let claims: Value = serde_json::from_slice(&payload).unwrap();
    let id = claims["id"].as_str().unwrap();
    assert_eq!(id.len(), 32, "{claims}");
    assert!(!file.contains(id), "only the token id's hash is stored");

    let env = boot(dir.clone()).await;
    let (_, list) = json(
        env.admin(Method::GET, "jira", "/rest/oauth2/latest/client")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(list[0]["clientId"], c["clientId"]);
    let r = with_bearer(&env, Method::GET, "jira", "/rest/api/2/myself", &access).await;
    assert_eq!(r.status(), 200, "the token still authenticates");
    env.sim.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
}

/// The V3 link list shows the provider's clients as generic links (applinks' V4 UI, on by
/// default); they are not links: the V3 by-id GET does not know them.
#[tokio::test]
async fn clients_appear_in_the_v3_list_as_generic_entries() {
    let env = start(vec![app("jira", Product::Jira)]).await;
    let c = client(&env, "jira", "Che", "READ").await;
    let (code, list) = json(
        env.admin(
            Method::GET,
            "jira",
            "/rest/applinks/3.0/applinks?property=x",
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(code, 200);
    let entry = list
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == c["id"])
        .unwrap_or_else(|| panic!("{list}"));
    assert_eq!(entry["type"], "generic");
    assert_eq!(entry["name"], "Che");
    assert_eq!(
        entry["rpcUrl"], "http://localhost",
        "scheme and host, no port"
    );
    assert_eq!(entry["properties"], json!({"x": null}));
    let r = env
        .admin(
            Method::GET,
            "jira",
            &format!("/rest/applinks/3.0/applinks/{}", c["id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
