//! HaloPSA: webhook deliveries (Basic credentials or an HMAC header), "Action Added" /
//! ticket events with a trigger outcome or custom field, and the Halo API for notes and lookups.
//! Vendor facts and their uncertainties are stated where they are used, with their sources
//! (Halo's webhook guide: https://halopsa.com/guides/article/?kbid=838).

mod client;
mod note_html;
mod payload;
mod reset;
pub mod settings;
pub mod setup;
mod verify;

pub use client::readable_error;
pub use note_html::render as render_note_html;
pub use payload::is_true;
pub use settings::{
    AuthServer, CLIENT_SECRET, DEFAULT_HMAC_HEADER, DEFAULT_NOTE_OUTCOME_ID, HMAC_SECRET, IdOrName,
    PASSWORD_SECRET, TriggerRule,
};
pub use verify::{DeliveryAuth, parse_digest};

use crate::settings::{ConnectorKind, SecretValues, SettingsError};
use crate::{
    BoxFuture, CompanyRef, Connector, Delivery, Event, Note, PsaError, ReceiveError, TicketRef,
};
use client::HaloClient;
use serde_json::Value;
use std::sync::Mutex;

pub struct HaloPsa {
    base: url::Url,
    delivery_auth: DeliveryAuth,
    trigger: TriggerRule,
    note_outcome_id: u64,
    client: HaloClient,
    /// The trigger custom field's id, when the rule names the field by name and a delivery or a
    /// ticket lookup has shown which id that name has.
    learned_field_id: Mutex<Option<u64>>,
}

impl HaloPsa {
    pub fn build(
        settings: &Value,
        secrets: &SecretValues,
        http: reqwest::Client,
    ) -> Result<Self, SettingsError> {
        let (s, client_secret) = settings::Settings::parse(settings, secrets)?;
        Ok(HaloPsa {
            base: s.base.clone(),
            client: HaloClient::new(
                http,
                s.base,
                s.auth_server,
                s.tenant,
                s.client_id,
                client_secret,
            ),
            delivery_auth: s.delivery_auth,
            trigger: s.trigger,
            note_outcome_id: s.note_outcome_id,
            learned_field_id: Mutex::new(None),
        })
    }

    fn receive_now(&self, delivery: Delivery<'_>) -> Result<Event, ReceiveError> {
        self.delivery_auth
            .verify(delivery.headers, delivery.body)
            .map_err(ReceiveError::Unauthorized)?;
        let parsed =
            payload::parse(delivery.body, &self.trigger).map_err(ReceiveError::Malformed)?;
        if let Some(id) = parsed.trigger_field_id {
            *self
                .learned_field_id
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some(id);
        }
        Ok(parsed.event)
    }

    fn learned_field_id(&self) -> Option<u64> {
        *self
            .learned_field_id
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Set the trigger custom field back to "not requested" (the `reset` module explains the
    /// form sent). The ticket is read first: a field already unset needs no write, and a field
    /// the rule names is resolved to its id there.
    async fn reset_custom_field(
        &self,
        ticket_id: u64,
        selector: &IdOrName,
    ) -> Result<(), PsaError> {
        let ticket = self.client.ticket(ticket_id).await?;
        let Some(field) = reset::find_field(&ticket, selector, self.learned_field_id()) else {
            return match selector {
                IdOrName::Name(name) => Err(PsaError::NotConfigured(format!(
                    "ticket {ticket_id} has no custom field named {name:?}; set trigger.custom_field_id"
                ))),
                // Halo lists the fields of the ticket's type; one without the field cannot
                // have requested through it.
                IdOrName::Id(id) => {
                    tracing::debug!(
                        ticket_id,
                        field_id = id,
                        "trigger custom field not on the ticket; nothing to reset"
                    );
                    Ok(())
                }
            };
        };
        let Some(field_id) = reset::field_id(field) else {
            // Not transient: the same ticket document comes back on a retry.
            return Err(PsaError::Rejected {
                status: 200,
                message: format!(
                    "ticket {ticket_id} lists the trigger custom field without a numeric id"
                ),
            });
        };
        if matches!(selector, IdOrName::Name(_)) {
            *self
                .learned_field_id
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some(field_id);
        }
        match reset::unset_value(field.get("value").unwrap_or(&Value::Null)) {
            None => Ok(()),
            Some(value) => {
                self.client
                    .set_custom_field(ticket_id, field_id, value)
                    .await
            }
        }
    }
}

/// Halo ticket and agent ids are positive integers; anything else cannot exist in Halo.
fn numeric_id(what: &str, id: &str) -> Result<u64, PsaError> {
    match id.trim().parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(PsaError::NotFound(format!(
            "HaloPSA {what} ids are positive integers; got {:?}",
            crate::json_fields::clip(id, 40)
        ))),
    }
}

/// A positive integer id written as a number or a digit string.
fn id_field(value: &Value, key: &str) -> Option<u64> {
    let v = value.get(key)?;
    v.as_u64()
        .or_else(|| v.as_str()?.trim().parse().ok())
        .filter(|&n| n > 0)
}

impl Connector for HaloPsa {
    fn kind(&self) -> ConnectorKind {
        ConnectorKind::Halopsa
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
            let ticket_id = numeric_id("ticket", &ticket.0)?;
            self.client
                .add_action(ticket_id, self.note_outcome_id, &note_html::render(note))
                .await
        })
    }

    fn ticket_company<'a>(
        &'a self,
        ticket: &'a TicketRef,
    ) -> BoxFuture<'a, Result<CompanyRef, PsaError>> {
        Box::pin(async move {
            let ticket_id = numeric_id("ticket", &ticket.0)?;
            let body = self.client.ticket(ticket_id).await?;
            id_field(&body, "client_id")
                .map(|id| CompanyRef(id.to_string()))
                .ok_or_else(|| PsaError::NotFound(format!("ticket {ticket_id} has no client_id")))
        })
    }

    fn actor_email<'a>(&'a self, actor_id: &'a str) -> BoxFuture<'a, Result<String, PsaError>> {
        Box::pin(async move {
            let agent_id = numeric_id("agent", actor_id)?;
            let agent = self.client.agent(agent_id).await?;
            // Uncertain vendor fact (no Halo API reference is public): list responses show
            // `email`, agent creation uses `emailaddress` (homotechsual/HaloAPI's agent
            // commands); whichever is a non-empty string is taken.
            ["email", "emailaddress"]
                .iter()
                .find_map(|k| {
                    agent
                        .get(*k)
                        .and_then(Value::as_str)
                        .map(str::trim)
                        .filter(|e| e.contains('@'))
                })
                .map(str::to_string)
                .ok_or_else(|| {
                    PsaError::NotFound(format!("Halo agent {agent_id} has no email address"))
                })
        })
    }

    fn company_name<'a>(
        &'a self,
        company: &'a CompanyRef,
    ) -> BoxFuture<'a, Result<String, PsaError>> {
        Box::pin(async move {
            let client_id = numeric_id("client", &company.0)?;
            let client = self.client.client(client_id).await?;
            client
                .get("name")
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_string)
                .ok_or_else(|| PsaError::NotFound(format!("Halo client {client_id} has no name")))
        })
    }

    /// A custom field stays true on every later "Ticket Updated"/"Action Added" delivery (each
    /// with a new delivery id) until `reset_trigger` clears it, so the app must latch the ticket;
    /// an outcome-only rule is event-like.
    fn level_triggered(&self) -> bool {
        self.trigger.custom_field.is_some()
    }

    fn reset_trigger<'a>(&'a self, ticket: &'a TicketRef) -> BoxFuture<'a, Result<(), PsaError>> {
        Box::pin(async move {
            let ticket_id = numeric_id("ticket", &ticket.0)?;
            match &self.trigger.custom_field {
                // Outcome-only rule: an action is an event by nature, nothing stays set.
                None => Ok(()),
                Some(selector) => self.reset_custom_field(ticket_id, selector).await,
            }
        })
    }

    fn check<'a>(&'a self, _webhook_url: &'a str) -> BoxFuture<'a, Vec<crate::Check>> {
        Box::pin(async move { self.setup().check().await })
    }

    fn register<'a>(
        &'a self,
        webhook_url: &'a str,
    ) -> BoxFuture<'a, Result<crate::RegisterOutcome, PsaError>> {
        Box::pin(async move { Ok(self.setup().register(webhook_url)) })
    }
}

impl HaloPsa {
    fn setup(&self) -> setup::Setup<'_> {
        setup::Setup::new(
            &self.client,
            &self.base,
            &self.trigger,
            self.note_outcome_id,
            &self.delivery_auth,
        )
    }
}
