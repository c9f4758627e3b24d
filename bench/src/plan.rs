//! How much load each measure uses: the full run (the figures in BENCHMARKS.md) or `--short`
//! (CI: small counts, a few seconds each, so the benchmark cannot rot).

use jitgate_sim::graph::Pace;
use std::time::Duration;

pub struct Plan {
    pub short: bool,
    /// Idle: how long CPU use is watched after start.
    pub idle_window: Duration,
    /// 1: closed-loop bound (time and count), connections, and the open-loop run's length.
    pub ignored_time: Duration,
    pub ignored_max: usize,
    pub ignored_connections: usize,
    /// jitgate/bare pairs run; the median ratio is the figure (one pair swung 0.45–0.67).
    pub ignored_pairs: usize,
    /// The open-loop run: a fixed rate of ignored deliveries for `open_loop_time`.
    pub open_loop_rate: f64,
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
    /// Morning rush and end rush (issue 16).
    pub rush: Rush,
}

/// The rushes of issue 16: requests (or ends) spread over a window across many tenants, with
/// the Graph simulator at a realistic pace.
pub struct Rush {
    pub tenants: usize,
    pub technicians: usize,
    /// Morning rush: requests, and the window their arrival times are drawn over.
    pub requests: usize,
    pub request_window: Duration,
    /// End rush: grants whose expiries are spread evenly over `end_window`, the first
    /// `end_lead` after they are written.
    pub ends: usize,
    pub end_window: Duration,
    pub end_lead: Duration,
    /// How long after the last scheduled request or end the benchmark waits for stragglers;
    /// what is not done by then counts as lost (and is named in a note).
    pub grace: Duration,
    /// How often the simulators are looked at (the resolution of the morning rush's figures).
    pub watch_every: Duration,
    pub pace: Pace,
}

/// The seed of every draw of the rushes (arrival times, the pace, the floor): issue 16.
const RUSH_SEED: u64 = 16;

impl Rush {
    fn short() -> Rush {
        let ms = Duration::from_millis;
        // A tenth of the realistic pace, so a short run takes seconds; the throttle's
        // Retry-After stays a whole second as Graph sends it.
        let mut pace = Pace::realistic(RUSH_SEED);
        pace.call_latency = (ms(8), ms(25));
        pace.token_latency = (ms(10), ms(30));
        pace.replication_lag = (ms(200), ms(500));
        Rush {
            tenants: 8,
            technicians: 40,
            requests: 40,
            request_window: Duration::from_secs(5),
            ends: 40,
            end_window: Duration::from_secs(5),
            // Past the sweeper's regular pass (5 s by default): grants written straight into
            // the file are seen at that pass, not at the expiry-driven one.
            end_lead: Duration::from_secs(8),
            grace: Duration::from_secs(20),
            watch_every: ms(5),
            pace,
        }
    }

    fn full() -> Rush {
        Rush {
            tenants: 200,
            technicians: 1_000,
            requests: 1_000,
            request_window: Duration::from_secs(60),
            ends: 1_000,
            end_window: Duration::from_secs(60),
            end_lead: Duration::from_secs(20),
            // Long enough for a slow jitgate to finish (8 ends at a time of ~10 calls each
            // would need ~3.5 min for 1,000), so slowness shows as lateness, not as loss.
            grace: Duration::from_secs(300),
            watch_every: Duration::from_millis(10),
            pace: Pace::realistic(RUSH_SEED),
        }
    }
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
                ignored_pairs: 3,
                open_loop_rate: 5_000.0,
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
                rush: Rush::short(),
            }
        } else {
            Plan {
                short,
                idle_window: Duration::from_secs(10),
                ignored_time: Duration::from_secs(5),
                ignored_max: 500_000,
                ignored_connections: 32,
                ignored_pairs: 3,
                open_loop_rate: 5_000.0,
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
                rush: Rush::full(),
            }
        }
    }
}
