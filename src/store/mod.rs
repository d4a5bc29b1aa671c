//! Storage: the one module that speaks SQL, for SQLite and PostgreSQL alike.
//!
//! Design: a single [`Store`] whose every method is written once. The body of
//! a method is expanded twice by the [`read!`] / [`write!`] macros, once with a
//! `SqlitePool` and once with a `PgPool`, so both backends run the same SQL
//! text (`$1` placeholders, `RETURNING` and `ON CONFLICT` mean the same on
//! both) and the compiler checks both. Where the dialects really differ, a
//! method matches on the backend explicitly. The schema itself lives in one
//! migration tree per dialect (`migrations/{sqlite,postgres}`), because DDL is
//! where they differ most.
//!
//! SQLite specifics: WAL journal, `synchronous = FULL` (an acknowledged commit
//! survives `kill -9` and power loss), foreign keys on, a busy timeout for
//! other processes (the CLI), and all of this process's writes funnelled
//! through one connection that opens transactions with `BEGIN IMMEDIATE`.
//! Readers never block on the writer in WAL mode, and a single writer cannot
//! hit the lock-upgrade deadlock that makes SQLite answer "database is locked"
//! without waiting. Small conditional writes (member PUT and DELETE) share
//! transactions through the writer task in `batch` (group commit), so
//! concurrent clients are not limited to one fsync each.
//!
//! The store speaks domain types and [`StoreError`]; it never sees HTTP.

mod app_passwords;
pub mod audit;
mod batch;
pub mod chat;
pub mod chat_ephemeral;
pub mod chat_files;
pub mod chat_integrations;
pub mod chat_search;
pub mod dav;
pub mod dav_feeds;
pub(crate) mod db;
pub mod groups;
pub mod mail;
pub mod mail_images;
pub mod mail_index;
pub mod oidc;
pub mod push;
mod secrets;
pub mod sessions;
mod settings;
pub mod totp;
mod users;

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, postgres::PgConnection};

use crate::config::{DatabaseConfig, DatabaseUrl};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// Every way a storage operation can fail, in domain words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was violated; the text says which.
    #[error("{0}")]
    Conflict(String),
    /// The database could not be reached or timed out; retrying may help.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error(
        "the database schema is at version {found}, newer than this madang binary knows ({known}); \
         run the newer madang or restore a backup"
    )]
    SchemaTooNew { found: i64, known: i64 },
    /// A conditional write (`If-Match`, `If-None-Match`) found another state.
    #[error("the resource changed since the condition was taken")]
    PreconditionFailed,
    /// Another member of the collection already has this UID; the text is its name.
    #[error("UID already used by {0}")]
    UidConflict(String),
    /// The write would take the owner over their storage quota.
    #[error("storage quota exceeded")]
    QuotaExceeded,
    /// The dead properties of one resource would grow past their limit.
    #[error("the resource's properties would exceed their size limit")]
    PropertiesTooLarge,
    /// The request names something it may not use (a file of someone else's); the text says what.
    #[error("{0}")]
    Invalid(String),
    /// A sync token the collection no longer (or never) knew.
    #[error("unknown or expired sync token")]
    InvalidSyncToken,
    /// Anything else: a bug or a corrupted row. Logged, never shown in detail.
    #[error("database error: {0}")]
    Internal(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
                StoreError::Unavailable(e.to_string())
            }
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(db.message().to_string()),
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound,
            _ => StoreError::Internal(e.to_string()),
        }
    }
}

impl From<crate::tokens::NoRandomness> for StoreError {
    fn from(e: crate::tokens::NoRandomness) -> StoreError {
        StoreError::Internal(e.to_string())
    }
}

/// Maps a unique violation to a conflict the caller can explain.
pub(crate) fn conflict_as(message: &str) -> impl FnOnce(sqlx::Error) -> StoreError + '_ {
    move |e| match StoreError::from(e) {
        StoreError::Conflict(_) => StoreError::Conflict(message.to_string()),
        other => other,
    }
}

#[derive(Debug, Clone)]
enum Backend {
    Sqlite { read: SqlitePool, write: SqlitePool, batcher: batch::Batcher },
    Postgres(PgPool),
}

/// Where the schema stands relative to this binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaStatus {
    Current {
        version: i64,
    },
    /// Migrations are waiting to be applied (`madang migrate` or a start).
    Behind {
        applied: i64,
        known: i64,
    },
}

/// Handle to the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
    /// What each COMMIT appended to push logs, told after it returned (see `push`).
    commits: tokio::sync::broadcast::Sender<push::Commit>,
}

/// Runs `$body` with `$pool` bound to a pool for reading.
macro_rules! read {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite { read: $pool, .. } => $body,
            $crate::store::Backend::Postgres($pool) => $body,
        }
    };
}

/// Runs `$body` with `$pool` bound to the pool that may write.
macro_rules! write {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite { write: $pool, .. } => $body,
            $crate::store::Backend::Postgres($pool) => $body,
        }
    };
}
pub(crate) use {read, write};

/// Opens a write transaction the way each backend needs.
pub(crate) trait BeginWrite {
    type Db: sqlx::Database;
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>;
}

impl BeginWrite for SqlitePool {
    type Db = sqlx::Sqlite;
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        // Take the write lock up front so the busy timeout applies, instead of
        // failing at once when a read transaction tries to upgrade.
        self.begin_with("BEGIN IMMEDIATE").await
    }
}

impl BeginWrite for PgPool {
    type Db = sqlx::Postgres;
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        self.begin().await
    }
}

/// What went wrong connecting to PostgreSQL, in one line that says what to do. sqlx's own text
/// ends in the server's source position (`… at line 768`), which tells an operator nothing.
fn explain_pg_connect_error(e: &sqlx::Error, options: &PgConnectOptions) -> String {
    let user = options.get_username();
    let database = options.get_database().unwrap_or(user);
    match e {
        sqlx::Error::Database(db) => match db.code().as_deref() {
            // invalid_authorization_specification: the role is missing (or may not log in).
            Some("28000") if db.message().contains("does not exist") => format!(
                "{}; create it first, e.g. `sudo -u postgres createuser --pwprompt {user}` \
                 (and the database: `sudo -u postgres createdb --owner {user} {database}`)",
                db.message()
            ),
            Some("3D000") => {
                format!("{}; create it first, e.g. `sudo -u postgres createdb --owner {user} {database}`", db.message())
            }
            Some("28P01") => format!("{}; check the password in database.url (MADANG_DATABASE_URL)", db.message()),
            _ => db.message().to_string(),
        },
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => format!(
            "nothing accepts connections at {}:{}; is PostgreSQL running and listening there?",
            options.get_host(),
            options.get_port()
        ),
        sqlx::Error::PoolTimedOut => "no answer within database.connect_timeout".to_string(),
        other => other.to_string(),
    }
}

impl Store {
    /// Connects (creating the SQLite file and its directory if needed) but
    /// does not migrate. Fails within `connect_timeout` if the database is
    /// unreachable; the error never contains the password.
    pub async fn connect(config: &DatabaseConfig) -> StoreResult<Store> {
        let unavailable =
            |e: sqlx::Error| StoreError::Unavailable(format!("cannot connect to {}: {e}", config.url.redacted()));
        let backend = match &config.url {
            DatabaseUrl::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        StoreError::Unavailable(format!("cannot create directory {}: {e}", dir.display()))
                    })?;
                }
                let options = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    .foreign_keys(true)
                    .busy_timeout(config.busy_timeout);
                // Every in-process writer queues for this one connection, so
                // it waits longer than a single statement's busy timeout.
                let write = SqlitePoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(config.connect_timeout.max(config.busy_timeout) + Duration::from_secs(25))
                    .connect_with(options.clone())
                    .await
                    .map_err(unavailable)?;
                // Readers mostly scan whole collections, which no page cache of
                // a useful size holds (the OS caches the file anyway); 1 MiB
                // keeps the hot index pages at a quarter of SQLite's default.
                let read = SqlitePoolOptions::new()
                    .max_connections(config.sqlite_readers)
                    .acquire_timeout(config.connect_timeout)
                    .connect_with(options.read_only(true).create_if_missing(false).pragma("cache_size", "-1024"))
                    .await
                    .map_err(unavailable)?;
                let batcher = batch::Batcher::start(write.clone());
                Backend::Sqlite { read, write, batcher }
            }
            DatabaseUrl::Postgres(url) => {
                let options = PgConnectOptions::from_str(url).map_err(|e| {
                    StoreError::Unavailable(format!("invalid database URL {}: {e}", config.url.redacted()))
                })?;
                let pool = Self::pg_pool(options.clone(), config).await.map_err(|e| {
                    StoreError::Unavailable(format!(
                        "cannot connect to {}: {}",
                        config.url.redacted(),
                        explain_pg_connect_error(&e, &options)
                    ))
                })?;
                Backend::Postgres(pool)
            }
        };
        // Capacity only bounds how far the push service may lag before it rechecks everyone;
        // the events it holds are copies (the log is the truth).
        let (commits, _) = tokio::sync::broadcast::channel(4096);
        Ok(Store { backend, commits })
    }

    async fn pg_pool(options: PgConnectOptions, config: &DatabaseConfig) -> Result<PgPool, sqlx::Error> {
        let options = options.application_name("madang");
        // One direct connection first: a pool only reports "timed out", while
        // this surfaces the real reason (refused, bad password, no database).
        let probe = tokio::time::timeout(config.connect_timeout, PgConnection::connect_with(&options))
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)??;
        let _ = probe.close().await;
        let connect = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(config.connect_timeout)
            .connect_with(options);
        // `connect_with` retries until the acquire timeout; bound it anyway so
        // a black-holed host cannot hang start-up.
        tokio::time::timeout(config.connect_timeout + Duration::from_secs(1), connect)
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?
    }

    pub fn kind(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite { .. } => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    fn migrator(&self) -> &'static Migrator {
        match self.backend {
            Backend::Sqlite { .. } => &SQLITE_MIGRATIONS,
            Backend::Postgres(_) => &POSTGRES_MIGRATIONS,
        }
    }

    /// Newest schema version this binary knows.
    pub fn known_version(&self) -> i64 {
        self.migrator().iter().map(|m| m.version).max().unwrap_or(0)
    }

    /// Versions recorded as applied, ascending; empty for a new database.
    async fn applied_versions(&self) -> StoreResult<Vec<i64>> {
        let exists: bool =
            match &self.backend {
                Backend::Sqlite { read, .. } => sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations')",
                )
                .fetch_one(read)
                .await?,
                Backend::Postgres(pool) => {
                    sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL").fetch_one(pool).await?
                }
            };
        if !exists {
            return Ok(Vec::new());
        }
        Ok(read!(self, |pool| sqlx::query_scalar(
            "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version"
        )
        .fetch_all(pool)
        .await?))
    }

    /// Where the schema stands; refuses a database written by a newer binary.
    pub async fn schema_status(&self) -> StoreResult<SchemaStatus> {
        let applied = self.applied_versions().await?;
        let known = self.known_version();
        if let Some(unknown) = applied.iter().find(|v| !self.migrator().version_exists(**v)) {
            return Err(StoreError::SchemaTooNew { found: *unknown.max(applied.last().unwrap_or(unknown)), known });
        }
        let newest = applied.last().copied().unwrap_or(0);
        if applied.len() == self.migrator().iter().count() {
            Ok(SchemaStatus::Current { version: newest })
        } else {
            Ok(SchemaStatus::Behind { applied: newest, known })
        }
    }

    /// Applies pending migrations. Safe to run from several processes at
    /// once: sqlx takes a lock (an advisory lock on PostgreSQL).
    pub async fn migrate(&self) -> StoreResult<SchemaStatus> {
        self.schema_status().await?;
        let result = write!(self, |pool| self.migrator().run(pool).await);
        result.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(inner) => StoreError::from(inner),
            other => StoreError::Internal(format!("migration failed: {other}")),
        })?;
        self.schema_status().await
    }

    /// Applies another set of migrations: upgrade tests use it to build the
    /// database an older binary would have left behind.
    #[doc(hidden)]
    pub async fn run_migrator(&self, migrator: &Migrator) -> StoreResult<()> {
        write!(self, |pool| migrator.run(pool).await).map_err(|e| StoreError::Internal(e.to_string()))
    }

    /// Connections (open, idle) across this store's pools, for metrics.
    pub fn pool_stats(&self) -> (u32, usize) {
        match &self.backend {
            Backend::Sqlite { read, write, .. } => (read.size() + write.size(), read.num_idle() + write.num_idle()),
            Backend::Postgres(pool) => (pool.size(), pool.num_idle()),
        }
    }

    /// Closes every connection; later calls fail with `Unavailable`.
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite { read, write, .. } => {
                read.close().await;
                write.close().await;
            }
            Backend::Postgres(pool) => pool.close().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_dialects_have_the_same_migration_versions() {
        let a: Vec<i64> = SQLITE_MIGRATIONS.iter().map(|m| m.version).collect();
        let b: Vec<i64> = POSTGRES_MIGRATIONS.iter().map(|m| m.version).collect();
        assert_eq!(a, b, "every migration needs a twin in the other dialect");
    }
}
