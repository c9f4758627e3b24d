//! The delivery log (issue 15): every answered delivery shows on
//! `GET /api/v1/connectors/{id}/deliveries` with its outcome and reason, written in the
//! background; bodies only while capture is on, redacted; trimmed to the configured maximum.

use crate::helpers::{TestApp, spawn_app_with};
use crate::world::eventually;
use jitgate_sim::autotask::{AutotaskSim, SeedTicket, SignatureForm};
use jitgate_sim::connectwise::SignedDelivery;
use serde_json::{Value, json};
use std::time::Duration;

struct Fixture {
    app: TestApp,
    at: AutotaskSim,
    connector: String,
}

async fn fixture(max_per_connector: u32) -> Fixture {
    let app = spawn_app_with(Box::new(move |c| {
        c.delivery_log_max_per_connector = max_per_connector
    }))
    .await;
    let at = AutotaskSim::start(None).await;
    let connector = app
        .admin(
            "POST",
            "/api/v1/connectors",
            Some(json!({"kind": "autotask", "name": "Autotask",
                "settings": at.connector_settings(json!({"udf": "Request JIT"})),
                "secrets": at.connector_secrets()})),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    at.add_ticket(SeedTicket::new(351181, 29683501).with_udf("Request JIT", Some("false")));
    Fixture { app, at, connector }
}

impl Fixture {
    async fn post(&self, delivery: &SignedDelivery) -> u16 {
        self.app
            .http
            .post(format!("{}/webhooks/{}", self.app.url, self.connector))
            .headers(delivery.header_map())
            .body(delivery.body.clone())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    async fn log(&self, query: &str) -> Value {
        self.app
            .admin(
                "GET",
                &format!("/api/v1/connectors/{}/deliveries{query}", self.connector),
                None,
            )
            .await
    }

    /// The log once it holds `n` deliveries (the writer is asynchronous).
    async fn log_with(&self, n: usize) -> Vec<Value> {
        eventually("the delivery log", Duration::from_secs(10), || async move {
            let log = self.log("").await;
            let items = log["deliveries"].as_array().unwrap().clone();
            (items.len() >= n).then_some(items)
        })
        .await
    }
}

#[tokio::test]
async fn refused_ignored_and_accepted_deliveries_show_with_their_reason() {
    let f = fixture(1000).await;
    let ignored =
        f.at.ticket_delivery(351181, 29682885, "Update", SignatureForm::RawBytes);
    assert_eq!(f.post(&ignored).await, 200);
    let mut forged =
        f.at.ticket_delivery(351181, 29682885, "Update", SignatureForm::RawBytes);
    forged.headers[1].1 = "sha1=UaDXFl2DRDu9dnINVkFle7y5uAE=".into();
    assert_eq!(f.post(&forged).await, 401);
    f.at.set_udf(351181, "Request JIT", Some("true"));
    let accepted =
        f.at.ticket_delivery(351181, 29682885, "Update", SignatureForm::RawBytes);
    assert_eq!(f.post(&accepted).await, 202);

    let log = f.log_with(3).await;
    let outcomes: Vec<&str> = log.iter().map(|d| d["outcome"].as_str().unwrap()).collect();
    assert_eq!(
        outcomes,
        ["accepted", "unauthorized", "ignored"],
        "newest first: {log:?}"
    );
    assert!(log[0]["request_id"].as_str().unwrap().starts_with("req_"));
    assert_eq!(log[0]["ticket_ref"], "351181");
    assert_eq!(log[0]["signature_form"], "raw");
    assert!(
        log[0]["event_id"]
            .as_str()
            .unwrap()
            .starts_with("a1da62a4-"),
        "{log:?}"
    );
    assert_eq!(
        log[1]["reason"], "X-Hook-Signature does not match the body",
        "the refusal says why: {log:?}"
    );
    assert_eq!(log[2]["reason"], "trigger cleared");
    assert!(
        log.iter().all(|d| d["body"].is_null()),
        "capture is off by default"
    );

    let refused = f.log("?outcome=unauthorized").await;
    assert_eq!(refused["deliveries"].as_array().unwrap().len(), 1);
    assert_eq!(refused["dropped"], 0);
    let (status, _) = f
        .app
        .request(
            "GET",
            &format!("/api/v1/connectors/{}/deliveries?outcome=lost", f.connector),
            Some(&f.app.admin_token),
            None,
        )
        .await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn the_autotask_signature_form_that_matched_is_logged() {
    let f = fixture(1000).await;
    let mut body = f.at.ticket_event_body(351181, 29682885, "Update");
    // Characters .NET escapes: only then do the two forms differ.
    body["Fields"]["Title"] = json!("Café & Co <urgent>");
    let escaped = f.at.sign(&body, SignatureForm::DotNetEscaped);
    assert_eq!(f.post(&escaped).await, 200);
    let log = f.log_with(1).await;
    assert_eq!(log[0]["outcome"], "ignored");
    assert_eq!(log[0]["signature_form"], "escaped", "{log:?}");
}

#[tokio::test]
async fn captured_bodies_are_redacted_and_capture_is_audited() {
    let f = fixture(1000).await;
    let on = f
        .app
        .admin(
            "PUT",
            &format!("/api/v1/connectors/{}/capture", f.connector),
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(on["enabled"], true);
    let mut body = f.at.ticket_event_body(351181, 29682885, "Update");
    body["Fields"]["ApiSecret"] = json!("do-not-keep-this-value");
    let delivery = f.at.sign(&body, SignatureForm::RawBytes);
    assert_eq!(f.post(&delivery).await, 200);
    let log = f.log_with(1).await;
    let kept = log[0]["body"].as_str().expect("captured body");
    assert!(
        kept.contains("351181") && kept.contains("[redacted]"),
        "{kept}"
    );
    assert!(!kept.contains("do-not-keep-this-value"), "{kept}");
    assert_eq!(f.log("").await["capture"], true);

    let audit = f.app.admin("GET", "/api/v1/audit?limit=20", None).await;
    assert!(
        audit.to_string().contains("connector.capture"),
        "turning capture on is audited: {audit}"
    );
    let (status, _) = f
        .app
        .request(
            "PUT",
            "/api/v1/connectors/con_missing/capture",
            Some(&f.app.admin_token),
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_log_keeps_at_most_the_configured_deliveries_per_connector() {
    let f = fixture(3).await;
    for _ in 0..6 {
        let d =
            f.at.ticket_delivery(351181, 29682885, "Update", SignatureForm::RawBytes);
        assert_eq!(f.post(&d).await, 200);
    }
    // The writer batches: wait until all six went through it, then the cap shows.
    eventually("the log trimmed to 3", Duration::from_secs(10), || async {
        let log = f.log("").await;
        let n = log["deliveries"].as_array().unwrap().len();
        (n == 3).then_some(())
    })
    .await;
    let newest = f.log("?limit=1").await;
    assert_eq!(newest["deliveries"].as_array().unwrap().len(), 1);
}
