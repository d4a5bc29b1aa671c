-- Linked mail accounts that sign in with OAuth 2.0 (XOAUTH2 / OAUTHBEARER, RFC 7628) instead of
-- a password: Gmail, Microsoft 365, or a company's own identity provider (issue 14).
--
-- For such an account `secret` holds the sealed refresh token (context as for a password) and
-- `oauth_access` the sealed access token (context `mail-account-access:<user_id>:<id>`) with its
-- expiry; `auth_problem` says why the account cannot sign in until its user acts (consent
-- withdrawn or expired), and is cleared by a new consent or a new password.
ALTER TABLE mail_accounts ADD COLUMN auth_kind TEXT NOT NULL DEFAULT 'password';
ALTER TABLE mail_accounts ADD COLUMN oauth_provider TEXT;
ALTER TABLE mail_accounts ADD COLUMN oauth_access TEXT;
ALTER TABLE mail_accounts ADD COLUMN oauth_expires_at TEXT;
ALTER TABLE mail_accounts ADD COLUMN auth_problem TEXT;

-- Authorization-code flows under way (RFC 6749 §4.1): the browser is at the provider. Kept in
-- the database so the callback may reach any process. `state_hash` is SHA-256 of the `state`
-- parameter (the state itself, which the PKCE verifier is derived from, is never stored);
-- `input` is the account's settings as JSON (no secret); `account_id` is set for a renewal.
CREATE TABLE mail_oauth_flows (
    state_hash TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider   TEXT NOT NULL,
    account_id INTEGER REFERENCES mail_accounts (id) ON DELETE CASCADE,
    input      TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX mail_oauth_flows_expiry ON mail_oauth_flows (expires_at);
