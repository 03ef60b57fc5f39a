//! The operator's settings: what the command line decides for every controller.

use std::time::Duration;

/// Operator settings from the command line.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Watch one namespace only; all namespaces when `None`.
    pub namespace: Option<String>,
    /// Watch only objects with these labels (a shard); all objects when `None`.
    pub label_selector: Option<String>,
    /// Where the Secrets and ConfigMaps of ClusterApplicationInstances live (the operator's
    /// namespace).
    pub cluster_resource_namespace: String,
    /// Whether the ClusterApplicationInstance CRD is served (older CRD sets lack it).
    pub shared_applications: bool,
    pub instance_check_interval: Duration,
    pub link_resync_interval: Duration,
    /// Not Ready for this long, for a reason that waiting alone does not fix: Stalled.
    pub stalled_after: Duration,
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
