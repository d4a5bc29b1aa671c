//! Channel membership: list, add (join), remove (leave), roles, and keeping channels that
//! follow a group in step with it.

use chrono::{DateTime, Utc};

use super::channels::channel_events;
use super::db::{Db, args};
use super::{ChannelRole, Member, fan_out, lock_channel, member_ids};
use crate::domain::UserId;
use crate::store::{Store, StoreError, StoreResult};

/// `added` and `removed` users of one group sync (for the caller's audit or tests).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub added: Vec<UserId>,
    pub removed: Vec<UserId>,
}

impl Store {
    /// The channel's members by name.
    pub async fn chat_members(&self, channel: i64) -> StoreResult<Vec<Member>> {
        let mut db = Db::read(self).await?;
        let rows: Vec<(i64, String, String, String)> = db
            .rows(
                "SELECT m.user_id, u.username, u.display_name, m.role FROM chat_members m \
                 JOIN users u ON u.id = m.user_id WHERE m.channel_id = $1 ORDER BY u.username",
                args![channel],
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|(user_id, name, display_name, role)| Member {
                name,
                display_name,
                role: ChannelRole::parse(&role),
                user_id,
            })
            .collect())
    }

    /// The user's role in the channel, `None` when not a member.
    pub async fn chat_role(&self, channel: i64, user: UserId) -> StoreResult<Option<ChannelRole>> {
        let mut db = Db::read(self).await?;
        let row: Option<(String,)> = db
            .opt("SELECT role FROM chat_members WHERE channel_id = $1 AND user_id = $2", args![channel, user.0])
            .await?;
        Ok(row.map(|(r,)| ChannelRole::parse(&r)))
    }

    /// Adds `user` (or changes their role when `role` is given and they are a member already).
    /// Everyone in the channel then gets `chat.channel` `joined` (or `updated`). Returns whether
    /// anything changed.
    pub async fn add_chat_member(
        &self,
        channel: i64,
        user: UserId,
        role: Option<ChannelRole>,
        via_group: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut db = Db::write(self).await?;
        lock_channel(&mut db, channel).await?.ok_or(StoreError::NotFound)?;
        let (name,): (String,) = db.one("SELECT username FROM users WHERE id = $1", args![user.0]).await?;
        let current: Option<(String,)> = db
            .opt("SELECT role FROM chat_members WHERE channel_id = $1 AND user_id = $2", args![channel, user.0])
            .await?;
        let op = match (current, role) {
            (None, role) => {
                let role = role.unwrap_or(ChannelRole::Member);
                db.exec(
                    "INSERT INTO chat_members (channel_id, user_id, role, joined_at, via_group) \
                     VALUES ($1, $2, $3, $4, $5)",
                    args![channel, user.0, role.as_str(), now, via_group],
                )
                .await?;
                "joined"
            }
            (Some((old,)), Some(role)) if old != role.as_str() => {
                db.exec(
                    "UPDATE chat_members SET role = $3 WHERE channel_id = $1 AND user_id = $2",
                    args![channel, user.0, role.as_str()],
                )
                .await?;
                "updated"
            }
            (Some(_), _) => return Ok(false),
        };
        let users = member_ids(&mut db, channel).await?;
        let events = channel_events(&mut db, channel, &users, op, Some(&name)).await?;
        let told = fan_out(&mut db, &events, now).await?;
        db.commit().await?;
        self.committed_many(told);
        Ok(true)
    }

    /// Removes `user`; they get `chat.channel` `op` (`left` or `removed`) as their last event
    /// about it, and so does everyone still in it. Returns whether they were a member.
    pub async fn remove_chat_member(
        &self,
        channel: i64,
        user: UserId,
        op: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut db = Db::write(self).await?;
        lock_channel(&mut db, channel).await?.ok_or(StoreError::NotFound)?;
        let removed = remove_locked(&mut db, channel, user.0).await?;
        if !removed {
            return Ok(false);
        }
        let (name,): (String,) = db.one("SELECT username FROM users WHERE id = $1", args![user.0]).await?;
        let mut users = member_ids(&mut db, channel).await?;
        users.push(user.0);
        users.sort_unstable();
        let events = channel_events(&mut db, channel, &users, op, Some(&name)).await?;
        let told = fan_out(&mut db, &events, now).await?;
        db.commit().await?;
        self.committed_many(told);
        Ok(true)
    }

    /// Channels whose membership follows `group`.
    pub async fn chat_channels_following(&self, group: i64) -> StoreResult<Vec<i64>> {
        let mut db = Db::read(self).await?;
        let rows: Vec<(i64,)> =
            db.rows("SELECT id FROM chat_channels WHERE group_id = $1 ORDER BY id", args![group]).await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Brings a group-following channel's membership in step with its group: adds the group's
    /// members who are missing (`via_group`), removes members added through the group who left
    /// it; members added by hand stay. Each change is announced as a join or removal would be.
    pub async fn sync_chat_group(&self, channel: i64, now: DateTime<Utc>) -> StoreResult<SyncReport> {
        let mut db = Db::write(self).await?;
        lock_channel(&mut db, channel).await?.ok_or(StoreError::NotFound)?;
        let (group,): (Option<i64>,) =
            db.one("SELECT group_id FROM chat_channels WHERE id = $1", args![channel]).await?;
        let mut report = SyncReport::default();
        let Some(group) = group else { return Ok(report) };
        let missing: Vec<(i64, String)> = db
            .rows(
                "SELECT g.user_id, u.username FROM group_members g JOIN users u ON u.id = g.user_id \
                 WHERE g.group_id = $1 AND NOT EXISTS \
                 (SELECT 1 FROM chat_members m WHERE m.channel_id = $2 AND m.user_id = g.user_id) ORDER BY g.user_id",
                args![group, channel],
            )
            .await?;
        let gone: Vec<(i64, String)> = db
            .rows(
                "SELECT m.user_id, u.username FROM chat_members m JOIN users u ON u.id = m.user_id \
                 WHERE m.channel_id = $1 AND m.via_group AND NOT EXISTS \
                 (SELECT 1 FROM group_members g WHERE g.group_id = $2 AND g.user_id = m.user_id) ORDER BY m.user_id",
                args![channel, group],
            )
            .await?;
        let mut events = Vec::new();
        for (user, name) in &gone {
            remove_locked(&mut db, channel, *user).await?;
            let mut users = member_ids(&mut db, channel).await?;
            users.push(*user);
            users.sort_unstable();
            events.extend(channel_events(&mut db, channel, &users, "removed", Some(name)).await?);
            report.removed.push(UserId(*user));
        }
        for (user, name) in &missing {
            db.exec(
                "INSERT INTO chat_members (channel_id, user_id, role, joined_at, via_group) \
                 VALUES ($1, $2, 'member', $3, TRUE)",
                args![channel, *user, now],
            )
            .await?;
            let users = member_ids(&mut db, channel).await?;
            events.extend(channel_events(&mut db, channel, &users, "joined", Some(name)).await?);
            report.added.push(UserId(*user));
        }
        let told = fan_out(&mut db, &events, now).await?;
        db.commit().await?;
        self.committed_many(told);
        Ok(report)
    }
}

/// Deletes the membership and the user's thread follows in the channel (they can no longer
/// read it). The channel must be locked.
async fn remove_locked(db: &mut Db<'_>, channel: i64, user: i64) -> StoreResult<bool> {
    let n = db.exec("DELETE FROM chat_members WHERE channel_id = $1 AND user_id = $2", args![channel, user]).await?;
    if n > 0 {
        db.exec(
            "DELETE FROM chat_thread_follows WHERE user_id = $1 AND root_id IN \
             (SELECT id FROM chat_messages WHERE channel_id = $2)",
            args![user, channel],
        )
        .await?;
    }
    Ok(n > 0)
}
