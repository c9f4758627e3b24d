//! The MSP's own multi-tenant Entra app (configured once) and the admin-consent requests that
//! connect customers through it.

use super::customers::{ENTRA_SECRET, EntraConnection, secret_scope};
use super::{Db, Result, Tx, now_ms, on_db, on_tx, secrets};
use crate::crypto::Keyring;

/// Where the MSP app's client secret is sealed (`secrets` scope and name).
pub const SECRET_SCOPE: &str = "msp_app";
pub const CLIENT_SECRET: &str = "client_secret";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MspApp {
    pub client_id: String,
    pub updated_at: i64,
}

/// An outstanding admin-consent request.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConsentState {
    pub customer_id: String,
    /// The audit actor (`token:…`) of the admin who asked for the consent URL.
    pub requested_by: String,
    pub expires_at: i64,
}

pub async fn get(db: &Db) -> Result<Option<MspApp>> {
    Ok(
        on_db!(db, pool => sqlx::query_as("SELECT client_id, updated_at FROM msp_app WHERE id = 1")
        .fetch_optional(pool).await?),
    )
}

/// Set the app's client id and seal its secret, in `tx`.
pub async fn put(tx: &mut Tx, keyring: &Keyring, client_id: &str, secret: &str) -> Result<()> {
    on_tx!(tx, conn => sqlx::query(
        "INSERT INTO msp_app (id, client_id, updated_at) VALUES (1, $1, $2)
         ON CONFLICT (id) DO UPDATE SET client_id = excluded.client_id, updated_at = excluded.updated_at")
        .bind(client_id).bind(now_ms()).execute(&mut *conn).await?.rows_affected());
    secrets::put(tx, keyring, SECRET_SCOPE, CLIENT_SECRET, secret.as_bytes()).await
}

/// The app and its secret, if both are configured.
pub async fn with_secret(db: &Db, keyring: &Keyring) -> Result<Option<(MspApp, String)>> {
    let Some(app) = get(db).await? else {
        return Ok(None);
    };
    let secret = secrets::get_string(db, keyring, SECRET_SCOPE, CLIENT_SECRET).await?;
    Ok(secret.map(|s| (app, s)))
}

/// Whether `client_id` is the MSP app's: connections naming it authenticate with its secret.
pub async fn is_msp_app(db: &Db, client_id: &str) -> Result<bool> {
    Ok(get(db)
        .await?
        .is_some_and(|app| app.client_id.eq_ignore_ascii_case(client_id.trim())))
}

/// Whether a secret is there for the customer's connection through `client_id`: the MSP app's,
/// or the customer's own.
pub async fn connection_secret_set(db: &Db, customer_id: &str, client_id: &str) -> Result<bool> {
    if is_msp_app(db, client_id).await? {
        return Ok(true);
    }
    Ok(secrets::names(db, &secret_scope(customer_id))
        .await?
        .iter()
        .any(|n| n == ENTRA_SECRET))
}

/// The client secret a customer's connection authenticates with: the MSP app's when the
/// connection names the MSP app (connected by admin consent), the customer's own otherwise.
pub async fn connection_secret(
    db: &Db,
    keyring: &Keyring,
    connection: &EntraConnection,
) -> Result<Option<String>> {
    if is_msp_app(db, &connection.client_id).await? {
        return secrets::get_string(db, keyring, SECRET_SCOPE, CLIENT_SECRET).await;
    }
    secrets::get_string(
        db,
        keyring,
        &secret_scope(&connection.customer_id),
        ENTRA_SECRET,
    )
    .await
}

pub async fn create_consent_state(
    tx: &mut Tx,
    state_hash: &str,
    customer_id: &str,
    requested_by: &str,
    expires_at: i64,
) -> Result<()> {
    on_tx!(tx, conn => sqlx::query(
        "INSERT INTO consent_states (state_hash, customer_id, requested_by, expires_at, created_at)
         VALUES ($1, $2, $3, $4, $5)")
        .bind(state_hash).bind(customer_id).bind(requested_by).bind(expires_at).bind(now_ms())
        .execute(&mut *conn).await?.rows_affected());
    Ok(())
}

/// Remove and return the consent request with this state hash: a state works at most once,
/// whatever happens next. Expired rows are returned too (the caller says why it refuses).
pub async fn take_consent_state(tx: &mut Tx, state_hash: &str) -> Result<Option<ConsentState>> {
    Ok(on_tx!(tx, conn => sqlx::query_as(
        "DELETE FROM consent_states WHERE state_hash = $1
         RETURNING customer_id, requested_by, expires_at")
        .bind(state_hash).fetch_optional(&mut *conn).await?))
}
