//! Throttling of failed sign-ins, per account and per client address.
//!
//! Each key may fail a configured number of times for free; after that every
//! failure doubles a wait (1 s, 2 s, 4 s … up to `max_backoff`) during which
//! attempts are refused with 429 before any password is checked. A success
//! clears the account's record; an address's record only fades with time, so
//! an attacker cannot reset it by signing in to their own account.
//!
//! The state is per process. Behind a load balancer each process throttles
//! on its own, which multiplies the allowance by the number of processes but
//! keeps the back-off exponential.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Beyond this many tracked keys, forgotten and unblocked ones are dropped.
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last_failure: Instant,
    blocked_until: Option<Instant>,
}

#[derive(Debug)]
pub struct RateLimiter {
    entries: Mutex<HashMap<String, Entry>>,
    account_free: u32,
    address_free: u32,
    max_backoff: Duration,
}

impl RateLimiter {
    pub fn new(account_free: u32, address_free: u32, max_backoff: Duration) -> Self {
        Self { entries: Mutex::new(HashMap::new()), account_free, address_free, max_backoff }
    }

    /// A record is forgotten this long after its last failure.
    fn forget_after(&self) -> Duration {
        (self.max_backoff * 2).max(Duration::from_secs(15 * 60))
    }

    fn keys(account: &str, address: Option<IpAddr>) -> [Option<String>; 2] {
        [Some(format!("u:{account}")), address.map(address_key)]
    }

    /// `Err(retry_after)` while either the account or the address must wait.
    pub fn check(&self, account: &str, address: Option<IpAddr>, now: Instant) -> Result<(), Duration> {
        let keys: Vec<String> = Self::keys(account, address).into_iter().flatten().collect();
        self.check_keys(&keys, now)
    }

    pub fn record_failure(&self, account: &str, address: Option<IpAddr>, now: Instant) {
        let keys: Vec<(String, u32)> = Self::keys(account, address)
            .into_iter()
            .zip([self.account_free, self.address_free])
            .filter_map(|(k, f)| Some((k?, f)))
            .collect();
        self.record_keys(&keys, now);
    }

    /// A correct password for `account`: its record is cleared.
    pub fn record_success(&self, account: &str) {
        self.clear(&format!("u:{account}"));
    }

    /// `Err(retry_after)` while any of `keys` must wait. Keys are free-form:
    /// callers other than the password check (the second factor, reset and
    /// sign-up requests) use their own prefixes, so that counting one kind
    /// of attempt never throttles, or clears, another.
    pub fn check_keys(&self, keys: &[String], now: Instant) -> Result<(), Duration> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let wait = keys
            .iter()
            .filter_map(|k| entries.get(k)?.blocked_until)
            .filter_map(|until| until.checked_duration_since(now))
            .filter(|d| !d.is_zero())
            .max();
        match wait {
            Some(d) => Err(d),
            None => Ok(()),
        }
    }

    /// Counts one attempt against each key, which may fail `free` times
    /// before it backs off.
    pub fn record_keys(&self, keys: &[(String, u32)], now: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            let forget = self.forget_after();
            entries.retain(|_, e| {
                now.saturating_duration_since(e.last_failure) < forget || e.blocked_until.is_some_and(|u| u > now)
            });
        }
        let forget = self.forget_after();
        for (key, free) in keys {
            let entry =
                entries.entry(key.clone()).or_insert(Entry { failures: 0, last_failure: now, blocked_until: None });
            if now.saturating_duration_since(entry.last_failure) >= forget {
                *entry = Entry { failures: 0, last_failure: now, blocked_until: None };
            }
            entry.failures = entry.failures.saturating_add(1);
            entry.last_failure = now;
            if entry.failures >= *free {
                let doublings = (entry.failures - free).min(30);
                let wait = Duration::from_secs(1u64 << doublings).min(self.max_backoff);
                entry.blocked_until = Some(now + wait);
            }
        }
    }

    /// Forgets `key`'s record.
    pub fn clear(&self, key: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.remove(key);
    }

    /// How many attempts may fail per account before it backs off.
    pub fn account_free(&self) -> u32 {
        self.account_free
    }

    /// How many attempts may fail per address before it backs off.
    pub fn address_free(&self) -> u32 {
        self.address_free
    }
}

/// The key of a client address for the sign-in throttle.
pub fn address_key(address: IpAddr) -> String {
    format!("a:{}", canonical(address))
}

/// IPv6 clients usually own a whole /64, so throttle the prefix, not the
/// address; IPv4-mapped IPv6 addresses count as the IPv4 address.
fn canonical(address: IpAddr) -> String {
    match address {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_backoff_doubles_and_is_capped() {
        let rl = RateLimiter::new(3, 100, Duration::from_secs(5));
        let t0 = Instant::now();
        for _ in 0..2 {
            rl.record_failure("alice", None, t0);
            assert!(rl.check("alice", None, t0).is_ok());
        }
        rl.record_failure("alice", None, t0);
        assert_eq!(rl.check("alice", None, t0), Err(Duration::from_secs(1)));
        rl.record_failure("alice", None, t0);
        assert_eq!(rl.check("alice", None, t0), Err(Duration::from_secs(2)));
        for _ in 0..10 {
            rl.record_failure("alice", None, t0);
        }
        assert_eq!(rl.check("alice", None, t0), Err(Duration::from_secs(5)));
        assert!(rl.check("alice", None, t0 + Duration::from_secs(5)).is_ok());
        assert!(rl.check("bob", None, t0).is_ok(), "other accounts are unaffected");
        rl.record_success("alice");
        assert!(rl.check("alice", None, t0).is_ok());
    }

    #[test]
    fn address_is_throttled_across_accounts_and_not_reset_by_success() {
        let rl = RateLimiter::new(100, 3, Duration::from_secs(60));
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        let t0 = Instant::now();
        for name in ["a", "b", "c"] {
            rl.record_failure(name, Some(ip), t0);
        }
        assert!(rl.check("d", Some(ip), t0).is_err());
        rl.record_success("d");
        assert!(rl.check("d", Some(ip), t0).is_err());
        assert!(rl.check("d", Some("203.0.113.10".parse().unwrap()), t0).is_ok());
    }

    #[test]
    fn ipv6_is_throttled_per_prefix() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        assert_eq!(canonical(a), canonical(b));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(canonical(mapped), "192.0.2.1");
    }

    #[test]
    fn old_failures_are_forgotten() {
        let rl = RateLimiter::new(2, 100, Duration::from_secs(1));
        let t0 = Instant::now();
        rl.record_failure("a", None, t0);
        let later = t0 + Duration::from_secs(16 * 60);
        rl.record_failure("a", None, later);
        assert!(rl.check("a", None, later).is_ok(), "the first failure was forgotten");
    }
}
