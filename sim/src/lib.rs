//! Contract-faithful simulators of Microsoft Graph (with the Entra login endpoint) and of the
//! PSA APIs jitgate talks to, and of Entra as the OpenID Connect provider the console signs in
//! with ([`oidc`]). Used by the integration tests, the benchmarks and the demo, which also share
//! the world they set up ([`world`]).
//!
//! They are strict on purpose: they demand the right auth headers and required fields, answer
//! with the vendors' documented error shapes, throttle with 429 + `Retry-After` when told to, and
//! simulate Entra's replication lag. A fake that accepts anything proves nothing.

pub mod autotask;
pub mod connectwise;
pub mod graph;
pub mod halopsa;
pub mod oidc;
pub mod tls;
pub mod world;
