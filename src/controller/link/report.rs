//! Reading the applications' own health into status and the Ready condition.

use super::resolve::Resolved;
use crate::conditions::{Cond, READY};
use crate::crd::{
    ApplicationLink, ApplicationLinkStatus, AuthLevel, Authentication, EndAuth, EndHealth,
    EndStatus,
};
use crate::planner::{End, Input};

fn level(c: crate::atlassian::OAuthConfig) -> AuthLevel {
    AuthLevel {
        enabled: c.enabled,
        two_lo: c.two_lo_enabled,
        two_lo_impersonation: c.two_lo_impersonation_enabled,
    }
}

/// Reads the applications' own health and fills the status; returns the Ready condition.
pub(super) async fn report(
    obj: &ApplicationLink,
    r: &Resolved,
    input: &Input,
    status: &mut ApplicationLinkStatus,
) -> Cond {
    let mut first_error: Option<(String, String)> = None;
    let mut ends = vec![(End::Source, &input.source)];
    if let Some(t) = &input.target {
        ends.push((End::Target, t));
    }
    status.source = None;
    status.target = None;
    for (end, e) in ends {
        let link = e.observed.link.as_ref();
        let health = if r.two_way() {
            match r.client(end).link_status(&e.desired.peer.id).await {
                Ok(Some(s)) => Some(EndHealth {
                    working: s.working,
                    error_category: s.error.as_ref().map(|x| x.category.as_str().to_string()),
                    error_type: s.error.as_ref().map(|x| x.error_type.as_str().to_string()),
                    details: s.error.as_ref().and_then(|x| x.details.clone()),
                }),
                Ok(None) => Some(EndHealth {
                    working: false,
                    error_type: Some("NO_LINK".into()),
                    ..Default::default()
                }),
                Err(err) => Some(EndHealth {
                    working: false,
                    error_category: Some("OPERATOR".into()),
                    error_type: Some(err.reason().to_string()),
                    details: Some(err.to_string()),
                }),
            }
        } else {
            None
        };
        // With authentication None, both sides being off is what was asked for: the
        // applications report DISABLED, which is the healthy state of such a link.
        let expected_disabled = obj.spec.authentication == Authentication::None
            && health.as_ref().and_then(|h| h.error_type.as_deref()) == Some("DISABLED");
        if let Some(h) = &health
            && !h.working
            && !expected_disabled
            && first_error.is_none()
        {
            let t = h.error_type.clone().unwrap_or_else(|| "UNKNOWN".into());
            first_error = Some((
                t.clone(),
                format!(
                    "{} reports the link as not working: {}{}",
                    r.app(end).label,
                    t,
                    h.details
                        .as_ref()
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default()
                ),
            ));
        }
        let s = EndStatus {
            link_id: link.map(|l| l.id.clone()),
            url: link.and_then(|l| l.rpc_url.clone()),
            display_url: link.and_then(|l| l.display_url.clone()),
            primary: link.map(|l| l.primary),
            owned: Some(e.observed.claimed.is_some()),
            auth: e.observed.oauth.map(|o| EndAuth {
                incoming: level(o.incoming),
                outgoing: level(o.outgoing),
            }),
            health,
        };
        match end {
            End::Source => status.source = Some(s),
            End::Target => status.target = Some(s),
        }
    }
    if !r.two_way() {
        status.health = Some("OneWay".into());
        let target = obj
            .spec
            .target
            .instance_ref
            .as_ref()
            .map(|t| format!("ApplicationInstance {}", t.name));
        let completes = match target {
            Some(t) => format!(
                "add credentialsSecretRef with an administrator of {} to {t}",
                r.target.url
            ),
            None => format!(
                "declare an ApplicationInstance with administrator credentials for {} and reference it in spec.target.instanceRef",
                r.target.url
            ),
        };
        return Cond::new(
            READY,
            true,
            "OneWayLink",
            format!(
                "only the outgoing link in {} exists, without authentication, because the operator does not administer {}. To complete it (link back and {:?} on both ends), {completes}",
                r.source.label, r.target.label, obj.spec.authentication
            ),
        );
    }
    match first_error {
        None if obj.spec.authentication == Authentication::None => {
            status.health = Some("Unauthenticated".into());
            Cond::new(
                READY,
                true,
                "LinkedWithoutAuthentication",
                "both ends exist without authentication, as spec.authentication: None asks; the applications report the link as DISABLED (no OAuth)",
            )
        }
        None => {
            status.health = Some("Working".into());
            Cond::new(
                READY,
                true,
                "Working",
                format!(
                    "both ends exist, authentication {:?} is configured on both, and both applications report the link as working",
                    obj.spec.authentication
                ),
            )
        }
        Some((t, msg)) => {
            status.health = Some(t.clone());
            Cond::new(READY, false, pascal(&t), msg)
        }
    }
}

/// AUTH_LEVEL_MISMATCH -> AuthLevelMismatch, for condition reasons.
fn pascal(s: &str) -> String {
    s.split(['_', '-'])
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + &c.as_str().to_ascii_lowercase())
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pascal_case_reasons() {
        assert_eq!(pascal("AUTH_LEVEL_MISMATCH"), "AuthLevelMismatch");
        assert_eq!(pascal("CONNECTION_REFUSED"), "ConnectionRefused");
    }
}
