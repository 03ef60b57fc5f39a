//! Entity links as an application stores them: a local entity (a Jira project, a Confluence
//! space, ...) linked to an entity of a linked application, over one application link
//! (docs/simulator.md#entity-links).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One entity link, stored under its local entity.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct EntityLink {
    /// The local entity's type (`jira.project`, `confluence.space`, ...) and key.
    pub local_type: String,
    pub local_key: String,
    /// The application link it goes over (the remote application's id).
    pub application_id: Uuid,
    /// The remote entity's type and key.
    pub type_id: String,
    pub key: String,
    pub name: String,
    pub primary: bool,
}

impl EntityLink {
    /// The product's equivalence: the same remote entity over the same application link.
    fn same_as(&self, other: &EntityLink) -> bool {
        self.local_type == other.local_type
            && self.local_key == other.local_key
            && self.application_id == other.application_id
            && self.type_id == other.type_id
            && self.key == other.key
    }

    fn same_slot(&self, local_type: &str, local_key: &str, type_id: &str) -> bool {
        self.local_type == local_type && self.local_key == local_key && self.type_id == type_id
    }
}

/// Every entity link of one application.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct EntityLinks(pub Vec<EntityLink>);

impl EntityLinks {
    /// Adds or replaces (same remote entity over the same link, keeping its primary flag); the
    /// first link of a remote type from a local entity becomes its primary one. Returns it.
    pub fn put(&mut self, mut link: EntityLink) -> EntityLink {
        if let Some(old) = self.0.iter().position(|e| e.same_as(&link)) {
            link.primary = self.0.remove(old).primary;
        }
        if !self
            .0
            .iter()
            .any(|e| e.same_slot(&link.local_type, &link.local_key, &link.type_id))
        {
            link.primary = true;
        }
        self.0.push(link.clone());
        link
    }

    /// The entity links of one local entity, primary first, then by type and key.
    pub fn of_entity(&self, local_type: &str, local_key: &str) -> Vec<EntityLink> {
        let mut out: Vec<EntityLink> = self
            .0
            .iter()
            .filter(|e| e.local_type == local_type && e.local_key == local_key)
            .cloned()
            .collect();
        out.sort_by(|a, b| {
            b.primary
                .cmp(&a.primary)
                .then_with(|| a.type_id.cmp(&b.type_id))
                .then_with(|| a.key.cmp(&b.key))
        });
        out
    }

    pub fn find(
        &self,
        local: (&str, &str),
        type_id: &str,
        key: &str,
        application_id: &Uuid,
    ) -> Option<&EntityLink> {
        self.0.iter().find(|e| {
            e.local_type == local.0
                && e.local_key == local.1
                && e.type_id == type_id
                && e.key == key
                && e.application_id == *application_id
        })
    }

    /// Makes `target` the primary link of its remote type from its local entity.
    pub fn make_primary(&mut self, target: &EntityLink) -> Option<EntityLink> {
        self.0.iter().find(|e| e.same_as(target))?;
        for e in self.0.iter_mut() {
            if e.same_slot(&target.local_type, &target.local_key, &target.type_id) {
                e.primary = e.same_as(target);
            }
        }
        self.0.iter().find(|e| e.same_as(target)).cloned()
    }

    /// Removes one entity link; another of its slot becomes primary if it was.
    pub fn remove(&mut self, target: &EntityLink) -> bool {
        let Some(i) = self.0.iter().position(|e| e.same_as(target)) else {
            return false;
        };
        let gone = self.0.remove(i);
        if gone.primary {
            self.promote(&gone.local_type, &gone.local_key, &gone.type_id);
        }
        true
    }

    /// Deleting an application link deletes its entity links first, choosing new primaries
    /// where a primary went (`deleteEntityLinksFor`). Returns how many went.
    pub fn remove_for_application_link(&mut self, application_id: &Uuid) -> usize {
        let (gone, kept): (Vec<EntityLink>, Vec<EntityLink>) = std::mem::take(&mut self.0)
            .into_iter()
            .partition(|e| e.application_id == *application_id);
        self.0 = kept;
        for g in gone.iter().filter(|g| g.primary) {
            self.promote(&g.local_type, &g.local_key, &g.type_id);
        }
        gone.len()
    }

    /// The local entities with at least one entity link over the application link, sorted.
    pub fn local_entities_linked_to(&self, application_id: &Uuid) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .0
            .iter()
            .filter(|e| e.application_id == *application_id)
            .map(|e| (e.local_type.clone(), e.local_key.clone()))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    fn promote(&mut self, local_type: &str, local_key: &str, type_id: &str) {
        if self
            .0
            .iter()
            .any(|e| e.same_slot(local_type, local_key, type_id) && e.primary)
        {
            return;
        }
        if let Some(next) = self
            .0
            .iter_mut()
            .find(|e| e.same_slot(local_type, local_key, type_id))
        {
            next.primary = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(local: &str, app: u128, key: &str) -> EntityLink {
        EntityLink {
            local_type: "jira.project".into(),
            local_key: local.into(),
            application_id: Uuid::from_u128(app),
            type_id: "confluence.space".into(),
            key: key.into(),
            name: key.into(),
            primary: false,
        }
    }

    #[test]
    fn first_of_a_type_is_primary_and_replacing_keeps_the_flag() {
        let mut s = EntityLinks::default();
        assert!(s.put(el("ABC", 1, "DOC")).primary);
        assert!(!s.put(el("ABC", 2, "WIKI")).primary);
        let renamed = EntityLink {
            name: "Docs".into(),
            ..el("ABC", 1, "DOC")
        };
        assert!(s.put(renamed).primary);
        assert_eq!(s.0.len(), 2);
        assert_eq!(s.of_entity("jira.project", "ABC")[0].name, "Docs");
    }

    #[test]
    fn deleting_an_application_link_takes_its_entity_links_and_promotes() {
        let mut s = EntityLinks::default();
        s.put(el("ABC", 1, "DOC"));
        s.put(el("ABC", 2, "WIKI"));
        s.put(el("XYZ", 1, "DOC"));
        assert_eq!(
            s.local_entities_linked_to(&Uuid::from_u128(1)),
            vec![
                ("jira.project".to_string(), "ABC".to_string()),
                ("jira.project".to_string(), "XYZ".to_string())
            ]
        );
        assert_eq!(s.remove_for_application_link(&Uuid::from_u128(1)), 2);
        let left = s.of_entity("jira.project", "ABC");
        assert_eq!(left.len(), 1);
        assert!(left[0].primary, "the remaining link was promoted");
        assert!(s.local_entities_linked_to(&Uuid::from_u128(1)).is_empty());
    }

    #[test]
    fn make_primary_and_remove() {
        let mut s = EntityLinks::default();
        s.put(el("ABC", 1, "DOC"));
        s.put(el("ABC", 2, "WIKI"));
        assert!(s.make_primary(&el("ABC", 2, "WIKI")).unwrap().primary);
        assert!(!s.of_entity("jira.project", "ABC")[1].primary);
        assert!(s.remove(&el("ABC", 2, "WIKI")));
        assert!(s.of_entity("jira.project", "ABC")[0].primary);
        assert!(!s.remove(&el("ABC", 2, "WIKI")));
    }
}
