//! Threads: a root's replies, following and unfollowing, and the followed threads with unread
//! replies.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::db::{Db, args};
use super::{Event, Message, fan_out, load_message, load_messages, payload};
use crate::domain::UserId;
use crate::store::{Store, StoreResult};

/// `GET /messages/{id}/thread`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ThreadPage {
    pub root: Message,
    pub replies: Vec<Message>,
    pub has_more: bool,
    pub following: bool,
    pub last_read_seq: i64,
}

/// One entry of `GET /threads`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FollowedThread {
    pub root: Message,
    pub last_read_seq: i64,
    /// Replies by others after `last_read_seq`.
    pub unread: i64,
}

impl Store {
    /// The root and its replies after `after` by `seq`, at most `limit`, with the user's state.
    pub async fn chat_thread(&self, root: i64, user: UserId, after: i64, limit: i64) -> StoreResult<ThreadPage> {
        let mut db = Db::read(self).await?;
        let root = load_message(&mut db, root).await?;
        let mut ids: Vec<i64> = db
            .rows::<(i64,)>(
                "SELECT id FROM chat_messages WHERE thread_root_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                args![root.id, after, limit + 1],
            )
            .await?
            .into_iter()
            .map(|(id,)| id)
            .collect();
        let has_more = ids.len() as i64 > limit;
        ids.truncate(limit as usize);
        let replies = load_messages(&mut db, &ids).await?;
        let follow: Option<(bool, i64)> = db
            .opt(
                "SELECT following, last_read_seq FROM chat_thread_follows WHERE root_id = $1 AND user_id = $2",
                args![root.id, user.0],
            )
            .await?;
        let (following, last_read_seq) = follow.unwrap_or((false, 0));
        Ok(ThreadPage { root, replies, has_more, following, last_read_seq })
    }

    /// Follows (`on`) or unfollows a thread; an unfollow is remembered, so a later reply by
    /// someone else does not make the user follow again (only their own reply does). The user
    /// gets `chat.follow` on every device, even when nothing changed: it states the result,
    /// and an idempotent request is rare enough not to be worth a read to tell it apart.
    pub async fn set_chat_follow(
        &self,
        channel: i64,
        root: i64,
        user: UserId,
        on: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut db = Db::write(self).await?;
        // The row is locked before the head (as a reply's own follow is, in the send), so
        // two requests of one user commit, and their events are numbered, in the same order.
        db.exec(
            "INSERT INTO chat_thread_follows (root_id, user_id, following, last_read_seq) VALUES ($1, $2, $3, 0) \
             ON CONFLICT (root_id, user_id) DO UPDATE SET following = excluded.following",
            args![root, user.0, on],
        )
        .await?;
        let data = payload(serde_json::json!({ "channel": channel, "thread": root, "following": on }));
        let told = fan_out(&mut db, &[Event { user: user.0, kind: "chat.follow", data }], now).await?;
        db.commit().await?;
        self.committed_many(told);
        Ok(())
    }

    /// The threads the user follows in channels they are still in, with replies by others they
    /// have not read, latest reply first (at most `limit`).
    pub async fn chat_followed_threads(&self, user: UserId, limit: i64) -> StoreResult<Vec<FollowedThread>> {
        let mut db = Db::read(self).await?;
        let rows: Vec<(i64, i64, i64)> = db
            .rows(
                "SELECT f.root_id, f.last_read_seq, \
                 (SELECT COUNT(*) FROM chat_messages x WHERE x.thread_root_id = f.root_id AND x.seq > f.last_read_seq \
                    AND x.deleted_at IS NULL AND (x.author_id IS NULL OR x.author_id <> f.user_id)) AS unread \
                 FROM chat_thread_follows f JOIN chat_messages r ON r.id = f.root_id \
                 JOIN chat_members m ON m.channel_id = r.channel_id AND m.user_id = f.user_id \
                 WHERE f.user_id = $1 AND f.following AND EXISTS (SELECT 1 FROM chat_messages y \
                    WHERE y.thread_root_id = f.root_id AND y.seq > f.last_read_seq AND y.deleted_at IS NULL \
                    AND (y.author_id IS NULL OR y.author_id <> f.user_id)) \
                 ORDER BY r.last_reply_at DESC, r.id DESC LIMIT $2",
                args![user.0, limit],
            )
            .await?;
        let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
        let roots = load_messages(&mut db, &ids).await?;
        Ok(roots
            .into_iter()
            .zip(rows)
            .map(|(root, (_, last_read_seq, unread))| FollowedThread { root, last_read_seq, unread })
            .collect())
    }
}
