//! Madang's SMTP submission listener (src/mailproxy/smtp.rs) over real sockets, on both
//! databases, relaying into the real Dovecot of conformance-tests/dovecot.sh (its submission
//! service files what it takes under DIR/sink): every AUTH form (PLAIN with an initial
//! response, LOGIN, OAUTHBEARER and XOAUTH2 with a Madang token of scope `mail`), wrong
//! passwords and the throttle, no unauthenticated or foreign-sender mail, SIZE at MAIL and in
//! DATA, pipelining, STARTTLS injection, the message arriving byte for byte with its envelope,
//! an upstream refusal passed back, upstream trouble as 4xx, and isolation between users.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::api::call;
use common::dav::{PASSWORD, users};
use common::{TestApp, TestDb};
use http_body_util::BodyExt;
use madang::config::{MailConfig, MailProxyConfig, OidcConfig, TlsFiles};
use madang::mailproxy::listen::{self, Kind};
use madang::modules::Module;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tower::ServiceExt;

/// The Dovecot the harness started: its directory, submission port, IMAPS port and CA
/// (`common::dovecot`).
fn dovecot() -> Option<(PathBuf, u16, u16, Vec<u8>)> {
    common::dovecot::harness(false).map(|h| (h.dir, h.submission, h.imaps, h.ca))
}

const MAX_MESSAGE: u64 = 64 * 1024;
const ISSUER: &str = "https://id.example.test/";
const CB: &str = "https://rp.example.test/cb";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// A running submission listener (STARTTLS, 587-style) and an implicit-TLS one (465-style) over
/// an app where alice has linked alice@example.test and bob bob@example.test.
struct Setup {
    app: TestApp,
    dir: PathBuf,
    ca: Vec<u8>,
    submission: SocketAddr,
    submissions: SocketAddr,
    /// Makes this test's subjects its own: every test of both databases files into one sink.
    tag: String,
}

async fn setup(db: &TestDb, senders_in_domain: bool) -> Option<Setup> {
    let (dir, submission_port, imaps, ca) = dovecot()?;
    let mut app = TestApp::new(db).await;
    app.state.modules.set(&[(Module::Mail, true)]).await.unwrap();
    let mut mail = MailConfig {
        outbound: madang::outbound::OutboundPolicy { allowed: madang::outbound::parse_list("127.0.0.1").unwrap() },
        extra_roots: ca.clone(),
        connect_timeout: Duration::from_secs(5),
        ..MailConfig::default()
    };
    // The OAuth provider dovecot.sh starts beside Dovecot, whose oauth2 passdb asks it.
    if let Ok(idp) = std::env::var("MADANG_TEST_DOVECOT_OAUTH") {
        mail.oauth = vec![common::dovecot::test_idp(&idp)];
        mail.oauth_redirect_uri = common::dovecot::OAUTH_REDIRECT.into();
    }
    let proxy = MailProxyConfig {
        tls: Some(TlsFiles { cert: dir.join("cert.pem"), key: dir.join("key.pem") }),
        hostname: "mail.example.test".into(),
        max_message_size: MAX_MESSAGE,
        senders_in_domain,
        login_timeout: Duration::from_secs(20),
        ..MailProxyConfig::default()
    };
    app.state = app
        .state
        .clone()
        .with_mail(mail)
        .unwrap()
        .with_mailproxy(proxy)
        .with_oidc(OidcConfig { issuer: ISSUER.into(), ..OidcConfig::default() });
    users(&app, &["alice", "bob"]).await;
    for who in ["alice", "bob"] {
        let settings = json!({
            "email": format!("{who}@example.test"), "display_name": who,
            "imap_host": "localhost", "imap_port": imaps, "imap_security": "tls",
            "smtp_host": "localhost", "smtp_port": submission_port, "smtp_security": "starttls",
            "username": format!("{who}@example.test"), "password": format!("{who}-imap-pw"),
        });
        let r = call(&app, who, "POST", "/api/v1/mail/accounts", Some(settings)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }
    let proxy = app.state.mail_proxy();
    let submission = listen::bind(proxy.clone(), Kind::Submission, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let submissions = listen::bind(proxy, Kind::Submissions, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    Some(Setup { app, dir, ca, submission, submissions, tag: format!("{nanos}") })
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A bare SMTP client: what it sends is exactly what the test says.
struct Client {
    io: Box<dyn Io>,
    buf: Vec<u8>,
}

fn tls_connector(ca: &[u8]) -> tokio_rustls::TlsConnector {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(ca) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

impl Client {
    /// Connects and reads the greeting.
    async fn plain(addr: SocketAddr) -> Client {
        let mut c = Client { io: Box::new(TcpStream::connect(addr).await.unwrap()), buf: Vec::new() };
        let (code, text) = c.reply().await;
        assert_eq!(code, 220, "{text}");
        assert!(text.starts_with("mail.example.test"), "{text}");
        c
    }

    /// Implicit TLS (465-style), then the greeting.
    async fn tls(addr: SocketAddr, ca: &[u8]) -> Client {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let tls = tls_connector(ca).connect(name, tcp).await.unwrap();
        let mut c = Client { io: Box::new(tls), buf: Vec::new() };
        assert_eq!(c.reply().await.0, 220);
        c
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.io.write_all(bytes).await.unwrap();
        self.io.flush().await.unwrap();
    }

    /// One whole reply: its code and its lines joined with `\n`.
    async fn reply(&mut self) -> (u16, String) {
        let mut lines = Vec::new();
        loop {
            let line = loop {
                if let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = self.buf.drain(..=end).collect();
                    break String::from_utf8(line).unwrap();
                }
                let mut chunk = [0u8; 4096];
                let n = tokio::time::timeout(Duration::from_secs(30), self.io.read(&mut chunk))
                    .await
                    .expect("no reply within 30 s")
                    .unwrap();
                assert!(n > 0, "connection closed; so far: {lines:?}");
                self.buf.extend_from_slice(&chunk[..n]);
            };
            assert!(line.ends_with("\r\n"), "{line:?}");
            let code: u16 = line[..3].parse().unwrap();
            lines.push(line[4..].trim_end().to_string());
            if line.as_bytes()[3] == b' ' {
                return (code, lines.join("\n"));
            }
        }
    }

    async fn cmd(&mut self, line: &str) -> (u16, String) {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    /// Whether the server closed the connection (after a 421 or 221).
    async fn closed(&mut self) -> bool {
        let mut chunk = [0u8; 64];
        matches!(tokio::time::timeout(Duration::from_secs(10), self.io.read(&mut chunk)).await, Ok(Ok(0)) | Ok(Err(_)))
    }

    /// STARTTLS and the handshake, on a client whose buffer is empty (nothing read ahead).
    async fn starttls(mut self, ca: &[u8]) -> Client {
        let (code, text) = self.cmd("STARTTLS").await;
        assert_eq!(code, 220, "{text}");
        assert!(self.buf.is_empty());
        self.upgrade(ca).await
    }

    async fn upgrade(self, ca: &[u8]) -> Client {
        // The plain stream is a TcpStream inside the box; rebuild it from the raw parts.
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let tls = tls_connector(ca).connect(name, self.io).await.unwrap();
        Client { io: Box::new(tls), buf: Vec::new() }
    }

    async fn ehlo(&mut self) -> String {
        let (code, text) = self.cmd("EHLO [127.0.0.1]").await;
        assert_eq!(code, 250, "{text}");
        text
    }

    async fn auth_plain(&mut self, user: &str, password: &str) -> (u16, String) {
        self.cmd(&format!("AUTH PLAIN {}", STANDARD.encode(format!("\0{user}\0{password}")))).await
    }

    /// A whole transaction; the reply to the end of DATA.
    async fn mail(&mut self, from: &str, to: &[&str], message: &[u8]) -> (u16, String) {
        let (code, text) = self.cmd(&format!("MAIL FROM:<{from}> BODY=8BITMIME SIZE={}", message.len())).await;
        if code != 250 {
            return (code, text);
        }
        for rcpt in to {
            let (code, text) = self.cmd(&format!("RCPT TO:<{rcpt}>")).await;
            assert_eq!(code, 250, "{text}");
        }
        let (code, text) = self.cmd("DATA").await;
        assert_eq!(code, 354, "{text}");
        self.send(&stuff(message)).await;
        self.reply().await
    }
}

/// Dot-stuffed with the terminator, as a client sends it (RFC 5321 §4.5.2).
fn stuff(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in message.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b".") {
            out.push(b'.');
        }
        out.extend_from_slice(line);
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// A message with what a relay could spoil: a leading dot, 8-bit text, trailing spaces, a
/// long line.
fn message(subject: &str) -> Vec<u8> {
    let long = "x".repeat(900);
    format!(
        "From: Alice <alice@example.test>\r\nTo: carol@example.org\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@example.test>\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n.a line with a leading dot\r\n..two\r\n\
         안녕하세요 trailing spaces   \r\n{long}\r\n\r\n.\r\nend\r\n"
    )
    .into_bytes()
}

/// The sink's copy of the message whose Subject is `subject`, and its envelope.
async fn delivered(dir: &std::path::Path, subject: &str) -> (Vec<u8>, Value) {
    let sink = dir.join("sink");
    let needle = format!("Subject: {subject}\r\n");
    for _ in 0..100 {
        let envelopes = std::fs::read_to_string(sink.join("envelopes.jsonl")).unwrap_or_default();
        for line in envelopes.lines() {
            let e: Value = serde_json::from_str(line).unwrap();
            let data = std::fs::read(sink.join("new").join(e["file"].as_str().unwrap())).unwrap_or_default();
            if data.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                return (data, e);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{subject} never reached the sink");
}

fn never_delivered(dir: &std::path::Path, subject: &str) -> bool {
    let sink = dir.join("sink").join("new");
    let needle = format!("Subject: {subject}\r\n");
    std::fs::read_dir(sink).unwrap().all(|f| {
        let data = std::fs::read(f.unwrap().path()).unwrap_or_default();
        !data.windows(needle.len()).any(|w| w == needle.as_bytes())
    })
}

/// Dovecot's submission service puts its own trace header on top; below it, the bytes must be
/// the client's, every one.
fn assert_same_bytes(sink: &[u8], sent: &[u8]) {
    assert!(sink.ends_with(sent), "the relayed message changed:\n{}", String::from_utf8_lossy(sink));
    let added = String::from_utf8_lossy(&sink[..sink.len() - sent.len()]).into_owned();
    assert!(added.is_empty() || added.starts_with("Received: "), "added before the message: {added:?}");
}

async fn a_message_arrives_byte_for_byte_with_its_envelope(db: &TestDb) {
    let Some(s) = setup(db, false).await else { return };
    // 587-style: STARTTLS, then AUTH PLAIN with an initial response (Thunderbird, TfA).
    let mut c = Client::plain(s.submission).await;
    let before = c.ehlo().await;
    assert!(before.lines().any(|l| l == "STARTTLS"), "{before}");
    let mut c = c.starttls(&s.ca).await;
    let after = c.ehlo().await;
    let lines: Vec<&str> = after.lines().collect();
    assert_eq!(lines[0], "mail.example.test");
    for wanted in
        ["AUTH PLAIN LOGIN OAUTHBEARER XOAUTH2", "SIZE 65536", "8BITMIME", "PIPELINING", "ENHANCEDSTATUSCODES"]
    {
        assert!(lines.contains(&wanted), "{wanted} missing: {after}");
    }
    assert!(!lines.contains(&"STARTTLS"), "{after}");
    let (code, text) = c.auth_plain("alice", PASSWORD).await;
    assert_eq!((code, text.as_str()), (235, "2.7.0 Authentication successful"));
    let sent = message(&format!("bytes-1-{}", s.tag));
    let (code, text) = c.mail("Alice@Example.test", &["carol@example.org", "dave@example.org"], &sent).await;
    assert_eq!(code, 250, "{text}");
    let (sink, envelope) = delivered(&s.dir, &format!("bytes-1-{}", s.tag)).await;
    assert_same_bytes(&sink, &sent);
    assert_eq!(envelope["from"], "Alice@Example.test");
    assert_eq!(envelope["to"], json!(["carol@example.org", "dave@example.org"]));
    // The session goes on: a second message in the same connection.
    let sent = message(&format!("bytes-2-{}", s.tag));
    assert_eq!(c.mail("alice@example.test", &["erin@example.org"], &sent).await.0, 250);
    assert_same_bytes(&delivered(&s.dir, &format!("bytes-2-{}", s.tag)).await.0, &sent);
    assert_eq!(c.cmd("QUIT").await.0, 221);
    assert!(c.closed().await);

    // 465-style with AUTH LOGIN (FairEmail's first choice) and an app password.
    let (_, app_password) = s.app.accounts.add_app_password("alice", "phone").await.unwrap();
    let mut c = Client::tls(s.submissions, &s.ca).await;
    assert!(c.ehlo().await.contains("AUTH PLAIN LOGIN"));
    assert_eq!(c.cmd("AUTH LOGIN").await, (334, "VXNlcm5hbWU6".to_string()));
    assert_eq!(c.cmd(&STANDARD.encode("alice@example.test")).await, (334, "UGFzc3dvcmQ6".to_string()));
    assert_eq!(c.cmd(&STANDARD.encode(&app_password)).await.0, 235);
    let sent = message(&format!("bytes-3-{}", s.tag));
    assert_eq!(c.mail("alice@example.test", &["frank@example.org"], &sent).await.0, 250);
    assert_same_bytes(&delivered(&s.dir, &format!("bytes-3-{}", s.tag)).await.0, &sent);
    // PLAIN without an initial response: `334 ` then the response.
    let mut c = Client::tls(s.submissions, &s.ca).await;
    c.ehlo().await;
    assert_eq!(c.cmd("AUTH PLAIN").await.0, 334);
    assert_eq!(c.cmd(&STANDARD.encode(format!("alice\0alice\0{PASSWORD}"))).await.0, 235);
    // One AUTH per session (RFC 4954 §4).
    assert_eq!(c.auth_plain("alice", PASSWORD).await.0, 503);
}

/// A Madang access token with the `mail` scope, through the real code flow.
async fn mail_token(app: &TestApp, user: &str) -> String {
    let send = |req: Request<Body>| async {
        let response = madang::app::app(app.state.clone()).oneshot(req).await.unwrap();
        let location = response.headers().get(header::LOCATION).map(|v| v.to_str().unwrap().to_string());
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, location, String::from_utf8_lossy(&body).into_owned())
    };
    let new = madang::oidc::clients::NewClient {
        client_id: "mailapp".into(),
        redirect_uris: vec![CB.into()],
        first_party: true,
        scopes: Some(vec!["openid mail".into()]),
        ..Default::default()
    };
    let secret = match app.state.oidc.clients().create(new, None).await {
        Ok((_, secret)) => secret.unwrap(),
        Err(_) => panic!("client"),
    };
    let who = app.store.user_by_name(&madang::domain::Username::parse(user).unwrap()).await.unwrap();
    let web = madang::web::Client { address: None, secure: false, user_agent: "test".into() };
    let (_, cookie) = madang::web::session::start(&app.state, &who, &["pwd"], &web).await.unwrap();
    let cookie = cookie.to_str().unwrap().split(';').next().unwrap().to_string();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()));
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", "mailapp")
        .append_pair("redirect_uri", CB)
        .append_pair("scope", "openid mail")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .finish();
    let (status, location, text) = send(
        Request::get(format!("/oauth2/authorize?{query}")).header(header::COOKIE, cookie).body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::FOUND, "{text}");
    let location = location.unwrap();
    let params: HashMap<String, String> =
        form_urlencoded::parse(location.split_once('?').unwrap().1.as_bytes()).into_owned().collect();
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", &params["code"])
        .append_pair("redirect_uri", CB)
        .append_pair("code_verifier", VERIFIER)
        .finish();
    let (status, _, text) = send(
        Request::post("/oauth2/token")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::AUTHORIZATION, format!("Basic {}", STANDARD.encode(format!("mailapp:{secret}"))))
            .body(Body::from(form))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    serde_json::from_str::<Value>(&text).unwrap()["access_token"].as_str().unwrap().to_string()
}

async fn bearer_tokens_with_the_mail_scope_log_in(db: &TestDb) {
    let Some(s) = setup(db, false).await else { return };
    let token = mail_token(&s.app, "alice").await;
    // OAUTHBEARER (RFC 7628) with the initial response, naming the user.
    let mut c = Client::tls(s.submissions, &s.ca).await;
    c.ehlo().await;
    let ir = STANDARD.encode(format!("n,a=alice,\x01host=localhost\x01port=465\x01auth=Bearer {token}\x01\x01"));
    assert_eq!(c.cmd(&format!("AUTH OAUTHBEARER {ir}")).await.0, 235);
    let sent = message(&format!("oauth-1-{}", s.tag));
    assert_eq!(c.mail("alice@example.test", &["carol@example.org"], &sent).await.0, 250);
    assert_same_bytes(&delivered(&s.dir, &format!("oauth-1-{}", s.tag)).await.0, &sent);
    // XOAUTH2 after a `334 ` continuation, naming the address.
    let mut c = Client::tls(s.submissions, &s.ca).await;
    c.ehlo().await;
    assert_eq!(c.cmd("AUTH XOAUTH2").await.0, 334);
    let ir = STANDARD.encode(format!("user=alice@example.test\x01auth=Bearer {token}\x01\x01"));
    assert_eq!(c.cmd(&ir).await.0, 235);
    // A wrong token: the error challenge, then 535 (RFC 7628 §3.2.2).
    let mut c = Client::tls(s.submissions, &s.ca).await;
    c.ehlo().await;
    let ir = STANDARD.encode("n,,\x01auth=Bearer not-a-token\x01\x01");
    let (code, challenge) = c.cmd(&format!("AUTH OAUTHBEARER {ir}")).await;
    assert_eq!(code, 334);
    let json: Value = serde_json::from_slice(&STANDARD.decode(challenge).unwrap()).unwrap();
    assert_eq!(json["status"], "invalid_token");
    assert_eq!(c.cmd(&STANDARD.encode("\x01")).await, (535, "5.7.8 Authentication credentials invalid".into()));
    // Alice's token never opens bob's mailbox, whatever name the exchange gives.
    for name in ["bob", "bob@example.test"] {
        let mut c = Client::tls(s.submissions, &s.ca).await;
        c.ehlo().await;
        let ir = STANDARD.encode(format!("user={name}\x01auth=Bearer {token}\x01\x01"));
        assert_eq!(c.cmd(&format!("AUTH XOAUTH2 {ir}")).await.0, 334, "{name}");
        assert_eq!(c.cmd("").await.0, 535, "{name}");
    }
    // An app password is not a token, and a token is not a password.
    let mut c = Client::tls(s.submissions, &s.ca).await;
    c.ehlo().await;
    assert_eq!(c.auth_plain("alice", &token).await.0, 535);
}

/// A mailbox of its own on the harness's Dovecot (`dovecot.sh adduser`), password `box-pw`.
fn new_mailbox(dir: &std::path::Path, tag: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let user = format!("{tag}-{nanos}@example.test");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/conformance-tests/dovecot.sh");
    let dir = dir.to_str().unwrap();
    let status = std::process::Command::new("bash").args([script, "adduser", dir, &user, "box-pw"]).status().unwrap();
    assert!(status.success());
    user
}

async fn an_oauth_account_relays_with_its_token(db: &TestDb) {
    let Some(s) = setup(db, false).await else { return };
    let Ok(_) = std::env::var("MADANG_TEST_DOVECOT_OAUTH") else {
        panic!("MADANG_TEST_DOVECOT_OAUTH: dovecot.sh starts the provider")
    };
    // Bob links a second mailbox by OAuth (the provider approves at once).
    let user = new_mailbox(&s.dir, "smtp-oauth");
    let (submission, imaps) = {
        let port = |k: &str| std::env::var(k).unwrap().parse::<u16>().unwrap();
        (port("MADANG_TEST_DOVECOT_SUBMISSION"), port("MADANG_TEST_DOVECOT_IMAPS"))
    };
    let settings = json!({
        "email": user, "imap_host": "localhost", "imap_port": imaps, "imap_security": "tls",
        "smtp_host": "localhost", "smtp_port": submission, "smtp_security": "starttls", "username": user,
    });
    let start = json!({"provider": "custom", "settings": settings});
    let r = call(&s.app, "bob", "POST", "/api/v1/mail/oauth/start", Some(start)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let authorize = r.body["authorize_url"].as_str().unwrap();
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let consented = client.get(authorize).send().await.unwrap();
    let location = consented.headers()["location"].to_str().unwrap().to_string();
    let callback = location.strip_prefix("http://madang.test").unwrap().to_string();
    let mut bob = common::browser::Browser::new(&s.app);
    bob.sign_in("bob", PASSWORD).await;
    let r = bob.get(&callback).await;
    assert!(r.location().starts_with("/#/mail?linked="), "{}", r.location());
    // Bob's phone logs in with the mailbox's address: that account, relayed with its token
    // (OAUTHBEARER, which this Dovecot offers, checked with the provider).
    let mut c = Client::tls(s.submissions, &s.ca).await;
    c.ehlo().await;
    assert_eq!(c.auth_plain(&user, PASSWORD).await.0, 235);
    assert_eq!(c.cmd("MAIL FROM:<bob@example.test>").await.0, 550);
    assert_eq!(c.cmd("RSET").await.0, 250);
    let sent = message(&format!("oauth-relay-1-{}", s.tag));
    let (code, text) = c.mail(&user, &["carol@example.org"], &sent).await;
    assert_eq!(code, 250, "{text}");
    let (sink, envelope) = delivered(&s.dir, &format!("oauth-relay-1-{}", s.tag)).await;
    assert_same_bytes(&sink, &sent);
    assert_eq!(envelope["from"], json!(user));
    // Withdrawn consent: the token is refused, the refresh too, and the app is told to retry
    // later (454) rather than that its own password is wrong.
    let idp = std::env::var("MADANG_TEST_DOVECOT_OAUTH").unwrap();
    client.post(format!("{idp}/control?user={user}&revoke=1")).send().await.unwrap();
    let (code, text) = c.mail(&user, &["carol@example.org"], &message(&format!("oauth-relay-2-{}", s.tag))).await;
    assert_eq!(code, 454, "{text}");
    assert!(never_delivered(&s.dir, &format!("oauth-relay-2-{}", s.tag)));
}

async fn wrong_passwords_get_535_then_the_throttle(db: &TestDb) {
    let Some(s) = setup(db, false).await else { return };
    let mut c = Client::tls(s.submissions, &s.ca).await;
    c.ehlo().await;
    assert_eq!(c.auth_plain("alice", "wrong").await, (535, "5.7.8 Authentication credentials invalid".into()));
    // A cancelled exchange (RFC 4954 §4) and bad base64 are 501, and count as no login.
    assert_eq!(c.cmd("AUTH PLAIN").await.0, 334);
    assert_eq!(c.cmd("*").await.0, 501);
    assert_eq!(c.cmd("AUTH PLAIN !!!").await.0, 501);
    // An authorization identity other than the user's own is refused like a wrong password.
    let ir = STANDARD.encode(format!("bob\0alice\0{PASSWORD}"));
    assert_eq!(c.cmd(&format!("AUTH PLAIN {ir}")).await.0, 535);
    // Unknown mechanisms, never offered (CRAM-MD5 would make FairEmail pick it).
    assert_eq!(c.cmd("AUTH CRAM-MD5").await.0, 504);
    // auth.account_failures_before_backoff (5): then 454 4.7.0, even for the right password,
    // until the wait is over; and a connection with five failures is closed.
    let mut throttled = false;
    for _ in 0..10 {
        let mut c = Client::tls(s.submissions, &s.ca).await;
        c.ehlo().await;
        let (code, text) = c.auth_plain("alice", "wrong").await;
        if code == 454 {
            assert!(text.starts_with("4.7.0 Too many failed logins"), "{text}");
            throttled = true;
            break;
        }
        assert_eq!(code, 535, "{text}");
    }
    assert!(throttled, "never throttled");
    // The right password of a device that already proved it still passes (the verification
    // cache comes before the throttle, ARCHITECTURE.md), while any other is held off.
    let mut c = Client::tls(s.submissions, &s.ca).await;
    c.ehlo().await;
    assert_eq!(c.auth_plain("alice", "another-guess").await.0, 454);
    assert_eq!(c.auth_plain("alice", PASSWORD).await.0, 235);
    // Five failures on one connection end it (bob is not throttled).
    let mut c = Client::tls(s.submissions, &s.ca).await;
    c.ehlo().await;
    for _ in 0..4 {
        assert_eq!(c.auth_plain("nobody-here", "wrong").await.0, 535);
    }
    let (code, _) = c.auth_plain("nobody-here", "wrong").await;
    assert!(code == 535 || code == 454, "{code}");
    assert_eq!(c.reply().await.0, 421);
    assert!(c.closed().await);
}

async fn no_mail_without_auth_or_as_someone_else(db: &TestDb) {
    let Some(s) = setup(db, false).await else { return };
    // No open relay: MAIL, RCPT and DATA before AUTH.
    let mut c = Client::tls(s.submissions, &s.ca).await;
    c.ehlo().await;
    assert_eq!(c.cmd("MAIL FROM:<alice@example.test>").await, (530, "5.7.0 Authentication required".into()));
    assert_eq!(c.cmd("RCPT TO:<carol@example.org>").await.0, 530);
    assert_eq!(c.cmd("DATA").await.0, 530);
    // Alice as bob: the linked account is hers, the sender must be too (RFC 6409 §6.1).
    assert_eq!(c.auth_plain("alice", PASSWORD).await.0, 235);
    let (code, text) =
        c.mail("bob@example.test", &["carol@example.org"], &message(&format!("forged-1-{}", s.tag))).await;
    assert_eq!((code, text.as_str()), (550, "5.7.1 Sender address rejected: this login sends as <alice@example.test>"));
    // Another address at her domain only when mailproxy.allowed_senders = domain; <> never.
    assert_eq!(c.cmd("MAIL FROM:<alice-other@example.test>").await.0, 550);
    assert_eq!(c.cmd("MAIL FROM:<>").await.0, 550);
    // Alice's app password never logs in as bob, nor through bob's address, nor picks bob's
    // account after a `+` (the test users share an account password, so an app password it is).
    let (_, alices) = s.app.accounts.add_app_password("alice", "phone").await.unwrap();
    for (name, wanted) in [("bob", 535), ("bob@example.test", 535), ("alice+bob@example.test", 535)] {
        let mut c = Client::tls(s.submissions, &s.ca).await;
        c.ehlo().await;
        let (code, text) = c.auth_plain(name, &alices).await;
        assert_eq!(code, wanted, "{name}: {text}");
    }
    let mut c = Client::tls(s.submissions, &s.ca).await;
    c.ehlo().await;
    assert_eq!(c.auth_plain("alice", &alices).await.0, 235);
    // Bob's own login sends as bob; alice's messages never went out.
    let mut c = Client::tls(s.submissions, &s.ca).await;
    c.ehlo().await;
    assert_eq!(c.auth_plain("bob", PASSWORD).await.0, 235);
    assert_eq!(c.cmd("MAIL FROM:<alice@example.test>").await.0, 550);
    let sent = message(&format!("bobs-1-{}", s.tag));
    assert_eq!(c.mail("bob@example.test", &["carol@example.org"], &sent).await.0, 250);
    assert_eq!(delivered(&s.dir, &format!("bobs-1-{}", s.tag)).await.1["from"], "bob@example.test");
    assert!(never_delivered(&s.dir, &format!("forged-1-{}", s.tag)));
}

/// A device revoked after its AUTH sends nothing more on that connection (each message checks
/// the login again), and the refusal is a 535 the app takes as "sign in again".
async fn a_device_revoked_mid_session_sends_nothing_more(db: &TestDb) {
    let Some(s) = setup(db, false).await else { return };
    let (phone, password) = s.app.accounts.add_app_password("alice", "phone").await.unwrap();
    let mut c = Client::tls(s.submissions, &s.ca).await;
    c.ehlo().await;
    assert_eq!(c.auth_plain("alice", &password).await.0, 235);
    let before = format!("before-revoke-{}", s.tag);
    assert_eq!(c.mail("alice@example.test", &["carol@example.org"], &message(&before)).await.0, 250);
    delivered(&s.dir, &before).await;
    s.app.accounts.revoke_app_password("alice", phone.id).await.unwrap();
    let after = format!("after-revoke-{}", s.tag);
    let (code, text) = c.mail("alice@example.test", &["carol@example.org"], &message(&after)).await;
    assert_eq!((code, text.as_str()), (535, "5.7.8 This login is no longer valid; sign in again"));
    assert!(never_delivered(&s.dir, &after));
}

async fn senders_in_domain_allows_the_domain_only(db: &TestDb) {
    // mailproxy.allowed_senders = domain: any address at the account's domain, no other.
    let Some(s) = setup(db, true).await else { return };
    let mut c = Client::tls(s.submissions, &s.ca).await;
    c.ehlo().await;
    assert_eq!(c.auth_plain("alice", PASSWORD).await.0, 235);
    assert_eq!(c.cmd("MAIL FROM:<Sales@EXAMPLE.test>").await.0, 250);
    assert_eq!(c.cmd("RSET").await.0, 250);
    assert_eq!(c.cmd("MAIL FROM:<alice@example.org>").await.0, 550);
    assert_eq!(c.cmd("MAIL FROM:<alice@sub.example.test>").await.0, 550);
}

async fn size_is_announced_and_enforced(db: &TestDb) {
    let Some(s) = setup(db, false).await else { return };
    let mut c = Client::tls(s.submissions, &s.ca).await;
    assert!(c.ehlo().await.lines().any(|l| l == "SIZE 65536"));
    assert_eq!(c.auth_plain("alice", PASSWORD).await.0, 235);
    // At MAIL (RFC 1870 §6.1).
    let (code, text) = c.cmd(&format!("MAIL FROM:<alice@example.test> SIZE={}", MAX_MESSAGE + 1)).await;
    assert_eq!(code, 552, "{text}");
    assert!(text.starts_with("5.3.4 "), "{text}");
    // In DATA, for a client that did not say: read to the dot, then 552, and the session goes on.
    assert_eq!(c.cmd("MAIL FROM:<alice@example.test>").await.0, 250);
    assert_eq!(c.cmd("RCPT TO:<carol@example.org>").await.0, 250);
    assert_eq!(c.cmd("DATA").await.0, 354);
    let mut big = format!("Subject: too-big-1-{}\r\n\r\n", s.tag).into_bytes();
    while big.len() <= MAX_MESSAGE as usize * 3 {
        big.extend_from_slice(b"0123456789012345678901234567890123456789012345678901234567890123456789\r\n");
    }
    c.send(&stuff(&big)).await;
    let (code, text) = c.reply().await;
    assert_eq!(code, 552, "{text}");
    assert_eq!(c.cmd("NOOP").await.0, 250);
    assert!(never_delivered(&s.dir, &format!("too-big-1-{}", s.tag)));
    // Exactly the limit is fine.
    let mut exact = format!("Subject: just-fits-1-{}\r\n\r\n", s.tag).into_bytes();
    exact.resize(MAX_MESSAGE as usize - 2, b'a');
    exact.extend_from_slice(b"\r\n");
    assert_eq!(c.mail("alice@example.test", &["carol@example.org"], &exact).await.0, 250);
    assert_same_bytes(&delivered(&s.dir, &format!("just-fits-1-{}", s.tag)).await.0, &exact);
}

async fn pipelined_commands_are_answered_in_order(db: &TestDb) {
    let Some(s) = setup(db, false).await else { return };
    let mut c = Client::tls(s.submissions, &s.ca).await;
    // RFC 2920: EHLO, AUTH, MAIL, RCPTs and DATA in one write, as TfA sends them.
    let ir = STANDARD.encode(format!("\0alice\0{PASSWORD}"));
    c.send(
        format!(
            "EHLO x\r\nAUTH PLAIN {ir}\r\nMAIL FROM:<alice@example.test>\r\nRCPT TO:<a@example.org>\r\n\
             RCPT TO:<b@example.org>\r\nDATA\r\n"
        )
        .as_bytes(),
    )
    .await;
    let codes: Vec<u16> = [c.reply().await, c.reply().await, c.reply().await, c.reply().await, c.reply().await]
        .iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(codes, [250, 235, 250, 250, 250]);
    assert_eq!(c.reply().await.0, 354);
    // The message, its dot and the next commands in one write.
    let sent = message(&format!("piped-1-{}", s.tag));
    let mut batch = stuff(&sent);
    batch.extend_from_slice(b"MAIL FROM:<bob@example.test>\r\nRCPT TO:<c@example.org>\r\nDATA\r\nNOOP\r\n");
    c.send(&batch).await;
    assert_eq!(c.reply().await.0, 250);
    // A refused MAIL makes the RCPT and DATA behind it fail too (RFC 2920 §3.1).
    assert_eq!(c.reply().await.0, 550);
    assert_eq!(c.reply().await.0, 503);
    assert_eq!(c.reply().await.0, 503);
    assert_eq!(c.reply().await.0, 250);
    let (sink, envelope) = delivered(&s.dir, &format!("piped-1-{}", s.tag)).await;
    assert_same_bytes(&sink, &sent);
    assert_eq!(envelope["to"], json!(["a@example.org", "b@example.org"]));
    // Recipients per message are bounded.
    c.send(b"MAIL FROM:<alice@example.test>\r\n").await;
    assert_eq!(c.reply().await.0, 250);
    let mut rcpts = Vec::new();
    for i in 0..=madang::mailproxy::smtp::MAX_RECIPIENTS {
        rcpts.extend_from_slice(format!("RCPT TO:<r{i}@example.org>\r\n").as_bytes());
    }
    c.send(&rcpts).await;
    for _ in 0..madang::mailproxy::smtp::MAX_RECIPIENTS {
        assert_eq!(c.reply().await.0, 250);
    }
    assert_eq!(c.reply().await.0, 452);
}

async fn starttls_drops_what_was_pipelined_and_resets_the_session(db: &TestDb) {
    let Some(s) = setup(db, false).await else { return };
    let mut c = Client::plain(s.submission).await;
    c.ehlo().await;
    // Log in in the clear (loopback allows it), then STARTTLS with a command injected behind it.
    assert_eq!(c.auth_plain("alice", PASSWORD).await.0, 235);
    c.send(b"STARTTLS\r\nVRFY injected\r\n").await;
    assert_eq!(c.reply().await.0, 220);
    assert!(c.buf.is_empty(), "replied to what followed STARTTLS before TLS");
    let mut c = c.upgrade(&s.ca).await;
    // The injected VRFY got no reply inside TLS: the first reply is NOOP's 250, not VRFY's 252.
    assert_eq!(c.cmd("NOOP").await, (250, "2.0.0 OK".into()));
    // EHLO state and the login are gone (RFC 3207 §4.2).
    assert_eq!(c.cmd("AUTH PLAIN =").await.0, 503);
    let ehlo = c.ehlo().await;
    assert!(!ehlo.lines().any(|l| l == "STARTTLS"), "{ehlo}");
    assert_eq!(c.cmd("MAIL FROM:<alice@example.test>").await.0, 530);
    assert_eq!(c.cmd("STARTTLS").await.0, 503);
    // Implicit TLS offers no STARTTLS at all.
    let mut c = Client::tls(s.submissions, &s.ca).await;
    assert!(!c.ehlo().await.lines().any(|l| l == "STARTTLS"));
    assert_eq!(c.cmd("STARTTLS").await.0, 503);
}

/// A submission server of the test's own on plain TCP (allowed to loopback only): it signs
/// anyone in unless told `refuse_auth`, and refuses the message at the end of DATA with 554.
async fn fake_upstream(refuse_auth: bool) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut read = tokio::io::BufReader::new(read);
                let _ = write.write_all(b"220 fake ESMTP\r\n").await;
                let mut in_data = false;
                loop {
                    let mut line = String::new();
                    use tokio::io::AsyncBufReadExt;
                    if read.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let answer: &[u8] = if in_data {
                        if line != ".\r\n" {
                            continue;
                        }
                        in_data = false;
                        b"554 5.7.1 Message refused by the fake upstream's policy\r\n"
                    } else {
                        let upper = line.to_ascii_uppercase();
                        match upper.get(..4).unwrap_or("") {
                            "EHLO" => b"250-fake\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n",
                            "AUTH" if refuse_auth => b"535 5.7.8 no\r\n",
                            "AUTH" => b"235 2.7.0 ok\r\n",
                            "MAIL" => b"250 2.1.0 ok\r\n",
                            "RCPT" if upper.contains("NOBODY@") => b"550 5.1.1 No such user here\r\n",
                            "RCPT" => b"250 2.1.5 ok\r\n",
                            "DATA" => {
                                in_data = true;
                                b"354 go\r\n"
                            }
                            "QUIT" => {
                                let _ = write.write_all(b"221 bye\r\n").await;
                                return;
                            }
                            _ => b"250 ok\r\n",
                        }
                    };
                    if write.write_all(answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

async fn upstream_refusals_are_passed_back_and_trouble_is_temporary(db: &TestDb) {
    let Some(s) = setup(db, false).await else { return };
    let point = |port: u16| format!("UPDATE mail_accounts SET smtp_port = {port}, smtp_security = 'plain'");
    // An upstream 5xx for the message reaches the app as that 5xx, with the upstream's words.
    db.execute(&point(fake_upstream(false).await)).await;
    let mut c = Client::tls(s.submissions, &s.ca).await;
    c.ehlo().await;
    assert_eq!(c.auth_plain("alice", PASSWORD).await.0, 235);
    let (code, text) =
        c.mail("alice@example.test", &["carol@example.org"], &message(&format!("refused-1-{}", s.tag))).await;
    assert_eq!((code, text.as_str()), (554, "5.7.1 Message refused by the fake upstream's policy"));
    // A recipient the upstream refuses refuses the message, naming the recipient.
    let (code, text) = c
        .mail(
            "alice@example.test",
            &["carol@example.org", "nobody@example.org"],
            &message(&format!("refused-2-{}", s.tag)),
        )
        .await;
    assert_eq!((code, text.as_str()), (550, "5.1.1 No such user here (<nobody@example.org>)"));
    // Madang's own sign-in refused upstream: 454, so the app keeps the message.
    db.execute(&point(fake_upstream(true).await)).await;
    let (code, text) =
        c.mail("alice@example.test", &["carol@example.org"], &message(&format!("refused-3-{}", s.tag))).await;
    assert_eq!(code, 454, "{text}");
    assert!(text.starts_with("4.7.0 "), "{text}");
    // Nobody answering: 451 4.4.1.
    db.execute(&point(common::free_port())).await;
    let (code, text) =
        c.mail("alice@example.test", &["carol@example.org"], &message(&format!("refused-4-{}", s.tag))).await;
    assert_eq!(code, 451, "{text}");
    assert!(text.starts_with("4.4.1 "), "{text}");
    // The account unlinked while the session is open: read again at the relay, and refused.
    let id = call(&s.app, "alice", "GET", "/api/v1/mail/accounts", None).await.body[0]["id"].as_i64().unwrap();
    let r = call(&s.app, "alice", "DELETE", &format!("/api/v1/mail/accounts/{id}"), None).await;
    assert!(r.status.is_success(), "{}", r.text);
    let (code, text) =
        c.mail("alice@example.test", &["carol@example.org"], &message(&format!("refused-5-{}", s.tag))).await;
    assert_eq!((code, text.as_str()), (550, "5.7.1 The mail account of this login is no longer linked to Madang"));
    assert_eq!(c.cmd("QUIT").await.0, 221);
}

async fn shutdown_says_421_between_commands(db: &TestDb) {
    let Some((dir, _, _, _)) = dovecot() else { return };
    let mut app = TestApp::new(db).await;
    app.state = app.state.clone().with_mailproxy(MailProxyConfig {
        tls: Some(TlsFiles { cert: dir.join("cert.pem"), key: dir.join("key.pem") }),
        hostname: "mail.example.test".into(),
        ..MailProxyConfig::default()
    });
    let proxy = app.state.mail_proxy();
    let addr = listen::bind(proxy.clone(), Kind::Submission, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let mut c = Client::plain(addr).await;
    c.ehlo().await;
    // A command line over mailproxy.max_command_size is refused whole, and the session goes on.
    let mut long = vec![b'N'; 20_000];
    long.extend_from_slice(b"\r\nNOOP\r\n");
    c.send(&long).await;
    assert_eq!(c.reply().await, (500, "5.5.2 Line too long".into()));
    assert_eq!(c.reply().await.0, 250);
    proxy.shut_down();
    let (code, text) = c.reply().await;
    assert_eq!((code, text.as_str()), (421, "4.3.2 Server shutting down; try again later"));
    assert!(c.closed().await);
}

async fn a_silent_client_is_told_421_after_the_login_timeout(db: &TestDb) {
    let app = TestApp::new(db).await;
    let state = app.state.clone().with_mailproxy(MailProxyConfig {
        hostname: "mail.example.test".into(),
        login_timeout: Duration::from_secs(1),
        ..MailProxyConfig::default()
    });
    let addr = listen::bind(state.mail_proxy(), Kind::Submission, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let mut c = Client::plain(addr).await;
    c.ehlo().await;
    // No certificate configured: no STARTTLS to offer, and STARTTLS is refused.
    assert_eq!(c.cmd("STARTTLS").await.0, 502);
    let started = std::time::Instant::now();
    assert_eq!(c.reply().await, (421, "4.4.2 Timeout; closing the connection".into()));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(c.closed().await);
}

async fn another_protocol_at_the_port_is_cut_off(db: &TestDb) {
    let app = TestApp::new(db).await;
    let state = app
        .state
        .clone()
        .with_mailproxy(MailProxyConfig { hostname: "mail.example.test".into(), ..MailProxyConfig::default() });
    let addr = listen::bind(state.mail_proxy(), Kind::Submission, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let mut c = Client::plain(addr).await;
    // An HTTP request sent to the port: one 500 per line, then 421 and the end.
    let mut junk = b"GET / HTTP/1.1\r\nHost: mail.example.test\r\n".to_vec();
    for i in 0..30 {
        junk.extend_from_slice(format!("X-Header-{i}: \x01\r\n").as_bytes());
    }
    c.send(&junk).await;
    for _ in 0..19 {
        assert_eq!(c.reply().await.0, 500);
    }
    assert_eq!(c.reply().await, (500, "5.5.2 Control characters in the command line".into()));
    assert_eq!(c.reply().await, (421, "4.7.0 Too many errors; closing the connection".into()));
    assert!(c.closed().await);
}

on_both_databases!(
    a_device_revoked_mid_session_sends_nothing_more,
    a_message_arrives_byte_for_byte_with_its_envelope,
    bearer_tokens_with_the_mail_scope_log_in,
    an_oauth_account_relays_with_its_token,
    wrong_passwords_get_535_then_the_throttle,
    no_mail_without_auth_or_as_someone_else,
    senders_in_domain_allows_the_domain_only,
    size_is_announced_and_enforced,
    pipelined_commands_are_answered_in_order,
    starttls_drops_what_was_pipelined_and_resets_the_session,
    upstream_refusals_are_passed_back_and_trouble_is_temporary,
    shutdown_says_421_between_commands,
    a_silent_client_is_told_421_after_the_login_timeout,
    another_protocol_at_the_port_is_cut_off,
);
