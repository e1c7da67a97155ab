-- A player's archived events, newest first: explain's recent events, and the GDPR deletion of a
-- player's archive rows (without it, both scan the whole archive).
CREATE INDEX event_archive_user ON event_archive (user_id, id);
