//! The console over HTTP (no browser): sign-in with a one-time link, sessions, CSRF, who sees
//! what, and the pages' forms going through the API's validation and audit.

use crate::helpers::{TestApp, spawn_app};
use jitgate::store;
use serde_json::json;

/// A browser stand-in: keeps the session cookie, never follows redirects (tests look at them),
/// and sends each form with the CSRF token of the page it came from.
pub struct ConsoleSession {
    pub http: reqwest::Client,
    pub url: String,
    pub cookie: String,
}

/// What a page answered.
pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
}

impl Page {
    /// The CSRF token of the page's forms.
    pub fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"_csrf\" value=\"")
            .expect("the page has a signed form");
        let rest = &self.body[at + "name=\"_csrf\" value=\"".len()..];
        rest[..rest.find('"').unwrap()].to_string()
    }
}

pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A one-time sign-in link for the technician with this email, as `jitgate admin login-link`
/// makes it (the path only).
pub async fn login_link_path(app: &TestApp, technician_id: &str, ttl_ms: i64) -> String {
    let mut tx = app.db.begin().await.unwrap();
    let token = store::sessions::create_link(&mut tx, technician_id, "test", ttl_ms)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    format!("/auth/link/{token}")
}

/// A technician (MSP admin when `admin`), returning their id.
pub async fn technician(app: &TestApp, email: &str, admin: bool) -> String {
    let t = app
        .admin(
            "POST",
            "/api/v1/technicians",
            Some(json!({ "email": email, "display_name": email.split('@').next().unwrap() })),
        )
        .await;
    let id = t["id"].as_str().unwrap().to_string();
    if admin {
        app.admin("PUT", &format!("/api/v1/technicians/{id}/admin"), None)
            .await;
    }
    id
}

impl ConsoleSession {
    /// Sign in as the technician through a one-time link.
    pub async fn sign_in(app: &TestApp, technician_id: &str) -> ConsoleSession {
        let http = no_redirects();
        let link = login_link_path(app, technician_id, 600_000).await;
        let resp = http
            .post(format!("{}{link}", app.url))
            .form(&[("next", "/console")])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 303, "signing in redirects");
        let cookie = session_cookie(&resp).expect("signing in sets the session cookie");
        ConsoleSession {
            http,
            url: app.url.clone(),
            cookie,
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        let resp = self
            .http
            .get(format!("{}{path}", self.url))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        page(resp).await
    }

    /// Post a form with the CSRF token of `from` (a page of this session).
    pub async fn post(&self, path: &str, from: &Page, fields: &[(&str, &str)]) -> Page {
        let csrf = from.csrf();
        let mut all: Vec<(&str, &str)> = vec![("_csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    /// Post exactly these fields (no CSRF token added).
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let resp = self
            .http
            .post(format!("{}{path}", self.url))
            .header("cookie", &self.cookie)
            .form(fields)
            .send()
            .await
            .unwrap();
        page(resp).await
    }
}

fn session_cookie(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("jitgate_session=") && !v.starts_with("jitgate_session=;"))
        .map(|v| v.split(';').next().unwrap().to_string())
}

async fn page(resp: reqwest::Response) -> Page {
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    Page {
        status,
        location,
        body: resp.text().await.unwrap(),
    }
}

async fn audit_actions(app: &TestApp) -> Vec<serde_json::Value> {
    app.admin("GET", "/api/v1/audit?limit=500", None)
        .await
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn a_one_time_link_signs_in_once_and_a_preview_does_not_spend_it() {
    let app = spawn_app().await;
    let alice = technician(&app, "alice@msp.example", true).await;
    let http = no_redirects();
    let link = login_link_path(&app, &alice, 600_000).await;

    // A chat client's preview fetches the link: it sees a button, nothing more.
    let preview = http.get(format!("{}{link}", app.url)).send().await.unwrap();
    assert_eq!(preview.status().as_u16(), 200);
    assert!(session_cookie(&preview).is_none());

    let used = http
        .post(format!("{}{link}", app.url))
        .form(&[("next", "/console/customers")])
        .send()
        .await
        .unwrap();
    assert_eq!(used.status().as_u16(), 303);
    assert_eq!(
        used.headers()["location"].to_str().unwrap(),
        "/console/customers"
    );
    let cookie = session_cookie(&used).unwrap();
    let set_cookie = used.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"));
    assert!(!set_cookie.contains("Secure"), "http public_url: no Secure");

    let again = http
        .post(format!("{}{link}", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 410, "a link works once");

    let console = http
        .get(format!("{}/console", app.url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(console.status().as_u16(), 200);
    let csp = console.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("default-src 'none'") && !csp.contains("unsafe-inline"));
    assert!(console.text().await.unwrap().contains("Dashboard"));

    let audit = audit_actions(&app).await;
    let sign_in = audit
        .iter()
        .find(|r| r["action"] == "auth.sign_in")
        .expect("sign-in is audited");
    assert!(sign_in["session_id"].as_str().unwrap().starts_with("ses_"));
    assert!(!serde_json::to_string(&audit).unwrap().contains(&link[11..]));
}

#[tokio::test]
async fn an_expired_or_forged_link_signs_no_one_in() {
    let app = spawn_app().await;
    let alice = technician(&app, "alice@msp.example", true).await;
    let http = no_redirects();
    let expired = login_link_path(&app, &alice, -1).await;
    let resp = http
        .post(format!("{}{expired}", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 410);
    assert!(session_cookie(&resp).is_none());
    let forged = "/auth/link/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let resp = http
        .post(format!("{}{forged}", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 410);
}

#[tokio::test]
async fn pages_without_a_session_send_the_browser_to_sign_in() {
    let app = spawn_app().await;
    let resp = no_redirects()
        .get(format!("{}/console/customers?q=x", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(
        resp.headers()["location"].to_str().unwrap(),
        "/auth/sign-in?next=%2Fconsole%2Fcustomers%3Fq%3Dx"
    );
}

#[tokio::test]
async fn a_form_without_its_csrf_token_or_from_another_site_changes_nothing() {
    let app = spawn_app().await;
    let alice = technician(&app, "alice@msp.example", true).await;
    let session = ConsoleSession::sign_in(&app, &alice).await;

    let refused = session
        .post_raw("/console/customers", &[("name", "Forged Ltd")])
        .await;
    assert_eq!(refused.status, 403);
    let from = session.get("/console/customers").await;
    let wrong = session
        .post_raw(
            "/console/customers",
            &[("_csrf", "not-the-token"), ("name", "Forged Ltd")],
        )
        .await;
    assert_eq!(wrong.status, 403);
    let cross_site = session
        .http
        .post(format!("{}/console/customers", app.url))
        .header("cookie", &session.cookie)
        .header("sec-fetch-site", "cross-site")
        .form(&[("_csrf", from.csrf().as_str()), ("name", "Forged Ltd")])
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status().as_u16(), 403);
    let customers = app.admin("GET", "/api/v1/customers", None).await;
    assert_eq!(
        customers.as_array().unwrap().len(),
        0,
        "nothing was created"
    );
}

#[tokio::test]
async fn after_sign_out_the_session_is_refused_everywhere() {
    let app = spawn_app().await;
    let alice = technician(&app, "alice@msp.example", true).await;
    let session = ConsoleSession::sign_in(&app, &alice).await;
    let page = session.get("/console").await;
    let out = session.post("/auth/sign-out", &page, &[]).await;
    assert_eq!(out.status, 303);
    // The same cookie, as another browser that copied it would send it.
    let after = session.get("/console").await;
    assert_eq!(after.status, 303);
    assert!(after.location.unwrap().starts_with("/auth/sign-in"));
    let audit = audit_actions(&app).await;
    assert!(audit.iter().any(|r| r["action"] == "auth.sign_out"));
}

#[tokio::test]
async fn adding_a_customer_uses_the_apis_validation_and_audit() {
    let app = spawn_app().await;
    let alice = technician(&app, "alice@msp.example", true).await;
    let session = ConsoleSession::sign_in(&app, &alice).await;
    let list = session.get("/console/customers").await;
    assert!(list.body.contains("No customers yet"));

    let blank = session
        .post("/console/customers", &list, &[("name", "   ")])
        .await;
    assert_eq!(blank.status, 422);
    assert!(blank.body.contains("Name must be 1 to 200 characters"));
    assert!(blank.body.contains("aria-invalid=\"true\""));

    let added = session
        .post(
            "/console/customers",
            &list,
            &[("name", "Fabrikam <script>alert(1)</script>")],
        )
        .await;
    assert_eq!(added.status, 303);
    let detail = session.get(added.location.as_deref().unwrap()).await;
    assert_eq!(detail.status, 200);
    assert!(detail.body.contains("Fabrikam &lt;script&gt;"), "escaped");
    assert!(!detail.body.contains("<script>alert"));

    let audit = audit_actions(&app).await;
    let created = audit
        .iter()
        .find(|r| r["action"] == "customer.create")
        .unwrap();
    assert_eq!(created["actor"], format!("technician:{alice}"));
    assert!(created["session_id"].as_str().unwrap().starts_with("ses_"));
}

#[tokio::test]
async fn a_customer_admin_sees_only_their_customers() {
    let app = spawn_app().await;
    let mine = app.create_customer("Contoso").await;
    let other = app.create_customer("Northwind").await;
    let bob = technician(&app, "bob@msp.example", false).await;
    let mut tx = app.db.begin().await.unwrap();
    store::technicians::add_customer_admin(&mut tx, &bob, &mine)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let session = ConsoleSession::sign_in(&app, &bob).await;

    let list = session.get("/console/customers").await;
    assert!(list.body.contains("Contoso"));
    assert!(!list.body.contains("Northwind"));
    assert!(
        !list.body.contains("Add a customer"),
        "only MSP admins add customers"
    );
    assert_eq!(
        session
            .get(&format!("/console/customers/{mine}"))
            .await
            .status,
        200
    );
    let refused = session.get(&format!("/console/customers/{other}")).await;
    assert_eq!(refused.status, 404);
    assert!(!refused.body.contains("Northwind"));
    let audit = session.get("/console/audit").await;
    assert!(!audit.body.contains(&other));
}

#[tokio::test]
async fn a_technician_without_admin_rights_is_kept_out_of_the_console() {
    let app = spawn_app().await;
    let carol = technician(&app, "carol@msp.example", false).await;
    let session = ConsoleSession::sign_in(&app, &carol).await;
    // The default landing sends them to their place, the portal (issue 14) …
    let landing = session.get("/console").await;
    assert_eq!(landing.status, 303);
    assert_eq!(landing.location.as_deref(), Some("/portal"));
    // … and every console page stays closed.
    let page = session.get("/console/customers").await;
    assert_eq!(page.status, 403);
    assert!(page.body.contains("without admin rights"));
}

#[tokio::test]
async fn the_audit_page_filters_and_exports_csv() {
    let app = spawn_app().await;
    let alice = technician(&app, "alice@msp.example", true).await;
    app.create_customer("Contoso").await;
    let session = ConsoleSession::sign_in(&app, &alice).await;
    let all = session.get("/console/audit").await;
    assert!(all.body.contains("customer.create") && all.body.contains("auth.sign_in"));
    let filtered = session.get("/console/audit?action=auth.sign_in").await;
    assert!(filtered.body.contains("auth.sign_in"));
    assert!(!filtered.body.contains("customer.create"));
    let bad = session.get("/console/audit?since=yesterday").await;
    assert_eq!(bad.status, 422);
    assert!(bad.body.contains("must be an RFC 3339 time"));
    let csv = session
        .get("/console/audit.csv?action=customer.create")
        .await;
    assert_eq!(csv.status, 200);
    let mut lines = csv.body.lines();
    assert!(lines.next().unwrap().starts_with("id,time_utc,actor"));
    let row = lines.next().unwrap();
    assert!(row.contains("customer.create"));
    assert!(lines.next().is_none());
}

/// `jitgate admin login-link` against the running app's database (on a blocking thread: the
/// in-process server must keep serving while the command waits for the database).
async fn login_link_cli(app: &TestApp, email: &str) -> std::process::Output {
    let (database_url, public_url, dir) = (
        app.config.database_url.clone(),
        app.url.clone(),
        app.dir.path().to_path_buf(),
    );
    let email = email.to_string();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_jitgate"))
            .args([
                "admin",
                "login-link",
                "--email",
                &email,
                "--valid-for",
                "5m",
            ])
            .current_dir(&dir)
            .env_clear()
            .env("JITGATE_DATABASE_URL", database_url)
            .env("JITGATE_PUBLIC_URL", public_url)
            .env("JITGATE_LOG_FILTER", "warn")
            .output()
            .expect("the jitgate binary starts")
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn the_cli_makes_the_first_msp_admin_and_a_link_that_signs_them_in() {
    let app = spawn_app().await;
    let out = login_link_cli(&app, "First@MSP.example").await;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    );
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stderr.contains("first MSP admin"), "{stderr}");
    let link = stdout.trim();
    assert!(
        link.starts_with(&format!("{}/auth/link/", app.url)),
        "{link}"
    );
    let technicians = app.admin("GET", "/api/v1/technicians", None).await;
    assert_eq!(technicians[0]["email"], "first@msp.example");
    assert_eq!(technicians[0]["is_admin"], true);

    let signed_in = no_redirects().post(link).send().await.unwrap();
    assert_eq!(signed_in.status().as_u16(), 303);
    assert!(session_cookie(&signed_in).is_some());

    // With an MSP admin present, an unknown email is not made one.
    let out = login_link_cli(&app, "stranger@elsewhere.example").await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no technician has the email"));
    let technicians = app.admin("GET", "/api/v1/technicians", None).await;
    assert_eq!(technicians.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_session_ends_after_its_idle_timeout() {
    use jitgate::domain::duration::DurationSetting;
    let app = crate::helpers::spawn_app_with(Box::new(|c: &mut jitgate::config::Config| {
        c.session_idle_timeout = DurationSetting::parse("1s").unwrap();
        c.session_max_age = DurationSetting::parse("1h").unwrap();
    }))
    .await;
    let alice = technician(&app, "alice@msp.example", true).await;
    let session = ConsoleSession::sign_in(&app, &alice).await;
    assert_eq!(session.get("/console").await.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let idle = session.get("/console").await;
    assert_eq!(idle.status, 303, "idled out");
    assert!(idle.location.unwrap().starts_with("/auth/sign-in"));
}

#[tokio::test]
async fn over_https_the_cookie_is_secure_and_host_only() {
    let app = crate::helpers::spawn_app_with(Box::new(|c: &mut jitgate::config::Config| {
        c.public_url = "https://jitgate.msp.example".parse().unwrap();
    }))
    .await;
    let alice = technician(&app, "alice@msp.example", true).await;
    let link = login_link_path(&app, &alice, 600_000).await;
    let resp = no_redirects()
        .post(format!("{}{link}", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    let set_cookie = resp.headers()["set-cookie"].to_str().unwrap();
    assert!(
        set_cookie.starts_with("__Host-jitgate_session="),
        "{set_cookie}"
    );
    assert!(
        set_cookie.contains("; Secure")
            && set_cookie.contains("HttpOnly")
            && set_cookie.contains("Path=/")
    );
}
