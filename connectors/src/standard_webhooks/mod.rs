//! Standard Webhooks (<https://www.standardwebhooks.com>): the generic connector for Rewst, n8n,
//! Power Automate and home-grown tools.
//!
//! A sender signs `jit.requested` / `jit.cancelled` events with a `whsec_` secret; the event names
//! the ticket, the PSA company and the technician's email itself, so this connector never calls
//! back for lookups. Notes go back only if `note_url` is configured, as signed `jit.note` events.
//! The event schemas are documented for senders in `connectors/STANDARD_WEBHOOKS.md`.

mod event;
pub mod setup;
pub mod signature;

pub use event::{CANCELLED, NOTE, REQUESTED, parse_duration};
pub use signature::{InvalidSecret, SigningSecret, Verified, sign, signed_headers, verify};

use crate::settings::{ConnectorKind, SecretValues, SettingsError};
use crate::{
    BoxFuture, CompanyRef, Connector, Delivery, Event, Note, PsaError, ReceiveError, TicketRef,
};
use secrecy::ExposeSecret as _;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// Name of the list secret holding the active `whsec_` secrets, newest first.
pub const SECRET_NAME: &str = "webhook_secret";

/// How long jitgate waits for a note receiver.
const NOTE_TIMEOUT: Duration = Duration::from_secs(20);

/// Settings as stored: `{"note_url": "https://…"}` or `{}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    #[serde(default)]
    note_url: Option<String>,
}

pub struct StandardWebhooks {
    /// Active secrets, newest first: deliveries may be signed with any; notes use the first.
    secrets: Vec<SigningSecret>,
    note_url: Option<url::Url>,
    http: reqwest::Client,
}

impl StandardWebhooks {
    /// Validate settings and secrets; every problem is reported with its field path.
    pub fn build(
        settings: &serde_json::Value,
        secrets: &SecretValues,
        http: reqwest::Client,
    ) -> Result<Self, SettingsError> {
        let raw: RawSettings = if settings.is_null() {
            RawSettings::default()
        } else {
            serde_json::from_value(settings.clone()).map_err(|e| SettingsError::from_json(&e))?
        };
        let mut errors = SettingsError::empty();

        let note_url = match raw.note_url.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw_url) => match crate::outbound_url::parse(raw_url) {
                Ok(url) => Some(url),
                Err(e) => {
                    errors.add("settings.note_url", e);
                    None
                }
            },
        };

        let path = format!("secrets.{SECRET_NAME}");
        let mut parsed = Vec::new();
        if secrets.all(SECRET_NAME).is_empty() {
            errors.add(&path, "at least one whsec_ secret is required");
        }
        for (i, secret) in secrets.all(SECRET_NAME).iter().enumerate() {
            match SigningSecret::parse(secret.expose_secret()) {
                Ok(s) => parsed.push(s),
                Err(e) => errors.add(format!("{path}[{i}]"), e.to_string()),
            }
        }
        errors.into_result()?;
        Ok(StandardWebhooks {
            secrets: parsed,
            note_url,
            http,
        })
    }

    fn receive_now(&self, delivery: Delivery<'_>) -> Result<Event, ReceiveError> {
        let now = delivery.received_at.unix_timestamp();
        let verified = verify(&self.secrets, delivery.headers, delivery.body, now)
            .map_err(ReceiveError::Unauthorized)?;
        event::parse(verified.id, delivery.body).map_err(ReceiveError::Malformed)
    }

    async fn send_note(
        &self,
        url: &url::Url,
        ticket: &TicketRef,
        note: &Note,
    ) -> Result<(), PsaError> {
        let now = time::OffsetDateTime::now_utc();
        let body = serde_json::to_vec(&serde_json::json!({
            "type": NOTE,
            "timestamp": now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            "data": {"ticket": {"id": ticket.0}, "title": note.title, "body": note.body},
        }))
        .expect("a JSON value always serializes");
        let id = note_message_id(ticket, note);
        let secret = self.secrets.first().ok_or_else(|| {
            PsaError::NotConfigured("no webhook secret to sign notes with".into())
        })?;
        let request = self
            .http
            .post(url.as_str())
            .timeout(NOTE_TIMEOUT)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(signature::ID_HEADER, &id)
            .header(signature::TIMESTAMP_HEADER, now.unix_timestamp())
            .header(
                signature::SIGNATURE_HEADER,
                secret.sign(&id, now.unix_timestamp(), &body),
            )
            .body(body);
        crate::psa_http::send(request, readable_error)
            .await
            .map(drop)
    }
}

/// `webhook-id` of a note: derived from the ticket and the note's text, so a note job that runs
/// twice (jobs are at-least-once) sends the same id and a receiver that dedupes on it, as the
/// spec recommends, posts the note once. Different notes (new link, new expiry) get new ids.
fn note_message_id(ticket: &TicketRef, note: &Note) -> String {
    let mut hash = Sha256::new();
    for part in [ticket.0.as_str(), note.title.as_str(), note.body.as_str()] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    let digest = hash.finalize();
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("msg_{hex}")
}

/// A note receiver's error body: a JSON `message`/`error` if there is one, else the text.
fn readable_error(body: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    ["message", "error", "detail"]
        .iter()
        .find_map(|k| value.get(k).and_then(|v| v.as_str()).map(str::to_string))
}

impl Connector for StandardWebhooks {
    fn kind(&self) -> ConnectorKind {
        ConnectorKind::StandardWebhooks
    }

    fn receive<'a>(&'a self, delivery: Delivery<'a>) -> BoxFuture<'a, Result<Event, ReceiveError>> {
        Box::pin(async move { self.receive_now(delivery) })
    }

    fn post_note<'a>(
        &'a self,
        ticket: &'a TicketRef,
        note: &'a Note,
    ) -> BoxFuture<'a, Result<(), PsaError>> {
        Box::pin(async move {
            match &self.note_url {
                Some(url) => self.send_note(url, ticket, note).await,
                None => {
                    // The sender asked for no notes (its flow updates the ticket itself).
                    tracing::debug!(ticket = %ticket.0, "standard_webhooks: no note_url configured; note not sent");
                    Ok(())
                }
            }
        })
    }

    fn ticket_company<'a>(
        &'a self,
        _ticket: &'a TicketRef,
    ) -> BoxFuture<'a, Result<CompanyRef, PsaError>> {
        Box::pin(async {
            Err(PsaError::NotConfigured(
                "Standard Webhooks events carry data.company.id; there is no PSA API to look it up"
                    .into(),
            ))
        })
    }

    fn actor_email<'a>(&'a self, _actor_id: &'a str) -> BoxFuture<'a, Result<String, PsaError>> {
        Box::pin(async {
            Err(PsaError::NotConfigured(
                "Standard Webhooks events carry data.technician.email; there is no PSA API to look it up".into(),
            ))
        })
    }

    fn reset_trigger<'a>(&'a self, _ticket: &'a TicketRef) -> BoxFuture<'a, Result<(), PsaError>> {
        // `jit.requested` is an event, not a field that stays set: nothing to reset.
        Box::pin(async { Ok(()) })
    }

    fn check<'a>(&'a self, _webhook_url: &'a str) -> BoxFuture<'a, Vec<crate::Check>> {
        let checks = setup::check(self.secrets.len(), self.note_url.as_ref());
        Box::pin(std::future::ready(checks))
    }

    fn register<'a>(
        &'a self,
        webhook_url: &'a str,
    ) -> BoxFuture<'a, Result<crate::RegisterOutcome, PsaError>> {
        Box::pin(std::future::ready(Ok(setup::register(webhook_url))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Secret;
    use serde_json::json;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn secrets(values: &[&str]) -> SecretValues {
        let mut s = SecretValues::default();
        s.0.insert(
            SECRET_NAME.into(),
            values.iter().map(|v| Secret::from(*v)).collect(),
        );
        s
    }

    fn client() -> reqwest::Client {
        // reqwest is built without a default TLS provider; the app installs ring at startup.
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::new()
    }

    #[test]
    fn settings_errors_name_their_fields() {
        let err = StandardWebhooks::build(
            &json!({"note_url": "http://relay.example"}),
            &secrets(&["nope", SECRET]),
            client(),
        )
        .err()
        .unwrap();
        assert!(err.fields["settings.note_url"].contains("https"));
        assert!(err.fields["secrets.webhook_secret[0]"].contains("whsec_"));
        assert!(!err.fields.contains_key("secrets.webhook_secret[1]"));

        let err = StandardWebhooks::build(&json!({"noteurl": "x"}), &secrets(&[SECRET]), client())
            .err()
            .unwrap();
        assert!(err.fields["settings.noteurl"].contains("unknown field"));

        let err = StandardWebhooks::build(&json!({}), &SecretValues::default(), client())
            .err()
            .unwrap();
        assert!(err.fields.contains_key("secrets.webhook_secret"));

        assert!(
            StandardWebhooks::build(&serde_json::Value::Null, &secrets(&[SECRET]), client())
                .is_ok()
        );
    }

    #[test]
    fn note_ids_are_stable_and_distinct() {
        let t = TicketRef("1".into());
        let a = Note {
            title: "JIT".into(),
            body: "link a".into(),
        };
        let b = Note {
            title: "JIT".into(),
            body: "link b".into(),
        };
        assert_eq!(note_message_id(&t, &a), note_message_id(&t, &a));
        assert_ne!(note_message_id(&t, &a), note_message_id(&t, &b));
        assert!(!note_message_id(&t, &a).contains('.'));
    }
}
