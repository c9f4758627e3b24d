//! Customers and their Entra connection.

use super::{Db, Result, StoreError, Tx, new_id, now_ms, on_db, on_tx};
use crate::domain::lifecycle::ExpiryAction;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Customer {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EntraConnection {
    pub customer_id: String,
    pub tenant_id: String,
    pub client_id: String,
    pub jit_domain: String,
    pub upn_template: String,
    /// JSON array of role template ids.
    pub roles: String,
    pub duration_secs: Option<i64>,
    pub expiry_action: ExpiryAction,
    pub updated_at: i64,
}

impl EntraConnection {
    pub fn role_ids(&self) -> Vec<String> {
        serde_json::from_str(&self.roles).unwrap_or_default()
    }
}

/// Which customers a caller may see: all, or those of a scoped principal (a delegated admin
/// token, or a technician who is a customer admin; the `scoped_customers` view lists both).
#[derive(Debug, Clone)]
pub enum Visibility {
    All,
    Scoped(String),
}

impl Visibility {
    /// The principal id queries bind (`''` for everything), compared against
    /// `scoped_customers.principal_id`.
    pub fn principal(&self) -> &str {
        match self {
            Visibility::All => "",
            Visibility::Scoped(id) => id,
        }
    }
}

const VISIBLE: &str =
    "($1 = '' OR id IN (SELECT customer_id FROM scoped_customers WHERE principal_id = $1))";

/// Where the customer's Entra client secret is sealed (`secrets` scope and name).
pub const ENTRA_SECRET: &str = "entra_client_secret";

pub fn secret_scope(customer_id: &str) -> String {
    format!("customer:{customer_id}")
}

pub async fn create(tx: &mut Tx, name: &str) -> Result<Customer> {
    let now = now_ms();
    let c = Customer {
        id: new_id("cus"),
        name: name.to_string(),
        created_at: now,
        updated_at: now,
    };
    on_tx!(tx, conn => sqlx::query("INSERT INTO customers (id, name, created_at, updated_at) VALUES ($1, $2, $3, $4)")
        .bind(&c.id).bind(&c.name).bind(now).bind(now).execute(&mut *conn).await?.rows_affected());
    Ok(c)
}

pub async fn list(db: &Db, visibility: &Visibility) -> Result<Vec<Customer>> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT * FROM customers WHERE {VISIBLE} ORDER BY name, id"
    ));
    Ok(on_db!(db, pool => sqlx::query_as(sql).bind(visibility.principal()).fetch_all(pool).await?))
}

/// The customer if it exists and is visible; `NotFound` otherwise (a delegated token cannot
/// tell another customer's id from a wrong one).
pub async fn get(db: &Db, visibility: &Visibility, id: &str) -> Result<Customer> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT * FROM customers WHERE {VISIBLE} AND id = $2"
    ));
    let row: Option<Customer> = on_db!(db, pool => sqlx::query_as(sql).bind(visibility.principal()).bind(id).fetch_optional(pool).await?);
    row.ok_or(StoreError::NotFound)
}

pub async fn rename(tx: &mut Tx, id: &str, name: &str) -> Result<()> {
    let n = on_tx!(tx, conn => sqlx::query("UPDATE customers SET name = $1, updated_at = $2 WHERE id = $3")
        .bind(name).bind(now_ms()).bind(id).execute(&mut *conn).await?.rows_affected());
    if n == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

pub async fn delete(tx: &mut Tx, id: &str) -> Result<()> {
    let n = on_tx!(tx, conn => sqlx::query("DELETE FROM customers WHERE id = $1").bind(id).execute(&mut *conn).await?.rows_affected());
    if n == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

pub async fn entra(db: &Db, customer_id: &str) -> Result<Option<EntraConnection>> {
    Ok(
        on_db!(db, pool => sqlx::query_as("SELECT * FROM entra_connections WHERE customer_id = $1")
        .bind(customer_id).fetch_optional(pool).await?),
    )
}

pub async fn put_entra(tx: &mut Tx, c: &EntraConnection) -> Result<()> {
    on_tx!(tx, conn => sqlx::query(
        "INSERT INTO entra_connections (customer_id, tenant_id, client_id, jit_domain, upn_template, roles,
             duration_secs, expiry_action, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (customer_id) DO UPDATE SET tenant_id = excluded.tenant_id, client_id = excluded.client_id,
             jit_domain = excluded.jit_domain, upn_template = excluded.upn_template, roles = excluded.roles,
             duration_secs = excluded.duration_secs, expiry_action = excluded.expiry_action,
             updated_at = excluded.updated_at")
        .bind(&c.customer_id).bind(&c.tenant_id).bind(&c.client_id).bind(&c.jit_domain).bind(&c.upn_template)
        .bind(&c.roles).bind(c.duration_secs).bind(c.expiry_action).bind(c.updated_at)
        .execute(&mut *conn).await?.rows_affected());
    Ok(())
}

pub async fn delete_entra(tx: &mut Tx, customer_id: &str) -> Result<()> {
    on_tx!(tx, conn => sqlx::query("DELETE FROM entra_connections WHERE customer_id = $1")
        .bind(customer_id).execute(&mut *conn).await?.rows_affected());
    Ok(())
}
