//! Linked mail accounts (`mail_accounts`): where a user's mailbox is and the sealed credential
//! to reach it. The store never sees a password: the mail service seals it before and opens
//! it after (`crate::mail`).

use chrono::{DateTime, Utc};

use super::db::{Arg, Db};
use super::{Store, StoreError, StoreResult};
use crate::domain::UserId;
use crate::store::db::args;

/// One linked account as stored; `secret` is sealed.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MailAccountRow {
    pub id: i64,
    pub user_id: i64,
    pub email: String,
    pub display_name: String,
    pub imap_host: String,
    pub imap_port: i64,
    pub imap_security: String,
    pub smtp_host: String,
    pub smtp_port: i64,
    pub smtp_security: String,
    pub username: String,
    pub secret: String,
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// `password`, or `oauth` (then `secret` is the sealed refresh token).
    pub auth_kind: String,
    pub oauth_provider: Option<String>,
    /// The sealed access token and when it expires (OAuth only).
    pub oauth_access: Option<String>,
    pub oauth_expires_at: Option<DateTime<Utc>>,
    /// Why the account cannot sign in until its user acts (`consent`: sign in again).
    pub auth_problem: Option<String>,
}

/// What a user gives for an account, the secret already sealed (or, for a change, `None`
/// to keep the stored one). Serialised into an OAuth flow while the user is at the provider.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MailAccountFields {
    pub email: String,
    pub display_name: String,
    pub imap_host: String,
    pub imap_port: u16,
    pub imap_security: String,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_security: String,
    pub username: String,
    /// The OAuth provider the account signs in with; `None` for a password.
    pub oauth_provider: Option<String>,
}

impl MailAccountRow {
    /// The settings part of the row (what [`MailAccountFields`] carries).
    pub fn fields(&self) -> MailAccountFields {
        MailAccountFields {
            email: self.email.clone(),
            display_name: self.display_name.clone(),
            imap_host: self.imap_host.clone(),
            imap_port: u16::try_from(self.imap_port).unwrap_or(0),
            imap_security: self.imap_security.clone(),
            smtp_host: self.smtp_host.clone(),
            smtp_port: u16::try_from(self.smtp_port).unwrap_or(0),
            smtp_security: self.smtp_security.clone(),
            username: self.username.clone(),
            oauth_provider: self.oauth_provider.clone(),
        }
    }
}

const COLUMNS: &str = "id, user_id, email, display_name, imap_host, imap_port, imap_security, smtp_host, smtp_port, \
                       smtp_security, username, secret, is_default, created_at, updated_at, auth_kind, oauth_provider, \
                       oauth_access, oauth_expires_at, auth_problem";

fn field_args(f: &MailAccountFields) -> Vec<Arg> {
    args![
        f.email.clone(),
        f.display_name.clone(),
        f.imap_host.clone(),
        i64::from(f.imap_port),
        f.imap_security.clone(),
        f.smtp_host.clone(),
        i64::from(f.smtp_port),
        f.smtp_security.clone(),
        f.username.clone(),
        if f.oauth_provider.is_some() { "oauth" } else { "password" }.to_string(),
        f.oauth_provider.clone()
    ]
}

/// An authorization-code flow under way (`mail_oauth_flows`).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MailOAuthFlow {
    pub state_hash: String,
    pub user_id: i64,
    pub provider: String,
    pub account_id: Option<i64>,
    /// The account's settings, JSON.
    pub input: String,
    pub expires_at: DateTime<Utc>,
}

/// A unique-index violation on `(user_id, email)` is the user linking an address twice.
fn duplicate(e: StoreError) -> StoreError {
    match e {
        StoreError::Conflict(_) => StoreError::Conflict("an account with this address is already linked".into()),
        other => other,
    }
}

impl Store {
    /// The user's linked accounts, the default first, then in the order they were linked.
    pub async fn mail_accounts(&self, user: UserId) -> StoreResult<Vec<MailAccountRow>> {
        let mut db = Db::read(self).await?;
        db.rows(
            &format!("SELECT {COLUMNS} FROM mail_accounts WHERE user_id = $1 ORDER BY is_default DESC, id"),
            args![user.0],
        )
        .await
    }

    /// One of the user's accounts; `NotFound` for another user's (nobody learns it exists).
    pub async fn mail_account(&self, user: UserId, id: i64) -> StoreResult<MailAccountRow> {
        let mut db = Db::read(self).await?;
        db.opt(&format!("SELECT {COLUMNS} FROM mail_accounts WHERE id = $1 AND user_id = $2"), args![id, user.0])
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Links an account. `seal(id)` gives the sealed secret for the new row's id (the sealing
    /// context names the row, so a secret copied to another row does not open). The first
    /// account is the default. `Conflict` past `max` accounts or for an address already linked.
    pub async fn create_mail_account(
        &self,
        user: UserId,
        fields: &MailAccountFields,
        max: u64,
        now: DateTime<Utc>,
        seal: impl FnOnce(i64) -> StoreResult<String>,
    ) -> StoreResult<MailAccountRow> {
        let mut db = Db::write(self).await?;
        let (count,): (i64,) = db.one("SELECT COUNT(*) FROM mail_accounts WHERE user_id = $1", args![user.0]).await?;
        if u64::try_from(count).unwrap_or(0) >= max {
            return Err(StoreError::Conflict(format!("at most {max} mail accounts per user")));
        }
        let mut values = args![user.0];
        values.extend(field_args(fields));
        values.extend(args![count == 0, now]);
        let (id,): (i64,) = db
            .one(
                "INSERT INTO mail_accounts (user_id, email, display_name, imap_host, imap_port, imap_security, \
                 smtp_host, smtp_port, smtp_security, username, auth_kind, oauth_provider, secret, is_default, \
                 created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, '', $13, $14, $14) RETURNING id",
                values,
            )
            .await
            .map_err(duplicate)?;
        db.exec("UPDATE mail_accounts SET secret = $2 WHERE id = $1", args![id, seal(id)?]).await?;
        let row = db.one(&format!("SELECT {COLUMNS} FROM mail_accounts WHERE id = $1"), args![id]).await?;
        db.commit().await?;
        Ok(row)
    }

    /// Replaces an account's settings, and its secret when `secret` is given. A new secret
    /// clears the access token and any sign-in problem (it is a new password or a new consent).
    pub async fn update_mail_account(
        &self,
        user: UserId,
        id: i64,
        fields: &MailAccountFields,
        secret: Option<String>,
        now: DateTime<Utc>,
    ) -> StoreResult<MailAccountRow> {
        let mut db = Db::write(self).await?;
        let mut values = args![id, user.0];
        values.extend(field_args(fields));
        values.extend(args![now, secret]);
        let n = db
            .exec(
                "UPDATE mail_accounts SET email = $3, display_name = $4, imap_host = $5, imap_port = $6, \
                 imap_security = $7, smtp_host = $8, smtp_port = $9, smtp_security = $10, username = $11, \
                 auth_kind = $12, oauth_provider = $13, updated_at = $14, secret = COALESCE($15, secret), \
                 oauth_access = CASE WHEN $15 IS NULL THEN oauth_access END, \
                 oauth_expires_at = CASE WHEN $15 IS NULL THEN oauth_expires_at END, \
                 auth_problem = CASE WHEN $15 IS NULL THEN auth_problem END \
                 WHERE id = $1 AND user_id = $2",
                values,
            )
            .await
            .map_err(duplicate)?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        let row = db.one(&format!("SELECT {COLUMNS} FROM mail_accounts WHERE id = $1"), args![id]).await?;
        db.commit().await?;
        Ok(row)
    }

    /// Stores a refreshed OAuth access token (and the refresh token, when the provider rotated
    /// it), clearing any sign-in problem.
    pub async fn set_mail_oauth_tokens(
        &self,
        id: i64,
        refresh: Option<String>,
        access: String,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut db = Db::write(self).await?;
        db.exec(
            "UPDATE mail_accounts SET secret = COALESCE($2, secret), oauth_access = $3, oauth_expires_at = $4, \
             auth_problem = NULL WHERE id = $1",
            args![id, refresh, access, expires_at],
        )
        .await?;
        db.commit().await
    }

    /// Records (or, with `None`, clears) why the account cannot sign in; the access token is
    /// dropped with it.
    pub async fn set_mail_auth_problem(&self, id: i64, problem: Option<&str>) -> StoreResult<()> {
        let mut db = Db::write(self).await?;
        db.exec(
            "UPDATE mail_accounts SET auth_problem = $2, oauth_access = CASE WHEN $2 IS NULL THEN oauth_access END, \
             oauth_expires_at = CASE WHEN $2 IS NULL THEN oauth_expires_at END WHERE id = $1",
            args![id, problem.map(str::to_string)],
        )
        .await?;
        db.commit().await
    }

    /// Starts an authorization-code flow (see the `mail_oauth_flows` migration), pruning the
    /// expired ones on the way.
    pub async fn create_mail_oauth_flow(&self, flow: &MailOAuthFlow) -> StoreResult<()> {
        let mut db = Db::write(self).await?;
        db.exec(
            "DELETE FROM mail_oauth_flows WHERE expires_at < $1",
            args![flow.expires_at - chrono::Duration::hours(1)],
        )
        .await?;
        db.exec(
            "INSERT INTO mail_oauth_flows (state_hash, user_id, provider, account_id, input, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            args![
                flow.state_hash.clone(),
                flow.user_id,
                flow.provider.clone(),
                flow.account_id,
                flow.input.clone(),
                flow.expires_at
            ],
        )
        .await?;
        db.commit().await
    }

    /// Takes a flow by its state's hash: it is used once, whatever happens next.
    pub async fn take_mail_oauth_flow(&self, state_hash: &str) -> StoreResult<Option<MailOAuthFlow>> {
        let mut db = Db::write(self).await?;
        let flow: Option<MailOAuthFlow> = db
            .opt(
                "SELECT state_hash, user_id, provider, account_id, input, expires_at FROM mail_oauth_flows \
                 WHERE state_hash = $1",
                args![state_hash.to_string()],
            )
            .await?;
        if flow.is_some() {
            db.exec("DELETE FROM mail_oauth_flows WHERE state_hash = $1", args![state_hash.to_string()]).await?;
        }
        db.commit().await?;
        Ok(flow)
    }

    /// Every linked account of every user that can sign in, `(id, user)`: what the mail
    /// watchers watch (one waiting for its user to sign in again is left alone).
    pub async fn all_mail_accounts(&self) -> StoreResult<Vec<(i64, i64)>> {
        let mut db = Db::read(self).await?;
        db.rows("SELECT id, user_id FROM mail_accounts WHERE auth_problem IS NULL ORDER BY id", Vec::new()).await
    }

    /// Who linked an account with this address, `(user, account)`, at most five: how a mail
    /// app that logs in with the address itself (autoconfig's `%EMAILADDRESS%`) is told apart.
    pub async fn mail_account_owners(&self, email: &str) -> StoreResult<Vec<(i64, i64)>> {
        let mut db = Db::read(self).await?;
        db.rows(
            "SELECT user_id, id FROM mail_accounts WHERE lower(email) = lower($1) ORDER BY user_id, id LIMIT 5",
            args![email.to_string()],
        )
        .await
    }

    /// Makes the account the user's default (the one their mail apps reach without a name).
    pub async fn set_default_mail_account(&self, user: UserId, id: i64) -> StoreResult<()> {
        let mut db = Db::write(self).await?;
        let n = db
            .exec("UPDATE mail_accounts SET is_default = TRUE WHERE id = $1 AND user_id = $2", args![id, user.0])
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        db.exec("UPDATE mail_accounts SET is_default = FALSE WHERE user_id = $1 AND id <> $2", args![user.0, id])
            .await?;
        db.commit().await
    }

    /// Unlinks an account; if it was the default, the oldest remaining one becomes it.
    pub async fn delete_mail_account(&self, user: UserId, id: i64) -> StoreResult<()> {
        let mut db = Db::write(self).await?;
        let n = db.exec("DELETE FROM mail_accounts WHERE id = $1 AND user_id = $2", args![id, user.0]).await?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        db.exec(
            "UPDATE mail_accounts SET is_default = TRUE WHERE id = (SELECT MIN(id) FROM mail_accounts \
             WHERE user_id = $1) AND NOT EXISTS (SELECT 1 FROM mail_accounts WHERE user_id = $1 AND is_default)",
            args![user.0],
        )
        .await?;
        db.commit().await
    }
}

/// One folder of a linked account, as last synchronised.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct MailFolderRow {
    pub id: i64,
    pub account_id: i64,
    pub name: String,
    pub display_name: String,
    pub delimiter: Option<String>,
    pub role: Option<String>,
    pub selectable: bool,
    pub uidvalidity: Option<i64>,
    pub uidnext: Option<i64>,
    pub highestmodseq: Option<i64>,
    pub total: i64,
    pub unseen: i64,
    pub synced_at: DateTime<Utc>,
    /// How far the message index is complete (`src/mail/index.rs`).
    pub indexed_uidvalidity: Option<i64>,
    pub indexed_uidnext: i64,
    pub indexed_modseq: Option<i64>,
}

/// A folder as a sync found it (the row without its id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMailFolder {
    pub name: String,
    pub display_name: String,
    pub delimiter: Option<String>,
    pub role: Option<String>,
    pub selectable: bool,
    pub uidvalidity: Option<i64>,
    pub uidnext: Option<i64>,
    pub highestmodseq: Option<i64>,
    pub total: i64,
    pub unseen: i64,
}

const FOLDER_COLUMNS: &str = "id, account_id, name, display_name, delimiter, role, selectable, uidvalidity, uidnext, \
                              highestmodseq, total, unseen, synced_at, indexed_uidvalidity, indexed_uidnext, indexed_modseq";
/// The same, qualified by `f.` (joined with `mail_accounts a`).
pub(crate) const FOLDER_COLUMNS_F: &str = "f.id, f.account_id, f.name, f.display_name, f.delimiter, f.role, f.selectable, f.uidvalidity, f.uidnext, \
     f.highestmodseq, f.total, f.unseen, f.synced_at, f.indexed_uidvalidity, f.indexed_uidnext, f.indexed_modseq";

/// `NotFound` unless `account` is one of the user's.
async fn owned_account(db: &mut Db<'_>, user: UserId, account: i64) -> StoreResult<()> {
    let owned: Option<(i64,)> =
        db.opt("SELECT id FROM mail_accounts WHERE id = $1 AND user_id = $2", args![account, user.0]).await?;
    owned.map(drop).ok_or(StoreError::NotFound)
}

/// The account's folders, INBOX first, then by name.
async fn folder_rows(db: &mut Db<'_>, account: i64) -> StoreResult<Vec<MailFolderRow>> {
    db.rows(
        &format!(
            "SELECT {FOLDER_COLUMNS} FROM mail_folders WHERE account_id = $1 \
             ORDER BY CASE WHEN role = 'inbox' THEN 0 ELSE 1 END, name"
        ),
        args![account],
    )
    .await
}

impl Store {
    /// The folders of one of the user's accounts, as last synchronised: INBOX first, then by
    /// name. `NotFound` for another user's account.
    pub async fn mail_folders(&self, user: UserId, account: i64) -> StoreResult<Vec<MailFolderRow>> {
        let mut db = Db::read(self).await?;
        owned_account(&mut db, user, account).await?;
        folder_rows(&mut db, account).await
    }

    /// The account's INBOX as last synchronised, if it has been.
    pub async fn mail_inbox(&self, user: UserId, account: i64) -> StoreResult<Option<MailFolderRow>> {
        self.mail_folder_by_role(user, account, "inbox").await
    }

    /// The account's folder with this role (RFC 6154), as last synchronised.
    pub async fn mail_folder_by_role(
        &self,
        user: UserId,
        account: i64,
        role: &str,
    ) -> StoreResult<Option<MailFolderRow>> {
        let mut db = Db::read(self).await?;
        owned_account(&mut db, user, account).await?;
        Ok(folder_rows(&mut db, account).await?.into_iter().find(|f| f.role.as_deref() == Some(role) && f.selectable))
    }

    /// Makes the account's folder list what a sync found: new folders added, known ones
    /// updated (keeping their ids), vanished ones removed. `NotFound` if the account is gone
    /// (unlinked while the sync ran).
    pub async fn replace_mail_folders(
        &self,
        user: UserId,
        account: i64,
        folders: &[NewMailFolder],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<MailFolderRow>> {
        let mut db = Db::write(self).await?;
        owned_account(&mut db, user, account).await?;
        let known: Vec<(i64, String)> =
            db.rows("SELECT id, name FROM mail_folders WHERE account_id = $1", args![account]).await?;
        for (id, name) in &known {
            if !folders.iter().any(|f| &f.name == name) {
                db.exec("DELETE FROM mail_folders WHERE id = $1", args![*id]).await?;
            }
        }
        for f in folders {
            db.exec(
                "INSERT INTO mail_folders (account_id, name, display_name, delimiter, role, selectable, uidvalidity, \
                 uidnext, highestmodseq, total, unseen, synced_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                 ON CONFLICT (account_id, name) DO UPDATE SET display_name = excluded.display_name, \
                 delimiter = excluded.delimiter, role = excluded.role, selectable = excluded.selectable, \
                 uidvalidity = excluded.uidvalidity, uidnext = excluded.uidnext, \
                 highestmodseq = excluded.highestmodseq, total = excluded.total, unseen = excluded.unseen, \
                 synced_at = excluded.synced_at",
                args![
                    account,
                    f.name.clone(),
                    f.display_name.clone(),
                    f.delimiter.clone(),
                    f.role.clone(),
                    f.selectable,
                    f.uidvalidity,
                    f.uidnext,
                    f.highestmodseq,
                    f.total,
                    f.unseen,
                    now
                ],
            )
            .await?;
        }
        let rows = folder_rows(&mut db, account).await?;
        db.commit().await?;
        Ok(rows)
    }
}

/// Folder changes Madang made on the server itself (`crate::mail::folders`), each one
/// transaction with the `mail.changed` event that tells the owner's other tabs (the same event
/// the message index sends, `op` naming what happened).
impl Store {
    /// Tells the owner a folder appeared (created; the folder-list sync already stored it).
    pub async fn announce_mail_folder(
        &self,
        user: UserId,
        folder: &MailFolderRow,
        op: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut db = Db::write(self).await?;
        let told = super::chat::fan_out(&mut db, &[super::mail_index::changed_event(user, folder, op, 1)], now).await?;
        db.commit().await?;
        self.committed_many(told);
        Ok(())
    }

    /// Gives folders of one of the user's accounts their new names after a RENAME on the server
    /// (the folder and its subfolders, `(id, name, display_name)`), keeping their ids and so
    /// their messages. `NotFound` unless `folder` is the user's.
    pub async fn rename_mail_folders(
        &self,
        user: UserId,
        folder: &MailFolderRow,
        renames: &[(i64, String, String)],
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut db = Db::write(self).await?;
        owned_account(&mut db, user, folder.account_id).await?;
        for (id, name, display_name) in renames {
            db.exec(
                "UPDATE mail_folders SET name = $3, display_name = $4 WHERE id = $1 AND account_id = $2",
                args![*id, folder.account_id, name.clone(), display_name.clone()],
            )
            .await?;
        }
        let event = super::mail_index::changed_event(user, folder, "renamed", renames.len());
        let told = super::chat::fan_out(&mut db, &[event], now).await?;
        db.commit().await?;
        self.committed_many(told);
        Ok(())
    }

    /// Forgets a folder deleted on the server, and its messages. Returns how many messages went.
    pub async fn delete_mail_folder(
        &self,
        user: UserId,
        folder: &MailFolderRow,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let mut db = Db::write(self).await?;
        owned_account(&mut db, user, folder.account_id).await?;
        let removed = db.exec("DELETE FROM mail_messages WHERE folder_id = $1", args![folder.id]).await?;
        db.exec("DELETE FROM mail_folders WHERE id = $1 AND account_id = $2", args![folder.id, folder.account_id])
            .await?;
        let event = super::mail_index::changed_event(user, folder, "deleted", removed as usize);
        let told = super::chat::fan_out(&mut db, &[event], now).await?;
        db.commit().await?;
        self.committed_many(told);
        Ok(removed)
    }
}
