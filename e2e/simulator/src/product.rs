//! The simulated products and what distinguishes them on the wire.

use serde::{Deserialize, Serialize};

/// A product the simulator can impersonate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Product {
    Jira,
    Confluence,
    Bitbucket,
    Bamboo,
    Fisheye,
    Crucible,
    Generic,
    JiraCloud,
    ConfluenceCloud,
    BitbucketCloud,
}

impl Product {
    /// The applinks `typeId` of the product (docs/simulator.md#type-ids).
    pub fn type_id(self) -> &'static str {
        match self {
            Product::Jira | Product::JiraCloud => "jira",
            Product::Confluence | Product::ConfluenceCloud => "confluence",
            Product::Bitbucket | Product::BitbucketCloud => "stash",
            Product::Bamboo => "bamboo",
            Product::Fisheye | Product::Crucible => "fecru",
            Product::Generic => "generic",
        }
    }

    /// Cloud flavours: HTTPS only and no 2LO impersonation (docs/simulator.md#cloud).
    pub fn is_cloud(self) -> bool {
        matches!(
            self,
            Product::JiraCloud | Product::ConfluenceCloud | Product::BitbucketCloud
        )
    }

    pub fn display_name(self) -> &'static str {
        match self {
            Product::Jira => "Jira",
            Product::Confluence => "Confluence",
            Product::Bitbucket => "Bitbucket",
            Product::Bamboo => "Bamboo",
            Product::Fisheye => "FishEye",
            Product::Crucible => "Crucible",
            Product::Generic => "Generic Application",
            Product::JiraCloud => "Jira Cloud",
            Product::ConfluenceCloud => "Confluence Cloud",
            Product::BitbucketCloud => "Bitbucket Cloud",
        }
    }
}

/// Type ids an Atlassian server has installed; anything else is refused on create.
pub const KNOWN_TYPE_IDS: &[&str] = &[
    "jira",
    "confluence",
    "stash",
    "bamboo",
    "fecru",
    "crowd",
    "generic",
    "refapp",
];

/// Built-in Atlassian types (status is computed only for these).
pub fn is_atlassian_type(type_id: &str) -> bool {
    matches!(
        type_id,
        "jira" | "confluence" | "stash" | "bamboo" | "fecru" | "crowd" | "refapp"
    )
}

pub mod providers {
    //! Authentication provider class names (docs/simulator.md#manifest).
    pub const OAUTH: &str = "com.atlassian.applinks.api.auth.types.OAuthAuthenticationProvider";
    pub const TWO_LO: &str =
        "com.atlassian.applinks.api.auth.types.TwoLeggedOAuthAuthenticationProvider";
    pub const TWO_LO_I: &str = "com.atlassian.applinks.api.auth.types.TwoLeggedOAuthWithImpersonationAuthenticationProvider";
    pub const BASIC: &str = "com.atlassian.applinks.api.auth.types.BasicAuthenticationProvider";
    pub const TRUSTED: &str =
        "com.atlassian.applinks.api.auth.types.TrustedAppsAuthenticationProvider";
    pub const CORS: &str = "com.atlassian.applinks.api.auth.types.CorsAuthenticationProvider";
    pub const PLACEHOLDER: &str = "placeholder.to.ensure.backwards.compatibility";
    pub const ALL: &[&str] = &[OAUTH, TWO_LO, TWO_LO_I, BASIC, TRUSTED, CORS];
}
