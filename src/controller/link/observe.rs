//! Reading both ends: the link, its OAuth levels, the allowlist, the ownership claims.

use kube::ResourceExt;

use super::claim_key;
use super::resolve::Resolved;
use crate::atlassian::{AllowlistRuleType, LinkOAuthConfig, OAuthLevel};
use crate::crd::{ApplicationLink, Authentication};
use crate::errors::Error;
use crate::planner::{DesiredEnd, End, EndInput, Input, ObservedEnd};

fn oauth_for(auth: Authentication) -> LinkOAuthConfig {
    LinkOAuthConfig::symmetric(match auth {
        Authentication::OAuth => OAuthLevel::OAuth,
        Authentication::OAuthImpersonation => OAuthLevel::OAuthImpersonation,
        Authentication::None => OAuthLevel::Disabled,
    })
}

/// Origin (scheme://host[:port]) of a URL: the domain an allowlist rule names.
fn origin(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_else(|_| url.to_string())
}

pub(super) async fn observe(
    obj: &ApplicationLink,
    r: &Resolved,
    deleting: bool,
) -> Result<Input, Error> {
    let two_way = r.two_way();
    let oauth = two_way.then(|| oauth_for(obj.spec.authentication));
    let desired_source = DesiredEnd {
        peer: r.target.as_peer(),
        primary: obj.spec.source.primary,
        oauth,
        allowlist: (r.target.cloud && !r.source.cloud).then(|| origin(&r.target.url)),
    };
    let source = EndInput {
        observed: observe_end(obj, r, End::Source, &desired_source, deleting).await?,
        desired: desired_source,
    };
    let target = if two_way {
        let desired = DesiredEnd {
            peer: r.source.as_peer(),
            primary: obj.spec.target.primary,
            oauth: oauth.map(LinkOAuthConfig::mirrored),
            allowlist: (r.source.cloud && !r.target.cloud).then(|| origin(&r.source.url)),
        };
        Some(EndInput {
            observed: observe_end(obj, r, End::Target, &desired, deleting).await?,
            desired,
        })
    } else {
        None
    };
    Ok(Input {
        deleting,
        deletion_policy: obj.spec.deletion_policy,
        adoption_policy: obj.spec.adoption_policy,
        source,
        target,
    })
}

async fn observe_end(
    obj: &ApplicationLink,
    r: &Resolved,
    end: End,
    desired: &DesiredEnd,
    deleting: bool,
) -> Result<ObservedEnd, Error> {
    // Deletion needs only the link itself: neither its OAuth levels nor the allowlist.
    let with_oauth = desired.oauth.is_some() && !deleting;
    let app = r.app(end);
    let client = r.client(end);
    let ctx_msg = |what: &str| format!("{what} in {}", app.label);
    let link = client
        .get_link(&desired.peer.id)
        .await
        .map_err(|e| Error::remote(ctx_msg("reading the link"), e))?;
    let oauth = match (&link, with_oauth) {
        (Some(_), true) => client
            .get_oauth_config(&desired.peer.id)
            .await
            .map_err(|e| Error::remote(ctx_msg("reading the link's OAuth configuration"), e))?,
        _ => None,
    };
    let allowlisted = match desired.allowlist.as_ref().filter(|_| !deleting) {
        Some(url) => Some(
            client
                .list_allowlist_rules()
                .await
                .map_err(|e| Error::remote(ctx_msg("reading the allowlist"), e))?
                .iter()
                .any(|rule| {
                    rule.rule_type == AllowlistRuleType::DomainName
                        && rule.expression == *url
                        && rule.allow_inbound
                }),
        ),
        None => None,
    };
    Ok(ObservedEnd {
        link,
        oauth,
        claimed: obj.annotations().get(claim_key(end)).cloned(),
        allowlisted,
    })
}
