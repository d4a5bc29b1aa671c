//! The JSON contact model and its conversion to and from vCard 4.0 (RFC 6350).
//!
//! Reading is lenient: whatever a CardDAV client stored (vCard 2.1, 3.0 or 4.0) is shown as
//! well as the model can. Writing is strict about the fields the model owns and careful about
//! everything else: an update regenerates only the properties the model knows and copies every
//! other line of the stored card (`X-` properties, Apple's `item1.X-ABLabel`, `IMPP`, `GENDER`,
//! …), so a JSON edit never loses what a native client put there. A card stored as vCard 3.0
//! stays 3.0 (macOS Contacts fails a sync on 4.0 cards); new cards are 4.0.

use calcard::common::IanaString;
use calcard::vcard::{VCardEntry, VCardParameterName, VCardParameterValue, VCardProperty, VCardValue};
use chrono::{DateTime, NaiveDate, Utc};
use madang_ical::vcard::{CardObject, VCardVersion};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::{Email, InvalidInput};

/// A contact as the JSON API shows and accepts it. On write, a field that is absent or empty
/// removes the property from the card; properties the model does not know are kept.
/// No `deny_unknown_fields`: these fields are always flattened into `Contact` (which adds
/// `uid`, `etag`, `dav_url`) or `ContactInput` (where serde ignores other keys anyway), so the
/// schema must not say `additionalProperties: false`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct ContactFields {
    /// `FN`: the name to show. Derived from `name`, `organization` or an e-mail when absent.
    pub full_name: Option<String>,
    /// `N`: the structured name.
    pub name: Option<StructuredName>,
    /// `NICKNAME`.
    pub nicknames: Vec<String>,
    /// `EMAIL`s, in order.
    pub emails: Vec<TypedValue>,
    /// `TEL`s, in order.
    pub phones: Vec<TypedValue>,
    /// `ADR`s, in order.
    pub addresses: Vec<Address>,
    /// `ORG`'s first component.
    pub organization: Option<String>,
    /// `ORG`'s second component (the organisational unit).
    pub department: Option<String>,
    /// `TITLE`.
    pub title: Option<String>,
    /// `BDAY`: `YYYY-MM-DD`, or `--MM-DD` without a year.
    pub birthday: Option<String>,
    /// `ANNIVERSARY`: `YYYY-MM-DD`, or `--MM-DD` without a year.
    pub anniversary: Option<String>,
    /// `NOTE`; several notes are joined with a blank line.
    pub notes: Option<String>,
    /// `URL`s.
    pub urls: Vec<TypedValue>,
    /// `CATEGORIES`: the groups or tags the contact is in.
    pub categories: Vec<String>,
    /// `PHOTO`: a `data:image/…;base64,…` URL (at most 256 KiB decoded), or an `https:` URL.
    pub photo: Option<String>,
    /// `KIND` (RFC 6350 §6.1.4; Apple's `X-ADDRESSBOOKSERVER-KIND` in vCard 3): `individual`
    /// (the default), `group`, `org` or `location`.
    pub kind: Option<String>,
    /// A group's members (`MEMBER`, RFC 6350 §6.6.5; `X-ADDRESSBOOKSERVER-MEMBER` in vCard 3):
    /// the UIDs of the contacts in it. A member that is not a `urn:uuid:` is kept as written.
    pub members: Vec<String>,
}

/// The most a photo may weigh, decoded: a contact picture, not an archive. Larger photos
/// would also crowd `dav.max_resource_size` (1 MiB by default) and every sync of the book.
pub const MAX_PHOTO_BYTES: usize = 256 * 1024;

const URN_UUID: &str = "urn:uuid:";

/// A member as the model shows it: the UID of a `urn:uuid:` reference, else the URI.
pub fn member_uid(member: &str) -> &str {
    let m = member.trim();
    match m.get(..URN_UUID.len()) {
        Some(p) if p.eq_ignore_ascii_case(URN_UUID) => &m[URN_UUID.len()..],
        _ => m,
    }
}

/// `N` (RFC 6350 §6.2.2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct StructuredName {
    pub family: String,
    pub given: String,
    pub additional: String,
    pub prefix: String,
    pub suffix: String,
}

/// A value with its `TYPE`s (`home`, `work`, `cell`, `voice`, …) and preference.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TypedValue {
    pub value: String,
    pub types: Vec<String>,
    /// `PREF=1` (vCard 4) / `TYPE=pref` (vCard 3).
    pub pref: bool,
}

/// `ADR` (RFC 6350 §6.3.1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Address {
    pub types: Vec<String>,
    pub pref: bool,
    pub po_box: String,
    pub extended: String,
    pub street: String,
    pub locality: String,
    pub region: String,
    pub postal_code: String,
    pub country: String,
}

/// Properties the model owns: regenerated from JSON on write. Everything else is preserved.
fn is_modelled(name: &VCardProperty) -> bool {
    use VCardProperty as P;
    matches!(
        name,
        P::Begin
            | P::End
            | P::Version
            | P::Uid
            | P::Rev
            | P::Fn
            | P::N
            | P::Nickname
            | P::Email
            | P::Tel
            | P::Adr
            | P::Org
            | P::Title
            | P::Bday
            | P::Anniversary
            | P::Note
            | P::Url
            | P::Categories
            | P::Photo
            | P::Kind
            | P::Member
    ) || matches!(name, P::Other(n) if n.eq_ignore_ascii_case("X-ADDRESSBOOKSERVER-KIND")
        || n.eq_ignore_ascii_case("X-ADDRESSBOOKSERVER-MEMBER"))
}

/// The model's view of a stored card.
pub fn fields_from_card(card: &CardObject) -> ContactFields {
    let mut f = ContactFields::default();
    let mut notes = Vec::new();
    for e in &card.vcard().entries {
        match &e.name {
            VCardProperty::Fn if f.full_name.is_none() => f.full_name = Some(joined(e, ",")),
            VCardProperty::N if f.name.is_none() => {
                let part = |i: usize| e.values.get(i).map(value_text).unwrap_or_default();
                f.name = Some(StructuredName {
                    family: part(0),
                    given: part(1),
                    additional: part(2),
                    prefix: part(3),
                    suffix: part(4),
                });
            }
            VCardProperty::Nickname => f.nicknames.extend(list(e)),
            VCardProperty::Email => f.emails.push(typed(e, joined(e, ","))),
            VCardProperty::Tel => {
                let v = joined(e, ",");
                let v = v.strip_prefix("tel:").map(str::to_string).unwrap_or(v);
                f.phones.push(typed(e, v));
            }
            VCardProperty::Url => f.urls.push(typed(e, joined(e, ","))),
            VCardProperty::Adr => {
                let part = |i: usize| e.values.get(i).map(value_text).unwrap_or_default();
                let t = typed(e, String::new());
                f.addresses.push(Address {
                    types: t.types,
                    pref: t.pref,
                    po_box: part(0),
                    extended: part(1),
                    street: part(2),
                    locality: part(3),
                    region: part(4),
                    postal_code: part(5),
                    country: part(6),
                });
            }
            VCardProperty::Org if f.organization.is_none() => {
                f.organization = e.values.first().map(value_text).filter(|s| !s.is_empty());
                f.department = e.values.get(1).map(value_text).filter(|s| !s.is_empty());
            }
            VCardProperty::Title if f.title.is_none() => f.title = Some(joined(e, ",")),
            VCardProperty::Bday if f.birthday.is_none() => f.birthday = Some(joined(e, ",")),
            VCardProperty::Anniversary if f.anniversary.is_none() => f.anniversary = Some(joined(e, ",")),
            VCardProperty::Note => notes.push(joined(e, ",")),
            VCardProperty::Categories => f.categories.extend(list(e)),
            VCardProperty::Photo if f.photo.is_none() => f.photo = Some(photo_text(e)),
            _ => {}
        }
    }
    if !notes.is_empty() {
        f.notes = Some(notes.join("\n\n"));
    }
    f.kind = Some(kind_of(card));
    f.members = card.members().iter().map(|m| member_uid(m).to_string()).collect();
    f
}

/// `KIND` in lower case, from vCard 4 or Apple's property; `individual` when absent.
fn kind_of(card: &CardObject) -> String {
    if card.is_group() {
        return "group".into();
    }
    card.vcard()
        .entries
        .iter()
        .find(|e| e.name == VCardProperty::Kind)
        .map(|e| joined(e, ",").trim().to_ascii_lowercase())
        .filter(|k| !k.is_empty())
        .unwrap_or_else(|| "individual".into())
}

/// The card text for `fields`: vCard 4.0, or 3.0 when `stored` was 3.0. Properties of
/// `stored` that the model does not own are copied unchanged.
pub fn card_from_fields(
    uid: &str,
    fields: &ContactFields,
    stored: Option<&CardObject>,
    now: DateTime<Utc>,
) -> Result<String, InvalidInput> {
    let stored_entries: &[VCardEntry] = stored.map_or(&[], |c| c.vcard().entries.as_slice());
    let mut out = String::from("BEGIN:VCARD\r\nVERSION:4.0\r\n");
    line(&mut out, None, "UID", "", &escape(uid));
    let full_name = fields.full_name.clone().filter(|s| !s.trim().is_empty()).unwrap_or_else(|| derived_name(fields));
    check_text("full_name", &full_name, false)?;
    line(&mut out, None, "FN", "", &escape(full_name.trim()));
    if let Some(n) = &fields.name {
        let parts = [&n.family, &n.given, &n.additional, &n.prefix, &n.suffix];
        for p in parts {
            check_text("name", p, false)?;
        }
        let value: Vec<String> = parts.iter().map(|p| escape(p.trim())).collect();
        line(&mut out, None, "N", "", &value.join(";"));
    }
    let nicknames = clean_list("nicknames", &fields.nicknames)?;
    if !nicknames.is_empty() {
        line(&mut out, None, "NICKNAME", "", &nicknames.join(","));
    }
    let mut used_groups = Vec::new();
    for email in &fields.emails {
        Email::parse(&email.value).map_err(|e| InvalidInput(format!("emails: {e}")))?;
        let group = group_of(stored_entries, &VCardProperty::Email, email.value.trim());
        write_typed(&mut out, group, "EMAIL", email, &escape(email.value.trim()))?;
        used_groups.extend(group.map(str::to_string));
    }
    for phone in &fields.phones {
        let digits = madang_ical::normalize_phone(&phone.value);
        if digits.trim_start_matches('+').is_empty() {
            return Err(InvalidInput(format!("phones: `{}` has no digits", phone.value)));
        }
        check_text("phones", &phone.value, false)?;
        let group = stored_entries
            .iter()
            .filter(|e| e.name == VCardProperty::Tel)
            .find(|e| madang_ical::normalize_phone(&joined(e, ",")) == digits)
            .and_then(|e| e.group.as_deref());
        write_typed(&mut out, group, "TEL", phone, &escape(phone.value.trim()))?;
        used_groups.extend(group.map(str::to_string));
    }
    for adr in &fields.addresses {
        let parts =
            [&adr.po_box, &adr.extended, &adr.street, &adr.locality, &adr.region, &adr.postal_code, &adr.country];
        for p in parts {
            check_text("addresses", p, true)?;
        }
        let value: Vec<String> = parts.iter().map(|p| escape(p.trim())).collect();
        let typed = TypedValue { value: String::new(), types: adr.types.clone(), pref: adr.pref };
        write_typed(&mut out, None, "ADR", &typed, &value.join(";"))?;
    }
    if fields.organization.is_some() || fields.department.is_some() {
        let org = fields.organization.as_deref().unwrap_or_default();
        let unit = fields.department.as_deref().unwrap_or_default();
        check_text("organization", org, false)?;
        check_text("department", unit, false)?;
        let value = if unit.trim().is_empty() {
            escape(org.trim())
        } else {
            format!("{};{}", escape(org.trim()), escape(unit.trim()))
        };
        line(&mut out, None, "ORG", "", &value);
    }
    if let Some(title) = fields.title.as_deref().filter(|t| !t.trim().is_empty()) {
        check_text("title", title, false)?;
        line(&mut out, None, "TITLE", "", &escape(title.trim()));
    }
    if let Some(date) = fields.birthday.as_deref().filter(|t| !t.trim().is_empty()) {
        line(&mut out, None, "BDAY", "", &vcard_date("birthday", date)?);
    }
    if let Some(date) = fields.anniversary.as_deref().filter(|t| !t.trim().is_empty()) {
        line(&mut out, None, "ANNIVERSARY", "", &vcard_date("anniversary", date)?);
    }
    if let Some(notes) = fields.notes.as_deref().filter(|t| !t.trim().is_empty()) {
        check_text("notes", notes, true)?;
        line(&mut out, None, "NOTE", "", &escape(notes));
    }
    for url in &fields.urls {
        check_uri("urls", &url.value)?;
        let group = group_of(stored_entries, &VCardProperty::Url, url.value.trim());
        write_typed(&mut out, group, "URL", url, url.value.trim())?;
        used_groups.extend(group.map(str::to_string));
    }
    let categories = clean_list("categories", &fields.categories)?;
    if !categories.is_empty() {
        line(&mut out, None, "CATEGORIES", "", &categories.join(","));
    }
    if let Some(photo) = fields.photo.as_deref().filter(|t| !t.trim().is_empty()) {
        check_photo(photo.trim())?;
        line(&mut out, None, "PHOTO", "", photo.trim());
    }
    // Written as vCard 4; a 3.0 card gets Apple's properties from the conversion below.
    let kind = fields.kind.as_deref().map(|k| k.trim().to_ascii_lowercase()).filter(|k| !k.is_empty());
    let kind = kind.unwrap_or_else(|| "individual".into());
    if !["individual", "group", "org", "location"].contains(&kind.as_str()) {
        return Err(InvalidInput(format!("kind: `{kind}` is not one of individual, group, org, location")));
    }
    if kind != "individual" {
        line(&mut out, None, "KIND", "", &kind);
    }
    if !fields.members.is_empty() && kind != "group" {
        return Err(InvalidInput("members: only a group (kind `group`) has members".into()));
    }
    let mut members: Vec<&str> = Vec::new();
    for m in fields.members.iter().map(|m| m.trim()).filter(|m| !m.is_empty()) {
        check_text("members", m, false)?;
        if member_uid(m) == uid {
            return Err(InvalidInput("members: a group cannot be its own member".into()));
        }
        if !members.iter().any(|seen| member_uid(seen) == member_uid(m)) {
            members.push(m);
        }
    }
    for m in members {
        // A bare UID is a card's; anything with a scheme (mailto:, urn:uuid:) is a URI already.
        let value = if m.contains(':') { m.to_string() } else { format!("{URN_UUID}{m}") };
        line(&mut out, None, "MEMBER", "", &value);
    }
    line(&mut out, None, "REV", "", &now.format("%Y%m%dT%H%M%SZ").to_string());
    write_preserved(&mut out, stored_entries, &used_groups);
    out.push_str("END:VCARD\r\n");
    // A 3.0 card stays 3.0; the conversion is the one CardDAV GET uses.
    if stored.is_some_and(|c| c.version() == Some(VCardVersion::V3)) {
        let card = madang_ical::parse_card(&out).map_err(|e| InvalidInput(e.to_string()))?;
        return Ok(card.render(VCardVersion::V3, None));
    }
    Ok(out)
}

/// Copies the stored card's properties the model does not own. Apple's labels
/// (`itemN.X-ABLabel`) go with their group: they stay while a property of the group does.
fn write_preserved(out: &mut String, stored: &[VCardEntry], used_groups: &[String]) {
    let is_label = |e: &VCardEntry| matches!(&e.name, VCardProperty::Other(n) if n.eq_ignore_ascii_case("X-ABLABEL"));
    let kept: Vec<&VCardEntry> = stored.iter().filter(|e| !is_modelled(&e.name)).collect();
    for e in &kept {
        if is_label(e)
            && let Some(group) = &e.group
        {
            let alive = used_groups.iter().any(|g| g.eq_ignore_ascii_case(group))
                || kept
                    .iter()
                    .any(|o| !is_label(o) && o.group.as_deref().is_some_and(|g| g.eq_ignore_ascii_case(group)));
            if !alive {
                continue;
            }
        }
        let mut text = String::new();
        if e.write_to(&mut text, true).is_ok() {
            out.push_str(&text);
        }
    }
}

/// The group (`item1`) of the stored property with this value, so a kept label still applies.
fn group_of<'a>(stored: &'a [VCardEntry], name: &VCardProperty, value: &str) -> Option<&'a str> {
    stored
        .iter()
        .filter(|e| &e.name == name)
        .find(|e| joined(e, ",").trim().eq_ignore_ascii_case(value))
        .and_then(|e| e.group.as_deref())
}

fn derived_name(f: &ContactFields) -> String {
    if let Some(n) = &f.name {
        let name = [&n.prefix, &n.given, &n.additional, &n.family, &n.suffix]
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        if !name.is_empty() {
            return name;
        }
    }
    if let Some(org) = f.organization.as_deref().filter(|o| !o.trim().is_empty()) {
        return org.trim().to_string();
    }
    f.emails.first().map(|e| e.value.trim().to_string()).unwrap_or_default()
}

fn write_typed(
    out: &mut String,
    group: Option<&str>,
    name: &str,
    v: &TypedValue,
    value: &str,
) -> Result<(), InvalidInput> {
    let mut params = String::new();
    let mut types = Vec::new();
    for t in &v.types {
        let t = t.trim().to_ascii_lowercase();
        if t.is_empty() || !t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(InvalidInput(format!("type `{t}` must be letters, digits and `-` (e.g. home, work, cell)")));
        }
        if t == "pref" {
            continue;
        }
        types.push(t);
    }
    if !types.is_empty() {
        params.push_str(";TYPE=");
        params.push_str(&types.join(","));
    }
    if v.pref {
        params.push_str(";PREF=1");
    }
    line(out, group, name, &params, value);
    Ok(())
}

/// One content line, folded at 75 octets (RFC 6350 §3.2).
fn line(out: &mut String, group: Option<&str>, name: &str, params: &str, value: &str) {
    let mut text = String::new();
    if let Some(g) = group {
        text.push_str(g);
        text.push('.');
    }
    text.push_str(name);
    text.push_str(params);
    text.push(':');
    text.push_str(value);
    madang_ical::fold_line(out, &text);
}

/// RFC 6350 §3.4 text escaping.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ',' => out.push_str("\\,"),
            ';' => out.push_str("\\;"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

fn check_text(field: &str, s: &str, multiline: bool) -> Result<(), InvalidInput> {
    if s.chars().any(|c| c.is_control() && !(multiline && (c == '\n' || c == '\r' || c == '\t'))) {
        return Err(InvalidInput(format!("{field}: control characters are not allowed")));
    }
    if s.len() > 10_000 {
        return Err(InvalidInput(format!("{field}: longer than 10000 bytes")));
    }
    Ok(())
}

fn check_uri(field: &str, s: &str) -> Result<(), InvalidInput> {
    let s = s.trim();
    let scheme_ok = s.split_once(':').is_some_and(|(scheme, rest)| {
        !scheme.is_empty()
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
            && !rest.is_empty()
    });
    if !scheme_ok || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(InvalidInput(format!("{field}: `{s}` is not a URI (e.g. https://example.com/)")));
    }
    Ok(())
}

fn check_photo(photo: &str) -> Result<(), InvalidInput> {
    use base64::Engine;
    if let Some(rest) = photo.strip_prefix("data:") {
        let (media, data) = rest.split_once(',').ok_or_else(|| InvalidInput("photo: malformed data URL".into()))?;
        let Some(media) = media.strip_suffix(";base64") else {
            return Err(InvalidInput("photo: a data URL must be base64 (data:image/jpeg;base64,…)".into()));
        };
        if !media.starts_with("image/") {
            return Err(InvalidInput("photo: the media type must be image/…".into()));
        }
        // Decoded size from the encoded length, so an oversized photo is refused before it is
        // decoded.
        if data.len() / 4 * 3 > MAX_PHOTO_BYTES + 2 {
            return Err(InvalidInput(format!("photo: larger than {MAX_PHOTO_BYTES} bytes")));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|_| InvalidInput("photo: the data URL is not valid base64".into()))?;
        if bytes.len() > MAX_PHOTO_BYTES {
            return Err(InvalidInput(format!("photo: larger than {MAX_PHOTO_BYTES} bytes")));
        }
        return Ok(());
    }
    if photo.starts_with("https://") || photo.starts_with("http://") {
        return check_uri("photo", photo);
    }
    Err(InvalidInput("photo: expected a data:image/…;base64 URL or an http(s) URL".into()))
}

fn clean_list(field: &str, items: &[String]) -> Result<Vec<String>, InvalidInput> {
    let mut out = Vec::new();
    for item in items.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        check_text(field, item, false)?;
        out.push(escape(item));
    }
    Ok(out)
}

/// `YYYY-MM-DD`, `YYYYMMDD` or `--MM-DD` as a vCard 4 date (RFC 6350 §4.3.1).
fn vcard_date(field: &str, s: &str) -> Result<String, InvalidInput> {
    let s = s.trim();
    let bad = || InvalidInput(format!("{field}: `{s}` is not a date; use YYYY-MM-DD or --MM-DD"));
    if let Some(md) = s.strip_prefix("--") {
        let md = md.replace('-', "");
        let (m, d) = (md.get(0..2).ok_or_else(bad)?, md.get(2..4).ok_or_else(bad)?);
        // 2000 is a leap year, so 29 February passes.
        NaiveDate::parse_from_str(&format!("2000{m}{d}"), "%Y%m%d").map_err(|_| bad())?;
        if md.len() != 4 {
            return Err(bad());
        }
        return Ok(format!("--{m}{d}"));
    }
    let date = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(s, "%Y%m%d"))
        .map_err(|_| bad())?;
    Ok(date.format("%Y%m%d").to_string())
}

/// A property's values as one string, lists joined with `sep`.
fn joined(e: &VCardEntry, sep: &str) -> String {
    e.values.iter().map(value_text).collect::<Vec<_>>().join(sep)
}

/// A list property (NICKNAME, CATEGORIES) as its items.
fn list(e: &VCardEntry) -> Vec<String> {
    e.values
        .iter()
        .flat_map(|v| match v {
            VCardValue::Component(parts) => parts.clone(),
            other => vec![value_text(other)],
        })
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn value_text(v: &VCardValue) -> String {
    match v {
        VCardValue::Text(s) => s.clone(),
        VCardValue::Component(parts) => parts.join(","),
        VCardValue::Integer(i) => i.to_string(),
        VCardValue::Float(f) => f.to_string(),
        VCardValue::Boolean(b) => b.to_string(),
        VCardValue::Binary(data) => data.to_unwrapped_string(),
        VCardValue::PartialDateTime(p) => match (p.year, p.month, p.day) {
            (Some(y), Some(m), Some(d)) => format!("{y:04}-{m:02}-{d:02}"),
            (None, Some(m), Some(d)) => format!("--{m:02}-{d:02}"),
            (Some(y), Some(m), None) => format!("{y:04}-{m:02}"),
            (Some(y), None, None) => format!("{y:04}"),
            _ => String::new(),
        },
        other => other.as_text().unwrap_or_default().to_string(),
    }
}

/// A photo as a data URL: vCard 3 inline binary has its media type in `TYPE=JPEG`.
fn photo_text(e: &VCardEntry) -> String {
    match e.values.first() {
        Some(VCardValue::Binary(data)) if data.content_type.is_none() => {
            let legacy = e
                .params
                .iter()
                .filter(|p| p.name == VCardParameterName::Type)
                .find_map(|p| param_text(&p.value))
                .map(|t| format!("image/{}", t.to_ascii_lowercase()))
                .unwrap_or_else(|| "image/jpeg".to_string());
            let mut data = data.clone();
            data.content_type = Some(legacy);
            data.to_unwrapped_string()
        }
        _ => joined(e, ","),
    }
}

fn param_text(v: &VCardParameterValue) -> Option<String> {
    match v {
        VCardParameterValue::Text(s) => Some(s.clone()),
        VCardParameterValue::Type(t) => Some(t.as_str().to_string()),
        VCardParameterValue::Integer(i) => Some(i.to_string()),
        _ => None,
    }
}

/// `TYPE`s (lower-case, without `pref` and vCard 3's `internet`) and whether it is preferred.
fn typed(e: &VCardEntry, value: String) -> TypedValue {
    let mut types = Vec::new();
    let mut pref = false;
    for p in &e.params {
        match p.name {
            VCardParameterName::Type => {
                for t in param_text(&p.value)
                    .into_iter()
                    .flat_map(|t| t.split(',').map(|s| s.trim().to_ascii_lowercase()).collect::<Vec<_>>())
                {
                    match t.as_str() {
                        "pref" => pref = true,
                        "internet" | "" => {}
                        _ if !types.contains(&t) => types.push(t),
                        _ => {}
                    }
                }
            }
            VCardParameterName::Pref => pref = true,
            _ => {}
        }
    }
    TypedValue { value: value.trim().to_string(), types, pref }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default()
    }

    #[test]
    fn fields_round_trip_through_vcard_4() {
        let fields = ContactFields {
            full_name: Some("Dr. Jane Q. Doe".into()),
            name: Some(StructuredName {
                family: "Doe".into(),
                given: "Jane".into(),
                additional: "Q.".into(),
                prefix: "Dr.".into(),
                suffix: String::new(),
            }),
            nicknames: vec!["JJ".into()],
            emails: vec![TypedValue { value: "jane@example.com".into(), types: vec!["work".into()], pref: true }],
            phones: vec![TypedValue { value: "+1 555 123 4567".into(), types: vec!["cell".into()], pref: false }],
            addresses: vec![Address {
                types: vec!["home".into()],
                street: "1 Main St; Apt 2".into(),
                locality: "Springfield".into(),
                country: "USA".into(),
                ..Default::default()
            }],
            organization: Some("Acme, Inc.".into()),
            department: Some("R&D".into()),
            title: Some("Engineer".into()),
            birthday: Some("1985-04-12".into()),
            anniversary: Some("--06-01".into()),
            notes: Some("line one\nline two".into()),
            urls: vec![TypedValue { value: "https://example.com/jane".into(), types: vec![], pref: false }],
            categories: vec!["Friends".into(), "Work".into()],
            photo: Some("data:image/png;base64,iVBORw0KGgo=".into()),
            kind: Some("individual".into()),
            members: vec![],
        };
        let text = card_from_fields("u-1", &fields, None, now()).unwrap();
        assert!(text.contains("VERSION:4.0\r\n"), "{text}");
        let card = madang_ical::parse_card(&text).unwrap();
        assert_eq!(card.uid(), "u-1");
        assert_eq!(fields_from_card(&card), fields, "{text}");
    }

    #[test]
    fn unknown_properties_and_apple_labels_survive_an_edit() {
        let stored = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:a\r\nFN:Old Name\r\nN:Name;Old;;;\r\n\
                      item1.EMAIL;TYPE=INTERNET:old@example.com\r\nitem1.X-ABLabel:_$!<Other>!$_\r\n\
                      item2.TEL:+1 555\r\nitem2.X-ABLabel:mobile-ish\r\n\
                      X-APPLE-OMIT-YEAR:1604\r\nX-SOCIALPROFILE;type=twitter:x.com/old\r\nEND:VCARD\r\n";
        let card = madang_ical::parse_card(stored).unwrap();
        let mut fields = fields_from_card(&card);
        assert_eq!(fields.emails[0].value, "old@example.com");
        assert!(fields.emails[0].types.is_empty());
        fields.full_name = Some("New Name".into());
        fields.phones.clear();
        let text = card_from_fields("a", &fields, Some(&card), now()).unwrap();
        assert!(text.contains("VERSION:3.0\r\n"), "{text}");
        assert!(text.contains("FN:New Name\r\n"), "{text}");
        assert!(text.contains("X-APPLE-OMIT-YEAR:1604"), "{text}");
        assert!(text.to_ascii_uppercase().contains("X-SOCIALPROFILE"), "{text}");
        assert!(text.contains("item1.EMAIL"), "{text}");
        assert!(text.contains("item1.X-ABLabel") || text.contains("item1.X-ABLABEL"), "{text}");
        // The phone was removed, so its orphaned label goes too.
        assert!(!text.contains("item2"), "{text}");
    }

    #[test]
    fn a_3_0_card_stays_3_0_with_its_photo_inline_and_apple_groups() {
        let stored = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:g\r\nFN:Family\r\n\
                      X-ADDRESSBOOKSERVER-KIND:group\r\nX-ADDRESSBOOKSERVER-MEMBER:urn:uuid:a\r\nEND:VCARD\r\n";
        let card = madang_ical::parse_card(stored).unwrap();
        let mut fields = fields_from_card(&card);
        assert_eq!((fields.kind.as_deref(), fields.members.clone()), (Some("group"), vec!["a".to_string()]));
        fields.members.push("b".into());
        // A one-pixel JPEG header is enough for the media type.
        fields.photo = Some("data:image/jpeg;base64,/9j/4AAQSkZJRg==".into());
        let text = card_from_fields("g", &fields, Some(&card), now()).unwrap();
        let flat = text.replace("\r\n ", "");
        assert!(flat.contains("VERSION:3.0\r\n"), "{flat}");
        assert!(flat.contains("X-ADDRESSBOOKSERVER-KIND:group"), "{flat}");
        assert!(flat.contains("X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:a"), "{flat}");
        assert!(flat.contains("X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:b"), "{flat}");
        assert!(!flat.contains("\r\nKIND:") && !flat.contains("\r\nMEMBER:"), "{flat}");
        let photo = flat.lines().find(|l| l.starts_with("PHOTO")).unwrap_or_default().to_ascii_uppercase();
        assert!(photo.contains("ENCODING=B") && photo.contains("TYPE=JPEG") && !photo.contains("DATA:"), "{flat}");
        let back = fields_from_card(&madang_ical::parse_card(&text).unwrap());
        assert_eq!(back.photo.as_deref(), Some("data:image/jpeg;base64,/9j/4AAQSkZJRg=="));
        assert_eq!(back.members, vec!["a".to_string(), "b".to_string()]);
    }

    #[test]
    fn bad_input_is_refused_with_the_field_name() {
        let bad = |f: ContactFields| card_from_fields("a", &f, None, now()).unwrap_err().0;
        let email = bad(ContactFields {
            emails: vec![TypedValue { value: "nope".into(), ..Default::default() }],
            ..Default::default()
        });
        assert!(email.contains("emails"), "{email}");
        let date = bad(ContactFields { birthday: Some("12/04/1985".into()), ..Default::default() });
        assert!(date.contains("birthday"), "{date}");
        let photo = bad(ContactFields { photo: Some("data:text/plain;base64,aGk=".into()), ..Default::default() });
        assert!(photo.contains("photo"), "{photo}");
        use base64::Engine;
        let big = base64::engine::general_purpose::STANDARD.encode(vec![0u8; MAX_PHOTO_BYTES + 1]);
        let big = bad(ContactFields { photo: Some(format!("data:image/jpeg;base64,{big}")), ..Default::default() });
        assert!(big.contains("larger than"), "{big}");
        let members = bad(ContactFields { members: vec!["x".into()], ..Default::default() });
        assert!(members.contains("members"), "{members}");
        let selfish =
            bad(ContactFields { kind: Some("group".into()), members: vec!["a".into()], ..Default::default() });
        assert!(selfish.contains("own member"), "{selfish}");
        let typ = bad(ContactFields {
            phones: vec![TypedValue { value: "123".into(), types: vec!["a;b".into()], pref: false }],
            ..Default::default()
        });
        assert!(typ.contains("type"), "{typ}");
    }
}
