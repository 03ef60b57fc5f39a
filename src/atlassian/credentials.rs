//! Credentials for one application. Secrets never appear in `Debug` output, so a stray
//! `tracing::debug!(?config)` cannot leak them.

use std::fmt;

/// A secret string (password or token). `Debug` prints a placeholder.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret itself; call only where it is put on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

/// How the client authenticates to its application.
///
/// Basic or a personal access token on every call (not a login session): secure administrator
/// sessions (WebSudo) always let Basic through and enforce themselves on cookie sessions; a
/// token passes only inside a session the application opened for it, on newer versions
/// (docs/protocol.md, Authentication and admin sessions).
#[derive(Clone, Default, PartialEq, Eq)]
pub enum Credentials {
    /// No credentials: only anonymous endpoints (manifest, capabilities, status/{id}/oauth).
    #[default]
    Anonymous,
    /// HTTP Basic with an administrator's username and password.
    Basic { username: String, password: Secret },
    /// `Authorization: Bearer` with a personal access token.
    Bearer { token: Secret },
}

impl Credentials {
    pub fn basic(username: impl Into<String>, password: impl Into<Secret>) -> Self {
        Self::Basic {
            username: username.into(),
            password: password.into(),
        }
    }

    pub fn bearer(token: impl Into<Secret>) -> Self {
        Self::Bearer {
            token: token.into(),
        }
    }

    pub fn is_anonymous(&self) -> bool {
        matches!(self, Self::Anonymous)
    }

    /// Every form in which these credentials go on the wire (the password, the token, the
    /// Basic header's base64 word): what must never come back in a message.
    pub(crate) fn wire_forms(&self) -> Vec<String> {
        match self {
            Self::Anonymous => Vec::new(),
            Self::Basic { username, password } => vec![
                password.expose().to_owned(),
                base64(format!("{username}:{}", password.expose()).as_bytes()),
            ],
            Self::Bearer { token } => vec![token.expose().to_owned()],
        }
    }

    /// Short description for logs and status messages, without the secret.
    pub fn describe(&self) -> String {
        match self {
            Self::Anonymous => "anonymous".to_owned(),
            Self::Basic { username, .. } => format!("basic auth as {username:?}"),
            Self::Bearer { .. } => "personal access token".to_owned(),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Anonymous => f.write_str("Anonymous"),
            Self::Basic { username, password } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", password)
                .finish(),
            Self::Bearer { token } => f.debug_struct("Bearer").field("token", token).finish(),
        }
    }
}

/// Standard base64 with padding (RFC 4648), as the Basic scheme encodes `user:password`.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_forms_include_the_basic_word() {
        assert_eq!(base64(b"admin:admin"), "YWRtaW46YWRtaW4=");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b""), "");
        let forms = Credentials::basic("admin", "hunter2").wire_forms();
        assert_eq!(forms, ["hunter2", "YWRtaW46aHVudGVyMg=="]);
    }

    #[test]
    fn debug_redacts_secrets() {
        let basic = Credentials::basic("admin", "hunter2");
        let shown = format!("{basic:?}");
        assert!(shown.contains("admin"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
        let bearer = Credentials::bearer("tok-123");
        let shown = format!("{bearer:?} {}", bearer.describe());
        assert!(!shown.contains("tok-123"), "{shown}");
    }
}
