//! `plan -f DIR`: what the operator would do for the manifests in DIR against the live
//! applications. The link pipeline's own resolve → observe → plan runs on instances taken from
//! the manifests first, then the cluster; an instance new or changed in the manifests is checked
//! the way the instance pipeline checks it (identity before credentials), and the credentials
//! come from the cluster's Secrets under the operator's rules (the `applinks.io/allowed-urls`
//! annotation, TLS verified). Nothing is written: the pipeline steps get a Kubernetes reader
//! without write methods (this module itself only gets and lists), and every Atlassian client is
//! built read-only (a write is refused before it leaves).
//!
//! The identity is the user's kubeconfig: it needs get on the operator's kinds and on the
//! Secrets (and ConfigMaps, for CA bundles) the instances name.

pub mod manifests;
pub mod render;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use kube::api::{Api, ListParams};
use kube::runtime::{reflector, watcher};
use kube::{Client, Resource, ResourceExt};

use crate::clients::ClientCache;
use crate::controller::preview::{self, Synced};
use crate::controller::{KubeReader, Lookups};
use crate::crd::{
    ApplicationInstance, ApplicationLink, ClusterApplicationInstance, ExternalApplication,
};
use crate::errors::Error;
use manifests::Manifests;
use render::LinkPlan;

/// Requests in flight to one application at once (the operator's default).
const MAX_REQUESTS_PER_APPLICATION: usize = 4;

pub struct Options {
    pub dir: PathBuf,
    /// For objects in the manifests that name none.
    pub namespace: String,
    /// Where the Secrets of ClusterApplicationInstances live (the operator's namespace).
    pub cluster_resource_namespace: String,
    pub request_timeout: Duration,
    /// The operator's `--watch-label-selector`, when it serves a shard: only objects it
    /// selects hold ends.
    pub label_selector: Option<String>,
}

/// Plans every link of the manifests: the text to print and the exit code
/// ([`render::exit_code`]).
pub async fn plan(client: Client, opts: &Options) -> anyhow::Result<(String, u8)> {
    let m = manifests::read_dir(&opts.dir, &opts.namespace)?;
    let clients = ClientCache::new(opts.request_timeout, MAX_REQUESTS_PER_APPLICATION).read_only();
    let (instances, mut instance_writer) = reflector::store::<ApplicationInstance>();
    let (shared, mut shared_writer) = reflector::store::<ClusterApplicationInstance>();
    // Plan reports the links it would make, not who manages the others: no claimants.
    let (no_links, _) = reflector::store::<crate::crd::ApplicationLink>();
    let (no_externals, _) = reflector::store::<crate::crd::ExternalApplication>();
    let synced = Synced::ready();
    let lookups = Lookups {
        instances: &instances,
        cluster_instances: &shared,
        cluster_instances_synced: &synced,
        kube: KubeReader::new(client.clone()),
        clients: &clients,
        cluster_resource_namespace: &opts.cluster_resource_namespace,
        shard: None,
        links: &no_links,
        externals: &no_externals,
    };
    // The instances the links name: unchanged ones as the cluster holds them (with the status
    // the operator verified), then the ones the manifests add or change, checked now.
    let named = Named::of(&m);
    let mut changed = Vec::new();
    for (ns, name) in &named.instances {
        let live = get::<ApplicationInstance>(Api::namespaced(client.clone(), ns), name).await?;
        let file = m
            .instances
            .iter()
            .find(|i| i.namespace().as_deref() == Some(ns) && &i.name_any() == name);
        match pick(file, live, |i| &i.spec, |i, l| i.status = l.status.clone()) {
            Pick::Live(i) => instance_writer.apply_watcher_event(&watcher::Event::Apply(i)),
            Pick::Check(i) => changed.push(i),
            Pick::None => {}
        }
    }
    let mut changed_shared = Vec::new();
    for name in &named.shared {
        let live = get::<ClusterApplicationInstance>(Api::all(client.clone()), name).await?;
        let file = m.cluster_instances.iter().find(|i| &i.name_any() == name);
        match pick(file, live, |i| &i.spec, |i, l| i.status = l.status.clone()) {
            Pick::Live(i) => shared_writer.apply_watcher_event(&watcher::Event::Apply(i)),
            Pick::Check(i) => changed_shared.push(i),
            Pick::None => {}
        }
    }
    // A refusal to read the credentials is the user's missing right: said up front, once.
    let crn = &opts.cluster_resource_namespace;
    let mut views: Vec<ApplicationInstance> =
        instances.state().iter().map(|i| (**i).clone()).collect();
    views.extend(changed.iter().cloned());
    views.extend(shared.state().iter().map(|i| preview::cluster_view(i, crn)));
    views.extend(changed_shared.iter().map(|i| preview::cluster_view(i, crn)));
    for view in &views {
        may_read_credentials(&lookups, view).await?;
    }
    for mut i in changed {
        i.status = Some(preview::instance(&i, &lookups, true).await);
        instance_writer.apply_watcher_event(&watcher::Event::Apply(i));
    }
    for mut i in changed_shared {
        let view = preview::cluster_view(&i, &opts.cluster_resource_namespace);
        i.status = Some(preview::instance(&view, &lookups, false).await);
        shared_writer.apply_watcher_event(&watcher::Event::Apply(i));
    }
    let (links, externals) = claimants(&client, &m, opts.label_selector.as_deref()).await?;
    let mut plans = Vec::new();
    for file in &m.links {
        let ns = file.namespace().unwrap_or_default();
        let live =
            get::<ApplicationLink>(Api::namespaced(client.clone(), &ns), &file.name_any()).await?;
        let link = as_applied(file, live);
        let others = preview::held_by_others_in(&links, &externals, &link);
        plans.push(LinkPlan {
            paused: preview::is_paused(&link.metadata),
            name: format!("{ns}/{}", link.name_any()),
            plan: preview::link(&link, &lookups, &others)
                .await
                .map_err(|e| explain(&e, &ns)),
        });
    }
    let mut out = String::new();
    for e in &m.externals {
        out.push_str(&format!(
            "ExternalApplication {}/{}: not planned (plan covers ApplicationLinks)\n",
            e.namespace().unwrap_or_default(),
            e.name_any()
        ));
    }
    out.push_str(&render::render(&plans));
    Ok((out, render::exit_code(&plans)))
}

/// The instances the manifests' links name: `(namespace, name)` and shared names.
#[derive(Default)]
struct Named {
    instances: Vec<(String, String)>,
    shared: Vec<String>,
}

impl Named {
    fn of(m: &Manifests) -> Named {
        let mut named = Named::default();
        for l in &m.links {
            let ns = l.namespace().unwrap_or_default();
            for r in std::iter::once(&l.spec.source.instance_ref)
                .chain(l.spec.target.instance_ref.as_ref())
            {
                if r.is_cluster() {
                    named.shared.push(r.name.clone());
                } else {
                    named.instances.push((ns.clone(), r.name.clone()));
                }
            }
        }
        named.instances.sort();
        named.instances.dedup();
        named.shared.sort();
        named.shared.dedup();
        named
    }
}

enum Pick<K> {
    /// As the cluster holds it (the manifest, if any, asks for the same spec).
    Live(K),
    /// New or changed in the manifests: to be checked now (with the live object's identity
    /// and status, which pin its application id and tell a move).
    Check(K),
    None,
}

/// `spec` reads an object's spec; `status` copies the live object's status onto the manifest's.
fn pick<K, S>(
    file: Option<&K>,
    live: Option<K>,
    spec: impl Fn(&K) -> &S,
    status: impl Fn(&mut K, &K),
) -> Pick<K>
where
    K: Resource + Clone,
    S: serde::Serialize,
{
    let same =
        |a: &K, b: &K| serde_json::to_value(spec(a)).ok() == serde_json::to_value(spec(b)).ok();
    match (file, live) {
        (None, Some(live)) => Pick::Live(live),
        (Some(f), Some(live)) if same(f, &live) => Pick::Live(live),
        (Some(f), live) => {
            let mut obj = as_applied_meta(f, live.as_ref());
            if let Some(live) = &live {
                status(&mut obj, live);
            }
            Pick::Check(obj)
        }
        (None, None) => Pick::None,
    }
}

/// The manifest's object as it would be once applied: its spec, labels and annotations over
/// the live object's identity (UID, creation time, deletion), which claims are keyed by.
fn as_applied_meta<K: Resource + Clone>(file: &K, live: Option<&K>) -> K {
    let mut obj = file.clone();
    if let Some(live) = live {
        let (meta, old) = (obj.meta_mut(), live.meta());
        meta.uid = old.uid.clone();
        meta.creation_timestamp = old.creation_timestamp.clone();
        meta.deletion_timestamp = old.deletion_timestamp.clone();
        meta.generation = old.generation;
        meta.finalizers = old.finalizers.clone();
        let mut annotations: BTreeMap<String, String> = old.annotations.clone().unwrap_or_default();
        annotations.extend(meta.annotations.take().unwrap_or_default());
        meta.annotations = Some(annotations);
    }
    obj
}

fn as_applied(file: &ApplicationLink, live: Option<ApplicationLink>) -> ApplicationLink {
    let mut link = as_applied_meta(file, live.as_ref());
    link.status = live.and_then(|l| l.status);
    link
}

/// What the other objects hold, from every namespace the user may list (else the manifests'
/// namespaces): claims decide whether an end is someone else's.
async fn claimants(
    client: &Client,
    m: &Manifests,
    selector: Option<&str>,
) -> anyhow::Result<(Vec<Arc<ApplicationLink>>, Vec<Arc<ExternalApplication>>)> {
    let lp = match selector {
        Some(s) => ListParams::default().labels(s),
        None => ListParams::default(),
    };
    let mut namespaces: Vec<String> = m.links.iter().filter_map(|l| l.namespace()).collect();
    namespaces.sort();
    namespaces.dedup();
    let links = match Api::<ApplicationLink>::all(client.clone()).list(&lp).await {
        Ok(l) => l.items,
        Err(_) => {
            let mut items = Vec::new();
            for ns in &namespaces {
                let listed = Api::<ApplicationLink>::namespaced(client.clone(), ns)
                    .list(&lp)
                    .await
                    .with_context(|| format!("cannot list ApplicationLinks in {ns} (plan needs list on applicationlinks.applinks.io)"))?;
                items.extend(listed.items);
            }
            items
        }
    };
    // A cluster without the ExternalApplication CRD (or the right to list it) has none to ask.
    let mut externals = Vec::new();
    match Api::<ExternalApplication>::all(client.clone())
        .list(&lp)
        .await
    {
        Ok(l) => externals = l.items,
        Err(_) => {
            for ns in &namespaces {
                if let Ok(l) = Api::<ExternalApplication>::namespaced(client.clone(), ns)
                    .list(&lp)
                    .await
                {
                    externals.extend(l.items);
                }
            }
        }
    }
    Ok((
        links.into_iter().map(Arc::new).collect(),
        externals.into_iter().map(Arc::new).collect(),
    ))
}

async fn get<K>(api: Api<K>, name: &str) -> anyhow::Result<Option<K>>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.get_opt(name).await.with_context(|| {
        format!(
            "cannot read {} {name} (plan needs get on {}.{})",
            K::kind(&()),
            K::plural(&()),
            K::group(&())
        )
    })
}

/// Fails when Kubernetes refuses the user the instance's credentials Secret (any other problem
/// with it is the plan's to report, as the operator would).
async fn may_read_credentials(
    lookups: &Lookups<'_>,
    i: &ApplicationInstance,
) -> anyhow::Result<()> {
    let (Some(r), Some(ns)) = (&i.spec.credentials_secret_ref, i.namespace()) else {
        return Ok(());
    };
    match lookups.kube.credentials(&ns, r, i.spec.url.as_str()).await {
        Err(e) if matches!(&e, Error::Kube(kube::Error::Api(s)) if s.code == 403) => {
            Err(anyhow::anyhow!("{}", explain(&e, &ns)))
        }
        _ => Ok(()),
    }
}

/// The error as one line, after its reason (as the operator's condition would show them; see
/// docs/reasons.md); a refusal by Kubernetes says which right the plan needs.
fn explain(e: &Error, ns: &str) -> String {
    let reason = e.reason();
    match e {
        Error::Kube(kube::Error::Api(s)) if s.code == 403 => format!(
            "{reason}: {e}: plan reads the instances' credentials Secrets (and CA ConfigMaps) with your kubeconfig, so it needs get on secrets (and configmaps) in {ns}, or in the operator's namespace for a ClusterApplicationInstance (check: kubectl auth can-i get secrets -n {ns})"
        ),
        _ => format!("{reason}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::ApplicationInstanceStatus;

    fn instance(url: &str, uid: Option<&str>, annotations: &[(&str, &str)]) -> ApplicationInstance {
        let mut i: ApplicationInstance = serde_json::from_value(serde_json::json!({
            "apiVersion": "applinks.io/v1alpha1",
            "kind": "ApplicationInstance",
            "metadata": {"name": "jira", "namespace": "team-a"},
            "spec": {"url": url},
        }))
        .unwrap();
        i.metadata.uid = uid.map(str::to_string);
        i.metadata.annotations = Some(
            annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        i
    }

    fn which(p: Pick<ApplicationInstance>) -> (&'static str, Option<ApplicationInstance>) {
        match p {
            Pick::Live(i) => ("live", Some(i)),
            Pick::Check(i) => ("check", Some(i)),
            Pick::None => ("none", None),
        }
    }

    #[test]
    fn the_manifest_first_then_the_cluster() {
        const OLD: &str = "https://jira.example.com";
        const NEW: &str = "https://jira-new.example.com";
        let live = || {
            let mut i = instance(
                OLD,
                Some("u1"),
                &[("from-cluster", "1"), ("both", "cluster")],
            );
            i.status = Some(ApplicationInstanceStatus {
                application_id: Some("pinned".into()),
                ..Default::default()
            });
            Some(i)
        };
        let file = |url| instance(url, None, &[("both", "file")]);
        let spec = |i: &ApplicationInstance| i.spec.clone();
        let keep =
            |i: &mut ApplicationInstance, l: &ApplicationInstance| i.status = l.status.clone();
        let cases = [
            (None, live(), "live", OLD, Some("u1")),
            (Some(file(OLD)), live(), "live", OLD, Some("u1")),
            (Some(file(NEW)), live(), "check", NEW, Some("u1")),
            (Some(file(NEW)), None, "check", NEW, None),
        ];
        for (f, l, want, url, uid) in cases {
            let (got, obj) = which(pick(f.as_ref(), l, |i| &i.spec, keep));
            let obj = obj.unwrap();
            assert_eq!(
                (got, spec(&obj).url.as_str(), obj.metadata.uid.as_deref()),
                (want, url, uid)
            );
        }
        assert_eq!(
            which(pick(None, None, |i: &ApplicationInstance| &i.spec, keep)).0,
            "none"
        );
        // A changed instance keeps the cluster's status (its pinned identity) and annotations
        // under the manifest's.
        let (_, changed) = which(pick(Some(&file(NEW)), live(), |i| &i.spec, keep));
        let changed = changed.unwrap();
        let pinned = changed
            .status
            .as_ref()
            .and_then(|s| s.application_id.as_deref());
        assert_eq!(pinned, Some("pinned"));
        let annotations = changed.metadata.annotations.unwrap();
        assert_eq!(
            annotations.get("from-cluster").map(String::as_str),
            Some("1")
        );
        assert_eq!(annotations.get("both").map(String::as_str), Some("file"));
    }
}
