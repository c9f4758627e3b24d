//! The JSON events jitgate understands over Standard Webhooks (documented for senders in
//! `connectors/STANDARD_WEBHOOKS.md`):
//!
//! ```json
//! {"type": "jit.requested", "timestamp": "2026-01-15T14:57:50Z",
//!  "data": {"ticket": {"id": "T-1042"}, "company": {"id": "fabrikam"},
//!           "technician": {"email": "jane@msp.example"}, "duration": "2h"}}
//! ```
//!
//! `jit.cancelled` carries the same `data` (without `duration`) and ends the technician's grant
//! for that company early. Any other `type` is acknowledged and ignored.

use crate::json_fields::{clip, object, opt_id, opt_object, opt_str};
use crate::{Actor, CompanyRef, DeliveryKey, Event, TicketRef, Trigger};
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};

pub const REQUESTED: &str = "jit.requested";
pub const CANCELLED: &str = "jit.cancelled";
/// The event jitgate itself sends to `note_url`.
pub const NOTE: &str = "jit.note";

/// Longest duration a sender can ask for before the app's own cap applies; anything beyond a
/// year is a typo, not a request.
const MAX_DURATION_SECS: u64 = 366 * 24 * 3600;

/// Parse a verified body into the normalized event. `delivery_key` is the `webhook-id`.
pub(crate) fn parse(delivery_key: String, body: &[u8]) -> Result<Event, String> {
    // Most deliveries are other events, acknowledged and ignored: read their `type` without
    // building the whole document (a sender may post every ticket update of an MSP).
    if let Some(kind) = other_event_type(body) {
        return Ok(Event {
            delivery_key: DeliveryKey(delivery_key),
            kind: clip(kind.trim(), 100),
            ticket: None,
            company: None,
            actor: None,
            trigger: Trigger::None,
            signature_form: None,
        });
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
    let root = object(&value, "the body")?;
    let kind = match root.get("type") {
        Some(Value::String(t)) if !t.trim().is_empty() => t.trim(),
        Some(Value::String(_)) | None | Some(Value::Null) => return Err("type is missing".into()),
        Some(_) => return Err("type must be a string".into()),
    };
    let trigger_kind = match kind {
        REQUESTED => Some(true),
        CANCELLED => Some(false),
        _ => None,
    };
    let mut event = Event {
        delivery_key: DeliveryKey(delivery_key),
        kind: clip(kind, 100),
        ticket: None,
        company: None,
        actor: None,
        trigger: Trigger::None,
        signature_form: None,
    };
    let Some(is_request) = trigger_kind else {
        return Ok(event);
    };

    let data = root
        .get("data")
        .ok_or_else(|| "data is missing".to_string())
        .and_then(|d| object(d, "data"))?;
    event.ticket = Some(TicketRef(required_id(data, "ticket")?));
    event.company = Some(CompanyRef(required_id(data, "company")?));
    event.actor = Some(Actor::Email(technician_email(data)?));
    event.trigger = if is_request {
        let duration_secs = match opt_str(data, "duration", "data.duration")? {
            None => None,
            Some(text) => Some(parse_duration(text).map_err(|e| format!("data.duration {e}"))?),
        };
        Trigger::Requested { duration_secs }
    } else {
        Trigger::Cancelled
    };
    Ok(event)
}

/// The `type` of a well-formed event object when it is neither `jit.requested` nor
/// `jit.cancelled`. `None` sends the body through the full parse, which then accepts it or says
/// what is wrong exactly as before (not an object, no or a non-string `type`, a repeated
/// `type`, bad JSON).
fn other_event_type(body: &[u8]) -> Option<String> {
    struct TypeOnly;
    impl<'de> Visitor<'de> for TypeOnly {
        type Value = Option<String>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut kind = None;
            while let Some(key) = map.next_key::<String>()? {
                if key != "type" {
                    map.next_value::<IgnoredAny>()?;
                } else if kind.is_some() {
                    return Ok(None);
                } else {
                    kind = Some(map.next_value::<Value>()?);
                }
            }
            Ok(match kind {
                Some(Value::String(t)) => Some(t),
                _ => None,
            })
        }
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let kind = de.deserialize_map(TypeOnly).ok()??;
    de.end().ok()?;
    let trimmed = kind.trim();
    (!trimmed.is_empty() && trimmed != REQUESTED && trimmed != CANCELLED).then_some(kind)
}

/// `data.{name}.id`, required.
fn required_id(data: &Map<String, Value>, name: &str) -> Result<String, String> {
    let path = format!("data.{name}");
    let inner = opt_object(data, name, &path)?.ok_or_else(|| format!("{path} is missing"))?;
    opt_id(inner, "id", &format!("{path}.id"))?.ok_or_else(|| format!("{path}.id is missing"))
}

fn technician_email(data: &Map<String, Value>) -> Result<String, String> {
    let technician =
        opt_object(data, "technician", "data.technician")?.ok_or("data.technician is missing")?;
    let email = opt_str(technician, "email", "data.technician.email")?
        .map(str::trim)
        .unwrap_or_default();
    if looks_like_email(email) {
        Ok(email.to_string())
    } else {
        Err("data.technician.email must be an email address".into())
    }
}

/// A light shape check (one `@`, something on both sides, a dot in the domain, no spaces):
/// the real check is that the address belongs to a technician jitgate knows.
fn looks_like_email(s: &str) -> bool {
    if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        }
        None => false,
    }
}

/// `90s`, `15m`, `2h`, `1d` or a sum such as `1h30m`, the duration syntax used across jitgate.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    const SYNTAX: &str = "must look like 90s, 15m, 2h or 1h30m";
    let text = text.trim();
    if text.is_empty() {
        return Err(SYNTAX.into());
    }
    let mut total: u64 = 0;
    let mut number: Option<u64> = None;
    for c in text.chars() {
        if let Some(d) = c.to_digit(10) {
            number = Some(
                number
                    .unwrap_or(0)
                    .checked_mul(10)
                    .and_then(|n| n.checked_add(d.into()))
                    .ok_or(SYNTAX)?,
            );
            continue;
        }
        let unit: u64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(SYNTAX.into()),
        };
        let n = number.take().ok_or(SYNTAX)?;
        total = n
            .checked_mul(unit)
            .and_then(|s| total.checked_add(s))
            .ok_or("is too long")?;
    }
    if number.is_some() {
        return Err(format!("{SYNTAX} (a unit is missing)"));
    }
    match total {
        0 => Err("must be longer than zero".into()),
        t if t > MAX_DURATION_SECS => Err("is longer than a year".into()),
        t => Ok(t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> Vec<u8> {
        serde_json::to_vec(&v).unwrap()
    }

    fn data() -> Value {
        json!({"ticket": {"id": "T-1"}, "company": {"id": 42}, "technician": {"email": "jane@msp.example"}})
    }

    #[test]
    fn other_events_are_read_without_their_data_and_match_the_full_parse() {
        let body =
            br#"{"type":" ticket.updated ","data":{"ticket":{"id":"T-1"},"x":[1,2,{"y":null}]}}"#;
        let event = parse("msg_1".into(), body).unwrap();
        assert_eq!(event.kind, "ticket.updated");
        assert_eq!(event.trigger, Trigger::None);
        assert!(event.ticket.is_none());
        // Whatever the shortcut does not vouch for goes through the full parse, unchanged.
        for bad in [
            &br#"["ticket.updated"]"#[..],
            br#"{"type":"ticket.updated","type":"jit.requested"}"#,
            br#"{"type":"ticket.updated"} trailing"#,
            br#"{"type":"ticket.updated","data":{"#,
            br#"{"type":7}"#,
            br#"{"type":"  "}"#,
        ] {
            assert!(
                other_event_type(bad).is_none(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(other_event_type(br#"{"type":"jit.requested"}"#).is_none());
    }

    #[test]
    fn requested_with_duration() {
        let mut d = data();
        d["duration"] = json!("2h");
        let e = parse(
            "msg_1".into(),
            &body(json!({"type": "jit.requested", "timestamp": "2026-01-15T14:57:50Z", "data": d})),
        )
        .unwrap();
        assert_eq!(e.delivery_key, DeliveryKey("msg_1".into()));
        assert_eq!(e.kind, "jit.requested");
        assert_eq!(e.ticket, Some(TicketRef("T-1".into())));
        assert_eq!(e.company, Some(CompanyRef("42".into())));
        assert_eq!(e.actor, Some(Actor::Email("jane@msp.example".into())));
        assert_eq!(
            e.trigger,
            Trigger::Requested {
                duration_secs: Some(7200)
            }
        );
    }

    #[test]
    fn cancelled_and_other_types() {
        let e = parse(
            "m".into(),
            &body(json!({"type": "jit.cancelled", "data": data()})),
        )
        .unwrap();
        assert_eq!(e.trigger, Trigger::Cancelled);
        let e = parse(
            "m".into(),
            &body(json!({"type": "invoice.paid", "data": 5})),
        )
        .unwrap();
        assert_eq!(e.trigger, Trigger::None);
        assert_eq!(e.ticket, None);
    }

    #[test]
    fn wrong_shapes_name_the_field() {
        let cases = [
            (json!([1]), "the body must be a JSON object"),
            (json!({"data": data()}), "type is missing"),
            (json!({"type": 5}), "type must be a string"),
            (json!({"type": "jit.requested"}), "data is missing"),
            (
                json!({"type": "jit.requested", "data": {"ticket": {"id": 1.5}}}),
                "data.ticket.id must be",
            ),
            (
                json!({"type": "jit.requested", "data": {"ticket": {"id": 1}}}),
                "data.company is missing",
            ),
            (
                json!({"type": "jit.requested", "data": {"ticket": {"id": 1}, "company": {"id": 2}, "technician": {"email": "nobody"}}}),
                "data.technician.email must be an email address",
            ),
        ];
        for (v, expected) in cases {
            let err = parse("m".into(), &body(v.clone())).unwrap_err();
            assert!(err.contains(expected), "{v}: {err}");
        }
        let mut d = data();
        d["duration"] = json!(7200);
        assert!(
            parse(
                "m".into(),
                &body(json!({"type": "jit.requested", "data": d}))
            )
            .unwrap_err()
            .contains("data.duration must be a string")
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(90));
        assert_eq!(parse_duration("15m"), Ok(900));
        assert_eq!(parse_duration("1h30m"), Ok(5400));
        assert_eq!(parse_duration(" 1d "), Ok(86400));
        for bad in [
            "",
            "2",
            "h",
            "2x",
            "0h",
            "-1h",
            "1.5h",
            "99999999999999999999h",
            "400d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn parse_duration_never_panics(text in ".{0,30}", n in 1u64..10_000) {
            let _ = parse_duration(&text);
            proptest::prop_assert_eq!(parse_duration(&format!("{n}m")), Ok(n * 60));
        }

        #[test]
        fn parse_never_panics(body in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = parse("m".into(), &body);
        }
    }
}
