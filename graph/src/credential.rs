//! How jitgate proves to Entra ID that it is the app: a client secret, or a certificate whose
//! private key signs a fresh client assertion for every token request. Microsoft recommends
//! certificates over secrets
//! (https://learn.microsoft.com/entra/identity-platform/certificate-credentials).
//!
//! A [`ClientCertificate`] is read from one PEM text holding the certificate and its RSA
//! private key, and checked at once: an RSA key of at least 2048 bits that belongs to the
//! certificate (a probe signed with the key must verify under the certificate's public key).
//! Nothing here prints the key: `Debug` shows the thumbprint only.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PSS_SHA256, RsaKeyPair};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::{PemObject as _, SectionKind};
use serde_json::json;

use crate::error::GraphError;
use crate::guid::new_guid;
use crate::secret::{ExposeSecret as _, Secret, fingerprint};

/// `client_assertion_type` of a JWT client assertion (RFC 7523, as Microsoft's certificate
/// credentials page names it).
pub(crate) const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How long an assertion is valid. Microsoft's page shows ten minutes between `nbf` and `exp`;
/// each assertion is used once, at once.
const ASSERTION_LIFETIME_SECS: i64 = 600;

/// The smallest RSA key Entra accepts for a certificate credential, and ring's own minimum.
const MIN_RSA_BITS: usize = 2048;

/// What an app authenticates with.
#[derive(Clone)]
pub enum ClientCredential {
    /// A client secret's *value* (not its Secret ID).
    Secret(Secret),
    /// A certificate registered on the app, with its private key.
    Certificate(ClientCertificate),
}

impl ClientCredential {
    /// `"secret"` or `"certificate"`, for views and audit rows.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientCredential::Secret(_) => "secret",
            ClientCredential::Certificate(_) => "certificate",
        }
    }

    /// The fields that authenticate the client in a request to the token endpoint `token_url`:
    /// `client_secret`, or a client assertion made now (never reused, so a retry carries a
    /// fresh `jti` and times) with `aud` that exact URL
    /// (https://learn.microsoft.com/entra/identity-platform/certificate-credentials). Never
    /// both. Client credentials use it, and so does the console's OpenID Connect code
    /// exchange through the MSP app.
    pub fn authentication_form(
        &self,
        token_url: &str,
        client_id: &str,
    ) -> Result<Vec<(&'static str, String)>, GraphError> {
        Ok(match self {
            ClientCredential::Secret(secret) => {
                vec![("client_secret", secret.expose_secret().to_string())]
            }
            ClientCredential::Certificate(certificate) => vec![
                ("client_assertion_type", JWT_BEARER.to_string()),
                (
                    "client_assertion",
                    certificate.assertion(token_url, client_id)?,
                ),
            ],
        })
    }

    /// Tells credentials apart (token cache keys) without keeping or showing one: SHA-256 of
    /// the secret, or the certificate's SHA-256 thumbprint (the key is checked to belong to
    /// the certificate, so one certificate means one key).
    pub(crate) fn fingerprint(&self) -> [u8; 32] {
        match self {
            ClientCredential::Secret(secret) => fingerprint(secret),
            ClientCredential::Certificate(certificate) => certificate.sha256,
        }
    }
}

impl std::fmt::Debug for ClientCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientCredential::Secret(secret) => f.debug_tuple("Secret").field(secret).finish(),
            ClientCredential::Certificate(c) => f.debug_tuple("Certificate").field(c).finish(),
        }
    }
}

impl From<Secret> for ClientCredential {
    fn from(secret: Secret) -> Self {
        ClientCredential::Secret(secret)
    }
}

impl From<ClientCertificate> for ClientCredential {
    fn from(certificate: ClientCertificate) -> Self {
        ClientCredential::Certificate(certificate)
    }
}

/// A certificate and its RSA private key, checked to belong together.
#[derive(Clone)]
pub struct ClientCertificate {
    der: Arc<Vec<u8>>,
    key: Arc<RsaKeyPair>,
    sha1: [u8; 20],
    sha256: [u8; 32],
    not_after: Option<i64>,
}

impl std::fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("thumbprint", &self.thumbprint())
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl ClientCertificate {
    /// Reads one PEM text with the certificate (`CERTIFICATE`) and its RSA private key
    /// (PKCS#8 `PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`), in any order.
    pub fn from_pem(pem: &str) -> Result<Self, GraphError> {
        let sections = pem_sections(pem)?;
        let der = sections
            .iter()
            .find(|(kind, _)| *kind == SectionKind::Certificate)
            .map(|(_, der)| der.clone())
            .ok_or_else(|| invalid("no certificate (-----BEGIN CERTIFICATE-----) in the PEM"))?;
        let key = private_key(&sections)?;
        check_key_matches(&der, &key)?;
        use sha1::Digest as _;
        Ok(ClientCertificate {
            sha1: sha1::Sha1::digest(&der).into(),
            sha256: sha2::Sha256::digest(&der).into(),
            not_after: not_after(&der),
            der: Arc::new(der),
            key: Arc::new(key),
        })
    }

    /// SHA-1 thumbprint in upper-case hex: what the Entra admin center shows under App
    /// registrations > Certificates & secrets > Certificates.
    pub fn thumbprint(&self) -> String {
        self.sha1.iter().map(|b| format!("{b:02X}")).collect()
    }

    /// The certificate's `notAfter` as Unix seconds, when it could be read.
    pub fn not_after(&self) -> Option<i64> {
        self.not_after
    }

    /// The certificate alone (DER), e.g. to register it on an app.
    pub fn certificate_der(&self) -> &[u8] {
        &self.der
    }

    /// A client assertion for one token request: a JWT signed with PS256, as Microsoft's
    /// certificate credentials page describes it
    /// (https://learn.microsoft.com/entra/identity-platform/certificate-credentials).
    /// `x5t#S256` is what that page names now; `x5t` (SHA-1), which older versions of the page
    /// and other clouds name, goes along so either reading finds the certificate.
    pub(crate) fn assertion(&self, audience: &str, client_id: &str) -> Result<String, GraphError> {
        let now = unix_now();
        let header = json!({
            "alg": "PS256",
            "typ": "JWT",
            "x5t#S256": base64url(&self.sha256),
            "x5t": base64url(&self.sha1),
        });
        let claims = json!({
            "aud": audience,
            "iss": client_id,
            "sub": client_id,
            "jti": new_guid(),
            "nbf": now,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECS,
        });
        let signing_input = format!(
            "{}.{}",
            base64url(header.to_string().as_bytes()),
            base64url(claims.to_string().as_bytes())
        );
        let signature = sign(&self.key, signing_input.as_bytes())?;
        Ok(format!("{signing_input}.{}", base64url(&signature)))
    }
}

fn invalid(problem: &str) -> GraphError {
    GraphError::InvalidCertificate {
        problem: problem.to_string(),
    }
}

/// Every PEM section. The parser's own errors are not passed on: they may quote a line.
fn pem_sections(pem: &str) -> Result<Vec<(SectionKind, Vec<u8>)>, GraphError> {
    let sections: Result<Vec<(SectionKind, Vec<u8>)>, _> =
        <(SectionKind, Vec<u8>)>::pem_slice_iter(pem.as_bytes()).collect();
    let sections = sections.map_err(|_| {
        invalid("the PEM text is damaged (a BEGIN line without its END line, or bad base64)")
    })?;
    if sections.is_empty() {
        return Err(invalid(
            "no PEM sections found; paste the certificate and its private key as PEM text \
             (-----BEGIN CERTIFICATE----- … and -----BEGIN PRIVATE KEY----- …)",
        ));
    }
    Ok(sections)
}

/// The RSA private key among the sections.
fn private_key(sections: &[(SectionKind, Vec<u8>)]) -> Result<RsaKeyPair, GraphError> {
    let (kind, der) = sections
        .iter()
        .find(|(kind, _)| {
            matches!(
                kind,
                SectionKind::PrivateKey | SectionKind::RsaPrivateKey | SectionKind::EcPrivateKey
            )
        })
        .ok_or_else(|| {
            invalid(
                "no private key (-----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----) \
                 in the PEM; put the certificate and its unencrypted key in one file",
            )
        })?;
    let parsed = match kind {
        SectionKind::PrivateKey => RsaKeyPair::from_pkcs8(der),
        SectionKind::RsaPrivateKey => RsaKeyPair::from_der(der),
        _ => return Err(not_rsa()),
    };
    let key = parsed.map_err(|rejected| match rejected.to_string().as_str() {
        "WrongAlgorithm" => not_rsa(),
        "TooSmall" => too_small(),
        _ => invalid("the private key cannot be read as an RSA key"),
    })?;
    if key.public().modulus_len() * 8 < MIN_RSA_BITS {
        return Err(too_small());
    }
    Ok(key)
}

fn not_rsa() -> GraphError {
    invalid("the private key is not an RSA key; Entra certificate credentials need RSA")
}

fn too_small() -> GraphError {
    invalid("the RSA key is smaller than 2048 bits; make a key of at least 2048 bits")
}

/// Signs a probe with the key and verifies it under the certificate's public key.
fn check_key_matches(der: &[u8], key: &RsaKeyPair) -> Result<(), GraphError> {
    let der = CertificateDer::from(der);
    let certificate = webpki::EndEntityCert::try_from(&der)
        .map_err(|_| invalid("the certificate cannot be read (not an X.509 certificate)"))?;
    let probe = b"jitgate: does this key belong to this certificate?";
    let signature = sign(key, probe)?;
    certificate
        .verify_signature(
            webpki::ring::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
            probe,
            &signature,
        )
        .map_err(|_| {
            invalid(
                "the private key does not belong to the certificate; use the key the \
                 certificate was made with",
            )
        })
}

fn sign(key: &RsaKeyPair, message: &[u8]) -> Result<Vec<u8>, GraphError> {
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(
        &RSA_PSS_SHA256,
        &SystemRandom::new(),
        message,
        &mut signature,
    )
    .map_err(|_| invalid("signing with the private key failed"))?;
    Ok(signature)
}

fn base64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unix_now() -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    i64::try_from(now).unwrap_or(i64::MAX)
}

/// `tbsCertificate.validity.notAfter` (RFC 5280 section 4.1), read by walking the DER:
/// Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber,
/// signature, issuer, validity SEQUENCE { notBefore, notAfter }, … }, … }.
fn not_after(der: &[u8]) -> Option<i64> {
    let (_, certificate, _) = der_element(der)?;
    let (_, tbs, _) = der_element(certificate)?;
    let mut rest = tbs;
    let (tag, _, after) = der_element(rest)?;
    if tag == 0xa0 {
        rest = after; // the explicit version
    }
    for _ in 0..3 {
        rest = der_element(rest)?.2; // serialNumber, signature, issuer
    }
    let (_, validity, _) = der_element(rest)?;
    let (_, _, after_not_before) = der_element(validity)?;
    let (tag, time, _) = der_element(after_not_before)?;
    parse_der_time(tag, std::str::from_utf8(time).ok()?)
}

/// One DER element: (tag, contents, the bytes after it).
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let len = rest[..count]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[count..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// UTCTime (`YYMMDDHHMMSSZ`, years 1950–2049) or GeneralizedTime (`YYYYMMDDHHMMSSZ`).
fn parse_der_time(tag: u8, text: &str) -> Option<i64> {
    let digits = text.strip_suffix('Z')?;
    let (year, rest) = match (tag, digits.len()) {
        (0x17, 12) => {
            let yy: i64 = digits[..2].parse().ok()?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &digits[2..])
        }
        (0x18, 14) => (digits[..4].parse().ok()?, &digits[4..]),
        _ => return None,
    };
    let field = |i: usize| rest.get(i..i + 2)?.parse::<i64>().ok();
    let (month, day) = (field(0)?, field(2)?);
    let (hour, minute, second) = (field(4)?, field(6)?, field(8)?);
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + hour * 3_600 + minute * 60 + second)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    const REGISTERED: &str = include_str!("../../sim/fixtures/msp-app-registered.pem");
    const REGISTERED_PKCS1: &str = include_str!("../../sim/fixtures/msp-app-registered-pkcs1.pem");
    const UNREGISTERED: &str = include_str!("../../sim/fixtures/msp-app-unregistered.pem");
    const SMALL: &str = include_str!("../../sim/fixtures/rsa-1024.pem");
    const EC: &str = include_str!("../../sim/fixtures/ec-p256.pem");

    /// (certificate section, key section) of a fixture.
    fn parts(pem: &str) -> (String, String) {
        let at = pem.find("-----BEGIN PRIVATE KEY-----").expect("PKCS#8 key");
        (pem[..at].to_string(), pem[at..].to_string())
    }

    fn problem(pem: &str) -> String {
        match ClientCertificate::from_pem(pem) {
            Err(GraphError::InvalidCertificate { problem }) => problem,
            other => panic!("expected InvalidCertificate, got {other:?}"),
        }
    }

    fn decode(part: &str) -> serde_json::Value {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .expect("base64url");
        serde_json::from_slice(&bytes).expect("JSON")
    }

    #[test]
    fn reads_pkcs8_and_pkcs1_keys_and_shows_the_portal_thumbprint() {
        let pkcs8 = ClientCertificate::from_pem(REGISTERED).expect("PKCS#8");
        let pkcs1 = ClientCertificate::from_pem(REGISTERED_PKCS1).expect("PKCS#1");
        // `openssl x509 -noout -fingerprint -sha1 -enddate` of the fixture.
        assert_eq!(
            pkcs8.thumbprint(),
            "9439455DEB62EA49638D4D1FA1CF75C5B76BB5D9"
        );
        assert_eq!(pkcs1.thumbprint(), pkcs8.thumbprint());
        // notAfter=Nov 27 07:56:27 2036 GMT
        assert_eq!(pkcs8.not_after(), Some(2_111_385_387));
        // Key first, certificate second works as well.
        let (certificate, key) = parts(REGISTERED);
        assert!(ClientCertificate::from_pem(&format!("{key}{certificate}")).is_ok());
    }

    #[test]
    fn pem_problems_are_named() {
        let (certificate, key) = parts(REGISTERED);
        let (_, other_key) = parts(UNREGISTERED);
        assert!(problem("").contains("no PEM sections"));
        assert!(problem("not a pem at all").contains("no PEM sections"));
        assert!(problem(&key).contains("no certificate"));
        assert!(problem(&certificate).contains("no private key"));
        assert!(problem(&format!("{certificate}{other_key}")).contains("does not belong"));
        assert!(problem(SMALL).contains("2048"));
        assert!(problem(EC).contains("not an RSA key"));
        let damaged = REGISTERED.replace("-----END PRIVATE KEY-----", "");
        assert!(problem(&damaged).contains("damaged"));
    }

    #[test]
    fn errors_and_debug_never_show_the_key() {
        let (certificate, key) = parts(REGISTERED);
        let (_, other_key) = parts(UNREGISTERED);
        let key_line = key.lines().nth(1).expect("a base64 line");
        let other_line = other_key.lines().nth(1).expect("a base64 line");
        let error = ClientCertificate::from_pem(&format!("{certificate}{other_key}"))
            .expect_err("mismatch");
        assert!(!error.to_string().contains(other_line));
        let credential = ClientCredential::from(ClientCertificate::from_pem(REGISTERED).unwrap());
        let debug = format!("{credential:?}");
        assert!(
            debug.contains("9439455DEB62EA49638D4D1FA1CF75C5B76BB5D9"),
            "{debug}"
        );
        assert!(!debug.contains(key_line), "{debug}");
        assert_eq!(credential.kind(), "certificate");
    }

    #[test]
    fn the_assertion_has_microsofts_shape_and_verifies() {
        let certificate = ClientCertificate::from_pem(REGISTERED).unwrap();
        let audience = "https://login.example/contoso.onmicrosoft.com/oauth2/v2.0/token";
        let jwt = certificate.assertion(audience, "app-id").unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header = decode(parts[0]);
        assert_eq!(header["alg"], "PS256");
        assert_eq!(header["typ"], "JWT");
        use sha1::Digest as _;
        let der = certificate.certificate_der();
        assert_eq!(header["x5t#S256"], base64url(&sha2::Sha256::digest(der)));
        assert_eq!(header["x5t"], base64url(&sha1::Sha1::digest(der)));
        let claims = decode(parts[1]);
        assert_eq!(claims["aud"], audience);
        assert_eq!(claims["iss"], "app-id");
        assert_eq!(claims["sub"], "app-id");
        assert_eq!(claims["jti"].as_str().unwrap().len(), 36);
        let iat = claims["iat"].as_i64().unwrap();
        assert!((iat - unix_now()).abs() < 5);
        assert_eq!(claims["nbf"].as_i64(), Some(iat));
        assert_eq!(claims["exp"].as_i64(), Some(iat + 600));
        let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[2])
            .unwrap();
        let der = CertificateDer::from(der);
        webpki::EndEntityCert::try_from(&der)
            .unwrap()
            .verify_signature(
                webpki::ring::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
                format!("{}.{}", parts[0], parts[1]).as_bytes(),
                &signature,
            )
            .expect("signed with the certificate's key");
        // Fresh per request.
        let again = certificate.assertion(audience, "app-id").unwrap();
        assert_ne!(
            decode(again.split('.').nth(1).unwrap())["jti"],
            claims["jti"]
        );
    }

    #[test]
    fn fingerprints_tell_credentials_apart() {
        let a = ClientCredential::from(ClientCertificate::from_pem(REGISTERED).unwrap());
        let b = ClientCredential::from(ClientCertificate::from_pem(UNREGISTERED).unwrap());
        let s = ClientCredential::from(Secret::from("s"));
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_ne!(a.fingerprint(), s.fingerprint());
        assert_eq!(
            a.fingerprint(),
            ClientCredential::from(ClientCertificate::from_pem(REGISTERED_PKCS1).unwrap())
                .fingerprint()
        );
    }

    #[test]
    fn der_times_are_read() {
        assert_eq!(parse_der_time(0x17, "700101000000Z"), Some(0));
        assert_eq!(parse_der_time(0x18, "20000301000000Z"), Some(951_868_800));
        assert_eq!(parse_der_time(0x17, "491231235959Z"), Some(2_524_607_999));
        assert_eq!(parse_der_time(0x17, "garbage"), None);
    }
}
