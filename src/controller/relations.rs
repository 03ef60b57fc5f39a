//! What relates instances and links, in one place both controllers use: which links name an
//! instance, when an instance may be used by a link, and which instance changes concern links.

use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};

use crate::conditions;
use crate::crd::{ApplicationInstance, ApplicationInstanceStatus, ApplicationLink};
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

/// Whether `link` names the instance `name` as source or target.
pub fn names_instance(link: &ApplicationLink, name: &str) -> bool {
    link.spec.source.instance_ref.name == name
        || link
            .spec
            .target
            .instance_ref
            .as_ref()
            .is_some_and(|t| t.name == name)
}

/// The links in the instance's namespace that name it as source or target.
pub fn links_of_instance(
    links: &Store<ApplicationLink>,
    instance: &ApplicationInstance,
) -> Vec<ObjectRef<ApplicationLink>> {
    referring(links, instance, names_instance)
}

/// The objects of `store` in the instance's namespace for which `names(object, instance name)`
/// holds.
pub fn referring<K>(
    store: &Store<K>,
    instance: &ApplicationInstance,
    names: impl Fn(&K, &str) -> bool,
) -> Vec<ObjectRef<K>>
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    let ns = instance.namespace();
    let name = instance.name_any();
    store
        .state()
        .iter()
        .filter(|o| o.namespace() == ns && names(o, &name))
        .map(|o| ObjectRef::from_obj(o.as_ref()))
        .collect()
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
