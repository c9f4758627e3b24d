//! Browser sessions of signed-in technicians: the cookie, the `SignedIn` extractor, and CSRF
//! protection for every form (`SignedForm`).
//!
//! The cookie is HttpOnly and `SameSite=Lax` (a technician opening jitgate from a link in a
//! ticket arrives signed in; cross-site POSTs carry no cookie), `Secure` with the `__Host-`
//! prefix when `public_url` is https. Every form carries a CSRF token derived from the
//! session's cookie token, which a cross-site page cannot read, and a POST whose browser says
//! it came from another site is refused before the token is even looked at.

use super::error::AppError;
use super::extract::{Caller, ClientInfo, Principal};
use super::state::AppState;
use crate::domain::lifecycle::SignInMethod;
use crate::store::{self, sessions::ActiveSession, sessions::Lifetimes};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine as _;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;

/// The form field every signed-in form carries.
pub const CSRF_FIELD: &str = "_csrf";

/// The cookie's name: `__Host-` (browsers then insist on Secure, Path=/ and no Domain) when
/// jitgate is served over https.
pub fn cookie_name(state: &AppState) -> &'static str {
    if is_https(state) {
        "__Host-jitgate_session"
    } else {
        "jitgate_session"
    }
}

fn is_https(state: &AppState) -> bool {
    state.config.public_url.scheme() == "https"
}

pub fn lifetimes(state: &AppState) -> Lifetimes {
    Lifetimes {
        idle_ms: state.config.session_idle_timeout.get().as_millis() as i64,
        absolute_ms: state.config.session_max_age.get().as_millis() as i64,
    }
}

/// `Set-Cookie` for a new session.
pub fn set_cookie(state: &AppState, token: &str) -> HeaderValue {
    let secure = if is_https(state) { "; Secure" } else { "" };
    let max_age = state.config.session_max_age.get().as_secs();
    HeaderValue::from_str(&format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
        cookie_name(state)
    ))
    .expect("a token is URL-safe base64")
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie(state: &AppState) -> HeaderValue {
    let secure = if is_https(state) { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}",
        cookie_name(state)
    ))
    .expect("static text")
}

/// The session token from the request's cookies, if any.
fn cookie_token<'a>(state: &AppState, headers: &'a HeaderMap) -> Option<&'a str> {
    let name = cookie_name(state);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// The CSRF token of a session: a hash of its cookie token, so it needs no storage and a page
/// that cannot read the cookie cannot compute it.
fn csrf_token(cookie_token: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"jitgate csrf\0")
        .chain_update(cookie_token.as_bytes())
        .finalize();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
}

/// A signed-in technician, with what they may do in the console.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub session: ActiveSession,
    /// The customers they administer (customer admin); empty for MSP admins and for
    /// technicians without admin rights.
    pub administers: Vec<String>,
    /// For every form of the session's pages.
    pub csrf: String,
    pub client: ClientInfo,
}

impl SignedIn {
    /// An MSP admin, or an admin of at least one customer: may use the console.
    pub fn is_console_user(&self) -> bool {
        self.session.is_admin || !self.administers.is_empty()
    }

    /// The same caller the admin API sees, so console pages run the API's own checks.
    pub fn caller(&self) -> Caller {
        Caller {
            principal: Principal::Session {
                session_id: self.session.id.clone(),
                technician_id: self.session.technician_id.clone(),
            },
            name: self.session.display_name.clone(),
            is_admin: self.session.is_admin,
            customers: self.administers.clone(),
        }
    }

    pub fn method(&self) -> SignInMethod {
        self.session.method
    }
}

/// Why a request has no usable session.
#[derive(Debug)]
pub enum NoSession {
    /// Not signed in (or the session ended, expired or idled out): sign in, then come back.
    SignIn {
        next: String,
    },
    Internal(AppError),
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = NoSession;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let next = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/console".into());
        let Some(token) = cookie_token(state, &parts.headers).map(str::to_string) else {
            return Err(NoSession::SignIn { next });
        };
        let internal = |e: store::StoreError| NoSession::Internal(e.into());
        let session = store::sessions::find(&state.db, &token, lifetimes(state))
            .await
            .map_err(internal)?
            .ok_or(NoSession::SignIn { next })?;
        store::sessions::touch(&state.db, &session)
            .await
            .map_err(internal)?;
        let administers = if session.is_admin {
            Vec::new()
        } else {
            store::technicians::administered_customers(&state.db, &session.technician_id)
                .await
                .map_err(internal)?
        };
        let client = ClientInfo::from_request_parts(parts, state)
            .await
            .unwrap_or_default();
        Ok(SignedIn {
            session,
            administers,
            csrf: csrf_token(&token),
            client,
        })
    }
}

/// Whether the browser says the request came from another site (`Sec-Fetch-Site`, sent by
/// every current browser), or its `Origin` is not jitgate's own.
fn cross_site(state: &AppState, headers: &HeaderMap) -> bool {
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if matches!(fetch_site, Some("cross-site" | "same-site")) {
        return true;
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let own = state.config.public_url.origin().ascii_serialization();
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    // Behind a proxy public_url is the address browsers use; reached directly (tests, a
    // first run on another port) the Host header is.
    origin != own
        && !host
            .is_some_and(|h| origin == format!("http://{h}") || origin == format!("https://{h}"))
}

/// A form posted from one of the session's own pages: the session, the CSRF token checked,
/// and the fields as `T`. Anything else is refused before the handler runs.
pub struct SignedForm<T> {
    pub signed_in: SignedIn,
    pub form: T,
}

/// Why a signed form was refused.
#[derive(Debug)]
pub enum FormRefused {
    NoSession(NoSession),
    /// A missing or wrong CSRF token, or a cross-site post.
    Forged,
    /// The fields do not parse (a hand-made request: the pages send valid shapes).
    Malformed(String),
}

impl<T: DeserializeOwned> FromRequest<AppState> for SignedForm<T> {
    type Rejection = FormRefused;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let signed_in = SignedIn::from_request_parts(&mut parts, state)
            .await
            .map_err(FormRefused::NoSession)?;
        if cross_site(state, &parts.headers) {
            return Err(FormRefused::Forged);
        }
        let bytes = axum::body::to_bytes(body, 256 * 1024)
            .await
            .map_err(|e| FormRefused::Malformed(e.to_string()))?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| FormRefused::Malformed(e.to_string()))?;
        let sent = pairs
            .iter()
            .find(|(k, _)| k == CSRF_FIELD)
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        if !bool::from(sent.as_bytes().ct_eq(signed_in.csrf.as_bytes())) {
            return Err(FormRefused::Forged);
        }
        let form = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| FormRefused::Malformed(e.to_string()))?;
        Ok(SignedForm { signed_in, form })
    }
}

#[cfg(test)]
mod tests {
    use super::csrf_token;

    #[test]
    fn csrf_tokens_differ_per_session_and_hide_the_cookie() {
        let a = csrf_token("cookie-a");
        assert_ne!(a, csrf_token("cookie-b"));
        assert_eq!(a, csrf_token("cookie-a"));
        assert!(!a.contains("cookie-a"));
    }
}
