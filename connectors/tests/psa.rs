//! Integration tests of the PSA connectors, in one test binary: each connector's module (in
//! `tests/psa/`) drives it through `jitgate_connectors::build` against the simulators of
//! `jitgate-sim` over real HTTP.

#[path = "psa/autotask.rs"]
mod autotask;
#[path = "psa/connectwise.rs"]
mod connectwise;
#[path = "psa/halopsa.rs"]
mod halopsa;
#[path = "psa/standard_webhooks.rs"]
mod standard_webhooks;
