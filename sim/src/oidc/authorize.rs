//! `GET /{tenant}/oauth2/v2.0/authorize`, the authorization code request
//! (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#request-an-authorization-code).
//!
//! Here the sign-in and the consent are what the test configured ([`OidcSim::sign_in_as`],
//! [`OidcSim::refuse_next_sign_in`]); the browser goes straight back with a code.

use super::*;

/// Why a request goes back to the client with an error.
struct Rejection {
    error: &'static str,
    code: u32,
    text: String,
}

fn reject(error: &'static str, code: u32, text: &str) -> Result<(), Rejection> {
    Err(Rejection {
        error,
        code,
        text: text.to_string(),
    })
}

pub(super) async fn authorize(
    State(app): State<Shared>,
    Path(tenant): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let params = query_params(raw.as_deref());
    let mut st = app.lock();
    let back = match trusted_redirect(&st, &tenant, &params) {
        Ok(back) => back,
        Err(page) => return page,
    };
    let state = params.get("state").map(String::as_str);
    if let Err(r) = check_request(&params) {
        return redirect_error(back, state, r.error, r.code, &r.text);
    }
    sign_in(&mut st, &tenant, &params, back)
}

/// The tenant, the client and its exact `redirect_uri`; anything wrong here gets an error
/// page, because redirecting to an unverified URI would make the provider an open redirector.
fn trusted_redirect(
    st: &SimState,
    tenant: &str,
    params: &HashMap<String, String>,
) -> Result<url::Url, Response> {
    if st.tenant(tenant).is_none() {
        return Err(error_page(
            90002,
            &format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID."
            ),
        ));
    }
    let client_id = params.get("client_id").map(String::as_str).unwrap_or("");
    if client_id.is_empty() {
        return Err(error_page(
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        ));
    }
    let Some(client) = st.client(client_id) else {
        return Err(error_page(
            700016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory \
                 '{tenant}'. This can happen if the application has not been installed by the \
                 administrator of the tenant or consented to by any user in the tenant."
            ),
        ));
    };
    let redirect_uri = params.get("redirect_uri").map(String::as_str).unwrap_or("");
    // Exact string match: Entra compares reply URLs as registered (case and trailing slash
    // included, https://learn.microsoft.com/entra/identity-platform/reply-url).
    if !client.redirect_uris.iter().any(|r| r == redirect_uri) {
        return Err(error_page(
            50011,
            &format!(
                "The redirect URI '{redirect_uri}' specified in the request does not match the \
                 redirect URIs configured for the application '{}'.",
                client.client_id
            ),
        ));
    }
    url::Url::parse(redirect_uri)
        .map_err(|_| error_page(50011, "The redirect URI is not a valid URL."))
}

fn check_request(params: &HashMap<String, String>) -> Result<(), Rejection> {
    let param = |name: &str| params.get(name).map(String::as_str);
    match param("response_type") {
        Some("code") => {}
        other => {
            return reject(
                "unsupported_response_type",
                70005,
                &format!(
                    "The app returned an unsupported response type '{}'; this sign-in needs \
                     'code'.",
                    other.unwrap_or("")
                ),
            );
        }
    }
    let scope = param("scope").unwrap_or("");
    if !scope.split(' ').any(|s| s == "openid") {
        return reject(
            "invalid_request",
            70011,
            "The provided request must include an 'openid' scope value for an OpenID Connect \
             sign-in.",
        );
    }
    check_pkce(param("code_challenge"), param("code_challenge_method"))?;
    if param("nonce").is_none_or(str::is_empty) {
        return reject(
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'nonce'.",
        );
    }
    check_response_mode(param("response_mode"))?;
    check_prompt(param("prompt"))
}

/// PKCE with S256, always: Entra demands PKCE only of some clients (SPAs) and defaults the
/// method to `plain`, so demanding both is the strict reading
/// (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow).
fn check_pkce(challenge: Option<&str>, method: Option<&str>) -> Result<(), Rejection> {
    let pkce_required = |text: &str| {
        reject(
            "invalid_request",
            9002325,
            &format!("Proof Key for Code Exchange is required. {text}"),
        )
    };
    let Some(challenge) = challenge.filter(|c| !c.is_empty()) else {
        return pkce_required("The request has no 'code_challenge'.");
    };
    if method != Some("S256") {
        return pkce_required("The 'code_challenge_method' must be 'S256'.");
    }
    // BASE64URL(SHA-256(verifier)) without padding is always 43 characters (RFC 7636 §4.2).
    let well_formed = challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return pkce_required("The 'code_challenge' is not a base64url SHA-256 hash.");
    }
    Ok(())
}

/// Entra also answers with `fragment` and `form_post`; the simulator only with `query`, the
/// default for the code flow.
fn check_response_mode(mode: Option<&str>) -> Result<(), Rejection> {
    match mode {
        None | Some("query") => Ok(()),
        Some(other) => reject(
            "invalid_request",
            9002313,
            &format!(
                "Invalid request. The simulator answers only response_mode=query, not '{other}'."
            ),
        ),
    }
}

fn check_prompt(prompt: Option<&str>) -> Result<(), Rejection> {
    match prompt {
        None | Some("login" | "none" | "consent" | "select_account") => Ok(()),
        Some(other) => reject(
            "invalid_request",
            9002313,
            &format!("Invalid request. Unsupported prompt value '{other}'."),
        ),
    }
}

/// The configured person signs in (or refuses) and the browser goes back with a code.
fn sign_in(
    st: &mut SimState,
    tenant: &str,
    params: &HashMap<String, String>,
    back: url::Url,
) -> Response {
    let param = |name: &str| params.get(name).map(String::as_str).unwrap_or("");
    let state = params.get("state").map(String::as_str);
    let client_id = st
        .client(param("client_id"))
        .map(|c| c.client_id.clone())
        .expect("checked by trusted_redirect");
    let t = st.tenant_mut(tenant).expect("checked by trusted_redirect");
    let Some(sub) = t.signed_in_user().map(|u| u.sub.clone()) else {
        // With prompt=none Entra answers the client instead of showing its sign-in page.
        if param("prompt") == "none" {
            return redirect_error(
                back,
                state,
                "login_required",
                50058,
                "A silent sign-in request was sent but no user is signed in.",
            );
        }
        return error_page(
            50058,
            "No user is signed in (the simulator signs in the person set with \
             OidcSim::sign_in_as).",
        );
    };
    if std::mem::take(&mut t.refuse_next) {
        return redirect_error(
            back,
            state,
            "access_denied",
            65004,
            "User declined to consent to access the app.",
        );
    }
    let code = random_token();
    st.codes.insert(
        code.clone(),
        IssuedCode {
            client_id,
            tenant: tenant.to_ascii_lowercase(),
            redirect_uri: param("redirect_uri").to_string(),
            sub,
            nonce: param("nonce").to_string(),
            code_challenge: param("code_challenge").to_string(),
            scope: param("scope").to_string(),
            issued_at: Instant::now(),
            redeemed: false,
        },
    );
    let mut pairs = vec![("code", code.as_str())];
    if let Some(state) = state {
        pairs.push(("state", state));
    }
    redirect(back, &pairs)
}
