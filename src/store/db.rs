//! One connection or write transaction on either backend, with dynamically bound arguments (chat, mail).
//!
//! Why not the `read!`/`write!` macros the rest of the store uses: chat's operations are long
//! (a send checks the client id, numbers the message, follows the thread, records mentions,
//! reads the message back and fans the events out), and expanding each of them twice would
//! double a few hundred lines of code. Here each statement is dispatched once, at the point it
//! runs, so the chat store is ordinary `async fn`s over a [`Db`]; the SQL text is still the same
//! on both backends (`$n` placeholders, `RETURNING`, `ON CONFLICT`).

use chrono::{DateTime, Utc};
use sqlx::pool::PoolConnection;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{FromRow, Postgres, Sqlite, Transaction};

use crate::store::{Backend, BeginWrite, Store, StoreResult};

/// A bound argument.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    I(i64),
    T(String),
    D(DateTime<Utc>),
    B(bool),
    OI(Option<i64>),
    OT(Option<String>),
    OD(Option<DateTime<Utc>>),
}

impl From<i64> for Arg {
    fn from(v: i64) -> Arg {
        Arg::I(v)
    }
}
impl From<&str> for Arg {
    fn from(v: &str) -> Arg {
        Arg::T(v.to_string())
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Arg {
        Arg::T(v)
    }
}
impl From<DateTime<Utc>> for Arg {
    fn from(v: DateTime<Utc>) -> Arg {
        Arg::D(v)
    }
}
impl From<bool> for Arg {
    fn from(v: bool) -> Arg {
        Arg::B(v)
    }
}
impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Arg {
        Arg::OI(v)
    }
}
impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Arg {
        Arg::OT(v)
    }
}
impl From<Option<DateTime<Utc>>> for Arg {
    fn from(v: Option<DateTime<Utc>>) -> Arg {
        Arg::OD(v)
    }
}

/// `args![a, b, c]`: a `Vec<Arg>`.
macro_rules! args {
    ($($a:expr),* $(,)?) => { vec![$($crate::store::db::Arg::from($a)),*] };
}
pub(crate) use args;

/// A read connection or a write transaction.
pub(crate) enum Db<'c> {
    SqliteTx(Transaction<'static, Sqlite>),
    PgTx(Transaction<'static, Postgres>),
    SqliteConn(PoolConnection<Sqlite>),
    PgConn(PoolConnection<Postgres>),
    /// A job of SQLite's group commit (`store::batch`), inside its own savepoint: the batch
    /// commits, so [`Db::commit`] does nothing.
    SqliteJob(&'c mut sqlx::SqliteConnection),
}

macro_rules! bind_all {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in $args {
            q = match a {
                Arg::I(v) => q.bind(v),
                Arg::T(v) => q.bind(v),
                Arg::D(v) => q.bind(v),
                Arg::B(v) => q.bind(v),
                Arg::OI(v) => q.bind(v),
                Arg::OT(v) => q.bind(v),
                Arg::OD(v) => q.bind(v),
            };
        }
        q
    }};
}

/// Runs `$body` with `$c` bound to the backend's connection.
macro_rules! on {
    ($db:expr, |$c:ident| $body:expr) => {
        match $db {
            Db::SqliteTx(t) => {
                let $c: &mut sqlx::SqliteConnection = &mut *t;
                $body
            }
            Db::SqliteConn(t) => {
                let $c: &mut sqlx::SqliteConnection = &mut *t;
                $body
            }
            Db::SqliteJob(t) => {
                let $c: &mut sqlx::SqliteConnection = &mut *t;
                $body
            }
            Db::PgTx(t) => {
                let $c: &mut sqlx::PgConnection = &mut *t;
                $body
            }
            Db::PgConn(t) => {
                let $c: &mut sqlx::PgConnection = &mut *t;
                $body
            }
        }
    };
}

/// A row type both backends can decode.
pub(crate) trait Row: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin {}
impl<T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin> Row for T {}

impl Db<'_> {
    /// A write transaction (`BEGIN IMMEDIATE` on SQLite).
    pub async fn write(store: &Store) -> StoreResult<Db<'static>> {
        Ok(match &store.backend {
            Backend::Sqlite { write, .. } => Db::SqliteTx(write.begin_write().await?),
            Backend::Postgres(pool) => Db::PgTx(pool.begin_write().await?),
        })
    }

    /// A connection for reading.
    pub async fn read(store: &Store) -> StoreResult<Db<'static>> {
        Ok(match &store.backend {
            Backend::Sqlite { read, .. } => Db::SqliteConn(read.acquire().await?),
            Backend::Postgres(pool) => Db::PgConn(pool.acquire().await?),
        })
    }

    /// Commits a transaction (nothing to do for a read connection).
    pub async fn commit(self) -> StoreResult<()> {
        match self {
            Db::SqliteTx(t) => t.commit().await?,
            Db::PgTx(t) => t.commit().await?,
            Db::SqliteConn(_) | Db::PgConn(_) | Db::SqliteJob(_) => {}
        }
        Ok(())
    }

    pub async fn rows<T: Row>(&mut self, sql: &str, args: Vec<Arg>) -> StoreResult<Vec<T>> {
        Ok(on!(self, |c| bind_all!(sqlx::query_as::<_, T>(sqlx::AssertSqlSafe(sql)), args).fetch_all(c).await?))
    }

    pub async fn opt<T: Row>(&mut self, sql: &str, args: Vec<Arg>) -> StoreResult<Option<T>> {
        Ok(on!(self, |c| bind_all!(sqlx::query_as::<_, T>(sqlx::AssertSqlSafe(sql)), args).fetch_optional(c).await?))
    }

    pub async fn one<T: Row>(&mut self, sql: &str, args: Vec<Arg>) -> StoreResult<T> {
        Ok(on!(self, |c| bind_all!(sqlx::query_as::<_, T>(sqlx::AssertSqlSafe(sql)), args).fetch_one(c).await?))
    }

    /// Runs a statement; the number of rows it changed.
    pub async fn exec(&mut self, sql: &str, args: Vec<Arg>) -> StoreResult<u64> {
        Ok(on!(self, |c| bind_all!(sqlx::query(sqlx::AssertSqlSafe(sql)), args).execute(c).await?.rows_affected()))
    }
}

/// `$a, $b, …` placeholders for `n` values from `$start`: the `IN (…)` of a dynamic list.
pub(crate) fn placeholders(start: usize, n: usize) -> String {
    (start..start + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}
