//! Credential links: the token in a ticket note that opens the credential page.
//!
//! A link is found by the hash of its token (the token itself is never stored), together with
//! everything the page shows about it. Whether it may reveal is decided twice: once from the
//! row read (to render the right page) and again by the write that spends a reveal, so two
//! concurrent reveals, an extension or the grant's end cannot slip between the two.

use super::{Db, Result, now_ms, on_db, on_tx};
use crate::crypto::{Keyring, hash_token};
use crate::store::accounts;
use crate::store::audit::{self, AuditEntry};
use crate::store::secrets;

/// A link with its grant, account, customer and technician.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LinkView {
    pub link_id: String,
    pub grant_id: String,
    pub account_id: String,
    pub customer_id: String,
    pub customer_name: String,
    pub technician_id: String,
    pub technician_name: String,
    pub upn: String,
    pub tenant_id: Option<String>,
    pub connector_id: Option<String>,
    pub ticket_ref: Option<String>,
    /// Unix milliseconds.
    pub expires_at: i64,
    pub ended_at: Option<i64>,
    pub end_requested: bool,
    pub superseded_at: Option<i64>,
    pub reveal_limit: i32,
    pub reveals_used: i32,
    pub totp_set: bool,
}

/// What a known link can do now. (An unknown token has no row at all.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Reveals left, grant open and unexpired.
    Valid,
    /// Every reveal of this link is used; the grant may still be open.
    Spent,
    /// A newer link was issued for the grant (a repeat request).
    Superseded,
    /// The grant ended, or an end was asked for (admin, `jit.cancelled`) and is under way.
    Ended,
    /// Past the grant's expiry; the end is under way but not yet verified.
    Expired,
}

impl LinkView {
    /// The state at `now_ms`. A grant's end outranks everything (ending a grant also marks its
    /// links superseded, and "access ended" is the truth the technician needs); a superseded
    /// link outranks a spent one (the newer link is the way forward).
    pub fn state_at(&self, now_ms: i64) -> LinkState {
        if self.ended_at.is_some() || self.end_requested {
            LinkState::Ended
        } else if self.expires_at <= now_ms {
            LinkState::Expired
        } else if self.superseded_at.is_some() {
            LinkState::Superseded
        } else if self.reveals_used >= self.reveal_limit {
            LinkState::Spent
        } else {
            LinkState::Valid
        }
    }

    pub fn state(&self) -> LinkState {
        self.state_at(now_ms())
    }

    pub fn reveals_left(&self) -> i32 {
        (self.reveal_limit - self.reveals_used).max(0)
    }

    /// An audit entry about this link's grant, account and ticket.
    pub fn audit(&self, action: &str, outcome: &str) -> AuditEntry {
        let mut e = AuditEntry::new(
            format!("technician:{}", self.technician_id),
            action,
            outcome,
        )
        .customer(&self.customer_id)
        .technician(&self.technician_id)
        .grant(&self.grant_id)
        .account(&self.upn);
        if let Some(t) = &self.tenant_id {
            e = e.tenant(t);
        }
        if let Some(c) = &self.connector_id {
            e = e.connector(c);
        }
        if let Some(t) = &self.ticket_ref {
            e = e.ticket(t);
        }
        e
    }
}

const SELECT: &str = "SELECT l.id AS link_id, l.grant_id, g.account_id, g.customer_id, c.name AS customer_name,
        g.technician_id, t.display_name AS technician_name, a.upn, e.tenant_id, g.connector_id, g.ticket_ref,
        g.expires_at, g.ended_at, g.end_requested, l.superseded_at, l.reveal_limit, l.reveals_used, a.totp_set
    FROM credential_links l
    JOIN grants g ON g.id = l.grant_id
    JOIN jit_accounts a ON a.id = g.account_id
    JOIN customers c ON c.id = g.customer_id
    JOIN technicians t ON t.id = g.technician_id
    LEFT JOIN entra_connections e ON e.customer_id = g.customer_id";

/// The link whose token is `token`, if any.
pub async fn find(db: &Db, token: &str) -> Result<Option<LinkView>> {
    let sql = sqlx::AssertSqlSafe(format!("{SELECT} WHERE l.token_hash = $1"));
    let hash = hash_token(token);
    Ok(on_db!(db, pool => sqlx::query_as(sql).bind(&hash).fetch_optional(pool).await?))
}

/// The grant's current link (the newest one not superseded), if any: the portal reveals
/// through it, so a reveal there counts against the same limit as the ticket note's link.
pub async fn current_for_grant(db: &Db, grant_id: &str) -> Result<Option<LinkView>> {
    let sql = sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE l.grant_id = $1 AND l.superseded_at IS NULL ORDER BY l.created_at DESC, l.id DESC LIMIT 1"
    ));
    Ok(on_db!(db, pool => sqlx::query_as(sql).bind(grant_id).fetch_optional(pool).await?))
}

/// The grant is open and unexpired at `now` (read inside the spending transaction).
const GRANT_LIVE: &str = "SELECT COUNT(*) FROM grants
    WHERE id = $1 AND ended_at IS NULL AND NOT end_requested AND expires_at > $2";

/// Spend one reveal of the link and record `audit` (with the count added), in one
/// transaction. `None` when the link may no longer reveal: spent, superseded, or its grant
/// ended or expired since it was read; nothing changes then.
pub async fn consume_reveal(db: &Db, link: &LinkView, audit: &AuditEntry) -> Result<Option<i32>> {
    let now = now_ms();
    // Returning early drops the transaction uncommitted: nothing changes.
    let mut tx = db.begin().await?;
    let used: Option<i32> = on_tx!(&mut tx, conn => sqlx::query_scalar(
        "UPDATE credential_links SET reveals_used = reveals_used + 1
         WHERE id = $1 AND reveals_used < reveal_limit AND superseded_at IS NULL
         RETURNING reveals_used")
        .bind(&link.link_id).fetch_optional(&mut *conn).await?);
    let Some(used) = used else {
        return Ok(None);
    };
    // Expiry is not a write, so the link row cannot show it: ask the grant.
    let live: i64 = on_tx!(&mut tx, conn => sqlx::query_scalar(GRANT_LIVE)
        .bind(&link.grant_id).bind(now).fetch_one(&mut *conn).await?);
    if live == 0 {
        return Ok(None);
    }
    let entry = audit.clone().detail(format!(
        "reveal {used} of {} through link {}",
        link.reveal_limit, link.link_id
    ));
    audit::record(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok(Some(used))
}

/// What saving a TOTP key did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotpSaved {
    /// The account had no key before.
    Stored,
    /// An earlier key was replaced.
    Replaced,
    /// The link stopped being valid before the write; nothing was saved.
    LinkNotValid,
}

/// Seal `key` as the account's TOTP key through a valid link, mark the account as having one
/// and record `audit`, in one transaction. It spends no reveal.
pub async fn save_totp_key(
    db: &Db,
    keyring: &Keyring,
    link: &LinkView,
    key: &str,
    audit: &AuditEntry,
) -> Result<TotpSaved> {
    let now = now_ms();
    let scope = accounts::secret_scope(&link.account_id);
    let mut tx = db.begin().await?;
    let link_live: i64 = on_tx!(&mut tx, conn => sqlx::query_scalar(
        "SELECT COUNT(*) FROM credential_links
         WHERE id = $1 AND reveals_used < reveal_limit AND superseded_at IS NULL")
        .bind(&link.link_id).fetch_one(&mut *conn).await?);
    let grant_live: i64 = on_tx!(&mut tx, conn => sqlx::query_scalar(GRANT_LIVE)
        .bind(&link.grant_id).bind(now).fetch_one(&mut *conn).await?);
    if link_live == 0 || grant_live == 0 {
        return Ok(TotpSaved::LinkNotValid);
    }
    let had_key: i64 = on_tx!(&mut tx, conn => sqlx::query_scalar(
        "SELECT COUNT(*) FROM secrets WHERE scope = $1 AND name = $2")
        .bind(&scope).bind(accounts::TOTP_KEY).fetch_one(&mut *conn).await?);
    secrets::put(&mut tx, keyring, &scope, accounts::TOTP_KEY, key.as_bytes()).await?;
    on_tx!(&mut tx, conn => sqlx::query("UPDATE jit_accounts SET totp_set = TRUE, updated_at = $1 WHERE id = $2")
        .bind(now).bind(&link.account_id).execute(&mut *conn).await?.rows_affected());
    let saved = if had_key > 0 {
        TotpSaved::Replaced
    } else {
        TotpSaved::Stored
    };
    let what = match saved {
        TotpSaved::Replaced => "replaced the account's TOTP key",
        _ => "stored the account's first TOTP key",
    };
    let entry = audit
        .clone()
        .detail(format!("{what} through link {}", link.link_id));
    audit::record(&mut tx, &entry).await?;
    tx.commit().await?;
    Ok(saved)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> LinkView {
        LinkView {
            link_id: "lnk_1".into(),
            grant_id: "gnt_1".into(),
            account_id: "acc_1".into(),
            customer_id: "cus_1".into(),
            customer_name: "Fabrikam".into(),
            technician_id: "tec_1".into(),
            technician_name: "Alice".into(),
            upn: "alice-jit@fabrikam.com".into(),
            tenant_id: None,
            connector_id: None,
            ticket_ref: None,
            expires_at: 10_000,
            ended_at: None,
            end_requested: false,
            superseded_at: None,
            reveal_limit: 3,
            reveals_used: 0,
            totp_set: false,
        }
    }

    #[test]
    fn states_rank_end_over_expiry_over_supersession_over_spending() {
        let v = view();
        assert_eq!(v.state_at(5_000), LinkState::Valid);
        assert_eq!(v.state_at(10_000), LinkState::Expired);
        let spent = LinkView {
            reveals_used: 3,
            ..view()
        };
        assert_eq!(spent.state_at(5_000), LinkState::Spent);
        assert_eq!(spent.reveals_left(), 0);
        let superseded = LinkView {
            superseded_at: Some(1),
            reveals_used: 3,
            ..view()
        };
        assert_eq!(superseded.state_at(5_000), LinkState::Superseded);
        assert_eq!(superseded.state_at(20_000), LinkState::Expired);
        let ended = LinkView {
            ended_at: Some(2),
            superseded_at: Some(2),
            ..view()
        };
        assert_eq!(ended.state_at(5_000), LinkState::Ended);
        let ending = LinkView {
            end_requested: true,
            ..view()
        };
        assert_eq!(ending.state_at(5_000), LinkState::Ended);
    }
}
