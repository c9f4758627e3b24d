//! The admin console, `/console/...`: server-rendered pages (maud) with plain forms, for MSP
//! admins (everything) and customer admins (their customers only).
//!
//! Pages never reach the store on their own for a change: they call the admin API's handlers
//! with the signed-in person as the [`Caller`](crate::http::extract::Caller), so the console and
//! the API share one validation, one set of permission checks and one audit trail. A field
//! error from the API comes back as [`AppError::Validation`] and is shown next to its field.

mod audit;
mod connector_setup;
mod connectors;
mod customers;
mod dashboard;
mod deliveries;
mod grants;
mod technicians;
pub(crate) mod ui;

use super::error::AppError;
use super::pages::{PageError, respond};
use super::session::SignedIn;
use super::state::AppState;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{Redirect, Response};
use axum::routing::{get, post};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/console") }))
        .route("/console", get(dashboard_or_portal))
        .route(
            "/console/customers",
            get(customers::list).post(customers::create),
        )
        .route("/console/customers/{id}", get(customers::detail))
        .route(
            "/console/customers/{id}/authorize",
            post(customers::authorize),
        )
        .route("/console/customers/{id}/check", post(customers::check))
        .route(
            "/console/customers/{id}/connection",
            post(customers::save_connection),
        )
        .route(
            "/console/customers/{id}/role-mappings",
            post(customers::save_mappings),
        )
        .route("/console/grants", get(grants::list))
        .route("/console/grants/{id}", get(grants::detail))
        .route("/console/grants/{id}/end", post(grants::end))
        .route("/console/audit", get(audit::list))
        .route("/console/audit.csv", get(audit::csv))
        .merge(technicians::routes())
        .merge(connectors::routes())
        .merge(connector_setup::routes())
}

/// Where sign-in lands by default: the dashboard, or for a technician without admin rights
/// their place, the portal (instead of a page saying the console is not for them).
async fn dashboard_or_portal(
    state: axum::extract::State<AppState>,
    signed_in: SignedIn,
) -> Result<Response, PageError> {
    use axum::response::IntoResponse as _;
    if !signed_in.is_console_user() {
        let portal = format!("{}/portal", super::pages::base(&state));
        return Ok(Redirect::to(&portal).into_response());
    }
    Ok(dashboard::page(state, signed_in).await?.into_response())
}

/// The signed-in person if they may use the console; a technician without admin rights gets a
/// page saying so (their place is the portal).
pub(crate) fn console_user(signed_in: SignedIn) -> Result<SignedIn, PageError> {
    if signed_in.is_console_user() {
        Ok(signed_in)
    } else {
        Err(PageError::Forbidden(
            "The console is for MSP admins and customer admins. You are signed in as a \
             technician without admin rights: your tenants are in the portal, at /portal. Ask an \
             MSP admin if you need admin rights."
                .into(),
        ))
    }
}

/// An API error as the console shows it: field errors go back to the form; anything else is
/// a page.
pub(crate) enum Outcome<T> {
    Done(T),
    Invalid(std::collections::BTreeMap<String, String>),
}

pub(crate) fn outcome<T>(result: Result<T, AppError>) -> Result<Outcome<T>, PageError> {
    match result {
        Ok(v) => Ok(Outcome::Done(v)),
        Err(AppError::Validation(fields)) => Ok(Outcome::Invalid(fields)),
        Err(e) => Err(PageError::App(e)),
    }
}

/// A form re-shown with its errors: 422, as the API answers.
pub(crate) fn invalid(markup: maud::Markup) -> Response {
    respond(StatusCode::UNPROCESSABLE_ENTITY, markup)
}

/// Names of the customers and technicians the caller may see, for pages that list ids.
pub(crate) struct Names {
    customers: std::collections::HashMap<String, String>,
    technicians: std::collections::HashMap<String, String>,
}

impl Names {
    pub(crate) async fn load(
        state: &AppState,
        caller: &crate::http::extract::Caller,
    ) -> Result<Names, PageError> {
        let visibility = caller.visibility();
        let customers = crate::store::customers::list(&state.db, &visibility)
            .await?
            .into_iter()
            .map(|c| (c.id, c.name))
            .collect();
        let technicians = crate::store::technicians::list_visible(&state.db, &visibility)
            .await?
            .into_iter()
            .map(|t| (t.id, t.display_name))
            .collect();
        Ok(Names {
            customers,
            technicians,
        })
    }

    pub(crate) fn customer<'a>(&'a self, id: &'a str) -> &'a str {
        self.customers.get(id).map(String::as_str).unwrap_or(id)
    }

    pub(crate) fn technician<'a>(&'a self, id: &'a str) -> &'a str {
        self.technicians.get(id).map(String::as_str).unwrap_or(id)
    }

    /// (id, name) of the customers, by name.
    pub(crate) fn customers_sorted(&self) -> Vec<(String, String)> {
        sorted_by_name(&self.customers)
    }

    /// (id, name) of the technicians, by name.
    pub(crate) fn technicians_sorted(&self) -> Vec<(String, String)> {
        sorted_by_name(&self.technicians)
    }
}

fn sorted_by_name(names: &std::collections::HashMap<String, String>) -> Vec<(String, String)> {
    let mut all: Vec<_> = names
        .iter()
        .map(|(id, name)| (id.clone(), name.clone()))
        .collect();
    all.sort_by_key(|(_, name)| name.to_lowercase());
    all
}
