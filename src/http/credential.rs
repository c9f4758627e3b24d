//! The credential page behind the link in a ticket note (`{public_url}/c/{token}`).
//!
//! | route | what it does |
//! | --- | --- |
//! | `GET /c/{token}` | customer, account, end of access and a Reveal button; never a secret (link scanners and unfurlers only GET) |
//! | `POST /c/{token}/reveal` | spends one reveal (audited with IP and user agent) and shows the password, the current TOTP code and the time left |
//! | `POST /c/{token}/totp` | stores or replaces the account's TOTP key after checking a current code from it; spends no reveal, needs a valid link |
//! | `GET /c/{token}/reveal`, `GET /c/{token}/totp` | 303 back to the link page (a bookmarked or reloaded result page) |
//! | `GET /c/assets/{name}` | the stylesheet, script and icon, shipped in the binary |
//!
//! Status codes, the same on every route: **200** the page; **404** unknown link (or a token
//! that cannot be one); **410 Gone** a known link that can no longer reveal: superseded by a
//! newer link, its grant ended or expired, or its reveals used up (the page says which);
//! **422** a TOTP form that failed validation; **400** an unreadable form; **500** our fault.
//! No answer other than a successful reveal or TOTP save carries a secret, and every answer
//! carries the headers of [`security_headers`].

mod page;

use super::error::AppError;
use super::extract::ClientInfo;
use super::session::{NoSession, SignedIn};
use super::state::AppState;
use crate::domain::totp::{Code, TotpKey};
use crate::store::links::{self, LinkState, LinkView, TotpSaved};
use crate::store::{accounts, now_ms};
use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{any, get};
use page::{Ctx, TotpFormErrors};
use serde::Deserialize;
use std::borrow::Cow;

/// `default-src 'none'` and only what the page needs from its own origin: no inline script or
/// style, no framing, forms post only back here.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const PAGE_CSS: &str = include_str!("credential/assets/page.css");
const PAGE_JS: &str = include_str!("credential/assets/page.js");
const ICON_SVG: &str = include_str!("credential/assets/icon.svg");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/c/assets/{name}", get(asset))
        .route("/c/{token}", get(landing))
        .route("/c/{token}/reveal", get(back_to_link).post(reveal))
        .route("/c/{token}/totp", get(back_to_link).post(save_totp))
        .route("/c/{token}/{*rest}", any(not_found))
        .layer(axum::middleware::map_response(security_headers))
}

/// Added to every response of the page, errors and assets included.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = |headers: &mut axum::http::HeaderMap, name: HeaderName, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    // A revealed password must not survive in any cache, including the back button's.
    set(headers, header::CACHE_CONTROL, "no-store");
    set(headers, header::CONTENT_SECURITY_POLICY, CSP);
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(
        headers,
        HeaderName::from_static("x-robots-tag"),
        "noindex, nofollow",
    );
    set(
        headers,
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    response
}

/// The request path for logs, with a link's token replaced: the token opens the password.
pub fn loggable_path(path: &str) -> Cow<'_, str> {
    match path.strip_prefix("/c/") {
        Some(rest) if !rest.starts_with("assets/") && !rest.is_empty() => {
            let tail = rest.find('/').map(|i| &rest[i..]).unwrap_or("");
            Cow::Owned(format!("/c/{{token}}{tail}"))
        }
        _ => Cow::Borrowed(path),
    }
}

/// Tokens are 32 random bytes in URL-safe base64 without padding (`crypto::random_token`);
/// anything else is unknown without asking the database.
fn plausible_token(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn base(state: &AppState) -> &str {
    state.config.public_url.path().trim_end_matches('/')
}

fn html(status: StatusCode, body: String) -> Response {
    (status, Html(body)).into_response()
}

/// 404 for no link, 410 for a known link that cannot reveal.
fn dead_link(state: &AppState, link: Option<&LinkView>) -> Response {
    let link_state = link.map(LinkView::state);
    let status = match link_state {
        None => StatusCode::NOT_FOUND,
        Some(_) => StatusCode::GONE,
    };
    html(status, page::dead(base(state), link_state, link))
}

/// An [`AppError`] as a page: logged as the error type logs it, shown without detail.
fn error_page(state: &AppState, error: AppError) -> Response {
    let status = error.into_response().status();
    let (title, message) = if status.is_server_error() {
        (
            "Something went wrong",
            "jitgate could not show this page. Try again in a moment; if it keeps happening, tell your jitgate administrator.",
        )
    } else {
        (
            "This request could not be read",
            "Go back to the link from the ticket note and try again.",
        )
    };
    html(status, page::problem(base(state), title, message))
}

async fn find_link(state: &AppState, token: &str) -> Result<Option<LinkView>, AppError> {
    if !plausible_token(token) {
        return Ok(None);
    }
    Ok(links::find(&state.db, token).await?)
}

async fn landing(
    State(state): State<AppState>,
    Path(token): Path<String>,
    client: ClientInfo,
    signed_in: Result<SignedIn, NoSession>,
) -> Response {
    if state.config.links_need_sign_in() {
        return through_portal(&state, &token, client, signed_in).await;
    }
    match find_link(&state, &token).await {
        Ok(Some(link)) if link.state() == LinkState::Valid => {
            let ctx = Ctx {
                base: base(&state),
                token: &token,
            };
            html(StatusCode::OK, page::landing(&ctx, &link, now_ms(), None))
        }
        Ok(link) => dead_link(&state, link.as_ref()),
        Err(e) => error_page(&state, e),
    }
}

async fn reveal(
    State(state): State<AppState>,
    Path(token): Path<String>,
    client: ClientInfo,
    signed_in: Result<SignedIn, NoSession>,
) -> Response {
    if state.config.links_need_sign_in() {
        return through_portal(&state, &token, client, signed_in).await;
    }
    match try_reveal(&state, &token, client).await {
        Ok(response) => response,
        Err(e) => error_page(&state, e),
    }
}

async fn try_reveal(
    state: &AppState,
    token: &str,
    client: ClientInfo,
) -> Result<Response, AppError> {
    let Some(link) = find_link(state, token).await? else {
        return Ok(dead_link(state, None));
    };
    let audit = link
        .audit("credential.reveal", "ok")
        .client(client.ip.clone(), client.user_agent.clone());
    if link.state() != LinkState::Valid {
        return refuse_reveal(state, &link, client).await;
    }
    // Read the secrets before spending: a reveal that could not show them must not count.
    let password = accounts::password(&state.db, &state.keyring, &link.account_id).await?;
    let codes = accounts::totp_key(&state.db, &state.keyring, &link.account_id)
        .await?
        .map(|key| key.codes_from_now(crate::domain::totp::CODES_AHEAD));
    let Some(used) = links::consume_reveal(&state.db, &link, &audit).await? else {
        // Spent, superseded or ended between the read and the write: show what it is now.
        let now = links::find(&state.db, token).await?;
        return match now {
            Some(link) => refuse_reveal(state, &link, client).await,
            None => Ok(dead_link(state, None)),
        };
    };
    state.metrics.reveals.inc();
    tracing::info!(grant = %link.grant_id, link = %link.link_id, reveal = used, "credential revealed");
    let ctx = Ctx {
        base: base(state),
        token,
    };
    Ok(html(
        StatusCode::OK,
        page::revealed(&ctx, &link, now_ms(), used, &password, codes.as_deref()),
    ))
}

/// With sign-in required, a link only says which grant it is: its own technician, signed in,
/// is sent to that grant in the portal (where revealing is counted and audited as here);
/// anyone else sees whose access it is and nothing more, and the attempt is audited.
async fn through_portal(
    state: &AppState,
    token: &str,
    client: ClientInfo,
    signed_in: Result<SignedIn, NoSession>,
) -> Response {
    let link = match find_link(state, token).await {
        Ok(Some(link)) if link.state() == LinkState::Valid => link,
        // A dead link is dead for everyone: no sign-in needed to learn that.
        Ok(link) => return dead_link(state, link.as_ref()),
        Err(e) => return error_page(state, e),
    };
    let signed_in = match signed_in {
        Ok(s) => s,
        // Back to the portal, not to this link: the token would otherwise sit in plain text
        // in the sign-in attempt's row (tokens are stored only as hashes) and in the URL.
        Err(NoSession::SignIn { .. }) => {
            return Redirect::to(&format!("{}/auth/sign-in?next=%2Fportal", base(state)))
                .into_response();
        }
        Err(NoSession::Internal(e)) => return error_page(state, e),
    };
    if signed_in.session.technician_id == link.technician_id {
        return Redirect::to(&format!(
            "{}/portal/tenants/{}",
            base(state),
            link.customer_id
        ))
        .into_response();
    }
    let mut entry = link
        .audit("credential.reveal", "refused")
        .client(client.ip, client.user_agent)
        .session(&signed_in.session.id)
        .detail(format!(
            "opened by {}, not the grant's technician; link {}",
            signed_in.session.email, link.link_id
        ));
    // The one who tried, not the one whose grant it is.
    entry.actor = format!("technician:{}", signed_in.session.technician_id);
    if let Err(e) = crate::store::audit::record_event(&state.db, &entry).await {
        return error_page(state, e.into());
    }
    html(
        StatusCode::FORBIDDEN,
        page::problem(
            base(state),
            "This access is someone else's",
            &format!(
                "This JIT access in {} belongs to {}. Only they can see its credentials, \
                 signed in to jitgate as themselves. Your attempt was recorded.",
                link.customer_name, link.technician_name
            ),
        ),
    )
}

/// A known link that may not reveal: audit the attempt (who tried a stale link matters) and
/// say plainly why.
async fn refuse_reveal(
    state: &AppState,
    link: &LinkView,
    client: ClientInfo,
) -> Result<Response, AppError> {
    let why = match link.state() {
        LinkState::Spent => "link spent",
        LinkState::Superseded => "link superseded",
        LinkState::Ended => "grant ended",
        LinkState::Expired => "grant expired",
        LinkState::Valid => "link changed while revealing",
    };
    let entry = link
        .audit("credential.reveal", "refused")
        .client(client.ip, client.user_agent)
        .detail(format!("{why}; link {}", link.link_id));
    crate::store::audit::record_event(&state.db, &entry).await?;
    Ok(dead_link(state, Some(link)))
}

#[derive(Debug, Deserialize)]
struct TotpForm {
    #[serde(default)]
    key: String,
    #[serde(default)]
    code: String,
}

async fn save_totp(
    State(state): State<AppState>,
    Path(token): Path<String>,
    client: ClientInfo,
    signed_in: Result<SignedIn, NoSession>,
    form: Result<Form<TotpForm>, FormRejection>,
) -> Response {
    if state.config.links_need_sign_in() {
        return through_portal(&state, &token, client, signed_in).await;
    }
    let result = match form {
        Ok(Form(form)) => try_save_totp(&state, &token, client, form).await,
        Err(rejection) => Err(AppError::BadRequest(rejection.body_text())),
    };
    result.unwrap_or_else(|e| error_page(&state, e))
}

async fn try_save_totp(
    state: &AppState,
    token: &str,
    client: ClientInfo,
    form: TotpForm,
) -> Result<Response, AppError> {
    let Some(link) = find_link(state, token).await? else {
        return Ok(dead_link(state, None));
    };
    if link.state() != LinkState::Valid {
        return Ok(dead_link(state, Some(&link)));
    }
    let ctx = Ctx {
        base: base(state),
        token,
    };
    let invalid = |errors: TotpFormErrors| {
        html(
            StatusCode::UNPROCESSABLE_ENTITY,
            page::landing(&ctx, &link, now_ms(), Some(&errors)),
        )
    };
    let key = match TotpKey::parse(&form.key) {
        Ok(key) => key,
        Err(e) => {
            return Ok(invalid(TotpFormErrors {
                key: Some(e.to_string()),
                code: None,
            }));
        }
    };
    if form.code.trim().is_empty() {
        return Ok(invalid(TotpFormErrors {
            key: None,
            code: Some("Enter the code your authenticator app shows now for this key.".into()),
        }));
    }
    if !key.confirms(&form.code) {
        let entry = link
            .audit("totp.set", "refused")
            .client(client.ip, client.user_agent)
            .detail(format!(
                "confirmation code did not match; link {}",
                link.link_id
            ));
        crate::store::audit::record_event(&state.db, &entry).await?;
        return Ok(invalid(TotpFormErrors {
            key: None,
            code: Some(
                "This code does not match the key. Paste the key again (it is not kept after a failed try) and enter the code your app shows now; codes change every 30 seconds."
                    .into(),
            ),
        }));
    }
    let audit = link
        .audit("totp.set", "ok")
        .client(client.ip, client.user_agent);
    let replaced =
        match links::save_totp_key(&state.db, &state.keyring, &link, key.normalized(), &audit)
            .await?
        {
            TotpSaved::Stored => false,
            TotpSaved::Replaced => true,
            TotpSaved::LinkNotValid => {
                let now = links::find(&state.db, token).await?;
                return Ok(dead_link(state, now.as_ref()));
            }
        };
    tracing::info!(grant = %link.grant_id, link = %link.link_id, replaced, "TOTP key saved");
    let codes: Vec<Code> = key.codes_from_now(crate::domain::totp::CODES_AHEAD);
    Ok(html(
        StatusCode::OK,
        page::totp_saved(&ctx, &link, now_ms(), replaced, &codes),
    ))
}

/// A reloaded or bookmarked result page goes back to the link page (never re-reveals).
async fn back_to_link(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    if !plausible_token(&token) {
        return dead_link(&state, None);
    }
    Redirect::to(&format!("{}/c/{token}", base(&state))).into_response()
}

async fn not_found(State(state): State<AppState>) -> Response {
    dead_link(&state, None)
}

async fn asset(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let (content_type, body) = match name.as_str() {
        "page.css" => ("text/css; charset=utf-8", PAGE_CSS),
        "page.js" => ("text/javascript; charset=utf-8", PAGE_JS),
        "icon.svg" => ("image/svg+xml", ICON_SVG),
        _ => return dead_link(&state, None),
    };
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_never_reach_a_log_line() {
        let token = "a".repeat(43);
        assert_eq!(loggable_path(&format!("/c/{token}")), "/c/{token}");
        assert_eq!(
            loggable_path(&format!("/c/{token}/reveal")),
            "/c/{token}/reveal"
        );
        assert_eq!(loggable_path("/c/assets/page.css"), "/c/assets/page.css");
        assert_eq!(loggable_path("/api/v1/grants"), "/api/v1/grants");
    }

    #[test]
    fn only_token_shaped_paths_are_looked_up() {
        assert!(plausible_token(&crate::crypto::random_token()));
        assert!(!plausible_token("assets"));
        assert!(!plausible_token(&"a".repeat(44)));
        assert!(!plausible_token(&format!("{}=", "a".repeat(42))));
    }
}
