//! Text values and text-match (RFC 4791 §9.7.5, RFC 6352 §10.5.4) with the collations of RFC 4791 §7.5 and RFC 5051.

use calcard::icalendar::{ICalendarEntry, ICalendarParameter, ICalendarValue};
use std::borrow::Cow;

use crate::filter::{Collation, MatchType, TextMatch};

/// The value of a property as text. Text values are used unescaped; other types are written
/// in their iCalendar form (so `DTSTART` matches "20240101T090000").
pub(crate) fn entry_text(entry: &ICalendarEntry) -> Cow<'_, str> {
    if let [ICalendarValue::Text(s)] = entry.values.as_slice() {
        return Cow::Borrowed(s.as_str());
    }
    if entry.values.iter().all(|v| matches!(v, ICalendarValue::Text(_))) {
        let parts: Vec<&str> = entry.values.iter().filter_map(|v| v.as_text()).collect();
        return Cow::Owned(parts.join(","));
    }
    let mut line = String::new();
    if entry.write_to(&mut line).is_err() {
        return Cow::Borrowed("");
    }
    Cow::Owned(value_part(&unfold(&line)).to_string())
}

pub(crate) fn param_text(param: &ICalendarParameter) -> Cow<'_, str> {
    if let Some(t) = param.value.as_text() {
        return Cow::Borrowed(t);
    }
    match &param.value {
        calcard::icalendar::ICalendarParameterValue::Integer(i) => Cow::Owned(i.to_string()),
        calcard::icalendar::ICalendarParameterValue::Duration(d) => Cow::Owned(d.to_string()),
        _ => Cow::Borrowed(""),
    }
}

pub(crate) fn unfold(s: &str) -> String {
    s.replace("\r\n ", "").replace("\r\n\t", "").replace("\n ", "")
}

/// TEXT escaping for values Madang writes itself (RFC 5545 §3.3.11, RFC 6350 §3.4): backslash,
/// semicolon, comma and newline escaped; other control characters (which a stored object
/// cannot hold anyway) become spaces, so a value never breaks or injects a line.
pub(crate) fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The part of a content line after the first colon outside quotes.
pub(crate) fn value_part(line: &str) -> &str {
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ':' if !quoted => return line[i + 1..].trim_end_matches(['\r', '\n']),
            _ => {}
        }
    }
    ""
}

/// RFC 4791 §9.7.5: substring match by default; `negate-condition` inverts the result.
pub(crate) fn text_matches(tm: &TextMatch, value: &str) -> bool {
    text_hit(tm, value) != tm.negate
}

/// The text-match test without `negate-condition`: for CardDAV, where negation applies to the
/// result over all instances of a property (RFC 6352 §10.5.4, as sabre/dav evaluates it).
pub(crate) fn text_hit(tm: &TextMatch, value: &str) -> bool {
    let hay = fold(tm.collation, value);
    let needle = fold(tm.collation, &tm.value);
    match tm.match_type {
        MatchType::Equals => hay == needle,
        MatchType::Contains => hay.contains(needle.as_ref()),
        MatchType::StartsWith => hay.starts_with(needle.as_ref()),
        MatchType::EndsWith => hay.ends_with(needle.as_ref()),
    }
}

fn fold(collation: Collation, s: &str) -> Cow<'_, str> {
    match collation {
        Collation::Octet => Cow::Borrowed(s),
        Collation::AsciiCasemap => Cow::Owned(s.to_ascii_lowercase()),
        // RFC 5051 i;unicode-casemap: full case folding. Lower-casing plus the folds that
        // lower-casing misses (ß → ss, final sigma) covers real-world text.
        Collation::UnicodeCasemap => {
            let mut out = String::with_capacity(s.len());
            for c in s.chars().flat_map(char::to_lowercase) {
                match c {
                    'ß' => out.push_str("ss"),
                    'ς' => out.push('σ'),
                    c => out.push(c),
                }
            }
            Cow::Owned(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tm(value: &str, collation: Collation, match_type: MatchType, negate: bool) -> TextMatch {
        TextMatch { value: value.into(), collation, match_type, negate }
    }

    #[test]
    fn collations() {
        assert!(text_matches(&tm("MEET", Collation::AsciiCasemap, MatchType::Contains, false), "Team meeting"));
        assert!(!text_matches(&tm("MEET", Collation::Octet, MatchType::Contains, false), "Team meeting"));
        assert!(text_matches(&tm("MEET", Collation::Octet, MatchType::Contains, true), "Team meeting"));
        // ASCII casemap leaves non-ASCII alone; unicode-casemap folds it.
        assert!(!text_matches(&tm("ÜBUNG", Collation::AsciiCasemap, MatchType::Equals, false), "übung"));
        assert!(text_matches(&tm("ÜBUNG", Collation::UnicodeCasemap, MatchType::Equals, false), "übung"));
        assert!(text_matches(&tm("STRASSE", Collation::UnicodeCasemap, MatchType::Equals, false), "Straße"));
        assert!(text_matches(&tm("team", Collation::AsciiCasemap, MatchType::StartsWith, false), "Team meeting"));
        assert!(text_matches(&tm("ING", Collation::AsciiCasemap, MatchType::EndsWith, false), "Team meeting"));
    }

    #[test]
    fn value_part_skips_quoted_colons() {
        assert_eq!(value_part("ATTENDEE;CN=\"a:b\":mailto:x@y\r\n"), "mailto:x@y");
    }
}

/// The first character that RFC 5545 §3.1 (`CONTROL`) and RFC 6350 §3.3 forbid anywhere in a
/// content line, with its 1-based line number: C0 controls other than HTAB, and DEL. CR and LF
/// are line breaks, not content. Refusing them up front also keeps both databases equal:
/// PostgreSQL's `text` cannot hold NUL, which SQLite would store.
///
/// A CR must end a line (CRLF): a lone one is a control inside a value, which calcard keeps and
/// every reader after it takes for a line break (fuzz finding F5).
pub fn forbidden_control(text: &str) -> Option<(usize, char)> {
    let bytes = text.as_bytes();
    let at = text.char_indices().find_map(|(i, c)| {
        let bad = match c {
            '\r' => bytes.get(i + 1).is_some_and(|b| *b != b'\n'),
            '\t' | '\n' => false,
            c => c < ' ' || c == '\u{7f}',
        };
        bad.then_some(i)
    })?;
    let line = text[..at].bytes().filter(|b| *b == b'\n').count() + 1;
    text[at..].chars().next().map(|c| (line, c))
}

/// How a refused control character is named in an error message (`U+0000`).
pub fn describe_control(line: usize, c: char) -> String {
    format!("line {line}: control character U+{:04X} is not allowed (RFC 5545 §3.1, RFC 6350 §3.3)", c as u32)
}

#[cfg(test)]
mod control_tests {
    use super::*;

    #[test]
    fn finds_forbidden_controls_with_their_line() {
        assert_eq!(forbidden_control("BEGIN:X\r\nA:b\tc\r\n"), None);
        assert_eq!(forbidden_control("BEGIN:X\r\nA:b\u{0}c\r\n"), Some((2, '\u{0}')));
        assert_eq!(forbidden_control("A:\u{7f}"), Some((1, '\u{7f}')));
        assert_eq!(forbidden_control("A:\u{b}"), Some((1, '\u{b}')));
        assert_eq!(forbidden_control("A;T=a\rb:x\r\n"), Some((1, '\r')), "a lone CR");
        assert_eq!(forbidden_control("END:VCARD\r"), None, "a body cut after its last CR");
        assert_eq!(forbidden_control("A:x\nB:y\n"), None, "bare LF line ends are tolerated");
        // Non-ASCII text is not a control.
        assert_eq!(forbidden_control("SUMMARY:회의 \u{85}"), None);
        assert_eq!(
            describe_control(3, '\u{0}'),
            "line 3: control character U+0000 is not allowed (RFC 5545 §3.1, RFC 6350 §3.3)"
        );
    }
}

/// Writes one content line folded at 75 octets with its CRLF, never inside a UTF-8 sequence:
/// RFC 5545 §3.1 for iCalendar, RFC 6350 §3.2 (and RFC 2425 §5.8.1 for vCard 3.0) for vCard.
pub fn fold_line(out: &mut String, line: &str) {
    let mut width = 0;
    for c in line.chars() {
        let len = c.len_utf8();
        if width + len > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += len;
    }
    out.push_str("\r\n");
}
