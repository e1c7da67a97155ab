-- A player's archived events: explain's recent events, and the GDPR deletion of a player's
-- archive rows (without it, both scan the whole archive). A hash index: equality is all they
-- need, and it costs each archived event less than a B-tree on (user_id, id).
CREATE INDEX event_archive_user ON event_archive USING hash (user_id);
