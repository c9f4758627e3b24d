//! Measure 3: End to end: a technician ticks "Request JIT" in (simulated) ConnectWise, ConnectWise
//! calls jitgate back, and we time until the account exists at the Graph sim and until the
//! credentials note is on the ticket. Every request is for its own technician, so no two wait
//! on the same account; the simulators answer at once.

use crate::fixture::{CW_FIELD, Msp, Sims};
use crate::plan::Plan;
use crate::process::Jitgate;
use crate::report::Report;
use crate::stats::{Samples, fmt_duration};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use jitgate_sim::connectwise::SeedTicket;
use serde_json::json;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often the simulators' state is checked (the resolution of the figures).
const WATCH_EVERY: Duration = Duration::from_millis(2);
const FIRST_TICKET: u64 = 700_000;

#[derive(Default, Clone)]
struct Track {
    sent: Option<Instant>,
    status: Option<u16>,
    account: Option<Duration>,
    note: Option<Duration>,
    note_has_link: bool,
}

pub async fn run(
    plan: &Plan,
    report: &mut Report,
    jitgate: &Jitgate,
    sims: &Sims,
    msp: &Msp,
    first_technician: usize,
) -> Result<(), String> {
    let n = plan.e2e_requests;
    eprintln!("[3] end to end: {n} requests at {}/s", plan.e2e_rate);
    let tracks = Mutex::new(vec![Track::default(); n]);
    let http = reqwest::Client::new();
    let url = format!("{}/webhooks/{}", jitgate.url, msp.cw_connector);
    let who = |i: usize| {
        let tech = &msp.technicians[first_technician + i];
        let customer = &msp.customers[i % msp.customers.len()];
        (tech, customer, FIRST_TICKET + i as u64)
    };
    let interval = Duration::from_secs_f64(1.0 / plan.e2e_rate);
    let start = tokio::time::Instant::now();

    let sender = async {
        let mut in_flight = FuturesUnordered::new();
        for i in 0..n {
            let at = start + interval.mul_f64(i as f64);
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(at) => break,
                    Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
                }
            }
            let (tech, customer, ticket) = who(i);
            sims.cw.add_ticket(
                SeedTicket::new(ticket, customer.cw_company).with_custom_field(
                    12,
                    CW_FIELD,
                    json!(false),
                ),
            );
            sims.cw
                .set_custom_field(ticket, CW_FIELD, json!(true), &tech.identifier);
            let delivery = sims.cw.ticket_delivery(ticket, &tech.identifier, "updated");
            let mut request = http.post(&url).body(delivery.body);
            for (k, v) in &delivery.headers {
                request = request.header(k, v);
            }
            tracks.lock().expect("lock")[i].sent = Some(Instant::now());
            let tracks = &tracks;
            in_flight.push(async move {
                let status = request.send().await.map(|r| r.status().as_u16()).ok();
                tracks.lock().expect("lock")[i].status = status;
            });
        }
        while in_flight.next().await.is_some() {}
    };

    let give_up = Duration::from_secs_f64(n as f64 / plan.e2e_rate) + Duration::from_secs(60);
    let watcher = async {
        loop {
            let now = Instant::now();
            let mut open = 0;
            for i in 0..n {
                let (tech, customer, ticket) = who(i);
                let mut t = tracks.lock().expect("lock")[i].clone();
                let Some(sent) = t.sent else {
                    open += 1;
                    continue;
                };
                if t.account.is_none()
                    && sims
                        .graph
                        .user_by_upn(&customer.tenant, &tech.upn(customer))
                        .is_some()
                {
                    t.account = Some(now - sent);
                }
                if t.note.is_none()
                    && let Some(note) = sims.cw.notes(ticket).first()
                {
                    t.note = Some(now - sent);
                    t.note_has_link = note.text.contains("/c/");
                }
                if t.note.is_none() {
                    open += 1;
                }
                tracks.lock().expect("lock")[i] = t;
            }
            if open == 0 || start.elapsed() > give_up {
                return;
            }
            tokio::time::sleep(WATCH_EVERY).await;
        }
    };
    tokio::join!(sender, watcher);

    let tracks = tracks.into_inner().expect("lock");
    let (mut account, mut note) = (Samples::default(), Samples::default());
    let mut problems = 0;
    for t in &tracks {
        match (t.status, t.account, t.note, t.note_has_link) {
            (Some(202), Some(a), Some(nt), true) => {
                account.push(a);
                note.push(nt);
            }
            _ => problems += 1,
        }
    }
    let what = format!(
        "3. End to end, {n} ConnectWise requests at {:.0}/s (distinct technicians, {} customers)",
        plan.e2e_rate,
        msp.customers.len()
    );
    let (a50, a99) = (account.percentile(50.0), account.percentile(99.0));
    report
        .figure(
            format!("{what}: delivery → account at Graph, p50 / p99"),
            format!("{} / {}", fmt_duration(a50), fmt_duration(a99)),
        )
        .with_ms("p50", a50)
        .with_ms("p99", a99);
    let (p50, p99, max) = (note.percentile(50.0), note.percentile(99.0), note.max());
    report
        .target(
            format!("{what}: delivery → note on the ticket, p50"),
            fmt_duration(p50),
            "≤ 50 ms",
            problems == 0 && p50 <= Duration::from_millis(50),
        )
        .with_ms("p50", p50);
    report
        .target(
            format!("{what}: delivery → note on the ticket, p99"),
            format!("{} (max {})", fmt_duration(p99), fmt_duration(max)),
            "≤ 250 ms",
            problems == 0 && p99 <= Duration::from_millis(250),
        )
        .with_ms("p99", p99)
        .with_ms("max", max)
        .with("incomplete", problems as f64, "count");
    if problems > 0 {
        report.note(format!(
            "3. {problems} of {n} requests did not complete (no 202, no account or no credentials note within the time allowed)."
        ));
    }
    Ok(())
}
