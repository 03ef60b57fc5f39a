//! The controllers (links, instances of both scopes, ExternalApplications) and their wiring:
//! one watch of each kind, fanned out, and the controllers run on it. What they share lives in
//! the modules below: `context.rs` and `settings.rs`, the outcome reporter and the status writer.
//!
//! The house rule: **no pipeline imports another pipeline**. `link/`, `instance/` and
//! `external/` each read top to bottom in their `mod.rs`; what two of them need lives below
//! them, in this module's shared parts (`relations.rs`: what relates the kinds, `claims.rs`,
//! `outcome.rs`, `status_patch.rs`, `steering.rs`, ...) or in the protocol client
//! (`crate::atlassian`). Only this file names the pipelines, to run them; `layering_tests.rs`
//! checks the rule on the source.

mod backoff;
mod claims;
mod context;
mod external;
mod fanout;
mod finalizer;
#[cfg(test)]
mod fixtures;
mod instance;
mod issued;
#[cfg(test)]
mod layering_tests;
mod link;
mod lookups;
mod not_ready;
mod outcome;
#[cfg(test)]
mod reconcile_tests;
mod relations;
mod settings;
mod shares;
mod status_patch;
mod steering;
mod synced;
mod tail;

pub(crate) use context::{Context, kube_error_requeue, object_key};
pub use lookups::{KubeReader, Lookups};

/// The pipelines' read-only previews (resolve, observe, plan; no write anywhere), for the
/// `plan` command.
pub mod preview {
    pub use super::claims::held_by_others_in;
    pub use super::instance::preview as instance;
    pub use super::link::{Preview, preview as link};
    pub use super::relations::cluster_view;
    pub use super::steering::is_paused;
    pub(crate) use super::synced::Synced;
}
pub use link::FINALIZER as LINK_FINALIZER;
pub use relations::IN_USE_FINALIZER;
pub use settings::{BACKOFF_INITIAL, BACKOFF_MAX, Settings};
/// The steering annotations (resync on request, pause), for the CLI that sets them.
pub use steering::{FLUX_REQUESTED_AT, PAUSED_ANNOTATION, RECONCILE_REQUESTED_AT};

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::WatchStreamExt;
use kube::runtime::controller::Controller;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::Store;
use kube::runtime::{reflector, watcher};
use kube::{Api, Client, ResourceExt};
use std::collections::HashMap;
use tracing::{info, warn};

use crate::crd::{
    ApplicationInstance, ApplicationLink, ClusterApplicationInstance, ExternalApplication,
};

/// How often the stall signal is looked at for the log.
const STALL_CHECK_EVERY: Duration = Duration::from_secs(15);

fn api<K>(client: &Client, namespace: &Option<String>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Counts a watch's first complete listing; the second of the two marks the operator ready.
fn on_init_done<K>(
    synced: Arc<std::sync::atomic::AtomicU8>,
    metrics: Arc<crate::health::Metrics>,
) -> impl FnMut(&Result<watcher::Event<K>, watcher::Error>) {
    let mut seen = false;
    move |ev| {
        if !seen && matches!(ev, Ok(watcher::Event::InitDone)) {
            seen = true;
            if synced.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 1 {
                metrics.set_caches_synced(true);
                metrics.set_ready();
            }
        }
    }
}

/// Keeps the objects of `stream` whose fingerprint changed since the last one seen: what a
/// predicate filter does for a shared stream. Fingerprints of objects no longer in `store`
/// are dropped once they outnumber the live ones, so the memory shrinks when objects go.
fn changed<K, F>(
    stream: impl futures::Stream<Item = Arc<K>>,
    fingerprint: F,
    store: Store<K>,
) -> impl futures::Stream<Item = Arc<K>>
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
    F: Fn(&K) -> Option<u64>,
{
    let mut seen: HashMap<String, Option<u64>> = HashMap::new();
    stream.filter(move |obj| {
        let key = obj.meta().uid.clone().unwrap_or_default();
        let now = fingerprint(obj);
        let changed = seen.insert(key, now) != Some(now);
        if seen.len() > 2 * store.len() + 64 {
            let live: std::collections::HashSet<String> = store
                .state()
                .iter()
                .filter_map(|o| o.meta().uid.clone())
                .collect();
            seen.retain(|uid, _| live.contains(uid));
        }
        std::future::ready(changed)
    })
}

/// The caches keep objects without their managedFields and kubectl's copy of the last applied
/// manifest: nothing here reads them, and together they often outweigh the rest of the object.
fn drop_unread_metadata<K: kube::Resource>(obj: &mut K) {
    let meta = obj.meta_mut();
    meta.managed_fields = None;
    if let Some(a) = meta.annotations.as_mut() {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

/// The watch configuration every kind shares: the shard's label selector, if any.
fn watch_config(settings: &Settings) -> watcher::Config {
    let config = watcher::Config::default().any_semantic();
    match &settings.label_selector {
        Some(selector) => config.labels(selector),
        None => config,
    }
}

/// Runs both controllers until `shutdown` resolves; in-flight reconciles finish first.
pub async fn run(
    client: Client,
    settings: Settings,
    metrics: Arc<crate::health::Metrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let instances = api::<ApplicationInstance>(&client, &settings.namespace);
    let links = api::<ApplicationLink>(&client, &settings.namespace);
    // Ready (for /readyz) once both watches have listed everything once.
    let synced = Arc::new(std::sync::atomic::AtomicU8::new(0));
    // One watch of ApplicationInstance, fanned out to every controller (see fanout.rs for why
    // not kube-runtime's shared stream).
    let (instance_store, instance_writer) = reflector::store();
    // Built before the watch: what it remembers per instance goes when the instance goes.
    let clients = Arc::new(
        crate::clients::ClientCache::new(
            settings.request_timeout,
            settings.max_requests_per_application,
        )
        .with_call_metrics(metrics.calls()),
    );
    // Made before the watches: an object the watch reports deleted is forgotten there.
    let not_ready = Arc::new(not_ready::NotReady::default());
    let mut fan = fanout::Fanout::new(instance_store.clone());
    let mut queue = |name: &'static str| {
        let q = fan.subscribe();
        let probe = q.clone();
        metrics.watch_queue(name, move || (probe.len(), probe.oldest()));
        q.stream()
    };
    let for_instances = queue("ApplicationInstance");
    let for_links = queue("ApplicationInstance for ApplicationLink");
    // Nobody reads a queue of a controller that does not run: no queue then.
    let for_externals = settings
        .external_applications
        .then(|| queue("ApplicationInstance for ExternalApplication"));
    let (mark_instances, instances_synced) = synced::pending();
    let (mark_links, links_synced) = synced::pending();
    let (mark_externals, externals_synced) = synced::pending();
    let instance_watch = watcher(instances, watch_config(&settings))
        .default_backoff()
        .inspect(on_init_done(synced.clone(), metrics.clone()))
        .modify(drop_unread_metadata)
        .reflect(instance_writer)
        .inspect(move |ev| {
            if let Ok(ev) = ev {
                fan.publish(ev);
            }
        })
        .inspect(forget_gone(
            "ApplicationInstance",
            instance_store.clone(),
            metrics.clone(),
            not_ready.clone(),
        ))
        .inspect(forget_clients(clients.clone(), instance_store.clone()));
    let instance_watch = mark_instances
        .on_init_done(instance_watch)
        .for_each(|res| async move {
            if let Err(e) = res {
                warn!(error = %e, "ApplicationInstance watch error");
            }
        });
    let (link_store, link_writer) = reflector::store();
    // Reconcile on spec (generation) and steering annotation changes only: the operator's own
    // status writes and ownership annotations must not retrigger it (that would bypass the
    // backoff).
    let link_stream = watcher(links, watch_config(&settings))
        .default_backoff()
        .inspect(on_init_done(synced, metrics.clone()))
        .modify(drop_unread_metadata)
        .reflect(link_writer)
        .inspect(forget_gone(
            "ApplicationLink",
            link_store.clone(),
            metrics.clone(),
            not_ready.clone(),
        ));
    let link_stream = mark_links
        .on_init_done(link_stream)
        .applied_objects()
        .predicate_filter(steering::wakes, Default::default())
        .inspect(mark_changed(
            "ApplicationLink",
            metrics.clone(),
            |r: &Result<ApplicationLink, watcher::Error>| r.as_ref().ok(),
        ));
    let externals = api::<ExternalApplication>(&client, &settings.namespace);
    let (external_store, external_writer) = reflector::store();
    // Shared applications (cluster-scoped): one watch of their own, read by link and
    // ExternalApplication passes from the cache.
    let (cluster_store, cluster_writer) = reflector::store();
    let mut cluster_fan = fanout::Fanout::new(cluster_store.clone());
    let mut cluster_queue = |name: &'static str| {
        let q = cluster_fan.subscribe();
        let probe = q.clone();
        metrics.watch_queue(name, move || (probe.len(), probe.oldest()));
        q.stream()
    };
    let cluster_for_self = cluster_queue("ClusterApplicationInstance");
    let cluster_for_links = cluster_queue("ClusterApplicationInstance for ApplicationLink");
    let cluster_for_externals = settings
        .external_applications
        .then(|| cluster_queue("ClusterApplicationInstance for ExternalApplication"));
    let (mark_cluster, cluster_instances_synced) = synced::pending();
    metrics.watch_objects(crate::metrics::objects::ObjectsCollector {
        instances: instance_store.clone(),
        shared: cluster_store.clone(),
        links: link_store.clone(),
        externals: external_store.clone(),
    });
    let ctx = Arc::new(Context {
        client: client.clone(),
        settings: settings.clone(),
        clients: clients.clone(),
        backoff: backoff::Backoff::new(BACKOFF_INITIAL, BACKOFF_MAX),
        recorder: Recorder::new(
            client.clone(),
            Reporter {
                controller: "applink-operator".into(),
                instance: std::env::var("POD_NAME").ok(),
            },
        ),
        instances: instance_store.clone(),
        links: link_store.clone(),
        externals: external_store.clone(),
        cluster_instances: cluster_store.clone(),
        instances_synced,
        cluster_instances_synced,
        links_synced,
        externals_synced,
        metrics: metrics.clone(),
        shares: shares::Shares::new(
            settings.concurrency,
            settings.max_requests_per_application,
            settings.namespace.is_none(),
        ),
        unwritten: Default::default(),
        issued: Default::default(),
        not_ready: not_ready.clone(),
    });
    // One shutdown signal shared by both controllers.
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = tx.send(true);
    });
    let stop = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let config = kube::runtime::controller::Config::default().concurrency(settings.concurrency);

    let instance_controller = Controller::for_shared_stream(
        changed(for_instances, steering::wakes, instance_store.clone()).inspect(mark_changed(
            "ApplicationInstance",
            metrics.clone(),
            |o: &Arc<ApplicationInstance>| Some(&**o),
        )),
        instance_store.clone(),
    )
    .with_config(config.clone())
    .graceful_shutdown_on(stop(rx.clone()))
    .run(instance::reconcile, instance::error_policy, ctx.clone())
    .for_each(|res| async move {
        if let Err(e) = res {
            warn!(error = %e, "ApplicationInstance reconcile failed");
        }
    });
    // The shared applications' watch, when their CRD is served.
    let cluster_watch = {
        let settings = settings.clone();
        let client = client.clone();
        let (cluster_store_for_watch, cluster_metrics, cluster_not_ready) =
            (cluster_store.clone(), metrics.clone(), not_ready.clone());
        async move {
            if !settings.shared_applications {
                warn!(
                    "ClusterApplicationInstances are not reconciled: their CRD is not installed (kubectl apply --server-side -f charts/applink-operator/crds/; then restart the operator)"
                );
                mark_cluster.empty_for_good();
                return futures::future::pending::<()>().await;
            }
            let api: Api<ClusterApplicationInstance> = Api::all(client);
            let stream = watcher(api, watch_config(&settings))
                .default_backoff()
                .modify(drop_unread_metadata)
                .reflect(cluster_writer)
                .inspect(move |ev| {
                    if let Ok(ev) = ev {
                        cluster_fan.publish(ev);
                    }
                })
                .inspect(forget_gone(
                    "ClusterApplicationInstance",
                    cluster_store_for_watch,
                    cluster_metrics,
                    cluster_not_ready,
                ));
            mark_cluster
                .on_init_done(stream)
                .for_each(|res| async move {
                    if let Err(e) = res {
                        warn!(error = %e, "ClusterApplicationInstance watch error");
                    }
                })
                .await
        }
    };
    // Not run at all without its watch: a controller waits for its cache to be filled before it
    // ends, so one on a watch that never runs would never stop.
    let cluster_controller = {
        let run = settings.shared_applications;
        let (ctx, config, rx) = (ctx.clone(), config.clone(), rx.clone());
        async move {
            if !run {
                return;
            }
            Controller::for_shared_stream(
                changed(cluster_for_self, steering::wakes, cluster_store.clone()),
                cluster_store,
            )
            .with_config(config)
            .graceful_shutdown_on(stop(rx))
            .run(instance::reconcile_cluster, instance::error_policy, ctx)
            .for_each(|res| async move {
                if let Err(e) = res {
                    warn!(error = %e, "ClusterApplicationInstance reconcile failed");
                }
            })
            .await
        }
    };
    // A change of an instance (URL, credentials, identity) concerns every link that names it;
    // only the changes links depend on wake them.
    let links_by_instance = link_store.clone();
    let links_by_shared = link_store.clone();
    let link_controller = Controller::for_stream(link_stream, link_store)
        .with_config(config.clone())
        .watches_shared_stream(
            changed(for_links, relations::link_relevant, instance_store.clone()),
            move |instance| relations::links_of_instance(&links_by_instance, &instance),
        )
        .watches_shared_stream(
            changed(
                cluster_for_links,
                relations::shared_relevant,
                ctx.cluster_instances.clone(),
            ),
            move |shared| {
                relations::links_of_cluster_instance(&links_by_shared, &shared.name_any())
            },
        )
        .graceful_shutdown_on(stop(rx.clone()))
        .run(link::reconcile, link::error_policy, ctx.clone())
        .for_each(|res| async move {
            if let Err(e) = res {
                warn!(error = %e, "ApplicationLink reconcile failed");
            }
        });
    // ExternalApplications: reconciled on spec changes (and the rotate annotation), and when
    // the instance they name changes. Their Secrets are not watched (that would need list and
    // watch on every Secret): drift of a Secret is repaired at the next resync.
    let external_metrics = metrics.clone();
    let external_controller = async move {
        let Some(for_externals) = for_externals else {
            warn!(
                "ExternalApplications are not reconciled: turned off (--external-applications=false), or their CRD is not installed (kubectl apply --server-side -f charts/applink-operator/crds/; helm upgrade does not update CRDs; then restart the operator)"
            );
            mark_externals.empty_for_good();
            return;
        };
        let external_stream = watcher(externals, watch_config(&settings))
            .default_backoff()
            .modify(drop_unread_metadata)
            .reflect(external_writer)
            .inspect(forget_gone(
                "ExternalApplication",
                external_store.clone(),
                external_metrics.clone(),
                not_ready.clone(),
            ));
        let external_stream = mark_externals
            .on_init_done(external_stream)
            .applied_objects()
            .predicate_filter(external::wakes, Default::default())
            .inspect(mark_changed(
                "ExternalApplication",
                external_metrics.clone(),
                |r: &Result<ExternalApplication, watcher::Error>| r.as_ref().ok(),
            ));
        let externals_by_instance = external_store.clone();
        let externals_by_shared = external_store.clone();
        let cluster_for_externals = cluster_for_externals.expect("subscribed when running");
        Controller::for_stream(external_stream, external_store)
            .with_config(config.clone())
            .watches_shared_stream(
                changed(
                    for_externals,
                    relations::link_relevant,
                    instance_store.clone(),
                ),
                move |instance| relations::externals_of_instance(&externals_by_instance, &instance),
            )
            .watches_shared_stream(
                changed(
                    cluster_for_externals,
                    relations::shared_relevant,
                    ctx.cluster_instances.clone(),
                ),
                move |shared| {
                    relations::externals_of_cluster_instance(
                        &externals_by_shared,
                        &shared.name_any(),
                    )
                },
            )
            .graceful_shutdown_on(stop(rx.clone()))
            .run(external::reconcile, external::error_policy, ctx.clone())
            .for_each(|res| async move {
                if let Err(e) = res {
                    warn!(error = %e, "ExternalApplication reconcile failed");
                }
            })
            .await
    };
    // A stall is logged, not only shown in /readyz and /metrics.
    let watchdog_metrics = metrics.clone();
    let watchdog = tokio::spawn(async move {
        let mut stalled = false;
        loop {
            tokio::time::sleep(STALL_CHECK_EVERY).await;
            match (watchdog_metrics.stalled(), stalled) {
                (Some(why), false) => {
                    warn!(%why, "a controller stopped reading changes; /readyz fails until it reads again");
                    stalled = true;
                }
                (None, true) => {
                    info!("controllers read changes again");
                    stalled = false;
                }
                _ => {}
            }
        }
    });
    info!("controllers started");
    // The shared watch ends with the process; the controllers end on shutdown.
    tokio::select! {
        _ = instance_watch => warn!("ApplicationInstance watch ended"),
        _ = cluster_watch => warn!("ClusterApplicationInstance watch ended"),
        _ = async {
            tokio::join!(instance_controller, cluster_controller, link_controller, external_controller)
        } => {}
    }
    watchdog.abort();
    metrics.set_caches_synced(false);
    info!("controllers stopped");
}

/// A change that wakes the controller of `kind`: the object waits for a reconcile from now
/// (for `applink_oldest_waiting_seconds`). Put it after the controller's filters.
fn mark_changed<T, K: kube::Resource>(
    kind: &'static str,
    metrics: Arc<crate::health::Metrics>,
    object: impl Fn(&T) -> Option<&K>,
) -> impl FnMut(&T) {
    move |item| {
        if let Some(obj) = object(item) {
            metrics.changed(kind, object_key(obj));
        }
    }
}

/// Objects that went no longer wait. Put it after the reflector.
fn forget_gone<K>(
    kind: &'static str,
    store: Store<K>,
    metrics: Arc<crate::health::Metrics>,
    not_ready: Arc<not_ready::NotReady>,
) -> impl FnMut(&Result<watcher::Event<K>, watcher::Error>)
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    move |ev| match ev {
        Ok(watcher::Event::Delete(obj)) => {
            metrics.gone(kind, &object_key(obj));
            not_ready.forget_object(obj);
        }
        // Objects that went while the watch was down send no deletion.
        Ok(watcher::Event::InitDone) => {
            let present: std::collections::HashSet<String> =
                store.state().iter().map(|o| object_key(&**o)).collect();
            metrics.retain(kind, |o| present.contains(o));
        }
        _ => {}
    }
}

/// What the client cache remembers of an instance (refused credentials, its last admin client)
/// goes with the instance. Put it after the reflector.
fn forget_clients(
    clients: Arc<crate::clients::ClientCache>,
    store: Store<ApplicationInstance>,
) -> impl FnMut(&Result<watcher::Event<ApplicationInstance>, watcher::Error>) {
    move |ev| match ev {
        Ok(watcher::Event::Delete(obj)) => {
            if let Some(uid) = &obj.metadata.uid {
                clients.forget(uid);
            }
        }
        Ok(watcher::Event::InitDone) => {
            let live = store
                .state()
                .iter()
                .filter_map(|o| o.metadata.uid.clone())
                .collect();
            clients.retain(&live);
        }
        _ => {}
    }
}
