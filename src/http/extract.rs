//! Request extractors: JSON bodies with the app's error shape, and the admin API caller.

use super::error::AppError;
use super::state::AppState;
use crate::store::{self, audit::AuditEntry, customers::Visibility};
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;

/// `axum::Json`, but a bad body answers in the app's error shape: syntax errors 400, wrong or
/// missing fields 422 with the field named.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    axum::Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(JsonRejection::JsonDataError(e)) => Err(data_error(&e.body_text())),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(AppError::BadRequest(
                "expected Content-Type: application/json".into(),
            )),
            Err(e) => Err(AppError::BadRequest(e.body_text())),
        }
    }
}

/// serde's message looks like "Failed to deserialize the JSON body into the target type:
/// name: invalid type: …"; lift the field path out of it for the `fields` map.
fn data_error(text: &str) -> AppError {
    let detail = text
        .split_once("target type: ")
        .map(|(_, d)| d)
        .unwrap_or(text);
    if let Some(missing) = detail
        .split("missing field `")
        .nth(1)
        .and_then(|r| r.split('`').next())
    {
        return AppError::field(missing, "is required");
    }
    match detail.split_once(": ") {
        Some((path, message)) if !path.contains(' ') => AppError::field(path, message.trim()),
        _ => AppError::field("body", detail.trim()),
    }
}

/// Who is acting: an admin API token, or a technician signed in to the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Token {
        token_id: String,
    },
    Session {
        session_id: String,
        technician_id: String,
    },
}

/// Who is calling the admin API (`Authorization: Bearer jg_…`) or using the console (a
/// session), with what they may see. Console pages call the API's own handlers with it, so
/// both paths check and audit alike.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub name: String,
    pub is_admin: bool,
    /// The customers a scoped caller may see (a delegated token, a customer admin); empty for
    /// admins.
    pub customers: Vec<String>,
}

impl Caller {
    /// The id `store::customers::Visibility` scopes by: the token's or the technician's.
    fn principal_id(&self) -> &str {
        match &self.principal {
            Principal::Token { token_id } => token_id,
            Principal::Session { technician_id, .. } => technician_id,
        }
    }

    pub fn visibility(&self) -> Visibility {
        if self.is_admin {
            Visibility::All
        } else {
            Visibility::Scoped(self.principal_id().to_string())
        }
    }

    /// `token:<id>` or `technician:<id>`.
    pub fn audit_actor(&self) -> String {
        match &self.principal {
            Principal::Token { token_id } => format!("token:{token_id}"),
            Principal::Session { technician_id, .. } => format!("technician:{technician_id}"),
        }
    }

    /// An audit row of a step this caller took (with the sign-in session, if any).
    pub fn audit(&self, action: impl Into<String>, outcome: &str) -> AuditEntry {
        let entry = AuditEntry::new(self.audit_actor(), action, outcome);
        match &self.principal {
            Principal::Session { session_id, .. } => entry.session(session_id.clone()),
            Principal::Token { .. } => entry,
        }
    }

    pub fn may_see(&self, customer_id: &str) -> bool {
        self.is_admin || self.customers.iter().any(|c| c == customer_id)
    }

    /// Refuse a scoped caller: the operation spans customers (connectors, technicians).
    pub fn require_admin(&self) -> Result<(), AppError> {
        if self.is_admin {
            Ok(())
        } else {
            Err(AppError::Forbidden(
                "this operation needs an MSP admin (an admin token, or an MSP admin signed in)",
            ))
        }
    }

    /// `NotFound` unless the caller may see the customer: a scoped caller learns nothing
    /// about customers that are not its own.
    pub fn require_customer(&self, customer_id: &str) -> Result<(), AppError> {
        if self.may_see(customer_id) {
            Ok(())
        } else {
            Err(AppError::NotFound("no such customer"))
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or(AppError::Unauthorized("missing bearer token"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AppError::Unauthorized(
                "expected Authorization: Bearer <token>",
            ))?;
        // Looked up on every request, never cached: a token revoked (or expired) on one
        // instance is refused at once by every other.
        let row = store::tokens::find(&state.db, token)
            .await?
            .ok_or(AppError::Unauthorized("unknown, expired or revoked token"))?;
        store::tokens::touch(&state.db, &row).await?;
        let customers = if row.is_admin {
            Vec::new()
        } else {
            store::tokens::customers(&state.db, &row.id).await?
        };
        Ok(Caller {
            principal: Principal::Token { token_id: row.id },
            name: row.name,
            is_admin: row.is_admin,
            customers,
        })
    }
}

/// The client's address and user agent, for audit rows.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let forwarded = state
            .config
            .trust_forwarded_for
            .then(|| {
                parts
                    .headers
                    .get("x-forwarded-for")?
                    .to_str()
                    .ok()?
                    .split(',')
                    .next()
                    .map(|s| s.trim().to_string())
            })
            .flatten();
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip().to_string());
        let user_agent = parts
            .headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(300).collect());
        Ok(ClientInfo {
            ip: forwarded.or(peer),
            user_agent,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_messages_become_field_errors() {
        let AppError::Validation(f) = data_error(
            "Failed to deserialize the JSON body into the target type: missing field `name` at line 1 column 2",
        ) else {
            panic!()
        };
        assert_eq!(f.get("name").map(String::as_str), Some("is required"));
        let AppError::Validation(f) = data_error(
            "Failed to deserialize the JSON body into the target type: roles: invalid type: string \"x\", expected a sequence at line 1 column 13",
        ) else {
            panic!()
        };
        assert!(f["roles"].starts_with("invalid type"));
    }
}
