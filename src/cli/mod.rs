//! The companion command line (`applink-operator status|plan|resync|pause|resume`, also run as
//! the kubectl plugin `kubectl-applink`): what a user asks of the operator from a terminal, with
//! the user's own rights. `status`, `resync`, `pause` and `resume` talk to the Kubernetes API only;
//! `plan` also reads the instances' credentials Secrets and calls the applications, read only.

pub mod plan;
pub mod steer;
pub mod tree;

use anyhow::Context;
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};

use crate::crd::{
    ApplicationInstance, ApplicationLink, ClusterApplicationInstance, ExternalApplication,
    InstanceKind,
};
use tree::Estate;

/// Which objects `status` shows.
pub struct Scope {
    /// `None`: every namespace.
    pub namespace: Option<String>,
    /// One object's name: its application's tree (an instance's name shows all it holds).
    pub name: Option<String>,
}

/// `status`: list the objects in scope and render their tree.
pub async fn status(client: Client, scope: Scope) -> anyhow::Result<String> {
    let lp = ListParams::default();
    let (instances, links, externals) = match &scope.namespace {
        Some(ns) => (
            Api::<ApplicationInstance>::namespaced(client.clone(), ns)
                .list(&lp)
                .await,
            Api::<ApplicationLink>::namespaced(client.clone(), ns)
                .list(&lp)
                .await,
            Api::<ExternalApplication>::namespaced(client.clone(), ns)
                .list(&lp)
                .await,
        ),
        None => (
            Api::<ApplicationInstance>::all(client.clone())
                .list(&lp)
                .await,
            Api::<ApplicationLink>::all(client.clone()).list(&lp).await,
            Api::<ExternalApplication>::all(client.clone())
                .list(&lp)
                .await,
        ),
    };
    let instances = instances.context("cannot list ApplicationInstances")?.items;
    let links = links.context("cannot list ApplicationLinks")?.items;
    // A cluster without the ExternalApplication CRD (or without the right to list it) still
    // shows its links.
    let externals = externals.map(|l| l.items).unwrap_or_default();
    // Shared applications are shown when something in scope names them, or for every
    // namespace; a tenant without the right to list them still sees their own objects.
    let cluster_instances = Api::<ClusterApplicationInstance>::all(client)
        .list(&lp)
        .await
        .map(|l| l.items)
        .unwrap_or_default();
    let mut estate = Estate {
        instances,
        cluster_instances,
        links,
        externals,
    };
    if scope.namespace.is_some() {
        let named = named_cluster_instances(&estate);
        estate
            .cluster_instances
            .retain(|c| named.contains(&c.name_any()));
    }
    if let Some(name) = &scope.name {
        narrow(&mut estate, name)?;
    }
    Ok(tree::render(&estate))
}

fn named_cluster_instances(estate: &Estate) -> Vec<String> {
    let refs = estate
        .links
        .iter()
        .flat_map(|l| {
            std::iter::once(&l.spec.source.instance_ref).chain(l.spec.target.instance_ref.as_ref())
        })
        .chain(estate.externals.iter().map(|e| &e.spec.instance_ref));
    refs.filter(|r| matches!(r.kind, Some(InstanceKind::ClusterApplicationInstance)))
        .map(|r| r.name.clone())
        .collect()
}

/// Keeps what one name shows: an application and everything at it, or one link with its two
/// applications, or one ExternalApplication with its application.
fn narrow(estate: &mut Estate, name: &str) -> anyhow::Result<()> {
    let names_app = |r: &crate::crd::LocalObjectRef| r.name == name;
    if estate.instances.iter().any(|i| i.name_any() == name)
        || estate
            .cluster_instances
            .iter()
            .any(|c| c.name_any() == name)
    {
        estate.instances.retain(|i| i.name_any() == name);
        estate.cluster_instances.retain(|c| c.name_any() == name);
        estate.links.retain(|l| {
            names_app(&l.spec.source.instance_ref)
                || l.spec.target.instance_ref.as_ref().is_some_and(names_app)
        });
        estate.externals.retain(|e| names_app(&e.spec.instance_ref));
        return Ok(());
    }
    if let Some(link) = estate.links.iter().find(|l| l.name_any() == name).cloned() {
        let ends: Vec<String> = std::iter::once(&link.spec.source.instance_ref)
            .chain(link.spec.target.instance_ref.as_ref())
            .map(|r| r.name.clone())
            .collect();
        estate.instances.retain(|i| ends.contains(&i.name_any()));
        estate
            .cluster_instances
            .retain(|c| ends.contains(&c.name_any()));
        estate.links = vec![link];
        estate.externals.clear();
        return Ok(());
    }
    if let Some(ext) = estate
        .externals
        .iter()
        .find(|e| e.name_any() == name)
        .cloned()
    {
        let app = ext.spec.instance_ref.name.clone();
        estate.instances.retain(|i| i.name_any() == app);
        estate.cluster_instances.retain(|c| c.name_any() == app);
        estate.links.clear();
        estate.externals = vec![ext];
        return Ok(());
    }
    anyhow::bail!(
        "no ApplicationInstance, ClusterApplicationInstance, ApplicationLink or ExternalApplication named {name:?} in scope (try -A for every namespace)"
    )
}
