//! OAuth 1.0a levels of a link through the status API: `GET|PUT
//! rest/applinks/3.0/status/{id}/oauth` (docs/protocol.md, OAuth configuration).

use serde::{Deserialize, Serialize};

use super::client::{AtlassianClient, Call};
use super::error::ApiError;

/// One direction's OAuth configuration (`RestOAuthConfig`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuthConfig {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub two_lo_enabled: bool,
    #[serde(default)]
    pub two_lo_impersonation_enabled: bool,
}

/// The cumulative levels the server recognises; any flag combination maps onto one of them
/// the same way the server reads its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OAuthLevel {
    /// (f,f,f)
    Disabled,
    /// (t,f,f): 3-legged only; applinks reports it as `AUTH_LEVEL_UNSUPPORTED`.
    ThreeLeggedOnly,
    /// (t,t,f): 3LO + 2LO, the default "OAuth".
    OAuth,
    /// (t,t,t): 3LO + 2LO + 2LO with impersonation (needs sysadmin to set).
    OAuthImpersonation,
}

impl OAuthLevel {
    pub fn config(self) -> OAuthConfig {
        let (enabled, two_lo, imp) = match self {
            Self::Disabled => (false, false, false),
            Self::ThreeLeggedOnly => (true, false, false),
            Self::OAuth => (true, true, false),
            Self::OAuthImpersonation => (true, true, true),
        };
        OAuthConfig {
            enabled,
            two_lo_enabled: two_lo,
            two_lo_impersonation_enabled: imp,
        }
    }
}

impl OAuthConfig {
    pub fn level(self) -> OAuthLevel {
        if !self.enabled {
            OAuthLevel::Disabled
        } else if self.two_lo_impersonation_enabled {
            OAuthLevel::OAuthImpersonation
        } else if self.two_lo_enabled {
            OAuthLevel::OAuth
        } else {
            OAuthLevel::ThreeLeggedOnly
        }
    }
}

impl From<OAuthLevel> for OAuthConfig {
    fn from(level: OAuthLevel) -> Self {
        level.config()
    }
}

/// Incoming and outgoing OAuth of one link end, as stored on that application.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkOAuthConfig {
    #[serde(default)]
    pub incoming: OAuthConfig,
    #[serde(default)]
    pub outgoing: OAuthConfig,
}

impl LinkOAuthConfig {
    /// Same level in both directions (what the operator configures on both ends).
    pub fn symmetric(level: OAuthLevel) -> Self {
        Self {
            incoming: level.config(),
            outgoing: level.config(),
        }
    }

    /// The configuration the peer needs: its incoming = our outgoing and vice versa.
    pub fn mirrored(self) -> Self {
        Self {
            incoming: self.outgoing,
            outgoing: self.incoming,
        }
    }
}

impl AtlassianClient {
    /// `GET rest/applinks/3.0/status/{id}/oauth`: this end's OAuth levels, or `None` if this
    /// application has no link with that id (or no status API).
    pub async fn get_oauth_config(
        &self,
        link_id: &str,
    ) -> Result<Option<LinkOAuthConfig>, ApiError> {
        match self
            .execute(
                Call::get("rest/applinks/3.0/status")
                    .segment(link_id)
                    .segment("oauth"),
            )
            .await
        {
            Ok(reply) => Ok(Some(reply.json()?)),
            Err(ApiError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `PUT rest/applinks/3.0/status/{id}/oauth` (→ 204). Sets this end's incoming consumer
    /// and outgoing providers; the application fetches the peer's consumer-info, so a 409 means
    /// it could not reach the peer. Impersonation needs sysadmin (403 otherwise).
    pub async fn set_oauth_config(
        &self,
        link_id: &str,
        config: &LinkOAuthConfig,
    ) -> Result<(), ApiError> {
        self.execute(
            Call::put("rest/applinks/3.0/status")
                .segment(link_id)
                .segment("oauth")
                .json(config)
                .admin("configuring OAuth on an application link"),
        )
        .await
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atlassian::test_support::*;
    use wiremock::matchers::{body_json, method, path};
    use wiremock::{Mock, ResponseTemplate};

    const ID: &str = "6b49910b-9513-3e59-9af1-7d75d31d5c54";

    #[test]
    fn levels_round_trip_and_read_like_the_server() {
        for level in [
            OAuthLevel::Disabled,
            OAuthLevel::ThreeLeggedOnly,
            OAuthLevel::OAuth,
            OAuthLevel::OAuthImpersonation,
        ] {
            assert_eq!(level.config().level(), level);
        }
        // Impersonation without 2LO still reads as impersonation; disabled wins over all.
        let odd = OAuthConfig {
            enabled: true,
            two_lo_enabled: false,
            two_lo_impersonation_enabled: true,
        };
        assert_eq!(odd.level(), OAuthLevel::OAuthImpersonation);
        let off = OAuthConfig {
            enabled: false,
            two_lo_enabled: true,
            two_lo_impersonation_enabled: true,
        };
        assert_eq!(off.level(), OAuthLevel::Disabled);
    }

    #[test]
    fn mirroring() {
        let local = LinkOAuthConfig {
            incoming: OAuthLevel::OAuthImpersonation.config(),
            outgoing: OAuthLevel::OAuth.config(),
        };
        let peer = local.mirrored();
        assert_eq!(peer.incoming, OAuthLevel::OAuth.config());
        assert_eq!(peer.mirrored(), local);
        let sym = LinkOAuthConfig::symmetric(OAuthLevel::OAuth);
        assert_eq!(sym.mirrored(), sym);
    }

    #[tokio::test]
    async fn get_and_put_oauth_config() {
        let server = server().await;
        Mock::given(method("GET"))
            .and(path(format!("/rest/applinks/3.0/status/{ID}/oauth")))
            .respond_with(json_response(
                200,
                r#"{"incoming":{"enabled":true,"twoLoEnabled":true,"twoLoImpersonationEnabled":false},"outgoing":{"enabled":false,"twoLoEnabled":false,"twoLoImpersonationEnabled":false}}"#,
            ))
            .mount(&server)
            .await;
        Mock::given(method("PUT"))
            .and(path(format!("/rest/applinks/3.0/status/{ID}/oauth")))
            .and(body_json(serde_json::json!({
                "incoming": {"enabled":true,"twoLoEnabled":true,"twoLoImpersonationEnabled":false},
                "outgoing": {"enabled":true,"twoLoEnabled":true,"twoLoImpersonationEnabled":false}
            })))
            .respond_with(ResponseTemplate::new(204))
            .expect(1)
            .mount(&server)
            .await;
        let client = admin_client(&server);
        let cfg = client.get_oauth_config(ID).await.unwrap().unwrap();
        assert_eq!(cfg.incoming.level(), OAuthLevel::OAuth);
        assert_eq!(cfg.outgoing.level(), OAuthLevel::Disabled);
        client
            .set_oauth_config(ID, &LinkOAuthConfig::symmetric(OAuthLevel::OAuth))
            .await
            .unwrap();
        assert_eq!(
            client
                .get_oauth_config("00000000-0000-0000-0000-000000000000")
                .await
                .unwrap(),
            None
        );
    }

    #[tokio::test]
    async fn put_oauth_conflict_and_forbidden() {
        let server = server().await;
        Mock::given(method("PUT"))
            .and(path(format!("/rest/applinks/3.0/status/{ID}/oauth")))
            .respond_with(json_response(
                409,
                r#"{"status":409,"errors":[{"summary":"Could not retrieve consumer information"}]}"#,
            ))
            .mount(&server)
            .await;
        Mock::given(method("PUT"))
            .and(path("/rest/applinks/3.0/status/other/oauth"))
            .respond_with(json_response(
                403,
                r#"{"status":403,"errors":[{"summary":"sysadmin required"}]}"#,
            ))
            .mount(&server)
            .await;
        let client = admin_client(&server);
        let err = client
            .set_oauth_config(ID, &LinkOAuthConfig::symmetric(OAuthLevel::OAuth))
            .await
            .unwrap_err();
        assert_eq!(err.reason(), "Conflict");
        assert!(err.to_string().contains("consumer information"), "{err}");
        let err = client
            .set_oauth_config(
                "other",
                &LinkOAuthConfig::symmetric(OAuthLevel::OAuthImpersonation),
            )
            .await
            .unwrap_err();
        assert_eq!(err.reason(), "PermissionDenied");
        assert!(err.to_string().contains("sysadmin required"), "{err}");
    }
}
