//! Authenticator (TOTP) keys of JIT accounts.
//!
//! Graph cannot register a software OATH method (it offers list, get and delete only:
//! https://learn.microsoft.com/graph/api/resources/softwareoathauthenticationmethod), so the technician enrolls an
//! authenticator app in Microsoft's own sign-in flow and then pastes the key into jitgate:
//! either the secret shown under "Can't scan the image?" (base32, often grouped in fours and
//! lower-case) or the `otpauth://totp/…` link behind the QR code. Either way it is parsed here
//! once; the normalized text is what gets sealed, and parsing it again gives the same key.

use totp_rs::{Algorithm, Builder, Secret, Totp};

/// The shortest secret accepted, in bytes. RFC 4226 asks for 128 bits, but authenticator
/// enrollments commonly show 80-bit keys (16 base32 characters) and the reference does not say
/// how long Microsoft's are, so both readings are accepted: 80 bits and up.
const MIN_SECRET_BYTES: usize = 10;
/// Longest input considered (an otpauth link with a long label is still far below this).
const MAX_INPUT_CHARS: usize = 2048;
/// Step lengths an authenticator app could plausibly use; Microsoft's is 30 s.
const STEP_RANGE: std::ops::RangeInclusive<u64> = 10..=300;

/// Codes after the current one that a page is handed, so it can roll over without asking
/// again: with 30 s steps, a code on screen for up to two minutes after a reveal — enough for
/// one sign-in, short of a standing second factor.
pub const CODES_AHEAD: u64 = 3;

/// A parsed, usable TOTP key. `Debug` never shows the secret.
#[derive(Clone)]
pub struct TotpKey {
    totp: Totp,
    normalized: String,
}

/// Why a pasted key was refused. The messages are shown to the technician and never contain
/// any part of what was pasted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TotpKeyError {
    #[error("Enter the secret key or the otpauth:// link from your authenticator setup.")]
    Empty,
    #[error(
        "This is neither a base32 secret key (letters A–Z and digits 2–7) nor an otpauth://totp/ link."
    )]
    Unreadable,
    #[error("This secret key is too short to be a real authenticator key; check it is complete.")]
    TooShort,
    #[error("This otpauth link uses settings jitgate cannot use (digits must be 6–8).")]
    Unsupported,
}

/// One code and how long it stays current.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code {
    pub code: String,
    /// Seconds until the next step starts (1..=step).
    pub seconds_left: u64,
}

impl TotpKey {
    /// Parse what a technician pasted: a base32 secret (spaces, dashes, `=` padding and case
    /// do not matter) or an `otpauth://totp/` link.
    pub fn parse(input: &str) -> Result<TotpKey, TotpKeyError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(TotpKeyError::Empty);
        }
        if input.chars().count() > MAX_INPUT_CHARS {
            return Err(TotpKeyError::Unreadable);
        }
        let is_link = input
            .get(..10)
            .is_some_and(|p| p.eq_ignore_ascii_case("otpauth://"));
        let (totp, normalized) = if is_link {
            let link = normalize_link(input)?;
            // `from_url_unchecked` so an 80-bit key is not refused; the checks below replace
            // the RFC ones `from_url` would make.
            let totp = Totp::from_url_unchecked(&link).map_err(|_| TotpKeyError::Unreadable)?;
            (totp, link)
        } else {
            let base32 = normalize_base32(input);
            let secret = Secret::try_from_base32(&base32).map_err(|_| TotpKeyError::Unreadable)?;
            let totp = Builder::new()
                .with_algorithm(Algorithm::SHA1)
                .with_secret(secret)
                .build_noncompliant();
            (totp, base32)
        };
        check(&totp)?;
        Ok(TotpKey { totp, normalized })
    }

    /// The text to seal: parsing it again yields the same key.
    pub fn normalized(&self) -> &str {
        &self.normalized
    }

    /// The current code.
    pub fn current(&self) -> Code {
        self.code_at(unix_now())
    }

    /// The code at `unix_secs`, with the seconds left in its step.
    pub fn code_at(&self, unix_secs: u64) -> Code {
        let step = self.totp.step();
        Code {
            code: self.totp.generate(unix_secs).to_string(),
            seconds_left: step - unix_secs % step,
        }
    }

    /// The codes of the current step and the `ahead` steps after it (the page rolls over to
    /// them without asking the server, see `http::credential`).
    pub fn codes_from_now(&self, ahead: u64) -> Vec<Code> {
        let now = unix_now();
        let step = self.totp.step();
        let first_left = self.code_at(now).seconds_left;
        (0..=ahead)
            .map(|i| Code {
                code: self.totp.generate(now + i * step).to_string(),
                // Counted from now: when this code stops being current.
                seconds_left: first_left + i * step,
            })
            .collect()
    }

    /// Seconds per code.
    pub fn step(&self) -> u64 {
        self.totp.step()
    }

    /// Whether `code` is this key's code now (one step of clock skew either way). Spaces in
    /// the code ("123 456", as apps show it) are ignored.
    pub fn confirms(&self, code: &str) -> bool {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        self.totp.check(&code, unix_now()).is_some()
    }
}

impl std::fmt::Debug for TotpKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpKey")
            .field("digits", &self.totp.digits())
            .field("step", &self.totp.step())
            .finish_non_exhaustive()
    }
}

fn check(totp: &Totp) -> Result<(), TotpKeyError> {
    if !(6..=8).contains(&totp.digits()) || !STEP_RANGE.contains(&totp.step()) {
        return Err(TotpKeyError::Unsupported);
    }
    if totp.secret().as_bytes().len() < MIN_SECRET_BYTES {
        return Err(TotpKeyError::TooShort);
    }
    Ok(())
}

/// `abcd efgh-ijkl====` → `ABCDEFGHIJKL`.
fn normalize_base32(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect::<String>()
        .trim_end_matches('=')
        .to_ascii_uppercase()
}

/// The link with its `secret` parameter normalized like a pasted secret, since some issuers
/// write it in lower case, which totp-rs's strict decoder refuses.
fn normalize_link(link: &str) -> Result<String, TotpKeyError> {
    let mut url = url::Url::parse(link).map_err(|_| TotpKeyError::Unreadable)?;
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "secret" {
                normalize_base32(&v)
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    if !pairs.iter().any(|(k, _)| k == "secret") {
        return Err(TotpKeyError::Unreadable);
    }
    url.query_pairs_mut().clear().extend_pairs(pairs);
    Ok(url.to_string())
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6238 appendix B's SHA-1 key, "12345678901234567890".
    const RFC_KEY: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

    #[test]
    fn base32_is_normalized_and_matches_the_rfc_vectors() {
        let key = TotpKey::parse("gezd gnbv-gy3t qojq gezd gnbv gy3t qojq==").unwrap();
        assert_eq!(key.normalized(), RFC_KEY);
        // RFC 6238 gives 8 digits; the 6-digit code is its last six.
        assert_eq!(key.code_at(59).code, "287082");
        assert_eq!(key.code_at(1111111109).code, "081804");
        assert_eq!(key.code_at(59).seconds_left, 1);
        assert_eq!(key.code_at(60).seconds_left, 30);
        let again = TotpKey::parse(key.normalized()).unwrap();
        assert_eq!(again.code_at(59), key.code_at(59));
    }

    #[test]
    fn otpauth_links_are_read_with_their_settings() {
        let link = format!(
            "otpauth://totp/Microsoft:alice-jit%40fabrikam.com?secret={}&issuer=Microsoft&digits=8",
            RFC_KEY.to_lowercase()
        );
        let key = TotpKey::parse(&link).unwrap();
        assert_eq!(key.code_at(59).code, "94287082");
        let again = TotpKey::parse(key.normalized()).unwrap();
        assert_eq!(again.code_at(59).code, "94287082");
    }

    #[test]
    fn typos_and_junk_are_refused_without_echoing_them() {
        assert_eq!(TotpKey::parse("  ").unwrap_err(), TotpKeyError::Empty);
        assert_eq!(
            TotpKey::parse("GEZDGNBVGY3TQOJ1").unwrap_err(),
            TotpKeyError::Unreadable,
            "1 is not a base32 digit"
        );
        assert_eq!(
            TotpKey::parse("GEZDGNBV").unwrap_err(),
            TotpKeyError::TooShort
        );
        assert_eq!(
            TotpKey::parse("otpauth://totp/x?issuer=y").unwrap_err(),
            TotpKeyError::Unreadable
        );
        assert_eq!(
            TotpKey::parse(&format!("otpauth://totp/x?secret={RFC_KEY}&digits=10")).unwrap_err(),
            TotpKeyError::Unsupported
        );
        assert_eq!(
            TotpKey::parse(&format!("otpauth://hotp/x?secret={RFC_KEY}")).unwrap_err(),
            TotpKeyError::Unreadable
        );
        let err = TotpKey::parse("GEZDGNBVGY3TQOJ1").unwrap_err().to_string();
        assert!(!err.contains("GEZD"));
    }

    #[test]
    fn an_80_bit_key_is_accepted() {
        assert!(TotpKey::parse("JBSW Y3DP EHPK 3PXP").is_ok());
    }

    #[test]
    fn confirms_the_current_code_only() {
        let key = TotpKey::parse(RFC_KEY).unwrap();
        let now = key.current().code;
        assert!(key.confirms(&now));
        assert!(key.confirms(&format!("{} {}", &now[..3], &now[3..])));
        let wrong = format!("{:06}", (now.parse::<u32>().unwrap() + 1) % 1_000_000);
        assert!(!key.confirms(&wrong));
        assert!(!key.confirms("abcdef"));
    }

    #[test]
    fn debug_hides_the_secret() {
        let key = TotpKey::parse(RFC_KEY).unwrap();
        assert!(!format!("{key:?}").contains(RFC_KEY));
    }
}
