//! Technicians, the MSP-admin flag and delegations to customers.

use super::{Db, Result, StoreError, new_id, now_ms, on_db};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Technician {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub is_admin: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

pub async fn create(db: &Db, email: &str, display_name: &str) -> Result<Technician> {
    let now = now_ms();
    let t = Technician {
        id: new_id("tec"),
        email: email.to_string(),
        display_name: display_name.to_string(),
        is_admin: false,
        created_at: now,
        updated_at: now,
    };
    on_db!(db, pool => sqlx::query(
        "INSERT INTO technicians (id, email, display_name, is_admin, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(&t.id).bind(&t.email).bind(&t.display_name).bind(t.is_admin).bind(now).bind(now)
        .execute(pool).await?.rows_affected());
    Ok(t)
}

pub async fn get(db: &Db, id: &str) -> Result<Technician> {
    let row: Option<Technician> = on_db!(db, pool => sqlx::query_as("SELECT * FROM technicians WHERE id = $1")
        .bind(id).fetch_optional(pool).await?);
    row.ok_or(StoreError::NotFound)
}

pub async fn by_email(db: &Db, email: &str) -> Result<Option<Technician>> {
    Ok(
        on_db!(db, pool => sqlx::query_as("SELECT * FROM technicians WHERE email = $1")
        .bind(email.to_ascii_lowercase()).fetch_optional(pool).await?),
    )
}

pub async fn list(db: &Db) -> Result<Vec<Technician>> {
    Ok(
        on_db!(db, pool => sqlx::query_as("SELECT * FROM technicians ORDER BY email").fetch_all(pool).await?),
    )
}

pub async fn delete(db: &Db, id: &str) -> Result<()> {
    let n = on_db!(db, pool => sqlx::query("DELETE FROM technicians WHERE id = $1").bind(id).execute(pool).await?.rows_affected());
    if n == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

pub async fn set_admin(db: &Db, id: &str, is_admin: bool) -> Result<()> {
    let n = on_db!(db, pool => sqlx::query("UPDATE technicians SET is_admin = $1, updated_at = $2 WHERE id = $3")
        .bind(is_admin).bind(now_ms()).bind(id).execute(pool).await?.rows_affected());
    if n == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

pub async fn delegate(db: &Db, technician_id: &str, customer_id: &str) -> Result<()> {
    on_db!(db, pool => sqlx::query(
        "INSERT INTO delegations (technician_id, customer_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
        .bind(technician_id).bind(customer_id).bind(now_ms()).execute(pool).await?.rows_affected());
    Ok(())
}

pub async fn undelegate(db: &Db, technician_id: &str, customer_id: &str) -> Result<()> {
    on_db!(db, pool => sqlx::query("DELETE FROM delegations WHERE technician_id = $1 AND customer_id = $2")
        .bind(technician_id).bind(customer_id).execute(pool).await?.rows_affected());
    Ok(())
}

pub async fn delegated_customers(db: &Db, technician_id: &str) -> Result<Vec<String>> {
    Ok(on_db!(db, pool => sqlx::query_scalar(
        "SELECT customer_id FROM delegations WHERE technician_id = $1 ORDER BY customer_id")
        .bind(technician_id).fetch_all(pool).await?))
}

/// I6: an MSP admin may work every customer; anyone else only those delegated to them.
pub async fn may_work(db: &Db, technician: &Technician, customer_id: &str) -> Result<bool> {
    if technician.is_admin {
        return Ok(true);
    }
    let n: i64 = on_db!(db, pool => sqlx::query_scalar(
        "SELECT COUNT(*) FROM delegations WHERE technician_id = $1 AND customer_id = $2")
        .bind(&technician.id).bind(customer_id).fetch_one(pool).await?);
    Ok(n > 0)
}
