-- One copy of an event's payload however many users' logs carry it (issue 13's fan-out).
--
-- A chat message announced to a 20-member channel wrote its JSON 20 times: about 13 KiB per
-- message, which made the push log most of the database and of the write-ahead log. Now the
-- JSON is written once to `push_payloads` and each recipient's row points at it, with an
-- empty `data`. An event's payload carries the event's own `created_at`, so pruning by age
-- removes both at the same cut-off and a kept event never points at a pruned payload.
CREATE TABLE push_payloads (
    id         BIGSERIAL PRIMARY KEY,
    data       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX push_payloads_created ON push_payloads (created_at);

-- NULL: the event's payload is its own `data`.
ALTER TABLE push_events ADD COLUMN payload_id BIGINT;
