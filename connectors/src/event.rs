//! The normalized event every connector produces from a verified delivery.

use serde::{Deserialize, Serialize};

/// The vendor's identity of one delivery (ConnectWise `MessageId`, Autotask
/// `(Guid, Id, SequenceNumber, EventTime)`, HaloPSA `id`, Standard Webhooks `webhook-id`).
/// Stored with a unique index: a redelivery is a no-op.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DeliveryKey(pub String);

/// A ticket in the PSA, as the PSA identifies it (ConnectWise/Autotask/Halo numeric ids as text).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TicketRef(pub String);

/// A company (customer) in the PSA; mapped to a jitgate customer through the admin API.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CompanyRef(pub String);

/// Who acted in the PSA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Actor {
    /// A PSA user id (ConnectWise member identifier, Autotask resource id, Halo agent id);
    /// its email is looked up through [`crate::Connector::actor_email`].
    PsaUser(String),
    /// The event named the technician's email itself (Standard Webhooks).
    Email(String),
}

/// What the connector's trigger rule made of the event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// A JIT account was requested (trigger field true, trigger status, action outcome,
    /// `jit.requested`). The app dedupes while the trigger stays set.
    Requested {
        /// Optional requested duration, e.g. from a Standard Webhooks event; capped by the app.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration_secs: Option<u64>,
    },
    /// End the technician's grant early (`jit.cancelled`).
    Cancelled,
    /// The event shows the trigger explicitly not set (field false / other status): the app
    /// re-arms the ticket so a later set requests again.
    Cleared,
    /// Nothing to do with JIT (most deliveries).
    None,
    /// The delivery does not carry the fields the rule needs (a ConnectWise summarized
    /// payload): the app accepts it as a pending request and its job reads the ticket through
    /// [`crate::Connector::ticket_trigger`] before anything else.
    Undecided,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub delivery_key: DeliveryKey,
    /// Vendor event name for logs (`ticket/updated`, `Update`, `Action Added`, `jit.requested`).
    pub kind: String,
    pub ticket: Option<TicketRef>,
    pub company: Option<CompanyRef>,
    pub actor: Option<Actor>,
    pub trigger: Trigger,
    /// Which of several accepted signature forms matched (Autotask: `raw` or `escaped`), for
    /// the delivery log; `None` where a connector knows one form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_form: Option<String>,
}
