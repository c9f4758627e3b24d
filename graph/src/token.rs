//! App-only access tokens (client credentials), cached per tenant with one refresh in flight.
//!
//! Entra issues no refresh token in this flow, so a token is simply requested again shortly
//! before `expires_in` runs out (Microsoft identity platform, client credentials flow:
//! https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow).
//! Each (tenant, client, credential) has its own async lock:
//! concurrent callers for one tenant wait for the single request in flight instead of all
//! asking Entra, and tenants never wait for each other. When that request fails, the callers
//! that were already waiting get the same error rather than each retrying it.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use url::Url;

use crate::advice::{RETRYABLE_AADSTS, TokenErrorBody, token_refusal};

use crate::error::GraphError;
use crate::guid::new_guid;
use crate::net::{retry_after_header, transport_failure};
use crate::retry::{RetryPolicy, Step, retry_transient};
use crate::secret::{ExposeSecret as _, Secret};
use crate::tenant::Tenant;

const OPERATION: &str = "token request";

/// Refresh this long before expiry (capped at a quarter of the lifetime for short tokens).
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// One lock per (tenant id, client id) lower-cased, and a fingerprint of the credential (the
/// secret's hash, the certificate's thumbprint): a token is only ever reused with the
/// credential it was issued for, so a wrong one never rides on a token the right one obtained.
type Slots = HashMap<(String, String, [u8; 32]), Arc<tokio::sync::Mutex<Slot>>>;

#[derive(Default)]
pub(crate) struct TokenCache {
    slots: Mutex<Slots>,
}

#[derive(Default)]
struct Slot {
    token: Option<CachedToken>,
    /// When the last refresh failed, and how.
    last_failure: Option<(Instant, GraphError)>,
}

struct CachedToken {
    token: Secret,
    refresh_at: Instant,
}

impl TokenCache {
    fn slot(&self, tenant: &Tenant) -> Arc<tokio::sync::Mutex<Slot>> {
        let key = (
            tenant.tenant_id.to_ascii_lowercase(),
            tenant.client_id.to_ascii_lowercase(),
            tenant.credential.fingerprint(),
        );
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.entry(key).or_default().clone()
    }

    /// Forgets `used` if it is still the cached token (Graph answered 401 to it).
    pub(crate) async fn invalidate(&self, tenant: &Tenant, used: &Secret) {
        let slot = self.slot(tenant);
        let mut slot = slot.lock().await;
        if slot
            .token
            .as_ref()
            .is_some_and(|c| c.token.expose_secret() == used.expose_secret())
        {
            slot.token = None;
        }
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: ExpiresIn,
}

/// v2.0 sends a number; older endpoints sent a string.
#[derive(Deserialize)]
#[serde(untagged)]
enum ExpiresIn {
    Number(u64),
    Text(String),
}

impl ExpiresIn {
    fn seconds(&self) -> Option<u64> {
        match self {
            ExpiresIn::Number(n) => Some(*n),
            ExpiresIn::Text(t) => t.parse().ok(),
        }
    }
}

fn refresh_delay(expires_in: Duration) -> Duration {
    expires_in.saturating_sub(REFRESH_MARGIN.min(expires_in / 4))
}

/// Where tokens come from: the token endpoint of one tenant, the Graph scope asked for, and the
/// client and retry policy to ask with.
pub(crate) struct TokenEndpoint<'a> {
    pub http: &'a reqwest::Client,
    /// `<login_url>/<tenant>/oauth2/v2.0/token`.
    pub url: Url,
    pub scope: &'a str,
    pub retry: &'a RetryPolicy,
}

impl TokenCache {
    /// A valid access token for `tenant`, from the cache or freshly requested from `endpoint`.
    pub(crate) async fn access_token(
        &self,
        endpoint: &TokenEndpoint<'_>,
        tenant: &Tenant,
    ) -> Result<Secret, GraphError> {
        let slot = self.slot(tenant);
        let waiting_since = Instant::now();
        let mut slot = slot.lock().await;
        if let Some(cached) = &slot.token
            && Instant::now() < cached.refresh_at
        {
            return Ok(cached.token.clone());
        }
        if let Some((failed_at, error)) = &slot.last_failure
            && *failed_at >= waiting_since
        {
            return Err(error.clone());
        }
        let requested_at = Instant::now();
        match request_token(endpoint, tenant).await {
            Ok((token, expires_in)) => {
                slot.token = Some(CachedToken {
                    token: token.clone(),
                    refresh_at: requested_at + refresh_delay(expires_in),
                });
                slot.last_failure = None;
                Ok(token)
            }
            Err(error) => {
                slot.token = None;
                slot.last_failure = Some((Instant::now(), error.clone()));
                Err(error)
            }
        }
    }
}

async fn request_token(
    endpoint: &TokenEndpoint<'_>,
    tenant: &Tenant,
) -> Result<(Secret, Duration), GraphError> {
    retry_transient(endpoint.retry, || async {
        let form = match token_form(endpoint, tenant) {
            Ok(form) => form,
            Err(error) => return Step::Done(Err(error)),
        };
        let client_request_id = new_guid();
        let sent = endpoint
            .http
            .post(endpoint.url.clone())
            .header("client-request-id", &client_request_id)
            .form(&form)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(error) => return transport_failure(OPERATION, &error),
        };
        let status = response.status().as_u16();
        let retry_after = retry_after_header(response.headers());
        let body = match response.bytes().await {
            Ok(body) => body,
            Err(error) => return transport_failure(OPERATION, &error),
        };
        tracing::debug!(
            operation = OPERATION,
            tenant_id = %tenant.tenant_id,
            status,
            client_request_id = %client_request_id,
            "Entra token endpoint answered"
        );
        token_step(
            tenant,
            status,
            retry_after,
            &body,
            endpoint.retry.default_throttle_wait,
        )
    })
    .await
}

/// The client-credentials form: the secret, or a client assertion made now (never reused, so
/// a retry carries a fresh `jti` and times) with `aud` the exact token URL
/// (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow,
/// "Second case: Access token request with a certificate"). Never both.
fn token_form<'a>(
    endpoint: &'a TokenEndpoint<'_>,
    tenant: &'a Tenant,
) -> Result<Vec<(&'static str, Cow<'a, str>)>, GraphError> {
    let mut form = vec![
        ("client_id", Cow::from(tenant.client_id.as_str())),
        ("scope", Cow::from(endpoint.scope)),
        ("grant_type", Cow::from("client_credentials")),
    ];
    let authentication = tenant
        .credential
        .authentication_form(endpoint.url.as_str(), &tenant.client_id)?;
    form.extend(authentication.into_iter().map(|(k, v)| (k, Cow::from(v))));
    Ok(form)
}

fn token_step(
    tenant: &Tenant,
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
    default_throttle_wait: Duration,
) -> Step<(Secret, Duration)> {
    if status == 200 {
        let parsed: Result<TokenResponse, _> = serde_json::from_slice(body);
        return Step::Done(match parsed {
            Ok(t) => match t.expires_in.seconds() {
                Some(secs) => Ok((Secret::from(t.access_token), Duration::from_secs(secs))),
                None => Err(protocol("expires_in is not a number")),
            },
            Err(e) => Err(protocol(&format!("token response is not valid JSON: {e}"))),
        });
    }
    if status == 429 {
        return Step::Done(Err(GraphError::Throttled {
            operation: OPERATION,
            retry_after: retry_after.unwrap_or(default_throttle_wait),
            request_id: None,
        }));
    }
    let error_body: TokenErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let code = error_body.error_codes.first().copied();
    let retryable_code = code.is_some_and(|c| RETRYABLE_AADSTS.contains(&c));
    if status >= 500 || retryable_code {
        return Step::Retry {
            error: GraphError::Transient {
                operation: OPERATION,
                detail: format!(
                    "Entra ID answered HTTP {status}{}",
                    code.map(|c| format!(" (AADSTS{c})")).unwrap_or_default()
                ),
                retry_after,
                request_id: error_body.trace_id.clone(),
            },
            server_wait: retry_after,
        };
    }
    Step::Done(Err(token_refusal(tenant, &error_body, status)))
}

fn protocol(detail: &str) -> GraphError {
    GraphError::Protocol {
        operation: OPERATION,
        detail: detail.to_string(),
        request_id: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_happens_before_expiry() {
        assert_eq!(
            refresh_delay(Duration::from_secs(3599)),
            Duration::from_secs(3299)
        );
        assert_eq!(
            refresh_delay(Duration::from_secs(4)),
            Duration::from_secs(3)
        );
        assert_eq!(refresh_delay(Duration::ZERO), Duration::ZERO);
    }
}
