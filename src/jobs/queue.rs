//! The job layer's queues: their names, and the [`JobOutbox`] through which store transactions
//! queue provisioning, note and end jobs with the rows they write.

use super::end::EndJob;
use super::note::NoteJob;
use super::provision::ProvisionJob;
pub use crate::store::queue::{Job, push};

/// Queue names are explicit: apalis's default (the Rust type name) would strand queued jobs
/// whenever a module is renamed.
pub const PROVISION: &str = "jitgate.provision";
pub const NOTE: &str = "jitgate.note";
pub const END: &str = "jitgate.end";
/// Builds the jobs store transactions queue.
pub struct JobOutbox;

impl crate::store::queue::Outbox for JobOutbox {
    fn provision(&self, request_id: &str) -> Job {
        Job::new(PROVISION, &ProvisionJob::new(request_id)).key(format!("provision:{request_id}:0"))
    }

    fn note(&self, note_id: &str) -> Job {
        Job::new(NOTE, &NoteJob::new(note_id)).key(format!("note:{note_id}:0"))
    }

    fn end_at(&self, grant_id: &str, at_ms: i64, version: i32) -> Job {
        Job::new(END, &EndJob::new(grant_id))
            .at_ms(at_ms)
            .key(format!("end:{grant_id}:v{version}"))
    }
}

/// The outbox every caller uses (it holds no state).
pub const OUTBOX: &JobOutbox = &JobOutbox;
