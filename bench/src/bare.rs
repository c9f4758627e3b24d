//! The baseline: a bare axum handler that reads the same body jitgate reads and answers 200
//! with a body of the same shape, run as its own process (like jitgate) so both get the same
//! share of the machine against the same load generator.

use axum::Json;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::json;

/// Serve on 127.0.0.1 (a free port), print `listening <addr>` on stdout, run until killed.
pub fn serve() -> std::io::Result<()> {
    // Same runtime shape as jitgate's `#[tokio::main]`: multi-threaded, one worker per core.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("listening {}", listener.local_addr()?);
        let app = axum::Router::new()
            .route("/webhooks/{connector_id}", post(handler))
            .layer(axum::extract::DefaultBodyLimit::max(256 * 1024));
        axum::serve(listener, app).await
    })
}

async fn handler(
    Path(_connector): Path<String>,
    body: Bytes,
) -> (StatusCode, Json<serde_json::Value>) {
    let _ = body.len();
    (
        StatusCode::OK,
        Json(json!({ "status": "ignored", "reason": "not a JIT request" })),
    )
}
