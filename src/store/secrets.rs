//! Sealed secrets: one table for every secret, so a key rotation has one place to walk.
//!
//! A secret is addressed by `(scope, name)`, e.g. `customer:cus_…/entra_client_secret` or
//! `connector:con_…/webhook_secret.1`; that address is the AES-GCM associated data.

use super::{BeginWrite, Db, Result, now_ms, on_db};
use crate::crypto::{Keyring, Sealed};

pub fn aad(scope: &str, name: &str) -> String {
    format!("jitgate/v1/{scope}/{name}")
}

pub async fn put(db: &Db, keyring: &Keyring, scope: &str, name: &str, value: &[u8]) -> Result<()> {
    let sealed = keyring.seal(&aad(scope, name), value);
    on_db!(db, pool => upsert(scope, name, &sealed).execute(pool).await?.rows_affected());
    Ok(())
}

/// The INSERT-or-replace of one sealed value, for either database, to run on a pool or inside
/// a transaction with the change it belongs to.
pub(crate) fn upsert<'q, DB>(
    scope: &str,
    name: &str,
    sealed: &Sealed,
) -> sqlx::query::Query<'q, DB, DB::Arguments>
where
    DB: sqlx::Database,
    for<'e> &'e str: sqlx::Encode<'e, DB> + sqlx::Type<DB>,
    String: for<'e> sqlx::Encode<'e, DB> + sqlx::Type<DB>,
    Vec<u8>: for<'e> sqlx::Encode<'e, DB> + sqlx::Type<DB>,
    i64: for<'e> sqlx::Encode<'e, DB> + sqlx::Type<DB>,
{
    sqlx::query(
        "INSERT INTO secrets (scope, name, key_id, sealed, updated_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (scope, name) DO UPDATE SET key_id = excluded.key_id, sealed = excluded.sealed,
         updated_at = excluded.updated_at",
    )
    .bind(scope)
    .bind(name)
    .bind(&sealed.key_id)
    .bind(&sealed.bytes)
    .bind(now_ms())
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

pub async fn delete(db: &Db, scope: &str, name: &str) -> Result<()> {
    on_db!(db, pool => sqlx::query("DELETE FROM secrets WHERE scope = $1 AND name = $2")
        .bind(scope).bind(name).execute(pool).await?.rows_affected());
    Ok(())
}

pub async fn delete_scope(db: &Db, scope: &str) -> Result<()> {
    on_db!(db, pool => sqlx::query("DELETE FROM secrets WHERE scope = $1").bind(scope).execute(pool).await?.rows_affected());
    Ok(())
}

/// Replace every secret whose name starts with `prefix` under `scope` by `values`
/// (`prefix.0`, `prefix.1`, …), in one transaction.
pub async fn replace_list(
    db: &Db,
    keyring: &Keyring,
    scope: &str,
    prefix: &str,
    values: &[String],
) -> Result<()> {
    let pattern = format!("{prefix}.%");
    let now = now_ms();
    on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        sqlx::query("DELETE FROM secrets WHERE scope = $1 AND name LIKE $2")
            .bind(scope).bind(&pattern).execute(&mut *tx).await?;
        for (i, value) in values.iter().enumerate() {
            let name = format!("{prefix}.{i}");
            let sealed = keyring.seal(&aad(scope, &name), value.as_bytes());
            sqlx::query("INSERT INTO secrets (scope, name, key_id, sealed, updated_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(scope).bind(&name).bind(&sealed.key_id).bind(&sealed.bytes).bind(now)
                .execute(&mut *tx).await?;
        }
        tx.commit().await?;
    });
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
