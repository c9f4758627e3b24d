//! Technician groups and per-customer role mappings (issue 12): the API, and the roles a JIT
//! account gets in the simulated tenant.

use crate::helpers::{TestApp, spawn_app};
use crate::world::{GLOBAL_ADMIN, TENANT, USER_ADMIN, World, add_technician, eventually};
use jitgate::store;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

const ALL_ADMINS: &str = "grp_all_admins";
/// Security Administrator's role template id, the same in every tenant
/// (https://learn.microsoft.com/en-us/entra/identity/role-based-access-control/permissions-reference).
const SECURITY_ADMIN: &str = "194ae4cb-b126-40b2-bd5b-6091b380977d";

async fn create_group(app: &TestApp, name: &str) -> String {
    let g = app
        .admin("POST", "/api/v1/groups", Some(json!({ "name": name })))
        .await;
    g["id"].as_str().unwrap().to_string()
}

async fn put_mappings(app: &TestApp, customer: &str, mappings: Value) -> Value {
    app.admin(
        "PUT",
        &format!("/api/v1/customers/{customer}/role-mappings"),
        Some(json!({ "mappings": mappings })),
    )
    .await
}

fn texts(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The role template ids the JIT account holds in the simulated tenant.
fn roles_in_tenant(w: &World) -> BTreeSet<String> {
    let user = w.graph.user_by_upn(TENANT, &w.jit_upn()).unwrap();
    w.graph
        .role_assignments_of(TENANT, &user.id)
        .into_iter()
        .map(|a| a.role_definition_id)
        .collect()
}

async fn grant_of_ticket(w: &World, ticket: &str) -> Value {
    w.grants()
        .await
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["ticket_ref"] == ticket)
        .cloned()
        .unwrap_or_else(|| panic!("no grant for ticket {ticket}"))
}

#[tokio::test]
async fn groups_are_created_renamed_given_members_and_deleted_and_all_admins_is_fixed() {
    let app = spawn_app().await;
    let api = app.api();
    let alice = add_technician(&api, "alice", "Alice").await;

    let groups = app.admin("GET", "/api/v1/groups", None).await;
    assert_eq!(groups[0]["id"], ALL_ADMINS, "{groups}");
    assert_eq!(groups[0]["name"], "All admins");
    assert_eq!(groups[0]["builtin"], true);

    let tier2 = create_group(&app, "Tier 2").await;
    let (status, body) = app
        .request(
            "POST",
            "/api/v1/groups",
            Some(&app.admin_token),
            Some(json!({"name": "Tier 2"})),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = app
        .request(
            "POST",
            "/api/v1/groups",
            Some(&app.admin_token),
            Some(json!({"name": "  "})),
        )
        .await;
    assert_eq!(status, 422);
    assert!(body["error"]["fields"]["name"].is_string(), "{body}");

    let renamed = app
        .admin(
            "PATCH",
            &format!("/api/v1/groups/{tier2}"),
            Some(json!({"name": "Tier 3"})),
        )
        .await;
    assert_eq!(renamed["name"], "Tier 3");
    app.admin(
        "PUT",
        &format!("/api/v1/groups/{tier2}/members/{alice}"),
        None,
    )
    .await;
    let g = app
        .admin("GET", &format!("/api/v1/groups/{tier2}"), None)
        .await;
    assert_eq!(g["members"], json!([alice]), "{g}");

    // All admins contains everyone: no rename, no delete, no members.
    let token = Some(app.admin_token.as_str());
    for (method, path, body) in [
        (
            "PATCH",
            format!("/api/v1/groups/{ALL_ADMINS}"),
            Some(json!({"name": "Some admins"})),
        ),
        ("DELETE", format!("/api/v1/groups/{ALL_ADMINS}"), None),
        (
            "PUT",
            format!("/api/v1/groups/{ALL_ADMINS}/members/{alice}"),
            None,
        ),
    ] {
        let (status, answer) = app.request(method, &path, token, body).await;
        assert_eq!(status, 409, "{method} {path}: {answer}");
    }
    // Unknown group or technician.
    let (status, _) = app
        .request(
            "PUT",
            &format!("/api/v1/groups/grp_nope/members/{alice}"),
            token,
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .request(
            "PUT",
            &format!("/api/v1/groups/{tier2}/members/tec_nope"),
            token,
            None,
        )
        .await;
    assert_eq!(status, 404);

    // A group a mapping names cannot be deleted; once unmapped it can.
    let customer = app.create_customer("Fabrikam").await;
    put_mappings(
        &app,
        &customer,
        json!([{"group_id": tier2, "roles": ["User Administrator"]}]),
    )
    .await;
    let (status, body) = app
        .request("DELETE", &format!("/api/v1/groups/{tier2}"), token, None)
        .await;
    assert_eq!(status, 409, "{body}");
    put_mappings(&app, &customer, json!([])).await;
    app.admin("DELETE", &format!("/api/v1/groups/{tier2}"), None)
        .await;
    let (status, _) = app
        .request("GET", &format!("/api/v1/groups/{tier2}"), token, None)
        .await;
    assert_eq!(status, 404);

    let actions: Vec<String> = app
        .admin("GET", "/api/v1/audit?limit=100", None)
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    for action in [
        "group.create",
        "group.rename",
        "group.member.add",
        "group.delete",
        "customer.role_mappings.set",
    ] {
        assert!(actions.iter().any(|a| a == action), "{action}: {actions:?}");
    }
}

#[tokio::test]
async fn role_mappings_are_validated_and_default_to_all_admins_with_the_connection_roles() {
    let w = World::new().await;
    let path = format!("/api/v1/customers/{}/role-mappings", w.customer_id);
    let default = w.app.admin("GET", &path, None).await;
    assert_eq!(default["is_default"], true, "{default}");
    assert_eq!(default["mappings"][0]["group_id"], ALL_ADMINS);
    assert_eq!(
        texts(&default["mappings"][0]["roles"]),
        set(&[GLOBAL_ADMIN, USER_ADMIN])
    );

    let tier2 = create_group(&w.app, "Tier 2").await;
    let token = Some(w.app.admin_token.as_str());
    let (status, body) = w
        .app
        .request(
            "PUT",
            &path,
            token,
            Some(json!({"mappings": [
                {"group_id": tier2, "roles": ["User Administrator", "Chief Coffee Officer"]},
                {"group_id": "grp_nope", "roles": ["Global Administrator"]},
                {"group_id": tier2, "roles": []},
            ]})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let fields = &body["error"]["fields"];
    assert!(fields["mappings[0].roles[1]"].is_string(), "{body}");
    assert!(fields["mappings[1].group_id"].is_string(), "{body}");
    assert!(fields["mappings[2].group_id"].is_string(), "{body}");
    assert!(fields["mappings[2].roles"].is_string(), "{body}");
    assert_eq!(
        w.app.admin("GET", &path, None).await["is_default"],
        true,
        "nothing stored"
    );

    // Names and template ids are both accepted, stored as template ids.
    let stored = put_mappings(
        &w.app,
        &w.customer_id,
        json!([{"group_id": tier2, "roles": ["user administrator", GLOBAL_ADMIN]}]),
    )
    .await;
    assert_eq!(stored["is_default"], false);
    assert_eq!(stored["mappings"][0]["group"], "Tier 2");
    assert_eq!(
        texts(&stored["mappings"][0]["roles"]),
        set(&[GLOBAL_ADMIN, USER_ADMIN])
    );
    let (status, _) = w
        .app
        .request(
            "GET",
            "/api/v1/customers/cus_nope/role-mappings",
            token,
            None,
        )
        .await;
    assert_eq!(status, 404);
}

/// A technician in two mapped groups gets the union of their roles in the tenant, and the
/// grant records them and the groups that gave them.
#[tokio::test]
async fn a_technician_in_two_groups_gets_the_union_of_their_roles() {
    let w = World::new().await;
    let tier2 = create_group(&w.app, "Tier 2").await;
    let security = create_group(&w.app, "Security").await;
    for g in [&tier2, &security] {
        w.app
            .admin(
                "PUT",
                &format!("/api/v1/groups/{g}/members/{}", w.technician_id),
                None,
            )
            .await;
    }
    put_mappings(
        &w.app,
        &w.customer_id,
        json!([
            {"group_id": tier2, "roles": ["User Administrator"]},
            {"group_id": security, "roles": ["Security Administrator", "User Administrator"]},
        ]),
    )
    .await;

    assert_eq!(w.request_on_ticket(1001, "alice").await, 202);
    w.notes(1001, 1).await;
    // Not the connection's roles (Global and User Administrator): the mapped groups' union.
    let union = set(&[USER_ADMIN, SECURITY_ADMIN]);
    assert_eq!(roles_in_tenant(&w), union);
    let grant = grant_of_ticket(&w, "1001").await;
    assert_eq!(texts(&grant["roles"]), union);
    let sources: BTreeSet<String> = grant["role_sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["group"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(sources, set(&["Security", "Tier 2"]), "{grant}");
}

/// A technician none of whose groups is mapped is refused with a note that says so, and no
/// account is enabled.
#[tokio::test]
async fn a_request_no_mapping_gives_a_role_is_refused() {
    let w = World::new().await;
    let tier2 = create_group(&w.app, "Tier 2").await;
    put_mappings(
        &w.app,
        &w.customer_id,
        json!([{"group_id": tier2, "roles": ["User Administrator"]}]),
    )
    .await;
    assert_eq!(w.request_on_ticket(1001, "alice").await, 202);
    let notes = w.notes(1001, 1).await;
    assert!(
        notes[0]
            .text
            .contains("no role mapping gives alice@msp.example any role in"),
        "{}",
        notes[0].text
    );
    assert!(w.graph.user_by_upn(TENANT, &w.jit_upn()).is_none());
    assert_eq!(w.grants().await, json!([]));
}

/// A change of mapping leaves the open grant's roles alone; the next request gets the new ones.
#[tokio::test]
async fn a_mapping_change_applies_from_the_next_request_not_to_an_open_grant() {
    let w = World::new().await;
    assert_eq!(w.request_on_ticket(1001, "alice").await, 202);
    w.notes(1001, 1).await;
    let first = grant_of_ticket(&w, "1001").await;
    assert_eq!(texts(&first["roles"]), set(&[GLOBAL_ADMIN, USER_ADMIN]));
    assert_eq!(first["role_sources"][0]["group"], "All admins", "{first}");

    put_mappings(
        &w.app,
        &w.customer_id,
        json!([{"group_id": ALL_ADMINS, "roles": ["User Administrator"]}]),
    )
    .await;
    assert_eq!(roles_in_tenant(&w), set(&[GLOBAL_ADMIN, USER_ADMIN]));
    let still = grant_of_ticket(&w, "1001").await;
    assert_eq!(still["roles"], first["roles"]);

    let id = first["id"].as_str().unwrap();
    w.app
        .admin("POST", &format!("/api/v1/grants/{id}/end"), None)
        .await;
    eventually("the first grant ended", Duration::from_secs(30), || async {
        let g = grant_of_ticket(&w, "1001").await;
        g["ended_at"].is_i64().then_some(())
    })
    .await;

    assert_eq!(w.request_on_ticket(1002, "alice").await, 202);
    w.notes(1002, 1).await;
    let second = grant_of_ticket(&w, "1002").await;
    assert_eq!(texts(&second["roles"]), set(&[USER_ADMIN]), "{second}");
    assert_eq!(roles_in_tenant(&w), set(&[USER_ADMIN]));
}

/// Delegated tokens read groups but do not manage them, and see and set the role mappings of
/// their customers only.
#[tokio::test]
async fn a_delegated_token_reads_groups_and_maps_roles_only_for_its_customers() {
    let app = spawn_app().await;
    let mine = app.create_customer("Mine").await;
    let other = app.create_customer("Other").await;
    let tier2 = create_group(&app, "Tier 2").await;
    let alice = add_technician(&app.api(), "alice", "Alice").await;
    let (_, token) = store::tokens::create(&app.db, "delegated", std::slice::from_ref(&mine))
        .await
        .unwrap();
    let tok = Some(token.as_str());

    let (status, groups) = app.request("GET", "/api/v1/groups", tok, None).await;
    assert_eq!(status, 200);
    assert_eq!(groups.as_array().unwrap().len(), 2, "{groups}");
    for (method, path, body) in [
        (
            "POST",
            "/api/v1/groups".to_string(),
            Some(json!({"name": "Mine"})),
        ),
        (
            "PATCH",
            format!("/api/v1/groups/{tier2}"),
            Some(json!({"name": "Tier 1"})),
        ),
        ("DELETE", format!("/api/v1/groups/{tier2}"), None),
        (
            "PUT",
            format!("/api/v1/groups/{tier2}/members/{alice}"),
            None,
        ),
    ] {
        let (status, answer) = app.request(method, &path, tok, body).await;
        assert_eq!(status, 403, "{method} {path}: {answer}");
    }

    let body = json!({"mappings": [{"group_id": tier2, "roles": ["User Administrator"]}]});
    let (status, answer) = app
        .request(
            "PUT",
            &format!("/api/v1/customers/{mine}/role-mappings"),
            tok,
            Some(body.clone()),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["mappings"][0]["group_id"], tier2.as_str());
    for method in ["GET", "PUT"] {
        let (status, _) = app
            .request(
                method,
                &format!("/api/v1/customers/{other}/role-mappings"),
                tok,
                (method == "PUT").then(|| body.clone()),
            )
            .await;
        assert_eq!(status, 404, "{method} another customer's mappings");
    }
    let theirs = app
        .admin(
            "GET",
            &format!("/api/v1/customers/{other}/role-mappings"),
            None,
        )
        .await;
    assert_eq!(theirs["is_default"], true, "unchanged: {theirs}");
}

/// An extension keeps the open grant's roles, and is refused when no mapping gives the
/// technician a role any more; the open grant is left as it was.
#[tokio::test]
async fn an_extension_is_refused_once_no_mapping_gives_a_role() {
    let w = World::new().await;
    assert_eq!(w.request_on_ticket(1001, "alice").await, 202);
    w.notes(1001, 1).await;
    let open = grant_of_ticket(&w, "1001").await;
    let tier2 = create_group(&w.app, "Tier 2").await;
    put_mappings(
        &w.app,
        &w.customer_id,
        json!([{"group_id": tier2, "roles": ["User Administrator"]}]),
    )
    .await;

    assert_eq!(w.request_on_ticket(1002, "alice").await, 202);
    let notes = w.notes(1002, 1).await;
    assert!(
        notes[0].text.contains("no role mapping gives"),
        "{}",
        notes[0].text
    );
    let after = grant_of_ticket(&w, "1001").await;
    assert!(after["ended_at"].is_null(), "{after}");
    assert_eq!(after["version"], open["version"], "not extended: {after}");
    assert_eq!(after["roles"], open["roles"]);
    assert_eq!(roles_in_tenant(&w), set(&[GLOBAL_ADMIN, USER_ADMIN]));
    let starts = w
        .app
        .admin("GET", "/api/v1/audit?action=grant.start", None)
        .await;
    let detail = starts[0]["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("from All admins"), "{starts}");
}
