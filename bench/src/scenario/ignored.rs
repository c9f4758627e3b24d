//! Measure 1: Ignored deliveries: signed ticket updates that are not JIT requests, at full speed,
//! against jitgate and against the bare axum baseline; then jitgate's ack latency at half the
//! baseline's throughput.

use super::{per_second, signed};
use crate::load::{self, Message, Outcome, Target};
use crate::plan::Plan;
use crate::process::{BareServer, Jitgate};
use crate::report::Report;
use crate::stats::fmt_duration;
use bytes::Bytes;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// Distinct signed deliveries to cycle through (ignored deliveries store nothing, so reuse
/// changes nothing on the server).
const DISTINCT: usize = 10_000;
const WARM_UP: Duration = Duration::from_millis(500);

/// A ticket update as a sender would post it: about 1 KB, like a PSA's ticket callback.
fn ticket_update(i: usize) -> Bytes {
    let body = json!({
        "type": "ticket.updated",
        "timestamp": "2026-01-15T14:57:50Z",
        "data": {
            "ticket": {"id": format!("T-{}", 100_000 + i), "summary": "Printer on 3rd floor offline after firmware update",
                "status": "In Progress", "board": "Service Desk", "priority": "Priority 3 - Normal Response",
                "type": "Hardware", "subtype": "Printer", "source": "Email", "updated_by": "tech00001",
                "resources": "tech00001, tech00002", "budget_hours": 1.5, "actual_hours": 0.75,
                "last_note": "Called the user, power-cycled the printer, firmware 4.2.1 reinstalled; waiting for the queue to drain before closing. Will follow up tomorrow morning if the jobs do not print."},
            "company": {"id": format!("cust-{:05}", i % 50), "name": "Customer"},
            "contact": {"name": "Pat Example", "email": "pat@customer.example", "phone": "+1 555 0100"},
            "changed": ["status", "actual_hours", "last_note"]
        }
    });
    Bytes::from(serde_json::to_vec(&body).expect("json"))
}

fn deliveries() -> Arc<Vec<Message>> {
    Arc::new(
        (0..DISTINCT)
            .map(|i| signed(&format!("msg_bench_ignored_{i}"), ticket_update(i)))
            .collect(),
    )
}

async fn full_speed(plan: &Plan, target: &Target, messages: &Arc<Vec<Message>>) -> Outcome {
    let c = plan.ignored_connections;
    load::closed_loop(target, messages.clone(), usize::MAX, c, WARM_UP).await;
    load::closed_loop(
        target,
        messages.clone(),
        plan.ignored_max,
        c,
        plan.ignored_time,
    )
    .await
}

fn summary(o: &mut Outcome) -> String {
    format!(
        "{} (p50 {}, p99 {})",
        per_second(o.per_second()),
        fmt_duration(o.latencies.percentile(50.0)),
        fmt_duration(o.latencies.percentile(99.0))
    )
}

pub async fn run(
    plan: &Plan,
    report: &mut Report,
    jitgate: &Jitgate,
    connector_id: &str,
) -> Result<(), String> {
    let messages = deliveries();
    let bare = BareServer::start().await?;
    let bare_target = Target {
        addr: bare.addr,
        path: format!("/webhooks/{connector_id}"),
    };
    let target = Target {
        addr: jitgate.addr,
        path: format!("/webhooks/{connector_id}"),
    };
    eprintln!("[1] ignored deliveries: bare axum baseline, full speed");
    let mut base = full_speed(plan, &bare_target, &messages).await;
    eprintln!("[1] ignored deliveries: jitgate, full speed");
    let mut gate = full_speed(plan, &target, &messages).await;
    let ratio = gate.per_second() / base.per_second().max(1e-9);
    let rate = base.per_second() / 2.0;
    eprintln!("[1] ignored deliveries: open loop at {rate:.0}/s, jitgate then baseline");
    let mut paced = load::open_loop(
        &target,
        messages.clone(),
        rate,
        plan.open_loop_time,
        plan.open_loop_connections,
    )
    .await;
    let mut paced_base = load::open_loop(
        &bare_target,
        messages.clone(),
        rate,
        plan.open_loop_time,
        plan.open_loop_connections,
    )
    .await;
    bare.stop().await;

    let c = plan.ignored_connections;
    report.figure(
        format!("1. Bare axum handler, same body, {c} connections, closed loop"),
        summary(&mut base),
    );
    report.figure(
        format!(
            "1. jitgate ignored deliveries (Standard Webhooks, ~1 KB, signed), {c} connections"
        ),
        summary(&mut gate),
    );
    report.target(
        "1. jitgate / bare throughput",
        format!("{ratio:.2}"),
        "≥ 0.5",
        ratio >= 0.5,
    );
    let p99 = paced.latencies.percentile(99.0);
    report.target(
        format!(
            "1. jitgate ack p99 at half the bare rate ({}, open loop, {} s)",
            per_second(rate),
            plan.open_loop_time.as_secs()
        ),
        format!(
            "{} (p50 {}, max {})",
            fmt_duration(p99),
            fmt_duration(paced.latencies.percentile(50.0)),
            fmt_duration(paced.latencies.max())
        ),
        "≤ 5 ms",
        p99 <= Duration::from_millis(5),
    );
    report.figure(
        "1. Bare handler ack p99 at the same rate (reference)",
        format!(
            "{} (p50 {})",
            fmt_duration(paced_base.latencies.percentile(99.0)),
            fmt_duration(paced_base.latencies.percentile(50.0))
        ),
    );
    for (what, o) in [("jitgate full speed", &gate), ("jitgate paced", &paced)] {
        if o.unexpected(200) > 0 {
            report.note(format!(
                "1. {what}: {} answers were not 200 or failed: {:?}, {} transport errors",
                o.unexpected(200),
                o.statuses,
                o.errors
            ));
        }
    }
    let lag = paced.max_schedule_lag.max(paced_base.max_schedule_lag);
    if lag > Duration::from_millis(5) {
        report.note(format!(
            "1. Open loop: requests left up to {} after their scheduled time (latencies count from the scheduled time).",
            fmt_duration(lag)
        ));
    }
    Ok(())
}
