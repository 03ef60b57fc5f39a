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
    let mut files: Vec<_> = std::fs::read_dir(common::repo_path("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 4, "examples/ holds the valid examples");
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
    common::delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn every_invalid_example_is_refused_with_its_message() {
    let client = common::client().await;
    common::install_crds(&client).await;
    let ns = common::namespace(&client, "invalid").await;
    let mut files: Vec<_> = std::fs::read_dir(common::repo_path("examples/invalid"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(
        files.len() >= 12,
        "examples/invalid holds one file per rule"
    );
    for file in &files {
        let expect = common::expected_message(file);
        let docs = common::documents(file);
        let (before, bad) = match docs.as_slice() {
            [bad] => (None, bad),
            [before, bad] => (Some(before), bad),
            _ => panic!("{}: one or two documents", file.display()),
        };
        if let Some(before) = before {
            common::apply(&client, &ns, before)
                .await
                .unwrap_or_else(|e| panic!("{}: first document refused: {e}", file.display()));
        }
        match common::apply(&client, &ns, bad).await {
            Ok(_) => panic!("{} was accepted; expected: {expect}", file.display()),
            Err(kube::Error::Api(status)) => {
                assert_eq!(status.code, 422, "{}: {status:?}", file.display());
                assert!(
                    status.message.contains(&expect),
                    "{}: message {:?} lacks {:?}",
                    file.display(),
                    status.message,
                    expect
                );
            }
            Err(other) => panic!("{}: unexpected error {other}", file.display()),
        }
    }
    common::delete_namespace(&client, &ns).await;
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
    common::delete_namespace(&client, &ns).await;
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
    common::delete_namespace(&client, &ns).await;
}
