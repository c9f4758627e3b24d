//! Checking and registering the HaloPSA side of a connector. Halo's API answers for the token,
//! outcomes (`GET /api/outcome`, as CIPP's Halo extension reads them) and custom fields
//! (`GET /api/FieldInfo`, as homotechsual/HaloAPI's `Get-HaloCustomField` reads them). Halo
//! documents webhooks only in its UI (https://halopsa.com/guides/article/?kbid=838), so
//! registration spells out the clicks instead of writing to an undocumented endpoint.

use super::client::HaloClient;
use super::settings::{IdOrName, TriggerRule};
use super::verify::DeliveryAuth;
use crate::outbound_url::join;
use crate::{Check, PsaError, RegisterOutcome};
use serde_json::Value;

const CREDENTIALS: &str = "API credentials";
const TRIGGER: &str = "Trigger";
const NOTES: &str = "Note outcome";

/// A named Halo object as its list endpoints return it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    pub id: u64,
    pub name: String,
}

/// `[{id, outcome|name|label}]` → id and name; entries without an id are skipped.
pub fn named_list(list: &Value, name_keys: &[&str]) -> Vec<Named> {
    list.as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|item| {
            let id = item.get("id")?;
            let id = id.as_u64().or_else(|| id.as_str()?.trim().parse().ok())?;
            let name = name_keys
                .iter()
                .find_map(|k| item.get(*k).and_then(Value::as_str))
                .unwrap_or_default()
                .trim()
                .to_string();
            Some(Named { id, name })
        })
        .collect()
}

fn find<'l>(list: &'l [Named], wanted: &IdOrName) -> Option<&'l Named> {
    list.iter()
        .find(|n| wanted.matches(Some(n.id), Some(n.name.as_str())))
}

fn names(list: &[Named]) -> String {
    let names: Vec<String> = list
        .iter()
        .take(20)
        .map(|n| format!("{} ({})", n.name, n.id))
        .collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

pub struct Setup<'a> {
    client: &'a HaloClient,
    base: &'a url::Url,
    trigger: &'a TriggerRule,
    note_outcome_id: u64,
    delivery_auth: &'a DeliveryAuth,
}

impl<'a> Setup<'a> {
    pub fn new(
        client: &'a HaloClient,
        base: &'a url::Url,
        trigger: &'a TriggerRule,
        note_outcome_id: u64,
        delivery_auth: &'a DeliveryAuth,
    ) -> Setup<'a> {
        Setup {
            client,
            base,
            trigger,
            note_outcome_id,
            delivery_auth,
        }
    }

    async fn list(&self, path: &str) -> Result<Value, PsaError> {
        let url = join(self.base, path);
        let response = self.client.call(|http| http.get(&url)).await?;
        response.json().await.map_err(|e| {
            PsaError::Unavailable(format!(
                "Halo answered {path} with something other than JSON: {}",
                e.without_url()
            ))
        })
    }

    pub async fn check(&self) -> Vec<Check> {
        let outcomes = match self.list("/api/outcome").await {
            Ok(list) => named_list(&list, &["outcome", "name", "label"]),
            Err(e) => {
                return vec![Check::from_error(
                    CREDENTIALS,
                    &e,
                    "Check base_url, tenant, client_id and client_secret of the Halo API \
                     application (Configuration > Integrations > HaloPSA API), which must use \
                     client credentials with permission to read setup.",
                )];
            }
        };
        let mut checks = vec![Check::ok(
            CREDENTIALS,
            "the API application's token is accepted",
        )];
        if let Some(outcome) = &self.trigger.outcome {
            checks.push(match find(&outcomes, outcome) {
                Some(o) => Check::ok(
                    TRIGGER,
                    format!("trigger outcome {} ({}) exists", o.name, o.id),
                ),
                None => Check::fail(
                    TRIGGER,
                    format!("no outcome {outcome} (outcomes: {})", names(&outcomes)),
                    "Create the \"Request JIT\" outcome (Configuration > Tickets > Actions), or \
                     correct trigger.outcome_id / outcome_name.",
                ),
            });
        }
        if let Some(field) = &self.trigger.custom_field {
            checks.push(self.check_custom_field(field).await);
        }
        checks.push(
            match outcomes.iter().find(|o| o.id == self.note_outcome_id) {
                Some(o) => Check::ok(
                    NOTES,
                    format!("notes are posted with outcome {} ({})", o.name, o.id),
                ),
                None => Check::fail(
                    NOTES,
                    format!(
                        "no outcome with id {} for jitgate's notes (outcomes: {})",
                        self.note_outcome_id,
                        names(&outcomes)
                    ),
                    "Set note.outcome_id to an internal-note outcome.",
                ),
            },
        );
        checks.push(Check::warn(
            "Webhook",
            "Halo has no documented API to read webhooks; jitgate cannot see whether it is set up",
            "Press Register for the steps, then watch the webhook's Deliveries tab in Halo.",
        ));
        checks
    }

    async fn check_custom_field(&self, field: &IdOrName) -> Check {
        let fields = match self.list("/api/FieldInfo").await {
            Ok(list) => named_list(&list, &["name", "label"]),
            Err(e) => return Check::from_error(TRIGGER, &e, ""),
        };
        match find(&fields, field) {
            Some(f) => Check::ok(
                TRIGGER,
                format!("custom field {} ({}) exists", f.name, f.id),
            ),
            None => Check::fail(
                TRIGGER,
                format!("no custom field {field} (fields: {})", names(&fields)),
                "Create the ticket custom field (Configuration > Custom Objects > Custom Fields), \
                 or correct trigger.custom_field_id / custom_field_name.",
            ),
        }
    }

    /// The webhook set-up Halo's UI needs, with this connector's values.
    pub fn register(&self, webhook_url: &str) -> RegisterOutcome {
        let auth = match self.delivery_auth {
            DeliveryAuth::Basic { username, .. } => format!(
                "Authentication: Basic, user name {username}, password the connector's \
                 webhook_password."
            ),
            DeliveryAuth::Hmac { header, .. } => format!(
                "Have Halo sign the body with the connector's webhook_hmac_secret in the {header} \
                 header."
            ),
        };
        let event = match (&self.trigger.outcome, &self.trigger.custom_field) {
            (Some(outcome), _) => {
                format!("Events: \"Action Added\", with the condition outcome = {outcome}.")
            }
            (None, Some(field)) => format!(
                "Events: \"Ticket Updated\" (and \"New Ticket Logged\"), with the condition \
                 custom field {field} is set."
            ),
            (None, None) => "Events: the event that marks a JIT request.".into(),
        };
        RegisterOutcome::manual(
            "Halo documents webhooks only in its UI: jitgate checked the trigger and note \
             outcome (press Check), the webhook itself takes these steps in Halo",
            vec![
                "In Halo, open Configuration > Integrations > Webhooks and press New.".into(),
                format!("Payload URL: {webhook_url}; Method: POST."),
                auth,
                "Payload type: Full object with linked objects (jitgate reads the ticket and action).".into(),
                event,
                "Save, then request JIT on a test ticket and check the webhook's Deliveries tab.".into(),
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn named_lists_take_ids_as_numbers_or_strings() {
        let list = json!([{"id": 7, "outcome": "Private Note"}, {"id": "21", "name": "Request JIT"}, {"outcome": "no id"}]);
        let named = named_list(&list, &["outcome", "name"]);
        assert_eq!(named.len(), 2);
        assert_eq!(
            find(&named, &IdOrName::Name("request jit".into())).map(|n| n.id),
            Some(21)
        );
        assert!(find(&named, &IdOrName::Id(8)).is_none());
    }
}
