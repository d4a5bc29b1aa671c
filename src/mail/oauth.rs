//! OAuth 2.0 for linked mail accounts whose provider will not take a password (Microsoft 365
//! since its basic-auth shutdown) or prefers not to (Gmail): the authorization-code flow with
//! PKCE for the user (RFC 6749 §4.1, RFC 7636), the refresh token sealed like a password, the
//! access token refreshed before it expires (RFC 6749 §6), and XOAUTH2 to the servers.
//!
//! Design.
//! - A flow's `state` is 32 random bytes; the database keeps only its SHA-256, and the PKCE
//!   verifier is derived from the state, so a flow row read from a backup opens nothing.
//!   The callback may reach any process (the row is in the shared database) and a flow is
//!   used once: it is deleted as it is read.
//! - The callback must come from the same signed-in user who started the flow (RFC 6749
//!   §10.12: `state` binds the answer to the browser session that asked).
//! - Refreshes are one at a time per account in a process, and a second caller re-reads the
//!   row the first one wrote. A provider's `invalid_grant` on refresh means the consent is
//!   gone (revoked, expired, password changed): the account records it (`auth_problem`), the
//!   watchers stop trying, and the user is asked to sign in again. Anything else (a timeout,
//!   a 5xx) is a passing failure, retried like an unreachable server.
//! - Token endpoints are the administrator's configuration, not a user's input, so they are
//!   not subject to `mail.allowed_networks`; they are still bounded in time and size.

use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use utoipa::ToSchema;

use super::{Account, AccountInput, Credential, Failure, MailError, MailResult, MailService, Step, sealing_context};
use crate::domain::UserId;
use crate::store::StoreError;
use crate::store::mail::{MailAccountFields, MailAccountRow, MailOAuthFlow};

/// The provider settings live in the configuration (a foundation); what Madang does with
/// them is here.
pub use crate::config::MailOAuthProvider as Provider;

impl Provider {
    /// The URL the browser is sent to (RFC 6749 §4.1.1, RFC 7636 §4.3).
    pub fn authorize(&self, redirect_uri: &str, state: &str, login_hint: &str) -> String {
        let challenge = challenge(&verifier(state));
        let mut query = form_urlencoded::Serializer::new(String::new());
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", &self.scope)
            .append_pair("state", state)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("login_hint", login_hint);
        for (k, v) in self.extra {
            query.append_pair(k, v);
        }
        let separator = if self.authorize_url.contains('?') { '&' } else { '?' };
        format!("{}{separator}{}", self.authorize_url, query.finish())
    }
}

/// What a provider shows the web client.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProviderView {
    /// What `POST /api/v1/mail/oauth/start` takes.
    pub id: String,
    pub name: String,
    /// The IMAP hosts it is for (empty: any).
    pub imap_hosts: Vec<String>,
}

impl From<&Provider> for ProviderView {
    fn from(p: &Provider) -> Self {
        ProviderView {
            id: p.id.into(),
            name: p.name.clone(),
            imap_hosts: p.imap_hosts.iter().map(|h| h.to_string()).collect(),
        }
    }
}

/// What the database keeps of a state: the hex of its SHA-256 (`tokens::token_hash`).
fn state_hash(state: &str) -> String {
    crate::tokens::token_hash(state).iter().map(|b| format!("{b:02x}")).collect()
}

/// The PKCE verifier of a flow (RFC 7636 §4.1: 43 characters of base64url), derived from
/// its state under a label of its own so neither reveals the other's hash.
fn verifier(state: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(format!("madang-pkce:{state}")))
}

/// `S256` (RFC 7636 §4.2).
fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
}

/// Tokens a token endpoint granted.
#[derive(Clone, PartialEq, Eq)]
pub struct Tokens {
    pub access: String,
    /// A new refresh token (always on a code exchange; on a refresh, when the provider rotates).
    pub refresh: Option<String>,
    pub expires_at: DateTime<Utc>,
}

/// Why a token request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// `invalid_grant` (RFC 6749 §5.2): the code or refresh token is no good; only the user
    /// can fix it, by signing in again.
    Refused(String),
    /// The provider could not be reached or answered something else; try later.
    Failed(String),
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    refresh_token: Option<String>,
    expires_in: Option<serde_json::Value>,
    error: Option<String>,
    error_description: Option<String>,
}

/// The largest token answer read (Microsoft's, with an ID token, is a few KiB).
const MAX_ANSWER: usize = 64 * 1024;
/// Without `expires_in`, an access token is assumed to live this long (RFC 6749 §5.1 makes it
/// optional; a shorter guess only costs an early refresh).
const DEFAULT_LIFETIME: i64 = 600;

/// One token request (RFC 6749 §4.1.3 or §6), client credentials in the body (§2.3.1, which
/// Google and Microsoft both accept).
pub async fn token_request(
    client: &http_client::Client,
    provider: &Provider,
    grant: &[(&str, &str)],
    timeout: Duration,
    now: DateTime<Utc>,
) -> Result<Tokens, TokenError> {
    // Built before the first await: the serializer is not `Send`.
    let body = {
        let mut body = form_urlencoded::Serializer::new(String::new());
        for (k, v) in grant {
            body.append_pair(k, v);
        }
        body.append_pair("client_id", &provider.client_id).append_pair("client_secret", &provider.client_secret);
        body.finish()
    };
    let mut response = client
        .post(&provider.token_url)
        .timeout(timeout)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| TokenError::Failed(format!("{}: {e}", provider.name)))?;
    let status = response.status();
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| TokenError::Failed(e.to_string()))? {
        if bytes.len() + chunk.len() > MAX_ANSWER {
            return Err(TokenError::Failed(format!("{}: the token answer is larger than 64 KiB", provider.name)));
        }
        bytes.extend_from_slice(&chunk);
    }
    let answer: TokenAnswer = serde_json::from_slice(&bytes).map_err(|_| {
        TokenError::Failed(format!("{}: the token endpoint answered {status} without a JSON body", provider.name))
    })?;
    if let Some(error) = answer.error {
        let text = match answer.error_description {
            Some(d) => format!("{}: {error} ({d})", provider.name),
            None => format!("{}: {error}", provider.name),
        };
        return Err(if error == "invalid_grant" { TokenError::Refused(text) } else { TokenError::Failed(text) });
    }
    let Some(access) = answer.access_token.filter(|t| !t.is_empty() && t.len() <= 8192) else {
        return Err(TokenError::Failed(format!(
            "{}: the token endpoint answered {status} without a token",
            provider.name
        )));
    };
    // Some providers send `expires_in` as a string.
    let lifetime = match answer.expires_in {
        Some(serde_json::Value::Number(n)) => n.as_i64(),
        Some(serde_json::Value::String(s)) => s.parse().ok(),
        _ => None,
    }
    .filter(|s| *s > 0)
    .unwrap_or(DEFAULT_LIFETIME)
    .min(86_400 * 30);
    Ok(Tokens {
        access,
        refresh: answer.refresh_token.filter(|t| !t.is_empty() && t.len() <= 8192),
        expires_at: now + chrono::Duration::seconds(lifetime),
    })
}

/// Exchanges a code for tokens (RFC 6749 §4.1.3, with the PKCE verifier, RFC 7636 §4.5).
pub async fn exchange(
    client: &http_client::Client,
    provider: &Provider,
    code: &str,
    state: &str,
    redirect_uri: &str,
    timeout: Duration,
    now: DateTime<Utc>,
) -> Result<Tokens, TokenError> {
    let verifier = verifier(state);
    let grant = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", verifier.as_str()),
    ];
    token_request(client, provider, &grant, timeout, now).await
}

/// Refreshes an access token (RFC 6749 §6).
pub async fn refresh(
    client: &http_client::Client,
    provider: &Provider,
    refresh_token: &str,
    timeout: Duration,
    now: DateTime<Utc>,
) -> Result<Tokens, TokenError> {
    let grant = [("grant_type", "refresh_token"), ("refresh_token", refresh_token)];
    token_request(client, provider, &grant, timeout, now).await
}

/// The XOAUTH2 initial response (Google's and Microsoft's SASL mechanism; the bearer token as
/// RFC 7628 carries it, in the older framing both providers document).
pub fn xoauth2(user: &str, token: &str) -> String {
    format!("user={user}\x01auth=Bearer {token}\x01\x01")
}

/// What the web client sends to link an account with OAuth, or to sign an account in again.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Start {
    /// A provider's `id` from `GET /api/v1/mail/oauth/providers`.
    pub provider: String,
    /// To sign in again: the account (its settings stay as they are).
    #[serde(default)]
    pub account: Option<i64>,
    /// To link: the account's settings, without `password`.
    #[serde(default)]
    pub settings: Option<AccountInput>,
}

/// Where to send the browser.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Started {
    pub authorize_url: String,
}

/// How long a user has to consent at the provider.
const FLOW_LIFETIME: i64 = 600;
/// An access token this close to its expiry is refreshed before use.
const REFRESH_MARGIN: i64 = 60;

impl MailService {
    /// The providers an administrator configured.
    pub fn oauth_providers(&self) -> Vec<ProviderView> {
        self.config.oauth.iter().map(ProviderView::from).collect()
    }

    fn oauth_provider(&self, id: &str) -> MailResult<&Provider> {
        self.config
            .oauth
            .iter()
            .find(|p| p.id == id)
            .ok_or_else(|| MailError::Invalid(format!("provider: `{id}` is not configured on this server")))
    }

    /// Starts the authorization-code flow: records it and gives the provider's URL.
    pub async fn oauth_start(&self, user: UserId, start: &Start) -> MailResult<Started> {
        let provider = self.oauth_provider(&start.provider)?;
        let (fields, account) = match (start.account, &start.settings) {
            (Some(id), None) => (self.store.mail_account(user, id).await?.fields(), Some(id)),
            (None, Some(input)) => {
                if input.password.is_some() {
                    return Err(MailError::Invalid("password: not used when signing in with OAuth".into()));
                }
                let fields = Self::validate(input)?;
                self.check_room(user, &fields.email).await?;
                (fields, None)
            }
            _ => {
                return Err(MailError::Invalid(
                    "give either `account` (to sign in again) or `settings` (to link)".into(),
                ));
            }
        };
        let fields = MailAccountFields { oauth_provider: Some(provider.id.into()), ..fields };
        let state = crate::tokens::random_token().map_err(|e| MailError::Store(StoreError::Internal(e.to_string())))?;
        let input =
            serde_json::to_string(&fields).map_err(|e| MailError::Store(StoreError::Internal(e.to_string())))?;
        let flow = MailOAuthFlow {
            state_hash: state_hash(&state),
            user_id: user.0,
            provider: provider.id.into(),
            account_id: account,
            input,
            expires_at: self.clock.now() + chrono::Duration::seconds(FLOW_LIFETIME),
        };
        self.store.create_mail_oauth_flow(&flow).await?;
        Ok(Started { authorize_url: provider.authorize(&self.config.oauth_redirect_uri, &state, &fields.email) })
    }

    /// Finishes a flow at the callback: exchanges the code, runs the connection test with the
    /// new token, then links the account (or renews its consent).
    pub async fn oauth_finish(
        &self,
        user: UserId,
        state: &str,
        code: Option<&str>,
        error: Option<&str>,
    ) -> MailResult<Account> {
        let now = self.clock.now();
        let flow = self
            .store
            .take_mail_oauth_flow(&state_hash(state))
            .await?
            .filter(|f| f.user_id == user.0 && f.expires_at > now)
            .ok_or_else(|| MailError::Invalid("this sign-in has expired or was already used: start again".into()))?;
        let provider = self.oauth_provider(&flow.provider)?;
        if let Some(error) = error {
            // RFC 6749 §4.1.2.1: `access_denied` when the user said no.
            return Err(MailError::Invalid(format!("{} did not grant access ({error})", provider.name)));
        }
        let code = code.ok_or_else(|| MailError::Invalid(format!("{} sent no authorization code", provider.name)))?;
        let timeout = self.config.connect_timeout;
        let tokens =
            exchange(self.connector.http(), provider, code, state, &self.config.oauth_redirect_uri, timeout, now)
                .await
                .map_err(|e| token_failure(&e))?;
        let refresh = tokens.refresh.clone().ok_or_else(|| {
            MailError::Invalid(format!(
                "{} granted no refresh token, so Madang could not keep the mailbox in sync: remove Madang's access                  in the provider's account settings and sign in again",
                provider.name
            ))
        })?;
        let fields: MailAccountFields =
            serde_json::from_str(&flow.input).map_err(|e| MailError::Store(StoreError::Internal(e.to_string())))?;
        let credential = Credential::Bearer(tokens.access.clone());
        let row = match flow.account_id {
            Some(id) => {
                let row = self.store.mail_account(user, id).await?;
                let fields = MailAccountFields { oauth_provider: Some(provider.id.into()), ..row.fields() };
                let report = self.run_test(&fields, &credential).await;
                if !report.ok {
                    return Err(MailError::TestFailed(Box::new(report)));
                }
                let sealed = self.seal(&refresh, &sealing_context(user, id))?;
                self.store.update_mail_account(user, id, &fields, Some(sealed), now).await?
            }
            None => {
                self.check_room(user, &fields.email).await?;
                self.link(user, &fields, &credential, &refresh).await?
            }
        };
        let access = self.seal(&tokens.access, &access_context(user, row.id))?;
        self.store.set_mail_oauth_tokens(row.id, None, access, tokens.expires_at).await?;
        metrics::counter!("madang_mail_oauth_consents_total").increment(1);
        self.kick();
        Ok(Self::view(self.store.mail_account(user, row.id).await?))
    }

    /// A current access token for an OAuth account (see the module documentation).
    pub(super) async fn oauth_access(&self, user: UserId, row: &MailAccountRow, stale: bool) -> MailResult<String> {
        let provider = self.oauth_provider(row.oauth_provider.as_deref().unwrap_or_default())?;
        if row.auth_problem.is_some() {
            return Err(MailError::SignInAgain(provider.name.clone()));
        }
        let usable = |r: &MailAccountRow| {
            r.oauth_access.is_some()
                && r.oauth_expires_at.is_some_and(|t| t > self.clock.now() + chrono::Duration::seconds(REFRESH_MARGIN))
        };
        if !stale && usable(row) {
            return self.open(row.oauth_access.as_deref().unwrap_or_default(), &access_context(user, row.id));
        }
        let lock = {
            let mut locks = self.refresh_locks.lock().unwrap_or_else(|e| e.into_inner());
            locks.entry(row.id).or_default().clone()
        };
        let _turn = lock.lock().await;
        // Whoever held the turn before may have refreshed already.
        let current = self.store.mail_account(user, row.id).await?;
        if current.auth_problem.is_some() {
            return Err(MailError::SignInAgain(provider.name.clone()));
        }
        if usable(&current) && (!stale || current.oauth_access != row.oauth_access) {
            return self.open(current.oauth_access.as_deref().unwrap_or_default(), &access_context(user, row.id));
        }
        let refresh_token = self.open(&current.secret, &sealing_context(user, row.id))?;
        let now = self.clock.now();
        match refresh(self.connector.http(), provider, &refresh_token, self.config.connect_timeout, now).await {
            Ok(tokens) => {
                let rotated = match &tokens.refresh {
                    Some(r) => Some(self.seal(r, &sealing_context(user, row.id))?),
                    None => None,
                };
                let access = self.seal(&tokens.access, &access_context(user, row.id))?;
                self.store.set_mail_oauth_tokens(row.id, rotated, access, tokens.expires_at).await?;
                metrics::counter!("madang_mail_oauth_refreshes_total", "result" => "ok").increment(1);
                Ok(tokens.access)
            }
            Err(TokenError::Refused(text)) => {
                tracing::warn!(account = row.id, error = %text, "mail OAuth consent is gone: the user must sign in again");
                metrics::counter!("madang_mail_oauth_refreshes_total", "result" => "refused").increment(1);
                self.store.set_mail_auth_problem(row.id, Some("consent")).await?;
                self.kick();
                Err(MailError::SignInAgain(provider.name.clone()))
            }
            Err(e @ TokenError::Failed(_)) => {
                metrics::counter!("madang_mail_oauth_refreshes_total", "result" => "failed").increment(1);
                Err(token_failure(&e))
            }
        }
    }
}

/// The sealing context of an account's access token (its refresh token uses the password's).
fn access_context(user: UserId, id: i64) -> String {
    format!("mail-account-access:{}:{id}", user.0)
}

fn token_failure(e: &TokenError) -> MailError {
    let (TokenError::Refused(text) | TokenError::Failed(text)) = e;
    MailError::Unreachable(Failure { step: Step::Authentication, message: format!("the token endpoint: {text}") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_follows_rfc_7636() {
        // BASE64URL(SHA-256("abc")), FIPS 180-2's first test vector, without padding.
        assert_eq!(challenge("abc"), "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
        let state = crate::tokens::random_token().unwrap();
        let v = verifier(&state);
        assert_eq!(v.len(), 43);
        assert_ne!(state_hash(&state), challenge(&v));
    }

    #[test]
    fn the_authorization_url_carries_pkce_and_the_extras() {
        let google = Provider::google("id.apps", "s3cret");
        let url = google.authorize("https://m.example/mail/oauth/callback", "st", "kim@gmail.com");
        assert!(url.starts_with("https://accounts.google.com/o/oauth2/v2/auth?response_type=code&client_id=id.apps"));
        assert!(url.contains("redirect_uri=https%3A%2F%2Fm.example%2Fmail%2Foauth%2Fcallback"));
        assert!(url.contains("code_challenge_method=S256&login_hint=kim%40gmail.com&access_type=offline"));
        assert!(!url.contains("s3cret"));
        assert!(!format!("{google:?}").contains("s3cret"));
    }

    #[test]
    fn xoauth2_framing() {
        assert_eq!(xoauth2("a@b", "t"), "user=a@b\u{1}auth=Bearer t\u{1}\u{1}");
    }
}
