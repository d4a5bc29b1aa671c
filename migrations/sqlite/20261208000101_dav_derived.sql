-- no-transaction
-- Collections whose members Madang derives itself (SQLite dialect; keep in step
-- with migrations/postgres): the company directory (every active user's card,
-- one collection for the instance, so it has no owner) and each user's birthday
-- calendar (derived from their address books). `derived` says what a
-- collection is made from (NULL: an ordinary one, written by clients);
-- `source_tag` is the fingerprint of the source it was last brought in step
-- with, so a read that finds the source unchanged costs one comparison.
--
-- SQLite cannot drop NOT NULL from `owner_id` in place, so the table is rebuilt
-- (https://www.sqlite.org/lang_altertable.html, "other kinds of table schema
-- changes"). Foreign keys must be off while the old table is dropped, or its
-- members would be deleted by the cascade; that pragma only works outside a
-- transaction, hence `no-transaction` and the explicit BEGIN/COMMIT.
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
    derived         TEXT CHECK (derived IN ('users', 'contacts')),
    source_tag      TEXT,
    CHECK ((owner_id IS NULL) = (derived IS NOT NULL AND derived = 'users')),
    UNIQUE (owner_id, kind, slug)
);
INSERT INTO dav_collections_new (id, owner_id, kind, slug, display_name, description, color, sort_order, timezone,
                                 components, transparent, revision, bytes, pruned_revision, created_at, updated_at)
SELECT id, owner_id, kind, slug, display_name, description, color, sort_order, timezone,
       components, transparent, revision, bytes, pruned_revision, created_at, updated_at
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
COMMIT;
PRAGMA foreign_keys = ON;
