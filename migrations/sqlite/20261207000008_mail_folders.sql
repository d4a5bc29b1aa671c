-- A linked account's folders as last synchronised (src/mail/sync.rs): the index the web client
-- reads instead of asking the server on every page.
--
-- `name` is the server's spelling (modified UTF-7, what IMAP commands need); `display_name` is
-- it decoded. `role` is the RFC 6154 special use (or `inbox`). `uidvalidity`, `uidnext` and
-- `highestmodseq` (RFC 7162, NULL without CONDSTORE) are what incremental sync compares.
CREATE TABLE mail_folders (
    id            INTEGER PRIMARY KEY,
    account_id    INTEGER NOT NULL REFERENCES mail_accounts (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    delimiter     TEXT,
    role          TEXT,
    selectable    BOOLEAN NOT NULL,
    uidvalidity   INTEGER,
    uidnext       INTEGER,
    highestmodseq INTEGER,
    total         INTEGER NOT NULL,
    unseen        INTEGER NOT NULL,
    synced_at     TEXT NOT NULL
);
CREATE UNIQUE INDEX mail_folders_account_name ON mail_folders (account_id, name);
