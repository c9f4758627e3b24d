//! Graph: authentication, error shape, helpers.

use super::*;

/// Resolves the bearer token to its tenant, or answers 401 like Graph.
pub(super) fn authenticate(
    st: &SimState,
    headers: &HeaderMap,
    ids: &RequestIds,
) -> Result<String, Response> {
    let bearer = bearer_token(headers).unwrap_or("");
    let unauthorized = |message: &str| {
        let mut response = graph_error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            message,
            ids,
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(
                r#"Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000""#,
            ),
        );
        Err(response)
    };
    if bearer.is_empty() {
        return unauthorized("Access token is empty.");
    }
    let Some(token) = st.tokens.get(bearer) else {
        return unauthorized("Access token validation failure. Invalid audience.");
    };
    if token.expires_at <= Instant::now() {
        return unauthorized("Lifetime validation failed, the token is expired.");
    }
    if !st.tenants.contains_key(&token.tenant_key) {
        return unauthorized("Access token validation failure. Invalid audience.");
    }
    Ok(token.tenant_key.clone())
}

/// Graph's error body: `{"error":{"code","message","innerError":{date,request-id,client-request-id}}}`.
pub(super) fn graph_error(
    status: StatusCode,
    code: &str,
    message: &str,
    ids: &RequestIds,
) -> Response {
    graph_error_with_details(status, code, message, ids, None)
}

pub(super) fn graph_error_with_details(
    status: StatusCode,
    code: &str,
    message: &str,
    ids: &RequestIds,
    details: Option<Value>,
) -> Response {
    json_response(status, graph_error_body(code, message, ids, details))
}

/// The body of [`graph_error_with_details`], for answers that are not responses of their own
/// (a request inside a `$batch`).
pub(super) fn graph_error_body(
    code: &str,
    message: &str,
    ids: &RequestIds,
    details: Option<Value>,
) -> Value {
    let now = OffsetDateTime::now_utc();
    let date = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let mut error = json!({
        "code": code,
        "message": message,
        "innerError": {
            "date": date,
            "request-id": ids.request_id,
            "client-request-id": ids.client_request_id,
        }
    });
    if let Some(details) = details {
        error["details"] = details;
    }
    json!({ "error": error })
}

pub(super) fn not_found(id: &str, ids: &RequestIds) -> Response {
    graph_error(
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
        &format!(
            "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
        ),
        ids,
    )
}

pub(super) fn bad_request(message: &str, ids: &RequestIds) -> Response {
    graph_error(StatusCode::BAD_REQUEST, "Request_BadRequest", message, ids)
}

pub(super) fn insufficient_privileges(ids: &RequestIds) -> Response {
    graph_error(
        StatusCode::FORBIDDEN,
        "Authorization_RequestDenied",
        "Insufficient privileges to complete the operation.",
        ids,
    )
}

pub(super) fn json_response(status: StatusCode, body: Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(
            "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8",
        ),
    );
    response
}

pub(super) fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// Parses a JSON object body or answers like Graph does for unreadable payloads.
pub(super) fn json_object(body: &Bytes, ids: &RequestIds) -> Result<Map<String, Value>, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(graph_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
            ids,
        )),
    }
}

pub(super) fn query_params(raw: Option<&str>) -> HashMap<String, String> {
    raw.map(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .collect()
    })
    .unwrap_or_default()
}

/// Parses the one `$filter` form jitgate uses: `<property> eq '<literal>'` (OData string
/// literal, `''` escapes a quote). Anything else is unsupported here, as many filters are in
/// Graph's directory APIs.
pub(super) fn parse_eq_filter(filter: &str) -> Option<(String, String)> {
    let filter = filter.trim();
    let (property, rest) = filter.split_once(char::is_whitespace)?;
    let rest = rest.trim_start();
    let rest = rest.strip_prefix("eq")?.trim_start();
    let literal = rest.strip_prefix('\'')?.strip_suffix('\'')?;
    // Every quote inside must be doubled.
    let mut value = String::new();
    let mut chars = literal.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' && chars.next() != Some('\'') {
            return None;
        }
        value.push(c);
    }
    Some((property.to_string(), value))
}

pub(super) fn unsupported_query(ids: &RequestIds) -> Response {
    graph_error(
        StatusCode::BAD_REQUEST,
        "Request_UnsupportedQuery",
        "Unsupported Query.",
        ids,
    )
}
