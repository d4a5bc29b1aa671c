-- A linked account's folders as last synchronised (src/mail/sync.rs): the index the web client
-- reads instead of asking the server on every page.
--
-- `name` is the server's spelling (modified UTF-7, what IMAP commands need); `display_name` is
-- it decoded. `role` is the RFC 6154 special use (or `inbox`). `uidvalidity`, `uidnext` and
-- `highestmodseq` (RFC 7162, NULL without CONDSTORE) are what incremental sync compares.
CREATE TABLE mail_folders (
    id            BIGSERIAL PRIMARY KEY,
    account_id    BIGINT NOT NULL REFERENCES mail_accounts (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    delimiter     TEXT,
    role          TEXT,
    selectable    BOOLEAN NOT NULL,
    uidvalidity   BIGINT,
    uidnext       BIGINT,
    highestmodseq BIGINT,
    total         BIGINT NOT NULL,
    unseen        BIGINT NOT NULL,
    synced_at     TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX mail_folders_account_name ON mail_folders (account_id, name);
