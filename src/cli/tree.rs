//! `status`: the estate as a tree per application, rendered from the objects alone (pure, so the
//! output is table-tested; the command only lists the objects).
//!
//! Each application (an ApplicationInstance or a ClusterApplicationInstance) heads a tree of the
//! links that start or end at it and of the ExternalApplications it serves. A link is shown under
//! both of its applications, with the end at that application first. Whatever is not Ready says
//! why, with the conditions' full messages: this is where a user reads what to change.

use std::collections::BTreeMap;
use std::fmt::Write;

use kube::ResourceExt;

use crate::crd::{
    ApplicationInstance, ApplicationLink, AuthLevel, ClusterApplicationInstance, Condition,
    EndStatus, ExternalApplication, InstanceKind, LocalObjectRef,
};

/// What `status` shows: the objects in scope, already listed.
#[derive(Default)]
pub struct Estate {
    pub instances: Vec<ApplicationInstance>,
    pub cluster_instances: Vec<ClusterApplicationInstance>,
    pub links: Vec<ApplicationLink>,
    pub externals: Vec<ExternalApplication>,
}

/// One application's identity in the tree: the kind and key its references use.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
struct AppKey {
    /// Empty for a ClusterApplicationInstance.
    namespace: String,
    name: String,
    cluster: bool,
}

impl AppKey {
    fn of_ref(namespace: &str, r: &LocalObjectRef) -> Self {
        let cluster = matches!(r.kind, Some(InstanceKind::ClusterApplicationInstance));
        AppKey {
            namespace: if cluster {
                String::new()
            } else {
                namespace.to_string()
            },
            name: r.name.clone(),
            cluster,
        }
    }

    fn label(&self) -> String {
        if self.cluster {
            format!("ClusterApplicationInstance {}", self.name)
        } else {
            format!("ApplicationInstance {}/{}", self.namespace, self.name)
        }
    }
}

/// One application heading the tree: the object its references name.
#[derive(Clone, Copy)]
enum App<'a> {
    Namespaced(&'a ApplicationInstance),
    Cluster(&'a ClusterApplicationInstance),
}

/// What hangs under one application, in the listing's order.
#[derive(Default)]
struct Branch<'a> {
    app: Option<App<'a>>,
    /// Each link with whether this application is its source.
    links: Vec<(&'a ApplicationLink, bool)>,
    externals: Vec<&'a ExternalApplication>,
}

/// The tree, as text. Applications in name order (namespaced ones first), then the links and
/// ExternalApplications whose application is not in the listing. One pass over each list
/// (a large estate has thousands of links).
pub fn render(estate: &Estate) -> String {
    let mut out = String::new();
    let mut tree: BTreeMap<AppKey, Branch> = BTreeMap::new();
    for i in &estate.instances {
        let key = AppKey {
            namespace: i.namespace().unwrap_or_default(),
            name: i.name_any(),
            cluster: false,
        };
        tree.entry(key).or_default().app = Some(App::Namespaced(i));
    }
    for c in &estate.cluster_instances {
        let key = AppKey {
            namespace: String::new(),
            name: c.name_any(),
            cluster: true,
        };
        tree.entry(key).or_default().app = Some(App::Cluster(c));
    }
    let mut orphans = Vec::new();
    for link in &estate.links {
        let ns = link.namespace().unwrap_or_default();
        let source = AppKey::of_ref(&ns, &link.spec.source.instance_ref);
        let target = link
            .spec
            .target
            .instance_ref
            .as_ref()
            .map(|r| AppKey::of_ref(&ns, r))
            .filter(|t| *t != source);
        let mut shown = false;
        for (key, here_is_source) in [(Some(source), true), (target, false)] {
            if let Some(branch) = key
                .and_then(|k| tree.get_mut(&k))
                .filter(|b| b.app.is_some())
            {
                branch.links.push((link, here_is_source));
                shown = true;
            }
        }
        if !shown {
            orphans.push(link);
        }
    }
    let mut orphan_externals = Vec::new();
    for ext in &estate.externals {
        let ns = ext.namespace().unwrap_or_default();
        match tree
            .get_mut(&AppKey::of_ref(&ns, &ext.spec.instance_ref))
            .filter(|b| b.app.is_some())
        {
            Some(branch) => branch.externals.push(ext),
            None => orphan_externals.push(ext),
        }
    }
    for (key, branch) in &tree {
        let Some(app) = branch.app else { continue };
        application_header(&mut out, app, key);
        for (link, here_is_source) in &branch.links {
            link_entry(&mut out, link, *here_is_source);
        }
        for ext in &branch.externals {
            external_entry(&mut out, ext);
        }
    }
    if !orphans.is_empty() || !orphan_externals.is_empty() {
        out.push_str("(application not found: the instance these name is not in the listing)\n");
        for link in orphans {
            link_entry(&mut out, link, true);
        }
        for ext in orphan_externals {
            external_entry(&mut out, ext);
        }
    }
    if out.is_empty() {
        out.push_str("no applinks.io objects found\n");
    }
    out
}

fn application_header(out: &mut String, app: App<'_>, key: &AppKey) {
    let (url, status, conditions, generation) = match app {
        App::Cluster(c) => (
            c.spec.application.url.as_str().to_string(),
            c.status.as_ref(),
            c.status.as_ref().map(|s| &s.conditions[..]).unwrap_or(&[]),
            c.metadata.generation,
        ),
        App::Namespaced(i) => (
            i.spec.url.as_str().to_string(),
            i.status.as_ref(),
            i.status.as_ref().map(|s| &s.conditions[..]).unwrap_or(&[]),
            i.metadata.generation,
        ),
    };
    let mut facts = Vec::new();
    if let Some(s) = status {
        let product = [s.type_id.as_deref(), s.version.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        if !product.is_empty() {
            facts.push(product);
        }
        if let Some(id) = &s.application_id {
            facts.push(format!("id {id}"));
        }
    }
    let facts = if facts.is_empty() {
        String::new()
    } else {
        format!(" ({})", facts.join(", "))
    };
    let _ = writeln!(
        out,
        "{} {url}{facts}  {}",
        key.label(),
        readiness(
            conditions,
            generation,
            status.and_then(|s| s.observed_generation)
        )
    );
    explain(out, "    ", conditions);
}

fn link_entry(out: &mut String, link: &ApplicationLink, here_is_source: bool) {
    let ns = link.namespace().unwrap_or_default();
    let other = if here_is_source {
        match (&link.spec.target.instance_ref, &link.spec.target.url) {
            (Some(r), _) => format!("→ {}", AppKey::of_ref(&ns, r).label()),
            (None, Some(url)) => format!("→ {} (not declared here)", url.as_str()),
            (None, None) => "→ ?".to_string(),
        }
    } else {
        format!(
            "← {}",
            AppKey::of_ref(&ns, &link.spec.source.instance_ref).label()
        )
    };
    let status = link.status.as_ref();
    let mut facts = vec![format!("{:?}", link.spec.authentication)];
    if let Some(mode) = status.and_then(|s| s.mode.as_ref()) {
        facts.push(format!("{mode:?}"));
    }
    if let Some(health) = status.and_then(|s| s.health.as_deref()) {
        facts.push(format!("health {health}"));
    }
    let conditions = status.map(|s| &s.conditions[..]).unwrap_or(&[]);
    let _ = writeln!(
        out,
        "  ApplicationLink {ns}/{} {other}  [{}]  {}",
        link.name_any(),
        facts.join(", "),
        readiness(
            conditions,
            link.metadata.generation,
            status.and_then(|s| s.observed_generation)
        )
    );
    let (near, far) = if here_is_source {
        (
            status.and_then(|s| s.source.as_ref()),
            status.and_then(|s| s.target.as_ref()),
        )
    } else {
        (
            status.and_then(|s| s.target.as_ref()),
            status.and_then(|s| s.source.as_ref()),
        )
    };
    if let Some(end) = near {
        let _ = writeln!(out, "      this end:  {}", end_line(end));
    }
    if let Some(end) = far {
        let _ = writeln!(out, "      other end: {}", end_line(end));
    }
    explain(out, "      ", conditions);
}

fn external_entry(out: &mut String, ext: &ExternalApplication) {
    let status = ext.status.as_ref();
    let mut facts = Vec::new();
    if let Some(id) = status.and_then(|s| s.client_id.as_deref()) {
        facts.push(format!("client {id}"));
    }
    if let Some(secret) = status.and_then(|s| s.secret_name.as_deref()) {
        facts.push(format!("secret {secret}"));
    }
    let facts = if facts.is_empty() {
        String::new()
    } else {
        format!("  [{}]", facts.join(", "))
    };
    let conditions = status.map(|s| &s.conditions[..]).unwrap_or(&[]);
    let _ = writeln!(
        out,
        "  ExternalApplication {}/{}{facts}  {}",
        ext.namespace().unwrap_or_default(),
        ext.name_any(),
        readiness(
            conditions,
            ext.metadata.generation,
            status.and_then(|s| s.observed_generation)
        )
    );
    explain(out, "      ", conditions);
}

/// One end of a link: its id, whether the application reports it working, its auth levels.
fn end_line(end: &EndStatus) -> String {
    let mut parts = Vec::new();
    match &end.link_id {
        Some(id) => parts.push(format!("link {id}")),
        None => parts.push("no link yet".to_string()),
    }
    if let Some(h) = &end.health {
        if h.working {
            parts.push("working".to_string());
        } else {
            let why = [h.error_category.as_deref(), h.details.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(": ");
            parts.push(if why.is_empty() {
                "not working".to_string()
            } else {
                format!("not working ({why})")
            });
        }
    }
    if let Some(auth) = &end.auth {
        parts.push(format!(
            "incoming {}, outgoing {}",
            auth_level(&auth.incoming),
            auth_level(&auth.outgoing)
        ));
    }
    parts.join("; ")
}

fn auth_level(level: &AuthLevel) -> String {
    if !level.enabled {
        return "none".to_string();
    }
    let mut extra = Vec::new();
    if level.two_lo {
        extra.push("2LO");
    }
    if level.two_lo_impersonation {
        extra.push("impersonation");
    }
    if extra.is_empty() {
        "OAuth".to_string()
    } else {
        format!("OAuth ({})", extra.join(", "))
    }
}

/// `Ready`, or the Ready condition's reason, and whether the latest spec has been seen.
fn readiness(conditions: &[Condition], generation: Option<i64>, observed: Option<i64>) -> String {
    let ready = conditions.iter().find(|c| c.type_ == "Ready");
    let mut s = match ready {
        Some(c) if c.status == "True" => "Ready".to_string(),
        Some(c) => format!("NotReady: {}", c.reason),
        None => "NotReady: no status yet".to_string(),
    };
    if let (Some(g), Some(o)) = (generation, observed)
        && o < g
    {
        s.push_str(" (spec change not yet seen)");
    }
    s
}

/// Every condition that is not as it should be, with its full message.
fn explain(out: &mut String, indent: &str, conditions: &[Condition]) {
    for c in conditions {
        let wrong = match c.type_.as_str() {
            "Ready" => c.status != "True",
            // Informational conditions that never block Ready.
            "UnmanagedLinks" => false,
            _ => c.status == "True",
        };
        if wrong {
            let _ = writeln!(
                out,
                "{indent}{}={} {}: {}",
                c.type_, c.status, c.reason, c.message
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml<T: serde::de::DeserializeOwned>(s: &str) -> T {
        serde_yaml::from_str(s).unwrap()
    }

    fn instance(ns: &str, name: &str, url: &str, ready: bool) -> ApplicationInstance {
        let (status, reason, message) = if ready {
            ("True", "Verified", "ok")
        } else {
            (
                "False",
                "CredentialsRejected",
                "the application refused the administrator credentials in Secret jira-admin: fix them",
            )
        };
        yaml(&format!(
            r#"
apiVersion: applinks.io/v1alpha1
kind: ApplicationInstance
metadata: {{namespace: {ns}, name: {name}, generation: 1}}
spec: {{url: "{url}", credentialsSecretRef: {{name: admin}}}}
status:
  observedGeneration: 1
  typeId: jira
  version: "9.12.3"
  applicationId: 1111-2222
  conditions:
  - {{type: Ready, status: "{status}", reason: {reason}, message: "{message}", lastTransitionTime: "2026-01-01T00:00:00Z"}}
"#
        ))
    }

    fn link(ns: &str, name: &str, source: &str, target: &str, working: bool) -> ApplicationLink {
        yaml(&format!(
            r#"
apiVersion: applinks.io/v1alpha1
kind: ApplicationLink
metadata: {{namespace: {ns}, name: {name}, generation: 2}}
spec:
  source: {{instanceRef: {{name: {source}}}}}
  target: {{instanceRef: {{name: {target}}}}}
  authentication: OAuthImpersonation
status:
  observedGeneration: 2
  mode: TwoWay
  health: {}
  source:
    linkId: aaaa
    health: {{working: true}}
    auth:
      incoming: {{enabled: true, twoLo: true, twoLoImpersonation: true}}
      outgoing: {{enabled: true, twoLo: true, twoLoImpersonation: true}}
  target:
    linkId: bbbb
    health: {{working: {working}, errorCategory: {}, details: "{}"}}
  conditions:
  - {{type: Ready, status: "{}", reason: {}, message: "{}", lastTransitionTime: "2026-01-01T00:00:00Z"}}
"#,
            if working { "Working" } else { "NotWorking" },
            if working { "null" } else { "AUTH_ERROR" },
            if working { "" } else { "signature_invalid" },
            if working { "True" } else { "False" },
            if working { "Linked" } else { "LinkNotWorking" },
            if working {
                "linked".to_string()
            } else {
                "Confluence reports the link as not working: signature_invalid. Check the clocks of both applications, then resync.".to_string()
            },
        ))
    }

    #[test]
    fn table() {
        struct Case {
            name: &'static str,
            estate: Estate,
            contains: &'static [&'static str],
            absent: &'static [&'static str],
        }
        let cases = vec![
            Case {
                name: "empty",
                estate: Estate::default(),
                contains: &["no applinks.io objects found"],
                absent: &[],
            },
            Case {
                name: "a healthy pair shows the link under both applications",
                estate: Estate {
                    instances: vec![
                        instance("a", "jira", "https://jira.example.com", true),
                        instance("a", "confluence", "https://wiki.example.com", true),
                    ],
                    links: vec![link("a", "jira-wiki", "jira", "confluence", true)],
                    ..Default::default()
                },
                contains: &[
                    "ApplicationInstance a/jira https://jira.example.com (jira 9.12.3, id 1111-2222)  Ready",
                    "  ApplicationLink a/jira-wiki → ApplicationInstance a/confluence  [OAuthImpersonation, TwoWay, health Working]  Ready",
                    "  ApplicationLink a/jira-wiki ← ApplicationInstance a/jira",
                    "      this end:  link aaaa; working; incoming OAuth (2LO, impersonation), outgoing OAuth (2LO, impersonation)",
                    "      this end:  link bbbb; working",
                ],
                absent: &["Ready=", "application not found"],
            },
            Case {
                name: "what is wrong is said in full",
                estate: Estate {
                    instances: vec![
                        instance("a", "jira", "https://jira.example.com", false),
                        instance("a", "confluence", "https://wiki.example.com", true),
                    ],
                    links: vec![link("a", "jira-wiki", "jira", "confluence", false)],
                    ..Default::default()
                },
                contains: &[
                    "NotReady: CredentialsRejected",
                    "    Ready=False CredentialsRejected: the application refused the administrator credentials in Secret jira-admin: fix them",
                    "      other end: link bbbb; not working (AUTH_ERROR: signature_invalid)",
                    "      Ready=False LinkNotWorking: Confluence reports the link as not working: signature_invalid. Check the clocks of both applications, then resync.",
                ],
                absent: &[],
            },
            Case {
                name: "a link whose instances are not listed is still shown",
                estate: Estate {
                    links: vec![link("b", "lost", "jira", "confluence", true)],
                    ..Default::default()
                },
                contains: &[
                    "(application not found",
                    "  ApplicationLink b/lost → ApplicationInstance b/confluence",
                ],
                absent: &["no applinks.io objects found"],
            },
        ];
        for case in cases {
            let text = render(&case.estate);
            for want in case.contains {
                assert!(
                    text.contains(want),
                    "{}: missing {want:?} in\n{text}",
                    case.name
                );
            }
            for not in case.absent {
                assert!(
                    !text.contains(not),
                    "{}: unexpected {not:?} in\n{text}",
                    case.name
                );
            }
        }
    }

    #[test]
    fn a_cluster_application_heads_the_links_of_every_namespace() {
        let shared: ClusterApplicationInstance = yaml(
            r#"
apiVersion: applinks.io/v1alpha1
kind: ClusterApplicationInstance
metadata: {name: shared-wiki}
spec:
  url: https://wiki.example.com
  allowedNamespaces: {}
"#,
        );
        let mut l = link("team-b", "to-wiki", "jira", "shared-wiki", true);
        l.spec.target.instance_ref.as_mut().unwrap().kind =
            Some(InstanceKind::ClusterApplicationInstance);
        let text = render(&Estate {
            instances: vec![instance("team-b", "jira", "https://jira.b.example", true)],
            cluster_instances: vec![shared],
            links: vec![l],
            ..Default::default()
        });
        assert!(
            text.contains("ClusterApplicationInstance shared-wiki https://wiki.example.com  NotReady: no status yet"),
            "{text}"
        );
        assert!(
            text.contains("  ApplicationLink team-b/to-wiki ← ApplicationInstance team-b/jira"),
            "{text}"
        );
        assert!(
            text.contains("→ ClusterApplicationInstance shared-wiki"),
            "{text}"
        );
    }
}
