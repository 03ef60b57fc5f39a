//! The link's whole status from what was observed and done (no client required;
//! table-tested). `status.health` and the Ready reason share one vocabulary
//! ([`crate::reasons`]): `Working`, `OneWayLink`, `LinkedWithoutAuthentication`,
//! `AwaitingCloudAdmin`, or what the applications report (`AuthLevelMismatch`, …).

use super::observe::{Health, Observation};
use super::resolve::Mode;
use crate::atlassian::{LinkOAuthConfig, OAuthConfig, StatusErrorType};
use crate::controller::outcome::Verdict;
use crate::crd::{
    ApplicationLink, ApplicationLinkStatus, AuthLevel, Authentication, EndAuth, EndHealth,
    EndStatus, LinkMode,
};
use crate::planner::End;
use crate::reasons::{self, *};

/// What of the resolved applications the status speaks of.
#[derive(Clone, Debug)]
pub(super) struct Shape {
    pub(super) mode: Mode,
    pub(super) source_label: String,
    pub(super) target_label: String,
    pub(super) source_url: String,
    pub(super) target_url: String,
    pub(super) target_is_bitbucket_cloud: bool,
}

impl Shape {
    fn label(&self, end: End) -> &str {
        match end {
            End::Source => &self.source_label,
            End::Target => &self.target_label,
        }
    }

    fn url(&self, end: End) -> &str {
        match end {
            End::Source => &self.source_url,
            End::Target => &self.target_url,
        }
    }
}

/// How far the pass got.
pub(super) enum Pass {
    /// Nothing to change: the verdict comes from the applications' health.
    Observed(Shape, Observation),
    /// Changes were made (this many steps); observed again shortly.
    Applied(Shape, Observation, usize),
}

fn level(c: OAuthConfig) -> AuthLevel {
    AuthLevel {
        enabled: c.enabled,
        two_lo: c.two_lo_enabled,
        two_lo_impersonation: c.two_lo_impersonation_enabled,
    }
}

fn end_auth(o: LinkOAuthConfig) -> EndAuth {
    EndAuth {
        incoming: level(o.incoming),
        outgoing: level(o.outgoing),
    }
}

fn end_health(h: &Health) -> EndHealth {
    match h {
        Health::Reported(s) => EndHealth {
            working: s.working,
            error_category: s.error.as_ref().map(|x| x.category.as_str().to_string()),
            error_type: s.error.as_ref().map(|x| x.error_type.as_str().to_string()),
            details: s.error.as_ref().and_then(|x| x.details.clone()),
        },
        Health::NoLink => EndHealth {
            working: false,
            error_type: Some("NO_LINK".into()),
            ..Default::default()
        },
        Health::Unknown(e) => EndHealth {
            working: false,
            error_category: Some("OPERATOR".into()),
            error_type: Some(e.reason().to_string()),
            details: Some(e.to_string()),
        },
    }
}

/// The status of a pass that ran to the end (errors keep the last observation; see
/// [`failed_status`]).
pub(super) fn link_status(obj: &ApplicationLink, pass: &Pass) -> (ApplicationLinkStatus, Verdict) {
    let (shape, observed) = match pass {
        Pass::Observed(s, o) | Pass::Applied(s, o, _) => (s, o),
    };
    let end_status = |end: End| -> Option<EndStatus> {
        let e = match end {
            End::Source => observed.input.source.as_ref(),
            End::Target => observed.input.target.as_ref(),
        }?;
        let link = e.observed.link.as_ref();
        Some(EndStatus {
            link_id: link.map(|l| l.id.clone()),
            url: link.and_then(|l| l.rpc_url.clone()),
            display_url: link.and_then(|l| l.display_url.clone()),
            primary: link.map(|l| l.primary),
            owned: Some(e.observed.claimed.is_some()),
            auth: e.observed.oauth.map(end_auth),
            health: observed.health(end).map(end_health),
        })
    };
    let verdict = match pass {
        Pass::Applied(_, _, n) => Verdict::Applied {
            reason: APPLYING,
            message: format!("applied {n} change(s); verifying"),
        },
        Pass::Observed(..) => health_verdict(obj, shape, observed),
    };
    let status = ApplicationLinkStatus {
        observed_generation: obj.metadata.generation,
        mode: Some(match shape.mode {
            Mode::TwoWay => LinkMode::TwoWay,
            Mode::OneWay => LinkMode::OneWay,
            Mode::Cloud { .. } => LinkMode::Cloud,
        }),
        health: Some(match &verdict {
            Verdict::Applied { .. } => obj
                .status
                .as_ref()
                .and_then(|s| s.health.clone())
                .unwrap_or_else(|| reasons::NOT_CHECKED.into()),
            v => v.reason().to_string(),
        }),
        source: end_status(End::Source),
        target: end_status(End::Target),
        // Observe mode only: set by the caller, which holds the drift.
        drift: None,
        // The pass's claims: set by the caller, which holds them.
        claims: None,
        // Set by the caller too (it echoes the resync request it handled).
        last_handled_reconcile_at: None,
        conditions: Vec::new(),
    };
    (status, verdict)
}

/// A failed pass: the last observation stays (nothing new was learnt), the verdict is the
/// error's.
pub(super) fn failed_status(obj: &ApplicationLink) -> ApplicationLinkStatus {
    let old = obj.status.clone();
    ApplicationLinkStatus {
        observed_generation: obj.metadata.generation,
        conditions: Vec::new(),
        // A first status says "no claims" outright, so annotations are never taken for an older
        // operator's claims later; an older operator's status keeps waiting for the migration.
        claims: match &old {
            None => Some(Default::default()),
            Some(s) => s.claims.clone(),
        },
        ..old.unwrap_or_default()
    }
}

/// Ready from the applications' own verdicts on the managed ends.
fn health_verdict(obj: &ApplicationLink, shape: &Shape, observed: &Observation) -> Verdict {
    let auth = obj.spec.authentication;
    if shape.mode == Mode::OneWay {
        let completes = match &obj.spec.target.instance_ref {
            Some(t) if shape.target_is_bitbucket_cloud => {
                format!(
                    "nothing: Bitbucket Cloud has no application links, so ApplicationInstance {} can only be a one-way target",
                    t.name
                )
            }
            Some(t) => format!(
                "add credentialsSecretRef with an administrator of {} to ApplicationInstance {}",
                shape.target_url, t.name
            ),
            None => format!(
                "declare an ApplicationInstance with administrator credentials for {} and reference it in spec.target.instanceRef",
                shape.target_url
            ),
        };
        return Verdict::Settled {
            reason: ONE_WAY_LINK,
            message: format!(
                "only the outgoing link in {} exists, without authentication, because the operator does not administer {}. To complete it (link back and {auth:?} on both ends), {completes}",
                shape.source_label, shape.target_label
            ),
        };
    }
    let mut first_failure = None;
    for end in [End::Source, End::Target] {
        let Some(h) = observed.health(end) else {
            continue;
        };
        let (working, reason, detail) = match h {
            Health::Reported(s) => {
                let t = s.error.as_ref().map(|e| &e.error_type);
                // With authentication None, both sides being off is what was asked for.
                if auth == Authentication::None && t == Some(&StatusErrorType::Disabled) {
                    continue;
                }
                (
                    s.working,
                    t.map(reasons::link_health).unwrap_or("LinkNotWorking"),
                    s.error.as_ref().map(|e| {
                        let d = e
                            .details
                            .as_deref()
                            .map(|d| format!(" ({d})"))
                            .unwrap_or_default();
                        format!("{}{d}", e.error_type.as_str())
                    }),
                )
            }
            Health::NoLink => (
                false,
                NO_LINK,
                Some("the status API does not know the link".into()),
            ),
            Health::Unknown(e) => (false, HEALTH_UNKNOWN, Some(e.to_string())),
        };
        if !working && first_failure.is_none() {
            first_failure = Some((end, reason, detail.unwrap_or_default()));
        }
    }
    if let Mode::Cloud { cloud_end } = shape.mode {
        let server = cloud_end.other();
        return match first_failure {
            None => Verdict::Settled {
                reason: WORKING,
                message: format!(
                    "the end in {} exists with {auth:?}, and {} reports the link to the cloud site as working",
                    shape.label(server),
                    shape.label(server)
                ),
            },
            Some((_, reason, detail)) => Verdict::Waiting {
                reason: AWAITING_CLOUD_ADMIN,
                message: format!(
                    "the end in {server_label} is created and authenticated (incoming 2-legged OAuth from the cloud site, no impersonation) and {cloud}'s domain is allowlisted there; the cloud end is made by the site's administrator: open {cloud}/plugins/servlet/applinks/listApplicationLinks, choose Create link, enter {server_url}, confirm it is an Atlassian product, and leave 'The servers have the same set of users' unticked. {server_label} reports {reason}: {detail}",
                    server_label = shape.label(server),
                    cloud = shape.url(cloud_end).trim_end_matches('/'),
                    server_url = shape.url(server),
                ),
            },
        };
    }
    match first_failure {
        None if auth == Authentication::None => Verdict::Settled {
            reason: LINKED_WITHOUT_AUTHENTICATION,
            message: "both ends exist without authentication, as spec.authentication: None asks; the applications report the link as DISABLED (no OAuth)".into(),
        },
        None => Verdict::Settled {
            reason: WORKING,
            message: format!(
                "both ends exist, authentication {auth:?} is configured on both, and both applications report the link as working"
            ),
        },
        Some((end, reason, detail)) => Verdict::Waiting {
            reason,
            message: format!(
                "{} reports the link as not working: {detail}{}",
                shape.label(end),
                crate::reasons::health_advice(reason)
                    .map(|a| format!(". {a}"))
                    .unwrap_or_default()
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atlassian::{ErrorCategory, LinkStatus, OAuthLevel, RemoteLink, StatusError};
    use crate::crd::{AdoptionPolicy, DeletionPolicy};
    use crate::planner::{DesiredEnd, EndInput, Input, ObservedEnd, Peer};

    fn link(auth: Authentication, target_ref: bool) -> ApplicationLink {
        let target = if target_ref {
            "{instanceRef: {name: confluence}}"
        } else {
            "{url: 'http://conf'}"
        };
        let mut l: ApplicationLink = serde_yaml::from_str(&format!(
            "apiVersion: applinks.io/v1alpha1\nkind: ApplicationLink\nmetadata: {{name: l, generation: 3}}\nspec:\n  source: {{instanceRef: {{name: jira}}}}\n  target: {target}\n  authentication: {auth:?}\n"
        ))
        .unwrap();
        l.metadata.generation = Some(3);
        l
    }

    fn shape(mode: Mode) -> Shape {
        Shape {
            mode,
            source_label: "ApplicationInstance jira".into(),
            target_label: "ApplicationInstance confluence".into(),
            source_url: "https://jira".into(),
            target_url: "https://conf.atlassian.net".into(),
            target_is_bitbucket_cloud: false,
        }
    }

    fn end(id: &str) -> EndInput {
        EndInput {
            desired: DesiredEnd {
                peer: Peer {
                    id: id.into(),
                    name: id.into(),
                    type_id: "jira".into(),
                    rpc_url: "http://x".into(),
                    display_url: "http://x".into(),
                },
                primary: false,
                oauth: Some(LinkOAuthConfig::symmetric(OAuthLevel::OAuth)),
                allowlist: None,
            },
            observed: ObservedEnd {
                link: Some(RemoteLink {
                    id: id.into(),
                    name: id.into(),
                    type_id: "jira".into(),
                    rpc_url: Some("http://x".into()),
                    display_url: Some("http://x".into()),
                    primary: true,
                    system: false,
                }),
                oauth: Some(LinkOAuthConfig::symmetric(OAuthLevel::OAuth)),
                claimed: Some(id.into()),
                elsewhere: false,
                allowlisted: None,
            },
        }
    }

    fn working() -> Health {
        Health::Reported(LinkStatus {
            working: true,
            ..Default::default()
        })
    }

    fn failing(t: StatusErrorType) -> Health {
        Health::Reported(LinkStatus {
            working: false,
            error: Some(StatusError {
                category: ErrorCategory::ConfigError,
                error_type: t,
                details: Some("details".into()),
                authorisation_uri: None,
            }),
            ..Default::default()
        })
    }

    fn observed(
        source: Option<EndInput>,
        target: Option<EndInput>,
        sh: Option<Health>,
        th: Option<Health>,
    ) -> Observation {
        Observation {
            input: Input {
                deleting: false,
                deletion_policy: DeletionPolicy::Delete,
                adoption_policy: AdoptionPolicy::Never,
                source,
                target,
            },
            source_health: sh,
            target_health: th,
        }
    }

    /// (why, link, pass, Ready reason, ready, health, has source, has target)
    #[test]
    fn table() {
        use Authentication::OAuth;
        type Case = (
            &'static str,
            ApplicationLink,
            Pass,
            &'static str,
            bool,
            bool,
            bool,
        );
        let cases: Vec<Case> = vec![
            (
                "two-way, both working",
                link(OAuth, true),
                Pass::Observed(
                    shape(Mode::TwoWay),
                    observed(
                        Some(end("c")),
                        Some(end("j")),
                        Some(working()),
                        Some(working()),
                    ),
                ),
                WORKING,
                true,
                true,
                true,
            ),
            (
                "two-way, the target reports a mismatch",
                link(OAuth, true),
                Pass::Observed(
                    shape(Mode::TwoWay),
                    observed(
                        Some(end("c")),
                        Some(end("j")),
                        Some(working()),
                        Some(failing(StatusErrorType::AuthLevelMismatch)),
                    ),
                ),
                "AuthLevelMismatch",
                false,
                true,
                true,
            ),
            (
                "authentication None: DISABLED on both is the healthy state",
                link(Authentication::None, true),
                Pass::Observed(
                    shape(Mode::TwoWay),
                    observed(
                        Some(end("c")),
                        Some(end("j")),
                        Some(failing(StatusErrorType::Disabled)),
                        Some(failing(StatusErrorType::Disabled)),
                    ),
                ),
                LINKED_WITHOUT_AUTHENTICATION,
                true,
                true,
                true,
            ),
            (
                "one-way: Ready, and the target end is not in status (stale status defect)",
                link(OAuth, true),
                Pass::Observed(
                    shape(Mode::OneWay),
                    observed(Some(end("c")), None, None, None),
                ),
                ONE_WAY_LINK,
                true,
                true,
                false,
            ),
            (
                "cloud target: waiting for the site's administrator",
                link(OAuth, true),
                Pass::Observed(
                    shape(Mode::Cloud {
                        cloud_end: End::Target,
                    }),
                    observed(
                        Some(end("c")),
                        None,
                        Some(failing(StatusErrorType::NoRemoteApplink)),
                        None,
                    ),
                ),
                AWAITING_CLOUD_ADMIN,
                false,
                true,
                false,
            ),
            (
                "cloud target: the server end reports working",
                link(OAuth, true),
                Pass::Observed(
                    shape(Mode::Cloud {
                        cloud_end: End::Target,
                    }),
                    observed(Some(end("c")), None, Some(working()), None),
                ),
                WORKING,
                true,
                true,
                false,
            ),
            (
                "changes applied: not Ready yet",
                link(OAuth, true),
                Pass::Applied(shape(Mode::TwoWay), observed(None, None, None, None), 2),
                APPLYING,
                false,
                false,
                false,
            ),
        ];
        for (why, obj, pass, reason, ready, has_source, has_target) in cases {
            let (status, verdict) = link_status(&obj, &pass);
            assert_eq!(verdict.reason(), reason, "{why}");
            assert_eq!(
                matches!(verdict, Verdict::Settled { .. }),
                ready,
                "{why}: {verdict:?}"
            );
            assert_eq!(status.source.is_some(), has_source, "{why}");
            assert_eq!(status.target.is_some(), has_target, "{why}");
            assert_eq!(status.observed_generation, Some(3), "{why}");
            if ready {
                assert_eq!(
                    status.health.as_deref(),
                    Some(reason),
                    "{why}: one vocabulary"
                );
            }
        }
    }

    #[test]
    fn cloud_message_says_what_the_site_admin_must_do() {
        let obj = link(Authentication::OAuth, true);
        let pass = Pass::Observed(
            shape(Mode::Cloud {
                cloud_end: End::Target,
            }),
            observed(
                Some(end("c")),
                None,
                Some(failing(StatusErrorType::NoRemoteApplink)),
                None,
            ),
        );
        let (_, verdict) = link_status(&obj, &pass);
        let m = verdict.message();
        assert!(
            m.contains("https://conf.atlassian.net/plugins/servlet/applinks/listApplicationLinks"),
            "{m}"
        );
        assert!(m.contains("https://jira") && m.contains("unticked"), "{m}");
    }

    #[test]
    fn failed_pass_keeps_the_last_observation() {
        let mut obj = link(Authentication::OAuth, true);
        obj.status = Some(ApplicationLinkStatus {
            health: Some("Working".into()),
            mode: Some(LinkMode::TwoWay),
            ..Default::default()
        });
        let s = failed_status(&obj);
        assert_eq!(s.health.as_deref(), Some("Working"));
        assert_eq!(s.observed_generation, Some(3));
    }
}
