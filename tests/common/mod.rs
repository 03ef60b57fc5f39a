//! Helpers for tests against the real local control plane (`e2e/control-plane.sh up`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};

pub mod e2e;

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
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for entry in std::fs::read_dir(repo_path("crds")).expect("crds/ exists") {
        let path = entry.unwrap().path();
        let crd: CustomResourceDefinition =
            serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let name = crd.metadata.name.clone().unwrap();
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

/// A fresh namespace for one test; deleted by the returned guard's `cleanup`.
pub async fn namespace(client: &Client, prefix: &str) -> String {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(serde_json::json!({
        "metadata": {"generateName": format!("{prefix}-")}
    }))
    .unwrap();
    let created = api
        .create(&PostParams::default(), &ns)
        .await
        .expect("create namespace");
    created.metadata.name.unwrap()
}

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
    let api = api_for(client, ns, doc);
    let name = doc["metadata"]["name"].as_str().expect("metadata.name");
    api.patch(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(doc),
    )
    .await
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

/// The first line `# expect: ...` of an example file.
pub fn expected_message(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("# expect: ").map(str::to_string))
        .unwrap_or_else(|| panic!("{} has no '# expect:' line", path.display()))
}
