//! Checking that a delivery really came from the MSP's Halo instance.
//!
//! Halo documents two options for outbound webhooks: no authentication, or **Basic**
//! (Halo's webhook guide, https://halopsa.com/guides/article/?kbid=838). jitgate requires Basic with a long random password, or, for setups
//! that put a signing hop in front (a runbook Custom Integration, a relay) or in case Halo gains
//! signing, an **HMAC-SHA256 of the raw body** in a configurable header.
//!
//! Every comparison is constant-time, and every configured secret is tried (no early exit), so
//! timing reveals neither the secret nor which of several rotating secrets matched.

use crate::Secret;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use secrecy::ExposeSecret as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

#[derive(Clone)]
pub enum DeliveryAuth {
    /// `Authorization: Basic base64(username:password)`, any of `passwords` (newest first).
    Basic {
        username: String,
        passwords: Vec<Secret>,
    },
    /// `header: [sha256=]<hex or base64 HMAC-SHA256(secret, raw body)>`, any of `secrets`.
    Hmac {
        header: http::HeaderName,
        secrets: Vec<Secret>,
    },
}

impl std::fmt::Debug for DeliveryAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeliveryAuth::Basic {
                username,
                passwords,
            } => {
                write!(
                    f,
                    "Basic {{ username: {username:?}, passwords: {} }}",
                    passwords.len()
                )
            }
            DeliveryAuth::Hmac { header, secrets } => {
                write!(f, "Hmac {{ header: {header}, secrets: {} }}", secrets.len())
            }
        }
    }
}

impl DeliveryAuth {
    /// `Ok` if the delivery carries valid credentials; the error says what was missing or wrong
    /// and never echoes what was sent or expected.
    pub fn verify(&self, headers: &http::HeaderMap, body: &[u8]) -> Result<(), String> {
        match self {
            DeliveryAuth::Basic {
                username,
                passwords,
            } => verify_basic(username, passwords, headers),
            DeliveryAuth::Hmac { header, secrets } => verify_hmac(header, secrets, headers, body),
        }
    }
}

fn verify_basic(
    username: &str,
    passwords: &[Secret],
    headers: &http::HeaderMap,
) -> Result<(), String> {
    let value = headers
        .get(http::header::AUTHORIZATION)
        .ok_or("missing Authorization header (configure Basic authentication on the Halo webhook)")?
        .to_str()
        .map_err(|_| "Authorization header is not visible ASCII")?;
    let (scheme, encoded) = value
        .trim()
        .split_once(' ')
        .ok_or("Authorization is not Basic credentials")?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err("Authorization is not Basic credentials".into());
    }
    let decoded = STANDARD
        .decode(encoded.trim())
        .or_else(|_| STANDARD_NO_PAD.decode(encoded.trim()))
        .map_err(|_| "Basic credentials are not valid base64")?;
    let colon = decoded
        .iter()
        .position(|&b| b == b':')
        .ok_or("Basic credentials lack a ':'")?;
    let (user, password) = (&decoded[..colon], &decoded[colon + 1..]);

    // Hashing first gives equal-length inputs, so the comparisons do not leak lengths either.
    let user_ok = digest(user).ct_eq(&digest(username.as_bytes()));
    let password_digest = digest(password);
    let mut password_ok = subtle::Choice::from(0);
    for candidate in passwords {
        password_ok |= password_digest.ct_eq(&digest(candidate.expose_secret().as_bytes()));
    }
    if bool::from(user_ok & password_ok) {
        Ok(())
    } else {
        // One message for both cases: which half was wrong is none of the caller's business.
        Err("wrong Basic user name or password".into())
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn verify_hmac(
    header: &http::HeaderName,
    secrets: &[Secret],
    headers: &http::HeaderMap,
    body: &[u8],
) -> Result<(), String> {
    let value = headers
        .get(header)
        .ok_or_else(|| format!("missing {header} header"))?
        .to_str()
        .map_err(|_| format!("{header} header is not visible ASCII"))?;
    let sent = parse_digest(value).ok_or_else(|| {
        format!(
            "{header} must be a hex or base64 HMAC-SHA256 digest, optionally prefixed with sha256="
        )
    })?;
    let mut matched = subtle::Choice::from(0);
    for secret in secrets {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
            .expect("HMAC takes any key length");
        mac.update(body);
        let expected: [u8; 32] = mac.finalize().into_bytes().into();
        matched |= expected.ct_eq(&sent);
    }
    if bool::from(matched) {
        Ok(())
    } else {
        Err(format!(
            "{header} does not match the body under any active secret"
        ))
    }
}

/// The 32-byte digest in an HMAC header value.
///
/// Uncertain vendor format: a bifrost issue (https://github.com/jackmusick/bifrost/issues/726)
/// reports HaloPSA sending
/// `sha256= <sig>` (a space after the prefix) and its fix adds base64 digests, but names neither
/// the header nor what is signed. So both readings are accepted: an optional, case-insensitive
/// `sha256=` prefix followed by optional spaces, then 64 hex digits or base64 (standard or
/// URL-safe alphabet, padded or not). A 64-character hex string never decodes to 32 bytes as
/// base64 (it would be 48), so the two encodings cannot be confused.
pub fn parse_digest(value: &str) -> Option<[u8; 32]> {
    let mut v = value.trim();
    if v.len() >= 7 && v.is_char_boundary(7) && v[..7].eq_ignore_ascii_case("sha256=") {
        v = v[7..].trim_start();
    }
    if v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()) {
        let mut out = [0u8; 32];
        for (i, pair) in v.as_bytes().chunks(2).enumerate() {
            let hex = std::str::from_utf8(pair).ok()?;
            out[i] = u8::from_str_radix(hex, 16).ok()?;
        }
        return Some(out);
    }
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(v).ok())
        .and_then(|bytes| <[u8; 32]>::try_from(bytes.as_slice()).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, passwords: &[&str]) -> DeliveryAuth {
        DeliveryAuth::Basic {
            username: user.into(),
            passwords: passwords.iter().map(|p| Secret::from(*p)).collect(),
        }
    }

    fn with_auth(value: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert(http::header::AUTHORIZATION, value.parse().unwrap());
        h
    }

    #[test]
    fn basic_vector() {
        // base64("jitgate:correct-horse-battery") = aml0Z2F0ZTpjb3JyZWN0LWhvcnNlLWJhdHRlcnk=
        let auth = basic("jitgate", &["new-password-0001", "correct-horse-battery"]);
        assert!(
            auth.verify(
                &with_auth("Basic aml0Z2F0ZTpjb3JyZWN0LWhvcnNlLWJhdHRlcnk="),
                b""
            )
            .is_ok()
        );
        assert!(
            auth.verify(
                &with_auth("basic   aml0Z2F0ZTpjb3JyZWN0LWhvcnNlLWJhdHRlcnk="),
                b""
            )
            .is_ok()
        );
    }

    #[test]
    fn basic_wrong_user_or_password() {
        let auth = basic("jitgate", &["correct-horse-battery"]);
        for creds in [
            "nobody:correct-horse-battery",
            "jitgate:wrong",
            "jitgate:",
            ":correct-horse-battery",
        ] {
            let header = format!("Basic {}", STANDARD.encode(creds));
            let err = auth.verify(&with_auth(&header), b"").unwrap_err();
            assert_eq!(err, "wrong Basic user name or password");
        }
        assert!(
            auth.verify(&http::HeaderMap::new(), b"")
                .unwrap_err()
                .contains("missing Authorization")
        );
        assert!(auth.verify(&with_auth("Bearer x"), b"").is_err());
        assert!(auth.verify(&with_auth("Basic !!!"), b"").is_err());
        assert!(
            auth.verify(
                &with_auth(&format!("Basic {}", STANDARD.encode("nocolon"))),
                b""
            )
            .is_err()
        );
    }

    /// Fixed vector, computed outside Rust:
    /// `printf '{"id":"1"}' | openssl dgst -sha256 -hmac halo-hmac-secret-1` → hex below;
    /// the same with `-binary | base64` → the base64 below.
    const HMAC_SECRET: &str = "halo-hmac-secret-1";
    const HMAC_BODY: &[u8] = br#"{"id":"1"}"#;
    const HMAC_HEX: &str = "f7b4569c3bf91c42ac25167f0f6b01b8a1e1052bd5496f83eb3eddfcbc1e6bbb";
    const HMAC_B64: &str = "97RWnDv5HEKsJRZ/D2sBuKHhBSvVSW+D6z7d/Lwea7s=";

    #[test]
    fn hmac_accepts_hex_base64_and_the_prefix_variants() {
        let b64url = "97RWnDv5HEKsJRZ_D2sBuKHhBSvVSW-D6z7d_Lwea7s";
        let auth = DeliveryAuth::Hmac {
            header: http::HeaderName::from_static("x-halo-signature"),
            secrets: vec![
                Secret::from("rotated-out-secret-2"),
                Secret::from(HMAC_SECRET),
            ],
        };
        for value in [
            HMAC_HEX.to_string(),
            HMAC_HEX.to_uppercase(),
            format!("sha256={HMAC_HEX}"),
            format!("sha256= {HMAC_HEX}"),
            format!("SHA256={HMAC_B64}"),
            format!("sha256= {HMAC_B64}"),
            HMAC_B64.to_string(),
            b64url.to_string(),
        ] {
            let mut h = http::HeaderMap::new();
            h.insert("x-halo-signature", value.parse().unwrap());
            assert!(auth.verify(&h, HMAC_BODY).is_ok(), "{value}");
            assert!(auth.verify(&h, br#"{"id":"2"}"#).is_err(), "{value}");
        }
        let only_old = DeliveryAuth::Hmac {
            header: http::HeaderName::from_static("x-halo-signature"),
            secrets: vec![Secret::from("rotated-out-secret-2")],
        };
        let mut h = http::HeaderMap::new();
        h.insert("x-halo-signature", HMAC_HEX.parse().unwrap());
        assert!(
            only_old
                .verify(&h, HMAC_BODY)
                .unwrap_err()
                .contains("does not match")
        );
        assert!(
            only_old
                .verify(&http::HeaderMap::new(), HMAC_BODY)
                .unwrap_err()
                .contains("missing x-halo-signature")
        );
    }

    #[test]
    fn parse_digest_refuses_other_lengths() {
        assert!(parse_digest("sha256=").is_none());
        assert!(parse_digest("abcd").is_none());
        assert!(parse_digest(&"a".repeat(63)).is_none());
        assert!(parse_digest("sha1=é").is_none());
    }

    proptest::proptest! {
        #[test]
        fn parse_digest_never_panics_and_round_trips(value in ".{0,100}", tag in proptest::array::uniform32(proptest::num::u8::ANY)) {
            let _ = parse_digest(&value);
            let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
            proptest::prop_assert_eq!(parse_digest(&format!("sha256= {hex}")), Some(tag));
            proptest::prop_assert_eq!(parse_digest(&STANDARD.encode(tag)), Some(tag));
        }
    }
}
