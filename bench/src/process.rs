//! Child processes under test: a release `jitgate serve` with its own data folder and
//! database, and the bare baseline server. Both are killed when dropped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::AsyncBufReadExt;
use tokio::process::{Child, Command};

/// A fixed master key: every benchmark database is temporary and thrown away.
const BENCH_MASTER_KEY: &str = "aml0Z2F0ZS1iZW5jaC1tYXN0ZXIta2V5LTAwMDAwMDE="; // base64 of 32 bytes

/// Extra `KEY=VALUE` settings for every jitgate started (`--env`, for experiments).
pub static EXTRA_ENV: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());

/// Keep every instance's data folder (database, log) after the run, for debugging.
pub static KEEP_DIRS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A fresh data folder for one instance, removed afterwards unless `--keep` was given.
pub fn data_dir() -> Result<tempfile::TempDir, String> {
    let keep = KEEP_DIRS.load(std::sync::atomic::Ordering::Relaxed);
    let dir = tempfile::Builder::new()
        .prefix("jitgate-bench-")
        .disable_cleanup(keep)
        .tempdir()
        .map_err(|e| e.to_string())?;
    if keep {
        eprintln!("keeping {}", dir.path().display());
    }
    Ok(dir)
}

/// The `jitgate` binary next to this one (`target/release/`), unless given.
pub fn default_jitgate_binary() -> PathBuf {
    let me = std::env::current_exe().expect("own path");
    me.with_file_name("jitgate")
}

/// Settings for one jitgate instance; everything else keeps its default.
#[derive(Clone, Debug)]
pub struct JitgateSettings {
    pub binary: PathBuf,
    pub database_url: String,
    pub graph_url: Option<String>,
    pub login_url: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub sweep_interval: Option<String>,
    pub extra_env: Vec<(String, String)>,
}

impl JitgateSettings {
    pub fn new(binary: &Path, database_url: String) -> JitgateSettings {
        JitgateSettings {
            binary: binary.to_path_buf(),
            database_url,
            graph_url: None,
            login_url: None,
            ca_file: None,
            sweep_interval: None,
            extra_env: Vec::new(),
        }
    }

    fn command(&self, dir: &Path, listen: SocketAddr) -> Command {
        let mut cmd = Command::new(&self.binary);
        // The child sees only the settings chosen here, never the caller's JITGATE_* or RUST_LOG.
        for (name, _) in std::env::vars() {
            if name.starts_with("JITGATE_") || name == "RUST_LOG" {
                cmd.env_remove(name);
            }
        }
        cmd.current_dir(dir)
            .env("JITGATE_LISTEN", listen.to_string())
            .env("JITGATE_PUBLIC_URL", format!("http://{listen}"))
            .env("JITGATE_DATABASE_URL", &self.database_url)
            .env("JITGATE_MASTER_KEY", BENCH_MASTER_KEY)
            .env("JITGATE_MASTER_KEY_FILE", dir.join("master.key"));
        let optional = [
            ("JITGATE_GRAPH_URL", self.graph_url.clone()),
            ("JITGATE_LOGIN_URL", self.login_url.clone()),
            (
                "JITGATE_CA_FILE",
                self.ca_file.as_ref().map(|p| p.display().to_string()),
            ),
            ("JITGATE_SWEEP_INTERVAL", self.sweep_interval.clone()),
        ];
        for (name, value) in optional {
            if let Some(v) = value {
                cmd.env(name, v);
            }
        }
        let global = EXTRA_ENV.lock().expect("env lock").clone();
        for (name, value) in self.extra_env.iter().chain(global.iter()) {
            cmd.env(name, value);
        }
        cmd.stdin(Stdio::null()).kill_on_drop(true);
        cmd
    }
}

/// A running `jitgate serve`.
pub struct Jitgate {
    child: Child,
    pub pid: u32,
    pub addr: SocketAddr,
    pub url: String,
    pub admin_token: String,
    /// From spawning `serve` to the first `/readyz` 200.
    pub startup: Duration,
    pub log_file: PathBuf,
}

impl Jitgate {
    /// Migrate the database (with `jitgate migrate`), without starting a server.
    pub async fn migrate(settings: &JitgateSettings, dir: &Path) -> Result<(), String> {
        let out = settings
            .command(dir, free_port()?)
            .arg("migrate")
            .output()
            .await
            .map_err(|e| format!("cannot run {}: {e}", settings.binary.display()))?;
        if !out.status.success() {
            return Err(format!(
                "jitgate migrate failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(())
    }

    /// Create an admin token (this also migrates the database), start `serve` and wait for
    /// `/readyz`.
    pub async fn start(settings: &JitgateSettings, dir: &Path) -> Result<Jitgate, String> {
        let listen = free_port()?;
        let out = settings
            .command(dir, listen)
            .args(["admin", "token", "create", "--name", "bench"])
            .output()
            .await
            .map_err(|e| {
                format!(
                    "cannot run {} (build it first: cargo build --release -p jitgate -p jitgate-bench): {e}",
                    settings.binary.display()
                )
            })?;
        if !out.status.success() {
            return Err(format!(
                "jitgate admin token create failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let admin_token = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let log_file = dir.join("jitgate.log");
        let log = std::fs::File::create(&log_file).map_err(|e| e.to_string())?;
        let started = Instant::now();
        let child = settings
            .command(dir, listen)
            .arg("serve")
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start jitgate: {e}"))?;
        let pid = child.id().expect("a running child has a pid");
        let mut jitgate = Jitgate {
            child,
            pid,
            addr: listen,
            url: format!("http://{listen}"),
            admin_token,
            startup: Duration::ZERO,
            log_file,
        };
        jitgate.startup = jitgate.wait_ready(started).await?;
        Ok(jitgate)
    }

    async fn wait_ready(&mut self, started: Instant) -> Result<Duration, String> {
        let client = reqwest::Client::new();
        let deadline = started + Duration::from_secs(60);
        loop {
            if let Ok(r) = client.get(format!("{}/readyz", self.url)).send().await
                && r.status().is_success()
            {
                return Ok(started.elapsed());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "jitgate exited with {status} before it was ready; log: {}",
                    tail(&self.log_file)
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "jitgate not ready after 60 s; log: {}",
                    tail(&self.log_file)
                ));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub fn rss_bytes(&self) -> u64 {
        rss_bytes(self.pid)
    }

    pub fn cpu_time(&self) -> Duration {
        cpu_time(self.pid)
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// The last lines of a log, for error messages.
pub fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// A port free on 127.0.0.1 right now.
pub fn free_port() -> Result<SocketAddr, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    listener.local_addr().map_err(|e| e.to_string())
}

/// `VmRSS` of a process, in bytes (0 if it is gone).
pub fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// User + system CPU time a process has used so far.
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    Duration::from_secs_f64(ticks as f64 / clock_ticks_per_second())
}

fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// The bare axum baseline, started as `jitgate-bench bare-server`.
pub struct BareServer {
    child: Child,
    pub addr: SocketAddr,
}

impl BareServer {
    pub async fn start() -> Result<BareServer, String> {
        let me = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = Command::new(me)
            .arg("bare-server")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start the bare server: {e}"))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .map_err(|_| "the bare server did not start".to_string())?
            .map_err(|e| e.to_string())?
            .unwrap_or_default();
        let addr = line
            .strip_prefix("listening ")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| format!("unexpected first line from the bare server: {line:?}"))?;
        Ok(BareServer { child, addr })
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_own_memory_and_cpu() {
        let me = std::process::id();
        assert!(super::rss_bytes(me) > 0);
        let _ = super::cpu_time(me);
    }
}
