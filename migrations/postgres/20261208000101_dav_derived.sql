-- Collections whose members Madang derives itself (PostgreSQL dialect; keep in
-- step with migrations/sqlite): the company directory (every active user's
-- card, one collection for the instance, so it has no owner) and each user's
-- birthday calendar (derived from their address books). `derived` says what a
-- collection is made from (NULL: an ordinary one, written by clients);
-- `source_tag` is the fingerprint of the source it was last brought in step
-- with, so a read that finds the source unchanged costs one comparison.
ALTER TABLE dav_collections ALTER COLUMN owner_id DROP NOT NULL;
ALTER TABLE dav_collections ADD COLUMN derived TEXT CHECK (derived IN ('users', 'contacts'));
ALTER TABLE dav_collections ADD COLUMN source_tag TEXT;
ALTER TABLE dav_collections ADD CONSTRAINT dav_collections_owner_or_directory
    CHECK ((owner_id IS NULL) = (derived IS NOT NULL AND derived = 'users'));
-- One directory per instance, one birthday calendar per user.
CREATE UNIQUE INDEX dav_collections_directory ON dav_collections (derived) WHERE derived = 'users';
CREATE UNIQUE INDEX dav_collections_birthdays ON dav_collections (owner_id) WHERE derived = 'contacts';
