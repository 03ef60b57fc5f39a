//! Basic authentication blocked by the authentication plugin (docs/simulator.md#basic-authentication-blocked):
//! which Basic requests still pass (allowed paths and users, exact or wildcard) and the
//! refusal, negotiated by `Accept`.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::profile::Settings;

/// The refusal's text (the products' i18n key `authentication.basic.auth.disabled.filter.message`;
/// this wording is the one third-party reports quote).
pub const MESSAGE: &str = "Basic Authentication has been disabled on this instance.";

/// Whether a Basic request of `username` for `path` is refused: blocking is on (REST only here)
/// and neither the path nor the user is allowed.
pub fn blocked(settings: &Settings, username: &str, path: &str) -> bool {
    if settings.basic_auth || !path.starts_with("/rest/") {
        return false;
    }
    let path = normalize_path(path);
    let path_allowed = settings
        .basic_auth_allowed_paths
        .iter()
        .map(|p| normalize_pattern(p))
        .any(|p| matches(&path, &p));
    let user_allowed = settings
        .basic_auth_allowed_users
        .iter()
        .any(|u| matches(username, u));
    !(path_allowed || user_allowed)
}

/// How the configuration stores an allowed path: a leading `/` unless it starts with a
/// wildcard, no trailing `/`.
pub fn normalize_pattern(p: &str) -> String {
    let p = if p.starts_with(['*', '?']) || p.starts_with('/') {
        p.to_string()
    } else {
        format!("/{p}")
    };
    p.strip_suffix('/').map(str::to_string).unwrap_or(p)
}

fn normalize_path(p: &str) -> String {
    let p = if p.starts_with('/') {
        p.to_string()
    } else {
        format!("/{p}")
    };
    p.strip_suffix('/').map(str::to_string).unwrap_or(p)
}

/// Exact unless the entry holds `*` (any run of characters) or `?` (one character); case
/// matters.
fn matches(value: &str, pattern: &str) -> bool {
    if !pattern.contains(['*', '?']) {
        return value == pattern;
    }
    wildcard(
        &value.chars().collect::<Vec<_>>(),
        &pattern.chars().collect::<Vec<_>>(),
    )
}

fn wildcard(v: &[char], p: &[char]) -> bool {
    // Iterative matching with backtracking to the last `*`.
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while i < v.len() {
        if j < p.len() && (p[j] == '?' || p[j] == v[i]) {
            i += 1;
            j += 1;
        } else if j < p.len() && p[j] == '*' {
            star = Some((j, i));
            j += 1;
        } else if let Some((sj, si)) = star {
            j = sj + 1;
            i = si + 1;
            star = Some((sj, si + 1));
        } else {
            return false;
        }
    }
    p[j..].iter().all(|c| *c == '*')
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Json,
    Xml,
    Text,
}

const KINDS: [(Kind, &str, &str); 3] = [
    (Kind::Json, "application", "json"),
    (Kind::Xml, "application", "xml"),
    (Kind::Text, "text", "plain"),
];

/// The first allowed type compatible with `Accept` (highest quality first, concrete types
/// before wildcards), else the request's own `Content-Type` if it is one of them, else JSON.
fn kind(h: &HeaderMap) -> Kind {
    let accept = h
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut ranges: Vec<(f32, bool, bool, String, String)> = accept
        .split(',')
        .filter_map(|r| {
            let mut parts = r.split(';');
            let (t, s) = parts.next()?.trim().split_once('/')?;
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            let (t, s) = (t.trim().to_ascii_lowercase(), s.trim().to_ascii_lowercase());
            Some((q, t == "*", s == "*", t, s))
        })
        .collect();
    // Stable sort: quality descending, then concrete types, then concrete subtypes.
    ranges.sort_by(|a, b| {
        b.0.partial_cmp(&a.0)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.1.cmp(&b.1))
            .then(a.2.cmp(&b.2))
    });
    for (_, any_type, any_sub, t, s) in &ranges {
        for (k, kt, ks) in KINDS {
            if (*any_type || t == kt) && (*any_sub || s == ks) {
                return k;
            }
        }
    }
    let ct = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|c| c.trim().to_ascii_lowercase());
    KINDS
        .iter()
        .find(|(_, t, s)| ct.as_deref() == Some(format!("{t}/{s}").as_str()))
        .map(|(k, _, _)| *k)
        .unwrap_or(Kind::Json)
}

/// The 403 of a blocked Basic request: `{"message": …}`, a `<warning>` document, or the text.
pub fn refusal(h: &HeaderMap) -> Response {
    let (ct, body) = match kind(h) {
        Kind::Json => (
            "application/json;charset=UTF-8",
            serde_json::json!({ "message": MESSAGE }).to_string(),
        ),
        Kind::Xml => (
            "application/xml;charset=UTF-8",
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<warning>\n    <message>{MESSAGE}</message>\n</warning>\n"
            ),
        ),
        Kind::Text => ("text/plain;charset=UTF-8", MESSAGE.to_string()),
    };
    (StatusCode::FORBIDDEN, [(header::CONTENT_TYPE, ct)], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(users: &[&str], paths: &[&str]) -> Settings {
        let mut c = crate::config::AppConfig::new("x", crate::product::Product::Jira);
        c.version = Some("11.3.0".into());
        let mut s = crate::profile::Profile::of(&c).settings;
        s.basic_auth_allowed_users = users.iter().map(|u| u.to_string()).collect();
        s.basic_auth_allowed_paths = paths.iter().map(|p| p.to_string()).collect();
        s
    }

    #[test]
    fn paths_match_exactly_or_by_wildcard_never_by_prefix() {
        let s = settings(&[], &["rest/applinks/3.0/applinks/", "/rest/api/*/myself"]);
        let table = [
            ("/rest/applinks/3.0/applinks", false),
            ("/rest/applinks/3.0/applinks/", false),
            ("/rest/applinks/3.0/applinks/x", true),
            ("/rest/api/2/myself", false),
            ("/rest/api/2/myself/x", true),
            ("/rest/api/2/issue", true),
            ("/plugins/servlet/oauth/authorize", false),
        ];
        for (path, want) in table {
            assert_eq!(blocked(&s, "admin", path), want, "{path}");
        }
    }

    #[test]
    fn users_match_exactly_or_by_wildcard_with_case() {
        let s = settings(&["applink-operator", "svc-?i"], &[]);
        let table = [
            ("applink-operator", false),
            ("Applink-Operator", true),
            ("applink-operator2", true),
            ("svc-ci", false),
            ("svc-cii", true),
            ("admin", true),
        ];
        for (user, want) in table {
            assert_eq!(blocked(&s, user, "/rest/x"), want, "{user}");
        }
    }

    #[test]
    fn refusal_follows_accept_then_content_type() {
        let table: [(&[(&str, &str)], Kind); 7] = [
            (&[], Kind::Json),
            (&[("Accept", "application/xml")], Kind::Xml),
            (&[("Accept", "text/html, text/*;q=0.5")], Kind::Text),
            (
                &[("Accept", "application/xml;q=0.4, application/json")],
                Kind::Json,
            ),
            (&[("Accept", "*/*")], Kind::Json),
            (&[("Content-Type", "application/xml")], Kind::Xml),
            (
                &[("Accept", "text/html"), ("Content-Type", "text/plain")],
                Kind::Text,
            ),
        ];
        for (pairs, want) in table {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(
                    header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    v.parse().unwrap(),
                );
            }
            assert_eq!(kind(&h), want, "{pairs:?}");
        }
    }
}
