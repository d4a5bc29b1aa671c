-- CalDAV/CardDAV collections, objects, change log and dead properties (SQLite dialect; keep in step with migrations/postgres).

-- A user's DAV home was set up (default collections created) once; deleting
-- every calendar afterwards must not bring the defaults back.
CREATE TABLE dav_homes (
    user_id        INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    provisioned_at TEXT NOT NULL
);

CREATE TABLE dav_collections (
    -- AUTOINCREMENT: an id is never reused, so an old sync token can never name a new calendar.
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL CHECK (kind IN ('calendar', 'addressbook')),
    -- Last path segment, decoded.
    slug            TEXT NOT NULL CHECK (length(slug) BETWEEN 1 AND 200),
    display_name    TEXT,
    description     TEXT,
    color           TEXT,
    sort_order      TEXT,
    -- CALDAV:calendar-timezone, a VCALENDAR with one VTIMEZONE.
    timezone        TEXT,
    -- Comma-separated component names this calendar accepts (VEVENT,VTODO,...).
    components      TEXT NOT NULL,
    transparent     BOOLEAN NOT NULL DEFAULT 0,
    -- Bumped by every change of a member; sync tokens and getctag are built from it.
    revision        INTEGER NOT NULL DEFAULT 0,
    -- Bytes of member data, kept in step by every write: quota checks read a few rows, not every object.
    bytes           INTEGER NOT NULL DEFAULT 0,
    -- Tombstones at or below this revision were pruned: older tokens are no longer valid.
    pruned_revision INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (owner_id, kind, slug)
);

CREATE TABLE dav_objects (
    id            INTEGER PRIMARY KEY,
    collection_id INTEGER NOT NULL REFERENCES dav_collections (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    uid           TEXT NOT NULL,
    component     TEXT NOT NULL,
    etag          TEXT NOT NULL,
    size          INTEGER NOT NULL,
    -- The object exactly as the client sent it; everything else here is derived.
    data          TEXT NOT NULL,
    -- UTC seconds bounding every instance: NULL start = unbounded past, NULL end = open-ended.
    range_start   INTEGER,
    range_end     INTEGER,
    -- The range decides a plain time-range filter on its own (no recurrence, no floating time).
    range_exact   BOOLEAN NOT NULL,
    revision      INTEGER NOT NULL,
    created_at    TEXT NOT NULL,
    modified_at   TEXT NOT NULL,
    UNIQUE (collection_id, name),
    UNIQUE (collection_id, uid)
);
CREATE INDEX dav_objects_range ON dav_objects (collection_id, component, range_start);

-- The latest change of each member name; deleted = tombstone.
CREATE TABLE dav_changes (
    collection_id INTEGER NOT NULL REFERENCES dav_collections (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    revision      INTEGER NOT NULL,
    deleted       BOOLEAN NOT NULL,
    changed_at    TEXT NOT NULL,
    PRIMARY KEY (collection_id, name)
);
CREATE UNIQUE INDEX dav_changes_revision ON dav_changes (collection_id, revision);

-- Dead properties (RFC 4918 §4.2): the property element as the client sent it.
-- object_name '' is the collection itself.
CREATE TABLE dav_properties (
    collection_id INTEGER NOT NULL REFERENCES dav_collections (id) ON DELETE CASCADE,
    object_name   TEXT NOT NULL,
    namespace     TEXT NOT NULL,
    local_name    TEXT NOT NULL,
    xml           TEXT NOT NULL,
    PRIMARY KEY (collection_id, object_name, namespace, local_name)
);
