//! Admin API bearer tokens: stored as SHA-256 hashes, shown once at creation.

use super::{BeginWrite, Db, Result, new_id, now_ms, on_db};
use crate::crypto::{hash_token, random_token};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AdminToken {
    pub id: String,
    pub name: String,
    pub is_admin: bool,
}

/// Create a token; an empty `customers` makes it an admin token. Returns the stored row and
/// the token text, which exists nowhere else.
pub async fn create(db: &Db, name: &str, customers: &[String]) -> Result<(AdminToken, String)> {
    let token = format!("jg_{}", random_token());
    let row = AdminToken {
        id: new_id("tok"),
        name: name.to_string(),
        is_admin: customers.is_empty(),
    };
    on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        sqlx::query("INSERT INTO admin_tokens (id, name, token_hash, is_admin, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&row.id).bind(&row.name).bind(hash_token(&token)).bind(row.is_admin).bind(now_ms())
            .execute(&mut *tx).await?;
        for customer in customers {
            sqlx::query("INSERT INTO admin_token_customers (token_id, customer_id) VALUES ($1, $2)")
                .bind(&row.id).bind(customer).execute(&mut *tx).await?;
        }
        tx.commit().await?;
    });
    Ok((row, token))
}

pub async fn find(db: &Db, token: &str) -> Result<Option<AdminToken>> {
    Ok(on_db!(db, pool => sqlx::query_as(
        "SELECT id, name, is_admin FROM admin_tokens WHERE token_hash = $1 AND revoked_at IS NULL")
        .bind(hash_token(token)).fetch_optional(pool).await?))
}

pub async fn customers(db: &Db, token_id: &str) -> Result<Vec<String>> {
    Ok(
        on_db!(db, pool => sqlx::query_scalar("SELECT customer_id FROM admin_token_customers WHERE token_id = $1")
        .bind(token_id).fetch_all(pool).await?),
    )
}
