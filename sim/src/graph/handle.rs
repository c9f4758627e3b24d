//! The simulator handle.

use super::*;

/// A running Graph + Entra login simulator. Dropping it stops the server.
pub struct GraphSim {
    pub(super) server: SimServer,
    pub(super) state: Shared,
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

    /// Gives Graph its real pace (latency, replication lag, random 429s, the app+tenant
    /// budget; see [`Pace`] and the module docs), replacing any pace before it with fresh
    /// sequences and budgets.
    pub fn set_pace(&self, pace: Pace) {
        self.state.lock().pace = Some(PaceState::new(pace));
    }

    /// Back to instant answers (the fixed `set_latency` and `set_replication_lag` still apply).
    pub fn clear_pace(&self) {
        self.state.lock().pace = None;
    }

    /// Graph calls answered so far (excluding token requests); a `$batch` counts as ONE call here,
    /// and `batched_requests` counts the requests carried inside batches.
    pub fn graph_calls(&self) -> u64 {
        self.state.lock().graph_calls
    }

    /// Requests carried inside `$batch` calls and answered (run, or refused with 424 after a
    /// failed dependency).
    pub fn batched_requests(&self) -> u64 {
        self.state.lock().batched_requests
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

    /// Registers the MSP's multi-tenant app: customers can consent to it on the admin-consent
    /// page, and it then gets tokens for their tenants with its own secret.
    pub fn register_app(&self, app: AppRegistration) {
        let mut st = self.state.lock();
        st.apps
            .retain(|a| !a.client_id.eq_ignore_ascii_case(&app.client_id));
        st.apps.push(app);
    }

    /// Uploads a certificate (the public part of `pem`) to the registered app `client_id`.
    pub fn add_app_certificate(&self, client_id: &str, pem: &str) {
        let der = certificate_der(pem);
        let mut st = self.state.lock();
        let app = st
            .apps
            .iter_mut()
            .find(|a| a.client_id.eq_ignore_ascii_case(client_id))
            .unwrap_or_else(|| panic!("GraphSim: unknown app {client_id}; register_app first"));
        app.certificates.push(der);
    }

    /// What the tenant's administrator answers on the admin-consent page (default: approve).
    pub fn set_consent_answer(&self, tenant: &str, answer: ConsentAnswer) {
        self.with_tenant(tenant, |t| t.consent_answer = answer);
    }

    /// The administrator who signs in on a consent page reached as `common` or
    /// `organizations` belongs to this tenant.
    pub fn sign_in_admin_of(&self, tenant: &str) {
        let key = tenant.to_ascii_lowercase();
        self.read_tenant(tenant, |_| ());
        self.state.lock().consent_sign_in_tenant = Some(key);
    }

    /// Client ids of the multi-tenant apps the tenant consented to.
    pub fn consented_apps(&self, tenant: &str) -> Vec<String> {
        self.read_tenant(tenant, |t| t.consented_apps.clone())
    }

    /// Withdraws the tenant's consent to the app (its service principal is deleted), so its
    /// tokens are refused with AADSTS700016 again.
    pub fn revoke_consent(&self, tenant: &str, client_id: &str) {
        self.with_tenant(tenant, |t| {
            t.consented_apps
                .retain(|a| !a.eq_ignore_ascii_case(client_id))
        });
    }

    /// Adds or replaces (by name) an unverified or federated domain of the tenant; a
    /// replacement with `is_verified` and `Managed` makes the domain usable.
    pub fn put_domain(&self, tenant: &str, domain: SimDomain) {
        self.with_tenant(tenant, |t| {
            t.spec
                .other_domains
                .retain(|d| !d.name.eq_ignore_ascii_case(&domain.name));
            t.spec.other_domains.push(domain);
        });
    }

    /// The tenant's domains as `GET /domains` lists them.
    pub fn domains(&self, tenant: &str) -> Vec<DomainView> {
        self.read_tenant(tenant, |t| t.spec.all_domains())
    }

    /// Object id of the app's service principal in the tenant (the `oid` of its tokens).
    pub fn app_object_id(&self, tenant: &str) -> String {
        self.read_tenant(tenant, |t| t.spec.app_object_id.clone())
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

    /// Withdraws (or restores) consent to one application permission in the tenant (one of
    /// [`CONSENTED_PERMISSIONS`]); tokens issued afterwards carry the new `roles`.
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
            // A user has at most one TAP; a new one replaces the old
            // (https://learn.microsoft.com/graph/api/resources/temporaryaccesspassauthenticationmethod).
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

    pub(super) fn with_tenant(&self, tenant: &str, f: impl FnOnce(&mut TenantState)) {
        let mut st = self.state.lock();
        let t = st
            .tenants
            .get_mut(&tenant.to_ascii_lowercase())
            .unwrap_or_else(|| panic!("GraphSim: unknown tenant {tenant}; add_tenant first"));
        f(t)
    }

    pub(super) fn read_tenant<T>(&self, tenant: &str, f: impl FnOnce(&TenantState) -> T) -> T {
        let st = self.state.lock();
        let t = st
            .tenants
            .get(&tenant.to_ascii_lowercase())
            .unwrap_or_else(|| panic!("GraphSim: unknown tenant {tenant}; add_tenant first"));
        f(t)
    }
}
