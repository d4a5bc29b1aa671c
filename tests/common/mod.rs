//! Test harness shared by the integration tests: throw-away databases on
//! SQLite and PostgreSQL, an in-process app, and the real binary.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use madang::accounts::{Accounts, NewAccount};
use madang::app::{AppState, HttpSettings};
use madang::auth::Authenticator;
use madang::clock::{Clock, SystemClock};
use madang::config::{AuthConfig, DatabaseConfig, DatabaseUrl};
use madang::domain::{Role, User, UserState};
use madang::store::Store;
use sqlx::Connection;

pub mod api;
pub mod blob;
pub mod browser;
pub mod dav;
pub mod dovecot;

/// Which backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh, isolated database: a temporary SQLite file, or a PostgreSQL
/// schema of its own (dropped when the value is dropped, even on panic).
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    dir: tempfile::TempDir,
    schema: Option<(String, String)>,
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}", dir.path().join("madang.db").display());
        TestDb { backend: Backend::Sqlite, url, dir, schema: None }
    }

    /// `None` (after one loud line) when `MADANG_TEST_DATABASE_URL` is unset;
    /// CI sets `MADANG_REQUIRE_POSTGRES=1`, which turns that into a failure.
    pub async fn postgres() -> Option<TestDb> {
        let Ok(base) = std::env::var("MADANG_TEST_DATABASE_URL") else {
            if std::env::var("MADANG_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                panic!("MADANG_REQUIRE_POSTGRES=1 but MADANG_TEST_DATABASE_URL is not set");
            }
            eprintln!("!!!!! POSTGRESQL TEST SKIPPED: set MADANG_TEST_DATABASE_URL=postgres://… to run it !!!!!");
            return None;
        };
        let mut suffix = [0u8; 6];
        getrandom::getrandom(&mut suffix).expect("randomness");
        let schema = format!("t_madang_{}", suffix.iter().map(|b| format!("{b:02x}")).collect::<String>());
        let mut conn = sqlx::PgConnection::connect(&base).await.expect("connect to MADANG_TEST_DATABASE_URL");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&mut conn)
            .await
            .expect("create test schema");
        let _ = conn.close().await;
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options[search_path]={schema}");
        let dir = tempfile::tempdir().expect("temporary directory");
        Some(TestDb { backend: Backend::Postgres, url, dir, schema: Some((base, schema)) })
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn database_config(&self) -> DatabaseConfig {
        let url = match self.backend {
            Backend::Sqlite => DatabaseUrl::Sqlite(self.dir.path().join("madang.db")),
            Backend::Postgres => DatabaseUrl::Postgres(self.url.clone()),
        };
        DatabaseConfig {
            url,
            max_connections: 10,
            sqlite_readers: 4,
            connect_timeout: Duration::from_secs(10),
            busy_timeout: Duration::from_secs(10),
        }
    }

    /// Runs SQL on a connection of its own, outside the store (setting up or looking at what
    /// the store's API does not show).
    pub async fn execute(&self, sql: &str) {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        match self.backend {
            Backend::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&self.url).await.expect("connect");
                sqlx::raw_sql(sql).execute(&mut c).await.expect("execute");
            }
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.url).await.expect("connect");
                sqlx::raw_sql(sql).execute(&mut c).await.expect("execute");
            }
        }
    }

    /// The one integer a query answers, on a connection of its own (as [`TestDb::execute`]).
    pub async fn scalar(&self, sql: &str) -> i64 {
        let sql = sqlx::AssertSqlSafe(sql.to_string());
        match self.backend {
            Backend::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&self.url).await.expect("connect");
                sqlx::query_scalar(sql).fetch_one(&mut c).await.expect("query")
            }
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.url).await.expect("connect");
                sqlx::query_scalar(sql).fetch_one(&mut c).await.expect("query")
            }
        }
    }

    /// A connected and migrated store.
    pub async fn store(&self) -> Store {
        let store = Store::connect(&self.database_config()).await.expect("connect");
        store.migrate().await.expect("migrate");
        store
    }

    /// Environment for running the `madang` binary against this database.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("MADANG_DATA_DIR".into(), self.dir.path().display().to_string()),
            ("MADANG_DATABASE_URL".into(), self.url.clone()),
            ("MADANG_CONFIG".into(), String::new()),
            // Test speed: the hash cost is a configuration knob like any other.
            ("MADANG_AUTH_ARGON2_MEMORY_KIB".into(), "1024".into()),
            ("MADANG_AUTH_ARGON2_ITERATIONS".into(), "1".into()),
        ]
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((base, schema)) = self.schema.take() else { return };
        // Drop runs outside async context (maybe during a panic): use a
        // thread with its own runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&base).await.ok()?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {schema} CASCADE")))
                    .execute(&mut conn)
                    .await
                    .ok()?;
                conn.close().await.ok()
            })
        })
        .join();
    }
}

/// Cheap argon2 parameters: the logic under test is the same.
pub fn test_auth_config() -> AuthConfig {
    AuthConfig { argon2_memory_kib: 1024, argon2_iterations: 1, ..AuthConfig::default() }
}

/// An app over a test database, driven without a socket.
pub struct TestApp {
    pub store: Store,
    pub auth: Arc<Authenticator>,
    pub accounts: Arc<Accounts>,
    pub state: AppState,
}

impl TestApp {
    pub async fn new(db: &TestDb) -> TestApp {
        Self::with(db, test_auth_config(), Arc::new(SystemClock)).await
    }

    /// An app over a store as it is, without migrating it first.
    pub async fn with_store(_db: &TestDb, store: Store) -> TestApp {
        let state = AppState::new(store, Arc::new(SystemClock), test_auth_config(), Self::settings()).await.unwrap();
        TestApp { store: state.store.clone(), auth: state.auth.clone(), accounts: state.accounts.clone(), state }
    }

    fn settings() -> HttpSettings {
        HttpSettings {
            max_body_size: 64 * 1024,
            request_timeout: Duration::from_secs(10),
            proxies: madang::proxies::TrustedProxies::None,
            metrics: madang::config::MetricsAccess::Local,
        }
    }

    pub async fn with(db: &TestDb, auth_config: AuthConfig, clock: Arc<dyn Clock>) -> TestApp {
        let state = AppState::new(db.store().await, clock, auth_config, Self::settings()).await.unwrap();
        TestApp { store: state.store.clone(), auth: state.auth.clone(), accounts: state.accounts.clone(), state }
    }

    pub fn router(&self) -> axum::Router {
        madang::app::app(self.state.clone())
    }

    pub async fn add_user(&self, name: &str, password: &str) -> User {
        self.accounts
            .add_user(NewAccount {
                username: name.into(),
                email: format!("{name}@example.com"),
                display_name: None,
                role: Role::Member,
                state: UserState::Active,
                password: Some(password.into()),
            })
            .await
            .unwrap()
    }
}

/// `madang args…` with exactly `env` (plus `PATH`): nothing leaks in from
/// the developer's environment.
fn command(env: &[(String, String)], args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_madang"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    command
}

/// Runs `madang args…` with `env`, feeding `stdin`.
pub fn madang(env: &[(String, String)], args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut child = command(env, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn madang");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).ok();
    child.wait_with_output().expect("wait for madang")
}

/// A `madang serve` process on a free port; killed when dropped.
pub struct Server {
    pub child: Child,
    pub base: String,
}

impl Server {
    pub async fn start(env: &[(String, String)]) -> Server {
        let server = Server::spawn(env);
        server.wait_ready().await;
        server
    }

    /// Starts the process without waiting for it to be ready.
    pub fn spawn(env: &[(String, String)]) -> Server {
        let port = free_port();
        let mut env = env.to_vec();
        env.push(("MADANG_LISTEN".into(), format!("127.0.0.1:{port}")));
        env.push(("MADANG_LOG_LEVEL".into(), "warn".into()));
        let child = command(&env, &["serve"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn madang serve");
        Server { child, base: format!("http://127.0.0.1:{port}") }
    }

    pub async fn wait_ready(&self) {
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if let Ok(r) = client.get(format!("{}/readyz", self.base)).send().await
                && r.status() == 200
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("madang did not become ready at {}", self.base);
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Runs a test body on both backends.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = $crate::common::TestDb::sqlite();
                    super::$name(&db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = $crate::common::TestDb::postgres().await else { return };
                    super::$name(&db).await;
                }
            )*
        }
    };
}
