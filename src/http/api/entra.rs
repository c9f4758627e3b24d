//! `/api/v1/entra/app` (the MSP's own multi-tenant Entra app, configured once) and
//! `/api/v1/customers/{id}/entra/consent` (the admin-consent URL that connects a customer's
//! tenant through that app; the browser comes back to [`crate::http::consent`]).

use crate::crypto::{hash_token, random_token};
use crate::domain::names::Guid;
use crate::http::error::{ApiResult, AppError, ErrorBody};
use crate::http::extract::{ApiJson, Caller};
use crate::http::state::AppState;
use crate::store::{self, audit::AuditEntry, now_ms};
use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

/// How long an admin has to finish Microsoft's consent page.
const CONSENT_STATE_TTL_MS: i64 = 10 * 60 * 1000;

/// Where Microsoft sends the administrator's browser back to; it must be registered as a
/// reply URL (Web platform) on the MSP app.
pub const CALLBACK_PATH: &str = "/entra/consent/callback";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_app, put_app))
        .routes(routes!(consent_url))
}

/// Body of `PUT /entra/app`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MspAppInput {
    /// Application (client) id of the MSP's multi-tenant app registration.
    pub client_id: String,
    /// A client secret of that app; write-only.
    pub client_secret: String,
}

/// The MSP app as the API shows it: never its secret.
#[derive(Serialize, ToSchema)]
pub struct MspAppView {
    /// `null` until the app is configured.
    pub client_id: Option<String>,
    pub secret_set: bool,
    /// Where Microsoft sends the administrator back after consent: register it as a Web
    /// reply URL on the app.
    pub redirect_uri: String,
}

/// `{"url": …}`: open it in a browser and sign in as the customer's Global Administrator.
#[derive(Serialize, ToSchema)]
pub struct ConsentUrl {
    pub url: String,
    /// When the URL stops working (e.g. `2026-11-26 18:30 UTC`).
    pub expires_at: String,
}

/// The MSP's own Entra app (admin tokens only).
#[utoipa::path(get, path = "/entra/app", tag = "entra",
    responses((status = 200, body = MspAppView)), security(("bearer" = [])))]
async fn get_app(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<MspAppView>> {
    caller.require_admin()?;
    Ok(Json(app_view(&state).await?))
}

/// Set the MSP's own multi-tenant Entra app (admin tokens only); the secret is write-only.
#[utoipa::path(put, path = "/entra/app", tag = "entra", request_body = MspAppInput,
    responses((status = 200, body = MspAppView), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn put_app(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<MspAppInput>,
) -> ApiResult<Json<MspAppView>> {
    caller.require_admin()?;
    let (client_id, secret) = validate_app(&input)?;
    let mut tx = state.db.begin().await?;
    store::msp_app::put(&mut tx, &state.keyring, &client_id, &secret).await?;
    store::audit::record(
        &mut tx,
        &AuditEntry::new(caller.audit_actor(), "entra.app.set", "ok")
            .detail(format!("client id {client_id}; client secret replaced")),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(app_view(&state).await?))
}

fn validate_app(input: &MspAppInput) -> ApiResult<(String, String)> {
    let mut errors = BTreeMap::new();
    let client_id = match Guid::parse(&input.client_id) {
        Ok(g) => g.as_str().to_string(),
        Err(m) => {
            errors.insert("client_id".to_string(), m);
            String::new()
        }
    };
    let secret = input.client_secret.trim().to_string();
    if secret.is_empty() {
        errors.insert("client_secret".into(), "must not be empty".into());
    }
    if errors.is_empty() {
        Ok((client_id, secret))
    } else {
        Err(AppError::Validation(errors))
    }
}

async fn app_view(state: &AppState) -> ApiResult<MspAppView> {
    let app = store::msp_app::get(&state.db).await?;
    let secret_set = store::secrets::names(&state.db, store::msp_app::SECRET_SCOPE)
        .await?
        .iter()
        .any(|n| n == store::msp_app::CLIENT_SECRET);
    Ok(MspAppView {
        client_id: app.map(|a| a.client_id),
        secret_set,
        redirect_uri: redirect_uri(state),
    })
}

/// Microsoft's admin-consent URL that connects the customer's tenant through the MSP app
/// (admin tokens only: connecting sets the customer's tenant). The `state` in it is random,
/// works once, for ten minutes, for this customer and this token.
#[utoipa::path(get, path = "/customers/{id}/entra/consent", tag = "entra",
    responses((status = 200, body = ConsentUrl), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "The MSP app is not configured")),
    security(("bearer" = [])))]
pub(crate) async fn consent_url(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ConsentUrl>> {
    caller.require_admin()?;
    store::customers::get(&state.db, &caller.visibility(), &id)
        .await
        .map_err(|e| match e {
            store::StoreError::NotFound => AppError::NotFound("no such customer"),
            other => other.into(),
        })?;
    let Some((app, _)) = store::msp_app::with_secret(&state.db, &state.keyring).await? else {
        return Err(AppError::Conflict(
            "the MSP's Entra app is not configured; set it first (PUT /api/v1/entra/app or \
             `jitgate entra app set`)"
                .into(),
        ));
    };
    let consent_state = random_token();
    let expires_at = now_ms() + CONSENT_STATE_TTL_MS;
    let mut tx = state.db.begin().await?;
    store::msp_app::create_consent_state(
        &mut tx,
        &hash_token(&consent_state),
        &id,
        &caller.audit_actor(),
        expires_at,
    )
    .await?;
    tx.commit().await?;
    Ok(Json(ConsentUrl {
        url: admin_consent_url(&state, &app.client_id, &consent_state),
        expires_at: crate::domain::time::utc(expires_at),
    }))
}

/// The v1 admin-consent endpoint, reached as `common` so the administrator's own tenant
/// answers (https://learn.microsoft.com/entra/identity-platform/v2-admin-consent, and
/// "Request the permissions from a directory admin" in
/// https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow).
fn admin_consent_url(state: &AppState, client_id: &str, consent_state: &str) -> String {
    let base = state.config.login_url.as_str().trim_end_matches('/');
    let mut url = url::Url::parse(&format!("{base}/common/adminconsent"))
        .expect("the login URL is a valid base URL");
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", &redirect_uri(state))
        .append_pair("state", consent_state);
    url.into()
}

pub fn redirect_uri(state: &AppState) -> String {
    format!(
        "{}{CALLBACK_PATH}",
        state.config.public_url.as_str().trim_end_matches('/')
    )
}
