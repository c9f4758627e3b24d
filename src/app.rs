//! Assembling the running service: database, keys, HTTP server and background workers, all
//! stopped together by one cancellation token.
//!
//! The HTTP server, each job worker and the sweeper are supervised parts: if any of them stops
//! on its own (returns, fails or panics), `/readyz` names it, the others are shut down
//! gracefully and the process exits non-zero, so its supervisor restarts it rather than
//! leaving a server that accepts webhooks with nothing to act on them (I12).

use crate::config::Config;
use crate::crypto::{Keyring, KeyringOrigin};
use crate::http::{self, state::AppState};
use crate::metrics::Metrics;
use crate::store::Db;
pub use crate::supervision::{Liveness, Part};

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
    #[error(transparent)]
    HttpClient(#[from] crate::http_client::HttpClientError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Stopped(#[from] Stopped),
}

/// Open the database (migrating it) and the master keys, as every command needs them.
pub async fn open(config: &Config) -> Result<(Db, Arc<Keyring>), StartError> {
    let env_key = std::env::var("JITGATE_MASTER_KEY").ok();
    let (keyring, origin) = Keyring::load(env_key.as_deref(), &config.master_key_file)?;
    match origin {
        KeyringOrigin::GeneratedFile => tracing::warn!(
            path = %config.master_key_file.display(),
            "no master key was configured: generated one (mode 0600). Back it up: without it stored secrets cannot be read"
        ),
        KeyringOrigin::ExistingFile => {
            tracing::info!(path = %config.master_key_file.display(), "master key file loaded")
        }
        KeyringOrigin::Environment => tracing::info!("master key taken from JITGATE_MASTER_KEY"),
    }
    let db = Db::connect(&config.database_url, config.database_max_connections).await?;
    db.migrate().await?;
    Ok((db, Arc::new(keyring)))
}

pub struct Application {
    listener: tokio::net::TcpListener,
    state: AppState,
    jobs: Arc<crate::jobs::JobContext>,
    shutdown: CancellationToken,
}

impl Application {
    pub async fn build(config: Config) -> Result<Application, StartError> {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| StartError::Listen {
                addr: config.listen,
                source,
            })?;
        Self::build_with_listener(config, listener).await
    }

    /// Build on a listener bound by the caller (tests bind port 0 first so `public_url` can
    /// name the real port).
    pub async fn build_with_listener(
        config: Config,
        listener: tokio::net::TcpListener,
    ) -> Result<Application, StartError> {
        let (db, keyring) = open(&config).await?;
        let http = crate::http_client::build(&config)?;
        let connectors = Arc::new(crate::psa::ConnectorRegistry::new(
            db.clone(),
            keyring.clone(),
            http.clone(),
        ));
        let graph = jitgate_graph::GraphClient::new(
            http.clone(),
            config.login_url.clone(),
            config.graph_url.clone(),
        )
        .with_concurrency(jitgate_graph::Concurrency {
            global: config.graph_concurrency as usize,
            per_tenant: config.graph_tenant_concurrency as usize,
        });
        // Background work gets a pool of its own: a burst of jobs (each queue runs
        // `job_concurrency` at once) must never take the connections that acknowledge webhooks
        // and serve pages; sharing one pool once cut accepted webhooks to a third
        // (BENCHMARKS.md).
        let jobs_db = db
            .background_pool(&config.database_url, config.database_max_connections)
            .await?;
        let services = crate::services::Services {
            config: Arc::new(config),
            db,
            keyring,
            metrics: Arc::new(Metrics::new()),
            liveness: Liveness::default(),
            http,
            graph,
            connectors,
            delivery_log: Arc::default(),
            instance: crate::jobs::instance_name(),
        };
        let jobs = Arc::new(services.with_db(jobs_db));
        let services = Arc::new(services);
        Ok(Application {
            listener,
            state: services,
            jobs,
            shutdown: CancellationToken::new(),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// A token that stops the whole service when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    pub fn jobs(&self) -> &Arc<crate::jobs::JobContext> {
        &self.jobs
    }

    /// Serve and run the workers and the sweeper until the shutdown token is cancelled, then
    /// let requests and jobs in flight finish. If one of them stops before that, the rest are
    /// shut down the same way and the error names the part that stopped.
    pub async fn run(self) -> Result<(), StartError> {
        let addr = self.local_addr();
        tracing::info!(%addr, database = self.state.db.kind(), instance = %self.jobs.instance, "jitgate listening");
        let config = self.state.config.clone();
        let mut parts = crate::jobs::worker::parts(
            &self.jobs,
            config.poll_interval.get(),
            config.shutdown_timeout.get(),
            &self.shutdown,
        );
        let (jobs, interval, shutdown) = (
            self.jobs.clone(),
            config.sweep_interval.get(),
            self.shutdown.clone(),
        );
        parts.push(Part::new("sweeper", async move {
            crate::jobs::sweeper::run(jobs, interval, shutdown).await;
            Ok(())
        }));
        parts.push(delivery_log_writer(&self.jobs, &self.shutdown));
        let router = http::router(self.state.clone());
        let shutdown = self.shutdown.clone();
        let serve = axum::serve(
            self.listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { shutdown.cancelled().await });
        parts.push(Part::new("http server", async move {
            serve.await.map_err(|e| e.to_string())
        }));
        let supervised = supervise(parts, self.shutdown.clone(), &self.state.liveness).await;
        self.state.db.close().await;
        self.jobs.db.close().await;
        supervised?;
        tracing::info!("jitgate stopped");
        Ok(())
    }
}

/// The delivery log's writer, trimming the log to the configured retention.
fn delivery_log_writer(state: &AppState, shutdown: &CancellationToken) -> Part {
    use crate::store::delivery_log::{Retention, run_writer};
    let retention = Retention {
        max_age: state.config.delivery_log_retention.get(),
        max_per_connector: state.config.delivery_log_max_per_connector,
    };
    let (db, log, shutdown) = (
        state.db.clone(),
        state.delivery_log.clone(),
        shutdown.clone(),
    );
    Part::new("delivery log writer", async move {
        run_writer(db, log, retention, shutdown).await
    })
}

/// A part that stopped before shutdown was asked for, or failed.
#[derive(Debug, thiserror::Error)]
#[error("{part} stopped: {reason}")]
pub struct Stopped {
    pub part: String,
    pub reason: String,
}

/// Run every part as its own task until `shutdown` is cancelled and all have ended. A part
/// that fails, panics, or ends while `shutdown` is not cancelled is marked in `liveness`,
/// logged as an error, and cancels `shutdown` so the other parts stop gracefully; the first
/// such part is returned as the error.
pub async fn supervise(
    parts: Vec<Part>,
    shutdown: CancellationToken,
    liveness: &Liveness,
) -> Result<(), Stopped> {
    let mut tasks = tokio::task::JoinSet::new();
    let mut names = HashMap::new();
    for part in parts {
        let handle = tasks.spawn(part.run);
        names.insert(handle.id(), part.name);
    }
    let mut first = None;
    while let Some(done) = tasks.join_next_with_id().await {
        let (task, outcome) = match done {
            Ok((task, outcome)) => (task, outcome),
            Err(e) => (e.id(), Err(join_error_text(e))),
        };
        let name = names.remove(&task).expect("every part is named");
        let reason = match outcome {
            Err(reason) => reason,
            Ok(()) if !shutdown.is_cancelled() => "it ended before shutdown was asked for".into(),
            Ok(()) => continue,
        };
        liveness.mark_stopped(&name);
        tracing::error!(part = %name, %reason, "a part of jitgate that must keep running stopped; shutting down");
        shutdown.cancel();
        first.get_or_insert(Stopped { part: name, reason });
    }
    first.map_or(Ok(()), Err)
}

fn join_error_text(e: tokio::task::JoinError) -> String {
    if !e.is_panic() {
        return "its task was cancelled".into();
    }
    let payload = e.into_panic();
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into());
    format!("it panicked: {text}")
}

/// Cancel `token` on SIGINT or SIGTERM.
pub fn cancel_on_signal(token: CancellationToken) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("can install a SIGTERM handler");
            tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutdown requested");
        token.cancel();
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::Duration;

    /// A part that runs until `shutdown` and then reports that it stopped gracefully.
    fn until_shutdown(
        name: &str,
        shutdown: &CancellationToken,
        stopped: &Arc<Mutex<Vec<String>>>,
    ) -> Part {
        let (shutdown, stopped, me) = (shutdown.clone(), stopped.clone(), name.to_string());
        Part::new(name, async move {
            shutdown.cancelled().await;
            tokio::time::sleep(Duration::from_millis(20)).await;
            stopped.lock().unwrap().push(me);
            Ok(())
        })
    }

    async fn supervise_with(last: Part) -> (Result<(), Stopped>, Liveness, Vec<String>) {
        let shutdown = CancellationToken::new();
        let liveness = Liveness::default();
        let graceful = Arc::new(Mutex::new(Vec::new()));
        let parts = vec![
            until_shutdown("http server", &shutdown, &graceful),
            until_shutdown("sweeper", &shutdown, &graceful),
            last,
        ];
        let result = tokio::time::timeout(
            Duration::from_secs(10),
            supervise(parts, shutdown.clone(), &liveness),
        )
        .await
        .expect("supervise returns once every part ended");
        assert!(shutdown.is_cancelled(), "the other parts were told to stop");
        let graceful = graceful.lock().unwrap().clone();
        (result, liveness, graceful)
    }

    #[tokio::test]
    async fn a_part_that_fails_stops_everything_and_is_named() {
        let failing = Part::new("expire worker", async {
            Err("Failed to poll backend: no such table: Jobs".to_string())
        });
        let (result, liveness, graceful) = supervise_with(failing).await;
        let stopped = result.unwrap_err();
        assert_eq!(stopped.part, "expire worker");
        assert!(stopped.reason.contains("no such table"), "{stopped}");
        assert_eq!(liveness.stopped(), vec!["expire worker".to_string()]);
        assert_eq!(
            graceful.len(),
            2,
            "the others shut down gracefully: {graceful:?}"
        );
    }

    #[tokio::test]
    async fn a_part_that_returns_early_or_panics_counts_as_stopped() {
        let (result, liveness, _) =
            supervise_with(Part::new("note worker", async { Ok(()) })).await;
        assert_eq!(result.unwrap_err().part, "note worker");
        assert_eq!(liveness.stopped(), vec!["note worker".to_string()]);

        let (result, liveness, graceful) = supervise_with(Part::new("sweeper 2", async {
            panic!("boom");
        }))
        .await;
        let stopped = result.unwrap_err();
        assert_eq!(stopped.part, "sweeper 2");
        assert!(stopped.reason.contains("boom"), "{stopped}");
        assert_eq!(liveness.stopped(), vec!["sweeper 2".to_string()]);
        assert_eq!(graceful.len(), 2);
    }

    #[tokio::test]
    async fn a_requested_shutdown_is_not_a_failure() {
        let shutdown = CancellationToken::new();
        let liveness = Liveness::default();
        let graceful = Arc::new(Mutex::new(Vec::new()));
        let parts = vec![
            until_shutdown("http server", &shutdown, &graceful),
            until_shutdown("sweeper", &shutdown, &graceful),
        ];
        let stop = shutdown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            stop.cancel();
        });
        supervise(parts, shutdown, &liveness).await.unwrap();
        assert!(liveness.stopped().is_empty());
        assert_eq!(graceful.lock().unwrap().len(), 2);
    }
}
