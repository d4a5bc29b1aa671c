//! DAV request headers: `Depth`, `Overwrite`, `Destination` (RFC 4918 §10) and
//! the entity-tag lists of `If-Match`/`If-None-Match` (RFC 9110 §13.1).

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
}
