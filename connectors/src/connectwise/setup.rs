//! Checking and registering the ConnectWise side of a connector: the API member's credentials,
//! the trigger custom field (or status), and jitgate's ticket callback in `system/callbacks`
//! (ConnectWise Developer Guide, Callbacks:
//! https://developer.connectwise.com/Products/Manage/Developer_Guide).

use super::api::readable_error;
use super::settings::{CustomFieldSelector, Settings};
use crate::psa_http;
use crate::{Check, PsaError, RegisterAction, RegisterOutcome};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::HeaderValue;
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};

/// The payload version jitgate parses (`Entity` as a JSON string). Set explicitly so a change of
/// ConnectWise's default cannot change the deliveries under jitgate.
pub const PAYLOAD_VERSION: &str = "3.0.0";
/// ConnectWise appends the record id to the callback URL; ending the URL with `?recordId=` keeps
/// that id from corrupting the path (Developer Guide, Callbacks).
const RECORD_ID_SUFFIX: &str = "?recordId=";
/// The Service Ticket screen in ConnectWise's custom-field setup (`screenId` of
/// `system/userDefinedFields`).
pub const SERVICE_TICKET_SCREEN: &str = "sr100";
const DESCRIPTION: &str = "jitgate: just-in-time admin requests";

const CREDENTIALS: &str = "API credentials";
const TRIGGER: &str = "Trigger";
const CALLBACK: &str = "Callback";

/// The callback URL registered for `webhook_url`.
pub fn callback_url(webhook_url: &str) -> String {
    format!("{webhook_url}{RECORD_ID_SUFFIX}")
}

/// The one callback jitgate wants: every ticket (level Owner, objectId 1), active, not sent for
/// jitgate's own saves (notes, trigger resets), in the payload version jitgate parses.
pub fn wanted_callback(webhook_url: &str) -> Value {
    json!({
        "description": DESCRIPTION,
        "url": callback_url(webhook_url),
        "objectId": 1,
        "type": "Ticket",
        "level": "Owner",
        "inactiveFlag": false,
        "isSelfSuppressedFlag": true,
        "payloadVersion": PAYLOAD_VERSION,
    })
}

/// What is wrong with an existing callback of jitgate's URL, for the admin (empty: nothing).
pub fn callback_problems(existing: &Value) -> Vec<String> {
    let text = |k: &str| existing.get(k).and_then(Value::as_str).unwrap_or_default();
    let flag = |k: &str| existing.get(k).and_then(Value::as_bool).unwrap_or(false);
    let mut problems = Vec::new();
    if flag("inactiveFlag") {
        problems.push("it is inactive".to_string());
    }
    if !text("type").eq_ignore_ascii_case("ticket") {
        problems.push(format!("its type is {:?}, not Ticket", text("type")));
    }
    if !text("level").eq_ignore_ascii_case("owner")
        || existing.get("objectId").and_then(Value::as_u64) != Some(1)
    {
        problems.push("it does not cover all tickets (level Owner, object 1)".to_string());
    }
    if text("payloadVersion") != PAYLOAD_VERSION {
        problems.push(format!(
            "its payload version is {:?}, not {PAYLOAD_VERSION}",
            text("payloadVersion")
        ));
    }
    if !flag("isSelfSuppressedFlag") {
        problems.push("jitgate's own saves are not suppressed".to_string());
    }
    problems
}

/// The API calls that check and registration make, authenticated as the connector's API member.
pub struct Setup<'a> {
    settings: &'a Settings,
    http: &'a reqwest::Client,
}

impl<'a> Setup<'a> {
    pub fn new(settings: &'a Settings, http: &'a reqwest::Client) -> Setup<'a> {
        Setup { settings, http }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let s = self.settings;
        let credentials = format!(
            "{}+{}:{}",
            s.company_id.as_str(),
            s.public_key,
            s.private_key.expose_secret()
        );
        let mut authorization =
            HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(credentials)))
                .expect("base64 is a valid header value");
        authorization.set_sensitive(true);
        let base = s.api_base.as_str().trim_end_matches('/');
        self.http
            .request(method, format!("{base}{path}"))
            .header(http::header::AUTHORIZATION, authorization)
            .header("clientId", &s.client_id)
            .header(
                http::header::ACCEPT,
                format!(
                    "application/vnd.connectwise.com+json; version={}",
                    s.api_version
                ),
            )
    }

    async fn get_json(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, PsaError> {
        let request = self.request(reqwest::Method::GET, path).query(query);
        psa_http::send(request, readable_error)
            .await?
            .json()
            .await
            .map_err(|e| PsaError::Rejected {
                status: 200,
                message: format!(
                    "ConnectWise answered {path} with something other than JSON: {}",
                    e.without_url()
                ),
            })
    }

    async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
    ) -> Result<(), PsaError> {
        psa_http::send(self.request(method, path).json(body), readable_error).await?;
        Ok(())
    }

    /// Every callback registered at the site.
    async fn callbacks(&self) -> Result<Vec<Value>, PsaError> {
        let list = self
            .get_json("/system/callbacks", &[("pageSize", "1000")])
            .await?;
        Ok(list.as_array().cloned().unwrap_or_default())
    }

    /// The callbacks whose URL is jitgate's for this connector.
    async fn our_callbacks(&self, webhook_url: &str) -> Result<Vec<Value>, PsaError> {
        let url = callback_url(webhook_url);
        Ok(self
            .callbacks()
            .await?
            .into_iter()
            .filter(|c| {
                c.get("url")
                    .and_then(Value::as_str)
                    .is_some_and(|u| u.trim() == url || u.trim() == webhook_url)
            })
            .collect())
    }

    pub async fn check(&self, webhook_url: &str) -> Vec<Check> {
        // `system/info` answers any authenticated member: the cheapest proof the keys work.
        if let Err(e) = self.get_json("/system/info", &[]).await {
            return vec![Check::from_error(
                CREDENTIALS,
                &e,
                "Check the company id, public and private key and clientId of the API member \
                 (System > Members > API Members).",
            )];
        }
        let mut checks = vec![Check::ok(
            CREDENTIALS,
            "the API member's keys and clientId are accepted",
        )];
        if let Some(selector) = &self.settings.trigger.custom_field {
            checks.push(self.check_custom_field(selector).await);
        }
        if let Some(status) = &self.settings.trigger.status {
            checks.push(self.check_status(status).await);
        }
        checks.push(self.check_callback(webhook_url).await);
        checks
    }

    async fn check_custom_field(&self, selector: &CustomFieldSelector) -> Check {
        let conditions = format!("screenId=\"{SERVICE_TICKET_SCREEN}\"");
        let fields = match self
            .get_json(
                "/system/userDefinedFields",
                &[("conditions", conditions.as_str()), ("pageSize", "1000")],
            )
            .await
        {
            Ok(list) => list.as_array().cloned().unwrap_or_default(),
            Err(e) => {
                return Check::from_error(
                    TRIGGER,
                    &e,
                    "Give the API member's security role Inquire on System > Table Setup.",
                );
            }
        };
        let found = fields.iter().find(|f| {
            selector.matches(
                f.get("id").and_then(Value::as_u64),
                f.get("caption").and_then(Value::as_str),
            )
        });
        let wanted = match selector {
            CustomFieldSelector::Id(id) => format!("id {id}"),
            CustomFieldSelector::Caption(c) => format!("{c:?}"),
        };
        let Some(field) = found else {
            let captions: Vec<&str> = fields
                .iter()
                .filter_map(|f| f.get("caption").and_then(Value::as_str))
                .take(20)
                .collect();
            return Check::fail(
                TRIGGER,
                format!(
                    "no custom field {wanted} on the Service Ticket screen (found: {})",
                    if captions.is_empty() {
                        "none".to_string()
                    } else {
                        captions.join(", ")
                    }
                ),
                "Create a Checkbox custom field on the Service Ticket screen (System > Setup \
                 Tables > Custom Fields), or correct trigger.custom_field in the connector.",
            );
        };
        let kind = field
            .get("fieldTypeIdentifier")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let id = field.get("id").and_then(Value::as_u64).unwrap_or_default();
        if !kind.eq_ignore_ascii_case("checkbox") {
            return Check::warn(
                TRIGGER,
                format!("custom field {wanted} (id {id}) is a {kind} field, not a Checkbox"),
                "Use a Checkbox field: jitgate requests when it is ticked and clears it afterwards.",
            );
        }
        Check::ok(
            TRIGGER,
            format!("custom field {wanted} is a Checkbox on the Service Ticket screen (id {id})"),
        )
    }

    async fn check_status(&self, status: &str) -> Check {
        let boards = match self
            .get_json(
                "/service/boards",
                &[("fields", "id,name"), ("pageSize", "1000")],
            )
            .await
        {
            Ok(list) => list.as_array().cloned().unwrap_or_default(),
            Err(e) => {
                return Check::from_error(
                    TRIGGER,
                    &e,
                    "Give the API member's security role Inquire on Service Desk > Service Boards.",
                );
            }
        };
        let mut on_boards = Vec::new();
        for board in &boards {
            let Some(id) = board.get("id").and_then(Value::as_u64) else {
                continue;
            };
            let statuses = match self
                .get_json(
                    &format!("/service/boards/{id}/statuses"),
                    &[("fields", "id,name,inactive"), ("pageSize", "1000")],
                )
                .await
            {
                Ok(list) => list.as_array().cloned().unwrap_or_default(),
                Err(e) => return Check::from_error(TRIGGER, &e, ""),
            };
            if statuses.iter().any(|s| {
                s.get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| n.trim().eq_ignore_ascii_case(status.trim()))
            }) {
                on_boards.push(
                    board
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or("?")
                        .to_string(),
                );
            }
        }
        if on_boards.is_empty() {
            Check::fail(
                TRIGGER,
                format!("no service board has a status {status:?}"),
                "Add the status to the boards technicians use, or correct trigger.status.",
            )
        } else {
            Check::ok(
                TRIGGER,
                format!("status {status:?} exists on: {}", on_boards.join(", ")),
            )
        }
    }

    async fn check_callback(&self, webhook_url: &str) -> Check {
        let ours = match self.our_callbacks(webhook_url).await {
            Ok(ours) => ours,
            Err(e) => {
                return Check::from_error(
                    CALLBACK,
                    &e,
                    "Give the API member's security role Inquire on System > Table Setup \
                     (callbacks).",
                );
            }
        };
        let Some(callback) = ours.first() else {
            return Check::fail(
                CALLBACK,
                "no callback at ConnectWise sends tickets to this connector's webhook URL",
                "Press Register (or POST /api/v1/connectors/{id}/register).",
            );
        };
        let problems = callback_problems(callback);
        if !problems.is_empty() {
            return Check::fail(
                CALLBACK,
                format!("the callback is registered but {}", problems.join("; ")),
                "Press Register to repair it.",
            );
        }
        if ours.len() > 1 {
            return Check::warn(
                CALLBACK,
                format!(
                    "{} callbacks send to this URL: each ticket save is delivered more than once",
                    ours.len()
                ),
                "Delete the extra callbacks in ConnectWise (System > Integrator Login or the API).",
            );
        }
        Check::ok(
            CALLBACK,
            "an active ticket callback (all tickets) sends to jitgate",
        )
    }

    pub async fn register(&self, webhook_url: &str) -> Result<RegisterOutcome, PsaError> {
        let ours = self.our_callbacks(webhook_url).await?;
        let wanted = wanted_callback(webhook_url);
        let Some(existing) = ours.first() else {
            self.send_json(reqwest::Method::POST, "/system/callbacks", &wanted)
                .await?;
            return Ok(RegisterOutcome::new(
                RegisterAction::Created,
                "created a ticket callback (all tickets, payload version 3.0.0) to this connector",
            ));
        };
        let problems = callback_problems(existing);
        if problems.is_empty() {
            return Ok(RegisterOutcome::new(
                RegisterAction::AlreadyRegistered,
                "the ticket callback is already registered and active; nothing changed",
            ));
        }
        let id = existing
            .get("id")
            .and_then(Value::as_u64)
            .ok_or_else(|| PsaError::Rejected {
                status: 200,
                message: "ConnectWise listed a callback without an id".into(),
            })?;
        let mut repaired = wanted;
        repaired["id"] = json!(id);
        self.send_json(
            reqwest::Method::PUT,
            &format!("/system/callbacks/{id}"),
            &repaired,
        )
        .await?;
        Ok(RegisterOutcome::new(
            RegisterAction::Repaired,
            format!("repaired callback {id}: {}", problems.join("; ")),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wanted_callback_has_no_problems() {
        let wanted = wanted_callback("https://jit.example.com/webhooks/c1");
        assert_eq!(
            wanted["url"],
            "https://jit.example.com/webhooks/c1?recordId="
        );
        assert!(callback_problems(&wanted).is_empty());
    }

    #[test]
    fn problems_name_what_differs() {
        let mut callback = wanted_callback("https://jit.example.com/webhooks/c1");
        callback["inactiveFlag"] = json!(true);
        callback["level"] = json!("Board");
        callback["payloadVersion"] = json!("2.0.0");
        let problems = callback_problems(&callback);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("inactive"));
    }
}
