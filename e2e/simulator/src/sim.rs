//! Starting a set of apps in-process: the library API behind the CLI and the tests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::get;
use axum::{Extension, Router};
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::app::App;
use crate::config::{AppConfig, SimConfig};
use crate::control::faults::Recorder;
use crate::control::{self, ListenerRef};
use crate::peer::build_client;
use crate::profile::Profile;
use crate::server::Host;
use crate::store::AccessState;
use crate::store::SwapCert;
use crate::store::{AppState, Faults, Identity, RequestLog};
use crate::wire::keys::{consumer_key, java_uuid3, private_key, public_key_b64};
use crate::wire::oauth1::Signer;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("app {app}: {source}")]
    Io {
        app: String,
        #[source]
        source: std::io::Error,
    },
    #[error("app {app}: TLS: {msg}")]
    Tls { app: String, msg: String },
}

/// A running set of simulated applications.
pub struct Simulator {
    apps: BTreeMap<String, Arc<Host>>,
    control_url: Option<String>,
    control_task: Option<tokio::task::JoinHandle<()>>,
    /// The recording listener (another origin), started with the control port.
    recorder: Option<Arc<Recorder>>,
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// The app's TLS acceptor and its swappable certificate (`faults::SwapCert`).
type Tls = (tokio_rustls::TlsAcceptor, Arc<SwapCert>);

fn tls_acceptor(cfg: &AppConfig) -> Result<Option<Tls>, String> {
    let Some(tls) = &cfg.tls else { return Ok(None) };
    let cert = Arc::new(SwapCert::load(&tls.cert, &tls.key)?);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_cert_resolver(cert.clone());
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    // No session resumption: every connection makes a full handshake, so a swapped certificate
    // (`PUT /_sim/tls`) is presented to, and checked by, every client at once.
    server.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    server.send_tls13_tickets = 0;
    Ok(Some((
        tokio_rustls::TlsAcceptor::from(Arc::new(server)),
        cert,
    )))
}

fn roots(cfg: &AppConfig) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    for path in &cfg.trust_ca {
        for cert in load_certs(path)? {
            store
                .add(cert)
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    Ok(store)
}

/// Builds an app and binds its port, without accepting yet.
async fn prepare(
    cfg: AppConfig,
    state_dir: Option<PathBuf>,
) -> Result<(Arc<Host>, TcpListener), StartError> {
    let name = cfg.name.clone();
    let tls = tls_acceptor(&cfg).map_err(|msg| StartError::Tls {
        app: name.clone(),
        msg,
    })?;
    let roots = roots(&cfg).map_err(|msg| StartError::Tls {
        app: name.clone(),
        msg,
    })?;
    let seed = cfg.seed().to_string();
    let bits = cfg.key_bits;
    // Key generation is CPU-bound; keep it off the async workers.
    let key = tokio::task::spawn_blocking(move || private_key(&seed, bits))
        .await
        .expect("key generation task");
    let listener = TcpListener::bind(("127.0.0.1", cfg.port))
        .await
        .map_err(|source| StartError::Io {
            app: name.clone(),
            source,
        })?;
    let port = listener
        .local_addr()
        .map_err(|source| StartError::Io {
            app: name.clone(),
            source,
        })?
        .port();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let base_url = format!("{scheme}://{}:{port}", cfg.host);
    let display_name = cfg.display_name.clone().unwrap_or_else(|| cfg.name.clone());
    let profile = Profile::of(&cfg);
    let ident = Identity {
        id: cfg.id.unwrap_or_else(|| java_uuid3(cfg.seed().as_bytes())),
        consumer_key: consumer_key(&display_name, cfg.seed()),
        public_key_b64: public_key_b64(&key.to_public_key()),
        display_name,
        version: profile.version.clone(),
        applinks_version: profile.applinks_version.clone(),
        capabilities: cfg
            .capabilities
            .clone()
            .unwrap_or_else(|| vec!["STATUS_API".into(), "MIGRATION_API".into()]),
    };
    let mut state = AppState::default();
    if let Some(dir) = &state_dir
        && let Some(p) = App::load_persisted(dir, &cfg.name)
    {
        state.persisted = p;
        state.migrate_legacy_consumers();
    }
    let client = build_client(roots, Duration::from_millis(cfg.peer_timeout_ms));
    let app = Arc::new(App {
        signer: Signer {
            consumer_key: ident.consumer_key.clone(),
            key,
        },
        ident,
        settings: Mutex::new(profile.settings.clone()),
        profile,
        access: Mutex::new(AccessState::default()),
        scheme,
        port,
        base_url,
        client,
        state: Mutex::new(state),
        faults: Mutex::new(Faults::default()),
        log: Mutex::new(RequestLog::default()),
        state_dir,
        tls_cert: tls.as_ref().map(|(_, c)| c.clone()),
        cfg,
    });
    Ok((Host::new(app, tls.map(|(a, _)| a)), listener))
}

impl Simulator {
    /// Starts every app of the config (and the control port if configured); returns once all
    /// sockets are bound and accepting, so callers may connect immediately.
    pub async fn start(
        config: SimConfig,
        state_dir: Option<PathBuf>,
    ) -> Result<Simulator, StartError> {
        config.validate().map_err(StartError::Config)?;
        if let Some(dir) = &state_dir {
            std::fs::create_dir_all(dir).map_err(|source| StartError::Io {
                app: "state-dir".into(),
                source,
            })?;
        }
        let prepared = futures_join(
            config
                .apps
                .iter()
                .cloned()
                .map(|c| prepare(c, state_dir.clone())),
        )
        .await?;
        let mut apps = BTreeMap::new();
        for (host, listener) in prepared {
            host.accept_on(listener).await;
            apps.insert(host.app.name().to_string(), host);
        }
        let mut sim = Simulator {
            apps,
            control_url: None,
            control_task: None,
            recorder: None,
        };
        if let Some(port) = config.control_port {
            sim.start_control(port).await?;
        }
        Ok(sim)
    }

    async fn start_control(&mut self, port: u16) -> Result<(), StartError> {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|source| StartError::Io {
                app: "control".into(),
                source,
            })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartError::Io {
                app: "control".into(),
                source,
            })?
            .port();
        let infos: Vec<Value> = self
            .apps
            .values()
            .map(|h| control::app_info(&h.app))
            .collect();
        let recorder = Arc::new(Recorder::start().await.map_err(|source| StartError::Io {
            app: "recorder".into(),
            source,
        })?);
        let (r1, r2) = (recorder.clone(), recorder.clone());
        let mut router = Router::new()
            .route("/_sim/apps", get(move || async move { axum::Json(infos) }))
            .route(
                "/_sim/recorder",
                get(move || async move { axum::Json(r1.json()) }).delete(move || async move {
                    r2.clear();
                    axum::http::StatusCode::NO_CONTENT
                }),
            );
        self.recorder = Some(recorder);
        for (name, host) in &self.apps {
            let listener: ListenerRef = host.clone();
            router = router.nest(
                &format!("/_sim/apps/{name}"),
                control::router()
                    .layer(Extension(listener))
                    .with_state(host.app.clone()),
            );
        }
        self.control_task = Some(tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        }));
        self.control_url = Some(format!("http://127.0.0.1:{port}"));
        Ok(())
    }

    pub fn app(&self, name: &str) -> Option<Arc<App>> {
        self.apps.get(name).map(|h| h.app.clone())
    }

    pub fn apps(&self) -> impl Iterator<Item = &Arc<App>> {
        self.apps.values().map(|h| &h.app)
    }

    /// Whether the app accepts connections (the control API stops and starts it).
    pub async fn is_listening(&self, name: &str) -> bool {
        match self.apps.get(name) {
            Some(h) => h.is_listening().await,
            None => false,
        }
    }

    pub fn control_url(&self) -> Option<&str> {
        self.control_url.as_deref()
    }

    /// The recording listener (with the control port): another origin that records every
    /// request (`GET /_sim/recorder` on the control port).
    pub fn recorder(&self) -> Option<&Recorder> {
        self.recorder.as_deref()
    }

    /// The ready-file document: each app's name, base URL, port and application id.
    pub fn ready_json(&self) -> Value {
        json!({
            "controlUrl": self.control_url,
            "recorderUrl": self.recorder.as_ref().map(|r| r.url.clone()),
            "apps": self.apps.values().map(|h| control::app_info(&h.app)).collect::<Vec<_>>(),
        })
    }

    /// Stops every listener and the control port.
    pub async fn shutdown(self) {
        for host in self.apps.values() {
            host.stop_listening().await;
        }
        if let Some(t) = self.control_task {
            t.abort();
        }
    }
}

/// Runs the futures concurrently and collects their results in order.
async fn futures_join<F, T, E>(futs: impl Iterator<Item = F>) -> Result<Vec<T>, E>
where
    F: std::future::Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("start task")?);
    }
    Ok(out)
}
