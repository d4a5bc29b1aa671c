//! The IMAP listener (issue 15) over real sockets, on both databases, against a real Dovecot
//! (conformance-tests/dovecot.sh; `MADANG_TEST_DOVECOT_*`): every login form mail apps use
//! (CLIENTS.md "IMAP AUTH forms"), the names (`alice`, `alice+account`, an address), refusals and
//! their codes, isolation between users, the throttle, revoked app passwords, tokens with and
//! without the `mail` scope, an upstream whose certificate is not trusted, STARTTLS injection,
//! bounded input, the per-user session limit, a relayed SELECT/FETCH/IDLE/APPEND, and the `BYE`
//! at shutdown.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::api::call;
use common::dav::PASSWORD;

const BOB_PASSWORD: &str = "bob's own passphrase";
use common::{TestApp, TestDb};
use http_body_util::BodyExt;
use madang::app::AppState;
use madang::config::{MailConfig, MailProxyConfig, OidcConfig, TlsFiles};
use madang::mailproxy::MailProxy;
use madang::mailproxy::listen::{self, Kind};
use madang::modules::Module;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tower::ServiceExt;

struct Dovecot {
    dir: String,
    imap: u16,
    imaps: u16,
    ca: Vec<u8>,
}

/// The Dovecot the harness started (`common::dovecot`).
fn dovecot() -> Option<Dovecot> {
    common::dovecot::harness(false).map(|h| Dovecot {
        dir: h.dir.to_string_lossy().into_owned(),
        imap: h.imap,
        imaps: h.imaps,
        ca: h.ca,
    })
}

fn script() -> &'static str {
    concat!(env!("CARGO_MANIFEST_DIR"), "/conformance-tests/dovecot.sh")
}

impl Dovecot {
    /// A mailbox of its own for one test.
    fn adduser(&self, user: &str, password: &str) {
        let status =
            std::process::Command::new("bash").args([script(), "adduser", &self.dir, user, password]).status().unwrap();
        assert!(status.success());
    }

    fn deliver(&self, user: &str, message: &str) {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), message).unwrap();
        let status = std::process::Command::new("bash")
            .args([script(), "deliver", &self.dir])
            .arg(user)
            .arg(file.path())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Dovecot's own certificate (for localhost and 127.0.0.1, signed by its CA) serves as the
    /// listeners' certificate too.
    fn tls_files(&self) -> TlsFiles {
        TlsFiles { cert: format!("{}/cert.pem", self.dir).into(), key: format!("{}/key.pem", self.dir).into() }
    }
}

fn unique() -> String {
    let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{:x}{:04x}", n, rand_u16())
}

fn rand_u16() -> u16 {
    let mut b = [0u8; 2];
    getrandom::getrandom(&mut b).unwrap();
    u16::from_le_bytes(b)
}

fn mail_config(ca: &[u8], trust: bool) -> MailConfig {
    MailConfig {
        outbound: madang::outbound::OutboundPolicy { allowed: madang::outbound::parse_list("127.0.0.1").unwrap() },
        extra_roots: if trust { ca.to_vec() } else { Vec::new() },
        connect_timeout: Duration::from_secs(5),
        ..MailConfig::default()
    }
}

/// A test world: alice and bob, each with a Dovecot mailbox of their own linked, and the
/// IMAP listeners (STARTTLS-style and implicit TLS) on loopback.
struct World {
    app: TestApp,
    dv: Dovecot,
    proxy: Arc<MailProxy>,
    imap: SocketAddr,
    imaps: SocketAddr,
    /// The linked mailboxes' addresses.
    alice_box: String,
    bob_box: String,
}

async fn world(db: &TestDb, tweak: impl FnOnce(&mut MailProxyConfig)) -> Option<World> {
    world_with(db, common::test_auth_config(), tweak).await
}

async fn world_with(
    db: &TestDb,
    auth: madang::config::AuthConfig,
    tweak: impl FnOnce(&mut MailProxyConfig),
) -> Option<World> {
    let dv = dovecot()?;
    let mut app = TestApp::with(db, auth, Arc::new(madang::clock::SystemClock)).await;
    app.state.modules.set(&[(Module::Mail, true)]).await.unwrap();
    app.state = app.state.clone().with_mail(mail_config(&dv.ca, true)).unwrap();
    app.add_user("alice", PASSWORD).await;
    app.add_user("bob", PASSWORD).await;
    let id = unique();
    let alice_box = format!("pa{id}@example.test");
    let bob_box = format!("pb{id}@example.test");
    dv.adduser(&alice_box, "alice-box-pw");
    dv.adduser(&bob_box, "bob-box-pw");
    link(&app, "alice", &alice_box, "alice-box-pw", dv.imaps, "tls").await;
    // Bob's over STARTTLS (143-style), so the upstream login's STARTTLS is exercised too.
    link(&app, "bob", &bob_box, "bob-box-pw", dv.imap, "starttls").await;
    // Each with a password of their own: isolation is about whose password opens what.
    app.accounts.set_password("bob", BOB_PASSWORD, None).await.unwrap();
    dv.deliver(&alice_box, "From: a@example.test\r\nSubject: for alice only\r\n\r\nalice's mail\r\n");
    dv.deliver(&bob_box, "From: b@example.test\r\nSubject: for bob only\r\n\r\nbob's mail\r\n");
    let mut config = MailProxyConfig { tls: Some(dv.tls_files()), ..MailProxyConfig::default() };
    tweak(&mut config);
    app.state = app.state.clone().with_mailproxy(config);
    let proxy = app.state.mail_proxy();
    let imap = listen::bind(proxy.clone(), Kind::Imap, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let imaps = listen::bind(proxy.clone(), Kind::Imaps, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    Some(World { app, dv, proxy, imap, imaps, alice_box, bob_box })
}

async fn link(app: &TestApp, user: &str, mailbox: &str, password: &str, port: u16, security: &str) {
    let body = json!({
        "email": mailbox, "display_name": user,
        "imap_host": "localhost", "imap_port": port, "imap_security": security,
        // SMTP is not under test here; Dovecot's submission port is what the link test wants.
        "smtp_host": "localhost",
        "smtp_port": std::env::var("MADANG_TEST_DOVECOT_SUBMISSION").unwrap().parse::<u16>().unwrap(),
        "smtp_security": "starttls",
        "username": mailbox, "password": password,
    });
    let r = call(app, user, "POST", "/api/v1/mail/accounts", Some(body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
}

trait Rw: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Rw for T {}

/// A hand-driven IMAP client: lines in, lines out, nothing interpreted.
struct Client {
    io: Box<dyn Rw>,
    buf: Vec<u8>,
}

const WAIT: Duration = Duration::from_secs(20);

impl Client {
    async fn plain(addr: SocketAddr) -> Client {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        Client { io: Box::new(tcp), buf: Vec::new() }
    }

    /// Connected, greeting read.
    async fn connect(addr: SocketAddr) -> (Client, String) {
        let mut c = Client::plain(addr).await;
        let greeting = c.line().await;
        (c, greeting)
    }

    async fn tls(addr: SocketAddr, ca: &[u8]) -> (Client, String) {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let io = tls_over(tcp, ca).await;
        let mut c = Client { io, buf: Vec::new() };
        let greeting = c.line().await;
        (c, greeting)
    }

    async fn send(&mut self, text: &str) {
        self.io.write_all(text.as_bytes()).await.unwrap();
        self.io.flush().await.unwrap();
    }

    /// The next line without CRLF; panics after a while.
    async fn line(&mut self) -> String {
        tokio::time::timeout(WAIT, self.try_line()).await.expect("a line in time").expect("the connection is open")
    }

    /// `None` at the end of the stream.
    async fn try_line(&mut self) -> Option<String> {
        loop {
            if let Some(at) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=at).collect();
                return Some(String::from_utf8_lossy(&line).trim_end_matches(['\r', '\n']).to_string());
            }
            let mut chunk = [0u8; 8192];
            let n = self.io.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Lines up to and including the one tagged `tag`.
    async fn until(&mut self, tag: &str) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let line = self.line().await;
            let done = line.starts_with(&format!("{tag} "));
            lines.push(line);
            if done {
                return lines;
            }
        }
    }

    async fn run(&mut self, tag: &str, command: &str) -> Vec<String> {
        self.send(&format!("{tag} {command}\r\n")).await;
        self.until(tag).await
    }

    /// Whether the server closes the connection (after what it still had to say).
    async fn closed(&mut self) -> bool {
        matches!(tokio::time::timeout(WAIT, async { while self.try_line().await.is_some() {} }).await, Ok(()))
    }
}

async fn tls_over<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(stream: S, ca: &[u8]) -> Box<dyn Rw> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(ca) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"imap".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    Box::new(connector.connect(name, stream).await.unwrap())
}

fn last(lines: &[String]) -> &str {
    lines.last().map(String::as_str).unwrap_or("")
}

fn literal(text: &str) -> String {
    format!("{{{}}}", text.len())
}

/// Logged in (the tagged answer), then the subject of INBOX's first message.
async fn first_subject(c: &mut Client) -> String {
    let select = c.run("s1", "SELECT INBOX").await;
    assert!(last(&select).starts_with("s1 OK"), "{select:?}");
    let fetch = c.run("s2", "FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])").await;
    assert!(last(&fetch).starts_with("s2 OK"), "{fetch:?}");
    fetch.iter().find_map(|l| l.strip_prefix("Subject: ")).unwrap_or_default().to_string()
}

fn assert_logged_in(lines: &[String], tag: &str) {
    let tagged = last(lines);
    assert!(tagged.starts_with(&format!("{tag} OK [CAPABILITY ")), "{lines:?}");
    assert!(tagged.contains("IMAP4rev1") && tagged.contains("IDLE"), "{tagged}");
    for gone in ["AUTH=", "STARTTLS", "LOGINDISABLED", "SASL-IR"] {
        assert!(!tagged.contains(gone), "{gone} in {tagged}");
    }
}

async fn every_login_form_mail_apps_use(db: &TestDb) {
    let Some(w) = world(db, |_| {}).await else { return };
    let (_, app_password) = w.app.accounts.add_app_password("alice", "phone").await.unwrap();

    // The greeting: capabilities, never PREAUTH (CLIENTS.md).
    let (mut c, greeting) = Client::connect(w.imap).await;
    assert!(greeting.starts_with("* OK [CAPABILITY IMAP4rev1 "), "{greeting}");
    for cap in ["SASL-IR", "ID", "STARTTLS", "AUTH=PLAIN", "AUTH=LOGIN", "AUTH=OAUTHBEARER", "AUTH=XOAUTH2"] {
        assert!(greeting.split([' ', ']']).any(|w| w == cap), "{cap} missing: {greeting}");
    }
    for never in ["LOGINDISABLED", "CRAM-MD5", "COMPRESS", "IDLE", "PREAUTH"] {
        assert!(!greeting.contains(never), "{greeting}");
    }
    // ID answered by Madang; CAPABILITY asked before login gets the new list untagged after it.
    let id = c.run("8.569", "ID (\"name\" \"iPhone Mail\")").await;
    assert_eq!(id, ["* ID (\"name\" \"Madang\")", "8.569 OK ID completed"]);
    let caps = c.run("1", "CAPABILITY").await;
    assert!(caps[0].starts_with("* CAPABILITY IMAP4rev1"), "{caps:?}");
    assert_eq!(c.run("2", "NOOP").await, ["2 OK NOOP completed"]);
    let login = c.run("3", &format!("LOGIN alice {app_password}")).await;
    assert_eq!(login.len(), 2, "{login:?}");
    assert!(login[0].starts_with("* CAPABILITY IMAP4rev1") && login[0].contains("IDLE"), "{login:?}");
    assert_logged_in(&login, "3");
    assert_eq!(first_subject(&mut c).await, "for alice only");
    let bye = c.run("4", "LOGOUT").await;
    assert!(bye[0].starts_with("* BYE"), "{bye:?}");

    // Quoted with escapes (the account password has spaces), then each literal form.
    let quoted = format!("\"{}\"", PASSWORD.replace('\\', "\\\\").replace('"', "\\\""));
    let forms: Vec<Vec<String>> = vec![
        vec![format!("a LOGIN \"alice\" {quoted}\r\n")],
        vec![
            format!("a LOGIN {}\r\n", literal("alice")),
            format!("alice {}\r\n", literal(PASSWORD)),
            format!("{PASSWORD}\r\n"),
        ],
        vec![format!("a LOGIN {{5+}}\r\nalice {{{}+}}\r\n{PASSWORD}\r\n", PASSWORD.len())],
        vec![format!("a AUTHENTICATE PLAIN {}\r\n", STANDARD.encode(format!("\0alice\0{PASSWORD}")))],
        vec![
            "a AUTHENTICATE PLAIN\r\n".into(),
            format!("{}\r\n", STANDARD.encode(format!("alice\0alice\0{PASSWORD}"))),
        ],
        vec![
            "a AUTHENTICATE LOGIN\r\n".into(),
            format!("{}\r\n", STANDARD.encode("alice")),
            format!("{}\r\n", STANDARD.encode(PASSWORD)),
        ],
        vec![
            format!("a authenticate login {}\r\n", STANDARD.encode("alice")),
            format!("{}\r\n", STANDARD.encode(&app_password)),
        ],
    ];
    for form in forms {
        let (mut c, _) = Client::connect(w.imap).await;
        let mut seen = Vec::new();
        for (i, piece) in form.iter().enumerate() {
            c.send(piece).await;
            if i + 1 < form.len() {
                // Each intermediate piece is answered with a continuation.
                let cont = c.line().await;
                assert!(cont.starts_with('+'), "{form:?}: {cont}");
                seen.push(cont);
            }
        }
        let answer = c.until("a").await;
        assert_logged_in(&answer, "a");
        assert_eq!(answer.len(), 1, "no untagged CAPABILITY unless asked: {answer:?}");
        assert_eq!(first_subject(&mut c).await, "for alice only", "{form:?}");
        if form[0].contains("AUTHENTICATE LOGIN") {
            assert_eq!(seen, ["+ VXNlcm5hbWU6", "+ UGFzc3dvcmQ6"]);
        }
    }

    // Implicit TLS (993-style) with ALPN `imap`.
    let (mut c, greeting) = Client::tls(w.imaps, &w.dv.ca).await;
    assert!(greeting.starts_with("* OK [CAPABILITY") && !greeting.contains("STARTTLS"), "{greeting}");
    assert_logged_in(&c.run("t", &format!("LOGIN alice {quoted}")).await, "t");
    assert_eq!(first_subject(&mut c).await, "for alice only");
}

async fn names_accounts_and_isolation(db: &TestDb) {
    // Many refusals in a row here: the throttle is another test's subject.
    let auth = madang::config::AuthConfig {
        account_failures_before_backoff: 100,
        address_failures_before_backoff: 100,
        ..common::test_auth_config()
    };
    let Some(w) = world_with(db, auth, |_| {}).await else { return };
    let quoted = format!("\"{PASSWORD}\"");
    // `alice+<account>`: the address's local part, and the linked address itself.
    let local = w.alice_box.split('@').next().unwrap().to_string();
    for name in [format!("alice+{local}"), w.alice_box.clone(), "ALICE".into(), "alice@example.com".into()] {
        let (mut c, _) = Client::connect(w.imap).await;
        let answer = c.run("a", &format!("LOGIN \"{name}\" {quoted}")).await;
        assert_logged_in(&answer, "a");
        assert_eq!(first_subject(&mut c).await, "for alice only", "{name}");
    }
    // An account suffix that names nothing: the password was right, the refusal says why.
    let (mut c, _) = Client::connect(w.imap).await;
    let answer = c.run("a", &format!("LOGIN alice+nothing {quoted}")).await;
    assert!(last(&answer).starts_with("a NO [AUTHORIZATIONFAILED] no linked mail account matches"), "{answer:?}");
    // Alice's password never opens bob's mailbox, whichever name it comes with.
    let bob_local = w.bob_box.split('@').next().unwrap().to_string();
    for name in ["bob".to_string(), format!("bob+{bob_local}"), w.bob_box.clone(), "bob@example.com".into()] {
        let (mut c, _) = Client::connect(w.imap).await;
        let (_, alice_app) = w.app.accounts.add_app_password("alice", &format!("x{}", unique())).await.unwrap();
        for secret in [quoted.clone(), alice_app] {
            let answer = c.run("a", &format!("LOGIN \"{name}\" {secret}")).await;
            assert_eq!(answer, ["a NO [AUTHENTICATIONFAILED] Authentication failed"], "{name}");
        }
        let answer =
            c.run("b", &format!("AUTHENTICATE PLAIN {}", STANDARD.encode(format!("{name}\0alice\0{PASSWORD}")))).await;
        assert_eq!(answer, ["b NO [AUTHENTICATIONFAILED] Authentication failed"], "authzid {name}");
    }
    // Bob with his own password gets his own mailbox.
    let (mut c, _) = Client::connect(w.imap).await;
    assert_logged_in(&c.run("a", &format!("LOGIN bob \"{BOB_PASSWORD}\"")).await, "a");
    assert_eq!(first_subject(&mut c).await, "for bob only");
}

async fn refusals_throttle_and_revoked_app_passwords(db: &TestDb) {
    let Some(w) = world(db, |_| {}).await else { return };
    let (created, app_password) = w.app.accounts.add_app_password("alice", "laptop").await.unwrap();
    let (mut c, _) = Client::connect(w.imap).await;
    assert_logged_in(&c.run("a", &format!("LOGIN alice {app_password}")).await, "a");
    // Revoked: new logins are refused; the upstream's own words never appear anyway.
    w.app.accounts.revoke_app_password("alice", created.id).await.unwrap();
    let (mut c, _) = Client::connect(w.imap).await;
    assert_eq!(
        c.run("a", &format!("LOGIN alice {app_password}")).await,
        ["a NO [AUTHENTICATIONFAILED] Authentication failed"]
    );
    // Wrong passwords, then the throttle (stated with its wait, not as a wrong password).
    let mut answers = Vec::new();
    for i in 0..30 {
        let answer = c.run(&format!("w{i}"), "LOGIN alice wrong-password").await;
        let done = answer[0].contains("[UNAVAILABLE]");
        answers.push(answer[0].clone());
        if done {
            break;
        }
    }
    assert!(answers[0].ends_with("NO [AUTHENTICATIONFAILED] Authentication failed"), "{answers:?}");
    let throttled = answers.last().unwrap();
    assert!(throttled.contains("NO [UNAVAILABLE] Too many failed logins; try again in"), "{answers:?}");
    // Unknown mechanisms, commands that need a login, a cancelled exchange, bad base64.
    let (mut c, _) = Client::connect(w.imap).await;
    assert_eq!(c.run("m", "AUTHENTICATE CRAM-MD5").await, ["m NO Unsupported authentication mechanism"]);
    assert_eq!(c.run("s", "SELECT INBOX").await, ["s BAD Log in first"]);
    assert_eq!(c.run("t", "XYZZY").await, ["t BAD Unknown command"]);
    c.send("p AUTHENTICATE PLAIN\r\n").await;
    assert_eq!(c.line().await, "+ ");
    c.send("*\r\n").await;
    assert_eq!(c.until("p").await, ["p BAD Authentication cancelled"]);
    assert_eq!(c.run("q", "AUTHENTICATE PLAIN !!!notbase64").await, ["q BAD Invalid base64"]);
    c.send("r AUTHENTICATE PLAIN\r\n").await;
    assert_eq!(c.line().await, "+ ");
    c.send("%%%\r\n").await;
    assert_eq!(c.until("r").await, ["r BAD Invalid base64"]);
    assert_eq!(c.run("z", "NOOP").await, ["z OK NOOP completed"]);
}

async fn bad_input_and_starttls_injection(db: &TestDb) {
    let Some(w) = world(db, |c| c.max_command_size = 1024).await else { return };
    // A line over `max_command_size`: BAD, then closed.
    let (mut c, _) = Client::connect(w.imap).await;
    c.send(&format!("a LOGIN alice {}\r\n", "x".repeat(2000))).await;
    assert_eq!(c.line().await, "a BAD Command too long");
    assert!(c.closed().await);
    // A literal over it is refused without a continuation, then closed.
    let (mut c, _) = Client::connect(w.imap).await;
    c.send("a LOGIN {100000}\r\n").await;
    assert_eq!(c.line().await, "a BAD Literal too long");
    assert!(c.closed().await);
    // A literal within it gets its continuation; one not followed by SP or CRLF is BAD.
    let (mut c, _) = Client::connect(w.imap).await;
    c.send("a LOGIN {5}\r\n").await;
    assert_eq!(c.line().await, "+ Ready for literal data");
    c.send("alicex y\r\n").await;
    assert_eq!(c.line().await, "a BAD A literal must be followed by SP or CRLF");
    // Garbage without a tag.
    assert_eq!(c.run("*", "").await.first().map(String::as_str), Some("* BAD Missing or invalid tag"));

    // STARTTLS with a command pipelined behind it in the same segment: the command is dropped.
    let (mut c, _) = Client::connect(w.imap).await;
    c.send("a STARTTLS\r\nb CAPABILITY\r\n").await;
    assert_eq!(c.line().await, "a OK Begin TLS negotiation now");
    let Client { io, .. } = c;
    let mut c = Client { io: tls_over(io, &w.dv.ca).await, buf: Vec::new() };
    let answer = c.run("c", "CAPABILITY").await;
    assert_eq!(answer.len(), 2, "only c's answer, no b: {answer:?}");
    assert!(!answer[0].contains("STARTTLS") && answer[0].contains("AUTH=PLAIN"), "{answer:?}");
    assert_eq!(c.run("d", "STARTTLS").await, ["d BAD STARTTLS is not available here"]);
    assert_logged_in(&c.run("e", &format!("LOGIN alice \"{PASSWORD}\"")).await, "e");
}

async fn cleartext_from_another_machine_is_refused(db: &TestDb) {
    let Some(w) = world(db, |_| {}).await else { return };
    // A non-loopback address of this machine, so the connection is not "from this machine".
    let Some(ip) = local_non_loopback() else {
        eprintln!("no non-loopback address: cleartext refusal not tested");
        return;
    };
    let addr = listen::bind(w.proxy.clone(), Kind::Imap, SocketAddr::new(ip, 0)).await.unwrap();
    let (mut c, greeting) = Client::connect(addr).await;
    assert!(greeting.contains("LOGINDISABLED") && greeting.contains("STARTTLS"), "{greeting}");
    assert!(!greeting.contains("AUTH="), "{greeting}");
    assert_eq!(
        c.run("a", &format!("LOGIN alice \"{PASSWORD}\"")).await,
        ["a NO [PRIVACYREQUIRED] Use STARTTLS before logging in"]
    );
    assert_eq!(c.run("b", "AUTHENTICATE PLAIN").await, ["b NO [PRIVACYREQUIRED] Use STARTTLS before logging in"]);
}

fn local_non_loopback() -> Option<std::net::IpAddr> {
    // The address the kernel would use to reach a documentation address: no packet is sent.
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// A Madang access token for alice from the code flow, with `scope`.
async fn token(state: &AppState, scope: &str) -> String {
    use madang::oidc::clients::NewClient;
    const CB: &str = "https://rp.example.test/cb";
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let state =
        state.clone().with_oidc(OidcConfig { issuer: "https://id.example.test/".into(), ..OidcConfig::default() });
    let id = format!("mailapp{}", unique());
    let new = NewClient {
        client_id: id.clone(),
        redirect_uris: vec![CB.into()],
        first_party: true,
        scopes: Some(vec![scope.into()]),
        ..NewClient::default()
    };
    let secret = state.oidc.clients().create(new, None).await.unwrap().1.unwrap();
    let user = state.store.user_by_name(&madang::domain::Username::parse("alice").unwrap()).await.unwrap();
    let client = madang::web::Client { address: None, secure: false, user_agent: "test".into() };
    let (_, set_cookie) = madang::web::session::start(&state, &user, &["pwd"], &client).await.unwrap();
    let cookie = set_cookie.to_str().unwrap().split(';').next().unwrap().to_string();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()));
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("response_type", "code")
        .append_pair("client_id", &id)
        .append_pair("redirect_uri", CB)
        .append_pair("scope", scope)
        .append_pair("state", "st")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let req =
        Request::get(format!("/oauth2/authorize?{}", q.finish())).header(header::COOKIE, cookie).body(Body::empty());
    let reply = madang::app::app(state.clone()).oneshot(req.unwrap()).await.unwrap();
    assert_eq!(reply.status(), StatusCode::FOUND);
    let location = reply.headers()[header::LOCATION].to_str().unwrap().to_string();
    let code = form_urlencoded::parse(location.split_once('?').unwrap().1.as_bytes())
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "authorization_code")
        .append_pair("code", &code)
        .append_pair("redirect_uri", CB)
        .append_pair("code_verifier", VERIFIER);
    let req = Request::post("/oauth2/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::AUTHORIZATION, format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))))
        .body(Body::from(form.finish()))
        .unwrap();
    let reply = madang::app::app(state).oneshot(req).await.unwrap();
    let status = reply.status();
    let body = reply.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    body["access_token"].as_str().unwrap().to_string()
}

async fn madang_tokens_with_the_mail_scope(db: &TestDb) {
    let Some(w) = world(db, |_| {}).await else { return };
    let mail = token(&w.app.state, "openid mail").await;
    let api = token(&w.app.state, "openid api dav").await;
    let oauthbearer = |user: &str, token: &str| {
        STANDARD.encode(format!("n,a={user},\x01host=localhost\x01port=993\x01auth=Bearer {token}\x01\x01"))
    };
    let xoauth2 = |user: &str, token: &str| STANDARD.encode(format!("user={user}\x01auth=Bearer {token}\x01\x01"));
    // With SASL-IR, without it, and XOAUTH2; the name may be empty, the user, or a linked address.
    for (command, follow) in [
        (format!("a AUTHENTICATE OAUTHBEARER {}", oauthbearer("alice", &mail)), None),
        ("a AUTHENTICATE OAUTHBEARER".to_string(), Some(oauthbearer("", &mail))),
        (format!("a AUTHENTICATE XOAUTH2 {}", xoauth2(&w.alice_box, &mail)), None),
        (format!("a AUTHENTICATE XOAUTH2 {}", xoauth2("alice", &mail)), None),
    ] {
        let (mut c, _) = Client::connect(w.imap).await;
        c.send(&format!("{command}\r\n")).await;
        if let Some(response) = follow {
            assert_eq!(c.line().await, "+ ");
            c.send(&format!("{response}\r\n")).await;
        }
        assert_logged_in(&c.until("a").await, "a");
        assert_eq!(first_subject(&mut c).await, "for alice only");
    }
    // A token without `mail`, or alice's token naming bob: the RFC 7628 error challenge, then NO.
    for ir in [oauthbearer("alice", &api), oauthbearer("bob", &mail), oauthbearer(&w.bob_box, &mail)] {
        let (mut c, _) = Client::connect(w.imap).await;
        c.send(&format!("a AUTHENTICATE OAUTHBEARER {ir}\r\n")).await;
        let challenge = c.line().await;
        let json = STANDARD.decode(challenge.strip_prefix("+ ").unwrap()).unwrap();
        assert_eq!(String::from_utf8(json).unwrap(), r#"{"status":"invalid_token","scope":"mail"}"#);
        assert_eq!(c.run("a", "AQ==").await, ["a NO [AUTHENTICATIONFAILED] Authentication failed"]);
    }
    // A token is not a password.
    let (mut c, _) = Client::connect(w.imap).await;
    assert_eq!(c.run("a", &format!("LOGIN alice {mail}")).await, ["a NO [AUTHENTICATIONFAILED] Authentication failed"]);
}

async fn untrusted_upstream_certificate_is_refused(db: &TestDb) {
    let Some(w) = world(db, |_| {}).await else { return };
    // The same database and accounts, but Madang no longer trusts the Dovecot's CA.
    let state = w.app.state.clone().with_mail(mail_config(&w.dv.ca, false)).unwrap();
    let addr = listen::bind(state.mail_proxy(), Kind::Imap, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let (mut c, _) = Client::connect(addr).await;
    let answer = c.run("a", &format!("LOGIN alice \"{PASSWORD}\"")).await;
    assert_eq!(answer, ["a NO [UNAVAILABLE] The linked mail server's certificate could not be verified"]);
    // The refusal is not a login: the connection stays usable and holds no session.
    assert_eq!(c.run("b", "NOOP").await, ["b OK NOOP completed"]);
}

async fn per_user_session_limit(db: &TestDb) {
    let Some(w) = world(db, |c| c.max_connections_per_user = 2).await else { return };
    let login = format!("LOGIN alice \"{PASSWORD}\"");
    let (mut one, _) = Client::connect(w.imap).await;
    assert_logged_in(&one.run("a", &login).await, "a");
    let (mut two, _) = Client::connect(w.imap).await;
    assert_logged_in(&two.run("a", &login).await, "a");
    let (mut three, _) = Client::connect(w.imap).await;
    assert_eq!(three.run("a", &login).await, ["a NO [LIMIT] Too many open sessions for this user"]);
    // Bob is not alice.
    let (mut bob, _) = Client::connect(w.imap).await;
    assert_logged_in(&bob.run("a", &format!("LOGIN bob \"{BOB_PASSWORD}\"")).await, "a");
    // A session that ends gives its place back.
    one.run("z", "LOGOUT").await;
    assert!(one.closed().await);
    let mut answer = Vec::new();
    for _ in 0..50 {
        answer = three.run("b", &login).await;
        if last(&answer).starts_with("b OK") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_logged_in(&answer, "b");
}

async fn relayed_session_select_fetch_idle_append(db: &TestDb) {
    let Some(w) = world(db, |_| {}).await else { return };
    let (mut c, _) = Client::connect(w.imap).await;
    assert_logged_in(&c.run("a", &format!("LOGIN alice \"{PASSWORD}\"")).await, "a");
    // Pipelined commands in one write, as iOS sends them (CLIENTS.md).
    c.send("b NAMESPACE\r\nc LIST \"\" \"*\"\r\n").await;
    assert!(last(&c.until("b").await).starts_with("b OK"));
    let list = c.until("c").await;
    assert!(list.iter().any(|l| l.contains("INBOX")), "{list:?}");
    let select = c.run("d", "SELECT INBOX").await;
    assert!(select.iter().any(|l| l == "* 1 EXISTS"), "{select:?}");
    // IDLE: a message delivered upstream is announced through the relay.
    c.send("e IDLE\r\n").await;
    assert!(c.line().await.starts_with("+ "));
    w.dv.deliver(&w.alice_box, "From: c@example.test\r\nSubject: while idle\r\n\r\nhello\r\n");
    let mut announced = false;
    for _ in 0..10 {
        let line = c.line().await;
        if line == "* 2 EXISTS" {
            announced = true;
            break;
        }
    }
    assert!(announced);
    c.send("DONE\r\n").await;
    assert!(last(&c.until("e").await).starts_with("e OK"));
    // A literal in the answer comes through byte for byte.
    let fetch = c.run("f", "FETCH 2 BODY.PEEK[]").await;
    assert!(fetch[0].starts_with("* 2 FETCH (BODY[] {"), "{fetch:?}");
    assert!(fetch.iter().any(|l| l == "Subject: while idle"), "{fetch:?}");
    // APPEND with a non-synchronising literal and a line over 8 KiB (CLIENTS.md).
    let body = format!("Subject: appended\r\nX-Long: {}\r\n\r\nbody\r\n", "y".repeat(9000));
    c.send(&format!("g APPEND INBOX {{{}+}}\r\n{body}\r\n", body.len())).await;
    let append = c.until("g").await;
    assert!(last(&append).starts_with("g OK"), "{append:?}");
    let search = c.run("h", "SEARCH SUBJECT appended").await;
    assert_eq!(search[0], "* SEARCH 3", "{search:?}");
    assert!(last(&c.run("i", "LOGOUT").await).starts_with("i OK"));
}

async fn shutdown_says_bye(db: &TestDb) {
    let Some(w) = world(db, |_| {}).await else { return };
    let (mut relayed, _) = Client::connect(w.imap).await;
    assert_logged_in(&relayed.run("a", &format!("LOGIN alice \"{PASSWORD}\"")).await, "a");
    assert!(last(&relayed.run("b", "SELECT INBOX").await).starts_with("b OK"));
    let (mut waiting, _) = Client::connect(w.imap).await;
    assert_eq!(waiting.run("c", "NOOP").await, ["c OK NOOP completed"]);
    w.proxy.shut_down();
    assert_eq!(relayed.line().await, "* BYE Madang is shutting down");
    assert!(relayed.closed().await);
    assert_eq!(waiting.line().await, "* BYE Madang is shutting down");
    assert!(waiting.closed().await);
}

async fn login_and_idle_timeouts(db: &TestDb) {
    let Some(w) = world(db, |c| {
        c.idle_timeout = Duration::from_secs(2);
        c.login_timeout = Duration::from_secs(1);
    })
    .await
    else {
        return;
    };
    // No login within `login_timeout`, even with traffic.
    let (mut slow, _) = Client::connect(w.imap).await;
    let started = std::time::Instant::now();
    assert_eq!(slow.run("a", "NOOP").await, ["a OK NOOP completed"]);
    assert_eq!(slow.line().await, "* BYE Autologout; no login in time");
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert!(slow.closed().await);
    // A session that logged in outlives `login_timeout`; traffic keeps it past `idle_timeout`.
    let (mut c, _) = Client::connect(w.imap).await;
    assert_logged_in(&c.run("a", &format!("LOGIN alice \"{PASSWORD}\"")).await, "a");
    // Traffic keeps it open.
    for i in 0..3 {
        tokio::time::sleep(Duration::from_millis(900)).await;
        assert!(last(&c.run(&format!("n{i}"), "NOOP").await).contains("OK"));
    }
    let started = std::time::Instant::now();
    assert_eq!(c.line().await, "* BYE Autologout; idle for too long");
    assert!(started.elapsed() >= Duration::from_millis(1500), "{:?}", started.elapsed());
    assert!(c.closed().await);
}

/// An account linked with OAuth (conformance-tests/oauth_provider.py beside Dovecot): Madang signs
/// in upstream with OAUTHBEARER; once the user withdraws consent at the provider, the refused
/// token is refreshed once, the refresh fails, and the app hears `[UNAVAILABLE]`, not the
/// provider's or Dovecot's words.
async fn oauth_linked_accounts_sign_in_upstream_with_a_token(db: &TestDb) {
    let Some(mut w) = world(db, |_| {}).await else { return };
    let idp = std::env::var("MADANG_TEST_DOVECOT_OAUTH").expect("dovecot.sh starts the OAuth provider");
    let mut config = mail_config(&w.dv.ca, true);
    config.oauth = vec![common::dovecot::test_idp(&idp)];
    config.oauth_redirect_uri = common::dovecot::OAUTH_REDIRECT.into();
    w.app.state = w.app.state.clone().with_mail(config).unwrap();
    let mailbox = format!("po{}@example.test", unique());
    w.dv.adduser(&mailbox, "box-pw");
    w.dv.deliver(&mailbox, "From: o@example.test\r\nSubject: through oauth\r\n\r\ntoken\r\n");
    let settings = json!({
        "email": mailbox, "imap_host": "localhost", "imap_port": w.dv.imaps, "imap_security": "tls",
        "smtp_host": "localhost",
        "smtp_port": std::env::var("MADANG_TEST_DOVECOT_SUBMISSION").unwrap().parse::<u16>().unwrap(),
        "smtp_security": "starttls", "username": mailbox,
    });
    let r = call(
        &w.app,
        "alice",
        "POST",
        "/api/v1/mail/oauth/start",
        Some(json!({"provider": "custom", "settings": settings})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let consent = client.get(r.body["authorize_url"].as_str().unwrap()).send().await.unwrap();
    let callback =
        consent.headers()["location"].to_str().unwrap().strip_prefix("http://madang.test").unwrap().to_string();
    let mut browser = common::browser::Browser::new(&w.app);
    browser.sign_in("alice", PASSWORD).await;
    let r = browser.get(&callback).await;
    assert!(r.location().starts_with("/#/mail?linked="), "{}", r.location());
    // A listener over the state that knows the provider.
    let imap = listen::bind(w.app.state.mail_proxy(), Kind::Imap, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let local = mailbox.split('@').next().unwrap();
    let login = format!("LOGIN alice+{local} \"{PASSWORD}\"");
    let (mut c, _) = Client::connect(imap).await;
    assert_logged_in(&c.run("a", &login).await, "a");
    assert_eq!(first_subject(&mut c).await, "through oauth");
    reqwest::Client::new().post(format!("{idp}/control?user={mailbox}&revoke=1")).send().await.unwrap();
    let (mut c, _) = Client::connect(imap).await;
    assert_eq!(
        c.run("a", &login).await,
        ["a NO [UNAVAILABLE] The linked mail server refused Madang's login; check the account in Madang"]
    );
}

/// Thunderbird keeps up to five connections per account (CLIENTS.md "Concurrency"), and a phone
/// adds its own: none of them takes one of the sync's four places per account
/// (`mail.max_connections_per_account`), which the web client's sync and IDLE watcher need.
async fn thunderbird_and_a_phone_hold_their_sessions_at_once(db: &TestDb) {
    let Some(w) = world(db, |_| {}).await else { return };
    let mut held = Vec::new();
    for i in 0..7 {
        let (mut c, _) = Client::connect(w.imap).await;
        assert_logged_in(&c.run("a", &format!("LOGIN alice \"{PASSWORD}\"")).await, "a");
        let select = c.run("b", "EXAMINE INBOX").await;
        assert!(last(&select).starts_with("b OK"), "session {i}: {select:?}");
        held.push(c);
    }
    // And Madang's own use of the account still works meanwhile.
    let r = call(&w.app, "alice", "GET", "/api/v1/mail/accounts", None).await;
    let id = r.body[0]["id"].as_i64().unwrap();
    let r = call(&w.app, "alice", "POST", &format!("/api/v1/mail/accounts/{id}/sync"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    for (i, c) in held.iter_mut().enumerate() {
        assert!(last(&c.run("z", "NOOP").await).starts_with("z OK"), "session {i}");
    }
}

/// An administrator revokes a device: its open session, not only its next login, ends (told BYE
/// at a response boundary); then the mail module is turned off: every session ends and logins
/// get `[UNAVAILABLE]`.
async fn revoked_devices_and_mail_turned_off_end_open_sessions(db: &TestDb) {
    let Some(w) = world(db, |c| c.revalidate_every = Duration::from_millis(300)).await else { return };
    let (phone, phone_password) = w.app.accounts.add_app_password("alice", "phone").await.unwrap();
    let (_, laptop_password) = w.app.accounts.add_app_password("alice", "laptop").await.unwrap();
    let (mut on_phone, _) = Client::connect(w.imap).await;
    assert_logged_in(&on_phone.run("a", &format!("LOGIN alice {phone_password}")).await, "a");
    assert!(last(&on_phone.run("b", "SELECT INBOX").await).starts_with("b OK"));
    let (mut on_laptop, _) = Client::connect(w.imap).await;
    assert_logged_in(&on_laptop.run("a", &format!("LOGIN alice {laptop_password}")).await, "a");
    w.app.accounts.revoke_app_password("alice", phone.id).await.unwrap();
    assert_eq!(on_phone.line().await, "* BYE This device's access was revoked; sign in again");
    assert!(on_phone.closed().await);
    // The other device goes on: revoking one app password bumps the user's credentials version,
    // which alone ends nothing.
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(last(&on_laptop.run("c", "NOOP").await).starts_with("c OK"));
    w.app.state.modules.set(&[(Module::Mail, false)]).await.unwrap();
    assert_eq!(on_laptop.line().await, "* BYE Mail is turned off on this server");
    assert!(on_laptop.closed().await);
    // The module switch is cached for up to a second per process.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (mut c, _) = Client::connect(w.imap).await;
    assert_eq!(
        c.run("a", &format!("LOGIN alice {laptop_password}")).await,
        ["a NO [UNAVAILABLE] Mail is turned off on this server"]
    );
}

on_both_databases!(
    thunderbird_and_a_phone_hold_their_sessions_at_once,
    revoked_devices_and_mail_turned_off_end_open_sessions,
    oauth_linked_accounts_sign_in_upstream_with_a_token,
    every_login_form_mail_apps_use,
    names_accounts_and_isolation,
    refusals_throttle_and_revoked_app_passwords,
    bad_input_and_starttls_injection,
    cleartext_from_another_machine_is_refused,
    madang_tokens_with_the_mail_scope,
    untrusted_upstream_certificate_is_refused,
    per_user_session_limit,
    relayed_session_select_fetch_idle_append,
    shutdown_says_bye,
    login_and_idle_timeouts,
);
