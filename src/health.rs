//! A small HTTP endpoint for probes and metrics: `/healthz` (the process runs), `/readyz` (both
//! caches have synced, and no controller has left a change unread for [`STALL_AFTER`]) and
//! `/metrics` (Prometheus text 0.0.4 from `prometheus-client`; what is exported: docs/metrics.md).
//! Hand-rolled on a TcpListener: three fixed GET routes do not need an HTTP framework.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::atlassian::CallMetrics;
use crate::metrics::objects::ObjectsCollector;
use crate::metrics::reconciles::Reconciles;
pub use crate::metrics::runtime::{Running, STALL_AFTER};
use crate::metrics::runtime::{Runtime, RuntimeCollector};

/// The operator's metrics and readiness, shared by the controllers and the endpoint.
pub struct Metrics {
    runtime: Arc<Runtime>,
    reconciles: Reconciles,
    calls: CallMetrics,
    /// Locked for a scrape and when the object caches are added (once, at start).
    registry: Mutex<Registry>,
}

impl Default for Metrics {
    fn default() -> Self {
        let runtime = Arc::new(Runtime::default());
        let reconciles = Reconciles::default();
        let calls = CallMetrics::default();
        let mut registry = Registry::default();
        crate::metrics::register_build_info(&mut registry);
        reconciles.register(&mut registry);
        calls.register(&mut registry);
        registry.register_collector(Box::new(RuntimeCollector(runtime.clone())));
        Self {
            runtime,
            reconciles,
            calls,
            registry: Mutex::new(registry),
        }
    }
}

impl Metrics {
    /// Ready for the readiness probe (caches synced, or a standby waiting for the lease).
    pub fn set_ready(&self) {
        self.runtime.set_ready();
    }

    pub fn is_ready(&self) -> bool {
        self.runtime.is_ready()
    }

    /// The controllers' caches hold a complete listing (`true`), or the controllers stopped.
    pub fn set_caches_synced(&self, synced: bool) {
        self.runtime.set_caches_synced(synced);
    }

    /// Where the Atlassian clients count their calls.
    pub(crate) fn calls(&self) -> CallMetrics {
        self.calls.clone()
    }

    /// Adds the per-object series, computed at scrape time from these caches.
    pub(crate) fn watch_objects(&self, objects: ObjectsCollector) {
        self.registry
            .lock()
            .expect("metrics lock")
            .register_collector(Box::new(objects));
    }

    /// Counts one reconcile of `kind` ending in `result` (`ok` or a condition reason).
    pub fn reconciled(&self, kind: &'static str, result: &str) {
        self.reconciles.reconciled(kind, result);
    }

    /// Counts one pass of `kind` put off because `why` (a busy application or namespace).
    pub fn deferred(&self, kind: &'static str, why: &'static str) {
        self.reconciles.deferred(kind, why);
    }

    /// A pass ended with Ready `was_ready` before and `is_ready` after: counts the object's
    /// first Ready in `applink_time_to_ready_seconds`.
    pub(crate) fn ready_transition(
        &self,
        kind: &'static str,
        object: &str,
        was_ready: bool,
        is_ready: bool,
        age: Option<Duration>,
    ) {
        self.reconciles
            .ready_transition(kind, object, was_ready, is_ready, age);
    }

    /// Registers a trigger queue (changes of one watch waiting for one controller to read them).
    pub fn watch_queue(
        &self,
        name: &'static str,
        probe: impl Fn() -> (usize, Option<Duration>) + Send + Sync + 'static,
    ) {
        self.runtime.watch_queue(name, Box::new(probe));
    }

    /// Counts a reconcile of `kind` as running until the guard is dropped, when its duration
    /// is recorded. (The object's change is picked up once the pass has its share of the
    /// workers: [`Metrics::picked_up`].)
    pub fn running(&self, kind: &'static str) -> Running {
        let (id, started) = self.runtime.start(kind);
        Running {
            runtime: self.runtime.clone(),
            id,
            kind,
            started,
            result: Mutex::new("other"),
            durations: self.reconciles.durations.clone(),
        }
    }

    /// An object of `kind` changed and waits for a reconcile (only the first change counts).
    pub fn changed(&self, kind: &'static str, object: String) {
        self.runtime.changed(kind, object);
    }

    /// The object was picked up by a reconcile.
    pub fn picked_up(&self, kind: &'static str, object: &str) {
        self.runtime.picked_up(kind, object);
    }

    /// The object is gone: nothing is kept for it.
    pub fn gone(&self, kind: &'static str, object: &str) {
        self.runtime.picked_up(kind, object);
        self.reconciles.forget(kind, object);
    }

    /// Keeps what is kept for the objects of `kind` that `keep` accepts (after a relisting:
    /// objects that went while the watch was down send no deletion).
    pub fn retain(&self, kind: &'static str, keep: impl Fn(&str) -> bool) {
        self.runtime.retain_waiting(kind, &keep);
        self.reconciles.retain(kind, keep);
    }

    /// Why the operator counts as stalled: a trigger queue not read for [`STALL_AFTER`].
    pub fn stalled(&self) -> Option<String> {
        self.runtime.stalled()
    }

    /// The Prometheus text (0.0.4) of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().expect("metrics lock");
        // Writing to a String cannot fail; an encoder error would be a bug in a collector.
        if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry) {
            warn!(error = %e, "metrics encoding failed");
        }
        out
    }
}

/// Serves until the process ends.
pub async fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    info!(%addr, "serving /healthz, /readyz and /metrics");
    loop {
        let (mut stream, _) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                warn!(error = %e, "health endpoint accept failed");
                continue;
            }
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            let n = match tokio::time::timeout(
                std::time::Duration::from_secs(5),
                stream.read(&mut buf),
            )
            .await
            {
                Ok(Ok(n)) => n,
                _ => return,
            };
            let request = String::from_utf8_lossy(&buf[..n]);
            // Scrapers and probes may add a query string (`/metrics?format=…`); it selects nothing.
            let target = request.split_whitespace().nth(1).unwrap_or("/");
            let path = target.split_once('?').map_or(target, |(p, _)| p);
            let (status, body) = match path {
                "/healthz" => ("200 OK", "ok\n".to_string()),
                "/readyz" if !metrics.is_ready() => {
                    ("503 Service Unavailable", "caches not synced\n".to_string())
                }
                "/readyz" => match metrics.stalled() {
                    Some(why) => ("503 Service Unavailable", format!("{why}\n")),
                    None => ("200 OK", "ok\n".to_string()),
                },
                "/metrics" => ("200 OK", metrics.render()),
                _ => ("404 Not Found", "not found\n".to_string()),
            };
            let response = format!(
                "HTTP/1.1 {status}\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn routes() {
        let metrics = Arc::new(Metrics::default());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        tokio::spawn(serve(addr, metrics.clone()));
        let get = |path: &'static str| async move {
            for _ in 0..50 {
                if let Ok(mut s) = tokio::net::TcpStream::connect(addr).await {
                    s.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes())
                        .await
                        .unwrap();
                    let mut out = String::new();
                    s.read_to_string(&mut out).await.unwrap();
                    return out;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            panic!("endpoint did not start");
        };
        assert!(get("/healthz").await.starts_with("HTTP/1.1 200"));
        assert!(get("/readyz").await.starts_with("HTTP/1.1 503"));
        metrics.set_ready();
        metrics.reconciled("ApplicationLink", "ok");
        metrics.reconciled("ApplicationLink", "ok");
        assert!(get("/readyz").await.starts_with("HTTP/1.1 200"));
        let m = get("/metrics").await;
        assert!(
            m.contains("applink_reconciles_total{kind=\"ApplicationLink\",result=\"ok\"} 2"),
            "{m}"
        );
        assert!(get("/nope").await.starts_with("HTTP/1.1 404"));
        assert!(get("/metrics?x=1").await.starts_with("HTTP/1.1 200"));
        assert!(get("/healthz?verbose").await.starts_with("HTTP/1.1 200"));
        assert!(get("/nope?metrics").await.starts_with("HTTP/1.1 404"));
    }

    #[test]
    fn a_queue_left_unread_fails_readiness_and_shows_in_metrics() {
        let metrics = Arc::new(Metrics::default());
        metrics.set_ready();
        let age = Arc::new(Mutex::new(None));
        let probe = age.clone();
        metrics.watch_queue("ApplicationInstance", move || {
            let a = *probe.lock().unwrap();
            (usize::from(a.is_some()), a)
        });
        assert_eq!(metrics.stalled(), None, "empty queue");
        *age.lock().unwrap() = Some(STALL_AFTER - Duration::from_secs(1));
        assert_eq!(metrics.stalled(), None, "not yet");
        *age.lock().unwrap() = Some(STALL_AFTER);
        let why = metrics.stalled().expect("stalled");
        assert!(why.contains("ApplicationInstance"), "{why}");
        let m = metrics.render();
        assert!(
            m.contains("applink_trigger_queue_oldest_seconds{queue=\"ApplicationInstance\"} 120.0"),
            "{m}"
        );
        assert!(m.contains("applink_trigger_queue_length{queue=\"ApplicationInstance\"} 1"));
    }

    #[test]
    fn running_and_waiting_objects_are_counted_until_picked_up_or_done() {
        let metrics = Arc::new(Metrics::default());
        metrics.changed("ApplicationLink", "a/l1".into());
        metrics.changed("ApplicationLink", "a/l2".into());
        let m = metrics.render();
        assert!(
            m.contains("applink_objects_waiting{kind=\"ApplicationLink\"} 2"),
            "{m}"
        );
        let run = metrics.running("ApplicationLink");
        metrics.picked_up("ApplicationLink", "a/l1");
        let m = metrics.render();
        assert!(
            m.contains("applink_objects_waiting{kind=\"ApplicationLink\"} 1"),
            "{m}"
        );
        assert!(
            m.contains("applink_reconciles_in_flight{kind=\"ApplicationLink\"} 1"),
            "{m}"
        );
        drop(run);
        metrics.retain("ApplicationLink", |o| o != "a/l2");
        let m = metrics.render();
        assert!(
            !m.contains("applink_reconciles_in_flight{kind=\"ApplicationLink\"} 1"),
            "{m}"
        );
        assert!(
            !m.contains("applink_objects_waiting{kind=\"ApplicationLink\"} 1"),
            "{m}"
        );
        metrics.deferred("ApplicationLink", "busy application");
        assert!(metrics.render().contains(
            "applink_deferred_total{kind=\"ApplicationLink\",why=\"busy application\"} 1"
        ));
    }
}
