//! Reading an instance's credentials and CA bundle from Secrets and ConfigMaps. Values are
//! never logged: they go straight into `Credentials`, whose Debug output is redacted.

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::{Api, Client};

use crate::atlassian::Credentials;
use crate::crd::{SecretRef, TlsConfig};
use crate::errors::Error;

fn value(secret: &Secret, key: &str) -> Option<String> {
    if let Some(v) = secret.data.as_ref().and_then(|d| d.get(key)) {
        return String::from_utf8(v.0.clone())
            .ok()
            .map(|s| s.trim_end_matches(['\n', '\r']).to_string());
    }
    secret
        .string_data
        .as_ref()
        .and_then(|d| d.get(key))
        .cloned()
}

/// Credentials from the referenced Secret (a token when the token key is present, else Basic)
/// and the Secret's resourceVersion, which keys the "rejected, do not resend" memory.
pub async fn credentials(
    client: &Client,
    namespace: &str,
    r: &SecretRef,
) -> Result<(Credentials, Option<String>), Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let secret = api
        .get_opt(&r.name)
        .await?
        .ok_or_else(|| Error::SecretNotFound {
            namespace: namespace.to_string(),
            name: r.name.clone(),
        })?;
    let token_key = r.token_key.clone().unwrap_or_else(|| "token".into());
    let username_key = r.username_key.clone().unwrap_or_else(|| "username".into());
    let password_key = r.password_key.clone().unwrap_or_else(|| "password".into());
    let version = secret.metadata.resource_version.clone();
    if let Some(token) = value(&secret, &token_key).filter(|t| !t.is_empty()) {
        return Ok((Credentials::bearer(token), version));
    }
    match (value(&secret, &username_key), value(&secret, &password_key)) {
        (Some(u), Some(p)) if !u.is_empty() => Ok((Credentials::basic(u, p), version)),
        _ => Err(Error::SecretIncomplete {
            name: r.name.clone(),
            username_key,
            password_key,
            token_key,
        }),
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
        let found = api.get_opt(&r.name).await?.and_then(|s| value(&s, &key));
        return found.map(Some).ok_or(Error::CaBundleNotFound {
            kind: "Secret",
            name: r.name.clone(),
            key,
        });
    }
    if let Some(r) = &tls.ca_config_map_ref {
        let key = r.key.clone().unwrap_or_else(|| "ca.crt".into());
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
        let found = api
            .get_opt(&r.name)
            .await?
            .and_then(|c| c.data.and_then(|d| d.get(&key).cloned()));
        return found.map(Some).ok_or(Error::CaBundleNotFound {
            kind: "ConfigMap",
            name: r.name.clone(),
            key,
        });
    }
    Ok(None)
}
