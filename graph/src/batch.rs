//! JSON batching: up to 20 independent Graph requests in one round trip
//! (https://learn.microsoft.com/graph/json-batching).
//!
//! Graph may run the requests of a batch in any order, in parallel, and answers them in any
//! order, each with its own status; a request that needs another to have run first cannot be
//! batched with it here (this module sends no `dependsOn`). Each inner answer becomes exactly
//! what the call would have answered alone: a [`Reply`], or [`GraphError::Throttled`] for a
//! 429 (which marks the tenant throttled; a short `Retry-After` is waited out and those
//! requests sent again, as for a call alone) and [`GraphError::Transient`] for a 5xx, which
//! the caller treats as that one call failing.

use std::collections::HashMap;

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::client::GraphClient;
use crate::error::GraphError;
use crate::net::retry_after_value;
use crate::tenant::Tenant;
use crate::transport::{Call, Reply, THROTTLED_TRIES};

/// Requests one batch may carry (Graph's limit).
pub(crate) const MAX_BATCH: usize = 20;

#[derive(Deserialize)]
struct BatchAnswer {
    responses: Vec<InnerAnswer>,
}

#[derive(Deserialize)]
struct InnerAnswer {
    id: String,
    status: u16,
    #[serde(default)]
    headers: HashMap<String, String>,
    #[serde(default)]
    body: Option<Value>,
}

impl GraphClient {
    /// Sends `calls`, which must not depend on each other, in one `$batch` round trip (one
    /// call alone is sent as it is). The answers come back in the order of `calls`. Inner
    /// requests answered 429 with a short `Retry-After` are sent again once it has passed, as
    /// [`GraphClient::send`] does for a call alone. `Err` when the batch as a whole failed:
    /// then none of the calls may be assumed to have run.
    pub(crate) async fn send_batch(
        &self,
        tenant: &Tenant,
        calls: &[Call],
    ) -> Result<Vec<Result<Reply, GraphError>>, GraphError> {
        assert!(
            calls.len() <= MAX_BATCH,
            "a batch carries at most {MAX_BATCH} requests"
        );
        if calls.is_empty() {
            return Ok(Vec::new());
        }
        let mut outcomes: Vec<Option<Result<Reply, GraphError>>> =
            calls.iter().map(|_| None).collect();
        let mut pending: Vec<usize> = (0..calls.len()).collect();
        for round in 1..=THROTTLED_TRIES {
            let mut again = Vec::new();
            for (index, outcome) in self.send_batch_once(tenant, calls, &pending).await? {
                match &outcome {
                    Err(GraphError::Throttled { retry_after, .. })
                        if *retry_after <= self.inner.retry.max_inline_wait
                            && round < THROTTLED_TRIES =>
                    {
                        again.push(index)
                    }
                    _ => outcomes[index] = Some(outcome),
                }
            }
            if again.is_empty() {
                break;
            }
            // The next send waits until the tenant's throttling has passed.
            pending = again;
        }
        Ok(outcomes
            .into_iter()
            .map(|outcome| outcome.expect("every call was answered"))
            .collect())
    }

    /// One round trip with the calls at `indexes`; their answers by index.
    async fn send_batch_once(
        &self,
        tenant: &Tenant,
        calls: &[Call],
        indexes: &[usize],
    ) -> Result<Vec<(usize, Result<Reply, GraphError>)>, GraphError> {
        if let [index] = indexes {
            return Ok(vec![(*index, self.send(tenant, &calls[*index]).await)]);
        }
        let requests: Vec<Value> = indexes
            .iter()
            .map(|&index| inner_request(index, &calls[index]))
            .collect();
        let first = &calls[indexes[0]];
        let batch = Call {
            operation: first.operation,
            needs: first.needs,
            method: Method::POST,
            url: self.v1(&["$batch"]),
            body: Some(json!({ "requests": requests })),
        };
        let reply = self.send(tenant, &batch).await?.success(tenant)?;
        let batch_request_id = reply.request_id.clone();
        let mut answers: HashMap<String, InnerAnswer> = reply
            .json::<BatchAnswer>()?
            .responses
            .into_iter()
            .map(|answer| (answer.id.clone(), answer))
            .collect();
        Ok(indexes
            .iter()
            .map(|&index| {
                let call = &calls[index];
                let outcome = match answers.remove(&index.to_string()) {
                    Some(answer) => self.inner_outcome(tenant, call, answer, &batch_request_id),
                    None => Err(GraphError::Protocol {
                        operation: call.operation,
                        detail: format!("the $batch answer has no response with id {index}"),
                        request_id: batch_request_id.clone(),
                    }),
                };
                (index, outcome)
            })
            .collect())
    }

    fn inner_outcome(
        &self,
        tenant: &Tenant,
        call: &Call,
        answer: InnerAnswer,
        batch_request_id: &Option<String>,
    ) -> Result<Reply, GraphError> {
        let header = |name: &str| {
            answer
                .headers
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, value)| value.as_str())
        };
        let request_id = header("request-id")
            .map(str::to_string)
            .or_else(|| batch_request_id.clone());
        let retry_after = header("retry-after").and_then(retry_after_value);
        if answer.status == 429 {
            let retry_after = retry_after.unwrap_or(self.inner.retry.default_throttle_wait);
            self.inner.limits.throttled(&tenant.tenant_id, retry_after);
            return Err(GraphError::Throttled {
                operation: call.operation,
                retry_after,
                request_id,
            });
        }
        let body = match &answer.body {
            Some(body) => serde_json::to_vec(body).expect("a JSON value serializes"),
            None => Vec::new(),
        };
        let reply = Reply::answered(call, answer.status, request_id, body);
        if answer.status >= 500 {
            let code = reply.error_body().code;
            return Err(GraphError::Transient {
                operation: call.operation,
                detail: format!("HTTP {} {code} (inside a batch)", answer.status)
                    .trim_end()
                    .to_string(),
                retry_after,
                request_id: reply.request_id,
            });
        }
        Ok(reply)
    }
}

/// One request of the batch: `url` relative to the version segment, as Graph requires.
fn inner_request(index: usize, call: &Call) -> Value {
    let path = call.url.path();
    let relative = path
        .find("/v1.0/")
        .map_or(path, |at| &path[at + "/v1.0".len()..]);
    let url = match call.url.query() {
        Some(query) => format!("{relative}?{query}"),
        None => relative.to_string(),
    };
    let mut request = json!({
        "id": index.to_string(),
        "method": call.method.as_str(),
        "url": url,
    });
    if let Some(body) = &call.body {
        request["body"] = body.clone();
        request["headers"] = json!({ "Content-Type": "application/json" });
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advice::Needs;

    #[test]
    fn inner_urls_are_relative_to_the_version_and_keep_their_query() {
        let call = Call {
            operation: "read user",
            needs: Needs::ReadUsers,
            method: Method::PATCH,
            url: url::Url::parse("https://graph.example/root/v1.0/users/a%2Fb?%24select=id")
                .unwrap(),
            body: Some(json!({ "accountEnabled": false })),
        };
        let request = inner_request(3, &call);
        assert_eq!(request["id"], "3");
        assert_eq!(request["method"], "PATCH");
        assert_eq!(request["url"], "/users/a%2Fb?%24select=id");
        assert_eq!(request["headers"]["Content-Type"], "application/json");
    }
}
