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
    let (session_id, cookie) = store::sessions::create(
        &mut tx,
        &technician.id,
        SignInMethod::Link,
        (client.ip.as_deref(), client.user_agent.as_deref()),
        session::lifetimes(&state),
    )
    .await?;
    store::audit::record(
        &mut tx,
        &AuditEntry::new(
            format!("technician:{}", technician.id),
            "auth.sign_in",
            "ok",
        )
        .technician(&technician.id)
        .session(&session_id)
        .client(client.ip, client.user_agent)
        .detail(format!(
            "one-time link made by {} (valid until {})",
            link.created_by,
            utc(link.expires_at)
        )),
    )
    .await?;
    tx.commit().await?;
    let next = safe_next(form.next.as_deref().unwrap_or("/console"));
    let mut response = Redirect::to(&format!("{base}{next}")).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session::set_cookie(&state, &cookie));
    Ok(response)
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
