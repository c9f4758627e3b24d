//! Health, readiness, metrics and the OpenAPI document.

use crate::helpers::spawn_app;

#[tokio::test]
async fn health_ready_and_metrics() {
    let app = spawn_app().await;
    let (status, _) = app.request("GET", "/healthz", None, None).await;
    assert_eq!(status, 200);
    let (status, _) = app.request("GET", "/readyz", None, None).await;
    assert_eq!(status, 200);
    let resp = app
        .http
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(text.contains("jitgate_grants_started_total"), "{text}");
}

#[tokio::test]
async fn graceful_shutdown_stops_serving() {
    let app = spawn_app().await;
    let url = app.url.clone();
    app.stop().await;
    assert!(
        reqwest::get(format!("{url}/healthz")).await.is_err(),
        "still serving after shutdown"
    );
}

#[tokio::test]
async fn every_response_has_a_request_id() {
    let app = spawn_app().await;
    let resp = app
        .http
        .get(format!("{}/healthz", app.url))
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("x-request-id").is_some());
}

/// The served document must equal the checked-in `openapi.json`; regenerate it with
/// `cargo run -- openapi > openapi.json`.
#[tokio::test]
async fn openapi_document_is_in_sync() {
    let app = spawn_app().await;
    let served = app
        .http
        .get(format!("{}/api/v1/openapi.json", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let checked_in =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json")).unwrap();
    assert_eq!(
        served.trim_end(),
        checked_in.trim_end(),
        "openapi.json is stale: run `cargo run -- openapi > openapi.json`"
    );
    let doc: serde_json::Value = serde_json::from_str(&served).unwrap();
    assert!(doc["paths"]["/customers/{id}/entra"]["put"].is_object());
}
