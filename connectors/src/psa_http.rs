//! What every PSA client shares: sending a request and turning the answer into a [`PsaError`]
//! that an MSP admin can read (vendor error bodies, 429 `Retry-After`, timeouts).

use crate::PsaError;
use std::time::Duration;

/// When a PSA throttles without saying for how long.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(30);

/// Send `request` and return the successful response, or the error the PSA meant.
///
/// `readable` extracts a message from a vendor error body (ConnectWise `{"code","message"}`,
/// Autotask `{"errors":[…]}`, Halo strings); it must not echo request secrets, and the body it
/// sees is already truncated.
pub async fn send(
    request: reqwest::RequestBuilder,
    readable: fn(&str) -> Option<String>,
) -> Result<reqwest::Response, PsaError> {
    send_throttle_aware(request, readable, NO_THROTTLE_MARKER).await
}

/// How a vendor says "slow down" other than with a 429: Autotask's thread-limit error
/// (`Itgenatr005`) may arrive with a 4xx/5xx status and only a code in the body.
#[derive(Debug, Clone, Copy)]
pub struct ThrottleMarker {
    /// Whether an error body (already truncated) is the vendor's throttling error.
    pub matches: fn(&str) -> bool,
    /// Retry delay when such an answer carries no `Retry-After`.
    pub retry_after: Duration,
}

const NO_THROTTLE_MARKER: ThrottleMarker = ThrottleMarker {
    matches: |_| false,
    retry_after: DEFAULT_RETRY_AFTER,
};

/// [`send`], but an error body that `throttle.matches` becomes [`PsaError::RateLimited`] whatever
/// its status.
pub async fn send_throttle_aware(
    request: reqwest::RequestBuilder,
    readable: fn(&str) -> Option<String>,
    throttle: ThrottleMarker,
) -> Result<reqwest::Response, PsaError> {
    let response = request.send().await.map_err(transport_error)?;
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let retry_after = retry_after(response.headers());
    let body = response.text().await.unwrap_or_default();
    let body = truncate(&body, 2000);
    let message = readable(body).unwrap_or_else(|| {
        if body.trim().is_empty() {
            status.canonical_reason().unwrap_or("error").to_string()
        } else {
            body.to_string()
        }
    });
    if status.as_u16() != 429 && (throttle.matches)(body) {
        return Err(PsaError::RateLimited(
            retry_after.unwrap_or(throttle.retry_after),
        ));
    }
    Err(match status.as_u16() {
        429 => PsaError::RateLimited(retry_after.unwrap_or(DEFAULT_RETRY_AFTER)),
        404 => PsaError::NotFound(message),
        s if s >= 500 => PsaError::Unavailable(format!("{s}: {message}")),
        s => PsaError::Rejected { status: s, message },
    })
}

/// Parse `Retry-After` given in seconds (the form ConnectWise and Graph use). HTTP-date values
/// fall back to the caller's default.
pub fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
    let secs: u64 = value.trim().parse().ok()?;
    Some(Duration::from_secs(secs.min(3600)))
}

pub fn transport_error(e: reqwest::Error) -> PsaError {
    // reqwest's Display for a URL-carrying error includes the URL; our PSA URLs carry no
    // credentials (they go in headers), so this is safe to show.
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_redirect() {
        "answered with a redirect, which jitgate does not follow"
    } else {
        "request failed"
    };
    PsaError::Unavailable(format!("{what}: {}", e.without_url()))
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds() {
        let mut h = http::HeaderMap::new();
        h.insert(http::header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            http::header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("ééé", 3), "é");
    }
}
