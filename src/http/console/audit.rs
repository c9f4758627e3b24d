//! `/console/audit`: the audit trail filtered by customer, technician, action and time, a page
//! at a time, and the same filter as CSV.

use super::ui::{self, Frame};
use super::{Names, console_user};
use crate::domain::time::utc;
use crate::http::api::audit::{AuditQuery, filter};
use crate::http::pages::{PageError, base};
use crate::http::session::SignedIn;
use crate::http::state::AppState;
use crate::store::{self, audit::AuditEntry};
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

const PAGE_SIZE: i64 = 50;
/// The most rows one CSV export holds (read a page of 500 at a time).
const CSV_MAX_ROWS: usize = 50_000;

#[derive(Deserialize, Default, Clone)]
pub struct Filter {
    customer: Option<String>,
    technician: Option<String>,
    action: Option<String>,
    since: Option<String>,
    until: Option<String>,
    before: Option<String>,
}

impl Filter {
    fn query(&self, limit: i64) -> AuditQuery {
        AuditQuery {
            customer_id: self.customer.clone(),
            grant_id: None,
            technician_id: self.technician.clone(),
            action: self.action.clone(),
            since: self.since.clone(),
            until: self.until.clone(),
            before: self.before.clone(),
            limit: Some(limit),
        }
    }

    /// The filter as a query string (without `before`), for the next page and the CSV link.
    fn query_string(&self) -> String {
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        for (key, value) in [
            ("customer", &self.customer),
            ("technician", &self.technician),
            ("action", &self.action),
            ("since", &self.since),
            ("until", &self.until),
        ] {
            if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                out.append_pair(key, v);
            }
        }
        out.finish()
    }
}

pub async fn list(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(f): Query<Filter>,
) -> Result<Response, PageError> {
    let signed_in = console_user(signed_in)?;
    let caller = signed_in.caller();
    let base = base(&state);
    let names = Names::load(&state, &caller).await?;
    let frame = Frame {
        base: &base,
        signed_in: &signed_in,
        section: "/console/audit",
    };
    let (rows, errors) = match filter(&caller, f.query(PAGE_SIZE)) {
        Ok(store_filter) => (
            store::audit::list(&state.db, &store_filter).await?,
            ui::Errors::new(),
        ),
        Err(crate::http::error::AppError::Validation(errors)) => (Vec::new(), errors),
        Err(e) => return Err(e.into()),
    };
    let next_page = (rows.len() as i64 == PAGE_SIZE)
        .then(|| rows.last().map(|r| r.id.clone()))
        .flatten();
    let query = f.query_string();
    let markup = ui::page(
        &frame,
        "Audit",
        html! {
            (ui::heading("Audit", Some("Every step anyone or anything took, newest first.")))
            (filters(&base, &names, &f, &errors))
            p class="toolbar" {
                a class="button" href={ (base) "/console/audit.csv?" (query) } download="jitgate-audit.csv" { "Export CSV" }
            }
            @if rows.is_empty() && errors.is_empty() {
                (ui::empty("No audit rows match this filter."))
            } @else if !rows.is_empty() {
                (table(&names, &rows))
            }
            nav class="pager" aria-label="Pages" {
                @if f.before.is_some() {
                    a href={ (base) "/console/audit?" (query) } { "Newest" }
                }
                @if let Some(before) = next_page {
                    a href={ (base) "/console/audit?" (query) @if !query.is_empty() { "&" } "before=" (before) } { "Older" }
                }
            }
        },
    );
    Ok(if errors.is_empty() {
        markup.into_response()
    } else {
        super::invalid(markup)
    })
}

fn filters(base: &str, names: &Names, f: &Filter, errors: &ui::Errors) -> Markup {
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    html! {
        form method="get" action={ (base) "/console/audit" } class="filters" role="search" {
            div class="form-row" {
                label for="f-customer" { "Customer" }
                select id="f-customer" name="customer" {
                    option value="" { "All customers" }
                    @for (id, name) in names.customers_sorted() {
                        option value=(id) selected[f.customer.as_deref() == Some(id.as_str())] { (name) }
                    }
                }
            }
            div class="form-row" {
                label for="f-technician" { "Technician" }
                select id="f-technician" name="technician" {
                    option value="" { "All technicians" }
                    @for (id, name) in names.technicians_sorted() {
                        option value=(id) selected[f.technician.as_deref() == Some(id.as_str())] { (name) }
                    }
                }
            }
            (ui::Field::text("action", "Action", &value(&f.action)).hint("e.g. grant.start, credential.reveal").render(errors, "action"))
            (ui::Field::text("since", "From (UTC day)", &value(&f.since)).kind("date").render(errors, "since"))
            (ui::Field::text("until", "To (UTC day, included)", &value(&f.until)).kind("date").render(errors, "until"))
            button type="submit" { "Filter" }
        }
    }
}

fn table(names: &Names, rows: &[AuditEntry]) -> Markup {
    html! {
        div class="table-wrap" {
            table class="audit" {
                thead { tr {
                    th scope="col" { "Time" }
                    th scope="col" { "Who" }
                    th scope="col" { "Action" }
                    th scope="col" { "Outcome" }
                    th scope="col" { "Customer" }
                    th scope="col" { "Detail" }
                } }
                tbody {
                    @for r in rows {
                        tr {
                            td class="nowrap" { (utc(r.at)) }
                            td { (actor(names, &r.actor)) @if let Some(s) = &r.session_id { br; span class="muted small" { "session " (s) } } }
                            td { code { (r.action) } }
                            td { (ui::badge(outcome_kind(&r.outcome), &r.outcome)) }
                            td { (r.customer_id.as_deref().map(|c| names.customer(c)).unwrap_or("—")) }
                            td class="detail" { (r.detail.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        }
    }
}

fn outcome_kind(outcome: &str) -> &'static str {
    match outcome {
        "ok" => "ok",
        "refused" | "partial" => "warn",
        _ => "fail",
    }
}

/// `technician:<id>` as the technician's name; tokens, PSAs and `system` as they are.
fn actor<'a>(names: &'a Names, actor: &'a str) -> &'a str {
    match actor.strip_prefix("technician:") {
        Some(id) => names.technician(id),
        None => actor,
    }
}

pub async fn csv(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(mut f): Query<Filter>,
) -> Result<Response, PageError> {
    let signed_in = console_user(signed_in)?;
    let caller = signed_in.caller();
    let mut out = String::from(
        "id,time_utc,actor,session_id,action,outcome,customer_id,technician_id,grant_id,connector_id,ticket,tenant_id,account_upn,ip,user_agent,detail\r\n",
    );
    let mut written = 0;
    loop {
        let rows = store::audit::list(&state.db, &filter(&caller, f.query(500))?).await?;
        for r in &rows {
            csv_row(&mut out, r);
        }
        written += rows.len();
        match rows.last() {
            Some(last) if rows.len() == 500 && written < CSV_MAX_ROWS => {
                f.before = Some(last.id.clone())
            }
            _ => break,
        }
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"jitgate-audit.csv\"",
            ),
        ],
        out,
    )
        .into_response())
}

fn csv_row(out: &mut String, r: &AuditEntry) {
    let cells = [
        r.id.as_str(),
        &utc(r.at),
        &r.actor,
        r.session_id.as_deref().unwrap_or(""),
        &r.action,
        &r.outcome,
        r.customer_id.as_deref().unwrap_or(""),
        r.technician_id.as_deref().unwrap_or(""),
        r.grant_id.as_deref().unwrap_or(""),
        r.connector_id.as_deref().unwrap_or(""),
        r.ticket_ref.as_deref().unwrap_or(""),
        r.tenant_id.as_deref().unwrap_or(""),
        r.account_upn.as_deref().unwrap_or(""),
        r.ip.as_deref().unwrap_or(""),
        r.user_agent.as_deref().unwrap_or(""),
        r.detail.as_deref().unwrap_or(""),
    ];
    let line: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
    out.push_str(&line.join(","));
    out.push_str("\r\n");
}

/// RFC 4180 quoting, and a leading `'` before anything a spreadsheet would run as a formula
/// (an audit detail can hold text a PSA user typed).
fn csv_cell(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::csv_cell;

    #[test]
    fn cells_are_quoted_and_formulas_defused() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=HYPERLINK(1)"), "'=HYPERLINK(1)");
    }
}
