//! Entra token endpoint.

use super::*;

pub(super) async fn token(
    State(app): State<Shared>,
    Extension(ids): Extension<RequestIds>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let mut st = app.lock();
    st.total_token_requests += 1;
    let graph_origin = st.graph_origin.clone();
    let lifetime = st.token_lifetime;

    let Some(key) = st.resolve_tenant(&tenant) else {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID \
                 and are signing into the correct cloud. Check with your subscription \
                 administrator, this may happen if there are no active subscriptions for the tenant."
            ),
            &ids,
        );
    };
    let t = st.tenants.get_mut(&key).expect("resolved tenant exists");
    t.token_requests += 1;
    let client_id = form.get("client_id").cloned().unwrap_or_default();

    if let Some(code) = t.forced_token_error {
        return forced_aad_error(code, &client_id, &tenant, &ids);
    }
    match form.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {}
        Some(other) => {
            return aad_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                70003,
                format!("The app requested an unsupported grant type '{other}'."),
                &ids,
            );
        }
        None => return missing_parameter("grant_type", &ids),
    }
    if client_id.is_empty() {
        return missing_parameter("client_id", &ids);
    }
    // The tenant's own app registration (secret only), or the MSP's multi-tenant app (secret
    // and certificates) once an administrator of this tenant consented to it (only then does
    // it have a service principal here).
    let is_own_app = t.spec.client_id.eq_ignore_ascii_case(&client_id);
    let consented = t
        .consented_apps
        .iter()
        .any(|a| a.eq_ignore_ascii_case(&client_id));
    let expected = if is_own_app {
        Some((t.spec.client_secret.clone(), Vec::new()))
    } else if consented {
        st.app(&client_id)
            .map(|a| (a.client_secret.clone(), a.certificates.clone()))
    } else {
        None
    };
    let t = st.tenants.get_mut(&key).expect("resolved tenant exists");
    let Some((expected_secret, certificates)) = expected else {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory \
                 '{tenant}'. This can happen if the application has not been installed by the \
                 administrator of the tenant or consented to by any user in the tenant. You may \
                 have sent your authentication request to the wrong tenant."
            ),
            &ids,
        );
    };
    let presented = ClientAuth {
        form: &form,
        headers: &headers,
        client_id: &client_id,
        token_url: &format!("{graph_origin}/{tenant}/oauth2/v2.0/token"),
    };
    if let Err(response) = presented.verify(&expected_secret, &certificates, &ids) {
        return response;
    }
    // The expired secret is the tenant's own app registration's, not the MSP app's.
    if is_own_app && t.secret_expired {
        return aad_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000222,
            format!(
                "The provided client secret keys for app '{client_id}' are expired. Visit the \
                 Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, \
                 or consider using certificate credentials for added security: \
                 https://aka.ms/certCreds."
            ),
            &ids,
        );
    }
    let Some(scope) = form.get("scope") else {
        return missing_parameter("scope", &ids);
    };
    let Some(resource) = scope.strip_suffix("/.default") else {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            1002012,
            format!(
                "The provided value for scope {scope} is not valid. Client credential flows \
                 must have a scope value with /.default suffixed to the resource identifier \
                 (application ID URI)."
            ),
            &ids,
        );
    };
    if resource != graph_origin {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_resource",
            500011,
            format!(
                "The resource principal named {resource} was not found in the tenant named \
                 {tenant}. This can happen if the application has not been installed by the \
                 administrator of the tenant or consented to by any user in the tenant. You \
                 might have sent your authentication request to the wrong tenant."
            ),
            &ids,
        );
    }

    let access_token = app_only_jwt(&graph_origin, &client_id, t, lifetime);
    st.tokens.insert(
        access_token.clone(),
        IssuedToken {
            tenant_key: key,
            client_id: client_id.clone(),
            expires_at: Instant::now() + lifetime,
        },
    );
    let secs = lifetime.as_secs();
    json_response(
        StatusCode::OK,
        json!({
            "token_type": "Bearer",
            "expires_in": secs,
            "ext_expires_in": secs,
            "access_token": access_token,
        }),
    )
}

/// The client authentication a token request carries: a secret (form or HTTP Basic) or a
/// client assertion, never both.
struct ClientAuth<'a> {
    form: &'a HashMap<String, String>,
    headers: &'a HeaderMap,
    client_id: &'a str,
    token_url: &'a str,
}

impl ClientAuth<'_> {
    fn verify(
        &self,
        expected_secret: &str,
        certificates: &[Vec<u8>],
        ids: &RequestIds,
    ) -> Result<(), Response> {
        let secret = self
            .form
            .get("client_secret")
            .cloned()
            .or_else(|| basic_auth_secret(self.headers));
        let assertion = self.form.get("client_assertion");
        let assertion_type = self.form.get("client_assertion_type");
        let invalid_client = |code: u32, text: String| {
            Err(aad_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                code,
                text,
                ids,
            ))
        };
        match (secret, assertion) {
            // Entra's exact code for two credentials in one request is not documented; the
            // simulator refuses it as an invalid client assertion.
            (Some(_), Some(_)) => invalid_client(
                700027,
                "The request carries both 'client_secret' and 'client_assertion'; send one \
                 client credential."
                    .into(),
            ),
            (None, None) if assertion_type.is_some() => {
                missing_parameter_response("client_assertion", ids)
            }
            (None, None) => invalid_client(
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or \
                 'client_secret'."
                    .into(),
            ),
            (Some(secret), None) if secret != expected_secret => invalid_client(
                7000215,
                format!(
                    "Invalid client secret provided. Ensure the secret being sent in the request \
                     is the client secret value, not the client secret ID, for a secret added to \
                     app '{}'.",
                    self.client_id
                ),
            ),
            (Some(_), None) => Ok(()),
            (None, Some(assertion)) => {
                let check = AssertionCheck {
                    assertion_type: assertion_type.map(String::as_str),
                    assertion,
                    client_id: self.client_id,
                    token_url: self.token_url,
                    certificates,
                };
                check
                    .verify()
                    .or_else(|refusal| invalid_client(refusal.code, refusal.text))
            }
        }
    }
}

fn missing_parameter_response(name: &str, ids: &RequestIds) -> Result<(), Response> {
    Err(missing_parameter(name, ids))
}

pub(super) fn basic_auth_secret(headers: &HeaderMap) -> Option<String> {
    use base64::Engine as _;
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (_, secret) = text.split_once(':')?;
    Some(
        url::form_urlencoded::parse(secret.as_bytes())
            .map(|(k, _)| k.into_owned())
            .collect(),
    )
}

pub(super) fn missing_parameter(name: &str, ids: &RequestIds) -> Response {
    aad_error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        900144,
        format!("The request body must contain the following parameter: '{name}'."),
        ids,
    )
}

/// Entra's answers for the codes tests can force with [`GraphSim::fail_tokens_with`].
pub(super) fn forced_aad_error(
    code: u32,
    client_id: &str,
    tenant: &str,
    ids: &RequestIds,
) -> Response {
    let (status, error, text) = match code {
        65001 => (
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            format!(
                "The user or administrator has not consented to use the application with ID \
                 '{client_id}'. Send an interactive authorization request for this user and resource."
            ),
        ),
        650056 => (
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "Misconfigured application. This could be due to one of the following: the client \
             has not listed any permissions for 'Microsoft Graph' in the requested permissions \
             in the client's application registration. Or, the admin has not consented in the \
             tenant."
                .to_string(),
        ),
        53003 => (
            StatusCode::BAD_REQUEST,
            "access_denied",
            "Access has been blocked by Conditional Access policies. The access policy does not \
             allow token issuance."
                .to_string(),
        ),
        7000112 => (
            StatusCode::UNAUTHORIZED,
            "unauthorized_client",
            format!("Application '{client_id}' is disabled."),
        ),
        90099 => (
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!(
                "The application '{client_id}' has not been authorized in the tenant '{tenant}'. \
                 Applications must be authorized to access the customer tenant before partner \
                 delegated administrators can use them."
            ),
        ),
        500011 => (
            StatusCode::BAD_REQUEST,
            "invalid_resource",
            format!(
                "The resource principal named https://graph.microsoft.com was not found in the tenant named {tenant}."
            ),
        ),
        50033 => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "temporarily_unavailable",
            "There was an error in the request; please retry.".to_string(),
        ),
        90024 => (
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "Request budget exceeded. Try again.".to_string(),
        ),
        other => (
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("Simulated Entra error {other}."),
        ),
    };
    aad_error(status, error, code, text, ids)
}

/// An error exactly as the Entra token endpoint sends it.
pub(super) fn aad_error(
    status: StatusCode,
    error: &str,
    code: u32,
    text: String,
    ids: &RequestIds,
) -> Response {
    let now = OffsetDateTime::now_utc();
    let timestamp = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let trace_id = new_guid();
    let correlation_id = ids.client_request_id.clone();
    let description = format!(
        "AADSTS{code}: {text}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}"
    );
    json_response(
        status,
        json!({
            "error": error,
            "error_description": description,
            "error_codes": [code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
        }),
    )
}

/// An app-only access token shaped like Entra's: `base64url(header).base64url(payload).signature`
/// with the claims jitgate reads (`tid`, `oid`, `appid`, `roles`, `exp`; Microsoft's access
/// token claims reference, https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference).
/// The signature is random: Graph here accepts only tokens this simulator issued (looked up
/// by value), exactly as it did with opaque tokens.
pub(super) fn app_only_jwt(
    graph_origin: &str,
    client_id: &str,
    tenant: &TenantState,
    lifetime: Duration,
) -> String {
    use base64::Engine as _;
    let encode = |value: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string().as_bytes())
    };
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let tid = tenant.spec.tenant_id.to_ascii_lowercase();
    let oid = &tenant.spec.app_object_id;
    let header = json!({ "typ": "JWT", "alg": "RS256", "kid": "sim-signing-key" });
    let payload = json!({
        "aud": graph_origin,
        "iss": format!("https://sts.windows.net/{tid}/"),
        "iat": now,
        "nbf": now,
        "exp": now + lifetime.as_secs() as i64,
        "appid": client_id,
        "appidacr": "1",
        "idtyp": "app",
        "oid": oid,
        "sub": oid,
        "tid": tid,
        "roles": tenant.granted_permissions(),
        "ver": "1.0",
    });
    format!(
        "{}.{}.{}",
        encode(&header),
        encode(&payload),
        random_token()
    )
}
