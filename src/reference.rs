//! The generated reference in `docs/reference/`: every CRD field from the schemas the binary
//! renders, and every annotation, label and finalizer the operator reads or writes.
//!
//! Generated rather than written so that it cannot drift from the code: the tests below compare
//! the files with what the code renders, and `APPLINK_UPDATE_DOCS=1 cargo test --lib reference`
//! rewrites them.

use serde_json::Value;

/// Every `applinks.io/…` metadata key the operator reads or writes: (key, where, meaning).
/// A test walks `src/` and fails on a key missing here, so a new one cannot go undocumented.
pub const METADATA_KEYS: &[(&str, &str, &str)] = &[
    (
        "applinks.io/allowed-urls",
        "annotation on a credentials Secret",
        "Comma-separated application URLs this Secret's credentials may be sent to. Without the instance's URL in it, the operator never reads the Secret (`CredentialsNotAllowed`).",
    ),
    (
        "applinks.io/paused",
        "annotation on any applinks.io object",
        "`\"true\"` stops every remote call for the object (condition `Paused`); removing it resumes. See docs/gitops.md.",
    ),
    (
        "applinks.io/reconcile-requested-at",
        "annotation on any applinks.io object",
        "Any new value asks for a full pass now, with the backoff started afresh; echoed in `status.lastHandledReconcileAt` (`applink-operator resync` sets it).",
    ),
    (
        "applinks.io/rotate",
        "annotation on an ExternalApplication",
        "Any new value rotates the client secret or consumer key once.",
    ),
    (
        "applinks.io/confirm-move-from",
        "annotation on an ApplicationInstance",
        "The old URL an application moved from, confirming a relocation the operator cannot verify itself (`OldUrlStillServesApplication`).",
    ),
    (
        "applinks.io/delete-entity-links",
        "annotation on ApplicationLink",
        "`\"true\"` acknowledges that deleting the link deletes the entity links (project ↔ space and the like) its ends carry; without it such a deletion is held (`DeletionBlocked`, `EntityLinksPresent`). See docs/estate.md.",
    ),
    (
        "applinks.io/cleanup",
        "finalizer on ApplicationLink and ExternalApplication",
        "Both ends (or the client) are deleted, or released under `deletionPolicy: Orphan`, before the object goes.",
    ),
    (
        "applinks.io/in-use",
        "finalizer on ApplicationInstance and ClusterApplicationInstance",
        "Held while a link or ExternalApplication names the instance (condition `Terminating`, reason `InUse`).",
    ),
    (
        "applinks.io/credentials-in-use",
        "finalizer on a credentials Secret",
        "Held while an instance uses the Secret, so deleting it cannot strand a link half-made.",
    ),
    (
        "applinks.io/external-application",
        "label on a Secret the operator writes",
        "The ExternalApplication whose issued credentials the Secret holds.",
    ),
    (
        "applinks.io/data-sha256",
        "annotation on a Secret the operator writes",
        "Digest of the data as written, so the operator can tell without the client secret whether the Secret is still what it wrote.",
    ),
    (
        "applinks.io/inputs-sha256",
        "annotation on a Secret the operator writes",
        "Digest of the non-secret inputs (template, client) the Secret was rendered from.",
    ),
    (
        "applinks.io/oauth1-consumer-sha256",
        "annotation on an ExternalApplication's Secret (OAuth 1.0a)",
        "Digest of the consumer the Secret describes, so a changed key is re-registered.",
    ),
    (
        "applinks.io/source-link-id",
        "legacy annotation on ApplicationLink",
        "Where operators before claims-in-status kept the source end's id: read once and migrated into `status.claims`.",
    ),
    (
        "applinks.io/target-link-id",
        "legacy annotation on ApplicationLink",
        "As `source-link-id`, for the target end.",
    ),
    (
        "applinks.io/oauth2-client-name",
        "legacy annotation on ExternalApplication",
        "Where older operators kept the claimed OAuth 2.0 client name: read once and migrated into status.",
    ),
    (
        "applinks.io/oauth2-client-id",
        "legacy annotation on ExternalApplication",
        "Where older operators kept the OAuth 2.0 client id: read once and migrated into status.",
    ),
    (
        "applinks.io/oauth1-link-id",
        "legacy annotation on ExternalApplication",
        "Where older operators kept the OAuth 1.0a consumer's link id: read once and migrated into status.",
    ),
    (
        "sharding.applinks.io/key",
        "label on any applinks.io object",
        "The shard an object belongs to, matched by an operator started with `--watch-label-selector sharding.applinks.io/key=<shard>`.",
    ),
];

/// The CRD reference: one section per kind, one table row per field.
pub fn crds_markdown() -> String {
    let mut out = String::from(
        "# CRD reference\n\n<!-- Generated from the CRD schemas by `APPLINK_UPDATE_DOCS=1 cargo test --lib reference`; do not edit. -->\n\n\
         Every field of every kind, as the API server's schema has it. Rules are the CEL rules the API server \
         enforces on that object (their message is what `kubectl apply` prints). The guide explains the \
         kinds: [concepts](../concepts.md).\n",
    );
    for crd in crate::crd::all() {
        let value = serde_json::to_value(&crd).expect("CRDs always serialize");
        let kind = value["spec"]["names"]["kind"].as_str().unwrap_or_default();
        let scope = value["spec"]["scope"].as_str().unwrap_or_default();
        let short: Vec<&str> = value["spec"]["names"]["shortNames"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for version in value["spec"]["versions"].as_array().into_iter().flatten() {
            let name = version["name"].as_str().unwrap_or_default();
            let group = value["spec"]["group"].as_str().unwrap_or_default();
            out.push_str(&format!("\n## {kind} ({group}/{name})\n\n"));
            out.push_str(&format!("Scope: {scope}."));
            if !short.is_empty() {
                let names: Vec<String> = short.iter().map(|s| format!("`{s}`")).collect();
                out.push_str(&format!(" Short names: {}.", names.join(", ")));
            }
            out.push('\n');
            let schema = &version["schema"]["openAPIV3Schema"];
            for part in ["spec", "status"] {
                let Some(node) = schema["properties"].get(part) else {
                    continue;
                };
                out.push_str(&format!(
                    "\n### {part}\n\n| Field | Type | Required | Description |\n|---|---|---|---|\n"
                ));
                let mut rows = Vec::new();
                fields(part, node, &mut rows);
                for row in rows {
                    out.push_str(&row);
                }
                rules(part, node, &mut out);
            }
            // Rules on the whole object (for example spec against metadata).
            rules("", schema, &mut out);
        }
    }
    out
}

/// The metadata reference: annotations, labels and finalizers.
pub fn metadata_markdown() -> String {
    let mut out = String::from(
        "# Annotations, labels and finalizers\n\n<!-- Generated from `src/reference.rs` by `APPLINK_UPDATE_DOCS=1 cargo test --lib reference`; do not edit. -->\n\n\
         | Key | On | Meaning |\n|---|---|---|\n",
    );
    for (key, on, meaning) in METADATA_KEYS {
        out.push_str(&format!("| `{key}` | {on} | {} |\n", cell(meaning)));
    }
    out
}

fn fields(path: &str, node: &Value, rows: &mut Vec<String>) {
    let required: Vec<&str> = node["required"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(props) = node["properties"].as_object() else {
        return;
    };
    for (name, child) in props {
        let field = format!("{path}.{name}");
        let item = if child["type"] == "array" {
            &child["items"]
        } else {
            child
        };
        rows.push(format!(
            "| `{field}` | {} | {} | {} |\n",
            type_of(child),
            if required.contains(&name.as_str()) {
                "yes"
            } else {
                ""
            },
            cell(&describe(child))
        ));
        let below = if child["type"] == "array" {
            format!("{field}[]")
        } else {
            field
        };
        fields(&below, item, rows);
        if let Some(values) = item.get("additionalProperties").filter(|v| v.is_object()) {
            fields(&format!("{below}.*"), values, rows);
        }
    }
}

fn rules(path: &str, node: &Value, out: &mut String) {
    let mut found = Vec::new();
    collect_rules(path, node, &mut found);
    if found.is_empty() || path.is_empty() && node.get("x-kubernetes-validations").is_none() {
        return;
    }
    if path.is_empty() {
        found.retain(|(at, _, _)| at.is_empty());
        out.push_str("\n### Rules on the whole object\n\n| Rule | Message |\n|---|---|\n");
        for (_, rule, message) in found {
            out.push_str(&format!("| `{}` | {} |\n", cell(&rule), cell(&message)));
        }
        return;
    }
    out.push_str(&format!(
        "\n#### Rules on {path}\n\n| At | Rule | Message |\n|---|---|---|\n"
    ));
    for (at, rule, message) in found {
        out.push_str(&format!(
            "| `{at}` | `{}` | {} |\n",
            cell(&rule),
            cell(&message)
        ));
    }
}

fn collect_rules(path: &str, node: &Value, found: &mut Vec<(String, String, String)>) {
    for v in node["x-kubernetes-validations"]
        .as_array()
        .into_iter()
        .flatten()
    {
        found.push((
            path.to_string(),
            v["rule"].as_str().unwrap_or_default().to_string(),
            v["message"].as_str().unwrap_or_default().to_string(),
        ));
    }
    if path.is_empty() {
        return;
    }
    for (name, child) in node["properties"].as_object().into_iter().flatten() {
        let field = format!("{path}.{name}");
        if child["type"] == "array" {
            collect_rules(&field, child, found);
            collect_rules(&format!("{field}[]"), &child["items"], found);
        } else {
            collect_rules(&field, child, found);
        }
    }
}

fn type_of(node: &Value) -> String {
    let base = match node["type"].as_str() {
        Some("array") => format!("[]{}", type_of(&node["items"])),
        Some("object") if node["additionalProperties"].is_object() => {
            format!("map[string]{}", type_of(&node["additionalProperties"]))
        }
        Some(t) => t.to_string(),
        None if node["x-kubernetes-int-or-string"] == true => "int-or-string".into(),
        None => "any".into(),
    };
    match node["format"].as_str() {
        Some(f) => format!("{base} ({f})"),
        None => base,
    }
}

fn describe(node: &Value) -> String {
    let mut text = node["description"]
        .as_str()
        .unwrap_or_default()
        .replace("\n\n", " ");
    let values: Vec<String> = node["enum"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| {
            format!(
                "`{}`",
                v.as_str().map_or_else(|| v.to_string(), str::to_string)
            )
        })
        .collect();
    if !values.is_empty() {
        text.push_str(&format!(" One of: {}.", values.join(", ")));
    }
    if let Some(default) = node.get("default") {
        text.push_str(&format!(" Default: `{default}`."));
    }
    for (key, what) in [
        ("maxLength", "Max length"),
        ("maxItems", "Max items"),
        ("maxProperties", "Max entries"),
        ("minimum", "Minimum"),
        ("maximum", "Maximum"),
    ] {
        if let Some(n) = node.get(key) {
            text.push_str(&format!(" {what}: {n}."));
        }
    }
    if let Some(p) = node["pattern"].as_str() {
        text.push_str(&format!(" Pattern: `{p}`."));
    }
    text.trim().to_string()
}

/// A table cell: one line, no column breaks.
fn cell(text: &str) -> String {
    text.replace('\n', " ").replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn check(file: &str, rendered: String) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        if std::env::var_os("APPLINK_UPDATE_DOCS").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &rendered).unwrap();
            return;
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == rendered,
            "{file} is not what the code renders: regenerate it with \
             `APPLINK_UPDATE_DOCS=1 cargo test --lib reference` and commit the result"
        );
    }

    #[test]
    fn crd_reference_is_up_to_date() {
        check("docs/reference/crds.md", crds_markdown());
    }

    #[test]
    fn metadata_reference_is_up_to_date() {
        check("docs/reference/metadata.md", metadata_markdown());
    }

    #[test]
    fn every_crd_field_is_in_the_reference() {
        let md = crds_markdown();
        for field in [
            "`spec.url`",
            "`spec.credentialsSecretRef`",
            "`status.conditions`",
        ] {
            assert!(md.contains(field), "{field}");
        }
        assert!(md.contains("## ApplicationLink (applinks.io/v1alpha1)"));
    }

    /// Every file with extension `ext` below `dir`, at any depth.
    fn files_under(dir: &Path, ext: &str) -> Vec<std::path::PathBuf> {
        let mut files = Vec::new();
        let mut dirs = vec![dir.to_path_buf()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == ext) {
                    files.push(path);
                }
            }
        }
        files
    }

    /// Every `applinks.io/…` key written in the source is documented; the API group is not a key.
    #[test]
    fn every_metadata_key_in_the_source_is_documented() {
        let mut missing = Vec::new();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        for path in files_under(&src, "rs") {
            if path.ends_with("reference.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            // Comments may show example keys of the user's own (e.g. in a selector).
            let code: String = text
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            for key in metadata_keys_in(&code) {
                if !METADATA_KEYS.iter().any(|(k, _, _)| *k == key) {
                    missing.push(format!("{key} ({})", path.display()));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "undocumented keys, add them to METADATA_KEYS: {missing:?}"
        );
    }

    /// The `[sub.]applinks.io/<name>` keys in a text, without the API group's versions.
    fn metadata_keys_in(text: &str) -> Vec<String> {
        let mut keys = Vec::new();
        for (at, _) in text.match_indices("applinks.io/") {
            let start = text[..at]
                .rfind(|c: char| !(c.is_ascii_lowercase() || c == '.'))
                .map_or(0, |i| i + 1);
            let tail = &text[at + "applinks.io/".len()..];
            let name: String = tail
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '-' || c.is_ascii_digit())
                .collect();
            let prefix = &text[start..at];
            if name.is_empty()
                || name.starts_with("v1")
                || !(prefix.is_empty() || prefix.ends_with('.'))
            {
                continue;
            }
            keys.push(format!("{prefix}applinks.io/{name}"));
        }
        keys
    }

    #[test]
    fn keys_are_found_with_their_prefix() {
        assert_eq!(
            metadata_keys_in(
                r#"x "sharding.applinks.io/key=a" "applinks.io/v1alpha1" applinks.io/paused"#
            ),
            vec!["sharding.applinks.io/key", "applinks.io/paused"]
        );
    }

    /// GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens.
    fn anchor(heading: &str) -> String {
        heading
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect()
    }

    /// The text without code blocks and inline code, where `](` is not a link.
    fn without_code(text: &str) -> String {
        let mut fenced = false;
        let mut out = String::new();
        for line in text.lines() {
            if line.starts_with("```") {
                fenced = !fenced;
                continue;
            }
            if fenced {
                continue;
            }
            for (i, part) in line.split('`').enumerate() {
                if i % 2 == 0 {
                    out.push_str(part);
                }
            }
            out.push('\n');
        }
        out
    }

    fn anchors(text: &str) -> Vec<String> {
        let mut fenced = false;
        let mut out = Vec::new();
        for line in text.lines() {
            if line.starts_with("```") {
                fenced = !fenced;
            }
            if !fenced && line.starts_with('#') {
                out.push(anchor(line.trim_start_matches('#')));
            }
        }
        out
    }

    /// Every relative link in the README and docs/ reaches a file, and a heading when it names one.
    #[test]
    fn docs_links_resolve() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut pages = vec![root.join("README.md")];
        pages.extend(files_under(&root.join("docs"), "md"));
        let mut broken = Vec::new();
        for page in &pages {
            let text = without_code(&std::fs::read_to_string(page).unwrap());
            for (at, _) in text.match_indices("](") {
                let rest = &text[at + 2..];
                let Some(end) = rest.find(')') else { continue };
                let target = &rest[..end];
                if target.contains("://") || target.starts_with("mailto:") || target.contains(' ') {
                    continue;
                }
                let (file, frag) = target.split_once('#').unwrap_or((target, ""));
                let dest = if file.is_empty() {
                    page.clone()
                } else {
                    page.parent().unwrap().join(file)
                };
                if !dest.exists() {
                    broken.push(format!("{}: {target} (no such file)", page.display()));
                    continue;
                }
                if !frag.is_empty() && dest.extension().is_some_and(|e| e == "md") {
                    let headings = anchors(&std::fs::read_to_string(&dest).unwrap());
                    if !headings.iter().any(|h| h == frag) {
                        broken.push(format!("{}: {target} (no such heading)", page.display()));
                    }
                }
            }
        }
        assert!(broken.is_empty(), "broken links: {broken:#?}");
    }
}
