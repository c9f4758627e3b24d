//! Autotask webhook signatures: `X-Hook-Signature: sha1=<base64 HMAC-SHA1(SecretKey, body)>`
//! (https://www.autotask.net/help/developerhelp/Content/APIs/Webhooks/SecretKeyPayloadVerification.htm).
//!
//! Which bytes are signed is uncertain, so both readings are accepted:
//! 1. the raw request bytes (Nango's reading; also right if the wire JSON is already
//!    .NET-escaped, which is the likeliest explanation of the n8n findings);
//! 2. the body re-escaped the way .NET's default JSON encoder writes strings: `&`, `<`, `>`, `'`,
//!    `"`, backtick, `+` and every non-ASCII UTF-16 unit as upper-case `\uXXXX` (n8n's reading,
//!    which fixed its failures with accented text). This covers a sender that signs the escaped
//!    form but puts the unescaped text on the wire.
//!
//! Both forms are HMACs under the same secret, so accepting both does not weaken the check: a
//! forger still needs the secret. Each active secret (rotation) is tried in turn; every
//! comparison is constant-time.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

pub const SIGNATURE_HEADER: &str = "x-hook-signature";
const PREFIX: &str = "sha1=";

/// The decoded `X-Hook-Signature`: 20 bytes of HMAC-SHA1.
#[derive(Clone, PartialEq, Eq)]
pub struct HookSignature([u8; 20]);

impl std::fmt::Debug for HookSignature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HookSignature(..)")
    }
}

/// Which bytes a verified signature covered (logged, to settle the open question).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedForm {
    RawBytes,
    DotNetEscaped,
}

impl SignedForm {
    /// The name the delivery log shows.
    pub fn as_str(self) -> &'static str {
        match self {
            SignedForm::RawBytes => "raw",
            SignedForm::DotNetEscaped => "escaped",
        }
    }
}

impl HookSignature {
    pub fn from_headers(headers: &http::HeaderMap) -> Result<HookSignature, String> {
        let value = headers
            .get(SIGNATURE_HEADER)
            .ok_or("missing X-Hook-Signature header")?
            .to_str()
            .map_err(|_| "X-Hook-Signature is not ASCII")?
            .trim();
        let encoded = match value.get(..PREFIX.len()) {
            Some(p) if p.eq_ignore_ascii_case(PREFIX) => value[PREFIX.len()..].trim(),
            _ => return Err("X-Hook-Signature must start with sha1=".into()),
        };
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| "X-Hook-Signature is not base64")?;
        let bytes: [u8; 20] = bytes
            .try_into()
            .map_err(|_| "X-Hook-Signature is not an HMAC-SHA1 value")?;
        Ok(HookSignature(bytes))
    }

    fn matches(&self, secret: &[u8], message: &[u8]) -> bool {
        let mut mac = Hmac::<Sha1>::new_from_slice(secret).expect("HMAC takes keys of any length");
        mac.update(message);
        mac.verify_slice(&self.0).is_ok()
    }

    /// The form this signature verifies under any of `secrets`, if any.
    pub fn verify<'s>(
        &self,
        secrets: impl IntoIterator<Item = &'s [u8]> + Clone,
        body: &[u8],
        accept_escaped: bool,
    ) -> Option<SignedForm> {
        if secrets.clone().into_iter().any(|s| self.matches(s, body)) {
            return Some(SignedForm::RawBytes);
        }
        if !accept_escaped {
            return None;
        }
        let text = std::str::from_utf8(body).ok()?;
        let escaped = dotnet_escape(text);
        if escaped.as_bytes() != body
            && secrets
                .into_iter()
                .any(|s| self.matches(s, escaped.as_bytes()))
        {
            return Some(SignedForm::DotNetEscaped);
        }
        None
    }
}

/// The header value Autotask would send for `message` (tests and the simulator's twin).
pub fn sign(secret: &str, message: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(message);
    format!("{PREFIX}{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// Re-escape the string values of a JSON text as .NET's default encoder does (n8n's
/// `customEscapeJsonStrings`): inside strings, `& < > ' \` + ` and every non-ASCII UTF-16 unit
/// become `\uXXXX` (upper-case hex) and an escaped quote `\"` becomes `\u0022`. Existing escape
/// sequences and everything outside strings are left as they are.
pub fn dotnet_escape(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + json.len() / 8);
    let mut in_string = false;
    let mut after_backslash = false;
    for c in json.chars() {
        if after_backslash {
            after_backslash = false;
            if c == '"' && in_string {
                out.pop(); // the backslash
                out.push_str("\\u0022");
            } else {
                out.push(c);
            }
            continue;
        }
        match c {
            '\\' => {
                after_backslash = true;
                out.push(c);
            }
            '"' => {
                in_string = !in_string;
                out.push(c);
            }
            '&' | '<' | '>' | '\'' | '`' | '+' if in_string => push_unit(&mut out, c as u16),
            c if in_string && !c.is_ascii() => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    push_unit(&mut out, *unit);
                }
            }
            c => out.push(c),
        }
    }
    out
}

fn push_unit(out: &mut String, unit: u16) {
    use std::fmt::Write;
    let _ = write!(out, "\\u{unit:04X}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert("X-Hook-Signature", value.parse().unwrap());
        h
    }

    /// A vector computed independently of this code (HMAC-SHA1 of the body with the key,
    /// base64), so the test does not merely repeat the implementation.
    #[test]
    fn reference_vector() {
        let body = br#"{"Action":"Update","EntityType":"Ticket","Id":351181}"#;
        assert_eq!(
            sign("at-secret-key-123", body),
            "sha1=SxORfYwaFI/FcPlrSareVU1eYD8="
        );
        let sig =
            HookSignature::from_headers(&headers("sha1=SxORfYwaFI/FcPlrSareVU1eYD8=")).unwrap();
        let secrets = [b"at-secret-key-123".as_slice()];
        assert_eq!(sig.verify(secrets, body, true), Some(SignedForm::RawBytes));
        assert_eq!(
            sig.verify([b"at-secret-key-124".as_slice()], body, true),
            None
        );
    }

    #[test]
    fn escaping_matches_the_dotnet_encoder() {
        let raw = r#"{"Title":"R&D <b> it's `x` 1+1 café ☕ 😀","Quote":"say \"hi\"","Path":"a\\b","K&ey":1}"#;
        let escaped = dotnet_escape(raw);
        assert_eq!(
            escaped,
            r#"{"Title":"R\u0026D \u003Cb\u003E it\u0027s \u0060x\u0060 1\u002B1 caf\u00E9 \u2615 \uD83D\uDE00","Quote":"say \u0022hi\u0022","Path":"a\\b","K\u0026ey":1}"#
        );
        // Already-escaped text is left alone.
        assert_eq!(dotnet_escape(&escaped), escaped);
    }

    #[test]
    fn both_signed_forms_and_rotated_secrets_verify() {
        let wire = r#"{"Action":"Update","Fields":{"Title":"Accès admin & + <urgent>"}}"#;
        let secrets = [b"new-secret".as_slice(), b"old-secret".as_slice()];

        let raw_sig =
            HookSignature::from_headers(&headers(&sign("old-secret", wire.as_bytes()))).unwrap();
        assert_eq!(
            raw_sig.verify(secrets, wire.as_bytes(), true),
            Some(SignedForm::RawBytes)
        );

        let escaped_sig = HookSignature::from_headers(&headers(&sign(
            "new-secret",
            dotnet_escape(wire).as_bytes(),
        )))
        .unwrap();
        assert_eq!(
            escaped_sig.verify(secrets, wire.as_bytes(), true),
            Some(SignedForm::DotNetEscaped)
        );
        assert_eq!(escaped_sig.verify(secrets, wire.as_bytes(), false), None);
        assert_eq!(
            escaped_sig.verify([b"third".as_slice()], wire.as_bytes(), true),
            None
        );
    }

    #[test]
    fn bad_headers_are_refused() {
        assert!(HookSignature::from_headers(&http::HeaderMap::new()).is_err());
        assert!(HookSignature::from_headers(&headers("SxORfYwaFI/FcPlrSareVU1eYD8=")).is_err());
        assert!(
            HookSignature::from_headers(&headers("sha256=SxORfYwaFI/FcPlrSareVU1eYD8=")).is_err()
        );
        assert!(HookSignature::from_headers(&headers("sha1=!!")).is_err());
        assert!(HookSignature::from_headers(&headers("sha1=c2hvcnQ=")).is_err());
        assert!(HookSignature::from_headers(&headers("SHA1=SxORfYwaFI/FcPlrSareVU1eYD8=")).is_ok());
    }
}
