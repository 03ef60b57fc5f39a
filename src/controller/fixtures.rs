//! Test-only: a [`Context`] whose Kubernetes client talks to an in-process mock API server, so a
//! reconcile pass can run in a unit test and the test can check every request it made.
//!
//! The mock answers each request with the test's handler and records it (method, path,
//! content type, JSON body). After the pass the test drops the context and
//! [`ApiServer::finish`] returns the whole log: the mock's channel closes only when every client
//! is gone, so the log is complete and nothing was sent that the test does not see.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::header::CONTENT_TYPE;
use http::{Request, Response};
use kube::Client;
use kube::client::Body;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher;
use serde::Serialize;
use serde_json::{Value, json};

use super::{BACKOFF_INITIAL, BACKOFF_MAX, Context, Settings, backoff};
use crate::crd::{ApplicationInstance, ApplicationLink};

/// The namespace of every test object.
pub(crate) const NS: &str = "apps";
pub(crate) const INSTANCES: &str =
    "/apis/applinks.io/v1alpha1/namespaces/apps/applicationinstances";
pub(crate) const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/apps/events";
pub(crate) const SECRETS: &str = "/api/v1/namespaces/apps/secrets";

impl Context {
    /// A context on `client` with the given caches, fresh backoff and client cache.
    pub(crate) fn for_tests(
        client: Client,
        settings: Settings,
        instances: Store<ApplicationInstance>,
        links: Store<ApplicationLink>,
    ) -> Arc<Self> {
        let shares = super::shares::Shares::new(
            settings.concurrency,
            settings.max_requests_per_application,
            settings.namespace.is_none(),
        );
        Arc::new(Context {
            clients: Arc::new(crate::clients::ClientCache::new(
                settings.request_timeout,
                settings.max_requests_per_application,
            )),
            backoff: backoff::Backoff::new(BACKOFF_INITIAL, BACKOFF_MAX),
            recorder: Recorder::new(
                client.clone(),
                Reporter {
                    controller: "applink-operator".into(),
                    instance: None,
                },
            ),
            client,
            settings,
            instances,
            links,
            externals: store_of(Vec::<crate::crd::ExternalApplication>::new()),
            cluster_instances: store_of(Vec::<crate::crd::ClusterApplicationInstance>::new()),
            instances_synced: super::synced::Synced::ready(),
            cluster_instances_synced: super::synced::Synced::ready(),
            links_synced: super::synced::Synced::ready(),
            externals_synced: super::synced::Synced::ready(),
            metrics: Arc::new(crate::health::Metrics::default()),
            shares,
            unwritten: Default::default(),
            issued: Default::default(),
            not_ready: Default::default(),
        })
    }
}

/// Settings with short request timeouts.
pub(crate) fn settings() -> Settings {
    Settings {
        namespace: None,
        label_selector: None,
        cluster_resource_namespace: "applink-system".into(),
        shared_applications: true,
        instance_check_interval: Duration::from_secs(300),
        link_resync_interval: Duration::from_secs(600),
        stalled_after: Duration::from_secs(600),
        request_timeout: Duration::from_millis(500),
        max_requests_per_application: 4,
        concurrency: 0,
        external_applications: true,
    }
}

/// A reflector cache holding `objs`, as a watch's first complete listing fills it.
pub(crate) fn store_of<K>(objs: impl IntoIterator<Item = K>) -> Store<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    let (store, mut writer) = reflector::store();
    writer.apply_watcher_event(&watcher::Event::Init);
    for obj in objs {
        writer.apply_watcher_event(&watcher::Event::InitApply(obj));
    }
    writer.apply_watcher_event(&watcher::Event::InitDone);
    store
}

/// One request the mock API server received.
#[derive(Clone, Debug)]
pub(crate) struct Seen {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) content_type: String,
    /// `Null` when the request had no body.
    pub(crate) body: Value,
}

impl Seen {
    pub(crate) fn is(&self, method: &str, path: &str) -> bool {
        self.method == method && self.path == path
    }
}

/// The answer to a request: HTTP status code and JSON body.
pub(crate) type Reply = (u16, Value);

/// The mock API server's side of a test.
pub(crate) struct ApiServer {
    task: tokio::task::JoinHandle<()>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

/// A client whose every request goes to `handler`, and the server side to inspect afterwards.
pub(crate) fn mock_api<F>(mut handler: F) -> (Client, ApiServer)
where
    F: FnMut(&Seen) -> Reply + Send + 'static,
{
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let task = tokio::spawn(async move {
        while let Some((req, respond)) = handle.next_request().await {
            let (parts, body) = req.into_parts();
            let bytes = body.collect_bytes().await.expect("a readable request body");
            let request = Seen {
                method: parts.method.to_string(),
                path: parts.uri.path().to_string(),
                content_type: parts
                    .headers
                    .get(CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string(),
                body: if bytes.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_slice(&bytes).expect("a JSON request body")
                },
            };
            let (code, reply) = handler(&request);
            log.lock().expect("request log").push(request);
            let response = Response::builder()
                .status(code)
                .header(CONTENT_TYPE, "application/json")
                .body(Body::from(
                    serde_json::to_vec(&reply).expect("a JSON reply"),
                ))
                .expect("a valid response");
            respond.send_response(response);
        }
    });
    (Client::new(service, NS), ApiServer { task, seen })
}

impl ApiServer {
    /// The requests received so far.
    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("request log").clone()
    }

    /// Drops `ctx` (holding the last clients) and returns every request the server received.
    pub(crate) async fn finish(self, ctx: Arc<Context>) -> Vec<Seen> {
        drop(ctx);
        tokio::time::timeout(Duration::from_secs(60), self.task)
            .await
            .expect("the mock API server still has clients: a Context clone is alive")
            .expect("the mock API server panicked");
        self.seen.lock().expect("request log").clone()
    }
}

/// `(method, path)` of each request, for comparing the sequence at once.
pub(crate) fn routes(seen: &[Seen]) -> Vec<(String, String)> {
    seen.iter()
        .map(|s| (s.method.clone(), s.path.clone()))
        .collect()
}

pub(crate) fn route(method: &str, path: impl Into<String>) -> (String, String) {
    (method.to_string(), path.into())
}

pub(crate) fn ok(body: Value) -> Reply {
    (200, body)
}

/// A Kubernetes `Status` failure, as the API server sends it.
pub(crate) fn failure(code: u16, reason: &str) -> Reply {
    (
        code,
        json!({
            "apiVersion": "v1",
            "kind": "Status",
            "metadata": {},
            "status": "Failure",
            "reason": reason,
            "message": format!("mock API server: {reason}"),
            "code": code,
        }),
    )
}

/// What the API server answers to a request no scenario expects (the test then fails on the
/// request log).
pub(crate) fn unexpected() -> Reply {
    failure(500, "InternalError")
}

/// An event created: the API server echoes it.
pub(crate) fn event_created(req: &Seen) -> Reply {
    (201, req.body.clone())
}

pub(crate) fn to_value(obj: &impl Serialize) -> Value {
    serde_json::to_value(obj).expect("a serializable object")
}

/// `obj` after an RFC 7386 merge patch, as the API server answers a merge PATCH.
pub(crate) fn merged(obj: &impl Serialize, patch: &Value) -> Value {
    let mut v = to_value(obj);
    json_patch::merge(&mut v, patch);
    v
}

/// `obj` after an RFC 6902 JSON patch, or the API server's refusal when an operation (a `test`)
/// fails.
pub(crate) fn json_patched(obj: &impl Serialize, patch: &Value) -> Reply {
    let mut v = to_value(obj);
    let ops: json_patch::Patch = match serde_json::from_value(patch.clone()) {
        Ok(ops) => ops,
        Err(_) => return failure(400, "BadRequest"),
    };
    match json_patch::patch(&mut v, &ops) {
        Ok(()) => ok(v),
        Err(_) => failure(422, "Invalid"),
    }
}

/// The link `apps/jira-confluence` between instances `jira` and `confluence`, with `extra`
/// merged in (RFC 7386).
pub(crate) fn link(extra: Value) -> ApplicationLink {
    let mut v = json!({
        "apiVersion": "applinks.io/v1alpha1",
        "kind": "ApplicationLink",
        "metadata": {
            "name": "jira-confluence",
            "namespace": NS,
            "uid": "6f1b7c1e-0000-4000-8000-000000000001",
            "resourceVersion": "100",
            "generation": 1,
        },
        "spec": {
            "source": {"instanceRef": {"name": "jira"}},
            "target": {"instanceRef": {"name": "confluence"}},
        },
    });
    json_patch::merge(&mut v, &extra);
    serde_json::from_value(v).expect("a valid ApplicationLink")
}

/// Metadata of an object being deleted, holding `finalizers`.
pub(crate) fn deleting(finalizers: &[&str]) -> Value {
    json!({"metadata": {
        "deletionTimestamp": "2026-01-01T00:00:00Z",
        "finalizers": finalizers,
    }})
}

/// An administered instance whose last check succeeded (Ready, identity verified at `url`),
/// with the in-use finalizer and its credentials in the Secret `<name>-admin`; `extra` is
/// merged in.
pub(crate) fn instance(name: &str, type_id: &str, url: &str, extra: Value) -> ApplicationInstance {
    let mut v = json!({
        "apiVersion": "applinks.io/v1alpha1",
        "kind": "ApplicationInstance",
        "metadata": {
            "name": name,
            "namespace": NS,
            "uid": format!("6f1b7c1e-0000-4000-8000-{:012}", name.len()),
            "resourceVersion": "7",
            "generation": 1,
            "finalizers": [super::IN_USE_FINALIZER],
        },
        "spec": {
            "url": url,
            "credentialsSecretRef": {"name": format!("{name}-admin")},
        },
        "status": {
            "observedGeneration": 1,
            "url": url,
            "applicationId": format!("{name}-0000-0000-0000-application"),
            "typeId": type_id,
            "applicationName": name,
            "cloud": false,
            "administered": true,
            "conditions": [{
                "type": "Ready",
                "status": "True",
                "reason": "Ready",
                "message": "checked",
                "observedGeneration": 1,
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            }],
        },
    });
    json_patch::merge(&mut v, &extra);
    serde_json::from_value(v).expect("a valid ApplicationInstance")
}

/// The Secret `name` with an administrator's user name and password, allowed for `allowed`.
pub(crate) fn admin_secret(name: &str, allowed: &[String]) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NS, "resourceVersion": "3",
                     "annotations": {crate::secrets::ALLOWED_URLS: allowed.join(",")}},
        // "admin" and "secret", base64.
        "data": {"username": "YWRtaW4=", "password": "c2VjcmV0"},
    })
}

/// The URL of a local port nothing listens on: every request to it is refused.
pub(crate) fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free local port");
    let port = listener.local_addr().expect("a bound address").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}
