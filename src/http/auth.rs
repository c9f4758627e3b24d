//! `/auth/...`: signing in to the console (and the portal) and out again.
//!
//! * `GET /auth/sign-in`: how to sign in here.
//! * `GET /auth/link/{token}`, `POST /auth/link/{token}`: a one-time sign-in link from
//!   `jitgate admin login-link`. Opening it only shows a button; the POST signs in. Chat and
//!   mail clients fetch links to preview them, and a GET that signed in would be spent (or
//!   worse, signed in) by the preview.
//! * `POST /auth/sign-out`.

use super::extract::ClientInfo;
use super::pages::{PageError, card_page, respond, safe_next};
use super::session::{self, SignedForm};
use super::state::AppState;
use crate::domain::lifecycle::SignInMethod;
use crate::domain::time::utc;
use crate::store::{self, audit::AuditEntry, now_ms};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::html;
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/sign-in", get(sign_in_page))
        .route("/auth/oidc/start", get(oidc_start))
        .route("/auth/oidc/callback", get(oidc_callback))
        .route("/auth/link/{token}", get(link_page).post(use_link))
        .route("/auth/sign-out", post(sign_out))
}

#[derive(Deserialize, Default)]
pub struct Next {
    next: Option<String>,
    signed_out: Option<String>,
}

/// A form with nothing but its CSRF token.
#[derive(Deserialize)]
pub struct NoFields {}

async fn sign_in_page(State(state): State<AppState>, Query(q): Query<Next>) -> Response {
    let base = super::pages::base(&state);
    let markup = card_page(
        &base,
        "Sign in",
        html! {
            h1 { "Sign in to jitgate" }
            @if q.signed_out.is_some() {
                p class="banner ok" role="status" { "You are signed out." }
            }
            @if state.config.sign_in_issuer.is_some() {
                p {
                    a class="button primary" id="oidc-sign-in" href={ (base) "/auth/oidc/start?next=" (url_encode(safe_next(q.next.as_deref().unwrap_or("/console")))) } {
                        "Sign in with " (state.config.sign_in_label)
                    }
                }
                p class="muted" { "Or, when that is not possible:" }
            }
            p {
                "Ask an MSP admin of this jitgate for a one-time sign-in link. On the server, "
                "an administrator makes one with:"
            }
            pre class="command" { code { "jitgate admin login-link --email you@your-msp.example" } }
            p class="muted" {
                "A link works once, for a few minutes, and only for the technician it names."
            }
        },
    );
    respond(StatusCode::OK, markup)
}

fn link_dead_page(base: &str) -> Response {
    respond(
        StatusCode::GONE,
        card_page(
            base,
            "Sign-in link not valid",
            html! {
                h1 { "This sign-in link no longer works" }
                p {
                    "It was used already, or it expired. Each link works once, for a few minutes. "
                    "Ask for a new one (" code { "jitgate admin login-link --email …" } ")."
                }
            },
        ),
    )
}

/// Plausible tokens only reach the database (see `crypto::random_token`).
fn plausible(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

async fn link_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(q): Query<Next>,
) -> Result<Response, PageError> {
    let base = super::pages::base(&state);
    if !plausible(&token) || !store::sessions::link_is_valid(&state.db, &token).await? {
        return Ok(link_dead_page(&base));
    }
    let next = safe_next(q.next.as_deref().unwrap_or("/console"));
    let markup = card_page(
        &base,
        "Sign in",
        html! {
            h1 { "Sign in to jitgate" }
            p { "This one-time link signs you in on this browser." }
            form method="post" action={ (base) "/auth/link/" (token) } {
                input type="hidden" name="next" value=(next);
                button type="submit" class="primary" id="sign-in" { "Sign in" }
            }
        },
    );
    Ok(respond(StatusCode::OK, markup))
}

#[derive(Deserialize)]
struct LinkForm {
    next: Option<String>,
}

async fn use_link(
    State(state): State<AppState>,
    Path(token): Path<String>,
    client: ClientInfo,
    body: axum::body::Bytes,
) -> Result<Response, PageError> {
    // Whatever the body holds, the link alone decides; `next` is only where to go after.
    let form: LinkForm = serde_urlencoded::from_bytes(&body).unwrap_or(LinkForm { next: None });
    let base = super::pages::base(&state);
    if !plausible(&token) {
        return Ok(link_dead_page(&base));
    }
    let mut tx = state.db.begin().await?;
    let Some(link) = store::sessions::take_link(&mut tx, &token).await? else {
        return Ok(link_dead_page(&base));
    };
    if link.expires_at <= now_ms() {
        // The expired link is gone now too (taking it deleted it).
        tx.commit().await?;
        return Ok(link_dead_page(&base));
    }
    let technician = match store::technicians::get(&state.db, &link.technician_id).await {
        Ok(t) => t,
        Err(store::StoreError::NotFound) => {
            tx.commit().await?;
            return Ok(link_dead_page(&base));
        }
        Err(e) => return Err(e.into()),
    };
    let detail = format!(
        "one-time link made by {} (valid until {})",
        link.created_by,
        utc(link.expires_at)
    );
    let cookie = start_session(
        &mut tx,
        &state,
        &technician.id,
        SignInMethod::Link,
        client,
        detail,
    )
    .await?;
    tx.commit().await?;
    let next = safe_next(form.next.as_deref().unwrap_or("/console"));
    Ok(land(&state, next, &cookie))
}

async fn sign_out(
    State(state): State<AppState>,
    form: SignedForm<NoFields>,
) -> Result<Response, PageError> {
    let signed_in = form.signed_in;
    let mut tx = state.db.begin().await?;
    store::sessions::end(&mut tx, &signed_in.session.id, "signed_out").await?;
    store::audit::record(
        &mut tx,
        &signed_in
            .caller()
            .audit("auth.sign_out", "ok")
            .technician(&signed_in.session.technician_id)
            .client(
                signed_in.client.ip.clone(),
                signed_in.client.user_agent.clone(),
            ),
    )
    .await?;
    tx.commit().await?;
    let base = super::pages::base(&state);
    let mut response = Redirect::to(&format!("{base}/auth/sign-in?signed_out=1")).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session::clear_cookie(&state));
    Ok(response)
}

fn url_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// How long a person has to finish signing in at the identity provider.
const SIGN_IN_STATE_TTL_MS: i64 = 10 * 60 * 1000;

/// Where the identity provider sends the browser back to (register it on the app).
pub fn oidc_redirect_uri(state: &AppState) -> String {
    format!(
        "{}/auth/oidc/callback",
        state.config.public_url.as_str().trim_end_matches('/')
    )
}

/// A page naming what went wrong with signing in, and what to do.
fn sign_in_problem(base: &str, status: StatusCode, title: &str, what: String) -> Response {
    respond(
        status,
        card_page(
            base,
            title,
            html! {
                h1 { (title) }
                p { (what) }
                p { a href={ (base) "/auth/sign-in" } { "Back to sign-in" } }
            },
        ),
    )
}

/// The client jitgate signs in as: the configured one (its secret in a file), or the MSP's
/// Entra app with its secret or certificate.
async fn sign_in_client(
    state: &AppState,
) -> Result<Result<(String, jitgate_graph::ClientCredential), String>, PageError> {
    let msp_app = crate::jobs::msp_app_credential(state).await?;
    let client_id = match (&state.config.sign_in_client_id, &msp_app) {
        (Some(id), _) => id.clone(),
        (None, Some((app, _))) => app.client_id.clone(),
        (None, None) => {
            return Ok(Err(
                "no sign_in_client_id is set and the MSP's Entra app is not configured".into(),
            ));
        }
    };
    let credential = match (&state.config.sign_in_client_secret_file, msp_app) {
        (Some(path), _) => match std::fs::read_to_string(path) {
            Ok(s) if !s.trim().is_empty() => jitgate_graph::ClientCredential::Secret(
                jitgate_graph::Secret::from(s.trim().to_string()),
            ),
            _ => {
                return Ok(Err(format!(
                    "sign_in_client_secret_file ({}) cannot be read or is empty",
                    path.display()
                )));
            }
        },
        (None, Some((app, credential))) if app.client_id.eq_ignore_ascii_case(&client_id) => {
            credential
        }
        (None, _) => {
            return Ok(Err(
                "sign_in_client_secret_file is not set for sign_in_client_id".into(),
            ));
        }
    };
    Ok(Ok((client_id, credential)))
}

async fn oidc_start(
    State(state): State<AppState>,
    Query(q): Query<Next>,
) -> Result<Response, PageError> {
    let base = super::pages::base(&state);
    let Some(issuer) = state.config.sign_in_issuer.clone() else {
        return Err(PageError::NotFound(
            "Sign-in with an identity provider is not configured here (sign_in_issuer).".into(),
        ));
    };
    let (client_id, _) = match sign_in_client(&state).await? {
        Ok(client) => client,
        Err(why) => {
            tracing::error!(%why, "sign-in with the identity provider is misconfigured");
            return Ok(sign_in_problem(
                &base,
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-in is not set up completely",
                format!(
                    "jitgate cannot sign you in with {}: {why}. An MSP admin can fix the configuration; meanwhile a one-time link works.",
                    state.config.sign_in_label
                ),
            ));
        }
    };
    let discovery = match crate::oidc::discover(&state.http, &issuer).await {
        Ok(d) => d,
        Err(e) => {
            return Ok(sign_in_problem(
                &base,
                StatusCode::BAD_GATEWAY,
                "The identity provider cannot be reached",
                format!("{e}. Try again in a moment; a one-time link works meanwhile."),
            ));
        }
    };
    let attempt = crate::oidc::Attempt::new();
    let next = safe_next(q.next.as_deref().unwrap_or("/console")).to_string();
    let mut tx = state.db.begin().await?;
    store::sessions::create_sign_in_state(
        &mut tx,
        &state.keyring,
        &attempt.state,
        &attempt.nonce,
        &attempt.pkce_verifier,
        &next,
        SIGN_IN_STATE_TTL_MS,
    )
    .await?;
    tx.commit().await?;
    let url = crate::oidc::authorization_url(
        &discovery,
        &client_id,
        &oidc_redirect_uri(&state),
        &attempt,
    )
    .map_err(|e| PageError::App(crate::http::error::AppError::Upstream(e.to_string())))?;
    Ok(Redirect::to(url.as_str()).into_response())
}

#[derive(Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

async fn oidc_callback(
    State(state): State<AppState>,
    client: ClientInfo,
    Query(q): Query<Callback>,
) -> Result<Response, PageError> {
    let base = super::pages::base(&state);
    let label = state.config.sign_in_label.clone();
    let Some(issuer) = state.config.sign_in_issuer.clone() else {
        return Err(PageError::NotFound(
            "Sign-in with an identity provider is not configured here.".into(),
        ));
    };
    let lost = || {
        sign_in_problem(
            &base,
            StatusCode::BAD_REQUEST,
            "This sign-in cannot be finished",
            "It did not start on this jitgate, took longer than ten minutes, or was finished \
             already. Start again from the sign-in page."
                .into(),
        )
    };
    let Some(sent_state) = q.state.as_deref().filter(|s| !s.is_empty()) else {
        return Ok(lost());
    };
    // The state works once, whatever happens next.
    let mut tx = state.db.begin().await?;
    let taken =
        store::sessions::take_sign_in_state(&mut tx, &state.db, &state.keyring, sent_state).await?;
    tx.commit().await?;
    let Some((attempt, verifier)) = taken else {
        return Ok(lost());
    };
    if attempt.expires_at <= now_ms() {
        return Ok(lost());
    }
    if let Some(error) = &q.error {
        let what = q.error_description.clone().unwrap_or_default();
        refuse_audit(
            &state,
            &client,
            None,
            &format!("{label} answered {error}: {what}"),
        )
        .await?;
        return Ok(sign_in_problem(
            &base,
            StatusCode::FORBIDDEN,
            "You were not signed in",
            format!(
                "{label} answered: {error} ({what}). Nothing changed; try again, or ask an MSP admin."
            ),
        ));
    }
    let Some(code) = q.code.as_deref().filter(|c| !c.is_empty()) else {
        return Ok(lost());
    };
    let (client_id, auth) = match sign_in_client(&state).await? {
        Ok(c) => c,
        Err(why) => {
            return Ok(sign_in_problem(
                &base,
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-in is not set up completely",
                why,
            ));
        }
    };
    let verified = async {
        let discovery = crate::oidc::discover(&state.http, &issuer).await?;
        let id_token = crate::oidc::exchange_code(
            &state.http,
            &discovery,
            &client_id,
            &auth,
            &oidc_redirect_uri(&state),
            code,
            &verifier,
        )
        .await?;
        crate::oidc::verify_id_token(
            &state.http,
            &discovery,
            &client_id,
            &attempt.nonce,
            &id_token,
            now_ms() / 1000,
        )
        .await
    }
    .await;
    let claims = match verified {
        Ok(c) => c,
        Err(e) => {
            refuse_audit(&state, &client, None, &e.to_string()).await?;
            return Ok(sign_in_problem(
                &base,
                StatusCode::FORBIDDEN,
                "You were not signed in",
                format!("{e}. Nothing changed; start again from the sign-in page."),
            ));
        }
    };
    let technician = match technician_for(&state, &claims).await? {
        Ok(t) => t,
        Err(why) => {
            refuse_audit(&state, &client, claims.verified_email().as_deref(), &why).await?;
            return Ok(sign_in_problem(
                &base,
                StatusCode::FORBIDDEN,
                "You were not signed in",
                why,
            ));
        }
    };
    let mut tx = state.db.begin().await?;
    store::sessions::bind_subject(&mut tx, &technician.id, &claims.iss, &claims.sub).await?;
    let detail = format!("OpenID Connect ({})", claims.iss);
    let cookie = start_session(
        &mut tx,
        &state,
        &technician.id,
        SignInMethod::Oidc,
        client,
        detail,
    )
    .await?;
    tx.commit().await?;
    Ok(land(&state, safe_next(&attempt.return_to), &cookie))
}

/// Start a session for the technician in `tx`, with its audit row (how they signed in, from
/// where); returns the cookie's token.
async fn start_session(
    tx: &mut store::Tx,
    state: &AppState,
    technician_id: &str,
    method: SignInMethod,
    client: ClientInfo,
    detail: String,
) -> Result<String, store::StoreError> {
    let (session_id, cookie) = store::sessions::create(
        tx,
        technician_id,
        method,
        (client.ip.as_deref(), client.user_agent.as_deref()),
        session::lifetimes(state),
    )
    .await?;
    store::audit::record(
        tx,
        &AuditEntry::new(format!("technician:{technician_id}"), "auth.sign_in", "ok")
            .technician(technician_id)
            .session(&session_id)
            .client(client.ip, client.user_agent)
            .detail(detail),
    )
    .await?;
    Ok(cookie)
}

/// The answer that lands a new session on `next` (a path of jitgate's), setting its cookie.
fn land(state: &AppState, next: &str, cookie: &str) -> Response {
    let base = super::pages::base(state);
    let mut response = Redirect::to(&format!("{base}{next}")).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session::set_cookie(state, cookie));
    response
}

/// The technician a verified ID token names: the one bound to its (issuer, subject), else the
/// one with its verified email (bound now, on first sign-in). `Err` says why no one is.
async fn technician_for(
    state: &AppState,
    claims: &crate::oidc::Claims,
) -> Result<Result<store::technicians::Technician, String>, PageError> {
    if let Some(id) =
        store::sessions::technician_by_subject(&state.db, &claims.iss, &claims.sub).await?
    {
        return Ok(Ok(store::technicians::get(&state.db, &id).await?));
    }
    let Some(email) = claims.verified_email() else {
        return Ok(Err(
            "Your identity provider did not vouch for an email address (a verified email, or a \
             user name in the MSP's own Entra tenant), so jitgate cannot tell which technician \
             you are."
                .into(),
        ));
    };
    let Some(technician) = store::technicians::by_email(&state.db, &email).await? else {
        return Ok(Err(format!(
            "No technician in jitgate has the email {email}. Ask an MSP admin to add you \
             (Technicians in the console)."
        )));
    };
    if store::sessions::subject_of(&state.db, &technician.id)
        .await?
        .is_some()
    {
        return Ok(Err(format!(
            "The technician {email} signs in with another account of the identity provider. \
             Ask an MSP admin if that is wrong."
        )));
    }
    Ok(Ok(technician))
}

async fn refuse_audit(
    state: &AppState,
    client: &ClientInfo,
    email: Option<&str>,
    why: &str,
) -> Result<(), PageError> {
    let actor = email
        .map(|e| format!("oidc:{e}"))
        .unwrap_or_else(|| "oidc".into());
    store::audit::record_event(
        &state.db,
        &AuditEntry::new(actor, "auth.sign_in", "refused")
            .client(client.ip.clone(), client.user_agent.clone())
            .detail(why.to_string()),
    )
    .await?;
    Ok(())
}
