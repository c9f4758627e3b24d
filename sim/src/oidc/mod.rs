//! A contract-faithful fake of the Microsoft identity platform as an OpenID Connect provider:
//! the authorization code flow with PKCE that a web app's "Sign in with Microsoft" uses
//! (https://learn.microsoft.com/entra/identity-platform/v2-protocols-oidc and
//! https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow).
//!
//! Paths are Entra's, for any tenant the test registered ([`OidcSim::add_tenant`],
//! [`OidcSim::add_user`]):
//!
//! * `GET /{tenant}/v2.0/.well-known/openid-configuration`: the discovery document. Like
//!   Entra's, it does not advertise `code_challenge_methods_supported`, so a client must not
//!   depend on it.
//! * `GET /{tenant}/oauth2/v2.0/authorize`: requests it cannot trust to redirect (unknown
//!   tenant or client, unregistered `redirect_uri`) get an error page; other mistakes go back
//!   to `redirect_uri` with `error`/`error_description`/`state`. PKCE with `S256` and a `nonce`
//!   are demanded (the strict reading). The person set with [`OidcSim::sign_in_as`] signs in
//!   (or refuses, [`OidcSim::refuse_next_sign_in`]) and the browser goes back with a `code`.
//! * `POST /{tenant}/oauth2/v2.0/token`: `authorization_code` only, client secret in the body
//!   or HTTP Basic; codes are single-use, expire after 10 minutes and belong to their client,
//!   tenant and `redirect_uri`; the `code_verifier` must match. Errors carry Entra's
//!   `error_codes`, `trace_id`, `correlation_id`. The `id_token` is RS256-signed with the
//!   test-only key `sim/fixtures/oidc-signing-key.pem`, and can be spoiled on purpose
//!   ([`OidcSim::tamper_next_id_token`]).
//! * `GET /{tenant}/discovery/v2.0/keys`: the JWKS with that key.
//!
//! ```no_run
//! # async fn demo() {
//! use jitgate_sim::oidc::{OidcSim, OidcUser};
//! let sim = OidcSim::start(None).await;
//! sim.register_client("client-id", "s3cret", ["https://jitgate.example/console/oidc/callback"]);
//! sim.add_user("tenant-id", OidcUser::new("sub-1", "oid-1", "Ada Admin", "ada@msp.example"));
//! sim.sign_in_as("tenant-id", "sub-1");
//! // point the client at sim.issuer("tenant-id"), then inspect sim.token_requests().
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
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::graph::new_guid;
use crate::tls::{SimServer, TestCa, spawn};

/// `/{tenant}/oauth2/v2.0/authorize`: validation, the simulated sign-in, the code.
mod authorize;
/// The discovery document and the JWKS.
mod discovery;
/// Entra's error page, error redirects and token-endpoint error bodies.
mod errors;
/// [`OidcSim`]: start, register clients and users, inject faults, inspect token requests.
mod handle;
/// The RSA signing key, the JWK and RS256 JWTs.
mod signing;
/// Public configuration ([`OidcUser`], [`IdTokenFault`], [`TokenRequest`]) and shared state.
mod state;
#[cfg(test)]
mod tests;
/// `/{tenant}/oauth2/v2.0/token`: the code redemption and the tokens.
mod token;

use authorize::*;
use discovery::*;
use errors::*;
pub use handle::OidcSim;
use signing::*;
use state::*;
pub use state::{IdTokenFault, OidcUser, TokenRequest};
use token::*;

fn router(state: Shared) -> Router {
    Router::new()
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(openid_configuration),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(keys))
        .route("/{tenant}/oauth2/v2.0/authorize", get(authorize))
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .with_state(state)
}

fn query_params(raw: Option<&str>) -> HashMap<String, String> {
    raw.map(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .collect()
    })
    .unwrap_or_default()
}

fn random_token() -> String {
    use base64::Engine as _;
    use rand::RngExt as _;
    let bytes: [u8; 32] = rand::rng().random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn base64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
