//! The whole flow against contract-faithful Graph and ConnectWise simulators.

use crate::world::{
    COMPANY, DOMAIN, GLOBAL_ADMIN, TENANT, USER_ADMIN, World, WorldOptions, eventually,
};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn a_request_yields_one_account_with_its_roles_a_note_and_an_end_on_time() {
    let w = World::with(WorldOptions {
        jit_duration: "4s",
        ..Default::default()
    })
    .await;
    assert_eq!(w.request_on_ticket(1001, "alice").await, 202);

    let notes = w.notes(1001, 1).await;
    let note = &notes[0];
    assert!(
        note.internal_analysis_flag && !note.detail_description_flag,
        "the note must be internal"
    );
    assert!(
        note.text.contains(&w.jit_upn()) && note.text.contains("UTC"),
        "{}",
        note.text
    );
    let link = w.link_in(note);

    let users = w.graph.users(TENANT);
    assert_eq!(users.len(), 1, "exactly one account");
    let user = &users[0];
    assert_eq!(user.user_principal_name, w.jit_upn());
    assert!(user.account_enabled);
    assert!(
        user.employee_type.is_some(),
        "jitgate marks the accounts it creates"
    );
    let password = user.password.clone().unwrap();
    assert!(
        !note.text.contains(&password),
        "a password must never be in a ticket note"
    );
    let mut roles: Vec<String> = w
        .graph
        .role_assignments_of(TENANT, &user.id)
        .into_iter()
        .map(|r| r.role_definition_id)
        .collect();
    roles.sort();
    assert_eq!(
        roles,
        vec![GLOBAL_ADMIN.to_string(), USER_ADMIN.to_string()]
    );
    assert_eq!(
        w.cw.custom_field(1001, "Request JIT"),
        Some(json!(false)),
        "the trigger field is reset"
    );

    // The link works until the end; the grant ends on time, verified, with a closing note.
    let (status, _) = w
        .app
        .request("GET", &link.replace(&w.app.url, ""), None, None)
        .await;
    assert_ne!(status, 500);
    let notes = w.notes(1001, 2).await;
    assert!(
        notes[1].text.contains("ended") || notes[1].text.contains("expired"),
        "{}",
        notes[1].text
    );
    let user = w.graph.user(TENANT, &user.id).unwrap();
    assert!(!user.account_enabled, "the account is disabled");
    assert!(
        w.graph.role_assignments_of(TENANT, &user.id).is_empty(),
        "roles removed"
    );
    assert!(user.sessions_revoked >= 1, "sessions revoked");
    assert_ne!(
        user.password.as_deref(),
        Some(password.as_str()),
        "password rotated"
    );
    let grants = w.grants().await;
    let grant = &grants[0];
    assert_eq!(grant["end_reason"], "expired");
    let lateness = grant["ended_at"].as_i64().unwrap() - grant["expires_at"].as_i64().unwrap();
    assert!(
        (0..10_000).contains(&lateness),
        "ended {lateness} ms after expiry"
    );
    let audit = w
        .app
        .admin(
            "GET",
            &format!("/api/v1/audit?customer_id={}", w.customer_id),
            None,
        )
        .await;
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"grant.start")
            && actions.contains(&"grant.end")
            && actions.contains(&"note.post"),
        "{actions:?}"
    );
}

#[tokio::test]
async fn a_technician_not_delegated_gets_a_refusal_note_and_no_graph_write() {
    let w = World::with(WorldOptions {
        delegated: false,
        ..Default::default()
    })
    .await;
    // Setting up the connection ran the tenant check, which reads from Graph; count from here.
    w.graph.clear_request_log();
    assert_eq!(w.request_on_ticket(1002, "alice").await, 202);
    let notes = w.notes(1002, 1).await;
    assert!(notes[0].text.contains("not delegated"), "{}", notes[0].text);
    let writes: Vec<_> = w
        .graph
        .request_log()
        .into_iter()
        .filter(|r| r.method != "GET")
        .collect();
    assert!(
        writes.is_empty(),
        "no Graph write for a refused request: {writes:?}"
    );
    assert!(w.graph.users(TENANT).is_empty());
}

#[tokio::test]
async fn an_unknown_technician_is_refused_with_a_note() {
    let w = World::new().await;
    assert_eq!(w.request_on_ticket(1003, "mallory").await, 202);
    let notes = w.notes(1003, 1).await;
    assert!(
        notes[0].text.contains("not a jitgate technician"),
        "{}",
        notes[0].text
    );
    assert!(w.graph.users(TENANT).is_empty());
}

#[tokio::test]
async fn concurrent_requests_for_one_technician_yield_one_account() {
    let w = World::new().await;
    let mut statuses = Vec::new();
    let tickets: Vec<u64> = (2000..2020).collect();
    let results =
        futures::future::join_all(tickets.iter().map(|t| w.request_on_ticket(*t, "alice"))).await;
    statuses.extend(results);
    assert!(statuses.iter().all(|s| *s == 202), "{statuses:?}");
    for t in &tickets {
        w.notes(*t, 1).await;
    }
    assert_eq!(
        w.graph.users(TENANT).len(),
        1,
        "one account for one technician"
    );
    let open = w
        .app
        .admin(
            "GET",
            &format!("/api/v1/grants?open=true&technician_id={}", w.technician_id),
            None,
        )
        .await;
    assert_eq!(
        open.as_array().unwrap().len(),
        1,
        "one open grant, extended by the repeats"
    );
    let user = &w.graph.users(TENANT)[0];
    assert_eq!(
        w.graph.role_assignments_of(TENANT, &user.id).len(),
        2,
        "roles assigned once"
    );
}

#[tokio::test]
async fn throttling_and_replication_lag_are_waited_out() {
    let w = World::new().await;
    w.graph.set_replication_lag(Duration::from_millis(1500));
    w.graph.throttle_next(2, 1);
    assert_eq!(w.request_on_ticket(1004, "alice").await, 202);
    let notes = w.notes(1004, 1).await;
    assert!(notes[0].text.contains(&w.jit_upn()), "{}", notes[0].text);
    let user = w.graph.user_by_upn(TENANT, &w.jit_upn()).unwrap();
    assert_eq!(w.graph.role_assignments_of(TENANT, &user.id).len(), 2);
}

#[tokio::test]
async fn the_sweeper_ends_a_grant_whose_expire_job_was_lost() {
    let w = World::with(WorldOptions {
        jit_duration: "3s",
        ..Default::default()
    })
    .await;
    assert_eq!(w.request_on_ticket(1005, "alice").await, 202);
    w.notes(1005, 1).await;
    // Lose every expire job.
    match &w.app.db {
        jitgate::store::Db::Sqlite(p) => {
            sqlx::query("DELETE FROM Jobs WHERE job_type = 'jitgate.end'")
                .execute(p)
                .await
                .unwrap();
        }
        jitgate::store::Db::Postgres(p) => {
            sqlx::query("DELETE FROM apalis.jobs WHERE job_type = 'jitgate.end'")
                .execute(p)
                .await
                .unwrap();
        }
    }
    let user = w.graph.user_by_upn(TENANT, &w.jit_upn()).unwrap();
    eventually(
        "the sweeper to disable the account",
        Duration::from_secs(20),
        || {
            let u = w.graph.user(TENANT, &user.id).unwrap();
            async move { (!u.account_enabled).then_some(()) }
        },
    )
    .await;
    w.notes(1005, 2).await;
    assert!(w.graph.role_assignments_of(TENANT, &user.id).is_empty());
}

#[tokio::test]
async fn an_admin_can_end_a_grant_early() {
    let w = World::new().await;
    assert_eq!(w.request_on_ticket(1006, "alice").await, 202);
    w.notes(1006, 1).await;
    let grant_id = w.grants().await[0]["id"].as_str().unwrap().to_string();
    let (status, _) = w
        .app
        .request(
            "POST",
            &format!("/api/v1/grants/{grant_id}/end"),
            Some(&w.app.admin_token),
            None,
        )
        .await;
    assert_eq!(status, 202);
    let notes = w.notes(1006, 2).await;
    assert!(notes[1].text.contains("ended early"), "{}", notes[1].text);
    let grant = w
        .app
        .admin("GET", &format!("/api/v1/grants/{grant_id}"), None)
        .await;
    assert_eq!(grant["end_reason"], "ended_by_admin");
    let (status, _) = w
        .app
        .request(
            "POST",
            &format!("/api/v1/grants/{grant_id}/end"),
            Some(&w.app.admin_token),
            None,
        )
        .await;
    assert_eq!(status, 409);
    let _ = (COMPANY, DOMAIN);
}

#[tokio::test]
async fn a_customer_with_open_access_cannot_be_deleted() {
    let w = World::new().await;
    assert_eq!(w.request_on_ticket(1007, "alice").await, 202);
    w.notes(1007, 1).await;
    for path in [
        format!("/api/v1/customers/{}", w.customer_id),
        format!("/api/v1/customers/{}/entra", w.customer_id),
        // (Removing a technician ends their grants instead: admin_scope.rs.)
    ] {
        let (status, body) = w
            .app
            .request("DELETE", &path, Some(&w.app.admin_token), None)
            .await;
        assert_eq!(status, 409, "{path}: {body}");
    }
    let user = w.graph.user_by_upn(TENANT, &w.jit_upn()).unwrap();
    assert!(user.account_enabled, "nothing changed");
    let grant_id = w.grants().await[0]["id"].as_str().unwrap().to_string();
    w.app
        .admin("POST", &format!("/api/v1/grants/{grant_id}/end"), None)
        .await;
    w.notes(1007, 2).await;
    w.app
        .admin(
            "DELETE",
            &format!("/api/v1/customers/{}", w.customer_id),
            None,
        )
        .await;
}

#[tokio::test]
async fn a_request_whose_job_was_lost_is_queued_again_by_the_sweeper() {
    let w = World::new().await;
    w.cw.add_ticket(
        jitgate_sim::connectwise::SeedTicket::new(1008, COMPANY).with_custom_field(
            12,
            "Request JIT",
            json!(false),
        ),
    );
    // A request accepted long ago whose provisioning job vanished (no job row at all).
    let long_ago = jitgate::store::now_ms() - 600_000;
    let actor = serde_json::to_string(&jitgate_connectors::Actor::PsaUser("alice".into())).unwrap();
    jitgate::on_db!(&w.app.db, pool => sqlx::query(
        "INSERT INTO jit_requests (id, connector_id, delivery_key, kind, ticket_ref, psa_company_id, actor, status,
             created_at, updated_at)
         VALUES ('req_lost', $1, 'lost-delivery', 'request', '1008', $2, $3, 'pending', $4, $4)")
        .bind(&w.connector_id).bind(COMPANY.to_string()).bind(&actor).bind(long_ago)
        .execute(pool).await.unwrap().rows_affected());
    let notes = w.notes(1008, 1).await;
    assert!(notes[0].text.contains(&w.jit_upn()), "{}", notes[0].text);
    assert_eq!(w.graph.users(TENANT).len(), 1);
}
