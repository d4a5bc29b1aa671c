-- External calendar subscriptions (issue 16; PostgreSQL dialect, keep in step
-- with migrations/sqlite): a user's read-only calendar whose members Madang
-- fetches from a `webcal://`/`https://` feed. The calendar is a derived
-- collection (`derived = 'feed'`).
ALTER TABLE dav_collections DROP CONSTRAINT dav_collections_derived_check;
ALTER TABLE dav_collections ADD CONSTRAINT dav_collections_derived_check
    CHECK (derived IN ('users', 'contacts', 'feed'));

-- One row per subscription; its calendar is the collection (`derived = 'feed'`), so deleting
-- either the calendar or the user deletes the subscription.
CREATE TABLE dav_subscriptions (
    collection_id   BIGINT PRIMARY KEY REFERENCES dav_collections (id) ON DELETE CASCADE,
    -- The feed's URL sealed with the instance's secret box (a Google private address is a
    -- password); `host` is what may be shown and logged.
    url_sealed      BYTEA NOT NULL,
    host            TEXT NOT NULL,
    -- Validators of the last successful fetch, sent back for a conditional GET.
    etag            TEXT,
    last_modified   TEXT,
    -- The feed's own REFRESH-INTERVAL / X-PUBLISHED-TTL in seconds, before bounding.
    feed_interval   BIGINT,
    next_fetch_at   TIMESTAMPTZ NOT NULL,
    last_fetched_at TIMESTAMPTZ,
    last_success_at TIMESTAMPTZ,
    last_error      TEXT,
    -- Until when a process holds the subscription for a fetch (NULL: nobody), so two
    -- processes on one database never fetch the same feed at once.
    claimed_until   TIMESTAMPTZ,
    not_modified    BIGINT NOT NULL DEFAULT 0,
    created_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX dav_subscriptions_due ON dav_subscriptions (next_fetch_at);
