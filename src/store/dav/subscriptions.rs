//! External calendar subscriptions in the store (`dav_subscriptions`): the feed behind a read-only calendar (`derived = 'feed'`), its fetch state, and the claim that lets one process at a time fetch it.
//!
//! The calendar's members are written like any derived collection's, by
//! `Store::sync_derived`; this module keeps what the fetcher needs between
//! fetches (validators for a conditional GET, when to fetch next) and what the
//! user is shown (last success, last error).

use chrono::{DateTime, Utc};

use super::{Collection, CollectionId, CollectionKind, CollectionProps, CollectionRow, Derived};
use crate::domain::UserId;
use crate::store::{BeginWrite, Store, StoreError, StoreResult, conflict_as, read, write};

/// A subscription with its calendar.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub collection: Collection,
    /// The feed URL, sealed (see `crate::subscriptions`).
    pub url_sealed: Vec<u8>,
    /// The feed's host: what may be shown and logged.
    pub host: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// The refresh interval the feed asked for, in seconds, before bounding.
    pub feed_interval: Option<i64>,
    pub next_fetch_at: DateTime<Utc>,
    pub last_fetched_at: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// How many fetches the server answered 304 Not Modified.
    pub not_modified: i64,
}

#[derive(sqlx::FromRow)]
struct StateRow {
    url_sealed: Vec<u8>,
    host: String,
    etag: Option<String>,
    last_modified: Option<String>,
    feed_interval: Option<i64>,
    next_fetch_at: DateTime<Utc>,
    last_fetched_at: Option<DateTime<Utc>>,
    last_success_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
    not_modified: i64,
}

#[derive(sqlx::FromRow)]
struct Row {
    #[sqlx(flatten)]
    collection: CollectionRow,
    #[sqlx(flatten)]
    state: StateRow,
}

impl From<Row> for Subscription {
    fn from(r: Row) -> Subscription {
        let s = r.state;
        Subscription {
            collection: r.collection.into(),
            url_sealed: s.url_sealed,
            host: s.host,
            etag: s.etag,
            last_modified: s.last_modified,
            feed_interval: s.feed_interval,
            next_fetch_at: s.next_fetch_at,
            last_fetched_at: s.last_fetched_at,
            last_success_at: s.last_success_at,
            last_error: s.last_error,
            not_modified: s.not_modified,
        }
    }
}

/// How a fetch ended, to be recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchOutcome {
    /// New content was read (and its members synced): the validators to send next time.
    Fetched { etag: Option<String>, last_modified: Option<String>, feed_interval: Option<i64> },
    /// 304 Not Modified.
    NotModified,
    /// Nothing stored was touched; the message is shown to the user.
    Failed(String),
}

macro_rules! subscription_select {
    ($where:literal) => {
        concat!(
            "SELECT c.id, c.owner_id, c.derived, c.source_tag, c.kind, c.slug, c.display_name, c.description, c.color, \
             c.sort_order, c.timezone, c.components, c.transparent, c.revision, c.pruned_revision, c.created_at, \
             c.updated_at, s.url_sealed, s.host, s.etag, s.last_modified, s.feed_interval, s.next_fetch_at, \
             s.last_fetched_at, s.last_success_at, s.last_error, s.not_modified \
             FROM dav_subscriptions s JOIN dav_collections c ON c.id = s.collection_id ",
            $where
        )
    };
}

impl Store {
    /// Makes the read-only calendar `slug` in `owner`'s home, fed from the sealed URL; due for a
    /// first fetch at once. A calendar of that name already there is a conflict.
    pub async fn create_subscription(
        &self,
        owner: UserId,
        slug: &str,
        props: &CollectionProps,
        (url_sealed, host): (&[u8], &str),
        now: DateTime<Utc>,
    ) -> StoreResult<Subscription> {
        write!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO dav_collections (owner_id, derived, kind, slug, display_name, color, components, \
                 transparent, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id",
            )
            .bind(owner.0)
            .bind(Derived::Subscription.as_column())
            .bind(CollectionKind::Calendar.as_str())
            .bind(slug)
            .bind(&props.display_name)
            .bind(&props.color)
            .bind(props.components.join(","))
            .bind(props.transparent)
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .map_err(conflict_as("a calendar with this id exists already"))?;
            sqlx::query(
                "INSERT INTO dav_subscriptions (collection_id, url_sealed, host, next_fetch_at, created_at) \
                 VALUES ($1, $2, $3, $4, $4)",
            )
            .bind(id)
            .bind(url_sealed)
            .bind(host)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        self.subscription(owner, slug).await?.ok_or(StoreError::NotFound)
    }

    /// `owner`'s subscriptions, by calendar id.
    pub async fn subscriptions(&self, owner: UserId) -> StoreResult<Vec<Subscription>> {
        let rows: Vec<Row> =
            read!(self, |pool| sqlx::query_as(subscription_select!("WHERE c.owner_id = $1 ORDER BY c.slug"))
                .bind(owner.0)
                .fetch_all(pool)
                .await?);
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// `owner`'s subscription whose calendar is `slug`.
    pub async fn subscription(&self, owner: UserId, slug: &str) -> StoreResult<Option<Subscription>> {
        let row: Option<Row> =
            read!(self, |pool| sqlx::query_as(subscription_select!("WHERE c.owner_id = $1 AND c.slug = $2"))
                .bind(owner.0)
                .bind(slug)
                .fetch_optional(pool)
                .await?);
        Ok(row.map(Into::into))
    }

    async fn subscription_by_id(&self, id: CollectionId) -> StoreResult<Option<Subscription>> {
        let row: Option<Row> = read!(self, |pool| sqlx::query_as(subscription_select!("WHERE c.id = $1"))
            .bind(id.0)
            .fetch_optional(pool)
            .await?);
        Ok(row.map(Into::into))
    }

    /// Takes one subscription due at `now` for this process until `until`, or `None` when none
    /// is due. The claim is one conditional UPDATE: on PostgreSQL a second process's UPDATE of the
    /// same row waits, then finds the condition false and claims nothing, so no feed is fetched
    /// twice at once; a process that dies mid-fetch leaves a claim that lapses at `until`.
    pub async fn claim_due_subscription(
        &self,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<Option<Subscription>> {
        let claimed: Option<i64> = write!(self, |pool| sqlx::query_scalar(
            "UPDATE dav_subscriptions SET claimed_until = $2 WHERE collection_id = ( \
                 SELECT collection_id FROM dav_subscriptions \
                 WHERE next_fetch_at <= $1 AND (claimed_until IS NULL OR claimed_until < $1) \
                 ORDER BY next_fetch_at LIMIT 1) \
             AND next_fetch_at <= $1 AND (claimed_until IS NULL OR claimed_until < $1) RETURNING collection_id"
        )
        .bind(now)
        .bind(until)
        .fetch_optional(pool)
        .await?);
        match claimed {
            Some(id) => self.subscription_by_id(CollectionId(id)).await,
            None => Ok(None),
        }
    }

    /// Takes subscription `id` for a fetch now, due or not; `false` when another fetch of it is
    /// under way.
    pub async fn claim_subscription(
        &self,
        id: CollectionId,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let done = write!(self, |pool| sqlx::query(
            "UPDATE dav_subscriptions SET claimed_until = $3 \
             WHERE collection_id = $1 AND (claimed_until IS NULL OR claimed_until < $2)"
        )
        .bind(id.0)
        .bind(now)
        .bind(until)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(done > 0)
    }

    /// Records how a claimed fetch ended, releases the claim and sets the next fetch. A failure
    /// keeps the validators and the last success: what is stored stays as it was.
    pub async fn finish_subscription_fetch(
        &self,
        id: CollectionId,
        outcome: &FetchOutcome,
        now: DateTime<Utc>,
        next: DateTime<Utc>,
    ) -> StoreResult<()> {
        write!(self, |pool| {
            let q = match outcome {
                FetchOutcome::Fetched { etag, last_modified, feed_interval } => sqlx::query(
                    "UPDATE dav_subscriptions SET claimed_until = NULL, next_fetch_at = $2, last_fetched_at = $3, \
                     last_success_at = $3, last_error = NULL, etag = $4, last_modified = $5, feed_interval = $6 \
                     WHERE collection_id = $1",
                )
                .bind(id.0)
                .bind(next)
                .bind(now)
                .bind(etag)
                .bind(last_modified)
                .bind(feed_interval),
                FetchOutcome::NotModified => sqlx::query(
                    "UPDATE dav_subscriptions SET claimed_until = NULL, next_fetch_at = $2, last_fetched_at = $3, \
                     last_success_at = $3, last_error = NULL, not_modified = not_modified + 1 \
                     WHERE collection_id = $1",
                )
                .bind(id.0)
                .bind(next)
                .bind(now),
                FetchOutcome::Failed(error) => sqlx::query(
                    "UPDATE dav_subscriptions SET claimed_until = NULL, next_fetch_at = $2, last_fetched_at = $3, \
                     last_error = $4 WHERE collection_id = $1",
                )
                .bind(id.0)
                .bind(next)
                .bind(now)
                .bind(error),
            };
            q.execute(pool).await?;
        });
        Ok(())
    }
}
