//! `/console/technicians`: the list (add a technician) and one technician: the MSP-admin flag,
//! delegations (which customers they may get JIT access in), customer-admin rights, group
//! membership, and removal with what it does to their open grants said before confirming.

use super::customers::Done;
use super::ui::{self, Errors, Field, Frame};
use super::{Names, Outcome, console_user, invalid, outcome};
use crate::http::api::groups::{add_member, remove_member};
use crate::http::api::technicians::{
    TechnicianInput, TechnicianView, delegate, delete_technician, get_technician, list_technicians,
    make_admin, make_customer_admin, revoke_admin, revoke_customer_admin, undelegate,
};
use crate::http::auth::NoFields;
use crate::http::extract::ApiJson;
use crate::http::pages::{PageError, base, csrf};
use crate::http::session::{SignedForm, SignedIn};
use crate::http::state::AppState;
use crate::store::{self, groups::Group};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use serde::Deserialize;
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/technicians", get(list).post(create))
        .route("/console/technicians/{id}", get(detail))
        .route("/console/technicians/{id}/admin", post(set_admin))
        .route(
            "/console/technicians/{id}/delegations",
            post(set_delegation),
        )
        .route(
            "/console/technicians/{id}/administers",
            post(set_customer_admin),
        )
        .route("/console/technicians/{id}/groups", post(set_group))
        .route(
            "/console/technicians/{id}/remove",
            get(confirm_remove).post(remove),
        )
}

#[derive(Deserialize)]
pub struct NewTechnician {
    name: String,
    email: String,
}

/// One switch of a detail page: `on` is `1` to add, `0` to take away; `target` is the
/// customer or group it is about (unused for the admin flag).
#[derive(Deserialize)]
pub struct Switch {
    #[serde(default)]
    target: String,
    on: String,
}

impl Switch {
    fn on(&self) -> bool {
        self.on == "1"
    }
}

/// Group names by id, the built-in *All admins* left out (everyone is in it).
async fn group_names(state: &AppState) -> Result<Vec<Group>, PageError> {
    Ok(store::groups::list(&state.db)
        .await?
        .into_iter()
        .filter(|g| !g.is_builtin())
        .collect())
}

/// The explicit groups a technician is in, as names.
async fn groups_of(
    state: &AppState,
    groups: &[Group],
    technician_id: &str,
) -> Result<Vec<Group>, PageError> {
    let ids = store::groups::groups_of(&state.db, technician_id).await?;
    Ok(groups
        .iter()
        .filter(|g| ids.contains(&g.id))
        .cloned()
        .collect())
}

fn role_text(t: &TechnicianView, names: &Names) -> Markup {
    html! {
        @if t.is_admin {
            (ui::badge("ok", "MSP admin"))
        }
        @if !t.administers.is_empty() {
            " " (ui::badge("open", "Customer admin")) " of "
            (t.administers.iter().map(|c| names.customer(c)).collect::<Vec<_>>().join(", "))
        }
        @if !t.is_admin && t.administers.is_empty() {
            span class="muted" { "Technician" }
        }
    }
}

pub async fn list(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(q): Query<Done>,
) -> Result<Markup, PageError> {
    let signed_in = console_user(signed_in)?;
    let blank = NewTechnician {
        name: String::new(),
        email: String::new(),
    };
    list_page(
        &state,
        &signed_in,
        q.done.as_deref(),
        &blank,
        &Errors::new(),
    )
    .await
}

async fn list_page(
    state: &AppState,
    signed_in: &SignedIn,
    done: Option<&str>,
    form: &NewTechnician,
    errors: &Errors,
) -> Result<Markup, PageError> {
    let base = base(state);
    let caller = signed_in.caller();
    let names = Names::load(state, &caller).await?;
    let axum::Json(technicians) = list_technicians(State(state.clone()), caller).await?;
    let groups = group_names(state).await?;
    let mut member_of: HashMap<String, Vec<Group>> = HashMap::new();
    for t in &technicians {
        member_of.insert(t.id.clone(), groups_of(state, &groups, &t.id).await?);
    }
    let frame = Frame {
        base: &base,
        signed_in,
        section: "/console/technicians",
    };
    Ok(ui::page(
        &frame,
        "Technicians",
        html! {
            (ui::heading("Technicians", Some("The people who may get JIT admin accounts, matched to PSA users by email.")))
            (ui::notice(ui::done_text(done)))
            @if technicians.is_empty() {
                (ui::empty("No technicians yet — add one below, then delegate customers to them."))
            } @else {
                div class="table-wrap" {
                    table {
                        thead { tr {
                            th scope="col" { "Name" }
                            th scope="col" { "Email" }
                            th scope="col" { "Rights" }
                            th scope="col" { "JIT access in" }
                            th scope="col" { "Groups" }
                        } }
                        tbody {
                            @for t in &technicians {
                                tr {
                                    td { a href={ (base) "/console/technicians/" (t.id) } { (t.display_name) } }
                                    td { (t.email) }
                                    td { (role_text(t, &names)) }
                                    td {
                                        @if t.is_admin {
                                            "every customer (MSP admin)"
                                        } @else if t.customers.is_empty() {
                                            span class="muted" { "none" }
                                        } @else {
                                            (t.customers.iter().map(|c| names.customer(c)).collect::<Vec<_>>().join(", "))
                                        }
                                    }
                                    td {
                                        @let theirs = member_of.get(&t.id).map(Vec::as_slice).unwrap_or(&[]);
                                        @if theirs.is_empty() {
                                            span class="muted" { "All admins only" }
                                        } @else {
                                            (theirs.iter().map(|g| g.name.as_str()).collect::<Vec<_>>().join(", "))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if signed_in.session.is_admin {
                section class="panel" aria-labelledby="add-h" {
                    h2 id="add-h" { "Add a technician" }
                    form method="post" action={ (base) "/console/technicians" } {
                        (csrf(signed_in))
                        (Field::text("name", "Name", &form.name).hint("As colleagues know them, e.g. Jane Doe.").required().render(errors, "display_name"))
                        (Field::text("email", "Email", &form.email).kind("email").hint("Their work email: the same as their user's email in the PSA, which is how jitgate recognises them.").required().render(errors, "email"))
                        button type="submit" class="primary-inline" { "Add technician" }
                    }
                }
            }
        },
    ))
}

pub async fn create(
    State(state): State<AppState>,
    form: SignedForm<NewTechnician>,
) -> Result<Response, PageError> {
    let signed_in = console_user(form.signed_in)?;
    let input = TechnicianInput {
        email: form.form.email.clone(),
        display_name: form.form.name.clone(),
    };
    let result = create_technician_call(&state, &signed_in, input).await;
    match outcome(result)? {
        Outcome::Done(t) => Ok(redirect(&state, &t.id, "technician-created")),
        Outcome::Invalid(errors) => Ok(invalid(
            list_page(&state, &signed_in, None, &form.form, &errors).await?,
        )),
    }
}

async fn create_technician_call(
    state: &AppState,
    signed_in: &SignedIn,
    input: TechnicianInput,
) -> Result<TechnicianView, crate::http::error::AppError> {
    let (_, axum::Json(t)) = crate::http::api::technicians::create_technician(
        State(state.clone()),
        signed_in.caller(),
        ApiJson(input),
    )
    .await?;
    Ok(t)
}

fn redirect(state: &AppState, id: &str, done: &str) -> Response {
    Redirect::to(&format!(
        "{}/console/technicians/{id}?done={done}",
        base(state)
    ))
    .into_response()
}

pub async fn detail(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Query(q): Query<Done>,
) -> Result<Markup, PageError> {
    let signed_in = console_user(signed_in)?;
    let base = base(&state);
    let caller = signed_in.caller();
    let names = Names::load(&state, &caller).await?;
    let axum::Json(t) = get_technician(State(state.clone()), caller, Path(id.clone())).await?;
    let groups = group_names(&state).await?;
    let theirs = groups_of(&state, &groups, &id).await?;
    let open = store::grants::count_open_for(&state.db, None, Some(&id)).await?;
    let frame = Frame {
        base: &base,
        signed_in: &signed_in,
        section: "/console/technicians",
    };
    let ctx = Ctx {
        base: &base,
        signed_in: &signed_in,
        names: &names,
        t: &t,
    };
    Ok(ui::page(
        &frame,
        &t.display_name,
        html! {
            p class="crumbs" { a href={ (base) "/console/technicians" } { "Technicians" } " / " }
            (ui::heading(&t.display_name, Some(&t.email)))
            (ui::notice(ui::done_text(q.done.as_deref())))
            dl class="facts" {
                dt { "Rights" } dd { (role_text(&t, &names)) }
                dt { "Open grants" } dd { (open) }
                dt { "Added" } dd { (ui::time(t.created_at)) }
            }
            @if signed_in.session.is_admin { (admin_panel(&ctx)) }
            (delegations_panel(&ctx))
            @if signed_in.session.is_admin {
                (customer_admin_panel(&ctx))
                (groups_panel(&ctx, &groups, &theirs))
                (remove_panel(&ctx, open))
            }
        },
    ))
}

/// What the detail page's panels share.
struct Ctx<'a> {
    base: &'a str,
    signed_in: &'a SignedIn,
    names: &'a Names,
    t: &'a TechnicianView,
}

impl Ctx<'_> {
    fn action(&self, what: &str) -> String {
        format!("{}/console/technicians/{}/{what}", self.base, self.t.id)
    }
}

/// A one-button form that switches something on or off.
fn switch_button(
    ctx: &Ctx,
    what: &str,
    target: &str,
    on: bool,
    label: &str,
    confirm: Option<&str>,
) -> Markup {
    html! {
        form method="post" action=(ctx.action(what)) class="inline" data-confirm=[confirm] {
            (csrf(ctx.signed_in))
            input type="hidden" name="target" value=(target);
            input type="hidden" name="on" value=(if on { "1" } else { "0" });
            button type="submit" class=(if on { "primary-inline" } else { "danger" }) { (label) }
        }
    }
}

/// A select of `choices` (id, name) with a submit button that switches the chosen one on.
fn add_select(
    ctx: &Ctx,
    what: &str,
    label: &str,
    choices: &[(String, String)],
    button: &str,
) -> Markup {
    let id = format!("f-{what}");
    html! {
        @if !choices.is_empty() {
            form method="post" action=(ctx.action(what)) class="filters" {
                (csrf(ctx.signed_in))
                input type="hidden" name="on" value="1";
                div class="form-row" {
                    label for=(id) { (label) }
                    select id=(id) name="target" {
                        @for (id, name) in choices { option value=(id) { (name) } }
                    }
                }
                button type="submit" { (button) }
            }
        }
    }
}

fn admin_panel(ctx: &Ctx) -> Markup {
    html! {
        section class="panel" aria-labelledby="admin-h" {
            h2 id="admin-h" { "MSP admin" }
            @if ctx.t.is_admin {
                p { "An MSP admin may get JIT accounts in every customer's tenant and manage everything here." }
                (switch_button(ctx, "admin", "", false, "Take admin away",
                    Some("Take MSP admin away? Their open grants in customers not delegated to them end now.")))
            } @else {
                p { "Not an MSP admin: JIT access only in the customers delegated below." }
                (switch_button(ctx, "admin", "", true, "Make MSP admin", None))
            }
        }
    }
}

fn delegations_panel(ctx: &Ctx) -> Markup {
    let choices: Vec<(String, String)> = ctx
        .names
        .customers_sorted()
        .into_iter()
        .filter(|(id, _)| !ctx.t.customers.contains(id))
        .collect();
    html! {
        section class="panel" aria-labelledby="deleg-h" {
            h2 id="deleg-h" { "JIT access (delegations)" }
            p class="hint" { "Customers in whose tenant this technician may get a JIT admin account from a ticket." }
            @if ctx.t.customers.is_empty() {
                (ui::empty("No customers delegated."))
            } @else {
                ul class="plain" {
                    @for c in &ctx.t.customers {
                        li {
                            (ctx.names.customer(c)) " "
                            (switch_button(ctx, "delegations", c, false, "Remove",
                                Some("Remove this delegation? An open grant of theirs in this customer ends now.")))
                        }
                    }
                }
            }
            (add_select(ctx, "delegations", "Customer", &choices, "Delegate"))
        }
    }
}

fn customer_admin_panel(ctx: &Ctx) -> Markup {
    let choices: Vec<(String, String)> = ctx
        .names
        .customers_sorted()
        .into_iter()
        .filter(|(id, _)| !ctx.t.administers.contains(id))
        .collect();
    html! {
        section class="panel" aria-labelledby="cadmin-h" {
            h2 id="cadmin-h" { "Customer admin" }
            p class="hint" { "A customer admin sees and manages these customers in the console (and nothing else). It does not give JIT access: that is a delegation." }
            @if ctx.t.administers.is_empty() {
                (ui::empty("Administers no customer."))
            } @else {
                ul class="plain" {
                    @for c in &ctx.t.administers {
                        li { (ctx.names.customer(c)) " " (switch_button(ctx, "administers", c, false, "Take away", None)) }
                    }
                }
            }
            (add_select(ctx, "administers", "Customer", &choices, "Make customer admin"))
        }
    }
}

fn groups_panel(ctx: &Ctx, groups: &[Group], theirs: &[Group]) -> Markup {
    let choices: Vec<(String, String)> = groups
        .iter()
        .filter(|g| !theirs.iter().any(|m| m.id == g.id))
        .map(|g| (g.id.clone(), g.name.clone()))
        .collect();
    html! {
        section class="panel" aria-labelledby="groups-h" {
            h2 id="groups-h" { "Groups" }
            p class="hint" { "Groups decide which roles their JIT account gets in each customer (role mappings on the customer's page). Everyone is in All admins. Changes apply from their next request." }
            @if theirs.is_empty() {
                (ui::empty("Only in All admins."))
            } @else {
                ul class="plain" {
                    @for g in theirs {
                        li { (g.name) " " (switch_button(ctx, "groups", &g.id, false, "Remove from group", None)) }
                    }
                }
            }
            (add_select(ctx, "groups", "Group", &choices, "Add to group"))
        }
    }
}

fn grants_consequence(open: i64) -> String {
    match open {
        0 => "They hold no open grant: no access is ended.".into(),
        1 => "1 open grant will be ended now.".into(),
        n => format!("{n} open grants will be ended now."),
    }
}

fn remove_panel(ctx: &Ctx, open: i64) -> Markup {
    html! {
        section class="panel" aria-labelledby="remove-h" {
            h2 id="remove-h" { "Remove" }
            p { "Removing the technician stops every request of theirs at once. " strong { (grants_consequence(open)) } }
            a href=(ctx.action("remove")) { "Remove this technician…" }
        }
    }
}

pub async fn set_admin(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: SignedForm<Switch>,
) -> Result<Response, PageError> {
    let signed_in = console_user(form.signed_in)?;
    let (caller, path) = (signed_in.caller(), Path(id.clone()));
    let done = if form.form.on() {
        make_admin(State(state.clone()), caller, path).await?;
        "admin-granted"
    } else {
        revoke_admin(State(state.clone()), caller, path).await?;
        "admin-revoked"
    };
    Ok(redirect(&state, &id, done))
}

pub async fn set_delegation(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: SignedForm<Switch>,
) -> Result<Response, PageError> {
    let signed_in = console_user(form.signed_in)?;
    let (caller, path) = (
        signed_in.caller(),
        Path((id.clone(), form.form.target.clone())),
    );
    let done = if form.form.on() {
        delegate(State(state.clone()), caller, path).await?;
        "delegated"
    } else {
        undelegate(State(state.clone()), caller, path).await?;
        "undelegated"
    };
    Ok(redirect(&state, &id, done))
}

pub async fn set_customer_admin(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: SignedForm<Switch>,
) -> Result<Response, PageError> {
    let signed_in = console_user(form.signed_in)?;
    let (caller, path) = (
        signed_in.caller(),
        Path((id.clone(), form.form.target.clone())),
    );
    let done = if form.form.on() {
        make_customer_admin(State(state.clone()), caller, path).await?;
        "customer-admin-granted"
    } else {
        revoke_customer_admin(State(state.clone()), caller, path).await?;
        "customer-admin-revoked"
    };
    Ok(redirect(&state, &id, done))
}

pub async fn set_group(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: SignedForm<Switch>,
) -> Result<Response, PageError> {
    let signed_in = console_user(form.signed_in)?;
    let (caller, path) = (
        signed_in.caller(),
        Path((form.form.target.clone(), id.clone())),
    );
    let done = if form.form.on() {
        add_member(State(state.clone()), caller, path).await?;
        "group-joined"
    } else {
        remove_member(State(state.clone()), caller, path).await?;
        "group-left"
    };
    Ok(redirect(&state, &id, done))
}

/// The confirmation page: says how many open grants end before anything happens.
pub async fn confirm_remove(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
) -> Result<Markup, PageError> {
    let signed_in = console_user(signed_in)?;
    let base = base(&state);
    let axum::Json(t) =
        get_technician(State(state.clone()), signed_in.caller(), Path(id.clone())).await?;
    let open = store::grants::count_open_for(&state.db, None, Some(&id)).await?;
    let frame = Frame {
        base: &base,
        signed_in: &signed_in,
        section: "/console/technicians",
    };
    let title = format!("Remove {}?", t.display_name);
    Ok(ui::page(
        &frame,
        &title,
        html! {
            p class="crumbs" {
                a href={ (base) "/console/technicians" } { "Technicians" } " / "
                a href={ (base) "/console/technicians/" (t.id) } { (t.display_name) } " / "
            }
            (ui::heading(&title, Some(&t.email)))
            p class="banner stop" { strong { (grants_consequence(open)) } }
            ul {
                li { "They can no longer request access from a ticket, their console sessions end, and they disappear from lists." }
                li { "Each open grant ends like any end: roles removed, account disabled, the ticket told." }
                li { "Adding the same email again restores them, without admin rights, delegations, groups or customer-admin rights." }
            }
            form method="post" action={ (base) "/console/technicians/" (t.id) "/remove" } class="inline" {
                (csrf(&signed_in))
                button type="submit" class="danger" { "Remove " (t.display_name) }
            }
            a href={ (base) "/console/technicians/" (t.id) } { "Cancel" }
        },
    ))
}

pub async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: SignedForm<NoFields>,
) -> Result<Response, PageError> {
    let signed_in = console_user(form.signed_in)?;
    delete_technician(State(state.clone()), signed_in.caller(), Path(id)).await?;
    Ok(Redirect::to(&format!(
        "{}/console/technicians?done=technician-removed",
        base(&state)
    ))
    .into_response())
}
