//! The discovery document and the JWKS, shaped like Entra's
//! (https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration).

use super::*;

pub(super) async fn openid_configuration(
    State(app): State<Shared>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    let st = app.lock();
    if st.tenant(&tenant).is_none() {
        return tenant_not_found(&tenant, &headers);
    }
    let base = format!("{}/{}", st.origin, tenant.to_ascii_lowercase());
    // Entra's document omits `code_challenge_methods_supported` although it supports S256,
    // so the simulator omits it too: a client that insists on it fails here as with Entra.
    json_response(
        StatusCode::OK,
        json!({
            "issuer": st.issuer(&tenant),
            "authorization_endpoint": format!("{base}/oauth2/v2.0/authorize"),
            "token_endpoint": format!("{base}/oauth2/v2.0/token"),
            "jwks_uri": format!("{base}/discovery/v2.0/keys"),
            "token_endpoint_auth_methods_supported":
                ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "request_uri_parameter_supported": false,
            "claims_supported": [
                "sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce",
                "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"
            ],
            "cloud_instance_name": "microsoftonline.com",
            "msgraph_host": "graph.microsoft.com",
        }),
    )
}

/// `{"keys":[…]}`: one key, no `alg` member (as in Entra's JWKS).
pub(super) async fn keys(
    State(app): State<Shared>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    if app.lock().tenant(&tenant).is_none() {
        return tenant_not_found(&tenant, &headers);
    }
    json_response(StatusCode::OK, json!({ "keys": [SIGNER.jwk()] }))
}

fn tenant_not_found(tenant: &str, headers: &HeaderMap) -> Response {
    aad_error(
        StatusCode::BAD_REQUEST,
        "invalid_tenant",
        90002,
        &format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID."),
        &correlation_id(headers),
    )
}
