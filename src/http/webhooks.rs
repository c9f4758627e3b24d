//! `POST /webhooks/{connector_id}`: the gateway's front door.
//!
//! Verify on the raw bytes, decide, and for a request accept it in one transaction. Nothing
//! slow happens here (no Graph, no PSA API call) so acknowledgements stay far inside the PSAs'
//! timeouts (ConnectWise 5 s, Autotask 10 s). Bad input always gets a 4xx.
//!
//! Every answered delivery goes to the delivery log through its queue (never a database write
//! on this path): an ignored delivery still costs no database access.

use super::error::AppError;
use super::state::AppState;
use crate::domain::lifecycle::RequestKind;
use crate::psa::{LiveConnector, RegistryError};
use crate::store::deliveries::{self, Accepted, Incoming};
use crate::store::delivery_log::{Entry, Outcome};
use axum::Json;
use axum::body::{Body, to_bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use jitgate_connectors::{Delivery, ReceiveError, Trigger};
use serde_json::json;

/// Deliveries larger than this are refused with 413 before anything else is read.
pub const MAX_BODY: usize = 256 * 1024;

pub fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/webhooks/{connector_id}", axum::routing::post(receive))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
}

async fn receive(
    State(state): State<AppState>,
    Path(connector_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AppError> {
    let body = to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| AppError::PayloadTooLarge)?;
    let connector = match state.connectors.get(&connector_id).await {
        Ok(c) if c.enabled => c,
        Ok(_) | Err(RegistryError::Unknown) => return Err(AppError::NotFound("no such connector")),
        Err(e) => return Err(AppError::internal(e)),
    };
    let mut entry = Entry::new(&connector_id, Outcome::Ignored);
    if state.delivery_log.capturing(&connector_id) {
        entry.body = Some(body.to_vec());
    }
    let answer = answer(&state, &connector, &headers, &body, &mut entry).await;
    // Our own failures (the database) are not the PSA's delivery's outcome: they are logged
    // as errors, and the PSA retries.
    if !matches!(answer, Err(AppError::Internal { .. })) {
        log_delivery(&state, entry);
    }
    answer
}

/// Verify, decide and (for a request) accept the delivery; `entry` records how it went.
async fn answer(
    state: &AppState,
    connector: &LiveConnector,
    headers: &HeaderMap,
    body: &[u8],
    entry: &mut Entry,
) -> Result<Response, AppError> {
    let connector_id = connector.id.as_str();
    let delivery = Delivery {
        headers,
        body,
        received_at: time::OffsetDateTime::now_utc(),
    };
    let event = match connector.instance.receive(delivery).await {
        Ok(event) => event,
        Err(ReceiveError::Unauthorized(why)) => {
            state.metrics.delivery(connector_id, "unauthorized");
            tracing::info!(connector = %connector_id, reason = %why, "delivery refused: not authenticated");
            entry.refused(Outcome::Unauthorized, why);
            return Err(AppError::Unauthorized(
                "the delivery's signature or credentials do not verify",
            ));
        }
        Err(ReceiveError::Unavailable(why)) => {
            state.metrics.delivery(connector_id, "unavailable");
            tracing::warn!(connector = %connector_id, reason = %why, "delivery not verifiable now; asking the PSA to retry");
            entry.refused(Outcome::Retry, why);
            return Ok((
                StatusCode::TOO_MANY_REQUESTS,
                [(axum::http::header::RETRY_AFTER, "2")],
                Json(json!({ "status": "retry", "reason": "the delivery cannot be verified right now" })),
            )
                .into_response());
        }
        Err(ReceiveError::Malformed(why)) => {
            state.metrics.delivery(connector_id, "invalid");
            tracing::info!(connector = %connector_id, reason = %why, "delivery refused: malformed");
            entry.refused(Outcome::Invalid, why.clone());
            return Err(AppError::BadRequest(format!("malformed delivery: {why}")));
        }
    };
    let ticket = event.ticket.as_ref().map(|t| t.0.clone());
    entry.event_id = Some(event.delivery_key.0.clone());
    entry.ticket_ref = ticket.clone();
    entry.signature_form = event.signature_form.clone();
    let (kind, duration_secs) = match event.trigger {
        Trigger::None => return Ok(ignored(state, entry, "not a JIT request")),
        Trigger::Cleared => {
            if let Some(t) = &ticket {
                deliveries::release_latch(&state.db, connector_id, t).await?;
            }
            return Ok(ignored(state, entry, "trigger cleared"));
        }
        Trigger::Requested { duration_secs } => (RequestKind::Request, duration_secs),
        // The ticket is read and decided by the provision job, off this path.
        Trigger::Undecided => (RequestKind::Request, None),
        Trigger::Cancelled => (RequestKind::Cancel, None),
    };
    let undecided = event.trigger == Trigger::Undecided;
    let incoming = Incoming {
        connector_id: connector_id.to_string(),
        delivery_key: event.delivery_key.0.clone(),
        kind,
        ticket_ref: ticket.clone(),
        psa_company_id: event.company.as_ref().map(|c| c.0.clone()),
        actor: event
            .actor
            .as_ref()
            .map(|a| serde_json::to_string(a).expect("actor serializes")),
        duration_secs: duration_secs.map(|s| s.min(i64::MAX as u64) as i64),
        // An undecided delivery latches nothing: whether the trigger is set is not known yet.
        latch_ticket: kind == RequestKind::Request
            && !undecided
            && connector.instance.level_triggered(),
        undecided,
    };
    match deliveries::accept(&state.db, crate::jobs::queue::OUTBOX, &incoming).await? {
        Accepted::New { request_id } => {
            state.metrics.delivery(connector_id, "accepted");
            tracing::info!(connector = %connector_id, ticket = ?ticket, request = %request_id, %kind, undecided, "JIT {kind} accepted");
            entry.outcome = Outcome::Accepted;
            entry.reason = undecided.then(|| {
                "the payload lacks the trigger's fields: the ticket is read before deciding".into()
            });
            entry.request_id = Some(request_id.clone());
            Ok((
                StatusCode::ACCEPTED,
                Json(json!({ "status": "accepted", "request_id": request_id })),
            )
                .into_response())
        }
        Accepted::Duplicate => {
            state.metrics.delivery(connector_id, "duplicate");
            entry.outcome = Outcome::Duplicate;
            entry.reason = Some("this delivery was accepted before".into());
            Ok((StatusCode::OK, Json(json!({ "status": "duplicate" }))).into_response())
        }
        Accepted::StillTriggered => Ok(ignored(
            state,
            entry,
            "trigger still set from an earlier request",
        )),
    }
}

fn ignored(state: &AppState, entry: &mut Entry, why: &'static str) -> Response {
    state.metrics.delivery(&entry.connector_id, "ignored");
    entry.outcome = Outcome::Ignored;
    entry.reason = Some(why.into());
    (
        StatusCode::OK,
        Json(json!({ "status": "ignored", "reason": why })),
    )
        .into_response()
}

/// Hand the entry to the log's writer without waiting; a full queue drops it (counted).
fn log_delivery(state: &AppState, entry: Entry) {
    if !state.delivery_log.record(entry) {
        state.metrics.delivery_log_dropped.inc();
    }
}
