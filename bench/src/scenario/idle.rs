//! Measure 6: Idle: resident memory of a freshly started jitgate (empty SQLite database, workers and
//! sweeper running) and the CPU it uses doing nothing but polling.

use crate::plan::Plan;
use crate::process::Jitgate;
use crate::report::{Report, mb};
use std::time::{Duration, Instant};

const SETTLE: Duration = Duration::from_secs(2);

pub async fn run(plan: &Plan, report: &mut Report, jitgate: &Jitgate) {
    eprintln!("[6] idle memory and CPU");
    report
        .figure(
            "Startup to /readyz 200, empty SQLite database",
            crate::stats::fmt_duration(jitgate.startup),
        )
        .with_ms("startup", jitgate.startup);
    tokio::time::sleep(SETTLE).await;
    let cpu_before = jitgate.cpu_time();
    let wall = Instant::now();
    let mut rss = jitgate.rss_bytes();
    while wall.elapsed() < plan.idle_window {
        tokio::time::sleep(Duration::from_millis(250)).await;
        rss = rss.max(jitgate.rss_bytes());
    }
    let cpu = (jitgate.cpu_time() - cpu_before).as_secs_f64() / wall.elapsed().as_secs_f64();
    report
        .target(
            "6. Idle RSS after start (max over the idle window)",
            mb(rss),
            "≤ 30 MB",
            rss <= 30_000_000,
        )
        .with("rss", rss as f64 / 1e6, "MB");
    report
        .figure(
            format!(
                "6. Idle CPU over {} s (share of one core)",
                plan.idle_window.as_secs()
            ),
            format!("{:.2} %", cpu * 100.0),
        )
        .with("cpu", cpu * 100.0, "%");
}
