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
    pub(super) target_type: String,
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
        conditions: Vec::new(),
    };
    (status, verdict)
}

/// A failed pass: the last observation stays (nothing new was learnt), the verdict is the
/// error's.
pub(super) fn failed_status(obj: &ApplicationLink) -> ApplicationLinkStatus {
    ApplicationLinkStatus {
        observed_generation: obj.metadata.generation,
        conditions: Vec::new(),
        ..obj.status.clone().unwrap_or_default()
    }
}

/// Ready from the applications' own verdicts on the managed ends.
fn health_verdict(obj: &ApplicationLink, shape: &Shape, observed: &Observation) -> Verdict {
    let auth = obj.spec.authentication;
    if shape.mode == Mode::OneWay {
        let completes = match &obj.spec.target.instance_ref {
            Some(t)
                if shape.target_type == "stash" && shape.target_url.contains("bitbucket.org") =>
            {
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
                "{} reports the link as not working: {detail}",
                shape.label(end)
            ),
        },
    }
}
