//! The code flow end to end over HTTP, and each way it must fail.

use ring::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};

use super::*;

const TENANT: &str = "0b6b2c5e-1d6a-4a4e-9c1f-3f2f9a1c0d11";
const CLIENT: &str = "6f1d2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b";
const SECRET: &str = "s3cret~value";
const REDIRECT: &str = "https://jitgate.example/console/oidc/callback";
const NONCE: &str = "n-0S6_WzA2Mj";
const STATE: &str = "af0ifjsldkj";

fn ada() -> OidcUser {
    OidcUser::new(
        "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
        "00000000-0000-0000-66f3-3332eca7ea81",
        "Ada Admin",
        "ada@msp.example",
    )
}

async fn setup() -> (OidcSim, reqwest::Client) {
    crate::tls::install_crypto_provider();
    let sim = OidcSim::start(None).await;
    sim.register_client(CLIENT, SECRET, [REDIRECT]);
    sim.add_user(TENANT, ada());
    sim.sign_in_as(TENANT, &ada().sub);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    (sim, http)
}

/// A verifier and its S256 challenge.
fn pkce(seed: &str) -> (String, String) {
    use sha2::Digest as _;
    let verifier = format!("{seed:-<43}");
    let challenge = base64url(&sha2::Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// The authorize request's parameters, each overridable (`None` drops it).
fn authorize_params(challenge: &str) -> Vec<(&'static str, Option<String>)> {
    vec![
        ("client_id", Some(CLIENT.into())),
        ("response_type", Some("code".into())),
        ("redirect_uri", Some(REDIRECT.into())),
        ("scope", Some("openid profile email".into())),
        ("state", Some(STATE.into())),
        ("nonce", Some(NONCE.into())),
        ("code_challenge", Some(challenge.into())),
        ("code_challenge_method", Some("S256".into())),
    ]
}

fn with(
    mut params: Vec<(&'static str, Option<String>)>,
    name: &'static str,
    value: Option<&str>,
) -> Vec<(&'static str, Option<String>)> {
    params.retain(|(k, _)| *k != name);
    params.push((name, value.map(str::to_string)));
    params
}

async fn authorize(
    sim: &OidcSim,
    http: &reqwest::Client,
    params: &[(&'static str, Option<String>)],
) -> reqwest::Response {
    let mut url = sim
        .url()
        .join(&format!("{TENANT}/oauth2/v2.0/authorize"))
        .unwrap();
    for (k, v) in params {
        if let Some(v) = v {
            url.query_pairs_mut().append_pair(k, v);
        }
    }
    http.get(url).send().await.expect("authorize")
}

/// The query of a 302's `Location`, which must point at the redirect URI.
fn redirected_to(response: &reqwest::Response) -> HashMap<String, String> {
    assert_eq!(response.status(), 302, "expected a redirect");
    let location = response.headers()[header::LOCATION].to_str().unwrap();
    assert!(location.starts_with(REDIRECT), "{location}");
    let url = url::Url::parse(location).unwrap();
    url.query_pairs().into_owned().collect()
}

async fn code_for(sim: &OidcSim, http: &reqwest::Client, challenge: &str) -> String {
    let response = authorize(sim, http, &authorize_params(challenge)).await;
    let back = redirected_to(&response);
    assert_eq!(back["state"], STATE);
    back["code"].clone()
}

async fn redeem(
    sim: &OidcSim,
    http: &reqwest::Client,
    form: &[(&str, &str)],
) -> (StatusCode, Value) {
    let response = http
        .post(
            sim.url()
                .join(&format!("{TENANT}/oauth2/v2.0/token"))
                .unwrap(),
        )
        .form(form)
        .send()
        .await
        .expect("token");
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
    (status, response.json().await.expect("JSON body"))
}

fn redemption<'a>(code: &'a str, verifier: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("client_id", CLIENT),
        ("client_secret", SECRET),
        ("code_verifier", verifier),
    ]
}

fn replace<'a>(
    mut form: Vec<(&'a str, &'a str)>,
    name: &'a str,
    value: &'a str,
) -> Vec<(&'a str, &'a str)> {
    form.retain(|(k, _)| *k != name);
    form.push((name, value));
    form
}

/// Entra's error body: `error`, `error_description` starting with `AADSTS{code}:`,
/// `error_codes`, `timestamp`, `trace_id`, `correlation_id`.
fn assert_aad_error(body: &Value, error: &str, code: u32) {
    assert_eq!(body["error"], error, "{body}");
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.starts_with(&format!("AADSTS{code}:")),
        "{description}"
    );
    assert_eq!(body["error_codes"], json!([code]));
    for member in ["timestamp", "trace_id", "correlation_id"] {
        assert!(body[member].is_string(), "{member} in {body}");
    }
}

async fn get_json(http: &reqwest::Client, url: &str) -> Value {
    let response = http.get(url).send().await.expect("GET");
    assert_eq!(response.status(), 200, "{url}");
    response.json().await.expect("JSON")
}

fn decode_part(part: &str) -> Value {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON")
}

/// Verifies the JWT against the JWKS as a client would; returns header and claims, or why not.
fn verify(jwt: &str, jwks: &Value) -> Result<(Value, Value), &'static str> {
    use base64::Engine as _;
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header = decode_part(parts[0]);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "JWT");
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .ok_or("unknown kid")?;
    let b64 = |v: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(v.as_str().unwrap())
            .unwrap()
    };
    let public = RsaPublicKeyComponents {
        n: b64(&key["n"]),
        e: b64(&key["e"]),
    };
    let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[2])
        .unwrap();
    let signing_input = format!("{}.{}", parts[0], parts[1]);
    public
        .verify(
            &RSA_PKCS1_2048_8192_SHA256,
            signing_input.as_bytes(),
            &signature,
        )
        .map_err(|_| "bad signature")?;
    Ok((header, decode_part(parts[1])))
}

async fn jwks(sim: &OidcSim, http: &reqwest::Client) -> Value {
    let config = get_json(
        http,
        &format!("{}/.well-known/openid-configuration", sim.issuer(TENANT)),
    )
    .await;
    get_json(http, config["jwks_uri"].as_str().unwrap()).await
}

/// A full flow; returns the token response.
async fn sign_in(sim: &OidcSim, http: &reqwest::Client) -> Value {
    let (verifier, challenge) = pkce("flow");
    let code = code_for(sim, http, &challenge).await;
    let (status, body) = redeem(sim, http, &redemption(&code, &verifier)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test]
async fn discovery_is_shaped_like_entras() {
    let (sim, http) = setup().await;
    let issuer = sim.issuer(TENANT);
    let config = get_json(&http, &format!("{issuer}/.well-known/openid-configuration")).await;
    let base = format!("{}{TENANT}", sim.url());
    assert_eq!(config["issuer"], issuer);
    assert_eq!(issuer, format!("{base}/v2.0"));
    assert_eq!(
        config["authorization_endpoint"],
        format!("{base}/oauth2/v2.0/authorize")
    );
    assert_eq!(
        config["token_endpoint"],
        format!("{base}/oauth2/v2.0/token")
    );
    assert_eq!(config["jwks_uri"], format!("{base}/discovery/v2.0/keys"));
    assert_eq!(
        config["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );
    assert_eq!(config["response_types_supported"][0], "code");
    assert!(config["scopes_supported"].is_array());
    assert!(config["subject_types_supported"].is_array());
    assert!(config.get("code_challenge_methods_supported").is_none());

    let keys = jwks(&sim, &http).await;
    let key = &keys["keys"][0];
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["kid"], sim.signing_kid());
    assert_eq!(key["x5t"], key["kid"]);
    assert_eq!(key["e"], "AQAB");
    assert!(key.get("alg").is_none());

    let unknown = http
        .get(
            sim.url()
                .join("nobody/v2.0/.well-known/openid-configuration")
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400);
    assert_aad_error(&unknown.json().await.unwrap(), "invalid_tenant", 90002);
}

#[tokio::test]
async fn the_code_flow_issues_an_id_token_that_verifies_against_the_jwks() {
    let (sim, http) = setup().await;
    let tokens = sign_in(&sim, &http).await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3599);
    assert_eq!(tokens["scope"], "openid profile email");
    assert!(tokens["access_token"].is_string());

    let keys = jwks(&sim, &http).await;
    let (header, claims) = verify(tokens["id_token"].as_str().unwrap(), &keys).unwrap();
    assert_eq!(header["kid"], sim.signing_kid());
    let user = ada();
    assert_eq!(claims["aud"], CLIENT);
    assert_eq!(claims["iss"], sim.issuer(TENANT));
    assert_eq!(claims["nonce"], NONCE);
    assert_eq!(claims["sub"], user.sub);
    assert_eq!(claims["oid"], user.oid);
    assert_eq!(claims["tid"], TENANT);
    assert_eq!(claims["name"], user.name);
    assert_eq!(claims["preferred_username"], user.preferred_username);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );
    assert_eq!(claims["nbf"], claims["iat"]);
    // Entra's own tokens: no email unless configured, never email_verified.
    assert!(claims.get("email").is_none() && claims.get("email_verified").is_none());

    let requests = sim.token_requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].tenant, TENANT);
    assert_eq!(
        requests[0].param("code_verifier"),
        Some(pkce("flow").0.as_str())
    );
    assert_eq!(requests[0].param("client_secret"), Some(SECRET));
    assert!(!requests[0].used_basic_auth());
}

#[tokio::test]
async fn email_claims_appear_only_when_the_user_has_them() {
    let (sim, http) = setup().await;
    sim.add_user(TENANT, ada().with_email("ada@msp.example", Some(true)));
    let tokens = sign_in(&sim, &http).await;
    let (_, claims) = verify(
        tokens["id_token"].as_str().unwrap(),
        &jwks(&sim, &http).await,
    )
    .unwrap();
    assert_eq!(claims["email"], "ada@msp.example");
    assert_eq!(claims["email_verified"], true);

    sim.add_user(TENANT, ada().with_email("ada@msp.example", None));
    let tokens = sign_in(&sim, &http).await;
    let (_, claims) = verify(
        tokens["id_token"].as_str().unwrap(),
        &jwks(&sim, &http).await,
    )
    .unwrap();
    assert_eq!(claims["email"], "ada@msp.example");
    assert!(claims.get("email_verified").is_none());
}

#[tokio::test]
async fn http_basic_client_authentication_works_and_both_methods_at_once_do_not() {
    let (sim, http) = setup().await;
    let (verifier, challenge) = pkce("basic");
    let code = code_for(&sim, &http, &challenge).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.as_str()),
    ];
    let token_url = sim
        .url()
        .join(&format!("{TENANT}/oauth2/v2.0/token"))
        .unwrap();
    let both = http
        .post(token_url.clone())
        .basic_auth(CLIENT, Some(SECRET))
        .form(&[&form[..], &[("client_secret", SECRET)]].concat())
        .send()
        .await
        .unwrap();
    assert_eq!(both.status(), 400);
    assert_aad_error(&both.json().await.unwrap(), "invalid_request", 9002313);

    let basic = http
        .post(token_url)
        .basic_auth(CLIENT, Some(SECRET))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 200);
    let last = sim.token_requests().pop().unwrap();
    assert!(last.used_basic_auth());
    assert_eq!(last.param("client_secret"), None);
}

#[tokio::test]
async fn a_code_works_once() {
    let (sim, http) = setup().await;
    let (verifier, challenge) = pkce("once");
    let code = code_for(&sim, &http, &challenge).await;
    let (first, _) = redeem(&sim, &http, &redemption(&code, &verifier)).await;
    assert_eq!(first, StatusCode::OK);
    let (second, body) = redeem(&sim, &http, &redemption(&code, &verifier)).await;
    assert_eq!(second, StatusCode::BAD_REQUEST);
    assert_aad_error(&body, "invalid_grant", 54005);
}

#[tokio::test]
async fn a_wrong_or_missing_verifier_is_refused() {
    let (sim, http) = setup().await;
    let (verifier, challenge) = pkce("right");
    let code = code_for(&sim, &http, &challenge).await;
    let (wrong, _) = pkce("wrong");
    let (status, body) = redeem(&sim, &http, &redemption(&code, &wrong)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_aad_error(&body, "invalid_grant", 501481);

    let mut missing = redemption(&code, &verifier);
    missing.retain(|(k, _)| *k != "code_verifier");
    let (status, body) = redeem(&sim, &http, &missing).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_aad_error(&body, "invalid_grant", 501481);

    // A failed attempt does not spend the code.
    let (status, _) = redeem(&sim, &http, &redemption(&code, &verifier)).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_wrong_secret_is_401_invalid_client() {
    let (sim, http) = setup().await;
    let (verifier, challenge) = pkce("secret");
    let code = code_for(&sim, &http, &challenge).await;
    let form = replace(redemption(&code, &verifier), "client_secret", "not-it");
    let (status, body) = redeem(&sim, &http, &form).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_aad_error(&body, "invalid_client", 7000215);
    assert!(!body.to_string().contains("not-it"), "{body}");

    let form = replace(redemption(&code, &verifier), "client_assertion", "eyJ.x.y");
    let (status, body) = redeem(&sim, &http, &form).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_aad_error(&body, "invalid_client", 700027);
}

#[tokio::test]
async fn a_code_belongs_to_its_redirect_uri_and_client_and_expires() {
    let (sim, http) = setup().await;
    sim.register_client("other-client", "other-secret", [REDIRECT]);
    let (verifier, challenge) = pkce("bound");
    let code = code_for(&sim, &http, &challenge).await;

    let form = replace(
        redemption(&code, &verifier),
        "redirect_uri",
        "https://jitgate.example/other",
    );
    let (status, body) = redeem(&sim, &http, &form).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_aad_error(&body, "invalid_grant", 500112);

    let form = replace(redemption(&code, &verifier), "client_id", "other-client");
    let form = replace(form, "client_secret", "other-secret");
    let (status, body) = redeem(&sim, &http, &form).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_aad_error(&body, "invalid_grant", 70000);

    sim.set_code_lifetime(Duration::ZERO);
    let (status, body) = redeem(&sim, &http, &redemption(&code, &verifier)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_aad_error(&body, "invalid_grant", 70008);
}

#[tokio::test]
async fn an_untrusted_redirect_gets_an_error_page_never_a_redirect() {
    let (sim, http) = setup().await;
    let (_, challenge) = pkce("page");
    for (params, code) in [
        (
            with(
                authorize_params(&challenge),
                "redirect_uri",
                Some("https://evil.example/cb"),
            ),
            "AADSTS50011",
        ),
        (
            with(
                authorize_params(&challenge),
                "redirect_uri",
                Some(&format!("{REDIRECT}/")),
            ),
            "AADSTS50011",
        ),
        (
            with(
                authorize_params(&challenge),
                "client_id",
                Some("unknown-client"),
            ),
            "AADSTS700016",
        ),
    ] {
        let response = authorize(&sim, &http, &params).await;
        assert_eq!(response.status(), 400);
        assert!(response.headers().get(header::LOCATION).is_none());
        assert!(
            response.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert!(response.text().await.unwrap().contains(code));
    }
}

#[tokio::test]
async fn request_mistakes_go_back_to_the_client_with_an_error() {
    let (sim, http) = setup().await;
    let (_, challenge) = pkce("mistakes");
    let base = authorize_params(&challenge);
    for (params, error, code) in [
        (
            with(base.clone(), "code_challenge", None),
            "invalid_request",
            "AADSTS9002325:",
        ),
        (
            with(base.clone(), "code_challenge_method", None),
            "invalid_request",
            "AADSTS9002325:",
        ),
        (
            with(base.clone(), "code_challenge_method", Some("plain")),
            "invalid_request",
            "AADSTS9002325:",
        ),
        (
            with(base.clone(), "nonce", None),
            "invalid_request",
            "AADSTS900144:",
        ),
        (
            with(base.clone(), "scope", Some("profile email")),
            "invalid_request",
            "AADSTS70011:",
        ),
        (
            with(base.clone(), "response_type", Some("id_token")),
            "unsupported_response_type",
            "AADSTS70005:",
        ),
    ] {
        let response = authorize(&sim, &http, &params).await;
        let back = redirected_to(&response);
        assert_eq!(back["error"], error, "{back:?}");
        assert!(back["error_description"].starts_with(code), "{back:?}");
        assert_eq!(back["state"], STATE);
        assert!(!back.contains_key("code"));
    }
}

#[tokio::test]
async fn refusal_and_no_sign_in() {
    let (sim, http) = setup().await;
    let (_, challenge) = pkce("refuse");
    sim.refuse_next_sign_in(TENANT);
    let back = redirected_to(&authorize(&sim, &http, &authorize_params(&challenge)).await);
    assert_eq!(back["error"], "access_denied");
    assert!(back["error_description"].starts_with("AADSTS65004: User declined to consent"));
    assert_eq!(back["state"], STATE);
    // Only the next one.
    code_for(&sim, &http, &challenge).await;

    sim.sign_out(TENANT);
    let page = authorize(&sim, &http, &authorize_params(&challenge)).await;
    assert_eq!(page.status(), 400);
    assert!(page.headers().get(header::LOCATION).is_none());
    let silent = with(authorize_params(&challenge), "prompt", Some("none"));
    let back = redirected_to(&authorize(&sim, &http, &silent).await);
    assert_eq!(back["error"], "login_required");
}

#[tokio::test]
async fn each_fault_spoils_only_the_next_id_token() {
    let (sim, http) = setup().await;
    let keys = jwks(&sim, &http).await;
    let id_token = |tokens: Value| tokens["id_token"].as_str().unwrap().to_string();
    let now = OffsetDateTime::now_utc().unix_timestamp();

    sim.tamper_next_id_token(TENANT, IdTokenFault::BadSignature);
    assert_eq!(
        verify(&id_token(sign_in(&sim, &http).await), &keys).err(),
        Some("bad signature")
    );
    sim.tamper_next_id_token(TENANT, IdTokenFault::UnknownKid);
    assert_eq!(
        verify(&id_token(sign_in(&sim, &http).await), &keys).err(),
        Some("unknown kid")
    );

    for (fault, check) in [
        (IdTokenFault::WrongAudience, "aud"),
        (IdTokenFault::WrongIssuer, "iss"),
        (IdTokenFault::WrongNonce, "nonce"),
        (IdTokenFault::Expired, "exp"),
    ] {
        sim.tamper_next_id_token(TENANT, fault);
        let (_, claims) = verify(&id_token(sign_in(&sim, &http).await), &keys).unwrap();
        match check {
            "aud" => assert_ne!(claims["aud"], CLIENT),
            "iss" => assert_ne!(claims["iss"], sim.issuer(TENANT)),
            "nonce" => assert_ne!(claims["nonce"], NONCE),
            _ => assert!(claims["exp"].as_i64().unwrap() < now),
        }
    }

    let (_, claims) = verify(&id_token(sign_in(&sim, &http).await), &keys).unwrap();
    assert_eq!(claims["aud"], CLIENT);
    assert_eq!(claims["nonce"], NONCE);
    assert!(claims["exp"].as_i64().unwrap() > now);
}

#[tokio::test]
async fn serves_over_tls_with_the_test_ca() {
    crate::tls::install_crypto_provider();
    let ca = crate::tls::TestCa::generate();
    let sim = OidcSim::start(Some(&ca)).await;
    sim.add_tenant(TENANT);
    assert!(sim.issuer(TENANT).starts_with("https://localhost:"));
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.ca_pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let config = get_json(
        &http,
        &format!("{}/.well-known/openid-configuration", sim.issuer(TENANT)),
    )
    .await;
    assert_eq!(config["issuer"], sim.issuer(TENANT));
}
