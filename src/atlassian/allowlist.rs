//! Allowlist ("whitelist") rules, needed to link a cloud site to a server: the cloud domain gets
//! an inbound rule on the server. The REST module's base path is not confirmed anywhere public,
//! so the client probes the candidates in [`BASES`] once, remembers the one that answered, and
//! names every path it tried when none did. Everything but `check` needs an administrator.

use serde::{Deserialize, Deserializer, Serialize};

use super::client::{AtlassianClient, Call};
use super::envelope::{one_or_many, wire_enum};
use super::error::ApiError;

/// Candidate base paths, in the order tried (docs/protocol.md, Allowlist).
pub const BASES: [&str; 2] = ["rest/whitelist/latest", "rest/whitelist/1.0"];

wire_enum! {
    /// Rule type (`"whitelist." + enum name, lower case, '_' → '.'`).
    AllowlistRuleType {
        ApplicationLink = "whitelist.application.link",
        DomainName = "whitelist.domain.name",
        ExactUrl = "whitelist.exact.url",
        WildcardExpression = "whitelist.wildcard.expression",
        RegularExpression = "whitelist.regular.expression",
    }
}

/// A stored rule (`WhitelistBean`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AllowlistRule {
    #[serde(default, deserialize_with = "id_string")]
    pub id: Option<String>,
    #[serde(default)]
    pub expression: String,
    #[serde(rename = "type")]
    pub rule_type: AllowlistRuleType,
    #[serde(default)]
    pub allow_inbound: bool,
    #[serde(default)]
    pub allow_anonymous_user: bool,
    #[serde(default)]
    pub icon_url: Option<String>,
}

impl AllowlistRule {
    /// Whether this rule's expression is `expression`; the products match domain rules
    /// ignoring case, so the comparison does too.
    pub fn names(&self, expression: &str) -> bool {
        crate::crd::same_url(&self.expression, expression)
    }

    /// An inbound rule for exactly this domain.
    pub fn allows_inbound_from(&self, domain: &str) -> bool {
        self.rule_type == AllowlistRuleType::DomainName && self.allow_inbound && self.names(domain)
    }
}

/// Body of a create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewAllowlistRule {
    pub expression: String,
    #[serde(rename = "type")]
    pub rule_type: AllowlistRuleType,
    /// Allow requests *from* matching origins (CORS); what a cloud peer needs.
    pub allow_inbound: bool,
    pub allow_anonymous_user: bool,
}

impl NewAllowlistRule {
    /// An inbound, authenticated-only rule, e.g. for a cloud site's domain.
    pub fn inbound(rule_type: AllowlistRuleType, expression: impl Into<String>) -> Self {
        Self {
            expression: expression.into(),
            rule_type,
            allow_inbound: true,
            allow_anonymous_user: false,
        }
    }

    fn matches(&self, rule: &AllowlistRule) -> bool {
        rule.rule_type == self.rule_type && rule.names(&self.expression)
    }
}

/// Partial update: absent fields keep their stored values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AllowlistRuleUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub rule_type: Option<AllowlistRuleType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_inbound: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_anonymous_user: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RulePage {
    #[serde(default, deserialize_with = "one_or_many")]
    rules: Vec<AllowlistRule>,
    #[serde(default)]
    total_pages: Option<u32>,
}

/// Rule ids are numbers in the bean; accept strings as well.
fn id_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s),
        _ => None,
    })
}

/// Upper bound on pages read, in case a server ignores the `page` parameter.
const MAX_PAGES: u32 = 50;

impl AtlassianClient {
    /// The allowlist's base path on this application, and its first page of rules: the
    /// candidates are tried in order the first time, and the one that answered is remembered.
    async fn allowlist_first_page(&self) -> Result<(&'static str, RulePage), ApiError> {
        let candidates: Vec<&'static str> = match self.allowlist_base_known() {
            Some(base) => vec![base],
            None => BASES.to_vec(),
        };
        let mut tried = Vec::new();
        for base in candidates {
            match self
                .execute(Call::get(base).admin("reading the allowlist"))
                .await
            {
                Ok(reply) => {
                    self.set_allowlist_base(base);
                    return Ok((base, reply.json()?));
                }
                Err(ApiError::NotFound { url, .. }) => tried.push(url),
                Err(e) => return Err(e),
            }
        }
        Err(ApiError::AllowlistNotFound {
            url: self.base_url().to_string(),
            tried,
        })
    }

    /// The base path, probed with a list if not known yet.
    async fn allowlist_base(&self) -> Result<&'static str, ApiError> {
        match self.allowlist_base_known() {
            Some(base) => Ok(base),
            None => Ok(self.allowlist_first_page().await?.0),
        }
    }

    /// All rules: `GET rest/whitelist/latest` (`{"rules":[…],"page":1,"totalPages":n}`);
    /// further pages via `?page=N` (parameter name inferred), de-duplicated by id.
    pub async fn list_allowlist_rules(&self) -> Result<Vec<AllowlistRule>, ApiError> {
        let (base, first) = self.allowlist_first_page().await?;
        let total = first.total_pages.unwrap_or(1).min(MAX_PAGES);
        let mut rules = first.rules;
        for page in 2..=total {
            let next: RulePage = self
                .execute(
                    Call::get(base)
                        .query("page", page.to_string())
                        .admin("reading the allowlist"),
                )
                .await?
                .json()?;
            for rule in next.rules {
                if rule.id.is_none() || !rules.iter().any(|r| r.id == rule.id) {
                    rules.push(rule);
                }
            }
        }
        Ok(rules)
    }

    /// `POST rest/whitelist/latest` (not retried); returns the stored rule.
    pub async fn create_allowlist_rule(
        &self,
        rule: &NewAllowlistRule,
    ) -> Result<AllowlistRule, ApiError> {
        let base = self.allowlist_base().await?;
        self.execute(
            Call::post(base)
                .json(rule)
                .admin("adding an allowlist rule"),
        )
        .await?
        .json()
    }

    /// `PUT rest/whitelist/latest/{id}` with a partial rule.
    pub async fn update_allowlist_rule(
        &self,
        id: &str,
        update: &AllowlistRuleUpdate,
    ) -> Result<AllowlistRule, ApiError> {
        let base = self.allowlist_base().await?;
        self.execute(
            Call::put(base)
                .segment(id)
                .json(update)
                .admin("updating an allowlist rule"),
        )
        .await?
        .json()
    }

    /// Idempotent create: returns the rule with the same type and expression if there is one
    /// (fixing its inbound/anonymous flags), otherwise creates it.
    pub async fn ensure_allowlist_rule(
        &self,
        wanted: &NewAllowlistRule,
    ) -> Result<AllowlistRule, ApiError> {
        let existing = self
            .list_allowlist_rules()
            .await?
            .into_iter()
            .find(|r| wanted.matches(r));
        match existing {
            Some(rule)
                if rule.allow_inbound == wanted.allow_inbound
                    && rule.allow_anonymous_user == wanted.allow_anonymous_user =>
            {
                Ok(rule)
            }
            Some(AllowlistRule { id: Some(id), .. }) => {
                self.update_allowlist_rule(
                    &id,
                    &AllowlistRuleUpdate {
                        allow_inbound: Some(wanted.allow_inbound),
                        allow_anonymous_user: Some(wanted.allow_anonymous_user),
                        ..Default::default()
                    },
                )
                .await
            }
            _ => self.create_allowlist_rule(wanted).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atlassian::test_support::*;
    use wiremock::Mock;
    use wiremock::matchers::{body_json, method, path};

    const RULES: &str = r#"{"rules":[
        {"id":1,"expression":"2841b105-5904-3c0a-9710-1ff26ae88206","type":"whitelist.application.link","allowInbound":false,"allowAnonymousUser":false,"iconUrl":"i"},
        {"id":2,"expression":"https://acme.atlassian.net","type":"whitelist.domain.name","allowInbound":false,"allowAnonymousUser":false}
    ],"page":1,"totalPages":1}"#;

    #[tokio::test]
    async fn list_rules() {
        let server = server().await;
        Mock::given(method("GET"))
            .and(path("/rest/whitelist/latest"))
            .respond_with(json_response(200, RULES))
            .mount(&server)
            .await;
        let rules = admin_client(&server).list_allowlist_rules().await.unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].rule_type, AllowlistRuleType::ApplicationLink);
        assert_eq!(rules[1].id.as_deref(), Some("2"));
        assert_eq!(rules[1].rule_type.as_str(), "whitelist.domain.name");
    }

    #[tokio::test]
    async fn ensure_updates_flags_of_existing_rule() {
        let server = server().await;
        Mock::given(method("GET"))
            .and(path("/rest/whitelist/latest"))
            .respond_with(json_response(200, RULES))
            .mount(&server)
            .await;
        Mock::given(method("PUT"))
            .and(path("/rest/whitelist/latest/2"))
            .and(body_json(serde_json::json!({"allowInbound": true, "allowAnonymousUser": false})))
            .respond_with(json_response(
                200,
                r#"{"id":2,"expression":"https://acme.atlassian.net","type":"whitelist.domain.name","allowInbound":true,"allowAnonymousUser":false}"#,
            ))
            .expect(1)
            .mount(&server)
            .await;
        let rule = admin_client(&server)
            .ensure_allowlist_rule(&NewAllowlistRule::inbound(
                AllowlistRuleType::DomainName,
                "https://acme.atlassian.net",
            ))
            .await
            .unwrap();
        assert!(rule.allow_inbound);
    }

    #[tokio::test]
    async fn ensure_creates_missing_rule_and_maps_validation_errors() {
        let server = server().await;
        Mock::given(method("GET"))
            .and(path("/rest/whitelist/latest"))
            .respond_with(json_response(
                200,
                r#"{"rules":[],"page":0,"totalPages":0}"#,
            ))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/rest/whitelist/latest"))
            .and(body_json(serde_json::json!({
                "expression":"https://beta.atlassian.net","type":"whitelist.domain.name",
                "allowInbound":true,"allowAnonymousUser":false
            })))
            .respond_with(json_response(
                200,
                r#"{"id":7,"expression":"https://beta.atlassian.net","type":"whitelist.domain.name","allowInbound":true,"allowAnonymousUser":false}"#,
            ))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/rest/whitelist/latest"))
            .respond_with(json_response(
                400,
                r#"{"errors":{"expression":"Invalid regular expression"}}"#,
            ))
            .mount(&server)
            .await;
        let client = admin_client(&server);
        let rule = client
            .ensure_allowlist_rule(&NewAllowlistRule::inbound(
                AllowlistRuleType::DomainName,
                "https://beta.atlassian.net",
            ))
            .await
            .unwrap();
        assert_eq!(rule.id.as_deref(), Some("7"));
        let err = client
            .create_allowlist_rule(&NewAllowlistRule::inbound(
                AllowlistRuleType::RegularExpression,
                "(",
            ))
            .await
            .unwrap_err();
        assert_eq!(err.reason(), "RequestRejected");
        assert!(
            err.to_string()
                .contains("expression: Invalid regular expression"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn base_path_is_probed_once_and_remembered() {
        let server = server().await;
        Mock::given(method("GET"))
            .and(path("/rest/whitelist/1.0"))
            .respond_with(json_response(200, RULES))
            .expect(2)
            .mount(&server)
            .await;
        let client = admin_client(&server);
        assert_eq!(client.list_allowlist_rules().await.unwrap().len(), 2);
        assert_eq!(client.list_allowlist_rules().await.unwrap().len(), 2);
        let latest = server
            .received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|r| r.url.path() == "/rest/whitelist/latest")
            .count();
        assert_eq!(latest, 1, "the 404 path is tried once, not on every call");
    }

    #[tokio::test]
    async fn no_allowlist_anywhere_names_every_path_tried() {
        let server = server().await;
        let err = admin_client(&server)
            .list_allowlist_rules()
            .await
            .unwrap_err();
        assert_eq!(err.reason(), "AllowlistNotFound");
        let text = err.to_string();
        assert!(
            text.contains("/rest/whitelist/latest") && text.contains("/rest/whitelist/1.0"),
            "{text}"
        );
    }

    #[test]
    fn domain_rules_match_ignoring_case() {
        let rule: AllowlistRule = serde_json::from_str(
            r#"{"id":2,"expression":"https://ACME.atlassian.net","type":"whitelist.domain.name","allowInbound":true,"allowAnonymousUser":false,"allowEdit":true,"allowDelete":true}"#,
        )
        .unwrap();
        assert!(rule.allows_inbound_from("https://acme.atlassian.net"));
        assert!(!rule.allows_inbound_from("https://other.atlassian.net"));
    }
}
