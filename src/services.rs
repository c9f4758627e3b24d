//! The one value every HTTP handler and every job reaches: the database, the master keys,
//! the outbound clients (Microsoft Graph, the PSA connectors), configuration and metrics.
//! Built once at start ([`crate::app::Application::build`]) and shared behind an `Arc`.

use crate::config::Config;
use crate::crypto::Keyring;
use crate::metrics::Metrics;
use crate::psa::ConnectorRegistry;
use crate::store::Db;
use crate::supervision::Liveness;
use std::sync::Arc;

pub struct Services {
    pub config: Arc<Config>,
    pub db: Db,
    pub keyring: Arc<Keyring>,
    pub metrics: Arc<Metrics>,
    /// Which supervised parts (workers, sweeper) stopped: `/readyz` reports them.
    pub liveness: Liveness,
    /// The one outbound HTTP client (its TLS roots, timeouts and no redirects).
    pub http: reqwest::Client,
    pub graph: jitgate_graph::GraphClient,
    pub connectors: Arc<ConnectorRegistry>,
    /// The delivery log's queue; its writer is a supervised part.
    pub delivery_log: Arc<crate::store::delivery_log::DeliveryLog>,
    /// This process's name in leases and locks (unique per start).
    pub instance: String,
}

impl Services {
    /// The same services on another pool of the same database (background work's own).
    pub fn with_db(&self, db: Db) -> Services {
        Services {
            config: self.config.clone(),
            db,
            keyring: self.keyring.clone(),
            metrics: self.metrics.clone(),
            liveness: self.liveness.clone(),
            http: self.http.clone(),
            graph: self.graph.clone(),
            connectors: self.connectors.clone(),
            delivery_log: self.delivery_log.clone(),
            instance: self.instance.clone(),
        }
    }
}
