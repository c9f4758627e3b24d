//! A contract-faithful fake of Microsoft Graph v1.0 and of the Entra ID token endpoint.
//!
//! One server answers both `POST /{tenant}/oauth2/v2.0/token` (client credentials) and the
//! Graph calls jitgate makes under `/v1.0/…`, for any number of simulated customer tenants.
//! It is strict where Microsoft is strict (see `/work/shared/reference/entra.md`):
//!
//! * tokens: unknown tenant → AADSTS90002, unknown client → 700016, wrong secret → 7000215,
//!   expired secret → 7000222, wrong scope → 1002012/500011; bodies carry `error_codes`,
//!   `trace_id`, `correlation_id` exactly like Entra. Tokens are opaque and bound to a tenant.
//! * Graph: every answer carries `request-id` and echoes `client-request-id`; errors use
//!   Graph's `{"error":{"code","message","innerError":{…},"details"?}}` shape; a missing,
//!   unknown or expired bearer gets 401 `InvalidAuthenticationToken`.
//! * users: required properties, Entra's password and UPN rules, verified domains, duplicate
//!   UPN → `ObjectConflict`; reads without `$select` return only Graph's default property set
//!   (so `accountEnabled`/`employeeType` must be selected, as with the real service).
//! * the app's own directory role ([`TenantSpec::app_role`]): setting any user's
//!   `passwordProfile` needs at least User Administrator in app-only access (Graph's `user`
//!   resource, https://learn.microsoft.com/graph/api/resources/user, property
//!   `passwordProfile`); changing `accountEnabled`/`passwordProfile` of, or deleting, a user
//!   who holds a directory role is a sensitive action that needs Privileged Authentication
//!   Administrator or Global Administrator
//!   (https://learn.microsoft.com/entra/identity/role-based-access-control/privileged-roles-permissions).
//!   Either refusal is 403 `Authorization_RequestDenied` and changes nothing.
//! * application permissions ([`TenantSpec::missing_permissions`]): `revokeSignInSessions`
//!   needs User.RevokeSessions.All (https://learn.microsoft.com/graph/api/user-revokesigninsessions).
//! * replication lag: for [`GraphSim::set_replication_lag`] after a create, the new user is
//!   invisible to reads and per-user writes (404 `Request_ResourceNotFound`), and role
//!   assignments naming it fail with 400 "Not a valid reference update" (or 404, see
//!   [`LagRoleAnswer`]). Writes that check uniqueness (create) still see it, as in Entra.
//! * faults: [`GraphSim::throttle_next`], [`GraphSim::fail_next`], [`GraphSim::inject`] and
//!   [`GraphSim::set_latency`].
//!
//! ```no_run
//! # async fn demo() {
//! use jitgate_sim::graph::{GraphSim, TenantSpec};
//! let sim = GraphSim::start(None).await;
//! sim.add_tenant(TenantSpec::new(
//!     "0b6b2c5e-1d6a-4a4e-9c1f-3f2f9a1c0d11", "app-client-id", "s3cret", "contoso.example"));
//! // point the client at sim.login_url() / sim.graph_url(), then inspect:
//! let users = sim.users("0b6b2c5e-1d6a-4a4e-9c1f-3f2f9a1c0d11");
//! # }
//! ```

// Handlers short-circuit with finished `Response`s as their error values; boxing them would
// only add noise to a test fake.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::tls::{SimServer, TestCa, spawn};

// ---------------------------------------------------------------------------------------------
// Public configuration and state views
// ---------------------------------------------------------------------------------------------

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

    fn matches(&self, method: &Method, path: &str) -> bool {
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

// ---------------------------------------------------------------------------------------------
// The simulator handle
// ---------------------------------------------------------------------------------------------

/// A running Graph + Entra login simulator. Dropping it stops the server.
pub struct GraphSim {
    server: SimServer,
    state: Shared,
}

impl std::fmt::Debug for GraphSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphSim")
            .field("url", &self.server.url.as_str())
            .finish_non_exhaustive()
    }
}

impl GraphSim {
    /// Starts the simulator on `127.0.0.1:0`, over TLS when `tls` is given.
    pub async fn start(tls: Option<&TestCa>) -> GraphSim {
        let state = Shared(Arc::new(Mutex::new(SimState::default())));
        let server = spawn(router(state.clone()), tls).await;
        state.lock().graph_origin = server.url.as_str().trim_end_matches('/').to_string();
        GraphSim { server, state }
    }

    /// Base URL of the login endpoint (the client appends `{tenant}/oauth2/v2.0/token`).
    pub fn login_url(&self) -> url::Url {
        self.server.url.clone()
    }

    /// Base URL of Graph (the client appends `v1.0/…`). The token scope it expects is this
    /// origin followed by `/.default`.
    pub fn graph_url(&self) -> url::Url {
        self.server.url.clone()
    }

    /// The bound address.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.server.addr
    }

    /// Stops the server (also happens on drop).
    pub fn shutdown(&self) {
        self.server.shutdown();
    }

    /// Registers a tenant (replacing one with the same id, state included).
    pub fn add_tenant(&self, spec: TenantSpec) {
        let key = spec.tenant_id.to_ascii_lowercase();
        self.state
            .lock()
            .tenants
            .insert(key, TenantState::new(spec));
    }

    /// Delay after a create during which the new user has not replicated (default zero).
    pub fn set_replication_lag(&self, lag: Duration) {
        self.state.lock().replication_lag = lag;
    }

    /// How role assignments naming a not-yet-replicated user fail (default `BadReference`).
    pub fn set_lag_role_answer(&self, answer: LagRoleAnswer) {
        self.state.lock().lag_role_answer = answer;
    }

    /// `expires_in` of issued tokens (default 3599 s); tokens stop working after it.
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.state.lock().token_lifetime = lifetime;
    }

    /// Artificial latency added to every request (default zero).
    pub fn set_latency(&self, latency: Duration) {
        self.state.lock().latency = latency;
    }

    /// The next `n` Graph requests answer 429 `TooManyRequests` with `Retry-After`.
    pub fn throttle_next(&self, n: u32, retry_after_secs: u64) {
        self.inject(Fault::throttle(n, retry_after_secs));
    }

    /// The next `n` Graph requests answer `status` (500, 502, 503, 504 …).
    pub fn fail_next(&self, n: u32, status: u16) {
        self.inject(Fault::status(n, status));
    }

    /// Adds a fault (see [`Fault`] for matching rules).
    pub fn inject(&self, fault: Fault) {
        self.state.lock().faults.push(fault);
    }

    /// Removes all pending faults.
    pub fn clear_faults(&self) {
        self.state.lock().faults.clear();
    }

    /// Marks the tenant's client secret as expired (AADSTS7000222) or valid again.
    pub fn set_client_secret_expired(&self, tenant: &str, expired: bool) {
        self.with_tenant(tenant, |t| t.secret_expired = expired);
    }

    /// Replaces the tenant's client secret (the old one then fails with AADSTS7000215).
    pub fn set_client_secret(&self, tenant: &str, secret: &str) {
        self.with_tenant(tenant, |t| t.spec.client_secret = secret.to_string());
    }

    /// Makes every token request for the tenant fail with this AADSTS code (`None` restores
    /// normal behaviour). Known codes get Entra's `error` and status: 65001, 650056, 53003,
    /// 7000112, 90099, 500011, 50033, 90024; any other gets 400 `invalid_request`.
    pub fn fail_tokens_with(&self, tenant: &str, aadsts: Option<u32>) {
        self.with_tenant(tenant, |t| t.forced_token_error = aadsts);
    }

    /// Sets the directory role the tenant's app holds.
    pub fn set_app_role(&self, tenant: &str, role: AppRole) {
        self.with_tenant(tenant, |t| t.spec.app_role = role);
    }

    /// Withdraws (or restores) consent to one application permission in the tenant.
    pub fn set_permission(&self, tenant: &str, permission: &str, granted: bool) {
        self.with_tenant(tenant, |t| {
            t.spec.missing_permissions.retain(|p| p != permission);
            if !granted {
                t.spec.missing_permissions.push(permission.to_string());
            }
        });
    }

    /// Sabotage for verification tests: PATCH `accountEnabled:false` answers 204 but the
    /// account stays enabled.
    pub fn keep_accounts_enabled(&self, tenant: &str, keep: bool) {
        self.with_tenant(tenant, |t| t.keep_accounts_enabled = keep);
    }

    /// Invalidates every issued token (the next Graph call with one gets 401).
    pub fn revoke_all_tokens(&self) {
        self.state.lock().tokens.clear();
    }

    /// Seeds a pre-existing, unmarked, enabled user (visible at once); returns its id.
    pub fn add_user(&self, tenant: &str, upn: &str, display_name: &str) -> String {
        let id = new_guid();
        let nickname = upn.split('@').next().unwrap_or(upn).to_string();
        let user = SimUser {
            id: id.clone(),
            user_principal_name: upn.to_string(),
            display_name: display_name.to_string(),
            mail_nickname: nickname,
            account_enabled: true,
            employee_type: None,
            employee_id: None,
            password: None,
            password_changes: 0,
            password_last_set: None,
            force_change_password_next_sign_in: false,
            sessions_revoked: 0,
            created: OffsetDateTime::now_utc(),
        };
        self.seed_user(tenant, user);
        id
    }

    /// Seeds any user (visible at once). Its `id` should be a fresh GUID.
    pub fn seed_user(&self, tenant: &str, user: SimUser) {
        self.with_tenant(tenant, |t| {
            t.users.push(UserRecord {
                user,
                visible_at: Instant::now(),
            })
        });
    }

    /// Adds a Temporary Access Pass to a user; returns the TAP method id.
    pub fn add_tap(&self, tenant: &str, user_id: &str) -> String {
        let id = new_guid();
        let tap = SimTap {
            id: id.clone(),
            user_id: user_id.to_string(),
            lifetime_in_minutes: 60,
            is_usable_once: false,
        };
        self.with_tenant(tenant, |t| {
            // A user has at most one TAP; a new one replaces the old (entra.md A4).
            t.taps.retain(|existing| existing.user_id != user_id);
            t.taps.push(tap);
        });
        id
    }

    /// Seeds a role assignment (e.g. a leftover one); returns its id.
    pub fn add_role_assignment(&self, tenant: &str, user_id: &str, role_template: &str) -> String {
        let id = new_assignment_id();
        let assignment = SimRoleAssignment {
            id: id.clone(),
            principal_id: user_id.to_string(),
            role_definition_id: role_template.to_string(),
            directory_scope_id: "/".to_string(),
        };
        self.with_tenant(tenant, |t| t.role_assignments.push(assignment));
        id
    }

    /// Users of the tenant (replicated or not), in creation order.
    pub fn users(&self, tenant: &str) -> Vec<SimUser> {
        self.read_tenant(tenant, |t| t.users.iter().map(|r| r.user.clone()).collect())
    }

    /// One user by id.
    pub fn user(&self, tenant: &str, id: &str) -> Option<SimUser> {
        self.users(tenant).into_iter().find(|u| u.id == id)
    }

    /// One user by UPN (case-insensitive).
    pub fn user_by_upn(&self, tenant: &str, upn: &str) -> Option<SimUser> {
        self.users(tenant)
            .into_iter()
            .find(|u| u.user_principal_name.eq_ignore_ascii_case(upn))
    }

    /// Users deleted through the API (soft-deleted in Entra terms).
    pub fn deleted_users(&self, tenant: &str) -> Vec<SimUser> {
        self.read_tenant(tenant, |t| t.deleted_users.clone())
    }

    /// All role assignments of the tenant.
    pub fn role_assignments(&self, tenant: &str) -> Vec<SimRoleAssignment> {
        self.read_tenant(tenant, |t| t.role_assignments.clone())
    }

    /// Role assignments of one principal.
    pub fn role_assignments_of(&self, tenant: &str, user_id: &str) -> Vec<SimRoleAssignment> {
        self.role_assignments(tenant)
            .into_iter()
            .filter(|a| a.principal_id == user_id)
            .collect()
    }

    /// All Temporary Access Passes of the tenant.
    pub fn taps(&self, tenant: &str) -> Vec<SimTap> {
        self.read_tenant(tenant, |t| t.taps.clone())
    }

    /// Token requests for this tenant that reached the token endpoint, successful or not
    /// (requests answered by an injected fault are only in the request log).
    pub fn token_requests(&self, tenant: &str) -> usize {
        self.read_tenant(tenant, |t| t.token_requests)
    }

    /// Token requests received for any tenant, known or not.
    pub fn total_token_requests(&self) -> usize {
        self.state.lock().total_token_requests
    }

    /// Every request answered so far, oldest first.
    pub fn request_log(&self) -> Vec<LoggedRequest> {
        self.state.lock().log.clone()
    }

    /// Forgets the request log.
    pub fn clear_request_log(&self) {
        self.state.lock().log.clear();
    }

    fn with_tenant(&self, tenant: &str, f: impl FnOnce(&mut TenantState)) {
        let mut st = self.state.lock();
        let t = st
            .tenants
            .get_mut(&tenant.to_ascii_lowercase())
            .unwrap_or_else(|| panic!("GraphSim: unknown tenant {tenant}; add_tenant first"));
        f(t)
    }

    fn read_tenant<T>(&self, tenant: &str, f: impl FnOnce(&TenantState) -> T) -> T {
        let st = self.state.lock();
        let t = st
            .tenants
            .get(&tenant.to_ascii_lowercase())
            .unwrap_or_else(|| panic!("GraphSim: unknown tenant {tenant}; add_tenant first"));
        f(t)
    }
}

// ---------------------------------------------------------------------------------------------
// Internal state
// ---------------------------------------------------------------------------------------------

#[derive(Clone)]
struct Shared(Arc<Mutex<SimState>>);

impl Shared {
    /// The lock is never held across an await, so a poisoned lock only follows a panic in a
    /// handler; the state is still usable for the remaining assertions.
    fn lock(&self) -> MutexGuard<'_, SimState> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

struct SimState {
    tenants: HashMap<String, TenantState>,
    tokens: HashMap<String, IssuedToken>,
    token_lifetime: Duration,
    replication_lag: Duration,
    lag_role_answer: LagRoleAnswer,
    latency: Duration,
    faults: Vec<Fault>,
    log: Vec<LoggedRequest>,
    total_token_requests: usize,
    /// `scheme://host:port` of this server; the only resource the token endpoint knows.
    graph_origin: String,
}

impl Default for SimState {
    fn default() -> Self {
        SimState {
            tenants: HashMap::new(),
            tokens: HashMap::new(),
            token_lifetime: Duration::from_secs(3599),
            replication_lag: Duration::ZERO,
            lag_role_answer: LagRoleAnswer::BadReference,
            latency: Duration::ZERO,
            faults: Vec::new(),
            log: Vec::new(),
            total_token_requests: 0,
            graph_origin: String::new(),
        }
    }
}

impl SimState {
    /// The login endpoint accepts the tenant GUID or any verified domain.
    fn resolve_tenant(&self, tenant: &str) -> Option<String> {
        let wanted = tenant.to_ascii_lowercase();
        if self.tenants.contains_key(&wanted) {
            return Some(wanted);
        }
        self.tenants
            .iter()
            .find(|(_, t)| {
                t.spec
                    .domains
                    .iter()
                    .any(|d| d.eq_ignore_ascii_case(tenant))
            })
            .map(|(k, _)| k.clone())
    }

    /// Takes one matching fault, if any.
    fn take_fault(&mut self, method: &Method, path: &str) -> Option<FaultKind> {
        let fault = self
            .faults
            .iter_mut()
            .find(|f| f.remaining > 0 && f.matches(method, path))?;
        fault.remaining -= 1;
        let kind = fault.kind.clone();
        self.faults.retain(|f| f.remaining > 0);
        Some(kind)
    }
}

struct IssuedToken {
    tenant_key: String,
    expires_at: Instant,
}

struct TenantState {
    spec: TenantSpec,
    secret_expired: bool,
    forced_token_error: Option<u32>,
    keep_accounts_enabled: bool,
    users: Vec<UserRecord>,
    deleted_users: Vec<SimUser>,
    role_assignments: Vec<SimRoleAssignment>,
    taps: Vec<SimTap>,
    token_requests: usize,
}

impl TenantState {
    fn new(spec: TenantSpec) -> Self {
        TenantState {
            spec,
            secret_expired: false,
            forced_token_error: None,
            keep_accounts_enabled: false,
            users: Vec::new(),
            deleted_users: Vec::new(),
            role_assignments: Vec::new(),
            taps: Vec::new(),
            token_requests: 0,
        }
    }

    /// A replicated user addressed by id or UPN, as Graph's `/users/{id | userPrincipalName}`.
    fn visible_user(&self, key: &str, now: Instant) -> Option<usize> {
        self.users.iter().position(|r| {
            r.visible_at <= now
                && (r.user.id.eq_ignore_ascii_case(key)
                    || r.user.user_principal_name.eq_ignore_ascii_case(key))
        })
    }

    /// Sensitive actions on admins need Privileged Authentication Administrator or above.
    fn app_may_act_on_admins(&self) -> bool {
        self.spec.app_role >= AppRole::PrivilegedAuthenticationAdministrator
    }

    fn has_permission(&self, permission: &str) -> bool {
        !self
            .spec
            .missing_permissions
            .iter()
            .any(|p| p == permission)
    }

    fn holds_any_role(&self, user_id: &str) -> bool {
        self.role_assignments
            .iter()
            .any(|a| a.principal_id == user_id)
    }
}

struct UserRecord {
    user: SimUser,
    visible_at: Instant,
}

// ---------------------------------------------------------------------------------------------
// Router, per-request bookkeeping (ids, latency, faults, log)
// ---------------------------------------------------------------------------------------------

/// Correlation ids of the request being answered; every error body repeats them.
#[derive(Clone)]
struct RequestIds {
    request_id: String,
    client_request_id: String,
}

fn router(state: Shared) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/v1.0/users", post(create_user).get(list_users))
        .route(
            "/v1.0/users/{id}",
            get(get_user).patch(update_user).delete(delete_user),
        )
        .route(
            "/v1.0/users/{id}/revokeSignInSessions",
            post(revoke_sessions),
        )
        .route(
            "/v1.0/users/{id}/authentication/temporaryAccessPassMethods",
            get(list_taps),
        )
        .route(
            "/v1.0/users/{id}/authentication/temporaryAccessPassMethods/{tap}",
            get(get_tap).delete(delete_tap),
        )
        .route(
            "/v1.0/roleManagement/directory/roleAssignments",
            get(list_assignments).post(create_assignment),
        )
        .route(
            "/v1.0/roleManagement/directory/roleAssignments/{id}",
            get(get_assignment).delete(delete_assignment),
        )
        .fallback(unknown_segment)
        .layer(middleware::from_fn_with_state(state.clone(), bookkeeping))
        .with_state(state)
}

/// Runs around every request: assigns `request-id`, applies latency and faults, echoes
/// `client-request-id` and records the request log.
async fn bookkeeping(State(app): State<Shared>, mut req: Request, next: Next) -> Response {
    let request_id = new_guid();
    let client_request_id_header = req
        .headers()
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let ids = RequestIds {
        request_id: request_id.clone(),
        // Graph generates one when the caller sent none.
        client_request_id: client_request_id_header
            .clone()
            .unwrap_or_else(|| request_id.clone()),
    };
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);

    let (latency, fault) = {
        let mut st = app.lock();
        (st.latency, st.take_fault(&method, &path))
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }

    let mut response = match fault {
        Some(FaultKind::Throttle { retry_after_secs }) => {
            fault_response(&path, 429, Some(retry_after_secs), &ids)
        }
        Some(FaultKind::Status {
            status,
            retry_after_secs,
        }) => fault_response(&path, status, retry_after_secs, &ids),
        Some(FaultKind::Stall(delay)) => {
            tokio::time::sleep(delay).await;
            req.extensions_mut().insert(ids.clone());
            next.run(req).await
        }
        None => {
            req.extensions_mut().insert(ids.clone());
            next.run(req).await
        }
    };

    let headers = response.headers_mut();
    headers.insert("request-id", header_value(&ids.request_id));
    headers.insert("client-request-id", header_value(&ids.client_request_id));
    if path.starts_with("/v1.0/") {
        headers.insert(
            "x-ms-ags-diagnostic",
            HeaderValue::from_static(r#"{"ServerInfo":{"DataCenter":"Sim","Slice":"E"}}"#),
        );
    }
    app.lock().log.push(LoggedRequest {
        method: method.to_string(),
        path,
        query,
        status: response.status().as_u16(),
        client_request_id: client_request_id_header,
        request_id,
    });
    response
}

fn fault_response(path: &str, status: u16, retry_after: Option<u64>, ids: &RequestIds) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let mut response = if path.starts_with("/v1.0/") {
        let (code, message) = match status.as_u16() {
            429 => (
                "TooManyRequests",
                "Too many requests from Identifier:sim under category:throttled.Please try again later.",
            ),
            504 => ("GatewayTimeout", "The gateway did not receive a response."),
            _ => ("UnknownError", "Service unavailable."),
        };
        graph_error(status, code, message, ids)
    } else {
        aad_error(
            status,
            "temporarily_unavailable",
            90024,
            "Request budget exceeded. Try again.".into(),
            ids,
        )
    };
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header_value(&secs.to_string()));
    }
    response
}

async fn unknown_segment(Extension(ids): Extension<RequestIds>, req: Request) -> Response {
    let segment = req
        .uri()
        .path()
        .rsplit('/')
        .next()
        .unwrap_or("")
        .to_string();
    graph_error(
        StatusCode::BAD_REQUEST,
        "BadRequest",
        &format!("Resource not found for the segment '{segment}'."),
        &ids,
    )
}

// ---------------------------------------------------------------------------------------------
// Entra token endpoint
// ---------------------------------------------------------------------------------------------

async fn token(
    State(app): State<Shared>,
    Extension(ids): Extension<RequestIds>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let mut st = app.lock();
    st.total_token_requests += 1;
    let graph_origin = st.graph_origin.clone();
    let lifetime = st.token_lifetime;

    let Some(key) = st.resolve_tenant(&tenant) else {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID \
                 and are signing into the correct cloud. Check with your subscription \
                 administrator, this may happen if there are no active subscriptions for the tenant."
            ),
            &ids,
        );
    };
    let t = st.tenants.get_mut(&key).expect("resolved tenant exists");
    t.token_requests += 1;
    let client_id = form.get("client_id").cloned().unwrap_or_default();

    if let Some(code) = t.forced_token_error {
        return forced_aad_error(code, &client_id, &tenant, &ids);
    }
    match form.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {}
        Some(other) => {
            return aad_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                70003,
                format!("The app requested an unsupported grant type '{other}'."),
                &ids,
            );
        }
        None => return missing_parameter("grant_type", &ids),
    }
    if client_id.is_empty() {
        return missing_parameter("client_id", &ids);
    }
    if !client_id.eq_ignore_ascii_case(&t.spec.client_id) {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory \
                 '{tenant}'. This can happen if the application has not been installed by the \
                 administrator of the tenant or consented to by any user in the tenant. You may \
                 have sent your authentication request to the wrong tenant."
            ),
            &ids,
        );
    }
    let Some(secret) = form
        .get("client_secret")
        .cloned()
        .or_else(|| basic_auth_secret(&headers))
    else {
        return aad_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or \
             'client_secret'."
                .into(),
            &ids,
        );
    };
    if secret != t.spec.client_secret {
        return aad_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is \
                 the client secret value, not the client secret ID, for a secret added to app \
                 '{client_id}'."
            ),
            &ids,
        );
    }
    if t.secret_expired {
        return aad_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000222,
            format!(
                "The provided client secret keys for app '{client_id}' are expired. Visit the \
                 Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, \
                 or consider using certificate credentials for added security: \
                 https://aka.ms/certCreds."
            ),
            &ids,
        );
    }
    let Some(scope) = form.get("scope") else {
        return missing_parameter("scope", &ids);
    };
    let Some(resource) = scope.strip_suffix("/.default") else {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            1002012,
            format!(
                "The provided value for scope {scope} is not valid. Client credential flows \
                 must have a scope value with /.default suffixed to the resource identifier \
                 (application ID URI)."
            ),
            &ids,
        );
    };
    if resource != graph_origin {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_resource",
            500011,
            format!(
                "The resource principal named {resource} was not found in the tenant named \
                 {tenant}. This can happen if the application has not been installed by the \
                 administrator of the tenant or consented to by any user in the tenant. You \
                 might have sent your authentication request to the wrong tenant."
            ),
            &ids,
        );
    }

    let access_token = format!("simtok.{}", random_token());
    st.tokens.insert(
        access_token.clone(),
        IssuedToken {
            tenant_key: key,
            expires_at: Instant::now() + lifetime,
        },
    );
    let secs = lifetime.as_secs();
    json_response(
        StatusCode::OK,
        json!({
            "token_type": "Bearer",
            "expires_in": secs,
            "ext_expires_in": secs,
            "access_token": access_token,
        }),
    )
}

fn basic_auth_secret(headers: &HeaderMap) -> Option<String> {
    use base64::Engine as _;
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (_, secret) = text.split_once(':')?;
    Some(
        url::form_urlencoded::parse(secret.as_bytes())
            .map(|(k, _)| k.into_owned())
            .collect(),
    )
}

fn missing_parameter(name: &str, ids: &RequestIds) -> Response {
    aad_error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        900144,
        format!("The request body must contain the following parameter: '{name}'."),
        ids,
    )
}

/// Entra's answers for the codes tests can force with [`GraphSim::fail_tokens_with`].
fn forced_aad_error(code: u32, client_id: &str, tenant: &str, ids: &RequestIds) -> Response {
    let (status, error, text) = match code {
        65001 => (
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            format!(
                "The user or administrator has not consented to use the application with ID \
                 '{client_id}'. Send an interactive authorization request for this user and resource."
            ),
        ),
        650056 => (
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "Misconfigured application. This could be due to one of the following: the client \
             has not listed any permissions for 'Microsoft Graph' in the requested permissions \
             in the client's application registration. Or, the admin has not consented in the \
             tenant."
                .to_string(),
        ),
        53003 => (
            StatusCode::BAD_REQUEST,
            "access_denied",
            "Access has been blocked by Conditional Access policies. The access policy does not \
             allow token issuance."
                .to_string(),
        ),
        7000112 => (
            StatusCode::UNAUTHORIZED,
            "unauthorized_client",
            format!("Application '{client_id}' is disabled."),
        ),
        90099 => (
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!(
                "The application '{client_id}' has not been authorized in the tenant '{tenant}'. \
                 Applications must be authorized to access the customer tenant before partner \
                 delegated administrators can use them."
            ),
        ),
        500011 => (
            StatusCode::BAD_REQUEST,
            "invalid_resource",
            format!(
                "The resource principal named https://graph.microsoft.com was not found in the tenant named {tenant}."
            ),
        ),
        50033 => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "temporarily_unavailable",
            "There was an error in the request; please retry.".to_string(),
        ),
        90024 => (
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "Request budget exceeded. Try again.".to_string(),
        ),
        other => (
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("Simulated Entra error {other}."),
        ),
    };
    aad_error(status, error, code, text, ids)
}

/// An error exactly as the Entra token endpoint sends it.
fn aad_error(
    status: StatusCode,
    error: &str,
    code: u32,
    text: String,
    ids: &RequestIds,
) -> Response {
    let now = OffsetDateTime::now_utc();
    let timestamp = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let trace_id = new_guid();
    let correlation_id = ids.client_request_id.clone();
    let description = format!(
        "AADSTS{code}: {text}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}"
    );
    json_response(
        status,
        json!({
            "error": error,
            "error_description": description,
            "error_codes": [code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
        }),
    )
}

// ---------------------------------------------------------------------------------------------
// Graph: authentication, error shape, helpers
// ---------------------------------------------------------------------------------------------

/// Resolves the bearer token to its tenant, or answers 401 like Graph.
fn authenticate(st: &SimState, headers: &HeaderMap, ids: &RequestIds) -> Result<String, Response> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("");
    let unauthorized = |message: &str| {
        let mut response = graph_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            message,
            ids,
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(
                r#"Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000""#,
            ),
        );
        Err(response)
    };
    if bearer.is_empty() {
        return unauthorized("Access token is empty.");
    }
    let Some(token) = st.tokens.get(bearer) else {
        return unauthorized("Access token validation failure. Invalid audience.");
    };
    if token.expires_at <= Instant::now() {
        return unauthorized("Lifetime validation failed, the token is expired.");
    }
    if !st.tenants.contains_key(&token.tenant_key) {
        return unauthorized("Access token validation failure. Invalid audience.");
    }
    Ok(token.tenant_key.clone())
}

/// Graph's error body: `{"error":{"code","message","innerError":{date,request-id,client-request-id}}}`.
fn graph_error(status: StatusCode, code: &str, message: &str, ids: &RequestIds) -> Response {
    graph_error_with_details(status, code, message, ids, None)
}

fn graph_error_with_details(
    status: StatusCode,
    code: &str,
    message: &str,
    ids: &RequestIds,
    details: Option<Value>,
) -> Response {
    let now = OffsetDateTime::now_utc();
    let date = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let mut error = json!({
        "code": code,
        "message": message,
        "innerError": {
            "date": date,
            "request-id": ids.request_id,
            "client-request-id": ids.client_request_id,
        }
    });
    if let Some(details) = details {
        error["details"] = details;
    }
    json_response(status, json!({ "error": error }))
}

fn not_found(id: &str, ids: &RequestIds) -> Response {
    graph_error(
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
        &format!(
            "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
        ),
        ids,
    )
}

fn bad_request(message: &str, ids: &RequestIds) -> Response {
    graph_error(StatusCode::BAD_REQUEST, "Request_BadRequest", message, ids)
}

fn insufficient_privileges(ids: &RequestIds) -> Response {
    graph_error(
        StatusCode::FORBIDDEN,
        "Authorization_RequestDenied",
        "Insufficient privileges to complete the operation.",
        ids,
    )
}

fn json_response(status: StatusCode, body: Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(
            "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8",
        ),
    );
    response
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// Parses a JSON object body or answers like Graph does for unreadable payloads.
fn json_object(body: &Bytes, ids: &RequestIds) -> Result<Map<String, Value>, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(graph_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
            ids,
        )),
    }
}

fn query_params(raw: Option<&str>) -> HashMap<String, String> {
    raw.map(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .collect()
    })
    .unwrap_or_default()
}

/// Parses the one `$filter` form jitgate uses: `<property> eq '<literal>'` (OData string
/// literal, `''` escapes a quote). Anything else is unsupported here, as many filters are in
/// Graph's directory APIs.
fn parse_eq_filter(filter: &str) -> Option<(String, String)> {
    let filter = filter.trim();
    let (property, rest) = filter.split_once(char::is_whitespace)?;
    let rest = rest.trim_start();
    let rest = rest.strip_prefix("eq")?.trim_start();
    let literal = rest.strip_prefix('\'')?.strip_suffix('\'')?;
    // Every quote inside must be doubled.
    let mut value = String::new();
    let mut chars = literal.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' && chars.next() != Some('\'') {
            return None;
        }
        value.push(c);
    }
    Some((property.to_string(), value))
}

fn unsupported_query(ids: &RequestIds) -> Response {
    graph_error(
        StatusCode::BAD_REQUEST,
        "Request_UnsupportedQuery",
        "Unsupported Query.",
        ids,
    )
}

// ---------------------------------------------------------------------------------------------
// Graph: users
// ---------------------------------------------------------------------------------------------

/// What Graph returns for a user when the caller did not `$select`.
const DEFAULT_USER_PROPERTIES: &[&str] = &[
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
];

const SELECTABLE_USER_PROPERTIES: &[&str] = &[
    "id",
    "userPrincipalName",
    "displayName",
    "mailNickname",
    "accountEnabled",
    "employeeType",
    "employeeId",
    "givenName",
    "surname",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "businessPhones",
    "createdDateTime",
    "lastPasswordChangeDateTime",
    "passwordProfile",
];

fn user_property(user: &SimUser, name: &str) -> Value {
    match name {
        "id" => json!(user.id),
        "userPrincipalName" => json!(user.user_principal_name),
        "displayName" => json!(user.display_name),
        "mailNickname" => json!(user.mail_nickname),
        "accountEnabled" => json!(user.account_enabled),
        "employeeType" => json!(user.employee_type),
        "employeeId" => json!(user.employee_id),
        "businessPhones" => json!([]),
        "createdDateTime" => json!(rfc3339(user.created)),
        "lastPasswordChangeDateTime" => json!(user.password_last_set.map(rfc3339)),
        // Graph never returns passwords; passwordProfile reads back as null.
        _ => Value::Null,
    }
}

/// Renders a user with `$select` semantics, or reports the first unknown property.
fn render_user(user: &SimUser, select: Option<&String>) -> Result<Value, String> {
    let names: Vec<&str> = match select {
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect(),
        None => DEFAULT_USER_PROPERTIES.to_vec(),
    };
    let mut object = Map::new();
    for name in names {
        if !SELECTABLE_USER_PROPERTIES.contains(&name) {
            return Err(name.to_string());
        }
        object.insert(name.to_string(), user_property(user, name));
    }
    Ok(Value::Object(object))
}

fn unknown_property(name: &str, ids: &RequestIds) -> Response {
    graph_error(
        StatusCode::BAD_REQUEST,
        "BadRequest",
        &format!("Could not find a property named '{name}' on type 'microsoft.graph.user'."),
        ids,
    )
}

async fn create_user(
    State(app): State<Shared>,
    Extension(ids): Extension<RequestIds>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut st = app.lock();
    let tenant_key = match authenticate(&st, &headers, &ids) {
        Ok(key) => key,
        Err(response) => return response,
    };
    let body = match json_object(&body, &ids) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let lag = st.replication_lag;
    let t = st
        .tenants
        .get_mut(&tenant_key)
        .expect("authenticated tenant");

    const ALLOWED: &[&str] = &[
        "accountEnabled",
        "displayName",
        "mailNickname",
        "userPrincipalName",
        "passwordProfile",
        "employeeType",
        "employeeId",
        "givenName",
        "surname",
        "jobTitle",
        "usageLocation",
        "department",
        "passwordPolicies",
    ];
    if let Some(unknown) = body
        .keys()
        .find(|k| !ALLOWED.contains(&k.as_str()) && !k.starts_with('@'))
    {
        return bad_request(
            &format!(
                "Property '{unknown}' does not exist as a declared property or extension property."
            ),
            &ids,
        );
    }
    let account_enabled = match body.get("accountEnabled") {
        Some(Value::Bool(b)) => *b,
        _ => return missing_property("accountEnabled", &ids),
    };
    let Some(display_name) = non_empty_string(&body, "displayName") else {
        return missing_property("displayName", &ids);
    };
    let Some(mail_nickname) = non_empty_string(&body, "mailNickname") else {
        return missing_property("mailNickname", &ids);
    };
    let Some(upn) = non_empty_string(&body, "userPrincipalName") else {
        return missing_property("userPrincipalName", &ids);
    };
    let profile = body.get("passwordProfile").and_then(Value::as_object);
    let Some(password) = profile
        .and_then(|p| p.get("password"))
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return missing_property("passwordProfile", &ids);
    };
    let force_change = profile
        .and_then(|p| p.get("forceChangePasswordNextSignIn"))
        .and_then(Value::as_bool)
        .unwrap_or(true);

    if let Err(response) = check_upn(&upn, &t.spec.domains, &ids) {
        return response;
    }
    if !valid_mail_nickname(&mail_nickname) {
        return graph_error_with_details(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "Invalid value specified for property 'mailNickname' of resource 'User'.",
            &ids,
            Some(json!([{ "target": "mailNickname", "code": "InvalidValue" }])),
        );
    }
    if !password_meets_entra_rules(&password) {
        return password_rejected(&ids);
    }
    let employee_id = match body.get("employeeId") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) if id.chars().count() <= 16 => Some(id.clone()),
        Some(_) => {
            return bad_request(
                "Invalid value specified for property 'employeeId' of resource 'User'.",
                &ids,
            );
        }
    };
    // Uniqueness is checked against every user, replicated or not: the write goes to the
    // directory's primary, which already knows the object.
    if t.users
        .iter()
        .any(|r| r.user.user_principal_name.eq_ignore_ascii_case(&upn))
    {
        return graph_error_with_details(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "Another object with the same value for property userPrincipalName already exists.",
            &ids,
            Some(json!([{ "target": "userPrincipalName", "code": "ObjectConflict" }])),
        );
    }

    let now = OffsetDateTime::now_utc();
    let user = SimUser {
        id: new_guid(),
        user_principal_name: upn,
        display_name,
        mail_nickname,
        account_enabled,
        employee_type: body
            .get("employeeType")
            .and_then(Value::as_str)
            .map(str::to_string),
        employee_id,
        password: Some(password),
        password_changes: 0,
        password_last_set: Some(now),
        force_change_password_next_sign_in: force_change,
        sessions_revoked: 0,
        created: now,
    };
    let mut rendered = render_user(&user, None).expect("default properties are selectable");
    rendered["@odata.context"] = json!("https://graph.microsoft.com/v1.0/$metadata#users/$entity");
    t.users.push(UserRecord {
        user,
        visible_at: Instant::now() + lag,
    });
    json_response(StatusCode::CREATED, rendered)
}

fn non_empty_string(body: &Map<String, Value>, name: &str) -> Option<String> {
    body.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .map(str::to_string)
}

fn missing_property(name: &str, ids: &RequestIds) -> Response {
    graph_error_with_details(
        StatusCode::BAD_REQUEST,
        "Request_BadRequest",
        &format!("Invalid value specified for property '{name}' of resource 'User'."),
        ids,
        Some(json!([{ "target": name, "code": "InvalidValue" }])),
    )
}

fn password_rejected(ids: &RequestIds) -> Response {
    graph_error_with_details(
        StatusCode::BAD_REQUEST,
        "Request_BadRequest",
        "The specified password does not comply with password complexity requirements. Please provide a different password.",
        ids,
        Some(json!([{ "target": "passwordProfile.password", "code": "InvalidValue" }])),
    )
}

/// Entra's cloud password rules (concept-sspr-policy.md): 8–256 characters, at least three of
/// lowercase / uppercase / digit / symbol, only the listed characters, no Unicode.
pub fn password_meets_entra_rules(password: &str) -> bool {
    const SYMBOLS: &str = "@#$%^&*-_!+=[]{}|\\:',.?/`~\"();<> ";
    let length = password.chars().count();
    if !(8..=256).contains(&length) {
        return false;
    }
    if !password
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || SYMBOLS.contains(c))
    {
        return false;
    }
    let classes = [
        password.chars().any(|c| c.is_ascii_lowercase()),
        password.chars().any(|c| c.is_ascii_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| SYMBOLS.contains(c)),
    ];
    classes.iter().filter(|present| **present).count() >= 3
}

/// UPN rules (concept-sspr-policy.md): local part of `A-Z a-z 0-9 ' . - _ ! # ^ ~`, no `.`
/// right before `@`, at most 64 + 48 characters (113 in total), domain verified in the tenant.
fn check_upn(upn: &str, domains: &[String], ids: &RequestIds) -> Result<(), Response> {
    let invalid = || {
        graph_error_with_details(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "Invalid value specified for property 'userPrincipalName' of resource 'User'.",
            ids,
            Some(json!([{ "target": "userPrincipalName", "code": "InvalidValue" }])),
        )
    };
    let Some((local, domain)) = upn.split_once('@') else {
        return Err(invalid());
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "'.-_!#^~".contains(c));
    if !local_ok
        || domain.is_empty()
        || domain.len() > 48
        || upn.len() > 113
        || domain.contains('@')
    {
        return Err(invalid());
    }
    if !domains.iter().any(|d| d.eq_ignore_ascii_case(domain)) {
        return Err(graph_error_with_details(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "The domain portion of the userPrincipalName property is invalid. You must use one of the verified domain names in your organization.",
            ids,
            Some(json!([{ "target": "userPrincipalName", "code": "InvalidValue" }])),
        ));
    }
    Ok(())
}

fn valid_mail_nickname(nickname: &str) -> bool {
    nickname.len() <= 64
        && nickname
            .chars()
            .all(|c| c.is_ascii() && !c.is_ascii_control() && !"@()\\[]\";:<>, ".contains(c))
}

async fn list_users(
    State(app): State<Shared>,
    Extension(ids): Extension<RequestIds>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let st = app.lock();
    let tenant_key = match authenticate(&st, &headers, &ids) {
        Ok(key) => key,
        Err(response) => return response,
    };
    let t = &st.tenants[&tenant_key];
    let params = query_params(raw.as_deref());
    let now = Instant::now();
    let wanted_upn = match params.get("$filter") {
        None => None,
        Some(filter) => match parse_eq_filter(filter) {
            Some((property, value)) if property == "userPrincipalName" => Some(value),
            _ => return unsupported_query(&ids),
        },
    };
    let mut values = Vec::new();
    for record in t.users.iter().filter(|r| r.visible_at <= now) {
        if let Some(upn) = &wanted_upn
            && !record.user.user_principal_name.eq_ignore_ascii_case(upn)
        {
            continue;
        }
        match render_user(&record.user, params.get("$select")) {
            Ok(value) => values.push(value),
            Err(name) => return unknown_property(&name, &ids),
        }
    }
    json_response(
        StatusCode::OK,
        json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users",
            "value": values,
        }),
    )
}

async fn get_user(
    State(app): State<Shared>,
    Extension(ids): Extension<RequestIds>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let st = app.lock();
    let tenant_key = match authenticate(&st, &headers, &ids) {
        Ok(key) => key,
        Err(response) => return response,
    };
    let t = &st.tenants[&tenant_key];
    let Some(index) = t.visible_user(&id, Instant::now()) else {
        return not_found(&id, &ids);
    };
    let params = query_params(raw.as_deref());
    match render_user(&t.users[index].user, params.get("$select")) {
        Ok(mut value) => {
            value["@odata.context"] =
                json!("https://graph.microsoft.com/v1.0/$metadata#users/$entity");
            json_response(StatusCode::OK, value)
        }
        Err(name) => unknown_property(&name, &ids),
    }
}

async fn update_user(
    State(app): State<Shared>,
    Extension(ids): Extension<RequestIds>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let mut st = app.lock();
    let tenant_key = match authenticate(&st, &headers, &ids) {
        Ok(key) => key,
        Err(response) => return response,
    };
    let body = match json_object(&body, &ids) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let t = st
        .tenants
        .get_mut(&tenant_key)
        .expect("authenticated tenant");
    let Some(index) = t.visible_user(&id, Instant::now()) else {
        return not_found(&id, &ids);
    };
    const ALLOWED: &[&str] = &[
        "accountEnabled",
        "passwordProfile",
        "displayName",
        "employeeType",
        "givenName",
        "surname",
        "jobTitle",
        "usageLocation",
        "department",
        "officeLocation",
        "mailNickname",
    ];
    if let Some(unknown) = body
        .keys()
        .find(|k| !ALLOWED.contains(&k.as_str()) && !k.starts_with('@'))
    {
        return bad_request(
            &format!(
                "Property '{unknown}' does not exist as a declared property or extension property."
            ),
            &ids,
        );
    }

    let enabled = match body.get("accountEnabled") {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            return bad_request(
                "Invalid value specified for property 'accountEnabled' of resource 'User'.",
                &ids,
            );
        }
    };
    let profile = match body.get("passwordProfile") {
        None => None,
        Some(Value::Object(p)) => Some(p.clone()),
        Some(_) => return password_rejected(&ids),
    };
    let new_password = match &profile {
        None => None,
        Some(p) => match p.get("password") {
            None => None,
            Some(Value::String(pw)) if password_meets_entra_rules(pw) => Some(pw.clone()),
            Some(_) => return password_rejected(&ids),
        },
    };

    let user_id = t.users[index].user.id.clone();
    let sensitive = enabled.is_some() || profile.is_some();
    if sensitive && t.holds_any_role(&user_id) && !t.app_may_act_on_admins() {
        return insufficient_privileges(&ids);
    }
    if profile.is_some() && t.spec.app_role < AppRole::UserAdministrator {
        return insufficient_privileges(&ids);
    }

    let keep_enabled = t.keep_accounts_enabled;
    let user = &mut t.users[index].user;
    if let Some(enabled) = enabled
        && (enabled || !keep_enabled)
    {
        user.account_enabled = enabled;
    }
    if let Some(p) = &profile {
        if let Some(password) = new_password {
            user.password = Some(password);
            user.password_changes += 1;
            user.password_last_set = Some(OffsetDateTime::now_utc());
        }
        if let Some(force) = p
            .get("forceChangePasswordNextSignIn")
            .and_then(Value::as_bool)
        {
            user.force_change_password_next_sign_in = force;
        }
    }
    if let Some(name) = non_empty_string(&body, "displayName") {
        user.display_name = name;
    }
    if let Some(value) = body.get("employeeType") {
        user.employee_type = value.as_str().map(str::to_string);
    }
    if let Some(nickname) = non_empty_string(&body, "mailNickname") {
        user.mail_nickname = nickname;
    }
    no_content()
}

async fn delete_user(
    State(app): State<Shared>,
    Extension(ids): Extension<RequestIds>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let mut st = app.lock();
    let tenant_key = match authenticate(&st, &headers, &ids) {
        Ok(key) => key,
        Err(response) => return response,
    };
    let t = st
        .tenants
        .get_mut(&tenant_key)
        .expect("authenticated tenant");
    let Some(index) = t.visible_user(&id, Instant::now()) else {
        return not_found(&id, &ids);
    };
    let user_id = t.users[index].user.id.clone();
    if t.holds_any_role(&user_id) && !t.app_may_act_on_admins() {
        return insufficient_privileges(&ids);
    }
    let record = t.users.remove(index);
    t.role_assignments.retain(|a| a.principal_id != user_id);
    t.taps.retain(|tap| tap.user_id != user_id);
    t.deleted_users.push(record.user);
    no_content()
}

async fn revoke_sessions(
    State(app): State<Shared>,
    Extension(ids): Extension<RequestIds>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let mut st = app.lock();
    let tenant_key = match authenticate(&st, &headers, &ids) {
        Ok(key) => key,
        Err(response) => return response,
    };
    let t = st
        .tenants
        .get_mut(&tenant_key)
        .expect("authenticated tenant");
    // Directory.ReadWrite.All would also do, but jitgate's app never asks for it.
    if !t.has_permission("User.RevokeSessions.All") {
        return insufficient_privileges(&ids);
    }
    let Some(index) = t.visible_user(&id, Instant::now()) else {
        return not_found(&id, &ids);
    };
    t.users[index].user.sessions_revoked += 1;
    json_response(
        StatusCode::OK,
        json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Edm.Boolean",
            "value": true,
        }),
    )
}

// ---------------------------------------------------------------------------------------------
// Graph: Temporary Access Pass methods
// ---------------------------------------------------------------------------------------------

fn render_tap(tap: &SimTap) -> Value {
    json!({
        "id": tap.id,
        // Only returned at creation (entra.md A4).
        "temporaryAccessPass": null,
        "lifetimeInMinutes": tap.lifetime_in_minutes,
        "isUsableOnce": tap.is_usable_once,
        "isUsable": true,
        "methodUsabilityReason": "EnabledByPolicy",
    })
}

async fn list_taps(
    State(app): State<Shared>,
    Extension(ids): Extension<RequestIds>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let st = app.lock();
    let tenant_key = match authenticate(&st, &headers, &ids) {
        Ok(key) => key,
        Err(response) => return response,
    };
    let t = &st.tenants[&tenant_key];
    let Some(index) = t.visible_user(&id, Instant::now()) else {
        return not_found(&id, &ids);
    };
    let user_id = &t.users[index].user.id;
    let values: Vec<Value> = t
        .taps
        .iter()
        .filter(|tap| &tap.user_id == user_id)
        .map(render_tap)
        .collect();
    json_response(
        StatusCode::OK,
        json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users('id')/authentication/temporaryAccessPassMethods",
            "value": values,
        }),
    )
}

async fn get_tap(
    State(app): State<Shared>,
    Extension(ids): Extension<RequestIds>,
    headers: HeaderMap,
    Path((id, tap_id)): Path<(String, String)>,
) -> Response {
    let st = app.lock();
    let tenant_key = match authenticate(&st, &headers, &ids) {
        Ok(key) => key,
        Err(response) => return response,
    };
    let t = &st.tenants[&tenant_key];
    let Some(index) = t.visible_user(&id, Instant::now()) else {
        return not_found(&id, &ids);
    };
    let user_id = &t.users[index].user.id;
    match t
        .taps
        .iter()
        .find(|tap| &tap.user_id == user_id && tap.id == tap_id)
    {
        Some(tap) => json_response(StatusCode::OK, render_tap(tap)),
        None => not_found(&tap_id, &ids),
    }
}

async fn delete_tap(
    State(app): State<Shared>,
    Extension(ids): Extension<RequestIds>,
    headers: HeaderMap,
    Path((id, tap_id)): Path<(String, String)>,
) -> Response {
    let mut st = app.lock();
    let tenant_key = match authenticate(&st, &headers, &ids) {
        Ok(key) => key,
        Err(response) => return response,
    };
    let t = st
        .tenants
        .get_mut(&tenant_key)
        .expect("authenticated tenant");
    let Some(index) = t.visible_user(&id, Instant::now()) else {
        return not_found(&id, &ids);
    };
    let user_id = t.users[index].user.id.clone();
    let before = t.taps.len();
    t.taps
        .retain(|tap| !(tap.user_id == user_id && tap.id == tap_id));
    if t.taps.len() == before {
        return not_found(&tap_id, &ids);
    }
    no_content()
}

// ---------------------------------------------------------------------------------------------
// Graph: directory role assignments
// ---------------------------------------------------------------------------------------------

fn render_assignment(a: &SimRoleAssignment) -> Value {
    json!({
        "id": a.id,
        "principalId": a.principal_id,
        "roleDefinitionId": a.role_definition_id,
        "directoryScopeId": a.directory_scope_id,
    })
}

async fn list_assignments(
    State(app): State<Shared>,
    Extension(ids): Extension<RequestIds>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let st = app.lock();
    let tenant_key = match authenticate(&st, &headers, &ids) {
        Ok(key) => key,
        Err(response) => return response,
    };
    let t = &st.tenants[&tenant_key];
    let params = query_params(raw.as_deref());
    let filter = match params.get("$filter") {
        None => None,
        Some(filter) => match parse_eq_filter(filter) {
            Some((property, value))
                if property == "principalId" || property == "roleDefinitionId" =>
            {
                Some((property, value))
            }
            _ => return unsupported_query(&ids),
        },
    };
    let now = Instant::now();
    // Assignments of a principal that has not replicated yet are not visible either.
    let principal_visible = |principal: &str| {
        t.users
            .iter()
            .find(|r| r.user.id == principal)
            .is_none_or(|r| r.visible_at <= now)
    };
    let values: Vec<Value> = t
        .role_assignments
        .iter()
        .filter(|a| principal_visible(&a.principal_id))
        .filter(|a| match &filter {
            None => true,
            Some((property, value)) if property == "principalId" => {
                a.principal_id.eq_ignore_ascii_case(value)
            }
            Some((_, value)) => a.role_definition_id.eq_ignore_ascii_case(value),
        })
        .map(render_assignment)
        .collect();
    json_response(
        StatusCode::OK,
        json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#roleManagement/directory/roleAssignments",
            "value": values,
        }),
    )
}

async fn get_assignment(
    State(app): State<Shared>,
    Extension(ids): Extension<RequestIds>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let st = app.lock();
    let tenant_key = match authenticate(&st, &headers, &ids) {
        Ok(key) => key,
        Err(response) => return response,
    };
    match st.tenants[&tenant_key]
        .role_assignments
        .iter()
        .find(|a| a.id == id)
    {
        Some(a) => json_response(StatusCode::OK, render_assignment(a)),
        None => not_found(&id, &ids),
    }
}

async fn create_assignment(
    State(app): State<Shared>,
    Extension(ids): Extension<RequestIds>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut st = app.lock();
    let tenant_key = match authenticate(&st, &headers, &ids) {
        Ok(key) => key,
        Err(response) => return response,
    };
    let body = match json_object(&body, &ids) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let lag_answer = st.lag_role_answer;
    let t = st
        .tenants
        .get_mut(&tenant_key)
        .expect("authenticated tenant");

    let field = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_string);
    let (Some(role), Some(principal), Some(scope)) = (
        field("roleDefinitionId"),
        field("principalId"),
        field("directoryScopeId"),
    ) else {
        return bad_request(
            "Required properties roleDefinitionId, principalId and directoryScopeId must be specified.",
            &ids,
        );
    };
    if !is_guid(&role) {
        return bad_request(&format!("Invalid object identifier '{role}'."), &ids);
    }
    if !is_guid(&principal) {
        return bad_request(&format!("Invalid object identifier '{principal}'."), &ids);
    }
    if scope != "/" && !scope.starts_with("/administrativeUnits/") {
        return bad_request(&format!("Invalid directoryScopeId '{scope}'."), &ids);
    }
    let Some(record) = t
        .users
        .iter()
        .find(|r| r.user.id.eq_ignore_ascii_case(&principal))
    else {
        return not_found(&principal, &ids);
    };
    if record.visible_at > Instant::now() {
        return match lag_answer {
            LagRoleAnswer::BadReference => bad_request(
                "Invalid request: the principal does not exist yet. Not a valid reference update.",
                &ids,
            ),
            LagRoleAnswer::NotFound => not_found(&principal, &ids),
        };
    }
    let principal = record.user.id.clone();
    if t.role_assignments.iter().any(|a| {
        a.principal_id == principal
            && a.role_definition_id.eq_ignore_ascii_case(&role)
            && a.directory_scope_id == scope
    }) {
        return bad_request(
            "A conflicting object with one or more of the specified property values is present in the directory.",
            &ids,
        );
    }
    let assignment = SimRoleAssignment {
        id: new_assignment_id(),
        principal_id: principal,
        role_definition_id: role,
        directory_scope_id: scope,
    };
    let mut rendered = render_assignment(&assignment);
    rendered["@odata.context"] = json!(
        "https://graph.microsoft.com/v1.0/$metadata#roleManagement/directory/roleAssignments/$entity"
    );
    t.role_assignments.push(assignment);
    json_response(StatusCode::CREATED, rendered)
}

async fn delete_assignment(
    State(app): State<Shared>,
    Extension(ids): Extension<RequestIds>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let mut st = app.lock();
    let tenant_key = match authenticate(&st, &headers, &ids) {
        Ok(key) => key,
        Err(response) => return response,
    };
    let t = st
        .tenants
        .get_mut(&tenant_key)
        .expect("authenticated tenant");
    let before = t.role_assignments.len();
    t.role_assignments.retain(|a| a.id != id);
    if t.role_assignments.len() == before {
        return not_found(&id, &ids);
    }
    no_content()
}

// ---------------------------------------------------------------------------------------------
// Small utilities
// ---------------------------------------------------------------------------------------------

fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A random (version 4) GUID, as Graph uses for object ids and request ids.
pub fn new_guid() -> String {
    use rand::RngExt as _;
    let mut bytes: [u8; 16] = rand::rng().random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn is_guid(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, len)| p.len() == len && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Role assignment ids look like base64url blobs in Entra (`lAPpYvVpN0KRkAEhdxReEJC2sEqbR_9Hr48lds9SGHI-1`).
fn new_assignment_id() -> String {
    format!("{}-1", random_token())
}

fn random_token() -> String {
    use base64::Engine as _;
    use rand::RngExt as _;
    let bytes: [u8; 32] = rand::rng().random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_odata_literals() {
        assert_eq!(
            parse_eq_filter("userPrincipalName eq 'o''neil@x.example'"),
            Some(("userPrincipalName".into(), "o'neil@x.example".into()))
        );
        assert_eq!(parse_eq_filter("userPrincipalName eq 'bad'quote'"), None);
        assert_eq!(parse_eq_filter("startswith(displayName,'a')"), None);
    }

    #[test]
    fn password_rules() {
        assert!(password_meets_entra_rules("Abcdefg1"));
        assert!(password_meets_entra_rules("abcdefg1!"));
        assert!(!password_meets_entra_rules("abcdefgh1"));
        assert!(!password_meets_entra_rules("Ab1!"));
        assert!(!password_meets_entra_rules("Abcdefg1é"));
        assert!(!password_meets_entra_rules(&"Aa1!".repeat(65)));
    }

    #[test]
    fn guids_look_like_guids() {
        assert!(is_guid(&new_guid()));
        assert!(!is_guid("not-a-guid"));
    }
}
