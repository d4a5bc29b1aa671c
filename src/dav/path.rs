//! The DAV URL space: which resource a request path names, and the hrefs Madang hands out.
//!
//! ```text
//! /dav/                                   root (also answered on `/`)
//! /dav/principals/                        principal collection
//! /dav/principals/<user>/                 a principal (RFC 3744 §2, RFC 5397)
//! /dav/calendars/<user>/                  calendar home (RFC 4791 §6.2.1)
//! /dav/calendars/<user>/<calendar>/       a calendar collection
//! /dav/calendars/<user>/<calendar>/<obj>  a calendar object resource
//! /dav/addressbooks/<user>/               address-book home (RFC 6352 §7.1.1)
//! /dav/addressbooks/<user>/<book>/        an address book collection
//! /dav/addressbooks/<user>/<book>/<card>  an address object resource (one vCard)
//! ```

use madang_dav::href::decode;

// The hrefs live with the collections, which both doors hand out; the DAV door keeps parsing.
pub use crate::collections::href::*;
use crate::store::dav::CollectionKind;

/// The resource a path names, before it is looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Root,
    Principals,
    Principal(String),
    CalendarHome(String),
    Calendar(String, String),
    CalendarObject(String, String, String),
    AddressbookHome(String),
    Addressbook(String, String),
    AddressObject(String, String, String),
}

impl Target {
    /// Resolves a request path (still percent-encoded). `None` for paths
    /// outside the DAV space or with unusable segments.
    pub fn parse(path: &str) -> Option<Target> {
        let rest = if path == "/" || path.is_empty() {
            ""
        } else {
            path.strip_prefix("/dav").filter(|r| r.is_empty() || r.starts_with('/'))?
        };
        let mut segments = Vec::new();
        for raw in rest.split('/').filter(|s| !s.is_empty()) {
            let segment = decode(raw).ok()?;
            // A decoded `/` or a dot segment would name something else than
            // what the client wrote; refuse rather than guess.
            if segment.contains('/') || segment == "." || segment == ".." || segment.chars().any(char::is_control) {
                return None;
            }
            segments.push(segment);
        }
        let mut s = segments.into_iter();
        let target = match (s.next(), s.next(), s.next(), s.next(), s.next()) {
            (None, ..) => Target::Root,
            (Some(p), None, ..) if p == "principals" => Target::Principals,
            (Some(p), Some(u), None, ..) if p == "principals" => Target::Principal(u),
            (Some(c), Some(u), None, ..) if c == "calendars" => Target::CalendarHome(u),
            (Some(c), Some(u), Some(cal), None, ..) if c == "calendars" => Target::Calendar(u, cal),
            (Some(c), Some(u), Some(cal), Some(obj), None) if c == "calendars" => Target::CalendarObject(u, cal, obj),
            (Some(a), Some(u), None, ..) if a == "addressbooks" => Target::AddressbookHome(u),
            (Some(a), Some(u), Some(book), None, ..) if a == "addressbooks" => Target::Addressbook(u, book),
            (Some(a), Some(u), Some(book), Some(card), None) if a == "addressbooks" => {
                Target::AddressObject(u, book, card)
            }
            _ => return None,
        };
        Some(target)
    }

    /// The user whose space this is, if any.
    pub fn owner(&self) -> Option<&str> {
        match self {
            Target::Root | Target::Principals => None,
            Target::Principal(u)
            | Target::CalendarHome(u)
            | Target::Calendar(u, _)
            | Target::CalendarObject(u, _, _)
            | Target::AddressbookHome(u)
            | Target::Addressbook(u, _)
            | Target::AddressObject(u, _, _) => Some(u),
        }
    }
}

impl Target {
    /// The collection a target names: its kind and name.
    pub fn collection(&self) -> Option<(CollectionKind, &str)> {
        match self {
            Target::Calendar(_, slug) => Some((CollectionKind::Calendar, slug)),
            Target::Addressbook(_, slug) => Some((CollectionKind::AddressBook, slug)),
            _ => None,
        }
    }

    /// The member a target names: its collection's kind and name, and its own name.
    pub fn member(&self) -> Option<(CollectionKind, &str, &str)> {
        match self {
            Target::CalendarObject(_, slug, name) => Some((CollectionKind::Calendar, slug, name)),
            Target::AddressObject(_, slug, name) => Some((CollectionKind::AddressBook, slug, name)),
            _ => None,
        }
    }
}

/// Whether a member or collection name may be created: printable, not a
/// dot segment, bounded. Clients pick names (usually UUIDs plus `.ics`).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && name != "."
        && name != ".."
        && !name.contains('/')
        && !name.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_the_url_space() {
        assert_eq!(Target::parse("/"), Some(Target::Root));
        assert_eq!(Target::parse("/dav"), Some(Target::Root));
        assert_eq!(Target::parse("/dav/"), Some(Target::Root));
        assert_eq!(Target::parse("/dav/principals/"), Some(Target::Principals));
        assert_eq!(Target::parse("/dav/principals/alice"), Some(Target::Principal("alice".into())));
        assert_eq!(Target::parse("/dav/calendars/alice/"), Some(Target::CalendarHome("alice".into())));
        assert_eq!(
            Target::parse("/dav/calendars/alice/work%20stuff/"),
            Some(Target::Calendar("alice".into(), "work stuff".into()))
        );
        assert_eq!(
            Target::parse("/dav/calendars/alice//work/a%40b.ics"),
            Some(Target::CalendarObject("alice".into(), "work".into(), "a@b.ics".into()))
        );
        assert_eq!(Target::parse("/dav/addressbooks/alice/"), Some(Target::AddressbookHome("alice".into())));
        assert_eq!(
            Target::parse("/dav/addressbooks/alice/default/"),
            Some(Target::Addressbook("alice".into(), "default".into()))
        );
        assert_eq!(
            Target::parse("/dav/addressbooks/alice/default/c%201.vcf"),
            Some(Target::AddressObject("alice".into(), "default".into(), "c 1.vcf".into()))
        );
    }

    #[test]
    fn refuses_what_it_cannot_name() {
        for path in [
            "/davx/",
            "/dav/calendars/",
            "/dav/other/",
            "/dav/calendars/alice/a/b/c",
            "/dav/addressbooks/alice/a/b/c",
            "/dav/calendars/alice/%2E%2E/",
            "/dav/calendars/alice/a%2Fb/",
            "/dav/calendars/alice/%ZZ/",
            "/dav/calendars/alice/%00/",
        ] {
            assert_eq!(Target::parse(path), None, "{path}");
        }
    }

    #[test]
    fn hrefs_round_trip() {
        let href = object_href("alice", "work stuff", "a b+c.ics");
        assert_eq!(href, "/dav/calendars/alice/work%20stuff/a%20b%2Bc.ics");
        assert_eq!(
            Target::parse(&href),
            Some(Target::CalendarObject("alice".into(), "work stuff".into(), "a b+c.ics".into()))
        );
    }
}
