//! `/console/grants`: open and ended grants, filtered by customer and technician; one grant with
//! each step of its end; **End now**.

use super::ui::{self, Frame};
use super::{Names, console_user};
use crate::http::api::grants::{GrantQuery, end_grant, list_grants, visible_grant};
use crate::http::auth::NoFields;
use crate::http::extract::Caller;
use crate::http::pages::{PageError, base, csrf};
use crate::http::session::{SignedForm, SignedIn};
use crate::http::state::AppState;
use crate::store::grants::{EndStepRecord, Grant};
use crate::store::now_ms;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct Filter {
    customer: Option<String>,
    technician: Option<String>,
    /// `open` (default), `ended` or `all`.
    show: Option<String>,
}

fn non_empty(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

pub async fn list(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(filter): Query<Filter>,
) -> Result<Markup, PageError> {
    let signed_in = console_user(signed_in)?;
    let caller = signed_in.caller();
    let base = base(&state);
    let names = Names::load(&state, &caller).await?;
    let show = filter.show.as_deref().unwrap_or("open");
    let query = GrantQuery {
        customer_id: non_empty(&filter.customer),
        technician_id: non_empty(&filter.technician),
        open: show == "open",
        limit: Some(200),
    };
    let axum::Json(grants) = list_grants(State(state.clone()), caller, Query(query)).await?;
    let grants: Vec<Grant> = match show {
        "ended" => grants.into_iter().filter(|g| !g.is_open()).collect(),
        _ => grants,
    };
    let frame = Frame {
        base: &base,
        signed_in: &signed_in,
        section: "/console/grants",
    };
    let now = now_ms();
    Ok(ui::page(
        &frame,
        "Grants",
        html! {
            (ui::heading("Grants", Some("Who has, or had, admin access in which tenant.")))
            form method="get" action={ (base) "/console/grants" } class="filters" role="search" {
                div class="form-row" {
                    label for="f-customer" { "Customer" }
                    select id="f-customer" name="customer" {
                        option value="" { "All customers" }
                        @for (id, name) in names.customers_sorted() {
                            option value=(id) selected[filter.customer.as_deref() == Some(id.as_str())] { (name) }
                        }
                    }
                }
                div class="form-row" {
                    label for="f-technician" { "Technician" }
                    select id="f-technician" name="technician" {
                        option value="" { "All technicians" }
                        @for (id, name) in names.technicians_sorted() {
                            option value=(id) selected[filter.technician.as_deref() == Some(id.as_str())] { (name) }
                        }
                    }
                }
                div class="form-row" {
                    label for="f-show" { "Show" }
                    select id="f-show" name="show" {
                        @for (value, label) in [("open", "Open"), ("ended", "Ended"), ("all", "All")] {
                            option value=(value) selected[show == value] { (label) }
                        }
                    }
                }
                button type="submit" { "Filter" }
            }
            @if grants.is_empty() {
                (ui::empty("No grants match. Grants appear when a technician asks for access from a ticket."))
            } @else {
                (grants_table(&base, &signed_in, &names, &grants, now))
            }
        },
    ))
}

/// The open grants with time left and **End now** (the dashboard shows this too).
pub fn open_grants_table(
    base: &str,
    signed_in: &SignedIn,
    names: &Names,
    grants: &[Grant],
    now: i64,
) -> Markup {
    if grants.is_empty() {
        return ui::empty("No one holds admin access right now.");
    }
    grants_table(base, signed_in, names, grants, now)
}

fn grants_table(
    base: &str,
    signed_in: &SignedIn,
    names: &Names,
    grants: &[Grant],
    now: i64,
) -> Markup {
    html! {
        div class="table-wrap" {
            table {
                thead { tr {
                    th scope="col" { "Technician" }
                    th scope="col" { "Customer" }
                    th scope="col" { "Ticket" }
                    th scope="col" { "Started" }
                    th scope="col" { "State" }
                    th scope="col" { span class="visually-hidden" { "Actions" } }
                } }
                tbody {
                    @for g in grants {
                        tr {
                            td { a href={ (base) "/console/grants/" (g.id) } { (names.technician(&g.technician_id)) } }
                            td { (names.customer(&g.customer_id)) }
                            td { (g.ticket_ref.as_deref().unwrap_or("—")) }
                            td { (ui::time(g.started_at)) }
                            td { (state_cell(g, now)) }
                            td class="actions" {
                                @if g.is_open() && !g.end_requested {
                                    (end_button(base, signed_in, &g.id))
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn state_cell(g: &Grant, now: i64) -> Markup {
    html! {
        @if !g.is_open() {
            (ui::badge("ended", "Ended"))
            @if let Some(at) = g.ended_at { " " (ui::time(at)) }
        } @else if g.end_requested {
            (ui::badge("warn", "Ending"))
        } @else {
            (ui::badge("open", "Open")) " " (ui::time_left(g.expires_at, now))
        }
    }
}

fn end_button(base: &str, signed_in: &SignedIn, grant_id: &str) -> Markup {
    html! {
        form method="post" action={ (base) "/console/grants/" (grant_id) "/end" } class="inline"
            data-confirm="End this grant now? The account loses its roles and is disabled." {
            (csrf(signed_in))
            button type="submit" class="danger" { "End now" }
        }
    }
}

pub async fn detail(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Query(q): Query<super::customers::Done>,
) -> Result<Markup, PageError> {
    let signed_in = console_user(signed_in)?;
    let caller = signed_in.caller();
    let base = base(&state);
    let names = Names::load(&state, &caller).await?;
    let grant = visible_grant(&state, &caller, &id).await?;
    let frame = Frame {
        base: &base,
        signed_in: &signed_in,
        section: "/console/grants",
    };
    let steps: Vec<EndStepRecord> = grant
        .end_steps
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    let title = format!(
        "{} in {}",
        names.technician(&grant.technician_id),
        names.customer(&grant.customer_id)
    );
    let now = now_ms();
    Ok(ui::page(
        &frame,
        &title,
        html! {
            (ui::heading(&title, None))
            (ui::notice(ui::done_text(q.done.as_deref())))
            dl class="facts" {
                dt { "State" } dd { (state_cell(&grant, now)) }
                dt { "Started" } dd { (ui::time(grant.started_at)) }
                dt { "Ends" } dd { (ui::time(grant.expires_at)) }
                dt { "Ticket" } dd { (grant.ticket_ref.as_deref().unwrap_or("—")) }
                dt { "Tenant" } dd { (grant.tenant_id.as_deref().unwrap_or("—")) }
                @if let Some(reason) = grant.end_reason.or(grant.end_request_reason) {
                    dt { "End reason" } dd { (reason.as_str()) }
                }
                @if let Some(e) = &grant.last_end_error {
                    dt { "Last end error" } dd { (e) }
                }
                @if !grant.follow_ups().is_empty() {
                    dt { "Still retrying" } dd { (grant.follow_ups().join(", ")) }
                }
            }
            @if grant.is_open() && !grant.end_requested {
                (end_button(&base, &signed_in, &grant.id))
            }
            section class="panel" aria-labelledby="steps-h" {
                h2 id="steps-h" { "Steps of the end" }
                @if steps.is_empty() {
                    (ui::empty("The end has not run yet."))
                } @else {
                    ol class="steps" {
                        @for s in &steps {
                            li {
                                @if s.ok { (ui::badge("ok", "done")) } @else { (ui::badge("fail", "failed")) }
                                " " code { (s.step) }
                                @if !s.detail.is_empty() { " — " (s.detail) }
                            }
                        }
                    }
                }
            }
        },
    ))
}

pub async fn end(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: SignedForm<NoFields>,
) -> Result<Response, PageError> {
    let signed_in = console_user(form.signed_in)?;
    let caller: Caller = signed_in.caller();
    let _accepted = end_grant(State(state.clone()), caller, Path(id.clone())).await?;
    Ok(Redirect::to(&format!(
        "{}/console/grants/{id}?done=end-requested",
        base(&state)
    ))
    .into_response())
}
