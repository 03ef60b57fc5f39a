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

/// Builds the rustls client configuration (ring provider, safe default protocol versions).
pub(crate) fn client_config(
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

/// Finds a TLS failure in an error's source chain. `io::Error::source()` skips the error it
/// wraps, so wrapped errors are unpacked explicitly.
pub(crate) fn find_tls_error(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(describe_tls(tls));
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

fn describe_tls(err: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    match err {
        rustls::Error::InvalidCertificate(C::UnknownIssuer) => {
            "certificate signed by an unknown authority".to_owned()
        }
        rustls::Error::InvalidCertificate(C::NotValidForName)
        | rustls::Error::InvalidCertificate(C::NotValidForNameContext { .. }) => {
            "certificate is not valid for this host name".to_owned()
        }
        rustls::Error::InvalidCertificate(C::Expired)
        | rustls::Error::InvalidCertificate(C::ExpiredContext { .. }) => {
            "certificate has expired".to_owned()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA: &str = include_str!("testdata/ca.pem");

    #[test]
    fn pem_bundle_parsing() {
        assert_eq!(parse_pem_bundle(CA).unwrap().len(), 1);
        let err = parse_pem_bundle("not a certificate").unwrap_err();
        assert_eq!(err.reason(), "InvalidClientConfig");
        assert!(client_config(Some(CA), false).is_ok());
    }

    #[test]
    fn tls_error_found_inside_io_error() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = std::io::Error::other(tls);
        let found = find_tls_error(&io).unwrap();
        assert!(found.contains("unknown authority"), "{found}");
        let plain = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(find_tls_error(&plain).is_none());
    }
}
