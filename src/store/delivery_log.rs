//! The delivery log: the last webhook deliveries of each connector with their outcome, the
//! reason, the ticket, the request and the PSA's own event id (issue 15).
//!
//! Most deliveries are ignored at once without touching the database, and the log must not
//! change that: the webhook hands an [`Entry`] to a bounded channel ([`DeliveryLog::record`],
//! never waiting) and one supervised writer ([`run_writer`]) inserts what has queued up in one
//! transaction per batch. When the channel is full the entry is dropped and counted: the log
//! is a diagnostic, a request itself is never lost through it (it has its own transaction).
//!
//! Ignored deliveries are sampled: each connector keeps at most [`IGNORED_PER_SECOND`] of them one
//! by one in each second, and the rest of that second becomes one summary row with their
//! count. A PSA that calls for every change of every ticket would otherwise have the writer
//! insert tens of thousands of rows a second on the cores that answer the PSA (measured in
//! BENCHMARKS.md), and push every other delivery out of the connector's last 1,000. Everything
//! else (accepted, refused, duplicates, and every delivery while capture is on) is kept.
//!
//! Bodies are kept only while an admin has capture on for the connector, redacted of anything
//! secret-looking, capped at [`BODY_CAP`] and forgotten after [`BODY_TTL_MS`].

use super::{Db, Result, Tx, now_ms, on_db, on_tx};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Entries waiting for the writer; beyond this they are dropped (and counted).
pub const QUEUE_CAPACITY: usize = 4096;
/// Rows one transaction inserts at most.
const BATCH_MAX: usize = 500;
/// Ignored deliveries each connector logs one by one per second; the rest are counted.
pub const IGNORED_PER_SECOND: u32 = 20;
/// A captured body is cut at this many bytes (after redaction).
pub const BODY_CAP: usize = 16 * 1024;
/// A captured body is forgotten this long after it arrived.
pub const BODY_TTL_MS: i64 = 24 * 3600 * 1000;
/// How often the writer re-reads which connectors capture (another instance may have changed
/// it) and trims the log to its retention.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(5);
/// JSON keys whose values never reach a captured body.
const SECRET_KEY_PARTS: [&str; 8] = [
    "secret",
    "password",
    "token",
    "key",
    "signature",
    "authorization",
    "credential",
    "hmac",
];

/// How jitgate answered a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// A request (or cancel) was accepted: 202.
    Accepted,
    /// Verified, but nothing to do (not a JIT request, trigger cleared or still latched).
    Ignored,
    /// A redelivery of a delivery already accepted.
    Duplicate,
    /// The signature or credentials did not verify: 401.
    Unauthorized,
    /// Verified but not what the vendor documents: 400.
    Invalid,
    /// Could not be verified right now; the PSA was asked to retry: 429.
    Retry,
}

impl Outcome {
    pub const ALL: [Outcome; 6] = [
        Outcome::Accepted,
        Outcome::Ignored,
        Outcome::Duplicate,
        Outcome::Unauthorized,
        Outcome::Invalid,
        Outcome::Retry,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Ignored => "ignored",
            Outcome::Duplicate => "duplicate",
            Outcome::Unauthorized => "unauthorized",
            Outcome::Invalid => "invalid",
            Outcome::Retry => "retry",
        }
    }

    pub fn parse(text: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == text)
    }
}

/// One delivery, as the webhook saw it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: String,
    pub connector_id: String,
    pub received_at: i64,
    pub outcome: Outcome,
    pub reason: Option<String>,
    pub ticket_ref: Option<String>,
    pub request_id: Option<String>,
    pub event_id: Option<String>,
    pub signature_form: Option<String>,
    /// The raw body, only when capture is on for the connector; redacted by the writer.
    pub body: Option<Vec<u8>>,
}

impl Entry {
    /// A new entry; its id is given when it is recorded (a sampled-out delivery needs none).
    pub fn new(connector_id: &str, outcome: Outcome) -> Entry {
        Entry {
            id: String::new(),
            connector_id: connector_id.to_string(),
            received_at: now_ms(),
            outcome,
            reason: None,
            ticket_ref: None,
            request_id: None,
            event_id: None,
            signature_form: None,
            body: None,
        }
    }

    /// The delivery was refused (or deferred) before it could be parsed.
    pub fn refused(&mut self, outcome: Outcome, reason: String) {
        self.outcome = outcome;
        self.reason = Some(reason);
    }
}

/// `dlv_<ULID>`, increasing within this process even inside one millisecond, so the log's
/// "newest first" (by id) follows the order deliveries were answered.
fn monotonic_id() -> String {
    static GENERATOR: Mutex<ulid::Generator> = Mutex::new(ulid::Generator::new());
    let mut generator = GENERATOR.lock().expect("id generator lock");
    let id = match generator.generate() {
        Ok(id) => id,
        // 2^80 ids in one millisecond: fall back to a random one.
        Err(_) => ulid::Ulid::generate(),
    };
    format!("dlv_{}", id.to_string().to_ascii_lowercase())
}

/// A stored delivery.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct LoggedDelivery {
    pub id: String,
    /// Unix milliseconds.
    pub received_at: i64,
    /// accepted | ignored | duplicate | unauthorized | invalid | retry
    pub outcome: String,
    pub reason: Option<String>,
    pub ticket_ref: Option<String>,
    pub request_id: Option<String>,
    /// The PSA's own id of the delivery (ConnectWise `MessageId`, Autotask
    /// `Guid/Id/SequenceNumber/EventTime`, HaloPSA `id`, Standard Webhooks `webhook-id`).
    pub event_id: Option<String>,
    /// Which of the accepted signature forms matched (Autotask: `raw` or `escaped`).
    pub signature_form: Option<String>,
    /// The body as received (redacted, at most 16 KiB), while capture is on and for 24 hours.
    pub body: Option<String>,
}

/// The handle the webhook writes through; one per process, in `Services`.
pub struct DeliveryLog {
    sender: mpsc::Sender<Entry>,
    receiver: Mutex<Option<mpsc::Receiver<Entry>>>,
    dropped: AtomicU64,
    capturing: RwLock<HashSet<String>>,
    /// Per connector, the second being sampled and how many ignored deliveries it kept and
    /// skipped so far.
    ignored_seconds: Mutex<HashMap<String, SampledSecond>>,
}

#[derive(Debug, Clone, Copy)]
struct SampledSecond {
    second: i64,
    kept: u32,
    skipped: u32,
}

impl SampledSecond {
    fn starting(second: i64) -> SampledSecond {
        SampledSecond {
            second,
            kept: 0,
            skipped: 0,
        }
    }
}

/// The row that stands for the ignored deliveries of one connector's second that were counted
/// rather than logged.
fn skipped_summary(connector_id: &str, sampled: SampledSecond) -> Entry {
    let mut entry = Entry::new(connector_id, Outcome::Ignored);
    entry.received_at = sampled.second * 1000 + 999;
    entry.reason = Some(format!(
        "{} more ignored deliveries in this second, counted but not logged one by one (at most \
         {IGNORED_PER_SECOND} a second are)",
        sampled.skipped
    ));
    entry
}

impl Default for DeliveryLog {
    fn default() -> Self {
        Self::with_capacity(QUEUE_CAPACITY)
    }
}

impl DeliveryLog {
    pub fn with_capacity(capacity: usize) -> DeliveryLog {
        let (sender, receiver) = mpsc::channel(capacity);
        DeliveryLog {
            sender,
            receiver: Mutex::new(Some(receiver)),
            dropped: AtomicU64::new(0),
            capturing: RwLock::new(HashSet::new()),
            ignored_seconds: Mutex::new(HashMap::new()),
        }
    }

    /// Queue an entry for the writer without waiting, or count it into its second's summary
    /// (an ignored delivery beyond [`IGNORED_PER_SECOND`], body not captured). `false`: the
    /// queue was full (or the writer gone) and the entry was dropped.
    pub fn record(&self, entry: Entry) -> bool {
        if entry.outcome == Outcome::Ignored && entry.body.is_none() {
            let (keep, summary) = self.sample_ignored(&entry);
            if let Some(summary) = summary {
                self.send(summary);
            }
            if !keep {
                return true;
            }
        }
        self.send(entry)
    }

    /// Give the entry its id now, so ids follow the order deliveries were answered.
    fn send(&self, mut entry: Entry) -> bool {
        entry.id = monotonic_id();
        if self.sender.try_send(entry).is_ok() {
            return true;
        }
        self.dropped.fetch_add(1, Ordering::Relaxed);
        false
    }

    /// Whether to keep this ignored delivery, and the summary of the connector's previous
    /// second if this one starts a new second.
    fn sample_ignored(&self, entry: &Entry) -> (bool, Option<Entry>) {
        let second = entry.received_at.div_euclid(1000);
        let mut seconds = self.ignored_seconds.lock().expect("sampling lock");
        let sampled = match seconds.get_mut(entry.connector_id.as_str()) {
            Some(sampled) => sampled,
            None => seconds
                .entry(entry.connector_id.clone())
                .or_insert(SampledSecond::starting(second)),
        };
        let mut summary = None;
        if sampled.second != second {
            if sampled.skipped > 0 {
                summary = Some(skipped_summary(&entry.connector_id, *sampled));
            }
            *sampled = SampledSecond::starting(second);
        }
        let keep = sampled.kept < IGNORED_PER_SECOND;
        if keep {
            sampled.kept += 1;
        } else {
            sampled.skipped += 1;
        }
        (keep, summary)
    }

    /// Queue the summaries of seconds that are over (a burst's last second has no later
    /// delivery to close it), and forget connectors that have gone quiet.
    pub fn flush_summaries(&self) {
        let now_second = now_ms().div_euclid(1000);
        let mut finished = Vec::new();
        self.ignored_seconds
            .lock()
            .expect("sampling lock")
            .retain(|connector_id, sampled| {
                if sampled.second >= now_second {
                    return true;
                }
                if sampled.skipped > 0 {
                    finished.push(skipped_summary(connector_id, *sampled));
                }
                false
            });
        for summary in finished {
            self.send(summary);
        }
    }

    /// Entries dropped since this process started.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Whether bodies of this connector's deliveries are captured (as of the writer's last
    /// look, or this process's own change).
    pub fn capturing(&self, connector_id: &str) -> bool {
        self.capturing
            .read()
            .expect("capture lock")
            .contains(connector_id)
    }

    /// This process changed a connector's capture: take effect at once here.
    pub fn set_capturing(&self, connector_id: &str, enabled: bool) {
        let mut set = self.capturing.write().expect("capture lock");
        if enabled {
            set.insert(connector_id.to_string());
        } else {
            set.remove(connector_id);
        }
    }

    fn replace_capturing(&self, ids: HashSet<String>) {
        *self.capturing.write().expect("capture lock") = ids;
    }

    fn take_receiver(&self) -> Option<mpsc::Receiver<Entry>> {
        self.receiver.lock().expect("receiver lock").take()
    }
}

/// How long the log keeps deliveries.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub max_age: Duration,
    pub max_per_connector: u32,
}

/// The writer: drains the queue in batches until `shutdown`, then writes what is left. It
/// survives database errors (the batch is lost and logged); it ends only at shutdown, so the
/// supervisor treats any other end as a failure.
pub async fn run_writer(
    db: Db,
    log: std::sync::Arc<DeliveryLog>,
    retention: Retention,
    shutdown: CancellationToken,
) -> std::result::Result<(), String> {
    let mut receiver = log
        .take_receiver()
        .ok_or("the delivery log writer was started twice")?;
    let mut housekeeping = tokio::time::interval(HOUSEKEEPING_EVERY);
    let mut batch = Vec::with_capacity(BATCH_MAX);
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            _ = housekeeping.tick() => keep_house(&db, &log, retention).await,
            received = receiver.recv_many(&mut batch, BATCH_MAX) => {
                if received == 0 {
                    break;
                }
                write_logged(&db, std::mem::take(&mut batch), retention).await;
            }
        }
    }
    receiver.close();
    while receiver.recv_many(&mut batch, BATCH_MAX).await > 0 {
        write_logged(&db, std::mem::take(&mut batch), retention).await;
    }
    Ok(())
}

async fn write_logged(db: &Db, batch: Vec<Entry>, retention: Retention) {
    let count = batch.len();
    if let Err(e) = write_batch(db, &batch, retention).await {
        tracing::warn!(error = %e, count, "delivery log: a batch could not be written");
    }
}

async fn keep_house(db: &Db, log: &DeliveryLog, retention: Retention) {
    log.flush_summaries();
    match capturing_connectors(db).await {
        Ok(ids) => log.replace_capturing(ids),
        Err(e) => tracing::warn!(error = %e, "delivery log: cannot read capture settings"),
    }
    if let Err(e) = trim(db, retention).await {
        tracing::warn!(error = %e, "delivery log: cannot trim");
    }
}

/// Insert a batch in one transaction, then cut each connector it touched to its maximum.
pub async fn write_batch(db: &Db, batch: &[Entry], retention: Retention) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let mut tx = db.begin().await?;
    for entry in batch {
        insert(&mut tx, entry).await?;
    }
    let connectors: HashSet<&str> = batch.iter().map(|e| e.connector_id.as_str()).collect();
    for connector_id in connectors {
        cap_connector(&mut tx, connector_id, retention.max_per_connector).await?;
    }
    tx.commit().await
}

async fn insert(tx: &mut Tx, entry: &Entry) -> Result<()> {
    let body = entry.body.as_deref().map(redacted_body);
    let expires = body.as_ref().map(|_| entry.received_at + BODY_TTL_MS);
    on_tx!(tx, conn => sqlx::query(
        "INSERT INTO delivery_log (id, connector_id, received_at, outcome, reason, ticket_ref, request_id,
             event_id, signature_form, body, body_expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (id) DO NOTHING")
        .bind(&entry.id).bind(&entry.connector_id).bind(entry.received_at).bind(entry.outcome.as_str())
        .bind(clip(entry.reason.as_deref(), 500)).bind(clip(entry.ticket_ref.as_deref(), 200))
        .bind(&entry.request_id).bind(clip(entry.event_id.as_deref(), 300))
        .bind(&entry.signature_form).bind(&body).bind(expires)
        .execute(&mut *conn).await?.rows_affected());
    Ok(())
}

async fn cap_connector(tx: &mut Tx, connector_id: &str, max: u32) -> Result<()> {
    on_tx!(tx, conn => sqlx::query(
        "DELETE FROM delivery_log WHERE connector_id = $1 AND id < (
             SELECT id FROM delivery_log WHERE connector_id = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)")
        .bind(connector_id).bind(i64::from(max.max(1)) - 1)
        .execute(&mut *conn).await?.rows_affected());
    Ok(())
}

/// Drop deliveries past the retention, bodies past their day, and deliveries of connectors
/// that no longer exist.
pub async fn trim(db: &Db, retention: Retention) -> Result<()> {
    let now = now_ms();
    let oldest = now - retention.max_age.as_millis().min(i64::MAX as u128) as i64;
    on_db!(db, pool => {
        sqlx::query("DELETE FROM delivery_log WHERE received_at < $1")
            .bind(oldest).execute(pool).await?;
        sqlx::query("UPDATE delivery_log SET body = NULL, body_expires_at = NULL
                     WHERE body_expires_at IS NOT NULL AND body_expires_at < $1")
            .bind(now).execute(pool).await?;
        sqlx::query("DELETE FROM delivery_log
                     WHERE connector_id NOT IN (SELECT id FROM connectors)")
            .execute(pool).await?;
    });
    Ok(())
}

async fn capturing_connectors(db: &Db) -> Result<HashSet<String>> {
    let ids: Vec<String> = on_db!(db, pool => sqlx::query_scalar(
        "SELECT id FROM connectors WHERE capture_deliveries = TRUE")
        .fetch_all(pool).await?);
    Ok(ids.into_iter().collect())
}

/// Turn body capture on or off for a connector (bodies already captured keep their day).
pub async fn set_capture(tx: &mut Tx, connector_id: &str, enabled: bool) -> Result<()> {
    let changed = on_tx!(tx, conn => sqlx::query(
        "UPDATE connectors SET capture_deliveries = $1 WHERE id = $2")
        .bind(enabled).bind(connector_id).execute(&mut *conn).await?.rows_affected());
    if changed == 0 {
        return Err(super::StoreError::NotFound);
    }
    Ok(())
}

pub async fn capture_enabled(db: &Db, connector_id: &str) -> Result<bool> {
    let on: Option<bool> = on_db!(db, pool => sqlx::query_scalar(
        "SELECT capture_deliveries FROM connectors WHERE id = $1")
        .bind(connector_id).fetch_optional(pool).await?);
    on.ok_or(super::StoreError::NotFound)
}

/// The newest deliveries of a connector first, optionally of one outcome only.
pub async fn list(
    db: &Db,
    connector_id: &str,
    outcome: Option<Outcome>,
    limit: i64,
) -> Result<Vec<LoggedDelivery>> {
    let now = now_ms();
    Ok(on_db!(db, pool => sqlx::query_as(
        "SELECT id, received_at, outcome, reason, ticket_ref, request_id, event_id, signature_form,
                CASE WHEN body_expires_at > $4 THEN body END AS body
         FROM delivery_log
         WHERE connector_id = $1 AND ($2 IS NULL OR outcome = $2)
         ORDER BY id DESC LIMIT $3")
        .bind(connector_id).bind(outcome.map(Outcome::as_str)).bind(limit).bind(now)
        .fetch_all(pool).await?))
}

/// A body as it may be shown: JSON with every secret-looking value replaced, other text as
/// lossy UTF-8; then cut to [`BODY_CAP`] bytes on a character boundary.
pub fn redacted_body(raw: &[u8]) -> String {
    let text = match serde_json::from_slice::<serde_json::Value>(raw) {
        Ok(mut json) => {
            redact(&mut json);
            json.to_string()
        }
        Err(_) => String::from_utf8_lossy(raw).into_owned(),
    };
    cap(text)
}

fn redact(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if is_secret_key(key) && !v.is_null() {
                    *v = serde_json::Value::String("[redacted]".into());
                } else {
                    redact(v);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SECRET_KEY_PARTS.iter().any(|part| key.contains(part))
}

fn cap(mut text: String) -> String {
    if text.len() <= BODY_CAP {
        return text;
    }
    let mut end = BODY_CAP;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text
}

fn clip(text: Option<&str>, max: usize) -> Option<String> {
    text.map(|t| t.chars().take(max).collect())
}

/// Whether a request was accepted before its trigger could be decided (a ConnectWise
/// summarized payload): its provision job decides first.
pub async fn request_undecided(db: &Db, request_id: &str) -> Result<bool> {
    let undecided: Option<bool> = on_db!(db, pool => sqlx::query_scalar(
        "SELECT undecided FROM jit_requests WHERE id = $1")
        .bind(request_id).fetch_optional(pool).await?);
    Ok(undecided.unwrap_or(false))
}

/// Decide an undecided request from its ticket's trigger: a request goes on (latching the
/// ticket as the webhook does for a level trigger); anything else closes it quietly as
/// ignored. `true`: provision it.
pub async fn decide(
    tx: &mut Tx,
    req: &super::deliveries::RequestRow,
    trigger: &jitgate_connectors::Trigger,
    level_triggered: bool,
) -> Result<bool> {
    use jitgate_connectors::Trigger;
    let why = match (trigger, &req.ticket_ref, &req.connector_id) {
        (Trigger::Requested { .. }, Some(ticket), Some(connector_id)) if level_triggered => {
            if latch(tx, connector_id, ticket).await? {
                return mark_decided(tx, &req.id).await.map(|()| true);
            }
            "ignored: the trigger is still set from an earlier request"
        }
        (Trigger::Requested { .. }, _, _) => {
            return mark_decided(tx, &req.id).await.map(|()| true);
        }
        _ => "ignored: the ticket does not request a JIT account",
    };
    on_tx!(tx, conn => sqlx::query(
        "UPDATE jit_requests SET status = 'done', undecided = FALSE, status_detail = $2, updated_at = $3
         WHERE id = $1 AND status = 'pending'")
        .bind(&req.id).bind(why).bind(now_ms()).execute(&mut *conn).await?.rows_affected());
    Ok(false)
}

async fn latch(tx: &mut Tx, connector_id: &str, ticket: &str) -> Result<bool> {
    let latched = on_tx!(tx, conn => sqlx::query(
        "INSERT INTO trigger_latches (connector_id, ticket_ref, latched_at) VALUES ($1, $2, $3)
         ON CONFLICT (connector_id, ticket_ref) DO NOTHING")
        .bind(connector_id).bind(ticket).bind(now_ms())
        .execute(&mut *conn).await?.rows_affected());
    Ok(latched > 0)
}

async fn mark_decided(tx: &mut Tx, request_id: &str) -> Result<()> {
    on_tx!(tx, conn => sqlx::query("UPDATE jit_requests SET undecided = FALSE WHERE id = $1")
        .bind(request_id).execute(&mut *conn).await?.rows_affected());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_at_any_depth() {
        let body = br#"{"Metadata":{"key_url":"https://x/k"},"a":[{"Password":"p"}],"Token":null,"note":"keep"}"#;
        let out = redacted_body(body);
        assert!(
            !out.contains("https://x/k") && !out.contains("\"p\""),
            "{out}"
        );
        assert!(
            out.contains("keep") && out.contains("\"Token\":null"),
            "{out}"
        );
    }

    #[test]
    fn bodies_are_capped_on_a_character_boundary() {
        let text = "é".repeat(BODY_CAP);
        let out = redacted_body(text.as_bytes());
        assert!(out.len() <= BODY_CAP && out.len() > BODY_CAP - 2);
    }

    fn ignored_at(connector_id: &str, received_at: i64) -> Entry {
        let mut entry = Entry::new(connector_id, Outcome::Ignored);
        entry.received_at = received_at;
        entry
    }

    fn drain(log: &DeliveryLog) -> Vec<Entry> {
        let mut receiver = log.take_receiver().expect("receiver");
        let mut out = Vec::new();
        while let Ok(entry) = receiver.try_recv() {
            out.push(entry);
        }
        *log.receiver.lock().unwrap() = Some(receiver);
        out
    }

    #[test]
    fn ignored_deliveries_beyond_the_rate_become_one_summary_row() {
        let log = DeliveryLog::with_capacity(1000);
        let second = 1_700_000_000_000;
        for i in 0..100 {
            assert!(log.record(ignored_at("c1", second + i)));
        }
        // Another connector has its own allowance; refusals are never sampled.
        assert!(log.record(ignored_at("c2", second + 5)));
        for _ in 0..30 {
            let mut refused = ignored_at("c1", second + 7);
            refused.refused(Outcome::Unauthorized, "bad signature".into());
            assert!(log.record(refused));
        }
        let first = drain(&log);
        let c1_ignored = first
            .iter()
            .filter(|e| e.connector_id == "c1" && e.outcome == Outcome::Ignored)
            .count();
        assert_eq!(c1_ignored, IGNORED_PER_SECOND as usize);
        assert_eq!(first.iter().filter(|e| e.connector_id == "c2").count(), 1);
        assert_eq!(
            first
                .iter()
                .filter(|e| e.outcome == Outcome::Unauthorized)
                .count(),
            30
        );
        assert!(first.iter().all(|e| e.id.starts_with("dlv_")));

        // The next second's first delivery closes the previous second with its count.
        assert!(log.record(ignored_at("c1", second + 1000)));
        let next = drain(&log);
        assert_eq!(next.len(), 2, "{next:?}");
        let summary = &next[0];
        assert_eq!(summary.received_at, second + 999);
        assert!(
            summary
                .reason
                .as_deref()
                .unwrap()
                .starts_with("80 more ignored"),
            "{summary:?}"
        );
    }

    #[test]
    fn a_quiet_connector_s_last_second_is_summarised_by_the_housekeeping() {
        let log = DeliveryLog::with_capacity(1000);
        let past = now_ms() - 5_000;
        for _ in 0..(IGNORED_PER_SECOND + 3) {
            log.record(ignored_at("c1", past));
        }
        drain(&log);
        log.flush_summaries();
        let flushed = drain(&log);
        assert_eq!(flushed.len(), 1);
        assert!(flushed[0].reason.as_deref().unwrap().starts_with("3 more"));
        log.flush_summaries();
        assert!(drain(&log).is_empty());
    }

    #[test]
    fn captured_ignored_deliveries_are_all_kept() {
        let log = DeliveryLog::with_capacity(1000);
        for _ in 0..(IGNORED_PER_SECOND + 10) {
            let mut entry = ignored_at("c1", 1_700_000_000_000);
            entry.body = Some(b"{}".to_vec());
            log.record(entry);
        }
        assert_eq!(drain(&log).len(), (IGNORED_PER_SECOND + 10) as usize);
    }

    #[test]
    fn a_full_queue_drops_and_counts() {
        let log = DeliveryLog::with_capacity(1);
        assert!(log.record(Entry::new("c", Outcome::Ignored)));
        assert!(!log.record(Entry::new("c", Outcome::Ignored)));
        assert_eq!(log.dropped(), 1);
    }
}
