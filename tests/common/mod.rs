//! Helpers for tests against the real local control plane (`e2e/control-plane.sh up`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use applink_operator::crd::{ApplicationInstance, ApplicationLink};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};

pub mod e2e;
pub mod process;

pub const FIELD_MANAGER: &str = "applink-e2e";

/// A client for the control plane named by KUBECONFIG. Fails loudly when it is missing, so that an
/// integration run without a control plane cannot pass by skipping.
pub async fn client() -> Client {
    if std::env::var_os("KUBECONFIG").is_none() {
        panic!(
            "KUBECONFIG is not set: run the integration tests through e2e/test.sh, which starts the local control plane"
        );
    }
    Client::try_default()
        .await
        .expect("kubeconfig in KUBECONFIG is usable")
}

pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Server-side applies the CRDs from crds/ and waits until they are Established.
pub async fn install_crds(client: &Client) {
    install_crds_except(client, &[]).await
}

/// Installs the CRDs of `crds/` but those named (an older CRD set).
pub async fn install_crds_except(client: &Client, except: &[&str]) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for entry in std::fs::read_dir(repo_path("crds")).expect("crds/ exists") {
        let path = entry.unwrap().path();
        let crd: CustomResourceDefinition =
            serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let name = crd.metadata.name.clone().unwrap();
        if except.contains(&name.as_str()) {
            continue;
        }
        api.patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&crd),
        )
        .await
        .unwrap_or_else(|e| panic!("installing {}: {e}", path.display()));
        let established = kube::runtime::wait::await_condition(
            api.clone(),
            &name,
            kube::runtime::wait::conditions::is_crd_established(),
        );
        tokio::time::timeout(Duration::from_secs(30), established)
            .await
            .expect("CRD established within 30s")
            .unwrap();
    }
}

/// A namespace for one test, deleted when dropped: at the end of the test, and also when the
/// test fails (a panic unwinds through the guard), so failed runs leave no namespaces (and no
/// objects holding finalizers) behind. Derefs to the name.
pub struct TestNamespace {
    name: String,
    /// The kubeconfig of the cluster the namespace lives in (tests with their own control plane
    /// pass theirs).
    kubeconfig: Option<PathBuf>,
}

impl TestNamespace {
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl std::ops::Deref for TestNamespace {
    type Target = String;
    fn deref(&self) -> &String {
        &self.name
    }
}

impl std::fmt::Display for TestNamespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        // Drop may run while the test's runtime unwinds from a panic, and the test's client is
        // bound to that runtime: delete from a thread of our own, with a client of our own.
        let name = self.name.clone();
        let kubeconfig = self.kubeconfig.clone();
        let deleted = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async move {
                let config = match kubeconfig {
                    Some(path) => {
                        let kc = kube::config::Kubeconfig::read_from(&path)
                            .map_err(|e| e.to_string())?;
                        kube::Config::from_custom_kubeconfig(kc, &Default::default())
                            .await
                            .map_err(|e| e.to_string())?
                    }
                    None => kube::Config::infer().await.map_err(|e| e.to_string())?,
                };
                let client = Client::try_from(config).map_err(|e| e.to_string())?;
                let api: Api<Namespace> = Api::all(client.clone());
                match api.delete(&name, &DeleteParams::background()).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()),
                    Err(e) => return Err(e.to_string()),
                }
                // The test's operator is gone by now (dropped before the namespace), so the
                // operator's finalizers would hold the namespace in Terminating for ever.
                release_finalizers::<ApplicationLink>(&client, &name).await;
                release_finalizers::<ApplicationInstance>(&client, &name).await;
                release_finalizers::<applink_operator::crd::ExternalApplication>(&client, &name)
                    .await;
                // Credentials Secrets carry the instances' applinks.io/credentials-in-use.
                release_finalizers::<k8s_openapi::api::core::v1::Secret>(&client, &name).await;
                Ok(())
            })
        })
        .join();
        match deleted {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("test namespace {} not deleted: {e}", self.name),
            Err(_) => eprintln!("test namespace {} not deleted: cleanup panicked", self.name),
        }
    }
}

/// Removes the finalizers of every `K` in `ns` (best effort: the CRDs may not be installed).
async fn release_finalizers<K>(client: &Client, ns: &str)
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    let Ok(list) = api.list(&Default::default()).await else {
        return;
    };
    let release = serde_json::json!({"metadata": {"finalizers": null}});
    for obj in list.items {
        if obj
            .meta()
            .finalizers
            .as_ref()
            .is_some_and(|f| !f.is_empty())
            && let Some(name) = obj.meta().name.clone()
        {
            let _ = api
                .patch(&name, &PatchParams::default(), &Patch::Merge(&release))
                .await;
        }
    }
}

/// A fresh namespace for one test in the cluster of KUBECONFIG; deleted when the guard drops.
pub async fn namespace(client: &Client, prefix: &str) -> TestNamespace {
    let kubeconfig = std::env::var_os("KUBECONFIG").map(PathBuf::from);
    namespace_in(client, kubeconfig, prefix).await
}

/// A fresh namespace in the cluster of `kubeconfig` (which `client` talks to).
pub async fn namespace_in(
    client: &Client,
    kubeconfig: Option<PathBuf>,
    prefix: &str,
) -> TestNamespace {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(serde_json::json!({
        "metadata": {"generateName": format!("{prefix}-")}
    }))
    .unwrap();
    let created = api
        .create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
    TestNamespace {
        name: created.metadata.name.unwrap(),
        kubeconfig,
    }
}

/// Deletes a namespace now (the guard's drop does it too; this is for tests that wait for it).
pub async fn delete_namespace(client: &Client, ns: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let _ = api.delete(ns, &DeleteParams::default()).await;
}

/// The YAML documents of a file, without empty ones.
pub fn documents(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.split("\n---")
        .filter_map(|doc| serde_yaml::from_str::<serde_json::Value>(doc).ok())
        .filter(|v| v.is_object())
        .collect()
}

fn api_for(client: &Client, ns: &str, doc: &serde_json::Value) -> Api<DynamicObject> {
    let api_version = doc["apiVersion"].as_str().expect("apiVersion");
    let kind = doc["kind"].as_str().expect("kind");
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let plural = match kind {
        "Secret" => "secrets".to_string(),
        "ConfigMap" => "configmaps".to_string(),
        other => format!("{}s", other.to_lowercase()),
    };
    let ar = ApiResource::from_gvk_with_plural(&gvk, &plural);
    Api::namespaced_with(client.clone(), ns, &ar)
}

/// Server-side applies one document into `ns`, returning the stored object or the API error.
pub async fn apply(
    client: &Client,
    ns: &str,
    doc: &serde_json::Value,
) -> Result<DynamicObject, kube::Error> {
    apply_with(client, ns, doc, &PatchParams::apply(FIELD_MANAGER).force()).await
}

/// Server-side applies one document with these parameters (e.g. strict field validation).
pub async fn apply_with(
    client: &Client,
    ns: &str,
    doc: &serde_json::Value,
    params: &PatchParams,
) -> Result<DynamicObject, kube::Error> {
    let api = api_for(client, ns, doc);
    let name = doc["metadata"]["name"].as_str().expect("metadata.name");
    api.patch(name, params, &Patch::Apply(doc)).await
}

/// Whether every field given in `expected` is present with the same value in `actual`
/// (the API server may add defaults, never change what was given).
pub fn contains(actual: &serde_json::Value, expected: &serde_json::Value) -> bool {
    match (actual, expected) {
        (serde_json::Value::Object(a), serde_json::Value::Object(e)) => e
            .iter()
            .all(|(k, ev)| a.get(k).is_some_and(|av| contains(av, ev))),
        (a, e) => a == e,
    }
}

/// The `# expect: ...` lines of an example file: substrings every refusal message must contain.
/// `# expect-kubectl: ...` and `# expect-ssa: ...` lines hold for one way of applying only
/// (`kubectl apply`, and server-side apply), where the API server words a refusal differently.
pub fn expected_messages(path: &Path, mode: &str) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let mode_prefix = format!("# expect-{mode}: ");
    let found: Vec<String> = text
        .lines()
        .filter_map(|l| {
            l.strip_prefix("# expect: ")
                .or_else(|| l.strip_prefix(mode_prefix.as_str()))
                .map(str::to_string)
        })
        .collect();
    assert!(
        !found.is_empty(),
        "{} has no '# expect:' or '{}' line",
        path.display(),
        mode_prefix.trim_end()
    );
    found
}

/// The first `# expect: ...` line of an example file.
pub fn expected_message(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("# expect: ").map(str::to_string))
        .unwrap_or_else(|| panic!("{} has no '# expect:' line", path.display()))
}

/// The files of `examples/invalid/`, sorted.
pub fn invalid_examples() -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(repo_path("examples/invalid"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}
