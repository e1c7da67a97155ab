-- The archive is pruned by id (ids grow with the archive time), so this index only cost
-- every archived event an insert.
DROP INDEX event_archive_archived_at;
