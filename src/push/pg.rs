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

/// A [`Wire`] message with the instance it belongs to (`Store::notify_namespace`): the channel
/// is shared by every schema of the database, so another instance's users (whose ids mean other
/// people) must not hear this one's typing or presence.
#[derive(Debug, Serialize, Deserialize)]
struct Envelope {
    ns: String,
    #[serde(flatten)]
    wire: Wire,
}

/// `wire` as payloads under PostgreSQL's limit: a long list of users is split in halves until
/// each part fits. An event too large even for one recipient is dropped (and logged).
pub(super) fn wire_payloads(ns: &str, wire: &Wire) -> Vec<String> {
    let Ok(text) = serde_json::to_string(&Envelope { ns: ns.to_string(), wire: wire.clone() }) else {
        return Vec::new();
    };
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
    parts.iter().flat_map(|part| wire_payloads(ns, part)).collect()
}

/// The message in `payload` if it belongs to this instance.
fn parse_payload(ns: &str, payload: &str) -> Option<Wire> {
    match serde_json::from_str::<Envelope>(payload) {
        Ok(envelope) if envelope.ns == ns => Some(envelope.wire),
        Ok(_) => None,
        // Another version's message: nothing to do with it.
        Err(e) => {
            tracing::debug!(error = %e, "ignored an ephemeral message");
            None
        }
    }
}

/// This instance's namespace, asked until the database answers.
async fn namespace(store: &Store) -> String {
    let mut backoff = Duration::from_millis(200);
    loop {
        match store.notify_namespace().await {
            Ok(ns) => return ns,
            Err(e) => tracing::warn!(error = %e, "cannot read the schema name for ephemeral messages; retrying"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

/// Sends the queued messages for the other processes until the service is dropped.
pub(super) async fn send_ephemeral(store: Store, mut queue: mpsc::Receiver<Wire>) {
    let ns = namespace(&store).await;
    while let Some(wire) = queue.recv().await {
        for payload in wire_payloads(&ns, &wire) {
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
    let ns = namespace(&store).await;
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
                        Ok(Ok(Some(Heard::Ephemeral(payload)))) => {
                            if let Some(wire) = parse_payload(&ns, &payload) {
                                s.heard(wire);
                            }
                        }
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
    let mut users = Vec::new();
    for id in payload.split(',') {
        match id.parse::<i64>() {
            Ok(id) => users.push(UserId(id)),
            // Not ours to understand (another version?): be safe.
            Err(_) => return service.wake_all(),
        }
    }
    service.changed_elsewhere(users);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ephemeral_payloads_stay_under_the_limit_and_in_their_namespace() {
        let to: Vec<i64> = (1..3000).map(|n| n * 1_000_003).collect();
        let wire = Wire::Event { p: 9, to: to.clone(), kind: "chat.typing".into(), data: "{\"channel\":1}".into() };
        let payloads = wire_payloads("tenant_a", &wire);
        assert!(payloads.len() > 1 && payloads.iter().all(|p| p.len() < 8000));
        let mut back = Vec::new();
        for p in &payloads {
            let Some(Wire::Event { to, kind, .. }) = parse_payload("tenant_a", p) else { panic!("{p}") };
            assert_eq!(kind, "chat.typing");
            back.extend(to);
        }
        assert_eq!(back, to);
        // Another schema's instance ignores them.
        assert!(payloads.iter().all(|p| parse_payload("tenant_b", p).is_none()));
        let huge = Wire::Event { p: 9, to: vec![1], kind: "chat.typing".into(), data: "x".repeat(9000) };
        assert!(wire_payloads("", &huge).is_empty());
        let up = Wire::Up { p: 1, users: to.clone(), away: vec![to[0], to[2999 - 2]] };
        let parts: Vec<Wire> = wire_payloads("", &up).iter().filter_map(|p| parse_payload("", p)).collect();
        let away: Vec<i64> =
            parts.iter().flat_map(|w| if let Wire::Up { away, .. } = w { away.clone() } else { vec![] }).collect();
        assert_eq!(away, vec![to[0], to[2997]]);
    }
}
