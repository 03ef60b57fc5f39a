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

#[cfg(test)]
mod tests {
    use super::*;

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
