-- Web sign-in: sessions, TOTP, recovery codes, password-reset links
-- (SQLite dialect; keep in step with migrations/postgres).

-- Browser sessions. The cookie holds a random token; only its SHA-256 is
-- stored, so a copy of the database cannot be used to sign in.
-- AUTOINCREMENT: an id is never reused, so nothing keyed by it (CSRF tokens)
-- can carry over to a later session.
CREATE TABLE web_sessions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash   BLOB NOT NULL UNIQUE,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- When the user last proved who they are (OIDC `auth_time`), and how (`amr`, space-separated).
    auth_time    TEXT NOT NULL,
    amr          TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    -- Absolute end, whatever the activity; idle expiry is computed from last_seen_at.
    expires_at   TEXT NOT NULL,
    user_agent   TEXT NOT NULL DEFAULT '',
    address      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);
CREATE INDEX web_sessions_expires ON web_sessions (expires_at);

-- One TOTP secret per user (RFC 6238), encrypted at rest (ChaCha20-Poly1305).
-- `enabled` stays false while enrolment awaits its first code.
CREATE TABLE totp (
    user_id       INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret_sealed BLOB NOT NULL,
    enabled       INTEGER NOT NULL DEFAULT 0 CHECK (enabled IN (0, 1)),
    -- The last accepted time step: a code is accepted only for a later step (RFC 6238 §5.2).
    last_step     INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    enabled_at    TEXT
);

-- Ten single-use codes per user, stored as HMAC-SHA256 under an instance key.
CREATE TABLE recovery_codes (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  BLOB NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    used_at    TEXT
);
CREATE INDEX recovery_codes_user ON recovery_codes (user_id);

-- Password-reset links: the token's SHA-256 only; single use, with an expiry.
CREATE TABLE password_resets (
    id         INTEGER PRIMARY KEY,
    token_hash BLOB NOT NULL UNIQUE,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT,
    -- The address the link was mailed to; NULL for a link an admin handed
    -- out. Following a mailed link proves the address (email_verified).
    sent_to    TEXT
);
CREATE INDEX password_resets_user ON password_resets (user_id);

-- "Password done, code next": one row per sign-in waiting for its second
-- factor. The cookie holds a random token; only its SHA-256 is stored. The
-- row is bound to the credentials version it was issued under (a password
-- change or TOTP reset kills it), allows a few codes, and is deleted when
-- the sign-in completes.
CREATE TABLE web_mfa_challenges (
    id                  INTEGER PRIMARY KEY,
    token_hash          BLOB NOT NULL UNIQUE,
    user_id             INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credentials_version INTEGER NOT NULL,
    attempts            INTEGER NOT NULL DEFAULT 0,
    created_at          TEXT NOT NULL,
    expires_at          TEXT NOT NULL
);
CREATE INDEX web_mfa_challenges_expires ON web_mfa_challenges (expires_at);
