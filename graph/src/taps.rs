//! Temporary Access Pass calls: list a user's passes and delete one (ending access deletes
//! every pass the account holds).

use reqwest::Method;
use serde::Deserialize;

use crate::advice::Needs;
use crate::client::GraphClient;
use crate::error::GraphError;
use crate::tenant::Tenant;
use crate::transport::{Call, Collection, Reply};

/// A Temporary Access Pass method (the pass itself is only readable at creation).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TapMethod {
    pub id: String,
}

impl GraphClient {
    /// The user's Temporary Access Pass methods.
    pub async fn list_taps(
        &self,
        tenant: &Tenant,
        user_id: &str,
    ) -> Result<Vec<TapMethod>, GraphError> {
        let reply = self.send(tenant, &self.list_taps_call(user_id)).await?;
        taps_answer(tenant, reply)
    }

    pub(crate) fn list_taps_call(&self, user_id: &str) -> Call {
        Call {
            operation: "list Temporary Access Passes",
            needs: Needs::AuthenticationMethods,
            method: Method::GET,
            url: self.v1(&[
                "users",
                user_id,
                "authentication",
                "temporaryAccessPassMethods",
            ]),
            body: None,
        }
    }

    /// Deletes one Temporary Access Pass. `false` if it was already gone.
    pub async fn delete_tap(
        &self,
        tenant: &Tenant,
        user_id: &str,
        tap_id: &str,
    ) -> Result<bool, GraphError> {
        let call = Call {
            operation: "delete Temporary Access Pass",
            needs: Needs::AuthenticationMethods,
            method: Method::DELETE,
            url: self.v1(&[
                "users",
                user_id,
                "authentication",
                "temporaryAccessPassMethods",
                tap_id,
            ]),
            body: None,
        };
        let reply = self.send(tenant, &call).await?;
        if reply.status == 404 {
            return Ok(false);
        }
        reply.success(tenant)?;
        Ok(true)
    }
}

pub(crate) fn taps_answer(tenant: &Tenant, reply: Reply) -> Result<Vec<TapMethod>, GraphError> {
    Ok(reply
        .success(tenant)?
        .json::<Collection<TapMethod>>()?
        .value)
}
