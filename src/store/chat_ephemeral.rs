//! The membership look-ups typing indicators and presence need (they are never stored
//! themselves: see `crate::push::presence`).

use super::{Store, StoreResult, read};
use crate::domain::UserId;

impl Store {
    /// The members of `channel` when `user` is one of them; `None` when the channel does not
    /// exist or `user` is not a member (the caller answers both alike: 404).
    pub async fn chat_members_if_member(&self, channel: i64, user: UserId) -> StoreResult<Option<Vec<UserId>>> {
        let members: Vec<i64> = read!(self, |pool| sqlx::query_scalar(
            "SELECT user_id FROM chat_members WHERE channel_id = $1 \
             AND EXISTS (SELECT 1 FROM chat_members WHERE channel_id = $1 AND user_id = $2)"
        )
        .bind(channel)
        .bind(user.0)
        .fetch_all(pool)
        .await?);
        Ok((!members.is_empty()).then(|| members.into_iter().map(UserId).collect()))
    }

    /// Everyone who shares at least one channel (or direct message) with `user`, `user`
    /// included when they are in any channel.
    pub async fn chat_mates(&self, user: UserId) -> StoreResult<Vec<UserId>> {
        let mates: Vec<i64> = read!(self, |pool| sqlx::query_scalar(
            "SELECT DISTINCT o.user_id FROM chat_members o \
             WHERE o.channel_id IN (SELECT channel_id FROM chat_members WHERE user_id = $1)"
        )
        .bind(user.0)
        .fetch_all(pool)
        .await?);
        Ok(mates.into_iter().map(UserId).collect())
    }
}
