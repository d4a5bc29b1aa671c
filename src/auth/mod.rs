//! Authentication: who is making this request?
//!
//! Native clients send HTTP Basic credentials on every request, with either
//! the account password or an app password. Checking argon2 each time would
//! cap the server at a few dozen requests per second per core, so successful
//! verifications are cached in memory under a keyed hash of the credentials
//! (the cache never holds a password). A cache hit is confirmed against the
//! user's `credentials_version` with one indexed read, so a password change,
//! a disabled account or a revoked app password takes effect at once — also
//! when the change was made by another process (the CLI, another server
//! behind the load balancer).
//!
//! When an account has TOTP on, its password alone is no longer enough
//! anywhere: over HTTP Basic (DAV, the API) only app passwords work, as at
//! Google and Fastmail, and the web sign-in asks for the second factor.
//!
//! Failures are throttled per account and per client address
//! ([`rate_limit`]), for HTTP Basic and the web sign-in alike; unknown users cost the same argon2 work as known ones
//! and get the same answer, so responses do not reveal who has an account.
//! Secrets are never compared directly: passwords go through argon2 or
//! bcrypt verification, app passwords and cache keys through HMAC and an
//! index look-up.

pub mod app_password;
pub mod password;
pub mod rate_limit;
pub mod secretbox;
pub mod totp;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OnceCell, Semaphore};

use crate::clock::Clock;
use crate::config::AuthConfig;
use crate::domain::{AppPasswordId, User, UserId, UserState, Username};
use crate::store::{Store, StoreError};
use app_password::KeyedHasher;
use password::{PasswordHasher, Verification};
use rate_limit::RateLimiter;

/// How the caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    AccountPassword,
    AppPassword(AppPasswordId),
    /// A token issued by the OpenID Connect provider (see [`BearerVerifier`]).
    Bearer,
    /// A signed-in browser's session cookie, on the JSON API only, with the
    /// web client's CSRF header (see `http::auth`).
    WebSession,
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub credential: Credential,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    /// Wrong name or password, unknown user, or an account that may not sign
    /// in; deliberately indistinguishable.
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("too many failed attempts; retry in {} s", retry_after.as_secs().max(1))]
    RateLimited { retry_after: Duration },
    #[error(transparent)]
    Unavailable(StoreError),
}

impl From<StoreError> for AuthError {
    fn from(e: StoreError) -> Self {
        AuthError::Unavailable(e)
    }
}

/// What a bearer token is presented to: tokens are limited by scope to
/// the JSON API or to DAV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BearerResource {
    Api,
    Dav,
    /// The admin API (`/api/v1/admin`).
    Admin,
    /// The IMAP and SMTP listeners (`src/mailproxy`): RFC 7628 OAUTHBEARER and XOAUTH2.
    Mail,
}

/// The hook for `Authorization: Bearer` tokens, implemented by the OpenID
/// Connect provider (`crate::oidc::bearer`).
pub trait BearerVerifier: Send + Sync + 'static {
    fn verify<'a>(
        &'a self,
        token: &'a str,
        resource: BearerResource,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<Principal, AuthError>> + Send + 'a>>;
}

/// An attempt throttled on keys of its own, apart from password guesses
/// (which [`Authenticator::throttle_check`] counts).
#[derive(Debug, Clone, Copy)]
pub enum Attempt<'a> {
    /// A second-factor code for this account. Counted on its own key, which
    /// a correct password never clears — else knowing the password would
    /// reset the count before every few guesses and make six digits
    /// guessable. Cleared only when a sign-in completes.
    SecondFactor(UserId),
    /// A password-reset request for this login (user name or e-mail): its
    /// own keys, so that asking for links never locks the owner out of
    /// signing in.
    ResetRequest(&'a str),
    /// A sign-up request for this user name (checked before any hashing).
    SignUp(&'a str),
}

#[derive(Debug, Clone)]
struct CacheEntry {
    principal: Principal,
    credentials_version: i64,
    expires: Instant,
    /// When `last_used_at` of the app password was last written, so a busy
    /// device costs one write a minute rather than one per request.
    touched: Instant,
}

/// What checking an account password for the web sign-in found.
#[derive(Debug, Clone)]
pub enum PasswordCheck {
    /// The right password of an active account.
    Active(User),
    /// The right password, but the account is pending or disabled: the
    /// caller may say so, since the password proved who is asking.
    NotActive(User),
}

/// The full check's verdict, before caching and throttling.
enum Verdict {
    Accepted(Principal, i64),
    Refused,
    /// The right account password of an account with TOTP on: refused over
    /// Basic, but not a guess, so it is not counted against the throttle
    /// (a phone still configured with the password must not lock its owner
    /// out of the web sign-in).
    SecondFactorRequired,
}

/// Cache size bound; an attacker cannot fill it because only successful
/// verifications are cached.
const CACHE_MAX: usize = 50_000;
/// How often an app password's "last used" time is written at most.
const TOUCH_EVERY: Duration = Duration::from_secs(60);
/// Longest password considered; longer input is refused before hashing.
const MAX_PASSWORD_BYTES: usize = 1024;

pub struct Authenticator {
    store: Store,
    clock: Arc<dyn Clock>,
    config: AuthConfig,
    hasher: PasswordHasher,
    /// Keyed with the instance-wide secret for app-password hashes (stored
    /// in the database, so every process agrees).
    app_password_key: KeyedHasher,
    /// Keyed with a per-process secret for cache slots; never leaves memory.
    cache_key: KeyedHasher,
    cache: Mutex<HashMap<[u8; 32], CacheEntry>>,
    limiter: RateLimiter,
    /// A hash to verify against when the user does not exist, so that the
    /// answer takes as long as for a real account. Made on first need:
    /// CLI commands never sign anyone in and should not pay for it.
    dummy_hash: OnceCell<String>,
    /// argon2 needs ~19 MiB per verification; bound how many run at once.
    hashing: Semaphore,
    /// One verification per credentials at a time: a phone opening eight
    /// connections at once would otherwise run eight argon2 hashes (and hold
    /// 150 MiB) to learn the same answer. Later arrivals wait for the first
    /// and find its result in the cache.
    in_flight: Mutex<HashMap<[u8; 32], Arc<tokio::sync::Mutex<()>>>>,
    /// Password hashes verified since start (tests and metrics).
    verifications: std::sync::atomic::AtomicU64,
    bearer: Option<Arc<dyn BearerVerifier>>,
}

impl Authenticator {
    pub async fn new(store: Store, clock: Arc<dyn Clock>, config: AuthConfig) -> Result<Self, StoreError> {
        let app_password_key = KeyedHasher::instance(&store, "app-password-key", clock.now()).await?;
        let mut process_key = [0u8; 32];
        random(&mut process_key)?;
        let cache_key =
            KeyedHasher::new(&process_key).ok_or_else(|| StoreError::Internal("unusable HMAC key".into()))?;
        let hasher = PasswordHasher::new(config.argon2_memory_kib, config.argon2_iterations);
        // argon2 is CPU-bound: more hashes at once than cores only adds memory.
        let parallel = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Self {
            limiter: RateLimiter::new(
                config.account_failures_before_backoff,
                config.address_failures_before_backoff,
                config.max_backoff,
            ),
            store,
            clock,
            hasher,
            config,
            app_password_key,
            cache_key,
            cache: Mutex::new(HashMap::new()),
            dummy_hash: OnceCell::new(),
            hashing: Semaphore::new(parallel),
            in_flight: Mutex::new(HashMap::new()),
            verifications: std::sync::atomic::AtomicU64::new(0),
            bearer: None,
        })
    }

    /// Installs the verifier for `Authorization: Bearer` tokens.
    pub fn with_bearer(mut self, verifier: Arc<dyn BearerVerifier>) -> Self {
        self.bearer = Some(verifier);
        self
    }

    /// Hashes an account password off the async threads.
    pub async fn hash_password(&self, password: &str) -> Result<String, AuthError> {
        let _permit = self.hashing.acquire().await.map_err(closed)?;
        let hasher = self.hasher.clone();
        let password = password.to_string();
        tokio::task::spawn_blocking(move || hasher.hash(&password))
            .await
            .map_err(|e| AuthError::Unavailable(StoreError::Internal(e.to_string())))
    }

    /// The keyed hash under which an app password is stored.
    pub fn app_password_hash(&self, app_password: &str) -> Option<[u8; 32]> {
        let canonical = app_password::normalize(app_password)?;
        Some(self.app_password_key.hash(canonical.as_bytes()))
    }

    /// Checks a bearer token through the installed verifier.
    pub async fn authenticate_bearer(&self, token: &str, resource: BearerResource) -> Result<Principal, AuthError> {
        match &self.bearer {
            Some(verifier) => verifier.verify(token, resource).await,
            None => Err(AuthError::InvalidCredentials),
        }
    }

    /// Checks HTTP Basic credentials: an app password or the account password.
    pub async fn authenticate_basic(
        &self,
        username: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<Principal, AuthError> {
        let result = self.authenticate_inner(username, password, client).await;
        match &result {
            Ok(_) => {}
            Err(AuthError::InvalidCredentials) => {
                metrics::counter!("madang_auth_failures_total", "reason" => "invalid_credentials").increment(1)
            }
            Err(AuthError::RateLimited { .. }) => {
                metrics::counter!("madang_auth_failures_total", "reason" => "rate_limited").increment(1)
            }
            Err(AuthError::Unavailable(_)) => {
                metrics::counter!("madang_auth_failures_total", "reason" => "unavailable").increment(1)
            }
        }
        result
    }

    async fn authenticate_inner(
        &self,
        username: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<Principal, AuthError> {
        let name = username.trim().to_lowercase();
        let slot = self.cache_slot(&name, password);
        if let Some(principal) = self.cached(&slot).await? {
            return Ok(principal);
        }
        // The cache comes first on purpose: a device that already proved the
        // right password keeps working while someone else is being throttled.
        let now = self.clock.instant();
        if let Err(retry_after) = self.limiter.check(&name, client, now) {
            return Err(AuthError::RateLimited { retry_after });
        }
        let gate = {
            let mut flights = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            flights.entry(slot).or_insert_with(|| Arc::new(tokio::sync::Mutex::new(()))).clone()
        };
        let result = {
            let _turn = gate.lock().await;
            match self.cached(&slot).await? {
                Some(principal) => Ok(principal),
                None => self.verify_and_remember(&name, password, slot, client).await,
            }
        };
        let mut flights = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        // The map and this function hold the only references: nobody waits.
        if Arc::strong_count(&gate) <= 2 {
            flights.remove(&slot);
        }
        result
    }

    /// Password hashes verified since this process started.
    pub fn verifications(&self) -> u64 {
        self.verifications.load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn verify_and_remember(
        &self,
        name: &str,
        password: &str,
        slot: [u8; 32],
        client: Option<IpAddr>,
    ) -> Result<Principal, AuthError> {
        let name = name.to_string();
        match self.verify(&name, password).await? {
            Verdict::Accepted(principal, credentials_version) => {
                self.limiter.record_success(&name);
                self.remember(slot, principal.clone(), credentials_version);
                Ok(principal)
            }
            Verdict::SecondFactorRequired => {
                let shown: String = name.chars().take(64).collect();
                tracing::info!(
                    user = ?shown,
                    client = ?client,
                    "account password refused over HTTP Basic: TOTP is on, use an app password"
                );
                Err(AuthError::InvalidCredentials)
            }
            Verdict::Refused => {
                self.limiter.record_failure(&name, client, self.clock.instant());
                // Debug formatting escapes control characters: the name is
                // attacker-controlled and must not forge log lines.
                let shown: String = name.chars().take(64).collect();
                tracing::info!(user = ?shown, client = ?client, "authentication failed");
                Err(AuthError::InvalidCredentials)
            }
        }
    }

    fn cache_slot(&self, name: &str, password: &str) -> [u8; 32] {
        let mut data = Vec::with_capacity(name.len() + 1 + password.len());
        data.extend_from_slice(name.as_bytes());
        data.push(0);
        data.extend_from_slice(password.as_bytes());
        self.cache_key.hash(&data)
    }

    async fn cached(&self, slot: &[u8; 32]) -> Result<Option<Principal>, AuthError> {
        if self.config.cache_ttl.is_zero() {
            return Ok(None);
        }
        let now = self.clock.instant();
        let entry = {
            let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
            match cache.get(slot) {
                Some(e) if e.expires > now => e.clone(),
                Some(_) => {
                    cache.remove(slot);
                    return Ok(None);
                }
                None => return Ok(None),
            }
        };
        // One primary-key read both confirms the entry and refreshes the
        // user (name, e-mail), so handlers need not read it again.
        let current = match self.store.credentials_by_id(entry.principal.user.id).await {
            Ok(current) => Some(current),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e.into()),
        };
        let Some(current) =
            current.filter(|c| c.user.state == UserState::Active && c.credentials_version == entry.credentials_version)
        else {
            self.cache.lock().unwrap_or_else(|e| e.into_inner()).remove(slot);
            return Ok(None);
        };
        if let Credential::AppPassword(id) = entry.principal.credential
            && now.saturating_duration_since(entry.touched) >= TOUCH_EVERY
        {
            self.store.touch_app_password(id, self.clock.now()).await?;
            if let Some(e) = self.cache.lock().unwrap_or_else(|e| e.into_inner()).get_mut(slot) {
                e.touched = now;
            }
        }
        Ok(Some(Principal { user: current.user, credential: entry.principal.credential }))
    }

    fn remember(&self, slot: [u8; 32], principal: Principal, credentials_version: i64) {
        if self.config.cache_ttl.is_zero() {
            return;
        }
        let now = self.clock.instant();
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_MAX {
            cache.retain(|_, e| e.expires > now);
            if cache.len() >= CACHE_MAX {
                cache.clear();
            }
        }
        cache.insert(
            slot,
            CacheEntry { principal, credentials_version, expires: now + self.config.cache_ttl, touched: now },
        );
    }

    /// The full check, with the credentials version on success.
    async fn verify(&self, name: &str, password: &str) -> Result<Verdict, AuthError> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Ok(Verdict::Refused);
        }
        let record = match Username::parse(name) {
            Ok(username) => match self.store.credentials_by_name(&username).await {
                Ok(record) => Some(record),
                Err(StoreError::NotFound) => None,
                Err(e) => return Err(e.into()),
            },
            Err(_) => None,
        };
        let Some(record) = record else {
            // Same work as for a real account, then the same answer.
            self.check_password(self.dummy_hash().await?, password).await?;
            return Ok(Verdict::Refused);
        };

        let active = record.user.state == UserState::Active;
        if let Some(hash) = self.app_password_hash(password)
            && let Some(app) = self.store.app_password_by_hash(record.user.id, &hash).await?
        {
            if !active {
                return Ok(Verdict::Refused);
            }
            self.store.touch_app_password(app.id, self.clock.now()).await?;
            let principal = Principal { user: record.user, credential: Credential::AppPassword(app.id) };
            return Ok(Verdict::Accepted(principal, record.credentials_version));
        }

        if !self.account_password_matches(&record, password).await? || !active {
            return Ok(Verdict::Refused);
        }
        // Enabling or disabling TOTP bumps `credentials_version`, so a
        // cached Basic sign-in never outlives this check.
        if self.store.totp_enabled(record.user.id).await? {
            return Ok(Verdict::SecondFactorRequired);
        }
        let principal = Principal { user: record.user, credential: Credential::AccountPassword };
        Ok(Verdict::Accepted(principal, record.credentials_version))
    }

    /// Checks the account password itself (never an app password), upgrading
    /// an old hash on success. An account without a password costs the same
    /// work and never matches.
    async fn account_password_matches(
        &self,
        record: &crate::domain::UserCredentials,
        password: &str,
    ) -> Result<bool, AuthError> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Ok(false);
        }
        let stored = match record.password_hash.as_deref() {
            Some(hash) => hash,
            None => self.dummy_hash().await?,
        };
        let verdict = self.check_password(stored, password).await?;
        let Verification::Match { needs_rehash } = verdict else {
            return Ok(false);
        };
        if record.password_hash.is_none() {
            return Ok(false);
        }
        if needs_rehash {
            // Imported bcrypt (or weaker argon2) hash: replace it now that we
            // know the password. A failure here must not fail the sign-in.
            let new_hash = self.hash_password(password).await?;
            if let Err(e) = self.store.upgrade_password_hash(record.user.id, stored, &new_hash).await {
                tracing::warn!(user = %record.user.username, error = %e, "could not upgrade password hash");
            } else {
                tracing::info!(user = %record.user.username, "password hash upgraded to argon2id");
            }
        }
        Ok(true)
    }

    /// Checks an account password for the web sign-in (and for forms that
    /// ask for it again, such as a password change). App passwords are not
    /// accepted here: they are for devices. Shares the throttle with HTTP
    /// Basic, so neither door gives an attacker more guesses. Deliberately
    /// not cached: a form submission is rare and must see the current hash.
    pub async fn verify_account_password(
        &self,
        username: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<PasswordCheck, AuthError> {
        let name = username.trim().to_lowercase();
        self.throttle_check(&name, client)?;
        let record = match Username::parse(&name) {
            Ok(username) => match self.store.credentials_by_name(&username).await {
                Ok(record) => Some(record),
                Err(StoreError::NotFound) => None,
                Err(e) => return Err(e.into()),
            },
            Err(_) => None,
        };
        let matched = match &record {
            Some(record) => self.account_password_matches(record, password).await?,
            None => {
                // Same work as for a real account, then the same answer.
                self.check_password(self.dummy_hash().await?, password).await?;
                false
            }
        };
        match record {
            Some(record) if matched => {
                self.limiter.record_success(&name);
                Ok(if record.user.state == UserState::Active {
                    PasswordCheck::Active(record.user)
                } else {
                    PasswordCheck::NotActive(record.user)
                })
            }
            _ => {
                self.throttle_failure(&name, client);
                metrics::counter!("madang_auth_failures_total", "reason" => "invalid_credentials").increment(1);
                Err(AuthError::InvalidCredentials)
            }
        }
    }

    /// Refuses with `RateLimited` while `name` or `client` is backing off.
    pub fn throttle_check(&self, name: &str, client: Option<IpAddr>) -> Result<(), AuthError> {
        self.limiter
            .check(&name.trim().to_lowercase(), client, self.clock.instant())
            .map_err(|retry_after| AuthError::RateLimited { retry_after })
    }

    /// Counts a failed attempt (a wrong password or second factor).
    pub fn throttle_failure(&self, name: &str, client: Option<IpAddr>) {
        self.limiter.record_failure(&name.trim().to_lowercase(), client, self.clock.instant());
    }

    /// Refuses with `RateLimited` while `attempt` must wait.
    pub fn attempt_check(&self, attempt: Attempt<'_>, client: Option<IpAddr>) -> Result<(), AuthError> {
        let keys: Vec<String> = self.attempt_keys(attempt, client).into_iter().map(|(k, _)| k).collect();
        self.limiter
            .check_keys(&keys, self.clock.instant())
            .map_err(|retry_after| AuthError::RateLimited { retry_after })
    }

    /// Counts `attempt` (a wrong second factor; any reset or sign-up request).
    pub fn attempt_record(&self, attempt: Attempt<'_>, client: Option<IpAddr>) {
        self.limiter.record_keys(&self.attempt_keys(attempt, client), self.clock.instant());
    }

    /// Forgets the count of `attempt`'s subject (never its address's).
    pub fn attempt_clear(&self, attempt: Attempt<'_>) {
        if let Some((key, _)) = self.attempt_keys(attempt, None).into_iter().next() {
            self.limiter.clear(&key);
        }
    }

    /// The subject's key first, then the address's.
    fn attempt_keys(&self, attempt: Attempt<'_>, client: Option<IpAddr>) -> Vec<(String, u32)> {
        let (account, address) = (self.limiter.account_free(), self.limiter.address_free());
        let (subject, address_key) = match attempt {
            // Wrong codes are guesses like wrong passwords: the address
            // counts them on the sign-in key.
            Attempt::SecondFactor(user) => (format!("mfa:{}", user.0), client.map(rate_limit::address_key)),
            Attempt::ResetRequest(login) => (
                format!("reset:u:{}", login.trim().to_lowercase()),
                client.map(|a| format!("reset:{}", rate_limit::address_key(a))),
            ),
            Attempt::SignUp(name) => (
                format!("signup:u:{}", name.trim().to_lowercase()),
                client.map(|a| format!("signup:{}", rate_limit::address_key(a))),
            ),
        };
        let mut keys = vec![(subject, account)];
        keys.extend(address_key.map(|k| (k, address)));
        keys
    }

    /// The keyed hash under which a TOTP recovery code is stored: the same
    /// instance key as app passwords, with a distinct prefix so a hash of
    /// one can never match the other.
    pub fn recovery_code_hash(&self, code: &str) -> [u8; 32] {
        let canonical: String =
            code.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect();
        self.app_password_key.hash(format!("recovery-code:{canonical}").as_bytes())
    }

    async fn dummy_hash(&self) -> Result<&str, AuthError> {
        let hash = self.dummy_hash.get_or_try_init(|| self.hash_password("not a real password")).await?;
        Ok(hash.as_str())
    }

    async fn check_password(&self, stored: &str, password: &str) -> Result<Verification, AuthError> {
        let _permit = self.hashing.acquire().await.map_err(closed)?;
        self.verifications.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        metrics::counter!("madang_auth_password_verifications_total").increment(1);
        let hasher = self.hasher.clone();
        let (stored, password) = (stored.to_string(), password.to_string());
        tokio::task::spawn_blocking(move || hasher.verify(&stored, &password))
            .await
            .map_err(|e| AuthError::Unavailable(StoreError::Internal(e.to_string())))
    }
}

fn closed(_: tokio::sync::AcquireError) -> AuthError {
    AuthError::Unavailable(StoreError::Internal("the password hashing pool is closed".into()))
}

fn random(buf: &mut [u8]) -> Result<(), StoreError> {
    getrandom::getrandom(buf).map_err(|e| StoreError::Internal(format!("no randomness: {e}")))
}
