//! What every browser page of jitgate shares (sign-in, console, and the portal to come): the
//! HTML shell rendered with maud (every value escaped by construction), the assets served from
//! the binary, the security headers, and errors as pages.

use super::error::AppError;
use super::session::{CSRF_FIELD, FormRefused, NoSession, SignedIn};
use super::state::AppState;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use maud::{DOCTYPE, Markup, PreEscaped, html};

/// No inline script or style anywhere: everything comes from `/assets/`. Forms post only to
/// jitgate, and to the Entra login endpoint: **Authorize** posts here and is redirected there,
/// and browsers apply `form-action` to a form's redirects too.
fn csp(state: &AppState) -> String {
    let login = state.config.login_url.origin().ascii_serialization();
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
         connect-src 'self'; form-action 'self' {login}; frame-ancestors 'none'; base-uri 'none'"
    )
}

const APP_CSS: &str = include_str!("pages/app.css");
const APP_JS: &str = include_str!("pages/app.js");
const ICON_SVG: &str = include_str!("credential/assets/icon.svg");

pub fn router() -> Router<AppState> {
    Router::new().route("/assets/{name}", get(asset))
}

async fn asset(Path(name): Path<String>) -> Response {
    let (content_type, body) = match name.as_str() {
        "app.css" => ("text/css; charset=utf-8", APP_CSS),
        "app.js" => ("text/javascript; charset=utf-8", APP_JS),
        "icon.svg" => ("image/svg+xml", ICON_SVG),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

/// Added to every page response, errors and redirects included.
pub async fn security_headers(State(state): State<AppState>, mut response: Response) -> Response {
    let headers = response.headers_mut();
    if let Ok(policy) = HeaderValue::from_str(&csp(&state)) {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    // Pages show tenants, people and audit rows: keep them out of shared caches and the back
    // button after sign-out (assets set their own policy).
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    for (name, value) in [
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Path prefix of `public_url` (empty at the root), so links work behind a proxy that serves
/// jitgate under a sub-path.
pub fn base(state: &AppState) -> String {
    state
        .config
        .public_url
        .path()
        .trim_end_matches('/')
        .to_string()
}

/// The document around a page's content.
pub fn document(base: &str, title: &str, body_class: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · jitgate" }
                link rel="icon" href={ (base) "/assets/icon.svg" } type="image/svg+xml";
                link rel="stylesheet" href={ (base) "/assets/app.css" };
                script src={ (base) "/assets/app.js" } defer {}
            }
            body class=(body_class) {
                a class="skip" href="#main" { "Skip to content" }
                (content)
            }
        }
    }
}

/// The hidden CSRF field of a signed-in form.
pub fn csrf(signed_in: &SignedIn) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(signed_in.csrf); }
}

/// A page on its own (sign-in, errors): a centred card.
pub fn card_page(base: &str, title: &str, content: Markup) -> Markup {
    document(
        base,
        title,
        "plain",
        html! {
            main id="main" class="card" {
                p class="brand-line" {
                    img src={ (base) "/assets/icon.svg" } alt="" width="28" height="28";
                    span { "jitgate" }
                }
                (content)
            }
        },
    )
}

/// A page's HTML with its status.
pub fn respond(status: StatusCode, markup: Markup) -> Response {
    (status, maud_html(markup)).into_response()
}

fn maud_html(markup: Markup) -> axum::response::Html<String> {
    axum::response::Html(markup.into_string())
}

/// Inline markup that is already safe (fixed text of jitgate's own).
pub fn trusted(text: &'static str) -> PreEscaped<&'static str> {
    PreEscaped(text)
}

/// Why a page could not be shown, as a page (or a redirect to sign-in).
#[derive(Debug)]
pub enum PageError {
    SignIn {
        next: String,
    },
    /// Signed in, but this is not theirs to see.
    Forbidden(String),
    NotFound(String),
    /// A form that did not come from jitgate's own page.
    Forged,
    BadRequest(String),
    App(AppError),
}

impl From<AppError> for PageError {
    fn from(e: AppError) -> Self {
        PageError::App(e)
    }
}

impl From<crate::store::StoreError> for PageError {
    #[track_caller]
    fn from(e: crate::store::StoreError) -> Self {
        PageError::App(AppError::from(e))
    }
}

impl From<NoSession> for PageError {
    fn from(e: NoSession) -> Self {
        match e {
            NoSession::SignIn { next } => PageError::SignIn { next },
            NoSession::Internal(e) => PageError::App(e),
        }
    }
}

impl From<FormRefused> for PageError {
    fn from(e: FormRefused) -> Self {
        match e {
            FormRefused::NoSession(e) => e.into(),
            FormRefused::Forged => PageError::Forged,
            FormRefused::Malformed(m) => PageError::BadRequest(m),
        }
    }
}

impl IntoResponse for NoSession {
    fn into_response(self) -> Response {
        PageError::from(self).into_response()
    }
}

impl IntoResponse for FormRefused {
    fn into_response(self) -> Response {
        PageError::from(self).into_response()
    }
}

/// Where sign-in sends the browser back to: only a path of jitgate's own (never another site).
pub fn safe_next(next: &str) -> &str {
    let own_path = next.starts_with('/') && !next.starts_with("//") && !next.contains('\\');
    if own_path { next } else { "/console" }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, message) = match self {
            PageError::SignIn { next } => {
                let target = format!(
                    "/auth/sign-in?next={}",
                    url::form_urlencoded::byte_serialize(safe_next(&next).as_bytes())
                        .collect::<String>()
                );
                return Redirect::to(&target).into_response();
            }
            PageError::Forbidden(m) => (StatusCode::FORBIDDEN, "Not yours to see", m),
            PageError::NotFound(m) => (StatusCode::NOT_FOUND, "Not found", m),
            PageError::Forged => (
                StatusCode::FORBIDDEN,
                "This form was not sent from jitgate",
                "Nothing was changed. Open the page again and send the form from there (forms \
                 expire when you sign out)."
                    .into(),
            ),
            PageError::BadRequest(m) => {
                (StatusCode::BAD_REQUEST, "This request could not be read", m)
            }
            PageError::App(e) => {
                e.log_if_internal();
                let (status, _, message) = e.parts();
                let title = match status {
                    StatusCode::NOT_FOUND => "Not found",
                    StatusCode::FORBIDDEN => "Not yours to see",
                    s if s.is_server_error() => "Something went wrong",
                    _ => "That did not work",
                };
                let message = if status.is_server_error() && status != StatusCode::BAD_GATEWAY {
                    "jitgate could not show this page. Try again in a moment; if it keeps \
                     happening, the server log has the details."
                        .to_string()
                } else {
                    message
                };
                (status, title, message)
            }
        };
        respond(
            status,
            card_page(
                "",
                title,
                html! {
                    h1 { (title) }
                    p { (message) }
                    p { a href="/console" { "Back to the console" } }
                },
            ),
        )
    }
}
