//! Router, per-request bookkeeping (ids, latency, faults, log).

use super::*;

/// Correlation ids of the request being answered; every error body repeats them.
#[derive(Clone)]
pub(super) struct RequestIds {
    pub(super) request_id: String,
    pub(super) client_request_id: String,
}

pub(super) fn router(state: Shared) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/{tenant}/adminconsent", get(admin_consent))
        .route(BATCH_PATH, post(batch))
        .route("/v1.0/domains", get(list_domains))
        .route(
            "/v1.0/roleManagement/directory/roleDefinitions",
            get(list_role_definitions),
        )
        .route(
            "/v1.0/roleManagement/directory/roleDefinitions/{id}",
            get(get_role_definition),
        )
        .route("/v1.0/users", post(create_user).get(list_users))
        .route(
            "/v1.0/users/{id}",
            get(get_user).patch(update_user).delete(delete_user),
        )
        .route(
            "/v1.0/users/{id}/revokeSignInSessions",
            post(revoke_sessions),
        )
        .route(
            "/v1.0/users/{id}/authentication/temporaryAccessPassMethods",
            get(list_taps),
        )
        .route(
            "/v1.0/users/{id}/authentication/temporaryAccessPassMethods/{tap}",
            get(get_tap).delete(delete_tap),
        )
        .route(
            "/v1.0/roleManagement/directory/roleAssignments",
            get(list_assignments).post(create_assignment),
        )
        .route(
            "/v1.0/roleManagement/directory/roleAssignments/{id}",
            get(get_assignment).delete(delete_assignment),
        )
        .fallback(unknown_segment)
        .layer(middleware::from_fn_with_state(state.clone(), bookkeeping))
        .with_state(state)
}

/// Runs around every request: assigns `request-id`, applies latency, the pace and faults,
/// echoes `client-request-id`, counts Graph calls and records the request log. Requests
/// carried inside a `$batch` pass here too (marked [`BatchedRequest`]), without latency.
pub(super) async fn bookkeeping(
    State(app): State<Shared>,
    mut req: Request,
    next: Next,
) -> Response {
    let request_id = new_guid();
    let client_request_id_header = req
        .headers()
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let ids = RequestIds {
        request_id: request_id.clone(),
        // Graph generates one when the caller sent none.
        client_request_id: client_request_id_header
            .clone()
            .unwrap_or_else(|| request_id.clone()),
    };
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    let batched = req.extensions().get::<BatchedRequest>().is_some();

    let (latency, fault, verdict) = {
        let mut st = app.lock();
        let verdict = st.pace_verdict(&RequestFacts {
            method: &method,
            path: &path,
            query: query.as_deref(),
            bearer: bearer_token(req.headers()),
            batched,
        });
        let fixed = if batched { Duration::ZERO } else { st.latency };
        (
            fixed + verdict.latency,
            st.take_fault(&method, &path),
            verdict,
        )
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    req.extensions_mut().insert(ids.clone());
    req.extensions_mut().insert(verdict.ticket);

    let mut response = match (fault, verdict.throttle) {
        (Some(FaultKind::Throttle { retry_after_secs }), _) => {
            fault_response(&path, 429, Some(retry_after_secs), &ids)
        }
        (
            Some(FaultKind::Status {
                status,
                retry_after_secs,
            }),
            _,
        ) => fault_response(&path, status, retry_after_secs, &ids),
        (Some(FaultKind::Stall(delay)), _) => {
            tokio::time::sleep(delay).await;
            next.run(req).await
        }
        (None, Some(throttle)) => throttle_response(&path, &throttle, &ids),
        (None, None) => next.run(req).await,
    };

    let headers = response.headers_mut();
    headers.insert("request-id", header_value(&ids.request_id));
    headers.insert("client-request-id", header_value(&ids.client_request_id));
    let is_graph = path.starts_with("/v1.0/");
    if is_graph {
        headers.insert(
            "x-ms-ags-diagnostic",
            HeaderValue::from_static(r#"{"ServerInfo":{"DataCenter":"Sim","Slice":"E"}}"#),
        );
    }
    let mut st = app.lock();
    match (is_graph, batched) {
        (true, false) => st.graph_calls += 1,
        (true, true) => st.batched_requests += 1,
        _ => {}
    }
    st.log.push(LoggedRequest {
        method: method.to_string(),
        path,
        query,
        status: response.status().as_u16(),
        client_request_id: client_request_id_header,
        request_id,
        batched,
    });
    response
}

/// The bearer token of a request, if any (whether it is valid is the handlers' business).
pub(super) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// A 429 decided by the pace. A spent budget also names its scope and reason
/// (https://learn.microsoft.com/graph/throttling-limits, "Throttled responses requests").
pub(super) fn throttle_response(path: &str, throttle: &Throttle, ids: &RequestIds) -> Response {
    match throttle {
        Throttle::Random { retry_after_secs } => {
            fault_response(path, 429, Some(*retry_after_secs), ids)
        }
        Throttle::Budget(exceeded) => {
            let mut response = fault_response(path, 429, Some(exceeded.retry_after_secs), ids);
            let headers = response.headers_mut();
            headers.insert("x-ms-throttle-scope", header_value(&exceeded.scope()));
            headers.insert(
                "x-ms-throttle-information",
                HeaderValue::from_static(exceeded.information()),
            );
            response
        }
    }
}

pub(super) fn fault_response(
    path: &str,
    status: u16,
    retry_after: Option<u64>,
    ids: &RequestIds,
) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let mut response = if path.starts_with("/v1.0/") {
        let (code, message) = match status.as_u16() {
            429 => (
                "TooManyRequests",
                "Too many requests from Identifier:sim under category:throttled.Please try again later.",
            ),
            504 => ("GatewayTimeout", "The gateway did not receive a response."),
            _ => ("UnknownError", "Service unavailable."),
        };
        graph_error(status, code, message, ids)
    } else {
        aad_error(
            status,
            "temporarily_unavailable",
            90024,
            "Request budget exceeded. Try again.".into(),
            ids,
        )
    };
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header_value(&secs.to_string()));
    }
    response
}

pub(super) async fn unknown_segment(
    Extension(ids): Extension<RequestIds>,
    req: Request,
) -> Response {
    let segment = req
        .uri()
        .path()
        .rsplit('/')
        .next()
        .unwrap_or("")
        .to_string();
    graph_error(
        StatusCode::BAD_REQUEST,
        "BadRequest",
        &format!("Resource not found for the segment '{segment}'."),
        &ids,
    )
}
