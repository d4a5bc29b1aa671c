//! Namespace-qualified XML names (`QName`) and the namespaces DAV clients speak.

use std::borrow::Cow;
use std::fmt;

/// `DAV:` (RFC 4918 §21).
pub const DAV: &str = "DAV:";
/// CalDAV (RFC 4791 §4).
pub const CALDAV: &str = "urn:ietf:params:xml:ns:caldav";
/// CardDAV (RFC 6352 §5).
pub const CARDDAV: &str = "urn:ietf:params:xml:ns:carddav";
/// Apple's CalendarServer extensions (`getctag`, proxies, `email-address-set`, …).
pub const CALENDARSERVER: &str = "http://calendarserver.org/ns/";
/// Apple iCal properties (`calendar-color`, `calendar-order`).
pub const APPLE_ICAL: &str = "http://apple.com/ns/ical/";
/// Madang's own elements, used only for human-readable error descriptions.
pub const MADANG: &str = "urn:x-madang:dav";
/// The namespace bound to the reserved `xml:` prefix (`xml:lang`), never declared.
pub const XML: &str = "http://www.w3.org/XML/1998/namespace";

/// The namespaces that every Madang multistatus and error body declares once on
/// its root element, with the fixed prefix each one gets. Anything else is
/// declared inline where it is used.
pub const FIXED_PREFIXES: [(&str, &str); 5] =
    [(DAV, "D"), (CALDAV, "C"), (CARDDAV, "CR"), (CALENDARSERVER, "CS"), (APPLE_ICAL, "ICAL")];

/// The fixed prefix of a well-known namespace, if it has one.
pub fn fixed_prefix(ns: &str) -> Option<&'static str> {
    FIXED_PREFIXES.iter().find(|(n, _)| *n == ns).map(|(_, p)| *p)
}

/// An expanded XML name: namespace URI plus local name. The prefix a client
/// happened to use is not part of the name (Namespaces in XML 1.0 §3), so two
/// `QName`s compare equal whatever prefixes their documents chose. An empty
/// `ns` means "no namespace".
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QName {
    pub ns: Cow<'static, str>,
    pub local: Cow<'static, str>,
}

impl QName {
    pub fn new(ns: impl Into<Cow<'static, str>>, local: impl Into<Cow<'static, str>>) -> QName {
        QName { ns: intern(ns.into()), local: local.into() }
    }

    pub const fn dav(local: &'static str) -> QName {
        QName { ns: Cow::Borrowed(DAV), local: Cow::Borrowed(local) }
    }

    pub const fn caldav(local: &'static str) -> QName {
        QName { ns: Cow::Borrowed(CALDAV), local: Cow::Borrowed(local) }
    }

    pub const fn carddav(local: &'static str) -> QName {
        QName { ns: Cow::Borrowed(CARDDAV), local: Cow::Borrowed(local) }
    }

    pub const fn calendarserver(local: &'static str) -> QName {
        QName { ns: Cow::Borrowed(CALENDARSERVER), local: Cow::Borrowed(local) }
    }

    pub const fn apple_ical(local: &'static str) -> QName {
        QName { ns: Cow::Borrowed(APPLE_ICAL), local: Cow::Borrowed(local) }
    }

    /// Whether this is `{ns}local`; cheaper to read than building a `QName`.
    pub fn is(&self, ns: &str, local: &str) -> bool {
        self.ns == ns && self.local == local
    }
}

/// Clark notation, `{DAV:}getetag`, which is also how logs and tests show names.
impl fmt::Display for QName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{{}}}{}", self.ns, self.local)
    }
}

impl fmt::Debug for QName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Well-known namespaces are borrowed from the constants instead of allocated:
/// a multiget with thousands of `DAV:href`s then allocates no namespace strings.
pub(crate) fn intern(ns: Cow<'static, str>) -> Cow<'static, str> {
    match &ns {
        Cow::Borrowed(_) => ns,
        Cow::Owned(s) => match [DAV, CALDAV, CARDDAV, CALENDARSERVER, APPLE_ICAL, XML].into_iter().find(|k| k == s) {
            Some(k) => Cow::Borrowed(k),
            None => ns,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equality_ignores_how_the_name_was_built() {
        assert_eq!(QName::new(String::from("DAV:"), String::from("getetag")), QName::dav("getetag"));
        assert_ne!(QName::dav("getetag"), QName::caldav("getetag"));
        assert_eq!(QName::caldav("calendar-data").to_string(), "{urn:ietf:params:xml:ns:caldav}calendar-data");
        assert!(QName::dav("href").is(DAV, "href"));
    }

    #[test]
    fn well_known_namespaces_are_interned() {
        let q = QName::new(String::from(CALDAV), "comp");
        assert!(matches!(q.ns, Cow::Borrowed(_)));
        assert_eq!(fixed_prefix(CARDDAV), Some("CR"));
        assert_eq!(fixed_prefix("urn:other"), None);
    }
}
