//! What the index keeps of a message, from a little of it: the header fields a list needs and
//! the first bytes of the text (`BODY.PEEK[HEADER.FIELDS (…)]` and `BODY.PEEK[TEXT]<0.N>`, so a
//! sync never downloads whole messages), decoded by mail-parser (RFC 2047 words, charsets).

use chrono::{DateTime, Utc};

use crate::{Addr, addrs};

/// The header fields a summary needs: the envelope, threading (RFC 5322 §3.6.4) and the MIME
/// fields that say how to read the text's first bytes.
pub const HEADER_FIELDS: &str =
    "DATE FROM TO CC SUBJECT MESSAGE-ID IN-REPLY-TO REFERENCES MIME-VERSION CONTENT-TYPE CONTENT-TRANSFER-ENCODING";

/// How many bytes of the text a sync fetches for the preview.
pub const PREVIEW_BYTES: usize = 2048;

/// How many characters of text the preview keeps.
pub const PREVIEW_CHARS: usize = 200;

/// At most this many Message-IDs of `References` are kept (JWZ needs the nearest ones; a header
/// of thousands is an attack, not a conversation).
pub const MAX_REFERENCES: usize = 50;

/// A message as a list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Summary {
    pub from: Addr,
    pub to: Vec<Addr>,
    pub cc: Vec<Addr>,
    pub subject: String,
    /// The subject without reply and forward markers, lower-cased (RFC 5256 §2.1).
    pub base_subject: String,
    /// `Re:`/`Fwd:` (or a localised marker) was removed from the subject.
    pub is_reply: bool,
    /// Message-IDs without angle brackets.
    pub message_id: Option<String>,
    pub in_reply_to: Option<String>,
    /// Oldest first, at most [`MAX_REFERENCES`] (the newest kept).
    pub references: Vec<String>,
    /// The Date header; `None` when missing or unreadable (the caller uses INTERNALDATE).
    pub sent_at: Option<DateTime<Utc>>,
    pub preview: String,
}

fn ids(value: &mail_parser::HeaderValue<'_>) -> Vec<String> {
    let raw: Vec<String> = match value {
        mail_parser::HeaderValue::Text(t) => vec![t.to_string()],
        mail_parser::HeaderValue::TextList(l) => l.iter().map(|t| t.to_string()).collect(),
        _ => Vec::new(),
    };
    raw.into_iter()
        .map(|s| s.trim().trim_start_matches('<').trim_end_matches('>').to_string())
        .filter(|s| valid_id(s))
        .collect()
}

/// A Message-ID worth keeping: short, printable, no spaces.
fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 250 && id.bytes().all(|b| b.is_ascii_graphic())
}

/// Reads a summary from the header fields and the text's first bytes (either may be empty).
pub fn summarize(header: &[u8], text_start: &[u8]) -> Summary {
    let mut raw = Vec::with_capacity(header.len() + text_start.len() + 2);
    raw.extend_from_slice(header);
    if !header.ends_with(b"\r\n\r\n") && !header.ends_with(b"\n\n") {
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(text_start);
    let Some(message) = mail_parser::MessageParser::default().parse(&raw[..]) else {
        return Summary::default();
    };
    let subject = clean_line(message.subject().unwrap_or_default());
    let (base_subject, is_reply) = base_subject(&subject);
    let mut references = ids(message.references());
    if references.len() > MAX_REFERENCES {
        references.drain(..references.len() - MAX_REFERENCES);
    }
    Summary {
        from: addrs(message.from()).into_iter().next().unwrap_or_default(),
        to: addrs(message.to()),
        cc: addrs(message.cc()),
        subject,
        base_subject,
        is_reply,
        message_id: message.message_id().map(|s| s.trim().to_string()).filter(|s| valid_id(s)),
        in_reply_to: ids(message.in_reply_to()).pop(),
        references,
        sent_at: message.date().and_then(|d| DateTime::from_timestamp(d.to_timestamp(), 0)),
        preview: preview(message.body_text(0).as_deref().unwrap_or_default()),
    }
}

/// One line for a header value: controls removed, whitespace runs collapsed, at most 998
/// characters (RFC 5322 §2.1.1's line limit).
pub fn clean_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ").chars().filter(|c| !c.is_control()).take(998).collect()
}

/// The first words of a text: quoted lines (`>`) and signatures skipped, whitespace collapsed.
pub fn preview(text: &str) -> String {
    let mut words: Vec<&str> = Vec::new();
    let mut chars = 0;
    for line in text.lines() {
        let line = line.trim();
        if line == "--" || line == "-- " {
            break;
        }
        if line.starts_with('>') {
            continue;
        }
        for word in line.split_whitespace() {
            chars += word.chars().count() + 1;
            words.push(word);
            if chars > PREVIEW_CHARS {
                let joined = words.join(" ");
                return joined.chars().take(PREVIEW_CHARS).collect();
            }
        }
    }
    words.join(" ")
}

/// Reply and forward markers, as mail programs write them in English, German, the Nordic
/// languages, Dutch, Korean, Japanese and Chinese.
const LEADERS: &[&str] = &[
    "re", "fw", "fwd", "aw", "wg", "sv", "vs", "vb", "antw", "답장", "회신", "전달", "返信", "転送", "回复", "转发",
    "答复",
];

/// RFC 5256 §2.1's base subject, lower-cased for comparison, and whether a reply or forward
/// marker (`Re:`, `Fwd:`, `Re[2]:`, `[fwd: …]`, `(fwd)`, localised ones) was removed.
pub fn base_subject(subject: &str) -> (String, bool) {
    let mut s = subject.trim().to_lowercase();
    let mut stripped = false;
    loop {
        let before = s.clone();
        // (2) trailing "(fwd)"
        while let Some(rest) = s.strip_suffix("(fwd)") {
            s = rest.trim_end().to_string();
            stripped = true;
        }
        // (3) leading blobs and a marker: "[list] Re[2]: "
        let mut rest = s.as_str();
        loop {
            let t = rest.trim_start();
            if let Some(after) = t.strip_prefix('[')
                && let Some(end) = after.find(']')
                && !after[end + 1..].trim().is_empty()
            {
                rest = &after[end + 1..];
                continue;
            }
            let marker = LEADERS.iter().find_map(|m| {
                let after = t.strip_prefix(m)?;
                let after = after.trim_start();
                let after = match after.strip_prefix('[') {
                    Some(a) => &a[a.find(']')? + 1..],
                    None => after,
                };
                after.strip_prefix(':').or_else(|| after.strip_prefix('：'))
            });
            match marker {
                Some(after) => {
                    rest = after;
                    stripped = true;
                }
                None => break,
            }
        }
        s = rest.trim().to_string();
        // (5) "[fwd: … ]"
        if let Some(inner) = s.strip_prefix("[fwd:").and_then(|x| x.strip_suffix(']')) {
            s = inner.trim().to_string();
            stripped = true;
        }
        if s == before {
            break;
        }
    }
    (s.split_whitespace().collect::<Vec<_>>().join(" "), stripped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_subjects_follow_rfc5256() {
        assert_eq!(base_subject("Re: Fwd: Lunch"), ("lunch".into(), true));
        assert_eq!(base_subject("RE[2]: [team] Lunch (fwd)"), ("lunch".into(), true));
        assert_eq!(base_subject("[Fwd: Lunch]"), ("lunch".into(), true));
        assert_eq!(base_subject("회신: 점심 약속"), ("점심 약속".into(), true));
        assert_eq!(base_subject("AW: WG: Termin"), ("termin".into(), true));
        assert_eq!(base_subject("Lunch"), ("lunch".into(), false));
        assert_eq!(base_subject("[only a tag]"), ("[only a tag]".into(), false));
        assert_eq!(base_subject("Rebase: done"), ("rebase: done".into(), false));
        assert_eq!(base_subject(""), (String::new(), false));
    }

    #[test]
    fn summaries_decode_encoded_words_and_charsets() {
        let header = "From: =?EUC-KR?B?yKux5rW/?= <hong@example.kr>\r\n\
                      To: a@example.com, \"Bee\" <b@example.com>\r\n\
                      Subject: =?UTF-8?B?7ZqM7J2YIOyekOujjA==?=\r\n\
                      Message-ID: <m2@example.kr>\r\n\
                      In-Reply-To: <m1@example.kr>\r\n\
                      References: <m0@example.kr> <m1@example.kr>\r\n\
                      Date: Mon, 07 Dec 2026 09:00:00 +0900\r\n\r\n";
        let s = summarize(header.as_bytes(), b"Hello there,\r\n> quoted\r\nsee you\r\n-- \r\nsig\r\n");
        assert_eq!(s.from.email, "hong@example.kr");
        assert_eq!(s.from.name, "홍길동");
        assert_eq!(s.to.len(), 2);
        assert_eq!(s.to[1].name, "Bee");
        assert_eq!(s.subject, "회의 자료");
        assert_eq!(s.message_id.as_deref(), Some("m2@example.kr"));
        assert_eq!(s.in_reply_to.as_deref(), Some("m1@example.kr"));
        assert_eq!(s.references, vec!["m0@example.kr", "m1@example.kr"]);
        assert_eq!(s.sent_at.map(|d| d.to_rfc3339()), Some("2026-12-07T00:00:00+00:00".into()));
        assert_eq!(s.preview, "Hello there, see you");
    }

    #[test]
    fn a_truncated_multipart_still_gives_a_preview() {
        let header = "Subject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b\"\r\n\r\n";
        let text = "--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n\
                    7JWI64WV7ZWY7IS47JqULCDrsJjqsJHsirXri4jri6Qu\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>cut her";
        assert_eq!(summarize(header.as_bytes(), text.as_bytes()).preview, "안녕하세요, 반갑습니다.");
    }

    #[test]
    fn garbage_gives_an_empty_summary_not_a_panic() {
        for input in [&b""[..], b"\xff\xfe\x00", b"Subject: =?x?Q?\r\n\r\n", b"References: <<<>>> <a b>\r\n\r\n"] {
            let _ = summarize(input, input);
        }
        let many: String = (0..500).map(|i| format!("<r{i}@x> ")).collect();
        let s = summarize(format!("References: {many}\r\n\r\n").as_bytes(), b"");
        assert_eq!(s.references.len(), MAX_REFERENCES);
        assert_eq!(s.references.last().map(String::as_str), Some("r499@x"));
    }
}
