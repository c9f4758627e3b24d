//! What every handler can reach.

use crate::config::Config;
use crate::crypto::Keyring;
use crate::metrics::Metrics;
use crate::psa::ConnectorRegistry;
use crate::store::Db;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub keyring: Arc<Keyring>,
    pub metrics: Arc<Metrics>,
    /// Which supervised parts (workers, sweeper) stopped: `/readyz` reports them.
    pub liveness: crate::app::Liveness,
    pub http: reqwest::Client,
    pub connectors: Arc<ConnectorRegistry>,
}
