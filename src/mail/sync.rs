//! Synchronising a linked account's folder list into the index: names, special-use roles
//! (RFC 6154), and per folder the state incremental sync keys on (UIDVALIDITY, UIDNEXT,
//! HIGHESTMODSEQ from RFC 7162 when the server has CONDSTORE) with message and unseen counts.
//!
//! Protocol only: the caller stores what this returns (`Store::replace_mail_folders`).

use futures_util::TryStreamExt;
use serde::Serialize;
use utoipa::ToSchema;

use super::connect::{Connector, Failure, Session, Step};

/// The most folders one account's list may hold; beyond it the sync refuses (a server that
/// lists hundreds of thousands of names is not a mailbox a person reads).
pub const MAX_FOLDERS: usize = 2_000;

/// A folder's role (RFC 6154 §2, and INBOX by name: RFC 9051 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Inbox,
    All,
    Archive,
    Drafts,
    Flagged,
    Junk,
    Sent,
    Trash,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Inbox => "inbox",
            Role::All => "all",
            Role::Archive => "archive",
            Role::Drafts => "drafts",
            Role::Flagged => "flagged",
            Role::Junk => "junk",
            Role::Sent => "sent",
            Role::Trash => "trash",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        [Role::Inbox, Role::All, Role::Archive, Role::Drafts, Role::Flagged, Role::Junk, Role::Sent, Role::Trash]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// One folder as the server described it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderState {
    /// The name as the server spells it (modified UTF-7): what commands must use.
    pub name: String,
    /// The name for people (decoded, RFC 3501 §5.1.3).
    pub display_name: String,
    pub delimiter: Option<String>,
    pub role: Option<Role>,
    /// `\Noselect` folders only hold others.
    pub selectable: bool,
    pub uidvalidity: Option<i64>,
    pub uidnext: Option<i64>,
    pub highestmodseq: Option<i64>,
    pub total: i64,
    pub unseen: i64,
}

/// Lists the account's folders and asks each selectable one for its state (`STATUS`, so no
/// folder is selected and nothing is marked seen).
pub async fn folders(
    connector: &Connector,
    session: &mut Session,
    condstore: bool,
) -> Result<Vec<FolderState>, Failure> {
    use async_imap::types::NameAttribute;
    let listed = connector
        .step(Step::Protocol, async {
            let stream = session.list(Some(""), Some("*")).await?;
            stream.try_collect::<Vec<_>>().await
        })
        .await?;
    if listed.len() > MAX_FOLDERS {
        return Err(Failure { step: Step::Protocol, message: format!("more than {MAX_FOLDERS} folders") });
    }
    let mut out = Vec::with_capacity(listed.len());
    for name in &listed {
        let attributes = name.attributes();
        let selectable = !attributes.iter().any(|a| matches!(a, NameAttribute::NoSelect));
        let role = if name.name().eq_ignore_ascii_case("INBOX") {
            Some(Role::Inbox)
        } else {
            attributes.iter().find_map(|a| match a {
                NameAttribute::All => Some(Role::All),
                NameAttribute::Archive => Some(Role::Archive),
                NameAttribute::Drafts => Some(Role::Drafts),
                NameAttribute::Flagged => Some(Role::Flagged),
                NameAttribute::Junk => Some(Role::Junk),
                NameAttribute::Sent => Some(Role::Sent),
                NameAttribute::Trash => Some(Role::Trash),
                _ => None,
            })
        };
        out.push(FolderState {
            name: name.name().to_string(),
            display_name: madang_mail::utf7::decode(name.name()),
            delimiter: name.delimiter().map(str::to_string),
            role,
            selectable,
            uidvalidity: None,
            uidnext: None,
            highestmodseq: None,
            total: 0,
            unseen: 0,
        });
    }
    let items = if condstore {
        "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ)"
    } else {
        "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN)"
    };
    for folder in out.iter_mut().filter(|f| f.selectable) {
        let status = connector.step(Step::Protocol, session.status(&folder.name, items)).await?;
        folder.total = i64::from(status.exists);
        folder.unseen = i64::from(status.unseen.unwrap_or(0));
        folder.uidnext = status.uid_next.map(i64::from);
        folder.uidvalidity = status.uid_validity.map(i64::from);
        folder.highestmodseq = status.highest_modseq.and_then(|m| i64::try_from(m).ok());
    }
    Ok(out)
}

/// A folder as `SELECT`/`EXAMINE` showed it (RFC 9051 §6.3.2; HIGHESTMODSEQ from RFC 7162 §3.1.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selected {
    pub uidvalidity: u32,
    pub uidnext: u32,
    pub exists: u32,
    pub highestmodseq: Option<u64>,
}

/// Opens a folder read-only for the sync: `EXAMINE`, or `SELECT … (CONDSTORE)` where the server
/// has CONDSTORE (so FETCH answers carry MODSEQ). Only `BODY.PEEK` is fetched, so no message is
/// marked seen either way.
pub async fn open(
    connector: &Connector,
    session: &mut Session,
    name: &str,
    condstore: bool,
) -> Result<Selected, Failure> {
    let mailbox = if condstore {
        connector.step(Step::Protocol, session.select_condstore(name)).await?
    } else {
        connector.step(Step::Protocol, session.examine(name)).await?
    };
    Ok(Selected {
        uidvalidity: mailbox.uid_validity.unwrap_or(0),
        uidnext: mailbox.uid_next.unwrap_or(0),
        exists: mailbox.exists,
        highestmodseq: mailbox.highest_modseq,
    })
}

/// The UIDs at or above `from`, newest first (`UID SEARCH UID from:*`; `*` always names the
/// last message, even below `from`, so the answer is filtered, RFC 9051 §6.4.4).
pub async fn uids_from(connector: &Connector, session: &mut Session, from: u32) -> Result<Vec<u32>, Failure> {
    let found = connector.step(Step::Protocol, session.uid_search(format!("UID {}:*", from.max(1)))).await?;
    let mut uids: Vec<u32> = found.into_iter().filter(|&u| u >= from).collect();
    uids.sort_unstable_by(|a, b| b.cmp(a));
    Ok(uids)
}

/// Every UID in the open folder (to find what was expunged without QRESYNC).
pub async fn all_uids(connector: &Connector, session: &mut Session) -> Result<std::collections::HashSet<u32>, Failure> {
    connector.step(Step::Protocol, session.uid_search("ALL")).await
}

/// A UID set in IMAP's compact form: `7,3:5` (RFC 9051 §9, sequence-set).
pub fn uid_set(uids: &[u32]) -> String {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        parts.push(if start == end { start.to_string() } else { format!("{start}:{end}") });
        i += 1;
    }
    parts.join(",")
}

/// One message as the sync fetched it.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub uid: u32,
    pub modseq: Option<u64>,
    pub flags: Vec<String>,
    pub internal_date: Option<chrono::DateTime<chrono::Utc>>,
    pub size: u32,
    pub has_attachments: bool,
    pub summary: madang_mail::summary::Summary,
}

/// A flag as the index keeps it; `None` for those that are not the message's state.
pub(super) fn flag_name(flag: async_imap::types::Flag<'_>) -> Option<String> {
    use async_imap::types::Flag;
    match flag {
        Flag::Seen => Some("\\Seen".to_string()),
        Flag::Answered => Some("\\Answered".to_string()),
        Flag::Flagged => Some("\\Flagged".to_string()),
        Flag::Deleted => Some("\\Deleted".to_string()),
        Flag::Draft => Some("\\Draft".to_string()),
        // \Recent belongs to one session (RFC 9051 drops it): not the message's state.
        Flag::Recent | Flag::MayCreate => None,
        Flag::Custom(c) => Some(c.to_string()),
    }
}

fn flag_names(fetch: &async_imap::types::Fetch) -> Vec<String> {
    fetch.flags().filter_map(flag_name).collect()
}

/// Whether a message has attachments, from its BODYSTRUCTURE: a part marked as one, a non-text
/// part without `inline`, or an attached message.
pub fn has_attachments(structure: &async_imap::imap_proto::BodyStructure<'_>) -> bool {
    use async_imap::imap_proto::BodyStructure as B;
    let disposition =
        |c: &async_imap::imap_proto::BodyContentCommon<'_>| c.disposition.as_ref().map(|d| d.ty.to_ascii_lowercase());
    match structure {
        B::Multipart { bodies, .. } => bodies.iter().any(has_attachments),
        B::Message { .. } => true,
        B::Text { common, .. } => disposition(common).as_deref() == Some("attachment"),
        B::Basic { common, .. } => match disposition(common).as_deref() {
            Some("attachment") => true,
            Some("inline") => false,
            // Images in multipart/related are the HTML's pictures, not attachments.
            _ => !common.ty.ty.eq_ignore_ascii_case("image"),
        },
    }
}

/// Fetches what the index keeps of `uids` (one command): flags, INTERNALDATE, size,
/// BODYSTRUCTURE, the summary's header fields and the text's first bytes, never whole messages.
pub async fn fetch_summaries(
    connector: &Connector,
    session: &mut Session,
    uids: &[u32],
    condstore: bool,
) -> Result<Vec<Fetched>, Failure> {
    use madang_mail::summary::{HEADER_FIELDS, PREVIEW_BYTES, summarize};
    if uids.is_empty() {
        return Ok(Vec::new());
    }
    let query = format!(
        "(UID FLAGS INTERNALDATE RFC822.SIZE BODYSTRUCTURE{} BODY.PEEK[HEADER.FIELDS ({HEADER_FIELDS})] BODY.PEEK[TEXT]<0.{PREVIEW_BYTES}>)",
        if condstore { " MODSEQ" } else { "" }
    );
    let set = uid_set(uids);
    let fetches = connector
        .step(Step::Protocol, async {
            let stream = session.uid_fetch(&set, &query).await?;
            stream.try_collect::<Vec<_>>().await
        })
        .await?;
    Ok(fetches
        .iter()
        .filter_map(|f| {
            let uid = f.uid?;
            Some(Fetched {
                uid,
                modseq: f.modseq,
                flags: flag_names(f),
                internal_date: f.internal_date().map(|d| d.with_timezone(&chrono::Utc)),
                size: f.size.unwrap_or(0),
                has_attachments: f.bodystructure().is_some_and(has_attachments),
                summary: summarize(f.header().unwrap_or_default(), f.text().unwrap_or_default()),
            })
        })
        .collect())
}

/// Every message's flags, or with CONDSTORE only those changed since `changedsince`
/// (`UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE n)`, RFC 7162 §3.1.4).
pub async fn fetch_flags(
    connector: &Connector,
    session: &mut Session,
    changedsince: Option<u64>,
) -> Result<Vec<(u32, Vec<String>, Option<u64>)>, Failure> {
    let query = match changedsince {
        Some(n) => format!("(UID FLAGS) (CHANGEDSINCE {n})"),
        None => "(UID FLAGS)".to_string(),
    };
    let fetches = connector
        .step(Step::Protocol, async {
            let stream = session.uid_fetch("1:*", &query).await?;
            stream.try_collect::<Vec<_>>().await
        })
        .await?;
    Ok(fetches.iter().filter_map(|f| Some((f.uid?, flag_names(f), f.modseq))).collect())
}

/// The whole message, to read it (`BODY.PEEK[]`: reading does not mark it seen; the client
/// says so itself).
pub async fn fetch_message(connector: &Connector, session: &mut Session, uid: u32) -> Result<Option<Vec<u8>>, Failure> {
    let fetches = connector
        .step(Step::Protocol, async {
            let stream = session.uid_fetch(uid.to_string(), "(UID BODY.PEEK[])").await?;
            stream.try_collect::<Vec<_>>().await
        })
        .await?;
    Ok(fetches.iter().find(|f| f.uid == Some(uid)).and_then(|f| f.body().map(<[u8]>::to_vec)))
}

/// Adds or removes flags on one message (`UID STORE`, RFC 9051 §6.4.6); the folder must be
/// selected read-write.
pub async fn store_flags(
    connector: &Connector,
    session: &mut Session,
    uid: u32,
    add: &[&str],
    remove: &[&str],
) -> Result<(), Failure> {
    for (op, flags) in [("+FLAGS.SILENT", add), ("-FLAGS.SILENT", remove)] {
        if flags.is_empty() {
            continue;
        }
        let query = format!("{op} ({})", flags.join(" "));
        connector
            .step(Step::Protocol, async {
                let stream = session.uid_store(uid.to_string(), &query).await?;
                stream.try_collect::<Vec<_>>().await
            })
            .await?;
    }
    Ok(())
}

/// Moves one message of the selected folder to `target`: `UID MOVE` (RFC 6851) where the server
/// has MOVE, else `UID COPY`, `\Deleted` and `UID EXPUNGE` (RFC 4315; without UIDPLUS a plain
/// `EXPUNGE`, which also removes anything else already marked deleted, as RFC 6851 §3.3 warns).
pub async fn move_message(
    connector: &Connector,
    session: &mut Session,
    uid: u32,
    target: &str,
    has_move: bool,
    uidplus: bool,
) -> Result<(), Failure> {
    if has_move {
        return connector.step(Step::Protocol, session.uid_mv(uid.to_string(), target)).await;
    }
    connector.step(Step::Protocol, session.uid_copy(uid.to_string(), target)).await?;
    expunge(connector, session, uid, uidplus).await
}

/// Deletes one message of the selected folder for good: `\Deleted`, then expunged.
pub async fn expunge(connector: &Connector, session: &mut Session, uid: u32, uidplus: bool) -> Result<(), Failure> {
    store_flags(connector, session, uid, &["\\Deleted"], &[]).await?;
    connector
        .step(Step::Protocol, async {
            if uidplus {
                let stream = session.uid_expunge(uid.to_string()).await?;
                stream.try_collect::<Vec<_>>().await.map(drop)
            } else {
                let stream = session.expunge().await?;
                stream.try_collect::<Vec<_>>().await.map(drop)
            }
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_are_compact() {
        assert_eq!(uid_set(&[9, 3, 4, 5, 7, 4]), "3:5,7,9");
        assert_eq!(uid_set(&[1]), "1");
        assert_eq!(uid_set(&[]), "");
    }
}
