//! The two controllers and what they share.

mod backoff;
mod finalizer;
pub mod instance;
mod link;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::WatchStreamExt;
use kube::runtime::controller::Controller;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::Store;
use kube::runtime::{predicates, reflector, watcher};
use kube::{Api, Client};
use tracing::{info, warn};

use crate::crd::{ApplicationInstance, ApplicationLink};

/// Operator settings from the command line.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Watch one namespace only; all namespaces when `None`.
    pub namespace: Option<String>,
    pub instance_check_interval: Duration,
    pub link_resync_interval: Duration,
    pub request_timeout: Duration,
    pub max_requests_per_application: usize,
}

/// Shared by every reconcile.
pub struct Context {
    pub client: Client,
    pub settings: Settings,
    pub clients: crate::clients::ClientCache,
    pub backoff: backoff::Backoff,
    pub recorder: Recorder,
    /// The instance controller's cache, read by link reconciles (no extra API traffic).
    pub instances: Store<ApplicationInstance>,
    /// The link controller's cache, read by instance reconciles (which links use an instance).
    pub links: Store<ApplicationLink>,
    pub metrics: Arc<crate::health::Metrics>,
}

impl Context {
    /// Publishes a Kubernetes event on `obj`; failures to publish are logged, never fatal.
    pub async fn event<K>(&self, obj: &K, type_: EventType, reason: &str, note: &str, action: &str)
    where
        K: kube::Resource<DynamicType = ()>,
    {
        let ev = Event {
            type_,
            reason: reason.to_string(),
            note: Some(note.chars().take(1000).collect()),
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

/// Writes `status` through the status subresource, only when it differs from `old` (kstatus: a
/// steady object's status does not change between passes). Returns whether it wrote.
async fn write_status<K, S>(
    api: &Api<K>,
    name: &str,
    old: &S,
    status: &S,
) -> Result<bool, crate::errors::Error>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    S: serde::Serialize + PartialEq,
{
    if status == old {
        return Ok(false);
    }
    let patch = serde_json::json!({ "status": status });
    api.patch_status(
        name,
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(&patch),
    )
    .await?;
    Ok(true)
}

/// Retry delay after a Kubernetes API error: a write conflict (409, the object changed since it
/// was read) is retried at once with a fresh read; anything else after a pause.
fn kube_error_requeue(err: &crate::errors::Error) -> kube::runtime::controller::Action {
    let conflict = matches!(err, crate::errors::Error::Kube(kube::Error::Api(s)) if s.code == 409);
    kube::runtime::controller::Action::requeue(if conflict {
        Duration::from_millis(200)
    } else {
        Duration::from_secs(5)
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

/// Runs both controllers until `shutdown` resolves; in-flight reconciles finish first.
pub async fn run(
    client: Client,
    settings: Settings,
    metrics: Arc<crate::health::Metrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let instances = api::<ApplicationInstance>(&client, &settings.namespace);
    let links = api::<ApplicationLink>(&client, &settings.namespace);
    // Reconcile on spec (generation) changes only: the operator's own status writes and
    // ownership annotations must not retrigger it (that would bypass the backoff).
    let (instance_store, instance_writer) = reflector::store();
    // Ready (for /readyz) once both watches have listed everything once.
    let synced = Arc::new(std::sync::atomic::AtomicU8::new(0));
    let instance_stream = watcher(instances.clone(), watcher::Config::default().any_semantic())
        .default_backoff()
        .inspect(on_init_done(synced.clone(), metrics.clone()))
        .reflect(instance_writer)
        .applied_objects()
        .predicate_filter(predicates::generation, Default::default());
    let (link_store, link_writer) = reflector::store();
    let link_stream = watcher(links, watcher::Config::default().any_semantic())
        .default_backoff()
        .inspect(on_init_done(synced, metrics.clone()))
        .reflect(link_writer)
        .applied_objects()
        .predicate_filter(predicates::generation, Default::default());
    let ctx = Arc::new(Context {
        client: client.clone(),
        settings: settings.clone(),
        clients: crate::clients::ClientCache::new(
            settings.request_timeout,
            settings.max_requests_per_application,
        ),
        backoff: backoff::Backoff::new(Duration::from_secs(2), Duration::from_secs(300)),
        recorder: Recorder::new(
            client.clone(),
            Reporter {
                controller: "applink-operator".into(),
                instance: std::env::var("POD_NAME").ok(),
            },
        ),
        instances: instance_store.clone(),
        links: link_store.clone(),
        metrics: metrics.clone(),
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

    let instance_controller = Controller::for_stream(instance_stream, instance_store)
        .graceful_shutdown_on(stop(rx.clone()))
        .run(instance::reconcile, instance::error_policy, ctx.clone())
        .for_each(|res| async move {
            if let Err(e) = res {
                warn!(error = %e, "ApplicationInstance reconcile failed");
            }
        });
    // A change of an instance (URL, credentials, identity) concerns every link that names it.
    let links_by_instance = link_store.clone();
    // Only instance changes that matter to a link wake it: identity, URL, readiness,
    // administration, spec, deletion; not the instance's own finalizer or check timestamps.
    let instance_changes = watcher(instances, watcher::Config::default().any_semantic())
        .default_backoff()
        .touched_objects()
        .predicate_filter(instance::link_relevant, Default::default());
    let link_controller = Controller::for_stream(link_stream, link_store)
        .watches_stream(instance_changes, move |instance| {
            link::links_of_instance(&links_by_instance, &instance)
        })
        .graceful_shutdown_on(stop(rx.clone()))
        .run(link::reconcile, link::error_policy, ctx.clone())
        .for_each(|res| async move {
            if let Err(e) = res {
                warn!(error = %e, "ApplicationLink reconcile failed");
            }
        });
    info!("controllers started");
    tokio::join!(instance_controller, link_controller);
    info!("controllers stopped");
}
