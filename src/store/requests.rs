//! JIT requests made in the technicians' portal: the request row and its provisioning job in
//! the caller's transaction (the same job a webhook delivery gets, so the same checks run),
//! and what the portal reads back about a technician's requests.

use super::deliveries::RequestRow;
use super::{Db, Result, Tx, audit, new_id, now_ms, on_db, on_tx};
use crate::domain::lifecycle::RequestKind;
use crate::store::audit::AuditEntry;
use crate::store::queue::Outbox;

/// What a signed-in technician asks for in the portal. The customer and the technician are
/// known (no PSA lookup); delegation and everything after it is still checked by the job.
#[derive(Debug, Clone)]
pub struct PortalRequest {
    pub customer_id: String,
    pub technician_id: String,
    /// `None`: the customer's duration (capped by `jit_max_duration` in the job, as for any
    /// request).
    pub duration_secs: Option<i64>,
    pub reason: Option<String>,
    /// A ticket reference the technician typed: free text, kept for the audit trail. No note
    /// goes anywhere without a connector.
    pub ticket_ref: Option<String>,
    /// The PSA connector whose ticket `ticket_ref` is, when the request came from the
    /// in-ticket link: the credential note then goes to that ticket.
    pub connector_id: Option<String>,
}

/// Record a portal request with its provisioning job and the `request.submitted` audit row
/// (`audit`, completed with the request's id), in `tx`. Returns the request's id.
pub async fn submit_portal(
    tx: &mut Tx,
    outbox: &dyn Outbox,
    request: &PortalRequest,
    audit: &AuditEntry,
) -> Result<String> {
    let now = now_ms();
    let request_id = new_id("req");
    on_tx!(tx, conn => sqlx::query(
        "INSERT INTO jit_requests (id, connector_id, delivery_key, kind, ticket_ref, duration_secs, status,
             customer_id, technician_id, source, requested_by, reason, created_at, updated_at)
         VALUES ($1, $9, NULL, $2, $3, $4, 'pending', $5, $6, 'portal', $6, $7, $8, $8)")
        .bind(&request_id).bind(RequestKind::Request).bind(&request.ticket_ref).bind(request.duration_secs)
        .bind(&request.customer_id).bind(&request.technician_id).bind(&request.reason).bind(now)
        .bind(&request.connector_id)
        .execute(&mut *conn).await?.rows_affected());
    tx.push_job(&outbox.provision(&request_id)).await?;
    let entry = audit.clone().detail(submitted_detail(&request_id, request));
    audit::record(tx, &entry).await?;
    Ok(request_id)
}

fn submitted_detail(request_id: &str, request: &PortalRequest) -> String {
    let mut detail = match &request.connector_id {
        Some(connector) => {
            format!("request {request_id} from the ticket link of connector {connector}")
        }
        None => format!("request {request_id} from the portal"),
    };
    if let Some(secs) = request.duration_secs {
        detail.push_str(&format!("; {} minutes asked", secs / 60));
    }
    if let Some(t) = &request.ticket_ref {
        detail.push_str(&format!("; ticket reference {t}"));
    }
    if let Some(r) = &request.reason {
        detail.push_str(&format!("; reason: {r}"));
    }
    detail
}

/// The request `id` if `technician_id` asked for it in the portal (anyone else's is `None`).
pub async fn portal_request(db: &Db, id: &str, technician_id: &str) -> Result<Option<RequestRow>> {
    Ok(on_db!(db, pool => sqlx::query_as(
        "SELECT * FROM jit_requests WHERE id = $1 AND source = 'portal' AND requested_by = $2")
        .bind(id).bind(technician_id).fetch_optional(pool).await?))
}

/// The technician's latest portal request per customer (newest first), for the tenants list:
/// a pending one shows as "requested", a refused one with its reason.
pub async fn latest_portal_requests(db: &Db, technician_id: &str) -> Result<Vec<RequestRow>> {
    let rows: Vec<RequestRow> = on_db!(db, pool => sqlx::query_as(
        "SELECT * FROM jit_requests WHERE requested_by = $1 AND source = 'portal'
         ORDER BY created_at DESC, id DESC LIMIT 500")
        .bind(technician_id).fetch_all(pool).await?);
    let mut seen = std::collections::HashSet::new();
    Ok(rows
        .into_iter()
        .filter(|r| seen.insert(r.customer_id.clone()))
        .collect())
}
