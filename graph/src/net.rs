//! What a failed `reqwest` exchange means for jitgate: worth retrying, how to describe it, and
//! how long the server asked us to wait. Shared by the token endpoint and Graph calls.

use std::time::Duration;

use crate::error::GraphError;
use crate::retry::Step;

/// A failed exchange as a [`GraphError::Transient`]: retried when the failure is transient,
/// final otherwise.
pub(crate) fn transport_failure<T>(operation: &'static str, error: &reqwest::Error) -> Step<T> {
    let failure = GraphError::Transient {
        operation,
        detail: describe_transport_error(error),
        retry_after: None,
        request_id: None,
    };
    if is_retryable_transport_error(error) {
        Step::Retry {
            error: failure,
            server_wait: None,
        }
    } else {
        Step::Done(Err(failure))
    }
}

/// Timeouts, refused/reset connections and broken bodies are worth another attempt.
fn is_retryable_transport_error(error: &reqwest::Error) -> bool {
    error.is_timeout() || error.is_connect() || error.is_request() || error.is_body()
}

/// A reqwest error as text, without the URL (it may carry a UPN filter) but with causes.
fn describe_transport_error(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return "the request timed out".to_string();
    }
    let mut text = String::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(error);
    while let Some(cause) = source {
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    if text.is_empty() {
        "the request failed".to_string()
    } else {
        format!("the request failed: {text}")
    }
}

/// `Retry-After` in seconds (Graph sends delta-seconds).
pub(crate) fn retry_after_header(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    retry_after_value(headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?)
}

/// A `Retry-After` value in delta-seconds (also as a `$batch` answer's inner header).
pub(crate) fn retry_after_value(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}
