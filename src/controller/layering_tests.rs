//! The house rule, checked on the source: a pipeline (`link/`, `instance/`, `external/`) names
//! no other pipeline, and the shared floor (the other files of this folder) names none at all.
//! Only `mod.rs`, the wiring, runs them.

use std::path::{Path, PathBuf};

const PIPELINES: &[&str] = &["link", "instance", "external"];

/// Files that may name pipelines: the wiring and the tests of the whole controller.
const ABOVE_THE_FLOOR: &[&str] = &["mod.rs", "reconcile_tests.rs", "layering_tests.rs"];

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The controller-level modules a file names: the first segment after the path that leads to
/// `src/controller` from that file (`super::` from a floor file or a pipeline's `mod.rs`,
/// `super::super::` from a pipeline's other files, or `crate::controller::`), including each
/// name of a `{…}` group.
fn named_modules(text: &str, to_controller: &str) -> Vec<String> {
    let mut names = Vec::new();
    for prefix in [to_controller, "crate::controller::"] {
        for (at, _) in text.match_indices(prefix) {
            // `super::super::x` also contains `super::x`: count a match only where the prefix
            // is not the tail of a longer path.
            let before = &text[..at];
            if before.ends_with("super::") || before.ends_with(|c: char| c.is_alphanumeric()) {
                continue;
            }
            let rest = &text[at + prefix.len()..];
            if rest.starts_with("super::") {
                continue;
            }
            if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                names.extend(group[..end].split(',').map(|part| {
                    part.trim()
                        .split("::")
                        .next()
                        .unwrap_or_default()
                        .to_string()
                }));
            } else {
                let end = rest
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                names.push(rest[..end].to_string());
            }
        }
    }
    names
}

#[test]
fn no_pipeline_imports_another_and_the_floor_imports_none() {
    let controller = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/controller");
    let mut broken = Vec::new();
    for path in rust_files(&controller) {
        let rel = path.strip_prefix(&controller).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let parts: Vec<&str> = rel.iter().map(|p| p.to_str().unwrap()).collect();
        let (own, to_controller) = match parts.as_slice() {
            [file] if ABOVE_THE_FLOOR.contains(file) => continue,
            [_] => (None, "super::"),
            [pipeline, "mod.rs"] => (Some(*pipeline), "super::"),
            [pipeline, ..] => (Some(*pipeline), "super::super::"),
            [] => unreachable!(),
        };
        for name in named_modules(&text, to_controller) {
            if PIPELINES.contains(&name.as_str()) && Some(name.as_str()) != own {
                broken.push(format!("{} names the pipeline `{name}`", rel.display()));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "the controllers' layering is broken (see src/controller/mod.rs):\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_scan_finds_names_in_paths_and_groups() {
    let text = "use super::{Context, link, outcome::Verdict};\nuse super::super::external::x;\nlet a = crate::controller::instance::f();";
    assert_eq!(
        named_modules(text, "super::"),
        vec!["Context", "link", "outcome", "instance"]
    );
    assert_eq!(
        named_modules(text, "super::super::"),
        vec!["external", "instance"]
    );
}
