-- Chat integrations: incoming webhooks (a secret URL that posts into one channel) and bots (a
-- bearer token for the chat API, acting only in the channels it was added to).
--
-- Tokens are 256-bit random values shown once; only their SHA-256 is stored (`token_hash`),
-- so a copy of the database lets no one post. A revoked webhook or bot keeps its row (who
-- made it, when it was last used) but its token no longer works.
CREATE TABLE chat_webhooks (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    channel_id   INTEGER NOT NULL REFERENCES chat_channels (id) ON DELETE CASCADE,
    -- Shown as the author of its posts unless the payload names one.
    name         TEXT NOT NULL,
    token_hash   BLOB NOT NULL UNIQUE,
    created_by   INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at   TEXT NOT NULL,
    revoked_at   TEXT,
    last_used_at TEXT
);
CREATE INDEX chat_webhooks_channel ON chat_webhooks (channel_id);

CREATE TABLE chat_bots (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    -- A user-name-like handle (lower case); unique among bots that are not revoked, so a
    -- revoked bot's name can be given to a new one.
    name         TEXT NOT NULL,
    display_name TEXT NOT NULL,
    icon_url     TEXT,
    token_hash   BLOB NOT NULL UNIQUE,
    created_by   INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at   TEXT NOT NULL,
    revoked_at   TEXT,
    last_used_at TEXT
);
CREATE UNIQUE INDEX chat_bots_live_name ON chat_bots (name) WHERE revoked_at IS NULL;

-- The channels a bot may read and post in.
CREATE TABLE chat_bot_members (
    bot_id     INTEGER NOT NULL REFERENCES chat_bots (id) ON DELETE CASCADE,
    channel_id INTEGER NOT NULL REFERENCES chat_channels (id) ON DELETE CASCADE,
    added_by   INTEGER REFERENCES users (id) ON DELETE SET NULL,
    added_at   TEXT NOT NULL,
    PRIMARY KEY (bot_id, channel_id)
);
CREATE INDEX chat_bot_members_channel ON chat_bot_members (channel_id);
