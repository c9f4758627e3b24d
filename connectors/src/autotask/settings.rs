//! Autotask connector settings: what the admin API accepts and what it becomes.
//!
//! Example (every field is documented in `config/examples/autotask.jsonc`):
//! ```json
//! {"username": "jitgate-api@contoso.com", "integration_code": "ABCDEFGHIJKLMNOP",
//!  "trigger": {"udf": "Request JIT"}}
//! ```

use crate::field_errors::{self, FieldErrors};
use crate::flag_value::default_true_values;
use crate::{Secret, SecretValues, SettingsError};
use secrecy::ExposeSecret as _;
use serde::Deserialize;
use url::Url;

/// Where `zoneInformation` is asked when no zone URL is configured; it needs no credentials
/// (https://ww1.autotask.net/help/DeveloperHelp/Content/APIs/SOAP/APICalls/GetZoneInfoCall.htm).
pub const DEFAULT_ZONE_LOOKUP_URL: &str = "https://webservices.autotask.net/atservicesrest";
/// The publish value a jitgate note must have: never visible to customers.
pub const DEFAULT_PUBLISH_LABEL: &str = "Internal Only";
/// Autotask's SecretKey is at most 64 characters
/// (https://ww1.autotask.net/help/DeveloperHelp/Content/APIs/Webhooks/REST_WebhooksEntity.htm).
const MAX_WEBHOOK_SECRET: usize = 64;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    username: String,
    integration_code: String,
    #[serde(default)]
    zone_url: Option<String>,
    #[serde(default)]
    zone_lookup_url: Option<String>,
    trigger: RawTrigger,
    #[serde(default)]
    notes: RawNotes,
    #[serde(default = "default_true")]
    accept_escaped_signature: bool,
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrigger {
    #[serde(default)]
    udf: Option<String>,
    #[serde(default)]
    status: Option<StatusValue>,
    #[serde(default)]
    true_values: Option<Vec<String>>,
    #[serde(default)]
    reset_value: Option<String>,
}

/// Autotask sends the ticket status as its picklist value (`"8"` or `8`), not its label.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum StatusValue {
    Number(u64),
    Text(String),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotes {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    publish_label: Option<String>,
    #[serde(default)]
    note_type_label: Option<String>,
}

/// The trigger rule: a ticket UDF holding a "true" value and/or a ticket status value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerRule {
    pub udf: Option<String>,
    pub status: Option<String>,
    /// UDF texts that mean "requested" (case-insensitive).
    pub true_values: Vec<String>,
    /// What the UDF is set to once a request is consumed.
    pub reset_value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteOptions {
    /// A fixed note title; `None` uses the title jitgate gives each note.
    pub title: Option<String>,
    /// Label of the `publish` picklist value to use (read from the API, never hard-coded).
    pub publish_label: String,
    /// Label of the `noteType` picklist value; `None` takes the picklist's default.
    pub note_type_label: Option<String>,
}

/// Where the REST API lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Zone {
    /// Configured: `https://webservices5.autotask.net/ATServicesRest` (no trailing slash).
    Fixed(String),
    /// Asked from `{lookup}/v1.0/zoneInformation?user=…` on first use.
    Lookup(String),
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub username: String,
    pub integration_code: String,
    pub api_secret: Secret,
    pub webhook_secrets: Vec<Secret>,
    pub zone: Zone,
    pub trigger: TriggerRule,
    pub notes: NoteOptions,
    /// Also accept a signature computed over the .NET-escaped form of the body (see
    /// `signature.rs`); on until a real capture shows which bytes Autotask signs.
    pub accept_escaped_signature: bool,
}

impl Settings {
    pub fn parse(
        settings: &serde_json::Value,
        secrets: &SecretValues,
    ) -> Result<Settings, SettingsError> {
        let raw: RawSettings =
            serde_json::from_value(settings.clone()).map_err(|e| field_errors::from_serde(&e))?;
        let mut errors = FieldErrors::default();

        let username = errors.check("settings.username", parse_username(&raw.username));
        let integration_code = errors.check(
            "settings.integration_code",
            parse_integration_code(&raw.integration_code),
        );
        let zone = match (raw.zone_url, raw.zone_lookup_url) {
            (Some(_), Some(_)) => {
                errors.add(
                    "settings.zone_lookup_url",
                    "set either zone_url or zone_lookup_url, not both",
                );
                None
            }
            (Some(url), None) => errors
                .check("settings.zone_url", api_url(&url))
                .map(Zone::Fixed),
            (None, Some(url)) => errors
                .check("settings.zone_lookup_url", api_url(&url))
                .map(Zone::Lookup),
            (None, None) => Some(Zone::Lookup(DEFAULT_ZONE_LOOKUP_URL.to_string())),
        };
        let trigger = parse_trigger(raw.trigger, &mut errors);
        let notes = parse_notes(raw.notes, &mut errors);

        let api_secret = match secrets.one("api_secret") {
            // It travels as the `Secret` header: printable ASCII only.
            Some(s) if !s.expose_secret().is_empty() && !is_header_safe(s.expose_secret()) => {
                errors.add(
                    "secrets.api_secret",
                    "must be printable ASCII (it is sent as an HTTP header)",
                );
                None
            }
            Some(s) if !s.expose_secret().is_empty() => Some(s.clone()),
            _ => {
                errors.add("secrets.api_secret", "required: the API user's secret");
                None
            }
        };
        let webhook_secrets = secrets.all("webhook_secret").to_vec();
        if webhook_secrets.is_empty() {
            errors.add(
                "secrets.webhook_secret",
                "required: the webhook's SecretKey (one or more while rotating)",
            );
        } else if webhook_secrets.iter().any(|s| s.expose_secret().is_empty()) {
            errors.add("secrets.webhook_secret", "must not be empty");
        } else if webhook_secrets
            .iter()
            .any(|s| s.expose_secret().chars().count() > MAX_WEBHOOK_SECRET)
        {
            errors.add(
                "secrets.webhook_secret",
                "Autotask webhook secret keys are at most 64 characters",
            );
        }

        errors.finish(|| Settings {
            username: username.expect("checked"),
            integration_code: integration_code.expect("checked"),
            api_secret: api_secret.expect("checked"),
            webhook_secrets,
            zone: zone.expect("checked"),
            trigger: trigger.expect("checked"),
            notes: notes.expect("checked"),
            accept_escaped_signature: raw.accept_escaped_signature,
        })
    }
}

fn is_header_safe(value: &str) -> bool {
    value.bytes().all(|b| (0x20..0x7f).contains(&b))
}

fn parse_username(raw: &str) -> Result<String, String> {
    let value = field_errors::text(raw, 128)?;
    if value.contains(char::is_whitespace) || !is_header_safe(&value) {
        return Err("must be the API user's user name (an email-style name without spaces)".into());
    }
    Ok(value)
}

fn parse_integration_code(raw: &str) -> Result<String, String> {
    let value = field_errors::text(raw, 64)?;
    if !value.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err("must be the API tracking identifier (letters and digits)".into());
    }
    Ok(value)
}

/// An Autotask API base: `https` (plain `http` only for a loopback host: tests, a local relay),
/// no credentials, query or fragment; returned without a trailing slash.
pub(crate) fn api_url(raw: &str) -> Result<String, String> {
    let url = Url::parse(raw.trim()).map_err(|e| format!("not an absolute URL: {e}"))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err("must name a host".into()),
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err("must use https".into()),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain credentials".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query string or fragment".into());
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

fn parse_trigger(raw: RawTrigger, errors: &mut FieldErrors) -> Option<TriggerRule> {
    let udf = match raw.udf {
        Some(u) => errors
            .check("settings.trigger.udf", field_errors::text(&u, 100))
            .map(Some),
        None => Some(None),
    };
    let status = match raw.status {
        Some(StatusValue::Number(n)) => Some(Some(n.to_string())),
        Some(StatusValue::Text(t)) => errors
            .check("settings.trigger.status", field_errors::text(&t, 32))
            .map(Some),
        None => Some(None),
    };
    let true_values = match raw.true_values {
        None => Some(default_true_values()),
        Some(values) if values.is_empty() || values.iter().any(|v| v.trim().is_empty()) => {
            errors.add(
                "settings.trigger.true_values",
                "must list at least one non-empty value",
            );
            None
        }
        Some(values) => Some(values.into_iter().map(|v| v.trim().to_string()).collect()),
    };
    let reset_value = raw.reset_value.unwrap_or_else(|| "false".to_string());
    let (udf, status, true_values) = (udf?, status?, true_values?);
    if true_values
        .iter()
        .any(|t| t.eq_ignore_ascii_case(reset_value.trim()))
    {
        errors.add(
            "settings.trigger.reset_value",
            "must not be one of true_values, or resetting would request again",
        );
        return None;
    }
    if udf.is_none() && status.is_none() {
        errors.add(
            "settings.trigger",
            "set udf (a ticket UDF name) and/or status (a ticket status value)",
        );
        return None;
    }
    Some(TriggerRule {
        udf,
        status,
        true_values,
        reset_value,
    })
}

fn parse_notes(raw: RawNotes, errors: &mut FieldErrors) -> Option<NoteOptions> {
    let title = match raw.title {
        Some(t) => errors
            .check("settings.notes.title", field_errors::text(&t, 250))
            .map(Some),
        None => Some(None),
    };
    let publish_label = match raw.publish_label {
        Some(p) => errors.check("settings.notes.publish_label", field_errors::text(&p, 100)),
        None => Some(DEFAULT_PUBLISH_LABEL.to_string()),
    };
    let note_type_label = match raw.note_type_label {
        Some(n) => errors
            .check(
                "settings.notes.note_type_label",
                field_errors::text(&n, 100),
            )
            .map(Some),
        None => Some(None),
    };
    Some(NoteOptions {
        title: title?,
        publish_label: publish_label?,
        note_type_label: note_type_label?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secrets() -> SecretValues {
        let mut s = SecretValues::default();
        s.0.insert("api_secret".into(), vec![Secret::from("api")]);
        s.0.insert(
            "webhook_secret".into(),
            vec![Secret::from("new-secret-1"), Secret::from("old-secret-0")],
        );
        s
    }

    fn minimal() -> serde_json::Value {
        json!({"username": "jitgate-api@contoso.com", "integration_code": "ABC123", "trigger": {"udf": "Request JIT"}})
    }

    #[test]
    fn defaults() {
        let s = Settings::parse(&minimal(), &secrets()).unwrap();
        assert_eq!(s.zone, Zone::Lookup(DEFAULT_ZONE_LOOKUP_URL.into()));
        assert_eq!(s.trigger.reset_value, "false");
        assert_eq!(s.notes.publish_label, "Internal Only");
        assert!(s.accept_escaped_signature);
        assert_eq!(s.webhook_secrets.len(), 2);
    }

    #[test]
    fn zone_and_status() {
        let mut v = minimal();
        v["zone_url"] = json!("https://webservices5.autotask.net/ATServicesRest/");
        v["trigger"] = json!({"status": 17});
        let s = Settings::parse(&v, &secrets()).unwrap();
        assert_eq!(
            s.zone,
            Zone::Fixed("https://webservices5.autotask.net/ATServicesRest".into())
        );
        assert_eq!(s.trigger.status.as_deref(), Some("17"));
        let mut v = minimal();
        v["zone_lookup_url"] = json!("http://127.0.0.1:9000/atservicesrest");
        assert_eq!(
            Settings::parse(&v, &secrets()).unwrap().zone,
            Zone::Lookup("http://127.0.0.1:9000/atservicesrest".into())
        );
    }

    #[test]
    fn every_bad_field_is_reported() {
        let v = json!({
            "username": "has space",
            "integration_code": "no-dashes",
            "zone_url": "http://webservices5.autotask.net/",
            "trigger": {"true_values": ["yes"], "reset_value": "YES"},
            "notes": {"title": ""}
        });
        let err = Settings::parse(&v, &SecretValues::default()).unwrap_err();
        for field in [
            "settings.username",
            "settings.integration_code",
            "settings.zone_url",
            "settings.trigger.reset_value",
            "settings.notes.title",
            "secrets.api_secret",
            "secrets.webhook_secret",
        ] {
            assert!(err.fields.contains_key(field), "{field} missing in {err:?}");
        }
        let err = Settings::parse(
            &json!({"username": "u", "integration_code": "C", "trigger": {}}),
            &secrets(),
        )
        .unwrap_err();
        assert!(err.fields.contains_key("settings.trigger"));
    }

    #[test]
    fn long_webhook_secrets_and_unknown_fields_are_refused() {
        let mut s = secrets();
        s.0.insert("api_secret".into(), vec![Secret::from("sécret")]);
        assert!(
            Settings::parse(&minimal(), &s)
                .unwrap_err()
                .fields
                .contains_key("secrets.api_secret")
        );
        s.0.insert("webhook_secret".into(), vec![Secret::from("x".repeat(65))]);
        assert!(
            Settings::parse(&minimal(), &s)
                .unwrap_err()
                .fields
                .contains_key("secrets.webhook_secret")
        );
        let mut v = minimal();
        v["secret"] = json!("oops");
        assert!(
            Settings::parse(&v, &secrets())
                .unwrap_err()
                .fields
                .contains_key("settings.secret")
        );
    }
}
