//! Whole collections as one document: a calendar as one VCALENDAR (RFC 5545 §3.4), an address
//! book as the concatenation of its vCards (RFC 6350 §3.1).
//!
//! The stored objects are the truth, so their components are copied line for line (folding
//! and escaping as the client wrote them; only line ends become CRLF), never re-encoded by a
//! writer. The merge works on the text line by line and keeps no parse tree, so a calendar of
//! thousands of objects costs the output and one object's component at a time. Each object's
//! calendar-level properties (VERSION, PRODID, CALSCALE, X-WR-*) give way to the document's
//! own; each VTIMEZONE is kept once per TZID, the first one met winning, since RFC 5545 §3.6.5
//! allows one definition per TZID in an iCalendar object.

use std::collections::BTreeSet;
use std::time::Duration;

/// What the document says about itself at the VCALENDAR level.
#[derive(Debug, Clone, Default)]
pub struct CalendarHeader<'a> {
    /// `PRODID` (RFC 5545 §3.7.3), e.g. `-//Madang//Madang//EN`.
    pub prodid: &'a str,
    /// The collection's display name: `NAME` (RFC 7986 §5.1) and `X-WR-CALNAME`, which Google
    /// Calendar and Outlook read.
    pub name: Option<&'a str>,
    /// `DESCRIPTION` (RFC 7986 §5.2) and `X-WR-CALDESC`.
    pub description: Option<&'a str>,
    /// An IANA zone name for `X-WR-TIMEZONE`: where Google Calendar places floating times.
    pub timezone: Option<&'a str>,
    /// How often subscribers should fetch again: `REFRESH-INTERVAL` (RFC 7986 §5.7) and
    /// `X-PUBLISHED-TTL`, which Outlook reads.
    pub refresh_interval: Option<Duration>,
}

/// Builds one VCALENDAR from stored calendar objects, one [`push`](CalendarMerger::push) each.
#[derive(Debug)]
pub struct CalendarMerger {
    zones: String,
    items: String,
    tzids: BTreeSet<String>,
    components: usize,
}

impl Default for CalendarMerger {
    fn default() -> Self {
        Self::new()
    }
}

impl CalendarMerger {
    pub fn new() -> CalendarMerger {
        CalendarMerger { zones: String::new(), items: String::new(), tzids: BTreeSet::new(), components: 0 }
    }

    /// Adds the components of one object. Lines outside its VCALENDAR are ignored, and a
    /// component the text leaves open is dropped rather than emitted unbalanced (stored objects
    /// were validated, so neither happens in practice).
    pub fn push(&mut self, object: &str) {
        // The block being copied: its text so far, its TZID, and the components open in it
        // (the block's own name first).
        let mut block: Option<(String, Option<String>, Vec<String>)> = None;
        let mut in_calendar = false;
        for line in logical_lines(object) {
            let (name, value) = name_and_value(&line.unfolded);
            let component = value.trim().to_ascii_uppercase();
            match &mut block {
                None if !in_calendar => {
                    if name == "BEGIN" && component == "VCALENDAR" {
                        in_calendar = true;
                    }
                }
                None => {
                    if name == "BEGIN" {
                        let mut text = String::with_capacity(256);
                        push_raw(&mut text, &line.raw);
                        block = Some((text, None, vec![component]));
                    } else if name == "END" {
                        in_calendar = false;
                    }
                    // Calendar-level properties of the object: the document has its own.
                }
                Some((text, tzid, open)) => {
                    match name.as_str() {
                        "BEGIN" => open.push(component),
                        "END" if open.last() == Some(&component) => {
                            let kind = open.pop().unwrap_or_default();
                            if open.is_empty() {
                                push_raw(text, &line.raw);
                                let text = std::mem::take(text);
                                let tzid = tzid.take();
                                block = None;
                                self.finish(&kind, text, tzid);
                                continue;
                            }
                        }
                        "END" => {
                            // Closes something that is not open: the block is broken, dropped.
                            block = None;
                            in_calendar = component != "VCALENDAR";
                            continue;
                        }
                        "TZID" if open.len() == 1 && tzid.is_none() => *tzid = Some(value.trim().to_string()),
                        _ => {}
                    }
                    push_raw(text, &line.raw);
                }
            }
        }
    }

    fn finish(&mut self, kind: &str, text: String, tzid: Option<String>) {
        if kind == "VTIMEZONE" {
            // A VTIMEZONE without TZID cannot be referenced by anything: dropped.
            if let Some(tzid) = tzid
                && self.tzids.insert(tzid)
            {
                self.zones.push_str(&text);
            }
            return;
        }
        self.components += 1;
        self.items.push_str(&text);
    }

    /// Components added so far, VTIMEZONEs not counted.
    pub fn components(&self) -> usize {
        self.components
    }

    /// The document: the header, each VTIMEZONE once, then every other component in the order
    /// the objects were pushed.
    pub fn finish_with(self, header: &CalendarHeader<'_>) -> String {
        let mut out = String::with_capacity(self.zones.len() + self.items.len() + 512);
        out.push_str("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n");
        fold_line(&mut out, &format!("PRODID:{}", header.prodid));
        out.push_str("CALSCALE:GREGORIAN\r\n");
        if let Some(name) = header.name.filter(|n| !n.trim().is_empty()) {
            let name = escape_text(name);
            fold_line(&mut out, &format!("NAME:{name}"));
            fold_line(&mut out, &format!("X-WR-CALNAME:{name}"));
        }
        if let Some(description) = header.description.filter(|d| !d.trim().is_empty()) {
            let description = escape_text(description);
            fold_line(&mut out, &format!("DESCRIPTION:{description}"));
            fold_line(&mut out, &format!("X-WR-CALDESC:{description}"));
        }
        if let Some(tz) = header.timezone {
            fold_line(&mut out, &format!("X-WR-TIMEZONE:{}", escape_text(tz)));
        }
        if let Some(interval) = header.refresh_interval {
            let duration = ical_duration(interval);
            fold_line(&mut out, &format!("REFRESH-INTERVAL;VALUE=DURATION:{duration}"));
            fold_line(&mut out, &format!("X-PUBLISHED-TTL:{duration}"));
        }
        out.push_str(&self.zones);
        out.push_str(&self.items);
        out.push_str("END:VCALENDAR\r\n");
        out
    }
}

/// One VCALENDAR from stored calendar objects (see the module comment).
pub fn merge_calendar<'a>(objects: impl IntoIterator<Item = &'a str>, header: &CalendarHeader<'_>) -> String {
    let mut merger = CalendarMerger::new();
    for object in objects {
        merger.push(object);
    }
    merger.finish_with(header)
}

/// The address book as one `text/vcard` stream: the cards as stored, one after the other
/// (RFC 6350 §3.1 allows several in one stream), each ending with a line end.
pub fn concat_cards<'a>(cards: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for card in cards {
        let card = card.trim_start_matches(['\r', '\n']);
        if card.trim().is_empty() {
            continue;
        }
        out.push_str(card);
        if !card.ends_with('\n') {
            out.push_str("\r\n");
        }
    }
    out
}

/// A content line as written (its physical lines joined by CRLF) and unfolded (RFC 5545 §3.1).
struct Line {
    raw: String,
    unfolded: String,
}

fn logical_lines(text: &str) -> Vec<Line> {
    let mut lines: Vec<Line> = Vec::new();
    for physical in text.split('\n') {
        let physical = physical.strip_suffix('\r').unwrap_or(physical);
        if let Some(rest) = physical.strip_prefix([' ', '\t'])
            && let Some(last) = lines.last_mut()
        {
            last.raw.push_str("\r\n");
            last.raw.push_str(physical);
            last.unfolded.push_str(rest);
            continue;
        }
        if physical.trim().is_empty() {
            continue;
        }
        lines.push(Line { raw: physical.to_string(), unfolded: physical.to_string() });
    }
    lines
}

/// The upper-case property name and the value (after the first colon outside quotes).
fn name_and_value(line: &str) -> (String, &str) {
    let mut quoted = false;
    let mut name_end = None;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ';' if !quoted && name_end.is_none() => name_end = Some(i),
            ':' if !quoted => {
                let name = &line[..name_end.unwrap_or(i)];
                return (name.trim().to_ascii_uppercase(), &line[i + 1..]);
            }
            _ => {}
        }
    }
    (String::new(), "")
}

fn push_raw(out: &mut String, raw: &str) {
    out.push_str(raw);
    out.push_str("\r\n");
}

/// RFC 5545 §3.3.11 text escaping; other control characters, which TEXT cannot hold, are
/// dropped.
pub fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ',' => out.push_str("\\,"),
            ';' => out.push_str("\\;"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

/// Writes one content line folded at 75 octets (RFC 5545 §3.1), never inside a UTF-8
/// sequence, with its CRLF.
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

/// A whole number of seconds as an RFC 5545 §3.3.6 duration (`PT1H`, `P1D`, `PT90M` …).
fn ical_duration(d: Duration) -> String {
    let secs = d.as_secs().max(1);
    if secs.is_multiple_of(86_400) {
        format!("P{}D", secs / 86_400)
    } else if secs.is_multiple_of(3600) {
        format!("PT{}H", secs / 3600)
    } else if secs.is_multiple_of(60) {
        format!("PT{}M", secs / 60)
    } else {
        format!("PT{secs}S")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEOUL: &str = "BEGIN:VTIMEZONE\r\nTZID:Asia/Seoul\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\n\
                         TZOFFSETFROM:+0900\r\nTZOFFSETTO:+0900\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n";

    fn object(uid: &str, zone: bool, extra: &str) -> String {
        format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Apple Inc.//macOS//EN\r\nCALSCALE:GREGORIAN\r\n\
             X-WR-CALNAME:Theirs\r\n{}BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20240101T000000Z\r\n\
             DTSTART;TZID=Asia/Seoul:20240501T090000\r\nSUMMARY:{uid}\r\n{extra}END:VEVENT\r\nEND:VCALENDAR\r\n",
            if zone { SEOUL } else { "" }
        )
    }

    fn header() -> CalendarHeader<'static> {
        CalendarHeader { prodid: "-//Madang//Madang//EN", name: Some("Team; work"), ..Default::default() }
    }

    #[test]
    fn merges_components_and_keeps_each_timezone_once() {
        let a = object("a", true, "");
        let b = object("b", true, "BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT5M\r\nEND:VALARM\r\n");
        let c = object("c", false, "");
        let doc = merge_calendar([a.as_str(), b.as_str(), c.as_str()], &header());
        assert!(doc.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Madang//Madang//EN\r\n"), "{doc}");
        assert!(doc.ends_with("END:VEVENT\r\nEND:VCALENDAR\r\n"), "{doc}");
        assert_eq!(doc.matches("BEGIN:VCALENDAR").count(), 1);
        assert_eq!(doc.matches("BEGIN:VTIMEZONE").count(), 1, "{doc}");
        assert_eq!(doc.matches("BEGIN:VEVENT").count(), 3);
        assert_eq!(doc.matches("BEGIN:VALARM").count(), 1);
        assert!(!doc.contains("Apple") && !doc.contains("Theirs"), "the objects' own headers are dropped: {doc}");
        assert!(doc.contains("NAME:Team\\; work\r\nX-WR-CALNAME:Team\\; work\r\n"), "{doc}");
        // The zone comes before the components that use it; the order of objects is kept.
        let zone = doc.find("BEGIN:VTIMEZONE").unwrap();
        assert!(zone < doc.find("UID:a").unwrap());
        assert!(doc.find("UID:a").unwrap() < doc.find("UID:b").unwrap());
        assert!(doc.find("UID:b").unwrap() < doc.find("UID:c").unwrap());
    }

    #[test]
    fn copies_lines_as_written_and_normalises_line_ends() {
        // LF line ends, a folded long line, a master with an override, a second zone.
        let object = "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:x\nBEGIN:VTIMEZONE\nTZID:Europe/Berlin\nEND:VTIMEZONE\n\
                      BEGIN:VEVENT\nUID:r\nDESCRIPTION:a very long line that the client folded\n  right here\n\
                      RRULE:FREQ=DAILY\nEND:VEVENT\nBEGIN:VEVENT\nUID:r\nRECURRENCE-ID:20240502T090000Z\nEND:VEVENT\n\
                      END:VCALENDAR\n";
        let mut merger = CalendarMerger::new();
        merger.push(object);
        merger.push(&self::object("a", true, ""));
        assert_eq!(merger.components(), 3);
        let doc = merger.finish_with(&header());
        assert!(!doc.replace("\r\n", "").contains('\n'), "only CRLF line ends: {doc:?}");
        assert!(doc.contains("folded\r\n  right here\r\n"), "folding kept: {doc}");
        assert_eq!(doc.matches("BEGIN:VTIMEZONE").count(), 2);
        assert_eq!(doc.matches("UID:r\r\n").count(), 2);
    }

    #[test]
    fn the_first_definition_of_a_tzid_wins_and_unnamed_zones_are_dropped() {
        let first = object("a", true, "");
        let other = SEOUL.replace("+0900\r\nTZOFFSETTO:+0900", "+0800\r\nTZOFFSETTO:+0800");
        let second = format!("BEGIN:VCALENDAR\r\n{other}BEGIN:VTIMEZONE\r\nEND:VTIMEZONE\r\nEND:VCALENDAR\r\n");
        let doc = merge_calendar([first.as_str(), second.as_str()], &header());
        assert_eq!(doc.matches("BEGIN:VTIMEZONE").count(), 1, "{doc}");
        assert!(doc.contains("+0900") && !doc.contains("+0800"), "{doc}");
    }

    #[test]
    fn a_component_left_open_or_text_outside_is_not_emitted() {
        let broken = "junk before\r\nBEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nEND:VCALENDAR\r\n";
        let doc = merge_calendar([broken], &header());
        assert!(!doc.contains("UID:x") && !doc.contains("junk"), "{doc}");
        assert_eq!(doc.matches("BEGIN:").count(), doc.matches("END:").count(), "{doc}");
    }

    #[test]
    fn an_empty_calendar_is_a_valid_document() {
        let doc = merge_calendar(std::iter::empty(), &CalendarHeader { prodid: "p", ..Default::default() });
        assert_eq!(doc, "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:p\r\nCALSCALE:GREGORIAN\r\nEND:VCALENDAR\r\n");
    }

    #[test]
    fn header_lines_are_escaped_folded_and_carry_the_refresh_interval() {
        let long = "회의실 예약 ".repeat(12);
        let header = CalendarHeader {
            prodid: "-//Madang//Madang//EN",
            name: Some(&long),
            description: Some("line one\nline, two"),
            timezone: Some("Asia/Seoul"),
            refresh_interval: Some(Duration::from_secs(3600)),
        };
        let doc = merge_calendar(std::iter::empty(), &header);
        for line in doc.split("\r\n") {
            assert!(line.len() <= 75, "{line:?} is longer than 75 octets");
        }
        assert!(doc.contains("DESCRIPTION:line one\\nline\\, two\r\n"), "{doc}");
        assert!(doc.contains("X-WR-TIMEZONE:Asia/Seoul\r\n"));
        assert!(doc.contains("REFRESH-INTERVAL;VALUE=DURATION:PT1H\r\nX-PUBLISHED-TTL:PT1H\r\n"), "{doc}");
        let unfolded = doc.replace("\r\n ", "");
        assert!(unfolded.contains(&format!("NAME:{long}\r\n")), "{unfolded}");
    }

    #[test]
    fn durations() {
        assert_eq!(ical_duration(Duration::from_secs(86_400 * 2)), "P2D");
        assert_eq!(ical_duration(Duration::from_secs(5400)), "PT90M");
        assert_eq!(ical_duration(Duration::from_secs(7)), "PT7S");
        assert_eq!(ical_duration(Duration::ZERO), "PT1S");
    }

    #[test]
    fn cards_are_concatenated_each_ending_with_a_line_end() {
        let a = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:a\r\nFN:A\r\nEND:VCARD";
        let b = "BEGIN:VCARD\nVERSION:4.0\nUID:b\nFN:B\nEND:VCARD\n";
        let out = concat_cards([a, "", b]);
        assert_eq!(out, format!("{a}\r\n{b}"));
        assert_eq!(out.matches("BEGIN:VCARD").count(), 2);
    }
}
