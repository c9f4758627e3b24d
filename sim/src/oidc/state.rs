//! What the test configures and what the handlers share.

use super::*;

/// A person who can sign in to a tenant.
///
/// `email` and `email_verified` go into the `id_token` only when set: Entra v2 tokens carry
/// `email` only as an optional claim and never `email_verified`
/// (https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference), while
/// Google and Okta carry both, so a client must cope with either.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OidcUser {
    /// `sub`: pairwise per application in Entra, the stable key a client should use.
    pub sub: String,
    /// `oid`: the user's object id in the tenant.
    pub oid: String,
    /// `name`.
    pub name: String,
    /// `preferred_username`: usually the UPN; mutable, never a key.
    pub preferred_username: String,
    /// `email`, when the token carries it.
    pub email: Option<String>,
    /// `email_verified`, when the token carries it (never in Entra's own tokens).
    pub email_verified: Option<bool>,
}

impl OidcUser {
    /// A user whose tokens carry neither `email` nor `email_verified` (Entra's default).
    pub fn new(sub: &str, oid: &str, name: &str, preferred_username: &str) -> OidcUser {
        OidcUser {
            sub: sub.to_string(),
            oid: oid.to_string(),
            name: name.to_string(),
            preferred_username: preferred_username.to_string(),
            email: None,
            email_verified: None,
        }
    }

    /// The same user with an `email` claim (and `email_verified` when given).
    pub fn with_email(mut self, email: &str, verified: Option<bool>) -> OidcUser {
        self.email = Some(email.to_string());
        self.email_verified = verified;
        self
    }
}

/// One way to spoil the next `id_token`, each something a client must reject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdTokenFault {
    /// Signed, then one signature bit flipped.
    BadSignature,
    /// `aud` is another application's client id.
    WrongAudience,
    /// `iss` is the tenant's v1 issuer (`https://sts.windows.net/{tid}/`), not the v2 one.
    WrongIssuer,
    /// `nonce` is not the one the authorize request sent.
    WrongNonce,
    /// `exp` (and `iat`, `nbf`) an hour in the past.
    Expired,
    /// Properly signed, but the header's `kid` names no key in the JWKS.
    UnknownKid,
}

/// One request that reached the token endpoint, as sent (secrets included: tests assert where
/// they appear and where they must not).
#[derive(Clone, Debug)]
pub struct TokenRequest {
    /// The `{tenant}` path segment.
    pub tenant: String,
    /// The form fields, in order.
    pub form: Vec<(String, String)>,
    /// The `Authorization` header, if any (HTTP Basic client authentication).
    pub authorization: Option<String>,
}

impl TokenRequest {
    /// The first form field with this name.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the client authenticated with HTTP Basic.
    pub fn used_basic_auth(&self) -> bool {
        self.authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Basic "))
    }
}

pub(super) struct Client {
    pub(super) client_id: String,
    pub(super) secret: String,
    pub(super) redirect_uris: Vec<String>,
}

#[derive(Default)]
pub(super) struct Tenant {
    pub(super) users: Vec<OidcUser>,
    pub(super) signed_in: Option<String>,
    pub(super) refuse_next: bool,
    pub(super) next_fault: Option<IdTokenFault>,
}

impl Tenant {
    pub(super) fn signed_in_user(&self) -> Option<&OidcUser> {
        let sub = self.signed_in.as_deref()?;
        self.users.iter().find(|u| u.sub == sub)
    }
}

/// An authorization code and everything it was issued for.
pub(super) struct IssuedCode {
    pub(super) client_id: String,
    pub(super) tenant: String,
    pub(super) redirect_uri: String,
    pub(super) sub: String,
    pub(super) nonce: String,
    pub(super) code_challenge: String,
    pub(super) scope: String,
    pub(super) issued_at: Instant,
    pub(super) redeemed: bool,
}

pub(super) struct SimState {
    /// `http://127.0.0.1:PORT` or `https://localhost:PORT`, no trailing slash.
    pub(super) origin: String,
    /// By lower-cased client id (Entra's client ids are GUIDs, case-insensitive).
    pub(super) clients: HashMap<String, Client>,
    /// By lower-cased tenant.
    pub(super) tenants: HashMap<String, Tenant>,
    pub(super) codes: HashMap<String, IssuedCode>,
    pub(super) token_requests: Vec<TokenRequest>,
    pub(super) code_lifetime: Duration,
}

impl SimState {
    pub(super) fn new() -> SimState {
        SimState {
            origin: String::new(),
            clients: HashMap::new(),
            tenants: HashMap::new(),
            codes: HashMap::new(),
            token_requests: Vec::new(),
            // "Authorization codes are short lived, typically they expire after about 10
            // minutes" (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow).
            code_lifetime: Duration::from_secs(600),
        }
    }

    pub(super) fn client(&self, client_id: &str) -> Option<&Client> {
        self.clients.get(&client_id.to_ascii_lowercase())
    }

    pub(super) fn tenant(&self, tenant: &str) -> Option<&Tenant> {
        self.tenants.get(&tenant.to_ascii_lowercase())
    }

    pub(super) fn tenant_mut(&mut self, tenant: &str) -> Option<&mut Tenant> {
        self.tenants.get_mut(&tenant.to_ascii_lowercase())
    }

    /// `{origin}/{tenant}/v2.0`, the tenant lower-cased as Entra prints tenant ids.
    pub(super) fn issuer(&self, tenant: &str) -> String {
        format!("{}/{}/v2.0", self.origin, tenant.to_ascii_lowercase())
    }
}

#[derive(Clone)]
pub(super) struct Shared(pub(super) Arc<Mutex<SimState>>);

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, SimState> {
        // A panicking test thread must not wedge every other request.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}
