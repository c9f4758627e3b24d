//! The admin API: validation, authentication vs authorization, delegated tokens.

use crate::helpers::spawn_app;
use jitgate::store;
use serde_json::json;

fn entra_body(secret: &str) -> serde_json::Value {
    json!({
        "tenant_id": "fabrikam.onmicrosoft.com",
        "client_id": "11111111-2222-3333-4444-555555555555",
        "client_secret": secret,
        "jit_domain": "fabrikam.com",
        "roles": ["Global Administrator", "fe930be7-5e62-47db-91af-98c3a49a38b1"],
        "duration": "2h"
    })
}

#[tokio::test]
async fn missing_or_unknown_token_is_401_with_a_challenge() {
    let app = spawn_app().await;
    let (status, body) = app.request("GET", "/api/v1/customers", None, None).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "unauthorized");
    let (status, _) = app
        .request("GET", "/api/v1/customers", Some("jg_not-a-token"), None)
        .await;
    assert_eq!(status, 401);
    let resp = app
        .http
        .get(format!("{}/api/v1/customers", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
}

#[tokio::test]
async fn validation_errors_are_422_per_field_and_change_nothing() {
    let app = spawn_app().await;
    let (status, body) = app
        .request(
            "POST",
            "/api/v1/customers",
            Some(&app.admin_token),
            Some(json!({"name": "  "})),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["code"], "validation_failed");
    assert!(body["error"]["fields"]["name"].is_string());
    let (status, body) = app
        .request(
            "POST",
            "/api/v1/customers",
            Some(&app.admin_token),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["fields"]["name"], "is required");

    let id = app.create_customer("Fabrikam").await;
    let bad = json!({"tenant_id": "not a tenant", "client_id": "x", "jit_domain": "nodot", "roles": [],
        "duration": "99h", "expiry_action": "nuke"});
    let (status, body) = app
        .request(
            "PUT",
            &format!("/api/v1/customers/{id}/entra"),
            Some(&app.admin_token),
            Some(bad),
        )
        .await;
    assert_eq!(status, 422);
    let fields = body["error"]["fields"].as_object().unwrap();
    for f in [
        "tenant_id",
        "client_id",
        "client_secret",
        "jit_domain",
        "roles",
        "duration",
        "expiry_action",
    ] {
        assert!(fields.contains_key(f), "no message for {f}: {body}");
    }
    let customer = app
        .admin("GET", &format!("/api/v1/customers/{id}"), None)
        .await;
    assert!(
        customer["entra"].is_null(),
        "a refused PUT stored something: {customer}"
    );

    let (status, body) = app
        .request(
            "POST",
            "/api/v1/technicians",
            Some(&app.admin_token),
            Some(json!({"email": "nope", "display_name": "A"})),
        )
        .await;
    assert_eq!(status, 422);
    assert!(body["error"]["fields"]["email"].is_string());
}

#[tokio::test]
async fn bad_json_is_400_and_unknown_ids_are_404() {
    let app = spawn_app().await;
    let resp = app
        .http
        .post(format!("{}/api/v1/customers", app.url))
        .bearer_auth(&app.admin_token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    for path in [
        "/api/v1/customers/cus_nope",
        "/api/v1/technicians/tec_nope",
        "/api/v1/connectors/con_nope",
    ] {
        let (status, body) = app.request("GET", path, Some(&app.admin_token), None).await;
        assert_eq!(status, 404, "{path}: {body}");
    }
}

#[tokio::test]
async fn entra_secret_is_write_only_and_kept_when_omitted() {
    let app = spawn_app().await;
    let id = app.create_customer("Fabrikam").await;
    let view = app
        .admin(
            "PUT",
            &format!("/api/v1/customers/{id}/entra"),
            Some(entra_body("first-secret-value")),
        )
        .await;
    assert_eq!(view["client_secret_set"], true);
    assert!(!view.to_string().contains("first-secret-value"));
    assert_eq!(view["roles"].as_array().unwrap().len(), 2);
    let mut again = entra_body("");
    again.as_object_mut().unwrap().remove("client_secret");
    app.admin("PUT", &format!("/api/v1/customers/{id}/entra"), Some(again))
        .await;
    let scope = format!("customer:{id}");
    let stored = store::secrets::get_string(&app.db, &app.keyring, &scope, "entra_client_secret")
        .await
        .unwrap();
    assert_eq!(stored.as_deref(), Some("first-secret-value"));
}

#[tokio::test]
async fn technicians_admin_flag_and_delegations() {
    let app = spawn_app().await;
    let customer = app.create_customer("Fabrikam").await;
    let t = app
        .admin(
            "POST",
            "/api/v1/technicians",
            Some(json!({"email": "Alice@MSP.example", "display_name": "Alice"})),
        )
        .await;
    let tid = t["id"].as_str().unwrap();
    assert_eq!(t["email"], "alice@msp.example");
    let (status, _) = app
        .request(
            "POST",
            "/api/v1/technicians",
            Some(&app.admin_token),
            Some(json!({"email": "alice@msp.example", "display_name": "Again"})),
        )
        .await;
    assert_eq!(status, 409);
    app.admin(
        "PUT",
        &format!("/api/v1/technicians/{tid}/customers/{customer}"),
        None,
    )
    .await;
    app.admin("PUT", &format!("/api/v1/technicians/{tid}/admin"), None)
        .await;
    let t = app
        .admin("GET", &format!("/api/v1/technicians/{tid}"), None)
        .await;
    assert_eq!(t["is_admin"], true);
    assert_eq!(t["customers"], json!([customer]));
    app.admin(
        "DELETE",
        &format!("/api/v1/technicians/{tid}/customers/{customer}"),
        None,
    )
    .await;
    app.admin("DELETE", &format!("/api/v1/technicians/{tid}/admin"), None)
        .await;
    let t = app
        .admin("GET", &format!("/api/v1/technicians/{tid}"), None)
        .await;
    assert_eq!(t["is_admin"], false);
    assert_eq!(t["customers"], json!([]));
    let (status, _) = app
        .request(
            "PUT",
            &format!("/api/v1/technicians/{tid}/customers/cus_nope"),
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn delegated_token_sees_and_edits_only_its_customers() {
    let app = spawn_app().await;
    let mine = app.create_customer("Mine").await;
    let other = app.create_customer("Other").await;
    let (_, token) = store::tokens::create(&app.db, "delegated", std::slice::from_ref(&mine))
        .await
        .unwrap();
    let tok = Some(token.as_str());

    let (status, list) = app.request("GET", "/api/v1/customers", tok, None).await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![mine.as_str()]);

    let (status, _) = app
        .request("GET", &format!("/api/v1/customers/{other}"), tok, None)
        .await;
    assert_eq!(status, 404, "another customer must be invisible");
    let (status, _) = app
        .request(
            "PATCH",
            &format!("/api/v1/customers/{other}"),
            tok,
            Some(json!({"name": "pwned"})),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .request(
            "PUT",
            &format!("/api/v1/customers/{other}/entra"),
            tok,
            Some(entra_body("x-secret")),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .request(
            "PATCH",
            &format!("/api/v1/customers/{mine}"),
            tok,
            Some(json!({"name": "Mine 2"})),
        )
        .await;
    assert_eq!(status, 200);

    // Operations that span customers need an admin token: 403, distinct from 401.
    let (status, body) = app
        .request(
            "POST",
            "/api/v1/customers",
            tok,
            Some(json!({"name": "New"})),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    let (status, _) = app.request("GET", "/api/v1/connectors", tok, None).await;
    assert_eq!(status, 403);
    let (status, _) = app
        .request(
            "POST",
            "/api/v1/technicians",
            tok,
            Some(json!({"email": "x@msp.example", "display_name": "X"})),
        )
        .await;
    assert_eq!(status, 403);

    let other_name = app
        .admin("GET", &format!("/api/v1/customers/{other}"), None)
        .await["name"]
        .clone();
    assert_eq!(
        other_name, "Other",
        "the delegated token changed another customer"
    );

    // The audit trail shows it only its own customers' rows.
    let (status, rows) = app.request("GET", "/api/v1/audit", tok, None).await;
    assert_eq!(status, 200);
    assert!(!rows.as_array().unwrap().is_empty());
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .all(|r| r["customer_id"] == json!(mine)),
        "{rows}"
    );
}

#[tokio::test]
async fn audit_records_admin_changes() {
    let app = spawn_app().await;
    let id = app.create_customer("Fabrikam").await;
    app.admin(
        "PUT",
        &format!("/api/v1/customers/{id}/entra"),
        Some(entra_body("s3cret-value")),
    )
    .await;
    let rows = app
        .admin("GET", &format!("/api/v1/audit?customer_id={id}"), None)
        .await;
    let actions: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"customer.create") && actions.contains(&"customer.entra.set"),
        "{actions:?}"
    );
}

/// I10: an admin change, its secrets and its audit row commit together or not at all. The
/// database refuses the audit row (a trigger stands in for any failure after the row and its
/// secrets were written): the connector, its secrets and the audit row are all absent.
#[tokio::test]
async fn a_failure_after_the_row_write_leaves_no_row_no_secret_and_no_audit_entry() {
    let w = crate::world::World::new().await;
    let db = &w.app.db;
    let refuse_audit = match db {
        store::Db::Sqlite(_) => vec![
            "CREATE TRIGGER refuse_connector_audit BEFORE INSERT ON audit_log
             WHEN NEW.action = 'connector.create'
             BEGIN SELECT RAISE(ABORT, 'audit refused'); END",
        ],
        store::Db::Postgres(_) => vec![
            "CREATE FUNCTION refuse_connector_audit() RETURNS trigger AS $$
             BEGIN IF NEW.action = 'connector.create' THEN RAISE EXCEPTION 'audit refused'; END IF;
             RETURN NEW; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_connector_audit BEFORE INSERT ON audit_log
             FOR EACH ROW EXECUTE FUNCTION refuse_connector_audit()",
        ],
    };
    for sql in refuse_audit {
        store::on_db!(db, pool => sqlx::query(sqlx::AssertSqlSafe(sql)).execute(pool).await.unwrap().rows_affected());
    }
    let count = |sql: &'static str| async move {
        let n: i64 =
            store::on_db!(db, pool => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap());
        n
    };
    let before = (
        count("SELECT COUNT(*) FROM connectors").await,
        count("SELECT COUNT(*) FROM secrets").await,
        count("SELECT COUNT(*) FROM audit_log").await,
    );

    let body = serde_json::json!({"kind": "connectwise", "name": "Second ConnectWise",
        "settings": w.cw.connector_settings(serde_json::json!({"custom_field": "Request JIT"})),
        "secrets": w.cw.connector_secrets()});
    let (status, answer) = w
        .app
        .request(
            "POST",
            "/api/v1/connectors",
            Some(&w.app.admin_token),
            Some(body),
        )
        .await;
    assert_eq!(status, 500, "{answer}");
    assert!(
        !answer.to_string().contains("audit refused"),
        "internal errors are not sent: {answer}"
    );
    let after = (
        count("SELECT COUNT(*) FROM connectors").await,
        count("SELECT COUNT(*) FROM secrets").await,
        count("SELECT COUNT(*) FROM audit_log").await,
    );
    assert_eq!(before, after, "(connectors, secrets, audit rows) changed");
}
