//! The one field of an unverified ConnectWise delivery that jitgate reads: `Metadata.key_url`,
//! the URL of the signing key. It arrives in an attacker-controlled body, so it is fetched only
//! when it points at the connector's own site: `https`, the configured host (or,
//! on a cloud site, its `api-` twin) and port, no credentials, and a `companyName=` equal to the
//! configured company. Nango's ConnectWise webhook routing applies the same kind of allow-list
//! (https://github.com/NangoHQ/nango/pull/4950). The fetch follows no redirects (the shared
//! client follows none) and has a short timeout. Keys are cached per exact URL for a few
//! minutes: key URLs change between deliveries and may be short-lived, so a key is never reused
//! for another URL.

use super::settings::{CompanyId, SiteHost};
use crate::Secret;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use url::Url;

/// ConnectWise times its own callback out after 5 s; the key fetch must leave room for the rest.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(3);
pub const CACHE_TTL: Duration = Duration::from_secs(5 * 60);
/// Key URLs are per delivery or short-lived; bound the cache so a flood of signed deliveries
/// cannot grow it without limit.
const CACHE_CAPACITY: usize = 512;
/// A `{"signing_key": …}` document is tiny; refuse to buffer anything large.
const MAX_KEY_RESPONSE: usize = 16 * 1024;

/// A `key_url` that passed the allow-list: safe to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedKeyUrl(Url);

impl AllowedKeyUrl {
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// Only `Metadata.key_url`, read from the raw body without trusting anything else in it.
#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "Metadata")]
    metadata: Option<Metadata>,
}

#[derive(Deserialize)]
struct Metadata {
    key_url: Option<serde_json::Value>,
}

/// `Metadata.key_url` of an unverified body, or why there is none.
pub fn key_url_of(body: &[u8]) -> Result<String, String> {
    let envelope: Envelope = serde_json::from_slice(body)
        .map_err(|_| "the body is not a ConnectWise callback (no JSON)".to_string())?;
    match envelope.metadata.and_then(|m| m.key_url) {
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Ok(s),
        _ => Err("the body has no Metadata.key_url to fetch the signing key from".into()),
    }
}

/// Check `raw` against the connector's site and company. The error says why, without echoing
/// the URL (it is attacker-chosen and ends up in logs).
pub fn allow(raw: &str, site: &SiteHost, company: &CompanyId) -> Result<AllowedKeyUrl, String> {
    let url = Url::parse(raw.trim()).map_err(|_| "Metadata.key_url is not a URL".to_string())?;
    if url.scheme() != "https" {
        return Err("Metadata.key_url is not https; not fetched".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("Metadata.key_url carries credentials; not fetched".into());
    }
    if !site.hosts(&url) {
        return Err(
            "Metadata.key_url is not on the connector's ConnectWise site; not fetched".into(),
        );
    }
    check_company(&url, company)?;
    Ok(AllowedKeyUrl(url))
}

/// Every key URL ConnectWise publishes names the MSP's login company (`companyName=`); one
/// without it, or naming another company, is not this connector's key.
fn check_company(url: &Url, company: &CompanyId) -> Result<(), String> {
    let mut named = false;
    for (name, value) in url.query_pairs() {
        if name.eq_ignore_ascii_case("companyName") {
            if !company.matches(&value) {
                return Err("Metadata.key_url names another company; not fetched".into());
            }
            named = true;
        }
    }
    if !named {
        return Err("Metadata.key_url names no companyName; not fetched".into());
    }
    Ok(())
}

#[derive(Deserialize)]
struct KeyDocument {
    signing_key: String,
}

/// Why the signing key could not be had.
#[derive(Debug)]
pub enum FetchError {
    /// Timeout, connection failure, 5xx or 429: ConnectWise may answer next time.
    Unavailable(String),
    /// The site answered but gave no usable key.
    Refused(String),
}

/// Fetch the signing key. `client_id` is sent because one integration does
/// (https://github.com/amp-labs/connectors/pull/3093) and it does no harm where the endpoint
/// needs no authentication (https://github.com/NangoHQ/nango/pull/4950 found it needs none).
pub async fn fetch(
    http: &reqwest::Client,
    url: &AllowedKeyUrl,
    client_id: &str,
) -> Result<Secret, FetchError> {
    let mut response = http
        .get(url.0.clone())
        .header("clientId", client_id)
        .header(http::header::ACCEPT, "application/json")
        .timeout(FETCH_TIMEOUT)
        .send()
        .await
        .map_err(|e| FetchError::Unavailable(describe_transport(&e)))?;
    let status = response.status();
    if status.is_server_error() || status.as_u16() == 429 {
        return Err(FetchError::Unavailable(format!(
            "the signing key URL answered {status}"
        )));
    }
    if !status.is_success() {
        return Err(FetchError::Refused(format!(
            "the signing key URL answered {status}"
        )));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| FetchError::Unavailable(describe_transport(&e)))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_KEY_RESPONSE {
            return Err(FetchError::Refused(
                "the signing key response is too large".into(),
            ));
        }
    }
    let doc: KeyDocument = serde_json::from_slice(&body)
        .map_err(|_| FetchError::Refused("the signing key response has no signing_key".into()))?;
    if doc.signing_key.is_empty() {
        return Err(FetchError::Refused(
            "the signing key response has an empty signing_key".into(),
        ));
    }
    Ok(Secret::from(doc.signing_key))
}

fn describe_transport(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "fetching the signing key timed out".into()
    } else if e.is_redirect() {
        "the signing key URL redirected; redirects are not followed".into()
    } else if e.is_connect() {
        "could not connect to the signing key URL".into()
    } else {
        "fetching the signing key failed".into()
    }
}

/// Signing keys by exact `key_url`, each kept for [`CACHE_TTL`].
#[derive(Debug, Default)]
pub struct KeyCache {
    entries: Mutex<HashMap<String, (Instant, Secret)>>,
}

impl KeyCache {
    pub fn get(&self, url: &AllowedKeyUrl) -> Option<Secret> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(url.as_str())
            .filter(|(at, _)| at.elapsed() < CACHE_TTL)
            .map(|(_, key)| key.clone())
    }

    /// Remember a key that just verified a delivery (only verified keys are cached, so
    /// unsigned junk cannot fill the cache, nor replace a good key: nothing is ever evicted
    /// because a delivery failed to verify).
    pub fn put(&self, url: &AllowedKeyUrl, key: Secret) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= CACHE_CAPACITY {
            entries.retain(|_, (at, _)| at.elapsed() < CACHE_TTL);
        }
        if entries.len() >= CACHE_CAPACITY {
            entries.clear();
        }
        entries.insert(url.as_str().to_string(), (Instant::now(), key));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret as _;

    fn site() -> SiteHost {
        SiteHost::parse("na.myconnectwise.net").unwrap()
    }

    fn company() -> CompanyId {
        CompanyId::parse("contosomsp").unwrap()
    }

    #[test]
    fn observed_key_url_form_is_allowed() {
        let url = "https://na.myconnectwise.net/v2025_1//system/callbackkey/index.rails?companyName=ContosoMSP&id=89966c04-9889-46ad-8d5e-421103aca922";
        assert!(allow(url, &site(), &company()).is_ok());
        let upper_case = "https://na.myconnectwise.net/k?COMPANYNAME=CONTOSOMSP&id=1";
        assert!(allow(upper_case, &site(), &company()).is_ok());
    }

    #[test]
    fn cloud_key_urls_on_the_api_host_are_allowed() {
        let url = "https://api-na.myconnectwise.net/v4_6_release/apis/3.0/system/callbackkey?companyName=contosomsp&id=1";
        assert!(allow(url, &site(), &company()).is_ok());
        for url in [
            "https://api-eu.myconnectwise.net/k?companyName=contosomsp",
            "https://api-api-na.myconnectwise.net/k?companyName=contosomsp",
            "https://xapi-na.myconnectwise.net/k?companyName=contosomsp",
            "https://api-na.myconnectwise.net:8443/k?companyName=contosomsp",
            "http://api-na.myconnectwise.net/k?companyName=contosomsp",
            "https://u:p@api-na.myconnectwise.net/k?companyName=contosomsp",
            "https://api-na.myconnectwise.net/k?companyName=othermsp",
            "https://api-na.myconnectwise.net/k?id=1",
        ] {
            assert!(
                allow(url, &site(), &company()).is_err(),
                "{url} was allowed"
            );
        }
    }

    #[test]
    fn foreign_or_unsafe_urls_are_refused() {
        for url in [
            "https://evil.example/system/callbackkey/index.rails?companyName=contosomsp",
            "https://na.myconnectwise.net.evil.example/x",
            "https://eu.myconnectwise.net/x",
            "http://na.myconnectwise.net/x",
            "https://user:pw@na.myconnectwise.net/x",
            "https://na.myconnectwise.net:8443/x",
            "https://na.myconnectwise.net/x?companyName=othermsp&id=1",
            "https://na.myconnectwise.net/x?companyName=contosomsp&companyName=othermsp",
            "https://na.myconnectwise.net/v2025_1//system/callbackkey/index.rails?id=1",
            "https://na.myconnectwise.net/x?companyName=&id=1",
            "https://na.myconnectwise.net/x?company=contosomsp&id=1",
            "file:///etc/passwd",
            "https://169.254.169.254/latest/meta-data",
            "not a url",
        ] {
            assert!(
                allow(url, &site(), &company()).is_err(),
                "{url} was allowed"
            );
        }
    }

    #[test]
    fn key_url_is_read_without_trusting_the_rest() {
        let body = br#"{"ID":"whatever","Metadata":{"key_url":"https://na.myconnectwise.net/k"}}"#;
        assert_eq!(key_url_of(body).unwrap(), "https://na.myconnectwise.net/k");
        assert!(key_url_of(b"{}").is_err());
        assert!(key_url_of(br#"{"Metadata":{"key_url":5}}"#).is_err());
        assert!(key_url_of(br#"{"Metadata":null}"#).is_err());
        assert!(key_url_of(b"\xff").is_err());
    }

    #[test]
    fn cache_is_per_exact_url() {
        let cache = KeyCache::default();
        let key_url = |id: u32| {
            let raw = format!("https://na.myconnectwise.net/k?companyName=contosomsp&id={id}");
            allow(&raw, &site(), &company()).unwrap()
        };
        let (a, b) = (key_url(1), key_url(2));
        cache.put(&a, Secret::from("ka"));
        assert_eq!(cache.get(&a).unwrap().expose_secret(), "ka");
        assert!(cache.get(&b).is_none());
        cache.put(&a, Secret::from("rotated"));
        assert_eq!(cache.get(&a).unwrap().expose_secret(), "rotated");
    }
}
