//! Collecting per-field settings problems into one [`SettingsError`], so an admin sees every
//! wrong field of a connector at once (the admin API answers 422 with all of them).

use crate::SettingsError;
use std::collections::BTreeMap;

/// Field path → message, filled while validating; empty means valid.
#[derive(Debug, Default)]
pub(crate) struct FieldErrors(BTreeMap<String, String>);

impl FieldErrors {
    pub(crate) fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        // The first message for a field is usually the most specific one; keep it.
        self.0.entry(path.into()).or_insert_with(|| message.into());
    }

    /// Record the error of `result` under `path` and hand back its value, if any.
    pub(crate) fn check<T>(&mut self, path: &str, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(message) => {
                self.add(path, message);
                None
            }
        }
    }

    /// `Ok(value)` if nothing was recorded, otherwise every recorded message.
    pub(crate) fn finish<T>(self, value: impl FnOnce() -> T) -> Result<T, SettingsError> {
        if self.0.is_empty() {
            Ok(value())
        } else {
            Err(SettingsError { fields: self.0 })
        }
    }
}

/// Settings JSON that does not even deserialize (unknown field, wrong type, missing field).
/// serde names the offending field in its message; we lift it into the field path when we can,
/// so `{"sitee": …}` is reported under `settings.sitee`.
pub(crate) fn from_serde(e: &serde_json::Error) -> SettingsError {
    let message = e.to_string();
    let path = backticked_after(&message, "unknown field `")
        .or_else(|| backticked_after(&message, "missing field `"))
        .map(|field| format!("settings.{field}"))
        .unwrap_or_else(|| "settings".to_string());
    // serde_json appends " at line 1 column 42", meaningless for a JSON value.
    let message = match message.find(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message,
    };
    SettingsError::field(path, message)
}

fn backticked_after<'a>(message: &'a str, marker: &str) -> Option<&'a str> {
    let start = message.find(marker)? + marker.len();
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

/// A short free-text setting: trimmed, non-empty, at most `max` characters, no control
/// characters (these values end up in HTTP headers, URLs and log lines).
pub(crate) fn text(value: &str, max: usize) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err("must not be empty".into());
    }
    if value.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    if value.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct S {
        site: String,
    }

    #[test]
    fn serde_errors_name_the_field() {
        let e =
            serde_json::from_value::<S>(serde_json::json!({"site": "x", "sitee": 1})).unwrap_err();
        let err = from_serde(&e);
        assert!(err.fields.contains_key("settings.sitee"), "{err:?}");
        let e = serde_json::from_value::<S>(serde_json::json!({})).unwrap_err();
        assert!(from_serde(&e).fields.contains_key("settings.site"));
        let e = serde_json::from_value::<S>(serde_json::json!({"site": 5})).unwrap_err();
        assert!(from_serde(&e).fields.contains_key("settings"));
    }

    #[test]
    fn collects_every_field() {
        let mut errors = FieldErrors::default();
        assert_eq!(errors.check("a", text(" ok ", 5)), Some("ok".to_string()));
        assert_eq!(errors.check("b", text("  ", 5)), None);
        assert_eq!(errors.check("c", text("toolong", 5)), None);
        let err = errors.finish(|| ()).unwrap_err();
        assert_eq!(err.fields.len(), 2);
    }
}
