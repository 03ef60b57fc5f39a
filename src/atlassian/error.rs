//! Typed errors of the Atlassian client. Each carries a stable PascalCase `reason()` that the
//! controller copies into Kubernetes conditions, and a message that says what to change.

use std::time::Duration;

/// The least invasive change while Basic is blocked: the user the Secret names (not a secret)
/// and where the application's Basic authentication settings are (docs/products.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowBasic {
    pub username: String,
    pub config_url: String,
}

/// Errors returned by [`super::AtlassianClient`]. URLs in messages never contain credentials
/// (they are sent in headers only) and carry no query string.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    #[error("invalid client configuration: {detail}")]
    InvalidConfig { detail: String },

    #[error("{url} is unreachable ({detail}); check the URL, DNS and network policies")]
    Unreachable { url: String, detail: String },

    #[error(
        "request to {url} timed out after {timeout:?}{}",
        match .progress { Some(p) => format!(" ({p})"), None => "; the application is overloaded or not answering, or the network to it drops packets".to_owned() }
    )]
    Timeout {
        url: String,
        timeout: Duration,
        /// What had arrived when the time was up, if anything.
        progress: Option<String>,
    },

    #[error(
        "the host name {host:?} of {url} does not resolve ({detail}); fix the host in spec.url, or the DNS record for it (from where the operator runs)"
    )]
    UnknownHost {
        url: String,
        host: String,
        detail: String,
    },

    #[error(
        "TLS handshake with {url} failed ({detail}); add the CA that signed the application's certificate to the instance's CA bundle, or fix the certificate"
    )]
    Tls { url: String, detail: String },

    #[error(
        "the TLS certificate served at {url} has expired{}; renew it where TLS ends for this address (the application's HTTPS connector, or the proxy or load balancer in front of it). Certificates are always verified, so nothing is sent until then",
        expired_at(.not_after)
    )]
    TlsCertificateExpired {
        url: String,
        not_after: Option<String>,
    },

    #[error(
        "the TLS certificate served at {url} is not valid for the host {host:?}{}; set spec.url to a host name the certificate names, or reissue the certificate with {host:?} among its subject alternative names",
        names(.presented)
    )]
    TlsHostnameMismatch {
        url: String,
        host: String,
        presented: Vec<String>,
    },

    #[error(
        "{url} redirected to {location}, which is another origin ({}); the redirect was not followed and no credentials were sent there. Set spec.url to the address the application answers on directly, or stop the proxy in front of it from redirecting REST requests",
        origins(.url, .location)
    )]
    Redirected { url: String, location: String },

    #[error(
        "{url} answered 401 to a request only a system administrator may make ({action}): the instance's credentials are an administrator's but not a system administrator's. Use the credentials of a user in a group with the System Administrator global permission"
    )]
    NotSystemAdministrator { url: String, action: &'static str },

    #[error(
        "{url} answered with an HTML login page ({detail}) instead of the REST resource: a proxy or single sign-on in front of the application, or the application itself, sends the operator's requests to a login page. Let requests to /rest/ reach the application with Basic or token authentication (exempt them from single sign-on), or set spec.url to the application's own base URL"
    )]
    LoginPageServed { url: String, detail: String },

    #[error("{action} needs administrator credentials, but none are configured for {url}")]
    CredentialsMissing { url: String, action: &'static str },

    #[error(
        "{url} rejected the credentials (401){}; provide the username and password (or token) of an administrator. They are not sent again until the Secret changes",
        suffix(.message)
    )]
    Unauthorized {
        url: String,
        message: Option<String>,
    },

    #[error(
        "{url} refused Basic authentication (403){}: it is blocked on this application. Least invasive change: a system administrator allows Basic for this user only, by adding {:?} to \"allowed-users\" with PUT {} and the body {{\"allowed-users\": [\"{}\"]}} plus the users already listed (the PUT replaces the list: GET it first), sent with their personal access token; Basic requests also pass secure administrator sessions. Then change the Secret (an annotation will do) so the operator tries again. A personal access token under the Secret's token key works instead only where secure administrator sessions are off or exempt tokens (Confluence)",
        suffix(.message),
        .allow.username,
        .allow.config_url,
        .allow.username
    )]
    BasicAuthDisabled {
        url: String,
        message: Option<String>,
        /// What to allow where, for the least invasive change (boxed: errors stay small).
        allow: Box<AllowBasic>,
    },

    #[error(
        "{url} requires a secure administrator session (WebSudo) for this request and refuses it from a personal access token (401). Least invasive change: put the username and password of an administrator in the Secret instead of the token (Basic requests pass secure administrator sessions); where Basic is blocked (Jira 11's default) a system administrator also allows it for that user only: PUT {config_url} with {{\"allowed-users\": [\"<that user>\"]}} plus the users already listed (the PUT replaces the list: GET it first). Otherwise turn secure administrator sessions off, which affects every administrator (Jira: jira.websudo.is.disabled=true in jira-config.properties; Confluence: General configuration > Security configuration)"
    )]
    SecureAdminSessionRequired { url: String, config_url: Box<str> },

    #[error(
        "{url} locked the login behind a CAPTCHA after failed logins (403 CAPTCHA_CHALLENGE); every further Basic request is refused, even with the right password. Log in once in a browser at {login_url} and solve the CAPTCHA, fix the password in the Secret if it was wrong; the operator sends no credentials there until the Secret changes"
    )]
    LoginCaptchaRequired { url: String, login_url: String },

    #[error("{message}; they are not sent again until the Secret changes")]
    CredentialsHeld {
        reason: &'static str,
        message: String,
    },

    #[error(
        "{url} denied the request (403){}; the user must be an administrator (a system administrator for relocation and 2LO impersonation)",
        suffix(.message)
    )]
    Forbidden {
        url: String,
        message: Option<String>,
    },

    #[error("{url} was not found (404){}", suffix(.message))]
    NotFound {
        url: String,
        message: Option<String>,
    },

    #[error("{url} answered 409 Conflict{}", suffix(.message))]
    Conflict {
        url: String,
        message: Option<String>,
    },

    #[error("{url} rejected the request (400){}", suffix(.message))]
    BadRequest {
        url: String,
        message: Option<String>,
    },

    #[error("an application link with id {id} already exists on {url}")]
    AlreadyExists { url: String, id: String },

    #[error(
        "{url} holds an unreadable (corrupted) application link with id {id}, left behind by an earlier failed delete: it is not listed, and a new link with that id cannot be created ({detail}). The REST API cannot remove it either: an administrator of {base} must delete the link's leftover properties (keys containing {id}) from the application's database, as Atlassian's knowledge base describes for 'type not installed' links; the operator then creates the link"
    )]
    CorruptedLink {
        url: String,
        base: String,
        id: String,
        detail: String,
    },

    #[error(
        "{url} refused the change (400): another link there, {other_name:?} (id {other_id}), already uses this {field}. Delete or change that link in the application first; nothing was changed"
    )]
    DuplicateLinkField {
        url: String,
        field: &'static str,
        other_id: String,
        other_name: String,
    },

    #[error(
        "{url} has no allowlist REST resource at any of the paths tried ({}); the allowlist rule for a cloud peer must be added in the application's admin UI (Allowlist), or tell us the path your version serves",
        .tried.join(", ")
    )]
    AllowlistNotFound { url: String, tried: Vec<String> },

    #[error(
        "{url} answered with a redirect to {location}; applications never follow redirects on the manifest, so peers would report an error. Set the instance URL to {location} (the address the application answers on directly)"
    )]
    ManifestRedirected { url: String, location: String },

    #[error("{url} is rate limiting requests (429){}", retry_hint(.retry_after))]
    RateLimited {
        url: String,
        retry_after: Option<Duration>,
    },

    #[error("{url} failed with HTTP {status}{}", suffix(.message))]
    Server {
        url: String,
        status: u16,
        message: Option<String>,
    },

    #[error("{url} answered with unexpected HTTP status {status}{}", suffix(.message))]
    UnexpectedStatus {
        url: String,
        status: u16,
        message: Option<String>,
    },

    #[error("{url} sent a response that could not be understood: {detail}")]
    MalformedResponse { url: String, detail: String },

    #[error(
        "{url} sent a response of more than {limit} bytes, the most the operator reads from one answer; it stopped reading there. No applinks resource answers this much: spec.url may point at something else (a file server, a proxy's error dump), or a proxy rewrites the answer"
    )]
    ResponseTooLarge { url: String, limit: usize },

    #[error(
        "{url} sent a {field} of {len} bytes, more than the {limit} the operator accepts; it was not used or stored. No Atlassian application sends one this long: spec.url may point at something else, or a proxy rewrites the answer"
    )]
    ValueTooLong {
        url: String,
        field: String,
        len: usize,
        limit: usize,
    },

    #[error("HTTP request to {url} failed: {detail}")]
    Transport { url: String, detail: String },
}

fn suffix(message: &Option<String>) -> String {
    match message {
        Some(m) if !m.is_empty() => format!(": {m}"),
        _ => String::new(),
    }
}

fn expired_at(not_after: &Option<String>) -> String {
    match not_after {
        Some(t) => format!(" (not valid after {t})"),
        None => String::new(),
    }
}

fn names(presented: &[String]) -> String {
    if presented.is_empty() {
        String::new()
    } else {
        format!(" (it names {})", presented.join(", "))
    }
}

/// "a → b" of the two origins, so the message shows where the request was sent away to.
fn origins(from: &str, to: &str) -> String {
    let origin = |u: &str| {
        url::Url::parse(u)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_else(|_| u.to_owned())
    };
    format!("{} instead of {}", origin(to), origin(from))
}

fn retry_hint(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(d) => format!("; retry after {}s", d.as_secs()),
        None => String::new(),
    }
}

impl ApiError {
    /// Stable, PascalCase reason for Kubernetes conditions.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::InvalidConfig { .. } => "InvalidClientConfig",
            Self::Unreachable { .. } => "Unreachable",
            Self::Timeout { .. } => "Timeout",
            Self::UnknownHost { .. } => "UnknownHost",
            Self::Tls { .. } => "TlsError",
            Self::TlsCertificateExpired { .. } => "TlsCertificateExpired",
            Self::TlsHostnameMismatch { .. } => "TlsHostnameMismatch",
            Self::Redirected { .. } => "RedirectedToOtherOrigin",
            Self::LoginPageServed { .. } => "LoginPageServed",
            Self::CredentialsMissing { .. } => "CredentialsMissing",
            Self::NotSystemAdministrator { .. } => "NotSystemAdministrator",
            Self::Unauthorized { .. } => "CredentialsRejected",
            Self::BasicAuthDisabled { .. } => "BasicAuthDisabled",
            Self::SecureAdminSessionRequired { .. } => "SecureAdminSessionRequired",
            Self::LoginCaptchaRequired { .. } => "LoginCaptchaRequired",
            Self::CredentialsHeld { reason, .. } => reason,
            Self::Forbidden { .. } => "PermissionDenied",
            Self::NotFound { .. } => "NotFound",
            Self::Conflict { .. } => "Conflict",
            Self::BadRequest { .. } => "RequestRejected",
            Self::AlreadyExists { .. } => "AlreadyExists",
            Self::CorruptedLink { .. } => "CorruptedLink",
            Self::DuplicateLinkField { .. } => "LinkFieldInUse",
            Self::ManifestRedirected { .. } => "ManifestRedirected",
            Self::AllowlistNotFound { .. } => "AllowlistNotFound",
            Self::RateLimited { .. } => "RateLimited",
            Self::Server { .. } => "ServerError",
            Self::UnexpectedStatus { .. } => "UnexpectedStatus",
            Self::MalformedResponse { .. } => "MalformedResponse",
            Self::ResponseTooLarge { .. } => "ResponseTooLarge",
            Self::ValueTooLong { .. } => "RemoteValueTooLong",
            Self::Transport { .. } => "TransportError",
        }
    }

    /// True when trying again later may succeed without anybody changing anything.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Unreachable { .. }
                | Self::Timeout { .. }
                | Self::RateLimited { .. }
                | Self::Server { .. }
                | Self::Transport { .. }
        )
    }

    /// The delay the server asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// True when the application refused these credentials themselves (as opposed to what they
    /// may do): sending them again cannot help and may lock the account, so the client holds
    /// them back until they change.
    pub fn rejects_credentials(&self) -> bool {
        matches!(
            self,
            Self::Unauthorized { .. }
                | Self::BasicAuthDisabled { .. }
                | Self::LoginCaptchaRequired { .. }
                | Self::CredentialsHeld { .. }
        )
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }

    /// The server-provided message (from the Atlassian error envelope), if any.
    pub fn server_message(&self) -> Option<&str> {
        match self {
            Self::Unauthorized { message, .. }
            | Self::BasicAuthDisabled { message, .. }
            | Self::Forbidden { message, .. }
            | Self::NotFound { message, .. }
            | Self::Conflict { message, .. }
            | Self::BadRequest { message, .. }
            | Self::Server { message, .. }
            | Self::UnexpectedStatus { message, .. } => message.as_deref(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_pascal_case_and_messages_say_what_to_do() {
        let err = ApiError::Unauthorized {
            url: "https://jira.example.test/rest/applinks/1.0/authenticationinfo".into(),
            message: Some("You must be an administrator".into()),
        };
        assert_eq!(err.reason(), "CredentialsRejected");
        let text = err.to_string();
        assert!(text.contains("You must be an administrator"), "{text}");
        assert!(text.contains("administrator"), "{text}");
        assert!(!err.is_transient());

        let err = ApiError::RateLimited {
            url: "u".into(),
            retry_after: Some(Duration::from_secs(7)),
        };
        assert_eq!(err.reason(), "RateLimited");
        assert!(err.to_string().contains("retry after 7s"));
        assert!(err.is_transient());
    }
}
