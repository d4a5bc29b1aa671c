//! Mail's domain service: the accounts a user links (their servers and sealed credentials), the
//! connection test that must pass before one is saved, and provider suggestions.
//!
//! Passwords are sealed with the instance's secret box (`auth::secretbox`) under a context
//! naming the row, opened only to connect, never logged and never returned by the API. Every
//! connection goes through the outbound guard (`crate::outbound`): a user cannot make Madang
//! reach an internal address unless an administrator allowed its network.
//!
//! The service takes the store, the clock and its settings, never `AppState`
//! (`../shared/LAYERS.md`).

pub mod cache;
pub mod command;
pub mod connect;
pub mod discover;
pub mod folders;
pub mod images;
pub mod index;
pub mod oauth;
pub mod parts;
pub mod providers;
pub mod qresync;
pub mod relay;
pub mod search;
pub mod send;
pub mod sync;
pub mod watch;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::secretbox::SecretBox;
use crate::clock::Clock;
use crate::config::MailConfig;
use crate::domain::UserId;
use crate::store::mail::{MailAccountFields, MailAccountRow, MailFolderRow, NewMailFolder};
use crate::store::{Store, StoreError};
pub use connect::{Credential, Endpoint, Failure, ImapInfo, Security, Step};

/// What a user gives to link (or change) an account.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountInput {
    /// The address, `kim@example.com`.
    pub email: String,
    /// The name on sent mail.
    #[serde(default)]
    pub display_name: String,
    pub imap_host: String,
    pub imap_port: u16,
    pub imap_security: Security,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_security: Security,
    /// The user name at the provider (often the address).
    pub username: String,
    /// Required to link; when changing an account, absent keeps the stored one.
    #[serde(default)]
    pub password: Option<String>,
}

impl std::fmt::Display for AccountInput {
    // Never the password: this is what a log line may show.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (imap {}:{}, smtp {}:{})",
            self.email, self.imap_host, self.imap_port, self.smtp_host, self.smtp_port
        )
    }
}

/// A linked account as the API shows it: never the password.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Account {
    pub id: i64,
    pub email: String,
    pub display_name: String,
    pub imap_host: String,
    pub imap_port: u16,
    pub imap_security: Security,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_security: Security,
    pub username: String,
    /// The account the user's mail apps reach when they name none.
    pub default: bool,
    /// `password`, or `oauth` (signed in through `oauth_provider`).
    pub auth: String,
    pub oauth_provider: Option<String>,
    /// Set when the account cannot sign in until its user acts: `consent` (the provider no
    /// longer accepts Madang's access: sign in again with `POST /api/v1/mail/oauth/start`).
    pub problem: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What the connection test found, per server.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TestReport {
    /// Both servers accepted the login.
    pub ok: bool,
    pub imap: ServerReport,
    pub smtp: ServerReport,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ServerReport {
    pub ok: bool,
    /// What failed, when it did.
    pub failure: Option<Failure>,
    /// IMAP only: the extensions Madang uses that the server offers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Vec<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("{0}")]
    Invalid(String),
    #[error("no such mail account")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    /// The connection test failed: nothing was saved.
    #[error("the connection test failed")]
    TestFailed(Box<TestReport>),
    /// The account's server could not be reached or refused (a sync).
    #[error("the mail server could not be reached: {}", .0.message)]
    Unreachable(Failure),
    /// The message is larger than `mail.max_message_size`.
    #[error("the message is larger than {0} bytes")]
    TooLarge(u64),
    /// The message is no longer on the server (moved or deleted since the last sync).
    #[error("the message is no longer on the mail server")]
    Gone,
    /// The OAuth provider no longer accepts Madang's access: only the user can fix it.
    #[error("{0} no longer accepts Madang's access to this mailbox: sign in again")]
    SignInAgain(String),
    /// No such folder of this user (another user's is the same 404).
    #[error("no such folder")]
    FolderNotFound,
    /// The server answered `NO` to a change the user asked for (a name it does not allow, a
    /// folder it will not delete): its own words, since only it knows why.
    #[error("the mail server refused: {0}")]
    Refused(String),
    /// The address is not on the user's list of senders whose images are shown.
    #[error("this sender is not on the list of senders whose images are shown")]
    SenderNotFound,
    #[error(transparent)]
    Store(StoreError),
}

/// The index's rows for what a folder-list sync found.
fn new_folders(found: Vec<sync::FolderState>) -> Vec<NewMailFolder> {
    found
        .into_iter()
        .map(|f| NewMailFolder {
            name: f.name,
            display_name: f.display_name,
            delimiter: f.delimiter,
            role: f.role.map(|r| r.as_str().to_string()),
            selectable: f.selectable,
            uidvalidity: f.uidvalidity,
            uidnext: f.uidnext,
            highestmodseq: f.highestmodseq,
            total: f.total,
            unseen: f.unseen,
        })
        .collect()
}

/// A folder of a linked account, from the index.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Folder {
    pub id: i64,
    /// The name for people (decoded from IMAP's modified UTF-7).
    pub name: String,
    /// The name as the server spells it.
    pub imap_name: String,
    /// The hierarchy separator, e.g. `/` or `.`.
    pub delimiter: Option<String>,
    /// `inbox`, or the RFC 6154 special use: `sent`, `drafts`, `trash`, `junk`, `archive`, `all`, `flagged`.
    pub role: Option<sync::Role>,
    /// `false` for a folder that only holds other folders.
    pub selectable: bool,
    pub total: i64,
    pub unseen: i64,
    pub synced_at: DateTime<Utc>,
}

impl From<StoreError> for MailError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => MailError::NotFound,
            StoreError::Conflict(text) => MailError::Conflict(text),
            other => MailError::Store(other),
        }
    }
}

pub type MailResult<T> = Result<T, MailError>;

/// Linked accounts and their connection tests.
pub struct MailService {
    store: Store,
    clock: Arc<dyn Clock>,
    secretbox: SecretBox,
    config: MailConfig,
    connector: connect::Connector,
    cache: cache::BodyCache<index::Opened>,
    /// Each account's connection places (`index::account_place`).
    account_places: std::sync::Mutex<std::collections::HashMap<i64, Arc<tokio::sync::Semaphore>>>,
    /// Set-up discovery in DNS, with its cache.
    discovery: discover::Discovery,
    /// Signs the image proxy's URLs (`images`).
    image_signer: images::Signer,
    /// One token refresh per account at a time.
    refresh_locks: std::sync::Mutex<std::collections::HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
    /// Wakes the watcher supervisor (an account linked or unlinked).
    kicks: tokio::sync::Notify,
    /// Turns for the watchers' full syncs (`watch::CONCURRENT_FULL_SYNCS`).
    full_syncs: tokio::sync::Semaphore,
    /// One sync per account at a time.
    sync_locks: std::sync::Mutex<std::collections::HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for MailService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailService").finish_non_exhaustive()
    }
}

fn sealing_context(user: UserId, id: i64) -> String {
    format!("mail-account:{}:{id}", user.0)
}

fn host_ok(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
}

impl MailService {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        secretbox: SecretBox,
        image_key: crate::auth::app_password::KeyedHasher,
        config: MailConfig,
    ) -> Result<MailService, String> {
        let connector = connect::Connector::new(&config)?;
        let cache = cache::BodyCache::new(config.body_cache_size);
        let discovery = discover::Discovery::new(config.dns_server, config.dns_timeout);
        Ok(MailService {
            discovery,
            store,
            clock,
            secretbox,
            config,
            connector,
            cache,
            image_signer: images::Signer::new(image_key),
            kicks: tokio::sync::Notify::new(),
            full_syncs: tokio::sync::Semaphore::new(watch::CONCURRENT_FULL_SYNCS),
            sync_locks: Default::default(),
            refresh_locks: Default::default(),
            account_places: Default::default(),
        })
    }

    /// Settings for `email`: a known provider's, else what the domain's DNS says (bounded by
    /// `dns_timeout`, cached), else a guess; with the OAuth provider that signs in to them, when
    /// one is configured. `None` when the address has no domain.
    pub async fn suggest(&self, email: &str) -> Option<providers::Suggestion> {
        let domain = providers::domain_of(email)?;
        let mut suggestion = match providers::known(&domain) {
            Some(known) => known,
            None => providers::from_dns(&domain, &self.discovery.find(&domain).await)
                .unwrap_or_else(|| providers::guess(&domain)),
        };
        suggestion.oauth = self
            .oauth_providers()
            .into_iter()
            .find(|p| p.imap_hosts.iter().any(|h| h.eq_ignore_ascii_case(&suggestion.imap_host)))
            .map(|p| p.id);
        Some(suggestion)
    }

    fn validate(input: &AccountInput) -> MailResult<MailAccountFields> {
        let email = input.email.trim();
        let valid_email = email.len() <= 254
            && email.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && host_ok(domain))
            && !email.chars().any(char::is_whitespace);
        if !valid_email {
            return Err(MailError::Invalid("email: an address such as kim@example.com".into()));
        }
        for (field, host) in [("imap_host", &input.imap_host), ("smtp_host", &input.smtp_host)] {
            if !host_ok(host.trim()) {
                return Err(MailError::Invalid(format!("{field}: a host name or IP address")));
            }
        }
        for (field, port) in [("imap_port", input.imap_port), ("smtp_port", input.smtp_port)] {
            if port == 0 {
                return Err(MailError::Invalid(format!("{field}: 1 to 65535")));
            }
        }
        let username = input.username.trim();
        if username.is_empty() || username.len() > 320 {
            return Err(MailError::Invalid("username: 1 to 320 characters".into()));
        }
        if input.display_name.chars().count() > 200 || input.display_name.chars().any(char::is_control) {
            return Err(MailError::Invalid("display_name: up to 200 characters, no control characters".into()));
        }
        if let Some(password) = &input.password
            && (password.is_empty() || password.len() > 1024)
        {
            return Err(MailError::Invalid("password: 1 to 1024 bytes".into()));
        }
        Ok(MailAccountFields {
            email: email.to_string(),
            display_name: input.display_name.trim().to_string(),
            imap_host: input.imap_host.trim().to_ascii_lowercase(),
            imap_port: input.imap_port,
            imap_security: input.imap_security.as_str().into(),
            smtp_host: input.smtp_host.trim().to_ascii_lowercase(),
            smtp_port: input.smtp_port,
            smtp_security: input.smtp_security.as_str().into(),
            username: username.to_string(),
            oauth_provider: None,
        })
    }

    fn view(row: MailAccountRow) -> Account {
        Account {
            id: row.id,
            email: row.email,
            display_name: row.display_name,
            imap_host: row.imap_host,
            imap_port: u16::try_from(row.imap_port).unwrap_or(0),
            imap_security: Security::parse(&row.imap_security).unwrap_or(Security::Tls),
            smtp_host: row.smtp_host,
            smtp_port: u16::try_from(row.smtp_port).unwrap_or(0),
            smtp_security: Security::parse(&row.smtp_security).unwrap_or(Security::Tls),
            username: row.username,
            default: row.is_default,
            auth: row.auth_kind,
            oauth_provider: row.oauth_provider,
            problem: row.auth_problem,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }

    /// Runs the IMAP and SMTP tests side by side.
    async fn run_test(&self, fields: &MailAccountFields, credential: &Credential) -> TestReport {
        let endpoint = |host: &str, port: u16, security: &str| Endpoint {
            host: host.to_string(),
            port,
            security: Security::parse(security).unwrap_or(Security::Tls),
        };
        let imap = endpoint(&fields.imap_host, fields.imap_port, &fields.imap_security);
        let smtp = endpoint(&fields.smtp_host, fields.smtp_port, &fields.smtp_security);
        let (imap, smtp) = tokio::join!(
            self.connector.test_imap(&imap, &fields.username, credential),
            self.connector.test_smtp(&smtp, &fields.username, credential)
        );
        let imap = match imap {
            Ok(info) => ServerReport { ok: true, failure: None, capabilities: Some(info.capabilities) },
            Err(f) => ServerReport { ok: false, failure: Some(f), capabilities: None },
        };
        let smtp = match smtp {
            Ok(()) => ServerReport { ok: true, failure: None, capabilities: None },
            Err(f) => ServerReport { ok: false, failure: Some(f), capabilities: None },
        };
        TestReport { ok: imap.ok && smtp.ok, imap, smtp }
    }

    /// The connection test alone, saving nothing (the set-up form's "Test" button).
    pub async fn test(&self, input: &AccountInput) -> MailResult<TestReport> {
        let fields = Self::validate(input)?;
        let password =
            input.password.as_deref().ok_or_else(|| MailError::Invalid("password: needed for the test".into()))?;
        Ok(self.run_test(&fields, &Credential::Password(password.to_string())).await)
    }

    pub async fn list(&self, user: UserId) -> MailResult<Vec<Account>> {
        Ok(self.store.mail_accounts(user).await?.into_iter().map(Self::view).collect())
    }

    pub async fn get(&self, user: UserId, id: i64) -> MailResult<Account> {
        Ok(Self::view(self.store.mail_account(user, id).await?))
    }

    /// Links an account after its connection test passed; `TestFailed` saves nothing.
    pub async fn create(&self, user: UserId, input: &AccountInput) -> MailResult<Account> {
        let fields = Self::validate(input)?;
        let password = input.password.as_deref().ok_or_else(|| MailError::Invalid("password: required".into()))?;
        self.check_room(user, &fields.email).await?;
        let row = self.link(user, &fields, &Credential::Password(password.to_string()), password).await?;
        Ok(Self::view(row))
    }

    /// Refuses an address already linked, or one account too many.
    async fn check_room(&self, user: UserId, email: &str) -> MailResult<()> {
        let existing = self.store.mail_accounts(user).await?;
        if existing.len() as u64 >= self.config.max_accounts_per_user {
            return Err(MailError::Conflict(format!(
                "at most {} mail accounts per user",
                self.config.max_accounts_per_user
            )));
        }
        if existing.iter().any(|a| a.email.eq_ignore_ascii_case(email)) {
            return Err(MailError::Conflict("an account with this address is already linked".into()));
        }
        Ok(())
    }

    /// Runs the connection test with `credential`, then saves the account with `secret` (the
    /// password, or the OAuth refresh token) sealed.
    async fn link(
        &self,
        user: UserId,
        fields: &MailAccountFields,
        credential: &Credential,
        secret: &str,
    ) -> MailResult<MailAccountRow> {
        let report = self.run_test(fields, credential).await;
        if !report.ok {
            return Err(MailError::TestFailed(Box::new(report)));
        }
        let seal = |id: i64| -> Result<String, StoreError> { self.seal(secret, &sealing_context(user, id)) };
        let row = self
            .store
            .create_mail_account(user, fields, self.config.max_accounts_per_user, self.clock.now(), seal)
            .await?;
        self.kick();
        Ok(row)
    }

    fn seal(&self, secret: &str, context: &str) -> Result<String, StoreError> {
        use base64::Engine;
        let sealed = self.secretbox.seal(secret.as_bytes(), context)?;
        Ok(base64::engine::general_purpose::STANDARD.encode(sealed))
    }

    fn open(&self, sealed: &str, context: &str) -> MailResult<String> {
        use base64::Engine;
        let damaged = || MailError::Store(StoreError::Internal("a mail account's secret is damaged".into()));
        let sealed = base64::engine::general_purpose::STANDARD.decode(sealed).map_err(|_| damaged())?;
        let plain = self.secretbox.open(&sealed, context).map_err(StoreError::from)?;
        String::from_utf8(plain).map_err(|_| damaged())
    }

    /// What signs in to the account's servers: the stored password, or a current OAuth access
    /// token (refreshed first when it expires within a minute, or when `stale` says the server
    /// just refused it). Opened to connect; never to show.
    pub(crate) async fn credential_of(
        &self,
        user: UserId,
        row: &MailAccountRow,
        stale: bool,
    ) -> MailResult<Credential> {
        if row.auth_kind != "oauth" {
            return Ok(Credential::Password(self.open(&row.secret, &sealing_context(user, row.id))?));
        }
        self.oauth_access(user, row, stale).await.map(Credential::Bearer)
    }

    /// Changes an account's settings (and password, when given), re-running the connection
    /// test whenever anything about reaching the servers changed.
    pub async fn update(&self, user: UserId, id: i64, input: &AccountInput) -> MailResult<Account> {
        let row = self.store.mail_account(user, id).await?;
        // A new password turns an OAuth account into a password one; without one, the way the
        // account signs in stays as it was.
        let fields = MailAccountFields {
            oauth_provider: if input.password.is_some() { None } else { row.oauth_provider.clone() },
            ..Self::validate(input)?
        };
        let stored = row.fields();
        let reach_changed = input.password.is_some()
            || MailAccountFields { email: String::new(), display_name: String::new(), ..fields.clone() }
                != MailAccountFields { email: String::new(), display_name: String::new(), ..stored };
        if reach_changed {
            let credential = match &input.password {
                Some(p) => Credential::Password(p.clone()),
                None => self.credential_of(user, &row, false).await?,
            };
            let report = self.run_test(&fields, &credential).await;
            if !report.ok {
                return Err(MailError::TestFailed(Box::new(report)));
            }
        }
        let secret = match &input.password {
            None => None,
            Some(p) => Some(self.seal(p, &sealing_context(user, id))?),
        };
        Ok(Self::view(self.store.update_mail_account(user, id, &fields, secret, self.clock.now()).await?))
    }

    pub async fn set_default(&self, user: UserId, id: i64) -> MailResult<Account> {
        self.store.set_default_mail_account(user, id).await?;
        self.get(user, id).await
    }

    pub async fn delete(&self, user: UserId, id: i64) -> MailResult<()> {
        self.store.delete_mail_account(user, id).await?;
        self.kick();
        Ok(())
    }

    fn folder_view(row: MailFolderRow) -> Folder {
        Folder {
            id: row.id,
            name: row.display_name,
            imap_name: row.name,
            delimiter: row.delimiter,
            role: row.role.as_deref().and_then(sync::Role::parse),
            selectable: row.selectable,
            total: row.total,
            unseen: row.unseen,
            synced_at: row.synced_at,
        }
    }

    /// The account's folders from the index (empty before the first sync).
    pub async fn folders(&self, user: UserId, id: i64) -> MailResult<Vec<Folder>> {
        Ok(self.store.mail_folders(user, id).await?.into_iter().map(Self::folder_view).collect())
    }

    /// Re-runs the test of a saved account with its stored password.
    pub async fn retest(&self, user: UserId, id: i64) -> MailResult<TestReport> {
        let row = self.store.mail_account(user, id).await?;
        let credential = self.credential_of(user, &row, false).await?;
        let fields = row.fields();
        Ok(self.run_test(&fields, &credential).await)
    }
}
