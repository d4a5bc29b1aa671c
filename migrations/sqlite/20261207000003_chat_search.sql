-- Full-text search over chat messages (src/store/chat_search.rs): an FTS5 index with the trigram
-- tokenizer, so any substring of three or more characters is found in every script — Korean has
-- no spaces between a word and its particles (회의를, 회의록), so word tokenizers miss it.
--
-- External content (content='chat_messages'): the index stores trigrams only, never a second copy
-- of the text, and the triggers below keep it in step with every insert, edit, delete tombstone
-- (which empties the body) and row deletion in the same transaction. Trigrams are folded to lower
-- case by the tokenizer (Unicode-aware).
--
-- Terms shorter than three characters (Korean words are often two syllables: 회의, 일정) have no
-- trigram; the store answers them by scanning the user's channels newest first (measured in
-- bench/chat_search.py), and rechecks them with instr() where a longer term narrowed the scan.
CREATE VIRTUAL TABLE chat_search USING fts5 (
    body,
    content = 'chat_messages',
    content_rowid = 'id',
    tokenize = 'trigram'
);

-- Messages stored before this migration.
INSERT INTO chat_search (chat_search) VALUES ('rebuild');

CREATE TRIGGER chat_search_insert AFTER INSERT ON chat_messages BEGIN
    INSERT INTO chat_search (rowid, body) VALUES (new.id, new.body);
END;

-- An external-content index must be told the old text to forget its trigrams ('delete').
CREATE TRIGGER chat_search_delete AFTER DELETE ON chat_messages BEGIN
    INSERT INTO chat_search (chat_search, rowid, body) VALUES ('delete', old.id, old.body);
END;

CREATE TRIGGER chat_search_update AFTER UPDATE OF body ON chat_messages BEGIN
    INSERT INTO chat_search (chat_search, rowid, body) VALUES ('delete', old.id, old.body);
    INSERT INTO chat_search (rowid, body) VALUES (new.id, new.body);
END;
