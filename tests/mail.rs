//! Mail through the real router (`/api/v1/mail`, docs/mail.md), on both databases, against a
//! real Dovecot (conformance-tests/dovecot.sh; `.ci/test` starts two, one with CONDSTORE and
//! QRESYNC hidden, and sets `MADANG_TEST_DOVECOT_*` and `MADANG_TEST_DOVECOT_BASIC_*`): linked
//! accounts (the connection test naming the failed step, linking only after it passes, sealed
//! passwords, per-user isolation, defaults, the outbound guard), and the message index (sync in
//! chunks, threads, flags and expunges kept in step, UIDVALIDITY resets, reading, isolation).

mod common;

use axum::http::StatusCode;
use common::api::{assert_error, call};
use common::dav::users;
use common::{TestApp, TestDb};
use madang::config::MailConfig;
use madang::modules::Module;
use serde_json::{Value, json};

/// The Dovecot the harness started: `(imap, imaps, submission, CA PEM)` (`common::dovecot`).
fn dovecot() -> Option<(u16, u16, u16, Vec<u8>)> {
    common::dovecot::harness(false).map(|h| (h.imap, h.imaps, h.submission, h.ca))
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
    app.state = app.state.clone().with_mail(mail_config(ca, allow, trust)).unwrap();
    app
}

fn mail_config(ca: &[u8], allow: bool, trust: bool) -> MailConfig {
    MailConfig {
        outbound: madang::outbound::OutboundPolicy {
            allowed: if allow { madang::outbound::parse_list("127.0.0.1").unwrap() } else { vec![] },
        },
        extra_roots: if trust { ca.to_vec() } else { Vec::new() },
        connect_timeout: std::time::Duration::from_secs(5),
        max_accounts_per_user: 2,
        ..MailConfig::default()
    }
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
    let folders = r.body["folders"].as_array().unwrap().clone();
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
    assert_eq!(call(&app, "alice", "GET", &folders_path, None).await.body, r.body["folders"]);
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

/// One of the harness's Dovecots: the full one, or (`basic`) the one without CONDSTORE/QRESYNC.
struct Server {
    dir: String,
    imaps: u16,
    submission: u16,
    ca: Vec<u8>,
}

fn server(basic: bool) -> Option<Server> {
    dovecot()?;
    common::dovecot::harness(basic).map(|h| Server {
        dir: h.dir.to_string_lossy().into_owned(),
        imaps: h.imaps,
        submission: h.submission,
        ca: h.ca,
    })
}

impl Server {
    /// A mailbox of its own for one test (tests run in parallel on the same Dovecot).
    fn new_user(&self, tag: &str) -> String {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let user = format!("{tag}-{nanos}@example.test");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/conformance-tests/dovecot.sh");
        let status =
            std::process::Command::new("bash").args([script, "adduser", &self.dir, &user, "box-pw"]).status().unwrap();
        assert!(status.success());
        user
    }

    /// How many IMAP sessions the user has open on this Dovecot (`doveadm who`).
    fn sessions_of(&self, user: &str) -> usize {
        let conf = std::path::Path::new(&self.dir).join("dovecot.conf");
        let out = std::process::Command::new("doveadm").arg("-c").arg(conf).args(["who", user]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .filter(|l| l.split_whitespace().next() == Some(user))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<usize>().ok())
            .sum()
    }

    fn maildir(&self, user: &str) -> std::path::PathBuf {
        std::path::Path::new(&self.dir).join("mail").join(user).join("Maildir")
    }

    /// Files a message straight into the user's INBOX (`new/`), owned like the mail root, as an
    /// MTA's delivery agent would.
    fn deliver(&self, user: &str, n: usize, message: &str) {
        use std::os::unix::fs::MetadataExt;
        let root = std::path::Path::new(&self.dir).join("mail");
        let owner = std::fs::metadata(&root).unwrap();
        let box_dir = self.maildir(user);
        for sub in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(box_dir.join(sub)).unwrap();
        }
        for dir in [root.join(user), box_dir.clone(), box_dir.join("tmp"), box_dir.join("new"), box_dir.join("cur")] {
            std::os::unix::fs::chown(&dir, Some(owner.uid()), Some(owner.gid())).unwrap();
        }
        let tmp = box_dir.join("tmp").join(format!("{n}.madangtest"));
        std::fs::write(&tmp, message.replace('\n', "\r\n")).unwrap();
        std::os::unix::fs::chown(&tmp, Some(owner.uid()), Some(owner.gid())).unwrap();
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        std::fs::rename(&tmp, box_dir.join("new").join(format!("{nanos}.{n}.madangtest"))).unwrap();
    }

    /// The file holding the message with this Message-ID (after Dovecot moved it to `cur/`).
    fn file_of(&self, user: &str, message_id: &str) -> std::path::PathBuf {
        for sub in ["cur", "new"] {
            for entry in std::fs::read_dir(self.maildir(user).join(sub)).unwrap() {
                let path = entry.unwrap().path();
                if std::fs::read_to_string(&path).unwrap_or_default().contains(&format!("<{message_id}>")) {
                    return path;
                }
            }
        }
        panic!("no file with {message_id}");
    }

    fn account(&self, user: &str) -> Value {
        json!({
            "email": user, "imap_host": "localhost", "imap_port": self.imaps, "imap_security": "tls",
            "smtp_host": "localhost", "smtp_port": self.submission, "smtp_security": "starttls",
            "username": user, "password": "box-pw",
        })
    }
}

fn plain(n: usize, subject: &str, extra: &str) -> String {
    format!(
        "From: Sender {n} <s{n}@example.test>\nTo: box@example.test\nSubject: {subject}\n\
         Message-ID: <m{n}@example.test>\n{extra}Date: Mon, 7 Dec 2026 09:{:02}:{:02} +0900\n\n\
         Body of message {n}.\n> quoted, not in the preview\n",
        (n / 60) % 60,
        n % 60
    )
}

/// `s` for a query string (RFC 3986 unreserved characters kept).
fn urlencoding(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn sync(app: &TestApp, account: i64) -> Value {
    let r = call(app, "alice", "POST", &format!("/api/v1/mail/accounts/{account}/sync"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body
}

/// Every message of a folder, paging with the cursor: `(id, subject)` newest first.
async fn all_pages(app: &TestApp, folder: i64, page: u32) -> Vec<Value> {
    let mut out = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/mail/messages?folder={folder}&limit={page}");
        if let Some(n) = &next {
            path.push_str(&format!("&before={n}"));
        }
        let r = call(app, "alice", "GET", &path, None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let messages = r.body["messages"].as_array().unwrap();
        assert!(messages.len() <= page as usize);
        out.extend(messages.iter().cloned());
        match r.body["next"].as_str() {
            Some(n) => next = Some(n.to_string()),
            None => break,
        }
    }
    out
}

async fn the_index_follows_the_mailbox(db: &TestDb, basic: bool) {
    let Some(srv) = server(basic) else { return };
    let app = mail_app(db, &srv.ca).await;
    let user = srv.new_user(if basic { "basic" } else { "full" });
    // 130 messages (three sync chunks: 50, then the rest), among them a conversation whose
    // middle message arrives last, a reply linked only by its subject, an HTML message with
    // a picture and an attachment, and a Korean subject in EUC-KR.
    for n in 0..120 {
        srv.deliver(&user, n, &plain(n, &format!("Message {n}"), ""));
    }
    srv.deliver(&user, 200, &plain(200, "Plan", ""));
    srv.deliver(
        &user,
        202,
        &plain(
            202,
            "Re: Plan",
            "In-Reply-To: <m201@example.test>\nReferences: <m200@example.test> <m201@example.test>\n",
        ),
    );
    srv.deliver(&user, 300, &plain(300, "Lunch", ""));
    srv.deliver(&user, 301, &plain(301, "RE: Lunch", ""));
    srv.deliver(&user, 400, &plain(400, "=?EUC-KR?B?yKux5rW/?=", ""));
    let html = "From: Kim <kim@example.test>\nTo: box@example.test\nSubject: Report\nMessage-ID: <html@example.test>\n\
        Date: Mon, 7 Dec 2026 10:00:00 +0900\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"m\"\n\n\
        --m\nContent-Type: multipart/related; boundary=\"r\"\n\n--r\nContent-Type: text/html; charset=utf-8\n\n\
        <p onclick=\"steal()\">Numbers <script>alert(1)</script><img src=\"cid:logo@x\"><img src=\"https://tracker.example/p.gif\"></p>\n\
        --r\nContent-Type: image/png\nContent-ID: <logo@x>\nContent-Transfer-Encoding: base64\n\niVBORw0KGgo=\n--r--\n\
        --m\nContent-Type: application/pdf; name=\"q4.pdf\"\nContent-Disposition: attachment; filename=\"q4.pdf\"\n\
        Content-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n--m--\n";
    srv.deliver(&user, 500, html);
    let mut settings = srv.account(&user);
    settings["password"] = json!("box-pw");
    let r = call(&app, "alice", "POST", "/api/v1/mail/accounts", Some(settings)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let account = r.body["id"].as_i64().unwrap();

    let report = sync(&app, account).await;
    assert_eq!(report["added"], 126, "{report}");
    let inbox = report["folders"][0].clone();
    assert_eq!(
        (inbox["role"].as_str(), inbox["total"].as_i64(), inbox["unseen"].as_i64()),
        (Some("inbox"), Some(126), Some(126))
    );
    let inbox = inbox["id"].as_i64().unwrap();

    // Pages of 50 from the index, newest first, nothing twice or missing.
    let all = all_pages(&app, inbox, 50).await;
    assert_eq!(all.len(), 126);
    let ids: std::collections::HashSet<i64> = all.iter().map(|m| m["id"].as_i64().unwrap()).collect();
    assert_eq!(ids.len(), 126);
    let order: Vec<(String, i64)> =
        all.iter().map(|m| (m["received_at"].as_str().unwrap().to_string(), m["id"].as_i64().unwrap())).collect();
    assert!(order.windows(2).all(|w| w[0] >= w[1]), "newest first");
    let find = |all: &[Value], id: &str| all.iter().find(|m| m["message_id"] == id).cloned().expect(id);
    let m7 = find(&all, "m7@example.test");
    assert_eq!(m7["from"], json!({"name": "Sender 7", "email": "s7@example.test"}));
    assert_eq!(m7["preview"], "Body of message 7.");
    assert_eq!((m7["seen"].as_bool(), m7["has_attachments"].as_bool()), (Some(false), Some(false)));
    assert_eq!(find(&all, "m400@example.test")["subject"], "홍길동");
    let report_msg = find(&all, "html@example.test");
    assert_eq!(report_msg["has_attachments"], true);

    // Threads: the reply joins its parent's thread through References; the subject-only reply
    // joins by base subject; the unified inbox has the same messages.
    let plan = find(&all, "m200@example.test");
    assert_eq!(find(&all, "m202@example.test")["thread"], plan["thread"]);
    assert_eq!(find(&all, "m301@example.test")["thread"], find(&all, "m300@example.test")["thread"]);
    assert_ne!(plan["thread"], find(&all, "m300@example.test")["thread"]);
    let unified = call(&app, "alice", "GET", "/api/v1/mail/messages?limit=200", None).await;
    assert_eq!(unified.body["messages"].as_array().unwrap().len(), 126, "{}", unified.text);
    let unread =
        call(&app, "alice", "GET", &format!("/api/v1/mail/messages?folder={inbox}&attachments=true"), None).await;
    assert_eq!(unread.body["messages"].as_array().unwrap().len(), 1, "{}", unread.text);
    // Search in the index: words in any order, Korean, the sender, case-insensitive; wildcards are
    // matched as written; too many words is a 422.
    let search = |q: &str| {
        let app = &app;
        let path = format!("/api/v1/mail/messages?q={}", urlencoding(q));
        async move {
            let r = call(app, "alice", "GET", &path, None).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
            r.body["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["message_id"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(search("홍길동").await, ["m400@example.test"]);
    assert_eq!(search("lunch RE").await, ["m301@example.test"]);
    assert_eq!(search("SENDER 107").await, ["m107@example.test"]);
    assert_eq!(search("numbers kim@example").await, ["html@example.test"]);
    assert!(search("100%").await.is_empty());
    // The recipients are stored as JSON; its keys are not words of any message.
    assert!(search("email").await.is_empty());
    assert!(search("name").await.is_empty());
    assert_eq!(search("box@example").await.len(), 50, "a full page: every message is to box@example.test");
    let r = call(&app, "alice", "GET", "/api/v1/mail/messages?q=a+b+c+d+e+f+g+h+i", None).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid");

    // The missing middle message arrives: one thread still, three messages, oldest first.
    srv.deliver(
        &user,
        201,
        &plain(201, "Re: Plan", "In-Reply-To: <m200@example.test>\nReferences: <m200@example.test>\n"),
    );
    let report = sync(&app, account).await;
    assert_eq!((report["added"].as_i64(), report["removed"].as_i64()), (Some(1), Some(0)), "{report}");
    let thread =
        call(&app, "alice", "GET", &format!("/api/v1/mail/accounts/{account}/threads/{}", plan["thread"]), None).await;
    let subjects: Vec<&str> =
        thread.body.as_array().unwrap().iter().map(|m| m["message_id"].as_str().unwrap()).collect();
    assert_eq!(subjects, ["m200@example.test", "m201@example.test", "m202@example.test"], "{}", thread.text);

    // Reading: sanitised HTML, the picture through Madang, the tracker dropped, attachments.
    let id = report_msg["id"].as_i64().unwrap();
    let r = call(&app, "alice", "GET", &format!("/api/v1/mail/messages/{id}"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let html = r.body["html"].as_str().unwrap();
    assert!(!html.contains("script") && !html.contains("onclick") && !html.contains("tracker"), "{html}");
    assert_eq!(r.body["remote_images"], true);
    let pdf = r.body["attachments"].as_array().unwrap().iter().find(|a| a["name"] == "q4.pdf").unwrap().clone();
    assert!(html.contains(&format!("/api/v1/mail/messages/{id}/parts/")), "{html}");
    let download = common::dav::Client::new(&app, "alice")
        .send("GET", pdf["url"].as_str().unwrap(), &[], axum::body::Body::empty())
        .await;
    assert_eq!(download.status, StatusCode::OK);
    assert_eq!(download.text, "%PDF-1.4\n");
    assert_eq!(download.header("content-type"), Some("application/octet-stream"));
    assert_eq!(download.header("x-content-type-options"), Some("nosniff"));
    assert!(download.header("content-disposition").unwrap().starts_with("attachment"));
    // Reading did not mark it seen; the user does, on the server too.
    let r = call(
        &app,
        "alice",
        "PATCH",
        &format!("/api/v1/mail/messages/{id}"),
        Some(json!({"seen": true, "flagged": true})),
    )
    .await;
    assert_eq!((r.body["seen"].as_bool(), r.body["flagged"].as_bool()), (Some(true), Some(true)), "{}", r.text);
    let file = srv.file_of(&user, "html@example.test");
    let info = file.file_name().unwrap().to_string_lossy().rsplit(":2,").next().unwrap().to_string();
    assert!(info.contains('S') && info.contains('F'), "Maildir flags of {}", file.display());

    // Changes made elsewhere (another mail app): a flag, an expunge. The next sync has them.
    let m7_file = srv.file_of(&user, "m7@example.test");
    let flagged = format!("{}F", m7_file.to_string_lossy().trim_end_matches(|c: char| c.is_ascii_uppercase()));
    let flagged = if flagged.contains(":2,") { flagged } else { format!("{}:2,F", m7_file.display()) };
    std::fs::rename(&m7_file, &flagged).unwrap();
    std::fs::remove_file(srv.file_of(&user, "m8@example.test")).unwrap();
    let report = sync(&app, account).await;
    assert_eq!(
        (report["updated"].as_i64(), report["removed"].as_i64(), report["added"].as_i64()),
        (Some(1), Some(1), Some(0)),
        "{report}"
    );
    let all = all_pages(&app, inbox, 200).await;
    assert_eq!(all.len(), 126);
    assert_eq!(find(&all, "m7@example.test")["flagged"], true);
    assert!(all.iter().all(|m| m["message_id"] != "m8@example.test"));
    // Nothing changed: nothing to do (with CONDSTORE not even a flag fetch).
    let report = sync(&app, account).await;
    assert_eq!(
        (report["updated"].as_i64(), report["removed"].as_i64(), report["added"].as_i64()),
        (Some(0), Some(0), Some(0)),
        "{report}"
    );

    // The server renumbers the folder (UIDVALIDITY changes): the index starts that folder over.
    let uidlist = srv.maildir(&user).join("dovecot-uidlist");
    std::fs::remove_file(&uidlist).unwrap();
    for index in std::fs::read_dir(srv.maildir(&user)).unwrap() {
        let path = index.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with("dovecot.index") {
            std::fs::remove_file(path).unwrap();
        }
    }
    let report = sync(&app, account).await;
    assert_eq!(report["added"], 126, "{report}");
    assert_eq!(all_pages(&app, inbox, 200).await.len(), 126);

    // Bob sees none of it and cannot touch it.
    for (method, path) in [
        ("GET", format!("/api/v1/mail/messages?folder={inbox}")),
        ("GET", format!("/api/v1/mail/messages/{id}")),
        ("PATCH", format!("/api/v1/mail/messages/{id}")),
        ("GET", format!("/api/v1/mail/messages/{id}/parts/1")),
        ("GET", format!("/api/v1/mail/accounts/{account}/threads/{}", plan["thread"])),
    ] {
        let body = (method == "PATCH").then(|| json!({"seen": false}));
        assert_error(&call(&app, "bob", method, &path, body).await, StatusCode::NOT_FOUND, "not_found");
    }
    let r = call(&app, "bob", "GET", "/api/v1/mail/messages", None).await;
    assert_eq!(r.body["messages"], json!([]));
    // Unlinking forgets the index.
    call(&app, "alice", "DELETE", &format!("/api/v1/mail/accounts/{account}"), None).await;
    assert_eq!(db.scalar(&format!("SELECT COUNT(*) FROM mail_messages WHERE account_id = {account}")).await, 0);
    assert_eq!(db.scalar(&format!("SELECT COUNT(*) FROM mail_thread_refs WHERE account_id = {account}")).await, 0);
}

async fn the_index_follows_the_mailbox_with_condstore(db: &TestDb) {
    the_index_follows_the_mailbox(db, false).await;
}

/// The fallback path: no CONDSTORE, so every sync reads all flags and compares.
async fn the_index_follows_the_mailbox_without_condstore(db: &TestDb) {
    the_index_follows_the_mailbox(db, true).await;
}

/// Messages expunged by another mail app leave the index, and the sync report says how they were
/// found: on a QRESYNC server by `VANISHED` alone (RFC 7162 §3.2.6, no `UID SEARCH ALL`),
/// without it by the count and a search. The count stays the safety net: a message the
/// server's `VANISHED` does not name (here an index row renumbered behind the sync's back) is
/// still found by the search.
async fn expunges_made_elsewhere_leave_the_index(db: &TestDb, basic: bool) {
    let Some(srv) = server(basic) else { return };
    let app = mail_app(db, &srv.ca).await;
    let user = srv.new_user(if basic { "gone-basic" } else { "gone-full" });
    for n in 0..8 {
        srv.deliver(&user, n, &plain(n, &format!("Message {n}"), ""));
    }
    let r = call(&app, "alice", "POST", "/api/v1/mail/accounts", Some(srv.account(&user))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let account = r.body["id"].as_i64().unwrap();
    let report = sync(&app, account).await;
    assert_eq!((report["added"].as_i64(), report["expunges"].clone()), (Some(8), json!({"vanished": 0, "search": 0})));
    let inbox = report["folders"][0]["id"].as_i64().unwrap();
    let in_index = || async {
        let mut ids: Vec<String> = message_ids(&app, "alice", &format!("folder={inbox}&limit=200"))
            .await
            .iter()
            .map(|id| id.trim_end_matches("@example.test").to_string())
            .collect();
        ids.sort();
        ids
    };

    // Another app expunges two messages and flags one; a new message arrives.
    std::fs::remove_file(srv.file_of(&user, "m2@example.test")).unwrap();
    std::fs::remove_file(srv.file_of(&user, "m5@example.test")).unwrap();
    let m3 = srv.file_of(&user, "m3@example.test");
    let flagged = if m3.to_string_lossy().contains(":2,") {
        format!("{}F", m3.display())
    } else {
        format!("{}:2,F", m3.display())
    };
    std::fs::rename(&m3, flagged).unwrap();
    srv.deliver(&user, 8, &plain(8, "Message 8", ""));
    let report = sync(&app, account).await;
    let (vanished, search) = if basic { (0, 1) } else { (1, 0) };
    assert_eq!(
        (report["added"].as_i64(), report["updated"].as_i64(), report["removed"].as_i64()),
        (Some(1), Some(1), Some(2)),
        "{report}"
    );
    assert_eq!(report["expunges"], json!({"vanished": vanished, "search": search}), "{report}");
    assert_eq!(in_index().await, ["m0", "m1", "m3", "m4", "m6", "m7", "m8"]);

    // Nothing changed: nothing asked, either way.
    let report = sync(&app, account).await;
    assert_eq!(
        (report["removed"].as_i64(), report["expunges"].clone()),
        (Some(0), json!({"vanished": 0, "search": 0}))
    );

    // A message is expunged whose UID the index has wrong: VANISHED names the real one, the
    // counts disagree, and the search removes the stray row.
    db.execute(&format!(
        "UPDATE mail_messages SET uid = 4000000 WHERE folder_id = {inbox} AND message_id = 'm6@example.test'"
    ))
    .await;
    std::fs::remove_file(srv.file_of(&user, "m6@example.test")).unwrap();
    let report = sync(&app, account).await;
    assert_eq!(report["removed"], 1, "{report}");
    assert_eq!(report["expunges"], json!({"vanished": vanished, "search": 1}), "{report}");
    assert_eq!(in_index().await, ["m0", "m1", "m3", "m4", "m7", "m8"]);
}

async fn qresync_vanished_removes_expunged_messages_without_a_search(db: &TestDb) {
    expunges_made_elsewhere_leave_the_index(db, false).await;
}

/// No QRESYNC (nor CONDSTORE): the count and `UID SEARCH ALL` find the same expunges.
async fn without_qresync_a_search_removes_expunged_messages(db: &TestDb) {
    expunges_made_elsewhere_leave_the_index(db, true).await;
}

/// New mail reaches the index (and the user's push log) by IDLE, without anyone asking for a
/// sync; the latency is printed (bench/ measures it; the bound here only catches "never").
async fn new_mail_arrives_by_idle(db: &TestDb) {
    let Some(srv) = server(false) else { return };
    let app = mail_app(db, &srv.ca).await;
    let user = srv.new_user("idle");
    srv.deliver(&user, 1, &plain(1, "Before", ""));
    let r = call(&app, "alice", "POST", "/api/v1/mail/accounts", Some(srv.account(&user))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let account = r.body["id"].as_i64().unwrap();
    madang::mail::watch::spawn(app.state.mail.clone(), app.state.modules.clone());
    let wait_for = |id: &'static str| {
        let app = &app;
        async move {
            let started = std::time::Instant::now();
            while started.elapsed() < std::time::Duration::from_secs(20) {
                let r = call(app, "alice", "GET", "/api/v1/mail/messages", None).await;
                if r.body["messages"].as_array().is_some_and(|m| m.iter().any(|m| m["message_id"] == id)) {
                    return started.elapsed();
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            panic!("{id} never reached the index");
        }
    };
    // The watcher's first full sync, then IDLE.
    wait_for("m1@example.test").await;
    let alice = db.scalar("SELECT id FROM users WHERE username = 'alice'").await;
    let events = format!("SELECT COUNT(*) FROM push_events WHERE user_id = {alice} AND kind = 'mail.changed'");
    let before = db.scalar(&events).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    srv.deliver(&user, 2, &plain(2, "After", ""));
    let latency = wait_for("m2@example.test").await;
    eprintln!("new mail in the index {} ms after delivery", latency.as_millis());
    assert!(db.scalar(&events).await > before, "a mail.changed event for the open clients");
    // An expunge made elsewhere arrives the same way: the watcher's session has QRESYNC on, so
    // Dovecot announces it in IDLE as VANISHED (RFC 7162 §3.2.10) instead of EXPUNGE, which
    // wakes the watcher all the same. The pause lets the watcher finish the sync m2 woke it for
    // and go back to IDLE: a change made between that sync and the next IDLE is only seen at
    // the next wake-up (as for new mail above).
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    std::fs::remove_file(srv.file_of(&user, "m1@example.test")).unwrap();
    let started = std::time::Instant::now();
    while message_ids(&app, "alice", "").await.iter().any(|id| id == "m1@example.test") {
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "the expunge never reached the index");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    eprintln!("an expunge left the index {} ms after it was made", started.elapsed().as_millis());
    // The watcher holds one IMAP session on the mailbox; unlinking closes it (Dovecot's own list
    // of sessions says so) and forgets the index.
    assert!(srv.sessions_of(&user) >= 1, "the watcher's IDLE session");
    call(&app, "alice", "DELETE", &format!("/api/v1/mail/accounts/{account}"), None).await;
    let started = std::time::Instant::now();
    while srv.sessions_of(&user) > 0 {
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "the watcher's session outlived the account");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(db.scalar("SELECT COUNT(*) FROM mail_messages").await, 0);
}

/// The sink's copy of the message with this Message-ID, and its envelope recipients.
fn sunk(srv: &Server, message_id: &str) -> (String, Vec<String>) {
    let sink = std::path::Path::new(&srv.dir).join("sink");
    for _ in 0..100 {
        let envelopes = std::fs::read_to_string(sink.join("envelopes.jsonl")).unwrap_or_default();
        for line in envelopes.lines() {
            let e: Value = serde_json::from_str(line).unwrap();
            let text = std::fs::read_to_string(sink.join("new").join(e["file"].as_str().unwrap())).unwrap_or_default();
            if text.contains(&format!("<{message_id}>")) {
                let to = e["to"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
                return (text, to);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("{message_id} never reached the sink");
}

async fn a_reply_is_sent_threaded_and_filed_in_sent(db: &TestDb) {
    let Some(srv) = server(false) else { return };
    let app = mail_app(db, &srv.ca).await;
    let user = srv.new_user("send");
    srv.deliver(&user, 1, &plain(1, "Budget", "References: <root@example.test>\n"));
    let r = call(&app, "alice", "POST", "/api/v1/mail/accounts", Some(srv.account(&user))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let account = r.body["id"].as_i64().unwrap();
    sync(&app, account).await;
    let inbox = call(&app, "alice", "GET", "/api/v1/mail/messages", None).await;
    let original = inbox.body["messages"][0]["id"].as_i64().unwrap();
    let send = format!("/api/v1/mail/accounts/{account}/send");
    use base64::Engine;
    let reply = json!({
        "to": [{"name": "Sender 1", "email": "s1@example.test"}],
        "bcc": [{"name": "", "email": "boss@example.test"}],
        "subject": "Re: Budget", "text": "Agreed.\n\n> Body of message 1.",
        "reply_to": original,
        "attachments": [{"name": "plan.txt", "content_type": "text/plain",
                         "data": base64::engine::general_purpose::STANDARD.encode("the plan")}],
    });
    let r = call(&app, "alice", "POST", &send, Some(reply.clone())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["saved_to_sent"], true, "{}", r.text);
    let id = r.body["message_id"].as_str().unwrap().to_string();
    // What left through Dovecot's submission: threaded, the attachment, Bcc only in the envelope.
    let (text, to) = sunk(&srv, &id);
    assert!(text.contains("In-Reply-To: <m1@example.test>"), "{text}");
    assert!(text.contains("References: <root@example.test> <m1@example.test>"), "{text}");
    assert!(text.contains("plan.txt"), "{text}");
    assert!(!text.to_ascii_lowercase().contains("bcc:") && !text.contains("boss@"), "{text}");
    assert!(to.iter().any(|t| t == "boss@example.test") && to.iter().any(|t| t == "s1@example.test"), "{to:?}");
    // A copy in Sent (in the index already), the original marked answered, one conversation.
    let folders = call(&app, "alice", "GET", &format!("/api/v1/mail/accounts/{account}/folders"), None).await;
    let sent = folders.body.as_array().unwrap().iter().find(|f| f["role"] == "sent").unwrap()["id"].as_i64().unwrap();
    let copies = call(&app, "alice", "GET", &format!("/api/v1/mail/messages?folder={sent}"), None).await;
    let copy = &copies.body["messages"][0];
    assert_eq!(copy["message_id"], id.as_str(), "{}", copies.text);
    assert_eq!(copy["seen"], true);
    let first = call(&app, "alice", "GET", "/api/v1/mail/messages", None).await;
    assert_eq!(first.body["messages"][0]["answered"], true, "{}", first.text);
    assert_eq!(copy["thread"], first.body["messages"][0]["thread"]);
    // Bad input: nothing sent; another user's account or message: 404.
    for (body, status) in [
        (json!({"to": [], "subject": "x", "text": "x"}), StatusCode::UNPROCESSABLE_ENTITY),
        (
            json!({"to": [{"name": "", "email": "not an address"}], "subject": "x", "text": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"to": [{"name": "", "email": "a@example.test"}], "subject": "x", "text": "x",
                "attachments": [{"name": "a", "data": "***"}]}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        assert_eq!(call(&app, "alice", "POST", &send, Some(body)).await.status, status);
    }
    assert_error(&call(&app, "bob", "POST", &send, Some(reply)).await, StatusCode::NOT_FOUND, "not_found");

    // Drafts: saved without recipients, saved again in place, gone once sent.
    let drafts_path = format!("/api/v1/mail/accounts/{account}/drafts");
    let drafts =
        folders.body.as_array().unwrap().iter().find(|f| f["role"] == "drafts").unwrap()["id"].as_i64().unwrap();
    let drafts_list = format!("/api/v1/mail/messages?folder={drafts}");
    let in_drafts = || {
        let (app, path) = (&app, &drafts_list);
        async move { call(app, "alice", "GET", path, None).await.body["messages"].as_array().unwrap().clone() }
    };
    let r =
        call(&app, "alice", "POST", &drafts_path, Some(json!({"to": [], "subject": "Plan", "text": "first"}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let first = r.body["id"].as_i64().unwrap();
    let r = call(&app, "alice", "POST", &drafts_path,
        Some(json!({"to": [{"name": "", "email": "s1@example.test"}], "subject": "Plan", "text": "second", "replaces": first}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let second = r.body["id"].as_i64().unwrap();
    let listed = in_drafts().await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        (listed[0]["id"].as_i64(), listed[0]["draft"].as_bool(), listed[0]["preview"].as_str()),
        (Some(second), Some(true), Some("second"))
    );
    // A message that is not a draft cannot be replaced as one.
    let r = call(
        &app,
        "alice",
        "POST",
        &drafts_path,
        Some(json!({"to": [], "subject": "x", "text": "x", "replaces": original})),
    )
    .await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let r = call(&app, "alice", "POST", &send,
        Some(json!({"to": [{"name": "", "email": "s1@example.test"}], "subject": "Plan", "text": "final", "replaces": second}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert!(in_drafts().await.is_empty());

    // A reply's draft, opened again later (the web client's Edit draft sends only `replaces`):
    // it still leaves as the reply, and the original is marked answered.
    srv.deliver(&user, 2, &plain(2, "Question", ""));
    sync(&app, account).await;
    let question = call(&app, "alice", "GET", "/api/v1/mail/messages", None).await.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["message_id"] == "m2@example.test")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let r = call(&app, "alice", "POST", &drafts_path,
        Some(json!({"to": [{"name": "", "email": "s2@example.test"}], "subject": "Re: Question", "text": "draft", "reply_to": question}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let draft = r.body["id"].as_i64().unwrap();
    // Sending with `replaces` naming something that is not a draft is refused before sending.
    let r = call(&app, "alice", "POST", &send,
        Some(json!({"to": [{"name": "", "email": "s2@example.test"}], "subject": "x", "text": "x", "replaces": question}))).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let r = call(&app, "alice", "POST", &send,
        Some(json!({"to": [{"name": "", "email": "s2@example.test"}], "subject": "Re: Question", "text": "answer", "replaces": draft}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let (text, _) = sunk(&srv, r.body["message_id"].as_str().unwrap());
    assert!(text.contains("In-Reply-To: <m2@example.test>"), "{text}");
    assert!(text.contains("References: <m2@example.test>"), "{text}");
    assert!(in_drafts().await.is_empty());
    // A draft gone meanwhile (sent or deleted from another mail program) does not stop a send
    // or a save: they replace nothing.
    let r = call(&app, "alice", "POST", &send,
        Some(json!({"to": [{"name": "", "email": "s2@example.test"}], "subject": "Again", "text": "again", "replaces": draft}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = call(
        &app,
        "alice",
        "POST",
        &drafts_path,
        Some(json!({"to": [], "subject": "Later", "text": "later", "replaces": draft})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(in_drafts().await.len(), 1);
    let listed = call(&app, "alice", "GET", "/api/v1/mail/messages", None).await;
    let answered =
        listed.body["messages"].as_array().unwrap().iter().find(|m| m["id"] == question).unwrap()["answered"].clone();
    assert_eq!(answered, true, "{}", listed.text);
}

async fn messages_move_and_delete_on_the_server(db: &TestDb) {
    let Some(srv) = server(false) else { return };
    let app = mail_app(db, &srv.ca).await;
    let user = srv.new_user("move");
    for n in 1..=3 {
        srv.deliver(&user, n, &plain(n, &format!("Message {n}"), ""));
    }
    let r = call(&app, "alice", "POST", "/api/v1/mail/accounts", Some(srv.account(&user))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let account = r.body["id"].as_i64().unwrap();
    let report = sync(&app, account).await;
    let folder = |role: &str| {
        report["folders"].as_array().unwrap().iter().find(|f| f["role"] == role).unwrap()["id"].as_i64().unwrap()
    };
    let (inbox, archive, trash) = (folder("inbox"), folder("archive"), folder("trash"));
    let ids_in = |folder: i64| {
        let app = &app;
        async move {
            let r = call(app, "alice", "GET", &format!("/api/v1/mail/messages?folder={folder}"), None).await;
            r.body["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["message_id"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    let id_of = |mid: &'static str| {
        let app = &app;
        async move {
            let r = call(app, "alice", "GET", "/api/v1/mail/messages", None).await;
            r.body["messages"].as_array().unwrap().iter().find(|m| m["message_id"] == mid).unwrap()["id"]
                .as_i64()
                .unwrap()
        }
    };
    let m1 = id_of("m1@example.test").await;
    let m2 = id_of("m2@example.test").await;
    // Bob can neither move nor delete alice's mail.
    let r =
        call(&app, "bob", "POST", &format!("/api/v1/mail/messages/{m1}/move"), Some(json!({"folder": archive}))).await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found");
    assert_error(
        &call(&app, "bob", "DELETE", &format!("/api/v1/mail/messages/{m1}"), None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    // Move: on the server (the file is in .Archive) and in the index.
    let r = call(&app, "alice", "POST", &format!("/api/v1/mail/messages/{m1}/move"), Some(json!({"folder": archive})))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_eq!(ids_in(archive).await, ["m1@example.test"]);
    assert!(!ids_in(inbox).await.contains(&"m1@example.test".to_string()));
    let archived = std::fs::read_dir(srv.maildir(&user).join(".Archive").join("cur")).unwrap().count()
        + std::fs::read_dir(srv.maildir(&user).join(".Archive").join("new")).unwrap().count();
    assert_eq!(archived, 1);
    // Delete: to Trash first, then for good.
    assert_eq!(
        call(&app, "alice", "DELETE", &format!("/api/v1/mail/messages/{m2}"), None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(ids_in(trash).await, ["m2@example.test"]);
    assert_eq!(ids_in(inbox).await, ["m3@example.test"]);
    let in_trash = call(&app, "alice", "GET", &format!("/api/v1/mail/messages?folder={trash}"), None).await.body["messages"][0]["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        call(&app, "alice", "DELETE", &format!("/api/v1/mail/messages/{in_trash}"), None).await.status,
        StatusCode::NO_CONTENT
    );
    assert!(ids_in(trash).await.is_empty());
    assert_eq!(db.scalar(&format!("SELECT COUNT(*) FROM mail_messages WHERE account_id = {account}")).await, 2);
}

/// Links `user`'s mailbox for `who` and synchronises it: the account id and the sync report.
async fn linked(app: &TestApp, srv: &Server, who: &str, user: &str) -> (i64, Value) {
    let r = call(app, who, "POST", "/api/v1/mail/accounts", Some(srv.account(user))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let account = r.body["id"].as_i64().unwrap();
    let r = call(app, who, "POST", &format!("/api/v1/mail/accounts/{account}/sync"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    (account, r.body)
}

/// The id of the folder with this role (or this `imap_name`) in a folder list.
fn folder_id(folders: &Value, role_or_name: &str) -> i64 {
    folders
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["role"] == role_or_name || f["imap_name"] == role_or_name)
        .unwrap_or_else(|| panic!("no folder {role_or_name} in {folders}"))["id"]
        .as_i64()
        .unwrap()
}

/// The Message-IDs a folder's list shows, newest first.
async fn message_ids(app: &TestApp, who: &str, query: &str) -> Vec<String> {
    let r = call(app, who, "GET", &format!("/api/v1/mail/messages?{query}"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{query}: {}", r.text);
    r.body["messages"].as_array().unwrap().iter().map(|m| m["message_id"].as_str().unwrap().to_string()).collect()
}

/// Folders made, renamed, moved and deleted through Madang are made so on the server: the Maildir
/// directories Dovecot keeps (`.<name>` in Maildir++, `.` between levels) and its own LIST (a
/// fresh sync) agree with the index; INBOX and special-use folders, bad names and names taken are
/// refused before anything is sent; another user cannot touch any of it.
async fn folders_are_changed_on_the_server(db: &TestDb, basic: bool) {
    let Some(srv) = server(basic) else { return };
    let app = mail_app(db, &srv.ca).await;
    let user = srv.new_user("folders");
    srv.deliver(&user, 1, &plain(1, "Keep", ""));
    let (account, report) = linked(&app, &srv, "alice", &user).await;
    let folders_path = format!("/api/v1/mail/accounts/{account}/folders");
    let (inbox, trash, sent) = (
        folder_id(&report["folders"], "inbox"),
        folder_id(&report["folders"], "trash"),
        folder_id(&report["folders"], "sent"),
    );
    let on_disk = |name: &str| srv.maildir(&user).join(format!(".{name}")).is_dir();
    let alice = db.scalar("SELECT id FROM users WHERE username = 'alice'").await;
    let events = format!("SELECT COUNT(*) FROM push_events WHERE user_id = {alice} AND kind = 'mail.changed'");
    let before = db.scalar(&events).await;

    // Create: a Korean name with an `&`, encoded in modified UTF-7 for the server.
    let r = call(&app, "alice", "POST", &folders_path, Some(json!({"name": " 프로젝트 & Plans "}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!((r.body["name"].as_str(), r.body["role"].as_str()), (Some("프로젝트 & Plans"), None));
    let projects = r.body["id"].as_i64().unwrap();
    let encoded = r.body["imap_name"].as_str().unwrap().to_string();
    assert_eq!(encoded, "&1QS4XMgd0rg- &- Plans");
    assert!(on_disk(&encoded), "the Maildir has .{encoded}");
    assert!(db.scalar(&events).await > before, "a mail.changed event for the other tabs");
    // A subfolder, named under its parent with the server's separator.
    let r = call(&app, "alice", "POST", &folders_path, Some(json!({"name": "2027", "parent": projects}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["imap_name"], format!("{encoded}/2027"));
    let year = r.body["id"].as_i64().unwrap();
    assert!(on_disk(&format!("{encoded}.2027")));
    // The server's own list (a fresh sync) has both, with the same ids.
    let report = sync(&app, account).await;
    assert_eq!(folder_id(&report["folders"], &encoded), projects);
    assert_eq!(folder_id(&report["folders"], &format!("{encoded}/2027")), year);

    // Refusals: bad names, names taken, INBOX and special-use folders, a parent inside itself.
    for (body, status) in [
        (json!({"name": ""}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"name": "   "}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"name": "a/b"}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"name": "tab\there"}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"name": "프로젝트 & Plans"}), StatusCode::CONFLICT),
        (json!({"name": "Inbox"}), StatusCode::CONFLICT),
        (json!({"name": "Trash"}), StatusCode::CONFLICT),
        (json!({"name": "2027", "parent": projects}), StatusCode::CONFLICT),
        (json!({"name": "x", "parent": 999_999}), StatusCode::NOT_FOUND),
    ] {
        let r = call(&app, "alice", "POST", &folders_path, Some(body.clone())).await;
        assert_eq!(r.status, status, "{body}: {}", r.text);
        assert!(r.body["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", r.text);
    }
    for special in [inbox, trash, sent] {
        let path = format!("/api/v1/mail/folders/{special}");
        let r = call(&app, "alice", "PATCH", &path, Some(json!({"name": "Renamed"}))).await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
        assert_error(&call(&app, "alice", "DELETE", &path, None).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    }
    assert!(on_disk("Trash") && on_disk("Sent"));
    let r =
        call(&app, "alice", "PATCH", &format!("/api/v1/mail/folders/{projects}"), Some(json!({"parent": year}))).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let r = call(&app, "alice", "PATCH", &format!("/api/v1/mail/folders/{year}"), Some(json!({"name": "a/b"}))).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let r =
        call(&app, "alice", "PATCH", &format!("/api/v1/mail/folders/{projects}"), Some(json!({"name": "Sent"}))).await;
    assert_error(&r, StatusCode::CONFLICT, "conflict");
    let r = call(&app, "alice", "DELETE", &format!("/api/v1/mail/folders/{projects}"), None).await;
    assert_error(&r, StatusCode::CONFLICT, "conflict");

    // A message in the subfolder, to see it survive the renames and go with the delete.
    let keep = message_ids(&app, "alice", &format!("folder={inbox}")).await;
    assert_eq!(keep, ["m1@example.test"]);
    let m1 = call(&app, "alice", "GET", &format!("/api/v1/mail/messages?folder={inbox}"), None).await.body["messages"]
        [0]["id"]
        .as_i64()
        .unwrap();
    let r =
        call(&app, "alice", "POST", &format!("/api/v1/mail/messages/{m1}/copy"), Some(json!({"folder": year}))).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);

    // Rename the parent: the subfolder goes with it, on disk and in the index, ids and messages kept.
    let r =
        call(&app, "alice", "PATCH", &format!("/api/v1/mail/folders/{projects}"), Some(json!({"name": "Projects"})))
            .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!((r.body["id"].as_i64(), r.body["imap_name"].as_str()), (Some(projects), Some("Projects")));
    assert!(on_disk("Projects") && on_disk("Projects.2027") && !on_disk(&encoded), "renamed in the Maildir");
    let listed = call(&app, "alice", "GET", &folders_path, None).await.body;
    assert_eq!(folder_id(&listed, "Projects/2027"), year, "{listed}");
    assert_eq!(message_ids(&app, "alice", &format!("folder={year}")).await, ["m1@example.test"]);
    // Move the subfolder to the top level, under a new name.
    let r = call(
        &app,
        "alice",
        "PATCH",
        &format!("/api/v1/mail/folders/{year}"),
        Some(json!({"name": "Year 2027", "parent": null})),
    )
    .await;
    assert_eq!((r.status, r.body["imap_name"].as_str()), (StatusCode::OK, Some("Year 2027")), "{}", r.text);
    assert!(on_disk("Year 2027") && !on_disk("Projects.2027"));
    let report = sync(&app, account).await;
    assert_eq!(folder_id(&report["folders"], "Year 2027"), year, "the server lists it: {report}");
    assert_eq!(message_ids(&app, "alice", &format!("folder={year}")).await, ["m1@example.test"]);

    // Bob (with a mailbox of his own linked) can neither see nor change alice's folders.
    let bobs = srv.new_user("folders-bob");
    let (bob_account, _) = linked(&app, &srv, "bob", &bobs).await;
    for (method, path, body) in [
        ("POST", folders_path.clone(), Some(json!({"name": "Bob was here"}))),
        ("PATCH", format!("/api/v1/mail/folders/{year}"), Some(json!({"name": "Bob's now"}))),
        ("DELETE", format!("/api/v1/mail/folders/{year}"), None),
        (
            "POST",
            format!("/api/v1/mail/accounts/{bob_account}/folders"),
            Some(json!({"name": "x", "parent": projects})),
        ),
    ] {
        let r = call(&app, "bob", method, &path, body).await;
        assert_error(&r, StatusCode::NOT_FOUND, "not_found");
        assert!(!r.text.contains("Year 2027") && !r.text.contains("Projects"), "{}", r.text);
    }
    assert!(on_disk("Year 2027"));
    // Alice cannot nest her folder under bob's either (his folder is not hers: 404).
    let bob_inbox = call(&app, "bob", "GET", &format!("/api/v1/mail/accounts/{bob_account}/folders"), None).await.body;
    let r = call(
        &app,
        "alice",
        "PATCH",
        &format!("/api/v1/mail/folders/{year}"),
        Some(json!({"parent": folder_id(&bob_inbox, "inbox")})),
    )
    .await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found");

    // Delete: gone from the server and the index, with its messages; the original stays.
    let r = call(&app, "alice", "DELETE", &format!("/api/v1/mail/folders/{year}"), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert!(!on_disk("Year 2027"));
    assert_eq!(db.scalar(&format!("SELECT COUNT(*) FROM mail_messages WHERE folder_id = {year}")).await, 0);
    assert_eq!(db.scalar(&format!("SELECT COUNT(*) FROM mail_folders WHERE id = {year}")).await, 0);
    assert_error(
        &call(&app, "alice", "GET", &format!("/api/v1/mail/messages?folder={year}"), None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_eq!(message_ids(&app, "alice", &format!("folder={inbox}")).await, ["m1@example.test"]);
    let report = sync(&app, account).await;
    assert!(!report.to_string().contains("Year 2027"), "{report}");
    let r = call(&app, "alice", "DELETE", &format!("/api/v1/mail/folders/{projects}"), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert!(!on_disk("Projects"));
}

async fn folders_are_changed_on_the_server_with_condstore(db: &TestDb) {
    folders_are_changed_on_the_server(db, false).await;
}

async fn folders_are_changed_on_the_server_without_condstore(db: &TestDb) {
    folders_are_changed_on_the_server(db, true).await;
}

/// Copy: `UID COPY` on the server (the message is in both folders there and in the index), only
/// into a folder of the same account, never with another user's message or folder.
async fn messages_are_copied_on_the_server(db: &TestDb, basic: bool) {
    let Some(srv) = server(basic) else { return };
    let app = mail_app(db, &srv.ca).await;
    let user = srv.new_user("copy");
    for n in 1..=2 {
        srv.deliver(&user, n, &plain(n, &format!("Message {n}"), ""));
    }
    let (account, report) = linked(&app, &srv, "alice", &user).await;
    let inbox = folder_id(&report["folders"], "inbox");
    let r = call(
        &app,
        "alice",
        "POST",
        &format!("/api/v1/mail/accounts/{account}/folders"),
        Some(json!({"name": "Copies"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let copies = r.body["id"].as_i64().unwrap();
    let page = call(&app, "alice", "GET", &format!("/api/v1/mail/messages?folder={inbox}"), None).await.body;
    let m1 = page["messages"].as_array().unwrap().iter().find(|m| m["message_id"] == "m1@example.test").unwrap()["id"]
        .as_i64()
        .unwrap();
    let copy = format!("/api/v1/mail/messages/{m1}/copy");
    let r = call(&app, "alice", "POST", &copy, Some(json!({"folder": copies}))).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_eq!(message_ids(&app, "alice", &format!("folder={copies}")).await, ["m1@example.test"]);
    let mut left = message_ids(&app, "alice", &format!("folder={inbox}")).await;
    left.sort();
    assert_eq!(left, ["m1@example.test", "m2@example.test"], "a copy leaves the original");
    let dir = srv.maildir(&user).join(".Copies");
    let files =
        std::fs::read_dir(dir.join("cur")).unwrap().count() + std::fs::read_dir(dir.join("new")).unwrap().count();
    assert_eq!(files, 1, "one message file in .Copies");
    // The copy is a message of its own (its own id), in the same conversation.
    let copied =
        &call(&app, "alice", "GET", &format!("/api/v1/mail/messages?folder={copies}"), None).await.body["messages"][0];
    assert_ne!(copied["id"].as_i64(), Some(m1));
    assert_eq!(copied["folder"].as_i64(), Some(copies));

    // Only a folder of the same account: another account of alice's is a 422, a missing one a 404.
    let other = srv.new_user("copy-other");
    let (_, other_report) = linked(&app, &srv, "alice", &other).await;
    let other_inbox = folder_id(&other_report["folders"], "inbox");
    assert_error(
        &call(&app, "alice", "POST", &copy, Some(json!({"folder": other_inbox}))).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
    );
    assert_error(
        &call(&app, "alice", "POST", &copy, Some(json!({"folder": 999_999}))).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    // Bob cannot copy alice's message, nor alice copy into bob's folder.
    let bobs = srv.new_user("copy-bob");
    let (_, bob_report) = linked(&app, &srv, "bob", &bobs).await;
    let bob_inbox = folder_id(&bob_report["folders"], "inbox");
    for (who, folder) in [("bob", bob_inbox), ("bob", copies), ("alice", bob_inbox)] {
        let r = call(&app, who, "POST", &copy, Some(json!({"folder": folder}))).await;
        assert_error(&r, StatusCode::NOT_FOUND, "not_found");
    }
    assert!(message_ids(&app, "bob", &format!("folder={bob_inbox}")).await.is_empty());
    assert_eq!(message_ids(&app, "alice", &format!("folder={copies}")).await, ["m1@example.test"]);
}

async fn messages_are_copied_on_the_server_with_condstore(db: &TestDb) {
    messages_are_copied_on_the_server(db, false).await;
}

async fn messages_are_copied_on_the_server_without_condstore(db: &TestDb) {
    messages_are_copied_on_the_server(db, true).await;
}

/// A message whose words sit past the preview (the index has only the text's first 2 KiB).
fn long_message(n: usize, subject: &str, tail: &str) -> String {
    let filler = "Lorem ipsum dolor sit amet, consectetur adipiscing elit.\n".repeat(60);
    format!(
        "From: Sender {n} <s{n}@example.test>\nTo: box@example.test\nSubject: {subject}\n\
         Message-ID: <m{n}@example.test>\nDate: Mon, 7 Dec 2026 09:00:{n:02} +0900\nMIME-Version: 1.0\n\
         Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n{filler}{tail}\n"
    )
}

/// Body search on the server: a word only in a body (beyond the index's preview) is found, in
/// Korean too (a literal with CHARSET UTF-8); words are ANDed; a header word is found once; the
/// answer is the index's rows, newest first, paged; refusals and isolation.
async fn message_text_is_searched_on_the_server(db: &TestDb, basic: bool) {
    let Some(srv) = server(basic) else { return };
    let app = mail_app(db, &srv.ca).await;
    let user = srv.new_user("search");
    srv.deliver(&user, 1, &long_message(1, "Alpha", "the zebracorn hides here"));
    srv.deliver(&user, 2, &long_message(2, "Zebracorn in the subject", "nothing to see"));
    srv.deliver(&user, 3, &long_message(3, "Minutes", "회의록 붙임 드립니다"));
    srv.deliver(&user, 4, &long_message(4, "Both", "a zebracorn and a quagga"));
    let (_, report) = linked(&app, &srv, "alice", &user).await;
    let inbox = folder_id(&report["folders"], "inbox");
    let body = |q: &str| format!("folder={inbox}&body=true&q={}", urlencoding(q));
    // The index alone sees only the subject.
    assert_eq!(message_ids(&app, "alice", &format!("folder={inbox}&q=zebracorn")).await, ["m2@example.test"]);
    // The server sees bodies: three messages, each once, newest first.
    let found = message_ids(&app, "alice", &body("zebracorn")).await;
    let mut sorted = found.clone();
    sorted.sort();
    assert_eq!(sorted, ["m1@example.test", "m2@example.test", "m4@example.test"], "{found:?}");
    let rows = call(&app, "alice", "GET", &format!("/api/v1/mail/messages?{}", body("ZEBRACORN")), None).await;
    let order: Vec<(String, i64)> = rows.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["received_at"].as_str().unwrap().to_string(), m["id"].as_i64().unwrap()))
        .collect();
    assert_eq!(order.len(), 3, "case-insensitive: {}", rows.text);
    assert!(order.windows(2).all(|w| w[0] > w[1]), "newest first: {order:?}");
    // Words are ANDed; Korean goes as a UTF-8 literal; a word nowhere finds nothing.
    assert_eq!(message_ids(&app, "alice", &body("quagga zebracorn")).await, ["m4@example.test"]);
    assert_eq!(message_ids(&app, "alice", &body("회의록")).await, ["m3@example.test"]);
    assert_eq!(message_ids(&app, "alice", &body("회의록 붙임")).await, ["m3@example.test"]);
    assert!(message_ids(&app, "alice", &body("okapi")).await.is_empty());
    assert!(message_ids(&app, "alice", &body("\"quoted\\")).await.is_empty(), "quotes and backslashes are escaped");
    // The index's other filters apply, and paging walks the matches.
    assert!(message_ids(&app, "alice", &format!("{}&flagged=true", body("zebracorn"))).await.is_empty());
    let first = call(&app, "alice", "GET", &format!("/api/v1/mail/messages?{}&limit=2", body("zebracorn")), None).await;
    assert_eq!(first.body["messages"].as_array().unwrap().len(), 2, "{}", first.text);
    let next = first.body["next"].as_str().unwrap();
    let second = message_ids(&app, "alice", &format!("{}&limit=2&before={next}", body("zebracorn"))).await;
    assert_eq!(second.len(), 1);
    assert!(!first.text.contains(&second[0]), "no message twice across pages");
    // Refusals: no folder, no words.
    for query in ["body=true&q=zebracorn".to_string(), format!("folder={inbox}&body=true")] {
        let r = call(&app, "alice", "GET", &format!("/api/v1/mail/messages?{query}"), None).await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    }
    // Bob cannot search alice's folder (nor learn it exists).
    let r = call(&app, "bob", "GET", &format!("/api/v1/mail/messages?{}", body("zebracorn")), None).await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found");
    assert!(!r.text.contains("m1@example.test"));
}

async fn message_text_is_searched_on_the_server_with_condstore(db: &TestDb) {
    message_text_is_searched_on_the_server(db, false).await;
}

async fn message_text_is_searched_on_the_server_without_condstore(db: &TestDb) {
    message_text_is_searched_on_the_server(db, true).await;
}

/// The local OAuth provider that conformance-tests/dovecot.sh starts beside Dovecot (whose
/// oauth2 passdb checks tokens with it): its URL.
/// The OAuth provider the Dovecot checks tokens with (each Dovecot has its own).
fn oauth_provider(basic: bool) -> Option<String> {
    std::env::var(if basic { "MADANG_TEST_DOVECOT_BASIC_OAUTH" } else { "MADANG_TEST_DOVECOT_OAUTH" }).ok()
}

/// Steers the provider (`user=…&ttl=…`, `user=…&revoke=1`).
async fn oauth_control(base: &str, query: &str) {
    reqwest::Client::new().post(format!("{base}/control?{query}")).send().await.unwrap();
}

/// How many refreshes the provider granted for `user`.
async fn oauth_refreshes(base: &str, user: &str) -> i64 {
    let r = reqwest::Client::new().get(format!("{base}/stats?user={user}")).send().await.unwrap();
    r.json::<Value>().await.unwrap()["refreshes"].as_i64().unwrap()
}

/// Follows `authorize_url` to the provider, which approves at once and redirects: the
/// callback's path and query on Madang.
async fn consent(authorize_url: &str) -> String {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = client.get(authorize_url).send().await.unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::FOUND, "{authorize_url}");
    let location = r.headers()["location"].to_str().unwrap().to_string();
    location.strip_prefix("http://madang.test").expect("the configured redirect URI").to_string()
}

/// On the full Dovecot the login is OAUTHBEARER (RFC 7628); the basic one offers only XOAUTH2.
async fn accounts_sign_in_with_oauth_and_are_refreshed(db: &TestDb, basic: bool) {
    let Some(srv) = server(basic) else { return };
    let Some(idp) = oauth_provider(basic) else { panic!("MADANG_TEST_DOVECOT_OAUTH: dovecot.sh starts the provider") };
    let mut app = mail_app(db, &srv.ca).await;
    let mut config = mail_config(&srv.ca, true, true);
    config.oauth = vec![common::dovecot::test_idp(&idp)];
    config.oauth_redirect_uri = common::dovecot::OAUTH_REDIRECT.into();
    app.state = app.state.clone().with_mail(config).unwrap();
    let user = srv.new_user("oauth");
    // Access tokens that live 30 s, under the minute Madang keeps in hand: every sign-in
    // refreshes, which the provider rotates, so each refresh proves the last one was kept.
    oauth_control(&idp, &format!("user={user}&ttl=30")).await;
    srv.deliver(&user, 1, &plain(1, "Token", ""));
    let r = call(&app, "alice", "GET", "/api/v1/mail/oauth/providers", None).await;
    assert_eq!(r.body, json!([{"id": "custom", "name": "Test IdP", "imap_hosts": []}]), "{}", r.text);
    let mut settings = srv.account(&user);
    // No password with OAuth, and only configured providers.
    let r = call(
        &app,
        "alice",
        "POST",
        "/api/v1/mail/oauth/start",
        Some(json!({"provider": "custom", "settings": settings})),
    )
    .await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    settings.as_object_mut().unwrap().remove("password");
    let r = call(
        &app,
        "alice",
        "POST",
        "/api/v1/mail/oauth/start",
        Some(json!({"provider": "google", "settings": settings})),
    )
    .await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
    let start = json!({"provider": "custom", "settings": settings});
    let r = call(&app, "alice", "POST", "/api/v1/mail/oauth/start", Some(start.clone())).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let url = r.body["authorize_url"].as_str().unwrap();
    assert!(
        url.contains("code_challenge_method=S256") && url.contains("redirect_uri=http%3A%2F%2Fmadang.test"),
        "{url}"
    );
    let callback = consent(url).await;
    // Bob cannot finish Alice's flow (and spends it: `state` is used once).
    let mut bob = common::browser::Browser::new(&app);
    bob.sign_in("bob", common::dav::PASSWORD).await;
    let r = bob.get(&callback).await;
    assert!(r.location().starts_with("/#/mail?oauth_error="), "{}", r.location());
    assert_eq!(db.scalar("SELECT COUNT(*) FROM mail_accounts").await, 0);
    // Alice, again, to the end: linked without a password, the tokens sealed.
    let r = call(&app, "alice", "POST", "/api/v1/mail/oauth/start", Some(start.clone())).await;
    let callback = consent(r.body["authorize_url"].as_str().unwrap()).await;
    let mut alice = common::browser::Browser::new(&app);
    // Signed out: the sign-in page first, coming back to the same answer.
    let r = alice.get(&callback).await;
    assert!(r.location().starts_with("/signin?next="), "{}", r.location());
    alice.sign_in("alice", common::dav::PASSWORD).await;
    let r = alice.get(&callback).await;
    assert!(r.location().starts_with("/#/mail?linked="), "{}: {}", r.location(), r.text);
    let account: i64 = r.location().rsplit('=').next().unwrap().parse().unwrap();
    let r = alice.get(&callback).await;
    assert!(r.location().contains("oauth_error=this+sign-in+has+expired+or+was+already+used"), "{}", r.location());
    let shown = call(&app, "alice", "GET", &format!("/api/v1/mail/accounts/{account}"), None).await;
    assert_eq!((shown.body["auth"].as_str(), shown.body["oauth_provider"].as_str()), (Some("oauth"), Some("custom")));
    assert!(shown.body["problem"].is_null(), "{}", shown.text);
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM mail_accounts WHERE secret LIKE 'rt-%' OR oauth_access LIKE 'at-%'").await,
        0
    );
    assert_eq!(db.scalar("SELECT COUNT(*) FROM mail_oauth_flows").await, 0, "every flow is spent");
    // IMAP and SMTP with XOAUTH2, each sign-in after a refresh.
    let before = oauth_refreshes(&idp, &user).await;
    let report = sync(&app, account).await;
    assert_eq!(report["added"], 1, "{report}");
    let r = call(
        &app,
        "alice",
        "POST",
        &format!("/api/v1/mail/accounts/{account}/send"),
        Some(json!({"to": [{"name": "", "email": "s1@example.test"}], "subject": "By token", "text": "Hi."})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    sunk(&srv, r.body["message_id"].as_str().unwrap());
    sync(&app, account).await;
    let after = oauth_refreshes(&idp, &user).await;
    assert!(after >= before + 3, "a refresh before each sign-in: {before} → {after}");
    // The user withdraws consent at the provider: the next sign-in says so, once, and the
    // account waits for its user instead of retrying.
    oauth_control(&idp, &format!("user={user}&revoke=1")).await;
    let r = call(&app, "alice", "POST", &format!("/api/v1/mail/accounts/{account}/sync"), None).await;
    assert_error(&r, StatusCode::CONFLICT, "consent_required");
    assert!(r.text.contains("Test IdP") && r.text.contains("sign in again"), "{}", r.text);
    let shown = call(&app, "alice", "GET", &format!("/api/v1/mail/accounts/{account}"), None).await;
    assert_eq!(shown.body["problem"], "consent", "{}", shown.text);
    let waiting = app.state.store.all_mail_accounts().await.unwrap();
    assert!(!waiting.iter().any(|(id, _)| *id == account), "no watcher for an account that cannot sign in");
    let refreshes = oauth_refreshes(&idp, &user).await;
    let r = call(&app, "alice", "POST", &format!("/api/v1/mail/accounts/{account}/sync"), None).await;
    assert_error(&r, StatusCode::CONFLICT, "consent_required");
    assert_eq!(oauth_refreshes(&idp, &user).await, refreshes, "no more refreshes");
    // Signing in again renews it; the messages are still there.
    let r = call(
        &app,
        "alice",
        "POST",
        "/api/v1/mail/oauth/start",
        Some(json!({"provider": "custom", "account": account})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = alice.get(&consent(r.body["authorize_url"].as_str().unwrap()).await).await;
    assert_eq!(r.location(), format!("/#/mail?linked={account}"));
    let shown = call(&app, "alice", "GET", &format!("/api/v1/mail/accounts/{account}"), None).await;
    assert!(shown.body["problem"].is_null(), "{}", shown.text);
    sync(&app, account).await;
    // Bob can neither renew Alice's account nor see it.
    let r =
        call(&app, "bob", "POST", "/api/v1/mail/oauth/start", Some(json!({"provider": "custom", "account": account})))
            .await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found");
    // The user says no at the provider: back to the client with the reason.
    let mut denied = settings.clone();
    denied["email"] = json!("deny@example.test");
    let r = call(
        &app,
        "alice",
        "POST",
        "/api/v1/mail/oauth/start",
        Some(json!({"provider": "custom", "settings": denied})),
    )
    .await;
    let r = alice.get(&consent(r.body["authorize_url"].as_str().unwrap()).await).await;
    assert!(r.location().contains("oauth_error=Test+IdP+did+not+grant+access+%28access_denied%29"), "{}", r.location());
    // Which mechanism carried the token to IMAP, as the server logged it.
    let method = if basic { "XOAUTH2" } else { "OAUTHBEARER" };
    let line = format!("imap-login: Info: Login: user=<{user}>, method={method},");
    let logged =
        || std::fs::read_to_string(std::path::Path::new(&srv.dir).join("log/dovecot.log")).unwrap().contains(&line);
    for _ in 0..20 {
        if logged() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(logged(), "no IMAP login by {method} for {user}");
}

/// Gmail allows 15 connections per account and Dovecot 10 per user and address: Madang keeps
/// under its own limit and makes a request wait for a place, then says it is busy (503), rather
/// than have the provider refuse the watcher.
async fn accounts_sign_in_with_oauth_and_are_refreshed_with_oauthbearer(db: &TestDb) {
    accounts_sign_in_with_oauth_and_are_refreshed(db, false).await;
}

async fn accounts_sign_in_with_oauth_and_are_refreshed_with_xoauth2(db: &TestDb) {
    accounts_sign_in_with_oauth_and_are_refreshed(db, true).await;
}

async fn connections_per_account_are_limited(db: &TestDb) {
    let Some(srv) = server(false) else { return };
    let mut app = TestApp::new(db).await;
    app.state.modules.set(&[(Module::Mail, true)]).await.unwrap();
    // One place, so that the watcher's IDLE takes it (the configuration itself insists on two).
    // The wait for a place is the step timeout: the tests' 5 s, since a shorter one made the
    // linking's own TLS and login time out while the other tests ran beside it.
    let config = MailConfig { max_connections_per_account: 1, ..mail_config(&srv.ca, true, true) };
    app.state = app.state.clone().with_mail(config).unwrap();
    users(&app, &["alice"]).await;
    let user = srv.new_user("limit");
    srv.deliver(&user, 1, &plain(1, "One", ""));
    srv.deliver(&user, 2, &plain(2, "Two", ""));
    let (account, _) = linked(&app, &srv, "alice", &user).await;
    let list = call(&app, "alice", "GET", "/api/v1/mail/messages", None).await;
    let ids: Vec<i64> = list.body["messages"].as_array().unwrap().iter().map(|m| m["id"].as_i64().unwrap()).collect();
    assert_eq!(ids.len(), 2, "{}", list.text);
    // With the place free, a message opens.
    let r = call(&app, "alice", "GET", &format!("/api/v1/mail/messages/{}", ids[0]), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // The watcher holds the account's one place while it waits in IDLE.
    madang::mail::watch::spawn(app.state.mail.clone(), app.state.modules.clone());
    let started = std::time::Instant::now();
    while srv.sessions_of(&user) < 1 {
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "the watcher never connected");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let r = call(&app, "alice", "GET", &format!("/api/v1/mail/messages/{}", ids[1]), None).await;
    assert_error(&r, StatusCode::SERVICE_UNAVAILABLE, "busy");
    assert_eq!(r.body["details"]["step"], "limit", "{}", r.text);
    assert_eq!(srv.sessions_of(&user), 1, "no second session reached Dovecot");
    // The cached message still opens: no connection needed.
    let r = call(&app, "alice", "GET", &format!("/api/v1/mail/messages/{}", ids[0]), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    call(&app, "alice", "DELETE", &format!("/api/v1/mail/accounts/{account}"), None).await;
}

/// schemathesis found these answered in axum's plain text: a malformed query gets the JSON
/// error shape (400 `bad_query`) like every other API error.
async fn schemathesis_malformed_queries_get_json_errors(db: &TestDb) {
    let app = configured(db, &[], false, false).await;
    users(&app, &["alice"]).await;
    for path in ["/api/v1/mail/messages?unread=null", "/api/v1/mail/providers", "/api/v1/mail/messages?limit=many"] {
        let r = call(&app, "alice", "GET", path, None).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "bad_query");
    }
}

/// A 1×1 PNG, what the image server answers for `/pixel.png`.
const PIXEL: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\
\x00\x00\x00\x0dIDAT\x78\x9c\x63\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99\x3d\x1d\x00\x00\x00\x00IEND\xae\x42\x60\x82";

/// A remote image server on 127.0.0.1 (which the test configuration allows): `/pixel.png`,
/// `/page.html` (not an image), `/drawing.svg` (not served), `/big.png` (6 MiB with no
/// Content-Length, past the 5 MiB default), `/moved` (a redirect to `/pixel.png`) and
/// `/metadata` (a redirect to the cloud metadata address). It keeps each request's head.
struct ImageServer {
    port: u16,
    requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

async fn image_server() -> ImageServer {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = requests.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                seen.lock().unwrap().push(head);
                let answer = |status: &str, headers: &str, body: &[u8]| {
                    let mut out = format!("HTTP/1.1 {status}\r\nConnection: close\r\n{headers}\r\n").into_bytes();
                    out.extend_from_slice(body);
                    out
                };
                let reply = match path.as_str() {
                    "/pixel.png" => answer(
                        "200 OK",
                        &format!("Content-Type: image/png\r\nContent-Length: {}\r\n", PIXEL.len()),
                        PIXEL,
                    ),
                    "/page.html" => {
                        answer("200 OK", "Content-Type: text/html\r\nContent-Length: 13\r\n", b"<p>hello</p>\n")
                    }
                    "/drawing.svg" => {
                        let svg = b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>";
                        answer(
                            "200 OK",
                            &format!("Content-Type: image/svg+xml\r\nContent-Length: {}\r\n", svg.len()),
                            svg,
                        )
                    }
                    "/big.png" => answer("200 OK", "Content-Type: image/png\r\n", &vec![0u8; 6 << 20]),
                    "/moved" => answer("302 Found", "Location: /pixel.png\r\nContent-Length: 0\r\n", b""),
                    "/metadata" => answer(
                        "302 Found",
                        "Location: http://169.254.169.254/latest/meta-data/x.png\r\nContent-Length: 0\r\n",
                        b"",
                    ),
                    _ => answer("404 Not Found", "Content-Length: 0\r\n", b""),
                };
                let _ = conn.write_all(&reply).await;
                let _ = conn.shutdown().await;
            });
        }
    });
    ImageServer { port, requests }
}

/// The `src` of every picture in sanitised HTML that points at the image proxy, in order.
fn proxy_urls(html: &str) -> Vec<String> {
    html.split("src=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|src| src.starts_with("/api/v1/mail/image?"))
        .map(|src| src.replace("&amp;", "&"))
        .collect()
}

/// Remote images (issue 14): blocked by default; shown for one message with `images=show` or
/// always for a trusted sender, through the signed proxy, which fetches behind the outbound
/// guard and passes on only raster images within the size limit. Signatures are per user, and
/// so is the list of trusted senders.
async fn remote_images_are_shown_through_the_signed_proxy(db: &TestDb) {
    let Some(srv) = server(false) else { return };
    let app = mail_app(db, &srv.ca).await;
    let images = image_server().await;
    let base = format!("http://127.0.0.1:{}", images.port);
    let user = srv.new_user("images");
    let html = format!(
        "<p>Sale!</p><img src=\"{base}/pixel.png\" alt=\"logo\"><img src=\"{base}/page.html\">\
         <img src=\"{base}/drawing.svg\"><img src=\"{base}/big.png\"><img src=\"{base}/moved\">\
         <img src=\"{base}/metadata\"><img src=\"http://169.254.169.254/latest/meta-data/y.png\">"
    );
    srv.deliver(
        &user,
        1,
        &format!(
            "From: Shop News <News@Shop.example>\nTo: {user}\nSubject: Sale\nMessage-ID: <sale@shop.example>\n\
             Date: Mon, 7 Dec 2026 09:00:00 +0900\nMIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\n\n{html}\n"
        ),
    );
    linked(&app, &srv, "alice", &user).await;
    let listed = call(&app, "alice", "GET", "/api/v1/mail/messages", None).await;
    let id = listed.body["messages"][0]["id"].as_i64().unwrap();
    let path = format!("/api/v1/mail/messages/{id}");

    // Blocked by default: nothing of the remote server in the HTML, nothing asked of it.
    let r = call(&app, "alice", "GET", &path, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!((r.body["remote_images"].as_bool(), r.body["images_blocked"].as_bool()), (Some(true), Some(true)));
    assert_eq!(r.body["sender_trusted"], false);
    let blocked = r.body["html"].as_str().unwrap();
    assert!(!blocked.contains("127.0.0.1") && !blocked.contains("/api/v1/mail/image"), "{blocked}");
    assert!(images.requests.lock().unwrap().is_empty());
    assert_error(
        &call(&app, "alice", "GET", &format!("{path}?images=maybe"), None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
    );

    // Shown for this message: every picture points at the proxy, none at the remote server.
    let r = call(&app, "alice", "GET", &format!("{path}?images=show"), None).await;
    assert_eq!((r.body["remote_images"].as_bool(), r.body["images_blocked"].as_bool()), (Some(true), Some(false)));
    let shown = r.body["html"].as_str().unwrap();
    let urls = proxy_urls(shown);
    assert_eq!(urls.len(), 7, "{shown}");
    assert!(!shown.contains("src=\"http"), "{shown}");
    let [pixel, page, svg, big, moved, metadata, literal] = <[String; 7]>::try_from(urls).unwrap();
    assert!(images.requests.lock().unwrap().is_empty(), "showing a message fetches nothing by itself");

    let alice = common::dav::Client::new(&app, "alice");
    let get = |url: String| {
        let alice = &alice;
        async move { alice.send("GET", &url, &[], axum::body::Body::empty()).await }
    };
    let r = get(pixel.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.text, String::from_utf8_lossy(PIXEL));
    assert_eq!(r.header("content-type"), Some("image/png"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("content-security-policy"), Some("sandbox"));
    assert!(r.header("cache-control").unwrap().starts_with("private"));
    // The remote server learnt nothing of the reader: no cookie, no Referer, Madang's own agent.
    let head = images.requests.lock().unwrap().last().unwrap().to_ascii_lowercase();
    assert!(head.starts_with("get /pixel.png "), "{head}");
    assert!(!head.contains("cookie") && !head.contains("referer") && !head.contains("authorization"), "{head}");
    assert!(head.contains("user-agent: madang-image-proxy/1"), "{head}");
    // A redirect is followed (and checked again).
    let r = get(moved).await;
    assert_eq!((r.status, r.header("content-type")), (StatusCode::OK, Some("image/png")), "{}", r.text);

    // Refused: not an image, SVG, too large, an internal address (in the URL or by redirect).
    let r = call(&app, "alice", "GET", &page, None).await;
    assert_error(&r, StatusCode::BAD_GATEWAY, "not_an_image");
    assert_error(&call(&app, "alice", "GET", &svg, None).await, StatusCode::BAD_GATEWAY, "not_an_image");
    assert_error(&call(&app, "alice", "GET", &big, None).await, StatusCode::BAD_GATEWAY, "too_large");
    let before = images.requests.lock().unwrap().len();
    assert_error(&call(&app, "alice", "GET", &literal, None).await, StatusCode::FORBIDDEN, "blocked");
    assert_eq!(images.requests.lock().unwrap().len(), before);
    assert_error(&call(&app, "alice", "GET", &metadata, None).await, StatusCode::FORBIDDEN, "blocked");

    // The signature: changed, or on another URL, or another user's link.
    let (head_part, sig) = pixel.rsplit_once("&s=").unwrap();
    let flipped = if sig.ends_with('A') { "B" } else { "A" };
    let tampered = format!("{head_part}&s={}{flipped}", &sig[..sig.len() - 1]);
    assert_error(&call(&app, "alice", "GET", &tampered, None).await, StatusCode::FORBIDDEN, "bad_signature");
    let other_url = format!("{}&s={sig}", page.rsplit_once("&s=").unwrap().0);
    assert_error(&call(&app, "alice", "GET", &other_url, None).await, StatusCode::FORBIDDEN, "bad_signature");
    assert_error(&call(&app, "bob", "GET", &pixel, None).await, StatusCode::FORBIDDEN, "bad_signature");
    assert_error(
        &call(&app, "alice", "GET", "/api/v1/mail/image?u=x", None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
    );
    let anonymous = common::dav::Client::anonymous(&app).send("GET", &pixel, &[], axum::body::Body::empty()).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    // Without 127.0.0.1 allowed, the same signed URL (the key is the instance's, in the
    // database, so another process accepts it) is refused before anything is sent.
    let closed = configured(db, &srv.ca, false, true).await;
    let before = images.requests.lock().unwrap().len();
    assert_error(&call(&closed, "alice", "GET", &pixel, None).await, StatusCode::FORBIDDEN, "blocked");
    assert_eq!(images.requests.lock().unwrap().len(), before);

    // Trusted senders, per user: bob trusting the shop changes nothing for alice.
    let r =
        call(&app, "bob", "POST", "/api/v1/mail/image-senders", Some(json!({"address": "news@shop.example"}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = call(&app, "alice", "GET", &path, None).await;
    assert_eq!((r.body["images_blocked"].as_bool(), r.body["sender_trusted"].as_bool()), (Some(true), Some(false)));
    assert_eq!(call(&app, "alice", "GET", "/api/v1/mail/image-senders", None).await.body, json!([]));
    let r = call(&app, "alice", "POST", "/api/v1/mail/image-senders", Some(json!({"address": " News@Shop.Example "})))
        .await;
    assert_eq!((r.status, r.body["address"].as_str()), (StatusCode::CREATED, Some("news@shop.example")), "{}", r.text);
    let again =
        call(&app, "alice", "POST", "/api/v1/mail/image-senders", Some(json!({"address": "news@shop.example"}))).await;
    assert_eq!(again.status, StatusCode::CREATED, "trusting twice is fine: {}", again.text);
    let r = call(&app, "alice", "GET", &path, None).await;
    assert_eq!((r.body["images_blocked"].as_bool(), r.body["sender_trusted"].as_bool()), (Some(false), Some(true)));
    assert_eq!(proxy_urls(r.body["html"].as_str().unwrap()).len(), 7);
    let listed = call(&app, "alice", "GET", "/api/v1/mail/image-senders", None).await;
    assert_eq!(
        listed.body.as_array().map(|a| a.iter().map(|s| s["address"].clone()).collect::<Vec<_>>()),
        Some(vec![json!("news@shop.example")])
    );
    // Bob taking it off his list leaves alice's; alice taking it off blocks again.
    let r = call(&app, "bob", "DELETE", "/api/v1/mail/image-senders/news@shop.example", None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_error(
        &call(&app, "bob", "DELETE", "/api/v1/mail/image-senders/news@shop.example", None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_eq!(call(&app, "alice", "GET", &path, None).await.body["sender_trusted"], true);
    let r = call(&app, "alice", "DELETE", "/api/v1/mail/image-senders/News%40Shop.example", None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_eq!(call(&app, "alice", "GET", &path, None).await.body["images_blocked"], true);
    for bad in [json!({"address": "not an address"}), json!({"address": ""})] {
        assert_error(
            &call(&app, "alice", "POST", "/api/v1/mail/image-senders", Some(bad)).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        );
    }
    let r = call(&app, "alice", "POST", "/api/v1/mail/image-senders", Some(json!({"email": "x@y.z"}))).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "bad_json");
    // Bob cannot read the message itself, with or without images.
    assert_error(
        &call(&app, "bob", "GET", &format!("{path}?images=show"), None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

/// A large message (issue 14: "BODYSTRUCTURE, then only the parts needed"): opening it fetches
/// the text and the embedded picture, not the 3 MiB attachment, which downloads in pieces. The
/// proof without timing: `mail.max_message_size` is 1 MiB here, so a whole fetch would be 413;
/// and the part numbers are the ones a whole parse gives, so links stay the same either way.
async fn large_messages_are_read_by_parts_and_attachments_stream(db: &TestDb) {
    use base64::Engine;
    let Some(srv) = server(false) else { return };
    let mut app = TestApp::new(db).await;
    app.state.modules.set(&[(Module::Mail, true)]).await.unwrap();
    let config = MailConfig { max_message_size: 1 << 20, ..mail_config(&srv.ca, true, true) };
    app.state = app.state.clone().with_mail(config).unwrap();
    users(&app, &["alice", "bob"]).await;
    let user = srv.new_user("parts");
    let big: String = (0..80_000).map(|i| format!("line {i:07} of the large attachment\n")).collect();
    let wrapped: Vec<String> = base64::engine::general_purpose::STANDARD
        .encode(big.as_bytes())
        .as_bytes()
        .chunks(76)
        .map(|l| String::from_utf8(l.to_vec()).unwrap())
        .collect();
    let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
    let message = format!(
        "From: Kim <kim@example.test>\nTo: box@example.test\nSubject: Quarter\nMessage-ID: <big@example.test>\n\
         Date: Mon, 7 Dec 2026 10:00:00 +0900\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"outer\"\n\n\
         Preamble nobody reads.\n\
         --outer\nContent-Type: multipart/alternative; boundary=\"alt\"\n\n\
         --alt\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n\
         Caf=C3=A9 figures attached, soft=\nbreak.\n\
         --alt\nContent-Type: multipart/related; boundary=\"rel\"\n\n\
         --rel\nContent-Type: text/html; charset=utf-8\n\n<p>Caf\u{e9} <b>figures</b> <img src=\"cid:chart@x\"></p>\n\
         --rel\nContent-Type: image/png\nContent-ID: <chart@x>\nContent-Transfer-Encoding: base64\n\n{png}\n--rel--\n\
         --alt--\n\
         --outer\nContent-Type: text/plain; name=\"figures.txt\"\nContent-Disposition: attachment; filename=\"figures.txt\"\n\
         Content-Transfer-Encoding: base64\n\n{}\n\
         --outer\nContent-Type: message/rfc822\nContent-Disposition: attachment\n\n\
         From: Lee <lee@example.test>\nSubject: Earlier\n\nThe earlier message.\n\
         --outer--\n",
        wrapped.join("\n")
    );
    srv.deliver(&user, 1, &message);
    let (account, _) = linked(&app, &srv, "alice", &user).await;
    let r = call(&app, "alice", "GET", "/api/v1/mail/messages?limit=5", None).await;
    let id = r.body["messages"][0]["id"].as_i64().unwrap_or_else(|| panic!("{}", r.text));

    let r = call(&app, "alice", "GET", &format!("/api/v1/mail/messages/{id}"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["text"].as_str().unwrap().trim(), "Café figures attached, softbreak.");
    let html = r.body["html"].as_str().unwrap();
    assert!(html.contains("Café <b>figures</b>"), "{html}");
    // The same part numbers as the whole message parsed in one piece.
    let whole = std::fs::read(srv.file_of(&user, "big@example.test")).unwrap();
    let images = madang_mail::body::Images { proxy: None, part_url: std::sync::Arc::new(|p| p.to_string()) };
    let expected = madang_mail::body::read(&whole, &images).unwrap().attachments;
    let got = r.body["attachments"].as_array().unwrap();
    let numbered = |a: &Value| (a["part"].as_u64().unwrap() as u32, a["content_type"].as_str().unwrap().to_string());
    assert_eq!(
        got.iter().map(numbered).collect::<Vec<_>>(),
        expected.iter().map(|a| (a.part, a.content_type.clone())).collect::<Vec<_>>(),
        "{}",
        r.text
    );
    let file = got.iter().find(|a| a["name"] == "figures.txt").unwrap_or_else(|| panic!("{}", r.text));
    // Not fetched: its size is estimated from the encoded size, within a few percent.
    let size = file["size"].as_u64().unwrap() as f64;
    assert!((size / big.len() as f64 - 1.0).abs() < 0.03, "{size} for {}", big.len());
    let chart = got.iter().find(|a| a["inline"] == true).unwrap_or_else(|| panic!("{}", r.text));
    assert!(html.contains(chart["url"].as_str().unwrap()), "{html}");

    let client = common::dav::Client::new(&app, "alice");
    let picture = client.send("GET", chart["url"].as_str().unwrap(), &[], axum::body::Body::empty()).await;
    assert_eq!(picture.status, StatusCode::OK);
    assert_eq!(picture.header("content-type"), Some("image/png"));
    // 3 MiB through 1 MiB pieces, decoded across their edges, byte for byte.
    let download = client.send("GET", file["url"].as_str().unwrap(), &[], axum::body::Body::empty()).await;
    assert_eq!(download.status, StatusCode::OK);
    assert_eq!(download.header("content-type"), Some("application/octet-stream"));
    assert_eq!(download.header("x-content-type-options"), Some("nosniff"));
    assert!(download.header("content-disposition").unwrap().contains("figures.txt"));
    assert_eq!(download.text.len(), big.len());
    assert!(download.text == big, "the download differs from the attachment");
    let forwarded = got.iter().find(|a| a["content_type"] == "message/rfc822").unwrap_or_else(|| panic!("{}", r.text));
    let earlier = client.send("GET", forwarded["url"].as_str().unwrap(), &[], axum::body::Body::empty()).await;
    assert_eq!(earlier.status, StatusCode::OK);
    assert!(earlier.text.contains("The earlier message."), "{}", earlier.text);
    // Reading did not mark it seen.
    let r = call(&app, "alice", "GET", &format!("/api/v1/mail/messages/{id}"), None).await;
    assert_eq!(r.body["seen"], false);
    // Forwarding needs the whole message: past `mail.max_message_size`, a clear 413.
    let r = call(
        &app,
        "alice",
        "POST",
        &format!("/api/v1/mail/accounts/{account}/send"),
        Some(json!({"to": [{"name": "", "email": "x@example.test"}], "subject": "Fwd", "text": "see", "forward": id})),
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text);
    // Bob reaches neither the message nor its parts.
    for path in [format!("/api/v1/mail/messages/{id}"), file["url"].as_str().unwrap().to_string()] {
        assert_error(&call(&app, "bob", "GET", &path, None).await, StatusCode::NOT_FOUND, "not_found");
    }
    // After the connection is gone from the server's point of view, the session was closed:
    // a download holds its IMAP session only while it runs.
    for _ in 0..50 {
        if srv.sessions_of(&user) <= 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(srv.sessions_of(&user) <= 1, "{} sessions left open", srv.sessions_of(&user));
}

on_both_databases!(
    large_messages_are_read_by_parts_and_attachments_stream,
    schemathesis_malformed_queries_get_json_errors,
    connections_per_account_are_limited,
    remote_images_are_shown_through_the_signed_proxy,
    accounts_sign_in_with_oauth_and_are_refreshed_with_oauthbearer,
    accounts_sign_in_with_oauth_and_are_refreshed_with_xoauth2,
    folders_are_changed_on_the_server_with_condstore,
    folders_are_changed_on_the_server_without_condstore,
    messages_are_copied_on_the_server_with_condstore,
    messages_are_copied_on_the_server_without_condstore,
    message_text_is_searched_on_the_server_with_condstore,
    message_text_is_searched_on_the_server_without_condstore,
    messages_move_and_delete_on_the_server,
    a_reply_is_sent_threaded_and_filed_in_sent,
    new_mail_arrives_by_idle,
    the_index_follows_the_mailbox_with_condstore,
    the_index_follows_the_mailbox_without_condstore,
    qresync_vanished_removes_expunged_messages_without_a_search,
    without_qresync_a_search_removes_expunged_messages,
    folders_are_synchronised_into_the_index,
    linking_runs_the_connection_test_first,
    changes_defaults_and_unlinking,
    another_users_accounts_are_invisible,
    each_failed_step_is_named,
);
