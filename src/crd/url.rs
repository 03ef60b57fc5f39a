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
                    "rule": "self.matches('^[a-zA-Z]+://[^/?#@\\\\s]+(/[^\\\\s]*)?$')",
                    "message": "must have a host and no spaces, e.g. https://jira.example.com:8443/jira"
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
