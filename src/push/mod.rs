//! The push channel's domain service: who is listening in this process, waking them, and what a
//! listener is sent next.
//!
//! Design (zulip's event queues, simplified by keeping the queue in the database): every change
//! is written with a per-user number in the same transaction (`store::push`). A listener holds
//! the last number it delivered and, whenever it is woken, reads what came after it. So the
//! database is the queue, and waking is only a hint: a lost wake-up delays an event until the
//! next heartbeat, it never loses one. Wake-ups come from this process's commits
//! ([`crate::store::Store::subscribe_commits`]) and, on PostgreSQL, from other processes
//! through `LISTEN`/`NOTIFY` ([`pg`]), sent after COMMIT by one task per process and coalesced,
//! so no write transaction ever takes PostgreSQL's notify lock (a `NOTIFY` inside every write
//! serialises all commits of the cluster).
//!
//! Bounds: a listener holds at most one page of events ([`PAGE`]) and only reads the next page
//! when the client has taken the last one, so a slow consumer costs nothing but its socket; each
//! user may hold at most `push.max_connections_per_user` streams.
//!
//! The service takes the store and settings, never `AppState` (`../shared/LAYERS.md`).

mod pg;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use crate::config::PushConfig;
use crate::domain::UserId;
use crate::store::push::PushEvent;
use crate::store::{Store, StoreError};

/// The most events read and sent at once.
pub const PAGE: usize = 100;

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
}

struct Slot {
    wake: watch::Sender<u64>,
    connections: usize,
}

impl PushService {
    /// Builds the service and starts its wake-up tasks on the current runtime: the local
    /// fan-out of this process's commits and, on PostgreSQL, the cross-process notifier and
    /// listener. The tasks end when the service is dropped.
    pub fn start(store: Store, config: PushConfig) -> Arc<PushService> {
        let service = Arc::new(PushService {
            store: store.clone(),
            config,
            listeners: Mutex::new(HashMap::new()),
            everyone: watch::channel(0).0,
            closing: watch::channel(false).0,
        });
        tokio::spawn(fan_out(Arc::downgrade(&service), store.subscribe_commits()));
        if store.kind() == "postgres" {
            tokio::spawn(pg::listen(Arc::downgrade(&service), store));
        }
        service
    }

    /// Opens a stream for `user` resuming after `last_event_id` (the `Last-Event-ID` header, or
    /// `None` for a fresh start at the current head).
    pub async fn open(self: &Arc<Self>, user: UserId, last_event_id: Option<&str>) -> Result<Listener, PushError> {
        let wake = self.register(user)?;
        // Registered before reading the head: a commit between the two wakes this listener.
        let guard = Registration { service: self.clone(), user };
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
        Ok(Listener {
            user,
            cursor,
            pending: Some(first),
            closed: false,
            wake,
            everyone: self.everyone.subscribe(),
            closing: self.closing.subscribe(),
            heartbeat: self.config.heartbeat,
            next_heartbeat: tokio::time::Instant::now() + self.config.heartbeat,
            store: self.store.clone(),
            _guard: guard,
        })
    }

    /// Ends every stream (server shutdown): each sends [`Delivery::Closed`] and stops.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    fn register(&self, user: UserId) -> Result<watch::Receiver<u64>, PushError> {
        let mut listeners = self.listeners.lock().map_err(|_| StoreError::Internal("push registry poisoned".into()))?;
        let slot = listeners.entry(user).or_insert_with(|| Slot { wake: watch::channel(0).0, connections: 0 });
        if slot.connections >= self.config.max_connections_per_user {
            return Err(PushError::TooManyConnections(self.config.max_connections_per_user));
        }
        slot.connections += 1;
        metrics::gauge!("madang_push_connections").increment(1.0);
        Ok(slot.wake.subscribe())
    }

    /// Wakes `user`'s listeners in this process, if any.
    pub fn wake(&self, user: UserId) {
        if let Ok(listeners) = self.listeners.lock()
            && let Some(slot) = listeners.get(&user)
        {
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
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Ok(mut listeners) = self.service.listeners.lock()
            && let Some(slot) = listeners.get_mut(&self.user)
        {
            slot.connections = slot.connections.saturating_sub(1);
            metrics::gauge!("madang_push_connections").decrement(1.0);
            if slot.connections == 0 {
                listeners.remove(&self.user);
            }
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
    wake: watch::Receiver<u64>,
    everyone: watch::Receiver<u64>,
    closing: watch::Receiver<bool>,
    heartbeat: Duration,
    next_heartbeat: tokio::time::Instant,
    store: Store,
    _guard: Registration,
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
            self.everyone.borrow_and_update();
            match self.read().await {
                Ok(Some(delivery)) => {
                    self.next_heartbeat = tokio::time::Instant::now() + self.heartbeat;
                    return Some(Ok(delivery));
                }
                Ok(None) => {}
                Err(e) => return Some(Err(e)),
            }
            tokio::select! {
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
                    return Some(Ok(Delivery::Heartbeat));
                }
            }
        }
    }

    /// Events after the cursor, or a resync when the log no longer holds the next one.
    async fn read(&mut self) -> Result<Option<Delivery>, StoreError> {
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

/// Wakes local listeners for this process's commits and, on PostgreSQL, tells the others.
async fn fan_out(service: std::sync::Weak<PushService>, mut commits: tokio::sync::broadcast::Receiver<UserId>) {
    use tokio::sync::broadcast::error::{RecvError, TryRecvError};
    loop {
        let first = commits.recv().await;
        let Some(service) = service.upgrade() else { return };
        let mut users = Vec::new();
        let mut everyone = false;
        match first {
            Ok(user) => users.push(user),
            Err(RecvError::Lagged(_)) => everyone = true,
            Err(RecvError::Closed) => return,
        }
        // Whatever else committed meanwhile goes out in the same NOTIFY.
        loop {
            match commits.try_recv() {
                Ok(user) => users.push(user),
                Err(TryRecvError::Lagged(_)) => everyone = true,
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
        users.sort_unstable_by_key(|u| u.0);
        users.dedup();
        if everyone {
            service.wake_all();
        } else {
            for user in &users {
                service.wake(*user);
            }
        }
        if service.store.kind() == "postgres" {
            pg::notify(&service.store, &users, everyone).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
