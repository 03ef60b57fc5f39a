//! OAuth 1.0a RSA-SHA1 (docs/simulator.md#oauth-10a-signatures): signing of outgoing 2LO / 2LOi calls with oauth1-request,
//! and an independent verifier for incoming requests (signature, 5-minute window, nonces).

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU64;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use rsa::{Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use sha1::{Digest, Sha1};

/// RFC 5849 §3.6: everything but unreserved characters is encoded.
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

pub const TIMESTAMP_WINDOW_SECS: i64 = 300;

pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, RFC3986).to_string()
}

pub fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Decodes an `application/x-www-form-urlencoded` string (query or body) into pairs.
pub fn form_pairs(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(&k.replace('+', " ")), decode(&v.replace('+', " ")))
        })
        .collect()
}

/// Parses `Authorization: OAuth k="v", ...` into decoded pairs (realm dropped).
pub fn parse_authorization(value: &str) -> Option<Vec<(String, String)>> {
    let rest = value.trim().strip_prefix("OAuth")?;
    let mut out = Vec::new();
    for part in rest.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (k, v) = part.split_once('=')?;
        let v = v.trim().trim_matches('"');
        let k = k.trim();
        if k == "realm" {
            continue;
        }
        out.push((decode(k), decode(v)));
    }
    Some(out)
}

/// Signature base string (RFC 5849 §3.4.1). `base_uri` has no query; `params` excludes
/// `oauth_signature` and `realm`.
pub fn base_string(method: &str, base_uri: &str, params: &[(String, String)]) -> String {
    let mut enc: Vec<(String, String)> =
        params.iter().map(|(k, v)| (encode(k), encode(v))).collect();
    enc.sort();
    let normalized = enc
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        encode(base_uri),
        encode(&normalized)
    )
}

pub fn rsa_verify(key: &RsaPublicKey, base: &str, sig_b64: &str) -> bool {
    let Ok(sig) = STANDARD.decode(sig_b64) else {
        return false;
    };
    let digest = Sha1::digest(base.as_bytes());
    key.verify(Pkcs1v15Sign::new::<Sha1>(), &digest, &sig)
        .is_ok()
}

/// The `oauth_problem` values of docs/simulator.md#oauth-10a-signatures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    ConsumerKeyUnknown,
    TimestampRefused,
    SignatureInvalid,
    SignatureMethodRejected,
    NonceUsed,
    TokenRejected,
    PermissionDenied,
    PermissionUnknown,
    ParameterAbsent,
    ParameterRejected(&'static str),
    /// 2LO (or 2LOi) not allowed for the consumer: 401 with a challenge and an empty body.
    TwoLoNotAllowed,
}

impl Problem {
    pub fn name(self) -> &'static str {
        match self {
            Problem::ConsumerKeyUnknown => "consumer_key_unknown",
            Problem::TimestampRefused => "timestamp_refused",
            Problem::SignatureInvalid => "signature_invalid",
            Problem::SignatureMethodRejected => "signature_method_rejected",
            Problem::NonceUsed => "nonce_used",
            Problem::TokenRejected => "token_rejected",
            Problem::PermissionDenied => "permission_denied",
            Problem::PermissionUnknown => "permission_unknown",
            Problem::ParameterAbsent => "parameter_absent",
            Problem::ParameterRejected(_) => "parameter_rejected",
            Problem::TwoLoNotAllowed => "",
        }
    }

    /// 401 with `WWW-Authenticate: OAuth realm=…, oauth_problem=…` and a form-encoded body,
    /// except the 2LO-disabled case, whose body is empty (what applinks reads as
    /// AUTH_LEVEL_UNSUPPORTED).
    pub fn response(self, realm: &str) -> Response {
        let mut r = self.bare_response(realm);
        let reason = match self {
            Problem::TwoLoNotAllowed => "2LO not allowed for the consumer".to_string(),
            p => format!("oauth_problem={}", p.name()),
        };
        r.extensions_mut()
            .insert(crate::wire::respond::LogReason(reason));
        r
    }

    fn bare_response(self, realm: &str) -> Response {
        if self == Problem::TwoLoNotAllowed {
            let challenge = format!("OAuth realm=\"{}\"", encode(realm));
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, hv(&challenge))],
            )
                .into_response();
        }
        let mut challenge = format!(
            "OAuth realm=\"{}\", oauth_problem=\"{}\"",
            encode(realm),
            self.name()
        );
        let mut body = format!("oauth_problem={}", self.name());
        if let Problem::ParameterRejected(p) = self {
            challenge.push_str(&format!(", oauth_parameters_rejected=\"{p}\""));
            body.push_str(&format!("&oauth_parameters_rejected={p}"));
        }
        if self == Problem::TimestampRefused {
            let now = now_secs();
            let range = format!(
                "{}-{}",
                now - TIMESTAMP_WINDOW_SECS,
                now + TIMESTAMP_WINDOW_SECS
            );
            challenge.push_str(&format!(", oauth_acceptable_timestamps=\"{range}\""));
            body.push_str(&format!("&oauth_acceptable_timestamps={range}"));
        }
        (
            StatusCode::UNAUTHORIZED,
            [
                (header::WWW_AUTHENTICATE, hv(&challenge)),
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/x-www-form-urlencoded"),
                ),
            ],
            body,
        )
            .into_response()
    }
}

fn hv(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("OAuth"))
}

/// The protocol parameters of a signed request after signature checks.
#[derive(Clone, Debug)]
pub struct Signed {
    pub consumer_key: String,
    /// `Some("")` for 2LO, `Some(token)` for 3LO and access-token requests, `None` otherwise.
    pub token: Option<String>,
    /// All parameters, decoded (protocol, query and form).
    pub params: BTreeMap<String, String>,
}

impl Signed {
    pub fn get(&self, k: &str) -> Option<&str> {
        self.params.get(k).map(String::as_str)
    }

    /// The impersonated user of a 2LOi request (`xoauth_requestor_id`, legacy `user_id`).
    pub fn requestor(&self) -> Option<&str> {
        self.get("xoauth_requestor_id")
            .or_else(|| self.get("user_id"))
            .filter(|s| !s.is_empty())
    }
}

/// Nonces seen per consumer key, pruned once they fall out of the timestamp window.
#[derive(Default, Debug)]
pub struct NonceStore {
    seen: HashMap<(String, String), i64>,
}

impl NonceStore {
    /// Records the nonce; false if it was already used.
    pub fn check_and_record(&mut self, consumer: &str, nonce: &str, ts: i64) -> bool {
        if self.seen.len() > 50_000 {
            let cutoff = now_secs() - 2 * TIMESTAMP_WINDOW_SECS;
            self.seen.retain(|_, t| *t >= cutoff);
        }
        self.seen
            .insert((consumer.to_string(), nonce.to_string()), ts)
            .is_none()
    }
}

/// Checks a signed request. `lookup` maps a consumer key to its public key.
pub fn verify(
    method: &str,
    base_uri: &str,
    oauth: &[(String, String)],
    query_and_form: &[(String, String)],
    lookup: impl FnOnce(&str) -> Option<RsaPublicKey>,
    nonces: &mut NonceStore,
) -> Result<Signed, Problem> {
    let get = |k: &str| {
        oauth
            .iter()
            .chain(query_and_form.iter())
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    let consumer_key = get("oauth_consumer_key").ok_or(Problem::ParameterAbsent)?;
    let method_name = get("oauth_signature_method").ok_or(Problem::ParameterAbsent)?;
    let signature = get("oauth_signature").ok_or(Problem::ParameterAbsent)?;
    let ts: i64 = get("oauth_timestamp")
        .ok_or(Problem::ParameterAbsent)?
        .parse()
        .map_err(|_| Problem::TimestampRefused)?;
    let nonce = get("oauth_nonce").ok_or(Problem::ParameterAbsent)?;
    if method_name != "RSA-SHA1" {
        return Err(Problem::SignatureMethodRejected);
    }
    let key = lookup(&consumer_key).ok_or(Problem::ConsumerKeyUnknown)?;
    if (now_secs() - ts).abs() > TIMESTAMP_WINDOW_SECS {
        return Err(Problem::TimestampRefused);
    }
    let params: Vec<(String, String)> = oauth
        .iter()
        .chain(query_and_form.iter())
        .filter(|(k, _)| k != "oauth_signature" && k != "realm")
        .cloned()
        .collect();
    let base = base_string(method, base_uri, &params);
    if !rsa_verify(&key, &base, &signature) {
        return Err(Problem::SignatureInvalid);
    }
    if !nonces.check_and_record(&consumer_key, &nonce, ts) {
        return Err(Problem::NonceUsed);
    }
    let token = get("oauth_token");
    Ok(Signed {
        consumer_key,
        token,
        params: params.into_iter().collect(),
    })
}

/// How an outgoing request is signed.
#[derive(Clone, Debug)]
pub struct Signer {
    pub consumer_key: String,
    pub key: RsaPrivateKey,
}

/// Fault knobs of outgoing signing.
#[derive(Clone, Copy, Debug, Default)]
pub struct SignFaults {
    pub tamper: bool,
    pub clock_skew_secs: i64,
}

impl Signer {
    /// Returns the `Authorization` header for `method url`. `token` is `Some("")` for 2LO.
    /// Query parameters of `url` (including `xoauth_requestor_id`) are signed.
    pub fn authorize(
        &self,
        method: &str,
        url: &url::Url,
        token: Option<&str>,
        faults: SignFaults,
    ) -> String {
        let mut base = url.clone();
        base.set_query(None);
        base.set_fragment(None);
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let params = oauth1_request::ParameterList::new(pairs);
        let rsa = oauth1_request::Rsa09Sha1::new(self.key.clone());
        let mut builder = oauth1_request::Builder::<_, String, String>::new(
            oauth1_request::Credentials::new(self.consumer_key.clone(), String::new()),
            &rsa,
        );
        if let Some(t) = token {
            builder.token(oauth1_request::Credentials::new(
                t.to_string(),
                String::new(),
            ));
        }
        let ts = (now_secs() + faults.clock_skew_secs).max(1) as u64;
        builder.timestamp(NonZeroU64::new(ts));
        let header = builder.authorize(method, base.as_str(), &params);
        if faults.tamper {
            tamper(&header)
        } else {
            header
        }
    }
}

/// Flips one character of the signature so that verification fails while the shape stays valid.
fn tamper(header: &str) -> String {
    let Some(pos) = header.find("oauth_signature=\"") else {
        return header.to_string();
    };
    let start = pos + "oauth_signature=\"".len();
    let mut bytes = header.as_bytes().to_vec();
    bytes[start] = if bytes[start] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap_or_else(|_| header.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::keys::private_key;

    fn sign_and_verify(
        url: &str,
        token: Option<&str>,
        tamper: bool,
        skew: i64,
    ) -> Result<Signed, Problem> {
        let key = private_key("oauth-test", 1024);
        let signer = Signer {
            consumer_key: "Jira:0123456789".into(),
            key: key.clone(),
        };
        let u = url::Url::parse(url).unwrap();
        let header = signer.authorize(
            "GET",
            &u,
            token,
            SignFaults {
                tamper,
                clock_skew_secs: skew,
            },
        );
        let oauth = parse_authorization(&header).unwrap();
        let query = form_pairs(u.query().unwrap_or(""));
        let mut base = u.clone();
        base.set_query(None);
        let public = key.to_public_key();
        let mut nonces = NonceStore::default();
        verify(
            "GET",
            base.as_str(),
            &oauth,
            &query,
            |k| (k == "Jira:0123456789").then(|| public.clone()),
            &mut nonces,
        )
    }

    #[test]
    fn two_lo_signature_round_trip_with_query() {
        let s = sign_and_verify(
            "http://127.0.0.1:1234/rest/applinks/1.0/applicationlink/x?reciprocate=false&xoauth_requestor_id=a%20b",
            Some(""),
            false,
            0,
        )
        .unwrap();
        assert_eq!(s.token.as_deref(), Some(""));
        assert_eq!(s.requestor(), Some("a b"));
    }

    #[test]
    fn tampered_signature_is_invalid() {
        let e = sign_and_verify("http://h/x", Some(""), true, 0).unwrap_err();
        assert_eq!(e, Problem::SignatureInvalid);
    }

    #[test]
    fn skewed_timestamp_is_refused() {
        let e = sign_and_verify("http://h/x", Some(""), false, 301).unwrap_err();
        assert_eq!(e, Problem::TimestampRefused);
        assert!(sign_and_verify("http://h/x", Some(""), false, 290).is_ok());
    }

    #[test]
    fn rfc5849_base_string_example() {
        // RFC 5849 §3.4.1.1 example, parameters already decoded.
        let params: Vec<(String, String)> = [
            ("b5", "=%3D"),
            ("a3", "a"),
            ("c@", ""),
            ("a2", "r b"),
            ("oauth_consumer_key", "9djdj82h48djs9d2"),
            ("oauth_token", "kkk9d7dh3k39sjv7"),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_timestamp", "137131201"),
            ("oauth_nonce", "7d8f3e4a"),
            ("c2", ""),
            ("a3", "2 q"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let b = base_string("post", "http://example.com/request", &params);
        assert_eq!(
            b,
            "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q%26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk9d7dh3k39sjv7"
        );
    }

    #[test]
    fn nonce_reuse_is_detected() {
        let mut n = NonceStore::default();
        assert!(n.check_and_record("k", "n1", 1));
        assert!(!n.check_and_record("k", "n1", 1));
        assert!(n.check_and_record("k2", "n1", 1));
    }
}
