//! TLS configuration: certificate verification is always on. An instance's CA bundle is added
//! to (or, on request, replaces) the system roots; there is no switch to turn verification off.

use std::sync::{Arc, OnceLock};

use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use super::error::ApiError;

/// System trust anchors, loaded once per process (reading the store is slow-ish and the
/// operator builds one client per application).
fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let loaded = rustls_native_certs::load_native_certs();
        for err in &loaded.errors {
            tracing::warn!(error = %err, "could not load some system CA certificates");
        }
        loaded.certs
    })
}

/// Parses a PEM bundle into certificates; errors if it holds none.
pub(crate) fn parse_pem_bundle(pem: &str) -> Result<Vec<CertificateDer<'static>>, ApiError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::InvalidConfig {
            detail: format!("CA bundle is not valid PEM: {e}"),
        })?;
    if certs.is_empty() {
        return Err(ApiError::InvalidConfig {
            detail: "CA bundle contains no PEM certificate".to_owned(),
        });
    }
    Ok(certs)
}

/// The rustls client configuration (ring provider, safe default protocol versions). Without an
/// extra CA bundle every client shares one configuration, and so one parsed root store: the
/// operator keeps a client per application, and a root store of the system's ~150 anchors per
/// client was a large part of its memory. Clones share the verifier (and its roots) by `Arc`.
pub(crate) fn client_config(
    extra_ca_pem: Option<&str>,
    use_system_roots: bool,
) -> Result<rustls::ClientConfig, ApiError> {
    if extra_ca_pem.is_none() && use_system_roots {
        static SHARED: OnceLock<rustls::ClientConfig> = OnceLock::new();
        if let Some(config) = SHARED.get() {
            return Ok(config.clone());
        }
        let config = build_client_config(None, true)?;
        return Ok(SHARED.get_or_init(|| config).clone());
    }
    build_client_config(extra_ca_pem, use_system_roots)
}

fn build_client_config(
    extra_ca_pem: Option<&str>,
    use_system_roots: bool,
) -> Result<rustls::ClientConfig, ApiError> {
    let mut roots = RootCertStore::empty();
    if use_system_roots {
        roots.add_parsable_certificates(system_roots().iter().cloned());
    }
    if let Some(pem) = extra_ca_pem {
        for cert in parse_pem_bundle(pem)? {
            roots.add(cert).map_err(|e| ApiError::InvalidConfig {
                detail: format!("CA bundle certificate rejected: {e}"),
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ApiError::InvalidConfig {
            detail: format!("TLS setup failed: {e}"),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

/// What was wrong with the TLS handshake, so the message can say what to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TlsProblem {
    /// The certificate's `notAfter` has passed (when known: that time, as an HTTP date).
    Expired { not_after: Option<String> },
    /// The certificate does not name the host of the URL; `presented` are the names it has.
    WrongHost { presented: Vec<String> },
    /// Anything else (an unknown issuer, a protocol failure), described.
    Other(String),
}

/// Finds a TLS failure in an error's source chain. `io::Error::source()` skips the error it
/// wraps, so wrapped errors are unpacked explicitly.
pub(crate) fn find_tls_error(err: &(dyn std::error::Error + 'static)) -> Option<TlsProblem> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(classify(tls));
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && let Some(found) = find_tls_error(inner)
        {
            return Some(found);
        }
        current = e.source();
    }
    None
}

fn classify(err: &rustls::Error) -> TlsProblem {
    use rustls::CertificateError as C;
    match err {
        rustls::Error::InvalidCertificate(C::UnknownIssuer) => {
            TlsProblem::Other("certificate signed by an unknown authority".to_owned())
        }
        rustls::Error::InvalidCertificate(C::NotValidForName) => {
            TlsProblem::WrongHost { presented: vec![] }
        }
        rustls::Error::InvalidCertificate(C::NotValidForNameContext { presented, .. }) => {
            TlsProblem::WrongHost {
                presented: presented.iter().map(|n| bare_name(n)).collect(),
            }
        }
        rustls::Error::InvalidCertificate(C::Expired) => TlsProblem::Expired { not_after: None },
        rustls::Error::InvalidCertificate(C::ExpiredContext { not_after, .. }) => {
            let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(not_after.as_secs());
            TlsProblem::Expired {
                not_after: Some(httpdate::fmt_http_date(when)),
            }
        }
        other => TlsProblem::Other(other.to_string()),
    }
}

/// `DnsName("jira.example.com")` (how rustls reports a presented name) → `jira.example.com`.
fn bare_name(presented: &str) -> String {
    match (presented.find('('), presented.rfind(')')) {
        (Some(open), Some(close)) if open < close => {
            presented[open + 1..close].trim_matches('"').to_owned()
        }
        _ => presented.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA: &str = include_str!("testdata/ca.pem");

    /// Clients on the system roots share one configuration; a CA bundle gets its own.
    #[test]
    fn system_roots_configuration_is_shared() {
        let a = client_config(None, true).unwrap();
        let b = client_config(None, true).unwrap();
        assert!(Arc::ptr_eq(a.crypto_provider(), b.crypto_provider()));
        let own = client_config(Some(CA), true).unwrap();
        assert!(!Arc::ptr_eq(a.crypto_provider(), own.crypto_provider()));
    }

    #[test]
    fn pem_bundle_parsing() {
        assert_eq!(parse_pem_bundle(CA).unwrap().len(), 1);
        let err = parse_pem_bundle("not a certificate").unwrap_err();
        assert_eq!(err.reason(), "InvalidClientConfig");
        assert!(client_config(Some(CA), false).is_ok());
    }

    #[test]
    fn presented_names_are_shown_bare() {
        assert_eq!(
            bare_name("DnsName(\"jira.example.com\")"),
            "jira.example.com"
        );
        assert_eq!(bare_name("IpAddress(127.0.0.1)"), "127.0.0.1");
        assert_eq!(bare_name("plain"), "plain");
    }

    #[test]
    fn tls_error_found_inside_io_error() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = std::io::Error::other(tls);
        let found = find_tls_error(&io).unwrap();
        assert!(
            matches!(&found, TlsProblem::Other(d) if d.contains("unknown authority")),
            "{found:?}"
        );
        let plain = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(find_tls_error(&plain).is_none());
    }
}
