//! The delivery log's panel on a connector's console page: the last deliveries with their
//! outcome and reason, so an MSP admin sees at once why a PSA's call did (not) request access.
//! It reads through the admin API's handler, like every console page.

use super::ui;
use crate::http::api::connectors::{DeliveriesQuery, DeliveriesView, list_deliveries};
use crate::http::pages::PageError;
use crate::http::session::SignedIn;
use crate::http::state::AppState;
use crate::store::delivery_log::LoggedDelivery;
use axum::extract::{Path, Query, State};
use maud::{Markup, html};

/// How many deliveries the panel shows.
const SHOWN: i64 = 50;

/// The panel for connector `id`.
pub async fn panel(state: &AppState, signed_in: &SignedIn, id: &str) -> Result<Markup, PageError> {
    let query = DeliveriesQuery {
        outcome: None,
        limit: Some(SHOWN),
    };
    let axum::Json(view) = list_deliveries(
        State(state.clone()),
        signed_in.caller(),
        Path(id.to_string()),
        Query(query),
    )
    .await?;
    Ok(render(&view))
}

fn render(view: &DeliveriesView) -> Markup {
    html! {
        section class="panel" aria-labelledby="deliveries-h" {
            h2 id="deliveries-h" { "Deliveries" }
            p class="hint" {
                "The last " (SHOWN) " calls from the PSA, newest first, with what jitgate made of them. "
                @if view.capture {
                    "Bodies are being captured (secrets redacted, 16 KiB at most, kept 24 hours)."
                } @else {
                    "Bodies are not kept; an admin can turn capture on with PUT /api/v1/connectors/{id}/capture."
                }
            }
            @if view.dropped > 0 {
                p class="hint" { (view.dropped) " deliveries were answered but not logged since this instance started (the log's writer was behind)." }
            }
            @if view.deliveries.is_empty() {
                (ui::empty("No delivery yet. Once the PSA calls the webhook URL above, each call shows here."))
            } @else {
                div class="table-wrap" {
                    table {
                        thead { tr {
                            th scope="col" { "Received" }
                            th scope="col" { "Outcome" }
                            th scope="col" { "Reason" }
                            th scope="col" { "Ticket" }
                            th scope="col" { "PSA event" }
                        } }
                        tbody {
                            @for d in &view.deliveries { (row(d)) }
                        }
                    }
                }
            }
        }
    }
}

fn row(d: &LoggedDelivery) -> Markup {
    html! {
        tr {
            td { (ui::time(d.received_at)) }
            td { (ui::badge(badge_kind(&d.outcome), &d.outcome)) }
            td {
                (d.reason.as_deref().unwrap_or(""))
                @if let Some(form) = &d.signature_form { " " span class="hint" { "(signature: " (form) ")" } }
                @if let Some(body) = &d.body { details { summary { "Body" } pre { (body) } } }
            }
            td { @if let Some(t) = &d.ticket_ref { code { (t) } } }
            td { @if let Some(e) = &d.event_id { code { (e) } } }
        }
    }
}

fn badge_kind(outcome: &str) -> &'static str {
    match outcome {
        "accepted" => "ok",
        "retry" => "warn",
        "unauthorized" | "invalid" => "fail",
        _ => "muted",
    }
}
