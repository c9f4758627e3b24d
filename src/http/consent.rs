//! `GET /entra/consent/callback`: where Microsoft's admin-consent page sends the customer's
//! administrator back, with `admin_consent=True&tenant=…&state=…` or
//! `error=…&error_description=…&state=…`
//! (https://learn.microsoft.com/entra/identity-platform/v2-admin-consent).
//!
//! No bearer token here (it is a browser redirect): the single-use `state` names the customer
//! and the admin who asked. The tenant is taken from the token jitgate then gets through the
//! MSP app (`tid`), never from the query string, which anyone can edit. Every answer is a small
//! page that says what happened and what to do; nothing is connected unless everything worked.

use super::api::entra::CALLBACK_PATH;
use super::state::AppState;
use crate::crypto::hash_token;
use crate::domain::lifecycle::ExpiryAction;
use crate::domain::names::DEFAULT_UPN_TEMPLATE;
use crate::store::checks::CheckStatus;
use crate::store::customers::{ENTRA_SECRET, EntraConnection, secret_scope};
use crate::store::msp_app::{ConsentState, MspApp};
use crate::store::{self, StoreError, audit::AuditEntry, now_ms};
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use std::collections::HashMap;

/// Global Administrator's template id: what a customer connected without settings of its own
/// gets (https://learn.microsoft.com/entra/identity/role-based-access-control/permissions-reference).
const GLOBAL_ADMINISTRATOR: &str = "62e90394-69f5-4237-9190-012177145e10";

pub fn router() -> Router<AppState> {
    Router::new().route(CALLBACK_PATH, get(callback))
}

/// What the callback shows: a status, a title and paragraphs (plain text, escaped here).
struct Outcome {
    status: StatusCode,
    title: &'static str,
    lines: Vec<String>,
    customer_id: Option<String>,
}

impl Outcome {
    fn refused(status: StatusCode, title: &'static str, line: impl Into<String>) -> Outcome {
        Outcome {
            status,
            title,
            lines: vec![line.into()],
            customer_id: None,
        }
    }

    fn for_customer(mut self, customer_id: &str) -> Outcome {
        self.customer_id = Some(customer_id.to_string());
        self
    }
}

async fn callback(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let outcome = match handle(&state, &query).await {
        Ok(outcome) => outcome,
        Err(e) => {
            tracing::error!(error = %e, "admin-consent callback failed");
            Outcome::refused(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "jitgate could not record the answer. Nothing was connected; try Authorize again \
                 in a moment.",
            )
        }
    };
    page(&state, outcome)
}

async fn handle(state: &AppState, query: &HashMap<String, String>) -> Result<Outcome, StoreError> {
    let Some(request) = take_state(state, query.get("state")).await? else {
        return Ok(Outcome::refused(
            StatusCode::BAD_REQUEST,
            "This consent link is not valid",
            "It is unknown, was already used, or was altered. Nothing was connected. Ask jitgate \
             for a new consent URL (GET /api/v1/customers/{id}/entra/consent) and open it once.",
        ));
    };
    if request.expires_at < now_ms() {
        return Ok(Outcome::refused(
            StatusCode::BAD_REQUEST,
            "This consent link has expired",
            "Consent links work for ten minutes. Nothing was connected. Ask jitgate for a new \
             consent URL and finish Microsoft's page within ten minutes.",
        )
        .for_customer(&request.customer_id));
    }
    if let Some(error) = query.get("error") {
        return Ok(
            declined(error, query.get("error_description")).for_customer(&request.customer_id)
        );
    }
    if !query
        .get("admin_consent")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        return Ok(Outcome::refused(
            StatusCode::BAD_REQUEST,
            "Consent was not granted",
            "Microsoft's answer did not say that an administrator consented. Nothing was \
             connected. Try Authorize again and accept the permissions.",
        )
        .for_customer(&request.customer_id));
    }
    let Some(tenant) = query.get("tenant").filter(|t| !t.trim().is_empty()) else {
        return Ok(Outcome::refused(
            StatusCode::BAD_REQUEST,
            "Microsoft's answer names no tenant",
            "Nothing was connected. Try Authorize again.",
        )
        .for_customer(&request.customer_id));
    };
    let outcome = connect(state, &request, tenant.trim()).await?;
    Ok(outcome.for_customer(&request.customer_id))
}

/// The consent request the `state` belongs to, removed so it works once.
async fn take_state(
    state: &AppState,
    consent_state: Option<&String>,
) -> Result<Option<ConsentState>, StoreError> {
    let Some(consent_state) = consent_state.filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let mut tx = state.db.begin().await?;
    let request = store::msp_app::take_consent_state(&mut tx, &hash_token(consent_state)).await?;
    tx.commit().await?;
    Ok(request)
}

fn declined(error: &str, description: Option<&String>) -> Outcome {
    let mut lines = vec![format!("Microsoft answered: {error}.")];
    if let Some(d) = description.filter(|d| !d.is_empty()) {
        lines.push(d.clone());
    }
    lines.push(
        "Nothing was connected. Sign in as a Global Administrator of the customer's tenant and \
         accept the permissions, then try Authorize again."
            .into(),
    );
    Outcome {
        status: StatusCode::BAD_REQUEST,
        title: "Consent was refused",
        lines,
        customer_id: None,
    }
}

/// Get a token for `tenant` through the MSP app, check that it was issued by that tenant, and
/// store the customer's connection through the MSP app.
async fn connect(
    state: &AppState,
    request: &ConsentState,
    tenant: &str,
) -> Result<Outcome, StoreError> {
    let Some((app, credential)) = crate::jobs::msp_app_credential(state).await? else {
        return Ok(Outcome::refused(
            StatusCode::CONFLICT,
            "The MSP's Entra app is not configured",
            "Nothing was connected. Set it (PUT /api/v1/entra/app or `jitgate entra app set`), \
             then try Authorize again.",
        ));
    };
    let asked =
        jitgate_graph::Tenant::with_credential(tenant, app.client_id.clone(), credential.clone());
    let claims = match state.graph.token_claims(&asked).await {
        Ok(c) => c,
        Err(e) => {
            return Ok(Outcome::refused(
                StatusCode::BAD_GATEWAY,
                "jitgate could not sign in to the tenant",
                format!(
                    "Getting a token for tenant {tenant} through the MSP app failed: {e}. \
                     Nothing was connected. Check the MSP app's client secret or certificate, \
                     then try Authorize again."
                ),
            ));
        }
    };
    if !claims.tenant_id.eq_ignore_ascii_case(tenant) {
        return Ok(Outcome::refused(
            StatusCode::BAD_REQUEST,
            "The tenant does not match",
            format!(
                "Microsoft's answer named tenant {tenant}, but the token was issued by tenant \
                 {}. Nothing was connected. Try Authorize again from jitgate's consent URL.",
                claims.tenant_id
            ),
        ));
    }
    let tenant_id = claims.tenant_id.to_ascii_lowercase();
    let current = store::customers::entra(&state.db, &request.customer_id).await?;
    if let Some(refusal) =
        refuse_move_with_open_grants(state, request, current.as_ref(), &tenant_id, &app).await?
    {
        return Ok(refusal);
    }
    let with_tenant = jitgate_graph::Tenant::with_credential(
        tenant_id.clone(),
        app.client_id.clone(),
        credential,
    );
    let (connection, defaults) =
        match connection_for(state, request, current, &tenant_id, &app, &with_tenant).await {
            Ok(c) => c,
            Err(outcome) => return Ok(outcome),
        };
    store_connection(state, request, &connection).await?;
    let mut lines = vec![format!(
        "The customer is connected to tenant {tenant_id} through the MSP's Entra app ({}).",
        app.client_id
    )];
    lines.extend(defaults);
    // Connecting is checked at once, like every change of the connection.
    match crate::jobs::tenant_check::run(state, &request.customer_id, "system").await? {
        Some(check) => {
            lines.push(format!("Tenant check: {}.", check.status.as_str()));
            for c in check.checks.iter().filter(|c| c.status != CheckStatus::Ok) {
                lines.push(format!(
                    "{} ({}): {} {}",
                    c.name,
                    c.status.as_str(),
                    c.detail,
                    c.fix
                ));
            }
        }
        None => lines.push("The tenant check could not run.".into()),
    }
    Ok(Outcome {
        status: StatusCode::OK,
        title: "Connected",
        lines,
        customer_id: None,
    })
}

/// A grant lives in one tenant and ends through the app it was made with: a customer with open
/// grants keeps its tenant and app until they end.
async fn refuse_move_with_open_grants(
    state: &AppState,
    request: &ConsentState,
    current: Option<&EntraConnection>,
    tenant_id: &str,
    app: &MspApp,
) -> Result<Option<Outcome>, StoreError> {
    let moves = current.is_some_and(|c| {
        !c.tenant_id.eq_ignore_ascii_case(tenant_id)
            || !c.client_id.eq_ignore_ascii_case(&app.client_id)
    });
    if !moves {
        return Ok(None);
    }
    let open = store::grants::count_open_for(&state.db, Some(&request.customer_id), None).await?;
    if open == 0 {
        return Ok(None);
    }
    Ok(Some(Outcome::refused(
        StatusCode::CONFLICT,
        "The customer still has open access",
        format!(
            "{open} grant(s) of this customer are still open in its current tenant or app. \
             Nothing was changed. End them first (POST /api/v1/grants/{{id}}/end), then try \
             Authorize again."
        ),
    )))
}

/// The connection to store, and lines saying which defaults it got. A customer connected to
/// the same tenant before keeps its domain, roles and other settings; otherwise the tenant's
/// initial `*.onmicrosoft.com` domain and Global Administrator.
async fn connection_for(
    state: &AppState,
    request: &ConsentState,
    current: Option<EntraConnection>,
    tenant_id: &str,
    app: &MspApp,
    tenant: &jitgate_graph::Tenant,
) -> Result<(EntraConnection, Vec<String>), Outcome> {
    if let Some(c) = current.filter(|c| c.tenant_id.eq_ignore_ascii_case(tenant_id)) {
        let connection = EntraConnection {
            client_id: app.client_id.clone(),
            tenant_id: tenant_id.to_string(),
            updated_at: now_ms(),
            ..c
        };
        return Ok((connection, Vec::new()));
    }
    let domain = initial_domain(state, tenant).await?;
    let connection = EntraConnection {
        customer_id: request.customer_id.clone(),
        tenant_id: tenant_id.to_string(),
        client_id: app.client_id.clone(),
        jit_domain: domain.clone(),
        upn_template: DEFAULT_UPN_TEMPLATE.to_string(),
        roles: serde_json::json!([GLOBAL_ADMINISTRATOR]).to_string(),
        duration_secs: None,
        expiry_action: ExpiryAction::Disable,
        updated_at: now_ms(),
    };
    let defaults = vec![format!(
        "Defaults were set: JIT accounts are created on {domain} (the tenant's initial domain) \
         and get Global Administrator. Change them with PUT /api/v1/customers/{}/entra and the \
         role mappings.",
        request.customer_id
    )];
    Ok((connection, defaults))
}

async fn initial_domain(
    state: &AppState,
    tenant: &jitgate_graph::Tenant,
) -> Result<String, Outcome> {
    let domains = state.graph.list_domains(tenant).await.map_err(|e| {
        Outcome::refused(
            StatusCode::BAD_GATEWAY,
            "jitgate could not read the tenant's domains",
            format!(
                "{e}. Nothing was connected. Check that the MSP app has the Domain.Read.All \
                 permission, then try Authorize again."
            ),
        )
    })?;
    domains
        .into_iter()
        .find(|d| d.is_initial)
        .map(|d| d.id.to_ascii_lowercase())
        .ok_or_else(|| {
            Outcome::refused(
                StatusCode::BAD_GATEWAY,
                "The tenant has no initial domain",
                "Microsoft listed no *.onmicrosoft.com domain. Nothing was connected.",
            )
        })
}

/// The connection, the removal of any secret of the customer's own app (a secret never
/// follows a customer to another app), and the audit row, in one transaction.
async fn store_connection(
    state: &AppState,
    request: &ConsentState,
    connection: &EntraConnection,
) -> Result<(), StoreError> {
    let mut tx = state.db.begin().await?;
    store::customers::put_entra(&mut tx, connection).await?;
    store::secrets::delete(&mut tx, &secret_scope(&request.customer_id), ENTRA_SECRET).await?;
    store::audit::record(
        &mut tx,
        &AuditEntry::new(request.requested_by.clone(), "customer.entra.consent", "ok")
            .customer(&request.customer_id)
            .tenant(&connection.tenant_id)
            .detail(format!(
                "connected by admin consent through the MSP app {}",
                connection.client_id
            )),
    )
    .await?;
    tx.commit().await
}

/// The result as a page of the console's look, with the way back to the customer.
fn page(state: &AppState, outcome: Outcome) -> Response {
    let base = super::pages::base(state);
    let markup = super::pages::card_page(
        &base,
        outcome.title,
        maud::html! {
            h1 { (outcome.title) }
            @for line in &outcome.lines { p { (line) } }
            @if let Some(id) = &outcome.customer_id {
                p { a href={ (base) "/console/customers/" (id) } id="back-to-customer" { "Back to the customer" } }
            }
        },
    );
    super::pages::respond(outcome.status, markup)
}
