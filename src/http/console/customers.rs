//! `/console/customers`: the list (search, add) and one customer: its Entra connection with the
//! **Authorize** button, the tenant check with its fixes, the JIT domain picked from the
//! tenant's domains, the connection's settings, and role mappings per technician group.

use super::ui::{self, Errors, Field, Frame};
use super::{Outcome, console_user, invalid, outcome};
use crate::domain::roles::{KNOWN_ROLES, role_name};
use crate::http::api::customers::{
    CustomerInput, CustomerView, DomainView, EntraInput, RoleMappingInput, RoleMappingsInput,
    create_customer, get_customer, get_role_mappings, list_customers, list_domains, put_entra,
    put_role_mappings, run_check,
};
use crate::http::api::entra::consent_url;
use crate::http::extract::ApiJson;
use crate::http::pages::{PageError, base, csrf};
use crate::http::session::{SignedForm, SignedIn};
use crate::http::state::AppState;
use crate::store::checks::{CheckStatus, TenantCheck};
use crate::store::{self, groups::Group};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

/// `?done=` after a change.
#[derive(Deserialize, Default)]
pub struct Done {
    pub done: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    q: Option<String>,
    done: Option<String>,
}

#[derive(Deserialize)]
pub struct NewCustomer {
    name: String,
}

pub async fn list(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Query(q): Query<ListQuery>,
) -> Result<Markup, PageError> {
    let signed_in = console_user(signed_in)?;
    list_page(&state, &signed_in, q, "", &Errors::new()).await
}

async fn list_page(
    state: &AppState,
    signed_in: &SignedIn,
    q: ListQuery,
    name: &str,
    errors: &Errors,
) -> Result<Markup, PageError> {
    let base = base(state);
    let axum::Json(customers) = list_customers(State(state.clone()), signed_in.caller()).await?;
    let search = q.q.as_deref().unwrap_or("").trim().to_lowercase();
    let shown: Vec<&CustomerView> = customers
        .iter()
        .filter(|c| {
            search.is_empty()
                || c.name.to_lowercase().contains(&search)
                || c.entra.as_ref().is_some_and(|e| {
                    e.tenant_id.contains(&search) || e.jit_domain.contains(&search)
                })
        })
        .collect();
    let frame = Frame {
        base: &base,
        signed_in,
        section: "/console/customers",
    };
    Ok(ui::page(
        &frame,
        "Customers",
        html! {
            (ui::heading("Customers", Some("The MSP's customers and the Entra tenants jitgate makes JIT accounts in.")))
            (ui::notice(ui::done_text(q.done.as_deref())))
            form method="get" action={ (base) "/console/customers" } class="filters" role="search" {
                div class="form-row grow" {
                    label for="f-q" { "Search" }
                    input type="search" id="f-q" name="q" value=(q.q.as_deref().unwrap_or("")) placeholder="Name, tenant id or domain";
                }
                button type="submit" { "Search" }
            }
            @if customers.is_empty() {
                (ui::empty("No customers yet — add one below, then connect its tenant."))
            } @else if shown.is_empty() {
                (ui::empty("No customer matches this search."))
            } @else {
                div class="table-wrap" {
                    table {
                        thead { tr {
                            th scope="col" { "Customer" }
                            th scope="col" { "Tenant" }
                            th scope="col" { "JIT domain" }
                            th scope="col" { "Tenant check" }
                        } }
                        tbody {
                            @for c in &shown {
                                tr {
                                    td { a href={ (base) "/console/customers/" (c.id) } { (c.name) } }
                                    @match &c.entra {
                                        Some(e) => {
                                            td { code { (e.tenant_id) } }
                                            td { (e.jit_domain) }
                                            td { (check_badge(e.check.as_ref())) }
                                        }
                                        None => {
                                            td colspan="3" { span class="muted" { "Not connected" } }
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
                    h2 id="add-h" { "Add a customer" }
                    form method="post" action={ (base) "/console/customers" } {
                        (csrf(signed_in))
                        (Field::text("name", "Name", name).hint("As your technicians know it, e.g. Fabrikam Ltd.").required().render(errors, "name"))
                        button type="submit" class="primary-inline" id="add-customer" { "Add customer" }
                    }
                }
            }
        },
    ))
}

fn check_badge(check: Option<&TenantCheck>) -> Markup {
    match check.map(|c| c.status) {
        None => ui::badge("muted", "not checked"),
        Some(CheckStatus::Ok) => ui::badge("ok", "passing"),
        Some(CheckStatus::Warn) => ui::badge("warn", "warnings"),
        Some(CheckStatus::Fail) => ui::badge("fail", "failing"),
    }
}

pub async fn create(
    State(state): State<AppState>,
    form: SignedForm<NewCustomer>,
) -> Result<Response, PageError> {
    let signed_in = console_user(form.signed_in)?;
    let input = CustomerInput {
        name: form.form.name.clone(),
    };
    match outcome(create_customer(State(state.clone()), signed_in.caller(), ApiJson(input)).await)?
    {
        Outcome::Done((_, axum::Json(c))) => Ok(Redirect::to(&format!(
            "{}/console/customers/{}?done=customer-created",
            base(&state),
            c.id
        ))
        .into_response()),
        Outcome::Invalid(errors) => Ok(invalid(
            list_page(
                &state,
                &signed_in,
                ListQuery::default(),
                &form.form.name,
                &errors,
            )
            .await?,
        )),
    }
}

/// What the detail page shows besides the customer: the tenant's domains (when they could be
/// read), the groups, and a form being corrected.
struct Detail {
    customer: CustomerView,
    domains: Result<Vec<DomainView>, String>,
    groups: Vec<Group>,
    mappings: Vec<(String, Vec<String>)>,
    mappings_default: bool,
    connection_form: Option<(ConnectionForm, Errors)>,
    mapping_errors: Errors,
    problem: Option<String>,
}

pub async fn detail(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<String>,
    Query(q): Query<Done>,
) -> Result<Markup, PageError> {
    let signed_in = console_user(signed_in)?;
    let d = load(&state, &signed_in, &id).await?;
    Ok(detail_page(&state, &signed_in, d, q.done.as_deref()))
}

async fn load(state: &AppState, signed_in: &SignedIn, id: &str) -> Result<Detail, PageError> {
    let caller = signed_in.caller();
    let axum::Json(customer) =
        get_customer(State(state.clone()), caller.clone(), Path(id.to_string())).await?;
    let domains = if customer.entra.is_some() {
        match list_domains(State(state.clone()), caller.clone(), Path(id.to_string())).await {
            Ok(axum::Json(d)) => Ok(d),
            Err(e) => Err(e.parts().2),
        }
    } else {
        Err("connect the tenant first".into())
    };
    let axum::Json(mappings) =
        get_role_mappings(State(state.clone()), caller, Path(id.to_string())).await?;
    Ok(Detail {
        customer,
        domains,
        groups: store::groups::list(&state.db).await?,
        mappings: mappings
            .mappings
            .into_iter()
            .map(|m| (m.group_id, m.roles))
            .collect(),
        mappings_default: mappings.is_default,
        connection_form: None,
        mapping_errors: Errors::new(),
        problem: None,
    })
}

fn detail_page(state: &AppState, signed_in: &SignedIn, d: Detail, done: Option<&str>) -> Markup {
    let base = base(state);
    let frame = Frame {
        base: &base,
        signed_in,
        section: "/console/customers",
    };
    let c = &d.customer;
    html! {
        (ui::page(&frame, &c.name, html! {
            p class="crumbs" { a href={ (base) "/console/customers" } { "Customers" } " / " }
            (ui::heading(&c.name, None))
            (ui::notice(ui::done_text(done)))
            (ui::problem(d.problem.as_deref()))
            (connection_panel(&base, signed_in, &d))
            @if let Some(e) = &c.entra {
                (check_panel(&base, signed_in, &c.id, e.check.as_ref()))
            }
            (settings_panel(&base, signed_in, &d))
            (mappings_panel(&base, signed_in, &d))
        }))
    }
}

fn connection_panel(base: &str, signed_in: &SignedIn, d: &Detail) -> Markup {
    let c = &d.customer;
    html! {
        section class="panel" aria-labelledby="tenant-h" {
            h2 id="tenant-h" { "Entra tenant" }
            @match &c.entra {
                Some(e) => {
                    dl class="facts" {
                        dt { "Tenant id" } dd { code { (e.tenant_id) } }
                        dt { "App (client) id" } dd { code { (e.client_id) } }
                        dt { "JIT domain" } dd { (e.jit_domain) }
                    }
                }
                None => {
                    p { "Not connected yet. " strong { "Authorize" } " opens Microsoft's consent page: sign in there as the customer's Global Administrator and accept, and jitgate connects the tenant and checks it." }
                }
            }
            @if signed_in.session.is_admin {
                form method="post" action={ (base) "/console/customers/" (c.id) "/authorize" } class="inline" {
                    (csrf(signed_in))
                    button type="submit" class="primary-inline" id="authorize" {
                        @if c.entra.is_some() { "Authorize again" } @else { "Authorize" }
                    }
                }
                p class="hint" { "Through the MSP's own Entra app (set once by an MSP admin). The tenant id is taken from Microsoft's token, never typed." }
            }
        }
    }
}

fn check_panel(
    base: &str,
    signed_in: &SignedIn,
    customer_id: &str,
    check: Option<&TenantCheck>,
) -> Markup {
    html! {
        section class="panel" aria-labelledby="check-h" {
            h2 id="check-h" { "Tenant check" }
            @match check {
                None => { (ui::empty("No check has run yet.")) }
                Some(check) => {
                    p { (check_badge(Some(check))) " last run " (ui::time(check.checked_at)) }
                    ul class="checks" {
                        @for item in &check.checks {
                            li class={ "check check-" (item.status.as_str()) } {
                                (ui::badge(item.status.as_str(), item.status.as_str()))
                                " " strong { (item.name) } ": " (item.detail)
                                @if !item.fix.is_empty() {
                                    p class="fix" { "Fix: " (item.fix) }
                                }
                            }
                        }
                    }
                }
            }
            form method="post" action={ (base) "/console/customers/" (customer_id) "/check" } class="inline" {
                (csrf(signed_in))
                button type="submit" { "Check again" }
            }
        }
    }
}

/// The connection's settings as the form holds them (from the stored connection or as sent).
#[derive(Debug, Clone, Default)]
pub struct ConnectionForm {
    tenant_id: String,
    client_id: String,
    client_secret: String,
    jit_domain: String,
    roles: Vec<String>,
    duration: String,
    expiry_action: String,
    upn_template: String,
}

impl ConnectionForm {
    fn from_pairs(pairs: &[(String, String)]) -> Self {
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.trim().to_string())
                .unwrap_or_default()
        };
        ConnectionForm {
            tenant_id: get("tenant_id"),
            client_id: get("client_id"),
            client_secret: get("client_secret"),
            jit_domain: get("jit_domain"),
            roles: pairs
                .iter()
                .filter(|(k, _)| k == "roles")
                .map(|(_, v)| v.clone())
                .collect(),
            duration: get("duration"),
            expiry_action: get("expiry_action"),
            upn_template: get("upn_template"),
        }
    }

    fn from_view(c: &CustomerView) -> Self {
        match &c.entra {
            None => ConnectionForm {
                expiry_action: "disable".into(),
                ..Default::default()
            },
            Some(e) => ConnectionForm {
                tenant_id: e.tenant_id.clone(),
                client_id: e.client_id.clone(),
                client_secret: String::new(),
                jit_domain: e.jit_domain.clone(),
                roles: e.roles.clone(),
                duration: e.duration.clone().unwrap_or_default(),
                expiry_action: e.expiry_action.as_str().to_string(),
                upn_template: e.upn_template.clone(),
            },
        }
    }

    fn input(&self) -> EntraInput {
        let optional = |s: &str| (!s.is_empty()).then(|| s.to_string());
        EntraInput {
            tenant_id: self.tenant_id.clone(),
            client_id: self.client_id.clone(),
            client_secret: optional(&self.client_secret),
            jit_domain: self.jit_domain.clone(),
            roles: self.roles.clone(),
            duration: optional(&self.duration),
            expiry_action: optional(&self.expiry_action),
            upn_template: optional(&self.upn_template),
        }
    }
}

fn settings_panel(base: &str, signed_in: &SignedIn, d: &Detail) -> Markup {
    let c = &d.customer;
    let (form, errors) = d
        .connection_form
        .clone()
        .unwrap_or_else(|| (ConnectionForm::from_view(c), Errors::new()));
    let secret_hint = match &c.entra {
        Some(e) if e.client_secret_set => {
            "Stored, never shown. Leave empty to keep it; for a connection through the MSP's app none is needed."
        }
        _ => "Only for a connection through the customer's own app registration; write-only.",
    };
    html! {
        section class="panel" aria-labelledby="settings-h" {
            h2 id="settings-h" { "Connection settings" }
            form method="post" action={ (base) "/console/customers/" (c.id) "/connection" } {
                (csrf(signed_in))
                (domain_field(&d.domains, &form.jit_domain, &errors))
                fieldset class="form-row" {
                    legend { "Roles of the JIT account (for All admins, unless mappings below say otherwise)" }
                    @if let Some(e) = errors.get("roles") { p class="error" id="roles-error" { "Roles " (e) } }
                    div class="choices" {
                        @for (name, id) in KNOWN_ROLES {
                            label class="choice" {
                                input type="checkbox" name="roles" value=(id) checked[form.roles.iter().any(|r| r == id)];
                                " " (name)
                            }
                        }
                    }
                }
                (Field::text("duration", "Grant length", &form.duration).hint("e.g. 2h or 90m; empty uses the server's default. Capped by jit_max_duration.").render(&errors, "duration"))
                div class="form-row" {
                    label for="f-expiry_action" { "At the end" }
                    select id="f-expiry_action" name="expiry_action" {
                        option value="disable" selected[form.expiry_action != "delete"] { "Disable the account (kept for the next grant)" }
                        option value="delete" selected[form.expiry_action == "delete"] { "Delete the account" }
                    }
                }
                details {
                    summary { "Advanced: tenant, app and UPN template" }
                    (Field::text("tenant_id", "Tenant id", &form.tenant_id).hint("Set by Authorize; change only for a customer's own app registration.").render(&errors, "tenant_id"))
                    (Field::text("client_id", "App (client) id", &form.client_id).render(&errors, "client_id"))
                    (Field::text("client_secret", "Client secret", "").kind("password").hint(secret_hint).render(&errors, "client_secret"))
                    (Field::text("upn_template", "UPN template", &form.upn_template).hint("Default {local}-jit@{domain}: the technician's email local part.").render(&errors, "upn_template"))
                }
                button type="submit" class="primary-inline" { "Save and check" }
            }
        }
    }
}

fn domain_field(
    domains: &Result<Vec<DomainView>, String>,
    current: &str,
    errors: &Errors,
) -> Markup {
    match domains {
        Ok(domains) if !domains.is_empty() => html! {
            div class="form-row" {
                label for="f-jit_domain" { "JIT domain" }
                select id="f-jit_domain" name="jit_domain" aria-describedby="f-jit_domain-hint" {
                    @if !domains.iter().any(|d| d.name == current) && !current.is_empty() {
                        option value=(current) selected { (current) " (not in the tenant)" }
                    }
                    @for d in domains {
                        option value=(d.name) selected[d.name == current] disabled[!d.usable] {
                            (d.name)
                            @if d.recommended { " — recommended" }
                            @if !d.is_verified { " — not verified" } @else if !d.is_managed { " — federated" }
                        }
                    }
                }
                p class="hint" id="f-jit_domain-hint" { "The tenant's own domains, read from Microsoft Graph. The initial onmicrosoft.com domain is recommended: it is always verified and managed by Entra." }
                @if let Some(e) = errors.get("jit_domain") { p class="error" { "JIT domain " (e) } }
            }
        },
        Ok(_) | Err(_) => {
            let hint = match domains {
                Err(why) => format!("The tenant's domains could not be read ({why}); type one."),
                Ok(_) => "Type a verified, managed domain of the tenant.".into(),
            };
            html! {
                (Field::text("jit_domain", "JIT domain", current).hint(&hint).render(errors, "jit_domain"))
            }
        }
    }
}

fn mappings_panel(base: &str, signed_in: &SignedIn, d: &Detail) -> Markup {
    let c = &d.customer;
    html! {
        section class="panel" aria-labelledby="mappings-h" {
            h2 id="mappings-h" { "Role mappings" }
            p class="hint" {
                "Which roles each group of technicians gets in this tenant. A technician's JIT account gets the roles of all their groups mapped here. "
                @if d.mappings_default { "Now: the default (All admins gets the connection's roles)." }
            }
            @if let Some(e) = d.mapping_errors.values().next() { p class="error" role="alert" { (e) } }
            form method="post" action={ (base) "/console/customers/" (c.id) "/role-mappings" } {
                (csrf(signed_in))
                div class="table-wrap" {
                    table class="mappings" {
                        thead { tr {
                            th scope="col" { "Group" }
                            @for (name, _) in KNOWN_ROLES { th scope="col" class="vertical" { span { (name) } } }
                        } }
                        tbody {
                            @for g in &d.groups {
                                @let mapped = d.mappings.iter().find(|(id, _)| *id == g.id).map(|(_, r)| r.as_slice()).unwrap_or(&[]);
                                tr {
                                    th scope="row" {
                                        (g.name)
                                        // Roles mapped by id that have no box here are kept.
                                        @for r in mapped.iter().filter(|r| role_name(r).is_none()) {
                                            input type="hidden" name={ "map:" (g.id) } value=(r);
                                        }
                                    }
                                    @for (name, id) in KNOWN_ROLES {
                                        td {
                                            input type="checkbox" name={ "map:" (g.id) } value=(id)
                                                checked[mapped.iter().any(|r| r == id)]
                                                aria-label={ (g.name) ": " (name) };
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                @let unknown: Vec<&String> = d.mappings.iter().flat_map(|(_, r)| r).filter(|r| role_name(r).is_none()).collect();
                @if !unknown.is_empty() {
                    p class="hint" { "Also mapped (by id, kept as they are): " @for r in unknown { code { (r) } " " } }
                }
                button type="submit" class="primary-inline" { "Save mappings" }
            }
        }
    }
}

pub async fn authorize(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: SignedForm<crate::http::auth::NoFields>,
) -> Result<Response, PageError> {
    let signed_in = console_user(form.signed_in)?;
    match consent_url(State(state.clone()), signed_in.caller(), Path(id.clone())).await {
        Ok(axum::Json(url)) => Ok(Redirect::to(&url.url).into_response()),
        Err(crate::http::error::AppError::Conflict(why)) => {
            let mut d = load(&state, &signed_in, &id).await?;
            d.problem = Some(format!("Authorize is not possible yet: {why}"));
            Ok(super::invalid(detail_page(&state, &signed_in, d, None)))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn check(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: SignedForm<crate::http::auth::NoFields>,
) -> Result<Response, PageError> {
    let signed_in = console_user(form.signed_in)?;
    let _check = run_check(State(state.clone()), signed_in.caller(), Path(id.clone())).await?;
    Ok(Redirect::to(&format!(
        "{}/console/customers/{id}?done=checked#check-h",
        base(&state)
    ))
    .into_response())
}

pub async fn save_connection(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: SignedForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let signed_in = console_user(form.signed_in)?;
    let mut sent = ConnectionForm::from_pairs(&form.form);
    // Tenant and app come from the stored connection unless changed in the advanced part.
    let result = put_entra(
        State(state.clone()),
        signed_in.caller(),
        Path(id.clone()),
        ApiJson(sent.input()),
    )
    .await;
    match result {
        Ok(_) => Ok(Redirect::to(&format!(
            "{}/console/customers/{id}?done=connection-saved#check-h",
            base(&state)
        ))
        .into_response()),
        Err(crate::http::error::AppError::Validation(errors)) => {
            sent.client_secret.clear();
            let mut d = load(&state, &signed_in, &id).await?;
            d.connection_form = Some((sent, errors));
            d.problem =
                Some("The connection was not saved: correct the fields marked below.".into());
            Ok(invalid(detail_page(&state, &signed_in, d, None)))
        }
        Err(crate::http::error::AppError::Conflict(why)) => {
            let mut d = load(&state, &signed_in, &id).await?;
            sent.client_secret.clear();
            d.connection_form = Some((sent, Errors::new()));
            d.problem = Some(format!("The connection was not saved: {why}"));
            Ok(invalid(detail_page(&state, &signed_in, d, None)))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn save_mappings(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: SignedForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let signed_in = console_user(form.signed_in)?;
    let mut mappings: Vec<RoleMappingInput> = Vec::new();
    for (key, role) in &form.form {
        let Some(group_id) = key.strip_prefix("map:") else {
            continue;
        };
        match mappings.iter_mut().find(|m| m.group_id == group_id) {
            Some(m) => m.roles.push(role.clone()),
            None => mappings.push(RoleMappingInput {
                group_id: group_id.to_string(),
                roles: vec![role.clone()],
            }),
        }
    }
    let input = RoleMappingsInput { mappings };
    match outcome(
        put_role_mappings(
            State(state.clone()),
            signed_in.caller(),
            Path(id.clone()),
            ApiJson(input),
        )
        .await,
    )? {
        Outcome::Done(_) => Ok(Redirect::to(&format!(
            "{}/console/customers/{id}?done=mappings-saved#mappings-h",
            base(&state)
        ))
        .into_response()),
        Outcome::Invalid(errors) => {
            let mut d = load(&state, &signed_in, &id).await?;
            d.mapping_errors = errors;
            Ok(invalid(detail_page(&state, &signed_in, d, None)))
        }
    }
}
