//! The crate's one retry policy: short in-call retries for transient failures and for
//! Entra's replication lag. Throttling (429) is not retried here: the transport marks the
//! tenant throttled, waits out a short `Retry-After` without holding a call slot, and returns
//! a long one so the caller's job is rescheduled (Graph asks clients to wait that long, and
//! throttled requests still count against the limit: https://learn.microsoft.com/graph/throttling).

use std::future::Future;
use std::time::{Duration, Instant};

use rand::RngExt as _;

use crate::error::GraphError;

/// How hard one call tries before returning an error.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts (first try included) for 5xx answers, timeouts and connection failures.
    pub transient_attempts: u32,
    /// First backoff between transient attempts; doubles each time, plus jitter.
    pub transient_backoff: Duration,
    /// The longest server-requested wait (`Retry-After` on a 503 or a 429) honoured inside a
    /// call; longer ones are returned in the error's `retry_after`.
    pub max_inline_wait: Duration,
    /// Total time one high-level operation keeps retrying replication-lag answers
    /// before returning [`GraphError::ReplicationLag`].
    pub replication_budget: Duration,
    /// First wait between replication-lag retries; doubles up to `replication_max_wait`.
    pub replication_backoff: Duration,
    pub replication_max_wait: Duration,
    /// Assumed `Retry-After` for a 429 that carries none.
    pub default_throttle_wait: Duration,
}

impl Default for RetryPolicy {
    /// Three attempts with 250 ms/500 ms backoff; about 10 s for replication lag in-call,
    /// looking again at most every 750 ms. Entra's lag is usually seconds but can reach a
    /// minute or two (a Microsoft engineer in
    /// https://github.com/microsoftgraph/msgraph-sdk-dotnet/issues/2772); beyond the in-call
    /// budget the job layer reschedules. The short cap keeps a technician from waiting much
    /// past the moment the new account has replicated (a look costs one call, and a slot of
    /// the job worker, which has many; none of Graph's while it sleeps).
    fn default() -> Self {
        RetryPolicy {
            transient_attempts: 3,
            transient_backoff: Duration::from_millis(250),
            max_inline_wait: Duration::from_secs(2),
            replication_budget: Duration::from_secs(10),
            replication_backoff: Duration::from_millis(250),
            replication_max_wait: Duration::from_millis(750),
            default_throttle_wait: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    fn transient_wait(&self, attempt: u32) -> Duration {
        let base = self.transient_backoff * 2u32.saturating_pow(attempt.saturating_sub(1));
        base + jitter(self.transient_backoff / 2)
    }

    fn replication_wait(&self, retry: u32) -> Duration {
        let base = self.replication_backoff * 2u32.saturating_pow(retry.saturating_sub(1).min(8));
        base.min(self.replication_max_wait) + jitter(self.replication_backoff / 4)
    }
}

fn jitter(max: Duration) -> Duration {
    let max_ms = max.as_millis() as u64;
    if max_ms == 0 {
        return Duration::ZERO;
    }
    Duration::from_millis(rand::rng().random_range(0..=max_ms))
}

/// One attempt's outcome, as seen by [`retry_transient`].
pub(crate) enum Step<T> {
    /// Final: success or an error retrying cannot fix.
    Done(Result<T, GraphError>),
    /// Worth another attempt; `server_wait` is the server's `Retry-After`, if any.
    Retry {
        error: GraphError,
        server_wait: Option<Duration>,
    },
}

/// Runs `attempt` until it is done or the policy's transient attempts are spent.
pub(crate) async fn retry_transient<T, F, Fut>(
    policy: &RetryPolicy,
    mut attempt: F,
) -> Result<T, GraphError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Step<T>>,
{
    let mut tries = 1;
    loop {
        match attempt().await {
            Step::Done(result) => return result,
            Step::Retry { error, server_wait } => {
                if tries >= policy.transient_attempts {
                    return Err(error);
                }
                let wait = match server_wait {
                    Some(wait) if wait > policy.max_inline_wait => return Err(error),
                    Some(wait) => wait,
                    None => policy.transient_wait(tries),
                };
                tracing::debug!(%error, tries, wait_ms = wait.as_millis() as u64, "retrying after a transient failure");
                tokio::time::sleep(wait).await;
                tries += 1;
            }
        }
    }
}

/// Runs `call` until it stops showing replication-lag symptoms or the policy's replication
/// budget is spent, then returns [`GraphError::ReplicationLag`] naming `operation`.
pub(crate) async fn through_replication_lag<T, F, Fut>(
    policy: &RetryPolicy,
    operation: &'static str,
    user_id: Option<&str>,
    mut call: F,
) -> Result<T, GraphError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, GraphError>>,
{
    let deadline = Instant::now() + policy.replication_budget;
    let mut retry = 0;
    loop {
        match call().await {
            Err(error) if error.is_replication_symptom() => {
                retry += 1;
                let wait = policy.replication_wait(retry);
                if Instant::now() + wait > deadline {
                    return Err(GraphError::ReplicationLag {
                        operation,
                        user_id: user_id.map(str::to_string),
                        request_id: error.request_id().map(str::to_string),
                    });
                }
                tracing::debug!(
                    operation,
                    retry,
                    wait_ms = wait.as_millis() as u64,
                    "waiting for Entra replication"
                );
                tokio::time::sleep(wait).await;
            }
            other => return other,
        }
    }
}

/// Re-checks a condition with the replication backoff until it holds or the budget is spent;
/// returns the last observation. Used where a *read* may lag behind a write we just made.
pub(crate) async fn until_settled<T, F, Fut>(
    policy: &RetryPolicy,
    mut observe: F,
    settled: impl Fn(&T) -> bool,
) -> Result<T, GraphError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, GraphError>>,
{
    let deadline = Instant::now() + policy.replication_budget;
    let mut retry = 0;
    loop {
        let observed = observe().await?;
        if settled(&observed) {
            return Ok(observed);
        }
        retry += 1;
        let wait = policy.replication_wait(retry);
        if Instant::now() + wait > deadline {
            return Ok(observed);
        }
        tokio::time::sleep(wait).await;
    }
}
