//! ConnectWise PSA (Manage): ticket callbacks signed with a key fetched from the delivery's own
//! `Metadata.key_url`, and the REST API for notes, lookups and the trigger reset.
//!
//! Flow of [`Connector::receive`]: read `x-content-signature` → read only `Metadata.key_url` from
//! the unverified body → refuse it unless it is on the configured site for the configured
//! company (no fetch) → verify the raw bytes in constant time with the key cached for that URL,
//! or else with a key fetched from it (3 s, no redirects, within the connector's
//! [`fetch_budget`]) → parse (`Entity` a second time) and apply the trigger rule.

pub mod api;
pub mod fetch_budget;
pub mod key_url;
pub mod payload;
pub mod settings;
pub mod setup;
pub mod signature;

use crate::{
    BoxFuture, CompanyRef, Connector, ConnectorKind, Delivery, Event, Note, PsaError, ReceiveError,
    SecretValues, SettingsError, TicketRef,
};
use api::{Api, RecordId};
use fetch_budget::FetchBudget;
use key_url::{AllowedKeyUrl, KeyCache};
use secrecy::ExposeSecret as _;
use settings::Settings;
use signature::ContentSignature;
use std::sync::Arc;

pub struct ConnectWise {
    settings: Settings,
    http: reqwest::Client,
    api: Api,
    keys: KeyCache,
    fetches: FetchBudget,
}

pub fn build(
    settings: &serde_json::Value,
    secrets: SecretValues,
    http: reqwest::Client,
) -> Result<Arc<dyn Connector>, SettingsError> {
    Ok(Arc::new(ConnectWise::new(settings, &secrets, http)?))
}

impl ConnectWise {
    pub fn new(
        settings: &serde_json::Value,
        secrets: &SecretValues,
        http: reqwest::Client,
    ) -> Result<Self, SettingsError> {
        let settings = Settings::parse(settings, secrets)?;
        let api = Api::new(&settings, http.clone());
        Ok(ConnectWise {
            settings,
            http,
            api,
            keys: KeyCache::default(),
            fetches: FetchBudget::default(),
        })
    }

    async fn verify_and_parse(&self, delivery: Delivery<'_>) -> Result<Event, ReceiveError> {
        let signature =
            ContentSignature::from_headers(delivery.headers).map_err(ReceiveError::Unauthorized)?;
        let raw_url = key_url::key_url_of(delivery.body).map_err(ReceiveError::Unauthorized)?;
        let url = key_url::allow(&raw_url, &self.settings.site, &self.settings.company_id)
            .map_err(|why| {
                tracing::warn!(reason = %why, "refused a ConnectWise delivery's key_url");
                ReceiveError::Unauthorized(why)
            })?;

        if !self.verifies(&signature, &url, delivery.body).await? {
            return Err(ReceiveError::Unauthorized(
                "x-content-signature does not match the body".into(),
            ));
        }
        payload::parse(delivery.body, &self.settings.trigger).map_err(ReceiveError::Malformed)
    }

    /// Whether `signature` signs `body` under the key published at `url`: the cached key, or
    /// else a freshly fetched one (the key may have rotated behind the same URL). A failure
    /// changes nothing in the cache, so a forgery cannot evict a good key; only a fetched key
    /// that verifies is cached.
    async fn verifies(
        &self,
        signature: &ContentSignature,
        url: &AllowedKeyUrl,
        body: &[u8],
    ) -> Result<bool, ReceiveError> {
        if let Some(key) = self.keys.get(url)
            && signature.verifies(key.expose_secret(), body)
        {
            return Ok(true);
        }
        if !self.fetches.try_take() {
            return Err(ReceiveError::Unavailable(
                "too many deliveries that did not verify: signing-key fetches are paused".into(),
            ));
        }
        let key = key_url::fetch(&self.http, url, &self.settings.client_id)
            .await
            .map_err(|e| match e {
                key_url::FetchError::Unavailable(why) => ReceiveError::Unavailable(why),
                key_url::FetchError::Refused(why) => {
                    ReceiveError::Unauthorized(format!("cannot verify the signature: {why}"))
                }
            })?;
        if !signature.verifies(key.expose_secret(), body) {
            return Ok(false);
        }
        self.fetches.refund();
        self.keys.put(url, key);
        Ok(true)
    }
}

/// Note text: ConnectWise notes are plain text with no title of their own.
fn note_text(note: &Note) -> String {
    if note.title.trim().is_empty() {
        note.body.clone()
    } else {
        format!("{}\n\n{}", note.title.trim(), note.body)
    }
}

impl Connector for ConnectWise {
    fn kind(&self) -> ConnectorKind {
        ConnectorKind::Connectwise
    }

    fn receive<'a>(&'a self, delivery: Delivery<'a>) -> BoxFuture<'a, Result<Event, ReceiveError>> {
        Box::pin(self.verify_and_parse(delivery))
    }

    fn post_note<'a>(
        &'a self,
        ticket: &'a TicketRef,
        note: &'a Note,
    ) -> BoxFuture<'a, Result<(), PsaError>> {
        Box::pin(async move {
            self.api
                .post_note(RecordId::parse(&ticket.0)?, &note_text(note))
                .await
        })
    }

    fn ticket_company<'a>(
        &'a self,
        ticket: &'a TicketRef,
    ) -> BoxFuture<'a, Result<CompanyRef, PsaError>> {
        Box::pin(async move { self.api.ticket_company(RecordId::parse(&ticket.0)?).await })
    }

    fn actor_email<'a>(&'a self, actor_id: &'a str) -> BoxFuture<'a, Result<String, PsaError>> {
        Box::pin(self.api.member_email(actor_id))
    }

    fn company_name<'a>(
        &'a self,
        company: &'a CompanyRef,
    ) -> BoxFuture<'a, Result<String, PsaError>> {
        Box::pin(async move {
            self.api
                .company_name(RecordId::parse_as(&company.0, "company")?)
                .await
        })
    }

    /// A summarized callback lacks the custom fields: the ticket read through the API is
    /// decided by the same rule as a full callback's `Entity`.
    fn ticket_trigger<'a>(
        &'a self,
        ticket: &'a TicketRef,
    ) -> BoxFuture<'a, Result<crate::Trigger, PsaError>> {
        Box::pin(async move {
            let record = self.api.ticket_record(RecordId::parse(&ticket.0)?).await?;
            Ok(payload::decide_record(&record, &self.settings.trigger))
        })
    }

    /// Clears the custom field; `Ok` only once nothing in the ticket still requests (see
    /// [`Api::reset_trigger`] for status triggers).
    fn reset_trigger<'a>(&'a self, ticket: &'a TicketRef) -> BoxFuture<'a, Result<(), PsaError>> {
        Box::pin(async move {
            self.api
                .reset_trigger(RecordId::parse(&ticket.0)?, &self.settings.trigger)
                .await
        })
    }

    fn check<'a>(&'a self, webhook_url: &'a str) -> BoxFuture<'a, Vec<crate::Check>> {
        Box::pin(async move {
            setup::Setup::new(&self.settings, &self.http)
                .check(webhook_url)
                .await
        })
    }

    fn register<'a>(
        &'a self,
        webhook_url: &'a str,
    ) -> BoxFuture<'a, Result<crate::RegisterOutcome, PsaError>> {
        Box::pin(async move {
            setup::Setup::new(&self.settings, &self.http)
                .register(webhook_url)
                .await
        })
    }
}
