//! What the app-only access token says about jitgate's app in a tenant: the tenant it was
//! issued for (`tid`), the app's service principal there (`oid`), the app (`appid`) and the
//! application permissions an administrator consented to (`roles`)
//! (https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference).
//!
//! The payload is read without checking the signature, on purpose: the token came straight
//! from Entra's token endpoint over TLS in answer to jitgate's own client credentials, so its
//! origin is already established, and Microsoft says tokens for Microsoft Graph are not meant
//! to be validated by anyone but Graph (their format may change or be encrypted:
//! https://learn.microsoft.com/entra/identity-platform/access-tokens). jitgate only reads the
//! claims to check its own set-up; Graph itself still decides every call.

use base64::Engine as _;
use serde::Deserialize;

use crate::client::GraphClient;
use crate::error::GraphError;
use crate::secret::ExposeSecret as _;
use crate::tenant::Tenant;

const OPERATION: &str = "read access token claims";

/// The claims of jitgate's app-only token for one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    /// `tid`: the tenant that issued the token (trust this, not a tenant named elsewhere).
    pub tenant_id: String,
    /// `oid`: object id of the app's service principal in that tenant.
    pub object_id: String,
    /// `appid` (v1 tokens) or `azp` (v2 tokens): the application (client) id.
    pub app_id: String,
    /// `roles`: the consented Microsoft Graph application permissions.
    pub roles: Vec<String>,
}

#[derive(Deserialize)]
struct Payload {
    tid: Option<String>,
    oid: Option<String>,
    appid: Option<String>,
    azp: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
}

impl GraphClient {
    /// The claims of a token requested now for `tenant`: consent given or withdrawn since the
    /// cached token was issued shows only in a new one, and a check must see the tenant as it
    /// is. The new token replaces the cached one.
    pub async fn token_claims(&self, tenant: &Tenant) -> Result<TokenClaims, GraphError> {
        let cached = self.access_token(tenant).await?;
        self.inner.tokens.invalidate(tenant, &cached).await;
        let token = self.access_token(tenant).await?;
        decode_claims(token.expose_secret())
    }
}

/// The claims of a JWT-shaped access token (`header.payload.signature`).
pub(crate) fn decode_claims(token: &str) -> Result<TokenClaims, GraphError> {
    let mut parts = token.split('.');
    let (Some(_header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(protocol(
            "the access token is not a JWT (three dot-separated parts)",
        ));
    };
    // Padding is optional in JWTs; accept it if a token carries it.
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| protocol("the access token's payload is not base64url"))?;
    let payload: Payload = serde_json::from_slice(&bytes)
        .map_err(|_| protocol("the access token's payload is not a JSON object of claims"))?;
    let missing = |claim: &str| protocol(&format!("the access token has no `{claim}` claim"));
    Ok(TokenClaims {
        tenant_id: payload.tid.ok_or_else(|| missing("tid"))?,
        object_id: payload.oid.ok_or_else(|| missing("oid"))?,
        app_id: payload
            .appid
            .or(payload.azp)
            .ok_or_else(|| missing("appid"))?,
        roles: payload.roles,
    })
}

/// Never includes the token: a message about it must not carry it.
fn protocol(detail: &str) -> GraphError {
    GraphError::Protocol {
        operation: OPERATION,
        detail: detail.to_string(),
        request_id: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: &str) -> String {
        let encode = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.sig", encode(r#"{"alg":"RS256"}"#), encode(payload))
    }

    #[test]
    fn reads_v1_and_v2_claims() {
        let v1 = decode_claims(&jwt(
            r#"{"tid":"t","oid":"o","appid":"a","roles":["User.ReadWrite.All"]}"#,
        ))
        .unwrap();
        assert_eq!(
            v1,
            TokenClaims {
                tenant_id: "t".into(),
                object_id: "o".into(),
                app_id: "a".into(),
                roles: vec!["User.ReadWrite.All".into()],
            }
        );
        let v2 = decode_claims(&jwt(r#"{"tid":"t","oid":"o","azp":"b"}"#)).unwrap();
        assert_eq!(v2.app_id, "b");
        assert!(v2.roles.is_empty(), "no roles claim means no permission");
    }

    #[test]
    fn refuses_what_is_not_a_token_without_echoing_it() {
        for token in [
            "opaque-secret-token",
            "a.b",
            "a.!!!.c",
            &jwt("[1]"),
            &jwt(r#"{"oid":"o"}"#),
        ] {
            let error = decode_claims(token).unwrap_err();
            assert!(matches!(error, GraphError::Protocol { .. }), "{error:?}");
            assert!(!error.to_string().contains("opaque-secret"), "{error}");
        }
    }
}
