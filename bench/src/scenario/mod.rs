//! One module per measure of issues 6 and 16.

pub mod accepted;
pub mod end_rush;
pub mod end_to_end;
pub mod expiry;
pub mod idle;
pub mod ignored;
pub mod morning_rush;
pub mod scale;

use crate::fixture::SW_SECRET;
use crate::load::Message;
use bytes::Bytes;
use hyper::header::{CONTENT_TYPE, HeaderName, HeaderValue};

/// A Standard Webhooks delivery signed with the benchmark connector's secret.
pub fn signed(id: &str, body: Bytes) -> Message {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let headers = jitgate_connectors::standard_webhooks::signed_headers(
        &[
            jitgate_connectors::standard_webhooks::SigningSecret::parse(SW_SECRET)
                .expect("valid secret"),
        ],
        id,
        now,
        &body,
    )
    .expect("header-safe id");
    let mut all: Vec<(HeaderName, HeaderValue)> = headers
        .iter()
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    all.push((CONTENT_TYPE, HeaderValue::from_static("application/json")));
    Message { headers: all, body }
}

/// `{value}/s`, rounded.
pub fn per_second(v: f64) -> String {
    format!("{:.0}/s", v)
}
