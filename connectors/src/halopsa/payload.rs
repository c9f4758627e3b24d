//! Reading a verified HaloPSA webhook body into the normalized [`Event`].
//!
//! Shape (Halo's webhook guide, https://halopsa.com/guides/article/?kbid=838, and a live-tenant
//! capture in homotechsual/dotMARC's `HaloWebhookEndpointTests.cs`): every built-in payload carries `id` (a GUID per delivery, our
//! delivery key), `event` (e.g. "Action Added"), `object_id`, `webhook_id`, `timestamp`, often a
//! top-level `agent_id`, and with "Full object" payloads a `ticket` object (`id`, `client_id`,
//! `agent_id`, `customfields` …) and, on action events, an `action` object.

use super::settings::{IdOrName, TriggerRule};
use crate::json_fields::{clip, object, opt_id, opt_object, opt_str};
use crate::{Actor, CompanyRef, DeliveryKey, Event, TicketRef, Trigger};
use serde_json::{Map, Value};

/// The event plus what the parser learned on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub event: Event,
    /// Id of the trigger custom field when the rule names it by name and the delivery showed it
    /// (lets `reset_trigger` skip a lookup).
    pub trigger_field_id: Option<u64>,
}

pub fn parse(body: &[u8], rule: &TriggerRule) -> Result<Parsed, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
    if value.is_array() {
        return Err(
            "a batched delivery (JSON array) arrived; turn batching off on the Halo webhook".into(),
        );
    }
    let root = object(&value, "the body")?;
    let delivery_key = opt_id(root, "id", "id")?.ok_or("id (the delivery's GUID) is missing")?;
    let kind = opt_str(root, "event", "event")?
        .map(|e| clip(e.trim(), 100))
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| "halo webhook".to_string());
    let ticket = opt_object(root, "ticket", "ticket")?;
    let action = opt_object(root, "action", "action")?;

    let ticket_id = match ticket
        .map(|t| halo_id(t, "id", "ticket.id"))
        .transpose()?
        .flatten()
    {
        Some(id) => Some(id),
        None => match action
            .map(|a| halo_id(a, "ticket_id", "action.ticket_id"))
            .transpose()?
            .flatten()
        {
            Some(id) => Some(id),
            // `object_id` is the ticket on ticket and action events but another object's id on
            // other events, so it is only a fallback, and a non-numeric one is ignored.
            None => halo_id(root, "object_id", "object_id").ok().flatten(),
        },
    };
    let company = ticket
        .map(|t| halo_id(t, "client_id", "ticket.client_id"))
        .transpose()?
        .flatten();
    let actor = acting_agent(root, action)?;

    let (trigger, trigger_field_id) = decide(rule, ticket, action)?;
    if matches!(trigger, Trigger::Requested { .. }) && ticket_id.is_none() {
        return Err(
            "a JIT request arrived without a ticket id; use a payload that includes the ticket"
                .into(),
        );
    }
    Ok(Parsed {
        event: Event {
            delivery_key: DeliveryKey(delivery_key),
            kind,
            ticket: ticket_id.map(|id| TicketRef(id.to_string())),
            company: company.map(|id| CompanyRef(id.to_string())),
            actor: actor.map(|id| Actor::PsaUser(id.to_string())),
            trigger,
            signature_form: None,
        },
        trigger_field_id,
    })
}

/// A Halo numeric id written as an integer or a digit string. 0 means "none" in Halo and is
/// read as absent; negative numbers, fractions and other text are errors naming `path`.
fn halo_id(parent: &Map<String, Value>, key: &str, path: &str) -> Result<Option<u64>, String> {
    match opt_id(parent, key, path)? {
        None => Ok(None),
        Some(text) => match text.parse::<u64>() {
            Ok(0) => Ok(None),
            Ok(id) => Ok(Some(id)),
            Err(_) => Err(format!("{path} must be a positive integer")),
        },
    }
}

/// Who performed the action.
///
/// Uncertain vendor fact (Halo's webhook guide, https://halopsa.com/guides/article/?kbid=838,
/// does not say): it is not documented whether the
/// top-level `agent_id` is the acting agent or the ticket's assignee, nor which field of an action
/// object names its author. When an action object is present its own agent fields are preferred
/// (`who_agentid`, then `actionby_agent_id`, then `agent_id`); the top-level `agent_id` is the
/// fallback. `ticket.agent_id` is the assignee and is never used.
fn acting_agent(
    root: &Map<String, Value>,
    action: Option<&Map<String, Value>>,
) -> Result<Option<u64>, String> {
    if let Some(action) = action {
        for key in ["who_agentid", "actionby_agent_id", "agent_id"] {
            if let Some(id) = halo_id(action, key, &format!("action.{key}"))? {
                return Ok(Some(id));
            }
        }
    }
    halo_id(root, "agent_id", "agent_id")
}

/// Apply the trigger rule: the configured action outcome wins; otherwise the custom field's
/// value decides between a request (true) and a re-arm (present and not true).
fn decide(
    rule: &TriggerRule,
    ticket: Option<&Map<String, Value>>,
    action: Option<&Map<String, Value>>,
) -> Result<(Trigger, Option<u64>), String> {
    if let (Some(want), Some(action)) = (&rule.outcome, action)
        && action_outcome_matches(want, action)?
    {
        return Ok((
            Trigger::Requested {
                duration_secs: None,
            },
            None,
        ));
    }
    let (Some(want), Some(ticket)) = (&rule.custom_field, ticket) else {
        return Ok((Trigger::None, None));
    };
    let Some((field_id, value)) = find_custom_field(want, ticket)? else {
        return Ok((Trigger::None, None));
    };
    let learned = matches!(want, IdOrName::Name(_))
        .then_some(field_id)
        .flatten();
    let trigger = if is_true(value) {
        Trigger::Requested {
            duration_secs: None,
        }
    } else {
        Trigger::Cleared
    };
    Ok((trigger, learned))
}

/// Halo's action object names the outcome in `outcome` (display value) and `outcome_id`; with the
/// webhook's "send IDs" option `outcome` itself may be the id, so an integer there counts as one.
fn action_outcome_matches(want: &IdOrName, action: &Map<String, Value>) -> Result<bool, String> {
    let mut id = halo_id(action, "outcome_id", "action.outcome_id")?;
    let mut name = None;
    match action.get("outcome") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => name = Some(s.as_str()),
        Some(Value::Number(_)) => id = id.or(halo_id(action, "outcome", "action.outcome")?),
        Some(_) => return Err("action.outcome must be a string or an integer".into()),
    }
    Ok(want.matches(id, name))
}

/// The configured field in `ticket.customfields` (an array of `{id, name, value}`): its id and
/// value. `None` if the field is not in this payload or carries no value.
fn find_custom_field<'a>(
    want: &IdOrName,
    ticket: &'a Map<String, Value>,
) -> Result<Option<(Option<u64>, &'a Value)>, String> {
    let fields = match ticket.get("customfields") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(fields)) => fields,
        Some(_) => return Err("ticket.customfields must be an array".into()),
    };
    for (i, field) in fields.iter().enumerate() {
        let path = format!("ticket.customfields[{i}]");
        let field = object(field, &path)?;
        let id = halo_id(field, "id", &format!("{path}.id"))?;
        let name = opt_str(field, "name", &format!("{path}.name"))?;
        if want.matches(id, name) {
            return Ok(field.get("value").filter(|v| !v.is_null()).map(|v| (id, v)));
        }
    }
    Ok(None)
}

/// Checkbox-like values as Halo and admins write them: `true`, `1`, `"1"`, `"true"`, `"Yes"`
/// (case-insensitive). Everything else (including `"0"`, `false`, `""`) is "not set".
pub fn is_true(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_u64() == Some(1) || n.as_f64() == Some(1.0),
        Value::String(s) => {
            let s = s.trim();
            s == "1" || s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("yes")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn outcome_rule() -> TriggerRule {
        TriggerRule {
            outcome: Some(IdOrName::Name("Request JIT".into())),
            custom_field: None,
        }
    }

    fn field_rule() -> TriggerRule {
        TriggerRule {
            outcome: None,
            custom_field: Some(IdOrName::Name("CFRequestJIT".into())),
        }
    }

    /// A "Full object" payload in the shape of the dotMARC capture, with an action added.
    fn action_added(outcome: Value, fields: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "id": "8e25bc7b-e07e-4102-9398-5d6647e1e79d",
            "webhook_id": "53232637-7724-4a19-b126-3c7267a292aa",
            "notification_id": 41,
            "event": "Action Added",
            "object_id": 4242,
            "agent_id": 3,
            "timestamp": "2026-01-15T06:41:08.7895915Z",
            "ticket": {"id": 4242, "client_id": 17, "agent_id": 9, "customfields": fields},
            "action": {"id": 1, "ticket_id": 4242, "outcome": outcome, "outcome_id": 23, "who_agentid": 5},
        }))
        .unwrap()
    }

    #[test]
    fn outcome_by_name_requests_and_prefers_the_actions_agent() {
        let p = parse(
            &action_added(json!("request jit"), json!([])),
            &outcome_rule(),
        )
        .unwrap();
        let e = p.event;
        assert_eq!(
            e.delivery_key,
            DeliveryKey("8e25bc7b-e07e-4102-9398-5d6647e1e79d".into())
        );
        assert_eq!(e.kind, "Action Added");
        assert_eq!(e.ticket, Some(TicketRef("4242".into())));
        assert_eq!(e.company, Some(CompanyRef("17".into())));
        assert_eq!(e.actor, Some(Actor::PsaUser("5".into())));
        assert_eq!(
            e.trigger,
            Trigger::Requested {
                duration_secs: None
            }
        );
    }

    #[test]
    fn outcome_by_id_and_other_outcomes() {
        let by_id = TriggerRule {
            outcome: Some(IdOrName::Id(23)),
            custom_field: None,
        };
        assert_eq!(
            parse(&action_added(json!("Whatever"), json!([])), &by_id)
                .unwrap()
                .event
                .trigger,
            Trigger::Requested {
                duration_secs: None
            }
        );
        let other = TriggerRule {
            outcome: Some(IdOrName::Id(24)),
            custom_field: None,
        };
        assert_eq!(
            parse(&action_added(json!("Whatever"), json!([])), &other)
                .unwrap()
                .event
                .trigger,
            Trigger::None
        );
        // "Send IDs" mode: `outcome` is the id itself.
        let mut v: Value = serde_json::from_slice(&action_added(json!(24), json!([]))).unwrap();
        v["action"].as_object_mut().unwrap().remove("outcome_id");
        assert_eq!(
            parse(&serde_json::to_vec(&v).unwrap(), &other)
                .unwrap()
                .event
                .trigger,
            Trigger::Requested {
                duration_secs: None
            }
        );
    }

    #[test]
    fn custom_field_true_requests_false_clears() {
        for value in [
            json!("1"),
            json!(1),
            json!(true),
            json!("true"),
            json!("Yes"),
        ] {
            let p = parse(
                &action_added(
                    json!("x"),
                    json!([{"id": 150, "name": "CFRequestJIT", "value": value}]),
                ),
                &field_rule(),
            )
            .unwrap();
            assert_eq!(
                p.event.trigger,
                Trigger::Requested {
                    duration_secs: None
                },
                "{value}"
            );
            assert_eq!(p.trigger_field_id, Some(150));
        }
        for value in [json!("0"), json!(0), json!(false), json!("No"), json!("")] {
            let p = parse(
                &action_added(
                    json!("x"),
                    json!([{"id": 150, "name": "CFRequestJIT", "value": value}]),
                ),
                &field_rule(),
            )
            .unwrap();
            assert_eq!(p.event.trigger, Trigger::Cleared, "{value}");
        }
        let p = parse(
            &action_added(
                json!("x"),
                json!([{"id": 151, "name": "Other", "value": "1"}]),
            ),
            &field_rule(),
        )
        .unwrap();
        assert_eq!(p.event.trigger, Trigger::None);
    }

    #[test]
    fn top_level_agent_is_the_fallback_and_object_id_names_the_ticket() {
        let body = serde_json::to_vec(
            &json!({"id": "g", "event": "Ticket Updated", "object_id": "77", "agent_id": 3}),
        )
        .unwrap();
        let e = parse(&body, &outcome_rule()).unwrap().event;
        assert_eq!(e.ticket, Some(TicketRef("77".into())));
        assert_eq!(e.actor, Some(Actor::PsaUser("3".into())));
        assert_eq!(e.company, None);
        assert_eq!(e.trigger, Trigger::None);
    }

    #[test]
    fn malformed_payloads_name_the_problem() {
        let cases = [
            (json!([{"id": "x"}]), "batched"),
            (json!({"event": "x"}), "id (the delivery's GUID) is missing"),
            (json!({"id": {"a": 1}}), "id must be a string or an integer"),
            (
                json!({"id": "x", "ticket": "4242"}),
                "ticket must be a JSON object",
            ),
            (
                json!({"id": "x", "ticket": {"id": -4}}),
                "ticket.id must be a positive integer",
            ),
            (
                json!({"id": "x", "ticket": {"id": 1.5}}),
                "ticket.id must be a string or an integer",
            ),
            (
                json!({"id": "x", "ticket": {"id": "abc"}}),
                "ticket.id must be a positive integer",
            ),
            (
                json!({"id": "x", "ticket": {"id": 1, "customfields": {}}}),
                "ticket.customfields must be an array",
            ),
            (
                json!({"id": "x", "action": {"outcome": []}}),
                "action.outcome must be",
            ),
            (
                json!({"id": "x", "action": {"outcome": "Request JIT"}}),
                "without a ticket id",
            ),
        ];
        for (v, expected) in cases {
            let rule = TriggerRule {
                outcome: Some(IdOrName::Name("Request JIT".into())),
                custom_field: Some(IdOrName::Id(1)),
            };
            let err = parse(&serde_json::to_vec(&v).unwrap(), &rule).unwrap_err();
            assert!(err.contains(expected), "{v}: {err}");
        }
    }
}
