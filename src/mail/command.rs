//! IMAP commands that carry the user's own words (a folder name, search words) and whose refusal
//! the user must hear about: CREATE, RENAME, DELETE (RFC 9051 §6.3.4–§6.3.6), UID COPY (§6.4.7)
//! and UID SEARCH with CHARSET (§6.4.4). Protocol only, like `sync`: the caller updates the index.
//!
//! async-imap's own methods fold a `NO` into an error string; here the tagged answer is read as it
//! came, so a refusal keeps its response code (`ALREADYEXISTS`, RFC 5530 §3; `BADCHARSET`, RFC 9051
//! §7.1) and the server's words, and search words outside printable ASCII go as synchronizing
//! literals (§4.3), since an IMAP4rev1 quoted string may only hold 7-bit text.

use async_imap::imap_proto::{MailboxDatum, Response, ResponseCode, Status};

use super::connect::{Connector, Failure, Session, Step};

/// One argument of a command.
#[derive(Debug, Clone, Copy)]
pub enum Arg<'a> {
    /// Written as it is: keywords, UID sets.
    Atom(&'a str),
    /// An IMAP string: quoted when it is printable ASCII, else a literal.
    Text(&'a str),
}

/// How the server answered one command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answer {
    /// `OK`; otherwise it was refused (`NO` or `BAD`).
    pub ok: bool,
    /// The server's words (with an unrecognised response code still in brackets).
    pub text: String,
    /// The refusal was `BADCHARSET`: the server cannot search in the charset named.
    pub bad_charset: bool,
    /// What an untagged `SEARCH` answer listed.
    pub found: Vec<u32>,
}

impl Answer {
    /// The name is taken (RFC 5530 §3 `ALREADYEXISTS`; imap-proto leaves that code in the text).
    pub fn already_exists(&self) -> bool {
        !self.ok && self.text.to_ascii_uppercase().contains("ALREADYEXISTS")
    }
}

/// Whether `s` fits in a quoted string (RFC 3501 §9 `QUOTED-CHAR`: 7-bit, no CR or LF).
fn quotable(s: &str) -> bool {
    s.bytes().all(|b| (0x20..0x7f).contains(&b))
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The command's lines: each but the last ends with a literal's `{n}`, and the next begins with
/// that literal's bytes (RFC 9051 §4.3: the server asks for them with a continuation).
pub fn lines(args: &[Arg<'_>]) -> Vec<String> {
    let mut lines = vec![String::new()];
    for (i, arg) in args.iter().enumerate() {
        let mut line = lines.pop().unwrap_or_default();
        if i > 0 {
            line.push(' ');
        }
        match *arg {
            Arg::Atom(a) => line.push_str(a),
            Arg::Text(t) if quotable(t) => line.push_str(&quote(t)),
            Arg::Text(t) => {
                line.push_str(&format!("{{{}}}", t.len()));
                lines.push(line);
                line = t.to_string();
            }
        }
        lines.push(line);
    }
    lines
}

/// Sends one command and reads up to its tagged answer. Untagged answers other than `SEARCH`
/// (an `EXISTS` after a COPY into the selected folder) are the sync's business and dropped here.
pub async fn run(connector: &Connector, session: &mut Session, args: &[Arg<'_>]) -> Result<Answer, Failure> {
    // Nothing of the user's may end a line early: literals carry no line breaks either.
    if args.iter().any(|a| matches!(a, Arg::Text(t) | Arg::Atom(t) if t.contains(['\r', '\n', '\0']))) {
        return Err(Failure { step: Step::Protocol, message: "a line break in an IMAP argument".into() });
    }
    let lines = lines(args);
    connector
        .step(Step::Protocol, async {
            let Some((first, rest)) = lines.split_first() else { return Ok(Answer::default()) };
            let tag = session.run_command(first).await?;
            let mut answer = Answer::default();
            let mut pending = rest.iter();
            let mut waiting = !rest.is_empty();
            loop {
                let Some(response) = session.read_response().await? else {
                    return Err(async_imap::error::Error::ConnectionLost);
                };
                match response.parsed() {
                    Response::Continue(_) if waiting => match pending.next() {
                        Some(line) => {
                            session.run_command_untagged(line).await?;
                            waiting = pending.len() > 0;
                        }
                        None => waiting = false,
                    },
                    Response::MailboxData(MailboxDatum::Search(ids)) => answer.found.extend(ids.iter().copied()),
                    Response::Done { tag: done, status, outcome } if *done == tag => {
                        answer.ok = matches!(status, Status::Ok);
                        answer.bad_charset = matches!(outcome.code, Some(ResponseCode::BadCharset(_)));
                        answer.text = outcome.information.as_deref().unwrap_or_default().to_string();
                        return Ok(answer);
                    }
                    _ => {}
                }
            }
        })
        .await
}

/// `CREATE name` (RFC 9051 §6.3.4).
pub async fn create(connector: &Connector, session: &mut Session, name: &str) -> Result<Answer, Failure> {
    run(connector, session, &[Arg::Atom("CREATE"), Arg::Text(name)]).await
}

/// `RENAME from to` (§6.3.6): the server renames the folder's subfolders with it.
pub async fn rename(connector: &Connector, session: &mut Session, from: &str, to: &str) -> Result<Answer, Failure> {
    run(connector, session, &[Arg::Atom("RENAME"), Arg::Text(from), Arg::Text(to)]).await
}

/// `DELETE name` (§6.3.5): the folder and its messages; subfolders are not removed.
pub async fn delete(connector: &Connector, session: &mut Session, name: &str) -> Result<Answer, Failure> {
    run(connector, session, &[Arg::Atom("DELETE"), Arg::Text(name)]).await
}

/// `UID COPY uid target` (§6.4.7, §6.4.9) from the selected folder.
pub async fn copy(connector: &Connector, session: &mut Session, uid: u32, target: &str) -> Result<Answer, Failure> {
    let uid = uid.to_string();
    run(connector, session, &[Arg::Atom("UID COPY"), Arg::Atom(&uid), Arg::Text(target)]).await
}

/// The UIDs of the selected folder whose header or body holds every word (`UID SEARCH CHARSET
/// UTF-8 TEXT w1 TEXT w2 …`, RFC 9051 §6.4.4: keys side by side are ANDed; TEXT matches the
/// header and the body, case-insensitively). A server that answers `BADCHARSET` (an IMAP4rev1
/// server need only know US-ASCII) is asked again without CHARSET when every word is ASCII;
/// otherwise its refusal is returned (`bad_charset`).
pub async fn search_text(connector: &Connector, session: &mut Session, words: &[String]) -> Result<Answer, Failure> {
    let with_charset = text_search_args(words, true);
    let answer = run(connector, session, &with_charset).await?;
    if answer.bad_charset && words.iter().all(|w| w.is_ascii()) {
        return run(connector, session, &text_search_args(words, false)).await;
    }
    Ok(answer)
}

fn text_search_args(words: &[String], charset: bool) -> Vec<Arg<'_>> {
    let mut args = vec![Arg::Atom("UID SEARCH")];
    if charset {
        args.push(Arg::Atom("CHARSET UTF-8"));
    }
    for word in words {
        args.push(Arg::Atom("TEXT"));
        args.push(Arg::Text(word));
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_is_quoted_and_the_rest_goes_as_literals() {
        let words = vec!["budget".to_string(), "say \"hi\\\"".to_string(), "회의".to_string(), "q4".to_string()];
        assert_eq!(
            lines(&text_search_args(&words, true)),
            ["UID SEARCH CHARSET UTF-8 TEXT \"budget\" TEXT \"say \\\"hi\\\\\\\"\" TEXT {6}", "회의 TEXT \"q4\""]
        );
        assert_eq!(lines(&text_search_args(&words[..1], false)), ["UID SEARCH TEXT \"budget\""]);
        // A literal at the very end leaves its bytes alone on the last line.
        assert_eq!(lines(&[Arg::Atom("CREATE"), Arg::Text("자료")]), ["CREATE {6}", "자료"]);
        assert_eq!(lines(&[Arg::Atom("RENAME"), Arg::Text("a b"), Arg::Text("c")]), ["RENAME \"a b\" \"c\""]);
    }

    /// A scripted server on the other end of a pipe that knows no charset but US-ASCII (as an
    /// IMAP4rev1 server may): every line it got, and a session logged in to it.
    async fn ascii_only_server() -> (Session, tokio::task::JoinHandle<Vec<String>>) {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let (ours, theirs) = tokio::io::duplex(4096);
        let server = tokio::spawn(async move {
            let (read, mut write) = tokio::io::split(theirs);
            let mut lines = BufReader::new(read).lines();
            let mut got = Vec::new();
            while let Ok(Some(mut line)) = lines.next_line().await {
                if line.ends_with('}') {
                    // A literal: ask for it, and read it with the rest of the command.
                    write.write_all(b"+ go ahead\r\n").await.unwrap();
                    line.push_str(&lines.next_line().await.unwrap().unwrap_or_default());
                }
                let tag = line.split(' ').next().unwrap_or_default().to_string();
                let answer = if line.contains(" LOGIN ") {
                    format!("{tag} OK logged in\r\n")
                } else if line.contains("CHARSET") {
                    format!("{tag} NO [BADCHARSET (US-ASCII)] unknown charset\r\n")
                } else {
                    format!("* SEARCH 3 7\r\n{tag} OK done\r\n")
                };
                got.push(line);
                write.write_all(answer.as_bytes()).await.unwrap();
            }
            got
        });
        let client = async_imap::Client::new(Box::new(ours) as Box<dyn super::super::connect::Io>);
        let session = client.login("u", "p").await.map_err(|(e, _)| e).unwrap();
        (session, server)
    }

    #[tokio::test]
    async fn badcharset_is_retried_without_charset_for_ascii_words_only() {
        let connector = Connector::new(&crate::config::MailConfig::default()).unwrap();
        let (mut session, server) = ascii_only_server().await;
        let words = vec!["budget".to_string(), "q4".to_string()];
        let answer = search_text(&connector, &mut session, &words).await.unwrap();
        assert!(answer.ok, "{answer:?}");
        assert_eq!(answer.found, [3, 7]);
        // Korean cannot be searched without UTF-8: the refusal comes back, not asked again.
        let answer = search_text(&connector, &mut session, &["회의".to_string()]).await.unwrap();
        assert!(!answer.ok && answer.bad_charset, "{answer:?}");
        drop(session);
        let got = server.await.unwrap();
        let searches: Vec<&str> = got.iter().filter_map(|l| l.split_once(' ').map(|(_, rest)| rest)).skip(1).collect();
        assert_eq!(
            searches,
            [
                "UID SEARCH CHARSET UTF-8 TEXT \"budget\" TEXT \"q4\"",
                "UID SEARCH TEXT \"budget\" TEXT \"q4\"",
                "UID SEARCH CHARSET UTF-8 TEXT {6}회의",
            ]
        );
    }

    #[test]
    fn already_exists_is_read_from_the_refusal() {
        let refused = Answer { ok: false, text: "[ALREADYEXISTS] Mailbox already exists".into(), ..Answer::default() };
        assert!(refused.already_exists());
        assert!(!Answer { ok: true, text: "[ALREADYEXISTS]".into(), ..Answer::default() }.already_exists());
    }
}
