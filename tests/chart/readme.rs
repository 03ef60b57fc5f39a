//! The chart's README, generated from Chart.yaml and values.yaml in the helm-docs convention: a
//! comment block starting with `# --` right above a key describes it (continued by the `#` lines
//! after it); leaves are listed, and a described map is listed whole (its described keys too).

use serde_yaml::Value;
use std::collections::BTreeMap;

/// Descriptions by dotted key path, read from the comments.
fn descriptions(values_yaml: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut block: Option<Vec<String>> = None;
    for line in values_yaml.lines() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if let Some(comment) = trimmed.strip_prefix('#') {
            let text = comment.strip_prefix(' ').unwrap_or(comment);
            match (&mut block, text.strip_prefix("-- ")) {
                (_, Some(first)) => block = Some(vec![first.trim().to_string()]),
                (Some(b), None) => b.push(text.trim().to_string()),
                (None, None) => {}
            }
            continue;
        }
        let key = trimmed
            .split_once(':')
            .map(|(k, _)| k)
            .filter(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        let Some(key) = key else {
            // A blank line, a list item or a continuation: a pending description ends here.
            block = None;
            continue;
        };
        while stack.last().is_some_and(|(i, _)| *i >= indent) {
            stack.pop();
        }
        stack.push((indent, key.to_string()));
        if let Some(b) = block.take() {
            let path: Vec<&str> = stack.iter().map(|(_, k)| k.as_str()).collect();
            out.insert(path.join("."), b.join(" "));
        }
    }
    out
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_i64() || n.is_u64() => "int",
        Value::Number(_) => "float",
        Value::Sequence(_) => "list",
        Value::Mapping(_) => "object",
        _ => "string",
    }
}

/// Table-safe Markdown: no column breaks.
fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

/// A description's cell: `<fullname>` stays text rather than an HTML tag.
fn text_cell(s: &str) -> String {
    cell(s).replace('<', "&lt;").replace('>', "&gt;")
}

fn rows(
    prefix: &str,
    map: &serde_yaml::Mapping,
    docs: &BTreeMap<String, String>,
    under_described: bool,
    out: &mut Vec<String>,
) {
    for (k, v) in map {
        let key = k.as_str().expect("values.yaml keys are strings");
        let path = if prefix.is_empty() {
            key.to_string()
        } else {
            format!("{prefix}.{key}")
        };
        let doc = docs.get(&path);
        let nested = matches!(v, Value::Mapping(m) if !m.is_empty());
        if doc.is_some() || (!nested && !under_described) {
            let json = serde_json::to_string(v).expect("a YAML value is JSON");
            out.push(format!(
                "| {} | {} | `{}` | {} |",
                path,
                type_name(v),
                cell(&json),
                text_cell(doc.map(String::as_str).unwrap_or(""))
            ));
        }
        if let Value::Mapping(m) = v {
            rows(&path, m, docs, under_described || doc.is_some(), out);
        }
    }
}

/// The README for the chart in `chart_yaml` and `values_yaml`.
pub fn generate(chart_yaml: &str, values_yaml: &str) -> String {
    let chart: Value = serde_yaml::from_str(chart_yaml).expect("Chart.yaml parses");
    let values: Value = serde_yaml::from_str(values_yaml).expect("values.yaml parses");
    let s = |k: &str| chart[k].as_str().unwrap_or_default().to_string();
    let docs = descriptions(values_yaml);
    let mut table = Vec::new();
    rows(
        "",
        values.as_mapping().expect("values.yaml is a map"),
        &docs,
        false,
        &mut table,
    );
    format!(
        "<!-- Generated from Chart.yaml and values.yaml by tests/chart/readme.rs: do not edit.\n     \
         Regenerate: APPLINK_UPDATE_CHART_README=1 cargo test --test chart chart_readme -->\n\
         # {name}\n\n\
         ![Version: {version}](https://img.shields.io/badge/Version-{version_badge}-informational?style=flat-square) \
         ![AppVersion: {app}](https://img.shields.io/badge/AppVersion-{app_badge}-informational?style=flat-square)\n\n\
         {description}\n\n\
         **Homepage:** <{home}>\n\n\
         ## Installing\n\n\
         ```console\n\
         helm install applink-operator oci://ghcr.io/applink-operator/charts/applink-operator \\\n  \
         --version {version} --namespace applink-system --create-namespace\n\
         ```\n\n\
         Verifying the chart and the image, upgrading and the install manifest: \
         [docs/install.md]({home}/blob/main/docs/install.md).\n\n\
         ## Requirements\n\n\
         Kubernetes: `{kube}`\n\n\
         ## Values\n\n\
         | Key | Type | Default | Description |\n\
         |-----|------|---------|-------------|\n\
         {rows}\n",
        name = s("name"),
        version = s("version"),
        version_badge = s("version").replace('-', "--"),
        app = s("appVersion"),
        app_badge = s("appVersion").replace('-', "--"),
        description = s("description"),
        home = s("home"),
        kube = s("kubeVersion"),
        rows = table.join("\n"),
    )
}

#[test]
fn descriptions_follow_the_helm_docs_convention() {
    let yaml = "# Header, not a description.\n\n\
                # -- First line\n# continued.\na: 1\n\
                # A plain comment is no description.\nb:\n  # -- Nested.\n  c: x\n  d: []\n\
                # -- Described map.\ne:\n  f: true\n  # -- Own.\n  g: 2\n";
    let docs = descriptions(yaml);
    assert_eq!(docs["a"], "First line continued.");
    assert!(!docs.contains_key("b"));
    assert_eq!(docs["b.c"], "Nested.");
    let readme = generate("name: x\nversion: 1.0.0\nappVersion: 1.0.0\n", yaml);
    for row in [
        "| a | int | `1` | First line continued. |",
        "| b.c | string | `\"x\"` | Nested. |",
        "| b.d | list | `[]` |  |",
        "| e | object | `{\"f\":true,\"g\":2}` | Described map. |",
        "| e.g | int | `2` | Own. |",
    ] {
        assert!(readme.contains(row), "{row} missing in\n{readme}");
    }
    assert!(!readme.contains("| e.f |"), "{readme}");
}
