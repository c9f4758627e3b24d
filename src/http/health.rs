//! `/healthz` (the process is up), `/readyz` (every worker and the sweeper run, and the
//! database answers and is migrated), `/metrics`.

use super::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// Not ready once a part that must keep running stopped (the process is then shutting down
/// to be restarted), naming it, so a load balancer stops sending webhooks that nothing would
/// act on.
async fn readyz(State(state): State<AppState>) -> (StatusCode, String) {
    let stopped = state.liveness.stopped();
    if !stopped.is_empty() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("stopped: {}\n", stopped.join(", ")),
        );
    }
    match state.db.ready().await {
        Ok(true) => (StatusCode::OK, "ready\n".into()),
        Ok(false) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "migrations pending\n".into(),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "database unreachable\n".into(),
            )
        }
    }
}

async fn metrics(State(state): State<AppState>) -> ([(&'static str, &'static str); 1], String) {
    (
        [(
            "content-type",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
