//! The admin REST API under `/api/v1`, one router per resource; the OpenAPI document is built
//! from the same route table.

pub mod audit;
pub mod connectors;
pub mod customers;
pub mod grants;
pub mod technicians;
pub mod tokens;

use super::state::AppState;
use axum::routing::get;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

#[derive(OpenApi)]
#[openapi(
    info(title = "jitgate admin API", description = "Customers, Entra connections, technicians, delegations, PSA connectors, company mappings, grants and the audit trail."),
    servers((url = "/api/v1")),
    modifiers(&BearerAuth),
    tags((name = "customers"), (name = "technicians"), (name = "connectors"), (name = "grants"), (name = "audit"))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The API router (to be nested at `/api/v1`) and its OpenAPI document.
pub fn router() -> (axum::Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(customers::router())
        .merge(technicians::router())
        .merge(connectors::router())
        .merge(grants::router())
        .merge(audit::router())
        .merge(tokens::router())
        .split_for_parts();
    let json = doc
        .to_pretty_json()
        .expect("the OpenAPI document serializes");
    let router = router.route(
        "/openapi.json",
        get(move || async move { ([("content-type", "application/json")], json) }),
    );
    (router, doc)
}

/// The OpenAPI document as checked in at `openapi.json`.
pub fn openapi_json() -> String {
    router()
        .1
        .to_pretty_json()
        .expect("the OpenAPI document serializes")
        + "\n"
}
