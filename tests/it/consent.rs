//! Connecting a customer's tenant through the MSP's own Entra app by admin consent (issue 12),
//! end to end: jitgate's consent URL, the Graph simulator's consent page standing in for
//! Microsoft's, the browser's redirect back to `/entra/consent/callback`, the stored connection,
//! and a grant made through the MSP app's credentials.

use crate::helpers::{TestApp, captured_logs};
use crate::world::{
    CLIENT_ID, COMPANY, GLOBAL_ADMIN, Msp, Sims, TENANT, TRIGGER_FIELD, WorldOptions, eventually,
    setup_msp,
};
use jitgate::store::Db;
use jitgate_sim::connectwise::SeedTicket;
use jitgate_sim::graph::{AppRegistration, ConsentAnswer};
use jitgate_sim::world::ALICE;
use serde_json::{Value, json};
use std::time::Duration;

pub(crate) const MSP_CLIENT_ID: &str = "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d";
pub(crate) const MSP_SECRET: &str = "msp~app~secret~value~0777";

pub(crate) struct Consent {
    pub(crate) sims: Sims,
    pub(crate) app: TestApp,
    pub(crate) msp: Msp,
    /// The administrator's browser: trusts the simulator's CA and follows redirects.
    browser: reqwest::Client,
}

impl Consent {
    /// jitgate with Fabrikam connected through its own app (the world's set-up), and the MSP
    /// app registered in the simulator and configured in jitgate.
    pub(crate) async fn start() -> Consent {
        let sims = Sims::start().await;
        let app = sims.spawn_app(&WorldOptions::default()).await;
        let msp = setup_msp(&app.api(), &sims.cw, true).await;
        sims.graph.register_app(AppRegistration {
            client_id: MSP_CLIENT_ID.into(),
            client_secret: MSP_SECRET.into(),
            redirect_uris: vec![format!("{}/entra/consent/callback", app.url)],
            ..AppRegistration::default()
        });
        sims.graph.sign_in_admin_of(TENANT);
        app.admin(
            "PUT",
            "/api/v1/entra/app",
            Some(json!({"client_id": MSP_CLIENT_ID, "client_secret": MSP_SECRET})),
        )
        .await;
        let ca = reqwest::Certificate::from_pem(sims.ca.ca_pem().as_bytes()).unwrap();
        let browser = reqwest::Client::builder()
            .add_root_certificate(ca)
            .build()
            .unwrap();
        Consent {
            sims,
            app,
            msp,
            browser,
        }
    }

    pub(crate) async fn consent_url(&self, customer_id: &str) -> String {
        let answer = self
            .app
            .admin(
                "GET",
                &format!("/api/v1/customers/{customer_id}/entra/consent"),
                None,
            )
            .await;
        answer["url"].as_str().unwrap().to_string()
    }

    /// The browser opens `url` and lands, after the redirects, on a page.
    pub(crate) async fn open(&self, url: &str) -> (u16, String) {
        let resp = self.browser.get(url).send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap())
    }

    pub(crate) async fn entra(&self, customer_id: &str) -> Value {
        self.app
            .admin("GET", &format!("/api/v1/customers/{customer_id}"), None)
            .await["entra"]
            .clone()
    }

    /// The customer still has the connection the world's set-up gave it.
    async fn assert_unchanged(&self) {
        let entra = self.entra(&self.msp.customer_id).await;
        assert_eq!(entra["client_id"], CLIENT_ID, "{entra}");
        assert_eq!(entra["client_secret_set"], true, "{entra}");
    }

    fn callback(&self, query: &str) -> String {
        format!("{}/entra/consent/callback?{query}", self.app.url)
    }
}

fn state_of(url: &str) -> String {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("the consent URL carries a state")
}

#[tokio::test]
async fn the_msp_app_is_shown_without_its_secret() {
    let c = Consent::start().await;
    let (status, app) = c
        .app
        .request("GET", "/api/v1/entra/app", Some(&c.app.admin_token), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(app["client_id"], MSP_CLIENT_ID);
    assert_eq!(app["secret_set"], true);
    assert_eq!(
        app["redirect_uri"],
        format!("{}/entra/consent/callback", c.app.url)
    );
    assert!(!app.to_string().contains(MSP_SECRET));
    let (status, body) = c
        .app
        .request(
            "PUT",
            "/api/v1/entra/app",
            Some(&c.app.admin_token),
            Some(json!({"client_id": "not-a-guid", "client_secret": " "})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"]["fields"]["client_id"].is_string(), "{body}");
    assert!(
        body["error"]["fields"]["client_secret"].is_string(),
        "{body}"
    );
}

#[tokio::test]
async fn consent_connects_the_tenant_from_the_token_and_grants_work_through_the_msp_app() {
    let c = Consent::start().await;
    let url = c.consent_url(&c.msp.customer_id).await;
    assert!(url.contains("/common/adminconsent?"), "{url}");
    assert!(url.contains(&format!("client_id={MSP_CLIENT_ID}")), "{url}");

    let (status, page) = c.open(&url).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Connected"), "{page}");
    assert!(page.contains(TENANT), "{page}");
    assert!(
        c.sims
            .graph
            .consented_apps(TENANT)
            .iter()
            .any(|a| a == MSP_CLIENT_ID)
    );

    // Same tenant as before: the customer keeps its domain and roles, now through the MSP
    // app, and its own app's secret is gone (it never follows the customer to another app).
    let entra = c.entra(&c.msp.customer_id).await;
    assert_eq!(entra["tenant_id"], TENANT, "{entra}");
    assert_eq!(entra["client_id"], MSP_CLIENT_ID, "{entra}");
    // The MSP app's secret serves this customer: it counts as set, and is never asked again.
    assert_eq!(entra["client_secret_set"], true, "{entra}");
    assert_eq!(entra["jit_domain"], jitgate_sim::world::DOMAIN, "{entra}");
    // Connecting ran the tenant check.
    assert!(entra["check"]["status"].is_string(), "{entra}");
    // The connection can be edited without a secret (the MSP app's is used).
    let edited = c
        .app
        .admin(
            "PUT",
            &format!("/api/v1/customers/{}/entra", c.msp.customer_id),
            Some(
                serde_json::json!({"tenant_id": TENANT, "client_id": MSP_CLIENT_ID,
                "jit_domain": jitgate_sim::world::DOMAIN, "roles": ["Global Administrator"]}),
            ),
        )
        .await;
    assert_eq!(edited["client_secret_set"], true, "{edited}");

    // So a grant can only have been made with the MSP app's credentials.
    request_on_ticket(&c, 9101).await;
    let notes = eventually("a note on ticket 9101", Duration::from_secs(60), || {
        let notes = c.sims.cw.notes(9101);
        async move { (!notes.is_empty()).then_some(notes) }
    })
    .await;
    assert!(
        notes[0].text.contains(&format!("{}/c/", c.app.url)),
        "{}",
        notes[0].text
    );
    let grants = c.app.admin("GET", "/api/v1/grants", None).await;
    assert_eq!(grants.as_array().map(Vec::len), Some(1), "{grants}");

    // Replayed: the same answer again is refused, and the open grant keeps the tenant.
    let (status, page) = c.open(&url).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("not valid"), "{page}");
    assert!(!captured_logs().contains(MSP_SECRET));
}

#[tokio::test]
async fn a_customer_without_a_connection_gets_the_initial_domain_and_global_administrator() {
    let c = Consent::start().await;
    let customer = c.app.create_customer("Northwind").await;
    let (status, page) = c.open(&c.consent_url(&customer).await).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Defaults were set"), "{page}");
    let entra = c.entra(&customer).await;
    assert_eq!(entra["tenant_id"], TENANT, "{entra}");
    assert_eq!(entra["client_id"], MSP_CLIENT_ID, "{entra}");
    assert!(
        entra["jit_domain"]
            .as_str()
            .unwrap()
            .ends_with(".onmicrosoft.com"),
        "{entra}"
    );
    assert_eq!(entra["roles"], json!([GLOBAL_ADMIN]), "{entra}");
    let audit = c.app.admin("GET", "/api/v1/audit", None).await.to_string();
    assert!(audit.contains("customer.entra.consent"), "{audit}");
}

#[tokio::test]
async fn a_tampered_state_is_refused_and_nothing_is_stored() {
    let c = Consent::start().await;
    let url = c.consent_url(&c.msp.customer_id).await;
    let state = state_of(&url);
    let tampered = url.replace(&state, &format!("{}x", &state[..state.len() - 1]));
    let (status, page) = c.open(&tampered).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("not valid"), "{page}");
    c.assert_unchanged().await;
}

#[tokio::test]
async fn an_expired_state_is_refused_and_nothing_is_stored() {
    let c = Consent::start().await;
    let url = c.consent_url(&c.msp.customer_id).await;
    let sql = "UPDATE consent_states SET expires_at = 0";
    match &c.app.db {
        Db::Sqlite(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
        Db::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
    }
    .unwrap();
    let (status, page) = c.open(&url).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("expired"), "{page}");
    c.assert_unchanged().await;
}

#[tokio::test]
async fn a_refusal_on_microsofts_page_shows_the_reason() {
    let c = Consent::start().await;
    c.sims
        .graph
        .set_consent_answer(TENANT, ConsentAnswer::declined());
    let (status, page) = c.open(&c.consent_url(&c.msp.customer_id).await).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("access_denied"), "{page}");
    assert!(page.contains("AADSTS65004"), "{page}");
    c.assert_unchanged().await;
}

#[tokio::test]
async fn a_tenant_in_the_query_that_differs_from_the_tokens_tid_is_refused() {
    let c = Consent::start().await;
    // The administrator consents, so the MSP app can get tokens in Fabrikam's tenant…
    c.open(&c.consent_url(&c.msp.customer_id).await).await;
    c.app
        .admin(
            "PUT",
            &format!("/api/v1/customers/{}/entra", c.msp.customer_id),
            Some(json!({
                "tenant_id": TENANT, "client_id": CLIENT_ID,
                "client_secret": jitgate_sim::world::CLIENT_SECRET,
                "jit_domain": jitgate_sim::world::DOMAIN, "roles": ["Global Administrator"],
            })),
        )
        .await;
    // …but this answer names the tenant by a domain, not the tid the token carries.
    let state = state_of(&c.consent_url(&c.msp.customer_id).await);
    let url = c.callback(&format!(
        "admin_consent=True&tenant=fabrikam.com&state={state}"
    ));
    let (status, page) = c.open(&url).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("does not match"), "{page}");
    c.assert_unchanged().await;
}

/// A technician ticks "Request JIT" on a new ticket of Fabrikam; ConnectWise calls back.
async fn request_on_ticket(c: &Consent, ticket: u64) {
    c.sims
        .cw
        .add_ticket(SeedTicket::new(ticket, COMPANY).with_custom_field(
            12,
            TRIGGER_FIELD,
            json!(false),
        ));
    c.sims
        .cw
        .set_custom_field(ticket, TRIGGER_FIELD, json!(true), ALICE.member);
    let delivery = c.sims.cw.ticket_delivery(ticket, ALICE.member, "updated");
    let mut req = c
        .app
        .http
        .post(format!("{}/webhooks/{}", c.app.url, c.msp.connector_id))
        .body(delivery.body);
    for (k, v) in &delivery.headers {
        req = req.header(k, v);
    }
    assert_eq!(req.send().await.unwrap().status().as_u16(), 202);
}

#[tokio::test]
async fn a_customer_with_open_grants_is_not_moved_to_the_msp_app() {
    let c = Consent::start().await;
    request_on_ticket(&c, 9102).await;
    eventually("a grant", Duration::from_secs(60), || async {
        let grants = c.app.admin("GET", "/api/v1/grants?open=true", None).await;
        (grants.as_array().map(Vec::len) == Some(1)).then_some(())
    })
    .await;
    let (status, page) = c.open(&c.consent_url(&c.msp.customer_id).await).await;
    assert_eq!(status, 409, "{page}");
    assert!(page.contains("still open"), "{page}");
    c.assert_unchanged().await;
}

#[tokio::test]
async fn only_admin_tokens_configure_the_msp_app_or_ask_for_consent() {
    let c = Consent::start().await;
    let (_, delegated) = jitgate::store::tokens::create(
        &c.app.db,
        "delegated",
        std::slice::from_ref(&c.msp.customer_id),
    )
    .await
    .unwrap();
    let consent = format!("/api/v1/customers/{}/entra/consent", c.msp.customer_id);
    for (method, path) in [("GET", "/api/v1/entra/app"), ("GET", consent.as_str())] {
        let (status, body) = c.app.request(method, path, Some(&delegated), None).await;
        assert_eq!(status, 403, "{method} {path}: {body}");
    }
    let (status, body) = c
        .app
        .request(
            "PUT",
            "/api/v1/entra/app",
            Some(&delegated),
            Some(json!({"client_id": MSP_CLIENT_ID, "client_secret": "other"})),
        )
        .await;
    assert_eq!(status, 403, "{body}");
}

#[tokio::test]
async fn the_cli_sets_the_msp_app_with_the_secret_from_stdin() {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}", dir.path().join("jitgate.db").display());
    let key_file = dir.path().join("master.key");
    let mut child = Command::new(env!("CARGO_BIN_EXE_jitgate"))
        .args(["entra", "app", "set", "--client-id", MSP_CLIENT_ID])
        .current_dir(dir.path())
        .env_clear()
        .env("JITGATE_DATABASE_URL", &database_url)
        .env("JITGATE_MASTER_KEY_FILE", &key_file)
        .env("JITGATE_LOG_FILTER", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the jitgate binary starts");
    writeln!(child.stdin.take().unwrap(), "{MSP_SECRET}").unwrap();
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains(MSP_CLIENT_ID), "{stdout}");
    assert!(!format!("{stdout}{stderr}").contains(MSP_SECRET));

    let db = Db::connect(&database_url, 1).await.unwrap();
    let (keyring, _) = jitgate::crypto::Keyring::load(None, &key_file).unwrap();
    let app = jitgate::store::msp_app::get(&db).await.unwrap().unwrap();
    assert_eq!(app.client_id, MSP_CLIENT_ID);
    let secret = jitgate::store::secrets::get_string(
        &db,
        &keyring,
        jitgate::store::msp_app::SECRET_SCOPE,
        jitgate::store::msp_app::CLIENT_SECRET,
    )
    .await
    .unwrap();
    assert_eq!(secret.as_deref(), Some(MSP_SECRET));
    db.close().await;
}
