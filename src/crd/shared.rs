//! `ClusterApplicationInstance`: one application the platform team administers once for many
//! namespaces (the pattern of External Secrets' ClusterSecretStore). Its credentials live in the
//! operator's own namespace; tenants' links and ExternalApplications name it and never see them.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::instance::{ApplicationInstanceSpec, ApplicationInstanceStatus};

/// An application shared by the namespaces `allowedNamespaces` selects. Its
/// `credentialsSecretRef` and `tls` name Secrets and ConfigMaps in the operator's namespace
/// (`--cluster-resource-namespace`).
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "applinks.io",
    version = "v1alpha1",
    kind = "ClusterApplicationInstance",
    doc = "One running application shared by several namespaces: administered once by the platform team (credentials in the operator's namespace), used by the links and ExternalApplications of the namespaces allowedNamespaces selects.",
    status = "ApplicationInstanceStatus",
    shortname = "clusterappinst",
    category = "applinks",
    printcolumn = r#"{"name":"URL","type":"string","jsonPath":".spec.url"}"#,
    printcolumn = r#"{"name":"Type","type":"string","jsonPath":".status.typeId"}"#,
    printcolumn = r#"{"name":"Version","type":"string","jsonPath":".status.version"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Unmanaged Links","type":"integer","jsonPath":".status.inventory.unmanagedCount","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterApplicationInstanceSpec {
    /// The application, as an ApplicationInstance describes it.
    #[serde(flatten)]
    pub application: ApplicationInstanceSpec,
    /// The namespaces (by their labels) whose ApplicationLinks and ExternalApplications may use
    /// this application, e.g. `matchLabels: {applinks.io/jira: "true"}`. An empty selector
    /// (`{}`) selects every namespace.
    pub allowed_namespaces: LabelSelector,
}

/// Whether a namespace with these labels is selected (Kubernetes label-selector semantics).
pub fn selects(
    selector: &LabelSelector,
    labels: &std::collections::BTreeMap<String, String>,
) -> bool {
    let labels_match = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let expressions_match = selector.match_expressions.iter().flatten().all(|e| {
        let value = labels.get(&e.key);
        let values = e.values.as_deref().unwrap_or_default();
        match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            // An operator Kubernetes does not know selects nothing.
            _ => false,
        }
    });
    labels_match && expressions_match
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;
    use std::collections::BTreeMap;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn selector_semantics() {
        let by_label = LabelSelector {
            match_labels: Some(labels(&[("team", "a")])),
            ..Default::default()
        };
        let expr = |op: &str, values: &[&str]| LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "tier".into(),
                operator: op.into(),
                values: Some(values.iter().map(|v| v.to_string()).collect()),
            }]),
            ..Default::default()
        };
        let cases = [
            (
                LabelSelector::default(),
                labels(&[]),
                true,
                "empty selects all",
            ),
            (
                by_label.clone(),
                labels(&[("team", "a")]),
                true,
                "label match",
            ),
            (
                by_label.clone(),
                labels(&[("team", "b")]),
                false,
                "other value",
            ),
            (by_label, labels(&[]), false, "label missing"),
            (
                expr("In", &["gold"]),
                labels(&[("tier", "gold")]),
                true,
                "In",
            ),
            (expr("In", &["gold"]), labels(&[]), false, "In, missing"),
            (
                expr("NotIn", &["gold"]),
                labels(&[]),
                true,
                "NotIn, missing",
            ),
            (
                expr("Exists", &[]),
                labels(&[("tier", "x")]),
                true,
                "Exists",
            ),
            (
                expr("DoesNotExist", &[]),
                labels(&[("tier", "x")]),
                false,
                "DoesNotExist",
            ),
            (
                expr("Bogus", &[]),
                labels(&[("tier", "x")]),
                false,
                "unknown operator",
            ),
        ];
        for (selector, labels, want, why) in cases {
            assert_eq!(selects(&selector, &labels), want, "{why}");
        }
    }
}
