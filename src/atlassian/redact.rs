//! Text from an application (error bodies, headers, parser errors) on its way into conditions,
//! events and logs: a server that echoes the request would otherwise hand back the operator's
//! own credentials. Pure, table-tested.

/// What a removed value is replaced with.
pub(crate) const MARK: &str = "[redacted]";

/// Words that make a key secret wherever a server echoes it: HTTP headers (`Authorization:`,
/// `Cookie:`), form fields and JSON members (`"password": …`, `access_token=…`).
const SECRET_WORDS: &[&str] = &[
    "authorization",
    "cookie",
    "password",
    "passwd",
    "token",
    "secret",
    "session",
    "apikey",
    "api-key",
    "api_key",
];

/// Authentication schemes whose next word is a credential.
const SCHEMES: &[&str] = &["basic", "bearer", "digest", "negotiate"];

/// Known values shorter than this are not searched for (a 3-letter password would blank out
/// every word that contains it); the key and scheme rules still catch them in echoed headers.
const MIN_KNOWN_LEN: usize = 4;

/// `text` without the `known` values (the credentials of the request it answers, in every form
/// they were sent) and without anything that follows a secret key or an authentication scheme.
pub(crate) fn redact(text: &str, known: &[&str]) -> String {
    let mut out = text.to_owned();
    for value in known {
        if value.len() >= MIN_KNOWN_LEN && out.contains(value) {
            out = out.replace(value, MARK);
        }
    }
    let out = after_keys(&out);
    after_schemes(&out)
}

/// Removes the value after `key: `, `key=`, `"key": "…"` where the key names a secret.
fn after_keys(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        if !is_key_byte(bytes[i]) {
            // Copy up to the next key character (whole UTF-8 sequences only).
            let next = text[i..]
                .char_indices()
                .find(|(_, c)| c.is_ascii() && is_key_byte(*c as u8))
                .map(|(n, _)| i + n)
                .unwrap_or(bytes.len());
            out.push_str(&text[i..next]);
            i = next;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_key_byte(bytes[i]) {
            i += 1;
        }
        let key = text[start..i].to_ascii_lowercase();
        out.push_str(&text[start..i]);
        if !SECRET_WORDS.iter().any(|w| key.contains(w)) {
            continue;
        }
        // Optional closing quote of a JSON key, blanks, the separator, blanks.
        let mut j = i;
        if j < bytes.len() && matches!(bytes[j], b'"' | b'\'') {
            j += 1;
        }
        while j < bytes.len() && bytes[j] == b' ' {
            j += 1;
        }
        if j >= bytes.len() || !matches!(bytes[j], b':' | b'=') {
            continue;
        }
        j += 1;
        while j < bytes.len() && bytes[j] == b' ' {
            j += 1;
        }
        let quote = (j < bytes.len() && matches!(bytes[j], b'"' | b'\'')).then(|| bytes[j]);
        let value_start = if quote.is_some() { j + 1 } else { j };
        let mut k = value_start;
        while k < bytes.len() {
            let b = bytes[k];
            let ends = match quote {
                Some(q) => b == q,
                None => matches!(b, b'\r' | b'\n' | b',' | b';' | b'&' | b'}' | b'"'),
            };
            if ends {
                break;
            }
            k += 1;
        }
        if k == value_start {
            continue;
        }
        out.push_str(&text[i..value_start]);
        out.push_str(MARK);
        i = k;
    }
    out
}

/// Removes the word after `Basic `, `Bearer `, … (a credential sent in any header).
fn after_schemes(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        let at_word = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        let scheme = at_word
            .then(|| {
                SCHEMES.iter().find(|s| {
                    lower.as_bytes()[i..].starts_with(s.as_bytes())
                        && bytes.get(i + s.len()) == Some(&b' ')
                })
            })
            .flatten();
        let Some(scheme) = scheme else {
            i += 1;
            continue;
        };
        let value_start = i + scheme.len() + 1;
        let mut k = value_start;
        while k < bytes.len() && is_credential_byte(bytes[k]) {
            k += 1;
        }
        // A credential is one long word with more than letters in it (base64, a JWT, a
        // random token); "Basic Authentication" in prose is not one.
        let word = &text[value_start..k];
        if word.len() >= 8 && !word.bytes().all(|b| b.is_ascii_alphabetic()) {
            out.push_str(&text[copied..value_start]);
            out.push_str(MARK);
            copied = k;
        }
        i = k.max(i + 1);
    }
    out.push_str(&text[copied..]);
    out
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

fn is_credential_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_' | b'.' | b'~')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_table() {
        let known = ["hunter2-pass", "YWRtaW46aHVudGVyMi1wYXNz", "abc"];
        let cases = [
            (
                "an echoed header",
                "echo: Authorization: Basic YWRtaW46aHVudGVyMi1wYXNz\nAccept: application/json",
                "echo: Authorization: [redacted]\nAccept: application/json",
            ),
            (
                "a known value anywhere",
                "you sent hunter2-pass, which is wrong",
                "you sent [redacted], which is wrong",
            ),
            (
                "JSON members, quoted values kept apart",
                r#"{"password": "p w", "user": "admin", "access_token":"t0k3n"}"#,
                r#"{"password": "[redacted]", "user": "admin", "access_token":"[redacted]"}"#,
            ),
            (
                "a cookie header up to its end",
                "Cookie: JSESSIONID=ABCDEF0123; seraph=x",
                "Cookie: [redacted]; seraph=x",
            ),
            (
                "a form field",
                "client_id=c&client_secret=s3cr3t&grant_type=x",
                "client_id=c&client_secret=[redacted]&grant_type=x",
            ),
            (
                "a scheme in prose elsewhere",
                "the header was Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig then",
                "the header was Bearer [redacted] then",
            ),
            (
                "prose after a scheme name is kept",
                "Basic Authentication has been disabled on this instance.",
                "Basic Authentication has been disabled on this instance.",
            ),
            (
                "prose about keys is kept",
                "Basic auth is disabled; put a token under the Secret's token key. The password is wrong",
                "Basic auth is disabled; put a token under the Secret's token key. The password is wrong",
            ),
            (
                "short known values are not searched for",
                "abc is a word",
                "abc is a word",
            ),
            ("non-ASCII survives", "Größe: 3 — ok", "Größe: 3 — ok"),
        ];
        for (why, text, want) in cases {
            assert_eq!(redact(text, &known), want, "{why}");
        }
    }

    #[test]
    fn never_leaves_a_known_value() {
        let known = ["S3cret-Value"];
        for text in [
            "S3cret-ValueS3cret-Value",
            "x=S3cret-Value",
            "\"token\":\"S3cret-Value\"",
        ] {
            assert!(!redact(text, &known).contains(known[0]), "{text}");
        }
    }
}
