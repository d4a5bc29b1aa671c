//! Relaying a mail app's submission through the linked account's own submission server
//! (RFC 6409): Madang's SMTP listener (`mailproxy::smtp`) hands over the envelope and the message
//! bytes exactly as the app sent them, and this speaks SMTP upstream with the account's stored
//! credentials, bringing back the upstream's final reply, its code and its words.
//!
//! Not lettre (which `send_smtp` uses for the web client's messages): lettre appends a CRLF of
//! its own before the terminating dot and hides the upstream's reply text in its errors, and a
//! relay must change no byte and must pass a refusal on as the upstream worded it.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use madang_mail::smtp_submit::{ServerReply, dot_stuff, parse_reply_line};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

use super::connect::{Connector, Credential, Endpoint, Failure, Security, Step};
use super::{MailError, MailService};
use crate::domain::UserId;
use crate::store::mail::MailAccountRow;

/// RFC 5321 §4.5.3.2.6: a client waits up to 10 minutes for the reply to the end of DATA (the
/// server may be scanning the message).
const DATA_TIMEOUT: Duration = Duration::from_secs(600);
/// One reply line from upstream: RFC 5321 §4.5.3.1.5 allows 512; Microsoft's are longer.
const MAX_REPLY_LINE: u64 = 4096;
/// Lines in one reply (an EHLO answer has a dozen).
const MAX_REPLY_LINES: usize = 100;

/// One transaction to relay.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// The reverse-path, already checked against the account.
    pub from: String,
    pub to: Vec<String>,
    /// The app said `BODY=8BITMIME` (RFC 6152).
    pub eight_bit: bool,
}

/// Why a relay did not end in a 2xx.
#[derive(Debug)]
pub enum RelayError {
    /// The upstream could not be reached, secured or signed in to: the app should retry later
    /// (Madang answers 4xx), and the text is Madang's, not the upstream's.
    Upstream(Failure),
    /// The upstream refused the transaction (MAIL, a RCPT, DATA or the message): its reply, to
    /// be passed on with its class (4xx stays 4xx, 5xx stays 5xx).
    Refused(ServerReply),
    /// The account's credentials could not be opened or refreshed.
    Account(MailError),
}

impl MailService {
    /// Relays one transaction from `user`'s account `account`. The row is read again here, not
    /// taken from the login: a session may be long, and meanwhile the account may have been
    /// changed, unlinked, or its OAuth tokens rotated. An OAuth account whose token the
    /// upstream refuses is refreshed once and tried again (the token may have been revoked or
    /// expired early).
    pub async fn relay(
        &self,
        user: UserId,
        account: i64,
        helo: &str,
        envelope: &Envelope,
        message: &[u8],
    ) -> Result<ServerReply, RelayError> {
        let account: MailAccountRow =
            self.store.mail_account(user, account).await.map_err(|e| RelayError::Account(e.into()))?;
        let account = &account;
        let endpoint = Endpoint {
            host: account.smtp_host.clone(),
            port: u16::try_from(account.smtp_port).unwrap_or(0),
            security: Security::parse(&account.smtp_security).unwrap_or(Security::Tls),
        };
        let mut stale = false;
        loop {
            let credential = self.credential_of(user, account, stale).await.map_err(RelayError::Account)?;
            match self.connector.relay_smtp(&endpoint, helo, &account.username, &credential, envelope, message).await {
                Err(RelayError::Upstream(f))
                    if f.step == Step::Authentication && !stale && matches!(credential, Credential::Bearer(_)) =>
                {
                    stale = true;
                }
                other => return other,
            }
        }
    }
}

/// An SMTP conversation with the upstream.
struct Upstream<S> {
    io: BufReader<S>,
    timeout: Duration,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Upstream<S> {
    async fn reply_within(&mut self, timeout: Duration) -> Result<ServerReply, Failure> {
        let read = async {
            let mut lines = Vec::new();
            loop {
                let mut line = Vec::new();
                (&mut self.io).take(MAX_REPLY_LINE).read_until(b'\n', &mut line).await?;
                if line.is_empty() {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the server closed the connection",
                    ));
                }
                let Some((code, more, text)) = parse_reply_line(&line) else {
                    return Err(std::io::Error::other("the server's reply is not SMTP"));
                };
                lines.push(text);
                if !more {
                    return Ok(ServerReply { code, lines });
                }
                if lines.len() >= MAX_REPLY_LINES {
                    return Err(std::io::Error::other("the server's reply is too long"));
                }
            }
        };
        match tokio::time::timeout(timeout, read).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(e)) => Err(Failure::new(Step::Protocol, e.to_string())),
            Err(_) => Err(Failure::new(Step::Protocol, format!("no answer within {} s", timeout.as_secs()))),
        }
    }

    async fn reply(&mut self) -> Result<ServerReply, Failure> {
        self.reply_within(self.timeout).await
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        let write = async {
            self.io.get_mut().write_all(bytes).await?;
            self.io.get_mut().flush().await
        };
        match tokio::time::timeout(self.timeout.max(DATA_TIMEOUT), write).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Failure::new(Step::Protocol, e.to_string())),
            Err(_) => Err(Failure::new(Step::Protocol, "the server stopped reading")),
        }
    }

    async fn command(&mut self, line: &str) -> Result<ServerReply, Failure> {
        self.send(format!("{line}\r\n").as_bytes()).await?;
        self.reply().await
    }

    /// The greeting and EHLO: the extensions, upper case (RFC 5321 §4.1.1.1).
    async fn hello(&mut self, helo: &str, greeted: bool) -> Result<Vec<String>, Failure> {
        if !greeted {
            let greeting = self.reply().await?;
            if greeting.code != 220 {
                return Err(Failure::new(
                    Step::Protocol,
                    format!("greeting {} {}", greeting.code, greeting.lines.join(" ")),
                ));
            }
        }
        let ehlo = self.command(&format!("EHLO {helo}")).await?;
        if ehlo.code != 250 {
            return Err(Failure::new(Step::Protocol, format!("EHLO refused: {}", ehlo.code)));
        }
        Ok(ehlo.lines.iter().skip(1).map(|l| l.to_ascii_uppercase()).collect())
    }
}

fn has(extensions: &[String], name: &str) -> bool {
    extensions.iter().any(|e| e.split(' ').next() == Some(name))
}

fn auth_mechanisms(extensions: &[String]) -> Vec<String> {
    extensions
        .iter()
        .filter_map(|e| e.strip_prefix("AUTH ").or_else(|| e.strip_prefix("AUTH=")))
        .flat_map(|m| m.split(' ').map(str::to_string))
        .collect()
}

impl Connector {
    /// Connects to the submission server, secures the connection, signs in and relays one
    /// transaction; the final reply when the upstream took the message.
    pub async fn relay_smtp(
        &self,
        endpoint: &Endpoint,
        helo: &str,
        username: &str,
        credential: &Credential,
        envelope: &Envelope,
        message: &[u8],
    ) -> Result<ServerReply, RelayError> {
        let _place = self.global_place().await.map_err(RelayError::Upstream)?;
        let (tcp, _) = self.tcp(endpoint).await.map_err(RelayError::Upstream)?;
        let timeout = self.timeout();
        match endpoint.security {
            Security::Tls => {
                let tls = self.tls(&endpoint.host, tcp).await.map_err(RelayError::Upstream)?;
                let mut up = Upstream { io: BufReader::new(tls), timeout };
                let extensions = up.hello(helo, false).await.map_err(RelayError::Upstream)?;
                transaction(&mut up, endpoint, &extensions, username, credential, envelope, message).await
            }
            Security::Plain => {
                let mut up = Upstream { io: BufReader::new(tcp), timeout };
                let extensions = up.hello(helo, false).await.map_err(RelayError::Upstream)?;
                transaction(&mut up, endpoint, &extensions, username, credential, envelope, message).await
            }
            Security::Starttls => {
                let mut plain = Upstream { io: BufReader::new(tcp), timeout };
                let extensions = plain.hello(helo, false).await.map_err(RelayError::Upstream)?;
                if !has(&extensions, "STARTTLS") {
                    return Err(RelayError::Upstream(Failure::new(
                        Step::Capability,
                        "the server does not offer STARTTLS",
                    )));
                }
                let reply = plain.command("STARTTLS").await.map_err(RelayError::Upstream)?;
                if reply.code != 220 {
                    return Err(RelayError::Upstream(Failure::new(
                        Step::Capability,
                        format!("STARTTLS refused: {}", reply.code),
                    )));
                }
                // Whatever the server sent after its 220 is dropped with the buffer (RFC 3207 §4.2).
                let tls = self.tls(&endpoint.host, plain.io.into_inner()).await.map_err(RelayError::Upstream)?;
                let mut up = Upstream { io: BufReader::new(tls), timeout };
                let extensions = up.hello(helo, true).await.map_err(RelayError::Upstream)?;
                transaction(&mut up, endpoint, &extensions, username, credential, envelope, message).await
            }
        }
    }
}

/// AUTH (RFC 4954), then MAIL, RCPT, DATA.
async fn transaction<S: AsyncRead + AsyncWrite + Unpin>(
    up: &mut Upstream<S>,
    endpoint: &Endpoint,
    extensions: &[String],
    username: &str,
    credential: &Credential,
    envelope: &Envelope,
    message: &[u8],
) -> Result<ServerReply, RelayError> {
    authenticate(up, endpoint, extensions, username, credential).await.map_err(RelayError::Upstream)?;
    let mut mail = format!("MAIL FROM:<{}>", envelope.from);
    if has(extensions, "SIZE") {
        mail.push_str(&format!(" SIZE={}", message.len()));
    }
    if envelope.eight_bit {
        if !has(extensions, "8BITMIME") {
            // RFC 6152 §3: 8-bit content must not go to a server that did not offer 8BITMIME,
            // and a relay that converts would change the bytes.
            return Err(RelayError::Refused(ServerReply {
                code: 554,
                lines: vec!["5.6.3 The linked account's server does not take 8-bit messages".into()],
            }));
        }
        mail.push_str(" BODY=8BITMIME");
    }
    let step = RelayError::Upstream;
    let reply = up.command(&mail).await.map_err(step)?;
    if reply.code != 250 {
        return Err(refused(reply));
    }
    for to in &envelope.to {
        let reply = up.command(&format!("RCPT TO:<{to}>")).await.map_err(step)?;
        if !(250..=251).contains(&reply.code) {
            // The app was told 250 for each RCPT (the relay runs after DATA), so one refused
            // recipient refuses the whole message, naming who: nothing was sent, and a retry
            // without that address goes to everyone else once.
            let _ = up.command("RSET").await;
            let _ = up.command("QUIT").await;
            let mut lines = reply.lines.clone();
            if let Some(first) = lines.first_mut() {
                *first = format!("{first} (<{to}>)");
            }
            return Err(refused(ServerReply { code: reply.code, lines }));
        }
    }
    let reply = up.command("DATA").await.map_err(step)?;
    if reply.code != 354 {
        return Err(refused(reply));
    }
    up.send(&dot_stuff(message)).await.map_err(step)?;
    let reply = up.reply_within(DATA_TIMEOUT).await.map_err(step)?;
    // The message is handed over or refused either way; QUIT's reply changes nothing.
    let _ = tokio::time::timeout(Duration::from_secs(2), up.command("QUIT")).await;
    if (200..300).contains(&reply.code) { Ok(reply) } else { Err(refused(reply)) }
}

/// A reply that was not the one the step needed: passed on when it is a refusal (4xx, 5xx);
/// anything else (a 2xx or 3xx out of place) is a server Madang cannot follow, never a reply
/// the app could take for success while nothing was sent.
fn refused(reply: ServerReply) -> RelayError {
    if reply.code >= 400 {
        RelayError::Refused(reply)
    } else {
        RelayError::Upstream(Failure::new(Step::Protocol, format!("unexpected reply {}", reply.code)))
    }
}

async fn authenticate<S: AsyncRead + AsyncWrite + Unpin>(
    up: &mut Upstream<S>,
    endpoint: &Endpoint,
    extensions: &[String],
    username: &str,
    credential: &Credential,
) -> Result<(), Failure> {
    let mechanisms = auth_mechanisms(extensions);
    let offered = |m: &str| mechanisms.iter().any(|x| x == m);
    let refused = |r: ServerReply| {
        // The upstream's words about a refused login are not passed on (user enumeration on a
        // third party's server); the code says enough for the log.
        Failure::new(Step::Authentication, format!("the server refused the login ({})", r.code))
    };
    let reply = match credential {
        Credential::Password(password) if offered("PLAIN") || !offered("LOGIN") => {
            let response = STANDARD.encode(format!("\0{username}\0{password}"));
            up.command(&format!("AUTH PLAIN {response}")).await?
        }
        Credential::Password(password) => {
            let first = up.command("AUTH LOGIN").await?;
            if first.code != 334 {
                return Err(refused(first));
            }
            let second = up.command(&STANDARD.encode(username)).await?;
            if second.code != 334 {
                return Err(refused(second));
            }
            up.command(&STANDARD.encode(password)).await?
        }
        Credential::Bearer(token) => {
            let (name, response) =
                super::connect::bearer_mechanism(&mechanisms, username, &endpoint.host, endpoint.port, token);
            let mut reply = up.command(&format!("AUTH {name} {}", STANDARD.encode(response))).await?;
            if reply.code == 334 {
                // The error challenge (RFC 7628 §3.2.2; XOAUTH2 likewise): end the exchange to
                // get the final reply.
                let end = if name == "OAUTHBEARER" { STANDARD.encode("\x01") } else { String::new() };
                reply = up.command(&end).await?;
            }
            reply
        }
    };
    if reply.code == 235 { Ok(()) } else { Err(refused(reply)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_and_mechanisms() {
        let ext: Vec<String> =
            ["PIPELINING", "SIZE 100", "AUTH PLAIN LOGIN", "AUTH=XOAUTH2", "8BITMIME"].map(String::from).to_vec();
        assert!(has(&ext, "SIZE") && has(&ext, "8BITMIME") && !has(&ext, "STARTTLS"));
        assert_eq!(auth_mechanisms(&ext), ["PLAIN", "LOGIN", "XOAUTH2"]);
    }

    #[test]
    fn only_refusals_are_passed_on() {
        let reply = |code| ServerReply { code, lines: vec!["x".into()] };
        assert!(matches!(refused(reply(550)), RelayError::Refused(r) if r.code == 550));
        assert!(matches!(refused(reply(421)), RelayError::Refused(r) if r.code == 421));
        // A 250 to DATA (no 354) must not reach the app as if the message had been taken.
        for code in [250, 252, 354] {
            assert!(matches!(refused(reply(code)), RelayError::Upstream(f) if f.step == Step::Protocol), "{code}");
        }
    }
}
