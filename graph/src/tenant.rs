//! A customer tenant as jitgate connects to it: app-only, client credentials.

use crate::credential::{ClientCertificate, ClientCredential};
use crate::secret::Secret;

/// The Entra connection of one customer: their tenant and the app registration (with a
/// service principal in that tenant) whose credential jitgate holds.
#[derive(Debug, Clone)]
pub struct Tenant {
    /// Directory (tenant) ID, a GUID (a verified domain also works with Entra).
    pub tenant_id: String,
    /// Application (client) ID of the app registration.
    pub client_id: String,
    /// The app's client secret value, or its certificate with the private key.
    pub credential: ClientCredential,
}

impl Tenant {
    /// A connection that authenticates with a client secret's *value* (not its Secret ID).
    pub fn new(
        tenant_id: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<Secret>,
    ) -> Self {
        Self::with_credential(
            tenant_id,
            client_id,
            ClientCredential::Secret(client_secret.into()),
        )
    }

    /// A connection that authenticates with a certificate registered on the app.
    pub fn with_certificate(
        tenant_id: impl Into<String>,
        client_id: impl Into<String>,
        certificate: ClientCertificate,
    ) -> Self {
        Self::with_credential(
            tenant_id,
            client_id,
            ClientCredential::Certificate(certificate),
        )
    }

    pub fn with_credential(
        tenant_id: impl Into<String>,
        client_id: impl Into<String>,
        credential: ClientCredential,
    ) -> Self {
        Tenant {
            tenant_id: tenant_id.into(),
            client_id: client_id.into(),
            credential,
        }
    }
}
