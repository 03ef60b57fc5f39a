//! What relates the kinds, in one place every pipeline uses (no pipeline imports another): which
//! links and ExternalApplications name an instance, which instance they name (a shared
//! ClusterApplicationInstance included), when it may be used, and which changes concern them.

use std::sync::Arc;

use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};

use super::Context;
use super::lookups::Lookups;
use crate::atlassian::AtlassianClient;
use crate::conditions;
use crate::crd::{
    ApplicationInstance, ApplicationInstanceStatus, ApplicationLink, ClusterApplicationInstance,
    ExternalApplication, LocalObjectRef,
};
use crate::errors::Error;
use crate::reasons::READY;

/// Keeps an instance while links use it: deleting a link needs the instance's URL and
/// credentials, and `kubectl delete -f` or a namespace deletion removes both at once.
pub const IN_USE_FINALIZER: &str = "applinks.io/in-use";

/// The instance's verified status when a link may use it, else why not.
pub fn verified_status(i: &ApplicationInstance) -> Result<&ApplicationInstanceStatus, String> {
    let Some(s) = i.status.as_ref() else {
        return Err("not checked yet".into());
    };
    // Deletion bumps the generation but changes nothing to check: the last status still holds.
    if s.observed_generation != i.metadata.generation && i.metadata.deletion_timestamp.is_none() {
        return Err("its latest change is not checked yet".into());
    }
    if !conditions::is_true(&s.conditions, READY) {
        let why = conditions::find(&s.conditions, READY)
            .map(|c| c.message.clone())
            .unwrap_or_default();
        return Err(why);
    }
    if s.application_id.is_none() || s.url.as_deref() != Some(i.spec.url.as_str()) {
        return Err("its identity at spec.url is not verified yet".into());
    }
    Ok(s)
}

/// Whether `link` names the instance `name` (of the given scope) as source or target.
pub fn names_instance(link: &ApplicationLink, name: &str, cluster: bool) -> bool {
    link.spec.source.instance_ref.names(name, cluster)
        || link
            .spec
            .target
            .instance_ref
            .as_ref()
            .is_some_and(|t| t.names(name, cluster))
}

/// Whether the ExternalApplication names the instance `name` (of the given scope).
pub fn external_names_instance(e: &ExternalApplication, name: &str, cluster: bool) -> bool {
    e.spec.instance_ref.names(name, cluster)
}

/// The links in the instance's namespace that name it as source or target.
pub fn links_of_instance(
    links: &Store<ApplicationLink>,
    instance: &ApplicationInstance,
) -> Vec<ObjectRef<ApplicationLink>> {
    referring(
        links,
        instance.namespace().as_deref(),
        &instance.name_any(),
        |l, n| names_instance(l, n, false),
    )
}

/// The ExternalApplications in the instance's namespace that name it.
pub fn externals_of_instance(
    externals: &Store<ExternalApplication>,
    instance: &ApplicationInstance,
) -> Vec<ObjectRef<ExternalApplication>> {
    referring(
        externals,
        instance.namespace().as_deref(),
        &instance.name_any(),
        |e, n| external_names_instance(e, n, false),
    )
}

/// The links of every namespace that name the shared application `name`.
pub fn links_of_cluster_instance(
    links: &Store<ApplicationLink>,
    name: &str,
) -> Vec<ObjectRef<ApplicationLink>> {
    referring(links, None, name, |l, n| names_instance(l, n, true))
}

/// The ExternalApplications of every namespace that name the shared application `name`.
pub fn externals_of_cluster_instance(
    externals: &Store<ExternalApplication>,
    name: &str,
) -> Vec<ObjectRef<ExternalApplication>> {
    referring(externals, None, name, |e, n| {
        external_names_instance(e, n, true)
    })
}

/// The objects of `store` (in `namespace`, or in every namespace when `None`) for which
/// `names(object, name)` holds.
fn referring<K>(
    store: &Store<K>,
    namespace: Option<&str>,
    name: &str,
    names: impl Fn(&K, &str) -> bool,
) -> Vec<ObjectRef<K>>
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    store
        .state()
        .iter()
        .filter(|o| namespace.is_none_or(|ns| o.namespace().as_deref() == Some(ns)))
        .filter(|o| names(o, name))
        .map(|o| ObjectRef::from_obj(o.as_ref()))
        .collect()
}

/// The URL of the instance `r` names from `namespace`, from the caches (no call): what a pass
/// takes its share of the workers for.
pub fn instance_url(ctx: &Context, namespace: &str, r: &LocalObjectRef) -> Option<String> {
    if r.is_cluster() {
        ctx.cluster_instances
            .get(&ObjectRef::<ClusterApplicationInstance>::new(&r.name))
            .map(|i| i.spec.application.url.as_str().to_string())
    } else {
        ctx.instances
            .get(&ObjectRef::<ApplicationInstance>::new(&r.name).within(namespace))
            .map(|i| i.spec.url.as_str().to_string())
    }
}

/// What of the instance `r` names a link depends on ([`link_relevant`], [`shared_relevant`]),
/// from the caches (no call); `None` when it is not there.
pub fn instance_fingerprint(ctx: &Context, namespace: &str, r: &LocalObjectRef) -> Option<u64> {
    if r.is_cluster() {
        ctx.cluster_instances
            .get(&ObjectRef::<ClusterApplicationInstance>::new(&r.name))
            .and_then(|i| shared_relevant(&i))
    } else {
        ctx.instances
            .get(&ObjectRef::<ApplicationInstance>::new(&r.name).within(namespace))
            .and_then(|i| link_relevant(&i))
    }
}

/// Whether the instance `r` names is in the cache but was never checked (no status yet): its
/// first check wakes the links that name it ([`link_relevant`] changes), so a link has nothing
/// to say before it.
pub fn never_checked(ctx: &Context, namespace: &str, r: &LocalObjectRef) -> bool {
    if r.is_cluster() {
        ctx.cluster_instances
            .get(&ObjectRef::<ClusterApplicationInstance>::new(&r.name))
            .is_some_and(|i| i.status.is_none())
    } else {
        ctx.instances
            .get(&ObjectRef::<ApplicationInstance>::new(&r.name).within(namespace))
            .is_some_and(|i| i.status.is_none())
    }
}

/// An application a link or ExternalApplication names, resolved to what the instance pipeline
/// verified: a ClusterApplicationInstance is seen as an ApplicationInstance whose Secrets live
/// in the operator's namespace.
pub struct Named {
    pub instance: Arc<ApplicationInstance>,
    /// Where its credentials and CA Secrets live.
    pub secret_namespace: String,
    /// How users name it: `ApplicationInstance jira`, `ClusterApplicationInstance jira`.
    pub label: String,
    pub cluster: bool,
}

/// The instance `r` names from `namespace`: its own ApplicationInstance, or a shared
/// ClusterApplicationInstance whose `allowedNamespaces` selects `namespace` (else
/// `NamespaceNotAllowed`: a tenant never uses an application it was not given).
pub async fn named_instance(
    lookups: &Lookups<'_>,
    namespace: &str,
    r: &LocalObjectRef,
) -> Result<Named, Error> {
    let name = &r.name;
    if !r.is_cluster() {
        let instance = lookups
            .instances
            .get(&ObjectRef::<ApplicationInstance>::new(name).within(namespace))
            .ok_or_else(|| Error::InstanceNotFound {
                kind: "ApplicationInstance",
                name: name.clone(),
                shard: lookups.shard.map(str::to_string),
            })?;
        return Ok(Named {
            instance,
            secret_namespace: namespace.to_string(),
            label: format!("ApplicationInstance {name}"),
            cluster: false,
        });
    }
    lookups
        .cluster_instances_synced
        .wait("ClusterApplicationInstance")
        .await?;
    let shared = lookups
        .cluster_instances
        .get(&ObjectRef::<ClusterApplicationInstance>::new(name))
        .ok_or_else(|| Error::InstanceNotFound {
            kind: "ClusterApplicationInstance",
            name: name.clone(),
            shard: lookups.shard.map(str::to_string),
        })?;
    let labels = lookups.kube.namespace_labels(namespace).await?;
    if !crate::crd::selects(&shared.spec.allowed_namespaces, &labels) {
        return Err(Error::NamespaceNotAllowed {
            name: name.clone(),
            namespace: namespace.to_string(),
        });
    }
    let secret_namespace = lookups.cluster_resource_namespace.to_string();
    Ok(Named {
        instance: Arc::new(cluster_view(&shared, &secret_namespace)),
        secret_namespace,
        label: format!("ClusterApplicationInstance {name}"),
        cluster: true,
    })
}

/// The admin client of an instance. When its Secret is gone (deleted together with the links,
/// as `kubectl delete -f` or a namespace deletion does), the last client this process built for
/// this very instance (its UID) at its current URL is used, so the link ends can still be
/// deleted; it is forgotten when the instance goes.
pub async fn admin_client(
    lookups: &Lookups<'_>,
    named: &Named,
    name: &str,
) -> Result<AtlassianClient, Error> {
    let (instance, ns) = (&named.instance, named.secret_namespace.as_str());
    let uid = instance.metadata.uid.as_deref().unwrap_or_default();
    let url = instance.spec.url.as_str();
    let Some(r) = instance.spec.credentials_secret_ref.as_ref() else {
        // Administered per its last check, but the reference was removed since.
        return lookups
            .clients
            .last_admin(uid, url)
            .ok_or_else(|| Error::InstanceNotReady {
                name: name.to_string(),
                why: "its credentialsSecretRef was removed and it is not re-checked yet".into(),
            });
    };
    instance
        .spec
        .credentials_transport_ok()
        .map_err(Error::HttpsRequired)?;
    let (creds, version) = match lookups.kube.credentials(ns, r, url).await {
        Ok(c) => c,
        Err(e @ (Error::SecretNotFound { .. } | Error::SecretIncomplete { .. })) => {
            return lookups.clients.last_admin(uid, url).ok_or(e);
        }
        Err(e) => return Err(e),
    };
    let ca = lookups
        .kube
        .ca_bundle(ns, instance.spec.tls.as_ref())
        .await?;
    let client = lookups
        .clients
        .get(url, &creds, ca.as_deref(), version.as_deref(), Some(uid))
        .map_err(|e| Error::remote("client", e))?;
    lookups.clients.remember_admin(uid, url, &client);
    if let Some(s) = instance.status.as_ref() {
        if let Some(t) = s.type_id.as_deref() {
            client.learn_application_type(t);
        }
        client.learn_applinks_version(s.applinks_version.as_deref());
    }
    Ok(client)
}

/// A ClusterApplicationInstance as the instance pipeline handles it: an ApplicationInstance in
/// the namespace its Secrets live in (`namespace`), with the same spec, status and metadata.
pub fn cluster_view(shared: &ClusterApplicationInstance, namespace: &str) -> ApplicationInstance {
    let mut metadata = shared.metadata.clone();
    metadata.namespace = Some(namespace.to_string());
    ApplicationInstance {
        metadata,
        spec: shared.spec.application.clone(),
        status: shared.status.clone(),
    }
}

/// Other instances of the same namespace that recorded the same application id: two instances
/// of one application, or a clone that kept its Server ID. Never across namespaces: another
/// tenant's instance must neither stop this one nor learn its name and URL (an application that
/// several teams use is declared once, as a shared application).
pub fn same_application(
    instances: &Store<ApplicationInstance>,
    me: &ApplicationInstance,
    application_id: &str,
) -> Vec<(String, String)> {
    let (my_ns, my_name) = (me.namespace(), me.name_any());
    let mut found: Vec<(String, String)> = instances
        .state()
        .iter()
        .filter(|i| i.namespace() == my_ns && i.name_any() != my_name)
        .filter(|i| i.metadata.deletion_timestamp.is_none())
        .filter_map(|i| {
            let s = i.status.as_ref()?;
            (s.application_id.as_deref() == Some(application_id)
                && s.url.as_deref() == Some(i.spec.url.as_str()))
            .then(|| (i.name_any(), i.spec.url.to_string()))
        })
        .collect();
    found.sort();
    found
}

/// What of an instance its links depend on, as a hash for the watch predicate: identity, URL,
/// readiness, administration, spec, deletion; not the instance's own finalizer or timestamps.
pub fn link_relevant(i: &ApplicationInstance) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    i.metadata.generation.hash(&mut h);
    i.metadata.deletion_timestamp.is_some().hash(&mut h);
    if let Some(s) = &i.status {
        (
            &s.observed_generation,
            &s.url,
            &s.application_id,
            &s.type_id,
            &s.application_name,
        )
            .hash(&mut h);
        (
            s.administered,
            s.cloud,
            conditions::is_true(&s.conditions, READY),
        )
            .hash(&mut h);
    }
    Some(h.finish())
}

/// [`link_relevant`] for a shared application: what its users depend on.
pub fn shared_relevant(i: &ClusterApplicationInstance) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    link_relevant(&cluster_view(i, "")).hash(&mut h);
    // Which namespaces may use it.
    serde_json::to_string(&i.spec.allowed_namespaces)
        .unwrap_or_default()
        .hash(&mut h);
    Some(h.finish())
}
