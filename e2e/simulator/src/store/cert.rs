//! The app's TLS server certificate, swappable at run time.

use std::sync::{Arc, RwLock};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// The app's certificate and key, swappable (`PUT /_sim/tls`) to serve an expired or a
/// wrong-host certificate and back, without restarting the simulator.
#[derive(Debug)]
pub struct SwapCert(RwLock<Arc<CertifiedKey>>);

impl SwapCert {
    pub fn load(cert: &std::path::Path, key: &std::path::Path) -> Result<SwapCert, String> {
        Ok(SwapCert(RwLock::new(Arc::new(certified_key(cert, key)?))))
    }

    pub fn replace(&self, cert: &std::path::Path, key: &std::path::Path) -> Result<(), String> {
        let k = certified_key(cert, key)?;
        *self.0.write().expect("tls cert") = Arc::new(k);
        Ok(())
    }
}

impl ResolvesServerCert for SwapCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.read().expect("tls cert").clone())
    }
}

fn certified_key(cert: &std::path::Path, key: &std::path::Path) -> Result<CertifiedKey, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("{}: {e}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate", cert.display()));
    }
    let der = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&der)
        .map_err(|e| format!("{}: {e}", key.display()))?;
    Ok(CertifiedKey::new(certs, signing))
}
