//! Presence (online, away, offline) and the typing throttle: ephemeral state, kept in memory
//! only and never stored in the database.
//!
//! A user is online while at least one push stream of theirs is open on any process, plus a
//! grace period (`push.presence_grace`) after the last one closed, so that a reload does not
//! flap; away while online and their client said so (`PUT /api/v1/chat/presence`); offline
//! otherwise (the away flag is then forgotten, so the next connection starts online).
//!
//! Across processes on one PostgreSQL every process keeps the same picture from what the others
//! announce over `NOTIFY madang_ephemeral` (see `super::pg`): a process says at once when a user
//! came up or went down on it, and repeats the users it holds every `push.presence_announce`;
//! an entry that is not repeated expires after two intervals, so a process that died is
//! forgotten. Each process works out the same transitions and tells only its own listeners, so
//! a `chat.presence` event is never sent twice to one stream.
//!
//! [`Registry`] is the pure state machine (it takes the time as an argument, so tests step it);
//! `super::PushService` feeds it and delivers the changes it returns.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::domain::UserId;

/// What others see of a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Online,
    Away,
    Offline,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Online => "online",
            Status::Away => "away",
            Status::Offline => "offline",
        }
    }
}

/// This process's streams of one user.
#[derive(Debug, Default)]
struct Local {
    connections: usize,
    /// Set when the last stream closed: the user counts as connected until then.
    grace_until: Option<Instant>,
}

/// The presence picture of one process.
#[derive(Debug)]
pub struct Registry {
    grace: Duration,
    /// How long another process's announcement holds: two announce intervals.
    hold: Duration,
    local: HashMap<UserId, Local>,
    /// Other processes holding a stream of the user, each with when its word expires.
    remote: HashMap<UserId, HashMap<u64, Instant>>,
    away: HashSet<UserId>,
    /// What listeners were last told, for users not offline: only changes are announced.
    shown: HashMap<UserId, Status>,
}

/// A user whose status changed, and the new status.
pub type Change = (UserId, Status);

impl Registry {
    pub fn new(grace: Duration, announce: Duration) -> Registry {
        Registry {
            grace,
            hold: announce * 2,
            local: HashMap::new(),
            remote: HashMap::new(),
            away: HashSet::new(),
            shown: HashMap::new(),
        }
    }

    /// The user's status now.
    pub fn status(&self, user: UserId, now: Instant) -> Status {
        if !self.connected(user, now) {
            Status::Offline
        } else if self.away.contains(&user) {
            Status::Away
        } else {
            Status::Online
        }
    }

    fn connected(&self, user: UserId, now: Instant) -> bool {
        let local = self.local.get(&user).is_some_and(|l| l.connections > 0 || l.grace_until.is_some_and(|t| t > now));
        local || self.remote.get(&user).is_some_and(|by| by.values().any(|&until| until > now))
    }

    /// Recomputes `user` and returns the change, if listeners must hear of one.
    fn settle(&mut self, user: UserId, now: Instant, out: &mut Vec<Change>) {
        let status = self.status(user, now);
        if status == Status::Offline {
            self.away.remove(&user);
        }
        let before = self.shown.get(&user).copied().unwrap_or(Status::Offline);
        if before != status {
            if status == Status::Offline {
                self.shown.remove(&user);
            } else {
                self.shown.insert(user, status);
            }
            out.push((user, status));
        }
    }

    /// A stream of `user` opened on this process.
    pub fn connected_here(&mut self, user: UserId, now: Instant) -> Vec<Change> {
        let local = self.local.entry(user).or_default();
        local.connections += 1;
        local.grace_until = None;
        let mut out = Vec::new();
        self.settle(user, now, &mut out);
        out
    }

    /// A stream of `user` closed on this process. When it was the last one, the grace period
    /// starts: call [`Registry::grace_over`] after it.
    pub fn disconnected_here(&mut self, user: UserId, now: Instant) -> bool {
        let Some(local) = self.local.get_mut(&user) else { return false };
        local.connections = local.connections.saturating_sub(1);
        if local.connections > 0 {
            return false;
        }
        local.grace_until = Some(now + self.grace);
        true
    }

    /// The grace period of `user` may be over: if they did not come back, they are gone from
    /// this process. Returns the changes and whether the other processes must be told.
    pub fn grace_over(&mut self, user: UserId, now: Instant) -> (Vec<Change>, bool) {
        let gone = self.local.get(&user).is_some_and(|l| l.connections == 0 && l.grace_until.is_none_or(|t| t <= now));
        let mut out = Vec::new();
        if gone {
            self.local.remove(&user);
            self.settle(user, now, &mut out);
        }
        (out, gone)
    }

    /// The user's clients said they are away (or back).
    pub fn set_away(&mut self, user: UserId, away: bool, now: Instant) -> Vec<Change> {
        if away {
            self.away.insert(user);
        } else {
            self.away.remove(&user);
        }
        let mut out = Vec::new();
        self.settle(user, now, &mut out);
        out
    }

    /// Process `from` holds streams of `users` (the ones in `away` said they are away).
    pub fn remote_up(&mut self, from: u64, users: &[UserId], away: &[UserId], now: Instant) -> Vec<Change> {
        let until = now + self.hold;
        for user in users {
            self.remote.entry(*user).or_default().insert(from, until);
        }
        self.away.extend(away.iter().copied());
        let mut out = Vec::new();
        for user in users {
            self.settle(*user, now, &mut out);
        }
        out
    }

    /// Process `from` no longer holds streams of `users`.
    pub fn remote_down(&mut self, from: u64, users: &[UserId], now: Instant) -> Vec<Change> {
        for user in users {
            if let Some(by) = self.remote.get_mut(user) {
                by.remove(&from);
                if by.is_empty() {
                    self.remote.remove(user);
                }
            }
        }
        let mut out = Vec::new();
        for user in users {
            self.settle(*user, now, &mut out);
        }
        out
    }

    /// Forgets what other processes said longer ago than two announce intervals, and ends grace
    /// periods that ran out (a backstop for the timer that normally does it).
    pub fn sweep(&mut self, now: Instant) -> (Vec<Change>, Vec<UserId>) {
        let mut touched: Vec<UserId> = Vec::new();
        self.remote.retain(|user, by| {
            let before = by.len();
            by.retain(|_, until| *until > now);
            if by.len() != before {
                touched.push(*user);
            }
            !by.is_empty()
        });
        let mut gone = Vec::new();
        let expired: Vec<UserId> = self
            .local
            .iter()
            .filter(|(_, l)| l.connections == 0 && l.grace_until.is_none_or(|t| t <= now))
            .map(|(u, _)| *u)
            .collect();
        for user in expired {
            self.local.remove(&user);
            gone.push(user);
            touched.push(user);
        }
        let mut out = Vec::new();
        for user in touched {
            self.settle(user, now, &mut out);
        }
        (out, gone)
    }

    /// The users this process holds streams of (grace periods included), and which of them are
    /// away: what it announces to the others.
    pub fn held_here(&self) -> (Vec<UserId>, Vec<UserId>) {
        let users: Vec<UserId> = self.local.keys().copied().collect();
        let away = users.iter().copied().filter(|u| self.away.contains(u)).collect();
        (users, away)
    }
}

/// At most one typing indicator per user and channel per interval.
#[derive(Debug)]
pub struct TypingThrottle {
    interval: Duration,
    last: HashMap<(UserId, i64), Instant>,
}

impl TypingThrottle {
    /// Entries kept before old ones are dropped: bounds the map whatever clients send.
    const MAX_ENTRIES: usize = 100_000;

    pub fn new(interval: Duration) -> TypingThrottle {
        TypingThrottle { interval, last: HashMap::new() }
    }

    /// Whether an indicator of `user` in `channel` may go out now (and records it if so).
    pub fn allow(&mut self, user: UserId, channel: i64, now: Instant) -> bool {
        if let Some(last) = self.last.get(&(user, channel))
            && now.duration_since(*last) < self.interval
        {
            return false;
        }
        if self.last.len() >= Self::MAX_ENTRIES {
            let interval = self.interval;
            self.last.retain(|_, t| now.duration_since(*t) < interval);
        }
        self.last.insert((user, channel), now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: UserId = UserId(1);
    const B: UserId = UserId(2);

    fn registry() -> Registry {
        Registry::new(Duration::from_secs(10), Duration::from_secs(30))
    }

    #[test]
    fn online_while_connected_then_offline_after_the_grace_period() {
        let mut r = registry();
        let t0 = Instant::now();
        assert_eq!(r.connected_here(A, t0), vec![(A, Status::Online)]);
        // A second tab changes nothing.
        assert_eq!(r.connected_here(A, t0), vec![]);
        assert!(!r.disconnected_here(A, t0));
        assert!(r.disconnected_here(A, t0));
        // Within the grace period: still online, and a reconnect does not flap.
        assert_eq!(r.grace_over(A, t0 + Duration::from_secs(5)), (vec![], false));
        assert_eq!(r.status(A, t0 + Duration::from_secs(5)), Status::Online);
        assert_eq!(r.connected_here(A, t0 + Duration::from_secs(6)), vec![]);
        assert!(r.disconnected_here(A, t0 + Duration::from_secs(7)));
        assert_eq!(r.grace_over(A, t0 + Duration::from_secs(17)), (vec![(A, Status::Offline)], true));
        assert_eq!(r.status(A, t0 + Duration::from_secs(17)), Status::Offline);
    }

    #[test]
    fn away_only_while_connected_and_forgotten_when_offline() {
        let mut r = registry();
        let t0 = Instant::now();
        // Saying away without a stream changes nothing anyone sees.
        assert_eq!(r.set_away(A, true, t0), vec![]);
        assert_eq!(r.status(A, t0), Status::Offline);
        // Nor is it remembered: the next connection starts online.
        assert_eq!(r.connected_here(A, t0), vec![(A, Status::Online)]);
        r.disconnected_here(A, t0);
        r.grace_over(A, t0 + Duration::from_secs(11));
        assert_eq!(r.connected_here(A, t0 + Duration::from_secs(12)), vec![(A, Status::Online)]);
        assert_eq!(r.set_away(A, true, t0 + Duration::from_secs(12)), vec![(A, Status::Away)]);
        assert_eq!(r.set_away(A, true, t0 + Duration::from_secs(12)), vec![]);
        assert_eq!(r.set_away(A, false, t0 + Duration::from_secs(13)), vec![(A, Status::Online)]);
    }

    #[test]
    fn other_processes_hold_a_user_until_their_word_expires() {
        let mut r = registry();
        let t0 = Instant::now();
        assert_eq!(r.remote_up(7, &[A, B], &[B], t0), vec![(A, Status::Online), (B, Status::Away)]);
        // Repeated announcements change nothing.
        assert_eq!(r.remote_up(7, &[A, B], &[], t0 + Duration::from_secs(30)), vec![]);
        assert_eq!(r.remote_down(7, &[B], t0 + Duration::from_secs(31)), vec![(B, Status::Offline)]);
        // A connected here too: the other process going quiet does not take A offline.
        r.connected_here(A, t0 + Duration::from_secs(32));
        assert_eq!(r.sweep(t0 + Duration::from_secs(91)).0, vec![]);
        assert_eq!(r.status(A, t0 + Duration::from_secs(91)), Status::Online);
        r.disconnected_here(A, t0 + Duration::from_secs(92));
        assert_eq!(r.sweep(t0 + Duration::from_secs(103)), (vec![(A, Status::Offline)], vec![A]));
    }

    #[test]
    fn typing_is_throttled_per_user_and_channel() {
        let mut t = TypingThrottle::new(Duration::from_secs(3));
        let t0 = Instant::now();
        assert!(t.allow(A, 1, t0));
        assert!(!t.allow(A, 1, t0 + Duration::from_secs(2)));
        assert!(t.allow(A, 2, t0 + Duration::from_secs(2)));
        assert!(t.allow(B, 1, t0 + Duration::from_secs(2)));
        assert!(t.allow(A, 1, t0 + Duration::from_secs(3)));
    }
}
