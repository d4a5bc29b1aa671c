//! The IMAP listener (RFC 9051 / 3501): Madang's own not-authenticated state (greeting,
//! CAPABILITY, STARTTLS, ID, LOGIN, AUTHENTICATE), then, once the user is known and the linked
//! account's server has accepted Madang's login, a byte-for-byte relay to that server.
//!
//! Parsing is `madang_mail::imap_login`; signing in upstream is `imap_upstream`. What mail apps
//! expect of each answer is in CLIENTS.md ("Mail clients"); the choices are explained where
//! they are made.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use madang_mail::imap_login::{Command, Credentials, Mechanism, Read, Reader, Sasl, SaslStep, Tagged};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::imap_upstream::{self, Upstream, UpstreamError};
use super::listen::Conn;
use super::{Login, LoginError, MailProxy, Secret};

/// The relay's read size in each direction: large, so a big FETCH or APPEND moves in few steps.
const RELAY_BUFFER: usize = 64 << 10;
/// How long a shutdown waits for the server's current response to end before closing anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// RFC 7628 §3.2.2's error challenge for a refused token: `{"status":"invalid_token","scope":"mail"}`.
const BEARER_ERROR: &str = "eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIiwic2NvcGUiOiJtYWlsIn0=";

/// Serves one IMAP connection until it ends.
pub async fn serve(proxy: Arc<MailProxy>, mut conn: Conn) {
    let peer = conn.peer;
    metrics::counter!("madang_mailproxy_connections_total", "protocol" => "imap").increment(1);
    // The client's whole pre-login phase (its reads) is bounded by `login_timeout`; the upstream
    // login has bounds of its own, so a slow server still gets its `NO [UNAVAILABLE]` answer.
    let deadline = tokio::time::Instant::now() + proxy.config.login_timeout;
    let before = tokio::select! {
        r = pre_auth(&proxy, &mut conn, deadline) => r,
        () = proxy.shutting_down() => {
            let _ = send(&mut conn.stream, b"* BYE Madang is shutting down\r\n").await;
            return;
        }
    };
    let (login, upstream, pending_up) = match before {
        Ok(Some(ready)) => ready,
        Ok(None) => return,
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
            tracing::debug!(%peer, "imap login timed out");
            let _ = send(&mut conn.stream, b"* BYE Autologout; no login in time\r\n").await;
            return;
        }
        Err(_) => return,
    };
    relay(&proxy, conn, login, upstream, pending_up).await;
}

async fn send<S: AsyncWrite + Unpin>(stream: &mut S, bytes: &[u8]) -> std::io::Result<()> {
    stream.write_all(bytes).await?;
    stream.flush().await
}

/// What Madang serves before login (CLIENTS.md "IMAP pre-login CAPABILITY"): no `LITERAL+`
/// (literals are accepted in both forms all the same), no COMPRESS, and AUTH= only where a
/// password may be sent.
fn capabilities(conn: &Conn) -> String {
    let mut caps = String::from("IMAP4rev1 SASL-IR ID");
    if !conn.stream.is_tls() && conn.tls.is_some() {
        caps.push_str(" STARTTLS");
    }
    if conn.may_log_in() {
        caps.push_str(" AUTH=PLAIN AUTH=LOGIN AUTH=OAUTHBEARER AUTH=XOAUTH2");
    } else {
        caps.push_str(" LOGINDISABLED");
    }
    caps
}

/// The upstream's capabilities as the mail app may see them after login: without what belongs to
/// the login (STARTTLS, LOGINDISABLED, AUTH=, SASL-IR) which Madang, not the upstream, answered.
pub fn relayed_capabilities(upstream: &[String]) -> String {
    upstream
        .iter()
        .filter(|c| {
            let c = c.to_ascii_uppercase();
            !(c == "STARTTLS" || c == "LOGINDISABLED" || c == "SASL-IR" || c.starts_with("AUTH="))
        })
        .cloned()
        .collect::<Vec<_>>()
        .join(" ")
}

type Ready = (Login, Upstream, Vec<u8>);

/// The not-authenticated state: `Ok(Some(..))` once logged in upstream, `Ok(None)` when the
/// connection ends before that.
async fn pre_auth(
    proxy: &MailProxy,
    conn: &mut Conn,
    deadline: tokio::time::Instant,
) -> std::io::Result<Option<Ready>> {
    let greeting = format!("* OK [CAPABILITY {}] Madang ready\r\n", capabilities(conn));
    send(&mut conn.stream, greeting.as_bytes()).await?;
    let mut reader = Reader::new(proxy.config.max_command_size);
    // RFC 9051 §7.2.2 and CLIENTS.md "IMAP login reply": a client that asked CAPABILITY gets the
    // new list untagged before the tagged OK.
    let mut asked_capability = false;
    loop {
        let Tagged { tag, command } = match reader.command() {
            Read::Ready(t) => t,
            Read::NeedMore => {
                if !fill(&mut conn.stream, &mut reader, deadline).await? {
                    return Ok(None);
                }
                continue;
            }
            Read::Continue => {
                send(&mut conn.stream, b"+ Ready for literal data\r\n").await?;
                continue;
            }
            Read::Bad { tag, text } => {
                let tag = tag.unwrap_or_else(|| "*".into());
                send(&mut conn.stream, format!("{tag} BAD {text}\r\n").as_bytes()).await?;
                continue;
            }
            Read::Close { tag, text } => {
                metrics::counter!("madang_mailproxy_imap_closed_total", "reason" => "too_long").increment(1);
                let tag = tag.unwrap_or_else(|| "*".into());
                send(&mut conn.stream, format!("{tag} BAD {text}\r\n* BYE Closing\r\n").as_bytes()).await?;
                return Ok(None);
            }
        };
        let secret = match command {
            Command::Capability => {
                asked_capability = true;
                let reply = format!("* CAPABILITY {}\r\n{tag} OK CAPABILITY completed\r\n", capabilities(conn));
                send(&mut conn.stream, reply.as_bytes()).await?;
                continue;
            }
            Command::Noop => {
                send(&mut conn.stream, format!("{tag} OK NOOP completed\r\n").as_bytes()).await?;
                continue;
            }
            Command::Logout => {
                send(&mut conn.stream, format!("* BYE Logging out\r\n{tag} OK LOGOUT completed\r\n").as_bytes())
                    .await?;
                return Ok(None);
            }
            Command::Id => {
                // RFC 2971 §3.2: Madang names itself; what the upstream is stays out of view.
                let reply = format!("* ID (\"name\" \"Madang\")\r\n{tag} OK ID completed\r\n");
                send(&mut conn.stream, reply.as_bytes()).await?;
                continue;
            }
            Command::StartTls => {
                if conn.stream.is_tls() || conn.tls.is_none() {
                    send(&mut conn.stream, format!("{tag} BAD STARTTLS is not available here\r\n").as_bytes()).await?;
                    continue;
                }
                send(&mut conn.stream, format!("{tag} OK Begin TLS negotiation now\r\n").as_bytes()).await?;
                // Whatever came after the command was sent in the clear (CVE-2011-0411, CLIENTS.md
                // "STARTTLS"); RFC 9051 §6.2.1: what was learnt before TLS no longer counts.
                reader.discard();
                asked_capability = false;
                if let Err(e) = conn.start_tls(proxy.config.login_timeout).await {
                    tracing::debug!(peer = %conn.peer, error = %e, "imap STARTTLS handshake failed");
                    return Ok(None);
                }
                continue;
            }
            Command::Other(name) => {
                // RFC 9051 §6.3–6.4: valid after login only; anything else is not IMAP.
                const AFTER_LOGIN: [&str; 30] = [
                    "SELECT",
                    "EXAMINE",
                    "CREATE",
                    "DELETE",
                    "RENAME",
                    "SUBSCRIBE",
                    "UNSUBSCRIBE",
                    "LIST",
                    "LSUB",
                    "NAMESPACE",
                    "STATUS",
                    "APPEND",
                    "IDLE",
                    "ENABLE",
                    "CHECK",
                    "CLOSE",
                    "UNSELECT",
                    "EXPUNGE",
                    "SEARCH",
                    "FETCH",
                    "STORE",
                    "COPY",
                    "MOVE",
                    "UID",
                    "GETQUOTAROOT",
                    "GETQUOTA",
                    "COMPRESS",
                    "GETMETADATA",
                    "SETMETADATA",
                    "XLIST",
                ];
                let text = if AFTER_LOGIN.contains(&name.as_str()) { "Log in first" } else { "Unknown command" };
                send(&mut conn.stream, format!("{tag} BAD {text}\r\n").as_bytes()).await?;
                continue;
            }
            Command::UnknownMechanism => {
                let reply = format!("{tag} NO Unsupported authentication mechanism\r\n");
                send(&mut conn.stream, reply.as_bytes()).await?;
                continue;
            }
            _ if !conn.may_log_in() => {
                // RFC 9051 §6.2.3 LOGINDISABLED; RFC 5530 PRIVACYREQUIRED.
                let reply = format!("{tag} NO [PRIVACYREQUIRED] Use STARTTLS before logging in\r\n");
                send(&mut conn.stream, reply.as_bytes()).await?;
                continue;
            }
            Command::Login { user, password } => (Credentials::Password { user, password }, None::<Mechanism>),
            Command::Authenticate { mechanism, initial } => {
                match exchange(conn, &mut reader, deadline, &tag, mechanism, initial.as_deref()).await? {
                    Some(credentials) => (credentials, Some(mechanism)),
                    None => continue,
                }
            }
        };
        let (credentials, mechanism) = secret;
        match attempt(proxy, conn, &mut reader, deadline, &tag, &credentials, mechanism, asked_capability).await? {
            Some((login, upstream)) => {
                let pending = reader.take_buffered();
                return Ok(Some((login, upstream, pending)));
            }
            None => continue,
        }
    }
}

/// Reads more from the client into `reader`; `false` at the end of the stream, `TimedOut` past
/// the login deadline.
async fn fill<S: AsyncRead + Unpin>(
    stream: &mut S,
    reader: &mut Reader,
    deadline: tokio::time::Instant,
) -> std::io::Result<bool> {
    let mut chunk = [0u8; 4096];
    let n = tokio::time::timeout_at(deadline, stream.read(&mut chunk))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    reader.feed(&chunk[..n]);
    Ok(n > 0)
}

/// Runs an AUTHENTICATE exchange up to the credentials; `None` when it ended with an answer
/// already sent (cancelled, bad base64, malformed).
async fn exchange(
    conn: &mut Conn,
    reader: &mut Reader,
    deadline: tokio::time::Instant,
    tag: &str,
    mechanism: Mechanism,
    initial: Option<&[u8]>,
) -> std::io::Result<Option<Credentials>> {
    let (mut sasl, mut step) = Sasl::start(mechanism, initial);
    loop {
        match step {
            SaslStep::Done(credentials) => return Ok(Some(credentials)),
            SaslStep::Challenge(challenge) => {
                send(&mut conn.stream, format!("+ {challenge}\r\n").as_bytes()).await?;
                let line = loop {
                    match reader.line() {
                        Read::Ready(line) => break line,
                        Read::NeedMore => {
                            if !fill(&mut conn.stream, reader, deadline).await? {
                                return Err(std::io::ErrorKind::UnexpectedEof.into());
                            }
                        }
                        _ => {
                            send(
                                &mut conn.stream,
                                format!("{tag} BAD Response too long\r\n* BYE Closing\r\n").as_bytes(),
                            )
                            .await?;
                            return Err(std::io::ErrorKind::InvalidData.into());
                        }
                    }
                };
                step = sasl.respond(&line);
            }
            // RFC 9051 §6.2.2: a cancelled exchange gets BAD.
            SaslStep::Cancelled => {
                send(&mut conn.stream, format!("{tag} BAD Authentication cancelled\r\n").as_bytes()).await?;
                return Ok(None);
            }
            SaslStep::BadEncoding => {
                send(&mut conn.stream, format!("{tag} BAD Invalid base64\r\n").as_bytes()).await?;
                return Ok(None);
            }
            SaslStep::Malformed => {
                let reply = format!("{tag} NO [AUTHENTICATIONFAILED] Authentication failed\r\n");
                send(&mut conn.stream, reply.as_bytes()).await?;
                return Ok(None);
            }
        }
    }
}

/// Checks the credentials with Madang, signs in upstream and answers the login command.
#[allow(clippy::too_many_arguments)]
async fn attempt(
    proxy: &MailProxy,
    conn: &mut Conn,
    reader: &mut Reader,
    deadline: tokio::time::Instant,
    tag: &str,
    credentials: &Credentials,
    mechanism: Option<Mechanism>,
    asked_capability: bool,
) -> std::io::Result<Option<(Login, Upstream)>> {
    let (name, secret) = match credentials {
        Credentials::Password { user, password } => (user.as_str(), Secret::Password(password)),
        Credentials::Bearer { user, token } => (user.as_str(), Secret::Bearer(token)),
    };
    let result = proxy.login(name, secret, conn.peer.ip(), "imap").await;
    let login = match result {
        Ok(login) => login,
        Err(e) => {
            if e == LoginError::Failed && matches!(mechanism, Some(Mechanism::OAuthBearer | Mechanism::XOAuth2)) {
                // RFC 7628 §3.2.2: a refused token gets an error challenge, which the client
                // answers (with %x01, or anything) before the NO.
                send(&mut conn.stream, format!("+ {BEARER_ERROR}\r\n").as_bytes()).await?;
                loop {
                    match reader.line() {
                        Read::Ready(_) => break,
                        Read::NeedMore => {
                            if !fill(&mut conn.stream, reader, deadline).await? {
                                return Err(std::io::ErrorKind::UnexpectedEof.into());
                            }
                        }
                        _ => return Err(std::io::ErrorKind::InvalidData.into()),
                    }
                }
            }
            send(&mut conn.stream, refusal(tag, &e).as_bytes()).await?;
            return Ok(None);
        }
    };
    let upstream = match imap_upstream::open(proxy.mail(), login.user.id, &login.account).await {
        Ok(u) => u,
        Err(e) => {
            metrics::counter!("madang_mailproxy_upstream_failures_total", "protocol" => "imap", "reason" => e.kind())
                .increment(1);
            tracing::warn!(
                user = %login.user.username,
                account = login.account.id,
                kind = e.kind(),
                detail = %e.detail(),
                "imap upstream login failed"
            );
            send(&mut conn.stream, upstream_refusal(tag, &e).as_bytes()).await?;
            return Ok(None);
        }
    };
    let caps = relayed_capabilities(&upstream.capabilities);
    let mut reply = String::new();
    if asked_capability {
        reply.push_str(&format!("* CAPABILITY {caps}\r\n"));
    }
    reply.push_str(&format!("{tag} OK [CAPABILITY {caps}] Logged in\r\n"));
    send(&mut conn.stream, reply.as_bytes()).await?;
    tracing::info!(user = %login.user.username, account = login.account.id, peer = %conn.peer, "imap session relayed");
    Ok(Some((login, upstream)))
}

/// The answer to a refused login (CLIENTS.md "IMAP failure codes", RFC 5530 codes).
fn refusal(tag: &str, e: &LoginError) -> String {
    match e {
        LoginError::Failed => format!("{tag} NO [AUTHENTICATIONFAILED] Authentication failed\r\n"),
        // Throttled logins are not checked, so Madang cannot say the password was wrong; TB
        // shows an [UNAVAILABLE] text without asking for a new password, so a device whose
        // password is right is not made to forget it while someone else is being throttled.
        LoginError::Throttled(wait) => {
            format!("{tag} NO [UNAVAILABLE] Too many failed logins; try again in {} seconds\r\n", wait.as_secs().max(1))
        }
        // The password was right, but nothing to relay to: a permanent refusal of this name.
        LoginError::NoAccount(why) => format!("{tag} NO [AUTHORIZATIONFAILED] {why}\r\n"),
        LoginError::TooManySessions => format!("{tag} NO [LIMIT] Too many open sessions for this user\r\n"),
        LoginError::MailOff => format!("{tag} NO [UNAVAILABLE] Mail is turned off on this server\r\n"),
        LoginError::Unavailable => {
            format!("{tag} NO [UNAVAILABLE] Madang cannot check logins now; try again later\r\n")
        }
    }
}

/// The answer when the linked account's server could not be reached or refused Madang: never
/// the server's own words (CLIENTS.md "Upstream failure text").
fn upstream_refusal(tag: &str, e: &UpstreamError) -> String {
    let text = match e {
        UpstreamError::Unreachable(_) => "The linked mail server cannot be reached; try again later",
        UpstreamError::Tls(_) => "The linked mail server's certificate could not be verified",
        UpstreamError::Refused(_) => "The linked mail server refused Madang's login; check the account in Madang",
    };
    format!("{tag} NO [UNAVAILABLE] {text}\r\n")
}

/// Where the server→client stream is: at a response boundary, inside a line, or inside a literal
/// (RFC 9051 §4.3 `{n}` at the end of a line announces n bytes). Only for saying `BYE` where
/// it cannot split a response; the bytes themselves pass untouched.
#[derive(Debug, Default)]
pub struct Boundary {
    /// Literal bytes still to come.
    literal: u64,
    /// Inside a line (false: at a boundary between responses).
    in_line: bool,
    /// The number of a `{n}` or `{n+}` just read at the current end of the line.
    marker: Marker,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Marker {
    #[default]
    None,
    /// After `{`, digits so far.
    Digits(u64),
    /// After `{n+`.
    Plus(u64),
    /// After `}`.
    Closed(u64),
    /// After `}` CR.
    ClosedCr(u64),
}

impl Boundary {
    pub fn at_boundary(&self) -> bool {
        self.literal == 0 && !self.in_line
    }

    /// Advances over `bytes`; returns the offset just after the first boundary reached inside
    /// them, if any (a literal's end does not count: its line continues).
    pub fn advance(&mut self, bytes: &[u8]) -> Option<usize> {
        let mut first = None;
        let mut i = 0;
        while i < bytes.len() {
            if self.literal > 0 {
                let take = (bytes.len() - i).min(usize::try_from(self.literal).unwrap_or(usize::MAX));
                self.literal -= take as u64;
                i += take;
                continue;
            }
            let b = bytes[i];
            i += 1;
            self.in_line = true;
            self.marker = match (self.marker, b) {
                (_, b'{') => Marker::Digits(0),
                (Marker::Digits(n), b'0'..=b'9') => {
                    Marker::Digits(n.saturating_mul(10).saturating_add(u64::from(b - b'0')))
                }
                (Marker::Digits(n), b'+') => Marker::Plus(n),
                (Marker::Digits(n) | Marker::Plus(n), b'}') => Marker::Closed(n),
                (Marker::Closed(n), b'\r') => Marker::ClosedCr(n),
                (Marker::Closed(n) | Marker::ClosedCr(n), b'\n') => {
                    self.literal = n;
                    Marker::None
                }
                (_, b'\n') => {
                    self.in_line = false;
                    if first.is_none() {
                        first = Some(i);
                    }
                    Marker::None
                }
                _ => Marker::None,
            };
        }
        first
    }
}

/// How a relayed session ended (for the log).
#[derive(Debug)]
enum End {
    ClientClosed,
    UpstreamClosed,
    Idle,
    Shutdown,
    /// The credentials the session began with no longer stand, or mail was turned off
    /// (`MailProxy::revoked`).
    Revoked(super::Revoked),
    Error(std::io::Error),
}

fn millis(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Relays bytes both ways until either side closes, nothing moves for `idle_timeout` (in either
/// direction; no keep-alive is injected, CLIENTS.md "IDLE keep-alives"), the server shuts down, or
/// the device's app password is revoked (or its user disabled).
async fn relay(proxy: &Arc<MailProxy>, conn: Conn, login: Login, upstream: Upstream, pending_up: Vec<u8>) {
    let started = Instant::now();
    let idle = proxy.config.idle_timeout;
    let last = AtomicU64::new(0);
    let compressed = AtomicBool::new(false);
    let (mut client_read, mut client_write) = tokio::io::split(conn.stream);
    let (mut up_read, mut up_write) = tokio::io::split(upstream.stream);
    metrics::gauge!("madang_mailproxy_imap_sessions_open").increment(1.0);
    let mut boundary = Boundary::default();

    let up = async {
        if !pending_up.is_empty() {
            watch_compress(&pending_up, &compressed);
            up_write.write_all(&pending_up).await?;
            up_write.flush().await?;
        }
        let mut buf = vec![0u8; RELAY_BUFFER];
        loop {
            let n = client_read.read(&mut buf).await?;
            if n == 0 {
                return Ok::<End, std::io::Error>(End::ClientClosed);
            }
            last.store(millis(started), Ordering::Relaxed);
            metrics::counter!("madang_mailproxy_imap_bytes_total", "direction" => "up").increment(n as u64);
            watch_compress(&buf[..n], &compressed);
            up_write.write_all(&buf[..n]).await?;
            up_write.flush().await?;
        }
    };
    let down = async {
        if !upstream.pending.is_empty() {
            boundary.advance(&upstream.pending);
            client_write.write_all(&upstream.pending).await?;
            client_write.flush().await?;
        }
        let mut buf = vec![0u8; RELAY_BUFFER];
        let shutdown = proxy.shutting_down();
        tokio::pin!(shutdown);
        let revoked = proxy.revoked(&login);
        tokio::pin!(revoked);
        let mut ending: Option<(End, Instant)> = None;
        loop {
            let idle_at = started + Duration::from_millis(last.load(Ordering::Relaxed)) + idle;
            let grace = ending.as_ref().map(|(_, at)| *at).unwrap_or(idle_at);
            if let Some((why, _)) = ending.take_if(|_| boundary.at_boundary()) {
                return Ok(say_bye(&mut client_write, why, &compressed).await);
            }
            tokio::select! {
                read = up_read.read(&mut buf) => {
                    let n = read?;
                    if n == 0 {
                        return Ok::<End, std::io::Error>(End::UpstreamClosed);
                    }
                    last.store(millis(started), Ordering::Relaxed);
                    metrics::counter!("madang_mailproxy_imap_bytes_total", "direction" => "down").increment(n as u64);
                    let cut = boundary.advance(&buf[..n]);
                    match (&ending, cut) {
                        // Ending: pass the current response up to its end, then say BYE.
                        (Some(_), Some(at)) => {
                            client_write.write_all(&buf[..at]).await?;
                            let (why, _) = ending.take().unwrap_or((End::Shutdown, Instant::now()));
                            return Ok(say_bye(&mut client_write, why, &compressed).await);
                        }
                        _ => {
                            client_write.write_all(&buf[..n]).await?;
                            client_write.flush().await?;
                        }
                    }
                }
                () = &mut shutdown, if ending.is_none() => {
                    ending = Some((End::Shutdown, Instant::now() + SHUTDOWN_GRACE));
                }
                why = &mut revoked, if ending.is_none() => {
                    ending = Some((End::Revoked(why), Instant::now() + SHUTDOWN_GRACE));
                }
                () = tokio::time::sleep_until(grace.into()) => {
                    match ending.take() {
                        // The grace ran out inside a response: close without a BYE.
                        Some((why, _)) => return Ok(why),
                        None => {
                            let now_idle = started.elapsed().saturating_sub(Duration::from_millis(last.load(Ordering::Relaxed)));
                            if now_idle >= idle {
                                ending = Some((End::Idle, Instant::now() + SHUTDOWN_GRACE));
                            }
                        }
                    }
                }
            }
        }
    };
    let end = tokio::select! {
        r = up => r.unwrap_or_else(End::Error),
        r = down => r.unwrap_or_else(End::Error),
    };
    if matches!(end, End::Shutdown | End::Idle | End::Revoked(_) | End::ClientClosed)
        && !compressed.load(Ordering::Relaxed)
    {
        // A polite end upstream; it does not matter if the server is gone already.
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            up_write.write_all(b"MZ LOGOUT\r\n").await?;
            up_write.flush().await
        })
        .await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), client_write.shutdown()).await;
    metrics::gauge!("madang_mailproxy_imap_sessions_open").decrement(1.0);
    let end_label = match &end {
        End::ClientClosed => "client_closed",
        End::UpstreamClosed => "upstream_closed",
        End::Idle => "idle",
        End::Shutdown => "shutdown",
        End::Revoked(_) => "revoked",
        End::Error(_) => "error",
    };
    metrics::counter!("madang_mailproxy_imap_sessions_total", "end" => end_label).increment(1);
    if let End::Error(e) = &end {
        tracing::debug!(error = %e, "imap relay I/O error");
    }
    tracing::info!(
        user = %login.user.username,
        account = login.account.id,
        seconds = started.elapsed().as_secs(),
        end = ?end,
        "imap session ended"
    );
}

/// `* BYE` unless the stream is compressed (then Madang cannot speak in it: it just closes).
async fn say_bye<W: AsyncWrite + Unpin>(client: &mut W, why: End, compressed: &AtomicBool) -> End {
    if !compressed.load(Ordering::Relaxed) {
        let text: &[u8] = match why {
            End::Idle => b"* BYE Autologout; idle for too long\r\n",
            End::Revoked(super::Revoked::Credentials) => b"* BYE This device's access was revoked; sign in again\r\n",
            End::Revoked(super::Revoked::MailOff) => b"* BYE Mail is turned off on this server\r\n",
            _ => b"* BYE Madang is shutting down\r\n",
        };
        let _ = client.write_all(text).await;
        let _ = client.flush().await;
    }
    why
}

/// Notes a `COMPRESS DEFLATE` command (RFC 4978) from the client: from its answer on, the
/// stream is deflated and Madang can no longer say `BYE` in it. A cheap look at each read, not a
/// parse: a false positive only costs a BYE.
fn watch_compress(bytes: &[u8], compressed: &AtomicBool) {
    if compressed.load(Ordering::Relaxed) {
        return;
    }
    const NEEDLE: &[u8] = b" COMPRESS DEFLATE";
    if bytes.windows(NEEDLE.len()).any(|w| w.eq_ignore_ascii_case(NEEDLE)) {
        compressed.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_skip_literals() {
        let mut b = Boundary::default();
        assert!(b.at_boundary());
        assert_eq!(b.advance(b"* 1 FETCH (BODY[] {5}\r\nab\r\n"), None);
        assert!(!b.at_boundary());
        assert_eq!(b.advance(b"c)\r\n* OK"), Some(4));
        assert!(!b.at_boundary());
        assert_eq!(b.advance(b" x\r\n"), Some(4));
        assert!(b.at_boundary());
        // A literal with `{n+}` and one split across reads.
        let mut b = Boundary::default();
        assert_eq!(b.advance(b"* X {1"), None);
        assert_eq!(b.advance(b"0}\r"), None);
        assert_eq!(b.advance(b"\n0123456789\r\n"), Some(13));
        assert!(b.at_boundary());
        // Braces that are not a literal at the end of a line.
        let mut b = Boundary::default();
        assert_eq!(b.advance(b"* OK {5} not a literal\r\n"), Some(24));
        assert!(b.at_boundary());
    }

    #[test]
    fn relayed_capabilities_drop_what_madang_answered() {
        let up: Vec<String> = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE STARTTLS AUTH=PLAIN auth=xoauth2 LOGINDISABLED COMPRESS=DEFLATE"
            .split(' ')
            .map(str::to_string)
            .collect();
        assert_eq!(relayed_capabilities(&up), "IMAP4rev1 LOGIN-REFERRALS ID ENABLE IDLE COMPRESS=DEFLATE");
    }

    #[test]
    fn compress_is_noticed() {
        let flag = AtomicBool::new(false);
        watch_compress(b"a1 NOOP\r\n", &flag);
        assert!(!flag.load(Ordering::Relaxed));
        watch_compress(b"7 compress deflate\r\n", &flag);
        assert!(flag.load(Ordering::Relaxed));
    }
}
