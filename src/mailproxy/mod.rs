//! The IMAP and SMTP submission listeners native mail apps use (issue 15): a door, like `dav/`.
//!
//! Madang terminates the client's TLS and authentication (its own user name and app password,
//! or a Madang OAuth token with the `mail` scope), picks the linked account, signs in upstream
//! with the account's sealed credentials and relays the session. The protocol parsing before
//! login lives in the pure `madang-mail` crate (`imap_login`, `smtp_submit`); this folder holds
//! the sockets, the limits and the relay. This file is what both protocols share: who logs in
//! (`MailProxy::login`), and how many connections each address and user may hold.

pub mod imap;
pub mod imap_upstream;
pub mod listen;
pub mod smtp;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::auth::{AuthError, Authenticator, BearerResource, Principal};
use crate::clock::Clock;
use crate::config::MailProxyConfig;
use crate::domain::{User, UserId, Username};
use crate::mail::MailService;
use crate::store::mail::MailAccountRow;
use crate::store::{Store, StoreError};

/// How a mail app proved who it is.
#[derive(Clone, Copy)]
pub enum Secret<'a> {
    /// `LOGIN`, `AUTHENTICATE PLAIN`/`LOGIN`, SMTP `AUTH PLAIN`/`LOGIN`: an app password (or the
    /// account password where TOTP is off, as over HTTP Basic).
    Password(&'a str),
    /// `AUTHENTICATE OAUTHBEARER`/`XOAUTH2` (RFC 7628): a Madang access token with the `mail` scope.
    Bearer(&'a str),
}

/// A successful login: the user, the linked account the session goes to, and this user's
/// place among their open sessions (given back when the value is dropped).
pub struct Login {
    pub user: User,
    pub account: MailAccountRow,
    pub principal: Principal,
    /// The user's `credentials_version` when the session began (see [`MailProxy::still_valid`]).
    credentials_version: i64,
    _slot: UserSlot,
}

impl Login {
    /// What a task watching the session keeps (the `Login` itself holds the user's place).
    fn kept(&self) -> LoginRef {
        LoginRef {
            user: self.user.clone(),
            principal: self.principal.clone(),
            credentials_version: self.credentials_version,
        }
    }
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login").field("user", &self.user.username).field("account", &self.account.id).finish()
    }
}

/// Why an open session must end ([`MailProxy::revoked`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    /// The device's app password was revoked, the user disabled, or the password changed.
    Credentials,
    /// An administrator turned the mail module off.
    MailOff,
}

/// What [`MailProxy::revoked`] keeps of a login.
struct LoginRef {
    user: User,
    principal: Principal,
    credentials_version: i64,
}

/// Why a login was refused; each protocol words it in its own codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginError {
    /// Wrong name or secret (indistinguishable from an unknown user): IMAP
    /// `NO [AUTHENTICATIONFAILED]`, SMTP 535 5.7.8.
    Failed,
    /// Too many failures from this address or for this name: wait this long.
    Throttled(Duration),
    /// The secret was right, but no linked account answers to the name (none linked, or no
    /// account matches the `+suffix`): the text says which.
    NoAccount(String),
    /// This user already holds `mailproxy.max_connections_per_user` sessions.
    TooManySessions,
    /// Madang itself cannot answer now (the database): IMAP `NO [UNAVAILABLE]`, SMTP 454.
    Unavailable,
    /// An administrator turned the mail module off: no one's mail app is let through.
    MailOff,
}

/// The shared part of both listeners: authentication, account choice, connection limits.
pub struct MailProxy {
    pub(crate) store: Store,
    pub(crate) auth: Arc<Authenticator>,
    pub(crate) mail: Arc<MailService>,
    pub(crate) clock: Arc<dyn Clock>,
    /// The mail module's switch, read at each login (a cached second at most).
    modules: Arc<crate::modules::Modules>,
    pub(crate) config: MailProxyConfig,
    /// Open connections from each address (IPv6 per /64), before and after login.
    per_address: Arc<Mutex<HashMap<String, usize>>>,
    /// Open sessions of each user after login.
    per_user: Arc<Mutex<HashMap<i64, usize>>>,
    /// Open connections, all together.
    open: Arc<tokio::sync::Semaphore>,
    /// Told once when the server shuts down: sessions say `BYE` / 421 and close.
    shutdown: tokio::sync::watch::Sender<bool>,
}

impl std::fmt::Debug for MailProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailProxy").finish_non_exhaustive()
    }
}

/// One place among the open connections (total and per address), held for a connection's life.
pub struct ConnSlot {
    key: String,
    per_address: Arc<Mutex<HashMap<String, usize>>>,
    _open: tokio::sync::OwnedSemaphorePermit,
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        release(&self.per_address, &self.key);
    }
}

/// One place among a user's open sessions.
struct UserSlot {
    user: i64,
    per_user: Arc<Mutex<HashMap<i64, usize>>>,
}

impl Drop for UserSlot {
    fn drop(&mut self) {
        release(&self.per_user, &self.user);
    }
}

fn release<K: std::hash::Hash + Eq>(map: &Mutex<HashMap<K, usize>>, key: &K) {
    let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(n) = map.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            map.remove(key);
        }
    }
}

/// Adds one to `key`'s count unless it is at `limit`.
fn take<K: std::hash::Hash + Eq>(map: &Mutex<HashMap<K, usize>>, key: K, limit: usize) -> bool {
    let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
    let n = map.entry(key).or_insert(0);
    if *n >= limit {
        return false;
    }
    *n += 1;
    true
}

/// The name a mail app logs in with, taken apart: `alice`, `alice+work`, or an address
/// (`kim@example.com`, what autoconfig's `%EMAILADDRESS%` makes the app send).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginName {
    /// A Madang user name, with the account named after `+` if any.
    User { name: Username, account: Option<String> },
    /// An e-mail address: the Madang user with this address, or the one who linked it.
    Address(String),
}

impl LoginName {
    /// `None` for anything that can be neither (the answer is then the same as for a wrong
    /// password).
    pub fn parse(raw: &str) -> Option<LoginName> {
        let raw = raw.trim();
        if raw.is_empty() || raw.len() > 320 || raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return None;
        }
        if raw.contains('@') {
            let (local, domain) = raw.rsplit_once('@')?;
            return (!local.is_empty() && !domain.is_empty()).then(|| LoginName::Address(raw.to_lowercase()));
        }
        let (name, account) = match raw.split_once('+') {
            Some((name, account)) if !account.is_empty() => (name, Some(account.to_lowercase())),
            Some(_) => return None,
            None => (raw, None),
        };
        Some(LoginName::User { name: Username::parse(name).ok()?, account })
    }
}

/// Which of the user's accounts `wanted` names: the e-mail address itself, its local part, its
/// domain or the domain's first label (`alice+work` for `kim@work.example`), or the account's
/// number; exactly one must match.
pub fn choose_account(accounts: &[MailAccountRow], wanted: Option<&str>) -> Result<MailAccountRow, String> {
    let Some(wanted) = wanted else {
        return accounts
            .iter()
            .find(|a| a.is_default)
            .or(accounts.first())
            .cloned()
            .ok_or_else(|| "no mail account is linked to this Madang account".to_string());
    };
    let by_id = wanted.parse::<i64>().ok();
    let matches: Vec<&MailAccountRow> = accounts
        .iter()
        .filter(|a| {
            let email = a.email.to_lowercase();
            let (local, domain) = email.rsplit_once('@').unwrap_or((&email, ""));
            by_id == Some(a.id)
                || email == wanted
                || local == wanted
                || domain == wanted
                || domain.split('.').next() == Some(wanted)
        })
        .collect();
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(format!("no linked mail account matches `+{wanted}`")),
        _ => Err(format!("several linked mail accounts match `+{wanted}`; use the full address")),
    }
}

impl MailProxy {
    pub fn new(
        store: Store,
        auth: Arc<Authenticator>,
        mail: Arc<MailService>,
        modules: Arc<crate::modules::Modules>,
        clock: Arc<dyn Clock>,
        config: MailProxyConfig,
    ) -> MailProxy {
        MailProxy {
            store,
            auth,
            mail,
            modules,
            clock,
            open: Arc::new(tokio::sync::Semaphore::new(config.max_connections)),
            config,
            per_address: Default::default(),
            per_user: Default::default(),
            shutdown: tokio::sync::watch::channel(false).0,
        }
    }

    pub fn config(&self) -> &MailProxyConfig {
        &self.config
    }

    /// The linked accounts' service: credentials and connections upstream.
    pub fn mail(&self) -> &Arc<MailService> {
        &self.mail
    }

    /// A place for a new connection from `address`, or `None` when Madang or that address is
    /// at its limit (the listener then answers `BYE` / 421 and closes).
    pub fn connection_slot(&self, address: IpAddr) -> Option<ConnSlot> {
        let open = self.open.clone().try_acquire_owned().ok()?;
        let key = crate::auth::rate_limit::address_key(address);
        if !take(&self.per_address, key.clone(), self.config.max_connections_per_address) {
            metrics::counter!("madang_mailproxy_refused_total", "reason" => "per_address").increment(1);
            return None;
        }
        Some(ConnSlot { key, per_address: self.per_address.clone(), _open: open })
    }

    /// Completes when the server begins to shut down.
    pub fn shutting_down(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.shutdown.subscribe();
        async move {
            let _ = rx.wait_for(|down| *down).await;
        }
    }

    /// Tells every session to say goodbye and close.
    pub fn shut_down(&self) {
        self.shutdown.send_replace(true);
    }

    /// Checks `name` and `secret` as HTTP Basic and bearer tokens are checked (one throttle per
    /// name and per address), then picks the linked account the session goes to. `protocol`
    /// (`imap`, `smtp`) is for the audit log.
    pub async fn login(
        &self,
        name: &str,
        secret: Secret<'_>,
        client: IpAddr,
        protocol: &'static str,
    ) -> Result<Login, LoginError> {
        let result = self.login_inner(name, secret, client).await;
        match &result {
            Ok(_) => metrics::counter!("madang_mailproxy_logins_total", "protocol" => protocol, "result" => "ok")
                .increment(1),
            Err(e) => {
                let reason = match e {
                    LoginError::Failed => "failed",
                    LoginError::Throttled(_) => "throttled",
                    LoginError::NoAccount(_) => "no_account",
                    LoginError::TooManySessions => "limit",
                    LoginError::Unavailable => "unavailable",
                    LoginError::MailOff => "mail_off",
                };
                metrics::counter!("madang_mailproxy_logins_total", "protocol" => protocol, "result" => reason)
                    .increment(1);
                if matches!(e, LoginError::Failed | LoginError::Throttled(_)) {
                    let shown: String = name.chars().take(64).collect();
                    crate::audit::record_in(
                        &self.store,
                        self.clock.now(),
                        crate::audit::Entry::new("signin.failure")
                            .actor_name(&shown)
                            .detail(format!("{protocol}: {reason}"))
                            .address(Some(client)),
                    )
                    .await;
                }
            }
        }
        result
    }

    async fn login_inner(&self, name: &str, secret: Secret<'_>, client: IpAddr) -> Result<Login, LoginError> {
        // Checked first: with mail off, nothing about names or passwords is worth learning.
        match self.modules.is_on(crate::modules::Module::Mail).await {
            Ok(true) => {}
            Ok(false) => return Err(LoginError::MailOff),
            Err(_) => return Err(LoginError::Unavailable),
        }
        let parsed = LoginName::parse(name);
        let (principal, wanted) = match secret {
            Secret::Password(password) => {
                let Some(parsed) = parsed else {
                    // The same work and answer as for a wrong password: names are not probed.
                    return self.refuse(name, password, client).await;
                };
                self.password_login(&parsed, password, client).await?
            }
            Secret::Bearer(token) => {
                let key = name.trim().to_lowercase();
                if let Err(AuthError::RateLimited { retry_after }) = self.auth.throttle_check(&key, Some(client)) {
                    return Err(LoginError::Throttled(retry_after));
                }
                let principal = match self.auth.authenticate_bearer(token, BearerResource::Mail).await {
                    Ok(p) => p,
                    Err(AuthError::Unavailable(_)) => return Err(LoginError::Unavailable),
                    Err(_) => {
                        self.auth.throttle_failure(&key, Some(client));
                        return Err(LoginError::Failed);
                    }
                };
                // The name in the exchange (RFC 7628 `a=`, XOAUTH2 `user=`) must be the token's
                // own user, or empty: a token never opens someone else's mailbox.
                let wanted = match parsed {
                    None if name.trim().is_empty() => None,
                    None => return Err(LoginError::Failed),
                    Some(LoginName::User { name, account }) => {
                        if name != principal.user.username {
                            return Err(LoginError::Failed);
                        }
                        account
                    }
                    Some(LoginName::Address(address)) => {
                        let owns = self
                            .accounts_of(principal.user.id)
                            .await?
                            .iter()
                            .any(|a| a.email.to_lowercase() == address)
                            || principal.user.email.as_str().eq_ignore_ascii_case(&address);
                        if !owns {
                            return Err(LoginError::Failed);
                        }
                        Some(address)
                    }
                };
                (principal, wanted)
            }
        };
        let accounts = self.accounts_of(principal.user.id).await?;
        let account = match choose_account(&accounts, wanted.as_deref()) {
            Ok(account) => account,
            // An address that is the user's own Madang address but not a linked one: the default.
            Err(_) if wanted.as_deref().is_some_and(|w| principal.user.email.as_str().eq_ignore_ascii_case(w)) => {
                choose_account(&accounts, None).map_err(LoginError::NoAccount)?
            }
            Err(why) => return Err(LoginError::NoAccount(why)),
        };
        let user_id = principal.user.id.0;
        if !take(&self.per_user, user_id, self.config.max_connections_per_user) {
            return Err(LoginError::TooManySessions);
        }
        let slot = UserSlot { user: user_id, per_user: self.per_user.clone() };
        let credentials_version = self
            .store
            .credentials_by_id(principal.user.id)
            .await
            .map_err(|_| LoginError::Unavailable)?
            .credentials_version;
        Ok(Login { user: principal.user.clone(), account, principal, credentials_version, _slot: slot })
    }

    /// Whether a session may go on: its user is still active, the app password it logged in
    /// with still exists, and an account-password login's credentials have not changed (a
    /// password change, TOTP turned on). So revoking a device ends its open sessions within
    /// `revalidate_every` (30 s), not only its next login. `Err` when the database cannot say (the
    /// session goes on: a database hiccup must not cut every mail app off).
    pub async fn still_valid(&self, login: &Login) -> Result<bool, StoreError> {
        self.check(&login.kept()).await
    }

    /// Whether the mail module is on (a database that cannot say counts as on: the login
    /// already passed the check).
    pub async fn mail_on(&self) -> bool {
        !matches!(self.modules.is_on(crate::modules::Module::Mail).await, Ok(false))
    }

    /// Completes when [`MailProxy::still_valid`] says the session must end, or the mail module
    /// was turned off (checked every `revalidate_every`); never completes otherwise.
    pub fn revoked(self: &Arc<Self>, login: &Login) -> impl std::future::Future<Output = Revoked> + Send + 'static {
        let proxy = self.clone();
        let login = login.kept();
        async move {
            let mut tick = tokio::time::interval(proxy.config.revalidate_every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let why = if !proxy.mail_on().await {
                    Revoked::MailOff
                } else if matches!(proxy.check(&login).await, Ok(false)) {
                    Revoked::Credentials
                } else {
                    continue;
                };
                metrics::counter!("madang_mailproxy_revoked_sessions_total").increment(1);
                return why;
            }
        }
    }

    async fn check(&self, login: &LoginRef) -> Result<bool, StoreError> {
        let current = match self.store.credentials_by_id(login.user.id).await {
            Ok(c) => c,
            Err(StoreError::NotFound) => return Ok(false),
            Err(e) => return Err(e),
        };
        if current.user.state != crate::domain::UserState::Active {
            return Ok(false);
        }
        if current.credentials_version == login.credentials_version {
            return Ok(true);
        }
        Ok(match login.principal.credential {
            crate::auth::Credential::AppPassword(id) => {
                self.store.app_passwords(login.user.id).await?.iter().any(|a| a.id == id)
            }
            // The token is checked per connection only; its lifetime bounds a session's start.
            crate::auth::Credential::Bearer => true,
            crate::auth::Credential::AccountPassword | crate::auth::Credential::WebSession => false,
        })
    }

    async fn accounts_of(&self, user: UserId) -> Result<Vec<MailAccountRow>, LoginError> {
        self.store.mail_accounts(user).await.map_err(|_| LoginError::Unavailable)
    }

    /// A name that cannot be a login still costs a password check and counts as a failure.
    async fn refuse(&self, name: &str, password: &str, client: IpAddr) -> Result<Login, LoginError> {
        let key: String = name.trim().to_lowercase().chars().take(64).collect();
        match self.auth.authenticate_basic(&format!("-{}", key.len()), password, Some(client)).await {
            Err(AuthError::RateLimited { retry_after }) => Err(LoginError::Throttled(retry_after)),
            _ => Err(LoginError::Failed),
        }
    }

    /// A password login by user name, `name+account`, or an address.
    async fn password_login(
        &self,
        parsed: &LoginName,
        password: &str,
        client: IpAddr,
    ) -> Result<(Principal, Option<String>), LoginError> {
        let check = |name: String| async move {
            match self.auth.authenticate_basic(&name, password, Some(client)).await {
                Ok(p) => Ok(p),
                Err(AuthError::InvalidCredentials) => Err(LoginError::Failed),
                Err(AuthError::RateLimited { retry_after }) => Err(LoginError::Throttled(retry_after)),
                Err(AuthError::Unavailable(_)) => Err(LoginError::Unavailable),
            }
        };
        match parsed {
            LoginName::User { name, account } => Ok((check(name.as_str().to_string()).await?, account.clone())),
            LoginName::Address(address) => {
                // Whose address is it: a Madang user's own, or one a user linked. Each candidate
                // is checked with the password (an app password is an index look-up, not an
                // argon2 run); a shared mailbox linked by two people is told apart by the
                // password.
                let mut candidates: Vec<i64> = self
                    .store
                    .active_user_ids_by_email(address)
                    .await
                    .map_err(|_| LoginError::Unavailable)?
                    .into_iter()
                    .map(|u| u.0)
                    .collect();
                let owners = self.store.mail_account_owners(address).await.map_err(|_| LoginError::Unavailable)?;
                for (user, _) in owners {
                    if !candidates.contains(&user) {
                        candidates.push(user);
                    }
                }
                if candidates.is_empty() {
                    // Same cost and answer as a wrong password, counted on the address.
                    return check(address.clone()).await.map(|p| (p, None));
                }
                let mut last = LoginError::Failed;
                for user in candidates {
                    let user = match self.store.user(UserId(user)).await {
                        Ok(u) => u,
                        Err(StoreError::NotFound) => continue,
                        Err(_) => return Err(LoginError::Unavailable),
                    };
                    match check(user.username.as_str().to_string()).await {
                        Ok(p) => return Ok((p, Some(address.clone()))),
                        Err(e @ (LoginError::Throttled(_) | LoginError::Unavailable)) => return Err(e),
                        Err(e) => last = e,
                    }
                }
                Err(last)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_names_are_user_names_with_an_account_or_addresses() {
        let user = |n: &str, a: Option<&str>| LoginName::User {
            name: Username::parse(n).unwrap(),
            account: a.map(str::to_string),
        };
        assert_eq!(LoginName::parse("Alice"), Some(user("alice", None)));
        assert_eq!(LoginName::parse("alice+Work"), Some(user("alice", Some("work"))));
        assert_eq!(LoginName::parse("Kim@Example.com"), Some(LoginName::Address("kim@example.com".into())));
        for bad in ["", "alice+", "a b", "al\x01ice", "@example.com", "kim@", "../x", "+work"] {
            assert_eq!(LoginName::parse(bad), None, "{bad:?}");
        }
    }

    fn account(id: i64, email: &str, default: bool) -> MailAccountRow {
        let now = chrono::Utc::now();
        MailAccountRow {
            id,
            user_id: 1,
            email: email.into(),
            display_name: String::new(),
            imap_host: "imap.example.com".into(),
            imap_port: 993,
            imap_security: "tls".into(),
            smtp_host: "smtp.example.com".into(),
            smtp_port: 465,
            smtp_security: "tls".into(),
            username: email.into(),
            secret: String::new(),
            is_default: default,
            created_at: now,
            updated_at: now,
            auth_kind: "password".into(),
            oauth_provider: None,
            oauth_access: None,
            oauth_expires_at: None,
            auth_problem: None,
        }
    }

    #[test]
    fn the_account_is_the_default_or_the_one_the_suffix_names() {
        let accounts = [
            account(1, "kim@home.example", false),
            account(2, "Kim@Work.example.com", true),
            account(3, "sales@work.example.com", false),
        ];
        assert_eq!(choose_account(&accounts, None).unwrap().id, 2);
        assert_eq!(choose_account(&accounts, Some("home")).unwrap().id, 1);
        assert_eq!(choose_account(&accounts, Some("sales")).unwrap().id, 3);
        assert_eq!(choose_account(&accounts, Some("kim@work.example.com")).unwrap().id, 2);
        assert_eq!(choose_account(&accounts, Some("3")).unwrap().id, 3);
        // Two accounts at work.example.com: the domain alone is ambiguous, never a guess.
        assert!(choose_account(&accounts, Some("work")).unwrap_err().contains("several"));
        assert!(choose_account(&accounts, Some("other")).unwrap_err().contains("no linked"));
        assert!(choose_account(&[], None).is_err());
    }
}
