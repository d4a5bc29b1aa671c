//! The `madang` command line, run as a real process against both databases.

mod common;

use common::{TestDb, madang};

fn out(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn err(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// One line on stderr, starting with `madang:`.
fn assert_one_line_error(o: &std::process::Output, code: i32, needle: &str) {
    assert_eq!(o.status.code(), Some(code), "stdout: {}\nstderr: {}", out(o), err(o));
    let e = err(o);
    assert_eq!(e.trim_end().lines().count(), 1, "one line expected, got: {e}");
    assert!(e.starts_with("madang: "), "{e}");
    assert!(e.contains(needle), "`{needle}` not in: {e}");
}

async fn user_lifecycle(db: &TestDb) {
    let env = db.env();
    let o = madang(&env, &["user", "add", "Alice", "--email", "alice@example.com", "--admin"], "alice's password\n");
    assert!(o.status.success(), "{}", err(&o));
    assert!(out(&o).is_empty(), "nothing on stdout: {}", out(&o));

    let o = madang(
        &env,
        &["user", "add", "bob", "--email", "bob@example.com", "--display-name", "Bob B."],
        "bobs password\n",
    );
    assert!(o.status.success(), "{}", err(&o));

    let o = madang(&env, &["user", "list"], "");
    assert!(o.status.success());
    let listing = out(&o);
    assert!(listing.contains("alice") && listing.contains("admin") && listing.contains("bob"), "{listing}");

    let o = madang(&env, &["user", "list", "--json"], "");
    let users: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(users.as_array().unwrap().len(), 2);
    assert_eq!(users[1]["display_name"], "Bob B.");
    assert!(!out(&o).contains("argon2"), "hashes never leave the server");

    let o = madang(&env, &["user", "show", "BOB"], "");
    assert!(out(&o).contains("role:          member"), "{}", out(&o));

    for (args, expect) in [
        (vec!["user", "set-role", "bob", "admin"], "\"admin\""),
        (vec!["user", "disable", "bob"], "\"disabled\""),
        (vec!["user", "enable", "bob"], "\"active\""),
        (vec!["user", "set-role", "bob", "member"], "\"member\""),
    ] {
        let o = madang(&env, &args, "");
        assert!(o.status.success(), "{args:?}: {}", err(&o));
        let shown = out(&madang(&env, &["user", "show", "bob", "--json"], ""));
        assert!(shown.contains(expect), "{args:?}: {shown}");
    }

    let o = madang(&env, &["user", "set-password", "bob"], "a new password\n");
    assert!(o.status.success(), "{}", err(&o));

    // Deleting needs confirmation; without a terminal, that is --yes.
    let o = madang(&env, &["user", "delete", "bob"], "");
    assert_one_line_error(&o, 2, "--yes");
    let o = madang(&env, &["user", "delete", "bob", "--yes"], "");
    assert!(o.status.success(), "{}", err(&o));
    let o = madang(&env, &["user", "show", "bob"], "");
    assert_one_line_error(&o, 1, "no such user: bob");
}

async fn the_last_admin_is_protected(db: &TestDb) {
    let env = db.env();
    madang(&env, &["user", "add", "root", "--email", "root@example.com", "--admin"], "root password\n");
    assert_one_line_error(&madang(&env, &["user", "disable", "root"], ""), 1, "last active admin");
    assert_one_line_error(&madang(&env, &["user", "set-role", "root", "member"], ""), 1, "last active admin");
    assert_one_line_error(&madang(&env, &["user", "delete", "root", "--yes"], ""), 1, "last active admin");
    madang(&env, &["user", "add", "second", "--email", "s@example.com", "--admin"], "second password\n");
    assert!(madang(&env, &["user", "disable", "root"], "").status.success());
}

async fn approving_only_pending_accounts(db: &TestDb) {
    let env = db.env();
    madang(&env, &["user", "add", "active", "--email", "a@example.com"], "a password\n");
    assert_one_line_error(&madang(&env, &["user", "approve", "active"], ""), 1, "not pending");
    // Pending accounts come from sign-up requests; make one directly.
    let store = db.store().await;
    let user = store.user_by_name(&madang::domain::Username::parse("active").unwrap()).await.unwrap();
    store.set_state(user.id, madang::domain::UserState::Pending, chrono::Utc::now()).await.unwrap();
    let o = madang(&env, &["user", "approve", "active"], "");
    assert!(o.status.success(), "{}", err(&o));
    assert!(out(&madang(&env, &["user", "show", "active", "--json"], "")).contains("\"active\""));
    // Administrative changes from the command line are audited like the admin API's.
    let query =
        madang::store::audit::AuditQuery { action: Some("admin.user.".into()), limit: 10, ..Default::default() };
    let log = store.audit_records(&query).await.unwrap();
    let actions: Vec<(&str, &str, &str)> =
        log.iter().map(|r| (r.action.as_str(), r.actor_name.as_str(), r.target.as_str())).collect();
    assert_eq!(
        actions,
        [("admin.user.approve", "command line", "active"), ("admin.user.create", "command line", "active")]
    );
}

async fn app_password_lifecycle(db: &TestDb) {
    let env = db.env();
    madang(&env, &["user", "add", "carol", "--email", "carol@example.com"], "carol's password\n");
    let o = madang(&env, &["app-password", "add", "carol", "Carol's iPhone"], "");
    assert!(o.status.success(), "{}", err(&o));
    let secret = out(&o).trim().to_string();
    assert_eq!(out(&o).lines().count(), 1, "only the password on stdout");
    assert_eq!(secret.len(), 34, "{secret}");

    let o = madang(&env, &["app-password", "list", "carol", "--json"], "");
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(list[0]["label"], "Carol's iPhone");
    assert!(!out(&o).contains(&secret));
    let id = list[0]["id"].to_string();

    assert_one_line_error(&madang(&env, &["app-password", "revoke", "carol", "999"], ""), 1, "no such app password");
    assert_one_line_error(&madang(&env, &["app-password", "revoke", "carol", "abc"], ""), 2, "not a valid id");
    let o = madang(&env, &["app-password", "revoke", "carol", &id], "");
    assert!(o.status.success(), "{}", err(&o));
    let o = madang(&env, &["app-password", "list", "carol"], "");
    assert_eq!(out(&o).lines().count(), 1, "only the header is left: {}", out(&o));
    assert_one_line_error(&madang(&env, &["app-password", "add", "nobody", "x"], ""), 1, "no such user");
}

async fn bad_input_exits_non_zero_with_one_line(db: &TestDb) {
    let env = db.env();
    let add = |name: &str, email: &str, stdin: &str| madang(&env, &["user", "add", name, "--email", email], stdin);
    assert_one_line_error(&add("bad name", "x@example.com", "long enough\n"), 2, "invalid user name");
    // See: issue 19 — dot-segment names were accepted and had unusable DAV URLs.
    assert_one_line_error(&add("..", "dots@example.com", "long enough\n"), 2, "invalid user name");
    assert_one_line_error(&add(".", "dot@example.com", "long enough\n"), 2, "invalid user name");
    assert_one_line_error(&add("okname", "not-an-email", "long enough\n"), 2, "invalid e-mail address");
    assert_one_line_error(&add("okname", "x@example.com", "short\n"), 2, "too short");
    assert_one_line_error(&add("okname", "x@example.com", ""), 2, "no password given");
    assert!(add("dup", "x@example.com", "long enough\n").status.success());
    assert_one_line_error(&add("DUP", "x@example.com", "long enough\n"), 1, "already exists");
    assert_one_line_error(&madang(&env, &["user", "show", "ghost"], ""), 1, "no such user");
    // clap's own usage errors also exit with 2.
    let o = madang(&env, &["user", "set-role", "dup", "king"], "");
    assert_eq!(o.status.code(), Some(2));
    let o = madang(&env, &["user", "frobnicate"], "");
    assert_eq!(o.status.code(), Some(2));
}

on_both_databases!(
    user_lifecycle,
    the_last_admin_is_protected,
    approving_only_pending_accounts,
    app_password_lifecycle,
    bad_input_exits_non_zero_with_one_line,
);

/// Configuration errors: the key, the value, what is allowed; exit 2.
mod config {
    use super::*;

    fn env_with(extra: &[(&str, &str)]) -> (tempfile::TempDir, Vec<(String, String)>) {
        let dir = tempfile::tempdir().unwrap();
        let mut env = vec![
            ("MADANG_DATA_DIR".to_string(), dir.path().display().to_string()),
            ("MADANG_CONFIG".to_string(), String::new()),
        ];
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        (dir, env)
    }

    #[test]
    fn bad_values_exit_2_naming_the_key() {
        for (key, value, needle) in [
            ("MADANG_LISTEN", "localhost", "`server.listen` (from MADANG_LISTEN)"),
            ("MADANG_DATABASE_MAX_CONNECTIONS", "0", "from 1 to 1000"),
            ("MADANG_SERVER_REQUEST_TIMEOUT", "forever", "a duration"),
            ("MADANG_LOG_FORMAT", "xml", "`human` or `json`"),
            ("MADANG_DATABASE_URL", "mysql://u:topsecret@h/db", "expected `sqlite://path`"),
            ("MADANG_BRAND_PRIMARY_COLOR", "blue", "`brand.primary_color` (from MADANG_BRAND_PRIMARY_COLOR)"),
            ("MADANG_BRAND_LOGO", "/etc/madang/logo.gif", "an `.svg` or `.png` file"),
        ] {
            let (_dir, env) = env_with(&[(key, value)]);
            for args in [&["serve"][..], &["config", "check"], &["user", "list"]] {
                let o = madang(&env, args, "");
                assert_one_line_error(&o, 2, needle);
                assert!(!err(&o).contains("topsecret"), "{}", err(&o));
            }
        }
    }

    /// The logo is read at start: a missing or mislabelled file stops every
    /// command that builds the server's state, with one line and exit 2.
    #[test]
    fn a_bad_brand_logo_is_a_configuration_error() {
        let (dir, _) = env_with(&[]);
        let fake = dir.path().join("logo.png");
        std::fs::write(&fake, "<svg/>").unwrap();
        for (path, needle) in [("/nonexistent/logo.svg", "cannot read it"), (fake.to_str().unwrap(), "not a PNG")] {
            let (_dir, env) = env_with(&[("MADANG_BRAND_LOGO", path)]);
            for args in [&["serve"][..], &["config", "check"], &["user", "list"]] {
                let o = madang(&env, args, "");
                assert_one_line_error(&o, 2, needle);
                assert!(err(&o).contains("`brand.logo`"), "{}", err(&o));
            }
        }
    }

    #[test]
    fn a_missing_or_broken_file_is_an_error() {
        let (dir, env) = env_with(&[]);
        let o = madang(&env, &["--config", "/nonexistent/madang.toml", "config", "check"], "");
        assert_one_line_error(&o, 2, "cannot read configuration file");
        let file = dir.path().join("m.toml");
        std::fs::write(&file, "[server\nlisten=1").unwrap();
        let o = madang(&env, &["--config", file.to_str().unwrap(), "config", "check"], "");
        assert_one_line_error(&o, 2, "is not valid TOML");
        std::fs::write(&file, "[databse]\nurl = \"sqlite://x\"\n").unwrap();
        let o = madang(&env, &["--config", file.to_str().unwrap(), "config", "check"], "");
        assert_one_line_error(&o, 2, "unknown configuration key `databse`");
    }

    #[test]
    fn config_check_masks_secrets() {
        let (dir, env) = env_with(&[]);
        let file = dir.path().join("m.toml");
        std::fs::write(&file, "[server]\nlisten = \"127.0.0.1:9999\"\n").unwrap();
        let o = madang(&env, &["--config", file.to_str().unwrap(), "config", "check"], "");
        assert!(o.status.success(), "{}", err(&o));
        let text = out(&o);
        assert!(text.contains("server.listen") && text.contains("127.0.0.1:9999"), "{text}");
        assert!(text.contains("reachable"), "{text}");

        let (_dir, env) = env_with(&[("MADANG_DATABASE_URL", "postgres://madang:hunter2@127.0.0.1:1/madang")]);
        let o = madang(&env, &["config", "check"], "");
        assert_eq!(o.status.code(), Some(1), "an unreachable database is an error");
        assert!(out(&o).contains("postgres://madang:****@127.0.0.1:1/madang"), "{}", out(&o));
        assert!(!out(&o).contains("hunter2") && !err(&o).contains("hunter2"));
    }

    #[test]
    fn an_unreachable_database_fails_fast_without_the_password() {
        let (_dir, env) = env_with(&[
            ("MADANG_DATABASE_URL", "postgres://madang:hunter2@127.0.0.1:1/madang"),
            ("MADANG_DATABASE_CONNECT_TIMEOUT", "2s"),
        ]);
        let started = std::time::Instant::now();
        let o = madang(&env, &["serve"], "");
        assert_one_line_error(&o, 1, "cannot connect to postgres://madang:****@127.0.0.1:1/madang");
        assert!(!err(&o).contains("hunter2"));
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "it does not hang");
    }

    #[test]
    fn every_command_has_help() {
        let (_dir, env) = env_with(&[]);
        for args in [
            &["--help"][..],
            &["serve", "--help"],
            &["migrate", "--help"],
            &["config", "check", "--help"],
            &["user", "add", "--help"],
            &["user", "list", "--help"],
            &["user", "delete", "--help"],
            &["app-password", "add", "--help"],
            &["app-password", "revoke", "--help"],
        ] {
            let o = madang(&env, args, "");
            assert!(o.status.success(), "{args:?}");
            assert!(out(&o).contains("Usage:"), "{args:?}: {}", out(&o));
        }
    }
}

/// See: issue 19 — a missing PostgreSQL role ended in `… role "madang" does not exist at line
/// 768`. Now one line says what is missing and how to create it.
#[tokio::test]
async fn issue19_missing_postgres_role_or_database_says_what_to_do() {
    let Some(db) = TestDb::postgres().await else { return };
    let Ok(base) = std::env::var("MADANG_TEST_DATABASE_URL") else { return };
    let url = url::Url::parse(&base).unwrap();
    let host = url.host_str().unwrap_or("127.0.0.1");
    let port = url.port().unwrap_or(5432);
    let with_url = |u: String| {
        let mut env = db.env();
        env.retain(|(k, _)| k != "MADANG_DATABASE_URL");
        env.push(("MADANG_DATABASE_URL".into(), u));
        env
    };
    let o = madang(&with_url(format!("postgres://no_such_role_19:pw@{host}:{port}/x")), &["migrate"], "");
    assert_one_line_error(&o, 1, "role \"no_such_role_19\" does not exist; create it first");
    assert!(err(&o).contains("createuser") && !err(&o).contains("at line"), "{}", err(&o));
    assert!(!err(&o).contains(":pw@"), "the password is never shown: {}", err(&o));
    let user = if url.username().is_empty() { "postgres" } else { url.username() };
    let o = madang(&with_url(format!("postgres://{user}@{host}:{port}/no_such_db_19")), &["migrate"], "");
    assert_one_line_error(&o, 1, "database \"no_such_db_19\" does not exist; create it first");
    assert!(err(&o).contains("createdb") && !err(&o).contains("at line"), "{}", err(&o));
}
