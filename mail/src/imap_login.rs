//! IMAP before authentication (RFC 9051 §6.1–6.2, RFC 3501): the commands a mail app sends
//! before it is logged in, read incrementally and bounded, and the SASL exchanges of
//! `AUTHENTICATE` (PLAIN, LOGIN, OAUTHBEARER, XOAUTH2). Pure: bytes in, typed values out; the
//! listener (`src/mailproxy/imap.rs`) owns the socket and the answers.
//!
//! What real apps send is in CLIENTS.md ("IMAP AUTH forms", "Tags", "Pre-login literals"): any
//! RFC 9051 tag (iOS's dotted `8.569`, TfA's integers), `LOGIN` with atoms, quoted strings with
//! escapes, `{n}` and `{n+}` literals, `AUTHENTICATE` with and without an initial response
//! (RFC 4959). Every line and literal counts against one bound, `max` bytes per command: a
//! longer line or a `{n}` beyond it ends the connection rather than being buffered (nginx
//! commits aa65a60fc, dff46cd1a).

pub use crate::sasl::{Credentials, Mechanism, Sasl, SaslStep};

/// A command before login, with its tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tagged {
    pub tag: String,
    pub command: Command,
}

/// The commands of the not-authenticated state (RFC 9051 §6.1, §6.2) and RFC 2971's ID.
#[derive(Clone, PartialEq, Eq)]
pub enum Command {
    Capability,
    Noop,
    Logout,
    StartTls,
    /// RFC 2971; its arguments are read and ignored (Madang answers with its own name).
    Id,
    /// RFC 9051 §6.2.3. Text that is not UTF-8 is kept with replacement characters: it can
    /// then only fail, like any other wrong password.
    Login {
        user: String,
        password: String,
    },
    /// RFC 9051 §6.2.2, with the RFC 4959 initial response as the client sent it (base64 or `=`).
    Authenticate {
        mechanism: Mechanism,
        initial: Option<Vec<u8>>,
    },
    /// A mechanism Madang does not offer (`AUTHENTICATE CRAM-MD5`).
    UnknownMechanism,
    /// Any other command: valid only after login, or not IMAP at all. Upper-cased name.
    Other(String),
}

impl std::fmt::Debug for Command {
    // A password never reaches a log, even through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Capability => f.write_str("Capability"),
            Command::Noop => f.write_str("Noop"),
            Command::Logout => f.write_str("Logout"),
            Command::StartTls => f.write_str("StartTls"),
            Command::Id => f.write_str("Id"),
            Command::Login { user, .. } => write!(f, "Login {{ user: {user:?}, password: <redacted> }}"),
            Command::Authenticate { mechanism, initial } => {
                write!(f, "Authenticate {{ {mechanism:?}, initial: {} }}", initial.is_some())
            }
            Command::UnknownMechanism => f.write_str("UnknownMechanism"),
            Command::Other(name) => write!(f, "Other({name:?})"),
        }
    }
}

/// What reading the input gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read<T> {
    Ready(T),
    /// Nothing complete yet: read more from the socket.
    NeedMore,
    /// A synchronising literal `{n}` within bounds: send a continuation (`+ …`), then read more
    /// (RFC 9051 §7.5).
    Continue,
    /// Answer `BAD` (tagged if the tag could be read, else `* BAD`) and go on reading.
    Bad {
        tag: Option<String>,
        text: &'static str,
    },
    /// Answer `BAD` and close: the client sent more than `max` bytes in one command, or
    /// announced a literal that large, and what it sends next cannot be told from a command.
    Close {
        tag: Option<String>,
        text: &'static str,
    },
}

/// One piece of a command as it arrived: a line without its CRLF (and without its literal
/// marker), or a literal's bytes.
#[derive(Debug, Clone)]
enum Part {
    Text(Vec<u8>),
    Literal(Vec<u8>),
}

/// The incremental reader of pre-login input. Bytes go in with [`feed`](Self::feed); commands
/// and SASL lines come out of [`command`](Self::command) and [`line`](Self::line).
#[derive(Debug)]
pub struct Reader {
    max: usize,
    buf: Vec<u8>,
    parts: Vec<Part>,
    /// Bytes of the current command so far (lines with their CRLF, literals).
    size: usize,
    /// A literal is being read: this many bytes.
    literal: Option<usize>,
    /// The line that continues a command after a literal: it must start with SP or be empty
    /// (nginx commit 501520905), or close an ID list (`)`).
    after_literal: bool,
}

impl Reader {
    /// `max`: the longest command (lines and literals together), `mailproxy.max_command_size`.
    pub fn new(max: usize) -> Reader {
        Reader { max: max.max(64), buf: Vec::new(), parts: Vec::new(), size: 0, literal: None, after_literal: false }
    }

    /// Appends what the socket gave. The caller reads only after `NeedMore`, so the buffer
    /// stays within `max` plus one read.
    pub fn feed(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Whether input is waiting that no command has consumed yet.
    pub fn has_buffered(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Drops everything buffered: after `STARTTLS`, whatever the client pipelined behind it was
    /// sent in the clear and must not be read as if it came over TLS (CVE-2011-0411).
    pub fn discard(&mut self) {
        self.buf.clear();
        self.reset();
    }

    /// Takes back what is buffered and not yet read (for the relay after login: a client may
    /// pipeline its first commands behind `LOGIN`).
    pub fn take_buffered(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    fn reset(&mut self) {
        self.parts.clear();
        self.size = 0;
        self.literal = None;
        self.after_literal = false;
    }

    fn tag_so_far(&self) -> Option<String> {
        match self.parts.first() {
            Some(Part::Text(line)) => parse_tag(line).map(|(tag, _)| tag),
            _ => None,
        }
    }

    /// Takes one line (a SASL response, RFC 9051 §6.2.2) without looking for literals.
    pub fn line(&mut self) -> Read<Vec<u8>> {
        match find_lf(&self.buf) {
            Some(at) if at + 1 > self.max => self.close_long(None),
            Some(at) => {
                let mut line: Vec<u8> = self.buf.drain(..=at).collect();
                strip_eol(&mut line);
                Read::Ready(line)
            }
            None if self.buf.len() > self.max => self.close_long(None),
            None => Read::NeedMore,
        }
    }

    fn close_long<T>(&mut self, tag: Option<String>) -> Read<T> {
        self.discard();
        Read::Close { tag, text: "Command too long" }
    }

    /// Takes the next complete command.
    pub fn command(&mut self) -> Read<Tagged> {
        loop {
            if let Some(n) = self.literal {
                if self.buf.len() < n {
                    return Read::NeedMore;
                }
                let bytes: Vec<u8> = self.buf.drain(..n).collect();
                self.parts.push(Part::Literal(bytes));
                self.literal = None;
                self.after_literal = true;
                continue;
            }
            let Some(at) = find_lf(&self.buf) else {
                if self.size + self.buf.len() > self.max {
                    let tag = self.tag_so_far().or_else(|| parse_tag(&self.buf).map(|(t, _)| t));
                    return self.close_long(tag);
                }
                return Read::NeedMore;
            };
            self.size += at + 1;
            if self.size > self.max {
                let tag = self.tag_so_far().or_else(|| parse_tag(&self.buf).map(|(t, _)| t));
                return self.close_long(tag);
            }
            let mut line: Vec<u8> = self.buf.drain(..=at).collect();
            strip_eol(&mut line);
            if std::mem::take(&mut self.after_literal) && !(line.is_empty() || matches!(line[0], b' ' | b')')) {
                let tag = self.tag_so_far();
                self.reset();
                return Read::Bad { tag, text: "A literal must be followed by SP or CRLF" };
            }
            match literal_marker(&line) {
                Marker::None => {
                    self.parts.push(Part::Text(line));
                    let parts = std::mem::take(&mut self.parts);
                    self.reset();
                    return parse_command(&parts);
                }
                Marker::Invalid => {
                    self.parts.push(Part::Text(line));
                    let tag = self.tag_so_far();
                    self.reset();
                    return Read::Bad { tag, text: "Invalid literal" };
                }
                Marker::Literal { at, size, synchronizing } => {
                    line.truncate(at);
                    self.parts.push(Part::Text(line));
                    let tag = self.tag_so_far();
                    // A first line that is only a literal has no tag: refuse it as garbage.
                    if tag.is_none() {
                        self.discard();
                        return Read::Close { tag: None, text: "A command begins with a tag" };
                    }
                    if size.is_none_or(|n| self.size.saturating_add(n) > self.max) {
                        // RFC 9051 §7.5: a synchronising literal the server will not take gets
                        // BAD instead of the continuation, so its bytes are never sent; a
                        // non-synchronising one is already on its way and cannot be told from
                        // commands (RFC 7888 §4): both end the connection.
                        self.discard();
                        return Read::Close { tag, text: "Literal too long" };
                    }
                    let n = size.unwrap_or(0);
                    self.size += n;
                    self.literal = Some(n);
                    if synchronizing {
                        return Read::Continue;
                    }
                }
            }
        }
    }
}

fn find_lf(buf: &[u8]) -> Option<usize> {
    buf.iter().position(|&b| b == b'\n')
}

/// Removes the line's LF and a CR before it (a bare LF is taken as the end of a line too, as
/// Dovecot does).
fn strip_eol(line: &mut Vec<u8>) {
    if line.last() == Some(&b'\n') {
        line.pop();
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
}

enum Marker {
    None,
    Invalid,
    /// `size` is `None` when the number does not fit.
    Literal {
        at: usize,
        size: Option<usize>,
        synchronizing: bool,
    },
}

/// A literal's announcement at the end of a line: `{n}` or `{n+}` (RFC 9051 §4.3, RFC 7888).
fn literal_marker(line: &[u8]) -> Marker {
    if line.last() != Some(&b'}') {
        return Marker::None;
    }
    let Some(open) = line.iter().rposition(|&b| b == b'{') else {
        return Marker::None;
    };
    let mut inner = &line[open + 1..line.len() - 1];
    let synchronizing = inner.last() != Some(&b'+');
    if !synchronizing {
        inner = &inner[..inner.len() - 1];
    }
    if inner.is_empty() || !inner.iter().all(u8::is_ascii_digit) {
        return Marker::Invalid;
    }
    let size = std::str::from_utf8(inner).ok().and_then(|s| s.parse::<usize>().ok());
    Marker::Literal { at: open, size, synchronizing }
}

/// RFC 9051 §9 `tag = 1*<any ASTRING-CHAR except "+">`.
fn is_tag_char(b: u8) -> bool {
    is_astring_char(b) && b != b'+'
}

/// RFC 9051 §9 `ASTRING-CHAR = ATOM-CHAR / resp-specials`: any CHAR but `(`, `)`, `{`, SP,
/// controls, `%`, `*`, `"` and `\`.
fn is_astring_char(b: u8) -> bool {
    (0x21..0x7f).contains(&b) && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\')
}

/// The tag at the start of a line and the rest after its SP.
fn parse_tag(line: &[u8]) -> Option<(String, &[u8])> {
    let end = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
    let tag = &line[..end];
    if tag.is_empty() || tag.len() > 64 || !tag.iter().all(|&b| is_tag_char(b)) {
        return None;
    }
    Some((String::from_utf8_lossy(tag).into_owned(), line.get(end + 1..).unwrap_or_default()))
}

/// An argument as it was sent: its bytes, whatever its form.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Arg {
    Atom(Vec<u8>),
    String(Vec<u8>),
}

/// Splits a command's arguments into astrings (RFC 9051 §9 `astring = 1*ASTRING-CHAR / string`).
/// `None` for anything else (a parenthesised list, a bad escape).
fn arguments(first: &[u8], rest: &[Part]) -> Option<Vec<Arg>> {
    let mut args = Vec::new();
    let pieces = std::iter::once((first, false)).chain(rest.iter().map(|p| match p {
        Part::Text(t) => (t.as_slice(), false),
        Part::Literal(t) => (t.as_slice(), true),
    }));
    for (piece, literal) in pieces {
        if literal {
            args.push(Arg::String(piece.to_vec()));
            continue;
        }
        let mut i = 0;
        while i < piece.len() {
            match piece[i] {
                b' ' => i += 1,
                b'"' => {
                    let mut value = Vec::new();
                    i += 1;
                    loop {
                        match piece.get(i)? {
                            b'"' => break,
                            b'\\' => {
                                let escaped = *piece.get(i + 1)?;
                                if !matches!(escaped, b'"' | b'\\') {
                                    return None;
                                }
                                value.push(escaped);
                                i += 2;
                            }
                            &b => {
                                value.push(b);
                                i += 1;
                            }
                        }
                    }
                    i += 1;
                    // A quoted string ends an argument: SP or the end follows.
                    if piece.get(i).is_some_and(|&b| b != b' ') {
                        return None;
                    }
                    args.push(Arg::String(value));
                }
                _ => {
                    let end = piece[i..].iter().position(|&b| b == b' ').map_or(piece.len(), |n| i + n);
                    let atom = &piece[i..end];
                    if !atom.iter().all(|&b| is_astring_char(b)) {
                        return None;
                    }
                    args.push(Arg::Atom(atom.to_vec()));
                    i = end;
                }
            }
        }
    }
    Some(args)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn parse_command(parts: &[Part]) -> Read<Tagged> {
    let Some(Part::Text(first)) = parts.first() else {
        return Read::Bad { tag: None, text: "Missing tag" };
    };
    let Some((tag, rest)) = parse_tag(first) else {
        return Read::Bad { tag: None, text: "Missing or invalid tag" };
    };
    let bad = |text: &'static str| Read::Bad { tag: Some(tag.clone()), text };
    let end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
    let name = String::from_utf8_lossy(&rest[..end]).to_ascii_uppercase();
    if name.is_empty() {
        return bad("Missing command");
    }
    let after = rest.get(end + 1..).unwrap_or_default();
    let no_arguments = after.is_empty() && parts.len() == 1;
    let command = match name.as_str() {
        "CAPABILITY" | "NOOP" | "LOGOUT" | "STARTTLS" if !no_arguments => return bad("No arguments expected"),
        "CAPABILITY" => Command::Capability,
        "NOOP" => Command::Noop,
        "LOGOUT" => Command::Logout,
        "STARTTLS" => Command::StartTls,
        // RFC 2971 §3.1: `ID NIL` or a list of strings; what the client says about itself
        // changes nothing here.
        "ID" => Command::Id,
        "LOGIN" => match arguments(after, &parts[1..]).as_deref() {
            Some([Arg::Atom(user) | Arg::String(user), Arg::Atom(password) | Arg::String(password)]) => {
                Command::Login { user: text(user), password: text(password) }
            }
            _ => return bad("LOGIN takes a user name and a password"),
        },
        "AUTHENTICATE" => match arguments(after, &parts[1..]).as_deref() {
            Some([Arg::Atom(mechanism), rest @ ..]) if rest.len() <= 1 => {
                let initial = match rest {
                    [] => None,
                    [Arg::Atom(ir)] => Some(ir.clone()),
                    _ => return bad("The initial response is base64 or ="),
                };
                match Mechanism::parse(&text(mechanism)) {
                    Some(mechanism) => Command::Authenticate { mechanism, initial },
                    None => Command::UnknownMechanism,
                }
            }
            _ => return bad("AUTHENTICATE takes a mechanism and an optional initial response"),
        },
        _ => Command::Other(name),
    };
    Read::Ready(Tagged { tag, command })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn b64(data: &[u8]) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD.encode(data).into_bytes()
    }

    /// Feeds `input` whole and reads one command, answering continuations.
    fn one(input: &[u8]) -> Read<Tagged> {
        let mut r = Reader::new(8192);
        r.feed(input);
        loop {
            match r.command() {
                Read::Continue => continue,
                other => return other,
            }
        }
    }

    fn ready(input: &[u8]) -> Tagged {
        match one(input) {
            Read::Ready(t) => t,
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(input)),
        }
    }

    fn login(user: &str, password: &str) -> Command {
        Command::Login { user: user.into(), password: password.into() }
    }

    #[test]
    fn any_rfc_9051_tag_is_accepted() {
        for tag in ["a1", "8.569", "12", "A0001", "x]y", "tag-with-dash", "~!"] {
            let t = ready(format!("{tag} CAPABILITY\r\n").as_bytes());
            assert_eq!(t.tag, tag);
            assert_eq!(t.command, Command::Capability);
        }
        for bad in ["+a", "a*", "(x", "\"q\"", "{1}", "a%"] {
            assert_eq!(
                one(format!("{bad} NOOP\r\n").as_bytes()),
                Read::Bad { tag: None, text: "Missing or invalid tag" }
            );
        }
    }

    #[test]
    fn simple_commands_case_insensitive_and_without_arguments() {
        assert_eq!(ready(b"1 capability\r\n").command, Command::Capability);
        assert_eq!(ready(b"1 Noop\r\n").command, Command::Noop);
        assert_eq!(ready(b"1 LOGOUT\n").command, Command::Logout);
        assert_eq!(ready(b"1 StartTLS\r\n").command, Command::StartTls);
        assert_eq!(ready(b"1 SELECT INBOX\r\n").command, Command::Other("SELECT".into()));
        assert!(matches!(one(b"1 NOOP now\r\n"), Read::Bad { tag: Some(t), .. } if t == "1"));
        assert!(matches!(one(b"1\r\n"), Read::Bad { tag: Some(t), .. } if t == "1"));
    }

    #[test]
    fn id_with_nil_a_list_or_literals() {
        // Thunderbird, K-9/Thunderbird for Android, FairEmail, iOS (CLIENTS.md "ID").
        assert_eq!(ready(b"a ID NIL\r\n").command, Command::Id);
        assert_eq!(ready(b"3 ID (\"name\" \"Thunderbird\" \"version\" \"128.0\")\r\n").command, Command::Id);
        assert_eq!(ready(b"8.1 ID (\"name\" \"iPhone Mail\" \"os\" {3}\r\niOS)\r\n").command, Command::Id);
    }

    #[test]
    fn login_with_atoms_quoted_strings_and_literals() {
        assert_eq!(ready(b"a LOGIN alice secret\r\n").command, login("alice", "secret"));
        assert_eq!(ready(b"a LOGIN \"alice\" \"se cr\\\"et\\\\\"\r\n").command, login("alice", "se cr\"et\\"));
        assert_eq!(ready(b"a login \"\" \"\"\r\n").command, login("", ""));
        // FairEmail/JavaMail: literals for anything with specials; synchronising, then LITERAL+.
        let mut r = Reader::new(8192);
        r.feed(b"A1 LOGIN {5}\r\n");
        assert_eq!(r.command(), Read::Continue);
        r.feed(b"alice {6}\r\n");
        assert_eq!(r.command(), Read::Continue);
        r.feed(b"p\"a ss\r\n");
        assert_eq!(r.command(), Read::Ready(Tagged { tag: "A1".into(), command: login("alice", "p\"a ss") }));
        assert_eq!(ready(b"2 LOGIN {5+}\r\nalice {3+}\r\npw}\r\n").command, login("alice", "pw}"));
        assert_eq!(ready(b"2 LOGIN alice {3}\r\n{x}\r\n").command, login("alice", "{x}"));
        // A literal holding CRLF and NUL is bytes like any other.
        assert_eq!(ready(b"2 LOGIN alice {4}\r\na\r\nb\r\n").command, login("alice", "a\r\nb"));
        // Passwords with `]` (an ASTRING-CHAR) as atoms; UTF-8 in quoted strings (RFC 9051).
        assert_eq!(ready(b"t LOGIN alice pa]ss\r\n").command, login("alice", "pa]ss"));
        assert_eq!(ready("t LOGIN \"김\" \"비밀\"\r\n".as_bytes()).command, login("김", "비밀"));
    }

    #[test]
    fn login_forms_that_are_refused() {
        for bad in [
            &b"a LOGIN alice\r\n"[..],
            b"a LOGIN alice b c\r\n",
            b"a LOGIN \"alice secret\r\n",
            b"a LOGIN \"al\\ice\" x\r\n",
            b"a LOGIN (alice) x\r\n",
            b"a LOGIN \"alice\"x y\r\n",
            b"a LOGIN al%ice x\r\n",
        ] {
            assert!(
                matches!(one(bad), Read::Bad { tag: Some(ref t), .. } if t == "a"),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn a_literal_must_be_followed_by_sp_or_crlf() {
        let got = one(b"a LOGIN {5}\r\nalicex secret\r\n");
        assert_eq!(got, Read::Bad { tag: Some("a".into()), text: "A literal must be followed by SP or CRLF" });
        let mut r = Reader::new(8192);
        r.feed(b"a LOGIN {5}\r\nalicex secret\r\nb NOOP\r\n");
        assert_eq!(r.command(), Read::Continue);
        assert!(matches!(r.command(), Read::Bad { .. }));
        assert_eq!(r.command(), Read::Ready(Tagged { tag: "b".into(), command: Command::Noop }));
    }

    #[test]
    fn invalid_literal_markers() {
        assert!(matches!(one(b"a LOGIN {x}\r\n"), Read::Bad { tag: Some(_), text: "Invalid literal" }));
        assert!(matches!(one(b"a LOGIN {}\r\n"), Read::Bad { .. }));
        assert!(matches!(one(b"a LOGIN {-1}\r\n"), Read::Bad { .. }));
        assert!(matches!(one(b"{5}\r\n"), Read::Close { tag: None, .. }));
    }

    #[test]
    fn long_lines_and_literals_are_refused_and_close() {
        let mut r = Reader::new(100);
        r.feed(&[b'x'; 101]);
        assert!(matches!(r.command(), Read::Close { .. }));
        // A `{n}` beyond the bound gets no continuation.
        let mut r = Reader::new(100);
        r.feed(b"a LOGIN {101}\r\n");
        assert_eq!(r.command(), Read::Close { tag: Some("a".into()), text: "Literal too long" });
        let mut r = Reader::new(100);
        r.feed(b"a LOGIN {99999999999999999999999999}\r\n");
        assert!(matches!(r.command(), Read::Close { .. }));
        let mut r = Reader::new(100);
        r.feed(b"a LOGIN {90+}\r\n");
        assert!(matches!(r.command(), Read::Close { .. }));
        // Several literals within a line's bound each, but over it together.
        let mut r = Reader::new(100);
        r.feed(b"a LOGIN {40}\r\n");
        assert_eq!(r.command(), Read::Continue);
        r.feed(&[b'u'; 40]);
        r.feed(b" {50}\r\n");
        assert!(matches!(r.command(), Read::Close { .. }));
        // Exactly at the bound is fine; a line arriving in pieces is waited for.
        let mut r = Reader::new(100);
        let line = format!("a LOGIN alice {}\r\n", "p".repeat(100 - 16));
        assert_eq!(line.len(), 100);
        r.feed(&line.as_bytes()[..50]);
        assert_eq!(r.command(), Read::NeedMore);
        r.feed(&line.as_bytes()[50..]);
        assert!(matches!(r.command(), Read::Ready(_)));
    }

    #[test]
    fn pipelined_commands_come_out_one_by_one_and_discard_drops_them() {
        let mut r = Reader::new(8192);
        r.feed(b"a STARTTLS\r\nb CAPABILITY\r\n");
        assert_eq!(r.command(), Read::Ready(Tagged { tag: "a".into(), command: Command::StartTls }));
        assert!(r.has_buffered());
        r.discard();
        assert_eq!(r.command(), Read::NeedMore);
        r.feed(b"c LOGIN a b\r\nd SELECT INBOX\r\n");
        assert!(matches!(r.command(), Read::Ready(_)));
        assert_eq!(r.take_buffered(), b"d SELECT INBOX\r\n");
    }

    #[test]
    fn authenticate_commands() {
        let auth = |m, ir: Option<&[u8]>| Command::Authenticate { mechanism: m, initial: ir.map(<[u8]>::to_vec) };
        assert_eq!(ready(b"a AUTHENTICATE PLAIN\r\n").command, auth(Mechanism::Plain, None));
        assert_eq!(
            ready(b"a authenticate plain AGFsaWNlAHB3\r\n").command,
            auth(Mechanism::Plain, Some(b"AGFsaWNlAHB3"))
        );
        assert_eq!(ready(b"a AUTHENTICATE PLAIN =\r\n").command, auth(Mechanism::Plain, Some(b"=")));
        assert_eq!(ready(b"a AUTHENTICATE LOGIN\r\n").command, auth(Mechanism::Login, None));
        assert_eq!(
            ready(b"a AUTHENTICATE OAUTHBEARER bixhPWs=\r\n").command,
            auth(Mechanism::OAuthBearer, Some(b"bixhPWs="))
        );
        assert_eq!(ready(b"a AUTHENTICATE XOAUTH2\r\n").command, auth(Mechanism::XOAuth2, None));
        assert_eq!(ready(b"a AUTHENTICATE CRAM-MD5\r\n").command, Command::UnknownMechanism);
        assert!(matches!(one(b"a AUTHENTICATE\r\n"), Read::Bad { .. }));
        assert!(matches!(one(b"a AUTHENTICATE PLAIN \"x\"\r\n"), Read::Bad { .. }));
        assert!(matches!(one(b"a AUTHENTICATE PLAIN a b\r\n"), Read::Bad { .. }));
    }

    fn done(step: SaslStep) -> Credentials {
        match step {
            SaslStep::Done(c) => c,
            other => panic!("{other:?}"),
        }
    }

    fn password(user: &str, password: &str) -> Credentials {
        Credentials::Password { user: user.into(), password: password.into() }
    }

    #[test]
    fn plain_with_and_without_initial_response() {
        let (_, step) = Sasl::start(Mechanism::Plain, Some(&b64(b"\0alice\0secret")));
        assert_eq!(done(step), password("alice", "secret"));
        let (mut s, step) = Sasl::start(Mechanism::Plain, None);
        assert_eq!(step, SaslStep::Challenge(""));
        assert_eq!(done(s.respond(&b64(b"alice\0alice\0secret"))), password("alice", "secret"));
        // Without padding, as some clients send it.
        let (mut s, _) = Sasl::start(Mechanism::Plain, None);
        assert_eq!(done(s.respond(b"AGFsaWNlAHNlY3JldA")), password("alice", "secret"));
        // Someone else's authorization identity, missing fields, an empty response.
        for bad in [&b"bob\0alice\0secret"[..], b"alice\0secret", b"\0\0pw", b"a\0b\0c\0d"] {
            let (mut s, _) = Sasl::start(Mechanism::Plain, None);
            assert_eq!(s.respond(&b64(bad)), SaslStep::Malformed, "{bad:?}");
        }
        let (_, step) = Sasl::start(Mechanism::Plain, Some(b"="));
        assert_eq!(step, SaslStep::Malformed);
    }

    #[test]
    fn login_mechanism_and_cancelling_and_bad_base64() {
        let (mut s, step) = Sasl::start(Mechanism::Login, None);
        assert_eq!(step, SaslStep::Challenge("VXNlcm5hbWU6"));
        assert_eq!(s.respond(&b64(b"alice")), SaslStep::Challenge("UGFzc3dvcmQ6"));
        assert_eq!(done(s.respond(&b64(b"secret"))), password("alice", "secret"));
        // With the user name as initial response.
        let (mut s, step) = Sasl::start(Mechanism::Login, Some(&b64(b"alice")));
        assert_eq!(step, SaslStep::Challenge("UGFzc3dvcmQ6"));
        assert_eq!(done(s.respond(&b64(b"secret"))), password("alice", "secret"));
        let (mut s, _) = Sasl::start(Mechanism::Login, None);
        assert_eq!(s.respond(b"*"), SaslStep::Cancelled);
        let (mut s, _) = Sasl::start(Mechanism::Plain, None);
        assert_eq!(s.respond(b"not base64!"), SaslStep::BadEncoding);
        assert_eq!(Sasl::start(Mechanism::Plain, Some(b"*")).1, SaslStep::BadEncoding);
        assert_eq!(Sasl::start(Mechanism::Plain, Some(b"AG=Fs")).1, SaslStep::BadEncoding);
    }

    #[test]
    fn oauthbearer_as_rfc_7628_lays_it_out() {
        let bearer = |user: &str, token: &str| Credentials::Bearer { user: user.into(), token: token.into() };
        let ir = b64(b"n,a=alice@example.com,\x01host=mail.example.com\x01port=993\x01auth=Bearer tok.en\x01\x01");
        assert_eq!(done(Sasl::start(Mechanism::OAuthBearer, Some(&ir)).1), bearer("alice@example.com", "tok.en"));
        // No authzid; escaped `,` and `=`; the scheme in lower case.
        let (mut s, _) = Sasl::start(Mechanism::OAuthBearer, None);
        assert_eq!(done(s.respond(&b64(b"n,,\x01auth=bearer t\x01\x01"))), bearer("", "t"));
        let ir = b64(b"y,a=k=2Ca=3Db,\x01auth=Bearer t\x01\x01");
        assert_eq!(done(Sasl::start(Mechanism::OAuthBearer, Some(&ir)).1), bearer("k,a=b", "t"));
        for bad in [
            &b"p=tls-unique,,\x01auth=Bearer t\x01\x01"[..],
            b"n,a=x,\x01auth=Bearer t\x01",
            b"n,a=x,\x01auth=Basic t\x01\x01",
            b"n,a=x,\x01auth=Bearer \x01\x01",
            b"n,a=x=41,\x01auth=Bearer t\x01\x01",
            b"n,x,\x01auth=Bearer t\x01\x01",
            b"n,a=x,\x01host=h\x01\x01",
            b"\xff",
        ] {
            assert_eq!(Sasl::start(Mechanism::OAuthBearer, Some(&b64(bad))).1, SaslStep::Malformed, "{bad:?}");
        }
    }

    #[test]
    fn xoauth2_as_google_lays_it_out() {
        let ir = b64(b"user=alice@example.com\x01auth=Bearer ya29.tok\x01\x01");
        assert_eq!(
            done(Sasl::start(Mechanism::XOAuth2, Some(&ir)).1),
            Credentials::Bearer { user: "alice@example.com".into(), token: "ya29.tok".into() }
        );
        for bad in [&b"auth=Bearer t\x01\x01"[..], b"user=a\x01auth=Bearer t", b"user=a\x01\x01"] {
            assert_eq!(Sasl::start(Mechanism::XOAuth2, Some(&b64(bad))).1, SaslStep::Malformed, "{bad:?}");
        }
    }

    #[test]
    fn sasl_lines_are_bounded() {
        let mut r = Reader::new(100);
        r.feed(&[b'A'; 150]);
        assert!(matches!(r.line(), Read::Close { .. }));
        let mut r = Reader::new(100);
        r.feed(b"AGFsaWNlAHB3\r\nb NOOP\r\n");
        assert_eq!(r.line(), Read::Ready(b"AGFsaWNlAHB3".to_vec()));
        assert_eq!(r.command(), Read::Ready(Tagged { tag: "b".into(), command: Command::Noop }));
    }

    #[test]
    fn secrets_are_not_in_debug_output() {
        let shown = format!("{:?} {:?}", login("alice", "hunter2"), password("alice", "hunter2"));
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("alice"));
    }
}
