//! Slack-compatible incoming webhook payloads, converted to a Madang message.
//!
//! The payload is Slack's legacy incoming webhook (`text`, `username`, `icon_url`,
//! `icon_emoji`, `channel`, `attachments`), which is what Gitea, Gitlab, Grafana and many
//! others send when told to post "to Slack". Text is Slack's *mrkdwn*: `<url|label>` links,
//! `*bold*`, `_italic_`, `~strike~`, and `&amp;`, `&lt;`, `&gt;` as the only escapes. It is
//! converted to Madang's Markdown (which is then rendered safely like any message); the
//! `channel` field is ignored, because a webhook URL belongs to one channel. Attachments become
//! a quote under the text: author, linked title, text, fields, footer.
//!
//! A JSON body or Slack's form encoding (`payload=<json>`) is accepted. Anything that cannot be
//! posted is an error that says why, and nothing is posted.

use serde_json::{Map, Value};
use thiserror::Error;

/// The largest payload accepted, in bytes.
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;
/// The longest `username` kept, in characters; longer ones are cut.
pub const MAX_USERNAME_CHARS: usize = 80;
/// At most this many attachments are shown.
pub const MAX_ATTACHMENTS: usize = 20;
/// At most this many fields per attachment are shown.
pub const MAX_FIELDS: usize = 50;

/// What a webhook posts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    /// The message in Madang's Markdown.
    pub text: String,
    /// The name to show instead of the webhook's, if the payload gave one.
    pub username: Option<String>,
    /// An `http(s)` URL of an avatar, if the payload gave one.
    pub icon_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SlackError {
    #[error("the payload is {size} bytes; at most {MAX_PAYLOAD_BYTES} are accepted")]
    TooLarge { size: usize },
    #[error("the payload is not JSON: {0}")]
    NotJson(String),
    #[error("the payload must be a JSON object")]
    NotAnObject,
    #[error("`{field}` must be {expected}")]
    WrongType { field: String, expected: &'static str },
    #[error("the payload has no `text` and no `attachments` with something to show")]
    Empty,
}

fn wrong(field: impl Into<String>, expected: &'static str) -> SlackError {
    SlackError::WrongType { field: field.into(), expected }
}

/// Reads an optional string field: absent, `null` and `""` are all "not given".
fn opt_str<'a>(obj: &'a Map<String, Value>, key: &str, path: &str) -> Result<Option<&'a str>, SlackError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(wrong(format!("{path}{key}"), "a string")),
    }
}

/// Parses a webhook request body.
pub fn parse(body: &[u8]) -> Result<Incoming, SlackError> {
    if body.len() > MAX_PAYLOAD_BYTES {
        return Err(SlackError::TooLarge { size: body.len() });
    }
    let form;
    let json = match body.strip_prefix(b"payload=") {
        Some(encoded) => {
            form = percent_decode_form(encoded);
            &form[..]
        }
        None => body,
    };
    let value: Value = serde_json::from_slice(json).map_err(|e| SlackError::NotJson(e.to_string()))?;
    let Value::Object(obj) = value else {
        return Err(SlackError::NotAnObject);
    };

    let text = opt_str(&obj, "text", "")?;
    let username = opt_str(&obj, "username", "")?
        .map(|u| u.trim().chars().filter(|c| !c.is_control()).take(MAX_USERNAME_CHARS).collect::<String>());
    let icon_url = opt_str(&obj, "icon_url", "")?.map(str::trim).filter(|u| is_http_url(u)).map(str::to_string);
    // Checked for type only: an emoji icon has no place in Madang's message shape.
    opt_str(&obj, "icon_emoji", "")?;

    let attachments = match obj.get("attachments") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(a)) => &a[..],
        Some(_) => return Err(wrong("attachments", "an array")),
    };
    let mut parts = Vec::new();
    if let Some(t) = text {
        parts.push(mrkdwn(t));
    }
    for (i, a) in attachments.iter().enumerate() {
        let Value::Object(a) = a else {
            return Err(wrong(format!("attachments[{i}]"), "an object"));
        };
        let rendered = attachment(a, &format!("attachments[{i}]."))?;
        if i < MAX_ATTACHMENTS && !rendered.is_empty() {
            parts.push(rendered);
        }
    }
    let text = parts.join("\n\n").trim().to_string();
    if text.is_empty() {
        return Err(SlackError::Empty);
    }
    Ok(Incoming { text, username: username.filter(|u| !u.is_empty()), icon_url })
}

/// One attachment as Markdown: the pretext, then a quote with the rest.
fn attachment(a: &Map<String, Value>, path: &str) -> Result<String, SlackError> {
    for key in ["color", "fallback"] {
        opt_str(a, key, path)?;
    }
    let pretext = opt_str(a, "pretext", path)?;
    let author = opt_str(a, "author_name", path)?;
    let author_link = opt_str(a, "author_link", path)?;
    let title = opt_str(a, "title", path)?;
    let title_link = opt_str(a, "title_link", path)?;
    let text = opt_str(a, "text", path)?;
    let footer = opt_str(a, "footer", path)?;
    let ts = match a.get("ts") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.parse::<f64>().map_err(|_| wrong(format!("{path}ts"), "a Unix time"))?),
        Some(_) => return Err(wrong(format!("{path}ts"), "a Unix time")),
    };
    let fields = match a.get("fields") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(f)) => &f[..],
        Some(_) => return Err(wrong(format!("{path}fields"), "an array")),
    };

    let mut quoted = Vec::new();
    if let Some(author) = author {
        quoted.push(format!("**{}**", link_or_text(author, author_link)));
    }
    if let Some(title) = title {
        quoted.push(format!("**{}**", link_or_text(title, title_link)));
    }
    if let Some(text) = text {
        quoted.push(mrkdwn(text));
    }
    for (i, f) in fields.iter().enumerate() {
        let Value::Object(f) = f else {
            return Err(wrong(format!("{path}fields[{i}]"), "an object"));
        };
        let fpath = format!("{path}fields[{i}].");
        let ftitle = opt_str(f, "title", &fpath)?;
        let fvalue = opt_str(f, "value", &fpath)?;
        match f.get("short") {
            None | Some(Value::Null | Value::Bool(_)) => {}
            Some(_) => return Err(wrong(format!("{fpath}short"), "true or false")),
        }
        if i >= MAX_FIELDS {
            continue;
        }
        match (ftitle, fvalue) {
            (Some(t), Some(v)) => quoted.push(format!("**{}**: {}", plain(t), mrkdwn(v))),
            (Some(t), None) => quoted.push(format!("**{}**", plain(t))),
            (None, Some(v)) => quoted.push(mrkdwn(v)),
            (None, None) => {}
        }
    }
    let when = ts
        .and_then(|t| chrono::DateTime::from_timestamp(t as i64, 0))
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string());
    match (footer, when) {
        (Some(f), Some(w)) => quoted.push(format!("{} · {w}", mrkdwn(f))),
        (Some(f), None) => quoted.push(mrkdwn(f)),
        (None, Some(w)) => quoted.push(w),
        (None, None) => {}
    }
    // The fallback is the plain-text version for clients that show nothing else: used only
    // when there is nothing else.
    if quoted.is_empty()
        && pretext.is_none()
        && let Some(fallback) = opt_str(a, "fallback", path)?
    {
        quoted.push(mrkdwn(fallback));
    }

    let mut out = String::new();
    if let Some(p) = pretext {
        out.push_str(&mrkdwn(p));
    }
    let body = quoted.join("\n");
    if !body.trim().is_empty() {
        if !out.is_empty() {
            out.push('\n');
        }
        let lines: Vec<String> =
            body.lines().map(|l| if l.is_empty() { ">".to_string() } else { format!("> {l}") }).collect();
        out.push_str(&lines.join("\n"));
    }
    Ok(out)
}

fn link_or_text(label: &str, link: Option<&str>) -> String {
    match link.map(str::trim).filter(|l| is_http_url(l)) {
        Some(url) => format!("[{}]({})", plain(label), markdown_url(url)),
        None => plain(label),
    }
}

fn is_http_url(u: &str) -> bool {
    let lower = u.get(..8).unwrap_or(u).to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://")) && !u.chars().any(char::is_whitespace)
}

/// A URL as a Markdown link target: parentheses and spaces percent-encoded so the link ends
/// where the URL does.
fn markdown_url(url: &str) -> String {
    url.replace('(', "%28").replace(')', "%29").replace(' ', "%20")
}

/// Slack text that is shown as written (titles, field names): unescaped and with Markdown's
/// punctuation escaped.
fn plain(s: &str) -> String {
    escape_markdown(&unescape(s))
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

fn escape_markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '`' | '*' | '_' | '~' | '[' | ']' | '@') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Converts Slack mrkdwn to Madang Markdown.
pub fn mrkdwn(s: &str) -> String {
    let s = s.replace("\r\n", "\n");
    let mut out = String::with_capacity(s.len() + 16);
    let mut rest = s.as_str();
    // Code blocks and spans are copied as they are (only unescaped).
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("```")
            && let Some(end) = after.find("```")
        {
            let code = unescape(&after[..end]);
            let code = code.strip_prefix('\n').unwrap_or(&code);
            out.push_str("\n```\n");
            out.push_str(code.trim_end_matches('\n'));
            out.push_str("\n```\n");
            rest = &after[end + 3..];
            continue;
        }
        if let Some(after) = rest.strip_prefix('`')
            && let Some(end) = after.find('`')
            && !after[..end].contains('\n')
        {
            let code = unescape(&after[..end]);
            // A span holding backticks needs a longer fence (CommonMark §6.1).
            let fence = if code.contains('`') { "``" } else { "`" };
            out.push_str(fence);
            out.push_str(&code);
            out.push_str(fence);
            rest = &after[end + 1..];
            continue;
        }
        let next = rest.char_indices().skip(1).find(|&(_, c)| c == '`').map_or(rest.len(), |(i, _)| i);
        out.push_str(&inline(&rest[..next]));
        rest = &rest[next..];
    }
    out.trim_matches('\n').to_string()
}

/// Links and emphasis in a piece of mrkdwn without code.
fn inline(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(open) = rest.find('<') {
        out.push_str(&emphasis(&rest[..open]));
        let after = &rest[open + 1..];
        let Some(close) = after.find('>') else {
            // No `>` anywhere after: the rest is text (and searching again would be quadratic).
            out.push_str(&emphasis(&rest[open..]));
            return out;
        };
        out.push_str(&angle(&after[..close]));
        rest = &after[close + 1..];
    }
    out.push_str(&emphasis(rest));
    out
}

/// The inside of `<…>`: a link, a user, a channel or a special mention.
fn angle(inner: &str) -> String {
    let (target, label) = match inner.split_once('|') {
        Some((t, l)) => (t, Some(l)),
        None => (inner, None),
    };
    match target.chars().next() {
        Some('!') => {
            let word = target[1..].split('^').next().unwrap_or("");
            match word {
                "channel" | "everyone" => "@channel".to_string(),
                "here" => "@here".to_string(),
                _ => plain(label.unwrap_or(word)),
            }
        }
        Some('@') | Some('#') => {
            // Slack ids (U024BE7LH, C024BE7LR) mean nothing here; the label is what people read.
            let sigil = &target[..1];
            match label {
                Some(l) => format!("{}{}", escape_markdown(sigil), plain(l)),
                None => plain(target),
            }
        }
        _ => {
            let url = unescape(target);
            let url = url.trim();
            let allowed = is_http_url(url) || url.to_ascii_lowercase().starts_with("mailto:");
            match (allowed, label) {
                (true, Some(l)) if !l.trim().is_empty() => format!("[{}]({})", plain(l), markdown_url(url)),
                (true, _) => markdown_url(url),
                // Another scheme: show what was written, never as a link.
                (false, Some(l)) => plain(l),
                (false, None) => plain(url),
            }
        }
    }
}

/// `*bold*` → `**bold**`, `_it_` → `*it*`, `~s~` → `~~s~~`, on text outside links and code.
/// Doubled markers (`**`, `__`, `~~`) are Markdown already (Gitea sends issue bodies as
/// Markdown) and pass through; other punctuation that would mean something to Madang's
/// Markdown but not to mrkdwn is escaped.
fn emphasis(s: &str) -> String {
    let chars: Vec<char> = unescape(s).chars().collect();
    let mut out = String::with_capacity(s.len() + 8);
    emphasis_span(&chars, 0, &mut out);
    out
}

/// Nested emphasis goes at most this deep; deeper markers are escaped.
const MAX_EMPHASIS_DEPTH: usize = 4;

fn emphasis_span(chars: &[char], depth: usize, out: &mut String) {
    let n = chars.len();
    // For each marker, the first position at or after `i` that can close it: after a
    // non-space, not before a letter or digit. Built once, so every look-up is O(1).
    let closers: [Vec<usize>; 3] = ['*', '_', '~'].map(|c| {
        let mut next = vec![usize::MAX; n + 1];
        for j in (0..n).rev() {
            let closes = chars[j] == c
                && j > 0
                && !chars[j - 1].is_whitespace()
                && !chars.get(j + 1).is_some_and(|a| a.is_alphanumeric() || *a == c);
            next[j] = if closes { j } else { next[j + 1] };
        }
        next
    });
    let mut line_end = vec![n; n + 1];
    for j in (0..n).rev() {
        line_end[j] = if chars[j] == '\n' { j } else { line_end[j + 1] };
    }
    let mut i = 0;
    while i < n {
        let c = chars[i];
        if matches!(c, '*' | '_' | '~') {
            if chars.get(i + 1) == Some(&c) {
                out.push(c);
                out.push(c);
                i += 2;
                continue;
            }
            let kind = match c {
                '*' => 0,
                '_' => 1,
                _ => 2,
            };
            let before_ok = i == 0 || !chars[i - 1].is_alphanumeric();
            let after_ok = chars.get(i + 1).is_some_and(|a| !a.is_whitespace());
            let close = closers[kind].get(i + 2).copied().unwrap_or(usize::MAX);
            if depth < MAX_EMPHASIS_DEPTH && before_ok && after_ok && close < line_end[i] {
                let marker = match c {
                    '*' => "**",
                    '_' => "*",
                    _ => "~~",
                };
                out.push_str(marker);
                emphasis_span(&chars[i + 1..close], depth + 1, out);
                out.push_str(marker);
                i = close + 1;
                continue;
            }
            out.push('\\');
            out.push(c);
            i += 1;
            continue;
        }
        if matches!(c, '\\' | '[' | ']') {
            out.push('\\');
        }
        out.push(c);
        i += 1;
    }
}

/// `application/x-www-form-urlencoded` decoding of one value (`+` is a space).
fn percent_decode_form(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < s.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(s[i + 1]), hex(s[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b'&' => break,
            b => out.push(b),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(json: &str) -> String {
        parse(json.as_bytes()).unwrap().text
    }

    #[test]
    fn mrkdwn_conversion() {
        assert_eq!(mrkdwn("<https://a.b/c|the label> and <https://x.y>"), "[the label](https://a.b/c) and https://x.y");
        assert_eq!(
            mrkdwn("*bold* _it_ ~gone~ snake_case_word 2*3*4"),
            "**bold** *it* ~~gone~~ snake\\_case\\_word 2\\*3\\*4"
        );
        assert_eq!(mrkdwn("a &lt;b&gt; &amp;amp; c"), "a <b> &amp; c");
        assert_eq!(mrkdwn("`*not bold* &lt;x&gt;` *bold*"), "`*not bold* <x>` **bold**");
        assert_eq!(mrkdwn("```\n*code*\n```"), "```\n*code*\n```");
        assert_eq!(mrkdwn("<!channel> <!here> <@U123|alice> <#C1|general>"), "@channel @here \\@alice #general");
        assert_eq!(mrkdwn("<javascript:alert(1)|click>"), "click");
        assert_eq!(mrkdwn("<https://a.b/x_(y)|w>"), "[w](https://a.b/x_%28y%29)");
        assert_eq!(mrkdwn("[not](a link)"), "\\[not\\](a link)");
        assert_eq!(mrkdwn("<https://a.b|*bold* [x]>"), "[\\*bold\\* \\[x\\]](https://a.b)");
        assert_eq!(mrkdwn("unclosed < here"), "unclosed < here");
        assert_eq!(mrkdwn("**md bold** ~~md strike~~ __u__"), "**md bold** ~~md strike~~ __u__");
        assert_eq!(mrkdwn("한글 *굵게* _기울임_"), "한글 **굵게** *기울임*");
    }

    #[test]
    fn gitea_push() {
        let body =
            std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/chat/gitea-slack-push.json")).unwrap();
        let inc = parse(&body).unwrap();
        assert_eq!(inc.username.as_deref(), Some("Gitea"));
        assert_eq!(inc.icon_url, None);
        assert_eq!(
            inc.text,
            "\\[[alice/demo](https://git.example.org/alice/demo):[main](https://git.example.org/alice/demo/src/branch/main)\\] \
             [2 new commits](https://git.example.org/alice/demo/compare/4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b...9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d) \
             pushed by alice\n\n\
             > **[https://git.example.org/alice/demo](https://git.example.org/alice/demo)**\n\
             > [1a2b3c4](https://git.example.org/alice/demo/commit/1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d): \
             Fix parsing of <script> tags & entities - Alice Kim\n\
             > [9e8d7c6](https://git.example.org/alice/demo/commit/9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d): \
             Add **README** for *chat* - Bob Lee"
        );
        let html = crate::markdown::render(&inc.text);
        assert!(
            html.contains(
                "<a href=\"https://git.example.org/alice/demo/commit/1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d\""
            ),
            "{html}"
        );
        assert!(html.contains("Fix parsing of &lt;script&gt; tags &amp; entities"), "{html}");
        assert!(html.starts_with("<p>[<a href=\"https://git.example.org/alice/demo\""), "{html}");
    }

    #[test]
    fn gitea_issue_opened_and_delete() {
        let body =
            std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/chat/gitea-slack-issue-opened.json"))
                .unwrap();
        let inc = parse(&body).unwrap();
        assert_eq!(inc.icon_url.as_deref(), Some("https://git.example.org/assets/img/logo.png"));
        assert!(inc.text.starts_with("\\[[alice/demo](https://git.example.org/alice/demo)\\] Issue opened: [#7 Login fails with <Safari>](https://git.example.org/alice/demo/issues/7) by [bob](https://git.example.org/bob)"), "{}", inc.text);
        assert!(
            inc.text.contains("\n> **[#7 Login fails with <Safari>](https://git.example.org/alice/demo/issues/7)**\n"),
            "{}",
            inc.text
        );
        assert!(inc.text.contains("> 2. Type `<b>` as the password\n>\n> Expected **an error**"), "{}", inc.text);
        let html = crate::markdown::render(&inc.text);
        assert!(html.contains("#7 Login fails with &lt;Safari&gt;</a>"), "{html}");
        assert!(html.contains("<code>&lt;b&gt;</code>"), "{html}");

        let body =
            std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/chat/gitea-slack-delete.json")).unwrap();
        let inc = parse(&body).unwrap();
        assert_eq!((inc.username, inc.icon_url), (None, None));
        assert_eq!(
            inc.text,
            "\\[[alice/demo](https://git.example.org/alice/demo):old-feature\\] branch deleted by alice"
        );
    }

    #[test]
    fn attachments() {
        let t = text(
            r##"{"attachments":[{"fallback":"fb","color":"#36a64f","pretext":"Heads *up*","author_name":"Grafana",
            "author_link":"https://grafana.example/","title":"CPU high","title_link":"https://grafana.example/d/1",
            "text":"Load _5.2_","fields":[{"title":"Host","value":"db1","short":true},{"title":"Env","value":"prod"}],
            "footer":"alerts","ts":1767225600}]}"##,
        );
        assert_eq!(
            t,
            "Heads **up**\n> **[Grafana](https://grafana.example/)**\n> **[CPU high](https://grafana.example/d/1)**\n> Load *5.2*\n> **Host**: db1\n> **Env**: prod\n> alerts · 2026-01-01 00:00 UTC"
        );
        assert_eq!(text(r#"{"attachments":[{"fallback":"only *this*"}]}"#), "> only **this**");
        assert_eq!(text(r#"{"text":"x","attachments":[{"ts":"1767225600.000100"}]}"#), "x\n\n> 2026-01-01 00:00 UTC");
    }

    #[test]
    fn form_encoded() {
        let inc = parse(b"payload=%7B%22text%22%3A%22hello+*world*%22%2C%22username%22%3A%22ci%22%7D").unwrap();
        assert_eq!((inc.text.as_str(), inc.username.as_deref()), ("hello **world**", Some("ci")));
    }

    #[test]
    fn fields_kept_or_dropped() {
        let inc = parse(br##"{"text":"hi","username":"  Deploy\u0007 bot ","icon_url":"javascript:alert(1)","channel":"#x","icon_emoji":":ghost:"}"##).unwrap();
        assert_eq!(inc, Incoming { text: "hi".into(), username: Some("Deploy bot".into()), icon_url: None });
        let inc = parse(br#"{"text":"hi","username":"","icon_url":"https://a.b/i.png"}"#).unwrap();
        assert_eq!((inc.username, inc.icon_url.as_deref()), (None, Some("https://a.b/i.png")));
    }

    #[test]
    fn errors_each_with_a_reason() {
        let e = |b: &[u8]| parse(b).unwrap_err().to_string();
        assert!(e(b"not json").starts_with("the payload is not JSON: "));
        assert!(e(b"").starts_with("the payload is not JSON: "));
        assert_eq!(e(b"[1]"), "the payload must be a JSON object");
        assert_eq!(e(b"{}"), "the payload has no `text` and no `attachments` with something to show");
        assert_eq!(
            e(br#"{"text":"  ","attachments":[]}"#),
            "the payload has no `text` and no `attachments` with something to show"
        );
        assert_eq!(
            e(br#"{"attachments":[{"color":"red"}]}"#),
            "the payload has no `text` and no `attachments` with something to show"
        );
        assert_eq!(e(br#"{"text":5}"#), "`text` must be a string");
        assert_eq!(e(br#"{"text":"a","username":["x"]}"#), "`username` must be a string");
        assert_eq!(e(br#"{"text":"a","attachments":{}}"#), "`attachments` must be an array");
        assert_eq!(e(br#"{"text":"a","attachments":[1]}"#), "`attachments[0]` must be an object");
        assert_eq!(
            e(br#"{"attachments":[{"fields":[{"title":1}]}]}"#),
            "`attachments[0].fields[0].title` must be a string"
        );
        assert_eq!(
            e(br#"{"attachments":[{"text":"x","fields":[{"short":"yes"}]}]}"#),
            "`attachments[0].fields[0].short` must be true or false"
        );
        assert_eq!(e(br#"{"attachments":[{"text":"x","ts":"soon"}]}"#), "`attachments[0].ts` must be a Unix time");
        let big = vec![b' '; MAX_PAYLOAD_BYTES + 1];
        assert_eq!(
            e(&big),
            format!("the payload is {} bytes; at most {MAX_PAYLOAD_BYTES} are accepted", MAX_PAYLOAD_BYTES + 1)
        );
    }
}
