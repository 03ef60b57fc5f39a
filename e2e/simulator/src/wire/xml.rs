//! A tiny XML element tree for responses: the entities are few and small, and writing them by
//! hand keeps attribute-vs-element choices explicit (JAXB puts `link` fields in attributes).

#[derive(Clone, Debug, Default)]
pub struct El {
    name: String,
    attrs: Vec<(String, String)>,
    text: Option<String>,
    children: Vec<El>,
}

impl El {
    pub fn new(name: &str) -> Self {
        El {
            name: name.into(),
            ..Default::default()
        }
    }

    pub fn attr(mut self, k: &str, v: impl ToString) -> Self {
        self.attrs.push((k.into(), v.to_string()));
        self
    }

    pub fn text(mut self, t: impl ToString) -> Self {
        self.text = Some(t.to_string());
        self
    }

    pub fn child(mut self, c: El) -> Self {
        self.children.push(c);
        self
    }

    /// Adds `<name>value</name>`.
    pub fn leaf(self, name: &str, value: impl ToString) -> Self {
        self.child(El::new(name).text(value))
    }

    /// Adds `<name>value</name>` when the value is present.
    pub fn opt_leaf(self, name: &str, value: Option<impl ToString>) -> Self {
        match value {
            Some(v) => self.leaf(name, v),
            None => self,
        }
    }

    pub fn children(mut self, cs: impl IntoIterator<Item = El>) -> Self {
        self.children.extend(cs);
        self
    }

    pub fn to_document(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>");
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        out.push('<');
        out.push_str(&self.name);
        for (k, v) in &self.attrs {
            out.push(' ');
            out.push_str(k);
            out.push_str("=\"");
            escape_into(v, out);
            out.push('"');
        }
        if self.text.is_none() && self.children.is_empty() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        if let Some(t) = &self.text {
            escape_into(t, out);
        }
        for c in &self.children {
            c.write(out);
        }
        out.push_str("</");
        out.push_str(&self.name);
        out.push('>');
    }
}

fn escape_into(s: &str, out: &mut String) {
    for ch in s.chars() {
        match ch {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_text_and_attributes() {
        let doc = El::new("a")
            .attr("href", "x?a=1&b=\"2\"")
            .leaf("b", "<tag>")
            .to_document();
        assert!(doc.ends_with("<a href=\"x?a=1&amp;b=&quot;2&quot;\"><b>&lt;tag&gt;</b></a>"));
    }
}
