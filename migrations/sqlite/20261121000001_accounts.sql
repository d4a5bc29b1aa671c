-- Accounts and app passwords (SQLite dialect; keep in step with migrations/postgres).

CREATE TABLE users (
    id                  INTEGER PRIMARY KEY,
    -- Canonical lower-case form; the unique index makes names case-insensitive.
    username            TEXT NOT NULL UNIQUE CHECK (username = lower(username) AND length(username) BETWEEN 1 AND 64),
    email               TEXT NOT NULL,
    display_name        TEXT NOT NULL,
    role                TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    state               TEXT NOT NULL CHECK (state IN ('pending', 'active', 'disabled')),
    password_hash       TEXT,
    -- Bumped by anything that must drop cached sign-ins (password, state, role, revocations).
    credentials_version INTEGER NOT NULL DEFAULT 1,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);

CREATE TABLE app_passwords (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    label        TEXT NOT NULL,
    -- HMAC-SHA256 of the secret under the instance key; the secret is never stored.
    secret_hash  BLOB NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    last_used_at TEXT
);
CREATE INDEX app_passwords_user ON app_passwords (user_id);

-- Server-wide random keys, shared by every process that uses this database.
CREATE TABLE instance_secrets (
    name       TEXT PRIMARY KEY,
    value      BLOB NOT NULL,
    created_at TEXT NOT NULL
);
