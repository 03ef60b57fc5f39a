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

/// CEL regex of a Kubernetes object name (DNS subdomain): what Secrets, ConfigMaps and
/// ApplicationInstances may be called.
const OBJECT_NAME_RE: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

/// CEL regex of a Secret or ConfigMap key.
const KEY_RE: &str = r"^[-._a-zA-Z0-9]+$";

fn rule(rule: impl Into<String>, message: &str) -> serde_json::Value {
    serde_json::json!({"rule": rule.into(), "message": message})
}

/// Appends CEL rules to an object schema (`x-kubernetes-validations`).
pub(crate) fn add_rules(schema: &mut schemars::Schema, rules: Vec<serde_json::Value>) {
    let obj = schema.ensure_object();
    let list = obj
        .entry("x-kubernetes-validations")
        .or_insert_with(|| serde_json::Value::Array(vec![]));
    if let serde_json::Value::Array(list) = list {
        list.extend(rules);
    }
}

/// Adds rules to one property of an object schema.
pub(crate) fn add_property_rules(
    schema: &mut schemars::Schema,
    property: &str,
    rules: Vec<serde_json::Value>,
) {
    let prop = schema
        .get_mut("properties")
        .and_then(|p| p.get_mut(property))
        .and_then(|p| p.as_object_mut())
        .unwrap_or_else(|| panic!("schema has no property {property}"));
    let list = prop
        .entry("x-kubernetes-validations")
        .or_insert_with(|| serde_json::Value::Array(vec![]));
    if let serde_json::Value::Array(list) = list {
        list.extend(rules);
    }
}

/// Declares a property that is never valid, so that the API server can say what to do instead
/// of a bare "unknown field" (or, without strict field validation, silently dropping it).
pub(crate) fn add_refused_property(
    schema: &mut schemars::Schema,
    property: &str,
    property_schema: serde_json::Value,
    message: &str,
) {
    let obj = schema.ensure_object();
    if let Some(serde_json::Value::Object(props)) = obj.get_mut("properties") {
        props.insert(property.to_string(), property_schema);
    }
    add_rules(
        schema,
        vec![rule(format!("!has(self.{property})"), message)],
    );
}

fn object_name_rule(what: &str, example: &str) -> serde_json::Value {
    rule(
        format!("self.matches('{OBJECT_NAME_RE}')"),
        &format!(
            "must be the name of {what} in this namespace: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit (no namespace/ prefix, no spaces), e.g. {example}"
        ),
    )
}

fn key_rule() -> serde_json::Value {
    rule(
        format!("self.matches('{KEY_RE}')"),
        "must be a key of the Secret or ConfigMap: letters, digits, '-', '_' and '.', e.g. password or ca.crt",
    )
}

fn refuse_namespace(schema: &mut schemars::Schema, what: &str) {
    add_refused_property(
        schema,
        "namespace",
        serde_json::json!({
            "type": "string",
            "description": "Not allowed: references are to objects in the same namespace only.",
        }),
        &format!(
            "references are to objects in the same namespace only, so one namespace's tenants cannot use another's {what}: remove namespace and create the {what} in this namespace"
        ),
    );
}

fn local_object_ref_schema(schema: &mut schemars::Schema) {
    add_property_rules(
        schema,
        "name",
        vec![object_name_rule("an ApplicationInstance", "jira")],
    );
    refuse_namespace(schema, "ApplicationInstance");
}

fn secret_ref_schema(schema: &mut schemars::Schema) {
    add_property_rules(
        schema,
        "name",
        vec![object_name_rule("a Secret", "jira-admin")],
    );
    for key in ["usernameKey", "passwordKey", "tokenKey"] {
        add_property_rules(schema, key, vec![key_rule()]);
    }
    add_rules(
        schema,
        vec![rule(
            {
                let (u, p, t) = (
                    "(has(self.usernameKey) ? self.usernameKey : 'username')",
                    "(has(self.passwordKey) ? self.passwordKey : 'password')",
                    "(has(self.tokenKey) ? self.tokenKey : 'token')",
                );
                format!("{u} != {p} && {u} != {t} && {p} != {t}")
            },
            "usernameKey, passwordKey and tokenKey must name three different keys of the Secret (defaults: username, password, token)",
        )],
    );
    refuse_namespace(schema, "Secret");
}

fn secret_key_ref_schema(schema: &mut schemars::Schema) {
    add_property_rules(
        schema,
        "name",
        vec![object_name_rule("a Secret or ConfigMap", "jira-ca")],
    );
    add_property_rules(schema, "key", vec![key_rule()]);
    refuse_namespace(schema, "Secret or ConfigMap");
}

/// Reference to an application: an ApplicationInstance of the same namespace (cross-namespace
/// references are not allowed, so a namespace's tenants cannot link applications they do not
/// own), or a ClusterApplicationInstance that the platform team shares with this namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[schemars(transform = local_object_ref_schema)]
pub struct LocalObjectRef {
    /// Name of the object: an ApplicationInstance in the namespace of the referring resource,
    /// or a ClusterApplicationInstance.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// `ApplicationInstance` (default) or `ClusterApplicationInstance`: an application the
    /// platform team administers once for the namespaces its `allowedNamespaces` selects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<InstanceKind>,
}

impl LocalObjectRef {
    /// Whether this names a shared ClusterApplicationInstance.
    pub fn is_cluster(&self) -> bool {
        self.kind == Some(InstanceKind::ClusterApplicationInstance)
    }

    /// Whether this names the instance `name` of the given scope.
    pub fn names(&self, name: &str, cluster: bool) -> bool {
        self.name == name && self.is_cluster() == cluster
    }
}

/// The kind of application a reference names.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum InstanceKind {
    ApplicationInstance,
    ClusterApplicationInstance,
}

/// A Secret in the namespace of the resource, holding an application's admin credentials:
/// either `username` and `password` (Basic auth), or `token` (a personal access token).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = secret_ref_schema)]
pub struct SecretRef {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key of the admin user name. Defaults to `username`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub username_key: Option<String>,
    /// Key of the admin password. Defaults to `password`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub password_key: Option<String>,
    /// Key of a personal access token, used instead of user name and password when present.
    /// Defaults to `token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub token_key: Option<String>,
}

/// A key of a Secret or ConfigMap in the namespace of the resource.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[schemars(transform = secret_key_ref_schema)]
pub struct SecretKeyRef {
    /// Name of the object.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key within the object. Defaults to `ca.crt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
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
