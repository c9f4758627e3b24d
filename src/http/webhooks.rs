//! `POST /webhooks/{connector_id}`: the gateway's front door.
//!
//! Verify on the raw bytes, decide, and for a request accept it in one transaction. Nothing
//! slow happens here (no Graph, no PSA API call) so acknowledgements stay far inside the PSAs'
//! timeouts (ConnectWise 5 s, Autotask 10 s). Bad input always gets a 4xx.

use super::error::AppError;
use super::state::AppState;
use crate::domain::lifecycle::RequestKind;
use crate::psa::RegistryError;
use crate::store::deliveries::{self, Accepted, Incoming};
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
    let delivery = Delivery {
        headers: &headers,
        body: &body,
        received_at: time::OffsetDateTime::now_utc(),
    };
    let event = match connector.instance.receive(delivery).await {
        Ok(event) => event,
        Err(ReceiveError::Unauthorized(why)) => {
            state.metrics.delivery(&connector_id, "unauthorized");
            tracing::info!(connector = %connector_id, reason = %why, "delivery refused: not authenticated");
            return Err(AppError::Unauthorized(
                "the delivery's signature or credentials do not verify",
            ));
        }
        Err(ReceiveError::Unavailable(why)) => {
            state.metrics.delivery(&connector_id, "unavailable");
            tracing::warn!(connector = %connector_id, reason = %why, "delivery not verifiable now; asking the PSA to retry");
            return Ok((
                StatusCode::TOO_MANY_REQUESTS,
                [(axum::http::header::RETRY_AFTER, "2")],
                Json(json!({ "status": "retry", "reason": "the delivery cannot be verified right now" })),
            )
                .into_response());
        }
        Err(ReceiveError::Malformed(why)) => {
            state.metrics.delivery(&connector_id, "invalid");
            tracing::info!(connector = %connector_id, reason = %why, "delivery refused: malformed");
            return Err(AppError::BadRequest(format!("malformed delivery: {why}")));
        }
    };
    let ticket = event.ticket.as_ref().map(|t| t.0.clone());
    let (kind, duration_secs) = match event.trigger {
        Trigger::None => return Ok(ignored(&state, &connector_id, "not a JIT request")),
        Trigger::Cleared => {
            if let Some(t) = &ticket {
                deliveries::release_latch(&state.db, &connector_id, t).await?;
            }
            return Ok(ignored(&state, &connector_id, "trigger cleared"));
        }
        Trigger::Requested { duration_secs } => (RequestKind::Request, duration_secs),
        Trigger::Cancelled => (RequestKind::Cancel, None),
    };
    let incoming = Incoming {
        connector_id: connector_id.clone(),
        delivery_key: event.delivery_key.0.clone(),
        kind,
        ticket_ref: ticket.clone(),
        psa_company_id: event.company.as_ref().map(|c| c.0.clone()),
        actor: event
            .actor
            .as_ref()
            .map(|a| serde_json::to_string(a).expect("actor serializes")),
        duration_secs: duration_secs.map(|s| s.min(i64::MAX as u64) as i64),
        latch_ticket: kind == RequestKind::Request && connector.instance.level_triggered(),
    };
    match deliveries::accept(&state.db, crate::jobs::queue::OUTBOX, &incoming).await? {
        Accepted::New { request_id } => {
            state.metrics.delivery(&connector_id, "accepted");
            tracing::info!(connector = %connector_id, ticket = ?ticket, request = %request_id, %kind, "JIT {kind} accepted");
            Ok((
                StatusCode::ACCEPTED,
                Json(json!({ "status": "accepted", "request_id": request_id })),
            )
                .into_response())
        }
        Accepted::Duplicate => {
            state.metrics.delivery(&connector_id, "duplicate");
            Ok((StatusCode::OK, Json(json!({ "status": "duplicate" }))).into_response())
        }
        Accepted::StillTriggered => Ok(ignored(
            &state,
            &connector_id,
            "trigger still set from an earlier request",
        )),
    }
}

fn ignored(state: &AppState, connector_id: &str, why: &'static str) -> Response {
    state.metrics.delivery(connector_id, "ignored");
    (
        StatusCode::OK,
        Json(json!({ "status": "ignored", "reason": why })),
    )
        .into_response()
}
