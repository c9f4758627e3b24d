//! `/api/v1/tokens`: admin API tokens (admin tokens only). A token is shown once, when it is
//! created; afterwards only its id, name, scope and times are.

use crate::domain::duration::DurationSetting;
use crate::http::error::{ApiResult, AppError, ErrorBody};
use crate::http::extract::{ApiJson, Caller};
use crate::http::state::AppState;
use crate::store::{self, tokens::Revoked, tokens::TokenInfo};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_token, list_tokens))
        .routes(routes!(revoke_token))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenInput {
    pub name: String,
    /// Customer ids: a delegated token that sees and edits only these. Empty or absent: an
    /// admin token.
    #[serde(default)]
    pub customers: Vec<String>,
    /// How long the token stays valid, e.g. `12h`, `30d`. Absent: until revoked.
    pub expires_in: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    /// Admin tokens see everything; delegated tokens only their customers.
    pub is_admin: bool,
    pub customers: Vec<String>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Last use, recorded to the minute.
    pub last_used_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub view: TokenView,
    /// The bearer token. Shown only in this answer; jitgate keeps only its hash.
    pub token: String,
}

impl From<TokenInfo> for TokenView {
    fn from(t: TokenInfo) -> Self {
        TokenView {
            id: t.id,
            name: t.name,
            is_admin: t.is_admin,
            customers: t.customers,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
        }
    }
}

/// Create a token; the answer carries it once.
#[utoipa::path(post, path = "/tokens", tag = "tokens", request_body = TokenInput,
    responses((status = 201, body = CreatedToken), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<TokenInput>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    caller.require_admin()?;
    let name = input.name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(AppError::field("name", "must be 1 to 200 characters"));
    }
    let expires_at = input
        .expires_in
        .as_deref()
        .map(expiry_from_now)
        .transpose()
        .map_err(|m| AppError::field("expires_in", m))?;
    for (i, customer) in input.customers.iter().enumerate() {
        store::customers::get(&state.db, &caller.visibility(), customer)
            .await
            .map_err(|_| AppError::field(format!("customers[{i}]"), "no such customer"))?;
    }
    let audit = caller.audit("token.create", "ok");
    let (row, token) =
        store::tokens::create_with(&state.db, name, &input.customers, expires_at, Some(&audit))
            .await?;
    let view = store::tokens::get(&state.db, &row.id).await?.into();
    Ok((StatusCode::CREATED, Json(CreatedToken { view, token })))
}

/// Every token, revoked and expired ones included; never a token or its hash.
#[utoipa::path(get, path = "/tokens", tag = "tokens",
    responses((status = 200, body = Vec<TokenView>), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
async fn list_tokens(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<TokenView>>> {
    caller.require_admin()?;
    let tokens = store::tokens::list(&state.db).await?;
    Ok(Json(tokens.into_iter().map(TokenView::from).collect()))
}

/// Revoke a token: from the next request on, on every instance, it gets 401. Revoking a
/// revoked token changes nothing.
#[utoipa::path(delete, path = "/tokens/{id}", tag = "tokens",
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    let audit = caller
        .audit("token.revoke", "ok")
        .detail(format!("token {id}"));
    match store::tokens::revoke(&state.db, &id, &audit).await {
        Ok(Revoked::Now | Revoked::Already) => Ok(StatusCode::NO_CONTENT),
        Err(store::StoreError::NotFound) => Err(AppError::NotFound("no such token")),
        Err(e) => Err(e.into()),
    }
}

/// `expires_in` as an absolute time (Unix ms): a duration like `90s`, `12h`, `30d`, at least a
/// minute and at most ten years.
pub fn expiry_from_now(text: &str) -> Result<i64, String> {
    let d = DurationSetting::parse(text)?.get();
    if d < std::time::Duration::from_secs(60) {
        return Err("must be at least 1m".into());
    }
    if d > std::time::Duration::from_secs(3650 * 86400) {
        return Err("must be at most 3650d".into());
    }
    Ok(store::now_ms() + d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_takes_days_and_refuses_nonsense() {
        let at = expiry_from_now("30d").unwrap();
        let expected = store::now_ms() + 30 * 86_400_000;
        assert!((expected - 1_000..=expected).contains(&at));
        assert!(expiry_from_now("10s").is_err(), "under a minute");
        assert!(expiry_from_now("3651d").is_err(), "over ten years");
        assert!(expiry_from_now("soon").is_err());
    }
}
