//! `/api/v1/audit`: the audit trail, newest first.

use crate::http::error::{ApiResult, ErrorBody};
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
    /// e.g. `grant.start`, `grant.end`, `credential.reveal`.
    pub action: Option<String>,
    /// Page: rows older than this audit id.
    pub before: Option<String>,
    /// 1–500, default 100.
    pub limit: Option<i64>,
}

/// Audit rows the caller may see (a delegated token: its customers' rows only).
#[utoipa::path(get, path = "/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = Vec<AuditEntry>), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
async fn list_audit(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<Vec<AuditEntry>>> {
    let filter = AuditFilter {
        customers: (!caller.is_admin).then(|| caller.customers.clone()),
        customer_id: q.customer_id,
        grant_id: q.grant_id,
        action: q.action,
        before: q.before,
        limit: q.limit.unwrap_or(100).clamp(1, 500),
    };
    Ok(Json(store::audit::list(&state.db, &filter).await?))
}
