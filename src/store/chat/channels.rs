//! Channels and DMs: create, read for a user (with their read state), list, browse, change.

use chrono::{DateTime, Utc};

use super::db::{Arg, Db, args};
use super::{Channel, ChannelRole, Event, fan_out, lock_channel, member_ids, payload};
use crate::domain::UserId;
use crate::store::{Store, StoreError, StoreResult};

/// A channel to create, with its first members (the creator among them).
#[derive(Debug, Clone)]
pub struct NewChannel {
    /// `public`, `private` or `dm`.
    pub kind: String,
    /// Validated and lower-cased; `None` for a DM.
    pub name: Option<String>,
    pub topic: String,
    pub purpose: String,
    pub group_id: Option<i64>,
    pub created_by: UserId,
    /// For DMs: the sorted member ids, comma-separated.
    pub dm_key: Option<String>,
    /// Members and roles; `via_group` marks those added because the channel follows a group.
    pub members: Vec<(UserId, ChannelRole, bool)>,
}

/// Changes to a channel; `None` leaves a field alone. `group: Some(None)` stops following.
#[derive(Debug, Clone, Default)]
pub struct ChannelPatch {
    pub name: Option<String>,
    pub topic: Option<String>,
    pub purpose: Option<String>,
    pub archived: Option<bool>,
    pub group: Option<Option<i64>>,
}

#[derive(sqlx::FromRow)]
struct ChannelRow {
    id: i64,
    kind: String,
    name: Option<String>,
    topic: String,
    purpose: String,
    group_id: Option<i64>,
    group_name: Option<String>,
    created_by: Option<i64>,
    created_at: DateTime<Utc>,
    archived_at: Option<DateTime<Utc>>,
    last_seq: i64,
    last_message_at: Option<DateTime<Utc>>,
    member_count: i64,
    role: Option<String>,
    last_read_seq: Option<i64>,
    unread: i64,
    mentions: i64,
}

/// A channel with the read state of the user `$1` (when a member). Unread messages are
/// counted over the newest 1000 numbers only, so a huge backlog is still one bounded index
/// range (`chat_messages (channel_id, seq)`).
const CHANNEL_SELECT: &str = "SELECT c.id, c.kind, c.name, c.topic, c.purpose, c.group_id, g.name AS group_name, \
     c.created_by, c.created_at, c.archived_at, c.last_seq, c.last_message_at, \
     (SELECT COUNT(*) FROM chat_members a WHERE a.channel_id = c.id) AS member_count, \
     m.role, m.last_read_seq, \
     (SELECT COUNT(*) FROM chat_messages x WHERE x.channel_id = c.id AND x.seq > m.last_read_seq \
        AND x.seq > c.last_seq - 1000 AND x.thread_root_id IS NULL AND x.deleted_at IS NULL \
        AND (x.author_id IS NULL OR x.author_id <> m.user_id)) AS unread, \
     (SELECT COUNT(*) FROM chat_mentions n WHERE n.user_id = m.user_id AND n.channel_id = c.id \
        AND n.seq > m.last_read_seq) AS mentions \
     FROM chat_channels c LEFT JOIN groups g ON g.id = c.group_id \
     LEFT JOIN chat_members m ON m.channel_id = c.id AND m.user_id = $1";

fn channel_of(r: ChannelRow) -> Channel {
    let member = r.role.is_some();
    Channel {
        id: r.id,
        kind: r.kind,
        name: r.name,
        topic: r.topic,
        purpose: r.purpose,
        group: r.group_name,
        archived: r.archived_at.is_some(),
        created_at: r.created_at,
        member_count: r.member_count,
        members: None,
        last_seq: r.last_seq,
        last_message_at: r.last_message_at,
        role: r.role.as_deref().map(ChannelRole::parse),
        last_read_seq: r.last_read_seq,
        unread: member.then_some(r.unread),
        mentions: member.then_some(r.mentions),
        member: None,
        created_by: r.created_by,
        group_id: r.group_id,
    }
}

/// Fills in `members` of DMs.
async fn with_dm_members(db: &mut Db<'_>, mut channels: Vec<Channel>) -> StoreResult<Vec<Channel>> {
    for c in channels.iter_mut().filter(|c| c.is_dm()) {
        let names: Vec<(String,)> = db
            .rows(
                "SELECT u.username FROM chat_members m JOIN users u ON u.id = m.user_id WHERE m.channel_id = $1 \
                 ORDER BY u.username",
                args![c.id],
            )
            .await?;
        c.members = Some(names.into_iter().map(|(n,)| n).collect());
    }
    Ok(channels)
}

/// The channel `id` as `user` sees it (their fields set when a member), visible or not.
pub(crate) async fn load_channel(db: &mut Db<'_>, user: i64, id: i64) -> StoreResult<Option<Channel>> {
    let row: Option<ChannelRow> = db.opt(&format!("{CHANNEL_SELECT} WHERE c.id = $2"), args![user, id]).await?;
    let Some(row) = row else { return Ok(None) };
    Ok(with_dm_members(db, vec![channel_of(row)]).await?.pop())
}

/// `chat.channel` events for `users` (ascending): the channel with each recipient's role and
/// read position (members only; `unread` and `mentions` come with `chat.read`).
pub(crate) async fn channel_events(
    db: &mut Db<'_>,
    channel: i64,
    users: &[i64],
    op: &str,
    who: Option<&str>,
) -> StoreResult<Vec<Event>> {
    let Some(base) = load_channel(db, 0, channel).await? else { return Ok(Vec::new()) };
    let base = base.shared();
    let roles: Vec<(i64, String, i64)> =
        db.rows("SELECT user_id, role, last_read_seq FROM chat_members WHERE channel_id = $1", args![channel]).await?;
    let roles: std::collections::HashMap<i64, (String, i64)> = roles.into_iter().map(|(u, r, s)| (u, (r, s))).collect();
    Ok(users
        .iter()
        .map(|&user| {
            let mut c = base.clone();
            if let Some((role, seq)) = roles.get(&user) {
                c.role = Some(ChannelRole::parse(role));
                c.last_read_seq = Some(*seq);
            }
            let mut data = serde_json::json!({ "op": op, "channel": c });
            if let Some(who) = who {
                data["user"] = serde_json::Value::from(who);
            }
            Event { user, kind: "chat.channel", data: payload(data) }
        })
        .collect())
}

impl Store {
    /// The channel as `user` sees it, `None` if it does not exist (visibility is the caller's).
    pub async fn chat_channel(&self, user: UserId, id: i64) -> StoreResult<Option<Channel>> {
        let mut db = super::Db::read(self).await?;
        load_channel(&mut db, user.0, id).await
    }

    /// The user's channels and DMs. A DM shows up for the others once it has a message.
    pub async fn chat_channels(&self, user: UserId) -> StoreResult<Vec<Channel>> {
        let mut db = super::Db::read(self).await?;
        let rows: Vec<ChannelRow> = db
            .rows(
                &format!(
                    "{CHANNEL_SELECT} WHERE m.user_id IS NOT NULL \
                     AND (c.kind <> 'dm' OR c.last_seq > 0 OR c.created_by = $1) \
                     ORDER BY c.kind = 'dm', c.name, c.last_message_at DESC, c.id"
                ),
                args![user.0],
            )
            .await?;
        with_dm_members(&mut db, rows.into_iter().map(channel_of).collect()).await
    }

    /// Public channels whose name contains `q`, by name after `after`, at most `limit`.
    pub async fn chat_browse(
        &self,
        user: UserId,
        q: &str,
        after: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<Channel>> {
        let mut db = super::Db::read(self).await?;
        let pattern = format!("%{}%", q.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        let rows: Vec<ChannelRow> = db
            .rows(
                &format!(
                    "{CHANNEL_SELECT} WHERE c.kind = 'public' AND c.name LIKE $2 ESCAPE '\\' AND c.name > $3 \
                     ORDER BY c.name LIMIT $4"
                ),
                args![user.0, pattern, after.unwrap_or("").to_string(), limit],
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(channel_of)
            .map(|mut c| {
                c.member = Some(c.role.is_some());
                c
            })
            .collect())
    }

    /// The DM with exactly these members (`key`: their sorted ids), if there is one.
    pub async fn chat_dm_by_key(&self, key: &str) -> StoreResult<Option<i64>> {
        let mut db = super::Db::read(self).await?;
        Ok(db.opt::<(i64,)>("SELECT id FROM chat_channels WHERE dm_key = $1", args![key]).await?.map(|(id,)| id))
    }

    /// Creates a channel with its members; they get `chat.channel` `joined` (DMs are
    /// announced with their first message instead). A taken name or DM key is a `Conflict`.
    pub async fn create_chat_channel(&self, new: &NewChannel, now: DateTime<Utc>) -> StoreResult<i64> {
        let mut db = super::Db::write(self).await?;
        let (id,): (i64,) = db
            .one(
                "INSERT INTO chat_channels (kind, name, dm_key, topic, purpose, group_id, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                args![
                    new.kind.clone(),
                    new.name.clone(),
                    new.dm_key.clone(),
                    new.topic.clone(),
                    new.purpose.clone(),
                    new.group_id,
                    new.created_by.0,
                    now
                ],
            )
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => StoreError::Conflict("a channel with this name already exists".into()),
                e => e,
            })?;
        let mut members = new.members.clone();
        members.sort_by_key(|(u, _, _)| u.0);
        members.dedup_by_key(|(u, _, _)| u.0);
        for (user, role, via_group) in &members {
            db.exec(
                "INSERT INTO chat_members (channel_id, user_id, role, joined_at, via_group) VALUES ($1, $2, $3, $4, $5)",
                args![id, user.0, role.as_str(), now, *via_group],
            )
            .await?;
        }
        let mut told = Vec::new();
        if new.kind != "dm" {
            let users = member_ids(&mut db, id).await?;
            let events = channel_events(&mut db, id, &users, "joined", None).await?;
            told = fan_out(&mut db, &events, now).await?;
        }
        db.commit().await?;
        self.committed_many(told);
        Ok(id)
    }

    /// Applies `patch`; members get `chat.channel` `updated` (or `archived`).
    pub async fn update_chat_channel(&self, id: i64, patch: &ChannelPatch, now: DateTime<Utc>) -> StoreResult<()> {
        let mut db = super::Db::write(self).await?;
        lock_channel(&mut db, id).await?.ok_or(StoreError::NotFound)?;
        let mut sets: Vec<&str> = Vec::new();
        let mut values: Vec<Arg> = vec![Arg::I(id)];
        let mut push = |column: &'static str, value: Arg, sets: &mut Vec<&str>| {
            values.push(value);
            sets.push(column);
        };
        if let Some(name) = &patch.name {
            push("name", Arg::T(name.clone()), &mut sets);
        }
        if let Some(topic) = &patch.topic {
            push("topic", Arg::T(topic.clone()), &mut sets);
        }
        if let Some(purpose) = &patch.purpose {
            push("purpose", Arg::T(purpose.clone()), &mut sets);
        }
        if let Some(archived) = patch.archived {
            push("archived_at", Arg::OD(archived.then_some(now)), &mut sets);
        }
        if let Some(group) = patch.group {
            push("group_id", Arg::OI(group), &mut sets);
        }
        if !sets.is_empty() {
            let assignments: Vec<String> =
                sets.iter().enumerate().map(|(i, column)| format!("{column} = ${}", i + 2)).collect();
            db.exec(&format!("UPDATE chat_channels SET {} WHERE id = $1", assignments.join(", ")), values)
                .await
                .map_err(|e| match e {
                    StoreError::Conflict(_) => StoreError::Conflict("a channel with this name already exists".into()),
                    e => e,
                })?;
        }
        let op = match patch.archived {
            Some(true) => "archived",
            _ => "updated",
        };
        let users = member_ids(&mut db, id).await?;
        let events = channel_events(&mut db, id, &users, op, None).await?;
        let told = fan_out(&mut db, &events, now).await?;
        db.commit().await?;
        self.committed_many(told);
        Ok(())
    }
}
