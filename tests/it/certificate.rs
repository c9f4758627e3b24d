//! The MSP app authenticating with a certificate instead of a client secret (issue 12): set
//! through the API (never shown back), used for the consent flow and the tenant check, and
//! refused at once when the PEM is unusable.

use crate::consent::{Consent, MSP_CLIENT_ID, MSP_SECRET};
use crate::helpers::captured_logs;
use jitgate_sim::graph::{REGISTERED_CERTIFICATE_PEM, UNREGISTERED_CERTIFICATE_PEM};
use serde_json::{Value, json};

/// `openssl x509 -noout -fingerprint -sha1` of the registered test certificate.
const REGISTERED_THUMBPRINT: &str = "9439455DEB62EA49638D4D1FA1CF75C5B76BB5D9";

/// (certificate section, private key section) of a test PEM.
fn parts(pem: &str) -> (&str, &str) {
    let at = pem
        .find("-----BEGIN PRIVATE KEY-----")
        .expect("a PKCS#8 key");
    pem.split_at(at)
}

/// A line of base64 from inside the private key: must never show up anywhere.
fn key_line(pem: &str) -> &str {
    parts(pem).1.lines().nth(2).expect("key lines")
}

async fn put_app(c: &Consent, body: Value) -> (u16, Value) {
    c.app
        .request(
            "PUT",
            "/api/v1/entra/app",
            Some(&c.app.admin_token),
            Some(body),
        )
        .await
}

async fn set_certificate(c: &Consent, pem: &str) -> Value {
    let (status, view) = put_app(
        c,
        json!({"client_id": MSP_CLIENT_ID, "client_certificate": pem}),
    )
    .await;
    assert_eq!(status, 200, "{view}");
    view
}

fn check_named<'a>(entra: &'a Value, name: &str) -> &'a Value {
    entra["check"]["checks"]
        .as_array()
        .unwrap_or_else(|| panic!("no checks in {entra}"))
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {entra}"))
}

#[tokio::test]
async fn a_certificate_set_through_the_api_connects_a_customer_and_passes_the_check() {
    let c = Consent::start().await;
    c.sims
        .graph
        .add_app_certificate(MSP_CLIENT_ID, REGISTERED_CERTIFICATE_PEM);

    let view = set_certificate(&c, REGISTERED_CERTIFICATE_PEM).await;
    assert_eq!(view["credential"], "certificate", "{view}");
    assert_eq!(
        view["certificate_thumbprint"], REGISTERED_THUMBPRINT,
        "{view}"
    );
    assert_eq!(
        view["certificate_expires_at"], "2036-11-27 07:56 UTC",
        "{view}"
    );
    assert_eq!(view["secret_set"], false, "{view}");
    let shown = view.to_string();
    assert!(!shown.contains("PRIVATE KEY"), "{shown}");
    assert!(
        !shown.contains(key_line(REGISTERED_CERTIFICATE_PEM)),
        "{shown}"
    );
    // Setting the certificate removed the secret: from now on a token can only come from the
    // certificate.
    let names = jitgate::store::secrets::names(&c.app.db, jitgate::store::msp_app::SECRET_SCOPE)
        .await
        .unwrap();
    assert_eq!(names, [jitgate::store::msp_app::CLIENT_CERTIFICATE]);

    let (status, page) = c.open(&c.consent_url(&c.msp.customer_id).await).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Connected"), "{page}");
    let entra = c.entra(&c.msp.customer_id).await;
    assert_eq!(entra["client_id"], MSP_CLIENT_ID, "{entra}");
    assert_eq!(
        check_named(&entra, "credentials")["status"],
        "ok",
        "{entra}"
    );
    assert_ne!(entra["check"]["status"], "fail", "{entra}");

    let audit = c.app.admin("GET", "/api/v1/audit", None).await.to_string();
    assert!(
        audit.contains(&format!("certificate {REGISTERED_THUMBPRINT} set")),
        "{audit}"
    );
    let logs = captured_logs();
    assert!(!audit.contains(key_line(REGISTERED_CERTIFICATE_PEM)));
    assert!(!logs.contains(key_line(REGISTERED_CERTIFICATE_PEM)));

    // Back to the secret: it replaces the certificate.
    let (status, view) = put_app(
        &c,
        json!({"client_id": MSP_CLIENT_ID, "client_secret": MSP_SECRET}),
    )
    .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["credential"], "secret", "{view}");
    assert_eq!(view["secret_set"], true, "{view}");
    assert!(view["certificate_thumbprint"].is_null(), "{view}");
    let names = jitgate::store::secrets::names(&c.app.db, jitgate::store::msp_app::SECRET_SCOPE)
        .await
        .unwrap();
    assert_eq!(names, [jitgate::store::msp_app::CLIENT_SECRET]);
}

#[tokio::test]
async fn unusable_certificates_are_refused_with_422_and_change_nothing() {
    let c = Consent::start().await;
    let before = c.app.admin("GET", "/api/v1/entra/app", None).await;
    assert_eq!(before["credential"], "secret", "{before}");
    let (certificate, _) = parts(REGISTERED_CERTIFICATE_PEM);
    let (_, other_key) = parts(UNREGISTERED_CERTIFICATE_PEM);
    let mismatched = format!("{certificate}{other_key}");
    let cases = [
        (
            json!({"client_id": MSP_CLIENT_ID, "client_certificate": "not a PEM"}),
            "client_certificate",
            "no PEM sections",
        ),
        (
            json!({"client_id": MSP_CLIENT_ID, "client_certificate": certificate}),
            "client_certificate",
            "no private key",
        ),
        (
            json!({"client_id": MSP_CLIENT_ID, "client_certificate": mismatched}),
            "client_certificate",
            "does not belong to the certificate",
        ),
        (
            json!({"client_id": MSP_CLIENT_ID, "client_secret": "s",
                "client_certificate": REGISTERED_CERTIFICATE_PEM}),
            "client_certificate",
            "not both",
        ),
        (
            json!({"client_id": MSP_CLIENT_ID}),
            "client_secret",
            "client_certificate",
        ),
    ];
    for (body, field, problem) in cases {
        let (status, answer) = put_app(&c, body.clone()).await;
        assert_eq!(status, 422, "{body}: {answer}");
        let message = answer["error"]["fields"][field]
            .as_str()
            .unwrap_or_default();
        assert!(message.contains(problem), "{body}: {answer}");
        let shown = answer.to_string();
        assert!(
            !shown.contains(key_line(UNREGISTERED_CERTIFICATE_PEM)),
            "{shown}"
        );
    }
    let after = c.app.admin("GET", "/api/v1/entra/app", None).await;
    assert_eq!(after, before);
    let secret = jitgate::store::secrets::get_string(
        &c.app.db,
        &c.app.keyring,
        jitgate::store::msp_app::SECRET_SCOPE,
        jitgate::store::msp_app::CLIENT_SECRET,
    )
    .await
    .unwrap();
    assert_eq!(secret.as_deref(), Some(MSP_SECRET));
}

#[tokio::test]
async fn a_certificate_not_registered_on_the_app_fails_the_credentials_check_with_the_upload_advice()
 {
    let c = Consent::start().await;
    // Connected through the MSP app with its secret, then switched to a certificate that was
    // never uploaded to the app registration.
    let (status, page) = c.open(&c.consent_url(&c.msp.customer_id).await).await;
    assert_eq!(status, 200, "{page}");
    set_certificate(&c, UNREGISTERED_CERTIFICATE_PEM).await;

    let answer = c
        .app
        .admin(
            "POST",
            &format!("/api/v1/customers/{}/entra/check", c.msp.customer_id),
            None,
        )
        .await;
    let entra = json!({ "check": answer });
    let credentials = check_named(&entra, "credentials");
    assert_eq!(credentials["status"], "fail", "{entra}");
    let detail = credentials["detail"].as_str().unwrap();
    assert!(detail.contains("AADSTS700027"), "{detail}");
    assert!(detail.contains("Certificates & secrets"), "{detail}");
    assert!(detail.contains("public part"), "{detail}");
    assert_eq!(entra["check"]["status"], "fail", "{entra}");
}

/// Runs `jitgate entra app set --client-id … <args>` against a fresh database in `dir`.
fn cli_set(dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_jitgate"))
        .args(["entra", "app", "set", "--client-id", MSP_CLIENT_ID])
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env(
            "JITGATE_DATABASE_URL",
            format!("sqlite://{}", dir.join("jitgate.db").display()),
        )
        .env("JITGATE_MASTER_KEY_FILE", dir.join("master.key"))
        .env("JITGATE_LOG_FILTER", "warn")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("the jitgate binary runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn the_cli_sets_the_msp_app_with_a_certificate_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("app.pem");
    std::fs::write(&good, REGISTERED_CERTIFICATE_PEM).unwrap();
    let (certificate, _) = parts(REGISTERED_CERTIFICATE_PEM);
    let (_, other_key) = parts(UNREGISTERED_CERTIFICATE_PEM);
    let bad = dir.path().join("mismatched.pem");
    std::fs::write(&bad, format!("{certificate}{other_key}")).unwrap();

    let (ok, text) = cli_set(dir.path(), &["--certificate-file", bad.to_str().unwrap()]);
    assert!(!ok, "{text}");
    assert!(
        text.contains("does not belong to the certificate"),
        "{text}"
    );
    assert!(
        !text.contains(key_line(UNREGISTERED_CERTIFICATE_PEM)),
        "{text}"
    );

    let (ok, text) = cli_set(dir.path(), &["--certificate-file", good.to_str().unwrap()]);
    assert!(ok, "{text}");
    assert!(text.contains(REGISTERED_THUMBPRINT), "{text}");
    assert!(
        !text.contains(key_line(REGISTERED_CERTIFICATE_PEM)),
        "{text}"
    );

    let database_url = format!("sqlite://{}", dir.path().join("jitgate.db").display());
    let db = jitgate::store::Db::connect(&database_url, 1).await.unwrap();
    let app = jitgate::store::msp_app::get(&db).await.unwrap().unwrap();
    assert_eq!(app.credential, "certificate");
    assert_eq!(
        app.certificate_thumbprint.as_deref(),
        Some(REGISTERED_THUMBPRINT)
    );
    let names = jitgate::store::secrets::names(&db, jitgate::store::msp_app::SECRET_SCOPE)
        .await
        .unwrap();
    assert_eq!(names, [jitgate::store::msp_app::CLIENT_CERTIFICATE]);
    db.close().await;
}
