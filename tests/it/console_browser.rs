//! The console in Chromium, as a new MSP admin walks it (run from `browser::`, which owns the
//! one Chromium session): sign in with a one-time link, add a customer and authorize its
//! tenant on the simulated consent page, pick the JIT domain and roles, map roles to a group,
//! see a grant started by a signed delivery on the dashboard and end it, filter the audit.
//! Screenshots of each page go to `target/browser/console-*.png`.

use crate::browser::{Flow, full_page_screenshot, screenshot_dir};
use crate::console::{login_link_path, technician};
use crate::world::{World, eventually};
use fantoccini::{Client, Locator};
use jitgate_sim::graph::{AppRegistration, TenantSpec};
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;

const MSP_CLIENT_ID: &str = "6b5c4d3e-2f1a-4b0c-9d8e-7f6a5b4c3d2e";
const MSP_SECRET: &str = "msp~console~secret~0415";
const CONTOSO_TENANT: &str = "3c9d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f";
const CONTOSO_DOMAIN: &str = "contoso.onmicrosoft.com";
const USER_ADMINISTRATOR: &str = "fe930be7-5e62-47db-91af-98c3a49a38b1";
const EXCHANGE_ADMINISTRATOR: &str = "29232cdf-9323-42fd-ade2-1d097af3e4de";

const WAIT: Duration = Duration::from_secs(15);

/// The walkthrough; returns the dashboard screenshot's path.
pub async fn walkthrough(b: &Client) -> Flow<PathBuf> {
    let w = World::new().await;
    let dir = screenshot_dir();
    // The MSP's own app, and a second customer tenant that consents to it.
    w.graph.register_app(AppRegistration {
        client_id: MSP_CLIENT_ID.into(),
        client_secret: MSP_SECRET.into(),
        redirect_uris: vec![format!("{}/entra/consent/callback", w.app.url)],
        ..Default::default()
    });
    w.graph.add_tenant(TenantSpec::new(
        CONTOSO_TENANT,
        "00000000-0000-4000-8000-00000000c0de",
        "contoso-own-app-secret",
        CONTOSO_DOMAIN,
    ));
    w.graph.sign_in_admin_of(CONTOSO_TENANT);
    w.app
        .admin(
            "PUT",
            "/api/v1/entra/app",
            Some(json!({"client_id": MSP_CLIENT_ID, "client_secret": MSP_SECRET})),
        )
        .await;
    let admin = technician(&w.app, "morgan@msp.example", true).await;

    // Sign in with a one-time link.
    let link = login_link_path(&w.app, &admin, 600_000).await;
    b.goto(&format!("{}{link}", w.app.url)).await?;
    full_page_screenshot(b, 1280, &dir.join("console-sign-in.png")).await?;
    b.find(Locator::Id("sign-in")).await?.click().await?;
    wait_for_text(b, "Needs attention").await?;

    // Add a customer, then Authorize: Microsoft's consent page (the simulator's) sends the
    // browser back to jitgate, which connects the tenant and checks it.
    b.goto(&format!("{}/console/customers", w.app.url)).await?;
    b.find(Locator::Id("f-name"))
        .await?
        .send_keys("Contoso")
        .await?;
    b.find(Locator::Id("add-customer")).await?.click().await?;
    b.wait()
        .at_most(WAIT)
        .for_element(Locator::Id("authorize"))
        .await?
        .click()
        .await?;
    wait_for_text(b, CONTOSO_TENANT).await?;
    let customers = w.app.admin("GET", "/api/v1/customers", None).await;
    let contoso = customers
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "Contoso")
        .expect("the customer was added")["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        customers
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == contoso.as_str())
            .unwrap()["entra"]["tenant_id"],
        CONTOSO_TENANT,
        "the tenant came from the token"
    );

    // Back to the customer from the result page; pick the domain and a role from the tenant,
    // save: the check runs.
    b.find(Locator::Id("back-to-customer"))
        .await?
        .click()
        .await?;
    b.wait()
        .at_most(WAIT)
        .for_element(Locator::Id("f-jit_domain"))
        .await?;
    let domain = b.find(Locator::Id("f-jit_domain")).await?;
    assert_eq!(domain.prop("value").await?.as_deref(), Some(CONTOSO_DOMAIN));
    b.find(Locator::Css(&format!(
        "input[name=roles][value='{USER_ADMINISTRATOR}']"
    )))
    .await?
    .click()
    .await?;
    b.find(Locator::Css(
        "form[action$='/connection'] button[type=submit]",
    ))
    .await?
    .click()
    .await?;
    wait_for_text(b, "Connection saved and checked").await?;

    // All admins starts with the connection's roles; add Exchange Administrator.
    b.find(Locator::Css(&format!(
        "input[name='map:grp_all_admins'][value='{EXCHANGE_ADMINISTRATOR}']"
    )))
    .await?
    .click()
    .await?;
    b.find(Locator::Css(
        "form[action$='/role-mappings'] button[type=submit]",
    ))
    .await?
    .click()
    .await?;
    wait_for_text(b, "Role mappings saved").await?;
    let mappings = w
        .app
        .admin(
            "GET",
            &format!("/api/v1/customers/{contoso}/role-mappings"),
            None,
        )
        .await;
    assert!(
        mappings["mappings"][0]["roles"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == EXCHANGE_ADMINISTRATOR),
        "{mappings}"
    );
    full_page_screenshot(b, 1280, &dir.join("console-customer.png")).await?;

    add_technician(b, &w.app.url, &contoso).await?;
    let technicians = w.app.admin("GET", "/api/v1/technicians", None).await;
    let jamie = technicians
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["email"] == "jamie@msp.example")
        .expect("the technician was added");
    assert_eq!(jamie["is_admin"], true, "{jamie}");
    assert_eq!(jamie["customers"], json!([contoso]), "{jamie}");
    full_page_screenshot(b, 1280, &dir.join("console-technician.png")).await?;

    add_connectwise_connector(b, &w.app.url).await?;
    full_page_screenshot(b, 1280, &dir.join("console-connector.png")).await?;

    // A signed delivery starts a grant for Fabrikam; the dashboard shows it; End now ends it.
    assert_eq!(w.request_on_ticket(9101, "alice").await, 202);
    w.notes(9101, 1).await;
    b.goto(&format!("{}/console", w.app.url)).await?;
    assert!(b.source().await?.contains("Open grants (1)"));
    let dashboard = dir.join("console-dashboard.png");
    full_page_screenshot(b, 1280, &dashboard).await?;
    full_page_screenshot(b, 390, &dir.join("console-dashboard-phone.png")).await?;
    b.set_window_size(1280, 1000).await?;
    b.find(Locator::Css("button.danger")).await?.click().await?;
    // app.js asks first.
    b.accept_alert().await?;
    wait_for_text(b, "Ending the grant").await?;
    eventually("the grant ends", Duration::from_secs(30), || async {
        let grants = w.grants().await;
        grants[0]["ended_at"].is_i64().then_some(())
    })
    .await;
    b.refresh().await?;
    assert!(
        b.source().await?.contains("read_back"),
        "the end's steps show"
    );
    full_page_screenshot(b, 1280, &dir.join("console-grant.png")).await?;

    // The audit, filtered to the end asked for here: by this admin, in this session.
    b.goto(&format!("{}/console/audit", w.app.url)).await?;
    b.find(Locator::Id("f-action"))
        .await?
        .send_keys("grant.end_requested")
        .await?;
    b.find(Locator::Css("form.filters button[type=submit]"))
        .await?
        .click()
        .await?;
    b.wait()
        .at_most(WAIT)
        .for_element(Locator::Css("table.audit"))
        .await?;
    let audit = b.source().await?;
    assert!(audit.contains("grant.end_requested") && audit.contains("morgan"));
    assert!(!audit.contains("customer.create"), "filtered");
    full_page_screenshot(b, 1280, &dir.join("console-audit.png")).await?;
    Ok(dashboard)
}

/// Add a technician, make them an MSP admin and delegate Contoso to them.
async fn add_technician(b: &Client, url: &str, customer_id: &str) -> Flow<()> {
    b.goto(&format!("{url}/console/technicians")).await?;
    b.find(Locator::Id("f-name"))
        .await?
        .send_keys("Jamie Tech")
        .await?;
    b.find(Locator::Id("f-email"))
        .await?
        .send_keys("jamie@msp.example")
        .await?;
    b.find(Locator::Css(
        "form[action$='/console/technicians'] button[type=submit]",
    ))
    .await?
    .click()
    .await?;
    b.wait()
        .at_most(WAIT)
        .for_element(Locator::Css("form[action$='/admin'] button"))
        .await?
        .click()
        .await?;
    wait_for_text(b, "They are an MSP admin now").await?;
    b.wait()
        .at_most(WAIT)
        .for_element(Locator::Css("form[action$='/delegations'] select"))
        .await?
        .select_by_value(customer_id)
        .await?;
    b.find(Locator::Css(
        "form[action$='/delegations'] button[type=submit]",
    ))
    .await?
    .click()
    .await?;
    wait_for_text(b, "Customer delegated").await?;
    Ok(())
}

/// Create a ConnectWise connector with a site that has a path, see the inline error, fix it,
/// and copy the webhook URL.
async fn add_connectwise_connector(b: &Client, url: &str) -> Flow<()> {
    b.goto(&format!("{url}/console/connectors/new?kind=connectwise"))
        .await?;
    let fields = [
        ("name", "ConnectWise EU"),
        ("s:site", "eu.myconnectwise.net/v4_6_release"),
        ("s:company_id", "contosomsp"),
        ("s:public_key", "a1B2c3D4e5F6g7H8"),
        ("s:client_id", "3f0b9a6e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"),
        ("s:trigger.custom_field", "Request JIT"),
        ("secret:private_key", "pRiVaTeKeY9876"),
    ];
    for (name, value) in fields {
        let input = b.find(Locator::Css(&format!("[name='{name}']"))).await?;
        input.clear().await?;
        input.send_keys(value).await?;
    }
    let submit = "form[action$='/console/connectors'] button[type=submit]";
    b.find(Locator::Css(submit)).await?.click().await?;
    let error = b
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("[id='f-s:site-error']"))
        .await?;
    assert!(error.text().await?.contains("host name only"));
    let site = b.find(Locator::Css("[name='s:site']")).await?;
    site.clear().await?;
    site.send_keys("eu.myconnectwise.net").await?;
    // Secrets are never sent back to the browser: type it again.
    b.find(Locator::Css("[name='secret:private_key']"))
        .await?
        .send_keys("pRiVaTeKeY9876")
        .await?;
    b.find(Locator::Css(submit)).await?.click().await?;
    let copy = b
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(".webhook-url button.copy"))
        .await?;
    assert!(
        copy.is_displayed().await?,
        "the copy button shows with JavaScript"
    );
    copy.click().await?;
    let deadline = tokio::time::Instant::now() + WAIT;
    while copy.text().await? != "Copied" {
        if tokio::time::Instant::now() > deadline {
            return Err(format!("the copy button says {:?}", copy.text().await?).into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let webhook = b
        .find(Locator::Css(".webhook-url code"))
        .await?
        .text()
        .await?;
    assert!(
        webhook.starts_with(&format!("{url}/webhooks/")),
        "{webhook}"
    );
    assert!(!b.source().await?.contains("pRiVaTeKeY9876"), "write-only");
    Ok(())
}

/// Wait until the page shows `text` (a form's answer replaces the page; waiting for an element
/// the old page also had would race the navigation).
pub(crate) async fn wait_for_text(b: &Client, text: &str) -> Flow<()> {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !b.source().await?.contains(text) {
        if tokio::time::Instant::now() > deadline {
            return Err(format!("the page never showed {text:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}
