//! Ticket notes waiting to be posted (the note job's outbox).

use super::{BeginWrite, Db, Result, now_ms, on_db};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TicketNote {
    pub id: String,
    pub connector_id: String,
    pub ticket_ref: String,
    pub kind: String,
    pub grant_id: Option<String>,
    pub request_id: Option<String>,
    pub title: String,
    /// Plain text; a credential link appears as the placeholder [`LINK_PLACEHOLDER`].
    pub body: String,
    pub posted_at: Option<i64>,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub touched_at: i64,
}

/// Stands in for the credential link in a stored note body; the raw link token exists only
/// sealed (scope `note:<id>`) until the note is posted.
pub const LINK_PLACEHOLDER: &str = "{credential_link}";
pub const LINK_TOKEN: &str = "link_token";

pub fn secret_scope(note_id: &str) -> String {
    format!("note:{note_id}")
}

pub async fn get(db: &Db, id: &str) -> Result<Option<TicketNote>> {
    Ok(
        on_db!(db, pool => sqlx::query_as("SELECT * FROM ticket_notes WHERE id = $1").bind(id).fetch_optional(pool).await?),
    )
}

pub async fn mark_posted(db: &Db, id: &str) -> Result<()> {
    on_db!(db, pool => {
        let mut tx = pool.begin_write().await?;
        sqlx::query("UPDATE ticket_notes SET posted_at = $1, last_error = NULL WHERE id = $2")
            .bind(now_ms()).bind(id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM secrets WHERE scope = $1").bind(secret_scope(id)).execute(&mut *tx).await?;
        tx.commit().await?;
    });
    Ok(())
}

pub async fn record_failure(db: &Db, id: &str, error: &str) -> Result<i32> {
    Ok(on_db!(db, pool => sqlx::query_scalar(
        "UPDATE ticket_notes SET attempts = attempts + 1, last_error = $1, touched_at = $2 WHERE id = $3 RETURNING attempts")
        .bind(error).bind(now_ms()).bind(id).fetch_one(pool).await?))
}

pub async fn for_ticket(db: &Db, connector_id: &str, ticket_ref: &str) -> Result<Vec<TicketNote>> {
    Ok(on_db!(db, pool => sqlx::query_as(
        "SELECT * FROM ticket_notes WHERE connector_id = $1 AND ticket_ref = $2 ORDER BY created_at, id")
        .bind(connector_id).bind(ticket_ref).fetch_all(pool).await?))
}

/// Notes not posted and not worked on for `idle_ms`: their job was lost. Marks them touched so
/// the rescue happens once per idle period.
pub async fn take_stale(db: &Db, idle_ms: i64, limit: i64) -> Result<Vec<String>> {
    let now = now_ms();
    Ok(on_db!(db, pool => sqlx::query_scalar(
        "UPDATE ticket_notes SET touched_at = $1
         WHERE id IN (SELECT id FROM ticket_notes WHERE posted_at IS NULL AND touched_at < $2 AND attempts < 20
                        ORDER BY touched_at LIMIT $3)
           AND posted_at IS NULL AND touched_at < $2
         RETURNING id")
        .bind(now).bind(now - idle_ms).bind(limit).fetch_all(pool).await?))
}
