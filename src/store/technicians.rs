//! Technicians, the MSP-admin flag and delegations to customers.
//!
//! Taking access away (removing a delegation, the admin flag or the technician) also asks for
//! the early end of every open grant the technician may no longer hold, in the same
//! transaction: admin access must not keep running after the right to it is gone, and a grant
//! marked this way is ended by the sweeper even if the job that should end it now is lost.
//!
//! A removed technician is not deleted: their JIT accounts and grants reference the row with
//! ON DELETE CASCADE, and ending those grants needs them. `removed_at` hides the row from
//! lists, email lookups (so from requests) and `may_work`.

use super::audit::{self, AuditEntry};
use super::customers::Visibility;
use super::{Db, Result, StoreError, Tx, new_id, now_ms, on_db, on_tx};
use crate::domain::lifecycle::EndReason;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Technician {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub is_admin: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub removed_at: Option<i64>,
}

/// Open grants of technician `$1` that `may_work` no longer allows, and that were not already
/// asked to end (an earlier reason, such as a cancellation, stays).
const OPEN_GRANTS_OUT_OF_SCOPE: &str = "SELECT g.id FROM grants g JOIN technicians t ON t.id = g.technician_id
     WHERE g.technician_id = $1 AND g.ended_at IS NULL AND NOT g.end_requested
       AND (t.removed_at IS NOT NULL
            OR (NOT t.is_admin AND NOT EXISTS (
                SELECT 1 FROM delegations d WHERE d.technician_id = g.technician_id AND d.customer_id = g.customer_id)))";

/// Add a technician. An email that belonged to a removed technician restores that row (same
/// id, so the same JIT accounts), with no admin flag and no delegations; the email of an
/// active technician is a `Conflict`.
pub async fn create(tx: &mut Tx, email: &str, display_name: &str) -> Result<Technician> {
    let now = now_ms();
    let row: Option<Technician> = on_tx!(tx, conn => sqlx::query_as(
        "INSERT INTO technicians (id, email, display_name, is_admin, created_at, updated_at) VALUES ($1, $2, $3, FALSE, $4, $4)
         ON CONFLICT (email) DO UPDATE SET display_name = excluded.display_name, removed_at = NULL, updated_at = excluded.updated_at
             WHERE technicians.removed_at IS NOT NULL
         RETURNING *")
        .bind(new_id("tec")).bind(email).bind(display_name).bind(now)
        .fetch_optional(&mut *conn).await?);
    row.ok_or_else(|| StoreError::Conflict("technicians.email: UNIQUE constraint".into()))
}

/// An active (not removed) technician.
pub async fn get(db: &Db, id: &str) -> Result<Technician> {
    let row: Option<Technician> = on_db!(db, pool => sqlx::query_as("SELECT * FROM technicians WHERE id = $1 AND removed_at IS NULL")
        .bind(id).fetch_optional(pool).await?);
    row.ok_or(StoreError::NotFound)
}

pub async fn by_email(db: &Db, email: &str) -> Result<Option<Technician>> {
    Ok(
        on_db!(db, pool => sqlx::query_as("SELECT * FROM technicians WHERE email = $1 AND removed_at IS NULL")
        .bind(email.to_ascii_lowercase()).fetch_optional(pool).await?),
    )
}

/// Whether any active technician is an MSP admin (none on a fresh install).
pub async fn any_admin(db: &Db) -> Result<bool> {
    let n: i64 = on_db!(db, pool => sqlx::query_scalar(
        "SELECT COUNT(*) FROM technicians WHERE is_admin AND removed_at IS NULL")
        .fetch_one(pool).await?);
    Ok(n > 0)
}

pub async fn list(db: &Db) -> Result<Vec<Technician>> {
    list_visible(db, &Visibility::All).await
}

/// Active technicians a caller may see: all, or for a delegated token those delegated to at
/// least one of its customers.
pub async fn list_visible(db: &Db, visibility: &Visibility) -> Result<Vec<Technician>> {
    let token = visibility.principal();
    Ok(on_db!(db, pool => sqlx::query_as(
        "SELECT * FROM technicians WHERE removed_at IS NULL
           AND ($1 = '' OR id IN (SELECT d.technician_id FROM delegations d
                                  JOIN scoped_customers c ON c.customer_id = d.customer_id
                                  WHERE c.principal_id = $1))
         ORDER BY email")
        .bind(token).fetch_all(pool).await?))
}

/// Whether a delegated token may see the technician (delegated to one of its customers).
pub async fn visible_to(db: &Db, visibility: &Visibility, technician_id: &str) -> Result<bool> {
    let Visibility::Scoped(token) = visibility else {
        return Ok(true);
    };
    let n: i64 = on_db!(db, pool => sqlx::query_scalar(
        "SELECT COUNT(*) FROM delegations d JOIN scoped_customers c ON c.customer_id = d.customer_id
         WHERE d.technician_id = $1 AND c.principal_id = $2")
        .bind(technician_id).bind(token).fetch_one(pool).await?);
    Ok(n > 0)
}

/// After a change in `tx` that took access away: record it, and ask every open grant it put
/// out of scope to end (with an audit row each). Returns the ids of those grants.
async fn end_out_of_scope(
    tx: &mut Tx,
    technician_id: &str,
    reason: EndReason,
    audit: &AuditEntry,
) -> Result<Vec<String>> {
    audit::record(tx, audit).await?;
    let mark = sqlx::AssertSqlSafe(format!(
        "UPDATE grants SET end_requested = TRUE, end_request_reason = $2, updated_at = $3
         WHERE id IN ({OPEN_GRANTS_OUT_OF_SCOPE}) RETURNING id, customer_id"
    ));
    let ended: Vec<(String, String)> = on_tx!(tx, conn => sqlx::query_as(mark)
        .bind(technician_id).bind(reason).bind(now_ms())
        .fetch_all(&mut *conn).await?);
    for (grant_id, customer_id) in &ended {
        let row = end_requested_audit(audit, technician_id, grant_id, customer_id, reason);
        audit::record(tx, &row).await?;
    }
    Ok(ended.into_iter().map(|(grant_id, _)| grant_id).collect())
}

/// The audit row of one grant asked to end because of `change` (same actor and client).
fn end_requested_audit(
    change: &AuditEntry,
    technician_id: &str,
    grant_id: &str,
    customer_id: &str,
    reason: EndReason,
) -> AuditEntry {
    AuditEntry::new(change.actor.clone(), "grant.end_requested", "ok")
        .client(change.ip.clone(), change.user_agent.clone())
        .technician(technician_id)
        .customer(customer_id)
        .grant(grant_id)
        .detail(format!(
            "{reason}: the technician may no longer work this customer"
        ))
}

/// Remove the technician: hidden from now on, admin flag, delegations and group memberships gone, and every open
/// grant asked to end (`technician_removed`). `NotFound` if there is no such active technician.
pub async fn remove(tx: &mut Tx, id: &str, audit: &AuditEntry) -> Result<Vec<String>> {
    let now = now_ms();
    let n = on_tx!(tx, conn => sqlx::query(
        "UPDATE technicians SET removed_at = $1, is_admin = FALSE, updated_at = $1 WHERE id = $2 AND removed_at IS NULL")
        .bind(now).bind(id).execute(&mut *conn).await?.rows_affected());
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    on_tx!(tx, conn => sqlx::query("DELETE FROM delegations WHERE technician_id = $1")
        .bind(id).execute(&mut *conn).await?.rows_affected());
    // A technician added back starts without groups, as without delegations.
    on_tx!(tx, conn => sqlx::query("DELETE FROM technician_group_members WHERE technician_id = $1")
        .bind(id).execute(&mut *conn).await?.rows_affected());
    on_tx!(tx, conn => sqlx::query("DELETE FROM customer_admins WHERE technician_id = $1")
        .bind(id).execute(&mut *conn).await?.rows_affected());
    super::sessions::end_all_of(tx, id, "technician_removed").await?;
    end_out_of_scope(tx, id, EndReason::TechnicianRemoved, audit).await
}

/// Make the technician an MSP admin (ends nothing).
pub async fn grant_admin(tx: &mut Tx, id: &str, audit: &AuditEntry) -> Result<()> {
    let n = on_tx!(tx, conn => sqlx::query(
        "UPDATE technicians SET is_admin = TRUE, updated_at = $1 WHERE id = $2 AND removed_at IS NULL")
        .bind(now_ms()).bind(id).execute(&mut *conn).await?.rows_affected());
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    audit::record(tx, audit).await
}

/// Take the MSP-admin flag away; grants in customers the technician is not delegated to are
/// asked to end (`admin_removed`). Returns their ids.
pub async fn revoke_admin(tx: &mut Tx, id: &str, audit: &AuditEntry) -> Result<Vec<String>> {
    let n = on_tx!(tx, conn => sqlx::query(
        "UPDATE technicians SET is_admin = FALSE, updated_at = $1 WHERE id = $2 AND removed_at IS NULL")
        .bind(now_ms()).bind(id).execute(&mut *conn).await?.rows_affected());
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    end_out_of_scope(tx, id, EndReason::AdminRemoved, audit).await
}

pub async fn delegate(tx: &mut Tx, technician_id: &str, customer_id: &str) -> Result<()> {
    on_tx!(tx, conn => sqlx::query(
        "INSERT INTO delegations (technician_id, customer_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
        .bind(technician_id).bind(customer_id).bind(now_ms()).execute(&mut *conn).await?.rows_affected());
    Ok(())
}

/// Remove a delegation; unless the technician is an MSP admin, their open grant in that
/// customer is asked to end (`delegation_removed`). Returns its id, if any. Removing a
/// delegation that does not exist changes nothing and is not an error.
pub async fn undelegate(
    tx: &mut Tx,
    technician_id: &str,
    customer_id: &str,
    audit: &AuditEntry,
) -> Result<Vec<String>> {
    // The technician must still exist (and be active) for the change to count.
    let active: i64 = on_tx!(tx, conn => sqlx::query_scalar(
        "SELECT COUNT(*) FROM technicians WHERE id = $1 AND removed_at IS NULL")
        .bind(technician_id).fetch_one(&mut *conn).await?);
    if active == 0 {
        return Err(StoreError::NotFound);
    }
    on_tx!(tx, conn => sqlx::query("DELETE FROM delegations WHERE technician_id = $1 AND customer_id = $2")
        .bind(technician_id).bind(customer_id).execute(&mut *conn).await?.rows_affected());
    end_out_of_scope(tx, technician_id, EndReason::DelegationRemoved, audit).await
}

pub async fn delegated_customers(db: &Db, technician_id: &str) -> Result<Vec<String>> {
    Ok(on_db!(db, pool => sqlx::query_scalar(
        "SELECT customer_id FROM delegations WHERE technician_id = $1 ORDER BY customer_id")
        .bind(technician_id).fetch_all(pool).await?))
}

/// I6: an MSP admin may work every customer; anyone else only those delegated to them; a
/// removed technician none.
pub async fn may_work(db: &Db, technician: &Technician, customer_id: &str) -> Result<bool> {
    if technician.removed_at.is_some() {
        return Ok(false);
    }
    if technician.is_admin {
        return Ok(true);
    }
    let n: i64 = on_db!(db, pool => sqlx::query_scalar(
        "SELECT COUNT(*) FROM delegations WHERE technician_id = $1 AND customer_id = $2")
        .bind(&technician.id).bind(customer_id).fetch_one(pool).await?);
    Ok(n > 0)
}

/// Make the technician a customer admin of `customer_id`: in the console they see and edit
/// that customer (and nothing of customers they do not administer).
pub async fn add_customer_admin(tx: &mut Tx, technician_id: &str, customer_id: &str) -> Result<()> {
    on_tx!(tx, conn => sqlx::query(
        "INSERT INTO customer_admins (technician_id, customer_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
        .bind(technician_id).bind(customer_id).bind(now_ms()).execute(&mut *conn).await?.rows_affected());
    Ok(())
}

/// Take the customer-admin right away (grants are not affected: administering a customer is
/// not what lets a technician work it).
pub async fn remove_customer_admin(
    tx: &mut Tx,
    technician_id: &str,
    customer_id: &str,
) -> Result<()> {
    on_tx!(tx, conn => sqlx::query("DELETE FROM customer_admins WHERE technician_id = $1 AND customer_id = $2")
        .bind(technician_id).bind(customer_id).execute(&mut *conn).await?.rows_affected());
    Ok(())
}

/// The customers the technician administers in the console (not counting the MSP-admin flag).
pub async fn administered_customers(db: &Db, technician_id: &str) -> Result<Vec<String>> {
    Ok(on_db!(db, pool => sqlx::query_scalar(
        "SELECT customer_id FROM customer_admins WHERE technician_id = $1 ORDER BY customer_id")
        .bind(technician_id).fetch_all(pool).await?))
}
