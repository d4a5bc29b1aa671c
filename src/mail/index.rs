//! The message index: synchronising a linked account's folders and messages into the store,
//! and reading from it (lists, conversations) and through it (a message's body, its flags).
//!
//! A folder's sync (RFC 9051, RFC 7162 where the server has CONDSTORE or QRESYNC):
//! 1. `SELECT … (CONDSTORE)` or `EXAMINE`; a changed UIDVALIDITY forgets the folder's index.
//! 2. New messages: the UIDs from where the index is complete up, newest first, in chunks
//!    (the first small), each chunk committed and announced on the push channel, so the first
//!    page of a 50,000-message INBOX is there long before the rest.
//! 3. Flags of known messages: only those changed since the last HIGHESTMODSEQ with CONDSTORE
//!    (`CHANGEDSINCE`), all of them without.
//! 4. Expunged messages: with QRESYNC enabled, step 3's fetch carries the `VANISHED` modifier and
//!    the server names the UIDs expunged since that HIGHESTMODSEQ (RFC 7162 §3.2.6); those the
//!    index has are removed. Then, with or without it, the counts are compared: when the
//!    server's equals the index's, nothing (else) was expunged (UIDs are never reused, and every
//!    UID above the complete range was just fetched); only otherwise `UID SEARCH ALL` says which
//!    are gone. So a folder that lost messages costs no search on a QRESYNC server, and the
//!    common case (nothing lost) costs none anywhere.
//! 5. The folder's index is recorded complete up to the UIDNEXT and HIGHESTMODSEQ seen in 1.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::connect::{Credential, Endpoint, Security, Session, Step};
use super::{Folder, MailError, MailResult, MailService, parts, sync};
use crate::domain::UserId;
use crate::store::mail::{MailAccountRow, MailFolderRow};
use crate::store::mail_index::{MailMessageRow, MessageQuery, NewMailMessage};
use madang_mail::body::PartSource;

/// A message as fetched to be read, and kept in the body cache.
#[derive(Debug)]
pub enum Opened {
    Whole(Arc<Vec<u8>>),
    /// Its header, text and embedded pictures; the attachments' places left empty.
    Parts(madang_mail::parts::Assembled),
}

impl super::cache::Weigh for Opened {
    fn bytes(&self) -> usize {
        match self {
            Opened::Whole(raw) => raw.len(),
            Opened::Parts(a) => a.raw.len() + a.leaves.len() * 64,
        }
    }
}

/// An attachment to download.
pub struct Part {
    pub name: String,
    pub content_type: String,
    pub body: PartBody,
}

pub enum PartBody {
    Bytes(Vec<u8>),
    /// From the server, piece by piece.
    Stream(parts::Download),
}

/// The first chunk of a folder's new messages: one page, fast.
const FIRST_CHUNK: usize = 50;
/// Later chunks.
const CHUNK: usize = 500;

/// What one sync did.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct SyncReport {
    pub folders: Vec<Folder>,
    /// Messages added to the index.
    pub added: usize,
    /// Messages whose flags changed.
    pub updated: usize,
    /// Messages gone from the server.
    pub removed: usize,
    /// How the folders' expunges were looked for.
    pub expunges: ExpungeChecks,
}

/// How many folders of a sync were asked which messages were expunged, by each means. A folder
/// whose HIGHESTMODSEQ has not moved, or whose count matched the index's without QRESYNC, is in
/// neither: nothing was asked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct ExpungeChecks {
    /// By `UID FETCH … (CHANGEDSINCE n VANISHED)` (QRESYNC, RFC 7162 §3.2.6).
    pub vanished: usize,
    /// By `UID SEARCH ALL`, because the folder's count still differed from the index's.
    pub search: usize,
}

/// How a session finds a folder's changes since the last sync (RFC 7162): CONDSTORE's
/// `CHANGEDSINCE` for flags, and QRESYNC, once enabled on the session, for expunges too.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Resync {
    pub condstore: bool,
    /// Enabled on this session (`qresync::enable`), not merely announced.
    pub qresync: bool,
}

impl Resync {
    /// What the capabilities found at login allow without enabling anything: CONDSTORE (which
    /// `SELECT … (CONDSTORE)` turns on, RFC 7162 §3.1.8).
    pub(super) fn announced(capabilities: &[String]) -> Resync {
        Resync { condstore: capabilities.iter().any(|c| c == "CONDSTORE"), qresync: false }
    }
}

/// An address.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Address {
    pub name: String,
    pub email: String,
}

/// A message in a list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessageSummary {
    pub id: i64,
    pub account: i64,
    pub folder: i64,
    pub thread: i64,
    pub from: Address,
    pub to: Vec<Address>,
    pub cc: Vec<Address>,
    pub subject: String,
    pub preview: String,
    /// The Date header (when the sender wrote it).
    pub sent_at: Option<DateTime<Utc>>,
    /// When it arrived (the list's order).
    pub received_at: DateTime<Utc>,
    /// IMAP flags and keywords as the server spells them.
    pub flags: Vec<String>,
    pub seen: bool,
    pub flagged: bool,
    pub answered: bool,
    pub draft: bool,
    pub has_attachments: bool,
    pub size: i64,
    pub message_id: Option<String>,
}

/// A page of messages, and the cursor for the next one.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessagePage {
    pub messages: Vec<MessageSummary>,
    /// Pass as `before` for the next page; `null` at the end.
    pub next: Option<String>,
}

/// An attachment of an opened message.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttachmentView {
    pub part: u32,
    pub name: String,
    pub content_type: String,
    pub size: usize,
    /// Shown inside the HTML rather than listed.
    pub inline: bool,
    /// Where to download it.
    pub url: String,
}

/// An opened message.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessageDetail {
    #[serde(flatten)]
    pub summary: MessageSummary,
    pub reply_to: Vec<Address>,
    pub references: Vec<String>,
    pub in_reply_to: Option<String>,
    pub text: String,
    /// Sanitised HTML (no scripts, no active content; remote images removed, or pointing at
    /// Madang's image proxy when shown); `null` for plain text.
    pub html: Option<String>,
    /// The HTML refers to remote images.
    pub remote_images: bool,
    /// They were left out (the reader may offer to show them): neither asked for with
    /// `images=show` nor from a trusted sender.
    pub images_blocked: bool,
    /// The sender is on the user's list of senders whose images are always shown.
    pub sender_trusted: bool,
    pub attachments: Vec<AttachmentView>,
}

/// A flag change asked by the user.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlagChange {
    pub seen: Option<bool>,
    pub flagged: Option<bool>,
    /// `\Answered` (set by Madang itself after a reply is sent).
    #[serde(default)]
    pub answered: Option<bool>,
}

fn addresses(json: &str) -> Vec<Address> {
    serde_json::from_str(json).unwrap_or_default()
}

pub(super) fn summary_view(row: &MailMessageRow) -> MessageSummary {
    MessageSummary {
        id: row.id,
        account: row.account_id,
        folder: row.folder_id,
        thread: row.thread_id,
        from: Address { name: row.from_name.clone(), email: row.from_email.clone() },
        to: addresses(&row.to_list),
        cc: addresses(&row.cc_list),
        subject: row.subject.clone(),
        preview: row.preview.clone(),
        sent_at: row.sent_at,
        received_at: row.received_at,
        flags: row.flags.split_whitespace().map(str::to_string).collect(),
        seen: row.seen,
        flagged: row.flagged,
        answered: row.answered,
        draft: row.draft,
        has_attachments: row.has_attachments,
        size: row.size,
        message_id: row.message_id.clone(),
    }
}

/// `received_at` in microseconds and the id: an opaque keyset cursor.
fn cursor(row: &MailMessageRow) -> String {
    format!("{}.{}", row.received_at.timestamp_micros(), row.id)
}

fn parse_cursor(s: &str) -> MailResult<(DateTime<Utc>, i64)> {
    let bad = || MailError::Invalid("before: a cursor from a previous page".into());
    let (at, id) = s.split_once('.').ok_or_else(bad)?;
    let at = DateTime::from_timestamp_micros(at.parse().map_err(|_| bad())?).ok_or_else(bad)?;
    Ok((at, id.parse().map_err(|_| bad())?))
}

/// The order folders are synchronised in: what people look at first.
fn folder_priority(f: &MailFolderRow) -> u8 {
    match f.role.as_deref() {
        Some("inbox") => 0,
        Some("sent") => 1,
        Some("drafts") => 2,
        None => 3,
        Some("archive" | "flagged") => 4,
        Some(_) => 5,
    }
}

fn to_i64(v: u64) -> Option<i64> {
    i64::try_from(v).ok()
}

impl MailService {
    pub(super) fn account_lock(&self, account: i64) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.sync_locks.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(account).or_default().clone()
    }

    /// A place among the account's IMAP connections (`mail.max_connections_per_account`):
    /// providers cap them (Gmail at 15, Dovecot's default at 10 per user and address), and a
    /// burst of reads must queue here rather than be refused there.
    pub(super) async fn account_place(&self, account: i64) -> MailResult<tokio::sync::OwnedSemaphorePermit> {
        let limit = {
            let mut places = self.account_places.lock().unwrap_or_else(|e| e.into_inner());
            places
                .entry(account)
                .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(self.config.max_connections_per_account)))
                .clone()
        };
        self.connector.place(&limit, "this account's connections are all in use").await.map_err(MailError::Unreachable)
    }

    /// How Madang reaches mail servers (the outbound guard, verified TLS, the connection places),
    /// for the mail listeners' relayed sessions (`mailproxy::upstream`).
    pub(crate) fn connector(&self) -> &super::connect::Connector {
        &self.connector
    }

    /// Tells the watchers the linked accounts changed.
    pub fn kick(&self) {
        self.kicks.notify_one();
    }

    /// Logs in for a watcher: the session, what it syncs with (QRESYNC enabled where the server
    /// has it), IDLE.
    pub(super) async fn open_watch_session(
        &self,
        user: UserId,
        row: &MailAccountRow,
    ) -> MailResult<(Session, Resync, bool)> {
        let (mut session, capabilities) = self.login(user, row).await?;
        let resync = match self.enable_resync(&mut session, &capabilities).await {
            Ok(resync) => resync,
            Err(e) => {
                self.logout(session).await;
                return Err(e);
            }
        };
        Ok((session, resync, capabilities.iter().any(|c| c == "IDLE")))
    }

    /// Logs in for a sync: the session and what it syncs with (QRESYNC enabled where the server
    /// has it).
    pub(super) async fn open_sync_session(
        &self,
        user: UserId,
        row: &MailAccountRow,
    ) -> MailResult<(Session, Resync, Vec<String>)> {
        let (mut session, capabilities) = self.login(user, row).await?;
        match self.enable_resync(&mut session, &capabilities).await {
            Ok(resync) => Ok((session, resync, capabilities)),
            Err(e) => {
                self.logout(session).await;
                Err(e)
            }
        }
    }

    /// `ENABLE QRESYNC` on a fresh session where the server announced it (RFC 7162 §3.2.3), so
    /// step 4 of a folder's sync can ask for `VANISHED`; CONDSTORE alone otherwise.
    async fn enable_resync(&self, session: &mut Session, capabilities: &[String]) -> MailResult<Resync> {
        let mut resync = Resync::announced(capabilities);
        if capabilities.iter().any(|c| c == "QRESYNC") {
            resync.qresync = super::qresync::enable(&self.connector, session).await.map_err(MailError::Unreachable)?;
            // QRESYNC enables CONDSTORE with it (RFC 7162 §3.2.3).
            resync.condstore |= resync.qresync;
        }
        Ok(resync)
    }

    pub(super) async fn login(&self, user: UserId, row: &MailAccountRow) -> MailResult<(Session, Vec<String>)> {
        let endpoint = Endpoint {
            host: row.imap_host.clone(),
            port: u16::try_from(row.imap_port).unwrap_or(0),
            security: Security::parse(&row.imap_security).unwrap_or(Security::Tls),
        };
        let credential = self.credential_of(user, row, false).await?;
        let place = self.account_place(row.id).await?;
        match self.connector.imap_session(&endpoint, &row.username, &credential, Some(place)).await {
            // An access token the server refused before its expiry (revoked, or the provider
            // rotated its keys): one refresh, one more try.
            Err(f) if f.step == Step::Authentication && matches!(credential, Credential::Bearer(_)) => {
                let credential = self.credential_of(user, row, true).await?;
                let place = self.account_place(row.id).await?;
                self.connector
                    .imap_session(&endpoint, &row.username, &credential, Some(place))
                    .await
                    .map_err(MailError::Unreachable)
            }
            other => other.map_err(MailError::Unreachable),
        }
    }

    /// Logs in to the account's IMAP server; the session and whether it has CONDSTORE.
    pub(super) async fn open_session(&self, user: UserId, row: &MailAccountRow) -> MailResult<(Session, bool)> {
        let (session, capabilities) = self.login(user, row).await?;
        Ok((session, capabilities.iter().any(|c| c == "CONDSTORE")))
    }

    pub(super) async fn logout(&self, mut session: Session) {
        let _ = tokio::time::timeout(self.config.connect_timeout, session.logout()).await;
    }

    /// Synchronises the account now: its folder list, then each folder's messages (INBOX
    /// first). One sync per account at a time; a second waits for the first.
    pub async fn sync(&self, user: UserId, id: i64) -> MailResult<SyncReport> {
        let lock = self.account_lock(id);
        let _guard = lock.lock().await;
        let row = self.store.mail_account(user, id).await?;
        let (mut session, resync, _) = self.open_sync_session(user, &row).await?;
        let result = self.sync_with(&mut session, user, id, resync).await;
        self.logout(session).await;
        let mut report = result?;
        report.folders = self.folders(user, id).await?;
        metrics::counter!("madang_mail_synced_messages_total").increment(report.added as u64);
        Ok(report)
    }

    pub(super) async fn sync_with(
        &self,
        session: &mut Session,
        user: UserId,
        id: i64,
        resync: Resync,
    ) -> MailResult<SyncReport> {
        let found = sync::folders(&self.connector, session, resync.condstore).await.map_err(MailError::Unreachable)?;
        let mut rows = self.store.replace_mail_folders(user, id, &super::new_folders(found), self.clock.now()).await?;
        rows.retain(|f| f.selectable);
        rows.sort_by_key(folder_priority);
        let mut report = SyncReport::default();
        for folder in rows {
            self.sync_folder(session, user, folder, resync, &mut report).await?;
        }
        Ok(report)
    }

    /// One folder (the module comment's steps 1–5).
    pub(super) async fn sync_folder(
        &self,
        session: &mut Session,
        user: UserId,
        mut folder: MailFolderRow,
        resync: Resync,
        report: &mut SyncReport,
    ) -> MailResult<()> {
        let unreachable = MailError::Unreachable;
        let condstore = resync.condstore;
        let started = std::time::Instant::now();
        let selected = sync::open(&self.connector, session, &folder.name, condstore).await.map_err(unreachable)?;
        tracing::debug!(folder = %folder.name, ms = started.elapsed().as_millis() as u64, exists = selected.exists, "mail sync: opened");
        let uidvalidity = i64::from(selected.uidvalidity);
        if folder.indexed_uidvalidity.is_some_and(|v| v != uidvalidity) {
            self.store.reset_mail_folder(user, folder.id, uidvalidity).await?;
            folder.indexed_uidnext = 1;
            folder.indexed_modseq = None;
        }
        let indexed_before = self.store.mail_indexed_count(folder.id).await?;
        // 2. New messages, newest first. Those already indexed at or above the mark are what
        // an interrupted sync stored before it could move the mark.
        let from = u32::try_from(folder.indexed_uidnext.max(1)).unwrap_or(1);
        let above = self.store.mail_indexed_flags(folder.id, i64::from(from), &[]).await?;
        let new: Vec<u32> = if selected.exists == 0 {
            Vec::new()
        } else {
            sync::uids_from(&self.connector, session, from)
                .await
                .map_err(unreachable)?
                .into_iter()
                .filter(|u| !above.contains_key(&i64::from(*u)))
                .collect()
        };
        let mut added = 0;
        let mut rest = &new[..];
        let mut size = FIRST_CHUNK;
        while !rest.is_empty() {
            let (chunk, tail) = rest.split_at(size.min(rest.len()));
            rest = tail;
            size = CHUNK;
            let fetched =
                sync::fetch_summaries(&self.connector, session, chunk, condstore).await.map_err(unreachable)?;
            let now = self.clock.now();
            let messages: Vec<NewMailMessage> = fetched
                .into_iter()
                .map(|f| NewMailMessage {
                    uid: i64::from(f.uid),
                    modseq: f.modseq.and_then(to_i64),
                    flags: f.flags,
                    received_at: f.internal_date.or(f.summary.sent_at).unwrap_or(now),
                    size: i64::from(f.size),
                    has_attachments: f.has_attachments,
                    summary: f.summary,
                })
                .collect();
            added += self.store.add_mail_messages(user, &folder, &messages, now).await?;
            tracing::debug!(folder = %folder.name, ms = started.elapsed().as_millis() as u64, added, "mail sync: chunk stored");
        }
        // 3. Flags of the messages known before this sync (and with QRESYNC, the expunges).
        let mut updated = 0;
        let mut vanished = None;
        if indexed_before > 0 {
            let since = match (condstore, folder.indexed_modseq, selected.highestmodseq) {
                (true, Some(indexed), Some(now)) if now <= u64::try_from(indexed).unwrap_or(0) => None,
                (true, Some(indexed), Some(_)) => Some(Some(u64::try_from(indexed).unwrap_or(0))),
                _ => Some(None),
            };
            if let Some(since) = since {
                let flags = match since {
                    Some(n) if resync.qresync => {
                        let changes =
                            super::qresync::fetch_changes(&self.connector, session, n).await.map_err(unreachable)?;
                        vanished = Some(changes.vanished);
                        changes.flags
                    }
                    _ => sync::fetch_flags(&self.connector, session, since).await.map_err(unreachable)?,
                };
                // CHANGEDSINCE answered only the changed messages: read only theirs. Without
                // it every message's flags came, and every stored one is compared.
                let known = match since {
                    Some(_) => {
                        let uids: Vec<i64> = flags.iter().map(|(uid, _, _)| i64::from(*uid)).collect();
                        self.store.mail_indexed_flags(folder.id, i64::MAX, &uids).await?
                    }
                    None => self.store.mail_indexed_uids(folder.id).await?,
                };
                let changes: Vec<(i64, Vec<String>, Option<i64>)> = flags
                    .into_iter()
                    .filter_map(|(uid, flags, modseq)| {
                        let stored = known.get(&i64::from(uid))?;
                        let mut a: Vec<&str> = stored.split_whitespace().collect();
                        let mut b: Vec<&str> = flags.iter().map(String::as_str).collect();
                        a.sort_unstable();
                        b.sort_unstable();
                        (a != b).then(|| (i64::from(uid), flags, modseq.and_then(to_i64)))
                    })
                    .collect();
                updated = self.store.update_mail_flags(user, &folder, &changes, self.clock.now()).await?;
            }
        }
        // 4. Expunged messages: those VANISHED named, then the count as the safety net (a
        // server that forgot old expunges, or one made after SELECT).
        let mut removed = 0;
        if let Some(vanished) = vanished {
            report.expunges.vanished += 1;
            metrics::counter!("madang_mail_expunge_checks_total", "by" => "vanished").increment(1);
            if !vanished.is_empty() {
                let gone = vanished.among(&self.store.mail_indexed_uid_list(folder.id).await?);
                removed += self.store.remove_mail_messages(user, &folder, &gone, self.clock.now()).await?;
            }
        }
        let indexed = (usize::try_from(indexed_before).unwrap_or(0) + added).saturating_sub(removed);
        if selected.exists as usize != indexed {
            report.expunges.search += 1;
            metrics::counter!("madang_mail_expunge_checks_total", "by" => "search").increment(1);
            let present = sync::all_uids(&self.connector, session).await.map_err(unreachable)?;
            let gone: Vec<i64> = self
                .store
                .mail_indexed_uid_list(folder.id)
                .await?
                .into_iter()
                .filter(|&u| u32::try_from(u).is_ok_and(|u| !present.contains(&u)))
                .collect();
            removed += self.store.remove_mail_messages(user, &folder, &gone, self.clock.now()).await?;
        }
        tracing::debug!(folder = %folder.name, ms = started.elapsed().as_millis() as u64, added, updated, removed, "mail sync: done");
        // 5. Complete up to what step 1 saw.
        self.store
            .set_mail_folder_indexed(
                folder.id,
                uidvalidity,
                i64::from(selected.uidnext),
                selected.highestmodseq.and_then(to_i64),
            )
            .await?;
        report.added += added;
        report.updated += updated;
        report.removed += removed;
        Ok(())
    }

    /// A page of a folder (or, without one, of the unified inbox), newest first.
    pub async fn messages(
        &self,
        user: UserId,
        mut query: MessageQuery,
        before: Option<&str>,
    ) -> MailResult<MessagePage> {
        query.before = before.map(parse_cursor).transpose()?;
        let limit = query.limit.clamp(1, 200);
        query.limit = limit + 1;
        let mut rows = self.store.mail_messages(user, &query).await?;
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        Ok(MessagePage {
            next: if more { rows.last().map(cursor) } else { None },
            messages: rows.iter().map(summary_view).collect(),
        })
    }

    /// A conversation, oldest first.
    pub async fn thread(&self, user: UserId, account: i64, thread: i64) -> MailResult<Vec<MessageSummary>> {
        Ok(self.store.mail_thread(user, account, thread).await?.iter().map(summary_view).collect())
    }

    /// What the body cache knows a message by (`cache` says why not the id alone).
    fn cache_key(user: UserId, row: &MailMessageRow) -> String {
        format!(
            "{}:{}:{}:{}:{}:{}",
            user.0,
            row.id,
            row.folder_id,
            row.uid,
            row.size,
            row.received_at.timestamp_micros()
        )
    }

    /// The whole message's bytes (to forward it): from the cache, or fetched from its folder.
    pub(super) async fn raw(
        &self,
        user: UserId,
        row: &MailMessageRow,
        folder: &MailFolderRow,
    ) -> MailResult<Arc<Vec<u8>>> {
        if let Some(Opened::Whole(raw)) = self.cache.get(&Self::cache_key(user, row)).as_deref() {
            return Ok(raw.clone());
        }
        if u64::try_from(row.size).unwrap_or(0) > self.config.max_message_size {
            return Err(MailError::TooLarge(self.config.max_message_size));
        }
        let account = self.store.mail_account(user, row.account_id).await?;
        let (mut session, _) = self.open_session(user, &account).await?;
        let uid = u32::try_from(row.uid).unwrap_or(0);
        let fetched = async {
            sync::open(&self.connector, &mut session, &folder.name, false).await?;
            sync::fetch_message(&self.connector, &mut session, uid).await
        }
        .await;
        self.logout(session).await;
        Ok(Arc::new(fetched.map_err(MailError::Unreachable)?.ok_or(MailError::Gone)?))
    }

    /// The message as the reader needs it: from the cache, or fetched from its folder: whole
    /// when it is small (`mail.whole_message_below`: one round trip), else its structure and
    /// then only the text and small embedded pictures (RFC 9051 §6.4.5), attachments left for
    /// their download.
    async fn opened(&self, user: UserId, row: &MailMessageRow, folder: &MailFolderRow) -> MailResult<Arc<Opened>> {
        let key = Self::cache_key(user, row);
        if let Some(opened) = self.cache.get(&key) {
            return Ok(opened);
        }
        let size = u64::try_from(row.size).unwrap_or(0);
        let account = self.store.mail_account(user, row.account_id).await?;
        let (mut session, _) = self.open_session(user, &account).await?;
        let uid = u32::try_from(row.uid).unwrap_or(0);
        let max = self.config.max_message_size;
        let fetched = async {
            sync::open(&self.connector, &mut session, &folder.name, false).await.map_err(MailError::Unreachable)?;
            if size > self.config.whole_message_below
                && let Some(structure) =
                    parts::fetch_structure(&self.connector, &mut session, uid).await.map_err(MailError::Unreachable)?
            {
                let plan = madang_mail::parts::plan(&structure, madang_mail::parts::Budget::default());
                if plan.body_octets > max {
                    return Err(MailError::TooLarge(max));
                }
                let sections = parts::fetch_sections(&self.connector, &mut session, uid, &plan.sections)
                    .await
                    .map_err(MailError::Unreachable)?;
                if let Some(assembled) =
                    madang_mail::parts::assemble(&structure, &|s| sections.get(s).map(Vec::as_slice))
                {
                    return Ok(Opened::Parts(assembled));
                }
                // No header came back: the message went away meanwhile, or the server could
                // not give sections; whole, as below, says which.
            }
            if size > max {
                return Err(MailError::TooLarge(max));
            }
            let raw = sync::fetch_message(&self.connector, &mut session, uid).await.map_err(MailError::Unreachable)?;
            Ok(Opened::Whole(Arc::new(raw.ok_or(MailError::Gone)?)))
        }
        .await;
        self.logout(session).await;
        let opened = Arc::new(fetched?);
        self.cache.put(&key, opened.clone());
        Ok(opened)
    }

    /// Opens a message: text, sanitised HTML, attachments. Remote images are blocked unless
    /// `show_images` asks for them or the sender is trusted; shown, they point at the signed
    /// image proxy (`images`), never at the remote server.
    pub async fn message(&self, user: UserId, id: i64, show_images: bool) -> MailResult<MessageDetail> {
        let (row, folder) = self.store.mail_message(user, id).await?;
        let opened = self.opened(user, &row, &folder).await?;
        let sender_trusted = self.sender_trusted(user, &row.from_email).await?;
        let part_url = move |part: u32| format!("/api/v1/mail/messages/{id}/parts/{part}");
        let proxy = (show_images || sender_trusted).then(|| self.image_proxy(user));
        let shown = proxy.is_some();
        let images = madang_mail::body::Images { proxy, part_url: Arc::new(part_url) };
        let body = match opened.as_ref() {
            Opened::Whole(raw) => madang_mail::body::read(raw, &images),
            Opened::Parts(assembled) => madang_mail::body::read_assembled(assembled, &images),
        }
        .ok_or(MailError::Gone)?;
        let to_view = |a: Vec<madang_mail::Addr>| -> Vec<Address> {
            a.into_iter().map(|x| Address { name: x.name, email: x.email }).collect()
        };
        Ok(MessageDetail {
            summary: summary_view(&row),
            reply_to: to_view(body.reply_to),
            references: row.refs.split_whitespace().map(str::to_string).collect(),
            in_reply_to: row.in_reply_to.clone(),
            text: body.text,
            html: body.html,
            remote_images: body.remote_images,
            images_blocked: body.remote_images && !shown,
            sender_trusted,
            attachments: body
                .attachments
                .into_iter()
                .map(|a| AttachmentView {
                    url: part_url(a.part),
                    part: a.part,
                    name: a.name,
                    content_type: a.content_type,
                    size: a.size,
                    inline: a.inline,
                })
                .collect(),
        })
    }

    /// One part of a message (an attachment download): file name, type, and its bytes, or for
    /// a part not fetched with the text, a stream of them straight from the server.
    pub async fn part(&self, user: UserId, id: i64, part: u32) -> MailResult<Part> {
        let (row, folder) = self.store.mail_message(user, id).await?;
        let opened = self.opened(user, &row, &folder).await?;
        let (source, a) = match opened.as_ref() {
            Opened::Whole(raw) => {
                let (bytes, a) = madang_mail::body::part(raw, part).ok_or(MailError::NotFound)?;
                (PartSource::Here(bytes), a)
            }
            Opened::Parts(assembled) => {
                madang_mail::body::assembled_part(assembled, part).ok_or(MailError::NotFound)?
            }
        };
        let body = match source {
            PartSource::Here(bytes) => PartBody::Bytes(bytes),
            PartSource::Server(leaf) => {
                let account = self.store.mail_account(user, row.account_id).await?;
                let (mut session, _) = self.open_session(user, &account).await?;
                if let Err(e) = sync::open(&self.connector, &mut session, &folder.name, false).await {
                    self.logout(session).await;
                    return Err(MailError::Unreachable(e));
                }
                let uid = u32::try_from(row.uid).unwrap_or(0);
                let download = parts::download(self.connector.clone(), session, uid, leaf, self.config.connect_timeout)
                    .await
                    .map_err(MailError::Unreachable)?;
                PartBody::Stream(download)
            }
        };
        Ok(Part { name: a.name, content_type: a.content_type, body })
    }

    /// Sets `\Seen` / `\Flagged` on the server, then in the index.
    pub async fn set_flags(&self, user: UserId, id: i64, change: &FlagChange) -> MailResult<MessageSummary> {
        let (row, folder) = self.store.mail_message(user, id).await?;
        let mut flags: Vec<String> = row.flags.split_whitespace().map(str::to_string).collect();
        let mut add = Vec::new();
        let mut remove = Vec::new();
        for (wanted, flag) in [(change.seen, "\\Seen"), (change.flagged, "\\Flagged"), (change.answered, "\\Answered")]
        {
            let Some(wanted) = wanted else { continue };
            let has = flags.iter().any(|f| f.eq_ignore_ascii_case(flag));
            if wanted && !has {
                add.push(flag);
                flags.push(flag.to_string());
            } else if !wanted && has {
                remove.push(flag);
                flags.retain(|f| !f.eq_ignore_ascii_case(flag));
            }
        }
        if !add.is_empty() || !remove.is_empty() {
            let account = self.store.mail_account(user, row.account_id).await?;
            let (mut session, _) = self.open_session(user, &account).await?;
            let uid = u32::try_from(row.uid).unwrap_or(0);
            let stored = async {
                self.connector.step(Step::Protocol, session.select(&folder.name)).await?;
                sync::store_flags(&self.connector, &mut session, uid, &add, &remove).await
            }
            .await;
            self.logout(session).await;
            stored.map_err(MailError::Unreachable)?;
            self.store.set_mail_message_flags(user, &folder, row.id, &flags, self.clock.now()).await?;
        }
        let (row, _) = self.store.mail_message(user, id).await?;
        Ok(summary_view(&row))
    }

    /// Moves a message to another folder of the same account, on the server, then brings both
    /// folders' index up to date (the message gets a new UID there).
    pub async fn move_message(&self, user: UserId, id: i64, target: i64) -> MailResult<()> {
        let (row, folder) = self.store.mail_message(user, id).await?;
        let target = self.store.mail_folder(user, target).await?;
        if target.account_id != row.account_id {
            return Err(MailError::Invalid("folder: a folder of the same account".into()));
        }
        if target.id == folder.id {
            return Ok(());
        }
        self.relocate(user, &row, folder, Some(target)).await
    }

    /// Copies a message to a folder of the same account on the server (`UID COPY`, RFC 9051
    /// §6.4.7), then brings the target's index up to date (the copy has a UID of its own there).
    pub async fn copy_message(&self, user: UserId, id: i64, target: i64) -> MailResult<()> {
        let (row, folder) = self.store.mail_message(user, id).await?;
        let target = self.store.mail_folder(user, target).await.map_err(|e| match MailError::from(e) {
            MailError::NotFound => MailError::FolderNotFound,
            other => other,
        })?;
        if target.account_id != row.account_id {
            return Err(MailError::Invalid("folder: a folder of the same account".into()));
        }
        if !target.selectable {
            return Err(MailError::Invalid("folder: this folder only holds other folders".into()));
        }
        let account = self.store.mail_account(user, row.account_id).await?;
        let lock = self.account_lock(row.account_id);
        let _guard = lock.lock().await;
        let (mut session, resync, _) = self.open_sync_session(user, &account).await?;
        let uid = u32::try_from(row.uid).unwrap_or(0);
        let result = async {
            // EXAMINE is enough: COPY reads the source, it does not change it.
            sync::open(&self.connector, &mut session, &folder.name, false).await.map_err(MailError::Unreachable)?;
            let answer = super::command::copy(&self.connector, &mut session, uid, &target.name)
                .await
                .map_err(MailError::Unreachable)?;
            if !answer.ok {
                // RFC 9051 §6.4.7: a message expunged meanwhile makes the copy fail (or copy nothing).
                return Err(MailError::Refused(answer.text));
            }
            let mut report = SyncReport::default();
            self.sync_folder(&mut session, user, target.clone(), resync, &mut report).await
        }
        .await;
        self.logout(session).await;
        result
    }

    /// Deletes a message: to the account's Trash, or for good when it is in Trash already (or
    /// the account has none).
    pub async fn delete_message(&self, user: UserId, id: i64) -> MailResult<()> {
        let (row, folder) = self.store.mail_message(user, id).await?;
        let trash = self.store.mail_folder_by_role(user, row.account_id, "trash").await?;
        let target = trash.filter(|t| t.id != folder.id);
        self.relocate(user, &row, folder, target).await
    }

    /// Moves (`Some(target)`) or expunges (`None`) one message, then syncs what changed.
    pub(super) async fn relocate(
        &self,
        user: UserId,
        row: &MailMessageRow,
        folder: MailFolderRow,
        target: Option<MailFolderRow>,
    ) -> MailResult<()> {
        let account = self.store.mail_account(user, row.account_id).await?;
        let lock = self.account_lock(row.account_id);
        let _guard = lock.lock().await;
        // With QRESYNC enabled the expunge or move is answered by VANISHED instead of EXPUNGE
        // (RFC 7162 §3.2.7, §3.2.9), which nothing here reads, and the source folder's sync
        // below learns of the removal from VANISHED instead of a search.
        let (mut session, resync, capabilities) = self.open_sync_session(user, &account).await?;
        let has = |c: &str| capabilities.iter().any(|x| x == c);
        let uid = u32::try_from(row.uid).unwrap_or(0);
        let result = async {
            self.connector.step(Step::Protocol, session.select(&folder.name)).await.map_err(MailError::Unreachable)?;
            match &target {
                Some(t) => {
                    sync::move_message(&self.connector, &mut session, uid, &t.name, has("MOVE"), has("UIDPLUS")).await
                }
                None => sync::expunge(&self.connector, &mut session, uid, has("UIDPLUS")).await,
            }
            .map_err(MailError::Unreachable)?;
            let mut report = SyncReport::default();
            self.sync_folder(&mut session, user, folder.clone(), resync, &mut report).await?;
            if let Some(t) = target.clone() {
                self.sync_folder(&mut session, user, t, resync, &mut report).await?;
            }
            Ok::<(), MailError>(())
        }
        .await;
        self.logout(session).await;
        result
    }
}
