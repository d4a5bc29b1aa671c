-- no-transaction
-- External calendar subscriptions (issue 16; SQLite dialect, keep in step with
-- migrations/postgres): a user's read-only calendar whose members Madang fetches
-- from a `webcal://`/`https://` feed. The calendar is a derived collection
-- (`derived = 'feed'`), so the CHECK on `derived` grows by one value; SQLite
-- cannot change a CHECK in place, so the table is rebuilt as in
-- 20261208000101_dav_derived.sql (same reasons for the pragma and `no-transaction`).
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE dav_collections_new (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    -- NULL only for the instance's own collections (`derived = 'users'`).
    owner_id        INTEGER REFERENCES users (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL CHECK (kind IN ('calendar', 'addressbook')),
    slug            TEXT NOT NULL CHECK (length(slug) BETWEEN 1 AND 200),
    display_name    TEXT,
    description     TEXT,
    color           TEXT,
    sort_order      TEXT,
    timezone        TEXT,
    components      TEXT NOT NULL,
    transparent     BOOLEAN NOT NULL DEFAULT 0,
    revision        INTEGER NOT NULL DEFAULT 0,
    bytes           INTEGER NOT NULL DEFAULT 0,
    pruned_revision INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    derived         TEXT CHECK (derived IN ('users', 'contacts', 'feed')),
    source_tag      TEXT,
    CHECK ((owner_id IS NULL) = (derived IS NOT NULL AND derived = 'users')),
    UNIQUE (owner_id, kind, slug)
);
INSERT INTO dav_collections_new (id, owner_id, kind, slug, display_name, description, color, sort_order, timezone,
                                 components, transparent, revision, bytes, pruned_revision, created_at, updated_at,
                                 derived, source_tag)
SELECT id, owner_id, kind, slug, display_name, description, color, sort_order, timezone,
       components, transparent, revision, bytes, pruned_revision, created_at, updated_at,
       derived, source_tag
  FROM dav_collections;
-- Keep AUTOINCREMENT's high-water mark: an id is never reused, so an old sync
-- token can never name a new collection.
DELETE FROM sqlite_sequence WHERE name = 'dav_collections_new';
INSERT INTO sqlite_sequence (name, seq)
SELECT 'dav_collections_new', seq FROM sqlite_sequence WHERE name = 'dav_collections';
DROP TABLE dav_collections;
ALTER TABLE dav_collections_new RENAME TO dav_collections;
-- One directory per instance, one birthday calendar per user.
CREATE UNIQUE INDEX dav_collections_directory ON dav_collections (derived) WHERE derived = 'users';
CREATE UNIQUE INDEX dav_collections_birthdays ON dav_collections (owner_id) WHERE derived = 'contacts';
-- One row per subscription; its calendar is the collection (`derived = 'feed'`), so deleting
-- either the calendar or the user deletes the subscription.
CREATE TABLE dav_subscriptions (
    collection_id   INTEGER PRIMARY KEY REFERENCES dav_collections (id) ON DELETE CASCADE,
    -- The feed's URL sealed with the instance's secret box (a Google private address is a
    -- password); `host` is what may be shown and logged.
    url_sealed      BLOB NOT NULL,
    host            TEXT NOT NULL,
    -- Validators of the last successful fetch, sent back for a conditional GET.
    etag            TEXT,
    last_modified   TEXT,
    -- The feed's own REFRESH-INTERVAL / X-PUBLISHED-TTL in seconds, before bounding.
    feed_interval   INTEGER,
    next_fetch_at   TEXT NOT NULL,
    last_fetched_at TEXT,
    last_success_at TEXT,
    last_error      TEXT,
    -- Until when a process holds the subscription for a fetch (NULL: nobody), so two
    -- processes on one database never fetch the same feed at once.
    claimed_until   TEXT,
    not_modified    INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL
);
CREATE INDEX dav_subscriptions_due ON dav_subscriptions (next_fetch_at);
COMMIT;
PRAGMA foreign_keys = ON;
