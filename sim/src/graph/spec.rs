//! Public configuration and state views.

use super::*;

/// A simulated customer tenant and the app registration jitgate uses in it.
#[derive(Debug, Clone)]
pub struct TenantSpec {
    /// Directory (tenant) ID, a GUID. The token endpoint also accepts any of `domains`.
    pub tenant_id: String,
    /// Application (client) ID of the app with a service principal in this tenant.
    pub client_id: String,
    /// The app's current client secret value.
    pub client_secret: String,
    /// Verified domains; a new user's UPN must end in one of them.
    pub domains: Vec<String>,
    /// The directory role the app's service principal holds in this tenant.
    pub app_role: AppRole,
    /// Application permissions the customer's admin did not consent to (all others are).
    pub missing_permissions: Vec<String>,
}

impl TenantSpec {
    /// A tenant with one verified domain, set up as jitgate's README says: the app holds
    /// User Administrator (not Privileged Authentication Administrator) and every permission.
    pub fn new(tenant_id: &str, client_id: &str, client_secret: &str, domain: &str) -> Self {
        TenantSpec {
            tenant_id: tenant_id.to_string(),
            client_id: client_id.to_string(),
            client_secret: client_secret.to_string(),
            domains: vec![domain.to_string()],
            app_role: AppRole::UserAdministrator,
            missing_permissions: Vec::new(),
        }
    }
}

/// A directory role held by the app's service principal, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AppRole {
    /// Graph permissions only: may create users with a password, disable and delete users
    /// without roles, but never change a password.
    None,
    /// May set the password of users who hold no admin role.
    UserAdministrator,
    /// May also act on users who hold admin roles.
    PrivilegedAuthenticationAdministrator,
    GlobalAdministrator,
}

/// What a role assignment naming a user that has not replicated yet answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LagRoleAnswer {
    /// 400 `Request_BadRequest` "… Not a valid reference update." (the common case).
    BadReference,
    /// 404 `Request_ResourceNotFound`.
    NotFound,
}

/// One injected fault. Faults are consumed in order of injection, one per matching request.
#[derive(Debug, Clone)]
pub struct Fault {
    pub kind: FaultKind,
    /// How many matching requests still get this fault.
    pub remaining: u32,
    /// Only requests with this method (any method when `None`).
    pub method: Option<Method>,
    /// Only requests whose path starts with this. When `None`, only Graph calls (`/v1.0/…`)
    /// match, so a bare `throttle_next` never hits the token endpoint by surprise.
    pub path_prefix: Option<String>,
}

#[derive(Debug, Clone)]
pub enum FaultKind {
    /// 429 `TooManyRequests` with `Retry-After: secs`.
    Throttle { retry_after_secs: u64 },
    /// An error status (500, 502, 503, 504 …), optionally with `Retry-After`.
    Status {
        status: u16,
        retry_after_secs: Option<u64>,
    },
    /// Wait this long, then answer normally (for client timeouts).
    Stall(Duration),
}

impl Fault {
    /// The next `n` Graph requests answer 429 with `Retry-After: retry_after_secs`.
    pub fn throttle(n: u32, retry_after_secs: u64) -> Fault {
        Fault {
            kind: FaultKind::Throttle { retry_after_secs },
            remaining: n,
            method: None,
            path_prefix: None,
        }
    }

    /// The next `n` Graph requests answer `status` (e.g. 503, 504).
    pub fn status(n: u32, status: u16) -> Fault {
        Fault {
            kind: FaultKind::Status {
                status,
                retry_after_secs: None,
            },
            remaining: n,
            method: None,
            path_prefix: None,
        }
    }

    /// The next `n` Graph requests answer `status` with `Retry-After: retry_after_secs`.
    pub fn status_with_retry_after(n: u32, status: u16, retry_after_secs: u64) -> Fault {
        Fault {
            kind: FaultKind::Status {
                status,
                retry_after_secs: Some(retry_after_secs),
            },
            remaining: n,
            method: None,
            path_prefix: None,
        }
    }

    /// The next `n` Graph requests are held for `delay` before being answered normally.
    pub fn stall(n: u32, delay: Duration) -> Fault {
        Fault {
            kind: FaultKind::Stall(delay),
            remaining: n,
            method: None,
            path_prefix: None,
        }
    }

    /// Restricts the fault to `method` and paths starting with `path_prefix`
    /// (e.g. `("POST", "/v1.0/roleManagement")`, or `("POST", "/")` for the token endpoint).
    pub fn on(mut self, method: &str, path_prefix: &str) -> Fault {
        self.method = Some(Method::from_bytes(method.as_bytes()).expect("HTTP method"));
        self.path_prefix = Some(path_prefix.to_string());
        self
    }

    /// Restricts the fault to paths starting with `path_prefix`, any method.
    pub fn on_path(mut self, path_prefix: &str) -> Fault {
        self.path_prefix = Some(path_prefix.to_string());
        self
    }

    pub(super) fn matches(&self, method: &Method, path: &str) -> bool {
        let method_ok = self.method.as_ref().is_none_or(|m| m == method);
        let path_ok = match &self.path_prefix {
            Some(prefix) => path.starts_with(prefix.as_str()),
            None => path.starts_with("/v1.0/"),
        };
        method_ok && path_ok
    }
}

/// A user as the simulator holds it (a read-only copy).
#[derive(Debug, Clone, PartialEq)]
pub struct SimUser {
    pub id: String,
    pub user_principal_name: String,
    pub display_name: String,
    pub mail_nickname: String,
    pub account_enabled: bool,
    /// jitgate marks the accounts it creates here.
    pub employee_type: Option<String>,
    /// jitgate tags each account with its technician here (at most 16 characters).
    pub employee_id: Option<String>,
    /// The current password, so tests can compare it with what a technician was shown.
    pub password: Option<String>,
    /// Password changes after creation (PATCH of `passwordProfile`).
    pub password_changes: u32,
    pub password_last_set: Option<OffsetDateTime>,
    pub force_change_password_next_sign_in: bool,
    /// How many times `revokeSignInSessions` was called for this user.
    pub sessions_revoked: u32,
    pub created: OffsetDateTime,
}

/// A directory role assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimRoleAssignment {
    pub id: String,
    pub principal_id: String,
    pub role_definition_id: String,
    pub directory_scope_id: String,
}

/// A Temporary Access Pass method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimTap {
    pub id: String,
    pub user_id: String,
    pub lifetime_in_minutes: u32,
    pub is_usable_once: bool,
}

/// One request the simulator answered.
#[derive(Debug, Clone)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub status: u16,
    pub client_request_id: Option<String>,
    pub request_id: String,
}
