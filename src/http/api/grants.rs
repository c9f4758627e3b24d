//! `/api/v1/grants`: who has (or had) access where, and ending a grant early.

use crate::domain::lifecycle::EndReason;
use crate::http::error::{ApiResult, AppError, ErrorBody};
use crate::http::extract::Caller;
use crate::http::state::AppState;
use crate::store::grants::{Grant, GrantFilter};
use crate::store::{self};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_grants))
        .routes(routes!(get_grant))
        .routes(routes!(end_grant))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct GrantQuery {
    pub customer_id: Option<String>,
    pub technician_id: Option<String>,
    /// Only grants not yet ended.
    #[serde(default)]
    pub open: bool,
    /// 1–500, default 100.
    pub limit: Option<i64>,
}

/// Grants of the customers the caller may see, newest first.
#[utoipa::path(get, path = "/grants", tag = "grants", params(GrantQuery),
    responses((status = 200, body = Vec<Grant>)), security(("bearer" = [])))]
pub(crate) async fn list_grants(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<GrantQuery>,
) -> ApiResult<Json<Vec<Grant>>> {
    let filter = GrantFilter {
        customers: (!caller.is_admin).then(|| caller.customers.clone()),
        customer_id: q.customer_id,
        technician_id: q.technician_id,
        open_only: q.open,
        limit: q.limit.unwrap_or(100).clamp(1, 500),
    };
    Ok(Json(store::grants::list(&state.db, &filter).await?))
}

#[utoipa::path(get, path = "/grants/{id}", tag = "grants",
    responses((status = 200, body = Grant), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn get_grant(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Grant>> {
    Ok(Json(visible_grant(&state, &caller, &id).await?))
}

/// End a grant now: roles removed, account disabled, password rotated, sessions revoked,
/// verified against Graph, and the ticket told. Answers 202; the grant shows `ended_at` once
/// the end is verified.
#[utoipa::path(post, path = "/grants/{id}/end", tag = "grants",
    responses((status = 202, body = Grant), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn end_grant(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<Grant>)> {
    let grant = visible_grant(&state, &caller, &id).await?;
    if !grant.is_open() {
        return Err(AppError::Conflict("the grant has already ended".into()));
    }
    let mut tx = state.db.begin().await?;
    crate::jobs::end::request_end(&mut tx, &id, EndReason::EndedByAdmin).await?;
    store::audit::record(
        &mut tx,
        &caller
            .audit("grant.end_requested", "ok")
            .grant(&id)
            .customer(&grant.customer_id)
            .technician(&grant.technician_id),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(store::grants::get(&state.db, &id).await?),
    ))
}

pub(crate) async fn visible_grant(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Grant> {
    let grant = store::grants::get(&state.db, id)
        .await
        .map_err(|e| match e {
            store::StoreError::NotFound => AppError::NotFound("no such grant"),
            other => other.into(),
        })?;
    caller
        .require_customer(&grant.customer_id)
        .map_err(|_| AppError::NotFound("no such grant"))?;
    Ok(grant)
}
