//! OAuth 2.0 paths, identifiers, hashes, PKCE and the HS256 JWTs that carry token ids.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde_json::{Value, json};

/// Where the provider's REST module answers (`latest` is what the metadata advertises).
pub const BASES: [&str; 2] = ["/rest/oauth2/latest", "/rest/oauth2/1.0"];
pub const LATEST: &str = "/rest/oauth2/latest";

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `ClientCredentialsGenerator`: an AES key of `bytes` random bytes, hex encoded (16 → 32 hex
/// characters for client ids, codes and token ids; 32 → 64 for secrets).
pub fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut b);
    hex(&b)
}

pub fn sha256_hex(s: &str) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, s.as_bytes()).as_ref())
}

/// `DefaultPkceService`: S256 is the unpadded base64url SHA-256 of the verifier.
pub fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ))
}

/// Code challenges and verifiers: 43 to 128 unreserved characters.
pub fn valid_pkce_code(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'~' | b'-' | b'.' | b'_'))
}

/// The key of the app's HS256 token signatures. Derived from the seed so that persisted tokens
/// stay valid across restarts, like the product's stored JWT secret.
fn jwt_key(seed: &str) -> ring::hmac::Key {
    let d = ring::digest::digest(
        &ring::digest::SHA256,
        format!("oauth2-jwt:{seed}").as_bytes(),
    );
    ring::hmac::Key::new(ring::hmac::HMAC_SHA256, d.as_ref())
}

/// `JwtService.createToken`: an HS256 JWT whose only claim is the token id.
pub fn jwt(seed: &str, id: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256"}"#);
    let payload = URL_SAFE_NO_PAD.encode(json!({ "id": id }).to_string());
    let signing_input = format!("{header}.{payload}");
    let sig = ring::hmac::sign(&jwt_key(seed), signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
}

/// A value that is no JWT at all.
#[derive(Debug)]
pub struct NotAJwt;

/// `JwtService.extractTokenId`: `Err` when the value is no JWT at all (the product throws),
/// `Ok("")` when its signature does not verify, else the id.
pub fn jwt_id(seed: &str, token: &str) -> Result<String, NotAJwt> {
    let parts: Vec<&str> = token.split('.').collect();
    let [h, p, s] = parts.as_slice() else {
        return Err(NotAJwt);
    };
    let header: Value = URL_SAFE_NO_PAD
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(NotAJwt)?;
    let payload: Value = URL_SAFE_NO_PAD
        .decode(p)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(NotAJwt)?;
    let sig = URL_SAFE_NO_PAD.decode(s).map_err(|_| NotAJwt)?;
    if header["alg"] != "HS256" {
        return Ok(String::new());
    }
    let signing_input = format!("{h}.{p}");
    if ring::hmac::verify(&jwt_key(seed), signing_input.as_bytes(), &sig).is_err() {
        return Ok(String::new());
    }
    Ok(payload["id"].as_str().unwrap_or("").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_an_independent_implementation() {
        // Computed with Python's hashlib and base64.urlsafe_b64encode, padding stripped.
        assert_eq!(
            s256("M25iVXpKU3puUjFaYWg3T1NDTDQtcW1ROUY5YXlwalNoc0hhakxifmZHag"),
            "qjrzSW9gMiUgpUvqgEPE4_-8swvyCtfOVvg55o5S_es"
        );
        assert!(valid_pkce_code(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWjOEjXk"
        ));
        assert!(!valid_pkce_code("short"));
        assert!(!valid_pkce_code(&"a+".repeat(30)));
    }
}
