//! A customer tenant as jitgate connects to it: app-only, client credentials.

use crate::secret::Secret;

/// The Entra connection of one customer: their tenant and the app registration (with a
/// service principal in that tenant) whose client secret jitgate holds.
#[derive(Debug, Clone)]
pub struct Tenant {
    /// Directory (tenant) ID, a GUID (a verified domain also works with Entra).
    pub tenant_id: String,
    /// Application (client) ID of the app registration.
    pub client_id: String,
    /// The client secret's *value* (not its Secret ID).
    pub client_secret: Secret,
}

impl Tenant {
    pub fn new(
        tenant_id: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<Secret>,
    ) -> Self {
        Tenant {
            tenant_id: tenant_id.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
        }
    }
}
