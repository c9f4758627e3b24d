//! "Sign in with Microsoft" (OpenID Connect, code flow with PKCE) end to end through HTTP:
//! jitgate, the browser's redirects, and the Entra-shaped identity provider simulator. The MSP
//! app's own credential signs jitgate in to the token endpoint.

use crate::console::{no_redirects, technician};
use crate::helpers::{TestApp, spawn_app_with};
use jitgate::config::Config;
use jitgate_sim::oidc::{IdTokenFault, OidcSim, OidcUser};
use jitgate_sim::tls::TestCa;
use serde_json::json;

const MSP_TENANT: &str = "5d6e7f80-9a1b-4c2d-8e3f-4a5b6c7d8e9f";
const MSP_APP: &str = "7c6d5e4f-3a2b-4c1d-9e8f-0a1b2c3d4e5f";
const MSP_SECRET: &str = "msp~sign~in~secret~0042";

struct SignIn {
    app: TestApp,
    idp: OidcSim,
    /// The browser: trusts the test CA, follows no redirects (each hop is looked at).
    browser: reqwest::Client,
    _ca: (TestCa, tempfile::TempDir),
}

/// Where one sign-in attempt ended: the last answer's status, its cookie and location, and
/// the page text.
struct Landing {
    status: u16,
    cookie: Option<String>,
    location: Option<String>,
    body: String,
}

impl SignIn {
    async fn start() -> SignIn {
        jitgate_sim::tls::install_crypto_provider();
        let ca = TestCa::generate();
        let dir = tempfile::tempdir().unwrap();
        let ca_file = ca.write_ca_file(dir.path());
        let idp = OidcSim::start(Some(&ca)).await;
        let issuer = idp.issuer(MSP_TENANT);
        let app = spawn_app_with(Box::new(move |c: &mut Config| {
            c.ca_file = Some(ca_file);
            c.sign_in_issuer = Some(issuer.parse().unwrap());
        }))
        .await;
        // The MSP app signs people in; its redirect URI is registered at the provider.
        app.admin(
            "PUT",
            "/api/v1/entra/app",
            Some(json!({"client_id": MSP_APP, "client_secret": MSP_SECRET})),
        )
        .await;
        idp.register_client(
            MSP_APP,
            MSP_SECRET,
            [format!("{}/auth/oidc/callback", app.url)],
        );
        let browser = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(ca.ca_pem().as_bytes()).unwrap())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        SignIn {
            app,
            idp,
            browser,
            _ca: (ca, dir),
        }
    }

    /// A person of the MSP's tenant, signed in at the provider.
    fn person(&self, sub: &str, username: &str) {
        self.idp.add_user(
            MSP_TENANT,
            OidcUser::new(sub, &format!("oid-{sub}"), sub, username),
        );
        self.idp.sign_in_as(MSP_TENANT, sub);
    }

    /// Press "Sign in with Microsoft" and follow the redirects back to jitgate.
    async fn sign_in(&self) -> Landing {
        let mut url = format!("{}/auth/oidc/start?next=%2Fconsole%2Fgrants", self.app.url);
        for _ in 0..4 {
            let resp = self.browser.get(&url).send().await.unwrap();
            let status = resp.status().as_u16();
            let location = resp
                .headers()
                .get("location")
                .map(|v| v.to_str().unwrap().to_string());
            let cookie = resp
                .headers()
                .get("set-cookie")
                .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string());
            let body = resp.text().await.unwrap();
            match (&location, url.contains("/auth/oidc/callback")) {
                // jitgate's answer to the callback is the end of the attempt.
                (_, true) | (None, _) => {
                    return Landing {
                        status,
                        cookie,
                        location,
                        body,
                    };
                }
                (Some(next), false) => url = next.clone(),
            }
        }
        panic!("too many redirects");
    }

    async fn audit(&self) -> Vec<serde_json::Value> {
        self.app
            .admin("GET", "/api/v1/audit?action=auth.sign_in", None)
            .await
            .as_array()
            .unwrap()
            .clone()
    }
}

#[tokio::test]
async fn an_msp_admin_signs_in_with_microsoft_and_is_bound_to_their_account() {
    let s = SignIn::start().await;
    let alice = technician(&s.app, "alice@msp.example", true).await;
    s.person("sub-alice", "Alice@msp.example");

    let page = no_redirects()
        .get(format!("{}/auth/sign-in", s.app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Sign in with Microsoft"));

    let landing = s.sign_in().await;
    assert_eq!(landing.status, 303, "{}", landing.body);
    assert_eq!(landing.location.as_deref(), Some("/console/grants"));
    let cookie = landing.cookie.expect("a session");
    let console = no_redirects()
        .get(format!("{}/console/grants", s.app.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(console.status().as_u16(), 200);

    // PKCE and the MSP app's secret went to the token endpoint; nothing else did.
    let exchange = &s.idp.token_requests()[0];
    assert!(exchange.param("code_verifier").is_some());
    assert_eq!(exchange.param("client_secret"), Some(MSP_SECRET));
    let audit = s.audit().await;
    let ok = audit.iter().find(|r| r["outcome"] == "ok").unwrap();
    assert_eq!(ok["technician_id"], alice.as_str());
    assert!(ok["detail"].as_str().unwrap().contains("OpenID Connect"));

    // Bound to the subject: a renamed account is still Alice.
    s.person("sub-alice", "alice.renamed@msp.example");
    assert_eq!(s.sign_in().await.status, 303);
}

#[tokio::test]
async fn someone_who_is_not_a_technician_is_refused_with_a_clear_page() {
    let s = SignIn::start().await;
    s.person("sub-eve", "eve@msp.example");
    let landing = s.sign_in().await;
    assert_eq!(landing.status, 403);
    assert!(landing.cookie.is_none());
    assert!(
        landing
            .body
            .contains("No technician in jitgate has the email eve@msp.example")
    );
    assert!(s.audit().await.iter().any(|r| r["outcome"] == "refused"));
}

#[tokio::test]
async fn a_forged_or_foreign_id_token_signs_no_one_in() {
    let s = SignIn::start().await;
    technician(&s.app, "alice@msp.example", true).await;
    s.person("sub-alice", "alice@msp.example");
    for fault in [
        IdTokenFault::BadSignature,
        IdTokenFault::WrongAudience,
        IdTokenFault::WrongIssuer,
        IdTokenFault::WrongNonce,
        IdTokenFault::Expired,
        IdTokenFault::UnknownKid,
    ] {
        s.idp.tamper_next_id_token(MSP_TENANT, fault);
        let landing = s.sign_in().await;
        assert_eq!(landing.status, 403, "{fault:?}: {}", landing.body);
        assert!(landing.cookie.is_none(), "{fault:?}");
        assert!(landing.body.contains("ID token is not valid"), "{fault:?}");
    }
    // And the untampered token works, so each refusal was the fault's.
    assert_eq!(s.sign_in().await.status, 303);
}

#[tokio::test]
async fn a_callback_replayed_or_refused_at_the_provider_changes_nothing() {
    let s = SignIn::start().await;
    technician(&s.app, "alice@msp.example", true).await;
    s.person("sub-alice", "alice@msp.example");

    s.idp.refuse_next_sign_in(MSP_TENANT);
    let refused = s.sign_in().await;
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("access_denied"));

    // Replay: the same callback URL a second time.
    let start = s
        .browser
        .get(format!("{}/auth/oidc/start", s.app.url))
        .send()
        .await
        .unwrap();
    let authorize = start.headers()["location"].to_str().unwrap().to_string();
    let back = s.browser.get(&authorize).send().await.unwrap();
    let callback = back.headers()["location"].to_str().unwrap().to_string();
    let first = s.browser.get(&callback).send().await.unwrap();
    assert_eq!(first.status().as_u16(), 303);
    let again = s.browser.get(&callback).send().await.unwrap();
    assert_eq!(again.status().as_u16(), 400);
    assert!(again.text().await.unwrap().contains("cannot be finished"));
}

#[tokio::test]
async fn a_technician_bound_to_one_account_cannot_be_taken_over_by_another() {
    let s = SignIn::start().await;
    technician(&s.app, "alice@msp.example", true).await;
    s.person("sub-alice", "alice@msp.example");
    assert_eq!(s.sign_in().await.status, 303);
    // Another account of the directory now carries Alice's name.
    s.person("sub-imposter", "alice@msp.example");
    let landing = s.sign_in().await;
    assert_eq!(landing.status, 403);
    assert!(landing.body.contains("signs in with another account"));
}
