//! Live connector instances, built from stored settings and secrets and cached until the
//! connector changes (its `updated_at` moves).
//!
//! Every webhook delivery needs its connector, and most deliveries are ignored at once, so the
//! cached entry is trusted for [`RECHECK_AFTER`] before the row is read again: a delivery then
//! costs no database read. A change made through this process's admin API drops the entry at
//! once ([`ConnectorRegistry::forget`]); another instance's change (several instances on
//! PostgreSQL), or a direct database edit, is seen within [`RECHECK_AFTER`].

use crate::crypto::Keyring;
use crate::store::{self, Db, StoreError};
use jitgate_connectors::{Connector, ConnectorKind, Secret, SecretValues};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a cached connector is used without reading its row again: disabling or deleting a
/// connector elsewhere takes effect within this (well inside a second).
pub const RECHECK_AFTER: Duration = Duration::from_millis(500);

#[derive(Clone)]
pub struct LiveConnector {
    pub id: String,
    pub kind: ConnectorKind,
    pub enabled: bool,
    pub instance: Arc<dyn Connector>,
    updated_at: i64,
}

struct Cached {
    live: LiveConnector,
    checked_at: Instant,
}

pub struct ConnectorRegistry {
    db: Db,
    keyring: Arc<Keyring>,
    http: reqwest::Client,
    cache: Mutex<HashMap<String, Cached>>,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("no such connector")]
    Unknown,
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Stored settings no longer build (e.g. written by a newer version): an operator problem.
    #[error("connector {id} cannot be built from its stored settings: {detail}")]
    Broken { id: String, detail: String },
}

impl ConnectorRegistry {
    pub fn new(db: Db, keyring: Arc<Keyring>, http: reqwest::Client) -> Self {
        ConnectorRegistry {
            db,
            keyring,
            http,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The connector as stored at most [`RECHECK_AFTER`] ago; rebuilt only when it changed
    /// since it was cached.
    pub async fn get(&self, id: &str) -> Result<LiveConnector, RegistryError> {
        if let Some(c) = self.cache.lock().expect("registry lock").get(id)
            && c.checked_at.elapsed() < RECHECK_AFTER
        {
            return Ok(c.live.clone());
        }
        let row = match store::connectors::get(&self.db, id).await {
            Ok(row) => row,
            Err(StoreError::NotFound) => {
                self.forget(id);
                return Err(RegistryError::Unknown);
            }
            Err(e) => return Err(e.into()),
        };
        let checked_at = Instant::now();
        if let Some(c) = self.cache.lock().expect("registry lock").get_mut(id)
            && c.live.updated_at == row.updated_at
        {
            c.live.enabled = row.enabled;
            c.checked_at = checked_at;
            return Ok(c.live.clone());
        }
        let kind = ConnectorKind::parse(&row.kind).ok_or_else(|| RegistryError::Broken {
            id: id.into(),
            detail: format!("unknown kind {}", row.kind),
        })?;
        let settings: serde_json::Value =
            serde_json::from_str(&row.settings).map_err(|e| RegistryError::Broken {
                id: id.into(),
                detail: e.to_string(),
            })?;
        let secrets = self.secrets(id).await?;
        let instance = jitgate_connectors::build(kind, &settings, secrets, self.http.clone())
            .map_err(|e| RegistryError::Broken {
                id: id.into(),
                detail: format!("{:?}", e.fields.keys().collect::<Vec<_>>()),
            })?;
        let live = LiveConnector {
            id: row.id.clone(),
            kind,
            enabled: row.enabled,
            instance,
            updated_at: row.updated_at,
        };
        let mut cache = self.cache.lock().expect("registry lock");
        // Deliveries that missed the cache together each built an instance; all of them use
        // the first one cached, so per-connector state (a ConnectWise connector's key cache and
        // its budget of key fetches) is never split across copies.
        if let Some(c) = cache.get(id)
            && c.live.updated_at == live.updated_at
        {
            return Ok(c.live.clone());
        }
        cache.insert(
            row.id,
            Cached {
                live: live.clone(),
                checked_at,
            },
        );
        Ok(live)
    }

    /// Drop a connector from the cache (it was changed or deleted through this process), so
    /// the next delivery reads it afresh.
    pub fn forget(&self, id: &str) {
        self.cache.lock().expect("registry lock").remove(id);
    }

    async fn secrets(&self, id: &str) -> Result<SecretValues, StoreError> {
        let grouped = store::connectors::secrets(&self.db, &self.keyring, id).await?;
        Ok(SecretValues(
            grouped
                .into_iter()
                .map(|(name, values)| (name, values.into_iter().map(Secret::from).collect()))
                .collect(),
        ))
    }
}
