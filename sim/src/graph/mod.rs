//! A contract-faithful fake of Microsoft Graph v1.0 and of the Entra ID token endpoint.
//!
//! One server answers both `POST /{tenant}/oauth2/v2.0/token` (client credentials) and the
//! Graph calls jitgate makes under `/v1.0/…`, for any number of simulated customer tenants.
//! It is strict where Microsoft is strict (Graph v1.0 reference,
//! https://learn.microsoft.com/graph/api/overview, and the Entra error codes,
//! https://learn.microsoft.com/entra/identity-platform/reference-error-codes):
//!
//! * tokens: unknown tenant → AADSTS90002, unknown client → 700016, wrong secret → 7000215,
//!   expired secret → 7000222, wrong scope → 1002012/500011; a client assertion (certificate
//!   credential, only for apps with registered certificates: [`AppRegistration::certificates`])
//!   is checked strictly: unknown certificate or bad signature → 700027, outside its time
//!   range → 700024, wrong audience → 700023; bodies carry `error_codes`,
//!   `trace_id`, `correlation_id` exactly like Entra. Tokens are JWT-shaped with the claims
//!   jitgate reads (`tid`, `oid` of the app's service principal, `appid`, `roles` = the
//!   consented [`CONSENTED_PERMISSIONS`], `exp`), bound to a tenant, and Graph accepts only
//!   tokens this simulator issued.
//! * admin consent: `/{tenant}/adminconsent` redirects back with Entra's answers for the MSP's
//!   multi-tenant app ([`GraphSim::register_app`], [`ConsentAnswer`]); once consented, the app
//!   gets tokens for that tenant with its own secret.
//! * domains (`GET /domains`, needs Domain.Read.All): default, initial `*.onmicrosoft.com`,
//!   unverified and federated ones; users can be created only on verified managed domains.
//! * role definitions (the built-in [`BUILT_IN_ROLES`]); the app's own directory role shows as
//!   an assignment to its service principal ([`TenantSpec::app_object_id`]).
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
//!   [`GraphSim::set_latency`]. Faults match requests inside a `$batch` too (and the batch
//!   itself, a `/v1.0/` call like any other).
//! * JSON batching, `POST /v1.0/$batch` (https://learn.microsoft.com/graph/json-batching):
//!   `{"requests":[{"id","method","url","headers"?,"body"?,"dependsOn"?}]}` with at most 20
//!   requests; ids unique (case-insensitive); `url` relative to the version (`/users/{id}` or
//!   `users/{id}`), absolute ones refused; a `body` needs `headers` with a `Content-Type`
//!   (here `application/json`); `dependsOn` may only name earlier requests (Graph answers
//!   "Invalid dependency for request Id", see
//!   https://github.com/microsoftgraph/msgraph-sdk-dotnet-core/issues/891). Any of these
//!   broken → 400 in Graph's error shape, and nothing runs. The batch needs a valid bearer;
//!   each request then runs with the batch's authorization through the same router and
//!   handlers, in order, so every rule here applies inside a batch. The answer is 200
//!   `{"responses":[{"id","status","headers","body"?}]}`, in REVERSE request order (the page:
//!   responses "might appear in a different order"); a request whose dependency answered
//!   non-2xx is not run and gets 424 with a `FailedDependency` error body (the page gives
//!   the status only). Inner requests are logged with [`LoggedRequest::batched`].
//! * pace ([`GraphSim::set_pace`], off by default: without it every answer is immediate and
//!   the rest of this list is inert):
//!   - determinism: every draw is a hash of (seed, tenant, that tenant's sequence number,
//!     purpose), not a shared random generator: the same requests in the same order per
//!     tenant get the same latencies, 429s and lags whatever other tenants do meanwhile.
//!     A tenant's sequence counts its token requests, Graph calls and inner batch requests
//!     in arrival order; calls without a valid bearer share the sequence of tenant "".
//!   - latency: [`Pace::call_latency`] per Graph call (a `$batch` is one call, its requests
//!     add none, as batching saves round trips), [`Pace::token_latency`] per token request,
//!     both before the handler runs and on top of any [`GraphSim::set_latency`].
//!   - replication lag: each created user stays unreplicated for a draw from
//!     [`Pace::replication_lag`] (instead of the fixed [`GraphSim::set_replication_lag`]).
//!   - random 429s: [`Pace::throttle_share`] of Graph calls answer 429 `TooManyRequests`
//!     with `Retry-After` ([`Pace::throttle_retry_after`], whole seconds, at least 1) and
//!     change nothing; Graph may throttle below its published limits "when the services are
//!     under an important load" (https://learn.microsoft.com/graph/throttling-limits).
//!     Inside a batch the 429 is per request, with `Retry-After` in its `headers`
//!     ("Requests in a batch are evaluated individually against the applicable throttling
//!     limits", https://learn.microsoft.com/graph/json-batching); the envelope is never
//!     throttled by the pace.
//!   - budget ([`Pace::budget`], [`TenantBudget`]): sliding windows per app+tenant, costed
//!     by the identity-and-access table of https://learn.microsoft.com/graph/throttling-limits
//!     (writes 1 RU and 1 write; `GET` under `users` 2 RU, other GETs 1; `$select` −1,
//!     `$expand` +1, `$top` under 20 −1, never below 1). Over either limit → 429 with
//!     `Retry-After` = whole seconds until the window has room for the request,
//!     `x-ms-throttle-scope: Tenant_Application/Write/{appId}/{tenantId}` (or `/ReadWrite/`
//!     for resource units) and `x-ms-throttle-information: WriteLimitExceeded` (or
//!     `ResourceUnitLimitExceeded`). Throttled requests still count ("Microsoft Graph
//!     continues to log resource usage while a client is being throttled",
//!     https://learn.microsoft.com/graph/throttling). Only calls with a valid bearer are
//!     costed (the others get 401); the `$batch` envelope costs nothing, each of its
//!     requests its own cost. A spent budget is checked before the random share.
//!   - counters: [`GraphSim::graph_calls`] (a `$batch` once, token requests never) and
//!     [`GraphSim::batched_requests`] count with or without a pace.
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

// The parts below are one simulator cut along its seams, not independent modules: each takes
// these imports and its siblings' items with `use super::*`, as the single file it was did.
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

/// Client assertions (certificate credentials) and the test-only certificates.
mod assertion;
/// JSON batching, `POST /v1.0/$batch`.
mod batch;
/// The admin-consent page stand-in (`/{tenant}/adminconsent`).
mod consent;
/// `domains` and `roleManagement/directory/roleDefinitions`.
mod directory;
/// Graph's error shape, bearer-token checks and request helpers shared by the Graph handlers.
mod errors;
/// [`GraphSim`]: start, seed tenants, inject faults, inspect what was written.
mod handle;
/// Graph's pace: deterministic draws, latency, replication lag, random 429s, the budget.
mod pace;
/// `roleManagement/directory/roleAssignments`.
mod roles;
/// The router and the per-request bookkeeping: ids, latency, faults, the request log.
mod router;
/// Public configuration ([`TenantSpec`], [`Fault`], …) and views of the state ([`SimUser`], …).
mod spec;
/// The tenants, users and tokens the handlers share.
mod state;
/// `users/{id}/authentication/temporaryAccessPassMethods`.
mod tap;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_pace;
/// The Entra token endpoint (`/{tenant}/oauth2/v2.0/token`, client credentials).
mod token;
/// `users`: create, read, list, update, delete, revoke sessions.
mod users;
/// GUIDs, tokens, timestamps and header values.
mod util;

use assertion::*;
pub use assertion::{
    JWT_BEARER, REGISTERED_CERTIFICATE_PEM, REGISTERED_CERTIFICATE_PKCS1_PEM,
    UNREGISTERED_CERTIFICATE_PEM, certificate_der,
};
use batch::*;
use consent::*;
pub use directory::BUILT_IN_ROLES;
use directory::*;
use errors::*;
pub use handle::*;
use pace::*;
use roles::*;
use router::*;
pub use spec::*;
pub use state::CONSENTED_PERMISSIONS;
use state::*;
use tap::*;
use token::*;
pub use users::password_meets_entra_rules;
use users::*;
pub use util::new_guid;
use util::*;
