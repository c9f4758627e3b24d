//! Prometheus metrics, served as text at `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    pub connector: String,
    /// accepted | ignored | duplicate | unauthorized | invalid | unavailable
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    pub queue: &'static str,
    /// ok | rescheduled | failed
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StepLabels {
    pub step: &'static str,
}

pub struct Metrics {
    registry: Registry,
    pub deliveries: Family<DeliveryLabels, Counter>,
    pub jobs: Family<JobLabels, Counter>,
    pub grants_started: Counter,
    pub grants_ended: Family<ReasonLabels, Counter>,
    pub grant_end_failures: Counter,
    /// Failed steps of ending access (including follow-ups retried after the end), by step.
    pub grant_end_step_failures: Family<StepLabels, Counter>,
    /// Ended grants with a follow-up step (password rotation, session revocation, …) still
    /// failing, as of the sweeper's last look.
    pub grants_with_failing_follow_ups: Gauge,
    /// Grants past their expiry and not yet verified ended, as of the last sweep.
    pub overdue_grants: Gauge,
    pub reveals: Counter,
    /// Wall time of the sweeper's last pass, and how many passes ran: shows the sweeper keeps
    /// up however many grants are open (and lets the benchmark read a pass's cost).
    pub sweeper_last_pass_seconds: Gauge<f64, AtomicU64>,
    pub sweeper_passes: Counter,
    /// Grants whose end the sweeper could not run in a pass (storage failed, or the end
    /// panicked); the pass went on with the other grants.
    pub sweeper_grant_errors: Counter,
    /// Sweeper passes that failed as a whole (the grants to end could not be read).
    pub sweeper_failed_passes: Counter,
    /// Delivery log entries dropped because the writer's queue was full (the deliveries
    /// themselves were answered as usual).
    pub delivery_log_dropped: Counter,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("jitgate");
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "webhook_deliveries",
            "Webhook deliveries by connector and outcome",
            deliveries.clone(),
        );
        let jobs = Family::<JobLabels, Counter>::default();
        registry.register("jobs", "Jobs run by queue and outcome", jobs.clone());
        let grants_started = Counter::default();
        registry.register(
            "grants_started",
            "JIT grants started or extended",
            grants_started.clone(),
        );
        let grants_ended = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "grants_ended",
            "JIT grants ended and verified, by reason",
            grants_ended.clone(),
        );
        let grant_end_failures = Counter::default();
        registry.register(
            "grant_end_failures",
            "Failed attempts to end a grant",
            grant_end_failures.clone(),
        );
        let grant_end_step_failures = Family::<StepLabels, Counter>::default();
        registry.register(
            "grant_end_step_failures",
            "Failed steps of ending access (remove_roles, disable, revoke_sessions, delete_taps, rotate_password, delete_account, read_back)",
            grant_end_step_failures.clone(),
        );
        let grants_with_failing_follow_ups = Gauge::default();
        registry.register(
            "grants_with_failing_follow_ups",
            "Ended grants whose password rotation, session revocation or other follow-up step still fails",
            grants_with_failing_follow_ups.clone(),
        );
        let overdue_grants = Gauge::default();
        registry.register(
            "overdue_grants",
            "Grants past expiry not yet verified ended",
            overdue_grants.clone(),
        );
        let reveals = Counter::default();
        registry.register(
            "credential_reveals",
            "Credential page reveals",
            reveals.clone(),
        );
        let sweeper_last_pass_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "sweeper_last_pass_seconds",
            "Wall time of the sweeper's last pass",
            sweeper_last_pass_seconds.clone(),
        );
        let sweeper_passes = Counter::default();
        registry.register(
            "sweeper_passes",
            "Sweeper passes completed",
            sweeper_passes.clone(),
        );
        let sweeper_grant_errors = Counter::default();
        registry.register(
            "sweeper_grant_errors",
            "Grants the sweeper could not end in a pass because storage failed or the end panicked",
            sweeper_grant_errors.clone(),
        );
        let sweeper_failed_passes = Counter::default();
        registry.register(
            "sweeper_failed_passes",
            "Sweeper passes that could not read the grants to end",
            sweeper_failed_passes.clone(),
        );
        let delivery_log_dropped = Counter::default();
        registry.register(
            "delivery_log_dropped",
            "Delivery log entries dropped because the log writer's queue was full",
            delivery_log_dropped.clone(),
        );
        Metrics {
            registry,
            deliveries,
            jobs,
            grants_started,
            grants_ended,
            grant_end_failures,
            grant_end_step_failures,
            grants_with_failing_follow_ups,
            overdue_grants,
            reveals,
            sweeper_last_pass_seconds,
            sweeper_passes,
            sweeper_grant_errors,
            sweeper_failed_passes,
            delivery_log_dropped,
        }
    }

    pub fn delivery(&self, connector: &str, outcome: &'static str) {
        self.deliveries
            .get_or_create(&DeliveryLabels {
                connector: connector.to_string(),
                outcome,
            })
            .inc();
    }

    /// Deliveries to the connector refused since this process started (bad signature or
    /// unreadable body), for the console's dashboard.
    pub fn refused_deliveries(&self, connector: &str) -> u64 {
        ["unauthorized", "invalid"]
            .into_iter()
            .filter_map(|outcome| {
                self.deliveries
                    .get(&DeliveryLabels {
                        connector: connector.to_string(),
                        outcome,
                    })
                    .map(|c| c.get())
            })
            .sum()
    }

    pub fn job(&self, queue: &'static str, outcome: &'static str) {
        self.jobs.get_or_create(&JobLabels { queue, outcome }).inc();
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
