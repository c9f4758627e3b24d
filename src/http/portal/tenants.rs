//! What the portal knows about the signed-in technician's tenants: which customers they may
//! work, and their access in each (none, requested, active, ending).

use crate::http::pages::PageError;
use crate::http::session::SignedIn;
use crate::http::state::AppState;
use crate::store::customers::{Customer, Visibility};
use crate::store::deliveries::RequestRow;
use crate::store::grants::{Grant, GrantFilter};
use crate::store::{self, StoreError, now_ms};
use std::collections::HashMap;
use std::time::Duration;

/// The technician's access in one customer's tenant.
#[derive(Debug, Clone)]
pub enum Access {
    /// No open grant; the last portal request if it was refused or failed (with its reason).
    None { last_problem: Option<RequestRow> },
    /// A portal request waiting for its job.
    Requested { request: RequestRow },
    /// An open grant, before its expiry.
    Active { grant: Grant },
    /// An open grant whose end is asked for or due: the account is being disabled.
    Ending,
}

impl Access {
    pub fn open_grant(&self) -> Option<&Grant> {
        match self {
            Access::Active { grant } => Some(grant),
            _ => None,
        }
    }
}

/// One row of "My tenants".
#[derive(Debug, Clone)]
pub struct Tenant {
    pub customer: Customer,
    /// The tenant id of the customer's Entra connection, if it has one.
    pub tenant_id: Option<String>,
    /// The length a request gets when it asks for none (customer's default, capped).
    pub default_duration: Duration,
    pub access: Access,
}

/// Every customer the signed-in technician may work (all of them for an MSP admin), by name.
pub async fn my_tenants(state: &AppState, signed_in: &SignedIn) -> Result<Vec<Tenant>, PageError> {
    let me = &signed_in.session.technician_id;
    let customers = workable_customers(state, signed_in).await?;
    let grants = open_grants(state, me).await?;
    let requests = latest_requests(state, me).await?;
    let mut tenants = Vec::with_capacity(customers.len());
    for customer in customers {
        let access = access_in(&customer.id, &grants, &requests);
        tenants.push(tenant(state, customer, access).await?);
    }
    Ok(tenants)
}

/// One customer the technician may work; `Forbidden` for any other (the same answer whether
/// the customer exists or not).
pub async fn my_tenant(
    state: &AppState,
    signed_in: &SignedIn,
    customer_id: &str,
) -> Result<Tenant, PageError> {
    let not_yours = || {
        PageError::Forbidden(
            "This customer is not one of yours: you are not delegated to it. Ask an MSP admin \
             to delegate it to you."
                .into(),
        )
    };
    let me = &signed_in.session.technician_id;
    let technician = store::technicians::get(&state.db, me).await?;
    let customer = match store::customers::get(&state.db, &Visibility::All, customer_id).await {
        Ok(c) => c,
        Err(StoreError::NotFound) => return Err(not_yours()),
        Err(e) => return Err(e.into()),
    };
    if !store::technicians::may_work(&state.db, &technician, &customer.id).await? {
        return Err(not_yours());
    }
    let grants = open_grants(state, me).await?;
    let requests = latest_requests(state, me).await?;
    let access = access_in(&customer.id, &grants, &requests);
    tenant(state, customer, access).await
}

async fn workable_customers(
    state: &AppState,
    signed_in: &SignedIn,
) -> Result<Vec<Customer>, PageError> {
    let mut all = store::customers::list(&state.db, &Visibility::All).await?;
    if !signed_in.session.is_admin {
        let delegated =
            store::technicians::delegated_customers(&state.db, &signed_in.session.technician_id)
                .await?;
        all.retain(|c| delegated.contains(&c.id));
    }
    all.sort_by_key(|c| c.name.to_lowercase());
    Ok(all)
}

async fn open_grants(
    state: &AppState,
    technician_id: &str,
) -> Result<HashMap<String, Grant>, PageError> {
    let filter = GrantFilter {
        technician_id: Some(technician_id.to_string()),
        open_only: true,
        limit: 1000,
        ..Default::default()
    };
    Ok(store::grants::list(&state.db, &filter)
        .await?
        .into_iter()
        .map(|g| (g.customer_id.clone(), g))
        .collect())
}

async fn latest_requests(
    state: &AppState,
    technician_id: &str,
) -> Result<HashMap<String, RequestRow>, PageError> {
    Ok(
        store::requests::latest_portal_requests(&state.db, technician_id)
            .await?
            .into_iter()
            .filter_map(|r| Some((r.customer_id.clone()?, r)))
            .collect(),
    )
}

/// An open grant decides; without one, a pending portal request shows as requested.
fn access_in(
    customer_id: &str,
    grants: &HashMap<String, Grant>,
    requests: &HashMap<String, RequestRow>,
) -> Access {
    use crate::domain::lifecycle::RequestStatus;
    if let Some(grant) = grants.get(customer_id) {
        let grant = grant.clone();
        return if grant.end_requested || grant.expires_at <= now_ms() {
            Access::Ending
        } else {
            Access::Active { grant }
        };
    }
    match requests.get(customer_id) {
        Some(r) if r.status == RequestStatus::Pending => Access::Requested { request: r.clone() },
        Some(r) if matches!(r.status, RequestStatus::Refused | RequestStatus::Failed) => {
            Access::None {
                last_problem: Some(r.clone()),
            }
        }
        _ => Access::None { last_problem: None },
    }
}

async fn tenant(state: &AppState, customer: Customer, access: Access) -> Result<Tenant, PageError> {
    let connection = store::customers::entra(&state.db, &customer.id).await?;
    let default_duration = crate::jobs::provision::grant_duration(
        &state.config,
        None,
        connection.as_ref().and_then(|c| c.duration_secs),
    );
    Ok(Tenant {
        customer,
        tenant_id: connection.map(|c| c.tenant_id),
        default_duration,
        access,
    })
}

/// The Microsoft sign-in address that opens the customer's tenant directly (My Apps with the
/// tenant named, so a technician signed in elsewhere is not sent to their own tenant):
/// https://learn.microsoft.com/entra/external-id/redemption-experience ("a tenant-specific
/// link such as https://myapps.microsoft.com/?tenantid=<tenant id>").
pub fn sign_in_address(tenant_id: &str) -> String {
    format!(
        "https://myapps.microsoft.com/?tenantid={}",
        url::form_urlencoded::byte_serialize(tenant_id.as_bytes()).collect::<String>()
    )
}
