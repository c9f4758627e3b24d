//! Integration tests of the PSA connectors, in one test binary: each connector's module (in
//! `tests/psa/`) drives it through `jitgate_connectors::build` against the simulators of
//! `jitgate-sim` over real HTTP.

#[path = "psa/halopsa.rs"]
mod halopsa;
#[path = "psa/standard_webhooks.rs"]
mod standard_webhooks;
