CREATE INDEX event_archive_archived_at ON event_archive (archived_at);
