//! Derived collections in the store: the company directory and birthday calendars, whose members Madang writes itself from another source.
//!
//! The members are ordinary `dav_objects` rows with the ordinary change log, so
//! ETags, `sync-collection` deltas, multiget and queries work exactly as for a
//! collection clients write. What is particular is how they change: the caller
//! (`crate::collections::derived`) computes the whole wanted member set and a
//! fingerprint of its source, and `sync_derived` brings the stored set in line
//! in one transaction, writing only the members whose bytes differ. An
//! unchanged member keeps its ETag and produces no change-log entry.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::{
    Collection, CollectionId, CollectionKind, CollectionProps, CollectionRow, Condition, Derived, NewObject, uid_race,
};
use crate::domain::UserId;
use crate::store::push::announce;
use crate::store::{BeginWrite, Store, StoreError, StoreResult, read, write};

/// One member of a derived collection as it should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerivedMember {
    pub name: String,
    pub uid: String,
    pub component: String,
    pub etag: String,
    pub data: String,
    pub range_start: Option<i64>,
    pub range_end: Option<i64>,
    pub range_exact: bool,
}

/// What the directory shows of an active account. Deliberately a short list of
/// public fields: nothing of credentials, roles or state ever reaches a card.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DirectoryEntry {
    /// The account's OpenID Connect subject: random, never reused and never
    /// changed, so a card keeps its name and UID through renames.
    pub subject: String,
    pub username: String,
    pub email: String,
    pub display_name: String,
}

impl Store {
    /// Every active account, for the directory, in a stable order.
    pub async fn directory_entries(&self) -> StoreResult<Vec<DirectoryEntry>> {
        Ok(read!(self, |pool| sqlx::query_as(
            "SELECT subject, username, email, display_name FROM users WHERE state = 'active' ORDER BY subject"
        )
        .fetch_all(pool)
        .await?))
    }

    /// The derived collection of this kind: the directory (`owner` `None`) or
    /// a user's birthday calendar.
    pub async fn derived_collection(&self, derived: Derived, owner: Option<UserId>) -> StoreResult<Option<Collection>> {
        let row: Option<CollectionRow> = match owner {
            None => {
                let sql = concat!("SELECT ", collection_columns!(), " FROM dav_collections WHERE derived = $1");
                read!(self, |pool| sqlx::query_as(sql).bind(derived.as_column()).fetch_optional(pool).await?)
            }
            Some(owner) => {
                let sql = concat!(
                    "SELECT ",
                    collection_columns!(),
                    " FROM dav_collections WHERE derived = $1 AND owner_id = $2"
                );
                read!(self, |pool| sqlx::query_as(sql)
                    .bind(derived.as_column())
                    .bind(owner.0)
                    .fetch_optional(pool)
                    .await?)
            }
        };
        Ok(row.map(Into::into))
    }

    /// The derived collection, made now if it does not exist. `None` when it
    /// cannot be made: the owner already has an ordinary collection of that name.
    pub async fn ensure_derived_collection(
        &self,
        derived: Derived,
        owner: Option<UserId>,
        (kind, slug): (CollectionKind, &str),
        props: &CollectionProps,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Collection>> {
        if let Some(c) = self.derived_collection(derived, owner).await? {
            return Ok(Some(c));
        }
        // The owner's own collection of that name wins; asked by a read, so a user who has one
        // does not cost a write transaction on every request.
        if let Some(owner) = owner
            && self.collection(owner, kind, slug).await?.is_some()
        {
            return Ok(None);
        }
        write!(self, |pool| {
            // Two first requests may race: the unique indexes let one insert win
            // and the other do nothing.
            sqlx::query(
                "INSERT INTO dav_collections (owner_id, derived, kind, slug, display_name, components, transparent, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT DO NOTHING",
            )
            .bind(owner.map(|o| o.0))
            .bind(derived.as_column())
            .bind(kind.as_str())
            .bind(slug)
            .bind(&props.display_name)
            .bind(props.components.join(","))
            .bind(props.transparent)
            .bind(now)
            .execute(pool)
            .await?;
        });
        self.derived_collection(derived, owner).await
    }

    /// Brings derived collection `id` in line with `members`, computed from a
    /// source whose fingerprint is `tag`. Members whose bytes are unchanged
    /// are left alone (same ETag, no change-log entry); the rest are written
    /// or deleted, each with its own revision, as a client's writes would be.
    /// Returns whether anything changed. When another request already brought
    /// the collection to `tag`, nothing is done.
    pub async fn sync_derived(
        &self,
        id: CollectionId,
        tag: &str,
        members: &[DerivedMember],
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let always = |_: Option<&str>| true;
        let always: Condition<'_> = &always;
        let (changed, owner) = write!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            // The no-op update locks the row on PostgreSQL (SQLite's write
            // transaction is exclusive already), so two requests do the work once.
            let stored: Option<(Option<String>, Option<i64>)> = sqlx::query_as(
                "UPDATE dav_collections SET source_tag = source_tag WHERE id = $1 RETURNING source_tag, owner_id",
            )
            .bind(id.0)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((stored, owner)) = stored else { return Err(StoreError::NotFound) };
            if stored.as_deref() == Some(tag) {
                return Ok(false);
            }
            let current: HashMap<String, String> =
                sqlx::query_as::<_, (String, String)>("SELECT name, etag FROM dav_objects WHERE collection_id = $1")
                    .bind(id.0)
                    .fetch_all(&mut *tx)
                    .await?
                    .into_iter()
                    .collect();
            let wanted: HashSet<&str> = members.iter().map(|m| m.name.as_str()).collect();
            let mut changed = false;
            // Deletions first: a member's UID may only be free once its old
            // holder is gone.
            let mut gone: Vec<&String> = current.keys().filter(|n| !wanted.contains(n.as_str())).collect();
            gone.sort();
            for name in gone {
                delete_member!(tx, id, name, always, now).await?;
                changed = true;
            }
            for m in members {
                if current.get(&m.name) == Some(&m.etag) {
                    continue;
                }
                let object = NewObject {
                    name: &m.name,
                    uid: &m.uid,
                    component: &m.component,
                    etag: &m.etag,
                    data: &m.data,
                    range_start: m.range_start,
                    range_end: m.range_end,
                    range_exact: m.range_exact,
                };
                put_member!(tx, id, &object, always, None, now).await?;
                changed = true;
            }
            sqlx::query("UPDATE dav_collections SET source_tag = $2 WHERE id = $1")
                .bind(id.0)
                .bind(tag)
                .execute(&mut *tx)
                .await?;
            // The directory belongs to nobody, so no one's push log hears of
            // it; a birthday calendar's owner does, like any calendar change.
            let told = match owner {
                Some(_) if changed => Some(announce!(tx, id.0, None, false, now).await?),
                _ => None,
            };
            tx.commit().await?;
            (changed, told)
        });
        if let Some(owner) = owner {
            self.committed(owner);
        }
        Ok(changed)
    }
}
