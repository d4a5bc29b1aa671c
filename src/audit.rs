//! Recording security-relevant events: every sign-in success and failure and
//! every administrative action, with who, what, when and from where.
//!
//! Recording never fails the action it describes (a sign-in must not break
//! because the log insert timed out), but a failure to record is logged at
//! `error` and counted, so it cannot go unnoticed.

use std::net::IpAddr;

use crate::domain::User;
use crate::store::audit::NewAuditRecord;

/// One event, built with [`Entry::new`] and the chained setters.
#[derive(Debug, Clone)]
pub struct Entry(NewAuditRecord);

impl Entry {
    /// `action` is a dotted name: `signin.success`, `admin.user.approve`, …
    pub fn new(action: &str) -> Entry {
        Entry(NewAuditRecord { action: action.to_string(), ..NewAuditRecord::default() })
    }

    /// The account that acted.
    pub fn actor(mut self, user: &User) -> Entry {
        self.0.actor_id = Some(user.id);
        self.0.actor_name = user.username.as_str().to_string();
        self
    }

    /// A name that was tried but matched no account (failed sign-in): kept
    /// as typed, bounded so a hostile client cannot fill the log.
    pub fn actor_name(mut self, name: &str) -> Entry {
        self.0.actor_name = bounded(name, 128);
        self
    }

    pub fn target(mut self, target: impl AsRef<str>) -> Entry {
        self.0.target = bounded(target.as_ref(), 256);
        self
    }

    pub fn detail(mut self, detail: impl AsRef<str>) -> Entry {
        self.0.detail = bounded(detail.as_ref(), 1024);
        self
    }

    pub fn address(mut self, address: Option<IpAddr>) -> Entry {
        self.0.address = address.map(|a| a.to_string());
        self
    }
}

/// Appends `entry` to the audit log (doors call it through `AppState::audit`).
pub async fn record_in(store: &crate::store::Store, now: chrono::DateTime<chrono::Utc>, entry: Entry) {
    if let Err(e) = store.append_audit(&entry.0, now).await {
        metrics::counter!("madang_audit_failures_total").increment(1);
        tracing::error!(action = %entry.0.action, error = %e, "could not write the audit log");
    }
}

fn bounded(s: &str, max_chars: usize) -> String {
    s.chars().filter(|c| !c.is_control()).take(max_chars).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tried_names_are_bounded_and_stripped_of_control_characters() {
        let e = Entry::new("signin.failure").actor_name(&format!("ev\nil{}", "x".repeat(500)));
        assert!(e.0.actor_name.starts_with("evil"));
        assert_eq!(e.0.actor_name.chars().count(), 128);
    }
}
