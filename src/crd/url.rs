//! The base URL of an application, validated by the API server.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// Base URL of an application (`https://jira.example.com`, `https://example.com/confluence`).
///
/// Its schema carries CEL rules, so a bad URL is refused by the API server, each rule with a
/// message that says what to change. A transparent string on the wire.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
#[serde(transparent)]
pub struct BaseUrl(pub String);

impl BaseUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The URL without trailing slashes, the form Atlassian applications compare URLs in.
    pub fn normalized(&self) -> &str {
        self.0.trim_end_matches('/')
    }

    /// Host part (without port), lower-cased; empty when the URL has none.
    pub fn host(&self) -> String {
        let rest = self.0.split_once("://").map(|(_, r)| r).unwrap_or(&self.0);
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = match authority.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(""),
            None => authority.split(':').next().unwrap_or(""),
        };
        host.to_ascii_lowercase()
    }

    pub fn is_https(&self) -> bool {
        self.0.to_ascii_lowercase().starts_with("https://")
    }

    /// Atlassian Cloud sites: `*.atlassian.net` (Jira, Confluence) and `bitbucket.org`.
    pub fn is_atlassian_cloud(&self) -> bool {
        let host = self.host();
        host.ends_with(".atlassian.net") || host == "bitbucket.org"
    }
}

/// Whether two URLs name the same place as Atlassian applications compare them: trailing
/// slashes ignored, case ignored. The one URL comparison of the operator.
pub fn same_url(a: &str, b: &str) -> bool {
    a.trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim_end_matches('/'))
}

impl std::fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for BaseUrl {
    fn from(s: &str) -> Self {
        BaseUrl(s.to_string())
    }
}

/// CEL regex matching an Atlassian Cloud host, shared by the rules that refuse impersonation.
pub(crate) const CLOUD_HOST_RE: &str =
    r"^[hH][tT][tT][pP][sS]?://([^/?#:]+\\.atlassian\\.net|bitbucket\\.org)(:[0-9]+)?(/.*)?$";

impl JsonSchema for BaseUrl {
    fn schema_name() -> Cow<'static, str> {
        "BaseUrl".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        // The rules that look at the authority apply only to http(s) URLs in printable ASCII
        // without user info, so that each bad URL gets the one message that fits it.
        const HTTP: &str = "^[hH][tT][tT][pP][sS]?://";
        const ASCII: &str = "^[!-~]*$";
        // A host name (labels of letters, digits, '-' and '_'), an IPv4 address, or an IPv6
        // address in brackets.
        const HOST: &str = r"([a-zA-Z0-9_]([a-zA-Z0-9_-]*[a-zA-Z0-9_])?(\\.[a-zA-Z0-9_]([a-zA-Z0-9_-]*[a-zA-Z0-9_])?)*\\.?|\\[[0-9a-fA-F:.]+\\])";
        // Host part before a port: a bracketed address, or a name without ':'.
        const BEFORE_PORT: &str = r"(\\[[^/?#@\\]]*\\]|[^/?#@:\\[\\]]*)";
        const PORT: &str = "(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})";
        let checked = format!(
            "self.matches('{HTTP}') && self.matches('{ASCII}') && !self.matches('{HTTP}[^/?#]*@')"
        );
        let bare_v6 = format!("self.matches('{HTTP}[^/?#@\\\\[]*:[^/?#@]*:')");
        json_schema!({
            "type": "string",
            "minLength": 1,
            "maxLength": 2048,
            "x-kubernetes-validations": [
                {
                    "rule": "self.matches('^[hH][tT][tT][pP][sS]?://')",
                    "message": "must start with http:// or https://, e.g. https://jira.example.com"
                },
                {
                    "rule": "!self.matches('^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*@')",
                    "message": "must not contain user info (user:password@): put credentials in a Secret and reference it with credentialsSecretRef"
                },
                {
                    "rule": "!self.contains('?')",
                    "message": "must not contain a query (?...): give the application's base URL, e.g. https://example.com/jira"
                },
                {
                    "rule": "!self.contains('#')",
                    "message": "must not contain a fragment (#...): give the application's base URL, e.g. https://example.com/jira"
                },
                {
                    "rule": format!("self.matches('{ASCII}')"),
                    "message": "must be printable ASCII without spaces or control characters: write an international host name in punycode (xn--...) and percent-encode anything else in the path (a space is %20)"
                },
                {
                    "rule": format!("!({checked}) || !{bare_v6}"),
                    "message": "an IPv6 address must be written in brackets, e.g. http://[2001:db8::1]:8080"
                },
                {
                    "rule": format!("!({checked}) || {bare_v6} || self.matches('{HTTP}{HOST}(:[^/?#]*)?([/?#].*)?$')"),
                    "message": "must have a host after the scheme (a host name, an IPv4 address or an IPv6 address in brackets), e.g. https://jira.example.com:8443/jira"
                },
                {
                    "rule": format!("!({checked}) || !self.matches('{HTTP}{BEFORE_PORT}:[^/?#@:]*([/?#].*)?$') || self.matches('{HTTP}{BEFORE_PORT}:{PORT}([/?#].*)?$')"),
                    "message": "the port must be a number from 1 to 65535, e.g. https://jira.example.com:8443 (or no port at all for the scheme's default)"
                }
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_cloud_detection() {
        let cases = [
            ("https://acme.atlassian.net", "acme.atlassian.net", true),
            (
                "https://ACME.atlassian.net:443/wiki/",
                "acme.atlassian.net",
                true,
            ),
            ("https://bitbucket.org", "bitbucket.org", true),
            (
                "https://atlassian.net.evil.example",
                "atlassian.net.evil.example",
                false,
            ),
            ("http://127.0.0.1:8080/jira", "127.0.0.1", false),
            ("http://[::1]:8080", "::1", false),
        ];
        for (url, host, cloud) in cases {
            let u = BaseUrl::from(url);
            assert_eq!(u.host(), host, "{url}");
            assert_eq!(u.is_atlassian_cloud(), cloud, "{url}");
        }
    }

    #[test]
    fn normalized_strips_trailing_slashes() {
        assert_eq!(
            BaseUrl::from("https://x/jira//").normalized(),
            "https://x/jira"
        );
    }
}
