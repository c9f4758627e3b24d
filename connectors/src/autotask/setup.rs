//! Checking and registering the Autotask side of a connector: the API user's credentials, the
//! trigger UDF (and its list values) or status, the note picklists, and jitgate's
//! `TicketWebhooks` entry with its fields, UDF and excluded resource (Autotask webhooks:
//! https://ww1.autotask.net/help/DeveloperHelp/Content/APIs/Webhooks/Webhooks_Creating.htm,
//! https://ww1.autotask.net/help/DeveloperHelp/Content/APIs/Webhooks/REST_WebhooksEntity.htm,
//! https://ww1.autotask.net/help/DeveloperHelp/Content/APIs/Webhooks/REST_WebhookFieldsEntity.htm).

use super::api::Api;
use super::settings::Settings;
use crate::{Check, PsaError, RegisterAction, RegisterOutcome};
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};

/// Autotask's limit on a webhook's `Name`.
const WEBHOOK_NAME: &str = "jitgate JIT admin requests";

const CREDENTIALS: &str = "API credentials";
const TRIGGER: &str = "Trigger";
const NOTES: &str = "Note settings";
const WEBHOOK: &str = "Webhook";

/// A ticket field jitgate wants on the webhook: display-always fields arrive in every payload,
/// subscribed fields fire it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WantedField {
    pub name: &'static str,
    pub subscribed: bool,
}

/// `companyID` always (the customer comes from it); `status` subscribed when it is a trigger.
pub fn wanted_fields(settings: &Settings) -> Vec<WantedField> {
    let mut fields = vec![WantedField {
        name: "companyID",
        subscribed: false,
    }];
    if settings.trigger.status.is_some() {
        fields.push(WantedField {
            name: "status",
            subscribed: true,
        });
    }
    fields
}

/// Field names compared loosely: `companyID`, `Company ID` and `Company` are one field.
pub fn same_field(a: &str, b: &str) -> bool {
    fn norm(s: &str) -> String {
        let s: String = s
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        s.strip_suffix("id")
            .filter(|rest| !rest.is_empty())
            .map(str::to_string)
            .unwrap_or(s)
    }
    norm(a) == norm(b)
}

fn get_ci<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    let map = v.as_object()?;
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn id_of(v: &Value, key: &str) -> Option<u64> {
    let v = get_ci(v, key)?;
    v.as_u64().or_else(|| v.as_str()?.trim().parse().ok())
}

fn flag(v: &Value, key: &str) -> bool {
    get_ci(v, key).and_then(Value::as_bool).unwrap_or(false)
}

fn text<'v>(v: &'v Value, key: &str) -> &'v str {
    get_ci(v, key).and_then(Value::as_str).unwrap_or_default()
}

/// The active values of a picklist field in an `entityInformation` answer: (value, label).
fn picklist(fields: &Value, name: &str) -> Option<Vec<(String, String)>> {
    let field = get_ci(fields, "fields")?
        .as_array()?
        .iter()
        .find(|f| text(f, "name").eq_ignore_ascii_case(name))?;
    Some(
        get_ci(field, "picklistValues")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter(|v| {
                get_ci(v, "isActive")
                    .and_then(Value::as_bool)
                    .unwrap_or(true)
            })
            .map(|v| {
                let value = match get_ci(v, "value") {
                    Some(Value::String(s)) => s.trim().to_string(),
                    Some(other) => other.to_string(),
                    None => String::new(),
                };
                (value, text(v, "label").trim().to_string())
            })
            .collect(),
    )
}

/// `search=` for a query on one field equal to a value.
fn eq_search(field: &str, value: &Value) -> String {
    let search = json!({"filter": [{"op": "eq", "field": field, "value": value}]}).to_string();
    url::form_urlencoded::byte_serialize(search.as_bytes()).collect()
}

/// What is at the PSA for jitgate's webhook, read in one go.
struct Registered {
    webhook: Value,
    id: u64,
    fields: Vec<Value>,
    udf_fields: Vec<Value>,
    excluded: Vec<u64>,
}

pub struct Setup<'a> {
    settings: &'a Settings,
    api: &'a Api,
}

impl<'a> Setup<'a> {
    pub fn new(settings: &'a Settings, api: &'a Api) -> Setup<'a> {
        Setup { settings, api }
    }

    async fn get(&self, path: &str) -> Result<Value, PsaError> {
        self.api.call(reqwest::Method::GET, path, None).await
    }

    async fn items(&self, path: &str) -> Result<Vec<Value>, PsaError> {
        let answer = self.get(path).await?;
        Ok(get_ci(&answer, "items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default())
    }

    /// `itemId` of a create.
    async fn create(&self, path: &str, body: &Value) -> Result<u64, PsaError> {
        let answer = self
            .api
            .call(reqwest::Method::POST, path, Some(body))
            .await?;
        id_of(&answer, "itemId").ok_or_else(|| PsaError::Rejected {
            status: 200,
            message: format!("Autotask created {path} without returning its itemId"),
        })
    }

    async fn update(&self, path: &str, body: &Value) -> Result<(), PsaError> {
        self.api
            .call(reqwest::Method::PATCH, path, Some(body))
            .await
            .map(drop)
    }

    async fn webhook(&self, webhook_url: &str) -> Result<Option<Value>, PsaError> {
        let path = format!(
            "TicketWebhooks/query?search={}",
            eq_search("webhookUrl", &json!(webhook_url))
        );
        Ok(self.items(&path).await?.into_iter().next())
    }

    async fn registered(&self, webhook_url: &str) -> Result<Option<Registered>, PsaError> {
        let Some(webhook) = self.webhook(webhook_url).await? else {
            return Ok(None);
        };
        let id = id_of(&webhook, "id").ok_or_else(|| PsaError::Rejected {
            status: 200,
            message: "Autotask listed a webhook without an id".into(),
        })?;
        let by_webhook = eq_search("webhookID", &json!(id));
        let fields = self
            .items(&format!("TicketWebhookFields/query?search={by_webhook}"))
            .await?;
        let udf_fields = self
            .items(&format!("TicketWebhookUdfFields/query?search={by_webhook}"))
            .await?;
        let excluded = self
            .items(&format!(
                "TicketWebhookExcludedResources/query?search={by_webhook}"
            ))
            .await?
            .iter()
            .filter_map(|r| id_of(r, "resourceID"))
            .collect();
        Ok(Some(Registered {
            webhook,
            id,
            fields,
            udf_fields,
            excluded,
        }))
    }

    /// The resource id of the API user itself, to exclude it (its notes and trigger resets
    /// must not come back as events).
    async fn api_user_resource(&self) -> Result<u64, PsaError> {
        let username = json!(self.settings.username);
        for field in ["userName", "email"] {
            let path = format!("Resources/query?search={}", eq_search(field, &username));
            if let Some(id) = self.items(&path).await?.iter().find_map(|r| id_of(r, "id")) {
                return Ok(id);
            }
        }
        Err(PsaError::NotFound(format!(
            "no resource with the API user's user name {}",
            self.settings.username
        )))
    }

    /// Ticket field id → name, from the `fieldID` picklist of TicketWebhookFields.
    async fn webhook_field_ids(&self) -> Result<Vec<(String, String)>, PsaError> {
        let fields = self
            .get("TicketWebhookFields/entityInformation/fields")
            .await?;
        Ok(picklist(&fields, "fieldID").unwrap_or_default())
    }

    async fn webhook_udf_ids(&self) -> Result<Vec<(String, String)>, PsaError> {
        let fields = self
            .get("TicketWebhookUdfFields/entityInformation/fields")
            .await?;
        Ok(picklist(&fields, "udfFieldID").unwrap_or_default())
    }

    pub async fn check(&self, webhook_url: &str) -> Vec<Check> {
        let mut checks = Vec::new();
        let udfs = match self
            .get("Tickets/entityInformation/userDefinedFields")
            .await
        {
            Ok(udfs) => udfs,
            Err(e) => {
                return vec![Check::from_error(
                    CREDENTIALS,
                    &e,
                    "Check the API user's user name, secret and integration code (Admin > \
                     Resources/Users > the API user > Security), and the zone.",
                )];
            }
        };
        checks.push(Check::ok(
            CREDENTIALS,
            "the API user's credentials and integration code are accepted",
        ));
        if let Some(udf) = &self.settings.trigger.udf {
            checks.push(self.check_udf(&udfs, udf));
        }
        if let Some(status) = &self.settings.trigger.status {
            checks.push(self.check_status(status).await);
        }
        checks.push(match self.api.note_choices().await {
            Ok(c) => Check::ok(
                NOTES,
                format!(
                    "notes go out as note type {} with publish {} ({})",
                    c.note_type, c.publish, self.settings.notes.publish_label
                ),
            ),
            Err(e) => Check::from_error(
                NOTES,
                &e,
                "Correct notes.publish_label / notes.note_type_label to labels of the TicketNotes \
                 picklists (Admin > Features & Settings > Tickets).",
            ),
        });
        checks.push(self.check_webhook(webhook_url).await);
        checks
    }

    fn check_udf(&self, udfs: &Value, name: &str) -> Check {
        let defined = get_ci(udfs, "fields")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let Some(field) = defined
            .iter()
            .find(|f| text(f, "name").trim().eq_ignore_ascii_case(name.trim()))
        else {
            let names: Vec<&str> = defined.iter().map(|f| text(f, "name")).take(20).collect();
            return Check::fail(
                TRIGGER,
                format!(
                    "no ticket UDF named {name:?} (found: {})",
                    if names.is_empty() {
                        "none".into()
                    } else {
                        names.join(", ")
                    }
                ),
                "Create the ticket UDF (Admin > Features & Settings > User-Defined Fields > \
                 Tickets), or correct trigger.udf in the connector.",
            );
        };
        if !flag(field, "isPickList") {
            return Check::ok(TRIGGER, format!("ticket UDF {name:?} exists"));
        }
        // A list UDF may arrive as the item's value or its label: a true value must be one.
        let values = picklist(udfs, text(field, "name")).unwrap_or_default();
        let is_item = |want: &str| {
            values.iter().any(|(value, label)| {
                value.eq_ignore_ascii_case(want.trim()) || label.eq_ignore_ascii_case(want.trim())
            })
        };
        let trigger = &self.settings.trigger;
        if !trigger.true_values.iter().any(|t| is_item(t)) {
            let labels: Vec<&str> = values.iter().map(|(_, l)| l.as_str()).collect();
            return Check::fail(
                TRIGGER,
                format!(
                    "list UDF {name:?} has no item for {:?} (items: {})",
                    trigger.true_values,
                    labels.join(", ")
                ),
                "Set trigger.true_values to the label of the list item that requests access.",
            );
        }
        if !trigger.reset_value.trim().is_empty() && !is_item(&trigger.reset_value) {
            return Check::warn(
                TRIGGER,
                format!(
                    "list UDF {name:?} has no item {:?} to reset it to",
                    trigger.reset_value
                ),
                "Set trigger.reset_value to a list item (or empty to clear it).",
            );
        }
        Check::ok(
            TRIGGER,
            format!("list UDF {name:?} has the trigger and reset items"),
        )
    }

    async fn check_status(&self, status: &str) -> Check {
        let fields = match self.get("Tickets/entityInformation/fields").await {
            Ok(f) => f,
            Err(e) => return Check::from_error(TRIGGER, &e, ""),
        };
        let statuses = picklist(&fields, "status").unwrap_or_default();
        match statuses.iter().find(|(value, _)| value == status.trim()) {
            Some((value, label)) => Check::ok(
                TRIGGER,
                format!("ticket status {value} ({label}) is active"),
            ),
            None => Check::fail(
                TRIGGER,
                format!("no active ticket status with value {status}"),
                "Set trigger.status to the value (a number) of an active ticket status.",
            ),
        }
    }

    async fn check_webhook(&self, webhook_url: &str) -> Check {
        let registered = match self.registered(webhook_url).await {
            Ok(Some(r)) => r,
            Ok(None) => {
                return Check::fail(
                    WEBHOOK,
                    "no ticket webhook at Autotask sends to this connector's webhook URL",
                    "Press Register (or POST /api/v1/connectors/{id}/register).",
                );
            }
            Err(e) => {
                return Check::from_error(
                    WEBHOOK,
                    &e,
                    "Give the API user's security level the right to manage webhooks.",
                );
            }
        };
        let mut problems = self.registration_problems(&registered);
        if !flag(&registered.webhook, "isReady") {
            problems.push("Autotask does not mark it ready".into());
        }
        if problems.is_empty() {
            Check::ok(
                WEBHOOK,
                format!(
                    "ticket webhook {} is active, with its fields, UDF and excluded API user",
                    registered.id
                ),
            )
        } else {
            Check::fail(
                WEBHOOK,
                format!(
                    "ticket webhook {} is registered but {}",
                    registered.id,
                    problems.join("; ")
                ),
                "Press Register to repair it.",
            )
        }
    }

    /// What is missing or wrong in what the PSA has (without the API user, found separately).
    fn registration_problems(&self, r: &Registered) -> Vec<String> {
        let mut problems = Vec::new();
        if !flag(&r.webhook, "isActive") {
            problems.push("it is inactive".to_string());
        }
        if !flag(&r.webhook, "isSubscribedToUpdateEvents") {
            problems.push("it is not subscribed to ticket updates".into());
        }
        if r.fields.is_empty() {
            problems.push("it has no ticket fields".into());
        }
        if self.settings.trigger.udf.is_some()
            && !r.udf_fields.iter().any(|u| flag(u, "isSubscribedField"))
        {
            problems.push("the trigger UDF is not subscribed".into());
        }
        if r.excluded.is_empty() {
            problems.push("the API user is not excluded".into());
        }
        problems
    }

    pub async fn register(&self, webhook_url: &str) -> Result<RegisterOutcome, PsaError> {
        let mut done = Vec::new();
        let (id, created) = match self.webhook(webhook_url).await? {
            Some(existing) => {
                let id = id_of(&existing, "id").unwrap_or_default();
                if !flag(&existing, "isActive") || !flag(&existing, "isSubscribedToUpdateEvents") {
                    self.update(
                        "TicketWebhooks",
                        &json!({"id": id, "isActive": true, "isSubscribedToCreateEvents": true,
                                "isSubscribedToUpdateEvents": true}),
                    )
                    .await?;
                    done.push("activated the webhook".to_string());
                }
                (id, false)
            }
            None => (self.create_webhook(webhook_url).await?, true),
        };
        done.extend(self.ensure_fields(id).await?);
        done.extend(self.ensure_udf(id).await?);
        done.extend(self.ensure_excluded(id).await?);
        Ok(if created {
            RegisterOutcome::new(
                RegisterAction::Created,
                format!(
                    "created ticket webhook {id} with the connector's secret key; {}",
                    done.join("; ")
                ),
            )
        } else if done.is_empty() {
            RegisterOutcome::new(
                RegisterAction::AlreadyRegistered,
                format!(
                    "ticket webhook {id} is already registered with its fields, UDF and excluded \
                     API user; nothing changed (Autotask does not show its secret key: if \
                     deliveries are refused as unauthorized, delete the webhook and register again)"
                ),
            )
        } else {
            RegisterOutcome::new(
                RegisterAction::Repaired,
                format!("repaired ticket webhook {id}: {}", done.join("; ")),
            )
        })
    }

    async fn create_webhook(&self, webhook_url: &str) -> Result<u64, PsaError> {
        let secret =
            self.settings.webhook_secrets.first().ok_or_else(|| {
                PsaError::NotConfigured("the connector has no webhook_secret".into())
            })?;
        // DeactivationUrl is required; jitgate's own URL receives the deactivation too, where it
        // is verified like any delivery and ignored.
        let body = json!({
            "isActive": true,
            "name": WEBHOOK_NAME,
            "webhookUrl": webhook_url,
            "deactivationUrl": webhook_url,
            "secretKey": secret.expose_secret(),
            "isSubscribedToCreateEvents": true,
            "isSubscribedToUpdateEvents": true,
            "isSubscribedToDeleteEvents": false,
            "sendThresholdExceededNotification": true,
        });
        self.create("TicketWebhooks", &body).await
    }

    async fn ensure_fields(&self, webhook_id: u64) -> Result<Vec<String>, PsaError> {
        let by_webhook = eq_search("webhookID", &json!(webhook_id));
        let present = self
            .items(&format!("TicketWebhookFields/query?search={by_webhook}"))
            .await?;
        let ids = self.webhook_field_ids().await?;
        let mut done = Vec::new();
        for wanted in wanted_fields(self.settings) {
            let Some((field_id, _)) = ids.iter().find(|(_, label)| same_field(label, wanted.name))
            else {
                return Err(PsaError::NotFound(format!(
                    "Autotask offers no webhook field {}",
                    wanted.name
                )));
            };
            let field_id: u64 = field_id.parse().unwrap_or_default();
            if present
                .iter()
                .any(|f| id_of(f, "fieldID") == Some(field_id))
            {
                continue;
            }
            self.create(
                &format!("TicketWebhooks/{webhook_id}/Fields"),
                &json!({"webhookID": webhook_id, "fieldID": field_id,
                        "isSubscribedField": wanted.subscribed, "isDisplayAlwaysField": true}),
            )
            .await?;
            done.push(format!("added field {}", wanted.name));
        }
        Ok(done)
    }

    async fn ensure_udf(&self, webhook_id: u64) -> Result<Vec<String>, PsaError> {
        let Some(udf) = &self.settings.trigger.udf else {
            return Ok(Vec::new());
        };
        let by_webhook = eq_search("webhookID", &json!(webhook_id));
        let present = self
            .items(&format!("TicketWebhookUdfFields/query?search={by_webhook}"))
            .await?;
        let ids = self.webhook_udf_ids().await?;
        let Some((udf_id, _)) = ids
            .iter()
            .find(|(_, label)| label.eq_ignore_ascii_case(udf.trim()))
        else {
            return Err(PsaError::NotFound(format!(
                "no ticket UDF named {udf:?} to subscribe the webhook to"
            )));
        };
        let udf_id: u64 = udf_id.parse().unwrap_or_default();
        if let Some(row) = present
            .iter()
            .find(|f| id_of(f, "udfFieldID") == Some(udf_id))
        {
            if flag(row, "isSubscribedField") {
                return Ok(Vec::new());
            }
            let row_id = id_of(row, "id").unwrap_or_default();
            self.update(
                &format!("TicketWebhooks/{webhook_id}/UdfFields"),
                &json!({"id": row_id, "isSubscribedField": true, "isDisplayAlwaysField": true}),
            )
            .await?;
            return Ok(vec![format!("subscribed UDF {udf:?}")]);
        }
        self.create(
            &format!("TicketWebhooks/{webhook_id}/UdfFields"),
            &json!({"webhookID": webhook_id, "udfFieldID": udf_id,
                    "isSubscribedField": true, "isDisplayAlwaysField": true}),
        )
        .await?;
        Ok(vec![format!("subscribed UDF {udf:?}")])
    }

    async fn ensure_excluded(&self, webhook_id: u64) -> Result<Vec<String>, PsaError> {
        let resource = self.api_user_resource().await?;
        let by_webhook = eq_search("webhookID", &json!(webhook_id));
        let present = self
            .items(&format!(
                "TicketWebhookExcludedResources/query?search={by_webhook}"
            ))
            .await?;
        if present
            .iter()
            .any(|r| id_of(r, "resourceID") == Some(resource))
        {
            return Ok(Vec::new());
        }
        self.create(
            &format!("TicketWebhooks/{webhook_id}/ExcludedResources"),
            &json!({"webhookID": webhook_id, "resourceID": resource}),
        )
        .await?;
        Ok(vec![format!("excluded the API user (resource {resource})")])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_compare_loosely() {
        assert!(same_field("companyID", "Company"));
        assert!(same_field("Company ID", "companyID"));
        assert!(same_field("status", "Status"));
        assert!(!same_field("companyID", "contactID"));
        assert!(!same_field("id", "status"));
    }

    #[test]
    fn picklists_keep_active_values() {
        let fields = json!({"fields": [{"name": "Request JIT", "isPickList": true, "picklistValues": [
            {"value": "1", "label": "Yes", "isActive": true},
            {"value": "2", "label": "Old", "isActive": false}
        ]}]});
        assert_eq!(
            picklist(&fields, "request jit").unwrap(),
            vec![("1".to_string(), "Yes".to_string())]
        );
        assert!(picklist(&fields, "nope").is_none());
    }
}
