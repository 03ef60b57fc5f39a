//! Product profiles: what a given product line does by default (versions, REST line, Basic
//! authentication, secure administrator sessions, CAPTCHA, rate limiting, allowlist path).
//! Every default can be overridden in the config; the runtime part (`Settings`) also through
//! `PATCH /_sim/settings`. Sources of each default are in e2e/README.md ("Profiles").

use serde::{Deserialize, Serialize};

use crate::config::AppConfig;
pub use crate::config::{CaptchaMode, OAuth2Settings, RateLimit, RestLine};
use crate::product::Product;

/// The part of a profile that can change at runtime.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub basic_auth: bool,
    /// Users and path prefixes that may still use Basic while it is blocked (the allowlists of
    /// `/rest/basicauth/1.0/config`).
    #[serde(default)]
    pub basic_auth_allowed_users: Vec<String>,
    #[serde(default)]
    pub basic_auth_allowed_paths: Vec<String>,
    pub secure_admin_sessions: bool,
    /// Confluence: requests authenticated by an access token are exempt from WebSudo.
    pub websudo_exempts_tokens: bool,
    /// Failed Basic logins before a CAPTCHA is required; 0 = never.
    pub captcha_after_failures: u32,
    #[serde(default)]
    pub captcha_mode: CaptchaMode,
    /// `None` (JSON null): no rate limiting.
    pub rate_limit: Option<RateLimit>,
    pub rest_line: RestLine,
    /// Answer 415 to a POST or PUT under `/rest/` without `Content-Type` (not confirmed for
    /// Platform 7+, docs/simulator.md#content-negotiation; off by default so that a test can switch the guess on).
    #[serde(default)]
    pub missing_content_type_415: bool,
    /// The OAuth 2.0 provider's settings (lifetimes, HTTPS rules, secret visibility).
    #[serde(default)]
    pub oauth2: OAuth2Settings,
}

/// Static facts of a profile plus the initial settings.
#[derive(Clone, Debug)]
pub struct Profile {
    pub version: String,
    pub build_number: i64,
    pub applinks_version: String,
    /// Base path of the allowlist REST (no leading slash); `None` = not served.
    pub allowlist_base: Option<String>,
    /// Path of the login page named in the CAPTCHA challenge.
    pub login_path: &'static str,
    /// When Atlassian ended support for this line (`YYYY-MM`), if it has.
    pub end_of_life: Option<&'static str>,
    pub settings: Settings,
}

/// A product line's defaults.
struct Line {
    version: &'static str,
    build: i64,
    applinks: &'static str,
    rest: RestLine,
    basic: bool,
    websudo: bool,
    captcha: u32,
    end_of_life: Option<&'static str>,
}

const fn line(
    version: &'static str,
    build: i64,
    applinks: &'static str,
    rest: RestLine,
    basic: bool,
    websudo: bool,
    captcha: u32,
) -> Line {
    Line {
        version,
        build,
        applinks,
        rest,
        basic,
        websudo,
        captcha,
        end_of_life: None,
    }
}

impl Line {
    const fn ended(mut self, when: &'static str) -> Line {
        self.end_of_life = Some(when);
        self
    }
}

use RestLine::{Legacy, Modern};

/// The major version of a version string ("10.3.8" → 10).
fn major(v: &str) -> Option<u64> {
    v.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// Picks the line a version belongs to; without a version, the current realistic line.
fn pick(product: Product, version: Option<&str>) -> Line {
    let m = version.and_then(major);
    match product {
        Product::Jira => match m {
            Some(..=9) => {
                line("9.12.15", 9_120_015, "9.0.11", Legacy, true, true, 3).ended("2026-06")
            }
            Some(11..) => line("11.3.2", 11_003_002, "11.2.1", Modern, false, true, 3),
            _ => line("10.3.8", 10_030_008, "10.1.2", Modern, true, true, 3),
        },
        Product::Confluence => match m {
            Some(..=8) => line("8.5.19", 8_519, "8.1.7", Legacy, true, true, 3),
            Some(10..) => line("10.2.1", 10_201, "11.2.1", Modern, false, true, 3),
            _ => line("9.2.5", 9_205, "9.1.4", Modern, true, true, 3),
        },
        Product::Bitbucket => match m {
            Some(..=8) => line("8.19.14", 8_019_014, "9.0.11", Legacy, true, false, 3),
            Some(10..) => line("10.1.1", 10_001_001, "11.2.1", Modern, true, false, 3),
            _ => line("9.4.6", 9_004_006, "10.1.2", Modern, true, false, 3),
        },
        Product::Bamboo => match m {
            Some(..=9) => line("9.6.10", 90_610, "9.0.11", Legacy, true, false, 3),
            Some(11) => line("11.0.3", 110_003, "11.0.2", Modern, true, false, 3),
            Some(12..) => line("12.0.1", 120_001, "11.2.1", Modern, true, false, 3),
            _ => line("10.2.3", 100_203, "10.1.2", Modern, true, false, 3),
        },
        Product::Fisheye | Product::Crucible => {
            line("4.8.15", 20_240_101, "7.1.6", Legacy, true, false, 3)
        }
        Product::Generic => line("1.0.0", 1, "9.1.4", Legacy, true, false, 0),
        Product::JiraCloud | Product::ConfluenceCloud | Product::BitbucketCloud => line(
            "1001.0.0-SNAPSHOT",
            100_000,
            "10.1.2",
            Modern,
            true,
            false,
            0,
        ),
    }
}

impl Profile {
    /// The profile of an app: its product line's defaults, then the config's overrides.
    pub fn of(cfg: &AppConfig) -> Profile {
        let l = pick(cfg.product, cfg.version.as_deref());
        let allowlist_base = match cfg.allowlist_base.as_deref() {
            None => Some("rest/whitelist/latest".to_string()),
            Some("" | "none") => None,
            Some(b) => Some(b.trim_matches('/').to_string()),
        };
        let settings = Settings {
            basic_auth: cfg.basic_auth.unwrap_or(l.basic),
            basic_auth_allowed_users: vec![],
            basic_auth_allowed_paths: vec![],
            secure_admin_sessions: cfg.secure_admin_sessions.unwrap_or(l.websudo),
            websudo_exempts_tokens: matches!(cfg.product, Product::Confluence),
            captcha_after_failures: cfg.captcha_after_failures.unwrap_or(l.captcha),
            captcha_mode: cfg.captcha_mode.unwrap_or_default(),
            rate_limit: cfg.rate_limit.clone().filter(|r| r.enabled),
            rest_line: cfg.rest_line.unwrap_or(l.rest),
            missing_content_type_415: false,
            oauth2: cfg.oauth2.clone().unwrap_or_default(),
        };
        Profile {
            version: cfg.version.clone().unwrap_or_else(|| l.version.into()),
            build_number: l.build,
            applinks_version: cfg
                .applinks_version
                .clone()
                .unwrap_or_else(|| l.applinks.into()),
            allowlist_base,
            login_path: match cfg.product {
                Product::Confluence | Product::ConfluenceCloud => "/login.action",
                _ => "/login.jsp",
            },
            end_of_life: l.end_of_life,
            settings,
        }
    }

    /// Paths the allowlist answers at: the base, plus `…/1.0` when the base ends in `/latest`.
    pub fn allowlist_paths(&self) -> Vec<String> {
        let Some(base) = &self.allowlist_base else {
            return vec![];
        };
        let mut out = vec![format!("/{base}")];
        if let Some(prefix) = base.strip_suffix("/latest") {
            out.push(format!("/{prefix}/1.0"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(product: Product, version: Option<&str>) -> Profile {
        let mut c = AppConfig::new("x", product);
        c.version = version.map(str::to_string);
        Profile::of(&c)
    }

    #[test]
    fn default_lines_are_current_not_permissive() {
        let j = profile(Product::Jira, None);
        assert!(j.version.starts_with("10.3."));
        assert!(j.applinks_version.starts_with("10.1."));
        assert!(j.settings.basic_auth && j.settings.secure_admin_sessions);
        assert_eq!(j.settings.rest_line, RestLine::Modern);
        assert_eq!(j.settings.captcha_after_failures, 3);
        let j11 = profile(Product::Jira, Some("11.1.0"));
        assert!(!j11.settings.basic_auth);
        assert_eq!(j11.version, "11.1.0");
        let j113 = profile(Product::Jira, Some("11"));
        assert_eq!(j113.applinks_version, "11.2.1");
        assert!(j113.settings.secure_admin_sessions && j113.end_of_life.is_none());
        let j9 = profile(Product::Jira, Some("9.12.2"));
        assert_eq!(j9.settings.rest_line, RestLine::Legacy);
        assert_eq!(j9.end_of_life, Some("2026-06"));
        let c10 = profile(Product::Confluence, Some("10.2"));
        assert!(c10.applinks_version.starts_with("11.2.") && !c10.settings.basic_auth);
        for (v, want) in [("11", "11.0.2"), ("12", "11.2.1"), ("10", "10.1.2")] {
            assert_eq!(profile(Product::Bamboo, Some(v)).applinks_version, want);
        }
        assert!(
            !profile(Product::Bitbucket, None)
                .settings
                .secure_admin_sessions
        );
        assert!(
            profile(Product::Confluence, None)
                .settings
                .websudo_exempts_tokens
        );
        assert!(
            profile(Product::Confluence, None)
                .version
                .starts_with("9.2.")
        );
    }

    #[test]
    fn overrides_win_and_allowlist_base_has_an_alias() {
        let mut c = AppConfig::new("x", Product::Jira);
        c.basic_auth = Some(false);
        c.secure_admin_sessions = Some(false);
        c.rest_line = Some(RestLine::Legacy);
        c.allowlist_base = Some("/rest/whitelist/latest/".into());
        let p = Profile::of(&c);
        assert!(!p.settings.basic_auth && !p.settings.secure_admin_sessions);
        assert_eq!(p.settings.rest_line, RestLine::Legacy);
        assert_eq!(
            p.allowlist_paths(),
            vec!["/rest/whitelist/latest", "/rest/whitelist/1.0"]
        );
        c.allowlist_base = Some("none".into());
        assert!(Profile::of(&c).allowlist_paths().is_empty());
    }
}
