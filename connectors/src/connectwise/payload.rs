//! A verified ConnectWise callback body → the normalized [`Event`].
//!
//! Shape (NangoHQ/nango's ConnectWise webhook types, amp-labs/connectors' fixtures): top-level
//! `MessageId`, `Action` (`added`/`updated`/`deleted`), `Type` (`ticket`, …), `ID`, `MemberId`,
//! `Metadata`, and `Entity`: the whole record **as a JSON string** (null on delete), parsed a
//! second time here.

use super::settings::TriggerRule;
use crate::flag_value::{FlagState, flag_state};
use crate::{Actor, CompanyRef, DeliveryKey, Event, TicketRef, Trigger};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Longest id accepted from a payload (ids go into database keys and log lines).
const MAX_ID_LEN: usize = 128;

/// Parse a body whose signature has been verified. `Err` is a message for a 400.
pub fn parse(body: &[u8], rule: &TriggerRule) -> Result<Event, String> {
    let root: Value = serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
    let root = root.as_object().ok_or("body must be a JSON object")?;

    let delivery_key = match opt_id(root, "MessageId")? {
        Some(id) => DeliveryKey(id),
        // Every documented payload has a MessageId. Without one, a redelivery still carries the
        // same bytes, so the body's digest dedupes it just as well.
        None => DeliveryKey(format!("sha256:{}", hex(&Sha256::digest(body)))),
    };
    let action = opt_str(root, "Action")?
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let record_type = opt_str(root, "Type")?
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let record_id = opt_id(root, "ID")?;
    let member_id = opt_id(root, "MemberId")?;
    let entity = entity(root)?;
    let kind = format!("{}/{}", clip(&record_type), clip(&action));

    if record_type != "ticket" {
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

    let entity = entity.as_ref();
    let ticket = record_id
        .or(entity.map(|e| opt_id(e, "id")).transpose()?.flatten())
        .map(TicketRef);
    let company = match entity
        .map(|e| opt_object(e, "company", "Entity.company"))
        .transpose()?
        .flatten()
    {
        Some(company) => opt_id(company, "id")
            .map_err(|e| format!("Entity.company.{e}"))?
            .map(CompanyRef),
        None => None,
    };
    let updated_by = match entity
        .map(|e| opt_object(e, "_info", "Entity._info"))
        .transpose()?
        .flatten()
    {
        Some(info) => opt_id(info, "updatedBy").map_err(|e| format!("Entity._info.{e}"))?,
        None => None,
    };
    let actor = choose_actor(member_id, updated_by, ticket.as_ref());

    let trigger = if action == "deleted" {
        Trigger::None
    } else {
        match entity {
            Some(entity) if carries_rule_fields(entity, rule) => decide(entity, rule),
            // A summarized payload: decided from the ticket itself, in a job.
            _ if ticket.is_some() => Trigger::Undecided,
            _ => Trigger::None,
        }
    };
    Ok(Event {
        delivery_key,
        kind,
        ticket,
        company,
        actor,
        trigger,
        signature_form: None,
    })
}

/// `MemberId` is undocumented; the best evidence (amp-labs/connectors'
/// `providers/connectwise/internal/webhook/test` fixtures) is
/// that it names the member whose save fired the callback, and `Entity._info.updatedBy` names
/// the member who last saved the record. For a request those should be the same person. When
/// they differ we trust `updatedBy`: it is part of the record itself (inside the signed body, as
/// ConnectWise returns the ticket to a GET), while `MemberId`'s meaning is a guess. The
/// disagreement is logged so a real capture can settle the question.
fn choose_actor(
    member_id: Option<String>,
    updated_by: Option<String>,
    ticket: Option<&TicketRef>,
) -> Option<Actor> {
    match (member_id, updated_by) {
        (Some(member), Some(updated)) if !member.eq_ignore_ascii_case(&updated) => {
            tracing::info!(
                ticket = ticket.map(|t| t.0.as_str()),
                member_id = %member,
                updated_by = %updated,
                "ConnectWise MemberId and Entity._info.updatedBy differ; using updatedBy"
            );
            Some(Actor::PsaUser(updated))
        }
        (_, Some(updated)) => Some(Actor::PsaUser(updated)),
        (Some(member), None) => Some(Actor::PsaUser(member)),
        (None, None) => None,
    }
}

/// Whether the record has what the rule reads. ConnectWise can send a summarized payload,
/// an `Entity` without the custom fields (https://developer.connectwise.com/Products/ConnectWise_PSA/Integrating_with_PSA/Callbacks);
/// deciding from it would silently miss every request.
fn carries_rule_fields(entity: &Map<String, Value>, rule: &TriggerRule) -> bool {
    let has_fields = rule.custom_field.is_none() || entity.contains_key("customFields");
    let has_status = rule.status.is_none() || entity.contains_key("status");
    has_fields && has_status
}

/// The trigger rule applied to a full ticket record (a callback's `Entity` or the ticket read
/// through the API).
pub fn decide_record(entity: &Map<String, Value>, rule: &TriggerRule) -> Trigger {
    decide(entity, rule)
}

/// The trigger rule applied to the ticket record: requested if the custom field is true or the
/// status matches; cleared if the field is present and not true, or the status is present and
/// different; otherwise nothing to do.
fn decide(entity: &Map<String, Value>, rule: &TriggerRule) -> Trigger {
    let field = rule.custom_field.as_ref().and_then(|selector| {
        let fields = entity.get("customFields")?.as_array()?;
        let field = fields.iter().filter_map(Value::as_object).find(|f| {
            selector.matches(
                f.get("id").and_then(Value::as_u64),
                f.get("caption").and_then(Value::as_str),
            )
        })?;
        Some(flag_state(
            field.get("value").unwrap_or(&Value::Null),
            &["true".to_string()],
        ))
    });
    let status = rule.status.as_ref().and_then(|want| {
        let name = entity.get("status")?.as_object()?.get("name")?.as_str()?;
        Some(name.trim().eq_ignore_ascii_case(want.trim()))
    });
    if field == Some(FlagState::Set) || status == Some(true) {
        Trigger::Requested {
            duration_secs: None,
        }
    } else if field == Some(FlagState::Unset) || status == Some(false) {
        Trigger::Cleared
    } else {
        Trigger::None
    }
}

/// `Entity` is documented as a JSON string; accept an already-parsed object too, in case a
/// payload version embeds it directly.
fn entity(root: &Map<String, Value>) -> Result<Option<Map<String, Value>>, String> {
    match root.get("Entity") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() || s.trim() == "null" => Ok(None),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(m)) => Ok(Some(m)),
            Ok(_) => Err("Entity must hold a JSON object".into()),
            Err(e) => Err(format!("Entity is not valid JSON: {e}")),
        },
        Some(Value::Object(m)) => Ok(Some(m.clone())),
        Some(_) => Err("Entity must be a JSON string holding the record".into()),
    }
}

fn opt_id(parent: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    let text = match parent.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => n.to_string(),
        Some(_) => return Err(format!("{key} must be a string or an integer")),
    };
    if text.is_empty() {
        return Ok(None);
    }
    if text.len() > MAX_ID_LEN || text.chars().any(char::is_control) {
        return Err(format!(
            "{key} must be at most {MAX_ID_LEN} printable characters"
        ));
    }
    Ok(Some(text))
}

fn opt_str<'a>(parent: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, String> {
    match parent.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("{key} must be a string")),
    }
}

fn opt_object<'a>(
    parent: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a Map<String, Value>>, String> {
    match parent.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(format!("{path} must be an object")),
    }
}

/// Vendor words that go into `Event::kind` (logs): short and printable.
fn clip(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(40).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::super::settings::CustomFieldSelector;
    use super::*;
    use serde_json::json;

    fn rule() -> TriggerRule {
        TriggerRule {
            custom_field: Some(CustomFieldSelector::Caption("Request JIT".into())),
            status: None,
        }
    }

    fn body(entity: Value, action: &str, member: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "MessageId": "4f7c0a52-9a1e-4c55-8d5e-1b2f3c4d5e6f",
            "FromUrl": "na.myconnectwise.net",
            "CompanyId": "contosomsp",
            "MemberId": member,
            "Action": action,
            "Type": "ticket",
            "ID": 123456,
            "Entity": if entity.is_null() { Value::Null } else { Value::String(entity.to_string()) },
            "Metadata": {"key_url": "https://na.myconnectwise.net/v2025_1//system/callbackkey/index.rails?companyName=contosomsp&id=x"},
            "CallbackObjectRecId": 26552
        }))
        .unwrap()
    }

    fn ticket(value: Value, updated_by: &str) -> Value {
        json!({
            "id": 123456,
            "summary": "Need admin on Fabrikam tenant",
            "company": {"id": 250, "identifier": "Fabrikam", "name": "Fabrikam Inc"},
            "status": {"id": 7, "name": "In Progress"},
            "customFields": [
                {"id": 3, "caption": "Other", "type": "Text", "value": "true"},
                {"id": 12, "caption": "Request JIT", "type": "Checkbox", "value": value}
            ],
            "_info": {"lastUpdated": "2026-06-04T17:54:53Z", "updatedBy": updated_by}
        })
    }

    #[test]
    fn reference_example_requests() {
        let event = parse(
            &body(ticket(json!(true), "jsmith"), "updated", "jsmith"),
            &rule(),
        )
        .unwrap();
        assert_eq!(event.delivery_key.0, "4f7c0a52-9a1e-4c55-8d5e-1b2f3c4d5e6f");
        assert_eq!(event.kind, "ticket/updated");
        assert_eq!(event.ticket, Some(TicketRef("123456".into())));
        assert_eq!(event.company, Some(CompanyRef("250".into())));
        assert_eq!(event.actor, Some(Actor::PsaUser("jsmith".into())));
        assert_eq!(
            event.trigger,
            Trigger::Requested {
                duration_secs: None
            }
        );
    }

    #[test]
    fn false_field_clears_and_missing_field_is_nothing() {
        let event = parse(
            &body(ticket(json!(false), "jsmith"), "updated", "jsmith"),
            &rule(),
        )
        .unwrap();
        assert_eq!(event.trigger, Trigger::Cleared);
        let event = parse(
            &body(ticket(json!(null), "jsmith"), "updated", "jsmith"),
            &rule(),
        )
        .unwrap();
        assert_eq!(event.trigger, Trigger::Cleared);
        let mut no_fields = ticket(json!(true), "jsmith");
        no_fields["customFields"] = json!([]);
        assert_eq!(
            parse(&body(no_fields, "updated", "jsmith"), &rule())
                .unwrap()
                .trigger,
            Trigger::None
        );
    }

    #[test]
    fn field_by_id() {
        let rule = TriggerRule {
            custom_field: Some(CustomFieldSelector::Id(12)),
            status: None,
        };
        let event = parse(
            &body(ticket(json!(true), "jsmith"), "added", "jsmith"),
            &rule,
        )
        .unwrap();
        assert_eq!(
            event.trigger,
            Trigger::Requested {
                duration_secs: None
            }
        );
        let rule = TriggerRule {
            custom_field: Some(CustomFieldSelector::Id(3)),
            status: None,
        };
        // A text custom field holding "true" counts as set too.
        let event = parse(
            &body(ticket(json!(true), "jsmith"), "added", "jsmith"),
            &rule,
        )
        .unwrap();
        assert_eq!(
            event.trigger,
            Trigger::Requested {
                duration_secs: None
            }
        );
    }

    #[test]
    fn status_rule() {
        let rule = TriggerRule {
            custom_field: None,
            status: Some("in progress".into()),
        };
        let event = parse(
            &body(ticket(json!(false), "jsmith"), "updated", "jsmith"),
            &rule,
        )
        .unwrap();
        assert_eq!(
            event.trigger,
            Trigger::Requested {
                duration_secs: None
            }
        );
        let rule = TriggerRule {
            custom_field: None,
            status: Some("JIT Requested".into()),
        };
        let event = parse(
            &body(ticket(json!(true), "jsmith"), "updated", "jsmith"),
            &rule,
        )
        .unwrap();
        assert_eq!(event.trigger, Trigger::Cleared);
    }

    #[test]
    fn deletes_and_other_types_are_nothing() {
        let event = parse(&body(Value::Null, "deleted", "jsmith"), &rule()).unwrap();
        assert_eq!(event.trigger, Trigger::None);
        assert_eq!(event.ticket, Some(TicketRef("123456".into())));
        let event = parse(
            &body(ticket(json!(true), "jsmith"), "deleted", "jsmith"),
            &rule(),
        )
        .unwrap();
        assert_eq!(event.trigger, Trigger::None);
        let mut v: Value =
            serde_json::from_slice(&body(ticket(json!(true), "jsmith"), "updated", "jsmith"))
                .unwrap();
        v["Type"] = json!("company");
        let event = parse(&serde_json::to_vec(&v).unwrap(), &rule()).unwrap();
        assert_eq!(event.trigger, Trigger::None);
        assert_eq!(event.ticket, None);
        assert_eq!(event.kind, "company/updated");
    }

    #[test]
    fn updated_by_wins_over_member_id() {
        let event = parse(
            &body(ticket(json!(true), "akumar"), "updated", "jsmith"),
            &rule(),
        )
        .unwrap();
        assert_eq!(event.actor, Some(Actor::PsaUser("akumar".into())));
        let mut no_info = ticket(json!(true), "x");
        no_info.as_object_mut().unwrap().remove("_info");
        let event = parse(&body(no_info, "updated", "jsmith"), &rule()).unwrap();
        assert_eq!(event.actor, Some(Actor::PsaUser("jsmith".into())));
    }

    #[test]
    fn entity_as_object_is_accepted() {
        let mut v: Value = serde_json::from_slice(&body(Value::Null, "updated", "jsmith")).unwrap();
        v["Entity"] = ticket(json!(true), "jsmith");
        let event = parse(&serde_json::to_vec(&v).unwrap(), &rule()).unwrap();
        assert_eq!(
            event.trigger,
            Trigger::Requested {
                duration_secs: None
            }
        );
    }

    #[test]
    fn wrong_types_are_malformed() {
        for (key, value) in [
            ("ID", json!([1])),
            ("MessageId", json!({"a": 1})),
            ("Action", json!(1)),
            ("Entity", json!(5)),
            ("Entity", json!("{not json")),
            ("Entity", json!("[1,2]")),
        ] {
            let mut v: Value =
                serde_json::from_slice(&body(ticket(json!(true), "jsmith"), "updated", "jsmith"))
                    .unwrap();
            v[key] = value;
            assert!(
                parse(&serde_json::to_vec(&v).unwrap(), &rule()).is_err(),
                "{key}"
            );
        }
        let mut bad_company = ticket(json!(true), "jsmith");
        bad_company["company"] = json!("Fabrikam");
        assert!(parse(&body(bad_company, "updated", "jsmith"), &rule()).is_err());
        assert!(parse(b"[]", &rule()).is_err());
    }

    #[test]
    fn missing_message_id_falls_back_to_the_body_digest() {
        let mut v: Value =
            serde_json::from_slice(&body(ticket(json!(true), "j"), "updated", "j")).unwrap();
        v.as_object_mut().unwrap().remove("MessageId");
        let bytes = serde_json::to_vec(&v).unwrap();
        let a = parse(&bytes, &rule()).unwrap().delivery_key;
        assert!(a.0.starts_with("sha256:"));
        assert_eq!(a, parse(&bytes, &rule()).unwrap().delivery_key);
    }
}
