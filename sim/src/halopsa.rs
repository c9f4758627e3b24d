//! A contract-faithful HaloPSA fake: the auth server (`/api/authinfo`, `/auth/token`) and the
//! resource endpoints jitgate uses (`/api/actions`, `/api/tickets`, `/api/agent`,
//! `/api/Client`), as Halo's
//! API clients call them (HaloAPI, https://github.com/homotechsual/HaloAPI; CIPP's Halo
//! extension, https://github.com/KelvinTegelaar/CIPP-API under
//! `Modules/CippExtensions/Public/Halo`).
//!
//! It is strict: the token endpoint checks the grant type, client credentials, `scope=all` and
//! the tenant; every `/api/*` call (except `authinfo`) needs a live bearer token; action and
//! ticket updates must be JSON **arrays**; an action without an outcome is refused with Halo's
//! "An Outcome must be entered for this Action". Tests can make it throttle (429) or fail (5xx)
//! and inspect what was written.
//!
//! It also builds realistic webhook deliveries (Basic auth or an HMAC header) for "Action Added"
//! and "Ticket Updated" events, with the fields Halo's webhook guide lists
//! (https://halocrm.io/guides/article?kbid=838) and shaped like a live-tenant capture in
//! dotMARC's tests (https://github.com/homotechsual/dotMARC,
//! `test/DotMarc.Tests/Notifications/HaloWebhookEndpointTests.cs`).
//!
//! ```no_run
//! # async fn demo() {
//! use jitgate_sim::halopsa::{HaloConfig, HaloSim, DeliveryAuth};
//! let halo = HaloSim::start(HaloConfig::new("client-id", "client-secret").with_tenant("msp"), None).await;
//! halo.seed_ticket(4242, 17);
//! halo.seed_agent(5, "Jane Tech", "jane@msp.example");
//! let delivery = halo.action_added(4242, 5, 23, "Request JIT")
//!     .deliver(&DeliveryAuth::basic("jitgate", "a-long-random-password"));
//! // POST delivery.body with delivery.header_map() to jitgate's /webhooks/{id} …
//! # }
//! ```

use crate::tls::{SimServer, TestCa, spawn};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Halo's message for an action without an outcome (as CIPP's Halo extension meets it,
/// https://github.com/KelvinTegelaar/CIPP-API, `New-HaloPSATicket.ps1`).
pub const NO_OUTCOME_ERROR: &str = "An Outcome must be entered for this Action";

/// How the fake's API application is set up.
#[derive(Debug, Clone)]
pub struct HaloConfig {
    pub client_id: String,
    pub client_secret: String,
    /// When set, `/auth/token` demands `?tenant=` with this value (hosted Halo).
    pub tenant: Option<String>,
    /// `expires_in` of issued tokens.
    pub token_lifetime: Duration,
    /// Whether `/api/authinfo` exists (older/self-hosted layouts answer 404; clients then fall
    /// back to `{base}/auth`).
    pub serve_authinfo: bool,
}

impl HaloConfig {
    pub fn new(client_id: &str, client_secret: &str) -> Self {
        HaloConfig {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            tenant: None,
            token_lifetime: Duration::from_secs(3600),
            serve_authinfo: true,
        }
    }
    pub fn with_tenant(mut self, tenant: &str) -> Self {
        self.tenant = Some(tenant.into());
        self
    }
    pub fn with_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
        self
    }
    pub fn without_authinfo(mut self) -> Self {
        self.serve_authinfo = false;
        self
    }
}

/// A ticket custom field as Halo shows it on a ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimCustomField {
    pub id: u64,
    pub name: String,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimTicket {
    pub id: u64,
    pub summary: String,
    pub client_id: u64,
    pub client_name: String,
    /// The assignee (not necessarily the agent acting on the ticket).
    pub agent_id: u64,
    pub status_id: u64,
    pub customfields: Vec<SimCustomField>,
}

/// Which field the agent's email is served under: Halo's is unconfirmed (`email` in list
/// responses, `emailaddress` on creation), so tests can check clients accept both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailField {
    Email,
    EmailAddress,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SimAgent {
    pub id: u64,
    pub name: String,
    pub email: String,
    pub email_field: EmailField,
}

/// An action written through `POST /api/actions`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimAction {
    pub id: u64,
    pub ticket_id: u64,
    pub outcome_id: u64,
    pub hiddenfromuser: bool,
    /// Whether Halo would email the action to the ticket's contacts: unless `sendemail` is
    /// `false`, the stricter reading of an omitted flag (Halo's action screen defaults to
    /// sending for some outcomes) is that it does.
    pub sendemail: bool,
    pub note_html: String,
    /// The whole element as posted, for assertions on fields the fake does not model.
    pub raw: Value,
}

#[derive(Default)]
struct Inner {
    config: Option<HaloConfig>,
    base_url: String,
    tokens: HashMap<String, Instant>,
    tokens_issued: usize,
    tickets: BTreeMap<u64, SimTicket>,
    agents: BTreeMap<u64, SimAgent>,
    /// Client names by id (seeded tickets add theirs unless it was added first).
    clients: BTreeMap<u64, String>,
    actions: Vec<SimAction>,
    throttle: Option<(u32, Option<u64>)>,
    failures: Option<(u32, StatusCode)>,
    requests: Vec<String>,
    /// Outcomes and custom-field definitions (connector check).
    setup: SetupState,
}

type Shared = Arc<Mutex<Inner>>;

fn lock(state: &Shared) -> MutexGuard<'_, Inner> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running HaloPSA fake. Dropping it stops the server.
pub struct HaloSim {
    state: Shared,
    pub server: SimServer,
}

impl HaloSim {
    /// Start on `127.0.0.1:0`, over TLS when `tls` is given.
    pub async fn start(config: HaloConfig, tls: Option<&TestCa>) -> HaloSim {
        let state: Shared = Arc::new(Mutex::new(Inner {
            config: Some(config),
            ..Inner::default()
        }));
        let server = spawn(router(state.clone()), tls).await;
        lock(&state).base_url = server.url.as_str().trim_end_matches('/').to_string();
        HaloSim { state, server }
    }

    /// Base URL without a trailing slash: the connector's `base_url`.
    pub fn url(&self) -> String {
        self.server.url.as_str().trim_end_matches('/').to_string()
    }

    /// Add (or replace) a ticket of client `client_id`, with no custom fields.
    pub fn seed_ticket(&self, id: u64, client_id: u64) -> SimTicket {
        let ticket = SimTicket {
            id,
            summary: format!("Ticket {id}"),
            client_id,
            client_name: format!("Client {client_id}"),
            agent_id: 1,
            status_id: 2,
            customfields: Vec::new(),
        };
        let mut inner = lock(&self.state);
        inner
            .clients
            .entry(client_id)
            .or_insert_with(|| ticket.client_name.clone());
        inner.tickets.insert(id, ticket.clone());
        ticket
    }

    /// Add (or rename) a client, served by `GET /api/Client/{id}`.
    pub fn seed_client(&self, id: u64, name: &str) {
        lock(&self.state).clients.insert(id, name.into());
    }

    /// Set a custom field on a seeded ticket (adding it if the ticket lacks it).
    pub fn set_custom_field(&self, ticket_id: u64, field_id: u64, name: &str, value: Value) {
        let mut inner = lock(&self.state);
        let ticket = inner
            .tickets
            .get_mut(&ticket_id)
            .expect("seed the ticket first");
        match ticket.customfields.iter_mut().find(|f| f.id == field_id) {
            Some(f) => f.value = value,
            None => ticket.customfields.push(SimCustomField {
                id: field_id,
                name: name.into(),
                value,
            }),
        }
    }

    pub fn seed_agent(&self, id: u64, name: &str, email: &str) {
        self.seed_agent_with(id, name, email, EmailField::Email);
    }

    pub fn seed_agent_with(&self, id: u64, name: &str, email: &str, email_field: EmailField) {
        let agent = SimAgent {
            id,
            name: name.into(),
            email: email.into(),
            email_field,
        };
        lock(&self.state).agents.insert(id, agent);
    }

    /// The next `requests` calls (token or API, not `authinfo`) answer 429, with
    /// `Retry-After: retry_after_secs` when given (Halo does not document the header).
    pub fn throttle_next(&self, requests: u32, retry_after_secs: Option<u64>) {
        lock(&self.state).throttle = Some((requests, retry_after_secs));
    }

    /// The next `requests` calls (token or API, not `authinfo`) fail with `status` (e.g. 500,
    /// 503) and a JSON string body, as an overloaded or broken Halo would.
    pub fn fail_next(&self, requests: u32, status: u16) {
        let status = StatusCode::from_u16(status).expect("a valid HTTP status");
        lock(&self.state).failures = Some((requests, status));
    }

    /// Every action written to `ticket_id`, oldest first.
    pub fn actions(&self, ticket_id: u64) -> Vec<SimAction> {
        lock(&self.state)
            .actions
            .iter()
            .filter(|a| a.ticket_id == ticket_id)
            .cloned()
            .collect()
    }

    /// The `note_html` of every action on `ticket_id`, oldest first.
    pub fn notes(&self, ticket_id: u64) -> Vec<String> {
        self.actions(ticket_id)
            .into_iter()
            .map(|a| a.note_html)
            .collect()
    }

    pub fn all_actions(&self) -> Vec<SimAction> {
        lock(&self.state).actions.clone()
    }

    pub fn ticket(&self, id: u64) -> Option<SimTicket> {
        lock(&self.state).tickets.get(&id).cloned()
    }

    pub fn tickets(&self) -> Vec<SimTicket> {
        lock(&self.state).tickets.values().cloned().collect()
    }

    pub fn agents(&self) -> Vec<SimAgent> {
        lock(&self.state).agents.values().cloned().collect()
    }

    /// How many tokens `/auth/token` has issued (to check caching).
    pub fn tokens_issued(&self) -> usize {
        lock(&self.state).tokens_issued
    }

    /// Invalidate every issued token (as if revoked or expired server-side).
    pub fn revoke_tokens(&self) {
        lock(&self.state).tokens.clear();
    }

    /// Every request received, as `"METHOD /path"`, oldest first.
    pub fn requests(&self) -> Vec<String> {
        lock(&self.state).requests.clone()
    }

    /// An "Action Added" event for a seeded ticket (client and custom fields taken from it),
    /// performed by agent `agent_id` with the given outcome.
    pub fn action_added(
        &self,
        ticket_id: u64,
        agent_id: u64,
        outcome_id: u64,
        outcome: &str,
    ) -> HaloEvent {
        let ticket = self.ticket(ticket_id).expect("seed the ticket first");
        HaloEvent::action_added(ticket, agent_id, outcome_id, outcome)
    }

    /// A "Ticket Updated" event for a seeded ticket in its current state (custom fields included).
    pub fn ticket_updated(&self, ticket_id: u64, agent_id: u64) -> HaloEvent {
        let ticket = self.ticket(ticket_id).expect("seed the ticket first");
        HaloEvent::ticket_updated(ticket, agent_id)
    }
}

// ---------------------------------------------------------------------------------------------
// Deliveries

/// How the Halo webhook authenticates its deliveries.
#[derive(Debug, Clone)]
pub enum DeliveryAuth {
    /// Halo's documented option: `Authorization: Basic base64(user:password)`.
    Basic { username: String, password: String },
    /// An HMAC-SHA256 of the raw body in `header`, rendered as `format` describes.
    Hmac {
        header: String,
        secret: String,
        format: HmacFormat,
    },
}

impl DeliveryAuth {
    pub fn basic(username: &str, password: &str) -> Self {
        DeliveryAuth::Basic {
            username: username.into(),
            password: password.into(),
        }
    }
    pub fn hmac(header: &str, secret: &str, format: HmacFormat) -> Self {
        DeliveryAuth::Hmac {
            header: header.into(),
            secret: secret.into(),
            format,
        }
    }
}

/// Renderings of the HMAC header value that jitgate must accept (the vendor format is unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HmacFormat {
    Hex,
    Base64,
    /// `sha256=<hex>`
    PrefixedHex,
    /// `sha256= <base64>`, the space the bifrost report describes.
    SpacedPrefixedBase64,
}

/// The action object of an action event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventAction {
    pub id: u64,
    pub ticket_id: u64,
    pub outcome: String,
    pub outcome_id: u64,
    pub who: String,
    pub who_agentid: u64,
    pub hiddenfromuser: bool,
    pub note: String,
}

/// A webhook event, ready to be rendered as a "Full object" payload.
#[derive(Debug, Clone, PartialEq)]
pub struct HaloEvent {
    /// The delivery's GUID (jitgate's delivery key): fresh per event, the same when one event is delivered again (a redelivery).
    pub id: String,
    pub event: String,
    pub agent_id: u64,
    pub ticket: SimTicket,
    pub action: Option<EventAction>,
}

impl HaloEvent {
    pub fn action_added(ticket: SimTicket, agent_id: u64, outcome_id: u64, outcome: &str) -> Self {
        let action = EventAction {
            id: next_number(),
            ticket_id: ticket.id,
            outcome: outcome.into(),
            outcome_id,
            who: format!("Agent {agent_id}"),
            who_agentid: agent_id,
            hiddenfromuser: true,
            note: "Requesting a JIT admin account".into(),
        };
        HaloEvent {
            id: guid(),
            event: "Action Added".into(),
            agent_id,
            ticket,
            action: Some(action),
        }
    }

    pub fn ticket_updated(ticket: SimTicket, agent_id: u64) -> Self {
        HaloEvent {
            id: guid(),
            event: "Ticket Updated".into(),
            agent_id,
            ticket,
            action: None,
        }
    }

    /// The JSON body Halo would send ("Full object with linked objects").
    pub fn payload(&self) -> Value {
        let mut body = json!({
            "id": self.id,
            "webhook_id": "53232637-7724-4a19-b126-3c7267a292aa",
            "notification_id": 41,
            "escmsg_id": guid(),
            "event": self.event,
            "message": format!("{} on ticket {}", self.event, self.ticket.id),
            "object_id": self.ticket.id,
            "agent_id": self.agent_id,
            "timestamp": now_rfc3339(),
            "ticket": ticket_json(&self.ticket, true),
        });
        if let Some(action) = &self.action {
            body["action"] = serde_json::to_value(action).expect("serializable");
        }
        body
    }

    /// Render and authenticate the delivery.
    pub fn deliver(&self, auth: &DeliveryAuth) -> SimDelivery {
        let body = serde_json::to_vec(&self.payload()).expect("serializable");
        sign_delivery(&self.id, body, auth)
    }
}

/// Authenticate an arbitrary body as Halo (or a signing relay in front of it) would.
pub fn sign_delivery(id: &str, body: Vec<u8>, auth: &DeliveryAuth) -> SimDelivery {
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    match auth {
        DeliveryAuth::Basic { username, password } => {
            let value = format!(
                "Basic {}",
                STANDARD.encode(format!("{username}:{password}"))
            );
            headers.push(("authorization".into(), value));
        }
        DeliveryAuth::Hmac {
            header,
            secret,
            format,
        } => {
            let mut mac =
                Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
            mac.update(&body);
            let tag = mac.finalize().into_bytes();
            let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
            let value = match format {
                HmacFormat::Hex => hex,
                HmacFormat::Base64 => STANDARD.encode(tag),
                HmacFormat::PrefixedHex => format!("sha256={hex}"),
                HmacFormat::SpacedPrefixedBase64 => format!("sha256= {}", STANDARD.encode(tag)),
            };
            headers.push((header.to_ascii_lowercase(), value));
        }
    }
    SimDelivery {
        id: id.to_string(),
        headers,
        body,
    }
}

/// A webhook request as it goes over the wire.
#[derive(Debug, Clone)]
pub struct SimDelivery {
    /// The delivery's GUID (top-level `id`).
    pub id: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl SimDelivery {
    pub fn header_map(&self) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in &self.headers {
            let name = header::HeaderName::from_bytes(name.as_bytes()).expect("valid header name");
            map.append(name, value.parse().expect("valid header value"));
        }
        map
    }
}

// ---------------------------------------------------------------------------------------------
// Server

fn router(state: Shared) -> Router {
    Router::new()
        .route("/api/authinfo", get(authinfo))
        .route("/auth/token", post(token))
        .route("/api/actions", post(add_actions))
        .route("/api/tickets", post(update_tickets))
        .route("/api/tickets/{id}", get(get_ticket))
        .route("/api/agent/{id}", get(get_agent))
        .route("/api/Client/{id}", get(get_client))
        .merge(setup_routes())
        .with_state(state)
}

fn error(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

/// Record the request; the 429 (or injected failure) to answer, if one is armed.
fn admit(state: &Shared, what: &str) -> Option<Response> {
    let mut inner = lock(state);
    inner.requests.push(what.to_string());
    if let Some((left, retry_after)) = inner.throttle
        && left > 0
    {
        inner.throttle = if left > 1 {
            Some((left - 1, retry_after))
        } else {
            None
        };
        let mut response = error(
            StatusCode::TOO_MANY_REQUESTS,
            json!("Too many requests, please slow down"),
        );
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, secs.into());
        }
        return Some(response);
    }
    if let Some((left, status)) = inner.failures
        && left > 0
    {
        inner.failures = (left > 1).then_some((left - 1, status));
        return Some(error(status, json!("Simulated failure")));
    }
    None
}

/// Record, throttle, then require a live bearer token: the refusal to answer, if any.
fn authorize(state: &Shared, headers: &HeaderMap, what: &str) -> Option<Response> {
    if let Some(refusal) = admit(state, what) {
        return Some(refusal);
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let inner = lock(state);
    let live = token
        .and_then(|t| inner.tokens.get(t))
        .is_some_and(|expiry| Instant::now() < *expiry);
    if live {
        None
    } else {
        let mut response = StatusCode::UNAUTHORIZED.into_response();
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, "Bearer".parse().expect("static"));
        Some(response)
    }
}

async fn authinfo(State(state): State<Shared>) -> Response {
    let mut inner = lock(&state);
    inner.requests.push("GET /api/authinfo".into());
    let config = inner.config.clone().expect("configured");
    if !config.serve_authinfo {
        return StatusCode::NOT_FOUND.into_response();
    }
    Json(json!({
        "auth_url": format!("{}/auth", inner.base_url),
        "tenant_id": published_tenant_id(&config),
    }))
    .into_response()
}

/// The `tenant_id` `/api/authinfo` publishes. Halo's own PowerShell module sends it as
/// `?tenant=` when no tenant name is given
/// (https://github.com/homotechsual/HaloAPI/blob/main/Public/Connect-HaloAPI.ps1), so the token
/// endpoint takes it as well as the tenant's name; nothing else.
fn published_tenant_id(config: &HaloConfig) -> Option<String> {
    config.tenant.as_deref().map(|t| format!("{t}-tenant-guid"))
}

#[derive(Deserialize)]
struct TenantQuery {
    tenant: Option<String>,
}

async fn token(
    State(state): State<Shared>,
    Query(query): Query<TenantQuery>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Some(response) = admit(&state, "POST /auth/token") {
        return response;
    }
    let mut inner = lock(&state);
    let config = inner.config.clone().expect("configured");
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    if field("grant_type") != "client_credentials" {
        return error(
            StatusCode::BAD_REQUEST,
            json!({"error": "unsupported_grant_type"}),
        );
    }
    if let Some(tenant) = &config.tenant
        && query.tenant.as_deref() != Some(tenant.as_str())
        && query.tenant != published_tenant_id(&config)
    {
        return error(
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid_request", "error_description": "Invalid tenant"}),
        );
    }
    if field("client_id") != config.client_id || field("client_secret") != config.client_secret {
        return error(
            StatusCode::UNAUTHORIZED,
            json!({"error": "invalid_client", "error_description": "Invalid client credentials"}),
        );
    }
    if field("scope") != "all" {
        return error(
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid_scope", "error_description": "Unknown scope"}),
        );
    }
    let access_token = format!("halo-{}", guid());
    inner
        .tokens
        .insert(access_token.clone(), Instant::now() + config.token_lifetime);
    inner.tokens_issued += 1;
    Json(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": config.token_lifetime.as_secs(),
        "scope": "all",
    }))
    .into_response()
}

/// Halo ids arrive as numbers (or digit strings from loosely typed clients).
fn id_of(value: &Value, key: &str) -> Option<u64> {
    let v = value.get(key)?;
    v.as_u64()
        .or_else(|| v.as_str()?.trim().parse().ok())
        .filter(|&n| n > 0)
}

async fn add_actions(State(state): State<Shared>, headers: HeaderMap, body: String) -> Response {
    if let Some(response) = authorize(&state, &headers, "POST /api/actions") {
        return response;
    }
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            json!("The request body must be a JSON array of actions"),
        );
    };
    let mut inner = lock(&state);
    let mut created = Vec::new();
    for item in items {
        let Some(ticket_id) = id_of(&item, "ticket_id") else {
            return error(
                StatusCode::BAD_REQUEST,
                json!("A ticket must be specified for this Action"),
            );
        };
        if !inner.tickets.contains_key(&ticket_id) {
            return error(
                StatusCode::NOT_FOUND,
                json!(format!("Ticket {ticket_id} not found")),
            );
        }
        let Some(outcome_id) = id_of(&item, "outcome_id") else {
            return error(StatusCode::BAD_REQUEST, json!(NO_OUTCOME_ERROR));
        };
        let action = SimAction {
            id: next_number(),
            ticket_id,
            outcome_id,
            hiddenfromuser: item
                .get("hiddenfromuser")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            sendemail: item
                .get("sendemail")
                .and_then(Value::as_bool)
                .unwrap_or(true),
            note_html: item
                .get("note_html")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            raw: item.clone(),
        };
        created.push(json!({"id": action.id, "ticket_id": ticket_id, "outcome_id": outcome_id}));
        inner.actions.push(action);
    }
    (StatusCode::CREATED, Json(Value::Array(created))).into_response()
}

#[derive(Deserialize)]
struct TicketQuery {
    includedetails: Option<bool>,
}

async fn get_ticket(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<TicketQuery>,
) -> Response {
    if let Some(response) = authorize(&state, &headers, &format!("GET /api/tickets/{id}")) {
        return response;
    }
    let inner = lock(&state);
    match id.parse::<u64>().ok().and_then(|id| inner.tickets.get(&id)) {
        Some(ticket) => {
            Json(ticket_json(ticket, q.includedetails.unwrap_or(false))).into_response()
        }
        None => error(
            StatusCode::NOT_FOUND,
            json!(format!("Ticket {id} not found")),
        ),
    }
}

async fn get_agent(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(response) = authorize(&state, &headers, &format!("GET /api/agent/{id}")) {
        return response;
    }
    let inner = lock(&state);
    match id.parse::<u64>().ok().and_then(|id| inner.agents.get(&id)) {
        Some(agent) => {
            let email_key = match agent.email_field {
                EmailField::Email => "email",
                EmailField::EmailAddress => "emailaddress",
            };
            let mut body = json!({"id": agent.id, "name": agent.name, "is_disabled": false});
            body[email_key] = json!(agent.email);
            Json(body).into_response()
        }
        None => error(
            StatusCode::NOT_FOUND,
            json!(format!("Agent {id} not found")),
        ),
    }
}

/// `GET /api/Client/{id}` → the client with its `name`, or Halo's bare-string 404. Routing is
/// case-sensitive here although Halo's is not: jitgate calls the path as Halo's module does.
async fn get_client(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(response) = authorize(&state, &headers, &format!("GET /api/Client/{id}")) {
        return response;
    }
    let inner = lock(&state);
    match id
        .parse::<u64>()
        .ok()
        .and_then(|id| Some((id, inner.clients.get(&id)?)))
    {
        Some((id, name)) => {
            Json(json!({"id": id, "name": name, "inactive": false})).into_response()
        }
        None => error(
            StatusCode::NOT_FOUND,
            json!(format!("Client {id} not found")),
        ),
    }
}

async fn update_tickets(State(state): State<Shared>, headers: HeaderMap, body: String) -> Response {
    if let Some(response) = authorize(&state, &headers, "POST /api/tickets") {
        return response;
    }
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            json!("The request body must be a JSON array of tickets"),
        );
    };
    let mut inner = lock(&state);
    let mut updated = Vec::new();
    for item in items {
        let Some(id) = id_of(&item, "id") else {
            return error(
                StatusCode::BAD_REQUEST,
                json!("Creating tickets is not supported by this simulator"),
            );
        };
        let Some(ticket) = inner.tickets.get_mut(&id) else {
            return error(
                StatusCode::NOT_FOUND,
                json!(format!("Ticket {id} not found")),
            );
        };
        let fields = item
            .get("customfields")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for field in fields {
            if let Err(message) = write_custom_field(ticket, &field) {
                return error(StatusCode::BAD_REQUEST, json!(message));
            }
        }
        updated.push(ticket_json(ticket, true));
    }
    (StatusCode::CREATED, Json(Value::Array(updated))).into_response()
}

/// Write one `customfields` entry, under the stricter reading of what Halo accepts (issue 15;
/// no Halo reference documents the write form, its API clients post a ticket back in the shape
/// it was read, https://github.com/homotechsual/HaloAPI/blob/main/Public/Set/Set-HaloTicket.ps1):
/// the field is addressed by its numeric `id` (a `name` alone is refused), and the value keeps
/// the JSON type the ticket shows for it (a field read as `"1"` takes `"0"`, not `false` or
/// `0`). A refusal is the message of Halo's bare-string 400.
fn write_custom_field(ticket: &mut SimTicket, field: &Value) -> Result<(), String> {
    let Some(field_id) = field.get("id").and_then(Value::as_u64).filter(|&n| n > 0) else {
        return Err(match field.get("name").and_then(Value::as_str) {
            Some(name) => format!("Custom field {name:?} must be identified by its id"),
            None => "A custom field id is required".into(),
        });
    };
    let Some(existing) = ticket.customfields.iter_mut().find(|f| f.id == field_id) else {
        return Err(format!("Custom field {field_id} does not exist"));
    };
    let value = field.get("value").cloned().unwrap_or(Value::Null);
    if !same_json_type(&existing.value, &value) {
        return Err(format!(
            "Invalid value {value} for custom field {}",
            existing.name
        ));
    }
    existing.value = value;
    Ok(())
}

fn same_json_type(a: &Value, b: &Value) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b) || a.is_null() || b.is_null()
}

fn ticket_json(ticket: &SimTicket, details: bool) -> Value {
    let mut body = json!({
        "id": ticket.id,
        "summary": ticket.summary,
        "client_id": ticket.client_id,
        "client_name": ticket.client_name,
        "site_id": 1,
        "agent_id": ticket.agent_id,
        "status_id": ticket.status_id,
        "hasbeenclosed": false,
    });
    if details {
        body["customfields"] = serde_json::to_value(&ticket.customfields).expect("serializable");
    }
    body
}

// ---------------------------------------------------------------------------------------------
// Small helpers

static COUNTER: AtomicU64 = AtomicU64::new(1);

fn next_number() -> u64 {
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// A GUID-shaped unique string (no `uuid` dependency needed for a fake).
pub fn guid() -> String {
    let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    let digest = Sha256::new()
        .chain_update(next_number().to_be_bytes())
        .chain_update(nanos.to_be_bytes())
        .finalize();
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Connector check: `GET /api/outcome` (as CIPP's Halo extension reads outcomes) and
// `GET /api/FieldInfo` (custom fields, as homotechsual/HaloAPI's `Get-HaloCustomField` reads
// them); both need a live bearer token. Webhooks have no modelled API: Halo documents them only
// in its UI (https://halopsa.com/guides/article/?kbid=838).
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct SetupState {
    /// Outcomes added by tests, on top of [`DEFAULT_OUTCOMES`].
    outcomes: Vec<(u64, String)>,
    /// Custom fields defined by tests, on top of those seeded tickets carry.
    fields: Vec<(u64, String)>,
}

/// Outcomes every simulated instance has: 7 is the internal note outcome CIPP falls back to.
pub const DEFAULT_OUTCOMES: [(u64, &str); 3] =
    [(1, "Phone Call"), (7, "Private Note"), (50, "Request JIT")];

impl HaloSim {
    pub fn add_outcome(&self, id: u64, name: &str) {
        lock(&self.state).setup.outcomes.push((id, name.into()));
    }

    /// Define a ticket custom field without seeding a ticket that has it.
    pub fn define_custom_field(&self, id: u64, name: &str) {
        lock(&self.state).setup.fields.push((id, name.into()));
    }
}

fn setup_routes() -> Router<Shared> {
    Router::new()
        .route("/api/outcome", get(list_outcomes))
        .route("/api/FieldInfo", get(list_field_info))
}

async fn list_outcomes(State(state): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(response) = authorize(&state, &headers, "GET /api/outcome") {
        return response;
    }
    let inner = lock(&state);
    let outcomes: Vec<Value> = DEFAULT_OUTCOMES
        .iter()
        .map(|(id, name)| (*id, name.to_string()))
        .chain(inner.setup.outcomes.iter().cloned())
        .map(|(id, name)| json!({"id": id, "outcome": name, "buttonname": name, "hidefrominternal": false}))
        .collect();
    Json(Value::Array(outcomes)).into_response()
}

async fn list_field_info(State(state): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(response) = authorize(&state, &headers, "GET /api/FieldInfo") {
        return response;
    }
    let inner = lock(&state);
    let mut fields: BTreeMap<u64, String> = inner.setup.fields.iter().cloned().collect();
    for field in inner.tickets.values().flat_map(|t| &t.customfields) {
        fields.entry(field.id).or_insert_with(|| field.name.clone());
    }
    let list: Vec<Value> = fields
        .iter()
        .map(|(id, name)| json!({"id": id, "name": name, "label": name, "type": 0, "usage": 1}))
        .collect();
    Json(Value::Array(list)).into_response()
}
