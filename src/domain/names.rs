//! Emails, domains, GUIDs and UPN templates as checked newtypes.

use std::fmt;

/// A lower-cased email address with a plausible local part and domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(text: &str) -> Result<Email, String> {
        let text = text.trim().to_ascii_lowercase();
        let (local, domain) = text.split_once('@').ok_or("must be an email address")?;
        if local.is_empty() || local.len() > 64 || local.contains(char::is_whitespace) {
            return Err("must be an email address".into());
        }
        Domain::parse(domain)
            .map_err(|_| "must be an email address with a valid domain".to_string())?;
        Ok(Email(text))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn local_part(&self) -> &str {
        self.0.split('@').next().unwrap_or_default()
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A DNS domain name (e.g. a customer's verified JIT domain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain(String);

impl Domain {
    pub fn parse(text: &str) -> Result<Domain, String> {
        let text = text.trim().trim_end_matches('.').to_ascii_lowercase();
        let labels: Vec<&str> = text.split('.').collect();
        let label_ok = |l: &&str| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if text.len() > 253 || labels.len() < 2 || !labels.iter().all(label_ok) {
            return Err("must be a domain name such as contoso.onmicrosoft.com".into());
        }
        Ok(Domain(text))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A GUID in its canonical 8-4-4-4-12 form, lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guid(String);

impl Guid {
    pub fn parse(text: &str) -> Result<Guid, String> {
        let t = text.trim().to_ascii_lowercase();
        let groups: Vec<&str> = t.split('-').collect();
        let lengths = [8, 4, 4, 4, 12];
        let ok = groups.len() == 5
            && groups
                .iter()
                .zip(lengths)
                .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()));
        if ok {
            Ok(Guid(t))
        } else {
            Err("must be a GUID such as 00000000-0000-0000-0000-000000000000".into())
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An Entra tenant: its GUID or one of its domains.
pub fn parse_tenant(text: &str) -> Result<String, String> {
    Guid::parse(text)
        .map(|g| g.0)
        .or_else(|_| Domain::parse(text).map(|d| d.0))
        .map_err(|_| "must be the tenant's GUID or one of its domains".to_string())
}

/// How a technician's JIT account UPN is made: `{local}` is the technician's email local part,
/// `{domain}` the customer's JIT domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpnTemplate(String);

pub const DEFAULT_UPN_TEMPLATE: &str = "{local}-jit@{domain}";

impl UpnTemplate {
    pub fn parse(text: &str) -> Result<UpnTemplate, String> {
        let t = text.trim();
        if !t.contains("{local}") || !t.ends_with("@{domain}") || t.matches('@').count() != 1 {
            return Err(
                "must contain {local} and end with @{domain}, e.g. {local}-jit@{domain}".into(),
            );
        }
        let sample = UpnTemplate(t.to_string()).render("a.b", "example.com");
        if sample.is_err() {
            return Err("produces an invalid user principal name".into());
        }
        Ok(UpnTemplate(t.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Render and check against Entra's UPN rules: `A-Z a-z 0-9 ' . - _ ! # ^ ~`, no `.` right
    /// before `@`, at most 64 characters before the `@`.
    pub fn render(&self, local: &str, domain: &str) -> Result<String, String> {
        let local_part = self
            .0
            .split('@')
            .next()
            .unwrap_or_default()
            .replace("{local}", local);
        let clean: String = local_part
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || "'.-_!#^~".contains(*c))
            .collect();
        let clean = clean.trim_end_matches('.').to_string();
        if clean.is_empty() || clean.len() > 64 || clean.starts_with('.') {
            return Err(format!(
                "cannot make a valid user principal name from {local:?}"
            ));
        }
        Ok(format!("{clean}@{domain}"))
    }
}

/// The `n`-th alternative of a rendered UPN (`alice-jit@x` → `alice-jit2@x` for `n = 2`), for
/// when another technician's account already holds it; the local part stays within Entra's
/// 64 characters.
pub fn numbered_upn(upn: &str, n: u32) -> String {
    let (local, domain) = upn.split_once('@').unwrap_or((upn, ""));
    let suffix = n.to_string();
    let keep = local.len().min(64 - suffix.len());
    let base = local[..keep].trim_end_matches('.');
    format!("{base}{suffix}@{domain}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbered_upns_stay_valid() {
        assert_eq!(
            super::numbered_upn("alice-jit@fabrikam.com", 2),
            "alice-jit2@fabrikam.com"
        );
        let long = format!("{}@x.example", "a".repeat(64));
        let numbered = super::numbered_upn(&long, 12);
        assert_eq!(numbered.split('@').next().unwrap().len(), 64);
        assert!(numbered.ends_with("12@x.example"));
    }

    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse(" Alice.Smith@MSP.example ").unwrap().as_str(),
            "alice.smith@msp.example"
        );
        for bad in ["", "alice", "@x.com", "a@b", "a b@c.com"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn upn_template() {
        let t = UpnTemplate::parse(DEFAULT_UPN_TEMPLATE).unwrap();
        assert_eq!(
            t.render("alice.smith", "fabrikam.com").unwrap(),
            "alice.smith-jit@fabrikam.com"
        );
        assert_eq!(t.render("al+ice", "f.com").unwrap(), "alice-jit@f.com");
        assert!(UpnTemplate::parse("{local}@other.com").is_err());
        assert!(UpnTemplate::parse("jit-{local}@{domain}").is_ok());
    }

    #[test]
    fn guids_and_tenants() {
        assert!(Guid::parse("62E90394-69F5-4237-9190-012177145E10").is_ok());
        assert!(Guid::parse("62e90394-69f5-4237-9190").is_err());
        assert!(parse_tenant("contoso.onmicrosoft.com").is_ok());
        assert!(parse_tenant("not a tenant").is_err());
    }
}
