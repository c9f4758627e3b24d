//! Settings: `config/jitgate.toml` (or `--config PATH`), overridden by `JITGATE_*` variables.
//!
//! Every setting has a default, so `jitgate serve` runs with no file at all. Unknown keys are
//! an error: a typo must not silently fall back to a default.

use crate::domain::duration::DurationSetting;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use url::Url;

pub const DEFAULT_CONFIG_PATH: &str = "config/jitgate.toml";
const ENV_PREFIX: &str = "JITGATE_";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP server binds.
    pub listen: SocketAddr,
    /// `sqlite://path` (embedded default) or `postgres://…`.
    pub database_url: String,
    /// Maximum database connections of each of the process's two pools: one for requests
    /// (webhooks, API, pages), one for background work (jobs, sweeper, delivery log).
    pub database_max_connections: u32,
    /// Base of credential links posted to tickets and of webhook URLs shown to admins.
    pub public_url: Url,
    /// Where the master key lives when `JITGATE_MASTER_KEY` is not set; created on first run.
    pub master_key_file: PathBuf,
    /// Microsoft Graph base URL (national clouds, tests).
    pub graph_url: Url,
    /// Entra login base URL (national clouds, tests).
    pub login_url: Url,
    /// Extra CA roots (PEM) trusted for outbound HTTPS.
    pub ca_file: Option<PathBuf>,
    /// Timeout of one outbound HTTP call (Graph, PSAs).
    pub http_timeout: DurationSetting,
    /// Default length of a JIT grant; a customer's own duration overrides it.
    pub jit_duration: DurationSetting,
    /// Hard cap on any grant, whatever a customer or request asks for.
    pub jit_max_duration: DurationSetting,
    /// How often job workers look for due jobs.
    pub poll_interval: DurationSetting,
    /// How often the sweeper ends grants past their expiry, whatever happened to their jobs.
    pub sweep_interval: DurationSetting,
    /// Jobs each queue runs at once in this process, and grants the sweeper ends at once. Jobs
    /// mostly wait on Graph (latency, replication lag), so this is far above the core count;
    /// what Graph sees is bounded by the two settings below.
    pub job_concurrency: u32,
    /// Microsoft Graph calls in flight at once in this process, all tenants together.
    pub graph_concurrency: u32,
    /// Microsoft Graph calls in flight at once for one customer tenant, so a slow or throttled
    /// tenant never takes the slots of the others.
    pub graph_tenant_concurrency: u32,
    /// How long workers may finish jobs in flight at shutdown.
    pub shutdown_timeout: DurationSetting,
    /// Reveals allowed per credential link.
    pub reveal_limit: u32,
    /// Failed attempts to end a grant before the ticket is told.
    pub end_failure_note_after: u32,
    /// `human` or `json`.
    pub log_format: LogFormat,
    /// `tracing` filter, e.g. `info` or `jitgate=debug,info` (RUST_LOG wins when set).
    pub log_filter: String,
    /// Use `X-Forwarded-For` for the client address in audit rows (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
    /// A console or portal session ends after this long without a request.
    pub session_idle_timeout: DurationSetting,
    /// A console or portal session ends this long after sign-in, however busy.
    pub session_max_age: DurationSetting,
    /// OpenID Connect issuer people sign in with, e.g.
    /// `https://login.microsoftonline.com/<MSP tenant id>/v2.0`; unset: one-time links only.
    pub sign_in_issuer: Option<Url>,
    /// The client id registered at that issuer; unset: the MSP's Entra app.
    pub sign_in_client_id: Option<String>,
    /// File holding that client's secret; unset: the MSP's Entra app's secret.
    pub sign_in_client_secret_file: Option<PathBuf>,
    /// The sign-in button says "Sign in with <this>".
    pub sign_in_label: String,
    /// What the credential link in a ticket note does: `sign_in` opens the grant in the portal
    /// for its own technician only (signed in); `bearer` reveals to whoever holds the link;
    /// `auto` is `sign_in` when `sign_in_issuer` is set, `bearer` otherwise.
    pub credential_links: CredentialLinks,
    /// The delivery log keeps a connector's deliveries this long …
    pub delivery_log_retention: DurationSetting,
    /// … and at most this many of them.
    pub delivery_log_max_per_connector: u32,
}

/// See [`Config::credential_links`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialLinks {
    Auto,
    SignIn,
    Bearer,
}

impl Config {
    /// Whether a credential link needs its technician's own sign-in.
    pub fn links_need_sign_in(&self) -> bool {
        match self.credential_links {
            CredentialLinks::SignIn => true,
            CredentialLinks::Bearer => false,
            CredentialLinks::Auto => self.sign_in_issuer.is_some(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".parse().expect("valid default"),
            database_url: "sqlite://data/jitgate.db".into(),
            database_max_connections: 10,
            public_url: Url::parse("http://127.0.0.1:8080").expect("valid default"),
            master_key_file: PathBuf::from("data/master.key"),
            graph_url: Url::parse("https://graph.microsoft.com").expect("valid default"),
            login_url: Url::parse("https://login.microsoftonline.com").expect("valid default"),
            ca_file: None,
            http_timeout: DurationSetting::from_secs(15),
            jit_duration: DurationSetting::from_secs(4 * 3600),
            jit_max_duration: DurationSetting::from_secs(8 * 3600),
            poll_interval: DurationSetting::from_millis(200),
            sweep_interval: DurationSetting::from_secs(5),
            job_concurrency: 200,
            graph_concurrency: 48,
            graph_tenant_concurrency: 4,
            shutdown_timeout: DurationSetting::from_secs(20),
            reveal_limit: 3,
            end_failure_note_after: 3,
            log_format: LogFormat::Human,
            log_filter: "info".into(),
            trust_forwarded_for: false,
            session_idle_timeout: DurationSetting::from_secs(3600),
            session_max_age: DurationSetting::from_secs(12 * 3600),
            sign_in_issuer: None,
            sign_in_client_id: None,
            sign_in_client_secret_file: None,
            sign_in_label: "Microsoft".into(),
            credential_links: CredentialLinks::Auto,
            delivery_log_retention: DurationSetting::from_secs(7 * 86400),
            delivery_log_max_per_connector: 1000,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid configuration in {origin}: {message}")]
    Invalid { origin: String, message: String },
}

/// Every key, for mapping `JITGATE_<KEY>` onto the file's settings.
const KEYS: &[&str] = &[
    "listen",
    "database_url",
    "database_max_connections",
    "public_url",
    "master_key_file",
    "graph_url",
    "login_url",
    "ca_file",
    "http_timeout",
    "jit_duration",
    "jit_max_duration",
    "poll_interval",
    "sweep_interval",
    "job_concurrency",
    "graph_concurrency",
    "graph_tenant_concurrency",
    "shutdown_timeout",
    "reveal_limit",
    "end_failure_note_after",
    "log_format",
    "log_filter",
    "trust_forwarded_for",
    "session_idle_timeout",
    "session_max_age",
    "sign_in_issuer",
    "sign_in_client_id",
    "sign_in_client_secret_file",
    "sign_in_label",
    "credential_links",
    "delivery_log_retention",
    "delivery_log_max_per_connector",
];

impl Config {
    /// Load from `path` (must exist when given explicitly), else from the default path if it
    /// exists, then apply environment overrides.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let (origin, text) = match path {
            Some(p) => (p.display().to_string(), read(p)?),
            None if Path::new(DEFAULT_CONFIG_PATH).exists() => (
                DEFAULT_CONFIG_PATH.to_string(),
                read(Path::new(DEFAULT_CONFIG_PATH))?,
            ),
            None => ("defaults".to_string(), String::new()),
        };
        Self::from_sources(&origin, &text, std::env::vars())
    }

    pub fn from_sources(
        origin: &str,
        toml_text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let invalid = |origin: &str, e: &dyn std::fmt::Display| ConfigError::Invalid {
            origin: origin.to_string(),
            message: e.to_string(),
        };
        let mut table: toml::Table = toml::from_str(toml_text).map_err(|e| invalid(origin, &e))?;
        let mut env_keys = Vec::new();
        for (name, value) in env {
            let Some(key) = name.strip_prefix(ENV_PREFIX).map(str::to_ascii_lowercase) else {
                continue;
            };
            if KEYS.contains(&key.as_str()) {
                table.insert(key.clone(), env_value(&value));
                env_keys.push(name);
            }
        }
        let origin = if env_keys.is_empty() {
            origin.to_string()
        } else {
            format!("{origin} + {}", env_keys.join(", "))
        };
        let config: Config = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| invalid(&origin, &e))?;
        config.validate().map_err(|m| invalid(&origin, &m))?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        if self.jit_duration.get() > self.jit_max_duration.get() {
            return Err(format!(
                "jit_duration ({}) is longer than jit_max_duration ({})",
                self.jit_duration, self.jit_max_duration
            ));
        }
        if self.jit_duration.get().is_zero() || self.poll_interval.get().is_zero() {
            return Err("jit_duration and poll_interval must be greater than zero".into());
        }
        if self.session_idle_timeout.get().is_zero()
            || self.session_idle_timeout.get() > self.session_max_age.get()
        {
            return Err(format!(
                "session_idle_timeout ({}) must be greater than zero and at most session_max_age ({})",
                self.session_idle_timeout, self.session_max_age
            ));
        }
        if self.delivery_log_max_per_connector == 0 || self.delivery_log_retention.get().is_zero() {
            return Err("delivery_log_retention and delivery_log_max_per_connector must be greater than zero".into());
        }
        if self.job_concurrency == 0
            || self.graph_concurrency == 0
            || self.graph_tenant_concurrency == 0
        {
            return Err(
                "job_concurrency, graph_concurrency and graph_tenant_concurrency must be at least 1"
                    .into(),
            );
        }
        if self.reveal_limit == 0 {
            return Err("reveal_limit must be at least 1".into());
        }
        if !(self.database_url.starts_with("sqlite:") || self.database_url.starts_with("postgres"))
        {
            return Err("database_url must start with sqlite:// or postgres://".into());
        }
        Ok(())
    }

    pub fn is_postgres(&self) -> bool {
        self.database_url.starts_with("postgres")
    }
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Environment values are strings; numbers and booleans are recognised so that
/// `JITGATE_REVEAL_LIMIT=5` and `JITGATE_TRUST_FORWARDED_FOR=true` work.
fn env_value(raw: &str) -> toml::Value {
    if let Ok(n) = raw.parse::<i64>() {
        return toml::Value::Integer(n);
    }
    match raw {
        "true" => toml::Value::Boolean(true),
        "false" => toml::Value::Boolean(false),
        _ => toml::Value::String(raw.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_without_file() {
        let c = Config::from_sources("defaults", "", env(&[])).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.jit_duration.to_string(), "4h");
        assert_eq!(c.jit_max_duration.to_string(), "8h");
        assert!(c.poll_interval.get() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn env_overrides_file() {
        let c = Config::from_sources(
            "test.toml",
            "jit_duration = \"2h\"\nreveal_limit = 2\n",
            env(&[
                ("JITGATE_JIT_DURATION", "90m"),
                ("JITGATE_REVEAL_LIMIT", "5"),
                ("OTHER", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(c.jit_duration.to_string(), "1h30m");
        assert_eq!(c.reveal_limit, 5);
    }

    #[test]
    fn unknown_key_is_an_error() {
        let e = Config::from_sources("test.toml", "jit_durration = \"2h\"", env(&[])).unwrap_err();
        assert!(e.to_string().contains("jit_durration"), "{e}");
    }

    #[test]
    fn duration_above_maximum_is_refused() {
        let e = Config::from_sources("t", "jit_duration = \"9h\"", env(&[])).unwrap_err();
        assert!(e.to_string().contains("jit_max_duration"), "{e}");
    }

    #[test]
    fn shipped_config_file_matches_defaults() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/jitgate.toml"))
                .unwrap();
        let from_file = Config::from_sources("config/jitgate.toml", &text, env(&[])).unwrap();
        let defaults = Config::default();
        assert_eq!(format!("{from_file:?}"), format!("{defaults:?}"));
    }
}
