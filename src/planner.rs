//! The planner: desired link ends + what the applications hold -> the actions that make them
//! agree. Pure data in, pure data out, no I/O, so every rule is table-tested below.
//!
//! Ownership: an end is ours when the ApplicationLink carries a claim for its id (in status,
//! written *before* the create, so a crash between create and status write still finds it ours
//! on the next pass; link ids are the peer's application id, so a second create cannot make a
//! duplicate either). An existing end without a claim is never touched unless adoption is allowed,
//! and an end another object holds ([`ObservedEnd::elsewhere`]) is never claimed, changed or
//! deleted.

use crate::atlassian::{LinkOAuthConfig, LinkUpdate, NewLink, RemoteLink};
use crate::crd::{AdoptionPolicy, DeletionPolicy, same_url};

/// Which end of the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum End {
    /// In the source application, pointing at the target.
    Source,
    /// In the target application, pointing back at the source.
    Target,
}

impl End {
    /// The end at the other application.
    pub fn other(self) -> End {
        match self {
            End::Source => End::Target,
            End::Target => End::Source,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            End::Source => "source",
            End::Target => "target",
        }
    }
}

/// The application a link end points at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// The peer's application id: the id of the link end.
    pub id: String,
    pub name: String,
    pub type_id: String,
    pub rpc_url: String,
    pub display_url: String,
}

/// What one end should be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredEnd {
    pub peer: Peer,
    pub primary: bool,
    /// OAuth of this end; `None` leaves authentication alone (one-way links).
    pub oauth: Option<LinkOAuthConfig>,
    /// An allowlist URL rule this end's application needs (a cloud peer calling a server).
    pub allowlist: Option<String>,
}

/// What one end's application holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObservedEnd {
    /// The link whose id is the desired peer's id, if any.
    pub link: Option<RemoteLink>,
    /// Its OAuth configuration, when the link exists.
    pub oauth: Option<LinkOAuthConfig>,
    /// The link id this resource has claimed in this application, if any.
    pub claimed: Option<String>,
    /// Another object holds this end: it holds it and this one does not, or both do and the
    /// other is older (see `controller::claims`).
    pub elsewhere: bool,
    /// Whether the desired allowlist rule is present (`None` when none is desired).
    pub allowlisted: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndInput {
    pub desired: DesiredEnd,
    pub observed: ObservedEnd,
}

/// Everything the planner looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Input {
    pub deleting: bool,
    pub deletion_policy: DeletionPolicy,
    pub adoption_policy: AdoptionPolicy,
    /// `None` when the source is a cloud site: its end is made in the site's admin UI.
    pub source: Option<EndInput>,
    /// `None` for a one-way link (the target is not administered) and for a cloud target.
    pub target: Option<EndInput>,
}

/// One idempotent step of a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Record ownership of `link_id` in `end` before creating or adopting it.
    Claim {
        end: End,
        link_id: String,
    },
    Create {
        end: End,
        link: NewLink,
    },
    /// Bring URLs in line (relocation, display URL).
    Update {
        end: End,
        link_id: String,
        update: LinkUpdate,
    },
    SetPrimary {
        end: End,
        link_id: String,
    },
    ConfigureOAuth {
        end: End,
        link_id: String,
        config: LinkOAuthConfig,
    },
    EnsureAllowlist {
        end: End,
        url: String,
    },
    Delete {
        end: End,
        link_id: String,
    },
    RemoveFinalizer,
}

/// Why nothing may be done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Blocker {
    /// A link to the peer exists, was not created by this operator, and adoption is off.
    NotOwned { end: End, link_id: String },
    /// Another object holds the end (a copy of this resource, or another tenant's).
    ClaimedElsewhere { end: End, link_id: String },
    /// The end this resource owns points at another application than the one now desired.
    IdentityChanged {
        end: End,
        claimed: String,
        found: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    Act(Vec<Step>),
    Blocked(Blocker),
}

/// `managementPolicy: Observe`: what `Manage` (adopting what exists) would change, one line per
/// step, and never a step to apply (pure). Ownership records are not drift.
pub fn drift(input: &Input) -> Vec<String> {
    let adopting = Input {
        adoption_policy: AdoptionPolicy::Adopt,
        deleting: false,
        ..input.clone()
    };
    match plan(&adopting) {
        Plan::Act(steps) => steps.iter().filter_map(describe).collect(),
        Plan::Blocked(Blocker::ClaimedElsewhere { end, link_id }) => vec![format!(
            "the {} end (link {link_id}) is managed by another object",
            end.as_str()
        )],
        Plan::Blocked(Blocker::IdentityChanged {
            end,
            claimed,
            found,
        }) => vec![format!(
            "the {} end was made for application {claimed}, the target is now {found}",
            end.as_str()
        )],
        Plan::Blocked(Blocker::NotOwned { .. }) => unreachable!("adopting is never NotOwned"),
    }
}

fn describe(step: &Step) -> Option<String> {
    Some(match step {
        Step::Claim { .. } | Step::RemoveFinalizer => return None,
        Step::Create { end, link } => format!(
            "create the {} end (a {} link to {})",
            end.as_str(),
            link.type_id,
            link.rpc_url
        ),
        Step::Update { end, update, .. } => format!(
            "update the {} end to name {:?}, rpcUrl {}, displayUrl {}",
            end.as_str(),
            update.name,
            update.rpc_url,
            update.display_url
        ),
        Step::SetPrimary { end, .. } => format!("make the {} end primary", end.as_str()),
        Step::ConfigureOAuth { end, config, .. } => format!(
            "set the {} end's OAuth to incoming {:?}, outgoing {:?}",
            end.as_str(),
            config.incoming.level(),
            config.outgoing.level()
        ),
        Step::EnsureAllowlist { end, url } => {
            format!("allow {url} in the {} end's allowlist", end.as_str())
        }
        Step::Delete { end, .. } => format!("delete the {} end", end.as_str()),
    })
}

fn ends(input: &Input) -> impl Iterator<Item = (End, &EndInput)> {
    (input.source.iter().map(|s| (End::Source, s)))
        .chain(input.target.iter().map(|t| (End::Target, t)))
}

/// Computes the plan. Creates and updates come first, then primary flags, then OAuth (which
/// needs both ends), then allowlist rules.
pub fn plan(input: &Input) -> Plan {
    if input.deleting {
        return plan_delete(input);
    }
    let mut structural = Vec::new();
    let mut primary = Vec::new();
    let mut oauth = Vec::new();
    let mut allowlist = Vec::new();
    for (end, e) in ends(input) {
        let id = &e.desired.peer.id;
        if let Some(claimed) = &e.observed.claimed
            && claimed != id
        {
            return Plan::Blocked(Blocker::IdentityChanged {
                end,
                claimed: claimed.clone(),
                found: id.clone(),
            });
        }
        if e.observed.elsewhere {
            return Plan::Blocked(Blocker::ClaimedElsewhere {
                end,
                link_id: id.clone(),
            });
        }
        let owned = e.observed.claimed.is_some();
        match &e.observed.link {
            None => {
                if !owned {
                    structural.push(Step::Claim {
                        end,
                        link_id: id.clone(),
                    });
                }
                structural.push(Step::Create {
                    end,
                    link: new_link(&e.desired),
                });
            }
            Some(link) => {
                if !owned {
                    if input.adoption_policy != AdoptionPolicy::Adopt {
                        return Plan::Blocked(Blocker::NotOwned {
                            end,
                            link_id: id.clone(),
                        });
                    }
                    structural.push(Step::Claim {
                        end,
                        link_id: id.clone(),
                    });
                }
                let rpc_ok = link
                    .rpc_url
                    .as_deref()
                    .is_some_and(|u| same_url(u, &e.desired.peer.rpc_url));
                let display_ok = link
                    .display_url
                    .as_deref()
                    .is_some_and(|u| same_url(u, &e.desired.peer.display_url));
                if !rpc_ok || !display_ok {
                    structural.push(Step::Update {
                        end,
                        link_id: id.clone(),
                        update: LinkUpdate {
                            name: if link.name.is_empty() {
                                e.desired.peer.name.clone()
                            } else {
                                link.name.clone()
                            },
                            rpc_url: e.desired.peer.rpc_url.clone(),
                            display_url: e.desired.peer.display_url.clone(),
                            primary: link.primary || e.desired.primary,
                        },
                    });
                }
            }
        }
        let is_primary = e.observed.link.as_ref().is_some_and(|l| l.primary);
        if e.desired.primary && !is_primary {
            primary.push(Step::SetPrimary {
                end,
                link_id: id.clone(),
            });
        }
        if let Some(want) = e.desired.oauth
            && e.observed
                .oauth
                .is_none_or(|have| !same_levels(&have, &want))
        {
            oauth.push(Step::ConfigureOAuth {
                end,
                link_id: id.clone(),
                config: want,
            });
        }
        if let Some(url) = &e.desired.allowlist
            && e.observed.allowlisted != Some(true)
        {
            allowlist.push(Step::EnsureAllowlist {
                end,
                url: url.clone(),
            });
        }
    }
    structural.extend(primary);
    structural.extend(oauth);
    structural.extend(allowlist);
    Plan::Act(structural)
}

/// Two configurations are the same when every direction is at the same level (the status API
/// compares levels, not raw flag combinations).
fn same_levels(a: &LinkOAuthConfig, b: &LinkOAuthConfig) -> bool {
    a.incoming.level() == b.incoming.level() && a.outgoing.level() == b.outgoing.level()
}

fn plan_delete(input: &Input) -> Plan {
    if input.deletion_policy == DeletionPolicy::Orphan {
        return Plan::Act(vec![Step::RemoveFinalizer]);
    }
    // Only ends this resource claimed, and no older object holds, are deleted; the claims go
    // with the object.
    let deletes: Vec<Step> = ends(input)
        .filter(|(_, e)| !e.observed.elsewhere)
        .filter_map(|(end, e)| {
            let claimed = e.observed.claimed.as_ref()?;
            e.observed
                .link
                .as_ref()
                .filter(|l| &l.id == claimed)
                .map(|_| Step::Delete {
                    end,
                    link_id: claimed.clone(),
                })
        })
        .collect();
    // The finalizer goes only once an observation shows every owned end gone.
    if deletes.is_empty() {
        Plan::Act(vec![Step::RemoveFinalizer])
    } else {
        Plan::Act(deletes)
    }
}

fn new_link(d: &DesiredEnd) -> NewLink {
    NewLink {
        id: Some(d.peer.id.clone()),
        name: d.peer.name.clone(),
        type_id: d.peer.type_id.clone(),
        rpc_url: d.peer.rpc_url.clone(),
        display_url: d.peer.display_url.clone(),
        is_primary: d.primary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atlassian::OAuthLevel;

    const JIRA: &str = "11111111-1111-1111-1111-111111111111";
    const CONF: &str = "22222222-2222-2222-2222-222222222222";

    fn peer(id: &str, url: &str) -> Peer {
        Peer {
            id: id.into(),
            name: format!("app {id}"),
            type_id: "jira".into(),
            rpc_url: url.into(),
            display_url: url.into(),
        }
    }

    fn desired(id: &str, url: &str, level: Option<OAuthLevel>) -> DesiredEnd {
        DesiredEnd {
            peer: peer(id, url),
            primary: false,
            oauth: level.map(LinkOAuthConfig::symmetric),
            allowlist: None,
        }
    }

    fn link(id: &str, url: &str) -> RemoteLink {
        RemoteLink {
            id: id.into(),
            name: format!("app {id}"),
            type_id: "jira".into(),
            display_url: Some(url.into()),
            rpc_url: Some(url.into()),
            primary: false,
            system: false,
        }
    }

    fn owned(id: &str, url: &str, level: OAuthLevel) -> ObservedEnd {
        ObservedEnd {
            link: Some(link(id, url)),
            oauth: Some(LinkOAuthConfig::symmetric(level)),
            claimed: Some(id.into()),
            elsewhere: false,
            allowlisted: None,
        }
    }

    fn two_way(level: OAuthLevel, source: ObservedEnd, target: ObservedEnd) -> Input {
        Input {
            deleting: false,
            deletion_policy: DeletionPolicy::Delete,
            adoption_policy: AdoptionPolicy::Never,
            source: Some(EndInput {
                desired: desired(CONF, "http://conf", Some(level)),
                observed: source,
            }),
            target: Some(EndInput {
                desired: desired(JIRA, "http://jira", Some(level)),
                observed: target,
            }),
        }
    }

    fn kinds(plan: &Plan) -> Vec<String> {
        match plan {
            Plan::Act(actions) => actions
                .iter()
                .map(|a| match a {
                    Step::Claim { end, .. } => format!("claim {}", end.as_str()),
                    Step::Create { end, .. } => format!("create {}", end.as_str()),
                    Step::Update { end, .. } => format!("update {}", end.as_str()),
                    Step::SetPrimary { end, .. } => format!("primary {}", end.as_str()),
                    Step::ConfigureOAuth { end, .. } => format!("oauth {}", end.as_str()),
                    Step::EnsureAllowlist { end, .. } => format!("allowlist {}", end.as_str()),
                    Step::Delete { end, .. } => format!("delete {}", end.as_str()),
                    Step::RemoveFinalizer => "remove-finalizer".into(),
                })
                .collect(),
            Plan::Blocked(b) => vec![format!("blocked {b:?}")],
        }
    }

    /// Observe: the drift is what adopting would change, without the ownership records; a
    /// link matching the spec has none; nothing is ever a step.
    #[test]
    fn drift_of_observed_links() {
        use OAuthLevel::*;
        let unowned = |level| ObservedEnd {
            claimed: None,
            ..owned("x", "http://x", level)
        };
        let matching = two_way(
            OAuth,
            ObservedEnd {
                link: Some(link(JIRA, "http://jira")),
                ..unowned(OAuth)
            },
            ObservedEnd {
                link: Some(link(CONF, "http://conf")),
                ..unowned(OAuth)
            },
        );
        assert!(
            matches!(plan(&matching), Plan::Blocked(Blocker::NotOwned { .. })),
            "Manage without Adopt would refuse"
        );
        let d = drift(&matching);
        assert!(d.iter().all(|l| !l.contains("claim")), "{d:?}");
        assert!(
            d.iter().all(|l| !l.contains("OAuth")),
            "levels match: {d:?}"
        );
        let mut weaker = matching.clone();
        weaker.target.as_mut().unwrap().observed.oauth =
            Some(LinkOAuthConfig::symmetric(ThreeLeggedOnly));
        let d = drift(&weaker);
        assert!(
            d.iter()
                .any(|l| l.starts_with("set the target end's OAuth to incoming OAuth")),
            "{d:?}"
        );
        let missing = two_way(OAuth, none_end(), none_end());
        let d = drift(&missing);
        assert!(d[0].starts_with("create the source end"), "{d:?}");
        let mut deleting = matching.clone();
        deleting.deleting = true;
        assert!(
            drift(&deleting).iter().all(|l| !l.starts_with("delete")),
            "an observed deletion deletes nothing"
        );
    }

    fn none_end() -> ObservedEnd {
        ObservedEnd::default()
    }

    #[test]
    fn table() {
        use OAuthLevel::*;
        let none = ObservedEnd::default;
        let mut cases: Vec<(&str, Input, Vec<&str>)> = vec![
            (
                "fresh two-way link: claim and create both ends, then OAuth on both",
                two_way(OAuth, none(), none()),
                vec![
                    "claim source",
                    "create source",
                    "claim target",
                    "create target",
                    "oauth source",
                    "oauth target",
                ],
            ),
            (
                "in sync: nothing to do",
                two_way(
                    OAuth,
                    owned(CONF, "http://conf", OAuth),
                    owned(JIRA, "http://jira", OAuth),
                ),
                vec![],
            ),
            (
                "crash after create, before status: the claimed end exists, no second create",
                two_way(
                    OAuth,
                    ObservedEnd {
                        oauth: Some(LinkOAuthConfig::symmetric(Disabled)),
                        ..owned(CONF, "http://conf", Disabled)
                    },
                    none(),
                ),
                vec![
                    "claim target",
                    "create target",
                    "oauth source",
                    "oauth target",
                ],
            ),
            (
                "claimed but missing (deleted behind our back): recreate without a new claim",
                two_way(
                    OAuth,
                    ObservedEnd {
                        link: None,
                        oauth: None,
                        claimed: Some(CONF.into()),
                        elsewhere: false,
                        allowlisted: None,
                    },
                    owned(JIRA, "http://jira", OAuth),
                ),
                vec!["create source", "oauth source"],
            ),
            (
                "re-authenticated behind our back: OAuth set again on that end only",
                two_way(
                    OAuthImpersonation,
                    owned(CONF, "http://conf", OAuthImpersonation),
                    owned(JIRA, "http://jira", OAuth),
                ),
                vec!["oauth target"],
            ),
            (
                "relocated peer: the end pointing at it is updated",
                two_way(
                    OAuth,
                    owned(CONF, "http://old-conf", OAuth),
                    owned(JIRA, "http://jira", OAuth),
                ),
                vec!["update source"],
            ),
            (
                "trailing slash and case do not count as a relocation",
                two_way(
                    OAuth,
                    owned(CONF, "HTTP://conf/", OAuth),
                    owned(JIRA, "http://jira", OAuth),
                ),
                vec![],
            ),
            (
                "an existing link we did not create is not touched",
                two_way(
                    OAuth,
                    ObservedEnd {
                        claimed: None,
                        ..owned(CONF, "http://conf", OAuth)
                    },
                    none(),
                ),
                vec![
                    "blocked NotOwned { end: Source, link_id: \"22222222-2222-2222-2222-222222222222\" }",
                ],
            ),
            (
                "the owned end points at another application: refused, nothing touched",
                two_way(
                    OAuth,
                    ObservedEnd {
                        claimed: Some("33333333-3333-3333-3333-333333333333".into()),
                        ..none()
                    },
                    none(),
                ),
                vec![
                    "blocked IdentityChanged { end: Source, claimed: \"33333333-3333-3333-3333-333333333333\", found: \"22222222-2222-2222-2222-222222222222\" }",
                ],
            ),
        ];
        // Adoption: the unowned end is claimed and brought in line.
        let mut adopt = two_way(
            OAuth,
            ObservedEnd {
                claimed: None,
                ..owned(CONF, "http://conf", Disabled)
            },
            owned(JIRA, "http://jira", OAuth),
        );
        adopt.adoption_policy = AdoptionPolicy::Adopt;
        cases.push((
            "adoption claims and reconfigures",
            adopt,
            vec!["claim source", "oauth source"],
        ));
        // One-way: only the source end, authentication left alone.
        let mut one_way = two_way(OAuth, none(), none());
        one_way.target = None;
        one_way.source.as_mut().unwrap().desired.oauth = None;
        cases.push((
            "one-way: the outgoing end only, no OAuth",
            one_way.clone(),
            vec!["claim source", "create source"],
        ));
        // Completing: credentials appeared, the source end is kept.
        let mut completing = two_way(OAuth, owned(CONF, "http://conf", Disabled), none());
        completing.source.as_mut().unwrap().observed.oauth =
            Some(LinkOAuthConfig::symmetric(Disabled));
        cases.push((
            "completing a one-way link keeps the source end",
            completing,
            vec![
                "claim target",
                "create target",
                "oauth source",
                "oauth target",
            ],
        ));
        // Primary.
        let mut primary = two_way(
            OAuth,
            owned(CONF, "http://conf", OAuth),
            owned(JIRA, "http://jira", OAuth),
        );
        primary.source.as_mut().unwrap().desired.primary = true;
        cases.push(("primary requested", primary, vec!["primary source"]));
        // Allowlist on the server end for a cloud peer.
        let mut cloud = two_way(
            OAuth,
            owned(CONF, "http://conf", OAuth),
            owned(JIRA, "http://jira", OAuth),
        );
        cloud.target.as_mut().unwrap().desired.allowlist =
            Some("https://acme.atlassian.net".into());
        cloud.target.as_mut().unwrap().observed.allowlisted = Some(false);
        cases.push((
            "cloud peer needs an allowlist rule",
            cloud.clone(),
            vec!["allowlist target"],
        ));
        cloud.target.as_mut().unwrap().observed.allowlisted = Some(true);
        cases.push(("allowlist rule present", cloud, vec![]));
        // Deletion.
        let mut del = two_way(
            OAuth,
            owned(CONF, "http://conf", OAuth),
            owned(JIRA, "http://jira", OAuth),
        );
        del.deleting = true;
        cases.push((
            "delete both owned ends; finalizer stays until verified",
            del.clone(),
            vec!["delete source", "delete target"],
        ));
        del.source.as_mut().unwrap().observed.link = None;
        cases.push((
            "one end verified gone, the other still there",
            del.clone(),
            vec!["delete target"],
        ));
        del.target.as_mut().unwrap().observed.link = None;
        cases.push((
            "both verified gone: finalizer removed",
            del.clone(),
            vec!["remove-finalizer"],
        ));
        let mut del_unowned = two_way(
            OAuth,
            ObservedEnd {
                claimed: None,
                ..owned(CONF, "http://conf", OAuth)
            },
            none(),
        );
        del_unowned.deleting = true;
        cases.push((
            "deletion never touches a link it does not own",
            del_unowned,
            vec!["remove-finalizer"],
        ));
        let mut orphan = two_way(
            OAuth,
            owned(CONF, "http://conf", OAuth),
            owned(JIRA, "http://jira", OAuth),
        );
        orphan.deleting = true;
        orphan.deletion_policy = DeletionPolicy::Orphan;
        cases.push(("orphan leaves both ends", orphan, vec!["remove-finalizer"]));

        // Claims held by another object (a copy, another tenant): never claimed, touched or
        // deleted, whatever the adoption policy.
        let mut copy = two_way(
            OAuth,
            ObservedEnd {
                claimed: None,
                elsewhere: true,
                ..owned(CONF, "http://conf", OAuth)
            },
            none(),
        );
        copy.adoption_policy = AdoptionPolicy::Adopt;
        cases.push((
            "a copy with Adopt: the original's end is not adopted",
            copy.clone(),
            vec![
                "blocked ClaimedElsewhere { end: Source, link_id: \"22222222-2222-2222-2222-222222222222\" }",
            ],
        ));
        let mut missing = copy.clone();
        missing.source.as_mut().unwrap().observed.link = None;
        cases.push((
            "held elsewhere but missing: not created either (the holder repairs it)",
            missing,
            vec![
                "blocked ClaimedElsewhere { end: Source, link_id: \"22222222-2222-2222-2222-222222222222\" }",
            ],
        ));
        let mut younger = two_way(
            OAuth,
            ObservedEnd {
                elsewhere: true,
                ..owned(CONF, "http://conf", OAuth)
            },
            owned(JIRA, "http://jira", OAuth),
        );
        younger.deleting = true;
        cases.push((
            "deleting the younger of two holders: only the end it alone holds is deleted",
            younger.clone(),
            vec!["delete target"],
        ));
        younger.target.as_mut().unwrap().observed.elsewhere = true;
        cases.push((
            "deleting a copy that holds nothing alone: nothing deleted, the finalizer goes",
            younger,
            vec!["remove-finalizer"],
        ));

        for (name, input, expected) in cases {
            assert_eq!(kinds(&plan(&input)), expected, "{name}");
        }
    }

    #[test]
    fn oauth_is_mirrored_and_create_uses_peer_id() {
        let input = two_way(
            OAuthLevel::OAuthImpersonation,
            ObservedEnd::default(),
            ObservedEnd::default(),
        );
        let Plan::Act(actions) = plan(&input) else {
            panic!("blocked")
        };
        let created: Vec<_> = actions
            .iter()
            .filter_map(|a| match a {
                Step::Create { link, .. } => Some(link.id.clone().unwrap()),
                _ => None,
            })
            .collect();
        assert_eq!(created, vec![CONF.to_string(), JIRA.to_string()]);
        for a in &actions {
            if let Step::ConfigureOAuth { config, .. } = a {
                assert_eq!(config.incoming.level(), OAuthLevel::OAuthImpersonation);
                assert_eq!(config.outgoing.level(), OAuthLevel::OAuthImpersonation);
                assert_eq!(*config, config.mirrored());
            }
        }
    }

    #[test]
    fn relocation_keeps_name_and_primary() {
        let mut obs = owned(CONF, "http://old", OAuthLevel::OAuth);
        obs.link.as_mut().unwrap().name = "Our Confluence".into();
        obs.link.as_mut().unwrap().primary = true;
        let input = two_way(
            OAuthLevel::OAuth,
            obs,
            owned(JIRA, "http://jira", OAuthLevel::OAuth),
        );
        let Plan::Act(actions) = plan(&input) else {
            panic!("blocked")
        };
        assert_eq!(
            actions,
            vec![Step::Update {
                end: End::Source,
                link_id: CONF.into(),
                update: LinkUpdate {
                    name: "Our Confluence".into(),
                    rpc_url: "http://conf".into(),
                    display_url: "http://conf".into(),
                    primary: true,
                },
            }]
        );
    }
}
