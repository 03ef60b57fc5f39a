//! OAuth 2.0 scopes per product and version (docs/simulator.md#oauth-20-scopes): the
//! vocabularies of the oauth2-scopes-plugin, parsing, normalising and implication.

use std::collections::BTreeSet;

use crate::product::Product;

// Scopes (oauth2-scopes-plugin: BasicScope, BitbucketScope, BambooScope, DefaultScopeResolver).

/// A scope and every scope it implies, itself included.
#[derive(Debug, PartialEq, Eq)]
pub struct ScopeDef {
    pub name: &'static str,
    pub implies: &'static [&'static str],
}

const fn def(name: &'static str, implies: &'static [&'static str]) -> ScopeDef {
    ScopeDef { name, implies }
}

/// Jira and Confluence.
const BASIC: &[ScopeDef] = &[
    def("READ", &["READ"]),
    def("WRITE", &["WRITE", "READ"]),
    def("ADMIN", &["ADMIN", "WRITE", "READ"]),
    def("SYSTEM_ADMIN", &["SYSTEM_ADMIN", "ADMIN", "WRITE", "READ"]),
];

/// Bitbucket: not a chain (REPO_READ does not imply ACCOUNT_WRITE; ADMIN_WRITE implies both).
const BITBUCKET: &[ScopeDef] = &[
    def("PUBLIC_REPOS", &["PUBLIC_REPOS"]),
    def("ACCOUNT_WRITE", &["ACCOUNT_WRITE", "PUBLIC_REPOS"]),
    def("REPO_READ", &["REPO_READ", "PUBLIC_REPOS"]),
    def("REPO_WRITE", &["REPO_WRITE", "REPO_READ", "PUBLIC_REPOS"]),
    def(
        "REPO_ADMIN",
        &["REPO_ADMIN", "REPO_WRITE", "REPO_READ", "PUBLIC_REPOS"],
    ),
    def(
        "PROJECT_ADMIN",
        &[
            "PROJECT_ADMIN",
            "REPO_ADMIN",
            "REPO_WRITE",
            "REPO_READ",
            "PUBLIC_REPOS",
        ],
    ),
    def(
        "ADMIN_WRITE",
        &[
            "ADMIN_WRITE",
            "PROJECT_ADMIN",
            "REPO_ADMIN",
            "REPO_WRITE",
            "REPO_READ",
            "ACCOUNT_WRITE",
            "PUBLIC_REPOS",
        ],
    ),
    def(
        "SYSTEM_ADMIN",
        &[
            "SYSTEM_ADMIN",
            "ADMIN_WRITE",
            "PROJECT_ADMIN",
            "REPO_ADMIN",
            "REPO_WRITE",
            "REPO_READ",
            "ACCOUNT_WRITE",
            "PUBLIC_REPOS",
        ],
    ),
];

const BAMBOO: &[ScopeDef] = &[
    def("READ", &["READ"]),
    def("TRIGGER", &["TRIGGER", "READ"]),
    def("USER", &["USER", "TRIGGER", "READ"]),
];

/// Newer Bamboo documentation adds WRITE; where it sits in the hierarchy is inferred.
const BAMBOO_WITH_WRITE: &[ScopeDef] = &[
    def("READ", &["READ"]),
    def("TRIGGER", &["TRIGGER", "READ"]),
    def("WRITE", &["WRITE", "TRIGGER", "READ"]),
    def("USER", &["USER", "WRITE", "TRIGGER", "READ"]),
];

/// `major.minor` of a version string ("8.22.0" → (8, 22)).
fn major_minor(v: &str) -> (u64, u64) {
    let mut it = v
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u64>().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

/// The scope vocabulary of a product line, or `None` where the provider does not exist
/// (before Jira 8.22, Confluence 7.17, Bitbucket 7.20, Bamboo 9.1; Fisheye/Crucible, generic
/// applications and the cloud flavours).
pub fn vocabulary(product: Product, version: &str) -> Option<&'static [ScopeDef]> {
    let v = major_minor(version);
    match product {
        Product::Jira if v >= (8, 22) => Some(BASIC),
        Product::Confluence if v >= (7, 17) => Some(BASIC),
        Product::Bitbucket if v >= (7, 20) => Some(BITBUCKET),
        Product::Bamboo if v >= (11, 0) => Some(BAMBOO_WITH_WRITE),
        Product::Bamboo if v >= (9, 1) => Some(BAMBOO),
        _ => None,
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum ScopeError {
    Blank,
    Unknown(Vec<String>),
}

/// A parsed scope: one name or several (a composite scope).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    names: BTreeSet<&'static str>,
    vocab: &'static [ScopeDef],
}

impl Scope {
    /// `DefaultScopeResolver.getScope`: names separated by single spaces, all known.
    pub fn parse(vocab: &'static [ScopeDef], s: &str) -> Result<Scope, ScopeError> {
        if s.trim().is_empty() {
            return Err(ScopeError::Blank);
        }
        let mut names = BTreeSet::new();
        let mut unknown = vec![];
        for part in s.split(' ') {
            match vocab.iter().find(|d| d.name == part) {
                Some(d) => {
                    names.insert(d.name);
                }
                None => unknown.push(part.to_string()),
            }
        }
        if unknown.is_empty() {
            Ok(Scope { names, vocab })
        } else {
            Err(ScopeError::Unknown(unknown))
        }
    }

    /// A composite scope's name is its names sorted and joined by spaces.
    pub fn name(&self) -> String {
        self.names.iter().copied().collect::<Vec<_>>().join(" ")
    }

    /// The scope and everything it implies.
    pub fn implied(&self) -> BTreeSet<&'static str> {
        self.names
            .iter()
            .filter_map(|n| self.vocab.iter().find(|d| d.name == *n))
            .flat_map(|d| d.implies.iter().copied())
            .collect()
    }

    pub fn has(&self, name: &str) -> bool {
        self.implied().contains(name)
    }

    /// `hasScopePermission(token, config)`: what this scope implies is within `config`'s.
    pub fn within(&self, config: &Scope) -> bool {
        self.implied().is_subset(&config.implied())
    }
}

pub(crate) fn scope_error_text(scope: &str) -> String {
    format!("Invalid scope '{scope}' (oauth2.request.scope.not.valid.error.message)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_gate_the_provider() {
        assert!(vocabulary(Product::Jira, "8.21.9").is_none());
        assert!(vocabulary(Product::Jira, "8.22.0").is_some());
        assert!(vocabulary(Product::Jira, "10.3.8").is_some());
        assert!(vocabulary(Product::Confluence, "7.16.5").is_none());
        assert!(vocabulary(Product::Confluence, "7.17.0").is_some());
        assert!(vocabulary(Product::Bitbucket, "7.19.2").is_none());
        assert!(vocabulary(Product::Bitbucket, "7.20.0").is_some());
        assert!(vocabulary(Product::Bamboo, "9.0.4").is_none());
        assert_eq!(
            vocabulary(Product::Bamboo, "10.2.3").map(<[_]>::len),
            Some(3)
        );
        assert_eq!(
            vocabulary(Product::Bamboo, "11.0.0").map(<[_]>::len),
            Some(4)
        );
        assert!(vocabulary(Product::Fisheye, "4.8.15").is_none());
        assert!(vocabulary(Product::Generic, "9.0.0").is_none());
        assert!(vocabulary(Product::JiraCloud, "1001.0.0-SNAPSHOT").is_none());
    }

    #[test]
    fn scopes_parse_normalise_and_imply() {
        let w = Scope::parse(BASIC, "WRITE").unwrap();
        assert!(Scope::parse(BASIC, "READ").unwrap().within(&w));
        assert!(!Scope::parse(BASIC, "ADMIN").unwrap().within(&w));
        assert_eq!(
            Scope::parse(BASIC, "WRITE READ").unwrap().name(),
            "READ WRITE"
        );
        assert_eq!(Scope::parse(BASIC, ""), Err(ScopeError::Blank));
        assert_eq!(
            Scope::parse(BASIC, "READ  WRITE"),
            Err(ScopeError::Unknown(vec![String::new()]))
        );
        assert_eq!(
            Scope::parse(BASIC, "read"),
            Err(ScopeError::Unknown(vec!["read".into()]))
        );
        let repo_read = Scope::parse(BITBUCKET, "REPO_READ").unwrap();
        assert!(
            !Scope::parse(BITBUCKET, "ACCOUNT_WRITE")
                .unwrap()
                .within(&repo_read)
        );
        let admin_write = Scope::parse(BITBUCKET, "ADMIN_WRITE").unwrap();
        assert!(
            Scope::parse(BITBUCKET, "ACCOUNT_WRITE REPO_ADMIN")
                .unwrap()
                .within(&admin_write)
        );
        assert!(
            !Scope::parse(BITBUCKET, "SYSTEM_ADMIN")
                .unwrap()
                .within(&admin_write)
        );
    }
}
