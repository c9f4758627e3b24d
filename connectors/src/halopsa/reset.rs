//! Resetting a custom-field trigger: which entry of the ticket's `customfields` is the trigger,
//! and the "not requested" value to write back in the form Halo showed.
//!
//! Halo publishes no reference for writing custom fields. What the sources support is writing a
//! ticket back in the shape it is read: Halo's own PowerShell module reads the ticket and then
//! posts the caller's ticket object as a one-element array (`Set-HaloTicket` →
//! `New-HaloPOSTRequest`,
//! https://github.com/homotechsual/HaloAPI/blob/main/Public/Set/Set-HaloTicket.ps1), and a
//! ticket read with `includedetails=true` lists its custom fields as `{"id", "name", "value"}`.
//! So the field is addressed by its numeric `id` (a rule naming the field is resolved to the id
//! on the ticket first), and the value keeps the JSON type and spelling the ticket showed:
//! a checkbox read as `"1"` is written `"0"`, one read as `true` is written `false`, `1` → `0`,
//! `"True"` → `"False"` (issue 15: `"0"` alone would be refused by a Halo that reads checkboxes
//! as booleans).

use super::IdOrName;
use super::payload::is_true;
use serde_json::Value;

/// The trigger's entry in the ticket's `customfields`: by id (configured or learned), else by
/// name, case-insensitively.
pub fn find_field<'t>(
    ticket: &'t Value,
    selector: &IdOrName,
    known_id: Option<u64>,
) -> Option<&'t Value> {
    let fields = ticket.get("customfields")?.as_array()?;
    let id = match selector {
        IdOrName::Id(id) => Some(*id),
        IdOrName::Name(_) => known_id,
    };
    if let Some(id) = id
        && let Some(field) = fields.iter().find(|f| field_id(f) == Some(id))
    {
        return Some(field);
    }
    let IdOrName::Name(name) = selector else {
        return None;
    };
    fields.iter().find(|f| {
        f.get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| n.trim().eq_ignore_ascii_case(name.trim()))
    })
}

/// A custom field entry's id, written as a number or a digit string.
pub fn field_id(field: &Value) -> Option<u64> {
    let id = field.get("id")?;
    id.as_u64()
        .or_else(|| id.as_str()?.trim().parse().ok())
        .filter(|&n| n > 0)
}

/// The "not requested" value in the form `current` has, or `None` when `current` is not set
/// (nothing to write).
pub fn unset_value(current: &Value) -> Option<Value> {
    if !is_true(current) {
        return None;
    }
    Some(match current {
        Value::Bool(_) => Value::Bool(false),
        Value::Number(_) => Value::from(0),
        Value::String(s) => Value::String(unset_spelling(s.trim()).to_string()),
        // `is_true` holds only for the three kinds above.
        _ => Value::String("0".into()),
    })
}

/// The negative spelling matching a set one: `"1"` → `"0"`, `"True"` → `"False"`, `"yes"` →
/// `"no"`, keeping the case style.
fn unset_spelling(set: &str) -> &'static str {
    let capitalized = set.starts_with(|c: char| c.is_ascii_uppercase());
    let all_caps = set.len() > 1 && set.chars().all(|c| c.is_ascii_uppercase());
    if set.eq_ignore_ascii_case("true") {
        match (all_caps, capitalized) {
            (true, _) => "FALSE",
            (_, true) => "False",
            _ => "false",
        }
    } else if set.eq_ignore_ascii_case("yes") {
        match (all_caps, capitalized) {
            (true, _) => "NO",
            (_, true) => "No",
            _ => "no",
        }
    } else {
        "0"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_unset_value_keeps_the_form_halo_showed() {
        assert_eq!(unset_value(&json!("1")), Some(json!("0")));
        assert_eq!(unset_value(&json!(true)), Some(json!(false)));
        assert_eq!(unset_value(&json!(1)), Some(json!(0)));
        assert_eq!(unset_value(&json!("True")), Some(json!("False")));
        assert_eq!(unset_value(&json!("true")), Some(json!("false")));
        assert_eq!(unset_value(&json!("TRUE")), Some(json!("FALSE")));
        assert_eq!(unset_value(&json!("Yes")), Some(json!("No")));
        for unset in [
            json!("0"),
            json!(false),
            json!(0),
            json!("False"),
            json!(null),
        ] {
            assert_eq!(unset_value(&unset), None, "{unset}");
        }
    }

    #[test]
    fn fields_are_found_by_id_then_by_name() {
        let ticket = json!({"customfields": [
            {"id": 150, "name": "CFRequestJIT", "value": "1"},
            {"id": "151", "name": "CFOther", "value": "1"},
        ]});
        let by_id = find_field(&ticket, &IdOrName::Id(151), None).unwrap();
        assert_eq!(by_id["name"], "CFOther");
        let by_name = find_field(&ticket, &IdOrName::Name("cfrequestjit".into()), None).unwrap();
        assert_eq!(field_id(by_name), Some(150));
        let learned = find_field(&ticket, &IdOrName::Name("renamed".into()), Some(150)).unwrap();
        assert_eq!(field_id(learned), Some(150));
        assert!(find_field(&ticket, &IdOrName::Id(9), None).is_none());
        assert!(find_field(&json!({}), &IdOrName::Id(150), None).is_none());
    }
}
