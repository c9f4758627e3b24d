//! The technicians' portal, `/portal/...` (issue 14): a signed-in technician's tenants, and in
//! each one **Request access**, **View credentials**, **Configure TOTP key**, **Extend** and
//! **End now**.
//!
//! | route | what it does |
//! | --- | --- |
//! | `GET /portal` | My tenants: every customer the technician may work, with its state |
//! | `GET /portal/tenants/{customer}` | one tenant: the request form, or the open access and its actions |
//! | `POST /portal/tenants/{customer}/request`, `…/extend` | a portal request through the webhook pipeline (same job, same checks) |
//! | `GET /portal/requests/{id}` (+ `/status` JSON) | follows one's own request until ready or refused |
//! | `POST /portal/tenants/{customer}/reveal` | spends one reveal of the grant's current link (the same limit and audit as `/c/{token}`) |
//! | `POST /portal/tenants/{customer}/totp`, `…/code` | stores the TOTP key (checked against a code); shows the current code |
//! | `POST /portal/tenants/{customer}/end` | ends the technician's own access now |
//!
//! Everything is the signed-in technician's own: grants and requests are looked up by their
//! technician id, so nobody else's can be named in a URL. Forms carry the session's CSRF token.

mod tenants;
mod ticket_link;
mod view;

pub use ticket_link::request_link_panel;

use crate::domain::lifecycle::EndReason;
use crate::domain::totp::{Code, TotpKey};
use crate::http::pages::{PageError, base, respond};
use crate::http::session::{SignedForm, SignedIn};
use crate::http::state::AppState;
use crate::jobs::queue::OUTBOX;
use crate::store::audit::AuditEntry;
use crate::store::links::{self, LinkState, LinkView, TotpSaved};
use crate::store::requests::PortalRequest;
use crate::store::{self, accounts, now_ms};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use tenants::{Access, Tenant};
use view::{Extras, Frame, Revealed, TotpErrors};

pub fn router() -> Router<AppState> {
    let back = || get(back_to_tenant);
    Router::new()
        .route("/portal", get(home))
        .route("/portal/tenants/{customer}", get(tenant_page))
        .route(
            "/portal/tenants/{customer}/request",
            back().post(request_access),
        )
        .route("/portal/tenants/{customer}/extend", back().post(extend))
        .route("/portal/tenants/{customer}/reveal", back().post(reveal))
        .route("/portal/tenants/{customer}/code", back().post(show_code))
        .route("/portal/tenants/{customer}/totp", back().post(save_totp))
        .route("/portal/tenants/{customer}/end", back().post(end_now))
        .route("/portal/requests/{id}", get(request_page))
        .route("/portal/requests/{id}/status", get(request_status))
        .merge(ticket_link::router())
}

async fn home(State(state): State<AppState>, signed_in: SignedIn) -> Result<Response, PageError> {
    let list = tenants::my_tenants(&state, &signed_in).await?;
    let base = base(&state);
    let frame = Frame {
        base: &base,
        signed_in: &signed_in,
    };
    Ok(respond(
        StatusCode::OK,
        view::tenants_page(&frame, &list, now_ms()),
    ))
}

#[derive(Deserialize, Default)]
struct Done {
    done: Option<String>,
}

/// Fixed texts only, so a crafted link cannot make the portal say anything else.
fn done_text(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "totp-saved" => "Authenticator key saved.",
        "ending" => "Ending your access: the roles are removed and the account is disabled.",
        _ => return None,
    })
}

async fn tenant_page(
    State(state): State<AppState>,
    Path(customer): Path<String>,
    Query(q): Query<Done>,
    signed_in: SignedIn,
) -> Result<Response, PageError> {
    let tenant = tenants::my_tenant(&state, &signed_in, &customer).await?;
    let extras = Extras {
        notice: done_text(q.done.as_deref()),
        ..Default::default()
    };
    render_tenant(&state, &signed_in, &tenant, StatusCode::OK, &extras).await
}

async fn render_tenant(
    state: &AppState,
    signed_in: &SignedIn,
    tenant: &Tenant,
    status: StatusCode,
    extras: &Extras<'_>,
) -> Result<Response, PageError> {
    let account = match tenant.access.open_grant() {
        Some(_) => {
            accounts::find(
                &state.db,
                &tenant.customer.id,
                &signed_in.session.technician_id,
            )
            .await?
        }
        None => None,
    };
    let base = base(state);
    let frame = Frame {
        base: &base,
        signed_in,
    };
    let markup = view::tenant_page(
        &frame,
        tenant,
        account.as_ref().map(|a| a.upn.as_str()),
        account.as_ref().is_some_and(|a| a.totp_set),
        state.config.jit_max_duration.get(),
        now_ms(),
        extras,
    );
    Ok(respond(status, markup))
}

#[derive(Deserialize)]
struct RequestForm {
    #[serde(default)]
    duration_minutes: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    ticket: String,
}

async fn request_access(
    State(state): State<AppState>,
    Path(customer): Path<String>,
    form: SignedForm<RequestForm>,
) -> Result<Response, PageError> {
    let SignedForm { signed_in, form } = form;
    let tenant = tenants::my_tenant(&state, &signed_in, &customer).await?;
    match &tenant.access {
        // One request at a time: a second click follows the first.
        Access::Requested { request } => Ok(to_request(&state, &request.id)),
        Access::Ending => Err(PageError::BadRequest(
            "Your previous access is still ending. Request again once it has ended.".into(),
        )),
        _ => submit(&state, &signed_in, &tenant, &form, None).await,
    }
}

/// An extension is a new request for the open grant: the pipeline extends it.
async fn extend(
    State(state): State<AppState>,
    Path(customer): Path<String>,
    form: SignedForm<RequestForm>,
) -> Result<Response, PageError> {
    let SignedForm { signed_in, form } = form;
    let tenant = tenants::my_tenant(&state, &signed_in, &customer).await?;
    if tenant.access.open_grant().is_none() {
        return Err(PageError::BadRequest(
            "You have no open access in this tenant to extend.".into(),
        ));
    }
    submit(&state, &signed_in, &tenant, &form, None).await
}

/// Record the request and follow it. `connector_id`: it came from a ticket of that connector
/// (the in-ticket link), so the note goes to that ticket.
async fn submit(
    state: &AppState,
    signed_in: &SignedIn,
    tenant: &Tenant,
    form: &RequestForm,
    connector_id: Option<&str>,
) -> Result<Response, PageError> {
    let mut request = portal_request(state, signed_in, tenant, form)?;
    request.connector_id = connector_id.map(str::to_string);
    let me = &signed_in.session.technician_id;
    let audit = AuditEntry::new(format!("technician:{me}"), "request.submitted", "ok")
        .customer(&tenant.customer.id)
        .technician(me)
        .session(&signed_in.session.id)
        .client(
            signed_in.client.ip.clone(),
            signed_in.client.user_agent.clone(),
        );
    let mut tx = state.db.begin().await?;
    let id = store::requests::submit_portal(&mut tx, OUTBOX, &request, &audit).await?;
    tx.commit().await?;
    Ok(to_request(state, &id))
}

/// The form's fields as a request: the duration capped by `jit_max_duration` (the job caps it
/// again, as for any request), the free texts trimmed and bounded.
fn portal_request(
    state: &AppState,
    signed_in: &SignedIn,
    tenant: &Tenant,
    form: &RequestForm,
) -> Result<PortalRequest, PageError> {
    let cap_secs = state.config.jit_max_duration.get().as_secs() as i64;
    let duration_secs = match form.duration_minutes.trim() {
        "" => None,
        text => {
            let minutes: i64 = text.parse().ok().filter(|m| *m > 0).ok_or_else(|| {
                PageError::BadRequest("The duration must be a number of minutes.".into())
            })?;
            Some(minutes.saturating_mul(60).min(cap_secs))
        }
    };
    Ok(PortalRequest {
        customer_id: tenant.customer.id.clone(),
        technician_id: signed_in.session.technician_id.clone(),
        duration_secs,
        reason: bounded_text(&form.reason, 500, "reason")?,
        ticket_ref: bounded_text(&form.ticket, 100, "ticket reference")?,
        connector_id: None,
    })
}

fn bounded_text(text: &str, max: usize, what: &str) -> Result<Option<String>, PageError> {
    let text = text.trim();
    if text.chars().count() > max {
        return Err(PageError::BadRequest(format!(
            "The {what} is longer than {max} characters."
        )));
    }
    Ok((!text.is_empty()).then(|| text.to_string()))
}

fn to_request(state: &AppState, id: &str) -> Response {
    Redirect::to(&format!("{}/portal/requests/{id}", base(state))).into_response()
}

async fn own_request(
    state: &AppState,
    signed_in: &SignedIn,
    id: &str,
) -> Result<store::deliveries::RequestRow, PageError> {
    store::requests::portal_request(&state.db, id, &signed_in.session.technician_id)
        .await?
        .ok_or_else(|| PageError::NotFound("No request of yours has this address.".into()))
}

async fn request_page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    signed_in: SignedIn,
) -> Result<Response, PageError> {
    let request = own_request(&state, &signed_in, &id).await?;
    let customer = store::customers::get(
        &state.db,
        &store::customers::Visibility::All,
        request.customer_id.as_deref().unwrap_or(""),
    )
    .await?;
    let base = base(&state);
    let frame = Frame {
        base: &base,
        signed_in: &signed_in,
    };
    Ok(respond(
        StatusCode::OK,
        view::request_page(&frame, &request, &customer.name),
    ))
}

/// What the request page polls.
#[derive(serde::Serialize)]
struct RequestStatus {
    status: crate::domain::lifecycle::RequestStatus,
    /// Why it was refused or failed.
    detail: Option<String>,
}

async fn request_status(
    State(state): State<AppState>,
    Path(id): Path<String>,
    signed_in: SignedIn,
) -> Result<Response, PageError> {
    let request = own_request(&state, &signed_in, &id).await?;
    Ok(Json(RequestStatus {
        status: request.status,
        detail: request.status_detail,
    })
    .into_response())
}

/// The technician's open grant in the tenant and its current link, or a page saying there is
/// none.
async fn open_link(
    state: &AppState,
    signed_in: &SignedIn,
    tenant: &Tenant,
) -> Result<Result<LinkView, Response>, PageError> {
    let conflict = StatusCode::CONFLICT;
    let Some(grant) = tenant.access.open_grant() else {
        let why = "You have no open access in this tenant.";
        return problem_page(state, signed_in, tenant, conflict, why)
            .await
            .map(Err);
    };
    match links::current_for_grant(&state.db, &grant.id).await? {
        Some(link) => Ok(Ok(link)),
        None => {
            let why = "This access has no credentials to show.";
            problem_page(state, signed_in, tenant, conflict, why)
                .await
                .map(Err)
        }
    }
}

/// The tenant page with a problem above it.
async fn problem_page(
    state: &AppState,
    signed_in: &SignedIn,
    tenant: &Tenant,
    status: StatusCode,
    problem: &str,
) -> Result<Response, PageError> {
    let extras = Extras {
        problem: Some(problem),
        ..Default::default()
    };
    render_tenant(state, signed_in, tenant, status, &extras).await
}

fn link_problem(link_state: LinkState) -> &'static str {
    match link_state {
        LinkState::Spent => {
            "Every view of this access is used. Extend the access to get new views (and a new password only when it starts again)."
        }
        LinkState::Superseded => "A newer request replaced these credentials. Reload the page.",
        LinkState::Ended => "This access is ending.",
        LinkState::Expired => "This access has expired.",
        LinkState::Valid => "The access changed while revealing. Reload the page.",
    }
}

async fn reveal(
    State(state): State<AppState>,
    Path(customer): Path<String>,
    form: SignedForm<Empty>,
) -> Result<Response, PageError> {
    let signed_in = form.signed_in;
    let tenant = tenants::my_tenant(&state, &signed_in, &customer).await?;
    let link = match open_link(&state, &signed_in, &tenant).await? {
        Ok(link) => link,
        Err(page) => return Ok(page),
    };
    let audit = portal_audit(&link, &signed_in, "credential.reveal", "ok");
    if link.state() != LinkState::Valid {
        return refuse_reveal(&state, &signed_in, &tenant, &link).await;
    }
    // Read the secrets before spending: a reveal that could not show them must not count.
    let password = accounts::password(&state.db, &state.keyring, &link.account_id).await?;
    let codes = stored_codes(&state, &link).await?;
    let Some(used) = links::consume_reveal(&state.db, &link, &audit).await? else {
        let now = links::current_for_grant(&state.db, &link.grant_id).await?;
        return refuse_reveal(&state, &signed_in, &tenant, now.as_ref().unwrap_or(&link)).await;
    };
    state.metrics.reveals.inc();
    tracing::info!(grant = %link.grant_id, link = %link.link_id, reveal = used, "credential revealed in the portal");
    let extras = Extras {
        revealed: Some(Revealed {
            password: &password,
            reveals_left: (link.reveal_limit - used).max(0),
        }),
        codes: codes.as_deref(),
        ..Default::default()
    };
    render_tenant(&state, &signed_in, &tenant, StatusCode::OK, &extras).await
}

/// A reveal the link may not make: audited (as the credential page does), and said plainly.
async fn refuse_reveal(
    state: &AppState,
    signed_in: &SignedIn,
    tenant: &Tenant,
    link: &LinkView,
) -> Result<Response, PageError> {
    let why = link_problem(link.state());
    let entry = portal_audit(link, signed_in, "credential.reveal", "refused")
        .detail(format!("{why} (link {}, portal)", link.link_id));
    store::audit::record_event(&state.db, &entry).await?;
    problem_page(state, signed_in, tenant, StatusCode::GONE, why).await
}

/// An audit entry about the link's grant, taken by the signed-in technician in the portal.
fn portal_audit(link: &LinkView, signed_in: &SignedIn, action: &str, outcome: &str) -> AuditEntry {
    link.audit(action, outcome)
        .session(&signed_in.session.id)
        .client(
            signed_in.client.ip.clone(),
            signed_in.client.user_agent.clone(),
        )
}

async fn stored_codes(state: &AppState, link: &LinkView) -> Result<Option<Vec<Code>>, PageError> {
    Ok(
        accounts::totp_key(&state.db, &state.keyring, &link.account_id)
            .await?
            .map(|key| key.codes_from_now(crate::domain::totp::CODES_AHEAD)),
    )
}

/// The current TOTP code alone (no password): it spends no reveal, but is audited.
async fn show_code(
    State(state): State<AppState>,
    Path(customer): Path<String>,
    form: SignedForm<Empty>,
) -> Result<Response, PageError> {
    let signed_in = form.signed_in;
    let tenant = tenants::my_tenant(&state, &signed_in, &customer).await?;
    let link = match open_link(&state, &signed_in, &tenant).await? {
        Ok(link) => link,
        Err(page) => return Ok(page),
    };
    let Some(codes) = stored_codes(&state, &link).await? else {
        let why = "No authenticator key is stored for this account yet.";
        return problem_page(&state, &signed_in, &tenant, StatusCode::CONFLICT, why).await;
    };
    store::audit::record_event(
        &state.db,
        &portal_audit(&link, &signed_in, "totp.show", "ok")
            .detail("current code shown in the portal"),
    )
    .await?;
    let extras = Extras {
        codes: Some(&codes),
        ..Default::default()
    };
    render_tenant(&state, &signed_in, &tenant, StatusCode::OK, &extras).await
}

#[derive(Deserialize)]
struct TotpForm {
    #[serde(default)]
    key: String,
    #[serde(default)]
    code: String,
}

async fn save_totp(
    State(state): State<AppState>,
    Path(customer): Path<String>,
    form: SignedForm<TotpForm>,
) -> Result<Response, PageError> {
    let SignedForm { signed_in, form } = form;
    let tenant = tenants::my_tenant(&state, &signed_in, &customer).await?;
    let link = match open_link(&state, &signed_in, &tenant).await? {
        Ok(link) => link,
        Err(page) => return Ok(page),
    };
    let key = match checked_key(&form) {
        Ok(key) => key,
        Err(errors) => {
            if errors.code.is_some() && errors.key.is_none() && !form.code.trim().is_empty() {
                let entry = portal_audit(&link, &signed_in, "totp.set", "refused")
                    .detail("confirmation code did not match (portal)");
                store::audit::record_event(&state.db, &entry).await?;
            }
            let extras = Extras {
                totp_errors: errors,
                ..Default::default()
            };
            return render_tenant(
                &state,
                &signed_in,
                &tenant,
                StatusCode::UNPROCESSABLE_ENTITY,
                &extras,
            )
            .await;
        }
    };
    let audit = portal_audit(&link, &signed_in, "totp.set", "ok");
    match links::save_totp_key(&state.db, &state.keyring, &link, key.normalized(), &audit).await? {
        TotpSaved::Stored | TotpSaved::Replaced => {
            let codes = key.codes_from_now(crate::domain::totp::CODES_AHEAD);
            let extras = Extras {
                notice: done_text(Some("totp-saved")),
                codes: Some(&codes),
                ..Default::default()
            };
            render_tenant(&state, &signed_in, &tenant, StatusCode::OK, &extras).await
        }
        TotpSaved::LinkNotValid => {
            let now = links::current_for_grant(&state.db, &link.grant_id).await?;
            let why = link_problem(now.as_ref().unwrap_or(&link).state());
            problem_page(&state, &signed_in, &tenant, StatusCode::GONE, why).await
        }
    }
}

/// The key, if it parses and the code confirms it; the credential page's rules and wording.
fn checked_key(form: &TotpForm) -> Result<TotpKey, TotpErrors> {
    let key = TotpKey::parse(&form.key).map_err(|e| TotpErrors {
        key: Some(e.to_string()),
        code: None,
    })?;
    if form.code.trim().is_empty() {
        return Err(TotpErrors {
            key: None,
            code: Some("Enter the code your authenticator app shows now for this key.".into()),
        });
    }
    if !key.confirms(&form.code) {
        return Err(TotpErrors {
            key: None,
            code: Some(
                "This code does not match the key. Paste the key again and enter the code your app shows now; codes change every 30 seconds."
                    .into(),
            ),
        });
    }
    Ok(key)
}

/// A form with nothing but its CSRF token.
#[derive(Deserialize)]
struct Empty {}

async fn end_now(
    State(state): State<AppState>,
    Path(customer): Path<String>,
    form: SignedForm<Empty>,
) -> Result<Response, PageError> {
    let signed_in = form.signed_in;
    let tenant = tenants::my_tenant(&state, &signed_in, &customer).await?;
    let Some(grant) = tenant.access.open_grant() else {
        return Ok(to_tenant(&state, &customer, None));
    };
    let me = &signed_in.session.technician_id;
    let mut tx = state.db.begin().await?;
    if crate::jobs::end::request_end(&mut tx, &grant.id, EndReason::Cancelled).await? {
        let audit = AuditEntry::new(format!("technician:{me}"), "grant.end_requested", "ok")
            .customer(&grant.customer_id)
            .technician(me)
            .grant(&grant.id)
            .session(&signed_in.session.id)
            .client(
                signed_in.client.ip.clone(),
                signed_in.client.user_agent.clone(),
            )
            .detail("ended now by the technician in the portal");
        store::audit::record(&mut tx, &audit).await?;
    }
    tx.commit().await?;
    Ok(to_tenant(&state, &customer, Some("ending")))
}

fn to_tenant(state: &AppState, customer: &str, done: Option<&str>) -> Response {
    let done = done.map(|d| format!("?done={d}")).unwrap_or_default();
    Redirect::to(&format!("{}/portal/tenants/{customer}{done}", base(state))).into_response()
}

/// A reloaded or bookmarked result page goes back to the tenant (never re-reveals).
async fn back_to_tenant(State(state): State<AppState>, Path(customer): Path<String>) -> Response {
    to_tenant(&state, &customer, None)
}
