//! What the two rushes of issue 16 share: an instance of their own (default settings, a fresh
//! SQLite file, simulators of their own so the pace and the counters are the rush's alone),
//! the MSP set up through the admin API with every tenant check done before the pace is set,
//! the Graph simulator's counters, and the rows for the floor and the round trips.

use crate::fixture::{Admin, Msp, Sims};
use crate::floor::{self, Floor};
use crate::plan::Rush;
use crate::process::{Jitgate, JitgateSettings};
use crate::report::Report;
use crate::stats::{Samples, fmt_duration};
use jitgate_sim::graph::Pace;
use sqlx::Row;
use std::path::Path;
use std::time::Duration;

/// How long the tenant checks of a fresh MSP may take (they run at the simulator's full speed).
const CHECKS_WITHIN: Duration = Duration::from_secs(180);

/// One rush's jitgate with its MSP. Stop it with [`Instance::stop`].
pub struct Instance {
    pub jitgate: Jitgate,
    pub sims: Sims,
    pub msp: Msp,
    pub sqlite_url: String,
    _dir: tempfile::TempDir,
}

impl Instance {
    /// Start jitgate with default settings (only the simulators' addresses and CA given), set
    /// up `rush.tenants` customers and `rush.technicians` technicians (`tenant_set` keeps their
    /// tenant ids apart from other instances'), and wait for every tenant check.
    pub async fn start(binary: &Path, rush: &Rush, tenant_set: u32) -> Result<Instance, String> {
        let sims = Sims::start().await;
        let dir = crate::process::data_dir()?;
        let sqlite_url = format!("sqlite://{}", dir.path().join("jitgate.db").display());
        let mut settings = JitgateSettings::new(binary, sqlite_url.clone());
        settings.graph_url = Some(sims.graph.graph_url().to_string());
        settings.login_url = Some(sims.graph.login_url().to_string());
        settings.ca_file = Some(sims.ca_file.clone());
        let jitgate = Jitgate::start(&settings, dir.path()).await?;
        let admin = Admin::new(&jitgate.url, &jitgate.admin_token);
        eprintln!(
            "setting up {} customers and {} technicians through the admin API",
            rush.tenants, rush.technicians
        );
        let msp = Msp::create(&admin, &sims, rush.tenants, rush.technicians, tenant_set).await?;
        wait_for_tenant_checks(&sqlite_url, rush.tenants).await?;
        Ok(Instance {
            jitgate,
            sims,
            msp,
            sqlite_url,
            _dir: dir,
        })
    }

    /// A read-only connection pool on the instance's database.
    pub async fn read_only(&self) -> Result<sqlx::SqlitePool, String> {
        sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect(&format!("{}?mode=ro", self.sqlite_url))
            .await
            .map_err(|e| e.to_string())
    }

    pub async fn stop(self) {
        self.sims.graph.clear_pace();
        self.jitgate.stop().await;
    }
}

/// Every customer's tenant check ran (a connection change queues one); a failed one would
/// refuse its requests, so it stops the rush.
async fn wait_for_tenant_checks(sqlite_url: &str, customers: usize) -> Result<(), String> {
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect(&format!("{sqlite_url}?mode=ro"))
        .await
        .map_err(|e| e.to_string())?;
    let deadline = tokio::time::Instant::now() + CHECKS_WITHIN;
    let result = loop {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, COALESCE(SUM(CASE WHEN status = 'fail' THEN 1 ELSE 0 END), 0) AS failed
             FROM tenant_checks",
        )
        .fetch_one(&pool)
        .await
        .map_err(|e| e.to_string())?;
        let (n, failed): (i64, i64) = (row.get("n"), row.get("failed"));
        if failed > 0 {
            break Err(format!("{failed} tenant checks failed"));
        }
        if n as usize >= customers {
            break Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            break Err(format!(
                "only {n} of {customers} tenant checks ran within {} s",
                CHECKS_WITHIN.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    pool.close().await;
    result
}

/// The Graph simulator's counters at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counters {
    pub graph_calls: u64,
    pub batched_requests: u64,
    pub token_requests: u64,
}

impl Counters {
    pub fn read(sims: &Sims) -> Counters {
        Counters {
            graph_calls: sims.graph.graph_calls(),
            batched_requests: sims.graph.batched_requests(),
            token_requests: sims.graph.total_token_requests() as u64,
        }
    }

    fn since(self, before: Counters) -> Counters {
        Counters {
            graph_calls: self.graph_calls.saturating_sub(before.graph_calls),
            batched_requests: self
                .batched_requests
                .saturating_sub(before.batched_requests),
            token_requests: self.token_requests.saturating_sub(before.token_requests),
        }
    }
}

/// `Graph calls per {unit}`: the simulator's counters between `before` and `after` over `count`;
/// and the pace, in a note.
pub fn report_round_trips(
    report: &mut Report,
    what: &str,
    unit: &str,
    count: usize,
    (before, after): (Counters, Counters),
    pace: &Pace,
) {
    let d = after.since(before);
    let number = what.split('.').next().unwrap_or(what);
    report.note(format!(
        "{number}. Graph at {} (seed {}); each tenant's token was fetched by its tenant check before the rush, so the floor's token (a tenant's first {unit}) is an upper bound of what the rush needed: {} token requests during the rush.",
        describe(pace),
        pace.seed,
        d.token_requests
    ));
    let per = |v: u64| v as f64 / count.max(1) as f64;
    report
        .figure(
            format!("{what}: Graph round trips per {unit}"),
            format!(
                "{:.2} calls, {:.2} requests inside $batch; {} token requests in all",
                per(d.graph_calls),
                per(d.batched_requests),
                d.token_requests
            ),
        )
        .with(
            &format!("graph calls per {unit}"),
            per(d.graph_calls),
            "count",
        )
        .with(
            &format!("batched requests per {unit}"),
            per(d.batched_requests),
            "count",
        )
        .with("token requests", d.token_requests as f64, "count");
}

/// The floor's row: its p99 and mean at the pace, and what it is made of.
/// The row that says whether every request (or grant) was served exactly once.
pub fn report_lost_doubled(
    report: &mut Report,
    what: &str,
    items: &str,
    lost: usize,
    doubled: usize,
) {
    report
        .target(
            format!("{what}: {items} lost / doubled"),
            format!("{lost} / {doubled}"),
            "0 / 0",
            lost == 0 && doubled == 0,
        )
        .with("lost", lost as f64, "count")
        .with("doubled", doubled as f64, "count");
}

pub fn report_floor(report: &mut Report, what: &str, parts: &str, floor: Floor) {
    report
        .figure(
            format!("{what}: floor p99 / mean (computed: {parts})"),
            format!("{} / {}", fmt_duration(floor.p99), fmt_duration(floor.mean)),
        )
        .with_ms("p99", floor.p99)
        .with_ms("mean", floor.mean);
}

/// The pace in a few words, for the rows' names.
pub fn describe(pace: &Pace) -> String {
    let range =
        |(lo, hi): (Duration, Duration)| format!("{}–{}", fmt_duration(lo), fmt_duration(hi));
    let budget = match &pace.budget {
        Some(b) => format!(
            "; budget {} resource units per {} s and {} writes per {} s per app and tenant",
            b.resource_units,
            b.ru_window.as_secs(),
            b.writes,
            b.write_window.as_secs()
        ),
        None => String::new(),
    };
    format!(
        "calls {}, tokens {}, replication lag {}, {:.0} % of calls throttled (Retry-After {} s){budget}",
        range(pace.call_latency),
        range(pace.token_latency),
        range(pace.replication_lag),
        pace.throttle_share * 100.0,
        pace.throttle_retry_after.as_secs()
    )
}

/// `p99 ÷ floor` as the table shows it.
pub fn times_floor(p99: Duration, floor: &Floor) -> f64 {
    floor::ratio(p99, floor.p99)
}

/// `p50 / p99 / max` of one latency.
pub fn latency_row(report: &mut Report, name: &str, s: &mut Samples) {
    let (p50, p99, max) = (s.percentile(50.0), s.percentile(99.0), s.max());
    report
        .figure(
            format!("{name}, p50 / p99 / max"),
            format!(
                "{} / {} / {}",
                fmt_duration(p50),
                fmt_duration(p99),
                fmt_duration(max)
            ),
        )
        .with_ms("p50", p50)
        .with_ms("p99", p99)
        .with_ms("max", max);
}
