//! The two controllers and what they share: one watch of each kind, the context, the outcome
//! reporter and the status writer.

mod backoff;
mod external;
mod finalizer;
#[cfg(test)]
mod fixtures;
mod instance;
mod link;
mod outcome;
#[cfg(test)]
mod reconcile_tests;
mod relations;
mod status_patch;
mod synced;

use link::admin_client as link_admin_client;
pub(crate) use link::generic_id as link_id_of_url;
pub use link::{CLAIM_SOURCE, CLAIM_TARGET, FINALIZER as LINK_FINALIZER};
pub use relations::IN_USE_FINALIZER;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::WatchStreamExt;
use kube::runtime::controller::Controller;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::Store;
use kube::runtime::{predicates, reflector, watcher};
use kube::{Api, Client};
use std::collections::HashMap;
use tracing::{info, warn};

use crate::crd::{ApplicationInstance, ApplicationLink, ExternalApplication};

/// Operator settings from the command line.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Watch one namespace only; all namespaces when `None`.
    pub namespace: Option<String>,
    /// Watch only objects with these labels (a shard); all objects when `None`.
    pub label_selector: Option<String>,
    pub instance_check_interval: Duration,
    pub link_resync_interval: Duration,
    pub request_timeout: Duration,
    pub max_requests_per_application: usize,
    /// Reconciles of each kind running at once (0: no limit).
    pub concurrency: u16,
    /// Whether the ExternalApplication CRD is served (older CRD sets lack it: the operator
    /// then runs without that controller instead of failing).
    pub external_applications: bool,
}

/// Backoff of a failing object: from this, doubling, up to [`BACKOFF_MAX`].
pub const BACKOFF_INITIAL: Duration = Duration::from_secs(2);
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// Events' notes are limited to 1 kB by the API server.
const EVENT_NOTE_MAX_BYTES: usize = 1000;
/// Requeue after a Kubernetes write conflict (read again, almost at once) and after any other
/// Kubernetes API error.
const CONFLICT_REQUEUE: Duration = Duration::from_millis(200);
const KUBE_ERROR_REQUEUE: Duration = Duration::from_secs(5);
/// Buffer of the shared ApplicationInstance stream, per subscriber.
const SHARED_STREAM_BUFFER: usize = 256;

/// Shared by every reconcile.
pub(crate) struct Context {
    pub(crate) client: Client,
    pub(crate) settings: Settings,
    pub(crate) clients: crate::clients::ClientCache,
    pub(crate) backoff: backoff::Backoff,
    pub(crate) recorder: Recorder,
    /// The instance controller's cache, read by link reconciles (no extra API traffic).
    pub(crate) instances: Store<ApplicationInstance>,
    /// The link controller's cache, read by instance reconciles (which links use an instance).
    pub(crate) links: Store<ApplicationLink>,
    /// The ExternalApplication controller's cache, read by instance reconciles too.
    pub(crate) externals: Store<ExternalApplication>,
    /// Set once each cache holds its watch's first listing: a pass reading the other kind's
    /// cache waits for it.
    pub(crate) instances_synced: synced::Synced,
    pub(crate) links_synced: synced::Synced,
    pub(crate) externals_synced: synced::Synced,
    pub(crate) metrics: Arc<crate::health::Metrics>,
    /// Statuses whose write failed, written again alone with backoff.
    pub(crate) unwritten: status_patch::Unwritten,
    /// Client secrets issued but not stored yet, written by the next pass.
    pub(crate) issued: external::Issued,
}

impl Context {
    /// Publishes a Kubernetes event on `obj`; failures to publish are logged, never fatal.
    pub(crate) async fn event<K>(
        &self,
        obj: &K,
        type_: EventType,
        reason: &str,
        note: &str,
        action: &str,
    ) where
        K: kube::Resource<DynamicType = ()>,
    {
        let ev = Event {
            type_,
            reason: reason.to_string(),
            note: Some(crate::conditions::truncate(note, EVENT_NOTE_MAX_BYTES)),
            action: action.to_string(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&ev, &obj.object_ref(&())).await {
            warn!(error = %e, "could not publish event");
        }
    }
}

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

/// Retry delay after a Kubernetes API error: a write conflict (409, the object changed since it
/// was read) is retried at once with a fresh read; anything else after a pause.
fn kube_error_requeue(err: &crate::errors::Error) -> kube::runtime::controller::Action {
    let conflict = matches!(err, crate::errors::Error::Kube(kube::Error::Api(s)) if s.code == 409);
    kube::runtime::controller::Action::requeue(if conflict {
        CONFLICT_REQUEUE
    } else {
        KUBE_ERROR_REQUEUE
    })
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
                metrics.set_ready();
            }
        }
    }
}

/// Keeps the objects of `stream` whose fingerprint changed since the last one seen: what a
/// predicate filter does for a shared stream.
fn changed<K, F>(
    stream: impl futures::Stream<Item = Arc<K>>,
    fingerprint: F,
) -> impl futures::Stream<Item = Arc<K>>
where
    K: kube::Resource,
    F: Fn(&K) -> Option<u64>,
{
    let mut seen: HashMap<String, Option<u64>> = HashMap::new();
    stream.filter(move |obj| {
        let key = obj.meta().uid.clone().unwrap_or_default();
        let now = fingerprint(obj);
        let changed = seen.insert(key, now) != Some(now);
        std::future::ready(changed)
    })
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
    // One watch of ApplicationInstance, shared by both controllers.
    let (instance_store, instance_writer) = reflector::store_shared(SHARED_STREAM_BUFFER);
    let for_instances = instance_writer
        .subscribe()
        .expect("a shared store has subscribers");
    let for_links = instance_writer
        .subscribe()
        .expect("a shared store has subscribers");
    // A subscriber nobody reads would stall the shared stream once its buffer is full: only
    // when the ExternalApplication controller runs.
    let for_externals = settings.external_applications.then(|| {
        instance_writer
            .subscribe()
            .expect("a shared store has subscribers")
    });
    let (mark_instances, instances_synced) = synced::pending();
    let (mark_links, links_synced) = synced::pending();
    let (mark_externals, externals_synced) = synced::pending();
    let instance_watch = watcher(instances, watch_config(&settings))
        .default_backoff()
        .inspect(on_init_done(synced.clone(), metrics.clone()))
        .reflect_shared(instance_writer);
    let instance_watch = mark_instances
        .on_init_done(instance_watch)
        .for_each(|res| async move {
            if let Err(e) = res {
                warn!(error = %e, "ApplicationInstance watch error");
            }
        });
    let (link_store, link_writer) = reflector::store();
    // Reconcile on spec (generation) changes only: the operator's own status writes and
    // ownership annotations must not retrigger it (that would bypass the backoff).
    let link_stream = watcher(links, watch_config(&settings))
        .default_backoff()
        .inspect(on_init_done(synced, metrics.clone()))
        .reflect(link_writer);
    let link_stream = mark_links
        .on_init_done(link_stream)
        .applied_objects()
        .predicate_filter(predicates::generation, Default::default());
    let externals = api::<ExternalApplication>(&client, &settings.namespace);
    let (external_store, external_writer) = reflector::store();
    let ctx = Arc::new(Context {
        client: client.clone(),
        settings: settings.clone(),
        clients: crate::clients::ClientCache::new(
            settings.request_timeout,
            settings.max_requests_per_application,
        ),
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
        instances_synced,
        links_synced,
        externals_synced,
        metrics: metrics.clone(),
        unwritten: Default::default(),
        issued: Default::default(),
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
        changed(for_instances, predicates::generation),
        instance_store,
    )
    .with_config(config.clone())
    .graceful_shutdown_on(stop(rx.clone()))
    .run(instance::reconcile, instance::error_policy, ctx.clone())
    .for_each(|res| async move {
        if let Err(e) = res {
            warn!(error = %e, "ApplicationInstance reconcile failed");
        }
    });
    // A change of an instance (URL, credentials, identity) concerns every link that names it;
    // only the changes links depend on wake them.
    let links_by_instance = link_store.clone();
    let link_controller = Controller::for_stream(link_stream, link_store)
        .with_config(config.clone())
        .watches_shared_stream(
            changed(for_links, relations::link_relevant),
            move |instance| relations::links_of_instance(&links_by_instance, &instance),
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
            .reflect(external_writer);
        let external_stream = mark_externals
            .on_init_done(external_stream)
            .applied_objects()
            .predicate_filter(external::wakes, Default::default());
        let externals_by_instance = external_store.clone();
        Controller::for_stream(external_stream, external_store)
            .with_config(config.clone())
            .watches_shared_stream(
                changed(for_externals, relations::link_relevant),
                move |instance| external::of_instance(&externals_by_instance, &instance),
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
    info!("controllers started");
    // The shared watch ends with the process; the controllers end on shutdown.
    tokio::select! {
        _ = instance_watch => warn!("ApplicationInstance watch ended"),
        _ = async { tokio::join!(instance_controller, link_controller, external_controller) } => {}
    }
    info!("controllers stopped");
}
