//! Running the apalis workers for the three queues on whichever database is configured.
//!
//! A worker looks for jobs when a job is queued on its queue (SQLite: a signal from the push, see
//! `store::job_signal`; PostgreSQL: apalis's `LISTEN` on inserts of due jobs) and every
//! `poll_interval` (jobs due later, retries, and anything a wake-up missed). Without the wake-up
//! each job of a chain waited for the next poll (apalis-sqlite polls every 30 s unless a
//! poll interval is set).

use super::end::EndJob;
use super::note::NoteJob;
use super::provision::ProvisionJob;
use super::{JobContext, end, note, provision, queue};
use crate::store::Db;
use crate::store::job_signal;
use crate::supervision::Part;
use apalis::prelude::{BackendExt, Monitor, Strategy, WorkerBuilder, WorkerBuilderExt};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Heartbeat of each worker. apalis re-queues a crashed worker's jobs after two missed beats,
/// so this bounds recovery after a crash (its default, 30 s, would mean a minute).
const HEARTBEAT: Duration = Duration::from_secs(5);
/// Jobs one fetch claims at most (apalis's default is 10). A burst of requests is claimed in a
/// few fetches instead of one fetch per poll.
const FETCH_BATCH: usize = 50;

/// One worker on `$queue` of `$storage` (a concrete apalis storage type), run by its own
/// monitor until `shutdown`, as a part the application supervises: `$strategy(queue)` says
/// when it looks for jobs. One monitor per worker because apalis's monitor keeps running
/// while any of its workers does, so a worker that stopped (its backend failed, it panicked)
/// would go unnoticed behind the others. A macro because the SQLite and PostgreSQL storages
/// share no trait that spells their configuration.
macro_rules! worker_part {
    ($storage:ident, $config:ty, $pool:expr, $job:ty, $queue:expr, $short:literal, $handler:expr,
     $ctx:expr, $strategy:expr, $shutdown:expr, $timeout:expr) => {{
        let backend = $storage::<$job>::new($pool)
            .with_config(
                <$config>::default()
                    .queue($queue)
                    .batch_size(FETCH_BATCH.min($ctx.config.job_concurrency as usize))
                    .heartbeat_interval(HEARTBEAT),
            )
            .poll_with_strategy($strategy($queue));
        let ctx = $ctx.clone();
        // Jobs wait on Graph far more than they compute: a job waiting out a new user's
        // replication holds a slot but no Graph call and no CPU (see `job_concurrency`).
        let concurrency = ctx.config.job_concurrency as usize;
        let name = format!("{}-{}", $short, ctx.instance);
        let why = Arc::new(Mutex::new(None));
        let record = why.clone();
        let monitor = Monitor::new()
            .register(move |n| {
                WorkerBuilder::new(format!("{name}-{n}"))
                    .backend(backend.clone())
                    .data(ctx.clone())
                    .concurrency(concurrency)
                    .build($handler)
            })
            // No restart in place: the process exits and its supervisor (systemd, the
            // container runtime) starts it afresh, which also re-registers the worker.
            .should_restart(move |_, error| {
                *record.lock().expect("worker error slot") = Some(error.to_string());
                false
            })
            .shutdown_timeout($timeout);
        let shutdown = $shutdown.clone();
        Part::new(concat!($short, " worker"), async move {
            let ran = monitor
                .run_with_signal(async move {
                    shutdown.cancelled().await;
                    Ok(())
                })
                .await;
            worker_ended(ran, &why)
        })
    }};
}

/// The three workers (provision, note, expire) on whichever database is configured, each a
/// part that runs until `shutdown`; in-flight jobs get `timeout` to finish.
pub fn parts(
    ctx: &Arc<JobContext>,
    poll: Duration,
    timeout: Duration,
    shutdown: &CancellationToken,
) -> Vec<Part> {
    match ctx.db.clone() {
        Db::Sqlite(pool) => {
            use apalis_sqlite::{Config, SqliteStorage};
            // The interval first: it must stay armed whatever the stream does.
            let strategy = |queue: &str| {
                Strategy::new()
                    .interval(poll)
                    .stream(job_signal::queue(queue).subscribe())
            };
            vec![
                worker_part!(
                    SqliteStorage,
                    Config,
                    &pool,
                    ProvisionJob,
                    queue::PROVISION,
                    "provision",
                    provision::handle,
                    ctx,
                    strategy,
                    shutdown,
                    timeout
                ),
                worker_part!(
                    SqliteStorage,
                    Config,
                    &pool,
                    NoteJob,
                    queue::NOTE,
                    "note",
                    note::handle,
                    ctx,
                    strategy,
                    shutdown,
                    timeout
                ),
                worker_part!(
                    SqliteStorage,
                    Config,
                    &pool,
                    EndJob,
                    queue::END,
                    "end",
                    end::handle,
                    ctx,
                    strategy,
                    shutdown,
                    timeout
                ),
            ]
        }
        Db::Postgres(pool) => {
            use apalis_postgres::{Config, PostgresStorage};
            // One LISTEN connection per queue; a lost one leaves the interval polling.
            let strategy = |queue: &str| {
                Strategy::new()
                    .interval(poll)
                    .stream(apalis_postgres::Pubsub::new(
                        pool.clone(),
                        queue.to_string(),
                    ))
            };
            vec![
                worker_part!(
                    PostgresStorage,
                    Config,
                    &pool,
                    ProvisionJob,
                    queue::PROVISION,
                    "provision",
                    provision::handle,
                    ctx,
                    strategy,
                    shutdown,
                    timeout
                ),
                worker_part!(
                    PostgresStorage,
                    Config,
                    &pool,
                    NoteJob,
                    queue::NOTE,
                    "note",
                    note::handle,
                    ctx,
                    strategy,
                    shutdown,
                    timeout
                ),
                worker_part!(
                    PostgresStorage,
                    Config,
                    &pool,
                    EndJob,
                    queue::END,
                    "end",
                    end::handle,
                    ctx,
                    strategy,
                    shutdown,
                    timeout
                ),
            ]
        }
    }
}

/// How a worker's monitor ended, as the supervisor needs it: the error that stopped the
/// worker if there was one (apalis's monitor returns `Ok` even then when it has a shutdown
/// timeout, so the error is taken from the restart callback).
fn worker_ended(
    ran: Result<(), apalis::prelude::MonitorError>,
    why: &Mutex<Option<String>>,
) -> Result<(), String> {
    if let Some(error) = why.lock().expect("worker error slot").take() {
        return Err(error);
    }
    ran.map_err(|e| e.to_string())
}
