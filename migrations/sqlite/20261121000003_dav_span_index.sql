-- calendar-query pre-filters on "ends after the window starts and starts
-- before it ends". With both ends (and the exactness flag) in one index the
-- whole condition is checked on index entries, and only the candidates'
-- rows are read; the old index held the start alone, so every row of the
-- calendar was visited.
DROP INDEX dav_objects_range;
CREATE INDEX dav_objects_span ON dav_objects (collection_id, component, range_start, range_end, range_exact);
