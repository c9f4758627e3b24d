//! Admin API bearer tokens: stored as SHA-256 hashes, shown once at creation.
//!
//! A token is looked up in the database on every request and never cached, so a revocation or
//! an expiry holds at once on every instance sharing the database.

use super::audit::{self, AuditEntry};
use super::{Db, Result, StoreError, new_id, now_ms, on_db, on_tx};
use crate::crypto::{hash_token, random_token};

/// `last_used_at` is written at most this often per token: a busy automation would otherwise
/// turn every read request into a database write.
const LAST_USED_PRECISION_MS: i64 = 60_000;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AdminToken {
    pub id: String,
    pub name: String,
    pub is_admin: bool,
}

/// A valid token as the request path sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ActiveToken {
    pub id: String,
    pub name: String,
    pub is_admin: bool,
    pub last_used_at: Option<i64>,
}

/// A token as listed: everything but the token and its hash.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    pub is_admin: bool,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// The customers of a delegated token; empty for admin tokens.
    #[sqlx(skip)]
    pub customers: Vec<String>,
}

/// Create a token that never expires; an empty `customers` makes it an admin token. Returns
/// the stored row and the token text, which exists nowhere else.
pub async fn create(db: &Db, name: &str, customers: &[String]) -> Result<(AdminToken, String)> {
    create_with(db, name, customers, None, None).await
}

/// Create a token valid until `expires_at` (Unix ms; `None`: no expiry), with its audit row in
/// the same transaction when one is given.
pub async fn create_with(
    db: &Db,
    name: &str,
    customers: &[String],
    expires_at: Option<i64>,
    audit: Option<&AuditEntry>,
) -> Result<(AdminToken, String)> {
    let token = format!("jg_{}", random_token());
    let row = AdminToken {
        id: new_id("tok"),
        name: name.to_string(),
        is_admin: customers.is_empty(),
    };
    let audit = audit.map(|a| a.clone().detail(describe(&row, expires_at)));
    let mut tx = db.begin().await?;
    on_tx!(&mut tx, conn => sqlx::query(
        "INSERT INTO admin_tokens (id, name, token_hash, is_admin, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(&row.id).bind(&row.name).bind(hash_token(&token)).bind(row.is_admin).bind(now_ms()).bind(expires_at)
        .execute(&mut *conn).await?.rows_affected());
    for customer in customers {
        on_tx!(&mut tx, conn => sqlx::query("INSERT INTO admin_token_customers (token_id, customer_id) VALUES ($1, $2)")
            .bind(&row.id).bind(customer).execute(&mut *conn).await?.rows_affected());
    }
    if let Some(a) = &audit {
        audit::record(&mut tx, a).await?;
    }
    tx.commit().await?;
    Ok((row, token))
}

/// The audit detail of a new token: its id and name, never the token.
fn describe(row: &AdminToken, expires_at: Option<i64>) -> String {
    let kind = if row.is_admin { "admin" } else { "delegated" };
    match expires_at {
        Some(at) => format!(
            "{kind} token {} ({}), expires {}",
            row.id,
            row.name,
            crate::domain::time::utc(at)
        ),
        None => format!("{kind} token {} ({}), no expiry", row.id, row.name),
    }
}

/// The token if it is known, not revoked and not expired.
pub async fn find(db: &Db, token: &str) -> Result<Option<ActiveToken>> {
    Ok(on_db!(db, pool => sqlx::query_as(
        "SELECT id, name, is_admin, last_used_at FROM admin_tokens
         WHERE token_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)")
        .bind(hash_token(token)).bind(now_ms()).fetch_optional(pool).await?))
}

/// Record a use of the token, unless one was recorded less than a minute ago (the check is
/// made on the row the request already read, so most requests write nothing).
pub async fn touch(db: &Db, token: &ActiveToken) -> Result<()> {
    let now = now_ms();
    if token
        .last_used_at
        .is_some_and(|t| now - t < LAST_USED_PRECISION_MS)
    {
        return Ok(());
    }
    on_db!(db, pool => sqlx::query(
        "UPDATE admin_tokens SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)")
        .bind(now).bind(&token.id).bind(now - LAST_USED_PRECISION_MS).execute(pool).await?.rows_affected());
    Ok(())
}

pub async fn customers(db: &Db, token_id: &str) -> Result<Vec<String>> {
    Ok(
        on_db!(db, pool => sqlx::query_scalar("SELECT customer_id FROM admin_token_customers WHERE token_id = $1 ORDER BY customer_id")
        .bind(token_id).fetch_all(pool).await?),
    )
}

const INFO_COLUMNS: &str = "id, name, is_admin, created_at, last_used_at, expires_at, revoked_at";

/// Every token, revoked and expired ones included, oldest first.
pub async fn list(db: &Db) -> Result<Vec<TokenInfo>> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {INFO_COLUMNS} FROM admin_tokens ORDER BY created_at, id"
    ));
    let mut rows: Vec<TokenInfo> = on_db!(db, pool => sqlx::query_as(sql).fetch_all(pool).await?);
    for row in rows.iter_mut().filter(|r| !r.is_admin) {
        row.customers = customers(db, &row.id).await?;
    }
    Ok(rows)
}

pub async fn get(db: &Db, id: &str) -> Result<TokenInfo> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {INFO_COLUMNS} FROM admin_tokens WHERE id = $1"
    ));
    let mut row: TokenInfo =
        on_db!(db, pool => sqlx::query_as(sql).bind(id).fetch_optional(pool).await?)
            .ok_or(StoreError::NotFound)?;
    if !row.is_admin {
        row.customers = customers(db, id).await?;
    }
    Ok(row)
}

/// What [`revoke`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Revoked {
    Now,
    Already,
}

/// Revoke the token, with its audit row in the same transaction. `NotFound` for an unknown id.
pub async fn revoke(db: &Db, id: &str, audit: &AuditEntry) -> Result<Revoked> {
    let now = now_ms();
    let mut tx = db.begin().await?;
    let exists: Option<Option<i64>> = on_tx!(&mut tx, conn => sqlx::query_scalar(
        "SELECT revoked_at FROM admin_tokens WHERE id = $1")
        .bind(id).fetch_optional(&mut *conn).await?);
    let outcome = match exists {
        None => return Err(StoreError::NotFound),
        Some(Some(_)) => Revoked::Already,
        Some(None) => {
            on_tx!(&mut tx, conn => sqlx::query("UPDATE admin_tokens SET revoked_at = $1 WHERE id = $2")
                .bind(now).bind(id).execute(&mut *conn).await?.rows_affected());
            audit::record(&mut tx, audit).await?;
            Revoked::Now
        }
    };
    tx.commit().await?;
    Ok(outcome)
}
