//! `/api/v1/connectors`: PSA connectors (admin tokens only) and PSA company → customer mappings.

use crate::http::error::{ApiResult, AppError, ErrorBody};
use crate::http::extract::{ApiJson, Caller};
use crate::http::state::AppState;
use crate::store::{self, connectors::ConnectorRow};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use jitgate_connectors::{ConnectorKind, Secret, SecretValues};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_connector, list_connectors))
        .routes(routes!(get_connector, update_connector, delete_connector))
        .routes(routes!(list_companies))
        .routes(routes!(map_company, unmap_company))
        .routes(routes!(check_connector))
        .routes(routes!(register_connector))
        .routes(routes!(list_deliveries))
        .routes(routes!(set_capture))
}

/// A secret's new value(s): one string, several (rotation: all are accepted), or `null` to
/// remove it.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub enum SecretInput {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectorInput {
    /// `connectwise`, `autotask`, `halopsa` or `standard_webhooks`.
    pub kind: String,
    pub name: String,
    /// Kind-specific settings; see `config/examples/<kind>.jsonc`.
    #[schema(value_type = Object)]
    pub settings: serde_json::Value,
    /// Write-only secrets by name (see the kind's example).
    #[serde(default)]
    pub secrets: BTreeMap<String, SecretInput>,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectorPatch {
    pub name: Option<String>,
    /// Replaces all settings when given.
    #[schema(value_type = Option<Object>)]
    pub settings: Option<serde_json::Value>,
    /// Only the named secrets change; `null` removes one.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub secrets: BTreeMap<String, Option<SecretInput>>,
    pub enabled: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct SecretStatus {
    pub set: bool,
    /// How many values are active (several during a rotation).
    pub count: usize,
}

#[derive(Serialize, ToSchema)]
pub struct ConnectorView {
    pub id: String,
    pub kind: String,
    pub name: String,
    #[schema(value_type = Object)]
    pub settings: serde_json::Value,
    pub enabled: bool,
    pub secrets: BTreeMap<String, SecretStatus>,
    /// Where the PSA must send its webhooks.
    pub webhook_url: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MappingInput {
    pub customer_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct MappingView {
    pub connector_id: String,
    pub psa_company_id: String,
    pub customer_id: String,
}

pub fn webhook_url(state: &AppState, connector_id: &str) -> String {
    let base = state.config.public_url.as_str().trim_end_matches('/');
    format!("{base}/webhooks/{connector_id}")
}

pub(crate) async fn view(state: &AppState, row: ConnectorRow) -> ApiResult<ConnectorView> {
    let kind = ConnectorKind::parse(&row.kind)
        .ok_or_else(|| AppError::internal(format!("stored kind {}", row.kind)))?;
    let stored =
        store::secrets::names(&state.db, &store::connectors::secret_scope(&row.id)).await?;
    let secrets = kind
        .secrets()
        .iter()
        .map(|spec| {
            let count = stored
                .iter()
                .filter(|n| store::connectors::secret_base(n) == spec.name)
                .count();
            (
                spec.name.to_string(),
                SecretStatus {
                    set: count > 0,
                    count,
                },
            )
        })
        .collect();
    Ok(ConnectorView {
        webhook_url: webhook_url(state, &row.id),
        settings: serde_json::from_str(&row.settings).unwrap_or(serde_json::Value::Null),
        id: row.id,
        kind: row.kind,
        name: row.name,
        enabled: row.enabled,
        secrets,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn values_of(input: &SecretInput) -> Vec<String> {
    match input {
        SecretInput::One(v) => vec![v.trim().to_string()],
        SecretInput::Many(vs) => vs.iter().map(|v| v.trim().to_string()).collect(),
    }
}

/// Check secret names and values against the kind; the result is name → values to store.
fn validate_secrets(
    kind: ConnectorKind,
    secrets: &BTreeMap<String, Option<SecretInput>>,
) -> Result<BTreeMap<String, Vec<String>>, BTreeMap<String, String>> {
    let mut errors = BTreeMap::new();
    let mut out = BTreeMap::new();
    for (name, input) in secrets {
        let Some(spec) = kind.secrets().iter().find(|s| s.name == name) else {
            let known: Vec<&str> = kind.secrets().iter().map(|s| s.name).collect();
            errors.insert(
                format!("secrets.{name}"),
                format!("unknown secret for {kind}; expected one of {known:?}"),
            );
            continue;
        };
        let values = input.as_ref().map(values_of).unwrap_or_default();
        if values.iter().any(String::is_empty) {
            errors.insert(format!("secrets.{name}"), "must not be empty".into());
        } else if values.len() > 1 && !spec.list {
            errors.insert(format!("secrets.{name}"), "takes one value".into());
        } else if values.len() > 10 {
            errors.insert(format!("secrets.{name}"), "at most 10 active values".into());
        }
        out.insert(name.clone(), values);
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Build the connector with its would-be settings and secrets: the kind validates itself.
fn validate_connector(
    state: &AppState,
    kind: ConnectorKind,
    settings: &serde_json::Value,
    secrets: &BTreeMap<String, Vec<String>>,
) -> ApiResult<()> {
    let mut errors = BTreeMap::new();
    for spec in kind.secrets().iter().filter(|s| s.required) {
        if secrets.get(spec.name).is_none_or(Vec::is_empty) {
            errors.insert(format!("secrets.{}", spec.name), "is required".into());
        }
    }
    let values = SecretValues(
        secrets
            .iter()
            .map(|(k, vs)| {
                (
                    k.clone(),
                    vs.iter().map(|v| Secret::from(v.clone())).collect(),
                )
            })
            .collect(),
    );
    if let Err(e) = jitgate_connectors::build(kind, settings, values, state.http.clone()) {
        errors.extend(e.fields);
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Validation(errors))
    }
}

fn parse_kind(kind: &str) -> ApiResult<ConnectorKind> {
    ConnectorKind::parse(kind).ok_or_else(|| {
        let kinds: Vec<&str> = ConnectorKind::ALL.iter().map(|k| k.as_str()).collect();
        AppError::field("kind", format!("must be one of {kinds:?}"))
    })
}

fn connector_name(name: &str) -> ApiResult<String> {
    let name = name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(AppError::field("name", "must be 1 to 200 characters"));
    }
    Ok(name.to_string())
}

/// Load every stored secret value of a connector, grouped by name.
pub(crate) async fn stored_secrets(
    state: &AppState,
    connector_id: &str,
) -> ApiResult<BTreeMap<String, Vec<String>>> {
    Ok(store::connectors::secrets(&state.db, &state.keyring, connector_id).await?)
}

pub(crate) async fn save_secrets(
    tx: &mut store::Tx,
    state: &AppState,
    connector_id: &str,
    secrets: &BTreeMap<String, Vec<String>>,
) -> ApiResult<()> {
    let scope = store::connectors::secret_scope(connector_id);
    for (name, values) in secrets {
        store::secrets::replace_list(tx, &state.keyring, &scope, name, values).await?;
    }
    Ok(())
}

/// Register a connector. The answer carries the webhook URL to configure in the PSA.
#[utoipa::path(post, path = "/connectors", tag = "connectors", request_body = ConnectorInput,
    responses((status = 201, body = ConnectorView), (status = 422, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn create_connector(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<ConnectorInput>,
) -> ApiResult<(StatusCode, Json<ConnectorView>)> {
    caller.require_admin()?;
    let kind = parse_kind(&input.kind)?;
    let name = connector_name(&input.name)?;
    let secrets_in = input
        .secrets
        .into_iter()
        .map(|(k, v)| (k, Some(v)))
        .collect();
    let secrets = validate_secrets(kind, &secrets_in).map_err(AppError::Validation)?;
    validate_connector(&state, kind, &input.settings, &secrets)?;
    let mut tx = state.db.begin().await?;
    let row = store::connectors::create(
        &mut tx,
        kind.as_str(),
        &name,
        &input.settings,
        input.enabled,
    )
    .await?;
    save_secrets(&mut tx, &state, &row.id, &secrets).await?;
    store::audit::record(
        &mut tx,
        &caller.audit("connector.create", "ok").connector(&row.id),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(view(&state, row).await?)))
}

#[utoipa::path(get, path = "/connectors", tag = "connectors",
    responses((status = 200, body = Vec<ConnectorView>), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn list_connectors(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<ConnectorView>>> {
    caller.require_admin()?;
    let mut out = Vec::new();
    for row in store::connectors::list(&state.db).await? {
        out.push(view(&state, row).await?);
    }
    Ok(Json(out))
}

#[utoipa::path(get, path = "/connectors/{id}", tag = "connectors",
    responses((status = 200, body = ConnectorView), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn get_connector(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ConnectorView>> {
    caller.require_admin()?;
    let row = connector(&state, &id).await?;
    Ok(Json(view(&state, row).await?))
}

/// Change a connector's name, settings, secrets or enabled flag.
#[utoipa::path(patch, path = "/connectors/{id}", tag = "connectors", request_body = ConnectorPatch,
    responses((status = 200, body = ConnectorView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn update_connector(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<ConnectorPatch>,
) -> ApiResult<Json<ConnectorView>> {
    caller.require_admin()?;
    let mut row = connector(&state, &id).await?;
    let kind = parse_kind(&row.kind)?;
    if let Some(name) = &patch.name {
        row.name = connector_name(name)?;
    }
    if let Some(enabled) = patch.enabled {
        row.enabled = enabled;
    }
    let settings = patch
        .settings
        .clone()
        .unwrap_or_else(|| serde_json::from_str(&row.settings).unwrap_or_default());
    let changed = validate_secrets(kind, &patch.secrets).map_err(AppError::Validation)?;
    let mut merged = stored_secrets(&state, &id).await?;
    for (name, values) in &changed {
        merged.insert(name.clone(), values.clone());
    }
    validate_connector(&state, kind, &settings, &merged)?;
    row.settings = settings.to_string();
    let mut tx = state.db.begin().await?;
    save_secrets(&mut tx, &state, &id, &changed).await?;
    store::connectors::update(&mut tx, &row).await?;
    let detail = if changed.is_empty() {
        "settings".to_string()
    } else {
        format!(
            "secrets changed: {}",
            changed.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    };
    store::audit::record(
        &mut tx,
        &caller
            .audit("connector.update", "ok")
            .connector(&id)
            .detail(detail),
    )
    .await?;
    tx.commit().await?;
    // Deliveries use a briefly cached connector: make this change count from the next one.
    state.connectors.forget(&id);
    Ok(Json(view(&state, connector(&state, &id).await?).await?))
}

#[utoipa::path(delete, path = "/connectors/{id}", tag = "connectors",
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn delete_connector(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    connector(&state, &id).await?;
    let mut tx = state.db.begin().await?;
    store::connectors::delete(&mut tx, &id).await?;
    store::audit::record(
        &mut tx,
        &caller.audit("connector.delete", "ok").connector(&id),
    )
    .await?;
    tx.commit().await?;
    state.connectors.forget(&id);
    Ok(StatusCode::NO_CONTENT)
}

/// PSA companies mapped to customers the caller may see.
#[utoipa::path(get, path = "/connectors/{id}/companies", tag = "connectors",
    responses((status = 200, body = Vec<MappingView>), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn list_companies(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<MappingView>>> {
    connector(&state, &id).await?;
    let out = store::connectors::mappings_visible(&state.db, &caller.visibility(), &id)
        .await?
        .into_iter()
        .map(|m| MappingView {
            connector_id: m.connector_id,
            psa_company_id: m.psa_company_id,
            customer_id: m.customer_id,
        })
        .collect();
    Ok(Json(out))
}

/// Map a PSA company (as the PSA identifies it) to a customer.
#[utoipa::path(put, path = "/connectors/{id}/companies/{psa_company_id}", tag = "connectors", request_body = MappingInput,
    responses((status = 200, body = MappingView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn map_company(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, psa_company_id)): Path<(String, String)>,
    ApiJson(input): ApiJson<MappingInput>,
) -> ApiResult<Json<MappingView>> {
    connector(&state, &id).await?;
    let company = psa_company_id.trim();
    if company.is_empty() || company.len() > 200 {
        return Err(AppError::field(
            "psa_company_id",
            "must be 1 to 200 characters",
        ));
    }
    if store::customers::get(&state.db, &caller.visibility(), &input.customer_id)
        .await
        .is_err()
    {
        return Err(AppError::field("customer_id", "no such customer"));
    }
    // A delegated token may not take over a company mapped to a customer outside its scope:
    // the store refuses that and writes nothing.
    let mut tx = state.db.begin().await?;
    let Some(m) = store::connectors::map_company_within(
        &mut tx,
        &caller.visibility(),
        &id,
        company,
        &input.customer_id,
    )
    .await?
    else {
        store::audit::record(
            &mut tx,
            &caller.audit("company.map", "refused")
                .connector(&id)
                .customer(&input.customer_id)
                .detail(format!(
                    "psa company {company} is already mapped to a customer outside this token's scope"
                )),
        )
        .await?;
        tx.commit().await?;
        return Err(AppError::Forbidden(
            "this PSA company is already mapped to a customer outside this token's scope; an admin token must unmap it first",
        ));
    };
    store::audit::record(
        &mut tx,
        &caller
            .audit("company.map", "ok")
            .connector(&id)
            .customer(&m.customer_id)
            .detail(format!("psa company {company}")),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(MappingView {
        connector_id: m.connector_id,
        psa_company_id: m.psa_company_id,
        customer_id: m.customer_id,
    }))
}

#[utoipa::path(delete, path = "/connectors/{id}/companies/{psa_company_id}", tag = "connectors",
    responses((status = 204), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn unmap_company(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, psa_company_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let existing = store::connectors::mapping(&state.db, &id, &psa_company_id)
        .await?
        .ok_or(AppError::NotFound("no such mapping"))?;
    caller
        .require_customer(&existing.customer_id)
        .map_err(|_| AppError::NotFound("no such mapping"))?;
    let mut tx = state.db.begin().await?;
    store::connectors::unmap_company(&mut tx, &id, &psa_company_id).await?;
    store::audit::record(
        &mut tx,
        &caller
            .audit("company.unmap", "ok")
            .connector(&id)
            .customer(&existing.customer_id)
            .detail(format!("psa company {psa_company_id}")),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn connector(state: &AppState, id: &str) -> ApiResult<ConnectorRow> {
    store::connectors::get(&state.db, id)
        .await
        .map_err(|e| match e {
            store::StoreError::NotFound => AppError::NotFound("no such connector"),
            other => other.into(),
        })
}

// --- Checking and registering the PSA side (issue 15) ---------------------------------------

/// The connection checks of a connector, with the tenant check's statuses.
#[derive(Serialize, ToSchema)]
pub struct ConnectorCheckView {
    pub checks: Vec<store::checks::Check>,
}

/// What registering did at the PSA.
#[derive(Serialize, ToSchema)]
pub struct RegisterView {
    /// `created`, `repaired`, `already_registered` or `manual_steps`.
    pub action: String,
    pub detail: String,
    /// What is left to do by hand in the PSA (empty when nothing is).
    pub steps: Vec<String>,
}

/// The connector as stored, built fresh (not the delivery cache: a check must see the settings
/// just saved, and a disabled connector can still be checked before it is enabled).
async fn built_connector(
    state: &AppState,
    row: &ConnectorRow,
) -> ApiResult<std::sync::Arc<dyn jitgate_connectors::Connector>> {
    let kind = parse_kind(&row.kind)?;
    let settings: serde_json::Value = serde_json::from_str(&row.settings)
        .map_err(|e| AppError::internal(format!("stored settings of {}: {e}", row.id)))?;
    let values = SecretValues(
        stored_secrets(state, &row.id)
            .await?
            .into_iter()
            .map(|(k, vs)| (k, vs.into_iter().map(Secret::from).collect()))
            .collect(),
    );
    jitgate_connectors::build(kind, &settings, values, state.http.clone())
        .map_err(|e| AppError::Validation(e.fields))
}

fn check_view(check: jitgate_connectors::Check) -> store::checks::Check {
    use jitgate_connectors::CheckStatus as S;
    store::checks::Check {
        name: check.name,
        status: match check.status {
            S::Ok => store::checks::CheckStatus::Ok,
            S::Warn => store::checks::CheckStatus::Warn,
            S::Fail => store::checks::CheckStatus::Fail,
        },
        detail: check.detail,
        fix: check.fix,
    }
}

/// Check the PSA side: credentials, trigger, note settings and (ConnectWise, Autotask) whether
/// jitgate's webhook is registered and active. Read-only at the PSA.
#[utoipa::path(post, path = "/connectors/{id}/check", tag = "connectors",
    responses((status = 200, body = ConnectorCheckView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn check_connector(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ConnectorCheckView>> {
    caller.require_admin()?;
    let row = connector(&state, &id).await?;
    let built = built_connector(&state, &row).await?;
    let checks: Vec<_> = built
        .check(&webhook_url(&state, &id))
        .await
        .into_iter()
        .map(check_view)
        .collect();
    let worst = checks
        .iter()
        .map(|c| c.status)
        .max()
        .unwrap_or(store::checks::CheckStatus::Ok);
    let mut tx = state.db.begin().await?;
    store::audit::record(
        &mut tx,
        // The check itself ran (`ok`); how the PSA side came out is the detail.
        &caller
            .audit("connector.check", "ok")
            .connector(&id)
            .detail(format!("{} checks, worst {}", checks.len(), worst.as_str())),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(ConnectorCheckView { checks }))
}

/// Register (or repair) jitgate's webhook at the PSA, idempotently; for HaloPSA and Standard
/// Webhooks the answer lists the steps to take by hand.
#[utoipa::path(post, path = "/connectors/{id}/register", tag = "connectors",
    responses((status = 200, body = RegisterView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 502, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn register_connector(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<RegisterView>> {
    caller.require_admin()?;
    let row = connector(&state, &id).await?;
    let built = built_connector(&state, &row).await?;
    let result = built.register(&webhook_url(&state, &id)).await;
    // PSA errors carry the vendor's words, never a request secret.
    let (outcome, detail) = match &result {
        Ok(done) => ("ok", done.detail.clone()),
        Err(e) => ("failed", e.to_string()),
    };
    let mut tx = state.db.begin().await?;
    store::audit::record(
        &mut tx,
        &caller
            .audit("connector.register", outcome)
            .connector(&id)
            .detail(detail),
    )
    .await?;
    tx.commit().await?;
    let done = result.map_err(|e| AppError::Upstream(format!("the PSA refused: {e}")))?;
    let action = serde_json::to_value(done.action)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    Ok(Json(RegisterView {
        action,
        detail: done.detail,
        steps: done.steps,
    }))
}

/// `GET /connectors/{id}/deliveries` query.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// Only this outcome: accepted, ignored, duplicate, unauthorized, invalid or retry.
    pub outcome: Option<String>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct DeliveriesView {
    /// Newest first.
    pub deliveries: Vec<store::delivery_log::LoggedDelivery>,
    /// Whether bodies of new deliveries are captured.
    pub capture: bool,
    /// Entries this instance could not log since it started because the log's writer was
    /// behind (the deliveries themselves were answered as usual): the log may miss some.
    pub dropped: u64,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaptureInput {
    /// Keep the bodies of this connector's deliveries (redacted of secrets, at most 16 KiB
    /// each, for 24 hours).
    pub enabled: bool,
}

#[derive(Serialize, ToSchema)]
pub struct CaptureView {
    pub enabled: bool,
}

/// The connector's last deliveries with their outcome and reason (the delivery log). The log
/// is written in the background: a delivery shows here within moments of its answer.
#[utoipa::path(get, path = "/connectors/{id}/deliveries", tag = "connectors", params(DeliveriesQuery),
    responses((status = 200, body = DeliveriesView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn list_deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    axum::extract::Query(query): axum::extract::Query<DeliveriesQuery>,
) -> ApiResult<Json<DeliveriesView>> {
    caller.require_admin()?;
    connector(&state, &id).await?;
    let outcome = match query.outcome.as_deref() {
        None | Some("") => None,
        Some(text) => Some(store::delivery_log::Outcome::parse(text).ok_or_else(|| {
            AppError::field(
                "outcome",
                "must be accepted, ignored, duplicate, unauthorized, invalid or retry",
            )
        })?),
    };
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    Ok(Json(DeliveriesView {
        deliveries: store::delivery_log::list(&state.db, &id, outcome, limit).await?,
        capture: store::delivery_log::capture_enabled(&state.db, &id).await?,
        dropped: state.delivery_log.dropped(),
    }))
}

/// Turn capture of delivery bodies on or off for a connector (audited).
#[utoipa::path(put, path = "/connectors/{id}/capture", tag = "connectors", request_body = CaptureInput,
    responses((status = 200, body = CaptureView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
pub(crate) async fn set_capture(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<CaptureInput>,
) -> ApiResult<Json<CaptureView>> {
    caller.require_admin()?;
    connector(&state, &id).await?;
    let mut tx = state.db.begin().await?;
    store::delivery_log::set_capture(&mut tx, &id, input.enabled).await?;
    let detail = if input.enabled { "on" } else { "off" };
    store::audit::record(
        &mut tx,
        &caller
            .audit("connector.capture", "ok")
            .connector(&id)
            .detail(format!("delivery body capture {detail}")),
    )
    .await?;
    tx.commit().await?;
    state.delivery_log.set_capturing(&id, input.enabled);
    Ok(Json(CaptureView {
        enabled: input.enabled,
    }))
}
