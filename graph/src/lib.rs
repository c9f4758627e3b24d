//! Everything jitgate knows about Microsoft Graph and the Entra ID login endpoint.
//!
//! * [`GraphClient`] — one per process (cheap `Clone`), built on the app's `reqwest::Client`.
//! * [`Tenant`] — a customer's tenant id, app (client) id and client [`Secret`].
//! * High level, for the job layer: [`GraphClient::ensure_access`] and
//!   [`GraphClient::end_access`] (idempotent, verified).
//! * Low level: users ([`GraphClient::find_user_by_upn`], [`GraphClient::create_user`], …),
//!   role assignments, Temporary Access Passes.
//! * [`GraphError`] — throttling (`retry_after`), transient, replication lag, foreign account,
//!   actionable auth/permission errors, Graph rejections; never containing secrets.
//!
//! Module docs cite the Microsoft pages each fact comes from.

mod access;
mod advice;
mod client;
mod error;
mod guid;
pub mod marker;
pub mod password;
mod retry;
mod roles;
mod secret;
mod tenant;
mod token;
mod transport;
mod users;

pub use access::{Access, AccountSpec, EndAction, EndReport, EndStep, StepOutcome};
pub use client::GraphClient;
pub use error::GraphError;
pub use marker::JITGATE_MARKER;
pub use retry::RetryPolicy;
pub use roles::{AssignOutcome, RoleAssignment, TENANT_SCOPE};
pub use secret::{Password, Secret};
pub use tenant::Tenant;
pub use users::{CreateOutcome, TapMethod, User};
