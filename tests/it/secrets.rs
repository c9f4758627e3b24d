//! Secrets at rest and in logs.

use crate::helpers::{captured_logs, spawn_app};
use jitgate::crypto::Keyring;
use jitgate::store;
use serde_json::json;

const CLIENT_SECRET: &str = "Xq8~client-secret-that-must-never-leak~42";

async fn customer_with_secret(app: &crate::helpers::TestApp, secret: &str) -> String {
    let id = app.create_customer("Fabrikam").await;
    app.admin(
        "PUT",
        &format!("/api/v1/customers/{id}/entra"),
        Some(json!({"tenant_id": "fabrikam.onmicrosoft.com", "client_id": "11111111-2222-3333-4444-555555555555",
            "client_secret": secret, "jit_domain": "fabrikam.com", "roles": ["Global Administrator"]})),
    )
    .await;
    id
}

#[tokio::test]
async fn client_secret_is_not_in_the_sqlite_file_in_plaintext() {
    let app = spawn_app().await;
    if app.is_postgres() {
        return; // this check reads the SQLite file itself
    }
    customer_with_secret(&app, CLIENT_SECRET).await;
    let bytes = app.sqlite_bytes();
    assert!(!bytes.is_empty());
    let needle = CLIENT_SECRET.as_bytes();
    assert!(
        !bytes.windows(needle.len()).any(|w| w == needle),
        "the client secret is stored in plaintext"
    );
}

#[tokio::test]
async fn secrets_set_through_the_api_never_reach_logs_or_responses() {
    let app = spawn_app().await;
    let secret = "log-canary-5f1d9e0c-entra";
    let id = customer_with_secret(&app, secret).await;
    let customer = app
        .admin("GET", &format!("/api/v1/customers/{id}"), None)
        .await;
    assert!(!customer.to_string().contains(secret));
    let audit = app.admin("GET", "/api/v1/audit", None).await;
    assert!(!audit.to_string().contains(secret));
    // a refused request that carries a secret must not echo it either
    let (_, body) = app
        .request("PUT", &format!("/api/v1/customers/{id}/entra"), Some(&app.admin_token),
            Some(json!({"tenant_id": "bad tenant", "client_id": "x", "client_secret": secret, "jit_domain": "x", "roles": []})))
        .await;
    assert!(!body.to_string().contains(secret));
    let logs = captured_logs();
    assert!(!logs.is_empty(), "the log capture is not working");
    assert!(!logs.contains(secret), "a secret reached the logs");
    assert!(
        !logs.contains(&app.admin_token),
        "an admin token reached the logs"
    );
}

#[tokio::test]
async fn rotating_the_master_key_keeps_every_secret_readable() {
    let app = spawn_app().await;
    let a = customer_with_secret(&app, "secret-a").await;
    let b = customer_with_secret(&app, "secret-b").await;
    let old_key = app.keyring.active_key_id();

    let rotation = store::secrets::rotate(&app.db, &app.keyring).await.unwrap();
    assert_ne!(rotation.new_key_id, old_key);
    assert!(rotation.resealed >= 2);
    assert_eq!(rotation.retired, vec![old_key.clone()]);

    // A process that loads the key file afresh reads every secret.
    let (fresh, _) = Keyring::load(None, &app.config.master_key_file).unwrap();
    assert_eq!(fresh.key_ids(), vec![rotation.new_key_id.clone()]);
    for (id, expected) in [(a, "secret-a"), (b, "secret-b")] {
        let v = store::secrets::get_string(
            &app.db,
            &fresh,
            &format!("customer:{id}"),
            "entra_client_secret",
        )
        .await
        .unwrap();
        assert_eq!(v.as_deref(), Some(expected));
    }
    assert_eq!(
        store::secrets::key_ids_in_use(&app.db).await.unwrap(),
        vec![rotation.new_key_id]
    );
}

/// `jitgate key rotate`, the real command, run against the data of this test's server. It
/// waits on a blocking thread: waiting on the test's own runtime would stall the in-process
/// server, which may hold the SQLite write lock the command needs ("database is locked").
async fn rotate_with_the_cli(app: &crate::helpers::TestApp) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_jitgate"));
    command
        .args(["key", "rotate"])
        .current_dir(app.dir.path())
        .env_clear()
        .env("JITGATE_DATABASE_URL", &app.config.database_url)
        .env("JITGATE_MASTER_KEY_FILE", &app.config.master_key_file);
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the command's thread")
        .expect("the jitgate binary runs");
    assert!(
        out.status.success(),
        "jitgate key rotate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn key_file_ids(app: &crate::helpers::TestApp) -> Vec<String> {
    Keyring::load(None, &app.config.master_key_file)
        .unwrap()
        .0
        .key_ids()
}

/// A server keeps running while `jitgate key rotate` runs in another process: what it seals
/// afterwards is sealed with the key the file names, never with the key the rotation retired,
/// so every value still opens and the next rotation finds nothing it cannot read.
#[tokio::test]
async fn a_running_server_seals_with_the_key_a_rotation_installed() {
    let app = spawn_app().await;
    let a = customer_with_secret(&app, "secret-before").await;
    let retired = app.keyring.active_key_id();

    rotate_with_the_cli(&app).await;
    let current = key_file_ids(&app);
    assert_eq!(current.len(), 1, "the old key was retired: {current:?}");
    assert_ne!(current[0], retired);

    // The server seals a new secret through its API after the rotation.
    let b = customer_with_secret(&app, "secret-after").await;
    assert_eq!(
        store::secrets::key_ids_in_use(&app.db).await.unwrap(),
        current,
        "a value was sealed with a retired key"
    );
    let (fresh, _) = Keyring::load(None, &app.config.master_key_file).unwrap();
    for (id, expected) in [(&a, "secret-before"), (&b, "secret-after")] {
        let v = store::secrets::get_string(
            &app.db,
            &fresh,
            &format!("customer:{id}"),
            "entra_client_secret",
        )
        .await
        .unwrap();
        assert_eq!(v.as_deref(), Some(expected));
    }

    // A second rotation re-seals everything, which fails on any value it cannot open.
    rotate_with_the_cli(&app).await;
    let newest = key_file_ids(&app);
    assert_ne!(newest, current);
    let c = customer_with_secret(&app, "secret-last").await;
    assert_eq!(
        store::secrets::key_ids_in_use(&app.db).await.unwrap(),
        newest
    );
    // And the server itself still reads every value.
    for (id, expected) in [
        (&a, "secret-before"),
        (&b, "secret-after"),
        (&c, "secret-last"),
    ] {
        let v = store::secrets::get_string(
            &app.db,
            &app.keyring,
            &format!("customer:{id}"),
            "entra_client_secret",
        )
        .await
        .unwrap();
        assert_eq!(v.as_deref(), Some(expected));
    }
}
