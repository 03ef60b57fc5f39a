//! Custom resource types of the `applinks.io/v1alpha1` API.
//!
//! Validation that the API server can do on its own lives in the schema as CEL rules
//! (`x-kubernetes-validations`), so `kubectl apply` refuses bad input with a message that says what
//! to change. What needs another object (the type of a referenced instance, its credentials) is
//! checked by the controller and reported as a Stalled condition.

mod claims;
mod common;
mod external;
mod instance;
mod inventory;
mod link;
mod shared;
mod url;

pub use claims::{ClientClaim, ExternalClaims, LinkClaim, LinkClaims};
pub use common::{ApplicationType, InstanceKind, LocalObjectRef, SecretKeyRef, SecretRef};
pub use external::{
    ClientView, ExternalApplication, ExternalApplicationSpec, ExternalApplicationStatus,
    OAUTH1_PLACEHOLDERS, OAUTH1_SECRET_PLACEHOLDERS, OAuth1Consumer, OAuth2Client, PLACEHOLDERS,
    Rotation, SECRET_PLACEHOLDERS, SecretTemplate,
};
pub use instance::{
    ApplicationInstance, ApplicationInstanceSpec, ApplicationInstanceStatus, TlsConfig,
};
pub use inventory::{Inventory, InventoryLink};
pub use link::{
    AdoptionPolicy, ApplicationLink, ApplicationLinkSpec, ApplicationLinkStatus, AuthLevel,
    Authentication, DeletionPolicy, EndAuth, EndHealth, EndStatus, LinkMode, LinkSource,
    LinkTarget, ManagementPolicy,
};
pub use shared::{ClusterApplicationInstance, ClusterApplicationInstanceSpec, selects};
pub use url::{BaseUrl, same_url};

pub use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

/// API group of every resource of the operator.
pub const GROUP: &str = "applinks.io";

/// The CRDs in the order they are written to `crds/`.
pub fn all()
-> Vec<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition>
{
    use kube::CustomResourceExt;
    vec![
        ApplicationInstance::crd(),
        ClusterApplicationInstance::crd(),
        ApplicationLink::crd(),
        ExternalApplication::crd(),
    ]
}
