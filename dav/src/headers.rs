//! DAV request headers: `Depth`, `Overwrite`, `Destination` (RFC 4918 §10),
//! the entity-tag lists of `If-Match`/`If-None-Match` (RFC 9110 §13.1), and
//! the vCard version a GET asks for with `Accept` (RFC 6352 §5.1.1).

use crate::precondition::Precondition;

/// A header value Madang cannot read; the server answers 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("invalid Depth header {0:?}")]
    Depth(String),
    #[error("invalid Overwrite header {0:?}")]
    Overwrite(String),
    #[error("invalid entity-tag list {0:?}")]
    ETag(String),
    #[error("invalid Destination header {0:?}")]
    Destination(String),
    #[error("invalid percent-encoding in {0:?}")]
    PercentEncoding(String),
    #[error("invalid Accept header {0:?}")]
    Accept(String),
    /// `Accept` rules out every vCard version Madang can produce (RFC 6352
    /// §5.1.1.1); answered with `CARDDAV:supported-address-data-conversion`.
    #[error("no acceptable vCard version in Accept header {0:?}")]
    NotAcceptable(String),
}

impl HeaderError {
    /// The precondition to put in the `DAV:error` body, for errors that have one.
    pub fn precondition(&self) -> Option<Precondition> {
        match self {
            HeaderError::NotAcceptable(_) => Some(Precondition::SupportedAddressDataConversion),
            _ => None,
        }
    }

    /// The precondition's status when there is one, otherwise 400.
    pub fn status(&self) -> u16 {
        self.precondition().map_or(400, |p| p.status())
    }
}

/// `Depth` (RFC 4918 §10.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    Zero,
    One,
    Infinity,
}

impl Depth {
    /// Parses the header, or returns `default` when it is absent: each method
    /// has its own default (PROPFIND infinity, §9.1; REPORT 0, RFC 3253 §3.6).
    pub fn parse(value: Option<&str>, default: Depth) -> Result<Depth, HeaderError> {
        let Some(v) = value else { return Ok(default) };
        match v.trim() {
            "0" => Ok(Depth::Zero),
            "1" => Ok(Depth::One),
            t if t.eq_ignore_ascii_case("infinity") => Ok(Depth::Infinity),
            _ => Err(HeaderError::Depth(v.to_owned())),
        }
    }
}

/// `Overwrite` (RFC 4918 §10.6): `T` or `F`; absent means `T`.
pub fn parse_overwrite(value: Option<&str>) -> Result<bool, HeaderError> {
    match value.map(str::trim) {
        None => Ok(true),
        Some("T" | "t") => Ok(true),
        Some("F" | "f") => Ok(false),
        Some(v) => Err(HeaderError::Overwrite(v.to_owned())),
    }
}

/// An entity-tag (RFC 9110 §8.8.3): the opaque tag without quotes, plus weakness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityTag {
    pub weak: bool,
    pub tag: String,
}

impl EntityTag {
    /// Reads one entity-tag, `"abc"` or `W/"abc"`. A bare `abc` is accepted
    /// as strong: some clients echo the ETag without its quotes.
    pub fn parse(value: &str) -> Option<EntityTag> {
        let v = value.trim();
        let (weak, rest) = match v.strip_prefix("W/") {
            Some(rest) => (true, rest),
            None => (false, v),
        };
        let tag = match rest.strip_prefix('"') {
            Some(inner) => inner.strip_suffix('"')?,
            None if !weak && !rest.is_empty() => rest,
            None => return None,
        };
        if tag.contains('"') {
            return None;
        }
        Some(EntityTag { weak, tag: tag.to_owned() })
    }

    /// Strong comparison (RFC 9110 §8.8.3.2): both strong and identical.
    pub fn strong_eq(&self, other: &EntityTag) -> bool {
        !self.weak && !other.weak && self.tag == other.tag
    }

    /// Weak comparison: identical tags, weakness ignored.
    pub fn weak_eq(&self, other: &EntityTag) -> bool {
        self.tag == other.tag
    }
}

/// The value of `If-Match` or `If-None-Match` (RFC 9110 §13.1.1, §13.1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ETagList {
    /// `*`: any current representation.
    Any,
    Tags(Vec<EntityTag>),
}

impl ETagList {
    /// Parses a comma-separated list. Commas inside quoted tags are respected.
    pub fn parse(value: &str) -> Result<ETagList, HeaderError> {
        let err = || HeaderError::ETag(value.to_owned());
        if value.trim() == "*" {
            return Ok(ETagList::Any);
        }
        let mut tags = Vec::new();
        let mut in_quotes = false;
        let mut start = 0;
        for (i, c) in value.char_indices() {
            match c {
                '"' => in_quotes = !in_quotes,
                ',' if !in_quotes => {
                    push_tag(&mut tags, &value[start..i]).ok_or_else(err)?;
                    start = i + 1;
                }
                _ => {}
            }
        }
        if in_quotes {
            return Err(err());
        }
        push_tag(&mut tags, &value[start..]).ok_or_else(err)?;
        if tags.is_empty() {
            return Err(err());
        }
        Ok(ETagList::Tags(tags))
    }

    /// `If-Match` semantics (RFC 9110 §13.1.1): strong comparison against the
    /// current ETag; `None` means the resource does not exist, which fails
    /// even `*`.
    pub fn matches_strong(&self, current: Option<&str>) -> bool {
        let Some(current) = current.and_then(EntityTag::parse) else { return false };
        match self {
            ETagList::Any => true,
            ETagList::Tags(tags) => tags.iter().any(|t| t.strong_eq(&current)),
        }
    }

    /// `If-None-Match` semantics (RFC 9110 §13.1.2): weak comparison; the
    /// condition *fails* when this returns true.
    pub fn matches_weak(&self, current: Option<&str>) -> bool {
        let Some(current) = current.and_then(EntityTag::parse) else { return false };
        match self {
            ETagList::Any => true,
            ETagList::Tags(tags) => tags.iter().any(|t| t.weak_eq(&current)),
        }
    }
}

/// The `If-Match` / `If-None-Match` pair of a write, evaluated against the
/// current ETag (`None` when the resource does not exist) in RFC 9110
/// §13.2.2's order. Shared by DAV and the JSON API, so both doors agree.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WriteConditions {
    pub if_match: Option<ETagList>,
    pub if_none_match: Option<ETagList>,
}

impl WriteConditions {
    pub fn parse(if_match: Option<&str>, if_none_match: Option<&str>) -> Result<WriteConditions, HeaderError> {
        Ok(WriteConditions {
            if_match: if_match.map(ETagList::parse).transpose()?,
            if_none_match: if_none_match.map(ETagList::parse).transpose()?,
        })
    }

    /// Whether the write may go ahead given the current ETag.
    pub fn allow(&self, current: Option<&str>) -> bool {
        if let Some(m) = &self.if_match
            && !m.matches_strong(current)
        {
            return false;
        }
        if let Some(m) = &self.if_none_match
            && m.matches_weak(current)
        {
            return false;
        }
        true
    }
}

/// Empty list elements are allowed and skipped (RFC 9110 §5.6.1).
fn push_tag(tags: &mut Vec<EntityTag>, item: &str) -> Option<()> {
    if item.trim().is_empty() {
        return Some(());
    }
    tags.push(EntityTag::parse(item)?);
    Some(())
}

/// `Destination` (RFC 4918 §10.3): an absolute URI or an absolute path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// The authority (`host[:port]`) when the client sent an absolute URI, so
    /// the server can refuse cross-server copies with 502 (RFC 4918 §9.8.5).
    pub authority: Option<String>,
    /// The path, still percent-encoded, without query or fragment.
    pub path: String,
}

impl Destination {
    pub fn parse(value: &str) -> Result<Destination, HeaderError> {
        let err = || HeaderError::Destination(value.to_owned());
        let v = value.trim();
        let (authority, rest) = if v.starts_with('/') {
            (None, v)
        } else {
            let (scheme, rest) = v.split_once("://").ok_or_else(err)?;
            if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
                return Err(err());
            }
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let (authority, path) = rest.split_at(end);
            if authority.is_empty() {
                return Err(err());
            }
            (Some(authority.to_owned()), path)
        };
        let end = rest.find(['?', '#']).unwrap_or(rest.len());
        let path = if rest[..end].is_empty() { "/" } else { &rest[..end] };
        if !path.starts_with('/') || path.contains(char::is_whitespace) {
            return Err(err());
        }
        Ok(Destination { authority, path: path.to_owned() })
    }
}

/// A vCard version Madang can produce (`text/vcard; version=…`, RFC 6350 §10.1,
/// RFC 2426 for 3.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VCardWanted {
    /// vCard 3.0 (RFC 2426), CardDAV's default (RFC 6352 §10.4).
    V3,
    /// vCard 4.0 (RFC 6350).
    V4,
}

impl VCardWanted {
    /// The `version` parameter value: `3.0` or `4.0`.
    pub fn version(self) -> &'static str {
        match self {
            VCardWanted::V3 => "3.0",
            VCardWanted::V4 => "4.0",
        }
    }

    /// Reads a `version` parameter or attribute value (`3.0`, `4.0`, also
    /// quoted); anything else is a version Madang cannot produce.
    pub fn from_version(value: &str) -> Option<VCardWanted> {
        match value.trim().trim_matches('"').trim() {
            "3.0" => Some(VCardWanted::V3),
            "4.0" => Some(VCardWanted::V4),
            _ => None,
        }
    }
}

/// The vCard version a GET of an address object asks for with `Accept`
/// (RFC 6352 §5.1.1, RFC 9110 §12.5.1).
///
/// Each version Madang can produce (`text/vcard; version=3.0` and `4.0`) gets
/// the q-value of the most specific media range that matches it: a range with
/// a `version` parameter beats `text/vcard` (or the legacy `text/x-vcard`),
/// which beats `text/*`, which beats `*/*`. The version with the higher
/// q-value wins. `Ok(None)` means "either will do": no header, an empty one,
/// or both versions equally acceptable (`*/*`, plain `text/vcard`), and the
/// server sends the card as stored (or its own default). A header under which
/// neither version is acceptable is [`HeaderError::NotAcceptable`]; a media
/// range without a `/` or a q-value outside 0–1 is [`HeaderError::Accept`].
pub fn vcard_version_from_accept(accept: Option<&str>) -> Result<Option<VCardWanted>, HeaderError> {
    let Some(value) = accept else { return Ok(None) };
    if value.trim().is_empty() {
        return Ok(None);
    }
    let err = || HeaderError::Accept(value.to_owned());
    // Best (specificity, q) seen so far for 3.0 and for 4.0; specificity 0 = no match yet.
    let mut v3: (u8, u16) = (0, 0);
    let mut v4: (u8, u16) = (0, 0);
    for range in value.split(',') {
        if range.trim().is_empty() {
            continue; // RFC 9110 §5.6.1: empty list elements are allowed.
        }
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or_default().trim();
        let (kind, sub) = media.split_once('/').ok_or_else(err)?;
        let (kind, sub) = (kind.trim(), sub.trim());
        if kind.is_empty() || sub.is_empty() {
            return Err(err());
        }
        let mut q = 1000u16;
        let mut version: Option<&str> = None;
        for param in parts {
            let Some((name, v)) = param.split_once('=') else {
                if param.trim().is_empty() {
                    continue;
                }
                return Err(err());
            };
            let name = name.trim();
            if name.eq_ignore_ascii_case("q") {
                q = parse_qvalue(v).ok_or_else(err)?;
            } else if name.eq_ignore_ascii_case("version") {
                version = Some(v);
            }
        }
        let vcard = kind.eq_ignore_ascii_case("text")
            && (sub.eq_ignore_ascii_case("vcard") || sub.eq_ignore_ascii_case("x-vcard"));
        let specificity = if vcard {
            if version.is_some() { 4 } else { 3 }
        } else if kind.eq_ignore_ascii_case("text") && sub == "*" {
            2
        } else if kind == "*" && sub == "*" {
            1
        } else {
            continue;
        };
        let applies_to = |v: VCardWanted| match version {
            Some(wanted) if specificity == 4 => VCardWanted::from_version(wanted) == Some(v),
            _ => true,
        };
        for (v, best) in [(VCardWanted::V3, &mut v3), (VCardWanted::V4, &mut v4)] {
            // Among equally specific ranges the first one counts, as in RFC 9110's examples.
            if applies_to(v) && specificity > best.0 {
                *best = (specificity, q);
            }
        }
    }
    let (q3, q4) = (v3.1, v4.1);
    match (q3, q4) {
        (0, 0) => Err(HeaderError::NotAcceptable(value.to_owned())),
        _ if q3 == q4 => Ok(None),
        _ if q4 > q3 => Ok(Some(VCardWanted::V4)),
        _ => Ok(Some(VCardWanted::V3)),
    }
}

/// A qvalue (RFC 9110 §12.4.2) in thousandths: `0`–`1` with up to three decimals.
fn parse_qvalue(value: &str) -> Option<u16> {
    let v = value.trim();
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths: u16 = frac.bytes().fold(0, |acc, b| acc * 10 + u16::from(b - b'0'));
    for _ in frac.len()..3 {
        thousandths *= 10;
    }
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod write_conditions_tests {
    use super::*;

    #[test]
    fn if_match_then_if_none_match() {
        let none = WriteConditions::default();
        assert!(none.allow(None) && none.allow(Some("\"a\"")));
        let create_only = WriteConditions::parse(None, Some("*")).unwrap();
        assert!(create_only.allow(None));
        assert!(!create_only.allow(Some("\"a\"")));
        let update = WriteConditions::parse(Some("\"a\""), None).unwrap();
        assert!(update.allow(Some("\"a\"")));
        assert!(!update.allow(Some("\"b\"")));
        assert!(!update.allow(None), "If-Match fails on a missing resource, even with *");
        assert!(WriteConditions::parse(Some("\"unterminated"), None).is_err());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth() {
        assert_eq!(Depth::parse(None, Depth::Infinity), Ok(Depth::Infinity));
        assert_eq!(Depth::parse(Some("0"), Depth::Infinity), Ok(Depth::Zero));
        assert_eq!(Depth::parse(Some(" 1 "), Depth::Zero), Ok(Depth::One));
        assert_eq!(Depth::parse(Some("Infinity"), Depth::Zero), Ok(Depth::Infinity));
        assert!(Depth::parse(Some("2"), Depth::Zero).is_err());
        assert!(Depth::parse(Some(""), Depth::Zero).is_err());
    }

    #[test]
    fn overwrite() {
        assert_eq!(parse_overwrite(None), Ok(true));
        assert_eq!(parse_overwrite(Some("F")), Ok(false));
        assert_eq!(parse_overwrite(Some("T")), Ok(true));
        assert!(parse_overwrite(Some("yes")).is_err());
    }

    #[test]
    fn etag_lists() {
        assert_eq!(ETagList::parse("*"), Ok(ETagList::Any));
        let list = ETagList::parse(r#""a", W/"b" , "c,d""#).unwrap();
        assert_eq!(
            list,
            ETagList::Tags(vec![
                EntityTag { weak: false, tag: "a".into() },
                EntityTag { weak: true, tag: "b".into() },
                EntityTag { weak: false, tag: "c,d".into() },
            ])
        );
        assert!(list.matches_strong(Some(r#""a""#)));
        assert!(!list.matches_strong(Some(r#""b""#)), "weak tags never match strongly");
        assert!(list.matches_weak(Some(r#""b""#)));
        assert!(list.matches_strong(Some(r#""c,d""#)));
        assert!(!list.matches_strong(None));
        assert!(ETagList::Any.matches_strong(Some(r#""x""#)));
        assert!(!ETagList::Any.matches_strong(None));
        assert!(ETagList::parse(r#""a"#).is_err());
        assert!(ETagList::parse("").is_err());
        assert!(ETagList::parse(r#"W/x"#).is_err());
        assert_eq!(EntityTag::parse("abc"), Some(EntityTag { weak: false, tag: "abc".into() }));
    }

    #[test]
    fn destination() {
        let d = Destination::parse("https://dav.example.com:8443/dav/calendars/alice/new%20cal/?x=1").unwrap();
        assert_eq!(d.authority.as_deref(), Some("dav.example.com:8443"));
        assert_eq!(d.path, "/dav/calendars/alice/new%20cal/");
        assert_eq!(
            Destination::parse("/dav/a.ics").unwrap(),
            Destination { authority: None, path: "/dav/a.ics".into() }
        );
        assert_eq!(Destination::parse("http://h").unwrap().path, "/");
        for bad in ["", "dav/a.ics", "ftp://h/a", "http:///a", "/a b"] {
            assert!(Destination::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn accept_picks_a_vcard_version() {
        use VCardWanted::{V3, V4};
        let cases: &[(Option<&str>, Option<VCardWanted>)] = &[
            (None, None),
            (Some(""), None),
            (Some("*/*"), None),
            (Some("text/vcard"), None),
            (Some("text/*"), None),
            (Some("text/vcard; version=4.0"), Some(V4)),
            (Some("text/vcard;version=3.0"), Some(V3)),
            (Some(r#"text/vcard; version="4.0"; charset=utf-8"#), Some(V4)),
            (Some("TEXT/VCARD; VERSION=4.0"), Some(V4)),
            (Some("text/x-vcard; version=3.0"), Some(V3)),
            (Some("text/vcard; version=3.0, text/vcard; version=4.0"), None),
            (Some("text/vcard; version=3.0; q=0.5, text/vcard; version=4.0"), Some(V4)),
            (Some("text/vcard; version=4.0; q=0.8, text/vcard; version=3.0"), Some(V3)),
            // The more specific range decides, whatever the order.
            (Some("text/vcard; version=3.0; q=0.2, text/vcard"), Some(V4)),
            (Some("*/*; q=0.1, text/vcard; version=4.0"), Some(V4)),
            (Some("text/vcard; version=4.0; q=0, */*"), Some(V3)),
            (Some("text/vcard; version=2.1, text/vcard; q=0.5"), None),
            (Some("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"), None),
            (Some("text/vcard; version=4.0, , "), Some(V4)),
        ];
        for (accept, wanted) in cases {
            assert_eq!(vcard_version_from_accept(*accept), Ok(*wanted), "{accept:?}");
        }
    }

    #[test]
    fn accept_without_a_producible_version() {
        for accept in [
            "application/vcard+json",
            "text/vcard; version=2.1",
            "text/vcard; q=0",
            "text/html, application/json",
            "text/vcard; version=4.0; q=0, text/vcard; version=3.0; q=0.000",
        ] {
            let err = vcard_version_from_accept(Some(accept)).unwrap_err();
            assert_eq!(err, HeaderError::NotAcceptable(accept.to_owned()));
            assert_eq!(err.precondition(), Some(Precondition::SupportedAddressDataConversion));
        }
        for accept in
            ["vcard", "text/", "/vcard", "text/vcard; q=2", "text/vcard; q=0.5x", "text/vcard; q", "text/vcard; q=1.5"]
        {
            let err = vcard_version_from_accept(Some(accept)).unwrap_err();
            assert_eq!(err, HeaderError::Accept(accept.to_owned()), "{accept}");
            assert_eq!(err.status(), 400);
        }
        assert_eq!(parse_qvalue("0.125"), Some(125));
        assert_eq!(parse_qvalue("1.000"), Some(1000));
        assert_eq!(parse_qvalue("1."), Some(1000));
        assert_eq!(parse_qvalue("0.1234"), None);
    }
}
