//! The tenant check: each check fails for its reason and passes once fixed, and a request for
//! a customer whose last check failed is refused at once, naming the check.

use crate::world::{CLIENT_ID, DOMAIN, TENANT, World, eventually};
use jitgate_sim::graph::{AppRole, SimDomain};
use serde_json::{Value, json};
use std::time::Duration;

async fn run_check(w: &World) -> Value {
    w.app
        .admin(
            "POST",
            &format!("/api/v1/customers/{}/entra/check", w.customer_id),
            None,
        )
        .await
}

fn status_of<'a>(check: &'a Value, name: &str) -> (&'a str, &'a str) {
    let c = check["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {check}"));
    (
        c["status"].as_str().unwrap(),
        c["detail"].as_str().unwrap_or_default(),
    )
}

async fn put_entra(w: &World, body: Value) -> (u16, Value) {
    w.app
        .request(
            "PUT",
            &format!("/api/v1/customers/{}/entra", w.customer_id),
            Some(&w.app.admin_token),
            Some(body),
        )
        .await
}

#[tokio::test]
async fn connecting_runs_the_check_and_a_tenant_set_up_as_documented_passes_with_a_warning() {
    let w = World::new().await;
    let customer = w
        .app
        .admin("GET", &format!("/api/v1/customers/{}", w.customer_id), None)
        .await;
    let check = &customer["entra"]["check"];
    assert_eq!(check["status"], "warn", "{check}");
    for name in [
        "credentials",
        "permissions",
        "jit_domain",
        "roles",
        "upn_template",
    ] {
        assert_eq!(status_of(check, name).0, "ok", "{name}: {check}");
    }
    let (status, detail) = status_of(check, "directory_role");
    assert_eq!(status, "warn");
    assert!(detail.contains("User Administrator"), "{detail}");

    w.graph
        .set_app_role(TENANT, AppRole::PrivilegedAuthenticationAdministrator);
    let check = run_check(&w).await;
    assert_eq!(check["status"], "ok", "{check}");
}

#[tokio::test]
async fn each_check_fails_for_its_reason_and_passes_once_fixed() {
    let w = World::new().await;

    w.graph
        .set_permission(TENANT, "User.RevokeSessions.All", false);
    let check = run_check(&w).await;
    let (status, detail) = status_of(&check, "permissions");
    assert_eq!(
        (status, check["status"].as_str().unwrap()),
        ("fail", "fail")
    );
    assert!(detail.contains("User.RevokeSessions.All"), "{detail}");
    w.graph
        .set_permission(TENANT, "User.RevokeSessions.All", true);
    assert_eq!(status_of(&run_check(&w).await, "permissions").0, "ok");

    w.graph.set_app_role(TENANT, AppRole::None);
    let check = run_check(&w).await;
    assert_eq!(status_of(&check, "directory_role").0, "fail", "{check}");
    w.graph.set_app_role(TENANT, AppRole::UserAdministrator);
    assert_eq!(status_of(&run_check(&w).await, "directory_role").0, "warn");

    let base = json!({"tenant_id": TENANT, "client_id": CLIENT_ID,
        "roles": ["Global Administrator", "User Administrator"]});
    for (domain, why) in [
        ("nowhere.example", "no domain"),
        ("pending.example", "not verified"),
        ("federated.example", "federated"),
    ] {
        w.graph
            .put_domain(TENANT, SimDomain::unverified("pending.example"));
        w.graph
            .put_domain(TENANT, SimDomain::federated("federated.example"));
        let mut body = base.clone();
        body["jit_domain"] = json!(domain);
        let (code, answer) = put_entra(&w, body).await;
        assert_eq!(code, 200, "{answer}");
        let (status, detail) = status_of(&answer["check"], "jit_domain");
        assert_eq!(status, "fail", "{domain}: {answer}");
        assert!(detail.contains(why), "{domain}: {detail}");
    }
    let mut body = base.clone();
    body["jit_domain"] = json!(DOMAIN);
    body["roles"] = json!([
        "Global Administrator",
        "0000aaaa-0000-4000-8000-00000000bbbb"
    ]);
    let (code, answer) = put_entra(&w, body).await;
    assert_eq!(code, 200, "{answer}");
    let (status, detail) = status_of(&answer["check"], "roles");
    assert_eq!(status, "fail", "{answer}");
    assert!(
        detail.contains("0000aaaa-0000-4000-8000-00000000bbbb"),
        "{detail}"
    );

    let mut body = base.clone();
    body["jit_domain"] = json!(DOMAIN);
    let (_, answer) = put_entra(&w, body).await;
    assert_eq!(answer["check"]["status"], "warn", "{answer}");
}

#[tokio::test]
async fn a_request_for_a_tenant_whose_check_failed_is_refused_at_once_naming_the_check() {
    let w = World::new().await;
    w.graph
        .set_permission(TENANT, "RoleManagement.ReadWrite.Directory", false);
    assert_eq!(run_check(&w).await["status"], "fail");

    assert_eq!(w.request_on_ticket(1001, "alice").await, 202);
    let notes = w.notes(1001, 1).await;
    assert!(
        notes[0].text.contains("tenant check") && notes[0].text.contains("permissions"),
        "{}",
        notes[0].text
    );
    assert!(
        notes[0].text.contains("RoleManagement.ReadWrite.Directory"),
        "{}",
        notes[0].text
    );
    assert!(w.graph.users(TENANT).is_empty(), "nothing was created");

    // Fixed and checked again: the next request works.
    w.graph
        .set_permission(TENANT, "RoleManagement.ReadWrite.Directory", true);
    assert_eq!(run_check(&w).await["status"], "warn");
    assert_eq!(w.request_on_ticket(1002, "alice").await, 202);
    eventually("the account", Duration::from_secs(30), || async {
        (!w.graph.users(TENANT).is_empty()).then_some(())
    })
    .await;
}

#[tokio::test]
async fn the_tenants_domains_and_the_known_roles_are_listed_for_pickers() {
    let w = World::new().await;
    w.graph
        .put_domain(TENANT, SimDomain::federated("federated.example"));
    let domains = w
        .app
        .admin(
            "GET",
            &format!("/api/v1/customers/{}/entra/domains", w.customer_id),
            None,
        )
        .await;
    let domains = domains.as_array().unwrap();
    let by_name = |n: &str| {
        domains
            .iter()
            .find(|d| d["name"] == n)
            .unwrap_or_else(|| panic!("no {n} in {domains:?}"))
    };
    assert_eq!(by_name(DOMAIN)["usable"], true);
    assert_eq!(by_name("federated.example")["usable"], false);
    let initial = domains
        .iter()
        .find(|d| d["is_initial"] == true)
        .expect("the initial domain");
    assert!(
        initial["name"]
            .as_str()
            .unwrap()
            .ends_with(".onmicrosoft.com"),
        "{initial}"
    );
    assert_eq!(initial["recommended"], true);

    w.graph.set_permission(TENANT, "Domain.Read.All", false);
    let (status, body) = w
        .app
        .request(
            "GET",
            &format!("/api/v1/customers/{}/entra/domains", w.customer_id),
            Some(&w.app.admin_token),
            None,
        )
        .await;
    assert_eq!(status, 502, "{body}");
    assert!(body.to_string().contains("Domain.Read.All"), "{body}");

    let roles = w.app.admin("GET", "/api/v1/entra/roles", None).await;
    assert!(
        roles
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "Global Administrator"
                && r["template_id"] == "62e90394-69f5-4237-9190-012177145e10"),
        "{roles}"
    );
}

/// Installs set up before the check asked for Domain.Read.All keep working: the domain goes
/// unchecked (a warning), requests are not refused.
#[tokio::test]
async fn without_domain_read_all_the_domain_is_only_a_warning() {
    let w = World::new().await;
    w.graph.set_permission(TENANT, "Domain.Read.All", false);
    let check = run_check(&w).await;
    let (status, detail) = status_of(&check, "jit_domain");
    assert_eq!(status, "warn", "{check}");
    assert!(detail.contains("Domain.Read.All"), "{detail}");
    assert_eq!(check["status"], "warn");
}

#[tokio::test]
async fn a_role_a_group_mapping_names_must_exist_in_the_tenant_too() {
    let w = World::new().await;
    let unknown = "0000cccc-0000-4000-8000-00000000dddd";
    w.app
        .admin(
            "PUT",
            &format!("/api/v1/customers/{}/role-mappings", w.customer_id),
            Some(json!({"mappings": [{"group_id": "grp_all_admins", "roles": ["User Administrator", unknown]}]})),
        )
        .await;
    let check = run_check(&w).await;
    let (status, detail) = status_of(&check, "roles");
    assert_eq!(status, "fail", "{check}");
    assert!(detail.contains(unknown), "{detail}");

    w.app
        .admin(
            "PUT",
            &format!("/api/v1/customers/{}/role-mappings", w.customer_id),
            Some(json!({"mappings": [{"group_id": "grp_all_admins", "roles": ["User Administrator"]}]})),
        )
        .await;
    let fixed = run_check(&w).await;
    let (status, _) = status_of(&fixed, "roles");
    assert_eq!(status, "ok", "{fixed}");
}
