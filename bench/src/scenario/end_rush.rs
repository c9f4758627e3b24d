//! End rush (issue 16): many grants ending within the same minute, with Graph at a realistic
//! pace. The grants and their accounts are written straight into the SQLite file (as the scale
//! measure does) for customers, connections and technicians made through the admin API (so
//! the connections' secrets are sealed as jitgate seals them); their expiries are spread
//! evenly over a minute starting shortly after. Each account exists in its tenant at the Graph
//! simulator, enabled with one role assignment, so each end has real work. Lateness is
//! `ended_at − expires_at` from the database (as measure 4), where `ended_at` is written only
//! after Graph read the end back; compared with the floor the unavoidable Graph calls put
//! under an end. Afterwards every grant must have ended once, and every account read disabled
//! with no roles.

use crate::fixture::Msp;
use crate::floor::{self, Work};
use crate::plan::{Plan, Rush};
use crate::report::Report;
use crate::rush::{self, Counters, Instance};
use crate::stats::{Samples, fmt_duration};
use jitgate_sim::connectwise::SeedTicket;
use jitgate_sim::graph::SimUser;
use jitgate_sim::world::GLOBAL_ADMIN;
use sqlx::{Connection, Row};
use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

/// Tenant ids of this instance, apart from the other instances'.
const TENANT_SET: u32 = 3;
const FIRST_TICKET: u64 = 900_000;

/// The mark jitgate writes into `employeeType` of the accounts it creates and checks before it
/// touches one (`jitgate_graph::JITGATE_MARKER`; the bench does not depend on jitgate-graph).
const JITGATE_MARKER: &str = "jitgate JIT admin";

/// One grant to end: whose account in which customer, its ticket, and its user at Graph.
struct End {
    customer: usize,
    technician: usize,
    ticket: u64,
    user_id: String,
    /// Milliseconds since the Unix epoch.
    expires_at: i64,
}

pub async fn run(plan: &Plan, report: &mut Report, binary: &std::path::Path) -> Result<(), String> {
    let rush = &plan.rush;
    let instance = Instance::start(binary, rush, TENANT_SET).await?;
    let result = measure(rush, report, &instance).await;
    instance.stop().await;
    result
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// End `g` is technician `g`'s account in customer `g mod tenants`, expiring at its share of
/// the window after the lead time.
fn plan_ends(rush: &Rush) -> Vec<End> {
    let first = now_ms() + rush.end_lead.as_millis() as i64;
    let window = rush.end_window.as_millis() as i64;
    (0..rush.ends)
        .map(|g| End {
            customer: g % rush.tenants,
            technician: g % rush.technicians,
            ticket: FIRST_TICKET + g as u64,
            user_id: format!("e0d00000-0000-4000-8000-{g:012x}"),
            expires_at: first + window * g as i64 / rush.ends.max(1) as i64,
        })
        .collect()
}

async fn measure(rush: &Rush, report: &mut Report, instance: &Instance) -> Result<(), String> {
    let (sims, msp) = (&instance.sims, &instance.msp);
    let ends = plan_ends(rush);
    eprintln!(
        "[8] end rush: {} grants ending over {} s across {} tenants ({})",
        rush.ends,
        rush.end_window.as_secs(),
        rush.tenants,
        rush::describe(&rush.pace)
    );
    for e in &ends {
        seed_account(instance, e);
    }
    write_grants(instance, &ends)
        .await
        .map_err(|e| format!("writing the grants: {e}"))?;
    sims.graph.set_pace(rush.pace.clone());
    let before = Counters::read(sims);
    let last = ends
        .iter()
        .map(|e| e.expires_at)
        .max()
        .unwrap_or_else(now_ms);
    let deadline = last + rush.grace.as_millis() as i64;
    let rows = wait_for_ends(instance, ends.len(), deadline).await?;
    let after = Counters::read(sims);
    let tally = tally(instance, &ends, &rows).await?;
    report_rows(rush, report, msp, &rows, &tally);
    rush::report_round_trips(
        report,
        &what(rush, msp),
        "end",
        ends.len(),
        (before, after),
        &rush.pace,
    );
    Ok(())
}

/// The account at Graph (marked as jitgate's, enabled, one role) and the grant's ticket.
fn seed_account(instance: &Instance, e: &End) {
    let (sims, msp) = (&instance.sims, &instance.msp);
    let customer = &msp.customers[e.customer];
    let tech = &msp.technicians[e.technician];
    let upn = tech.upn(customer);
    sims.graph.seed_user(
        &customer.tenant,
        SimUser {
            id: e.user_id.clone(),
            user_principal_name: upn.clone(),
            display_name: format!("JIT {}", tech.identifier),
            mail_nickname: upn.split('@').next().unwrap_or(&upn).to_string(),
            account_enabled: true,
            employee_type: Some(JITGATE_MARKER.to_string()),
            employee_id: None,
            password: None,
            password_changes: 0,
            password_last_set: None,
            force_change_password_next_sign_in: false,
            sessions_revoked: 0,
            created: time::OffsetDateTime::now_utc(),
        },
    );
    sims.graph
        .add_role_assignment(&customer.tenant, &e.user_id, GLOBAL_ADMIN);
    sims.cw
        .add_ticket(SeedTicket::new(e.ticket, customer.cw_company));
}

/// Customer ids (with their app) by tenant id, and technician ids by email, as jitgate stored
/// them through the admin API.
struct Ids {
    customers: HashMap<String, (String, String)>,
    technicians: HashMap<String, String>,
}

async fn read_ids(conn: &mut sqlx::SqliteConnection) -> Result<Ids, sqlx::Error> {
    let customers = sqlx::query("SELECT customer_id, tenant_id, client_id FROM entra_connections")
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| {
            let tenant: String = r.get("tenant_id");
            (
                tenant.to_ascii_lowercase(),
                (r.get("customer_id"), r.get("client_id")),
            )
        })
        .collect();
    let technicians = sqlx::query("SELECT id, email FROM technicians")
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| {
            (
                r.get::<String, _>("email").to_ascii_lowercase(),
                r.get("id"),
            )
        })
        .collect();
    Ok(Ids {
        customers,
        technicians,
    })
}

/// Accounts and grants, written into the running instance's file in one transaction.
async fn write_grants(instance: &Instance, ends: &[End]) -> Result<(), sqlx::Error> {
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(&instance.sqlite_url)?
        .busy_timeout(Duration::from_secs(30));
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
    let ids = read_ids(&mut conn).await?;
    let mut tx = conn.begin().await?;
    for (g, e) in ends.iter().enumerate() {
        insert_grant(&mut tx, instance, &ids, g, e).await?;
    }
    tx.commit().await?;
    conn.close().await
}

async fn insert_grant(
    tx: &mut sqlx::SqliteConnection,
    instance: &Instance,
    ids: &Ids,
    g: usize,
    e: &End,
) -> Result<(), sqlx::Error> {
    let msp = &instance.msp;
    let customer = &msp.customers[e.customer];
    let tech = &msp.technicians[e.technician];
    let missing = |what: &str| sqlx::Error::Protocol(format!("no {what} stored"));
    let (customer_id, client_id) = ids
        .customers
        .get(&customer.tenant.to_ascii_lowercase())
        .ok_or_else(|| missing("customer"))?;
    let technician_id = ids
        .technicians
        .get(&tech.email.to_ascii_lowercase())
        .ok_or_else(|| missing("technician"))?;
    let now = now_ms();
    let account = format!("acc_rush{g:07}");
    sqlx::query(
        "INSERT INTO jit_accounts (id, customer_id, technician_id, upn, entra_user_id, state, tenant_id, client_id,
             created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 'active', $6, $7, $8, $8)",
    )
    .bind(&account)
    .bind(customer_id)
    .bind(technician_id)
    .bind(tech.upn(customer))
    .bind(&e.user_id)
    .bind(&customer.tenant)
    .bind(client_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO grants (id, account_id, customer_id, technician_id, connector_id, ticket_ref, started_at,
             expires_at, tenant_id, client_id, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $7, $7)",
    )
    .bind(format!("gnt_rush{g:07}"))
    .bind(&account)
    .bind(customer_id)
    .bind(technician_id)
    .bind(&msp.cw_connector)
    .bind(e.ticket.to_string())
    .bind(now)
    .bind(e.expires_at)
    .bind(&customer.tenant)
    .bind(client_id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A grant of the rush as the database has it at the end.
struct Ended {
    id: String,
    expires_at: i64,
    ended_at: Option<i64>,
}

/// Poll the database until every grant ended or `deadline` (ms since the epoch) passed.
async fn wait_for_ends(
    instance: &Instance,
    count: usize,
    deadline: i64,
) -> Result<Vec<Ended>, String> {
    let pool = instance.read_only().await?;
    let query = "SELECT id, expires_at, ended_at FROM grants WHERE id LIKE 'gnt_rush%'";
    let rows = loop {
        let rows: Vec<Ended> = sqlx::query(query)
            .fetch_all(&pool)
            .await
            .map_err(|e| e.to_string())?
            .iter()
            .map(|r| Ended {
                id: r.get("id"),
                expires_at: r.get("expires_at"),
                ended_at: r.get("ended_at"),
            })
            .collect();
        let ended = rows.iter().filter(|r| r.ended_at.is_some()).count();
        if ended >= count || now_ms() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    pool.close().await;
    Ok(rows)
}

/// Grants not ended (or whose account is still enabled or holds a role), and grants ended
/// more than once: more than one recorded end (a `grant.end` audit row that did not fail;
/// failed attempts have rows too), more than one `ended` note, or more notes on the ticket at
/// ConnectWise than jitgate wrote for it.
#[derive(Debug, Default)]
struct Tally {
    lost: usize,
    doubled: usize,
}

/// What jitgate recorded of one grant's end.
#[derive(Debug, Default, Clone, Copy)]
struct Recorded {
    ends: i64,
    ended_notes: i64,
    notes: i64,
}

async fn recorded(instance: &Instance) -> Result<HashMap<String, Recorded>, String> {
    let pool = instance.read_only().await?;
    let rows = sqlx::query(
        "SELECT g.id AS id,
             (SELECT COUNT(*) FROM audit_log a
              WHERE a.grant_id = g.id AND a.action = 'grant.end' AND a.outcome <> 'failed') AS ends,
             (SELECT COUNT(*) FROM ticket_notes n WHERE n.grant_id = g.id AND n.kind = 'ended') AS ended_notes,
             (SELECT COUNT(*) FROM ticket_notes n WHERE n.ticket_ref = g.ticket_ref
              AND n.connector_id = g.connector_id) AS notes
         FROM grants g WHERE g.id LIKE 'gnt_rush%'",
    )
    .fetch_all(&pool)
    .await
    .map_err(|e| e.to_string())?;
    pool.close().await;
    Ok(rows
        .iter()
        .map(|r| {
            let counts = Recorded {
                ends: r.get("ends"),
                ended_notes: r.get("ended_notes"),
                notes: r.get("notes"),
            };
            (r.get("id"), counts)
        })
        .collect())
}

async fn tally(instance: &Instance, ends: &[End], rows: &[Ended]) -> Result<Tally, String> {
    let (sims, msp) = (&instance.sims, &instance.msp);
    let recorded = recorded(instance).await?;
    let mut tally = Tally::default();
    for (g, e) in ends.iter().enumerate() {
        let id = format!("gnt_rush{g:07}");
        let tenant = &msp.customers[e.customer].tenant;
        let ended = rows.iter().any(|r| r.id == id && r.ended_at.is_some());
        let closed = sims
            .graph
            .user(tenant, &e.user_id)
            .is_some_and(|u| !u.account_enabled)
            && sims
                .graph
                .role_assignments_of(tenant, &e.user_id)
                .is_empty();
        let r = recorded.get(&id).copied().unwrap_or_default();
        let at_psa = sims.cw.notes(e.ticket).len() as i64;
        if !ended || !closed {
            tally.lost += 1;
        } else if r.ends > 1 || r.ended_notes > 1 || at_psa > r.notes {
            tally.doubled += 1;
        }
    }
    Ok(tally)
}

fn what(rush: &Rush, msp: &Msp) -> String {
    format!(
        "8. End rush, {} grants ending over {} s, {} tenants",
        rush.ends,
        rush.end_window.as_secs(),
        msp.customers.len()
    )
}

fn report_rows(rush: &Rush, report: &mut Report, msp: &Msp, rows: &[Ended], tally: &Tally) {
    let what = what(rush, msp);
    let floor = floor::floor(&rush.pace, Work::end(rush.tenants, rush.ends));
    let mut late = Samples::default();
    for r in rows {
        if let Some(ended) = r.ended_at {
            late.push_ms(ended - r.expires_at);
        }
    }
    rush::report_floor(
        report,
        &what,
        "token for each tenant's first end + list roles + delete one + disable + read back",
        floor,
    );
    rush::latency_row(
        report,
        &format!("{what}: lateness (verified end − expires_at)"),
        &mut late,
    );
    let p99 = late.percentile(99.0);
    let limit = floor.p99.mul_f64(1.3) + Duration::from_secs(1);
    let none_lost = tally.lost == 0 && tally.doubled == 0;
    report
        .target(
            format!(
                "{what}: lateness p99 (÷ floor p99: {:.2})",
                rush::times_floor(p99, &floor)
            ),
            fmt_duration(p99),
            format!("≤ 1.3 × floor + 1 s = {}", fmt_duration(limit)),
            none_lost && p99 <= limit,
        )
        .with_ms("p99", p99)
        .with_ms("limit", limit)
        .with("p99 / floor", rush::times_floor(p99, &floor), "ratio");
    rush::report_lost_doubled(report, &what, "grants", tally.lost, tally.doubled);
    let open = rows.iter().filter(|r| r.ended_at.is_none()).count();
    if open > 0 {
        report.note(format!(
            "8. {open} of {} grants had not ended {} s after the last expiry.",
            rush.ends,
            rush.grace.as_secs()
        ));
    }
}
