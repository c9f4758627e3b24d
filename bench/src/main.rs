//! `jitgate-bench`: measures a release jitgate on loopback against a bare axum baseline run in
//! the same invocation, with the Graph and ConnectWise simulators in this process, and prints
//! a Markdown table (issue 6), or with `--json` one JSON document; the morning and end rushes
//! run with Graph at a realistic pace against a computed floor (issue 16). Build both binaries
//! first:
//!
//! ```text
//! cargo build --release -p jitgate -p jitgate-bench
//! target/release/jitgate-bench            # or: cargo run --release -p jitgate-bench -- [--short]
//! ```
//!
//! Every load is bounded in count and time and goes to 127.0.0.1 only. Timings are reported,
//! never asserted: the exit code says only whether every measure ran.

mod bare;
mod fixture;
mod floor;
mod load;
mod machine;
mod plan;
mod process;
mod report;
mod rng;
mod rush;
mod scenario;
mod stats;

use clap::{Parser, Subcommand, ValueEnum};
use fixture::{Admin, Msp, Sims};
use plan::Plan;
use process::{Jitgate, JitgateSettings};
use report::Report;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "jitgate-bench",
    about = "Benchmarks of a release jitgate (issue 6)"
)]
struct Args {
    /// Small counts and a few seconds per measure (CI): proves the benchmark runs, not timings.
    #[arg(long)]
    short: bool,
    /// PostgreSQL server for measure 2; a uniquely named database is created and dropped.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    postgres: String,
    /// Skip PostgreSQL.
    #[arg(long)]
    no_postgres: bool,
    /// The jitgate binary (default: `jitgate` next to this binary, i.e. target/release/).
    #[arg(long)]
    jitgate: Option<PathBuf>,
    /// Extra setting for every jitgate started, e.g. `--env JITGATE_POLL_INTERVAL=50ms`
    /// (experiments; the committed figures use none).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Keep each instance's data folder (database and log) and print where.
    #[arg(long)]
    keep: bool,
    /// Run only these measures (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Measure>,
    /// Print every measure as one JSON document on stdout (name, values with units, target,
    /// met); the Markdown table then goes to stderr.
    #[arg(long)]
    json: bool,
    #[command(subcommand)]
    command: Option<Internal>,
}

#[derive(Subcommand)]
enum Internal {
    /// The bare axum baseline server (started by the benchmark itself).
    #[command(hide = true)]
    BareServer,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Measure {
    Ignored,
    Accepted,
    E2e,
    Expiry,
    Scale,
    Idle,
    MorningRush,
    EndRush,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    if let Some(Internal::BareServer) = args.command {
        return match bare::serve() {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("bare server: {e}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let json = args.json;
    match runtime.block_on(run(args)) {
        Ok((report, header)) => {
            if json {
                eprintln!("{}", report.markdown(&header));
                println!("{}", report.json(&header));
            } else {
                println!("{}", report.markdown(&header));
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("jitgate-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The table's header: when, where, what ran.
type Header = Vec<(String, String)>;

async fn run(args: Args) -> Result<(Report, Header), String> {
    jitgate_sim::tls::install_crypto_provider();
    process::KEEP_DIRS.store(args.keep, std::sync::atomic::Ordering::Relaxed);
    for pair in &args.env {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("--env takes KEY=VALUE, not {pair}"))?;
        process::EXTRA_ENV
            .lock()
            .expect("env lock")
            .push((k.to_string(), v.to_string()));
    }
    let plan = Plan::new(args.short);
    let wants = |m: Measure| args.only.is_empty() || args.only.contains(&m);
    let binary = args
        .jitgate
        .clone()
        .unwrap_or_else(process::default_jitgate_binary);
    let command: Vec<String> = std::env::args().collect();
    let header = vec![
        ("date (UTC)".to_string(), machine::now_utc()),
        (
            "machine".to_string(),
            format!(
                "{} cores ({}), {}; load generator, simulators and jitgate share it",
                machine::cores(),
                machine::cpu_model(),
                machine::memory()
            ),
        ),
        ("command".to_string(), format!("`{}`", command.join(" "))),
        (
            "jitgate".to_string(),
            format!(
                "{} (commit {})",
                binary.display(),
                machine::git_commit().unwrap_or_else(|| "unknown".into())
            ),
        ),
    ];
    let mut report = Report::default();

    // The main instance: defaults except where the simulators are, on a fresh SQLite file.
    let needs_sims = [
        Measure::Idle,
        Measure::Ignored,
        Measure::E2e,
        Measure::Expiry,
    ]
    .into_iter()
    .any(wants);
    if needs_sims {
        let sims = Sims::start().await;
        if [Measure::Idle, Measure::Ignored, Measure::E2e]
            .into_iter()
            .any(wants)
        {
            main_instance(&plan, &mut report, &binary, &sims, &wants).await?;
        }
        if wants(Measure::Expiry) {
            scenario::expiry::run(&plan, &mut report, &binary, &sims).await?;
        }
    }

    if wants(Measure::Accepted) {
        let dir = process::data_dir()?;
        let url = format!("sqlite://{}", dir.path().join("jitgate.db").display());
        let jitgate = Jitgate::start(&JitgateSettings::new(&binary, url), dir.path()).await?;
        scenario::accepted::run(&plan, &mut report, &jitgate, "SQLite", true).await?;
        jitgate.stop().await;
        if !args.no_postgres {
            let db = postgres::TempDatabase::create(&args.postgres).await?;
            let dir = process::data_dir()?;
            let result = async {
                let jitgate =
                    Jitgate::start(&JitgateSettings::new(&binary, db.url.clone()), dir.path())
                        .await?;
                let r = scenario::accepted::run(&plan, &mut report, &jitgate, "PostgreSQL", false)
                    .await;
                jitgate.stop().await;
                r
            }
            .await;
            db.drop_database().await?;
            result?;
        }
    }

    if wants(Measure::Scale) {
        scenario::scale::run(&plan, &mut report, &binary).await?;
    }
    if wants(Measure::MorningRush) {
        scenario::morning_rush::run(&plan, &mut report, &binary).await?;
    }
    if wants(Measure::EndRush) {
        scenario::end_rush::run(&plan, &mut report, &binary).await?;
    }
    if plan.short {
        report.note("Short mode (CI): small counts; these figures prove the benchmark runs, not how fast jitgate is.");
    }
    Ok((report, header))
}

/// Idle, ignored deliveries and end to end share one instance with default settings on a fresh
/// SQLite file, in that order (idle first, before anything ran).
async fn main_instance(
    plan: &Plan,
    report: &mut Report,
    binary: &std::path::Path,
    sims: &Sims,
    wants: &dyn Fn(Measure) -> bool,
) -> Result<(), String> {
    let dir = process::data_dir()?;
    let sqlite_url = format!("sqlite://{}", dir.path().join("jitgate.db").display());
    let mut settings = JitgateSettings::new(binary, sqlite_url);
    settings.graph_url = Some(sims.graph.graph_url().to_string());
    settings.login_url = Some(sims.graph.login_url().to_string());
    settings.ca_file = Some(sims.ca_file.clone());
    let jitgate = Jitgate::start(&settings, dir.path()).await?;
    if wants(Measure::Idle) {
        scenario::idle::run(plan, report, &jitgate).await;
    }
    let admin = Admin::new(&jitgate.url, &jitgate.admin_token);
    let technicians = plan.e2e_requests;
    eprintln!(
        "setting up {} customers and {technicians} technicians through the admin API",
        plan.customers
    );
    let msp = Msp::create(&admin, sims, plan.customers, technicians, 0).await?;
    if wants(Measure::Ignored) {
        scenario::ignored::run(plan, report, &jitgate, &msp.sw_connector).await?;
    }
    if wants(Measure::E2e) {
        scenario::end_to_end::run(plan, report, &jitgate, sims, &msp, 0).await?;
    }
    jitgate.stop().await;
    Ok(())
}

mod postgres {
    //! A uniquely named database for one run, dropped afterwards.

    use sqlx::Connection;

    pub struct TempDatabase {
        admin_url: String,
        name: String,
        pub url: String,
    }

    impl TempDatabase {
        pub async fn create(server: &str) -> Result<TempDatabase, String> {
            let server = server.trim_end_matches('/');
            let admin_url = format!("{server}/postgres");
            let name = format!(
                "jitgate_bench_{}_{}",
                std::process::id(),
                time::OffsetDateTime::now_utc().unix_timestamp()
            );
            let mut conn = sqlx::PgConnection::connect(&admin_url)
                .await
                .map_err(|e| format!("PostgreSQL at {server}: {e} (or pass --no-postgres)"))?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .map_err(|e| e.to_string())?;
            conn.close().await.map_err(|e| e.to_string())?;
            Ok(TempDatabase {
                url: format!("{server}/{name}"),
                admin_url,
                name,
            })
        }

        pub async fn drop_database(self) -> Result<(), String> {
            let mut conn = sqlx::PgConnection::connect(&self.admin_url)
                .await
                .map_err(|e| e.to_string())?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )))
            .execute(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
            conn.close().await.map_err(|e| e.to_string())
        }
    }
}
