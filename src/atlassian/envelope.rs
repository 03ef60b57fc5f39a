//! Atlassian response envelopes: the `Status` entity of atlassian-rest, the classic
//! `ErrorListEntity`, V3 `RestErrors` and the allowlist's error maps (docs/protocol.md,
//! Errors and retries; Allowlist).

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Longest server message we carry into errors (and so into Kubernetes conditions).
const MAX_MESSAGE_CHARS: usize = 400;

/// A `{"href":…, "rel":…}` link inside an entity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestLink {
    #[serde(default)]
    pub href: Option<String>,
    #[serde(default)]
    pub rel: Option<String>,
}

/// The `Status` entity (`{"status-code":201,"resources-created":[…]}`); also the body of a
/// successful `authenticationinfo` call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct StatusEnvelope {
    #[serde(rename = "status-code", default)]
    pub status_code: Option<u16>,
    #[serde(rename = "sub-code", default)]
    pub sub_code: Option<i64>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(
        rename = "resources-created",
        default,
        deserialize_with = "one_or_many"
    )]
    pub resources_created: Vec<RestLink>,
    #[serde(
        rename = "resources-updated",
        default,
        deserialize_with = "one_or_many"
    )]
    pub resources_updated: Vec<RestLink>,
}

/// Accepts `x`, `[x, …]` or `null`. Jersey's JSON rendering of JAXB lists sometimes collapses a
/// one-element list into the element itself, so every repeated field goes through this.
pub(crate) fn one_or_many<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany<T> {
        Many(Vec<T>),
        One(T),
    }
    Ok(match Option::<OneOrMany<T>>::deserialize(deserializer)? {
        None => Vec::new(),
        Some(OneOrMany::Many(v)) => v,
        Some(OneOrMany::One(x)) => vec![x],
    })
}

/// Extracts a human-readable message from an error body, whatever envelope it uses.
/// Returns `None` when nothing useful is found (empty body, HTML page, …).
pub(crate) fn error_message(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?.trim();
    if text.is_empty() {
        return None;
    }
    let messages = if text.starts_with('{') || text.starts_with('[') {
        let value: Value = serde_json::from_str(text).ok()?;
        json_messages(&value)
    } else if text.starts_with('<') {
        xml_messages(text)
    } else {
        // Plain text (e.g. a proxy's "Service Unavailable"): keep the first line.
        vec![text.lines().next().unwrap_or_default().to_owned()]
    };
    let joined = messages
        .into_iter()
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    if joined.is_empty() {
        None
    } else {
        Some(truncate(&joined))
    }
}

fn truncate(s: &str) -> String {
    if s.chars().count() <= MAX_MESSAGE_CHARS {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(MAX_MESSAGE_CHARS).collect();
        out.push('…');
        out
    }
}

fn json_messages(value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let Some(obj) = value.as_object() else {
        return out;
    };
    // Status and ErrorListEntity: "message" is a string or a list of strings.
    if let Some(m) = obj.get("message") {
        push_strings(m, &mut out);
    }
    // Jira-style {"errorMessages":[…], "errors":{field: msg}}.
    if let Some(m) = obj.get("errorMessages") {
        push_strings(m, &mut out);
    }
    match obj.get("errors") {
        // V3 RestErrors: [{"context":…, "summary":…, "details":…}].
        Some(Value::Array(items)) => {
            for item in items {
                match item {
                    Value::Object(e) => {
                        let summary = e.get("summary").and_then(Value::as_str);
                        let details = e.get("details").and_then(Value::as_str);
                        let context = e.get("context").and_then(Value::as_str);
                        let mut line = match (summary, details) {
                            (Some(s), Some(d)) if s != d => format!("{s} ({d})"),
                            (Some(s), _) => s.to_owned(),
                            (None, Some(d)) => d.to_owned(),
                            (None, None) => continue,
                        };
                        if let Some(c) = context {
                            line = format!("{c}: {line}");
                        }
                        out.push(line);
                    }
                    other => push_strings(other, &mut out),
                }
            }
        }
        // Allowlist and Jira field errors: {"expression":"…"}.
        Some(Value::Object(fields)) => {
            for (field, msg) in fields {
                if let Some(m) = msg.as_str() {
                    out.push(format!("{field}: {m}"));
                }
            }
        }
        _ => {}
    }
    if let Some(fields) = obj.get("fields") {
        let mut names = Vec::new();
        push_strings(fields, &mut names);
        if !names.is_empty() {
            out.push(format!("fields: {}", names.join(", ")));
        }
    }
    out
}

fn push_strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|i| push_strings(i, out)),
        _ => {}
    }
}

/// `<status><message>…</message></status>` and `<error><message>…</message></error>`.
fn xml_messages(text: &str) -> Vec<String> {
    xml_leaf_texts(text)
        .into_iter()
        .filter(|(name, _)| name == "message")
        .map(|(_, value)| value)
        .collect()
}

/// Flattens an XML document into `(element name, text)` pairs for every element that holds
/// text, in document order. Enough for the flat Atlassian entities (manifest, status, consumer
/// info); returns what it parsed so far if the document is broken.
pub(crate) fn xml_leaf_texts(text: &str) -> Vec<(String, String)> {
    use quick_xml::Reader;
    use quick_xml::events::Event;

    let mut reader = Reader::from_str(text);
    let mut out = Vec::new();
    let mut current: Option<(String, String)> = None;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                let name = e.local_name().as_ref().to_owned();
                current = Some((name, String::new()));
            }
            Ok(Event::Text(t)) => {
                if let Some((_, buf)) = current.as_mut() {
                    buf.push_str(&t.xml10_content());
                }
            }
            Ok(Event::CData(t)) => {
                if let Some((_, buf)) = current.as_mut() {
                    buf.push_str(&t.into_inner());
                }
            }
            Ok(Event::GeneralRef(r)) => {
                if let Some((_, buf)) = current.as_mut() {
                    let entity = format!("&{};", r.xml10_content());
                    match quick_xml::escape::unescape(&entity) {
                        Ok(resolved) => buf.push_str(&resolved),
                        Err(_) => buf.push_str(&entity),
                    }
                }
            }
            Ok(Event::End(_)) => {
                if let Some((name, value)) = current.take() {
                    let value = value.trim().to_owned();
                    if !value.is_empty() {
                        out.push((name, value));
                    }
                }
            }
            Ok(Event::Eof) | Err(_) => break,
            Ok(_) => {}
        }
    }
    out
}

/// Declares a string enum that keeps unrecognised values (newer applinks versions may add some).
macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $wire:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(from = "String", into = "String")]
        pub enum $name {
            $($variant,)*
            Other(String),
        }

        impl $name {
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $wire,)*
                    Self::Other(s) => s,
                }
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                match s.as_str() {
                    $($wire => Self::$variant,)*
                    _ => Self::Other(s),
                }
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.as_str().to_owned()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use wire_enum;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_envelope_with_created_resources() {
        // Shape from docs/protocol.md, Errors and retries (as parsed by Atlassian's own
        // integration tests).
        let body = br#"{"status-code":201,"resources-created":[{"href":"https://bb/rest/applinks/3.0/applicationlink/8c1d7a5e-0d8f-3a0b-9c55-2f6d2d2b1a11","rel":"self"}]}"#;
        let status: StatusEnvelope = serde_json::from_slice(body).unwrap();
        assert_eq!(status.status_code, Some(201));
        assert_eq!(status.resources_created.len(), 1);
        assert_eq!(status.resources_created[0].rel.as_deref(), Some("self"));
        // A collapsed single-element list is accepted too.
        let body = br#"{"status-code":201,"resources-created":{"href":"h","rel":"self"}}"#;
        let status: StatusEnvelope = serde_json::from_slice(body).unwrap();
        assert_eq!(status.resources_created[0].href.as_deref(), Some("h"));
    }

    #[test]
    fn error_messages_from_every_envelope() {
        assert_eq!(
            error_message(br#"{"message":"Deleted application with id 'x'","status-code":200}"#)
                .as_deref(),
            Some("Deleted application with id 'x'")
        );
        assert_eq!(
            error_message(
                br#"{"status":400,"message":["Name in use","URL bad"],"fields":["name"]}"#
            )
            .as_deref(),
            Some("Name in use; URL bad; fields: name")
        );
        assert_eq!(
            error_message(
                br#"{"status":409,"errors":[{"context":"rpcUrl","summary":"Cannot reach","details":"timeout"}]}"#
            )
            .as_deref(),
            Some("rpcUrl: Cannot reach (timeout)")
        );
        assert_eq!(
            error_message(br#"{"errors":{"expression":"Invalid expression"}}"#).as_deref(),
            Some("expression: Invalid expression")
        );
        assert_eq!(
            error_message(b"<status><status-code>401</status-code><message>applinks.error.only.admin</message></status>")
                .as_deref(),
            Some("applinks.error.only.admin")
        );
        assert_eq!(error_message(b""), None);
        assert_eq!(error_message(b"{}"), None);
        let long = format!(r#"{{"message":"{}"}}"#, "x".repeat(1000));
        assert!(error_message(long.as_bytes()).unwrap().chars().count() <= MAX_MESSAGE_CHARS + 1);
    }
}
