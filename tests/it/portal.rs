//! The technicians' portal over HTTP (no browser), against the Graph and ConnectWise
//! simulators: a technician signs in with a one-time link, requests access, follows the request
//! until the account is ready, reveals, stores a TOTP key, sees a code, extends and ends; an
//! undelegated customer is refused; nobody sees or reveals another technician's grant; forms
//! without the session's CSRF token change nothing.

use crate::console::{ConsoleSession, Page, technician};
use crate::credential::{assert_code_matches, new_totp_key, text_of, unix_now};
use crate::world::{TENANT, World, WorldOptions, eventually};
use serde_json::Value;
use std::time::Duration;

/// Request access from the tenant page; returns the request's page path.
async fn request_access(s: &ConsoleSession, customer: &str, fields: &[(&str, &str)]) -> String {
    let tenant = s.get(&format!("/portal/tenants/{customer}")).await;
    assert_eq!(tenant.status, 200, "{}", tenant.body);
    assert!(
        tenant.body.contains("id=\"request-form\""),
        "{}",
        tenant.body
    );
    let sent = s
        .post(
            &format!("/portal/tenants/{customer}/request"),
            &tenant,
            fields,
        )
        .await;
    assert_eq!(sent.status, 303, "{}", sent.body);
    let location = sent.location.expect("a request redirects to its page");
    assert!(location.starts_with("/portal/requests/req_"), "{location}");
    location
}

/// Poll the request's JSON status, as app.js does, until it is decided.
async fn decided(s: &ConsoleSession, request_page: &str) -> Value {
    eventually(
        "the portal request to be decided",
        Duration::from_secs(30),
        || async {
            let page = s.get(&format!("{request_page}/status")).await;
            assert_eq!(page.status, 200, "{}", page.body);
            let v: Value = serde_json::from_str(&page.body).unwrap();
            (v["status"] != "pending").then_some(v)
        },
    )
    .await
}

async fn audit(w: &World, action: &str) -> Vec<Value> {
    w.app
        .admin("GET", &format!("/api/v1/audit?action={action}"), None)
        .await
        .as_array()
        .unwrap()
        .clone()
}

async fn open_grant(w: &World) -> Option<Value> {
    w.grants()
        .await
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["ended_at"].is_null())
        .cloned()
}

#[tokio::test]
async fn a_technician_requests_reveals_sets_totp_extends_and_ends_in_the_portal() {
    let w = World::new().await;
    let s = ConsoleSession::sign_in(&w.app, &w.technician_id).await;

    // Alice has no admin rights: the default landing sends her to the portal.
    let console = s.get("/console").await;
    assert_eq!(console.status, 303);
    assert_eq!(console.location.as_deref(), Some("/portal"));
    let home = s.get("/portal").await;
    assert_eq!(home.status, 200, "{}", home.body);
    let row = format!("id=\"tenant-{}\" class=\"tenant inactive\"", w.customer_id);
    assert!(home.body.contains(&row), "{}", home.body);
    assert!(home.body.contains("Fabrikam") && home.body.contains("No access"));

    // Request access: the follow page, then the pipeline's grant.
    let request = request_access(
        &s,
        &w.customer_id,
        &[
            ("duration_minutes", "60"),
            ("reason", "mailbox migration"),
            ("ticket", "T-77"),
        ],
    )
    .await;
    let follow = s.get(&request).await;
    assert_eq!(follow.status, 200);
    assert!(follow.body.contains("id=\"request-status\""));
    let status = decided(&s, &request).await;
    assert_eq!(status["status"], "provisioned", "{status}");
    let follow = s.get(&request).await;
    assert!(
        follow.body.contains("id=\"request-ready\""),
        "{}",
        follow.body
    );
    assert!(
        !follow.body.contains("data-poll"),
        "a decided request is not polled"
    );

    let user = w
        .graph
        .user_by_upn(TENANT, &w.jit_upn())
        .expect("the account exists in Graph");
    assert!(user.account_enabled);
    assert!(
        !w.graph.role_assignments_of(TENANT, &user.id).is_empty(),
        "the account holds its roles"
    );
    let grant = open_grant(&w).await.expect("an open grant");
    let minutes =
        (grant["expires_at"].as_i64().unwrap() - grant["started_at"].as_i64().unwrap()) / 60_000;
    assert!(
        (59..=60).contains(&minutes),
        "the asked hour: {minutes} minutes"
    );
    assert!(
        grant["connector_id"].is_null() && grant["ticket_ref"].is_null(),
        "{grant}"
    );
    let submitted = audit(&w, "request.submitted").await;
    assert_eq!(submitted.len(), 1);
    assert_eq!(
        submitted[0]["actor"],
        format!("technician:{}", w.technician_id)
    );
    assert!(
        submitted[0]["detail"]
            .as_str()
            .unwrap()
            .contains("mailbox migration")
    );
    assert!(submitted[0]["session_id"].is_string());
    assert_eq!(audit(&w, "grant.start").await.len(), 1);

    let home = s.get("/portal").await;
    let active = format!("id=\"tenant-{}\" class=\"tenant active\"", w.customer_id);
    assert!(home.body.contains(&active), "{}", home.body);
    assert!(home.body.contains("Active") && home.body.contains("left"));

    // View credentials: UPN, password, the tenant's sign-in address; counted and audited.
    let tenant_path = format!("/portal/tenants/{}", w.customer_id);
    let tenant = s.get(&tenant_path).await;
    assert!(
        !tenant.body.contains(user.password.as_deref().unwrap()),
        "GET never reveals"
    );
    let revealed = s.post(&format!("{tenant_path}/reveal"), &tenant, &[]).await;
    assert_eq!(revealed.status, 200, "{}", revealed.body);
    assert_eq!(text_of(&revealed.body, "upn").unwrap(), w.jit_upn());
    assert_eq!(text_of(&revealed.body, "password"), user.password.clone());
    assert_eq!(
        text_of(&revealed.body, "signin-address").unwrap(),
        format!("https://myapps.microsoft.com/?tenantid={TENANT}")
    );
    assert!(
        text_of(&revealed.body, "reveals-left")
            .unwrap()
            .starts_with('2')
    );
    let reveals = audit(&w, "credential.reveal").await;
    assert_eq!(reveals.len(), 1);
    assert_eq!(reveals[0]["outcome"], "ok");
    assert!(
        reveals[0]["ip"].is_string(),
        "the reveal names the address: {}",
        reveals[0]
    );
    assert!(reveals[0]["session_id"].is_string());

    // Configure the TOTP key (checked against a code), then see the current code.
    let (key, totp) = new_totp_key();
    let before = unix_now();
    let wrong = s
        .post(
            &format!("{tenant_path}/totp"),
            &tenant,
            &[("key", &key), ("code", "000000")],
        )
        .await;
    assert_eq!(wrong.status, 422);
    let code = totp.generate(unix_now()).to_string();
    let saved = s
        .post(
            &format!("{tenant_path}/totp"),
            &tenant,
            &[("key", &key), ("code", &code)],
        )
        .await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    assert_code_matches(
        &text_of(&saved.body, "totp-code").unwrap(),
        &totp,
        before,
        unix_now(),
    );
    assert!(!saved.body.contains(&key), "the key is never shown back");
    let tenant = s.get(&tenant_path).await;
    let before = unix_now();
    let shown = s.post(&format!("{tenant_path}/code"), &tenant, &[]).await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    assert_code_matches(
        &text_of(&shown.body, "totp-code").unwrap(),
        &totp,
        before,
        unix_now(),
    );
    assert_eq!(
        audit(&w, "totp.set")
            .await
            .iter()
            .filter(|r| r["outcome"] == "ok")
            .count(),
        1
    );
    assert_eq!(audit(&w, "totp.show").await.len(), 1);

    // Extend: a new request for the open grant, within the cap (8h by default).
    let expires = grant["expires_at"].as_i64().unwrap();
    let extended = s
        .post(
            &format!("{tenant_path}/extend"),
            &tenant,
            &[("duration_minutes", "100000")],
        )
        .await;
    assert_eq!(extended.status, 303, "{}", extended.body);
    let status = decided(&s, extended.location.as_deref().unwrap()).await;
    assert_eq!(status["status"], "provisioned", "{status}");
    let grant = open_grant(&w).await.unwrap();
    let new_expiry = grant["expires_at"].as_i64().unwrap();
    assert!(new_expiry > expires, "extended");
    let cap_ms = 8 * 3600 * 1000;
    assert!(
        new_expiry <= jitgate::store::now_ms() + cap_ms,
        "capped by jit_max_duration"
    );
    assert_eq!(audit(&w, "grant.extend").await.len(), 1);

    // End now.
    let tenant = s.get(&tenant_path).await;
    let ended = s.post(&format!("{tenant_path}/end"), &tenant, &[]).await;
    assert_eq!(ended.status, 303);
    assert_eq!(
        ended.location.as_deref(),
        Some(format!("{tenant_path}?done=ending").as_str())
    );
    let ending = audit(&w, "grant.end_requested").await;
    assert_eq!(ending.len(), 1);
    assert_eq!(
        ending[0]["actor"],
        format!("technician:{}", w.technician_id)
    );
    eventually(
        "the account to be disabled",
        Duration::from_secs(30),
        || {
            let u = w.graph.user(TENANT, &user.id).unwrap();
            async move { (!u.account_enabled).then_some(()) }
        },
    )
    .await;
    eventually("the grant to be ended", Duration::from_secs(30), || async {
        open_grant(&w).await.is_none().then_some(())
    })
    .await;
    assert!(
        w.graph.role_assignments_of(TENANT, &user.id).is_empty(),
        "roles removed"
    );
    let home = s.get("/portal").await;
    assert!(home.body.contains(&row), "no access again: {}", home.body);
}

#[tokio::test]
async fn an_undelegated_customer_is_refused() {
    let w = World::with(WorldOptions {
        delegated: false,
        ..Default::default()
    })
    .await;
    let s = ConsoleSession::sign_in(&w.app, &w.technician_id).await;
    let home = s.get("/portal").await;
    assert_eq!(home.status, 200);
    assert!(!home.body.contains("Fabrikam"), "not listed: {}", home.body);

    // The portal refuses the page and the form; nothing is recorded.
    let tenant_path = format!("/portal/tenants/{}", w.customer_id);
    assert_eq!(s.get(&tenant_path).await.status, 403);
    let sent = s
        .post(
            &format!("{tenant_path}/request"),
            &home,
            &[("duration_minutes", "60")],
        )
        .await;
    assert_eq!(sent.status, 403, "{}", sent.body);
    assert!(audit(&w, "request.submitted").await.is_empty());

    // A portal request recorded anyway (the delegation removed after the form) is refused by
    // the pipeline's own delegation check, with the reason on the request's page.
    let mut tx = w.app.db.begin().await.unwrap();
    let request = jitgate::store::requests::PortalRequest {
        customer_id: w.customer_id.clone(),
        technician_id: w.technician_id.clone(),
        duration_secs: None,
        reason: None,
        ticket_ref: None,
        connector_id: None,
    };
    let entry = jitgate::store::audit::AuditEntry::new("test", "request.submitted", "ok");
    let id = jitgate::store::requests::submit_portal(
        &mut tx,
        jitgate::jobs::queue::OUTBOX,
        &request,
        &entry,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let path = format!("/portal/requests/{id}");
    let status = decided(&s, &path).await;
    assert_eq!(status["status"], "refused", "{status}");
    let page = s.get(&path).await;
    let reason = text_of(&page.body, "request-reason").unwrap();
    assert!(reason.contains("is not delegated to Fabrikam"), "{reason}");
    assert!(w.graph.users(TENANT).is_empty(), "no account was made");
    let refused = audit(&w, "request.refused").await;
    assert_eq!(
        refused[0]["actor"],
        format!("technician:{}", w.technician_id)
    );
    assert!(refused[0]["connector_id"].is_null());
}

#[tokio::test]
async fn another_technician_cannot_see_or_reveal_anothers_grant() {
    let w = World::new().await;
    let alice = ConsoleSession::sign_in(&w.app, &w.technician_id).await;
    let request = request_access(&alice, &w.customer_id, &[]).await;
    assert_eq!(decided(&alice, &request).await["status"], "provisioned");
    let password = w
        .graph
        .user_by_upn(TENANT, &w.jit_upn())
        .unwrap()
        .password
        .unwrap();

    // Bob, not delegated: nothing of Fabrikam, nothing of Alice's request.
    let bob_id = technician(&w.app, "bob@msp.example", false).await;
    let bob = ConsoleSession::sign_in(&w.app, &bob_id).await;
    let home = bob.get("/portal").await;
    assert!(!home.body.contains("Fabrikam"));
    let tenant_path = format!("/portal/tenants/{}", w.customer_id);
    assert_eq!(bob.get(&tenant_path).await.status, 403);
    assert_eq!(
        bob.post(&format!("{tenant_path}/reveal"), &home, &[])
            .await
            .status,
        403
    );
    assert_eq!(bob.get(&request).await.status, 404);
    assert_eq!(bob.get(&format!("{request}/status")).await.status, 404);

    // Delegated too, Bob sees the tenant with his own (no) access, never Alice's.
    w.app
        .admin(
            "PUT",
            &format!("/api/v1/technicians/{bob_id}/customers/{}", w.customer_id),
            None,
        )
        .await;
    let tenant = bob.get(&tenant_path).await;
    assert_eq!(tenant.status, 200);
    assert!(tenant.body.contains("No access") && !tenant.body.contains(&w.jit_upn()));
    let reveal = bob
        .post(&format!("{tenant_path}/reveal"), &tenant, &[])
        .await;
    assert_eq!(reveal.status, 409, "{}", reveal.body);
    assert!(!reveal.body.contains(&password) && !reveal.body.contains(&w.jit_upn()));
    let end = bob.post(&format!("{tenant_path}/end"), &tenant, &[]).await;
    assert_eq!(end.status, 303);
    assert!(open_grant(&w).await.is_some(), "Alice's grant is untouched");
    assert!(audit(&w, "credential.reveal").await.is_empty());
    assert!(audit(&w, "grant.end_requested").await.is_empty());
}

#[tokio::test]
async fn portal_forms_without_the_sessions_csrf_token_change_nothing() {
    let w = World::new().await;
    let alice = ConsoleSession::sign_in(&w.app, &w.technician_id).await;
    let tenant_path = format!("/portal/tenants/{}", w.customer_id);
    let forged = |field: &'static str| [("_csrf", field), ("duration_minutes", "60")];
    for action in ["request", "extend", "reveal", "code", "totp", "end"] {
        let path = format!("{tenant_path}/{action}");
        let none = alice.post_raw(&path, &[("duration_minutes", "60")]).await;
        assert_eq!(none.status, 403, "{action} without a token");
        let wrong = alice.post_raw(&path, &forged("not-the-token")).await;
        assert_eq!(wrong.status, 403, "{action} with a wrong token");
    }
    // Another session's token is not this session's.
    let other = ConsoleSession::sign_in(&w.app, &w.technician_id).await;
    let other_page: Page = other.get(&tenant_path).await;
    let cross = alice
        .post_raw(
            &format!("{tenant_path}/request"),
            &[
                ("_csrf", other_page.csrf().as_str()),
                ("duration_minutes", "60"),
            ],
        )
        .await;
    assert_eq!(cross.status, 403);
    assert!(audit(&w, "request.submitted").await.is_empty());
    assert!(w.graph.users(TENANT).is_empty());
}

/// "Request JIT" from inside a ConnectWise ticket: the link on the connector's page, the
/// signed-in technician as requester, the account, and the note on that very ticket.
#[tokio::test]
async fn the_in_ticket_link_requests_access_for_the_ticket_and_notes_it() {
    use jitgate_sim::connectwise::SeedTicket;
    let w = World::new().await;
    w.cw.add_ticket(SeedTicket::new(4242, crate::world::COMPANY));
    let admin = technician(&w.app, "lead@msp.example", true).await;
    let console = ConsoleSession::sign_in(&w.app, &admin).await;
    let connector_page = console
        .get(&format!("/console/connectors/{}", w.connector_id))
        .await;
    let link = format!("{}/request/{}?ticket=[cw_id]", w.app.url, w.connector_id);
    assert!(
        connector_page.body.contains(&link),
        "the console shows the link to paste"
    );

    let path = format!("/request/{}?ticket=4242", w.connector_id);
    let anonymous = crate::console::no_redirects()
        .get(format!("{}{path}", w.app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 303, "sign in first");

    let s = ConsoleSession::sign_in(&w.app, &w.technician_id).await;
    let confirm = s.get(&path).await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    assert!(confirm.body.contains("JIT admin in Fabrikam"));
    assert!(confirm.body.contains("id=\"ticket-ref\">4242<"));
    let sent = s
        .post(
            &path,
            &confirm,
            &[("duration_minutes", "60"), ("reason", "mailbox fix")],
        )
        .await;
    assert_eq!(sent.status, 303, "{}", sent.body);
    let status = decided(&s, sent.location.as_deref().unwrap()).await;
    assert_eq!(status["status"], "provisioned", "{status}");

    let note = &w.notes(4242, 1).await[0];
    assert!(
        note.text.contains("JIT admin account ready"),
        "{}",
        note.text
    );
    let grants = w.grants().await;
    assert_eq!(grants[0]["ticket_ref"], "4242");
    assert_eq!(grants[0]["connector_id"], w.connector_id.as_str());
    let audit = w
        .app
        .admin("GET", "/api/v1/audit?action=request.submitted", None)
        .await;
    assert!(
        audit[0]["detail"].as_str().unwrap().contains("ticket link"),
        "{audit}"
    );
}

#[tokio::test]
async fn a_forged_unknown_or_unmapped_ticket_and_an_undelegated_technician_change_nothing() {
    use jitgate_sim::connectwise::SeedTicket;
    let w = World::new().await;
    w.cw.add_ticket(SeedTicket::new(5151, 999));
    w.cw.add_ticket(SeedTicket::new(6161, crate::world::COMPANY));
    let s = ConsoleSession::sign_in(&w.app, &w.technician_id).await;
    let base = format!("/request/{}", w.connector_id);
    let forged = s.get(&format!("{base}?ticket=1%20OR%201=1")).await;
    assert_eq!(forged.status, 400);
    let unknown = s.get(&format!("{base}?ticket=999999")).await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    assert!(unknown.body.contains("has no ticket 999999"));
    let unmapped = s.get(&format!("{base}?ticket=5151")).await;
    assert_eq!(unmapped.status, 403);
    assert!(unmapped.body.contains("not mapped to a jitgate customer"));
    let no_connector = s.get("/request/con_nope?ticket=6161").await;
    assert_eq!(no_connector.status, 404);

    let outsider = technician(&w.app, "outsider@msp.example", false).await;
    let o = ConsoleSession::sign_in(&w.app, &outsider).await;
    let refused = o.get(&format!("{base}?ticket=6161")).await;
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("not delegated"));
    // A hand-made POST is refused the same way.
    let posted = o
        .post(&format!("{base}?ticket=6161"), &o.get("/portal").await, &[])
        .await;
    assert_eq!(posted.status, 403);
    let requests: i64 = match &w.app.db {
        jitgate::store::Db::Sqlite(p) => sqlx::query_scalar("SELECT COUNT(*) FROM jit_requests")
            .fetch_one(p)
            .await
            .unwrap(),
        jitgate::store::Db::Postgres(p) => sqlx::query_scalar("SELECT COUNT(*) FROM jit_requests")
            .fetch_one(p)
            .await
            .unwrap(),
    };
    assert_eq!(requests, 0, "nothing was requested");
}

/// With sign-in required, the link in the note opens the grant in the portal for its own
/// technician; anyone else learns whose access it is and nothing more (and is audited).
#[tokio::test]
async fn a_credential_link_needs_its_own_technicians_sign_in() {
    let w = World::with(WorldOptions {
        links_need_sign_in: true,
        ..Default::default()
    })
    .await;
    assert_eq!(w.request_on_ticket(7301, "alice").await, 202);
    let note = &w.notes(7301, 1).await[0];
    assert!(note.text.contains("only Alice"), "{}", note.text);
    let link = w.link_in(note);
    let path = link.trim_start_matches(&w.app.url).to_string();

    let anonymous = crate::console::no_redirects()
        .get(&link)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 303);
    assert!(
        anonymous.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/auth/sign-in?next=%2Fportal")
    );
    let reveal_anonymous = crate::console::no_redirects()
        .post(format!("{link}/reveal"))
        .send()
        .await
        .unwrap();
    assert_eq!(reveal_anonymous.status().as_u16(), 303, "no bearer reveal");

    let alice = ConsoleSession::sign_in(&w.app, &w.technician_id).await;
    let own = alice.get(&path).await;
    assert_eq!(own.status, 303);
    assert_eq!(
        own.location.as_deref(),
        Some(format!("/portal/tenants/{}", w.customer_id).as_str())
    );

    let bob_id = technician(&w.app, "bob@msp.example", true).await;
    let bob = ConsoleSession::sign_in(&w.app, &bob_id).await;
    let theirs = bob.get(&path).await;
    assert_eq!(theirs.status, 403);
    assert!(theirs.body.contains("belongs to Alice"), "{}", theirs.body);
    let password = w
        .graph
        .user_by_upn(TENANT, &w.jit_upn())
        .unwrap()
        .password
        .unwrap();
    assert!(!theirs.body.contains(&password) && !theirs.body.contains(&w.jit_upn()));
    let refused = w
        .app
        .admin("GET", "/api/v1/audit?action=credential.reveal", None)
        .await;
    let row = refused
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["outcome"] == "refused")
        .expect("audited");
    assert_eq!(row["actor"], format!("technician:{bob_id}"));
}
