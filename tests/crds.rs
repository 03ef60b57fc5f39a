//! The CRDs against the real kube-apiserver: they install, valid examples are accepted and
//! round-trip, each CEL rule refuses its bad example with its message, and status is written
//! only through the status subresource.

mod common;

use applink_operator::crd::{ApplicationLink, ApplicationLinkStatus};
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

#[tokio::test]
async fn valid_examples_are_accepted_and_round_trip() {
    let client = common::client().await;
    common::install_crds(&client).await;
    let ns = common::namespace(&client, "valid").await;
    let mut files: Vec<_> = ["examples", "examples/external", "examples/layouts"]
        .iter()
        .flat_map(|dir| std::fs::read_dir(common::repo_path(dir)).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 6,
        "examples/ and examples/external hold the valid examples"
    );
    let mut applied = 0;
    for file in &files {
        for doc in common::documents(file) {
            let stored = common::apply(&client, &ns, &doc)
                .await
                .unwrap_or_else(|e| panic!("{} refused: {e}", file.display()));
            let stored = serde_json::to_value(&stored).unwrap();
            let key = if doc["kind"] == "Secret" {
                "stringData"
            } else {
                "spec"
            };
            if key == "spec" {
                assert!(
                    common::contains(&stored["spec"], &doc["spec"]),
                    "{}: spec did not round-trip:\nsent {}\ngot  {}",
                    file.display(),
                    doc["spec"],
                    stored["spec"]
                );
            }
            applied += 1;
        }
    }
    assert!(applied >= 8);
    // Typed round trip: the operator's own types read every stored link back.
    let links: Api<ApplicationLink> = Api::namespaced(client.clone(), &ns);
    let list = links.list(&Default::default()).await.unwrap();
    assert!(list.items.len() >= 4);
    let jc = links.get("jira-confluence").await.unwrap();
    assert_eq!(jc.spec.source.instance_ref.name, "jira");
    assert!(jc.spec.target.primary);
}

/// How many refused manifests `examples/invalid/` holds, at least (README and e2e/README quote
/// the figure).
const MIN_INVALID_EXAMPLES: usize = 50;

/// The one or two documents of an invalid example: an optional first one that is accepted (for
/// updates), then the refused one.
fn before_and_bad(file: &std::path::Path) -> (Option<serde_json::Value>, serde_json::Value) {
    let mut docs = common::documents(file);
    match docs.len() {
        1 => (None, docs.remove(0)),
        2 => {
            let bad = docs.remove(1);
            (Some(docs.remove(0)), bad)
        }
        _ => panic!("{}: one or two documents", file.display()),
    }
}

#[tokio::test]
async fn every_invalid_example_is_refused_with_its_message() {
    // Server-side apply with strict field validation, the way `kubectl apply --server-side` and
    // GitOps tools that use server-side apply send manifests.
    let client = common::client().await;
    common::install_crds(&client).await;
    let ns = common::namespace(&client, "invalid").await;
    let files = common::invalid_examples();
    assert!(
        files.len() >= MIN_INVALID_EXAMPLES,
        "examples/invalid holds at least {MIN_INVALID_EXAMPLES} refused manifests, has {}",
        files.len()
    );
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    let strict = kube::api::PatchParams::apply(common::FIELD_MANAGER)
        .force()
        .validation_strict();
    let mut failures = Vec::new();
    for file in &files {
        let expect = common::expected_messages(file, "ssa");
        let (before, bad) = before_and_bad(file);
        *kinds
            .entry(bad["kind"].as_str().unwrap().to_string())
            .or_default() += 1;
        if let Some(before) = &before {
            common::apply(&client, &ns, before)
                .await
                .unwrap_or_else(|e| panic!("{}: first document refused: {e}", file.display()));
        }
        match common::apply_with(&client, &ns, &bad, &strict).await {
            Ok(_) => failures.push(format!("{}: accepted; expected {expect:?}", file.display())),
            Err(kube::Error::Api(status)) => {
                // 422 Invalid (schema, rules), 400 BadRequest (strict decoding); server-side
                // apply reports a value of the wrong type as a 500 "failed to create typed
                // patch object", with the field and the type it expected.
                let typed = status
                    .message
                    .contains("failed to create typed patch object");
                if !([400, 422].contains(&status.code) || (status.code == 500 && typed)) {
                    failures.push(format!("{}: {status:?}", file.display()));
                }
                for e in &expect {
                    if !status.message.contains(e.as_str()) {
                        failures.push(format!(
                            "{}: message {:?} lacks {e:?}",
                            file.display(),
                            status.message
                        ));
                    }
                }
            }
            Err(other) => failures.push(format!("{}: unexpected error {other}", file.display())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        kinds.get("ApplicationInstance").copied().unwrap_or(0) >= 20
            && kinds.get("ApplicationLink").copied().unwrap_or(0) >= 20
            && kinds.get("ExternalApplication").copied().unwrap_or(0) >= 10,
        "both kinds are covered: {kinds:?}"
    );
}

/// What users see: `kubectl apply -f` (client-side apply; strict field validation is kubectl's
/// default) of each invalid example fails, and kubectl prints the message that says what to
/// change.
#[tokio::test]
async fn kubectl_apply_refuses_every_invalid_example_with_its_message() {
    let client = common::client().await;
    common::install_crds(&client).await;
    let ns = common::namespace(&client, "invalid-kubectl").await;
    let files = common::invalid_examples();
    assert!(files.len() >= MIN_INVALID_EXAMPLES);
    // Four kubectl processes at a time; every file names its own objects.
    let failures: Vec<String> = std::thread::scope(|scope| {
        let chunks: Vec<_> = files.chunks(files.len().div_ceil(4)).collect();
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let ns = ns.name();
                scope.spawn(move || {
                    let mut failures = Vec::new();
                    for file in chunk {
                        let expect = common::expected_messages(file, "kubectl");
                        let yaml = std::fs::read_to_string(file).unwrap();
                        match common::e2e::kubectl(ns, &["apply", "-f", "-"], Some(&yaml)) {
                            Ok(out) => failures.push(format!(
                                "{}: accepted ({}); expected {expect:?}",
                                file.display(),
                                out.trim()
                            )),
                            Err(stderr) => {
                                for e in &expect {
                                    if !stderr.contains(e.as_str()) {
                                        failures.push(format!(
                                            "{}: kubectl said {stderr:?}, lacking {e:?}",
                                            file.display()
                                        ));
                                    }
                                }
                            }
                        }
                    }
                    failures
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Without strict field validation (`kubectl apply --validate=false`, old clients) the API
/// server does not refuse an unknown field: it drops it. This is why the examples marked
/// `# strict:` are only refused with strict validation, and why fields users are likely to
/// write by mistake (a namespace in a reference, credentials in the spec, skipping TLS
/// verification) are declared in the schema and refused by a rule instead.
#[tokio::test]
async fn unknown_fields_are_dropped_without_strict_validation() {
    let client = common::client().await;
    common::install_crds(&client).await;
    let ns = common::namespace(&client, "prune").await;
    let strict_only: Vec<_> = common::invalid_examples()
        .into_iter()
        .filter(|f| std::fs::read_to_string(f).unwrap().contains("\n# strict:"))
        .collect();
    assert!(strict_only.len() >= 2);
    for file in &strict_only {
        let field = common::expected_messages(file, "kubectl")
            .iter()
            .find_map(|e| {
                e.strip_prefix("unknown field \"spec.")
                    .map(|f| f.trim_end_matches('"').to_string())
            })
            .unwrap_or_else(|| panic!("{}: names its unknown field", file.display()));
        let yaml = std::fs::read_to_string(file).unwrap();
        common::e2e::kubectl(&ns, &["apply", "--validate=false", "-f", "-"], Some(&yaml))
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let (_, doc) = before_and_bad(file);
        let stored = common::e2e::kubectl(
            &ns,
            &[
                "get",
                doc["kind"].as_str().unwrap(),
                doc["metadata"]["name"].as_str().unwrap(),
                "-o",
                "json",
            ],
            None,
        )
        .unwrap();
        let stored: serde_json::Value = serde_json::from_str(&stored).unwrap();
        assert!(
            stored["spec"].get(&field).is_none(),
            "{}: {field} was stored: {}",
            file.display(),
            stored["spec"]
        );
        // A refused-by-rule field is refused even so.
    }
    let trap = std::fs::read_to_string(common::repo_path(
        "examples/invalid/link-source-in-other-namespace.yaml",
    ))
    .unwrap();
    let err = common::e2e::kubectl(&ns, &["apply", "--validate=false", "-f", "-"], Some(&trap))
        .expect_err("a namespace in a reference is refused without strict validation too");
    assert!(err.contains("same namespace only"), "{err}");
}

/// Edge cases of the URL and reference rules that are valid and must stay accepted.
#[tokio::test]
async fn unusual_but_valid_manifests_are_accepted() {
    let client = common::client().await;
    common::install_crds(&client).await;
    let ns = common::namespace(&client, "edge").await;
    let urls = [
        "http://[::1]:8080",
        "https://[2001:db8::1]/jira/",
        "http://[::ffff:127.0.0.1]:1",
        "https://xn--jra-8na.example.com",
        "HTTPS://JIRA.EXAMPLE.COM:443/",
        "https://jira.example.com:65535/a%20b/c",
        "http://127.0.0.1:18080",
        "https://jira_prod.internal",
        "https://jira.example.com./",
        "https://acme.atlassian.net.evil.example",
        "https://acme.atlassian.net/wiki",
    ];
    for (i, url) in urls.iter().enumerate() {
        let instance = json!({
            "apiVersion": "applinks.io/v1alpha1", "kind": "ApplicationInstance",
            "metadata": {"name": format!("edge-{i}")},
            "spec": {
                "url": url,
                "displayUrl": url,
                "checkInterval": "1h30m",
                "credentialsSecretRef": {"name": "jira.admin-1", "usernameKey": "user.name", "passwordKey": "pass_word", "tokenKey": "pat-1"},
                "tls": {"caSecretRef": {"name": "ca.bundle", "key": "ca-bundle.pem"}},
            }
        });
        common::apply(&client, &ns, &instance)
            .await
            .unwrap_or_else(|e| panic!("instance with url {url} refused: {e}"));
        let link = json!({
            "apiVersion": "applinks.io/v1alpha1", "kind": "ApplicationLink",
            "metadata": {"name": format!("edge-{i}")},
            "spec": {"source": {"instanceRef": {"name": "jira.prod-1"}}, "target": {"url": url}}
        });
        common::apply(&client, &ns, &link)
            .await
            .unwrap_or_else(|e| panic!("link to {url} refused: {e}"));
    }
    let instance = json!({
        "apiVersion": "applinks.io/v1alpha1", "kind": "ApplicationInstance",
        "metadata": {"name": "edge-longest-interval"},
        "spec": {"url": "https://jira.example.com", "checkInterval": "99999h59m59s"}
    });
    common::apply(&client, &ns, &instance).await.unwrap();
}

/// The namespace guard deletes its namespace when the test that made it panics, also when the
/// namespace holds objects with the operator's finalizers and no operator runs any more.
#[tokio::test]
async fn a_failing_test_still_deletes_its_namespace() {
    let client = common::client().await;
    common::install_crds(&client).await;
    let made = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let (c, m) = (client.clone(), made.clone());
    let failed = tokio::spawn(async move {
        let ns = common::namespace(&c, "guard").await;
        *m.lock().unwrap() = ns.to_string();
        let held = json!({
            "apiVersion": "applinks.io/v1alpha1", "kind": "ApplicationInstance",
            "metadata": {"name": "held", "finalizers": ["applinks.io/in-use"]},
            "spec": {"url": "https://jira.example.com"}
        });
        common::apply(&c, &ns, &held).await.unwrap();
        panic!("deliberate panic: checking that the namespace guard cleans up");
    })
    .await;
    assert!(failed.unwrap_err().is_panic());
    let name = made.lock().unwrap().clone();
    assert!(!name.is_empty());
    let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client);
    common::e2e::wait_for(&format!("namespace {name} to be gone"), || async {
        match api.get_opt(&name).await.unwrap() {
            None => Ok(()),
            Some(n) => Err(format!(
                "deletion {:?}, {:?}",
                n.metadata.deletion_timestamp, n.status
            )),
        }
    })
    .await;
}

#[tokio::test]
async fn one_way_link_may_be_completed_with_an_instance_ref() {
    // Replacing an inline target.url by a target.instanceRef is the documented way to complete a
    // one-way link, so the immutability rule must let it through.
    let client = common::client().await;
    common::install_crds(&client).await;
    let ns = common::namespace(&client, "complete").await;
    let mut doc = json!({
        "apiVersion": "applinks.io/v1alpha1", "kind": "ApplicationLink",
        "metadata": {"name": "oneway"},
        "spec": {"source": {"instanceRef": {"name": "jira"}}, "target": {"url": "https://confluence.example.com"}}
    });
    common::apply(&client, &ns, &doc).await.unwrap();
    doc["spec"]["target"] = json!({"instanceRef": {"name": "confluence"}});
    common::apply(&client, &ns, &doc)
        .await
        .expect("url -> instanceRef is allowed");
    doc["spec"]["target"] = json!({"url": "https://confluence.example.com"});
    let err = common::apply(&client, &ns, &doc)
        .await
        .expect_err("instanceRef -> url is refused");
    assert!(
        err.to_string().contains("target.instanceRef is immutable"),
        "{err}"
    );
}

#[tokio::test]
async fn status_is_written_only_through_the_status_subresource() {
    let client = common::client().await;
    common::install_crds(&client).await;
    let ns = common::namespace(&client, "status").await;
    let links: Api<ApplicationLink> = Api::namespaced(client.clone(), &ns);
    let doc = json!({
        "apiVersion": "applinks.io/v1alpha1", "kind": "ApplicationLink",
        "metadata": {"name": "s"},
        "spec": {"source": {"instanceRef": {"name": "jira"}}, "target": {"instanceRef": {"name": "confluence"}}}
    });
    common::apply(&client, &ns, &doc).await.unwrap();
    let generation = links.get("s").await.unwrap().metadata.generation;

    // A status in a patch of the main resource is dropped by the API server.
    let forged = json!({"status": {"health": "Forged"}});
    links
        .patch("s", &PatchParams::default(), &Patch::Merge(&forged))
        .await
        .unwrap();
    assert_eq!(links.get("s").await.unwrap().status, None);

    // Through the subresource it is stored, and neither spec nor generation change.
    let status = json!({"status": ApplicationLinkStatus { health: Some("Working".into()), observed_generation: generation, ..Default::default() }});
    links
        .patch_status("s", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    let after = links.get("s").await.unwrap();
    assert_eq!(after.status.unwrap().health.as_deref(), Some("Working"));
    assert_eq!(after.metadata.generation, generation);
    assert_eq!(after.spec.target.instance_ref.unwrap().name, "confluence");

    // And the status subresource ignores spec changes.
    let spec_change = json!({"spec": {"authentication": "None"}});
    links
        .patch_status("s", &PatchParams::default(), &Patch::Merge(&spec_change))
        .await
        .unwrap();
    assert_eq!(
        links.get("s").await.unwrap().spec.authentication,
        applink_operator::crd::Authentication::OAuth
    );
}
