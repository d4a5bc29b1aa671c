-- Identity: the OpenID Connect subject, verified e-mail, groups and the audit
-- log (SQLite dialect; keep in step with migrations/postgres).

-- OIDC Core §2 `sub`: locally unique and never reassigned. SQLite may hand a
-- deleted row's id to the next row, so the subject is its own random value.
ALTER TABLE users ADD COLUMN subject TEXT;
UPDATE users SET subject = lower(hex(randomblob(16))) WHERE subject IS NULL;
CREATE UNIQUE INDEX users_subject ON users (subject);
-- SQLite cannot add a NOT NULL column without a default; these triggers give
-- the column the same rule as on PostgreSQL.
CREATE TRIGGER users_subject_required_on_insert BEFORE INSERT ON users WHEN NEW.subject IS NULL
BEGIN
    SELECT RAISE(ABORT, 'NOT NULL constraint failed: users.subject');
END;
CREATE TRIGGER users_subject_required_on_update BEFORE UPDATE OF subject ON users WHEN NEW.subject IS NULL
BEGIN
    SELECT RAISE(ABORT, 'NOT NULL constraint failed: users.subject');
END;
-- Relying parties (Gitea) link accounts by e-mail address, so only an
-- address the user proved is ever claimed as verified.
ALTER TABLE users ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1));

CREATE TABLE groups (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL UNIQUE CHECK (name = lower(name) AND length(name) BETWEEN 1 AND 64),
    description TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL
);

CREATE TABLE group_members (
    group_id INTEGER NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id  INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    added_at TEXT NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (user_id);

-- Who did what, when, from where. No foreign keys: the record outlives the
-- accounts it names, so `actor_name` is copied at the time of the action.
CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         TEXT NOT NULL,
    actor_id   INTEGER,
    actor_name TEXT NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL DEFAULT '',
    detail     TEXT NOT NULL DEFAULT '',
    address    TEXT
);
-- The admin pages filter by action (or a family of them) and by a user name
-- as actor or target, newest first.
CREATE INDEX audit_log_action ON audit_log (action, id);
CREATE INDEX audit_log_actor_name ON audit_log (actor_name, id);
CREATE INDEX audit_log_target ON audit_log (target, id);
