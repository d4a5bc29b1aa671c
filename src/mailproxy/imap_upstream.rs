//! The IMAP listener's way in to the linked account: a raw connection (so the relayed session's
//! bytes pass untouched), the greeting, STARTTLS, the login with the account's sealed
//! credential, and an explicit CAPABILITY (CLIENTS.md "Upstream login parsing": iCloud rewrites
//! its lists after login, Gmail sends `* CAPABILITY` before its tagged OK).
//!
//! Connections go through `mail::connect` like every other connection to a mail server: the
//! outbound guard's addresses, verified certificates, Madang's connection places. What the
//! upstream says when it refuses is logged, never shown to the mail app (user enumeration;
//! Dovecot's imap-proxy.c does the same).

use std::time::Duration;

use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::domain::UserId;
use crate::mail::connect::{Credential, Endpoint, Failure, Io, Security, Step, bearer_mechanism};
use crate::mail::{MailError, MailService};
use crate::store::mail::MailAccountRow;

/// The longest line read from the upstream during login.
const MAX_LINE: usize = 64 << 10;
/// One attempt at connecting and logging in (CLIENTS.md "Upstream timeout", Dovecot's
/// `login_proxy_timeout`).
const ATTEMPT: Duration = Duration::from_secs(30);
/// Attempts after the first when the server could not be reached, 1 s apart
/// (Dovecot's `login_proxy_max_reconnects`).
const RETRIES: u32 = 3;
/// All attempts together: the mail app is waiting for its answer.
const TOTAL: Duration = Duration::from_secs(45);

/// A logged-in upstream session, ready to relay.
pub struct Upstream {
    pub stream: Box<dyn Io>,
    /// What the server announced after login, as its words (`IMAP4rev1`, `IDLE`, `AUTH=PLAIN`…).
    pub capabilities: Vec<String>,
    /// Bytes the server sent after the last answer of the login (to be relayed first).
    pub pending: Vec<u8>,
}

/// Why the upstream session could not be opened; the mail app is told `NO [UNAVAILABLE]` with
/// words that depend only on the kind, never the server's own text.
#[derive(Debug)]
pub enum UpstreamError {
    /// Not reachable, timed out, or not speaking IMAP as expected.
    Unreachable(String),
    /// The TLS handshake failed: usually the certificate.
    Tls(String),
    /// The server refused the stored credentials (or the OAuth account needs a new sign-in).
    Refused(String),
}

impl UpstreamError {
    fn from_failure(f: Failure) -> UpstreamError {
        match f.step {
            Step::Tls => UpstreamError::Tls(f.message),
            Step::Authentication => UpstreamError::Refused(f.message),
            _ => UpstreamError::Unreachable(f.message),
        }
    }

    /// For the log and the metrics label.
    pub fn kind(&self) -> &'static str {
        match self {
            UpstreamError::Unreachable(_) => "unreachable",
            UpstreamError::Tls(_) => "tls",
            UpstreamError::Refused(_) => "refused",
        }
    }

    pub fn detail(&self) -> &str {
        match self {
            UpstreamError::Unreachable(m) | UpstreamError::Tls(m) | UpstreamError::Refused(m) => m,
        }
    }
}

/// Opens the session to `row`'s IMAP server as `user`: retries an unreachable server, and an
/// OAuth account whose token was refused once with a fresh token.
pub async fn open(mail: &MailService, user: UserId, row: &MailAccountRow) -> Result<Upstream, UpstreamError> {
    match tokio::time::timeout(TOTAL, attempts(mail, user, row)).await {
        Ok(result) => result,
        Err(_) => Err(UpstreamError::Unreachable(format!("no login within {} s", TOTAL.as_secs()))),
    }
}

async fn attempts(mail: &MailService, user: UserId, row: &MailAccountRow) -> Result<Upstream, UpstreamError> {
    let endpoint = Endpoint {
        host: row.imap_host.clone(),
        port: u16::try_from(row.imap_port).unwrap_or(0),
        security: Security::parse(&row.imap_security).unwrap_or(Security::Tls),
    };
    let credential = mail.credential_of(user, row, false).await.map_err(credential_failure)?;
    let mut stale_retried = false;
    let mut credential = credential;
    let mut attempt = 0;
    loop {
        let result = match tokio::time::timeout(ATTEMPT, once(mail, row, &endpoint, &credential)).await {
            Ok(r) => r,
            Err(_) => Err(UpstreamError::Unreachable(format!("no login within {} s", ATTEMPT.as_secs()))),
        };
        match result {
            Err(UpstreamError::Refused(_)) if matches!(credential, Credential::Bearer(_)) && !stale_retried => {
                // A token refused before its expiry (revoked, keys rotated): one refresh, one more try.
                stale_retried = true;
                credential = mail.credential_of(user, row, true).await.map_err(credential_failure)?;
            }
            Err(UpstreamError::Unreachable(why)) if attempt < RETRIES => {
                attempt += 1;
                tracing::debug!(account = row.id, attempt, %why, "imap upstream unreachable; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            other => return other,
        }
    }
}

fn credential_failure(e: MailError) -> UpstreamError {
    match e {
        MailError::SignInAgain(_) => UpstreamError::Refused(e.to_string()),
        e => UpstreamError::Unreachable(e.to_string()),
    }
}

/// The upstream connection during login: a line reader over the raw stream.
struct Wire {
    io: Box<dyn Io>,
    buf: Vec<u8>,
    next_tag: u32,
}

impl Wire {
    async fn line(&mut self) -> Result<Vec<u8>, UpstreamError> {
        loop {
            if let Some(at) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=at).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(line);
            }
            if self.buf.len() > MAX_LINE {
                return Err(UpstreamError::Unreachable("the server sent an over-long line".into()));
            }
            let mut chunk = [0u8; 4096];
            let n = self.io.read(&mut chunk).await.map_err(|e| UpstreamError::Unreachable(e.to_string()))?;
            if n == 0 {
                return Err(UpstreamError::Unreachable("the server closed the connection".into()));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), UpstreamError> {
        self.io.write_all(bytes).await.map_err(|e| UpstreamError::Unreachable(e.to_string()))?;
        self.io.flush().await.map_err(|e| UpstreamError::Unreachable(e.to_string()))
    }

    fn tag(&mut self) -> String {
        self.next_tag += 1;
        format!("M{}", self.next_tag)
    }

    /// Sends `command` (after its tag) and reads to its tagged answer; untagged `CAPABILITY`
    /// data and `[CAPABILITY …]` codes are collected on the way (RFC 9051 §7.2.2, §7.1).
    /// `on_continue` answers each `+` continuation.
    async fn command(
        &mut self,
        command: &[u8],
        mut on_continue: impl FnMut(&[u8]) -> Option<Vec<u8>>,
    ) -> Result<Answer, UpstreamError> {
        let tag = self.tag();
        let mut line = format!("{tag} ").into_bytes();
        line.extend_from_slice(command);
        line.extend_from_slice(b"\r\n");
        self.send(&line).await?;
        let mut capabilities = None;
        loop {
            let line = self.line().await?;
            if let Some(rest) = line.strip_prefix(b"+") {
                match on_continue(rest.strip_prefix(b" ").unwrap_or(rest)) {
                    Some(mut answer) => {
                        answer.extend_from_slice(b"\r\n");
                        self.send(&answer).await?;
                    }
                    None => return Err(UpstreamError::Unreachable("an unexpected continuation".into())),
                }
                continue;
            }
            let text = String::from_utf8_lossy(&line);
            if let Some(rest) = text.strip_prefix("* ") {
                if let Some(list) = strip_word(rest, "CAPABILITY") {
                    capabilities = Some(words(list));
                }
                // Anything else untagged (a `* BYE` before a NO included) is not relayed.
                continue;
            }
            let Some(rest) = text.strip_prefix(&format!("{tag} ")) else {
                continue;
            };
            let (status, text) = rest.split_once(' ').unwrap_or((rest, ""));
            if let Some(code) = text.strip_prefix('[')
                && let Some((code, _)) = code.split_once(']')
                && let Some(list) = strip_word(code, "CAPABILITY")
            {
                capabilities = Some(words(list));
            }
            return Ok(Answer { status: status.to_ascii_uppercase(), text: text.to_string(), capabilities });
        }
    }
}

struct Answer {
    status: String,
    text: String,
    capabilities: Option<Vec<String>>,
}

impl Answer {
    fn ok(&self) -> bool {
        self.status == "OK"
    }
}

/// `rest` after `word` (case-insensitive) and a space, or empty when it is the whole text.
fn strip_word<'a>(text: &'a str, word: &str) -> Option<&'a str> {
    let head = text.get(..word.len())?;
    if !head.eq_ignore_ascii_case(word) {
        return None;
    }
    let rest = &text[word.len()..];
    if rest.is_empty() { Some("") } else { rest.strip_prefix(' ') }
}

fn words(list: &str) -> Vec<String> {
    list.split_ascii_whitespace().map(str::to_string).collect()
}

/// RFC 9051 §4.3: a quoted string when the text allows it, else a synchronising literal.
enum Astring {
    Inline(Vec<u8>),
    Literal(Vec<u8>),
}

fn astring(value: &str) -> Astring {
    if value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        let mut out = vec![b'"'];
        for b in value.bytes() {
            if matches!(b, b'"' | b'\\') {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
        Astring::Inline(out)
    } else {
        Astring::Literal(value.as_bytes().to_vec())
    }
}

async fn once(
    mail: &MailService,
    row: &MailAccountRow,
    endpoint: &Endpoint,
    credential: &Credential,
) -> Result<Upstream, UpstreamError> {
    let connector = mail.connector();
    // No place among Madang's own connections (`mail.max_connections`, and the 4 per account of
    // `mail.max_connections_per_account`): each of these is a mail app's session that would
    // otherwise have gone to the server directly, one per client connection, so
    // `mailproxy.max_connections` and `max_connections_per_user` bound them; taking the sync's
    // places would leave Thunderbird (5 connections per account, CLIENTS.md "Concurrency") short
    // and let idle phones starve the web client's sync.
    let (tcp, _) = connector.tcp(endpoint).await.map_err(UpstreamError::from_failure)?;
    let io: Box<dyn Io> = match endpoint.security {
        Security::Tls => Box::new(connector.tls(&endpoint.host, tcp).await.map_err(UpstreamError::from_failure)?),
        Security::Plain | Security::Starttls => Box::new(tcp),
    };
    let mut wire = Wire { io, buf: Vec::new(), next_tag: 0 };
    greeting(&mut wire).await?;
    if endpoint.security == Security::Starttls {
        let answer = wire.command(b"STARTTLS", |_| None).await?;
        if !answer.ok() {
            return Err(UpstreamError::Unreachable(format!("STARTTLS refused: {}", answer.text)));
        }
        // What the server sent before the handshake is dropped with the buffer (RFC 9051
        // §6.2.1, CVE-2011-0411).
        let Wire { io, next_tag, .. } = wire;
        let tls = connector.tls(&endpoint.host, io).await.map_err(UpstreamError::from_failure)?;
        wire = Wire { io: Box::new(tls), buf: Vec::new(), next_tag };
    }
    match credential {
        Credential::Password(password) => login(&mut wire, &row.username, password).await?,
        Credential::Bearer(token) => {
            let answer = wire.command(b"CAPABILITY", |_| None).await?;
            let offered = answer.capabilities.unwrap_or_default();
            let mechanisms: Vec<String> = offered
                .iter()
                .filter_map(|c| {
                    c.get(..5).filter(|p| p.eq_ignore_ascii_case("AUTH=")).map(|_| c[5..].to_ascii_uppercase())
                })
                .collect();
            let (name, first) = bearer_mechanism(&mechanisms, &row.username, &endpoint.host, endpoint.port, token);
            let first = base64::engine::general_purpose::STANDARD.encode(first);
            let sasl_ir = offered.iter().any(|c| c.eq_ignore_ascii_case("SASL-IR"));
            let mut sent_first = sasl_ir;
            let command = if sasl_ir { format!("AUTHENTICATE {name} {first}") } else { format!("AUTHENTICATE {name}") };
            let answer = wire
                .command(command.as_bytes(), |_| {
                    if !sent_first {
                        sent_first = true;
                        return Some(first.clone().into_bytes());
                    }
                    // The error challenge before the NO: `%x01` ends OAUTHBEARER (RFC 7628
                    // §3.2.3), an empty line XOAUTH2.
                    Some(if name == "OAUTHBEARER" { b"AQ==".to_vec() } else { Vec::new() })
                })
                .await?;
            if !answer.ok() {
                return Err(refused(&answer));
            }
        }
    }
    // Asked again rather than taken from the login's answer: iCloud rewrites its list after
    // login, and a server may announce only part of it in the tagged OK.
    let answer = wire.command(b"CAPABILITY", |_| None).await?;
    let capabilities = match (answer.ok(), answer.capabilities) {
        (true, Some(list)) => list,
        _ => return Err(UpstreamError::Unreachable("no capabilities after login".into())),
    };
    Ok(Upstream { stream: wire.io, capabilities, pending: wire.buf })
}

fn refused(answer: &Answer) -> UpstreamError {
    let what = format!("{} {}", answer.status, answer.text);
    if answer.status == "NO" { UpstreamError::Refused(what) } else { UpstreamError::Unreachable(what) }
}

async fn greeting(wire: &mut Wire) -> Result<(), UpstreamError> {
    let line = wire.line().await?;
    let text = String::from_utf8_lossy(&line);
    let ok = text.get(..4).is_some_and(|s| s.eq_ignore_ascii_case("* OK"))
        && text.as_bytes().get(4).is_none_or(|&b| b == b' ');
    if ok {
        return Ok(());
    }
    // `PREAUTH` would skip the login with the stored credentials and `BYE` is a refusal:
    // neither is a session Madang can vouch for.
    Err(UpstreamError::Unreachable(format!("unexpected greeting: {}", text.chars().take(200).collect::<String>())))
}

/// `LOGIN` (RFC 9051 §6.2.3), with synchronising literals for what a quoted string cannot carry.
async fn login(wire: &mut Wire, user: &str, password: &str) -> Result<(), UpstreamError> {
    // The command line, then what is sent after each `+`: a literal's bytes and the rest of the
    // command up to the next literal's announcement.
    let mut segments: Vec<Vec<u8>> = vec![b"LOGIN ".to_vec()];
    for (i, arg) in [astring(user), astring(password)].into_iter().enumerate() {
        let last = segments.len() - 1;
        if i == 1 {
            segments[last].push(b' ');
        }
        match arg {
            Astring::Inline(bytes) => segments[last].extend_from_slice(&bytes),
            Astring::Literal(bytes) => {
                segments[last].extend_from_slice(format!("{{{}}}", bytes.len()).as_bytes());
                segments.push(bytes);
            }
        }
    }
    let mut rest = segments.split_off(1).into_iter();
    let answer = wire.command(&segments[0], |_| rest.next()).await?;
    if answer.ok() { Ok(()) } else { Err(refused(&answer)) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncBufReadExt, BufReader};

    fn wire() -> (Wire, BufReader<tokio::io::DuplexStream>) {
        let (client, server) = tokio::io::duplex(1 << 16);
        (Wire { io: Box::new(client), buf: Vec::new(), next_tag: 0 }, BufReader::new(server))
    }

    async fn read_line(server: &mut BufReader<tokio::io::DuplexStream>) -> String {
        let mut line = String::new();
        server.read_line(&mut line).await.unwrap();
        line
    }

    #[tokio::test]
    async fn login_quotes_or_sends_literals_and_collects_untagged_capabilities() {
        let (mut wire, mut server) = wire();
        let script = tokio::spawn(async move {
            // A quoted user name with an escaped quote, and a password that needs a literal.
            assert_eq!(read_line(&mut server).await, "M1 LOGIN \"k\\\"im\" {6}\r\n");
            server.get_mut().write_all(b"+ go ahead\r\n").await.unwrap();
            assert_eq!(read_line(&mut server).await, "päss!\r\n");
            // Gmail's untagged CAPABILITY before the tagged OK; a BYE that is not relayed.
            server
                .get_mut()
                .write_all(b"* CAPABILITY IMAP4rev1 IDLE\r\n* BYE bye\r\nM1 OK [CAPABILITY IMAP4rev1 MOVE] in\r\n")
                .await
                .unwrap();
            assert_eq!(read_line(&mut server).await, "M2 CAPABILITY\r\n");
            server
                .get_mut()
                .write_all(b"* CAPABILITY IMAP4rev1 IDLE MOVE\r\nM2 OK done\r\n* 3 EXISTS\r\n")
                .await
                .unwrap();
        });
        login(&mut wire, "k\"im", "päss!").await.unwrap();
        let answer = wire.command(b"CAPABILITY", |_| None).await.unwrap();
        assert!(answer.ok());
        assert_eq!(answer.capabilities.unwrap(), ["IMAP4rev1", "IDLE", "MOVE"]);
        script.await.unwrap();
    }

    #[tokio::test]
    async fn a_refused_login_is_refused_with_the_servers_words_kept_for_the_log() {
        let (mut wire, mut server) = wire();
        tokio::spawn(async move {
            read_line(&mut server).await;
            server.get_mut().write_all(b"M1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n").await.unwrap();
        });
        match login(&mut wire, "kim", "pw").await {
            Err(UpstreamError::Refused(text)) => assert!(text.contains("AUTHENTICATIONFAILED"), "{text}"),
            other => panic!("{:?}", other.map(|_| ())),
        }
    }

    #[tokio::test]
    async fn greetings_other_than_ok_are_refused() {
        for (greeting, ok) in [
            (&b"* OK Dovecot ready.\r\n"[..], true),
            (b"* ok\r\n", true),
            (b"* PREAUTH welcome\r\n", false),
            (b"* BYE too many connections\r\n", false),
            (b"* OKAY\r\n", false),
        ] {
            let (mut wire, mut server) = wire();
            server.get_mut().write_all(greeting).await.unwrap();
            assert_eq!(super::greeting(&mut wire).await.is_ok(), ok, "{:?}", String::from_utf8_lossy(greeting));
        }
    }

    #[test]
    fn capability_words() {
        assert_eq!(strip_word("CAPABILITY IMAP4rev1 IDLE", "CAPABILITY"), Some("IMAP4rev1 IDLE"));
        assert_eq!(strip_word("capability", "CAPABILITY"), Some(""));
        assert_eq!(strip_word("CAPABILITYX", "CAPABILITY"), None);
        assert_eq!(strip_word("OK", "CAPABILITY"), None);
    }
}
