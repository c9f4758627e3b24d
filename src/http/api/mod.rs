//! The admin REST API under `/api/v1`, one router per resource; the OpenAPI document is built
//! from the same route table. Every operation in it takes a bearer token (the [`Caller`]
//! extractor): [`ProtectedOperations`] declares that, and the 401 and 403 answers that come with
//! it, on every operation at once. `/openapi.json` itself is public and not in the document.
//!
//! [`Caller`]: super::extract::Caller

pub mod audit;
pub mod connectors;
pub mod customers;
pub mod entra;
pub mod grants;
pub mod groups;
pub mod roles;
pub mod technicians;
pub mod tokens;

use super::error::ErrorBody;
use super::state::AppState;
use axum::http::StatusCode;
use axum::routing::get;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    Content, HeaderBuilder, ObjectBuilder, Ref, RefOr, Response, ResponseBuilder, Type,
};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

#[derive(OpenApi)]
#[openapi(
    info(title = "jitgate admin API", description = "Customers, Entra connections, technicians, delegations, technician groups and role mappings, PSA connectors, company mappings, grants and the audit trail."),
    servers((url = "/api/v1")),
    modifiers(&BearerAuth),
    tags((name = "customers"), (name = "technicians"), (name = "groups"), (name = "entra"), (name = "connectors"), (name = "grants"), (name = "audit"))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The name of the security scheme [`BearerAuth`] declares.
const BEARER: &str = "bearer";

/// Every operation: `security: [{bearer: []}]`, and the answers the [`Caller`] extractor and
/// `require_admin` give in the app's error shape: 401 (no, malformed, unknown or revoked token,
/// with `WWW-Authenticate: Bearer`) and 403 (a delegated token on an admin-only operation).
/// Applied to the merged document, after every router has added its paths, so no handler's
/// attribute has to repeat it. Also fills in response descriptions left empty (OpenAPI requires
/// one on every response).
///
/// [`Caller`]: super::extract::Caller
struct ProtectedOperations;

impl Modify for ProtectedOperations {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
                &mut item.query,
            ];
            operations
                .into_iter()
                .flatten()
                .chain(item.additional_operations.values_mut())
                .for_each(protect);
        }
    }
}

fn protect(operation: &mut Operation) {
    // One scheme, required everywhere: set rather than merged, so no operation can end up
    // documented as open while the extractor refuses it.
    operation.security = Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]);
    let responses = &mut operation.responses.responses;
    responses.insert("401".into(), unauthorized().into());
    // A handler may have declared its own 403 with words of its own; keep those.
    let described_403 = matches!(
        responses.get("403"),
        Some(RefOr::T(r)) if !r.description.is_empty()
    );
    if !described_403 {
        responses.insert("403".into(), forbidden().into());
    }
    for (status, response) in responses.iter_mut() {
        if let RefOr::T(response) = response
            && response.description.is_empty()
        {
            response.description = reason_phrase(status);
        }
    }
}

fn error_content() -> Content {
    use utoipa::ToSchema;
    Content::new(Some(Ref::from_schema_name(ErrorBody::name())))
}

fn unauthorized() -> Response {
    let challenge = HeaderBuilder::new()
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .description(Some("`Bearer`"))
        .build();
    ResponseBuilder::new()
        .description("No bearer token, or one that is malformed, unknown or revoked")
        .content("application/json", error_content())
        .header("WWW-Authenticate", challenge)
        .build()
}

fn forbidden() -> Response {
    ResponseBuilder::new()
        .description(
            "The token may not do this: operations that span customers need an admin token",
        )
        .content("application/json", error_content())
        .build()
}

fn reason_phrase(status: &str) -> String {
    status
        .parse::<u16>()
        .ok()
        .and_then(|code| StatusCode::from_u16(code).ok())
        .and_then(|code| code.canonical_reason())
        .unwrap_or("Response")
        .to_string()
}

/// The API router (to be nested at `/api/v1`) and its OpenAPI document.
pub fn router() -> (axum::Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(customers::router())
        .merge(entra::router())
        .merge(technicians::router())
        .merge(groups::router())
        .merge(connectors::router())
        .merge(grants::router())
        .merge(audit::router())
        .merge(tokens::router())
        .merge(roles::router())
        .split_for_parts();
    ProtectedOperations.modify(&mut doc);
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn every_operation_declares_the_bearer_token_401_and_403() {
        let doc: Value = serde_json::from_str(&openapi_json()).unwrap();
        let mut operations = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let what = format!("{method} {path}");
                operations += 1;
                assert_eq!(op["security"], json!([{"bearer": []}]), "{what}");
                let responses = op["responses"].as_object().unwrap();
                for status in ["401", "403"] {
                    assert_eq!(
                        responses[status]["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ErrorBody",
                        "{what} {status}"
                    );
                }
                assert_eq!(
                    responses["401"]["headers"]["WWW-Authenticate"]["schema"]["type"], "string",
                    "{what}"
                );
                for (status, response) in responses {
                    assert!(
                        response["description"]
                            .as_str()
                            .is_some_and(|d| !d.is_empty()),
                        "{what} {status} has no description"
                    );
                }
            }
        }
        assert!(operations >= 20, "only {operations} operations");
        assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
        // The document describes the API, not itself: /openapi.json stays public.
        assert!(doc["paths"].get("/openapi.json").is_none());
    }
}
