//! Rendering the credentials Secret from the user's template (no client): pure, table-tested.
//! The secret value passes through here into the Secret's data and nowhere else.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::crd::{PLACEHOLDERS, SECRET_PLACEHOLDERS, SecretTemplate};

/// Annotations on the Secret that let the operator tell, without the client secret, whether the
/// Secret is still what it wrote (providers that show a secret only once): a digest of the
/// non-secret inputs and one of the data as written.
pub(super) const INPUTS_DIGEST: &str = "applinks.io/inputs-sha256";
pub(super) const DATA_DIGEST: &str = "applinks.io/data-sha256";
/// Label on every Secret the operator writes for an ExternalApplication (its name).
pub(super) const OWNER_LABEL: &str = "applinks.io/external-application";

/// The values placeholders expand to, except the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Inputs {
    pub(super) client_id: String,
    pub(super) authorize_url: String,
    pub(super) token_url: String,
    pub(super) base_url: String,
    pub(super) scope: String,
    pub(super) name: String,
}

impl Inputs {
    fn value(&self, placeholder: &str) -> Option<&str> {
        Some(match placeholder {
            "clientId" => &self.client_id,
            "authorizeUrl" => &self.authorize_url,
            "tokenUrl" => &self.token_url,
            "baseUrl" => &self.base_url,
            "scope" => &self.scope,
            "name" => &self.name,
            _ => return None,
        })
    }
}

/// The Secret's content as rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Rendered {
    pub(super) labels: BTreeMap<String, String>,
    pub(super) annotations: BTreeMap<String, String>,
    pub(super) data: BTreeMap<String, String>,
}

/// The keys a template without `data` gets.
fn default_data() -> BTreeMap<String, String> {
    [
        ("clientId", "{{ clientId }}"),
        ("clientSecret", "{{ clientSecret }}"),
        ("authorizeUrl", "{{ authorizeUrl }}"),
        ("tokenUrl", "{{ tokenUrl }}"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn data_of(template: &SecretTemplate) -> BTreeMap<String, String> {
    if template.data.is_empty() {
        default_data()
    } else {
        template.data.clone()
    }
}

/// Checks every placeholder; the error says which one is unknown or misplaced, and what exists.
pub(super) fn check(template: &SecretTemplate) -> Result<(), String> {
    let known = PLACEHOLDERS.join(", ");
    for (where_, map, secret_allowed) in [
        ("data", &data_of(template), true),
        ("annotations", &template.annotations, false),
    ] {
        for (key, value) in map {
            for name in placeholders(value)? {
                if !PLACEHOLDERS.contains(&name) {
                    return Err(format!(
                        "spec.secret.{where_}.{key} uses the unknown placeholder {{{{ {name} }}}}; the placeholders are {known}"
                    ));
                }
                if !secret_allowed && SECRET_PLACEHOLDERS.contains(&name) {
                    return Err(format!(
                        "spec.secret.{where_}.{key} uses {{{{ {name} }}}}, which is only allowed in spec.secret.data"
                    ));
                }
            }
        }
    }
    for key in data_of(template).keys() {
        if !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(format!(
                "spec.secret.data key {key:?} is not a valid Secret key: use letters, digits, '-', '_' and '.'"
            ));
        }
    }
    for value in template.labels.values() {
        if value.contains("{{") {
            return Err(
                "spec.secret.labels take literal values only; use annotations or data for placeholders"
                    .into(),
            );
        }
    }
    Ok(())
}

/// The placeholder names in a value, in order.
fn placeholders(value: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| {
            format!("{value:?} opens a placeholder with {{{{ but never closes it")
        })?;
        out.push(after[..end].trim());
        rest = &after[end + 2..];
    }
    Ok(out)
}

fn expand(value: &str, inputs: &Inputs, secret: Option<&str>) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            // `check` refuses this; keep the text as it is rather than guess.
            out.push_str(&rest[start..]);
            return out;
        };
        let name = after[..end].trim();
        match (name, secret) {
            ("clientSecret", Some(s)) => out.push_str(s),
            (n, _) => out.push_str(inputs.value(n).unwrap_or_default()),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// Renders the Secret. `secret` is the client secret (data only). The digests are added as
/// annotations; the owner label is added to the user's labels.
pub(super) fn render(
    template: &SecretTemplate,
    owner: &str,
    inputs: &Inputs,
    secret: &str,
) -> Rendered {
    let data: BTreeMap<String, String> = data_of(template)
        .iter()
        .map(|(k, v)| (k.clone(), expand(v, inputs, Some(secret))))
        .collect();
    let mut annotations: BTreeMap<String, String> = template
        .annotations
        .iter()
        .map(|(k, v)| (k.clone(), expand(v, inputs, None)))
        .collect();
    annotations.insert(
        INPUTS_DIGEST.to_string(),
        inputs_digest(template, owner, inputs),
    );
    annotations.insert(DATA_DIGEST.to_string(), data_digest(&data));
    let mut labels = template.labels.clone();
    labels.insert(OWNER_LABEL.to_string(), owner.to_string());
    Rendered {
        labels,
        annotations,
        data,
    }
}

/// Digest of everything the Secret is rendered from except the client secret.
pub(super) fn inputs_digest(template: &SecretTemplate, owner: &str, inputs: &Inputs) -> String {
    let mut h = Sha256::new();
    let text = serde_json::json!({
        "template": template,
        "owner": owner,
        "clientId": inputs.client_id,
        "authorizeUrl": inputs.authorize_url,
        "tokenUrl": inputs.token_url,
        "baseUrl": inputs.base_url,
        "scope": inputs.scope,
        "name": inputs.name,
    });
    h.update(text.to_string().as_bytes());
    hex(&h.finalize())
}

/// Digest of a Secret's data (keys and values, in key order).
pub(super) fn data_digest(data: &BTreeMap<String, String>) -> String {
    let mut h = Sha256::new();
    for (k, v) in data {
        h.update((k.len() as u64).to_be_bytes());
        h.update(k.as_bytes());
        h.update((v.len() as u64).to_be_bytes());
        h.update(v.as_bytes());
    }
    hex(&h.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> Inputs {
        Inputs {
            client_id: "c1".into(),
            authorize_url: "https://bb.example.test/rest/oauth2/latest/authorize".into(),
            token_url: "https://bb.example.test/rest/oauth2/latest/token".into(),
            base_url: "https://bb.example.test/".into(),
            scope: "REPO_WRITE".into(),
            name: "che".into(),
        }
    }

    fn template(data: &[(&str, &str)], annotations: &[(&str, &str)]) -> SecretTemplate {
        SecretTemplate {
            name: Some("bitbucket-oauth-config".into()),
            labels: [("app.kubernetes.io/part-of", "che.eclipse.org")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            annotations: annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            data: data
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn renders_the_che_shape() {
        let t = template(
            &[("id", "{{ clientId }}"), ("secret", "{{clientSecret}}")],
            &[("che.eclipse.org/scm-server-endpoint", "{{ baseUrl }}")],
        );
        check(&t).unwrap();
        let r = render(&t, "che", &inputs(), "s3cr3t");
        assert_eq!(r.data["id"], "c1");
        assert_eq!(r.data["secret"], "s3cr3t");
        assert_eq!(r.data.len(), 2);
        assert_eq!(
            r.annotations["che.eclipse.org/scm-server-endpoint"],
            "https://bb.example.test/"
        );
        assert_eq!(r.labels["app.kubernetes.io/part-of"], "che.eclipse.org");
        assert_eq!(r.labels[OWNER_LABEL], "che");
        assert!(
            r.annotations.values().all(|v| !v.contains("s3cr3t")),
            "the secret is in data only"
        );
        assert_eq!(r.annotations[DATA_DIGEST], data_digest(&r.data));
    }

    #[test]
    fn default_data_has_the_four_keys_and_text_around_placeholders_is_kept() {
        let r = render(&SecretTemplate::default(), "x", &inputs(), "s");
        let keys: Vec<_> = r.data.keys().cloned().collect();
        assert_eq!(
            keys,
            ["authorizeUrl", "clientId", "clientSecret", "tokenUrl"]
        );
        let t = template(
            &[("config", "id={{ clientId }}\nsecret={{ clientSecret }}\n")],
            &[],
        );
        let r = render(&t, "x", &inputs(), "s");
        assert_eq!(r.data["config"], "id=c1\nsecret=s\n");
    }

    #[test]
    fn check_refuses_what_cannot_be_rendered() {
        let table: &[(SecretTemplate, &str)] = &[
            (
                template(&[("id", "{{ clientID }}")], &[]),
                "unknown placeholder {{ clientID }}",
            ),
            (template(&[("id", "{{ clientId")], &[]), "never closes"),
            (
                template(&[("client id", "{{ clientId }}")], &[]),
                "not a valid Secret key",
            ),
            (
                template(&[], &[("a", "{{ clientSecret }}")]),
                "only allowed in spec.secret.data",
            ),
            (
                SecretTemplate {
                    labels: [("l".to_string(), "{{ clientId }}".to_string())].into(),
                    ..Default::default()
                },
                "literal values only",
            ),
        ];
        for (t, expected) in table {
            let err = check(t).unwrap_err();
            assert!(err.contains(expected), "{err}");
        }
    }

    #[test]
    fn digests_change_with_their_inputs_only() {
        let t = SecretTemplate::default();
        let a = inputs_digest(&t, "x", &inputs());
        assert_eq!(a, inputs_digest(&t, "x", &inputs()));
        let mut other = inputs();
        other.client_id = "c2".into();
        assert_ne!(a, inputs_digest(&t, "x", &other));
        let d1 = data_digest(&[("a".to_string(), "bc".to_string())].into());
        let d2 = data_digest(&[("ab".to_string(), "c".to_string())].into());
        assert_ne!(d1, d2, "keys and values are length-prefixed");
    }
}
