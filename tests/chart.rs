//! The Helm chart (charts/applink-operator): lint, rendering with the RBAC the operator needs and
//! nothing more, its CRDs equal to crds/, `helm install` into the real local control plane, the
//! installed ServiceAccount's permissions checked with a token minted for it, and the operator
//! binary run as that ServiceAccount with the chart's arguments.
//!
//! Needs KUBECONFIG and APPLINK_E2E_BIN (helm, kubectl), as set by e2e/test.sh.

mod common;
use common::process::{Out, admin_kubeconfig, bin, poll, run};
#[path = "chart/readme.rs"]
mod readme;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

const CHART: &str = "charts/applink-operator";
/// The Kubernetes version `helm template` renders for (Helm's offline default is older than the
/// chart's kubeVersion).
const KUBE_VERSION: &str = "1.35.0";
const CRD_NAMES: [&str; 4] = [
    "applicationinstances.applinks.io",
    "clusterapplicationinstances.applinks.io",
    "applicationlinks.applinks.io",
    "externalapplications.applinks.io",
];

// ---------------------------------------------------------------------------------------------
// Running helm and kubectl

/// Helm with its config, cache and data directories out of the user's home.
fn helm(args: &[&str]) -> Out {
    let home = std::env::temp_dir().join("applink-chart-test-helm");
    std::fs::create_dir_all(&home).unwrap();
    let (config, cache, data) = (home.join("config"), home.join("cache"), home.join("data"));
    run(
        &bin("helm"),
        args,
        &[
            ("HELM_CONFIG_HOME", &config),
            ("HELM_CACHE_HOME", &cache),
            ("HELM_DATA_HOME", &data),
            ("KUBECONFIG", &admin_kubeconfig()),
        ],
    )
}

fn helm_ok(args: &[&str]) -> String {
    let out = helm(args);
    assert!(
        out.ok,
        "helm {} failed:\n{}{}",
        args.join(" "),
        out.stdout,
        out.stderr
    );
    out.stdout
}

/// kubectl as `kubeconfig`'s user.
fn kubectl_as(kubeconfig: &Path, args: &[&str]) -> Out {
    let mut all = vec!["--request-timeout=30s"];
    all.extend_from_slice(args);
    run(&bin("kubectl"), &all, &[("KUBECONFIG", kubeconfig)])
}

/// kubectl as the cluster admin; panics when it fails.
fn kubectl_ok(args: &[&str]) -> String {
    let out = kubectl_as(&admin_kubeconfig(), args);
    assert!(out.ok, "kubectl {} failed: {}", args.join(" "), out.stderr);
    out.stdout
}

fn kubectl_json(args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend_from_slice(&["-o", "json"]);
    serde_json::from_str(&kubectl_ok(&all)).unwrap()
}

fn chart_dir() -> String {
    common::repo_path(CHART).display().to_string()
}

// ---------------------------------------------------------------------------------------------
// Rendering

/// `helm template` with `--set` values; the rendered documents (without the `helm test` hook,
/// see `try_render_with`), or helm's error.
fn try_render(release_ns: &str, sets: &[&str]) -> Result<Vec<Value>, String> {
    try_render_with(release_ns, sets, &["--skip-tests"])
}

/// `helm template` with `--set` values and extra helm arguments (e.g. `--api-versions`).
fn try_render_with(release_ns: &str, sets: &[&str], extra: &[&str]) -> Result<Vec<Value>, String> {
    let chart = chart_dir();
    let mut args = vec![
        "template",
        "rel",
        chart.as_str(),
        "--namespace",
        release_ns,
        "--kube-version",
        KUBE_VERSION,
    ];
    for s in sets {
        args.extend_from_slice(&["--set", s]);
    }
    args.extend_from_slice(extra);
    let out = helm(&args);
    if !out.ok {
        return Err(out.stderr);
    }
    Ok(serde_yaml::Deserializer::from_str(&out.stdout)
        .filter_map(|d| Value::deserialize(d).ok())
        .filter(|v| v.is_object())
        .collect())
}

fn render(release_ns: &str, sets: &[&str]) -> Vec<Value> {
    try_render(release_ns, sets).unwrap_or_else(|e| panic!("helm template {sets:?} failed: {e}"))
}

fn kinds(docs: &[Value]) -> BTreeSet<String> {
    docs.iter()
        .map(|d| d["kind"].as_str().unwrap().to_string())
        .collect()
}

fn one<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = docs.iter().filter(|d| d["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "exactly one {kind} rendered: {found:?}");
    found[0]
}

/// A ClusterRole for tenants: aggregated into the built-in roles (the operator's own is not).
fn is_tenant_role(d: &Value) -> bool {
    d["kind"] == "ClusterRole"
        && d["metadata"]["labels"].as_object().is_some_and(|l| {
            l.keys()
                .any(|k| k.starts_with("rbac.authorization.k8s.io/aggregate-to-"))
        })
}

/// The operator's own ClusterRole (besides the tenant roles).
fn operator_cluster_role(docs: &[Value]) -> &Value {
    let found: Vec<&Value> = docs
        .iter()
        .filter(|d| d["kind"] == "ClusterRole" && !is_tenant_role(d))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one ClusterRole for the operator: {found:?}"
    );
    found[0]
}

/// (apiGroup, resource, verb) for every rule, refusing wildcards and name/URL restrictions that
/// the expected set does not describe.
fn grants(role: &Value) -> BTreeSet<(String, String, String)> {
    let mut set = BTreeSet::new();
    for rule in role["rules"].as_array().expect("rules") {
        assert!(
            rule.get("resourceNames").is_none() && rule.get("nonResourceURLs").is_none(),
            "unexpected rule shape: {rule}"
        );
        let strs = |k: &str| -> Vec<String> {
            rule[k]
                .as_array()
                .unwrap_or_else(|| panic!("rule without {k}: {rule}"))
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect()
        };
        for g in strs("apiGroups") {
            for r in strs("resources") {
                for v in strs("verbs") {
                    assert!(g != "*" && r != "*" && v != "*", "wildcard in rule: {rule}");
                    set.insert((g.clone(), r.clone(), v));
                }
            }
        }
    }
    set
}

/// Exactly what the operator does: watch and write its three kinds (status, finalizers), read
/// the Secrets and ConfigMaps an instance names, write Events.
fn needed() -> BTreeSet<(String, String, String)> {
    needed_with(true)
}

/// What it needs with or without the ExternalApplication controller.
fn needed_with(external_applications: bool) -> BTreeSet<(String, String, String)> {
    let mut set = needed_all();
    if !external_applications {
        set.retain(|(g, r, v)| {
            !r.starts_with("externalapplications")
                && !(g.is_empty() && r == "secrets" && (v == "create" || v == "patch"))
        });
    }
    set
}

fn needed_all() -> BTreeSet<(String, String, String)> {
    let mut set = BTreeSet::new();
    let mut add = |g: &str, rs: &[&str], vs: &[&str]| {
        for r in rs {
            for v in vs {
                set.insert((g.to_string(), r.to_string(), v.to_string()));
            }
        }
    };
    add(
        "applinks.io",
        &[
            "applicationinstances",
            "applicationlinks",
            "externalapplications",
        ],
        &["get", "list", "watch", "patch", "update"],
    );
    add(
        "applinks.io",
        &[
            "applicationinstances/status",
            "applicationlinks/status",
            "externalapplications/status",
        ],
        &["get", "patch", "update"],
    );
    add(
        "applinks.io",
        &[
            "applicationlinks/finalizers",
            "externalapplications/finalizers",
        ],
        &["update"],
    );
    add("", &["secrets", "configmaps"], &["get"]);
    // Shared applications (cluster-wide installations only) and the namespace labels their
    // allowedNamespaces select on.
    add(
        "applinks.io",
        &["clusterapplicationinstances"],
        &["get", "list", "watch", "patch", "update"],
    );
    add(
        "applinks.io",
        &["clusterapplicationinstances/status"],
        &["get", "patch", "update"],
    );
    add("", &["namespaces"], &["get"]);
    // ExternalApplications write their credentials Secrets.
    add("", &["secrets"], &["create", "patch"]);
    add("", &["events"], &["create", "patch"]);
    add("events.k8s.io", &["events"], &["create", "patch"]);
    set
}

/// What a namespaced installation (`watchNamespace`) needs: no cluster-scoped objects.
fn namespaced(mut set: BTreeSet<(String, String, String)>) -> BTreeSet<(String, String, String)> {
    set.retain(|(_, r, _)| !r.starts_with("clusterapplicationinstances") && r != "namespaces");
    set
}

/// The role grants what the operator needs, and nothing else.
fn assert_grants_exactly_needed(role: &Value) {
    assert_grants_exactly(role, needed());
}

fn assert_grants_exactly(role: &Value, need: BTreeSet<(String, String, String)>) {
    let have = grants(role);
    let missing: Vec<_> = need.difference(&have).collect();
    let extra: Vec<_> = have.difference(&need).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{} {}: missing {missing:?}, more than needed {extra:?}",
        role["kind"],
        role["metadata"]["name"]
    );
}

fn container(deployment: &Value) -> &Value {
    let cs = deployment["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap();
    assert_eq!(cs.len(), 1, "one container");
    &cs[0]
}

fn args(deployment: &Value) -> Vec<String> {
    container(deployment)["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

fn assert_binding(binding: &Value, role_kind: &str, role: &Value, sa: &Value) {
    assert_eq!(binding["roleRef"]["kind"], role_kind);
    assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);
    assert_eq!(
        binding["subjects"],
        json!([{
            "kind": "ServiceAccount",
            "name": sa["metadata"]["name"],
            "namespace": sa["metadata"]["namespace"],
        }])
    );
}

fn assert_deployment(d: &Value, sa: &Value) {
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(d["spec"]["replicas"], 1);
    assert_eq!(
        d["spec"]["strategy"]["type"], "Recreate",
        "no leader election: old and new pod must not overlap"
    );
    assert_eq!(pod["serviceAccountName"], sa["metadata"]["name"]);
    let c = container(d);
    assert_eq!(
        c["image"], "ghcr.io/applink-operator/applink-operator:0.1.0",
        "tag = appVersion"
    );
    let pod_name = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "POD_NAME")
        .unwrap_or_else(|| panic!("POD_NAME set: {c}"));
    assert_eq!(
        pod_name["valueFrom"]["fieldRef"]["fieldPath"], "metadata.name",
        "POD_NAME from the downward API"
    );
    // The health endpoint: one port, liveness on /healthz, readiness on /readyz.
    assert_eq!(
        c["ports"],
        json!([{"name": "health", "containerPort": 8080, "protocol": "TCP"}])
    );
    // (The API server adds `scheme: HTTP` to what it stores; compare the fields the chart sets.)
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        assert_eq!(c[probe]["httpGet"]["path"], path, "{probe}");
        assert_eq!(c[probe]["httpGet"]["port"], "health", "{probe}");
    }
    assert!(args(d).contains(&"--health-addr=0.0.0.0:8080".to_string()));
    let sc = &c["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    assert_eq!(
        c["resources"]["requests"],
        json!({"cpu": "50m", "memory": "64Mi"})
    );
    assert!(
        c["resources"]["limits"]["memory"].is_string(),
        "memory limit"
    );
}

// ---------------------------------------------------------------------------------------------
// Offline checks

#[test]
fn chart_lints() {
    let chart = chart_dir();
    for sets in [
        vec![],
        vec!["--set", "watchNamespace=team-a"],
        vec!["--set", "rbac.secretNamespaces={team-a,team-b}"],
    ] {
        let mut a = vec!["lint", chart.as_str(), "--strict"];
        a.extend_from_slice(&sets);
        let out = helm_ok(&a);
        assert!(out.contains("0 chart(s) failed"), "{out}");
    }
}

#[test]
fn chart_crds_equal_generated_crds() {
    let files = |dir: &str| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(common::repo_path(dir))
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".yaml"))
            .collect();
        v.sort();
        v
    };
    let fix =
        "copy them: cp crds/*.yaml charts/applink-operator/crds/ (after `cargo run -- crdgen`)";
    let generated = files("crds");
    assert_eq!(generated.len(), CRD_NAMES.len(), "crds/ has {generated:?}");
    assert_eq!(
        files(&format!("{CHART}/crds")),
        generated,
        "the chart's CRD files differ from crds/: {fix}"
    );
    for f in &generated {
        let read = |dir: &str| std::fs::read(common::repo_path(&format!("{dir}/{f}"))).unwrap();
        assert!(
            read("crds") == read(&format!("{CHART}/crds")),
            "{CHART}/crds/{f} differs from crds/{f}: {fix}"
        );
    }
}

#[test]
fn chart_renders_cluster_wide_rbac_exactly() {
    let docs = render("ops", &[]);
    assert_eq!(
        kinds(&docs),
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "Deployment",
            "Service",
            "ServiceAccount",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding",
        ]
        .map(String::from)
        .into(),
        "CRDs come from crds/, not templates"
    );
    let sa = one(&docs, "ServiceAccount");
    assert_eq!(sa["metadata"]["namespace"], "ops");
    let role = operator_cluster_role(&docs);
    assert_grants_exactly_needed(role);
    assert_binding(one(&docs, "ClusterRoleBinding"), "ClusterRole", role, sa);
    let d = one(&docs, "Deployment");
    assert_deployment(d, sa);
    assert_eq!(
        args(d),
        [
            "run",
            "--log-format=json",
            "--instance-check-interval=5m",
            "--link-resync-interval=5m",
            "--stalled-after=10m",
            "--request-timeout=15s",
            "--max-requests-per-application=4",
            "--health-addr=0.0.0.0:8080",
        ],
        "no --namespace: all namespaces"
    );
}

/// Without ExternalApplications the operator writes no Secret, so the chart grants none.
#[test]
fn chart_grants_no_secret_writes_when_external_applications_are_off() {
    let docs = render("ops", &["externalApplications.enabled=false"]);
    assert_grants_exactly(operator_cluster_role(&docs), needed_with(false));
    assert!(
        named(&docs, "ValidatingAdmissionPolicy").is_empty(),
        "no Secret writes, no policy for them"
    );
    assert!(args(one(&docs, "Deployment")).contains(&"--external-applications=false".to_string()));
    let docs = render(
        "ops",
        &["externalApplications.enabled=false", "watchNamespace=team"],
    );
    assert_grants_exactly(one(&docs, "Role"), namespaced(needed_with(false)));
    let on = render("ops", &[]);
    assert!(
        !args(one(&on, "Deployment"))
            .iter()
            .any(|a| a.starts_with("--external-applications")),
        "on by default"
    );
}

#[test]
fn chart_renders_namespaced_rbac_when_watching_one_namespace() {
    let docs = render(
        "ops",
        &[
            "watchNamespace=team-a",
            "logFormat=text",
            "instanceCheckInterval=1m",
            "linkResyncInterval=10m",
            "requestTimeout=30s",
            "maxRequestsPerApplication=2",
            "extraEnv[0].name=HTTPS_PROXY",
            "extraEnv[0].value=http://proxy:3128",
        ],
    );
    assert_eq!(
        kinds(&docs),
        [
            "ClusterRole",
            "Deployment",
            "Role",
            "RoleBinding",
            "Service",
            "ServiceAccount",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding",
        ]
        .map(String::from)
        .into(),
        "no cluster-wide RBAC for the operator when one namespace is watched"
    );
    assert!(
        named(&docs, "ClusterRole")
            .iter()
            .all(|d| is_tenant_role(d)),
        "the only ClusterRoles are the tenants' aggregated ones"
    );
    let sa = one(&docs, "ServiceAccount");
    let role = one(&docs, "Role");
    assert_eq!(role["metadata"]["namespace"], "team-a");
    assert_grants_exactly(role, namespaced(needed()));
    let binding = one(&docs, "RoleBinding");
    assert_eq!(binding["metadata"]["namespace"], "team-a");
    assert_binding(binding, "Role", role, sa);
    assert_eq!(
        sa["metadata"]["namespace"], "ops",
        "the SA stays in the release namespace"
    );
    let d = one(&docs, "Deployment");
    assert_deployment(d, sa);
    assert_eq!(
        args(d),
        [
            "run",
            "--namespace=team-a",
            "--log-format=text",
            "--instance-check-interval=1m",
            "--link-resync-interval=10m",
            "--stalled-after=10m",
            "--request-timeout=30s",
            "--max-requests-per-application=2",
            "--health-addr=0.0.0.0:8080",
        ]
    );
    assert!(
        container(d)["env"]
            .as_array()
            .unwrap()
            .contains(&json!({"name": "HTTPS_PROXY", "value": "http://proxy:3128"}))
    );
    // rbac.create=false renders no RBAC at all; an existing ServiceAccount is used by name.
    let docs = render(
        "ops",
        &[
            "rbac.create=false",
            "serviceAccount.create=false",
            "serviceAccount.name=mine",
            "metrics.service.enabled=false",
        ],
    );
    assert_eq!(kinds(&docs), ["Deployment"].map(String::from).into());
    assert_eq!(
        one(&docs, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"],
        "mine"
    );
}

/// The grants on Secrets and ConfigMaps, and the rest.
type Grants = BTreeSet<(String, String, String)>;
fn split_secret_grants(all: Grants) -> (Grants, Grants) {
    all.into_iter()
        .partition(|(g, r, _)| g.is_empty() && (r == "secrets" || r == "configmaps"))
}

/// rbac.secretNamespaces: the ClusterRole keeps the kinds and Events; Secrets and ConfigMaps only
/// through a Role + RoleBinding in each listed namespace.
#[test]
fn chart_renders_secret_rbac_only_in_listed_namespaces() {
    for ext in [true, false] {
        let mut sets = vec!["rbac.secretNamespaces={team-a,team-b}"];
        if !ext {
            sets.push("externalApplications.enabled=false");
        }
        let docs = render("ops", &sets);
        let (secret_grants, kind_grants) = split_secret_grants(needed_with(ext));
        let sa = one(&docs, "ServiceAccount");
        let cluster_role = operator_cluster_role(&docs);
        assert_grants_exactly(cluster_role, kind_grants);
        assert_binding(
            one(&docs, "ClusterRoleBinding"),
            "ClusterRole",
            cluster_role,
            sa,
        );
        let (roles, bindings) = (named(&docs, "Role"), named(&docs, "RoleBinding"));
        assert_eq!(
            (roles.len(), bindings.len()),
            (2, 2),
            "one Role and RoleBinding per listed namespace"
        );
        for ns in ["team-a", "team-b"] {
            let in_ns = |d: &&&Value| d["metadata"]["namespace"] == ns;
            let role = roles.iter().find(in_ns).expect("a Role in each namespace");
            assert_eq!(role["metadata"]["name"], "rel-applink-operator-secrets");
            assert_grants_exactly(role, secret_grants.clone());
            assert_binding(
                bindings.iter().find(in_ns).expect("a RoleBinding"),
                "Role",
                role,
                sa,
            );
        }
        assert!(
            !args(one(&docs, "Deployment"))
                .iter()
                .any(|a| a.starts_with("--namespace")),
            "the operator still watches all namespaces"
        );
    }
    let err = try_render(
        "ops",
        &["watchNamespace=team-a", "rbac.secretNamespaces={team-b}"],
    )
    .expect_err("secretNamespaces with watchNamespace");
    assert!(
        err.contains("rbac.secretNamespaces") && err.contains("unset one of the two"),
        "{err}"
    );
}

/// Tenants get the applinks.io kinds through the built-in view and edit/admin roles, and never
/// their status.
#[test]
fn chart_renders_tenant_roles_aggregated_into_view_and_edit_without_status() {
    let docs = render("ops", &[]);
    let tenant: Vec<&Value> = docs.iter().filter(|d| is_tenant_role(d)).collect();
    assert_eq!(tenant.len(), 2, "view and edit: {tenant:?}");
    let role = |suffix: &str| {
        *tenant
            .iter()
            .find(|d| d["metadata"]["name"] == format!("ops-rel-applink-operator-{suffix}"))
            .unwrap_or_else(|| panic!("the {suffix} role"))
    };
    let grants_on_kinds = |verbs: &[&str]| -> Grants {
        let mut set = BTreeSet::new();
        for r in [
            "applicationinstances",
            "applicationlinks",
            "externalapplications",
        ] {
            for v in verbs {
                set.insert(("applinks.io".into(), r.into(), v.to_string()));
            }
        }
        set
    };
    let aggregate = |to: &[&str]| -> Value {
        to.iter()
            .map(|r| {
                (
                    format!("rbac.authorization.k8s.io/aggregate-to-{r}"),
                    json!("true"),
                )
            })
            .collect()
    };
    let labels_of = |d: &Value| -> Value {
        d["metadata"]["labels"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.starts_with("rbac.authorization.k8s.io/"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    let view = role("view");
    assert_grants_exactly(view, grants_on_kinds(&["get", "list", "watch"]));
    assert_eq!(labels_of(view), aggregate(&["view", "edit", "admin"]));
    let edit = role("edit");
    // Exact: no status (the operator's record) nor finalizers subresource.
    assert_grants_exactly(
        edit,
        grants_on_kinds(&["create", "update", "patch", "delete", "deletecollection"]),
    );
    assert_eq!(labels_of(edit), aggregate(&["edit", "admin"]));
    for sets in [
        &["rbac.aggregateToDefaultRoles=false"][..],
        &["rbac.create=false"],
    ] {
        assert!(
            !render("ops", sets).iter().any(is_tenant_role),
            "{sets:?}: no tenant roles"
        );
    }
}

/// The admission policy confining the operator's Secret writes: for its ServiceAccount only, and
/// only where it can work (Kubernetes >= 1.30) and is needed (Secret writes granted).
#[test]
fn chart_renders_the_secret_write_policy_for_the_operators_account_only() {
    let docs = render("ops", &[]);
    let policy = one(&docs, "ValidatingAdmissionPolicy");
    let binding = one(&docs, "ValidatingAdmissionPolicyBinding");
    assert_eq!(
        policy["metadata"]["name"],
        "ops-rel-applink-operator-secret-writes"
    );
    assert_eq!(binding["spec"]["policyName"], policy["metadata"]["name"]);
    assert_eq!(binding["spec"]["validationActions"], json!(["Deny"]));
    assert!(
        binding["spec"].get("matchResources").is_none(),
        "every namespace"
    );
    assert_eq!(policy["spec"]["failurePolicy"], "Fail");
    assert_eq!(
        policy["spec"]["matchConditions"],
        json!([{"name": "written-by-the-operator",
                "expression": "request.userInfo.username == 'system:serviceaccount:ops:rel-applink-operator'"}])
    );
    assert_eq!(
        policy["spec"]["matchConstraints"]["resourceRules"],
        json!([{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                "resources": ["secrets"]}])
    );
    let rendered = |sets: &[&str], kube: &str| {
        let docs = try_render_with("ops", sets, &["--skip-tests", "--kube-version", kube]).unwrap();
        !named(&docs, "ValidatingAdmissionPolicy").is_empty()
    };
    assert!(rendered(&["rbac.secretNamespaces={team-a}"], KUBE_VERSION));
    assert!(rendered(&["watchNamespace=team-a"], KUBE_VERSION));
    assert!(rendered(&[], "1.30.0"));
    assert!(
        !rendered(&[], "1.29.9"),
        "no v1 ValidatingAdmissionPolicy before 1.30"
    );
    assert!(!rendered(
        &["externalApplications.enabled=false"],
        KUBE_VERSION
    ));
    assert!(!rendered(&["rbac.secretWritePolicy=false"], KUBE_VERSION));
    assert!(!rendered(&["rbac.create=false"], KUBE_VERSION));
}

#[test]
fn chart_values_schema_refuses_mistakes() {
    for (set, expect) in [
        ("replicaCount=2", "replicaCount"),
        ("logFormat=xml", "logFormat"),
        ("requestTimeout=soon", "requestTimeout"),
        ("watchNamespace=Team_A", "watchNamespace"),
        ("maxRequestsPerApplication=0", "maxRequestsPerApplication"),
        ("imagee.tag=x", "imagee"),
        ("proxy.httpsProxy=proxy.example:3128", "httpsProxy"),
        (
            "networkPolicy.applications[0].cidr=jira.example.com",
            "cidr",
        ),
        ("metrics.serviceMonitor.interval=often", "interval"),
        ("commonLabels.team=1", "team"),
        ("podDisruptionBudget.minAvailable=true", "minAvailable"),
        ("rbac.secretNamespaces={Team_A}", "secretNamespaces"),
        ("rbac.secretNamespaces={a,a}", "secretNamespaces"),
    ] {
        let err = try_render("ops", &[set]).expect_err(set);
        assert!(err.contains(expect), "--set {set}: {err}");
    }
}

// ---------------------------------------------------------------------------------------------
// Against the real control plane

/// A kubeconfig whose user is `sa` in `ns`, with a freshly minted token, against the admin
/// kubeconfig's server and CA.
fn service_account_kubeconfig(dir: &Path, ns: &str, sa: &str) -> PathBuf {
    let token = kubectl_ok(&["create", "token", sa, "-n", ns, "--duration=10m"])
        .trim()
        .to_string();
    assert!(!token.is_empty(), "token minted");
    let admin: Value = serde_yaml::from_str(
        &std::fs::read_to_string(admin_kubeconfig()).expect("KUBECONFIG readable"),
    )
    .unwrap();
    let cluster = &admin["clusters"][0]["cluster"];
    let mut c = json!({"server": cluster["server"]});
    for k in ["certificate-authority", "certificate-authority-data"] {
        if let Some(v) = cluster.get(k) {
            c[k] = v.clone();
        }
    }
    let kc = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "e2e", "cluster": c}],
        "users": [{"name": sa, "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "e2e", "user": sa}}],
        "current-context": "sa",
    });
    let path = dir.join(format!("{ns}-{sa}.kubeconfig"));
    std::fs::write(&path, serde_yaml::to_string(&kc).unwrap()).unwrap();
    path
}

/// `kubectl auth can-i` as the kubeconfig's user: `check` is e.g. "patch applicationlinks.applinks.io
/// --subresource=status", `scope` "-n ns" or "--all-namespaces".
fn can_i(kubeconfig: &Path, check: &str, scope: &[&str]) -> bool {
    let mut a = vec!["auth", "can-i"];
    a.extend(check.split_whitespace());
    a.extend_from_slice(scope);
    let out = kubectl_as(kubeconfig, &a);
    let answer = out.stdout.trim();
    assert!(
        answer == "yes" || answer == "no",
        "kubectl auth can-i {check}: {}{}",
        out.stdout,
        out.stderr
    );
    answer == "yes"
}

/// What the operator does in a watched namespace.
const ALLOWED: &[&str] = &[
    "get applicationinstances.applinks.io",
    "list applicationinstances.applinks.io",
    "watch applicationinstances.applinks.io",
    "patch applicationinstances.applinks.io",
    "patch applicationinstances.applinks.io --subresource=status",
    "get applicationlinks.applinks.io",
    "list applicationlinks.applinks.io",
    "watch applicationlinks.applinks.io",
    "patch applicationlinks.applinks.io",
    "update applicationlinks.applinks.io",
    "patch applicationlinks.applinks.io --subresource=status",
    "update applicationlinks.applinks.io --subresource=status",
    "update applicationlinks.applinks.io --subresource=finalizers",
    "get externalapplications.applinks.io",
    "list externalapplications.applinks.io",
    "watch externalapplications.applinks.io",
    "patch externalapplications.applinks.io",
    "patch externalapplications.applinks.io --subresource=status",
    "get secrets",
    "create secrets",
    "patch secrets",
    "get configmaps",
    "create events",
    "patch events",
    "create events.events.k8s.io",
    "patch events.events.k8s.io",
];

/// What it must not be able to do anywhere.
const DENIED: &[&str] = &[
    "list secrets",
    "watch secrets",
    "delete secrets",
    "update secrets",
    "list configmaps",
    "create applicationlinks.applinks.io",
    "delete applicationlinks.applinks.io",
    "delete applicationinstances.applinks.io",
    "create deployments.apps",
    "create pods",
    "create serviceaccounts --subresource=token",
    "update customresourcedefinitions.apiextensions.k8s.io",
    "create clusterrolebindings.rbac.authorization.k8s.io",
];

fn assert_can(kc: &Path, checks: &[&str], scope: &[&str], expected: bool) {
    let wrong: Vec<&&str> = checks
        .iter()
        .filter(|c| can_i(kc, c, scope) != expected)
        .collect();
    assert!(
        wrong.is_empty(),
        "{} {scope:?} should be {}: {wrong:?}",
        kc.display(),
        if expected { "allowed" } else { "denied" }
    );
}

/// `helm install` without waiting (no kubelet: pods never run), then the CRDs are Established.
fn install(release: &str, ns: &str, sets: &[&str]) {
    let chart = chart_dir();
    let mut a = vec![
        "install",
        release,
        chart.as_str(),
        "--namespace",
        ns,
        "--wait=false",
        "--timeout",
        "60s",
    ];
    for s in sets {
        a.extend_from_slice(&["--set", s]);
    }
    let out = helm_ok(&a);
    assert!(out.contains("STATUS: deployed"), "{out}");
    for crd in CRD_NAMES {
        kubectl_ok(&[
            "wait",
            "--for=condition=Established",
            &format!("crd/{crd}"),
            "--timeout=30s",
        ]);
    }
}

fn exists(args: &[&str]) -> bool {
    kubectl_as(&admin_kubeconfig(), &[&["get"], args].concat()).ok
}

#[tokio::test]
async fn chart_installs_cluster_wide_and_its_rbac_suffices() {
    let client = common::client().await;
    let ns = common::namespace(&client, "chart-cw").await;
    let other = common::namespace(&client, "chart-cw-other").await;
    let release = "applink";
    install(release, &ns, &[]);

    let fullname = "applink-applink-operator";
    let cluster_name = format!("{ns}-{fullname}");
    for crd in CRD_NAMES {
        assert!(exists(&["crd", crd]), "CRD {crd} installed");
    }
    let sa = kubectl_json(&["get", "serviceaccount", fullname, "-n", &ns]);
    let role = kubectl_json(&["get", "clusterrole", &cluster_name]);
    assert_grants_exactly_needed(&role);
    let binding = kubectl_json(&["get", "clusterrolebinding", &cluster_name]);
    assert_binding(&binding, "ClusterRole", &role, &sa);
    let d = kubectl_json(&["get", "deployment", fullname, "-n", &ns]);
    assert_deployment(&d, &sa);

    let dir = tempfile::tempdir().unwrap();
    let kc = service_account_kubeconfig(dir.path(), &ns, fullname);
    for scope in [&["-n", other.as_str()][..], &["-n", ns.as_str()]] {
        assert_can(&kc, ALLOWED, scope, true);
        assert_can(&kc, DENIED, scope, false);
    }
    assert_can(
        &kc,
        &[
            "list applicationlinks.applinks.io",
            "watch applicationlinks.applinks.io",
            "list applicationinstances.applinks.io",
            "watch applicationinstances.applinks.io",
        ],
        &["--all-namespaces"],
        true,
    );

    helm_ok(&["uninstall", release, "--namespace", &ns, "--timeout", "60s"]);
    for what in [
        vec!["clusterrole", cluster_name.as_str()],
        vec!["clusterrolebinding", cluster_name.as_str()],
        vec!["deployment", fullname, "-n", ns.as_str()],
    ] {
        assert!(!exists(&what), "{what:?} removed by helm uninstall");
    }
    for crd in CRD_NAMES {
        assert!(
            exists(&["crd", crd]),
            "helm uninstall keeps the CRD {crd} (deleting it would delete every link)"
        );
    }
}

#[tokio::test]
async fn chart_installs_for_one_namespace_and_its_rbac_stops_there() {
    let client = common::client().await;
    let ns = common::namespace(&client, "chart-ops").await;
    let team = common::namespace(&client, "chart-team").await;
    let other = common::namespace(&client, "chart-other").await;
    let release = "applink-operator";
    install(release, &ns, &[&format!("watchNamespace={team}")]);

    let fullname = "applink-operator"; // the release name already contains the chart name
    assert!(exists(&["serviceaccount", fullname, "-n", &ns]));
    assert!(exists(&["role", fullname, "-n", &team]));
    assert!(exists(&["rolebinding", fullname, "-n", &team]));
    assert!(!exists(&["clusterrole", &format!("{ns}-{fullname}")]));
    let d = kubectl_json(&["get", "deployment", fullname, "-n", &ns]);
    assert!(args(&d).contains(&format!("--namespace={team}")));

    let dir = tempfile::tempdir().unwrap();
    let kc = service_account_kubeconfig(dir.path(), &ns, fullname);
    assert_can(&kc, ALLOWED, &["-n", &team], true);
    assert_can(&kc, DENIED, &["-n", &team], false);
    for scope in [&["-n", other.as_str()][..], &["-n", ns.as_str()]] {
        assert_can(&kc, ALLOWED, scope, false);
    }
    assert_can(
        &kc,
        &["list applicationlinks.applinks.io", "get secrets"],
        &["--all-namespaces"],
        false,
    );

    helm_ok(&["uninstall", release, "--namespace", &ns, "--timeout", "60s"]);
    assert!(!exists(&["role", fullname, "-n", &team]));
}

/// Writes `yaml` into `dir` and runs kubectl as `kc` with `args` and `-f` that file.
fn kubectl_file_as(kc: &Path, dir: &Path, yaml: &str, args: &[&str]) -> Out {
    let file = dir.join("manifest.yaml");
    std::fs::write(&file, yaml).unwrap();
    let mut all = args.to_vec();
    all.extend_from_slice(&["-f", file.to_str().unwrap()]);
    kubectl_as(kc, &all)
}

/// A refusal by the chart's Secret write policy, with the rule's message.
fn assert_refused_by_policy(out: &Out, message: &str, what: &str) {
    assert!(
        !out.ok && out.stderr.contains("secret-writes") && out.stderr.contains(message),
        "{what}: expected the Secret write policy to refuse with {message:?}, got ok={} {}{}",
        out.ok,
        out.stdout,
        out.stderr
    );
}

/// What a stolen operator token would write, tried against the installed chart: RBAC allows
/// create and patch on every Secret, the ValidatingAdmissionPolicy refuses all but the operator's
/// own kind of Secret (Opaque, controlled by an ExternalApplication).
#[tokio::test]
async fn chart_secret_write_policy_refuses_what_a_stolen_token_would_write() {
    let client = common::client().await;
    let ns = common::namespace(&client, "chart-vap").await;
    let other = common::namespace(&client, "chart-vap-other").await;
    let release = "applink";
    install(release, &ns, &[]);
    let fullname = "applink-applink-operator";
    let dir = tempfile::tempdir().unwrap();
    let kc = service_account_kubeconfig(dir.path(), &ns, fullname);
    assert_can(
        &kc,
        &["create secrets", "patch secrets"],
        &["-n", &other],
        true,
    );

    let token = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: minted\n  annotations: {kubernetes.io/service-account.name: default}\ntype: kubernetes.io/service-account-token\n";
    const NO_TOKEN: &str = "never a service-account token";
    // The API server loads a new policy asynchronously; until it does, only server-side dry
    // runs are tried (they pass admission but store nothing).
    poll(
        "the policy refuses a service-account-token Secret",
        Duration::from_secs(60),
        || {
            let out = kubectl_file_as(
                &kc,
                dir.path(),
                token,
                &["create", "--dry-run=server", "-n", &other],
            );
            !out.ok && out.stderr.contains(NO_TOKEN)
        },
    );
    let out = kubectl_file_as(&kc, dir.path(), token, &["create", "-n", &other]);
    assert_refused_by_policy(&out, NO_TOKEN, "a token Secret in a tenant namespace");
    assert!(!exists(&["secret", "minted", "-n", &other]));
    let out = kubectl_file_as(
        &kc,
        dir.path(),
        token,
        &["create", "--dry-run=server", "-n", "kube-system"],
    );
    assert_refused_by_policy(&out, NO_TOKEN, "a token Secret in kube-system");

    let plain = "apiVersion: v1\nkind: Secret\nmetadata: {name: plain}\nstringData: {a: b}\n";
    let out = kubectl_file_as(&kc, dir.path(), plain, &["create", "-n", &other]);
    assert_refused_by_policy(
        &out,
        "controlled by an ExternalApplication",
        "an Opaque Secret without owner",
    );

    // What the operator writes: an Opaque Secret controlled by a (real) ExternalApplication.
    let example = common::repo_path("examples/external/che-bitbucket-oauth1.yaml");
    kubectl_ok(&["apply", "-n", &other, "-f", example.to_str().unwrap()]);
    let owner = kubectl_json(&["get", "externalapplication", "che-oauth1", "-n", &other]);
    let owned = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: delivered\n  labels: {{applinks.io/external-application: che-oauth1}}\n  ownerReferences:\n  - {{apiVersion: applinks.io/v1alpha1, kind: ExternalApplication, name: che-oauth1, uid: {}, controller: true, blockOwnerDeletion: true}}\ntype: Opaque\nstringData: {{consumer.key: eclipse-che}}\n",
        owner["metadata"]["uid"].as_str().unwrap()
    );
    let out = kubectl_file_as(&kc, dir.path(), &owned, &["create", "-n", &other]);
    assert!(out.ok, "the operator's own kind of Secret: {}", out.stderr);
    // Kept current the ways the operator does: server-side apply, and a merge patch.
    let out = kubectl_file_as(
        &kc,
        dir.path(),
        &owned.replace("eclipse-che", "eclipse-che-2"),
        &[
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=applink-operator",
            "-n",
            &other,
        ],
    );
    assert!(
        out.ok,
        "server-side apply of its own Secret: {}",
        out.stderr
    );
    let patch = |name: &str, body: &str| {
        kubectl_as(
            &kc,
            &[
                "patch",
                "secret",
                name,
                "-n",
                &other,
                "--type=merge",
                "-p",
                body,
            ],
        )
    };
    let out = patch("delivered", r#"{"data":{"consumer.key":null}}"#);
    assert!(out.ok, "a merge patch of its own Secret: {}", out.stderr);

    // Someone else's Secret: not rewritten, not taken over by adding the owner.
    kubectl_ok(&[
        "create",
        "secret",
        "generic",
        "foreign",
        "-n",
        &other,
        "--from-literal=password=p",
    ]);
    let out = patch("foreign", r#"{"stringData":{"password":"mine"}}"#);
    // (No owner in the result either: whichever rule the API server reports first.)
    assert_refused_by_policy(&out, "the applink-operator", "rewriting a foreign Secret");
    let take_over = format!(
        r#"{{"metadata":{{"ownerReferences":[{{"apiVersion":"applinks.io/v1alpha1","kind":"ExternalApplication","name":"che-oauth1","uid":"{}","controller":true}}]}}}}"#,
        owner["metadata"]["uid"].as_str().unwrap()
    );
    let out = patch("foreign", &take_over);
    assert_refused_by_policy(&out, "already controls", "taking a foreign Secret over");
    let foreign = kubectl_json(&["get", "secret", "foreign", "-n", &other]);
    assert_eq!(foreign["data"]["password"], "cA==", "unchanged: {foreign}");
    assert!(foreign["metadata"].get("ownerReferences").is_none());

    // The control: without the policy the same token does mint a service-account token (this
    // control plane runs the token controller), so the refusals above are the policy's doing.
    let chart = chart_dir();
    helm_ok(&[
        "upgrade",
        release,
        chart.as_str(),
        "--namespace",
        &ns,
        "--reuse-values",
        "--set",
        "rbac.secretWritePolicy=false",
        "--wait=false",
    ]);
    poll("the policy gone", Duration::from_secs(60), || {
        kubectl_file_as(
            &kc,
            dir.path(),
            token,
            &["create", "--dry-run=server", "-n", &other],
        )
        .ok
    });
    let out = kubectl_file_as(&kc, dir.path(), token, &["create", "-n", &other]);
    assert!(out.ok, "{}", out.stderr);
    poll(
        "the token controller fills the minted Secret",
        Duration::from_secs(60),
        || {
            kubectl_json(&["get", "secret", "minted", "-n", &other])["data"]["token"]
                .as_str()
                .is_some_and(|t| !t.is_empty())
        },
    );
    kubectl_ok(&["delete", "secret", "minted", "-n", &other]);

    helm_ok(&["uninstall", release, "--namespace", &ns, "--timeout", "60s"]);
    assert!(!exists(&[
        "validatingadmissionpolicy",
        &format!("{ns}-{fullname}-secret-writes")
    ]));
}

/// rbac.secretNamespaces installed: the operator's token reads and writes Secrets in the listed
/// namespace only, kube-system included in what it cannot; the tenants' built-in edit and view
/// roles gain the applinks.io kinds (never their status).
#[tokio::test]
async fn chart_installs_with_listed_secret_namespaces_and_tenant_roles() {
    let client = common::client().await;
    let ns = common::namespace(&client, "chart-listed").await;
    let team = common::namespace(&client, "chart-listed-team").await;
    let other = common::namespace(&client, "chart-listed-other").await;
    let release = "applink-operator";
    install(
        release,
        &ns,
        &[&format!("rbac.secretNamespaces={{{}}}", team.as_str())],
    );
    let fullname = "applink-operator";
    assert!(exists(&["role", "applink-operator-secrets", "-n", &team]));
    assert!(!exists(&["role", "applink-operator-secrets", "-n", &other]));

    let dir = tempfile::tempdir().unwrap();
    let kc = service_account_kubeconfig(dir.path(), &ns, fullname);
    let (on_secrets, on_kinds): (Vec<&str>, Vec<&str>) = ALLOWED
        .iter()
        .copied()
        .partition(|c| c.ends_with(" secrets") || c.ends_with(" configmaps"));
    assert_can(&kc, ALLOWED, &["-n", &team], true);
    assert_can(&kc, DENIED, &["-n", &team], false);
    for scope in [
        &["-n", other.as_str()][..],
        &["-n", ns.as_str()],
        &["-n", "kube-system"],
    ] {
        assert_can(&kc, &on_kinds, scope, true);
        assert_can(&kc, &on_secrets, scope, false);
        assert_can(&kc, DENIED, scope, false);
    }
    assert_can(
        &kc,
        &["get secrets", "create secrets"],
        &["--all-namespaces"],
        false,
    );

    // Tenants. The built-in roles select the chart's by label (their aggregationRule, as this
    // API server serves it): view's rules reach view, edit and admin; edit's reach edit and admin.
    let cluster_role = |name: &str| kubectl_json(&["get", "clusterrole", name]);
    let ours = |suffix: &str| format!("{}-{fullname}-{suffix}", ns.as_str());
    let (view, edit) = (cluster_role(&ours("view")), cluster_role(&ours("edit")));
    let selects = |builtin: &str, role: &Value| -> bool {
        cluster_role(builtin)["aggregationRule"]["clusterRoleSelectors"]
            .as_array()
            .unwrap_or_else(|| panic!("{builtin} is an aggregated role"))
            .iter()
            .any(|sel| {
                sel.get("matchExpressions").is_none()
                    && sel["matchLabels"]
                        .as_object()
                        .is_some_and(|m| m.iter().all(|(k, v)| role["metadata"]["labels"][k] == *v))
            })
    };
    for builtin in ["view", "edit", "admin"] {
        assert!(
            selects(builtin, &view),
            "{builtin} aggregates the view role"
        );
        assert_eq!(
            selects(builtin, &edit),
            builtin != "view",
            "{builtin} aggregates the edit role only if it may write"
        );
    }
    // What they grant, bound as a tenant's built-in role would carry them. (This control plane
    // runs no clusterrole-aggregation controller, which fills the built-in roles on a real
    // cluster: the chart's roles are bound directly.)
    for (binding, role, user) in [
        ("dev-view", "view", "tenant-dev"),
        ("dev-edit", "edit", "tenant-dev"),
        ("viewer", "view", "tenant-viewer"),
    ] {
        kubectl_ok(&[
            "create",
            "rolebinding",
            binding,
            &format!("--clusterrole={}", ours(role)),
            &format!("--user={user}"),
            "-n",
            &team,
        ]);
    }
    let admin = admin_kubeconfig();
    let as_user = |user: &str, checks: &[&str]| -> Vec<String> {
        checks.iter().map(|c| format!("{c} --as={user}")).collect()
    };
    let kinds = [
        "applicationinstances.applinks.io",
        "applicationlinks.applinks.io",
        "externalapplications.applinks.io",
    ];
    let verbs_on_kinds = |verbs: &[&str], sub: &str| -> Vec<String> {
        kinds
            .iter()
            .flat_map(|k| verbs.iter().map(move |v| format!("{v} {k}{sub}")))
            .collect()
    };
    let check = |user: &str, checks: Vec<String>, scope: &[&str], expected: bool| {
        let checks: Vec<String> =
            as_user(user, &checks.iter().map(String::as_str).collect::<Vec<_>>());
        assert_can(
            &admin,
            &checks.iter().map(String::as_str).collect::<Vec<_>>(),
            scope,
            expected,
        );
    };
    // The API server's RBAC cache sees new bindings a moment later.
    poll(
        "the tenants' bindings in effect",
        Duration::from_secs(30),
        || {
            can_i(
                &admin,
                "create applicationlinks.applinks.io --as=tenant-dev",
                &["-n", &team],
            ) && can_i(
                &admin,
                "list applicationlinks.applinks.io --as=tenant-viewer",
                &["-n", &team],
            )
        },
    );
    let status = verbs_on_kinds(&["patch", "update"], " --subresource=status");
    check(
        "tenant-dev",
        verbs_on_kinds(
            &[
                "get", "list", "watch", "create", "update", "patch", "delete",
            ],
            "",
        ),
        &["-n", &team],
        true,
    );
    check("tenant-dev", status.clone(), &["-n", &team], false);
    check(
        "tenant-dev",
        verbs_on_kinds(&["get", "create"], ""),
        &["-n", &other],
        false,
    );
    check(
        "tenant-viewer",
        verbs_on_kinds(&["get", "list", "watch"], ""),
        &["-n", &team],
        true,
    );
    check(
        "tenant-viewer",
        verbs_on_kinds(&["create", "patch", "delete"], ""),
        &["-n", &team],
        false,
    );
    check("tenant-viewer", status, &["-n", &team], false);

    helm_ok(&["uninstall", release, "--namespace", &ns, "--timeout", "60s"]);
    assert!(!exists(&["role", "applink-operator-secrets", "-n", &team]));
    assert!(!exists(&["clusterrole", &format!("{ns}-{fullname}-edit")]));
}

/// The operator binary, all namespaces, as the ServiceAccount of a listed-Secret-namespaces
/// install: an instance in the listed namespace reads its Secret and ConfigMap; one elsewhere
/// is told, in its Ready condition, that its Secret is forbidden, and the operator runs on.
#[tokio::test]
async fn chart_listed_secret_namespaces_suffice_for_the_operator_binary_and_stop_it_elsewhere() {
    let client = common::client().await;
    let ns = common::namespace(&client, "chart-lrun").await;
    let team = common::namespace(&client, "chart-lrun-team").await;
    let other = common::namespace(&client, "chart-lrun-other").await;
    let release = "applink-operator";
    install(
        release,
        &ns,
        &[
            &format!("rbac.secretNamespaces={{{}}}", team.as_str()),
            "instanceCheckInterval=10s",
        ],
    );
    let d = kubectl_json(&["get", "deployment", release, "-n", &ns]);
    let dir = tempfile::tempdir().unwrap();
    let kc = service_account_kubeconfig(dir.path(), &ns, release);
    // Cluster-wide, so only this test's objects: a shard of its own.
    let shard = team.as_str();
    let url = "http://127.0.0.1:9/jira";
    let manifests = format!(
        r#"
apiVersion: v1
kind: Secret
metadata:
  name: admin
  annotations: {{applinks.io/allowed-urls: "{url}"}}
stringData: {{username: admin, password: admin}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: ca}}
data: {{ca.crt: "not a certificate"}}
---
apiVersion: applinks.io/v1alpha1
kind: ApplicationInstance
metadata:
  name: jira
  labels: {{sharding.applinks.io/key: {shard}}}
spec:
  url: {url}
  type: jira
  credentialsSecretRef: {{name: admin}}
  tls: {{caConfigMapRef: {{name: ca}}}}
"#
    );
    for n in [&team, &other] {
        let out = kubectl_file_as(
            &admin_kubeconfig(),
            dir.path(),
            &manifests,
            &["apply", "-n", n],
        );
        assert!(out.ok, "{}", out.stderr);
    }
    let log = dir.path().join("operator.log");
    let selector = format!("--watch-label-selector=sharding.applinks.io/key={shard}");
    let mut operator = spawn_operator_as(&kc, &d, &log, "applink-operator-listed", &[&selector]);
    let ready = |n: &str| -> Option<Value> {
        kubectl_json(&["get", "applicationinstance", "jira", "-n", n])["status"]["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready").cloned())
    };
    let within = Duration::from_secs(60);
    poll("both instances' Ready written", within, || {
        ready(&team).is_some() && ready(&other).is_some()
    });
    let listed = ready(&team).unwrap();
    let reason = listed["reason"].as_str().unwrap_or_default();
    assert!(
        ![
            "KubernetesApiError",
            "SecretNotFound",
            "SecretIncomplete",
            "CaBundleNotFound"
        ]
        .contains(&reason),
        "the Secret and ConfigMap of the listed namespace were read: {listed}"
    );
    let unlisted = ready(&other).unwrap();
    assert_eq!(unlisted["status"], "False", "{unlisted}");
    assert_eq!(unlisted["reason"], "KubernetesApiError", "{unlisted}");
    assert!(
        unlisted["message"]
            .as_str()
            .unwrap_or_default()
            .contains("forbidden"),
        "the message says the Secret is forbidden: {unlisted}"
    );
    assert!(
        operator.0.try_wait().unwrap().is_none(),
        "the operator runs on: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    drop(operator);

    helm_ok(&["uninstall", release, "--namespace", &ns, "--timeout", "60s"]);
}

/// The operator process; killed when dropped, also when the test fails.
struct OperatorProcess(std::process::Child);

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The operator binary as the ServiceAccount of `kc`, with the Deployment's arguments (the health
/// endpoint on a free loopback port) and `extra` ones, logging to `log`.
fn spawn_operator_as(
    kc: &Path,
    d: &Value,
    log: &Path,
    pod_name: &str,
    extra: &[&str],
) -> OperatorProcess {
    OperatorProcess(
        Command::new(env!("CARGO_BIN_EXE_applink-operator"))
            .args(args(d).into_iter().map(|a| {
                if a.starts_with("--health-addr=") {
                    "--health-addr=127.0.0.1:0".to_string()
                } else {
                    a
                }
            }))
            .args(extra)
            .env("KUBECONFIG", kc)
            .env("POD_NAME", pod_name)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(log).unwrap())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .expect("the operator binary starts"),
    )
}

/// The strongest check of the RBAC: the operator binary itself, run with the installed
/// Deployment's arguments as the chart's ServiceAccount (a token, no admin rights), reads a Secret
/// and a ConfigMap, writes instance and link status, adds and removes its finalizer and publishes
/// Events, without one "forbidden" in its log.
#[tokio::test]
async fn chart_rbac_suffices_for_the_operator_binary() {
    let client = common::client().await;
    let ns = common::namespace(&client, "chart-run").await;
    let team = common::namespace(&client, "chart-run-team").await;
    let release = "applink-operator";
    install(
        release,
        &ns,
        &[
            &format!("watchNamespace={team}"),
            "instanceCheckInterval=10s",
        ],
    );
    let d = kubectl_json(&["get", "deployment", release, "-n", &ns]);
    let dir = tempfile::tempdir().unwrap();
    let kc = service_account_kubeconfig(dir.path(), &ns, release);

    let manifests = r#"
apiVersion: v1
kind: Secret
metadata: {name: admin, annotations: {applinks.io/allowed-urls: "http://127.0.0.1:9/jira"}}
stringData: {username: admin, password: admin}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: ca}
data: {ca.crt: "not a certificate"}
---
apiVersion: applinks.io/v1alpha1
kind: ApplicationInstance
metadata: {name: jira}
spec:
  url: http://127.0.0.1:9/jira
  type: jira
  credentialsSecretRef: {name: admin}
  tls: {caConfigMapRef: {name: ca}}
---
apiVersion: applinks.io/v1alpha1
kind: ApplicationLink
metadata: {name: status-page}
spec:
  source: {instanceRef: {name: jira}}
  target: {url: "http://127.0.0.1:9/status", type: generic}
  authentication: None
  deletionPolicy: Orphan
"#;
    let file = dir.path().join("objects.yaml");
    std::fs::write(&file, manifests).unwrap();
    kubectl_ok(&["apply", "-n", &team, "-f", file.to_str().unwrap()]);

    let log = dir.path().join("operator.log");
    let pod_name = "applink-operator-chart-test";
    let _operator = spawn_operator_as(&kc, &d, &log, pod_name, &[]);
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    let get = |what: &str, name: &str| kubectl_json(&["get", what, name, "-n", &team]);
    let event_from_operator = |reason: Option<&str>| {
        kubectl_json(&["get", "events.events.k8s.io", "-n", &team])["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["reportingInstance"] == pod_name && reason.is_none_or(|r| e["reason"] == r))
    };
    let within = Duration::from_secs(60);

    poll("the instance's Ready condition written", within, || {
        get("applicationinstance", "jira")["status"]["conditions"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready"))
    });
    poll("the link's finalizer added", within, || {
        get("applicationlink", "status-page")["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| f.contains(&json!("applinks.io/cleanup")))
    });
    poll(
        "an Event published with POD_NAME as reporting instance",
        within,
        || event_from_operator(None),
    );
    let ready = get("applicationinstance", "jira")["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .cloned()
        .unwrap();
    assert_eq!(
        ready["status"], "False",
        "nothing listens on port 9: {ready}"
    );
    // Past the Secret and the ConfigMap: both were read (the CA bundle is then refused for its
    // content, "CaBundleInvalid": no PEM certificate in it), not refused by the API server.
    let reason = ready["reason"].as_str().unwrap_or_default();
    assert!(
        ![
            "KubernetesApiError",
            "SecretNotFound",
            "SecretIncomplete",
            "CaBundleNotFound",
        ]
        .contains(&reason),
        "the operator could not read what the instance references: {ready}"
    );

    // Deletion with deletionPolicy Orphan: the operator removes its finalizer itself.
    kubectl_ok(&[
        "delete",
        "applicationlink",
        "status-page",
        "-n",
        &team,
        "--wait=false",
    ]);
    poll("the link deleted (finalizer removed)", within, || {
        !exists(&["applicationlink", "status-page", "-n", &team])
    });
    poll("the Orphaned Event published", within, || {
        event_from_operator(Some("Orphaned"))
    });
    drop(_operator);
    let text = log_text();
    assert!(
        !text.to_lowercase().contains("forbidden"),
        "the operator was refused something with the chart's RBAC:\n{text}"
    );
    assert!(text.contains("starting applink-operator"), "{text}");

    helm_ok(&["uninstall", release, "--namespace", &ns, "--timeout", "60s"]);
}

#[test]
fn chart_renders_leader_election_when_enabled() {
    let docs = render("ops", &["leaderElection.enabled=true", "replicaCount=2"]);
    let leases: Vec<&Value> = docs
        .iter()
        .filter(|d| {
            d["kind"] == "Role"
                && d["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.ends_with("-leader-election"))
        })
        .collect();
    assert_eq!(leases.len(), 1, "one Role for the Lease");
    assert_eq!(
        leases[0]["metadata"]["namespace"], "ops",
        "in the release namespace"
    );
    let expected: BTreeSet<(String, String, String)> = ["get", "create", "update"]
        .iter()
        .map(|v| {
            (
                "coordination.k8s.io".to_string(),
                "leases".to_string(),
                v.to_string(),
            )
        })
        .collect();
    assert_eq!(grants(leases[0]), expected, "exactly the Lease verbs");
    assert!(docs.iter().any(
        |d| d["kind"] == "RoleBinding" && d["roleRef"]["name"] == leases[0]["metadata"]["name"]
    ));
    let d = one(&docs, "Deployment");
    assert_eq!(d["spec"]["replicas"], 2);
    assert_eq!(d["spec"]["strategy"]["type"], "RollingUpdate");
    let a = args(d);
    assert!(
        a.contains(&"--leader-election".to_string())
            && a.contains(&"--leader-election-namespace=ops".to_string()),
        "{a:?}"
    );
    // The deadlines reach the operator: the defaults, and what a value sets.
    for flag in [
        "--leader-election-lease-duration=15s",
        "--leader-election-renew-deadline=10s",
        "--leader-election-retry-period=2s",
    ] {
        assert!(a.contains(&flag.to_string()), "{flag}: {a:?}");
    }
    let tuned = render(
        "ops",
        &[
            "leaderElection.enabled=true",
            "leaderElection.leaseDuration=30s",
            "leaderElection.renewDeadline=20s",
        ],
    );
    let a = args(one(&tuned, "Deployment"));
    assert!(
        a.contains(&"--leader-election-lease-duration=30s".to_string())
            && a.contains(&"--leader-election-renew-deadline=20s".to_string()),
        "{a:?}"
    );
    let err = try_render(
        "ops",
        &[
            "leaderElection.enabled=true",
            "leaderElection.renewDeadline=ten",
        ],
    )
    .expect_err("a duration that is not one");
    assert!(err.contains("renewDeadline"), "{err}");
    // Without it, more than one replica is refused: both would reconcile.
    let err =
        try_render("ops", &["replicaCount=2"]).expect_err("two replicas without leader election");
    assert!(err.contains("leaderElection.enabled"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Metrics, alerts, availability, network, proxy, labels, extra objects, hooks, ArtifactHub

fn named<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

const MONITORING_APIS: [&str; 6] = [
    "--api-versions",
    "monitoring.coreos.com/v1/ServiceMonitor",
    "--api-versions",
    "monitoring.coreos.com/v1/PodMonitor",
    "--api-versions",
    "monitoring.coreos.com/v1/PrometheusRule",
];

#[test]
fn chart_renders_a_metrics_service_and_monitors_only_when_their_crds_exist() {
    let docs = render("ops", &[]);
    let svc = one(&docs, "Service");
    let d = one(&docs, "Deployment");
    assert_eq!(svc["metadata"]["name"], "rel-applink-operator-metrics");
    assert_eq!(
        svc["spec"]["selector"], d["spec"]["selector"]["matchLabels"],
        "selects the operator's pods"
    );
    assert_eq!(
        svc["spec"]["ports"],
        json!([{"name": "metrics", "port": 8080, "targetPort": "health", "protocol": "TCP"}])
    );
    for kind in ["ServiceMonitor", "PodMonitor", "PrometheusRule"] {
        assert!(named(&docs, kind).is_empty(), "no {kind} without its CRD");
    }

    // The cluster serves the Prometheus Operator's CRDs: ServiceMonitor and PrometheusRule.
    let docs = try_render_with("ops", &[], &MONITORING_APIS).unwrap();
    let sm = one(&docs, "ServiceMonitor");
    assert_eq!(sm["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(
        sm["spec"]["selector"]["matchLabels"],
        one(&docs, "Deployment")["spec"]["selector"]["matchLabels"]
    );
    let svc = one(&docs, "Service");
    for (k, v) in sm["spec"]["selector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(&svc["metadata"]["labels"][k], v, "the Service carries {k}");
    }
    assert_eq!(
        sm["spec"]["namespaceSelector"]["matchNames"],
        json!(["ops"])
    );
    assert_eq!(sm["spec"]["endpoints"][0]["port"], "metrics");
    assert_eq!(sm["spec"]["endpoints"][0]["path"], "/metrics");
    assert_eq!(
        sm["spec"]["endpoints"][0]["honorLabels"], true,
        "the objects' namespace label is kept"
    );
    assert!(
        named(&docs, "PodMonitor").is_empty(),
        "PodMonitor is opt-in"
    );
    one(&docs, "PrometheusRule");

    // Disabled: not rendered even when the CRDs exist.
    let docs = try_render_with(
        "ops",
        &[
            "metrics.serviceMonitor.enabled=false",
            "metrics.prometheusRule.enabled=false",
        ],
        &MONITORING_APIS,
    )
    .unwrap();
    assert!(named(&docs, "ServiceMonitor").is_empty() && named(&docs, "PrometheusRule").is_empty());

    // Forced: rendered without the CRDs (helm template for GitOps); the PodMonitor targets the
    // container port by name.
    let docs = render(
        "ops",
        &[
            "metrics.podMonitor.enabled=true",
            "metrics.podMonitor.force=true",
            "metrics.serviceMonitor.force=true",
            "metrics.prometheusRule.force=true",
        ],
    );
    let pm = one(&docs, "PodMonitor");
    assert_eq!(pm["spec"]["podMetricsEndpoints"][0]["port"], "health");
    assert_eq!(
        container(one(&docs, "Deployment"))["ports"][0]["name"],
        "health"
    );
    one(&docs, "ServiceMonitor");
    one(&docs, "PrometheusRule");
    // A ServiceMonitor without the Service it scrapes is refused.
    let err = try_render(
        "ops",
        &[
            "metrics.service.enabled=false",
            "metrics.serviceMonitor.force=true",
        ],
    )
    .expect_err("ServiceMonitor without Service");
    assert!(err.contains("metrics.service.enabled"), "{err}");
}

#[test]
fn chart_alerts_name_the_object_and_query_only_exported_metrics() {
    let docs = render("ops", &["metrics.prometheusRule.force=true"]);
    let rule = one(&docs, "PrometheusRule");
    let rules = rule["spec"]["groups"][0]["rules"].as_array().unwrap();
    let alerts: BTreeSet<&str> = rules.iter().map(|r| r["alert"].as_str().unwrap()).collect();
    assert_eq!(
        alerts,
        [
            "ApplicationCredentialsRejected",
            "ApplicationInstanceNotReady",
            "ApplicationLinkNotReady",
            "ApplicationUnreachable",
            "ApplinkOperatorAbsent",
            "ApplinkOperatorDown",
            "ApplinkOperatorNotReady",
            "ApplinkReconcileErrors",
            "ClusterApplicationInstanceNotReady",
            "ExternalApplicationNotReady",
        ]
        .into()
    );
    for r in rules {
        let expr = r["expr"].as_str().unwrap();
        for metric in metric_names(expr) {
            assert!(
                metric == "up" || exported(&metric),
                "{} queries {metric}, which the operator does not export",
                r["alert"]
            );
        }
        // This release's series only: the job of its ServiceMonitor or PodMonitor.
        assert!(
            expr.contains("job=~\"rel-applink-operator-metrics|ops/rel-applink-operator\""),
            "{expr}"
        );
        assert!(r["for"].as_str().is_some_and(|f| !f.is_empty()));
        assert_eq!(r["labels"]["severity"], "warning");
        assert!(r["annotations"]["description"].as_str().is_some());
    }
    let link = rules
        .iter()
        .find(|r| r["alert"] == "ApplicationLinkNotReady")
        .unwrap();
    // Prometheus' own templating survives Helm's, and the alert names the object.
    assert!(
        link["annotations"]["summary"]
            .as_str()
            .unwrap()
            .contains("{{ with $labels.namespace }}{{ . }}/{{ end }}{{ $labels.name }}")
    );
    // Without honorLabels the object's namespace is exported_namespace.
    let docs = render(
        "ops",
        &[
            "metrics.prometheusRule.force=true",
            "metrics.honorLabels=false",
            "metrics.prometheusRule.selector=job=\"mine\"",
        ],
    );
    let rule = one(&docs, "PrometheusRule");
    let link = &rule["spec"]["groups"][0]["rules"][0];
    assert!(
        link["annotations"]["summary"]
            .as_str()
            .unwrap()
            .contains("{{ with $labels.exported_namespace }}{{ . }}/{{ end }}{{ $labels.name }}"),
        "{link}"
    );
    assert!(link["expr"].as_str().unwrap().contains("{job=\"mine\","));
}

/// The metric names a PromQL expression reads (ours start with `applink_`; `up` is
/// Prometheus').
fn metric_names(expr: &str) -> BTreeSet<String> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    expr.split(|c: char| !word(c))
        .filter(|w| w.starts_with("applink_") || *w == "up")
        .map(str::to_string)
        .collect()
}

/// Whether the operator exports `name` (a histogram's series end in _bucket, _sum, _count).
fn exported(name: &str) -> bool {
    let base = ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name);
    applink_operator::metrics::EXPORTED
        .iter()
        .any(|m| *m == name || *m == base)
}

/// `promtool test rules` (Prometheus' evaluator, built from Go modules by e2e/build-tool.sh and
/// cached) on the rendered rules: e2e/alerts/rules-test.yaml says when each alert fires.
#[test]
fn chart_alerts_pass_promtool_unit_tests() {
    let out = std::process::Command::new(common::repo_path("e2e/build-tool.sh"))
        .arg("promtool")
        .output()
        .expect("e2e/build-tool.sh runs");
    assert!(
        out.status.success(),
        "building promtool failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let promtool = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let docs = render("ops", &["metrics.prometheusRule.force=true"]);
    let rule = one(&docs, "PrometheusRule");
    let dir = tempfile::tempdir().unwrap();
    let rules = json!({"groups": rule["spec"]["groups"]});
    std::fs::write(
        dir.path().join("rules.yaml"),
        serde_yaml::to_string(&rules).unwrap(),
    )
    .unwrap();
    let test = dir.path().join("rules-test.yaml");
    std::fs::copy(common::repo_path("e2e/alerts/rules-test.yaml"), &test).unwrap();
    for args in [
        vec!["check", "rules", "rules.yaml"],
        vec!["test", "rules", "rules-test.yaml"],
    ] {
        let out = std::process::Command::new(&promtool)
            .args(&args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {}:\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn chart_dashboard_is_opt_in_parses_and_queries_only_exported_metrics() {
    assert!(named(&render("ops", &[]), "ConfigMap").iter().all(|c| {
        !c["metadata"]["name"]
            .as_str()
            .unwrap()
            .ends_with("-dashboard")
    }));
    let docs = render(
        "ops",
        &[
            "metrics.dashboard.enabled=true",
            "metrics.dashboard.namespace=monitoring",
        ],
    );
    let cm = named(&docs, "ConfigMap")
        .into_iter()
        .find(|c| c["metadata"]["name"] == "rel-applink-operator-dashboard")
        .expect("the dashboard ConfigMap");
    assert_eq!(cm["metadata"]["namespace"], "monitoring");
    assert_eq!(
        cm["metadata"]["labels"]["grafana_dashboard"], "1",
        "the sidecar's label"
    );
    let dashboard: Value =
        serde_json::from_str(cm["data"]["applink-operator.json"].as_str().unwrap())
            .expect("the dashboard is JSON");
    let panels = dashboard["panels"].as_array().unwrap();
    let mut queried = BTreeSet::new();
    for p in panels {
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{} has a query", p["title"]);
        for t in targets {
            let expr = t["expr"].as_str().unwrap();
            let names = metric_names(expr);
            assert!(!names.is_empty(), "{expr}");
            for m in names {
                assert!(
                    m == "up" || exported(&m),
                    "{} queries {m}, not exported",
                    p["title"]
                );
                queried.insert(m);
            }
        }
    }
    // What the issue asks the dashboard to show.
    for m in [
        "applink_applicationlink_health",
        "applink_remote_requests_total",
        "applink_remote_request_duration_seconds_bucket",
        "applink_reconciles_total",
        "applink_time_to_ready_seconds_bucket",
    ] {
        assert!(queried.contains(m), "the dashboard shows {m}");
    }
}

#[test]
fn chart_renders_a_disruption_budget_and_spread_only_with_more_than_one_replica() {
    let docs = render("ops", &[]);
    assert!(named(&docs, "PodDisruptionBudget").is_empty());
    assert!(
        one(&docs, "Deployment")["spec"]["template"]["spec"]
            .get("topologySpreadConstraints")
            .is_none()
    );
    let docs = render("ops", &["leaderElection.enabled=true", "replicaCount=2"]);
    let pdb = one(&docs, "PodDisruptionBudget");
    let d = one(&docs, "Deployment");
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert_eq!(
        pdb["spec"]["selector"]["matchLabels"],
        d["spec"]["selector"]["matchLabels"]
    );
    let spread = d["spec"]["template"]["spec"]["topologySpreadConstraints"]
        .as_array()
        .unwrap();
    assert_eq!(spread.len(), 2);
    assert_eq!(spread[0]["topologyKey"], "kubernetes.io/hostname");
    assert_eq!(spread[0]["whenUnsatisfiable"], "ScheduleAnyway");
    assert_eq!(
        spread[0]["labelSelector"]["matchLabels"],
        d["spec"]["selector"]["matchLabels"]
    );
    let docs = render(
        "ops",
        &[
            "leaderElection.enabled=true",
            "replicaCount=3",
            "podDisruptionBudget.maxUnavailable=1",
            "topologySpreadConstraints[0].maxSkew=1",
            "topologySpreadConstraints[0].topologyKey=topology.kubernetes.io/zone",
            "topologySpreadConstraints[0].whenUnsatisfiable=DoNotSchedule",
        ],
    );
    let pdb = one(&docs, "PodDisruptionBudget");
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
    assert!(pdb["spec"].get("minAvailable").is_none());
    assert_eq!(
        one(&docs, "Deployment")["spec"]["template"]["spec"]["topologySpreadConstraints"],
        json!([{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule"}])
    );
    let docs = render(
        "ops",
        &[
            "leaderElection.enabled=true",
            "replicaCount=2",
            "podDisruptionBudget.enabled=false",
        ],
    );
    assert!(named(&docs, "PodDisruptionBudget").is_empty());
}

#[test]
fn chart_renders_an_optional_network_policy() {
    assert!(named(&render("ops", &[]), "NetworkPolicy").is_empty());
    let docs = render(
        "ops",
        &[
            "networkPolicy.enabled=true",
            "networkPolicy.apiServer.cidrs[0]=10.0.0.1/32",
            "networkPolicy.applications[0].name=jira",
            "networkPolicy.applications[0].cidr=10.1.2.3/32",
            "networkPolicy.applications[1].cidr=10.9.0.0/16",
            "networkPolicy.applications[1].ports[0]=8090",
            "networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.name=monitoring",
        ],
    );
    let np = one(&docs, "NetworkPolicy");
    let d = one(&docs, "Deployment");
    assert_eq!(
        np["spec"]["podSelector"]["matchLabels"],
        d["spec"]["selector"]["matchLabels"]
    );
    assert_eq!(np["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
    assert_eq!(
        np["spec"]["ingress"],
        json!([{"ports": [{"port": "health", "protocol": "TCP"}],
                "from": [{"namespaceSelector": {"matchLabels": {"name": "monitoring"}}}]}])
    );
    let egress = np["spec"]["egress"].as_array().unwrap();
    assert_eq!(
        egress.len(),
        4,
        "API server, DNS, two applications: {egress:?}"
    );
    assert_eq!(
        egress[0],
        json!({"ports": [{"port": 443, "protocol": "TCP"}, {"port": 6443, "protocol": "TCP"}],
               "to": [{"ipBlock": {"cidr": "10.0.0.1/32"}}]})
    );
    assert_eq!(
        egress[1]["ports"][0],
        json!({"port": 53, "protocol": "UDP"})
    );
    assert_eq!(
        egress[1]["to"][0]["podSelector"]["matchLabels"]["k8s-app"],
        "kube-dns"
    );
    assert_eq!(
        egress[2],
        json!({"to": [{"ipBlock": {"cidr": "10.1.2.3/32"}}], "ports": [{"port": 443, "protocol": "TCP"}]})
    );
    assert_eq!(
        egress[3],
        json!({"to": [{"ipBlock": {"cidr": "10.9.0.0/16"}}], "ports": [{"port": 8090, "protocol": "TCP"}]})
    );
}

#[test]
fn chart_sets_proxy_variables_common_labels_and_extra_objects() {
    let docs = try_render_with(
        "ops",
        &[
            "proxy.httpsProxy=http://proxy.example:3128",
            "proxy.noProxy=10.0.0.1\\,.svc",
            "commonLabels.team=atlassian-admins",
        ],
        &[
            "--set-json",
            r#"extraObjects=[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"{{ .Release.Name }}-extra"},"data":{"k":"v"}},"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Release.Name }}-extra-secret\nstringData: {a: b}"]"#,
        ],
    )
    .unwrap();
    let env = container(one(&docs, "Deployment"))["env"].clone();
    for (k, v) in [
        ("HTTPS_PROXY", "http://proxy.example:3128"),
        ("https_proxy", "http://proxy.example:3128"),
        ("NO_PROXY", "10.0.0.1,.svc"),
        ("no_proxy", "10.0.0.1,.svc"),
    ] {
        assert!(
            env.as_array()
                .unwrap()
                .contains(&json!({"name": k, "value": v})),
            "{k}={v} in {env}"
        );
    }
    assert!(
        !env.to_string().contains("HTTP_PROXY\""),
        "no HTTP_PROXY when only httpsProxy is set: {env}"
    );
    let cm = one(&docs, "ConfigMap");
    assert_eq!(cm["metadata"]["name"], "rel-extra");
    assert_eq!(one(&docs, "Secret")["metadata"]["name"], "rel-extra-secret");
    for d in docs
        .iter()
        .filter(|d| d["kind"] != "ConfigMap" && d["kind"] != "Secret")
    {
        assert_eq!(
            d["metadata"]["labels"]["team"], "atlassian-admins",
            "{} carries commonLabels",
            d["kind"]
        );
    }
    let d = one(&docs, "Deployment");
    assert_eq!(
        d["spec"]["template"]["metadata"]["labels"]["team"],
        "atlassian-admins"
    );
    assert!(
        d["spec"]["selector"]["matchLabels"].get("team").is_none(),
        "the selector (immutable) stays the same"
    );
    // Without proxy settings: no proxy variables at all.
    let env = container(one(&render("ops", &[]), "Deployment"))["env"].to_string();
    assert!(!env.to_lowercase().contains("proxy"), "{env}");
}

#[test]
fn chart_helm_test_hook_checks_the_operator_with_its_own_narrow_rbac() {
    let docs = try_render_with("ops", &[], &[]).unwrap();
    let hooks: Vec<&Value> = docs
        .iter()
        .filter(|d| d["metadata"]["annotations"]["helm.sh/hook"] == "test")
        .collect();
    assert_eq!(
        kinds(&hooks.iter().map(|v| (*v).clone()).collect::<Vec<_>>()),
        ["Pod", "Role", "RoleBinding", "ServiceAccount"]
            .map(String::from)
            .into()
    );
    let pod = hooks.iter().find(|d| d["kind"] == "Pod").unwrap();
    let d = docs
        .iter()
        .find(|d| d["kind"] == "Deployment")
        .expect("the Deployment");
    let c = &pod["spec"]["containers"][0];
    assert_eq!(
        c["image"],
        container(d)["image"],
        "the operator's own image"
    );
    assert_eq!(
        c["args"],
        json!([
            "check",
            "--deployment=rel-applink-operator",
            "--namespace=ops"
        ])
    );
    assert_eq!(pod["spec"]["restartPolicy"], "Never");
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    let role = hooks.iter().find(|d| d["kind"] == "Role").unwrap();
    assert_eq!(
        role["rules"],
        json!([{"apiGroups": ["apps"], "resources": ["deployments"],
                "resourceNames": ["rel-applink-operator"], "verbs": ["get"]}])
    );
    assert_eq!(
        pod["spec"]["serviceAccountName"],
        hooks
            .iter()
            .find(|d| d["kind"] == "ServiceAccount")
            .unwrap()["metadata"]["name"]
    );
    let docs = try_render_with("ops", &["helmTest.enabled=false"], &[]).unwrap();
    assert!(named(&docs, "Pod").is_empty());
}

#[test]
fn chart_artifacthub_annotations_name_the_crds_and_the_image() {
    let chart: Value = serde_yaml::from_str(
        &std::fs::read_to_string(common::repo_path(&format!("{CHART}/Chart.yaml"))).unwrap(),
    )
    .unwrap();
    let values: Value = serde_yaml::from_str(
        &std::fs::read_to_string(common::repo_path(&format!("{CHART}/values.yaml"))).unwrap(),
    )
    .unwrap();
    let ann = &chart["annotations"];
    let images: Value =
        serde_yaml::from_str(ann["artifacthub.io/images"].as_str().unwrap()).unwrap();
    let default_image = format!(
        "{}:{}",
        values["image"]["repository"].as_str().unwrap(),
        chart["appVersion"].as_str().unwrap()
    );
    assert_eq!(images[0]["image"], default_image.as_str());
    // The image e2e/build-image.sh builds carries the operator's version, which is the chart's.
    let cargo = std::fs::read_to_string(common::repo_path("Cargo.toml")).unwrap();
    assert!(
        cargo.contains(&format!("version = {}", chart["appVersion"])),
        "appVersion {} is the crate's version",
        chart["appVersion"]
    );
    let crds: Value = serde_yaml::from_str(ann["artifacthub.io/crds"].as_str().unwrap()).unwrap();
    let mut in_chart = BTreeSet::new();
    for name in CRD_NAMES {
        let crd: Value = serde_yaml::from_str(
            &std::fs::read_to_string(common::repo_path(&format!("{CHART}/crds/{name}.yaml")))
                .unwrap(),
        )
        .unwrap();
        in_chart.insert((
            crd["spec"]["names"]["kind"].as_str().unwrap().to_string(),
            crd["metadata"]["name"].as_str().unwrap().to_string(),
        ));
    }
    let annotated: BTreeSet<(String, String)> = crds
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c["version"], "v1alpha1");
            (
                c["kind"].as_str().unwrap().to_string(),
                c["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(annotated, in_chart);
    let examples: Value =
        serde_yaml::from_str(ann["artifacthub.io/crdsExamples"].as_str().unwrap()).unwrap();
    let kinds: BTreeSet<String> = examples
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        kinds,
        in_chart
            .iter()
            .map(|(k, _)| k.clone())
            .collect::<BTreeSet<_>>()
    );
    assert_eq!(ann["artifacthub.io/operator"], "true");
    let links: Value = serde_yaml::from_str(ann["artifacthub.io/links"].as_str().unwrap()).unwrap();
    let names: Vec<&str> = links
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert!(
        names.iter().any(|n| n.starts_with("Security")),
        "a security report link: {names:?}"
    );
    for field in ["home", "sources", "maintainers", "kubeVersion"] {
        assert!(!chart[field].is_null(), "Chart.yaml has no {field}");
    }
}

#[test]
fn chart_readme_is_generated_from_values() {
    let read = |f: &str| {
        std::fs::read_to_string(common::repo_path(&format!("{CHART}/{f}")))
            .unwrap_or_else(|e| panic!("{f}: {e}"))
    };
    let want = readme::generate(&read("Chart.yaml"), &read("values.yaml"));
    let path = common::repo_path(&format!("{CHART}/README.md"));
    if std::env::var_os("APPLINK_UPDATE_CHART_README").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "{CHART}/README.md is not what values.yaml and Chart.yaml give: regenerate it with \
         APPLINK_UPDATE_CHART_README=1 cargo test --test chart chart_readme"
    );
}

/// One version: Cargo.toml's is the chart's version and appVersion (the image tag), and the
/// changelog has a section for it (e2e/release.sh refuses a release otherwise).
#[test]
fn chart_version_app_version_and_crate_version_are_one() {
    let chart: Value = serde_yaml::from_str(
        &std::fs::read_to_string(common::repo_path(&format!("{CHART}/Chart.yaml"))).unwrap(),
    )
    .unwrap();
    let cargo = std::fs::read_to_string(common::repo_path("Cargo.toml")).unwrap();
    let crate_version = cargo
        .lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .expect("Cargo.toml has a version");
    assert_eq!(
        chart["version"], crate_version,
        "{CHART}/Chart.yaml version must be Cargo.toml's ({crate_version})"
    );
    assert_eq!(
        chart["appVersion"], crate_version,
        "{CHART}/Chart.yaml appVersion must be Cargo.toml's ({crate_version})"
    );
    let changelog = std::fs::read_to_string(common::repo_path("CHANGELOG.md")).unwrap();
    assert!(
        changelog.contains(&format!("## [{crate_version}]")),
        "CHANGELOG.md has no section for {crate_version}"
    );
    assert!(
        chart["kubeVersion"].is_string(),
        "Chart.yaml names the Kubernetes versions it supports"
    );
}

/// The storage-version policy (docs/install.md): every CRD serves its versions with exactly one
/// stored, and that is the version ArtifactHub and the examples name.
#[test]
fn crds_store_exactly_one_version() {
    for name in CRD_NAMES {
        let crd: Value = serde_yaml::from_str(
            &std::fs::read_to_string(common::repo_path(&format!("{CHART}/crds/{name}.yaml")))
                .unwrap(),
        )
        .unwrap();
        let stored: Vec<&str> = crd["spec"]["versions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["storage"] == true)
            .map(|v| v["name"].as_str().unwrap())
            .collect();
        assert_eq!(stored, ["v1alpha1"], "{name} stores {stored:?}");
    }
}

#[test]
fn chart_renders_one_deployment_per_shard() {
    let docs = render(
        "ops",
        &["sharding.shards={eu,us}", "leaderElection.enabled=true"],
    );
    let deployments: Vec<&Value> = docs.iter().filter(|d| d["kind"] == "Deployment").collect();
    let names: Vec<&str> = deployments
        .iter()
        .map(|d| d["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "rel-applink-operator",
            "rel-applink-operator-shard-eu",
            "rel-applink-operator-shard-us"
        ]
    );
    let selector_args = |d: &Value| -> Vec<String> {
        args(d)
            .into_iter()
            .filter(|a| {
                a.starts_with("--watch-label-selector") || a.starts_with("--leader-election-lease=")
            })
            .collect()
    };
    assert_eq!(
        selector_args(deployments[0]),
        ["--watch-label-selector=!sharding.applinks.io/key"]
    );
    assert_eq!(
        selector_args(deployments[1]),
        [
            "--watch-label-selector=sharding.applinks.io/key=eu",
            "--leader-election-lease=rel-applink-operator-shard-eu"
        ]
    );
    // Each shard's pods are its own: its selector does not take the other Deployments' pods.
    for d in &deployments[1..] {
        let sel = &d["spec"]["selector"]["matchLabels"];
        let labels = &d["spec"]["template"]["metadata"]["labels"];
        assert!(sel["applinks.io/shard"].is_string(), "{sel}");
        assert_eq!(sel["applinks.io/shard"], labels["applinks.io/shard"]);
    }
    // Without shards: one Deployment, no selector.
    let plain = render("ops", &[]);
    let d = one(&plain, "Deployment");
    assert!(
        !args(d)
            .iter()
            .any(|a| a.starts_with("--watch-label-selector"))
    );

    for (bad, why) in [
        ("sharding.shards={Upper}", "shards"),
        ("sharding.shards={a,a}", "shards"),
    ] {
        let err = try_render("ops", &[bad]).expect_err(bad);
        assert!(err.contains(why), "{bad}: {err}");
    }
}
