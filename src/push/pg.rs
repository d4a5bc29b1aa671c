//! Cross-process wake-up on PostgreSQL: `NOTIFY madang_push` after COMMIT, `LISTEN` in every process.
//!
//! The payload is the comma-separated ids of the users whose logs moved (or `*`: everyone). It
//! is only a hint to read the log (`super`), so a notification lost while a listener
//! reconnects costs a wake-all, and one lost otherwise at most a heartbeat of delay.
//!
//! The second channel, `madang_ephemeral`, carries what is never stored: ephemeral events for
//! given users and presence announcements ([`Wire`], JSON), sent by one task per process from a
//! bounded queue, never inside a write transaction. A lost one is simply lost (presence heals
//! at the next announcement).

use std::sync::Weak;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::PushService;
use crate::domain::UserId;
use crate::store::Store;
use crate::store::push::Heard;

/// One message on `madang_ephemeral`; `p` is the sending process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "lowercase")]
pub(super) enum Wire {
    /// An ephemeral event for the listeners of `to`.
    Event { p: u64, to: Vec<i64>, kind: String, data: String },
    /// `users` hold streams on process `p` (those in `away` said they are away).
    Up { p: u64, users: Vec<i64>, away: Vec<i64> },
    /// `users` no longer hold streams on process `p`.
    Down { p: u64, users: Vec<i64> },
    /// `user`'s clients said they are away, or back.
    Away { p: u64, user: i64, away: bool },
    /// Process `p` started listening: the others announce who they hold at once.
    Hello { p: u64 },
}

/// `wire` as payloads under PostgreSQL's limit: a long list of users is split in halves until
/// each part fits. An event too large even for one recipient is dropped (and logged).
pub(super) fn wire_payloads(wire: &Wire) -> Vec<String> {
    let Ok(text) = serde_json::to_string(wire) else { return Vec::new() };
    if text.len() < MAX_PAYLOAD {
        return vec![text];
    }
    let halves = |list: &[i64]| {
        let (a, b) = list.split_at(list.len() / 2);
        (a.to_vec(), b.to_vec())
    };
    let parts = match wire {
        Wire::Event { p, to, kind, data } if to.len() > 1 => {
            let (a, b) = halves(to);
            vec![
                Wire::Event { p: *p, to: a, kind: kind.clone(), data: data.clone() },
                Wire::Event { p: *p, to: b, kind: kind.clone(), data: data.clone() },
            ]
        }
        Wire::Up { p, users, away } if users.len() > 1 => {
            let (a, b) = halves(users);
            let away_in = |part: &[i64]| away.iter().copied().filter(|u| part.contains(u)).collect::<Vec<_>>();
            vec![Wire::Up { p: *p, away: away_in(&a), users: a }, Wire::Up { p: *p, away: away_in(&b), users: b }]
        }
        Wire::Down { p, users } if users.len() > 1 => {
            let (a, b) = halves(users);
            vec![Wire::Down { p: *p, users: a }, Wire::Down { p: *p, users: b }]
        }
        _ => {
            tracing::warn!(bytes = text.len(), "an ephemeral message too large for NOTIFY was dropped");
            return Vec::new();
        }
    };
    parts.iter().flat_map(wire_payloads).collect()
}

/// Sends the queued messages for the other processes until the service is dropped.
pub(super) async fn send_ephemeral(store: Store, mut queue: mpsc::Receiver<Wire>) {
    while let Some(wire) = queue.recv().await {
        for payload in wire_payloads(&wire) {
            if let Err(e) = store.ephemeral_notify(&payload).await {
                tracing::warn!(error = %e, "could not send an ephemeral message to other processes");
                metrics::counter!("madang_push_notify_failures_total").increment(1);
            }
        }
    }
}

/// PostgreSQL refuses payloads of 8000 bytes or more.
const MAX_PAYLOAD: usize = 7900;

/// The payloads telling other processes about `users` (every listener when `everyone`).
pub(super) fn payloads(users: &[UserId], everyone: bool) -> Vec<String> {
    if everyone {
        return vec!["*".to_string()];
    }
    let mut out = Vec::new();
    let mut current = String::new();
    for user in users {
        let id = user.0.to_string();
        if !current.is_empty() && current.len() + 1 + id.len() > MAX_PAYLOAD {
            out.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(',');
        }
        current.push_str(&id);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Sends the notifications; a failure is logged (listeners elsewhere catch up at their next
/// heartbeat).
pub(super) async fn notify(store: &Store, users: &[UserId], everyone: bool) {
    for payload in payloads(users, everyone) {
        if let Err(e) = store.push_notify(&payload).await {
            tracing::warn!(error = %e, "could not notify other processes of a change");
            metrics::counter!("madang_push_notify_failures_total").increment(1);
        }
    }
}

/// Listens for other processes' notifications for as long as the service lives, reconnecting
/// after a failure.
pub(super) async fn listen(service: Weak<PushService>, store: Store) {
    let mut backoff = Duration::from_millis(500);
    loop {
        if service.strong_count() == 0 {
            return;
        }
        match store.push_listener().await {
            Ok(mut listener) => {
                backoff = Duration::from_millis(500);
                // Anything committed elsewhere while this process was not listening; and who is
                // online elsewhere, which the others now say at once.
                if let Some(s) = service.upgrade() {
                    s.wake_all();
                    s.tell_others(Wire::Hello { p: s.process });
                }
                loop {
                    // Bounded so a dropped service is noticed even when nothing is said.
                    let next = tokio::time::timeout(Duration::from_secs(30), listener.recv()).await;
                    let Some(s) = service.upgrade() else { return };
                    match next {
                        Err(_) => continue,
                        Ok(Ok(Some(Heard::Push(payload)))) => wake_for(&s, &payload),
                        Ok(Ok(Some(Heard::Ephemeral(payload)))) => match serde_json::from_str::<Wire>(&payload) {
                            Ok(wire) => s.heard(wire),
                            // Another version's message: nothing to do with it.
                            Err(e) => tracing::debug!(error = %e, "ignored an ephemeral message"),
                        },
                        // The connection was lost and is being re-established: what was said
                        // meanwhile is lost, so everyone rechecks.
                        Ok(Ok(None)) => s.wake_all(),
                        Ok(Err(e)) => {
                            tracing::warn!(error = %e, "push listener failed; reconnecting");
                            s.wake_all();
                            break;
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot listen for other processes' changes; retrying"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

fn wake_for(service: &PushService, payload: &str) {
    if payload == "*" {
        service.wake_all();
        return;
    }
    for id in payload.split(',') {
        match id.parse::<i64>() {
            Ok(id) => service.wake(UserId(id)),
            // Not ours to understand (another version?): be safe.
            Err(_) => return service.wake_all(),
        }
    }
}
