//! Waking job workers the moment a job is queued on SQLite, instead of at their next poll.
//!
//! apalis only looks for new jobs every `poll_interval` (reference/stack.md §2.4), so every
//! job in a chain (provision → note) waited for a poll. SQLite tells a connection about each row
//! it changes (the update hook); every connection of our pool reports inserts into apalis's
//! `Jobs` table here, and each worker's poll strategy wakes on them. The hook fires inside the
//! inserting transaction: a worker woken early runs its claim (an `UPDATE`), which waits for the
//! writer's lock and so sees the committed row. Jobs due later are still found by the interval.
//!
//! Signals are per database file, so several apps in one process (tests) wake only their own
//! workers, and any pool on the same file in this process wakes them.

use futures::Stream;
use futures::task::AtomicWaker;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::task::{Context, Poll};

/// apalis-sqlite's job table.
pub const JOBS_TABLE: &str = "Jobs";

/// "A job was inserted": a counter plus the wakers of everyone listening.
#[derive(Default)]
pub struct JobSignal {
    generation: AtomicU64,
    listeners: Mutex<Vec<Weak<AtomicWaker>>>,
}

impl JobSignal {
    /// The signal of one SQLite database file.
    pub fn for_file(path: &Path) -> Arc<JobSignal> {
        static SIGNALS: LazyLock<Mutex<HashMap<PathBuf, Weak<JobSignal>>>> =
            LazyLock::new(Default::default);
        // Not canonicalize: the file may not exist yet when the pool is built.
        let key = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let mut signals = SIGNALS.lock().expect("signal registry lock");
        signals.retain(|_, s| s.strong_count() > 0);
        if let Some(signal) = signals.get(&key).and_then(Weak::upgrade) {
            return signal;
        }
        let signal = Arc::new(JobSignal::default());
        signals.insert(key, Arc::downgrade(&signal));
        signal
    }

    /// Called from SQLite's update hook: cheap, never blocks on anything but a short lock.
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
    async fn queuing_a_job_on_sqlite_wakes_listeners() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jobs.db");
        let db = crate::store::Db::connect(&format!("sqlite://{}", path.display()), 4)
            .await
            .unwrap();
        db.migrate().await.unwrap();
        let mut inserted = JobSignal::for_file(&path).subscribe();
        let job = crate::jobs::queue::Job::new(crate::jobs::queue::NOTE, &"x");
        crate::jobs::queue::push(&db, job).await.unwrap();
        let woke = tokio::time::timeout(std::time::Duration::from_secs(2), inserted.next()).await;
        assert_eq!(woke, Ok(Some(())));
    }

    #[test]
    fn one_signal_per_file() {
        let dir = tempfile::tempdir().unwrap();
        let (f1, f2) = (dir.path().join("a.db"), dir.path().join("b.db"));
        let s1 = JobSignal::for_file(&f1);
        assert!(Arc::ptr_eq(&s1, &JobSignal::for_file(&f1)));
        assert!(!Arc::ptr_eq(&s1, &JobSignal::for_file(&f2)));
    }
}
