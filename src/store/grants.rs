//! Grants: a technician's time-boxed access through their JIT account, with the credential
//! link, ticket note and jobs that start or end one, each committed in one transaction.

use super::{Db, Result, StoreError, Tx, new_id, now_ms, on_db, on_tx};
use crate::crypto::{Keyring, hash_token};
use crate::domain::lifecycle::{AccountState, EndReason, NoteKind, RequestStatus};
use crate::store::audit::{self, AuditEntry};
use crate::store::queue::Outbox;
use crate::store::{accounts, notes, secrets};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, sqlx::FromRow, Serialize, utoipa::ToSchema)]
pub struct Grant {
    pub id: String,
    pub account_id: String,
    pub customer_id: String,
    pub technician_id: String,
    pub request_id: Option<String>,
    pub connector_id: Option<String>,
    pub ticket_ref: Option<String>,
    /// Unix milliseconds.
    pub started_at: i64,
    pub expires_at: i64,
    pub ended_at: Option<i64>,
    pub end_reason: Option<EndReason>,
    pub end_requested: bool,
    /// Why an early end was asked for.
    pub end_request_reason: Option<EndReason>,
    pub end_attempts: i32,
    pub last_end_error: Option<String>,
    /// The tenant and app the grant's account lives in; ending talks to this tenant only.
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    /// Role template ids the grant's account was given at its start (kept when extended);
    /// absent on grants from before role mappings.
    #[serde(serialize_with = "as_json")]
    #[schema(value_type = Option<Vec<String>>)]
    pub roles: Option<String>,
    /// Why: the groups whose mapping for the customer gave them, `[{"group_id", "group", "roles"}]`.
    #[serde(serialize_with = "as_json")]
    #[schema(value_type = Option<Vec<crate::store::groups::RoleSource>>)]
    pub role_sources: Option<String>,
    /// The last end attempt step by step: `[{"step", "ok", "detail"}]`.
    #[serde(serialize_with = "as_json")]
    #[schema(value_type = Option<Vec<EndStepRecord>>)]
    pub end_steps: Option<String>,
    /// Steps still failing after access ended (e.g. `rotate_password`), retried until they
    /// succeed; absent when none.
    pub end_follow_ups: Option<String>,
    #[serde(skip)]
    pub follow_up_noted: bool,
    pub version: i32,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Grant {
    pub fn is_open(&self) -> bool {
        self.ended_at.is_none()
    }

    /// Follow-up steps of an ended grant that still have to succeed.
    pub fn follow_ups(&self) -> Vec<String> {
        self.end_follow_ups
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }
}

/// One step of the end of access as recorded on the grant.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EndStepRecord {
    /// `remove_roles`, `disable`, `revoke_sessions`, `delete_taps`, `rotate_password`,
    /// `delete_account` or `read_back`.
    pub step: String,
    pub ok: bool,
    pub detail: String,
}

/// Stored JSON text out as JSON, not as a string of JSON.
fn as_json<S: serde::Serializer>(text: &Option<String>, out: S) -> Result<S::Ok, S::Error> {
    let value: Option<serde_json::Value> =
        text.as_deref().and_then(|t| serde_json::from_str(t).ok());
    serde::Serialize::serialize(&value, out)
}

const COLUMNS: &str = "id, account_id, customer_id, technician_id, request_id, connector_id, ticket_ref, started_at, \
    expires_at, ended_at, end_reason, end_requested, end_request_reason, end_attempts, last_end_error, tenant_id, \
    client_id, roles, role_sources, end_steps, end_follow_ups, follow_up_noted, version, created_at, updated_at";

/// A note to post to the originating ticket, committed with the state change it reports.
#[derive(Debug, Clone)]
pub struct NewNote {
    pub connector_id: String,
    pub ticket_ref: String,
    pub kind: NoteKind,
    pub title: String,
    /// May contain [`notes::LINK_PLACEHOLDER`] when a link token goes with it.
    pub body: String,
}

/// Queue `note` for its ticket with its job, in `tx`. A credential link's raw token goes with
/// it sealed until the note is posted.
pub async fn insert_note(
    tx: &mut Tx,
    keyring: &Keyring,
    outbox: &dyn Outbox,
    note: &NewNote,
    grant_id: Option<&str>,
    request_id: Option<&str>,
    link_token: Option<&str>,
) -> Result<()> {
    let note_id = new_id("not");
    on_tx!(tx, conn => sqlx::query(
        "INSERT INTO ticket_notes (id, connector_id, ticket_ref, kind, grant_id, request_id, title, body, created_at, touched_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)")
        .bind(&note_id).bind(&note.connector_id).bind(&note.ticket_ref).bind(note.kind)
        .bind(grant_id).bind(request_id).bind(&note.title).bind(&note.body).bind(now_ms())
        .execute(&mut *conn).await?.rows_affected());
    if let Some(token) = link_token {
        secrets::put(
            tx,
            keyring,
            &notes::secret_scope(&note_id),
            notes::LINK_TOKEN,
            token.as_bytes(),
        )
        .await?;
    }
    tx.push_job(&outbox.note(&note_id)).await
}

/// Everything that starts (or extends) a grant.
#[derive(Debug, Clone)]
pub struct GrantStart {
    pub account_id: String,
    /// The tenant and app the account lives in.
    pub tenant_id: String,
    pub client_id: String,
    /// JSON array of the role template ids given to the account, and JSON of the
    /// [`RoleSource`](crate::store::groups::RoleSource)s that gave them; recorded on a new
    /// grant only (an extended grant keeps the roles it started with).
    pub roles: String,
    pub role_sources: String,
    pub customer_id: String,
    pub technician_id: String,
    pub request_id: String,
    /// `None` for a portal request without a ticket.
    pub connector_id: Option<String>,
    pub ticket_ref: Option<String>,
    pub expires_at: i64,
    pub reveal_limit: i32,
    /// The credential link's raw token (only its hash is stored; the token itself goes sealed
    /// with the note until the note is posted).
    pub link_token: String,
    pub note: Option<NewNote>,
    pub audit: AuditEntry,
}

#[derive(Debug)]
pub struct Started {
    pub grant: Grant,
    pub extended: bool,
}

/// Start a grant for the account, or extend its open one, with a new credential link (older
/// links of the grant stop working), the ticket note and the expiry job; and mark the request
/// provisioned. One transaction.
pub async fn start_or_extend(
    db: &Db,
    keyring: &Keyring,
    outbox: &dyn Outbox,
    s: &GrantStart,
) -> Result<Started> {
    let now = now_ms();
    let select_open = sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM grants WHERE account_id = $1 AND ended_at IS NULL"
    ));
    let select_one = sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM grants WHERE id = $1"));
    let mut tx = db.begin().await?;
    // The request was checked before the Graph calls; a delegation, admin flag or the
    // technician removed since must not leave the new access running (the account is
    // already enabled, so the grant is still recorded, and ends at once).
    let still_allowed: i64 = on_tx!(&mut tx, conn => sqlx::query_scalar(
        "SELECT COUNT(*) FROM technicians t WHERE t.id = $1 AND t.removed_at IS NULL
           AND (t.is_admin OR EXISTS (SELECT 1 FROM delegations d WHERE d.technician_id = t.id AND d.customer_id = $2))")
        .bind(&s.technician_id).bind(&s.customer_id).fetch_one(&mut *conn).await?);
    let open: Option<Grant> = on_tx!(&mut tx, conn => sqlx::query_as(select_open)
        .bind(&s.account_id).fetch_optional(&mut *conn).await?);
    let (grant_id, extended) = match open {
        Some(g) => {
            on_tx!(&mut tx, conn => sqlx::query(
                "UPDATE grants SET expires_at = $1, version = version + 1, request_id = $2,
                     connector_id = CASE WHEN $4 IS NULL THEN connector_id ELSE $3 END,
                     ticket_ref = COALESCE($4, ticket_ref), updated_at = $5 WHERE id = $6")
                .bind(s.expires_at.max(g.expires_at)).bind(&s.request_id).bind(&s.connector_id)
                .bind(&s.ticket_ref).bind(now).bind(&g.id)
                .execute(&mut *conn).await?.rows_affected());
            on_tx!(&mut tx, conn => sqlx::query(
                "UPDATE credential_links SET superseded_at = $1 WHERE grant_id = $2 AND superseded_at IS NULL")
                .bind(now).bind(&g.id).execute(&mut *conn).await?.rows_affected());
            (g.id, true)
        }
        None => {
            let id = new_id("gnt");
            on_tx!(&mut tx, conn => sqlx::query(
                "INSERT INTO grants (id, account_id, customer_id, technician_id, request_id, connector_id, ticket_ref,
                     started_at, expires_at, tenant_id, client_id, roles, role_sources, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $8, $8)")
                .bind(&id).bind(&s.account_id).bind(&s.customer_id).bind(&s.technician_id).bind(&s.request_id)
                .bind(&s.connector_id).bind(&s.ticket_ref).bind(now).bind(s.expires_at)
                .bind(&s.tenant_id).bind(&s.client_id).bind(&s.roles).bind(&s.role_sources)
                .execute(&mut *conn).await?.rows_affected());
            // The new grant set a new password: follow-ups of earlier grants of this account
            // (rotating the old password, revoking old sessions) would now undo it.
            on_tx!(&mut tx, conn => sqlx::query(
                "UPDATE grants SET end_follow_ups = NULL, updated_at = $1
                 WHERE account_id = $2 AND ended_at IS NOT NULL AND end_follow_ups IS NOT NULL")
                .bind(now).bind(&s.account_id).execute(&mut *conn).await?.rows_affected());
            (id, false)
        }
    };
    on_tx!(&mut tx, conn => sqlx::query(
        "INSERT INTO credential_links (id, grant_id, token_hash, reveal_limit, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(new_id("lnk")).bind(&grant_id).bind(hash_token(&s.link_token)).bind(s.reveal_limit).bind(now)
        .execute(&mut *conn).await?.rows_affected());
    if still_allowed == 0 {
        on_tx!(&mut tx, conn => sqlx::query(
            "UPDATE grants SET end_requested = TRUE, end_request_reason = $1, updated_at = $2
             WHERE id = $3")
            .bind(EndReason::AccessRemoved).bind(now).bind(&grant_id).execute(&mut *conn).await?.rows_affected());
    }
    let grant: Grant = on_tx!(&mut tx, conn => sqlx::query_as(select_one)
        .bind(&grant_id).fetch_one(&mut *conn).await?);
    if let Some(note) = s.note.as_ref().filter(|_| still_allowed > 0) {
        insert_note(
            &mut tx,
            keyring,
            outbox,
            note,
            Some(&grant_id),
            Some(&s.request_id),
            Some(&s.link_token),
        )
        .await?;
    }
    tx.push_job(&outbox.end_at(&grant_id, grant.expires_at, grant.version))
        .await?;
    on_tx!(&mut tx, conn => sqlx::query(
        "UPDATE jit_requests SET status = 'provisioned', grant_id = $1, customer_id = $2, technician_id = $3,
             updated_at = $4 WHERE id = $5")
        .bind(&grant_id).bind(&s.customer_id).bind(&s.technician_id).bind(now).bind(&s.request_id)
        .execute(&mut *conn).await?.rows_affected());
    audit::record(&mut tx, &s.audit.clone().grant(&grant_id)).await?;
    tx.commit().await?;
    Ok(Started { grant, extended })
}

/// How a pending request is closed without a grant.
pub struct RequestClose<'a> {
    pub request_id: &'a str,
    pub status: RequestStatus,
    pub detail: &'a str,
    pub note: Option<&'a NewNote>,
    pub audit: &'a AuditEntry,
}

/// Close a pending request (refused, failed or done) with a note to its ticket and its audit
/// row, in `tx`. A request no longer pending changes nothing.
pub async fn close_request_with_note(
    tx: &mut Tx,
    keyring: &Keyring,
    outbox: &dyn Outbox,
    close: &RequestClose<'_>,
) -> Result<()> {
    let RequestClose {
        request_id,
        status,
        detail,
        note,
        audit,
    } = *close;
    let n = on_tx!(tx, conn => sqlx::query(
        "UPDATE jit_requests SET status = $1, status_detail = $2, customer_id = COALESCE($3, customer_id),
             technician_id = COALESCE($4, technician_id), updated_at = $5 WHERE id = $6 AND status = 'pending'")
        .bind(status).bind(detail).bind(&audit.customer_id).bind(&audit.technician_id).bind(now_ms()).bind(request_id)
        .execute(&mut *conn).await?.rows_affected());
    if n == 1 {
        if let Some(note) = note {
            insert_note(tx, keyring, outbox, note, None, Some(request_id), None).await?;
        }
        audit::record(tx, audit).await?;
    }
    Ok(())
}

/// How a verified end is recorded.
#[derive(Debug, Clone)]
pub struct Ended {
    pub reason: EndReason,
    pub account_state: AccountState,
    /// JSON of the steps ([`EndStepRecord`]s).
    pub steps: Option<String>,
    /// Follow-up steps still failing, comma-separated; `None` when all succeeded.
    pub follow_ups: Option<String>,
    /// Whether one of the notes tells the ticket about the failing follow-ups.
    pub follow_up_noted: bool,
}

/// Record that the grant's end was verified: mark it ended, retire its links, forget the
/// technician's password, note the ticket (`notes`: the end, and when follow-ups fail, that
/// too). Only the first caller changes anything.
pub async fn mark_ended(
    db: &Db,
    keyring: &Keyring,
    outbox: &dyn Outbox,
    grant_id: &str,
    ended: &Ended,
    notes: &[NewNote],
    audit: &AuditEntry,
) -> Result<bool> {
    let now = now_ms();
    let mut tx = db.begin().await?;
    let account_id: Option<String> = on_tx!(&mut tx, conn => sqlx::query_scalar(
        "UPDATE grants SET ended_at = $1, end_reason = $2, last_end_error = NULL, lease_owner = NULL,
             lease_until = NULL, end_steps = $3, end_follow_ups = $4,
             follow_up_noted = $5, updated_at = $1 WHERE id = $6 AND ended_at IS NULL
         RETURNING account_id")
        .bind(now).bind(ended.reason).bind(&ended.steps).bind(&ended.follow_ups)
        .bind(ended.follow_up_noted).bind(grant_id)
        .fetch_optional(&mut *conn).await?);
    let Some(account_id) = account_id else {
        return Ok(false);
    };
    on_tx!(&mut tx, conn => sqlx::query(
        "UPDATE credential_links SET superseded_at = $1 WHERE grant_id = $2 AND superseded_at IS NULL")
        .bind(now).bind(grant_id).execute(&mut *conn).await?.rows_affected());
    on_tx!(&mut tx, conn => sqlx::query("UPDATE jit_accounts SET state = $1, updated_at = $2 WHERE id = $3")
        .bind(ended.account_state).bind(now).bind(&account_id).execute(&mut *conn).await?.rows_affected());
    // The technician's password is useless now, or will be once the rotation succeeds; either
    // way jitgate must not show it again.
    secrets::delete(
        &mut tx,
        &accounts::secret_scope(&account_id),
        accounts::PASSWORD,
    )
    .await?;
    for note in notes {
        insert_note(&mut tx, keyring, outbox, note, Some(grant_id), None, None).await?;
    }
    audit::record(&mut tx, audit).await?;
    tx.commit().await?;
    Ok(true)
}

/// An end attempt failed; returns how many have failed so far. `steps` is the attempt's
/// step-by-step JSON when the steps ran.
pub async fn record_end_failure(
    db: &Db,
    grant_id: &str,
    error: &str,
    steps: Option<&str>,
) -> Result<i32> {
    Ok(on_db!(db, pool => sqlx::query_scalar(
        "UPDATE grants SET end_attempts = end_attempts + 1, last_end_error = $1,
             end_steps = COALESCE($2, end_steps), updated_at = $3 WHERE id = $4
         RETURNING end_attempts")
        .bind(error).bind(steps).bind(now_ms()).bind(grant_id).fetch_one(pool).await?))
}

/// After a follow-up run of an ended grant: the steps still failing (`None`: all done), the
/// merged step record, and optionally an audit row, in one transaction.
pub async fn record_follow_ups(
    db: &Db,
    grant_id: &str,
    remaining: Option<&str>,
    steps: &str,
    audit: Option<&AuditEntry>,
) -> Result<()> {
    let mut tx = db.begin().await?;
    let n = on_tx!(&mut tx, conn => sqlx::query(
        "UPDATE grants SET end_follow_ups = $1, end_steps = $2, updated_at = $3
         WHERE id = $4 AND end_follow_ups IS NOT NULL")
        .bind(remaining).bind(steps).bind(now_ms()).bind(grant_id)
        .execute(&mut *conn).await?.rows_affected());
    if n == 1
        && let Some(audit) = audit
    {
        audit::record(&mut tx, audit).await?;
    }
    tx.commit().await
}

/// Ended grants whose follow-up steps still fail and that no job touched for `idle_ms`: the
/// sweeper queues them again in case their job was lost.
pub async fn stale_follow_ups(db: &Db, idle_ms: i64, limit: i64) -> Result<Vec<String>> {
    Ok(on_db!(db, pool => sqlx::query_scalar(
        "SELECT id FROM grants WHERE end_follow_ups IS NOT NULL AND updated_at < $1 ORDER BY updated_at LIMIT $2")
        .bind(now_ms() - idle_ms).bind(limit).fetch_all(pool).await?))
}

/// Ended grants whose follow-up steps still fail (for `/metrics`).
pub async fn count_follow_ups(db: &Db) -> Result<i64> {
    Ok(on_db!(db, pool => sqlx::query_scalar(
        "SELECT COUNT(*) FROM grants WHERE end_follow_ups IS NOT NULL")
        .fetch_one(pool).await?))
}

/// Insert a note (and its job) on its own, e.g. "ending this grant keeps failing".
pub async fn add_note(
    db: &Db,
    keyring: &Keyring,
    outbox: &dyn Outbox,
    note: &NewNote,
    grant_id: Option<&str>,
) -> Result<()> {
    let mut tx = db.begin().await?;
    insert_note(&mut tx, keyring, outbox, note, grant_id, None, None).await?;
    tx.commit().await
}

/// Ask for the grant to end now (admin API, `jit.cancelled`, access taken away); the expire
/// path does the work. `false` if it has already ended.
pub async fn request_end(tx: &mut Tx, grant_id: &str, reason: EndReason) -> Result<bool> {
    let n = on_tx!(tx, conn => sqlx::query(
        "UPDATE grants SET end_requested = TRUE, end_request_reason = COALESCE(end_request_reason, $1), updated_at = $2
         WHERE id = $3 AND ended_at IS NULL")
        .bind(reason).bind(now_ms()).bind(grant_id).execute(&mut *conn).await?.rows_affected());
    Ok(n == 1)
}

pub async fn get(db: &Db, id: &str) -> Result<Grant> {
    let sql = sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM grants WHERE id = $1"));
    let row: Option<Grant> =
        on_db!(db, pool => sqlx::query_as(sql).bind(id).fetch_optional(pool).await?);
    row.ok_or(StoreError::NotFound)
}

pub async fn open_for_account(db: &Db, account_id: &str) -> Result<Option<Grant>> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM grants WHERE account_id = $1 AND ended_at IS NULL"
    ));
    Ok(on_db!(db, pool => sqlx::query_as(sql).bind(account_id).fetch_optional(pool).await?))
}

#[derive(Debug, Clone, Default)]
pub struct GrantFilter {
    /// Only these customers (a delegated token); `None` = all.
    pub customers: Option<Vec<String>>,
    pub customer_id: Option<String>,
    pub technician_id: Option<String>,
    pub open_only: bool,
    pub limit: i64,
}

pub async fn list(db: &Db, f: &GrantFilter) -> Result<Vec<Grant>> {
    let allowed = format!(",{},", f.customers.clone().unwrap_or_default().join(","));
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM grants
         WHERE ($1 = FALSE OR $2 LIKE '%,' || customer_id || ',%')
           AND ($3 = '' OR customer_id = $3) AND ($4 = '' OR technician_id = $4)
           AND ($5 = FALSE OR ended_at IS NULL)
         ORDER BY created_at DESC, id DESC LIMIT $6"
    ));
    Ok(on_db!(db, pool => sqlx::query_as(sql)
        .bind(f.customers.is_some()).bind(&allowed)
        .bind(f.customer_id.as_deref().unwrap_or("")).bind(f.technician_id.as_deref().unwrap_or(""))
        .bind(f.open_only).bind(f.limit)
        .fetch_all(pool).await?))
}

/// Claim up to `limit` grants that must end now (past expiry, or asked to end) and that no
/// other worker holds, for `lease_ms`. Safe with several processes: the lease condition is
/// re-checked by the UPDATE itself. The two kinds of due grants are found by two index range
/// scans (`grants_open_by_expiry`, `grants_open_end_requested`), so a pass costs the same with
/// a hundred thousand open grants as with ten.
pub async fn claim_due(db: &Db, owner: &str, lease_ms: i64, limit: i64) -> Result<Vec<String>> {
    let now = now_ms();
    Ok(on_db!(db, pool => sqlx::query_scalar(
        "UPDATE grants SET lease_owner = $1, lease_until = $2
         WHERE id IN (SELECT id FROM (
                          SELECT id, expires_at FROM grants
                          WHERE ended_at IS NULL AND expires_at <= $3 AND (lease_until IS NULL OR lease_until < $3)
                          UNION
                          SELECT id, expires_at FROM grants
                          WHERE ended_at IS NULL AND end_requested AND (lease_until IS NULL OR lease_until < $3)
                      ) due ORDER BY expires_at LIMIT $4)
           AND ended_at IS NULL AND (lease_until IS NULL OR lease_until < $3)
         RETURNING id")
        .bind(owner).bind(now + lease_ms).bind(now).bind(limit)
        .fetch_all(pool).await?))
}

/// The earliest expiry after `after_ms` among open grants, if any (so the sweeper can wake
/// right then instead of at its next tick).
pub async fn next_expiry(db: &Db, after_ms: i64) -> Result<Option<i64>> {
    Ok(on_db!(db, pool => sqlx::query_scalar(
        "SELECT MIN(expires_at) FROM grants WHERE ended_at IS NULL AND expires_at > $1")
        .bind(after_ms).fetch_one(pool).await?))
}

/// When the earliest hold on a due open grant (past expiry, or asked to end) lapses (an end
/// that must wait, held by the sweeper until then), if any: the sweeper wakes then to try it
/// again. Two index range scans, as in [`claim_due`].
pub async fn next_hold_end(db: &Db, now_ms: i64) -> Result<Option<i64>> {
    Ok(on_db!(db, pool => sqlx::query_scalar(
        "SELECT MIN(held_until) FROM (
             SELECT MIN(lease_until) AS held_until FROM grants
             WHERE ended_at IS NULL AND expires_at <= $1 AND lease_until >= $1
             UNION ALL
             SELECT MIN(lease_until) AS held_until FROM grants
             WHERE ended_at IS NULL AND end_requested AND lease_until >= $1
         ) held")
        .bind(now_ms).fetch_one(pool).await?))
}

pub async fn release_lease(db: &Db, grant_id: &str, owner: &str) -> Result<()> {
    on_db!(db, pool => sqlx::query("UPDATE grants SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2")
        .bind(grant_id).bind(owner).execute(pool).await?.rows_affected());
    Ok(())
}

/// Keep a sweeper claim for `ms` more from now (a wait or a backoff before the next try).
pub async fn hold_lease(db: &Db, grant_id: &str, owner: &str, ms: i64) -> Result<()> {
    on_db!(db, pool => sqlx::query("UPDATE grants SET lease_until = $1 WHERE id = $2 AND lease_owner = $3")
        .bind(now_ms() + ms).bind(grant_id).bind(owner).execute(pool).await?.rows_affected());
    Ok(())
}

/// Grants past expiry that are not yet verified ended (for the overdue gauge).
pub async fn count_overdue(db: &Db) -> Result<i64> {
    Ok(
        on_db!(db, pool => sqlx::query_scalar("SELECT COUNT(*) FROM grants WHERE ended_at IS NULL AND expires_at <= $1")
        .bind(now_ms()).fetch_one(pool).await?),
    )
}

/// Open grants of a customer or a technician: such a customer, connection or technician cannot
/// be deleted, or nothing would be left to end the access (I3).
pub async fn count_open_for(
    db: &Db,
    customer_id: Option<&str>,
    technician_id: Option<&str>,
) -> Result<i64> {
    Ok(on_db!(db, pool => sqlx::query_scalar(
        "SELECT COUNT(*) FROM grants WHERE ended_at IS NULL AND ($1 = '' OR customer_id = $1) AND ($2 = '' OR technician_id = $2)")
        .bind(customer_id.unwrap_or("")).bind(technician_id.unwrap_or("")).fetch_one(pool).await?))
}
