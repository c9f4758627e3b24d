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
    b.wait()
        .at_most(WAIT)
        .for_element(Locator::Css("h1"))
        .await?;
    assert!(b.source().await?.contains("Dashboard"));

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
    let deadline = tokio::time::Instant::now() + WAIT;
    while !b.source().await?.contains(CONTOSO_TENANT) {
        if tokio::time::Instant::now() > deadline {
            return Err("the consent callback page did not name the tenant".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
    b.wait()
        .at_most(WAIT)
        .for_element(Locator::Css(".banner.ok"))
        .await?;
    assert!(b.source().await?.contains("Connection saved and checked"));

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
    b.wait()
        .at_most(WAIT)
        .for_element(Locator::Css(".banner.ok"))
        .await?;
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
    b.wait()
        .at_most(WAIT)
        .for_element(Locator::Css(".banner.ok"))
        .await?;
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
