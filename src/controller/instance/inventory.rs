//! The inventory: every application link the application holds, who manages it, its health and
//! how many entity links it carries (docs/estate.md). Reading it (client required, read only)
//! costs at most `1 + 2 × MAX_LISTED` requests: the list, then the status API and the entity
//! links of each listed link. Building the status from it is pure and table-tested.

use std::collections::BTreeMap;

use futures::StreamExt;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;

use super::super::lookups::Lookups;
use crate::atlassian::{
    ApiError, AtlassianClient, LinkOAuthConfig, LinkStatus, LinkedEntities, OAuthConfig, RemoteLink,
};
use crate::conditions::Cond;
use crate::crd::{
    ApplicationLink, AuthLevel, EndAuth, EndHealth, ExternalApplication, Inventory, InventoryLink,
};
use crate::reasons::{
    ALL_LINKS_MANAGED, INVENTORY_UNREADABLE, UNMANAGED_LINKS, UNMANAGED_LINKS_FOUND,
};

/// Least time between two reads: an instance checked every few seconds does not list every
/// link (and ask each one's health) that often.
pub const MIN_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);
/// After a failed read the next waits this long (the instance's other checks go on).
pub const RETRY_AFTER_FAILURE: std::time::Duration = std::time::Duration::from_secs(300);

/// Whether the inventory is read in this check (pure): when asked (a resync request), when
/// never read, else [`MIN_INTERVAL`] after the last read and [`RETRY_AFTER_FAILURE`] after a
/// failed one.
pub(super) fn due(old: Option<&Inventory>, now: Timestamp, requested: bool) -> bool {
    let Some(old) = old else { return true };
    let Some(last) = old
        .read_at
        .as_deref()
        .and_then(|t| t.parse::<Timestamp>().ok())
    else {
        return true;
    };
    let wait = if old.error.is_some() {
        RETRY_AFTER_FAILURE
    } else {
        MIN_INTERVAL
    };
    requested || now.duration_since(last).unsigned_abs() >= wait
}

/// The `UnmanagedLinks` condition as it was, for a check that did not read the inventory.
pub(super) fn kept_condition(old: &[crate::crd::Condition]) -> Option<Cond> {
    old.iter().find(|c| c.type_ == UNMANAGED_LINKS).map(|c| {
        Cond::new(
            UNMANAGED_LINKS,
            c.status == "True",
            c.reason.clone(),
            c.message.clone(),
        )
    })
}

/// Links listed (and health-checked) per application; past it only the counts are whole.
pub const MAX_LISTED: usize = 50;
/// Reads in flight at once toward one application (each status read makes it call its peer).
const CONCURRENT_READS: usize = 4;
/// Unmanaged links named in the condition's message.
const NAMED_IN_MESSAGE: usize = 10;
/// Who manages an end in another tenant's namespace: its existence is told, not its name.
pub const OTHER_NAMESPACE: &str = "another namespace";
pub const UNMANAGED: &str = "unmanaged";

/// What was read, as plain data.
#[derive(Debug)]
pub(super) struct Observed {
    /// Every link, sorted by name then id.
    pub(super) all: Vec<RemoteLink>,
    /// Health and entity links of the first [`MAX_LISTED`] links of `all`, in the same order.
    pub(super) checked: Vec<Checked>,
}

#[derive(Debug)]
pub(super) struct Checked {
    pub(super) status: Result<Option<LinkStatus>, ApiError>,
    pub(super) entities: Result<LinkedEntities, ApiError>,
}

/// Reads the inventory with the application's administrator client.
pub(super) async fn read(admin: &AtlassianClient) -> Result<Observed, ApiError> {
    let mut all = admin.list_links().await?;
    all.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
    // Owned futures (a clone of the client each): borrowing ones are not Send for the runtime.
    let reads: Vec<_> = all
        .iter()
        .take(MAX_LISTED)
        .map(|l| {
            let (client, id) = (admin.clone(), l.id.clone());
            async move {
                Checked {
                    status: client.link_status(&id).await,
                    entities: client.linked_entities(&id).await,
                }
            }
        })
        .collect();
    let checked = futures::stream::iter(reads)
        .buffered(CONCURRENT_READS)
        .collect()
        .await;
    Ok(Observed { all, checked })
}

/// Link id → who manages it, from the ownership claims recorded by ApplicationLinks and
/// ExternalApplications (any namespace) for the application `application_id`. For a namespaced
/// instance an owner in another namespace is shown as [`OTHER_NAMESPACE`].
pub(super) fn managers(
    lookups: &Lookups<'_>,
    application_id: &str,
    own_namespace: Option<&str>,
) -> BTreeMap<String, String> {
    managers_of(
        &lookups.links.state(),
        &lookups.externals.state(),
        application_id,
        own_namespace,
    )
}

/// [`managers`] over the objects themselves (pure).
fn managers_of(
    links: &[std::sync::Arc<ApplicationLink>],
    externals: &[std::sync::Arc<ExternalApplication>],
    application_id: &str,
    own_namespace: Option<&str>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut add = |ns: String, who: String, link_id: &str| {
        let shown = match own_namespace {
            Some(own) if own != ns => OTHER_NAMESPACE.to_string(),
            _ => who,
        };
        out.insert(link_id.to_string(), shown);
    };
    for l in links {
        let claims = l.status.as_ref().and_then(|s| s.claims.as_ref());
        let ns = l.namespace().unwrap_or_default();
        for c in claims
            .into_iter()
            .flat_map(|c| [&c.source, &c.target])
            .flatten()
        {
            if c.application_id == application_id {
                add(ns.clone(), format!("{ns}/{}", l.name_any()), &c.link_id);
            }
        }
    }
    for e in externals {
        let claim = e
            .status
            .as_ref()
            .and_then(|s| s.claims.as_ref())
            .and_then(|c| c.oauth1.as_ref());
        let ns = e.namespace().unwrap_or_default();
        if let Some(c) = claim.filter(|c| c.application_id == application_id) {
            add(
                ns.clone(),
                format!("ExternalApplication {ns}/{}", e.name_any()),
                &c.link_id,
            );
        }
    }
    out
}

/// The inventory and the `UnmanagedLinks` condition (pure). A failed read keeps the previous
/// lists and says why.
pub(super) fn build(
    observed: Result<Observed, ApiError>,
    managers: &BTreeMap<String, String>,
    old: Option<&Inventory>,
    now: Timestamp,
) -> (Inventory, Cond) {
    let o = match observed {
        Ok(o) => o,
        Err(e) => {
            let mut inv = old.cloned().unwrap_or_default();
            inv.error = Some(crate::conditions::truncate(&e.to_string(), 512));
            inv.read_at = Some(now.to_string());
            let cond = Cond::new(
                UNMANAGED_LINKS,
                inv.unmanaged_count > 0,
                INVENTORY_UNREADABLE,
                format!("the application's links could not be read: {e}"),
            );
            return (inv, cond);
        }
    };
    let manager = |id: &str| {
        managers
            .get(id)
            .cloned()
            .unwrap_or_else(|| UNMANAGED.to_string())
    };
    let unmanaged: Vec<&RemoteLink> = o
        .all
        .iter()
        .filter(|l| !managers.contains_key(&l.id))
        .collect();
    let links: Vec<InventoryLink> = o
        .all
        .iter()
        .zip(o.checked)
        .map(|(l, c)| entry(l, c, manager(&l.id)))
        .collect();
    let inv = Inventory {
        link_count: count(o.all.len()),
        unmanaged_count: count(unmanaged.len()),
        truncated: o.all.len() > links.len(),
        links,
        error: None,
        read_at: Some(now.to_string()),
    };
    let cond = if unmanaged.is_empty() {
        Cond::new(
            UNMANAGED_LINKS,
            false,
            ALL_LINKS_MANAGED,
            format!(
                "every one of the {} application links here is managed by an ApplicationLink or ExternalApplication",
                o.all.len()
            ),
        )
    } else {
        let mut names: Vec<String> = unmanaged
            .iter()
            .take(NAMED_IN_MESSAGE)
            .map(|l| format!("{:?} ({}, {})", l.name, l.type_id, l.id))
            .collect();
        if unmanaged.len() > NAMED_IN_MESSAGE {
            names.push(format!("and {} more", unmanaged.len() - NAMED_IN_MESSAGE));
        }
        Cond::new(
            UNMANAGED_LINKS,
            true,
            UNMANAGED_LINKS_FOUND,
            format!(
                "{} of the {} application links here are managed by no ApplicationLink: {}. Informational; declare them (adoptionPolicy: Adopt) to manage them",
                unmanaged.len(),
                o.all.len(),
                names.join(", ")
            ),
        )
    };
    (inv, cond)
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn entry(l: &RemoteLink, c: Checked, managed_by: String) -> InventoryLink {
    let (local_auth, remote_auth, health) = match c.status {
        Ok(Some(s)) => (
            s.local_authentication.map(auth),
            s.remote_authentication.map(auth),
            Some(EndHealth {
                working: s.working,
                error_category: s.error.as_ref().map(|e| e.category.as_str().to_string()),
                error_type: s.error.as_ref().map(|e| e.error_type.as_str().to_string()),
                details: s.error.and_then(|e| e.details),
            }),
        ),
        // Gone between the list and the status read: the next check lists it no more.
        Ok(None) => (None, None, None),
        Err(e) => (
            None,
            None,
            Some(EndHealth {
                working: false,
                error_category: Some("UNREADABLE".into()),
                error_type: Some(e.reason().to_string()),
                details: Some(crate::conditions::truncate(&e.to_string(), 512)),
            }),
        ),
    };
    InventoryLink {
        id: l.id.clone(),
        type_id: l.type_id.clone(),
        name: l.name.clone(),
        rpc_url: l.rpc_url.clone(),
        display_url: l.display_url.clone(),
        primary: l.primary,
        system: l.system,
        local_auth,
        remote_auth,
        health,
        entity_links: c.entities.ok().map(|e| count(e.count)),
        managed_by,
    }
}

fn auth(o: LinkOAuthConfig) -> EndAuth {
    let level = |c: OAuthConfig| AuthLevel {
        enabled: c.enabled,
        two_lo: c.two_lo_enabled,
        two_lo_impersonation: c.two_lo_impersonation_enabled,
    };
    EndAuth {
        incoming: level(o.incoming),
        outgoing: level(o.outgoing),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atlassian::OAuthLevel;

    fn link(id: &str, name: &str) -> RemoteLink {
        RemoteLink {
            id: id.into(),
            name: name.into(),
            type_id: "confluence".into(),
            rpc_url: Some(format!("https://{name}.example.test")),
            ..Default::default()
        }
    }

    fn working(entities: usize) -> Checked {
        Checked {
            status: Ok(Some(LinkStatus {
                working: true,
                local_authentication: Some(LinkOAuthConfig::symmetric(OAuthLevel::OAuth)),
                ..Default::default()
            })),
            entities: Ok(LinkedEntities {
                count: entities,
                named: Vec::new(),
            }),
        }
    }

    fn observed(n: usize) -> Observed {
        let all: Vec<RemoteLink> = (0..n)
            .map(|i| link(&format!("id-{i:03}"), &format!("app-{i:03}")))
            .collect();
        let checked = (0..n.min(MAX_LISTED)).map(|_| working(1)).collect();
        Observed { all, checked }
    }

    #[test]
    fn table() {
        let managed: BTreeMap<String, String> =
            [("id-000".to_string(), "team/wiki".to_string())].into();
        type Case = (
            &'static str,
            Result<Observed, ApiError>,
            Option<Inventory>,
            u32,
            u32,
            bool,
            usize,
            &'static str,
            bool,
        );
        let old = Inventory {
            link_count: 3,
            unmanaged_count: 2,
            ..Default::default()
        };
        let cases: Vec<Case> = vec![
            (
                "nothing here",
                Ok(observed(0)),
                None,
                0,
                0,
                false,
                0,
                ALL_LINKS_MANAGED,
                false,
            ),
            (
                "only the managed link",
                Ok(observed(1)),
                None,
                1,
                0,
                false,
                1,
                ALL_LINKS_MANAGED,
                false,
            ),
            (
                "one managed, two by hand",
                Ok(observed(3)),
                None,
                3,
                2,
                false,
                3,
                UNMANAGED_LINKS_FOUND,
                true,
            ),
            (
                "past the bound: counts whole, list cut, truncated",
                Ok(observed(MAX_LISTED + 7)),
                None,
                (MAX_LISTED + 7) as u32,
                (MAX_LISTED + 6) as u32,
                true,
                MAX_LISTED,
                UNMANAGED_LINKS_FOUND,
                true,
            ),
            (
                "unreadable: the last inventory is kept, with the error",
                Err(ApiError::Unreachable {
                    url: "https://jira".into(),
                    detail: "refused".into(),
                }),
                Some(old.clone()),
                3,
                2,
                false,
                0,
                INVENTORY_UNREADABLE,
                true,
            ),
        ];
        for (name, obs, old, total, unmanaged, truncated, listed, reason, status) in cases {
            let (inv, cond) = build(obs, &managed, old.as_ref(), Timestamp::UNIX_EPOCH);
            assert_eq!(inv.link_count, total, "{name}");
            assert_eq!(inv.unmanaged_count, unmanaged, "{name}");
            assert_eq!(inv.truncated, truncated, "{name}");
            assert_eq!(inv.links.len(), listed, "{name}");
            assert_eq!(
                (cond.reason.as_str(), cond.status),
                (reason, status),
                "{name}: {}",
                cond.message
            );
        }
    }

    #[test]
    fn read_at_most_once_a_minute_and_five_minutes_after_a_failure() {
        let t = |s: i64| Timestamp::from_second(1_800_000_000 + s).unwrap();
        let (failed, _) = build(
            Err(ApiError::Unreachable {
                url: "u".into(),
                detail: "d".into(),
            }),
            &BTreeMap::new(),
            None,
            t(0),
        );
        assert!(due(None, t(0), false), "never read");
        assert!(!due(Some(&failed), t(10), false));
        assert!(!due(Some(&failed), t(299), false));
        assert!(due(Some(&failed), t(300), false));
        assert!(
            due(Some(&failed), t(10), true),
            "a resync request reads at once"
        );
        let (ok, _) = build(Ok(observed(1)), &BTreeMap::new(), Some(&failed), t(400));
        assert!(ok.error.is_none());
        assert!(!due(Some(&ok), t(401), false));
        assert!(!due(Some(&ok), t(459), false));
        assert!(due(Some(&ok), t(460), false));
        assert!(
            due(Some(&Inventory::default()), t(0), false),
            "no time recorded"
        );
    }

    /// Claims name the manager; another tenant's is not named to a namespaced instance.
    #[test]
    fn managers_from_claims_across_tenants() {
        let link = |ns: &str, name: &str, app: &str, id: &str| {
            let mut l: ApplicationLink = serde_yaml::from_str(&format!(
                "apiVersion: applinks.io/v1alpha1\nkind: ApplicationLink\nmetadata: {{name: {name}, namespace: {ns}}}\nspec: {{source: {{instanceRef: {{name: a}}}}, target: {{instanceRef: {{name: b}}}}}}\n"
            ))
            .unwrap();
            l.status = Some(crate::crd::ApplicationLinkStatus {
                claims: Some(crate::crd::LinkClaims {
                    source: Some(crate::crd::LinkClaim {
                        application_id: app.into(),
                        link_id: id.into(),
                    }),
                    target: None,
                }),
                ..Default::default()
            });
            std::sync::Arc::new(l)
        };
        let links = vec![
            link("team-a", "wiki", "JIRA", "L1"),
            link("team-b", "docs", "JIRA", "L2"),
            link("team-a", "elsewhere", "OTHER", "L3"),
        ];
        let own = managers_of(&links, &[], "JIRA", Some("team-a"));
        assert_eq!(own.get("L1").map(String::as_str), Some("team-a/wiki"));
        assert_eq!(own.get("L2").map(String::as_str), Some(OTHER_NAMESPACE));
        assert!(!own.contains_key("L3"), "a link in another application");
        let shared = managers_of(&links, &[], "JIRA", None);
        assert_eq!(shared.get("L2").map(String::as_str), Some("team-b/docs"));
    }

    #[test]
    fn entries_say_who_manages_them_and_what_they_carry() {
        let managed: BTreeMap<String, String> =
            [("id-000".to_string(), "team/wiki".to_string())].into();
        let mut o = observed(2);
        o.checked[1] = Checked {
            status: Ok(Some(LinkStatus {
                working: false,
                error: serde_json::from_value(
                    serde_json::json!({"category": "NETWORK_ERROR", "type": "CONNECTION_REFUSED"}),
                )
                .ok(),
                ..Default::default()
            })),
            entities: Err(ApiError::Unreachable {
                url: "u".into(),
                detail: "d".into(),
            }),
        };
        let (inv, cond) = build(Ok(o), &managed, None, Timestamp::UNIX_EPOCH);
        assert_eq!(inv.links[0].managed_by, "team/wiki");
        assert_eq!(inv.links[0].entity_links, Some(1));
        assert!(inv.links[0].health.as_ref().unwrap().working);
        assert!(inv.links[0].local_auth.as_ref().unwrap().incoming.two_lo);
        assert_eq!(inv.links[1].managed_by, UNMANAGED);
        assert_eq!(inv.links[1].entity_links, None, "unknown, not zero");
        let h = inv.links[1].health.as_ref().unwrap();
        assert_eq!(h.error_category.as_deref(), Some("NETWORK_ERROR"));
        assert!(cond.message.contains("\"app-001\""), "{}", cond.message);
    }
}
