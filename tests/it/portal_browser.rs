//! The technicians' portal in Chromium (run from `browser::`, which owns the one Chromium
//! session), with credential links that need the technician's own sign-in: a technician signs
//! in, requests access from the portal, sees the account ready, reveals, stores a TOTP key and
//! sees a code, ends access; opens the in-ticket request link of a ConnectWise ticket and gets
//! the account and the note on that ticket; opens another technician's credential link and is
//! refused. Screenshots go to `target/browser/portal-*.png`.

use crate::browser::{Flow, full_page_screenshot, screenshot_dir};
use crate::console::{login_link_path, technician};
use crate::console_browser::wait_for_text;
use crate::credential::{assert_code_matches, new_totp_key, unix_now};
use crate::world::{COMPANY, TENANT, World, WorldOptions, eventually};
use fantoccini::{Client, Locator};
use jitgate_sim::connectwise::SeedTicket;
use std::path::PathBuf;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

/// The walkthrough; returns the phone screenshot's path.
pub async fn walkthrough(b: &Client) -> Flow<PathBuf> {
    let w = World::with(WorldOptions {
        links_need_sign_in: true,
        ..Default::default()
    })
    .await;
    let dir = screenshot_dir();
    sign_in(b, &w, &w.technician_id).await?;
    // Alice is no admin: the console sends her to her tenants.
    wait_for_text(b, "Fabrikam").await?;
    assert!(b.current_url().await?.path().starts_with("/portal"));
    full_page_screenshot(b, 1280, &dir.join("portal-tenants.png")).await?;

    // Request access; the page follows the request until the account is ready.
    b.goto(&format!("{}/portal/tenants/{}", w.app.url, w.customer_id))
        .await?;
    b.find(Locator::Id("reason"))
        .await?
        .send_keys("reset a mailbox's permissions")
        .await?;
    b.find(Locator::Id("request-submit")).await?.click().await?;
    b.wait()
        .at_most(WAIT)
        .for_element(Locator::Id("request-ready"))
        .await?
        .click()
        .await?;

    // Reveal: the password Graph got.
    b.wait()
        .at_most(WAIT)
        .for_element(Locator::Id("reveal"))
        .await?
        .click()
        .await?;
    let shown = b
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id("password"))
        .await?
        .text()
        .await?;
    let graph_password = w
        .graph
        .user_by_upn(TENANT, &w.jit_upn())
        .and_then(|u| u.password)
        .ok_or("Graph has the account's password")?;
    assert_eq!(shown, graph_password);

    // Store the authenticator key (checked against a current code), then see its code.
    let (key, totp) = new_totp_key();
    b.find(Locator::Id("totp-key"))
        .await?
        .send_keys(&key)
        .await?;
    let before = unix_now();
    b.find(Locator::Id("totp-confirm"))
        .await?
        .send_keys(&totp.generate_current().to_string())
        .await?;
    b.find(Locator::Id("totp-save")).await?.click().await?;
    let code = b
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id("totp-code"))
        .await?
        .text()
        .await?;
    assert_code_matches(&code, &totp, before, unix_now());
    let phone = dir.join("portal-tenant-phone.png");
    full_page_screenshot(b, 390, &phone).await?;
    b.set_window_size(1280, 1000).await?;

    // End now (app.js asks first): the grant ends.
    b.find(Locator::Id("end-now")).await?.click().await?;
    b.accept_alert().await?;
    eventually("the portal grant ends", Duration::from_secs(30), || async {
        let grants = w.grants().await;
        grants[0]["ended_at"].is_i64().then_some(())
    })
    .await;

    // The in-ticket link of a ConnectWise ticket: the account again, and a note on that ticket.
    w.cw.add_ticket(SeedTicket::new(9202, COMPANY));
    b.goto(&format!(
        "{}/request/{}?ticket=9202",
        w.app.url, w.connector_id
    ))
    .await?;
    wait_for_text(b, "JIT admin in Fabrikam").await?;
    full_page_screenshot(b, 1280, &dir.join("portal-ticket-request.png")).await?;
    b.find(Locator::Id("ticket-request-submit"))
        .await?
        .click()
        .await?;
    b.wait()
        .at_most(WAIT)
        .for_element(Locator::Id("request-ready"))
        .await?;
    let note = &w.notes(9202, 1).await[0];
    assert!(note.text.contains("only Alice"), "{}", note.text);
    let alices_link = w.link_in(note);

    // Bob, signed in on this browser, opens Alice's credential link: refused.
    let bob = technician(&w.app, "bob@msp.example", false).await;
    sign_in(b, &w, &bob).await?;
    b.goto(&alices_link).await?;
    wait_for_text(b, "belongs to Alice").await?;
    assert!(!b.source().await?.contains(&graph_password));
    full_page_screenshot(b, 1280, &dir.join("portal-link-refused.png")).await?;
    Ok(phone)
}

async fn sign_in(b: &Client, w: &World, technician_id: &str) -> Flow<()> {
    let link = login_link_path(&w.app, technician_id, 600_000).await;
    b.goto(&format!("{}{link}", w.app.url)).await?;
    b.find(Locator::Id("sign-in")).await?.click().await?;
    let deadline = tokio::time::Instant::now() + WAIT;
    while b.current_url().await?.path().starts_with("/auth/") {
        if tokio::time::Instant::now() > deadline {
            return Err("signing in did not leave the sign-in page".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}
