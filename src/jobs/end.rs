//! Ending a grant: the `end` job (queue `jitgate.end`), early ends and the sweeper all come
//! here, and `jitgate_grants_ended_total` counts what they ended.
//!
//! The end runs independent steps, most important first (remove roles, disable, revoke
//! sessions, delete Temporary Access Passes, rotate the password, delete for the `delete`
//! action), and reads the account back. The grant is marked ended only when the account reads
//! back disabled with no role assignments (or gone); until then every failure is counted, logged
//! as an error, shown in `jitgate_grant_end_failures_total`, and after `end_failure_note_after`
//! failures told on the ticket, while retries go on. Steps that still fail once access has ended
//! (a password rotation refused because the app lacks User Administrator, a session revocation
//! refused for a missing permission) are recorded on the grant, told on the ticket with the
//! fix, counted, and retried by the same job until they succeed.
//!
//! Ending always talks to the tenant the grant was made in (DESIGN invariant I9), never to
//! whatever the customer's connection names today.

use super::texts;
use super::{JobContext, JobError, backoff, queue};
use crate::domain::ids::GrantId;
use crate::domain::lifecycle::{AccountState, EndReason, ExpiryAction, NoteKind};
use crate::metrics::{ReasonLabels, StepLabels};
use crate::store::audit::AuditEntry;
use crate::store::grants::{EndStepRecord, Ended, Grant, NewNote};
use crate::store::{self, StoreError, accounts, now_ms};
use apalis::prelude::{BoxDynError, Data};
use jitgate_graph::{EndAction, EndReport, EndStep, StepOutcome, Tenant};
use std::sync::Arc;
use std::time::Duration;

/// The `end` job: end the grant at its expiry (or now, for an early end), then retry its
/// failing follow-up steps. Its queue is [`queue::END`].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct EndJob {
    pub grant_id: GrantId,
    /// How many times the job was rescheduled after a failure (backoff).
    #[serde(default)]
    pub attempt: u32,
    /// How many times it waited for another job holding the account (not failures).
    #[serde(default)]
    pub waits: u32,
}

impl EndJob {
    pub fn new(grant_id: &str) -> Self {
        EndJob {
            grant_id: GrantId::new(grant_id),
            attempt: 0,
            waits: 0,
        }
    }
}

pub async fn handle(job: EndJob, ctx: Data<Arc<JobContext>>) -> Result<(), BoxDynError> {
    let outcome = end_or_follow_up(&ctx, job.grant_id.as_str(), job.attempt)
        .await
        .map(|_| ());
    super::finish(&ctx, &job, outcome, async |_| Ok(())).await
}

impl super::Rescheduled for EndJob {
    const QUEUE: &'static str = queue::END;
    const NAME: &'static str = "end";
    /// Never: a grant must end. Failures stay loud (metric, error log, ticket note).
    const MAX_ATTEMPTS: Option<u32> = None;
    fn subject(&self) -> &str {
        self.grant_id.as_str()
    }
    fn attempt(&self) -> u32 {
        self.attempt
    }
    fn waits(&self) -> u32 {
        self.waits
    }
    fn with(&self, attempt: u32, waits: u32) -> Self {
        EndJob {
            grant_id: self.grant_id.clone(),
            attempt,
            waits,
        }
    }
}

/// What `end_grant` did.
#[derive(Debug, PartialEq, Eq)]
pub enum EndOutcome {
    /// Ended now, verified (follow-up steps may still be retried).
    Ended,
    /// Nothing to do: already ended, or extended past now.
    NotDue,
}

/// End the grant if it is due (past expiry or asked to end), or retry the follow-up steps of
/// an ended grant. Idempotent.
pub async fn end_grant(ctx: &JobContext, grant_id: &str) -> Result<EndOutcome, JobError> {
    end_or_follow_up(ctx, grant_id, 0).await
}

/// [`end_grant`] for the job's `attempt` (follow-ups back off with it).
async fn end_or_follow_up(
    ctx: &JobContext,
    grant_id: &str,
    attempt: u32,
) -> Result<EndOutcome, JobError> {
    let grant = match store::grants::get(&ctx.db, grant_id).await {
        Ok(g) => g,
        Err(StoreError::NotFound) => return Ok(EndOutcome::NotDue),
        Err(e) => return Err(e.into()),
    };
    if !grant.is_open() {
        if grant.end_follow_ups.is_some() {
            super::with_account_lease(
                ctx,
                &grant.account_id,
                follow_up_locked(ctx, &grant, attempt),
            )
            .await?;
        }
        return Ok(EndOutcome::NotDue);
    }
    if !grant.end_requested && grant.expires_at > now_ms() {
        return Ok(EndOutcome::NotDue);
    }
    super::with_account_lease(ctx, &grant.account_id, end_locked(ctx, &grant)).await
}

/// Why the grant ends: the early-end reason that was asked for, or `expired`.
fn end_reason(grant: &Grant) -> EndReason {
    if grant.end_requested && grant.expires_at > now_ms() {
        grant.end_request_reason.unwrap_or(EndReason::EndedByAdmin)
    } else {
        EndReason::Expired
    }
}

async fn end_locked(ctx: &JobContext, grant: &Grant) -> Result<EndOutcome, JobError> {
    let account = accounts::get(&ctx.db, &grant.account_id).await?;
    let customer = store::customers::get(
        &ctx.db,
        &store::customers::Visibility::All,
        &grant.customer_id,
    )
    .await?;
    let reason = end_reason(grant);
    let action = match store::customers::entra(&ctx.db, &grant.customer_id).await? {
        Some(c) if c.expiry_action == ExpiryAction::Delete => EndAction::Delete,
        _ => EndAction::Disable,
    };
    let report = match &account.entra_user_id {
        // No Entra account was ever made for this grant: nothing to end in the tenant.
        None => None,
        Some(user_id) => {
            let tenant = match grant_tenant(ctx, grant, &account).await? {
                Ok(tenant) => tenant,
                Err(problem) => return failed(ctx, grant, &account, &problem, None, None).await,
            };
            match ctx.graph.end_access(&tenant, user_id, action).await {
                Ok(report) => Some((report, tenant.tenant_id)),
                Err(e) => {
                    return failed(ctx, grant, &account, &e.to_string(), e.retry_after(), None)
                        .await;
                }
            }
        }
    };
    count_failed_steps(ctx, report.as_ref().map(|(r, _)| r));
    if let Some((report, _)) = &report
        && !report.is_verified()
    {
        let summary = failure_summary(report.failures());
        let steps = steps_json(&report.steps, report.unverified.as_ref());
        return failed(
            ctx,
            grant,
            &account,
            &summary,
            report.retry_after(),
            Some(&steps),
        )
        .await;
    }
    let tenant_id = report.as_ref().map(|(_, t)| t.clone());
    let report = report.map(|(r, _)| r);
    let ending = Ending {
        grant,
        account: &account,
        customer: &customer,
        reason,
        action,
    };
    record_ended(ctx, &ending, report.as_ref(), tenant_id).await?;
    Ok(EndOutcome::Ended)
}

/// The grant being ended, with what its end is recorded against.
#[derive(Clone, Copy)]
struct Ending<'a> {
    grant: &'a Grant,
    account: &'a accounts::Account,
    customer: &'a store::customers::Customer,
    reason: EndReason,
    action: EndAction,
}

/// Mark the grant ended with what each step did, tell the ticket, and when follow-up steps
/// still fail, keep the job going for them.
async fn record_ended(
    ctx: &JobContext,
    ending: &Ending<'_>,
    report: Option<&EndReport>,
    tenant_id: Option<String>,
) -> Result<(), JobError> {
    let Ending {
        grant,
        account,
        customer,
        reason,
        action,
    } = *ending;
    let state = match (action, report) {
        (EndAction::Delete, Some(r))
            if r.already_gone || step_succeeded(r, EndStep::DeleteAccount) =>
        {
            AccountState::Deleted
        }
        _ => AccountState::Disabled,
    };
    let follow_ups = report.map(EndReport::failed_follow_ups).unwrap_or_default();
    let failing: Vec<(EndStep, String)> = report
        .map(|r| {
            r.failures()
                .filter(|(step, _)| follow_ups.contains(step))
                .map(|(step, e)| (step, e.to_string()))
                .collect()
        })
        .unwrap_or_default();
    let ended_at = now_ms();
    let notes: Vec<NewNote> = grant
        .ticket_ref
        .as_ref()
        .zip(grant.connector_id.as_ref())
        .map(|(t, c)| {
            let (title, body) =
                texts::ended(&account.upn, &customer.name, reason, ended_at, &failing);
            NewNote {
                connector_id: c.clone(),
                ticket_ref: t.clone(),
                kind: NoteKind::Ended,
                title,
                body,
            }
        })
        .into_iter()
        .collect();
    let outcome = if failing.is_empty() { "ok" } else { "partial" };
    let mut detail = format!("{reason}; account {state}; verified disabled with no roles");
    for (step, error) in &failing {
        detail.push_str(&format!("; {} failed (retrying): {error}", step.as_str()));
    }
    let mut audit = AuditEntry::new("system", "grant.end", outcome)
        .customer(&grant.customer_id)
        .technician(&grant.technician_id)
        .grant(&grant.id)
        .account(&account.upn)
        .detail(detail);
    if let Some(t) = tenant_id.as_deref().or(grant.tenant_id.as_deref()) {
        audit = audit.tenant(t);
    }
    if let Some(t) = &grant.ticket_ref {
        audit = audit.ticket(t);
    }
    if let Some(c) = &grant.connector_id {
        audit = audit.connector(c);
    }
    let ended = Ended {
        reason,
        account_state: state,
        steps: report.map(|r| steps_json(&r.steps, None)),
        follow_ups: join_steps(&follow_ups),
        follow_up_noted: !failing.is_empty() && !notes.is_empty(),
    };
    if store::grants::mark_ended(
        &ctx.db,
        &ctx.keyring,
        queue::OUTBOX,
        &grant.id,
        &ended,
        &notes,
        &audit,
    )
    .await?
    {
        ctx.metrics
            .grants_ended
            .get_or_create(&ReasonLabels {
                reason: reason.as_str(),
            })
            .inc();
        tracing::info!(grant = %grant.id, %reason, lateness_ms = ended_at - grant.expires_at, follow_ups = follow_ups.len(), "grant ended and verified");
        if !follow_ups.is_empty() {
            let next = EndJob {
                attempt: 1,
                ..EndJob::new(&grant.id)
            };
            let job = queue::Job::new(queue::END, &next)
                .after(follow_up_wait(report.and_then(EndReport::retry_after), 0))
                .key(format!("end:{}:follow-up", grant.id));
            queue::push(&ctx.db, job).await?;
        }
    }
    Ok(())
}

/// Retry the steps that still failed after the grant ended. Skipped (and forgotten) once the
/// account has a newer open grant: that grant's fresh password and sessions must stay.
async fn follow_up_locked(ctx: &JobContext, grant: &Grant, attempt: u32) -> Result<(), JobError> {
    let account = accounts::get(&ctx.db, &grant.account_id).await?;
    let newer_grant = store::grants::open_for_account(&ctx.db, &account.id).await?;
    let steps: Vec<EndStep> = grant
        .follow_ups()
        .iter()
        .filter_map(|s| EndStep::parse(s))
        .collect();
    let (Some(user_id), None) = (&account.entra_user_id, newer_grant) else {
        store::grants::record_follow_ups(
            &ctx.db,
            &grant.id,
            None,
            grant.end_steps.as_deref().unwrap_or("[]"),
            None,
        )
        .await?;
        return Ok(());
    };
    let tenant = match grant_tenant(ctx, grant, &account).await? {
        Ok(tenant) => tenant,
        Err(problem) => {
            return Err(JobError::retry(follow_up_wait(None, attempt), problem));
        }
    };
    let outcomes = ctx.graph.retry_end_steps(&tenant, user_id, &steps).await;
    for outcome in &outcomes {
        if outcome.result.is_err() {
            ctx.metrics
                .grant_end_step_failures
                .get_or_create(&StepLabels {
                    step: outcome.step.as_str(),
                })
                .inc();
        }
    }
    let remaining: Vec<EndStep> = outcomes
        .iter()
        .filter(|o| o.result.is_err())
        .map(|o| o.step)
        .collect();
    let merged = merge_steps(grant.end_steps.as_deref(), &outcomes);
    let audit = remaining.is_empty().then(|| {
        AuditEntry::new("system", "grant.end.follow_up", "ok")
            .customer(&grant.customer_id)
            .technician(&grant.technician_id)
            .grant(&grant.id)
            .tenant(&tenant.tenant_id)
            .account(&account.upn)
            .detail(format!(
                "{} now succeeded",
                join_steps(&steps).unwrap_or_default()
            ))
    });
    store::grants::record_follow_ups(
        &ctx.db,
        &grant.id,
        join_steps(&remaining).as_deref(),
        &merged,
        audit.as_ref(),
    )
    .await?;
    if remaining.is_empty() {
        tracing::info!(grant = %grant.id, "follow-up steps of an ended grant succeeded");
        return Ok(());
    }
    let wait = outcomes
        .iter()
        .filter_map(|o| o.result.as_ref().err().and_then(|e| e.retry_after()))
        .max();
    let summary = failure_summary(
        outcomes
            .iter()
            .filter_map(|o| o.result.as_ref().err().map(|e| (o.step, e))),
    );
    tracing::error!(grant = %grant.id, account = %account.upn, %summary, "follow-up steps of an ended grant still fail; retrying");
    Err(JobError::retry(follow_up_wait(wait, attempt), summary))
}

/// The customer's connection as the Graph client needs it, provided it still names the
/// tenant and app the grant was made in. `Ok(Err(problem))` when the grant cannot be ended
/// from here now; the problem says what to do.
async fn grant_tenant(
    ctx: &JobContext,
    grant: &Grant,
    account: &accounts::Account,
) -> Result<Result<Tenant, String>, JobError> {
    let (connection, tenant) = match super::tenant_of(ctx, &grant.customer_id).await {
        Ok(Some(found)) => found,
        Ok(None) => {
            return Ok(Err(
                "the customer's Entra connection or its client secret is missing; jitgate cannot \
                 reach the tenant the account lives in until it is set again"
                    .into(),
            ));
        }
        Err(StoreError::Crypto(e)) => {
            return Ok(Err(format!(
                "the customer's stored Entra client secret cannot be opened ({e}); check that \
                 jitgate runs with the master key that sealed it, or set the secret again"
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let bound_tenant = grant.tenant_id.as_deref().or(account.tenant_id.as_deref());
    let bound_client = grant.client_id.as_deref().or(account.client_id.as_deref());
    if let Some(bound) = bound_tenant
        && !bound.eq_ignore_ascii_case(&connection.tenant_id)
    {
        return Ok(Err(format!(
            "this grant's account lives in tenant {bound}, but the customer's Entra connection \
             now names tenant {}; jitgate ends access only in the tenant it was granted in. \
             Point the connection back at {bound} so the grant can end",
            connection.tenant_id
        )));
    }
    if let Some(client) = bound_client
        && !client.eq_ignore_ascii_case(&connection.client_id)
    {
        return Ok(Err(format!(
            "this grant was made through app {client}, but the customer's Entra connection now \
             names app {}; restore the app the grant was made with so it can end",
            connection.client_id
        )));
    }
    Ok(Ok(tenant))
}

fn step_succeeded(report: &EndReport, step: EndStep) -> bool {
    report
        .steps
        .iter()
        .any(|s| s.step == step && s.result.is_ok())
}

fn count_failed_steps(ctx: &JobContext, report: Option<&EndReport>) {
    for (step, _) in report.into_iter().flat_map(EndReport::failures) {
        ctx.metrics
            .grant_end_step_failures
            .get_or_create(&StepLabels {
                step: step.as_str(),
            })
            .inc();
    }
}

fn failure_summary<'a>(
    failures: impl Iterator<Item = (EndStep, &'a jitgate_graph::GraphError)>,
) -> String {
    failures
        .map(|(step, e)| format!("{}: {e}", step.as_str()))
        .collect::<Vec<_>>()
        .join("; ")
}

fn records(
    steps: &[StepOutcome],
    unverified: Option<&jitgate_graph::GraphError>,
) -> Vec<EndStepRecord> {
    let mut out: Vec<EndStepRecord> = steps
        .iter()
        .map(|s| EndStepRecord {
            step: s.step.as_str().into(),
            ok: s.result.is_ok(),
            detail: match &s.result {
                Ok(detail) => detail.clone(),
                Err(e) => e.to_string(),
            },
        })
        .collect();
    if !steps.is_empty() {
        out.push(EndStepRecord {
            step: EndStep::ReadBack.as_str().into(),
            ok: unverified.is_none(),
            detail: unverified
                .map(|e| e.to_string())
                .unwrap_or_else(|| "disabled with no role assignments".into()),
        });
    }
    out
}

fn steps_json(steps: &[StepOutcome], unverified: Option<&jitgate_graph::GraphError>) -> String {
    serde_json::to_string(&records(steps, unverified)).expect("records serialize")
}

/// The stored step records with the follow-up run's results in place of the earlier ones.
fn merge_steps(stored: Option<&str>, outcomes: &[StepOutcome]) -> String {
    let mut records: Vec<EndStepRecord> = stored
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    for fresh in records_of(outcomes) {
        match records.iter_mut().find(|r| r.step == fresh.step) {
            Some(r) => *r = fresh,
            None => records.push(fresh),
        }
    }
    serde_json::to_string(&records).expect("records serialize")
}

fn records_of(outcomes: &[StepOutcome]) -> Vec<EndStepRecord> {
    let mut all = records(outcomes, None);
    all.retain(|r| r.step != EndStep::ReadBack.as_str());
    all
}

fn join_steps(steps: &[EndStep]) -> Option<String> {
    (!steps.is_empty()).then(|| {
        steps
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(",")
    })
}

/// Follow-ups wait for an admin to fix something (a role, a permission): back off up to five
/// minutes, or as long as Graph asked.
fn follow_up_wait(asked: Option<Duration>, attempt: u32) -> Duration {
    let own = Duration::from_secs(2u64.saturating_pow(attempt.saturating_add(3)).min(300));
    asked.map_or(own, |a| a.max(own))
}

/// Count the failure loudly and retry with backoff; tell the ticket once it keeps failing.
async fn failed(
    ctx: &JobContext,
    grant: &Grant,
    account: &accounts::Account,
    error: &str,
    retry_after: Option<Duration>,
    steps: Option<&str>,
) -> Result<EndOutcome, JobError> {
    let attempts = store::grants::record_end_failure(&ctx.db, &grant.id, error, steps).await?;
    ctx.metrics.grant_end_failures.inc();
    tracing::error!(grant = %grant.id, account = %account.upn, attempts, %error, "could not end a grant; retrying");
    let mut audit = AuditEntry::new("system", "grant.end", "failed")
        .customer(&grant.customer_id)
        .technician(&grant.technician_id)
        .grant(&grant.id)
        .account(&account.upn)
        .detail(format!("attempt {attempts}: {error}"));
    if let Some(t) = &grant.tenant_id {
        audit = audit.tenant(t);
    }
    store::audit::record_event(&ctx.db, &audit).await?;
    if attempts == ctx.config.end_failure_note_after as i32
        && let (Some(t), Some(c)) = (&grant.ticket_ref, &grant.connector_id)
    {
        let (title, body) = texts::end_failing(&account.upn, attempts, error);
        let note = NewNote {
            connector_id: c.clone(),
            ticket_ref: t.clone(),
            kind: NoteKind::EndFailing,
            title,
            body,
        };
        store::grants::add_note(&ctx.db, &ctx.keyring, queue::OUTBOX, &note, Some(&grant.id))
            .await?;
    }
    let after = retry_after.unwrap_or_else(|| backoff(attempts.max(1) as u32 - 1));
    Err(JobError::retry(after, error.to_string()))
}

/// Ask for an early end (`ended_by_admin`, `cancelled`, `delegation_removed`, …) in `tx`, and
/// queue it to run at once when `tx` commits. `false` if the grant has already ended.
pub async fn request_end(
    tx: &mut store::Tx,
    grant_id: &str,
    reason: EndReason,
) -> Result<bool, StoreError> {
    if !store::grants::request_end(tx, grant_id, reason).await? {
        return Ok(false);
    }
    let job =
        queue::Job::new(queue::END, &EndJob::new(grant_id)).key(format!("end:{grant_id}:early"));
    tx.push_job(&job).await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follow_up_waits_grow_to_five_minutes_and_honour_graph() {
        assert_eq!(follow_up_wait(None, 0), Duration::from_secs(8));
        assert_eq!(follow_up_wait(None, 20), Duration::from_secs(300));
        assert_eq!(
            follow_up_wait(Some(Duration::from_secs(600)), 0),
            Duration::from_secs(600)
        );
    }

    #[test]
    fn merged_steps_replace_earlier_results() {
        let stored = r#"[{"step":"disable","ok":true,"detail":"disabled"},{"step":"rotate_password","ok":false,"detail":"403"}]"#;
        let fresh = [StepOutcome {
            step: EndStep::RotatePassword,
            result: Ok("password rotated".into()),
        }];
        let merged: Vec<EndStepRecord> =
            serde_json::from_str(&merge_steps(Some(stored), &fresh)).unwrap();
        assert_eq!(merged.len(), 2);
        assert!(merged.iter().all(|r| r.ok));
    }
}
