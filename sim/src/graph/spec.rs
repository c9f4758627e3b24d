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
    /// Verified, cloud-managed domains; a new user's UPN must end in one of them (or in
    /// `initial_domain`). The first is the tenant's default domain.
    pub domains: Vec<String>,
    /// The `<name>.onmicrosoft.com` domain every tenant is created with (verified, managed).
    pub initial_domain: String,
    /// Further domains: added but unverified, or federated ([`SimDomain`]).
    pub other_domains: Vec<SimDomain>,
    /// Object id of the app's service principal in this tenant: the `oid` of its app-only
    /// tokens and the `principalId` of its directory role assignment.
    pub app_object_id: String,
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
            initial_domain: initial_domain_for(domain),
            other_domains: Vec::new(),
            app_object_id: new_guid(),
            app_role: AppRole::UserAdministrator,
            missing_permissions: Vec::new(),
        }
    }

    /// Adds a domain the tenant added but never verified.
    pub fn with_unverified_domain(mut self, name: &str) -> Self {
        self.other_domains.push(SimDomain::unverified(name));
        self
    }

    /// Adds a verified domain whose sign-ins are federated to another identity provider.
    pub fn with_federated_domain(mut self, name: &str) -> Self {
        self.other_domains.push(SimDomain::federated(name));
        self
    }

    /// Every domain of the tenant as `GET /domains` lists it: the default first, then the
    /// other verified managed domains, the initial one, and the unverified or federated ones.
    pub fn all_domains(&self) -> Vec<DomainView> {
        let managed = self.domains.iter().enumerate().map(|(i, name)| DomainView {
            id: name.clone(),
            is_default: i == 0,
            is_initial: false,
            is_verified: true,
            authentication_type: DomainAuthentication::Managed,
        });
        let initial = DomainView {
            id: self.initial_domain.clone(),
            is_default: self.domains.is_empty(),
            is_initial: true,
            is_verified: true,
            authentication_type: DomainAuthentication::Managed,
        };
        let others = self.other_domains.iter().map(|d| DomainView {
            id: d.name.clone(),
            is_default: false,
            is_initial: false,
            is_verified: d.is_verified,
            authentication_type: d.authentication_type,
        });
        managed
            .chain(std::iter::once(initial))
            .chain(others)
            .collect()
    }
}

/// `contoso.example` → `contoso.onmicrosoft.com`: Entra names a new tenant's initial domain
/// after the name chosen at sign-up (https://learn.microsoft.com/entra/fundamentals/add-custom-domain).
fn initial_domain_for(domain: &str) -> String {
    let label = domain.split('.').next().unwrap_or(domain);
    format!("{}.onmicrosoft.com", label.to_ascii_lowercase())
}

/// A domain beyond the verified managed ones, as a test configures it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimDomain {
    pub name: String,
    pub is_verified: bool,
    pub authentication_type: DomainAuthentication,
}

impl SimDomain {
    pub fn unverified(name: &str) -> Self {
        SimDomain {
            name: name.to_string(),
            is_verified: false,
            authentication_type: DomainAuthentication::Managed,
        }
    }

    pub fn federated(name: &str) -> Self {
        SimDomain {
            name: name.to_string(),
            is_verified: true,
            authentication_type: DomainAuthentication::Federated,
        }
    }
}

/// Graph's `domain.authenticationType`
/// (https://learn.microsoft.com/graph/api/resources/domain).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DomainAuthentication {
    /// Entra ID itself signs users in (cloud-managed).
    Managed,
    /// Sign-ins go to another identity provider (e.g. AD FS).
    Federated,
}

impl DomainAuthentication {
    pub fn as_str(self) -> &'static str {
        match self {
            DomainAuthentication::Managed => "Managed",
            DomainAuthentication::Federated => "Federated",
        }
    }
}

/// One domain as `GET /v1.0/domains` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainView {
    pub id: String,
    pub is_default: bool,
    pub is_initial: bool,
    pub is_verified: bool,
    pub authentication_type: DomainAuthentication,
}

/// The MSP's own multi-tenant app registration (one for all customers), which customers
/// connect to by admin consent instead of registering an app of their own.
#[derive(Debug, Clone, Default)]
pub struct AppRegistration {
    pub client_id: String,
    pub client_secret: String,
    /// Reply URLs registered on the app; the consent page redirects only to one of these,
    /// compared exactly (https://learn.microsoft.com/entra/identity-platform/reply-url).
    pub redirect_uris: Vec<String>,
    /// Certificates (DER, public part only) uploaded to the app under Certificates & secrets:
    /// client assertions signed with their keys get tokens.
    pub certificates: Vec<Vec<u8>>,
}

impl AppRegistration {
    /// Uploads the certificate of `pem` (any private key in it is ignored, as the portal
    /// only ever takes the public part).
    pub fn with_certificate(mut self, pem: &str) -> Self {
        self.certificates.push(certificate_der(pem));
        self
    }
}

/// What the customer's administrator does on the simulated admin-consent page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsentAnswer {
    /// Accepts: the app gets a service principal in the tenant with every permission.
    Approve,
    /// Refuses: the browser returns with `error` and `error_description` (and no tenant).
    Refuse {
        error: String,
        error_description: String,
    },
}

impl ConsentAnswer {
    /// The admin pressed Cancel: `access_denied` with AADSTS65004, the code Entra uses when
    /// consent is declined (https://learn.microsoft.com/entra/identity-platform/reference-error-codes).
    pub fn declined() -> Self {
        ConsentAnswer::Refuse {
            error: "access_denied".into(),
            error_description: "AADSTS65004: User declined to consent to access the app.".into(),
        }
    }

    /// The v1 admin-consent endpoint's documented refusal: `permission_denied`, "The admin
    /// canceled the request"
    /// (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow).
    pub fn permission_denied() -> Self {
        ConsentAnswer::Refuse {
            error: "permission_denied".into(),
            error_description: "The admin canceled the request".into(),
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

impl AppRole {
    /// The built-in role's template id (Microsoft Entra built-in roles,
    /// https://learn.microsoft.com/entra/identity/role-based-access-control/permissions-reference).
    pub fn template_id(self) -> Option<&'static str> {
        match self {
            AppRole::None => None,
            AppRole::UserAdministrator => Some("fe930be7-5e62-47db-91af-98c3a49a38b1"),
            AppRole::PrivilegedAuthenticationAdministrator => {
                Some("7be44c8a-adaf-4e2a-84d6-ab2649e08a13")
            }
            AppRole::GlobalAdministrator => Some("62e90394-69f5-4237-9190-012177145e10"),
        }
    }
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
    /// Carried inside a `POST /v1.0/$batch` (the batch itself is logged too, not batched).
    pub batched: bool,
}

/// Graph's real pace: latency, replication lag, throttling and the per app+tenant budget
/// ([`GraphSim::set_pace`]). Every draw is deterministic under `seed` (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct Pace {
    /// Latency added to each Graph call (`/v1.0/...`, a `$batch` counts as one call), uniform in [lo, hi].
    pub call_latency: (Duration, Duration),
    /// Latency added to each token request (`/{tenant}/oauth2/v2.0/token`), uniform in [lo, hi].
    pub token_latency: (Duration, Duration),
    /// How long each newly created user stays unreplicated, uniform in [lo, hi] (drawn per user;
    /// replaces the fixed `set_replication_lag` value while a pace is set).
    pub replication_lag: (Duration, Duration),
    /// Share (0.0..=1.0) of Graph calls answered 429 TooManyRequests with `Retry-After`.
    pub throttle_share: f64,
    /// The `Retry-After` of those 429s (sent in whole seconds, at least 1).
    pub throttle_retry_after: Duration,
    /// Graph's per app+tenant limits, or None for unlimited.
    pub budget: Option<TenantBudget>,
    pub seed: u64,
}

/// Graph's identity-and-access limits for one application+tenant pair
/// (https://learn.microsoft.com/graph/throttling-limits, "Identity and access service limits").
#[derive(Debug, Clone, PartialEq)]
pub struct TenantBudget {
    /// Resource units per `ru_window` per app+tenant (S tenant: 3,500 per 10 s).
    pub resource_units: u32,
    pub ru_window: Duration,
    /// Writes (POST/PATCH/PUT/DELETE) per `write_window` per app+tenant (3,000 per 150 s).
    pub writes: u32,
    pub write_window: Duration,
}

impl TenantBudget {
    /// A small tenant (under 50 users): 3,500 resource units per 10 s and 3,000 writes per
    /// 2 min 30 s (https://learn.microsoft.com/graph/throttling-limits).
    pub fn small_tenant() -> TenantBudget {
        TenantBudget {
            resource_units: 3_500,
            ru_window: Duration::from_secs(10),
            writes: 3_000,
            write_window: Duration::from_secs(150),
        }
    }
}

impl Pace {
    /// What the benchmark calls realistic: calls 80–250 ms, tokens 100–300 ms, replication lag 2–5 s,
    /// 1 % of calls 429 with Retry-After 1 s, the S-tenant budget above.
    pub fn realistic(seed: u64) -> Pace {
        Pace {
            call_latency: (Duration::from_millis(80), Duration::from_millis(250)),
            token_latency: (Duration::from_millis(100), Duration::from_millis(300)),
            replication_lag: (Duration::from_secs(2), Duration::from_secs(5)),
            throttle_share: 0.01,
            throttle_retry_after: Duration::from_secs(1),
            budget: Some(TenantBudget::small_tenant()),
            seed,
        }
    }

    /// No latency, lag, throttling or budget: a base to set one aspect on in tests.
    pub fn instant(seed: u64) -> Pace {
        Pace {
            call_latency: (Duration::ZERO, Duration::ZERO),
            token_latency: (Duration::ZERO, Duration::ZERO),
            replication_lag: (Duration::ZERO, Duration::ZERO),
            throttle_share: 0.0,
            throttle_retry_after: Duration::from_secs(1),
            budget: None,
            seed,
        }
    }
}
