//! Reading an instance's credentials and CA bundle from Secrets and ConfigMaps. Values are
//! never logged: they go straight into `Credentials`, whose Debug output is redacted. Messages
//! name the Secret and its keys (never a value) and say what to put where.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::{Api, Client};

use crate::atlassian::Credentials;
use crate::crd::{SecretRef, TlsConfig};
use crate::errors::Error;

/// One key of a Secret as the operator found it.
#[derive(Debug, PartialEq, Eq)]
enum Value {
    Missing,
    Empty,
    NotText,
    Text(String),
}

/// The keys of a Secret (from `data` and `stringData`) and their values.
fn entries(secret: &Secret) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for (k, v) in secret.data.iter().flatten() {
        let value = match String::from_utf8(v.0.clone()) {
            Ok(s) => text(s.trim_end_matches(['\n', '\r'])),
            Err(_) => Value::NotText,
        };
        out.insert(k.clone(), value);
    }
    for (k, v) in secret.string_data.iter().flatten() {
        out.insert(k.clone(), text(v.trim_end_matches(['\n', '\r'])));
    }
    out
}

fn text(s: &str) -> Value {
    if s.trim().is_empty() {
        Value::Empty
    } else {
        Value::Text(s.to_string())
    }
}

fn get<'a>(entries: &'a BTreeMap<String, Value>, key: &str) -> &'a Value {
    entries.get(key).unwrap_or(&Value::Missing)
}

/// The key names of a Secret, for messages ("it has: a, b"). Names only, never values.
fn key_list(entries: &BTreeMap<String, Value>) -> String {
    if entries.is_empty() {
        "it has no keys".to_string()
    } else {
        let keys: Vec<_> = entries.keys().map(|k| format!("{k:?}")).collect();
        format!("it has {}", keys.join(", "))
    }
}

/// Credentials from a Secret's keys: a token when the token key holds one, else Basic.
/// Errors say precisely which key is missing, empty or not text, and what to put there.
fn credentials_from(
    name: &str,
    entries: &BTreeMap<String, Value>,
    r: &SecretRef,
) -> Result<Credentials, String> {
    let token_key = r.token_key.as_deref().unwrap_or("token");
    let username_key = r.username_key.as_deref().unwrap_or("username");
    let password_key = r.password_key.as_deref().unwrap_or("password");
    let not_text = |key: &str| {
        format!(
            "key {key:?} of Secret {name:?} is not UTF-8 text: store the value as text (stringData, or base64 of the text in data)"
        )
    };
    let token = get(entries, token_key);
    match token {
        Value::Text(t) => return Ok(Credentials::bearer(t.clone())),
        Value::NotText => return Err(not_text(token_key)),
        Value::Missing | Value::Empty => {}
    }
    let (user, password) = (get(entries, username_key), get(entries, password_key));
    match (user, password) {
        (Value::Text(u), Value::Text(p)) => Ok(Credentials::basic(u.clone(), p.clone())),
        (Value::NotText, _) => Err(not_text(username_key)),
        (_, Value::NotText) => Err(not_text(password_key)),
        (Value::Missing, Value::Missing) if *token == Value::Empty => Err(format!(
            "key {token_key:?} of Secret {name:?} is empty: put the administrator's personal access token there, or set {username_key:?} and {password_key:?}"
        )),
        (Value::Missing, Value::Missing) => Err(format!(
            "Secret {name:?} has none of the keys {username_key:?}, {password_key:?} and {token_key:?} ({}): add the administrator's user name and password under {username_key:?} and {password_key:?}, or a personal access token under {token_key:?}; or point spec.credentialsSecretRef.usernameKey, passwordKey or tokenKey at the keys it has",
            key_list(entries)
        )),
        (Value::Text(_), Value::Missing) => Err(format!(
            "Secret {name:?} has a user name ({username_key:?}) but no password: add the administrator's password under key {password_key:?} (or set spec.credentialsSecretRef.passwordKey to the key that holds it; {})",
            key_list(entries)
        )),
        (Value::Text(_), Value::Empty) => Err(format!(
            "key {password_key:?} of Secret {name:?} is empty: put the administrator's password there"
        )),
        (Value::Missing, _) => Err(format!(
            "Secret {name:?} has a password ({password_key:?}) but no user name: add the administrator's user name under key {username_key:?} (or set spec.credentialsSecretRef.usernameKey to the key that holds it; {})",
            key_list(entries)
        )),
        (Value::Empty, _) => Err(format!(
            "key {username_key:?} of Secret {name:?} is empty: put the administrator's user name there"
        )),
    }
}

/// The annotation by which a credentials Secret names the applications its credentials may be
/// sent to: base URLs, separated by commas or white space. Whoever can create an
/// ApplicationInstance could otherwise point one at their own server and receive the password
/// of any Secret in the namespace; the Secret's owner says where it may go.
pub const ALLOWED_URLS: &str = "applinks.io/allowed-urls";

/// The URLs a Secret's [`ALLOWED_URLS`] annotation lists (empty when it has none).
pub fn allowed_urls(secret: &Secret) -> Vec<String> {
    secret
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ALLOWED_URLS))
        .map(|v| {
            v.split([',', ' ', '\n', '\t'])
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Whether the Secret allows its credentials to go to `url`; else the message that says what
/// to add. URLs compare as Atlassian compares them (trailing slash and case ignored): an entry
/// allows exactly that base URL, never another path or port on the same host.
fn check_allowed(name: &str, secret: &Secret, url: &str) -> Result<(), String> {
    let listed = allowed_urls(secret);
    if listed
        .iter()
        .any(|allowed| crate::crd::same_url(allowed, url))
    {
        return Ok(());
    }
    let fix = format!(
        "kubectl annotate secret {name} {ALLOWED_URLS}={}",
        url.trim_end_matches('/')
    );
    Err(if listed.is_empty() {
        format!(
            "Secret {name:?} does not say where its credentials may be sent, so they were not sent to {url}: add the annotation {ALLOWED_URLS} listing this application's URL ({fix}; several URLs separated by commas)"
        )
    } else {
        format!(
            "Secret {name:?} allows its credentials only for {} (annotation {ALLOWED_URLS}), not for {url}, so they were not sent: if {url} is the same application, add it to the annotation ({fix},<the URLs already listed>)",
            listed.join(", ")
        )
    })
}

/// Credentials from the referenced Secret (a token when the token key is present, else Basic)
/// and the Secret's resourceVersion, which keys the "rejected, do not resend" memory. `url` is
/// where they are about to be sent: the Secret must allow it ([`ALLOWED_URLS`]).
pub async fn credentials(
    client: &Client,
    namespace: &str,
    r: &SecretRef,
    url: &str,
) -> Result<(Credentials, Option<String>), Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let secret = api
        .get_opt(&r.name)
        .await?
        .ok_or_else(|| Error::SecretNotFound {
            namespace: namespace.to_string(),
            name: r.name.clone(),
        })?;
    let version = secret.metadata.resource_version.clone();
    // What the Secret holds is judged first (nothing is sent either way): a Secret being
    // written is fixed in one go, keys then annotation.
    let credentials = credentials_from(&r.name, &entries(&secret), r).map_err(|detail| {
        Error::SecretIncomplete {
            name: r.name.clone(),
            detail,
        }
    })?;
    check_allowed(&r.name, &secret, url).map_err(|detail| Error::CredentialsNotAllowed {
        name: r.name.clone(),
        detail,
    })?;
    Ok((credentials, version))
}

/// A PEM CA bundle from one key of a Secret or ConfigMap's entries.
fn ca_from(
    kind: &'static str,
    name: &str,
    entries: Option<&BTreeMap<String, Value>>,
    key: &str,
    field: &str,
) -> Result<String, Error> {
    let fail = |detail: String| Error::CaBundleNotFound {
        kind,
        name: name.to_string(),
        detail,
    };
    let invalid = |detail: String| Error::CaBundleInvalid {
        kind,
        name: name.to_string(),
        detail,
    };
    let Some(entries) = entries else {
        return Err(fail(format!(
            "{kind} {name:?} not found in this namespace: create it with the CA certificate (PEM) under key {key:?}, or fix spec.tls.{field}"
        )));
    };
    match get(entries, key) {
        Value::Text(pem) if pem.contains("-----BEGIN CERTIFICATE-----") => Ok(pem.clone()),
        Value::Text(_) | Value::NotText => Err(invalid(format!(
            "key {key:?} of {kind} {name:?} holds no PEM certificate: put the CA certificate there in PEM form (-----BEGIN CERTIFICATE----- ...)"
        ))),
        Value::Empty => Err(invalid(format!(
            "key {key:?} of {kind} {name:?} is empty: put the CA certificate there in PEM form"
        ))),
        Value::Missing => Err(fail(format!(
            "{kind} {name:?} has no key {key:?} ({}): put the CA certificate (PEM) there, or set spec.tls.{field}.key to the key that holds it",
            key_list(entries)
        ))),
    }
}

/// The extra CA bundle (PEM) of an instance, if it has one.
pub async fn ca_bundle(
    client: &Client,
    namespace: &str,
    tls: Option<&TlsConfig>,
) -> Result<Option<String>, Error> {
    let Some(tls) = tls else { return Ok(None) };
    if let Some(r) = &tls.ca_secret_ref {
        let key = r.key.clone().unwrap_or_else(|| "ca.crt".into());
        let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
        let found = api.get_opt(&r.name).await?.map(|s| entries(&s));
        return ca_from("Secret", &r.name, found.as_ref(), &key, "caSecretRef").map(Some);
    }
    if let Some(r) = &tls.ca_config_map_ref {
        let key = r.key.clone().unwrap_or_else(|| "ca.crt".into());
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
        let found = api.get_opt(&r.name).await?.map(|c| {
            c.data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, text(&v)))
                .collect()
        });
        return ca_from("ConfigMap", &r.name, found.as_ref(), &key, "caConfigMapRef").map(Some);
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret_ref(keys: Option<(&str, &str, &str)>) -> SecretRef {
        SecretRef {
            name: "jira-admin".into(),
            username_key: keys.map(|k| k.0.to_string()),
            password_key: keys.map(|k| k.1.to_string()),
            token_key: keys.map(|k| k.2.to_string()),
        }
    }

    /// A Secret's data as (key, bytes) pairs.
    type Pairs<'a> = &'a [(&'a str, &'a [u8])];

    fn entries_of(pairs: Pairs) -> BTreeMap<String, Value> {
        let secret = Secret {
            data: Some(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), k8s_openapi::ByteString(v.to_vec())))
                    .collect(),
            ),
            ..Default::default()
        };
        entries(&secret)
    }

    /// Every incomplete Secret gets a message naming the key to fix, and never a value.
    #[test]
    fn incomplete_secrets_say_which_key_to_fix() {
        let r = secret_ref(None);
        let cases: &[(Pairs, &str)] = &[
            (
                &[("username", b"admin")],
                "has a user name (\"username\") but no password: add the administrator's password under key \"password\"",
            ),
            (
                &[("username", b"admin"), ("password", b"")],
                "key \"password\" of Secret \"jira-admin\" is empty",
            ),
            (
                &[("username", b"admin"), ("password", b"\n")],
                "key \"password\" of Secret \"jira-admin\" is empty",
            ),
            (
                &[("password", b"S3cr3t-value")],
                "has a password (\"password\") but no user name: add the administrator's user name under key \"username\"",
            ),
            (
                &[("username", b" "), ("password", b"S3cr3t-value")],
                "key \"username\" of Secret \"jira-admin\" is empty",
            ),
            (
                &[("token", b"")],
                "key \"token\" of Secret \"jira-admin\" is empty: put the administrator's personal access token there",
            ),
            (
                &[("user", b"admin"), ("pass", b"S3cr3t-value")],
                "has none of the keys \"username\", \"password\" and \"token\" (it has \"pass\", \"user\")",
            ),
            (&[], "(it has no keys)"),
            (
                &[("username", b"admin"), ("password", &[0xff, 0xfe])],
                "key \"password\" of Secret \"jira-admin\" is not UTF-8 text",
            ),
        ];
        for (pairs, expected) in cases {
            let err = credentials_from("jira-admin", &entries_of(pairs), &r).unwrap_err();
            assert!(err.contains(expected), "{pairs:?}: {err}");
            assert!(!err.contains("S3cr3t"), "a value in the message: {err}");
        }
    }

    #[test]
    fn custom_keys_are_named_in_the_messages() {
        let r = secret_ref(Some(("user", "pass", "pat")));
        let err =
            credentials_from("jira-admin", &entries_of(&[("user", b"admin")]), &r).unwrap_err();
        assert!(err.contains("under key \"pass\""), "{err}");
        assert!(
            err.contains("spec.credentialsSecretRef.passwordKey"),
            "{err}"
        );
    }

    #[test]
    fn complete_secrets_give_credentials() {
        let r = secret_ref(None);
        let basic = credentials_from(
            "s",
            &entries_of(&[("username", b"admin"), ("password", b"pw\n")]),
            &r,
        )
        .unwrap();
        assert_eq!(basic.describe(), "basic auth as \"admin\"");
        // A token wins over user name and password; an empty token does not.
        let token = credentials_from(
            "s",
            &entries_of(&[("username", b"admin"), ("password", b"pw"), ("token", b"t")]),
            &r,
        )
        .unwrap();
        assert_eq!(token.describe(), "personal access token");
        let basic = credentials_from(
            "s",
            &entries_of(&[("username", b"admin"), ("password", b"pw"), ("token", b"")]),
            &r,
        )
        .unwrap();
        assert_eq!(basic.describe(), "basic auth as \"admin\"");
    }

    #[test]
    fn ca_bundles_say_what_is_wrong() {
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let ok = entries_of(&[("ca.crt", pem.as_bytes())]);
        assert!(ca_from("Secret", "ca", Some(&ok), "ca.crt", "caSecretRef").is_ok());
        let cases: &[(Option<Pairs>, &str)] = &[
            (None, "Secret \"ca\" not found in this namespace"),
            (
                Some(&[("tls.crt", b"x")]),
                "has no key \"ca.crt\" (it has \"tls.crt\")",
            ),
            (
                Some(&[("ca.crt", b"")]),
                "key \"ca.crt\" of Secret \"ca\" is empty",
            ),
            (
                Some(&[("ca.crt", b"not a certificate")]),
                "holds no PEM certificate",
            ),
        ];
        for (pairs, expected) in cases {
            let entries = pairs.map(entries_of);
            let err =
                ca_from("Secret", "ca", entries.as_ref(), "ca.crt", "caSecretRef").unwrap_err();
            assert!(err.is_stalled());
            let (reason, err) = (err.reason().to_string(), err.to_string());
            assert!(err.contains(expected), "{err}");
            let invalid = err.contains("empty") || err.contains("no PEM");
            assert_eq!(
                reason,
                if invalid {
                    "CaBundleInvalid"
                } else {
                    "CaBundleNotFound"
                }
            );
        }
    }
}
