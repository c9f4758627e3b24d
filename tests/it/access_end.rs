//! Access really ends in a tenant set up as the README says, and no grant can be steered into
//! another tenant or onto another technician's account (issue: "Access must really end in a
//! real tenant").

use crate::world::{CLIENT_ID, CLIENT_SECRET, DOMAIN, TENANT, World, WorldOptions, eventually};
use jitgate::store;
use jitgate_sim::graph::{AppRole, TenantSpec};
use serde_json::{Value, json};
use std::time::Duration;

const OTHER_TENANT: &str = "5a9e8b71-0c2d-4e3f-8a1b-9c0d1e2f3a4b";

async fn grant_of(w: &World, ticket: &str) -> Value {
    eventually("the grant", Duration::from_secs(30), || async {
        let grants = w.grants().await;
        grants
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["ticket_ref"] == ticket)
            .cloned()
    })
    .await
}

async fn audit(w: &World) -> Vec<Value> {
    w.app
        .admin("GET", "/api/v1/audit", None)
        .await
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Without User Administrator the app may not change passwords: the end still removes the
/// roles and disables the account (the grant ends, verified), records the refused rotation,
/// says so on the ticket with the fix, and rotates once the role is assigned.
#[tokio::test]
async fn without_user_administrator_the_account_is_still_disabled_and_the_rotation_retried() {
    let w = World::with(WorldOptions {
        jit_duration: "3s",
        ..Default::default()
    })
    .await;
    assert_eq!(w.request_on_ticket(1001, "alice").await, 202);
    let notes = w.notes(1001, 1).await;
    assert!(notes[0].text.contains(&w.jit_upn()));
    let user = w.graph.user_by_upn(TENANT, &w.jit_upn()).unwrap();
    let handed_out = user.password.clone().unwrap();

    // The tenant as a new MSP would set it up without step 5: no directory role for the app.
    w.graph.set_app_role(TENANT, AppRole::None);
    let notes = w.notes(1001, 2).await;
    let ended = &notes[1].text;
    assert!(ended.contains("account disabled"), "{ended}");
    assert!(ended.contains("rotating the password"), "{ended}");
    assert!(ended.contains("User Administrator"), "{ended}");

    let after = w.graph.user(TENANT, &user.id).unwrap();
    assert!(!after.account_enabled, "the account must be disabled");
    assert!(w.graph.role_assignments_of(TENANT, &user.id).is_empty());
    assert!(after.sessions_revoked >= 1, "sessions revoked");
    assert_eq!(after.password.as_deref(), Some(handed_out.as_str()));

    let grant = grant_of(&w, "1001").await;
    assert!(grant["ended_at"].is_i64(), "{grant}");
    assert_eq!(grant["end_follow_ups"], "rotate_password", "{grant}");
    let steps = grant["end_steps"].as_array().expect("steps recorded");
    let rotate = steps
        .iter()
        .find(|s| s["step"] == "rotate_password")
        .unwrap();
    assert_eq!(rotate["ok"], false);
    let entries = audit(&w).await;
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "grant.end" && e["outcome"] == "partial"),
        "{entries:?}"
    );
    let metrics = w.app.request("GET", "/metrics", None, None).await.1;
    assert!(
        metrics
            .as_str()
            .unwrap_or_default()
            .contains("jitgate_grant_end_step_failures_total{step=\"rotate_password\"}"),
        "{metrics}"
    );

    // The MSP assigns the role: the follow-up rotates the password and is done.
    w.graph.set_app_role(TENANT, AppRole::UserAdministrator);
    eventually(
        "the password rotated by the follow-up",
        Duration::from_secs(30),
        || async {
            let user = w.graph.user(TENANT, &user.id).unwrap();
            (user.password.as_deref() != Some(handed_out.as_str())).then_some(())
        },
    )
    .await;
    eventually("follow-ups cleared", Duration::from_secs(10), || async {
        let grant = grant_of(&w, "1001").await;
        grant["end_follow_ups"].is_null().then_some(())
    })
    .await;
    assert_eq!(w.cw.notes(1001).len(), 2, "the ticket is told once");
}

/// Re-enabling an existing account needs a password change, so without the role the request
/// fails at once with a note that names the role, and the account stays disabled.
#[tokio::test]
async fn a_re_request_without_user_administrator_fails_fast_naming_the_role() {
    let w = World::with(WorldOptions {
        jit_duration: "2s",
        ..Default::default()
    })
    .await;
    assert_eq!(w.request_on_ticket(1001, "alice").await, 202);
    w.notes(1001, 2).await; // ready, then ended
    let user = w.graph.user_by_upn(TENANT, &w.jit_upn()).unwrap();
    w.graph.set_app_role(TENANT, AppRole::None);

    let asked = std::time::Instant::now();
    assert_eq!(w.request_on_ticket(1002, "alice").await, 202);
    let notes = w.notes(1002, 1).await;
    assert!(
        asked.elapsed() < Duration::from_secs(20),
        "no minutes of retries"
    );
    assert!(
        notes[0].text.contains("User Administrator"),
        "{}",
        notes[0].text
    );
    assert!(
        notes[0].text.contains("Roles & admins"),
        "{}",
        notes[0].text
    );
    assert!(!w.graph.user(TENANT, &user.id).unwrap().account_enabled);
}

/// A delegated admin of one customer cannot point it at another tenant; an admin can only
/// with a new secret, and not while a grant is open.
#[tokio::test]
async fn a_tenant_change_needs_an_admin_a_new_secret_and_no_open_grant() {
    let w = World::new().await;
    w.graph.add_tenant(TenantSpec::new(
        OTHER_TENANT,
        CLIENT_ID,
        CLIENT_SECRET,
        "contoso.example",
    ));
    let path = format!("/api/v1/customers/{}/entra", w.customer_id);
    let moved = json!({"tenant_id": OTHER_TENANT, "client_id": CLIENT_ID,
        "jit_domain": "contoso.example", "roles": ["Global Administrator"]});

    let (_, token) =
        store::tokens::create(&w.app.db, "delegated", std::slice::from_ref(&w.customer_id))
            .await
            .unwrap();
    let (status, body) = w
        .app
        .request("PUT", &path, Some(&token), Some(moved.clone()))
        .await;
    assert_eq!(status, 403, "{body}");
    let mut with_secret = moved.clone();
    with_secret["client_secret"] = json!(CLIENT_SECRET);
    let (status, _) = w
        .app
        .request("PUT", &path, Some(&token), Some(with_secret.clone()))
        .await;
    assert_eq!(status, 403);

    // An admin without a new secret: refused, the stored one stays with the old tenant.
    let (status, body) = w
        .app
        .request("PUT", &path, Some(&w.app.admin_token), Some(moved))
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["fields"]["client_secret"].is_string(),
        "{body}"
    );

    // An open grant blocks the move.
    assert_eq!(w.request_on_ticket(1001, "alice").await, 202);
    w.notes(1001, 1).await;
    let (status, body) = w
        .app
        .request("PUT", &path, Some(&w.app.admin_token), Some(with_secret))
        .await;
    assert_eq!(status, 409, "{body}");
    let customer = w
        .app
        .admin("GET", &format!("/api/v1/customers/{}", w.customer_id), None)
        .await;
    assert_eq!(customer["entra"]["tenant_id"], TENANT);

    // Nothing was ever written in the other tenant.
    assert_eq!(w.request_on_ticket(1002, "alice").await, 202);
    w.notes(1002, 1).await;
    assert!(w.graph.users(OTHER_TENANT).is_empty());
    assert_eq!(w.graph.users(TENANT).len(), 1);
}

/// A grant ends in the tenant it was made in, even if the connection were moved under it:
/// jitgate refuses to take another tenant's 404 as "gone".
#[tokio::test]
async fn a_grant_is_only_ever_ended_in_its_own_tenant() {
    let w = World::with(WorldOptions {
        jit_duration: "3s",
        ..Default::default()
    })
    .await;
    w.graph.add_tenant(TenantSpec::new(
        OTHER_TENANT,
        CLIENT_ID,
        CLIENT_SECRET,
        "contoso.example",
    ));
    assert_eq!(w.request_on_ticket(1001, "alice").await, 202);
    w.notes(1001, 1).await;
    let user = w.graph.user_by_upn(TENANT, &w.jit_upn()).unwrap();
    // Simulate a connection moved behind jitgate's back (the API refuses this while the grant
    // is open).
    let db_sql = "UPDATE entra_connections SET tenant_id = $1 WHERE customer_id = $2";
    store::on_db!(&w.app.db, pool => sqlx::query(db_sql).bind(OTHER_TENANT).bind(&w.customer_id)
        .execute(pool).await.unwrap().rows_affected());

    let grant = eventually("an end failure", Duration::from_secs(30), || async {
        let grant = grant_of(&w, "1001").await;
        grant["last_end_error"].is_string().then_some(grant)
    })
    .await;
    assert!(grant["ended_at"].is_null(), "{grant}");
    assert!(
        grant["last_end_error"]
            .as_str()
            .unwrap()
            .contains("lives in tenant"),
        "{grant}"
    );
    assert!(w.graph.user(TENANT, &user.id).unwrap().account_enabled);

    // Put it back: the grant ends in its own tenant.
    store::on_db!(&w.app.db, pool => sqlx::query(db_sql).bind(TENANT).bind(&w.customer_id)
        .execute(pool).await.unwrap().rows_affected());
    eventually("the end", Duration::from_secs(30), || async {
        let user = w.graph.user(TENANT, &user.id).unwrap();
        (!user.account_enabled).then_some(())
    })
    .await;
}

/// Two technicians whose emails share a local part get two accounts, never one shared one.
#[tokio::test]
async fn two_technicians_sharing_a_local_part_get_two_accounts() {
    let w = World::new().await;
    let api = w.app.api();
    let bob = api
        .admin(
            "POST",
            "/api/v1/technicians",
            Some(json!({"email": "alice@contractor.example", "display_name": "Alice Contractor"})),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    api.admin(
        "PUT",
        &format!("/api/v1/technicians/{bob}/customers/{}", w.customer_id),
        None,
    )
    .await;
    // The world's technician Alice is alice@msp.example.
    w.cw.add_member("alice2", "alice@contractor.example");

    assert_eq!(w.request_on_ticket(1001, "alice").await, 202);
    w.notes(1001, 1).await;
    assert_eq!(w.request_on_ticket(1002, "alice2").await, 202);
    let notes = w.notes(1002, 1).await;
    let second_upn = format!("alice-jit2@{DOMAIN}");
    assert!(notes[0].text.contains(&second_upn), "{}", notes[0].text);

    let users = w.graph.users(TENANT);
    assert_eq!(users.len(), 2, "two accounts");
    let first = w.graph.user_by_upn(TENANT, &w.jit_upn()).unwrap();
    let second = w.graph.user_by_upn(TENANT, &second_upn).unwrap();
    assert_ne!(first.employee_id, second.employee_id);
    assert_eq!(
        first.password_changes, 0,
        "the first account was not touched"
    );
    let entries = audit(&w).await;
    assert!(
        entries.iter().any(|e| e["action"] == "account.upn"
            && e["detail"]
                .as_str()
                .unwrap_or_default()
                .contains(&second_upn)),
        "{entries:?}"
    );
}
