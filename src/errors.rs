//! Reconcile errors, each mapped to the condition reason users see and to whether waiting can
//! fix it (transient: retried with backoff) or a person must change something (Stalled).

use crate::atlassian::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API error: {0}")]
    Kube(#[from] kube::Error),

    /// A call to an application failed; `what` says which application and why it was called.
    #[error("{what}: {source}")]
    Remote {
        what: String,
        #[source]
        source: ApiError,
    },

    #[error(
        "Secret {name:?} not found in namespace {namespace:?}: create it with the administrator's user name and password (keys username and password) or a personal access token (key token), or fix spec.credentialsSecretRef.name"
    )]
    SecretNotFound { namespace: String, name: String },

    /// The Secret lacks a key, or a key is empty or not text; `detail` names the key and says
    /// what to put there (never a value).
    #[error("{detail}")]
    SecretIncomplete { name: String, detail: String },

    /// The Secret does not allow its credentials to be sent to this URL (its
    /// `applinks.io/allowed-urls` annotation); `detail` says what to add.
    #[error("{detail}")]
    CredentialsNotAllowed { name: String, detail: String },

    /// The CA bundle's Secret or ConfigMap, or its key, is missing.
    #[error("{detail}")]
    CaBundleNotFound {
        kind: &'static str,
        name: String,
        detail: String,
    },

    /// The CA bundle's key is empty or holds no PEM certificate.
    #[error("{detail}")]
    CaBundleInvalid {
        kind: &'static str,
        name: String,
        detail: String,
    },

    #[error("{0}")]
    EnvironmentMismatch(String),

    /// `shard` is the operator's watch selector, if any: an instance outside it is invisible.
    #[error(
        "{kind} {name:?} does not exist{}{}; create it or fix the reference",
        if kind.starts_with("Cluster") { "" } else { " in this namespace" },
        shard_hint(shard)
    )]
    InstanceNotFound {
        kind: &'static str,
        name: String,
        shard: Option<String>,
    },

    #[error("ApplicationInstance {name:?} is not ready yet ({why})")]
    InstanceNotReady { name: String, why: String },

    /// The operator's cache of another kind has not listed everything once yet (just after a
    /// start): reading it now would find nothing, so the pass waits and is retried.
    #[error("the operator's cache of {kind} objects has not been filled yet")]
    CacheNotSynced { kind: &'static str },

    #[error(
        "ApplicationInstance {name:?} has no valid administrator credentials, so the operator cannot create the source end; add credentialsSecretRef to it"
    )]
    SourceNotAdministered { name: String },

    #[error("{0}")]
    ImpersonationNotAllowed(String),

    #[error("{0}")]
    HttpsRequired(String),

    #[error(
        "the application at {url} is {actual:?}, but the instance declares type {expected:?}; fix spec.type or spec.url"
    )]
    WrongType {
        url: String,
        expected: String,
        actual: String,
    },

    #[error(
        "the application at {url} has id {found}, but this instance is {known}: it is another application. Nothing was changed; point spec.url back at {known}, or delete and recreate the ApplicationInstance if the application was replaced"
    )]
    IdentityMismatch {
        url: String,
        known: String,
        found: String,
    },

    #[error(
        "ApplicationInstance {other:?} points at an application with the same id {id} (at {other_url}); two instances of one application (or a clone restored from another's backup, which keeps its Server ID) would make links ambiguous, so nothing is written for either until one of them is removed or the clone gets a new Server ID"
    )]
    DuplicateApplicationId {
        id: String,
        other: String,
        other_url: String,
    },

    #[error(
        "the application at the new URL {new_url} has the id {id} of this instance, but the old URL {old_url} still serves that id too: this looks like a clone (a staging copy keeps its Server ID), not a move. Nothing was changed; point spec.url back at {old_url}, or stop the application there if it really moved"
    )]
    OldUrlStillServesApplication {
        id: String,
        old_url: String,
        new_url: String,
    },

    #[error(
        "the application at the new URL {new_url} shows this instance's id {id}, but the old URL {old_url} only failed ({detail}), which does not prove a move: nothing was changed and no credentials were sent to {new_url}. The move is proven when the old URL answers with another application or none, redirects to the new URL, or its host name is gone; if it is down for good, confirm with the annotation applinks.io/confirm-move-from={old_url}"
    )]
    RelocationUnconfirmed {
        id: String,
        old_url: String,
        new_url: String,
        detail: String,
    },

    #[error(
        "ClusterApplicationInstance {name:?} is not shared with namespace {namespace:?}: its allowedNamespaces does not select this namespace's labels. Ask the platform team to label the namespace or widen allowedNamespaces"
    )]
    NamespaceNotAllowed { name: String, namespace: String },

    #[error("{0}")]
    OAuth2NotSupported(String),

    #[error(
        "spec.authentication: OAuth2 (an \"Atlassian product via OAuth 2.0\" link: Jira 11.2+, Confluence 10.1+, Bitbucket 10.1+, Bamboo 12+) is not supported yet: the REST API behind it is not public, and the operator does not guess one (docs/products.md, OAuth 2.0 between Atlassian products). Nothing was changed in either application. Use authentication: OAuth (OAuth 1.0a, still offered by these versions), or make the link in the applications' administration and leave it out of this resource"
    )]
    OAuth2LinkNotSupportedYet,

    #[error(
        "scope {scope:?} is not offered by {application}; it offers {offered}. Change spec.oauth2.scope"
    )]
    ScopeNotOffered {
        scope: String,
        application: String,
        offered: String,
    },

    #[error(
        "an OAuth 2.0 client named {name:?} (id {id}) already exists in {application} and was not created by this resource; it is left untouched. Set spec.displayName to another name, or delete that client in the application's admin UI"
    )]
    ClientNameTaken {
        name: String,
        id: String,
        application: String,
    },

    #[error(
        "a Secret named {name:?} already exists in this namespace and does not belong to this resource, so the operator will not overwrite it and created nothing in the application. Set spec.secret.name to another name, or delete that Secret"
    )]
    SecretNotOwned { name: String },

    #[error("{0}")]
    InvalidSecretTemplate(String),

    #[error(
        "the operator may not write Secret {name:?} ({detail}); {consequence}. Let the operator write that Secret (its RBAC, admission policies and quotas in this namespace), or set spec.secret.name to a Secret it may write"
    )]
    SecretNotWritable {
        name: String,
        detail: String,
        /// What was (not) done in the application because of it.
        consequence: &'static str,
    },

    /// The template would render a Secret over its caps (a value the application sent, named
    /// many times); nothing was rendered.
    #[error("{0}")]
    SecretTooLarge(String),

    #[error(
        "ApplicationInstance {name:?} has no valid administrator credentials, so the operator cannot create a client in it; add credentialsSecretRef with a system administrator's credentials"
    )]
    InstanceNotAdministered { name: String },

    /// A spec the API server should have refused (an old CRD without the CEL rules).
    #[error("invalid spec: {0}")]
    InvalidSpec(String),

    /// Generating or encoding the key pair of an OAuth 1.0a consumer failed in the operator
    /// (nothing was sent anywhere); retried.
    #[error(
        "generating the RSA key pair for the consumer failed in the operator ({0}); nothing was changed in the application, and the next pass tries again"
    )]
    KeyGeneration(String),

    /// The application answered a delete, but what was deleted is still listed; retried.
    #[error(
        "{what} in {application} is still there after the application answered its deletion; the next pass deletes it again"
    )]
    StillThereAfterDeletion { what: String, application: String },

    #[error(
        "a link to {link_id} already exists in {application} and was not created by this operator; it is left untouched. Set spec.adoptionPolicy: Adopt to take it over, or delete it there"
    )]
    NotOwned {
        application: String,
        link_id: String,
    },

    /// Another object (in any namespace the operator watches) holds the same link end or
    /// client; the message says nothing of that object, to leak nothing across tenants.
    #[error(
        "{what} in {application} is already claimed by another object managed by this operator, so this resource neither takes it over nor changes or deletes it. Delete this resource (a copy never owns its original's ends), or use another application or name"
    )]
    ClaimedElsewhere { what: String, application: String },

    #[error(
        "deleting the {end} end (link {link_id}) in {application} would also delete the entity links of {count} local entities there ({named}); nothing was deleted. To let them go with the link, annotate this ApplicationLink applinks.io/delete-entity-links: \"true\"; to keep them, set spec.deletionPolicy: Orphan (the link stays in the applications)"
    )]
    EntityLinksPresent {
        end: &'static str,
        link_id: String,
        application: String,
        count: usize,
        named: String,
    },

    #[error(
        "the {end} end this resource created points at application {claimed}, but the target is now application {found}; nothing was changed. Restore the target, or delete this ApplicationLink and create a new one"
    )]
    TargetIdentityChanged {
        end: &'static str,
        claimed: String,
        found: String,
    },
}

impl Error {
    pub fn remote(what: impl Into<String>, source: ApiError) -> Self {
        Self::Remote {
            what: what.into(),
            source,
        }
    }

    /// Condition reason (PascalCase).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Kube(_) => "KubernetesApiError",
            Self::Remote { source, .. } => source.reason(),
            Self::SecretNotFound { .. } => "SecretNotFound",
            Self::SecretIncomplete { .. } => "SecretIncomplete",
            Self::CredentialsNotAllowed { .. } => "CredentialsNotAllowed",
            Self::CaBundleNotFound { .. } => "CaBundleNotFound",
            Self::CaBundleInvalid { .. } => "CaBundleInvalid",
            Self::InstanceNotFound { .. } => "InstanceNotFound",
            Self::InstanceNotReady { .. } => "InstanceNotReady",
            Self::CacheNotSynced { .. } => "CacheNotSynced",
            Self::SourceNotAdministered { .. } => "SourceNotAdministered",
            Self::ImpersonationNotAllowed(_) => "ImpersonationNotAllowed",
            Self::HttpsRequired(_) => "HttpsRequired",
            Self::WrongType { .. } => "WrongType",
            Self::IdentityMismatch { .. } => "IdentityMismatch",
            Self::NotOwned { .. } => "LinkNotOwned",
            Self::EntityLinksPresent { .. } => "EntityLinksPresent",
            Self::ClaimedElsewhere { .. } => "ClaimedElsewhere",
            Self::DuplicateApplicationId { .. } => "DuplicateApplicationId",
            Self::OldUrlStillServesApplication { .. } => "OldUrlStillServesApplication",
            Self::RelocationUnconfirmed { .. } => "RelocationUnconfirmed",
            Self::NamespaceNotAllowed { .. } => "NamespaceNotAllowed",
            Self::InvalidSpec(_) => "InvalidSpec",
            Self::KeyGeneration(_) => "KeyGenerationFailed",
            Self::StillThereAfterDeletion { .. } => "DeletionNotVerified",
            Self::OAuth2NotSupported(_) => "OAuth2NotSupported",
            Self::OAuth2LinkNotSupportedYet => "OAuth2LinkNotSupportedYet",
            Self::ScopeNotOffered { .. } => "ScopeNotOffered",
            Self::ClientNameTaken { .. } => "ClientNameTaken",
            Self::SecretNotOwned { .. } => "SecretNotOwned",
            Self::InvalidSecretTemplate(_) => "InvalidSecretTemplate",
            Self::SecretTooLarge(_) => "SecretTooLarge",
            Self::SecretNotWritable { .. } => "SecretNotWritable",
            Self::InstanceNotAdministered { .. } => "InstanceNotAdministered",
            Self::TargetIdentityChanged { .. } => "TargetIdentityChanged",
            Self::EnvironmentMismatch(_) => "EnvironmentMismatch",
        }
    }

    /// True when only a change by a person can fix it (kstatus `Stalled`); the operator still
    /// re-checks slowly, since the fix may be outside Kubernetes.
    pub fn is_stalled(&self) -> bool {
        match self {
            Self::Remote { source, .. } => !source.is_transient(),
            Self::Kube(_)
            | Self::InstanceNotReady { .. }
            | Self::CacheNotSynced { .. }
            | Self::KeyGeneration(_)
            | Self::StillThereAfterDeletion { .. }
            | Self::RelocationUnconfirmed { .. } => false,
            _ => true,
        }
    }

    /// A Kubernetes write conflict (409).
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Kube(kube::Error::Api(s)) if s.code == 409)
    }

    /// The delay an application asked for (429 Retry-After).
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Self::Remote { source, .. } => source.retry_after(),
            _ => None,
        }
    }
}

/// What a sharded operator adds to "not found": objects outside its selector are invisible to it.
fn shard_hint(shard: &Option<String>) -> String {
    match shard {
        Some(selector) => format!(
            " for this operator's shard (it sees only objects matching `{selector}`: give the \
             instance the link's `sharding.applinks.io/key` label, as links and their instances \
             must be in one shard)"
        ),
        None => String::new(),
    }
}
