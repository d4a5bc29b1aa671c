//! The push channel's domain service: who is listening in this process, waking them, and what a
//! listener is sent next.
//!
//! Design (zulip's event queues, simplified by keeping the queue in the database): every change
//! is written with a per-user number in the same transaction (`store::push`). A listener holds
//! the last number it delivered and, whenever it is woken, reads what came after it. So the
//! database is the queue, and waking is only a hint: a lost wake-up delays an event until the
//! next heartbeat, it never loses one.
//!
//! What a commit of this process appended is also handed to this process's listeners with the
//! wake-up (`Store::committed_many`), kept per user in a short list ([`RECENT`] events) until
//! every listener of that user has sent it. A listener sends from that list while it continues
//! its numbers without a gap, and reads the log otherwise: after a wake-up that brought no
//! events (a writer that did not keep them), a lagging commit feed, a gap (two commits told out
//! of order, a listener resuming further back), and at every heartbeat. So the list only saves
//! reads; the log stays the truth. Without it every member of a channel read the log back for
//! every message, twenty reads per message in a twenty-member channel. What other processes
//! commit reaches the list the same way, read for all of this process's listeners in one
//! statement per wake-up ([`fetch_remote`]). Wake-ups come from this process's commits
//! ([`crate::store::Store::subscribe_commits`]) and, on PostgreSQL, from other processes
//! through `LISTEN`/`NOTIFY` ([`pg`]), sent after COMMIT by one task per process and coalesced,
//! so no write transaction ever takes PostgreSQL's notify lock (a `NOTIFY` inside every write
//! serialises all commits of the cluster).
//!
//! Bounds: a listener holds at most one page of events ([`PAGE`]) and only reads the next page
//! when the client has taken the last one, so a slow consumer costs nothing but its socket; each
//! user may hold at most `push.max_connections_per_user` streams.
//!
//! Ephemeral deliveries (typing indicators, presence) are the exception: never stored, they go
//! straight to the listeners of the users they are for, in this process and, on PostgreSQL,
//! through a second channel (`NOTIFY madang_ephemeral`) in the others. They carry no event id,
//! so a client's last id is unchanged by them (HTML §9.2.6: an event without an `id` field keeps
//! the last event ID), and are dropped rather than queued when a listener already holds
//! [`EPHEMERAL_QUEUE`] of them or the notifier is behind: a lost typing indicator costs nothing.
//! Presence is in [`presence`].
//!
//! The service takes the store and settings, never `AppState` (`../shared/LAYERS.md`).

mod pg;
pub mod presence;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::config::PushConfig;
use crate::domain::UserId;
use crate::store::push::PushEvent;
use crate::store::{Store, StoreError};

/// The most events read and sent at once.
pub const PAGE: usize = 100;

/// The most events kept per user for this process's listeners (see the module comment).
pub const RECENT: usize = PAGE;

/// The most ephemeral deliveries one listener holds unsent; newer ones are dropped beyond it.
pub const EPHEMERAL_QUEUE: usize = 8;

/// Cross-process ephemeral messages waiting for the notifier; newer ones are dropped beyond it.
const OUTGOING_QUEUE: usize = 1024;

/// Why a stream was not opened.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("too many open push connections for this account (at most {0})")]
    TooManyConnections(usize),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a listener sends next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The stream starts (or resumes) at this number, which the client should remember.
    Ready { head: i64 },
    /// Events after the client's last one, oldest first.
    Events(Vec<PushEvent>),
    /// The client's last id is unknown here (malformed, in the future, or pruned): it must
    /// refetch what it shows; the stream goes on from `head`.
    Resync { head: i64 },
    /// Nothing happened for a heartbeat interval: keeps proxies from closing the connection.
    Heartbeat,
    /// The server is shutting down; the client reconnects (to this or another process).
    Closed,
    /// An event that is not stored (typing, presence): sent without an id.
    Ephemeral { kind: String, data: String },
}

/// The push service of one process; cheap to share (`Arc`).
pub struct PushService {
    store: Store,
    config: PushConfig,
    listeners: Mutex<HashMap<UserId, Slot>>,
    /// Moves once every listener must recheck (a lagging commit feed, a lost `LISTEN`
    /// connection) and once more on shutdown.
    everyone: watch::Sender<u64>,
    closing: watch::Sender<bool>,
    /// Names this process in cross-process messages, so it skips its own.
    process: u64,
    next_listener: AtomicU64,
    presence: Mutex<presence::Registry>,
    typing: Mutex<presence::TypingThrottle>,
    /// Presence changes for the delivery task, in order.
    presence_changes: mpsc::Sender<Vec<presence::Change>>,
    /// Messages for the other processes (PostgreSQL only).
    outgoing: Option<mpsc::Sender<pg::Wire>>,
    /// Users other processes committed events for, to read for this process's listeners
    /// (PostgreSQL only; see [`fetch_remote`]).
    remote: Option<mpsc::Sender<Vec<UserId>>>,
}

struct Slot {
    wake: watch::Sender<u64>,
    connections: usize,
    /// Each listener's queue of ephemeral deliveries, by listener number.
    ephemeral: Vec<(u64, mpsc::Sender<Delivery>)>,
    /// Events this process committed for the user, ascending and without duplicates, that a
    /// listener here may not have sent yet (at most [`RECENT`]).
    recent: std::collections::VecDeque<PushEvent>,
    /// Moves when the user's log changed in a way `recent` does not show: listeners read it.
    stale: u64,
    /// Each listener's last number sent, by listener number (`i64::MAX` before its first).
    cursors: Vec<(u64, i64)>,
}

impl Slot {
    /// Adds what a commit appended, keeping `recent` ascending (commits of one user may be
    /// told out of order) and short.
    fn remember(&mut self, events: &[PushEvent]) {
        for event in events {
            match self.recent.back() {
                Some(last) if last.seq >= event.seq => {
                    let at = self.recent.partition_point(|e| e.seq < event.seq);
                    if self.recent.get(at).is_none_or(|e| e.seq != event.seq) {
                        self.recent.insert(at, event.clone());
                    }
                }
                _ => self.recent.push_back(event.clone()),
            }
        }
        self.trim();
    }

    /// Drops what every listener has sent, and the oldest beyond [`RECENT`].
    fn trim(&mut self) {
        let floor = self.cursors.iter().map(|&(_, c)| c).min().unwrap_or(i64::MAX);
        while self.recent.front().is_some_and(|e| e.seq <= floor) || self.recent.len() > RECENT {
            self.recent.pop_front();
        }
    }

    fn set_cursor(&mut self, listener: u64, cursor: i64) {
        if let Some(entry) = self.cursors.iter_mut().find(|(id, _)| *id == listener) {
            entry.1 = cursor;
        }
        self.trim();
    }
}

/// What the recent list holds for a listener.
enum Recent {
    /// The events after its cursor, without a gap.
    Events(Vec<PushEvent>),
    /// Nothing after its cursor, and nothing happened that the list does not show.
    Nothing,
    /// The log must be read.
    Read,
}

impl PushService {
    /// Builds the service and starts its wake-up tasks on the current runtime: the local
    /// fan-out of this process's commits and, on PostgreSQL, the cross-process notifier and
    /// listener. The tasks end when the service is dropped.
    pub fn start(store: Store, config: PushConfig) -> Arc<PushService> {
        let postgres = store.kind() == "postgres";
        let (presence_tx, presence_rx) = mpsc::channel(OUTGOING_QUEUE);
        let (outgoing_tx, outgoing_rx) = mpsc::channel(OUTGOING_QUEUE);
        let (remote_tx, remote_rx) = mpsc::channel(OUTGOING_QUEUE);
        let mut process = [0u8; 8];
        // A clash would only make two processes ignore each other's ephemerals.
        let _ = getrandom::getrandom(&mut process);
        let service = Arc::new(PushService {
            store: store.clone(),
            presence: Mutex::new(presence::Registry::new(config.presence_grace, config.presence_announce)),
            typing: Mutex::new(presence::TypingThrottle::new(config.typing_interval)),
            config,
            listeners: Mutex::new(HashMap::new()),
            everyone: watch::channel(0).0,
            closing: watch::channel(false).0,
            process: u64::from_le_bytes(process),
            next_listener: AtomicU64::new(0),
            presence_changes: presence_tx,
            outgoing: postgres.then_some(outgoing_tx),
            remote: postgres.then_some(remote_tx),
        });
        tokio::spawn(fan_out(Arc::downgrade(&service), store.subscribe_commits()));
        tokio::spawn(deliver_presence(Arc::downgrade(&service), presence_rx));
        tokio::spawn(presence_ticker(Arc::downgrade(&service)));
        if postgres {
            tokio::spawn(pg::send_ephemeral(store.clone(), outgoing_rx));
            tokio::spawn(pg::listen(Arc::downgrade(&service), store));
            tokio::spawn(fetch_remote(Arc::downgrade(&service), remote_rx));
        }
        service
    }

    /// Opens a stream for `user` resuming after `last_event_id` (the `Last-Event-ID` header, or
    /// `None` for a fresh start at the current head).
    pub async fn open(self: &Arc<Self>, user: UserId, last_event_id: Option<&str>) -> Result<Listener, PushError> {
        let (wake, id, ephemeral) = self.register(user)?;
        // Registered before reading the head: a commit between the two wakes this listener.
        let guard = Registration { service: self.clone(), user, id };
        self.connected(user);
        let head = self.store.push_head(user).await?;
        let (cursor, first) = match last_event_id.map(str::trim) {
            None | Some("") => (head, Delivery::Ready { head }),
            Some(text) => match text.parse::<i64>() {
                Ok(last) if (0..=head).contains(&last) => (last, Delivery::Ready { head: last }),
                // Malformed, negative or from the future (another database, a restored
                // backup): replaying "everything" would be wrong, so the client refetches.
                _ => (head, Delivery::Resync { head }),
            },
        };
        let everyone = self.everyone.subscribe();
        let everyone_seen = *everyone.borrow();
        Ok(Listener {
            user,
            cursor,
            pending: Some(first),
            closed: false,
            must_read: true,
            stale_seen: 0,
            everyone_seen,
            wake,
            ephemeral,
            everyone,
            closing: self.closing.subscribe(),
            heartbeat: self.config.heartbeat,
            next_heartbeat: tokio::time::Instant::now() + self.config.heartbeat,
            store: self.store.clone(),
            guard,
        })
    }

    /// Ends every stream (server shutdown): each sends [`Delivery::Closed`] and stops.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    #[allow(clippy::type_complexity)]
    fn register(&self, user: UserId) -> Result<(watch::Receiver<u64>, u64, mpsc::Receiver<Delivery>), PushError> {
        let mut listeners = self.listeners.lock().map_err(|_| StoreError::Internal("push registry poisoned".into()))?;
        let slot = listeners.entry(user).or_insert_with(|| Slot {
            wake: watch::channel(0).0,
            connections: 0,
            ephemeral: Vec::new(),
            recent: std::collections::VecDeque::new(),
            stale: 0,
            cursors: Vec::new(),
        });
        if slot.connections >= self.config.max_connections_per_user {
            return Err(PushError::TooManyConnections(self.config.max_connections_per_user));
        }
        slot.connections += 1;
        let id = self.next_listener.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(EPHEMERAL_QUEUE);
        slot.ephemeral.push((id, tx));
        slot.cursors.push((id, i64::MAX));
        metrics::gauge!("madang_push_connections").increment(1.0);
        Ok((slot.wake.subscribe(), id, rx))
    }

    /// Sends an ephemeral event (never stored, no id) to the listeners of `to`, here and on the
    /// other processes. Never waits: what does not fit a queue is dropped.
    pub fn send_ephemeral(&self, to: &[UserId], kind: &str, data: &str) {
        self.deliver_here(to, kind, data);
        self.tell_others(pg::Wire::Event {
            p: self.process,
            to: to.iter().map(|u| u.0).collect(),
            kind: kind.to_string(),
            data: data.to_string(),
        });
    }

    /// Delivers an ephemeral event to this process's listeners of `to`.
    fn deliver_here(&self, to: &[UserId], kind: &str, data: &str) {
        let Ok(listeners) = self.listeners.lock() else { return };
        for user in to {
            let Some(slot) = listeners.get(user) else { continue };
            for (_, queue) in &slot.ephemeral {
                let delivery = Delivery::Ephemeral { kind: kind.to_string(), data: data.to_string() };
                if queue.try_send(delivery).is_err() {
                    metrics::counter!("madang_push_ephemeral_dropped_total").increment(1);
                }
            }
        }
    }

    /// Whether `user` has a listener in this process.
    fn listening_here(&self, user: UserId) -> bool {
        self.listeners.lock().is_ok_and(|l| l.contains_key(&user))
    }

    /// Queues a message for the other processes (PostgreSQL only); dropped when the notifier
    /// is that far behind.
    fn tell_others(&self, wire: pg::Wire) {
        if let Some(outgoing) = &self.outgoing
            && outgoing.try_send(wire).is_err()
        {
            metrics::counter!("madang_push_ephemeral_dropped_total").increment(1);
        }
    }

    /// `user`'s presence as this process sees it (every process sees the same, give or take
    /// the time a notification takes).
    pub fn presence(&self, user: UserId) -> presence::Status {
        self.presence.lock().map_or(presence::Status::Offline, |r| r.status(user, tokio::time::Instant::now()))
    }

    /// Those of `users` who are online (not away, not offline) as this process sees it: whom
    /// an `@here` mentions. One lock for the lot, since a channel may have thousands.
    pub fn online_among(&self, users: &[UserId]) -> Vec<UserId> {
        let now = tokio::time::Instant::now();
        self.presence.lock().map_or(Vec::new(), |r| {
            users.iter().copied().filter(|&u| r.status(u, now) == presence::Status::Online).collect()
        })
    }

    /// `user`'s clients say they are away (or back).
    pub fn set_away(&self, user: UserId, away: bool) {
        let changes = self.with_presence(|r, now| r.set_away(user, away, now));
        self.announce(changes);
        self.tell_others(pg::Wire::Away { p: self.process, user: user.0, away });
    }

    /// Whether a typing indicator of `user` in `channel` may go out now (`push.typing_interval`).
    pub fn typing_allowed(&self, user: UserId, channel: i64) -> bool {
        self.typing.lock().is_ok_and(|mut t| t.allow(user, channel, tokio::time::Instant::now()))
    }

    fn with_presence<T: Default>(&self, f: impl FnOnce(&mut presence::Registry, tokio::time::Instant) -> T) -> T {
        match self.presence.lock() {
            Ok(mut registry) => f(&mut registry, tokio::time::Instant::now()),
            Err(_) => T::default(),
        }
    }

    /// Hands presence changes to the delivery task (in order; dropped if it is that far behind).
    fn announce(&self, changes: Vec<presence::Change>) {
        if !changes.is_empty() && self.presence_changes.try_send(changes).is_err() {
            metrics::counter!("madang_push_ephemeral_dropped_total").increment(1);
        }
    }

    /// A stream of `user` opened here.
    fn connected(&self, user: UserId) {
        let changes = self.with_presence(|r, now| r.connected_here(user, now));
        self.announce(changes);
        let away = self.with_presence(|r, now| r.status(user, now) == presence::Status::Away);
        self.tell_others(pg::Wire::Up {
            p: self.process,
            users: vec![user.0],
            away: if away { vec![user.0] } else { vec![] },
        });
    }

    /// The grace period after `user`'s last stream here closed has passed.
    fn grace_over(&self, user: UserId) {
        let (changes, gone) = self.with_presence(|r, now| r.grace_over(user, now));
        self.announce(changes);
        if gone {
            self.tell_others(pg::Wire::Down { p: self.process, users: vec![user.0] });
        }
    }

    /// What another process said (see `pg`); this process's own messages are skipped.
    fn heard(&self, wire: pg::Wire) {
        let ids = |v: &[i64]| v.iter().map(|&id| UserId(id)).collect::<Vec<_>>();
        match wire {
            pg::Wire::Event { p, .. }
            | pg::Wire::Up { p, .. }
            | pg::Wire::Down { p, .. }
            | pg::Wire::Away { p, .. }
            | pg::Wire::Hello { p }
                if p == self.process => {}
            pg::Wire::Event { to, kind, data, .. } => self.deliver_here(&ids(&to), &kind, &data),
            pg::Wire::Up { p, users, away } => {
                let changes = self.with_presence(|r, now| r.remote_up(p, &ids(&users), &ids(&away), now));
                self.announce(changes);
            }
            pg::Wire::Down { p, users } => {
                let changes = self.with_presence(|r, now| r.remote_down(p, &ids(&users), now));
                self.announce(changes);
            }
            pg::Wire::Away { user, away, .. } => {
                let changes = self.with_presence(|r, now| r.set_away(UserId(user), away, now));
                self.announce(changes);
            }
            // A process started (or reconnected): tell it at once who is here.
            pg::Wire::Hello { .. } => self.announce_held(),
        }
    }

    /// Tells the other processes which users hold streams here.
    fn announce_held(&self) {
        let (users, away) = self.with_presence(|r, _| r.held_here());
        if !users.is_empty() {
            self.tell_others(pg::Wire::Up {
                p: self.process,
                users: users.iter().map(|u| u.0).collect(),
                away: away.iter().map(|u| u.0).collect(),
            });
        }
    }

    /// Wakes `user`'s listeners in this process, if any, to read their log.
    pub fn wake(&self, user: UserId) {
        if let Ok(mut listeners) = self.listeners.lock()
            && let Some(slot) = listeners.get_mut(&user)
        {
            slot.stale = slot.stale.wrapping_add(1);
            slot.wake.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// Another process committed events for `users`: [`fetch_remote`] reads them for this
    /// process's listeners, many users in one statement; if it is that far behind, the
    /// listeners read their logs themselves.
    fn changed_elsewhere(&self, users: Vec<UserId>) {
        let Some(remote) = &self.remote else {
            return users.into_iter().for_each(|u| self.wake(u));
        };
        if let Err(e) = remote.try_send(users) {
            let (mpsc::error::TrySendError::Full(users) | mpsc::error::TrySendError::Closed(users)) = e;
            users.into_iter().for_each(|u| self.wake(u));
        }
    }

    /// For each of `users` with a listener here, the number after which its log is not known
    /// here (the newest event kept or sent); users whose listeners know nothing yet come back
    /// apart, to be woken to read their logs.
    fn known_positions(&self, users: &[UserId]) -> (Vec<(UserId, i64)>, Vec<UserId>) {
        let (mut known, mut unknown) = (Vec::new(), Vec::new());
        let Ok(listeners) = self.listeners.lock() else { return (known, users.to_vec()) };
        for user in users {
            let Some(slot) = listeners.get(user) else { continue };
            let kept = slot.recent.back().map(|e| e.seq);
            let sent = slot.cursors.iter().map(|&(_, c)| c).filter(|&c| c != i64::MAX).max();
            match kept.max(sent) {
                Some(position) => known.push((*user, position)),
                None => unknown.push(*user),
            }
        }
        (known, unknown)
    }

    /// Hands events read for `asked` (by [`fetch_remote`]) to the listeners here and wakes them;
    /// a user with a full page may have more, so their listeners read the log.
    fn deliver_fetched(&self, asked: &[(UserId, i64)], rows: Vec<(UserId, PushEvent)>) {
        let mut by_user: HashMap<UserId, Vec<PushEvent>> = HashMap::new();
        for (user, event) in rows {
            by_user.entry(user).or_default().push(event);
        }
        let Ok(mut listeners) = self.listeners.lock() else { return };
        for (user, _) in asked {
            let (Some(slot), Some(events)) = (listeners.get_mut(user), by_user.get(user)) else { continue };
            if events.len() >= RECENT {
                slot.stale = slot.stale.wrapping_add(1);
            } else {
                slot.remember(events);
            }
            slot.wake.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// Hands what this process committed to the listeners of its users here and wakes them.
    fn deliver_commit(&self, commit: &[crate::store::push::Committed]) {
        let Ok(mut listeners) = self.listeners.lock() else { return };
        for told in commit {
            let Some(slot) = listeners.get_mut(&told.user) else { continue };
            if told.events.is_empty() {
                slot.stale = slot.stale.wrapping_add(1);
            } else {
                slot.remember(&told.events);
            }
            slot.wake.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// Wakes every listener in this process.
    pub fn wake_all(&self) {
        self.everyone.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// Unregisters a listener when its stream is dropped (the client went away).
struct Registration {
    service: Arc<PushService>,
    user: UserId,
    /// The listener's number, which names its ephemeral queue.
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Ok(mut listeners) = self.service.listeners.lock()
            && let Some(slot) = listeners.get_mut(&self.user)
        {
            slot.connections = slot.connections.saturating_sub(1);
            slot.ephemeral.retain(|(id, _)| *id != self.id);
            slot.cursors.retain(|(id, _)| *id != self.id);
            slot.trim();
            metrics::gauge!("madang_push_connections").decrement(1.0);
            if slot.connections == 0 {
                listeners.remove(&self.user);
            }
        }
        let user = self.user;
        let last = self.service.with_presence(|r, now| r.disconnected_here(user, now));
        // The user stays online through the grace period; if no stream came back by its end,
        // they are gone from this process. (The presence ticker's sweep is the backstop when no
        // runtime is left to run the timer.)
        if last && let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let service = Arc::downgrade(&self.service);
            let grace = self.service.config.presence_grace;
            runtime.spawn(async move {
                tokio::time::sleep(grace).await;
                if let Some(service) = service.upgrade() {
                    service.grace_over(user);
                }
            });
        }
    }
}

/// One open stream: where it stands and what wakes it.
pub struct Listener {
    user: UserId,
    /// The last number delivered.
    cursor: i64,
    pending: Option<Delivery>,
    /// `Closed` was delivered: the stream ends.
    closed: bool,
    /// The next look must read the log (see the module comment).
    must_read: bool,
    /// The slot's `stale` when this listener last read the log.
    stale_seen: u64,
    /// The `everyone` count this listener last acted on.
    everyone_seen: u64,
    wake: watch::Receiver<u64>,
    ephemeral: mpsc::Receiver<Delivery>,
    everyone: watch::Receiver<u64>,
    closing: watch::Receiver<bool>,
    heartbeat: Duration,
    next_heartbeat: tokio::time::Instant,
    store: Store,
    guard: Registration,
}

impl Listener {
    /// The next thing to send; waits until there is one. `None` after [`Delivery::Closed`].
    pub async fn next(&mut self) -> Option<Result<Delivery, StoreError>> {
        if let Some(first) = self.pending.take() {
            return Some(Ok(first));
        }
        if self.closed {
            return None;
        }
        if *self.closing.borrow_and_update() {
            self.closed = true;
            return Some(Ok(Delivery::Closed));
        }
        loop {
            // Marked seen before reading, so a commit during the read wakes the wait below.
            self.wake.borrow_and_update();
            let everyone = *self.everyone.borrow_and_update();
            if everyone != self.everyone_seen {
                self.everyone_seen = everyone;
                self.must_read = true;
            }
            match self.read().await {
                Ok(Some(delivery)) => {
                    self.next_heartbeat = tokio::time::Instant::now() + self.heartbeat;
                    return Some(Ok(delivery));
                }
                Ok(None) => {}
                Err(e) => return Some(Err(e)),
            }
            tokio::select! {
                Some(delivery) = self.ephemeral.recv() => {
                    self.next_heartbeat = tokio::time::Instant::now() + self.heartbeat;
                    return Some(Ok(delivery));
                }
                _ = self.wake.changed() => {}
                _ = self.everyone.changed() => {}
                _ = self.closing.changed() => {
                    self.closed = true;
                    return Some(Ok(Delivery::Closed));
                }
                // Also a poll: a wake-up lost between processes costs at most this long. Counted
                // from the last thing sent, so wake-ups that found nothing do not postpone it.
                _ = tokio::time::sleep_until(self.next_heartbeat) => {
                    self.next_heartbeat = tokio::time::Instant::now() + self.heartbeat;
                    self.must_read = true;
                    return Some(Ok(Delivery::Heartbeat));
                }
            }
        }
    }

    /// Events after the cursor, or a resync when the log no longer holds the next one.
    async fn read(&mut self) -> Result<Option<Delivery>, StoreError> {
        // Why the log is read (`madang_push_log_reads_total`): `missed` when the recent list
        // could not serve (a gap, a stale slot), `asked` for a first read, a heartbeat, a
        // wake-up without events or a lagging feed. Many `missed` on a busy server mean the
        // list is too short for how far listeners fall behind.
        let reason = if std::mem::take(&mut self.must_read) {
            if let Ok(listeners) = self.guard.service.listeners.lock()
                && let Some(slot) = listeners.get(&self.user)
            {
                // The read below shows whatever made the slot stale until now.
                self.stale_seen = slot.stale;
            }
            "asked"
        } else {
            match self.recent() {
                Recent::Events(events) => {
                    self.cursor = events.last().map_or(self.cursor, |e| e.seq);
                    self.sent_up_to(self.cursor);
                    return Ok(Some(Delivery::Events(events)));
                }
                Recent::Nothing => return Ok(None),
                Recent::Read => "missed",
            }
        };
        metrics::counter!("madang_push_log_reads_total", "reason" => reason).increment(1);
        let delivery = self.read_log().await?;
        self.sent_up_to(self.cursor);
        Ok(delivery)
    }

    /// What the slot's recent list holds after the cursor; notes the slot's `stale` as seen
    /// (the caller reads the log when told to).
    fn recent(&mut self) -> Recent {
        let Ok(listeners) = self.guard.service.listeners.lock() else { return Recent::Read };
        let Some(slot) = listeners.get(&self.user) else { return Recent::Read };
        if slot.stale != self.stale_seen {
            self.stale_seen = slot.stale;
            return Recent::Read;
        }
        let start = slot.recent.partition_point(|e| e.seq <= self.cursor);
        let mut events = Vec::new();
        for event in slot.recent.range(start..) {
            if event.seq != self.cursor + 1 + events.len() as i64 || events.len() == PAGE {
                break;
            }
            events.push(event.clone());
        }
        match (events.is_empty(), slot.recent.len() > start) {
            (false, _) => Recent::Events(events),
            (true, false) => Recent::Nothing,
            (true, true) => Recent::Read,
        }
    }

    /// Records that this listener sent everything up to `cursor` (the slot forgets what every
    /// listener has sent).
    fn sent_up_to(&self, cursor: i64) {
        if let Ok(mut listeners) = self.guard.service.listeners.lock()
            && let Some(slot) = listeners.get_mut(&self.user)
        {
            slot.set_cursor(self.guard.id, cursor);
        }
    }

    /// Reads the log after the cursor.
    async fn read_log(&mut self) -> Result<Option<Delivery>, StoreError> {
        let events = self.store.push_events_after(self.user, self.cursor, PAGE).await?;
        let Some(first) = events.first() else {
            // Nothing after the cursor; a head below it means the log went backwards.
            let head = self.store.push_head(self.user).await?;
            return Ok((head < self.cursor).then(|| {
                self.cursor = head;
                Delivery::Resync { head }
            }));
        };
        if first.seq != self.cursor + 1 {
            // Pruned past the client's last id: what it missed is gone.
            let head = self.store.push_head(self.user).await?;
            self.cursor = head;
            return Ok(Some(Delivery::Resync { head }));
        }
        self.cursor = events.last().map_or(self.cursor, |e| e.seq);
        Ok(Some(Delivery::Events(events)))
    }
}

/// Prunes the push log hourly: events older than `push.retention`, and beyond
/// `push.retention_events` per user.
pub fn spawn_pruning(store: Store, clock: Arc<dyn crate::clock::Clock>, config: PushConfig) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            let Ok(retention) = chrono::Duration::from_std(config.retention) else { return };
            match store.prune_push_events(config.retention_events, clock.now() - retention).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(events = n, "pruned old push events"),
                Err(e) => tracing::warn!(error = %e, "could not prune the push log"),
            }
        }
    });
}

/// Sends presence changes, in order, to this process's listeners among the users who share a
/// channel with the user whose status changed. Every process does the same for its own
/// listeners (`presence`), so nothing goes between processes here.
async fn deliver_presence(service: std::sync::Weak<PushService>, mut changes: mpsc::Receiver<Vec<presence::Change>>) {
    while let Some(batch) = changes.recv().await {
        let Some(service) = service.upgrade() else { return };
        for (user, status) in batch {
            if let Err(e) = deliver_one_presence(&service, user, status).await {
                tracing::warn!(error = %e, "could not deliver a presence change");
            }
        }
    }
}

async fn deliver_one_presence(service: &PushService, user: UserId, status: presence::Status) -> Result<(), StoreError> {
    if service.listeners.lock().map(|l| l.is_empty()).unwrap_or(true) {
        return Ok(());
    }
    let mates: Vec<UserId> =
        service.store.chat_mates(user).await?.into_iter().filter(|u| service.listening_here(*u)).collect();
    if mates.is_empty() {
        return Ok(());
    }
    let name = service.store.user(user).await?.username;
    let data = serde_json::json!({ "user": name.as_str(), "status": status.as_str() }).to_string();
    service.deliver_here(&mates, "chat.presence", &data);
    Ok(())
}

/// Every `push.presence_announce`: forgets what other processes stopped repeating, ends grace
/// periods whose timer was lost, and (PostgreSQL) repeats which users hold streams here.
async fn presence_ticker(service: std::sync::Weak<PushService>) {
    let Some(every) = service.upgrade().map(|s| s.config.presence_announce) else { return };
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(service) = service.upgrade() else { return };
        let (changes, gone) = service.with_presence(|r, now| r.sweep(now));
        service.announce(changes);
        if !gone.is_empty() {
            service.tell_others(pg::Wire::Down { p: service.process, users: gone.iter().map(|u| u.0).collect() });
        }
        service.announce_held();
    }
}

/// Reads what other processes committed for this process's listeners: whatever notifications
/// arrived meanwhile in one statement, so a busy channel costs one read per wake-up here rather
/// than one per listener.
async fn fetch_remote(service: std::sync::Weak<PushService>, mut queue: mpsc::Receiver<Vec<UserId>>) {
    /// The most users asked about in one statement.
    const USERS_PER_READ: usize = 1000;
    while let Some(mut users) = queue.recv().await {
        while let Ok(more) = queue.try_recv() {
            users.extend(more);
        }
        let Some(service) = service.upgrade() else { return };
        users.sort_unstable_by_key(|u| u.0);
        users.dedup();
        let (known, unknown) = service.known_positions(&users);
        unknown.into_iter().for_each(|u| service.wake(u));
        for asked in known.chunks(USERS_PER_READ) {
            match service.store.push_events_after_many(asked, RECENT).await {
                Ok(rows) => service.deliver_fetched(asked, rows),
                Err(e) => {
                    tracing::warn!(error = %e, "could not read other processes' events; listeners read their logs");
                    asked.iter().for_each(|(u, _)| service.wake(*u));
                }
            }
        }
    }
}

/// Hands this process's commits to its listeners and, on PostgreSQL, tells the others.
async fn fan_out(
    service: std::sync::Weak<PushService>,
    mut commits: tokio::sync::broadcast::Receiver<crate::store::push::Commit>,
) {
    use tokio::sync::broadcast::error::{RecvError, TryRecvError};
    loop {
        let first = commits.recv().await;
        let Some(service) = service.upgrade() else { return };
        let mut users = Vec::new();
        let mut everyone = false;
        let mut take = |commit: crate::store::push::Commit| {
            service.deliver_commit(&commit);
            users.extend(commit.iter().map(|c| c.user));
        };
        match first {
            Ok(commit) => take(commit),
            Err(RecvError::Lagged(_)) => everyone = true,
            Err(RecvError::Closed) => return,
        }
        // Whatever else committed meanwhile goes out in the same NOTIFY.
        loop {
            match commits.try_recv() {
                Ok(commit) => take(commit),
                Err(TryRecvError::Lagged(_)) => everyone = true,
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
        users.sort_unstable_by_key(|u| u.0);
        users.dedup();
        if everyone {
            service.wake_all();
        }
        if service.store.kind() == "postgres" {
            pg::notify(&service.store, &users, everyone).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: i64) -> PushEvent {
        PushEvent { seq, kind: "chat.message".into(), data: seq.to_string() }
    }

    fn slot(cursors: &[(u64, i64)]) -> Slot {
        Slot {
            wake: watch::channel(0).0,
            connections: cursors.len(),
            ephemeral: Vec::new(),
            recent: std::collections::VecDeque::new(),
            stale: 0,
            cursors: cursors.to_vec(),
        }
    }

    fn seqs(slot: &Slot) -> Vec<i64> {
        slot.recent.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn recent_events_stay_ascending_unique_and_short() {
        let mut s = slot(&[(1, 0), (2, 0)]);
        s.remember(&[event(1), event(2)]);
        // Commits of one user told out of order, and one told twice.
        s.remember(&[event(5)]);
        s.remember(&[event(3), event(4)]);
        s.remember(&[event(4)]);
        assert_eq!(seqs(&s), [1, 2, 3, 4, 5]);
        // Forgotten once every listener sent them.
        s.set_cursor(1, 4);
        assert_eq!(seqs(&s), [1, 2, 3, 4, 5]);
        s.set_cursor(2, 2);
        assert_eq!(seqs(&s), [3, 4, 5]);
        // A listener that never reads does not make the list grow without bound.
        let many: Vec<PushEvent> = (6..6 + 3 * RECENT as i64).map(event).collect();
        s.remember(&many);
        assert_eq!(s.recent.len(), RECENT);
        assert_eq!(s.recent.back().map(|e| e.seq), Some(5 + 3 * RECENT as i64));
        // The last listener gone, nothing is kept.
        s.cursors.clear();
        s.trim();
        assert!(s.recent.is_empty());
    }

    #[test]
    fn notify_payloads_stay_under_postgres_limit() {
        let users: Vec<UserId> = (1..5000).map(|n| UserId(n * 1_000_003)).collect();
        let payloads = pg::payloads(&users, false);
        assert!(payloads.len() > 1);
        assert!(payloads.iter().all(|p| p.len() < 8000));
        let back: Vec<i64> = payloads.iter().flat_map(|p| p.split(',').map(|n| n.parse::<i64>().unwrap())).collect();
        assert_eq!(back, users.iter().map(|u| u.0).collect::<Vec<_>>());
        assert_eq!(pg::payloads(&users, true), vec!["*".to_string()]);
    }
}
