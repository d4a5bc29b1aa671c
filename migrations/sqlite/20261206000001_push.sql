-- The push channel's log: every change a signed-in user's clients should hear of, numbered per user.
--
-- `push_heads.seq` is bumped in the same transaction as the change it announces, so it also
-- serialises one user's announcing writes: a number becomes visible only after every smaller
-- one has, and a reader that sees seq N has seen 1..N (no gaps but pruned ones). That is what
-- lets a client resume from the last id it saw with exactly what it missed.
CREATE TABLE push_heads (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    seq     INTEGER NOT NULL
);

CREATE TABLE push_events (
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    -- The event type, e.g. `calendar.object`.
    kind       TEXT NOT NULL,
    -- The event's JSON payload, as sent.
    data       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (user_id, seq)
);
CREATE INDEX push_events_created ON push_events (created_at);
