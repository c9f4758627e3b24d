//! The ConnectWise PSA REST API calls jitgate makes (ConnectWise Developer Guide,
//! https://developer.connectwise.com/Products/Manage/Developer_Guide, Authentication):
//! Basic `companyId+publicKey:privateKey`, a `clientId` header and a versioned `Accept`.

use super::settings::{CustomFieldSelector, Settings, TriggerRule};
use crate::flag_value::{FlagState, flag_state};
use crate::psa_http;
use crate::{CompanyRef, PsaError};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::HeaderValue;
use secrecy::ExposeSecret as _;
use serde::Deserialize;
use serde_json::{Value, json};

pub struct Api {
    http: reqwest::Client,
    base: String,
    authorization: HeaderValue,
    client_id: String,
    accept: String,
    process_notifications: bool,
}

/// A ConnectWise record id: digits only, so it can go into a URL path as is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordId(u64);

impl RecordId {
    pub fn parse(raw: &str) -> Result<RecordId, PsaError> {
        Self::parse_as(raw, "ticket")
    }

    /// The same rule for another record kind, named in the error (`"company"`).
    pub fn parse_as(raw: &str, what: &str) -> Result<RecordId, PsaError> {
        raw.trim()
            .parse::<u64>()
            .ok()
            .filter(|id| *id > 0)
            .map(RecordId)
            .ok_or_else(|| PsaError::NotFound(format!("{raw:?} is not a ConnectWise {what} id")))
    }
}

#[derive(Deserialize)]
struct TicketView {
    #[serde(default)]
    company: Option<CompanyView>,
    #[serde(default, rename = "customFields")]
    custom_fields: Vec<Value>,
    #[serde(default)]
    status: Option<StatusView>,
}

#[derive(Deserialize)]
struct StatusView {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct CompanyView {
    id: Value,
}

#[derive(Deserialize)]
struct CompanyRecord {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct MemberView {
    #[serde(default, rename = "primaryEmail")]
    primary_email: Option<String>,
}

impl Api {
    pub fn new(settings: &Settings, http: reqwest::Client) -> Api {
        let credentials = format!(
            "{}+{}:{}",
            settings.company_id.as_str(),
            settings.public_key,
            settings.private_key.expose_secret()
        );
        let mut authorization =
            HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(credentials)))
                .expect("base64 is a valid header value");
        authorization.set_sensitive(true);
        Api {
            http,
            base: settings.api_base.as_str().trim_end_matches('/').to_string(),
            authorization,
            client_id: settings.client_id.clone(),
            accept: format!(
                "application/vnd.connectwise.com+json; version={}",
                settings.api_version
            ),
            process_notifications: settings.notes.process_notifications,
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header(http::header::AUTHORIZATION, self.authorization.clone())
            .header("clientId", &self.client_id)
            .header(http::header::ACCEPT, &self.accept)
    }

    /// An internal-analysis note: visible to MSP staff only, never to the customer (the other
    /// display flags stay false), without ConnectWise notifications unless configured.
    pub async fn post_note(&self, ticket: RecordId, text: &str) -> Result<(), PsaError> {
        let body = json!({
            "text": text,
            "detailDescriptionFlag": false,
            "internalAnalysisFlag": true,
            "resolutionFlag": false,
            "customerUpdatedFlag": false,
            "processNotifications": self.process_notifications,
        });
        let path = format!("/service/tickets/{}/notes", ticket.0);
        psa_http::send(
            self.request(reqwest::Method::POST, &path).json(&body),
            readable_error,
        )
        .await?;
        Ok(())
    }

    async fn ticket(&self, ticket: RecordId) -> Result<TicketView, PsaError> {
        let path = format!("/service/tickets/{}", ticket.0);
        let response =
            psa_http::send(self.request(reqwest::Method::GET, &path), readable_error).await?;
        response
            .json::<TicketView>()
            .await
            .map_err(|e| unexpected("ticket", e))
    }

    /// The ticket as the API returns it (with its custom fields), as a JSON object.
    pub async fn ticket_record(
        &self,
        ticket: RecordId,
    ) -> Result<serde_json::Map<String, Value>, PsaError> {
        let path = format!("/service/tickets/{}", ticket.0);
        let response =
            psa_http::send(self.request(reqwest::Method::GET, &path), readable_error).await?;
        match response.json::<Value>().await {
            Ok(Value::Object(record)) => Ok(record),
            Ok(_) => Err(PsaError::Unavailable(
                "the ticket read back is not a JSON object".into(),
            )),
            Err(e) => Err(unexpected("ticket", e)),
        }
    }

    pub async fn ticket_company(&self, ticket: RecordId) -> Result<CompanyRef, PsaError> {
        let view = self.ticket(ticket).await?;
        let id = view.company.map(|c| c.id);
        match id {
            Some(Value::Number(n)) => Ok(CompanyRef(n.to_string())),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(CompanyRef(s.trim().to_string())),
            _ => Err(PsaError::NotFound(format!(
                "ticket {} has no company",
                ticket.0
            ))),
        }
    }

    /// The company's `name` (`GET /company/companies/{id}`; the operation and its `Company`
    /// model as generated from ConnectWise's OpenAPI document:
    /// https://github.com/tjone270/pyconnectwise-psa/blob/main/docs/CompaniesApi.md).
    pub async fn company_name(&self, company: RecordId) -> Result<String, PsaError> {
        let path = format!("/company/companies/{}", company.0);
        let record: CompanyRecord =
            psa_http::send(self.request(reqwest::Method::GET, &path), readable_error)
                .await?
                .json()
                .await
                .map_err(|e| unexpected("company", e))?;
        record
            .name
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
            .ok_or_else(|| PsaError::NotFound(format!("company {} has no name", company.0)))
    }

    /// `primaryEmail` of the member whose identifier is `identifier` (what `MemberId` and
    /// `_info.updatedBy` carry).
    pub async fn member_email(&self, identifier: &str) -> Result<String, PsaError> {
        let identifier = identifier.trim();
        // The identifier goes inside a quoted `conditions` expression: refuse anything that
        // could close the quote or change the expression.
        if identifier.is_empty()
            || identifier.len() > 64
            || !identifier
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
        {
            return Err(PsaError::NotFound(format!(
                "{identifier:?} is not a ConnectWise member identifier"
            )));
        }
        let conditions = format!("identifier=\"{identifier}\"");
        let request = self
            .request(reqwest::Method::GET, "/system/members")
            .query(&[
                ("conditions", conditions.as_str()),
                ("fields", "identifier,primaryEmail"),
            ]);
        let members: Vec<MemberView> = psa_http::send(request, readable_error)
            .await?
            .json()
            .await
            .map_err(|e| unexpected("member list", e))?;
        members
            .into_iter()
            .filter_map(|m| m.primary_email)
            .map(|e| e.trim().to_string())
            .find(|e| !e.is_empty())
            .ok_or_else(|| {
                PsaError::NotFound(format!(
                    "no ConnectWise member {identifier} with a primary email"
                ))
            })
    }

    /// Put the ticket's trigger back to "not requested", so `Ok` means the trigger is clear
    /// (the app then re-arms the ticket).
    ///
    /// - Custom field: set back to false. ConnectWise replaces `customFields` as a whole on
    ///   PATCH (fields missing from the array may lose their value), so the ticket's full array
    ///   is read and sent back with only the trigger field changed. Nothing is sent if the
    ///   ticket lacks the field or it is already not set.
    /// - Status: jitgate does not move tickets between statuses (it cannot know which one is
    ///   right), so while the ticket is still in the trigger status this answers
    ///   [`PsaError::NotConfigured`] and the request stays latched until the ticket leaves it.
    pub async fn reset_trigger(
        &self,
        ticket: RecordId,
        rule: &TriggerRule,
    ) -> Result<(), PsaError> {
        let view = self.ticket(ticket).await?;
        if let Some(selector) = &rule.custom_field {
            self.clear_custom_field(ticket, view.custom_fields, selector)
                .await?;
        }
        if let Some(status) = &rule.status {
            let current = view.status.and_then(|s| s.name).unwrap_or_default();
            if current.trim().eq_ignore_ascii_case(status.trim()) {
                return Err(PsaError::NotConfigured(format!(
                    "ticket {} is still in the trigger status {status:?}; jitgate does not change \
                     statuses, so the request stays latched until the ticket leaves it",
                    ticket.0
                )));
            }
        }
        Ok(())
    }

    async fn clear_custom_field(
        &self,
        ticket: RecordId,
        mut fields: Vec<Value>,
        selector: &CustomFieldSelector,
    ) -> Result<(), PsaError> {
        let Some(field) = fields
            .iter_mut()
            .filter_map(Value::as_object_mut)
            .find(|f| {
                selector.matches(
                    f.get("id").and_then(Value::as_u64),
                    f.get("caption").and_then(Value::as_str),
                )
            })
        else {
            tracing::debug!(
                ticket = ticket.0,
                "trigger custom field not on the ticket; nothing to reset"
            );
            return Ok(());
        };
        if flag_state(
            field.get("value").unwrap_or(&Value::Null),
            &["true".to_string()],
        ) == FlagState::Unset
        {
            return Ok(());
        }
        field.insert("value".into(), Value::Bool(false));
        let patch = json!([{ "op": "replace", "path": "customFields", "value": fields }]);
        let path = format!("/service/tickets/{}", ticket.0);
        psa_http::send(
            self.request(reqwest::Method::PATCH, &path).json(&patch),
            readable_error,
        )
        .await?;
        Ok(())
    }
}

fn unexpected(what: &str, e: reqwest::Error) -> PsaError {
    PsaError::Rejected {
        status: 200,
        message: format!(
            "ConnectWise returned an unexpected {what} document: {}",
            e.without_url()
        ),
    }
}

/// ConnectWise error bodies: `{"code","message","errors":[{"code","message","field"}]|null}`,
/// and for 429 `{"error","message"}`. Neither echoes request credentials.
pub fn readable_error(body: &str) -> Option<String> {
    let v: Value = serde_json::from_str(body).ok()?;
    let message = v
        .get("message")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|m| !m.is_empty());
    let code = v
        .get("code")
        .or_else(|| v.get("error"))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|c| !c.is_empty());
    let details: Vec<String> = v
        .get("errors")
        .and_then(Value::as_array)
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| {
                    let msg = e.get("message").and_then(Value::as_str)?;
                    Some(match e.get("field").and_then(Value::as_str) {
                        Some(field) if !field.is_empty() => format!("{field}: {msg}"),
                        _ => msg.to_string(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let mut text = match (message, code) {
        (Some(m), Some(c)) => format!("{m} ({c})"),
        (Some(m), None) => m.to_string(),
        (None, Some(c)) => c.to_string(),
        (None, None) if details.is_empty() => return None,
        (None, None) => String::new(),
    };
    if !details.is_empty() {
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&details.join("; "));
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readable_errors() {
        assert_eq!(
            readable_error(r#"{"code":"Security","message":"SSL is required.","errors":null}"#)
                .unwrap(),
            "SSL is required. (Security)"
        );
        let invalid = r#"{"code":"InvalidObject","message":"serviceNote object is invalid","errors":[{"code":"InvalidField","message":"Please choose where to display the notes","resource":"serviceNote","field":"detailDescriptionFlag"}]}"#;
        assert_eq!(
            readable_error(invalid).unwrap(),
            "serviceNote object is invalid (InvalidObject): detailDescriptionFlag: Please choose where to display the notes"
        );
        assert_eq!(
            readable_error(r#"{"error":"ConnectWiseAPI","message":"Too many requests."}"#).unwrap(),
            "Too many requests. (ConnectWiseAPI)"
        );
        assert_eq!(readable_error("<html>"), None);
        assert_eq!(readable_error("{}"), None);
    }

    #[test]
    fn record_ids_are_positive_integers() {
        assert!(RecordId::parse("123").is_ok());
        for bad in ["", "0", "-1", "1/../2", "12a", "1 2"] {
            assert!(RecordId::parse(bad).is_err(), "{bad}");
        }
    }
}
