//! Browser sessions: who is signed in, since when, and how.
//!
//! The cookie `madang_session` (`__Host-madang_session` under HTTPS, see
//! [`super::cookie_name`]) holds 256 random bits; the database holds
//! their SHA-256, so neither a database copy nor a log line can be replayed
//! as a cookie. A session ends at the first of: sign-out, revocation, the
//! absolute lifetime (`web.session_lifetime`), or idleness
//! (`web.session_idle_timeout`); and it is worthless while the account is
//! not active. The cookie is `HttpOnly` (no script reads it), `SameSite=Lax`
//! (not sent on cross-site POSTs), and `Secure` under HTTPS (RFC 6265 §4.1.2).

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use chrono::{DateTime, Utc};

use super::{Client, random_token, set_cookie, token_hash};
use crate::app::state::AppState;
use crate::domain::{User, UserState};
use crate::store::StoreError;
use crate::store::sessions::NewWebSession;

pub const COOKIE: &str = "madang_session";

/// Writing `last_seen_at` on every page view would turn reads into writes;
/// once a minute is precise enough for an idle timeout counted in days.
const TOUCH_EVERY: chrono::Duration = chrono::Duration::seconds(60);

/// A signed-in browser.
#[derive(Debug, Clone)]
pub struct WebSession {
    pub id: i64,
    pub user: User,
    /// When the user last proved who they are (OIDC `auth_time`).
    pub auth_time: DateTime<Utc>,
    /// RFC 8176 methods: `pwd`, plus `otp` when a second factor was used.
    pub amr: Vec<String>,
    /// The stored token hash: what CSRF tokens are bound to, so they are as
    /// unguessable as the session and die with it.
    pub(crate) binding: [u8; 32],
}

/// The session of this request, if it has a live one.
pub async fn current(state: &AppState, headers: &HeaderMap) -> Option<WebSession> {
    match lookup(state, headers).await {
        Ok(session) => session,
        Err(e) => {
            // A database failure signs nobody in; the page will say more
            // when it next touches the store.
            tracing::warn!(error = %e, "could not read the web session");
            None
        }
    }
}

async fn lookup(state: &AppState, headers: &HeaderMap) -> Result<Option<WebSession>, StoreError> {
    let name = super::cookie_name(COOKIE, super::secure_cookies(state, headers));
    let Some(token) = super::cookie(headers, &name).filter(|t| !t.is_empty() && t.len() <= 128) else {
        return Ok(None);
    };
    let hash = token_hash(token);
    let Some(record) = state.store.web_session_by_hash(&hash).await? else {
        return Ok(None);
    };
    let now = state.clock.now();
    let config = &state.web.config;
    if now >= record.expires_at || now >= after(record.last_seen_at, config.session_idle_timeout) {
        // Dead already; forget it now rather than wait for the purge.
        state.store.delete_web_session(record.user_id, record.id).await.or_else(ignore_not_found)?;
        return Ok(None);
    }
    let user = match state.store.user(record.user_id).await {
        Ok(user) => user,
        Err(StoreError::NotFound) => return Ok(None),
        Err(e) => return Err(e),
    };
    if user.state != UserState::Active {
        return Ok(None);
    }
    if now - record.last_seen_at >= TOUCH_EVERY {
        state.store.touch_web_session(record.id, now).await?;
    }
    Ok(Some(WebSession { id: record.id, user, auth_time: record.auth_time, amr: record.amr, binding: hash }))
}

/// Starts a session for `user` after a successful sign-in and returns it
/// with the `Set-Cookie` value that hands its token to the browser.
pub async fn start(
    state: &AppState,
    user: &User,
    amr: &[&str],
    client: &Client,
) -> Result<(WebSession, HeaderValue), StoreError> {
    let token = random_token()?;
    let hash = token_hash(&token);
    let now = state.clock.now();
    let lifetime = state.web.config.session_lifetime;
    let amr: Vec<String> = amr.iter().map(|s| s.to_string()).collect();
    let address = client.address.map(|a| a.to_string()).unwrap_or_default();
    let record = state
        .store
        .create_web_session(
            &NewWebSession {
                token_hash: &hash,
                user_id: user.id,
                auth_time: now,
                amr: &amr,
                expires_at: after(now, lifetime),
                user_agent: &client.user_agent,
                address: &address,
            },
            now,
        )
        .await?;
    let cookie = set_cookie(&client.cookie_name(COOKIE), &token, Some(lifetime.as_secs()), client.secure);
    let session =
        WebSession { id: record.id, user: user.clone(), auth_time: record.auth_time, amr: record.amr, binding: hash };
    Ok((session, cookie))
}

/// Ends the session and returns the `Set-Cookie` value that clears it.
pub async fn end(state: &AppState, session: &WebSession, client: &Client) -> Result<HeaderValue, StoreError> {
    state.store.delete_web_session(session.user.id, session.id).await.or_else(ignore_not_found)?;
    Ok(clear_cookie(client))
}

pub fn clear_cookie(client: &Client) -> HeaderValue {
    set_cookie(&client.cookie_name(COOKIE), "", Some(0), client.secure)
}

fn ignore_not_found(e: StoreError) -> Result<(), StoreError> {
    match e {
        StoreError::NotFound => Ok(()),
        other => Err(other),
    }
}

/// `t + d`, saturating: a configured "100000d" must not overflow into a panic.
pub(crate) fn after(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d).ok().and_then(|d| t.checked_add_signed(d)).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Deletes dead sessions, second-factor challenges and reset links hourly,
/// so the tables hold only live ones (dead ones are already refused on
/// sight; this only reclaims the rows).
pub fn spawn_purge(store: crate::store::Store, clock: std::sync::Arc<dyn crate::clock::Clock>, idle: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            purge(&store, clock.now(), idle).await;
        }
    });
}

/// One run of the hourly purge. Every kind of expiring row is forgotten
/// here, each on its own so that one failure does not keep the others.
pub async fn purge(store: &crate::store::Store, now: DateTime<Utc>, idle: Duration) {
    let idle_before = chrono::Duration::from_std(idle)
        .ok()
        .and_then(|d| now.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    report("web sessions", store.purge_web_sessions(now, idle_before).await);
    report("second-factor challenges", store.purge_mfa_challenges(now).await);
    report("password-reset links", store.purge_password_resets(now).await);
    report("OAuth codes, tokens and grants", store.purge_oauth(now).await);
}

fn report(what: &str, result: Result<u64, StoreError>) {
    match result {
        Ok(0) => {}
        Ok(n) => tracing::debug!(rows = n, "expired {what} removed"),
        Err(e) => tracing::warn!(error = %e, "could not remove expired {what}"),
    }
}
