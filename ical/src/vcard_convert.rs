//! address-data rendering (RFC 6352 §10.4): a card in the version the client asked for, with an optional property selection.
//!
//! Conversion between vCard 3.0 (RFC 2426) and 4.0 (RFC 6350, Appendix A lists the
//! differences) is calcard's `write_to`; this module fixes up what calcard leaves for the
//! caller and what real clients depend on:
//!
//! * Groups: Apple writes `X-ADDRESSBOOKSERVER-KIND:group` and `X-ADDRESSBOOKSERVER-MEMBER`,
//!   vCard 4 clients `KIND:group` (§6.1.4) and `MEMBER` (§6.6.5). Each is mapped to the other
//!   so a group made on iOS is a group in DAVx5 and back (nextcloud/contacts#213). The family
//!   native to the stored version is authoritative; stale copies of the other are dropped.
//! * Preference: vCard 3 says `TYPE=pref` (RFC 2426 §3.3.1), vCard 4 `PREF=1` (§5.3).
//! * vCard 2.1 bare parameters (`TEL;WORK;VOICE`, `EMAIL;PREF;INTERNET`) become `TYPE=` values.
//! * Photos: inline binary (`ENCODING=b;TYPE=JPEG`, RFC 2426 §3.1.4) ⇄ `data:` URIs (§6.2.4).
//!   calcard escapes the comma in `base64\,`; RFC 6350's own example does not and some vCard 4
//!   readers take the backslash literally, so it is removed. A photo by URI stays a URI, with
//!   `VALUE=uri` in vCard 3 as RFC 2426 §3.1.4 requires.
//! * `CHARSET` (calcard adds it to non-ASCII vCard 3 lines) is vCard 2.1 only; the charset of a
//!   vCard 3 body is the MIME one (RFC 2425 §5.8.1), so it is removed.
//! * vCard 2.1 CR LF line breaks in text become `\n` (RFC 6350 §3.4).
//! * vCard 4 `TEL;VALUE=uri:tel:…` becomes a plain phone number in vCard 3 (RFC 2426 §3.3.1).
//!
//! macOS Contacts fails a whole sync on a 4.0 card (rustical#265), so anything rendered as 3.0
//! says `VERSION:3.0` and carries no vCard 4 value syntax.

use calcard::common::Data;
use calcard::vcard::{
    VCardEntry, VCardParameter, VCardParameterName, VCardParameterValue, VCardProperty, VCardValue, VCardValueType,
};

use crate::text::{unfold, value_part};
use crate::vcard::{APPLE_KIND, APPLE_MEMBER, CardObject, VCardVersion, entry_value_text};

/// Properties returned whatever the selection: VERSION because a vCard without it is not a
/// vCard (RFC 6350 §6.7.9), UID because clients key their local copy on it (RFC 6352 §5.1).
const ALWAYS: [&str; 4] = ["BEGIN", "END", "VERSION", "UID"];

impl CardObject {
    /// The card in `version`, optionally cut down to the properties named in `props` (the
    /// `CARDDAV:prop` elements of `address-data`, RFC 6352 §10.4.2), plus VERSION and UID.
    /// Property names are compared case-insensitively; `item1.EMAIL` selects only that group's
    /// EMAIL, `EMAIL` every EMAIL.
    ///
    /// When the card was stored in `version`, the stored text is returned unchanged (byte for
    /// byte; with a selection, the kept lines are the client's own). Otherwise it is converted.
    pub fn render(&self, version: VCardVersion, props: Option<&[String]>) -> String {
        if self.served_version() == Some(version) {
            return match props {
                None => self.raw().to_string(),
                Some(props) => select_raw(self.raw(), props),
            };
        }
        let mut out = format!("BEGIN:VCARD\r\nVERSION:{}\r\n", version.as_str());
        for entry in convert(&self.card.entries, version) {
            let keep = props.is_none_or(|props| selected(props, entry.group.as_deref(), entry.name.as_str()));
            if keep {
                write_entry(&mut out, &entry, version);
            }
        }
        out.push_str("END:VCARD\r\n");
        out
    }
}

fn selected(props: &[String], group: Option<&str>, name: &str) -> bool {
    if ALWAYS.iter().any(|a| a.eq_ignore_ascii_case(name)) {
        return true;
    }
    props.iter().any(|p| match (p.split_once('.'), group) {
        (Some((pg, pn)), Some(g)) => pg.eq_ignore_ascii_case(g) && pn.eq_ignore_ascii_case(name),
        (Some(_), None) => false,
        (None, _) => p.eq_ignore_ascii_case(name),
    })
}

/// The property selection applied to the stored text, so kept lines stay the client's bytes.
/// Only used for 3.0 and 4.0 text, where every continuation line starts with white space
/// (RFC 6350 §3.2, RFC 2425 §5.8.1); 2.1's quoted-printable soft breaks never get here.
fn select_raw(raw: &str, props: &[String]) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut keep = false;
    for line in raw.split_inclusive('\n') {
        if line.starts_with([' ', '\t']) {
            if keep {
                out.push_str(line);
            }
            continue;
        }
        let head = line.split([';', ':']).next().unwrap_or_default().trim();
        let (group, name) = match head.rsplit_once('.') {
            Some((g, n)) => (Some(g), n),
            None => (None, head),
        };
        keep = selected(props, group, name);
        if keep {
            out.push_str(line);
        }
    }
    out
}

fn is_other(entry: &VCardEntry, name: &str) -> bool {
    matches!(&entry.name, VCardProperty::Other(n) if n.eq_ignore_ascii_case(name))
}

/// The entries of the card as they should be written in `target`.
fn convert(entries: &[VCardEntry], target: VCardVersion) -> Vec<VCardEntry> {
    let v4_group = entries.iter().any(|e| matches!(e.name, VCardProperty::Kind | VCardProperty::Member));
    let apple_group = entries.iter().any(|e| is_other(e, APPLE_KIND) || is_other(e, APPLE_MEMBER));
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        if matches!(entry.name, VCardProperty::Begin | VCardProperty::End | VCardProperty::Version) {
            continue;
        }
        let mut e = entry.clone();
        fix_params(&mut e, target);
        normalize_newlines(&mut e);
        match target {
            VCardVersion::V3 => {
                if (is_other(&e, APPLE_KIND) || is_other(&e, APPLE_MEMBER)) && v4_group {
                    continue;
                }
                match e.name {
                    VCardProperty::Kind => {
                        let kind = entry_value_text(&e).trim().to_ascii_lowercase();
                        // RFC 6350 §6.1.4: "individual" is the default, and vCard 3 has no KIND.
                        if kind == "individual" {
                            continue;
                        }
                        if kind == "group" {
                            e.name = VCardProperty::Other(APPLE_KIND.into());
                            e.values = vec![VCardValue::Text(kind)];
                        }
                    }
                    VCardProperty::Member => {
                        e.name = VCardProperty::Other(APPLE_MEMBER.into());
                        e.values = vec![VCardValue::Text(entry_value_text(&e).trim().to_string())];
                    }
                    VCardProperty::Tel => tel_uri_to_text(&mut e),
                    VCardProperty::Photo | VCardProperty::Logo | VCardProperty::Sound | VCardProperty::Key => {
                        uri_needs_value_param(&mut e);
                    }
                    _ => {}
                }
            }
            VCardVersion::V4 => {
                if matches!(e.name, VCardProperty::Kind | VCardProperty::Member) && apple_group {
                    continue;
                }
                if is_other(&e, APPLE_KIND) || matches!(e.name, VCardProperty::Kind) {
                    let kind = entry_value_text(&e).trim().to_ascii_lowercase();
                    e.name = VCardProperty::Kind;
                    e.values = vec![VCardValue::Text(kind)];
                } else if is_other(&e, APPLE_MEMBER) {
                    e.name = VCardProperty::Member;
                    e.values = vec![VCardValue::Text(entry_value_text(&e).trim().to_string())];
                }
                binary_to_data_uri(&mut e);
            }
        }
        out.push(e);
    }
    out
}

/// vCard 2.1 quoted-printable decodes `=0D=0A` to CR LF, which calcard writes as `\r\n`; only
/// `\n` is a newline escape in vCard 3 and 4 (RFC 2426 §4, RFC 6350 §3.4).
fn normalize_newlines(e: &mut VCardEntry) {
    let fix = |s: &mut String| {
        if s.contains('\r') {
            *s = s.replace("\r\n", "\n").replace('\r', "\n");
        }
    };
    for v in &mut e.values {
        match v {
            VCardValue::Text(s) => fix(s),
            VCardValue::Component(parts) => parts.iter_mut().for_each(fix),
            _ => {}
        }
    }
}

/// Parameters that mean the same thing but are spelt differently in the two versions.
fn fix_params(e: &mut VCardEntry, target: VCardVersion) {
    let mut params = Vec::with_capacity(e.params.len());
    let mut pref = false;
    for p in std::mem::take(&mut e.params) {
        let is_pref_type =
            p.name == VCardParameterName::Type && p.value.as_text().is_some_and(|t| t.eq_ignore_ascii_case("pref"));
        let is_null = matches!(p.value, VCardParameterValue::Null);
        if p.name == VCardParameterName::Pref || is_pref_type {
            // RFC 6350 §5.3 (PREF=1..100) vs RFC 2426 TYPE=pref: only "most preferred" survives.
            pref = true;
            continue;
        }
        if is_null {
            // vCard 2.1 writes type values without "TYPE=" (`TEL;WORK;VOICE`).
            params.push(type_param(p.name.as_str().to_ascii_lowercase()));
            continue;
        }
        if p.name == VCardParameterName::Value && p.value.as_text().is_some_and(|t| t.eq_ignore_ascii_case("url")) {
            // Thunderbird writes VALUE=URL; the value type is "uri" in both versions.
            params.push(VCardParameter {
                name: VCardParameterName::Value,
                value: VCardParameterValue::ValueType(VCardValueType::Uri),
            });
            continue;
        }
        if target == VCardVersion::V3
            && p.name == VCardParameterName::Mediatype
            && e.values.iter().any(|v| matches!(v, VCardValue::Binary(_)))
        {
            // The media type travels in TYPE= for inline vCard 3 binaries; calcard adds it.
            continue;
        }
        params.push(p);
    }
    if pref {
        match target {
            VCardVersion::V3 => params.push(type_param("pref".into())),
            VCardVersion::V4 => {
                params.push(VCardParameter { name: VCardParameterName::Pref, value: VCardParameterValue::Integer(1) })
            }
        }
    }
    // calcard joins adjacent parameters of the same name into one `TYPE=a,b`; keep them adjacent.
    params.sort_by_key(|p| p.name != VCardParameterName::Type);
    e.params = params;
}

fn type_param(value: String) -> VCardParameter {
    VCardParameter { name: VCardParameterName::Type, value: VCardParameterValue::Text(value) }
}

/// vCard 4 `TEL;VALUE=uri:tel:+1-555-0100` is `TEL:+1-555-0100` in vCard 3 (RFC 2426 §3.3.1).
fn tel_uri_to_text(e: &mut VCardEntry) {
    let text = entry_value_text(e);
    let Some(number) = text.trim().strip_prefix("tel:") else { return };
    let number = number.to_string();
    e.params.retain(|p| p.name != VCardParameterName::Value);
    e.values = vec![VCardValue::Text(number)];
}

/// A vCard 3 PHOTO/LOGO/SOUND/KEY without `VALUE=uri` is inline binary (RFC 2426 §3.1.4), so a
/// vCard 4 URI value needs the parameter.
fn uri_needs_value_param(e: &mut VCardEntry) {
    let is_uri = matches!(e.values.as_slice(), [VCardValue::Text(t)] if t.contains(':'));
    if is_uri && !e.params.iter().any(|p| p.name == VCardParameterName::Value) {
        e.params.push(VCardParameter {
            name: VCardParameterName::Value,
            value: VCardParameterValue::ValueType(VCardValueType::Uri),
        });
    }
}

/// Inline binary becomes a `data:` URI in vCard 4 (RFC 6350 §6.2.4). The vCard 3 `TYPE=JPEG`
/// media token moves into the URI; a missing type is sniffed from the data's magic bytes.
fn binary_to_data_uri(e: &mut VCardEntry) {
    let mut had_binary = false;
    for v in &mut e.values {
        if let VCardValue::Binary(data) = v {
            had_binary = true;
            if data.content_type.is_none() {
                data.content_type = sniff(data).map(str::to_string);
            }
        }
    }
    if had_binary {
        // Known TYPE values (WORK, HOME) are parsed as such; media tokens stay text.
        e.params.retain(|p| !(p.name == VCardParameterName::Type && matches!(p.value, VCardParameterValue::Text(_))));
    }
}

fn sniff(data: &Data) -> Option<&'static str> {
    let d = data.data.as_slice();
    if d.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if d.starts_with(b"\x89PNG") {
        Some("image/png")
    } else if d.starts_with(b"GIF8") {
        Some("image/gif")
    } else {
        None
    }
}

/// Writes one entry with calcard, then repairs what calcard writes for the other version
/// (see the module notes) and folds at 75 octets (RFC 6350 §3.2).
fn write_entry(out: &mut String, entry: &VCardEntry, version: VCardVersion) {
    let mut written = String::new();
    if entry.write_to(&mut written, version == VCardVersion::V4).is_err() {
        return;
    }
    let line = unfold(&written);
    let line = line.trim_end_matches(['\r', '\n']);
    // A line break left inside one written property would start a new property in the output:
    // calcard turns `\n` in a property *name* into a real newline, so a stored card's
    // `X-A\nEMAIL:…` came out as an extra EMAIL line (fuzz finding F5). Values are escaped by the
    // writer, so only such a malformed entry has one; it is dropped rather than let through.
    // Likewise a control character: calcard decodes a base64 PHOTO whose bytes happen to be
    // valid UTF-8 as text and writes it back raw, which no reader accepts (fuzz finding F6). A
    // converted copy without that photo beats one that no longer parses; the stored version is
    // still served byte for byte.
    if line.contains(['\r', '\n']) || crate::text::forbidden_control(line).is_some() {
        return;
    }
    let value = value_part(line);
    let head = &line[..line.len() - value.len()];
    let head = match version {
        VCardVersion::V3 => head.replace(";CHARSET=UTF-8:", ":"),
        VCardVersion::V4 => head.to_string(),
    };
    let value = match value.strip_prefix("data:") {
        Some(rest) if version == VCardVersion::V4 => format!("data:{}", rest.replacen("base64\\,", "base64,", 1)),
        _ => value.to_string(),
    };
    crate::fold_line(out, &format!("{head}{value}"));
}

#[cfg(test)]
mod tests {
    use crate::{VCardVersion, parse_card};

    /// See: fuzz finding F5 (issue 19) — an escaped newline in a property, group or parameter
    /// name became a real line break on conversion and injected a line (an EMAIL, a `BEGIN:`), or
    /// the guard that drops such a line dropped the UID with it. Such names are refused at PUT;
    /// `write_entry` still drops the line for cards stored before.
    #[test]
    fn names_with_line_breaks_are_refused_fuzz_f5() {
        for file in [
            "F5-vcard-property-name-injects-a-line.vcf",
            "F5-vcard-property-name-with-escaped-newline.min.vcf",
            "F5-parameter-name-with-escaped-newline.vcf",
        ] {
            let path = format!("{}/../fuzz/findings/{file}", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(parse_card(&text).is_err(), "{file}");
        }
        // A small photo whose bytes happen to be valid UTF-8 with a control in them is still a
        // photo (found by the same fuzzer once decoded values were checked).
        let gif = card("3.0", "UID:g\nFN:g\nPHOTO;ENCODING=b;TYPE=GIF:R0lGODlhAQABAB4A\n");
        let gif = parse_card(&gif).unwrap();
        for version in [VCardVersion::V3, VCardVersion::V4] {
            let out = gif.render(version, None);
            assert!(parse_card(&out).is_ok(), "{version:?}: a converted copy parses:\n{out}");
        }
        for file in ["F6-photo-bytes-that-look-like-text.vcf", "F6-photo-decoded-as-text-written-raw.vcf"] {
            let path = format!("{}/../fuzz/findings/{file}", env!("CARGO_MANIFEST_DIR"));
            let Ok(parsed) = parse_card(&std::fs::read_to_string(&path).unwrap()) else { continue };
            for version in [VCardVersion::V3, VCardVersion::V4] {
                assert!(parse_card(&parsed.render(version, None)).is_ok(), "{file} {version:?}");
            }
        }
        let ok = card("3.0", "UID:x\nFN:a\\nb\nitem1.EMAIL;TYPE=INTERNET:a@b.c\n");
        let parsed = parse_card(&ok).unwrap();
        for version in [VCardVersion::V3, VCardVersion::V4] {
            assert!(parse_card(&parsed.render(version, None)).is_ok());
        }
    }

    fn card(version: &str, body: &str) -> String {
        format!("BEGIN:VCARD\r\nVERSION:{version}\r\n{}END:VCARD\r\n", body.replace('\n', "\r\n"))
    }

    #[test]
    fn same_version_is_byte_identical() {
        let text = card("3.0", "UID:a\nfn:Odd  Case\nitem1.EMAIL;type=INTERNET:a@b\nitem1.X-ABLabel:x\n");
        let c = parse_card(&text).unwrap();
        assert_eq!(c.render(VCardVersion::V3, None), text);
    }

    #[test]
    fn selection_keeps_version_and_uid_and_raw_lines() {
        let text = card("3.0", "UID:a\nFN:A\nNOTE:long\n  continued\nitem1.EMAIL:a@b\nEMAIL:c@d\nTEL:1\n");
        let c = parse_card(&text).unwrap();
        let only_note = c.render(VCardVersion::V3, Some(&["note".into()]));
        assert_eq!(only_note, card("3.0", "UID:a\nNOTE:long\n  continued\n"));
        let item1 = c.render(VCardVersion::V3, Some(&["item1.EMAIL".into()]));
        assert_eq!(item1, card("3.0", "UID:a\nitem1.EMAIL:a@b\n"));
        let v4 = c.render(VCardVersion::V4, Some(&["EMAIL".into()]));
        assert_eq!(v4, card("4.0", "UID:a\nitem1.EMAIL:a@b\nEMAIL:c@d\n"));
    }

    #[test]
    fn v4_tel_uri_and_pref_become_v3_syntax() {
        let c = parse_card(&card("4.0", "UID:a\nFN:A\nTEL;VALUE=uri;TYPE=cell;PREF=1:tel:+1-555-0100\n")).unwrap();
        let v3 = c.render(VCardVersion::V3, None);
        assert!(v3.contains("\r\nTEL;TYPE=CELL,pref:+1-555-0100\r\n"), "{v3}");
        let back = parse_card(&v3).unwrap().render(VCardVersion::V4, None);
        assert!(back.contains("\r\nTEL;TYPE=CELL;PREF=1:+1-555-0100\r\n"), "{back}");
    }

    #[test]
    fn photo_by_uri_stays_a_uri() {
        let c = parse_card(&card("4.0", "UID:a\nFN:A\nPHOTO:https://example.com/a.jpg\n")).unwrap();
        let v3 = c.render(VCardVersion::V3, None);
        assert!(v3.contains("\r\nPHOTO;VALUE=URI:https://example.com/a.jpg\r\n"), "{v3}");
        let back = parse_card(&v3).unwrap().render(VCardVersion::V4, None);
        assert!(back.contains("https://example.com/a.jpg"), "{back}");
        assert!(!back.contains("data:"), "{back}");
    }

    #[test]
    fn long_non_ascii_lines_fold_on_char_boundaries() {
        let note = "ä".repeat(100);
        let c = parse_card(&card("4.0", &format!("UID:a\nFN:A\nNOTE:{note}\n"))).unwrap();
        let v3 = c.render(VCardVersion::V3, None);
        assert!(v3.split("\r\n").all(|l| l.len() <= 75), "{v3}");
        assert!(!v3.contains("CHARSET"), "{v3}");
        assert!(crate::text::unfold(&v3).contains(&note));
    }
}

#[cfg(test)]
mod label_tests {
    use crate::{VCardVersion, parse_card};

    /// A LABEL parameter holds line breaks (RFC 6350 §6.3.1, written `\n`): the F5 guard must
    /// not drop such an address.
    #[test]
    fn address_labels_with_line_breaks_survive_conversion() {
        let text = "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:l\r\nFN:L\r\nADR;LABEL=\"1 Main St\\nTown\":;;1 Main St;Town;;;\r\nEND:VCARD\r\n";
        let card = parse_card(text).unwrap();
        for version in [VCardVersion::V3, VCardVersion::V4] {
            let out = card.render(version, None);
            assert!(out.contains("ADR"), "{version:?}:\n{out}");
        }
    }
}
