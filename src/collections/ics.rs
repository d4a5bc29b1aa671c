//! iCalendar text as a tree of content lines (RFC 5545 §3.1), for the JSON API's edits, imports and exports and for splitting subscribed feeds (`crate::subscriptions`).
//!
//! The JSON event model regenerates only the properties it knows; everything else of a stored
//! object must come back exactly as the client wrote it. Going through a full parser and
//! writer would re-encode those lines (escaping, parameter order, value types), so this module
//! keeps each property as its unfolded source line and only splits out the name, parameters
//! and value for reading. Writing re-folds at 75 octets and changes nothing else.
//!
//! Validation is not done here: whatever this module produces is checked by
//! `madang_ical::parse_object` before it is stored, exactly like a CalDAV PUT.

use std::collections::BTreeSet;

/// One `BEGIN:…`/`END:…` block with its properties and sub-components, in source order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    /// Upper-case component name (`VEVENT`, `VALARM`, …).
    pub name: String,
    pub props: Vec<Prop>,
    pub children: Vec<Component>,
}

/// One content line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prop {
    /// Upper-case property name.
    pub name: String,
    /// Parameters as (upper-case name, value without surrounding quotes).
    pub params: Vec<(String, String)>,
    /// The value as written (still escaped).
    pub value: String,
    /// The unfolded line, written back as is.
    line: String,
}

impl Prop {
    /// A new line from its parts; parameter values are quoted when they need it.
    pub fn new(name: &str, params: &[(&str, &str)], value: &str) -> Prop {
        let mut line = name.to_string();
        for (n, v) in params {
            line.push(';');
            line.push_str(n);
            line.push('=');
            if v.contains('"') {
                // A list of quoted values kept from a parsed line (`"mailto:a","mailto:b"`).
                line.push_str(v);
            } else if v.contains([':', ';', ',']) {
                line.push('"');
                line.push_str(&v.replace('"', ""));
                line.push('"');
            } else {
                line.push_str(v);
            }
        }
        line.push(':');
        line.push_str(value);
        Prop {
            name: name.to_ascii_uppercase(),
            params: params.iter().map(|(n, v)| (n.to_ascii_uppercase(), v.to_string())).collect(),
            value: value.to_string(),
            line,
        }
    }

    /// The first value of parameter `name` (case-insensitive).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The value as text (RFC 5545 §3.3.11 unescaped).
    pub fn text(&self) -> String {
        unescape(&self.value)
    }

    fn parse(line: &str) -> Option<Prop> {
        let mut quoted = false;
        let mut colon = None;
        for (i, c) in line.char_indices() {
            match c {
                '"' => quoted = !quoted,
                ':' if !quoted => {
                    colon = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let colon = colon?;
        let head = &line[..colon];
        let mut parts = split_unquoted(head, ';').into_iter();
        let name = parts.next()?.trim().to_ascii_uppercase();
        if name.is_empty() {
            return None;
        }
        let params = parts
            .filter_map(|p| {
                let (n, v) = p.split_once('=')?;
                let v = v.trim();
                // One quoted value loses its quotes; a list of them stays as written.
                let v = match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                    Some(inner) if !inner.contains('"') => inner,
                    _ => v,
                };
                Some((n.trim().to_ascii_uppercase(), v.to_string()))
            })
            .collect();
        Some(Prop { name, params, value: line[colon + 1..].to_string(), line: line.to_string() })
    }
}

impl Component {
    pub fn new(name: &str) -> Component {
        Component { name: name.to_ascii_uppercase(), props: Vec::new(), children: Vec::new() }
    }

    /// The first property named `name`.
    pub fn prop(&self, name: &str) -> Option<&Prop> {
        self.props.iter().find(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// Every property named `name`.
    pub fn props_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Prop> + 'a {
        self.props.iter().filter(move |p| p.name.eq_ignore_ascii_case(name))
    }

    /// The trimmed UID, if any.
    pub fn uid(&self) -> Option<String> {
        self.prop("UID").map(|p| p.text().trim().to_string()).filter(|u| !u.is_empty())
    }

    /// The block as folded text with CRLF line ends.
    pub fn write(&self, out: &mut String) {
        out.push_str("BEGIN:");
        out.push_str(&self.name);
        out.push_str("\r\n");
        for p in &self.props {
            madang_ical::fold_line(out, &p.line);
        }
        for c in &self.children {
            c.write(out);
        }
        out.push_str("END:");
        out.push_str(&self.name);
        out.push_str("\r\n");
    }

    pub fn to_text(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    /// TZIDs referenced by this component's properties and its sub-components'.
    pub fn tzids(&self, into: &mut BTreeSet<String>) {
        for p in &self.props {
            if let Some(tz) = p.param("TZID") {
                into.insert(tz.to_string());
            }
        }
        for c in &self.children {
            c.tzids(into);
        }
    }
}

/// The top-level components of `text` (normally VCALENDARs). Lines outside any component are
/// ignored; a component that is not closed, or closed by the wrong `END`, is an error.
pub fn parse(text: &str) -> Result<Vec<Component>, String> {
    let mut roots = Vec::new();
    let mut stack: Vec<Component> = Vec::new();
    for line in unfold(text) {
        if line.trim().is_empty() {
            continue;
        }
        let Some(prop) = Prop::parse(&line) else {
            if stack.is_empty() {
                continue;
            }
            return Err(format!("invalid line: {}", line.chars().take(80).collect::<String>()));
        };
        match prop.name.as_str() {
            "BEGIN" => stack.push(Component::new(prop.value.trim())),
            "END" => {
                let name = prop.value.trim().to_ascii_uppercase();
                let Some(done) = stack.pop() else { return Err(format!("END:{name} without BEGIN")) };
                if done.name != name {
                    return Err(format!("END:{name} where END:{} was expected", done.name));
                }
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => roots.push(done),
                }
            }
            _ => {
                if let Some(current) = stack.last_mut() {
                    current.props.push(prop);
                }
            }
        }
    }
    if let Some(open) = stack.last() {
        return Err(format!("BEGIN:{} is never closed", open.name));
    }
    Ok(roots)
}

/// The single VCALENDAR of a stored object.
pub fn parse_vcalendar(text: &str) -> Result<Component, String> {
    parse(text)?.into_iter().find(|c| c.name == "VCALENDAR").ok_or_else(|| "no VCALENDAR".to_string())
}

/// Components that make a calendar object resource's content (RFC 4791 §4.1).
pub fn is_item(c: &Component) -> bool {
    matches!(c.name.as_str(), "VEVENT" | "VTODO" | "VJOURNAL")
}

/// The VTIMEZONE's TZID.
fn tzid_of(c: &Component) -> Option<String> {
    (c.name == "VTIMEZONE").then(|| c.prop("TZID").map(|p| p.text().trim().to_string())).flatten()
}

/// One object of an import: its UID and text, or why its components were left out.
pub type SplitItem = Result<(String, String), (Option<String>, String)>;

/// Splits a calendar file into one VCALENDAR per UID (RFC 4791 §4.1): every component with the
/// same UID (a master and its overrides) goes together, with the VTIMEZONEs it references and
/// the file's VERSION/PRODID/CALSCALE. Components without UID are reported, not guessed at.
pub fn split(text: &str) -> Result<Vec<SplitItem>, String> {
    let roots = parse(text)?;
    let calendars: Vec<&Component> = roots.iter().filter(|c| c.name == "VCALENDAR").collect();
    if calendars.is_empty() {
        return Err("no VCALENDAR in the body".into());
    }
    let mut out = Vec::new();
    for cal in calendars {
        let zones: Vec<&Component> = cal.children.iter().filter(|c| c.name == "VTIMEZONE").collect();
        let head: Vec<&Prop> =
            cal.props.iter().filter(|p| matches!(p.name.as_str(), "VERSION" | "PRODID" | "CALSCALE")).collect();
        let mut groups: Vec<(String, Vec<&Component>)> = Vec::new();
        for item in cal.children.iter().filter(|c| is_item(c)) {
            let Some(uid) = item.uid() else {
                out.push(Err((None, format!("{} without UID", item.name))));
                continue;
            };
            match groups.iter_mut().find(|(u, _)| *u == uid) {
                Some((_, members)) => members.push(item),
                None => groups.push((uid, vec![item])),
            }
        }
        for (uid, members) in groups {
            let mut object = Component::new("VCALENDAR");
            object.props.extend(head.iter().map(|p| (*p).clone()));
            if object.prop("VERSION").is_none() {
                object.props.insert(0, Prop::new("VERSION", &[], "2.0"));
            }
            if object.prop("PRODID").is_none() {
                object.props.push(Prop::new("PRODID", &[], "-//Madang//JSON API import//EN"));
            }
            let mut used = BTreeSet::new();
            for m in &members {
                m.tzids(&mut used);
            }
            for zone in &zones {
                if tzid_of(zone).is_some_and(|t| used.contains(&t)) {
                    object.children.push((*zone).clone());
                }
            }
            object.children.extend(members.into_iter().cloned());
            out.push(Ok((uid, object.to_text())));
        }
    }
    Ok(out)
}

pub use madang_ical::export::escape_text as escape;

pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n' | 'N') => out.push('\n'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// Splits a list value (CATEGORIES, EXDATE) at commas that are not escaped.
pub fn split_list(value: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut current = String::new();
    let mut escaped = false;
    for c in value.chars() {
        if escaped {
            current.push('\\');
            current.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' {
            items.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    items.push(current);
    items
}

fn split_unquoted(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            parts.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    parts.push(&s[start..]);
    parts
}

/// Logical lines: continuation lines (starting with a space or tab) joined (RFC 5545 §3.1).
fn unfold(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for raw in text.split('\n') {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(rest) = raw.strip_prefix([' ', '\t'])
            && let Some(last) = lines.last_mut()
        {
            last.push_str(rest);
            continue;
        }
        lines.push(raw.to_string());
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_unchanged() {
        let text = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:a\r\n\
                    ATTENDEE;CN=\"Doe, Jane\";X-NUM-GUESTS=0:mailto:jane@example.com\r\n\
                    X-APPLE-STRUCTURED-LOCATION;VALUE=URI;X-TITLE=Home:geo:1,2\r\nSUMMARY:a\\, b\r\n\
                    END:VEVENT\r\nEND:VCALENDAR\r\n";
        let cal = parse_vcalendar(text).unwrap();
        assert_eq!(cal.to_text(), text);
        let ev = &cal.children[0];
        assert_eq!(ev.prop("ATTENDEE").unwrap().param("cn"), Some("Doe, Jane"));
        assert_eq!(ev.prop("SUMMARY").unwrap().text(), "a, b");
    }

    #[test]
    fn split_groups_by_uid_and_keeps_referenced_zones() {
        let text = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nMETHOD:PUBLISH\r\n\
                    BEGIN:VTIMEZONE\r\nTZID:A\r\nEND:VTIMEZONE\r\nBEGIN:VTIMEZONE\r\nTZID:B\r\nEND:VTIMEZONE\r\n\
                    BEGIN:VEVENT\r\nUID:1\r\nDTSTART;TZID=A:20240101T100000\r\nEND:VEVENT\r\n\
                    BEGIN:VEVENT\r\nUID:2\r\nDTSTART:20240101T100000Z\r\nEND:VEVENT\r\n\
                    BEGIN:VEVENT\r\nUID:1\r\nRECURRENCE-ID;TZID=A:20240108T100000\r\nEND:VEVENT\r\n\
                    BEGIN:VTODO\r\nSUMMARY:no uid\r\nEND:VTODO\r\nEND:VCALENDAR\r\n";
        let items = split(text).unwrap();
        assert_eq!(items.len(), 3);
        assert!(items[0].is_err());
        let (uid, one) = items[1].as_ref().unwrap();
        assert_eq!(uid, "1");
        assert!(one.contains("TZID:A") && !one.contains("TZID:B") && !one.contains("METHOD"), "{one}");
        assert_eq!(one.matches("BEGIN:VEVENT").count(), 2);
        let header = madang_ical::export::CalendarHeader { prodid: "p", ..Default::default() };
        let merged = madang_ical::export::merge_calendar([one.as_str(), one.as_str()], &header);
        assert_eq!(merged.matches("BEGIN:VTIMEZONE").count(), 1, "{merged}");
        assert_eq!(merged.matches("BEGIN:VEVENT").count(), 4);
    }
}
