//! What the chat store needs from the pure chat crate (`madang-chat`): rendering and mention
//! extraction, behind one seam so the store's call sites do not change when it moves.
//!
//! chatlib: until helper chatlib's crate (`madang_chat::markdown::render`,
//! `madang_chat::mentions::extract`) is merged, this file holds a conservative stand-in:
//! everything is HTML-escaped and only paragraphs and mentions are marked up, so nothing a
//! user types can become active HTML.

/// Who a text mentions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mentions {
    /// Lower-cased user names, each once, in order of appearance.
    pub users: Vec<String>,
    /// `@channel` appears.
    pub channel: bool,
    /// `@here` appears.
    pub here: bool,
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// `@name`, `@channel` and `@here` in `text` (an `@` after a name character, as in an address,
/// is not a mention).
pub fn extract(text: &str) -> Mentions {
    let mut out = Mentions::default();
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    for (i, &(at, c)) in chars.iter().enumerate() {
        if c != '@' || (i > 0 && is_name_char(chars[i - 1].1)) {
            continue;
        }
        let rest = &text[at + 1..];
        let end = rest.find(|c: char| !is_name_char(c)).unwrap_or(rest.len());
        let name = rest[..end].trim_end_matches(['.', '-']).to_lowercase();
        match name.as_str() {
            "" => {}
            "channel" => out.channel = true,
            "here" => out.here = true,
            _ if !out.users.contains(&name) => out.users.push(name),
            _ => {}
        }
    }
    out
}

/// `text` as safe HTML: escaped, paragraphs on blank lines, line breaks, mentions in a span.
pub fn render(text: &str) -> String {
    let mut html = String::new();
    for para in text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        html.push_str("<p>");
        for (n, line) in para.lines().enumerate() {
            if n > 0 {
                html.push_str("<br>");
            }
            html.push_str(&escape(line));
        }
        html.push_str("</p>");
    }
    html
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_and_escaping() {
        let m = extract("hi @Bob and @channel, mail a@b.c, @bob again @here.");
        assert_eq!(m.users, vec!["bob"]);
        assert!(m.channel && m.here);
        assert_eq!(render("<script>x</script>\n\nb"), "<p>&lt;script&gt;x&lt;/script&gt;</p><p>b</p>");
    }
}
