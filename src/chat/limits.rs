//! Chat's input limits (names, topics, emoji) and the per-user send rate limit.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::ChatError;
use crate::domain::UserId;

/// Channel names: at most this many characters (docs/chat.md).
pub const MAX_NAME_CHARS: usize = 80;
/// Topics and purposes: at most this many characters.
pub const MAX_TOPIC_CHARS: usize = 250;

/// A channel name: trimmed, without a leading `#`, lower case, 1 to 80 letters, digits, `-`,
/// `_` or `.`. chatlib: `madang_chat::names::channel_name` replaces this on merge.
pub fn channel_name(raw: &str) -> Result<String, ChatError> {
    let name = raw.trim().trim_start_matches('#').to_lowercase();
    let count = name.chars().count();
    if count == 0 || count > MAX_NAME_CHARS {
        return Err(ChatError::Invalid(format!("name: 1 to {MAX_NAME_CHARS} characters")));
    }
    if !name.chars().all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        return Err(ChatError::Invalid("name: letters, digits, `-`, `_` and `.` only".into()));
    }
    Ok(name)
}

/// A topic or purpose: at most 250 characters, no control characters but line breaks.
pub fn topic(field: &str, raw: &str) -> Result<String, ChatError> {
    let text = raw.trim();
    if text.chars().count() > MAX_TOPIC_CHARS {
        return Err(ChatError::Invalid(format!("{field}: at most {MAX_TOPIC_CHARS} characters")));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ChatError::Invalid(format!("{field}: no control characters")));
    }
    Ok(text.to_string())
}

/// A reaction: one emoji (a few code points at most: skin tones, ZWJ sequences) or a
/// `:short_name:`. chatlib: `madang_chat::names::emoji` replaces this on merge.
pub fn emoji(raw: &str) -> Result<String, ChatError> {
    let e = raw.trim();
    let short = e.len() > 2
        && e.starts_with(':')
        && e.ends_with(':')
        && e[1..e.len() - 1].chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+'));
    let symbol = !e.is_empty()
        && e.chars().count() <= 10
        && e.chars().all(|c| !c.is_ascii() && !c.is_control() && !c.is_whitespace());
    if (short && e.len() <= 64) || symbol {
        Ok(e.to_string())
    } else {
        Err(ChatError::Invalid("emoji: one emoji or a :short_name:".into()))
    }
}

/// A token bucket per user: `per_minute` sends in a burst, refilled at `per_minute` a minute.
pub struct RateLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<UserId, (f64, Instant)>>,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> RateLimiter {
        RateLimiter { per_minute, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one token, or says how long until one is there.
    pub fn take(&self, user: UserId, now: Instant) -> Result<(), Duration> {
        let capacity = f64::from(self.per_minute.max(1));
        let rate = capacity / 60.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        // Forget full buckets now and then so the map holds active senders only.
        if buckets.len() > 10_000 {
            buckets
                .retain(|_, (tokens, at)| *tokens + now.saturating_duration_since(*at).as_secs_f64() * rate < capacity);
        }
        let (tokens, at) = buckets.entry(user).or_insert((capacity, now));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_topics_and_emoji() {
        assert_eq!(channel_name(" #General ").unwrap(), "general");
        assert!(channel_name("").is_err());
        assert!(channel_name(&"a".repeat(81)).is_err());
        assert!(channel_name("a b").is_err());
        assert!(topic("topic", &"x".repeat(251)).is_err());
        assert_eq!(emoji("👍").unwrap(), "👍");
        assert_eq!(emoji(":tada:").unwrap(), ":tada:");
        assert!(emoji("<b>").is_err());
    }

    #[test]
    fn the_bucket_refills_over_time() {
        let limiter = RateLimiter::new(2);
        let t = Instant::now();
        let alice = UserId(1);
        assert!(limiter.take(alice, t).is_ok());
        assert!(limiter.take(alice, t).is_ok());
        let wait = limiter.take(alice, t).unwrap_err();
        assert!(wait > Duration::from_secs(29) && wait <= Duration::from_secs(30), "{wait:?}");
        assert!(limiter.take(UserId(2), t).is_ok(), "buckets are per user");
        assert!(limiter.take(alice, t + Duration::from_secs(30)).is_ok());
    }
}
