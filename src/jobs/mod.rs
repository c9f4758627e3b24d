//! Background work: apalis queues for provisioning, ticket notes and expiry, plus the sweeper
//! that ends overdue grants whatever happened to their jobs.
//!
//! Every handler reads its state from the database first and is safe to run twice: apalis
//! delivers at least once (a crash between a handler finishing and its ack re-runs it).
//! Handlers never return apalis's `RetryAfterError` (it loses jobs on SQLite): a step that must
//! wait (429 `Retry-After`, replication lag, a PSA outage) pushes a new delayed job instead.

pub mod end;
pub mod note;
pub mod provision;
pub mod queue;
pub mod sweeper;
pub mod texts;
pub mod worker;

use crate::config::Config;
use crate::crypto::Keyring;
use crate::metrics::Metrics;
use crate::psa::ConnectorRegistry;
use crate::store::{self, Db, StoreError};
use std::sync::Arc;
use std::time::Duration;

/// What every job handler can reach.
pub struct JobContext {
    pub config: Arc<Config>,
    pub db: Db,
    pub keyring: Arc<Keyring>,
    pub metrics: Arc<Metrics>,
    pub graph: jitgate_graph::GraphClient,
    pub connectors: Arc<ConnectorRegistry>,
    /// This process's name in leases and locks (unique per start).
    pub instance: String,
}

/// Why a step did not finish now.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Try again after `after` (rate limit, replication lag, an outage, a lease held).
    #[error("retry in {after:?}: {reason}")]
    Retry { after: Duration, reason: String },
    /// Our own storage failed: let apalis retry the job at once (it is idempotent).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl JobError {
    pub fn retry(after: Duration, reason: impl Into<String>) -> Self {
        JobError::Retry {
            after,
            reason: reason.into(),
        }
    }
}

/// Exponential backoff for attempt `n` (0-based): 2 s, 4 s, 8 s, … capped at 60 s.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(2u64.saturating_pow(attempt.saturating_add(1)).min(60))
}

/// The customer's Entra tenant as the Graph client needs it, if the connection is complete.
pub async fn tenant_of(
    ctx: &JobContext,
    customer_id: &str,
) -> Result<Option<(store::customers::EntraConnection, jitgate_graph::Tenant)>, StoreError> {
    let Some(conn) = store::customers::entra(&ctx.db, customer_id).await? else {
        return Ok(None);
    };
    let scope = crate::http::api::customers::secret_scope(customer_id);
    let Some(secret) = store::secrets::get_string(
        &ctx.db,
        &ctx.keyring,
        &scope,
        crate::http::api::customers::ENTRA_SECRET,
    )
    .await?
    else {
        return Ok(None);
    };
    let tenant = jitgate_graph::Tenant::new(
        conn.tenant_id.clone(),
        conn.client_id.clone(),
        jitgate_graph::Secret::new(secret),
    );
    Ok(Some((conn, tenant)))
}

/// A lease owner for one run of one job: the process's name plus a fresh id.
pub fn lock_owner(ctx: &JobContext) -> String {
    format!("{}/{}", ctx.instance, ulid::Ulid::generate())
}

/// A unique name for this process: host name plus a ULID, so a restart never collides with
/// its previous life in apalis's worker table (reference/stack.md §2.8).
pub fn instance_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "jitgate".into());
    format!(
        "{host}-{}",
        ulid::Ulid::generate().to_string().to_ascii_lowercase()
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(super::backoff(0).as_secs(), 2);
        assert_eq!(super::backoff(2).as_secs(), 8);
        assert_eq!(super::backoff(30).as_secs(), 60);
    }
}
