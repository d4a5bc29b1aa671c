-- Chat files: what was uploaded to which channel, by whom, and (once sent) on which message.
--
-- The bytes live in the blob store under `blob_key` (and the thumbnail's under `thumb_key`),
-- keys the server made up; this row is what decides who may read them (members of
-- `channel_id`). A file is uploaded first and attached when its message is sent: `message_id`
-- stays NULL until then, and unattached files older than `chat.unattached_file_lifetime` are
-- pruned, row and blobs.
CREATE TABLE chat_files (
    id           BIGSERIAL PRIMARY KEY,
    channel_id   BIGINT NOT NULL REFERENCES chat_channels (id) ON DELETE CASCADE,
    uploader_id  BIGINT REFERENCES users (id) ON DELETE SET NULL,
    message_id   BIGINT REFERENCES chat_messages (id) ON DELETE SET NULL,
    blob_key     TEXT NOT NULL UNIQUE,
    -- The name as the uploader gave it (no path), shown and offered as the download's name.
    name         TEXT NOT NULL,
    -- As the uploader sent it; downloads never serve an active type as such.
    content_type TEXT NOT NULL,
    size         BIGINT NOT NULL,
    -- Images with a thumbnail only: the original's pixel size.
    width        BIGINT,
    height       BIGINT,
    thumb_key    TEXT UNIQUE,
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX chat_files_message ON chat_files (message_id);
CREATE INDEX chat_files_unattached ON chat_files (created_at) WHERE message_id IS NULL;
CREATE INDEX chat_files_channel ON chat_files (channel_id);
