//! A contract-faithful Autotask REST simulator, after Autotask's REST API documentation: ticket
//! notes (https://ww1.autotask.net/help/developerhelp/Content/APIs/REST/Entities/TicketNotesEntity.htm),
//! thread limits (https://ww1.autotask.net/help/DeveloperHelp/Content/APIs/General/ThreadLimiting.htm)
//! and webhooks (https://autotask.net/help/developerhelp/content/APIs/Webhooks/WEBHOOKS.htm).
//!
//! - `GET /atservicesrest/v1.0/zoneInformation?user=…` (no credentials, no thread limit) →
//!   `{"zoneName","url","webUrl","ci"}` whose `url` is this server's `ATServicesRest/`.
//! - API under `/ATServicesRest/V1.0`, every call demanding `ApiIntegrationCode`, `UserName` and
//!   `Secret`:
//!   - `GET TicketNotes/entityInformation/fields` (the `noteType`/`publish` picklists);
//!   - `POST Tickets/{id}/Notes`: `description` required, `noteType` and `publish` required and
//!     active picklist values, `title` required (the "Require titles on ticket notes" category
//!     setting, on by default), `ticketID` matching the path;
//!   - `GET Tickets/{id}`, `GET Resources/{id}`, `GET Companies/{id}` → `{"item": …}`
//!     (`{"item": null}` if unknown);
//!   - `PATCH Tickets` with the `id` in the body (UDFs by name in `userDefinedFields`).
//! - At most 3 concurrent calls per (integration code, endpoint); the 4th gets the
//!   `Itgenatr005` thread-threshold error with a **500** status (it is not reliably a 429).
//! - Errors as `{"errors": ["…"]}`; injected throttling answers 429 with `Retry-After`.
//! - Signed webhook deliveries, signed over the raw bytes or over the .NET-escaped form.

// Helpers return a finished error `Response` for the handler to hand back; boxing it would
// only add noise to a test fake.
#![allow(clippy::result_large_err)]

use crate::tls::{SimServer, TestCa, spawn};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value, json};
use sha1::Sha1;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub use crate::connectwise::SignedDelivery;

/// Concurrent calls Autotask allows per (integration code, endpoint).
pub const THREAD_LIMIT: usize = 3;

#[derive(Debug, Clone)]
pub struct AutotaskSimConfig {
    pub username: String,
    pub integration_code: String,
    pub secret: String,
    /// The webhook's SecretKey, used by the delivery builders.
    pub webhook_secret: String,
    /// The ticket category's "Require titles on ticket notes" setting.
    pub require_note_titles: bool,
}

impl Default for AutotaskSimConfig {
    fn default() -> Self {
        AutotaskSimConfig {
            username: "jitgate-api@contoso.com".into(),
            integration_code: "SIMTRACKINGID01".into(),
            secret: "sim-api-secret".into(),
            webhook_secret: "sim-webhook-secret-key".into(),
            require_note_titles: true,
        }
    }
}

/// A ticket to seed. UDFs are by name; values are strings as Autotask stores them.
#[derive(Debug, Clone)]
pub struct SeedTicket {
    pub id: u64,
    pub company_id: u64,
    pub title: String,
    pub status: u64,
    pub udfs: Vec<(String, Option<String>)>,
}

impl SeedTicket {
    pub fn new(id: u64, company_id: u64) -> SeedTicket {
        SeedTicket {
            id,
            company_id,
            title: format!("Ticket {id}"),
            status: 1,
            udfs: Vec::new(),
        }
    }
    pub fn with_udf(mut self, name: &str, value: Option<&str>) -> SeedTicket {
        self.udfs.push((name.into(), value.map(Into::into)));
        self
    }
    pub fn with_status(mut self, status: u64) -> SeedTicket {
        self.status = status;
        self
    }
}

/// A note as the simulated Autotask stored it.
#[derive(Debug, Clone, PartialEq)]
pub struct AtNote {
    pub id: u64,
    pub ticket_id: u64,
    pub title: Option<String>,
    pub description: String,
    pub note_type: i64,
    pub publish: i64,
    /// The label of `publish` (e.g. "Internal Only"), for assertions.
    pub publish_label: String,
}

/// Which bytes a simulated delivery's signature covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureForm {
    /// HMAC over the exact bytes sent (Nango's reading).
    RawBytes,
    /// Unescaped text on the wire, HMAC over its .NET-escaped form (n8n's reading).
    DotNetEscaped,
}

struct Picklist {
    value: i64,
    label: &'static str,
    is_default: bool,
    is_active: bool,
}

/// Plausible tenant picklists. `publish` 1 is customer-visible; the internal value is not 1,
/// so a client that hard-codes 1 posts a visible note and tests catch it.
const NOTE_TYPES: &[Picklist] = &[
    Picklist {
        value: 1,
        label: "Task Summary",
        is_default: false,
        is_active: true,
    },
    Picklist {
        value: 2,
        label: "Task Detail",
        is_default: false,
        is_active: true,
    },
    Picklist {
        value: 3,
        label: "Task Notes",
        is_default: true,
        is_active: true,
    },
    Picklist {
        value: 13,
        label: "Legacy Note",
        is_default: false,
        is_active: false,
    },
];
const PUBLISH: &[Picklist] = &[
    Picklist {
        value: 1,
        label: "All Autotask Users",
        is_default: true,
        is_active: true,
    },
    Picklist {
        value: 2,
        label: "Internal Only",
        is_default: false,
        is_active: true,
    },
    Picklist {
        value: 4,
        label: "Internal & Co-managed",
        is_default: false,
        is_active: true,
    },
];

#[derive(Debug, Default)]
struct AtState {
    base_url: Option<url::Url>,
    tickets: BTreeMap<u64, SeedTicket>,
    resources: BTreeMap<u64, String>,
    /// Company names by id (seeded tickets name their company unless it was added first).
    companies: BTreeMap<u64, String>,
    notes: BTreeMap<u64, Vec<AtNote>>,
    in_flight: HashMap<String, usize>,
    max_in_flight: HashMap<String, usize>,
    thread_limit_errors: usize,
    zone_lookups: usize,
    picklist_reads: usize,
    /// List UDFs by name: (id, label) items. Other UDFs are text.
    list_udfs: BTreeMap<String, Vec<(i64, String)>>,
    udf_definition_reads: usize,
    call_delay: Duration,
    throttle: Option<(usize, u64)>,
    next_id: u64,
    sequence: u64,
    /// Webhooks, UDF definitions and the API user's resource (connector check and register).
    setup: SetupState,
}

#[derive(Clone)]
struct Shared {
    config: Arc<AutotaskSimConfig>,
    state: Arc<Mutex<AtState>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, AtState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub struct AutotaskSim {
    server: SimServer,
    shared: Shared,
}

impl AutotaskSim {
    /// Start with [`AutotaskSimConfig::default`]; over HTTPS when `tls` is given.
    pub async fn start(tls: Option<&TestCa>) -> AutotaskSim {
        Self::start_with(tls, AutotaskSimConfig::default()).await
    }

    pub async fn start_with(tls: Option<&TestCa>, config: AutotaskSimConfig) -> AutotaskSim {
        let shared = Shared {
            state: Arc::new(Mutex::new(AtState {
                next_id: 5000,
                ..AtState::default()
            })),
            config: Arc::new(config),
        };
        let api = Router::new()
            .route("/TicketNotes/entityInformation/fields", get(note_fields))
            .route("/Tickets/{id}/Notes", post(post_note))
            .route("/Tickets/{id}", get(get_ticket))
            .route("/Tickets", patch(patch_ticket))
            .route("/Resources/{id}", get(get_resource))
            .route("/Companies/{id}", get(get_company))
            .merge(setup_routes());
        let router = Router::new()
            .route(
                "/atservicesrest/v1.0/zoneInformation",
                get(zone_information),
            )
            .nest("/ATServicesRest/V1.0", api)
            .fallback(|| async {
                at_error(
                    StatusCode::NOT_FOUND,
                    "The requested resource does not exist.",
                )
            })
            .with_state(shared.clone());
        let server = spawn(router, tls).await;
        shared.lock().base_url = Some(server.url.clone());
        AutotaskSim { server, shared }
    }

    pub fn config(&self) -> &AutotaskSimConfig {
        &self.shared.config
    }

    pub fn url(&self) -> &url::Url {
        &self.server.url
    }

    /// Where jitgate asks `zoneInformation` (its `zone_lookup_url` setting).
    pub fn zone_lookup_url(&self) -> String {
        format!("{}atservicesrest", self.server.url)
    }

    /// The zone's REST base (what `zoneInformation` answers; usable as `zone_url`).
    pub fn zone_url(&self) -> String {
        format!("{}ATServicesRest", self.server.url)
    }

    /// Settings for a jitgate `autotask` connector that discovers this simulator's zone.
    pub fn connector_settings(&self, trigger: Value) -> Value {
        json!({
            "username": self.config().username,
            "integration_code": self.config().integration_code,
            "zone_lookup_url": self.zone_lookup_url(),
            "trigger": trigger,
        })
    }

    pub fn connector_secrets(&self) -> Value {
        json!({ "api_secret": self.config().secret, "webhook_secret": [self.config().webhook_secret] })
    }

    /// Seed a ticket; its company gets the name "Company {id}" unless it was added first.
    pub fn add_ticket(&self, ticket: SeedTicket) {
        let mut state = self.shared.lock();
        state
            .companies
            .entry(ticket.company_id)
            .or_insert_with(|| format!("Company {}", ticket.company_id));
        state.tickets.insert(ticket.id, ticket);
    }

    /// Add (or rename) a company, served by `GET Companies/{id}` as `companyName`.
    pub fn add_company(&self, id: u64, name: &str) {
        self.shared.lock().companies.insert(id, name.into());
    }

    pub fn add_resource(&self, id: u64, email: &str) {
        self.shared.lock().resources.insert(id, email.into());
    }

    /// What a technician does: set a UDF in the UI.
    pub fn set_udf(&self, ticket_id: u64, name: &str, value: Option<&str>) {
        let mut state = self.shared.lock();
        let ticket = state
            .tickets
            .get_mut(&ticket_id)
            .expect("ticket was seeded");
        let udf = ticket
            .udfs
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .expect("UDF was seeded");
        udf.1 = value.map(Into::into);
    }

    pub fn set_status(&self, ticket_id: u64, status: u64) {
        self.shared
            .lock()
            .tickets
            .get_mut(&ticket_id)
            .expect("ticket was seeded")
            .status = status;
    }

    pub fn udf(&self, ticket_id: u64, name: &str) -> Option<Option<String>> {
        let state = self.shared.lock();
        let ticket = state.tickets.get(&ticket_id)?;
        ticket
            .udfs
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }

    /// The ticket as `GET Tickets/{id}` returns its `item`.
    pub fn ticket(&self, ticket_id: u64) -> Option<Value> {
        self.shared.lock().tickets.get(&ticket_id).map(ticket_json)
    }

    pub fn notes(&self, ticket_id: u64) -> Vec<AtNote> {
        self.shared
            .lock()
            .notes
            .get(&ticket_id)
            .cloned()
            .unwrap_or_default()
    }

    pub fn all_notes(&self) -> Vec<AtNote> {
        self.shared
            .lock()
            .notes
            .values()
            .flatten()
            .cloned()
            .collect()
    }

    pub fn zone_lookups(&self) -> usize {
        self.shared.lock().zone_lookups
    }

    /// Make UDF `name` a list UDF with these (id, label) items. Its stored value, what a
    /// webhook and the API carry, is then the item's id (set it with [`Self::set_udf`]).
    pub fn define_list_udf(&self, name: &str, items: &[(i64, &str)]) {
        self.shared.lock().list_udfs.insert(
            name.into(),
            items.iter().map(|(id, l)| (*id, l.to_string())).collect(),
        );
    }

    /// Reads of `Tickets/entityInformation/userDefinedFields`.
    pub fn udf_definition_reads(&self) -> usize {
        self.shared.lock().udf_definition_reads
    }

    pub fn picklist_reads(&self) -> usize {
        self.shared.lock().picklist_reads
    }

    /// The most calls ever in flight at once on `endpoint` (`Tickets`, `TicketNotes`, …).
    pub fn max_concurrency(&self, endpoint: &str) -> usize {
        self.shared
            .lock()
            .max_in_flight
            .get(&endpoint.to_ascii_lowercase())
            .copied()
            .unwrap_or(0)
    }

    /// How many calls were refused with `Itgenatr005`.
    pub fn thread_limit_errors(&self) -> usize {
        self.shared.lock().thread_limit_errors
    }

    /// Make every API call take `delay` (so concurrency is observable).
    pub fn set_call_delay(&self, delay: Duration) {
        self.shared.lock().call_delay = delay;
    }

    /// The next `count` API calls answer 429 with `Retry-After: retry_after_secs`.
    pub fn throttle_next(&self, count: usize, retry_after_secs: u64) {
        self.shared.lock().throttle = Some((count, retry_after_secs));
    }

    /// The unsigned body of a ticket webhook: `Fields` holds the display-always `CompanyID` and
    /// `TicketNumber`, the `Status` and every UDF by name (top level of `Fields`).
    pub fn ticket_event_body(&self, ticket_id: u64, person_id: u64, action: &str) -> Value {
        let mut state = self.shared.lock();
        state.sequence += 1;
        let sequence = state.sequence;
        let mut fields = Map::new();
        if let Some(t) = state.tickets.get(&ticket_id) {
            fields.insert("CompanyID".into(), json!(t.company_id));
            fields.insert(
                "TicketNumber".into(),
                json!(format!("T20260115.{:04}", t.id % 10_000)),
            );
            fields.insert("Status".into(), json!(t.status.to_string()));
            fields.insert("Title".into(), json!(t.title));
            for (name, value) in &t.udfs {
                fields.insert(
                    name.clone(),
                    value.clone().map(Value::String).unwrap_or(Value::Null),
                );
            }
        }
        json!({
            "Action": action,
            "Guid": "a1da62a4-2c49-40a8-8183-69994ce5b3eb",
            "EntityType": "Ticket",
            "Id": ticket_id,
            "Fields": fields,
            "EventTime": format!("2026-01-15T14:57:{:02}Z", sequence % 60),
            "SequenceNumber": sequence,
            "PersonID": person_id,
        })
    }

    /// Sign `body` with the configured webhook secret in `form`.
    pub fn sign(&self, body: &Value, form: SignatureForm) -> SignedDelivery {
        sign_with(
            &self.config().webhook_secret,
            serde_json::to_vec(body).expect("serializable"),
            form,
        )
    }

    /// A signed ticket webhook: [`Self::ticket_event_body`] then [`Self::sign`].
    pub fn ticket_delivery(
        &self,
        ticket_id: u64,
        person_id: u64,
        action: &str,
        form: SignatureForm,
    ) -> SignedDelivery {
        self.sign(&self.ticket_event_body(ticket_id, person_id, action), form)
    }
}

/// Sign `body` (sent as is) with `secret`: over the bytes, or over their .NET-escaped form.
pub fn sign_with(secret: &str, body: Vec<u8>, form: SignatureForm) -> SignedDelivery {
    let signed = match form {
        SignatureForm::RawBytes => body.clone(),
        SignatureForm::DotNetEscaped => {
            dotnet_escape(std::str::from_utf8(&body).expect("JSON is UTF-8")).into_bytes()
        }
    };
    SignedDelivery {
        headers: vec![
            (
                "content-type".into(),
                "application/json; charset=utf-8".into(),
            ),
            ("x-hook-signature".into(), signature(secret, &signed)),
        ],
        body,
    }
}

/// `sha1=<base64 HMAC-SHA1(secret, message)>`.
pub fn signature(secret: &str, message: &[u8]) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(message);
    format!("sha1={}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// How .NET's default encoder writes JSON strings (as n8n models it): inside strings,
/// `& < > ' \` +` and each non-ASCII UTF-16 unit become `\uXXXX` (upper-case), `\"` becomes
/// `\u0022`. An independent implementation from jitgate's, so each checks the other.
pub fn dotnet_escape(json: &str) -> String {
    let mut out = String::new();
    let mut in_string = false;
    let mut chars = json.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('"') if in_string => out.push_str("\\u0022"),
                Some(next) => {
                    out.push('\\');
                    out.push(next);
                }
                None => out.push('\\'),
            },
            '"' => {
                in_string = !in_string;
                out.push('"');
            }
            c if in_string
                && (matches!(c, '&' | '<' | '>' | '\'' | '`' | '+') || !c.is_ascii()) =>
            {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04X}"));
                }
            }
            c => out.push(c),
        }
    }
    out
}

fn ticket_json(t: &SeedTicket) -> Value {
    json!({
        "id": t.id,
        "companyID": t.company_id,
        "title": t.title,
        "status": t.status,
        "ticketNumber": format!("T20260115.{:04}", t.id % 10_000),
        "userDefinedFields": t.udfs.iter().map(|(n, v)| json!({"name": n, "value": v})).collect::<Vec<_>>(),
    })
}

fn at_error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "errors": [message] }))).into_response()
}

/// Holds one of the (integration code, endpoint) thread slots; frees it when dropped.
struct ThreadSlot {
    shared: Shared,
    key: String,
}

impl Drop for ThreadSlot {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        if let Some(n) = state.in_flight.get_mut(&self.key) {
            *n = n.saturating_sub(1);
        }
    }
}

/// Throttling, credentials and the thread limit, shared by every API route. The returned slot
/// must be held until the answer is built.
async fn admit(
    shared: &Shared,
    headers: &HeaderMap,
    endpoint: &str,
) -> Result<ThreadSlot, Response> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let c = &shared.config;
    if header("ApiIntegrationCode") != c.integration_code {
        return Err(at_error(
            StatusCode::UNAUTHORIZED,
            "The integration code is missing or invalid.",
        ));
    }
    if !header("UserName").eq_ignore_ascii_case(&c.username) || header("Secret") != c.secret {
        return Err(at_error(
            StatusCode::UNAUTHORIZED,
            "User credentials are invalid.",
        ));
    }
    let (slot, delay) = {
        let mut state = shared.lock();
        if let Some((left, secs)) = state.throttle
            && left > 0
        {
            state.throttle = if left > 1 {
                Some((left - 1, secs))
            } else {
                None
            };
            return Err((
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", secs.to_string())],
                axum::Json(json!({"errors": ["The request threshold for this database has been exceeded."]})),
            )
                .into_response());
        }
        let key = format!("{}:{}", c.integration_code, endpoint.to_ascii_lowercase());
        let in_flight = state.in_flight.entry(key.clone()).or_default();
        if *in_flight >= THREAD_LIMIT {
            state.thread_limit_errors += 1;
            return Err(at_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Itgenatr005 : The thread threshold of 3 threads has been exceeded for this integration and endpoint.",
            ));
        }
        *in_flight += 1;
        let now = *in_flight;
        let max = state
            .max_in_flight
            .entry(endpoint.to_ascii_lowercase())
            .or_default();
        *max = (*max).max(now);
        (
            ThreadSlot {
                shared: shared.clone(),
                key,
            },
            state.call_delay,
        )
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    Ok(slot)
}

async fn zone_information(
    State(shared): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut state = shared.lock();
    state.zone_lookups += 1;
    let user = query.get("user").map(String::as_str).unwrap_or_default();
    if !user.eq_ignore_ascii_case(&shared.config.username) {
        return at_error(
            StatusCode::NOT_FOUND,
            "Zone information could not be determined for this user.",
        );
    }
    let base = state.base_url.clone().expect("set at start");
    axum::Json(json!({
        "zoneName": "Simulated Zone",
        "url": format!("{base}ATServicesRest/"),
        "webUrl": base.to_string(),
        "ci": 0,
    }))
    .into_response()
}

async fn note_fields(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    let _slot = match admit(&shared, &headers, "TicketNotes").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    shared.lock().picklist_reads += 1;
    let picklist = |values: &[Picklist]| {
        values
            .iter()
            .enumerate()
            .map(|(i, p)| {
                json!({
                    "value": p.value.to_string(),
                    "label": p.label,
                    "isDefaultValue": p.is_default,
                    "sortOrder": i,
                    "parentValue": "",
                    "isActive": p.is_active,
                    "isSystem": true,
                })
            })
            .collect::<Vec<_>>()
    };
    let field = |name: &str, data_type: &str, required: bool, values: Option<&[Picklist]>| {
        json!({
            "name": name,
            "dataType": data_type,
            "length": if data_type == "string" { 250 } else { 0 },
            "isRequired": required,
            "isReadOnly": false,
            "isQueryable": true,
            "isReference": name == "ticketID",
            "referenceEntityType": if name == "ticketID" { "Ticket" } else { "" },
            "isPickList": values.is_some(),
            "picklistValues": values.map(picklist),
            "picklistParentValueField": "",
            "isSupportedWebhookField": false,
        })
    };
    axum::Json(json!({ "fields": [
        field("id", "long", true, None),
        field("ticketID", "integer", true, None),
        field("title", "string", false, None),
        field("description", "string", true, None),
        field("noteType", "integer", true, Some(NOTE_TYPES)),
        field("publish", "integer", true, Some(PUBLISH)),
    ]}))
    .into_response()
}

/// A picklist value as a client may send it: integer or numeric string.
fn picklist_value(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

async fn post_note(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let _slot = match admit(&shared, &headers, "Tickets").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Ok(ticket_id) = id.parse::<u64>() else {
        return at_error(
            StatusCode::BAD_REQUEST,
            &format!("'{id}' is not a valid ticket id."),
        );
    };
    let Ok(Value::Object(note)) = serde_json::from_slice::<Value>(&body) else {
        return at_error(
            StatusCode::BAD_REQUEST,
            "The request body must be a JSON object.",
        );
    };
    let mut problems = Vec::new();
    match note.get("ticketID").and_then(|v| picklist_value(Some(v))) {
        Some(t) if t == ticket_id as i64 => {}
        Some(_) => problems.push("ticketID does not match the parent ticket.".to_string()),
        None => problems.push("Missing required field: ticketID.".to_string()),
    }
    let description = note
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if description.trim().is_empty() {
        problems.push("Missing required field: description.".into());
    } else if description.chars().count() > 32_000 {
        problems.push("description exceeds 32000 characters.".into());
    }
    let title = note
        .get("title")
        .and_then(Value::as_str)
        .map(str::to_string);
    match &title {
        Some(t) if t.chars().count() > 250 => problems.push("title exceeds 250 characters.".into()),
        Some(t) if !t.trim().is_empty() => {}
        _ if shared.config.require_note_titles => {
            problems.push("Missing required field: title. Ticket note titles are required by the ticket category.".into())
        }
        _ => {}
    }
    let check = |name: &str, list: &'static [Picklist]| -> Result<&'static Picklist, String> {
        let value =
            picklist_value(note.get(name)).ok_or(format!("Missing required field: {name}."))?;
        list.iter()
            .find(|p| p.value == value && p.is_active)
            .ok_or(format!(
                "Value {value} does not exist or is inactive for picklist field {name}."
            ))
    };
    let note_type = check("noteType", NOTE_TYPES)
        .map_err(|e| problems.push(e))
        .ok();
    let publish = check("publish", PUBLISH).map_err(|e| problems.push(e)).ok();
    let mut state = shared.lock();
    if !state.tickets.contains_key(&ticket_id) {
        return at_error(
            StatusCode::NOT_FOUND,
            &format!("Ticket {ticket_id} does not exist."),
        );
    }
    if !problems.is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({ "errors": problems })),
        )
            .into_response();
    }
    let (note_type, publish) = (note_type.expect("checked"), publish.expect("checked"));
    state.next_id += 1;
    let id = state.next_id;
    state.notes.entry(ticket_id).or_default().push(AtNote {
        id,
        ticket_id,
        title,
        description: description.to_string(),
        note_type: note_type.value,
        publish: publish.value,
        publish_label: publish.label.to_string(),
    });
    axum::Json(json!({ "itemId": id })).into_response()
}

async fn get_ticket(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let _slot = match admit(&shared, &headers, "Tickets").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let item = id
        .parse::<u64>()
        .ok()
        .and_then(|id| shared.lock().tickets.get(&id).map(ticket_json));
    axum::Json(json!({ "item": item })).into_response()
}

async fn get_resource(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let _slot = match admit(&shared, &headers, "Resources").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let item = id.parse::<u64>().ok().and_then(|id| {
        shared.lock().resources.get(&id).map(|email| {
            let user = email.split('@').next().unwrap_or_default();
            json!({"id": id, "email": email, "userName": user, "firstName": user, "lastName": "Sim", "isActive": true})
        })
    });
    axum::Json(json!({ "item": item })).into_response()
}

/// `GET Companies/{id}` → `{"item": {…, "companyName"}}`, `{"item": null}` when unknown (the
/// Companies entity:
/// https://ww1.autotask.net/help/developerhelp/Content/APIs/REST/Entities/CompaniesEntity.htm).
async fn get_company(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let _slot = match admit(&shared, &headers, "Companies").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let item =
        id.parse::<u64>().ok().and_then(|id| {
            shared.lock().companies.get(&id).map(
                |name| json!({"id": id, "companyName": name, "companyType": 1, "isActive": true}),
            )
        });
    axum::Json(json!({ "item": item })).into_response()
}

async fn patch_ticket(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let _slot = match admit(&shared, &headers, "Tickets").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Ok(Value::Object(patch)) = serde_json::from_slice::<Value>(&body) else {
        return at_error(
            StatusCode::BAD_REQUEST,
            "The request body must be a JSON object.",
        );
    };
    let Some(id) = patch.get("id").and_then(Value::as_u64) else {
        return at_error(
            StatusCode::BAD_REQUEST,
            "Missing required field: id (PATCH takes the id in the body).",
        );
    };
    let mut state = shared.lock();
    let list_udfs = state.list_udfs.clone();
    let Some(ticket) = state.tickets.get_mut(&id) else {
        return at_error(
            StatusCode::NOT_FOUND,
            &format!("Ticket {id} does not exist."),
        );
    };
    let mut updated = ticket.clone();
    for (key, value) in &patch {
        match key.to_ascii_lowercase().as_str() {
            "id" => {}
            "status" => match picklist_value(Some(value)) {
                Some(s) if s > 0 => updated.status = s as u64,
                _ => return at_error(StatusCode::BAD_REQUEST, "status must be a picklist value."),
            },
            "title" => match value.as_str() {
                Some(t) => updated.title = t.into(),
                None => return at_error(StatusCode::BAD_REQUEST, "title must be a string."),
            },
            "userdefinedfields" => {
                let Some(entries) = value.as_array() else {
                    return at_error(
                        StatusCode::BAD_REQUEST,
                        "userDefinedFields must be an array.",
                    );
                };
                for entry in entries {
                    let Some(name) = entry.get("name").and_then(Value::as_str) else {
                        return at_error(
                            StatusCode::BAD_REQUEST,
                            "userDefinedFields entries need a name.",
                        );
                    };
                    let Some(slot) = updated
                        .udfs
                        .iter_mut()
                        .find(|(n, _)| n.eq_ignore_ascii_case(name))
                    else {
                        return at_error(
                            StatusCode::BAD_REQUEST,
                            &format!("User-defined field '{name}' does not exist."),
                        );
                    };
                    slot.1 = match entry.get("value") {
                        None | Some(Value::Null) => None,
                        Some(Value::String(s)) => Some(s.clone()),
                        Some(other) => Some(other.to_string()),
                    };
                    // The stricter reading: a list UDF takes an item's id, never its label.
                    if let (Some(items), Some(v)) = (list_udfs.get(&slot.0), &slot.1)
                        && !items.iter().any(|(id, _)| id.to_string() == *v)
                    {
                        return at_error(
                            StatusCode::BAD_REQUEST,
                            &format!(
                                "Value {v} does not exist or is inactive for picklist field {name}."
                            ),
                        );
                    }
                }
            }
            other => {
                return at_error(
                    StatusCode::BAD_REQUEST,
                    &format!("Field '{other}' cannot be updated in this simulator."),
                );
            }
        }
    }
    *ticket = updated;
    axum::Json(json!({ "itemId": id })).into_response()
}

// ---------------------------------------------------------------------------------------------
// Connector check and register: ticket UDF definitions with their list items, the ticket status
// picklist, `TicketWebhooks` and its child entities `TicketWebhookFields`,
// `TicketWebhookUdfFields` and `TicketWebhookExcludedResources`, and `Resources/query` for the
// API user (https://ww1.autotask.net/help/DeveloperHelp/Content/APIs/Webhooks/REST_WebhooksEntity.htm,
// https://ww1.autotask.net/help/DeveloperHelp/Content/APIs/Webhooks/REST_WebhookFieldsEntity.htm).
// Strict readings: `search` is required on queries; a webhook needs `name`, `webhookUrl`,
// `deactivationUrl` and a `secretKey` (at most 64), which is never listed back; it is ready only
// once a field or UDF is subscribed; child rows must name their parent and may not repeat.
// ---------------------------------------------------------------------------------------------

/// The resource id of the API user itself (what `Resources/query` on its user name answers).
pub const API_USER_RESOURCE_ID: u64 = 29_680_001;

/// Ticket fields a webhook can carry: (field id, name).
const WEBHOOK_FIELDS: [(u64, &str); 5] = [
    (4, "companyID"),
    (9, "status"),
    (12, "ticketNumber"),
    (17, "assignedResourceID"),
    (21, "title"),
];

/// Ticket statuses: (value, label).
const STATUSES: [(u64, &str); 5] = [
    (1, "New"),
    (5, "Complete"),
    (8, "In Progress"),
    (12, "Waiting Customer"),
    (29, "JIT Requested"),
];

#[derive(Debug, Clone)]
struct UdfDefinition {
    id: u64,
    name: String,
    /// List items (value, label); `None` for a text UDF.
    items: Option<Vec<(String, String)>>,
}

#[derive(Debug, Default)]
struct SetupState {
    udfs: Vec<UdfDefinition>,
    webhooks: Vec<Value>,
    secret_keys: HashMap<u64, String>,
    webhook_fields: Vec<Value>,
    webhook_udf_fields: Vec<Value>,
    excluded_resources: Vec<Value>,
    writes: usize,
}

impl AutotaskSim {
    /// Define a ticket UDF: a text field, or a list with (value, label) items.
    pub fn define_udf(&self, name: &str, items: Option<&[(&str, &str)]>) {
        let mut state = self.shared.lock();
        let id = 100 + state.setup.udfs.len() as u64;
        state.setup.udfs.push(UdfDefinition {
            id,
            name: name.into(),
            items: items.map(|i| {
                i.iter()
                    .map(|(v, l)| (v.to_string(), l.to_string()))
                    .collect()
            }),
        });
    }

    /// The ticket webhooks as listed (without their secret keys).
    pub fn webhooks(&self) -> Vec<Value> {
        let state = self.shared.lock();
        state
            .setup
            .webhooks
            .iter()
            .map(|w| webhook_view(&state, w))
            .collect()
    }

    /// The secret key a webhook was created with.
    pub fn webhook_secret_key(&self, webhook_id: u64) -> Option<String> {
        self.shared
            .lock()
            .setup
            .secret_keys
            .get(&webhook_id)
            .cloned()
    }

    /// (field rows, UDF rows, excluded resource rows) of a webhook.
    pub fn webhook_children(&self, webhook_id: u64) -> (Vec<Value>, Vec<Value>, Vec<Value>) {
        let state = self.shared.lock();
        let of = |rows: &[Value]| {
            rows.iter()
                .filter(|r| r["webhookID"].as_u64() == Some(webhook_id))
                .cloned()
                .collect::<Vec<_>>()
        };
        (
            of(&state.setup.webhook_fields),
            of(&state.setup.webhook_udf_fields),
            of(&state.setup.excluded_resources),
        )
    }

    /// Creates and updates of webhooks and their child rows.
    pub fn webhook_writes(&self) -> usize {
        self.shared.lock().setup.writes
    }

    /// Switch a webhook off, as Autotask does after 25 failed deliveries.
    pub fn deactivate_webhook(&self, webhook_id: u64) {
        let mut state = self.shared.lock();
        if let Some(w) = state
            .setup
            .webhooks
            .iter_mut()
            .find(|w| w["id"].as_u64() == Some(webhook_id))
        {
            w["isActive"] = json!(false);
        }
    }
}

fn setup_routes() -> Router<Shared> {
    Router::new()
        .route(
            "/Tickets/entityInformation/userDefinedFields",
            get(udf_definitions),
        )
        .route("/Tickets/entityInformation/fields", get(ticket_fields))
        .route("/TicketWebhooks/query", get(query_webhooks))
        .route(
            "/TicketWebhooks",
            post(create_webhook).patch(update_webhook),
        )
        .route(
            "/TicketWebhookFields/entityInformation/fields",
            get(webhook_field_picklist),
        )
        .route(
            "/TicketWebhookUdfFields/entityInformation/fields",
            get(webhook_udf_picklist),
        )
        .route("/TicketWebhookFields/query", get(query_webhook_fields))
        .route(
            "/TicketWebhookUdfFields/query",
            get(query_webhook_udf_fields),
        )
        .route(
            "/TicketWebhookExcludedResources/query",
            get(query_excluded_resources),
        )
        .route("/TicketWebhooks/{id}/Fields", post(create_webhook_field))
        .route(
            "/TicketWebhooks/{id}/UdfFields",
            post(create_webhook_udf_field).patch(update_webhook_udf_field),
        )
        .route(
            "/TicketWebhooks/{id}/ExcludedResources",
            post(create_excluded_resource),
        )
        .route("/Resources/query", get(query_resources))
}

/// UDFs defined explicitly ([`AutotaskSim::define_udf`], and list UDFs whose stored value is
/// the item's id, [`AutotaskSim::define_list_udf`]), plus those seeded tickets carry (as text
/// UDFs).
fn udf_definitions_of(state: &AtState) -> Vec<UdfDefinition> {
    let mut all = state.setup.udfs.clone();
    for (name, items) in &state.list_udfs {
        if !all.iter().any(|u| u.name.eq_ignore_ascii_case(name)) {
            let id = 150 + all.len() as u64;
            all.push(UdfDefinition {
                id,
                name: name.clone(),
                items: Some(
                    items
                        .iter()
                        .map(|(v, l)| (v.to_string(), l.clone()))
                        .collect(),
                ),
            });
        }
    }
    for name in state
        .tickets
        .values()
        .flat_map(|t| t.udfs.iter().map(|(n, _)| n))
    {
        if !all.iter().any(|u| u.name.eq_ignore_ascii_case(name)) {
            let id = 200 + all.len() as u64;
            all.push(UdfDefinition {
                id,
                name: name.clone(),
                items: None,
            });
        }
    }
    all
}

fn picklist_json(items: &[(String, String)]) -> Vec<Value> {
    items
        .iter()
        .enumerate()
        .map(|(i, (v, l))| json!({"value": v, "label": l, "isDefaultValue": false, "sortOrder": i, "isActive": true, "isSystem": false}))
        .collect()
}

fn entity_fields(fields: Vec<Value>) -> Response {
    axum::Json(json!({ "fields": fields })).into_response()
}

async fn admitted(
    shared: &Shared,
    headers: &HeaderMap,
    endpoint: &str,
) -> Result<ThreadSlot, Response> {
    admit(shared, headers, endpoint).await
}

async fn udf_definitions(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    let _slot = match admitted(&shared, &headers, "Tickets").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let mut state = shared.lock();
    state.udf_definition_reads += 1;
    let fields = udf_definitions_of(&state)
        .iter()
        .map(|u| {
            json!({
                "name": u.name,
                "label": u.name,
                "dataType": "string",
                "isPickList": u.items.is_some(),
                "picklistValues": u.items.as_deref().map(picklist_json),
                "isRequired": false,
            })
        })
        .collect();
    entity_fields(fields)
}

async fn ticket_fields(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    let _slot = match admitted(&shared, &headers, "Tickets").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let statuses: Vec<(String, String)> = STATUSES
        .iter()
        .map(|(v, l)| (v.to_string(), l.to_string()))
        .collect();
    entity_fields(vec![
        json!({"name": "id", "dataType": "long", "isPickList": false}),
        json!({"name": "companyID", "dataType": "integer", "isPickList": false}),
        json!({"name": "status", "dataType": "integer", "isPickList": true, "picklistValues": picklist_json(&statuses)}),
    ])
}

async fn webhook_field_picklist(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    let _slot = match admitted(&shared, &headers, "TicketWebhookFields").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let items: Vec<(String, String)> = WEBHOOK_FIELDS
        .iter()
        .map(|(id, n)| (id.to_string(), n.to_string()))
        .collect();
    entity_fields(vec![
        json!({"name": "id", "dataType": "long", "isPickList": false}),
        json!({"name": "webhookID", "dataType": "integer", "isPickList": false}),
        json!({"name": "fieldID", "dataType": "integer", "isPickList": true, "picklistValues": picklist_json(&items)}),
        json!({"name": "isSubscribedField", "dataType": "boolean", "isPickList": false}),
        json!({"name": "isDisplayAlwaysField", "dataType": "boolean", "isPickList": false}),
    ])
}

async fn webhook_udf_picklist(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    let _slot = match admitted(&shared, &headers, "TicketWebhookUdfFields").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let items: Vec<(String, String)> = udf_definitions_of(&shared.lock())
        .iter()
        .map(|u| (u.id.to_string(), u.name.clone()))
        .collect();
    entity_fields(vec![
        json!({"name": "udfFieldID", "dataType": "integer", "isPickList": true, "picklistValues": picklist_json(&items)}),
    ])
}

/// The `eq` conditions of a `search` (Autotask's query language; other operators refused).
fn search_conditions(query: &HashMap<String, String>) -> Result<Vec<(String, Value)>, Response> {
    let Some(raw) = query.get("search") else {
        return Err(at_error(
            StatusCode::BAD_REQUEST,
            "A search parameter with a filter is required.",
        ));
    };
    let search: Value = serde_json::from_str(raw).map_err(|_| {
        at_error(
            StatusCode::BAD_REQUEST,
            "The search parameter is not valid JSON.",
        )
    })?;
    let filters = search
        .get("filter")
        .and_then(Value::as_array)
        .filter(|f| !f.is_empty());
    let Some(filters) = filters else {
        return Err(at_error(
            StatusCode::BAD_REQUEST,
            "The search must contain at least one filter.",
        ));
    };
    filters
        .iter()
        .map(|f| {
            match (
                f.get("op").and_then(Value::as_str),
                f.get("field").and_then(Value::as_str),
            ) {
                (Some(op), Some(field)) if op.eq_ignore_ascii_case("eq") => Ok((
                    field.to_string(),
                    f.get("value").cloned().unwrap_or(Value::Null),
                )),
                _ => Err(at_error(
                    StatusCode::BAD_REQUEST,
                    "This simulator supports only eq filters.",
                )),
            }
        })
        .collect()
}

fn loosely_equal(a: &Value, b: &Value) -> bool {
    let text = |v: &Value| match v {
        Value::String(s) => s.trim().to_ascii_lowercase(),
        other => other.to_string(),
    };
    text(a) == text(b)
}

fn matching(rows: &[Value], conditions: &[(String, Value)]) -> Vec<Value> {
    rows.iter()
        .filter(|row| {
            conditions.iter().all(|(field, want)| {
                row.as_object()
                    .and_then(|m| m.iter().find(|(k, _)| k.eq_ignore_ascii_case(field)))
                    .is_some_and(|(_, v)| loosely_equal(v, want))
            })
        })
        .cloned()
        .collect()
}

fn items(rows: Vec<Value>) -> Response {
    let count = rows.len();
    axum::Json(json!({"items": rows, "pageDetails": {"count": count, "requestCount": 500, "prevPageUrl": null, "nextPageUrl": null}}))
        .into_response()
}

/// A webhook as listed: `isReady` computed, the secret key never shown.
fn webhook_view(state: &AtState, webhook: &Value) -> Value {
    let id = webhook["id"].as_u64();
    let subscribed = state
        .setup
        .webhook_fields
        .iter()
        .chain(&state.setup.webhook_udf_fields)
        .any(|r| r["webhookID"].as_u64() == id && r["isSubscribedField"] == json!(true));
    let mut view = webhook.clone();
    view["isReady"] = json!(subscribed);
    view
}

async fn query_webhooks(
    State(shared): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let _slot = match admitted(&shared, &headers, "TicketWebhooks").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let conditions = match search_conditions(&query) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let state = shared.lock();
    let listed: Vec<Value> = state
        .setup
        .webhooks
        .iter()
        .map(|w| webhook_view(&state, w))
        .collect();
    items(matching(&listed, &conditions))
}

fn webhook_errors(body: &Value, creating: bool) -> Vec<String> {
    let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::trim);
    let mut errors = Vec::new();
    for (field, max) in [
        ("name", 50),
        ("webhookUrl", 500),
        ("deactivationUrl", 500),
        ("secretKey", 64),
    ] {
        match text(field) {
            None | Some("") if creating => errors.push(format!("{field} is required.")),
            Some(v) if v.chars().count() > max => {
                errors.push(format!("{field} must be at most {max} characters."))
            }
            _ => {}
        }
    }
    for field in ["webhookUrl", "deactivationUrl"] {
        if let Some(v) = text(field).filter(|v| !v.is_empty())
            && url::Url::parse(v).is_err()
        {
            errors.push(format!("{field} must be an absolute URL."));
        }
    }
    errors
}

fn validation_failed(errors: Vec<String>) -> Response {
    // Autotask answers business-rule failures with a 500 and the messages.
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        axum::Json(json!({ "errors": errors })),
    )
        .into_response()
}

async fn create_webhook(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let _slot = match admitted(&shared, &headers, "TicketWebhooks").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return at_error(
            StatusCode::BAD_REQUEST,
            "The request body is not valid JSON.",
        );
    };
    let errors = webhook_errors(&body, true);
    if !errors.is_empty() {
        return validation_failed(errors);
    }
    let mut state = shared.lock();
    state.next_id += 1;
    let id = state.next_id;
    let mut stored = json!({
        "id": id,
        "isActive": false,
        "isSubscribedToCreateEvents": false,
        "isSubscribedToUpdateEvents": false,
        "isSubscribedToDeleteEvents": false,
        "sendThresholdExceededNotification": false,
        "notificationEmailAddress": null,
        "ownerResourceID": API_USER_RESOURCE_ID,
        "webhookGUID": format!("a1da62a4-2c49-40a8-8183-{id:012}"),
    });
    for (k, v) in body.as_object().into_iter().flatten() {
        if k == "secretKey"
            || matches!(
                k.as_str(),
                "id" | "webhookGUID" | "isReady" | "ownerResourceID"
            )
        {
            continue;
        }
        stored[k.as_str()] = v.clone();
    }
    let secret = body["secretKey"].as_str().unwrap_or_default().to_string();
    state.setup.secret_keys.insert(id, secret);
    state.setup.webhooks.push(stored);
    state.setup.writes += 1;
    axum::Json(json!({ "itemId": id })).into_response()
}

async fn update_webhook(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let _slot = match admitted(&shared, &headers, "TicketWebhooks").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return at_error(
            StatusCode::BAD_REQUEST,
            "The request body is not valid JSON.",
        );
    };
    let errors = webhook_errors(&body, false);
    if !errors.is_empty() {
        return validation_failed(errors);
    }
    let Some(id) = body.get("id").and_then(Value::as_u64) else {
        return validation_failed(vec!["id is required.".into()]);
    };
    let mut state = shared.lock();
    let Some(webhook) = state
        .setup
        .webhooks
        .iter_mut()
        .find(|w| w["id"].as_u64() == Some(id))
    else {
        return at_error(
            StatusCode::NOT_FOUND,
            &format!("No TicketWebhook with id {id}."),
        );
    };
    for (k, v) in body.as_object().into_iter().flatten() {
        if !matches!(
            k.as_str(),
            "id" | "secretKey" | "webhookGUID" | "isReady" | "ownerResourceID"
        ) {
            webhook[k.as_str()] = v.clone();
        }
    }
    if let Some(secret) = body.get("secretKey").and_then(Value::as_str) {
        state.setup.secret_keys.insert(id, secret.to_string());
    }
    state.setup.writes += 1;
    axum::Json(json!({ "itemId": id })).into_response()
}

async fn query_rows(
    shared: &Shared,
    headers: &HeaderMap,
    endpoint: &str,
    query: &HashMap<String, String>,
    rows: fn(&SetupState) -> &Vec<Value>,
) -> Response {
    let _slot = match admitted(shared, headers, endpoint).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let conditions = match search_conditions(query) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let state = shared.lock();
    items(matching(rows(&state.setup), &conditions))
}

async fn query_webhook_fields(
    State(shared): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    query_rows(&shared, &headers, "TicketWebhookFields", &query, |s| {
        &s.webhook_fields
    })
    .await
}

async fn query_webhook_udf_fields(
    State(shared): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    query_rows(&shared, &headers, "TicketWebhookUdfFields", &query, |s| {
        &s.webhook_udf_fields
    })
    .await
}

async fn query_excluded_resources(
    State(shared): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    query_rows(
        &shared,
        &headers,
        "TicketWebhookExcludedResources",
        &query,
        |s| &s.excluded_resources,
    )
    .await
}

/// Which child collection a row goes to, and the id field that must name a known target.
#[derive(Clone, Copy)]
enum Child {
    Field,
    Udf,
    Excluded,
}

/// Validate and store a child row of webhook `parent`.
fn add_child(state: &mut AtState, parent: &str, body: &Value, child: Child) -> Response {
    let Some(parent) = parent.parse::<u64>().ok().filter(|p| {
        state
            .setup
            .webhooks
            .iter()
            .any(|w| w["id"].as_u64() == Some(*p))
    }) else {
        return at_error(
            StatusCode::NOT_FOUND,
            &format!("No TicketWebhook with id {parent}."),
        );
    };
    if body.get("webhookID").and_then(Value::as_u64) != Some(parent) {
        return validation_failed(vec![
            "webhookID is required and must match the parent webhook.".into(),
        ]);
    }
    let (key, known) = match child {
        Child::Field => (
            "fieldID",
            WEBHOOK_FIELDS.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        ),
        Child::Udf => (
            "udfFieldID",
            udf_definitions_of(state).iter().map(|u| u.id).collect(),
        ),
        Child::Excluded => {
            let mut ids: Vec<u64> = state.resources.keys().copied().collect();
            ids.push(API_USER_RESOURCE_ID);
            ("resourceID", ids)
        }
    };
    let Some(target) = body
        .get(key)
        .and_then(Value::as_u64)
        .filter(|t| known.contains(t))
    else {
        return validation_failed(vec![format!(
            "{key} is required and must be a valid value."
        )]);
    };
    let rows = match child {
        Child::Field => &state.setup.webhook_fields,
        Child::Udf => &state.setup.webhook_udf_fields,
        Child::Excluded => &state.setup.excluded_resources,
    };
    if rows
        .iter()
        .any(|r| r["webhookID"].as_u64() == Some(parent) && r[key].as_u64() == Some(target))
    {
        return validation_failed(vec![format!("This {key} is already on the webhook.")]);
    }
    state.next_id += 1;
    let id = state.next_id;
    let mut row = json!({"id": id, "webhookID": parent, key: target});
    if !matches!(child, Child::Excluded) {
        row["isSubscribedField"] = json!(
            body.get("isSubscribedField")
                .and_then(Value::as_bool)
                .unwrap_or(false)
        );
        row["isDisplayAlwaysField"] = json!(
            body.get("isDisplayAlwaysField")
                .and_then(Value::as_bool)
                .unwrap_or(false)
        );
    }
    match child {
        Child::Field => state.setup.webhook_fields.push(row),
        Child::Udf => state.setup.webhook_udf_fields.push(row),
        Child::Excluded => state.setup.excluded_resources.push(row),
    }
    state.setup.writes += 1;
    axum::Json(json!({ "itemId": id })).into_response()
}

async fn create_child(
    shared: Shared,
    headers: HeaderMap,
    parent: String,
    body: Bytes,
    endpoint: &str,
    child: Child,
) -> Response {
    let _slot = match admitted(&shared, &headers, endpoint).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return at_error(
            StatusCode::BAD_REQUEST,
            "The request body is not valid JSON.",
        );
    };
    add_child(&mut shared.lock(), &parent, &body, child)
}

async fn create_webhook_field(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    create_child(shared, headers, id, body, "TicketWebhooks", Child::Field).await
}

async fn create_webhook_udf_field(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    create_child(shared, headers, id, body, "TicketWebhooks", Child::Udf).await
}

async fn create_excluded_resource(
    State(shared): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    create_child(shared, headers, id, body, "TicketWebhooks", Child::Excluded).await
}

async fn update_webhook_udf_field(
    State(shared): State<Shared>,
    Path(parent): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let _slot = match admitted(&shared, &headers, "TicketWebhooks").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return at_error(
            StatusCode::BAD_REQUEST,
            "The request body is not valid JSON.",
        );
    };
    let parent = parent.parse::<u64>().ok();
    let mut state = shared.lock();
    let id = body.get("id").and_then(Value::as_u64);
    let Some(row) = state
        .setup
        .webhook_udf_fields
        .iter_mut()
        .find(|r| r["id"].as_u64() == id && r["webhookID"].as_u64() == parent)
    else {
        return at_error(
            StatusCode::NOT_FOUND,
            "No such TicketWebhookUdfField on this webhook.",
        );
    };
    for key in ["isSubscribedField", "isDisplayAlwaysField"] {
        if let Some(v) = body.get(key).and_then(Value::as_bool) {
            row[key] = json!(v);
        }
    }
    state.setup.writes += 1;
    axum::Json(json!({ "itemId": id })).into_response()
}

async fn query_resources(
    State(shared): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let _slot = match admitted(&shared, &headers, "Resources").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let conditions = match search_conditions(&query) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let state = shared.lock();
    let username = &shared.config.username;
    let mut all = vec![
        json!({"id": API_USER_RESOURCE_ID, "userName": username, "email": username, "firstName": "jitgate", "lastName": "API", "isActive": true, "licenseType": 7}),
    ];
    for (id, email) in &state.resources {
        let user = email.split('@').next().unwrap_or_default();
        all.push(json!({"id": id, "userName": user, "email": email, "isActive": true}));
    }
    items(matching(&all, &conditions))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_signature_vector() {
        assert_eq!(
            signature(
                "at-secret-key-123",
                br#"{"Action":"Update","EntityType":"Ticket","Id":351181}"#
            ),
            "sha1=SxORfYwaFI/FcPlrSareVU1eYD8="
        );
    }

    #[test]
    fn escaping() {
        assert_eq!(
            dotnet_escape(r#"{"a&b":"é + <x> \"q\" \\ 😀"}"#),
            r#"{"a\u0026b":"\u00E9 \u002B \u003Cx\u003E \u0022q\u0022 \\ \uD83D\uDE00"}"#
        );
    }
}
