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
