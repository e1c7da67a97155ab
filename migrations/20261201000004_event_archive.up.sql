-- The event archive: every accepted event of a sampled player (EVENT_ARCHIVE_SAMPLE), appended in
-- the batch transaction that applied it, so designers can replay real traffic against a rule
-- edit. Pruned after EVENT_ARCHIVE_DAYS by the cleanup job; a player's deletion deletes theirs.
CREATE TABLE event_archive (
    id          BIGSERIAL PRIMARY KEY,
    event_id    VARCHAR(256) NOT NULL,
    kind        VARCHAR(16) NOT NULL,
    user_id     VARCHAR(128) NOT NULL,
    namespace   VARCHAR(128) NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    stat_code   VARCHAR(256),
    value       BIGINT NOT NULL,
    inc         BIGINT NOT NULL,
    payload     JSON NOT NULL, -- kept as sent: JSON, not JSONB, is checked but not rebuilt on write
    archived_at TIMESTAMPTZ NOT NULL
);
-- No index by player: replay reads the archive whole and orders it itself, so each event
-- costs the primary key and this one index only.
CREATE INDEX event_archive_archived_at ON event_archive (archived_at);
