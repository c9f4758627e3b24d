//! The one store layer for SQLite (embedded default) and PostgreSQL.
//!
//! Queries are written once in the portable subset both databases speak (`$n` placeholders,
//! `ON CONFLICT`, `RETURNING`, BIGINT millisecond timestamps) and run on whichever pool is
//! configured through [`on_db!`], which expands the same code for each concrete driver. Only
//! the DDL exists twice (`migrations/sqlite`, `migrations/postgres`).

pub mod accounts;
pub mod audit;
pub mod checks;
pub mod connectors;
pub mod customers;
pub mod deliveries;
pub mod delivery_log;
pub mod grants;
pub mod groups;
pub mod job_signal;
pub mod links;
pub mod msp_app;
pub mod notes;
pub mod queue;
pub mod requests;
pub mod secrets;
pub mod sessions;
mod sqlite_busy;
pub mod technicians;
pub mod tokens;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use std::str::FromStr;
use std::time::Duration;

/// The app's migrations live in their own table so apalis's SQLite migrations (which use
/// `_sqlx_migrations`) do not collide with ours (sharing the table makes apalis's setup fail
/// with "migration … was previously applied but is missing in the resolved migrations").
const MIGRATIONS_TABLE: &str = "_jitgate_migrations";

/// The end-of-access queue was called `jitgate.expire` before it got the one name `end` from
/// queue to handler to metric: jobs still queued under the old name move over (apalis's tables
/// exist only after its own setup, so this runs after it, and again harmlessly on every start).
const RENAME_END_QUEUE_SQLITE: &str =
    "UPDATE Jobs SET job_type = 'jitgate.end' WHERE job_type = 'jitgate.expire'";
const RENAME_END_QUEUE_POSTGRES: &str =
    "UPDATE apalis.jobs SET job_type = 'jitgate.end' WHERE job_type = 'jitgate.expire'";

#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Run `$body` with `$pool` bound to the concrete pool. The body is compiled once per driver.
#[macro_export]
macro_rules! on_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::store::Db::Sqlite($pool) => $body,
            $crate::store::Db::Postgres($pool) => $body,
        }
    };
}
pub use on_db;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique or foreign-key constraint refused the write; carries the constraint's text.
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("job queue: {0}")]
    Queue(String),
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(d) if d.is_unique_violation() || d.is_foreign_key_violation() => {
                StoreError::Conflict(d.message().to_string())
            }
            _ => StoreError::Database(e),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A write transaction on either database. Store functions that write take `&mut Tx`, so a
/// handler or job composes one transaction from several of them (a change, its secrets and
/// its audit row) that commits together or not at all. Dropping it uncommitted rolls back.
pub enum Tx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

/// Run `$body` with `$conn` bound to the transaction's connection (`&mut SqliteConnection` or
/// `&mut PgConnection`); like [`on_db!`], the body is compiled once per driver. Reborrow it for
/// each statement: `.execute(&mut *conn)`.
#[macro_export]
macro_rules! on_tx {
    ($tx:expr, $conn:ident => $body:expr) => {
        match $tx {
            $crate::store::Tx::Sqlite(t) => {
                let $conn: &mut sqlx::SqliteConnection = &mut *t;
                $body
            }
            $crate::store::Tx::Postgres(t) => {
                let $conn: &mut sqlx::PgConnection = &mut *t;
                $body
            }
        }
    };
}
pub use on_tx;

impl Tx {
    pub async fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }

    /// Push a job that is queued only if the transaction commits.
    pub async fn push_job(&mut self, job: &queue::Job) -> Result<()> {
        use queue::PushJob as _;
        on_tx!(self, conn => conn.push_job(job).await)
    }
}

/// Begin a transaction that will write. On SQLite it takes the write lock up front
/// (`BEGIN IMMEDIATE`): a deferred transaction that reads first and writes later fails at once
/// with SQLITE_BUSY when another writer got in between, instead of waiting `busy_timeout`.
pub trait BeginWrite {
    type Db: sqlx::Database;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = sqlx::Result<sqlx::Transaction<'static, Self::Db>>> + Send;
}

impl BeginWrite for SqlitePool {
    type Db = sqlx::Sqlite;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = sqlx::Result<sqlx::Transaction<'static, sqlx::Sqlite>>> + Send
    {
        self.begin_with("BEGIN IMMEDIATE")
    }
}

impl BeginWrite for PgPool {
    type Db = sqlx::Postgres;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = sqlx::Result<sqlx::Transaction<'static, sqlx::Postgres>>> + Send
    {
        self.begin()
    }
}

impl Db {
    /// Begin a write transaction (on SQLite with the write lock taken up front, see
    /// [`BeginWrite`]).
    pub async fn begin(&self) -> Result<Tx> {
        Ok(match self {
            Db::Sqlite(pool) => Tx::Sqlite(pool.begin_write().await?),
            Db::Postgres(pool) => Tx::Postgres(pool.begin_write().await?),
        })
    }

    /// Connect to `url`, creating the SQLite file (and its folder) if needed.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Db> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // NORMAL with WAL survives a process crash; only an OS crash can lose the last
                // commits, never corrupt the file.
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true);
            // `sqlite::memory:` and `?mode=memory` databases have no file to create.
            if !url.contains(":memory:") && !url.contains("mode=memory") {
                create_private_file(options.get_filename())
                    .map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(max_connections)
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        sqlite_busy::install(&mut conn.lock_handle().await?);
                        Ok(())
                    })
                })
                .connect_with(options)
                .await?;
            Ok(Db::Sqlite(pool))
        } else {
            let options = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await?;
            Ok(Db::Postgres(pool))
        }
    }

    /// A second pool on the same database, for background work. An in-memory SQLite database
    /// gets none (another pool would open another, empty database): it shares this one.
    pub async fn background_pool(&self, url: &str, max_connections: u32) -> Result<Db> {
        if url.contains(":memory:") || url.contains("mode=memory") {
            return Ok(self.clone());
        }
        Db::connect(url, max_connections).await
    }

    /// Apply the app's migrations and the job queue's.
    pub async fn migrate(&self) -> Result<()> {
        match self {
            Db::Sqlite(pool) => {
                let mut m = sqlx::migrate!("./migrations/sqlite");
                m.dangerous_set_table_name(MIGRATIONS_TABLE);
                m.run(pool).await?;
                apalis_sqlite::SqliteStorage::setup(pool)
                    .await
                    .map_err(|e| StoreError::Queue(e.to_string()))?;
                sqlx::query(RENAME_END_QUEUE_SQLITE).execute(pool).await?;
            }
            Db::Postgres(pool) => {
                let mut m = sqlx::migrate!("./migrations/postgres");
                m.dangerous_set_table_name(MIGRATIONS_TABLE);
                m.run(pool).await?;
                apalis_postgres::PostgresStorage::setup(pool)
                    .await
                    .map_err(|e| StoreError::Queue(e.to_string()))?;
                sqlx::query(RENAME_END_QUEUE_POSTGRES).execute(pool).await?;
            }
        }
        Ok(())
    }

    /// Whether the database answers and every app migration is applied (for `/readyz`).
    pub async fn ready(&self) -> Result<bool> {
        let expected = match self {
            Db::Sqlite(_) => sqlx::migrate!("./migrations/sqlite").iter().count(),
            Db::Postgres(_) => sqlx::migrate!("./migrations/postgres").iter().count(),
        } as i64;
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM {MIGRATIONS_TABLE} WHERE success"
        ));
        let applied: i64 = on_db!(self, pool => sqlx::query_scalar(sql).fetch_one(pool).await?);
        Ok(applied >= expected)
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    pub async fn close(&self) {
        on_db!(self, pool => pool.close().await)
    }
}

/// Create the SQLite file (and any missing folders) readable by the owner only, like the
/// master key: the database holds sealed secrets, token hashes and the audit trail. New folders
/// get 0700 and a new file 0600; SQLite creates its `-wal` and `-shm` files with the database
/// file's mode (`findCreateFileMode` and `unixOpenSharedMemory` in
/// https://sqlite.org/src/file/src/os_unix.c). An existing file or folder is left as it is.
fn create_private_file(path: &std::path::Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Milliseconds since the Unix epoch, the one time format in the database.
pub fn now_ms() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 / 1_000_000
}

/// A new opaque id: a prefix naming the kind of thing, then a lower-case ULID.
pub fn new_id(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        ulid::Ulid::generate().to_string().to_ascii_lowercase()
    )
}
