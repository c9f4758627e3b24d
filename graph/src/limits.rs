//! How many Graph calls run at once, per customer tenant and in all, and which tenants are
//! throttled right now.
//!
//! Graph throttles per app and tenant (https://learn.microsoft.com/graph/throttling-limits,
//! "Identity and access service limits"), and throttled requests still count against the
//! limit (https://learn.microsoft.com/graph/throttling). So a tenant's calls get their own
//! small pool of slots, taken before a slot of the global pool: a slow or throttled tenant
//! waits in its own queue and never holds the slots other tenants need. After a 429 the tenant
//! is left alone until its `Retry-After` has passed, by every caller of this process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Graph calls in flight at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Concurrency {
    /// In all, every tenant together.
    pub global: usize,
    /// For one customer tenant.
    pub per_tenant: usize,
}

impl Default for Concurrency {
    fn default() -> Self {
        Concurrency {
            global: 48,
            per_tenant: 4,
        }
    }
}

pub(crate) struct CallLimits {
    concurrency: Concurrency,
    global: Arc<Semaphore>,
    tenants: Mutex<HashMap<String, TenantGate>>,
}

struct TenantGate {
    calls: Arc<Semaphore>,
    throttled_until: Option<Instant>,
}

/// One call's slots; dropping it frees them.
pub(crate) struct CallPermit {
    _tenant: OwnedSemaphorePermit,
    _global: OwnedSemaphorePermit,
}

impl CallLimits {
    pub(crate) fn new(concurrency: Concurrency) -> CallLimits {
        let concurrency = Concurrency {
            global: concurrency.global.max(1),
            per_tenant: concurrency.per_tenant.max(1),
        };
        CallLimits {
            concurrency,
            global: Arc::new(Semaphore::new(concurrency.global)),
            tenants: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn concurrency(&self) -> Concurrency {
        self.concurrency
    }

    /// Waits for a slot of the tenant, then one of the global pool.
    pub(crate) async fn acquire(&self, tenant_id: &str) -> CallPermit {
        let tenant = self.gate(tenant_id, |gate| gate.calls.clone());
        let tenant = tenant.acquire_owned().await.expect("never closed");
        let global = self
            .global
            .clone()
            .acquire_owned()
            .await
            .expect("never closed");
        CallPermit {
            _tenant: tenant,
            _global: global,
        }
    }

    /// How long the tenant is still throttled, if it is.
    pub(crate) fn throttled_for(&self, tenant_id: &str) -> Option<Duration> {
        let until = self.gate(tenant_id, |gate| gate.throttled_until)?;
        until.checked_duration_since(Instant::now())
    }

    /// Graph answered 429 for the tenant: leave it alone for `retry_after`.
    pub(crate) fn throttled(&self, tenant_id: &str, retry_after: Duration) {
        let until = Instant::now() + retry_after;
        self.gate(tenant_id, |gate| {
            gate.throttled_until = Some(gate.throttled_until.map_or(until, |u| u.max(until)));
        });
    }

    fn gate<T>(&self, tenant_id: &str, f: impl FnOnce(&mut TenantGate) -> T) -> T {
        let mut tenants = self.tenants.lock().expect("limits lock");
        let key = tenant_id.to_ascii_lowercase();
        let gate = tenants.entry(key).or_insert_with(|| TenantGate {
            calls: Arc::new(Semaphore::new(self.concurrency.per_tenant)),
            throttled_until: None,
        });
        f(gate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_busy_tenant_does_not_take_the_slots_of_another() {
        let limits = CallLimits::new(Concurrency {
            global: 3,
            per_tenant: 2,
        });
        let _a1 = limits.acquire("a").await;
        let _a2 = limits.acquire("a").await;
        // A third call for `a` waits on a's own pool, holding no global slot meanwhile.
        let third = tokio::time::timeout(Duration::from_millis(50), limits.acquire("A")).await;
        assert!(third.is_err(), "tenant ids compare case-insensitively");
        let b = tokio::time::timeout(Duration::from_millis(50), limits.acquire("b")).await;
        assert!(b.is_ok(), "the global pool still has a slot for b");
    }

    #[test]
    fn a_throttled_tenant_stays_throttled_until_its_retry_after() {
        let limits = CallLimits::new(Concurrency::default());
        assert_eq!(limits.throttled_for("t"), None);
        limits.throttled("t", Duration::from_secs(30));
        limits.throttled("t", Duration::from_secs(1)); // never shortened
        let left = limits.throttled_for("t").expect("throttled");
        assert!(left > Duration::from_secs(29), "{left:?}");
        assert_eq!(limits.throttled_for("other"), None);
    }
}
