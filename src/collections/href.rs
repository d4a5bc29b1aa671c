//! The URLs both doors hand out for collections and their members: the CalDAV/CardDAV hrefs that the DAV door serves and the JSON API reports as `dav_url`.
//!
//! Parsing a request path back into a resource is the DAV door's business (`dav::path::Target`);
//! building the hrefs is shared, so the two doors can never disagree about where an object lives.

use madang_dav::href::encode_segment;

use crate::store::dav::CollectionKind;

/// The DAV context path.
pub const ROOT: &str = "/dav/";

pub fn collection_href(kind: CollectionKind, user: &str, slug: &str) -> String {
    match kind {
        CollectionKind::Calendar => calendar_href(user, slug),
        CollectionKind::AddressBook => addressbook_href(user, slug),
    }
}

pub fn member_href(kind: CollectionKind, user: &str, slug: &str, name: &str) -> String {
    match kind {
        CollectionKind::Calendar => object_href(user, slug, name),
        CollectionKind::AddressBook => card_href(user, slug, name),
    }
}

pub fn principals_href() -> String {
    format!("{ROOT}principals/")
}

pub fn principal_href(user: &str) -> String {
    format!("{ROOT}principals/{}/", encode_segment(user))
}

pub fn calendar_home_href(user: &str) -> String {
    format!("{ROOT}calendars/{}/", encode_segment(user))
}

pub fn addressbook_home_href(user: &str) -> String {
    format!("{ROOT}addressbooks/{}/", encode_segment(user))
}

pub fn addressbook_href(user: &str, book: &str) -> String {
    format!("{ROOT}addressbooks/{}/{}/", encode_segment(user), encode_segment(book))
}

pub fn card_href(user: &str, book: &str, name: &str) -> String {
    format!("{ROOT}addressbooks/{}/{}/{}", encode_segment(user), encode_segment(book), encode_segment(name))
}

pub fn calendar_href(user: &str, calendar: &str) -> String {
    format!("{ROOT}calendars/{}/{}/", encode_segment(user), encode_segment(calendar))
}

pub fn object_href(user: &str, calendar: &str, name: &str) -> String {
    format!("{ROOT}calendars/{}/{}/{}", encode_segment(user), encode_segment(calendar), encode_segment(name))
}
