//! Waking job workers the moment a job is queued on SQLite, instead of at their next poll.
//!
//! apalis only looks for new jobs every `poll_interval` (30 s unless set), so every
//! job in a chain (provision → note) waited for a poll. Every job jitgate queues goes through
//! `store::queue`, which calls [`queued`] right after the insert; the worker of that queue wakes
//! and claims it. The insert may still be inside its transaction: the woken worker's claim (an
//! `UPDATE`) waits for the writer's lock and so sees the committed row. Jobs due later are
//! found by the poll interval.
//!
//! Only the job's own queue wakes: a claim takes SQLite's write lock even when it finds nothing,
//! so waking every worker on every insert cost write throughput. Signals are per queue name and
//! per process: several apps in one process (tests) may wake each other's workers, which then
//! find nothing, at no harm.

use futures::Stream;
use futures::task::AtomicWaker;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::task::{Context, Poll};

static QUEUES: LazyLock<Mutex<HashMap<String, Arc<JobSignal>>>> = LazyLock::new(Default::default);

/// The signal of one queue.
pub fn queue(name: &str) -> Arc<JobSignal> {
    QUEUES
        .lock()
        .expect("queue signal lock")
        .entry(name.to_string())
        .or_default()
        .clone()
}

/// A job was just inserted into `queue` (its transaction may not have committed yet).
pub fn queued(queue: &str) {
    let signal = QUEUES
        .lock()
        .expect("queue signal lock")
        .get(queue)
        .cloned();
    if let Some(signal) = signal {
        signal.notify();
    }
}

/// "A job was inserted": a counter plus the wakers of everyone listening.
#[derive(Default)]
pub struct JobSignal {
    generation: AtomicU64,
    listeners: Mutex<Vec<Weak<AtomicWaker>>>,
}

impl JobSignal {
    /// Cheap: never blocks on anything but a short lock.
    pub fn notify(&self) {
        self.generation.fetch_add(1, Ordering::Release);
        let mut listeners = self.listeners.lock().expect("listener lock");
        listeners.retain(|w| match w.upgrade() {
            Some(waker) => {
                waker.wake();
                true
            }
            None => false,
        });
    }

    /// A stream that yields once after each burst of inserts (bursts coalesce).
    pub fn subscribe(self: &Arc<Self>) -> JobInserted {
        let waker = Arc::new(AtomicWaker::new());
        self.listeners
            .lock()
            .expect("listener lock")
            .push(Arc::downgrade(&waker));
        JobInserted {
            seen: self.generation.load(Ordering::Acquire),
            signal: self.clone(),
            waker,
        }
    }
}

/// Yields `()` when a job was inserted since it last yielded.
pub struct JobInserted {
    signal: Arc<JobSignal>,
    waker: Arc<AtomicWaker>,
    seen: u64,
}

impl JobInserted {
    fn changed(&mut self) -> bool {
        let now = self.signal.generation.load(Ordering::Acquire);
        let changed = now != self.seen;
        self.seen = now;
        changed
    }
}

impl Stream for JobInserted {
    type Item = ();

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<()>> {
        let this = self.get_mut();
        if this.changed() {
            return Poll::Ready(Some(()));
        }
        this.waker.register(cx.waker());
        // An insert between the check and the registration must not be missed.
        if this.changed() {
            return Poll::Ready(Some(()));
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[tokio::test]
    async fn every_listener_wakes_and_bursts_coalesce() {
        let signal = Arc::new(JobSignal::default());
        let (mut a, mut b) = (signal.subscribe(), signal.subscribe());
        signal.notify();
        signal.notify();
        assert_eq!(a.next().await, Some(()));
        assert_eq!(b.next().await, Some(()));
        let waited = tokio::time::timeout(std::time::Duration::from_millis(20), a.next()).await;
        assert!(waited.is_err(), "two inserts before a poll wake once");
        let later = tokio::spawn(async move { b.next().await });
        tokio::task::yield_now().await;
        signal.notify();
        assert_eq!(later.await.unwrap(), Some(()));
    }

    #[tokio::test]
    async fn queuing_a_job_on_sqlite_wakes_that_queue_only() {
        use crate::store::queue::{Job, push};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs.db");
        let db = crate::store::Db::connect(&format!("sqlite://{}", path.display()), 4)
            .await
            .unwrap();
        db.migrate().await.unwrap();
        let mut notes = queue("jitgate.note").subscribe();
        let mut expiries = queue("jitgate.end").subscribe();
        push(&db, Job::new("jitgate.note", &"x")).await.unwrap();
        let wait = std::time::Duration::from_secs(2);
        assert_eq!(tokio::time::timeout(wait, notes.next()).await, Ok(Some(())));
        let other = tokio::time::timeout(std::time::Duration::from_millis(50), expiries.next());
        assert!(other.await.is_err(), "another queue's worker stays asleep");
    }
}
