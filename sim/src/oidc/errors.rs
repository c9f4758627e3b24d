//! How Entra answers mistakes: an error page when it cannot trust `redirect_uri`, an error
//! redirect when it can, a JSON body at the token endpoint
//! (https://learn.microsoft.com/entra/identity-platform/reference-error-codes).

use super::*;

pub(super) fn json_response(status: StatusCode, body: Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    // Token responses must not be cached (RFC 6749 §5.1).
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// The client's `client-request-id`, which Entra echoes as the correlation id, or a new one.
pub(super) fn correlation_id(headers: &HeaderMap) -> String {
    headers
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(new_guid)
}

fn timestamp() -> String {
    let now = OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

/// `AADSTSnnnn: text` followed by Entra's trace lines.
fn description(code: u32, text: &str, trace_id: &str, correlation_id: &str, at: &str) -> String {
    format!(
        "AADSTS{code}: {text}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {at}"
    )
}

/// An error exactly as the Entra token endpoint sends it.
pub(super) fn aad_error(
    status: StatusCode,
    error: &str,
    code: u32,
    text: &str,
    correlation_id: &str,
) -> Response {
    let at = timestamp();
    let trace_id = new_guid();
    json_response(
        status,
        json!({
            "error": error,
            "error_description": description(code, text, &trace_id, correlation_id, &at),
            "error_codes": [code],
            "timestamp": at,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
        }),
    )
}

/// Entra's sign-in error page: shown to the person, never redirected anywhere.
pub(super) fn error_page(code: u32, text: &str) -> Response {
    let body = format!(
        "<!DOCTYPE html><html><head><title>Sign in to your account</title></head><body>\
         <h1>Sorry, but we're having trouble signing you in.</h1>\
         <p>AADSTS{code}: {}</p><p>Correlation ID: {}</p></body></html>",
        escape(text),
        new_guid()
    );
    let mut response = (StatusCode::BAD_REQUEST, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A 302 to `redirect_uri` with the query pairs appended.
pub(super) fn redirect(mut to: url::Url, pairs: &[(&str, &str)]) -> Response {
    to.query_pairs_mut().extend_pairs(pairs);
    let mut response = StatusCode::FOUND.into_response();
    let location = HeaderValue::from_str(to.as_str()).expect("a URL is a valid header value");
    response.headers_mut().insert(header::LOCATION, location);
    response
}

/// Back to the client with `error`, `error_description` and the request's `state`
/// (RFC 6749 §4.1.2.1).
pub(super) fn redirect_error(
    to: url::Url,
    state: Option<&str>,
    error: &str,
    code: u32,
    text: &str,
) -> Response {
    let at = timestamp();
    let text = description(code, text, &new_guid(), &new_guid(), &at);
    let mut pairs = vec![("error", error), ("error_description", text.as_str())];
    if let Some(state) = state {
        pairs.push(("state", state));
    }
    redirect(to, &pairs)
}
