//! Running the apalis workers for the three queues on whichever database is configured.

use super::{JobContext, end, note, provision, queue};
use crate::store::Db;
use crate::store::deliveries::ProvisionJob;
use crate::store::grants::{ExpireJob, NoteJob};
use apalis::prelude::{BackendExt, Monitor, WorkerBuilder, WorkerBuilderExt};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Heartbeat of each worker. apalis re-queues a crashed worker's jobs after two missed beats,
/// so this bounds recovery after a crash (its default, 30 s, would mean a minute).
const HEARTBEAT: Duration = Duration::from_secs(5);
/// Jobs one worker runs at once.
const CONCURRENCY: usize = 8;

/// Build one worker per queue on `$storage` (a concrete apalis storage type) and run them
/// until `shutdown`. A macro because the SQLite and PostgreSQL storages share no trait
/// that spells their configuration.
macro_rules! run_monitor {
    ($storage:ident, $config:ty, $pool:expr, $ctx:expr, $poll:expr, $shutdown:expr, $timeout:expr) => {{
        let config = |q: &str| <$config>::default().queue(q).heartbeat_interval(HEARTBEAT);
        let provision_backend = $storage::<ProvisionJob>::new($pool)
            .with_config(config(queue::PROVISION))
            .poll_with_interval($poll);
        let note_backend = $storage::<NoteJob>::new($pool)
            .with_config(config(queue::NOTE))
            .poll_with_interval($poll);
        let expire_backend = $storage::<ExpireJob>::new($pool)
            .with_config(config(queue::EXPIRE))
            .poll_with_interval($poll);
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
            run_monitor!(
                SqliteStorage,
                apalis_sqlite::Config,
                &pool,
                ctx,
                poll,
                shutdown,
                timeout
            )
        }
        Db::Postgres(pool) => {
            use apalis_postgres::PostgresStorage;
            run_monitor!(
                PostgresStorage,
                apalis_postgres::Config,
                &pool,
                ctx,
                poll,
                shutdown,
                timeout
            )
        }
    };
    if let Err(e) = result {
        tracing::error!(error = %e, "job workers stopped with an error");
    }
}
