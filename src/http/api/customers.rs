//! `/api/v1/customers`: customers and their Entra connection.

use crate::domain::duration::DurationSetting;
use crate::domain::lifecycle::ExpiryAction;
use crate::domain::names::{DEFAULT_UPN_TEMPLATE, Domain, Guid, UpnTemplate, parse_tenant};
use crate::domain::roles::parse_role;
use crate::http::error::{ApiResult, AppError, ErrorBody};
use crate::http::extract::{ApiJson, Caller};
use crate::http::state::AppState;
use crate::store;
use crate::store::checks::TenantCheck;
use crate::store::customers::{ENTRA_SECRET, EntraConnection, secret_scope};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_customer, list_customers))
        .routes(routes!(get_customer, update_customer, delete_customer))
        .routes(routes!(put_entra, delete_entra))
        .routes(routes!(run_check, last_check))
        .routes(routes!(list_domains))
        .routes(routes!(get_role_mappings, put_role_mappings))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerInput {
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct CustomerView {
    pub id: String,
    pub name: String,
    /// The customer's Entra connection, if set.
    pub entra: Option<EntraView>,
    pub created_at: i64,
}

#[derive(Serialize, ToSchema)]
pub struct EntraView {
    pub tenant_id: String,
    pub client_id: String,
    /// Whether a client secret is stored (it is never returned).
    pub client_secret_set: bool,
    pub jit_domain: String,
    pub upn_template: String,
    /// Role template ids assigned to JIT accounts.
    pub roles: Vec<String>,
    /// Grant length for this customer, e.g. `4h`; absent = the configured default.
    pub duration: Option<String>,
    /// `disable` (default) or `delete`.
    pub expiry_action: ExpiryAction,
    /// The last tenant check (run after every change of the connection and by
    /// `POST /customers/{id}/entra/check`); absent until one ran.
    pub check: Option<TenantCheck>,
}

/// Body of `PUT /customers/{id}/entra`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntraInput {
    /// Tenant GUID or one of its domains.
    pub tenant_id: String,
    /// Application (client) id of the app registration consented in the tenant.
    pub client_id: String,
    /// Required the first time; omit to keep the stored one.
    pub client_secret: Option<String>,
    /// A verified domain of the tenant, used for JIT account UPNs.
    pub jit_domain: String,
    /// Role template ids or well-known names (e.g. "Global Administrator").
    pub roles: Vec<String>,
    /// e.g. `2h`; capped by `jit_max_duration`.
    pub duration: Option<String>,
    /// `disable` (default) or `delete`.
    pub expiry_action: Option<String>,
    /// Default `{local}-jit@{domain}`.
    pub upn_template: Option<String>,
}

pub(crate) async fn view(
    state: &AppState,
    c: store::customers::Customer,
) -> ApiResult<CustomerView> {
    let entra = match store::customers::entra(&state.db, &c.id).await? {
        None => None,
        Some(e) => {
            let secret_set =
                store::msp_app::connection_secret_set(&state.db, &c.id, &e.client_id).await?;
            let check = store::checks::last(&state.db, &c.id).await?;
            Some(entra_view(e, secret_set, check))
        }
    };
    Ok(CustomerView {
        id: c.id,
        name: c.name,
        entra,
        created_at: c.created_at,
    })
}

fn entra_view(
    e: EntraConnection,
    client_secret_set: bool,
    check: Option<TenantCheck>,
) -> EntraView {
    EntraView {
        roles: e.role_ids(),
        tenant_id: e.tenant_id,
        client_id: e.client_id,
        client_secret_set,
        jit_domain: e.jit_domain,
        upn_template: e.upn_template,
        duration: e
            .duration_secs
            .map(|s| DurationSetting::from_secs(s as u64).to_string()),
        expiry_action: e.expiry_action,
        check,
    }
}

fn customer_name(name: &str) -> ApiResult<String> {
    let name = name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(AppError::field("name", "must be 1 to 200 characters"));
    }
    Ok(name.to_string())
}

/// Create a customer (admin tokens only).
#[utoipa::path(post, path = "/customers", tag = "customers", request_body = CustomerInput,
    responses((status = 201, body = CustomerView), (status = 422, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn create_customer(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<CustomerInput>,
) -> ApiResult<(StatusCode, Json<CustomerView>)> {
    caller.require_admin()?;
    let name = customer_name(&input.name)?;
    let mut tx = state.db.begin().await?;
    let c = store::customers::create(&mut tx, &name).await?;
    store::audit::record(
        &mut tx,
        &caller.audit("customer.create", "ok").customer(&c.id),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(view(&state, c).await?)))
}

/// List the customers the token may see.
#[utoipa::path(get, path = "/customers", tag = "customers",
    responses((status = 200, body = Vec<CustomerView>)), security(("bearer" = [])))]
pub(crate) async fn list_customers(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<CustomerView>>> {
    let mut out = Vec::new();
    for c in store::customers::list(&state.db, &caller.visibility()).await? {
        out.push(view(&state, c).await?);
    }
    Ok(Json(out))
}

#[utoipa::path(get, path = "/customers/{id}", tag = "customers",
    responses((status = 200, body = CustomerView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn get_customer(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<CustomerView>> {
    let c = visible_customer(&state, &caller, &id).await?;
    Ok(Json(view(&state, c).await?))
}

/// Rename a customer.
#[utoipa::path(patch, path = "/customers/{id}", tag = "customers", request_body = CustomerInput,
    responses((status = 200, body = CustomerView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn update_customer(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<CustomerInput>,
) -> ApiResult<Json<CustomerView>> {
    visible_customer(&state, &caller, &id).await?;
    let name = customer_name(&input.name)?;
    let mut tx = state.db.begin().await?;
    store::customers::rename(&mut tx, &id, &name).await?;
    store::audit::record(
        &mut tx,
        &caller.audit("customer.update", "ok").customer(&id),
    )
    .await?;
    tx.commit().await?;
    let c = store::customers::get(&state.db, &caller.visibility(), &id).await?;
    Ok(Json(view(&state, c).await?))
}

/// Delete a customer with its connection, mappings and delegations (admin tokens only).
#[utoipa::path(delete, path = "/customers/{id}", tag = "customers",
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn delete_customer(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    visible_customer(&state, &caller, &id).await?;
    refuse_with_open_grants(&state, &id).await?;
    let mut tx = state.db.begin().await?;
    store::secrets::delete_scope(&mut tx, &secret_scope(&id)).await?;
    store::customers::delete(&mut tx, &id).await?;
    store::audit::record(
        &mut tx,
        &caller.audit("customer.delete", "ok").customer(&id),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Set the customer's Entra connection. The client secret is write-only.
#[utoipa::path(put, path = "/customers/{id}/entra", tag = "customers", request_body = EntraInput,
    responses((status = 200, body = EntraView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn put_entra(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<EntraInput>,
) -> ApiResult<Json<EntraView>> {
    visible_customer(&state, &caller, &id).await?;
    // A connection through the MSP's own app uses that app's secret, set once for all customers.
    let through_msp_app = store::msp_app::is_msp_app(&state.db, &input.client_id).await?;
    if through_msp_app && input.client_secret.is_some() {
        return Err(AppError::field(
            "client_secret",
            "must be absent for the MSP's own Entra app: its secret is set once with PUT /api/v1/entra/app",
        ));
    }
    let had_secret =
        store::msp_app::connection_secret_set(&state.db, &id, &input.client_id).await?;
    let connection = validate_entra(&state, &id, &input, had_secret)?;
    let current = store::customers::entra(&state.db, &id).await?;
    // The MSP app's secret serves any tenant: moving through it needs no new secret.
    let new_secret = input.client_secret.is_some() || through_msp_app;
    refuse_tenant_move(
        &state,
        &caller,
        &id,
        current.as_ref(),
        &connection,
        new_secret,
    )
    .await?;
    let mut tx = state.db.begin().await?;
    if let Some(secret) = input.client_secret.as_deref() {
        store::secrets::put(
            &mut tx,
            &state.keyring,
            &secret_scope(&id),
            ENTRA_SECRET,
            secret.trim().as_bytes(),
        )
        .await?;
    }
    store::customers::put_entra(&mut tx, &connection).await?;
    store::audit::record(
        &mut tx,
        &caller
            .audit("customer.entra.set", "ok")
            .customer(&id)
            .tenant(&connection.tenant_id)
            .detail(if input.client_secret.is_some() {
                "client secret replaced"
            } else {
                "client secret kept"
            }),
    )
    .await?;
    tx.commit().await?;
    // Every change of the connection is checked at once, so a missing permission or role shows
    // here rather than in a technician's ticket.
    let check = crate::jobs::tenant_check::run(&state, &id, &caller.audit_actor()).await?;
    Ok(Json(entra_view(connection, true, check)))
}

fn validate_entra(
    state: &AppState,
    customer_id: &str,
    input: &EntraInput,
    had_secret: bool,
) -> ApiResult<EntraConnection> {
    let mut errors = BTreeMap::new();
    let mut check = |field: &str, r: Result<String, String>| match r {
        Ok(v) => v,
        Err(m) => {
            errors.insert(field.to_string(), m);
            String::new()
        }
    };
    let tenant_id = check("tenant_id", parse_tenant(&input.tenant_id));
    let client_id = check(
        "client_id",
        Guid::parse(&input.client_id).map(|g| g.as_str().to_string()),
    );
    let jit_domain = check(
        "jit_domain",
        Domain::parse(&input.jit_domain).map(|d| d.as_str().to_string()),
    );
    let upn_template = check(
        "upn_template",
        UpnTemplate::parse(
            input
                .upn_template
                .as_deref()
                .unwrap_or(DEFAULT_UPN_TEMPLATE),
        )
        .map(|t| t.as_str().to_string()),
    );
    match input.client_secret.as_deref().map(str::trim) {
        Some("") => {
            errors.insert("client_secret".into(), "must not be empty".into());
        }
        None if !had_secret => {
            errors.insert(
                "client_secret".into(),
                "is required when the connection is first set".into(),
            );
        }
        _ => {}
    }
    let mut roles = Vec::new();
    if input.roles.is_empty() {
        errors.insert("roles".into(), "must name at least one role".into());
    }
    for (i, role) in input.roles.iter().enumerate() {
        match parse_role(role) {
            Ok(id) if !roles.contains(&id) => roles.push(id),
            Ok(_) => {}
            Err(m) => {
                errors.insert(format!("roles[{i}]"), m);
            }
        }
    }
    let max = state.config.jit_max_duration;
    let duration_secs = match input.duration.as_deref().map(DurationSetting::parse) {
        None => None,
        Some(Ok(d)) if d > max => {
            errors.insert(
                "duration".into(),
                format!("must not exceed jit_max_duration ({max})"),
            );
            None
        }
        Some(Ok(d)) if d.get().as_secs() < 60 => {
            errors.insert("duration".into(), "must be at least 1m".into());
            None
        }
        Some(Ok(d)) => Some(d.get().as_secs() as i64),
        Some(Err(m)) => {
            errors.insert("duration".into(), m);
            None
        }
    };
    let expiry_action =
        match ExpiryAction::parse(input.expiry_action.as_deref().unwrap_or("disable")) {
            Some(action) => action,
            None => {
                errors.insert("expiry_action".into(), "must be disable or delete".into());
                ExpiryAction::Disable
            }
        };
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    Ok(EntraConnection {
        customer_id: customer_id.to_string(),
        tenant_id,
        client_id,
        jit_domain,
        upn_template,
        roles: serde_json::to_string(&roles).expect("strings serialize"),
        duration_secs,
        expiry_action,
        updated_at: store::now_ms(),
    })
}

/// Check the customer's tenant now: credentials and consent, the Graph permissions the app's
/// token carries, the app's own directory role, the JIT domain, the role ids and the UPN
/// template. The result is stored; requests are refused while the last check failed.
#[utoipa::path(post, path = "/customers/{id}/entra/check", tag = "customers",
    responses((status = 200, body = TenantCheck), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn run_check(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<TenantCheck>> {
    visible_customer(&state, &caller, &id).await?;
    crate::jobs::tenant_check::run(&state, &id, &caller.audit_actor())
        .await?
        .map(Json)
        .ok_or_else(|| {
            AppError::Conflict("the customer has no complete Entra connection to check".into())
        })
}

/// The customer's last tenant check.
#[utoipa::path(get, path = "/customers/{id}/entra/check", tag = "customers",
    responses((status = 200, body = TenantCheck), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn last_check(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<TenantCheck>> {
    visible_customer(&state, &caller, &id).await?;
    store::checks::last(&state.db, &id)
        .await?
        .map(Json)
        .ok_or(AppError::NotFound(
            "no tenant check has run for this customer",
        ))
}

/// One of the tenant's domains, for choosing the JIT domain.
#[derive(Serialize, ToSchema)]
pub struct DomainView {
    pub name: String,
    pub is_default: bool,
    /// The tenant's `*.onmicrosoft.com` domain: always verified and cloud-managed, and the
    /// recommended JIT domain.
    pub is_initial: bool,
    pub is_verified: bool,
    /// Entra signs its users in (not federated to another identity provider).
    pub is_managed: bool,
    /// Verified and managed: JIT accounts can live there.
    pub usable: bool,
    pub recommended: bool,
}

/// The verified and unverified domains of the customer's tenant, read from Microsoft Graph
/// (needs the application permission Domain.Read.All).
#[utoipa::path(get, path = "/customers/{id}/entra/domains", tag = "customers",
    responses((status = 200, body = Vec<DomainView>), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 502, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn list_domains(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<DomainView>>> {
    visible_customer(&state, &caller, &id).await?;
    let Some((_, tenant)) = crate::jobs::tenant_of(&state, &id).await? else {
        return Err(AppError::Conflict(
            "the customer has no complete Entra connection".into(),
        ));
    };
    let domains = state
        .graph
        .list_domains(&tenant)
        .await
        .map_err(|e| AppError::Upstream(e.to_string()))?;
    Ok(Json(
        domains
            .into_iter()
            .map(|d| DomainView {
                usable: d.can_hold_jit_accounts(),
                recommended: d.is_initial && d.can_hold_jit_accounts(),
                is_managed: d.is_managed(),
                name: d.id,
                is_default: d.is_default,
                is_initial: d.is_initial,
                is_verified: d.is_verified,
            })
            .collect(),
    ))
}

/// Remove the customer's Entra connection and its stored client secret.
#[utoipa::path(delete, path = "/customers/{id}/entra", tag = "customers",
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn delete_entra(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    visible_customer(&state, &caller, &id).await?;
    refuse_with_open_grants(&state, &id).await?;
    let mut tx = state.db.begin().await?;
    store::customers::delete_entra(&mut tx, &id).await?;
    store::secrets::delete(&mut tx, &secret_scope(&id), ENTRA_SECRET).await?;
    store::audit::record(
        &mut tx,
        &caller.audit("customer.entra.delete", "ok").customer(&id),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A grant lives in one tenant (I9), and a customer's secret must never be carried into
/// another tenant or app: changing the tenant or client id needs a new client secret in the
/// same request, no open grants, and a full admin token (a delegated admin of one customer
/// could otherwise point it at another customer's tenant with the stored secret of an MSP's
/// multi-tenant app).
pub(crate) async fn refuse_tenant_move(
    state: &AppState,
    caller: &Caller,
    customer_id: &str,
    current: Option<&EntraConnection>,
    next: &EntraConnection,
    new_secret: bool,
) -> ApiResult<()> {
    let moves = match current {
        None => true,
        Some(c) => {
            !c.tenant_id.eq_ignore_ascii_case(&next.tenant_id)
                || !c.client_id.eq_ignore_ascii_case(&next.client_id)
        }
    };
    if !moves {
        return Ok(());
    }
    if !caller.is_admin {
        return Err(AppError::Forbidden(
            "only an MSP admin token may set or change a customer's tenant id or client id",
        ));
    }
    if current.is_some() && !new_secret {
        return Err(AppError::field(
            "client_secret",
            "is required when tenant_id or client_id changes (the stored secret stays with the old tenant and app)",
        ));
    }
    if current.is_some() {
        refuse_with_open_grants(state, customer_id).await?;
    }
    Ok(())
}

/// Access that is still open needs the customer and its connection to be ended (I3).
pub(crate) async fn refuse_with_open_grants(state: &AppState, customer_id: &str) -> ApiResult<()> {
    let open = store::grants::count_open_for(&state.db, Some(customer_id), None).await?;
    if open > 0 {
        return Err(AppError::Conflict(format!(
            "{open} grant(s) of this customer are still open; end them first (POST /api/v1/grants/{{id}}/end)"
        )));
    }
    Ok(())
}

/// One group's roles in the customer's tenant.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleMappingInput {
    pub group_id: String,
    /// Role template ids or well-known names (e.g. "Global Administrator").
    pub roles: Vec<String>,
}

/// Body of `PUT /customers/{id}/role-mappings`; an empty list returns the customer to the
/// default (All admins → the roles its Entra connection names).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleMappingsInput {
    pub mappings: Vec<RoleMappingInput>,
}

#[derive(Serialize, ToSchema)]
pub struct RoleMappingsView {
    /// Each mapped group with its role template ids.
    pub mappings: Vec<store::groups::RoleSource>,
    /// No mapping is stored: All admins gets the roles the Entra connection names.
    pub is_default: bool,
}

/// Which directory roles each technician group gets in the customer's tenant. A technician's
/// JIT account gets the union of the roles of their groups mapped here.
#[utoipa::path(get, path = "/customers/{id}/role-mappings", tag = "customers",
    responses((status = 200, body = RoleMappingsView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn get_role_mappings(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<RoleMappingsView>> {
    visible_customer(&state, &caller, &id).await?;
    Ok(Json(role_mappings_view(&state, &id).await?))
}

pub(crate) async fn role_mappings_view(
    state: &AppState,
    customer_id: &str,
) -> ApiResult<RoleMappingsView> {
    let default_roles = store::customers::entra(&state.db, customer_id)
        .await?
        .map(|e| e.role_ids())
        .unwrap_or_default();
    let m = store::groups::mappings(&state.db, customer_id, &default_roles).await?;
    Ok(RoleMappingsView {
        mappings: m.sources,
        is_default: m.is_default,
    })
}

/// Replace the customer's role mappings. A change applies from the next request; an open
/// grant keeps the roles it started with until it ends.
#[utoipa::path(put, path = "/customers/{id}/role-mappings", tag = "customers", request_body = RoleMappingsInput,
    responses((status = 200, body = RoleMappingsView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn put_role_mappings(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<RoleMappingsInput>,
) -> ApiResult<Json<RoleMappingsView>> {
    visible_customer(&state, &caller, &id).await?;
    let mappings = validate_role_mappings(&state, &input).await?;
    let mut tx = state.db.begin().await?;
    store::groups::put_mappings(&mut tx, &id, &mappings).await?;
    let detail = mappings
        .iter()
        .map(|(group, roles)| format!("{group}: {}", roles.join(" ")))
        .collect::<Vec<_>>()
        .join("; ");
    store::audit::record(
        &mut tx,
        &caller
            .audit("customer.role_mappings.set", "ok")
            .customer(&id)
            .detail(if detail.is_empty() {
                "default: All admins gets the Entra connection's roles".to_string()
            } else {
                detail
            }),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(role_mappings_view(&state, &id).await?))
}

/// Each mapping's group must exist and be named once; its roles must be known names or
/// template ids, at least one.
pub(crate) async fn validate_role_mappings(
    state: &AppState,
    input: &RoleMappingsInput,
) -> ApiResult<Vec<(String, Vec<String>)>> {
    let mut errors = BTreeMap::new();
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for (i, m) in input.mappings.iter().enumerate() {
        let group_id = m.group_id.trim().to_string();
        match store::groups::get(&state.db, &group_id).await {
            Ok(_) if out.iter().any(|(g, _)| *g == group_id) => {
                errors.insert(
                    format!("mappings[{i}].group_id"),
                    "names a group mapped already".into(),
                );
            }
            Ok(_) => {}
            Err(store::StoreError::NotFound) => {
                errors.insert(format!("mappings[{i}].group_id"), "no such group".into());
            }
            Err(e) => return Err(e.into()),
        }
        if m.roles.is_empty() {
            errors.insert(
                format!("mappings[{i}].roles"),
                "must name at least one role".into(),
            );
        }
        let mut roles = Vec::new();
        for (j, role) in m.roles.iter().enumerate() {
            match parse_role(role) {
                Ok(id) if !roles.contains(&id) => roles.push(id),
                Ok(_) => {}
                Err(msg) => {
                    errors.insert(format!("mappings[{i}].roles[{j}]"), msg);
                }
            }
        }
        out.push((group_id, roles));
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    Ok(out)
}

/// The customer if the caller may see it; 404 otherwise (a delegated token cannot tell another
/// customer's id from a wrong one).
pub(crate) async fn visible_customer(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> ApiResult<store::customers::Customer> {
    store::customers::get(&state.db, &caller.visibility(), id)
        .await
        .map_err(not_found)
}

fn not_found(e: store::StoreError) -> AppError {
    match e {
        store::StoreError::NotFound => AppError::NotFound("no such customer"),
        other => other.into(),
    }
}
