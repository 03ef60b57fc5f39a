//! The simulator's own protocol entities (docs/simulator.md#link-resources and
//! around), rendered as XML or JSON.
//! Deliberately independent of the operator's client types.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::wire::xml::El;

/// `ManifestEntity` as served by an application (docs/simulator.md#manifest).
#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    pub id: String,
    pub name: String,
    pub type_id: String,
    pub version: String,
    pub build_number: i64,
    pub applinks_version: String,
    pub inbound: Vec<String>,
    pub outbound: Vec<String>,
    pub public_signup: bool,
    pub url: String,
    pub icon_url: String,
    pub icon_uri: String,
}

impl Manifest {
    pub fn json(&self) -> Value {
        json!({
            "id": self.id, "name": self.name, "typeId": self.type_id, "version": self.version,
            "buildNumber": self.build_number, "applinksVersion": self.applinks_version,
            "inboundAuthenticationTypes": self.inbound,
            "outboundAuthenticationTypes": self.outbound,
            "publicSignup": self.public_signup, "url": self.url,
            "iconUrl": self.icon_url, "iconUri": self.icon_uri,
        })
    }

    pub fn xml(&self) -> El {
        El::new("manifest")
            .leaf("id", &self.id)
            .leaf("name", &self.name)
            .leaf("typeId", &self.type_id)
            .leaf("version", &self.version)
            .leaf("buildNumber", self.build_number)
            .leaf("applinksVersion", &self.applinks_version)
            .children(
                self.inbound
                    .iter()
                    .map(|t| El::new("inboundAuthenticationTypes").text(t)),
            )
            .children(
                self.outbound
                    .iter()
                    .map(|t| El::new("outboundAuthenticationTypes").text(t)),
            )
            .leaf("publicSignup", self.public_signup)
            .leaf("url", &self.url)
            .leaf("iconUrl", &self.icon_url)
            .leaf("iconUri", &self.icon_uri)
    }
}

/// A manifest as read from a peer (XML or JSON); tolerant of missing fields.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestIn {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub type_id: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub applinks_version: Option<String>,
    #[serde(default)]
    pub inbound_authentication_types: Vec<String>,
    #[serde(default)]
    pub url: Option<String>,
}

/// The classic `applicationLink` entity as received in a request body (XML or JSON).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkEntityIn {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub type_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub display_url: Option<String>,
    #[serde(default)]
    pub rpc_url: Option<String>,
    #[serde(default)]
    pub is_primary: Option<bool>,
}

/// An `href`/`rel` link as used by Status and LinkedEntity.
#[derive(Clone, Debug)]
pub struct Href {
    pub href: String,
    pub rel: String,
}

impl Href {
    pub fn json(&self) -> Value {
        json!({"href": self.href, "rel": self.rel})
    }

    pub fn xml(&self) -> El {
        El::new("link")
            .attr("href", &self.href)
            .attr("rel", &self.rel)
    }
}

/// The atlassian-rest `Status` envelope.
#[derive(Clone, Debug, Default)]
pub struct StatusEnv {
    pub code: u16,
    pub message: Option<String>,
    pub created: Vec<Href>,
    pub updated: Vec<Href>,
}

impl StatusEnv {
    pub fn new(code: u16) -> Self {
        StatusEnv {
            code,
            ..Default::default()
        }
    }

    pub fn message(code: u16, message: impl Into<String>) -> Self {
        StatusEnv {
            code,
            message: Some(message.into()),
            ..Default::default()
        }
    }

    pub fn json(&self) -> Value {
        let mut v = json!({"status-code": self.code});
        if let Some(m) = &self.message {
            v["message"] = json!(m);
        }
        if !self.created.is_empty() {
            v["resources-created"] = self.created.iter().map(Href::json).collect();
        }
        if !self.updated.is_empty() {
            v["resources-updated"] = self.updated.iter().map(Href::json).collect();
        }
        v
    }

    pub fn xml(&self) -> El {
        let mut el = El::new("status")
            .leaf("status-code", self.code)
            .opt_leaf("message", self.message.as_ref());
        if !self.created.is_empty() {
            el =
                el.child(El::new("resources-created").children(self.created.iter().map(Href::xml)));
        }
        if !self.updated.is_empty() {
            el =
                el.child(El::new("resources-updated").children(self.updated.iter().map(Href::xml)));
        }
        el
    }
}

/// `ErrorListEntity` of the classic resources (400/409).
#[derive(Clone, Debug)]
pub struct ErrorList {
    pub status: u16,
    pub messages: Vec<String>,
    pub fields: Vec<String>,
}

impl ErrorList {
    pub fn json(&self) -> Value {
        let mut v = json!({"status": self.status, "message": self.messages});
        if !self.fields.is_empty() {
            v["fields"] = json!(self.fields);
        }
        v
    }

    pub fn xml(&self) -> El {
        El::new("error")
            .attr("status", self.status)
            .children(self.messages.iter().map(|m| El::new("message").text(m)))
            .children(self.fields.iter().map(|f| El::new("fields").text(f)))
    }
}

/// V3 `RestErrors`.
pub fn v3_errors(status: u16, summary: &str, context: Option<&str>) -> Value {
    let mut err = json!({"summary": summary});
    if let Some(c) = context {
        err["context"] = json!(c);
    }
    json!({"status": status, "errors": [err]})
}

/// `RestOAuthConfig` (docs/simulator.md#oauth-configuration).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuthCfg {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub two_lo_enabled: bool,
    #[serde(default)]
    pub two_lo_impersonation_enabled: bool,
}

/// Cumulative OAuth levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    #[default]
    Disabled,
    ThreeLoOnly,
    Default,
    Impersonation,
}

impl Level {
    /// Input rule of the status API: `enabled:false` ⇒ disabled, then the highest flag wins.
    pub fn from_cfg(c: OAuthCfg) -> Level {
        if !c.enabled {
            Level::Disabled
        } else if c.two_lo_impersonation_enabled {
            Level::Impersonation
        } else if c.two_lo_enabled {
            Level::Default
        } else {
            Level::ThreeLoOnly
        }
    }

    pub fn cfg(self) -> OAuthCfg {
        OAuthCfg {
            enabled: self != Level::Disabled,
            two_lo_enabled: self >= Level::Default,
            two_lo_impersonation_enabled: self == Level::Impersonation,
        }
    }
}

/// Body of `GET/PUT status/{id}/oauth`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthPair {
    #[serde(default)]
    pub incoming: OAuthCfg,
    #[serde(default)]
    pub outgoing: OAuthCfg,
}

/// Consumer information exchanged through `/plugins/servlet/oauth/consumer-info`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerInfoIn {
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub public_key: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub callback: Option<String>,
}

/// Parses a body that may be XML or JSON, sniffing the first significant character.
pub fn parse_xml_or_json<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, String> {
    let text = std::str::from_utf8(body).map_err(|e| e.to_string())?;
    let trimmed = text.trim_start();
    if trimmed.starts_with('<') {
        quick_xml::de::from_str(trimmed).map_err(|e| e.to_string())
    } else {
        serde_json::from_str(trimmed).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_input_rules() {
        let c = |e, t, i| OAuthCfg {
            enabled: e,
            two_lo_enabled: t,
            two_lo_impersonation_enabled: i,
        };
        assert_eq!(Level::from_cfg(c(false, true, true)), Level::Disabled);
        assert_eq!(Level::from_cfg(c(true, false, true)), Level::Impersonation);
        assert_eq!(Level::from_cfg(c(true, true, false)), Level::Default);
        assert_eq!(Level::from_cfg(c(true, false, false)), Level::ThreeLoOnly);
        assert_eq!(Level::Impersonation.cfg(), c(true, true, true));
    }

    #[test]
    fn parses_xml_manifest_with_repeated_elements() {
        let xml = "<?xml version=\"1.0\"?><manifest><id>a</id><typeId>jira</typeId>\
            <inboundAuthenticationTypes>x</inboundAuthenticationTypes>\
            <inboundAuthenticationTypes>y</inboundAuthenticationTypes>\
            <applinksVersion>9.1.4</applinksVersion><unknown>z</unknown></manifest>";
        let m: ManifestIn = parse_xml_or_json(xml.as_bytes()).unwrap();
        assert_eq!(m.id.as_deref(), Some("a"));
        assert_eq!(m.inbound_authentication_types, vec!["x", "y"]);
        assert_eq!(m.applinks_version.as_deref(), Some("9.1.4"));
    }

    #[test]
    fn parses_xml_link_with_attribute_children() {
        let xml = "<applicationLink><id>1</id><name>J</name><isPrimary>true</isPrimary>\
            <link href=\"h\" rel=\"self\"/></applicationLink>";
        let l: LinkEntityIn = parse_xml_or_json(xml.as_bytes()).unwrap();
        assert_eq!(l.is_primary, Some(true));
        assert_eq!(l.name.as_deref(), Some("J"));
    }
}
