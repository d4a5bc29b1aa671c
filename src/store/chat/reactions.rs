//! Reactions and pins: small changes to one message, announced with the whole message.

use chrono::{DateTime, Utc};

use super::db::{Db, args};
use super::{Message, load_message, load_messages, lock_channel};
use crate::domain::UserId;
use crate::store::{Store, StoreError, StoreResult};

impl Store {
    /// Locks the message's channel; `(channel, archived, deleted)`.
    async fn lock_message(db: &mut Db<'_>, id: i64) -> StoreResult<i64> {
        let (channel, deleted): (i64, Option<DateTime<Utc>>) =
            db.one("SELECT channel_id, deleted_at FROM chat_messages WHERE id = $1", args![id]).await?;
        let (_, archived) = lock_channel(db, channel).await?.ok_or(StoreError::NotFound)?;
        if archived.is_some() {
            return Err(StoreError::Conflict("archived".into()));
        }
        if deleted.is_some() {
            return Err(StoreError::NotFound);
        }
        Ok(channel)
    }

    /// Adds (`on`) or removes the user's `emoji` on a message; members get `chat.message`
    /// `reaction` when something changed.
    pub async fn set_chat_reaction(
        &self,
        id: i64,
        user: UserId,
        emoji: &str,
        on: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<Message> {
        let mut db = Db::write(self).await?;
        let channel = Self::lock_message(&mut db, id).await?;
        let changed = if on {
            db.exec(
                "INSERT INTO chat_reactions (message_id, user_id, emoji, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT DO NOTHING",
                args![id, user.0, emoji.to_string(), now],
            )
            .await?
        } else {
            db.exec(
                "DELETE FROM chat_reactions WHERE message_id = $1 AND user_id = $2 AND emoji = $3",
                args![id, user.0, emoji.to_string()],
            )
            .await?
        };
        let message = load_message(&mut db, id).await?;
        if changed == 0 {
            return Ok(message);
        }
        let told = self.announce_message(&mut db, channel, "reaction", &message, now).await?;
        db.commit().await?;
        self.committed_many(told);
        Ok(message)
    }

    /// Pins or unpins a message; members get `chat.message` `pin` when something changed.
    pub async fn set_chat_pin(&self, id: i64, user: UserId, on: bool, now: DateTime<Utc>) -> StoreResult<Message> {
        let mut db = Db::write(self).await?;
        let channel = Self::lock_message(&mut db, id).await?;
        let changed = if on {
            db.exec(
                "UPDATE chat_messages SET pinned_at = $2, pinned_by = $3 WHERE id = $1 AND pinned_at IS NULL",
                args![id, now, user.0],
            )
            .await?
        } else {
            db.exec(
                "UPDATE chat_messages SET pinned_at = NULL, pinned_by = NULL WHERE id = $1 AND pinned_at IS NOT NULL",
                args![id],
            )
            .await?
        };
        let message = load_message(&mut db, id).await?;
        if changed == 0 {
            return Ok(message);
        }
        let told = self.announce_message(&mut db, channel, "pin", &message, now).await?;
        db.commit().await?;
        self.committed_many(told);
        Ok(message)
    }

    /// The channel's pinned messages, most recently pinned first (at most `limit`).
    pub async fn chat_pins(&self, channel: i64, limit: i64) -> StoreResult<Vec<Message>> {
        let mut db = Db::read(self).await?;
        let ids: Vec<(i64,)> = db
            .rows(
                "SELECT id FROM chat_messages WHERE channel_id = $1 AND pinned_at IS NOT NULL \
                 ORDER BY pinned_at DESC, id DESC LIMIT $2",
                args![channel, limit],
            )
            .await?;
        let ids: Vec<i64> = ids.into_iter().map(|(id,)| id).collect();
        load_messages(&mut db, &ids).await
    }
}
