//! Morning rush (issue 16): many technicians tick "Request JIT" in (simulated) ConnectWise
//! within a minute, across many tenants, with Graph at a realistic pace (latency per call and
//! per token, replication lag after a create, some throttling). Arrival times are drawn
//! uniformly over the window with the pace's seed, so they bunch as real ones do. Timed per
//! request: delivery → account ready (the user exists at Graph holding every role of its
//! connection) and delivery → credentials note on the ticket, compared with the floor the
//! unavoidable Graph calls and the replication lag put under it. Afterwards every request must
//! have been served once: one account with each role once, one credentials note.

use crate::fixture::{CW_FIELD, Customer, Msp, Sims, Technician};
use crate::floor::{self, Work};
use crate::plan::{Plan, Rush};
use crate::report::Report;
use crate::rng::SplitMix64;
use crate::rush::{self, Counters, Instance};
use crate::stats::Samples;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use jitgate_sim::connectwise::SeedTicket;
use jitgate_sim::world::{GLOBAL_ADMIN, USER_ADMIN};
use serde_json::json;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The roles every connection of the fixture grants (`jitgate_sim::world::ROLES`).
const ROLE_IDS: [&str; 2] = [GLOBAL_ADMIN, USER_ADMIN];
const FIRST_TICKET: u64 = 800_000;
/// Tenant ids of this instance, apart from the other instances'.
const TENANT_SET: u32 = 2;

/// One request: who asks, for which customer, on which ticket, and when it leaves.
struct Request {
    technician: usize,
    customer: usize,
    ticket: u64,
    at: Duration,
}

/// Request `i` is technician `i`'s (so no two wait on the same account) for customer
/// `i mod tenants`; arrival times drawn uniformly over the window.
fn schedule(rush: &Rush) -> Vec<Request> {
    let mut rng = SplitMix64::new(rush.pace.seed);
    let mut at: Vec<Duration> = (0..rush.requests)
        .map(|_| rush.request_window.mul_f64(rng.unit()))
        .collect();
    at.sort();
    at.into_iter()
        .enumerate()
        .map(|(i, at)| Request {
            technician: i % rush.technicians,
            customer: i % rush.tenants,
            ticket: FIRST_TICKET + i as u64,
            at,
        })
        .collect()
}

#[derive(Default, Clone)]
struct Track {
    sent: Option<Instant>,
    status: Option<u16>,
    ready: Option<Duration>,
    note: Option<Duration>,
}

pub async fn run(plan: &Plan, report: &mut Report, binary: &std::path::Path) -> Result<(), String> {
    let rush = &plan.rush;
    let instance = Instance::start(binary, rush, TENANT_SET).await?;
    let result = measure(rush, report, &instance).await;
    instance.stop().await;
    result
}

async fn measure(rush: &Rush, report: &mut Report, instance: &Instance) -> Result<(), String> {
    let requests = schedule(rush);
    let (sims, msp) = (&instance.sims, &instance.msp);
    eprintln!(
        "[7] morning rush: {} requests over {} s across {} tenants ({})",
        rush.requests,
        rush.request_window.as_secs(),
        rush.tenants,
        rush::describe(&rush.pace)
    );
    sims.graph.set_pace(rush.pace.clone());
    let before = Counters::read(sims);
    let url = format!("{}/webhooks/{}", instance.jitgate.url, msp.cw_connector);
    let tracks = Mutex::new(vec![Track::default(); requests.len()]);
    tokio::join!(
        send_all(&url, sims, msp, &requests, &tracks),
        watch(rush, sims, msp, &requests, &tracks)
    );
    let after = Counters::read(sims);
    let tracks = tracks.into_inner().expect("lock");
    let tally = tally(sims, msp, &requests, &tracks);
    report_rows(rush, report, msp, tracks, &tally);
    rush::report_round_trips(
        report,
        &what(rush, msp),
        "provision",
        requests.len(),
        (before, after),
        &rush.pace,
    );
    Ok(())
}

/// Post every request's ConnectWise callback at its time, each on its own.
async fn send_all(
    url: &str,
    sims: &Sims,
    msp: &Msp,
    requests: &[Request],
    tracks: &Mutex<Vec<Track>>,
) {
    let http = reqwest::Client::new();
    let start = tokio::time::Instant::now();
    let mut in_flight = FuturesUnordered::new();
    for (i, r) in requests.iter().enumerate() {
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(start + r.at) => break,
                Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
            }
        }
        let request = callback(&http, url, sims, msp, r);
        tracks.lock().expect("lock")[i].sent = Some(Instant::now());
        in_flight.push(async move {
            let status = request.send().await.map(|r| r.status().as_u16()).ok();
            tracks.lock().expect("lock")[i].status = status;
        });
    }
    while in_flight.next().await.is_some() {}
}

/// The technician ticks the box on a new ticket; ConnectWise's callback for it.
fn callback(
    http: &reqwest::Client,
    url: &str,
    sims: &Sims,
    msp: &Msp,
    r: &Request,
) -> reqwest::RequestBuilder {
    let (tech, customer) = (&msp.technicians[r.technician], &msp.customers[r.customer]);
    sims.cw.add_ticket(
        SeedTicket::new(r.ticket, customer.cw_company).with_custom_field(
            12,
            CW_FIELD,
            json!(false),
        ),
    );
    sims.cw
        .set_custom_field(r.ticket, CW_FIELD, json!(true), &tech.identifier);
    let delivery = sims
        .cw
        .ticket_delivery(r.ticket, &tech.identifier, "updated");
    let mut request = http.post(url).body(delivery.body);
    for (k, v) in &delivery.headers {
        request = request.header(k, v);
    }
    request
}

/// Look at the simulators every `watch_every` until every request has its note (or time is up).
async fn watch(
    rush: &Rush,
    sims: &Sims,
    msp: &Msp,
    requests: &[Request],
    tracks: &Mutex<Vec<Track>>,
) {
    let give_up = Instant::now() + rush.request_window + rush.grace;
    loop {
        let now = Instant::now();
        let mut open = 0;
        for (i, r) in requests.iter().enumerate() {
            let mut t = tracks.lock().expect("lock")[i].clone();
            if !observe(sims, msp, r, &mut t, now) {
                open += 1;
            }
            tracks.lock().expect("lock")[i] = t;
        }
        if open == 0 || now > give_up {
            return;
        }
        tokio::time::sleep(rush.watch_every).await;
    }
}

/// Note what is newly visible of one request; true once its note is there.
fn observe(sims: &Sims, msp: &Msp, r: &Request, t: &mut Track, now: Instant) -> bool {
    let Some(sent) = t.sent else { return false };
    let (tech, customer) = (&msp.technicians[r.technician], &msp.customers[r.customer]);
    if t.ready.is_none() && account_ready(sims, tech, customer) {
        t.ready = Some(now - sent);
    }
    if t.note.is_none() && credential_notes(sims, r.ticket) > 0 {
        t.note = Some(now - sent);
    }
    t.note.is_some()
}

/// The account exists and holds every role of its connection.
fn account_ready(sims: &Sims, tech: &Technician, customer: &Customer) -> bool {
    let Some(user) = sims
        .graph
        .user_by_upn(&customer.tenant, &tech.upn(customer))
    else {
        return false;
    };
    let held = sims.graph.role_assignments_of(&customer.tenant, &user.id);
    ROLE_IDS
        .iter()
        .all(|role| held.iter().any(|a| a.role_definition_id == *role))
}

fn credential_notes(sims: &Sims, ticket: u64) -> usize {
    sims.cw
        .notes(ticket)
        .iter()
        .filter(|n| n.text.contains("/c/"))
        .count()
}

/// Requests served once, not at all (or not accepted), or more than once; and of the lost,
/// those without a note when the benchmark stopped waiting.
#[derive(Debug, Default)]
struct Tally {
    lost: usize,
    doubled: usize,
    unfinished: usize,
}

fn tally(sims: &Sims, msp: &Msp, requests: &[Request], tracks: &[Track]) -> Tally {
    let mut tally = Tally::default();
    for (r, t) in requests.iter().zip(tracks) {
        let (tech, customer) = (&msp.technicians[r.technician], &msp.customers[r.customer]);
        let upn = tech.upn(customer);
        let accounts: Vec<_> = sims
            .graph
            .users(&customer.tenant)
            .into_iter()
            .filter(|u| u.user_principal_name.eq_ignore_ascii_case(&upn))
            .collect();
        let mut counts = vec![credential_notes(sims, r.ticket), accounts.len()];
        if let Some(user) = accounts.first() {
            let held = sims.graph.role_assignments_of(&customer.tenant, &user.id);
            for role in ROLE_IDS {
                counts.push(held.iter().filter(|a| a.role_definition_id == role).count());
            }
        } else {
            counts.push(0);
        }
        if t.note.is_none() {
            tally.unfinished += 1;
        }
        if t.status != Some(202) || counts.contains(&0) {
            tally.lost += 1;
        } else if counts.iter().any(|c| *c > 1) {
            tally.doubled += 1;
        }
    }
    tally
}

fn what(rush: &Rush, msp: &Msp) -> String {
    format!(
        "7. Morning rush, {} ConnectWise requests over {} s, {} tenants",
        rush.requests,
        rush.request_window.as_secs(),
        msp.customers.len()
    )
}

fn report_rows(rush: &Rush, report: &mut Report, msp: &Msp, tracks: Vec<Track>, tally: &Tally) {
    let what = what(rush, msp);
    let floor = floor::floor(&rush.pace, Work::provision(rush.tenants, rush.requests));
    let (mut ready, mut note) = (Samples::default(), Samples::default());
    for t in &tracks {
        if let (Some(a), Some(n)) = (t.ready, t.note) {
            ready.push(a);
            note.push(n);
        }
    }
    rush::report_floor(
        report,
        &what,
        "token for each tenant's first request + create user + replication lag + assign role",
        floor,
    );
    rush::latency_row(
        report,
        &format!("{what}: delivery → account ready"),
        &mut ready,
    );
    let p99 = note.percentile(99.0);
    let times = rush::times_floor(p99, &floor);
    rush::latency_row(
        report,
        &format!("{what}: delivery → note on the ticket"),
        &mut note,
    );
    let none_lost = tally.lost == 0 && tally.doubled == 0;
    report
        .target(
            format!("{what}: delivery → note p99 ÷ floor p99"),
            format!("{times:.2}"),
            "≤ 1.3",
            none_lost && times <= 1.3,
        )
        .with("p99 / floor", times, "ratio");
    rush::report_lost_doubled(report, &what, "requests", tally.lost, tally.doubled);
    if tally.unfinished > 0 {
        report.note(format!(
            "7. {} of {} requests had no credentials note {} s after the end of the window.",
            tally.unfinished,
            rush.requests,
            rush.grace.as_secs()
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrivals_are_sorted_within_the_window_and_the_same_every_run() {
        let rush = Plan::new(true).rush;
        let a = schedule(&rush);
        assert_eq!(a.len(), rush.requests);
        assert!(a.windows(2).all(|w| w[0].at <= w[1].at));
        assert!(a.iter().all(|r| r.at < rush.request_window));
        let b = schedule(&rush);
        assert!(a.iter().zip(&b).all(|(x, y)| x.at == y.at));
        // Every request is its own technician's, spread over every tenant.
        let mut techs: Vec<usize> = a.iter().map(|r| r.technician).collect();
        techs.dedup();
        assert_eq!(techs.len(), rush.requests);
        assert!((0..rush.tenants).all(|c| a.iter().any(|r| r.customer == c)));
    }
}
