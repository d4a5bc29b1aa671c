//! Published calendars (`dav_feeds`: one secret feed URL per calendar, looked up by the SHA-256 of
//! its token; the token itself is never stored) and what serving a whole collection as one
//! document needs to know before it reads the objects (how many, how large).

use chrono::{DateTime, Utc};

use super::dav::CollectionId;
use super::{Store, StoreResult, conflict_as, read, write};
use crate::domain::UserId;

/// A live feed's calendar: its owner and slug, to be read as the owner would read it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct FeedTarget {
    pub owner_id: i64,
    pub slug: String,
}

impl FeedTarget {
    pub fn owner(&self) -> UserId {
        UserId(self.owner_id)
    }
}

impl Store {
    /// Publishes a calendar under a new token, replacing any earlier one (whose URL stops working
    /// with this commit).
    pub async fn publish_feed(&self, id: CollectionId, token_hash: &[u8], now: DateTime<Utc>) -> StoreResult<()> {
        write!(self, |pool| {
            sqlx::query(
            "INSERT INTO dav_feeds (collection_id, token_hash, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (collection_id) DO UPDATE SET token_hash = excluded.token_hash, created_at = excluded.created_at"
        )
        .bind(id.0)
        .bind(token_hash)
        .bind(now)
        .execute(pool)
        .await
        .map_err(conflict_as("token collision; try again"))?
        .rows_affected()
        });
        Ok(())
    }

    /// When the calendar's current feed was made, if it is published.
    pub async fn feed_published_at(&self, id: CollectionId) -> StoreResult<Option<DateTime<Utc>>> {
        Ok(read!(self, |pool| sqlx::query_scalar("SELECT created_at FROM dav_feeds WHERE collection_id = $1")
            .bind(id.0)
            .fetch_optional(pool)
            .await?))
    }

    /// Stops publishing a calendar; whether it was published.
    pub async fn revoke_feed(&self, id: CollectionId) -> StoreResult<bool> {
        let done = write!(self, |pool| sqlx::query("DELETE FROM dav_feeds WHERE collection_id = $1")
            .bind(id.0)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(done > 0)
    }

    /// The calendar a feed token's hash names, if it is published and its owner's account is
    /// active (a disabled account's feeds stop with its sign-ins, and come back if it is enabled).
    pub async fn feed_by_token(&self, token_hash: &[u8]) -> StoreResult<Option<FeedTarget>> {
        Ok(read!(self, |pool| sqlx::query_as(
            "SELECT c.owner_id, c.slug FROM dav_feeds f \
             JOIN dav_collections c ON c.id = f.collection_id JOIN users u ON u.id = c.owner_id \
             WHERE f.token_hash = $1 AND u.state = 'active'"
        )
        .bind(token_hash)
        .fetch_optional(pool)
        .await?))
    }

    /// How many members a collection holds and the bytes of their data: checked against the
    /// export limits before any member is read.
    pub async fn collection_extent(&self, id: CollectionId) -> StoreResult<(u64, u64)> {
        let (count, bytes): (i64, Option<i64>) = read!(self, |pool| sqlx::query_as(
            "SELECT COUNT(*), CAST(SUM(size) AS BIGINT) FROM dav_objects WHERE collection_id = $1"
        )
        .bind(id.0)
        .fetch_one(pool)
        .await?);
        Ok((count.max(0) as u64, bytes.unwrap_or(0).max(0) as u64))
    }
}
