//! PSA connectors (settings as JSON; secrets in `secrets`) and PSA company → customer mappings.

use super::customers::Visibility;
use super::{Db, Result, StoreError, Tx, new_id, now_ms, on_db, on_tx};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConnectorRow {
    pub id: String,
    pub kind: String,
    pub name: String,
    pub settings: String,
    pub enabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CompanyMapping {
    pub connector_id: String,
    pub psa_company_id: String,
    pub customer_id: String,
    pub created_at: i64,
}

pub fn secret_scope(connector_id: &str) -> String {
    format!("connector:{connector_id}")
}

/// Stored secret names are `name.0`, `name.1`, … (several active values during a rotation):
/// the name a stored one belongs to.
pub fn secret_base(stored: &str) -> &str {
    stored.rsplit_once('.').map(|(b, _)| b).unwrap_or(stored)
}

/// Every stored secret value of a connector, unsealed and grouped by name, newest first (at
/// most ten values per name, so the names' text order is their list order).
pub async fn secrets(
    db: &Db,
    keyring: &crate::crypto::Keyring,
    connector_id: &str,
) -> Result<std::collections::BTreeMap<String, Vec<String>>> {
    let scope = secret_scope(connector_id);
    let mut out: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for stored in super::secrets::names(db, &scope).await? {
        if let Some(v) = super::secrets::get_string(db, keyring, &scope, &stored).await? {
            out.entry(secret_base(&stored).to_string())
                .or_default()
                .push(v);
        }
    }
    Ok(out)
}

pub async fn create(
    tx: &mut Tx,
    kind: &str,
    name: &str,
    settings: &serde_json::Value,
    enabled: bool,
) -> Result<ConnectorRow> {
    let now = now_ms();
    let row = ConnectorRow {
        id: new_id("con"),
        kind: kind.to_string(),
        name: name.to_string(),
        settings: settings.to_string(),
        enabled,
        created_at: now,
        updated_at: now,
    };
    on_tx!(tx, conn => sqlx::query(
        "INSERT INTO connectors (id, kind, name, settings, enabled, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(&row.id).bind(&row.kind).bind(&row.name).bind(&row.settings).bind(row.enabled).bind(now).bind(now)
        .execute(&mut *conn).await?.rows_affected());
    Ok(row)
}

pub async fn get(db: &Db, id: &str) -> Result<ConnectorRow> {
    let row: Option<ConnectorRow> = on_db!(db, pool => sqlx::query_as("SELECT * FROM connectors WHERE id = $1")
        .bind(id).fetch_optional(pool).await?);
    row.ok_or(StoreError::NotFound)
}

pub async fn list(db: &Db) -> Result<Vec<ConnectorRow>> {
    Ok(
        on_db!(db, pool => sqlx::query_as("SELECT * FROM connectors ORDER BY name, id").fetch_all(pool).await?),
    )
}

pub async fn update(tx: &mut Tx, row: &ConnectorRow) -> Result<()> {
    let n = on_tx!(tx, conn => sqlx::query(
        "UPDATE connectors SET name = $1, settings = $2, enabled = $3, updated_at = $4 WHERE id = $5")
        .bind(&row.name).bind(&row.settings).bind(row.enabled).bind(now_ms()).bind(&row.id)
        .execute(&mut *conn).await?.rows_affected());
    if n == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

/// Delete the connector with its secrets (its mappings go with it).
pub async fn delete(tx: &mut Tx, id: &str) -> Result<()> {
    super::secrets::delete_scope(tx, &secret_scope(id)).await?;
    let n = on_tx!(tx, conn => sqlx::query("DELETE FROM connectors WHERE id = $1")
        .bind(id).execute(&mut *conn).await?.rows_affected());
    if n == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

/// Map a PSA company to a customer, or move its mapping to another customer, unless it is
/// mapped to a customer outside `visibility`: then `None`, and nothing is written. The check
/// and the write are one statement, so a concurrent change cannot slip between them.
pub async fn map_company_within(
    tx: &mut Tx,
    visibility: &Visibility,
    connector_id: &str,
    psa_company_id: &str,
    customer_id: &str,
) -> Result<Option<CompanyMapping>> {
    let token = visibility.principal();
    Ok(on_tx!(tx, conn => sqlx::query_as(
        "INSERT INTO company_mappings (connector_id, psa_company_id, customer_id, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (connector_id, psa_company_id) DO UPDATE SET customer_id = excluded.customer_id
             WHERE $5 = '' OR company_mappings.customer_id IN
                 (SELECT customer_id FROM scoped_customers WHERE principal_id = $5)
         RETURNING *")
        .bind(connector_id).bind(psa_company_id).bind(customer_id).bind(now_ms()).bind(token)
        .fetch_optional(&mut *conn).await?))
}

pub async fn mapping(
    db: &Db,
    connector_id: &str,
    psa_company_id: &str,
) -> Result<Option<CompanyMapping>> {
    Ok(on_db!(db, pool => sqlx::query_as(
        "SELECT * FROM company_mappings WHERE connector_id = $1 AND psa_company_id = $2")
        .bind(connector_id).bind(psa_company_id).fetch_optional(pool).await?))
}

pub async fn unmap_company(tx: &mut Tx, connector_id: &str, psa_company_id: &str) -> Result<()> {
    let n = on_tx!(tx, conn => sqlx::query("DELETE FROM company_mappings WHERE connector_id = $1 AND psa_company_id = $2")
        .bind(connector_id).bind(psa_company_id).execute(&mut *conn).await?.rows_affected());
    if n == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

pub async fn mappings(db: &Db, connector_id: &str) -> Result<Vec<CompanyMapping>> {
    mappings_visible(db, &Visibility::All, connector_id).await
}

/// The connector's mappings to customers the caller may see.
pub async fn mappings_visible(
    db: &Db,
    visibility: &Visibility,
    connector_id: &str,
) -> Result<Vec<CompanyMapping>> {
    let token = visibility.principal();
    Ok(on_db!(db, pool => sqlx::query_as(
        "SELECT * FROM company_mappings WHERE connector_id = $1
           AND ($2 = '' OR customer_id IN (SELECT customer_id FROM scoped_customers WHERE principal_id = $2))
         ORDER BY psa_company_id")
        .bind(connector_id).bind(token).fetch_all(pool).await?))
}
