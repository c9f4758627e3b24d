//! The last tenant check of each customer's Entra connection.

use super::{Db, Result, Tx, now_ms, on_db, on_tx};
use serde::{Deserialize, Serialize};

/// How one check came out.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Ok,
    Warn,
    Fail,
}

impl CheckStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Ok => "ok",
            CheckStatus::Warn => "warn",
            CheckStatus::Fail => "fail",
        }
    }
}

/// One check: what was looked at, how it came out, and what to do about it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Check {
    pub name: String,
    pub status: CheckStatus,
    pub detail: String,
    /// What to change, where (empty when nothing needs doing).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fix: String,
}

/// A stored tenant check.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TenantCheck {
    /// Unix milliseconds.
    pub checked_at: i64,
    /// The worst status of the checks.
    pub status: CheckStatus,
    pub checks: Vec<Check>,
}

impl TenantCheck {
    pub fn new(checks: Vec<Check>) -> TenantCheck {
        let status = checks
            .iter()
            .map(|c| c.status)
            .max()
            .unwrap_or(CheckStatus::Ok);
        TenantCheck {
            checked_at: now_ms(),
            status,
            checks,
        }
    }

    /// The first failed check, if any.
    pub fn failed(&self) -> Option<&Check> {
        self.checks.iter().find(|c| c.status == CheckStatus::Fail)
    }
}

pub async fn save(tx: &mut Tx, customer_id: &str, check: &TenantCheck) -> Result<()> {
    let checks = serde_json::to_string(&check.checks).expect("checks serialize");
    on_tx!(tx, conn => sqlx::query(
        "INSERT INTO tenant_checks (customer_id, checked_at, status, checks) VALUES ($1, $2, $3, $4)
         ON CONFLICT (customer_id) DO UPDATE SET checked_at = excluded.checked_at,
             status = excluded.status, checks = excluded.checks")
        .bind(customer_id).bind(check.checked_at).bind(check.status.as_str()).bind(&checks)
        .execute(&mut *conn).await?.rows_affected());
    Ok(())
}

pub async fn last(db: &Db, customer_id: &str) -> Result<Option<TenantCheck>> {
    let row: Option<(i64, String)> = on_db!(db, pool => sqlx::query_as(
        "SELECT checked_at, checks FROM tenant_checks WHERE customer_id = $1")
        .bind(customer_id).fetch_optional(pool).await?);
    let Some((checked_at, checks)) = row else {
        return Ok(None);
    };
    let checks: Vec<Check> = serde_json::from_str(&checks)
        .map_err(|e| super::StoreError::Corrupt(format!("tenant check of {customer_id}: {e}")))?;
    Ok(Some(TenantCheck {
        checked_at,
        ..TenantCheck::new(checks)
    }))
}
