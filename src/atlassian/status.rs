//! Link health as the application itself computes it: `GET rest/applinks/3.0/status/{id}`
//! (docs/protocol.md, Status API). This call makes the application contact its peer, so it is
//! slow-ish.

use serde::Deserialize;

use super::client::{AtlassianClient, Call};
use super::envelope::wire_enum;
use super::error::ApiError;
use super::limits::{MAX_ID_BYTES, MAX_TEXT_BYTES, cap};
use super::oauth::LinkOAuthConfig;

/// `RestApplinkStatus`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkStatus {
    #[serde(default)]
    pub link: Option<StatusLink>,
    #[serde(default)]
    pub working: bool,
    #[serde(default)]
    pub local_authentication: Option<LinkOAuthConfig>,
    /// Absent when the application could not read its peer's configuration.
    #[serde(default)]
    pub remote_authentication: Option<LinkOAuthConfig>,
    /// Present only when `working` is false.
    #[serde(default)]
    pub error: Option<StatusError>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusLink {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub display_url: Option<String>,
    #[serde(default)]
    pub rpc_url: Option<String>,
    #[serde(rename = "type", default)]
    pub type_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusError {
    #[serde(default = "unknown_category")]
    pub category: ErrorCategory,
    #[serde(rename = "type", default = "unknown_type")]
    pub error_type: StatusErrorType,
    #[serde(default)]
    pub details: Option<String>,
    /// Where a user completes the 3LO dance, for the two token-required errors.
    #[serde(default)]
    pub authorisation_uri: Option<String>,
}

fn unknown_category() -> ErrorCategory {
    ErrorCategory::Unknown
}

fn unknown_type() -> StatusErrorType {
    StatusErrorType::Unknown
}

wire_enum! {
    /// `ApplinkErrorCategory`.
    ErrorCategory {
        Unknown = "UNKNOWN",
        Incompatible = "INCOMPATIBLE",
        NonAtlassian = "NON_ATLASSIAN",
        System = "SYSTEM",
        NetworkError = "NETWORK_ERROR",
        AccessError = "ACCESS_ERROR",
        ConfigError = "CONFIG_ERROR",
        Deprecated = "DEPRECATED",
        Disabled = "DISABLED",
    }
}

wire_enum! {
    /// `ApplinkErrorType`.
    StatusErrorType {
        Unknown = "UNKNOWN",
        NoOutgoingAuth = "NO_OUTGOING_AUTH",
        RemoteVersionIncompatible = "REMOTE_VERSION_INCOMPATIBLE",
        GenericLink = "GENERIC_LINK",
        NonAtlassian = "NON_ATLASSIAN",
        SystemLink = "SYSTEM_LINK",
        ConnectionRefused = "CONNECTION_REFUSED",
        UnknownHost = "UNKNOWN_HOST",
        SslUntrusted = "SSL_UNTRUSTED",
        SslHostnameUnmatched = "SSL_HOSTNAME_UNMATCHED",
        SslUnmatched = "SSL_UNMATCHED",
        OAuthProblem = "OAUTH_PROBLEM",
        OAuthTimestampRefused = "OAUTH_TIMESTAMP_REFUSED",
        OAuthSignatureInvalid = "OAUTH_SIGNATURE_INVALID",
        UnexpectedResponse = "UNEXPECTED_RESPONSE",
        UnexpectedResponseStatus = "UNEXPECTED_RESPONSE_STATUS",
        LocalAuthTokenRequired = "LOCAL_AUTH_TOKEN_REQUIRED",
        RemoteAuthTokenRequired = "REMOTE_AUTH_TOKEN_REQUIRED",
        InsufficientRemotePermission = "INSUFFICIENT_REMOTE_PERMISSION",
        NoRemoteApplink = "NO_REMOTE_APPLINK",
        AuthLevelMismatch = "AUTH_LEVEL_MISMATCH",
        AuthLevelUnsupported = "AUTH_LEVEL_UNSUPPORTED",
        LegacyUpdate = "LEGACY_UPDATE",
        LegacyRemoval = "LEGACY_REMOVAL",
        ManualLegacyUpdate = "MANUAL_LEGACY_UPDATE",
        ManualLegacyRemoval = "MANUAL_LEGACY_REMOVAL",
        ManualLegacyRemovalWithOldEdit = "MANUAL_LEGACY_REMOVAL_WITH_OLD_EDIT",
        Disabled = "DISABLED",
    }
}

impl StatusErrorType {
    /// The category applinks assigns to this type (used when a response omits it).
    pub fn category(&self) -> ErrorCategory {
        use StatusErrorType as T;
        match self {
            T::Unknown | T::Other(_) => ErrorCategory::Unknown,
            T::NoOutgoingAuth | T::RemoteVersionIncompatible => ErrorCategory::Incompatible,
            T::GenericLink | T::NonAtlassian => ErrorCategory::NonAtlassian,
            T::SystemLink => ErrorCategory::System,
            T::ConnectionRefused
            | T::UnknownHost
            | T::SslUntrusted
            | T::SslHostnameUnmatched
            | T::SslUnmatched
            | T::OAuthProblem
            | T::OAuthTimestampRefused
            | T::OAuthSignatureInvalid
            | T::UnexpectedResponse
            | T::UnexpectedResponseStatus => ErrorCategory::NetworkError,
            T::LocalAuthTokenRequired
            | T::RemoteAuthTokenRequired
            | T::InsufficientRemotePermission => ErrorCategory::AccessError,
            T::NoRemoteApplink | T::AuthLevelMismatch => ErrorCategory::ConfigError,
            T::AuthLevelUnsupported
            | T::LegacyUpdate
            | T::LegacyRemoval
            | T::ManualLegacyUpdate
            | T::ManualLegacyRemoval
            | T::ManualLegacyRemovalWithOldEdit => ErrorCategory::Deprecated,
            T::Disabled => ErrorCategory::Disabled,
        }
    }
}

impl AtlassianClient {
    /// `GET rest/applinks/3.0/status/{id}`: the application's own health verdict for a link
    /// (it calls its peer to compute it). `None` if it has no link with that id.
    pub async fn link_status(&self, link_id: &str) -> Result<Option<LinkStatus>, ApiError> {
        match self
            .execute(
                Call::get("rest/applinks/3.0/status")
                    .segment(link_id)
                    .admin("reading application link status"),
            )
            .await
        {
            Ok(reply) => {
                let mut status: LinkStatus = reply.json()?;
                if let Some(err) = status.error.as_mut() {
                    if err.category == ErrorCategory::Unknown {
                        err.category = err.error_type.category();
                    }
                    // Names are kept whole or not at all; the free text is cut.
                    if let ErrorCategory::Other(c) = &err.category {
                        super::limits::check(&reply.url, "error category", c, MAX_ID_BYTES)?;
                    }
                    if let StatusErrorType::Other(t) = &err.error_type {
                        super::limits::check(&reply.url, "error type", t, MAX_ID_BYTES)?;
                    }
                    err.details = err.details.as_deref().map(|d| cap(d, MAX_TEXT_BYTES));
                }
                Ok(Some(status))
            }
            Err(ApiError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atlassian::oauth::OAuthLevel;
    use crate::atlassian::test_support::*;
    use wiremock::Mock;
    use wiremock::matchers::{method, path};

    const ID: &str = "6b49910b-9513-3e59-9af1-7d75d31d5c54";

    #[tokio::test]
    async fn status_working_and_errors() {
        let server = server().await;
        Mock::given(method("GET"))
            .and(path(format!("/rest/applinks/3.0/status/{ID}")))
            .respond_with(json_response(
                200,
                r#"{"link":{"id":"6b49910b-9513-3e59-9af1-7d75d31d5c54","name":"Jira","displayUrl":"https://jira","rpcUrl":"http://jira","type":"jira"},
                   "working":false,
                   "localAuthentication":{"incoming":{"enabled":true,"twoLoEnabled":true,"twoLoImpersonationEnabled":false},"outgoing":{"enabled":true,"twoLoEnabled":true,"twoLoImpersonationEnabled":false}},
                   "error":{"category":"NETWORK_ERROR","type":"CONNECTION_REFUSED","details":"Connection refused"}}"#,
            ))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/rest/applinks/3.0/status/aaaa"))
            .respond_with(json_response(
                200,
                r#"{"working":false,"error":{"type":"SOMETHING_NEW_IN_V10"}}"#,
            ))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/rest/applinks/3.0/status/bbbb"))
            .respond_with(json_response(
                200,
                r#"{"working":false,"error":{"type":"AUTH_LEVEL_MISMATCH"}}"#,
            ))
            .mount(&server)
            .await;
        let client = admin_client(&server);
        let s = client.link_status(ID).await.unwrap().unwrap();
        assert!(!s.working);
        assert_eq!(s.link.unwrap().type_id.as_deref(), Some("jira"));
        assert_eq!(
            s.local_authentication.unwrap().outgoing.level(),
            OAuthLevel::OAuth
        );
        assert!(s.remote_authentication.is_none());
        let e = s.error.unwrap();
        assert_eq!(e.category, ErrorCategory::NetworkError);
        assert_eq!(e.error_type, StatusErrorType::ConnectionRefused);
        assert_eq!(e.error_type.to_string(), "CONNECTION_REFUSED");

        let e = client
            .link_status("aaaa")
            .await
            .unwrap()
            .unwrap()
            .error
            .unwrap();
        assert_eq!(
            e.error_type,
            StatusErrorType::Other("SOMETHING_NEW_IN_V10".into())
        );
        assert_eq!(e.category, ErrorCategory::Unknown);

        // Missing category is derived from the type.
        let e = client
            .link_status("bbbb")
            .await
            .unwrap()
            .unwrap()
            .error
            .unwrap();
        assert_eq!(e.category, ErrorCategory::ConfigError);

        assert_eq!(client.link_status("cccc").await.unwrap(), None);
    }

    #[tokio::test]
    async fn status_working_link() {
        let server = server().await;
        Mock::given(method("GET"))
            .and(path(format!("/rest/applinks/3.0/status/{ID}")))
            .respond_with(json_response(
                200,
                r#"{"working":true,"localAuthentication":{"incoming":{"enabled":true,"twoLoEnabled":true,"twoLoImpersonationEnabled":true},"outgoing":{"enabled":true,"twoLoEnabled":true,"twoLoImpersonationEnabled":true}},"remoteAuthentication":{"incoming":{"enabled":true,"twoLoEnabled":true,"twoLoImpersonationEnabled":true},"outgoing":{"enabled":true,"twoLoEnabled":true,"twoLoImpersonationEnabled":true}}}"#,
            ))
            .mount(&server)
            .await;
        let s = admin_client(&server)
            .link_status(ID)
            .await
            .unwrap()
            .unwrap();
        assert!(s.working && s.error.is_none());
        assert_eq!(
            s.local_authentication.unwrap().mirrored(),
            s.remote_authentication.unwrap()
        );
    }
}
