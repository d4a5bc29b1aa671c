//! A stored address object resource (RFC 6352 §5.1): the client's exact vCard text plus calcard's parse.
//!
//! The raw text is the truth, exactly as for calendar objects: a card is served back byte for
//! byte whenever the client asks for the version it was stored in. The parse exists for
//! version conversion (`vcard_convert`), addressbook-query evaluation (`vcard_filter`) and the
//! search helpers below. Parsing is lenient (vCard 2.1 exports, missing FN or VERSION, unknown
//! properties are all accepted); only what RFC 6352 §5.1 makes essential is refused.

use calcard::vcard::{VCard, VCardEntry, VCardProperty, VCardValue, VCardVersion as CalcardVersion};
use calcard::{Entry, Parser};

pub use crate::CardError;

/// The vCard versions Madang answers in (RFC 6352 §6.1: `supported-address-data`).
///
/// Cards are stored in whatever version the client sent, including vCard 2.1 (RFC 2425-era
/// exports from Outlook and old phones); 2.1 is never *served*, it is converted to 3.0 or 4.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VCardVersion {
    /// vCard 3.0 (RFC 2426). What Apple clients understand and the CardDAV default (RFC 6352 §5.1.1).
    V3,
    /// vCard 4.0 (RFC 6350).
    V4,
}

impl VCardVersion {
    /// The `VERSION` property value and the `version` attribute of `address-data`.
    pub fn as_str(self) -> &'static str {
        match self {
            VCardVersion::V3 => "3.0",
            VCardVersion::V4 => "4.0",
        }
    }

    /// The version named by an `address-data` `version` attribute or a `VERSION` value.
    pub fn from_name(name: &str) -> Option<VCardVersion> {
        match name.trim() {
            "3.0" => Some(VCardVersion::V3),
            "4.0" => Some(VCardVersion::V4),
            _ => None,
        }
    }
}

/// One address object resource. The raw text is returned unchanged when the client asks for
/// the version it was stored in; everything else is derived from the parse.
#[derive(Debug, Clone)]
pub struct CardObject {
    raw: String,
    pub(crate) card: VCard,
    uid: String,
    /// The VERSION as sent (2.1 included); `None` when the card has no VERSION line.
    pub(crate) sent_version: Option<CalcardVersion>,
    warnings: Vec<String>,
}

impl CardObject {
    /// The card's UID (RFC 6350 §6.7.6), as written: vCard 4 clients often send `urn:uuid:…`.
    pub fn uid(&self) -> &str {
        &self.uid
    }

    /// Exactly the text the client sent.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The calcard parse, for callers that need more than this crate offers.
    pub fn vcard(&self) -> &VCard {
        &self.card
    }

    /// The version the card was stored in, as one of the two Madang answers in: 4.0 is
    /// [`VCardVersion::V4`]; 3.0 and the legacy 2.1/2.0 are [`VCardVersion::V3`], the nearest
    /// relative. `None` when the card has no VERSION. Use [`CardObject::is_legacy`] to tell
    /// 2.1 from 3.0: a 2.1 card is converted even when 3.0 is asked for, never served raw.
    pub fn version(&self) -> Option<VCardVersion> {
        match self.sent_version? {
            CalcardVersion::V4_0 => Some(VCardVersion::V4),
            CalcardVersion::V3_0 | CalcardVersion::V2_1 | CalcardVersion::V2_0 => Some(VCardVersion::V3),
        }
    }

    /// True for vCard 2.1 and 2.0 cards (QUOTED-PRINTABLE, CHARSET, bare TYPE parameters).
    pub fn is_legacy(&self) -> bool {
        matches!(self.sent_version, Some(CalcardVersion::V2_1 | CalcardVersion::V2_0))
    }

    /// The version the card can be served in without conversion, if any.
    pub(crate) fn served_version(&self) -> Option<VCardVersion> {
        if self.is_legacy() { None } else { self.version() }
    }

    /// Things that are wrong with the card but not worth refusing it for (missing FN or
    /// VERSION). Parsing never fails for these: clients that write them still need to sync.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// A group card: `KIND:group` (RFC 6350 §6.1.4) or Apple's `X-ADDRESSBOOKSERVER-KIND:group`.
    pub fn is_group(&self) -> bool {
        self.card.entries.iter().any(|e| {
            let kind = match &e.name {
                VCardProperty::Kind => true,
                VCardProperty::Other(name) => name.eq_ignore_ascii_case(APPLE_KIND),
                _ => false,
            };
            kind && entry_value_text(e).trim().eq_ignore_ascii_case("group")
        })
    }

    /// Members of a group card: `MEMBER` (RFC 6350 §6.6.5) or `X-ADDRESSBOOKSERVER-MEMBER`
    /// values, usually `urn:uuid:<UID of the member card>`.
    pub fn members(&self) -> Vec<String> {
        self.card
            .entries
            .iter()
            .filter(|e| match &e.name {
                VCardProperty::Member => true,
                VCardProperty::Other(name) => name.eq_ignore_ascii_case(APPLE_MEMBER),
                _ => false,
            })
            .map(|e| entry_value_text(e).trim().to_string())
            .collect()
    }

    /// The name to show: FN (RFC 6350 §6.2.1), else N's given and family names, else ORG,
    /// else the first EMAIL, else the UID. For the JSON API and logs.
    pub fn display_name(&self) -> String {
        if let Some(fn_) = self.first_text(&VCardProperty::Fn).filter(|s| !s.trim().is_empty()) {
            return fn_.trim().to_string();
        }
        if let Some(n) = self.card.property(&VCardProperty::N) {
            let parts: Vec<String> = n.values.iter().map(value_text).collect();
            let given = parts.get(1).map(String::as_str).unwrap_or_default();
            let family = parts.first().map(String::as_str).unwrap_or_default();
            let name = format!("{given} {family}");
            if !name.trim().is_empty() {
                return name.trim().to_string();
            }
        }
        if let Some(org) = self.first_text(&VCardProperty::Org).filter(|s| !s.trim().is_empty()) {
            return org.trim().to_string();
        }
        self.emails().into_iter().next().unwrap_or_else(|| self.uid.clone())
    }

    /// Every EMAIL value (RFC 6350 §6.4.2), trimmed, in card order.
    pub fn emails(&self) -> Vec<String> {
        self.card
            .properties(&VCardProperty::Email)
            .map(|e| entry_value_text(e).trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// Every TEL value (RFC 6350 §6.4.1) reduced to its digits, with a leading `+` kept, so
    /// "+1 (555) 123-4567", "tel:+1-555-123-4567" and "+15551234567" compare equal.
    pub fn phones(&self) -> Vec<String> {
        self.card
            .properties(&VCardProperty::Tel)
            .map(|e| normalize_phone(&entry_value_text(e)))
            .filter(|s| !s.is_empty() && s != "+")
            .collect()
    }

    fn first_text(&self, prop: &VCardProperty) -> Option<String> {
        self.card.property(prop).map(entry_value_text)
    }
}

pub(crate) const APPLE_KIND: &str = "X-ADDRESSBOOKSERVER-KIND";
pub(crate) const APPLE_MEMBER: &str = "X-ADDRESSBOOKSERVER-MEMBER";

/// Digits of a phone number, with a leading `+` kept.
pub fn normalize_phone(number: &str) -> String {
    let number = number.trim();
    let number = number.strip_prefix("tel:").unwrap_or(number);
    let mut out = String::new();
    if number.starts_with('+') {
        out.push('+');
    }
    // A `;ext=` or `;phone-context=` suffix of a tel: URI (RFC 3966) is not part of the number.
    let number = number.split(';').next().unwrap_or_default();
    out.extend(number.chars().filter(char::is_ascii_digit));
    out
}

/// One value as text, unescaped: list components (RFC 6350 §6.2.2's "Component") joined with ','.
pub(crate) fn value_text(value: &VCardValue) -> String {
    match value {
        VCardValue::Component(parts) => parts.join(","),
        VCardValue::Integer(i) => i.to_string(),
        VCardValue::Float(f) => f.to_string(),
        VCardValue::Boolean(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
        VCardValue::Binary(data) => data.to_unwrapped_string(),
        VCardValue::PartialDateTime(_) => String::new(),
        other => other.as_text().unwrap_or_default().to_string(),
    }
}

/// The whole value of a property as text, unescaped. Structured values (N, ADR, ORG, GENDER:
/// RFC 6350 §6.2.2, §6.3.1, §6.6.4, §6.2.7) are joined with ';', lists (CATEGORIES, NICKNAME)
/// with ','. This is how sabre/vobject's `getValue()` presents them, so a text-match written
/// against sabre behaves the same here. Dates are written in vCard 4 form.
pub(crate) fn entry_value_text(entry: &VCardEntry) -> String {
    if let [single] = entry.values.as_slice()
        && !matches!(single, VCardValue::PartialDateTime(_))
    {
        return value_text(single);
    }
    if entry.values.iter().any(|v| matches!(v, VCardValue::PartialDateTime(_))) {
        // Dates have several spellings; match the one vCard 4 writes (RFC 6350 §4.3).
        let mut line = String::new();
        let bare = VCardEntry { group: None, ..entry.clone() };
        if bare.write_to(&mut line, true).is_err() {
            return String::new();
        }
        return crate::text::value_part(&crate::text::unfold(&line)).to_string();
    }
    let sep = match entry.name {
        VCardProperty::N
        | VCardProperty::Adr
        | VCardProperty::Org
        | VCardProperty::Gender
        | VCardProperty::Clientpidmap => ";",
        _ => ",",
    };
    entry.values.iter().map(value_text).collect::<Vec<_>>().join(sep)
}

/// Parses and validates a PUT body (RFC 6352 §5.1): exactly one VCARD with a UID.
///
/// Refused, as `CARDDAV:valid-address-data` (RFC 6352 §6.3.2.1): anything that is not a vCard,
/// a body with more than one VCARD (§5.1: one card per resource; imports use [`split_cards`]),
/// and a card without UID (§5.1 requires one, every CardDAV client sends one, and the server
/// keys `no-uid-conflict` on it). Accepted with a warning: no FN (RFC 6350 §6.2.1 makes it
/// mandatory, but nothing breaks without it) and no VERSION.
pub fn parse_card(text: &str) -> Result<CardObject, CardError> {
    if let Some((line, c)) = crate::text::forbidden_control(text) {
        return Err(CardError::InvalidData(crate::text::describe_control(line, c)));
    }
    let mut parser = Parser::new(text);
    let card = match parser.entry() {
        Entry::VCard(card) => card,
        Entry::ICalendar(_) => return Err(CardError::InvalidData("iCalendar, not a vCard".into())),
        Entry::Eof => return Err(CardError::InvalidData("empty body, expected BEGIN:VCARD".into())),
        Entry::InvalidLine(line) => {
            return Err(CardError::InvalidData(format!("not a vCard: {}", truncate(&line, 80))));
        }
        Entry::UnterminatedComponent(name) => {
            return Err(CardError::InvalidData(format!("BEGIN:{} is never closed", truncate(&name, 40))));
        }
        Entry::UnexpectedComponentEnd { found, .. } => {
            return Err(CardError::InvalidData(format!("unexpected END:{}", found.as_str())));
        }
        Entry::TooManyComponents => return Err(CardError::InvalidData("too many components".into())),
        _ => return Err(CardError::InvalidData("not a vCard".into())),
    };
    if let Entry::VCard(_) | Entry::ICalendar(_) = parser.entry() {
        return Err(CardError::InvalidData(
            "more than one VCARD in one resource (RFC 6352 §5.1 allows exactly one); split the file to import it"
                .into(),
        ));
    }
    // calcard decodes QUOTED-PRINTABLE (vCard 2.1 and Outlook's 3.0), so a value can hold a
    // control the raw text did not: `=00` in a UID reached PostgreSQL, and `=11` in a NOTE came
    // back in every converted copy (fuzz, issue 19). CR and LF stay allowed: QP notes use them.
    for entry in &card.entries {
        // Binary properties (base64 `ENCODING=b`) hold bytes, not text: a small image may decode
        // to valid UTF-8 with any byte in it, and is served back encoded.
        if matches!(entry.name, VCardProperty::Photo | VCardProperty::Logo | VCardProperty::Sound | VCardProperty::Key)
        {
            continue;
        }
        let decoded = entry.values.iter().flat_map(|v| match v {
            VCardValue::Text(t) => vec![t.as_str()],
            VCardValue::Component(parts) => parts.iter().map(String::as_str).collect(),
            _ => Vec::new(),
        });
        if let Some(c) = decoded.filter_map(crate::text::forbidden_control).map(|(_, c)| c).next() {
            return Err(CardError::InvalidData(format!(
                "{}: a decoded value contains control character U+{:04X} (RFC 6350 §3.3)",
                entry.name.as_str(),
                c as u32
            )));
        }
    }
    // RFC 6350 §3.3: names are `iana-token` / `x-name` (letters, digits, `-`; `_` is tolerated
    // as real clients write it), groups likewise. Other names do not survive conversion: calcard
    // reads `\` in a name as an escape, so a converted copy no longer parses (fuzz finding F5).
    let is_token = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    for entry in &card.entries {
        let property = match &entry.name {
            VCardProperty::Other(name) => Some(name.as_str()),
            _ => None,
        };
        let params = entry.params.iter().filter_map(|p| match &p.name {
            calcard::vcard::VCardParameterName::Other(name) => Some(name.as_str()),
            _ => None,
        });
        if let Some(bad) = property.into_iter().chain(entry.group.as_deref()).chain(params).find(|n| !is_token(n)) {
            return Err(CardError::InvalidData(format!(
                "`{}` is not a property, group or parameter name (RFC 6350 §3.3)",
                truncate(&bad.escape_debug().to_string(), 40)
            )));
        }
    }
    let uid = card.uid().map(str::trim).filter(|u| !u.is_empty()).map(str::to_string);
    let Some(uid) = uid else {
        return Err(CardError::InvalidData("vCard without UID (RFC 6352 §5.1 requires one)".into()));
    };
    let mut warnings = Vec::new();
    let sent_version = card.version();
    if sent_version.is_none() {
        warnings.push("no VERSION property (RFC 6350 §6.7.9)".to_string());
    }
    if card.property(&VCardProperty::Fn).is_none() {
        warnings.push("no FN property (RFC 6350 §6.2.1)".to_string());
    }
    Ok(CardObject { raw: text.to_string(), card, uid, sent_version, warnings })
}

/// Splits a multi-card file (a Google or Apple export, RFC 6350 §3.3: "one or more vCards")
/// into the text of each card, line endings kept. Text outside BEGIN:VCARD … END:VCARD is
/// dropped; a card nested in another (vCard 2.1 `AGENT`) stays inside its parent. An
/// unterminated last card is returned as it is, so the importer can report it.
pub fn split_cards(text: &str) -> Vec<String> {
    let mut cards = Vec::new();
    let mut depth = 0usize;
    let mut start = 0usize;
    let mut pos = 0usize;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_end_matches(['\r', '\n']).trim();
        if trimmed.eq_ignore_ascii_case("BEGIN:VCARD") {
            if depth == 0 {
                start = pos;
            }
            depth += 1;
        } else if trimmed.eq_ignore_ascii_case("END:VCARD") && depth > 0 {
            depth -= 1;
            if depth == 0 {
                cards.push(text[start..pos + line.len()].to_string());
            }
        }
        pos += line.len();
    }
    if depth > 0 {
        cards.push(text[start..].to_string());
    }
    cards
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(body: &str) -> String {
        format!("BEGIN:VCARD\r\nVERSION:3.0\r\n{}END:VCARD\r\n", body.replace('\n', "\r\n"))
    }

    #[test]
    fn refuses_what_rfc6352_section_5_1_forbids() {
        for (text, why) in [
            ("", "empty"),
            ("hello", "not a vCard"),
            ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n", "iCalendar"),
            ("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:x\r\n", "never closed"),
        ] {
            let err = parse_card(text).expect_err(why);
            assert_eq!(err.precondition(), "valid-address-data");
        }
        let no_uid = parse_card(&card("FN:x\n")).unwrap_err();
        assert!(no_uid.to_string().contains("without UID"), "{no_uid}");
        let two = format!("{}{}", card("UID:a\nFN:a\n"), card("UID:b\nFN:b\n"));
        let err = parse_card(&two).unwrap_err();
        assert!(err.to_string().contains("more than one VCARD"), "{err}");
    }

    #[test]
    fn missing_fn_is_a_warning_not_an_error() {
        let c = parse_card(&card("UID:a\nN:Doe;Jane;;;\n")).unwrap();
        assert_eq!(c.warnings().len(), 1);
        assert_eq!(c.display_name(), "Jane Doe");
    }

    #[test]
    fn uid_is_trimmed_and_kept_as_written() {
        let c = parse_card(&card("UID:urn:uuid:1234 \nFN:x\n")).unwrap();
        assert_eq!(c.uid(), "urn:uuid:1234");
    }

    #[test]
    fn phones_are_normalised() {
        let c = parse_card(&card("UID:a\nFN:x\nTEL:+1 (555) 123-4567\nTEL;VALUE=uri:tel:+1-555-000;ext=12\n")).unwrap();
        assert_eq!(c.phones(), vec!["+15551234567", "+1555000"]);
    }

    #[test]
    fn split_cards_keeps_each_card_and_nested_agents() {
        let two = format!("junk\r\n{}{}", card("UID:a\n"), card("UID:b\nAGENT:\nBEGIN:VCARD\nEND:VCARD\n"));
        let parts = split_cards(&two);
        assert_eq!(parts.len(), 2);
        assert!(parts[0].starts_with("BEGIN:VCARD") && parts[0].contains("UID:a"));
        assert!(parts[1].ends_with("END:VCARD\r\nEND:VCARD\r\n"));
        assert_eq!(split_cards("BEGIN:VCARD\nUID:x").len(), 1);
        assert!(split_cards("").is_empty());
    }
}
