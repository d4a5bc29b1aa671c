//! The SMTP submission listener (RFC 6409 / 4954): Madang's own EHLO and AUTH, then each
//! transaction relayed through the linked account's submission server.
//!
//! Madang answers MAIL and RCPT itself (the sender must be the linked account's address, so no
//! one sends as anyone else, and nothing is relayed unauthenticated), reads the message
//! (`madang_mail::smtp_submit::DataReader`, never more than `mailproxy.max_message_size`), and
//! only after the terminating dot opens the upstream connection and replays the transaction
//! there (`MailService::relay`). The app gets the upstream's final reply; upstream trouble
//! (unreachable, TLS, Madang's sign-in refused) is a 4xx so the app keeps the message and
//! retries, as CLIENTS.md asks ("accept AUTH locally and answer 4xx").
//!
//! Sent copies: the web client files a copy of what it sends into Sent (`mail::send`), because
//! nobody else will. A native app saves its own Sent copy over IMAP after submitting (Thunderbird,
//! K-9/Thunderbird for Android, FairEmail, Apple Mail all do), so Madang adds none here: a
//! second copy would be a duplicate in every app's Sent folder.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use madang_mail::sasl::{Credentials, Mechanism, OAUTHBEARER_ERROR, Sasl, SaslStep, encode_challenge};
use madang_mail::smtp_submit::{Body, Command, DataReader, Line, Lines, Reply, ServerReply, parse_command};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::listen::{Conn, Kind};
use super::{Login, LoginError, MailProxy, Secret};
use crate::mail::relay::{Envelope, RelayError};

/// Recipients of one message. RFC 5321 §4.5.3.1.8 asks a server to take at least 100; more is
/// what a spam run looks like, and a mailing to more people belongs in a list manager. The
/// 101st gets 452 4.5.3, which clients answer by sending the rest in another transaction.
pub const MAX_RECIPIENTS: usize = 100;

/// Failed AUTH commands on one connection before it is closed: Thunderbird makes up to three
/// with one wrong password (CLIENTS.md); past five the connection is only guessing.
const MAX_AUTH_FAILURES: u32 = 5;

/// Command lines refused as unknown, malformed or too long before the connection is closed
/// (`421 4.7.0`): a real mail app makes none, while another protocol spoken at the port (an
/// HTTP request, ALPACA-style cross-protocol traffic) makes one per line.
const MAX_BAD_COMMANDS: u32 = 20;

/// How long a read for more bytes may take while the session is idle or logging in.
fn read_timeout(proxy: &MailProxy, logged_in: bool) -> Duration {
    if logged_in { proxy.config().idle_timeout } else { proxy.config().login_timeout }
}

/// What ends a session early.
enum End {
    /// The client left, or the connection broke: nothing more to say.
    Gone,
    /// Say this (421) and close.
    Say(Reply),
}

impl From<std::io::Error> for End {
    fn from(_: std::io::Error) -> End {
        End::Gone
    }
}

/// One message being put together.
struct Transaction {
    from: String,
    to: Vec<String>,
    body: Option<Body>,
}

struct Session {
    proxy: Arc<MailProxy>,
    conn: Conn,
    lines: Lines,
    out: Vec<u8>,
    /// EHLO or HELO was said since the connection (or TLS) began (RFC 5321 §4.1.4).
    greeted: bool,
    login: Option<Login>,
    transaction: Option<Transaction>,
    auth_failures: u32,
    bad_commands: u32,
}

/// Serves one SMTP submission connection until it ends.
pub async fn serve(proxy: Arc<MailProxy>, conn: Conn) {
    let max_line = proxy.config().max_command_size;
    let mut session = Session {
        proxy,
        conn,
        lines: Lines::new(max_line),
        out: Vec::new(),
        greeted: false,
        login: None,
        transaction: None,
        auth_failures: 0,
        bad_commands: 0,
    };
    let greeting = Reply::plain(220, vec![format!("{} ESMTP Madang", session.proxy.config().hostname)]);
    session.say(greeting);
    let end = session.run().await;
    if let Err(End::Say(reply)) = end {
        session.say(reply);
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        let _ = session.flush().await;
        let _ = session.conn.stream.shutdown().await;
    })
    .await;
}

fn reply(code: u16, status: &str, text: impl Into<String>) -> Reply {
    Reply::new(code, status, text)
}

impl Session {
    fn say(&mut self, reply: Reply) {
        self.out.extend_from_slice(&reply.to_bytes());
    }

    /// Sends the replies waiting. A client that stops reading (its window full) is given up
    /// after the same time as one that stops writing, so it cannot hold its place forever.
    async fn flush(&mut self) -> std::io::Result<()> {
        if !self.out.is_empty() {
            let out = std::mem::take(&mut self.out);
            let timeout = read_timeout(&self.proxy, self.login.is_some());
            let write = async {
                self.conn.stream.write_all(&out).await?;
                self.conn.stream.flush().await
            };
            tokio::time::timeout(timeout, write)
                .await
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "the client stopped reading"))??;
        }
        Ok(())
    }

    fn client_ip(&self) -> IpAddr {
        self.conn.peer.ip()
    }

    /// Sends what is waiting, then reads more from the client; `Err` when the client left,
    /// took too long or the server is shutting down.
    async fn fill(&mut self) -> Result<(), End> {
        self.flush().await?;
        let mut buf = [0u8; 8192];
        let timeout = read_timeout(&self.proxy, self.login.is_some());
        let shutdown = self.proxy.shutting_down();
        let n = tokio::select! {
            read = tokio::time::timeout(timeout, self.conn.stream.read(&mut buf)) => match read {
                Ok(Ok(0)) | Ok(Err(_)) => return Err(End::Gone),
                Ok(Ok(n)) => n,
                Err(_) => return Err(End::Say(reply(421, "4.4.2", "Timeout; closing the connection"))),
            },
            () = shutdown => return Err(End::Say(reply(421, "4.3.2", "Server shutting down; try again later"))),
        };
        self.lines.push(&buf[..n]);
        Ok(())
    }

    /// The next command line; pipelined commands (RFC 2920) are answered in order, their
    /// replies sent together when the client's batch is used up.
    async fn next_line(&mut self) -> Result<Vec<u8>, End> {
        loop {
            match self.lines.next_line() {
                Line::Complete(line) => return Ok(line),
                // RFC 5321 §4.5.3.1.4 / §4.2.4.
                Line::TooLong => {
                    self.say(reply(500, "5.5.2", "Line too long"));
                    self.bad_command()?;
                }
                Line::Incomplete => self.fill().await?,
            }
        }
    }

    async fn run(&mut self) -> Result<(), End> {
        loop {
            let line = self.next_line().await?;
            match parse_command(&line) {
                Ok(command) => self.apply(command).await?,
                Err(refusal) => {
                    self.say(refusal);
                    self.bad_command()?;
                }
            }
        }
    }

    fn bad_command(&mut self) -> Result<(), End> {
        self.bad_commands += 1;
        if self.bad_commands >= MAX_BAD_COMMANDS {
            return Err(End::Say(reply(421, "4.7.0", "Too many errors; closing the connection")));
        }
        Ok(())
    }

    fn extensions(&self) -> Vec<String> {
        let config = self.proxy.config();
        let starttls = !self.conn.stream.is_tls() && self.conn.kind == Kind::Submission && self.conn.tls.is_some();
        ehlo_lines(&config.hostname, config.max_message_size, starttls, self.conn.may_log_in())
    }

    async fn apply(&mut self, command: Command) -> Result<(), End> {
        match command {
            Command::Ehlo(_) => {
                // RFC 5321 §4.1.4: EHLO also resets the transaction.
                self.transaction = None;
                self.greeted = true;
                let lines = self.extensions();
                self.say(Reply::plain(250, lines));
            }
            Command::Helo(_) => {
                self.transaction = None;
                self.greeted = true;
                let name = self.proxy.config().hostname.clone();
                self.say(Reply::plain(250, vec![name]));
            }
            Command::StartTls => return self.start_tls().await,
            Command::Auth { mechanism, initial } => return self.auth(mechanism, initial).await,
            Command::Mail { from, size, body } => self.mail(from, size, body),
            Command::Rcpt { to } => self.rcpt(to),
            Command::Data => return self.data().await,
            Command::Rset => {
                self.transaction = None;
                self.say(reply(250, "2.0.0", "OK"));
            }
            Command::Noop => self.say(reply(250, "2.0.0", "OK")),
            Command::Quit => return Err(End::Say(reply(221, "2.0.0", "Bye"))),
            // RFC 5321 §3.5.3: not verified, but the message will be taken.
            Command::Vrfy => {
                self.say(reply(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery"))
            }
            Command::Help => {
                self.say(reply(214, "2.0.0", "Madang mail submission (RFC 6409); see your mail app's help"))
            }
        }
        Ok(())
    }

    /// RFC 3207: the reply, then the handshake; whatever the client sent after STARTTLS in the
    /// clear is dropped (CVE-2011-0411), and everything learnt before is forgotten (§4.2).
    async fn start_tls(&mut self) -> Result<(), End> {
        if self.conn.stream.is_tls() {
            self.say(reply(503, "5.5.1", "TLS is already active"));
            return Ok(());
        }
        if self.conn.tls.is_none() || self.conn.kind != Kind::Submission {
            self.say(reply(502, "5.5.1", "STARTTLS is not offered here"));
            return Ok(());
        }
        self.say(reply(220, "2.0.0", "Ready to start TLS"));
        self.flush().await?;
        self.lines.clear();
        self.conn.start_tls(self.proxy.config().login_timeout).await.map_err(|_| End::Gone)?;
        self.greeted = false;
        self.login = None;
        self.transaction = None;
        Ok(())
    }

    /// Runs the SASL exchange (RFC 4954 §4) to its credentials: `Ok(None)` when the client
    /// cancelled with `*` or sent something that is not base64 (already answered 501),
    /// `Err(())` when the response decoded but is not what the mechanism lays out (PLAIN naming
    /// another user to act as, say): a failed login.
    async fn sasl(
        &mut self,
        mechanism: Mechanism,
        initial: Option<String>,
    ) -> Result<Option<Result<Credentials, ()>>, End> {
        let (mut sasl, mut step) = Sasl::start(mechanism, initial.as_deref().map(str::as_bytes));
        loop {
            step = match step {
                SaslStep::Challenge(text) => {
                    self.say(Reply::plain(334, vec![text.to_string()]));
                    let line = self.next_line().await?;
                    sasl.respond(line.trim_ascii())
                }
                SaslStep::Done(credentials) => return Ok(Some(Ok(credentials))),
                SaslStep::Cancelled => {
                    self.say(reply(501, "5.7.0", "Authentication cancelled"));
                    return Ok(None);
                }
                SaslStep::BadEncoding => {
                    self.say(reply(501, "5.5.2", "Cannot decode the response (base64 expected)"));
                    return Ok(None);
                }
                SaslStep::Malformed => return Ok(Some(Err(()))),
            };
        }
    }

    async fn auth(&mut self, mechanism: Mechanism, initial: Option<String>) -> Result<(), End> {
        if !self.greeted {
            self.say(reply(503, "5.5.1", "Send EHLO first"));
            return Ok(());
        }
        if self.login.is_some() {
            // RFC 4954 §4: one AUTH per session.
            self.say(reply(503, "5.5.1", "Already authenticated"));
            return Ok(());
        }
        if self.transaction.is_some() {
            self.say(reply(503, "5.5.1", "AUTH is not allowed during a mail transaction"));
            return Ok(());
        }
        if !self.conn.may_log_in() {
            // RFC 3207 §4: no credentials in the clear.
            self.say(reply(530, "5.7.0", "Must issue a STARTTLS command first"));
            return Ok(());
        }
        let Some(credentials) = self.sasl(mechanism, initial).await? else {
            return Ok(());
        };
        // No one submits as someone else: PLAIN with another authorization identity is refused
        // by `sasl::plain`, and answered like a wrong password.
        let result = match &credentials {
            Err(()) => Err(LoginError::Failed),
            Ok(Credentials::Password { user, password }) => {
                self.proxy.login(user, Secret::Password(password), self.client_ip(), "smtp").await
            }
            Ok(Credentials::Bearer { user, token }) => {
                self.proxy.login(user, Secret::Bearer(token), self.client_ip(), "smtp").await
            }
        };
        match result {
            Ok(login) => {
                tracing::info!(user = %login.user.username, account = login.account.id, "smtp login");
                self.login = Some(login);
                self.say(reply(235, "2.7.0", "Authentication successful"));
            }
            Err(e) => {
                if e == LoginError::Failed && matches!(mechanism, Mechanism::OAuthBearer | Mechanism::XOAuth2) {
                    // RFC 7628 §3.2.2: the error comes as a challenge the client answers (with
                    // %x01, or an empty line for XOAUTH2) before the final 535.
                    self.say(Reply::plain(334, vec![encode_challenge(OAUTHBEARER_ERROR.as_bytes())]));
                    let _ = self.next_line().await?;
                }
                self.say(login_refusal(&e));
                self.auth_failures += 1;
                if self.auth_failures >= MAX_AUTH_FAILURES {
                    return Err(End::Say(reply(421, "4.7.0", "Too many failed logins; closing the connection")));
                }
            }
        }
        Ok(())
    }

    fn mail(&mut self, from: String, size: Option<u64>, body: Option<Body>) {
        let Some(login) = &self.login else {
            // RFC 4954 §6: no open relay, and no unauthenticated submission (RFC 6409 §4.3).
            self.say(reply(530, "5.7.0", "Authentication required"));
            return;
        };
        if !self.greeted {
            self.say(reply(503, "5.5.1", "Send EHLO first"));
            return;
        }
        if self.transaction.is_some() {
            self.say(reply(503, "5.5.1", "Nested MAIL command"));
            return;
        }
        let max = self.proxy.config().max_message_size;
        if size.is_some_and(|s| s > max) {
            // RFC 1870 §6.1.
            self.say(reply(552, "5.3.4", format!("Message size exceeds fixed maximum message size ({max} bytes)")));
            return;
        }
        if !sender_allowed(&from, &login.account.email, self.proxy.config().senders_in_domain) {
            // RFC 6409 §6.1: a reverse-path the authenticated submitter may not use is refused
            // at MAIL with 550, and RFC 3463's 5.7.1 says it is not allowed rather than unknown.
            let account = login.account.email.clone();
            self.say(reply(550, "5.7.1", format!("Sender address rejected: this login sends as <{account}>")));
            return;
        }
        self.transaction = Some(Transaction { from, to: Vec::new(), body });
        self.say(reply(250, "2.1.0", "Sender OK"));
    }

    fn rcpt(&mut self, to: String) {
        let Some(transaction) = &mut self.transaction else {
            let refusal = if self.login.is_none() {
                reply(530, "5.7.0", "Authentication required")
            } else {
                reply(503, "5.5.1", "Send MAIL first")
            };
            self.say(refusal);
            return;
        };
        if transaction.to.len() >= MAX_RECIPIENTS {
            self.say(reply(452, "4.5.3", format!("Too many recipients (at most {MAX_RECIPIENTS} per message)")));
            return;
        }
        transaction.to.push(to);
        self.say(reply(250, "2.1.5", "Recipient OK"));
    }

    async fn data(&mut self) -> Result<(), End> {
        let Some(transaction) = self.transaction.take() else {
            let refusal = if self.login.is_none() {
                reply(530, "5.7.0", "Authentication required")
            } else {
                reply(503, "5.5.1", "Send MAIL first")
            };
            self.say(refusal);
            return Ok(());
        };
        if transaction.to.is_empty() {
            // RFC 2920 §3.1: DATA after refused recipients gets 554, and no 354.
            self.say(reply(554, "5.5.1", "No valid recipients"));
            return Ok(());
        }
        self.say(Reply::plain(354, vec!["End data with <CR><LF>.<CR><LF>".into()]));
        let max = usize::try_from(self.proxy.config().max_message_size).unwrap_or(usize::MAX);
        let mut reader = DataReader::new(max);
        let mut pending = self.lines.take();
        loop {
            if let Some(n) = reader.feed(&pending) {
                // What follows the dot is the next command, pipelined.
                self.lines.push(&pending[n..]);
                break;
            }
            self.fill().await?;
            pending = self.lines.take();
        }
        if reader.over_limit() {
            self.say(reply(552, "5.3.4", format!("Message size exceeds fixed maximum message size ({max} bytes)")));
            return Ok(());
        }
        if reader.bare_newline() {
            // RFC 5321 §2.3.8: lines end in CRLF. A bare CR or LF is refused rather than passed
            // on, where a server reading lines differently could see a second message in it
            // (SMTP smuggling).
            self.say(reply(554, "5.6.0", "Message contains a bare CR or LF; lines must end with CRLF"));
            return Ok(());
        }
        let message = reader.into_message();
        let answer = self.relay(&transaction, &message).await;
        self.say(answer);
        Ok(())
    }

    async fn relay(&mut self, transaction: &Transaction, message: &[u8]) -> Reply {
        let Some(login) = &self.login else { return reply(530, "5.7.0", "Authentication required") };
        // A device revoked (or mail turned off) since AUTH sends nothing more: each message is
        // checked as an IMAP session is every 30 s.
        let mail_on = self.proxy.mail_on().await;
        if !mail_on || matches!(self.proxy.still_valid(login).await, Ok(false)) {
            metrics::counter!("madang_mailproxy_submitted_total", "result" => "revoked").increment(1);
            return reply(535, "5.7.8", "This login is no longer valid; sign in again");
        }
        let envelope = Envelope {
            from: transaction.from.clone(),
            to: transaction.to.clone(),
            eight_bit: transaction.body == Some(Body::EightBitMime),
        };
        // The app waits for the final reply while the upstream takes the message; the session's
        // own timers do not run meanwhile, and a shutdown waits for the answer.
        let helo = self.proxy.config().hostname.clone();
        let result = self.proxy.mail().relay(login.user.id, login.account.id, &helo, &envelope, message).await;
        let account = login.account.id;
        match result {
            Ok(done) => {
                metrics::counter!("madang_mailproxy_submitted_total", "result" => "ok").increment(1);
                relayed(&done)
            }
            Err(RelayError::Refused(refused)) => {
                metrics::counter!("madang_mailproxy_submitted_total", "result" => "refused").increment(1);
                tracing::info!(account, code = refused.code, "upstream refused a submission");
                relayed(&refused)
            }
            Err(RelayError::Upstream(failure)) => {
                metrics::counter!("madang_mailproxy_submitted_total", "result" => "upstream").increment(1);
                tracing::warn!(account, step = ?failure.step, error = %failure.message, "submission relay failed");
                upstream_trouble(failure.step)
            }
            Err(RelayError::Account(crate::mail::MailError::NotFound)) => {
                metrics::counter!("madang_mailproxy_submitted_total", "result" => "account").increment(1);
                reply(550, "5.7.1", "The mail account of this login is no longer linked to Madang")
            }
            Err(RelayError::Account(e)) => {
                metrics::counter!("madang_mailproxy_submitted_total", "result" => "account").increment(1);
                tracing::warn!(account, error = %e, "submission relay: the account's credentials");
                reply(454, "4.7.0", format!("The linked account cannot be used now: {e}"))
            }
        }
    }
}

/// What the app is told when the upstream could not be reached or refused Madang's own login:
/// a 4xx, so the app keeps the message and retries (RFC 5321 §4.2.1); RFC 3463 4.4.x for
/// network trouble, 4.7.0 for the account's sign-in.
fn upstream_trouble(step: crate::mail::connect::Step) -> Reply {
    use crate::mail::connect::Step;
    match step {
        Step::Dns => reply(451, "4.4.3", "The linked account's mail server cannot be found now; try again later"),
        Step::Tcp | Step::Blocked => {
            reply(451, "4.4.1", "The linked account's mail server does not answer; try again later")
        }
        Step::Limit => reply(451, "4.4.5", "Too many connections to mail servers; try again shortly"),
        Step::Tls | Step::Protocol | Step::Capability => {
            reply(451, "4.4.2", "The connection to the linked account's mail server failed; try again later")
        }
        Step::Authentication => reply(
            454,
            "4.7.0",
            "The linked account's mail server refused Madang's sign-in; check the account in Madang",
        ),
    }
}

/// An upstream reply passed on: its code and words, with an enhanced status code of the same
/// class when the upstream gave none (Madang announced ENHANCEDSTATUSCODES, RFC 2034 §3).
fn relayed(upstream: &ServerReply) -> Reply {
    let lines: Vec<String> = upstream.lines.iter().map(|l| l.chars().take(500).collect()).collect();
    let has_status = lines.first().and_then(|l| l.split(' ').next()).is_some_and(is_status_code);
    if has_status {
        return Reply::plain(upstream.code, lines);
    }
    let class = upstream.code / 100;
    Reply { code: upstream.code, status: Some(format!("{class}.0.0")), lines }
}

fn is_status_code(word: &str) -> bool {
    let parts: Vec<&str> = word.split('.').collect();
    parts.len() == 3
        && matches!(parts[0], "2" | "4" | "5")
        && parts[1..].iter().all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// The EHLO reply's lines (RFC 5321 §4.1.1.1): STARTTLS while it can still be started, AUTH
/// only where a password may be sent (RFC 3207 §4, RFC 8314 §3: over TLS, or from this machine
/// for local tools), in space form because Thunderbird ignores `AUTH=` (CLIENTS.md).
fn ehlo_lines(hostname: &str, max_message_size: u64, starttls: bool, auth: bool) -> Vec<String> {
    let mut lines = vec![hostname.to_string()];
    if starttls {
        lines.push("STARTTLS".into());
    }
    if auth {
        lines.push("AUTH PLAIN LOGIN OAUTHBEARER XOAUTH2".into());
    }
    // RFC 1870 §4, RFC 6152, RFC 2920, RFC 2034.
    lines.push(format!("SIZE {max_message_size}"));
    lines.extend(["8BITMIME", "PIPELINING", "ENHANCEDSTATUSCODES"].map(String::from));
    lines
}

/// RFC 4954 §6 and RFC 3463 codes for a refused AUTH.
fn login_refusal(e: &LoginError) -> Reply {
    match e {
        LoginError::Failed => reply(535, "5.7.8", "Authentication credentials invalid"),
        // 454 rather than 535: the wait is temporary and says nothing about the password, and
        // K-9/Thunderbird for Android reads only 535 as "wrong password" (CLIENTS.md), so a
        // right password sent during the wait does not make it ask the user for another.
        LoginError::Throttled(wait) => {
            reply(454, "4.7.0", format!("Too many failed logins; try again in {} s", wait.as_secs().max(1)))
        }
        // 535 with the reason: the password was right but nothing can be sent with this login
        // until the user links an account, which no retry changes; the text says what to do.
        LoginError::NoAccount(why) => reply(535, "5.7.8", format!("{why}; link a mail account in Madang first")),
        LoginError::TooManySessions => reply(454, "4.7.0", "Too many open sessions for this user; try again later"),
        LoginError::Unavailable => reply(454, "4.7.0", "Temporary authentication failure; try again later"),
        LoginError::MailOff => reply(454, "4.7.0", "Mail is turned off on this server"),
    }
}

/// Whether `from` may be the reverse-path: the linked account's own address (case-insensitive),
/// or with `mailproxy.allowed_senders = domain` any address at its domain. The null path `<>`
/// is refused: a mail app never sends a bounce.
pub fn sender_allowed(from: &str, account: &str, in_domain: bool) -> bool {
    if from.is_empty() {
        return false;
    }
    if from.eq_ignore_ascii_case(account) {
        return true;
    }
    let domain = |a: &str| a.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase());
    in_domain && domain(from).is_some() && domain(from) == domain(account)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn senders_are_the_account_or_its_domain() {
        assert!(sender_allowed("Alice@Example.test", "alice@example.test", false));
        assert!(!sender_allowed("bob@example.test", "alice@example.test", false));
        assert!(sender_allowed("bob@EXAMPLE.test", "alice@example.test", true));
        assert!(!sender_allowed("bob@example.test.evil", "alice@example.test", true));
        assert!(!sender_allowed("", "alice@example.test", true));
    }

    #[test]
    fn ehlo_offers_auth_only_where_a_password_may_be_sent() {
        // 587 from another machine before TLS: STARTTLS and no AUTH (CLIENTS.md).
        let before = ehlo_lines("mail.example.com", 100, true, false);
        assert_eq!(
            before,
            ["mail.example.com", "STARTTLS", "SIZE 100", "8BITMIME", "PIPELINING", "ENHANCEDSTATUSCODES"]
        );
        // After TLS (or 465): AUTH in space form, no STARTTLS.
        let after = ehlo_lines("mail.example.com", 100, false, true);
        assert_eq!(after[1], "AUTH PLAIN LOGIN OAUTHBEARER XOAUTH2");
        assert!(!after.iter().any(|l| l == "STARTTLS" || l.starts_with("AUTH=")));
        let wire = madang_mail::smtp_submit::Reply::plain(250, after).to_bytes();
        assert!(
            wire.starts_with(b"250-mail.example.com\r\n250-AUTH PLAIN")
                && wire.ends_with(b"250 ENHANCEDSTATUSCODES\r\n")
        );
    }

    #[test]
    fn upstream_replies_keep_their_class_and_words() {
        let r = relayed(&ServerReply { code: 550, lines: vec!["5.1.1 <x@y>: no such user".into()] });
        assert_eq!(r.to_bytes(), b"550 5.1.1 <x@y>: no such user\r\n");
        let r = relayed(&ServerReply { code: 452, lines: vec!["mailbox full".into()] });
        assert_eq!(r.to_bytes(), b"452 4.0.0 mailbox full\r\n");
        let r = relayed(&ServerReply { code: 250, lines: vec!["2.0.0 Ok: queued as 1".into()] });
        assert_eq!(r.to_bytes(), b"250 2.0.0 Ok: queued as 1\r\n");
    }
}
