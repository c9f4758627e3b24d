//! The Graph simulator's pace (how long its calls, tokens and replication take, and how often
//! it throttles), and the floor a pace puts under a rush: the time the unavoidable sequential
//! Graph calls and the replication lag take at that pace, computed from the settings, never
//! measured.
//!
//! Until `jitgate_sim::graph::Pace` lands (branch sim-pace), this is a shim with the same
//! fields: [`apply`] gives the simulator the midpoints of the ranges it can take today.

use jitgate_sim::graph::GraphSim;
use std::time::Duration;

/// A Graph tenant's request budget (shim of `jitgate_sim::graph::TenantBudget`).
#[derive(Debug, Clone, Copy, PartialEq)]
#[allow(dead_code)]
pub struct TenantBudget {
    pub resource_units: u32,
    pub ru_window: Duration,
    pub writes: u32,
    pub write_window: Duration,
}

/// How the simulator paces its answers (shim of `jitgate_sim::graph::Pace`): each range is
/// drawn from uniformly per request.
#[derive(Debug, Clone, PartialEq)]
pub struct Pace {
    pub call_latency: (Duration, Duration),
    pub token_latency: (Duration, Duration),
    pub replication_lag: (Duration, Duration),
    pub throttle_share: f64,
    pub throttle_retry_after: Duration,
    pub budget: Option<TenantBudget>,
    pub seed: u64,
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

impl Pace {
    /// Calls 80–250 ms, tokens 100–300 ms, replication 2–5 s, 1 % of calls throttled with
    /// `Retry-After: 1`, and a small tenant's budget.
    pub fn realistic(seed: u64) -> Pace {
        Pace {
            call_latency: (ms(80), ms(250)),
            token_latency: (ms(100), ms(300)),
            replication_lag: (ms(2_000), ms(5_000)),
            throttle_share: 0.01,
            throttle_retry_after: Duration::from_secs(1),
            budget: None,
            seed,
        }
    }
}

fn midpoint((lo, hi): (Duration, Duration)) -> Duration {
    (lo + hi) / 2
}

/// Give `sim` the pace, as far as the simulator of today can take it: fixed midpoints.
pub fn apply(sim: &GraphSim, pace: &Pace) {
    sim.set_latency(midpoint(pace.call_latency));
    sim.set_replication_lag(midpoint(pace.replication_lag));
}

/// Back to answering at once.
pub fn clear(sim: &GraphSim) {
    sim.set_latency(Duration::ZERO);
    sim.set_replication_lag(Duration::ZERO);
}

/// Graph requests the simulator answered (token requests excluded).
pub fn graph_calls(sim: &GraphSim) -> u64 {
    sim.request_log()
        .iter()
        .filter(|r| !r.path.contains("/oauth2/"))
        .count() as u64
}

/// Requests inside `$batch` bodies (the simulator of today cannot count them).
pub fn batched_requests(_sim: &GraphSim) -> u64 {
    0
}
