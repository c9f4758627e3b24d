//! `POST /webhooks/{connector_id}` with a real ConnectWise simulator (HTTPS key URL, real
//! signatures): verify, decide, accept once.

use crate::helpers::{TestApp, spawn_app_with};
use jitgate::jobs::queue;
use jitgate::store::deliveries;
use jitgate_sim::connectwise::{ConnectWiseSim, SeedTicket};
use jitgate_sim::tls::TestCa;
use serde_json::json;

struct Fixture {
    app: TestApp,
    cw: ConnectWiseSim,
    connector_id: String,
    _ca: TestCa,
}

async fn fixture() -> Fixture {
    let ca = TestCa::generate();
    let ca_dir = tempfile::tempdir().unwrap().keep();
    let ca_file = ca.write_ca_file(&ca_dir);
    let cw = ConnectWiseSim::start(&ca).await;
    let app = spawn_app_with(Box::new(move |c| c.ca_file = Some(ca_file))).await;
    let connector = app
        .admin(
            "POST",
            "/api/v1/connectors",
            Some(json!({
                "kind": "connectwise",
                "name": "ConnectWise",
                "settings": cw.connector_settings(json!({"custom_field": "Request JIT"})),
                "secrets": cw.connector_secrets(),
            })),
        )
        .await;
    assert_eq!(connector["secrets"]["private_key"]["set"], true);
    assert!(!connector.to_string().contains(&cw.config().private_key));
    let connector_id = connector["id"].as_str().unwrap().to_string();
    assert_eq!(
        connector["webhook_url"],
        format!("{}/webhooks/{connector_id}", app.url)
    );
    cw.add_ticket(SeedTicket::new(1001, 250).with_custom_field(12, "Request JIT", json!(false)));
    cw.add_member("alice", "alice@msp.example");
    Fixture {
        app,
        cw,
        connector_id,
        _ca: ca,
    }
}

impl Fixture {
    async fn post(&self, headers: &[(String, String)], body: Vec<u8>) -> (u16, serde_json::Value) {
        let mut req = self
            .app
            .http
            .post(format!("{}/webhooks/{}", self.app.url, self.connector_id))
            .body(body);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(serde_json::Value::Null))
    }

    async fn requests(&self) -> i64 {
        deliveries::count_requests(&self.app.db, &self.connector_id)
            .await
            .unwrap()
    }

    async fn provision_jobs(&self) -> i64 {
        deliveries::queued_jobs(&self.app.db, queue::PROVISION)
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn a_signed_request_becomes_one_request_and_one_job_even_when_redelivered() {
    let f = fixture().await;
    f.cw.set_custom_field(1001, "Request JIT", json!(true), "alice");
    let delivery = f.cw.ticket_delivery(1001, "alice", "updated");
    let (status, body) = f.post(&delivery.headers, delivery.body.clone()).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "accepted");
    assert_eq!((f.requests().await, f.provision_jobs().await), (1, 1));

    let (status, body) = f.post(&delivery.headers, delivery.body.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "duplicate");
    assert_eq!((f.requests().await, f.provision_jobs().await), (1, 1));
}

#[tokio::test]
async fn a_ticket_update_that_leaves_the_trigger_set_does_not_request_again() {
    let f = fixture().await;
    f.cw.set_custom_field(1001, "Request JIT", json!(true), "alice");
    let first = f.cw.ticket_delivery(1001, "alice", "updated");
    assert_eq!(f.post(&first.headers, first.body).await.0, 202);
    // Another save of the same ticket (say, a status change) still shows the field true.
    f.cw.set_status(1001, "In Progress", "alice");
    let again = f.cw.ticket_delivery(1001, "alice", "updated");
    let (status, body) = f.post(&again.headers, again.body).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ignored");
    assert_eq!(f.requests().await, 1);

    // Once the field is seen cleared, setting it again is a new request.
    f.cw.set_custom_field(1001, "Request JIT", json!(false), "alice");
    let cleared = f.cw.ticket_delivery(1001, "alice", "updated");
    assert_eq!(f.post(&cleared.headers, cleared.body).await.0, 200);
    f.cw.set_custom_field(1001, "Request JIT", json!(true), "alice");
    let renewed = f.cw.ticket_delivery(1001, "alice", "updated");
    assert_eq!(f.post(&renewed.headers, renewed.body).await.0, 202);
    assert_eq!(f.requests().await, 2);
}

#[tokio::test]
async fn ordinary_ticket_updates_are_acknowledged_and_store_nothing() {
    let f = fixture().await;
    let delivery = f.cw.ticket_delivery(1001, "alice", "updated");
    let (status, body) = f.post(&delivery.headers, delivery.body).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ignored");
    assert_eq!((f.requests().await, f.provision_jobs().await), (0, 0));
    let metrics = f
        .app
        .http
        .get(format!("{}/metrics", f.app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(&format!(
            "connector=\"{}\",outcome=\"ignored\"",
            f.connector_id
        )),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_wrong_signature_is_401_and_stores_nothing() {
    let f = fixture().await;
    f.cw.set_custom_field(1001, "Request JIT", json!(true), "alice");
    let body = serde_json::to_vec(&f.cw.ticket_callback_body(1001, "alice", "updated")).unwrap();
    let forged = jitgate_sim::connectwise::signature("not-the-signing-key", &body);
    let (status, _) = f
        .post(&[("x-content-signature".into(), forged)], body.clone())
        .await;
    assert_eq!(status, 401);
    let (status, _) = f.post(&[], body).await;
    assert_eq!(status, 401, "a missing signature must be refused too");
    assert_eq!((f.requests().await, f.provision_jobs().await), (0, 0));
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx() {
    let f = fixture().await;
    // Signed correctly, but Entity is not the JSON string ConnectWise sends.
    let mut body = f.cw.ticket_callback_body(1001, "alice", "updated");
    body["Entity"] = json!(42);
    let signed = f.cw.sign(&body);
    let (status, resp) = f.post(&signed.headers, signed.body).await;
    assert_eq!(status, 400, "{resp}");

    let huge = vec![b'x'; 300 * 1024];
    let (status, _) = f.post(&[], huge).await;
    assert_eq!(status, 413);

    let (status, _) = f
        .app
        .request("POST", "/webhooks/con_unknown", None, Some(json!({})))
        .await;
    assert_eq!(status, 404);

    f.app
        .admin(
            "PATCH",
            &format!("/api/v1/connectors/{}", f.connector_id),
            Some(json!({"enabled": false})),
        )
        .await;
    let delivery = f.cw.ticket_delivery(1001, "alice", "updated");
    assert_eq!(
        f.post(&delivery.headers, delivery.body).await.0,
        404,
        "a disabled connector answers 404"
    );
    assert_eq!(f.requests().await, 0);
}

#[tokio::test]
async fn an_unreachable_signing_key_asks_connectwise_to_retry() {
    let f = fixture().await;
    f.cw.set_custom_field(1001, "Request JIT", json!(true), "alice");
    let delivery = f.cw.ticket_delivery(1001, "alice", "updated");
    f.cw.fail_key_fetches(1);
    let mut req = f
        .app
        .http
        .post(format!("{}/webhooks/{}", f.app.url, f.connector_id))
        .body(delivery.body.clone());
    for (k, v) in &delivery.headers {
        req = req.header(k, v);
    }
    let resp = req.send().await.unwrap();
    // ConnectWise retries 429 (not 401 or 5xx), so the request is not lost.
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "2");
    assert_eq!(f.requests().await, 0);
    assert_eq!(
        f.post(&delivery.headers, delivery.body).await.0,
        202,
        "the retry is accepted"
    );
}

/// Anyone who knows the webhook URL can post forgeries, each with a fresh key URL on the MSP's
/// site: jitgate fetches keys for at most a burst of them, answers the rest 429 (ConnectWise
/// retries 429), and a genuine callback retried once the budget refills is accepted.
#[tokio::test]
async fn a_flood_of_forged_callbacks_cannot_make_jitgate_hammer_the_connectwise_site() {
    use jitgate_connectors::connectwise::fetch_budget::{BURST, REFILL_EVERY};
    let f = std::sync::Arc::new(fixture().await);
    let flood = 2 * BURST as usize + 10;
    let started = std::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..flood {
        let body =
            serde_json::to_vec(&f.cw.ticket_callback_body(1001, "alice", "updated")).unwrap();
        let forged = jitgate_sim::connectwise::signature("guessed-signing-key", &body);
        let f = f.clone();
        tasks.spawn(async move {
            let resp = f
                .app
                .http
                .post(format!("{}/webhooks/{}", f.app.url, f.connector_id))
                .header("x-content-signature", forged)
                .body(body)
                .send()
                .await
                .unwrap();
            let retry_after = resp.headers().get("retry-after").cloned();
            (resp.status().as_u16(), retry_after)
        });
    }
    let (mut refused, mut retry) = (0, 0);
    while let Some(answer) = tasks.join_next().await {
        match answer.unwrap() {
            (401, _) => refused += 1,
            (429, Some(after)) => {
                assert_eq!(after, "2");
                retry += 1;
            }
            other => panic!("a forgery got {other:?}"),
        }
    }
    let refills = (started.elapsed().as_nanos() / REFILL_EVERY.as_nanos()) as usize;
    assert_eq!(refused + retry, flood);
    assert_eq!(
        f.cw.key_fetches(),
        refused,
        "one fetch per forgery let through"
    );
    assert!(
        refused >= BURST as usize && refused <= BURST as usize + refills,
        "{refused} key fetches for {flood} forgeries"
    );

    // A genuine request arriving now may be paused too (it cannot be told from a forgery before
    // its key is fetched); ConnectWise's retry after the refill is accepted.
    f.cw.set_custom_field(1001, "Request JIT", json!(true), "alice");
    let genuine = f.cw.ticket_delivery(1001, "alice", "updated");
    tokio::time::sleep(REFILL_EVERY).await;
    let (status, body) = f.post(&genuine.headers, genuine.body).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!((f.requests().await, f.provision_jobs().await), (1, 1));
}
