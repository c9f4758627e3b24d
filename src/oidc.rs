//! OpenID Connect sign-in for the console and the portal: the authorization code flow with
//! PKCE against the MSP's identity provider (its own Entra tenant through the MSP app, or any
//! other OIDC issuer), and verification of the ID token it returns.
//!
//! Sign-ins are rare (a person a day), so the discovery document and the signing keys are read
//! at each sign-in rather than cached: a provider's key rotation never strands anyone.
//!
//! Sources: OpenID Connect Core 1.0 §3.1 (code flow, ID token validation, `nonce`),
//! https://openid.net/specs/openid-connect-core-1_0.html ; RFC 7636 (PKCE, S256);
//! Microsoft's v2 endpoints and tokens:
//! https://learn.microsoft.com/entra/identity-platform/v2-protocols-oidc and
//! https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference .

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use url::Url;

/// Clock skew tolerated on `exp`, `nbf` and `iat`.
const LEEWAY_SECS: i64 = 300;

#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The provider could not be reached or answered something unusable (its discovery
    /// document, keys or token endpoint).
    #[error("the identity provider: {0}")]
    Provider(String),
    /// The provider refused the code exchange (`error`, `error_description`).
    #[error("the identity provider refused the sign-in: {0}")]
    Refused(String),
    /// The ID token failed a check; never trust anything in it.
    #[error("the ID token is not valid: {0}")]
    InvalidToken(String),
}

/// The parts of the discovery document jitgate uses.
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
}

/// Read `{issuer}/.well-known/openid-configuration`; its `issuer` must be the one configured
/// (OpenID Connect Discovery 1.0 §4.3).
pub async fn discover(http: &reqwest::Client, issuer: &Url) -> Result<Discovery, OidcError> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.as_str().trim_end_matches('/')
    );
    let discovery: Discovery = get_json(http, &url).await?;
    if discovery.issuer.trim_end_matches('/') != issuer.as_str().trim_end_matches('/') {
        return Err(OidcError::Provider(format!(
            "the discovery document names issuer {}, not the configured {issuer}",
            discovery.issuer
        )));
    }
    Ok(discovery)
}

async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> Result<T, OidcError> {
    let response = http
        .get(url)
        .send()
        .await
        .map_err(|e| OidcError::Provider(format!("{url} could not be reached: {e}")))?;
    let status = response.status();
    if !status.is_success() {
        return Err(OidcError::Provider(format!("{url} answered {status}")));
    }
    response
        .json()
        .await
        .map_err(|e| OidcError::Provider(format!("{url} did not answer JSON: {e}")))
}

/// The secrets of one sign-in attempt, kept by jitgate until the browser comes back.
pub struct Attempt {
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

impl Attempt {
    pub fn new() -> Attempt {
        Attempt {
            state: crate::crypto::random_token(),
            nonce: crate::crypto::random_token(),
            pkce_verifier: crate::crypto::random_token(),
        }
    }
}

impl Default for Attempt {
    fn default() -> Self {
        Attempt::new()
    }
}

/// RFC 7636 §4.2: `BASE64URL(SHA256(verifier))`.
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Where to send the browser: the provider's authorization endpoint with the code flow's
/// parameters (PKCE S256 always, whether or not the provider advertises it: Entra's discovery
/// document does not).
pub fn authorization_url(
    discovery: &Discovery,
    client_id: &str,
    redirect_uri: &str,
    attempt: &Attempt,
) -> Result<Url, OidcError> {
    let mut url = Url::parse(&discovery.authorization_endpoint)
        .map_err(|e| OidcError::Provider(format!("authorization_endpoint: {e}")))?;
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("response_mode", "query")
        .append_pair("scope", "openid profile email")
        .append_pair("state", &attempt.state)
        .append_pair("nonce", &attempt.nonce)
        .append_pair("code_challenge", &pkce_challenge(&attempt.pkce_verifier))
        .append_pair("code_challenge_method", "S256");
    Ok(url)
}

#[derive(Deserialize)]
struct TokenAnswer {
    id_token: Option<String>,
}

#[derive(Deserialize)]
struct TokenRefusal {
    error: String,
    error_description: Option<String>,
}

/// Exchange the code for tokens; returns the raw ID token (verify it with
/// [`verify_id_token`]).
pub async fn exchange_code(
    http: &reqwest::Client,
    discovery: &Discovery,
    client_id: &str,
    credential: &jitgate_graph::ClientCredential,
    redirect_uri: &str,
    code: &str,
    pkce_verifier: &str,
) -> Result<String, OidcError> {
    // A client secret in the body, or a client assertion signed with the MSP app's certificate.
    let authentication = credential
        .authentication_form(&discovery.token_endpoint, client_id)
        .map_err(|e| OidcError::Provider(e.to_string()))?;
    let mut form: Vec<(&str, String)> = vec![
        ("grant_type", "authorization_code".into()),
        ("code", code.into()),
        ("redirect_uri", redirect_uri.into()),
        ("client_id", client_id.into()),
        ("code_verifier", pkce_verifier.into()),
    ];
    form.extend(authentication);
    let response = http
        .post(&discovery.token_endpoint)
        .form(&form)
        .send()
        .await
        .map_err(|e| {
            OidcError::Provider(format!("the token endpoint could not be reached: {e}"))
        })?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| OidcError::Provider(format!("the token endpoint's answer: {e}")))?;
    if !status.is_success() {
        return Err(match serde_json::from_slice::<TokenRefusal>(&body) {
            Ok(r) => OidcError::Refused(format!(
                "{}: {}",
                r.error,
                r.error_description.unwrap_or_default()
            )),
            Err(_) => OidcError::Provider(format!("the token endpoint answered {status}")),
        });
    }
    serde_json::from_slice::<TokenAnswer>(&body)
        .ok()
        .and_then(|t| t.id_token)
        .ok_or_else(|| OidcError::Provider("the token endpoint returned no id_token".into()))
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    kid: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
}

/// What jitgate takes from a verified ID token.
#[derive(Debug, Clone, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub email_verified: Option<serde_json::Value>,
    #[serde(default)]
    pub preferred_username: Option<String>,
    /// Entra: the tenant that signed the person in.
    #[serde(default)]
    pub tid: Option<String>,
    /// Entra: the identity provider of a guest (absent for the tenant's own users).
    #[serde(default)]
    pub idp: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
    aud: serde_json::Value,
    exp: i64,
    #[serde(default)]
    nbf: Option<i64>,
    #[serde(default)]
    iat: Option<i64>,
}

impl Claims {
    /// The email that identifies the person, if the provider vouches for it: `email` with
    /// `email_verified: true` (Google, Okta, Authentik…), or for Entra, whose v2 tokens carry no
    /// `email_verified`, the `preferred_username` of a user of the very tenant the issuer names
    /// (the MSP's own directory, whose administrators set it).
    pub fn verified_email(&self) -> Option<String> {
        let verified = matches!(&self.email_verified, Some(serde_json::Value::Bool(true)))
            || matches!(&self.email_verified, Some(serde_json::Value::String(s)) if s == "true");
        if verified {
            return self.email.as_ref().map(|e| e.to_ascii_lowercase());
        }
        // A guest's preferred_username is an address another directory controls.
        if self.idp.as_deref().is_some_and(|idp| idp != self.iss) {
            return None;
        }
        let tenant = self.tid.as_deref()?;
        let issuer_tenant = self.iss.trim_end_matches('/').trim_end_matches("/v2.0");
        if issuer_tenant.rsplit('/').next()? != tenant {
            return None;
        }
        self.preferred_username
            .as_ref()
            .filter(|u| u.contains('@'))
            .map(|u| u.to_ascii_lowercase())
    }
}

/// Check the ID token (OpenID Connect Core §3.1.3.7): RS256 signature by one of the provider's
/// keys, `iss` the discovered issuer, `aud` our client id, within its time, and the nonce of
/// this attempt.
pub async fn verify_id_token(
    http: &reqwest::Client,
    discovery: &Discovery,
    client_id: &str,
    nonce: &str,
    id_token: &str,
    now_secs: i64,
) -> Result<Claims, OidcError> {
    let invalid = |m: &str| OidcError::InvalidToken(m.to_string());
    let mut parts = id_token.split('.');
    let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid("not a signed JWT"));
    };
    let header: Header = decode_json(header_b64).ok_or_else(|| invalid("unreadable header"))?;
    // Only RS256: what Entra signs with, and the algorithm every OIDC provider must support.
    // Never `none`, never HMAC with a public key.
    if header.alg != "RS256" {
        return Err(invalid(&format!("algorithm {} is not RS256", header.alg)));
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|_| invalid("unreadable signature"))?;
    let jwks: Jwks = get_json(http, &discovery.jwks_uri).await?;
    let signed = format!("{header_b64}.{claims_b64}");
    let verified = jwks
        .keys
        .iter()
        .filter(|k| k.kty == "RSA" && k.use_.as_deref().unwrap_or("sig") == "sig")
        .filter(|k| header.kid.is_none() || k.kid == header.kid)
        .any(|k| rsa_verifies(k, signed.as_bytes(), &signature));
    if !verified {
        return Err(invalid(
            "the signature does not verify with the provider's keys",
        ));
    }
    let claims: Claims = decode_json(claims_b64).ok_or_else(|| invalid("unreadable claims"))?;
    if claims.iss != discovery.issuer {
        return Err(invalid("issued by another issuer"));
    }
    let audience_ok = match &claims.aud {
        serde_json::Value::String(a) => a == client_id,
        serde_json::Value::Array(all) => all.iter().any(|a| a == client_id),
        _ => false,
    };
    if !audience_ok {
        return Err(invalid("issued for another client"));
    }
    if claims.exp + LEEWAY_SECS < now_secs {
        return Err(invalid("expired"));
    }
    if claims.nbf.is_some_and(|nbf| nbf - LEEWAY_SECS > now_secs)
        || claims.iat.is_some_and(|iat| iat - LEEWAY_SECS > now_secs)
    {
        return Err(invalid("not valid yet"));
    }
    if claims.nonce.as_deref() != Some(nonce) {
        return Err(invalid("the nonce does not match this sign-in"));
    }
    Ok(claims)
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Option<T> {
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn rsa_verifies(key: &Jwk, message: &[u8], signature: &[u8]) -> bool {
    let (Some(n), Some(e)) = (&key.n, &key.e) else {
        return false;
    };
    let (Ok(n), Ok(e)) = (URL_SAFE_NO_PAD.decode(n), URL_SAFE_NO_PAD.decode(e)) else {
        return false;
    };
    ring::signature::RsaPublicKeyComponents { n: &n, e: &e }
        .verify(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            message,
            signature,
        )
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pkce_challenge_is_rfc_7636s() {
        // RFC 7636 Appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    fn claims(json: serde_json::Value) -> Claims {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn an_email_counts_only_when_the_provider_vouches_for_it() {
        let base =
            serde_json::json!({"iss": "https://idp.example", "sub": "s", "aud": "c", "exp": 0});
        let mut google = base.clone();
        google["email"] = "Alice@MSP.example".into();
        google["email_verified"] = true.into();
        assert_eq!(
            claims(google.clone()).verified_email().as_deref(),
            Some("alice@msp.example")
        );
        google["email_verified"] = false.into();
        assert_eq!(claims(google).verified_email(), None);

        let tid = "0b6b2c5e-1d6a-4a4e-9c1f-3f2f9a1c0d11";
        let entra = serde_json::json!({
            "iss": format!("https://login.microsoftonline.com/{tid}/v2.0"), "sub": "s", "aud": "c",
            "exp": 0, "tid": tid, "preferred_username": "alice@msp.example", "email": "spoof@x.example"
        });
        assert_eq!(
            claims(entra.clone()).verified_email().as_deref(),
            Some("alice@msp.example")
        );
        let mut guest = entra;
        guest["tid"] = "11111111-1111-4111-8111-111111111111".into();
        assert_eq!(
            claims(guest).verified_email(),
            None,
            "a user of another tenant"
        );
        let mut b2b = claims(serde_json::json!({
            "iss": format!("https://login.microsoftonline.com/{tid}/v2.0"), "sub": "s", "aud": "c",
            "exp": 0, "tid": tid, "preferred_username": "bob@gmail.example"
        }));
        b2b.idp = Some("live.com".into());
        assert_eq!(
            b2b.verified_email(),
            None,
            "a guest from another identity provider"
        );
    }
}
