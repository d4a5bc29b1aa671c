//! The message index of linked accounts (`mail_messages`, `mail_thread_refs`): what a sync found,
//! what lists and conversations read. Every read joins `mail_accounts` on the user, so another
//! user's message is `NotFound` like a missing one.
//!
//! Writes come in batches from the sync (`src/mail/index.rs`), each one transaction that also
//! appends a `mail.changed` event to the owner's push log, so an open web client refreshes the
//! folder it shows.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use madang_mail::summary::Summary;
use madang_mail::thread;

use super::chat::{Event, fan_out};
use super::db::{Arg, Db, args, placeholders};
use super::mail::MailFolderRow;
use super::{Store, StoreError, StoreResult};
use crate::domain::UserId;

/// A message as a sync fetched it.
#[derive(Debug, Clone)]
pub struct NewMailMessage {
    pub uid: i64,
    pub modseq: Option<i64>,
    /// As the server spells them (`\Seen`, `$Forwarded`, `Work`).
    pub flags: Vec<String>,
    /// INTERNALDATE.
    pub received_at: DateTime<Utc>,
    pub size: i64,
    pub has_attachments: bool,
    pub summary: Summary,
}

/// One indexed message.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MailMessageRow {
    pub id: i64,
    pub account_id: i64,
    pub folder_id: i64,
    pub uid: i64,
    pub flags: String,
    pub seen: bool,
    pub flagged: bool,
    pub answered: bool,
    pub draft: bool,
    pub received_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub from_name: String,
    pub from_email: String,
    /// JSON `[{name, email}]`.
    pub to_list: String,
    pub cc_list: String,
    pub subject: String,
    pub message_id: Option<String>,
    pub in_reply_to: Option<String>,
    /// Space-separated Message-IDs.
    pub refs: String,
    pub size: i64,
    pub has_attachments: bool,
    pub preview: String,
    pub thread_id: i64,
}

const COLUMNS: &str = "m.id, m.account_id, m.folder_id, m.uid, m.flags, m.seen, m.flagged, m.answered, m.draft, \
                       m.received_at, m.sent_at, m.from_name, m.from_email, m.to_list, m.cc_list, m.subject, \
                       m.message_id, m.in_reply_to, m.refs, m.size, m.has_attachments, m.preview, m.thread_id";

/// The recipients as searchable text: `to_list` and `cc_list` are JSON, and their keys must not
/// match (a search for "name" would find every message).
const RECIPIENTS: &str = "REPLACE(REPLACE(LOWER(m.to_list || m.cc_list), '\"name\":', ''), '\"email\":', '')";

/// Which messages a list shows.
#[derive(Debug, Clone, Default)]
pub struct MessageQuery {
    /// One folder; `None` is the unified inbox (every account's INBOX), or with `text` every folder.
    pub folder: Option<i64>,
    pub unread: bool,
    pub flagged: bool,
    pub attachments: bool,
    /// Words that must all appear in the subject, the sender, the recipients or the preview
    /// (case-insensitive substring match).
    pub text: Vec<String>,
    /// Keyset: messages older than this `(received_at, id)`.
    pub before: Option<(DateTime<Utc>, i64)>,
    pub limit: u32,
    /// Only these UIDs of `folder` (what the server's own search found).
    pub uids: Option<Vec<i64>>,
}

fn has(flags: &[String], flag: &str) -> bool {
    flags.iter().any(|f| f.eq_ignore_ascii_case(flag))
}

/// The `(seen, flagged, answered, draft)` filters of a flag list.
pub fn flag_bits(flags: &[String]) -> (bool, bool, bool, bool) {
    (has(flags, "\\Seen"), has(flags, "\\Flagged"), has(flags, "\\Answered"), has(flags, "\\Draft"))
}

/// The folder's row if it is one of the user's.
async fn owned_folder(db: &mut Db<'_>, user: UserId, folder: i64) -> StoreResult<MailFolderRow> {
    db.opt(
        &format!(
            "SELECT {} FROM mail_folders f JOIN mail_accounts a ON a.id = f.account_id WHERE f.id = $1 AND a.user_id = $2",
            super::mail::FOLDER_COLUMNS_F
        ),
        args![folder, user.0],
    )
    .await?
    .ok_or(StoreError::NotFound)
}

/// The folder's message and unread counts from the index, in the same transaction as the change
/// (so the `mail.changed` event that follows never shows stale counts).
async fn refresh_counts(db: &mut Db<'_>, folder: i64) -> StoreResult<()> {
    db.exec(
        "UPDATE mail_folders SET total = (SELECT COUNT(*) FROM mail_messages WHERE folder_id = $1), \
         unseen = (SELECT COUNT(*) FROM mail_messages WHERE folder_id = $1 AND NOT seen) WHERE id = $1",
        args![folder],
    )
    .await
    .map(drop)
}

pub(super) fn changed_event(user: UserId, folder: &MailFolderRow, what: &str, count: usize) -> Event {
    Event {
        user: user.0,
        kind: "mail.changed",
        data: super::chat::payload(serde_json::json!({
            "account": folder.account_id, "folder": folder.id, "op": what, "count": count
        })),
    }
}

impl Store {
    /// One of the user's folders.
    pub async fn mail_folder(&self, user: UserId, folder: i64) -> StoreResult<MailFolderRow> {
        let mut db = Db::read(self).await?;
        owned_folder(&mut db, user, folder).await
    }

    /// The UIDs the index holds for a folder, with each message's flags.
    pub async fn mail_indexed_uids(&self, folder: i64) -> StoreResult<HashMap<i64, String>> {
        let mut db = Db::read(self).await?;
        let rows: Vec<(i64, String)> =
            db.rows("SELECT uid, flags FROM mail_messages WHERE folder_id = $1", args![folder]).await?;
        Ok(rows.into_iter().collect())
    }

    /// How many messages the index holds for a folder.
    pub async fn mail_indexed_count(&self, folder: i64) -> StoreResult<i64> {
        let mut db = Db::read(self).await?;
        let (n,): (i64,) = db.one("SELECT COUNT(*) FROM mail_messages WHERE folder_id = $1", args![folder]).await?;
        Ok(n)
    }

    /// The flags of a folder's indexed messages at or above UID `from`, and of `uids`: what an
    /// incremental sync compares, without reading the whole folder (a 50,000-message INBOX
    /// would otherwise be read on every IDLE wake-up).
    pub async fn mail_indexed_flags(&self, folder: i64, from: i64, uids: &[i64]) -> StoreResult<HashMap<i64, String>> {
        let mut db = Db::read(self).await?;
        let mut found: HashMap<i64, String> = db
            .rows::<(i64, String)>(
                "SELECT uid, flags FROM mail_messages WHERE folder_id = $1 AND uid >= $2",
                args![folder, from],
            )
            .await?
            .into_iter()
            .collect();
        for chunk in uids.chunks(500) {
            let mut values = args![folder];
            values.extend(chunk.iter().map(|&u| Arg::from(u)));
            let sql = format!(
                "SELECT uid, flags FROM mail_messages WHERE folder_id = $1 AND uid IN ({})",
                placeholders(2, chunk.len())
            );
            found.extend(db.rows::<(i64, String)>(&sql, values).await?);
        }
        Ok(found)
    }

    /// Every UID the index holds for a folder (to find what the server expunged).
    pub async fn mail_indexed_uid_list(&self, folder: i64) -> StoreResult<Vec<i64>> {
        let mut db = Db::read(self).await?;
        let rows: Vec<(i64,)> = db.rows("SELECT uid FROM mail_messages WHERE folder_id = $1", args![folder]).await?;
        Ok(rows.into_iter().map(|(u,)| u).collect())
    }

    /// Forgets a folder's messages because its UIDVALIDITY changed (RFC 9051 §2.3.1.1: the old
    /// UIDs mean nothing now), and records the new one.
    pub async fn reset_mail_folder(&self, user: UserId, folder: i64, uidvalidity: i64) -> StoreResult<()> {
        let mut db = Db::write(self).await?;
        let row = owned_folder(&mut db, user, folder).await?;
        let removed = db.exec("DELETE FROM mail_messages WHERE folder_id = $1", args![folder]).await?;
        db.exec(
            "UPDATE mail_folders SET indexed_uidvalidity = $2, indexed_uidnext = 1, indexed_modseq = NULL WHERE id = $1",
            args![folder, uidvalidity],
        )
        .await?;
        let told =
            fan_out(&mut db, &[changed_event(user, &row, "reset", removed as usize)], chrono::Utc::now()).await?;
        db.commit().await?;
        self.committed_many(told);
        Ok(())
    }

    /// Records how far the folder's index is complete (see the migration's comment).
    pub async fn set_mail_folder_indexed(
        &self,
        folder: i64,
        uidvalidity: i64,
        uidnext: i64,
        modseq: Option<i64>,
    ) -> StoreResult<()> {
        let mut db = Db::write(self).await?;
        db.exec(
            "UPDATE mail_folders SET indexed_uidvalidity = $2, indexed_uidnext = $3, indexed_modseq = $4 WHERE id = $1",
            args![folder, uidvalidity, uidnext, modseq],
        )
        .await?;
        refresh_counts(&mut db, folder).await?;
        db.commit().await
    }

    /// Adds a batch of fetched messages to a folder (UIDs already indexed are skipped), threads
    /// them (`madang_mail::thread`) and tells the owner. Returns how many were new.
    pub async fn add_mail_messages(
        &self,
        user: UserId,
        folder: &MailFolderRow,
        messages: &[NewMailMessage],
        now: DateTime<Utc>,
    ) -> StoreResult<usize> {
        if messages.is_empty() {
            return Ok(0);
        }
        let account = folder.account_id;
        let mut db = Db::write(self).await?;
        // Unlinked (or the folder vanished) while the sync ran: nothing to add to.
        owned_folder(&mut db, user, folder.id).await?;
        // 1. The rows, thread 0 for now; a UID already there is skipped (a resumed sync).
        let mut inserted: HashMap<i64, i64> = HashMap::new(); // uid → row id
        for chunk in messages.chunks(200) {
            let mut values = Vec::with_capacity(chunk.len());
            let mut params: Vec<Arg> = Vec::with_capacity(chunk.len() * 24);
            for m in chunk {
                let s = &m.summary;
                let (seen, flagged, answered, draft) = flag_bits(&m.flags);
                values.push(format!("({})", placeholders(params.len() + 1, 24)));
                params.extend(args![
                    account,
                    folder.id,
                    m.uid,
                    m.modseq,
                    m.flags.join(" "),
                    seen,
                    flagged,
                    answered,
                    draft,
                    m.received_at,
                    s.sent_at,
                    s.from.name.clone(),
                    s.from.email.clone(),
                    serde_json::to_string(&s.to).unwrap_or_else(|_| "[]".into()),
                    serde_json::to_string(&s.cc).unwrap_or_else(|_| "[]".into()),
                    s.subject.clone(),
                    s.base_subject.clone(),
                    s.message_id.clone(),
                    s.in_reply_to.clone(),
                    s.references.join(" "),
                    m.size,
                    m.has_attachments,
                    s.preview.clone(),
                    0i64
                ]);
            }
            let sql = format!(
                "INSERT INTO mail_messages (account_id, folder_id, uid, modseq, flags, seen, flagged, answered, draft, \
                 received_at, sent_at, from_name, from_email, to_list, cc_list, subject, base_subject, message_id, \
                 in_reply_to, refs, size, has_attachments, preview, thread_id) VALUES {} \
                 ON CONFLICT (folder_id, uid) DO NOTHING RETURNING id, uid",
                values.join(", ")
            );
            for (id, uid) in db.rows::<(i64, i64)>(&sql, params).await? {
                inserted.insert(uid, id);
            }
        }
        // 2. Threads: group the batch, then join each group with the threads its ids have.
        let new: Vec<&NewMailMessage> = messages.iter().filter(|m| inserted.contains_key(&m.uid)).collect();
        let links: Vec<Vec<&str>> = new
            .iter()
            .map(|m| {
                thread::links(m.summary.message_id.as_deref(), m.summary.in_reply_to.as_deref(), &m.summary.references)
            })
            .collect();
        let groups = thread::group(&links);
        let all_ids: Vec<String> = groups.iter().flat_map(|g| g.ids.iter().cloned()).collect();
        let mut known: HashMap<String, i64> = HashMap::new();
        for chunk in all_ids.chunks(500) {
            let mut params = args![account];
            params.extend(chunk.iter().map(|id| Arg::T(id.clone())));
            let sql = format!(
                "SELECT ref, thread_id FROM mail_thread_refs WHERE account_id = $1 AND ref IN ({})",
                placeholders(2, chunk.len())
            );
            known.extend(db.rows::<(String, i64)>(&sql, params).await?);
        }
        let mut assign: Vec<(i64, i64)> = Vec::new(); // (row id, thread)
        let mut refs: Vec<(String, i64)> = Vec::new();
        // Groups linked by ids first, then replies nothing links (JWZ's subject step), so that
        // a reply finds its original even when both are in this batch.
        let subject_only = |g: &thread::Group| {
            g.ids.iter().all(|id| !known.contains_key(id))
                && g.members.iter().any(|&i| new[i].summary.is_reply && !new[i].summary.base_subject.is_empty())
        };
        let mut order: Vec<&thread::Group> = groups.iter().filter(|g| !subject_only(g)).collect();
        order.extend(groups.iter().filter(|g| subject_only(g)));
        let mut by_subject: HashMap<String, i64> = HashMap::new();
        for g in order {
            let rows: Vec<i64> = g.members.iter().map(|&i| inserted[&new[i].uid]).collect();
            let existing: BTreeSet<i64> = g.ids.iter().filter_map(|id| known.get(id).copied()).collect();
            let mut target = existing.first().copied();
            if target.is_none() && subject_only(g) {
                let s = g.members.iter().map(|&i| &new[i].summary).find(|s| s.is_reply && !s.base_subject.is_empty());
                if let Some(s) = s {
                    target = match by_subject.get(&s.base_subject) {
                        Some(&t) => Some(t),
                        None => db
                            .opt::<(i64,)>(
                                "SELECT thread_id FROM mail_messages WHERE account_id = $1 AND base_subject = $2 \
                                 AND thread_id <> 0 ORDER BY received_at DESC LIMIT 1",
                                args![account, s.base_subject.clone()],
                            )
                            .await?
                            .map(|(t,)| t),
                    };
                }
            }
            let target = target.unwrap_or_else(|| rows.iter().copied().min().unwrap_or(0));
            for &i in &g.members {
                by_subject.entry(new[i].summary.base_subject.clone()).or_insert(target);
            }
            for other in existing.iter().filter(|&&t| t != target) {
                // This batch connects two conversations: one thread from now on.
                db.exec(
                    "UPDATE mail_messages SET thread_id = $3 WHERE account_id = $1 AND thread_id = $2",
                    args![account, *other, target],
                )
                .await?;
                db.exec(
                    "UPDATE mail_thread_refs SET thread_id = $3 WHERE account_id = $1 AND thread_id = $2",
                    args![account, *other, target],
                )
                .await?;
            }
            assign.extend(rows.iter().map(|&r| (r, target)));
            refs.extend(g.ids.iter().map(|id| (id.clone(), target)));
        }
        for chunk in assign.chunks(400) {
            let values: Vec<String> = (0..chunk.len()).map(|i| format!("(${}, ${})", 2 * i + 1, 2 * i + 2)).collect();
            let sql = format!(
                "UPDATE mail_messages SET thread_id = v.column2 FROM (VALUES {}) AS v WHERE mail_messages.id = v.column1",
                values.join(", ")
            );
            db.exec(&sql, chunk.iter().flat_map(|&(r, t)| [Arg::I(r), Arg::I(t)]).collect()).await?;
        }
        for chunk in refs.chunks(300) {
            let values: Vec<String> =
                (0..chunk.len()).map(|i| format!("(${}, ${}, ${})", 3 * i + 1, 3 * i + 2, 3 * i + 3)).collect();
            let sql = format!(
                "INSERT INTO mail_thread_refs (account_id, ref, thread_id) VALUES {} \
                 ON CONFLICT (account_id, ref) DO UPDATE SET thread_id = excluded.thread_id",
                values.join(", ")
            );
            db.exec(&sql, chunk.iter().flat_map(|(id, t)| [Arg::I(account), Arg::T(id.clone()), Arg::I(*t)]).collect())
                .await?;
        }
        let told = if inserted.is_empty() {
            Vec::new()
        } else {
            refresh_counts(&mut db, folder.id).await?;
            fan_out(&mut db, &[changed_event(user, folder, "added", inserted.len())], now).await?
        };
        db.commit().await?;
        self.committed_many(told);
        Ok(inserted.len())
    }

    /// Applies flag changes `(uid, flags, modseq)` found upstream; returns how many changed.
    pub async fn update_mail_flags(
        &self,
        user: UserId,
        folder: &MailFolderRow,
        changes: &[(i64, Vec<String>, Option<i64>)],
        now: DateTime<Utc>,
    ) -> StoreResult<usize> {
        if changes.is_empty() {
            return Ok(0);
        }
        let mut db = Db::write(self).await?;
        owned_folder(&mut db, user, folder.id).await?;
        let mut n = 0;
        for (uid, flags, modseq) in changes {
            let (seen, flagged, answered, draft) = flag_bits(flags);
            n += db
                .exec(
                    "UPDATE mail_messages SET flags = $3, seen = $4, flagged = $5, answered = $6, draft = $7, \
                     modseq = COALESCE($8, modseq) WHERE folder_id = $1 AND uid = $2",
                    args![folder.id, *uid, flags.join(" "), seen, flagged, answered, draft, *modseq],
                )
                .await?;
        }
        refresh_counts(&mut db, folder.id).await?;
        let told = fan_out(&mut db, &[changed_event(user, folder, "flags", n as usize)], now).await?;
        db.commit().await?;
        self.committed_many(told);
        Ok(n as usize)
    }

    /// Removes messages expunged upstream.
    pub async fn remove_mail_messages(
        &self,
        user: UserId,
        folder: &MailFolderRow,
        uids: &[i64],
        now: DateTime<Utc>,
    ) -> StoreResult<usize> {
        if uids.is_empty() {
            return Ok(0);
        }
        let mut db = Db::write(self).await?;
        owned_folder(&mut db, user, folder.id).await?;
        let mut n = 0;
        for chunk in uids.chunks(500) {
            let mut params = args![folder.id];
            params.extend(chunk.iter().map(|&u| Arg::I(u)));
            let sql =
                format!("DELETE FROM mail_messages WHERE folder_id = $1 AND uid IN ({})", placeholders(2, chunk.len()));
            n += db.exec(&sql, params).await?;
        }
        refresh_counts(&mut db, folder.id).await?;
        let told = fan_out(&mut db, &[changed_event(user, folder, "removed", n as usize)], now).await?;
        db.commit().await?;
        self.committed_many(told);
        Ok(n as usize)
    }

    /// A page of the user's messages, newest first.
    pub async fn mail_messages(&self, user: UserId, q: &MessageQuery) -> StoreResult<Vec<MailMessageRow>> {
        let mut db = Db::read(self).await?;
        let mut params = args![user.0];
        let mut sql = format!(
            "SELECT {COLUMNS} FROM mail_messages m JOIN mail_accounts a ON a.id = m.account_id WHERE a.user_id = $1"
        );
        match q.folder {
            Some(folder) => {
                owned_folder(&mut db, user, folder).await?;
                params.push(Arg::I(folder));
                sql.push_str(&format!(" AND m.folder_id = ${}", params.len()));
            }
            // A search without a folder looks everywhere; a plain list is the unified inbox.
            None if !q.text.is_empty() => {}
            None => sql.push_str(
                " AND m.folder_id IN (SELECT f.id FROM mail_folders f JOIN mail_accounts fa ON fa.id = f.account_id \
                 WHERE fa.user_id = $1 AND f.role = 'inbox')",
            ),
        }
        if let Some(uids) = &q.uids {
            if uids.is_empty() {
                return Ok(Vec::new());
            }
            let first = params.len() + 1;
            params.extend(uids.iter().map(|&u| Arg::I(u)));
            sql.push_str(&format!(" AND m.uid IN ({})", placeholders(first, uids.len())));
        }
        if q.unread {
            sql.push_str(" AND NOT m.seen");
        }
        if q.flagged {
            sql.push_str(" AND m.flagged");
        }
        if q.attachments {
            sql.push_str(" AND m.has_attachments");
        }
        for word in q.text.iter().take(8) {
            // LIKE with its wildcards escaped: the word is matched as it is written.
            let pattern =
                format!("%{}%", word.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
            params.push(Arg::T(pattern));
            let n = params.len();
            sql.push_str(&format!(
                " AND (LOWER(m.subject) LIKE ${n} ESCAPE '\\' OR LOWER(m.from_name) LIKE ${n} ESCAPE '\\' \
                 OR LOWER(m.from_email) LIKE ${n} ESCAPE '\\' OR {RECIPIENTS} LIKE ${n} ESCAPE '\\' \
                 OR LOWER(m.preview) LIKE ${n} ESCAPE '\\')"
            ));
        }
        if let Some((at, id)) = q.before {
            params.push(Arg::D(at));
            params.push(Arg::I(id));
            let (a, i) = (params.len() - 1, params.len());
            sql.push_str(&format!(" AND (m.received_at < ${a} OR (m.received_at = ${a} AND m.id < ${i}))"));
        }
        params.push(Arg::I(i64::from(q.limit.clamp(1, 200))));
        sql.push_str(&format!(" ORDER BY m.received_at DESC, m.id DESC LIMIT ${}", params.len()));
        db.rows(&sql, params).await
    }

    /// One of the user's messages, with its folder.
    pub async fn mail_message(&self, user: UserId, id: i64) -> StoreResult<(MailMessageRow, MailFolderRow)> {
        let mut db = Db::read(self).await?;
        let row: MailMessageRow = db
            .opt(
                &format!(
                    "SELECT {COLUMNS} FROM mail_messages m JOIN mail_accounts a ON a.id = m.account_id \
                     WHERE m.id = $1 AND a.user_id = $2"
                ),
                args![id, user.0],
            )
            .await?
            .ok_or(StoreError::NotFound)?;
        let folder = owned_folder(&mut db, user, row.folder_id).await?;
        Ok((row, folder))
    }

    /// A conversation: the messages of one thread, oldest first; a message filed in two
    /// folders (Gmail's labels) once.
    pub async fn mail_thread(&self, user: UserId, account: i64, thread: i64) -> StoreResult<Vec<MailMessageRow>> {
        let mut db = Db::read(self).await?;
        let rows: Vec<MailMessageRow> = db
            .rows(
                &format!(
                    "SELECT {COLUMNS} FROM mail_messages m JOIN mail_accounts a ON a.id = m.account_id \
                     WHERE a.user_id = $1 AND m.account_id = $2 AND m.thread_id = $3 \
                     ORDER BY COALESCE(m.sent_at, m.received_at), m.id LIMIT 1000"
                ),
                args![user.0, account, thread],
            )
            .await?;
        if rows.is_empty() {
            return Err(StoreError::NotFound);
        }
        let mut seen = std::collections::HashSet::new();
        Ok(rows.into_iter().filter(|r| r.message_id.as_ref().is_none_or(|id| seen.insert(id.clone()))).collect())
    }

    /// Sets a message's flags in the index after the server took them, and tells the owner.
    pub async fn set_mail_message_flags(
        &self,
        user: UserId,
        folder: &MailFolderRow,
        id: i64,
        flags: &[String],
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut db = Db::write(self).await?;
        owned_folder(&mut db, user, folder.id).await?;
        let (seen, flagged, answered, draft) = flag_bits(flags);
        db.exec(
            "UPDATE mail_messages SET flags = $3, seen = $4, flagged = $5, answered = $6, draft = $7 \
             WHERE id = $1 AND folder_id = $2",
            args![id, folder.id, flags.join(" "), seen, flagged, answered, draft],
        )
        .await?;
        refresh_counts(&mut db, folder.id).await?;
        let told = fan_out(&mut db, &[changed_event(user, folder, "flags", 1)], now).await?;
        db.commit().await?;
        self.committed_many(told);
        Ok(())
    }
}
