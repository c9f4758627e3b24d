//! Autotask (Datto/Kaseya PSA): ticket webhooks signed with `X-Hook-Signature` (HMAC-SHA1),
//! and the REST API for notes, lookups and the trigger reset.
//!
//! Setup on the Autotask side (see `config/examples/autotask.jsonc`): a TicketWebhook with a
//! SecretKey, the "Request JIT" UDF subscribed, `CompanyID` display-always, and jitgate's own
//! API user in `ExcludedResources` so its notes and resets do not echo back as events.

pub mod api;
pub mod payload;
pub mod settings;
pub mod setup;
pub mod signature;

use crate::{
    BoxFuture, CompanyRef, Connector, ConnectorKind, Delivery, Event, Note, PsaError, ReceiveError,
    SecretValues, SettingsError, TicketRef,
};
use api::{Api, EntityId, UdfLabels};
use secrecy::ExposeSecret as _;
use settings::Settings;
use signature::{HookSignature, SignedForm};
use std::sync::Arc;

pub struct Autotask {
    settings: Settings,
    api: Api,
}

pub fn build(
    settings: &serde_json::Value,
    secrets: SecretValues,
    http: reqwest::Client,
) -> Result<Arc<dyn Connector>, SettingsError> {
    Ok(Arc::new(Autotask::new(settings, &secrets, http)?))
}

impl Autotask {
    pub fn new(
        settings: &serde_json::Value,
        secrets: &SecretValues,
        http: reqwest::Client,
    ) -> Result<Self, SettingsError> {
        let settings = Settings::parse(settings, secrets)?;
        let api = Api::new(&settings, http);
        Ok(Autotask { settings, api })
    }

    fn verify_and_parse(&self, delivery: Delivery<'_>) -> Result<Event, ReceiveError> {
        let signature =
            HookSignature::from_headers(delivery.headers).map_err(ReceiveError::Unauthorized)?;
        let secrets = self
            .settings
            .webhook_secrets
            .iter()
            .map(|s| s.expose_secret().as_bytes());
        let form = signature
            .verify(
                secrets,
                delivery.body,
                self.settings.accept_escaped_signature,
            )
            .ok_or_else(|| {
                ReceiveError::Unauthorized("X-Hook-Signature does not match the body".into())
            })?;
        if form == SignedForm::DotNetEscaped {
            // Worth knowing which reading of "the request body" Autotask uses: only a captured
            // delivery can settle it (https://github.com/msoukhomlinov/n8n-nodes-autotask/issues/6).
            tracing::debug!("Autotask signature matched the .NET-escaped form of the body");
        }
        let cached = self.api.cached_udf_picklist();
        let labels = match &cached {
            None if self.settings.trigger.udf.is_some() => UdfLabels::Unknown,
            Some(Some(items)) => UdfLabels::List(items),
            _ => UdfLabels::NotAList,
        };
        let mut event = payload::parse_with(delivery.body, &self.settings.trigger, labels)
            .map_err(ReceiveError::Malformed)?;
        event.signature_form = Some(form.as_str().to_string());
        Ok(event)
    }
}

impl Connector for Autotask {
    fn kind(&self) -> ConnectorKind {
        ConnectorKind::Autotask
    }

    fn receive<'a>(&'a self, delivery: Delivery<'a>) -> BoxFuture<'a, Result<Event, ReceiveError>> {
        Box::pin(std::future::ready(self.verify_and_parse(delivery)))
    }

    /// A plain-text note (the API refuses rich text on create), published "Internal Only".
    fn post_note<'a>(
        &'a self,
        ticket: &'a TicketRef,
        note: &'a Note,
    ) -> BoxFuture<'a, Result<(), PsaError>> {
        Box::pin(async move {
            let ticket = EntityId::parse(&ticket.0, "ticket")?;
            self.api.post_note(ticket, &note.title, &note.body).await
        })
    }

    fn ticket_company<'a>(
        &'a self,
        ticket: &'a TicketRef,
    ) -> BoxFuture<'a, Result<CompanyRef, PsaError>> {
        Box::pin(async move {
            self.api
                .ticket_company(EntityId::parse(&ticket.0, "ticket")?)
                .await
        })
    }

    fn actor_email<'a>(&'a self, actor_id: &'a str) -> BoxFuture<'a, Result<String, PsaError>> {
        Box::pin(async move {
            self.api
                .resource_email(EntityId::parse(actor_id, "resource")?)
                .await
        })
    }

    fn company_name<'a>(
        &'a self,
        company: &'a CompanyRef,
    ) -> BoxFuture<'a, Result<String, PsaError>> {
        Box::pin(async move {
            self.api
                .company_name(EntityId::parse(&company.0, "company")?)
                .await
        })
    }

    /// A delivery whose UDF value looked like a list item's id before the UDF's list was
    /// known: read the list (caching it for later deliveries) and the ticket, then decide.
    fn ticket_trigger<'a>(
        &'a self,
        ticket: &'a TicketRef,
    ) -> BoxFuture<'a, Result<crate::Trigger, PsaError>> {
        Box::pin(async move {
            let list = match &self.settings.trigger.udf {
                Some(name) => self.api.refresh_udf_picklist(name).await?,
                None => None,
            };
            let labels = match &list {
                Some(items) => UdfLabels::List(items),
                None => UdfLabels::NotAList,
            };
            let item = self
                .api
                .ticket_item(EntityId::parse(&ticket.0, "ticket")?)
                .await?;
            Ok(payload::decide_ticket(
                &item,
                &self.settings.trigger,
                labels,
            ))
        })
    }

    /// Resets the UDF; `Ok` only once nothing in the ticket still requests (see
    /// [`Api::reset_trigger`] for status triggers).
    fn reset_trigger<'a>(&'a self, ticket: &'a TicketRef) -> BoxFuture<'a, Result<(), PsaError>> {
        Box::pin(async move {
            let ticket = EntityId::parse(&ticket.0, "ticket")?;
            self.api.reset_trigger(ticket, &self.settings.trigger).await
        })
    }

    fn check<'a>(&'a self, webhook_url: &'a str) -> BoxFuture<'a, Vec<crate::Check>> {
        Box::pin(async move {
            setup::Setup::new(&self.settings, &self.api)
                .check(webhook_url)
                .await
        })
    }

    fn register<'a>(
        &'a self,
        webhook_url: &'a str,
    ) -> BoxFuture<'a, Result<crate::RegisterOutcome, PsaError>> {
        Box::pin(async move {
            setup::Setup::new(&self.settings, &self.api)
                .register(webhook_url)
                .await
        })
    }
}
