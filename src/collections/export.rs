//! A whole calendar or address book as one document, shared by the three doors that serve one:
//! `GET` of the collection over DAV, a published feed (`/feeds/<token>.ics`) and the JSON API's
//! export.
//!
//! The document is built from the stored objects by `madang_ical::export`; this module adds what
//! needs the store and the configuration: the limits (`dav.max_export_items`,
//! `dav.max_export_size`, checked from the collection's counts before any object is read), the
//! validator (the collection's sync token: every member write and property change moves it, so
//! a conditional GET is answered without reading a member), and a file name.

use chrono::{DateTime, Utc};
use madang_ical::export::{CalendarHeader, concat_cards, merge_calendar};

use super::{Collections, VCARD, sync_token};
use crate::config::DavConfig;
use crate::store::dav::{Collection, CollectionKind};
use crate::store::{Store, StoreError};

/// Documents built at once per process (see `Collections::exports`).
pub const CONCURRENT_EXPORTS: usize = 2;

/// `PRODID` of every document Madang writes (RFC 5545 §3.7.3).
pub const PRODID: &str = "-//Madang//Madang Calendar//EN";

/// A collection as one document.
#[derive(Debug)]
pub struct Document {
    pub body: String,
    pub content_type: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Over `dav.max_export_items` or `dav.max_export_size`; the message says which.
    #[error("{0}")]
    TooLarge(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The strong validator of a collection's document: its sync token, which every change of a
/// member or of the collection's properties moves. The same value `If-Match` on a collection's
/// DELETE compares with.
pub fn etag(c: &Collection) -> String {
    format!("\"{}\"", sync_token(c))
}

/// When the collection or one of its members last changed.
pub fn modified(c: &Collection) -> DateTime<Utc> {
    c.updated_at
}

/// How the document is presented: a feed also tells subscribers how often to come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Download,
    Feed,
}

/// Reads and merges the collection, or says why it is too large to serve as one document.
pub async fn document(
    store: &Store,
    collections: &Collections,
    c: &Collection,
    purpose: Purpose,
) -> Result<Document, ExportError> {
    let config = &collections.config;
    let (items, bytes) = store.collection_extent(c.id).await?;
    check_limits(config, c.kind, items, bytes)?;
    // The semaphore is never closed.
    let _place = collections.exports.acquire().await.map_err(|e| StoreError::Internal(e.to_string()))?;
    match c.kind {
        CollectionKind::AddressBook => {
            let cards = store.objects_overlapping(c.id, Some(VCARD), None, None).await?;
            check_limits(config, c.kind, cards.len() as u64, cards.iter().map(|o| o.size.max(0) as u64).sum())?;
            let body = concat_cards(cards.iter().map(|o| o.data.as_str()));
            Ok(Document { body, content_type: "text/vcard; charset=utf-8" })
        }
        CollectionKind::Calendar => {
            let objects = store.objects_overlapping(c.id, None, None, None).await?;
            // Members written between the count and the read are held to the same bounds.
            check_limits(config, c.kind, objects.len() as u64, objects.iter().map(|o| o.size.max(0) as u64).sum())?;
            let timezone = c
                .props
                .timezone
                .as_deref()
                .and_then(|t| madang_ical::timezone_from_vcalendar(t).ok())
                .map(|tz| tz.name().to_string());
            let name = c.props.display_name.clone();
            let description = c.props.description.clone();
            let refresh_interval = (purpose == Purpose::Feed).then_some(config.feed_refresh_interval);
            // Merging is linear but a large calendar takes milliseconds of CPU: off the async workers.
            let body = tokio::task::spawn_blocking(move || {
                let header = CalendarHeader {
                    prodid: PRODID,
                    name: name.as_deref(),
                    description: description.as_deref(),
                    timezone: timezone.as_deref(),
                    refresh_interval,
                };
                merge_calendar(objects.iter().map(|o| o.data.as_str()), &header)
            });
            let body = body.await.map_err(|e| StoreError::Internal(format!("export task: {e}")))?;
            Ok(Document { body, content_type: "text/calendar; charset=utf-8" })
        }
    }
}

fn check_limits(config: &DavConfig, kind: CollectionKind, items: u64, bytes: u64) -> Result<(), ExportError> {
    let what = match kind {
        CollectionKind::Calendar => "calendar",
        CollectionKind::AddressBook => "address book",
    };
    if items > config.max_export_items as u64 {
        return Err(ExportError::TooLarge(format!(
            "the {what} has {items} items, more than can be served as one document (dav.max_export_items = {}); \
             sync it item by item instead",
            config.max_export_items
        )));
    }
    if bytes > config.max_export_size as u64 {
        return Err(ExportError::TooLarge(format!(
            "the {what} holds {bytes} bytes, more than can be served as one document (dav.max_export_size = {}); \
             sync it item by item instead",
            config.max_export_size
        )));
    }
    Ok(())
}

/// The `Content-Disposition` of a document: the display name made safe for a file name, else
/// the slug, with the extension of its type (RFC 6266 §4.3: an ASCII `filename` and the exact
/// name in `filename*`).
pub fn content_disposition(c: &Collection) -> String {
    let extension = match c.kind {
        CollectionKind::Calendar => "ics",
        CollectionKind::AddressBook => "vcf",
    };
    let name = c
        .props
        .display_name
        .as_deref()
        .map(|n| n.chars().filter(|ch| !ch.is_control() && !"/\\\"".contains(*ch)).collect::<String>())
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| c.slug.clone());
    let ascii: String =
        name.chars().map(|ch| if ch.is_ascii_alphanumeric() || " ._-".contains(ch) { ch } else { '_' }).collect();
    let ascii = if ascii.trim_matches(['_', ' ', '.']).is_empty() { "calendar".to_string() } else { ascii };
    let mut exact = String::new();
    for b in format!("{name}.{extension}").bytes() {
        if b.is_ascii_alphanumeric() || b"._-".contains(&b) {
            exact.push(b as char);
        } else {
            exact.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}.{extension}\"; filename*=UTF-8''{exact}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UserId;
    use crate::store::dav::{CollectionId, CollectionProps};

    fn collection(kind: CollectionKind, slug: &str, name: Option<&str>) -> Collection {
        Collection {
            id: CollectionId(7),
            owner: Some(UserId(1)),
            kind,
            slug: slug.into(),
            props: CollectionProps { display_name: name.map(Into::into), ..Default::default() },
            revision: 12,
            pruned_revision: 0,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            derived: None,
            source_tag: None,
        }
    }

    #[test]
    fn file_names_are_safe_and_exact() {
        let c = collection(CollectionKind::Calendar, "default", Some("Team \"plans\"/2025"));
        assert_eq!(
            content_disposition(&c),
            "attachment; filename=\"Team plans2025.ics\"; filename*=UTF-8''Team%20plans2025.ics"
        );
        let c = collection(CollectionKind::Calendar, "work", Some("회의"));
        assert_eq!(
            content_disposition(&c),
            "attachment; filename=\"calendar.ics\"; filename*=UTF-8''%ED%9A%8C%EC%9D%98.ics"
        );
        let c = collection(CollectionKind::AddressBook, "friends", None);
        assert_eq!(content_disposition(&c), "attachment; filename=\"friends.vcf\"; filename*=UTF-8''friends.vcf");
    }

    #[test]
    fn the_etag_is_the_sync_token() {
        let c = collection(CollectionKind::Calendar, "default", None);
        assert_eq!(etag(&c), "\"urn:x-madang:sync:7:12\"");
    }

    #[test]
    fn limits_name_the_key_that_stopped_the_export() {
        let config = DavConfig { max_export_items: 10, max_export_size: 1000, ..DavConfig::default() };
        assert!(check_limits(&config, CollectionKind::Calendar, 10, 1000).is_ok());
        let items = check_limits(&config, CollectionKind::Calendar, 11, 0).unwrap_err().to_string();
        assert!(items.contains("dav.max_export_items"), "{items}");
        let bytes = check_limits(&config, CollectionKind::AddressBook, 1, 1001).unwrap_err().to_string();
        assert!(bytes.contains("dav.max_export_size") && bytes.contains("address book"), "{bytes}");
    }
}
