//! `/api/v1/groups`: technician groups, which customers' role mappings name (issue 12). The
//! built-in group "All admins" contains every technician and can be neither renamed nor
//! deleted. Admin tokens manage groups; delegated tokens may read them.

use crate::http::error::{ApiResult, AppError, ErrorBody};
use crate::http::extract::{ApiJson, Caller};
use crate::http::state::AppState;
use crate::store::groups::{ALL_ADMINS, Group};
use crate::store::{self, audit::AuditEntry};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_group, list_groups))
        .routes(routes!(get_group, rename_group, delete_group))
        .routes(routes!(add_member, remove_member))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupInput {
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct GroupView {
    pub id: String,
    pub name: String,
    /// The built-in "All admins": every technician is a member, without being listed.
    pub builtin: bool,
    /// Technician ids of the explicit members the caller may see (empty for the built-in
    /// group, which contains everyone).
    pub members: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

pub(crate) async fn view(state: &AppState, caller: &Caller, g: Group) -> ApiResult<GroupView> {
    let mut members = Vec::new();
    for technician_id in store::groups::members(&state.db, &g.id).await? {
        if store::technicians::visible_to(&state.db, &caller.visibility(), &technician_id).await? {
            members.push(technician_id);
        }
    }
    Ok(GroupView {
        builtin: g.is_builtin(),
        id: g.id,
        name: g.name,
        members,
        created_at: g.created_at,
        updated_at: g.updated_at,
    })
}

fn group_name(name: &str) -> ApiResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AppError::field("name", "must be 1 to 100 characters"));
    }
    Ok(name.to_string())
}

fn audit(caller: &Caller, action: &str, group: &str) -> AuditEntry {
    caller.audit(action, "ok").detail(format!("group {group}"))
}

/// The built-in group is defined by the product, not by an admin.
fn refuse_builtin(id: &str) -> ApiResult<()> {
    if id == ALL_ADMINS {
        return Err(AppError::Conflict(
            "All admins is built in: it contains every technician and cannot be renamed, deleted or given members".into(),
        ));
    }
    Ok(())
}

/// Create a technician group (admin tokens only).
#[utoipa::path(post, path = "/groups", tag = "groups", request_body = GroupInput,
    responses((status = 201, body = GroupView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn create_group(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<GroupInput>,
) -> ApiResult<(StatusCode, Json<GroupView>)> {
    caller.require_admin()?;
    let name = group_name(&input.name)?;
    let mut tx = state.db.begin().await?;
    let g = store::groups::create(&mut tx, &name)
        .await
        .map_err(name_taken)?;
    store::audit::record(&mut tx, &audit(&caller, "group.create", &g.id)).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(view(&state, &caller, g).await?)))
}

/// Every technician group, All admins first.
#[utoipa::path(get, path = "/groups", tag = "groups",
    responses((status = 200, body = Vec<GroupView>)), security(("bearer" = [])))]
pub(crate) async fn list_groups(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<GroupView>>> {
    let mut out = Vec::new();
    for g in store::groups::list(&state.db).await? {
        out.push(view(&state, &caller, g).await?);
    }
    Ok(Json(out))
}

#[utoipa::path(get, path = "/groups/{id}", tag = "groups",
    responses((status = 200, body = GroupView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn get_group(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<GroupView>> {
    let g = group(&state, &id).await?;
    Ok(Json(view(&state, &caller, g).await?))
}

/// Rename a group (admin tokens only).
#[utoipa::path(patch, path = "/groups/{id}", tag = "groups", request_body = GroupInput,
    responses((status = 200, body = GroupView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn rename_group(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<GroupInput>,
) -> ApiResult<Json<GroupView>> {
    caller.require_admin()?;
    group(&state, &id).await?;
    refuse_builtin(&id)?;
    let name = group_name(&input.name)?;
    let mut tx = state.db.begin().await?;
    store::groups::rename(&mut tx, &id, &name)
        .await
        .map_err(name_taken)?;
    store::audit::record(&mut tx, &audit(&caller, "group.rename", &id)).await?;
    tx.commit().await?;
    Ok(Json(
        view(&state, &caller, group(&state, &id).await?).await?,
    ))
}

/// Delete a group (admin tokens only); refused while a customer's role mapping names it.
#[utoipa::path(delete, path = "/groups/{id}", tag = "groups",
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn delete_group(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    group(&state, &id).await?;
    refuse_builtin(&id)?;
    let mapped = store::groups::mapped_customers(&state.db, &id).await?;
    if !mapped.is_empty() {
        return Err(AppError::Conflict(format!(
            "the role mappings of customer(s) {} name this group; change them first (PUT /api/v1/customers/{{id}}/role-mappings)",
            mapped.join(", ")
        )));
    }
    let mut tx = state.db.begin().await?;
    store::groups::delete(&mut tx, &id)
        .await
        .map_err(|e| match e {
            // A mapping added since the check above.
            store::StoreError::Conflict(_) => {
                AppError::Conflict("a customer's role mapping names this group".into())
            }
            other => not_found(other),
        })?;
    store::audit::record(&mut tx, &audit(&caller, "group.delete", &id)).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Add a technician to a group (admin tokens only). The group's roles apply from the
/// technician's next request; an open grant keeps its roles.
#[utoipa::path(put, path = "/groups/{id}/members/{technician_id}", tag = "groups",
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn add_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, technician_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    set_member(state, caller, id, technician_id, true).await
}

/// Remove a technician from a group (admin tokens only).
#[utoipa::path(delete, path = "/groups/{id}/members/{technician_id}", tag = "groups",
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, technician_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    set_member(state, caller, id, technician_id, false).await
}

pub(crate) async fn set_member(
    state: AppState,
    caller: Caller,
    id: String,
    technician_id: String,
    on: bool,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    group(&state, &id).await?;
    refuse_builtin(&id)?;
    store::technicians::get(&state.db, &technician_id)
        .await
        .map_err(|e| match e {
            store::StoreError::NotFound => AppError::NotFound("no such technician"),
            other => other.into(),
        })?;
    let action = if on {
        "group.member.add"
    } else {
        "group.member.remove"
    };
    let mut tx = state.db.begin().await?;
    if on {
        store::groups::add_member(&mut tx, &id, &technician_id).await?;
    } else {
        store::groups::remove_member(&mut tx, &id, &technician_id).await?;
    }
    store::audit::record(
        &mut tx,
        &audit(&caller, action, &id).technician(&technician_id),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

fn name_taken(e: store::StoreError) -> AppError {
    match e {
        store::StoreError::Conflict(_) => AppError::Conflict("a group of that name exists".into()),
        other => not_found(other),
    }
}

fn not_found(e: store::StoreError) -> AppError {
    match e {
        store::StoreError::NotFound => AppError::NotFound("no such group"),
        other => other.into(),
    }
}

pub(crate) async fn group(state: &AppState, id: &str) -> ApiResult<Group> {
    store::groups::get(&state.db, id).await.map_err(not_found)
}
