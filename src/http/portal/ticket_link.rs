//! "Request JIT" from inside the ticket: `GET /request/{connector_id}?ticket=…`, the link an MSP
//! adds to its PSA's ticket screen (the console's connector page shows it with each PSA's way
//! of passing the ticket id).
//!
//! The link carries no secret and no identity: the requester is the technician signed in to
//! jitgate (sent to sign in first if need be), checked for delegation like anyone else, never a
//! name the PSA or the URL claims. jitgate reads the ticket through the PSA's API (it must
//! exist and its company must be mapped), shows what will happen, and on confirm runs the
//! normal pipeline: account, internal note with the credential link on that ticket, end on
//! time. Reading the ticket again on confirm means a page left open cannot be replayed against
//! a ticket that moved to another company.

use super::tenants::{self, Tenant};
use super::{RequestForm, submit};
use crate::http::pages::{PageError, base, csrf, respond};
use crate::http::session::{SignedForm, SignedIn};
use crate::http::state::AppState;
use crate::psa::RegistryError;
use crate::store;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use jitgate_connectors::ConnectorKind;
use jitgate_connectors::{PsaError, TicketRef};
use maud::{Markup, html};
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new().route("/request/{connector_id}", get(confirm_page).post(confirm))
}

#[derive(Deserialize, Default)]
pub struct TicketQuery {
    #[serde(default)]
    ticket: String,
}

/// The ticket as jitgate found it: which connector, which ticket, which customer.
struct FoundTicket {
    connector_id: String,
    ticket: String,
    psa: &'static str,
    tenant: Tenant,
}

/// PSA ticket ids are short tokens (ConnectWise and Autotask numbers, Halo ids); anything else
/// is refused before the PSA is asked.
fn plausible_ticket(ticket: &str) -> bool {
    !ticket.is_empty()
        && ticket.len() <= 64
        && ticket
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
}

/// Find the ticket through the PSA's API and the customer its company maps to; `Err` is the page
/// that says why not (nothing was changed).
async fn find_ticket(
    state: &AppState,
    signed_in: &SignedIn,
    connector_id: &str,
    ticket: &str,
) -> Result<FoundTicket, PageError> {
    let ticket = ticket.trim();
    if !plausible_ticket(ticket) {
        return Err(PageError::BadRequest(
            "The link names no ticket, or not one a PSA would (`?ticket=` followed by the \
             ticket's id). Check the link set up in the PSA."
                .into(),
        ));
    }
    let connector = match state.connectors.get(connector_id).await {
        Ok(c) if c.enabled => c,
        Ok(_) => {
            return Err(PageError::Forbidden(
                "This PSA connector is disabled in jitgate. An MSP admin can enable it on its \
                 connector page."
                    .into(),
            ));
        }
        Err(RegistryError::Unknown) => {
            return Err(PageError::NotFound(
                "No PSA connector has this link. Check the link set up in the PSA against the \
                 one on the connector's page in the console."
                    .into(),
            ));
        }
        Err(RegistryError::Store(e)) => return Err(e.into()),
        Err(e @ RegistryError::Broken { .. }) => {
            return Err(PageError::BadRequest(e.to_string()));
        }
    };
    let psa = connector.kind.label();
    let company = match connector
        .instance
        .ticket_company(&TicketRef(ticket.to_string()))
        .await
    {
        Ok(company) => company,
        Err(PsaError::NotFound(_)) => {
            return Err(PageError::NotFound(format!(
                "{psa} has no ticket {ticket} (or jitgate's API member cannot see it). Nothing \
                 was requested."
            )));
        }
        Err(PsaError::NotConfigured(what)) => {
            return Err(PageError::BadRequest(format!(
                "This connector cannot read tickets ({what}), so it has no in-ticket link."
            )));
        }
        Err(e) => {
            return Err(PageError::App(crate::http::error::AppError::Upstream(
                format!(
                    "{psa} could not be asked about ticket {ticket}: {e}. Try again in a moment."
                ),
            )));
        }
    };
    let Some(mapping) = store::connectors::mapping(&state.db, connector_id, &company.0).await?
    else {
        return Err(PageError::Forbidden(format!(
            "Ticket {ticket} belongs to {psa} company {}, which is not mapped to a jitgate \
             customer. An MSP admin maps it on the connector's page in the console. Nothing was \
             requested.",
            company.0
        )));
    };
    let tenant = tenants::my_tenant(state, signed_in, &mapping.customer_id).await?;
    Ok(FoundTicket {
        connector_id: connector_id.to_string(),
        ticket: ticket.to_string(),
        psa,
        tenant,
    })
}

async fn confirm_page(
    State(state): State<AppState>,
    Path(connector_id): Path<String>,
    Query(q): Query<TicketQuery>,
    signed_in: SignedIn,
) -> Result<Response, PageError> {
    let found = find_ticket(&state, &signed_in, &connector_id, &q.ticket).await?;
    let base = base(&state);
    let frame = super::view::Frame {
        base: &base,
        signed_in: &signed_in,
    };
    let customer = &found.tenant.customer.name;
    let title = format!("JIT admin in {customer}");
    let default_minutes = found.tenant.default_duration.as_secs() / 60;
    let max_minutes = state.config.jit_max_duration.get().as_secs() / 60;
    let markup = super::view::page(
        &frame,
        &title,
        html! {
            div class="page-head" {
                h1 id="ticket-request-title" { (title) }
                p class="sub" { "For " (found.psa) " ticket #" span id="ticket-ref" { (found.ticket) } }
            }
            section class="panel" {
                p {
                    "jitgate makes (or re-enables) your JIT admin account in " strong { (customer) }
                    "'s Entra tenant, posts an internal note with the credential link on ticket #"
                    (found.ticket) ", and ends the access on time."
                }
                form method="post" action={ (base) "/request/" (found.connector_id) "?ticket=" (found.ticket) } id="ticket-request-form" {
                    (csrf(&signed_in))
                    div class="form-row" {
                        label for="duration" { "Duration (minutes)" }
                        input type="number" id="duration" name="duration_minutes" min="1" max=(max_minutes) value=(default_minutes);
                        p class="hint" { "At most " (max_minutes) " minutes." }
                    }
                    div class="form-row" {
                        label for="reason" { "Reason (optional)" }
                        input type="text" id="reason" name="reason" maxlength="500";
                    }
                    button type="submit" class="primary-inline" id="ticket-request-submit" { "Request access" }
                }
            }
        },
    );
    Ok(respond(StatusCode::OK, markup))
}

async fn confirm(
    State(state): State<AppState>,
    Path(connector_id): Path<String>,
    Query(q): Query<TicketQuery>,
    form: SignedForm<RequestForm>,
) -> Result<Response, PageError> {
    let SignedForm {
        signed_in,
        mut form,
    } = form;
    let found = find_ticket(&state, &signed_in, &connector_id, &q.ticket).await?;
    form.ticket = found.ticket.clone();
    submit(
        &state,
        &signed_in,
        &found.tenant,
        &form,
        Some(&found.connector_id),
    )
    .await
}

/// The in-ticket "Request JIT" link of a connector, for its console page: the exact URL to
/// add to the PSA's ticket screen, with each PSA's way of passing the ticket's id. The PSA
/// opens it in a new browser window (jitgate's pages refuse to be framed).
pub fn request_link_panel(
    public_url: &url::Url,
    connector_id: &str,
    kind: ConnectorKind,
) -> Markup {
    let base = public_url.as_str().trim_end_matches('/');
    let (placeholder, how): (&str, &str) = match kind {
        // The Hosted API placeholder ConnectWise documents for a ticket screen's record id.
        ConnectorKind::Connectwise => (
            "[cw_id]",
            "In ConnectWise PSA add a custom menu entry (or a Link) on the Service Ticket screen that opens this URL in a new window; ConnectWise puts the ticket's id where the URL says [cw_id].",
        ),
        ConnectorKind::Autotask => (
            "<Ticket ID>",
            "In Autotask open Admin > Automation > LiveLinks Designer and add a LiveLink on the Ticket entity opening this URL in a new window; replace <Ticket ID> with the designer's Ticket ID variable (the internal id, not the ticket number).",
        ),
        ConnectorKind::Halopsa => (
            "<ticket id>",
            "In HaloPSA add a custom button or URL on tickets opening this URL in a new window; replace <ticket id> with Halo's ticket id variable.",
        ),
        ConnectorKind::StandardWebhooks => {
            return html! {
                section class="panel" aria-labelledby="request-link-h" {
                    h2 id="request-link-h" { "Request JIT from a ticket" }
                    p class="hint" { "A Standard Webhooks sender has no ticket API jitgate can read, so it has no in-ticket link. Technicians use the portal or the sender's own request event." }
                }
            };
        }
    };
    let link = format!("{base}/request/{connector_id}?ticket={placeholder}");
    let element = format!("request-link-{connector_id}");
    html! {
        section class="panel" aria-labelledby="request-link-h" {
            h2 id="request-link-h" { "Request JIT from a ticket" }
            p class="big" {
                code id=(element) { (link) }
                " "
                button type="button" class="copy" data-copy=(element) hidden { "Copy" }
            }
            p class="hint" { (how) }
            p class="hint" { "The technician who opens it signs in to jitgate and is checked for delegation; the link itself carries no identity and no secret." }
        }
    }
}
