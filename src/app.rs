//! Assembling the running service: database, keys, HTTP server and background workers, all
//! stopped together by one cancellation token.

use crate::config::Config;
use crate::crypto::{Keyring, KeyringOrigin};
use crate::http::{self, state::AppState};
use crate::metrics::Metrics;
use crate::store::Db;
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
    #[error("server failed: {0}")]
    Serve(std::io::Error),
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
        );
        let state = AppState {
            config: Arc::new(config),
            db,
            keyring,
            metrics: Arc::new(Metrics::new()),
            http,
            connectors,
        };
        let jobs = Arc::new(crate::jobs::JobContext {
            config: state.config.clone(),
            db: state.db.clone(),
            keyring: state.keyring.clone(),
            metrics: state.metrics.clone(),
            graph,
            connectors: state.connectors.clone(),
            instance: crate::jobs::instance_name(),
        });
        Ok(Application {
            listener,
            state,
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
    /// let requests and jobs in flight finish.
    pub async fn run(self) -> Result<(), StartError> {
        let addr = self.local_addr();
        tracing::info!(%addr, database = self.state.db.kind(), instance = %self.jobs.instance, "jitgate listening");
        let config = self.state.config.clone();
        let workers = tokio::spawn(crate::jobs::worker::run(
            self.jobs.clone(),
            config.poll_interval.get(),
            config.shutdown_timeout.get(),
            self.shutdown.clone(),
        ));
        let sweeper = tokio::spawn(crate::jobs::sweeper::run(
            self.jobs.clone(),
            config.sweep_interval.get(),
            self.shutdown.clone(),
        ));
        let router = http::router(self.state.clone());
        let shutdown = self.shutdown.clone();
        let served = axum::serve(
            self.listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await;
        self.shutdown.cancel();
        let _ = tokio::join!(workers, sweeper);
        served.map_err(StartError::Serve)?;
        self.state.db.close().await;
        tracing::info!("jitgate stopped");
        Ok(())
    }
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
