//! How much load each measure uses: the full run (the figures in BENCHMARKS.md) or `--short`
//! (CI: small counts, a few seconds each, so the benchmark cannot rot).

use std::time::Duration;

pub struct Plan {
    pub short: bool,
    /// Idle: how long CPU use is watched after start.
    pub idle_window: Duration,
    /// 1: closed-loop bound (time and count), connections, and the open-loop run's length.
    pub ignored_time: Duration,
    pub ignored_max: usize,
    pub ignored_connections: usize,
    pub open_loop_time: Duration,
    pub open_loop_connections: usize,
    /// 2: accepted requests.
    pub accepted_time: Duration,
    pub accepted_max: usize,
    pub accepted_connections: usize,
    /// 3: end-to-end requests and the rate they are sent at.
    pub e2e_requests: usize,
    pub e2e_rate: f64,
    /// 4: grants, their duration, and the window they are requested (and so expire) over.
    pub expiry_grants: usize,
    pub expiry_duration: Duration,
    pub expiry_spread: Duration,
    /// 5: grants and customers inserted, sweeper passes watched.
    pub scale_grants: usize,
    pub scale_customers: usize,
    pub scale_passes: usize,
    /// Customers and technicians of the MSP in the main instance.
    pub customers: usize,
}

impl Plan {
    pub fn new(short: bool) -> Plan {
        if short {
            Plan {
                short,
                idle_window: Duration::from_secs(2),
                ignored_time: Duration::from_secs(1),
                ignored_max: 50_000,
                ignored_connections: 32,
                open_loop_time: Duration::from_secs(1),
                open_loop_connections: 64,
                accepted_time: Duration::from_secs(1),
                accepted_max: 5_000,
                accepted_connections: 16,
                e2e_requests: 20,
                e2e_rate: 10.0,
                expiry_grants: 50,
                expiry_duration: Duration::from_secs(3),
                expiry_spread: Duration::from_secs(5),
                scale_grants: 5_000,
                scale_customers: 250,
                scale_passes: 2,
                customers: 5,
            }
        } else {
            Plan {
                short,
                idle_window: Duration::from_secs(10),
                ignored_time: Duration::from_secs(5),
                ignored_max: 500_000,
                ignored_connections: 32,
                open_loop_time: Duration::from_secs(5),
                open_loop_connections: 64,
                accepted_time: Duration::from_secs(10),
                accepted_max: 60_000,
                accepted_connections: 16,
                e2e_requests: 200,
                e2e_rate: 10.0,
                expiry_grants: 1_000,
                expiry_duration: Duration::from_secs(10),
                expiry_spread: Duration::from_secs(60),
                scale_grants: 100_000,
                scale_customers: 5_000,
                scale_passes: 5,
                customers: 50,
            }
        }
    }
}
