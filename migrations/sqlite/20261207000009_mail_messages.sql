-- The message index of linked accounts (src/mail/sync.rs): what the web client lists and
-- searches without asking the mail server. Bodies are not here: they are fetched on demand.
--
-- mail_folders gains the state the index was last complete at, beside the server's own
-- (uidvalidity/uidnext/highestmodseq, written by the folder-list sync): a sync fetches the UIDs
-- from `indexed_uidnext` up, newest first, and only moves it when that range is all in, so an
-- interrupted first sync of a large INBOX resumes instead of leaving a hole. `indexed_modseq`
-- is the HIGHESTMODSEQ the flags were last in step with (RFC 7162 §3.1.4 CHANGEDSINCE).
ALTER TABLE mail_folders ADD COLUMN indexed_uidvalidity INTEGER;
ALTER TABLE mail_folders ADD COLUMN indexed_uidnext INTEGER NOT NULL DEFAULT 1;
ALTER TABLE mail_folders ADD COLUMN indexed_modseq INTEGER;

-- One message of one folder. `flags` is the IMAP flag list as the server spells it, separated
-- by spaces; the four booleans are the filters lists use. `received_at` is INTERNALDATE (the
-- list order, as mail clients sort), `sent_at` the Date header. `to_list`/`cc_list` are JSON
-- arrays of {name, email}. `thread_id` groups a conversation across the account's folders
-- (src/mail/thread.rs); `base_subject` is the subject without Re:/Fwd: for JWZ's subject step.
CREATE TABLE mail_messages (
    id              INTEGER PRIMARY KEY,
    account_id      INTEGER NOT NULL REFERENCES mail_accounts (id) ON DELETE CASCADE,
    folder_id       INTEGER NOT NULL REFERENCES mail_folders (id) ON DELETE CASCADE,
    uid             INTEGER NOT NULL,
    modseq          INTEGER,
    flags           TEXT NOT NULL,
    seen            BOOLEAN NOT NULL,
    flagged         BOOLEAN NOT NULL,
    answered        BOOLEAN NOT NULL,
    draft           BOOLEAN NOT NULL,
    received_at     TEXT NOT NULL,
    sent_at         TEXT,
    from_name       TEXT NOT NULL,
    from_email      TEXT NOT NULL,
    to_list         TEXT NOT NULL,
    cc_list         TEXT NOT NULL,
    subject         TEXT NOT NULL,
    base_subject    TEXT NOT NULL,
    message_id      TEXT,
    in_reply_to     TEXT,
    refs            TEXT NOT NULL,
    size            INTEGER NOT NULL,
    has_attachments BOOLEAN NOT NULL,
    preview         TEXT NOT NULL,
    thread_id       INTEGER NOT NULL
);
CREATE UNIQUE INDEX mail_messages_folder_uid ON mail_messages (folder_id, uid);
-- The list: newest first, keyset paging on (received_at, id).
CREATE INDEX mail_messages_folder_order ON mail_messages (folder_id, received_at DESC, id DESC);
CREATE INDEX mail_messages_account_thread ON mail_messages (account_id, thread_id);
CREATE INDEX mail_messages_account_subject ON mail_messages (account_id, base_subject);

-- Every Message-ID a message names (its own, In-Reply-To, References) and the thread it went
-- to: JWZ's id table, kept for ids no indexed message has yet, so a parent that arrives after
-- its reply joins the reply's thread.
CREATE TABLE mail_thread_refs (
    account_id INTEGER NOT NULL REFERENCES mail_accounts (id) ON DELETE CASCADE,
    ref        TEXT NOT NULL,
    thread_id  INTEGER NOT NULL,
    PRIMARY KEY (account_id, ref)
);
CREATE INDEX mail_thread_refs_thread ON mail_thread_refs (account_id, thread_id);
