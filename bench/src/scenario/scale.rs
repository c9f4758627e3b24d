//! Measure 5: Scale: 100,000 active grants across 5,000 customers, written straight into a SQLite
//! database (as years of use would leave it), then jitgate started on it: time to ready,
//! resident memory, and how long one sweeper pass takes (from jitgate's own metric
//! `jitgate_sweeper_last_pass_seconds`, the wall time of its last pass).

use crate::plan::Plan;
use crate::process::{Jitgate, JitgateSettings};
use crate::report::{Report, mb};
use crate::stats::fmt_duration;
use sqlx::Connection;
use std::path::Path;
use std::time::{Duration, Instant};

/// Technicians of the MSP; each customer's grants belong to different technicians.
fn technicians(plan: &Plan) -> usize {
    (plan.scale_grants / plan.scale_customers).max(1) * 5
}

async fn fill(url: &str, plan: &Plan) -> Result<(), sqlx::Error> {
    let mut conn = sqlx::SqliteConnection::connect(url).await?;
    let mut tx = conn.begin().await?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    let (c, t) = (plan.scale_customers, technicians(plan));
    for i in 0..c {
        sqlx::query(
            "INSERT INTO customers (id, name, created_at, updated_at) VALUES ($1, $2, $3, $3)",
        )
        .bind(format!("cus_bench{i:06}"))
        .bind(format!("Customer {i:06}"))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO entra_connections (customer_id, tenant_id, client_id, jit_domain, upn_template, roles,
                 duration_secs, expiry_action, updated_at)
             VALUES ($1, $2, $3, $4, '{local}-jit@{domain}', $5, NULL, 'disable', $6)",
        )
        .bind(format!("cus_bench{i:06}"))
        .bind(format!("7e4a4700-0000-4000-8000-{i:012x}"))
        .bind(format!("c11e4700-0000-4000-8000-{i:012x}"))
        .bind(format!("cust{i:06}.example"))
        .bind(r#"["62e90394-69f5-4237-9190-012177145e10"]"#)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    for k in 0..t {
        sqlx::query(
            "INSERT INTO technicians (id, email, display_name, is_admin, created_at, updated_at)
             VALUES ($1, $2, $3, TRUE, $4, $4)",
        )
        .bind(format!("tec_bench{k:06}"))
        .bind(format!("tech{k:06}@msp.example"))
        .bind(format!("Tech {k:06}"))
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    for g in 0..plan.scale_grants {
        let (customer, technician) = (g % c, (g / c) % t);
        let account = format!("acc_bench{g:07}");
        sqlx::query(
            "INSERT INTO jit_accounts (id, customer_id, technician_id, upn, entra_user_id, state, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, 'active', $6, $6)",
        )
        .bind(&account)
        .bind(format!("cus_bench{customer:06}"))
        .bind(format!("tec_bench{technician:06}"))
        .bind(format!("tech{technician:06}-jit@cust{customer:06}.example"))
        .bind(format!("00000000-0000-4000-8000-{g:012x}"))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        // Still active: expiries spread over the next one to four hours.
        let expires = now + 3_600_000 + (g as i64 * 7_919) % (3 * 3_600_000);
        sqlx::query(
            "INSERT INTO grants (id, account_id, customer_id, technician_id, connector_id, ticket_ref, started_at,
                 expires_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, 'con_bench', $5, $6, $7, $6, $6)",
        )
        .bind(format!("gnt_bench{g:07}"))
        .bind(&account)
        .bind(format!("cus_bench{customer:06}"))
        .bind(format!("tec_bench{technician:06}"))
        .bind(format!("T-{g}"))
        .bind(now)
        .bind(expires)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO credential_links (id, grant_id, token_hash, reveal_limit, created_at) VALUES ($1, $2, $3, 3, $4)",
        )
        .bind(format!("lnk_bench{g:07}"))
        .bind(format!("gnt_bench{g:07}"))
        .bind(format!("{g:064x}"))
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    conn.close().await
}

/// A value of a metric without labels in Prometheus text.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

pub async fn run(plan: &Plan, report: &mut Report, binary: &Path) -> Result<(), String> {
    let (g, c) = (plan.scale_grants, plan.scale_customers);
    eprintln!("[5] scale: writing {g} active grants across {c} customers");
    let dir = crate::process::data_dir()?;
    let url = format!("sqlite://{}", dir.path().join("jitgate.db").display());
    let mut settings = JitgateSettings::new(binary, url.clone());
    settings.sweep_interval = Some("1s".into());
    Jitgate::migrate(&settings, dir.path()).await?;
    let t = Instant::now();
    fill(&url, plan).await.map_err(|e| e.to_string())?;
    eprintln!(
        "[5] written in {:.1} s; starting jitgate",
        t.elapsed().as_secs_f64()
    );
    let jitgate = Jitgate::start(&settings, dir.path()).await?;
    let http = reqwest::Client::new();
    let mut passes = Vec::new();
    let mut seen = 0.0;
    let mut rss = jitgate.rss_bytes();
    let deadline = Instant::now() + Duration::from_secs(10 + 2 * plan.scale_passes as u64);
    while passes.len() < plan.scale_passes && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        rss = rss.max(jitgate.rss_bytes());
        let text = http
            .get(format!("{}/metrics", jitgate.url))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        let count = metric(&text, "jitgate_sweeper_passes_total").unwrap_or(0.0);
        if count > seen {
            seen = count;
            if let Some(s) = metric(&text, "jitgate_sweeper_last_pass_seconds") {
                passes.push(Duration::from_secs_f64(s));
            }
        }
    }
    rss = rss.max(jitgate.rss_bytes());
    let startup = jitgate.startup;
    jitgate.stop().await;

    let what = format!("5. {g} active grants, {c} customers (SQLite)");
    report
        .target(
            format!("{what}: RSS (max while sweeping)"),
            mb(rss),
            "≤ 150 MB",
            rss <= 150_000_000,
        )
        .with("rss", rss as f64 / 1e6, "MB");
    if passes.is_empty() {
        report.target(
            format!("{what}: one sweeper pass"),
            "no pass reported (jitgate_sweeper_last_pass_seconds missing)",
            "≤ 50 ms",
            false,
        );
    } else {
        let worst = passes.iter().max().copied().unwrap_or_default();
        let list: Vec<String> = passes.iter().map(|d| fmt_duration(*d)).collect();
        let row = report.target(
            format!("{what}: one sweeper pass (worst of {})", passes.len()),
            format!("{} ({})", fmt_duration(worst), list.join(", ")),
            "≤ 50 ms",
            worst <= Duration::from_millis(50),
        );
        row.with_ms("worst", worst);
        for (k, pass) in passes.iter().enumerate() {
            row.with_ms(&format!("pass {}", k + 1), *pass);
        }
    }
    report
        .target(
            format!("{what}: startup to /readyz 200"),
            fmt_duration(startup),
            "≤ 2 s",
            startup <= Duration::from_secs(2),
        )
        .with_ms("startup", startup);
    Ok(())
}
