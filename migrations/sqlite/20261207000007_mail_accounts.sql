-- Mail accounts a user links (issue 14): the IMAP and SMTP servers of a mailbox they already
-- have, reached on their behalf by the web client's index and, later, the IMAP/SMTP passthrough.
--
-- `secret` is the password sealed with the instance's secret box (base64 of the sealed bytes,
-- context `mail-account:<user_id>:<id>`), never the password itself; the API never returns it.
-- `*_security` is `tls` (implicit, 993/465), `starttls` (143/587) or `plain` (only to a loopback
-- server, which the service checks).
CREATE TABLE mail_accounts (
    id            INTEGER PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email         TEXT NOT NULL,
    display_name  TEXT NOT NULL DEFAULT '',
    imap_host     TEXT NOT NULL,
    imap_port     INTEGER NOT NULL,
    imap_security TEXT NOT NULL,
    smtp_host     TEXT NOT NULL,
    smtp_port     INTEGER NOT NULL,
    smtp_security TEXT NOT NULL,
    username      TEXT NOT NULL,
    secret        TEXT NOT NULL,
    is_default    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
-- One account per address per user; lists come out in the order they were linked.
CREATE UNIQUE INDEX mail_accounts_user_email ON mail_accounts (user_id, email);
