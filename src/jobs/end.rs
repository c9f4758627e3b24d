//! Ending a grant: the `expire` job, early ends and the sweeper all come here.
//!
//! The grant is marked ended only after Graph read back the end state (roles gone, account
//! disabled or deleted); until then every failure is counted, logged as an error, shown in
//! `jitgate_grant_end_failures_total`, and after `end_failure_note_after` failures told on the
//! ticket, while retries go on.

use super::texts;
use super::{JobContext, JobError, backoff, queue, tenant_of};
use crate::store::audit::AuditEntry;
use crate::store::grants::{ExpireJob, Grant, NewNote};
use crate::store::{self, accounts, now_ms};
use apalis::prelude::{BoxDynError, Data};
use jitgate_graph::EndAction;
use std::sync::Arc;
use std::time::Duration;

pub async fn handle(job: ExpireJob, ctx: Data<Arc<JobContext>>) -> Result<(), BoxDynError> {
    let outcome = end_grant(&ctx, &job.grant_id).await.map(|_| ());
    super::finish(&ctx, &job, outcome, async |_| Ok(())).await
}

impl super::Rescheduled for ExpireJob {
    const QUEUE: &'static str = queue::EXPIRE;
    const NAME: &'static str = "expire";
    /// Never: a grant must end. Failures stay loud (metric, error log, ticket note).
    const MAX_ATTEMPTS: Option<u32> = None;
    fn subject(&self) -> &str {
        &self.grant_id
    }
    fn attempt(&self) -> u32 {
        self.attempt
    }
    fn waits(&self) -> u32 {
        self.waits
    }
    fn with(&self, attempt: u32, waits: u32) -> Self {
        ExpireJob {
            grant_id: self.grant_id.clone(),
            attempt,
            waits,
        }
    }
}

/// What `end_grant` did.
#[derive(Debug, PartialEq, Eq)]
pub enum EndOutcome {
    /// Ended now, verified.
    Ended,
    /// Nothing to do: already ended, or extended past now.
    NotDue,
}

/// End the grant if it is due (past expiry or asked to end). Idempotent.
pub async fn end_grant(ctx: &JobContext, grant_id: &str) -> Result<EndOutcome, JobError> {
    let grant = match store::grants::get(&ctx.db, grant_id).await {
        Ok(g) => g,
        Err(store::StoreError::NotFound) => return Ok(EndOutcome::NotDue),
        Err(e) => return Err(e.into()),
    };
    if !grant.is_open() || (!grant.end_requested && grant.expires_at > now_ms()) {
        return Ok(EndOutcome::NotDue);
    }
    super::with_account_lease(ctx, &grant.account_id, end_locked(ctx, &grant)).await
}

async fn end_locked(ctx: &JobContext, grant: &Grant) -> Result<EndOutcome, JobError> {
    let account = accounts::get(&ctx.db, &grant.account_id).await?;
    let customer = store::customers::get(
        &ctx.db,
        &store::customers::Visibility::All,
        &grant.customer_id,
    )
    .await?;
    let reason = match (
        grant.end_requested && grant.expires_at > now_ms(),
        grant.end_request_reason.as_deref(),
    ) {
        (true, Some("cancelled")) => "cancelled",
        (true, _) => "ended_by_admin",
        (false, _) => "expired",
    };
    let (connection, state) = match tenant_of(ctx, &grant.customer_id).await? {
        None => {
            return failed(
                ctx,
                grant,
                &account,
                "the customer's Entra connection is missing; jitgate cannot reach the tenant",
                None,
            )
            .await;
        }
        Some((connection, tenant)) => {
            let action = if connection.expiry_action == "delete" {
                EndAction::Delete
            } else {
                EndAction::Disable
            };
            let state = if action == EndAction::Delete {
                "deleted"
            } else {
                "disabled"
            };
            if let Some(user_id) = &account.entra_user_id
                && let Err(e) = ctx.graph.end_access(&tenant, user_id, action).await
            {
                return failed(ctx, grant, &account, &e.to_string(), e.retry_after()).await;
            }
            (connection, state)
        }
    };
    let ended_at = now_ms();
    let note = grant
        .ticket_ref
        .as_ref()
        .zip(grant.connector_id.as_ref())
        .map(|(t, c)| {
            let (title, body) = texts::ended(&account.upn, &customer.name, reason, ended_at);
            NewNote {
                connector_id: c.clone(),
                ticket_ref: t.clone(),
                kind: "ended",
                title,
                body,
            }
        });
    let mut audit = AuditEntry::new("system", "grant.end", "ok")
        .customer(&grant.customer_id)
        .technician(&grant.technician_id)
        .grant(&grant.id)
        .tenant(&connection.tenant_id)
        .account(&account.upn)
        .detail(format!("{reason}; account {state}; verified"));
    if let Some(t) = &grant.ticket_ref {
        audit = audit.ticket(t);
    }
    if let Some(c) = &grant.connector_id {
        audit = audit.connector(c);
    }
    if store::grants::mark_ended(
        &ctx.db,
        &ctx.keyring,
        &grant.id,
        reason,
        state,
        note.as_ref(),
        &audit,
    )
    .await?
    {
        // The password is useless now (rotated in Entra); do not keep it.
        store::secrets::delete(
            &ctx.db,
            &accounts::secret_scope(&account.id),
            accounts::PASSWORD,
        )
        .await?;
        ctx.metrics
            .grants_ended
            .get_or_create(&crate::metrics::ReasonLabels {
                reason: static_reason(reason),
            })
            .inc();
        tracing::info!(grant = %grant.id, reason, lateness_ms = ended_at - grant.expires_at, "grant ended and verified");
    }
    Ok(EndOutcome::Ended)
}

fn static_reason(reason: &str) -> &'static str {
    match reason {
        "ended_by_admin" => "ended_by_admin",
        "cancelled" => "cancelled",
        _ => "expired",
    }
}

/// Count the failure loudly and retry with backoff; tell the ticket once it keeps failing.
async fn failed(
    ctx: &JobContext,
    grant: &Grant,
    account: &accounts::Account,
    error: &str,
    retry_after: Option<Duration>,
) -> Result<EndOutcome, JobError> {
    let attempts = store::grants::record_end_failure(&ctx.db, &grant.id, error).await?;
    ctx.metrics.grant_end_failures.inc();
    tracing::error!(grant = %grant.id, account = %account.upn, attempts, %error, "could not end a grant; retrying");
    let audit = AuditEntry::new("system", "grant.end", "failed")
        .customer(&grant.customer_id)
        .technician(&grant.technician_id)
        .grant(&grant.id)
        .account(&account.upn)
        .detail(format!("attempt {attempts}: {error}"));
    store::audit::record(&ctx.db, &audit).await?;
    if attempts == ctx.config.end_failure_note_after as i32
        && let (Some(t), Some(c)) = (&grant.ticket_ref, &grant.connector_id)
    {
        let (title, body) = texts::end_failing(&account.upn, attempts, error);
        let note = NewNote {
            connector_id: c.clone(),
            ticket_ref: t.clone(),
            kind: "end_failing",
            title,
            body,
        };
        store::grants::add_note(&ctx.db, &ctx.keyring, &note, Some(&grant.id)).await?;
    }
    let after = retry_after.unwrap_or_else(|| backoff(attempts.max(1) as u32 - 1));
    Err(JobError::retry(after, error.to_string()))
}

/// Ask for an early end (`ended_by_admin` or `cancelled`) and run it now through the expire
/// queue.
pub async fn request_end(db: &store::Db, grant_id: &str, reason: &str) -> Result<bool, JobError> {
    if !store::grants::request_end(db, grant_id, reason).await? {
        return Ok(false);
    }
    let job = queue::Job::new(
        queue::EXPIRE,
        &ExpireJob {
            grant_id: grant_id.to_string(),
            attempt: 0,
            waits: 0,
        },
    )
    .key(format!("expire:{grant_id}:early"));
    queue::push(db, job).await?;
    Ok(true)
}
