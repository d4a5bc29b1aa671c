-- OpenID Connect provider: clients, consents, codes, grants, tokens and
-- signing keys (SQLite dialect; keep in step with migrations/postgres).
-- Every secret handed out (client secret, code, access and refresh token)
-- is 256 random bits and stored only as HMAC-SHA256 under an instance key.

CREATE TABLE oauth_clients (
    id                        INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id                 TEXT NOT NULL UNIQUE CHECK (length(client_id) BETWEEN 1 AND 128),
    name                      TEXT NOT NULL,
    -- NULL exactly for public clients (RFC 6749 §2.1).
    secret_hash               BLOB UNIQUE,
    public                    INTEGER NOT NULL CHECK (public IN (0, 1)),
    -- JSON arrays of absolute URIs, matched exactly (RFC 9700 §2.1).
    redirect_uris             TEXT NOT NULL,
    post_logout_redirect_uris TEXT NOT NULL,
    -- Space-separated scope names this client may be granted.
    allowed_scopes            TEXT NOT NULL,
    pkce                      TEXT NOT NULL CHECK (pkce IN ('required', 'optional')),
    -- Trusted by the admin: no consent screen.
    first_party               INTEGER NOT NULL CHECK (first_party IN (0, 1)),
    id_token_alg              TEXT NOT NULL CHECK (id_token_alg IN ('RS256', 'ES256')),
    created_at                TEXT NOT NULL,
    updated_at                TEXT NOT NULL,
    CHECK ((public = 1) = (secret_hash IS NULL))
);

-- What a user allowed a client to know; a request for no more is not asked again.
CREATE TABLE oauth_consents (
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  INTEGER NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    scopes     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
-- Deleting a client cascades here; the primary key only covers user_id.
CREATE INDEX oauth_consents_client ON oauth_consents (client_id);

-- One sign-in given to one client: the family of every token issued from one
-- authorization code. Revoking it (code replay, refresh-token reuse,
-- revocation of a refresh token) kills every token in it at once.
CREATE TABLE oauth_grants (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id  INTEGER NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scopes     TEXT NOT NULL,
    auth_time  TEXT NOT NULL,
    amr        TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX oauth_grants_user ON oauth_grants (user_id);
CREATE INDEX oauth_grants_client ON oauth_grants (client_id);
-- Revoked grants are purged a day after revocation (Store::purge_oauth).
CREATE INDEX oauth_grants_revoked ON oauth_grants (revoked_at) WHERE revoked_at IS NOT NULL;

-- Authorization codes: 60 s, single use, bound to client, redirect URI,
-- PKCE challenge and nonce. `grant_id` is set when the code is redeemed, so
-- a replay can revoke what the first redemption produced.
CREATE TABLE oauth_codes (
    code_hash      BLOB PRIMARY KEY,
    client_id      INTEGER NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    user_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri   TEXT NOT NULL,
    code_challenge TEXT,
    nonce          TEXT,
    scopes         TEXT NOT NULL,
    auth_time      TEXT NOT NULL,
    amr            TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    expires_at     TEXT NOT NULL,
    used_at        TEXT,
    grant_id       INTEGER REFERENCES oauth_grants (id) ON DELETE CASCADE
);
CREATE INDEX oauth_codes_expires ON oauth_codes (expires_at);
-- For the cascades from grants, clients and users, and for deleting a
-- user's unredeemed codes when their password changes.
CREATE INDEX oauth_codes_grant ON oauth_codes (grant_id);
CREATE INDEX oauth_codes_client ON oauth_codes (client_id);
CREATE INDEX oauth_codes_user ON oauth_codes (user_id);

-- Opaque access and refresh tokens. A refresh token is `used_at` once it has
-- been rotated; presenting it again revokes its grant (RFC 9700 §4.14.2).
-- Rows are deleted a day after they expired or were revoked (hourly purge).
CREATE TABLE oauth_tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    grant_id   INTEGER NOT NULL REFERENCES oauth_grants (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('access', 'refresh')),
    token_hash BLOB NOT NULL UNIQUE,
    scopes     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT,
    revoked_at TEXT
);
CREATE INDEX oauth_tokens_grant ON oauth_tokens (grant_id);
CREATE INDEX oauth_tokens_expires ON oauth_tokens (expires_at);
CREATE INDEX oauth_tokens_revoked ON oauth_tokens (revoked_at) WHERE revoked_at IS NOT NULL;

-- id_token signing keys (RFC 7517). The newest unretired key of each
-- algorithm signs; retired keys stay published until tokens signed with
-- them have expired, and are deleted at the next rotation after that.
-- `private_key` is PKCS#8 DER, always sealed (XChaCha20-Poly1305 under
-- `auth.encryption_key`, or under a key in `instance_secrets` when none is
-- configured; see src/auth/secretbox.rs and src/oidc/keys.rs).
CREATE TABLE oidc_signing_keys (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kid         TEXT NOT NULL UNIQUE,
    alg         TEXT NOT NULL CHECK (alg IN ('RS256', 'ES256')),
    private_key BLOB NOT NULL,
    public_jwk  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    retired_at  TEXT
);
