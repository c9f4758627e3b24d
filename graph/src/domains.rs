//! The tenant's domains (`GET /domains`, https://learn.microsoft.com/graph/api/domain-list):
//! where JIT accounts can live. Only a verified, cloud-managed domain works: Entra refuses
//! new users on unverified domains, and users on federated domains sign in elsewhere.

use reqwest::Method;
use serde::Deserialize;

use crate::advice::Needs;
use crate::client::GraphClient;
use crate::error::GraphError;
use crate::tenant::Tenant;
use crate::transport::{Call, Collection};

/// One domain of a tenant (Graph's `domain` resource,
/// https://learn.microsoft.com/graph/api/resources/domain).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Domain {
    /// The fully qualified domain name.
    pub id: String,
    #[serde(default)]
    pub is_default: bool,
    /// The tenant's `*.onmicrosoft.com` domain.
    #[serde(default)]
    pub is_initial: bool,
    #[serde(default)]
    pub is_verified: bool,
    /// `Managed` (Entra signs users in) or `Federated` (another identity provider does).
    #[serde(default)]
    pub authentication_type: String,
}

impl Domain {
    /// Entra itself authenticates users of this domain (not federated).
    pub fn is_managed(&self) -> bool {
        self.authentication_type.eq_ignore_ascii_case("Managed")
    }

    /// jitgate can create JIT accounts on it: verified and cloud-managed.
    pub fn can_hold_jit_accounts(&self) -> bool {
        self.is_verified && self.is_managed()
    }
}

impl GraphClient {
    /// Every domain of the tenant, verified or not.
    pub async fn list_domains(&self, tenant: &Tenant) -> Result<Vec<Domain>, GraphError> {
        let call = Call {
            operation: "list domains",
            needs: Needs::ReadDomains,
            method: Method::GET,
            url: self.v1(&["domains"]),
            body: None,
        };
        let reply = self.send(tenant, &call).await?.success(tenant)?;
        Ok(reply.json::<Collection<Domain>>()?.value)
    }
}
