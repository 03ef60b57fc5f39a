//! Metrics of the calls to the applications, counted in the one place every request passes
//! ([`AtlassianClient::execute`](super::AtlassianClient)). Labels come from fixed vocabularies
//! only (application type, operation, status class): never a URL, an id or anything secret,
//! so the number of series does not grow with the number of applications or objects.

use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use reqwest::Method;

use super::error::ApiError;

/// The application types a label may show; `unknown` until the manifest has been read.
#[cfg(test)]
const APPLICATION_TYPES: &[&str] = &[
    "jira",
    "confluence",
    "bitbucket",
    "bamboo",
    "fecru",
    "crowd",
    "generic",
    "other",
    "unknown",
];

/// The operations a label may show.
#[cfg(test)]
const OPERATIONS: &[&str] = &[
    "manifest",
    "verify_admin",
    "list_links",
    "get_link",
    "create_link",
    "update_link",
    "set_primary",
    "delete_link",
    "get_oauth",
    "set_oauth",
    "status",
    "oauth2_metadata",
    "oauth2_client",
    "consumer",
    "allowlist",
    "entity_links",
    "other",
];

/// A manifest's `typeId` as a label value (Bitbucket's is still `stash`).
pub fn application_type_label(type_id: &str) -> &'static str {
    match type_id.to_ascii_lowercase().as_str() {
        "jira" => "jira",
        "confluence" => "confluence",
        "stash" | "bitbucket" => "bitbucket",
        "bamboo" => "bamboo",
        "fecru" | "fisheye" | "crucible" => "fecru",
        "crowd" => "crowd",
        "generic" => "generic",
        "" => "unknown",
        _ => "other",
    }
}

/// The operation of a call, from its method and path (`fixed`: the segments of the path the
/// call was made with; variable segments follow).
pub(crate) fn operation(method: &Method, segments: &[String], fixed: usize) -> &'static str {
    let path: Vec<&str> = segments.iter().map(String::as_str).collect();
    let has_id = segments.len() > fixed;
    let last = path.last().copied().unwrap_or_default();
    match (method.as_str(), path.as_slice()) {
        ("GET", ["rest", "applinks", "1.0", "manifest"]) => "manifest",
        ("GET", ["rest", "applinks", "1.0", "authenticationinfo"]) => "verify_admin",
        (_, ["rest", "applinks", "3.0", "status", ..]) if last == "oauth" => {
            if method == Method::GET {
                "get_oauth"
            } else {
                "set_oauth"
            }
        }
        ("GET", ["rest", "applinks", "3.0", "status", ..]) => "status",
        ("PUT", ["rest", "applinks", "2.0", "applicationlink"]) => "create_link",
        ("POST", ["rest", "applinks", "1.0", "applicationlink", "primary", ..]) => "set_primary",
        ("DELETE", ["rest", "applinks", _, "applinks" | "applicationlink", ..]) => "delete_link",
        ("PUT", ["rest", "applinks", "3.0", "applinks", ..]) => "update_link",
        ("GET", ["rest", "applinks", _, "applinks" | "applicationlink", ..]) => {
            if has_id {
                "get_link"
            } else {
                "list_links"
            }
        }
        (_, ["rest", "applinks-oauth", ..]) => "consumer",
        (_, ["rest", "oauth2", _, ".well-known", ..]) => "oauth2_metadata",
        (_, ["rest", "oauth2", _, "client", ..]) => "oauth2_client",
        (_, ["rest", "whitelist", ..]) => "allowlist",
        ("GET", ["rest", "applinks", "1.0", "entitylink", ..]) => "entity_links",
        _ => "other",
    }
}

/// The status class of an answer (`2xx` … `5xx`, `429` apart), or what kept it from coming.
pub(crate) fn status_class(status: Option<u16>, error: Option<&ApiError>) -> &'static str {
    match (status, error) {
        (Some(429), _) => "429",
        (Some(s), _) if (200..300).contains(&s) => "2xx",
        (Some(s), _) if (300..400).contains(&s) => "3xx",
        (Some(s), _) if (400..500).contains(&s) => "4xx",
        (Some(s), _) if (500..600).contains(&s) => "5xx",
        (Some(_), _) => "other",
        (None, Some(ApiError::Timeout { .. })) => "timeout",
        (
            None,
            Some(
                ApiError::Tls { .. }
                | ApiError::TlsCertificateExpired { .. }
                | ApiError::TlsHostnameMismatch { .. },
            ),
        ) => "tls",
        (None, Some(ApiError::UnknownHost { .. })) => "dns",
        (None, _) => "connection",
    }
}

type Labels = Vec<(&'static str, &'static str)>;

/// The remote-call families; clones share them.
#[derive(Clone)]
pub struct CallMetrics {
    requests: Family<Labels, Counter>,
    latency: Family<Labels, Histogram, fn() -> Histogram>,
    retries: Family<Labels, Counter>,
    rate_limit_waits: Family<Labels, Counter>,
    rate_limit_wait_seconds: Family<Labels, Counter<f64>>,
    held_back: Family<Labels, Counter>,
}

fn latency_histogram() -> Histogram {
    Histogram::new([0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0])
}

impl Default for CallMetrics {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            retries: Family::default(),
            rate_limit_waits: Family::default(),
            rate_limit_wait_seconds: Family::default(),
            held_back: Family::default(),
        }
    }
}

impl std::fmt::Debug for CallMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallMetrics").finish_non_exhaustive()
    }
}

impl CallMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "applink_remote_requests",
            "Requests to the applications (each attempt) by application type, operation and status class",
            self.requests.clone(),
        );
        registry.register(
            "applink_remote_request_duration_seconds",
            "Duration of each attempt, from sending until the body was read or the attempt failed",
            self.latency.clone(),
        );
        registry.register(
            "applink_remote_retries",
            "Attempts sent again after a transient failure",
            self.retries.clone(),
        );
        registry.register(
            "applink_remote_rate_limit_waits",
            "Waits for the delay an application asked for (Retry-After on 429 or 503)",
            self.rate_limit_waits.clone(),
        );
        registry.register(
            "applink_remote_rate_limit_wait_seconds",
            "Seconds spent waiting for the delay applications asked for",
            self.rate_limit_wait_seconds.clone(),
        );
        registry.register(
            "applink_remote_credentials_held_back",
            "Requests not sent because the application refused these credentials before (they are sent again only once the Secret changes)",
            self.held_back.clone(),
        );
    }

    pub(crate) fn attempted(
        &self,
        app: &'static str,
        operation: &'static str,
        class: &'static str,
        took: Duration,
    ) {
        self.requests
            .get_or_create(&vec![
                ("application_type", app),
                ("operation", operation),
                ("status_class", class),
            ])
            .inc();
        self.latency
            .get_or_create(&vec![("application_type", app), ("operation", operation)])
            .observe(took.as_secs_f64());
    }

    pub(crate) fn retried(&self, app: &'static str, operation: &'static str) {
        self.retries
            .get_or_create(&vec![("application_type", app), ("operation", operation)])
            .inc();
    }

    pub(crate) fn waited(&self, app: &'static str, delay: Duration) {
        let labels = vec![("application_type", app)];
        self.rate_limit_waits.get_or_create(&labels).inc();
        self.rate_limit_wait_seconds
            .get_or_create(&labels)
            .inc_by(delay.as_secs_f64());
    }

    pub(crate) fn held_back(&self, app: &'static str, operation: &'static str) {
        self.held_back
            .get_or_create(&vec![("application_type", app), ("operation", operation)])
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(method: Method, fixed: &str, extra: &[&str]) -> &'static str {
        let mut segments: Vec<String> = fixed.split('/').map(str::to_owned).collect();
        let n = segments.len();
        segments.extend(extra.iter().map(|s| s.to_string()));
        operation(&method, &segments, n)
    }

    #[test]
    fn operations_of_every_endpoint() {
        let id = "1234";
        let cases: &[(Method, &str, &[&str], &str)] = &[
            (Method::GET, "rest/applinks/1.0/manifest", &[], "manifest"),
            (
                Method::GET,
                "rest/applinks/1.0/authenticationinfo",
                &[],
                "verify_admin",
            ),
            (
                Method::GET,
                "rest/applinks/1.0/applicationlink",
                &[],
                "list_links",
            ),
            (Method::GET, "rest/applinks/3.0/applinks", &[], "list_links"),
            (Method::GET, "rest/applinks/3.0/applinks", &[id], "get_link"),
            (
                Method::PUT,
                "rest/applinks/2.0/applicationlink",
                &[],
                "create_link",
            ),
            (
                Method::PUT,
                "rest/applinks/3.0/applinks",
                &[id],
                "update_link",
            ),
            (
                Method::POST,
                "rest/applinks/1.0/applicationlink/primary",
                &[id],
                "set_primary",
            ),
            (
                Method::DELETE,
                "rest/applinks/3.0/applinks",
                &[id],
                "delete_link",
            ),
            (
                Method::DELETE,
                "rest/applinks/1.0/applicationlink",
                &[id],
                "delete_link",
            ),
            (
                Method::GET,
                "rest/applinks/3.0/status",
                &[id, "oauth"],
                "get_oauth",
            ),
            (
                Method::PUT,
                "rest/applinks/3.0/status",
                &[id, "oauth"],
                "set_oauth",
            ),
            (Method::GET, "rest/applinks/3.0/status", &[id], "status"),
            (
                Method::GET,
                "rest/oauth2/latest/.well-known/oauth-authorization-server",
                &[],
                "oauth2_metadata",
            ),
            (
                Method::GET,
                "rest/oauth2/latest/client",
                &[],
                "oauth2_client",
            ),
            (
                Method::PUT,
                "rest/oauth2/latest/client/reset",
                &[id],
                "oauth2_client",
            ),
            (
                Method::PUT,
                "rest/applinks-oauth/1.0/applicationlink",
                &[id, "authentication", "consumer"],
                "consumer",
            ),
            (Method::GET, "rest/whitelist/latest", &[], "allowlist"),
            (Method::POST, "rest/whitelist/1.0", &[], "allowlist"),
            (
                Method::GET,
                "rest/applinks/1.0/entitylink/localEntitiesWithLinksTo",
                &[id],
                "entity_links",
            ),
            (Method::GET, "some/other/path", &[], "other"),
        ];
        for (method, fixed, extra, want) in cases {
            assert_eq!(
                op(method.clone(), fixed, extra),
                *want,
                "{method} {fixed} {extra:?}"
            );
            assert!(OPERATIONS.contains(want));
        }
    }

    #[test]
    fn application_types_are_a_fixed_vocabulary() {
        for (type_id, want) in [
            ("jira", "jira"),
            ("stash", "bitbucket"),
            ("FeCru", "fecru"),
            ("", "unknown"),
            ("https://evil.example/x", "other"),
        ] {
            assert_eq!(application_type_label(type_id), want);
            assert!(APPLICATION_TYPES.contains(&want));
        }
    }

    /// Many applications, links and credentials: the same series as a few (no URL, id or
    /// user in a label), and held-back credentials are counted.
    #[tokio::test]
    async fn series_stay_bounded_with_many_applications_and_objects() {
        use super::super::test_support::{json_response, server};
        use super::super::{AtlassianClient, ClientConfig, Credentials, RetryPolicy};
        use wiremock::matchers::{method, path_regex};
        use wiremock::{Mock, ResponseTemplate};

        let server = server().await;
        Mock::given(method("GET"))
            .and(path_regex("/manifest$"))
            .respond_with(json_response(
                200,
                crate::atlassian::discovery::MANIFEST_JSON_FOR_TESTS,
            ))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path_regex("/rest/applinks/3.0/status/"))
            .respond_with(ResponseTemplate::new(401))
            .mount(&server)
            .await;
        let calls = CallMetrics::default();
        let mut registry = Registry::default();
        calls.register(&mut registry);
        let series = |registry: &Registry| {
            let mut text = String::new();
            prometheus_client::encoding::prometheus_text::encode(&mut text, registry).unwrap();
            text.lines()
                .filter(|l| !l.starts_with('#'))
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        let mut counts = Vec::new();
        for apps in [0..3, 3..60] {
            for app in apps {
                let url = url::Url::parse(&format!("{}/app-{app}/", server.uri())).unwrap();
                let client = AtlassianClient::new(
                    ClientConfig::new(url)
                        .with_credentials(Credentials::basic(format!("admin-{app}"), "s3cret-pw"))
                        .with_retry(RetryPolicy::none())
                        .with_call_metrics(calls.clone()),
                )
                .unwrap();
                client.manifest().await.unwrap();
                for link in 0..4 {
                    // The first is refused (401): the credentials are held back after it.
                    let _ = client.link_status(&format!("link-{app}-{link}")).await;
                }
            }
            counts.push(series(&registry).len());
        }
        let text = series(&registry).join("\n");
        assert_eq!(counts[0], counts[1], "{text}");
        for leak in ["app-", "link-", "admin-", "s3cret", "127.0.0.1"] {
            assert!(!text.contains(leak), "{leak} in a label:\n{text}");
        }
        assert!(
            text.contains(r#"applink_remote_credentials_held_back_total{application_type="jira",operation="status"} 180"#),
            "{text}"
        );
        assert!(
            text.contains(r#"applink_remote_requests_total{application_type="jira",operation="status",status_class="4xx"} 60"#),
            "{text}"
        );
    }

    #[test]
    fn docs_list_every_label_value() {
        let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/metrics.md"))
            .unwrap();
        for v in OPERATIONS.iter().chain(APPLICATION_TYPES) {
            assert!(
                docs.contains(&format!("`{v}`")),
                "docs/metrics.md lists `{v}`"
            );
        }
        for m in crate::metrics::EXPORTED {
            // Per-kind families are documented once, as applink_<kind>_...
            let generic = ["_condition", "_ready_reason"]
                .iter()
                .find(|sfx| m.ends_with(*sfx) && !m.contains("health"))
                .map(|sfx| format!("applink_<kind>{sfx}"));
            let documented = docs.contains(&format!("`{m}`"))
                || generic.is_some_and(|g| docs.contains(&format!("`{g}`")));
            assert!(documented, "docs/metrics.md lists {m}");
        }
    }

    #[test]
    fn status_classes() {
        let timeout = ApiError::Timeout {
            url: "u".into(),
            timeout: Duration::from_secs(1),
            progress: None,
        };
        assert_eq!(status_class(Some(204), None), "2xx");
        assert_eq!(status_class(Some(429), None), "429");
        assert_eq!(status_class(Some(503), None), "5xx");
        assert_eq!(status_class(None, Some(&timeout)), "timeout");
    }
}
