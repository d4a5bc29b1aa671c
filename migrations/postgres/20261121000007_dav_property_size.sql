-- Dead properties count toward the RFC 4331 quota (PostgreSQL dialect; keep
-- in step with migrations/sqlite). Each property row carries its size in
-- bytes (namespace + local name + XML, as stored), so a PROPPATCH, DELETE,
-- COPY or MOVE can move the collection's `bytes` counter without measuring
-- text in SQL, where LENGTH counts characters on both databases.
ALTER TABLE dav_properties ADD COLUMN size BIGINT NOT NULL DEFAULT 0;
UPDATE dav_properties SET size = octet_length(namespace) + octet_length(local_name) + octet_length(xml);

-- Properties stored before this migration were never counted: recompute every
-- counter from what is stored (members and properties), which also corrects
-- any drift, so quota-used-bytes and the quota check agree from now on.
UPDATE dav_collections
   SET bytes = CAST(COALESCE((SELECT SUM(size) FROM dav_objects WHERE dav_objects.collection_id = dav_collections.id), 0)
                  + COALESCE((SELECT SUM(size) FROM dav_properties
                               WHERE dav_properties.collection_id = dav_collections.id), 0) AS BIGINT);
