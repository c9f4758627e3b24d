//! PSA connectors for jitgate: everything that knows ConnectWise PSA, Autotask, HaloPSA and
//! Standard Webhooks, and nothing else (no database, no Microsoft Graph).
//!
//! A connector does four things:
//! 1. [`Connector::receive`]: verify a delivery on its raw body bytes, then parse it into the
//!    normalized [`Event`] (nothing in the body is trusted before verification; the one exception is
//!    ConnectWise's `key_url`, fetched only from the connector's own site host);
//! 2. apply the connector's trigger rule, which is part of the returned [`Event::trigger`];
//! 3. talk back to the PSA: post an internal note, look up ticket → company, actor → email and
//!    company → name, reset the trigger field once a request is consumed;
//! 4. describe its settings and secrets so the admin API can validate them.
//!
//! Adding a PSA means adding one module and one arm in [`build`].

pub mod autotask;
pub mod connectwise;
pub mod event;
mod field_errors;
mod flag_value;
pub mod halopsa;
pub mod html;
mod json_fields;
mod outbound_url;
pub mod psa_http;
pub mod settings;
pub mod standard_webhooks;

pub use event::{Actor, CompanyRef, DeliveryKey, Event, TicketRef, Trigger};
pub use settings::{ConnectorKind, ExposeSecret, Secret, SecretSpec, SecretValues, SettingsError};

use std::time::Duration;

/// What arrived at `POST /webhooks/{connector_id}`: the raw bytes and headers, untouched.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    pub headers: &'a http::HeaderMap,
    pub body: &'a [u8],
    /// Wall-clock time of receipt, for timestamp tolerance checks (Standard Webhooks ±5 min).
    pub received_at: time::OffsetDateTime,
}

/// Why a delivery was refused. Every variant maps to a 4xx; none of them is the server's fault.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    /// Missing or wrong signature/credentials: 401. The message names what was wrong, never a
    /// secret or the expected value.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// Signature valid but the payload is not what the vendor documents: 400.
    #[error("malformed payload: {0}")]
    Malformed(String),
    /// The delivery cannot be verified right now because something it depends on is down
    /// (ConnectWise's signing-key URL timed out or answered 5xx). The app answers 429 so the
    /// PSA retries (ConnectWise retries 429, not 5xx or 401), rather than losing a request.
    #[error("cannot verify now: {0}")]
    Unavailable(String),
}

/// A note for the originating ticket. Plain text; each connector renders it for its PSA
/// (HaloPSA gets escaped HTML). It never carries a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub title: String,
    pub body: String,
}

/// Errors from calling a PSA's API.
#[derive(Debug, thiserror::Error)]
pub enum PsaError {
    /// 429 (or Autotask's thread-limit error): try again after this long. Callers in jobs
    /// reschedule rather than sleep.
    #[error("rate limited by the PSA; retry after {0:?}")]
    RateLimited(Duration),
    /// The PSA rejected the call; the message is the vendor's error made readable.
    #[error("{status} from PSA: {message}")]
    Rejected { status: u16, message: String },
    /// The referenced ticket/member/resource does not exist (or is not visible to the API user).
    #[error("not found in the PSA: {0}")]
    NotFound(String),
    /// Network failure, timeout or a 5xx: worth retrying with backoff.
    #[error("PSA unavailable: {0}")]
    Unavailable(String),
    /// The connector lacks a setting or secret this call needs.
    #[error("connector is not configured for this: {0}")]
    NotConfigured(String),
}

impl PsaError {
    /// Whether retrying the same call later can succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, PsaError::RateLimited(_) | PsaError::Unavailable(_))
    }
}

pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// One configured PSA connector. Instances are built from stored settings and secrets by
/// [`build`] and are cheap to share (`Arc`); they may keep small caches (ConnectWise signing keys,
/// HaloPSA and Autotask tokens/zones).
pub trait Connector: Send + Sync {
    fn kind(&self) -> ConnectorKind;

    /// Verify the delivery on its raw bytes, then parse it and apply the trigger rule.
    fn receive<'a>(&'a self, delivery: Delivery<'a>) -> BoxFuture<'a, Result<Event, ReceiveError>>;

    /// Post an internal (never customer-visible) note to the ticket.
    fn post_note<'a>(
        &'a self,
        ticket: &'a TicketRef,
        note: &'a Note,
    ) -> BoxFuture<'a, Result<(), PsaError>>;

    /// The PSA company a ticket belongs to (used when the event lacks it).
    fn ticket_company<'a>(
        &'a self,
        ticket: &'a TicketRef,
    ) -> BoxFuture<'a, Result<CompanyRef, PsaError>>;

    /// The email address of a PSA member/resource/agent.
    fn actor_email<'a>(&'a self, actor_id: &'a str) -> BoxFuture<'a, Result<String, PsaError>>;

    /// The PSA's display name for a company (the console shows it next to the id). Read-only;
    /// the default says the PSA cannot tell, for connectors whose PSA has no company API
    /// (Standard Webhooks).
    fn company_name<'a>(
        &'a self,
        _company: &'a CompanyRef,
    ) -> BoxFuture<'a, Result<String, PsaError>> {
        Box::pin(std::future::ready(Err(PsaError::NotConfigured(
            "this connector's PSA has no company API".into(),
        ))))
    }

    /// Set the trigger field back to false once a request was consumed, so later ticket updates
    /// do not request again. A no-op for triggers that are events by nature (actions, outcomes).
    fn reset_trigger<'a>(&'a self, ticket: &'a TicketRef) -> BoxFuture<'a, Result<(), PsaError>>;

    /// Read the ticket through the PSA's API and apply the trigger rule to it: how a delivery
    /// whose trigger was [`Trigger::Undecided`] is decided, in a job. Only connectors that can
    /// produce `Undecided` implement it.
    fn ticket_trigger<'a>(
        &'a self,
        _ticket: &'a TicketRef,
    ) -> BoxFuture<'a, Result<Trigger, PsaError>> {
        Box::pin(std::future::ready(Err(PsaError::NotConfigured(
            "this connector decides every delivery from its payload".into(),
        ))))
    }

    /// Whether this connector's trigger is a ticket field that stays set across later updates of
    /// the ticket (level-triggered): the app must then latch the ticket after a request until a
    /// [`Trigger::Cleared`] arrives. Event-like triggers (an action outcome, `jit.requested`) are
    /// not latched, so a second deliberate request on the same ticket works.
    ///
    /// The default follows the kind (ConnectWise and Autotask trigger on a field); a connector
    /// whose trigger depends on its settings (HaloPSA: outcome or custom field) overrides it.
    fn level_triggered(&self) -> bool {
        matches!(
            self.kind(),
            ConnectorKind::Connectwise | ConnectorKind::Autotask
        )
    }

    /// Check the PSA side of the connection, read-only: the API credentials work, the trigger
    /// and the note settings resolve at the PSA, and (where the PSA has an API for it) jitgate's
    /// webhook for `webhook_url` is registered and active. Never fails as a whole: a PSA that
    /// cannot be reached is itself a failed check.
    fn check<'a>(&'a self, webhook_url: &'a str) -> BoxFuture<'a, Vec<Check>>;

    /// Register (or repair) jitgate's webhook for `webhook_url` at the PSA, idempotently: a
    /// second call with nothing changed at the PSA changes nothing. Where the PSA's API cannot do
    /// it all, the outcome lists the remaining steps for the admin.
    fn register<'a>(
        &'a self,
        webhook_url: &'a str,
    ) -> BoxFuture<'a, Result<RegisterOutcome, PsaError>>;
}

/// How one connection check came out (the same scale as the tenant check).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Ok,
    Warn,
    Fail,
}

/// One connection check: what was looked at, how it came out, and what to do about it. Never
/// carries a secret.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Check {
    pub name: String,
    pub status: CheckStatus,
    pub detail: String,
    /// What to change, where (empty when nothing needs doing).
    pub fix: String,
}

impl Check {
    pub fn ok(name: &str, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            status: CheckStatus::Ok,
            detail: detail.into(),
            fix: String::new(),
        }
    }

    pub fn warn(name: &str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            status: CheckStatus::Warn,
            detail: detail.into(),
            fix: fix.into(),
        }
    }

    pub fn fail(name: &str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            status: CheckStatus::Fail,
            detail: detail.into(),
            fix: fix.into(),
        }
    }

    /// A failed check for a PSA call that did not succeed, with the PSA's own words.
    pub fn from_error(name: &str, error: &PsaError, fix: impl Into<String>) -> Check {
        Check::fail(name, error.to_string(), fix)
    }
}

/// What [`Connector::register`] did at the PSA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RegisterAction {
    /// The webhook did not exist and was created.
    Created,
    /// A webhook for this URL existed but was inactive or incomplete, and was fixed.
    Repaired,
    /// Everything was already in place; nothing was changed.
    AlreadyRegistered,
    /// The PSA's API cannot do it (all): `steps` says what the admin does by hand.
    ManualSteps,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RegisterOutcome {
    pub action: RegisterAction,
    /// What was found and done, in one or two sentences.
    pub detail: String,
    /// Steps left to the admin (empty when nothing is).
    pub steps: Vec<String>,
}

impl RegisterOutcome {
    pub fn new(action: RegisterAction, detail: impl Into<String>) -> RegisterOutcome {
        RegisterOutcome {
            action,
            detail: detail.into(),
            steps: Vec::new(),
        }
    }

    pub fn manual(detail: impl Into<String>, steps: Vec<String>) -> RegisterOutcome {
        RegisterOutcome {
            action: RegisterAction::ManualSteps,
            detail: detail.into(),
            steps,
        }
    }
}

/// Build a connector of `kind` from its stored settings (JSON) and secrets.
///
/// `http` is the process's one outbound client (it follows no redirects; see the app's
/// `http_client` module). Settings are validated here, so the admin API can call this to check
/// a connector before saving it.
pub fn build(
    kind: ConnectorKind,
    settings: &serde_json::Value,
    secrets: SecretValues,
    http: reqwest::Client,
) -> Result<std::sync::Arc<dyn Connector>, SettingsError> {
    use std::sync::Arc;
    match kind {
        ConnectorKind::Halopsa => Ok(Arc::new(halopsa::HaloPsa::build(settings, &secrets, http)?)),
        ConnectorKind::StandardWebhooks => Ok(Arc::new(
            standard_webhooks::StandardWebhooks::build(settings, &secrets, http)?,
        )),
        ConnectorKind::Connectwise => connectwise::build(settings, secrets, http),
        ConnectorKind::Autotask => autotask::build(settings, secrets, http),
    }
}
