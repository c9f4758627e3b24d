//! HTTP: the admin API, webhooks, the credential page, health and metrics.

pub mod api;
pub mod auth;
pub mod consent;
pub mod console;
pub mod credential;
pub mod error;
pub mod extract;
pub mod health;
pub mod pages;
pub mod portal;
pub mod session;
pub mod state;
pub mod webhooks;

use axum::Router;
use axum::http::{HeaderName, Request};
use state::AppState;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn router(state: AppState) -> Router {
    let (api, _) = api::router();
    Router::new()
        .nest("/api/v1", api)
        .merge(health::router())
        .merge(webhooks::router())
        .merge(credential::router())
        .merge(
            Router::new()
                .merge(pages::router())
                .merge(consent::router())
                .merge(auth::router())
                .merge(console::router())
                .merge(portal::router())
                .layer(axum::middleware::map_response_with_state(
                    state.clone(),
                    pages::security_headers,
                )),
        )
        .with_state(state)
        .layer(
            tower::ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                    let id = req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
                    // The path only (query strings can carry tokens), and a credential link's
                    // token blanked out.
                    let path = credential::loggable_path(req.uri().path());
                    tracing::info_span!("http", request_id = %id, method = %req.method(), path = %path)
                }))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID)),
        )
}
