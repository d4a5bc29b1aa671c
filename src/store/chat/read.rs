//! Read state: how far a member has read a channel or a thread, and the counts that follow.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::db::{Db, args};
use super::{Event, fan_out, payload};
use crate::domain::UserId;
use crate::store::{Store, StoreError, StoreResult};

/// A member's read position and what is unread after it (the `chat.read` event's data).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReadState {
    pub channel: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread: Option<i64>,
    pub last_read_seq: i64,
    pub unread: i64,
    pub mentions: i64,
}

/// The user's read state of a channel, or of a thread when `thread` is given.
pub(crate) async fn read_state(
    db: &mut Db<'_>,
    channel: i64,
    thread: Option<i64>,
    user: i64,
) -> StoreResult<ReadState> {
    match thread {
        None => {
            let (last, unread, mentions): (i64, i64, i64) = db
                .one(
                    "SELECT m.last_read_seq, \
                     (SELECT COUNT(*) FROM chat_messages x WHERE x.channel_id = m.channel_id \
                        AND x.seq > m.last_read_seq AND x.seq > c.last_seq - 1000 AND x.thread_root_id IS NULL \
                        AND x.deleted_at IS NULL AND (x.author_id IS NULL OR x.author_id <> m.user_id)), \
                     (SELECT COUNT(*) FROM chat_mentions n WHERE n.user_id = m.user_id \
                        AND n.channel_id = m.channel_id AND n.seq > m.last_read_seq) \
                     FROM chat_members m JOIN chat_channels c ON c.id = m.channel_id \
                     WHERE m.channel_id = $1 AND m.user_id = $2",
                    args![channel, user],
                )
                .await?;
            Ok(ReadState { channel, thread: None, last_read_seq: last, unread, mentions })
        }
        Some(root) => {
            let last: Option<(i64,)> = db
                .opt(
                    "SELECT last_read_seq FROM chat_thread_follows WHERE root_id = $1 AND user_id = $2",
                    args![root, user],
                )
                .await?;
            let last = last.map(|(s,)| s).unwrap_or(0);
            let (unread, mentions): (i64, i64) = db
                .one(
                    "SELECT (SELECT COUNT(*) FROM chat_messages x WHERE x.thread_root_id = $1 AND x.seq > $3 \
                        AND x.deleted_at IS NULL AND (x.author_id IS NULL OR x.author_id <> $2)), \
                     (SELECT COUNT(*) FROM chat_mentions n JOIN chat_messages x ON x.id = n.message_id \
                        WHERE n.user_id = $2 AND x.thread_root_id = $1 AND n.seq > $3)",
                    args![root, user, last],
                )
                .await?;
            Ok(ReadState { channel, thread: Some(root), last_read_seq: last, unread, mentions })
        }
    }
}

/// The `chat.read` event for the user's current read state.
pub(crate) async fn read_event(db: &mut Db<'_>, channel: i64, thread: Option<i64>, user: i64) -> StoreResult<Event> {
    let state = read_state(db, channel, thread, user).await?;
    Ok(Event { user, kind: "chat.read", data: payload(serde_json::json!(state)) })
}

impl Store {
    /// Sets the user's read position in a channel (lower marks unread), at most the channel's
    /// last `seq`; the user gets `chat.read` on every device.
    pub async fn mark_chat_read(
        &self,
        channel: i64,
        user: UserId,
        seq: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<ReadState> {
        let mut db = Db::write(self).await?;
        let n = db
            .exec(
                "UPDATE chat_members SET last_read_seq = (SELECT CASE WHEN c.last_seq < $3 THEN c.last_seq ELSE $3 END \
                 FROM chat_channels c WHERE c.id = $1) WHERE channel_id = $1 AND user_id = $2",
                args![channel, user.0, seq.max(0)],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        let event = read_event(&mut db, channel, None, user.0).await?;
        let state = read_state(&mut db, channel, None, user.0).await?;
        let told = fan_out(&mut db, &[event], now).await?;
        db.commit().await?;
        self.committed_many(told);
        Ok(state)
    }

    /// Sets the user's read position in a thread (a row that does not follow it yet is created
    /// not following); the user gets `chat.read` with `thread`.
    pub async fn mark_chat_thread_read(
        &self,
        channel: i64,
        root: i64,
        user: UserId,
        seq: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<ReadState> {
        let mut db = Db::write(self).await?;
        db.exec(
            "INSERT INTO chat_thread_follows (root_id, user_id, following, last_read_seq) VALUES ($1, $2, FALSE, $3) \
             ON CONFLICT (root_id, user_id) DO UPDATE SET last_read_seq = excluded.last_read_seq",
            args![root, user.0, seq.max(0)],
        )
        .await?;
        let state = read_state(&mut db, channel, Some(root), user.0).await?;
        let event = Event { user: user.0, kind: "chat.read", data: payload(serde_json::json!(state)) };
        let told = fan_out(&mut db, &[event], now).await?;
        db.commit().await?;
        self.committed_many(told);
        Ok(state)
    }

    /// The user's read state of a channel or thread.
    pub async fn chat_read_state(&self, channel: i64, thread: Option<i64>, user: UserId) -> StoreResult<ReadState> {
        let mut db = Db::read(self).await?;
        read_state(&mut db, channel, thread, user.0).await
    }
}
