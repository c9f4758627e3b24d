//! The HaloPSA API client: client-credentials token (cached), actions, ticket and agent lookups,
//! custom-field updates. Halo documents no public API reference for these; the calls follow
//! Halo's own PowerShell module (homotechsual/HaloAPI, `Connect-HaloAPI.ps1`,
//! `New-HaloPOSTRequest.ps1`) and CIPP's Halo extension (KelvinTegelaar/CIPP-API,
//! `New-HaloPSATicket.ps1`, `Get-HaloToken.ps1`).

use super::settings::AuthServer;
use crate::outbound_url::join;
use crate::psa_http::send;
use crate::{PsaError, Secret};
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Per-call timeout. Calls run in jobs, never on the webhook path.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);
/// Refresh a token this long before Halo says it expires, so a call never races the expiry.
const TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// If Halo omits `expires_in`, assume a short life rather than a long one.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(300);

pub struct HaloClient {
    http: reqwest::Client,
    base: url::Url,
    auth_server: AuthServer,
    tenant: Option<String>,
    client_id: String,
    client_secret: Secret,
    /// One lock for discovery and the token: concurrent jobs wait for one token request instead
    /// of each starting their own.
    state: Mutex<TokenState>,
}

#[derive(Default)]
struct TokenState {
    /// The auth server's base URL once known (configured or discovered).
    auth_url: Option<String>,
    /// The `tenant_id` `/api/authinfo` published, used when no tenant is configured.
    discovered_tenant: Option<String>,
    token: Option<CachedToken>,
}

struct CachedToken {
    value: Secret,
    refresh_at: Instant,
}

impl HaloClient {
    pub fn new(
        http: reqwest::Client,
        base: url::Url,
        auth_server: AuthServer,
        tenant: Option<String>,
        client_id: String,
        client_secret: Secret,
    ) -> Self {
        HaloClient {
            http,
            base,
            auth_server,
            tenant,
            client_id,
            client_secret,
            state: Mutex::new(TokenState::default()),
        }
    }

    /// `POST /api/actions` with a one-element array: an internal note on the ticket.
    pub async fn add_action(
        &self,
        ticket_id: u64,
        outcome_id: u64,
        note_html: &str,
    ) -> Result<(), PsaError> {
        let body = json!([{
            "ticket_id": ticket_id,
            "outcome_id": outcome_id,
            // Internal: never shown to the end user in the portal or in emails.
            "hiddenfromuser": true,
            // And never emailed to anyone: an action can email the ticket's contacts, so the
            // flag is sent explicitly rather than left to the outcome's default (issue 15).
            "sendemail": false,
            "note_html": note_html,
        }]);
        let url = join(&self.base, "/api/actions");
        self.call(|http| http.post(&url).json(&body))
            .await
            .map(drop)
    }

    /// `GET /api/tickets/{id}?includedetails=true`.
    pub async fn ticket(&self, ticket_id: u64) -> Result<Value, PsaError> {
        let url = join(&self.base, &format!("/api/tickets/{ticket_id}"));
        let response = self
            .call(|http| http.get(&url).query(&[("includedetails", "true")]))
            .await?;
        json_body(response, "ticket").await
    }

    /// `GET /api/agent/{id}`.
    pub async fn agent(&self, agent_id: u64) -> Result<Value, PsaError> {
        let url = join(&self.base, &format!("/api/agent/{agent_id}"));
        let response = self.call(|http| http.get(&url)).await?;
        json_body(response, "agent").await
    }

    /// `GET /api/Client/{id}`, as Halo's module reads one client (`Get-HaloClient -ClientID`,
    /// https://github.com/homotechsual/HaloAPI/blob/main/Public/Get/Get-HaloClient.ps1).
    pub async fn client(&self, client_id: u64) -> Result<Value, PsaError> {
        let url = join(&self.base, &format!("/api/Client/{client_id}"));
        let response = self.call(|http| http.get(&url)).await?;
        json_body(response, "client").await
    }

    /// `POST /api/tickets` with a one-element array updating one custom field, addressed by id
    /// (the form `super::reset` explains).
    pub async fn set_custom_field(
        &self,
        ticket_id: u64,
        field_id: u64,
        value: Value,
    ) -> Result<(), PsaError> {
        let body = json!([{"id": ticket_id, "customfields": [{"id": field_id, "value": value}]}]);
        let url = join(&self.base, "/api/tickets");
        self.call(|http| http.post(&url).json(&body))
            .await
            .map(drop)
    }

    /// Send an authenticated request. A 401 means the cached token was revoked or expired early:
    /// it is dropped and the call is tried once more with a fresh token.
    pub(super) async fn call(
        &self,
        request: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, PsaError> {
        let mut retried = false;
        loop {
            let token = self.token().await?;
            let result = send(
                request(&self.http)
                    .timeout(CALL_TIMEOUT)
                    .bearer_auth(token.expose_secret()),
                readable_error,
            )
            .await;
            match result {
                Err(PsaError::Rejected { status: 401, .. }) if !retried => {
                    self.state.lock().await.token = None;
                    retried = true;
                }
                Err(PsaError::Rejected {
                    status: 401,
                    message,
                }) => {
                    return Err(PsaError::Rejected {
                        status: 401,
                        message: format!(
                            "{message} (the API application may lack permission, or its token is refused)"
                        ),
                    });
                }
                other => return other,
            }
        }
    }

    /// A valid bearer token, from the cache or a new client-credentials grant.
    async fn token(&self) -> Result<Secret, PsaError> {
        let mut state = self.state.lock().await;
        if let Some(token) = &state.token
            && Instant::now() < token.refresh_at
        {
            return Ok(token.value.clone());
        }
        let auth_url = match &state.auth_url {
            Some(url) => url.clone(),
            None => {
                let (url, tenant) = self.discover_auth_url().await?;
                state.auth_url = Some(url.clone());
                state.discovered_tenant = tenant;
                url
            }
        };
        let tenant = self.tenant.clone().or(state.discovered_tenant.clone());
        let token = self.request_token(&auth_url, tenant.as_deref()).await?;
        let value = token.value.clone();
        state.token = Some(token);
        Ok(value)
    }

    /// The auth server (configured, or the one `GET {base}/api/authinfo` names, or
    /// `{base}/auth`) and, when no tenant is configured, the `tenant_id` authinfo publishes:
    /// Halo's own API module sends that as `?tenant=` in the same case
    /// (https://github.com/homotechsual/HaloAPI/blob/main/Public/Connect-HaloAPI.ps1).
    async fn discover_auth_url(&self) -> Result<(String, Option<String>), PsaError> {
        let configured = match &self.auth_server {
            AuthServer::At(url) => Some(url.as_str().trim_end_matches('/').to_string()),
            _ => None,
        };
        if let (Some(url), Some(_)) = (&configured, &self.tenant) {
            return Ok((url.clone(), None));
        }
        let fallback = configured.unwrap_or_else(|| join(&self.base, "/auth"));
        let url = join(&self.base, "/api/authinfo");
        let response = match send(self.http.get(&url).timeout(CALL_TIMEOUT), readable_error).await {
            Ok(response) => response,
            // The server is there but has no discovery document: use the default layout.
            Err(PsaError::NotFound(_) | PsaError::Rejected { .. }) => return Ok((fallback, None)),
            // Down or throttled: try again later rather than caching a guess.
            Err(e) => return Err(e),
        };
        let info: Value = response.json().await.unwrap_or(Value::Null);
        let tenant = match info.get("tenant_id") {
            Some(Value::String(t)) if !t.trim().is_empty() => Some(t.trim().to_string()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        if matches!(self.auth_server, AuthServer::At(_)) {
            return Ok((fallback, tenant));
        }
        let auth_url = match info
            .get("auth_url")
            .and_then(Value::as_str)
            .map(crate::outbound_url::parse)
        {
            Some(Ok(auth)) => auth.as_str().trim_end_matches('/').to_string(),
            Some(Err(e)) => {
                tracing::warn!(error = %e, "halopsa: /api/authinfo names an unusable auth_url; using {{base}}/auth");
                fallback
            }
            None => fallback,
        };
        Ok((auth_url, tenant))
    }

    async fn request_token(
        &self,
        auth_url: &str,
        tenant: Option<&str>,
    ) -> Result<CachedToken, PsaError> {
        let mut request = self
            .http
            .post(format!("{auth_url}/token"))
            .timeout(CALL_TIMEOUT)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", self.client_id.as_str()),
                ("client_secret", self.client_secret.expose_secret()),
                ("scope", "all"),
            ]);
        if let Some(tenant) = tenant {
            request = request.query(&[("tenant", tenant)]);
        }
        let response = send(request, readable_error).await.map_err(|e| match e {
            PsaError::Rejected { status, message } => PsaError::Rejected {
                status,
                message: format!(
                    "token request refused: {message} (check client_id, client_secret and tenant, and that the API application uses client credentials with scope all)"
                ),
            },
            PsaError::NotFound(message) => PsaError::NotConfigured(format!(
                "the Halo auth server was not found at {auth_url}/token ({message}); set auth_url"
            )),
            other => other,
        })?;
        let body: Value = response.json().await.map_err(|e| {
            PsaError::Unavailable(format!("token response is not JSON: {}", e.without_url()))
        })?;
        let access_token = body
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| PsaError::Unavailable("token response lacks access_token".into()))?;
        let lifetime = body
            .get("expires_in")
            .and_then(|v| {
                v.as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            })
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_TOKEN_LIFETIME);
        // Short-lived tokens keep at least half their life; long ones lose the fixed margin.
        let usable = lifetime.saturating_sub(TOKEN_REFRESH_MARGIN.min(lifetime / 2));
        Ok(CachedToken {
            value: Secret::from(access_token),
            refresh_at: Instant::now() + usable,
        })
    }
}

async fn json_body(response: reqwest::Response, what: &str) -> Result<Value, PsaError> {
    response.json().await.map_err(|e| {
        PsaError::Unavailable(format!(
            "Halo answered the {what} request with something other than JSON: {}",
            e.without_url()
        ))
    })
}

/// Halo's error bodies come as a bare JSON string ("An Outcome must be entered for this
/// Action"), an object with a message (`message`, `Message`, OAuth's `error_description` /
/// `error`), or an array of such messages.
pub fn readable_error(body: &str) -> Option<String> {
    let value: Value = serde_json::from_str(body).ok()?;
    message_of(&value)
}

fn message_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Object(map) => [
            "error_description",
            "message",
            "Message",
            "error",
            "title",
            "detail",
        ]
        .iter()
        .find_map(|k| map.get(*k).and_then(message_of)),
        Value::Array(items) => {
            let messages: Vec<String> = items.iter().filter_map(message_of).collect();
            (!messages.is_empty()).then(|| messages.join("; "))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readable_errors() {
        assert_eq!(
            readable_error(r#""An Outcome must be entered for this Action""#).as_deref(),
            Some("An Outcome must be entered for this Action")
        );
        assert_eq!(
            readable_error(r#"{"error":"invalid_client","error_description":"bad client"}"#)
                .as_deref(),
            Some("bad client")
        );
        assert_eq!(readable_error(r#"{"Message":"No"}"#).as_deref(), Some("No"));
        assert_eq!(
            readable_error(r#"["a", {"message": "b"}]"#).as_deref(),
            Some("a; b")
        );
        assert_eq!(readable_error("<html>"), None);
    }
}
