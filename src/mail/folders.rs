//! Folders the user creates, renames, moves and deletes on the linked account's server
//! (`CREATE`, `RENAME`, `DELETE`, RFC 9051 §6.3.4–§6.3.6), then the index's folder list brought
//! up to date and the owner's other tabs told (`mail.changed`).
//!
//! The server is the truth: a change is made there first, and the index follows only once the
//! server said `OK`. INBOX and special-use folders (RFC 6154) are refused before anything is
//! sent: mail apps find Sent or Trash by that role, and renaming it away would break them.

use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;

use super::connect::Session;
use super::{Folder, MailError, MailResult, MailService, command, sync};
use crate::domain::UserId;
use crate::store::mail::MailFolderRow;

/// The longest folder name, in characters (one level; servers limit whole paths further).
pub const MAX_NAME: usize = 200;

/// A folder to create.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFolder {
    /// The name for people (any script: Madang encodes it for IMAP).
    pub name: String,
    /// The folder to create it in; top level when absent.
    #[serde(default)]
    pub parent: Option<i64>,
}

/// A change to a folder: a new name, a new place, or both.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FolderChange {
    /// The new name (one level, without the parent's path); absent keeps the name.
    #[serde(default)]
    pub name: Option<String>,
    /// Move under this folder; `null` moves to the top level; absent stays where it is.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub parent: Option<Option<i64>>,
}

/// `Some(value)` for a field that is present, even as `null` (absent stays `None` by `default`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    Option::<i64>::deserialize(d).map(Some)
}

/// The role a folder must not lose: INBOX and every RFC 6154 special use.
fn protected(folder: &MailFolderRow) -> MailResult<()> {
    match folder.role.as_deref() {
        None => Ok(()),
        Some("inbox") => Err(MailError::Invalid("INBOX cannot be renamed, moved or deleted".into())),
        Some(role) => Err(MailError::Invalid(format!(
            "the {role} folder is a special-use folder (RFC 6154) that mail apps rely on: it cannot be renamed, \
             moved or deleted"
        ))),
    }
}

/// A folder name a person typed, checked: not empty, no control characters, not the server's
/// hierarchy separator (that would make a subfolder), not too long.
fn leaf_name(name: &str, delimiter: Option<&str>) -> MailResult<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(MailError::Invalid("name: a folder needs a name".into()));
    }
    if name.chars().any(char::is_control) {
        return Err(MailError::Invalid("name: no control characters (tabs, line breaks)".into()));
    }
    if let Some(d) = delimiter.filter(|d| !d.is_empty())
        && name.contains(d)
    {
        return Err(MailError::Invalid(format!(
            "name: “{d}” separates folders on this server; to make a subfolder, choose a parent"
        )));
    }
    if name.chars().count() > MAX_NAME {
        return Err(MailError::Invalid(format!("name: up to {MAX_NAME} characters")));
    }
    Ok(name.to_string())
}

/// The account's hierarchy separator: the one its folders were listed with.
fn delimiter_of(folders: &[MailFolderRow]) -> Option<String> {
    folders.iter().find_map(|f| f.delimiter.clone().filter(|d| !d.is_empty()))
}

/// `parent/leaf` in the server's spelling.
fn full_name(parent: Option<&MailFolderRow>, delimiter: Option<&str>, leaf: &str) -> MailResult<String> {
    let leaf = madang_mail::utf7::encode(leaf);
    match (parent, delimiter) {
        (None, _) => Ok(leaf),
        (Some(p), Some(d)) => Ok(format!("{}{d}{leaf}", p.name)),
        (Some(_), None) => Err(MailError::Invalid("parent: this server has no subfolders".into())),
    }
}

/// Whether `name` is already a folder (INBOX in any case, RFC 9051 §5.1).
fn taken(folders: &[MailFolderRow], name: &str) -> bool {
    folders
        .iter()
        .any(|f| f.name == name || (name.eq_ignore_ascii_case("INBOX") && f.name.eq_ignore_ascii_case("INBOX")))
}

fn conflict() -> MailError {
    MailError::Conflict("a folder with this name already exists here".into())
}

/// `child` lies under `folder` (its name starts with the folder's and the separator).
fn is_under(child: &str, folder: &MailFolderRow) -> bool {
    folder.delimiter.as_deref().is_some_and(|d| child.starts_with(&format!("{}{d}", folder.name)))
}

impl MailService {
    /// One of the user's folders (404 `FolderNotFound` otherwise).
    async fn own_folder(&self, user: UserId, id: i64) -> MailResult<MailFolderRow> {
        self.store.mail_folder(user, id).await.map_err(|e| match MailError::from(e) {
            MailError::NotFound => MailError::FolderNotFound,
            other => other,
        })
    }

    /// Runs one change in a session on the account (one change per account at a time, as syncs
    /// are), then lists the account's folders again into the index. Returns the index's folders.
    async fn change_on_server(&self, user: UserId, account: i64, change: Change<'_>) -> MailResult<Vec<MailFolderRow>> {
        let row = self.store.mail_account(user, account).await?;
        let lock = self.account_lock(account);
        let _guard = lock.lock().await;
        let (mut session, capabilities) = self.login(user, &row).await?;
        let condstore = capabilities.iter().any(|c| c == "CONDSTORE");
        let result = async {
            self.apply(&mut session, user, change).await?;
            let found =
                sync::folders(&self.connector, &mut session, condstore).await.map_err(MailError::Unreachable)?;
            let folders = super::new_folders(found);
            Ok::<_, MailError>(self.store.replace_mail_folders(user, account, &folders, self.clock.now()).await?)
        }
        .await;
        self.logout(session).await;
        result
    }

    /// The change itself: the command, and what the index must know before the folder list is
    /// read again.
    async fn apply(&self, session: &mut Session, user: UserId, change: Change<'_>) -> MailResult<()> {
        let unreachable = MailError::Unreachable;
        match change {
            Change::Create { name } => {
                refused(&command::create(&self.connector, session, name).await.map_err(unreachable)?)
            }
            Change::Rename { folder, to, renames } => {
                let answer = command::rename(&self.connector, session, &folder.name, to).await.map_err(unreachable)?;
                refused(&answer)?;
                // Before the list is read again, so the rows (and their messages) keep their ids
                // under the new names.
                Ok(self.store.rename_mail_folders(user, folder, renames, self.clock.now()).await?)
            }
            Change::Delete { folder } => {
                let answer = command::delete(&self.connector, session, &folder.name).await.map_err(unreachable)?;
                // Already gone on the server (RFC 5530 `NONEXISTENT`): the index catches up.
                if !answer.text.to_ascii_uppercase().contains("NONEXISTENT") {
                    refused(&answer)?;
                }
                self.store.delete_mail_folder(user, folder, self.clock.now()).await?;
                Ok(())
            }
        }
    }

    /// Creates a folder on the server (in `parent`, or at the top level), then in the index.
    pub async fn create_folder(&self, user: UserId, account: i64, input: &NewFolder) -> MailResult<Folder> {
        let folders = self.store.mail_folders(user, account).await?;
        let parent = match input.parent {
            None => None,
            Some(id) => match folders.iter().find(|f| f.id == id) {
                Some(p) => Some(p),
                // Another account's folder (of this user) is a mistake; another user's is a 404.
                None => {
                    self.own_folder(user, id).await?;
                    return Err(MailError::Invalid("parent: a folder of the same account".into()));
                }
            },
        };
        let delimiter = parent.and_then(|p| p.delimiter.clone()).or_else(|| delimiter_of(&folders));
        let leaf = leaf_name(&input.name, delimiter.as_deref())?;
        let name = full_name(parent, delimiter.as_deref(), &leaf)?;
        if taken(&folders, &name) {
            return Err(conflict());
        }
        let rows = self.change_on_server(user, account, Change::Create { name: &name }).await?;
        let row = rows
            .into_iter()
            .find(|f| f.name == name)
            .ok_or_else(|| MailError::Refused(format!("the server said it created “{leaf}” but does not list it")))?;
        self.store.announce_mail_folder(user, &row, "created", self.clock.now()).await?;
        Ok(Self::folder_view(row))
    }

    /// Renames a folder and/or moves it under another of the account's folders (`RENAME`: its
    /// subfolders go with it, and keep their messages in the index).
    pub async fn change_folder(&self, user: UserId, id: i64, change: &FolderChange) -> MailResult<Folder> {
        let folder = self.own_folder(user, id).await?;
        protected(&folder)?;
        let folders = self.store.mail_folders(user, folder.account_id).await?;
        let delimiter = folder.delimiter.clone().or_else(|| delimiter_of(&folders));
        let d = delimiter.as_deref();
        // Where it is now: the parent's name and its own (decoded) name.
        let (current_parent, current_leaf) = match d.and_then(|d| folder.name.rsplit_once(d)) {
            Some((parent, leaf)) => (folders.iter().find(|f| f.name == parent), madang_mail::utf7::decode(leaf)),
            None => (None, folder.display_name.clone()),
        };
        let parent = match change.parent {
            None => current_parent,
            Some(None) => None,
            Some(Some(pid)) => {
                let Some(p) = folders.iter().find(|f| f.id == pid) else {
                    self.own_folder(user, pid).await?;
                    return Err(MailError::Invalid("parent: a folder of the same account".into()));
                };
                if p.id == folder.id || is_under(&p.name, &folder) {
                    return Err(MailError::Invalid("parent: a folder cannot go inside itself".into()));
                }
                Some(p)
            }
        };
        let leaf = match &change.name {
            Some(name) => leaf_name(name, d)?,
            None => current_leaf,
        };
        let name = full_name(parent, d, &leaf)?;
        if name == folder.name {
            return Ok(Self::folder_view(folder));
        }
        if taken(&folders, &name) {
            return Err(conflict());
        }
        let renames: Vec<(i64, String, String)> = folders
            .iter()
            .filter(|f| f.id == folder.id || is_under(&f.name, &folder))
            .map(|f| {
                let renamed = format!("{name}{}", &f.name[folder.name.len()..]);
                let display = madang_mail::utf7::decode(&renamed);
                (f.id, renamed, display)
            })
            .collect();
        let change = Change::Rename { folder: &folder, to: &name, renames: &renames };
        let rows = self.change_on_server(user, folder.account_id, change).await?;
        let row = rows.into_iter().find(|f| f.id == folder.id).ok_or(MailError::FolderNotFound)?;
        Ok(Self::folder_view(row))
    }

    /// Deletes a folder and its messages on the server, then from the index. A folder with
    /// subfolders is refused: RFC 9051 §6.3.5 would leave it behind as a name that holds them.
    pub async fn delete_folder(&self, user: UserId, id: i64) -> MailResult<()> {
        let folder = self.own_folder(user, id).await?;
        protected(&folder)?;
        let folders = self.store.mail_folders(user, folder.account_id).await?;
        if folders.iter().any(|f| is_under(&f.name, &folder)) {
            return Err(MailError::Conflict("the folder has subfolders: delete or move them first".into()));
        }
        self.change_on_server(user, folder.account_id, Change::Delete { folder: &folder }).await?;
        Ok(())
    }
}

/// A change to make on the server.
enum Change<'a> {
    Create {
        name: &'a str,
    },
    /// `renames`: the folder and its subfolders' new `(id, name, display_name)` for the index.
    Rename {
        folder: &'a MailFolderRow,
        to: &'a str,
        renames: &'a [(i64, String, String)],
    },
    Delete {
        folder: &'a MailFolderRow,
    },
}

/// `Refused` with the server's words unless it said `OK`; `ALREADYEXISTS` is the 409 it means.
fn refused(answer: &command::Answer) -> MailResult<()> {
    if answer.ok {
        Ok(())
    } else if answer.already_exists() {
        Err(conflict())
    } else {
        Err(MailError::Refused(answer.text.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_before_anything_is_sent() {
        assert_eq!(leaf_name("  Projects  ", Some("/")).unwrap(), "Projects");
        for bad in ["", "   ", "a/b", "tab\there", "line\nbreak", &"x".repeat(MAX_NAME + 1)] {
            assert!(matches!(leaf_name(bad, Some("/")), Err(MailError::Invalid(_))), "{bad:?}");
        }
        // Another server's separator is an ordinary character here.
        assert_eq!(leaf_name("a/b", Some(".")).unwrap(), "a/b");
    }
}
