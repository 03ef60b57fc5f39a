//! Shared helpers: start apps in-process on random ports and talk to them.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use applink_sim::peer::build_client;
use applink_sim::{App, AppConfig, Product, SimConfig, Simulator};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;

pub struct Env {
    pub sim: Simulator,
    pub http: reqwest::Client,
}

/// 1024-bit keys keep test start-up fast; the protocol does not depend on the size.
pub fn cfg(name: &str, product: Product) -> AppConfig {
    let mut c = AppConfig::new(name, product);
    c.key_bits = 1024;
    c.peer_timeout_ms = 5_000;
    c
}

pub async fn start(apps: Vec<AppConfig>) -> Env {
    let sim = Simulator::start(
        SimConfig {
            control_port: Some(0),
            apps,
        },
        None,
    )
    .await
    .expect("simulator starts");
    Env {
        sim,
        http: build_client(rustls::RootCertStore::empty(), Duration::from_secs(30)),
    }
}

impl Env {
    pub fn app(&self, name: &str) -> Arc<App> {
        self.sim.app(name).expect("app exists")
    }

    pub fn url(&self, app: &str, path: &str) -> String {
        self.app(app).url(path)
    }

    pub fn req(&self, method: Method, app: &str, path: &str) -> RequestBuilder {
        self.http.request(method, self.url(app, path))
    }

    /// A request as the default sysadmin `admin:admin`, JSON, with the XSRF header.
    pub fn admin(&self, method: Method, app: &str, path: &str) -> RequestBuilder {
        self.req(method, app, path)
            .basic_auth("admin", Some("admin"))
            .header("Accept", "application/json")
            .header("X-Atlassian-Token", "no-check")
    }

    pub fn control(&self, method: Method, app: &str, path: &str) -> RequestBuilder {
        let base = self.sim.control_url().expect("control port");
        self.http
            .request(method, format!("{base}/_sim/apps/{app}{path}"))
    }

    pub fn id(&self, app: &str) -> String {
        self.app(app).ident.id.to_string()
    }

    /// Links `a` to `b` with createAppLink, two-way, default OAuth (or impersonation).
    pub async fn link_two_way(&self, a: &str, b: &str, impersonation: bool) -> Value {
        let body = serde_json::json!({
            "applicationLink": {"typeId": self.app(b).type_id(), "name": format!("{b} link"),
                                "rpcUrl": self.app(b).base_url, "displayUrl": self.app(b).base_url,
                                "isPrimary": true},
            "username": "admin", "password": "admin", "createTwoWayLink": true,
            "customRpcURL": false,
            "configFormValues": {"trustEachOther": true, "shareUserbase": impersonation},
        });
        let r = self
            .admin(
                Method::POST,
                a,
                "/rest/applinks/1.0/applicationlinkForm/createAppLink",
            )
            .json(&body)
            .send()
            .await
            .expect("createAppLink");
        let status = r.status();
        let v: Value = r.json().await.expect("JSON");
        assert_eq!(status, 200, "createAppLink: {v}");
        assert_eq!(v["autoConfigurationSuccessful"], true, "{v}");
        v
    }

    pub async fn status(&self, app: &str, peer: &str) -> Value {
        let path = format!("/rest/applinks/3.0/status/{}", self.id(peer));
        let r = self
            .admin(Method::GET, app, &path)
            .send()
            .await
            .expect("status");
        assert_eq!(r.status(), 200);
        r.json().await.expect("JSON")
    }
}

pub async fn json(r: Response) -> (u16, Value) {
    let s = r.status().as_u16();
    let text = r.text().await.expect("body");
    let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (s, v)
}

pub async fn text(r: Response) -> (u16, String) {
    let s = r.status().as_u16();
    (s, r.text().await.expect("body"))
}

/// The value of `name="…" value="…"` in an HTML form.
pub fn form_value(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\""))?;
    let rest = &html[at..];
    let v = rest.split("value=\"").nth(1)?.split('"').next()?;
    Some(
        v.replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

/// A `Set-Cookie` value (`name=value`, attributes dropped).
pub fn set_cookie(r: &Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

impl Env {
    /// The user's browser on the OAuth 1.0a authorize page: GET (logged in with Basic), then
    /// POST the form with `decision` (`approve` or `deny`). Returns the POST's answer.
    pub async fn oauth1_decide(
        &self,
        app: &str,
        user: (&str, &str),
        request_token: &str,
        decision: &str,
    ) -> Response {
        let r = self
            .req(
                Method::GET,
                app,
                &format!("/plugins/servlet/oauth/authorize?oauth_token={request_token}"),
            )
            .basic_auth(user.0, Some(user.1))
            .send()
            .await
            .expect("authorize page");
        assert_eq!(r.status(), 200, "authorize page");
        let cookie = set_cookie(&r, "atlassian.xsrf.token").expect("XSRF cookie");
        let html = r.text().await.expect("page");
        let atl = form_value(&html, "atl_token").expect("atl_token in the form");
        assert_eq!(
            form_value(&html, "oauth_token").as_deref(),
            Some(request_token)
        );
        self.req(Method::POST, app, "/plugins/servlet/oauth/authorize")
            .basic_auth(user.0, Some(user.1))
            .header("Cookie", cookie)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form_body(&[
                ("oauth_token", request_token),
                ("atl_token", &atl),
                (decision, "x"),
            ]))
            .send()
            .await
            .expect("authorize decision")
    }
}

/// An `application/x-www-form-urlencoded` body.
pub fn form_body(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                applink_sim::wire::oauth1::encode(k),
                applink_sim::wire::oauth1::encode(v)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}
