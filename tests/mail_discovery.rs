//! Mail set-up discovery through the router (`GET /api/v1/mail/providers`, docs/mail.md) against
//! a tiny nameserver in the test process (UDP and TCP on 127.0.0.1, a made-up `.test` zone):
//! RFC 6186 SRV records with implicit TLS preferred, priority order, "." meaning not offered, a
//! forged answer ignored, a truncated answer asked again over TCP, MX records at Google, the
//! cache, and the fall-back to the guess, in bounded time, when the nameserver stays silent.
//! No database work: SQLite only.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::api::call;
use common::dav::users;
use common::{TestApp, TestDb};
use madang::config::MailConfig;
use madang::modules::Module;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SRV: u16 = 33;
const MX: u16 = 15;

fn name(out: &mut Vec<u8>, name: &str) {
    if name != "." {
        for label in name.split('.') {
            out.push(label.len() as u8);
            out.extend_from_slice(label.as_bytes());
        }
    }
    out.push(0);
}

fn srv(priority: u16, weight: u16, port: u16, target: &str) -> Rr {
    let mut d = [priority.to_be_bytes(), weight.to_be_bytes(), port.to_be_bytes()].concat();
    name(&mut d, target);
    (SRV, d)
}

fn mx(preference: u16, exchange: &str) -> Rr {
    let mut d = preference.to_be_bytes().to_vec();
    name(&mut d, exchange);
    (MX, d)
}

/// A record: its type and its data.
type Rr = (u16, Vec<u8>);

/// The zone: (name, type) → records. Absent names answer NXDOMAIN.
fn zone() -> HashMap<(String, u16), Vec<Rr>> {
    let mut z = HashMap::new();
    let mut add = |n: &str, t: u16, records: Vec<Rr>| z.insert((n.to_string(), t), records);
    // Implicit TLS, two priorities (the lower wins) and, within one, weights 0 and 65535: the
    // weight-0 record comes first only on a draw of 0 (RFC 2782), 1 time in 65,536.
    add(
        "_imaps._tcp.example.test",
        SRV,
        vec![
            srv(20, 0, 993, "backup.example.test"),
            srv(10, 0, 9993, "light.example.test"),
            srv(10, 65535, 993, "imap.example.test"),
        ],
    );
    // STARTTLS is also published, but implicit TLS is preferred (RFC 8314 §5.1).
    add("_imap._tcp.example.test", SRV, vec![srv(0, 0, 143, "starttls.example.test")]);
    // Implicit-TLS submission not offered ("."), STARTTLS submission is.
    add("_submissions._tcp.example.test", SRV, vec![srv(0, 0, 0, ".")]);
    add("_submission._tcp.example.test", SRV, vec![srv(0, 1, 587, "smtp.example.test")]);
    // MX at Google too: SRV records, the domain's own statement, win.
    add("example.test", MX, vec![mx(1, "aspmx.l.google.com")]);
    // A company at Google Workspace: MX records only.
    add("workspace.test", MX, vec![mx(1, "aspmx.l.google.com"), mx(5, "alt1.aspmx.l.google.com")]);
    // No IMAP at all, by either security.
    add("_imaps._tcp.closed.test", SRV, vec![srv(0, 0, 0, ".")]);
    add("_imap._tcp.closed.test", SRV, vec![srv(0, 0, 0, ".")]);
    add("closed.test", MX, vec![mx(10, "mx.closed.test")]);
    // Too big for UDP (the responder sets TC): the answer comes over TCP.
    add("_imaps._tcp.big.test", SRV, vec![srv(0, 0, 993, "imap.big.test")]);
    z
}

/// The answer to `query`, or `None` for a packet that is not a query.
fn answer(query: &[u8], truncate: bool) -> Option<Vec<u8>> {
    let q = madang_mail::dns::parse(query).ok()?;
    let (qname, qtype, _) = q.question.clone()?;
    let records = zone().get(&(qname.clone(), qtype)).cloned();
    let rcode = if records.is_some() || zone().keys().any(|(n, _)| *n == qname) { 0 } else { 3 };
    let records = if truncate { Vec::new() } else { records.unwrap_or_default() };
    let mut out = q.id.to_be_bytes().to_vec();
    let flags: u16 = 0x8180 | rcode | if truncate { 0x0200 } else { 0 };
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&[0, 1]);
    out.extend_from_slice(&(records.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    name(&mut out, &qname);
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&[0, 1]);
    for (rtype, data) in records {
        // The owner compressed to the question's name at offset 12.
        out.extend_from_slice(&[0xc0, 12]);
        out.extend_from_slice(&rtype.to_be_bytes());
        out.extend_from_slice(&[0, 1, 0, 0, 0x0e, 0x10]);
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        out.extend_from_slice(&data);
    }
    Some(out)
}

/// Starts the nameserver on UDP and TCP (one port); returns its address and a query counter.
async fn nameserver() -> (SocketAddr, Arc<AtomicUsize>) {
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = udp.local_addr().unwrap();
    let tcp = tokio::net::TcpListener::bind(addr).await.unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let counted = count.clone();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = udp.recv_from(&mut buf).await {
            counted.fetch_add(1, Ordering::SeqCst);
            let query = &buf[..n];
            let big = madang_mail::dns::parse(query)
                .ok()
                .and_then(|q| q.question)
                .is_some_and(|(n, _, _)| n.ends_with("big.test"));
            if let Some(mut reply) = answer(query, big) {
                // A forged answer first, with another id and another server: it must be ignored.
                let real = reply.clone();
                reply[0] ^= 0x55;
                reply.extend_from_slice(b"junk");
                let _ = udp.send_to(&reply, from).await;
                let _ = udp.send_to(&real, from).await;
            }
        }
    });
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = tcp.accept().await {
            tokio::spawn(async move {
                let len = stream.read_u16().await.unwrap_or(0);
                let mut query = vec![0; usize::from(len)];
                if stream.read_exact(&mut query).await.is_err() {
                    return;
                }
                if let Some(reply) = answer(&query, false) {
                    let framed = [&(reply.len() as u16).to_be_bytes()[..], &reply].concat();
                    let _ = stream.write_all(&framed).await;
                }
            });
        }
    });
    (addr, count)
}

async fn app(db: &TestDb, dns: SocketAddr) -> TestApp {
    let mut app = TestApp::new(db).await;
    app.state.modules.set(&[(Module::Mail, true)]).await.unwrap();
    let config = MailConfig { dns_server: Some(dns), dns_timeout: Duration::from_millis(800), ..MailConfig::default() };
    app.state = app.state.clone().with_mail(config).unwrap();
    users(&app, &["alice"]).await;
    app
}

async fn suggest(app: &TestApp, email: &str) -> Value {
    let r = call(app, "alice", "GET", &format!("/api/v1/mail/providers?email={email}"), None).await;
    assert_eq!(r.status, axum::http::StatusCode::OK, "{}", r.text);
    r.body
}

fn servers(s: &Value) -> (String, String) {
    let side =
        |p: &str| format!("{} {} {}", s[format!("{p}_host")], s[format!("{p}_port")], s[format!("{p}_security")]);
    (side("imap"), side("smtp"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srv_records_suggest_the_servers() {
    let db = TestDb::sqlite();
    let (dns, queries) = nameserver().await;
    let app = app(&db, dns).await;

    let s = suggest(&app, "kim@Example.Test").await;
    assert_eq!(s["source"], "srv", "{s}");
    assert_eq!(s["provider"], Value::Null);
    assert_eq!(
        servers(&s),
        (r#""imap.example.test" 993 "tls""#.into(), r#""smtp.example.test" 587 "starttls""#.into()),
        "priority, then weight; implicit TLS preferred; \".\" skipped for STARTTLS: {s}"
    );
    // Cached: asking again sends nothing (five look-ups the first time, each answered).
    let asked = queries.load(Ordering::SeqCst);
    assert_eq!(asked, 5);
    suggest(&app, "lee@example.test").await;
    assert_eq!(queries.load(Ordering::SeqCst), asked);

    // MX at Google, no SRV: Google Workspace.
    let s = suggest(&app, "kim@workspace.test").await;
    assert_eq!((s["source"].as_str(), s["provider"].as_str()), (Some("mx"), Some("Google Workspace")), "{s}");
    assert_eq!(servers(&s).0, r#""imap.gmail.com" 993 "tls""#);

    // IMAP declared not offered: the guess, with a note saying so.
    let s = suggest(&app, "kim@closed.test").await;
    assert_eq!(s["source"], "srv", "{s}");
    assert_eq!(servers(&s).0, r#""imap.closed.test" 993 "tls""#);
    assert!(s["note"].as_str().unwrap().contains("no IMAP"), "{s}");

    // Truncated over UDP: asked again over TCP.
    let s = suggest(&app, "kim@big.test").await;
    assert_eq!((s["source"].as_str(), s["imap_host"].as_str()), (Some("srv"), Some("imap.big.test")), "{s}");

    // Nothing in DNS: the guess.
    let s = suggest(&app, "kim@nothing.test").await;
    assert_eq!((s["source"].as_str(), s["imap_host"].as_str()), (Some("guess"), Some("imap.nothing.test")), "{s}");

    // A known provider never asks DNS.
    let before = queries.load(Ordering::SeqCst);
    let s = suggest(&app, "kim@naver.com").await;
    assert_eq!((s["source"].as_str(), s["provider"].as_str()), (Some("table"), Some("Naver")), "{s}");
    assert_eq!(queries.load(Ordering::SeqCst), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_nameserver_falls_back_to_the_guess_in_time() {
    let db = TestDb::sqlite();
    // Bound but never read: every query goes unanswered.
    let silent = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let app = app(&db, silent.local_addr().unwrap()).await;
    let started = Instant::now();
    let s = suggest(&app, "kim@example.test").await;
    let took = started.elapsed();
    assert_eq!((s["source"].as_str(), s["imap_host"].as_str()), (Some("guess"), Some("imap.example.test")), "{s}");
    assert!(took >= Duration::from_millis(700) && took < Duration::from_millis(2000), "{took:?}");
    // The failure is cached for a while, so the next ask is immediate.
    let started = Instant::now();
    suggest(&app, "lee@example.test").await;
    assert!(started.elapsed() < Duration::from_millis(300), "{:?}", started.elapsed());
    drop(silent);
}
