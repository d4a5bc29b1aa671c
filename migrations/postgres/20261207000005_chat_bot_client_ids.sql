-- Which bot posted a message, so a bot's retried send (same `client_id`) returns its first
-- message as a person's does: the `(channel_id, author_id, client_id)` index cannot tell,
-- since bots have no `author_id` and NULLs never collide. Webhook posts carry no client id.
ALTER TABLE chat_messages ADD COLUMN bot_id BIGINT REFERENCES chat_bots (id) ON DELETE SET NULL;
CREATE UNIQUE INDEX chat_messages_bot_client_id ON chat_messages (channel_id, bot_id, client_id)
    WHERE bot_id IS NOT NULL AND client_id IS NOT NULL;
