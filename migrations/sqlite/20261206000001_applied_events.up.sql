-- Applied events per (user, event id, the producer's own timestamp): event ids are not unique
-- across players. The legacy `processed_events` is still read (by user and id) until the
-- cleanup job has pruned it empty. See the PostgreSQL migration of the same name.
CREATE TABLE applied_events (
    user_id      TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    event_time   TEXT NOT NULL,
    processed_at TEXT NOT NULL,
    PRIMARY KEY (user_id, event_id, event_time)
) WITHOUT ROWID;

CREATE INDEX applied_events_processed_at ON applied_events (processed_at);
