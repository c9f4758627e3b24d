//! A guided demo of the whole jitgate flow on one machine, with nothing to sign up for.
//!
//! It starts jitgate on a throwaway SQLite database, a simulated Microsoft Entra tenant and a
//! simulated ConnectWise PSA (the same contract-faithful simulators the tests use, so the demo
//! cannot drift from the real behaviour), sets everything up through the real admin API, plays
//! a technician ticking "Request JIT account" on a ticket, and narrates what happens until the
//! grant has ended.
//!
//! ```text
//! cargo run --release --example demo                      # 60 s grant, live progress bar
//! cargo run --release --example demo -- --duration 10s    # a shorter grant
//! cargo run --example demo -- --short                     # a few seconds, plain output
//! ```
//!
//! The integration test `tests/it/demo.rs` includes this file and runs [`run`] in its short
//! mode, so everything here is shared by the example and the test except `main`.
//!
//! The world (customer, tenant, technician, connector) is the one the tests and the benchmark
//! set up too ([`jitgate_sim::world`]). [`stage`] starts the simulators and jitgate, [`story`]
//! plays the technician's side step by step, and [`narrator`] tells it on the terminal.

mod narrator;
mod stage;
mod story;

use clap::Parser;
use jitgate::domain::duration::DurationSetting;
use narrator::Narrator;
use stage::Stage;
use std::io::{IsTerminal, Write};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const DEFAULT_PORT: u16 = 8080;
const DEFAULT_GRANT: Duration = Duration::from_secs(60);
const SHORT_GRANT: Duration = Duration::from_secs(6);

pub type DemoError = Box<dyn std::error::Error>;

/// `cargo run --example demo -- --help`
#[derive(Parser, Debug)]
#[command(
    name = "demo",
    about = "A guided demo of jitgate with a simulated Entra tenant and a simulated ConnectWise PSA"
)]
pub struct Args {
    /// How long the JIT grant lasts, e.g. 10s or 2m (default 60s; 6s with --short).
    #[arg(long, value_parser = DurationSetting::parse)]
    pub duration: Option<DurationSetting>,
    /// Port for jitgate on 127.0.0.1 (default 8080, or any free port if it is taken; any free
    /// port with --short).
    #[arg(long)]
    pub port: Option<u16>,
    /// Run through in a few seconds with plain output and no pauses (for tests and CI).
    #[arg(long)]
    pub short: bool,
}

/// What [`run`] needs to know; built from [`Args`] and the terminal by [`Args::into_options`].
pub struct DemoOptions {
    /// Length of the grant the technician gets.
    pub grant: Duration,
    /// Preferred port for jitgate; 0 takes any free port.
    pub port: u16,
    /// Wait for Enter before the technician's request (only when a person is at the keyboard).
    pub pause: bool,
    pub style: Style,
    /// Cancelled on Ctrl-C: the demo stops jitgate and the simulators and returns.
    pub stop: CancellationToken,
}

/// How output looks: a live terminal gets colours, symbols and a redrawn progress bar; anything
/// else (a pipe, a log file, the test) gets plain ASCII lines.
#[derive(Clone, Copy, Debug)]
pub struct Style {
    pub live: bool,
    pub color: bool,
}

impl Style {
    pub const PLAIN: Style = Style {
        live: false,
        color: false,
    };

    /// Live output only on a terminal; colours also honour the `NO_COLOR` convention.
    pub fn for_stdout() -> Style {
        let live = std::io::stdout().is_terminal();
        let color = live && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Style { live, color }
    }
}

impl Args {
    pub fn into_options(self, stop: CancellationToken) -> DemoOptions {
        let default_grant = if self.short {
            SHORT_GRANT
        } else {
            DEFAULT_GRANT
        };
        let default_port = if self.short { 0 } else { DEFAULT_PORT };
        DemoOptions {
            grant: self.duration.map_or(default_grant, DurationSetting::get),
            port: self.port.unwrap_or(default_port),
            pause: !self.short && std::io::stdin().is_terminal(),
            style: if self.short {
                Style::PLAIN
            } else {
                Style::for_stdout()
            },
            stop,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The grant ended and was verified; the story is complete.
    Completed,
    /// Ctrl-C: everything was stopped and cleaned up early.
    Interrupted,
}

// Only the example calls `main`; the test includes this file and calls `run`.
#[allow(dead_code)]
#[tokio::main]
async fn main() {
    init_logs_if_asked();
    let stop = CancellationToken::new();
    stop_on_ctrl_c(stop.clone());
    let options = Args::parse().into_options(stop);
    let mut stdout = std::io::stdout();
    match run(options, &mut stdout).await {
        Ok(Outcome::Completed) => {}
        Ok(Outcome::Interrupted) => std::process::exit(130),
        Err(e) => {
            let _ = writeln!(stdout);
            eprintln!("demo failed: {e}");
            std::process::exit(1);
        }
    }
}

/// jitgate's own logs would drown the story; `RUST_LOG=info` shows them on stderr.
#[allow(dead_code)]
fn init_logs_if_asked() {
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
}

/// The first Ctrl-C stops the demo cleanly; a second one leaves at once.
#[allow(dead_code)]
fn stop_on_ctrl_c(stop: CancellationToken) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            stop.cancel();
        }
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(130);
        }
    });
}

/// Run the whole demo, narrating to `out`. Returns once the grant has ended, or early (and
/// cleanly) when `opts.stop` is cancelled.
pub async fn run(opts: DemoOptions, out: &mut impl Write) -> Result<Outcome, DemoError> {
    let mut say = Narrator::new(out, opts.style);
    say.title(opts.grant)?;
    let stage = Stage::start(&opts, &mut say).await?;
    let told = tokio::select! {
        // A Ctrl-C during start-up wins over the first step.
        biased;
        _ = opts.stop.cancelled() => Ok(Outcome::Interrupted),
        told = story::tell(&stage, &opts, &mut say) => told,
    };
    if let Ok(Outcome::Interrupted) = told {
        say.end_line()?;
        say.blank()?;
        say.warn("Interrupted: stopping jitgate and the simulators.")?;
    }
    let dir = stage.dir.path().display().to_string();
    stage.stop().await?;
    say.info(&format!(
        "Stopped jitgate and the simulators; removed {dir}."
    ))?;
    told
}
