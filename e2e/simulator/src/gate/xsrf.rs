//! atlassian-rest's XSRF filter in its default mode (docs/simulator.md#xsrf): a token rule for
//! what a browser form could forge, and an origin rule for requests that look like a browser's.
//! Decided from plain inputs so the rule is table-tested apart from the request pipeline.

use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Substrings of `User-Agent` by which the products' user-agent parser names a browser family;
/// a request carrying none of them does not look like a browser.
const BROWSER_MARKERS: [&str; 16] = [
    "google/",
    "Googlebot/",
    "msnbot",
    "webcrawler/",
    "MSIE",
    "Trident/",
    "Edge/",
    "Firefox",
    "Chrome/",
    "Safari/",
    "Opera/",
    "Gecko/",
    "Lotus-Notes/",
    "Netscape/",
    "Konqueror/",
    "KHTML",
];

/// Content types a form or a simple cross-site request can send.
const FORM_TYPES: [&str; 3] = [
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "text/plain",
];

/// What the filter needs to know about a request.
pub struct XsrfInput<'a> {
    pub method: &'a Method,
    pub headers: &'a HeaderMap,
    /// `scheme://host[:port]` the request was sent to (its `Host` on this listener).
    pub request_origin: &'a str,
    /// rpcUrls of this application's links (asked for only when needed): an Origin matching
    /// one is allowed through the applinks CORS allowance when the request carries no
    /// credentials.
    pub link_rpc_urls: &'a dyn Fn() -> Vec<String>,
}

/// Whether the filter refuses the request with 403.
pub fn refused(input: &XsrfInput) -> bool {
    let h = input.headers;
    let token = has_token(h);
    let mutative = !matches!(
        *input.method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    );
    let post = *input.method == Method::POST;
    if mutative && looks_like_browser(h, token) {
        let origin_ok = origin_allowed(input);
        if !post {
            // Only logged for PUT, DELETE, PATCH.
            return false;
        }
        if !origin_ok {
            // Refused even with the token.
            return true;
        }
    }
    if !mutative || !form_like(h) {
        return false;
    }
    !token && post
}

/// `X-Atlassian-Token: no-check` (any case), or the deprecated `nocheck`.
pub fn has_token(h: &HeaderMap) -> bool {
    h.get("X-Atlassian-Token")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.eq_ignore_ascii_case("no-check") || t.eq_ignore_ascii_case("nocheck"))
}

/// The refusal: the filter's exception carries the bare text as its entity.
pub fn refusal() -> Response {
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/plain;charset=UTF-8")],
        "XSRF check failed",
    )
        .into_response()
}

fn user_agent(h: &HeaderMap) -> &str {
    h.get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// A browser family is named, except Internet Explorer sending the token (IE could not be told
/// apart from some old clients otherwise).
fn looks_like_browser(h: &HeaderMap, token: bool) -> bool {
    let ua = user_agent(h);
    let Some(family) = BROWSER_MARKERS.iter().find(|m| ua.contains(*m)) else {
        return false;
    };
    !(token && matches!(*family, "MSIE" | "Trident/"))
}

fn form_like(h: &HeaderMap) -> bool {
    let Some(ct) = h.get(header::CONTENT_TYPE) else {
        return true;
    };
    let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
    let essence = ct.split(';').next().unwrap_or("").trim();
    FORM_TYPES.contains(&essence)
}

/// Referer (query dropped) or Origin of the application itself, a browser extension, or an
/// origin the applinks CORS allowance trusts.
fn origin_allowed(input: &XsrfInput) -> bool {
    let h = input.headers;
    let header_str = |name: header::HeaderName| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
    };
    let referer = header_str(header::REFERER).map(|r| r.split('?').next().unwrap_or(r));
    let origin = header_str(header::ORIGIN);
    if referer.is_some_and(|r| same_origin(r, input.request_origin))
        || origin.is_some_and(|o| same_origin(o, input.request_origin))
    {
        return true;
    }
    let Some(origin) = origin else {
        return false;
    };
    if let Ok(u) = url::Url::parse(origin)
        && matches!(u.scheme(), "chrome-extension" | "safari-extension")
        && u.has_authority()
    {
        return true;
    }
    // Link CORS credentials are off unless an administrator enabled them (never, here), so
    // the allowance holds only for requests without cookies or Authorization.
    let credentials = h.contains_key(header::COOKIE) || header_str(header::AUTHORIZATION).is_some();
    !credentials
        && (input.link_rpc_urls)()
            .iter()
            .any(|rpc| same_origin(origin, rpc))
}

/// Scheme, host (any case) and port, default ports filled in.
fn same_origin(a: &str, b: &str) -> bool {
    let (Ok(a), Ok(b)) = (url::Url::parse(a), url::Url::parse(b)) else {
        return false;
    };
    if a.cannot_be_a_base() || b.cannot_be_a_base() {
        return false;
    }
    a.scheme() == b.scheme()
        && a.host_str().map(str::to_ascii_lowercase) == b.host_str().map(str::to_ascii_lowercase)
        && a.port_or_known_default() == b.port_or_known_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36";
    const OWN: &str = "http://jira.test:8080";

    /// Method, headers, refused.
    type Case<'a> = (Method, &'a [(&'a str, &'a str)], bool);

    fn decide(method: Method, pairs: &[(&str, &str)]) -> bool {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        let links = || vec!["http://confluence.test:8090/".to_string()];
        refused(&XsrfInput {
            method: &method,
            headers: &h,
            request_origin: OWN,
            link_rpc_urls: &links,
        })
    }

    #[test]
    fn token_rule_guards_form_like_posts_only() {
        let json = ("Content-Type", "application/json");
        let form = (
            "Content-Type",
            "application/x-www-form-urlencoded; charset=UTF-8",
        );
        let token = ("X-Atlassian-Token", "no-check");
        let table: &[Case] = &[
            (Method::POST, &[], true),
            (Method::POST, &[form], true),
            (Method::POST, &[("Content-Type", "text/plain")], true),
            (
                Method::POST,
                &[("Content-Type", "multipart/form-data; boundary=x")],
                true,
            ),
            (Method::POST, &[json], false),
            (Method::POST, &[("Content-Type", "application/xml")], false),
            (Method::POST, &[token], false),
            (Method::POST, &[("X-Atlassian-Token", "NoCheck")], false),
            (Method::POST, &[("X-Atlassian-Token", "yes")], true),
            // Other mutating methods are only logged.
            (Method::PUT, &[], false),
            (Method::PUT, &[form], false),
            (Method::DELETE, &[], false),
            (Method::PATCH, &[], false),
            (Method::GET, &[], false),
        ];
        for (m, h, want) in table {
            assert_eq!(decide(m.clone(), h), *want, "{m} {h:?}");
        }
    }

    #[test]
    fn browser_posts_must_come_from_the_application_or_a_trusted_origin() {
        let ua = ("User-Agent", CHROME);
        let json = ("Content-Type", "application/json");
        let token = ("X-Atlassian-Token", "no-check");
        let auth = ("Authorization", "Basic YTpi");
        let table: &[Case] = &[
            // No Origin or Referer at all: refused, token or not.
            (Method::POST, &[ua, json, token], true),
            (
                Method::POST,
                &[ua, json, token, ("Origin", "https://evil.test")],
                true,
            ),
            (
                Method::POST,
                &[ua, json, ("Origin", "http://JIRA.test:8080")],
                false,
            ),
            (
                Method::POST,
                &[
                    ua,
                    json,
                    ("Referer", "http://jira.test:8080/secure/X.jspa?a=1"),
                ],
                false,
            ),
            (
                Method::POST,
                &[ua, json, ("Origin", "http://jira.test")],
                true,
            ),
            (
                Method::POST,
                &[ua, json, ("Origin", "chrome-extension://abcdef")],
                false,
            ),
            // A linked application's origin, without credentials; with them, refused.
            (
                Method::POST,
                &[ua, json, ("Origin", "http://confluence.test:8090")],
                false,
            ),
            (
                Method::POST,
                &[ua, json, auth, ("Origin", "http://confluence.test:8090")],
                true,
            ),
            // Same origin, but a form POST still needs the token.
            (Method::POST, &[ua, ("Origin", OWN)], true),
            (Method::POST, &[ua, token, ("Origin", OWN)], false),
            // PUT and DELETE from a foreign origin are only logged.
            (
                Method::PUT,
                &[ua, json, ("Origin", "https://evil.test")],
                false,
            ),
            (
                Method::DELETE,
                &[ua, ("Origin", "https://evil.test")],
                false,
            ),
            // Internet Explorer with the token is not treated as a browser.
            (
                Method::POST,
                &[
                    ("User-Agent", "Mozilla/4.0 (compatible; MSIE 8.0)"),
                    json,
                    token,
                ],
                false,
            ),
            (
                Method::POST,
                &[("User-Agent", "Mozilla/4.0 (compatible; MSIE 8.0)"), json],
                true,
            ),
            // Clients that name no browser family.
            (
                Method::POST,
                &[("User-Agent", "applink-operator/0.1.0 (pod-1)"), json],
                false,
            ),
            (
                Method::POST,
                &[
                    ("User-Agent", "curl/8.5.0"),
                    json,
                    ("Origin", "https://evil.test"),
                ],
                false,
            ),
            (
                Method::POST,
                &[
                    ("User-Agent", "Mozilla/5.0"),
                    json,
                    ("Origin", "https://evil.test"),
                ],
                false,
            ),
        ];
        for (m, h, want) in table {
            assert_eq!(decide(m.clone(), h), *want, "{m} {h:?}");
        }
    }
}
