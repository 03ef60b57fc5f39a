//! Observing both ends (client required; reads only): the link, its OAuth levels, the
//! allowlist, the ownership claims, and the applications' own health verdict.

use super::super::claims::{self, Claimant, Held, Standing};
use super::claim;
use super::resolve::{Mode, Resolved};
use crate::atlassian::{ApiError, LinkOAuthConfig, LinkStatus, OAuthLevel};
use crate::crd::{ApplicationLink, Authentication, LinkClaim, LinkClaims};
use crate::errors::Error;
use crate::planner::{DesiredEnd, End, EndInput, Input, ObservedEnd};

/// What one pass saw, for the planner and for the status.
#[derive(Debug)]
pub(super) struct Observation {
    pub(super) input: Input,
    /// The status API's verdict per managed end (`None` when not asked: no link, a one-way
    /// link, or a deletion).
    pub(super) source_health: Option<Health>,
    pub(super) target_health: Option<Health>,
}

impl Observation {
    pub(super) fn health(&self, end: End) -> Option<&Health> {
        match end {
            End::Source => self.source_health.as_ref(),
            End::Target => self.target_health.as_ref(),
        }
    }
}

/// One application's verdict on its end of the link.
#[derive(Debug)]
pub(super) enum Health {
    Reported(LinkStatus),
    /// The status API does not know the link.
    NoLink,
    /// The operator could not ask.
    Unknown(ApiError),
}

fn oauth_for(auth: Authentication) -> LinkOAuthConfig {
    LinkOAuthConfig::symmetric(match auth {
        Authentication::OAuth => OAuthLevel::OAuth,
        Authentication::OAuthImpersonation => OAuthLevel::OAuthImpersonation,
        Authentication::None => OAuthLevel::Disabled,
        // Never applied: the pipeline stops before planning unless the link is being deleted,
        // and a deletion does not configure OAuth.
        Authentication::OAuth2 => OAuthLevel::Disabled,
    })
}

/// Origin (scheme://host[:port]) of a URL: the domain an allowlist rule names.
fn origin(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_else(|_| url.to_string())
}

/// What each managed end should be.
fn desired(obj: &ApplicationLink, r: &Resolved, end: End) -> DesiredEnd {
    let peer = r.app(end.other());
    let oauth = match r.mode {
        Mode::OneWay => None,
        Mode::TwoWay if end == End::Target => Some(oauth_for(obj.spec.authentication).mirrored()),
        Mode::TwoWay | Mode::Cloud { .. } => Some(oauth_for(obj.spec.authentication)),
    };
    DesiredEnd {
        peer: peer.as_peer(),
        primary: match end {
            End::Source => obj.spec.source.primary,
            End::Target => obj.spec.target.primary,
        },
        oauth,
        // A cloud site calls the server: the server allows the site's domain in.
        allowlist: matches!(r.mode, Mode::Cloud { .. }).then(|| origin(&peer.url)),
    }
}

pub(super) async fn observe(
    obj: &ApplicationLink,
    r: &Resolved,
    claims: &LinkClaims,
    others: &[(Held, Claimant)],
    deleting: bool,
) -> Result<Observation, Error> {
    let one = |end: End| async move {
        if !r.manages(end) {
            return Ok::<_, Error>((None, None));
        }
        let desired = desired(obj, r, end);
        let with_health = !deleting && r.mode != Mode::OneWay;
        let (mut observed, health) = observe_end(r, end, &desired, deleting, with_health).await?;
        (observed.claimed, observed.elsewhere) = ownership(obj, r, claims, others, end, &desired)?;
        Ok((Some(EndInput { desired, observed }), health))
    };
    // The two applications are read at once: a pass waits for the longer chain of reads, not
    // for both (each application's own limit still applies).
    let ((source, source_health), (target, target_health)) =
        futures::future::try_join(one(End::Source), one(End::Target)).await?;
    Ok(Observation {
        input: Input {
            deleting,
            deletion_policy: obj.spec.deletion_policy,
            adoption_policy: obj.spec.adoption_policy,
            source,
            target,
        },
        source_health,
        target_health,
    })
}

/// This resource's claim on the end (its link id), and whether another object holds the end.
fn ownership(
    obj: &ApplicationLink,
    r: &Resolved,
    claims: &LinkClaims,
    others: &[(Held, Claimant)],
    end: End,
    desired: &DesiredEnd,
) -> Result<(Option<String>, bool), Error> {
    let application_id = &r.app(end).id;
    let mine = claim::of(claims, end);
    if let Some(c) = mine
        && &c.application_id != application_id
    {
        return Err(Error::TargetIdentityChanged {
            end: end.as_str(),
            claimed: format!(
                "{} (its end lives in application {})",
                c.link_id, c.application_id
            ),
            found: format!("{} (in application {application_id})", desired.peer.id),
        });
    }
    let thing = Held::Link(LinkClaim {
        application_id: application_id.clone(),
        link_id: desired.peer.id.clone(),
    });
    let held = mine.is_some_and(|c| c.link_id == desired.peer.id);
    let standing = claims::standing(&Claimant::of(obj), &thing, held, others);
    Ok((
        mine.map(|c| c.link_id.clone()),
        standing == Standing::Elsewhere,
    ))
}

/// One end: the link, its health (when asked for) and its OAuth levels. The health reply
/// carries this end's OAuth levels (`localAuthentication`), so they are read on their own only
/// when it does not.
async fn observe_end(
    r: &Resolved,
    end: End,
    desired: &DesiredEnd,
    deleting: bool,
    with_health: bool,
) -> Result<(ObservedEnd, Option<Health>), Error> {
    // Deletion needs only the link itself: neither its OAuth levels nor the allowlist.
    let with_oauth = desired.oauth.is_some() && !deleting;
    let app = r.app(end);
    let client = r.client(end)?;
    let ctx_msg = |what: &str| format!("{what} in {}", app.label);
    let link = client
        .get_link(&desired.peer.id)
        .await
        .map_err(|e| Error::remote(ctx_msg("reading the link"), e))?;
    let health = match (&link, with_health) {
        (Some(_), true) => Some(read_health(r, end, &desired.peer.id).await?),
        _ => None,
    };
    let oauth = match (&link, with_oauth, reported_oauth(health.as_ref())) {
        (Some(_), true, Some(levels)) => Some(levels),
        (Some(_), true, None) => client
            .get_oauth_config(&desired.peer.id)
            .await
            .map_err(|e| Error::remote(ctx_msg("reading the link's OAuth configuration"), e))?,
        _ => None,
    };
    let allowlisted = match desired.allowlist.as_ref().filter(|_| !deleting) {
        Some(domain) => Some(
            client
                .list_allowlist_rules()
                .await
                .map_err(|e| Error::remote(ctx_msg("reading the allowlist"), e))?
                .iter()
                .any(|rule| rule.allows_inbound_from(domain)),
        ),
        None => None,
    };
    let observed = ObservedEnd {
        link,
        oauth,
        claimed: None,
        elsewhere: false,
        allowlisted,
    };
    Ok((observed, health))
}

/// This end's OAuth levels as the status reply gives them, if it does.
fn reported_oauth(health: Option<&Health>) -> Option<LinkOAuthConfig> {
    match health? {
        Health::Reported(s) => s.local_authentication,
        Health::NoLink | Health::Unknown(_) => None,
    }
}

/// The application's own verdict. Failing to ask is a fact to report, not an error of the
/// pass: credentials problems and outages show up through the other reads first.
async fn read_health(r: &Resolved, end: End, peer_id: &str) -> Result<Health, Error> {
    Ok(match r.client(end)?.link_status(peer_id).await {
        Ok(Some(s)) => Health::Reported(s),
        Ok(None) => Health::NoLink,
        Err(e) => Health::Unknown(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atlassian::ApiError;

    #[test]
    fn oauth_levels_come_from_the_health_reply_when_it_has_them() {
        let levels = LinkOAuthConfig::symmetric(OAuthLevel::OAuth);
        let with = |local| {
            Health::Reported(LinkStatus {
                local_authentication: local,
                ..Default::default()
            })
        };
        let unknown = Health::Unknown(ApiError::InvalidConfig { detail: "x".into() });
        let cases = [
            ("not asked", None, None),
            ("reported", Some(with(Some(levels))), Some(levels)),
            ("reply without them", Some(with(None)), None),
            ("no link in the status API", Some(Health::NoLink), None),
            ("could not ask", Some(unknown), None),
        ];
        for (name, health, want) in cases {
            assert_eq!(reported_oauth(health.as_ref()), want, "{name}");
        }
    }
}
