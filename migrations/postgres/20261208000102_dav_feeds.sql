-- Published calendars (issue 16): a secret, revocable, read-only URL per calendar, `/feeds/<token>.ics`
-- (PostgreSQL dialect; keep in step with migrations/sqlite).
--
-- The token is a 256-bit random value shown to the owner once; only its SHA-256 is stored, so a copy
-- of the database reveals no feed. Publishing again replaces the row (the old URL stops working);
-- revoking deletes it. Deleting the calendar or its owner deletes the feed.
CREATE TABLE dav_feeds (
    collection_id BIGINT PRIMARY KEY REFERENCES dav_collections (id) ON DELETE CASCADE,
    token_hash    BYTEA NOT NULL UNIQUE,
    created_at    TIMESTAMPTZ NOT NULL
);
