//! Admin scope and token lifecycle: what a delegated token sees, tokens that expire or are
//! revoked, grants ended when access is taken away, and the database's file modes.

use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use crate::world::{World, add_connector, add_technician, eventually, map_company};
use jitgate::crypto::hash_token;
use jitgate::store::{self, now_ms};
use serde_json::{Value, json};
use std::time::Duration;

async fn audit_rows(app: &TestApp, query: &str) -> Vec<Value> {
    app.admin("GET", &format!("/api/v1/audit?{query}"), None)
        .await
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn a_revoked_token_gets_401_at_once_and_no_list_shows_a_token() {
    let app = spawn_app().await;
    let created = app
        .admin(
            "POST",
            "/api/v1/tokens",
            Some(json!({"name": "automation", "expires_in": "30d"})),
        )
        .await;
    let (id, token) = (
        created["id"].as_str().unwrap().to_string(),
        created["token"].as_str().unwrap().to_string(),
    );
    assert_eq!(created["is_admin"], true);
    let in_30_days = now_ms() + 30 * 86_400_000;
    let expires_at = created["expires_at"].as_i64().unwrap();
    assert!(
        (in_30_days - 60_000..=in_30_days).contains(&expires_at),
        "{created}"
    );
    assert!(created["last_used_at"].is_null());

    let (status, _) = app
        .request("GET", "/api/v1/customers", Some(&token), None)
        .await;
    assert_eq!(status, 200);
    let listed = app.admin("GET", "/api/v1/tokens", None).await;
    let text = listed.to_string();
    assert!(
        !text.contains(&token) && !text.contains(&hash_token(&token)),
        "a token list must never show a token or its hash: {text}"
    );
    let row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == json!(id))
        .unwrap();
    assert!(row["last_used_at"].as_i64().unwrap() >= created["created_at"].as_i64().unwrap());
    assert!(row["revoked_at"].is_null());

    app.admin("DELETE", &format!("/api/v1/tokens/{id}"), None)
        .await;
    let (status, body) = app
        .request("GET", "/api/v1/customers", Some(&token), None)
        .await;
    assert_eq!(
        status, 401,
        "a revoked token must be refused at once: {body}"
    );
    let listed = app.admin("GET", "/api/v1/tokens", None).await;
    let row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == json!(id))
        .unwrap();
    assert!(row["revoked_at"].is_i64(), "{row}");
    let (status, _) = app
        .request(
            "DELETE",
            "/api/v1/tokens/tok_nope",
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(status, 404);

    let actions: Vec<String> = audit_rows(&app, "limit=50")
        .await
        .iter()
        .filter(|r| r["detail"].as_str().unwrap_or("").contains(&id))
        .map(|r| r["action"].as_str().unwrap().to_string())
        .collect();
    assert!(
        actions.contains(&"token.create".into()) && actions.contains(&"token.revoke".into()),
        "{actions:?}"
    );
}

#[tokio::test]
async fn token_input_is_validated_and_delegated_tokens_cannot_manage_tokens() {
    let app = spawn_app().await;
    let customer = app.create_customer("Mine").await;
    for (body, field) in [
        (json!({"name": "x", "expires_in": "soon"}), "expires_in"),
        (json!({"name": "x", "expires_in": "10s"}), "expires_in"),
        (
            json!({"name": "x", "customers": ["cus_nope"]}),
            "customers[0]",
        ),
        (json!({"name": " "}), "name"),
    ] {
        let (status, answer) = app
            .request("POST", "/api/v1/tokens", Some(&app.admin_token), Some(body))
            .await;
        assert_eq!(status, 422, "{answer}");
        assert!(answer["error"]["fields"][field].is_string(), "{answer}");
    }
    let created = app
        .admin(
            "POST",
            "/api/v1/tokens",
            Some(json!({"name": "mine only", "customers": [customer]})),
        )
        .await;
    assert_eq!(created["is_admin"], false);
    assert_eq!(created["customers"], json!([customer]));
    assert!(created["expires_at"].is_null());
    let delegated = created["token"].as_str().unwrap();
    let id = created["id"].as_str().unwrap();
    for (method, path, body) in [
        ("GET", "/api/v1/tokens".to_string(), None),
        (
            "POST",
            "/api/v1/tokens".to_string(),
            Some(json!({"name": "escalate"})),
        ),
        ("DELETE", format!("/api/v1/tokens/{id}"), None),
    ] {
        let (status, answer) = app.request(method, &path, Some(delegated), body).await;
        assert_eq!(status, 403, "{method} {path}: {answer}");
    }
    let tokens = app.admin("GET", "/api/v1/tokens", None).await;
    assert_eq!(
        tokens.as_array().unwrap().len(),
        2,
        "only the test's admin token and the delegated one: {tokens}"
    );
}

#[tokio::test]
async fn an_expired_token_gets_401() {
    let app = spawn_app().await;
    let (_, token) =
        store::tokens::create_with(&app.db, "short", &[], Some(now_ms() + 1_500), None)
            .await
            .unwrap();
    let (status, _) = app
        .request("GET", "/api/v1/customers", Some(&token), None)
        .await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    let (status, body) = app
        .request("GET", "/api/v1/customers", Some(&token), None)
        .await;
    assert_eq!(status, 401, "{body}");
}

/// The CLI is another process on the same database: what it revokes, the running server
/// refuses on the next request (tokens are never cached).
#[tokio::test]
async fn cli_creates_lists_and_revokes_tokens_for_a_running_server() {
    let app = spawn_app().await;
    let (database_url, key_file, dir) = (
        app.config.database_url.clone(),
        app.config.master_key_file.clone(),
        app.dir.path().to_path_buf(),
    );
    // On a blocking thread: the server shares this test's runtime and must keep running (a
    // blocked runtime would hold any write lock it has, and the CLI would wait for it).
    let cli = |args: &[&str]| {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let (database_url, key_file, dir) = (database_url.clone(), key_file.clone(), dir.clone());
        async move {
            tokio::task::spawn_blocking(move || {
                let out = std::process::Command::new(env!("CARGO_BIN_EXE_jitgate"))
                    .args(&args)
                    .current_dir(dir)
                    .env_clear()
                    .env("JITGATE_DATABASE_URL", database_url)
                    .env("JITGATE_MASTER_KEY_FILE", key_file)
                    .output()
                    .expect("the jitgate binary runs");
                assert!(
                    out.status.success(),
                    "jitgate {args:?}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                String::from_utf8(out.stdout).unwrap()
            })
            .await
            .unwrap()
        }
    };
    let token = cli(&[
        "admin",
        "token",
        "create",
        "--name",
        "from cli",
        "--expires-in",
        "30d",
    ])
    .await
    .trim()
    .to_string();
    assert!(token.starts_with("jg_"), "{token}");
    let (status, _) = app
        .request("GET", "/api/v1/customers", Some(&token), None)
        .await;
    assert_eq!(status, 200);

    let list = cli(&["admin", "token", "list"]).await;
    assert!(!list.contains(&token), "{list}");
    let line = list
        .lines()
        .find(|l| l.contains("from cli"))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(
        line.contains("\tadmin\t") && line.contains("revoked -"),
        "{line}"
    );
    assert!(
        !line.contains("expires -") && !line.contains("last used -"),
        "{line}"
    );
    let id = line.split('\t').next().unwrap();

    assert!(
        cli(&["admin", "token", "revoke", id])
            .await
            .contains("revoked")
    );
    let (status, _) = app
        .request("GET", "/api/v1/customers", Some(&token), None)
        .await;
    assert_eq!(status, 401, "revoked in another process, refused at once");
    let list = cli(&["admin", "token", "list"]).await;
    assert!(
        !list
            .lines()
            .find(|l| l.contains("from cli"))
            .unwrap()
            .contains("revoked -"),
        "{list}"
    );
}

#[tokio::test]
async fn a_delegated_token_sees_only_its_technicians_and_mappings_and_takes_over_no_company() {
    let app = spawn_app().await;
    let api = app.api();
    let mine = app.create_customer("Mine").await;
    let other = app.create_customer("Other").await;
    let ours = add_technician(&api, "ours", "Ours").await;
    let theirs = add_technician(&api, "theirs", "Theirs").await;
    add_technician(&api, "nobody", "Nobody").await;
    for (t, c) in [(&ours, &mine), (&theirs, &other)] {
        app.admin(
            "PUT",
            &format!("/api/v1/technicians/{t}/customers/{c}"),
            None,
        )
        .await;
    }
    let connector = add_connector(
        &api,
        json!({"kind": "standard_webhooks", "name": "Rewst", "settings": {},
            "secrets": {"webhook_secret": ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]}}),
    )
    .await;
    map_company(&api, &connector, "100", &mine).await;
    map_company(&api, &connector, "200", &other).await;
    let (_, token) = store::tokens::create(&app.db, "delegated", std::slice::from_ref(&mine))
        .await
        .unwrap();
    let tok = Some(token.as_str());

    let (status, list) = app.request("GET", "/api/v1/technicians", tok, None).await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![ours.as_str()], "{list}");
    let (status, _) = app
        .request("GET", &format!("/api/v1/technicians/{theirs}"), tok, None)
        .await;
    assert_eq!(status, 404, "another customer's technician is invisible");
    let all = app.admin("GET", "/api/v1/technicians", None).await;
    assert_eq!(all.as_array().unwrap().len(), 3);

    let companies = format!("/api/v1/connectors/{connector}/companies");
    let (status, list) = app.request("GET", &companies, tok, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        list,
        json!([{"connector_id": connector, "psa_company_id": "100", "customer_id": mine}])
    );

    // Company 200 is Other's: a delegated token cannot move it to its own customer.
    let (status, body) = app
        .request(
            "PUT",
            &format!("{companies}/200"),
            tok,
            Some(json!({"customer_id": mine})),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already mapped"),
        "{body}"
    );
    let mapping = store::connectors::mapping(&app.db, &connector, "200")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(mapping.customer_id, other, "nothing written");
    let refused = audit_rows(&app, "action=company.map").await;
    assert!(
        refused.iter().any(|r| r["outcome"] == "refused"
            && r["customer_id"] == json!(mine)
            && r["detail"]
                .as_str()
                .unwrap()
                .contains("outside this token's scope")),
        "{refused:?}"
    );
    // Its own company and a new one are fine.
    for company in ["100", "300"] {
        let (status, body) = app
            .request(
                "PUT",
                &format!("{companies}/{company}"),
                tok,
                Some(json!({"customer_id": mine})),
            )
            .await;
        assert_eq!(status, 200, "{company}: {body}");
    }
    // An admin token may still move any mapping.
    map_company(&api, &connector, "200", &mine).await;
}

fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A first run with the default layout: `data/` holds the master key (written first) and the
/// database; both, the folder and SQLite's WAL and shared-memory files are owner-only.
#[tokio::test]
async fn database_file_and_data_folder_are_created_owner_only() {
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("data");
    let (url, key) = (
        format!("sqlite://{}", data.join("jitgate.db").display()),
        data.join("master.key"),
    );
    let app = spawn_app_with(Box::new(move |c| {
        c.database_url = url;
        c.master_key_file = key;
    }))
    .await;
    // Something written, so the WAL and shared-memory files exist.
    app.create_customer("Fabrikam").await;
    assert_eq!(mode(&data), 0o700);
    for file in [
        "master.key",
        "jitgate.db",
        "jitgate.db-wal",
        "jitgate.db-shm",
    ] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
}

/// The database alone, in folders that do not exist yet.
#[tokio::test]
async fn db_connect_creates_missing_folders_owner_only() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("var").join("jitgate");
    let url = format!("sqlite://{}", dir.join("jitgate.db").display());
    let db = store::Db::connect(&url, 1).await.unwrap();
    db.migrate().await.unwrap();
    db.close().await;
    assert_eq!(mode(&parent.path().join("var")), 0o700);
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("jitgate.db")), 0o600);
}

/// The grant of `world`'s technician on a new ticket, once it is open.
async fn open_grant(w: &World, ticket: u64) -> String {
    assert_eq!(w.request_on_ticket(ticket, "alice").await, 202);
    w.notes(ticket, 1).await;
    let grants = w.grants().await;
    let grant = &grants.as_array().unwrap()[0];
    assert!(grant["ended_at"].is_null());
    assert!(
        w.graph
            .user_by_upn(crate::world::TENANT, &w.jit_upn())
            .unwrap()
            .account_enabled
    );
    grant["id"].as_str().unwrap().to_string()
}

/// Wait until the grant is verified ended; check why and that Graph shows the account disabled.
async fn assert_ended(w: &World, grant_id: &str, reason: &str) {
    let grant = eventually("the grant to end", Duration::from_secs(30), || async {
        let g = w
            .app
            .admin("GET", &format!("/api/v1/grants/{grant_id}"), None)
            .await;
        g["ended_at"].is_i64().then_some(g)
    })
    .await;
    assert_eq!(grant["end_request_reason"], reason, "{grant}");
    let user = w
        .graph
        .user_by_upn(crate::world::TENANT, &w.jit_upn())
        .unwrap();
    assert!(
        !user.account_enabled,
        "the account is disabled in the tenant"
    );
    let rows = audit_rows(&w.app, &format!("grant_id={grant_id}")).await;
    assert!(
        rows.iter().any(|r| r["action"] == "grant.end_requested"
            && r["detail"].as_str().unwrap().starts_with(reason)),
        "{rows:?}"
    );
}

async fn still_open(w: &World, grant_id: &str) {
    let g = w
        .app
        .admin("GET", &format!("/api/v1/grants/{grant_id}"), None)
        .await;
    assert!(
        g["ended_at"].is_null() && g["end_requested"] == false,
        "{g}"
    );
}

#[tokio::test]
async fn removing_a_delegation_ends_the_grant_in_that_tenant() {
    let w = World::new().await;
    let grant = open_grant(&w, 3001).await;
    w.app
        .admin(
            "DELETE",
            &format!(
                "/api/v1/technicians/{}/customers/{}",
                w.technician_id, w.customer_id
            ),
            None,
        )
        .await;
    assert_ended(&w, &grant, "delegation_removed").await;
}

#[tokio::test]
async fn removing_the_admin_flag_ends_grants_only_where_no_delegation_remains() {
    let w = World::new().await;
    let admin = format!("/api/v1/technicians/{}/admin", w.technician_id);
    let delegation = format!(
        "/api/v1/technicians/{}/customers/{}",
        w.technician_id, w.customer_id
    );
    w.app.admin("PUT", &admin, None).await;
    let grant = open_grant(&w, 3002).await;
    // Still delegated: losing the admin flag changes nothing here.
    w.app.admin("DELETE", &admin, None).await;
    still_open(&w, &grant).await;
    // An MSP admin may work every customer: losing the delegation changes nothing.
    w.app.admin("PUT", &admin, None).await;
    w.app.admin("DELETE", &delegation, None).await;
    still_open(&w, &grant).await;
    // Neither any more: the grant ends.
    w.app.admin("DELETE", &admin, None).await;
    assert_ended(&w, &grant, "admin_removed").await;
}

#[tokio::test]
async fn removing_a_technician_ends_their_grants_and_hides_them() {
    let w = World::new().await;
    let grant = open_grant(&w, 3003).await;
    let path = format!("/api/v1/technicians/{}", w.technician_id);
    let (status, body) = w
        .app
        .request("DELETE", &path, Some(&w.app.admin_token), None)
        .await;
    assert_eq!(status, 204, "{body}");
    assert_ended(&w, &grant, "technician_removed").await;
    let (status, _) = w
        .app
        .request("GET", &path, Some(&w.app.admin_token), None)
        .await;
    assert_eq!(status, 404);
    let list = w.app.admin("GET", "/api/v1/technicians", None).await;
    assert_eq!(list, json!([]));
    assert!(
        store::technicians::by_email(&w.app.db, "alice@msp.example")
            .await
            .unwrap()
            .is_none(),
        "a removed technician cannot be matched to a PSA member"
    );

    // The same person added again gets the same technician back (so the same JIT account),
    // with nothing delegated.
    let again = w
        .app
        .admin(
            "POST",
            "/api/v1/technicians",
            Some(json!({"email": "alice@msp.example", "display_name": "Alice Again"})),
        )
        .await;
    assert_eq!(again["id"], json!(w.technician_id));
    assert_eq!(again["is_admin"], false);
    assert_eq!(again["customers"], json!([]));
    let (status, _) = w
        .app
        .request(
            "POST",
            "/api/v1/technicians",
            Some(&w.app.admin_token),
            Some(json!({"email": "alice@msp.example", "display_name": "Twice"})),
        )
        .await;
    assert_eq!(status, 409, "an active technician's email stays unique");
}
