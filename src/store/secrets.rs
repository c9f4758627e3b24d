//! Sealed secrets: one table for every secret, so a key rotation has one place to walk.
//!
//! A secret is addressed by `(scope, name)`, e.g. `customer:cus_…/entra_client_secret` or
//! `connector:con_…/webhook_secret.1`; that address is the AES-GCM associated data.

use super::{Db, Result, Tx, now_ms, on_db, on_tx};
use crate::crypto::{Keyring, Sealed};

pub fn aad(scope: &str, name: &str) -> String {
    format!("jitgate/v1/{scope}/{name}")
}

/// Seal `value` under the active key and store it at `(scope, name)`, in `tx`.
pub async fn put(
    tx: &mut Tx,
    keyring: &Keyring,
    scope: &str,
    name: &str,
    value: &[u8],
) -> Result<()> {
    let sealed = keyring.seal(&aad(scope, name), value);
    on_tx!(tx, conn => sqlx::query(
        "INSERT INTO secrets (scope, name, key_id, sealed, updated_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (scope, name) DO UPDATE SET key_id = excluded.key_id, sealed = excluded.sealed,
         updated_at = excluded.updated_at")
        .bind(scope).bind(name).bind(&sealed.key_id).bind(&sealed.bytes).bind(now_ms())
        .execute(&mut *conn).await?.rows_affected());
    Ok(())
}

pub async fn get(db: &Db, keyring: &Keyring, scope: &str, name: &str) -> Result<Option<Vec<u8>>> {
    let row: Option<(String, Vec<u8>)> = on_db!(db, pool => sqlx::query_as(
        "SELECT key_id, sealed FROM secrets WHERE scope = $1 AND name = $2")
        .bind(scope).bind(name).fetch_optional(pool).await?);
    match row {
        None => Ok(None),
        Some((key_id, bytes)) => Ok(Some(
            keyring.open(&aad(scope, name), &Sealed { key_id, bytes })?,
        )),
    }
}

pub async fn get_string(
    db: &Db,
    keyring: &Keyring,
    scope: &str,
    name: &str,
) -> Result<Option<String>> {
    match get(db, keyring, scope, name).await? {
        None => Ok(None),
        Some(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| super::StoreError::Corrupt(format!("secret {scope}/{name} is not UTF-8"))),
    }
}

/// Names of the secrets set under `scope` (never their values).
pub async fn names(db: &Db, scope: &str) -> Result<Vec<String>> {
    Ok(
        on_db!(db, pool => sqlx::query_scalar("SELECT name FROM secrets WHERE scope = $1 ORDER BY name")
        .bind(scope).fetch_all(pool).await?),
    )
}

pub async fn delete(tx: &mut Tx, scope: &str, name: &str) -> Result<()> {
    on_tx!(tx, conn => sqlx::query("DELETE FROM secrets WHERE scope = $1 AND name = $2")
        .bind(scope).bind(name).execute(&mut *conn).await?.rows_affected());
    Ok(())
}

pub async fn delete_scope(tx: &mut Tx, scope: &str) -> Result<()> {
    on_tx!(tx, conn => sqlx::query("DELETE FROM secrets WHERE scope = $1")
        .bind(scope).execute(&mut *conn).await?.rows_affected());
    Ok(())
}

/// Replace every secret whose name starts with `prefix` under `scope` by `values`
/// (`prefix.0`, `prefix.1`, …), in `tx`.
pub async fn replace_list(
    tx: &mut Tx,
    keyring: &Keyring,
    scope: &str,
    prefix: &str,
    values: &[String],
) -> Result<()> {
    let pattern = format!("{prefix}.%");
    on_tx!(tx, conn => sqlx::query("DELETE FROM secrets WHERE scope = $1 AND name LIKE $2")
        .bind(scope).bind(&pattern).execute(&mut *conn).await?.rows_affected());
    for (i, value) in values.iter().enumerate() {
        put(
            tx,
            keyring,
            scope,
            &format!("{prefix}.{i}"),
            value.as_bytes(),
        )
        .await?;
    }
    Ok(())
}

/// Re-seal, under the active key, every secret sealed under another key. Each value is
/// swapped only if it is unchanged since it was read, so a concurrent write is never undone.
/// Returns how many values were re-sealed.
pub async fn reseal_all(db: &Db, keyring: &Keyring) -> Result<u64> {
    let active = keyring.active_key_id();
    let mut count = 0;
    loop {
        let batch: Vec<(String, String, String, Vec<u8>)> = on_db!(db, pool => sqlx::query_as(
            "SELECT scope, name, key_id, sealed FROM secrets WHERE key_id <> $1 LIMIT 200")
            .bind(&active).fetch_all(pool).await?);
        if batch.is_empty() {
            return Ok(count);
        }
        for (scope, name, key_id, bytes) in batch {
            let address = aad(&scope, &name);
            let plain = keyring.open(
                &address,
                &Sealed {
                    key_id: key_id.clone(),
                    bytes: bytes.clone(),
                },
            )?;
            let fresh = keyring.seal(&address, &plain);
            let done = on_db!(db, pool => sqlx::query(
                "UPDATE secrets SET key_id = $1, sealed = $2 WHERE scope = $3 AND name = $4 AND key_id = $5 AND sealed = $6")
                .bind(&fresh.key_id).bind(&fresh.bytes).bind(&scope).bind(&name).bind(&key_id).bind(&bytes)
                .execute(pool).await?.rows_affected());
            count += done;
        }
    }
}

/// Key ids still in use, for deciding whether old keys can be retired.
pub async fn key_ids_in_use(db: &Db) -> Result<Vec<String>> {
    Ok(
        on_db!(db, pool => sqlx::query_scalar("SELECT DISTINCT key_id FROM secrets").fetch_all(pool).await?),
    )
}

/// What `jitgate key rotate` did.
#[derive(Debug)]
pub struct Rotation {
    pub new_key_id: String,
    pub resealed: u64,
    /// Keys dropped from the keyring because nothing uses them any more.
    pub retired: Vec<String>,
}

/// Add a fresh master key, re-seal every secret under it, and retire the old keys once no value
/// uses them. Readers keep working throughout: old keys stay in the keyring until the end.
pub async fn rotate(db: &Db, keyring: &Keyring) -> Result<Rotation> {
    let key = crate::crypto::MasterKey::generate();
    let new_key_id = key.id().to_string();
    keyring.add_active_key(key)?;
    let resealed = reseal_all(db, keyring).await?;
    let in_use = key_ids_in_use(db).await?;
    let retired = if in_use.iter().all(|k| *k == new_key_id) {
        keyring.retire_old_keys()?
    } else {
        Vec::new()
    };
    Ok(Rotation {
        new_key_id,
        resealed,
        retired,
    })
}
