//! The fixed vocabulary users alert on: condition types, condition reasons and event reasons.
//! Every reason the operator writes is one of these constants (error reasons come from
//! [`crate::atlassian::ApiError::reason`] and [`crate::errors::Error::reason`], which are fixed
//! mappings too); nothing is generated from free text at run time. The README lists them all,
//! and a test keeps that list true.

use crate::atlassian::StatusErrorType;

// Condition types.
pub const READY: &str = "Ready";
pub const RECONCILING: &str = "Reconciling";
pub const STALLED: &str = "Stalled";
/// Instance: the manifest was read at spec.url.
pub const REACHABLE: &str = "Reachable";
/// Instance: the credentials are an administrator's.
pub const CREDENTIALS_VALID: &str = "CredentialsValid";
/// Instance: the manifest's own base URL is spec.url (else OAuth signatures break behind proxies).
pub const BASE_URL_MATCHES: &str = "BaseUrlMatches";
/// Instance: the application's clock is within two minutes of the operator's.
pub const CLOCK_IN_SYNC: &str = "ClockInSync";
/// Instance: the application holds links no ApplicationLink manages (informational, never
/// blocks Ready; docs/estate.md).
pub const UNMANAGED_LINKS: &str = "UnmanagedLinks";
/// `UnmanagedLinks` reasons: some found, none, or the links could not be read.
pub const UNMANAGED_LINKS_FOUND: &str = "UnmanagedLinksFound";
pub const ALL_LINKS_MANAGED: &str = "AllLinksManaged";
pub const INVENTORY_UNREADABLE: &str = "InventoryUnreadable";
/// Link with `managementPolicy: Observe`: whether Manage would change the ends (informational).
pub const DRIFTED: &str = "Drifted";
pub const DRIFT_FOUND: &str = "DriftFound";
pub const IN_SYNC: &str = "InSync";

// Reasons of success and progress.
pub const WORKING: &str = "Working";
pub const ONE_WAY_LINK: &str = "OneWayLink";
pub const LINKED_WITHOUT_AUTHENTICATION: &str = "LinkedWithoutAuthentication";
pub const AWAITING_CLOUD_ADMIN: &str = "AwaitingCloudAdmin";
pub const APPLYING: &str = "Applying";
pub const ADMINISTERED: &str = "Administered";
pub const NOT_ADMINISTERED: &str = "NotAdministered";
pub const CLOUD_SITE: &str = "CloudSite";
pub const MANIFEST_READ: &str = "ManifestRead";
pub const ADMIN_CREDENTIALS: &str = "AdminCredentials";
pub const BASE_URL_MISMATCH: &str = "BaseUrlMismatch";
pub const CLOCK_SKEW: &str = "ClockSkew";
pub const NOT_CHECKED: &str = "NotChecked";
/// Link and ExternalApplication (Ready reason): a deletion waits for an end or client that
/// cannot be deleted yet.
pub const DELETION_BLOCKED: &str = "DeletionBlocked";
/// Instance: condition type of a deletion that waits (Ready keeps the application's health,
/// which the links still need to delete their ends).
pub const TERMINATING: &str = "Terminating";
/// The `Terminating` reason: links or ExternalApplications still use the instance.
pub const IN_USE: &str = "InUse";
/// Condition type of an object paused by `applinks.io/paused: "true"`, and the event reason
/// of the pause.
pub const PAUSED: &str = "Paused";
/// The `Paused` condition's reason.
pub const PAUSE_REQUESTED: &str = "PauseRequested";
/// Event: the pause annotation was removed.
pub const RESUMED: &str = "Resumed";

// Event reasons (Normal).
pub const CREATED: &str = "Created";
pub const RELOCATED: &str = "Relocated";
pub const PRIMARY_SET: &str = "PrimarySet";
pub const AUTHENTICATION_CONFIGURED: &str = "AuthenticationConfigured";
pub const ALLOWLISTED: &str = "Allowlisted";
pub const DELETED: &str = "Deleted";
pub const ORPHANED: &str = "Orphaned";
/// ExternalApplication: the client exists and its credentials are in the Secret.
pub const CREDENTIALS_DELIVERED: &str = "CredentialsDelivered";
pub const CLIENT_RECREATED: &str = "ClientRecreated";
pub const CLIENT_UPDATED: &str = "ClientUpdated";
pub const SECRET_ROTATED: &str = "SecretRotated";
pub const SECRET_WRITTEN: &str = "SecretWritten";

/// The Ready reason (and `status.health`) of a link an application reports as not working,
/// from the status API's error type.
pub fn link_health(t: &StatusErrorType) -> &'static str {
    use StatusErrorType as T;
    match t {
        T::Unknown | T::Other(_) => "LinkNotWorking",
        T::NoOutgoingAuth => "NoOutgoingAuth",
        T::RemoteVersionIncompatible => "RemoteVersionIncompatible",
        T::GenericLink => "GenericLink",
        T::NonAtlassian => "NonAtlassian",
        T::SystemLink => "SystemLink",
        T::ConnectionRefused => "ConnectionRefused",
        T::UnknownHost => "UnknownHost",
        T::SslUntrusted => "SslUntrusted",
        T::SslHostnameUnmatched => "SslHostnameUnmatched",
        T::SslUnmatched => "SslUnmatched",
        T::OAuthProblem => "OAuthProblem",
        T::OAuthTimestampRefused => "OAuthTimestampRefused",
        T::OAuthSignatureInvalid => "OAuthSignatureInvalid",
        T::UnexpectedResponse => "UnexpectedResponse",
        T::UnexpectedResponseStatus => "UnexpectedResponseStatus",
        T::LocalAuthTokenRequired => "LocalAuthTokenRequired",
        T::RemoteAuthTokenRequired => "RemoteAuthTokenRequired",
        T::InsufficientRemotePermission => "InsufficientRemotePermission",
        T::NoRemoteApplink => "NoRemoteApplink",
        T::AuthLevelMismatch => "AuthLevelMismatch",
        T::AuthLevelUnsupported => "AuthLevelUnsupported",
        T::LegacyUpdate => "LegacyUpdate",
        T::LegacyRemoval => "LegacyRemoval",
        T::ManualLegacyUpdate => "ManualLegacyUpdate",
        T::ManualLegacyRemoval => "ManualLegacyRemoval",
        T::ManualLegacyRemovalWithOldEdit => "ManualLegacyRemovalWithOldEdit",
        T::Disabled => "Disabled",
    }
}

/// The error reason of credentials an application refuses ([`crate::atlassian::ApiError`]).
pub const CREDENTIALS_REJECTED: &str = "CredentialsRejected";

/// The end's link is missing although it was just observed (or the status API says so).
pub const NO_LINK: &str = "NoLink";
/// The operator could not ask an application for the link's health.
pub const HEALTH_UNKNOWN: &str = "HealthUnknown";

/// What an administrator does about a link health the applications report: the fixes the
/// products' knowledge base gives for each, in one sentence (docs/troubleshooting.md has more).
pub fn health_advice(reason: &str) -> Option<&'static str> {
    Some(match reason {
        "SslUntrusted" | "SslUnmatched" => {
            "The application's Java runtime does not trust the peer's certificate: add the CA that signed it to the application's truststore (Atlassian's Data Center Helm charts: the product's additionalCertificates setting, e.g. jira.additionalCertificates.secretName; on a server: import it into the JVM's cacerts and restart)"
        }
        "SslHostnameUnmatched" => {
            "The peer's certificate does not name the host this application calls: give the peer's instance a url whose host the certificate names, or reissue the certificate"
        }
        "ConnectionRefused" | "UnknownHost" => {
            "The application cannot reach the peer at the peer instance's url: that url must be reachable from the application itself (in a cluster, the peer's Service DNS name as url and its public address as displayUrl)"
        }
        "OAuthSignatureInvalid" => {
            "Most often a base URL that differs from the URL the peer calls (a proxy): check BaseUrlMatches on both instances; if a peer was rebuilt with new keys, re-create the link"
        }
        "OAuthTimestampRefused" => {
            "The two applications' clocks differ by more than OAuth allows: check ClockInSync on both instances and fix time synchronisation"
        }
        _ => return None,
    })
}

/// Every reason the operator can write, for the docs/reasons.md test. Error reasons are included.
#[cfg(test)]
const ALL: &[&str] = &[
    WORKING,
    ONE_WAY_LINK,
    LINKED_WITHOUT_AUTHENTICATION,
    AWAITING_CLOUD_ADMIN,
    APPLYING,
    ADMINISTERED,
    NOT_ADMINISTERED,
    CLOUD_SITE,
    BASE_URL_MATCHES,
    CLOCK_IN_SYNC,
    MANIFEST_READ,
    ADMIN_CREDENTIALS,
    BASE_URL_MISMATCH,
    CLOCK_SKEW,
    NOT_CHECKED,
    DELETION_BLOCKED,
    IN_USE,
    UNMANAGED_LINKS_FOUND,
    ALL_LINKS_MANAGED,
    INVENTORY_UNREADABLE,
    "EntityLinksPresent",
    DRIFT_FOUND,
    IN_SYNC,
    PAUSED,
    PAUSE_REQUESTED,
    RESUMED,
    NO_LINK,
    HEALTH_UNKNOWN,
    CREATED,
    RELOCATED,
    PRIMARY_SET,
    AUTHENTICATION_CONFIGURED,
    ALLOWLISTED,
    DELETED,
    ORPHANED,
    CREDENTIALS_DELIVERED,
    CLIENT_RECREATED,
    CLIENT_UPDATED,
    SECRET_ROTATED,
    SECRET_WRITTEN,
    // Errors (crate::errors::Error::reason and ApiError::reason).
    "KubernetesApiError",
    "SecretNotFound",
    "SecretIncomplete",
    "CredentialsNotAllowed",
    "CaBundleNotFound",
    "CaBundleInvalid",
    "InstanceNotFound",
    "InstanceNotReady",
    "CacheNotSynced",
    "SourceNotAdministered",
    "ImpersonationNotAllowed",
    "HttpsRequired",
    "WrongType",
    "IdentityMismatch",
    "TargetIdentityChanged",
    "EnvironmentMismatch",
    "DuplicateApplicationId",
    "OldUrlStillServesApplication",
    "RelocationUnconfirmed",
    "NamespaceNotAllowed",
    "LinkNotOwned",
    "ClaimedElsewhere",
    "InvalidSpec",
    "KeyGenerationFailed",
    "DeletionNotVerified",
    "OAuth2NotSupported",
    "OAuth2LinkNotSupportedYet",
    "ScopeNotOffered",
    "ClientNameTaken",
    "SecretNotOwned",
    "InvalidSecretTemplate",
    "InstanceNotAdministered",
    "NotSystemAdministrator",
    "InvalidClientConfig",
    "Unreachable",
    "Timeout",
    "TlsError",
    "TlsCertificateExpired",
    "TlsHostnameMismatch",
    "UnknownHost",
    "LoginPageServed",
    "RedirectedToOtherOrigin",
    "ManifestRedirected",
    "CredentialsMissing",
    "CredentialsRejected",
    "BasicAuthDisabled",
    "SecureAdminSessionRequired",
    "LoginCaptchaRequired",
    "PermissionDenied",
    "NotFound",
    "Conflict",
    "RequestRejected",
    "AlreadyExists",
    "CorruptedLink",
    "LinkFieldInUse",
    "AllowlistNotFound",
    "RateLimited",
    "ServerError",
    "UnexpectedStatus",
    "MalformedResponse",
    "ResponseTooLarge",
    "RemoteValueTooLong",
    "SecretTooLarge",
    "SecretNotWritable",
    "TransportError",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_is_pascal_case_and_documented_in_docs_reasons() {
        let readme = include_str!("../docs/reasons.md");
        for reason in ALL {
            assert!(
                reason
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_uppercase())
                    && reason.chars().all(|c| c.is_ascii_alphanumeric()),
                "{reason} is not PascalCase"
            );
            assert!(
                readme.contains(&format!("`{reason}`")),
                "docs/reasons.md lacks `{reason}`"
            );
        }
    }

    #[test]
    fn advice_names_the_fix_for_trust_failures() {
        let a = health_advice("SslUntrusted").unwrap();
        assert!(a.contains("additionalCertificates"), "{a}");
        assert!(
            health_advice("ConnectionRefused")
                .unwrap()
                .contains("Service DNS name")
        );
        assert_eq!(health_advice("Working"), None);
    }

    #[test]
    fn health_reasons_are_in_the_vocabulary() {
        use StatusErrorType as T;
        for t in [
            T::Unknown,
            T::AuthLevelMismatch,
            T::ConnectionRefused,
            T::OAuthSignatureInvalid,
            T::NoRemoteApplink,
            T::Disabled,
            T::Other("SOMETHING_NEW".into()),
        ] {
            let r = link_health(&t);
            assert!(r.chars().all(|c| c.is_ascii_alphanumeric()), "{r}");
        }
    }
}
