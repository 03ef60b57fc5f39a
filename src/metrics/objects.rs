//! Per-object series, computed at scrape time from the controllers' caches: an object that goes
//! leaves no series. The decisions (which series an object shows) are pure functions over the
//! objects, table-tested; [`ObjectsCollector`] only reads the caches and writes them out.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;

use super::gauge_family;
use crate::atlassian::application_type_label;
use crate::crd::{
    ApplicationInstance, ApplicationInstanceStatus, ApplicationLink, ClusterApplicationInstance,
    ExternalApplication, LocalObjectRef,
};
use crate::reasons::READY;

/// The conditions a series is written for, when the object has them (Ready always): the
/// standard ones and an instance's checks.
const CONDITIONS: &[&str] = &[
    "Ready",
    "Reconciling",
    "Stalled",
    "Paused",
    "Reachable",
    "CredentialsValid",
    "BaseUrlMatches",
    "ClockInSync",
];
const STATUSES: [&str; 3] = ["True", "False", "Unknown"];
/// Longest label value taken from a status (reasons, health): anything longer, or with other
/// characters than a reason has, is shown as `Invalid` (a status is the operator's, but whoever
/// may write it could put anything there).
const MAX_VALUE: usize = 64;

type Labels = Vec<(&'static str, String)>;

/// `namespace` (left out for a cluster-scoped object) and `name`.
fn object(ns: &str, name: &str) -> Labels {
    let mut labels = Vec::with_capacity(6);
    if !ns.is_empty() {
        labels.push(("namespace", ns.to_string()));
    }
    labels.push(("name", name.to_string()));
    labels
}

/// A value from a status as a label: a word of letters, digits and `_`, else `Invalid`.
pub(crate) fn word(value: &str) -> String {
    if !value.is_empty()
        && value.len() <= MAX_VALUE
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        value.to_string()
    } else {
        "Invalid".to_string()
    }
}

/// The condition series of one object: for each condition it has (Ready always, Unknown
/// until written), one series per status, 1 for the current one.
pub(crate) fn condition_series(
    ns: &str,
    name: &str,
    conditions: &[Condition],
) -> Vec<(Labels, i64)> {
    let mut out = Vec::new();
    for &type_ in CONDITIONS {
        let current = match conditions.iter().find(|c| c.type_ == type_) {
            Some(c) => c.status.as_str(),
            None if type_ == READY => "Unknown",
            None => continue,
        };
        for status in STATUSES {
            let mut labels = object(ns, name);
            labels.push(("condition", type_.to_string()));
            labels.push(("status", status.to_string()));
            out.push((labels, i64::from(current == status)));
        }
    }
    out
}

/// The Ready reason of one object (`Pending` before the first pass wrote one).
pub(crate) fn ready_reason(ns: &str, name: &str, conditions: &[Condition]) -> (Labels, i64) {
    let reason = conditions
        .iter()
        .find(|c| c.type_ == READY)
        .map_or_else(|| "Pending".to_string(), |c| word(&c.reason));
    let mut labels = object(ns, name);
    labels.push(("reason", reason));
    (labels, 1)
}

/// The application type of the instance a reference names, from what its check found.
fn instance_type(
    r: &LocalObjectRef,
    ns: &str,
    instances: &Store<ApplicationInstance>,
    shared: &Store<ClusterApplicationInstance>,
) -> &'static str {
    let found = if r.is_cluster() {
        shared
            .get(&ObjectRef::new(&r.name))
            .and_then(|i| i.status.as_ref().and_then(|s| s.type_id.clone()))
    } else {
        instances
            .get(&ObjectRef::new(&r.name).within(ns))
            .and_then(|i| i.status.as_ref().and_then(|s| s.type_id.clone()))
    };
    found.map_or("unknown", |t| application_type_label(&t))
}

/// A link's health (`applink_applicationlink_health`): the operator's verdict and the error
/// category the first failing end's status API reports (`none` when none fails).
/// How many links an instance's application holds that nothing manages, once its inventory
/// was read (no series before: an unread inventory is not zero).
pub(crate) fn unmanaged_links(
    ns: &str,
    name: &str,
    status: Option<&ApplicationInstanceStatus>,
) -> Option<(Labels, i64)> {
    let inv = status?.inventory.as_ref()?;
    Some((object(ns, name), i64::from(inv.unmanaged_count)))
}

pub(crate) fn link_health(link: &ApplicationLink) -> Option<(Labels, i64)> {
    let status = link.status.as_ref()?;
    let health = status.health.as_deref()?;
    let category = [&status.source, &status.target]
        .into_iter()
        .flatten()
        .filter_map(|end| end.health.as_ref())
        .find(|h| !h.working)
        .map_or_else(
            || "none".to_string(),
            |h| word(h.error_category.as_deref().unwrap_or("UNKNOWN")),
        );
    Some((
        vec![
            ("namespace", link.namespace().unwrap_or_default()),
            ("name", link.name_any()),
            ("health", word(health)),
            ("category", category),
        ],
        1,
    ))
}

/// `applink_info` of a link: what it connects and how.
pub(crate) fn link_info(
    link: &ApplicationLink,
    instances: &Store<ApplicationInstance>,
    shared: &Store<ClusterApplicationInstance>,
) -> (Labels, i64) {
    let ns = link.namespace().unwrap_or_default();
    let source = instance_type(&link.spec.source.instance_ref, &ns, instances, shared);
    let target = match (&link.spec.target.instance_ref, link.spec.target.app_type) {
        (Some(r), _) => instance_type(r, &ns, instances, shared),
        (None, Some(t)) => application_type_label(t.type_id()),
        (None, None) => "unknown",
    };
    let mode = link
        .status
        .as_ref()
        .and_then(|s| s.mode)
        .map_or_else(|| "Unknown".to_string(), |m| format!("{m:?}"));
    (
        vec![
            ("namespace", ns),
            ("name", link.name_any()),
            ("source_type", source.to_string()),
            ("target_type", target.to_string()),
            ("auth", format!("{:?}", link.spec.authentication)),
            ("mode", mode),
        ],
        1,
    )
}

/// The caches the series are computed from.
#[derive(Clone)]
pub struct ObjectsCollector {
    pub instances: Store<ApplicationInstance>,
    pub shared: Store<ClusterApplicationInstance>,
    pub links: Store<ApplicationLink>,
    pub externals: Store<ExternalApplication>,
}

impl std::fmt::Debug for ObjectsCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectsCollector").finish_non_exhaustive()
    }
}

fn conditions_of(c: Option<&Vec<Condition>>) -> &[Condition] {
    c.map_or(&[], Vec::as_slice)
}

/// (kind in the metric name, namespace, name, conditions) of every cached object.
type Row = (&'static str, String, String, Vec<Condition>);

impl ObjectsCollector {
    fn rows(&self) -> Vec<Row> {
        let mut rows: Vec<Row> = Vec::new();
        for i in self.instances.state() {
            let c = conditions_of(i.status.as_ref().map(|s| &s.conditions)).to_vec();
            rows.push((
                "applicationinstance",
                i.namespace().unwrap_or_default(),
                i.name_any(),
                c,
            ));
        }
        for i in self.shared.state() {
            let c = conditions_of(i.status.as_ref().map(|s| &s.conditions)).to_vec();
            rows.push(("clusterapplicationinstance", String::new(), i.name_any(), c));
        }
        for l in self.links.state() {
            let c = conditions_of(l.status.as_ref().map(|s| &s.conditions)).to_vec();
            rows.push((
                "applicationlink",
                l.namespace().unwrap_or_default(),
                l.name_any(),
                c,
            ));
        }
        for e in self.externals.state() {
            let c = conditions_of(e.status.as_ref().map(|s| &s.conditions)).to_vec();
            rows.push((
                "externalapplication",
                e.namespace().unwrap_or_default(),
                e.name_any(),
                c,
            ));
        }
        rows
    }
}

impl Collector for ObjectsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let rows = self.rows();
        for kind in [
            "applicationinstance",
            "clusterapplicationinstance",
            "applicationlink",
            "externalapplication",
        ] {
            let of_kind = || rows.iter().filter(move |r| r.0 == kind);
            gauge_family(
                &mut encoder,
                &format!("applink_{kind}_condition"),
                "Conditions of each object: 1 for the current status of each condition (True, False or Unknown), 0 for the other two",
                of_kind().flat_map(|(_, ns, name, c)| condition_series(ns, name, c)),
            )?;
            gauge_family(
                &mut encoder,
                &format!("applink_{kind}_ready_reason"),
                "The reason of each object's Ready condition (always 1)",
                of_kind().map(|(_, ns, name, c)| ready_reason(ns, name, c)),
            )?;
        }
        let instances = self.instances.state();
        gauge_family(
            &mut encoder,
            "applink_applicationinstance_unmanaged_links",
            "Application links the instance's application holds that no ApplicationLink or ExternalApplication manages (from its last inventory)",
            instances.iter().filter_map(|i| {
                unmanaged_links(
                    &i.namespace().unwrap_or_default(),
                    &i.name_any(),
                    i.status.as_ref(),
                )
            }),
        )?;
        let shared = self.shared.state();
        gauge_family(
            &mut encoder,
            "applink_clusterapplicationinstance_unmanaged_links",
            "Application links the shared application holds that no ApplicationLink or ExternalApplication manages (from its last inventory)",
            shared
                .iter()
                .filter_map(|i| unmanaged_links("", &i.name_any(), i.status.as_ref())),
        )?;
        let links = self.links.state();
        gauge_family(
            &mut encoder,
            "applink_applicationlink_health",
            "Health of each link (always 1): the operator's verdict and the error category the first failing end's status API reports (none when both work)",
            links.iter().filter_map(|l| link_health(l)),
        )?;
        gauge_family(
            &mut encoder,
            "applink_info",
            "What each ApplicationLink connects (always 1): source and target application type, authentication, mode",
            links
                .iter()
                .map(|l| link_info(l, &self.instances, &self.shared)),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmanaged_links_only_once_the_inventory_was_read() {
        let mut status = ApplicationInstanceStatus::default();
        assert!(unmanaged_links("ns", "jira", None).is_none());
        assert!(unmanaged_links("ns", "jira", Some(&status)).is_none());
        status.inventory = Some(crate::crd::Inventory {
            link_count: 5,
            unmanaged_count: 3,
            ..Default::default()
        });
        let (labels, v) = unmanaged_links("ns", "jira", Some(&status)).unwrap();
        assert_eq!(v, 3);
        assert_eq!(
            labels,
            vec![
                ("namespace", "ns".to_string()),
                ("name", "jira".to_string())
            ]
        );
        let (labels, _) = unmanaged_links("", "shared", Some(&status)).unwrap();
        assert_eq!(labels, vec![("name", "shared".to_string())]);
    }

    fn cond(type_: &str, status: &str, reason: &str) -> Condition {
        Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: String::new(),
            observed_generation: None,
            last_transition_time: crate::conditions::now(),
        }
    }

    fn ones(series: &[(Labels, i64)]) -> Vec<String> {
        series
            .iter()
            .filter(|(_, v)| *v == 1)
            .map(|(l, _)| format!("{}={}", l[l.len() - 2].1, l[l.len() - 1].1))
            .collect()
    }

    #[test]
    fn condition_series_per_object() {
        type Case = (&'static str, Vec<Condition>, usize, Vec<&'static str>);
        let cases: Vec<Case> = vec![
            (
                "never reconciled: Ready Unknown",
                vec![],
                3,
                vec!["Ready=Unknown"],
            ),
            (
                "ready",
                vec![cond("Ready", "True", "Working")],
                3,
                vec!["Ready=True"],
            ),
            (
                "stalled",
                vec![
                    cond("Ready", "False", "CredentialsRejected"),
                    cond("Stalled", "True", "CredentialsRejected"),
                ],
                6,
                vec!["Ready=False", "Stalled=True"],
            ),
            (
                "a condition the operator does not write is left out",
                vec![cond("Ready", "True", "Working"), cond("Foo", "True", "X")],
                3,
                vec!["Ready=True"],
            ),
        ];
        for (why, conditions, n, want) in cases {
            let s = condition_series("ns", "l", &conditions);
            assert_eq!(s.len(), n, "{why}");
            assert_eq!(ones(&s), want, "{why}");
        }
    }

    #[test]
    fn values_from_a_status_are_words() {
        assert_eq!(word("CredentialsRejected"), "CredentialsRejected");
        assert_eq!(word("NETWORK_ERROR"), "NETWORK_ERROR");
        assert_eq!(word("https://jira.example.test/x"), "Invalid");
        assert_eq!(word(&"A".repeat(65)), "Invalid");
        assert_eq!(word(""), "Invalid");
        let (labels, _) = ready_reason("ns", "l", &[]);
        assert_eq!(labels[2].1, "Pending");
        let (labels, _) = ready_reason("", "shared", &[]);
        assert_eq!(
            labels[0],
            ("name", "shared".to_string()),
            "no namespace label"
        );
    }
}
