//! Listening sockets (plain or TLS) that can be stopped and restarted on the same port.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Mutex;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::handle;
use crate::app::App;
use crate::control::{BoxFuture, Listener};

/// One app as the server runs it: the app's state, its routes, its TLS acceptor and its accept
/// loop. The app itself knows none of these.
pub(crate) struct Host {
    pub app: Arc<App>,
    pub router: Router,
    pub tls: Option<TlsAcceptor>,
    listener: Mutex<ListenerCtl>,
}

/// The accept loop of an app, if it is listening.
#[derive(Default)]
struct ListenerCtl {
    running: Option<(CancellationToken, tokio::task::JoinHandle<()>)>,
}

impl Host {
    pub fn new(app: Arc<App>, tls: Option<TlsAcceptor>) -> Arc<Host> {
        Arc::new(Host {
            router: super::routes::router(app.clone()),
            app,
            tls,
            listener: Mutex::new(ListenerCtl::default()),
        })
    }

    /// Starts accepting on a socket bound beforehand.
    pub async fn accept_on(self: &Arc<Self>, listener: TcpListener) {
        *self.listener.lock().await = spawn_accept(self.clone(), listener);
    }

    /// Starts accepting on the app's port (binding it again after a stop).
    pub async fn start_listening(self: &Arc<Self>) -> std::io::Result<()> {
        let mut ctl = self.listener.lock().await;
        if ctl.running.is_some() {
            return Ok(());
        }
        let listener = bind_retry(self.app.port).await?;
        *ctl = spawn_accept(self.clone(), listener);
        Ok(())
    }

    /// Closes the listening socket and every open connection, so peers get "connection refused".
    pub async fn stop_listening(&self) {
        let mut ctl = self.listener.lock().await;
        if let Some((cancel, task)) = ctl.running.take() {
            cancel.cancel();
            let _ = task.await;
        }
    }

    pub async fn is_listening(&self) -> bool {
        self.listener.lock().await.running.is_some()
    }
}

impl Listener for Host {
    fn start(self: Arc<Self>) -> BoxFuture<std::io::Result<()>> {
        Box::pin(async move { self.start_listening().await })
    }

    fn stop(self: Arc<Self>) -> BoxFuture<()> {
        Box::pin(async move { self.stop_listening().await })
    }

    fn is_listening(self: Arc<Self>) -> BoxFuture<bool> {
        Box::pin(async move { Host::is_listening(&self).await })
    }
}

/// Rebinding right after a close can race the kernel; retry briefly.
async fn bind_retry(port: u16) -> std::io::Result<TcpListener> {
    let mut last = None;
    for _ in 0..50 {
        match TcpListener::bind(("127.0.0.1", port)).await {
            Ok(l) => return Ok(l),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                last = Some(e);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("bind failed")))
}

fn spawn_accept(host: Arc<Host>, listener: TcpListener) -> ListenerCtl {
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    let task = tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = c.cancelled() => break,
                r = listener.accept() => r,
            };
            let Ok((stream, _)) = accepted else { continue };
            let _ = stream.set_nodelay(true);
            let host = host.clone();
            let c = c.clone();
            tokio::spawn(async move {
                match host.tls.clone() {
                    None => serve_conn(host, stream, c).await,
                    Some(acceptor) => {
                        let tls = tokio::select! {
                            _ = c.cancelled() => return,
                            r = acceptor.accept(stream) => r,
                        };
                        if let Ok(tls) = tls {
                            serve_conn(host, tls, c).await;
                        }
                    }
                }
            });
        }
    });
    ListenerCtl {
        running: Some((cancel, task)),
    }
}

async fn serve_conn<I>(host: Arc<Host>, io: I, cancel: CancellationToken)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let host = host.clone();
        async move { Ok::<_, Infallible>(handle(host, req.map(Body::new)).await) }
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection(TokioIo::new(io), svc);
    tokio::select! {
        _ = conn => {}
        _ = cancel.cancelled() => {}
    }
}
