//! Rendering the credentials Secret from the user's template (no client): pure, table-tested.
//! The secret value passes through here into the Secret's data and nowhere else.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::crd::SecretTemplate;

/// Annotations on the Secret that let the operator tell, without the client secret, whether the
/// Secret is still what it wrote (providers that show a secret only once): a digest of the
/// non-secret inputs and one of the data as written.
pub(super) const INPUTS_DIGEST: &str = "applinks.io/inputs-sha256";
pub(super) const DATA_DIGEST: &str = "applinks.io/data-sha256";
/// Label on every Secret the operator writes for an ExternalApplication (its name).
pub(super) const OWNER_LABEL: &str = "applinks.io/external-application";

/// Most bytes one rendered value (a data key or an annotation) may hold. A tool's Secret holds
/// URLs, ids and keys: kilobytes. The cap is checked before anything is rendered, so a template
/// that names a long value thousands of times costs nothing.
pub(super) const MAX_VALUE_BYTES: usize = 64 * 1024;
/// Most bytes the whole rendered Secret (data and annotations) may hold, well under the 1 MiB
/// Kubernetes allows a Secret (and the 256 KiB it allows all annotations of an object).
pub(super) const MAX_TOTAL_BYTES: usize = 256 * 1024;

/// The values placeholders expand to, except the secrets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct Inputs {
    pub(super) values: BTreeMap<&'static str, String>,
}

impl Inputs {
    pub(super) fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.values.insert(name, value.into());
        self
    }

    fn value(&self, placeholder: &str) -> Option<&str> {
        self.values.get(placeholder).map(String::as_str)
    }
}

/// Which placeholders a mode offers, which of them are secret, and its default data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Vocabulary {
    pub(super) placeholders: &'static [&'static str],
    pub(super) secret: &'static [&'static str],
    pub(super) default_data: &'static [(&'static str, &'static str)],
}

pub(super) const OAUTH2: Vocabulary = Vocabulary {
    placeholders: crate::crd::PLACEHOLDERS,
    secret: crate::crd::SECRET_PLACEHOLDERS,
    default_data: &[
        ("clientId", "{{ clientId }}"),
        ("clientSecret", "{{ clientSecret }}"),
        ("authorizeUrl", "{{ authorizeUrl }}"),
        ("tokenUrl", "{{ tokenUrl }}"),
    ],
};

pub(super) const OAUTH1: Vocabulary = Vocabulary {
    placeholders: crate::crd::OAUTH1_PLACEHOLDERS,
    secret: crate::crd::OAUTH1_SECRET_PLACEHOLDERS,
    default_data: &[
        ("consumerKey", "{{ consumerKey }}"),
        ("privateKey", "{{ privateKey }}"),
    ],
};

/// The Secret's content as rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Rendered {
    pub(super) labels: BTreeMap<String, String>,
    pub(super) annotations: BTreeMap<String, String>,
    pub(super) data: BTreeMap<String, String>,
}

/// The template's data, or the mode's default keys.
pub(super) fn data_of(
    template: &SecretTemplate,
    vocabulary: &Vocabulary,
) -> BTreeMap<String, String> {
    if template.data.is_empty() {
        vocabulary
            .default_data
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    } else {
        template.data.clone()
    }
}

/// The data key whose value is exactly the placeholder (where the operator reads a value it
/// wrote back, e.g. the private key it generated).
pub(super) fn key_holding(
    template: &SecretTemplate,
    vocabulary: &Vocabulary,
    placeholder: &str,
) -> Option<String> {
    data_of(template, vocabulary)
        .into_iter()
        .find(|(_, v)| {
            placeholders(v).is_ok_and(|p| p == [placeholder])
                && v.trim().starts_with("{{")
                && v.trim().ends_with("}}")
        })
        .map(|(k, _)| k)
}

/// Checks every placeholder; the error says which one is unknown or misplaced, and what exists.
pub(super) fn check(template: &SecretTemplate, vocabulary: &Vocabulary) -> Result<(), String> {
    let known = vocabulary.placeholders.join(", ");
    for (where_, map, secret_allowed) in [
        ("data", &data_of(template, vocabulary), true),
        ("annotations", &template.annotations, false),
    ] {
        for (key, value) in map {
            for name in placeholders(value)? {
                if !vocabulary.placeholders.contains(&name) {
                    return Err(format!(
                        "spec.secret.{where_}.{key} uses the unknown placeholder {{{{ {name} }}}}; the placeholders are {known}"
                    ));
                }
                if !secret_allowed && vocabulary.secret.contains(&name) {
                    return Err(format!(
                        "spec.secret.{where_}.{key} uses {{{{ {name} }}}}, which is only allowed in spec.secret.data"
                    ));
                }
            }
        }
    }
    for key in data_of(template, vocabulary).keys() {
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

/// The length of `value` once expanded, without expanding it (saturating), and the placeholder
/// that adds the most to it: (name, times named, bytes of one expansion).
fn expanded_len<'a>(
    value: &'a str,
    inputs: &Inputs,
    secrets: &BTreeMap<&'static str, String>,
) -> (usize, Option<(&'a str, usize, usize)>) {
    let mut len = 0usize;
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut rest = value;
    while let Some(start) = rest.find("{{") {
        len = len.saturating_add(start);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return (len.saturating_add(rest.len() - start), None);
        };
        *counts.entry(after[..end].trim()).or_default() += 1;
        rest = &after[end + 2..];
    }
    len = len.saturating_add(rest.len());
    let mut biggest = None;
    let mut biggest_total = 0usize;
    for (name, times) in counts {
        let one = secrets
            .get(name)
            .map(String::len)
            .unwrap_or_else(|| inputs.value(name).map_or(0, str::len));
        let total = one.saturating_mul(times);
        len = len.saturating_add(total);
        if total >= biggest_total {
            biggest_total = total;
            biggest = Some((name, times, one));
        }
    }
    (len, biggest)
}

/// Refuses a rendering over [`MAX_VALUE_BYTES`] for one value or [`MAX_TOTAL_BYTES`] in all,
/// saying which key and placeholder make it that large.
fn check_size(
    template: &SecretTemplate,
    vocabulary: &Vocabulary,
    inputs: &Inputs,
    secrets: &BTreeMap<&'static str, String>,
) -> Result<(), String> {
    let none = BTreeMap::new();
    let data = data_of(template, vocabulary);
    let mut total = 0usize;
    for (where_, map, secrets) in [
        ("data", &data, secrets),
        ("annotations", &template.annotations, &none),
    ] {
        for (key, value) in map {
            let (len, biggest) = expanded_len(value, inputs, secrets);
            let why = biggest
                .filter(|(_, times, one)| times * one > 0)
                .map(|(name, times, one)| {
                    format!(
                        " ({{{{ {name} }}}} is named {times} times and is {one} bytes long; its value comes from the application)"
                    )
                })
                .unwrap_or_default();
            if len > MAX_VALUE_BYTES {
                return Err(format!(
                    "spec.secret.{where_}.{key} would render to {len} bytes, more than the {MAX_VALUE_BYTES} one value may hold{why}; name each placeholder once or a few times. Nothing was rendered or written"
                ));
            }
            total = total.saturating_add(key.len()).saturating_add(len);
            if total > MAX_TOTAL_BYTES {
                return Err(format!(
                    "spec.secret would render to more than {MAX_TOTAL_BYTES} bytes (data and annotations together; reached at {where_}.{key}{why}); use fewer keys or placeholders. Nothing was rendered or written"
                ));
            }
        }
    }
    Ok(())
}

fn expand(value: &str, inputs: &Inputs, secrets: &BTreeMap<&'static str, String>) -> String {
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
        match secrets.get(name) {
            Some(s) => out.push_str(s),
            None => out.push_str(inputs.value(name).unwrap_or_default()),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// Renders the Secret. `secrets` are the secret placeholders' values (data only). The digests
/// are added as annotations; the owner label is added to the user's labels. Refused (before
/// any expansion) when it would exceed [`MAX_VALUE_BYTES`] or [`MAX_TOTAL_BYTES`].
pub(super) fn render(
    template: &SecretTemplate,
    vocabulary: &Vocabulary,
    owner: &str,
    inputs: &Inputs,
    secrets: &BTreeMap<&'static str, String>,
) -> Result<Rendered, String> {
    check_size(template, vocabulary, inputs, secrets)?;
    let data: BTreeMap<String, String> = data_of(template, vocabulary)
        .iter()
        .map(|(k, v)| (k.clone(), expand(v, inputs, secrets)))
        .collect();
    let none = BTreeMap::new();
    let mut annotations: BTreeMap<String, String> = template
        .annotations
        .iter()
        .map(|(k, v)| (k.clone(), expand(v, inputs, &none)))
        .collect();
    annotations.insert(
        INPUTS_DIGEST.to_string(),
        inputs_digest(template, owner, inputs),
    );
    annotations.insert(DATA_DIGEST.to_string(), data_digest(&data));
    let mut labels = template.labels.clone();
    labels.insert(OWNER_LABEL.to_string(), owner.to_string());
    Ok(Rendered {
        labels,
        annotations,
        data,
    })
}

/// Digest of everything the Secret is rendered from except the client secret.
fn inputs_digest(template: &SecretTemplate, owner: &str, inputs: &Inputs) -> String {
    let mut h = Sha256::new();
    let text = serde_json::json!({
        "template": template,
        "owner": owner,
        "inputs": inputs.values,
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

/// SHA-256 of `bytes`, lowercase hex.
pub(super) fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> Inputs {
        Inputs::default()
            .with("clientId", "c1")
            .with(
                "authorizeUrl",
                "https://bb.example.test/rest/oauth2/latest/authorize",
            )
            .with(
                "tokenUrl",
                "https://bb.example.test/rest/oauth2/latest/token",
            )
            .with("baseUrl", "https://bb.example.test/")
            .with("scope", "REPO_WRITE")
            .with("name", "che")
    }

    fn secret(value: &str) -> BTreeMap<&'static str, String> {
        [("clientSecret", value.to_string())].into()
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
        check(&t, &OAUTH2).unwrap();
        let r = render(&t, &OAUTH2, "che", &inputs(), &secret("s3cr3t")).unwrap();
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
        let r = render(
            &SecretTemplate::default(),
            &OAUTH2,
            "x",
            &inputs(),
            &secret("s"),
        )
        .unwrap();
        let keys: Vec<_> = r.data.keys().cloned().collect();
        assert_eq!(
            keys,
            ["authorizeUrl", "clientId", "clientSecret", "tokenUrl"]
        );
        let t = template(
            &[("config", "id={{ clientId }}\nsecret={{ clientSecret }}\n")],
            &[],
        );
        let r = render(&t, &OAUTH2, "x", &inputs(), &secret("s")).unwrap();
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
            let err = check(t, &OAUTH2).unwrap_err();
            assert!(err.contains(expected), "{err}");
        }
    }

    #[test]
    fn size_caps_table() {
        let long_url = format!("https://p.example.test/{}", "a".repeat(2000));
        let long = inputs().with("tokenUrl", long_url.clone());
        let bomb_value = "{{ tokenUrl }}".repeat(16384 / 14);
        let bomb: Vec<(String, &str)> = (0..32)
            .map(|i| (format!("k{i}"), bomb_value.as_str()))
            .collect();
        let bomb_refs: Vec<(&str, &str)> = bomb.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let many_small: Vec<(String, String)> = (0..32)
            .map(|i| (format!("k{i}"), "{{ tokenUrl }}".repeat(5)))
            .collect();
        let many_refs: Vec<(&str, &str)> = many_small
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let cases: Vec<(&str, SecretTemplate, Inputs, Option<&str>)> = vec![
            (
                "the default keys",
                SecretTemplate::default(),
                long.clone(),
                None,
            ),
            (
                "one key naming a long URL a thousand times",
                template(&bomb_refs[..1], &[]),
                long.clone(),
                Some("spec.secret.data.k0 would render to"),
            ),
            (
                "the same template with short URLs fits",
                template(&[("k0", "{{ tokenUrl }}".repeat(20).as_str())], &[]),
                inputs(),
                None,
            ),
            (
                "32 keys, each under the per-key cap, over the total",
                template(&many_refs, &[]),
                long.clone(),
                Some("more than 262144 bytes"),
            ),
            (
                "annotations count too",
                template(&[], &[("a", bomb_value.as_str())]),
                long.clone(),
                Some("spec.secret.annotations.a would render to"),
            ),
        ];
        for (why, t, i, want) in cases {
            match (render(&t, &OAUTH2, "x", &i, &secret("s")), want) {
                (Ok(r), None) => {
                    let size: usize = r.data.values().map(String::len).sum();
                    assert!(size <= MAX_TOTAL_BYTES, "{why}");
                }
                (Err(e), Some(want)) => {
                    assert!(e.contains(want), "{why}: {e}");
                    assert!(e.len() < 1000, "{why}: the message quotes no value");
                }
                (got, want) => panic!("{why}: got {:?}, want {want:?}", got.map(|_| ())),
            }
        }
        let err = render(
            &template(&bomb_refs, &[]),
            &OAUTH2,
            "x",
            &long,
            &secret("s"),
        )
        .unwrap_err();
        assert!(err.contains("{{ tokenUrl }} is named 1170 times"), "{err}");
    }

    #[test]
    fn digests_change_with_their_inputs_only() {
        let t = SecretTemplate::default();
        let a = inputs_digest(&t, "x", &inputs());
        assert_eq!(a, inputs_digest(&t, "x", &inputs()));
        let other = inputs().with("clientId", "c2");
        assert_ne!(a, inputs_digest(&t, "x", &other));
        let d1 = data_digest(&[("a".to_string(), "bc".to_string())].into());
        let d2 = data_digest(&[("ab".to_string(), "c".to_string())].into());
        assert_ne!(d1, d2, "keys and values are length-prefixed");
    }
}
