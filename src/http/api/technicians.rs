//! `/api/v1/technicians`: technicians, the MSP-admin flag, delegations and customer-admin
//! rights.

use crate::domain::lifecycle::EndReason;
use crate::domain::names::Email;
use crate::http::error::{ApiResult, AppError, ErrorBody};
use crate::http::extract::{ApiJson, Caller};
use crate::http::state::AppState;
use crate::store::{self, technicians::Technician};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_technician, list_technicians))
        .routes(routes!(get_technician, delete_technician))
        .routes(routes!(make_admin, revoke_admin))
        .routes(routes!(delegate, undelegate))
        .routes(routes!(make_customer_admin, revoke_customer_admin))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TechnicianInput {
    /// The technician's work email; PSA users are matched to technicians by it.
    pub email: String,
    pub display_name: String,
}

#[derive(Serialize, ToSchema)]
pub struct TechnicianView {
    pub id: String,
    pub email: String,
    pub display_name: String,
    /// MSP admins may get JIT accounts in every customer tenant.
    pub is_admin: bool,
    /// Customers delegated to the technician (those the caller may see).
    pub customers: Vec<String>,
    /// Customers the technician administers in the console (those the caller may see).
    pub administers: Vec<String>,
    pub created_at: i64,
}

pub(crate) async fn view(
    state: &AppState,
    caller: &Caller,
    t: Technician,
) -> ApiResult<TechnicianView> {
    let customers = store::technicians::delegated_customers(&state.db, &t.id)
        .await?
        .into_iter()
        .filter(|c| caller.may_see(c))
        .collect();
    let administers = store::technicians::administered_customers(&state.db, &t.id)
        .await?
        .into_iter()
        .filter(|c| caller.may_see(c))
        .collect();
    Ok(TechnicianView {
        id: t.id,
        email: t.email,
        display_name: t.display_name,
        is_admin: t.is_admin,
        customers,
        administers,
        created_at: t.created_at,
    })
}

/// Add a technician (admin tokens only).
#[utoipa::path(post, path = "/technicians", tag = "technicians", request_body = TechnicianInput,
    responses((status = 201, body = TechnicianView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn create_technician(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<TechnicianInput>,
) -> ApiResult<(StatusCode, Json<TechnicianView>)> {
    caller.require_admin()?;
    let email = Email::parse(&input.email).map_err(|m| AppError::field("email", m))?;
    let name = input.display_name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(AppError::field(
            "display_name",
            "must be 1 to 200 characters",
        ));
    }
    let mut tx = state.db.begin().await?;
    let t = store::technicians::create(&mut tx, email.as_str(), name).await?;
    let mut audit = caller.audit("technician.create", "ok").technician(&t.id);
    if t.created_at != t.updated_at {
        audit = audit.detail("restored a removed technician (no admin flag, no delegations)");
    }
    store::audit::record(&mut tx, &audit).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(view(&state, &caller, t).await?)))
}

/// Technicians the caller may see: all for an admin token; for a delegated token, those
/// delegated to at least one of its customers.
#[utoipa::path(get, path = "/technicians", tag = "technicians",
    responses((status = 200, body = Vec<TechnicianView>)), security(("bearer" = [])))]
pub(crate) async fn list_technicians(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<TechnicianView>>> {
    let mut out = Vec::new();
    for t in store::technicians::list_visible(&state.db, &caller.visibility()).await? {
        out.push(view(&state, &caller, t).await?);
    }
    Ok(Json(out))
}

#[utoipa::path(get, path = "/technicians/{id}", tag = "technicians",
    responses((status = 200, body = TechnicianView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn get_technician(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<TechnicianView>> {
    let t = technician(&state, &id).await?;
    if !store::technicians::visible_to(&state.db, &caller.visibility(), &id).await? {
        return Err(AppError::NotFound("no such technician"));
    }
    Ok(Json(view(&state, &caller, t).await?))
}

/// Remove a technician (admin tokens only). Every open grant of theirs is ended early (reason
/// `technician_removed`, verified against Graph like any end); the technician disappears from
/// lists and requests at once. Adding the same email again restores them, without admin flag
/// or delegations.
#[utoipa::path(delete, path = "/technicians/{id}", tag = "technicians",
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn delete_technician(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    technician(&state, &id).await?;
    let audit = caller.audit("technician.delete", "ok").technician(&id);
    let mut tx = state.db.begin().await?;
    let ended = store::technicians::remove(&mut tx, &id, &audit)
        .await
        .map_err(not_found)?;
    end_now(&mut tx, &ended, EndReason::TechnicianRemoved).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Make the technician an MSP admin: JIT accounts in every customer tenant (admin tokens only).
#[utoipa::path(put, path = "/technicians/{id}/admin", tag = "technicians",
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn make_admin(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    let audit = caller.audit("technician.admin.grant", "ok").technician(&id);
    let mut tx = state.db.begin().await?;
    store::technicians::grant_admin(&mut tx, &id, &audit)
        .await
        .map_err(not_found)?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revoke the technician's MSP-admin flag (admin tokens only). Their open grants in customers
/// they are not delegated to are ended early (reason `admin_removed`).
#[utoipa::path(delete, path = "/technicians/{id}/admin", tag = "technicians",
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn revoke_admin(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    let audit = caller
        .audit("technician.admin.revoke", "ok")
        .technician(&id);
    let mut tx = state.db.begin().await?;
    let ended = store::technicians::revoke_admin(&mut tx, &id, &audit)
        .await
        .map_err(not_found)?;
    end_now(&mut tx, &ended, EndReason::AdminRemoved).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Delegate a customer to the technician: they may get JIT accounts in its tenant.
#[utoipa::path(put, path = "/technicians/{id}/customers/{customer_id}", tag = "technicians",
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn delegate(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, customer_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    set_delegation(state, caller, id, customer_id, true).await
}

/// Remove a delegation.
#[utoipa::path(delete, path = "/technicians/{id}/customers/{customer_id}", tag = "technicians",
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn undelegate(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, customer_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    set_delegation(state, caller, id, customer_id, false).await
}

pub(crate) async fn set_delegation(
    state: AppState,
    caller: Caller,
    id: String,
    customer_id: String,
    on: bool,
) -> ApiResult<StatusCode> {
    technician(&state, &id).await?;
    store::customers::get(&state.db, &caller.visibility(), &customer_id)
        .await
        .map_err(|_| AppError::NotFound("no such customer"))?;
    let action = if on {
        "delegation.add"
    } else {
        "delegation.remove"
    };
    let audit = caller
        .audit(action, "ok")
        .technician(&id)
        .customer(&customer_id);
    let mut tx = state.db.begin().await?;
    if on {
        store::technicians::delegate(&mut tx, &id, &customer_id).await?;
        store::audit::record(&mut tx, &audit).await?;
        tx.commit().await?;
    } else {
        let ended = store::technicians::undelegate(&mut tx, &id, &customer_id, &audit)
            .await
            .map_err(not_found)?;
        end_now(&mut tx, &ended, EndReason::DelegationRemoved).await?;
        tx.commit().await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Make the technician a customer admin of a customer (admin tokens only): in the console they
/// see and manage that customer. It does not let them work in its tenant (that is a delegation).
#[utoipa::path(put, path = "/technicians/{id}/administers/{customer_id}", tag = "technicians",
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn make_customer_admin(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, customer_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    set_customer_admin(state, caller, id, customer_id, true).await
}

/// Take the customer-admin right away (admin tokens only). Open grants are not affected.
#[utoipa::path(delete, path = "/technicians/{id}/administers/{customer_id}", tag = "technicians",
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn revoke_customer_admin(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, customer_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    set_customer_admin(state, caller, id, customer_id, false).await
}

async fn set_customer_admin(
    state: AppState,
    caller: Caller,
    id: String,
    customer_id: String,
    on: bool,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    technician(&state, &id).await?;
    store::customers::get(&state.db, &caller.visibility(), &customer_id)
        .await
        .map_err(|_| AppError::NotFound("no such customer"))?;
    let action = if on {
        "technician.customer_admin.grant"
    } else {
        "technician.customer_admin.revoke"
    };
    let mut tx = state.db.begin().await?;
    if on {
        store::technicians::add_customer_admin(&mut tx, &id, &customer_id).await?;
    } else {
        store::technicians::remove_customer_admin(&mut tx, &id, &customer_id).await?;
    }
    store::audit::record(
        &mut tx,
        &caller
            .audit(action, "ok")
            .technician(&id)
            .customer(&customer_id),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Queue the end of the grants the change in `tx` marked to end, to run as soon as it commits.
/// Were the jobs lost, the sweeper still ends every grant marked `end_requested`.
pub(crate) async fn end_now(
    tx: &mut store::Tx,
    grant_ids: &[String],
    reason: EndReason,
) -> ApiResult<()> {
    for grant_id in grant_ids {
        crate::jobs::end::request_end(tx, grant_id, reason).await?;
    }
    Ok(())
}

fn not_found(e: store::StoreError) -> AppError {
    match e {
        store::StoreError::NotFound => AppError::NotFound("no such technician"),
        other => other.into(),
    }
}

pub(crate) async fn technician(state: &AppState, id: &str) -> ApiResult<Technician> {
    store::technicians::get(&state.db, id)
        .await
        .map_err(not_found)
}
