//! The `DAV:sync-collection` report (RFC 6578 §3.2, §6.1).

use super::PropRequest;
use crate::error::XmlError;
use crate::names::DAV;
use crate::xml::Element;

/// `DAV:sync-level` (RFC 6578 §6.3): members only, or the whole tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncLevel {
    One,
    Infinite,
}

/// ```text
/// <!ELEMENT sync-collection (sync-token, sync-level, limit?, prop)>
/// <!ELEMENT limit (nresults)>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncCollection {
    /// The token from the previous sync, as sent (trimmed). Empty means
    /// "initial sync": report every member (RFC 6578 §3.8). Validating it is
    /// the server's job (`DAV:valid-sync-token`).
    pub sync_token: String,
    pub level: SyncLevel,
    /// `DAV:limit/DAV:nresults`: the client wants at most this many responses.
    pub limit: Option<u32>,
    pub props: PropRequest,
}

impl SyncCollection {
    pub(crate) fn from_element(root: &Element) -> Result<SyncCollection, XmlError> {
        // A missing sync-token element is read as an empty one; some early
        // clients omitted it on the initial sync.
        let sync_token = root.child(DAV, "sync-token").map(|t| t.text().trim().to_owned()).unwrap_or_default();
        // RFC 6578 makes sync-level mandatory, but clients written against the
        // drafts (which used the Depth header instead) leave it out; those
        // drafts' default was Depth 1.
        let level = match root.child(DAV, "sync-level").map(|l| l.text()) {
            None => SyncLevel::One,
            Some(l) => match l.trim() {
                "1" => SyncLevel::One,
                "infinite" | "infinity" => SyncLevel::Infinite,
                other => return Err(XmlError::Invalid { what: "DAV:sync-level", value: other.to_owned() }),
            },
        };
        let limit = super::nresults(root.child(DAV, "limit"), DAV, "DAV:nresults")?;
        Ok(SyncCollection { sync_token, level, limit, props: PropRequest::from_parent(root)? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::QName;
    use crate::propfind::PropFind;
    use crate::report::Report;

    fn sync(body: &[u8]) -> SyncCollection {
        match Report::parse(body) {
            Ok(Report::SyncCollection(s)) => s,
            other => panic!("expected sync-collection, got {other:?}"),
        }
    }

    #[test]
    fn thunderbird_incremental_sync() {
        let s = sync(include_bytes!("../../testdata/requests/thunderbird-sync-collection.xml"));
        assert_eq!(s.sync_token, "https://madang.example/sync/42");
        assert_eq!(s.level, SyncLevel::One);
        assert_eq!(s.limit, None);
        assert_eq!(s.props.props, PropFind::Prop(vec![QName::dav("getcontenttype"), QName::dav("getetag")]));
    }

    #[test]
    fn davx5_initial_sync_has_empty_token() {
        let s = sync(include_bytes!("../../testdata/requests/davx5-sync-collection-initial.xml"));
        assert_eq!(s.sync_token, "");
        assert_eq!(s.level, SyncLevel::One);
        assert_eq!(s.props.props.names(), [QName::dav("getcontenttype"), QName::dav("getetag")]);
    }

    #[test]
    fn ios_address_book_sync() {
        let s = sync(include_bytes!("../../testdata/requests/ios-sync-collection-addressbook.xml"));
        assert_eq!(s.sync_token, "https://madang.example/sync/addressbook/118");
        assert_eq!(s.level, SyncLevel::One);
        assert_eq!(s.limit, None);
        assert_eq!(s.props.props, PropFind::Prop(vec![QName::dav("getetag")]));
        // iOS fetches the cards afterwards with addressbook-multiget.
        assert_eq!(s.props.address_data, None);
    }

    #[test]
    fn limit_and_infinite_level() {
        let body =
            br#"<D:sync-collection xmlns:D="DAV:"><D:sync-token>t</D:sync-token><D:sync-level>infinite</D:sync-level>
            <D:limit><D:nresults> 100 </D:nresults></D:limit><D:prop><D:getetag/></D:prop></D:sync-collection>"#;
        let s = sync(body);
        assert_eq!(s.level, SyncLevel::Infinite);
        assert_eq!(s.limit, Some(100));
        let bad =
            br#"<D:sync-collection xmlns:D="DAV:"><D:sync-token/><D:sync-level>2</D:sync-level></D:sync-collection>"#;
        assert!(matches!(Report::parse(bad), Err(XmlError::Invalid { what: "DAV:sync-level", .. })));
        let bad = br#"<D:sync-collection xmlns:D="DAV:"><D:sync-token/><D:limit><D:nresults>-1</D:nresults></D:limit></D:sync-collection>"#;
        assert!(matches!(Report::parse(bad), Err(XmlError::Invalid { what: "DAV:nresults", .. })));
    }
}
