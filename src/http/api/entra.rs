//! `/api/v1/entra/app` (the MSP's own multi-tenant Entra app, configured once) and
//! `/api/v1/customers/{id}/entra/consent` (the admin-consent URL that connects a customer's
//! tenant through that app; the browser comes back to [`crate::http::consent`]).

use crate::crypto::{hash_token, random_token};
use crate::domain::names::Guid;
use crate::http::error::{ApiResult, AppError, ErrorBody};
use crate::http::extract::{ApiJson, Caller};
use crate::http::state::AppState;
use crate::store::{self, now_ms};
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

/// Body of `PUT /entra/app`: the client id and exactly one credential, a client secret or a
/// certificate (Microsoft recommends certificates over secrets,
/// https://learn.microsoft.com/entra/identity-platform/certificate-credentials). Setting one
/// replaces the other.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MspAppInput {
    /// Application (client) id of the MSP's multi-tenant app registration.
    pub client_id: String,
    /// A client secret's value; write-only.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// PEM text with the certificate uploaded to the app and its RSA private key (PKCS#8
    /// `PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`, unencrypted, at least 2048 bits); write-only.
    #[serde(default)]
    pub client_certificate: Option<String>,
}

/// The MSP app as the API shows it: never its secret or private key.
#[derive(Serialize, ToSchema)]
pub struct MspAppView {
    /// `null` until the app is configured.
    pub client_id: Option<String>,
    /// What jitgate authenticates with: `secret` or `certificate` (`null` until configured).
    pub credential: Option<String>,
    /// Whether a client secret is set (the credential is `secret`).
    pub secret_set: bool,
    /// SHA-1 thumbprint of the certificate, as the Entra admin center shows it under
    /// Certificates & secrets.
    pub certificate_thumbprint: Option<String>,
    /// When the certificate expires (e.g. `2036-11-27 07:56 UTC`).
    pub certificate_expires_at: Option<String>,
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

/// Set the MSP's own multi-tenant Entra app (admin tokens only) with a client secret or a
/// certificate; both are write-only.
#[utoipa::path(put, path = "/entra/app", tag = "entra", request_body = MspAppInput,
    responses((status = 200, body = MspAppView), (status = 422, body = ErrorBody)),
    security(("bearer" = [])))]
async fn put_app(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<MspAppInput>,
) -> ApiResult<Json<MspAppView>> {
    caller.require_admin()?;
    let valid = validate_app(&input)?;
    let credential = valid.credential.as_new();
    let mut tx = state.db.begin().await?;
    store::msp_app::put(&mut tx, &state.keyring, &valid.client_id, &credential).await?;
    store::audit::record(
        &mut tx,
        &caller.audit("entra.app.set", "ok").detail(format!(
            "client id {}; {} set",
            valid.client_id,
            credential.describe()
        )),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(app_view(&state).await?))
}

/// A checked `PUT /entra/app` body.
pub struct ValidApp {
    pub client_id: String,
    pub credential: ValidCredential,
}

/// A checked credential: a non-empty secret, or a certificate whose key belongs to it.
pub enum ValidCredential {
    Secret(String),
    Certificate {
        pem: String,
        /// SHA-1, upper-case hex.
        thumbprint: String,
        /// notAfter, Unix milliseconds.
        not_after: Option<i64>,
    },
}

impl ValidCredential {
    pub fn as_new(&self) -> store::msp_app::NewCredential<'_> {
        match self {
            ValidCredential::Secret(secret) => store::msp_app::NewCredential::Secret(secret),
            ValidCredential::Certificate {
                pem,
                thumbprint,
                not_after,
            } => store::msp_app::NewCredential::Certificate {
                pem,
                thumbprint,
                not_after: *not_after,
            },
        }
    }
}

fn validate_app(input: &MspAppInput) -> ApiResult<ValidApp> {
    let mut errors = BTreeMap::new();
    let client_id = match Guid::parse(&input.client_id) {
        Ok(g) => g.as_str().to_string(),
        Err(m) => {
            errors.insert("client_id".to_string(), m);
            String::new()
        }
    };
    let credential = match validate_credential(
        input.client_secret.as_deref(),
        input.client_certificate.as_deref(),
    ) {
        Ok(credential) => Some(credential),
        Err((field, message)) => {
            errors.insert(field.to_string(), message);
            None
        }
    };
    match credential {
        Some(credential) if errors.is_empty() => Ok(ValidApp {
            client_id,
            credential,
        }),
        _ => Err(AppError::Validation(errors)),
    }
}

/// Exactly one of a client secret or a certificate; the error names the field and the
/// problem (never the value).
pub fn validate_credential(
    secret: Option<&str>,
    certificate: Option<&str>,
) -> Result<ValidCredential, (&'static str, String)> {
    match (secret, certificate) {
        (Some(_), Some(_)) => Err((
            "client_certificate",
            "give either client_secret or client_certificate, not both".into(),
        )),
        (None, None) => Err((
            "client_secret",
            "give a client_secret or a client_certificate (PEM with the certificate and its \
             private key)"
                .into(),
        )),
        (Some(secret), None) => {
            let secret = secret.trim();
            if secret.is_empty() {
                return Err(("client_secret", "must not be empty".into()));
            }
            Ok(ValidCredential::Secret(secret.to_string()))
        }
        (None, Some(pem)) => match jitgate_graph::ClientCertificate::from_pem(pem) {
            Ok(certificate) => Ok(ValidCredential::Certificate {
                pem: pem.trim().to_string(),
                thumbprint: certificate.thumbprint(),
                not_after: certificate
                    .not_after()
                    .map(|secs| secs.saturating_mul(1000)),
            }),
            Err(jitgate_graph::GraphError::InvalidCertificate { problem }) => {
                Err(("client_certificate", problem))
            }
            Err(other) => Err(("client_certificate", other.to_string())),
        },
    }
}

async fn app_view(state: &AppState) -> ApiResult<MspAppView> {
    let app = store::msp_app::get(&state.db).await?;
    let names = store::secrets::names(&state.db, store::msp_app::SECRET_SCOPE).await?;
    let client_id = app.as_ref().map(|a| a.client_id.clone());
    let credential = app.as_ref().map(|a| a.credential.clone());
    let secret_set = credential.as_deref() == Some("secret")
        && names.iter().any(|n| n == store::msp_app::CLIENT_SECRET);
    let certificate = app.filter(|a| a.credential == "certificate");
    Ok(MspAppView {
        client_id,
        credential,
        secret_set,
        certificate_thumbprint: certificate
            .as_ref()
            .and_then(|a| a.certificate_thumbprint.clone()),
        certificate_expires_at: certificate
            .and_then(|a| a.certificate_not_after)
            .map(crate::domain::time::utc),
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
    let Some((app, _)) = store::msp_app::with_credential(&state.db, &state.keyring).await? else {
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
