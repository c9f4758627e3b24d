//! `/api/v1/audit`: the audit trail, newest first.

use crate::http::error::{ApiResult, AppError, ErrorBody};
use crate::http::extract::Caller;
use crate::http::state::AppState;
use crate::store::{
    self,
    audit::{AuditEntry, AuditFilter},
};
use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    pub customer_id: Option<String>,
    pub grant_id: Option<String>,
    /// Rows about this technician or of steps they took.
    pub technician_id: Option<String>,
    /// e.g. `grant.start`, `grant.end`, `credential.reveal`.
    pub action: Option<String>,
    /// Rows at or after this time: RFC 3339 (`2026-11-30T08:00:00Z`) or a UTC day
    /// (`2026-11-30`).
    pub since: Option<String>,
    /// Rows before this time (same forms; a day means its end).
    pub until: Option<String>,
    /// Page: rows older than this audit id.
    pub before: Option<String>,
    /// 1–500, default 100.
    pub limit: Option<i64>,
}

/// Audit rows the caller may see (a delegated token: its customers' rows only).
#[utoipa::path(get, path = "/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = Vec<AuditEntry>), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn list_audit(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<Vec<AuditEntry>>> {
    Ok(Json(
        store::audit::list(&state.db, &filter(&caller, q)?).await?,
    ))
}

/// The store's filter for a query: the caller's visibility, and times parsed (422 naming the
/// field when they do not parse).
pub(crate) fn filter(caller: &Caller, q: AuditQuery) -> ApiResult<AuditFilter> {
    let since_ms = parse_time("since", q.since.as_deref(), false)?;
    let until_ms = parse_time("until", q.until.as_deref(), true)?;
    Ok(AuditFilter {
        customers: (!caller.is_admin).then(|| caller.customers.clone()),
        customer_id: q.customer_id.filter(|s| !s.is_empty()),
        grant_id: q.grant_id.filter(|s| !s.is_empty()),
        technician_id: q.technician_id.filter(|s| !s.is_empty()),
        action: q.action.filter(|s| !s.is_empty()),
        since_ms,
        until_ms,
        before: q.before.filter(|s| !s.is_empty()),
        limit: q.limit.unwrap_or(100).clamp(1, 500),
    })
}

/// RFC 3339, or a UTC day (its start, or with `end_of_day` the start of the next day).
fn parse_time(field: &str, text: Option<&str>, end_of_day: bool) -> ApiResult<Option<i64>> {
    use time::format_description::well_known::Rfc3339;
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if let Ok(at) = time::OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(Some((at.unix_timestamp_nanos() / 1_000_000) as i64));
    }
    let day_format = time::macros::format_description!("[year]-[month]-[day]");
    match time::Date::parse(text, &day_format) {
        Ok(day) => {
            let day = if end_of_day {
                day.next_day().unwrap_or(day)
            } else {
                day
            };
            Ok(Some(day.midnight().assume_utc().unix_timestamp() * 1000))
        }
        Err(_) => Err(AppError::field(
            field,
            "must be an RFC 3339 time (2026-11-30T08:00:00Z) or a day (2026-11-30)",
        )),
    }
}
