-- Team chat: channels (public, private, direct messages), members with read state, messages numbered per channel, edits, reactions, mentions and thread follows.
--
-- `chat_channels.last_seq` is bumped in the transaction that stores a message (replies too), so
-- a channel's messages are numbered 1, 2, 3… in commit order and that number is the order every
-- client shows. The row lock it takes also orders the message's push events in every member's
-- log (store::push), so resuming a push stream never reorders a channel.
CREATE TABLE chat_channels (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    -- 'public' (anyone may find and join), 'private' (invite only) or 'dm'.
    kind            TEXT NOT NULL CHECK (kind IN ('public', 'private', 'dm')),
    -- Lower case, unique among channels; NULL for direct messages.
    name            TEXT UNIQUE,
    -- Direct messages only: the members' ids, sorted and comma-separated, so the same people
    -- always find the same conversation.
    dm_key          TEXT UNIQUE,
    topic           TEXT NOT NULL DEFAULT '',
    purpose         TEXT NOT NULL DEFAULT '',
    -- Membership follows this group when set.
    group_id        INTEGER REFERENCES groups (id) ON DELETE SET NULL,
    created_by      INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at      TEXT NOT NULL,
    archived_at     TEXT,
    last_seq        INTEGER NOT NULL DEFAULT 0,
    last_message_at TEXT,
    CHECK ((kind = 'dm') = (name IS NULL)),
    CHECK ((kind = 'dm') = (dm_key IS NOT NULL))
);

CREATE TABLE chat_members (
    channel_id    INTEGER NOT NULL REFERENCES chat_channels (id) ON DELETE CASCADE,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role          TEXT NOT NULL DEFAULT 'member' CHECK (role IN ('member', 'admin')),
    joined_at     TEXT NOT NULL,
    -- The last message (by seq) this member has read.
    last_read_seq INTEGER NOT NULL DEFAULT 0,
    -- Added because the channel follows a group (removed with the group membership).
    via_group     BOOLEAN NOT NULL DEFAULT 0,
    PRIMARY KEY (channel_id, user_id)
);
CREATE INDEX chat_members_user ON chat_members (user_id);

-- Messages without an author are posted by a webhook or bot (`bot_name`, `bot_icon_url`).
CREATE TABLE chat_messages (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    channel_id      INTEGER NOT NULL REFERENCES chat_channels (id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    author_id       INTEGER REFERENCES users (id) ON DELETE SET NULL,
    bot_name        TEXT,
    bot_icon_url    TEXT,
    -- The sender's idempotency key: a retried send with the same key returns the first message.
    client_id       TEXT,
    -- The root message of the thread this one replies to.
    thread_root_id  INTEGER REFERENCES chat_messages (id) ON DELETE CASCADE,
    -- Markdown source; empty once deleted.
    body            TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    edited_at       TEXT,
    deleted_at      TEXT,
    -- '@channel' or '@here'.
    mention_channel BOOLEAN NOT NULL DEFAULT 0,
    pinned_at       TEXT,
    pinned_by       INTEGER REFERENCES users (id) ON DELETE SET NULL,
    -- On a thread root: its replies.
    reply_count     INTEGER NOT NULL DEFAULT 0,
    last_reply_at   TEXT,
    UNIQUE (channel_id, seq)
);
CREATE UNIQUE INDEX chat_messages_client_id ON chat_messages (channel_id, author_id, client_id);
CREATE INDEX chat_messages_thread ON chat_messages (thread_root_id, seq);
CREATE INDEX chat_messages_author ON chat_messages (author_id, created_at);
CREATE INDEX chat_messages_pinned ON chat_messages (channel_id, pinned_at);

-- The earlier versions of an edited message, newest last.
CREATE TABLE chat_message_edits (
    message_id INTEGER NOT NULL REFERENCES chat_messages (id) ON DELETE CASCADE,
    body       TEXT NOT NULL,
    -- When this version was replaced.
    replaced_at TEXT NOT NULL
);
CREATE INDEX chat_message_edits_message ON chat_message_edits (message_id);

CREATE TABLE chat_reactions (
    message_id INTEGER NOT NULL REFERENCES chat_messages (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    emoji      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (message_id, emoji, user_id)
);

-- Who a message mentions by name (and, for @channel/@here, every member at the time), with
-- the channel's seq so mention counts after a read position are one index range.
CREATE TABLE chat_mentions (
    channel_id INTEGER NOT NULL REFERENCES chat_channels (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    message_id INTEGER NOT NULL REFERENCES chat_messages (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, channel_id, seq)
);

-- Threads a user follows (or explicitly stopped following) and how far they have read.
CREATE TABLE chat_thread_follows (
    root_id       INTEGER NOT NULL REFERENCES chat_messages (id) ON DELETE CASCADE,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    following     BOOLEAN NOT NULL,
    last_read_seq INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (root_id, user_id)
);
CREATE INDEX chat_thread_follows_user ON chat_thread_follows (user_id, following);
