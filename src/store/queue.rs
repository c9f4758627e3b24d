//! Pushing jobs into apalis's tables, inside the caller's transaction where it matters
//! (a request row and its provisioning job commit together or not at all).
//!
//! The store knows how to persist a job, not what jobs exist: payloads and queue names belong
//! to the job layer, which hands the store an [`Outbox`] that builds the jobs a store
//! transaction queues with its rows.

use crate::store::{Result, StoreError};
use apalis::prelude::TaskBuilder;
use serde::Serialize;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A job ready to be pushed: JSON args (apalis's JSON codec), when to run, and a key that makes
/// a second push of the same logical job a no-op.
#[derive(Debug, Clone)]
pub struct Job {
    pub queue: &'static str,
    args: Vec<u8>,
    run_at_secs: Option<u64>,
    idempotency_key: Option<String>,
}

impl Job {
    pub fn new<T: Serialize>(queue: &'static str, args: &T) -> Job {
        Job {
            queue,
            args: serde_json::to_vec(args).expect("job args serialize"),
            run_at_secs: None,
            idempotency_key: None,
        }
    }

    /// Run no earlier than `at_ms` (Unix ms). apalis stores whole seconds, so round up: a job
    /// must never run before its time.
    pub fn at_ms(mut self, at_ms: i64) -> Job {
        self.run_at_secs = Some((at_ms.max(0) as u64).div_ceil(1000));
        self
    }

    pub fn after(self, delay: Duration) -> Job {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970");
        self.at_ms((now + delay).as_millis() as i64)
    }

    pub fn key(mut self, key: impl Into<String>) -> Job {
        self.idempotency_key = Some(key.into());
        self
    }

    fn task(&self) -> apalis::prelude::Task<Vec<u8>> {
        // Handlers report their own failures and reschedule with a delay; apalis's own retries
        // happen at once and only guard against a crash or a database hiccup mid-handler.
        let mut b = TaskBuilder::new(self.args.clone()).max_attempts(3);
        if let Some(t) = self.run_at_secs {
            b = b.run_at_timestamp(t);
        }
        if let Some(k) = &self.idempotency_key {
            b = b.idempotency_key(k);
        }
        b.build()
    }
}

/// Push a job on an open connection or transaction of either database.
pub trait PushJob {
    fn push_job(&mut self, job: &Job) -> impl std::future::Future<Output = Result<()>> + Send;
}

impl PushJob for sqlx::SqliteConnection {
    async fn push_job(&mut self, job: &Job) -> Result<()> {
        apalis_sqlite::queries::push_tasks(self, job.queue, &[job.task()])
            .await
            .map_err(|e| StoreError::Queue(e.to_string()))?;
        // Wake that queue's worker now rather than at its next poll (PostgreSQL: apalis's
        // trigger NOTIFYs on commit).
        crate::store::job_signal::queued(job.queue);
        Ok(())
    }
}

impl PushJob for sqlx::PgConnection {
    async fn push_job(&mut self, job: &Job) -> Result<()> {
        apalis_postgres::queries::push_tasks(self, job.queue, vec![job.task()])
            .await
            .map_err(|e| StoreError::Queue(e.to_string()))
    }
}

/// The jobs store transactions queue with the rows they write, built by the job layer.
pub trait Outbox: Send + Sync {
    /// Provision the request `request_id` (queued with the accepted delivery).
    fn provision(&self, request_id: &str) -> Job;
    /// Post the ticket note `note_id` (queued with the note row).
    fn note(&self, note_id: &str) -> Job;
    /// End the grant at its expiry `at_ms`; `version` tells an extension's job apart.
    fn end_at(&self, grant_id: &str, at_ms: i64, version: i32) -> Job;
}

/// Push one job on its own.
pub async fn push(db: &crate::store::Db, job: Job) -> Result<()> {
    crate::store::on_db!(db, pool => {
        let mut conn = pool.acquire().await?;
        conn.push_job(&job).await
    })
}
