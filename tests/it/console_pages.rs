//! The console's Technicians and Connectors pages over HTTP: forms go through the admin API's
//! validation, permission checks and audit; field errors come back next to their inputs.

use crate::console::{ConsoleSession, technician};
use crate::helpers::spawn_app;
use crate::world::World;
use serde_json::Value;

fn audited(audit: &Value, action: &str) -> bool {
    audit
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["action"] == action)
}

#[tokio::test]
async fn an_msp_admin_adds_a_technician_and_gives_them_rights_through_the_pages() {
    let app = spawn_app().await;
    let contoso = app.create_customer("Contoso").await;
    app.create_customer("Northwind").await;
    let alice = technician(&app, "alice@msp.example", true).await;
    let session = ConsoleSession::sign_in(&app, &alice).await;

    let list = session.get("/console/technicians").await;
    assert_eq!(list.status, 200);
    assert!(list.body.contains("Add a technician"));
    let refused = session
        .post(
            "/console/technicians",
            &list,
            &[("name", "Bob"), ("email", "not an email")],
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("aria-invalid=\"true\""));
    assert!(refused.body.contains("value=\"not an email\""), "kept");

    let added = session
        .post(
            "/console/technicians",
            &list,
            &[("name", "Bob"), ("email", "bob@msp.example")],
        )
        .await;
    assert_eq!(added.status, 303, "{}", added.body);
    let detail_path = added.location.unwrap();
    let bob = detail_path
        .trim_start_matches("/console/technicians/")
        .split('?')
        .next()
        .unwrap()
        .to_string();
    let detail = session.get(&detail_path).await;
    assert!(detail.body.contains("Technician added"));

    let base = format!("/console/technicians/{bob}");
    let made = session
        .post(&format!("{base}/admin"), &detail, &[("on", "1")])
        .await;
    assert_eq!(made.status, 303);
    let delegated = session
        .post(
            &format!("{base}/delegations"),
            &detail,
            &[("target", &contoso), ("on", "1")],
        )
        .await;
    assert_eq!(delegated.status, 303);
    let administers = session
        .post(
            &format!("{base}/administers"),
            &detail,
            &[("target", &contoso), ("on", "1")],
        )
        .await;
    assert_eq!(administers.status, 303);
    let taken = session
        .post(&format!("{base}/admin"), &detail, &[("on", "0")])
        .await;
    assert_eq!(taken.status, 303);

    let view = app
        .admin("GET", &format!("/api/v1/technicians/{bob}"), None)
        .await;
    assert_eq!(view["is_admin"], false);
    assert_eq!(view["customers"], serde_json::json!([contoso]));
    assert_eq!(view["administers"], serde_json::json!([contoso]));
    let after = session.get(&base).await;
    assert!(after.body.contains("Customer admin"));
    let audit = app.admin("GET", "/api/v1/audit?limit=500", None).await;
    for action in [
        "technician.create",
        "technician.admin.grant",
        "technician.admin.revoke",
        "delegation.add",
        "technician.customer_admin.grant",
    ] {
        assert!(audited(&audit, action), "{action} is audited");
    }

    // Bob, now customer admin of Contoso only, sees only Contoso and changes no rights.
    let bob_session = ConsoleSession::sign_in(&app, &bob).await;
    let customers = bob_session.get("/console/customers").await;
    assert!(customers.body.contains("Contoso"));
    assert!(!customers.body.contains("Northwind"));
    let own = bob_session.get(&base).await;
    assert_eq!(own.status, 200);
    assert!(!own.body.contains("Make MSP admin"));
    assert!(
        !own.body.contains("Northwind"),
        "only their customers to pick"
    );
    let forbidden = bob_session
        .post(&format!("{base}/admin"), &own, &[("on", "1")])
        .await;
    assert_eq!(forbidden.status, 403);
    let forbidden = bob_session
        .post(
            &format!("{base}/administers"),
            &own,
            &[("target", &contoso), ("on", "0")],
        )
        .await;
    assert_eq!(forbidden.status, 403);
    assert!(
        !bob_session
            .get("/console/technicians")
            .await
            .body
            .contains("Add a technician")
    );
}

#[tokio::test]
async fn the_customer_admin_api_is_for_msp_admins_and_shows_in_the_view() {
    let app = spawn_app().await;
    let contoso = app.create_customer("Contoso").await;
    let bob = technician(&app, "bob@msp.example", false).await;
    let path = format!("/api/v1/technicians/{bob}/administers/{contoso}");
    let (status, _) = app
        .request("PUT", &path, Some(&app.admin_token), None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = app
        .request(
            "PUT",
            &format!("/api/v1/technicians/{bob}/administers/cus_nope"),
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let view = app
        .admin("GET", &format!("/api/v1/technicians/{bob}"), None)
        .await;
    assert_eq!(view["administers"], serde_json::json!([contoso]));
    let (status, _) = app
        .request("DELETE", &path, Some(&app.admin_token), None)
        .await;
    assert_eq!(status, 204);
    let view = app
        .admin("GET", &format!("/api/v1/technicians/{bob}"), None)
        .await;
    assert_eq!(view["administers"], serde_json::json!([]));
    let audit = app.admin("GET", "/api/v1/audit?limit=500", None).await;
    assert!(audited(&audit, "technician.customer_admin.revoke"));
}

#[tokio::test]
async fn removing_a_technician_says_first_how_many_open_grants_end() {
    let w = World::new().await;
    assert_eq!(w.request_on_ticket(4101, "alice").await, 202);
    w.notes(4101, 1).await;
    let boss = technician(&w.app, "boss@msp.example", true).await;
    let session = ConsoleSession::sign_in(&w.app, &boss).await;
    let base = format!("/console/technicians/{}", w.technician_id);

    let detail = session.get(&base).await;
    assert!(
        detail.body.contains("1 open grant will be ended now."),
        "{}",
        detail.body
    );
    let confirm = session.get(&format!("{base}/remove")).await;
    assert_eq!(confirm.status, 200);
    assert!(confirm.body.contains("1 open grant will be ended now."));
    let removed = session.post(&format!("{base}/remove"), &confirm, &[]).await;
    assert_eq!(removed.status, 303);
    assert_eq!(
        removed.location.as_deref(),
        Some("/console/technicians?done=technician-removed")
    );
    let grants = w.app.admin("GET", "/api/v1/grants", None).await;
    let grant = &grants.as_array().unwrap()[0];
    assert_eq!(grant["end_request_reason"], "technician_removed", "{grant}");
    assert_eq!(session.get(&base).await.status, 404);
}

fn connectwise_fields<'a>(site: &'a str, private_key: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("kind", "connectwise"),
        ("name", "ConnectWise"),
        ("s:site", site),
        ("s:company_id", "contosomsp"),
        ("s:public_key", "a1B2c3D4e5F6g7H8"),
        ("s:client_id", "3f0b9a6e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"),
        ("s:trigger.custom_field", "Request JIT"),
        // A closed local port: the page asks the PSA for company names, and a test never
        // reaches a real ConnectWise site.
        ("s:api_url", LOCAL_CW_API),
        ("secret:private_key", private_key),
        ("enabled", "true"),
    ]
}

const LOCAL_CW_API: &str = "https://127.0.0.1:9/v4_6_release/apis/3.0/";

#[tokio::test]
async fn a_connectwise_connector_is_corrected_inline_then_shows_its_webhook_url() {
    let app = spawn_app().await;
    let alice = technician(&app, "alice@msp.example", true).await;
    let customer = app.create_customer("Contoso").await;
    let session = ConsoleSession::sign_in(&app, &alice).await;
    let new = session
        .get("/console/connectors/new?kind=connectwise")
        .await;
    assert_eq!(new.status, 200);
    assert!(new.body.contains("name=\"s:site\""));
    assert!(new.body.contains("type=\"password\""));

    let wrong = session
        .post(
            "/console/connectors",
            &new,
            &connectwise_fields("na.myconnectwise.net/v4_6_release", ""),
        )
        .await;
    assert_eq!(wrong.status, 422, "{}", wrong.body);
    assert!(wrong.body.contains("must be a host name only"));
    assert!(
        wrong.body.contains("id=\"f-s:site-error\""),
        "next to the site"
    );
    assert!(
        wrong.body.contains("id=\"f-secret:private_key-error\""),
        "the missing secret next to its input"
    );
    assert!(
        wrong.body.contains("value=\"contosomsp\""),
        "typed values are kept"
    );

    let secret = "the-private-key-0123456789";
    let fixed = session
        .post(
            "/console/connectors",
            &new,
            &connectwise_fields("na.myconnectwise.net", secret),
        )
        .await;
    assert_eq!(fixed.status, 303, "{}", fixed.body);
    let detail_path = fixed.location.unwrap();
    let id = detail_path
        .trim_start_matches("/console/connectors/")
        .split('?')
        .next()
        .unwrap()
        .to_string();
    let detail = session.get(&detail_path).await;
    assert_eq!(detail.status, 200);
    let webhook = format!("{}/webhooks/{id}", app.url);
    assert!(detail.body.contains(&webhook), "{}", detail.body);
    assert!(detail.body.contains("class=\"copy\""));
    assert!(detail.body.contains("Set."), "the secret says set");
    assert!(!detail.body.contains(secret), "never shown");
    assert!(
        session
            .get("/console/connectors")
            .await
            .body
            .contains(&webhook)
    );

    // Saving the edit form with the secret empty keeps it; settings not in the form survive.
    let saved = session
        .post(
            &format!("/console/connectors/{id}"),
            &detail,
            &[
                ("name", "ConnectWise NA"),
                ("s:site", "na.myconnectwise.net"),
                ("s:company_id", "contosomsp"),
                ("s:public_key", "a1B2c3D4e5F6g7H8"),
                ("s:client_id", "3f0b9a6e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"),
                ("s:trigger.status", "JIT Requested"),
                ("s:api_url", LOCAL_CW_API),
            ],
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let view = app
        .admin("GET", &format!("/api/v1/connectors/{id}"), None)
        .await;
    assert_eq!(view["name"], "ConnectWise NA");
    assert_eq!(view["settings"]["trigger"]["status"], "JIT Requested");
    assert!(view["settings"]["trigger"].get("custom_field").is_none());
    assert_eq!(view["secrets"]["private_key"]["set"], true);

    let disabled = session
        .post(
            &format!("/console/connectors/{id}/enabled"),
            &detail,
            &[("on", "0")],
        )
        .await;
    assert_eq!(disabled.status, 303);
    let view = app
        .admin("GET", &format!("/api/v1/connectors/{id}"), None)
        .await;
    assert_eq!(view["enabled"], false);

    let blank = session
        .post(
            &format!("/console/connectors/{id}/companies"),
            &detail,
            &[("company", " "), ("customer", &customer)],
        )
        .await;
    assert_eq!(blank.status, 422);
    assert!(blank.body.contains("id=\"f-company-error\""));
    let mapped = session
        .post(
            &format!("/console/connectors/{id}/companies"),
            &detail,
            &[("company", "250"), ("customer", &customer)],
        )
        .await;
    assert_eq!(mapped.status, 303);
    let page = session.get(&format!("/console/connectors/{id}")).await;
    assert!(page.body.contains("<code>250</code>"));
    let unmapped = session
        .post(
            &format!("/console/connectors/{id}/companies/remove"),
            &page,
            &[("company", "250")],
        )
        .await;
    assert_eq!(unmapped.status, 303);
    let companies = app
        .admin("GET", &format!("/api/v1/connectors/{id}/companies"), None)
        .await;
    assert_eq!(companies, serde_json::json!([]));
}

#[tokio::test]
async fn every_kind_has_its_own_form() {
    let app = spawn_app().await;
    let alice = technician(&app, "alice@msp.example", true).await;
    let session = ConsoleSession::sign_in(&app, &alice).await;
    for (kind, field) in [
        ("autotask", "s:integration_code"),
        ("halopsa", "s:delivery_auth.mode"),
        ("standard_webhooks", "s:note_url"),
    ] {
        let page = session
            .get(&format!("/console/connectors/new?kind={kind}"))
            .await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains(&format!("name=\"{field}\"")), "{kind}");
    }
    let page = session
        .get("/console/connectors/new?kind=standard_webhooks")
        .await;
    let added = session
        .post(
            "/console/connectors",
            &page,
            &[
                ("kind", "standard_webhooks"),
                ("name", "Rewst"),
                (
                    "secret:webhook_secret",
                    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                ),
            ],
        )
        .await;
    assert_eq!(added.status, 303, "{}", added.body);
    let connectors = app.admin("GET", "/api/v1/connectors", None).await;
    let rewst = &connectors.as_array().unwrap()[0];
    assert_eq!(
        rewst["enabled"], false,
        "an unticked box is sent as nothing"
    );
    assert_eq!(rewst["settings"], serde_json::json!({}));
}

#[tokio::test]
async fn a_customer_admin_is_told_connectors_are_for_msp_admins() {
    let app = spawn_app().await;
    let contoso = app.create_customer("Contoso").await;
    let bob = technician(&app, "bob@msp.example", false).await;
    app.admin(
        "PUT",
        &format!("/api/v1/technicians/{bob}/administers/{contoso}"),
        None,
    )
    .await;
    let session = ConsoleSession::sign_in(&app, &bob).await;
    let page = session.get("/console/connectors").await;
    assert_eq!(page.status, 403);
    assert!(page.body.contains("set up by MSP admins"));
    let new = session.get("/console/connectors/new?kind=autotask").await;
    assert_eq!(new.status, 403);
}

#[tokio::test]
async fn the_connector_page_names_mapped_companies_where_the_psa_can() {
    let w = World::new().await;
    w.cw.add_company(crate::world::COMPANY, "Fabrikam Holdings");
    let boss = technician(&w.app, "boss@msp.example", true).await;
    let session = ConsoleSession::sign_in(&w.app, &boss).await;
    let path = format!("/console/connectors/{}", w.connector_id);

    let page = session.get(&path).await;
    assert_eq!(page.status, 200);
    let company = crate::world::COMPANY;
    assert!(
        page.body
            .contains(&format!("Fabrikam Holdings (<code>{company}</code>)")),
        "{}",
        page.body
    );
    assert!(!page.body.contains("name unavailable"));

    // A company the PSA does not know keeps its id, marked as unnamed.
    let mapped = session
        .post(
            &format!("{path}/companies"),
            &page,
            &[("company", "424242"), ("customer", &w.customer_id)],
        )
        .await;
    assert_eq!(mapped.status, 303, "{}", mapped.body);
    let page = session.get(&mapped.location.unwrap()).await;
    assert!(page.body.contains("Company mapped."), "no name to tell");
    assert!(
        page.body
            .contains("<code>424242</code> <span class=\"muted\">name unavailable</span>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Fabrikam Holdings"));

    // Mapping a company the PSA knows says its name.
    w.cw.add_company(777, "Northwind Traders");
    let mapped = session
        .post(
            &format!("{path}/companies"),
            &page,
            &[("company", "777"), ("customer", &w.customer_id)],
        )
        .await;
    assert_eq!(mapped.status, 303, "{}", mapped.body);
    let page = session.get(&mapped.location.unwrap()).await;
    assert!(
        page.body
            .contains("Company Northwind Traders (777) mapped."),
        "{}",
        page.body
    );
}
