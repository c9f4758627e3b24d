//! The MSP's own multi-tenant Entra app (configured once) and the admin-consent requests that
//! connect customers through it.

use super::customers::{ENTRA_SECRET, EntraConnection, secret_scope};
use super::{Db, Result, StoreError, Tx, now_ms, on_db, on_tx, secrets};
use crate::crypto::Keyring;

/// Where the MSP app's credential is sealed (`secrets` scope and names): its client secret, or
/// its certificate's PEM with the private key. Exactly one of them is there.
pub const SECRET_SCOPE: &str = "msp_app";
pub const CLIENT_SECRET: &str = "client_secret";
pub const CLIENT_CERTIFICATE: &str = "client_certificate";

/// `msp_app.credential`.
const SECRET: &str = "secret";
const CERTIFICATE: &str = "certificate";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MspApp {
    pub client_id: String,
    /// `secret` or `certificate`: what the app's tokens are requested with.
    pub credential: String,
    /// SHA-1 thumbprint of the certificate (upper-case hex, as the Entra admin center shows it).
    pub certificate_thumbprint: Option<String>,
    /// The certificate's notAfter, Unix milliseconds.
    pub certificate_not_after: Option<i64>,
    pub updated_at: i64,
}

/// A credential to set on the MSP app (already checked by the caller).
pub enum NewCredential<'a> {
    Secret(&'a str),
    Certificate {
        /// The certificate and its private key, PEM.
        pem: &'a str,
        thumbprint: &'a str,
        /// Unix milliseconds.
        not_after: Option<i64>,
    },
}

impl NewCredential<'_> {
    /// `"client secret"` or `"certificate <thumbprint>"`: names the credential, never shows it.
    pub fn describe(&self) -> String {
        match self {
            NewCredential::Secret(_) => "client secret".into(),
            NewCredential::Certificate { thumbprint, .. } => format!("certificate {thumbprint}"),
        }
    }
}

/// A stored credential, unsealed.
pub enum StoredCredential {
    Secret(String),
    /// The certificate and its private key, PEM.
    CertificatePem(String),
}

impl std::fmt::Debug for StoredCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StoredCredential::Secret(_) => "Secret([REDACTED])",
            StoredCredential::CertificatePem(_) => "CertificatePem([REDACTED])",
        })
    }
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
    Ok(on_db!(db, pool => sqlx::query_as(
        "SELECT client_id, credential, certificate_thumbprint, certificate_not_after, updated_at
         FROM msp_app WHERE id = 1")
        .fetch_optional(pool).await?))
}

/// Set the app's client id and seal its credential, in `tx`. Setting one credential removes
/// the other: the app authenticates with exactly one.
pub async fn put(
    tx: &mut Tx,
    keyring: &Keyring,
    client_id: &str,
    credential: &NewCredential<'_>,
) -> Result<()> {
    let (kind, thumbprint, not_after) = match credential {
        NewCredential::Secret(_) => (SECRET, None, None),
        NewCredential::Certificate {
            thumbprint,
            not_after,
            ..
        } => (CERTIFICATE, Some(*thumbprint), *not_after),
    };
    on_tx!(tx, conn => sqlx::query(
        "INSERT INTO msp_app (id, client_id, credential, certificate_thumbprint,
             certificate_not_after, updated_at)
         VALUES (1, $1, $2, $3, $4, $5)
         ON CONFLICT (id) DO UPDATE SET client_id = excluded.client_id,
             credential = excluded.credential,
             certificate_thumbprint = excluded.certificate_thumbprint,
             certificate_not_after = excluded.certificate_not_after,
             updated_at = excluded.updated_at")
        .bind(client_id).bind(kind).bind(thumbprint).bind(not_after).bind(now_ms())
        .execute(&mut *conn).await?.rows_affected());
    let (name, value, other) = match credential {
        NewCredential::Secret(secret) => (CLIENT_SECRET, *secret, CLIENT_CERTIFICATE),
        NewCredential::Certificate { pem, .. } => (CLIENT_CERTIFICATE, *pem, CLIENT_SECRET),
    };
    secrets::delete(tx, SECRET_SCOPE, other).await?;
    secrets::put(tx, keyring, SECRET_SCOPE, name, value.as_bytes()).await
}

/// The app and its credential, if both are configured.
pub async fn with_credential(
    db: &Db,
    keyring: &Keyring,
) -> Result<Option<(MspApp, StoredCredential)>> {
    let Some(app) = get(db).await? else {
        return Ok(None);
    };
    let credential = app_credential(db, keyring, &app).await?;
    Ok(credential.map(|c| (app, c)))
}

/// The sealed credential the row names.
async fn app_credential(
    db: &Db,
    keyring: &Keyring,
    app: &MspApp,
) -> Result<Option<StoredCredential>> {
    match app.credential.as_str() {
        SECRET => Ok(
            secrets::get_string(db, keyring, SECRET_SCOPE, CLIENT_SECRET)
                .await?
                .map(StoredCredential::Secret),
        ),
        CERTIFICATE => Ok(
            secrets::get_string(db, keyring, SECRET_SCOPE, CLIENT_CERTIFICATE)
                .await?
                .map(StoredCredential::CertificatePem),
        ),
        other => Err(StoreError::Corrupt(format!(
            "msp_app.credential is '{other}'"
        ))),
    }
}

/// Whether `client_id` is the MSP app's: connections naming it authenticate with its
/// credential.
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

/// The credential a customer's connection authenticates with: the MSP app's (secret or
/// certificate) when the connection names the MSP app (connected by admin consent), the
/// customer's own client secret otherwise (per-customer apps are secret-only).
pub async fn connection_credential(
    db: &Db,
    keyring: &Keyring,
    connection: &EntraConnection,
) -> Result<Option<StoredCredential>> {
    if let Some(app) = get(db).await?
        && app
            .client_id
            .eq_ignore_ascii_case(connection.client_id.trim())
    {
        return app_credential(db, keyring, &app).await;
    }
    Ok(secrets::get_string(
        db,
        keyring,
        &secret_scope(&connection.customer_id),
        ENTRA_SECRET,
    )
    .await?
    .map(StoredCredential::Secret))
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
