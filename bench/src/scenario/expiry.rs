//! Measure 4: Expiry punctuality: grants with a short duration (`jit_duration`, set for this instance:
//! a request may not ask for less than a minute) requested evenly over a window (a minute in
//! the full run), so their expiries are spread over it too while new grants keep starting.
//! Each goes through the real flow (Standard Webhooks `jit.requested`, the account created at
//! the Graph sim) and is then ended by jitgate on its own. Lateness is `ended_at - expires_at`,
//! read from the database: `ended_at` is written only after the end state was read back.

use super::signed;
use crate::fixture::{Admin, Msp, Sims};
use crate::load::Message;
use crate::plan::Plan;
use crate::process::{Jitgate, JitgateSettings};
use crate::report::Report;
use crate::stats::{Samples, fmt_duration};
use bytes::Bytes;
use serde_json::json;
use sqlx::Row;
use std::time::Duration;

fn request(msp: &Msp, i: usize) -> Message {
    let customer = &msp.customers[i % msp.customers.len()];
    let body = json!({
        "type": "jit.requested",
        "timestamp": "2026-01-15T14:57:50Z",
        "data": {"ticket": {"id": format!("EXP-{i}")}, "company": {"id": customer.sw_company},
                 "technician": {"email": msp.technicians[i].email}}
    });
    signed(
        &format!("msg_expiry_{i}"),
        Bytes::from(serde_json::to_vec(&body).expect("json")),
    )
}

pub async fn run(
    plan: &Plan,
    report: &mut Report,
    binary: &std::path::Path,
    sims: &Sims,
) -> Result<(), String> {
    let m = plan.expiry_grants;
    let (duration, spread) = (plan.expiry_duration, plan.expiry_spread);
    let dir = crate::process::data_dir()?;
    let sqlite_url = format!("sqlite://{}", dir.path().join("jitgate.db").display());
    let mut settings = JitgateSettings::new(binary, sqlite_url.clone());
    settings.graph_url = Some(sims.graph.graph_url().to_string());
    settings.login_url = Some(sims.graph.login_url().to_string());
    settings.ca_file = Some(sims.ca_file.clone());
    settings.extra_env.push((
        "JITGATE_JIT_DURATION".into(),
        format!("{}s", duration.as_secs()),
    ));
    let jitgate = Jitgate::start(&settings, dir.path()).await?;
    let admin = Admin::new(&jitgate.url, &jitgate.admin_token);
    let msp = Msp::create(&admin, sims, plan.customers, m, 1).await?;
    eprintln!(
        "[4] expiry: {m} grants of {} s, requested over {} s",
        duration.as_secs(),
        spread.as_secs()
    );
    let http = reqwest::Client::new();
    let url = format!("{}/webhooks/{}", jitgate.url, msp.sw_connector);
    let start = tokio::time::Instant::now();
    let mut refused = 0;
    for i in 0..m {
        tokio::time::sleep_until(start + spread.mul_f64(i as f64 / m as f64)).await;
        let message = request(&msp, i);
        let mut req = http.post(&url).body(message.body);
        for (k, v) in &message.headers {
            req = req.header(k, v);
        }
        let status = req.send().await.map_err(|e| e.to_string())?.status();
        if status.as_u16() != 202 {
            refused += 1;
        }
    }

    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect(&format!("{sqlite_url}?mode=ro"))
        .await
        .map_err(|e| e.to_string())?;
    let deadline =
        start + duration + spread + Duration::from_secs(if plan.short { 30 } else { 60 });
    loop {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, COUNT(ended_at) AS ended FROM grants WHERE connector_id = $1",
        )
        .bind(msp.sw_connector.as_str())
        .fetch_one(&pool)
        .await
        .map_err(|e| e.to_string())?;
        let (n, ended): (i64, i64) = (row.get("n"), row.get("ended"));
        if (n as usize == m && ended == n) || tokio::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let rows = sqlx::query("SELECT expires_at, ended_at FROM grants WHERE connector_id = $1")
        .bind(msp.sw_connector.as_str())
        .fetch_all(&pool)
        .await
        .map_err(|e| e.to_string())?;
    pool.close().await;
    jitgate.stop().await;
    let mut late = Samples::default();
    let mut open = 0;
    for r in &rows {
        let expires: i64 = r.get("expires_at");
        match r.get::<Option<i64>, _>("ended_at") {
            Some(ended) => late.push_ms(ended - expires),
            None => open += 1,
        }
    }
    let missing = m.saturating_sub(rows.len());
    let all = missing == 0 && open == 0 && refused == 0;
    let what = format!(
        "4. Expiry lateness (verified end − expires_at), {m} grants of {} s expiring over {} s",
        duration.as_secs(),
        spread.as_secs()
    );
    let (p50, p99, max) = (late.percentile(50.0), late.percentile(99.0), late.max());
    report
        .figure(format!("{what}: p50"), fmt_duration(p50))
        .with_ms("p50", p50);
    report
        .target(
            format!("{what}: p99"),
            fmt_duration(p99),
            "≤ 2 s",
            all && p99 <= Duration::from_secs(2),
        )
        .with_ms("p99", p99);
    report
        .target(
            format!("{what}: max"),
            fmt_duration(max),
            "≤ 5 s",
            all && max <= Duration::from_secs(5),
        )
        .with_ms("max", max);
    if !all {
        report.note(format!(
            "4. {refused} requests not accepted, {missing} grants never started, {open} not ended by the deadline."
        ));
    }
    Ok(())
}
