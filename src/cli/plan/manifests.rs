//! Reading the manifests of a directory: every `.yaml`/`.yml` file, each document of it. The
//! operator's kinds are kept; other kinds (Secrets, Namespaces, ...) are skipped; anything
//! wrong is an error naming the file and the document.

use std::path::Path;

use anyhow::{Context, bail};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::crd::{
    ApplicationInstance, ApplicationLink, ClusterApplicationInstance, ExternalApplication, GROUP,
};

/// The operator's objects found in the manifests, namespaced ones with their namespace set.
#[derive(Default)]
pub struct Manifests {
    pub instances: Vec<ApplicationInstance>,
    pub cluster_instances: Vec<ClusterApplicationInstance>,
    pub links: Vec<ApplicationLink>,
    pub externals: Vec<ExternalApplication>,
}

/// Reads every YAML file directly in `dir`, in name order. `namespace` is given to namespaced
/// objects that name none (what `kubectl apply -f` does with the context's namespace).
pub fn read_dir(dir: &Path, namespace: &str) -> anyhow::Result<Manifests> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the directory {}", dir.display()))?;
    let mut files: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension().is_some_and(|x| {
                    x.eq_ignore_ascii_case("yaml") || x.eq_ignore_ascii_case("yml")
                })
        })
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("no .yaml or .yml file in {}", dir.display());
    }
    let mut found = Manifests::default();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        parse(&file.display().to_string(), &text, namespace, &mut found)?;
    }
    Ok(found)
}

/// Adds the operator's objects of one file's documents to `found`.
pub fn parse(file: &str, text: &str, namespace: &str, found: &mut Manifests) -> anyhow::Result<()> {
    for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let at = || format!("{file}, document {}", i + 1);
        let value = serde_yaml::Value::deserialize(doc)
            .with_context(|| format!("{}: not valid YAML", at()))?;
        if value.is_null() {
            continue;
        }
        let field = |name: &str| {
            value
                .get(name)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        let (api_version, kind) = (field("apiVersion"), field("kind"));
        if api_version.is_empty() || kind.is_empty() {
            bail!("{}: a Kubernetes object needs apiVersion and kind", at());
        }
        if api_version.split('/').next() != Some(GROUP) {
            continue;
        }
        let name = value
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(|n| n.as_str())
            .unwrap_or_default()
            .to_string();
        if name.is_empty() {
            bail!("{}: {kind} without metadata.name", at());
        }
        let what = || format!("{} ({kind} {name})", at());
        match kind.as_str() {
            "ApplicationInstance" => found
                .instances
                .push(namespaced(typed(value, &what)?, namespace)),
            "ApplicationLink" => found
                .links
                .push(namespaced(typed(value, &what)?, namespace)),
            "ExternalApplication" => found
                .externals
                .push(namespaced(typed(value, &what)?, namespace)),
            "ClusterApplicationInstance" => found.cluster_instances.push(typed(value, &what)?),
            other => bail!(
                "{}: unknown kind {other} in {GROUP} (known: ApplicationInstance, ClusterApplicationInstance, ApplicationLink, ExternalApplication)",
                at()
            ),
        }
    }
    Ok(())
}

fn typed<K: DeserializeOwned>(
    value: serde_yaml::Value,
    what: &dyn Fn() -> String,
) -> anyhow::Result<K> {
    serde_yaml::from_value(value).with_context(|| format!("{}: does not match its schema", what()))
}

fn namespaced<K: kube::Resource>(mut obj: K, namespace: &str) -> K {
    let meta = obj.meta_mut();
    if meta.namespace.as_deref().is_none_or(str::is_empty) {
        meta.namespace = Some(namespace.to_string());
    }
    obj
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::ResourceExt;

    const LINK: &str = "apiVersion: applinks.io/v1alpha1
kind: ApplicationLink
metadata: {name: jira-wiki}
spec:
  source: {instanceRef: {name: jira}}
  target: {instanceRef: {name: wiki}}
";

    fn parsed(text: &str) -> anyhow::Result<Manifests> {
        let mut m = Manifests::default();
        parse("dir/apps.yaml", text, "team-a", &mut m)?;
        Ok(m)
    }

    #[test]
    fn keeps_the_operators_kinds_and_defaults_the_namespace() {
        let text = format!(
            "---\napiVersion: v1\nkind: Secret\nmetadata: {{name: jira-admin}}\n---\n{LINK}---\n---\napiVersion: applinks.io/v1alpha1\nkind: ApplicationInstance\nmetadata: {{name: jira, namespace: team-b}}\nspec: {{url: https://jira.example.com}}\n"
        );
        let m = parsed(&text).unwrap();
        assert_eq!(m.links.len(), 1);
        assert_eq!(m.links[0].namespace().as_deref(), Some("team-a"));
        assert_eq!(m.instances.len(), 1);
        assert_eq!(m.instances[0].namespace().as_deref(), Some("team-b"));
    }

    #[test]
    fn bad_documents_name_the_file_and_document() {
        let cases = [
            ("a: [", "dir/apps.yaml, document 1: not valid YAML"),
            (
                "kind: ApplicationLink\n",
                "dir/apps.yaml, document 1: a Kubernetes object needs apiVersion and kind",
            ),
            (
                "apiVersion: applinks.io/v1alpha1\nkind: ApplicationLink\nmetadata: {}\n",
                "dir/apps.yaml, document 1: ApplicationLink without metadata.name",
            ),
            (
                "apiVersion: applinks.io/v1alpha1\nkind: ApplicationLnk\nmetadata: {name: x}\n",
                "dir/apps.yaml, document 1: unknown kind ApplicationLnk in applinks.io",
            ),
            (
                &format!(
                    "{LINK}---\napiVersion: applinks.io/v1alpha1\nkind: ApplicationLink\nmetadata: {{name: x}}\nspec: {{source: 3}}\n"
                ),
                "dir/apps.yaml, document 2 (ApplicationLink x): does not match its schema",
            ),
        ];
        for (text, want) in cases {
            let err = format!("{:#}", parsed(text).err().expect(text));
            assert!(err.starts_with(want), "{text:?}: {err}");
        }
    }
}
