//! Linked mail accounts through the real router (`/api/v1/mail`, docs/mail.md), on both
//! databases, against a real Dovecot (conformance-tests/dovecot.sh; `.ci/run` starts it and
//! sets `MADANG_TEST_DOVECOT_*`): the connection test naming the failed step, linking only
//! after it passes, sealed passwords, per-user isolation, defaults, and the outbound guard.

mod common;

use axum::http::StatusCode;
use common::api::{assert_error, call};
use common::dav::users;
use common::{TestApp, TestDb};
use madang::config::MailConfig;
use madang::modules::Module;
use serde_json::{Value, json};

/// The Dovecot the harness started: `(imap, imaps, submission, CA PEM)`, or `None` (after a
/// loud line) when there is none; `MADANG_REQUIRE_DOVECOT=1` (CI) makes that a failure.
fn dovecot() -> Option<(u16, u16, u16, Vec<u8>)> {
    let port = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u16>().ok());
    let found = (|| {
        let ca = std::fs::read(std::env::var("MADANG_TEST_DOVECOT_CA").ok()?).ok()?;
        Some((
            port("MADANG_TEST_DOVECOT_IMAP")?,
            port("MADANG_TEST_DOVECOT_IMAPS")?,
            port("MADANG_TEST_DOVECOT_SUBMISSION")?,
            ca,
        ))
    })();
    if found.is_none() {
        if std::env::var("MADANG_REQUIRE_DOVECOT").is_ok_and(|v| v == "1") {
            panic!("MADANG_REQUIRE_DOVECOT=1 but no Dovecot: run conformance-tests/dovecot.sh start DIR");
        }
        eprintln!(
            "!!!!! MAIL TEST SKIPPED: start conformance-tests/dovecot.sh and export its MADANG_TEST_DOVECOT_* lines !!!!!"
        );
    }
    found
}

/// An app with mail on, users alice and bob, 127.0.0.1 allowed and the fixture's CA trusted.
async fn mail_app(db: &TestDb, ca: &[u8]) -> TestApp {
    let app = configured(db, ca, true, true).await;
    users(&app, &["alice", "bob"]).await;
    app
}

/// The same over a database that has its users already; `trust: false` leaves the CA out,
/// `allow: false` the network.
async fn configured(db: &TestDb, ca: &[u8], allow: bool, trust: bool) -> TestApp {
    let mut app = TestApp::new(db).await;
    app.state.modules.set(&[(Module::Mail, true)]).await.unwrap();
    let config = MailConfig {
        outbound: madang::outbound::OutboundPolicy {
            allowed: if allow { madang::outbound::parse_list("127.0.0.1").unwrap() } else { vec![] },
        },
        extra_roots: if trust { ca.to_vec() } else { Vec::new() },
        connect_timeout: std::time::Duration::from_secs(5),
        max_accounts_per_user: 2,
    };
    app.state = app.state.clone().with_mail(config).unwrap();
    app
}

/// Alice's Dovecot mailbox over IMAPS and submission with STARTTLS, as a phone would be set up.
fn settings(imaps: u16, submission: u16, password: &str) -> Value {
    json!({
        "email": "alice@example.test", "display_name": "Alice Kim",
        "imap_host": "localhost", "imap_port": imaps, "imap_security": "tls",
        "smtp_host": "localhost", "smtp_port": submission, "smtp_security": "starttls",
        "username": "alice@example.test", "password": password,
    })
}

async fn linking_runs_the_connection_test_first(db: &TestDb) {
    let Some((_, imaps, submission, ca)) = dovecot() else { return };
    let app = mail_app(db, &ca).await;
    // The test alone: a wrong password is named as such, on both servers.
    let r = call(&app, "alice", "POST", "/api/v1/mail/accounts/test", Some(settings(imaps, submission, "nope"))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["ok"], false);
    assert_eq!(r.body["imap"]["failure"]["step"], "authentication", "{}", r.text);
    assert_eq!(r.body["smtp"]["failure"]["step"], "authentication", "{}", r.text);
    // Linking with it saves nothing and says why.
    let r = call(&app, "alice", "POST", "/api/v1/mail/accounts", Some(settings(imaps, submission, "nope"))).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "connection_failed");
    assert_eq!(r.body["details"]["imap"]["failure"]["step"], "authentication");
    assert_eq!(call(&app, "alice", "GET", "/api/v1/mail/accounts", None).await.body, json!([]));
    // The right one: linked, the first account is the default, the password never comes back.
    let r =
        call(&app, "alice", "POST", "/api/v1/mail/accounts", Some(settings(imaps, submission, "alice-imap-pw"))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!((r.body["email"].as_str(), r.body["default"].as_bool()), (Some("alice@example.test"), Some(true)));
    assert!(!r.text.contains("alice-imap-pw") && r.body.get("password").is_none(), "{}", r.text);
    let id = r.body["id"].as_i64().unwrap();
    let listed = call(&app, "alice", "GET", "/api/v1/mail/accounts", None).await;
    assert_eq!(listed.body.as_array().map(Vec::len), Some(1));
    assert!(!listed.text.contains("alice-imap-pw"));
    // Sealed at rest: the password is nowhere in the row.
    assert_eq!(db.scalar("SELECT COUNT(*) FROM mail_accounts WHERE secret LIKE '%alice-imap-pw%'").await, 0);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM mail_accounts WHERE secret <> ''").await, 1);
    // The stored password still works (it was sealed for this row and opens for it).
    let r = call(&app, "alice", "POST", &format!("/api/v1/mail/accounts/{id}/test"), None).await;
    assert_eq!(r.body["ok"], true, "{}", r.text);
    assert!(r.body["imap"]["capabilities"].as_array().unwrap().iter().any(|c| c == "IDLE"), "{}", r.text);
    // The same address twice is a conflict.
    let r =
        call(&app, "alice", "POST", "/api/v1/mail/accounts", Some(settings(imaps, submission, "alice-imap-pw"))).await;
    assert_error(&r, StatusCode::CONFLICT, "conflict");
}

async fn changes_defaults_and_unlinking(db: &TestDb) {
    let Some((imap, imaps, submission, ca)) = dovecot() else { return };
    let app = mail_app(db, &ca).await;
    let first =
        call(&app, "alice", "POST", "/api/v1/mail/accounts", Some(settings(imaps, submission, "alice-imap-pw")))
            .await
            .body["id"]
            .as_i64()
            .unwrap();
    // Bob's mailbox linked by alice too (she knows its password), over STARTTLS on 143-style.
    let mut bobs = settings(imaps, submission, "bob-imap-pw");
    bobs["email"] = json!("bob@example.test");
    bobs["username"] = json!("bob@example.test");
    bobs["imap_port"] = json!(imap);
    bobs["imap_security"] = json!("starttls");
    let r = call(&app, "alice", "POST", "/api/v1/mail/accounts", Some(bobs.clone())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let second = r.body["id"].as_i64().unwrap();
    assert_eq!(r.body["default"], false);
    // `mail.max_accounts_per_user` (2 here).
    let mut third = bobs.clone();
    third["email"] = json!("carol@example.test");
    assert_error(
        &call(&app, "alice", "POST", "/api/v1/mail/accounts", Some(third)).await,
        StatusCode::CONFLICT,
        "conflict",
    );
    // A name change needs no password and no test; a wrong new password is refused and the
    // stored one kept.
    let mut renamed = bobs.clone();
    renamed["display_name"] = json!("Bob's inbox");
    renamed.as_object_mut().unwrap().remove("password");
    let r = call(&app, "alice", "PUT", &format!("/api/v1/mail/accounts/{second}"), Some(renamed.clone())).await;
    assert_eq!((r.status, r.body["display_name"].as_str()), (StatusCode::OK, Some("Bob's inbox")), "{}", r.text);
    renamed["password"] = json!("wrong");
    let r = call(&app, "alice", "PUT", &format!("/api/v1/mail/accounts/{second}"), Some(renamed)).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "connection_failed");
    let r = call(&app, "alice", "POST", &format!("/api/v1/mail/accounts/{second}/test"), None).await;
    assert_eq!(r.body["ok"], true, "the stored password survived a refused change: {}", r.text);
    // Defaults: one at a time; unlinking the default hands it to the oldest left.
    let r = call(&app, "alice", "PUT", &format!("/api/v1/mail/accounts/{second}/default"), None).await;
    assert_eq!(r.body["default"], true);
    let listed = call(&app, "alice", "GET", "/api/v1/mail/accounts", None).await.body;
    assert_eq!((listed[0]["id"].as_i64(), listed[1]["default"].as_bool()), (Some(second), Some(false)));
    let r = call(&app, "alice", "DELETE", &format!("/api/v1/mail/accounts/{second}"), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let listed = call(&app, "alice", "GET", "/api/v1/mail/accounts", None).await.body;
    assert_eq!((listed[0]["id"].as_i64(), listed[0]["default"].as_bool()), (Some(first), Some(true)));
}

async fn another_users_accounts_are_invisible(db: &TestDb) {
    let Some((_, imaps, submission, ca)) = dovecot() else { return };
    let app = mail_app(db, &ca).await;
    let id = call(&app, "alice", "POST", "/api/v1/mail/accounts", Some(settings(imaps, submission, "alice-imap-pw")))
        .await
        .body["id"]
        .as_i64()
        .unwrap();
    assert_eq!(call(&app, "bob", "GET", "/api/v1/mail/accounts", None).await.body, json!([]));
    let path = format!("/api/v1/mail/accounts/{id}");
    let mut body = settings(imaps, submission, "alice-imap-pw");
    body.as_object_mut().unwrap().remove("password");
    for (method, path, body) in [
        ("GET", path.clone(), None),
        ("PUT", path.clone(), Some(body)),
        ("DELETE", path.clone(), None),
        ("POST", format!("{path}/test"), None),
        ("PUT", format!("{path}/default"), None),
    ] {
        let r = call(&app, "bob", method, &path, body).await;
        assert_error(&r, StatusCode::NOT_FOUND, "not_found");
        assert!(!r.text.contains("alice@example.test"), "{method} {path}: {}", r.text);
    }
    assert_eq!(call(&app, "alice", "GET", &path, None).await.status, StatusCode::OK);
    // With the module off, mail's routes answer `module_disabled`.
    app.state.modules.set(&[(Module::Mail, false)]).await.unwrap();
    assert_error(
        &call(&app, "alice", "GET", "/api/v1/mail/accounts", None).await,
        StatusCode::FORBIDDEN,
        "module_disabled",
    );
}

async fn each_failed_step_is_named(db: &TestDb) {
    let Some((imap, imaps, submission, ca)) = dovecot() else { return };
    let step = |r: &common::api::Json| r.body["imap"]["failure"]["step"].as_str().map(str::to_string);
    // Loopback is an internal address: refused before any connection (SSRF guard).
    let app = mail_app(db, &ca).await;
    let closed = configured(db, &ca, false, true).await;
    let r = call(
        &closed,
        "alice",
        "POST",
        "/api/v1/mail/accounts/test",
        Some(settings(imaps, submission, "alice-imap-pw")),
    )
    .await;
    assert_eq!(step(&r).as_deref(), Some("blocked"), "{}", r.text);
    assert!(r.text.contains("mail.allowed_networks"), "{}", r.text);
    let test = |body: Value| {
        let app = &app;
        async move { call(app, "alice", "POST", "/api/v1/mail/accounts/test", Some(body)).await }
    };
    let mut s = settings(imaps, submission, "alice-imap-pw");
    s["imap_host"] = json!("no-such-host.invalid");
    assert_eq!(step(&test(s).await).as_deref(), Some("dns"));
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut s = settings(imaps, submission, "alice-imap-pw");
    s["imap_port"] = json!(unused);
    assert_eq!(step(&test(s).await).as_deref(), Some("tcp"));
    // TLS spoken to the plain port: the handshake fails.
    let mut s = settings(imaps, submission, "alice-imap-pw");
    s["imap_port"] = json!(imap);
    assert_eq!(step(&test(s).await).as_deref(), Some("tls"));
    // A certificate from an authority Madang does not trust.
    let untrusting = configured(db, &ca, true, false).await;
    let r = call(
        &untrusting,
        "alice",
        "POST",
        "/api/v1/mail/accounts/test",
        Some(settings(imaps, submission, "alice-imap-pw")),
    )
    .await;
    assert_eq!(step(&r).as_deref(), Some("tls"), "{}", r.text);
    assert_eq!(r.body["smtp"]["failure"]["step"], "tls", "{}", r.text);
    // Plain IMAP is allowed to a server on this machine only; this one is.
    let mut s = settings(imaps, submission, "alice-imap-pw");
    s["imap_port"] = json!(imap);
    s["imap_security"] = json!("plain");
    let r = test(s).await;
    assert_eq!(r.body["imap"]["ok"], true, "{}", r.text);
    // Bad input is a 422 before anything is tried.
    for (field, value) in [("email", json!("no-at-sign")), ("imap_host", json!("a b")), ("imap_port", json!(0))] {
        let mut s = settings(imaps, submission, "alice-imap-pw");
        s[field] = value;
        assert_error(&test(s).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    }
    let r = call(&app, "alice", "GET", "/api/v1/mail/providers?email=kim@naver.com", None).await;
    assert_eq!((r.body["provider"].as_str(), r.body["imap_host"].as_str()), (Some("Naver"), Some("imap.naver.com")));
}

/// Runs `conformance-tests/dovecot.sh deliver`: a message into a user's INBOX as an MTA would.
fn deliver(user: &str, message: &str) {
    let dir = std::env::var("MADANG_TEST_DOVECOT_DIR").expect("MADANG_TEST_DOVECOT_DIR");
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), message).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/conformance-tests/dovecot.sh");
    let status =
        std::process::Command::new("bash").args([script, "deliver", &dir]).arg(user).arg(file.path()).status().unwrap();
    assert!(status.success());
}

/// A folder made the way Dovecot's Maildir++ layout keeps it (`.<name>` with cur/new/tmp, the
/// name in modified UTF-7), owned like the mailbox so Dovecot can use it.
fn make_folder(user: &str, imap_name: &str) -> std::path::PathBuf {
    let dir = std::env::var("MADANG_TEST_DOVECOT_DIR").expect("MADANG_TEST_DOVECOT_DIR");
    let maildir = std::path::Path::new(&dir).join("mail").join(user).join("Maildir");
    let folder = maildir.join(format!(".{imap_name}"));
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(folder.join(sub)).unwrap();
    }
    let status = std::process::Command::new("chown")
        .arg("-R")
        .arg(format!("--reference={}", maildir.display()))
        .arg(&folder)
        .status()
        .unwrap();
    assert!(status.success());
    folder
}

async fn folders_are_synchronised_into_the_index(db: &TestDb) {
    let Some((_, imaps, submission, ca)) = dovecot() else { return };
    let app = mail_app(db, &ca).await;
    let id = call(&app, "alice", "POST", "/api/v1/mail/accounts", Some(settings(imaps, submission, "alice-imap-pw")))
        .await
        .body["id"]
        .as_i64()
        .unwrap();
    let folders_path = format!("/api/v1/mail/accounts/{id}/folders");
    assert_eq!(call(&app, "alice", "GET", &folders_path, None).await.body, json!([]), "nothing before a sync");
    deliver(
        "alice@example.test",
        "From: Kim <kim@example.test>\r\nTo: alice@example.test\r\nSubject: =?UTF-8?B?7ZqM7J2Y?=\r\n\
         Message-ID: <sync-1@example.test>\r\nDate: Mon, 7 Dec 2026 09:00:00 +0900\r\n\r\nhello\r\n",
    );
    // "보낸 편지함 <unique>" in modified UTF-7, as a Korean server names its Sent folder.
    let suffix = format!("{}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    let korean = format!("&vPSwuA- &07jJwNVo- {suffix}");
    let made = make_folder("alice@example.test", &korean);
    let r = call(&app, "alice", "POST", &format!("/api/v1/mail/accounts/{id}/sync"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let folders = r.body.as_array().unwrap().clone();
    assert_eq!(folders[0]["role"], "inbox", "INBOX first: {}", r.text);
    assert!(folders[0]["total"].as_i64().unwrap() >= 1 && folders[0]["unseen"].as_i64().unwrap() >= 1, "{}", r.text);
    for role in ["sent", "drafts", "trash", "junk", "archive"] {
        assert!(folders.iter().any(|f| f["role"] == role), "{role}: {}", r.text);
    }
    let named = folders.iter().find(|f| f["imap_name"] == korean.as_str()).expect("the Korean folder");
    assert_eq!(named["name"], format!("보낸 편지함 {suffix}"));
    assert_eq!(named["role"], Value::Null);
    // The state incremental sync keys on is kept (Dovecot has CONDSTORE).
    assert_eq!(
        db.scalar(&format!(
            "SELECT COUNT(*) FROM mail_folders WHERE account_id = {id} AND selectable \
             AND (uidvalidity IS NULL OR uidnext IS NULL OR highestmodseq IS NULL)"
        ))
        .await,
        0
    );
    // The index answers without the server, the same list.
    assert_eq!(call(&app, "alice", "GET", &folders_path, None).await.body, r.body);
    // Another user learns nothing and cannot make Madang connect with alice's password.
    for (method, path) in [("GET", folders_path.clone()), ("POST", format!("/api/v1/mail/accounts/{id}/sync"))] {
        assert_error(&call(&app, "bob", method, &path, None).await, StatusCode::NOT_FOUND, "not_found");
    }
    // A folder removed on the server leaves the index at the next sync.
    std::fs::remove_dir_all(&made).unwrap();
    let r = call(&app, "alice", "POST", &format!("/api/v1/mail/accounts/{id}/sync"), None).await;
    assert!(!r.text.contains(&suffix), "{}", r.text);
    // Unlinking forgets the index.
    call(&app, "alice", "DELETE", &format!("/api/v1/mail/accounts/{id}"), None).await;
    assert_eq!(db.scalar(&format!("SELECT COUNT(*) FROM mail_folders WHERE account_id = {id}")).await, 0);
}

on_both_databases!(
    folders_are_synchronised_into_the_index,
    linking_runs_the_connection_test_first,
    changes_defaults_and_unlinking,
    another_users_accounts_are_invisible,
    each_failed_step_is_named,
);
