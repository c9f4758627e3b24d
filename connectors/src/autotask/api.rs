//! The Autotask REST API calls jitgate makes (ticket notes:
//! https://ww1.autotask.net/help/developerhelp/Content/APIs/REST/Entities/TicketNotesEntity.htm;
//! limits: https://ww1.autotask.net/help/DeveloperHelp/Content/APIs/General/ThreadLimiting.htm).
//!
//! - Auth: headers `ApiIntegrationCode`, `UserName`, `Secret` on every call.
//! - Zone: configured, or discovered once with `zoneInformation?user=` (no credentials) and
//!   cached for the connector's lifetime.
//! - Note picklists (`noteType`, `publish`) are read from `TicketNotes/entityInformation/fields`
//!   and chosen by label (never hard-coded: `1` is "All Autotask Users" on many tenants, i.e.
//!   customer-visible); cached for an hour.
//! - Thread limit: Autotask allows 3 concurrent calls per (integration code, object endpoint);
//!   each connector keeps at most 3 in flight per endpoint, and the thread-threshold error
//!   (`Itgenatr005`, whatever its status) is reported as [`PsaError::RateLimited`] like a 429.

use super::settings::{NoteOptions, Settings, TriggerRule, Zone};
use crate::psa_http::{self, ThrottleMarker};
use crate::{CompanyRef, PsaError};
use http::HeaderValue;
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Concurrent calls Autotask allows per (integration code, endpoint) for integrations created
/// after 2023.1 (https://ww1.autotask.net/help/DeveloperHelp/Content/APIs/General/ThreadLimiting.htm).
pub const MAX_CONCURRENT_PER_ENDPOINT: usize = 3;
const PICKLIST_TTL: Duration = Duration::from_secs(60 * 60);
/// Autotask's limits on note fields (TicketNotes entity).
const MAX_TITLE: usize = 250;
const MAX_DESCRIPTION: usize = 32_000;

const THREAD_LIMIT: ThrottleMarker = ThrottleMarker {
    matches: is_thread_limit_error,
    // Thread slots free up as soon as the other calls finish.
    retry_after: Duration::from_secs(5),
};

/// An Autotask entity id: a positive integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntityId(u64);

impl EntityId {
    pub fn parse(raw: &str, what: &str) -> Result<EntityId, PsaError> {
        raw.trim()
            .parse::<u64>()
            .ok()
            .filter(|id| *id > 0)
            .map(EntityId)
            .ok_or_else(|| PsaError::NotFound(format!("{raw:?} is not an Autotask {what} id")))
    }
}

/// The picklist values a note is created with.
#[derive(Debug, Clone, PartialEq)]
pub struct NoteChoices {
    pub note_type: Value,
    pub publish: Value,
}

pub struct Api {
    http: reqwest::Client,
    username: String,
    integration_code: String,
    secret: HeaderValue,
    zone: Zone,
    discovered_zone: tokio::sync::OnceCell<String>,
    endpoints: Mutex<HashMap<String, Arc<Semaphore>>>,
    note_choices: Mutex<Option<(Instant, NoteChoices)>>,
    notes: NoteOptions,
    /// The trigger UDF's definition, once read: its picklist (id, label) or `None` for a
    /// UDF that is not a list. Kept for the connector's lifetime (a connector change rebuilds
    /// it); refreshed whenever a delivery had to be decided from the ticket.
    udf_picklist: Mutex<Option<UdfList>>,
}

/// A UDF's list items as (id, label), or `None` for a UDF that is not a list.
pub type UdfList = Option<Vec<(String, String)>>;

/// What is known of the trigger UDF's values, for deciding a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UdfLabels<'a> {
    /// Not read yet: an id-looking value cannot be read without it.
    Unknown,
    /// A text (or other non-list) UDF: values are what they say.
    NotAList,
    /// A list UDF: (id, label) pairs; a value may arrive as either.
    List(&'a [(String, String)]),
}

impl Api {
    pub fn new(settings: &Settings, http: reqwest::Client) -> Api {
        let mut secret = HeaderValue::from_str(settings.api_secret.expose_secret())
            .expect("settings accept only printable ASCII secrets");
        secret.set_sensitive(true);
        Api {
            http,
            username: settings.username.clone(),
            integration_code: settings.integration_code.clone(),
            secret,
            zone: settings.zone.clone(),
            discovered_zone: tokio::sync::OnceCell::new(),
            endpoints: Mutex::new(HashMap::new()),
            note_choices: Mutex::new(None),
            notes: settings.notes.clone(),
            udf_picklist: Mutex::new(None),
        }
    }

    /// The REST base (`https://webservices5.autotask.net/ATServicesRest`), discovering it once.
    async fn zone(&self) -> Result<&str, PsaError> {
        match &self.zone {
            Zone::Fixed(url) => Ok(url),
            Zone::Lookup(lookup) => self
                .discovered_zone
                .get_or_try_init(|| self.discover_zone(lookup))
                .await
                .map(String::as_str),
        }
    }

    async fn discover_zone(&self, lookup: &str) -> Result<String, PsaError> {
        // zoneInformation needs no credentials and is exempt from the thread limit.
        let request = self
            .http
            .get(format!("{lookup}/v1.0/zoneInformation"))
            .query(&[("user", self.username.as_str())]);
        let info: Value = psa_http::send(request, readable_error)
            .await?
            .json()
            .await
            .map_err(|e| unexpected("zoneInformation", e))?;
        let url = info
            .get("url")
            .and_then(Value::as_str)
            .ok_or_else(|| PsaError::Rejected {
                status: 200,
                message: "zoneInformation has no url for the API user".into(),
            })?;
        let url = super::settings::api_url(url).map_err(|why| PsaError::Rejected {
            status: 200,
            message: format!("zoneInformation returned an unusable url: {why}"),
        })?;
        tracing::info!(zone = %url, "discovered the Autotask zone");
        Ok(url)
    }

    /// A slot for `endpoint`, waiting while 3 calls to it are in flight.
    async fn slot(&self, endpoint: &str) -> OwnedSemaphorePermit {
        let semaphore = {
            let mut endpoints = self.endpoints.lock().unwrap_or_else(|p| p.into_inner());
            endpoints
                .entry(endpoint.to_ascii_lowercase())
                .or_insert_with(|| Arc::new(Semaphore::new(MAX_CONCURRENT_PER_ENDPOINT)))
                .clone()
        };
        semaphore
            .acquire_owned()
            .await
            .expect("endpoint semaphores are never closed")
    }

    /// One call to `/V1.0/{path}`, holding a thread slot of `path`'s object endpoint (its first
    /// segment: `Tickets/1/Notes` and `Tickets/1` share the `Tickets` slots, the conservative
    /// reading of "per endpoint") until the answer is read.
    pub(super) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, PsaError> {
        let endpoint = path.split('/').next().unwrap_or(path);
        let zone = self.zone().await?;
        let _slot = self.slot(endpoint).await;
        let mut request = self
            .http
            .request(method, format!("{zone}/V1.0/{path}"))
            .header("ApiIntegrationCode", &self.integration_code)
            .header("UserName", &self.username)
            .header("Secret", self.secret.clone())
            .header(http::header::ACCEPT, "application/json");
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = psa_http::send_throttle_aware(request, readable_error, THREAD_LIMIT).await?;
        let text = response.text().await.map_err(psa_http::transport_error)?;
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|_| PsaError::Rejected {
            status: 200,
            message: format!("Autotask returned a non-JSON answer to {endpoint}"),
        })
    }

    /// `item` of a single-entity GET; Autotask answers a missing id with `{"item": null}`.
    async fn item(&self, path: &str, what: &str) -> Result<Value, PsaError> {
        match self
            .call(reqwest::Method::GET, path, None)
            .await?
            .get("item")
        {
            Some(item) if item.is_object() => Ok(item.clone()),
            _ => Err(PsaError::NotFound(format!(
                "{what} not found (or not visible to the API user)"
            ))),
        }
    }

    pub async fn post_note(
        &self,
        ticket: EntityId,
        title: &str,
        description: &str,
    ) -> Result<(), PsaError> {
        let choices = self.note_choices().await?;
        let title = self.notes.title.as_deref().unwrap_or(title);
        let body = json!({
            "ticketID": ticket.0,
            "title": clip(title.trim(), MAX_TITLE),
            "description": clip(description, MAX_DESCRIPTION),
            "noteType": choices.note_type,
            "publish": choices.publish,
        });
        let result = self
            .call(
                reqwest::Method::POST,
                &format!("Tickets/{}/Notes", ticket.0),
                Some(&body),
            )
            .await;
        if let Err(PsaError::Rejected { .. }) = &result {
            // A picklist value may have been deactivated since it was read: read again next time.
            *self.note_choices.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
        result.map(|_| ())
    }

    pub async fn note_choices(&self) -> Result<NoteChoices, PsaError> {
        if let Some((at, choices)) = &*self.note_choices.lock().unwrap_or_else(|p| p.into_inner())
            && at.elapsed() < PICKLIST_TTL
        {
            return Ok(choices.clone());
        }
        let fields = self
            .call(
                reqwest::Method::GET,
                "TicketNotes/entityInformation/fields",
                None,
            )
            .await?;
        let choices = choose_note_values(&fields, &self.notes)?;
        *self.note_choices.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((Instant::now(), choices.clone()));
        Ok(choices)
    }

    /// The trigger UDF's picklist as last read (`None`: not read yet).
    pub fn cached_udf_picklist(&self) -> Option<UdfList> {
        self.udf_picklist
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Read UDF `name`'s definition from `Tickets/entityInformation/userDefinedFields` (the
    /// REST API's entity-information call, as for `TicketNotes/entityInformation/fields`) and
    /// cache it: a list UDF's value may reach a webhook as the item's id rather than its label
    /// (unsettled, issue 15), so both are matched.
    pub async fn refresh_udf_picklist(&self, name: &str) -> Result<UdfList, PsaError> {
        let fields = self
            .call(
                reqwest::Method::GET,
                "Tickets/entityInformation/userDefinedFields",
                None,
            )
            .await?;
        let list = udf_list(&fields, name);
        *self.udf_picklist.lock().unwrap_or_else(|p| p.into_inner()) = Some(list.clone());
        Ok(list)
    }

    /// The ticket as the API returns it (`status`, `userDefinedFields`, …).
    pub async fn ticket_item(&self, ticket: EntityId) -> Result<Value, PsaError> {
        self.item(
            &format!("Tickets/{}", ticket.0),
            &format!("ticket {}", ticket.0),
        )
        .await
    }

    pub async fn ticket_company(&self, ticket: EntityId) -> Result<CompanyRef, PsaError> {
        let item = self
            .item(
                &format!("Tickets/{}", ticket.0),
                &format!("ticket {}", ticket.0),
            )
            .await?;
        match get_ci(&item, "companyID") {
            Some(Value::Number(n)) => Ok(CompanyRef(n.to_string())),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(CompanyRef(s.trim().to_string())),
            _ => Err(PsaError::NotFound(format!(
                "ticket {} has no company",
                ticket.0
            ))),
        }
    }

    /// `companyName` of `GET Companies/{id}` (the Companies entity:
    /// https://ww1.autotask.net/help/developerhelp/Content/APIs/REST/Entities/CompaniesEntity.htm).
    pub async fn company_name(&self, company: EntityId) -> Result<String, PsaError> {
        let item = self
            .item(
                &format!("Companies/{}", company.0),
                &format!("company {}", company.0),
            )
            .await?;
        get_ci(&item, "companyName")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .ok_or_else(|| PsaError::NotFound(format!("company {} has no name", company.0)))
    }

    pub async fn resource_email(&self, resource: EntityId) -> Result<String, PsaError> {
        let item = self
            .item(
                &format!("Resources/{}", resource.0),
                &format!("resource {}", resource.0),
            )
            .await?;
        get_ci(&item, "email")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(str::to_string)
            .ok_or_else(|| {
                PsaError::NotFound(format!("resource {} has no email address", resource.0))
            })
    }

    /// Put the ticket's trigger back to "not requested", so `Ok` means the trigger is clear
    /// (the app then re-arms the ticket).
    ///
    /// - UDF: set to the configured reset value (`PATCH Tickets`, the id in the body).
    /// - Status: jitgate does not move tickets between statuses, so while the ticket is still
    ///   in the trigger status this answers [`PsaError::NotConfigured`] and the request stays
    ///   latched until the ticket leaves it.
    pub async fn reset_trigger(
        &self,
        ticket: EntityId,
        rule: &TriggerRule,
    ) -> Result<(), PsaError> {
        if let Some(udf) = &rule.udf {
            let value = self.reset_udf_value(&rule.reset_value);
            let body =
                json!({ "id": ticket.0, "userDefinedFields": [{ "name": udf, "value": value }] });
            self.call(reqwest::Method::PATCH, "Tickets", Some(&body))
                .await?;
        }
        if let Some(status) = &rule.status {
            let item = self
                .item(
                    &format!("Tickets/{}", ticket.0),
                    &format!("ticket {}", ticket.0),
                )
                .await?;
            let current = match get_ci(&item, "status") {
                Some(Value::Number(n)) => n.to_string(),
                Some(Value::String(s)) => s.trim().to_string(),
                _ => String::new(),
            };
            if current == status.trim() {
                return Err(PsaError::NotConfigured(format!(
                    "ticket {} is still in the trigger status {status}; jitgate does not change \
                     statuses, so the request stays latched until the ticket leaves it",
                    ticket.0
                )));
            }
        }
        Ok(())
    }
}

/// Pick `noteType` and `publish` from the TicketNotes field definitions.
pub fn choose_note_values(fields: &Value, notes: &NoteOptions) -> Result<NoteChoices, PsaError> {
    let publish_values = picklist(fields, "publish")?;
    let publish = publish_values
        .iter()
        .find(|v| v.label.eq_ignore_ascii_case(notes.publish_label.trim()))
        .or_else(|| {
            // Only when the admin kept the default: a tenant may word it "Internal Only" or
            // "Internal". A co-managed variant is visible to the customer's own staff, so never.
            (notes.publish_label == super::settings::DEFAULT_PUBLISH_LABEL).then_some(())?;
            publish_values.iter().find(|v| {
                let l = v.label.to_ascii_lowercase();
                l.starts_with("internal") && !l.contains("co-managed") && !l.contains("co managed")
            })
        })
        .ok_or_else(|| {
            PsaError::NotConfigured(format!(
                "the TicketNotes publish picklist has no {:?} value; set notes.publish_label to one of: {}",
                notes.publish_label,
                labels(&publish_values)
            ))
        })?;
    let type_values = picklist(fields, "noteType")?;
    let note_type = match &notes.note_type_label {
        Some(want) => type_values
            .iter()
            .find(|v| v.label.eq_ignore_ascii_case(want.trim())),
        None => type_values
            .iter()
            .find(|v| v.is_default)
            .or(type_values.first()),
    }
    .ok_or_else(|| {
        PsaError::NotConfigured(format!(
            "the TicketNotes noteType picklist has no {:?} value; choose one of: {}",
            notes.note_type_label.as_deref().unwrap_or("default"),
            labels(&type_values)
        ))
    })?;
    Ok(NoteChoices {
        note_type: note_type.value.clone(),
        publish: publish.value.clone(),
    })
}

#[derive(Debug)]
struct PicklistValue {
    value: Value,
    label: String,
    is_default: bool,
    sort_order: i64,
}

/// The active values of picklist field `name`, in display order. Values come as strings
/// (`"2"`); they are sent back as integers when they are integers, as the entity expects.
fn picklist(fields: &Value, name: &str) -> Result<Vec<PicklistValue>, PsaError> {
    let field = fields
        .get("fields")
        .and_then(Value::as_array)
        .and_then(|fields| {
            fields.iter().find(|f| {
                get_ci(f, "name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
            })
        })
        .ok_or_else(|| PsaError::Rejected {
            status: 200,
            message: format!("TicketNotes field definitions lack {name}"),
        })?;
    let mut values: Vec<PicklistValue> = get_ci(field, "picklistValues")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|v| {
            get_ci(v, "isActive")
                .and_then(Value::as_bool)
                .unwrap_or(true)
        })
        .filter_map(|v| {
            let raw = get_ci(v, "value")?;
            let value = match raw {
                Value::String(s) => s
                    .trim()
                    .parse::<i64>()
                    .map(Value::from)
                    .unwrap_or_else(|_| raw.clone()),
                Value::Number(_) => raw.clone(),
                _ => return None,
            };
            Some(PicklistValue {
                value,
                label: get_ci(v, "label")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
                is_default: get_ci(v, "isDefaultValue")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                sort_order: get_ci(v, "sortOrder")
                    .and_then(Value::as_i64)
                    .unwrap_or(i64::MAX),
            })
        })
        .collect();
    values.sort_by_key(|v| v.sort_order);
    Ok(values)
}

fn labels(values: &[PicklistValue]) -> String {
    let labels: Vec<&str> = values.iter().map(|v| v.label.as_str()).collect();
    if labels.is_empty() {
        "(none active)".into()
    } else {
        labels.join(", ")
    }
}

impl Api {
    /// A list UDF is written with an item's id: the reset value's id when it names a label.
    fn reset_udf_value(&self, reset: &str) -> String {
        match self.cached_udf_picklist() {
            Some(Some(list)) => list
                .iter()
                .find(|(_, label)| label.trim().eq_ignore_ascii_case(reset.trim()))
                .map(|(id, _)| id.clone())
                .unwrap_or_else(|| reset.to_string()),
            _ => reset.to_string(),
        }
    }
}

/// The (id, label) items of list UDF `name` in a `userDefinedFields` answer; `None` when the
/// UDF is not a list (or not defined: the connector check reports a misspelled name).
fn udf_list(fields: &Value, name: &str) -> UdfList {
    let field = fields.get("fields")?.as_array()?.iter().find(|f| {
        get_ci(f, "name")
            .and_then(Value::as_str)
            .is_some_and(|n| n.trim().eq_ignore_ascii_case(name.trim()))
    })?;
    if !get_ci(field, "isPickList")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        return None;
    }
    let items = get_ci(field, "picklistValues")?.as_array()?;
    Some(
        items
            .iter()
            .filter_map(|item| {
                let id = match get_ci(item, "value")? {
                    Value::String(s) => s.trim().to_string(),
                    Value::Number(n) => n.to_string(),
                    _ => return None,
                };
                let label = get_ci(item, "label")?.as_str()?.trim().to_string();
                Some((id, label))
            })
            .collect(),
    )
}

fn get_ci<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    let map = v.as_object()?;
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn clip(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

fn unexpected(what: &str, e: reqwest::Error) -> PsaError {
    PsaError::Rejected {
        status: 200,
        message: format!(
            "Autotask returned an unexpected {what} document: {}",
            e.without_url()
        ),
    }
}

/// Autotask's thread-threshold error: code `Itgenatr005`, "thread threshold of 3 threads has
/// been exceeded" (n8n retryHandler); its HTTP status is not reliably 429.
pub fn is_thread_limit_error(body: &str) -> bool {
    let lower = body.to_ascii_lowercase();
    lower.contains("itgenatr005") || lower.contains("thread threshold")
}

/// Autotask error bodies: `{"errors": ["…", …]}`; neither echoes the request's headers.
pub fn readable_error(body: &str) -> Option<String> {
    let v: Value = serde_json::from_str(body).ok()?;
    let errors: Vec<String> = get_ci(&v, "errors")?
        .as_array()?
        .iter()
        .filter_map(|e| match e {
            Value::String(s) => Some(s.trim().to_string()),
            Value::Object(_) => get_ci(e, "message")
                .and_then(Value::as_str)
                .map(|s| s.trim().to_string()),
            _ => None,
        })
        .filter(|s| !s.is_empty())
        .collect();
    (!errors.is_empty()).then(|| errors.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(publish: Value, note_type: Value) -> Value {
        json!({"fields": [
            {"name": "title", "dataType": "string", "isPickList": false},
            {"name": "noteType", "dataType": "integer", "isPickList": true, "picklistValues": note_type},
            {"name": "publish", "dataType": "integer", "isPickList": true, "picklistValues": publish}
        ]})
    }

    fn notes(publish: &str, note_type: Option<&str>) -> NoteOptions {
        NoteOptions {
            title: None,
            publish_label: publish.into(),
            note_type_label: note_type.map(Into::into),
        }
    }

    fn standard() -> Value {
        fields(
            json!([
                {"value": "1", "label": "All Autotask Users", "isDefaultValue": true, "sortOrder": 1, "isActive": true},
                {"value": "2", "label": "Internal Only", "isDefaultValue": false, "sortOrder": 2, "isActive": true},
                {"value": "4", "label": "Internal & Co-managed", "isDefaultValue": false, "sortOrder": 3, "isActive": true}
            ]),
            json!([
                {"value": "1", "label": "Task Summary", "isDefaultValue": false, "sortOrder": 2, "isActive": true},
                {"value": "3", "label": "Task Notes", "isDefaultValue": true, "sortOrder": 1, "isActive": true},
                {"value": "13", "label": "Retired", "isDefaultValue": false, "sortOrder": 0, "isActive": false}
            ]),
        )
    }

    #[test]
    fn internal_publish_and_default_note_type() {
        let c = choose_note_values(&standard(), &notes("Internal Only", None)).unwrap();
        assert_eq!(
            c,
            NoteChoices {
                note_type: json!(3),
                publish: json!(2)
            }
        );
        let c =
            choose_note_values(&standard(), &notes("internal only", Some("task summary"))).unwrap();
        assert_eq!(c.note_type, json!(1));
    }

    #[test]
    fn reworded_internal_label_but_never_co_managed_or_inactive() {
        let f = fields(
            json!([
                {"value": "1", "label": "All Autotask Users", "isActive": true},
                {"value": "4", "label": "Internal & Co-managed", "isActive": true},
                {"value": "7", "label": "Internal", "isActive": true}
            ]),
            json!([{"value": "3", "label": "Task Notes", "isActive": true}]),
        );
        assert_eq!(
            choose_note_values(&f, &notes("Internal Only", None))
                .unwrap()
                .publish,
            json!(7)
        );
        let f = fields(
            json!([
                {"value": "1", "label": "All Autotask Users", "isActive": true},
                {"value": "2", "label": "Internal Only", "isActive": false},
                {"value": "4", "label": "Internal & Co-managed", "isActive": true}
            ]),
            json!([{"value": "3", "label": "Task Notes", "isActive": true}]),
        );
        let err = choose_note_values(&f, &notes("Internal Only", None)).unwrap_err();
        assert!(
            matches!(err, PsaError::NotConfigured(ref m) if m.contains("All Autotask Users")),
            "{err}"
        );
        assert!(choose_note_values(&standard(), &notes("Internal Only", Some("Nope"))).is_err());
        assert!(choose_note_values(&json!({"fields": []}), &notes("Internal Only", None)).is_err());
    }

    #[test]
    fn errors_and_thread_limit() {
        assert_eq!(
            readable_error(r#"{"errors":["Ticket not found"," "]}"#).unwrap(),
            "Ticket not found"
        );
        assert_eq!(
            readable_error(r#"{"errors":[{"message":"bad"}, "worse"]}"#).unwrap(),
            "bad; worse"
        );
        assert_eq!(readable_error(r#"{"errors":[]}"#), None);
        assert_eq!(readable_error("oops"), None);
        assert!(is_thread_limit_error(
            r#"{"errors":["Itgenatr005 : thread threshold of 3 threads has been exceeded"]}"#
        ));
        assert!(!is_thread_limit_error(r#"{"errors":["Ticket not found"]}"#));
    }

    #[test]
    fn entity_ids() {
        assert!(EntityId::parse("29682885", "resource").is_ok());
        assert!(EntityId::parse("Tickets/1", "ticket").is_err());
        assert!(EntityId::parse("0", "ticket").is_err());
    }
}
