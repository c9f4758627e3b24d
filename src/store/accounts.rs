//! JIT accounts: one per (customer, technician), each with its own UPN, and the lease that
//! serializes Graph work on it.

use super::{BeginWrite, Db, Result, StoreError, Tx, new_id, now_ms, on_db, on_tx};
use crate::crypto::Keyring;
use crate::domain::lifecycle::AccountState;
use crate::domain::names::numbered_upn;
use crate::domain::totp::TotpKey;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Account {
    pub id: String,
    pub customer_id: String,
    pub technician_id: String,
    pub upn: String,
    pub entra_user_id: Option<String>,
    /// The tenant and app the Entra account lives in (set with `entra_user_id`).
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub state: AccountState,
    pub totp_set: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

pub const PASSWORD: &str = "password";
pub const TOTP_KEY: &str = "totp_key";

/// The tag jitgate writes to the Entra account's `employeeId` (at most 16 characters): the
/// first 64 bits of SHA-256 of the technician's id, in hex. It tells one technician's account
/// from another's without putting a name or email into the customer's directory.
pub fn owner_tag(technician_id: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(technician_id.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

pub fn secret_scope(account_id: &str) -> String {
    format!("account:{account_id}")
}

const COLUMNS: &str = "id, customer_id, technician_id, upn, entra_user_id, tenant_id, client_id, state, totp_set, \
    created_at, updated_at";

/// How many numbered alternatives of a UPN are tried before giving up.
const UPN_ALTERNATIVES: u32 = 50;

/// [`claim`]'s answer: the account, and the UPN it wanted when another technician's account
/// held that one.
#[derive(Debug)]
pub struct Claimed {
    pub account: Account,
    pub instead_of: Option<String>,
}

/// The technician's account row in this customer, created on first use with `wanted_upn`,
/// or a numbered alternative of it when another technician's account in the customer holds
/// that UPN: one Entra account belongs to one technician. The unique (customer, technician)
/// constraint makes concurrent first requests agree on one row (I2).
///
/// A row that shares its UPN with an older row of another technician (made before UPNs were
/// kept distinct) moves to a distinct UPN, forgetting the shared Entra account, once it has
/// no open grant.
pub async fn claim(
    db: &Db,
    customer_id: &str,
    technician_id: &str,
    wanted_upn: &str,
) -> Result<Claimed> {
    let now = now_ms();
    let select_text =
        format!("SELECT {COLUMNS} FROM jit_accounts WHERE customer_id = $1 AND technician_id = $2");
    let select = || sqlx::AssertSqlSafe(select_text.clone());
    on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let existing: Option<Account> = sqlx::query_as(select())
            .bind(customer_id).bind(technician_id).fetch_optional(&mut *tx).await?;
        let claimed = match existing {
            Some(account) => {
                let older_twin: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM jit_accounts WHERE customer_id = $1 AND technician_id <> $2
                       AND lower(upn) = lower($3) AND (created_at < $4 OR (created_at = $4 AND id < $5))")
                    .bind(customer_id).bind(technician_id).bind(&account.upn)
                    .bind(account.created_at).bind(&account.id)
                    .fetch_one(&mut *tx).await?;
                let open: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM grants WHERE account_id = $1 AND ended_at IS NULL")
                    .bind(&account.id).fetch_one(&mut *tx).await?;
                if older_twin == 0 || open > 0 {
                    Claimed { account, instead_of: None }
                } else {
                    let mut upn = None;
                    for n in 2..=UPN_ALTERNATIVES {
                        let candidate = numbered_upn(&account.upn, n);
                        let taken: i64 = sqlx::query_scalar(
                            "SELECT COUNT(*) FROM jit_accounts WHERE customer_id = $1 AND lower(upn) = lower($2)")
                            .bind(customer_id).bind(&candidate).fetch_one(&mut *tx).await?;
                        if taken == 0 { upn = Some(candidate); break; }
                    }
                    let upn = upn.ok_or_else(|| StoreError::Conflict(format!(
                        "no free user principal name like {} in this customer", account.upn)))?;
                    sqlx::query(
                        "UPDATE jit_accounts SET upn = $1, entra_user_id = NULL, tenant_id = NULL, client_id = NULL,
                             state = 'new', totp_set = FALSE, updated_at = $2 WHERE id = $3")
                        .bind(&upn).bind(now).bind(&account.id).execute(&mut *tx).await?;
                    // The password and TOTP key were the shared account's.
                    sqlx::query("DELETE FROM secrets WHERE scope = $1")
                        .bind(secret_scope(&account.id)).execute(&mut *tx).await?;
                    let account: Account = sqlx::query_as(select())
                        .bind(customer_id).bind(technician_id).fetch_one(&mut *tx).await?;
                    Claimed { account, instead_of: Some(wanted_upn.to_string()) }
                }
            }
            None => {
                let mut chosen = None;
                for n in 1..=UPN_ALTERNATIVES {
                    let candidate = if n == 1 { wanted_upn.to_string() } else { numbered_upn(wanted_upn, n) };
                    let taken: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM jit_accounts WHERE customer_id = $1 AND lower(upn) = lower($2)")
                        .bind(customer_id).bind(&candidate).fetch_one(&mut *tx).await?;
                    if taken == 0 { chosen = Some(candidate); break; }
                }
                let upn = chosen.ok_or_else(|| StoreError::Conflict(format!(
                    "no free user principal name like {wanted_upn} in this customer")))?;
                sqlx::query(
                    "INSERT INTO jit_accounts (id, customer_id, technician_id, upn, state, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, 'new', $5, $5) ON CONFLICT (customer_id, technician_id) DO NOTHING")
                    .bind(new_id("acc")).bind(customer_id).bind(technician_id).bind(&upn).bind(now)
                    .execute(&mut *tx).await?;
                let account: Account = sqlx::query_as(select())
                    .bind(customer_id).bind(technician_id).fetch_one(&mut *tx).await?;
                let instead_of = (!account.upn.eq_ignore_ascii_case(wanted_upn)).then(|| wanted_upn.to_string());
                Claimed { account, instead_of }
            }
        };
        tx.commit().await?;
        Ok(claimed)
    })
}

/// Another technician's jitgate account in the tenant holds this account's UPN (found in
/// Entra, not in jitgate's records: another install, a restored database): move to the next
/// free numbered UPN. Only for an account without an Entra user yet.
pub async fn renumber(db: &Db, id: &str) -> Result<Account> {
    let account = get(db, id).await?;
    let base = account.upn.clone();
    for n in 2..=UPN_ALTERNATIVES {
        let candidate = numbered_upn(&base, n);
        let taken: i64 = on_db!(db, pool => sqlx::query_scalar(
            "SELECT COUNT(*) FROM jit_accounts WHERE customer_id = $1 AND lower(upn) = lower($2)")
            .bind(&account.customer_id).bind(&candidate).fetch_one(pool).await?);
        if taken > 0 {
            continue;
        }
        let n = on_db!(db, pool => sqlx::query(
            "UPDATE jit_accounts SET upn = $1, updated_at = $2 WHERE id = $3 AND entra_user_id IS NULL")
            .bind(&candidate).bind(now_ms()).bind(id).execute(pool).await?.rows_affected());
        if n == 1 {
            return get(db, id).await;
        }
        break;
    }
    Err(StoreError::Conflict(format!(
        "no free user principal name like {base} in this customer"
    )))
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

/// What Graph reported for an enabled account: its object id and UPN in `tenant_id`, reached
/// through the app `client_id`.
pub struct Active<'a> {
    pub entra_user_id: &'a str,
    pub upn: &'a str,
    pub tenant_id: &'a str,
    pub client_id: &'a str,
}

/// Record that the account is enabled, and where it lives.
pub async fn set_active(tx: &mut Tx, id: &str, a: &Active<'_>) -> Result<()> {
    on_tx!(tx, conn => sqlx::query(
        "UPDATE jit_accounts SET entra_user_id = $1, upn = $2, tenant_id = $3, client_id = $4, state = 'active',
             updated_at = $5 WHERE id = $6")
        .bind(a.entra_user_id).bind(a.upn).bind(a.tenant_id).bind(a.client_id).bind(now_ms()).bind(id)
        .execute(&mut *conn).await?.rows_affected());
    Ok(())
}

/// The customer's connection moved to another tenant or app (allowed only without open
/// grants): the account's Entra user stays behind, disabled, and a new one is made in the new
/// tenant on the next request.
pub async fn forget_entra_user(db: &Db, id: &str) -> Result<()> {
    let mut tx = db.begin().await?;
    on_tx!(&mut tx, conn => sqlx::query(
        "UPDATE jit_accounts SET entra_user_id = NULL, tenant_id = NULL, client_id = NULL, state = 'new',
             totp_set = FALSE, updated_at = $1 WHERE id = $2")
        .bind(now_ms()).bind(id).execute(&mut *conn).await?.rows_affected());
    super::secrets::delete_scope(&mut tx, &secret_scope(id)).await?;
    tx.commit().await
}

pub async fn set_totp(tx: &mut Tx, id: &str, set: bool) -> Result<()> {
    on_tx!(tx, conn => sqlx::query("UPDATE jit_accounts SET totp_set = $1, updated_at = $2 WHERE id = $3")
        .bind(set).bind(now_ms()).bind(id).execute(&mut *conn).await?.rows_affected());
    Ok(())
}

/// The account's JIT password (sealed at rest). Every account gets one before it is first
/// enabled, so none stored means damaged data.
pub async fn password(db: &Db, keyring: &Keyring, account_id: &str) -> Result<String> {
    super::secrets::get_string(db, keyring, &secret_scope(account_id), PASSWORD)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("account {account_id} has no stored password")))
}

/// The account's TOTP key, if the technician stored one. It was parsed before it was stored,
/// so one that does not parse now is damaged data.
pub async fn totp_key(db: &Db, keyring: &Keyring, account_id: &str) -> Result<Option<TotpKey>> {
    let Some(text) =
        super::secrets::get_string(db, keyring, &secret_scope(account_id), TOTP_KEY).await?
    else {
        return Ok(None);
    };
    TotpKey::parse(&text).map(Some).map_err(|_| {
        StoreError::Corrupt(format!("account {account_id} has an unreadable TOTP key"))
    })
}
