//! Who the rate-limiting plugin limits (docs/simulator.md#rate-limiting): every caller, the
//! anonymous ones in one shared bucket, except the product's exempt paths (applinks among them),
//! the OAuth consumers of links to Atlassian applications, browser (UI) requests, the mobile
//! app, and exempt users. Its 429 follows `Accept`.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::app::App;
use crate::gate::auth::Caller;
use crate::product::Product;

/// The bucket anonymous callers share.
pub const ANONYMOUS: &str = "anonymous";

/// The refusal's message (the i18n key `ratelimit.rest.error.ratelimited.message`; wording
/// inferred).
const MESSAGE: &str = "Rate limit exceeded. Try again later.";

const JIRA_EXEMPT: &[&str] = &[
    "/**/rest/gadgets/1.0/g/**",
    "/**/webResources/1.0/resources",
    "/**/rest/auth/1/session",
    "/**/rest/jpo/1.0/authentication/**",
    "/**/rest/healthCheck/1.0/checkDetails.json",
    "/**/rest/remote-link-aggregation/1/aggregation",
    "/**/rest/capabilities",
    "/**/rest/capabilities/navigation",
    "/**/rest/remote-event-consumer/1/capabilities",
    "/**/rest/applinks/**",
    "/**/rest/applinks-oauth/**",
    "/**/rest/**/remotelink",
    "/**/rest/mywork-client/*/registration",
    "/**/rest/collectors/1.0/configuration/**",
    "/**/rest/analytics/**",
    "/**/rest/api/*/serverInfo",
    "/**/rest/jello/**",
];

const CONFLUENCE_EXEMPT: &[&str] = &[
    "/**/rest/applinks/**",
    "/**/rest/capabilities",
    "/**/rest/capabilities/navigation",
    "/**/rest/gadgets/1.0/g/**",
    "/**/rest/mywork/latest/status/notification/count",
    "/**/rest/jira-metadata/1.0/metadata/cache",
    "/**/rest/api/content",
    "/**/rest/quickreload/latest/0",
    "/**/rest/mywork/1/client",
    "/**/rest/token-auth/api/**",
];

const DEFAULT_EXEMPT: &[&str] = &[
    "/**/rest/analytics/**",
    "/**/rest/api/*/serverInfo",
    "/**/rest/applinks/**",
    "/**/rest/applinks-oauth/**",
    "/**/rest/capabilities",
    "/**/rest/capabilities/navigation",
    "/**/rest/gadgets/1.0/g/**",
    "/**/rest/jira-dev/**",
    "/**/rest/healthCheck/1.0/checkDetails.json",
    "/**/rest/token-auth/api/**",
    "/**/rest/remote-link-aggregation/1/aggregation",
    "/**/rest/remote-event-consumer/1/capabilities",
    "/**/rest/remote-event/**",
    "/**/rest/quickreload/latest/0",
    "/**/webResources/1.0/resources",
];

/// The paths a product never limits.
fn exempt_paths(product: Product) -> &'static [&'static str] {
    match product {
        Product::Jira | Product::JiraCloud => JIRA_EXEMPT,
        Product::Confluence | Product::ConfluenceCloud => CONFLUENCE_EXEMPT,
        _ => DEFAULT_EXEMPT,
    }
}

/// The bucket a request draws from, or `None` when it is not limited.
pub fn bucket(app: &App, caller: &Caller, h: &HeaderMap, path: &str) -> Option<String> {
    let rl = app.settings().rate_limit?;
    if !path.starts_with("/rest/")
        || exempt_paths(app.cfg.product)
            .iter()
            .any(|p| ant_match(p, path))
        || h.contains_key("mobile-app-request")
    {
        return None;
    }
    let authorization = h
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if let Some(key) = oauth_consumer_key(authorization)
        && linked_atlassian_consumer(app, &key)
    {
        return None;
    }
    let lower = authorization.to_ascii_lowercase();
    let credentials = lower.starts_with("basic") || lower.starts_with("bearer");
    if !credentials && !lower.starts_with("oauth ") && looks_like_ui(h) {
        return None;
    }
    let key = caller
        .user
        .as_ref()
        .map(|u| u.username.clone())
        .unwrap_or_else(|| ANONYMOUS.to_string());
    (!rl.exempt.contains(&key)).then_some(key)
}

/// Two or more of `Referer`, `Origin`, the XSRF cookie and the session cookie.
fn looks_like_ui(h: &HeaderMap) -> bool {
    let headers = [header::REFERER, header::ORIGIN]
        .iter()
        .filter(|n| h.contains_key(*n))
        .count();
    let cookies = ["atlassian.xsrf.token", crate::store::SESSION_COOKIE]
        .iter()
        .filter(|c| crate::gate::access::cookie_of(h, c).is_some())
        .count();
    headers + cookies >= 2
}

fn oauth_consumer_key(authorization: &str) -> Option<String> {
    let rest = authorization.strip_prefix("OAuth ")?;
    rest.split(',').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        (k == "oauth_consumer_key").then(|| {
            let v = v.trim_matches('"');
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

/// The incoming consumer of a link to an Atlassian application (any case).
fn linked_atlassian_consumer(app: &App, key: &str) -> bool {
    !app.links_where(|l| {
        crate::product::is_atlassian_type(&l.type_id)
            && l.incoming_key
                .as_deref()
                .is_some_and(|k| k.eq_ignore_ascii_case(key))
    })
    .is_empty()
}

/// Ant-style path pattern: `**` any number of segments, `*` any characters within one.
fn ant_match(pattern: &str, path: &str) -> bool {
    let p: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
    let s: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    segments(&p, &s)
}

fn segments(p: &[&str], s: &[&str]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((&"**", rest)) => (0..=s.len()).any(|i| segments(rest, &s[i..])),
        Some((first, rest)) => !s.is_empty() && segment(first, s[0]) && segments(rest, &s[1..]),
    }
}

fn segment(p: &str, s: &str) -> bool {
    match p.split_once('*') {
        None => p == s,
        Some((pre, post)) => {
            s.len() >= pre.len() + post.len() && s.starts_with(pre) && s.ends_with(post)
        }
    }
}

/// The 429: JSON when `Accept` names `application/json`, else the container's error page.
pub fn refusal(h: &HeaderMap) -> Response {
    let json = h
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json"));
    if json {
        crate::wire::respond::json_response(
            StatusCode::TOO_MANY_REQUESTS,
            &serde_json::json!({ "message": MESSAGE }),
        )
    } else {
        let page = format!(
            "<!doctype html><html lang=\"en\"><head><title>HTTP Status 429 – Too Many Requests</title></head><body><h1>HTTP Status 429 – Too Many Requests</h1><p><b>Message</b> {MESSAGE}</p></body></html>"
        );
        (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::CONTENT_TYPE, "text/html;charset=utf-8")],
            page,
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exempt_paths_match_like_ant_patterns() {
        let table = [
            ("/**/rest/applinks/**", "/rest/applinks/3.0/applinks", true),
            (
                "/**/rest/applinks/**",
                "/jira/rest/applinks/1.0/manifest",
                true,
            ),
            ("/**/rest/applinks/**", "/rest/applinks", true),
            ("/**/rest/applinks/**", "/rest/whitelist/latest", false),
            ("/**/rest/api/*/serverInfo", "/rest/api/2/serverInfo", true),
            (
                "/**/rest/api/*/serverInfo",
                "/rest/api/2/x/serverInfo",
                false,
            ),
            (
                "/**/rest/**/remotelink",
                "/rest/api/2/issue/X-1/remotelink",
                true,
            ),
            ("/**/rest/capabilities", "/rest/capabilities/x", false),
        ];
        for (p, path, want) in table {
            assert_eq!(ant_match(p, path), want, "{p} {path}");
        }
        assert!(
            !JIRA_EXEMPT
                .iter()
                .any(|p| ant_match(p, "/rest/oauth2/latest/client"))
        );
        assert!(
            CONFLUENCE_EXEMPT
                .iter()
                .any(|p| ant_match(p, "/rest/applinks/1.0/x"))
        );
        assert!(
            !CONFLUENCE_EXEMPT
                .iter()
                .any(|p| ant_match(p, "/rest/applinks-oauth/1.0/x"))
        );
    }

    #[test]
    fn consumer_key_is_read_from_the_oauth_header() {
        assert_eq!(
            oauth_consumer_key(
                r#"OAuth realm="x", oauth_consumer_key="Jira%3A123", oauth_token="""#
            )
            .as_deref(),
            Some("Jira:123")
        );
        assert_eq!(oauth_consumer_key("Basic YTpi"), None);
    }

    #[test]
    fn ui_requests_need_two_signs() {
        let mut h = HeaderMap::new();
        h.insert(header::REFERER, "http://x/".parse().unwrap());
        assert!(!looks_like_ui(&h));
        h.insert(header::COOKIE, "JSESSIONID=abc".parse().unwrap());
        assert!(looks_like_ui(&h));
    }
}
