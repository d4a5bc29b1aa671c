//! Chat integrations' domain service: incoming webhooks and bots.
//!
//! An incoming webhook is a secret URL (`/hooks/<token>`) that posts into one channel whatever a
//! Slack-compatible sender (Gitea, Grafana, a CI job) sends it, under the webhook's name or the
//! one in the payload. A bot is a named account-less author with a bearer token for the chat
//! API, acting only in the channels a channel admin added it to.
//!
//! Tokens are 256 random bits in base64url (RFC 4648 §5), shown once; the store keeps their
//! SHA-256 only. Being random, they need neither a salt nor a slow hash: the look-up by hash is
//! the comparison, so no secret is compared with `==`. Bot tokens start with
//! [`BOT_TOKEN_PREFIX`], so the authenticator can tell them from the OpenID Connect provider's
//! access tokens without a database read, and a leaked one is recognisable in a scanner.
//!
//! Takes the store, the clock and its settings, never `AppState` (`../shared/LAYERS.md`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::clock::Clock;
use crate::domain::{User, Username};
use crate::store::chat_integrations::{Bot, BotChannel, NewBot, Webhook};
use crate::store::{Store, StoreError};

/// A webhook token: 32 random bytes in unpadded base64url.
pub const TOKEN_CHARS: usize = 43;
/// What every bot token starts with ("Madang bot").
pub const BOT_TOKEN_PREFIX: &str = "mdb_";
/// The longest webhook name or bot display name, in characters.
pub const MAX_NAME_CHARS: usize = 80;
/// The longest bot icon URL, in bytes.
pub const MAX_ICON_URL_BYTES: usize = 2048;

#[derive(Debug, thiserror::Error)]
pub enum IntegrationError {
    #[error("no such webhook or bot")]
    NotFound,
    #[error("{0}")]
    Invalid(String),
    #[error("this webhook posts too often; retry later")]
    RateLimited(Duration),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for IntegrationError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => IntegrationError::NotFound,
            e => IntegrationError::Store(e),
        }
    }
}

pub type IntegrationResult<T> = Result<T, IntegrationError>;

/// A new random token: 256 bits, base64url (the one the web sessions use).
fn random_token() -> IntegrationResult<String> {
    Ok(crate::tokens::random_token().map_err(crate::store::StoreError::from)?)
}

/// What the store keeps of a token: its SHA-256, as for web sessions.
pub use crate::tokens::token_hash;

/// Whether `s` could be a token this service handed out (checked before any database read).
fn token_shaped(s: &str) -> bool {
    s.len() == TOKEN_CHARS && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether a bearer token is a bot's (by its prefix); the authenticator sends those here.
pub fn is_bot_token(token: &str) -> bool {
    token.starts_with(BOT_TOKEN_PREFIX)
}

/// A display name: trimmed, 1 to [`MAX_NAME_CHARS`] characters, no control characters.
fn display_name(what: &str, raw: &str) -> IntegrationResult<String> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(IntegrationError::Invalid(format!(
            "{what}: 1 to {MAX_NAME_CHARS} characters, no control characters"
        )));
    }
    Ok(name.to_string())
}

/// A per-webhook token bucket: `per_minute` posts in a burst, refilled evenly. In memory, per
/// process, like the users' send limit: it protects this process from a runaway sender.
struct HookLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<i64, (f64, Instant)>>,
}

impl HookLimiter {
    fn take(&self, hook: i64, now: Instant) -> Result<(), Duration> {
        let capacity = f64::from(self.per_minute.max(1));
        let rate = capacity / 60.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        // Full buckets carry no information; dropping them keeps the map to active hooks.
        if buckets.len() > 10_000 {
            buckets
                .retain(|_, (tokens, at)| *tokens + now.saturating_duration_since(*at).as_secs_f64() * rate < capacity);
        }
        let (tokens, at) = buckets.entry(hook).or_insert((capacity, now));
        *tokens = (*tokens + now.saturating_duration_since(*at).as_secs_f64() * rate).min(capacity);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / rate))
        }
    }
}

/// The integrations of one process; cheap to share (`Arc`).
pub struct Integrations {
    store: Store,
    clock: Arc<dyn Clock>,
    limiter: HookLimiter,
}

impl Integrations {
    pub fn new(store: Store, clock: Arc<dyn Clock>, webhook_posts_per_minute: u32) -> Integrations {
        let limiter = HookLimiter { per_minute: webhook_posts_per_minute, buckets: Mutex::new(HashMap::new()) };
        Integrations { store, clock, limiter }
    }

    /// Makes a webhook for `channel` (the caller checked that `by` may); returns it with its
    /// token, which is never shown again.
    pub async fn create_webhook(&self, channel: i64, name: &str, by: &User) -> IntegrationResult<(Webhook, String)> {
        let name = display_name("name", name)?;
        let token = random_token()?;
        let hook = self.store.create_chat_webhook(channel, &name, &token_hash(&token), by.id, self.clock.now()).await?;
        Ok((hook, token))
    }

    pub async fn webhooks(&self, channel: i64) -> IntegrationResult<Vec<Webhook>> {
        Ok(self.store.chat_webhooks(channel).await?)
    }

    pub async fn webhook(&self, id: i64) -> IntegrationResult<Webhook> {
        Ok(self.store.chat_webhook(id).await?)
    }

    pub async fn revoke_webhook(&self, id: i64) -> IntegrationResult<()> {
        Ok(self.store.revoke_chat_webhook(id, self.clock.now()).await?)
    }

    /// The live webhook a token opens, if any.
    pub async fn webhook_by_token(&self, token: &str) -> IntegrationResult<Option<Webhook>> {
        if !token_shaped(token) {
            return Ok(None);
        }
        Ok(self.store.chat_webhook_by_token(&token_hash(token)).await?)
    }

    /// Takes one post from the webhook's allowance.
    pub fn admit_post(&self, hook: &Webhook) -> IntegrationResult<()> {
        self.limiter.take(hook.id, self.clock.instant()).map_err(IntegrationError::RateLimited)
    }

    /// Records a webhook's successful post.
    pub async fn webhook_used(&self, hook: &Webhook) -> IntegrationResult<()> {
        Ok(self.store.touch_chat_webhook(hook.id, self.clock.now()).await?)
    }

    /// Makes a bot; returns it with its token, which is never shown again.
    pub async fn create_bot(
        &self,
        name: &str,
        display: Option<&str>,
        icon_url: Option<&str>,
        by: &User,
    ) -> IntegrationResult<(Bot, String)> {
        // A bot's name follows the user-name rule: it is written in URLs and after `@`.
        let name =
            Username::parse(name).map_err(|e| IntegrationError::Invalid(e.0.replacen("user name", "bot name", 1)))?;
        let display = display_name("display_name", display.unwrap_or(name.as_str()))?;
        let icon_url = match icon_url.map(str::trim).filter(|u| !u.is_empty()) {
            Some(u) if (u.starts_with("https://") || u.starts_with("http://")) && u.len() <= MAX_ICON_URL_BYTES => {
                Some(u)
            }
            Some(_) => {
                return Err(IntegrationError::Invalid(format!(
                    "icon_url: an http(s) URL of at most {MAX_ICON_URL_BYTES} bytes"
                )));
            }
            None => None,
        };
        let token = format!("{BOT_TOKEN_PREFIX}{}", random_token()?);
        let hash = token_hash(&token);
        let new =
            NewBot { name: name.as_str(), display_name: &display, icon_url, token_hash: &hash, created_by: by.id };
        let bot = self.store.create_chat_bot(&new, self.clock.now()).await.map_err(|e| match e {
            StoreError::Conflict(_) => IntegrationError::Invalid(format!("a bot called `{name}` exists")),
            e => e.into(),
        })?;
        Ok((bot, token))
    }

    pub async fn bots(&self) -> IntegrationResult<Vec<Bot>> {
        Ok(self.store.chat_bots().await?)
    }

    pub async fn bot(&self, name: &str) -> IntegrationResult<Bot> {
        Ok(self.store.chat_bot(name).await?)
    }

    pub async fn revoke_bot(&self, name: &str) -> IntegrationResult<()> {
        Ok(self.store.revoke_chat_bot(name, self.clock.now()).await?)
    }

    /// The live bot a bearer token belongs to, if any.
    pub async fn bot_by_token(&self, token: &str) -> IntegrationResult<Option<Bot>> {
        let Some(rest) = token.strip_prefix(BOT_TOKEN_PREFIX) else { return Ok(None) };
        if !token_shaped(rest) {
            return Ok(None);
        }
        let bot = self.store.chat_bot_by_token(&token_hash(token)).await?;
        if let Some(bot) = &bot {
            self.store.touch_chat_bot(bot.id, self.clock.now()).await?;
        }
        Ok(bot)
    }

    /// Adds a bot to a channel (the caller checked that `by` manages the channel).
    pub async fn add_bot(&self, bot: &Bot, channel: i64, by: &User) -> IntegrationResult<()> {
        Ok(self.store.add_chat_bot_member(bot.id, channel, by.id, self.clock.now()).await?)
    }

    pub async fn remove_bot(&self, bot: &Bot, channel: i64) -> IntegrationResult<()> {
        Ok(self.store.remove_chat_bot_member(bot.id, channel).await?)
    }

    pub async fn channel_bots(&self, channel: i64) -> IntegrationResult<Vec<Bot>> {
        Ok(self.store.chat_channel_bots(channel).await?)
    }

    /// The channels a bot was added to.
    pub async fn bot_channels(&self, bot: &Bot) -> IntegrationResult<Vec<BotChannel>> {
        Ok(self.store.chat_bot_channels(bot.id).await?)
    }

    /// Whether a bot may act in a channel.
    pub async fn bot_in(&self, bot: &Bot, channel: i64) -> IntegrationResult<bool> {
        Ok(self.store.chat_bot_is_member(bot.id, channel).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_base64url_and_hashed() {
        let a = random_token().unwrap();
        let b = random_token().unwrap();
        assert_ne!(a, b);
        assert!(token_shaped(&a) && token_shaped(&b), "{a}");
        assert_eq!(token_hash(&a), token_hash(&a));
        assert_ne!(token_hash(&a), token_hash(&b));
        assert!(!token_shaped("short") && !token_shaped(&format!("{}!", &a[1..])));
        assert!(is_bot_token(&format!("{BOT_TOKEN_PREFIX}{a}")) && !is_bot_token(&a));
    }

    #[test]
    fn webhook_posts_are_limited_per_hook() {
        let limiter = HookLimiter { per_minute: 3, buckets: Mutex::new(HashMap::new()) };
        let t = Instant::now();
        for _ in 0..3 {
            assert!(limiter.take(1, t).is_ok());
        }
        let wait = limiter.take(1, t).unwrap_err();
        assert!(wait > Duration::from_secs(19) && wait <= Duration::from_secs(20), "{wait:?}");
        assert!(limiter.take(2, t).is_ok(), "each hook has its own allowance");
        assert!(limiter.take(1, t + Duration::from_secs(20)).is_ok());
    }

    #[test]
    fn names() {
        assert_eq!(display_name("name", "  Gitea  ").unwrap(), "Gitea");
        assert!(display_name("name", "").is_err());
        assert!(display_name("name", "a\u{7}b").is_err());
        assert!(display_name("name", &"가".repeat(81)).is_err());
    }
}
