//! New mail in about a second: one IMAP IDLE connection per linked account on its INBOX
//! (RFC 2177), re-issued every `IDLE_RENEW` (servers may drop an IDLE after 30 minutes); when the
//! server announces a change the INBOX is synchronised into the index at once, and the index's
//! `mail.changed` push event reaches the user's open clients. Other folders are synchronised
//! every `FULL_SYNC` on the same connection. A server without IDLE is polled (`POLL`). Where the
//! server has QRESYNC the session enables it (`MailService::open_watch_session`): an expunge is
//! then announced in IDLE as `VANISHED` instead of `EXPUNGE` (RFC 7162 §3.2.10), which wakes the
//! watcher just the same, and the INBOX sync learns which messages went from it.
//!
//! Failures back off exponentially (5 s to 10 minutes; an authentication failure starts at 5
//! minutes, so a changed password never gets the user locked out upstream by retries). The
//! supervisor reconciles the watchers with the linked accounts every `RECONCILE` and when told
//! (`MailService::kick`), and runs none while the mail module is off.
//!
//! Several processes on one PostgreSQL each watch every account today; running each watcher once
//! across processes is the operations issue's (advisory locks / leases).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_imap::extensions::idle::IdleResponse;

use super::connect::Step;
use super::index::SyncReport;
use super::{MailError, MailService};
use crate::domain::UserId;
use crate::modules::{Module, Modules};

const IDLE_RENEW: Duration = Duration::from_secs(25 * 60);
const FULL_SYNC: Duration = Duration::from_secs(10 * 60);
const POLL: Duration = Duration::from_secs(60);
const RECONCILE: Duration = Duration::from_secs(60);
const BACKOFF_MIN: Duration = Duration::from_secs(5);
const BACKOFF_AUTH: Duration = Duration::from_secs(5 * 60);
const BACKOFF_MAX: Duration = Duration::from_secs(10 * 60);
/// How many watchers' full syncs run at once (each is one folder list and a pass over every folder).
pub const CONCURRENT_FULL_SYNCS: usize = 4;

/// Starts the supervisor (the server calls this once).
pub fn spawn(service: Arc<MailService>, modules: Arc<Modules>) {
    tokio::spawn(async move {
        let mut watchers: HashMap<i64, tokio::task::JoinHandle<()>> = HashMap::new();
        loop {
            let on = modules.is_on(Module::Mail).await.unwrap_or(false);
            let accounts = if on { service.store.all_mail_accounts().await.unwrap_or_default() } else { Vec::new() };
            watchers.retain(|id, handle| {
                let keep = accounts.iter().any(|(a, _)| a == id) && !handle.is_finished();
                if !keep {
                    handle.abort();
                }
                keep
            });
            for (id, user) in accounts {
                watchers.entry(id).or_insert_with(|| tokio::spawn(watch(service.clone(), UserId(user), id)));
            }
            metrics::gauge!("madang_mail_watchers").set(watchers.len() as f64);
            let _ = tokio::time::timeout(RECONCILE, service.kicks.notified()).await;
        }
    });
}

/// One account, until it is unlinked (the supervisor aborts it then, or it sees `NotFound`).
async fn watch(service: Arc<MailService>, user: UserId, id: i64) {
    let mut backoff = BACKOFF_MIN;
    loop {
        let started = Instant::now();
        let failure = match watch_once(&service, user, id).await {
            // Unlinked; or the user must sign in again, which clears the problem and kicks
            // the supervisor, which starts a new watcher.
            Err(MailError::NotFound | MailError::SignInAgain(_)) => return,
            Err(e) => e,
            Ok(()) => continue,
        };
        let auth = matches!(&failure, MailError::Unreachable(f) if f.step == Step::Authentication);
        if started.elapsed() > BACKOFF_MAX {
            backoff = BACKOFF_MIN; // it worked for a while: start over
        }
        if auth {
            backoff = backoff.max(BACKOFF_AUTH);
        }
        tracing::warn!(account = id, error = %failure, retry_in_s = backoff.as_secs(), "mail watcher");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// One connection's life: a full sync, then INBOX syncs on every IDLE wake-up (or poll), a full
/// sync again every `FULL_SYNC`. Returns on a failure (the caller backs off and reconnects).
async fn watch_once(service: &MailService, user: UserId, id: i64) -> Result<(), MailError> {
    let row = service.store.mail_account(user, id).await?;
    let (mut session, resync, idle) = service.open_watch_session(user, &row).await?;
    let mut last_full = None::<Instant>;
    let mut rechecked = false;
    loop {
        {
            let lock = service.account_lock(id);
            let _guard = lock.lock().await;
            let mut report = SyncReport::default();
            if last_full.is_none_or(|t| t.elapsed() >= FULL_SYNC) {
                // A restart starts every watcher at once: their full syncs take turns.
                let _turn = service.full_syncs.acquire().await.map_err(|_| MailError::NotFound)?;
                service.sync_with(&mut session, user, id, resync).await?;
                last_full = Some(Instant::now());
            } else {
                let inbox = service.store.mail_inbox(user, id).await?;
                if let Some(inbox) = inbox {
                    service.sync_folder(&mut session, user, inbox, resync, &mut report).await?;
                }
            }
        }
        if !idle {
            tokio::time::sleep(POLL).await;
            continue;
        }
        // IDLE on INBOX (the sync above left another folder selected).
        let indexed = service.store.mail_inbox(user, id).await?;
        let inbox = indexed.as_ref().map(|f| f.name.clone()).unwrap_or_else(|| "INBOX".into());
        let selected =
            service.connector.step(Step::Protocol, session.select(&inbox)).await.map_err(MailError::Unreachable)?;
        // IDLE reports only what happens from now on (RFC 2177): a message that arrived, left or
        // changed between the sync and this SELECT would wait for the next wake-up, maybe 25
        // minutes. So when the SELECT shows the INBOX moved on, sync again first (once in a
        // row, so a count that never settles cannot keep the watcher from IDLE).
        if !rechecked && indexed.as_ref().is_some_and(|f| moved_on(&selected, f)) {
            rechecked = true;
            continue;
        }
        rechecked = false;
        let mut handle = session.idle();
        service.connector.step(Step::Protocol, handle.init()).await.map_err(MailError::Unreachable)?;
        let woke = {
            let (wait, _stop) = handle.wait_with_timeout(IDLE_RENEW);
            tokio::time::timeout(IDLE_RENEW, wait).await
        };
        match woke {
            Ok(Ok(IdleResponse::NewData(_))) => metrics::counter!("madang_mail_idle_wakeups_total").increment(1),
            Ok(Ok(_)) | Err(_) => {}
            Ok(Err(e)) => {
                return Err(MailError::Unreachable(super::Failure { step: Step::Protocol, message: e.to_string() }));
            }
        }
        session = service.connector.step(Step::Protocol, handle.done()).await.map_err(MailError::Unreachable)?;
    }
}

/// Whether the folder as just selected differs from what its sync recorded: a new UIDNEXT, another
/// count, or (with CONDSTORE) a newer HIGHESTMODSEQ.
fn moved_on(selected: &async_imap::types::Mailbox, indexed: &crate::store::mail::MailFolderRow) -> bool {
    selected.uid_next.is_some_and(|u| i64::from(u) != indexed.indexed_uidnext)
        || i64::from(selected.exists) != indexed.total
        || matches!((selected.highest_modseq, indexed.indexed_modseq), (Some(now), Some(then)) if i64::try_from(now).unwrap_or(i64::MAX) != then)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inbox_that_moved_on_between_sync_and_idle_is_synced_again() {
        let indexed = crate::store::mail::MailFolderRow {
            id: 1,
            account_id: 1,
            name: "INBOX".into(),
            display_name: "INBOX".into(),
            delimiter: Some("/".into()),
            role: Some("inbox".into()),
            selectable: true,
            uidvalidity: Some(7),
            uidnext: Some(11),
            highestmodseq: Some(40),
            total: 10,
            unseen: 0,
            synced_at: chrono::Utc::now(),
            indexed_uidvalidity: Some(7),
            indexed_uidnext: 11,
            indexed_modseq: Some(40),
        };
        let same = async_imap::types::Mailbox {
            exists: 10,
            uid_next: Some(11),
            highest_modseq: Some(40),
            ..Default::default()
        };
        assert!(!moved_on(&same, &indexed));
        assert!(moved_on(&async_imap::types::Mailbox { uid_next: Some(12), exists: 11, ..same.clone() }, &indexed));
        assert!(moved_on(&async_imap::types::Mailbox { exists: 9, ..same.clone() }, &indexed), "an expunge");
        assert!(moved_on(&async_imap::types::Mailbox { highest_modseq: Some(41), ..same.clone() }, &indexed), "a flag");
        // Without CONDSTORE there is no HIGHESTMODSEQ to compare: the rest still counts.
        assert!(!moved_on(&async_imap::types::Mailbox { highest_modseq: None, ..same }, &indexed));
    }
}
