//! The credential page over real HTTP, with links from notes the ConnectWise simulator got and
//! passwords the Graph simulator got.

use crate::helpers::captured_logs;
use crate::world::{self, World, WorldOptions, eventually};
use jitgate::store::{accounts, secrets};
use serde_json::Value;
use std::time::Duration;
use totp_rs::{Builder, Secret, Totp};

pub const USER_AGENT: &str = "jitgate-it/1.0 (credential page test)";

/// One answer of the page.
pub struct Page {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    /// The text of the element with this id (its first text node), HTML entities decoded.
    pub fn text_of(&self, id: &str) -> Option<String> {
        text_of(&self.body, id)
    }

    /// Neither the secret nor its HTML-escaped form appears anywhere in the answer.
    pub fn assert_without(&self, secret: &str, what: &str) {
        assert!(
            !self.body.contains(secret) && !self.body.contains(&escape(secret)),
            "{what} must not be in this page:\n{}",
            self.body
        );
    }
}

pub fn text_of(html: &str, id: &str) -> Option<String> {
    let start = html.find(&format!(" id=\"{id}\""))?;
    let open_end = start + html[start..].find('>')? + 1;
    let close = open_end + html[open_end..].find('<')?;
    Some(unescape(&html[open_end..close]))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// Every answer of the credential page carries these (errors and assets included).
pub fn assert_page_headers(page: &Page, what: &str) {
    let h = |name: &str| {
        page.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{what}: missing {name}"))
            .to_string()
    };
    assert_eq!(h("cache-control"), "no-store", "{what}");
    assert_eq!(h("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(h("x-frame-options"), "DENY", "{what}");
    assert_eq!(h("x-content-type-options"), "nosniff", "{what}");
    let csp = h("content-security-policy");
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(
            csp.contains(directive),
            "{what}: CSP lacks {directive}: {csp}"
        );
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{what}: {csp}"
    );
}

/// A client that behaves like a browser on the page: no redirects followed, a known UA.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(USER_AGENT)
        .build()
        .unwrap()
}

pub async fn fetch(method: &str, url: &str, form: Option<&[(&str, &str)]>) -> Page {
    let mut req = client().request(method.parse().unwrap(), url);
    if let Some(form) = form {
        req = req.form(form);
    }
    let resp = req.send().await.expect("the page answers");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.text().await.unwrap();
    let page = Page {
        status,
        headers,
        body,
    };
    assert_page_headers(&page, &format!("{method} {url}"));
    page
}

async fn reveal(link: &str) -> Page {
    fetch("POST", &format!("{link}/reveal"), Some(&[])).await
}

async fn save_totp(link: &str, key: &str, code: &str) -> Page {
    fetch(
        "POST",
        &format!("{link}/totp"),
        Some(&[("key", key), ("code", code)]),
    )
    .await
}

/// A request on `ticket` in a fresh world; returns the link from its note and the password
/// the Graph simulator received.
async fn requested(w: &World, ticket: u64) -> (String, String) {
    assert_eq!(w.request_on_ticket(ticket, "alice").await, 202);
    let notes = w.notes(ticket, 1).await;
    let link = w.link_in(notes.last().unwrap());
    let password = w
        .graph
        .user_by_upn(world::TENANT, &w.jit_upn())
        .unwrap()
        .password
        .expect("Graph got a password");
    (link, password)
}

async fn audit_rows(w: &World, action: &str) -> Vec<Value> {
    let rows = w
        .app
        .admin("GET", &format!("/api/v1/audit?action={action}"), None)
        .await;
    rows.as_array().unwrap().clone()
}

/// A fresh random TOTP key as base32, and the totp-rs instance to compute its codes.
pub fn new_totp_key() -> (String, Totp) {
    let bytes: [u8; 20] = rand::random();
    let base32 = Secret::from(bytes).to_base32();
    let totp = Builder::new().with_secret(bytes).build().unwrap();
    (base32, totp)
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The code the page shows must be totp-rs's code at some moment between `before` and
/// `after` (a step boundary may fall in between).
pub fn assert_code_matches(shown: &str, totp: &Totp, before: u64, after: u64) {
    let expected: Vec<String> = (before..=after)
        .map(|t| totp.generate(t).to_string())
        .collect();
    assert!(
        expected.iter().any(|c| c == shown),
        "page shows {shown:?}, totp-rs gives {expected:?}"
    );
}

#[tokio::test]
async fn get_never_reveals_and_reveals_are_limited_counted_and_audited() {
    let w = World::new().await;
    let (link, password) = requested(&w, 2001).await;
    let token = link.rsplit('/').next().unwrap().to_string();

    for _ in 0..2 {
        let page = fetch("GET", &link, None).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(
            page.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        page.assert_without(&password, "the password (GET)");
        assert_eq!(page.text_of("customer").as_deref(), Some("Fabrikam"));
        assert_eq!(page.text_of("upn"), Some(w.jit_upn()));
        assert!(page.body.contains("UTC"), "shows the end time in UTC");
        assert!(page.body.contains(r#"<form method="post" action="/c/"#));
        assert!(page.body.contains("3 of 3 reveals left"), "{}", page.body);
    }

    for n in 1..=3 {
        let page = reveal(&link).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert_eq!(
            page.text_of("password").as_deref(),
            Some(password.as_str()),
            "reveal {n} shows what Graph received"
        );
        assert_eq!(page.text_of("upn"), Some(w.jit_upn()));
        assert!(
            page.body.contains(&format!("Reveal {n} of 3")),
            "{}",
            page.body
        );
        assert!(
            page.text_of("totp-none").is_some(),
            "no TOTP key stored yet"
        );
    }

    // Spent: the POST and the GET say so plainly, without the secret.
    let spent = reveal(&link).await;
    assert_eq!(spent.status, 410);
    assert!(spent.body.contains("used up"), "{}", spent.body);
    spent.assert_without(&password, "the password (spent link)");
    let spent_get = fetch("GET", &link, None).await;
    assert_eq!(spent_get.status, 410);
    assert!(spent_get.body.contains("used up"));
    assert!(
        !spent_get.body.contains("id=\"reveal\""),
        "no Reveal button on a spent link"
    );

    // Three reveals audited with IP and user agent; the fourth attempt refused and audited.
    let rows = audit_rows(&w, "credential.reveal").await;
    let ok: Vec<&Value> = rows.iter().filter(|r| r["outcome"] == "ok").collect();
    let refused: Vec<&Value> = rows.iter().filter(|r| r["outcome"] == "refused").collect();
    assert_eq!(ok.len(), 3, "{rows:#?}");
    assert_eq!(refused.len(), 1, "{rows:#?}");
    for row in &rows {
        assert_eq!(row["ip"], "127.0.0.1");
        assert_eq!(row["user_agent"], USER_AGENT);
        assert_eq!(row["customer_id"], w.customer_id.as_str());
        assert_eq!(row["technician_id"], w.technician_id.as_str());
        assert_eq!(row["account_upn"], w.jit_upn().as_str());
        assert_eq!(row["ticket_ref"], "2001");
        assert!(row["grant_id"].as_str().is_some());
        assert!(row["at"].as_i64().unwrap() > 0);
    }
    let mut details: Vec<String> = ok
        .iter()
        .map(|r| r["detail"].as_str().unwrap().to_string())
        .collect();
    details.sort();
    assert!(details[0].starts_with("reveal 1 of 3") && details[2].starts_with("reveal 3 of 3"));
    assert!(refused[0]["detail"].as_str().unwrap().contains("spent"));

    let metrics = w
        .app
        .http
        .get(format!("{}/metrics", w.app.url))
        .send()
        .await
        .unwrap();
    let metrics = metrics.text().await.unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.contains("credential_reveals_total") && l.ends_with(" 3")),
        "{metrics}"
    );

    let logs = captured_logs();
    assert!(!logs.contains(&token), "a link token reached a log line");
    assert!(!logs.contains(&password), "a password reached a log line");
    let rows = w.app.admin("GET", "/api/v1/audit?limit=500", None).await;
    let rows = rows.to_string();
    assert!(!rows.contains(&token) && !rows.contains(&password));
}

#[tokio::test]
async fn concurrent_reveals_never_exceed_the_limit() {
    let w = World::new().await;
    let (link, _) = requested(&w, 2101).await;
    let answers = futures::future::join_all((0..8).map(|_| reveal(&link))).await;
    let mut statuses: Vec<u16> = answers.iter().map(|p| p.status).collect();
    statuses.sort();
    assert_eq!(statuses, vec![200, 200, 200, 410, 410, 410, 410, 410]);
    let mut counts: Vec<String> = answers
        .iter()
        .filter(|p| p.status == 200)
        .map(|p| {
            ["Reveal 1 of 3", "Reveal 2 of 3", "Reveal 3 of 3"]
                .into_iter()
                .find(|t| p.body.contains(t))
                .unwrap()
                .to_string()
        })
        .collect();
    counts.sort();
    assert_eq!(counts, ["Reveal 1 of 3", "Reveal 2 of 3", "Reveal 3 of 3"]);
    let rows = audit_rows(&w, "credential.reveal").await;
    assert_eq!(rows.iter().filter(|r| r["outcome"] == "ok").count(), 3);
}

#[tokio::test]
async fn unknown_and_superseded_links_answer_clearly_without_secrets() {
    let w = World::new().await;
    let (first, password) = requested(&w, 3001).await;

    // Unknown: a well-formed token nobody issued, a malformed one, a path below a link.
    let unknown = format!("{}/c/{}", w.app.url, jitgate::crypto::random_token());
    for (method, url) in [
        ("GET", unknown.clone()),
        ("POST", format!("{unknown}/reveal")),
        ("POST", format!("{unknown}/totp")),
        ("GET", format!("{}/c/not-a-token", w.app.url)),
        ("GET", format!("{first}/something/else")),
    ] {
        let page = fetch(method, &url, (method == "POST").then_some(&[][..])).await;
        assert_eq!(page.status, 404, "{method} {url}");
        assert!(
            page.body.contains("This link is not valid"),
            "{}",
            page.body
        );
        page.assert_without(&password, "the password (unknown link)");
    }

    // A repeat request on another ticket extends the grant with a new link; the first dies.
    assert_eq!(w.request_on_ticket(3002, "alice").await, 202);
    let second = w.link_in(&w.notes(3002, 1).await[0]);
    assert_ne!(first, second);
    for page in [fetch("GET", &first, None).await, reveal(&first).await] {
        assert_eq!(page.status, 410);
        assert!(
            page.body.contains("This link was replaced"),
            "{}",
            page.body
        );
        assert!(page.body.contains("most recent"), "says what to do");
        page.assert_without(&password, "the password (superseded link)");
    }
    let page = reveal(&second).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.text_of("password"), Some(password.clone()));
    assert_eq!(w.graph.users(world::TENANT).len(), 1, "still one account");

    let refused = audit_rows(&w, "credential.reveal").await;
    assert!(
        refused
            .iter()
            .any(|r| r["outcome"] == "refused"
                && r["detail"].as_str().unwrap().contains("superseded"))
    );
}

#[tokio::test]
async fn ended_grants_close_their_links() {
    let w = World::new().await;
    let (link, password) = requested(&w, 4001).await;
    let grant_id = w.grants().await[0]["id"].as_str().unwrap().to_string();
    w.app
        .admin("POST", &format!("/api/v1/grants/{grant_id}/end"), None)
        .await;
    eventually("the grant to end", Duration::from_secs(30), || async {
        let g = w
            .app
            .admin("GET", &format!("/api/v1/grants/{grant_id}"), None)
            .await;
        g["ended_at"].as_i64()
    })
    .await;
    for page in [fetch("GET", &link, None).await, reveal(&link).await] {
        assert_eq!(page.status, 410);
        assert!(page.body.contains("Access has ended"), "{}", page.body);
        assert!(page.body.contains("UTC"), "says when");
        page.assert_without(&password, "the password (ended grant)");
    }
    let (key, totp) = new_totp_key();
    let page = save_totp(&link, &key, &totp.generate_current().to_string()).await;
    assert_eq!(page.status, 410, "an ended grant stores no TOTP key");
}

#[tokio::test]
async fn expired_links_answer_gone_before_the_end_is_verified() {
    // The sweeper passes once at start, then not for an hour: the grant stays past expiry and
    // not yet ended, the window this state is about.
    let w = World::with(WorldOptions {
        sweep_interval: "1h",
        ..Default::default()
    })
    .await;
    let (link, password) = requested(&w, 5001).await;
    let grant_id = w.grants().await[0]["id"].as_str().unwrap().to_string();
    let past = jitgate::store::now_ms() - 60_000;
    jitgate::on_db!(&w.app.db, pool => sqlx::query("UPDATE grants SET expires_at = $1 WHERE id = $2")
        .bind(past).bind(&grant_id).execute(pool).await.unwrap().rows_affected());
    for page in [fetch("GET", &link, None).await, reveal(&link).await] {
        assert_eq!(page.status, 410);
        assert!(page.body.contains("Access has expired"), "{}", page.body);
        page.assert_without(&password, "the password (expired grant)");
    }
    let rows = audit_rows(&w, "credential.reveal").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["outcome"], "refused");
}

#[tokio::test]
async fn headers_on_every_answer_assets_and_redirects() {
    let w = World::new().await;
    let (link, _) = requested(&w, 6001).await;
    let base = format!("{}/c/assets", w.app.url);
    for (name, content_type) in [
        ("page.css", "text/css"),
        ("page.js", "text/javascript"),
        ("icon.svg", "image/svg+xml"),
    ] {
        let page = fetch("GET", &format!("{base}/{name}"), None).await;
        assert_eq!(page.status, 200, "{name}");
        assert!(
            page.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with(content_type),
            "{name}"
        );
    }
    assert_eq!(
        fetch("GET", &format!("{base}/nope.js"), None).await.status,
        404
    );

    // Reloading a result page goes back to the link page; nothing is revealed by GET.
    for suffix in ["reveal", "totp"] {
        let page = fetch("GET", &format!("{link}/{suffix}"), None).await;
        assert_eq!(page.status, 303);
        assert_eq!(
            page.headers["location"],
            link.strip_prefix(&w.app.url).unwrap()
        );
    }
    assert_eq!(fetch("PUT", &link, None).await.status, 405);
    let bad_form = client()
        .post(format!("{link}/totp"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    let page = Page {
        status: bad_form.status().as_u16(),
        headers: bad_form.headers().clone(),
        body: bad_form.text().await.unwrap(),
    };
    assert_page_headers(&page, "a bad form");
    assert!(page.status == 400 || page.status == 415, "{}", page.status);

    // No inline script or style anywhere (the CSP would block it anyway).
    let landing = fetch("GET", &link, None).await;
    let revealed = reveal(&link).await;
    for page in [&landing, &revealed] {
        assert!(!page.body.contains("<script>") && !page.body.contains(" style="));
        assert!(!page.body.contains("<style") && !page.body.contains("onclick"));
        assert!(page.body.contains("<html lang=\"en\">"));
    }
}

#[tokio::test]
async fn totp_keys_are_checked_sealed_audited_and_shown_on_reveal() {
    let w = World::new().await;
    let (link, _) = requested(&w, 7001).await;
    let account_id = w.grants().await[0]["account_id"]
        .as_str()
        .unwrap()
        .to_string();
    let scope = accounts::secret_scope(&account_id);
    let stored = || async {
        secrets::get_string(&w.app.db, &w.app.keyring, &scope, accounts::TOTP_KEY)
            .await
            .unwrap()
    };
    let (key, totp) = new_totp_key();

    // A wrong code stores nothing and echoes nothing.
    let right = totp.generate_current().to_string();
    let wrong = format!(
        "{:06}",
        (right.parse::<u32>().unwrap() + 500_000) % 1_000_000
    );
    let page = save_totp(&link, &key, &wrong).await;
    assert_eq!(page.status, 422);
    assert!(page.body.contains("does not match"), "{}", page.body);
    page.assert_without(&key, "the submitted key");
    assert_eq!(stored().await, None);
    // So do a key that is not one and a missing code.
    let page = save_totp(&link, "not a key!", &right).await;
    assert_eq!(page.status, 422);
    assert!(page.body.contains("neither a base32"), "{}", page.body);
    assert_eq!(save_totp(&link, &key, "").await.status, 422);
    assert_eq!(stored().await, None);
    let refused = audit_rows(&w, "totp.set").await;
    assert_eq!(refused.len(), 1, "the wrong code is audited");
    assert_eq!(refused[0]["outcome"], "refused");

    // The right code stores the key: sealed, no reveal spent, the page shows its code.
    let before = unix_now();
    let lowercase_grouped = key
        .to_lowercase()
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(" ");
    let page = save_totp(
        &link,
        &lowercase_grouped,
        &totp.generate_current().to_string(),
    )
    .await;
    let after = unix_now();
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Authenticator key saved"));
    assert_code_matches(&page.text_of("totp-code").unwrap(), &totp, before, after);
    page.assert_without(&key, "the key");
    assert_eq!(stored().await.as_deref(), Some(key.as_str()));
    if !w.app.is_postgres() {
        let file = w.app.sqlite_bytes();
        assert!(
            !file.windows(key.len()).any(|win| win == key.as_bytes()),
            "the TOTP key is in the SQLite file in plaintext"
        );
    }

    let before = unix_now();
    let page = reveal(&link).await;
    let after = unix_now();
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("Reveal 1 of 3"),
        "saving spent no reveal"
    );
    assert_code_matches(&page.text_of("totp-code").unwrap(), &totp, before, after);
    let seconds: u64 = page.text_of("totp-seconds").unwrap().parse().unwrap();
    assert!((1..=30).contains(&seconds));

    // Replacing it with an otpauth link is audited as a replacement.
    let (key2, totp2) = new_totp_key();
    let uri = format!(
        "otpauth://totp/Microsoft:{}?secret={key2}&issuer=Microsoft",
        w.jit_upn()
    );
    let page = save_totp(&link, &uri, &totp2.generate_current().to_string()).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("replaced"));
    let before = unix_now();
    let page = reveal(&link).await;
    let after = unix_now();
    assert_code_matches(&page.text_of("totp-code").unwrap(), &totp2, before, after);

    let rows = audit_rows(&w, "totp.set").await;
    let ok: Vec<&Value> = rows.iter().filter(|r| r["outcome"] == "ok").collect();
    assert_eq!(ok.len(), 2);
    assert!(
        ok.iter()
            .any(|r| r["detail"].as_str().unwrap().starts_with("replaced"))
    );
    assert!(
        ok.iter()
            .all(|r| r["ip"] == "127.0.0.1" && r["user_agent"] == USER_AGENT)
    );
    let all = w
        .app
        .admin("GET", "/api/v1/audit?limit=500", None)
        .await
        .to_string();
    assert!(
        !all.contains(&key) && !all.contains(&key2),
        "no key in the audit trail"
    );
    let logs = captured_logs();
    assert!(
        !logs.contains(&key) && !logs.contains(&key2),
        "no key in a log line"
    );
}
