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
            display_name: decode_modified_utf7(name.name()),
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

/// IMAP's modified UTF-7 for mailbox names (RFC 3501 §5.1.3): `&` starts base64 of UTF-16
/// with `,` for `/`, `-` ends it, `&-` is `&`. A malformed name is shown as it is.
pub fn decode_modified_utf7(name: &str) -> String {
    use base64::Engine;
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(start) = rest.find('&') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let Some(end) = after.find('-') else { return name.to_string() };
        let encoded = &after[..end];
        if encoded.is_empty() {
            out.push('&');
        } else {
            let b64 = encoded.replace(',', "/");
            let Ok(bytes) = base64::engine::general_purpose::STANDARD_NO_PAD.decode(b64.trim_end_matches('=')) else {
                return name.to_string();
            };
            if bytes.len() % 2 != 0 {
                return name.to_string();
            }
            let units: Vec<u16> = bytes.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
            match String::from_utf16(&units) {
                Ok(text) => out.push_str(&text),
                Err(_) => return name.to_string(),
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modified_utf7_names_decode() {
        // RFC 3501 §5.1.3's own example, and Korean as Korean servers send it.
        assert_eq!(decode_modified_utf7("~peter/mail/&U,BTFw-/&ZeVnLIqe-"), "~peter/mail/台北/日本語");
        assert_eq!(decode_modified_utf7("&vPSwuA- &07jJwNVo-"), "보낸 편지함");
        assert_eq!(decode_modified_utf7("Tom &- Jerry"), "Tom & Jerry");
        assert_eq!(decode_modified_utf7("INBOX"), "INBOX");
        for broken in ["&", "&ZeVnLIqe", "&!!!-", "&AA-"] {
            assert_eq!(decode_modified_utf7(broken), broken);
        }
    }
}
