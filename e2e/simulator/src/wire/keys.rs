//! Identity material derived deterministically from an app's seed, so that the application id,
//! consumer key and RSA key survive restarts without any stored state.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use md5::{Digest as _, Md5};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use rsa::pkcs8::{DecodePublicKey, EncodePublicKey};
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha1::Sha1;
use uuid::Uuid;

/// An unguessable token (OAuth tokens, verifiers, session ids).
pub fn random_token() -> String {
    Uuid::new_v4().simple().to_string()
}

/// Java's `UUID.nameUUIDFromBytes`: MD5 of the bytes, version 3, no namespace.
pub fn java_uuid3(bytes: &[u8]) -> Uuid {
    let digest: [u8; 16] = Md5::digest(bytes).into();
    uuid::Builder::from_md5_bytes(digest).into_uuid()
}

/// The id applinks derives from a URL: UUIDv3 of the URL without trailing slashes (docs/simulator.md#identifiers).
pub fn url_uuid(url: &str) -> Uuid {
    java_uuid3(url.trim_end_matches('/').as_bytes())
}

fn seed_bytes(seed: &str, purpose: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    let a = Sha1::digest(format!("{purpose}:{seed}").as_bytes());
    let b: [u8; 16] = Md5::digest(format!("{seed}:{purpose}").as_bytes()).into();
    out[..20].copy_from_slice(&a);
    out[20..].copy_from_slice(&b[..12]);
    out
}

/// Ten decimal digits derived from the seed, as in `Confluence:5413647675` (docs/simulator.md#identifiers).
pub fn consumer_key(display_name: &str, seed: &str) -> String {
    let b = seed_bytes(seed, "consumer-key");
    let n = u64::from_le_bytes(b[..8].try_into().expect("8 bytes")) % 10_000_000_000;
    format!("{display_name}:{n:010}")
}

/// Process-wide cache: tests start many apps with the same seeds, and key generation is the
/// slowest part of starting an app.
fn cache() -> &'static Mutex<HashMap<(String, usize), RsaPrivateKey>> {
    static CACHE: OnceLock<Mutex<HashMap<(String, usize), RsaPrivateKey>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

pub fn private_key(seed: &str, bits: usize) -> RsaPrivateKey {
    let k = (seed.to_string(), bits);
    if let Some(key) = cache().lock().expect("key cache").get(&k) {
        return key.clone();
    }
    let mut rng = ChaCha20Rng::from_seed(seed_bytes(seed, "rsa"));
    let key = RsaPrivateKey::new(&mut rng, bits).expect("RSA key generation");
    cache().lock().expect("key cache").insert(k, key.clone());
    key
}

/// Base64 of the X.509 SubjectPublicKeyInfo DER, without PEM armour (docs/simulator.md#identifiers).
pub fn public_key_b64(key: &RsaPublicKey) -> String {
    STANDARD.encode(key.to_public_key_der().expect("SPKI encoding").as_bytes())
}

/// Accepts base64 SPKI, with or without PEM armour and line breaks (docs/simulator.md#identifiers).
pub fn parse_public_key(text: &str) -> Result<RsaPublicKey, String> {
    let b64: String = text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<String>()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = STANDARD
        .decode(b64)
        .map_err(|e| format!("public key base64: {e}"))?;
    RsaPublicKey::from_public_key_der(&der).map_err(|e| format!("public key DER: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_uuid3_matches_known_value() {
        // UUID.nameUUIDFromBytes("test".getBytes()) in Java.
        assert_eq!(
            java_uuid3(b"test").to_string(),
            "098f6bcd-4621-3373-8ade-4e832627b4f6"
        );
        assert_eq!(url_uuid("http://h:1//"), java_uuid3(b"http://h:1"));
    }

    #[test]
    fn deterministic_identity() {
        assert_eq!(consumer_key("Jira", "a"), consumer_key("Jira", "a"));
        assert_ne!(consumer_key("Jira", "a"), consumer_key("Jira", "b"));
        let k1 = private_key("seed-x", 512);
        cache().lock().unwrap().clear();
        let k2 = private_key("seed-x", 512);
        assert_eq!(k1, k2);
        let pk = public_key_b64(&k1.to_public_key());
        assert_eq!(parse_public_key(&pk).unwrap(), k1.to_public_key());
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            pk
        );
        assert_eq!(parse_public_key(&pem).unwrap(), k1.to_public_key());
    }
}
