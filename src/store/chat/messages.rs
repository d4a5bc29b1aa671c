//! Messages: send (numbered, idempotent by client id, mentions, thread bookkeeping), read one,
//! history pages, edit (keeping earlier versions) and delete (a tombstone).

use chrono::{DateTime, Utc};

use super::channels::channel_events;
use super::db::{Arg, Db, args, placeholders};
use super::read::ReadState;
use super::{
    Author, Event, Message, MessageRow, fan_out, load_message, load_messages, lock_channel, member_ids, message_of,
    payload, to_all,
};
use crate::store::push::Committed;
use crate::store::{Backend, Store, StoreError, StoreResult};

/// A message to store.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub channel: i64,
    pub author: Author,
    pub client_id: Option<String>,
    /// The message replied to (its thread's root, or a reply in it).
    pub thread: Option<i64>,
    pub text: String,
    /// Names mentioned with `@name` (members among them get mention rows); `@here` comes as
    /// the names of the members online at the time, which the chat service looks up.
    pub mentions: Vec<String>,
    /// `@channel` or `@all`: every member but the author is mentioned.
    pub mention_channel: bool,
    /// Uploaded files to attach (the author's, in this channel, not yet on a message).
    pub files: Vec<i64>,
}

/// What a send did.
#[derive(Debug, Clone)]
pub struct Sent {
    pub message: Message,
    /// False when `client_id` had been used already and `message` is the first one.
    pub created: bool,
}

/// One page of history.
#[derive(Debug, Clone)]
pub struct History {
    pub messages: Vec<Message>,
    pub has_more: bool,
}

/// Records who `text` mentions at `seq` (the channel must be locked).
async fn record_mentions(
    db: &mut Db<'_>,
    channel: i64,
    seq: i64,
    message: i64,
    author: Option<i64>,
    names: &[String],
    everyone: bool,
) -> StoreResult<()> {
    let author = author.unwrap_or(0);
    if everyone {
        db.exec(
            "INSERT INTO chat_mentions (channel_id, user_id, seq, message_id) \
             SELECT $1, user_id, $2, $3 FROM chat_members WHERE channel_id = $1 AND user_id <> $4 \
             ON CONFLICT DO NOTHING",
            args![channel, seq, message, author],
        )
        .await?;
    } else {
        // `@here` in a big channel names everyone online: in chunks, under both databases'
        // limits on bound parameters.
        for chunk in names.chunks(1000) {
            let mut values = args![channel, seq, message, author];
            values.extend(chunk.iter().map(|n| Arg::T(n.clone())));
            db.exec(
                &format!(
                    "INSERT INTO chat_mentions (channel_id, user_id, seq, message_id) \
                     SELECT $1, m.user_id, $2, $3 FROM chat_members m JOIN users u ON u.id = m.user_id \
                     WHERE m.channel_id = $1 AND m.user_id <> $4 AND u.username IN ({}) ON CONFLICT DO NOTHING",
                    placeholders(5, chunk.len())
                ),
                values,
            )
            .await?;
        }
    }
    Ok(())
}

/// The send of [`Store::send_chat_message`] inside its write transaction: the message and
/// what to tell this process after COMMIT.
async fn send(db: &mut Db<'_>, new: &NewMessage, now: DateTime<Utc>) -> StoreResult<(Sent, Vec<Committed>)> {
    // The message is built here rather than read back (below), so it must carry the time as
    // the database keeps it: PostgreSQL keeps microseconds.
    let now = chrono::DurationRound::duration_trunc(now, chrono::TimeDelta::microseconds(1)).unwrap_or(now);
    let (kind, archived) = lock_channel(db, new.channel).await?.ok_or(StoreError::NotFound)?;
    let (author_id, bot_name, bot_icon) = match &new.author {
        Author::User(u) => (Some(u.0), None, None),
        Author::Bot { name, icon_url, .. } => (None, Some(name.clone()), icon_url.clone()),
    };
    let mut person = None;
    if let Some(author) = author_id {
        person = db
            .opt::<(String, String)>(
                "SELECT u.username, u.display_name FROM chat_members m JOIN users u ON u.id = m.user_id \
                 WHERE m.channel_id = $1 AND m.user_id = $2",
                args![new.channel, author],
            )
            .await?;
        if person.is_none() {
            return Err(StoreError::NotFound);
        }
        if let Some(client_id) = &new.client_id {
            let first: Option<(i64,)> = db
                .opt(
                    "SELECT id FROM chat_messages WHERE channel_id = $1 AND author_id = $2 AND client_id = $3",
                    args![new.channel, author, client_id.clone()],
                )
                .await?;
            if let Some((id,)) = first {
                return Ok((Sent { message: load_message(db, id).await?, created: false }, Vec::new()));
            }
        }
    }
    if let (Author::Bot { bot: Some(bot), .. }, Some(client_id)) = (&new.author, &new.client_id) {
        let first: Option<(i64,)> = db
            .opt(
                "SELECT id FROM chat_messages WHERE channel_id = $1 AND bot_id = $2 AND client_id = $3",
                args![new.channel, *bot, client_id.clone()],
            )
            .await?;
        if let Some((id,)) = first {
            return Ok((Sent { message: load_message(db, id).await?, created: false }, Vec::new()));
        }
    }
    if archived.is_some() {
        return Err(StoreError::Conflict("archived".into()));
    }
    let root = match new.thread {
        None => None,
        Some(id) => {
            let row: Option<(i64, i64, Option<i64>)> =
                db.opt("SELECT id, channel_id, thread_root_id FROM chat_messages WHERE id = $1", args![id]).await?;
            match row {
                Some((id, channel, root)) if channel == new.channel => Some(root.unwrap_or(id)),
                _ => return Err(StoreError::NotFound),
            }
        }
    };
    let (seq,): (i64,) = db
        .one(
            "UPDATE chat_channels SET last_seq = last_seq + 1, last_message_at = $2 WHERE id = $1 RETURNING last_seq",
            args![new.channel, now],
        )
        .await?;
    let (id,): (i64,) = db
        .one(
            "INSERT INTO chat_messages (channel_id, seq, author_id, bot_name, bot_icon_url, client_id, \
             thread_root_id, body, created_at, mention_channel, bot_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
            args![
                new.channel,
                seq,
                author_id,
                bot_name.clone(),
                bot_icon.clone(),
                new.client_id.clone(),
                root,
                new.text.clone(),
                now,
                new.mention_channel,
                match &new.author {
                    Author::Bot { bot, .. } => *bot,
                    Author::User(_) => None,
                }
            ],
        )
        .await?;
    record_mentions(db, new.channel, seq, id, author_id, &new.mentions, new.mention_channel).await?;
    let message = if new.files.is_empty() {
        // A new message has no reactions, replies or files yet: it is what was just written,
        // without the four reads `load_message` takes.
        let (author_name, author_display) = person.unzip();
        message_of(MessageRow {
            id,
            channel_id: new.channel,
            seq,
            author_id,
            author_name,
            author_display,
            bot_name,
            bot_icon_url: bot_icon,
            client_id: new.client_id.clone(),
            thread_root_id: root,
            body: new.text.clone(),
            created_at: now,
            edited_at: None,
            deleted_at: None,
            pinned_at: None,
            reply_count: 0,
            last_reply_at: None,
        })
    } else {
        attach_files(db, author_id, new.channel, id, &new.files).await?;
        load_message(db, id).await?
    };
    if let Some(root) = root {
        db.exec(
            "UPDATE chat_messages SET reply_count = reply_count + 1, last_reply_at = $2 WHERE id = $1",
            args![root, now],
        )
        .await?;
        // The root's author follows from the first reply on (unless they unfollowed).
        db.exec(
            "INSERT INTO chat_thread_follows (root_id, user_id, following, last_read_seq) \
             SELECT id, author_id, TRUE, 0 FROM chat_messages WHERE id = $1 AND author_id IS NOT NULL \
             ON CONFLICT (root_id, user_id) DO NOTHING",
            args![root],
        )
        .await?;
        if let Some(author) = author_id {
            // Replying follows the thread again, read up to the reply.
            db.exec(
                "INSERT INTO chat_thread_follows (root_id, user_id, following, last_read_seq) \
                 VALUES ($1, $2, TRUE, $3) ON CONFLICT (root_id, user_id) \
                 DO UPDATE SET following = TRUE, last_read_seq = excluded.last_read_seq",
                args![root, author, seq],
            )
            .await?;
        }
    } else if let Some(author) = author_id {
        // Sending marks the sender's own read position at their message.
        db.exec(
            "UPDATE chat_members SET last_read_seq = $3 WHERE channel_id = $1 AND user_id = $2 AND last_read_seq < $3",
            args![new.channel, author, seq],
        )
        .await?;
    }
    let users = member_ids(db, new.channel).await?;
    let mut events = Vec::new();
    if kind == "dm" && seq == 1 {
        events.extend(channel_events(db, new.channel, &users, "joined", None).await?);
    }
    let data = payload(serde_json::json!({ "op": "new", "channel": new.channel, "message": message }));
    events.extend(to_all(&users, "chat.message", &data));
    if let Some(root) = root {
        let root = load_message(db, root).await?;
        let data = payload(serde_json::json!({ "op": "thread", "channel": new.channel, "message": root }));
        events.extend(to_all(&users, "chat.message", &data));
    }
    if let (Some(author), None) = (author_id, root) {
        // The author has read up to their own message, the channel's newest under its lock,
        // and nobody mentions themselves: nothing is unread (what `read_event` would count).
        let state = ReadState { channel: new.channel, thread: None, last_read_seq: seq, unread: 0, mentions: 0 };
        events.push(Event { user: author, kind: "chat.read", data: payload(serde_json::json!(state)) });
    }
    let told = fan_out(db, &events, now).await?;
    Ok((Sent { message, created: true }, told))
}

impl Store {
    /// Stores a message with the channel's next `seq` and announces it to every member
    /// (`chat.message` `new`; for a reply also `thread` with the updated root; for a DM's first
    /// message `chat.channel` `joined`, since the others did not see it before). A `client_id`
    /// the author used in this channel before returns that message, announcing nothing: the
    /// check runs under the channel's lock, so two racing retries cannot both insert.
    /// `NotFound` when the channel or thread is gone or a user author is not a member;
    /// `Conflict("archived")` when the channel is archived.
    pub async fn send_chat_message(&self, new: &NewMessage, now: DateTime<Utc>) -> StoreResult<Sent> {
        let (sent, told) = match &self.backend {
            // A busy channel sends many messages a second; each its own transaction would be
            // a COMMIT (an fsync) each on SQLite's one writer, so sends join the group commit.
            Backend::Sqlite { batcher, .. } => {
                let new = new.clone();
                batcher
                    .run(move |conn| Box::pin(async move { send(&mut Db::SqliteJob(conn), &new, now).await }))
                    .await?
            }
            Backend::Postgres(_) => {
                let mut db = Db::write(self).await?;
                let out = send(&mut db, new, now).await?;
                db.commit().await?;
                out
            }
        };
        self.committed_many(told);
        Ok(sent)
    }

    /// One message, whatever its channel (visibility is the caller's).
    pub async fn chat_message(&self, id: i64) -> StoreResult<Message> {
        let mut db = Db::read(self).await?;
        load_message(&mut db, id).await
    }

    /// Top-level messages by `seq`, oldest first: the newest `limit` before `before`, or the
    /// oldest `limit` after `after`, or the newest `limit`.
    pub async fn chat_history(
        &self,
        channel: i64,
        before: Option<i64>,
        after: Option<i64>,
        limit: i64,
    ) -> StoreResult<History> {
        let mut db = Db::read(self).await?;
        let forward = after.is_some() && before.is_none();
        let sql = if forward {
            "SELECT id FROM chat_messages WHERE channel_id = $1 AND thread_root_id IS NULL AND seq > $2 \
             ORDER BY seq LIMIT $3"
        } else {
            "SELECT id FROM chat_messages WHERE channel_id = $1 AND thread_root_id IS NULL AND seq < $2 \
             AND seq > $4 ORDER BY seq DESC LIMIT $3"
        };
        let bound = if forward { after.unwrap_or(0) } else { before.unwrap_or(i64::MAX) };
        let mut values = args![channel, bound, limit + 1];
        if !forward {
            values.push(Arg::I(after.unwrap_or(0)));
        }
        let mut ids: Vec<i64> = db.rows::<(i64,)>(sql, values).await?.into_iter().map(|(id,)| id).collect();
        let has_more = ids.len() as i64 > limit;
        ids.truncate(limit as usize);
        if !forward {
            ids.reverse();
        }
        Ok(History { messages: load_messages(&mut db, &ids).await?, has_more })
    }

    /// Replaces a message's text, keeping the old version; members get `chat.message` `edit`.
    pub async fn edit_chat_message(
        &self,
        id: i64,
        text: &str,
        mentions: &[String],
        mention_channel: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<Message> {
        let mut db = Db::write(self).await?;
        let (channel, seq, author, deleted): (i64, i64, Option<i64>, Option<DateTime<Utc>>) =
            db.one("SELECT channel_id, seq, author_id, deleted_at FROM chat_messages WHERE id = $1", args![id]).await?;
        let (_, archived) = lock_channel(&mut db, channel).await?.ok_or(StoreError::NotFound)?;
        if archived.is_some() {
            return Err(StoreError::Conflict("archived".into()));
        }
        if deleted.is_some() {
            return Err(StoreError::NotFound);
        }
        db.exec(
            "INSERT INTO chat_message_edits (message_id, body, replaced_at) SELECT id, body, $2 FROM chat_messages \
             WHERE id = $1",
            args![id, now],
        )
        .await?;
        db.exec(
            "UPDATE chat_messages SET body = $2, edited_at = $3, mention_channel = $4 WHERE id = $1",
            args![id, text.to_string(), now, mention_channel],
        )
        .await?;
        db.exec("DELETE FROM chat_mentions WHERE message_id = $1", args![id]).await?;
        record_mentions(&mut db, channel, seq, id, author, mentions, mention_channel).await?;
        let message = load_message(&mut db, id).await?;
        let told = self.announce_message(&mut db, channel, "edit", &message, now).await?;
        db.commit().await?;
        self.committed_many(told);
        Ok(message)
    }

    /// Deletes a message, leaving a tombstone (no text, reactions, mentions, pin or earlier
    /// versions); members get `chat.message` `delete`.
    pub async fn delete_chat_message(&self, id: i64, now: DateTime<Utc>) -> StoreResult<Message> {
        let mut db = Db::write(self).await?;
        let (channel,): (i64,) = db.one("SELECT channel_id FROM chat_messages WHERE id = $1", args![id]).await?;
        let (_, archived) = lock_channel(&mut db, channel).await?.ok_or(StoreError::NotFound)?;
        if archived.is_some() {
            return Err(StoreError::Conflict("archived".into()));
        }
        let n = db
            .exec(
                "UPDATE chat_messages SET body = '', deleted_at = $2, mention_channel = FALSE, pinned_at = NULL, \
                 pinned_by = NULL WHERE id = $1 AND deleted_at IS NULL",
                args![id, now],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        for table in ["chat_mentions", "chat_reactions", "chat_message_edits"] {
            db.exec(&format!("DELETE FROM {table} WHERE message_id = $1"), args![id]).await?;
        }
        let message = load_message(&mut db, id).await?;
        let mut told = self.announce_message(&mut db, channel, "delete", &message, now).await?;
        if let Some(root) = message.thread {
            // The root counts the replies still there, as a send counted them in; its
            // participants already leave deleted replies out (`load_messages`).
            db.exec(
                "UPDATE chat_messages SET \
                 reply_count = (SELECT COUNT(*) FROM chat_messages r WHERE r.thread_root_id = $1 AND r.deleted_at IS NULL), \
                 last_reply_at = (SELECT MAX(r.created_at) FROM chat_messages r \
                   WHERE r.thread_root_id = $1 AND r.deleted_at IS NULL) \
                 WHERE id = $1",
                args![root],
            )
            .await?;
            let root = load_message(&mut db, root).await?;
            told.extend(self.announce_message(&mut db, channel, "thread", &root, now).await?);
        }
        db.commit().await?;
        self.committed_many(told);
        Ok(message)
    }

    /// Earlier versions of a message, oldest first: `(text, replaced_at)`.
    pub async fn chat_message_history(&self, id: i64) -> StoreResult<Vec<(String, DateTime<Utc>)>> {
        let mut db = Db::read(self).await?;
        db.rows(
            "SELECT body, replaced_at FROM chat_message_edits WHERE message_id = $1 ORDER BY replaced_at",
            args![id],
        )
        .await
    }

    /// `chat.message` `op` with `message` to every member (the channel must be locked).
    pub(crate) async fn announce_message(
        &self,
        db: &mut Db<'_>,
        channel: i64,
        op: &str,
        message: &Message,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Committed>> {
        let users = member_ids(db, channel).await?;
        let data = payload(serde_json::json!({ "op": op, "channel": channel, "message": message }));
        let events: Vec<Event> = to_all(&users, "chat.message", &data);
        fan_out(db, &events, now).await
    }
}

/// Attaches uploaded files to the message `message` in the send's transaction: each must be
/// the author's, in this channel and on no message yet (else 422, and the send rolls back).
pub(crate) async fn attach_files(
    db: &mut Db<'_>,
    author: Option<i64>,
    channel: i64,
    message: i64,
    ids: &[i64],
) -> StoreResult<()> {
    let Some(author) = author else {
        return Err(StoreError::Invalid("files: only people attach files".into()));
    };
    if ids.len() > crate::store::chat_files::MAX_FILES_PER_MESSAGE {
        return Err(StoreError::Invalid(format!(
            "a message carries at most {} files",
            crate::store::chat_files::MAX_FILES_PER_MESSAGE
        )));
    }
    for (i, id) in ids.iter().enumerate() {
        if ids[..i].contains(id) {
            return Err(StoreError::Invalid(format!("file {id} is named twice")));
        }
        let attached = db
            .exec(
                "UPDATE chat_files SET message_id = $1 \
                 WHERE id = $2 AND channel_id = $3 AND uploader_id = $4 AND message_id IS NULL",
                args![message, *id, channel, author],
            )
            .await?;
        if attached == 0 {
            return Err(StoreError::Invalid(format!(
                "file {id} is not one you uploaded to this channel, or is already on a message"
            )));
        }
    }
    Ok(())
}
