//! The floor of a rush: what the unavoidable sequential Graph calls and the replication lag
//! take at the simulator's pace, whatever jitgate does. Computed from the pace's settings (never
//! measured): 100,000 draws, with the pace's seed, of the sum of the unavoidable parts of one
//! request or one end; the p99 of those draws is what a rush's p99 is compared with.

use crate::rng::SplitMix64;
use crate::stats::Samples;
use jitgate_sim::graph::Pace;
use std::time::Duration;

/// Draws of the floor's distribution.
const DRAWS: usize = 100_000;

/// The unavoidable parts of one unit of work (a provision or an end), in order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Work {
    /// Sequential Graph calls before the replication lag.
    pub calls_before_lag: u32,
    /// Whether the work waits out the replication lag of a user it just created.
    pub waits_for_replication: bool,
    /// Sequential Graph calls after it.
    pub calls_after_lag: u32,
    /// Share of units that need a token first (the first unit of each tenant).
    pub token_share: f64,
}

impl Work {
    /// Provision: create the user, wait for it to replicate, assign the role.
    pub fn provision(tenants: usize, requests: usize) -> Work {
        Work {
            calls_before_lag: 1,
            waits_for_replication: true,
            calls_after_lag: 1,
            token_share: first_of_tenant_share(tenants, requests),
        }
    }

    /// End: list role assignments, delete the assignment, disable, read back.
    pub fn end(tenants: usize, ends: usize) -> Work {
        Work {
            calls_before_lag: 4,
            waits_for_replication: false,
            calls_after_lag: 0,
            token_share: first_of_tenant_share(tenants, ends),
        }
    }
}

fn first_of_tenant_share(tenants: usize, units: usize) -> f64 {
    tenants.min(units) as f64 / units.max(1) as f64
}

/// The floor's p99 and mean.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Floor {
    pub p99: Duration,
    pub mean: Duration,
}

/// Draw the floor of `work` at `pace`.
pub fn floor(pace: &Pace, work: Work) -> Floor {
    let mut rng = SplitMix64::new(pace.seed);
    let mut samples = Samples::default();
    let mut total = Duration::ZERO;
    for _ in 0..DRAWS {
        let d = draw(pace, work, &mut rng);
        total += d;
        samples.push(d);
    }
    Floor {
        p99: samples.percentile(99.0),
        mean: total / DRAWS as u32,
    }
}

fn draw(pace: &Pace, work: Work, rng: &mut SplitMix64) -> Duration {
    let mut sum = Duration::ZERO;
    // The token endpoint is not Graph: its answers are not counted as throttled (the stricter
    // reading: a lower floor).
    if rng.unit() < work.token_share {
        sum += rng.between(pace.token_latency);
    }
    for _ in 0..work.calls_before_lag + work.calls_after_lag {
        sum += call(pace, rng);
    }
    if work.waits_for_replication {
        sum += rng.between(pace.replication_lag);
    }
    sum
}

/// One Graph call; throttled with probability `throttle_share`, it costs the `Retry-After`
/// wait and another call.
fn call(pace: &Pace, rng: &mut SplitMix64) -> Duration {
    let mut d = rng.between(pace.call_latency);
    if rng.unit() < pace.throttle_share {
        d += pace.throttle_retry_after + rng.between(pace.call_latency);
    }
    d
}

/// `p99 ÷ floor`, two decimals.
pub fn ratio(p99: Duration, floor: Duration) -> f64 {
    p99.as_secs_f64() / floor.as_secs_f64().max(1e-9)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(call: u64, lag: u64) -> Pace {
        let d = |ms| (Duration::from_millis(ms), Duration::from_millis(ms));
        Pace {
            call_latency: d(call),
            token_latency: d(100),
            replication_lag: d(lag),
            throttle_share: 0.0,
            throttle_retry_after: Duration::from_secs(1),
            budget: None,
            seed: 7,
        }
    }

    #[test]
    fn provision_floor_is_two_calls_and_the_lag_plus_a_token_for_first_requests() {
        let pace = fixed(100, 2_000);
        let every_first = floor(&pace, Work::provision(10, 10));
        assert_eq!(every_first.p99, Duration::from_millis(2_300));
        let none_first = floor(&pace, Work::provision(0, 10));
        assert_eq!(none_first.p99, Duration::from_millis(2_200));
    }

    #[test]
    fn end_floor_is_four_calls() {
        let f = floor(&fixed(100, 2_000), Work::end(0, 10));
        assert_eq!(f.p99, Duration::from_millis(400));
        assert_eq!(f.mean, Duration::from_millis(400));
    }

    #[test]
    fn throttling_lifts_the_tail() {
        let mut pace = fixed(100, 0);
        pace.throttle_share = 0.02;
        let f = floor(&pace, Work::end(0, 10));
        // With 4 calls at 2 %, about 8 % of ends see one throttle and 0.2 % two: the p99 has one.
        assert_eq!(f.p99, Duration::from_millis(1_500));
        // Mean 400 ms + 4 × 2 % × 1.1 s ≈ 488 ms.
        assert!(f.mean > Duration::from_millis(450) && f.mean < Duration::from_millis(530));
    }

    #[test]
    fn same_seed_same_floor() {
        let pace = Pace::realistic(42);
        assert_eq!(
            floor(&pace, Work::end(200, 1000)),
            floor(&pace, Work::end(200, 1000))
        );
    }
}
