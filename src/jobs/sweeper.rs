//! The sweeper: every `sweep_interval`, every grant that is past its expiry (or asked to end)
//! and not yet ended gets its end run, whatever happened to its `expire` job. This is what
//! guarantees that an outage, a lost job or a restart cannot leave an admin enabled (I3).

use super::end::EndJob;
use super::end::{EndOutcome, end_grant};
use super::note::NoteJob;
use super::provision::ProvisionJob;
use super::{JobContext, JobError, queue};
use crate::domain::ids::{GrantId, NoteId, RequestId};
use crate::store;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long one sweeper claim on a grant lasts; a crashed process's claims lapse after this.
const LEASE_MS: i64 = 120_000;

/// Pass every `interval`, and also right when the next grant expires: then an expiry is
/// ended at its time to the millisecond, while its `expire` job (apalis-sqlite schedules in
/// whole seconds, then waits for a poll) comes later and finds it done.
pub async fn run(ctx: Arc<JobContext>, interval: Duration, shutdown: CancellationToken) {
    let mut last_rescue: Option<std::time::Instant> = None;
    loop {
        // Lost work is looked for at the regular pace only, not at every expiry-driven pass.
        if last_rescue.is_none_or(|at| at.elapsed() >= interval) {
            last_rescue = Some(std::time::Instant::now());
            if let Err(e) = rescue_lost_work(&ctx).await {
                tracing::error!(error = %e, "lost-job rescue failed");
            }
        }
        let started = std::time::Instant::now();
        let result = sweep(&ctx, interval).await;
        let took = started.elapsed();
        ctx.metrics
            .sweeper_last_pass_seconds
            .set(took.as_secs_f64());
        ctx.metrics.sweeper_passes.inc();
        match result {
            Ok(ended) => tracing::debug!(ended, took_ms = took.as_millis() as u64, "sweeper pass"),
            Err(e) => {
                ctx.metrics.sweeper_failed_passes.inc();
                tracing::error!(error = %e, "sweeper pass failed")
            }
        }
        let wait = until_next_pass(&ctx, interval).await;
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// The next regular pass, or sooner: the next expiry, or the moment an overdue grant's hold
/// lapses (its end had to wait: throttled, the account busy). Grants created after this look
/// are seen at the following pass at the latest (any grant lasts at least a minute unless
/// `jit_duration` is set shorter).
async fn until_next_pass(ctx: &JobContext, interval: Duration) -> Duration {
    let now = store::now_ms();
    let soonest = async {
        let expiry = store::grants::next_expiry(&ctx.db, now).await?;
        let hold_end = store::grants::next_hold_end(&ctx.db, now).await?;
        Ok::<_, store::StoreError>(expiry.into_iter().chain(hold_end).min())
    };
    match soonest.await {
        // A millisecond past it, so `expires_at <= now` (or `lease_until < now`) holds when
        // the pass runs.
        Ok(Some(at)) => interval.min(Duration::from_millis((at - now + 1).max(1) as u64)),
        Ok(None) => interval,
        Err(e) => {
            tracing::warn!(error = %e, "sweeper could not read when the next grant is due");
            interval
        }
    }
}

/// A request or note no job touched for this long lost its job (a crash apalis did not
/// recover, apalis-sqlite #58): it gets a new one. Jobs retrying with backoff touch their work
/// at least every minute, so this does not fire for them.
const LOST_AFTER_MS: i64 = 180_000;

/// Push new jobs for requests and notes whose job was lost. Handlers are idempotent, so a
/// rescue that races a slow original does no harm.
pub async fn rescue_lost_work(ctx: &JobContext) -> Result<(), store::StoreError> {
    let bucket = store::now_ms() / LOST_AFTER_MS;
    for id in store::deliveries::take_stale_requests(&ctx.db, LOST_AFTER_MS, 100).await? {
        tracing::warn!(request = %id, "a provisioning request lost its job; queueing it again");
        let job = ProvisionJob {
            request_id: RequestId::new(id.clone()),
            attempt: 0,
            waits: 0,
        };
        queue::push(
            &ctx.db,
            queue::Job::new(queue::PROVISION, &job).key(format!("provision:{id}:rescue{bucket}")),
        )
        .await?;
    }
    for id in store::notes::take_stale(&ctx.db, LOST_AFTER_MS, 100).await? {
        tracing::warn!(note = %id, "a ticket note lost its job; queueing it again");
        let job = NoteJob {
            note_id: NoteId::new(id.clone()),
            attempt: 0,
            waits: 0,
        };
        queue::push(
            &ctx.db,
            queue::Job::new(queue::NOTE, &job).key(format!("note:{id}:rescue{bucket}")),
        )
        .await?;
    }
    let follow_ups = store::grants::count_follow_ups(&ctx.db).await?;
    ctx.metrics.grants_with_failing_follow_ups.set(follow_ups);
    // Follow-up steps of ended grants back off to five minutes between runs; one untouched
    // for twice that lost its job.
    for id in store::grants::stale_follow_ups(&ctx.db, FOLLOW_UP_LOST_AFTER_MS, 100).await? {
        tracing::warn!(grant = %id, "follow-up steps of an ended grant lost their job; queueing them again");
        let job = EndJob {
            grant_id: GrantId::new(id.clone()),
            attempt: 0,
            waits: 0,
        };
        queue::push(
            &ctx.db,
            queue::Job::new(queue::END, &job).key(format!("end:{id}:rescue{bucket}")),
        )
        .await?;
    }
    Ok(())
}

/// Ended grants whose follow-up steps nobody retried for this long lost their job.
const FOLLOW_UP_LOST_AFTER_MS: i64 = 10 * 60 * 1000;

/// One pass: claim due grants and end them, `job_concurrency` at a time, until none is due.
/// Slots are refilled as ends finish, and grants that come due while the pass runs (an
/// expiry, an End now) are claimed then, not after the pass: at 9 am or 1 pm many grants end
/// within the same minute. Returns how many ended. A failure that belongs to one grant (its
/// storage, a panic in its end) is logged, counted in `jitgate_sweeper_grant_errors_total`,
/// and the pass goes on with the other grants; the failed grant is tried again at a later
/// pass. A failure to claim grants at all ends the pass once the ends in flight are done.
pub async fn sweep(ctx: &Arc<JobContext>, interval: Duration) -> Result<usize, store::StoreError> {
    let overdue = store::grants::count_overdue(&ctx.db).await?;
    ctx.metrics.overdue_grants.set(overdue);
    let slots = ctx.config.job_concurrency as usize;
    let mut ends = Ends::default();
    let mut pending = std::collections::VecDeque::new();
    // When the last claim found nothing due: claim again only once the next grant is due.
    let mut idle_until: Option<tokio::time::Instant> = None;
    let mut claim_error = None;
    loop {
        let may_claim = idle_until.is_none_or(|at| tokio::time::Instant::now() >= at);
        // Claim in batches, not one grant per finished end (a claim is a write).
        let room = slots - ends.len().min(slots);
        if pending.is_empty() && room >= (slots / 10).max(1) && may_claim && claim_error.is_none() {
            let room = room.min(CLAIM_BATCH);
            match store::grants::claim_due(&ctx.db, &ctx.instance, LEASE_MS, room as i64).await {
                // Nothing due and nothing running: the pass is over (`run` finds the next).
                Ok(claimed) if claimed.is_empty() && ends.is_empty() => return Ok(ends.ended),
                Ok(claimed) if claimed.is_empty() => {
                    idle_until =
                        Some(tokio::time::Instant::now() + until_next_pass(ctx, interval).await);
                }
                Ok(claimed) => {
                    idle_until = None;
                    pending.extend(claimed);
                }
                Err(e) => claim_error = Some(e),
            }
        }
        while ends.len() < slots {
            let Some(id) = pending.pop_front() else { break };
            ends.start(ctx, id);
        }
        if ends.is_empty() {
            return match claim_error {
                Some(e) => Err(e),
                None => Ok(ends.ended),
            };
        }
        let wake = idle_until.filter(|_| claim_error.is_none());
        // Only the join is raced (it is cancel-safe); recording the outcome is not.
        tokio::select! {
            Some(done) = ends.tasks.join_next_with_id() => ends.record(ctx, done).await,
            _ = sleep_until_or_forever(wake) => idle_until = None,
        }
    }
}

/// Grants a claim takes at most (a pass claims again as slots free up).
const CLAIM_BATCH: usize = 100;

async fn sleep_until_or_forever(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The ends one pass runs at once.
#[derive(Default)]
struct Ends {
    tasks: tokio::task::JoinSet<Result<EndOutcome, JobError>>,
    grant_of: std::collections::HashMap<tokio::task::Id, String>,
    ended: usize,
}

impl Ends {
    fn len(&self) -> usize {
        self.tasks.len()
    }

    fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    fn start(&mut self, ctx: &Arc<JobContext>, id: String) {
        let task_ctx = ctx.clone();
        let task_id = id.clone();
        let handle = self
            .tasks
            .spawn(async move { end_grant(&task_ctx, &task_id).await });
        self.grant_of.insert(handle.id(), id);
    }

    /// Records how one end finished.
    async fn record(
        &mut self,
        ctx: &JobContext,
        done: Result<(tokio::task::Id, Result<EndOutcome, JobError>), tokio::task::JoinError>,
    ) {
        let (id, result) = match done {
            Ok((task, outcome)) => {
                let id = self.grant_of.remove(&task).expect("every task is named");
                let settled = settle(ctx, &id, outcome).await.map_err(|e| e.to_string());
                (id, settled)
            }
            Err(e) => {
                let id = self.grant_of.remove(&e.id()).expect("every task is named");
                (id, Err(panic_text(e)))
            }
        };
        match result {
            Ok(true) => self.ended += 1,
            Ok(false) => {}
            Err(error) => {
                ctx.metrics.sweeper_grant_errors.inc();
                tracing::error!(grant = %id, %error, "sweeper could not end a grant; going on with the others");
                // Keep it out of this pass (no endless loop on one grant) but retry it soon.
                if let Err(e) = hold(ctx, &id, RETRY_AFTER_ERROR).await {
                    tracing::warn!(grant = %id, error = %e, "could not shorten the sweeper's claim; it lapses on its own");
                }
            }
        }
    }
}

/// A grant whose end failed on storage is tried again after this long (its claim is held
/// until then; if even that write fails, the claim lapses after `LEASE_MS`).
const RETRY_AFTER_ERROR: Duration = Duration::from_secs(5);

/// Record one grant's outcome. `Ok(true)` if it ended now.
async fn settle(
    ctx: &JobContext,
    id: &str,
    outcome: Result<EndOutcome, JobError>,
) -> Result<bool, store::StoreError> {
    match outcome {
        Ok(EndOutcome::Ended) => return Ok(true),
        // Extended since it was claimed: free it for the future.
        Ok(EndOutcome::NotDue) => store::grants::release_lease(&ctx.db, id, &ctx.instance).await?,
        // Keep the claim for the wait asked for: the next pass after it tries again.
        Err(JobError::Wait { after, .. }) => hold(ctx, id, after).await?,
        Err(JobError::Retry { after, reason }) => {
            tracing::warn!(grant = %id, %reason, "sweeper could not end a grant yet");
            hold(ctx, id, after).await?
        }
        Err(JobError::Store(e)) => return Err(e),
    }
    Ok(false)
}

async fn hold(ctx: &JobContext, id: &str, after: Duration) -> Result<(), store::StoreError> {
    store::grants::hold_lease(&ctx.db, id, &ctx.instance, after.as_millis() as i64).await
}

/// What a failed end task said, for the log (a panic's message, or that it was cancelled).
fn panic_text(e: tokio::task::JoinError) -> String {
    if !e.is_panic() {
        return "the end task was cancelled".into();
    }
    let payload = e.into_panic();
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    format!("the end task panicked: {text}")
}
