//! What resolving an application needs, read only: the instances by name (both scopes), the
//! Secrets and ConfigMaps their credentials and CA bundles live in, the namespaces' labels, and
//! the Atlassian client factory. The controller lends its caches ([`super::Context::lookups`]);
//! the `plan` command builds one from manifests and the cluster. Nothing here can write to
//! Kubernetes: [`KubeReader`] has no write method.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Namespace;
use kube::runtime::reflector::Store;
use kube::{Api, Client};

use super::synced::Synced;
use crate::atlassian::Credentials;
use crate::clients::ClientCache;
use crate::crd::{
    ApplicationInstance, ApplicationLink, ClusterApplicationInstance, ExternalApplication,
    SecretRef, TlsConfig,
};
use crate::errors::Error;

/// The read-only view a pass resolves its applications with.
pub struct Lookups<'a> {
    pub(crate) instances: &'a Store<ApplicationInstance>,
    pub(crate) cluster_instances: &'a Store<ClusterApplicationInstance>,
    /// Set once `cluster_instances` holds its first listing.
    pub(crate) cluster_instances_synced: &'a Synced,
    pub(crate) kube: KubeReader,
    pub(crate) clients: &'a ClientCache,
    /// Where the Secrets and ConfigMaps of ClusterApplicationInstances live.
    pub(crate) cluster_resource_namespace: &'a str,
    /// The operator's watch selector (its shard), named when an instance is not found.
    pub(crate) shard: Option<&'a str>,
    /// The objects that claim link ends, for the inventory's "managed by" (empty for `plan`).
    pub(crate) links: &'a Store<ApplicationLink>,
    pub(crate) externals: &'a Store<ExternalApplication>,
}

/// Reads of the Kubernetes API a resolution needs, and nothing else.
#[derive(Clone)]
pub struct KubeReader(Client);

impl KubeReader {
    pub fn new(client: Client) -> Self {
        Self(client)
    }

    /// The credentials the Secret `r` holds, if it allows them to go to `url`
    /// ([`crate::secrets::credentials`]), with the Secret's resourceVersion.
    pub async fn credentials(
        &self,
        namespace: &str,
        r: &SecretRef,
        url: &str,
    ) -> Result<(Credentials, Option<String>), Error> {
        crate::secrets::credentials(&self.0, namespace, r, url).await
    }

    /// The CA bundle `tls` names ([`crate::secrets::ca_bundle`]).
    pub async fn ca_bundle(
        &self,
        namespace: &str,
        tls: Option<&TlsConfig>,
    ) -> Result<Option<String>, Error> {
        crate::secrets::ca_bundle(&self.0, namespace, tls).await
    }

    /// The labels of a namespace (empty when it does not exist).
    pub async fn namespace_labels(
        &self,
        namespace: &str,
    ) -> Result<BTreeMap<String, String>, Error> {
        let api: Api<Namespace> = Api::all(self.0.clone());
        Ok(api
            .get_opt(namespace)
            .await?
            .and_then(|n| n.metadata.labels)
            .unwrap_or_default())
    }
}
