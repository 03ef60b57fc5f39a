//! How much of what an application sends the operator keeps: every remote string that is used
//! (in a Secret, a request, a comparison) or stored (status) has a cap, checked where it is
//! parsed. A value over its cap is refused with [`ApiError::ValueTooLong`] (reason
//! `RemoteValueTooLong`), never cut silently, except free text (health details, messages),
//! which is cut with an ellipsis. Pure, table-tested.

use super::error::ApiError;

/// A URL the application advertises (its base URL, OAuth endpoints, redirects, icons).
pub const MAX_URL_BYTES: usize = 2048;
/// An identifier or short name (application id, client id, type, version, scope name).
pub const MAX_ID_BYTES: usize = 256;
/// A display name or a scope list.
pub const MAX_NAME_BYTES: usize = 1024;
/// Free text kept in status (health details).
pub const MAX_TEXT_BYTES: usize = 1024;
/// Entries of a list the application advertises (scopes, redirect URLs, auth types).
pub const MAX_LIST_ITEMS: usize = 256;

/// `value` of `field` (answered at `url`) is at most `limit` bytes.
pub(crate) fn check(url: &str, field: &str, value: &str, limit: usize) -> Result<(), ApiError> {
    if value.len() <= limit {
        return Ok(());
    }
    Err(ApiError::ValueTooLong {
        url: url.to_owned(),
        field: field.to_owned(),
        len: value.len(),
        limit,
    })
}

/// Each entry of a list within `limit` bytes, and at most [`MAX_LIST_ITEMS`] entries.
pub(crate) fn check_list(
    url: &str,
    field: &str,
    values: &[String],
    limit: usize,
) -> Result<(), ApiError> {
    if values.len() > MAX_LIST_ITEMS {
        return Err(ApiError::ValueTooLong {
            url: url.to_owned(),
            field: format!("{field} (entries)"),
            len: values.len(),
            limit: MAX_LIST_ITEMS,
        });
    }
    values
        .iter()
        .try_for_each(|v| check(url, &format!("an entry of {field}"), v, limit))
}

/// At most `max` bytes of free text, cut at a character boundary with an ellipsis.
pub fn cap(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_table() {
        let u = "https://a.example.test/x";
        assert!(
            check(
                u,
                "token_endpoint",
                &"a".repeat(MAX_URL_BYTES),
                MAX_URL_BYTES
            )
            .is_ok()
        );
        let err = check(
            u,
            "token_endpoint",
            &"a".repeat(MAX_URL_BYTES + 1),
            MAX_URL_BYTES,
        )
        .unwrap_err();
        assert_eq!(err.reason(), "RemoteValueTooLong");
        let text = err.to_string();
        assert!(
            text.contains("token_endpoint") && text.contains("2049"),
            "{text}"
        );
        assert!(
            text.len() < 600,
            "the message does not quote the value: {text}"
        );
        let many = vec!["s".to_string(); MAX_LIST_ITEMS + 1];
        assert_eq!(
            check_list(u, "scopes_supported", &many, MAX_ID_BYTES)
                .unwrap_err()
                .reason(),
            "RemoteValueTooLong"
        );
        let long_entry = vec!["s".repeat(MAX_ID_BYTES + 1)];
        assert!(check_list(u, "scopes_supported", &long_entry, MAX_ID_BYTES).is_err());
        assert_eq!(cap("abc", 3), "abc");
        assert_eq!(cap("abcd", 3), "abc…");
        assert_eq!(cap("aé", 2), "a…", "cut at a character boundary");
    }
}
