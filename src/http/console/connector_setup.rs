//! The connector page's **Check** and **Register** buttons: they call the admin API's
//! `POST /connectors/{id}/check` and `/register` as the signed-in MSP admin (one permission
//! check, one audit trail) and show the result with the tenant check's badges.

use super::console_user;
use super::ui::{self, Frame};
use crate::http::api::connectors::{
    ConnectorCheckView, RegisterView, check_connector, get_connector, register_connector,
};
use crate::http::auth::NoFields;
use crate::http::pages::{PageError, base, csrf};
use crate::http::session::{SignedForm, SignedIn};
use crate::http::state::AppState;
use crate::store::checks::Check;
use axum::Router;
use axum::extract::{Path, State};
use axum::routing::post;
use maud::{Markup, html};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/connectors/{id}/check", post(check))
        .route("/console/connectors/{id}/register", post(register))
}

/// The panel on the connector page: what the buttons do, and the buttons (MSP admins only; the
/// API refuses anyone else anyway).
pub fn panel(base: &str, signed_in: &SignedIn, connector_id: &str) -> Markup {
    if !signed_in.session.is_admin {
        return html! {};
    }
    html! {
        section class="panel" aria-labelledby="psa-setup-h" {
            h2 id="psa-setup-h" { "PSA set-up" }
            p class="hint" {
                strong { "Register" } " creates (or repairs) jitgate's webhook at the PSA: the \
                ConnectWise callback, or the Autotask webhook with its fields, UDF and excluded \
                API user. For HaloPSA and Standard Webhooks it lists the steps to take there. "
                strong { "Check" } " reads the PSA: credentials, trigger, note settings and the \
                webhook. Neither changes anything in jitgate."
            }
            (buttons(base, signed_in, connector_id))
        }
    }
}

fn buttons(base: &str, signed_in: &SignedIn, connector_id: &str) -> Markup {
    html! {
        form method="post" action={ (base) "/console/connectors/" (connector_id) "/register" } class="inline" {
            (csrf(signed_in))
            button type="submit" class="primary-inline" { "Register" }
        }
        " "
        form method="post" action={ (base) "/console/connectors/" (connector_id) "/check" } class="inline" {
            (csrf(signed_in))
            button type="submit" { "Check" }
        }
    }
}

fn frame<'a>(base: &'a str, signed_in: &'a SignedIn) -> Frame<'a> {
    Frame {
        base,
        signed_in,
        section: "/console/connectors",
    }
}

/// A result page: the connector's name, the result, the buttons again and the way back.
async fn result_page(
    state: &AppState,
    signed_in: &SignedIn,
    id: &str,
    title: &str,
    result: Markup,
) -> Result<Markup, PageError> {
    let axum::Json(view) = get_connector(
        State(state.clone()),
        signed_in.caller(),
        Path(id.to_string()),
    )
    .await?;
    let base = base(state);
    Ok(ui::page(
        &frame(&base, signed_in),
        title,
        html! {
            p class="crumbs" {
                a href={ (base) "/console/connectors" } { "Connectors" } " / "
                a href={ (base) "/console/connectors/" (id) } { (view.name) } " / "
            }
            (ui::heading(title, Some(&view.name)))
            section class="panel" aria-labelledby="result-h" {
                h2 id="result-h" { "Result" }
                (result)
                (buttons(&base, signed_in, id))
            }
        },
    ))
}

fn check_item(item: &Check) -> Markup {
    html! {
        li class={ "check check-" (item.status.as_str()) } {
            (ui::badge(item.status.as_str(), item.status.as_str()))
            " " strong { (item.name) } ": " (item.detail)
            @if !item.fix.is_empty() {
                p class="fix" { "Fix: " (item.fix) }
            }
        }
    }
}

fn checks_markup(view: &ConnectorCheckView) -> Markup {
    html! {
        ul class="checks" {
            @for item in &view.checks { (check_item(item)) }
        }
    }
}

fn register_markup(view: &RegisterView) -> Markup {
    let (kind, label) = match view.action.as_str() {
        "created" => ("ok", "created"),
        "repaired" => ("warn", "repaired"),
        "already_registered" => ("ok", "already registered"),
        _ => ("muted", "steps to take"),
    };
    html! {
        p { (ui::badge(kind, label)) " " (view.detail) }
        @if !view.steps.is_empty() {
            ol class="steps" {
                @for step in &view.steps { li { (step) } }
            }
        }
        p class="hint" { "Press Check to confirm the PSA side." }
    }
}

pub async fn check(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: SignedForm<NoFields>,
) -> Result<Markup, PageError> {
    let signed_in = console_user(form.signed_in)?;
    let axum::Json(view) =
        check_connector(State(state.clone()), signed_in.caller(), Path(id.clone())).await?;
    result_page(
        &state,
        &signed_in,
        &id,
        "Connection check",
        checks_markup(&view),
    )
    .await
}

pub async fn register(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: SignedForm<NoFields>,
) -> Result<Markup, PageError> {
    let signed_in = console_user(form.signed_in)?;
    let axum::Json(view) =
        register_connector(State(state.clone()), signed_in.caller(), Path(id.clone())).await?;
    result_page(
        &state,
        &signed_in,
        &id,
        "Register at the PSA",
        register_markup(&view),
    )
    .await
}
