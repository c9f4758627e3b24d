//! Sending one Graph request: bearer token, a fresh `client-request-id`, logging of Graph's
//! `request-id`, transient retries, and turning error answers into [`GraphError`]s.
//!
//! Bodies are never logged: some carry passwords.

use reqwest::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use crate::advice::{Needs, permission_denied};
use crate::client::GraphClient;
use crate::error::GraphError;
use crate::guid::new_guid;
use crate::net::{retry_after_header, transport_failure};
use crate::retry::{Step, retry_transient};
use crate::secret::{ExposeSecret as _, Secret};
use crate::tenant::Tenant;

/// Times one call is sent when Graph keeps answering 429 with short waits.
pub(crate) const THROTTLED_TRIES: u32 = 3;

/// What to send, and how to describe it in errors. Sent alone with [`GraphClient::send`] or
/// with others in one round trip with [`GraphClient::send_batch`].
pub(crate) struct Call {
    /// Human name of the operation ("create user"), used in messages and logs.
    pub operation: &'static str,
    /// The permission family it needs, for 403 advice.
    pub needs: Needs,
    pub method: Method,
    /// The full URL, query included ([`with_query`]).
    pub url: Url,
    pub body: Option<Value>,
}

/// `url` with `pairs` appended to its query, percent-encoded.
pub(crate) fn with_query(mut url: Url, pairs: &[(&str, &str)]) -> Url {
    url.query_pairs_mut().extend_pairs(pairs);
    url
}

/// Graph's list envelope `{"value": [...]}` (first page; jitgate's lists are short).
#[derive(Deserialize)]
pub(crate) struct Collection<T> {
    pub value: Vec<T>,
}

/// Quotes a value as an OData string literal (`'` doubles), for `$filter`.
pub(crate) fn odata_string(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// A non-throttled, non-5xx answer.
pub(crate) struct Reply {
    pub status: u16,
    pub request_id: Option<String>,
    pub body: Vec<u8>,
    operation: &'static str,
    needs: Needs,
}

/// Graph's error body `{"error":{"code","message","details":[{"code","target"}]}}`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct GraphErrorBody {
    #[serde(default)]
    pub error: GraphErrorDetail,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct GraphErrorDetail {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub details: Vec<GraphErrorItem>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct GraphErrorItem {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub target: String,
}

impl Reply {
    /// The answer to `call` (from a batch: the transport made none itself).
    pub(crate) fn answered(
        call: &Call,
        status: u16,
        request_id: Option<String>,
        body: Vec<u8>,
    ) -> Reply {
        Reply {
            status,
            request_id,
            body,
            operation: call.operation,
            needs: call.needs,
        }
    }

    pub(crate) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub(crate) fn error_body(&self) -> GraphErrorDetail {
        serde_json::from_slice::<GraphErrorBody>(&self.body)
            .map(|b| b.error)
            .unwrap_or_default()
    }

    /// The body as `T`, or a [`GraphError::Protocol`].
    pub(crate) fn json<T: DeserializeOwned>(&self) -> Result<T, GraphError> {
        serde_json::from_slice(&self.body).map_err(|e| GraphError::Protocol {
            operation: self.operation,
            detail: format!("HTTP {} body does not parse: {e}", self.status),
            request_id: self.request_id.clone(),
        })
    }

    /// `Ok` for a 2xx, else the matching [`GraphError`] (for calls whose answer has no body
    /// worth reading).
    pub(crate) fn done(self, tenant: &Tenant) -> Result<(), GraphError> {
        self.success(tenant).map(|_| ())
    }

    /// The reply if it is a 2xx, else the matching [`GraphError`].
    pub(crate) fn success(self, tenant: &Tenant) -> Result<Reply, GraphError> {
        if self.is_success() {
            Ok(self)
        } else {
            Err(self.into_error(tenant))
        }
    }

    pub(crate) fn into_error(self, tenant: &Tenant) -> GraphError {
        let detail = self.error_body();
        match self.status {
            403 => GraphError::PermissionDenied {
                operation: self.operation,
                tenant_id: tenant.tenant_id.clone(),
                message: permission_denied(
                    self.operation,
                    self.needs,
                    &tenant.tenant_id,
                    &detail.code,
                ),
                code: detail.code,
                request_id: self.request_id,
            },
            401 => GraphError::TokenRefused {
                tenant_id: tenant.tenant_id.clone(),
                error: detail.code.clone(),
                aadsts: None,
                message: format!(
                    "Microsoft Graph rejected a freshly issued token for tenant '{}' during {} \
                     ({}: {}). Check that jitgate's Graph URL and login URL belong to the same \
                     Microsoft cloud{}.",
                    tenant.tenant_id,
                    self.operation,
                    detail.code,
                    detail.message,
                    self.request_id
                        .as_deref()
                        .map(|id| format!(" (request-id {id})"))
                        .unwrap_or_default()
                ),
                trace_id: None,
            },
            status => GraphError::Rejected {
                operation: self.operation,
                status,
                code: if detail.code.is_empty() {
                    "unknown".to_string()
                } else {
                    detail.code
                },
                message: detail.message,
                request_id: self.request_id,
            },
        }
    }
}

impl GraphClient {
    /// Sends `call` for `tenant`. Returns 2xx and 4xx answers (other than 429) as a
    /// [`Reply`]; 5xx and network failures after the policy's attempts as
    /// [`GraphError::Transient`]. A 401 drops the cached token and is retried once with a new
    /// one.
    ///
    /// The call waits for a slot of its tenant and of the process ([`crate::Concurrency`]). A
    /// 429 marks the tenant throttled for its `Retry-After`: a wait up to the policy's
    /// `max_inline_wait` is waited here, holding no slot, and the call is sent again (at most
    /// [`THROTTLED_TRIES`] times); a longer one is returned as [`GraphError::Throttled`] for the
    /// job to be rescheduled, without another request to the throttled tenant.
    pub(crate) async fn send(&self, tenant: &Tenant, call: &Call) -> Result<Reply, GraphError> {
        let mut refreshed = false;
        let mut throttled = 0;
        loop {
            self.wait_while_throttled(tenant, call).await?;
            let permit = self.inner.limits.acquire(&tenant.tenant_id).await;
            let token = self.access_token(tenant).await?;
            let outcome =
                retry_transient(&self.inner.retry, || self.attempt(tenant, &token, call)).await;
            drop(permit);
            match outcome {
                Err(error @ GraphError::Throttled { retry_after, .. }) => {
                    self.inner.limits.throttled(&tenant.tenant_id, retry_after);
                    throttled += 1;
                    if retry_after > self.inner.retry.max_inline_wait
                        || throttled >= THROTTLED_TRIES
                    {
                        return Err(error);
                    }
                }
                Ok(reply) if reply.status == 401 && !refreshed => {
                    tracing::debug!(
                        operation = call.operation,
                        "Graph answered 401; requesting a new token"
                    );
                    self.inner.tokens.invalidate(tenant, &token).await;
                    refreshed = true;
                }
                other => return other,
            }
        }
    }

    /// Waits out the tenant's throttling if it ends within the policy's inline wait; otherwise
    /// the call is not sent at all.
    async fn wait_while_throttled(&self, tenant: &Tenant, call: &Call) -> Result<(), GraphError> {
        let Some(left) = self.inner.limits.throttled_for(&tenant.tenant_id) else {
            return Ok(());
        };
        if left > self.inner.retry.max_inline_wait {
            return Err(GraphError::Throttled {
                operation: call.operation,
                retry_after: left,
                request_id: None,
            });
        }
        tracing::debug!(
            operation = call.operation,
            tenant_id = %tenant.tenant_id,
            wait_ms = left.as_millis() as u64,
            "waiting out Graph's throttling of the tenant"
        );
        tokio::time::sleep(left).await;
        Ok(())
    }

    async fn attempt(&self, tenant: &Tenant, token: &Secret, call: &Call) -> Step<Reply> {
        let client_request_id = new_guid();
        let mut request = self
            .inner
            .http
            .request(call.method.clone(), call.url.clone())
            .bearer_auth(token.expose_secret())
            .header("client-request-id", &client_request_id);
        if let Some(body) = &call.body {
            request = request.json(body);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => return transport_failure(call.operation, &error),
        };
        let status = response.status().as_u16();
        let request_id = response
            .headers()
            .get("request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let retry_after = retry_after_header(response.headers());
        let body = match response.bytes().await {
            Ok(body) => body.to_vec(),
            Err(error) => return transport_failure(call.operation, &error),
        };
        tracing::debug!(
            operation = call.operation,
            tenant_id = %tenant.tenant_id,
            method = %call.method,
            path = call.url.path(),
            status,
            request_id = request_id.as_deref().unwrap_or(""),
            client_request_id = %client_request_id,
            "Microsoft Graph answered"
        );
        let reply = Reply {
            status,
            request_id,
            body,
            operation: call.operation,
            needs: call.needs,
        };
        if status == 429 {
            return Step::Done(Err(GraphError::Throttled {
                operation: call.operation,
                retry_after: retry_after.unwrap_or(self.inner.retry.default_throttle_wait),
                request_id: reply.request_id,
            }));
        }
        if status >= 500 {
            let detail = reply.error_body();
            return Step::Retry {
                error: GraphError::Transient {
                    operation: call.operation,
                    detail: format!("HTTP {status} {}", detail.code)
                        .trim_end()
                        .to_string(),
                    retry_after,
                    request_id: reply.request_id,
                },
                server_wait: retry_after,
            };
        }
        Step::Done(Ok(reply))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odata_literals_escape_quotes() {
        assert_eq!(odata_string("o'neil@x.example"), "'o''neil@x.example'");
    }
}
