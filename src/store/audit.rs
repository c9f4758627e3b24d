//! The audit trail: one row per step anyone or anything took.

use super::{Db, Result, Tx, new_id, now_ms, on_db, on_tx};
use serde::Serialize;

#[derive(Debug, Clone, Default, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: String,
    /// Unix milliseconds.
    pub at: i64,
    /// `token:<id>`, `technician:<id>`, `psa:<connector id>` or `system`.
    pub actor: String,
    pub action: String,
    /// `ok`, `refused` or `failed`.
    pub outcome: String,
    pub customer_id: Option<String>,
    pub technician_id: Option<String>,
    pub grant_id: Option<String>,
    pub connector_id: Option<String>,
    pub ticket_ref: Option<String>,
    pub tenant_id: Option<String>,
    pub account_upn: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub detail: Option<String>,
    /// The browser sign-in session the step was taken in (console and portal).
    pub session_id: Option<String>,
}

impl AuditEntry {
    pub fn new(actor: impl Into<String>, action: impl Into<String>, outcome: &str) -> Self {
        AuditEntry {
            id: new_id("aud"),
            at: now_ms(),
            actor: actor.into(),
            action: action.into(),
            outcome: outcome.into(),
            ..Default::default()
        }
    }
    pub fn customer(mut self, id: impl Into<String>) -> Self {
        self.customer_id = Some(id.into());
        self
    }
    pub fn technician(mut self, id: impl Into<String>) -> Self {
        self.technician_id = Some(id.into());
        self
    }
    pub fn grant(mut self, id: impl Into<String>) -> Self {
        self.grant_id = Some(id.into());
        self
    }
    pub fn connector(mut self, id: impl Into<String>) -> Self {
        self.connector_id = Some(id.into());
        self
    }
    pub fn ticket(mut self, t: impl Into<String>) -> Self {
        self.ticket_ref = Some(t.into());
        self
    }
    pub fn tenant(mut self, t: impl Into<String>) -> Self {
        self.tenant_id = Some(t.into());
        self
    }
    pub fn account(mut self, upn: impl Into<String>) -> Self {
        self.account_upn = Some(upn.into());
        self
    }
    pub fn client(mut self, ip: Option<String>, user_agent: Option<String>) -> Self {
        self.ip = ip;
        self.user_agent = user_agent;
        self
    }
    pub fn detail(mut self, d: impl Into<String>) -> Self {
        self.detail = Some(d.into());
        self
    }
    pub fn session(mut self, id: impl Into<String>) -> Self {
        self.session_id = Some(id.into());
        self
    }
}

/// Record `e` in the transaction of the change it describes (I10: a change and its audit row
/// commit together or not at all).
pub async fn record(tx: &mut Tx, e: &AuditEntry) -> Result<()> {
    on_tx!(tx, conn => sqlx::query(
        "INSERT INTO audit_log (id, at, actor, action, outcome, customer_id, technician_id, grant_id, connector_id,
             ticket_ref, tenant_id, account_upn, ip, user_agent, detail, session_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(&e.id).bind(e.at).bind(&e.actor).bind(&e.action).bind(&e.outcome).bind(&e.customer_id)
    .bind(&e.technician_id).bind(&e.grant_id).bind(&e.connector_id).bind(&e.ticket_ref).bind(&e.tenant_id)
    .bind(&e.account_upn).bind(&e.ip).bind(&e.user_agent).bind(&e.detail).bind(&e.session_id)
    .execute(&mut *conn).await?.rows_affected());
    Ok(())
}

/// Record an event that changes nothing else (a refusal, a failure) in its own transaction.
pub async fn record_event(db: &Db, e: &AuditEntry) -> Result<()> {
    let mut tx = db.begin().await?;
    record(&mut tx, e).await?;
    tx.commit().await
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only rows of these customers (a delegated token); `None` = everything.
    pub customers: Option<Vec<String>>,
    pub customer_id: Option<String>,
    pub grant_id: Option<String>,
    /// Rows about this technician, or of steps they took.
    pub technician_id: Option<String>,
    pub action: Option<String>,
    /// Unix ms: rows at or after / before.
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    /// Rows with an id before this one (paging backwards in time).
    pub before: Option<String>,
    pub limit: i64,
}

pub async fn list(db: &Db, f: &AuditFilter) -> Result<Vec<AuditEntry>> {
    // Visibility for delegated tokens: a JSON array of customer ids compared textually keeps
    // the query portable (no array types in SQLite).
    let scoped = f.customers.is_some();
    let allowed = f.customers.clone().unwrap_or_default();
    let allowed_csv = format!(",{},", allowed.join(","));
    let rows: Vec<AuditEntry> = on_db!(db, pool => sqlx::query_as(
        "SELECT * FROM audit_log
         WHERE ($1 = FALSE OR (customer_id IS NOT NULL AND $2 LIKE '%,' || customer_id || ',%'))
           AND ($3 = '' OR customer_id = $3)
           AND ($4 = '' OR grant_id = $4)
           AND ($5 = '' OR action = $5)
           AND ($6 = '' OR id < $6)
           AND ($8 = '' OR technician_id = $8 OR actor = 'technician:' || $8)
           AND at >= $9 AND at < $10
         ORDER BY id DESC LIMIT $7")
        .bind(scoped).bind(&allowed_csv)
        .bind(f.customer_id.as_deref().unwrap_or(""))
        .bind(f.grant_id.as_deref().unwrap_or(""))
        .bind(f.action.as_deref().unwrap_or(""))
        .bind(f.before.as_deref().unwrap_or(""))
        .bind(f.limit)
        .bind(f.technician_id.as_deref().unwrap_or(""))
        .bind(f.since_ms.unwrap_or(i64::MIN))
        .bind(f.until_ms.unwrap_or(i64::MAX))
        .fetch_all(pool).await?);
    Ok(rows)
}
