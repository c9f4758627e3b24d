//! ConnectWise callback signatures (Developer Guide, "Verifying the Callback Source"):
//! `x-content-signature = base64(HMAC-SHA256(key = SHA-256(signing_key), raw body))`, where
//! `signing_key` is fetched from the delivery's own `Metadata.key_url`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

pub const SIGNATURE_HEADER: &str = "x-content-signature";

/// The decoded `x-content-signature` header: 32 bytes of HMAC-SHA256.
#[derive(Clone, PartialEq, Eq)]
pub struct ContentSignature([u8; 32]);

impl std::fmt::Debug for ContentSignature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ContentSignature(..)")
    }
}

impl ContentSignature {
    /// Read the header; a missing, non-base64 or wrong-length value is refused before anything
    /// else happens (in particular before any `key_url` fetch).
    pub fn from_headers(headers: &http::HeaderMap) -> Result<ContentSignature, String> {
        let value = headers
            .get(SIGNATURE_HEADER)
            .ok_or_else(|| format!("missing {SIGNATURE_HEADER} header"))?;
        let text = value
            .to_str()
            .map_err(|_| format!("{SIGNATURE_HEADER} is not ASCII"))?
            .trim();
        let bytes = STANDARD
            .decode(text)
            .map_err(|_| format!("{SIGNATURE_HEADER} is not base64"))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| format!("{SIGNATURE_HEADER} is not an HMAC-SHA256 value"))?;
        Ok(ContentSignature(bytes))
    }

    /// Constant-time check of this signature against `body` under `signing_key`.
    pub fn verifies(&self, signing_key: &str, body: &[u8]) -> bool {
        mac(signing_key, body).verify_slice(&self.0).is_ok()
    }
}

fn mac(signing_key: &str, body: &[u8]) -> Hmac<Sha256> {
    let key = Sha256::digest(signing_key.as_bytes());
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes keys of any length");
    mac.update(body);
    mac
}

/// The header value ConnectWise would send (used by tests and the simulator's twin).
pub fn sign(signing_key: &str, body: &[u8]) -> String {
    STANDARD.encode(mac(signing_key, body).finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A vector computed independently of this code (C#'s `SHA256Managed` → `HMACSHA256`).
    const BODY: &[u8] = br#"{"Action":"updated","Type":"ticket","ID":123456}"#;
    const EXPECTED: &str = "5NoFQqjsXITDCRmqWeIbAagk8uzRHjwhbZONQPiOS94=";

    fn headers(value: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert(SIGNATURE_HEADER, value.parse().unwrap());
        h
    }

    #[test]
    fn reference_vector() {
        assert_eq!(sign("test-signing-key", BODY), EXPECTED);
        let sig = ContentSignature::from_headers(&headers(EXPECTED)).unwrap();
        assert!(sig.verifies("test-signing-key", BODY));
        assert!(!sig.verifies("test-signing-kez", BODY));
        assert!(!sig.verifies(
            "test-signing-key",
            br#"{"Action":"updated","Type":"ticket","ID":123457}"#
        ));
    }

    #[test]
    fn the_key_is_hashed_first() {
        // Keying the HMAC with the raw signing key (a common mistake) must not verify.
        let mut raw = Hmac::<Sha256>::new_from_slice(b"test-signing-key").unwrap();
        raw.update(BODY);
        let wrong = STANDARD.encode(raw.finalize().into_bytes());
        let sig = ContentSignature::from_headers(&headers(&wrong)).unwrap();
        assert!(!sig.verifies("test-signing-key", BODY));
    }

    #[test]
    fn bad_headers_are_refused() {
        assert!(ContentSignature::from_headers(&http::HeaderMap::new()).is_err());
        assert!(ContentSignature::from_headers(&headers("not base64!")).is_err());
        assert!(ContentSignature::from_headers(&headers("c2hvcnQ=")).is_err());
    }
}
