//! Running the apalis workers for the three queues on whichever database is configured.
//!
//! A worker looks for jobs when a job is queued on its queue (SQLite: a signal from the push, see
//! `store::job_signal`; PostgreSQL: apalis's `LISTEN` on inserts of due jobs) and every
//! `poll_interval` (jobs due later, retries, and anything a wake-up missed). Without the wake-up
//! each job of a chain waited for the next poll (reference/stack.md §2.4).

use super::{JobContext, end, note, provision, queue};
use crate::store::Db;
use crate::store::deliveries::ProvisionJob;
use crate::store::grants::{ExpireJob, NoteJob};
use crate::store::job_signal;
use apalis::prelude::{BackendExt, Monitor, Strategy, WorkerBuilder, WorkerBuilderExt};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Heartbeat of each worker. apalis re-queues a crashed worker's jobs after two missed beats,
/// so this bounds recovery after a crash (its default, 30 s, would mean a minute).
const HEARTBEAT: Duration = Duration::from_secs(5);
/// Jobs one worker runs at once.
const CONCURRENCY: usize = 8;

/// Build one worker per queue on `$storage` (a concrete apalis storage type) and run them
/// until `shutdown`; `$strategy(queue)` says when each one looks for jobs. A macro because the
/// SQLite and PostgreSQL storages share no trait that spells their configuration.
macro_rules! run_monitor {
    ($storage:ident, $config:ty, $pool:expr, $ctx:expr, $strategy:expr, $shutdown:expr, $timeout:expr) => {{
        let config = |q: &str| <$config>::default().queue(q).heartbeat_interval(HEARTBEAT);
        let provision_backend = $storage::<ProvisionJob>::new($pool)
            .with_config(config(queue::PROVISION))
            .poll_with_strategy($strategy(queue::PROVISION));
        let note_backend = $storage::<NoteJob>::new($pool)
            .with_config(config(queue::NOTE))
            .poll_with_strategy($strategy(queue::NOTE));
        let expire_backend = $storage::<ExpireJob>::new($pool)
            .with_config(config(queue::EXPIRE))
            .poll_with_strategy($strategy(queue::EXPIRE));
        let instance = $ctx.instance.clone();
        let (c1, c2, c3) = ($ctx.clone(), $ctx.clone(), $ctx.clone());
        let (i1, i2, i3) = (instance.clone(), instance.clone(), instance);
        Monitor::new()
            .register(move |n| {
                WorkerBuilder::new(format!("provision-{i1}-{n}"))
                    .backend(provision_backend.clone())
                    .data(c1.clone())
                    .concurrency(CONCURRENCY)
                    .build(provision::handle)
            })
            .register(move |n| {
                WorkerBuilder::new(format!("note-{i2}-{n}"))
                    .backend(note_backend.clone())
                    .data(c2.clone())
                    .concurrency(CONCURRENCY)
                    .build(note::handle)
            })
            .register(move |n| {
                WorkerBuilder::new(format!("expire-{i3}-{n}"))
                    .backend(expire_backend.clone())
                    .data(c3.clone())
                    .concurrency(CONCURRENCY)
                    .build(end::handle)
            })
            .shutdown_timeout($timeout)
            .run_with_signal(async move {
                $shutdown.cancelled().await;
                Ok(())
            })
            .await
    }};
}

/// Run the workers until `shutdown` is cancelled; in-flight jobs get `timeout` to finish.
pub async fn run(
    ctx: Arc<JobContext>,
    poll: Duration,
    timeout: Duration,
    shutdown: CancellationToken,
) {
    let result = match ctx.db.clone() {
        Db::Sqlite(pool) => {
            use apalis_sqlite::SqliteStorage;
            // The interval first: it must stay armed whatever the stream does.
            let strategy = |queue: &str| {
                Strategy::new()
                    .interval(poll)
                    .stream(job_signal::queue(queue).subscribe())
            };
            run_monitor!(
                SqliteStorage,
                apalis_sqlite::Config,
                &pool,
                ctx,
                strategy,
                shutdown,
                timeout
            )
        }
        Db::Postgres(pool) => {
            use apalis_postgres::PostgresStorage;
            // One LISTEN connection per queue; a lost one leaves the interval polling.
            let strategy = |queue: &str| {
                Strategy::new()
                    .interval(poll)
                    .stream(apalis_postgres::Pubsub::new(
                        pool.clone(),
                        queue.to_string(),
                    ))
            };
            run_monitor!(
                PostgresStorage,
                apalis_postgres::Config,
                &pool,
                ctx,
                strategy,
                shutdown,
                timeout
            )
        }
    };
    if let Err(e) = result {
        tracing::error!(error = %e, "job workers stopped with an error");
    }
}
