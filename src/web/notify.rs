//! Telling administrators that someone asked for an account: a mail to every
//! active administrator (when `[smtp]` is set), and the count of waiting
//! requests in the navigation of every page they see
//! ([`super::account::page_for`]).
//!
//! The mail says how many requests wait and where to decide on them, and
//! nothing else: no names or addresses. Those were typed by a stranger, and
//! a stranger's text has no place in a mail that comes from the server (nor
//! do personal details in mail that crosses other servers); the admin page
//! lists them after sign-in. The mail is sent in the background, so the
//! sign-up answer never waits for the mail server and cannot fail because of
//! it; a failure is logged at WARN.
//!
//! Mail is throttled per process, as a debounce: the first request after a
//! quiet `web.signup_notify_interval` is mailed at once; requests within the
//! interval schedule one mail for its end, which counts every request still
//! waiting then. Sign-up itself is throttled per client address and per
//! name, but many addresses could still ask many times; this way each
//! administrator gets at most one mail per interval, and no request goes
//! untold.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::i18n::{Lang, tf};
use crate::app::state::AppState;

/// The throttle's state, one per process (in [`super::WebService`]).
#[derive(Debug, Default)]
pub struct SignupNotice {
    state: Mutex<NoticeState>,
}

#[derive(Debug, Default)]
struct NoticeState {
    /// When the last mail went out (monotonic, from the [`crate::clock::Clock`]).
    last_sent: Option<Instant>,
    /// A mail is waiting to go out: later requests are counted in it.
    scheduled: bool,
}

impl SignupNotice {
    /// How long to wait before mailing, or `None` when a mail is already
    /// scheduled (it will count this request too).
    fn schedule(&self, now: Instant, interval: Duration) -> Option<Duration> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.scheduled {
            return None;
        }
        state.scheduled = true;
        Some(
            state.last_sent.map_or(Duration::ZERO, |last| interval.saturating_sub(now.saturating_duration_since(last))),
        )
    }

    /// Marks the mail sent — before it is composed, so that a request which
    /// arrives while it goes out schedules the next one instead of waiting
    /// for a mail that has already counted.
    fn sending(&self, now: Instant) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.scheduled = false;
        state.last_sent = Some(now);
    }
}

/// Called after a sign-up created a pending account; returns at once.
/// `lang` is the language of the request's page (the administrators have
/// no language setting of their own; a team tends to share one).
pub fn signup_requested(state: &AppState, lang: Lang) {
    if state.web.mailer.is_none() {
        return;
    }
    let notice = &state.web.signup_notice;
    let Some(delay) = notice.schedule(state.clock.instant(), state.web.config.signup_notify_interval) else {
        return;
    };
    let state = state.clone();
    tokio::spawn(async move {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        state.web.signup_notice.sending(state.clock.instant());
        if let Err(e) = mail_admins(&state, lang).await {
            tracing::warn!(error = %e, "could not tell the administrators about sign-up requests");
        }
    });
}

async fn mail_admins(state: &AppState, lang: Lang) -> Result<(), crate::store::StoreError> {
    let Some(mailer) = &state.web.mailer else { return Ok(()) };
    // Counted when the mail goes out: requests decided on meanwhile drop out.
    let waiting = state.store.count_pending_users().await?;
    if waiting == 0 {
        return Ok(());
    }
    let link = format!("{}admin", state.web.config.public_url);
    // One mail per administrator, so no one's address is shown to the others.
    for admin in state.store.active_admins().await? {
        let body = tf(lang, "signup.notify_body", &[admin.username.as_str(), &waiting.to_string(), &link])
            .replace("\\n", "\n");
        let subject = tf(lang, "signup.notify_subject", &[state.brand.name()]);
        if let Err(e) = mailer.send(admin.email.as_str(), &subject, &body).await {
            tracing::warn!(admin = %admin.username, error = %e, "could not mail an administrator about sign-up requests");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_request_goes_at_once_later_ones_wait_for_the_interval_in_one_mail() {
        let notice = SignupNotice::default();
        let interval = Duration::from_secs(600);
        let t0 = Instant::now();
        assert_eq!(notice.schedule(t0, interval), Some(Duration::ZERO));
        assert_eq!(notice.schedule(t0, interval), None, "already scheduled: counted in that mail");
        notice.sending(t0);
        let t1 = t0 + Duration::from_secs(60);
        assert_eq!(notice.schedule(t1, interval), Some(Duration::from_secs(540)));
        assert_eq!(notice.schedule(t1, interval), None);
        let t2 = t0 + interval;
        notice.sending(t2);
        assert_eq!(notice.schedule(t2 + interval * 2, interval), Some(Duration::ZERO), "quiet again: at once");
    }
}
