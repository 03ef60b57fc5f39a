//! Prometheus metrics on `prometheus-client`: what the operator does (reconciles, remote calls,
//! queues) as counters and histograms, and what the objects are (conditions, link health) as
//! series computed at scrape time from the caches the controllers already hold, so an object
//! that goes leaves no series behind. Every metric and label is listed in docs/metrics.md; the
//! text format is Prometheus 0.0.4.

pub mod objects;
pub mod reconciles;
pub mod runtime;

use prometheus_client::encoding::{
    DescriptorEncoder, EncodeGaugeValue, EncodeLabelSet, EncodeMetric,
};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

/// Every metric name a scrape can show (histograms with `_bucket`/`_sum`/`_count`, counters with
/// `_total`). The chart's alerts and dashboard may only query these (tests/chart.rs).
pub const EXPORTED: &[&str] = &[
    "applink_build_info",
    "applink_caches_synced",
    "applink_ready",
    "applink_reconciles_total",
    "applink_deferred_total",
    "applink_reconcile_duration_seconds",
    "applink_time_to_ready_seconds",
    "applink_reconciles_in_flight",
    "applink_reconcile_oldest_in_flight_seconds",
    "applink_objects_waiting",
    "applink_oldest_waiting_seconds",
    "applink_trigger_queue_length",
    "applink_trigger_queue_oldest_seconds",
    "applink_applicationinstance_condition",
    "applink_clusterapplicationinstance_condition",
    "applink_applicationlink_condition",
    "applink_externalapplication_condition",
    "applink_applicationinstance_ready_reason",
    "applink_clusterapplicationinstance_ready_reason",
    "applink_applicationlink_ready_reason",
    "applink_externalapplication_ready_reason",
    "applink_applicationlink_health",
    "applink_applicationinstance_unmanaged_links",
    "applink_clusterapplicationinstance_unmanaged_links",
    "applink_info",
    "applink_remote_requests_total",
    "applink_remote_request_duration_seconds",
    "applink_remote_retries_total",
    "applink_remote_rate_limit_waits_total",
    "applink_remote_rate_limit_wait_seconds_total",
    "applink_remote_credentials_held_back_total",
];

/// Writes one gauge family (one descriptor, one sample per label set); nothing for an empty
/// family, so a kind without objects shows no series.
pub(crate) fn gauge_family<L: EncodeLabelSet, V: EncodeGaugeValue + std::fmt::Debug>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (L, V)>,
) -> Result<(), std::fmt::Error> {
    let mut samples = samples.into_iter().peekable();
    if samples.peek().is_none() {
        return Ok(());
    }
    let mut family =
        encoder.encode_descriptor(name, help, None, ConstGauge::new(0.0).metric_type())?;
    for (labels, value) in samples {
        ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// `applink_build_info{version}`: the running version, for dashboards and upgrades.
pub(crate) fn register_build_info(registry: &mut Registry) {
    registry.register(
        "applink_build",
        "The operator's version (always 1)",
        prometheus_client::metrics::info::Info::new(vec![(
            "version".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        )]),
    );
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::time::Duration;

    use kube::runtime::reflector;
    use kube::runtime::watcher::Event;
    use serde_json::json;

    use super::objects::ObjectsCollector;
    use crate::health::Metrics;

    fn store<K>(objects: Vec<serde_json::Value>) -> reflector::Store<K>
    where
        K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + 'static,
    {
        let (store, mut writer) = reflector::store();
        for o in objects {
            writer.apply_watcher_event(&Event::Apply(serde_json::from_value(o).unwrap()));
        }
        store
    }

    fn ready(status: &str, reason: &str) -> serde_json::Value {
        json!([{"type": "Ready", "status": status, "reason": reason, "message": "",
                "lastTransitionTime": "2026-01-01T00:00:00Z"}])
    }

    fn objects() -> ObjectsCollector {
        let meta = |name: &str| json!({"name": name, "namespace": "team-a", "uid": name});
        ObjectsCollector {
            instances: store(vec![json!({
                "apiVersion": "applinks.io/v1alpha1", "kind": "ApplicationInstance",
                "metadata": meta("jira"),
                "spec": {"url": "https://jira.example.test"},
                "status": {"typeId": "jira", "conditions": ready("False", "Unreachable"),
                           "inventory": {"linkCount": 3, "unmanagedCount": 2}}
            })]),
            shared: store(vec![json!({
                "apiVersion": "applinks.io/v1alpha1", "kind": "ClusterApplicationInstance",
                "metadata": {"name": "confluence", "uid": "c"},
                "spec": {"url": "https://confluence.example.test", "allowedNamespaces": {}},
                "status": {"typeId": "confluence", "conditions": ready("True", "Administered"),
                           "inventory": {"linkCount": 1, "unmanagedCount": 0}}
            })]),
            links: store(vec![json!({
                "apiVersion": "applinks.io/v1alpha1", "kind": "ApplicationLink",
                "metadata": meta("wiki"),
                "spec": {"source": {"instanceRef": {"name": "jira"}},
                         "target": {"instanceRef": {"name": "confluence", "kind": "ClusterApplicationInstance"}}},
                "status": {"mode": "TwoWay", "health": "ConnectionRefused",
                           "source": {"health": {"working": false, "errorCategory": "NETWORK_ERROR"}},
                           "conditions": ready("False", "ConnectionRefused")}
            })]),
            externals: store(vec![json!({
                "apiVersion": "applinks.io/v1alpha1", "kind": "ExternalApplication",
                "metadata": meta("ci"),
                "spec": {"instanceRef": {"name": "jira"}, "oauth2": {"redirectUris": ["https://ci.example.test/cb"], "scope": "READ"},
                         "secret": {"name": "ci-oauth"}}
            })]),
        }
    }

    /// Every family a busy operator shows is listed in [`super::EXPORTED`], and nothing listed
    /// is missing: the chart's alerts and dashboard are checked against that list.
    #[test]
    fn exported_lists_every_family_the_endpoint_shows() {
        let metrics = Metrics::default();
        metrics.watch_objects(objects());
        metrics.set_caches_synced(true);
        metrics.reconciled("ApplicationLink", "ok");
        metrics.deferred("ApplicationLink", "busy application");
        metrics.ready_transition(
            "ApplicationLink",
            "team-a/wiki",
            false,
            true,
            Some(Duration::from_secs(3)),
        );
        metrics.watch_queue("ApplicationInstance", || (0, None));
        metrics.changed("ApplicationLink", "team-a/other".into());
        let running = metrics.running("ApplicationLink");
        let calls = metrics.calls();
        calls.attempted("jira", "status", "2xx", Duration::from_millis(20));
        calls.retried("jira", "status");
        calls.waited("jira", Duration::from_secs(1));
        calls.held_back("jira", "status");
        let text = metrics.render();
        drop(running);
        let text = format!("{text}{}", metrics.render());
        let shown: BTreeSet<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split(' ').next())
            .collect();
        let listed: BTreeSet<&str> = super::EXPORTED.iter().copied().collect();
        assert_eq!(shown, listed, "{text}");
        for want in [
            r#"applink_applicationlink_condition{namespace="team-a",name="wiki",condition="Ready",status="False"} 1"#,
            r#"applink_applicationlink_ready_reason{namespace="team-a",name="wiki",reason="ConnectionRefused"} 1"#,
            r#"applink_applicationlink_health{namespace="team-a",name="wiki",health="ConnectionRefused",category="NETWORK_ERROR"} 1"#,
            r#"applink_info{namespace="team-a",name="wiki",source_type="jira",target_type="confluence",auth="OAuth",mode="TwoWay"} 1"#,
            r#"applink_clusterapplicationinstance_condition{name="confluence",condition="Ready",status="True"} 1"#,
            r#"applink_applicationinstance_unmanaged_links{namespace="team-a",name="jira"} 2"#,
            r#"applink_clusterapplicationinstance_unmanaged_links{name="confluence"} 0"#,
            r#"applink_externalapplication_ready_reason{namespace="team-a",name="ci",reason="Pending"} 1"#,
            r#"applink_build_info{version=""#,
            "applink_caches_synced 1",
            "applink_ready 1",
        ] {
            assert!(text.contains(want), "{want} in\n{text}");
        }
    }

    /// Deleted objects leave no series: they are computed from the caches at each scrape.
    #[test]
    fn a_deleted_object_leaves_no_series() {
        let metrics = Metrics::default();
        let objects = objects();
        let (links, mut writer) = reflector::store();
        let link: crate::crd::ApplicationLink =
            serde_json::from_value(serde_json::to_value(&*objects.links.state()[0]).unwrap())
                .unwrap();
        writer.apply_watcher_event(&Event::Apply(link.clone()));
        metrics.watch_objects(ObjectsCollector { links, ..objects });
        assert!(metrics.render().contains("name=\"wiki\""));
        writer.apply_watcher_event(&Event::Delete(link));
        let text = metrics.render();
        assert!(!text.contains("name=\"wiki\""), "{text}");
    }
}
