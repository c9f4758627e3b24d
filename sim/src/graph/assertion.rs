//! Client assertions (certificate credentials) at the token endpoint, checked as strictly as
//! Microsoft's certificate credentials page describes them
//! (https://learn.microsoft.com/entra/identity-platform/certificate-credentials): a JWT with
//! header `alg: PS256`, `typ: JWT` and `x5t#S256` naming a certificate registered on the app,
//! signed with that certificate's key; claims `aud` = the exact token URL, `iss` = `sub` = the
//! client id, `jti`, and `nbf`/`exp` around now.
//!
//! Refusals carry the AADSTS codes Azure's SDK troubleshooting page lists for certificate
//! credentials
//! (https://learn.microsoft.com/azure/developer/java/sdk/troubleshooting-authentication-service-principal):
//! 700027 invalid signature (certificate not registered), 700024 outside the valid time
//! range, 700023 wrong audience, 700021 `iss`/`sub` not the client id; a token that is not a
//! JWT at all gets 50027 (invalid or malformed JWT).

use super::*;
use base64::Engine as _;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::{PemObject as _, SectionKind};

/// `client_assertion_type` of a JWT client assertion (RFC 7523).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How far `nbf` and `exp` may be off the simulator's clock.
const ALLOWED_SKEW_SECS: i64 = 300;

/// A test-only RSA-2048 certificate with its private key (one PEM): the tests register it on
/// the MSP app. Public in the repository, never for a real app.
pub const REGISTERED_CERTIFICATE_PEM: &str = include_str!("../../fixtures/msp-app-registered.pem");
/// The same certificate with its key as PKCS#1 (`RSA PRIVATE KEY`).
pub const REGISTERED_CERTIFICATE_PKCS1_PEM: &str =
    include_str!("../../fixtures/msp-app-registered-pkcs1.pem");
/// A test-only RSA-2048 certificate registered nowhere.
pub const UNREGISTERED_CERTIFICATE_PEM: &str =
    include_str!("../../fixtures/msp-app-unregistered.pem");

/// The certificate (DER) of a PEM text, ignoring any private key in it: what uploading the
/// `.cer`/`.pem` to an app registration keeps.
pub fn certificate_der(pem: &str) -> Vec<u8> {
    <(SectionKind, Vec<u8>)>::pem_slice_iter(pem.as_bytes())
        .filter_map(Result::ok)
        .find(|(kind, _)| *kind == SectionKind::Certificate)
        .map(|(_, der)| der)
        .expect("the PEM holds a certificate")
}

/// Why an assertion is refused: Entra's AADSTS code and its text.
pub(super) struct Refusal {
    pub(super) code: u32,
    pub(super) text: String,
}

fn refuse(code: u32, text: impl Into<String>) -> Refusal {
    Refusal {
        code,
        text: text.into(),
    }
}

/// What the token request claims and what the app has registered.
pub(super) struct AssertionCheck<'a> {
    pub(super) assertion_type: Option<&'a str>,
    pub(super) assertion: &'a str,
    pub(super) client_id: &'a str,
    /// The URL this request was sent to: `{origin}/{tenant}/oauth2/v2.0/token`.
    pub(super) token_url: &'a str,
    /// DER of every certificate registered on the app.
    pub(super) certificates: &'a [Vec<u8>],
}

impl AssertionCheck<'_> {
    pub(super) fn verify(&self) -> Result<(), Refusal> {
        if self.assertion_type != Some(JWT_BEARER) {
            return Err(refuse(
                50027,
                format!(
                    "Invalid client_assertion_type '{}'; expected '{JWT_BEARER}'.",
                    self.assertion_type.unwrap_or("")
                ),
            ));
        }
        let (header, claims, signing_input, signature) = split_jwt(self.assertion)?;
        if header["alg"] != "PS256" || header["typ"] != "JWT" {
            return Err(refuse(
                50027,
                "JWT token is invalid or malformed: the header must have alg PS256 and typ JWT.",
            ));
        }
        let certificate = self.registered_certificate(&header)?;
        verify_signature(certificate, signing_input.as_bytes(), &signature)?;
        self.check_claims(&claims)
    }

    /// The registered certificate whose SHA-256 thumbprint the header names.
    fn registered_certificate(&self, header: &Value) -> Result<&[u8], Refusal> {
        let named = header["x5t#S256"].as_str().unwrap_or("");
        self.certificates
            .iter()
            .find(|der| base64url(&sha256(der)) == named)
            .map(Vec::as_slice)
            .ok_or_else(|| {
                refuse(
                    700027,
                    format!(
                        "Client assertion failed signature validation. The key used to sign it \
                         (x5t#S256 '{named}') is not a certificate registered on app '{}'.",
                        self.client_id
                    ),
                )
            })
    }

    fn check_claims(&self, claims: &Value) -> Result<(), Refusal> {
        if claims["aud"].as_str() != Some(self.token_url) {
            return Err(refuse(
                700023,
                format!(
                    "Client assertion audience claim does not match Realm issuer. Expected \
                     '{}'.",
                    self.token_url
                ),
            ));
        }
        if claims["iss"].as_str() != Some(self.client_id)
            || claims["sub"].as_str() != Some(self.client_id)
        {
            return Err(refuse(
                700021,
                "Client assertion application identifier doesn't match 'client_id' parameter.",
            ));
        }
        if claims["jti"].as_str().is_none_or(str::is_empty) {
            return Err(refuse(50027, "JWT token is invalid or malformed: no jti."));
        }
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let (Some(nbf), Some(exp)) = (claims["nbf"].as_i64(), claims["exp"].as_i64()) else {
            return Err(refuse(
                700024,
                "Client assertion is not within its valid time range: nbf and exp are required.",
            ));
        };
        if exp + ALLOWED_SKEW_SECS <= now || nbf - ALLOWED_SKEW_SECS > now {
            return Err(refuse(
                700024,
                format!(
                    "Client assertion is not within its valid time range. Current time: {now}, \
                     assertion valid from {nbf}, expiry time of assertion {exp}."
                ),
            ));
        }
        Ok(())
    }
}

/// (header, claims, `header.claims` as sent, signature) of a compact JWT.
fn split_jwt(jwt: &str) -> Result<(Value, Value, String, Vec<u8>), Refusal> {
    let malformed = || refuse(50027, "JWT token is invalid or malformed.");
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header, claims, signature] = parts.as_slice() else {
        return Err(malformed());
    };
    let decode = |part: &str| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| malformed())
    };
    let json = |part: &str| -> Result<Value, Refusal> {
        serde_json::from_slice::<Value>(&decode(part)?)
            .ok()
            .filter(Value::is_object)
            .ok_or_else(malformed)
    };
    Ok((
        json(header)?,
        json(claims)?,
        format!("{header}.{claims}"),
        decode(signature)?,
    ))
}

fn verify_signature(certificate: &[u8], message: &[u8], signature: &[u8]) -> Result<(), Refusal> {
    let der = CertificateDer::from(certificate);
    let invalid = || {
        refuse(
            700027,
            "Client assertion contains an invalid signature. The assertion was not signed with \
             the key of the certificate it names.",
        )
    };
    let parsed = webpki::EndEntityCert::try_from(&der).map_err(|_| invalid())?;
    parsed
        .verify_signature(
            webpki::ring::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
            message,
            signature,
        )
        .map_err(|_| invalid())
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).into()
}

fn base64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
