//! ConnectWise PSA connector settings: what the admin API accepts and what it becomes.
//!
//! Example (every field is documented in `config/examples/connectwise.jsonc`):
//! ```json
//! {"site": "na.myconnectwise.net", "codebase": "v4_6_release", "company_id": "contosomsp",
//!  "public_key": "…", "client_id": "…", "trigger": {"custom_field": "Request JIT"}}
//! ```

use crate::field_errors::{self, FieldErrors};
use crate::{SecretValues, SettingsError};
use secrecy::ExposeSecret as _;
use serde::Deserialize;
use url::Url;

const DEFAULT_CODEBASE: &str = "v4_6_release";
const DEFAULT_API_VERSION: &str = "2025.1";
const CLOUD_DOMAIN: &str = ".myconnectwise.net";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    site: String,
    #[serde(default)]
    api_url: Option<String>,
    #[serde(default)]
    codebase: Option<String>,
    company_id: String,
    public_key: String,
    client_id: String,
    #[serde(default)]
    api_version: Option<String>,
    trigger: RawTrigger,
    #[serde(default)]
    notes: RawNotes,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrigger {
    #[serde(default)]
    custom_field: Option<CustomFieldSelector>,
    #[serde(default)]
    status: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotes {
    #[serde(default)]
    process_notifications: bool,
}

/// Which ticket custom field is the "Request JIT" checkbox: its numeric id (stable across
/// renames) or its caption (readable; matched case-insensitively).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum CustomFieldSelector {
    Id(u64),
    Caption(String),
}

impl CustomFieldSelector {
    pub(crate) fn matches(&self, id: Option<u64>, caption: Option<&str>) -> bool {
        match self {
            CustomFieldSelector::Id(want) => id == Some(*want),
            CustomFieldSelector::Caption(want) => {
                caption.is_some_and(|c| c.trim().eq_ignore_ascii_case(want.trim()))
            }
        }
    }
}

/// The host technicians browse to (`na.myconnectwise.net`, `cw.example.com:8443`). The one host
/// a `Metadata.key_url` may point at (it is read before the delivery is verified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteHost {
    /// Lower-case host as the `url` crate normalizes it (IPv6 in brackets).
    host: String,
    /// `None` for the https default port.
    port: Option<u16>,
}

impl SiteHost {
    pub fn parse(raw: &str) -> Result<SiteHost, String> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err("must name the ConnectWise site host, e.g. na.myconnectwise.net".into());
        }
        let with_scheme = if raw.contains("://") {
            raw.to_string()
        } else {
            format!("https://{raw}")
        };
        let url = Url::parse(&with_scheme).map_err(|e| format!("not a host name: {e}"))?;
        if url.scheme() != "https" {
            return Err("the site must be served over https".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not contain credentials".into());
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err("must be a host name only (no path), e.g. na.myconnectwise.net".into());
        }
        let host = url.host_str().ok_or("must name a host")?;
        // A cloud site's API host (api-na.myconnectwise.net) stands for its browsing host: the
        // site takes key URLs on both, and the API base is derived from the browsing host.
        let host = match url.port() {
            None => cloud_browsing_host(host).unwrap_or(host),
            Some(_) => host,
        }
        .to_string();
        Ok(SiteHost {
            host,
            port: url.port(),
        })
    }

    /// Whether `url` is on this site: same host, and the same port (a site without a port
    /// accepts only the https default, so `https://site:8443/` is refused). A cloud site also
    /// owns its `api-` host: key URLs have been seen on both `na.myconnectwise.net` and
    /// `api-na.myconnectwise.net` (Nango's allow-list takes both,
    /// https://github.com/NangoHQ/nango/pull/4950).
    pub fn hosts(&self, url: &Url) -> bool {
        let Some(host) = url.host_str() else {
            return false;
        };
        let same_host = host == self.host
            || (self.is_cloud() && cloud_browsing_host(host) == Some(self.host.as_str()));
        same_host && url.port() == self.port
    }

    fn is_cloud(&self) -> bool {
        self.port.is_none() && self.host.ends_with(CLOUD_DOMAIN)
    }

    /// `host` or `host:port`, as written in URLs.
    pub fn authority(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.clone(),
        }
    }
}

/// `na.myconnectwise.net` for `api-na.myconnectwise.net`; `None` for any other host.
fn cloud_browsing_host(host: &str) -> Option<&str> {
    host.strip_prefix("api-")
        .filter(|rest| rest.len() > CLOUD_DOMAIN.len() && rest.ends_with(CLOUD_DOMAIN))
}

/// The MSP's ConnectWise login company (`companyName` in `key_url`, the first part of the API
/// user name). Compared case-insensitively, as ConnectWise's login does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompanyId(String);

impl CompanyId {
    pub fn parse(raw: &str) -> Result<CompanyId, String> {
        let value = field_errors::text(raw, 64)?;
        if value.contains(|c: char| c.is_whitespace() || c == ':' || c == '+') {
            return Err("must be the company id you log in with (no spaces, ':' or '+')".into());
        }
        Ok(CompanyId(value))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn matches(&self, other: &str) -> bool {
        self.0.eq_ignore_ascii_case(other.trim())
    }
}

/// The trigger rule: a custom field set to true and/or the ticket entering a status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerRule {
    pub custom_field: Option<CustomFieldSelector>,
    pub status: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteOptions {
    /// Let ConnectWise send its usual "note added" notifications (off: the note is for the
    /// technician who asked, and notifications may go to people outside the MSP).
    pub process_notifications: bool,
}

/// Validated ConnectWise settings plus the API private key.
#[derive(Debug, Clone)]
pub struct Settings {
    pub site: SiteHost,
    /// `https://api-na.myconnectwise.net/v4_6_release/apis/3.0` (no trailing slash).
    pub api_base: Url,
    pub company_id: CompanyId,
    pub public_key: String,
    pub private_key: crate::Secret,
    pub client_id: String,
    pub api_version: String,
    pub trigger: TriggerRule,
    pub notes: NoteOptions,
}

impl Settings {
    pub fn parse(
        settings: &serde_json::Value,
        secrets: &SecretValues,
    ) -> Result<Settings, SettingsError> {
        let raw: RawSettings =
            serde_json::from_value(settings.clone()).map_err(|e| field_errors::from_serde(&e))?;
        let mut errors = FieldErrors::default();

        let site = errors.check("settings.site", SiteHost::parse(&raw.site));
        let codebase = errors.check(
            "settings.codebase",
            parse_codebase(raw.codebase.as_deref().unwrap_or(DEFAULT_CODEBASE)),
        );
        let api_base = match (&raw.api_url, &site, &codebase) {
            (Some(explicit), _, _) => errors.check("settings.api_url", parse_api_url(explicit)),
            (None, Some(site), Some(codebase)) => Some(default_api_base(site, codebase)),
            _ => None,
        };
        let company_id = errors.check("settings.company_id", CompanyId::parse(&raw.company_id));
        let public_key = errors.check("settings.public_key", parse_key_part(&raw.public_key));
        let client_id = errors.check("settings.client_id", parse_client_id(&raw.client_id));
        let api_version = errors.check(
            "settings.api_version",
            parse_api_version(raw.api_version.as_deref().unwrap_or(DEFAULT_API_VERSION)),
        );
        let trigger = parse_trigger(raw.trigger, &mut errors);
        let private_key = match secrets.one("private_key") {
            Some(s) if !s.expose_secret().trim().is_empty() => Some(s.clone()),
            _ => {
                errors.add(
                    "secrets.private_key",
                    "required: the API member's private key",
                );
                None
            }
        };

        errors.finish(|| Settings {
            site: site.expect("checked"),
            api_base: api_base.expect("checked"),
            company_id: company_id.expect("checked"),
            public_key: public_key.expect("checked"),
            private_key: private_key.expect("checked"),
            client_id: client_id.expect("checked"),
            api_version: api_version.expect("checked"),
            trigger: trigger.expect("checked"),
            notes: NoteOptions {
                process_notifications: raw.notes.process_notifications,
            },
        })
    }
}

fn parse_trigger(raw: RawTrigger, errors: &mut FieldErrors) -> Option<TriggerRule> {
    let custom_field = match raw.custom_field {
        Some(CustomFieldSelector::Caption(c)) => errors
            .check("settings.trigger.custom_field", field_errors::text(&c, 100))
            .map(|c| Some(CustomFieldSelector::Caption(c))),
        other => Some(other),
    };
    let status = match raw.status {
        Some(s) => errors
            .check("settings.trigger.status", field_errors::text(&s, 100))
            .map(Some),
        None => Some(None),
    };
    let (custom_field, status) = (custom_field?, status?);
    if custom_field.is_none() && status.is_none() {
        errors.add(
            "settings.trigger",
            "set custom_field (caption or id of a checkbox custom field) and/or status (a status name)",
        );
        return None;
    }
    Some(TriggerRule {
        custom_field,
        status,
    })
}

fn parse_codebase(raw: &str) -> Result<String, String> {
    let value = raw.trim().trim_matches('/');
    if value.is_empty()
        || value.len() > 64
        || !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err("must be a codebase such as v4_6_release or v2025_1".into());
    }
    Ok(value.to_string())
}

fn parse_api_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw.trim()).map_err(|e| format!("not an absolute URL: {e}"))?;
    if url.scheme() != "https" {
        // ConnectWise answers plain http with "SSL is required"; and the API key travels in
        // every request.
        return Err("must use https".into());
    }
    if url.host().is_none() || !url.username().is_empty() || url.password().is_some() {
        return Err("must name a host and carry no credentials".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query string or fragment".into());
    }
    Ok(without_trailing_slash(url))
}

fn default_api_base(site: &SiteHost, codebase: &str) -> Url {
    // Cloud sites serve the API on the `api-` host ("SSL is required" / wrong-host errors
    // otherwise); on-premises servers serve it on the site host itself.
    let authority = if site.is_cloud() {
        format!("api-{}", site.host)
    } else {
        site.authority()
    };
    let url = Url::parse(&format!("https://{authority}/{codebase}/apis/3.0"))
        .expect("site host and codebase were validated");
    without_trailing_slash(url)
}

fn without_trailing_slash(url: Url) -> Url {
    if url.path().len() > 1 && url.path().ends_with('/') {
        let mut url = url;
        let path = url.path().trim_end_matches('/').to_string();
        url.set_path(&path);
        url
    } else {
        url
    }
}

fn parse_key_part(raw: &str) -> Result<String, String> {
    let value = field_errors::text(raw, 128)?;
    if value.contains(|c: char| c.is_whitespace() || c == ':') {
        return Err("must be the API member's public key (no spaces or ':')".into());
    }
    Ok(value)
}

fn parse_client_id(raw: &str) -> Result<String, String> {
    let value = field_errors::text(raw, 64)?;
    if !value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err("must be the clientId issued on developer.connectwise.com (a GUID)".into());
    }
    Ok(value)
}

fn parse_api_version(raw: &str) -> Result<String, String> {
    let value = raw.trim();
    let ok = value.split_once('.').is_some_and(|(year, minor)| {
        year.len() == 4
            && year.chars().all(|c| c.is_ascii_digit())
            && !minor.is_empty()
            && minor.len() <= 2
            && minor.chars().all(|c| c.is_ascii_digit())
    });
    if !ok {
        return Err("must be a ConnectWise API version such as 2025.1".into());
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secrets() -> SecretValues {
        let mut s = SecretValues::default();
        s.0.insert("private_key".into(), vec![crate::Secret::from("priv")]);
        s
    }

    fn minimal() -> serde_json::Value {
        json!({
            "site": "na.myconnectwise.net",
            "company_id": "contosomsp",
            "public_key": "pub",
            "client_id": "1d2c3b4a-0000-4000-8000-000000000000",
            "trigger": {"custom_field": "Request JIT"}
        })
    }

    #[test]
    fn cloud_api_base_uses_the_api_host() {
        let s = Settings::parse(&minimal(), &secrets()).unwrap();
        assert_eq!(
            s.api_base.as_str(),
            "https://api-na.myconnectwise.net/v4_6_release/apis/3.0"
        );
        assert_eq!(s.api_version, "2025.1");
        assert_eq!(
            s.trigger.custom_field,
            Some(CustomFieldSelector::Caption("Request JIT".into()))
        );
        assert!(!s.notes.process_notifications);
    }

    #[test]
    fn on_prem_api_base_uses_the_site() {
        let mut v = minimal();
        v["site"] = json!("https://cw.example.com:8443/");
        v["codebase"] = json!("/v2025_1/");
        let s = Settings::parse(&v, &secrets()).unwrap();
        assert_eq!(
            s.api_base.as_str(),
            "https://cw.example.com:8443/v2025_1/apis/3.0"
        );
        assert_eq!(s.site.authority(), "cw.example.com:8443");
    }

    #[test]
    fn api_url_override_and_custom_field_id() {
        let mut v = minimal();
        v["api_url"] = json!("https://localhost:4443/v4_6_release/apis/3.0/");
        v["trigger"] = json!({"custom_field": 12, "status": "JIT Requested"});
        let s = Settings::parse(&v, &secrets()).unwrap();
        assert_eq!(
            s.api_base.as_str(),
            "https://localhost:4443/v4_6_release/apis/3.0"
        );
        assert_eq!(s.trigger.custom_field, Some(CustomFieldSelector::Id(12)));
        assert_eq!(s.trigger.status.as_deref(), Some("JIT Requested"));
    }

    #[test]
    fn every_bad_field_is_reported() {
        let v = json!({
            "site": "https://na.myconnectwise.net/some/path",
            "company_id": "contoso msp",
            "public_key": "",
            "client_id": "not a guid!",
            "api_version": "latest",
            "codebase": "../x",
            "trigger": {}
        });
        let err = Settings::parse(&v, &SecretValues::default()).unwrap_err();
        for field in [
            "settings.site",
            "settings.company_id",
            "settings.public_key",
            "settings.client_id",
            "settings.api_version",
            "settings.codebase",
            "settings.trigger",
            "secrets.private_key",
        ] {
            assert!(err.fields.contains_key(field), "{field} missing in {err:?}");
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        let mut v = minimal();
        v["signing_key"] = json!("x");
        let err = Settings::parse(&v, &secrets()).unwrap_err();
        assert!(err.fields.contains_key("settings.signing_key"), "{err:?}");
        let mut v = minimal();
        v["api_url"] = json!("http://api-na.myconnectwise.net/x");
        assert!(
            Settings::parse(&v, &secrets())
                .unwrap_err()
                .fields
                .contains_key("settings.api_url")
        );
    }

    #[test]
    fn site_host_matches_host_and_port() {
        let site = SiteHost::parse("NA.MyConnectWise.net").unwrap();
        let ok = Url::parse("https://na.myconnectwise.net/v2025_1//system/callbackkey/index.rails")
            .unwrap();
        assert!(site.hosts(&ok));
        assert!(site.hosts(&Url::parse("https://na.myconnectwise.net:443/x").unwrap()));
        assert!(!site.hosts(&Url::parse("https://na.myconnectwise.net:8443/x").unwrap()));
        assert!(!site.hosts(&Url::parse("https://na.myconnectwise.net.evil.example/x").unwrap()));
        let on_prem = SiteHost::parse("localhost:4443").unwrap();
        assert!(on_prem.hosts(&Url::parse("https://localhost:4443/x").unwrap()));
        assert!(!on_prem.hosts(&Url::parse("https://localhost/x").unwrap()));
        assert!(SiteHost::parse("http://na.myconnectwise.net").is_err());
        assert!(SiteHost::parse("user:pw@na.myconnectwise.net").is_err());
    }

    #[test]
    fn a_cloud_site_owns_its_api_host_and_nothing_else() {
        let api = Url::parse("https://api-na.myconnectwise.net/v4_6_release/x").unwrap();
        // Configured either way, the site is the browsing host and takes both forms.
        for configured in ["na.myconnectwise.net", "api-na.myconnectwise.net"] {
            let site = SiteHost::parse(configured).unwrap();
            assert_eq!(site.authority(), "na.myconnectwise.net");
            assert!(site.hosts(&api), "{configured}");
            assert!(site.hosts(&Url::parse("https://na.myconnectwise.net/x").unwrap()));
        }
        let site = SiteHost::parse("na.myconnectwise.net").unwrap();
        for other in [
            "https://api-eu.myconnectwise.net/x",
            "https://api-api-na.myconnectwise.net/x",
            "https://api-na.myconnectwise.net:8443/x",
            "https://api-na.myconnectwise.net.evil.example/x",
        ] {
            assert!(!site.hosts(&Url::parse(other).unwrap()), "{other}");
        }
        // An on-premises site has no api- twin.
        let on_prem = SiteHost::parse("cw.example.com").unwrap();
        assert!(!on_prem.hosts(&Url::parse("https://api-cw.example.com/x").unwrap()));
        // "api-" alone in front of the cloud domain is not a site of its own.
        assert_eq!(
            SiteHost::parse("api-.myconnectwise.net")
                .unwrap()
                .authority(),
            "api-.myconnectwise.net"
        );
        let mut v = minimal();
        v["site"] = json!("api-na.myconnectwise.net");
        assert_eq!(
            Settings::parse(&v, &secrets()).unwrap().api_base.as_str(),
            "https://api-na.myconnectwise.net/v4_6_release/apis/3.0"
        );
    }
}
