//! Measure 2: Accepted requests: signed `jit.requested` deliveries, each new, durably accepted (202:
//! delivery key, request row and provisioning job committed in one transaction).
//!
//! The requests name a PSA company with no mapping, so the provisioning jobs that run in the
//! background during the load refuse them without calling Graph; their database writes still
//! compete with the acks, as they would in production.

use super::{per_second, signed};
use crate::fixture::Admin;
use crate::load::{self, Message, Target};
use crate::plan::Plan;
use crate::process::Jitgate;
use crate::report::Report;
use crate::stats::fmt_duration;
use bytes::Bytes;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

fn requests(count: usize, run: &str) -> Arc<Vec<Message>> {
    Arc::new(
        (0..count)
            .map(|i| {
                let body = json!({
                    "type": "jit.requested",
                    "timestamp": "2026-01-15T14:57:50Z",
                    "data": {"ticket": {"id": format!("T-{run}-{i}")}, "company": {"id": "unmapped-company"},
                             "technician": {"email": "nobody@msp.example"}, "duration": "1h"}
                });
                signed(
                    &format!("msg_{run}_{i}"),
                    Bytes::from(serde_json::to_vec(&body).expect("json")),
                )
            })
            .collect(),
    )
}

/// Measure on one jitgate; `database` names it in the table. Returns (requests/s, p99).
pub async fn run(
    plan: &Plan,
    report: &mut Report,
    jitgate: &Jitgate,
    database: &str,
    with_targets: bool,
) -> Result<(), String> {
    let admin = Admin::new(&jitgate.url, &jitgate.admin_token);
    let connector = admin.add_standard_webhooks_connector().await?.id()?;
    let target = Target {
        addr: jitgate.addr,
        path: format!("/webhooks/{connector}"),
    };
    // A short warm-up on its own deliveries, then the measured run on fresh ones.
    let warm = requests(500, &format!("warm{}", database.to_lowercase()));
    load::closed_loop(
        &target,
        warm,
        500,
        plan.accepted_connections,
        Duration::from_secs(2),
    )
    .await;
    eprintln!("[2] accepted requests on {database}");
    let messages = requests(plan.accepted_max, &database.to_lowercase());
    let mut o = load::closed_loop(
        &target,
        messages,
        plan.accepted_max,
        plan.accepted_connections,
        plan.accepted_time,
    )
    .await;
    let c = plan.accepted_connections;
    let rate = o.per_second();
    let p99 = o.latencies.percentile(99.0);
    let detail = format!(
        "{} ({} accepted in {:.1} s)",
        per_second(rate),
        o.statuses.get(&202).copied().unwrap_or(0),
        o.elapsed.as_secs_f64()
    );
    let latency = format!(
        "{} (p50 {})",
        fmt_duration(p99),
        fmt_duration(o.latencies.percentile(50.0))
    );
    let p50 = o.latencies.percentile(50.0);
    let what = format!("2. Accepted requests, {database}, {c} connections");
    let rate_row = if with_targets {
        report.target(format!("{what}: rate"), detail, "≥ 2,000/s", rate >= 2000.0)
    } else {
        report.figure(format!("{what}: rate"), detail)
    };
    rate_row.with("rate", rate, "1/s");
    let latency_row = if with_targets {
        report.target(
            format!("{what}: ack p99"),
            latency,
            "≤ 20 ms",
            p99 <= Duration::from_millis(20),
        )
    } else {
        report.figure(format!("{what}: ack p99"), latency)
    };
    latency_row.with_ms("p99", p99).with_ms("p50", p50);
    if o.unexpected(202) > 0 {
        report.note(format!(
            "2. {database}: {} answers were not 202: {:?}, {} transport errors",
            o.unexpected(202),
            o.statuses,
            o.errors
        ));
    }
    Ok(())
}
