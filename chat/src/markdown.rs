//! The Markdown subset of chat messages, rendered to HTML that can never be active.
//!
//! What is understood: paragraphs (a single newline is a line break), `**bold**`/`__bold__`,
//! `*italic*`/`_italic_`, `~~strike~~`, `` `code` ``, fenced code blocks with an optional
//! language, `[text](url)` links and bare `http(s)://` URLs, `- `/`* ` and `1. ` lists, `> `
//! quotes, and `@name`/`@channel`/`@here` mentions. The syntax follows CommonMark where the two
//! meet (code spans by matching backtick runs, `_` never inside a word, backslash escapes of
//! ASCII punctuation) but is deliberately smaller: no raw HTML, no images, no headings, no
//! reference links.
//!
//! Safety does not rest on one mechanism. The renderer writes every character of the message
//! through an escaper and only ever emits tags it opens and closes itself, links only with an
//! `http`, `https` or `mailto` URL; then the result goes through `ammonia` with an explicit
//! allow-list (elements, attributes, classes, URL schemes), so a bug in the first stage still
//! cannot produce a script, a style, an event handler or another kind of URL.
//!
//! Work is linear in the input: blocks nest at most [`MAX_BLOCK_DEPTH`] deep and inline
//! constructs [`MAX_INLINE_DEPTH`] deep (deeper markers stay text), every closer is found in
//! O(1) through tables built once per paragraph, and a link's URL is at most
//! [`MAX_URL_CHARS`] characters.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

/// Quotes and lists nest at most this deep; deeper markers are shown as text.
pub const MAX_BLOCK_DEPTH: usize = 8;
/// Emphasis and links nest at most this deep; deeper markers are shown as text.
pub const MAX_INLINE_DEPTH: usize = 16;
/// The longest URL turned into a link, in characters.
pub const MAX_URL_CHARS: usize = 2048;
/// The longest user name a mention can carry (Madang's `Username::MAX_LEN`).
pub const MAX_NAME_LEN: usize = 64;

/// The elements a rendered message may contain; nothing else survives [`render`].
pub const ALLOWED_ELEMENTS: &[&str] =
    &["p", "br", "strong", "em", "del", "code", "pre", "a", "ul", "ol", "li", "blockquote", "span"];

/// The attributes allowed per element (`rel` is set on every link by the sanitizer).
pub const ALLOWED_ATTRIBUTES: &[(&str, &str)] =
    &[("a", "href"), ("a", "rel"), ("a", "target"), ("code", "class"), ("span", "class"), ("ol", "start")];

/// The URL schemes a link may have.
pub const ALLOWED_SCHEMES: &[&str] = &["http", "https", "mailto"];

const LINK_REL: &str = "noopener noreferrer nofollow";

/// Renders a message's Markdown source to safe HTML.
pub fn render(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 2 + 16);
    walk(text, &mut Sink { html: Some(&mut out), mentions: None });
    CLEANER.clean(&out).to_string()
}

/// The renderer's own output, before the sanitizer: for tests that hold each line of defence
/// to the allow-list on its own.
#[doc(hidden)]
pub fn render_unsanitized(text: &str) -> String {
    let mut out = String::new();
    walk(text, &mut Sink { html: Some(&mut out), mentions: None });
    out
}

/// What a walk over a message produces: HTML, mentions, or both.
pub(crate) struct Sink<'a> {
    pub html: Option<&'a mut String>,
    /// Every mention rendered, as written (without `@`).
    pub mentions: Option<&'a mut Vec<String>>,
}

impl Sink<'_> {
    fn push(&mut self, s: &str) {
        if let Some(out) = self.html.as_deref_mut() {
            out.push_str(s);
        }
    }

    fn text(&mut self, chars: &[char]) {
        if let Some(out) = self.html.as_deref_mut() {
            for &c in chars {
                escape_char(c, out);
            }
        }
    }

    fn text_str(&mut self, s: &str) {
        if let Some(out) = self.html.as_deref_mut() {
            for c in s.chars() {
                escape_char(c, out);
            }
        }
    }
}

/// Parses `text` and feeds what it finds to `sink`: the one parser behind both rendering and
/// mention extraction, so a mention counts exactly when it is shown as one.
pub(crate) fn walk(text: &str, sink: &mut Sink<'_>) {
    // NUL is not text (and PostgreSQL cannot store it); CR and CRLF are line ends.
    let text = text.replace("\r\n", "\n").replace(['\r'], "\n").replace('\0', "\u{FFFD}");
    let lines: Vec<&str> = text.split('\n').collect();
    blocks(&lines, 0, false, sink);
}

fn escape_char(c: char, out: &mut String) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '"' => out.push_str("&quot;"),
        '\'' => out.push_str("&#39;"),
        c => out.push(c),
    }
}

// ---------------------------------------------------------------------------------------------
// Blocks

enum ListKind {
    Bullet,
    Ordered(u64),
}

/// A list item's marker: its kind and where its content starts (in bytes).
fn list_item(line: &str) -> Option<(ListKind, usize)> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    if indent > 3 {
        return None;
    }
    let rest = &line[indent..];
    let b = rest.as_bytes();
    if (b.first() == Some(&b'-') || b.first() == Some(&b'*')) && matches!(b.get(1), Some(b' ' | b'\t')) {
        return Some((ListKind::Bullet, indent + 2));
    }
    let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if (1..=9).contains(&digits)
        && matches!(b.get(digits), Some(b'.' | b')'))
        && matches!(b.get(digits + 1), Some(b' ' | b'\t'))
    {
        let start = rest[..digits].parse().unwrap_or(1);
        return Some((ListKind::Ordered(start), indent + digits + 2));
    }
    None
}

/// The content of a quote line (`> text`), if it is one.
fn quote_line(line: &str) -> Option<&str> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    if indent > 3 {
        return None;
    }
    let rest = line[indent..].strip_prefix('>')?;
    Some(rest.strip_prefix(' ').unwrap_or(rest))
}

/// An opening code fence: the number of backticks and the language, if any.
fn fence_open(line: &str) -> Option<(usize, Option<String>)> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    if indent > 3 {
        return None;
    }
    let rest = &line[indent..];
    let ticks = rest.len() - rest.trim_start_matches('`').len();
    if ticks < 3 {
        return None;
    }
    let info = rest[ticks..].trim();
    // CommonMark §4.5: the info string of a backtick fence cannot contain a backtick.
    if info.contains('`') {
        return None;
    }
    let lang = info.split_whitespace().next().map(str::to_lowercase).filter(|l| valid_language(l));
    Some((ticks, lang))
}

fn fence_close(line: &str, ticks: usize) -> bool {
    let t = line.trim();
    t.len() >= ticks && t.bytes().all(|b| b == b'`') && line.len() - line.trim_start_matches(' ').len() <= 3
}

/// A code block's language becomes `class="language-…"`, so only a short, plain word is kept.
pub(crate) fn valid_language(lang: &str) -> bool {
    (1..=32).contains(&lang.len())
        && lang
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'+' | b'-' | b'#' | b'.'))
}

fn indented(line: &str) -> bool {
    line.starts_with("  ") || line.starts_with('\t')
}

/// Removes up to `width` columns of leading whitespace (a tab counts as four).
fn dedent(line: &str, width: usize) -> &str {
    let mut col = 0;
    for (i, c) in line.char_indices() {
        if col >= width {
            return &line[i..];
        }
        match c {
            ' ' => col += 1,
            '\t' => col += 4,
            _ => return &line[i..],
        }
    }
    ""
}

fn blocks(lines: &[&str], depth: usize, tight: bool, sink: &mut Sink<'_>) {
    let nest = depth < MAX_BLOCK_DEPTH;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.trim().is_empty() {
            i += 1;
            continue;
        }
        if let Some((ticks, lang)) = fence_open(line) {
            i += 1;
            let start = i;
            while i < lines.len() && !fence_close(lines[i], ticks) {
                i += 1;
            }
            let code = &lines[start..i];
            i = (i + 1).min(lines.len());
            match lang {
                Some(lang) => {
                    sink.push("<pre><code class=\"language-");
                    sink.text_str(&lang);
                    sink.push("\">");
                }
                None => sink.push("<pre><code>"),
            }
            for (n, l) in code.iter().enumerate() {
                if n > 0 {
                    sink.push("\n");
                }
                sink.text_str(l);
            }
            sink.push("</code></pre>\n");
            continue;
        }
        if nest && quote_line(line).is_some() {
            let mut inner = Vec::new();
            while let Some(content) = lines.get(i).and_then(|l| quote_line(l)) {
                inner.push(content);
                i += 1;
            }
            sink.push("<blockquote>\n");
            blocks(&inner, depth + 1, false, sink);
            sink.push("</blockquote>\n");
            continue;
        }
        if nest && let Some((kind, _)) = list_item(line) {
            i = list(lines, i, kind, depth, sink);
            continue;
        }
        // A paragraph: lines up to a blank line or the start of another block.
        let start = i;
        i += 1;
        while i < lines.len() {
            let l = lines[i];
            let interrupts = l.trim().is_empty()
                || fence_open(l).is_some()
                || (nest && quote_line(l).is_some())
                || (nest && matches!(list_item(l), Some((ListKind::Bullet | ListKind::Ordered(1), _))));
            if interrupts {
                break;
            }
            i += 1;
        }
        let para: Vec<&str> = lines[start..i].iter().map(|l| l.trim()).collect();
        if !tight {
            sink.push("<p>");
        }
        Inline::new(&para.join("\n")).render(sink);
        if !tight {
            sink.push("</p>\n");
        }
    }
}

/// Renders the list starting at `lines[i]`; returns the index after it.
fn list(lines: &[&str], mut i: usize, kind: ListKind, depth: usize, sink: &mut Sink<'_>) -> usize {
    let ordered = matches!(kind, ListKind::Ordered(_));
    match kind {
        ListKind::Bullet => sink.push("<ul>\n"),
        ListKind::Ordered(1) => sink.push("<ol>\n"),
        ListKind::Ordered(start) => sink.push(&format!("<ol start=\"{start}\">\n")),
    }
    while let Some((item_kind, offset)) = lines.get(i).and_then(|l| list_item(l)) {
        if matches!(item_kind, ListKind::Ordered(_)) != ordered {
            break;
        }
        let mut content = vec![lines[i][offset..].trim_start()];
        i += 1;
        // Continuation lines are indented; a blank line ends the item unless the next
        // non-blank line is indented (then it continues) or another item.
        while i < lines.len() {
            let l = lines[i];
            if l.trim().is_empty() {
                match lines[i..].iter().position(|l| !l.trim().is_empty()) {
                    Some(n) if indented(lines[i + n]) => {
                        content.push("");
                        i += n;
                        continue;
                    }
                    _ => break,
                }
            }
            if !indented(l) {
                break;
            }
            content.push(dedent(l, offset));
            i += 1;
        }
        sink.push("<li>");
        let loose = content.iter().any(|l| l.trim().is_empty());
        blocks(&content, depth + 1, !loose, sink);
        sink.push("</li>\n");
        // A blank line between items: the list goes on only if the next line is an item.
        let next = lines[i..].iter().position(|l| !l.trim().is_empty()).map(|n| i + n);
        match next {
            Some(n) if list_item(lines[n]).is_some() => i = n,
            _ => break,
        }
    }
    sink.push(if ordered { "</ol>\n" } else { "</ul>\n" });
    i
}

// ---------------------------------------------------------------------------------------------
// Inline

const NONE: u32 = u32::MAX;

/// Closer kinds, indexing [`Inline::next_closer`].
#[derive(Clone, Copy)]
enum Delim {
    Star1 = 0,
    Star2 = 1,
    Under1 = 2,
    Under2 = 3,
    Tilde2 = 4,
}

impl Delim {
    fn of(c: char, double: bool) -> Option<Self> {
        Some(match (c, double) {
            ('*', false) => Delim::Star1,
            ('*', true) => Delim::Star2,
            ('_', false) => Delim::Under1,
            ('_', true) => Delim::Under2,
            ('~', true) => Delim::Tilde2,
            _ => return None,
        })
    }

    fn tags(self) -> (&'static str, &'static str) {
        match self {
            Delim::Star1 | Delim::Under1 => ("<em>", "</em>"),
            Delim::Star2 | Delim::Under2 => ("<strong>", "</strong>"),
            Delim::Tilde2 => ("<del>", "</del>"),
        }
    }
}

/// One paragraph's text with the tables that make every look-ahead O(1).
struct Inline {
    s: Vec<char>,
    /// `s[i]` was escaped by a backslash: it is plain text.
    escaped: Vec<bool>,
    /// At a code span's opening backtick: where its closing run starts.
    code_close: Vec<u32>,
    /// Inside a code span (its backticks included).
    in_code: Vec<bool>,
    /// At `[`: the matching `]`.
    bracket_close: Vec<u32>,
    /// At `(`: the matching `)`.
    paren_close: Vec<u32>,
    /// The first whitespace at or after `i`.
    next_space: Vec<u32>,
    /// Per [`Delim`]: the first position at or after `i` where that delimiter can close.
    next_closer: [Vec<u32>; 5],
}

fn run_len(s: &[char], i: usize, c: char) -> usize {
    s[i..].iter().take_while(|&&x| x == c).count()
}

impl Inline {
    fn new(text: &str) -> Self {
        let s: Vec<char> = text.chars().collect();
        let n = s.len();
        let mut escaped = vec![false; n];
        let mut i = 0;
        while i < n {
            if s[i] == '\\' && i + 1 < n && s[i + 1].is_ascii_punctuation() {
                escaped[i + 1] = true;
                i += 2;
            } else {
                i += 1;
            }
        }

        // Code spans (CommonMark §6.1): a run of N backticks closes at the next run of exactly N.
        let mut runs = Vec::new();
        let mut i = 0;
        while i < n {
            if s[i] == '`' && !escaped[i] {
                let len = run_len(&s, i, '`');
                runs.push((i, len));
                i += len;
            } else {
                i += 1;
            }
        }
        let mut next_same = vec![usize::MAX; runs.len()];
        let mut last_of_len: HashMap<usize, usize> = HashMap::new();
        for (k, &(_, len)) in runs.iter().enumerate().rev() {
            if let Some(&j) = last_of_len.get(&len) {
                next_same[k] = j;
            }
            last_of_len.insert(len, k);
        }
        let mut code_close = vec![NONE; n];
        let mut in_code = vec![false; n];
        let mut k = 0;
        while k < runs.len() {
            let j = next_same[k];
            if j == usize::MAX {
                k += 1;
                continue;
            }
            let (open, _) = runs[k];
            let (close, len) = runs[j];
            code_close[open] = close as u32;
            in_code[open..close + len].iter_mut().for_each(|x| *x = true);
            k = j + 1;
        }

        let plain = |i: usize| !escaped[i] && !in_code[i];
        let mut bracket_close = vec![NONE; n];
        let mut paren_close = vec![NONE; n];
        let (mut brackets, mut parens) = (Vec::new(), Vec::new());
        for (i, &c) in s.iter().enumerate() {
            if !plain(i) {
                continue;
            }
            let (stack, close) = match c {
                '[' | ']' => (&mut brackets, &mut bracket_close),
                '(' | ')' => (&mut parens, &mut paren_close),
                _ => continue,
            };
            if matches!(c, '[' | '(') {
                stack.push(i);
            } else if let Some(open) = stack.pop() {
                close[open] = i as u32;
            }
        }
        let mut next_space = vec![n as u32; n + 1];
        for i in (0..n).rev() {
            next_space[i] = if s[i].is_whitespace() { i as u32 } else { next_space[i + 1] };
        }

        // Delimiter runs: which can close, per kind. `_` never closes inside a word.
        let mut closes: [Vec<bool>; 5] = std::array::from_fn(|_| vec![false; n]);
        let mut i = 0;
        while i < n {
            let c = s[i];
            if !matches!(c, '*' | '_' | '~') || !plain(i) {
                i += 1;
                continue;
            }
            let mut len = 1;
            while i + len < n && s[i + len] == c && plain(i + len) {
                len += 1;
            }
            let before = i.checked_sub(1).map(|p| s[p]);
            let after = s.get(i + len).copied();
            let can_close =
                before.is_some_and(|b| !b.is_whitespace()) && (c != '_' || !after.is_some_and(char::is_alphanumeric));
            if can_close {
                if len == 1
                    && let Some(d) = Delim::of(c, false)
                {
                    closes[d as usize][i] = true;
                }
                if len >= 2
                    && let Some(d) = Delim::of(c, true)
                {
                    closes[d as usize][i] = true;
                }
            }
            i += len;
        }
        let next_closer = closes.map(|marks| {
            let mut next = vec![NONE; n + 1];
            for i in (0..n).rev() {
                next[i] = if marks[i] { i as u32 } else { next[i + 1] };
            }
            next
        });

        Inline { s, escaped, code_close, in_code, bracket_close, paren_close, next_space, next_closer }
    }

    fn render(&self, sink: &mut Sink<'_>) {
        self.span(0, self.s.len(), 0, false, sink);
    }

    fn plain(&self, i: usize) -> bool {
        !self.escaped[i] && !self.in_code[i]
    }

    /// Renders `s[start..end]`.
    fn span(&self, start: usize, end: usize, depth: usize, in_link: bool, sink: &mut Sink<'_>) {
        let s = &self.s;
        let nest = depth < MAX_INLINE_DEPTH;
        let mut text_from = start;
        let mut i = start;
        // Flushes the plain text before a construct.
        macro_rules! flush {
            () => {
                sink.text(&s[text_from..i]);
            };
        }
        while i < end {
            let c = s[i];
            // A code span.
            if c == '`' && self.code_close[i] != NONE && (self.code_close[i] as usize) < end {
                flush!();
                let len = run_len(s, i, '`');
                let close = self.code_close[i] as usize;
                let mut content: String = s[i + len..close].iter().map(|&c| if c == '\n' { ' ' } else { c }).collect();
                // §6.1: one leading and trailing space is stripped when both are present.
                if content.len() > 2 && content.starts_with(' ') && content.ends_with(' ') && content.trim() != "" {
                    content = content[1..content.len() - 1].to_string();
                }
                sink.push("<code>");
                sink.text_str(&content);
                sink.push("</code>");
                i = close + len;
                text_from = i;
                continue;
            }
            if c == '\\' && i + 1 < end && self.escaped[i + 1] {
                flush!();
                i += 1;
                text_from = i;
                i += 1;
                continue;
            }
            if c == '\n' {
                flush!();
                sink.push("<br>\n");
                i += 1;
                text_from = i;
                continue;
            }
            if !self.plain(i) {
                i += 1;
                continue;
            }
            if nest && matches!(c, '*' | '_' | '~') {
                match self.emphasis(i, end, depth, in_link, sink, &mut text_from) {
                    Ok(next) => i = next,
                    // Text; only the run's last character may still open a shorter emphasis,
                    // so a long run is scanned twice at most, not once per character.
                    Err(len) => i += len.saturating_sub(1).max(1),
                }
                continue;
            }
            if nest
                && !in_link
                && c == '['
                && let Some(next) = self.link(i, end, depth, sink, &mut text_from)
            {
                i = next;
                continue;
            }
            if !in_link
                && matches!(c, 'h' | 'H')
                && (i == 0 || !s[i - 1].is_alphanumeric())
                && let Some(url_end) = self.bare_url(i, end)
            {
                flush!();
                let url: String = s[i..url_end].iter().collect();
                self.anchor(&url, sink);
                sink.text_str(&url);
                sink.push("</a>");
                i = url_end;
                text_from = i;
                continue;
            }
            if c == '@'
                && let Some(name_end) = mention_at(s, start, i, end)
            {
                flush!();
                let name: String = s[i + 1..name_end].iter().collect();
                sink.push("<span class=\"mention\">@");
                sink.text_str(&name);
                sink.push("</span>");
                if let Some(m) = sink.mentions.as_deref_mut() {
                    m.push(name);
                }
                i = name_end;
                text_from = i;
                continue;
            }
            i += 1;
        }
        sink.text(&s[text_from..end]);
    }

    /// Emphasis, strong or strike opening at `i`: where rendering continues, or the length of
    /// the delimiter run when it opens nothing.
    fn emphasis(
        &self,
        i: usize,
        end: usize,
        depth: usize,
        in_link: bool,
        sink: &mut Sink<'_>,
        text_from: &mut usize,
    ) -> Result<usize, usize> {
        let s = &self.s;
        let c = s[i];
        let mut len = 0;
        while i + len < end && s[i + len] == c && self.plain(i + len) {
            len += 1;
        }
        let after = s.get(i + len).copied().filter(|_| i + len < end);
        let before = i.checked_sub(1).map(|p| s[p]);
        let can_open =
            after.is_some_and(|a| !a.is_whitespace()) && (c != '_' || !before.is_some_and(char::is_alphanumeric));
        if !can_open {
            return Err(len);
        }
        let double = len >= 2;
        let delim = Delim::of(c, double).ok_or(len)?;
        let width = if double { 2 } else { 1 };
        // The opener is the last `width` characters of its run, so `***a**` is `*` + strong.
        let open = i + len - width;
        let close = self.next_closer[delim as usize][open + width] as usize;
        if close == NONE as usize || close >= end || close + width > end || close == open + width {
            return Err(len);
        }
        sink.text(&s[*text_from..open]);
        let (o, cl) = delim.tags();
        sink.push(o);
        self.span(open + width, close, depth + 1, in_link, sink);
        sink.push(cl);
        let next = close + width;
        *text_from = next;
        Ok(next)
    }

    /// `[text](url)` at `i`; returns where rendering continues, or `None` to leave it as text.
    fn link(&self, i: usize, end: usize, depth: usize, sink: &mut Sink<'_>, text_from: &mut usize) -> Option<usize> {
        let s = &self.s;
        let close = self.bracket_close[i];
        if close == NONE {
            return None;
        }
        let close = close as usize;
        if close + 1 >= end || s[close + 1] != '(' {
            return None;
        }
        // The URL: no whitespace, balanced parentheses, at most MAX_URL_CHARS.
        let url_start = close + 2;
        let j = self.paren_close[close + 1];
        if j == NONE {
            return None;
        }
        let j = j as usize;
        if j >= end || (self.next_space[url_start] as usize) < j || j - url_start > MAX_URL_CHARS {
            return None;
        }
        let url: String = s[url_start..j].iter().collect();
        if !allowed_url(&url) {
            // Left as text, brackets and all: the reader sees what was written.
            return None;
        }
        sink.text(&s[*text_from..i]);
        self.anchor(&url, sink);
        if close == i + 1 {
            sink.text_str(&url);
        } else {
            self.span(i + 1, close, depth + 1, true, sink);
        }
        sink.push("</a>");
        *text_from = j + 1;
        Some(j + 1)
    }

    fn anchor(&self, url: &str, sink: &mut Sink<'_>) {
        sink.push("<a href=\"");
        sink.text_str(url);
        sink.push("\" target=\"_blank\" rel=\"");
        sink.push(LINK_REL);
        sink.push("\">");
    }

    /// A bare `http://` or `https://` URL at `i`: where it ends.
    fn bare_url(&self, i: usize, end: usize) -> Option<usize> {
        let s = &self.s;
        let scheme_len = ["https://", "http://"].iter().find_map(|p| {
            let n = p.len();
            (i + n < end && s[i..i + n].iter().zip(p.chars()).all(|(a, b)| a.to_ascii_lowercase() == b)).then_some(n)
        })?;
        let mut j = i + scheme_len;
        while j < end
            && j - i < MAX_URL_CHARS
            && !s[j].is_whitespace()
            && !matches!(s[j], '<' | '>' | '"' | '`')
            && self.outside_code(j)
        {
            j += 1;
        }
        // Trailing punctuation belongs to the sentence; a `)` only if it closes nothing.
        while j > i + scheme_len {
            let last = s[j - 1];
            let unbalanced_paren = last == ')' && {
                let opens = s[i..j].iter().filter(|&&c| c == '(').count();
                let closes = s[i..j].iter().filter(|&&c| c == ')').count();
                closes > opens
            };
            if matches!(last, '.' | ',' | ':' | ';' | '!' | '?' | '\'' | '*' | '_' | '~') || unbalanced_paren {
                j -= 1;
            } else {
                break;
            }
        }
        (j > i + scheme_len).then_some(j)
    }

    fn outside_code(&self, j: usize) -> bool {
        !self.in_code[j]
    }
}

/// A mention at `s[i] == '@'`: where its name ends. Not after a word character (that is an
/// e-mail address), and a name of Madang's user name characters (a-z, digits, `.`, `_`, `-`;
/// a trailing `.` ends the sentence, not the name).
pub(crate) fn mention_at(s: &[char], start: usize, i: usize, end: usize) -> Option<usize> {
    // At the start of a span (after `_` in `_@bob_`, say) nothing comes before it.
    if i > start {
        let b = s[i - 1];
        if b.is_alphanumeric() || matches!(b, '.' | '_' | '-' | '@' | '/' | '+' | '=') {
            return None;
        }
    }
    let is_name = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    let mut j = i + 1;
    while j < end && is_name(s[j]) {
        j += 1;
    }
    if j < end && (s[j] == '@' || s[j].is_alphanumeric()) {
        // `@bob@example.com`, or a name running into non-ASCII letters: not a mention.
        return None;
    }
    while j > i + 1 && s[j - 1] == '.' {
        j -= 1;
    }
    let len = j - (i + 1);
    if len == 0 || len > MAX_NAME_LEN {
        return None;
    }
    Some(j)
}

/// A link target is allowed when it is an absolute `http`, `https` or `mailto` URL.
pub(crate) fn allowed_url(url: &str) -> bool {
    let Some((scheme, rest)) = url.split_once(':') else {
        return false;
    };
    let scheme = scheme.to_ascii_lowercase();
    match scheme.as_str() {
        "http" | "https" => rest.starts_with("//") && rest.len() > 2,
        "mailto" => !rest.is_empty(),
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// The second line of defence

static CLEANER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut b = ammonia::Builder::empty();
    b.add_tags(ALLOWED_ELEMENTS.iter().copied());
    for &(el, attr) in ALLOWED_ATTRIBUTES {
        // `rel` is ammonia's to set (it refuses a builder that allows it and sets it).
        if attr != "rel" {
            b.add_tag_attributes(el, [attr]);
        }
    }
    b.url_schemes(ALLOWED_SCHEMES.iter().copied().collect::<HashSet<_>>());
    b.url_relative(ammonia::UrlRelative::Deny);
    b.link_rel(Some(LINK_REL));
    b.clean_content_tags(["script", "style"].into_iter().collect());
    b.strip_comments(true);
    b.attribute_filter(|element, attribute, value| {
        let ok = match (element, attribute) {
            ("code", "class") => value.strip_prefix("language-").is_some_and(valid_language),
            ("span", "class") => value == "mention",
            ("ol", "start") => value.len() <= 9 && value.bytes().all(|b| b.is_ascii_digit()),
            ("a", "target") => value == "_blank",
            // ammonia adds `rel` itself and then shows it to this filter too.
            ("a", "rel") => value == LINK_REL,
            ("a", "href") => allowed_url(value),
            _ => false,
        };
        ok.then(|| value.to_string().into())
    });
    b
});

#[cfg(test)]
mod tests {
    use super::*;

    fn r(md: &str) -> String {
        render(md).trim_end().to_string()
    }

    const A: &str = "target=\"_blank\" rel=\"noopener noreferrer nofollow\"";

    #[test]
    fn paragraphs_and_breaks() {
        assert_eq!(r("hello"), "<p>hello</p>");
        assert_eq!(r("a\nb\n\nc"), "<p>a<br>\nb</p>\n<p>c</p>");
        assert_eq!(r("a\r\nb"), "<p>a<br>\nb</p>");
        assert_eq!(r(""), "");
        assert_eq!(r("\n\n  \n"), "");
    }

    #[test]
    fn emphasis() {
        assert_eq!(
            r("**b** __b__ *i* _i_ ~~s~~"),
            "<p><strong>b</strong> <strong>b</strong> <em>i</em> <em>i</em> <del>s</del></p>"
        );
        assert_eq!(r("**bold *and italic* too**"), "<p><strong>bold <em>and italic</em> too</strong></p>");
        // FIXME: a closing `***` is read as `**` then text (CommonMark nests it as `</em></strong>`).
        assert_eq!(r("**bold *and italic***"), "<p><strong>bold *and italic</strong>*</p>");
        assert_eq!(r("*a **b** c*"), "<p><em>a <strong>b</strong> c</em></p>");
        assert_eq!(r("snake_case_name"), "<p>snake_case_name</p>");
        assert_eq!(r("2 * 3 * 4"), "<p>2 * 3 * 4</p>");
        assert_eq!(r("**unclosed"), "<p>**unclosed</p>");
        assert_eq!(r("~single~"), "<p>~single~</p>");
        assert_eq!(r("\\*not\\*"), "<p>*not*</p>");
        assert_eq!(r("a **b\nc** d"), "<p>a <strong>b<br>\nc</strong> d</p>");
    }

    #[test]
    fn code() {
        assert_eq!(r("`a *b* <i>`"), "<p><code>a *b* &lt;i&gt;</code></p>");
        assert_eq!(r("``a ` b``"), "<p><code>a ` b</code></p>");
        assert_eq!(r("`unclosed"), "<p>`unclosed</p>");
        assert_eq!(r("*a `b*` c*"), "<p><em>a <code>b*</code> c</em></p>");
        assert_eq!(
            r("```rust\nfn main() {}\n<b>\n```\nafter"),
            "<pre><code class=\"language-rust\">fn main() {}\n&lt;b&gt;</code></pre>\n<p>after</p>"
        );
        assert_eq!(r("```\n**x**\n```"), "<pre><code>**x**</code></pre>");
        assert_eq!(r("```\" onmouseover=x\ncode\n```"), "<pre><code>code</code></pre>");
        assert_eq!(r("```\nunclosed"), "<pre><code>unclosed</code></pre>");
    }

    #[test]
    fn links() {
        assert_eq!(
            r("[Madang](https://example.org/a?b=1&c=2)"),
            format!("<p><a href=\"https://example.org/a?b=1&amp;c=2\" {A}>Madang</a></p>")
        );
        assert_eq!(
            r("see https://example.org/x."),
            format!("<p>see <a href=\"https://example.org/x\" {A}>https://example.org/x</a>.</p>")
        );
        assert_eq!(
            r("(https://en.wikipedia.org/wiki/Rust_(programming_language))"),
            format!(
                "<p>(<a href=\"https://en.wikipedia.org/wiki/Rust_(programming_language)\" {A}>https://en.wikipedia.org/wiki/Rust_(programming_language)</a>)</p>"
            )
        );
        assert_eq!(r("[mail](mailto:a@example.org)"), format!("<p><a href=\"mailto:a@example.org\" {A}>mail</a></p>"));
        assert_eq!(r("[x](javascript:alert(1))"), "<p>[x](javascript:alert(1))</p>");
        assert_eq!(r("[x](/relative)"), "<p>[x](/relative)</p>");
        assert_eq!(r("[**b**](http://a.b)"), format!("<p><a href=\"http://a.b\" {A}><strong>b</strong></a></p>"));
        assert_eq!(
            r("[a [b](http://x.y) c](http://a.b)"),
            format!("<p><a href=\"http://a.b\" {A}>a [b](http://x.y) c</a></p>")
        );
        assert_eq!(r("`http://a.b`"), "<p><code>http://a.b</code></p>");
    }

    #[test]
    fn lists_and_quotes() {
        assert_eq!(r("- a\n- b"), "<ul>\n<li>a</li>\n<li>b</li>\n</ul>");
        assert_eq!(r("* a\n  * b\n* c"), "<ul>\n<li>a<ul>\n<li>b</li>\n</ul>\n</li>\n<li>c</li>\n</ul>");
        assert_eq!(r("1. a\n2. b"), "<ol>\n<li>a</li>\n<li>b</li>\n</ol>");
        assert_eq!(r("3. a"), "<ol start=\"3\">\n<li>a</li>\n</ol>");
        assert_eq!(r("> a\n> **b**\n\nc"), "<blockquote>\n<p>a<br>\n<strong>b</strong></p>\n</blockquote>\n<p>c</p>");
        assert_eq!(r("> - x"), "<blockquote>\n<ul>\n<li>x</li>\n</ul>\n</blockquote>");
        assert_eq!(r("text\n- item"), "<p>text</p>\n<ul>\n<li>item</li>\n</ul>");
        assert_eq!(r("in 2024. it rained"), "<p>in 2024. it rained</p>");
    }

    #[test]
    fn mentions() {
        assert_eq!(
            r("hi @Bob and @channel"),
            "<p>hi <span class=\"mention\">@Bob</span> and <span class=\"mention\">@channel</span></p>"
        );
        assert_eq!(r("mail bob@example.org"), "<p>mail bob@example.org</p>");
        assert_eq!(r("thanks @bob."), "<p>thanks <span class=\"mention\">@bob</span>.</p>");
        assert_eq!(r("`@bob`"), "<p><code>@bob</code></p>");
    }

    #[test]
    fn nesting_is_capped() {
        let deep = format!("{}x", "> ".repeat(100));
        let html = render(&deep);
        assert_eq!(html.matches("<blockquote>").count(), MAX_BLOCK_DEPTH);
        let stars = format!("{}x{}", "*a ".repeat(1000), " a*".repeat(1000));
        let html = render(&stars);
        assert!(html.matches("<em>").count() <= MAX_INLINE_DEPTH);
        let brackets = format!("{}x{}", "[".repeat(5000), "](http://a.b)".repeat(5000));
        let _ = render(&brackets);
        let lists = (0..50).map(|d| format!("{}- x", "  ".repeat(d))).collect::<Vec<_>>().join("\n");
        assert!(render(&lists).matches("<ul>").count() <= MAX_BLOCK_DEPTH);
    }

    /// Pathological inputs finish quickly: the work is linear, not quadratic.
    #[test]
    fn linear_time() {
        let cases = [
            "*a ".repeat(20_000),
            "_a ".repeat(20_000),
            "[a](".repeat(20_000),
            "`".repeat(20_000),
            "` `` ```".repeat(5_000),
            "**".repeat(20_000),
            "https://a.b/(".repeat(5_000),
            "@".repeat(20_000),
            "- ".repeat(20_000),
            "> ".repeat(20_000),
        ];
        for case in cases {
            let t = std::time::Instant::now();
            let _ = crate::mentions::extract(&case);
            let _ = render(&case);
            assert!(t.elapsed() < std::time::Duration::from_secs(2), "slow on {:?}…", &case[..20]);
        }
    }
}
