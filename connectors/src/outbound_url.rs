//! URLs jitgate calls out to (PSA API servers, note receivers), checked when settings are saved.

use url::Url;

/// An absolute `https` URL without credentials, query or fragment; a trailing `/` is removed so
/// paths can be appended. Plain `http` is allowed only for loopback hosts (tests, a relay on the
/// same machine): everything else carries bearer tokens, client secrets or ticket notes.
pub(crate) fn parse(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw.trim()).map_err(|e| format!("not an absolute URL: {e}"))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => return Err("must use https (plain http is allowed only for localhost)".into()),
        other => return Err(format!("scheme {other:?} is not supported; use https")),
    }
    if url.host().is_none() {
        return Err("must name a host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain credentials; put them in the secrets".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query string or fragment".into());
    }
    let trimmed = url.as_str().trim_end_matches('/').to_string();
    Url::parse(&trimmed).map_err(|e| format!("not an absolute URL: {e}"))
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// `base` (as returned by [`parse`]) with `path` appended; `path` starts with `/`.
pub(crate) fn join(base: &Url, path: &str) -> String {
    format!("{}{path}", base.as_str().trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_or_loopback_http_only() {
        assert_eq!(
            parse("https://msp.halopsa.com/").unwrap().as_str(),
            "https://msp.halopsa.com/"
        );
        assert!(parse("http://127.0.0.1:8080").is_ok());
        assert!(parse("http://localhost:1/x/").is_ok());
        assert!(
            parse("http://msp.halopsa.com")
                .unwrap_err()
                .contains("https")
        );
        assert!(parse("ftp://x").is_err());
        assert!(parse("https://u:p@x").unwrap_err().contains("credentials"));
        assert!(parse("https://x/?a=1").is_err());
        assert!(parse("halopsa.com").is_err());
    }

    #[test]
    fn join_appends_to_paths() {
        let base = parse("https://h.example/halo/").unwrap();
        assert_eq!(
            join(&base, "/api/actions"),
            "https://h.example/halo/api/actions"
        );
        let root = parse("https://h.example").unwrap();
        assert_eq!(join(&root, "/api/actions"), "https://h.example/api/actions");
    }
}
