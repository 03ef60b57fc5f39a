//! Ownership claims across the cluster, for both controllers: which object holds a link or an
//! OAuth client in an application, and whether this one may take or keep it.
//!
//! Claims live in status (see [`crate::crd::LinkClaims`]). Two objects can still claim the same
//! thing: a copy of an object made while the caches lagged, or two objects an older operator let
//! share ends through copied annotations. Whatever the cause, the rule is one: a thing nobody
//! holds may be claimed; of several holders the oldest object keeps it (creation time, then uid),
//! and the others neither change nor delete it. The objects compared are those in the
//! operator's caches: every namespace it watches, within its shard.

use std::sync::Arc;

use kube::ResourceExt;

use super::Context;
use crate::crd::{ApplicationLink, ExternalApplication, LinkClaim};

/// Annotations where operators before claims-in-status kept them; read once, to migrate.
pub mod legacy {
    pub const SOURCE_LINK: &str = "applinks.io/source-link-id";
    pub const TARGET_LINK: &str = "applinks.io/target-link-id";
    pub const OAUTH2_NAME: &str = "applinks.io/oauth2-client-name";
    pub const OAUTH2_ID: &str = "applinks.io/oauth2-client-id";
    pub const OAUTH1_LINK: &str = "applinks.io/oauth1-link-id";
}

/// One thing in one application an object can hold.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Held {
    /// A link (an ApplicationLink's end, or an OAuth 1.0a consumer's generic link).
    Link(LinkClaim),
    /// An OAuth 2.0 client's name (claimed before the client exists).
    ClientName {
        application_id: String,
        name: String,
    },
    /// An OAuth 2.0 client, by its id.
    Client { application_id: String, id: String },
}

/// Who holds a claim: ordered oldest first.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Claimant {
    /// Seconds since the epoch of metadata.creationTimestamp (`i64::MAX` when unknown).
    created: i64,
    uid: String,
}

impl Claimant {
    pub fn of<K: kube::Resource>(obj: &K) -> Claimant {
        let meta = obj.meta();
        Claimant {
            created: meta
                .creation_timestamp
                .as_ref()
                .map_or(i64::MAX, |t| t.0.as_second()),
            uid: meta.uid.clone().unwrap_or_default(),
        }
    }
}

/// Where this object stands on one thing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// Nobody else holds it: claim it, or keep it.
    Free,
    /// Another object holds it (and, if this one holds it too, is older): hands off.
    Elsewhere,
}

/// The pure decision: `mine` says whether this object already holds `key`.
pub fn standing(me: &Claimant, key: &Held, mine: bool, others: &[(Held, Claimant)]) -> Standing {
    let blocking = others
        .iter()
        .filter(|(k, c)| k == key && c.uid != me.uid)
        .any(|(_, c)| !mine || c < me);
    if blocking {
        Standing::Elsewhere
    } else {
        Standing::Free
    }
}

/// What an ApplicationLink holds, from its status.
pub fn of_link(l: &ApplicationLink) -> Vec<Held> {
    let Some(c) = l.status.as_ref().and_then(|s| s.claims.as_ref()) else {
        return Vec::new();
    };
    [&c.source, &c.target]
        .into_iter()
        .flatten()
        .map(|c| Held::Link(c.clone()))
        .collect()
}

/// What an ExternalApplication holds, from its status.
pub fn of_external(e: &ExternalApplication) -> Vec<Held> {
    let Some(c) = e.status.as_ref().and_then(|s| s.claims.as_ref()) else {
        return Vec::new();
    };
    let mut held: Vec<Held> = c.oauth1.iter().map(|l| Held::Link(l.clone())).collect();
    if let Some(o) = &c.oauth2 {
        held.push(Held::ClientName {
            application_id: o.application_id.clone(),
            name: o.name.clone(),
        });
        if let Some(id) = &o.id {
            held.push(Held::Client {
                application_id: o.application_id.clone(),
                id: id.clone(),
            });
        }
    }
    held
}

/// Everything the other objects in the caches hold (both kinds: an OAuth 1.0a consumer's
/// generic link and a link's end can be the same link).
pub fn held_by_others<K: kube::Resource>(ctx: &Context, me: &K) -> Vec<(Held, Claimant)> {
    held_by_others_in(&ctx.links.state(), &ctx.externals.state(), me)
}

/// [`held_by_others`] among the given objects (the `plan` command's listing).
pub fn held_by_others_in<K: kube::Resource>(
    links: &[Arc<ApplicationLink>],
    externals: &[Arc<ExternalApplication>],
    me: &K,
) -> Vec<(Held, Claimant)> {
    let uid = me.meta().uid.clone().unwrap_or_default();
    let mut out = Vec::new();
    for l in links {
        if l.uid().unwrap_or_default() != uid {
            let c = Claimant::of(l.as_ref());
            out.extend(of_link(l).into_iter().map(|h| (h, c.clone())));
        }
    }
    for e in externals {
        if e.uid().unwrap_or_default() != uid {
            let c = Claimant::of(e.as_ref());
            out.extend(of_external(e).into_iter().map(|h| (h, c.clone())));
        }
    }
    out
}

/// Whether the status was written by an operator that kept claims in annotations: a status
/// without claims. Only then are the annotations read (once); on any other object they are
/// ignored, since anyone who may edit the object may write them.
pub fn is_legacy(status_present: bool, claims_present: bool) -> bool {
    status_present && !claims_present
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(app: &str, id: &str) -> Held {
        Held::Link(LinkClaim {
            application_id: app.into(),
            link_id: id.into(),
        })
    }

    fn who(created: i64, uid: &str) -> Claimant {
        Claimant {
            created,
            uid: uid.into(),
        }
    }

    /// What the other objects hold.
    type Others = Vec<(Held, Claimant)>;

    #[test]
    fn table() {
        let me = who(100, "me");
        let end = link("jira", "conf");
        let cases: Vec<(&str, bool, Others, Standing)> = vec![
            (
                "nobody holds it: free to claim",
                false,
                vec![],
                Standing::Free,
            ),
            (
                "another object holds it: never claimed, however young it is",
                false,
                vec![(end.clone(), who(200, "copy"))],
                Standing::Elsewhere,
            ),
            (
                "held by both, the other is older: hands off",
                true,
                vec![(end.clone(), who(50, "original"))],
                Standing::Elsewhere,
            ),
            (
                "held by both, the other is younger (a copy): kept",
                true,
                vec![(end.clone(), who(200, "copy"))],
                Standing::Free,
            ),
            (
                "same second: the smaller uid is older",
                true,
                vec![(end.clone(), who(100, "a-first"))],
                Standing::Elsewhere,
            ),
            (
                "the same link id in another application is another thing",
                false,
                vec![(link("bitbucket", "conf"), who(50, "other"))],
                Standing::Free,
            ),
            (
                "a client name is not a link",
                false,
                vec![(
                    Held::ClientName {
                        application_id: "jira".into(),
                        name: "conf".into(),
                    },
                    who(50, "other"),
                )],
                Standing::Free,
            ),
            (
                "its own entry (same uid) never blocks",
                true,
                vec![(end.clone(), who(1, "me"))],
                Standing::Free,
            ),
        ];
        for (why, mine, others, want) in cases {
            assert_eq!(standing(&me, &end, mine, &others), want, "{why}");
        }
    }

    /// The caches are read across namespaces and kinds: a copy in another namespace and an
    /// OAuth 1.0a consumer's generic link count; the object itself does not.
    #[tokio::test]
    async fn every_namespace_and_both_kinds_count_but_not_the_object_itself() {
        use super::super::fixtures as fx;
        use serde_json::json;
        let ends = json!({"claims": {
            "source": {"applicationId": "jira", "linkId": "conf"},
            "target": {"applicationId": "conf", "linkId": "jira"},
        }});
        let me = fx::link(json!({"status": ends}));
        let copy = fx::link(json!({
            "metadata": {"namespace": "tenant-b", "name": "copy", "uid": "copy-uid"},
            "status": ends,
        }));
        let consumer: ExternalApplication = serde_json::from_value(json!({
            "apiVersion": "applinks.io/v1alpha1",
            "kind": "ExternalApplication",
            "metadata": {"name": "tool", "namespace": "tenant-c", "uid": "tool-uid"},
            "spec": {"instanceRef": {"name": "jira"}, "oauth1": {"url": "https://tool.test"}},
            "status": {"claims": {"oauth1": {"applicationId": "jira", "linkId": "tool-link"}}},
        }))
        .unwrap();
        let (client, api) = fx::mock_api(|_| fx::unexpected());
        let mut ctx = super::super::Context::for_tests(
            client,
            fx::settings(),
            fx::store_of([]),
            fx::store_of([me.clone(), copy]),
        );
        std::sync::Arc::get_mut(&mut ctx).unwrap().externals = fx::store_of([consumer]);
        let held: Vec<(Held, String)> = held_by_others(&ctx, &me)
            .into_iter()
            .map(|(h, c)| (h, c.uid))
            .collect();
        assert_eq!(
            held,
            vec![
                (link("jira", "conf"), "copy-uid".to_string()),
                (link("conf", "jira"), "copy-uid".to_string()),
                (link("jira", "tool-link"), "tool-uid".to_string()),
            ]
        );
        assert!(api.finish(ctx).await.is_empty());
    }

    #[test]
    fn legacy_only_when_a_status_has_no_claims() {
        assert!(is_legacy(true, false));
        assert!(
            !is_legacy(false, false),
            "a new object (no status) is not legacy"
        );
        assert!(!is_legacy(true, true));
    }
}
