//! `POST /{tenant}/oauth2/v2.0/token` with `grant_type=authorization_code`
//! (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#redeem-a-code-for-an-access-token).

use super::*;

type Form = Vec<(String, String)>;

pub(super) async fn token(
    State(app): State<Shared>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: Form = url::form_urlencoded::parse(&body).into_owned().collect();
    let correlation = correlation_id(&headers);
    let mut st = app.lock();
    st.token_requests.push(TokenRequest {
        tenant: tenant.clone(),
        form: form.clone(),
        authorization: headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    });
    let answer = redeem(&mut st, &tenant, &form, &headers, &correlation);
    answer.unwrap_or_else(|error| error)
}

fn redeem(
    st: &mut SimState,
    tenant: &str,
    form: &Form,
    headers: &HeaderMap,
    correlation: &str,
) -> Result<Response, Response> {
    let bad_request = |error: &str, code: u32, text: &str| {
        aad_error(StatusCode::BAD_REQUEST, error, code, text, correlation)
    };
    if st.tenant(tenant).is_none() {
        return Err(bad_request(
            "invalid_request",
            90002,
            &format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID."
            ),
        ));
    }
    if let Some(name) = repeated_field(form) {
        // "Request and response parameters MUST NOT be included more than once" (RFC 6749 §3.1).
        return Err(bad_request(
            "invalid_request",
            9002313,
            &format!("Invalid request. Request is malformed or invalid: '{name}' appears twice."),
        ));
    }
    match field(form, "grant_type") {
        Some("authorization_code") => {}
        Some(other) => {
            return Err(bad_request(
                "unsupported_grant_type",
                70003,
                &format!("The app requested an unsupported grant type '{other}'."),
            ));
        }
        None => return Err(missing_parameter("grant_type", correlation)),
    }
    let client_id = authenticate_client(st, form, headers, correlation)?;
    let code = check_code(st, tenant, &client_id, form, correlation)?;
    Ok(issue_tokens(st, code))
}

fn field<'a>(form: &'a Form, name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

fn repeated_field(form: &Form) -> Option<&str> {
    form.iter()
        .enumerate()
        .find(|(i, (k, _))| form[..*i].iter().any(|(earlier, _)| earlier == k))
        .map(|(_, (k, _))| k.as_str())
}

fn missing_parameter(name: &str, correlation: &str) -> Response {
    aad_error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        900144,
        &format!("The request body must contain the following parameter: '{name}'."),
        correlation,
    )
}

/// `client_id` and `client_secret` from the body or from HTTP Basic (RFC 6749 §2.3.1), never
/// both; returns the client id as registered.
fn authenticate_client(
    st: &SimState,
    form: &Form,
    headers: &HeaderMap,
    correlation: &str,
) -> Result<String, Response> {
    let unauthorized = |code: u32, text: &str| {
        aad_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            code,
            text,
            correlation,
        )
    };
    let malformed = |text: &str| {
        aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            9002313,
            &format!("Invalid request. Request is malformed or invalid: {text}"),
            correlation,
        )
    };
    if field(form, "client_assertion").is_some() {
        return Err(unauthorized(
            700027,
            "Client assertion failed signature validation (the simulator accepts only client \
             secrets).",
        ));
    }
    let basic = basic_credentials(headers);
    if basic.is_some() && field(form, "client_secret").is_some() {
        // "The client MUST NOT use more than one authentication method in each request"
        // (RFC 6749 §2.3).
        return Err(malformed("both HTTP Basic and client_secret were sent."));
    }
    let body_id = field(form, "client_id");
    let client_id = match (body_id, basic.as_ref().map(|(id, _)| id.as_str())) {
        (Some(body), Some(basic)) if body != basic => {
            return Err(malformed(
                "the client_id of the body and of HTTP Basic differ.",
            ));
        }
        (Some(id), _) | (None, Some(id)) => id.to_string(),
        (None, None) => return Err(missing_parameter("client_id", correlation)),
    };
    let Some(client) = st.client(&client_id) else {
        return Err(aad_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory. \
                 This can happen if the application has not been installed by the administrator \
                 of the tenant or consented to by any user in the tenant."
            ),
            correlation,
        ));
    };
    let secret = field(form, "client_secret")
        .map(str::to_string)
        .or_else(|| basic.map(|(_, secret)| secret));
    let Some(secret) = secret else {
        return Err(unauthorized(
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or \
             'client_secret'.",
        ));
    };
    if secret != client.secret {
        return Err(unauthorized(
            7000215,
            &format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is \
                 the client secret value, not the client secret ID, for a secret added to app \
                 '{}'.",
                client.client_id
            ),
        ));
    }
    Ok(client.client_id.clone())
}

/// `Authorization: Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    use base64::Engine as _;
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((form_decode(id), form_decode(secret)))
}

/// Percent-decoding as `application/x-www-form-urlencoded` does it (`+` is a space).
fn form_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
                continue;
            }
            (b'+', _) => out.push(b' '),
            (other, _) => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What a redeemed code was issued for.
pub(super) struct Redeemed {
    client_id: String,
    tenant: String,
    sub: String,
    nonce: String,
    scope: String,
}

/// The code exists, is unused and fresh, belongs to this client, tenant and `redirect_uri`,
/// and the `code_verifier` matches its challenge; then it is spent.
fn check_code(
    st: &mut SimState,
    tenant: &str,
    client_id: &str,
    form: &Form,
    correlation: &str,
) -> Result<Redeemed, Response> {
    let invalid_grant = |code: u32, text: &str| {
        aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            code,
            text,
            correlation,
        )
    };
    let Some(code) = field(form, "code") else {
        return Err(missing_parameter("code", correlation));
    };
    let Some(redirect_uri) = field(form, "redirect_uri") else {
        return Err(missing_parameter("redirect_uri", correlation));
    };
    let code_lifetime = st.code_lifetime;
    let Some(issued) = st.codes.get_mut(code) else {
        return Err(invalid_grant(
            9002313,
            "Invalid request. Request is malformed or invalid.",
        ));
    };
    if issued.redeemed {
        return Err(invalid_grant(
            54005,
            "OAuth2 Authorization code was already redeemed, please retry with a new valid code \
             or use an existing refresh token.",
        ));
    }
    if !issued.client_id.eq_ignore_ascii_case(client_id) {
        return Err(invalid_grant(
            70000,
            "The provided value for the 'code' parameter is not valid: it was issued to \
             another application.",
        ));
    }
    if issued.tenant != tenant.to_ascii_lowercase() {
        return Err(invalid_grant(
            700005,
            "Provided Authorization Code is intended to use against other tenant, thus rejected.",
        ));
    }
    if issued.issued_at.elapsed() >= code_lifetime {
        return Err(invalid_grant(
            70008,
            "The provided authorization code or refresh token has expired due to inactivity. \
             Send a new interactive authorization request for this user and resource.",
        ));
    }
    if issued.redirect_uri != redirect_uri {
        // RFC 6749 §4.1.3: identical to the authorization request's.
        return Err(invalid_grant(
            500112,
            &format!(
                "The reply address '{redirect_uri}' does not match the reply address '{}' \
                 provided when requesting Authorization code.",
                issued.redirect_uri
            ),
        ));
    }
    check_verifier(field(form, "code_verifier"), &issued.code_challenge)
        .map_err(|text| invalid_grant(501481, &text))?;
    issued.redeemed = true;
    Ok(Redeemed {
        client_id: issued.client_id.clone(),
        tenant: issued.tenant.clone(),
        sub: issued.sub.clone(),
        nonce: issued.nonce.clone(),
        scope: issued.scope.clone(),
    })
}

/// BASE64URL(SHA256(ASCII(code_verifier))) == code_challenge, with a verifier of 43–128
/// unreserved characters (RFC 7636 §4.1, §4.6).
fn check_verifier(verifier: Option<&str>, challenge: &str) -> Result<(), String> {
    let mismatch = "The Code_Verifier does not match the code_challenge supplied in the authorization request.";
    let Some(verifier) = verifier else {
        return Err(format!("{mismatch} The request has no 'code_verifier'."));
    };
    let unreserved = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
    if !(43..=128).contains(&verifier.len()) || !verifier.bytes().all(unreserved) {
        return Err(format!(
            "{mismatch} A 'code_verifier' has 43 to 128 unreserved characters."
        ));
    }
    let digest = {
        use sha2::Digest as _;
        sha2::Sha256::digest(verifier.as_bytes())
    };
    if base64url(&digest) != challenge {
        return Err(mismatch.to_string());
    }
    Ok(())
}

fn issue_tokens(st: &mut SimState, code: Redeemed) -> Response {
    let issuer = st.issuer(&code.tenant);
    let t = st
        .tenant_mut(&code.tenant)
        .expect("codes name known tenants");
    let fault = t.next_fault.take();
    let user = t
        .users
        .iter()
        .find(|u| u.sub == code.sub)
        .cloned()
        .expect("codes name known users");
    let id_token = id_token(&issuer, &code, &user, fault);
    json_response(
        StatusCode::OK,
        json!({
            "token_type": "Bearer",
            "scope": code.scope,
            "expires_in": 3599,
            "ext_expires_in": 3599,
            // Opaque to the client, as Microsoft says Graph access tokens are
            // (https://learn.microsoft.com/entra/identity-platform/access-tokens).
            "access_token": random_token(),
            "id_token": id_token,
        }),
    )
}

/// The `id_token` (https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference),
/// spoiled as `fault` says.
fn id_token(issuer: &str, code: &Redeemed, user: &OidcUser, fault: Option<IdTokenFault>) -> String {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let issued_at = if fault == Some(IdTokenFault::Expired) {
        now - 7200
    } else {
        now
    };
    let mut claims = json!({
        "aud": code.client_id,
        "iss": issuer,
        "iat": issued_at,
        "nbf": issued_at,
        "exp": issued_at + 3600,
        "nonce": code.nonce,
        "sub": user.sub,
        "oid": user.oid,
        "tid": code.tenant,
        "name": user.name,
        "preferred_username": user.preferred_username,
        "ver": "2.0",
    });
    if let Some(email) = &user.email {
        claims["email"] = json!(email);
    }
    if let Some(verified) = user.email_verified {
        claims["email_verified"] = json!(verified);
    }
    let mut kid = SIGNER.kid().to_string();
    match fault {
        Some(IdTokenFault::WrongAudience) => claims["aud"] = json!(new_guid()),
        Some(IdTokenFault::WrongIssuer) => {
            claims["iss"] = json!(format!("https://sts.windows.net/{}/", code.tenant));
        }
        Some(IdTokenFault::WrongNonce) => claims["nonce"] = json!(random_token()),
        Some(IdTokenFault::UnknownKid) => kid = random_token()[..27].to_string(),
        Some(IdTokenFault::BadSignature | IdTokenFault::Expired) | None => {}
    }
    let header = json!({ "typ": "JWT", "alg": "RS256", "kid": kid });
    SIGNER.jwt(&header, &claims, fault == Some(IdTokenFault::BadSignature))
}
