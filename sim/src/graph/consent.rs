//! A stand-in for Microsoft's admin-consent page (v1 style):
//! `GET /{tenant}/adminconsent?client_id=…&redirect_uri=…&state=…`.
//!
//! Microsoft signs the customer's administrator in, shows the app's permissions and sends the
//! browser back to `redirect_uri` with `admin_consent=True&tenant=<guid>&state=…`, or with
//! `error` and `error_description` when the administrator refuses
//! (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow,
//! "Request the permissions from a directory admin"). Requests it cannot trust to redirect
//! (unknown app, unregistered reply URL, unknown tenant) get an error page instead, as Entra
//! shows one. Here the sign-in and the choice are what the test configured
//! ([`GraphSim::set_consent_answer`], [`GraphSim::sign_in_admin_of`]).

use super::*;

pub(super) async fn admin_consent(
    State(app): State<Shared>,
    Extension(ids): Extension<RequestIds>,
    Path(tenant): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let params = query_params(raw.as_deref());
    let mut st = app.lock();
    let client_id = params.get("client_id").cloned().unwrap_or_default();
    if client_id.is_empty() {
        return error_page(
            900144,
            "The request body must contain the following parameter: 'client_id'.",
            &ids,
        );
    }
    let Some(registration) = st.app(&client_id).cloned() else {
        return error_page(
            700016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory \
                 '{tenant}'. This can happen if the application has not been installed by the \
                 administrator of the tenant or consented to by any user in the tenant."
            ),
            &ids,
        );
    };
    let redirect_uri = params.get("redirect_uri").cloned().unwrap_or_default();
    if !registration.redirect_uris.contains(&redirect_uri) {
        return error_page(
            50011,
            &format!(
                "The redirect URI '{redirect_uri}' specified in the request does not match the \
                 redirect URIs configured for the application '{client_id}'."
            ),
            &ids,
        );
    }
    let Ok(mut back) = url::Url::parse(&redirect_uri) else {
        return error_page(50011, "The redirect URI is not a valid URL.", &ids);
    };
    let signed_in = match tenant.to_ascii_lowercase().as_str() {
        "common" | "organizations" => st.consent_sign_in_tenant.clone(),
        _ => st.resolve_tenant(&tenant),
    };
    let Some(key) = signed_in else {
        return error_page(
            90002,
            &format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID."
            ),
            &ids,
        );
    };
    let t = st.tenants.get_mut(&key).expect("resolved tenant exists");
    {
        let mut query = back.query_pairs_mut();
        match &t.consent_answer {
            ConsentAnswer::Approve => {
                if !t
                    .consented_apps
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(&client_id))
                {
                    t.consented_apps.push(registration.client_id.clone());
                }
                query
                    .append_pair("admin_consent", "True")
                    .append_pair("tenant", &t.spec.tenant_id.to_ascii_lowercase());
            }
            ConsentAnswer::Refuse {
                error,
                error_description,
            } => {
                query
                    .append_pair("error", error)
                    .append_pair("error_description", error_description);
            }
        }
        if let Some(state) = params.get("state") {
            query.append_pair("state", state);
        }
    }
    let mut response = StatusCode::FOUND.into_response();
    response
        .headers_mut()
        .insert(header::LOCATION, header_value(back.as_str()));
    response
}

/// Entra's sign-in error page: shown to the person, never redirected anywhere.
fn error_page(code: u32, text: &str, ids: &RequestIds) -> Response {
    let body = format!(
        "<!DOCTYPE html><html><head><title>Sign in to your account</title></head><body>\
         <h1>Sorry, but we're having trouble signing you in.</h1>\
         <p>AADSTS{code}: {}</p><p>Correlation ID: {}</p></body></html>",
        escape(text),
        ids.client_request_id
    );
    let mut response = (StatusCode::BAD_REQUEST, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
