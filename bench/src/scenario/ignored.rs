//! Measure 1: Ignored deliveries: signed ticket updates that are not JIT requests, at full speed,
//! against jitgate and against the bare axum baseline, as pairs run a few times (the median
//! ratio is the figure: one pair alone swung from 0.45 to 0.67 on the same commit); then
//! jitgate's ack latency at a fixed rate, open loop, with the bare handler at the same rate as
//! the reference.

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

/// One jitgate/bare pair at full speed: the bare handler first, then jitgate.
struct Pair {
    base: Outcome,
    gate: Outcome,
}

impl Pair {
    fn ratio(&self) -> f64 {
        self.gate.per_second() / self.base.per_second().max(1e-9)
    }
}

async fn pairs(
    plan: &Plan,
    bare: &Target,
    gate: &Target,
    messages: &Arc<Vec<Message>>,
) -> Vec<Pair> {
    let mut out = Vec::new();
    for k in 1..=plan.ignored_pairs {
        eprintln!(
            "[1] ignored deliveries, pair {k} of {}: bare axum baseline, then jitgate, full speed",
            plan.ignored_pairs
        );
        let base = full_speed(plan, bare, messages).await;
        let gate = full_speed(plan, gate, messages).await;
        out.push(Pair { base, gate });
    }
    out
}

/// The pair with the median ratio (the lower middle one for an even count).
fn median_pair(pairs: &mut [Pair]) -> &mut Pair {
    pairs.sort_by(|a, b| a.ratio().total_cmp(&b.ratio()));
    let middle = (pairs.len() - 1) / 2;
    &mut pairs[middle]
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
    let mut runs = pairs(plan, &bare_target, &target, &messages).await;
    let rate = plan.open_loop_rate;
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

    report_full_speed(plan, report, &mut runs);
    report_paced(plan, report, &mut paced, &mut paced_base);
    for (k, pair) in runs.iter().enumerate() {
        note_unexpected(
            report,
            &format!("jitgate full speed, pair {}", k + 1),
            &pair.gate,
        );
    }
    note_unexpected(report, "jitgate paced", &paced);
    let lag = paced.max_schedule_lag.max(paced_base.max_schedule_lag);
    if lag > Duration::from_millis(5) {
        report.note(format!(
            "1. Open loop: requests left up to {} after their scheduled time (latencies count from the scheduled time).",
            fmt_duration(lag)
        ));
    }
    Ok(())
}

fn report_full_speed(plan: &Plan, report: &mut Report, runs: &mut [Pair]) {
    let mut ratios: Vec<f64> = runs.iter().map(Pair::ratio).collect();
    let n = runs.len();
    let c = plan.ignored_connections;
    let pair = median_pair(runs);
    let ratio = pair.ratio();
    report
        .figure(
            format!(
                "1. Bare axum handler, same body, {c} connections, closed loop (median pair of {n})"
            ),
            summary(&mut pair.base),
        )
        .with("rate", pair.base.per_second(), "1/s")
        .with_ms("p50", pair.base.latencies.percentile(50.0))
        .with_ms("p99", pair.base.latencies.percentile(99.0));
    report
        .figure(
            format!(
                "1. jitgate ignored deliveries (Standard Webhooks, ~1 KB, signed), {c} connections (median pair of {n})"
            ),
            summary(&mut pair.gate),
        )
        .with("rate", pair.gate.per_second(), "1/s")
        .with_ms("p50", pair.gate.latencies.percentile(50.0))
        .with_ms("p99", pair.gate.latencies.percentile(99.0));
    let listed: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
    let row = report.target(
        format!("1. jitgate / bare throughput, median of {n} pairs"),
        format!("{ratio:.2} ({})", listed.join(", ")),
        "≥ 0.5",
        ratio >= 0.5,
    );
    row.with("median", ratio, "ratio");
    for (k, r) in ratios.drain(..).enumerate() {
        row.with(&format!("pair {}", k + 1), r, "ratio");
    }
}

fn report_paced(plan: &Plan, report: &mut Report, paced: &mut Outcome, paced_base: &mut Outcome) {
    let p99 = paced.latencies.percentile(99.0);
    report
        .target(
            format!(
                "1. jitgate ack p99 at {} ignored deliveries (open loop, {} s)",
                per_second(plan.open_loop_rate),
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
        )
        .with_ms("p99", p99)
        .with_ms("p50", paced.latencies.percentile(50.0))
        .with_ms("max", paced.latencies.max())
        .with("rate", plan.open_loop_rate, "1/s");
    report
        .figure(
            "1. Bare handler ack p99 at the same rate (reference)",
            format!(
                "{} (p50 {})",
                fmt_duration(paced_base.latencies.percentile(99.0)),
                fmt_duration(paced_base.latencies.percentile(50.0))
            ),
        )
        .with_ms("p99", paced_base.latencies.percentile(99.0))
        .with_ms("p50", paced_base.latencies.percentile(50.0));
}

fn note_unexpected(report: &mut Report, what: &str, o: &Outcome) {
    if o.unexpected(200) > 0 {
        report.note(format!(
            "1. {what}: {} answers were not 200 or failed: {:?}, {} transport errors",
            o.unexpected(200),
            o.statuses,
            o.errors
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(answered: usize) -> Outcome {
        let mut o = Outcome {
            elapsed: Duration::from_secs(1),
            ..Outcome::default()
        };
        o.statuses.insert(200, answered);
        o
    }

    #[test]
    fn the_median_pair_is_the_middle_ratio() {
        let mut runs: Vec<Pair> = [67, 45, 52]
            .into_iter()
            .map(|gate| Pair {
                base: outcome(100),
                gate: outcome(gate),
            })
            .collect();
        assert!((median_pair(&mut runs).ratio() - 0.52).abs() < 1e-9);
    }
}
