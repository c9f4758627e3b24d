//! Accepting a webhook delivery: the delivery key, the request row and its provisioning job
//! in one transaction, so a redelivery or a crash can neither lose nor double a request.

use super::{BeginWrite, Db, Result, new_id, now_ms, on_db};
use crate::domain::lifecycle::{RequestKind, RequestSource, RequestStatus};
use crate::store::queue::{Outbox, PushJob};

/// What a verified delivery asks for.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub connector_id: String,
    pub delivery_key: String,
    pub kind: RequestKind,
    pub ticket_ref: Option<String>,
    pub psa_company_id: Option<String>,
    /// JSON of the normalized actor.
    pub actor: Option<String>,
    pub duration_secs: Option<i64>,
    /// Level triggers (a field left set) latch the ticket until the trigger is reset or seen
    /// cleared, so later updates of the same ticket do not request again.
    pub latch_ticket: bool,
    /// The delivery lacked the fields to decide its trigger (a ConnectWise summarized
    /// payload): the provision job reads the ticket and decides first.
    pub undecided: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Accepted {
    New {
        request_id: String,
    },
    /// The delivery key was seen before: a redelivery.
    Duplicate,
    /// The ticket's trigger is still latched from an earlier request.
    StillTriggered,
}

pub async fn accept(db: &Db, outbox: &dyn Outbox, incoming: &Incoming) -> Result<Accepted> {
    let now = now_ms();
    let request_id = new_id("req");
    on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let fresh = sqlx::query(
            "INSERT INTO deliveries (connector_id, delivery_key, received_at, request_id) VALUES ($1, $2, $3, $4)
             ON CONFLICT (connector_id, delivery_key) DO NOTHING")
            .bind(&incoming.connector_id).bind(&incoming.delivery_key).bind(now).bind(&request_id)
            .execute(&mut *tx).await?.rows_affected();
        if fresh == 0 {
            return Ok(Accepted::Duplicate);
        }
        if let (true, Some(ticket)) = (incoming.latch_ticket, &incoming.ticket_ref) {
            let latched = sqlx::query(
                "INSERT INTO trigger_latches (connector_id, ticket_ref, latched_at) VALUES ($1, $2, $3)
                 ON CONFLICT (connector_id, ticket_ref) DO NOTHING")
                .bind(&incoming.connector_id).bind(ticket).bind(now)
                .execute(&mut *tx).await?.rows_affected();
            if latched == 0 {
                // Roll back: a still-set trigger stores nothing, not even its delivery key.
                return Ok(Accepted::StillTriggered);
            }
        }
        sqlx::query(
            "INSERT INTO jit_requests (id, connector_id, delivery_key, kind, ticket_ref, psa_company_id, actor,
                 duration_secs, status, created_at, updated_at, undecided)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $9, $10)")
            .bind(&request_id).bind(&incoming.connector_id).bind(&incoming.delivery_key).bind(incoming.kind)
            .bind(&incoming.ticket_ref).bind(&incoming.psa_company_id).bind(&incoming.actor)
            .bind(incoming.duration_secs).bind(now).bind(incoming.undecided)
            .execute(&mut *tx).await?;
        (*tx).push_job(&outbox.provision(&request_id)).await?;
        tx.commit().await?;
    });
    Ok(Accepted::New { request_id })
}

/// The trigger was seen cleared, or reset by jitgate: the next set requests again.
pub async fn release_latch(db: &Db, connector_id: &str, ticket_ref: &str) -> Result<()> {
    on_db!(db, pool => sqlx::query("DELETE FROM trigger_latches WHERE connector_id = $1 AND ticket_ref = $2")
        .bind(connector_id).bind(ticket_ref).execute(pool).await?.rows_affected());
    Ok(())
}

/// A JIT request, from a PSA delivery or the portal.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RequestRow {
    pub id: String,
    /// The PSA connector; `None` for a portal request without a ticket.
    pub connector_id: Option<String>,
    /// The delivery's key; `None` for a portal request.
    pub delivery_key: Option<String>,
    pub kind: RequestKind,
    pub ticket_ref: Option<String>,
    pub psa_company_id: Option<String>,
    pub actor: Option<String>,
    pub duration_secs: Option<i64>,
    pub status: RequestStatus,
    pub status_detail: Option<String>,
    pub customer_id: Option<String>,
    pub technician_id: Option<String>,
    pub grant_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub source: RequestSource,
    /// The signed-in technician who asked in the portal.
    pub requested_by: Option<String>,
    /// The technician's own words (portal), shown in the audit trail.
    pub reason: Option<String>,
}

impl RequestRow {
    /// The connector and ticket a note about this request goes to, when it has both.
    pub fn ticket_of_connector(&self) -> Option<(&str, &str)> {
        Some((self.connector_id.as_deref()?, self.ticket_ref.as_deref()?))
    }
}

pub async fn request(db: &Db, id: &str) -> Result<Option<RequestRow>> {
    Ok(
        on_db!(db, pool => sqlx::query_as("SELECT * FROM jit_requests WHERE id = $1").bind(id).fetch_optional(pool).await?),
    )
}

pub async fn count_requests(db: &Db, connector_id: &str) -> Result<i64> {
    Ok(
        on_db!(db, pool => sqlx::query_scalar("SELECT COUNT(*) FROM jit_requests WHERE connector_id = $1")
        .bind(connector_id).fetch_one(pool).await?),
    )
}

/// Whether a JIT request of the same connector and ticket (or, without a ticket, the same
/// actor) accepted before `req` is still pending.
pub async fn earlier_request_pending(db: &Db, req: &RequestRow) -> Result<bool> {
    let n: i64 = on_db!(db, pool => sqlx::query_scalar(
        "SELECT COUNT(*) FROM jit_requests
         WHERE connector_id = $1 AND kind = 'request' AND status = 'pending' AND id <> $2
           AND created_at <= $3 AND (ticket_ref = $4 OR actor = $5)")
        .bind(&req.connector_id).bind(&req.id).bind(req.created_at).bind(&req.ticket_ref).bind(&req.actor)
        .fetch_one(pool).await?);
    Ok(n > 0)
}

/// Jobs waiting in a queue (for tests and the benchmark's checks).
pub async fn queued_jobs(db: &Db, queue_name: &str) -> Result<i64> {
    Ok(match db {
        Db::Sqlite(pool) => {
            sqlx::query_scalar("SELECT COUNT(*) FROM Jobs WHERE job_type = $1")
                .bind(queue_name)
                .fetch_one(pool)
                .await?
        }
        Db::Postgres(pool) => {
            sqlx::query_scalar("SELECT COUNT(*) FROM apalis.jobs WHERE job_type = $1")
                .bind(queue_name)
                .fetch_one(pool)
                .await?
        }
    })
}

/// A job is working on the request: it is not lost.
pub async fn touch_request(db: &Db, id: &str) -> Result<()> {
    on_db!(db, pool => sqlx::query("UPDATE jit_requests SET updated_at = $1 WHERE id = $2 AND status = 'pending'")
        .bind(now_ms()).bind(id).execute(pool).await?.rows_affected());
    Ok(())
}

/// Requests still pending that no job touched for `idle_ms`: their job was lost. Marks them
/// touched so the rescue happens once per idle period.
pub async fn take_stale_requests(db: &Db, idle_ms: i64, limit: i64) -> Result<Vec<String>> {
    let now = now_ms();
    Ok(on_db!(db, pool => sqlx::query_scalar(
        "UPDATE jit_requests SET updated_at = $1
         WHERE id IN (SELECT id FROM jit_requests WHERE status = 'pending' AND updated_at < $2 ORDER BY updated_at LIMIT $3)
           AND status = 'pending' AND updated_at < $2
         RETURNING id")
        .bind(now).bind(now - idle_ms).bind(limit).fetch_all(pool).await?))
}
