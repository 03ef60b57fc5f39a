//! Types shared by both resources.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Product of an application, as declared by a user. Verified against the manifest's `typeId`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ApplicationType {
    Jira,
    Confluence,
    Bitbucket,
    Bamboo,
    Fisheye,
    Crucible,
    Generic,
}

impl ApplicationType {
    /// The `typeId` Application Links uses for this product. Fisheye and Crucible are one
    /// product (`fecru`), Bitbucket Server/Data Center keeps its old name `stash`.
    pub fn type_id(self) -> &'static str {
        match self {
            Self::Jira => "jira",
            Self::Confluence => "confluence",
            Self::Bitbucket => "stash",
            Self::Bamboo => "bamboo",
            Self::Fisheye | Self::Crucible => "fecru",
            Self::Generic => "generic",
        }
    }

    /// Whether a manifest `typeId` is this product.
    pub fn matches_type_id(self, type_id: &str) -> bool {
        self.type_id().eq_ignore_ascii_case(type_id)
    }
}

/// Reference to an object of the same namespace. Cross-namespace references are not allowed,
/// so a namespace's tenants cannot link applications they do not own.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub struct LocalObjectRef {
    /// Name of the object, in the namespace of the referring resource.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// A Secret in the namespace of the resource, holding an application's admin credentials:
/// either `username` and `password` (Basic auth), or `token` (a personal access token).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretRef {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key of the admin user name. Defaults to `username`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_key: Option<String>,
    /// Key of the admin password. Defaults to `password`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_key: Option<String>,
    /// Key of a personal access token, used instead of user name and password when present.
    /// Defaults to `token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_key: Option<String>,
}

/// A key of a Secret or ConfigMap in the namespace of the resource.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct SecretKeyRef {
    /// Name of the object.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key within the object. Defaults to `ca.crt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_ids_follow_the_applinks_names() {
        let table = [
            (ApplicationType::Jira, "jira"),
            (ApplicationType::Confluence, "confluence"),
            (ApplicationType::Bitbucket, "stash"),
            (ApplicationType::Bamboo, "bamboo"),
            (ApplicationType::Fisheye, "fecru"),
            (ApplicationType::Crucible, "fecru"),
            (ApplicationType::Generic, "generic"),
        ];
        for (t, id) in table {
            assert_eq!(t.type_id(), id);
            assert!(t.matches_type_id(&id.to_uppercase()));
        }
        assert!(!ApplicationType::Jira.matches_type_id("stash"));
    }
}
