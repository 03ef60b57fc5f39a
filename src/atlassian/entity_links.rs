//! Entity links (a Jira project ↔ a Confluence space, ...) carried by an application link:
//! deleting the application link deletes them in that application (docs/protocol.md, Entity
//! links). Read only: the operator counts and names them, it never makes or removes one.

use serde::Deserialize;

use super::client::{AtlassianClient, Call};
use super::envelope::one_or_many;
use super::error::ApiError;
use super::limits::{self, MAX_ID_BYTES};

/// How many local entities are named (in status and messages); the count is always whole.
pub const MAX_NAMED_ENTITIES: usize = 20;

/// The local entities of this application that have entity links over one application link.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkedEntities {
    /// How many there are.
    pub count: usize,
    /// The first [`MAX_NAMED_ENTITIES`] as `type:key` (e.g. `jira.project:ABC`), sorted.
    pub named: Vec<String>,
}

#[derive(Deserialize)]
struct ReferenceList {
    #[serde(default, deserialize_with = "one_or_many")]
    entity: Vec<Reference>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Reference {
    #[serde(default)]
    key: String,
    #[serde(default)]
    type_id: String,
}

impl AtlassianClient {
    /// `GET rest/applinks/1.0/entitylink/localEntitiesWithLinksTo/{id}`: one request whatever
    /// the number of entity links.
    pub async fn linked_entities(&self, link_id: &str) -> Result<LinkedEntities, ApiError> {
        let reply = self
            .execute(
                Call::get("rest/applinks/1.0/entitylink/localEntitiesWithLinksTo")
                    .segment(link_id)
                    .admin("reading the entity links of an application link"),
            )
            .await?;
        let list: ReferenceList = reply.json()?;
        let mut named = Vec::with_capacity(list.entity.len().min(MAX_NAMED_ENTITIES));
        for r in &list.entity {
            limits::check(&reply.url, "entity key", &r.key, MAX_ID_BYTES)?;
            limits::check(&reply.url, "entity type", &r.type_id, MAX_ID_BYTES)?;
            named.push(format!("{}:{}", r.type_id, r.key));
        }
        named.sort();
        named.truncate(MAX_NAMED_ENTITIES);
        Ok(LinkedEntities {
            count: list.entity.len(),
            named,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::atlassian::test_support::*;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, ResponseTemplate};

    #[tokio::test]
    async fn counts_and_names_one_or_many() {
        let server = server().await;
        let base = "/rest/applinks/1.0/entitylink/localEntitiesWithLinksTo";
        Mock::given(method("GET"))
            .and(path(format!("{base}/a")))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "entity": [{"key": "XYZ", "name": "X", "typeId": "jira.project"},
                           {"key": "ABC", "name": "A", "typeId": "jira.project"}]
            })))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("{base}/b")))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "entity": {"key": "DOC", "typeId": "confluence.space"}
            })))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("{base}/c")))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({})))
            .mount(&server)
            .await;
        let c = admin_client(&server);
        let a = c.linked_entities("a").await.unwrap();
        assert_eq!(a.count, 2);
        assert_eq!(a.named, ["jira.project:ABC", "jira.project:XYZ"]);
        assert_eq!(
            c.linked_entities("b").await.unwrap().named,
            ["confluence.space:DOC"]
        );
        assert_eq!(c.linked_entities("c").await.unwrap().count, 0);
    }
}
