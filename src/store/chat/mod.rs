//! Team chat storage: channels, members with read state, messages numbered per channel, edits,
//! reactions, pins, mentions and thread follows, and the push events every change writes.
//!
//! Ordering and fan-out (the guarantees docs/chat.md promises): every write first locks its
//! channel's row (a message also takes the channel's next `seq` there), then writes, then
//! appends one event per recipient to their push log (see [`fan_out`]): the heads of all
//! recipients are bumped in ascending user id order, last before COMMIT. The channel lock makes
//! each member's log list one channel's changes in the channel's order; taking heads in one
//! global order (after at most one channel lock, or several in id order) is what keeps two
//! channels' writes, and calendar writes, from deadlocking. Recipients are the members at write
//! time, so a member removed in an earlier transaction gets nothing more.
//!
//! The JSON shapes of docs/chat.md ([`Channel`], [`Message`]) are built here because event
//! payloads are written inside the transaction, and must be the full objects so clients need no
//! refetch. Files: `channels`, `members`, `messages`, `reactions` (reactions and pins),
//! `threads`, `read`; `db` runs one statement on either backend; `text` is the seam to the pure
//! chat crate.

mod channels;
pub(crate) use super::db;
mod members;
mod messages;
mod reactions;
mod read;
pub mod text;
mod threads;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use self::db::{Arg, Db, args, placeholders};
use super::push::{Committed, PushEvent};
use super::{Store, StoreResult};
use crate::domain::UserId;

pub use channels::{ChannelPatch, NewChannel};
pub(crate) use messages::attach_files;
pub use messages::{History, NewMessage, Sent};
pub use read::ReadState;
pub use threads::{FollowedThread, ThreadPage};

/// Who wrote a message: a user, or a webhook or bot posting under a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Author {
    User(UserId),
    /// A webhook post (`bot: None`) or a bot's, under `name`.
    Bot {
        name: String,
        icon_url: Option<String>,
        bot: Option<i64>,
    },
}

/// A member's role in a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChannelRole {
    Member,
    Admin,
}

impl ChannelRole {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelRole::Member => "member",
            ChannelRole::Admin => "admin",
        }
    }

    fn parse(s: &str) -> ChannelRole {
        if s == "admin" { ChannelRole::Admin } else { ChannelRole::Member }
    }
}

/// A channel or DM as docs/chat.md shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Channel {
    pub id: i64,
    /// `public`, `private` or `dm`.
    #[schema(example = "public")]
    pub kind: String,
    /// Lower case; `null` for DMs.
    pub name: Option<String>,
    pub topic: String,
    pub purpose: String,
    /// The group whose members the channel's membership follows.
    pub group: Option<String>,
    pub archived: bool,
    pub created_at: DateTime<Utc>,
    pub member_count: i64,
    /// DMs only: everyone in it, by name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<String>>,
    pub last_seq: i64,
    pub last_message_at: Option<DateTime<Utc>>,
    /// The signed-in user's role (absent when not a member).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<ChannelRole>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_read_seq: Option<i64>,
    /// Top-level messages by others after `last_read_seq` (counted over the newest 1000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unread: Option<i64>,
    /// Messages after `last_read_seq` that mention the user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mentions: Option<i64>,
    /// `GET /channels/browse` only: whether the user is a member.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member: Option<bool>,
    /// Who created it (not shown).
    #[serde(skip)]
    pub created_by: Option<i64>,
    #[serde(skip)]
    pub group_id: Option<i64>,
}

impl Channel {
    pub fn is_dm(&self) -> bool {
        self.kind == "dm"
    }

    /// Public channels are visible to everyone; private ones and DMs to members only.
    pub fn visible(&self) -> bool {
        self.kind == "public" || self.role.is_some()
    }

    /// The same channel without the per-user fields (for payloads several users share).
    fn shared(&self) -> Channel {
        Channel { role: None, last_read_seq: None, unread: None, mentions: None, member: None, ..self.clone() }
    }
}

/// A message author.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Person {
    pub name: String,
    pub display_name: String,
}

/// A webhook or bot that posted a message.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Bot {
    pub name: String,
    pub icon_url: Option<String>,
}

/// One emoji's reactions on a message.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Reaction {
    pub emoji: String,
    pub count: i64,
    /// Who reacted, in the order they did.
    pub users: Vec<String>,
}

/// A message as docs/chat.md shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Message {
    pub id: i64,
    pub channel: i64,
    pub seq: i64,
    /// `null` for webhook and bot posts.
    pub author: Option<Person>,
    pub bot: Option<Bot>,
    /// Markdown source; empty once deleted.
    pub text: String,
    /// `text` rendered (an allow-list of elements, never active content).
    pub html: String,
    pub created_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    pub deleted: bool,
    /// The root message's id, for a reply.
    pub thread: Option<i64>,
    pub reply_count: i64,
    pub last_reply_at: Option<DateTime<Utc>>,
    /// Everyone who replied, by name.
    pub participants: Vec<String>,
    pub reactions: Vec<Reaction>,
    pub pinned: bool,
    /// Users mentioned by name.
    pub mentions: Vec<String>,
    /// `@channel` or `@all`: every member but the author is mentioned.
    pub mention_channel: bool,
    /// `@here`: the members who were online when it was sent (or last edited) are mentioned.
    pub mention_here: bool,
    /// Files attached to the message (uploaded first, attached by the send).
    pub files: Vec<crate::store::chat_files::ChatFile>,
    pub client_id: Option<String>,
    /// The author's user id (not shown; permissions).
    #[serde(skip)]
    pub author_id: Option<i64>,
}

/// `{name, display_name, role}` of a channel member.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Member {
    pub name: String,
    pub display_name: String,
    pub role: ChannelRole,
    #[serde(skip)]
    pub user_id: i64,
}

/// One event for one user's push log.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub user: i64,
    pub kind: &'static str,
    pub data: String,
}

/// Appends `events` to their users' push logs in the open transaction `db` and returns what
/// it appended per user (to tell this process after COMMIT, `Store::committed_many`). Call it
/// last before COMMIT.
///
/// Each recipient's head is bumped by their number of events in one multi-row upsert, with
/// the rows in ascending user id order so that every writer locks heads in the same order
/// (PostgreSQL takes row locks in the order it inserts); then the events are inserted with the
/// numbers the heads returned. SQLite has one writer, so order only matters on PostgreSQL, but
/// the SQL is the same on both.
pub(crate) async fn fan_out(db: &mut Db<'_>, events: &[Event], now: DateTime<Utc>) -> StoreResult<Vec<Committed>> {
    let mut counts: std::collections::BTreeMap<i64, i64> = std::collections::BTreeMap::new();
    for e in events {
        *counts.entry(e.user).or_default() += 1;
    }
    let users: Vec<(i64, i64)> = counts.into_iter().collect();
    let mut heads: HashMap<i64, i64> = HashMap::with_capacity(users.len());
    for chunk in users.chunks(500) {
        let values: Vec<String> = (0..chunk.len()).map(|i| format!("(${}, ${})", 2 * i + 1, 2 * i + 2)).collect();
        let sql = format!(
            "INSERT INTO push_heads (user_id, seq) VALUES {} \
             ON CONFLICT (user_id) DO UPDATE SET seq = push_heads.seq + excluded.seq RETURNING user_id, seq",
            values.join(", ")
        );
        let args: Vec<Arg> = chunk.iter().flat_map(|&(u, n)| [Arg::I(u), Arg::I(n)]).collect();
        for (user, seq) in db.rows::<(i64, i64)>(&sql, args).await? {
            heads.insert(user, seq);
        }
    }
    // Numbers per user: head - count + 1 … head, in the order the events were given.
    let mut next: HashMap<i64, i64> =
        users.iter().map(|&(u, n)| (u, heads.get(&u).copied().unwrap_or(n) - n + 1)).collect();
    let rows: Vec<(i64, i64, &Event)> = events
        .iter()
        .map(|e| {
            let n = next.entry(e.user).or_insert(1);
            let seq = *n;
            *n += 1;
            (e.user, seq, e)
        })
        .collect();
    // A payload several users get (a message to a channel's members) is written once and
    // their rows point at it; one only a single user gets stays in its row.
    let mut shared: HashMap<&str, (usize, Option<i64>)> = HashMap::new();
    for e in events {
        shared.entry(e.data.as_str()).or_insert((0, None)).0 += 1;
    }
    for (data, (n, id)) in shared.iter_mut() {
        if *n > 1 {
            let (payload,): (i64,) = db
                .one(
                    "INSERT INTO push_payloads (data, created_at) VALUES ($1, $2) RETURNING id",
                    args![data.to_string(), now],
                )
                .await?;
            *id = Some(payload);
        }
    }
    for chunk in rows.chunks(400) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| {
                let a = 6 * i;
                format!("(${}, ${}, ${}, ${}, ${}, ${})", a + 1, a + 2, a + 3, a + 4, a + 5, a + 6)
            })
            .collect();
        let sql = format!(
            "INSERT INTO push_events (user_id, seq, kind, data, created_at, payload_id) VALUES {}",
            values.join(", ")
        );
        let args: Vec<Arg> = chunk
            .iter()
            .flat_map(|(u, seq, e)| {
                let payload = shared.get(e.data.as_str()).and_then(|&(_, id)| id);
                let data = if payload.is_some() { String::new() } else { e.data.clone() };
                [Arg::I(*u), Arg::I(*seq), Arg::T(e.kind.into()), Arg::T(data), Arg::D(now), Arg::OI(payload)]
            })
            .collect();
        db.exec(&sql, args).await?;
    }
    let mut told: std::collections::BTreeMap<i64, Vec<PushEvent>> = std::collections::BTreeMap::new();
    for (user, seq, e) in rows {
        told.entry(user).or_default().push(PushEvent { seq, kind: e.kind.to_string(), data: e.data.clone() });
    }
    Ok(told.into_iter().map(|(user, events)| Committed { user: UserId(user), events }).collect())
}

/// `{"op": op, key: value, …}` as JSON text.
pub(crate) fn payload(fields: serde_json::Value) -> String {
    fields.to_string()
}

/// The same event for every user in `users`.
pub(crate) fn to_all(users: &[i64], kind: &'static str, data: &str) -> Vec<Event> {
    users.iter().map(|&user| Event { user, kind, data: data.to_string() }).collect()
}

/// The channel's members' ids, ascending.
pub(crate) async fn member_ids(db: &mut Db<'_>, channel: i64) -> StoreResult<Vec<i64>> {
    let rows: Vec<(i64,)> =
        db.rows("SELECT user_id FROM chat_members WHERE channel_id = $1 ORDER BY user_id", args![channel]).await?;
    Ok(rows.into_iter().map(|(u,)| u).collect())
}

/// Locks the channel's row for the rest of the transaction (see the module comment): every
/// chat write takes it first. `None` if there is no such channel.
pub(crate) async fn lock_channel(
    db: &mut Db<'_>,
    channel: i64,
) -> StoreResult<Option<(String, Option<DateTime<Utc>>)>> {
    db.opt("UPDATE chat_channels SET last_seq = last_seq WHERE id = $1 RETURNING kind, archived_at", args![channel])
        .await
}

impl Store {
    /// Messages by id, in the order of `ids`, as the API shows them. The caller has already
    /// decided the user may see them (search filters by membership in its own query).
    pub async fn chat_messages_by_id(&self, ids: &[i64]) -> StoreResult<Vec<Message>> {
        let mut db = Db::read(self).await?;
        load_messages(&mut db, ids).await
    }
}

#[derive(sqlx::FromRow)]
struct MessageRow {
    id: i64,
    channel_id: i64,
    seq: i64,
    author_id: Option<i64>,
    author_name: Option<String>,
    author_display: Option<String>,
    bot_name: Option<String>,
    bot_icon_url: Option<String>,
    client_id: Option<String>,
    thread_root_id: Option<i64>,
    body: String,
    created_at: DateTime<Utc>,
    edited_at: Option<DateTime<Utc>>,
    deleted_at: Option<DateTime<Utc>>,
    pinned_at: Option<DateTime<Utc>>,
    reply_count: i64,
    last_reply_at: Option<DateTime<Utc>>,
}

/// The columns of [`MessageRow`], for `FROM chat_messages m LEFT JOIN users u ON u.id = m.author_id`.
pub(crate) const MESSAGE_COLUMNS: &str = "m.id, m.channel_id, m.seq, m.author_id, u.username AS author_name, \
     u.display_name AS author_display, m.bot_name, m.bot_icon_url, m.client_id, m.thread_root_id, m.body, \
     m.created_at, m.edited_at, m.deleted_at, m.pinned_at, m.reply_count, m.last_reply_at";

/// Messages by id with their reactions and participants, in the order of `ids`.
pub(crate) async fn load_messages(db: &mut Db<'_>, ids: &[i64]) -> StoreResult<Vec<Message>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = placeholders(1, ids.len());
    let id_args = || ids.iter().map(|&i| Arg::I(i)).collect::<Vec<_>>();
    let rows: Vec<MessageRow> = db
        .rows(
            &format!(
                "SELECT {MESSAGE_COLUMNS} FROM chat_messages m LEFT JOIN users u ON u.id = m.author_id \
                 WHERE m.id IN ({list})"
            ),
            id_args(),
        )
        .await?;
    let reactions: Vec<(i64, String, String)> = db
        .rows(
            &format!(
                "SELECT r.message_id, r.emoji, u.username FROM chat_reactions r JOIN users u ON u.id = r.user_id \
                 WHERE r.message_id IN ({list}) ORDER BY r.message_id, r.created_at, u.username"
            ),
            id_args(),
        )
        .await?;
    let participants: Vec<(i64, String)> = db
        .rows(
            &format!(
                "SELECT DISTINCT m.thread_root_id, u.username FROM chat_messages m JOIN users u ON u.id = m.author_id \
                 WHERE m.thread_root_id IN ({list}) AND m.deleted_at IS NULL ORDER BY u.username"
            ),
            id_args(),
        )
        .await?;
    let mut by_id: HashMap<i64, Message> = rows.into_iter().map(|r| (r.id, message_of(r))).collect();
    for (id, emoji, user) in reactions {
        let Some(m) = by_id.get_mut(&id) else { continue };
        match m.reactions.iter_mut().find(|r| r.emoji == emoji) {
            Some(r) => {
                r.count += 1;
                r.users.push(user);
            }
            None => m.reactions.push(Reaction { emoji, count: 1, users: vec![user] }),
        }
    }
    for (root, user) in participants {
        if let Some(m) = by_id.get_mut(&root) {
            m.participants.push(user);
        }
    }
    let files: Vec<crate::store::chat_files::ChatFile> = db
        .rows(
            &format!(
                "SELECT {} FROM chat_files f WHERE f.message_id IN ({list}) ORDER BY f.id",
                crate::store::chat_files::COLUMNS
            ),
            id_args(),
        )
        .await?;
    for file in files {
        // A tombstone keeps no attachment in sight (the rows stay until the channel goes).
        if let Some(m) = file.message_id.and_then(|id| by_id.get_mut(&id)).filter(|m| !m.deleted) {
            m.files.push(file);
        }
    }
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

pub(crate) async fn load_message(db: &mut Db<'_>, id: i64) -> StoreResult<Message> {
    load_messages(db, &[id]).await?.pop().ok_or(super::StoreError::NotFound)
}

fn message_of(r: MessageRow) -> Message {
    let deleted = r.deleted_at.is_some();
    // Read from the text, as the mention rows were written from it, rather than from the
    // `mention_channel` column: rows written before `@here` stopped meaning everyone say true
    // for it.
    let mentions = if deleted { text::Mentions::default() } else { text::extract(&r.body) };
    Message {
        id: r.id,
        channel: r.channel_id,
        seq: r.seq,
        author: match (r.author_name, r.author_display) {
            (Some(name), Some(display_name)) => Some(Person { name, display_name }),
            _ => None,
        },
        bot: r.bot_name.map(|name| Bot { name, icon_url: r.bot_icon_url }),
        html: if deleted { String::new() } else { text::render(&r.body) },
        text: r.body,
        created_at: r.created_at,
        edited_at: r.edited_at,
        deleted,
        thread: r.thread_root_id,
        reply_count: r.reply_count,
        last_reply_at: r.last_reply_at,
        participants: Vec::new(),
        reactions: Vec::new(),
        pinned: r.pinned_at.is_some(),
        mentions: mentions.users,
        mention_channel: mentions.channel,
        mention_here: mentions.here,
        files: Vec::new(),
        client_id: r.client_id,
        author_id: r.author_id,
    }
}
