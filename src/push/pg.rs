//! Cross-process wake-up on PostgreSQL: `NOTIFY madang_push` after COMMIT, `LISTEN` in every process.
//!
//! The payload is the comma-separated ids of the users whose logs moved (or `*`: everyone). It
//! is only a hint to read the log (`super`), so a notification lost while a listener
//! reconnects costs a wake-all, and one lost otherwise at most a heartbeat of delay.

use std::sync::Weak;
use std::time::Duration;

use super::PushService;
use crate::domain::UserId;
use crate::store::Store;

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
                // Anything committed elsewhere while this process was not listening.
                if let Some(s) = service.upgrade() {
                    s.wake_all();
                }
                loop {
                    // Bounded so a dropped service is noticed even when nothing is said.
                    let next = tokio::time::timeout(Duration::from_secs(30), listener.recv()).await;
                    let Some(s) = service.upgrade() else { return };
                    match next {
                        Err(_) => continue,
                        Ok(Ok(Some(payload))) => wake_for(&s, &payload),
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
