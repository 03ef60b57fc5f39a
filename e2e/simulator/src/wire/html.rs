//! Small helpers for the HTML pages and redirects of the authorize steps.

/// `uri` with query parameters appended (`UriBuilder.queryParam`).
pub fn with_params(uri: &str, params: &[(&str, &str)]) -> String {
    if let Ok(mut u) = url::Url::parse(uri) {
        {
            let mut q = u.query_pairs_mut();
            for (k, v) in params {
                q.append_pair(k, v);
            }
        }
        return u.to_string();
    }
    let mut out = uri.to_string();
    for (k, v) in params {
        out.push(if out.contains('?') { '&' } else { '?' });
        out.push_str(&format!(
            "{}={}",
            crate::wire::oauth1::encode(k),
            crate::wire::oauth1::encode(v)
        ));
    }
    out
}

pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}
