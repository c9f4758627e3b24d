//! Reading fields out of vendor JSON without trusting their types.
//!
//! Payloads are parsed to a [`serde_json::Value`] first and then read field by field, so a wrong
//! type anywhere becomes a [`crate::ReceiveError::Malformed`] that names the field (`ticket.id
//! must be a string or an integer`) instead of a panic or serde's generic message.

use serde_json::{Map, Value};

/// Longest identifier accepted from a payload. Ids end up in database keys and log lines.
pub(crate) const MAX_ID_LEN: usize = 128;

/// The object at `value`, or an error naming `path`.
pub(crate) fn object<'a>(value: &'a Value, path: &str) -> Result<&'a Map<String, Value>, String> {
    value
        .as_object()
        .ok_or_else(|| format!("{path} must be a JSON object"))
}

/// The object under `key`, if present and not null.
pub(crate) fn opt_object<'a>(
    parent: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a Map<String, Value>>, String> {
    match parent.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => object(v, path).map(Some),
    }
}

/// An identifier that senders write either as a JSON string or as an integer. Absent, null and
/// blank strings are `None`.
pub(crate) fn opt_id(
    parent: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<String>, String> {
    let text = match parent.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => n.to_string(),
        Some(_) => return Err(format!("{path} must be a string or an integer")),
    };
    if text.is_empty() {
        return Ok(None);
    }
    if text.len() > MAX_ID_LEN || text.chars().any(char::is_control) {
        return Err(format!(
            "{path} must be at most {MAX_ID_LEN} printable characters"
        ));
    }
    Ok(Some(text))
}

/// An optional string field; other types are an error naming `path`.
pub(crate) fn opt_str<'a>(
    parent: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a str>, String> {
    match parent.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(format!("{path} must be a string")),
    }
}

/// `s` cut to at most `max` bytes on a character boundary (for names that go into logs).
pub(crate) fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
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
    use serde_json::json;

    #[test]
    fn ids_are_strings_or_integers() {
        let v = json!({"a": 12, "b": " x ", "c": 1.5, "d": null, "e": "", "f": true});
        let m = v.as_object().unwrap();
        assert_eq!(opt_id(m, "a", "a"), Ok(Some("12".into())));
        assert_eq!(opt_id(m, "b", "b"), Ok(Some("x".into())));
        assert!(opt_id(m, "c", "c").is_err());
        assert_eq!(opt_id(m, "d", "d"), Ok(None));
        assert_eq!(opt_id(m, "e", "e"), Ok(None));
        assert_eq!(opt_id(m, "missing", "m"), Ok(None));
        assert!(opt_id(m, "f", "f").unwrap_err().contains("f must be"));
    }

    #[test]
    fn clip_respects_char_boundaries() {
        assert_eq!(clip("éé", 3), "é…");
        assert_eq!(clip("ab", 3), "ab");
    }
}
