//! What every reconcile shares: the clients, the caches of each kind, the backoff, the
//! reporter's recorder and the workers' shares. Built once by the wiring (`mod.rs`).

use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::reflector::Store;
use tracing::warn;

use super::{Settings, backoff, issued, not_ready, shares, status_patch, synced};
use crate::crd::{
    ApplicationInstance, ApplicationLink, ClusterApplicationInstance, ExternalApplication,
};

/// Events' notes are limited to 1 kB by the API server.
const EVENT_NOTE_MAX_BYTES: usize = 1000;
/// Requeue after a Kubernetes write conflict (read again, almost at once) and after any other
/// Kubernetes API error.
const CONFLICT_REQUEUE: Duration = Duration::from_millis(200);
const KUBE_ERROR_REQUEUE: Duration = Duration::from_secs(5);

/// Shared by every reconcile.
pub(crate) struct Context {
    pub(crate) client: Client,
    pub(crate) settings: Settings,
    pub(crate) clients: Arc<crate::clients::ClientCache>,
    pub(crate) backoff: backoff::Backoff,
    pub(crate) recorder: Recorder,
    /// The instance controller's cache, read by link reconciles (no extra API traffic).
    pub(crate) instances: Store<ApplicationInstance>,
    /// The link controller's cache, read by instance reconciles (which links use an instance).
    pub(crate) links: Store<ApplicationLink>,
    /// The ExternalApplication controller's cache, read by instance reconciles too.
    pub(crate) externals: Store<ExternalApplication>,
    /// The shared applications' cache (ClusterApplicationInstance), read by link and
    /// ExternalApplication reconciles.
    pub(crate) cluster_instances: Store<ClusterApplicationInstance>,
    /// Set once each cache holds its watch's first listing: a pass reading the other kind's
    /// cache waits for it.
    pub(crate) instances_synced: synced::Synced,
    pub(crate) links_synced: synced::Synced,
    pub(crate) externals_synced: synced::Synced,
    pub(crate) cluster_instances_synced: synced::Synced,
    pub(crate) metrics: Arc<crate::health::Metrics>,
    /// Each application's and namespace's share of the workers.
    pub(crate) shares: shares::Shares,
    /// Statuses whose write failed, written again alone with backoff.
    pub(crate) unwritten: status_patch::Unwritten,
    /// Client secrets issued but not stored yet, written by the next pass.
    pub(crate) issued: issued::Issued,
    /// Since when each object has not been Ready, for the Stalled decision.
    pub(crate) not_ready: Arc<not_ready::NotReady>,
}

impl Context {
    /// Takes the pass's share of the workers for the applications at `urls` and the object's
    /// namespace, or, when one of them has all its shares in use, the action that puts the
    /// pass off (no failure is recorded: the caller returns it at once).
    pub(crate) fn take_share<K>(
        &self,
        kind: &'static str,
        obj: &K,
        urls: &[String],
    ) -> Result<shares::Ticket<'_>, kube::runtime::controller::Action>
    where
        K: kube::Resource,
    {
        let ns = obj.meta().namespace.as_deref().unwrap_or_default();
        let object = object_key(obj);
        match self.shares.try_take(kind, ns, urls) {
            Ok(ticket) => {
                self.metrics.picked_up(kind, &object);
                self.shares.got_share(&format!("{kind}/{object}"));
                Ok(ticket)
            }
            Err(busy) => {
                self.metrics.deferred(kind, busy.as_str());
                let later = self.shares.put_off(&format!("{kind}/{object}"));
                tracing::debug!(kind, %object, why = busy.as_str(), ?later, "pass put off");
                Err(kube::runtime::controller::Action::requeue(later))
            }
        }
    }

    /// The read-only lookups a pass resolves its applications with, lent from the caches.
    pub(crate) fn lookups(&self) -> super::lookups::Lookups<'_> {
        super::lookups::Lookups {
            instances: &self.instances,
            cluster_instances: &self.cluster_instances,
            cluster_instances_synced: &self.cluster_instances_synced,
            kube: super::lookups::KubeReader::new(self.client.clone()),
            clients: &self.clients,
            cluster_resource_namespace: &self.settings.cluster_resource_namespace,
            shard: self.settings.label_selector.as_deref(),
            links: &self.links,
            externals: &self.externals,
        }
    }

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

/// Retry delay after a Kubernetes API error: a write conflict (409, the object changed since it
/// was read) is retried at once with a fresh read; anything else after a pause.
pub(crate) fn kube_error_requeue(err: &crate::errors::Error) -> kube::runtime::controller::Action {
    let conflict = matches!(err, crate::errors::Error::Kube(kube::Error::Api(s)) if s.code == 409);
    kube::runtime::controller::Action::requeue(if conflict {
        CONFLICT_REQUEUE
    } else {
        KUBE_ERROR_REQUEUE
    })
}

/// `namespace/name`, the key of an object in the metrics' waiting list.
pub(crate) fn object_key<K: kube::Resource>(obj: &K) -> String {
    format!(
        "{}/{}",
        obj.meta().namespace.as_deref().unwrap_or_default(),
        obj.meta().name.as_deref().unwrap_or_default()
    )
}
