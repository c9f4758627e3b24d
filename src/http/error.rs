//! The HTTP layer's one error type. Client errors are sent as they are; internal errors are
//! logged once, with where they came from, and answered with a bare 500.

use crate::store::StoreError;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::collections::BTreeMap;
use std::panic::Location;

#[derive(Debug)]
pub enum AppError {
    /// No or unknown credentials.
    Unauthorized(&'static str),
    /// Known caller, not allowed.
    Forbidden(&'static str),
    NotFound(&'static str),
    /// Malformed request (bad JSON syntax, bad payload after a valid signature).
    BadRequest(String),
    /// Well-formed but invalid: per-field messages.
    Validation(BTreeMap<String, String>),
    Conflict(String),
    PayloadTooLarge,
    /// Microsoft Graph or a PSA refused or failed; the message (free of secrets: it is built
    /// from the vendor's codes and text) says what to do.
    Upstream(String),
    /// Something on our side failed; `detail` is logged, never sent.
    Internal {
        detail: String,
        location: &'static Location<'static>,
    },
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable: `unauthorized`, `forbidden`, `not_found`, `bad_request`,
    /// `validation_failed`, `conflict`, `payload_too_large`, `upstream`, `internal`.
    pub code: &'static str,
    pub message: String,
    /// Field path → message, for `validation_failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<BTreeMap<String, String>>,
}

impl AppError {
    #[track_caller]
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        AppError::Internal {
            detail: detail.to_string(),
            location: Location::caller(),
        }
    }

    pub fn field(path: impl Into<String>, message: impl Into<String>) -> Self {
        let mut fields = BTreeMap::new();
        fields.insert(path.into(), message.into());
        AppError::Validation(fields)
    }

    /// The status, a stable code and the message the client may see.
    pub(crate) fn parts(&self) -> (StatusCode, &'static str, String) {
        match self {
            AppError::Unauthorized(m) => (StatusCode::UNAUTHORIZED, "unauthorized", m.to_string()),
            AppError::Forbidden(m) => (StatusCode::FORBIDDEN, "forbidden", m.to_string()),
            AppError::NotFound(m) => (StatusCode::NOT_FOUND, "not_found", m.to_string()),
            AppError::BadRequest(m) => (StatusCode::BAD_REQUEST, "bad_request", m.clone()),
            AppError::Validation(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "the request has invalid fields".into(),
            ),
            AppError::Conflict(m) => (StatusCode::CONFLICT, "conflict", m.clone()),
            AppError::Upstream(m) => (StatusCode::BAD_GATEWAY, "upstream", m.clone()),
            AppError::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the request body is too large".into(),
            ),
            AppError::Internal { .. } => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error; it has been logged".into(),
            ),
        }
    }
}

impl AppError {
    /// Log an internal error, once, with where it came from (never sent to the client).
    pub(crate) fn log_if_internal(&self) {
        if let AppError::Internal { detail, location } = self {
            tracing::error!(error = %detail, at = %location, "internal error");
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        self.log_if_internal();
        let (status, code, message) = self.parts();
        let fields = match self {
            AppError::Validation(f) => Some(f),
            _ => None,
        };
        let mut response = (
            status,
            Json(ErrorBody {
                error: ErrorDetail {
                    code,
                    message,
                    fields,
                },
            }),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<StoreError> for AppError {
    #[track_caller]
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => AppError::NotFound("no such resource"),
            StoreError::Conflict(m) => AppError::Conflict(conflict_message(&m)),
            other => AppError::internal(other),
        }
    }
}

/// Turn a constraint message into words an API user can act on.
fn conflict_message(db_message: &str) -> String {
    let m = db_message.to_ascii_lowercase();
    if m.contains("technicians") && m.contains("email") {
        "a technician with this email already exists".into()
    } else if m.contains("foreign key") {
        "a referenced resource does not exist".into()
    } else {
        "the resource already exists or is referenced elsewhere".into()
    }
}

pub type ApiResult<T> = Result<T, AppError>;
