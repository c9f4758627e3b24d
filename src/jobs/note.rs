//! The `note` job: post a stored note to its ticket, filling in the credential link.

use super::{JobContext, JobError, backoff, queue};
use crate::domain::ids::NoteId;
use crate::psa::RegistryError;
use crate::store::audit::AuditEntry;
use crate::store::notes::{self, LINK_PLACEHOLDER, LINK_TOKEN};
use crate::store::{self};
use apalis::prelude::{BoxDynError, Data};
use jitgate_connectors::{Note, PsaError, TicketRef};
use std::sync::Arc;

/// The `note` job: post the stored note `note_id` to its ticket.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct NoteJob {
    pub note_id: NoteId,
    /// How many times the job was rescheduled after a failure (backoff).
    #[serde(default)]
    pub attempt: u32,
    /// How many times it waited for another job holding the account (not failures).
    #[serde(default)]
    pub waits: u32,
}

impl NoteJob {
    pub fn new(note_id: &str) -> Self {
        NoteJob {
            note_id: NoteId::new(note_id),
            attempt: 0,
            waits: 0,
        }
    }
}

pub async fn handle(job: NoteJob, ctx: Data<Arc<JobContext>>) -> Result<(), BoxDynError> {
    let outcome = post(&ctx, job.note_id.as_str()).await;
    // Giving up leaves the note unposted with its last error, visible in the database.
    super::finish(&ctx, &job, outcome, async |_| Ok(())).await
}

impl super::Rescheduled for NoteJob {
    const QUEUE: &'static str = queue::NOTE;
    const NAME: &'static str = "note";
    /// With backoff capped at a minute, about ten minutes.
    const MAX_ATTEMPTS: Option<u32> = Some(14);
    fn subject(&self) -> &str {
        self.note_id.as_str()
    }
    fn attempt(&self) -> u32 {
        self.attempt
    }
    fn waits(&self) -> u32 {
        self.waits
    }
    fn with(&self, attempt: u32, waits: u32) -> Self {
        NoteJob {
            note_id: self.note_id.clone(),
            attempt,
            waits,
        }
    }
}

/// The credential link a note carries.
pub fn credential_url(public_url: &url::Url, token: &str) -> String {
    format!("{}/c/{token}", public_url.as_str().trim_end_matches('/'))
}

async fn post(ctx: &JobContext, note_id: &str) -> Result<(), JobError> {
    let Some(note) = notes::get(&ctx.db, note_id).await? else {
        return Ok(());
    };
    if note.posted_at.is_some() {
        return Ok(());
    }
    let connector = match ctx.connectors.get(&note.connector_id).await {
        Ok(c) => c,
        Err(RegistryError::Store(e)) => return Err(e.into()),
        Err(e) => {
            notes::record_failure(&ctx.db, note_id, &e.to_string()).await?;
            tracing::error!(note = %note_id, error = %e, "cannot post a note: connector unavailable");
            return Ok(());
        }
    };
    let mut body = note.body.clone();
    if body.contains(LINK_PLACEHOLDER) {
        let token = store::secrets::get_string(
            &ctx.db,
            &ctx.keyring,
            &notes::secret_scope(note_id),
            LINK_TOKEN,
        )
        .await?;
        let link = token
            .map(|t| credential_url(&ctx.config.public_url, &t))
            .unwrap_or_else(|| "(link unavailable)".into());
        body = body.replace(LINK_PLACEHOLDER, &link);
    }
    let ticket = TicketRef(note.ticket_ref.clone());
    match connector
        .instance
        .post_note(
            &ticket,
            &Note {
                title: note.title.clone(),
                body,
            },
        )
        .await
    {
        Ok(()) => {
            notes::mark_posted(&ctx.db, note_id).await?;
            let mut audit = AuditEntry::new("system", "note.post", "ok")
                .connector(&note.connector_id)
                .ticket(&note.ticket_ref)
                .detail(note.kind.clone());
            if let Some(g) = &note.grant_id {
                audit = audit.grant(g);
                if let Ok(grant) = store::grants::get(&ctx.db, g).await {
                    audit = audit
                        .customer(&grant.customer_id)
                        .technician(&grant.technician_id);
                }
            } else if let Some(req) = note.request_id.as_deref()
                && let Some(customer) = store::deliveries::request(&ctx.db, req)
                    .await?
                    .and_then(|r| r.customer_id)
            {
                audit = audit.customer(customer);
            }
            store::audit::record_event(&ctx.db, &audit).await?;
            Ok(())
        }
        Err(e) => {
            let attempts = notes::record_failure(&ctx.db, note_id, &e.to_string()).await?;
            match e {
                PsaError::RateLimited(after) => Err(JobError::retry(after, "PSA rate limit")),
                e => {
                    if !e.is_transient() {
                        tracing::warn!(note = %note_id, error = %e, "the PSA refused a note");
                    }
                    Err(JobError::retry(
                        backoff(attempts.max(1) as u32 - 1),
                        e.to_string(),
                    ))
                }
            }
        }
    }
}
