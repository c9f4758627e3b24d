//! The simulator handle.

use super::*;

/// A running OpenID Connect provider simulator. Dropping it stops the server.
pub struct OidcSim {
    server: SimServer,
    state: Shared,
}

impl std::fmt::Debug for OidcSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSim")
            .field("url", &self.server.url.as_str())
            .finish_non_exhaustive()
    }
}

impl OidcSim {
    /// Starts the simulator on `127.0.0.1:0`, over TLS when `tls` is given.
    pub async fn start(tls: Option<&TestCa>) -> OidcSim {
        let state = Shared(Arc::new(Mutex::new(SimState::new())));
        let server = spawn(router(state.clone()), tls).await;
        state.lock().origin = server.url.as_str().trim_end_matches('/').to_string();
        OidcSim { server, state }
    }

    /// Base URL with a trailing slash (the login origin, like `https://login.microsoftonline.com/`).
    pub fn url(&self) -> url::Url {
        self.server.url.clone()
    }

    /// The tenant's issuer, `{base}/{tenant}/v2.0` (the tenant lower-cased); the discovery
    /// document is at `{issuer}/.well-known/openid-configuration`.
    pub fn issuer(&self, tenant: &str) -> String {
        self.state.lock().issuer(tenant)
    }

    /// The `kid` of the signing key the JWKS lists.
    pub fn signing_kid(&self) -> String {
        SIGNER.kid().to_string()
    }

    /// Stops the server (also happens on drop).
    pub fn shutdown(&self) {
        self.server.shutdown();
    }

    /// Registers (or replaces) an application: its secret and its exact redirect URIs.
    pub fn register_client(
        &self,
        client_id: &str,
        secret: &str,
        redirect_uris: impl IntoIterator<Item = impl AsRef<str>>,
    ) {
        let client = Client {
            client_id: client_id.to_string(),
            secret: secret.to_string(),
            redirect_uris: redirect_uris
                .into_iter()
                .map(|r| r.as_ref().to_string())
                .collect(),
        };
        self.state
            .lock()
            .clients
            .insert(client_id.to_ascii_lowercase(), client);
    }

    /// Makes the tenant known (its discovery document, keys and endpoints answer); idempotent.
    pub fn add_tenant(&self, tenant: &str) {
        self.state
            .lock()
            .tenants
            .entry(tenant.to_ascii_lowercase())
            .or_default();
    }

    /// Adds (or replaces, by `sub`) a user of the tenant, making the tenant known.
    pub fn add_user(&self, tenant: &str, user: OidcUser) {
        self.add_tenant(tenant);
        self.with_tenant(tenant, |t| {
            t.users.retain(|u| u.sub != user.sub);
            t.users.push(user);
        });
    }

    /// The person who signs in on the tenant's authorize page from now on.
    pub fn sign_in_as(&self, tenant: &str, sub: &str) {
        self.with_tenant(tenant, |t| {
            assert!(
                t.users.iter().any(|u| u.sub == sub),
                "OidcSim: unknown user {sub} in tenant {tenant}; add_user first"
            );
            t.signed_in = Some(sub.to_string());
        });
    }

    /// No one is signed in on the tenant's authorize page any more (it shows an error page,
    /// or answers `login_required` to `prompt=none`).
    pub fn sign_out(&self, tenant: &str) {
        self.with_tenant(tenant, |t| t.signed_in = None);
    }

    /// The next sign-in to the tenant is refused: the browser goes back with
    /// `error=access_denied` (AADSTS65004, the user declined to consent).
    pub fn refuse_next_sign_in(&self, tenant: &str) {
        self.with_tenant(tenant, |t| t.refuse_next = true);
    }

    /// The next `id_token` issued for the tenant is spoiled this way.
    pub fn tamper_next_id_token(&self, tenant: &str, fault: IdTokenFault) {
        self.with_tenant(tenant, |t| t.next_fault = Some(fault));
    }

    /// How long an authorization code can be redeemed (default 10 minutes); shorten it to test
    /// AADSTS70008.
    pub fn set_code_lifetime(&self, lifetime: Duration) {
        self.state.lock().code_lifetime = lifetime;
    }

    /// Every request that reached the token endpoint, oldest first, as sent.
    pub fn token_requests(&self) -> Vec<TokenRequest> {
        self.state.lock().token_requests.clone()
    }

    fn with_tenant(&self, tenant: &str, f: impl FnOnce(&mut Tenant)) {
        let mut st = self.state.lock();
        let t = st
            .tenant_mut(tenant)
            .unwrap_or_else(|| panic!("OidcSim: unknown tenant {tenant}; add_tenant first"));
        f(t)
    }
}
