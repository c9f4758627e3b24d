//! Internal state.

use super::*;

#[derive(Clone)]
pub(super) struct Shared(pub(super) Arc<Mutex<SimState>>);

impl Shared {
    /// The lock is never held across an await, so a poisoned lock only follows a panic in a
    /// handler; the state is still usable for the remaining assertions.
    pub(super) fn lock(&self) -> MutexGuard<'_, SimState> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

pub(super) struct SimState {
    pub(super) tenants: HashMap<String, TenantState>,
    pub(super) tokens: HashMap<String, IssuedToken>,
    pub(super) token_lifetime: Duration,
    pub(super) replication_lag: Duration,
    pub(super) lag_role_answer: LagRoleAnswer,
    pub(super) latency: Duration,
    pub(super) faults: Vec<Fault>,
    pub(super) log: Vec<LoggedRequest>,
    pub(super) total_token_requests: usize,
    /// Graph's pace ([`GraphSim::set_pace`]); `None` answers at once, as before.
    pub(super) pace: Option<PaceState>,
    /// Graph calls answered (a `$batch` once), and the requests carried inside batches.
    pub(super) graph_calls: u64,
    pub(super) batched_requests: u64,
    /// `scheme://host:port` of this server; the only resource the token endpoint knows.
    pub(super) graph_origin: String,
    /// Multi-tenant app registrations (the MSP's own app) customers can consent to.
    pub(super) apps: Vec<AppRegistration>,
    /// Whose administrator signs in on the consent page reached as `common`/`organizations`.
    pub(super) consent_sign_in_tenant: Option<String>,
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
            pace: None,
            graph_calls: 0,
            batched_requests: 0,
            graph_origin: String::new(),
            apps: Vec::new(),
            consent_sign_in_tenant: None,
        }
    }
}

impl SimState {
    /// The login endpoint accepts the tenant GUID or any verified domain.
    pub(super) fn resolve_tenant(&self, tenant: &str) -> Option<String> {
        let wanted = tenant.to_ascii_lowercase();
        if self.tenants.contains_key(&wanted) {
            return Some(wanted);
        }
        self.tenants
            .iter()
            .find(|(_, t)| {
                t.spec
                    .all_domains()
                    .iter()
                    .any(|d| d.is_verified && d.id.eq_ignore_ascii_case(tenant))
            })
            .map(|(k, _)| k.clone())
    }

    /// A registered multi-tenant app by client id.
    pub(super) fn app(&self, client_id: &str) -> Option<&AppRegistration> {
        self.apps
            .iter()
            .find(|a| a.client_id.eq_ignore_ascii_case(client_id))
    }

    /// Takes one matching fault, if any.
    pub(super) fn take_fault(&mut self, method: &Method, path: &str) -> Option<FaultKind> {
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

/// The Microsoft Graph application permissions jitgate asks for, all consented unless listed
/// in [`TenantSpec::missing_permissions`]. Domain.Read.All is the least-privileged permission
/// for `GET /domains` (https://learn.microsoft.com/graph/api/domain-list); none of the others
/// allows it.
pub const CONSENTED_PERMISSIONS: &[&str] = &[
    "User.ReadWrite.All",
    "User.RevokeSessions.All",
    "RoleManagement.ReadWrite.Directory",
    "UserAuthenticationMethod.ReadWrite.All",
    "Domain.Read.All",
];

pub(super) struct IssuedToken {
    pub(super) tenant_key: String,
    /// The app the token was issued to: Graph's throttling limits are per app and tenant.
    pub(super) client_id: String,
    pub(super) expires_at: Instant,
}

pub(super) struct TenantState {
    pub(super) spec: TenantSpec,
    pub(super) secret_expired: bool,
    pub(super) forced_token_error: Option<u32>,
    pub(super) keep_accounts_enabled: bool,
    pub(super) users: Vec<UserRecord>,
    pub(super) deleted_users: Vec<SimUser>,
    pub(super) role_assignments: Vec<SimRoleAssignment>,
    pub(super) taps: Vec<SimTap>,
    pub(super) token_requests: usize,
    /// Multi-tenant apps an administrator of this tenant consented to.
    pub(super) consented_apps: Vec<String>,
    pub(super) consent_answer: ConsentAnswer,
}

impl TenantState {
    pub(super) fn new(spec: TenantSpec) -> Self {
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
            consented_apps: Vec::new(),
            consent_answer: ConsentAnswer::Approve,
        }
    }

    /// A replicated user addressed by id or UPN, as Graph's `/users/{id | userPrincipalName}`.
    pub(super) fn visible_user(&self, key: &str, now: Instant) -> Option<usize> {
        self.users.iter().position(|r| {
            r.visible_at <= now
                && (r.user.id.eq_ignore_ascii_case(key)
                    || r.user.user_principal_name.eq_ignore_ascii_case(key))
        })
    }

    /// Sensitive actions on admins need Privileged Authentication Administrator or above.
    pub(super) fn app_may_act_on_admins(&self) -> bool {
        self.spec.app_role >= AppRole::PrivilegedAuthenticationAdministrator
    }

    pub(super) fn has_permission(&self, permission: &str) -> bool {
        !self
            .spec
            .missing_permissions
            .iter()
            .any(|p| p == permission)
    }

    /// The application permissions in the `roles` claim of the tenant's tokens.
    pub(super) fn granted_permissions(&self) -> Vec<String> {
        CONSENTED_PERMISSIONS
            .iter()
            .filter(|p| self.has_permission(p))
            .map(|p| p.to_string())
            .collect()
    }

    /// Whether any of `permissions` (e.g. an API's least- and higher-privileged ones) is
    /// consented.
    pub(super) fn has_any_permission(&self, permissions: &[&str]) -> bool {
        let granted = self.granted_permissions();
        permissions.iter().any(|p| granted.iter().any(|g| g == p))
    }

    /// The app's own directory role as an assignment to its service principal (the tenant's
    /// administrator assigned it by hand; admin consent grants no directory role).
    pub(super) fn app_assignment(&self) -> Option<SimRoleAssignment> {
        let template = self.spec.app_role.template_id()?;
        Some(SimRoleAssignment {
            id: format!("simAppRole_{}_{template}-1", self.spec.app_object_id),
            principal_id: self.spec.app_object_id.clone(),
            role_definition_id: template.to_string(),
            directory_scope_id: "/".to_string(),
        })
    }

    /// Every role assignment of the tenant, the app's own included.
    pub(super) fn all_assignments(&self) -> Vec<SimRoleAssignment> {
        self.app_assignment()
            .into_iter()
            .chain(self.role_assignments.iter().cloned())
            .collect()
    }

    pub(super) fn holds_any_role(&self, user_id: &str) -> bool {
        self.role_assignments
            .iter()
            .any(|a| a.principal_id == user_id)
    }
}

pub(super) struct UserRecord {
    pub(super) user: SimUser,
    pub(super) visible_at: Instant,
}
