//! A small HTTP endpoint for probes and metrics: `/healthz` (the process runs), `/readyz` (both
//! caches have synced) and `/metrics` (Prometheus text: reconciles and failures per kind).
//! Hand-rolled on a TcpListener: three fixed GET routes do not need an HTTP framework.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tracing::{info, warn};

/// Counters shared by the controllers and the endpoint.
#[derive(Default)]
pub struct Metrics {
    ready: AtomicBool,
    counters: Mutex<BTreeMap<(&'static str, &'static str, String), u64>>,
}

impl Metrics {
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::SeqCst);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// Counts one reconcile of `kind` ending in `result` (`ok` or a condition reason).
    pub fn reconciled(&self, kind: &'static str, result: &str) {
        *self
            .counters
            .lock()
            .expect("metrics lock")
            .entry(("applink_reconciles_total", kind, result.to_string()))
            .or_default() += 1;
    }

    pub fn render(&self) -> String {
        let mut out = String::from(
            "# HELP applink_reconciles_total Reconciles by kind and result (ok, or the failure reason).\n# TYPE applink_reconciles_total counter\n",
        );
        for ((name, kind, result), n) in self.counters.lock().expect("metrics lock").iter() {
            out.push_str(&format!(
                "{name}{{kind=\"{kind}\",result=\"{}\"}} {n}\n",
                result.replace(['"', '\\', '\n'], "_")
            ));
        }
        out.push_str(&format!("# HELP applink_ready Whether the caches have synced.\n# TYPE applink_ready gauge\napplink_ready {}\n", u8::from(self.is_ready())));
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
                "/readyz" if metrics.is_ready() => ("200 OK", "ok\n".to_string()),
                "/readyz" => ("503 Service Unavailable", "caches not synced\n".to_string()),
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
}
