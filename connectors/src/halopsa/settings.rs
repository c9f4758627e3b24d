//! HaloPSA connector settings: the stored JSON, and the validated form the connector runs on.

use super::verify::DeliveryAuth;
use crate::settings::{SecretValues, SettingsError};
use secrecy::ExposeSecret as _;
use serde::Deserialize;

/// Basic-auth passwords Halo sends with each delivery (list: several active while rotating).
pub const PASSWORD_SECRET: &str = "webhook_password";
/// HMAC keys for the `hmac` delivery mode (list).
pub const HMAC_SECRET: &str = "webhook_hmac_secret";
/// The API application's client secret (client-credentials grant).
pub const CLIENT_SECRET: &str = "client_secret";

/// Header carrying the HMAC in `hmac` mode unless configured otherwise. Halo documents no
/// outbound signing at all (https://halopsa.com/guides/article/?kbid=838), so the name is a guess an admin can
/// override; "X-Halo-Signature-256" belongs to the unrelated Halo Connect product.
pub const DEFAULT_HMAC_HEADER: &str = "x-halo-signature";

/// Outcome used for jitgate's internal notes. CIPP falls back to 7, which it calls Halo's built-in
/// "Internal Note" outcome; outcome ids are tenant-configurable (`GET /api/outcome` lists them),
/// so this is a setting.
pub const DEFAULT_NOTE_OUTCOME_ID: u64 = 7;

/// Webhook passwords and HMAC keys shorter than this are refused: they are the only thing that
/// stands between the internet and a JIT admin request.
pub const MIN_WEBHOOK_SECRET_LEN: usize = 16;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    base_url: String,
    #[serde(default)]
    auth_url: Option<String>,
    #[serde(default)]
    tenant: Option<String>,
    client_id: String,
    delivery_auth: RawDeliveryAuth,
    trigger: RawTrigger,
    #[serde(default)]
    note: RawNote,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
enum RawDeliveryAuth {
    Basic {
        username: String,
    },
    Hmac {
        #[serde(default)]
        header: Option<String>,
    },
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrigger {
    #[serde(default)]
    outcome_id: Option<u64>,
    #[serde(default)]
    outcome_name: Option<String>,
    #[serde(default)]
    custom_field_id: Option<u64>,
    #[serde(default)]
    custom_field_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNote {
    #[serde(default)]
    outcome_id: Option<u64>,
}

/// A Halo object named by its numeric id or by its name (compared case-insensitively).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdOrName {
    Id(u64),
    Name(String),
}

impl IdOrName {
    pub fn matches(&self, id: Option<u64>, name: Option<&str>) -> bool {
        match self {
            IdOrName::Id(want) => id == Some(*want),
            IdOrName::Name(want) => name.is_some_and(|n| n.trim().eq_ignore_ascii_case(want)),
        }
    }
}

impl std::fmt::Display for IdOrName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdOrName::Id(id) => write!(f, "id {id}"),
            IdOrName::Name(name) => write!(f, "{name:?}"),
        }
    }
}

/// What makes a delivery a JIT request: an action with this outcome, and/or this ticket custom
/// field set to a true value. At least one is configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerRule {
    pub outcome: Option<IdOrName>,
    pub custom_field: Option<IdOrName>,
}

/// Where the client-credentials token comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthServer {
    /// Configured explicitly.
    At(url::Url),
    /// Ask `GET {base}/api/authinfo`, falling back to `{base}/auth` (Halo's default layout).
    Discover,
}

#[derive(Debug)]
pub struct Settings {
    /// The resource server, e.g. `https://msp.halopsa.com` (the API lives under `/api`).
    pub base: url::Url,
    pub auth_server: AuthServer,
    /// `?tenant=` on the token request, needed by hosted Halo instances.
    pub tenant: Option<String>,
    pub client_id: String,
    pub delivery_auth: DeliveryAuth,
    pub trigger: TriggerRule,
    pub note_outcome_id: u64,
}

impl Settings {
    /// Validate everything at once, so the admin API's 422 lists every problem.
    /// Returns the settings and the client secret.
    pub fn parse(
        settings: &serde_json::Value,
        secrets: &SecretValues,
    ) -> Result<(Settings, crate::Secret), SettingsError> {
        let raw: RawSettings =
            serde_json::from_value(settings.clone()).map_err(|e| SettingsError::from_json(&e))?;
        let mut errors = SettingsError::empty();

        let base = crate::outbound_url::parse(&raw.base_url)
            .and_then(|url| {
                if url.path().trim_end_matches('/').ends_with("/api") {
                    Err("give the server's address without the trailing /api (jitgate appends /api/…)".into())
                } else {
                    Ok(url)
                }
            })
            .map_err(|e| errors.add("settings.base_url", e))
            .ok();

        let auth_server = match raw.auth_url.as_deref().map(str::trim) {
            None | Some("") => AuthServer::Discover,
            Some(url) => match crate::outbound_url::parse(url) {
                Ok(url) => AuthServer::At(url),
                Err(e) => {
                    errors.add("settings.auth_url", e);
                    AuthServer::Discover
                }
            },
        };

        let tenant = match raw.tenant.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(t)
                if t.len() <= 100
                    && t.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) =>
            {
                Some(t.to_string())
            }
            Some(_) => {
                errors.add(
                    "settings.tenant",
                    "must be the Halo tenant name (letters, digits, '-', '_', '.')",
                );
                None
            }
        };

        let client_id = raw.client_id.trim().to_string();
        if client_id.is_empty() || client_id.len() > 200 || client_id.chars().any(char::is_control)
        {
            errors.add(
                "settings.client_id",
                "must be the client id of the Halo API application",
            );
        }

        let delivery_auth = delivery_auth(raw.delivery_auth, secrets, &mut errors);
        let trigger = trigger_rule(raw.trigger, &mut errors);

        let note_outcome_id = raw.note.outcome_id.unwrap_or(DEFAULT_NOTE_OUTCOME_ID);
        if note_outcome_id == 0 {
            errors.add(
                "settings.note.outcome_id",
                "must be a Halo outcome id (GET /api/outcome lists them)",
            );
        }
        // jitgate's own notes are "Action Added" events too: with the trigger outcome they would
        // request again, in a loop.
        if let Some(TriggerRule {
            outcome: Some(IdOrName::Id(trigger)),
            ..
        }) = &trigger
            && *trigger == note_outcome_id
        {
            errors.add(
                "settings.note.outcome_id",
                "must differ from trigger.outcome_id, or jitgate's own notes would request again (a loop)",
            );
        }

        let client_secret = secrets
            .one(CLIENT_SECRET)
            .filter(|s| !s.expose_secret().trim().is_empty())
            .cloned();
        if client_secret.is_none() {
            errors.add(
                format!("secrets.{CLIENT_SECRET}"),
                "the Halo API application's client secret is required",
            );
        }

        errors.into_result()?;
        let settings = Settings {
            base: base.expect("checked above"),
            auth_server,
            tenant,
            client_id,
            delivery_auth: delivery_auth.expect("checked above"),
            trigger: trigger.expect("checked above"),
            note_outcome_id,
        };
        Ok((settings, client_secret.expect("checked above")))
    }
}

fn delivery_auth(
    raw: RawDeliveryAuth,
    secrets: &SecretValues,
    errors: &mut SettingsError,
) -> Option<DeliveryAuth> {
    let (secret_name, values) = match &raw {
        RawDeliveryAuth::Basic { .. } => (PASSWORD_SECRET, secrets.all(PASSWORD_SECRET)),
        RawDeliveryAuth::Hmac { .. } => (HMAC_SECRET, secrets.all(HMAC_SECRET)),
    };
    let mut ok = true;
    if values.is_empty() {
        errors.add(
            format!("secrets.{secret_name}"),
            "at least one value is required for this delivery_auth mode",
        );
        ok = false;
    }
    for (i, value) in values.iter().enumerate() {
        if value.expose_secret().chars().count() < MIN_WEBHOOK_SECRET_LEN {
            errors.add(
                format!("secrets.{secret_name}[{i}]"),
                format!(
                    "must be at least {MIN_WEBHOOK_SECRET_LEN} characters (use a long random value)"
                ),
            );
            ok = false;
        }
    }
    match raw {
        RawDeliveryAuth::Basic { username } => {
            let username = username.trim().to_string();
            // A Basic user name cannot contain ':' (it separates user and password).
            if username.is_empty()
                || username.contains(':')
                || username.chars().any(char::is_control)
            {
                errors.add(
                    "settings.delivery_auth.username",
                    "must be non-empty and must not contain ':'",
                );
                ok = false;
            }
            ok.then(|| DeliveryAuth::Basic {
                username,
                passwords: values.to_vec(),
            })
        }
        RawDeliveryAuth::Hmac { header } => {
            let name = header
                .as_deref()
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .unwrap_or(DEFAULT_HMAC_HEADER);
            let header = match http::HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()) {
                Ok(h) if h != http::header::AUTHORIZATION => Some(h),
                _ => {
                    errors.add(
                        "settings.delivery_auth.header",
                        "must be an HTTP header name such as x-halo-signature",
                    );
                    None
                }
            };
            match (ok, header) {
                (true, Some(header)) => Some(DeliveryAuth::Hmac {
                    header,
                    secrets: values.to_vec(),
                }),
                _ => None,
            }
        }
    }
}

fn trigger_rule(raw: RawTrigger, errors: &mut SettingsError) -> Option<TriggerRule> {
    let mut ok = true;
    let mut one_of = |id: Option<u64>, name: Option<String>, field: &str| -> Option<IdOrName> {
        let name = name.map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
        match (id, name) {
            (Some(_), Some(_)) => {
                errors.add(
                    format!("settings.trigger.{field}_name"),
                    format!("set {field}_id or {field}_name, not both"),
                );
                ok = false;
                None
            }
            (Some(0), None) => {
                errors.add(
                    format!("settings.trigger.{field}_id"),
                    "Halo ids start at 1",
                );
                ok = false;
                None
            }
            (Some(id), None) => Some(IdOrName::Id(id)),
            (None, Some(name)) => Some(IdOrName::Name(name)),
            (None, None) => None,
        }
    };
    let outcome = one_of(raw.outcome_id, raw.outcome_name, "outcome");
    let custom_field = one_of(raw.custom_field_id, raw.custom_field_name, "custom_field");
    if ok && outcome.is_none() && custom_field.is_none() {
        errors.add(
            "settings.trigger",
            "configure an action outcome (outcome_id or outcome_name) and/or a ticket custom field (custom_field_id or custom_field_name)",
        );
        ok = false;
    }
    ok.then_some(TriggerRule {
        outcome,
        custom_field,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Secret;
    use serde_json::json;

    fn secrets(pairs: &[(&str, &[&str])]) -> SecretValues {
        let mut s = SecretValues::default();
        for (name, values) in pairs {
            s.0.insert(
                (*name).into(),
                values.iter().map(|v| Secret::from(*v)).collect(),
            );
        }
        s
    }

    fn full() -> serde_json::Value {
        json!({
            "base_url": "https://msp.halopsa.com/",
            "tenant": "msp",
            "client_id": "abc",
            "delivery_auth": {"mode": "basic", "username": "jitgate"},
            "trigger": {"outcome_name": "Request JIT"},
        })
    }

    #[test]
    fn a_complete_basic_configuration() {
        let (s, _) = Settings::parse(
            &full(),
            &secrets(&[
                (PASSWORD_SECRET, &["0123456789abcdef"]),
                (CLIENT_SECRET, &["cs"]),
            ]),
        )
        .unwrap();
        assert_eq!(s.base.as_str(), "https://msp.halopsa.com/");
        assert_eq!(s.auth_server, AuthServer::Discover);
        assert_eq!(s.note_outcome_id, 7);
        assert_eq!(
            s.trigger.outcome,
            Some(IdOrName::Name("Request JIT".into()))
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = Settings::parse(
            &json!({
                "base_url": "http://msp.halopsa.com/api",
                "auth_url": "ftp://x",
                "tenant": "a b",
                "client_id": " ",
                "delivery_auth": {"mode": "hmac", "header": "bad header"},
                "trigger": {"outcome_id": 3, "outcome_name": "x"},
                "note": {"outcome_id": 0},
            }),
            &secrets(&[(HMAC_SECRET, &["short"])]),
        )
        .unwrap_err();
        for field in [
            "settings.base_url",
            "settings.auth_url",
            "settings.tenant",
            "settings.client_id",
            "settings.delivery_auth.header",
            "settings.trigger.outcome_name",
            "settings.note.outcome_id",
            "secrets.webhook_hmac_secret[0]",
            "secrets.client_secret",
        ] {
            assert!(
                err.fields.contains_key(field),
                "{field} missing from {:?}",
                err.fields
            );
        }
        // No message quotes a secret.
        assert!(!format!("{:?}", err.fields).contains("short"));
    }

    #[test]
    fn unknown_fields_and_missing_triggers_are_refused() {
        let mut v = full();
        v["tenent"] = json!("x");
        let err = Settings::parse(&v, &SecretValues::default()).unwrap_err();
        assert!(
            err.fields["settings.tenent"].contains("unknown field"),
            "{:?}",
            err.fields
        );

        let mut v = full();
        v["trigger"] = json!({});
        let err = Settings::parse(
            &v,
            &secrets(&[
                (PASSWORD_SECRET, &["0123456789abcdef"]),
                (CLIENT_SECRET, &["x"]),
            ]),
        )
        .unwrap_err();
        assert!(err.fields.contains_key("settings.trigger"));

        let mut v = full();
        v["delivery_auth"] = json!({"mode": "basic", "username": "a", "header": "x"});
        assert!(Settings::parse(&v, &SecretValues::default()).is_err());
    }

    #[test]
    fn the_note_outcome_cannot_be_the_trigger_outcome() {
        let mut v = full();
        v["trigger"] = json!({"outcome_id": 7});
        let s = secrets(&[
            (PASSWORD_SECRET, &["0123456789abcdef"]),
            (CLIENT_SECRET, &["x"]),
        ]);
        let err = Settings::parse(&v, &s).unwrap_err();
        assert!(err.fields["settings.note.outcome_id"].contains("loop"));
    }

    #[test]
    fn basic_needs_a_password_and_a_clean_username() {
        let mut v = full();
        v["delivery_auth"] = json!({"mode": "basic", "username": "a:b"});
        let err = Settings::parse(&v, &secrets(&[(CLIENT_SECRET, &["x"])])).unwrap_err();
        assert!(err.fields.contains_key("settings.delivery_auth.username"));
        assert!(err.fields.contains_key("secrets.webhook_password"));
    }
}
