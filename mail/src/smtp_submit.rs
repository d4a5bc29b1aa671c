//! SMTP submission as Madang speaks it to mail apps (RFC 6409, RFC 5321), parse and write only:
//! bounded command lines, the commands a submission client sends (EHLO, STARTTLS, AUTH, MAIL,
//! RCPT, DATA, …), replies with enhanced status codes (RFC 3463, RFC 2034), the DATA reader that
//! undoes dot-stuffing (RFC 5321 §4.5.2) without ever holding more than the size limit, and the
//! SASL responses (PLAIN, LOGIN, OAUTHBEARER, XOAUTH2). No I/O: the session in `src/mailproxy`
//! feeds bytes in and writes what comes out.

pub use crate::sasl::{Credentials, Mechanism, OAUTHBEARER_ERROR, decode_response, encode_challenge};

/// One reply (RFC 5321 §4.2): a code, an enhanced status code (RFC 3463; `None` for the
/// greeting and EHLO, RFC 2034 §3), and one or more lines of text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub status: Option<String>,
    pub lines: Vec<String>,
}

impl Reply {
    /// A one-line reply with an enhanced status code.
    pub fn new(code: u16, status: &str, text: impl Into<String>) -> Reply {
        Reply { code, status: Some(status.to_string()), lines: vec![text.into()] }
    }

    /// A reply without an enhanced status code (the greeting, EHLO, `334` challenges).
    pub fn plain(code: u16, lines: Vec<String>) -> Reply {
        Reply { code, status: None, lines }
    }

    /// The wire form: `250-…` for every line but the last, `250 …` for the last (§4.2.1).
    /// Control characters in the text (an upstream's words relayed) become spaces, so a reply
    /// can never carry a line break of its own.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let lines: &[String] = if self.lines.is_empty() { &[String::new()] } else { &self.lines };
        for (i, line) in lines.iter().enumerate() {
            let sep = if i + 1 == lines.len() { ' ' } else { '-' };
            out.extend_from_slice(format!("{}{sep}", self.code).as_bytes());
            if let Some(status) = &self.status {
                out.extend_from_slice(status.as_bytes());
                if !line.is_empty() {
                    out.push(b' ');
                }
            }
            out.extend(line.bytes().map(|b| if b.is_ascii_control() { b' ' } else { b }));
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    /// Whether the code is 2xx or 3xx.
    pub fn is_positive(&self) -> bool {
        self.code < 400
    }
}

/// The `BODY=` parameter (RFC 6152).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    SevenBit,
    EightBitMime,
}

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// RFC 5321 §4.1.1.1. The domain or address literal is kept as sent and never checked:
    /// mail apps send placeholders (`ehlo.thunderbird.net`, `[127.0.0.1]`; CLIENTS.md).
    Ehlo(String),
    Helo(String),
    /// RFC 3207.
    StartTls,
    /// RFC 4954 §4: the mechanism and the initial response as sent (base64, or `=` for empty).
    Auth {
        mechanism: Mechanism,
        initial: Option<String>,
    },
    /// RFC 5321 §4.1.1.2; `from` is empty for the null reverse-path `<>`.
    Mail {
        from: String,
        size: Option<u64>,
        body: Option<Body>,
    },
    /// RFC 5321 §4.1.1.3.
    Rcpt {
        to: String,
    },
    Data,
    Rset,
    Noop,
    Quit,
    Vrfy,
    Help,
}

/// Why a line is not a command Madang takes, already worded as the reply.
pub type Refusal = Reply;

fn syntax(text: &str) -> Refusal {
    Reply::new(501, "5.5.4", text)
}

/// Parses one command line (without its CRLF).
pub fn parse_command(line: &[u8]) -> Result<Command, Refusal> {
    let Ok(line) = std::str::from_utf8(line) else {
        return Err(Reply::new(500, "5.5.2", "Command line is not UTF-8"));
    };
    if line.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
        return Err(Reply::new(500, "5.5.2", "Control characters in the command line"));
    }
    let (verb, rest) = match line.split_once(' ') {
        Some((v, r)) => (v, r.trim()),
        None => (line.trim_end(), ""),
    };
    let no_args = |c: Command| if rest.is_empty() { Ok(c) } else { Err(syntax("This command takes no arguments")) };
    match verb.to_ascii_uppercase().as_str() {
        "EHLO" | "HELO" => {
            // Anything non-empty: RFC 6409 §4.2 submission does no HELO checks.
            if rest.is_empty() || rest.contains(' ') {
                return Err(syntax("Syntax: EHLO domain-or-address-literal"));
            }
            Ok(if verb.eq_ignore_ascii_case("EHLO") { Command::Ehlo(rest.into()) } else { Command::Helo(rest.into()) })
        }
        "STARTTLS" => no_args(Command::StartTls),
        "AUTH" => {
            let mut words = rest.split(' ').filter(|w| !w.is_empty());
            let Some(name) = words.next() else { return Err(syntax("Syntax: AUTH mechanism [initial-response]")) };
            let Some(mechanism) = Mechanism::parse(name) else {
                return Err(Reply::new(504, "5.5.4", "Unrecognized authentication type"));
            };
            let initial = words.next().map(str::to_string);
            if words.next().is_some() {
                return Err(syntax("Syntax: AUTH mechanism [initial-response]"));
            }
            Ok(Command::Auth { mechanism, initial })
        }
        "MAIL" => {
            let Some(args) = strip_prefix_ci(rest, "FROM:") else { return Err(syntax("Syntax: MAIL FROM:<address>")) };
            let (from, params) = path(args.trim_start())?;
            let (mut size, mut body) = (None, None);
            for param in params.split(' ').filter(|p| !p.is_empty()) {
                let (key, value) = param.split_once('=').unwrap_or((param, ""));
                match key.to_ascii_uppercase().as_str() {
                    // RFC 1870 §3: at most 20 digits.
                    "SIZE" => match value.parse::<u64>() {
                        Ok(n) if value.len() <= 20 => size = Some(n),
                        _ => return Err(syntax("SIZE= takes a number")),
                    },
                    "BODY" => match value.to_ascii_uppercase().as_str() {
                        "7BIT" => body = Some(Body::SevenBit),
                        "8BITMIME" => body = Some(Body::EightBitMime),
                        _ => return Err(Reply::new(555, "5.5.4", "BODY= takes 7BIT or 8BITMIME")),
                    },
                    // RFC 4954 §5: AUTH=<> or the submitter; Madang knows who submits, so it
                    // is ignored, as the RFC allows for an untrusted value.
                    "AUTH" => {}
                    // RFC 5321 §4.1.1.11: unknown parameters get 555.
                    _ => return Err(Reply::new(555, "5.5.4", format!("Parameter {key} is not supported"))),
                }
            }
            Ok(Command::Mail { from, size, body })
        }
        "RCPT" => {
            let Some(args) = strip_prefix_ci(rest, "TO:") else { return Err(syntax("Syntax: RCPT TO:<address>")) };
            let (to, params) = path(args.trim_start())?;
            if to.is_empty() {
                return Err(syntax("A recipient is needed"));
            }
            if !params.trim().is_empty() {
                return Err(Reply::new(555, "5.5.4", "RCPT parameters are not supported"));
            }
            Ok(Command::Rcpt { to })
        }
        "DATA" => no_args(Command::Data),
        "RSET" => no_args(Command::Rset),
        // §4.1.1.9 and §4.1.1.8: NOOP and HELP may carry a string, which is ignored.
        "NOOP" => Ok(Command::Noop),
        "HELP" => Ok(Command::Help),
        "QUIT" => no_args(Command::Quit),
        "VRFY" => Ok(Command::Vrfy),
        _ => Err(Reply::new(500, "5.5.1", "Command not recognized")),
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &s[prefix.len()..])
}

/// A reverse- or forward-path `<local@domain>` (RFC 5321 §4.1.2) and what follows it. Source
/// routes (`<@a,@b:user@c>`, §4.1.2 says to accept and ignore them) are dropped.
fn path(s: &str) -> Result<(String, &str), Refusal> {
    let Some(inner) = s.strip_prefix('<') else { return Err(syntax("The address must be in <>")) };
    let Some(end) = inner.find('>') else { return Err(syntax("The address must be in <>")) };
    let (address, rest) = (&inner[..end], &inner[end + 1..]);
    if !rest.is_empty() && !rest.starts_with(' ') {
        return Err(syntax("A space must follow the address"));
    }
    let address = match address.rsplit_once(':') {
        Some((route, mailbox)) if route.starts_with('@') => mailbox,
        _ => address,
    };
    if address.is_empty() {
        return Ok((String::new(), rest));
    }
    if !is_mailbox(address) {
        return Err(Reply::new(553, "5.1.3", "The address is not a valid mailbox"));
    }
    Ok((address.to_string(), rest))
}

/// `local@domain`, both parts present, 254 bytes at most (RFC 5321 §4.5.3.1.3), ASCII only:
/// SMTPUTF8 is not offered. Quoted local parts are taken as they are.
pub fn is_mailbox(address: &str) -> bool {
    let Some((local, domain)) = address.rsplit_once('@') else { return false };
    !local.is_empty()
        && !domain.is_empty()
        && address.len() <= 254
        && address.bytes().all(|b| b.is_ascii_graphic() || (b == b' ' && local.starts_with('"')))
        && !domain.contains(['<', '>', '@', '"', ' '])
}

/// Reads CRLF-terminated lines out of what the client sent, no line longer than `max`
/// (RFC 5321 §4.5.3.1.4: 512 at least; Madang's is `mailproxy.max_command_size`).
#[derive(Debug)]
pub struct Lines {
    buf: Vec<u8>,
    max: usize,
    /// Inside a line that was already refused as too long: drop bytes up to its end.
    discarding: bool,
}

/// What [`Lines::next_line`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A complete line, CRLF (or a bare LF, which clients send) removed.
    Complete(Vec<u8>),
    /// A line over the limit, already dropped (the rest of it will be too).
    TooLong,
    /// No complete line yet: read more.
    Incomplete,
}

impl Lines {
    pub fn new(max: usize) -> Lines {
        Lines { buf: Vec::new(), max: max.max(512), discarding: false }
    }

    /// Adds bytes read from the client. The buffer never grows past `max` plus this read.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Whether nothing is waiting (a client that pipelines has sent the next command already).
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Drops everything received and not yet read: after STARTTLS, what came in the clear
    /// must not be read as if it came over TLS (RFC 3207 §4.2, CVE-2011-0411).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.discarding = false;
    }

    /// Hands over what is buffered (the start of a DATA body).
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    pub fn next_line(&mut self) -> Line {
        loop {
            match self.buf.iter().position(|&b| b == b'\n') {
                Some(end) => {
                    let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                    if self.discarding {
                        self.discarding = false;
                        continue;
                    }
                    line.pop();
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    if line.len() > self.max {
                        return Line::TooLong;
                    }
                    return Line::Complete(line);
                }
                None if self.buf.len() > self.max => {
                    self.buf.clear();
                    let first = !self.discarding;
                    self.discarding = true;
                    if first {
                        return Line::TooLong;
                    }
                    return Line::Incomplete;
                }
                None => return Line::Incomplete,
            }
        }
    }
}

/// Where the DATA reader is in the current line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// Right after CRLF (or at the very start).
    LineStart,
    Middle,
    /// After a CR in the middle of a line.
    Cr,
    /// After a `.` at the start of a line.
    Dot,
    /// After `.` CR at the start of a line.
    DotCr,
}

/// Reads a DATA body (RFC 5321 §4.1.1.4) up to the `CRLF.CRLF` that ends it, undoing
/// dot-stuffing (§4.5.2). Only CRLF ends a line here: a bare LF followed by `.` is message
/// content, never the end (SMTP smuggling), and is flagged so the session can refuse it before
/// a server that reads lines differently sees it.
#[derive(Debug)]
pub struct DataReader {
    at: At,
    body: Vec<u8>,
    max: usize,
    /// More than `max` bytes came; what came past it was counted and dropped.
    over: bool,
    bare_newline: bool,
}

impl DataReader {
    /// A reader that keeps at most `max` bytes of message.
    pub fn new(max: usize) -> DataReader {
        DataReader { at: At::LineStart, body: Vec::new(), max, over: false, bare_newline: false }
    }

    fn put(&mut self, b: u8) {
        if self.body.len() < self.max {
            self.body.push(b);
        } else {
            self.over = true;
        }
    }

    /// Reads `data`; `Some(n)` when the terminating `.` line ended after `n` of its bytes (what
    /// follows is the next command, pipelined).
    pub fn feed(&mut self, data: &[u8]) -> Option<usize> {
        for (i, &b) in data.iter().enumerate() {
            self.at = match (self.at, b) {
                (At::LineStart, b'.') => At::Dot,
                (At::Dot, b'\r') => At::DotCr,
                (At::DotCr, b'\n') => return Some(i + 1),
                (At::DotCr, b) => {
                    // `.` CR x: the dot was stuffing; the CR is a bare one.
                    self.bare_newline = true;
                    self.put(b'\r');
                    self.middle(b)
                }
                (At::Cr, b'\n') => {
                    self.put(b'\n');
                    At::LineStart
                }
                (At::Cr, b) => {
                    self.bare_newline = true;
                    self.middle(b)
                }
                // The leading dot of a stuffed line is dropped; the byte after it is content.
                (At::Dot | At::LineStart | At::Middle, b) => self.middle(b),
            };
        }
        None
    }

    fn middle(&mut self, b: u8) -> At {
        self.put(b);
        match b {
            b'\r' => At::Cr,
            b'\n' => {
                self.bare_newline = true;
                At::Middle
            }
            _ => At::Middle,
        }
    }

    /// Whether the message was longer than the limit (answer 552 after the terminator).
    pub fn over_limit(&self) -> bool {
        self.over
    }

    /// Whether a CR or LF came without its partner.
    pub fn bare_newline(&self) -> bool {
        self.bare_newline
    }

    /// The message as the client meant it (dot-stuffing undone), at most `max` bytes.
    pub fn into_message(self) -> Vec<u8> {
        self.body
    }
}

/// Dot-stuffs a message for sending (RFC 5321 §4.5.2) and appends the terminator; a message
/// that does not end in CRLF gets one first (the terminator's CRLF must start a line).
pub fn dot_stuff(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + message.len() / 64 + 5);
    let mut line_start = true;
    let mut prev = 0u8;
    for &b in message {
        if line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        line_start = prev == b'\r' && b == b'\n';
        prev = b;
    }
    if !message.is_empty() && !message.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// A reply read from a server (the relay's upstream): the code and the text of each line
/// (the enhanced status code, if any, kept as part of the text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerReply {
    pub code: u16,
    pub lines: Vec<String>,
}

/// Reads one reply line (`250-…` or `250 …`): the code, whether more lines follow, the text.
pub fn parse_reply_line(line: &[u8]) -> Option<(u16, bool, String)> {
    let line = String::from_utf8_lossy(line);
    let line = line.trim_end_matches(['\r', '\n']);
    let code = line.get(..3)?;
    if !code.bytes().all(|b| b.is_ascii_digit()) || !(200..600).contains(&code.parse::<u16>().ok()?) {
        return None;
    }
    let more = match line.as_bytes().get(3) {
        None | Some(b' ') => false,
        Some(b'-') => true,
        _ => return None,
    };
    Some((code.parse().ok()?, more, line.get(4..).unwrap_or("").to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Command, u16> {
        parse_command(s.as_bytes()).map_err(|r| r.code)
    }

    #[test]
    fn ehlo_takes_literals_and_placeholders() {
        for arg in ["[127.0.0.1]", "[IPv6:::1]", "ehlo.thunderbird.net", "dummy.faircode.eu", "x"] {
            assert_eq!(parse(&format!("EHLO {arg}")), Ok(Command::Ehlo(arg.into())));
        }
        assert_eq!(parse("helo localhost"), Ok(Command::Helo("localhost".into())));
        assert_eq!(parse("EHLO"), Err(501));
        assert_eq!(parse("EHLO a b"), Err(501));
    }

    #[test]
    fn auth_with_and_without_initial_response() {
        assert_eq!(parse("AUTH PLAIN"), Ok(Command::Auth { mechanism: Mechanism::Plain, initial: None }));
        assert_eq!(
            parse("auth plain AGFsaWNlAHB3"),
            Ok(Command::Auth { mechanism: Mechanism::Plain, initial: Some("AGFsaWNlAHB3".into()) })
        );
        assert_eq!(parse("AUTH PLAIN ="), Ok(Command::Auth { mechanism: Mechanism::Plain, initial: Some("=".into()) }));
        assert_eq!(parse("AUTH LOGIN"), Ok(Command::Auth { mechanism: Mechanism::Login, initial: None }));
        assert_eq!(
            parse("AUTH XOAUTH2 eA=="),
            Ok(Command::Auth { mechanism: Mechanism::XOAuth2, initial: Some("eA==".into()) })
        );
        assert_eq!(parse("AUTH OAUTHBEARER"), Ok(Command::Auth { mechanism: Mechanism::OAuthBearer, initial: None }));
        assert_eq!(parse("AUTH CRAM-MD5"), Err(504));
        assert_eq!(parse("AUTH"), Err(501));
        assert_eq!(parse("AUTH PLAIN a b"), Err(501));
    }

    #[test]
    fn mail_and_rcpt_paths_and_parameters() {
        assert_eq!(
            parse("MAIL FROM:<Kim@Example.com> SIZE=1000 BODY=8BITMIME"),
            Ok(Command::Mail { from: "Kim@Example.com".into(), size: Some(1000), body: Some(Body::EightBitMime) })
        );
        // A space after the colon, as some clients send it; the null sender.
        assert_eq!(parse("mail from: <>"), Ok(Command::Mail { from: String::new(), size: None, body: None }));
        assert_eq!(parse("MAIL FROM:<a@b> AUTH=<>"), Ok(Command::Mail { from: "a@b".into(), size: None, body: None }));
        assert_eq!(parse("MAIL FROM:<a@b> SIZE=x"), Err(501));
        assert_eq!(parse("MAIL FROM:<a@b> SIZE=123456789012345678901"), Err(501));
        assert_eq!(parse("MAIL FROM:<a@b> SMTPUTF8"), Err(555));
        assert_eq!(parse("MAIL FROM:<a@b> BODY=BINARYMIME"), Err(555));
        assert_eq!(parse("MAIL FROM:a@b"), Err(501));
        assert_eq!(parse("MAIL FROM:<a@b>x"), Err(501));
        assert_eq!(parse("MAIL FROM:<nodomain>"), Err(553));
        assert_eq!(parse("MAIL TO:<a@b>"), Err(501));
        assert_eq!(
            parse("RCPT TO:<@relay.example:bob@example.org>"),
            Ok(Command::Rcpt { to: "bob@example.org".into() })
        );
        assert_eq!(parse("RCPT TO:<>"), Err(501));
        assert_eq!(parse("RCPT TO:<a@b> NOTIFY=NEVER"), Err(555));
    }

    #[test]
    fn simple_verbs_and_unknown_ones() {
        assert_eq!(parse("DATA"), Ok(Command::Data));
        assert_eq!(parse("data x"), Err(501));
        assert_eq!(parse("RSET"), Ok(Command::Rset));
        assert_eq!(parse("NOOP anything"), Ok(Command::Noop));
        assert_eq!(parse("QUIT"), Ok(Command::Quit));
        assert_eq!(parse("VRFY bob"), Ok(Command::Vrfy));
        assert_eq!(parse("HELP"), Ok(Command::Help));
        assert_eq!(parse("STARTTLS"), Ok(Command::StartTls));
        assert_eq!(parse("BDAT 10 LAST"), Err(500));
        assert_eq!(parse("GET / HTTP/1.1"), Err(500));
        assert_eq!(parse(""), Err(500));
        assert_eq!(parse_command(b"NOOP \x00").map_err(|r| r.code), Err(500));
        assert_eq!(parse_command(b"\xff\xfe").map_err(|r| r.code), Err(500));
    }

    #[test]
    fn replies_are_laid_out_per_rfc_5321_and_2034() {
        assert_eq!(
            Reply::new(535, "5.7.8", "Authentication credentials invalid").to_bytes(),
            b"535 5.7.8 Authentication credentials invalid\r\n"
        );
        assert_eq!(
            Reply::plain(250, vec!["mx".into(), "PIPELINING".into(), "SIZE 10".into()]).to_bytes(),
            b"250-mx\r\n250-PIPELINING\r\n250 SIZE 10\r\n"
        );
        assert_eq!(Reply::plain(334, vec![String::new()]).to_bytes(), b"334 \r\n");
        // An upstream's text cannot smuggle a line of its own.
        assert_eq!(Reply::new(550, "5.0.0", "a\r\n250 ok").to_bytes(), b"550 5.0.0 a  250 ok\r\n");
    }

    #[test]
    fn lines_are_bounded_and_too_long_ones_dropped_whole() {
        let mut lines = Lines::new(512);
        lines.push(b"EHLO x\r\nNOOP\nRS");
        assert_eq!(lines.next_line(), Line::Complete(b"EHLO x".to_vec()));
        assert_eq!(lines.next_line(), Line::Complete(b"NOOP".to_vec()));
        assert_eq!(lines.next_line(), Line::Incomplete);
        lines.push(b"ET\r\n");
        assert_eq!(lines.next_line(), Line::Complete(b"RSET".to_vec()));
        // Over the limit in one read, then in pieces without a line end: refused once, and the
        // rest of that line never becomes a command.
        lines.push(&[b'A'; 600]);
        assert_eq!(lines.next_line(), Line::TooLong);
        lines.push(&[b'A'; 600]);
        assert_eq!(lines.next_line(), Line::Incomplete);
        lines.push(b"AAA QUIT\r\nNOOP\r\n");
        assert_eq!(lines.next_line(), Line::Complete(b"NOOP".to_vec()));
        let mut lines = Lines::new(512);
        let mut long = vec![b'B'; 520];
        long.extend_from_slice(b"\r\nQUIT\r\n");
        lines.push(&long);
        assert_eq!(lines.next_line(), Line::TooLong);
        assert_eq!(lines.next_line(), Line::Complete(b"QUIT".to_vec()));
        lines.push(b"MAIL FROM:<a@b>\r\n");
        lines.clear();
        assert!(lines.is_empty());
    }

    fn read_all(chunks: &[&[u8]], max: usize) -> (DataReader, Option<(usize, usize)>) {
        let mut reader = DataReader::new(max);
        for (i, chunk) in chunks.iter().enumerate() {
            if let Some(n) = reader.feed(chunk) {
                return (reader, Some((i, n)));
            }
        }
        (reader, None)
    }

    #[test]
    fn data_is_unstuffed_and_ends_at_crlf_dot_crlf_only() {
        let (r, end) = read_all(&[b"Subject: x\r\n\r\n..leading dot\r\n.x\r\nlast\r\n.\r\nQUIT\r\n"], 1000);
        assert_eq!(end, Some((0, 42)));
        assert!(!r.bare_newline() && !r.over_limit());
        assert_eq!(r.into_message(), b"Subject: x\r\n\r\n.leading dot\r\nx\r\nlast\r\n");
        // The terminator split over reads, byte by byte.
        let msg = b"a\r\n.\r\n";
        let chunks: Vec<&[u8]> = msg.chunks(1).collect();
        let (r, end) = read_all(&chunks, 1000);
        assert_eq!(end, Some((5, 1)));
        assert_eq!(r.into_message(), b"a\r\n");
        // An empty message.
        let (r, end) = read_all(&[b".\r\n"], 10);
        assert_eq!((end, r.into_message()), (Some((0, 3)), vec![]));
        // SMTP smuggling: `\n.\r\n` and `\r\n.\n` end nothing, and are flagged.
        for smuggled in [&b"a\n.\r\nMAIL FROM:<x@y>\r\n"[..], b"a\r\n.\nRCPT\r\n", b"a\r.\r\nb\r\n"] {
            let (r, end) = read_all(&[smuggled], 1000);
            assert_eq!(end, None, "{smuggled:?}");
            assert!(r.bare_newline(), "{smuggled:?}");
        }
    }

    #[test]
    fn data_past_the_limit_is_counted_not_kept() {
        let mut reader = DataReader::new(10);
        for _ in 0..1000 {
            assert_eq!(reader.feed(b"0123456789012345678\r\n"), None);
        }
        assert_eq!(reader.feed(b".\r\n"), Some(3));
        assert!(reader.over_limit());
        assert_eq!(reader.into_message().len(), 10);
        let mut reader = DataReader::new(10);
        assert_eq!(reader.feed(b"12345678\r\n.\r\n"), Some(13));
        assert!(!reader.over_limit());
    }

    #[test]
    fn dot_stuffing_round_trips_through_the_reader() {
        for msg in [&b"a\r\n.b\r\n..\r\n.\r\nc\r\n"[..], b"", b"no newline", b".\r\n", b"x\r\n"] {
            let wire = dot_stuff(msg);
            let mut reader = DataReader::new(1000);
            assert_eq!(reader.feed(&wire), Some(wire.len()), "{msg:?}");
            let back = reader.into_message();
            if msg.ends_with(b"\r\n") || msg.is_empty() {
                assert_eq!(back, msg);
            } else {
                assert_eq!(back, [msg, b"\r\n"].concat());
            }
        }
    }

    #[test]
    fn server_replies() {
        assert_eq!(parse_reply_line(b"250-SIZE 100\r\n"), Some((250, true, "SIZE 100".into())));
        assert_eq!(parse_reply_line(b"550 5.1.1 no such user"), Some((550, false, "5.1.1 no such user".into())));
        assert_eq!(parse_reply_line(b"220"), Some((220, false, String::new())));
        assert_eq!(parse_reply_line(b"2x0 hi"), None);
        assert_eq!(parse_reply_line(b"999 hi"), None);
        assert_eq!(parse_reply_line(b"250_x"), None);
    }
}
