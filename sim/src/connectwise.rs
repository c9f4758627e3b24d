//! A contract-faithful ConnectWise PSA (Manage) simulator, served over **HTTPS** (a callback's
//! `Metadata.key_url` must be https, and the site host in it must be the one jitgate trusts).
//!
//! What it checks and answers (ConnectWise Developer Guide,
//! https://developer.connectwise.com/Products/Manage/Developer_Guide):
//! - `GET /{codebase}//system/callbackkey/index.rails?companyName=…&id=…` → `{"signing_key"}`
//!   for key ids it issued in a delivery, 404 otherwise; every fetch is counted.
//! - API under `/{codebase}/apis/3.0`, each call demanding Basic `company+public:private` and
//!   a `clientId` header:
//!   - `POST /service/tickets/{id}/notes`: `text` required and at least one display flag, else
//!     the "…Please choose where to display the notes…" error;
//!   - `GET|PATCH /service/tickets/{id}`: PATCH takes a JSON Patch array; `customFields` is
//!     replaced **as a whole** (fields missing from the array lose their value);
//!   - `GET /system/members?conditions=identifier="X"`;
//!   - `GET /company/companies/{id}` → `{"id","identifier","name",…}`, 404 if unknown.
//! - Errors in ConnectWise's shape `{"code","message","errors"}`; injected throttling answers
//!   429 with `Retry-After` and `{"error":"ConnectWiseAPI","message"}`.
//!
//! ```no_run
//! # async fn demo() {
//! use jitgate_sim::connectwise::{ConnectWiseSim, SeedTicket};
//! let ca = jitgate_sim::tls::TestCa::generate();
//! let cw = ConnectWiseSim::start(&ca).await;
//! cw.add_ticket(SeedTicket::new(123456, 250).with_custom_field(12, "Request JIT", true.into()));
//! cw.add_member("jsmith", "jsmith@contoso.com");
//! let delivery = cw.ticket_delivery(123456, "jsmith", "updated");
//! // POST delivery.body with delivery.headers to jitgate; then read cw.notes(123456).
//! # }
//! ```

// Helpers return a finished error `Response` for the handler to hand back; boxing it would
// only add noise to a test fake.
#![allow(clippy::result_large_err)]

use crate::tls::{SimServer, TestCa, spawn};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

/// Credentials and identity of the simulated ConnectWise site.
#[derive(Debug, Clone)]
pub struct ConnectWiseSimConfig {
    pub codebase: String,
    /// The MSP's login company (`companyName` in key URLs, first part of the API user name).
    pub company_id: String,
    pub public_key: String,
    pub private_key: String,
    pub client_id: String,
    pub signing_key: String,
}

impl Default for ConnectWiseSimConfig {
    fn default() -> Self {
        ConnectWiseSimConfig {
            codebase: "v4_6_release".into(),
            company_id: "contosomsp".into(),
            public_key: "sim-public-key".into(),
            private_key: "sim-private-key".into(),
            client_id: "3f0b9a6e-1c2d-4e5f-8a9b-0c1d2e3f4a5b".into(),
            signing_key: "sim-signing-key".into(),
        }
    }
}

/// A ticket to seed: its company and custom fields are what callbacks and GETs carry.
#[derive(Debug, Clone)]
pub struct SeedTicket {
    pub id: u64,
    pub summary: String,
    pub company_id: u64,
    pub company_identifier: String,
    pub status: String,
    pub custom_fields: Vec<CustomField>,
    pub updated_by: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CustomField {
    pub id: u64,
    pub caption: String,
    /// `Checkbox`, `Text`, …
    pub field_type: String,
    pub value: Value,
}

impl SeedTicket {
    pub fn new(id: u64, company_id: u64) -> SeedTicket {
        SeedTicket {
            id,
            summary: format!("Ticket {id}"),
            company_id,
            company_identifier: format!("Company{company_id}"),
            status: "New".into(),
            custom_fields: Vec::new(),
            updated_by: "admin1".into(),
        }
    }

    /// A checkbox custom field (`value` true/false/null).
    pub fn with_custom_field(mut self, id: u64, caption: &str, value: Value) -> SeedTicket {
        self.custom_fields.push(CustomField {
            id,
            caption: caption.into(),
            field_type: "Checkbox".into(),
            value,
        });
        self
    }

    pub fn with_text_field(mut self, id: u64, caption: &str, value: &str) -> SeedTicket {
        self.custom_fields.push(CustomField {
            id,
            caption: caption.into(),
            field_type: "Text".into(),
            value: value.into(),
        });
        self
    }

    pub fn with_status(mut self, status: &str) -> SeedTicket {
        self.status = status.into();
        self
    }
}

/// A note as the simulated ConnectWise stored it.
#[derive(Debug, Clone, PartialEq)]
pub struct CwNote {
    pub id: u64,
    pub ticket_id: u64,
    pub text: String,
    pub detail_description_flag: bool,
    pub internal_analysis_flag: bool,
    pub resolution_flag: bool,
    pub internal_flag: bool,
    pub external_flag: bool,
    pub customer_updated_flag: bool,
    pub process_notifications: bool,
}

/// A request as the simulator saw it (method, path and the versioned Accept header).
#[derive(Debug, Clone, PartialEq)]
pub struct SeenRequest {
    pub method: String,
    pub path: String,
    pub accept: Option<String>,
}

/// What to POST to jitgate's webhook URL: headers (`x-content-signature`, content type) and the
/// exact body bytes that were signed.
#[derive(Debug, Clone)]
pub struct SignedDelivery {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl SignedDelivery {
    pub fn header_map(&self) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in &self.headers {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).expect("valid header name"),
                HeaderValue::from_str(value).expect("valid header value"),
            );
        }
        map
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug)]
struct Member {
    id: u64,
    identifier: String,
    email: String,
}

#[derive(Debug, Default)]
struct CwState {
    base_url: Option<url::Url>,
    signing_key: String,
    issued_key_ids: HashSet<String>,
    key_fetches: usize,
    tickets: BTreeMap<u64, SeedTicket>,
    /// Companies by id: (identifier, name). Seeded tickets add theirs unless it was added first.
    companies: BTreeMap<u64, (String, String)>,
    notes: BTreeMap<u64, Vec<CwNote>>,
    members: Vec<Member>,
    throttle: Option<(usize, u64)>,
    /// The next this-many callback-key fetches answer 503 (the site having a bad moment).
    failing_key_fetches: usize,
    seen: Vec<SeenRequest>,
    next_id: u64,
    guid_counter: u64,
    /// Callbacks, custom-field definitions and boards (connector check and register).
    setup: SetupState,
}

#[derive(Clone)]
struct Shared {
    config: Arc<ConnectWiseSimConfig>,
    state: Arc<Mutex<CwState>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, CwState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running ConnectWise simulator.
pub struct ConnectWiseSim {
    server: SimServer,
    shared: Shared,
}

impl ConnectWiseSim {
    /// Start with [`ConnectWiseSimConfig::default`] over HTTPS with `ca`'s certificate.
    pub async fn start(ca: &TestCa) -> ConnectWiseSim {
        Self::start_with(ca, ConnectWiseSimConfig::default()).await
    }

    pub async fn start_with(ca: &TestCa, config: ConnectWiseSimConfig) -> ConnectWiseSim {
        let shared = Shared {
            state: Arc::new(Mutex::new(CwState {
                signing_key: config.signing_key.clone(),
                next_id: 1000,
                ..CwState::default()
            })),
            config: Arc::new(config),
        };
        let api = Router::new()
            .route("/service/tickets/{id}/notes", post(post_note))
            .route("/service/tickets/{id}", get(get_ticket).patch(patch_ticket))
            .route("/system/members", get(list_members))
            .route("/company/companies/{id}", get(get_company))
            .merge(setup_routes());
        let router = Router::new()
            .nest(&format!("/{}/apis/3.0", shared.config.codebase), api)
            .fallback(callback_key)
            .with_state(shared.clone());
        let server = spawn(router, Some(ca)).await;
        shared.lock().base_url = Some(server.url.clone());
        ConnectWiseSim { server, shared }
    }

    pub fn config(&self) -> &ConnectWiseSimConfig {
        &self.shared.config
    }

    /// `https://localhost:PORT/`.
    pub fn url(&self) -> &url::Url {
        &self.server.url
    }

    /// The site host jitgate must be configured with: `localhost:PORT`.
    pub fn site(&self) -> String {
        format!("localhost:{}", self.server.addr.port())
    }

    /// `https://localhost:PORT/{codebase}/apis/3.0`.
    pub fn api_url(&self) -> String {
        format!("{}{}/apis/3.0", self.server.url, self.config().codebase)
    }

    /// Settings for a jitgate `connectwise` connector pointed at this simulator, with the given
    /// trigger rule (e.g. `json!({"custom_field": "Request JIT"})`).
    pub fn connector_settings(&self, trigger: Value) -> Value {
        let c = self.config();
        json!({
            "site": self.site(),
            "api_url": self.api_url(),
            "codebase": c.codebase,
            "company_id": c.company_id,
            "public_key": c.public_key,
            "client_id": c.client_id,
            "trigger": trigger,
        })
    }

    /// Secrets for that connector, as the admin API takes them.
    pub fn connector_secrets(&self) -> Value {
        json!({ "private_key": self.config().private_key })
    }

    /// Seed a ticket; its company gets the name "{identifier} Inc" unless it was added first.
    pub fn add_ticket(&self, ticket: SeedTicket) {
        let mut state = self.shared.lock();
        state.companies.entry(ticket.company_id).or_insert_with(|| {
            (
                ticket.company_identifier.clone(),
                format!("{} Inc", ticket.company_identifier),
            )
        });
        state.tickets.insert(ticket.id, ticket);
    }

    /// Add (or rename) a company, served by `GET /company/companies/{id}`.
    pub fn add_company(&self, id: u64, name: &str) {
        self.shared
            .lock()
            .companies
            .insert(id, (format!("Company{id}"), name.into()));
    }

    pub fn add_member(&self, identifier: &str, email: &str) {
        let mut state = self.shared.lock();
        let id = next_id(&mut state);
        state.members.push(Member {
            id,
            identifier: identifier.into(),
            email: email.into(),
        });
    }

    /// What a technician does in the PSA: set a custom field (by caption) and save the ticket.
    pub fn set_custom_field(&self, ticket_id: u64, caption: &str, value: Value, by_member: &str) {
        let mut state = self.shared.lock();
        let ticket = state
            .tickets
            .get_mut(&ticket_id)
            .expect("ticket was seeded");
        let field = ticket
            .custom_fields
            .iter_mut()
            .find(|f| f.caption.eq_ignore_ascii_case(caption))
            .expect("custom field was seeded");
        field.value = value;
        ticket.updated_by = by_member.into();
    }

    pub fn set_status(&self, ticket_id: u64, status: &str, by_member: &str) {
        let mut state = self.shared.lock();
        let ticket = state
            .tickets
            .get_mut(&ticket_id)
            .expect("ticket was seeded");
        ticket.status = status.into();
        ticket.updated_by = by_member.into();
    }

    /// The ticket as `GET /service/tickets/{id}` returns it.
    pub fn ticket(&self, ticket_id: u64) -> Option<Value> {
        self.shared.lock().tickets.get(&ticket_id).map(ticket_json)
    }

    /// The value of a ticket's custom field (by caption).
    pub fn custom_field(&self, ticket_id: u64, caption: &str) -> Option<Value> {
        let state = self.shared.lock();
        let ticket = state.tickets.get(&ticket_id)?;
        ticket
            .custom_fields
            .iter()
            .find(|f| f.caption.eq_ignore_ascii_case(caption))
            .map(|f| f.value.clone())
    }

    pub fn notes(&self, ticket_id: u64) -> Vec<CwNote> {
        self.shared
            .lock()
            .notes
            .get(&ticket_id)
            .cloned()
            .unwrap_or_default()
    }

    /// Every note on every ticket.
    pub fn all_notes(&self) -> Vec<CwNote> {
        self.shared
            .lock()
            .notes
            .values()
            .flatten()
            .cloned()
            .collect()
    }

    /// How many times the callback-key endpoint was called (allowed or not).
    pub fn key_fetches(&self) -> usize {
        self.shared.lock().key_fetches
    }

    /// API requests seen so far (not key fetches).
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.shared.lock().seen.clone()
    }

    /// The next `count` API calls answer 429 with `Retry-After: retry_after_secs`.
    /// The next `count` callback-key fetches answer 503 Service Unavailable.
    pub fn fail_key_fetches(&self, count: usize) {
        self.shared.lock().failing_key_fetches = count;
    }

    pub fn throttle_next(&self, count: usize, retry_after_secs: u64) {
        self.shared.lock().throttle = Some((count, retry_after_secs));
    }

    /// Change the signing key (deliveries built afterwards are signed with the new one).
    pub fn rotate_signing_key(&self, new_key: &str) {
        self.shared.lock().signing_key = new_key.into();
    }

    /// A fresh `key_url` on this site, as ConnectWise puts in each callback (observed form,
    /// double slash included).
    pub fn key_url(&self) -> String {
        let mut state = self.shared.lock();
        let id = guid(&mut state);
        state.issued_key_ids.insert(id.clone());
        format!(
            "{}{}//system/callbackkey/index.rails?companyName={}&id={id}",
            self.server.url,
            self.config().codebase,
            self.config().company_id
        )
    }

    /// The unsigned body of a ticket callback, as ConnectWise builds it: top-level metadata,
    /// `Entity` the ticket **as a JSON string** (null when `action` is `deleted`), and a fresh
    /// `Metadata.key_url` on this site. Records `member_id` as the ticket's last editor, as the
    /// save that fires a callback would. Tests may edit the value before [`Self::sign`].
    pub fn ticket_callback_body(&self, ticket_id: u64, member_id: &str, action: &str) -> Value {
        let key_url = self.key_url();
        let mut state = self.shared.lock();
        let entity = match state.tickets.get_mut(&ticket_id) {
            Some(ticket) if action != "deleted" => {
                ticket.updated_by = member_id.into();
                Value::String(ticket_json(ticket).to_string())
            }
            _ => Value::Null,
        };
        let message_id = guid(&mut state);
        json!({
            "MessageId": message_id,
            "FromUrl": format!("localhost:{}", self.server.addr.port()),
            "CompanyId": self.config().company_id,
            "MemberId": member_id,
            "Action": action,
            "Type": "ticket",
            "ID": ticket_id,
            "ProductInstanceId": "639c96cab2eb560001dd1324",
            "PartnerId": "61ddc2817bcddc0001c74208",
            "Entity": entity,
            "Metadata": { "key_url": key_url },
            "CallbackObjectRecId": 26552,
        })
    }

    /// Sign `body` as ConnectWise does with the current signing key.
    pub fn sign(&self, body: &Value) -> SignedDelivery {
        let bytes = serde_json::to_vec(body).expect("serializable");
        self.sign_bytes(bytes)
    }

    pub fn sign_bytes(&self, body: Vec<u8>) -> SignedDelivery {
        let key = self.shared.lock().signing_key.clone();
        SignedDelivery {
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("x-content-signature".into(), signature(&key, &body)),
            ],
            body,
        }
    }

    /// A ticket callback with a *summarized* payload: `Entity` keeps the record's summary
    /// fields and drops `customFields`, as ConnectWise does for summary callbacks
    /// (https://developer.connectwise.com/Products/ConnectWise_PSA/Integrating_with_PSA/Callbacks).
    /// The receiver must read the ticket to decide.
    pub fn summarized_ticket_delivery(
        &self,
        ticket_id: u64,
        member_id: &str,
        action: &str,
    ) -> SignedDelivery {
        let mut body = self.ticket_callback_body(ticket_id, member_id, action);
        if let Some(text) = body["Entity"].as_str() {
            let mut entity: Value = serde_json::from_str(text).expect("entity is JSON");
            if let Some(record) = entity.as_object_mut() {
                record.remove("customFields");
            }
            body["Entity"] = Value::String(entity.to_string());
        }
        self.sign(&body)
    }

    /// A signed ticket callback: [`Self::ticket_callback_body`] then [`Self::sign`].
    pub fn ticket_delivery(&self, ticket_id: u64, member_id: &str, action: &str) -> SignedDelivery {
        let body = self.ticket_callback_body(ticket_id, member_id, action);
        self.sign(&body)
    }
}

/// `base64(HMAC-SHA256(key = SHA-256(signing_key), body))`.
pub fn signature(signing_key: &str, body: &[u8]) -> String {
    let key = Sha256::digest(signing_key.as_bytes());
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("any key length");
    mac.update(body);
    STANDARD.encode(mac.finalize().into_bytes())
}

fn next_id(state: &mut CwState) -> u64 {
    state.next_id += 1;
    state.next_id
}

fn guid(state: &mut CwState) -> String {
    state.guid_counter += 1;
    let seed = format!(
        "{}:{:?}:{:p}",
        state.guid_counter,
        std::time::SystemTime::now(),
        state
    );
    let h = Sha256::digest(seed.as_bytes());
    let hex: String = h.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-4{}-8{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

fn ticket_json(t: &SeedTicket) -> Value {
    json!({
        "id": t.id,
        "summary": t.summary,
        "board": {"id": 1, "name": "Service"},
        "status": {"id": status_id(&t.status), "name": t.status},
        "company": {"id": t.company_id, "identifier": t.company_identifier, "name": format!("{} Inc", t.company_identifier)},
        "customFields": t.custom_fields.iter().map(|f| json!({
            "id": f.id,
            "caption": f.caption,
            "type": f.field_type,
            "entryMethod": "EntryField",
            "numberOfDecimals": 0,
            "value": f.value,
        })).collect::<Vec<_>>(),
        "_info": {"lastUpdated": "2026-06-04T17:54:53Z", "updatedBy": t.updated_by},
    })
}

fn status_id(name: &str) -> u64 {
    name.bytes()
        .fold(7u64, |acc, b| (acc * 31 + u64::from(b)) % 997)
}

fn cw_error(status: StatusCode, code: &str, message: &str, errors: Value) -> Response {
    (
        status,
        axum::Json(json!({ "code": code, "message": message, "errors": errors })),
    )
        .into_response()
}

/// Auth, clientId and injected throttling, shared by every API route.
fn admit(shared: &Shared, method: &Method, uri: &Uri, headers: &HeaderMap) -> Result<(), Response> {
    let mut state = shared.lock();
    state.seen.push(SeenRequest {
        method: method.to_string(),
        path: uri.path().to_string(),
        accept: headers
            .get("accept")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    });
    if let Some((left, secs)) = state.throttle
        && left > 0
    {
        state.throttle = if left > 1 {
            Some((left - 1, secs))
        } else {
            None
        };
        let body = json!({
            "error": "ConnectWiseAPI",
            "message": format!("Too many requests. Please try again in {secs} seconds."),
        });
        return Err((
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", secs.to_string())],
            axum::Json(body),
        )
            .into_response());
    }
    drop(state);
    let c = &shared.config;
    let expected = format!(
        "Basic {}",
        STANDARD.encode(format!(
            "{}+{}:{}",
            c.company_id, c.public_key, c.private_key
        ))
    );
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if given != expected {
        return Err(cw_error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Authentication failed.",
            Value::Null,
        ));
    }
    let client_id = headers
        .get("clientid")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if client_id.is_empty() {
        return Err(cw_error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "A clientId header is required. Register at developer.connectwise.com.",
            Value::Null,
        ));
    }
    if client_id != c.client_id {
        return Err(cw_error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Invalid clientId.",
            Value::Null,
        ));
    }
    Ok(())
}

fn parse_ticket_id(raw: &str) -> Result<u64, Response> {
    raw.parse::<u64>().map_err(|_| {
        cw_error(
            StatusCode::BAD_REQUEST,
            "InvalidObject",
            &format!("'{raw}' is not a valid ticket id."),
            Value::Null,
        )
    })
}

fn ticket_not_found(id: u64) -> Response {
    cw_error(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("Ticket with id {id} was not found."),
        Value::Null,
    )
}

fn json_body(body: &Bytes) -> Result<Value, Response> {
    serde_json::from_slice(body).map_err(|e| {
        cw_error(
            StatusCode::BAD_REQUEST,
            "InvalidObject",
            &format!("Request body is not valid JSON: {e}"),
            Value::Null,
        )
    })
}

async fn post_note(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = admit(&shared, &method, &uri, &headers) {
        return r;
    }
    let ticket_id = match parse_ticket_id(&id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let note = match json_body(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let flag = |name: &str| note.get(name).and_then(Value::as_bool).unwrap_or(false);
    let text = note.get("text").and_then(Value::as_str).unwrap_or_default();
    if text.trim().is_empty() {
        return cw_error(
            StatusCode::BAD_REQUEST,
            "InvalidObject",
            "serviceNote object is invalid",
            json!([{"code": "NullOrEmpty", "message": "text may not be empty.", "resource": "serviceNote", "field": "text"}]),
        );
    }
    if !(flag("detailDescriptionFlag") || flag("internalAnalysisFlag") || flag("resolutionFlag")) {
        return cw_error(
            StatusCode::BAD_REQUEST,
            "InvalidObject",
            "serviceNote object is invalid",
            json!([{
                "code": "InvalidField",
                "message": "Please choose where to display the notes: Discussion, Internal, or Resolution.",
                "resource": "serviceNote",
                "field": "detailDescriptionFlag",
            }]),
        );
    }
    let mut state = shared.lock();
    if !state.tickets.contains_key(&ticket_id) {
        return ticket_not_found(ticket_id);
    }
    let id = next_id(&mut state);
    let stored = CwNote {
        id,
        ticket_id,
        text: text.to_string(),
        detail_description_flag: flag("detailDescriptionFlag"),
        internal_analysis_flag: flag("internalAnalysisFlag"),
        resolution_flag: flag("resolutionFlag"),
        internal_flag: flag("internalFlag"),
        external_flag: flag("externalFlag"),
        customer_updated_flag: flag("customerUpdatedFlag"),
        process_notifications: note
            .get("processNotifications")
            .and_then(Value::as_bool)
            .unwrap_or(true),
    };
    state
        .notes
        .entry(ticket_id)
        .or_default()
        .push(stored.clone());
    let answer = json!({
        "id": stored.id,
        "ticketId": ticket_id,
        "text": stored.text,
        "detailDescriptionFlag": stored.detail_description_flag,
        "internalAnalysisFlag": stored.internal_analysis_flag,
        "resolutionFlag": stored.resolution_flag,
        "dateCreated": "2026-06-04T17:55:00Z",
        "createdBy": shared.config.public_key,
    });
    (StatusCode::CREATED, axum::Json(answer)).into_response()
}

async fn get_ticket(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = admit(&shared, &method, &uri, &headers) {
        return r;
    }
    let ticket_id = match parse_ticket_id(&id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    match shared.lock().tickets.get(&ticket_id) {
        Some(t) => axum::Json(ticket_json(t)).into_response(),
        None => ticket_not_found(ticket_id),
    }
}

/// `GET /company/companies/{id}`: the company record with its `name`, or ConnectWise's 404.
async fn get_company(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = admit(&shared, &method, &uri, &headers) {
        return r;
    }
    let Ok(company_id) = id.parse::<u64>() else {
        return cw_error(
            StatusCode::BAD_REQUEST,
            "InvalidObject",
            &format!("'{id}' is not a valid company id."),
            Value::Null,
        );
    };
    match shared.lock().companies.get(&company_id) {
        Some((identifier, name)) => axum::Json(json!({
            "id": company_id,
            "identifier": identifier,
            "name": name,
            "status": {"id": 1, "name": "Active"},
        }))
        .into_response(),
        None => cw_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("Company with id {company_id} was not found."),
            Value::Null,
        ),
    }
}

async fn patch_ticket(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = admit(&shared, &method, &uri, &headers) {
        return r;
    }
    let ticket_id = match parse_ticket_id(&id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let ops = match json_body(&body) {
        Ok(Value::Array(ops)) => ops,
        Ok(_) => {
            return cw_error(
                StatusCode::BAD_REQUEST,
                "InvalidObject",
                "PATCH expects a JSON Patch array of operations.",
                Value::Null,
            );
        }
        Err(r) => return r,
    };
    let mut state = shared.lock();
    let Some(ticket) = state.tickets.get_mut(&ticket_id) else {
        return ticket_not_found(ticket_id);
    };
    let mut updated = ticket.clone();
    for op in &ops {
        let verb = op.get("op").and_then(Value::as_str).unwrap_or_default();
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim_start_matches('/');
        let value = op.get("value").cloned().unwrap_or(Value::Null);
        if !matches!(verb.to_ascii_lowercase().as_str(), "replace" | "add") {
            return cw_error(
                StatusCode::BAD_REQUEST,
                "InvalidObject",
                &format!("Unsupported operation '{verb}'."),
                Value::Null,
            );
        }
        match path.to_ascii_lowercase().as_str() {
            "customfields" => {
                let Some(entries) = value.as_array() else {
                    return cw_error(
                        StatusCode::BAD_REQUEST,
                        "InvalidObject",
                        "customFields must be an array.",
                        Value::Null,
                    );
                };
                // The array replaces the ticket's custom fields as a whole: a field left out
                // loses its value (why clients must send back the full array).
                let mut given: HashMap<u64, Value> = HashMap::new();
                for entry in entries {
                    let Some(id) = entry.get("id").and_then(Value::as_u64) else {
                        return cw_error(
                            StatusCode::BAD_REQUEST,
                            "InvalidObject",
                            "customFields entries need an id.",
                            json!([{"code": "NullOrEmpty", "message": "id is required", "resource": "customFieldValue", "field": "id"}]),
                        );
                    };
                    if !updated.custom_fields.iter().any(|f| f.id == id) {
                        return cw_error(
                            StatusCode::BAD_REQUEST,
                            "InvalidObject",
                            &format!("Custom field {id} does not exist."),
                            Value::Null,
                        );
                    }
                    given.insert(id, entry.get("value").cloned().unwrap_or(Value::Null));
                }
                for field in &mut updated.custom_fields {
                    field.value = given.remove(&field.id).unwrap_or(Value::Null);
                }
            }
            "summary" => match value.as_str() {
                Some(s) => updated.summary = s.to_string(),
                None => {
                    return cw_error(
                        StatusCode::BAD_REQUEST,
                        "InvalidObject",
                        "summary must be a string.",
                        Value::Null,
                    );
                }
            },
            "status" => match value.get("name").and_then(Value::as_str) {
                Some(s) => updated.status = s.to_string(),
                None => {
                    return cw_error(
                        StatusCode::BAD_REQUEST,
                        "InvalidObject",
                        "status needs a name.",
                        Value::Null,
                    );
                }
            },
            other => {
                return cw_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidObject",
                    &format!("Cannot patch '{other}' in this simulator."),
                    Value::Null,
                );
            }
        }
    }
    updated.updated_by = shared.config.public_key.clone();
    *ticket = updated;
    axum::Json(ticket_json(ticket)).into_response()
}

async fn list_members(
    State(shared): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = admit(&shared, &method, &uri, &headers) {
        return r;
    }
    let wanted = match query.get("conditions") {
        None => None,
        Some(c) => match parse_identifier_condition(c) {
            Some(identifier) => Some(identifier),
            None => {
                return cw_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidObject",
                    &format!("Invalid conditions: {c}"),
                    Value::Null,
                );
            }
        },
    };
    let state = shared.lock();
    let members: Vec<Value> = state
        .members
        .iter()
        .filter(|m| {
            wanted
                .as_deref()
                .is_none_or(|w| m.identifier.eq_ignore_ascii_case(w))
        })
        .map(|m| json!({"id": m.id, "identifier": m.identifier, "primaryEmail": m.email}))
        .collect();
    axum::Json(Value::Array(members)).into_response()
}

/// `identifier="jsmith"` (spaces around `=` allowed), the one condition jitgate sends.
fn parse_identifier_condition(conditions: &str) -> Option<String> {
    let (field, value) = conditions.split_once('=')?;
    if !field.trim().eq_ignore_ascii_case("identifier") {
        return None;
    }
    let value = value.trim().strip_prefix('"')?.strip_suffix('"')?;
    (!value.contains('"')).then(|| value.to_string())
}

/// `GET /{codebase}//system/callbackkey/index.rails?companyName=…&id=…` (any codebase, single
/// or double slash), and ConnectWise-shaped 404s for everything else.
async fn callback_key(State(shared): State<Shared>, uri: Uri) -> Response {
    if !uri.path().ends_with("/system/callbackkey/index.rails") {
        return cw_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            "The requested resource was not found.",
            Value::Null,
        );
    }
    let mut state = shared.lock();
    state.key_fetches += 1;
    if state.failing_key_fetches > 0 {
        state.failing_key_fetches -= 1;
        return cw_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "The service is temporarily unavailable.",
            Value::Null,
        );
    }
    let query: HashMap<String, String> =
        url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let company_ok = query
        .get("companyName")
        .is_some_and(|c| c.eq_ignore_ascii_case(&shared.config.company_id));
    let id_ok = query
        .get("id")
        .is_some_and(|id| state.issued_key_ids.contains(id));
    if !company_ok || !id_ok {
        return cw_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            "Callback key not found.",
            Value::Null,
        );
    }
    axum::Json(json!({ "signing_key": state.signing_key })).into_response()
}

// ---------------------------------------------------------------------------------------------
// Connector check and register: `system/info`, `system/callbacks`, custom-field definitions of
// the Service Ticket screen (`system/userDefinedFields`, screenId `sr100`), boards and their
// statuses. Strict where the Developer Guide names a field required (callback `url`, `type`,
// `level`, `objectId`; description at most 100).
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default)]
struct SetupState {
    callbacks: Vec<Value>,
    /// Custom-field definitions added by tests on top of those seeded tickets carry.
    field_definitions: Vec<CustomField>,
    /// Board name → status names. Empty means one board "Service" with the default statuses.
    boards: Vec<(String, Vec<String>)>,
    callback_writes: usize,
}

const CALLBACK_TYPES: [&str; 6] = [
    "Ticket",
    "Company",
    "Contact",
    "Project",
    "Opportunity",
    "Activity",
];
const TICKET_LEVELS: [&str; 7] = [
    "Owner",
    "Board",
    "Project",
    "Phase",
    "Status",
    "Ticket",
    "IntegratorTag",
];

impl ConnectWiseSim {
    /// The callbacks registered at the site, as `GET /system/callbacks` lists them.
    pub fn callbacks(&self) -> Vec<Value> {
        self.shared.lock().setup.callbacks.clone()
    }

    /// How many callback creates and updates the site accepted.
    pub fn callback_writes(&self) -> usize {
        self.shared.lock().setup.callback_writes
    }

    /// Register a callback directly (as an admin clicking in ConnectWise would); returns its id.
    pub fn add_callback(&self, mut callback: Value) -> u64 {
        let mut state = self.shared.lock();
        let id = next_id(&mut state);
        callback["id"] = json!(id);
        state.setup.callbacks.push(callback);
        id
    }

    /// Change a callback as an admin editing it in ConnectWise would.
    pub fn replace_callback(&self, id: u64, mut callback: Value) {
        callback["id"] = json!(id);
        let mut state = self.shared.lock();
        if let Some(slot) = state
            .setup
            .callbacks
            .iter_mut()
            .find(|c| c.get("id").and_then(Value::as_u64) == Some(id))
        {
            *slot = callback;
        }
    }

    /// Define a custom field on the Service Ticket screen without seeding a ticket that has it.
    pub fn define_custom_field(&self, id: u64, caption: &str, field_type: &str) {
        self.shared
            .lock()
            .setup
            .field_definitions
            .push(CustomField {
                id,
                caption: caption.into(),
                field_type: field_type.into(),
                value: Value::Null,
            });
    }

    /// Replace the service boards and their statuses.
    pub fn set_boards(&self, boards: &[(&str, &[&str])]) {
        self.shared.lock().setup.boards = boards
            .iter()
            .map(|(b, s)| (b.to_string(), s.iter().map(|s| s.to_string()).collect()))
            .collect();
    }
}

fn setup_routes() -> Router<Shared> {
    Router::new()
        .route("/system/info", get(system_info))
        .route(
            "/system/callbacks",
            get(list_callbacks).post(create_callback),
        )
        .route(
            "/system/callbacks/{id}",
            axum::routing::put(update_callback),
        )
        .route("/system/userDefinedFields", get(list_field_definitions))
        .route("/service/boards", get(list_boards))
        .route("/service/boards/{id}/statuses", get(list_board_statuses))
}

async fn system_info(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = admit(&shared, &method, &uri, &headers) {
        return r;
    }
    axum::Json(json!({"version": "v2025.1.12345", "isCloud": true, "serverTimeZone": "Eastern Standard Time"}))
        .into_response()
}

async fn list_callbacks(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = admit(&shared, &method, &uri, &headers) {
        return r;
    }
    axum::Json(Value::Array(shared.lock().setup.callbacks.clone())).into_response()
}

/// The Developer Guide's required fields and limits, with ConnectWise's error shape.
fn validate_callback(body: &Value) -> Result<(), Response> {
    let mut errors = Vec::new();
    let text = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .map(str::trim)
            .unwrap_or_default()
    };
    let mut missing = |field: &str| {
        errors.push(json!({"code": "NullValue", "message": format!("{field} may not be null."), "resource": "callbackEntry", "field": field}));
    };
    if text("url").is_empty() {
        missing("url");
    }
    if text("type").is_empty() {
        missing("type");
    }
    if text("level").is_empty() {
        missing("level");
    }
    if body.get("objectId").and_then(Value::as_u64).is_none() {
        missing("objectId");
    }
    if text("description").chars().count() > 100 {
        errors.push(json!({"code": "InvalidField", "message": "description must be at most 100 characters.", "resource": "callbackEntry", "field": "description"}));
    }
    if !text("type").is_empty()
        && !CALLBACK_TYPES
            .iter()
            .any(|t| t.eq_ignore_ascii_case(text("type")))
    {
        errors.push(json!({"code": "InvalidField", "message": "type is not a valid callback type.", "resource": "callbackEntry", "field": "type"}));
    }
    if text("type").eq_ignore_ascii_case("ticket")
        && !TICKET_LEVELS
            .iter()
            .any(|l| l.eq_ignore_ascii_case(text("level")))
    {
        errors.push(json!({"code": "InvalidField", "message": "level is not valid for a ticket callback.", "resource": "callbackEntry", "field": "level"}));
    }
    if !text("url").is_empty() && url::Url::parse(text("url")).is_err() {
        errors.push(json!({"code": "InvalidField", "message": "url must be an absolute URL.", "resource": "callbackEntry", "field": "url"}));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(cw_error(
            StatusCode::BAD_REQUEST,
            "InvalidObject",
            "callbackEntry object is invalid",
            Value::Array(errors),
        ))
    }
}

/// What ConnectWise stores: the given fields plus its defaults and read-only ones.
fn stored_callback(id: u64, body: &Value) -> Value {
    let mut stored = json!({
        "id": id,
        "description": "",
        "inactiveFlag": false,
        "isSoapCallbackFlag": false,
        "isSelfSuppressedFlag": false,
        "payloadVersion": "2.0.0",
        "memberId": 155,
        "connectWiseID": format!("00000000-0000-4000-8000-{id:012}"),
    });
    if let (Some(out), Some(given)) = (stored.as_object_mut(), body.as_object()) {
        for (k, v) in given {
            if !matches!(k.as_str(), "id" | "memberId" | "connectWiseID" | "_info") {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    stored
}

async fn create_callback(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = admit(&shared, &method, &uri, &headers) {
        return r;
    }
    let body = match json_body(&body).and_then(|b| validate_callback(&b).map(|()| b)) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut state = shared.lock();
    let id = next_id(&mut state);
    let stored = stored_callback(id, &body);
    state.setup.callbacks.push(stored.clone());
    state.setup.callback_writes += 1;
    (StatusCode::CREATED, axum::Json(stored)).into_response()
}

async fn update_callback(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = admit(&shared, &method, &uri, &headers) {
        return r;
    }
    let body = match json_body(&body).and_then(|b| validate_callback(&b).map(|()| b)) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Ok(id) = id.parse::<u64>() else {
        return cw_error(
            StatusCode::BAD_REQUEST,
            "InvalidObject",
            "id is not valid.",
            Value::Null,
        );
    };
    let mut state = shared.lock();
    let Some(slot) = state
        .setup
        .callbacks
        .iter_mut()
        .find(|c| c.get("id").and_then(Value::as_u64) == Some(id))
    else {
        return cw_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("Callback with id {id} was not found."),
            Value::Null,
        );
    };
    *slot = stored_callback(id, &body);
    let stored = slot.clone();
    state.setup.callback_writes += 1;
    axum::Json(stored).into_response()
}

/// Custom fields of the Service Ticket screen only; any other screen has none here.
async fn list_field_definitions(
    State(shared): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = admit(&shared, &method, &uri, &headers) {
        return r;
    }
    let screen = query
        .get("conditions")
        .and_then(|c| c.split_once('='))
        .filter(|(f, _)| f.trim().eq_ignore_ascii_case("screenId"))
        .map(|(_, v)| v.trim().trim_matches(|c| c == '"' || c == '\'').to_string());
    let state = shared.lock();
    let mut definitions: BTreeMap<u64, &CustomField> = BTreeMap::new();
    for field in state
        .tickets
        .values()
        .flat_map(|t| &t.custom_fields)
        .chain(&state.setup.field_definitions)
    {
        definitions.entry(field.id).or_insert(field);
    }
    let service_ticket = screen.as_deref().is_none_or(|s| s == "sr100");
    let list: Vec<Value> = definitions
        .values()
        .filter(|_| service_ticket)
        .map(|f| {
            json!({
                "id": f.id,
                "podId": 11,
                "screenId": "sr100",
                "caption": f.caption,
                "fieldTypeIdentifier": f.field_type,
                "entryTypeIdentifier": "EntryField",
                "requiredFlag": false,
                "displayOnScreenFlag": true,
                "readOnlyFlag": false,
            })
        })
        .collect();
    axum::Json(Value::Array(list)).into_response()
}

fn boards_of(state: &CwState) -> Vec<(String, Vec<String>)> {
    if state.setup.boards.is_empty() {
        let statuses = ["New", "In Progress", "Waiting on client", "Closed"];
        vec![(
            "Service".into(),
            statuses.iter().map(|s| s.to_string()).collect(),
        )]
    } else {
        state.setup.boards.clone()
    }
}

async fn list_boards(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = admit(&shared, &method, &uri, &headers) {
        return r;
    }
    let boards: Vec<Value> = boards_of(&shared.lock())
        .iter()
        .enumerate()
        .map(|(i, (name, _))| json!({"id": i + 1, "name": name}))
        .collect();
    axum::Json(Value::Array(boards)).into_response()
}

async fn list_board_statuses(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = admit(&shared, &method, &uri, &headers) {
        return r;
    }
    let boards = boards_of(&shared.lock());
    let Some((_, statuses)) = id
        .parse::<usize>()
        .ok()
        .and_then(|i| boards.get(i.wrapping_sub(1)))
    else {
        return cw_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("Board with id {id} was not found."),
            Value::Null,
        );
    };
    let list: Vec<Value> = statuses
        .iter()
        .map(|s| json!({"id": status_id(s), "name": s, "inactive": false}))
        .collect();
    axum::Json(Value::Array(list)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_signature_vector() {
        assert_eq!(
            signature(
                "test-signing-key",
                br#"{"Action":"updated","Type":"ticket","ID":123456}"#
            ),
            "5NoFQqjsXITDCRmqWeIbAagk8uzRHjwhbZONQPiOS94="
        );
    }

    #[test]
    fn identifier_conditions() {
        assert_eq!(
            parse_identifier_condition("identifier=\"jsmith\""),
            Some("jsmith".into())
        );
        assert_eq!(
            parse_identifier_condition("identifier = \"j.smith\""),
            Some("j.smith".into())
        );
        assert_eq!(parse_identifier_condition("identifier=jsmith"), None);
        assert_eq!(parse_identifier_condition("id=\"1\""), None);
    }
}
