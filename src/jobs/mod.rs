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
pub mod tenant_check;
pub mod texts;
pub mod worker;

use crate::store::{self, StoreError};
use std::time::Duration;

/// What every job handler can reach: the same [`crate::services::Services`] the HTTP handlers
/// use.
pub type JobContext = crate::services::Services;

/// Why a step did not finish now.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Try again after `after` (rate limit, replication lag, an outage, a lease held).
    #[error("retry in {after:?}: {reason}")]
    Retry { after: Duration, reason: String },
    /// Someone else holds the account right now: try again soon, without counting it as a
    /// failed attempt.
    #[error("waiting {after:?}: {reason}")]
    Wait { after: Duration, reason: String },
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

/// How long an account lease lasts without renewal: a crashed holder blocks the account for
/// at most this long. A live holder renews it every third of that.
const ACCOUNT_LEASE: Duration = Duration::from_secs(30);

/// Run `work` holding the account's lease, renewed in the background while it runs, so Graph
/// work on one account is serialized across jobs and processes (one password, one set of
/// roles at a time). `Wait` if another run holds it.
pub async fn with_account_lease<T>(
    ctx: &JobContext,
    account_id: &str,
    work: impl std::future::Future<Output = Result<T, JobError>>,
) -> Result<T, JobError> {
    // Unique per run: the lease must exclude other jobs of this very process too.
    let owner = format!("{}/{}", ctx.instance, ulid::Ulid::generate());
    let ttl_ms = ACCOUNT_LEASE.as_millis() as i64;
    if !store::accounts::lock(&ctx.db, account_id, &owner, ttl_ms).await? {
        return Err(JobError::Wait {
            after: Duration::from_millis(500),
            reason: "another job is working on this account".into(),
        });
    }
    /// Stops the renewal when dropped: also when this future is dropped mid-work (a job
    /// cancelled at shutdown, a sweeper task aborted), else the lease would be renewed forever
    /// and the account locked out of every later end.
    struct AbortOnDrop(tokio::task::JoinHandle<()>);
    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let renewal = {
        let (db, id, owner) = (ctx.db.clone(), account_id.to_string(), owner.clone());
        AbortOnDrop(tokio::spawn(async move {
            loop {
                tokio::time::sleep(ACCOUNT_LEASE / 3).await;
                if let Err(e) = store::accounts::lock(&db, &id, &owner, ttl_ms).await {
                    tracing::warn!(error = %e, account = %id, "could not renew an account lease");
                }
            }
        }))
    };
    let result = work.await;
    drop(renewal);
    store::accounts::unlock(&ctx.db, account_id, &owner).await?;
    result
}

/// The arguments of a job that reschedules itself as a new delayed job rather than sleeping or
/// returning apalis's retry errors.
pub trait Rescheduled: serde::Serialize + Sized {
    const QUEUE: &'static str;
    /// Name in metrics, logs and idempotency keys.
    const NAME: &'static str;
    /// Failed attempts before giving up; `None` never gives up (ending a grant).
    const MAX_ATTEMPTS: Option<u32>;
    /// The id of what the job works on (request, note, grant).
    fn subject(&self) -> &str;
    fn attempt(&self) -> u32;
    fn waits(&self) -> u32;
    fn with(&self, attempt: u32, waits: u32) -> Self;
}

/// Turn a handler's outcome into apalis's: waits and retries become new delayed jobs (a
/// wait does not count as a failed attempt), `give_up` runs when attempts run out, and a
/// storage failure goes back to apalis to run the (idempotent) job again at once.
pub async fn finish<J, G>(
    ctx: &JobContext,
    job: &J,
    outcome: Result<(), JobError>,
    give_up: G,
) -> Result<(), apalis::prelude::BoxDynError>
where
    J: Rescheduled,
    G: AsyncFnOnce(String) -> Result<(), StoreError>,
{
    let next = match outcome {
        Ok(()) => {
            ctx.metrics.job(J::NAME, "ok");
            return Ok(());
        }
        Err(JobError::Wait { after, .. }) => (job.with(job.attempt(), job.waits() + 1), after),
        Err(JobError::Retry { after, reason })
            if J::MAX_ATTEMPTS.is_none_or(|max| job.attempt() + 1 < max) =>
        {
            ctx.metrics.job(J::NAME, "rescheduled");
            tracing::info!(job = J::NAME, subject = job.subject(), attempt = job.attempt(), ?after, %reason, "rescheduled");
            (job.with(job.attempt() + 1, job.waits()), after)
        }
        Err(JobError::Retry { reason, .. }) => {
            ctx.metrics.job(J::NAME, "failed");
            tracing::error!(job = J::NAME, subject = job.subject(), %reason, "giving up after repeated failures");
            give_up(reason).await?;
            return Ok(());
        }
        Err(JobError::Store(e)) => {
            ctx.metrics.job(J::NAME, "failed");
            tracing::error!(job = J::NAME, subject = job.subject(), error = %e, "storage failed; apalis will run the job again");
            return Err(e.into());
        }
    };
    let (next, after) = next;
    let key = format!(
        "{}:{}:{}:w{}",
        J::NAME,
        next.subject(),
        next.attempt(),
        next.waits()
    );
    queue::push(
        &ctx.db,
        queue::Job::new(J::QUEUE, &next).after(after).key(key),
    )
    .await?;
    Ok(())
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
    // The MSP app's credential for a customer connected by admin consent, its own otherwise.
    let Some(stored) = store::msp_app::connection_credential(&ctx.db, &ctx.keyring, &conn).await?
    else {
        return Ok(None);
    };
    let tenant = jitgate_graph::Tenant::with_credential(
        conn.tenant_id.clone(),
        conn.client_id.clone(),
        client_credential(stored)?,
    );
    Ok(Some((conn, tenant)))
}

/// The MSP app and the credential its tokens are requested with, if it is configured.
pub async fn msp_app_credential(
    ctx: &JobContext,
) -> Result<Option<(store::msp_app::MspApp, jitgate_graph::ClientCredential)>, StoreError> {
    let Some((app, stored)) = store::msp_app::with_credential(&ctx.db, &ctx.keyring).await? else {
        return Ok(None);
    };
    Ok(Some((app, client_credential(stored)?)))
}

/// A stored credential as the Graph client uses it. The certificate was checked when it was
/// set, so failing to read it again means the stored value is damaged.
fn client_credential(
    stored: store::msp_app::StoredCredential,
) -> Result<jitgate_graph::ClientCredential, StoreError> {
    use store::msp_app::StoredCredential;
    match stored {
        StoredCredential::Secret(secret) => Ok(jitgate_graph::ClientCredential::Secret(
            jitgate_graph::Secret::from(secret),
        )),
        StoredCredential::CertificatePem(pem) => jitgate_graph::ClientCertificate::from_pem(&pem)
            .map(jitgate_graph::ClientCredential::Certificate)
            .map_err(|e| StoreError::Corrupt(format!("the MSP app's certificate: {e}"))),
    }
}

/// A unique name for this process: host name plus a ULID, so a restart never collides with
/// its previous life in apalis's worker table (apalis refuses to register a worker name
/// seen within the heartbeat interval, `WORKER_ALREADY_EXISTS`).
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
