//! `resync`, `pause`, `resume`: set the annotations the controllers act on, on named objects.
//!
//! The patch is a JSON merge patch of one annotation, so it touches nothing else and needs only
//! `patch` on the kind (no status write, no Secret). `resync` waits, unless told not to, until the
//! operator echoes the request in `status.lastHandledReconcileAt`, the way `flux reconcile` does.

use std::time::Duration;

use anyhow::{Context, bail};
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};

use crate::crd::{
    ApplicationInstance, ApplicationLink, ClusterApplicationInstance, ExternalApplication,
};

// The names the controllers act on (one definition, in the steering step).
use crate::controller::{PAUSED_ANNOTATION as PAUSED, RECONCILE_REQUESTED_AT};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Resync,
    Pause,
    Resume,
}

/// The kinds a target may name, with the short names users type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Link,
    Instance,
    ClusterInstance,
    External,
}

impl Kind {
    const ALL: [Kind; 4] = [
        Kind::Link,
        Kind::Instance,
        Kind::External,
        Kind::ClusterInstance,
    ];

    fn parse(s: &str) -> Option<Kind> {
        match s.to_ascii_lowercase().as_str() {
            "link" | "links" | "applicationlink" | "applicationlinks" | "al" => Some(Kind::Link),
            "instance" | "instances" | "applicationinstance" | "applicationinstances" | "ai" => {
                Some(Kind::Instance)
            }
            "clusterinstance"
            | "clusterinstances"
            | "clusterapplicationinstance"
            | "clusterapplicationinstances"
            | "cai" => Some(Kind::ClusterInstance),
            "external" | "externals" | "externalapplication" | "externalapplications" | "ea" => {
                Some(Kind::External)
            }
            _ => None,
        }
    }

    fn resource(self) -> ApiResource {
        match self {
            Kind::Link => ApiResource::erase::<ApplicationLink>(&()),
            Kind::Instance => ApiResource::erase::<ApplicationInstance>(&()),
            Kind::ClusterInstance => ApiResource::erase::<ClusterApplicationInstance>(&()),
            Kind::External => ApiResource::erase::<ExternalApplication>(&()),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Link => "ApplicationLink",
            Kind::Instance => "ApplicationInstance",
            Kind::ClusterInstance => "ClusterApplicationInstance",
            Kind::External => "ExternalApplication",
        }
    }
}

/// A target as typed: `KIND/NAME` or a bare `NAME` (looked up in every kind).
#[derive(Debug, PartialEq, Eq)]
pub struct Target {
    pub kind: Option<Kind>,
    pub name: String,
}

pub fn parse_target(s: &str) -> anyhow::Result<Target> {
    match s.split_once('/') {
        Some((kind, name)) if !name.is_empty() && !name.contains('/') => {
            let Some(kind) = Kind::parse(kind) else {
                bail!(
                    "unknown kind {kind:?} in {s:?}: use link/NAME, instance/NAME, clusterinstance/NAME or external/NAME"
                );
            };
            Ok(Target {
                kind: Some(kind),
                name: name.to_string(),
            })
        }
        None if !s.is_empty() => Ok(Target {
            kind: None,
            name: s.to_string(),
        }),
        _ => bail!("cannot read {s:?}: give NAME or KIND/NAME (for example link/jira-confluence)"),
    }
}

/// The merge patch that asks for `action`; `now` is the resync request's value.
pub fn patch_for(action: Action, now: &str) -> serde_json::Value {
    let annotations = match action {
        Action::Resync => serde_json::json!({ RECONCILE_REQUESTED_AT: now }),
        Action::Pause => serde_json::json!({ PAUSED: "true" }),
        // null removes the key in a merge patch.
        Action::Resume => serde_json::json!({ PAUSED: null }),
    };
    serde_json::json!({ "metadata": { "annotations": annotations } })
}

fn api(client: &Client, kind: Kind, namespace: &str) -> Api<DynamicObject> {
    let ar = kind.resource();
    if kind == Kind::ClusterInstance {
        Api::all_with(client.clone(), &ar)
    } else {
        Api::namespaced_with(client.clone(), namespace, &ar)
    }
}

/// Finds which kind a bare name is; more than one match is an error that lists them.
async fn resolve(client: &Client, namespace: &str, target: &Target) -> anyhow::Result<Kind> {
    if let Some(kind) = target.kind {
        return Ok(kind);
    }
    let mut found = Vec::new();
    for kind in Kind::ALL {
        match api(client, kind, namespace).get_opt(&target.name).await {
            Ok(Some(_)) => found.push(kind),
            Ok(None) => {}
            // A kind the user may not read (or a CRD not installed) is not where the name is.
            Err(kube::Error::Api(e)) if e.code == 403 || e.code == 404 => {}
            Err(e) => return Err(e).context(format!("cannot look up {}", target.name)),
        }
    }
    match found.as_slice() {
        [kind] => Ok(*kind),
        [] => bail!(
            "no ApplicationLink, ApplicationInstance or ExternalApplication named {:?} in namespace {namespace}, and no ClusterApplicationInstance of that name",
            target.name
        ),
        many => bail!(
            "{:?} names more than one object ({}): say which, for example {}/{}",
            target.name,
            many.iter().map(|k| k.name()).collect::<Vec<_>>().join(", "),
            format!("{:?}", many[0]).to_ascii_lowercase(),
            target.name
        ),
    }
}

/// Applies `action` to each target in turn; returns one line per target for the user.
pub async fn run(
    client: Client,
    namespace: &str,
    action: Action,
    targets: &[String],
    wait: Option<Duration>,
) -> anyhow::Result<Vec<String>> {
    if targets.is_empty() {
        bail!("name at least one object: NAME or KIND/NAME");
    }
    let parsed = targets
        .iter()
        .map(|t| parse_target(t))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let patch = patch_for(action, &now);
    let mut lines = Vec::new();
    for target in &parsed {
        let kind = resolve(&client, namespace, target).await?;
        let api = api(&client, kind, namespace);
        api.patch(&target.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .with_context(|| format!("cannot annotate {} {}", kind.name(), target.name))?;
        let what = format!("{} {}", kind.name(), target.name);
        let line = match (action, wait) {
            (Action::Resync, Some(timeout)) => {
                wait_handled(&api, &target.name, &now, timeout)
                    .await
                    .with_context(|| format!("{what}: resync requested at {now}"))?;
                format!("{what}: re-verified (request {now})")
            }
            (Action::Resync, None) => format!("{what}: resync requested at {now}"),
            (Action::Pause, _) => {
                format!("{what}: paused (no calls to its applications until resumed)")
            }
            (Action::Resume, _) => format!("{what}: resumed"),
        };
        lines.push(line);
    }
    Ok(lines)
}

/// Polls until the operator has handled the request (or reports why it could not be waited for).
async fn wait_handled(
    api: &Api<DynamicObject>,
    name: &str,
    token: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let obj = api.get(name).await?;
        let handled = obj
            .data
            .pointer("/status/lastHandledReconcileAt")
            .and_then(|v| v.as_str());
        if handled == Some(token) {
            return Ok(());
        }
        // A paused object handles requests only once resumed: say so instead of waiting.
        let paused = obj
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(PAUSED))
            .is_some_and(|v| v == "true");
        if paused {
            bail!(
                "it is paused ({PAUSED}: \"true\"): the request is handled when it is resumed (`resume`)"
            );
        }
        if tokio::time::Instant::now() >= deadline {
            bail!(
                "the operator has not handled it after {} (is it running, and does it watch this object? is the object paused?)",
                humantime::format_duration(timeout)
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let ok = [
            ("jira-wiki", None, "jira-wiki"),
            ("link/jira-wiki", Some(Kind::Link), "jira-wiki"),
            ("ApplicationLink/x", Some(Kind::Link), "x"),
            ("instance/jira", Some(Kind::Instance), "jira"),
            ("clusterinstance/wiki", Some(Kind::ClusterInstance), "wiki"),
            ("ea/grafana", Some(Kind::External), "grafana"),
        ];
        for (input, kind, name) in ok {
            assert_eq!(
                parse_target(input).unwrap(),
                Target {
                    kind,
                    name: name.into()
                },
                "{input}"
            );
        }
        for bad in ["", "pod/x", "link/", "link/a/b"] {
            let e = parse_target(bad).unwrap_err().to_string();
            assert!(e.contains("link/"), "{bad}: {e}");
        }
    }

    #[test]
    fn patches_touch_one_annotation() {
        assert_eq!(
            patch_for(Action::Resync, "2026-12-03T10:00:00Z"),
            serde_json::json!({"metadata": {"annotations": {"applinks.io/reconcile-requested-at": "2026-12-03T10:00:00Z"}}})
        );
        assert_eq!(
            patch_for(Action::Pause, "x"),
            serde_json::json!({"metadata": {"annotations": {"applinks.io/paused": "true"}}})
        );
        assert_eq!(
            patch_for(Action::Resume, "x"),
            serde_json::json!({"metadata": {"annotations": {"applinks.io/paused": null}}})
        );
    }
}
