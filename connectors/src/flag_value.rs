//! Reading a "Request JIT" checkbox/UDF value from a payload.
//!
//! ConnectWise checkbox custom fields arrive as JSON booleans; Autotask UDFs arrive as strings
//! (Autotask has no boolean UDF type, so MSPs use a text or list UDF holding "true"/"Yes"/"1").
//! Anything that is not clearly "set" counts as "not set": a request must be unambiguous.

use serde_json::Value;

/// The state of a trigger field that is present in an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlagState {
    Set,
    Unset,
}

/// Text values that mean "set" unless a connector configures its own list.
pub(crate) const DEFAULT_TRUE_VALUES: [&str; 5] = ["true", "yes", "y", "1", "on"];

/// Interpret `value`; strings are compared case-insensitively (after trimming) with
/// `true_values`.
pub(crate) fn flag_state(value: &Value, true_values: &[String]) -> FlagState {
    let set = match value {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() == Some(1.0),
        Value::String(s) => {
            let s = s.trim();
            true_values.iter().any(|t| t.trim().eq_ignore_ascii_case(s)) && !s.is_empty()
        }
        Value::Null | Value::Array(_) | Value::Object(_) => false,
    };
    if set {
        FlagState::Set
    } else {
        FlagState::Unset
    }
}

pub(crate) fn default_true_values() -> Vec<String> {
    DEFAULT_TRUE_VALUES.iter().map(|s| s.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn booleans_strings_and_numbers() {
        let t = default_true_values();
        assert_eq!(flag_state(&json!(true), &t), FlagState::Set);
        assert_eq!(flag_state(&json!(false), &t), FlagState::Unset);
        assert_eq!(flag_state(&json!(" Yes "), &t), FlagState::Set);
        assert_eq!(flag_state(&json!("TRUE"), &t), FlagState::Set);
        assert_eq!(flag_state(&json!("0"), &t), FlagState::Unset);
        assert_eq!(flag_state(&json!(""), &t), FlagState::Unset);
        assert_eq!(flag_state(&json!(1), &t), FlagState::Set);
        assert_eq!(flag_state(&json!(2), &t), FlagState::Unset);
        assert_eq!(flag_state(&json!(null), &t), FlagState::Unset);
        assert_eq!(flag_state(&json!([true]), &t), FlagState::Unset);
    }
}
