//! [`GraphError`]: everything a caller needs to decide what to do next, and nothing secret.
//!
//! Every message names where it came from (the operation, the tenant for configuration
//! problems) and carries Graph's `request-id` when one exists, so an MSP admin can quote it to
//! Microsoft support. Messages never contain client secrets, tokens or passwords: they are
//! built from operation names, ids, Graph/Entra error codes and Microsoft's error text, none
//! of which echo credentials.

use std::time::Duration;

/// A failed Microsoft Graph or Entra operation.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum GraphError {
    /// 429 from Graph or Entra. Not retried inside: reschedule after `retry_after`.
    #[error("Microsoft Graph throttled {operation} (HTTP 429); retry after {}s{}", .retry_after.as_secs(), request_suffix(.request_id))]
    Throttled {
        operation: &'static str,
        retry_after: Duration,
        request_id: Option<String>,
    },

    /// 5xx, timeouts or connection failures that persisted through the in-call retries.
    #[error("Microsoft Graph did not complete {operation}: {detail}{}", request_suffix(.request_id))]
    Transient {
        operation: &'static str,
        detail: String,
        /// A server-requested wait (503 `Retry-After`) too long to honour in-call.
        retry_after: Option<Duration>,
        request_id: Option<String>,
    },

    /// Entra has not replicated a just-created account yet (404 `Request_ResourceNotFound` or
    /// a 400 reference error) and the in-call retries ran out. Retry the whole operation in a
    /// minute or two; pass `user_id` as the known id when there is one.
    #[error("Entra ID has not finished replicating the account yet ({operation}); retry in a minute or two{}", request_suffix(.request_id))]
    ReplicationLag {
        operation: &'static str,
        user_id: Option<String>,
        request_id: Option<String>,
    },

    /// The UPN belongs to an account jitgate did not create; it is never taken over.
    #[error(
        "the account {upn} already exists in the customer's Entra ID and was not created by \
         jitgate; jitgate will not take it over. Rename or delete that account in the Entra \
         admin center, or change the JIT account naming for this customer"
    )]
    ForeignAccount { upn: String, user_id: String },

    /// The UPN belongs to a jitgate account of another technician (its `employeeId` tag
    /// differs). One Entra account serves one technician: choose another UPN.
    #[error(
        "the account {upn} is the JIT account of another technician; jitgate never shares or \
         takes over another technician's account"
    )]
    AnotherTechniciansAccount { upn: String, user_id: String },

    /// Entra refused to issue a token (wrong tenant, client id or secret; no consent; …).
    /// `message` says what to check and where.
    #[error("{message}")]
    TokenRefused {
        tenant_id: String,
        /// Entra's `error` (e.g. `invalid_client`).
        error: String,
        /// The AADSTS number from `error_codes` (e.g. 7000215).
        aadsts: Option<u32>,
        message: String,
        /// Entra's `trace_id`, for Microsoft support.
        trace_id: Option<String>,
    },

    /// 403 from Graph: the app lacks a permission or directory role. `message` says which.
    #[error("{message}{}", request_suffix(.request_id))]
    PermissionDenied {
        operation: &'static str,
        tenant_id: String,
        code: String,
        message: String,
        request_id: Option<String>,
    },

    /// Graph refused the request for another reason (`code` and `message` are Graph's).
    #[error("Microsoft Graph rejected {operation}: HTTP {status} {code}: {message}{}", request_suffix(.request_id))]
    Rejected {
        operation: &'static str,
        status: u16,
        code: String,
        message: String,
        request_id: Option<String>,
    },

    /// The end-of-access steps ran but reading back the account showed they did not hold.
    #[error("ending access for user {user_id} is not verified: {problem}")]
    EndNotVerified { user_id: String, problem: String },

    /// A client certificate that cannot be used (unreadable PEM, no key, not RSA, a key that
    /// does not belong to the certificate). `problem` never quotes the key.
    #[error("the client certificate cannot be used: {problem}")]
    InvalidCertificate { problem: String },

    /// Graph answered something this crate cannot read.
    #[error("unexpected answer from Microsoft Graph to {operation}: {detail}{}", request_suffix(.request_id))]
    Protocol {
        operation: &'static str,
        detail: String,
        request_id: Option<String>,
    },
}

fn request_suffix(request_id: &Option<String>) -> String {
    match request_id {
        Some(id) => format!(" (request-id {id})"),
        None => String::new(),
    }
}

/// Suggested wait after persistent replication lag.
const REPLICATION_RETRY_AFTER: Duration = Duration::from_secs(30);

/// Suggested wait after transient failures the server gave no `Retry-After` for.
const TRANSIENT_RETRY_AFTER: Duration = Duration::from_secs(5);

impl GraphError {
    /// How long the caller should wait before trying again. `Some` exactly when
    /// [`GraphError::is_transient`]: the server's `Retry-After` for throttling and long 503
    /// waits, otherwise a suggestion (a few seconds after transient failures, half a minute
    /// after replication lag). `None` means waiting alone will not help.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            GraphError::Throttled { retry_after, .. } => Some(*retry_after),
            GraphError::Transient { retry_after, .. } => {
                Some(retry_after.unwrap_or(TRANSIENT_RETRY_AFTER))
            }
            GraphError::ReplicationLag { .. } => Some(REPLICATION_RETRY_AFTER),
            _ => None,
        }
    }

    /// Whether the same call may succeed later without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            GraphError::Throttled { .. }
                | GraphError::Transient { .. }
                | GraphError::ReplicationLag { .. }
        )
    }

    /// Whether an MSP admin must change something (connection, consent, roles, naming).
    pub fn needs_admin_action(&self) -> bool {
        matches!(
            self,
            GraphError::TokenRefused { .. }
                | GraphError::PermissionDenied { .. }
                | GraphError::ForeignAccount { .. }
                | GraphError::InvalidCertificate { .. }
        )
    }

    /// Graph's `request-id` of the failing call, when known.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            GraphError::Throttled { request_id, .. }
            | GraphError::Transient { request_id, .. }
            | GraphError::ReplicationLag { request_id, .. }
            | GraphError::PermissionDenied { request_id, .. }
            | GraphError::Rejected { request_id, .. }
            | GraphError::Protocol { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }

    /// 404: the addressed object does not exist, or has not replicated yet.
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self, GraphError::Rejected { status: 404, .. })
    }

    /// The answers Entra gives for an object that exists but has not replicated to the
    /// replica serving this call: 404 `Request_ResourceNotFound`, or 400 `Request_BadRequest`
    /// "… Not a valid reference update" / "… does not exist …" when another object refers to
    /// it (Microsoft: "Designing for eventual consistency for Microsoft Entra",
    /// https://devblogs.microsoft.com/identity/designing-for-eventual-consistency-for-microsoft-entra;
    /// observed shapes in https://github.com/microsoftgraph/msgraph-sdk-java-core/issues/353 and
    /// https://github.com/microsoftgraph/msgraph-sdk-dotnet/issues/2508). `Request_BadRequest` alone is too broad, so the message
    /// is consulted; this is the one place that reads Graph's message text.
    pub(crate) fn is_replication_symptom(&self) -> bool {
        match self {
            GraphError::Rejected { status: 404, .. } => true,
            GraphError::Rejected {
                status: 400,
                code,
                message,
                ..
            } if code == "Request_BadRequest" => {
                let message = message.to_ascii_lowercase();
                message.contains("reference") || message.contains("does not exist")
            }
            _ => false,
        }
    }

    /// 400 "A conflicting object with one or more of the specified property values is
    /// present in the directory." — what a duplicate role assignment answers.
    pub(crate) fn is_conflicting_object(&self) -> bool {
        matches!(
            self,
            GraphError::Rejected { status: 400, message, .. }
                if message.to_ascii_lowercase().contains("conflicting object")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_some_exactly_for_transient_errors() {
        let errors = [
            GraphError::Throttled {
                operation: "x",
                retry_after: Duration::from_secs(7),
                request_id: None,
            },
            GraphError::Transient {
                operation: "x",
                detail: "HTTP 503".into(),
                retry_after: None,
                request_id: None,
            },
            GraphError::ReplicationLag {
                operation: "x",
                user_id: None,
                request_id: None,
            },
            GraphError::ForeignAccount {
                upn: "a@b.example".into(),
                user_id: "1".into(),
            },
            GraphError::EndNotVerified {
                user_id: "1".into(),
                problem: "still enabled".into(),
            },
            GraphError::Rejected {
                operation: "x",
                status: 400,
                code: "Request_BadRequest".into(),
                message: "no".into(),
                request_id: Some("r".into()),
            },
        ];
        for error in errors {
            assert_eq!(
                error.retry_after().is_some(),
                error.is_transient(),
                "{error:?}"
            );
        }
    }

    #[test]
    fn replication_symptoms_are_recognised() {
        let rejected = |status, code: &str, message: &str| GraphError::Rejected {
            operation: "x",
            status,
            code: code.into(),
            message: message.into(),
            request_id: None,
        };
        assert!(
            rejected(
                404,
                "Request_ResourceNotFound",
                "Resource 'x' does not exist"
            )
            .is_replication_symptom()
        );
        assert!(
            rejected(400, "Request_BadRequest", "Not a valid reference update.")
                .is_replication_symptom()
        );
        assert!(
            !rejected(400, "Request_BadRequest", "Invalid object identifier 'x'.")
                .is_replication_symptom()
        );
        assert!(
            rejected(
                400,
                "Request_BadRequest",
                "A conflicting object with one or more of the specified property values is present in the directory."
            )
            .is_conflicting_object()
        );
    }
}
