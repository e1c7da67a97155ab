-- The event archive: every accepted event of a sampled player (EVENT_ARCHIVE_SAMPLE), appended in
-- the batch transaction that applied it, so designers can replay real traffic against a rule
-- edit. Pruned after EVENT_ARCHIVE_DAYS by the cleanup job; a player's deletion deletes theirs.
CREATE TABLE event_archive (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id    TEXT NOT NULL,
    kind        TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    namespace   TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    stat_code   TEXT,
    value       INTEGER NOT NULL,
    inc         INTEGER NOT NULL,
    payload     TEXT NOT NULL,
    archived_at TEXT NOT NULL
);
-- No index by player: replay reads the archive whole and orders it itself.
CREATE INDEX event_archive_archived_at ON event_archive (archived_at);
