//! The push log: per-user numbered events written in the same transaction as the change they announce.
//!
//! Why in the write transaction: an event that is committed with its change can be replayed
//! after a disconnect, a restart or on another process, and one that is not never exists.
//! Why per user: `push_heads` holds the user's last number and every announcing write bumps it
//! with one row update, taken just before COMMIT (after the collection rows the write locks, so
//! the lock order is always collections → head and two writers cannot deadlock). That row lock
//! orders one user's commits by number: when event N is visible, 1..N are, so "everything after
//! my last id" is exact and a gap can only mean the log was pruned.
//!
//! Waking listeners is not done here: the store only tells its own process which users'
//! heads moved, after the COMMIT returned ([`Store::subscribe_commits`]); the push service
//! fans that out and, on PostgreSQL, tells other processes (outside any write transaction).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Store, StoreResult, read, write};
use crate::domain::UserId;

/// One event of a user's push log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushEvent {
    /// The user's event number: 1, 2, 3… without gaps.
    pub seq: i64,
    /// The event type, e.g. `calendar.object`.
    pub kind: String,
    /// The JSON payload.
    pub data: String,
}

/// What one COMMIT appended to one user's log, as its writer tells this process after the
/// COMMIT returned (`Store::subscribe_commits`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    pub user: UserId,
    /// The events appended, oldest first, so a listener here can send them without reading
    /// them back; empty when the writer did not keep them (the listener reads the log).
    pub events: Vec<PushEvent>,
}

/// Everything one COMMIT appended, shared by the receivers.
pub type Commit = std::sync::Arc<Vec<Committed>>;

/// What a collection write announces, as `(type, JSON)`. The member is `(name, uid)`; a change
/// of the collection itself (created, renamed, deleted) has none.
pub(crate) fn collection_event(
    kind: &str,
    slug: &str,
    member: Option<(&str, &str)>,
    deleted: bool,
) -> (String, String) {
    #[derive(Serialize)]
    struct Payload<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        calendar: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        addressbook: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        uid: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<&'a str>,
        deleted: bool,
    }
    let calendar = kind == "calendar";
    let payload = Payload {
        calendar: calendar.then_some(slug),
        addressbook: (!calendar).then_some(slug),
        uid: member.map(|(_, uid)| uid),
        name: member.map(|(name, _)| name),
        deleted,
    };
    let prefix = if calendar { "calendar" } else { "addressbook" };
    let suffix = if member.is_some() { "object" } else { "collection" };
    (format!("{prefix}.{suffix}"), serde_json::to_string(&payload).unwrap_or_default())
}

/// Appends an event for the owner of collection `$collection` inside the write transaction
/// `$tx`, and evaluates to the owner. Call it last before COMMIT (see the module comment).
macro_rules! announce {
    ($tx:ident, $collection:expr, $member:expr, $deleted:expr, $now:expr) => {
        async {
            let (collection, member, deleted, now): (i64, Option<(&str, &str)>, bool, DateTime<Utc>) =
                ($collection, $member, $deleted, $now);
            let (owner, kind, slug): (i64, String, String) =
                sqlx::query_as("SELECT owner_id, kind, slug FROM dav_collections WHERE id = $1")
                    .bind(collection)
                    .fetch_one(&mut *$tx)
                    .await?;
            let (event, data) = $crate::store::push::collection_event(&kind, &slug, member, deleted);
            $crate::store::push::append!($tx, owner, &event, &data, now).await?;
            Ok::<$crate::domain::UserId, $crate::store::StoreError>($crate::domain::UserId(owner))
        }
    };
}

/// Appends one event of type `$kind` with JSON `$data` to user `$user`'s log, in `$tx`.
macro_rules! append {
    ($tx:ident, $user:expr, $kind:expr, $data:expr, $now:expr) => {
        async {
            let (user, kind, data, now): (i64, &str, &str, DateTime<Utc>) = ($user, $kind, $data, $now);
            let seq: i64 = sqlx::query_scalar(
                "INSERT INTO push_heads (user_id, seq) VALUES ($1, 1) \
                 ON CONFLICT (user_id) DO UPDATE SET seq = push_heads.seq + 1 RETURNING seq",
            )
            .bind(user)
            .fetch_one(&mut *$tx)
            .await?;
            sqlx::query("INSERT INTO push_events (user_id, seq, kind, data, created_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(user)
                .bind(seq)
                .bind(kind)
                .bind(data)
                .bind(now)
                .execute(&mut *$tx)
                .await?;
            Ok::<i64, $crate::store::StoreError>(seq)
        }
    };
}
pub(crate) use {announce, append};

/// The PostgreSQL channel the push notifications use.
const NOTIFY_CHANNEL: &str = "madang_push";

/// The PostgreSQL channel for ephemeral deliveries and presence (`crate::push::presence`):
/// the payload is the message itself, since nothing of it is stored.
const EPHEMERAL_CHANNEL: &str = "madang_ephemeral";

/// What a [`PushListener`] heard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// On `madang_push`: whose logs moved.
    Push(String),
    /// On `madang_ephemeral`: an ephemeral message.
    Ephemeral(String),
}

/// A dedicated PostgreSQL connection listening on the push and ephemeral channels.
pub struct PushListener(sqlx::postgres::PgListener);

impl PushListener {
    /// The next notification; `Ok(None)` when the connection was lost (the next call
    /// reconnects, and whatever was sent meanwhile is lost).
    pub async fn recv(&mut self) -> StoreResult<Option<Heard>> {
        Ok(self.0.try_recv().await?.map(|n| {
            let payload = n.payload().to_string();
            if n.channel() == EPHEMERAL_CHANNEL { Heard::Ephemeral(payload) } else { Heard::Push(payload) }
        }))
    }
}

impl Store {
    /// The user's newest event number (0 before the first event).
    pub async fn push_head(&self, user: UserId) -> StoreResult<i64> {
        let seq: Option<i64> = read!(self, |pool| sqlx::query_scalar("SELECT seq FROM push_heads WHERE user_id = $1")
            .bind(user.0)
            .fetch_optional(pool)
            .await?);
        Ok(seq.unwrap_or(0))
    }

    /// The user's events after number `after`, oldest first, at most `limit`.
    pub async fn push_events_after(&self, user: UserId, after: i64, limit: usize) -> StoreResult<Vec<PushEvent>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<(i64, String, String)> = read!(self, |pool| sqlx::query_as(
            "SELECT e.seq, e.kind, COALESCE(p.data, e.data) FROM push_events e \
             LEFT JOIN push_payloads p ON p.id = e.payload_id \
             WHERE e.user_id = $1 AND e.seq > $2 ORDER BY e.seq LIMIT $3"
        )
        .bind(user.0)
        .bind(after)
        .bind(limit)
        .fetch_all(pool)
        .await?);
        Ok(rows.into_iter().map(|(seq, kind, data)| PushEvent { seq, kind, data }).collect())
    }

    /// For each `(user, after)`, the user's events after `after`, oldest first, at most `limit`
    /// per user: one read for the listeners of many users (the push service's wake-up from
    /// another process). A user with `limit` events may have more.
    pub async fn push_events_after_many(
        &self,
        from: &[(UserId, i64)],
        limit: usize,
    ) -> StoreResult<Vec<(UserId, PushEvent)>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<(i64, i64, String, String)> = match &self.backend {
            super::Backend::Postgres(pool) => {
                let users: Vec<i64> = from.iter().map(|(u, _)| u.0).collect();
                let after: Vec<i64> = from.iter().map(|(_, a)| *a).collect();
                sqlx::query_as(
                    "SELECT c.u, e.seq, e.kind, e.data FROM unnest($1::bigint[], $2::bigint[]) AS c(u, s) \
                     CROSS JOIN LATERAL (SELECT e.seq, e.kind, COALESCE(p.data, e.data) AS data \
                     FROM push_events e LEFT JOIN push_payloads p ON p.id = e.payload_id \
                     WHERE e.user_id = c.u AND e.seq > c.s ORDER BY e.seq LIMIT $3) e ORDER BY c.u, e.seq",
                )
                .bind(users)
                .bind(after)
                .bind(limit)
                .fetch_all(pool)
                .await?
            }
            // One process serves SQLite, so nothing calls this there; it answers all the same.
            super::Backend::Sqlite { .. } => {
                let mut rows = Vec::new();
                for &(user, after) in from {
                    let events =
                        self.push_events_after(user, after, usize::try_from(limit).unwrap_or(usize::MAX)).await?;
                    rows.extend(events.into_iter().map(|e| (user.0, e.seq, e.kind, e.data)));
                }
                rows
            }
        };
        Ok(rows.into_iter().map(|(user, seq, kind, data)| (UserId(user), PushEvent { seq, kind, data })).collect())
    }

    /// Forgets events older than `before`, and all but the newest `keep` of each user's, with
    /// the shared payloads of that age (an event's payload has its `created_at`, so no kept
    /// event points at one). A client whose last id was pruned gets a resync (a gap in the
    /// numbers shows it).
    pub async fn prune_push_events(&self, keep: u64, before: DateTime<Utc>) -> StoreResult<u64> {
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        let n = write!(self, |pool| {
            let mut tx = super::BeginWrite::begin_write(pool).await?;
            let n = sqlx::query(
                "DELETE FROM push_events WHERE created_at < $1 \
                 OR seq <= (SELECT h.seq FROM push_heads h WHERE h.user_id = push_events.user_id) - $2",
            )
            .bind(before)
            .bind(keep)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            sqlx::query("DELETE FROM push_payloads WHERE created_at < $1").bind(before).execute(&mut *tx).await?;
            tx.commit().await?;
            n
        });
        Ok(n)
    }

    /// Tells other processes (PostgreSQL `NOTIFY`) that the users in `payload` have new events.
    /// Its own statement on a pooled connection, never inside a write transaction. A no-op on
    /// SQLite, where one process serves.
    pub async fn push_notify(&self, payload: &str) -> StoreResult<()> {
        if let super::Backend::Postgres(pool) = &self.backend {
            sqlx::query("SELECT pg_notify($1, $2)").bind(NOTIFY_CHANNEL).bind(payload).execute(pool).await?;
        }
        Ok(())
    }

    /// Sends an ephemeral message to the other processes (`NOTIFY madang_ephemeral`), like
    /// [`Store::push_notify`] on a pooled connection outside any transaction. A no-op on SQLite.
    pub async fn ephemeral_notify(&self, payload: &str) -> StoreResult<()> {
        if let super::Backend::Postgres(pool) = &self.backend {
            sqlx::query("SELECT pg_notify($1, $2)").bind(EPHEMERAL_CHANNEL).bind(payload).execute(pool).await?;
        }
        Ok(())
    }

    /// What tells this instance's ephemeral messages from those of another instance whose
    /// tables live in another schema of the same database (`NOTIFY` channels are per database):
    /// the schema the store's tables are in. Empty on SQLite.
    pub async fn notify_namespace(&self) -> StoreResult<String> {
        match &self.backend {
            super::Backend::Postgres(pool) => Ok(sqlx::query_scalar::<_, Option<String>>("SELECT current_schema()")
                .fetch_one(pool)
                .await?
                .unwrap_or_default()),
            super::Backend::Sqlite { .. } => Ok(String::new()),
        }
    }

    /// A `LISTEN` connection for other processes' [`Store::push_notify`] and
    /// [`Store::ephemeral_notify`] (PostgreSQL only).
    pub async fn push_listener(&self) -> StoreResult<PushListener> {
        match &self.backend {
            super::Backend::Postgres(pool) => {
                let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
                listener.listen_all([NOTIFY_CHANNEL, EPHEMERAL_CHANNEL]).await?;
                Ok(PushListener(listener))
            }
            super::Backend::Sqlite { .. } => Err(super::StoreError::Internal("no LISTEN on SQLite".into())),
        }
    }

    /// What each COMMIT of this process appended to push logs, sent after it returned.
    /// A receiver that lags gets `Lagged` and must treat every user as changed.
    pub fn subscribe_commits(&self) -> tokio::sync::broadcast::Receiver<Commit> {
        self.commits.subscribe()
    }

    /// Tells this process's listeners that `user`'s push head moved (they read the log).
    pub(crate) fn committed(&self, user: UserId) {
        self.committed_many(vec![Committed { user, events: Vec::new() }]);
    }

    /// Tells this process's listeners what one COMMIT appended.
    pub(crate) fn committed_many(&self, told: Vec<Committed>) {
        // No receiver yet (the CLI, tests without a push service) is fine.
        if !told.is_empty() {
            let _ = self.commits.send(std::sync::Arc::new(told));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_payloads_name_the_collection_and_member() {
        let (kind, data) = collection_event("calendar", "work", Some(("a.ics", "uid-1")), false);
        assert_eq!(kind, "calendar.object");
        assert_eq!(data, r#"{"calendar":"work","uid":"uid-1","name":"a.ics","deleted":false}"#);
        let (kind, data) = collection_event("addressbook", "contacts", None, true);
        assert_eq!(kind, "addressbook.collection");
        assert_eq!(data, r#"{"addressbook":"contacts","deleted":true}"#);
    }
}
