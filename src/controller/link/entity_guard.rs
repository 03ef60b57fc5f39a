//! Entity links (a Jira project ↔ a Confluence space, ...) go with the application link they
//! ride on. Before a plan deletes an end, the application is asked which of its entities have
//! entity links over it (client required, one read per end); unless the ApplicationLink carries
//! the acknowledgement annotation, the deletion is held and the message names them
//! (docs/estate.md). The decision is pure and table-tested.

use kube::ResourceExt;

use super::resolve::Resolved;
use crate::atlassian::LinkedEntities;
use crate::crd::ApplicationLink;
use crate::errors::Error;
use crate::planner::{End, Step};

/// Annotation by which a person agrees that the entity links of the ends go with them.
pub const DELETE_ENTITY_LINKS: &str = "applinks.io/delete-entity-links";

/// Whether the acknowledgement is given (the value `"true"`, nothing else).
pub(super) fn acknowledged(obj: &ApplicationLink) -> bool {
    obj.annotations()
        .get(DELETE_ENTITY_LINKS)
        .is_some_and(|v| v == "true")
}

/// Holds the plan when a Delete step would take entity links without the acknowledgement.
pub(super) async fn check(
    obj: &ApplicationLink,
    resolved: &Resolved,
    steps: &[Step],
) -> Result<(), Error> {
    if acknowledged(obj) {
        return Ok(());
    }
    let mut found = Vec::new();
    for step in steps {
        let Step::Delete { end, link_id } = step else {
            continue;
        };
        let app = resolved.app(*end);
        // An end the operator does not administer is never deleted by it.
        let Some(admin) = app.admin.as_ref() else {
            continue;
        };
        let entities = match admin.linked_entities(link_id).await {
            Ok(entities) => entities,
            // An application that does not serve the entity-link REST has none to lose; a
            // deletion must not be held forever by a resource the product lacks.
            Err(e) if e.is_not_found() => {
                tracing::debug!(application = %app.label, link = %link_id, "no entity-link REST: nothing to hold");
                LinkedEntities::default()
            }
            Err(e) => {
                return Err(Error::remote(
                    format!(
                        "reading the entity links of the {} end in {} before deleting it",
                        end.as_str(),
                        app.label
                    ),
                    e,
                ));
            }
        };
        found.push((*end, link_id.clone(), app.label.clone(), entities));
    }
    decide(&found)
}

/// The first end that carries entity links holds the deletion (pure).
pub(super) fn decide(found: &[(End, String, String, LinkedEntities)]) -> Result<(), Error> {
    match found.iter().find(|(.., e)| e.count > 0) {
        None => Ok(()),
        Some((end, link_id, application, e)) => {
            let mut named = e.named.join(", ");
            if e.count > e.named.len() {
                named.push_str(&format!(" and {} more", e.count - e.named.len()));
            }
            Err(Error::EntityLinksPresent {
                end: end.as_str(),
                link_id: link_id.clone(),
                application: application.clone(),
                count: e.count,
                named,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entities(keys: &[&str], count: usize) -> LinkedEntities {
        LinkedEntities {
            count,
            named: keys.iter().map(|k| k.to_string()).collect(),
        }
    }

    #[test]
    fn held_only_by_entity_links_and_named() {
        let none = (
            End::Source,
            "L1".to_string(),
            "jira".to_string(),
            entities(&[], 0),
        );
        let some = (
            End::Target,
            "L2".to_string(),
            "confluence".to_string(),
            entities(&["confluence.space:DOC", "confluence.space:WIKI"], 2),
        );
        let many = (
            End::Source,
            "L1".to_string(),
            "jira".to_string(),
            entities(&["jira.project:A"], 21),
        );
        assert!(decide(&[]).is_ok(), "no delete step");
        assert!(
            decide(std::slice::from_ref(&none)).is_ok(),
            "no entity links"
        );
        let e = decide(&[none.clone(), some]).unwrap_err();
        assert_eq!(e.reason(), "EntityLinksPresent");
        let msg = e.to_string();
        assert!(msg.contains("target end (link L2) in confluence"), "{msg}");
        assert!(msg.contains("2 local entities"), "{msg}");
        assert!(
            msg.contains("confluence.space:DOC, confluence.space:WIKI"),
            "{msg}"
        );
        assert!(msg.contains(DELETE_ENTITY_LINKS), "{msg}");
        assert!(e.is_stalled(), "a person decides");
        let msg = decide(&[many]).unwrap_err().to_string();
        assert!(msg.contains("jira.project:A and 20 more"), "{msg}");
    }

    #[test]
    fn only_true_acknowledges() {
        let link = |v: Option<&str>| {
            let mut l: ApplicationLink = serde_yaml::from_str(
                "apiVersion: applinks.io/v1alpha1\nkind: ApplicationLink\nmetadata: {name: l}\nspec: {source: {instanceRef: {name: a}}, target: {instanceRef: {name: b}}}\n",
            )
            .unwrap();
            if let Some(v) = v {
                l.annotations_mut()
                    .insert(DELETE_ENTITY_LINKS.into(), v.into());
            }
            l
        };
        assert!(!acknowledged(&link(None)));
        assert!(!acknowledged(&link(Some("yes"))));
        assert!(!acknowledged(&link(Some("True"))));
        assert!(acknowledged(&link(Some("true"))));
    }
}
