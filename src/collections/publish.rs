//! Published calendars: a secret, revocable, read-only URL per calendar (`/feeds/<token>.ics`)
//! that Google Calendar, Outlook or a web site can subscribe to without an account.
//!
//! The token is 256 random bits; only its SHA-256 is stored (`store::dav_feeds`), so the owner
//! sees the URL once, when it is made, as with app passwords and chat webhooks. A lost URL is
//! replaced by publishing again, which stops the old one at once (subscribers then need the new
//! one); revoking stops it too. Google and Nextcloud show the address again instead, which
//! needs it stored readable; a feed URL is a bearer credential to the calendar, so Madang keeps
//! the rule that no credential is stored in a reversible form (docs/api.md says so).

use chrono::{DateTime, Utc};

use crate::store::dav::{Collection, CollectionKind};
use crate::store::{Store, StoreError};
use crate::tokens::{random_token, token_hash};

/// Where feeds live: `/feeds/<token>.ics`.
pub const FEED_ROUTE: &str = "/feeds/{file}";
const FEED_PREFIX: &str = "/feeds/";
const FEED_EXTENSION: &str = ".ics";

/// The path of a feed, relative to the server's root.
pub fn feed_path(token: &str) -> String {
    format!("{FEED_PREFIX}{token}{FEED_EXTENSION}")
}

/// Whether a request path is a feed's: its token must never reach a log.
pub fn is_feed_path(path: &str) -> bool {
    path.starts_with(FEED_PREFIX)
}

/// Publishes the calendar under a new URL, replacing any earlier one; returns the new token.
pub async fn publish(store: &Store, c: &Collection, now: DateTime<Utc>) -> Result<String, StoreError> {
    if c.kind != CollectionKind::Calendar {
        return Err(StoreError::NotFound);
    }
    let token = random_token().map_err(|e| StoreError::Internal(e.to_string()))?;
    store.publish_feed(c.id, &token_hash(&token), now).await?;
    Ok(token)
}

/// The published calendar a feed's file name (`<token>.ics`) names, if any. A name that cannot
/// be a token is not looked up.
pub async fn resolve(store: &Store, file: &str) -> Result<Option<Collection>, StoreError> {
    let Some(token) = file.strip_suffix(FEED_EXTENSION) else { return Ok(None) };
    if token.len() != 43 || !token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Ok(None);
    }
    let Some(target) = store.feed_by_token(&token_hash(token)).await? else { return Ok(None) };
    store.collection(target.owner(), CollectionKind::Calendar, &target.slug).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_paths() {
        let path = feed_path("abc");
        assert_eq!(path, "/feeds/abc.ics");
        assert!(is_feed_path(&path));
        assert!(!is_feed_path("/dav/calendars/alice/"));
    }
}
