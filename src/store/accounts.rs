//! JIT accounts: one per (customer, technician), and the lease that serializes Graph work on it.

use super::{Db, Result, StoreError, new_id, now_ms, on_db};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Account {
    pub id: String,
    pub customer_id: String,
    pub technician_id: String,
    pub upn: String,
    pub entra_user_id: Option<String>,
    pub state: String,
    pub totp_set: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

pub const PASSWORD: &str = "password";
pub const TOTP_KEY: &str = "totp_key";

pub fn secret_scope(account_id: &str) -> String {
    format!("account:{account_id}")
}

const COLUMNS: &str =
    "id, customer_id, technician_id, upn, entra_user_id, state, totp_set, created_at, updated_at";

/// The technician's account row in this customer, created on first use. The unique
/// (customer, technician) constraint makes concurrent first requests agree on one row (I2).
pub async fn get_or_create(
    db: &Db,
    customer_id: &str,
    technician_id: &str,
    upn: &str,
) -> Result<Account> {
    let now = now_ms();
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM jit_accounts WHERE customer_id = $1 AND technician_id = $2"
    ));
    on_db!(db, pool => {
        sqlx::query(
            "INSERT INTO jit_accounts (id, customer_id, technician_id, upn, state, created_at, updated_at)
             VALUES ($1, $2, $3, $4, 'new', $5, $5) ON CONFLICT (customer_id, technician_id) DO NOTHING")
            .bind(new_id("acc")).bind(customer_id).bind(technician_id).bind(upn).bind(now)
            .execute(pool).await?;
        Ok(sqlx::query_as(sql).bind(customer_id).bind(technician_id).fetch_one(pool).await?)
    })
}

pub async fn find(db: &Db, customer_id: &str, technician_id: &str) -> Result<Option<Account>> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM jit_accounts WHERE customer_id = $1 AND technician_id = $2"
    ));
    Ok(
        on_db!(db, pool => sqlx::query_as(sql).bind(customer_id).bind(technician_id).fetch_optional(pool).await?),
    )
}

pub async fn get(db: &Db, id: &str) -> Result<Account> {
    let sql = sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM jit_accounts WHERE id = $1"));
    let row: Option<Account> =
        on_db!(db, pool => sqlx::query_as(sql).bind(id).fetch_optional(pool).await?);
    row.ok_or(StoreError::NotFound)
}

/// Take the account's lease for `ttl_ms`; false if another worker holds it.
pub async fn lock(db: &Db, id: &str, owner: &str, ttl_ms: i64) -> Result<bool> {
    let now = now_ms();
    let n = on_db!(db, pool => sqlx::query(
        "UPDATE jit_accounts SET lock_owner = $1, lock_until = $2
         WHERE id = $3 AND (lock_until IS NULL OR lock_until < $4 OR lock_owner = $1)")
        .bind(owner).bind(now + ttl_ms).bind(id).bind(now)
        .execute(pool).await?.rows_affected());
    Ok(n == 1)
}

pub async fn unlock(db: &Db, id: &str, owner: &str) -> Result<()> {
    on_db!(db, pool => sqlx::query("UPDATE jit_accounts SET lock_owner = NULL, lock_until = NULL WHERE id = $1 AND lock_owner = $2")
        .bind(id).bind(owner).execute(pool).await?.rows_affected());
    Ok(())
}

/// Record what Graph reported: the account's object id and UPN, and that it is enabled.
pub async fn set_active(db: &Db, id: &str, entra_user_id: &str, upn: &str) -> Result<()> {
    on_db!(db, pool => sqlx::query(
        "UPDATE jit_accounts SET entra_user_id = $1, upn = $2, state = 'active', updated_at = $3 WHERE id = $4")
        .bind(entra_user_id).bind(upn).bind(now_ms()).bind(id).execute(pool).await?.rows_affected());
    Ok(())
}

pub async fn set_totp(db: &Db, id: &str, set: bool) -> Result<()> {
    on_db!(db, pool => sqlx::query("UPDATE jit_accounts SET totp_set = $1, updated_at = $2 WHERE id = $3")
        .bind(set).bind(now_ms()).bind(id).execute(pool).await?.rows_affected());
    Ok(())
}
