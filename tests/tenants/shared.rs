//! Shared applications: one Jira the platform team administers once (a
//! ClusterApplicationInstance, credentials in the operator's namespace), linked from the
//! namespaces it is shared with, refused to the others, and never showing its credentials.

use super::{World, apps, credentialed};
use crate::common::e2e::{self, ALLOWED_URLS, Sim};

#[tokio::test]
async fn a_shared_application_serves_the_namespaces_it_selects_only() {
    let w = World::new("shared", 2).await;
    let sim = Sim::start(&apps(&[
        ("jira", "jira"),
        ("wiki-a", "confluence"),
        ("wiki-b", "confluence"),
    ]));
    let (a, b) = (w.tenant(0).to_string(), w.tenant(1).to_string());
    let jira = sim.app("jira").base_url.clone();
    // The platform team: the Secret in the operator's namespace, the shared application for
    // namespaces labelled team-jira=yes, and tenant A's namespace labelled.
    e2e::apply(
        w.ops.name(),
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: jira-admin, annotations: {{{ALLOWED_URLS}: '{jira}'}}}}\nstringData: {{username: admin, password: admin}}\n"
        ),
    );
    e2e::kubectl(
        "default",
        &["label", "namespace", &a, "team-jira=yes"],
        None,
    )
    .unwrap();
    let shard = &w.shard;
    let shared_name = format!("jira-{shard}");
    e2e::kubectl(
        "default",
        &["apply", "-f", "-"],
        Some(&super::sharded(
            &format!(
                "apiVersion: applinks.io/v1alpha1\nkind: ClusterApplicationInstance\nmetadata: {{name: {shared_name}}}\nspec:\n  url: {jira}\n  type: jira\n  credentialsSecretRef: {{name: jira-admin}}\n  allowedNamespaces: {{matchLabels: {{team-jira: 'yes'}}}}\n"
            ),
            shard,
        )),
    )
    .unwrap();
    // Each tenant: its own Confluence, and a link from the shared Jira.
    for (ns, wiki) in [(&a, "wiki-a"), (&b, "wiki-b")] {
        w.apply(
            ns,
            &e2e::instance_yaml("wiki", sim.app(wiki), "confluence", true),
        );
        w.apply(
            ns,
            &format!(
                "apiVersion: applinks.io/v1alpha1\nkind: ApplicationLink\nmetadata: {{name: l}}\nspec:\n  source: {{instanceRef: {{name: {shared_name}, kind: ClusterApplicationInstance}}}}\n  target: {{instanceRef: {{name: wiki}}}}\n"
            ),
        );
    }
    e2e::wait_link_ready(&w.client, &a, "l", "True").await;
    let refused = e2e::wait_link_reason(&w.client, &b, "l", "NamespaceNotAllowed").await;
    let (_, _, msg) = e2e::condition(&refused.status.unwrap().conditions, "Ready").unwrap();
    assert!(msg.contains(&b) && !msg.contains(&a), "{msg}");
    // On the applications' side: Jira holds A's link only; B's Confluence got nothing written
    // (its instance's own administrator check aside) and no link.
    let links = sim.links("jira").await;
    assert!(links.contains_key(&sim.app("wiki-a").id), "{links:?}");
    assert!(!links.contains_key(&sim.app("wiki-b").id), "{links:?}");
    assert!(sim.links("wiki-b").await.is_empty());
    assert!(credentialed(&sim, "jira").await > 0);

    // `plan` with the shared application in the manifests (its Secret read in the operator's
    // namespace): A's link is up to date; B's cannot be planned, for the operator's reason.
    let link = format!(
        "apiVersion: applinks.io/v1alpha1\nkind: ApplicationLink\nmetadata: {{name: l}}\nspec:\n  source: {{instanceRef: {{name: {shared_name}, kind: ClusterApplicationInstance}}}}\n  target: {{instanceRef: {{name: wiki}}}}\n"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("shared.yaml"),
        super::sharded(
            &format!(
                "apiVersion: applinks.io/v1alpha1\nkind: ClusterApplicationInstance\nmetadata: {{name: {shared_name}}}\nspec:\n  url: {jira}\n  type: jira\n  credentialsSecretRef: {{name: jira-admin}}\n  allowedNamespaces: {{matchLabels: {{team-jira: 'yes'}}}}\n---\n{link}"
            ),
            shard,
        ),
    )
    .unwrap();
    let sel = format!("{}={shard}", e2e::SHARD_LABEL);
    let plan = |ns: &str| {
        let d = dir.path().to_str().unwrap().to_string();
        super::cli::cli(&[
            "plan",
            "-f",
            &d,
            "-n",
            ns,
            "--cluster-resource-namespace",
            w.ops.name(),
            "-l",
            &sel,
        ])
    };
    let (code, out, err) = plan(&a);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("ApplicationLink {a}/l: up to date")),
        "{out}"
    );
    let (code, out, err) = plan(&b);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains(&format!("ApplicationLink {b}/l: cannot plan: "))
            && out.contains(&shared_name),
        "{out}"
    );

    // A tool of tenant A trusted by the shared Jira: the OAuth 2.0 client is made with the
    // platform team's credentials, and only the client's own id and secret reach A's namespace.
    w.apply(
        &a,
        &format!(
            "apiVersion: applinks.io/v1alpha1\nkind: ExternalApplication\nmetadata: {{name: tool}}\nspec:\n  instanceRef: {{name: {shared_name}, kind: ClusterApplicationInstance}}\n  oauth2:\n    redirectUris: [\"https://tool.example.test/cb\"]\n    scope: READ\n  secret:\n    name: tool-oauth\n    data:\n      id: \"{{{{ clientId }}}}\"\n      secret: \"{{{{ clientSecret }}}}\"\n"
        ),
    );
    let delivered = e2e::wait_for("the tool's client delivered", || async {
        let out = e2e::kubectl(
            &a,
            &[
                "get",
                "externalapplication",
                "tool",
                "-o",
                "jsonpath={.status.conditions[?(@.type==\"Ready\")].reason}",
            ],
            None,
        )
        .unwrap_or_default();
        if out == "CredentialsDelivered" {
            Ok(out)
        } else {
            Err(out)
        }
    })
    .await;
    assert_eq!(delivered, "CredentialsDelivered");
    let data = e2e::kubectl(
        &a,
        &["get", "secret", "tool-oauth", "-o", "jsonpath={.data}"],
        None,
    )
    .unwrap();
    assert!(
        data.contains("\"id\"") && data.contains("\"secret\""),
        "{data}"
    );
    assert!(
        e2e::kubectl(&a, &["get", "secret", "jira-admin"], None).is_err(),
        "the platform team's credentials are not in the tenant's namespace"
    );
    e2e::delete(&a, "externalapplication", "tool");
    e2e::wait_for("the tool gone", || async {
        match e2e::kubectl(&a, &["get", "externalapplication", "tool"], None) {
            Err(e) if e.contains("NotFound") => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;

    // Sharing with B later completes B's link; deleting A's link deletes only A's ends.
    e2e::kubectl(
        "default",
        &["label", "namespace", &b, "team-jira=yes"],
        None,
    )
    .unwrap();
    e2e::wait_link_ready(&w.client, &b, "l", "True").await;
    e2e::delete(&a, "applink", "l");
    e2e::wait_link_gone(&w.client, &a, "l").await;
    let links = sim.links("jira").await;
    assert!(!links.contains_key(&sim.app("wiki-a").id), "{links:?}");
    assert!(links.contains_key(&sim.app("wiki-b").id), "{links:?}");
    // The shared application waits for B's link before it goes.
    e2e::delete(&b, "applink", "l");
    e2e::wait_link_gone(&w.client, &b, "l").await;
    e2e::kubectl(
        "default",
        &[
            "delete",
            "clusterapplicationinstance",
            &shared_name,
            "--wait=true",
            "--timeout=60s",
        ],
        None,
    )
    .unwrap();
}
