//! Browser sign-in: one-time sign-in links and server-side sessions of technicians.
//!
//! The browser holds a random token (a cookie, or a link's path); the database holds only its
//! SHA-256. A session is looked up on every request, never cached, so a sign-out or a removed
//! technician holds at once on every instance sharing the database.

use super::{Db, Result, Tx, new_id, now_ms, on_db, on_tx, secrets};
use crate::crypto::{Keyring, hash_token, random_token};
use crate::domain::lifecycle::SignInMethod;

/// `last_seen_at` is written at most this often per session: every page load would otherwise
/// be a database write.
const LAST_SEEN_PRECISION_MS: i64 = 60_000;

/// A one-time sign-in link, taken (deleted) when used.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SignInLink {
    pub technician_id: String,
    pub created_by: String,
    pub expires_at: i64,
}

/// A session still valid, with the technician it belongs to (who must not be removed).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ActiveSession {
    pub id: String,
    pub technician_id: String,
    pub email: String,
    pub display_name: String,
    pub is_admin: bool,
    pub method: SignInMethod,
    pub last_seen_at: i64,
    pub expires_at: i64,
}

/// How long sessions last: without activity, and at all.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    pub idle_ms: i64,
    pub absolute_ms: i64,
}

/// Create a one-time sign-in link for the technician, valid for `ttl_ms`. Returns the token,
/// which exists nowhere else.
pub async fn create_link(
    tx: &mut Tx,
    technician_id: &str,
    created_by: &str,
    ttl_ms: i64,
) -> Result<String> {
    let token = random_token();
    let now = now_ms();
    on_tx!(tx, conn => sqlx::query("DELETE FROM sign_in_links WHERE expires_at < $1")
        .bind(now).execute(&mut *conn).await?.rows_affected());
    on_tx!(tx, conn => sqlx::query(
        "INSERT INTO sign_in_links (token_hash, technician_id, created_by, expires_at, created_at)
         VALUES ($1, $2, $3, $4, $5)")
        .bind(hash_token(&token)).bind(technician_id).bind(created_by).bind(now + ttl_ms).bind(now)
        .execute(&mut *conn).await?.rows_affected());
    Ok(token)
}

/// Whether the link exists and has not expired (reading it uses nothing up).
pub async fn link_is_valid(db: &Db, token: &str) -> Result<bool> {
    let n: i64 = on_db!(db, pool => sqlx::query_scalar(
        "SELECT COUNT(*) FROM sign_in_links WHERE token_hash = $1 AND expires_at > $2")
        .bind(hash_token(token)).bind(now_ms()).fetch_one(pool).await?);
    Ok(n > 0)
}

/// Remove and return the link: it works at most once, whatever happens next. Expired links
/// are returned too (the caller says why it refuses).
pub async fn take_link(tx: &mut Tx, token: &str) -> Result<Option<SignInLink>> {
    Ok(on_tx!(tx, conn => sqlx::query_as(
        "DELETE FROM sign_in_links WHERE token_hash = $1 RETURNING technician_id, created_by, expires_at")
        .bind(hash_token(token)).fetch_optional(&mut *conn).await?))
}

/// Start a session for the technician. Returns its id and the cookie token.
pub async fn create(
    tx: &mut Tx,
    technician_id: &str,
    method: SignInMethod,
    client: (Option<&str>, Option<&str>),
    lifetimes: Lifetimes,
) -> Result<(String, String)> {
    let id = new_id("ses");
    let token = random_token();
    let now = now_ms();
    on_tx!(tx, conn => sqlx::query(
        "INSERT INTO sessions (id, token_hash, technician_id, method, ip, user_agent, created_at, last_seen_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)")
        .bind(&id).bind(hash_token(&token)).bind(technician_id).bind(method)
        .bind(client.0).bind(client.1).bind(now).bind(now + lifetimes.absolute_ms)
        .execute(&mut *conn).await?.rows_affected());
    Ok((id, token))
}

/// The session of this cookie token, if it has not ended, expired or idled out and its
/// technician is not removed.
pub async fn find(db: &Db, token: &str, lifetimes: Lifetimes) -> Result<Option<ActiveSession>> {
    let now = now_ms();
    Ok(on_db!(db, pool => sqlx::query_as(
        "SELECT s.id, s.technician_id, t.email, t.display_name, t.is_admin, s.method, s.last_seen_at, s.expires_at
         FROM sessions s JOIN technicians t ON t.id = s.technician_id
         WHERE s.token_hash = $1 AND s.ended_at IS NULL AND s.expires_at > $2
           AND s.last_seen_at > $3 AND t.removed_at IS NULL")
        .bind(hash_token(token)).bind(now).bind(now - lifetimes.idle_ms)
        .fetch_optional(pool).await?))
}

/// Record activity, unless it was recorded less than a minute ago (checked on the row the
/// request already read, so most requests write nothing).
pub async fn touch(db: &Db, session: &ActiveSession) -> Result<()> {
    let now = now_ms();
    if now - session.last_seen_at < LAST_SEEN_PRECISION_MS {
        return Ok(());
    }
    on_db!(db, pool => sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND last_seen_at < $1")
        .bind(now).bind(&session.id).execute(pool).await?.rows_affected());
    Ok(())
}

/// End the session (sign-out). Ending an ended session changes nothing.
pub async fn end(tx: &mut Tx, session_id: &str, reason: &str) -> Result<()> {
    on_tx!(tx, conn => sqlx::query(
        "UPDATE sessions SET ended_at = $1, end_reason = $2 WHERE id = $3 AND ended_at IS NULL")
        .bind(now_ms()).bind(reason).bind(session_id).execute(&mut *conn).await?.rows_affected());
    Ok(())
}

/// End every session of the technician (removed, or signed out everywhere).
pub async fn end_all_of(tx: &mut Tx, technician_id: &str, reason: &str) -> Result<u64> {
    Ok(on_tx!(tx, conn => sqlx::query(
        "UPDATE sessions SET ended_at = $1, end_reason = $2 WHERE technician_id = $3 AND ended_at IS NULL")
        .bind(now_ms()).bind(reason).bind(technician_id).execute(&mut *conn).await?.rows_affected()))
}

/// An OpenID Connect sign-in waiting for the browser to come back.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SignInState {
    pub nonce: String,
    pub return_to: String,
    pub expires_at: i64,
}

const PKCE_VERIFIER: &str = "pkce_verifier";

fn sign_in_scope(state_hash: &str) -> String {
    format!("sign_in:{state_hash}")
}

/// Remember a sign-in attempt for `ttl_ms`: its state (hashed), nonce, where to go after, and
/// its PKCE verifier (sealed). Attempts that expired without the browser coming back go.
pub async fn create_sign_in_state(
    tx: &mut Tx,
    keyring: &Keyring,
    state: &str,
    nonce: &str,
    pkce_verifier: &str,
    return_to: &str,
    ttl_ms: i64,
) -> Result<()> {
    let now = now_ms();
    on_tx!(tx, conn => sqlx::query(
        "DELETE FROM secrets WHERE scope IN (SELECT 'sign_in:' || state_hash FROM sign_in_states WHERE expires_at < $1)")
        .bind(now).execute(&mut *conn).await?.rows_affected());
    on_tx!(tx, conn => sqlx::query("DELETE FROM sign_in_states WHERE expires_at < $1")
        .bind(now).execute(&mut *conn).await?.rows_affected());
    let state_hash = hash_token(state);
    on_tx!(tx, conn => sqlx::query(
        "INSERT INTO sign_in_states (state_hash, nonce, return_to, expires_at, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&state_hash).bind(nonce).bind(return_to).bind(now + ttl_ms).bind(now)
        .execute(&mut *conn).await?.rows_affected());
    secrets::put(
        tx,
        keyring,
        &sign_in_scope(&state_hash),
        PKCE_VERIFIER,
        pkce_verifier.as_bytes(),
    )
    .await
}

/// Remove and return the attempt of this `state` with its PKCE verifier: a state works at most
/// once. Expired attempts are returned too (the caller says why it refuses).
pub async fn take_sign_in_state(
    tx: &mut Tx,
    db: &Db,
    keyring: &Keyring,
    state: &str,
) -> Result<Option<(SignInState, String)>> {
    let state_hash = hash_token(state);
    let scope = sign_in_scope(&state_hash);
    let verifier = secrets::get_string(db, keyring, &scope, PKCE_VERIFIER).await?;
    let row: Option<SignInState> = on_tx!(tx, conn => sqlx::query_as(
        "DELETE FROM sign_in_states WHERE state_hash = $1 RETURNING nonce, return_to, expires_at")
        .bind(&state_hash).fetch_optional(&mut *conn).await?);
    secrets::delete_scope(tx, &scope).await?;
    Ok(row.zip(verifier))
}

/// The technician signed in through the identity provider's (issuer, subject), if one is bound.
pub async fn technician_by_subject(db: &Db, issuer: &str, subject: &str) -> Result<Option<String>> {
    Ok(on_db!(db, pool => sqlx::query_scalar(
        "SELECT id FROM technicians WHERE sign_in_issuer = $1 AND sign_in_subject = $2 AND removed_at IS NULL")
        .bind(issuer).bind(subject).fetch_optional(pool).await?))
}

/// The (issuer, subject) the technician is bound to, if any.
pub async fn subject_of(db: &Db, technician_id: &str) -> Result<Option<(String, String)>> {
    let row: Option<(Option<String>, Option<String>)> = on_db!(db, pool => sqlx::query_as(
        "SELECT sign_in_issuer, sign_in_subject FROM technicians WHERE id = $1")
        .bind(technician_id).fetch_optional(pool).await?);
    Ok(row.and_then(|(i, s)| i.zip(s)))
}

/// Bind the technician to the identity provider's subject (first sign-in). `Conflict` if that
/// subject is bound to someone else already.
pub async fn bind_subject(
    tx: &mut Tx,
    technician_id: &str,
    issuer: &str,
    subject: &str,
) -> Result<()> {
    on_tx!(tx, conn => sqlx::query(
        "UPDATE technicians SET sign_in_issuer = $1, sign_in_subject = $2, updated_at = $3
         WHERE id = $4 AND sign_in_subject IS NULL")
        .bind(issuer).bind(subject).bind(now_ms()).bind(technician_id)
        .execute(&mut *conn).await?.rows_affected());
    Ok(())
}
