//! A verified Autotask webhook body → the normalized [`Event`].
//!
//! Documented fields (Autotask webhooks,
//! https://autotask.net/help/developerhelp/content/APIs/Webhooks/WEBHOOKS.htm, as modelled by
//! Nango's and the n8n Autotask node's webhook types): `Action` (`Create`/`Update`/`Delete`, and
//! `Deactivated`), `Guid`, `EntityType`, `Id`, `Fields`, `EventTime`, `SequenceNumber`,
//! `PersonID`. Several details are unconfirmed, so this parser accepts every plausible shape:
//! - `PersonID` vs `PersonId` (Nango's spelling): top-level keys are matched case-insensitively;
//! - `Fields` as an object map (Nango, n8n) **or** an array of `{name, value}` (one Postman
//!   harness, self-declared unproven);
//! - UDFs either as plain keys of `Fields` or inside a container (`UserDefinedFields`, `UDFs`,
//!   `UDF`), itself a map or a `{name, value}` array, as the REST API returns them on entities.

use super::api::UdfLabels;
use super::settings::TriggerRule;
use crate::flag_value::{FlagState, flag_state};
use crate::{Actor, CompanyRef, DeliveryKey, Event, TicketRef, Trigger};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

const MAX_ID_LEN: usize = 128;
const UDF_CONTAINERS: [&str; 3] = ["userdefinedfields", "udfs", "udf"];

/// Parse a body whose signature has been verified, for a text trigger UDF. `Err` is a message
/// for a 400.
pub fn parse(body: &[u8], rule: &TriggerRule) -> Result<Event, String> {
    parse_with(body, rule, UdfLabels::NotAList)
}

/// [`parse`], knowing what the trigger UDF's values may be (a list UDF's id or label).
pub fn parse_with(body: &[u8], rule: &TriggerRule, labels: UdfLabels<'_>) -> Result<Event, String> {
    let root: Value = serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
    let root = root.as_object().ok_or("body must be a JSON object")?;

    let action = opt_text(root, "Action")?.unwrap_or_default();
    let entity_type = opt_text(root, "EntityType")?.unwrap_or_default();
    let id = opt_id(root, "Id")?;
    let fields = Fields::read(get_ci(root, "Fields"))?;
    let person = opt_id(root, "PersonID")?;
    let delivery_key = delivery_key(root, id.as_deref(), body)?;
    let kind = format!("{}/{}", clip(&entity_type), clip(&action));

    // `Deactivated` was verified like any other delivery (it never turns verification off,
    // cf. the n8n GHSA-hh59-fgrr-93hf bug); it just carries nothing to act on.
    let is_ticket =
        entity_type.eq_ignore_ascii_case("ticket") || entity_type.eq_ignore_ascii_case("tickets");
    if !is_ticket || action.eq_ignore_ascii_case("deactivated") {
        if action.eq_ignore_ascii_case("deactivated") {
            tracing::warn!(entity_type = %kind, "Autotask reports the webhook deactivated");
        }
        return Ok(Event {
            delivery_key,
            kind,
            ticket: None,
            company: None,
            actor: None,
            trigger: Trigger::None,
            signature_form: None,
        });
    }

    let company = fields
        .get("CompanyID")
        .map(|v| id_value(v, "Fields.CompanyID"))
        .transpose()?
        .flatten();
    let trigger = if action.eq_ignore_ascii_case("delete") {
        Trigger::None
    } else {
        decide(&fields, rule, labels)
    };
    Ok(Event {
        delivery_key,
        kind,
        ticket: id.map(TicketRef),
        company: company.map(CompanyRef),
        actor: person.map(Actor::PsaUser),
        trigger,
        signature_form: None,
    })
}

/// `(Guid, Id, SequenceNumber, EventTime)`: `Guid` may name the webhook rather than the event
/// (Nango routes on it as the webhook's GUID), so it is combined with the rest. A body carrying
/// none of them is keyed by its digest, which a redelivery repeats.
fn delivery_key(
    root: &Map<String, Value>,
    id: Option<&str>,
    body: &[u8],
) -> Result<DeliveryKey, String> {
    let guid = opt_id(root, "Guid")?;
    let sequence = opt_id(root, "SequenceNumber")?;
    let event_time = opt_text(root, "EventTime")?;
    if guid.is_none() && sequence.is_none() && event_time.is_none() {
        let digest: String = Sha256::digest(body)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        return Ok(DeliveryKey(format!("sha256:{digest}")));
    }
    Ok(DeliveryKey(format!(
        "{}/{}/{}/{}",
        guid.unwrap_or_default(),
        id.unwrap_or_default(),
        sequence.unwrap_or_default(),
        clip(&event_time.unwrap_or_default()),
    )))
}

/// The trigger rule applied to a ticket read through the API (`status`,
/// `userDefinedFields: [{name, value}]`): how an undecided delivery is decided in a job.
pub fn decide_ticket(item: &Value, rule: &TriggerRule, labels: UdfLabels<'_>) -> Trigger {
    let Some(item) = item.as_object() else {
        return Trigger::None;
    };
    let mut fields = Vec::new();
    if let Some(status) = get_ci(item, "status") {
        fields.push(("Status".to_string(), status.clone()));
    }
    if let Some(udfs) = get_ci(item, "userDefinedFields") {
        fields.push(("UserDefinedFields".to_string(), udfs.clone()));
    }
    match decide(&Fields(fields), rule, labels) {
        // Still unreadable: nothing settles it, so nothing is requested.
        Trigger::Undecided => Trigger::None,
        trigger => trigger,
    }
}

/// A list UDF's value as its label: the id form is looked up, a label stays as it is.
fn udf_label(value: &Value, items: &[(String, String)]) -> Value {
    let text = match value {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        other => return other.clone(),
    };
    items
        .iter()
        .find(|(id, _)| *id == text)
        .map(|(_, label)| Value::String(label.clone()))
        .unwrap_or_else(|| value.clone())
}

fn looks_like_an_id(value: &Value) -> bool {
    match value {
        Value::Number(n) => n.is_u64() || n.is_i64(),
        Value::String(s) => !s.trim().is_empty() && s.trim().chars().all(|c| c.is_ascii_digit()),
        _ => false,
    }
}

fn decide(fields: &Fields, rule: &TriggerRule, labels: UdfLabels<'_>) -> Trigger {
    let raw_udf = rule.udf.as_deref().and_then(|name| fields.udf(name));
    if let (Some(value), UdfLabels::Unknown) = (raw_udf, labels)
        && looks_like_an_id(value)
    {
        // Possibly a list item's id: read the UDF's list (in a job) before deciding.
        return Trigger::Undecided;
    }
    let udf = raw_udf
        .map(|v| match labels {
            UdfLabels::List(items) => udf_label(v, items),
            _ => v.clone(),
        })
        .map(|v| flag_state(&v, &rule.true_values));
    let status = rule.status.as_deref().and_then(|want| {
        let got = match fields.get("Status")? {
            Value::String(s) => s.trim().to_string(),
            Value::Number(n) => n.to_string(),
            _ => return Some(false),
        };
        Some(got == want.trim())
    });
    if udf == Some(FlagState::Set) || status == Some(true) {
        Trigger::Requested {
            duration_secs: None,
        }
    } else if udf == Some(FlagState::Unset) || status == Some(false) {
        Trigger::Cleared
    } else {
        Trigger::None
    }
}

/// The changed/display-always fields of an event, whatever shape they came in.
#[derive(Debug, Default)]
struct Fields(Vec<(String, Value)>);

impl Fields {
    fn read(value: Option<&Value>) -> Result<Fields, String> {
        match value {
            None | Some(Value::Null) => Ok(Fields::default()),
            Some(Value::Object(map)) => Ok(Fields(
                map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            )),
            Some(Value::Array(items)) => name_value_pairs(items, "Fields").map(Fields),
            Some(_) => Err("Fields must be an object or an array of {name, value}".into()),
        }
    }

    /// Field `name`: exact key first, then case-insensitive.
    fn get(&self, name: &str) -> Option<&Value> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .or_else(|| self.0.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
            .map(|(_, v)| v)
    }

    /// UDF `name`, as a plain field or inside a UDF container.
    fn udf(&self, name: &str) -> Option<&Value> {
        if let Some(v) = self.get(name) {
            return Some(v);
        }
        let container = self
            .0
            .iter()
            .find(|(k, _)| UDF_CONTAINERS.iter().any(|c| k.eq_ignore_ascii_case(c)))
            .map(|(_, v)| v)?;
        match container {
            Value::Object(map) => map.get(name).or_else(|| {
                map.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v)
            }),
            Value::Array(items) => items.iter().filter_map(Value::as_object).find_map(|item| {
                let item_name = get_ci(item, "name")?.as_str()?;
                item_name
                    .trim()
                    .eq_ignore_ascii_case(name.trim())
                    .then(|| get_ci(item, "value").unwrap_or(&Value::Null))
            }),
            _ => None,
        }
    }
}

fn name_value_pairs(items: &[Value], path: &str) -> Result<Vec<(String, Value)>, String> {
    items
        .iter()
        .map(|item| {
            let item = item
                .as_object()
                .ok_or(format!("{path} entries must be objects"))?;
            let name = get_ci(item, "name")
                .and_then(Value::as_str)
                .ok_or(format!("{path} entries need a string name"))?;
            Ok((
                name.to_string(),
                get_ci(item, "value").cloned().unwrap_or(Value::Null),
            ))
        })
        .collect()
}

/// Key lookup that tolerates the casing differences seen between sources.
fn get_ci<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn opt_id(map: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match get_ci(map, key) {
        None => Ok(None),
        Some(v) => id_value(v, key),
    }
}

fn id_value(value: &Value, path: &str) -> Result<Option<String>, String> {
    let text = match value {
        Value::Null => return Ok(None),
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        _ => return Err(format!("{path} must be a string or an integer")),
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

fn opt_text(map: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match get_ci(map, key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(_) => Err(format!("{key} must be a string")),
    }
}

fn clip(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flag_value::default_true_values;
    use serde_json::json;

    fn rule() -> TriggerRule {
        TriggerRule {
            udf: Some("Request JIT".into()),
            status: None,
            true_values: default_true_values(),
            reset_value: "false".into(),
        }
    }

    fn body(fields: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "Action": "Update",
            "Guid": "a1da62a4-2c49-40a8-8183-69994ce5b3eb",
            "EntityType": "Ticket",
            "Id": 351181,
            "Fields": fields,
            "EventTime": "2026-01-15T14:57:50Z",
            "SequenceNumber": 17,
            "PersonID": 29682885
        }))
        .unwrap()
    }

    #[test]
    fn reference_example() {
        let event = parse(
            &body(json!({"TicketNumber": "T20260115.0042", "CompanyID": 29683501, "Status": "8", "Request JIT": "true"})),
            &rule(),
        )
        .unwrap();
        assert_eq!(
            event.delivery_key.0,
            "a1da62a4-2c49-40a8-8183-69994ce5b3eb/351181/17/2026-01-15T14:57:50Z"
        );
        assert_eq!(event.kind, "Ticket/Update");
        assert_eq!(event.ticket, Some(TicketRef("351181".into())));
        assert_eq!(event.company, Some(CompanyRef("29683501".into())));
        assert_eq!(event.actor, Some(Actor::PsaUser("29682885".into())));
        assert_eq!(
            event.trigger,
            Trigger::Requested {
                duration_secs: None
            }
        );
    }

    #[test]
    fn every_plausible_udf_shape() {
        for fields in [
            json!({"CompanyID": 1, "Request JIT": "Yes"}),
            json!({"CompanyID": 1, "request jit": "1"}),
            json!({"CompanyID": 1, "UserDefinedFields": {"Request JIT": "true"}}),
            json!({"CompanyID": 1, "userDefinedFields": [{"name": "Request JIT", "value": "true"}]}),
            json!({"CompanyID": 1, "UDFs": [{"Name": "Request JIT", "Value": "yes"}]}),
            json!([{"name": "CompanyID", "value": 1}, {"name": "Request JIT", "value": "true"}]),
            json!([{"name": "CompanyID", "value": 1}, {"name": "UserDefinedFields", "value": [{"name": "Request JIT", "value": "on"}]}]),
        ] {
            let event = parse(&body(fields.clone()), &rule()).unwrap();
            assert_eq!(
                event.trigger,
                Trigger::Requested {
                    duration_secs: None
                },
                "{fields}"
            );
            assert_eq!(event.company, Some(CompanyRef("1".into())), "{fields}");
        }
    }

    #[test]
    fn cleared_and_absent() {
        for v in [json!("false"), json!(""), json!(null), json!("No")] {
            let event = parse(&body(json!({"Request JIT": v})), &rule()).unwrap();
            assert_eq!(event.trigger, Trigger::Cleared);
        }
        let event = parse(&body(json!({"TicketNumber": "T1"})), &rule()).unwrap();
        assert_eq!(event.trigger, Trigger::None);
        let event = parse(&body(Value::Null), &rule()).unwrap();
        assert_eq!(event.trigger, Trigger::None);
    }

    #[test]
    fn status_rule() {
        let rule = TriggerRule {
            udf: None,
            status: Some("17".into()),
            ..rule()
        };
        assert_eq!(
            parse(&body(json!({"Status": 17})), &rule).unwrap().trigger,
            Trigger::Requested {
                duration_secs: None
            }
        );
        assert_eq!(
            parse(&body(json!({"Status": "17"})), &rule)
                .unwrap()
                .trigger,
            Trigger::Requested {
                duration_secs: None
            }
        );
        assert_eq!(
            parse(&body(json!({"Status": "8"})), &rule).unwrap().trigger,
            Trigger::Cleared
        );
        assert_eq!(
            parse(&body(json!({"Title": "x"})), &rule).unwrap().trigger,
            Trigger::None
        );
    }

    #[test]
    fn person_id_spellings_and_delete_and_deactivated() {
        let mut v: Value = serde_json::from_slice(&body(json!({"Request JIT": "true"}))).unwrap();
        let person = v.as_object_mut().unwrap().remove("PersonID").unwrap();
        v["PersonId"] = person;
        let event = parse(&serde_json::to_vec(&v).unwrap(), &rule()).unwrap();
        assert_eq!(event.actor, Some(Actor::PsaUser("29682885".into())));

        v["Action"] = json!("Delete");
        assert_eq!(
            parse(&serde_json::to_vec(&v).unwrap(), &rule())
                .unwrap()
                .trigger,
            Trigger::None
        );
        v["Action"] = json!("Deactivated");
        let event = parse(&serde_json::to_vec(&v).unwrap(), &rule()).unwrap();
        assert_eq!(event.trigger, Trigger::None);
        assert_eq!(event.ticket, None);
        v["Action"] = json!("Update");
        v["EntityType"] = json!("Contact");
        assert_eq!(
            parse(&serde_json::to_vec(&v).unwrap(), &rule())
                .unwrap()
                .trigger,
            Trigger::None
        );
    }

    #[test]
    fn wrong_types_are_malformed() {
        for (key, value) in [
            ("Id", json!({"x": 1})),
            ("Fields", json!("CompanyID=1")),
            ("Fields", json!([1, 2])),
            ("Fields", json!([{"value": 1}])),
            ("Action", json!(5)),
            ("PersonID", json!(1.5)),
            ("Guid", json!([1])),
        ] {
            let mut v: Value = serde_json::from_slice(&body(json!({}))).unwrap();
            v[key] = value;
            assert!(
                parse(&serde_json::to_vec(&v).unwrap(), &rule()).is_err(),
                "{key}"
            );
        }
        assert!(parse(&body(json!({"CompanyID": [1]})), &rule()).is_err());
        assert!(parse(b"42", &rule()).is_err());
    }

    #[test]
    fn delivery_key_without_ids_is_the_digest() {
        let bytes = br#"{"Action":"Update","EntityType":"Ticket","Id":351181}"#;
        let key = parse(bytes, &rule()).unwrap().delivery_key;
        assert!(key.0.starts_with("sha256:"));
    }
}
