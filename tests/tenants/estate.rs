//! Issue 19 §1: the inventory of an estate partly made by hand, and the entity links that go
//! with an application link. Jira holds a link to Confluence declared here (`l`) and a link to
//! Bamboo made by hand through the products' own REST (createAppLink, as an admin does in the
//! UI); entity links (a Jira project to a Confluence space and to a Bamboo project) are made
//! through the products' entity-link REST. The instance's status lists both links, says who
//! manages which and counts their entity links; `UnmanagedLinks` and its metric count the
//! hand-made one without touching Ready. Deleting `l` is held while its Jira end carries entity
//! links, until the acknowledgement annotation; then it goes, taking only its entity links.

use reqwest::Method;
use serde_json::json;

use crate::common::e2e::{
    self, apps, condition, instance, instance_yaml, link_yaml, wait_for, wait_link_ready,
    wait_link_ready_where,
};
use crate::tenants::World;

const EL: &str = "rest/applinks/1.0/entitylink";

#[tokio::test]
async fn inventory_counts_hand_made_links_and_entity_links_hold_a_deletion() {
    let w = World::new("estate", 1).await;
    let ns = w.tenant(0).to_string();
    let sim = e2e::Sim::start(&apps(&[
        ("jira", "jira"),
        ("confluence", "confluence"),
        ("bamboo", "bamboo"),
    ]));
    // The hand-made link, two-way with OAuth, as the admin UI makes it.
    let bamboo = sim.app("bamboo").clone();
    let code = sim
        .send(
            "jira",
            Method::POST,
            "rest/applinks/1.0/applicationlinkForm/createAppLink",
            Some(json!({
                "applicationLink": {"typeId": "bamboo", "name": "Builds", "rpcUrl": bamboo.base_url,
                                    "displayUrl": bamboo.base_url, "isPrimary": true},
                "username": "admin", "password": "admin", "createTwoWayLink": true,
                "customRpcURL": false,
                "configFormValues": {"trustEachOther": true, "shareUserbase": false},
            })),
        )
        .await;
    assert_eq!(code, 200, "createAppLink");
    for (n, t) in [("jira", "jira"), ("confluence", "confluence")] {
        w.apply(&ns, &instance_yaml(n, sim.app(n), t, true));
    }
    w.apply(&ns, &link_yaml("l", "jira", "confluence", "OAuth"));
    wait_link_ready(&w.client, &ns, "l", "True").await;

    // Entity links in Jira: project ABC to a Confluence space (over l) and to a Bamboo project
    // (over the hand-made link).
    let confluence_id = sim.app("confluence").id.clone();
    for (app_id, type_id, key) in [
        (&confluence_id, "confluence.space", "DOC"),
        (&bamboo.id, "bamboo.project", "BLD"),
    ] {
        let code = sim
            .send(
                "jira",
                Method::PUT,
                &format!("{EL}/jira.project/ABC"),
                Some(json!({"applicationId": app_id, "typeId": type_id, "key": key})),
            )
            .await;
        assert_eq!(code, 201, "entity link to {key}");
    }

    // The inventory is read at most once a minute: a resync request reads it now.
    for instance in ["jira", "confluence"] {
        e2e::kubectl(
            &ns,
            &[
                "annotate",
                "--overwrite",
                "applicationinstance",
                instance,
                "applinks.io/reconcile-requested-at=entity-links-made",
            ],
            None,
        )
        .unwrap();
    }
    let managed_by = format!("{ns}/l");
    let inv = wait_for(
        "the inventory with both links and their entity links",
        || async {
            let i = instance(&w.client, &ns, "jira").await;
            let s = i.status.clone().unwrap_or_default();
            let Some(inv) = s.inventory.clone() else {
                return Err("no inventory yet".into());
            };
            let by_id = |id: &str| inv.links.iter().find(|l| l.id == id).cloned();
            match (by_id(&confluence_id), by_id(&bamboo.id)) {
                (Some(c), Some(b)) if c.entity_links == Some(1) && b.entity_links == Some(1) => {
                    Ok((s, c, b))
                }
                _ => Err(format!("{inv:?}")),
            }
        },
    )
    .await;
    let (status, declared, by_hand) = inv;
    let inventory = status.inventory.as_ref().unwrap();
    assert_eq!(
        (
            inventory.link_count,
            inventory.unmanaged_count,
            inventory.truncated
        ),
        (2, 1, false)
    );
    assert_eq!(declared.managed_by, managed_by);
    assert_eq!(by_hand.managed_by, "unmanaged");
    assert_eq!(
        (by_hand.type_id.as_str(), by_hand.name.as_str()),
        ("bamboo", "Builds")
    );
    assert_eq!(by_hand.rpc_url.as_deref(), Some(bamboo.base_url.as_str()));
    let health = by_hand.health.as_ref().expect("health read");
    assert!(health.working, "{health:?}");
    let auth = by_hand.local_auth.as_ref().expect("auth levels read");
    assert!(auth.outgoing.enabled && auth.outgoing.two_lo, "{auth:?}");
    assert!(by_hand.remote_auth.is_some());
    let (st, reason, msg) = condition(&status.conditions, "UnmanagedLinks").unwrap();
    assert_eq!(
        (st.as_str(), reason.as_str()),
        ("True", "UnmanagedLinksFound")
    );
    assert!(msg.contains("\"Builds\""), "{msg}");
    let (ready, ..) = condition(&status.conditions, "Ready").unwrap();
    assert_eq!(ready, "True", "informational only");
    // Confluence holds only the declared link's other end.
    wait_for("Confluence's inventory", || async {
        let s = instance(&w.client, &ns, "confluence")
            .await
            .status
            .unwrap_or_default();
        match (s.inventory, condition(&s.conditions, "UnmanagedLinks")) {
            (Some(i), Some((st, r, _))) if i.link_count == 1 && st == "False" => Ok(r),
            other => Err(format!("{other:?}")),
        }
    })
    .await;

    // Deleting l: held, naming the entity; nothing deleted in Jira.
    e2e::delete(&ns, "applicationlink", "l");
    let held = wait_link_ready_where(&w.client, &ns, "l", "DeletionBlocked", |_, c| {
        c.1 == "DeletionBlocked" && c.2.contains("entity links")
    })
    .await;
    let msg = condition(&held.status.unwrap().conditions, "Ready")
        .unwrap()
        .2;
    assert!(
        msg.contains("1 local entities") && msg.contains("jira.project:ABC"),
        "{msg}"
    );
    assert!(msg.contains("applinks.io/delete-entity-links"), "{msg}");
    assert!(sim.links("jira").await.contains_key(&confluence_id));
    assert!(
        sim.links("confluence")
            .await
            .contains_key(&sim.app("jira").id)
    );

    // Acknowledged: both ends go, and with Jira's end its entity link; the one over the
    // hand-made link stays.
    e2e::kubectl(
        &ns,
        &[
            "annotate",
            "applicationlink",
            "l",
            "applinks.io/delete-entity-links=true",
        ],
        None,
    )
    .unwrap();
    e2e::wait_link_gone(&w.client, &ns, "l").await;
    assert!(!sim.links("jira").await.contains_key(&confluence_id));
    let (code, list) = sim
        .get("jira", &format!("{EL}/list/jira.project/ABC"))
        .await;
    assert_eq!(code, 200);
    let keys: Vec<&str> = list["entity"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["key"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(keys, ["BLD"], "{list}");
}

/// Requests that change something (anything but GET/HEAD) in the app's log from `from` on.
async fn writes_since(sim: &e2e::Sim, app: &str, from: usize) -> Vec<String> {
    sim.log_entries(app)
        .await
        .iter()
        .skip(from)
        .filter(|e| !matches!(e["method"].as_str(), Some("GET" | "HEAD")))
        .map(|e| format!("{} {}", e["method"], e["path"]))
        .collect()
}

/// Issue 19 §2, Observe: a link made by hand is declared with `managementPolicy: Observe`; the
/// operator reports its health and what Manage would change, and sends no write to either
/// application, also when the spec asks for more than the link has and when it is deleted.
#[tokio::test]
async fn observe_mode_reports_health_and_drift_and_never_writes() {
    let w = World::new("observe", 1).await;
    let ns = w.tenant(0).to_string();
    let sim = e2e::Sim::start(&apps(&[("jira", "jira"), ("confluence", "confluence")]));
    let confluence = sim.app("confluence").clone();
    let code = sim
        .send(
            "jira",
            Method::POST,
            "rest/applinks/1.0/applicationlinkForm/createAppLink",
            Some(json!({
                "applicationLink": {"typeId": "confluence", "name": "Wiki (by hand)",
                                    "rpcUrl": confluence.base_url, "displayUrl": confluence.base_url,
                                    "isPrimary": true},
                "username": "admin", "password": "admin", "createTwoWayLink": true,
                "customRpcURL": false,
                "configFormValues": {"trustEachOther": true, "shareUserbase": false},
            })),
        )
        .await;
    assert_eq!(code, 200, "createAppLink");
    let before = (
        sim.log_entries("jira").await.len(),
        sim.log_entries("confluence").await.len(),
    );

    // Observe without Orphan is refused at admission, saying what to change.
    let refused = e2e::kubectl(
        &ns,
        &["apply", "-f", "-"],
        Some(&crate::tenants::sharded(
            &link_yaml("l", "jira", "confluence", "OAuth").replace(
                "  authentication: OAuth\n",
                "  authentication: OAuth\n  managementPolicy: Observe\n",
            ),
            &w.shard,
        )),
    )
    .unwrap_err();
    assert!(refused.contains("set deletionPolicy: Orphan"), "{refused}");

    for (n, t) in [("jira", "jira"), ("confluence", "confluence")] {
        w.apply(&ns, &instance_yaml(n, sim.app(n), t, true));
    }
    let observed = |auth: &str| {
        link_yaml("l", "jira", "confluence", auth).replace(
            &format!("  authentication: {auth}\n"),
            &format!(
                "  authentication: {auth}\n  managementPolicy: Observe\n  deletionPolicy: Orphan\n"
            ),
        )
    };
    w.apply(&ns, &observed("OAuth"));
    let l = wait_link_ready(&w.client, &ns, "l", "True").await;
    let s = l.status.unwrap();
    assert_eq!(s.health.as_deref(), Some("Working"));
    let (_, reason, msg) = condition(&s.conditions, "Drifted").expect("Drifted");
    // The hand-made link already has what the spec asks for.
    assert_eq!(reason, "InSync", "{msg}");
    assert_eq!(s.drift.as_deref(), Some(&[][..]));
    assert!(
        s.claims.unwrap_or_default().source.is_none(),
        "nothing claimed"
    );

    // Asking for impersonation: reported as drift, not applied.
    w.apply(&ns, &observed("OAuthImpersonation"));
    let l = wait_link_ready_where(&w.client, &ns, "l", "drift reported", |l, _| {
        l.status.as_ref().is_some_and(|s| {
            condition(&s.conditions, "Drifted").is_some_and(|(st, r, m)| {
                st == "True" && r == "DriftFound" && m.contains("OAuthImpersonation")
            })
        })
    })
    .await;
    assert!(
        l.status
            .unwrap()
            .drift
            .unwrap()
            .iter()
            .any(|d| d.contains("OAuthImpersonation")),
    );
    let levels = sim.link_status("jira", "confluence").await;
    assert_eq!(
        levels["localAuthentication"]["outgoing"]["twoLoImpersonationEnabled"], false,
        "{levels}"
    );

    // Deleted: the ends stay.
    e2e::delete(&ns, "applicationlink", "l");
    e2e::wait_link_gone(&w.client, &ns, "l").await;
    assert!(sim.links("jira").await.contains_key(&confluence.id));
    assert!(
        sim.links("confluence")
            .await
            .contains_key(&sim.app("jira").id)
    );
    assert_eq!(
        writes_since(&sim, "jira", before.0).await,
        Vec::<String>::new()
    );
    assert_eq!(
        writes_since(&sim, "confluence", before.1).await,
        Vec::<String>::new()
    );
}
