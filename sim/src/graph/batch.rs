//! JSON batching: `POST /v1.0/$batch`
//! (https://learn.microsoft.com/graph/json-batching).
//!
//! Each request of a batch is dispatched through the simulator's own router with the batch's
//! authorization, so every rule of the simulator (and the pace, one request at a time)
//! applies inside a batch exactly as outside it.

use tower::ServiceExt as _;

use super::*;

pub(super) const BATCH_PATH: &str = "/v1.0/$batch";

/// "JSON batch requests are currently limited to 20 individual requests."
const MAX_BATCH_REQUESTS: usize = 20;

/// Marks a request the batch handler dispatches: no latency of its own, logged as batched.
#[derive(Debug, Clone, Copy)]
pub(super) struct BatchedRequest;

/// One validated request of a batch.
struct BatchItem {
    id: String,
    method: Method,
    /// Path and query under `/v1.0`, e.g. `/users/{id}?$select=id`.
    target: String,
    headers: Vec<(String, String)>,
    body: Option<Value>,
    /// Indexes of the items this one waits for (always earlier ones).
    depends_on: Vec<usize>,
}

/// One answer of a batch, before it is rendered.
struct BatchAnswer {
    id: String,
    status: u16,
    headers: Map<String, Value>,
    body: Option<Value>,
}

impl BatchAnswer {
    fn succeeded(&self) -> bool {
        (200..300).contains(&self.status)
    }

    fn render(self) -> Value {
        let mut answer = json!({
            "id": self.id,
            "status": self.status,
            "headers": self.headers,
        });
        if let Some(body) = self.body {
            answer["body"] = body;
        }
        answer
    }
}

pub(super) async fn batch(
    State(app): State<Shared>,
    Extension(ids): Extension<RequestIds>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // The batch itself needs a valid bearer like any call; its requests then run with it.
    if let Err(response) = authenticate(&app.lock(), &headers, &ids) {
        return response;
    }
    let items = match parse_batch(&body, &ids) {
        Ok(items) => items,
        Err(response) => return response,
    };
    let authorization = headers.get(header::AUTHORIZATION).cloned();
    // A router of its own (cheap: handlers and state are shared) rather than one kept in the
    // state, which would hold the state that holds it.
    let inner = router(app.clone());
    let mut answers: Vec<BatchAnswer> = Vec::with_capacity(items.len());
    for item in &items {
        let answer = if item.depends_on.iter().all(|&i| answers[i].succeeded()) {
            run_item(&inner, item, authorization.as_ref()).await
        } else {
            app.lock().batched_requests += 1;
            failed_dependency(item)
        };
        answers.push(answer);
    }
    // "Individual responses might appear in a different order than the requests": answering
    // in reverse keeps clients from relying on the order.
    let responses: Vec<Value> = answers.into_iter().rev().map(BatchAnswer::render).collect();
    json_response(StatusCode::OK, json!({ "responses": responses }))
}

/// Runs one request through the router, as if it had come on its own.
async fn run_item(
    inner: &Router,
    item: &BatchItem,
    authorization: Option<&HeaderValue>,
) -> BatchAnswer {
    let mut builder = Request::builder()
        .method(item.method.clone())
        .uri(format!("/v1.0{}", item.target));
    // The batch's own authorization applies to every request in it.
    for (name, value) in &item.headers {
        if !name.eq_ignore_ascii_case("authorization") {
            builder = builder.header(name.as_str(), value.as_str());
        }
    }
    if let Some(authorization) = authorization {
        builder = builder.header(header::AUTHORIZATION, authorization.clone());
    }
    let body = item
        .body
        .as_ref()
        .map(|b| b.to_string())
        .unwrap_or_default();
    let mut request = builder
        .body(axum::body::Body::from(body))
        .expect("validated batch request");
    request.extensions_mut().insert(BatchedRequest);
    let response = inner
        .clone()
        .oneshot(request)
        .await
        .unwrap_or_else(|never| match never {});
    answer_from(&item.id, response).await
}

async fn answer_from(id: &str, response: Response) -> BatchAnswer {
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .filter(|(name, _)| *name != header::CONTENT_LENGTH)
        .filter_map(|(name, value)| {
            let value = value.to_str().ok()?;
            Some((batch_header_name(name.as_str()), Value::from(value)))
        })
        .collect();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    let body = (!bytes.is_empty()).then(|| {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::from(String::from_utf8_lossy(&bytes).into_owned()))
    });
    BatchAnswer {
        id: id.to_string(),
        status,
        headers,
        body,
    }
}

/// Inner headers spelled as Graph's batch answers show them (`Content-Type`, `Retry-After`);
/// Graph's own headers stay lower case. Clients should compare names case-insensitively.
fn batch_header_name(name: &str) -> String {
    match name {
        "content-type" => "Content-Type".into(),
        "retry-after" => "Retry-After".into(),
        "location" => "Location".into(),
        "cache-control" => "Cache-Control".into(),
        other => other.to_string(),
    }
}

/// "If an individual request fails, any request that depends on that request fails with
/// status code 424 (Failed Dependency)." The page shows no body for it; this one uses
/// Graph's error shape.
fn failed_dependency(item: &BatchItem) -> BatchAnswer {
    let request_id = new_guid();
    let ids = RequestIds {
        request_id: request_id.clone(),
        client_request_id: request_id,
    };
    let body = graph_error_body(
        "FailedDependency",
        "The request was not run: a request it depends on failed.",
        &ids,
        None,
    );
    let mut headers = Map::new();
    headers.insert("Content-Type".into(), Value::from("application/json"));
    BatchAnswer {
        id: item.id.clone(),
        status: 424,
        headers,
        body: Some(body),
    }
}

/// Validates the whole batch first: a malformed batch is refused with 400 and runs nothing
/// ("If the batch request itself is malformed, the status code is 400").
fn parse_batch(body: &Bytes, ids: &RequestIds) -> Result<Vec<BatchItem>, Response> {
    let refuse =
        |message: String| graph_error(StatusCode::BAD_REQUEST, "BadRequest", &message, ids);
    let batch = json_object(body, ids)?;
    let Some(Value::Array(requests)) = batch.get("requests") else {
        return Err(refuse(
            "The batch request body must be a JSON object with a 'requests' array.".into(),
        ));
    };
    if requests.is_empty() {
        return Err(refuse("The batch request contains no requests.".into()));
    }
    if requests.len() > MAX_BATCH_REQUESTS {
        return Err(refuse(format!(
            "The batch request contains {} requests; at most {MAX_BATCH_REQUESTS} are allowed.",
            requests.len()
        )));
    }
    let mut items: Vec<BatchItem> = Vec::with_capacity(requests.len());
    for request in requests {
        let item = parse_item(request, &items).map_err(refuse)?;
        items.push(item);
    }
    Ok(items)
}

fn parse_item(request: &Value, earlier: &[BatchItem]) -> Result<BatchItem, String> {
    let Some(request) = request.as_object() else {
        return Err("Each request of a batch must be a JSON object.".into());
    };
    // "Required. String. … Not case-sensitive. Must be unique in the batch."
    let id = match request.get("id") {
        Some(Value::String(id)) if !id.trim().is_empty() => id.clone(),
        _ => return Err("Each request of a batch needs a string 'id'.".into()),
    };
    if earlier.iter().any(|e| e.id.eq_ignore_ascii_case(&id)) {
        return Err(format!(
            "The batch contains the request id '{id}' more than once."
        ));
    }
    let method = parse_method(request.get("method"), &id)?;
    let target = parse_url(request.get("url"), &id)?;
    let headers = parse_headers(request.get("headers"), &id)?;
    let body = request.get("body").filter(|b| !b.is_null()).cloned();
    if body.is_some() {
        check_body_content_type(&headers, &id)?;
    }
    let depends_on = parse_depends_on(request.get("dependsOn"), earlier, &id)?;
    Ok(BatchItem {
        id,
        method,
        target,
        headers,
        body,
        depends_on,
    })
}

fn parse_method(method: Option<&Value>, id: &str) -> Result<Method, String> {
    let name = method.and_then(Value::as_str).unwrap_or("");
    match name.to_ascii_uppercase().as_str() {
        "GET" => Ok(Method::GET),
        "POST" => Ok(Method::POST),
        "PATCH" => Ok(Method::PATCH),
        "PUT" => Ok(Method::PUT),
        "DELETE" => Ok(Method::DELETE),
        _ => Err(format!("Request '{id}' has no valid 'method'.")),
    }
}

/// "The relative resource URL for the individual request": `/users` for
/// `https://graph.microsoft.com/v1.0/users` (the page's own example also omits the slash).
/// Absolute URLs are refused. Spaces and other characters a URL cannot carry raw (the page's
/// `$filter=city eq null`) are percent-encoded.
fn parse_url(url: Option<&Value>, id: &str) -> Result<String, String> {
    let Some(url) = url.and_then(Value::as_str).filter(|u| !u.trim().is_empty()) else {
        return Err(format!("Request '{id}' has no 'url'."));
    };
    if url.contains("://") {
        return Err(format!(
            "Request '{id}': the url must be relative to the version, like '/users', not absolute."
        ));
    }
    let relative = if url.starts_with('/') {
        url.to_string()
    } else {
        format!("/{url}")
    };
    let target = encode_loose_url(&relative);
    if target == "/$batch" || target.starts_with("/$batch?") {
        return Err(format!("Request '{id}': a batch cannot contain a batch."));
    }
    if format!("/v1.0{target}").parse::<axum::http::Uri>().is_err() {
        return Err(format!("Request '{id}' has an invalid url."));
    }
    Ok(target)
}

fn encode_loose_url(url: &str) -> String {
    let mut encoded = String::with_capacity(url.len());
    for c in url.chars() {
        if c.is_ascii_graphic()
            && !matches!(c, '"' | '<' | '>' | '\\' | '^' | '`' | '{' | '|' | '}')
        {
            encoded.push(c);
        } else {
            let mut buf = [0u8; 4];
            for byte in c.encode_utf8(&mut buf).bytes() {
                encoded.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    encoded
}

fn parse_headers(headers: Option<&Value>, id: &str) -> Result<Vec<(String, String)>, String> {
    let Some(headers) = headers.filter(|h| !h.is_null()) else {
        return Ok(Vec::new());
    };
    let Some(headers) = headers.as_object() else {
        return Err(format!("Request '{id}': 'headers' must be a JSON object."));
    };
    headers
        .iter()
        .map(|(name, value)| {
            let value = value
                .as_str()
                .ok_or_else(|| format!("Request '{id}': header '{name}' must be a string."))?;
            let valid = axum::http::HeaderName::from_bytes(name.as_bytes()).is_ok()
                && HeaderValue::from_str(value).is_ok();
            if !valid {
                return Err(format!("Request '{id}': header '{name}' is not valid."));
            }
            Ok((name.clone(), value.to_string()))
        })
        .collect()
}

/// "When a body is included with the request, the headers object must contain a value for
/// Content-Type." Every body the simulator's APIs take is JSON, so (the stricter reading) it
/// must also say `application/json`.
fn check_body_content_type(headers: &[(String, String)], id: &str) -> Result<(), String> {
    let content_type = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        .map(|(_, value)| value.to_ascii_lowercase());
    match content_type {
        Some(value) if value.starts_with("application/json") => Ok(()),
        Some(_) => Err(format!(
            "Request '{id}': a JSON body needs the Content-Type header 'application/json'."
        )),
        None => Err(format!(
            "Request '{id}' has a body but no Content-Type header in 'headers'."
        )),
    }
}

/// `dependsOn` names earlier requests only: Graph refuses a dependency on a request placed
/// after it ("Invalid dependency for request Id …",
/// https://github.com/microsoftgraph/msgraph-sdk-dotnet-core/issues/891), which also rules
/// out cycles.
fn parse_depends_on(
    depends_on: Option<&Value>,
    earlier: &[BatchItem],
    id: &str,
) -> Result<Vec<usize>, String> {
    let Some(depends_on) = depends_on.filter(|d| !d.is_null()) else {
        return Ok(Vec::new());
    };
    let Some(names) = depends_on.as_array() else {
        return Err(format!(
            "Request '{id}': 'dependsOn' must be an array of ids."
        ));
    };
    names
        .iter()
        .map(|name| {
            let name = name.as_str().unwrap_or("");
            earlier
                .iter()
                .position(|e| e.id.eq_ignore_ascii_case(name))
                .ok_or_else(|| format!("Invalid dependency for request Id '{id}': '{name}'."))
        })
        .collect()
}
